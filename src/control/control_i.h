/*
 * control_i.h - between the gRPC server loop (server.c) and the RPC
 * handlers (handlers.c, streams.c, reflection.c).
 *
 * A handler never touches gRPC calls or batches: it gets a decoded
 * request and fills a struct control_reply (one packed message and/or a
 * status).  The server owns the call state machine.
 */
#ifndef MFS_CONTROL_CONTROL_I_H
#define MFS_CONTROL_CONTROL_I_H

#include "common/mfs.h"
#include "control/control.h"
#include "control/musicfs.pb-c.h"

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

/* What a handler answers: a message (packed at once), a status, or both. */
struct control_reply {
	grpc_byte_buffer *message;	/* NULL: no message */
	grpc_status_code code;		/* GRPC_STATUS_OK unless set */
	char detail[256];
	/* run on the CQ thread once the status has reached the transport */
	void (*after_sent)(struct control *srv, void *arg);
	void *after_arg;
};

/* Pack m into reply->message.  0 or -ENOMEM. */
int control_reply_message(struct control_reply *reply,
			  const ProtobufCMessage *m);

/* Set an error status with a formatted detail; returns -EINVAL. */
int control_reply_error(struct control_reply *reply, grpc_status_code code,
			const char *fmt, ...) MFS_PRINTF(3, 4);

enum control_next {
	CONTROL_NEXT_MESSAGE,	/* reply->message holds the next message */
	CONTROL_NEXT_WAIT,	/* nothing now: the pump asks again later */
	CONTROL_NEXT_DONE,	/* end the stream with reply's status */
};

struct control_method {
	const char *path;	/* "/musicfs.v1.MusicFS/GetStatus" */
	const ProtobufCMessageDescriptor *request;	/* NULL: raw bytes */
	/* exactly one of these three */
	int (*unary)(struct control *srv, const ProtobufCMessage *req,
		     struct control_reply *reply);
	struct {
		/* 0 and *state set, or an error status in reply */
		int (*start)(struct control *srv, const ProtobufCMessage *req,
			     void **state, struct control_reply *reply);
		enum control_next (*next)(struct control *srv, void *state,
					  struct control_reply *reply);
		void (*end)(void *state);
	} stream;
	/* bidi: one answer per request message (reflection) */
	int (*bidi)(struct control *srv, const uint8_t *req, size_t len,
		    struct control_reply *reply);
};

/* The handlers' table (handlers.c), NULL-path terminated. */
extern const struct control_method control_methods[];

/* The chunk cache's RPCs (cache_rpc.c). */
extern const struct control_method control_cache_methods[];

/* Search and smart collections (search_rpc.c). */
extern const struct control_method control_search_methods[];

/* Server reflection, v1alpha and v1 (reflection.c): one bidi handler. */
int control_reflection_info(struct control *srv, const uint8_t *req,
			    size_t len, struct control_reply *reply);

/* The daemon's subsystems, for handlers. */
const struct control_deps *control_deps_of(const struct control *srv);

/* A reader catalog connection of the server's own (CQ thread only). */
struct catalog *control_catalog(struct control *srv);

#endif
