/*
 * scan.h - keeping the catalog equal to what the origins hold.
 *
 * Owns: the scanner thread, the writer catalog connection it is given, and
 * the tree it updates.  On start the thread walks every origin, parses
 * only the files whose size or mtime changed since the catalog last saw
 * them, removes the ones that vanished (unless the origin looks
 * unreachable: then nothing is removed), and commits in batches.  Then it
 * follows local origins with inotify, and files that FUSE found changed
 * (scan_request_path), until scan_stop.
 *
 * Threads: scan_new/scan_start/scan_stop on the daemon's main thread;
 * scan_request_path and scan_get_progress from any thread.
 */
#ifndef MFS_SCAN_SCAN_H
#define MFS_SCAN_SCAN_H

#include "common/mfs.h"
#include "catalog/catalog.h"
#include "origins/origins.h"
#include "tree/tree.h"

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

/* Stop (if running) and free; NULL accepted. */
void scan_free(struct scan *s);

/* Start the thread.  0 or -errno. */
int scan_start(struct scan *s);

/* Ask the thread to stop and wait for it (bounded by the current batch). */
void scan_stop(struct scan *s);

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

/* Block until the first walk of every origin finished or timeout_ms passed: 0 or -ETIMEDOUT. */
int scan_wait_initial(struct scan *s, int timeout_ms);

#endif
