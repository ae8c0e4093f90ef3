/*
 * cache_rpc.c - the chunk cache's RPCs: GetCacheStats, ClearCache and
 * Prefetch (server stream, its work on a job thread: prefetch.c).
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "cache/runtime.h"
#include "control/control_i.h"
#include "control/prefetch.h"

#define MAX_ORIGIN_STATS 64

/* ---- GetCacheStats -------------------------------------------------------- */

struct origin_rows {
	Musicfs__V1__OriginCacheStats rows[MAX_ORIGIN_STATS];
	Musicfs__V1__OriginCacheStats *ptrs[MAX_ORIGIN_STATS];
	char names[MAX_ORIGIN_STATS][64];
	size_t n;
};

static int add_origin_row(void *ctx, const char *origin, int64_t chunks,
			  int64_t bytes)
{
	struct origin_rows *o = ctx;
	Musicfs__V1__OriginCacheStats *r = &o->rows[o->n];

	musicfs__v1__origin_cache_stats__init(r);
	snprintf(o->names[o->n], sizeof(o->names[0]), "%s", origin);
	r->origin_id = o->names[o->n];
	r->chunks = (uint64_t)chunks;
	r->bytes = (uint64_t)bytes;
	o->ptrs[o->n] = r;
	return ++o->n == MAX_ORIGIN_STATS;
}

static struct cache *cache_of(struct control *srv, struct control_reply *reply)
{
	struct cache *c = control_deps_of(srv)->cache;

	if (!c)
		control_reply_error(reply, GRPC_STATUS_UNAVAILABLE,
				    "the chunk cache is not running");
	return c;
}

static int cache_stats_rpc(struct control *srv, const ProtobufCMessage *req,
			   struct control_reply *reply)
{
	Musicfs__V1__CacheStats resp = MUSICFS__V1__CACHE_STATS__INIT;
	struct cache *c = cache_of(srv, reply);
	struct origin_rows *rows;
	struct cache_stats st;
	int rc;

	(void)req;
	if (!c)
		return -EINVAL;
	rows = calloc(1, sizeof(*rows));
	if (!rows || cache_get_stats(c, &st) ||
	    cache_origin_stats(c, add_origin_row, rows)) {
		free(rows);
		return control_reply_error(reply, GRPC_STATUS_INTERNAL,
					   "cannot read the cache index");
	}
	resp.hits = st.hits;
	resp.misses = st.misses;
	resp.hit_rate = st.hits + st.misses
				? (double)st.hits / (double)(st.hits + st.misses)
				: 0;
	resp.hit_bytes = st.hit_bytes;
	resp.miss_bytes = st.miss_bytes;
	resp.chunks = (uint64_t)st.chunks;
	resp.stored_bytes = (uint64_t)st.stored_bytes;
	resp.file_bytes = (uint64_t)st.file_bytes;
	resp.dedup_ratio = st.stored_bytes ? (double)st.file_bytes /
						     (double)st.stored_bytes
					   : 1;
	resp.budget_bytes = st.budget_bytes;
	resp.evicted_chunks = st.evicted_chunks;
	resp.evicted_bytes = st.evicted_bytes;
	resp.bad_chunks = st.bad_chunks;
	resp.n_origins = rows->n;
	resp.origins = rows->ptrs;
	rc = control_reply_message(reply, &resp.base);
	free(rows);
	return rc;
}

/* ---- ClearCache ------------------------------------------------------------- */

static int clear_cache_rpc(struct control *srv, const ProtobufCMessage *req,
			   struct control_reply *reply)
{
	const Musicfs__V1__ClearCacheRequest *r =
		(const Musicfs__V1__ClearCacheRequest *)req;
	const struct control_deps *d = control_deps_of(srv);
	Musicfs__V1__ClearCacheResponse resp =
		MUSICFS__V1__CLEAR_CACHE_RESPONSE__INIT;
	struct cache *c = cache_of(srv, reply);
	int64_t origin = -1, chunks, bytes;
	size_t i;
	int rc;

	if (!c)
		return -EINVAL;
	if (r->origin_id && *r->origin_id) {
		for (i = 0; i < d->n_origins && origin < 0; i++)
			if (!strcmp(d->origins[i]->id, r->origin_id))
				origin = d->origins[i]->catalog_id;
		if (origin < 0)
			return control_reply_error(reply, GRPC_STATUS_NOT_FOUND,
						   "no origin '%s'",
						   r->origin_id);
	}
	rc = cache_clear(c, origin, r->dry_run, &chunks, &bytes);
	if (rc)
		return control_reply_error(reply, GRPC_STATUS_INTERNAL,
					   "cannot clear the cache: %s",
					   strerror(-rc));
	mfs_log(MFS_LOG_INFO, "cache %s: %" PRId64 " chunks, %" PRId64 " bytes%s",
		r->dry_run ? "clear (dry run)" : "cleared", chunks, bytes,
		origin >= 0 ? " (one origin)" : "");
	resp.chunks = (uint64_t)chunks;
	resp.bytes = (uint64_t)bytes;
	resp.dry_run = r->dry_run;
	return control_reply_message(reply, &resp.base);
}

/* ---- Prefetch (server stream) ------------------------------------------------ */

struct prefetch_stream {
	struct prefetch_job *job;
	bool finished;
	uint64_t last_bytes;
	bool sent_any;
};

static int prefetch_begin(struct control *srv, const ProtobufCMessage *req,
			  void **state, struct control_reply *reply)
{
	const Musicfs__V1__PrefetchRequest *r =
		(const Musicfs__V1__PrefetchRequest *)req;
	struct prefetch_stream *st;
	char err[512] = "";
	int rc;

	if (!cache_of(srv, reply))
		return -EINVAL;
	if (!r->n_paths)
		return control_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT,
					   "no path to prefetch");
	st = calloc(1, sizeof(*st));
	if (!st)
		return control_reply_error(reply,
					   GRPC_STATUS_RESOURCE_EXHAUSTED,
					   "out of memory");
	rc = prefetch_start(control_deps_of(srv), r->paths, r->n_paths,
			    &st->job, err, sizeof(err));
	if (rc) {
		free(st);
		return control_reply_error(reply,
					   rc == -ENOENT || rc == -ENOTDIR
						   ? GRPC_STATUS_NOT_FOUND
						   : GRPC_STATUS_INTERNAL,
					   "%s", err);
	}
	*state = st;
	return 0;
}

static enum control_next prefetch_next(struct control *srv, void *state,
				       struct control_reply *reply)
{
	Musicfs__V1__PrefetchProgress msg = MUSICFS__V1__PREFETCH_PROGRESS__INIT;
	struct prefetch_stream *st = state;
	struct prefetch_status p;

	(void)srv;
	if (st->finished)
		return CONTROL_NEXT_DONE;
	prefetch_get(st->job, &p);
	if (st->sent_any && !p.done && p.bytes_done == st->last_bytes)
		return CONTROL_NEXT_WAIT;
	msg.files_total = p.files_total;
	msg.files_done = p.files_done;
	msg.bytes_total = p.bytes_total;
	msg.bytes_done = p.bytes_done;
	msg.files_skipped = p.files_skipped;
	msg.files_failed = p.files_failed;
	msg.done = p.done;
	msg.error = p.done && p.files_failed
			    ? (char *)"some files could not be read from their "
				      "origin"
			    : (char *)"";
	if (control_reply_message(reply, &msg.base))
		return CONTROL_NEXT_WAIT;
	st->sent_any = true;
	st->last_bytes = p.bytes_done;
	st->finished = p.done;
	return CONTROL_NEXT_MESSAGE;
}

static void prefetch_end(void *state)
{
	struct prefetch_stream *st = state;

	prefetch_free(st->job);
	free(st);
}

const struct control_method control_cache_methods[] = {
	{ .path = "/musicfs.v1.MusicFS/GetCacheStats",
	  .request = &musicfs__v1__get_cache_stats_request__descriptor,
	  .unary = cache_stats_rpc },
	{ .path = "/musicfs.v1.MusicFS/ClearCache",
	  .request = &musicfs__v1__clear_cache_request__descriptor,
	  .unary = clear_cache_rpc },
	{ .path = "/musicfs.v1.MusicFS/Prefetch",
	  .request = &musicfs__v1__prefetch_request__descriptor,
	  .stream = { prefetch_begin, prefetch_next, prefetch_end } },
	{ .path = NULL },
};
