/*
 * handlers.c - the RPCs of musicfs.v1.MusicFS (see proto/musicfs.proto).
 *
 * Each handler reads the daemon's state through the borrowed subsystems
 * in control_deps, builds a protobuf-c message on the stack and packs it
 * into the reply at once, so no message outlives the handler.  Handlers
 * run on the CQ thread: they never block on I/O beyond a catalog count.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "catalog/catalog.h"
#include "control/control_i.h"
#include "events/events.h"
#include "fuse/mfs_fuse.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "scan/scan.h"
#include "supervisor/supervisor.h"

#include <time.h>
#include <unistd.h>

#define MAX_TASKS 16
#define SHUTDOWN_DEFAULT_TIMEOUT_S 30

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Index of the served origin called id, or -1. */
static ssize_t served_origin(struct control *srv, const char *id)
{
	const struct control_deps *d = control_deps_of(srv);
	size_t i;

	for (i = 0; i < d->n_origins; i++)
		if (!strcmp(d->origins[i]->id, id))
			return (ssize_t)i;
	return -1;
}

static Musicfs__V1__HealthState health_pb(enum health_state st)
{
	switch (st) {
	case HEALTH_HEALTHY:
		return MUSICFS__V1__HEALTH_STATE__HEALTH_STATE_HEALTHY;
	case HEALTH_UNHEALTHY:
		return MUSICFS__V1__HEALTH_STATE__HEALTH_STATE_UNHEALTHY;
	case HEALTH_UNKNOWN:
		break;
	}
	return MUSICFS__V1__HEALTH_STATE__HEALTH_STATE_UNSPECIFIED;
}

/* ---- GetStatus ---------------------------------------------------------- */

static Musicfs__V1__TaskState task_pb(enum task_state st)
{
	switch (st) {
	case TASK_STARTING:
		return MUSICFS__V1__TASK_STATE__TASK_STATE_STARTING;
	case TASK_RUNNING:
		return MUSICFS__V1__TASK_STATE__TASK_STATE_RUNNING;
	case TASK_BACKOFF:
		return MUSICFS__V1__TASK_STATE__TASK_STATE_BACKOFF;
	case TASK_STOPPED:
		return MUSICFS__V1__TASK_STATE__TASK_STATE_STOPPED;
	}
	return MUSICFS__V1__TASK_STATE__TASK_STATE_UNSPECIFIED;
}

static int get_status(struct control *srv, const ProtobufCMessage *req,
		      struct control_reply *reply)
{
	const struct control_deps *d = control_deps_of(srv);
	Musicfs__V1__GetStatusResponse resp =
		MUSICFS__V1__GET_STATUS_RESPONSE__INIT;
	Musicfs__V1__TaskStatus tasks[MAX_TASKS], *task_ptrs[MAX_TASKS];
	struct task_status ts[MAX_TASKS];
	struct mfs_fuse_stats fs;
	struct scan_progress sp;
	struct catalog *c = control_catalog(srv);
	int64_t tracks = 0;
	size_t n, i;

	(void)req;
	mfs_fuse_get_stats(d->fuse, &fs);
	scan_get_progress(d->scan, &sp);
	if (c && catalog_vnode_count(c, CATALOG_VNODE_TRACK, &tracks))
		tracks = 0;
	n = MFS_MIN(supervisor_status(d->supervisor, ts, MAX_TASKS),
		    (size_t)MAX_TASKS);
	for (i = 0; i < n; i++) {
		musicfs__v1__task_status__init(&tasks[i]);
		tasks[i].name = ts[i].name;
		tasks[i].state = task_pb(ts[i].state);
		tasks[i].restarts = ts[i].restarts;
		tasks[i].last_error = ts[i].last_error;
		tasks[i].state_since_unix_ms = ts[i].since_unix_ms;
		task_ptrs[i] = &tasks[i];
	}
	resp.version = (char *)MUSICFS_VERSION;
	resp.uptime_seconds = (unix_ms() - d->start_unix_ms) / 1000;
	resp.mounted = true;
	resp.mount_point = d->cfg->mount_point;
	resp.open_handles = fs.open_handles;
	resp.in_flight_operations = fs.in_flight;
	resp.n_tasks = n;
	resp.tasks = task_ptrs;
	resp.pid = getpid();
	resp.cache_dir = d->cfg->cache_dir;
	resp.tracks = (uint64_t)tracks;
	resp.initial_scan_done = sp.initial_done;
	resp.draining = fs.draining;
	return control_reply_message(reply, &resp.base);
}

/* ---- Shutdown ----------------------------------------------------------- */

struct shutdown_req {
	bool immediate;
	int timeout_s;
};

static struct shutdown_req pending_shutdown;

/* The reply reached the client: now the daemon may go. */
static void shutdown_after_reply(struct control *srv, void *arg)
{
	const struct control_deps *d = control_deps_of(srv);
	const struct shutdown_req *r = arg;

	if (d->request_shutdown)
		d->request_shutdown(d->shutdown_arg, r->immediate, r->timeout_s);
}

static int shutdown_rpc(struct control *srv, const ProtobufCMessage *req,
			struct control_reply *reply)
{
	const struct control_deps *d = control_deps_of(srv);
	const Musicfs__V1__ShutdownRequest *r =
		(const Musicfs__V1__ShutdownRequest *)req;
	Musicfs__V1__ShutdownResponse resp =
		MUSICFS__V1__SHUTDOWN_RESPONSE__INIT;
	struct mfs_fuse_stats fs;

	mfs_fuse_get_stats(d->fuse, &fs);
	mfs_log(MFS_LOG_INFO, "shutdown requested over the control API (%s)",
		r->immediate ? "immediate" : "graceful");
	pending_shutdown.immediate = r->immediate;
	pending_shutdown.timeout_s = r->timeout_seconds
					     ? (int)MFS_MIN(r->timeout_seconds,
							    86400u)
					     : SHUTDOWN_DEFAULT_TIMEOUT_S;
	resp.accepted = true;
	resp.open_handles = fs.open_handles;
	resp.in_flight_operations = fs.in_flight;
	reply->after_sent = shutdown_after_reply;
	reply->after_arg = &pending_shutdown;
	return control_reply_message(reply, &resp.base);
}

/* ---- origins -------------------------------------------------------------- */

static void fill_origin(struct control *srv, const struct config_origin *co,
			Musicfs__V1__OriginInfo *o)
{
	const struct control_deps *d = control_deps_of(srv);
	struct catalog *c = control_catalog(srv);
	struct health_status hs;
	ssize_t i = served_origin(srv, co->id);
	int64_t n = 0;

	musicfs__v1__origin_info__init(o);
	o->id = co->id;
	o->origin_type = (char *)config_origin_type_name(co->type);
	o->path = co->path ? co->path : (char *)"";
	o->priority = co->priority;
	o->enabled = co->enabled;
	o->serving = i >= 0;
	if (i < 0)
		return;
	if (!health_get(d->health, (size_t)i, &hs))
		o->health = health_pb(hs.state);
	if (c && !catalog_files_count(c, d->origins[i]->catalog_id, &n))
		o->file_count = (uint64_t)n;
}

static int list_origins(struct control *srv, const ProtobufCMessage *req,
			struct control_reply *reply)
{
	const struct config *cfg = control_deps_of(srv)->cfg;
	Musicfs__V1__ListOriginsResponse resp =
		MUSICFS__V1__LIST_ORIGINS_RESPONSE__INIT;
	Musicfs__V1__OriginInfo *infos = calloc(cfg->n_origins + 1,
						sizeof(*infos));
	Musicfs__V1__OriginInfo **ptrs = calloc(cfg->n_origins + 1,
						sizeof(*ptrs));
	size_t i;
	int rc = -ENOMEM;

	(void)req;
	if (infos && ptrs) {
		for (i = 0; i < cfg->n_origins; i++) {
			fill_origin(srv, &cfg->origins[i], &infos[i]);
			ptrs[i] = &infos[i];
		}
		resp.n_origins = cfg->n_origins;
		resp.origins = ptrs;
		rc = control_reply_message(reply, &resp.base);
	}
	free(infos);
	free(ptrs);
	return rc ? control_reply_error(reply, GRPC_STATUS_RESOURCE_EXHAUSTED,
					"out of memory")
		  : 0;
}

/* The served origin a request names, or an error status in reply. */
static ssize_t origin_arg(struct control *srv, const char *id,
			  struct control_reply *reply)
{
	const struct config *cfg = control_deps_of(srv)->cfg;
	ssize_t i;
	size_t k;

	if (!id || !*id) {
		control_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT,
				    "origin_id is required");
		return -1;
	}
	i = served_origin(srv, id);
	if (i >= 0)
		return i;
	for (k = 0; k < cfg->n_origins; k++)
		if (!strcmp(cfg->origins[k].id, id)) {
			control_reply_error(reply,
					    GRPC_STATUS_FAILED_PRECONDITION,
					    "origin '%s' is not served (disabled "
					    "or of an unsupported type)",
					    id);
			return -1;
		}
	control_reply_error(reply, GRPC_STATUS_NOT_FOUND,
			    "no origin '%s' (musicfs origin list shows them)",
			    id);
	return -1;
}

static int origin_health(struct control *srv, const ProtobufCMessage *req,
			 struct control_reply *reply)
{
	const struct control_deps *d = control_deps_of(srv);
	const Musicfs__V1__GetOriginHealthRequest *r =
		(const Musicfs__V1__GetOriginHealthRequest *)req;
	Musicfs__V1__OriginHealth resp = MUSICFS__V1__ORIGIN_HEALTH__INIT;
	struct health_status hs;
	ssize_t i = origin_arg(srv, r->origin_id, reply);

	if (i < 0)
		return -EINVAL;
	if (health_get(d->health, (size_t)i, &hs))
		return control_reply_error(reply, GRPC_STATUS_UNAVAILABLE,
					   "the health monitor is not running");
	resp.origin_id = r->origin_id;
	resp.state = health_pb(hs.state);
	resp.consecutive_failures = hs.consecutive_failures;
	resp.unhealthy_threshold = hs.threshold;
	resp.last_check_unix_ms = hs.last_check_unix_ms;
	resp.last_latency_us = hs.last_latency_us;
	resp.last_error = hs.last_error;
	resp.checks_total = hs.checks;
	resp.failures_total = hs.failures;
	resp.state_since_unix_ms = hs.since_unix_ms;
	return control_reply_message(reply, &resp.base);
}

/* ---- RescanOrigin (server stream) ----------------------------------------- */

struct rescan_stream {
	size_t oi;
	uint64_t ticket;
	int64_t started_ms;
	bool sent_any;
	bool finished;		/* the last message went out */
	int64_t last_seen;	/* send only when something moved */
};

static int rescan_start(struct control *srv, const ProtobufCMessage *req,
			void **state, struct control_reply *reply)
{
	const Musicfs__V1__RescanOriginRequest *r =
		(const Musicfs__V1__RescanOriginRequest *)req;
	struct rescan_stream *st;
	ssize_t i = origin_arg(srv, r->origin_id, reply);

	if (i < 0)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return control_reply_error(reply,
					   GRPC_STATUS_RESOURCE_EXHAUSTED,
					   "out of memory");
	st->oi = (size_t)i;
	st->started_ms = unix_ms();
	st->ticket = scan_request_origin(control_deps_of(srv)->scan, st->oi);
	mfs_log(MFS_LOG_INFO, "rescan of origin '%s' requested",
		r->origin_id);
	*state = st;
	return 0;
}

static enum control_next rescan_next(struct control *srv, void *state,
				     struct control_reply *reply)
{
	const struct control_deps *d = control_deps_of(srv);
	struct rescan_stream *st = state;
	Musicfs__V1__RescanProgress msg = MUSICFS__V1__RESCAN_PROGRESS__INIT;
	struct scan_origin_progress p;
	bool done, mine;

	if (st->finished)
		return CONTROL_NEXT_DONE;
	if (scan_get_origin_progress(d->scan, st->oi, &p))
		return CONTROL_NEXT_WAIT;
	done = p.completed >= st->ticket;
	/* the walk under way may be an older one: count it only once it
	 * is ours (started after the request) */
	mine = done || (p.walking && p.started_unix_ms >= st->started_ms);
	if (st->sent_any && !done && (!mine || p.files_seen == st->last_seen))
		return CONTROL_NEXT_WAIT;
	msg.origin_id = d->origins[st->oi]->id;
	msg.done = done;
	if (mine) {
		msg.files_seen = (uint64_t)p.files_seen;
		msg.files_parsed = (uint64_t)p.files_parsed;
		msg.files_removed = (uint64_t)p.files_removed;
		msg.files_known = (uint64_t)p.files_known;
	}
	msg.elapsed_ms = (uint64_t)(unix_ms() - st->started_ms);
	msg.error = done && p.last_error ? (char *)strerror(-p.last_error)
					 : (char *)"";
	if (control_reply_message(reply, &msg.base))
		return CONTROL_NEXT_WAIT;
	st->sent_any = true;
	st->finished = done;
	st->last_seen = p.files_seen;
	return CONTROL_NEXT_MESSAGE;
}

static void rescan_end(void *state)
{
	free(state);
}

/* ---- SubscribeEvents (server stream) -------------------------------------- */

static int events_start(struct control *srv, const ProtobufCMessage *req,
			void **state, struct control_reply *reply)
{
	const Musicfs__V1__SubscribeEventsRequest *r =
		(const Musicfs__V1__SubscribeEventsRequest *)req;
	struct event_sub *sub;
	uint32_t mask = 0;
	size_t i;

	for (i = 0; i < r->n_types; i++) {
		/* proto numbers are the bus's types, shifted by one */
		if ((int)r->types[i] < 1 || (int)r->types[i] > EVENT_TYPE_COUNT)
			return control_reply_error(
				reply, GRPC_STATUS_INVALID_ARGUMENT,
				"unknown event type %d", (int)r->types[i]);
		mask |= 1u << (r->types[i] - 1);
	}
	if (event_subscribe(control_deps_of(srv)->bus, mask, &sub))
		return control_reply_error(reply,
					   GRPC_STATUS_RESOURCE_EXHAUSTED,
					   "cannot subscribe");
	*state = sub;
	return 0;
}

static enum control_next events_next(struct control *srv, void *state,
				     struct control_reply *reply)
{
	Musicfs__V1__Event msg = MUSICFS__V1__EVENT__INIT;
	struct event e;
	int rc;

	(void)srv;
	rc = event_next(state, &e);
	if (rc == 0)
		return CONTROL_NEXT_WAIT;
	if (rc < 0) {
		control_reply_error(reply, GRPC_STATUS_RESOURCE_EXHAUSTED,
				    "this subscriber fell behind and lost "
				    "events; subscribe again");
		return CONTROL_NEXT_DONE;
	}
	msg.seq = e.seq;
	msg.type = (Musicfs__V1__EventType)(e.type + 1);
	msg.type_name = (char *)event_type_name(e.type);
	msg.time_unix_ms = e.time_us / 1000;
	msg.origin_id = e.origin ? e.origin : (char *)"";
	msg.path = e.path ? e.path : (char *)"";
	msg.value = e.value;
	rc = control_reply_message(reply, &msg.base);
	event_clear(&e);
	return rc ? CONTROL_NEXT_WAIT : CONTROL_NEXT_MESSAGE;
}

static void events_end(void *state)
{
	event_unsubscribe(state);
}

/* ---- GetMetrics ----------------------------------------------------------- */

static int get_metrics(struct control *srv, const ProtobufCMessage *req,
		       struct control_reply *reply)
{
	Musicfs__V1__GetMetricsResponse resp =
		MUSICFS__V1__GET_METRICS_RESPONSE__INIT;
	int rc;

	(void)srv;
	(void)req;
	resp.text = metrics_render(NULL);
	if (!resp.text)
		return control_reply_error(reply, GRPC_STATUS_INTERNAL,
					   "cannot render the metrics");
	rc = control_reply_message(reply, &resp.base);
	free(resp.text);
	return rc;
}

/* ---- the table ------------------------------------------------------------ */

#define SERVICE "/musicfs.v1.MusicFS/"

const struct control_method control_methods[] = {
	{ .path = SERVICE "GetStatus",
	  .request = &musicfs__v1__get_status_request__descriptor,
	  .unary = get_status },
	{ .path = SERVICE "Shutdown",
	  .request = &musicfs__v1__shutdown_request__descriptor,
	  .unary = shutdown_rpc },
	{ .path = SERVICE "ListOrigins",
	  .request = &musicfs__v1__list_origins_request__descriptor,
	  .unary = list_origins },
	{ .path = SERVICE "GetOriginHealth",
	  .request = &musicfs__v1__get_origin_health_request__descriptor,
	  .unary = origin_health },
	{ .path = SERVICE "RescanOrigin",
	  .request = &musicfs__v1__rescan_origin_request__descriptor,
	  .stream = { rescan_start, rescan_next, rescan_end } },
	{ .path = SERVICE "SubscribeEvents",
	  .request = &musicfs__v1__subscribe_events_request__descriptor,
	  .stream = { events_start, events_next, events_end } },
	{ .path = SERVICE "GetMetrics",
	  .request = &musicfs__v1__get_metrics_request__descriptor,
	  .unary = get_metrics },
	{ .path = "/grpc.reflection.v1alpha.ServerReflection/"
		  "ServerReflectionInfo",
	  .bidi = control_reflection_info },
	{ .path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
	  .bidi = control_reflection_info },
	{ .path = NULL },
};
