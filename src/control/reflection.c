/*
 * reflection.c - gRPC server reflection, so that generic clients can list
 * and describe the API: /grpc.reflection.v1alpha.ServerReflection/
 * ServerReflectionInfo and the same method of grpc.reflection.v1.
 *
 * Each request of the bidi stream gets one response: the service list, or
 * a file with everything it imports, or an ErrorResponse (NOT_FOUND for an
 * unknown name, UNIMPLEMENTED for the extension queries).  Such errors
 * stay inside the stream, as the protocol wants: the client goes on asking.
 *
 * The two versions are the same on the wire, so v1alpha's protoc-c code
 * decodes and encodes both.  The files served are those of the descriptor
 * set embedded at build time; the symbol index over it is built on first
 * use and kept for the life of the process (reflection_i.h).
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "control/control_i.h"
#include "control/reflection.pb-c.h"
#include "control/reflection_i.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define REQ(x) GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__##x
#define RESP(x) GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__##x

/* ---- the index, built once -------------------------------------------- */

static pthread_once_t index_once = PTHREAD_ONCE_INIT;
/* Never freed: it serves every reflection call until the process exits,
 * and the server may be started again in the same process (tests). */
static struct refl_index *the_index;

static void build_index(void)
{
	int rc = refl_index_build(control_descriptor_set,
				  control_descriptor_set_len, &the_index);

	if (rc)
		mfs_log(MFS_LOG_ERROR, "server reflection: the embedded "
			"descriptor set cannot be indexed: %s", strerror(-rc));
	else
		mfs_log(MFS_LOG_DEBUG, "server reflection: %zu files, %zu "
			"services", refl_file_count(the_index),
			refl_service_count(the_index));
}

/* The index, or NULL if it could not be built (logged once). */
static const struct refl_index *index_get(void)
{
	pthread_once(&index_once, build_index);
	return the_index;
}

/* ---- one response ----------------------------------------------------- */

/* A response and what it points at, alive until it is packed. */
struct answer {
	Grpc__Reflection__V1alpha__ServerReflectionResponse resp;
	Grpc__Reflection__V1alpha__ListServiceResponse list;
	Grpc__Reflection__V1alpha__FileDescriptorResponse files;
	Grpc__Reflection__V1alpha__ErrorResponse error;
	/* on the heap; blobs' data: the embedded set */
	Grpc__Reflection__V1alpha__ServiceResponse *services;
	Grpc__Reflection__V1alpha__ServiceResponse **service_ptrs;
	ProtobufCBinaryData *blobs;
	char message[256];
};

static void answer_init(struct answer *a,
			Grpc__Reflection__V1alpha__ServerReflectionRequest *rq)
{
	memset(a, 0, sizeof(*a));
	grpc__reflection__v1alpha__server_reflection_response__init(&a->resp);
	grpc__reflection__v1alpha__list_service_response__init(&a->list);
	grpc__reflection__v1alpha__file_descriptor_response__init(&a->files);
	grpc__reflection__v1alpha__error_response__init(&a->error);
	/* both in every response: clients match answers to questions */
	a->resp.valid_host = rq->host;
	a->resp.original_request = rq;
}

static void answer_release(struct answer *a)
{
	free(a->services);
	free(a->service_ptrs);
	free(a->blobs);
}

static void MFS_PRINTF(3, 4) answer_error(struct answer *a, int code,
					  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
	a->error.error_code = code;
	a->error.error_message = a->message;
	a->resp.message_response_case = RESP(MESSAGE_RESPONSE_ERROR_RESPONSE);
	a->resp.error_response = &a->error;
}

static int answer_services(struct answer *a, const struct refl_index *ix)
{
	size_t i, n = refl_service_count(ix);

	/* + 1: calloc(0) may give NULL, which would read as no memory */
	a->services = calloc(n + 1, sizeof(*a->services));
	a->service_ptrs = calloc(n + 1, sizeof(*a->service_ptrs));
	if (!a->services || !a->service_ptrs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		grpc__reflection__v1alpha__service_response__init(
			&a->services[i]);
		/* protobuf-c's structs are not const-correct; packing only
		 * reads the string */
		a->services[i].name = (char *)refl_service_name(ix, i);
		a->service_ptrs[i] = &a->services[i];
	}
	a->list.n_service = n;
	a->list.service = a->service_ptrs;
	a->resp.message_response_case =
		RESP(MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
	a->resp.list_services_response = &a->list;
	return 0;
}

/* file (an index, or -ENOENT: name was not found) and its imports. */
static int answer_file(struct answer *a, const struct refl_index *ix,
		       ssize_t file, const char *what, const char *name)
{
	size_t *closure, i, n, len;

	if (file < 0) {
		answer_error(a, GRPC_STATUS_NOT_FOUND, "%s not found: %s",
			     what, name);
		return 0;
	}
	closure = calloc(refl_file_count(ix), sizeof(*closure));
	a->blobs = calloc(refl_file_count(ix), sizeof(*a->blobs));
	if (!closure || !a->blobs) {
		free(closure);
		return -ENOMEM;
	}
	n = refl_closure(ix, (size_t)file, closure);
	for (i = 0; i < n; i++) {
		/* sent straight from the binary's read-only data: protobuf-c
		 * only reads it, whatever the missing const says */
		a->blobs[i].data =
			(uint8_t *)refl_file_bytes(ix, closure[i], &len);
		a->blobs[i].len = len;
	}
	free(closure);
	a->files.n_file_descriptor_proto = n;
	a->files.file_descriptor_proto = a->blobs;
	a->resp.message_response_case =
		RESP(MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
	a->resp.file_descriptor_response = &a->files;
	return 0;
}

static int answer_request(
	struct answer *a, const struct refl_index *ix,
	const Grpc__Reflection__V1alpha__ServerReflectionRequest *rq)
{
	switch (rq->message_request_case) {
	case REQ(MESSAGE_REQUEST_LIST_SERVICES):
		return answer_services(a, ix);
	case REQ(MESSAGE_REQUEST_FILE_BY_FILENAME):
		return answer_file(a, ix,
				   refl_find_file(ix, rq->file_by_filename),
				   "file", rq->file_by_filename);
	case REQ(MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL):
		return answer_file(a, ix,
				   refl_find_symbol(ix,
						    rq->file_containing_symbol),
				   "symbol", rq->file_containing_symbol);
	case REQ(MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION):
	case REQ(MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE):
		/* the API is proto3: it declares no extensions */
		answer_error(a, GRPC_STATUS_UNIMPLEMENTED,
			     "extensions are not supported");
		return 0;
	default:
		break;
	}
	answer_error(a, GRPC_STATUS_INVALID_ARGUMENT,
		     "the request asks for nothing");
	return 0;
}

/* ---- the handler ------------------------------------------------------ */

int control_reflection_info(struct control *srv, const uint8_t *req,
			    size_t len, struct control_reply *reply)
{
	const struct refl_index *ix = index_get();
	struct answer a;
	Grpc__Reflection__V1alpha__ServerReflectionRequest *rq;
	int rc;

	(void)srv;
	if (!ix)
		return control_reply_error(reply, GRPC_STATUS_INTERNAL,
					   "server reflection is unavailable");
	rq = grpc__reflection__v1alpha__server_reflection_request__unpack(
		NULL, len, req);
	if (!rq)
		return control_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT,
					   "the request is not a valid "
					   "ServerReflectionRequest");
	answer_init(&a, rq);
	rc = answer_request(&a, ix, rq);
	if (!rc)
		rc = control_reply_message(reply, &a.resp.base);
	if (rc)
		control_reply_error(reply, GRPC_STATUS_RESOURCE_EXHAUSTED,
				    "out of memory");
	answer_release(&a);
	grpc__reflection__v1alpha__server_reflection_request__free_unpacked(
		rq, NULL);
	return rc;
}
