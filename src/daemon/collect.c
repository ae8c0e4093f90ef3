/*
 * collect.c - the daemon's figures on the metrics page: origin health and
 * file counts, scan progress, events, background tasks, open files.  (The
 * FUSE operation counters and latencies are the metrics module's own.)
 *
 * Collectors run on whichever thread renders the page (the HTTP thread or
 * the gRPC thread), so the catalog reader they share is behind a mutex.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_DAEMON
#include "log/log.h"
#include "cache/runtime.h"
#include "catalog/catalog.h"
#include "daemon/daemon_i.h"
#include "events/events.h"
#include "fuse/mfs_fuse.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "scan/scan.h"
#include "supervisor/supervisor.h"

#define COLLECT_MAX_TASKS 16

/* A metric family of one sample without labels. */
struct single {
	const char *name;
	const char *type;
	const char *help;
	double value;
};

static void singles(struct metrics_out *out, const struct single *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		metrics_family(out, s[i].name, s[i].type, s[i].help);
		metrics_sample(out, s[i].name, NULL, s[i].value);
	}
}

static pthread_mutex_t reader_lock = PTHREAD_MUTEX_INITIALIZER;
static struct catalog *reader;

static void collect_origins(struct metrics_out *out, struct daemon *d)
{
	struct health_status hs;
	int64_t n;
	size_t i;

	metrics_family(out, "musicfs_origin_health", "gauge",
		       "1 if the origin answered its last checks, 0 if it is "
		       "unhealthy, -1 before the first check");
	for (i = 0; i < d->n_origins; i++) {
		if (health_get(d->health, i, &hs))
			continue;
		metrics_sample_label(out, "musicfs_origin_health", "origin",
				     d->origins[i]->id,
				     hs.state == HEALTH_HEALTHY     ? 1
				     : hs.state == HEALTH_UNHEALTHY ? 0
								    : -1);
	}
	metrics_family(out, "musicfs_origin_files", "gauge",
		       "Audio files and cover images of the origin in the "
		       "catalog");
	pthread_mutex_lock(&reader_lock);
	if (!reader && catalog_open(d->db_path, CATALOG_READER, 256, &reader))
		reader = NULL;
	for (i = 0; reader && i < d->n_origins; i++)
		if (!catalog_files_count(reader, d->origins[i]->catalog_id, &n))
			metrics_sample_label(out, "musicfs_origin_files",
					     "origin", d->origins[i]->id,
					     (double)n);
	pthread_mutex_unlock(&reader_lock);
}

static void collect_scan(struct metrics_out *out, struct daemon *d)
{
	struct scan_origin_progress p;
	struct scan_progress sp;
	size_t i;

	scan_get_progress(d->scan, &sp);
	singles(out, (const struct single[]){
		{ "musicfs_scan_files_seen_total", "counter",
		  "Files looked at by every walk since start",
		  (double)sp.files_seen },
		{ "musicfs_scan_files_parsed_total", "counter",
		  "New or changed files read since start",
		  (double)sp.files_parsed },
		{ "musicfs_scan_files_removed_total", "counter",
		  "Files that vanished from their origin since start",
		  (double)sp.files_removed },
		{ "musicfs_scan_initial_done", "gauge",
		  "1 once every origin was walked once",
		  sp.initial_done ? 1 : 0 },
	}, 4);
	metrics_family(out, "musicfs_sync_files_changed", "gauge",
		       "Files added, changed or removed by the origin's last "
		       "walk");
	for (i = 0; i < d->n_origins; i++)
		if (!scan_get_origin_progress(d->scan, i, &p))
			metrics_sample_label(out, "musicfs_sync_files_changed",
					     "origin", d->origins[i]->id,
					     (double)(p.files_parsed +
						      p.files_removed));
}

static void collect_events(struct metrics_out *out, struct daemon *d)
{
	struct event_bus_stats st;
	int t;

	event_bus_get_stats(d->bus, &st);
	metrics_family(out, "musicfs_events_total", "counter",
		       "Events published, by type");
	for (t = 0; t < EVENT_TYPE_COUNT; t++)
		metrics_sample_label(out, "musicfs_events_total", "type",
				     event_type_name((enum event_type)t),
				     (double)st.published[t]);
	singles(out, (const struct single[]){
		{ "musicfs_event_subscribers", "gauge",
		  "Open event subscriptions", (double)st.subscribers },
		{ "musicfs_event_subscribers_dropped_total", "counter",
		  "Subscribers dropped because they fell behind",
		  (double)st.dropped_subscribers },
		{ "musicfs_events_lost_total", "counter",
		  "Events the dropped subscribers never received",
		  (double)st.lost_events },
	}, 3);
}

static void collect_process(struct metrics_out *out, struct daemon *d)
{
	struct task_status ts[COLLECT_MAX_TASKS];
	struct mfs_fuse_stats fs;
	size_t n, i;

	mfs_fuse_get_stats(d->fuse, &fs);
	singles(out, (const struct single[]){
		{ "musicfs_open_handles", "gauge",
		  "Files open through the mount", (double)fs.open_handles },
	}, 1);
	metrics_family(out, "musicfs_task_restarts_total", "counter",
		       "Restarts of each background task after a failure");
	n = MFS_MIN(supervisor_status(d->supervisor, ts, COLLECT_MAX_TASKS),
		    (size_t)COLLECT_MAX_TASKS);
	for (i = 0; i < n; i++)
		metrics_sample_label(out, "musicfs_task_restarts_total", "task",
				     ts[i].name, ts[i].restarts);
}

static void collect_cache(struct metrics_out *out, struct daemon *d)
{
	struct cache_stats st;

	if (!d->cache || cache_get_stats(d->cache, &st))
		return;
	singles(out, (const struct single[]){
		{ "musicfs_cache_hits_total", "counter",
		  "Windows (4 MiB) read from the chunk cache", (double)st.hits },
		{ "musicfs_cache_misses_total", "counter",
		  "Windows fetched from an origin into the cache",
		  (double)st.misses },
		{ "musicfs_cache_hit_bytes_total", "counter",
		  "Bytes served from the chunk cache", (double)st.hit_bytes },
		{ "musicfs_cache_miss_bytes_total", "counter",
		  "Bytes served by fetching from origins", (double)st.miss_bytes },
		{ "musicfs_cache_size_bytes", "gauge",
		  "Bytes of chunk files (each chunk once)",
		  (double)st.stored_bytes },
		{ "musicfs_cache_file_bytes", "gauge",
		  "Bytes of files the chunks serve (over size: dedup)",
		  (double)st.file_bytes },
		{ "musicfs_cache_chunks", "gauge", "Chunks in the cache",
		  (double)st.chunks },
		{ "musicfs_cache_budget_bytes", "gauge",
		  "content_cache budget (0: no limit)",
		  (double)st.budget_bytes },
		{ "musicfs_cache_evicted_bytes_total", "counter",
		  "Bytes evicted to stay within the budget",
		  (double)st.evicted_bytes },
		{ "musicfs_cache_bad_chunks_total", "counter",
		  "Chunk files that failed verification (refetched)",
		  (double)st.bad_chunks },
	}, 10);
}

static void collect_all(struct metrics_out *out, void *arg)
{
	struct daemon *d = arg;

	collect_origins(out, d);
	collect_scan(out, d);
	collect_events(out, d);
	collect_process(out, d);
	collect_cache(out, d);
}

int collect_register(struct daemon *d)
{
	return metrics_add_collector(collect_all, d);
}

void collect_release(void)
{
	pthread_mutex_lock(&reader_lock);
	catalog_close(&reader);
	pthread_mutex_unlock(&reader_lock);
}
