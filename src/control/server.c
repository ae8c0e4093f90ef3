/*
 * server.c - the gRPC server loop: one completion-queue thread, a small
 * state machine per call, and a pump thread for server streams.
 *
 * Why this shape (measured in shared/GRPC-C-SERVER.md): a single CQ
 * thread answers a unary call in ~75 µs and sees cancellations, deadlines
 * and shutdown as ordinary events, so nothing is polled.  Every batch is
 * started under srv->lock, which the CQ thread holds while it handles an
 * event; the pump thread (woken by the event bus, or every 200 ms for
 * rescan progress) takes the same lock to start SEND_MESSAGE batches.
 *
 * Call life: NEW -> RECV (request message) -> unary: STATUS_SENT;
 * stream: IDLE <-> SENDING ... -> STATUS_SENT; bidi: BIDI rounds.  A call
 * is freed once its RECV_CLOSE_ON_SERVER batch (started on arrival, in a
 * batch of its own: in one batch with RECV_MESSAGE it deadlocks) has
 * completed and no other batch is pending.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "catalog/catalog.h"
#include "control/control_i.h"
#include "events/events.h"

#include <arpa/inet.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define CONTROL_PUMP_MS 200

enum tag_kind { TAG_NEW, TAG_OPS, TAG_CLOSE, TAG_SHUTDOWN };

struct control_call;

struct tag {
	enum tag_kind kind;
	struct control_call *call;
};

enum call_state {
	CALL_RECV,		/* waiting for the request message */
	CALL_IDLE,		/* stream: nothing in flight */
	CALL_SENDING,		/* stream: one message in flight */
	CALL_BIDI,		/* bidi: reply sent, next request asked */
	CALL_STATUS_SENT,	/* finished from our side */
};

struct control_call {
	struct tag new_tag, ops_tag, close_tag;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array request_md;
	grpc_byte_buffer *recv_bb;
	grpc_byte_buffer *send_bb;	/* destroyed when its batch completes */
	int cancelled;
	int pending;			/* batches started, not completed */
	bool closed;			/* the close batch completed */
	bool dead;			/* a batch failed: start no more */
	enum call_state state;
	const struct control_method *method;
	void *stream;			/* stream state of the method */
	struct control_reply after;	/* after_sent hook of the status */
	struct control_call *prev, *next;	/* srv->calls */
};

struct control {
	struct control_deps deps;
	grpc_server *server;
	grpc_completion_queue *cq;
	struct catalog *reader;
	char *socket_path;
	int tcp_port;

	pthread_mutex_t lock;
	/* protected by lock */
	struct control_call *calls;	/* every live call */
	size_t n_calls;
	struct control_call *armed;	/* waiting in request_call */
	bool shutting_down;
	bool shutdown_done;

	pthread_t cq_thread, pump_thread;
	bool cq_running, pump_running;
	atomic_bool pump_stop;
	struct tag shutdown_tag;
};

const struct control_deps *control_deps_of(const struct control *srv)
{
	return &srv->deps;
}

struct catalog *control_catalog(struct control *srv)
{
	if (!srv->reader &&
	    catalog_open(srv->deps.db_path, CATALOG_READER, 512, &srv->reader))
		srv->reader = NULL;
	return srv->reader;
}

/* ---- replies ---------------------------------------------------------- */

int control_reply_message(struct control_reply *reply,
			  const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(len);

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	reply->message = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return reply->message ? 0 : -ENOMEM;
}

int control_reply_error(struct control_reply *reply, grpc_status_code code,
			const char *fmt, ...)
{
	va_list ap;

	reply->code = code;
	va_start(ap, fmt);
	vsnprintf(reply->detail, sizeof(reply->detail), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- batches (caller holds srv->lock) --------------------------------- */

static bool start_batch(struct control_call *c, const grpc_op *ops,
			size_t n, struct tag *tag)
{
	grpc_call_error err;

	if (c->dead)
		return false;
	err = grpc_call_start_batch(c->call, ops, n, tag, NULL);
	if (err != GRPC_CALL_OK) {
		mfs_log(MFS_LOG_WARN, "gRPC batch refused (%d) on %s", (int)err,
			c->method ? c->method->path : "?");
		c->dead = true;
		return false;
	}
	c->pending++;
	return true;
}

/* Send reply's message (if any) and its status: the end of the call. */
static void send_final(struct control_call *c, struct control_reply *r)
{
	grpc_op ops[2];
	grpc_slice detail = grpc_slice_from_copied_string(r->detail);
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (r->message) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = r->message;
		c->send_bb = r->message;
		r->message = NULL;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = r->code;
	ops[n++].data.send_status_from_server.status_details =
		r->detail[0] ? &detail : NULL;
	c->after = *r;
	c->state = CALL_STATUS_SENT;
	start_batch(c, ops, n, &c->ops_tag);
	grpc_slice_unref(detail);
}

static void send_message(struct control_call *c, grpc_byte_buffer *bb,
			 bool then_receive)
{
	grpc_op ops[2];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = bb;
	if (then_receive) {
		ops[n].op = GRPC_OP_RECV_MESSAGE;
		ops[n++].data.recv_message.recv_message = &c->recv_bb;
	}
	c->send_bb = bb;
	start_batch(c, ops, n, &c->ops_tag);
}

/* Take the received buffer as one contiguous slice (caller unrefs). */
static grpc_slice take_request(struct control_call *c)
{
	grpc_byte_buffer_reader reader;
	grpc_slice s = grpc_empty_slice();

	if (grpc_byte_buffer_reader_init(&reader, c->recv_bb)) {
		s = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
	}
	grpc_byte_buffer_destroy(c->recv_bb);
	c->recv_bb = NULL;
	return s;
}

/* ---- the state machine (caller holds srv->lock) ----------------------- */

/* Ask a stream for its next message and send it, if it has one. */
static void stream_advance(struct control *srv, struct control_call *c)
{
	struct control_reply r = { .code = GRPC_STATUS_OK };

	if (c->dead || c->state != CALL_IDLE)
		return;
	switch (c->method->stream.next(srv, c->stream, &r)) {
	case CONTROL_NEXT_MESSAGE:
		c->state = CALL_SENDING;
		send_message(c, r.message, false);
		break;
	case CONTROL_NEXT_DONE:
		send_final(c, &r);
		break;
	case CONTROL_NEXT_WAIT:
		break;
	}
}

static void handle_request(struct control *srv, struct control_call *c)
{
	const struct control_method *m = c->method;
	struct control_reply r = { .code = GRPC_STATUS_OK };
	ProtobufCMessage *req = NULL;
	grpc_slice s;

	if (!c->recv_bb) {
		/* half-closed: the normal end of a bidi stream (status OK,
		 * as its client expects); any other method lacks its request */
		if (!m->bidi)
			control_reply_error(&r, GRPC_STATUS_INVALID_ARGUMENT,
					    "no request message");
		send_final(c, &r);
		return;
	}
	s = take_request(c);
	if (m->bidi) {
		m->bidi(srv, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), &r);
		grpc_slice_unref(s);
		if (r.code != GRPC_STATUS_OK || !r.message) {
			send_final(c, &r);
			return;
		}
		c->state = CALL_BIDI;
		send_message(c, r.message, true);
		return;
	}
	req = protobuf_c_message_unpack(m->request, NULL, GRPC_SLICE_LENGTH(s),
					GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!req) {
		control_reply_error(&r, GRPC_STATUS_INVALID_ARGUMENT,
				    "the request is not a valid %s",
				    m->request->name);
		send_final(c, &r);
		return;
	}
	if (m->unary) {
		m->unary(srv, req, &r);
		send_final(c, &r);
	} else if (m->stream.start(srv, req, &c->stream, &r)) {
		send_final(c, &r);
	} else {
		c->state = CALL_IDLE;
		stream_advance(srv, c);
	}
	protobuf_c_message_free_unpacked(req, NULL);
}

static const struct control_method *find_method(const grpc_slice *path)
{
	/* one table per subsystem, each NULL-path terminated */
	static const struct control_method *const tables[] = {
		control_methods,
		control_cache_methods,
		control_search_methods,
	};
	const struct control_method *m;
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(tables); i++)
		for (m = tables[i]; m->path; m++)
			if (!grpc_slice_str_cmp(*path, m->path))
				return m;
	return NULL;
}

static void arm_request(struct control *srv);

static void on_new_call(struct control *srv, struct control_call *c, bool ok)
{
	grpc_op ops[2];
	struct control_reply r = { .code = GRPC_STATUS_OK };

	srv->armed = NULL;
	if (!ok) {	/* the server is shutting down */
		grpc_call_details_destroy(&c->details);
		grpc_metadata_array_destroy(&c->request_md);
		free(c);
		return;
	}
	c->next = srv->calls;
	if (srv->calls)
		srv->calls->prev = c;
	srv->calls = c;
	srv->n_calls++;
	if (!srv->shutting_down)
		arm_request(srv);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[0].data.recv_close_on_server.cancelled = &c->cancelled;
	start_batch(c, ops, 1, &c->close_tag);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	c->method = find_method(&c->details.method);
	if (!c->method) {
		char *name = grpc_slice_to_c_string(c->details.method);

		control_reply_error(&r, GRPC_STATUS_UNIMPLEMENTED,
				    "unknown method %s", name);
		gpr_free(name);
		start_batch(c, ops, 1, &c->ops_tag);
		send_final(c, &r);
		return;
	}
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &c->recv_bb;
	c->state = CALL_RECV;
	start_batch(c, ops, 2, &c->ops_tag);
}

static void on_ops_done(struct control *srv, struct control_call *c, bool ok)
{
	if (c->send_bb) {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
	}
	if (!ok) {
		c->dead = true;
		return;
	}
	switch (c->state) {
	case CALL_RECV:
		handle_request(srv, c);
		break;
	case CALL_SENDING:
		c->state = CALL_IDLE;
		stream_advance(srv, c);
		break;
	case CALL_BIDI:
		c->state = CALL_RECV;
		handle_request(srv, c);
		break;
	case CALL_STATUS_SENT:
		if (c->after.after_sent) {
			c->after.after_sent(srv, c->after.after_arg);
			c->after.after_sent = NULL;
		}
		break;
	case CALL_IDLE:
		break;
	}
}

static void free_call(struct control *srv, struct control_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_calls--;
	if (c->stream && c->method && c->method->stream.end)
		c->method->stream.end(c->stream);
	if (c->recv_bb)
		grpc_byte_buffer_destroy(c->recv_bb);
	if (c->after.message)
		grpc_byte_buffer_destroy(c->after.message);
	grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->request_md);
	free(c);
}

static void arm_request(struct control *srv)
{
	struct control_call *c = calloc(1, sizeof(*c));
	grpc_call_error err;

	if (!c) {
		mfs_log(MFS_LOG_ERROR, "out of memory: the control API stops "
				       "accepting calls");
		return;
	}
	c->new_tag = (struct tag){ TAG_NEW, c };
	c->ops_tag = (struct tag){ TAG_OPS, c };
	c->close_tag = (struct tag){ TAG_CLOSE, c };
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->request_md);
	err = grpc_server_request_call(srv->server, &c->call, &c->details,
				       &c->request_md, srv->cq, srv->cq,
				       &c->new_tag);
	if (err != GRPC_CALL_OK) {
		mfs_log(MFS_LOG_ERROR, "cannot accept gRPC calls (%d)", (int)err);
		grpc_call_details_destroy(&c->details);
		grpc_metadata_array_destroy(&c->request_md);
		free(c);
		return;
	}
	srv->armed = c;
}

static void *cq_main(void *arg)
{
	struct control *srv = arg;
	grpc_event ev;
	enum tag_kind kind;
	struct tag *t;
	bool done = false;

	while (!done) {
		ev = grpc_completion_queue_next(
			srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		t = ev.tag;
		/* read now: a refused new call frees the struct t is in */
		kind = t->kind;
		pthread_mutex_lock(&srv->lock);
		switch (kind) {
		case TAG_NEW:
			on_new_call(srv, t->call, ev.success);
			break;
		case TAG_OPS:
			t->call->pending--;
			on_ops_done(srv, t->call, ev.success);
			break;
		case TAG_CLOSE:
			t->call->pending--;
			t->call->closed = true;
			break;
		case TAG_SHUTDOWN:
			srv->shutdown_done = true;
			break;
		}
		if ((kind == TAG_OPS || kind == TAG_CLOSE) &&
		    t->call->closed && t->call->pending == 0)
			free_call(srv, t->call);
		done = srv->shutdown_done && srv->n_calls == 0 && !srv->armed;
		pthread_mutex_unlock(&srv->lock);
	}
	return NULL;
}

/* Feed the streams: on each event published, and every CONTROL_PUMP_MS. */
static void *pump_main(void *arg)
{
	struct control *srv = arg;
	struct control_call *c;
	uint64_t seen = 0;

	while (!atomic_load(&srv->pump_stop)) {
		seen = event_bus_wait(srv->deps.bus, seen, CONTROL_PUMP_MS);
		pthread_mutex_lock(&srv->lock);
		for (c = srv->calls; c; c = c->next)
			if (c->method && !c->method->unary && !c->method->bidi)
				stream_advance(srv, c);
		pthread_mutex_unlock(&srv->lock);
	}
	return NULL;
}

/* ---- start and stop --------------------------------------------------- */

bool control_is_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!strcmp(addr, "localhost"))
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static int add_ports(struct control *srv, const struct control_listen *l)
{
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	char *target = str_printf("unix:%s", l->socket_path);
	int rc = 0;

	if (!target || !grpc_server_add_http2_port(srv->server, target, creds)) {
		rc = mfs_error(-EADDRNOTAVAIL, "cannot listen on '%s'",
			       l->socket_path);
	} else if (chmod(l->socket_path, 0600)) {
		/* the socket is the only access control: refuse to serve
		 * an API anyone could reach */
		rc = mfs_error(-errno, "cannot restrict '%s' to its owner: %s",
			       l->socket_path, strerror(errno));
	}
	free(target);
	if (!rc && l->tcp_port > 0) {
		const char *host = l->tcp_address ? l->tcp_address : "127.0.0.1";

		target = strchr(host, ':') ? str_printf("[%s]:%d", host, l->tcp_port)
					   : str_printf("%s:%d", host, l->tcp_port);
		srv->tcp_port = target ? grpc_server_add_http2_port(
						 srv->server, target, creds)
				       : 0;
		if (!srv->tcp_port)
			rc = mfs_error(-EADDRINUSE, "cannot listen on %s "
						    "(port in use?)",
				       target ? target : host);
		free(target);
	}
	grpc_server_credentials_release(creds);
	return rc;
}

int control_start(const struct control_listen *l,
		  const struct control_deps *deps, struct control **out)
{
	struct control *srv;
	int rc;

	*out = NULL;
	if (l->tcp_port > 0 && l->tcp_address &&
	    !control_is_loopback(l->tcp_address) && !l->allow_remote)
		return mfs_error(-EPERM, "refusing to serve the control API on "
					 "'%s', which is not a loopback address "
					 "(set grpc_allow_remote = true to allow "
					 "it)",
				 l->tcp_address);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->deps = *deps;
	srv->socket_path = strdup(l->socket_path);
	pthread_mutex_init(&srv->lock, NULL);
	srv->shutdown_tag.kind = TAG_SHUTDOWN;
	grpc_init();
	srv->server = grpc_server_create(NULL, NULL);
	srv->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
	rc = srv->socket_path ? add_ports(srv, l) : -ENOMEM;
	if (rc) {
		grpc_server_destroy(srv->server);
		srv->server = NULL;
		control_stop(srv);
		return rc;
	}
	grpc_server_start(srv->server);
	pthread_mutex_lock(&srv->lock);
	arm_request(srv);
	pthread_mutex_unlock(&srv->lock);
	rc = -pthread_create(&srv->cq_thread, NULL, cq_main, srv);
	srv->cq_running = !rc;
	if (!rc) {
		rc = -pthread_create(&srv->pump_thread, NULL, pump_main, srv);
		srv->pump_running = !rc;
	}
	if (rc) {
		control_stop(srv);
		return rc;
	}
	mfs_log(MFS_LOG_INFO, "control API on unix:%s%s", l->socket_path,
		srv->tcp_port > 0 ? " and TCP" : "");
	if (srv->tcp_port > 0)
		mfs_log(MFS_LOG_INFO, "control API on %s:%d",
			l->tcp_address ? l->tcp_address : "127.0.0.1",
			srv->tcp_port);
	*out = srv;
	return 0;
}

int control_tcp_port(const struct control *c)
{
	return c->tcp_port;
}

void control_stop(struct control *srv)
{
	grpc_event ev;

	if (!srv)
		return;
	atomic_store(&srv->pump_stop, true);
	event_bus_wake(srv->deps.bus);
	if (srv->pump_running)
		pthread_join(srv->pump_thread, NULL);
	if (srv->server) {
		pthread_mutex_lock(&srv->lock);
		srv->shutting_down = true;
		grpc_server_shutdown_and_notify(srv->server, srv->cq,
						&srv->shutdown_tag);
		/* open streams would hold the shutdown forever */
		grpc_server_cancel_all_calls(srv->server);
		pthread_mutex_unlock(&srv->lock);
	}
	if (srv->cq_running)
		pthread_join(srv->cq_thread, NULL);
	if (srv->server)
		grpc_server_destroy(srv->server);
	if (srv->cq) {
		grpc_completion_queue_shutdown(srv->cq);
		do {
			ev = grpc_completion_queue_next(
				srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
				NULL);
		} while (ev.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(srv->cq);
	}
	grpc_shutdown();
	catalog_close(&srv->reader);
	pthread_mutex_destroy(&srv->lock);
	free(srv->socket_path);
	free(srv);
}
