/*
 * cache.h - the pure core of the chunk cache: FastCDC boundaries, SHA-256
 * content addresses and the chunk files on disk.  (runtime.h builds the
 * daemon's read-through cache, its index and eviction on top of this.)
 *
 * Owns:
 * - Nothing global but two constant tables (the gear table and, in the
 *   AVX-512 kernel, its byte slices built on the stack per call) and one
 *   fetched OpenSSL SHA-256 implementation, fetched once and kept for the
 *   life of the process.
 * - A struct cache_store owns the descriptor of cache_dir/chunks/ and its
 *   path; the chunk files themselves are owned by the file system: every
 *   change is one atomic link or unlink, so the store keeps no list, no
 *   lock and no cache of its own.
 *
 * Chunking.  A file is cut into fixed windows of CACHE_WINDOW bytes (the
 * last one shorter); each window is cut into chunks by FastCDC on its own
 * bytes only, so any window can be fetched and chunked alone, and bytes
 * inserted at the start of a file change the first and last chunk of each
 * window, not the chunks in between.  Chunks are CACHE_CHUNK_MIN to
 * CACHE_CHUNK_MAX bytes, CACHE_CHUNK_AVG on average over random data; only
 * the last chunk of a window may be shorter than CACHE_CHUNK_MIN.  The
 * boundaries are a pure function of the bytes and of CACHE_CDC_VERSION:
 * changing the gear table, the masks or the sizes changes every boundary
 * that an index recorded, so that must bump the version.
 *
 * Chunk files: cache_dir/chunks/ab/abcdef... (64 lowercase hex digits of
 * the SHA-256 of the content, ab = its first two digits), mode 0600.  A
 * chunk is written under a name no reader looks up (an O_TMPFILE inode, or
 * chunks/ab/.tmp-XXXXXX where O_TMPFILE is not supported), flushed with
 * fdatasync, and only then linked under its real name, so a crash leaves
 * at worst a nameless inode (freed by the kernel) or a .tmp- file (removed
 * by cache_store_sweep), never a partial file under a real name.  Every
 * chunk read is checked against its name: a bad file is removed.
 *
 * Threads: every function may be called from any thread at any time,
 * including several puts, gets and deletes of the same chunk at once (the
 * file system arbitrates: one link wins, the others find the file there).
 * cache_store_close() must not race with other calls on the same store.
 * Nothing here calls back into the caller except the callbacks passed in,
 * which run on the calling thread.
 *
 * Memory: no function allocates on behalf of the caller except
 * cache_store_open() (freed by cache_store_close()).  Chunking uses about
 * 24 KiB of stack; cache_chunk_and_store() also allocates 16 KiB for the
 * length of the call and keeps up to 64 files open.
 */
#ifndef MFS_CACHE_CACHE_H
#define MFS_CACHE_CACHE_H

#include "common/mfs.h"

/* ---- sizes -------------------------------------------------------------- */

#define CACHE_WINDOW (4u << 20)		/* a file is chunked per 4 MiB window */
#define CACHE_CHUNK_MIN (16u << 10)
#define CACHE_CHUNK_AVG (64u << 10)
#define CACHE_CHUNK_MAX (256u << 10)
#define CACHE_CDC_VERSION 1		/* of the boundaries; see above */

#define CACHE_HASH_LEN 32		/* SHA-256 */
#define CACHE_HEX_LEN 64		/* its lowercase hex, without the NUL */

/* ---- FastCDC (cdc.c) ---------------------------------------------------- */

/*
 * Length of the first chunk of p[0, len): len itself when len <=
 * CACHE_CHUNK_MIN; otherwise the first content-defined cut point in
 * [CACHE_CHUNK_MIN, MIN(len, CACHE_CHUNK_MAX)), or MIN(len,
 * CACHE_CHUNK_MAX) when there is none.  0 only when len is 0.  Cutting a
 * window chunk after chunk with this function gives exactly the chunks of
 * cache_chunk_window().  Pure; reads only p[0, MIN(len, CACHE_CHUNK_MAX)).
 */
size_t cache_cdc_cut(const uint8_t *p, size_t len);

/* What cache_chunk_window() reports: the chunk win[off, off + len). */
typedef void (*cache_chunk_fn)(void *ctx, size_t off, size_t len);

/*
 * Cut one window win[0, len), len <= CACHE_WINDOW, into chunks and call
 * emit for each in order; the chunks tile the window exactly.  Returns the
 * number of chunks (0 for an empty window), or -EINVAL if len is larger
 * than CACHE_WINDOW (nothing is emitted).  Uses the AVX-512 VBMI kernel
 * when the CPU has one (see cache_cdc_kernel()); the result is the same.
 */
int cache_chunk_window(const uint8_t *win, size_t len, cache_chunk_fn emit,
		       void *ctx);

/* "avx512vbmi" or "scalar": the kernel cache_chunk_window() uses now. */
const char *cache_cdc_kernel(void);

/*
 * Use the portable kernel even on a CPU with AVX-512 VBMI (true) or go
 * back to choosing by the CPU (false).  For benchmarks and tests; any
 * thread, takes effect at the next window.
 */
void cache_cdc_force_scalar(bool scalar);

/* ---- SHA-256 (hash.c) --------------------------------------------------- */

/*
 * out = SHA-256(data[0, len)) through OpenSSL's EVP interface (SHA-NI when
 * the CPU has it).  0, or -EIO if OpenSSL fails (no SHA-256 provider,
 * allocation failure); out is then undefined.
 */
int cache_sha256(const void *data, size_t len, uint8_t out[CACHE_HASH_LEN]);

/*
 * out[i] = SHA-256(data[i][0, len[i])) for i < n (sha256_ni.c): two
 * buffers at a time on one core with the SHA-NI instructions when the CPU
 * has them (1.7x the rate of one stream), else cache_sha256 for each.
 * 0, or cache_sha256's error.
 */
int cache_sha256_many(const uint8_t *const *data, const size_t *len, size_t n,
		      uint8_t (*out)[CACHE_HASH_LEN]);

/* Whether cache_sha256_many uses SHA-NI; disable: OpenSSL from now on
 * (tests and benchmarks compare the two). */
bool cache_sha256_ni_available(void);
void cache_sha256_ni_disable(void);

/*
 * The checksum a chunk is checked against when read (hash.c): XXH3-128 of
 * data[0, len) in its canonical (big-endian) bytes.  Recorded when the
 * chunk is stored, from the bytes its SHA-256 name was computed from, so
 * a chunk file that matches it holds what its name says unless someone
 * forged it on purpose, and whoever can write chunk files can also write
 * the catalog they are recorded in.
 */
#define CACHE_SUM_LEN 16
void cache_sum(const void *data, size_t len, uint8_t out[CACHE_SUM_LEN]);

/* 64 lowercase hex digits and a NUL into hex. */
void cache_hash_to_hex(const uint8_t hash[CACHE_HASH_LEN],
		       char hex[CACHE_HEX_LEN + 1]);

/*
 * Parse exactly 64 lowercase hex digits (the NUL-terminated hex) into
 * hash.  0, or -EINVAL for anything else (upper case, shorter, longer):
 * only the names the store writes are chunk names.
 */
int cache_hash_from_hex(const char *hex, uint8_t hash[CACHE_HASH_LEN]);

/* ---- the chunk store (store.c) ------------------------------------------ */

struct cache_store;

/*
 * Open (creating them, mode 0700, if missing) cache_dir/chunks/ and its
 * 256 folders 00..ff.  cache_dir itself must exist.  0, or -errno with a
 * logged message naming the path.  Release with cache_store_close().
 */
int cache_store_open(const char *cache_dir, struct cache_store **out);

/* Close the store (NULL is fine).  The chunk files stay. */
void cache_store_close(struct cache_store *st);

/*
 * Store data[0, len) as the chunk named hash, which must be SHA-256(data)
 * (not checked here: the caller has just computed it; a wrong one would be
 * caught by the first cache_store_get() and the file removed).  A chunk
 * file already there with the same size is left untouched (dedup: no
 * write at all); one of another size is damaged and replaced.  When
 * was_new is not NULL it tells whether this call created the file.
 *
 * Durability: the data is on disk (fdatasync) before the name appears; the
 * folder is not fsynced, so after a power cut a chunk written just before
 * may have no name, which the index already treats as a missing chunk (it
 * is fetched again).  0 or -errno (-ENOSPC, -EIO, ...); on failure no file
 * is left under the real name.
 */
int cache_store_put(struct cache_store *st, const uint8_t hash[CACHE_HASH_LEN],
		    const void *data, size_t len, bool *was_new);

/*
 * Read the chunk named hash, which must be exactly len bytes, into
 * buf[0, len) and check it against its name.  0; -ENOENT if there is no
 * such file; -EBADMSG if it has another size or another hash (the file is
 * removed, so a refetch can store it again); other -errno on I/O errors.
 * buf is undefined unless 0 is returned.
 */
int cache_store_get(struct cache_store *st, const uint8_t hash[CACHE_HASH_LEN],
		    void *buf, size_t len);

/* One chunk of cache_store_get_many. */
struct cache_get {
	const uint8_t *hash;	/* its name */
	const uint8_t *sum;	/* its checksum (cache_sum), or NULL: the
				 * content is checked against the name */
	uint8_t *buf;		/* where its len bytes go */
	size_t len;
	int rc;			/* out: what cache_store_get would return */
};

/*
 * cache_store_get for each of g[0, n), each checked against its sum when
 * it has one, the others against their names together (cache_sha256_many:
 * two chunks at a time per core).  0 if every chunk
 * was read and is good, else the first chunk's error.
 */
int cache_store_get_many(struct cache_store *st, struct cache_get *g,
			 size_t n);

/*
 * Is there a chunk file named hash of len bytes (not verified)?  1, 0, or
 * -errno.  For bookkeeping that must not record a chunk whose file went.
 */
int cache_store_has(struct cache_store *st, const uint8_t hash[CACHE_HASH_LEN],
		    size_t len);

/* Remove the chunk named hash.  0, -ENOENT if it was not there, -errno. */
int cache_store_delete(struct cache_store *st,
		       const uint8_t hash[CACHE_HASH_LEN]);

/* Files older than this are fair game for cache_store_sweep(). */
#define CACHE_STORE_SWEEP_GRACE_SECS 600

/*
 * Remove what a crash or an interrupted run left behind: .tmp- files, and
 * chunk files for which is_known(hash, ctx) says false (the index does not
 * know them, so nothing can ever read them).  Files modified less than
 * CACHE_STORE_SWEEP_GRACE_SECS ago are kept whatever is_known says: a put
 * whose index record is not committed yet must not lose its file.  Names
 * the store never writes are left alone.  is_known is called once per
 * chunk file, on this thread, so it may use the caller's catalog
 * connection.  0, or -errno if chunks/ cannot be listed; a file that
 * cannot be removed is logged and skipped.  The counts are logged.
 */
int cache_store_sweep(struct cache_store *st,
		      bool (*is_known)(const uint8_t *hash, void *ctx),
		      void *ctx);

/* What the chunk folders hold, as cache_store_size() counts it. */
struct cache_store_usage {
	uint64_t chunks;	/* chunk files */
	uint64_t bytes;		/* the sum of their sizes */
	uint64_t disk_bytes;	/* blocks allocated to them (du) */
	uint64_t temporaries;	/* .tmp- files (crashed writes) */
};

/*
 * Count the chunk files by listing every folder: O(number of chunks), for
 * status commands and checks (the index keeps the running totals).  0 or
 * -errno.
 */
int cache_store_size(struct cache_store *st, struct cache_store_usage *out);

/* ---- the whole store path ----------------------------------------------- */

/* What cache_chunk_and_store() reports for each chunk, in window order. */
typedef void (*cache_stored_fn)(void *ctx, size_t off, size_t len,
				const uint8_t *hash, bool was_new);

/*
 * Cut window[0, len) (len <= CACHE_WINDOW), hash every chunk and store the
 * ones not stored yet, as cache_store_put() would but in batches of up to
 * 64 files that share one flush of the disk (the data of each file still
 * reaches the disk before its name exists).  Then call on_chunk for every
 * chunk, in order; every chunk file exists by then.  0; -EINVAL if len is
 * larger than CACHE_WINDOW; or the first error of hashing or storing, and
 * then on_chunk is not called at all (files already named stay: the sweep
 * removes them if nothing records them).
 */
int cache_chunk_and_store(struct cache_store *st, const uint8_t *window,
			  size_t len, cache_stored_fn on_chunk, void *ctx);

#endif
