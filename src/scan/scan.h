/*
 * scan.h - keeping the catalog equal to what the origins hold.
 *
 * Owns: two supervised tasks (see supervisor.h), the writer catalog
 * connection it is given, and the tree it updates.  The scanner task
 * walks every origin, parses only the files whose size or mtime changed
 * since the catalog last saw them, removes the ones that vanished (unless
 * the origin looks unreachable: then nothing is removed), and commits in
 * batches; then it handles requests: paths the watcher task saw change
 * through inotify, files FUSE found changed (scan_request_path), whole
 * origins (scan_request_origin: RescanOrigin, an origin that came back).
 * Each committed change is published on the event bus (file_added,
 * file_modified, file_removed; sync_started/sync_completed per origin walk).
 *
 * Threads: scan_new/scan_free on the daemon's main thread, the tasks on
 * the supervisor's threads; the request and progress functions from any
 * thread.
 */
#ifndef MFS_SCAN_SCAN_H
#define MFS_SCAN_SCAN_H

#include "common/mfs.h"
#include "catalog/catalog.h"
#include "origins/origins.h"
#include "tree/tree.h"

#include <stdatomic.h>

struct event_bus;

struct scan;

struct scan_progress {
	bool initial_done;	/* every origin walked once */
	int64_t files_seen;	/* files looked at, all walks */
	int64_t files_parsed;	/* files (re)read because they changed */
	int64_t files_removed;
	int64_t parse_errors;	/* audio files no parser could read */
	int64_t walks;		/* full walks completed */
};

/*
 * Make a scanner over origins[0..n) (borrowed: they must outlive it) that
 * writes through writer (owned from now on: scan_free closes it) and
 * places with tree (owned too).  Caller frees with scan_free.
 */
int scan_new(struct catalog *writer, struct tree *tree,
	     struct origin **origins, size_t n, struct scan **out);

/* Free (the tasks must have stopped); NULL accepted. */
void scan_free(struct scan *s);

/* Publish changes on bus (before the tasks start; NULL: no events). */
void scan_set_events(struct scan *s, struct event_bus *bus);

/* The scanner task and its stop hook (stop is bounded by the current batch). */
int scan_run(void *arg, const atomic_bool *stop);
void scan_wake(void *arg);

/* The inotify watcher task and its stop hook. */
int scan_watch_run(void *arg, const atomic_bool *stop);
void scan_watch_wake(void *arg);

/*
 * Re-read one path of an origin soon (a file that changed under FUSE, or
 * anything the caller knows is stale).  Thread-safe, never blocks on I/O.
 */
void scan_request_path(struct scan *s, const struct origin *o,
		       const char *relpath);

/* Ask for a full walk of every origin (e.g. on SIGHUP or inotify overflow). */
void scan_request_full(struct scan *s);

/*
 * The same from a signal handler: async-signal-safe (an atomic flag and a
 * write to an eventfd).
 */
void scan_request_full_from_signal(struct scan *s);

void scan_get_progress(struct scan *s, struct scan_progress *out);

/* Walks of one origin: what RescanOrigin streams. */
struct scan_origin_progress {
	uint64_t requested;	/* rescan tickets handed out */
	uint64_t completed;	/* every ticket <= this was answered by a walk */
	bool walking;
	int64_t files_seen;	/* of the current (or last) walk */
	int64_t files_parsed;
	int64_t files_removed;
	int64_t files_known;	/* catalog count when the walk started */
	int64_t started_unix_ms;
	int64_t finished_unix_ms;
	int last_error;		/* of the last walk: 0 or -errno */
};

/*
 * Ask for a full walk of origins[oi]; returns a ticket: the walk that
 * answers it is done when progress.completed >= ticket.
 */
uint64_t scan_request_origin(struct scan *s, size_t oi);

int scan_get_origin_progress(struct scan *s, size_t oi,
			     struct scan_origin_progress *out);

/* Block until the first walk of every origin finished or timeout_ms passed: 0 or -ETIMEDOUT. */
int scan_wait_initial(struct scan *s, int timeout_ms);

#endif
