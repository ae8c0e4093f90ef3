/*
 * scan_i.h - internals shared by scan.c and watch.c.
 */
#ifndef MFS_SCAN_SCAN_I_H
#define MFS_SCAN_SCAN_I_H

#include "scan/scan.h"

/*
 * inotify state: one watch per folder of every local origin, and the map
 * from watch descriptor back to (origin index, folder relpath).  The
 * scanner thread adds watches; the watcher task reads events.
 */
struct watch;

int watch_new(struct watch **out);
void watch_free(struct watch *w);
int watch_fd(const struct watch *w);

/* Watch folder abs_path, known to the scanner as reldir of origin oi. */
int watch_add(struct watch *w, size_t oi, const char *abs_path,
	      const char *reldir);

/*
 * Read the pending events and report the paths they name through cb
 * (relpath of a file or folder that appeared, changed or vanished).
 * overflow is true when the kernel dropped events: the caller must walk
 * everything again.  0 or -errno.
 */
int watch_read(struct watch *w,
	       void (*cb)(void *ctx, size_t oi, const char *relpath),
	       void *ctx, bool *overflow);

#endif
