/*
 * client.c - gRPC calls from the CLI to the daemon (see client.h), on the
 * gRPC core API with a pluck completion queue: each batch is started and
 * then waited for, so a command reads as straight-line code.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "config/config.h"

#include <getopt.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <jansson.h>
#include <sys/stat.h>

#define CLI_UNARY_TIMEOUT_S 10

struct cli_client {
	char *target;
	grpc_channel *channel;
	grpc_completion_queue *cq;
};

/* The default target: the socket in the cache dir of the config. */
static int default_target(const struct cli_target *t, char **out)
{
	struct config cfg;
	struct stat st;
	char *path;
	int rc;

	config_init(&cfg);
	rc = cli_load_config(&cfg, t->config);
	if (rc) {
		config_release(&cfg);
		return rc;
	}
	path = str_printf("%s/musicfs.sock",
			  t->cache_dir ? t->cache_dir : cfg.cache_dir);
	config_release(&cfg);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (stat(path, &st) || !S_ISSOCK(st.st_mode)) {
		cli_error("no musicfs daemon is running here (no socket at "
			  "'%s'); start one with 'musicfs mount', or name it "
			  "with --endpoint or --cache-dir",
			  path);
		free(path);
		return CLI_EXIT_NO_DAEMON;
	}
	*out = str_printf("unix:%s", path);
	free(path);
	return *out ? 0 : CLI_EXIT_FAILURE;
}

int cli_client_open(const struct cli_target *t, struct cli_client **out)
{
	grpc_channel_credentials *creds;
	struct cli_client *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return CLI_EXIT_FAILURE;
	rc = t->endpoint ? ((c->target = strdup(t->endpoint)) ? 0
							       : CLI_EXIT_FAILURE)
			 : default_target(t, &c->target);
	if (rc) {
		free(c);
		return rc;
	}
	grpc_init();
	creds = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(c->target, creds, NULL);
	grpc_channel_credentials_release(creds);
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	*out = c;
	return 0;
}

void cli_client_close(struct cli_client *c)
{
	if (!c)
		return;
	grpc_completion_queue_shutdown(c->cq);
	while (grpc_completion_queue_pluck(c->cq, NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME),
					   NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(c->cq);
	grpc_channel_destroy(c->channel);
	grpc_shutdown();
	free(c->target);
	free(c);
}

static int common_option(int c, const char *usage, struct cli_common *co)
{
	switch (c) {
	case 'e':
		co->target.endpoint = optarg;
		return 1;
	case 'c':
		co->target.config = optarg;
		return 1;
	case 'C':
		co->target.cache_dir = optarg;
		return 1;
	case 'j':
		co->json = true;
		return 1;
	case 'h':
		fputs(usage, stdout);
		return CLI_HELP_SHOWN;
	}
	return 0;
}

int cli_client_parse(int argc, char **argv, const char *usage,
		     const struct cli_extra_opts *extra,
		     struct cli_common *co)
{
	static const struct option common[] = { CLI_CLIENT_OPTIONS };
	struct option opts[32];
	char shortopts[64];
	size_t n = 0, i;
	int c, rc;

	for (i = 0; i < MFS_ARRAY_SIZE(common); i++)
		opts[n++] = common[i];
	for (i = 0; extra && extra->longopts && extra->longopts[i].name &&
		    n < MFS_ARRAY_SIZE(opts) - 1;
	     i++)
		opts[n++] = extra->longopts[i];
	memset(&opts[n], 0, sizeof(opts[n]));
	snprintf(shortopts, sizeof(shortopts), "+%s%s", CLI_CLIENT_SHORTOPTS,
		 extra && extra->shortopts ? extra->shortopts : "");
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		rc = common_option(c, usage, co);
		if (rc < 0)
			return CLI_HELP_SHOWN;
		if (rc > 0)
			continue;
		if (c != '?' && extra && extra->take) {
			rc = extra->take(c, optarg, extra->arg);
			if (rc)
				return rc;
			continue;
		}
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* ---- calls --------------------------------------------------------------- */

struct call {
	grpc_call *call;
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status;
	grpc_slice details;
	grpc_byte_buffer *recv;
};

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(len);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static ProtobufCMessage *unpack(grpc_byte_buffer *bb,
				const ProtobufCMessageDescriptor *desc)
{
	grpc_byte_buffer_reader reader;
	ProtobufCMessage *m = NULL;
	grpc_slice s;

	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s),
				      GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

/* Start a batch and wait for it.  false if it could not run. */
static bool run_batch(struct cli_client *c, struct call *k, const grpc_op *ops,
		      size_t n)
{
	grpc_event ev;
	int tag;

	if (grpc_call_start_batch(k->call, ops, n, &tag, NULL) != GRPC_CALL_OK)
		return false;
	ev = grpc_completion_queue_pluck(c->cq, &tag,
					 gpr_inf_future(GPR_CLOCK_REALTIME),
					 NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static void call_begin(struct cli_client *c, struct call *k,
		       const char *method, int timeout_s)
{
	grpc_slice m = grpc_slice_from_static_string(method);
	gpr_timespec deadline =
		timeout_s ? gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					 gpr_time_from_seconds(timeout_s,
							       GPR_TIMESPAN))
			  : gpr_inf_future(GPR_CLOCK_REALTIME);

	memset(k, 0, sizeof(*k));
	grpc_metadata_array_init(&k->initial_md);
	grpc_metadata_array_init(&k->trailing_md);
	k->details = grpc_empty_slice();
	k->call = grpc_channel_create_call(c->channel, NULL,
					   GRPC_PROPAGATE_DEFAULTS, c->cq, m,
					   NULL, deadline, NULL);
}

/* The call's final status as a CLI exit code, with its error printed. */
static int call_end(struct cli_client *c, struct call *k)
{
	char *details = grpc_slice_to_c_string(k->details);
	int rc = CLI_EXIT_OK;

	switch (k->status) {
	case GRPC_STATUS_OK:
		break;
	case GRPC_STATUS_UNAVAILABLE:
		cli_error("cannot reach the musicfs daemon at '%s' (%s)",
			  c->target, details);
		rc = CLI_EXIT_NO_DAEMON;
		break;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		cli_error("the daemon at '%s' did not answer in time",
			  c->target);
		rc = CLI_EXIT_FAILURE;
		break;
	default:
		cli_error("%s", *details ? details : "the daemon refused");
		rc = CLI_EXIT_FAILURE;
	}
	gpr_free(details);
	grpc_slice_unref(k->details);
	grpc_metadata_array_destroy(&k->initial_md);
	grpc_metadata_array_destroy(&k->trailing_md);
	if (k->recv)
		grpc_byte_buffer_destroy(k->recv);
	grpc_call_unref(k->call);
	return rc;
}

static void op_recv_status(grpc_op *op, struct call *k)
{
	memset(op, 0, sizeof(*op));
	op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op->data.recv_status_on_client.trailing_metadata = &k->trailing_md;
	op->data.recv_status_on_client.status = &k->status;
	op->data.recv_status_on_client.status_details = &k->details;
}

/* SEND_INITIAL_METADATA, SEND_MESSAGE, SEND_CLOSE, RECV_INITIAL_METADATA. */
static size_t ops_send_request(grpc_op *ops, struct call *k,
			       grpc_byte_buffer *req)
{
	memset(ops, 0, 4 * sizeof(*ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata =
		&k->initial_md;
	return 4;
}

int cli_client_unary(struct cli_client *c, const char *method,
		     const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc,
		     ProtobufCMessage **resp)
{
	grpc_byte_buffer *bb = pack(req);
	struct call k;
	grpc_op ops[6];
	size_t n;
	int rc;

	*resp = NULL;
	call_begin(c, &k, method, CLI_UNARY_TIMEOUT_S);
	n = ops_send_request(ops, &k, bb);
	memset(&ops[n], 0, sizeof(ops[n]));
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &k.recv;
	op_recv_status(&ops[n++], &k);
	if (!run_batch(c, &k, ops, n))
		k.status = GRPC_STATUS_UNAVAILABLE;
	grpc_byte_buffer_destroy(bb);
	if (k.status == GRPC_STATUS_OK) {
		*resp = k.recv ? unpack(k.recv, resp_desc) : NULL;
		if (!*resp) {
			k.status = GRPC_STATUS_INTERNAL;
			grpc_slice_unref(k.details);
			k.details = grpc_slice_from_static_string(
				"the daemon's answer does not parse (a "
				"different musicfs version?)");
		}
	}
	rc = call_end(c, &k);
	return rc;
}

int cli_client_stream(struct cli_client *c, const char *method,
		      const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *msg_desc,
		      int (*on_message)(const ProtobufCMessage *m, void *arg),
		      void *arg)
{
	grpc_byte_buffer *bb = pack(req);
	ProtobufCMessage *m;
	bool more = true;
	struct call k;
	grpc_op ops[4];
	size_t n;

	call_begin(c, &k, method, 0);
	n = ops_send_request(ops, &k, bb);
	more = run_batch(c, &k, ops, n);
	grpc_byte_buffer_destroy(bb);
	while (more) {
		memset(ops, 0, sizeof(ops[0]));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &k.recv;
		if (!run_batch(c, &k, ops, 1) || !k.recv)
			break;
		m = unpack(k.recv, msg_desc);
		grpc_byte_buffer_destroy(k.recv);
		k.recv = NULL;
		if (!m)
			break;
		more = on_message(m, arg) == 0;
		protobuf_c_message_free_unpacked(m, NULL);
		if (!more)
			grpc_call_cancel(k.call, NULL);
	}
	op_recv_status(&ops[0], &k);
	run_batch(c, &k, ops, 1);
	if (k.status == GRPC_STATUS_CANCELLED && !more)
		k.status = GRPC_STATUS_OK;	/* we stopped it */
	return call_end(c, &k);
}

int cli_client_call_once(const struct cli_common *co, const char *method,
			 const ProtobufCMessage *req,
			 const ProtobufCMessageDescriptor *resp_desc,
			 void (*print)(const ProtobufCMessage *resp))
{
	ProtobufCMessage *resp = NULL;
	struct cli_client *c;
	int rc;

	rc = cli_client_open(&co->target, &c);
	if (rc)
		return rc;
	rc = cli_client_unary(c, method, req, resp_desc, &resp);
	if (!rc)
		(co->json ? cli_print_json : print)(resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	cli_client_close(c);
	return rc;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *json_of_message(const ProtobufCMessage *m);

static json_t *json_of_value(const ProtobufCFieldDescriptor *f,
			     const void *p)
{
	const ProtobufCEnumValue *ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t) * (const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor,
							  *(const int *)p);
		return ev ? json_string(ev->name) : json_integer(*(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)p ? *(char *const *)p : "");
	case PROTOBUF_C_TYPE_BYTES:
		return json_integer((json_int_t)((const ProtobufCBinaryData *)p)->len);
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p
			       ? json_of_message(*(ProtobufCMessage *const *)p)
			       : json_null();
	}
	return json_null();
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static json_t *json_of_message(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	json_t *obj = json_object(), *arr;
	unsigned i;
	size_t k, n;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			json_object_set_new(obj, f->name,
					    json_of_value(f, base + f->offset));
			continue;
		}
		n = *(const size_t *)(base + f->quantifier_offset);
		arr = json_array();
		for (k = 0; k < n; k++)
			json_array_append_new(
				arr, json_of_value(f, *(char *const *)(base + f->offset) +
							      k * value_size(f)));
		json_object_set_new(obj, f->name, arr);
	}
	return obj;
}

void cli_print_json(const ProtobufCMessage *m)
{
	json_t *j = json_of_message(m);

	json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(j);
}
