/*
 * health.h - is each origin reachable right now?
 *
 * Owns: the health state of every origin and the monitor task that probes
 * them every check_interval_secs.  A probe that fails or takes longer than
 * timeout_ms counts as a failure; after `threshold` consecutive failures
 * (per origin type, else unhealthy_threshold) an origin is unhealthy and
 * origin_disconnected is published; the first success after that makes it
 * healthy again, publishes origin_connected and asks the scanner to walk
 * it again (what changed while it was away is found at once).  A success
 * after failures too few to call the origin unhealthy asks for a walk too:
 * a share remounted between two checks has new files and needs new
 * inotify watches.
 *
 * Probes run on a worker thread per origin so that a hung NFS stat cannot
 * stall the monitor or the other origins: a probe still running at its
 * timeout is a failure, and no second probe starts until it returns.
 *
 * Threads: health_run is a supervised task (see supervisor.h); health_get
 * from any thread.
 */
#ifndef MFS_HEALTH_HEALTH_H
#define MFS_HEALTH_HEALTH_H

#include "common/mfs.h"
#include "config/config.h"
#include "origins/origins.h"

#include <stdatomic.h>

struct health;
struct event_bus;
struct scan;

enum health_state {
	HEALTH_UNKNOWN,		/* not checked yet */
	HEALTH_HEALTHY,
	HEALTH_UNHEALTHY,
};

struct health_status {
	enum health_state state;
	unsigned consecutive_failures;
	unsigned threshold;
	int64_t last_check_unix_ms;	/* 0: never */
	uint64_t last_latency_us;
	char last_error[128];
	uint64_t checks;
	uint64_t failures;
	int64_t since_unix_ms;
};

/*
 * Monitor origins[0..n) (borrowed) with the [health] settings of cfg and
 * the origin types of cfg->origins (matched by id).  db_path is the
 * catalog: an origin whose root lists nothing while the catalog knows
 * files of it is unhealthy (an unmounted share shows an empty folder).
 * scan and bus may be NULL.  Caller frees with health_free after the task
 * stopped.
 */
int health_new(const struct config *cfg, const char *db_path,
	       struct origin **origins, size_t n, struct scan *scan,
	       struct event_bus *bus, struct health **out);
void health_free(struct health *h);

/* The supervised task: check every origin now, then every interval. */
int health_run(void *arg, const atomic_bool *stop);
void health_wake(void *arg);

/* State of origins[i]; -ENOENT if out of range. */
int health_get(struct health *h, size_t i, struct health_status *out);

const char *health_state_name(enum health_state st);

#endif
