/*
 * health.c - the origin health monitor (see health.h).
 *
 * Each round starts one probe thread per origin whose previous probe has
 * returned, waits for them up to timeout_ms, and records the results.  A
 * probe thread only touches its own slot, under h->lock.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_HEALTH
#include "log/log.h"
#include "catalog/catalog.h"
#include "events/events.h"
#include "health/health.h"
#include "scan/scan.h"

#include <pthread.h>
#include <time.h>

struct health_slot {
	struct health *h;
	struct origin *o;
	bool busy;		/* a probe thread is running */
	bool done;		/* ...and has returned this round */
	bool this_round;	/* started by the current round */
	int rc;
	int64_t started_ns;
	uint64_t latency_us;
	struct health_status st;
};

struct health {
	int interval_ms;
	int timeout_ms;
	char *db_path;
	struct catalog *reader;	/* monitor task only */
	struct scan *scan;
	struct event_bus *bus;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* probe done, or wake */
	atomic_bool stop;
	struct health_slot *slots;
	size_t n;
};

static int64_t clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *health_state_name(enum health_state st)
{
	switch (st) {
	case HEALTH_HEALTHY:
		return "healthy";
	case HEALTH_UNHEALTHY:
		return "unhealthy";
	case HEALTH_UNKNOWN:
		break;
	}
	return "unknown";
}

static unsigned threshold_of(const struct config *cfg, const char *id)
{
	size_t i;
	int t;

	for (i = 0; i < cfg->n_origins; i++) {
		if (strcmp(cfg->origins[i].id, id))
			continue;
		t = cfg->health.per_origin_thresholds[cfg->origins[i].type];
		if (t > 0)
			return (unsigned)t;
	}
	return cfg->health.unhealthy_threshold > 0
		       ? (unsigned)cfg->health.unhealthy_threshold
		       : 1;
}

int health_new(const struct config *cfg, const char *db_path,
	       struct origin **origins, size_t n, struct scan *scan,
	       struct event_bus *bus, struct health **out)
{
	struct health *h = calloc(1, sizeof(*h));
	size_t i;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->slots = calloc(n ? n : 1, sizeof(*h->slots));
	h->db_path = strdup(db_path);
	if (!h->slots || !h->db_path) {
		free(h->slots);
		free(h->db_path);
		free(h);
		return -ENOMEM;
	}
	h->n = n;
	h->interval_ms = MFS_MAX(cfg->health.check_interval_secs, 1) * 1000;
	h->timeout_ms = MFS_MAX(cfg->health.timeout_ms, 1);
	h->scan = scan;
	h->bus = bus;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	for (i = 0; i < n; i++) {
		h->slots[i].h = h;
		h->slots[i].o = origins[i];
		h->slots[i].st.threshold = threshold_of(cfg, origins[i]->id);
		h->slots[i].st.since_unix_ms = clock_ms(CLOCK_REALTIME);
	}
	*out = h;
	return 0;
}

/* ---- one probe ---------------------------------------------------------- */

static int first_entry(void *ctx, const struct origin_entry *e)
{
	(void)e;
	*(bool *)ctx = true;
	return 1;
}

static void *probe_main(void *arg)
{
	struct health_slot *sl = arg;
	struct health *h = sl->h;
	bool any = false;
	int rc;

	rc = origin_probe(sl->o);
	if (!rc)
		rc = origin_list_dir(sl->o, "", first_entry, &any);
	pthread_mutex_lock(&h->lock);
	sl->rc = rc ? rc : (any ? 0 : 1);	/* 1: reachable but empty */
	sl->latency_us = (uint64_t)(clock_ns() - sl->started_ns) / 1000;
	sl->done = true;
	sl->busy = false;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Start a probe thread for slot i unless its last one is still stuck. */
static bool probe_start(struct health *h, struct health_slot *sl)
{
	pthread_attr_t attr;
	pthread_t t;
	bool ok;

	if (sl->busy)
		return false;
	sl->busy = true;
	sl->done = false;
	sl->started_ns = clock_ns();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ok = pthread_create(&t, &attr, probe_main, sl) == 0;
	pthread_attr_destroy(&attr);
	if (!ok)
		sl->busy = false;
	(void)h;
	return ok;
}

/* ---- results ------------------------------------------------------------ */

/* An empty root is healthy only if the catalog knows no file of it. */
static bool empty_is_fine(struct health *h, struct origin *o)
{
	int64_t known = 0;

	if (!h->reader &&
	    catalog_open(h->db_path, CATALOG_READER, 256, &h->reader))
		return true;
	if (catalog_files_count(h->reader, o->catalog_id, &known))
		return true;
	return known == 0;
}

static void set_state(struct health *h, size_t i, enum health_state st)
{
	struct health_slot *sl = &h->slots[i];
	enum health_state was = sl->st.state;

	sl->st.state = st;
	sl->st.since_unix_ms = clock_ms(CLOCK_REALTIME);
	if (st == HEALTH_HEALTHY) {
		mfs_log(was == HEALTH_UNHEALTHY ? MFS_LOG_WARN : MFS_LOG_INFO,
			"origin '%s' is reachable", sl->o->id);
		event_publish(h->bus, EVENT_ORIGIN_CONNECTED, sl->o->id, NULL, 0);
		/* what changed while it was away (and its inotify watches,
		 * lost with its file system) comes back with a walk */
		if (was == HEALTH_UNHEALTHY && h->scan)
			scan_request_origin(h->scan, i);
	} else {
		mfs_log(MFS_LOG_WARN, "origin '%s' is unreachable after %u "
				      "failed check(s): %s; its files stay "
				      "listed",
			sl->o->id, sl->st.consecutive_failures,
			sl->st.last_error);
		event_publish(h->bus, EVENT_ORIGIN_DISCONNECTED, sl->o->id,
			      NULL, 0);
	}
}

/* Record slot i's result (rc 0 ok, 1 empty, <0 error, or timed out). */
static void record(struct health *h, size_t i, bool timed_out)
{
	struct health_slot *sl = &h->slots[i];
	struct health_status *st = &sl->st;
	bool ok = !timed_out && (sl->rc == 0 ||
				 (sl->rc == 1 && empty_is_fine(h, sl->o)));

	st->checks++;
	st->last_check_unix_ms = clock_ms(CLOCK_REALTIME);
	st->last_latency_us = timed_out ? (uint64_t)h->timeout_ms * 1000
					: sl->latency_us;
	if (ok) {
		/* even a failure too short to count as unhealthy may have
		 * been a remount: the files and watches may be new */
		if (st->consecutive_failures && st->state != HEALTH_UNHEALTHY &&
		    h->scan)
			scan_request_origin(h->scan, i);
		st->consecutive_failures = 0;
		st->last_error[0] = '\0';
		if (st->state != HEALTH_HEALTHY)
			set_state(h, i, HEALTH_HEALTHY);
		return;
	}
	st->failures++;
	st->consecutive_failures++;
	if (timed_out)
		snprintf(st->last_error, sizeof(st->last_error),
			 "no answer within %d ms", h->timeout_ms);
	else if (sl->rc == 1)
		snprintf(st->last_error, sizeof(st->last_error),
			 "its folder is empty but the catalog knows its files "
			 "(not mounted?)");
	else
		snprintf(st->last_error, sizeof(st->last_error), "%s",
			 strerror(-sl->rc));
	mfs_log(MFS_LOG_DEBUG, "origin '%s': check failed: %s", sl->o->id,
		st->last_error);
	if (st->state != HEALTH_UNHEALTHY &&
	    st->consecutive_failures >= st->threshold)
		set_state(h, i, HEALTH_UNHEALTHY);
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* One round: probe every origin, wait up to timeout_ms, record. */
static void check_all(struct health *h)
{
	struct timespec deadline;
	bool pending;
	size_t i;

	deadline_in(&deadline, h->timeout_ms);
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++)
		h->slots[i].this_round = probe_start(h, &h->slots[i]);
	do {
		pending = false;
		for (i = 0; i < h->n; i++)
			pending = pending ||
				  (h->slots[i].this_round && !h->slots[i].done);
	} while (pending && !atomic_load(&h->stop) &&
		 pthread_cond_timedwait(&h->cond, &h->lock, &deadline) == 0);
	for (i = 0; i < h->n && !atomic_load(&h->stop); i++) {
		/* a probe stuck since an earlier round is a failure too */
		if (h->slots[i].this_round || h->slots[i].busy)
			record(h, i, !h->slots[i].done);
	}
	pthread_mutex_unlock(&h->lock);
}

int health_run(void *arg, const atomic_bool *stop)
{
	struct health *h = arg;
	struct timespec next;

	while (!atomic_load(stop) && !atomic_load(&h->stop)) {
		check_all(h);
		deadline_in(&next, h->interval_ms);
		pthread_mutex_lock(&h->lock);
		while (!atomic_load(stop) && !atomic_load(&h->stop) &&
		       pthread_cond_timedwait(&h->cond, &h->lock, &next) == 0)
			;
		pthread_mutex_unlock(&h->lock);
	}
	catalog_close(&h->reader);
	return 0;
}

void health_wake(void *arg)
{
	struct health *h = arg;

	atomic_store(&h->stop, true);
	pthread_mutex_lock(&h->lock);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

int health_get(struct health *h, size_t i, struct health_status *out)
{
	if (!h || i >= h->n)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	*out = h->slots[i].st;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void health_free(struct health *h)
{
	struct timespec deadline;
	bool busy;
	size_t i;

	if (!h)
		return;
	/* a probe stuck in a hung file system: wait a little, then leave
	 * its slot behind rather than free memory it will write to */
	deadline_in(&deadline, h->timeout_ms);
	pthread_mutex_lock(&h->lock);
	do {
		busy = false;
		for (i = 0; i < h->n; i++)
			busy = busy || h->slots[i].busy;
	} while (busy &&
		 pthread_cond_timedwait(&h->cond, &h->lock, &deadline) == 0);
	pthread_mutex_unlock(&h->lock);
	if (busy) {
		mfs_log(MFS_LOG_WARN, "an origin check is still hanging at "
				      "exit; its memory is left to the system");
		return;
	}
	catalog_close(&h->reader);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->db_path);
	free(h->slots);
	free(h);
}
