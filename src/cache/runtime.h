/*
 * runtime.h - the chunk cache as a running daemon uses it: reads served
 * through it, the index writer, eviction, figures.  (cache.h is the pure
 * core under it: FastCDC, SHA-256, the chunk files.)
 *
 * Owns: the chunk store of cache_dir, a writer catalog connection of its
 * own (the chunks and file_chunks tables: the scanner's writer never waits
 * for it, and FUSE threads never write SQL), a small pool of reader
 * connections, the records not yet committed, and the hit/miss counters.
 *
 * The read path: a range of a file is cut into 4 MiB windows.  A window
 * whose chunks are all recorded is served from the chunk files (each one
 * checked as it is read against the checksum recorded with it, or its
 * SHA-256 name: cache_config.verify_sha256); a window with a missing or
 * bad chunk is fetched whole from the origin, chunked, stored, recorded
 * (in memory at once, in the catalog by the writer task within ~100 ms),
 * and served from the fetched bytes.  Identical bytes anywhere are one
 * chunk: the same album twice, or a re-tagged file whose audio moved,
 * costs little more than its changed chunks.
 *
 * Threads: cache_read from any FUSE worker; cache_run is the supervised
 * writer task (commits records and LRU touches, evicts down to the budget);
 * the stats and clear functions from the control thread.
 */
#ifndef MFS_CACHE_RUNTIME_H
#define MFS_CACHE_RUNTIME_H

#include "common/mfs.h"
#include "cache/cache.h"

#include <stdatomic.h>

struct cache;
struct event_bus;

struct cache_config {
	const char *cache_dir;	/* chunks/ goes there */
	const char *db_path;	/* the catalog */
	uint64_t budget_bytes;	/* content_cache_gb; 0: no limit */
	bool verify_sha256;	/* check chunks read against their names,
				 * not their checksums (cache_sum) */
};

int cache_open(const struct cache_config *cfg, struct event_bus *bus,
	       struct cache **out);
void cache_close(struct cache *c);

/* The writer task and its stop hook (see supervisor.h). */
int cache_run(void *arg, const atomic_bool *stop);
void cache_wake(void *arg);

/*
 * Where a window comes from on a miss: read exactly len bytes at off of
 * the origin file (0, or -errno: the read fails with EIO).  NULL: offline.
 */
typedef int (*cache_fetch_fn)(void *ctx, void *buf, size_t len, uint64_t off);

struct cache_memo;

/* A file as the cache knows it (one per open file). */
struct cache_file {
	int64_t id;		/* catalog file id */
	int64_t stamp;		/* its modification time in the catalog */
	uint64_t size;		/* of the whole origin file */
	cache_fetch_fn fetch;	/* reads a missing window */
	void *fetch_ctx;
	/* the windows read complete (cache_read's, freed by
	 * cache_file_release): the index is asked once a window */
	struct cache_memo *memo;
};

/* Free what cache_read kept in cf (NULL fields accepted). */
void cache_file_release(struct cache_file *cf);

/*
 * Copy bytes [off, off + len) of cf into buf, through the cache.  Returns
 * the bytes copied (short only at the end of the file) or -errno: -EIO
 * when a needed window is not cached and the origin cannot be read.
 */
ssize_t cache_read(struct cache *c, struct cache_file *cf, void *buf,
		   size_t len, uint64_t off);

/*
 * The whole chunks a read was served from, verified with it: a caller
 * serving a small read can hand the bytes around it to the kernel's page
 * cache (FUSE notify_store), so that the next reads nearby need neither a
 * request nor another verification of the same chunk.
 */
struct cache_around {
	uint8_t *buf;		/* the caller's, cap bytes */
	size_t cap;
	uint64_t off;		/* out: the file offset of buf[0] */
	size_t len;		/* out: bytes of whole chunks in buf (0: none) */
	bool full;		/* cache_read_around's own */
};

/*
 * cache_read, also copying the chunks it read (contiguous, as many as fit)
 * into around.  Windows fetched from the origin are not copied.
 */
ssize_t cache_read_around(struct cache *c, struct cache_file *cf, void *buf,
			  size_t len, uint64_t off, struct cache_around *around);

struct cache_stats {
	uint64_t hits;		/* windows served from chunk files */
	uint64_t misses;	/* windows fetched from an origin */
	uint64_t hit_bytes;	/* bytes read from the cache */
	uint64_t miss_bytes;	/* bytes fetched from origins */
	uint64_t bad_chunks;	/* chunk files that failed verification */
	uint64_t evicted_chunks;
	uint64_t evicted_bytes;
	int64_t chunks;		/* in the index */
	int64_t stored_bytes;	/* on disk */
	int64_t file_bytes;	/* what those serve (dedup: file/stored) */
	uint64_t budget_bytes;
};

/* Counters plus the catalog's totals (committed records). */
int cache_get_stats(struct cache *c, struct cache_stats *out);

/* Per origin: cb(origin id, distinct chunks, bytes of its files cached). */
int cache_origin_stats(struct cache *c,
		       int (*cb)(void *ctx, const char *origin, int64_t chunks,
				 int64_t file_bytes),
		       void *ctx);

/*
 * Forget cached content: everything (origin_catalog_id < 0) or one
 * origin's files; chunks no other file uses are deleted.  With dry_run
 * nothing changes.  *chunks_out / *bytes_out: what was (or would be)
 * freed.
 */
int cache_clear(struct cache *c, int64_t origin_catalog_id, bool dry_run,
		int64_t *chunks_out, int64_t *bytes_out);

#endif
