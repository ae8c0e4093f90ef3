/*
 * mfs_fuse.h - the FUSE boundary: the mount and its operation handlers.
 *
 * Owns: the libfuse low-level session, the mount, a pool of reader
 * catalog connections (one per concurrently running operation; WAL lets
 * them read while the scanner writes), and the open file handles.
 * Handlers are thin: they find the vnode in the catalog, answer from it,
 * and reply exactly once.  Inode numbers are the catalog's vnode numbers,
 * stable across restarts, so no per-inode state is kept in memory and
 * forget has nothing to free; the exception is the search folders
 * (/.search/<query>/, the smart collections at the root): a bounded
 * table maps their numbers to their queries (virt.c).
 *
 * Threads: mfs_fuse_new, mfs_fuse_loop and mfs_fuse_free on the daemon's
 * main thread; handlers run on libfuse's worker threads; the tree
 * listener (kernel invalidations) is called from the scanner thread.
 */
#ifndef MFS_FUSE_MFS_FUSE_H
#define MFS_FUSE_MFS_FUSE_H

#include "common/mfs.h"
#include "collections/collections.h"
#include "origins/origins.h"
#include "tree/tree.h"

struct cache;
struct mfs_fuse;
struct scan;

struct mfs_fuse_config {
	const char *mountpoint;
	const char *db_path;		/* the catalog readers open */
	int64_t db_cache_kb;		/* page cache per reader connection */
	struct origin **origins;	/* borrowed, by catalog id lookup */
	size_t n_origins;
	bool xattrs;			/* serve tags as user.musicfs.* */
	struct cache *cache;		/* for origins marked cached, or NULL */
	struct collections *collections; /* shown at the root, or NULL */
	double timeout;			/* entry and attribute timeout, seconds */
	bool debug;			/* libfuse's request tracing */
};

/*
 * Create the session and mount it.  The mount is live on return: the
 * kernel queues requests until mfs_fuse_loop runs.  Caller frees with
 * mfs_fuse_free (which unmounts).
 */
int mfs_fuse_new(const struct mfs_fuse_config *cfg, struct mfs_fuse **out);

/* Files that changed under an open are reported to the scanner. */
void mfs_fuse_set_scan(struct mfs_fuse *f, struct scan *scan);

/* The listener that forwards tree changes to the kernel's caches. */
void mfs_fuse_listener(struct mfs_fuse *f, struct tree_listener *out);

/* The listener that shows collection changes at the root of the mount. */
void mfs_fuse_collections_listener(struct mfs_fuse *f,
				   struct collections_listener *out);

/*
 * Serve requests until the file system is unmounted or SIGINT/SIGTERM/
 * SIGHUP arrives (libfuse's signal handlers).  0 or -errno.
 */
int mfs_fuse_loop(struct mfs_fuse *f);

/*
 * Ask the loop to return (from any thread): the loop's thread is sent
 * SIGTERM, which libfuse's handler turns into a clean exit.
 */
void mfs_fuse_exit(struct mfs_fuse *f);

struct mfs_fuse_stats {
	uint64_t open_handles;
	uint64_t in_flight;	/* operations being handled now */
	bool draining;
};

void mfs_fuse_get_stats(struct mfs_fuse *f, struct mfs_fuse_stats *out);

/*
 * Graceful shutdown, first half: refuse new opens (ESHUTDOWN) and wait
 * until no file is open and no operation runs, at most timeout_ms.
 * 0, or -ETIMEDOUT when something was still open.
 */
int mfs_fuse_drain(struct mfs_fuse *f, int timeout_ms);

/* Unmount, destroy the session and close the readers; NULL accepted. */
void mfs_fuse_free(struct mfs_fuse *f);

#endif
