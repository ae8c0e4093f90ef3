/*
 * runtime.c - reads through the chunk cache, the index writer task and
 * eviction (see runtime.h).
 *
 * Why a writer task: SQLite has one writer at a time, and the scanner's
 * batches hold the catalog's write lock for up to half a second.  A FUSE
 * read must never wait for that, so a fetched window's chunk records go to
 * an in-memory list that lookups consult first, and the task commits the
 * list through the cache's own connection a moment later.  A crash loses
 * at most those records: their chunk files are already on disk (found
 * again by content, or swept as unknown), never a wrong answer.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CACHE
#include "log/log.h"
#include "cache/cache.h"
#include "cache/runtime.h"
#include "catalog/catalog.h"
#include "events/events.h"

#include <pthread.h>
#include <time.h>

#define CACHE_READERS_MAX 16
#define CACHE_COMMIT_MS 100
#define CACHE_EVICT_BATCH 256
#define CACHE_WINDOW_REFS (CACHE_WINDOW / CACHE_CHUNK_MIN + 2)

_Static_assert(CACHE_WINDOW == CATALOG_WINDOW_BYTES,
	       "the catalog finds a window's chunks by its offsets");

/* A fetched window, recorded in memory until the writer commits it. */
struct pending_window {
	int64_t file;
	int64_t stamp;
	int64_t win;
	size_t n;
	struct catalog_chunk_ref *refs;
	bool *fresh;		/* refs[i] was a new chunk: its size counts */
	struct pending_window *next;
};

struct cache {
	struct cache_config cfg;
	struct cache_store *store;
	struct event_bus *bus;
	struct catalog *writer;		/* writer task only */

	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* protected by lock */
	struct catalog *readers[CACHE_READERS_MAX];
	size_t n_readers;
	struct pending_window *pending;	/* newest first */
	uint8_t (*touched)[CATALOG_HASH_LEN];	/* chunks read since the last commit */
	size_t n_touched, cap_touched;
	uint8_t (*bad)[CATALOG_HASH_LEN];	/* chunks to forget */
	size_t n_bad, cap_bad;
	bool stop;

	int64_t stored_bytes;		/* estimate between commits */
	atomic_uint_fast64_t hits, misses, hit_bytes, miss_bytes, bad_chunks;
	atomic_uint_fast64_t evicted_chunks, evicted_bytes;
};

static pthread_key_t chunk_buf_key;
static pthread_once_t chunk_buf_once = PTHREAD_ONCE_INIT;

static void make_chunk_buf_key(void)
{
	pthread_key_create(&chunk_buf_key, free);
}

/*
 * Two chunks of CACHE_CHUNK_MAX bytes per thread (FUSE workers live long):
 * the chunks that stick out of either end of a read.
 */
static uint8_t *chunk_buf(void)
{
	uint8_t *b;

	pthread_once(&chunk_buf_once, make_chunk_buf_key);
	b = pthread_getspecific(chunk_buf_key);
	if (!b) {
		b = malloc(2 * CACHE_CHUNK_MAX);
		if (b)
			pthread_setspecific(chunk_buf_key, b);
	}
	return b;
}

/*
 * The LRU clock of chunks.last_access: milliseconds, so that reads a
 * moment apart are ordered (in seconds, everything read within the same
 * second ties, and eviction could drop the window being read while older
 * chunks stay).
 */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- readers ---------------------------------------------------------- */

static struct catalog *reader_get(struct cache *c)
{
	struct catalog *r = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_readers)
		r = c->readers[--c->n_readers];
	pthread_mutex_unlock(&c->lock);
	if (!r && catalog_open(c->cfg.db_path, CATALOG_READER, 512, &r))
		r = NULL;
	return r;
}

static void reader_put(struct cache *c, struct catalog *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->n_readers < CACHE_READERS_MAX) {
		c->readers[c->n_readers++] = r;
		r = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	catalog_close(&r);
}

/* ---- what a window is made of ------------------------------------------ */

struct window_refs {
	struct catalog_chunk_ref refs[CACHE_WINDOW_REFS];
	size_t n;
};

static int collect_ref(void *ctx, const struct catalog_chunk_ref *ref)
{
	struct window_refs *w = ctx;

	if (w->n == CACHE_WINDOW_REFS)
		return 1;
	w->refs[w->n++] = *ref;
	return 0;
}

/* From the records not yet committed; true if found. */
static bool pending_lookup(struct cache *c, int64_t file, int64_t stamp,
			   int64_t win, struct window_refs *w)
{
	struct pending_window *p;
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (p = c->pending; p && !found; p = p->next) {
		if (p->file != file || p->win != win || p->stamp != stamp)
			continue;
		w->n = MFS_MIN(p->n, (size_t)CACHE_WINDOW_REFS);
		memcpy(w->refs, p->refs, w->n * sizeof(*w->refs));
		found = true;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void lookup_window(struct cache *c, int64_t file, int64_t stamp,
			  int64_t win, struct window_refs *w)
{
	struct catalog *r;

	w->n = 0;
	if (pending_lookup(c, file, stamp, win, w))
		return;
	r = reader_get(c);
	if (r && catalog_window_chunks(r, file, stamp, win, collect_ref, w))
		w->n = 0;
	reader_put(c, r);
}

/*
 * The windows of one open file that were served complete (see cache_file):
 * a read asks the index once per window and file, so random reads cost no
 * SQL after the first visit.  ~4.5 KiB a window (64 refs of 72 bytes):
 * 1.2 MiB for an open file of 1 GiB whose every window was read.
 */
struct cache_memo {
	pthread_mutex_t lock;
	size_t n_win;
	struct memo_window {
		struct catalog_chunk_ref *refs;	/* NULL: not known */
		size_t n;
	} *wins;
};

static bool memo_get(struct cache_file *cf, int64_t win, struct window_refs *w)
{
	struct cache_memo *m = __atomic_load_n(&cf->memo, __ATOMIC_ACQUIRE);
	bool hit = false;

	if (!m || win < 0 || (uint64_t)win >= m->n_win)
		return false;
	pthread_mutex_lock(&m->lock);
	if (m->wins[win].refs) {
		w->n = m->wins[win].n;
		memcpy(w->refs, m->wins[win].refs, w->n * sizeof(w->refs[0]));
		hit = true;
	}
	pthread_mutex_unlock(&m->lock);
	return hit;
}

static struct cache_memo *memo_of(struct cache_file *cf)
{
	struct cache_memo *m = __atomic_load_n(&cf->memo, __ATOMIC_ACQUIRE);

	if (m)
		return m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->n_win = (size_t)((cf->size + CACHE_WINDOW - 1) / CACHE_WINDOW);
	m->wins = calloc(m->n_win ? m->n_win : 1, sizeof(*m->wins));
	if (!m->wins) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	/* a race of two first reads loses one allocation, never a window:
	 * the loser frees its own and uses the winner's */
	if (!__atomic_compare_exchange_n(&cf->memo, &(struct cache_memo *){ NULL },
					 m, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pthread_mutex_destroy(&m->lock);
		free(m->wins);
		free(m);
		m = __atomic_load_n(&cf->memo, __ATOMIC_ACQUIRE);
	}
	return m;
}

/* Remember window win (w), or forget it (w NULL: a chunk went bad). */
static void memo_set(struct cache_file *cf, int64_t win,
		     const struct window_refs *w)
{
	struct cache_memo *m = w ? memo_of(cf)
				 : __atomic_load_n(&cf->memo, __ATOMIC_ACQUIRE);
	struct catalog_chunk_ref *refs = NULL;

	if (!m || win < 0 || (uint64_t)win >= m->n_win)
		return;
	if (w) {
		refs = malloc(w->n * sizeof(*refs));
		if (!refs)
			return;	/* the index is asked again next time */
		memcpy(refs, w->refs, w->n * sizeof(*refs));
	}
	pthread_mutex_lock(&m->lock);
	free(m->wins[win].refs);
	m->wins[win].refs = refs;
	m->wins[win].n = w ? w->n : 0;
	pthread_mutex_unlock(&m->lock);
}

void cache_file_release(struct cache_file *cf)
{
	size_t i;

	if (!cf || !cf->memo)
		return;
	for (i = 0; i < cf->memo->n_win; i++)
		free(cf->memo->wins[i].refs);
	free(cf->memo->wins);
	pthread_mutex_destroy(&cf->memo->lock);
	free(cf->memo);
	cf->memo = NULL;
}

/* Do the chunks tile [start, start + len) exactly? */
static bool window_complete(const struct window_refs *w, uint64_t start,
			    uint64_t len)
{
	uint64_t at = start;
	size_t i;

	for (i = 0; i < w->n; i++) {
		if ((uint64_t)w->refs[i].offset != at || w->refs[i].length <= 0)
			return false;
		at += (uint64_t)w->refs[i].length;
	}
	return at == start + len;
}

/* ---- remembering for the writer ------------------------------------------ */

static void hash_list_add(uint8_t (**list)[CATALOG_HASH_LEN], size_t *n,
			  size_t *cap, const uint8_t *hash)
{
	uint8_t (*p)[CATALOG_HASH_LEN];

	if (*n && !memcmp((*list)[*n - 1], hash, CATALOG_HASH_LEN))
		return;	/* the same chunk read again: once is enough */
	if (*n == *cap) {
		if (*cap >= 65536)
			return;	/* an LRU touch lost, never a read */
		*cap = *cap ? *cap * 2 : 64;
		p = realloc(*list, *cap * sizeof(**list));
		if (!p)
			return;
		*list = p;
	}
	memcpy((*list)[(*n)++], hash, CATALOG_HASH_LEN);
}

static void note_touch(struct cache *c, const uint8_t *hash)
{
	pthread_mutex_lock(&c->lock);
	hash_list_add(&c->touched, &c->n_touched, &c->cap_touched, hash);
	pthread_mutex_unlock(&c->lock);
}

/* A chunk that failed verification (bad) or is gone: forget it. */
static void note_bad(struct cache *c, const uint8_t *hash, bool corrupt)
{
	if (corrupt)
		atomic_fetch_add(&c->bad_chunks, 1);
	pthread_mutex_lock(&c->lock);
	hash_list_add(&c->bad, &c->n_bad, &c->cap_bad, hash);
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

/* ---- hits ---------------------------------------------------------------- */

/* Keep a verified chunk at [start, start + len) if it extends around. */
static void around_add(struct cache_around *a, const uint8_t *chunk,
		       uint64_t start, size_t len)
{
	if (!a || a->full)
		return;
	if (a->len && start != a->off + a->len)
		a->full = true;	/* not contiguous: keep what is there */
	else if (a->len + len > a->cap)
		a->full = true;
	if (a->full)
		return;
	if (!a->len)
		a->off = start;
	memcpy(a->buf + a->len, chunk, len);
	a->len += len;
}

/* The chunks of one window a read needs, verified together. */
#define SERVE_BATCH 64

/*
 * Read chunks refs[0, k) (overlapping [pos, end)) and check their names
 * together: a chunk inside the range is read where it goes, the first and
 * the last, which stick out of it, into the two halves of the thread's
 * buffer.  Then copy what is not in place yet.  -EBADMSG or -ENOENT if a
 * chunk is bad or gone (noted for the writer to forget; the caller
 * refetches the window over whatever was written).
 */
static int serve_batch(struct cache *c, const struct catalog_chunk_ref *refs,
		       size_t k, uint8_t *out, uint64_t pos, uint64_t end,
		       uint8_t *buf, struct cache_around *around)
{
	struct cache_get g[SERVE_BATCH];
	bool inside[SERVE_BATCH];
	uint64_t cstart, cend, from, to;
	size_t i;
	int rc;

	for (i = 0; i < k; i++) {
		cstart = (uint64_t)refs[i].offset;
		cend = cstart + (uint64_t)refs[i].length;
		g[i].hash = refs[i].hash;
		g[i].sum = refs[i].has_sum && !c->cfg.verify_sha256
				   ? refs[i].sum : NULL;
		g[i].len = (size_t)refs[i].length;
		inside[i] = cstart >= pos && cend <= end;
		if (inside[i])
			g[i].buf = out + (cstart - pos);
		else
			g[i].buf = cstart < pos ? buf : buf + CACHE_CHUNK_MAX;
	}
	rc = cache_store_get_many(c->store, g, k);
	for (i = 0; rc && i < k; i++) {
		if (g[i].rc == -EBADMSG || g[i].rc == -ENOENT) {
			mfs_log(MFS_LOG_WARN, "cached chunk %s: refetching its "
					      "window", g[i].rc == -EBADMSG ?
						"corrupt" : "missing");
			note_bad(c, refs[i].hash, g[i].rc == -EBADMSG);
		}
	}
	if (rc)
		return rc;
	for (i = 0; i < k; i++) {
		cstart = (uint64_t)refs[i].offset;
		cend = cstart + (uint64_t)refs[i].length;
		from = MFS_MAX(pos, cstart);
		to = MFS_MIN(end, cend);
		if (!inside[i])
			memcpy(out + (from - pos), g[i].buf + (from - cstart),
			       to - from);
		around_add(around, g[i].buf, cstart, g[i].len);
		note_touch(c, refs[i].hash);
	}
	return 0;
}

/*
 * Copy [pos, pos + n) (file offsets inside the window) out of its chunk
 * files, verified: the first error of serve_batch.
 */
static int serve_from_chunks(struct cache *c, const struct window_refs *w,
			     uint8_t *out, uint64_t pos, size_t n,
			     struct cache_around *around)
{
	uint8_t *buf = chunk_buf();
	uint64_t end = pos + n, cstart, cend;
	size_t i, first = 0, k = 0;
	int rc;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < w->n; i++) {
		cstart = (uint64_t)w->refs[i].offset;
		cend = cstart + (uint64_t)w->refs[i].length;
		if (cend <= pos)
			continue;
		if (cstart >= end)
			break;
		if (!k)
			first = i;
		if (++k < SERVE_BATCH)
			continue;
		rc = serve_batch(c, w->refs + first, k, out, pos, end, buf,
				 around);
		if (rc)
			return rc;
		k = 0;
	}
	return k ? serve_batch(c, w->refs + first, k, out, pos, end, buf,
			       around) : 0;
}

/* ---- misses ----------------------------------------------------------- */

struct chunking {
	const uint8_t *data;	/* the window */
	uint64_t wstart;
	struct pending_window *pw;
	size_t cap;
	int64_t new_bytes;
};

static void on_chunk(void *ctx, size_t off, size_t len, const uint8_t *hash,
		     bool was_new)
{
	struct chunking *k = ctx;
	struct pending_window *pw = k->pw;

	if (pw->n == k->cap)
		return;	/* cannot happen: the cap is the most a window cuts into */
	pw->refs[pw->n].offset = (int64_t)(k->wstart + off);
	pw->refs[pw->n].length = (int64_t)len;
	memcpy(pw->refs[pw->n].hash, hash, CATALOG_HASH_LEN);
	/* the checksum reads are checked against, from the bytes hashed */
	cache_sum(k->data + off, len, pw->refs[pw->n].sum);
	pw->refs[pw->n].has_sum = true;
	pw->fresh[pw->n] = was_new;
	if (was_new)
		k->new_bytes += (int64_t)len;
	pw->n++;
}

static void pending_free(struct pending_window *p)
{
	if (!p)
		return;
	free(p->refs);
	free(p->fresh);
	free(p);
}

/* Chunk and store a fetched window, and record it for the writer. */
static int store_window(struct cache *c, const struct cache_file *cf,
			int64_t win, uint64_t wstart, const uint8_t *data,
			size_t len)
{
	struct chunking k = { .data = data, .wstart = wstart,
			      .cap = CACHE_WINDOW_REFS };
	int rc;

	k.pw = calloc(1, sizeof(*k.pw));
	if (k.pw) {
		k.pw->refs = calloc(k.cap, sizeof(*k.pw->refs));
		k.pw->fresh = calloc(k.cap, sizeof(*k.pw->fresh));
	}
	if (!k.pw || !k.pw->refs || !k.pw->fresh) {
		pending_free(k.pw);
		return -ENOMEM;
	}
	k.pw->file = cf->id;
	k.pw->stamp = cf->stamp;
	k.pw->win = win;
	rc = cache_chunk_and_store(c->store, data, len, on_chunk, &k);
	if (rc) {
		pending_free(k.pw);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	k.pw->next = c->pending;
	c->pending = k.pw;
	c->stored_bytes += k.new_bytes;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Fetch window win from the origin, keep it, and copy the slice out. */
static int fetch_window(struct cache *c, const struct cache_file *cf,
			int64_t win, uint64_t wstart, size_t wlen, uint8_t *out,
			uint64_t pos, size_t n)
{
	uint8_t *data;
	int rc;

	if (!cf->fetch)
		return -EIO;
	data = malloc(wlen);
	if (!data)
		return -ENOMEM;
	rc = cf->fetch(cf->fetch_ctx, data, wlen, wstart);
	if (rc) {
		free(data);
		return -EIO;
	}
	memcpy(out, data + (pos - wstart), n);
	rc = store_window(c, cf, win, wstart, data, wlen);
	if (rc)
		mfs_log(MFS_LOG_WARN, "cannot cache a window of file %" PRId64
				      ": %s (served anyway)",
			cf->id, strerror(-rc));
	free(data);
	atomic_fetch_add(&c->misses, 1);
	atomic_fetch_add(&c->miss_bytes, n);
	return 0;
}

static int read_window(struct cache *c, struct cache_file *cf,
		       uint64_t pos, size_t n, uint8_t *out,
		       struct cache_around *around)
{
	int64_t win = (int64_t)(pos / CACHE_WINDOW);
	uint64_t wstart = (uint64_t)win * CACHE_WINDOW;
	size_t wlen = (size_t)MFS_MIN((uint64_t)CACHE_WINDOW, cf->size - wstart);
	struct window_refs *w = malloc(sizeof(*w));
	int rc = -ENOENT;
	bool known;

	if (!w)
		return -ENOMEM;
	known = memo_get(cf, win, w);
	if (!known)
		lookup_window(c, cf->id, cf->stamp, win, w);
	if (window_complete(w, wstart, wlen)) {
		rc = serve_from_chunks(c, w, out, pos, n, around);
		if (rc || !known)
			memo_set(cf, win, rc ? NULL : w);
	}
	free(w);
	if (!rc) {
		atomic_fetch_add(&c->hits, 1);
		atomic_fetch_add(&c->hit_bytes, n);
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	if (around)
		around->full = true;	/* fetched bytes are not kept around */
	return fetch_window(c, cf, win, wstart, wlen, out, pos, n);
}

ssize_t cache_read(struct cache *c, struct cache_file *cf, void *buf,
		   size_t len, uint64_t off)
{
	return cache_read_around(c, cf, buf, len, off, NULL);
}

ssize_t cache_read_around(struct cache *c, struct cache_file *cf, void *buf,
			  size_t len, uint64_t off, struct cache_around *around)
{
	uint64_t file_size = cf->size;
	size_t done = 0, n;
	uint64_t pos, wend;
	int rc;

	if (around)
		around->len = 0, around->full = false;
	if (off >= file_size)
		return 0;
	len = (size_t)MFS_MIN((uint64_t)len, file_size - off);
	while (done < len) {
		pos = off + done;
		wend = MFS_MIN((pos / CACHE_WINDOW + 1) * CACHE_WINDOW, file_size);
		n = (size_t)MFS_MIN((uint64_t)(len - done), wend - pos);
		rc = read_window(c, cf, pos, n, (uint8_t *)buf + done, around);
		if (rc)
			return rc;
		done += n;
	}
	return (ssize_t)done;
}

/* ---- the writer task ----------------------------------------------------- */

/* Take what readers recorded; the caller commits or gives it back. */
struct batch {
	struct pending_window *windows;
	uint8_t (*touched)[CATALOG_HASH_LEN];
	size_t n_touched;
	uint8_t (*bad)[CATALOG_HASH_LEN];
	size_t n_bad;
};

static void batch_take(struct cache *c, struct batch *b)
{
	pthread_mutex_lock(&c->lock);
	b->windows = c->pending;
	b->touched = c->touched;
	b->n_touched = c->n_touched;
	b->bad = c->bad;
	b->n_bad = c->n_bad;
	c->touched = c->bad = NULL;
	c->n_touched = c->cap_touched = c->n_bad = c->cap_bad = 0;
	pthread_mutex_unlock(&c->lock);
}

/* The committed windows leave the in-memory list (readers see the rows). */
static void batch_release(struct cache *c, struct batch *b)
{
	struct pending_window **pp, *p;

	pthread_mutex_lock(&c->lock);
	/* windows recorded since batch_take are newer: they sit before */
	for (pp = &c->pending; *pp && *pp != b->windows; pp = &(*pp)->next)
		;
	*pp = NULL;
	pthread_mutex_unlock(&c->lock);
	while (b->windows) {
		p = b->windows;
		b->windows = p->next;
		pending_free(p);
	}
	free(b->touched);
	free(b->bad);
}

/*
 * Eviction runs on this same thread, between batches: a window recorded
 * by a reader that found a chunk's file already there (so did not write
 * it) may name a chunk evicted since.  Such a window is not recorded; its
 * next read fetches it again.  Once recorded, rows and files go together.
 */
static bool window_files_present(struct cache *c, const struct pending_window *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (cache_store_has(c->store, p->refs[i].hash,
				    (size_t)p->refs[i].length) != 1)
			return false;
	return true;
}

/* Record a window; *added grows by the bytes of chunks new to the index. */
static int write_window(struct catalog *w, const struct pending_window *p,
			int64_t now, int64_t *added)
{
	bool known;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < p->n; i++) {
		rc = catalog_chunk_known(w, p->refs[i].hash, &known);
		if (!rc && !known)
			*added += p->refs[i].length;
		if (!rc)
			rc = catalog_chunk_put(w, p->refs[i].hash,
					       p->refs[i].has_sum
						       ? p->refs[i].sum : NULL,
					       p->refs[i].length, now);
		if (!rc)
			rc = catalog_file_chunk_put(w, p->file, p->stamp, p->win,
						    &p->refs[i]);
	}
	return rc;
}

/* The bytes of p's chunks that its reader counted as new. */
static int64_t fresh_bytes(const struct pending_window *p)
{
	int64_t n = 0;
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->fresh[i])
			n += p->refs[i].length;
	return n;
}

/*
 * Commit a batch.  The size estimate then trades the batch's guessed new
 * bytes (a reader's "new" is a guess: a file may exist on disk unindexed,
 * or be stored by two readers at once) for the exact bytes the index
 * gained, so it cannot drift below the truth and leave the cache over its
 * budget unnoticed.
 */
static int write_batch(struct cache *c, const struct batch *b)
{
	const struct pending_window *p;
	int64_t now = now_ms(), added = 0, guessed = 0;
	size_t i;
	int rc;

	rc = catalog_begin(c->writer);
	/*
	 * Bad chunks first: the reader that found one refetched its window,
	 * stored the chunk again and recorded the window, which is written
	 * below (in this batch or a later one).  Their files are not touched
	 * here: cache_store_get removed a corrupt file itself (unless a put
	 * had replaced it), and by now the name may hold that good copy.
	 */
	for (i = 0; !rc && i < b->n_bad; i++)
		rc = catalog_chunk_delete(c->writer, b->bad[i]);
	for (p = b->windows; !rc && p; p = p->next) {
		guessed += fresh_bytes(p);
		if (window_files_present(c, p))
			rc = write_window(c->writer, p, now, &added);
	}
	for (i = 0; !rc && i < b->n_touched; i++)
		rc = catalog_chunk_touch(c->writer, b->touched[i], now);
	if (rc) {
		catalog_rollback(c->writer);
		return rc;
	}
	rc = catalog_commit(c->writer);
	if (!rc) {
		pthread_mutex_lock(&c->lock);
		c->stored_bytes += added - guessed;
		pthread_mutex_unlock(&c->lock);
	}
	return rc;
}

/* ---- eviction -------------------------------------------------------------- */

struct victims {
	uint8_t (*hashes)[CATALOG_HASH_LEN];
	int64_t *sizes;
	size_t n;
	int64_t bytes;
	int64_t want;		/* stop once this many bytes are chosen */
};

static int add_victim(void *ctx, const uint8_t *hash, int64_t size)
{
	struct victims *v = ctx;

	memcpy(v->hashes[v->n], hash, CATALOG_HASH_LEN);
	v->sizes[v->n++] = size;
	v->bytes += size;
	return v->bytes >= v->want || v->n == CACHE_EVICT_BATCH;
}

/*
 * Forget the chosen chunks in one transaction, then delete their files:
 * a crash in between leaves files nobody references, which the sweep at
 * the next start removes; never a reference to a missing file.
 */
static int drop_chunks(struct cache *c, struct victims *v)
{
	size_t i;
	int rc = catalog_begin(c->writer);

	for (i = 0; !rc && i < v->n; i++)
		rc = catalog_chunk_delete(c->writer, v->hashes[i]);
	if (!rc)
		rc = catalog_commit(c->writer);
	else
		catalog_rollback(c->writer);
	for (i = 0; !rc && i < v->n; i++)
		cache_store_delete(c->store, v->hashes[i]);
	return rc;
}

/*
 * The estimate from the committed total plus the new chunks of the windows
 * recorded since the last commit: they count already (store_window added
 * them) but are not in the total yet, and dropping them would leave the
 * estimate under the real size once they are committed, so the cache
 * could stay over its budget.  Writer task (the one that commits them).
 */
static int refresh_stored_bytes(struct cache *c)
{
	struct catalog_cache_totals t;
	const struct pending_window *p;
	int64_t pending = 0;
	size_t i;
	int rc = catalog_cache_totals(c->writer, &t);

	if (!rc) {
		pthread_mutex_lock(&c->lock);
		for (p = c->pending; p; p = p->next)
			for (i = 0; i < p->n; i++)
				if (p->fresh[i])
					pending += p->refs[i].length;
		c->stored_bytes = t.stored_bytes + pending;
		pthread_mutex_unlock(&c->lock);
	}
	return rc;
}

/* Evict least recently read chunks down to 90% of the budget. */
static int evict(struct cache *c)
{
	uint8_t hashes[CACHE_EVICT_BATCH][CATALOG_HASH_LEN];
	int64_t sizes[CACHE_EVICT_BATCH];
	struct victims v = { .hashes = hashes, .sizes = sizes };
	int64_t budget = (int64_t)c->cfg.budget_bytes, over;
	uint64_t freed = 0, chunks = 0;
	int rc;

	if (!budget)
		return 0;
	rc = refresh_stored_bytes(c);
	while (!rc) {
		pthread_mutex_lock(&c->lock);
		over = c->stored_bytes - budget / 10 * 9;
		pthread_mutex_unlock(&c->lock);
		if (over <= 0 || (chunks == 0 && c->stored_bytes <= budget))
			break;
		v.n = 0;
		v.bytes = 0;
		v.want = over;
		rc = catalog_chunks_oldest(c->writer, CACHE_EVICT_BATCH,
					   add_victim, &v);
		if (rc || !v.n)
			break;
		rc = drop_chunks(c, &v);
		if (!rc) {
			freed += (uint64_t)v.bytes;
			chunks += v.n;
			pthread_mutex_lock(&c->lock);
			c->stored_bytes -= v.bytes;
			pthread_mutex_unlock(&c->lock);
		}
	}
	if (chunks) {
		atomic_fetch_add(&c->evicted_chunks, chunks);
		atomic_fetch_add(&c->evicted_bytes, freed);
		mfs_log(MFS_LOG_INFO, "cache: evicted %" PRIu64 " chunks (%"
				      PRIu64 " bytes) to stay under %" PRId64
				      " bytes",
			chunks, freed, budget);
		event_publish(c->bus, EVENT_CACHE_EVICTION, NULL, NULL,
			      (int64_t)freed);
	}
	return rc;
}

static bool over_budget(struct cache *c)
{
	bool over;

	pthread_mutex_lock(&c->lock);
	over = c->cfg.budget_bytes &&
	       c->stored_bytes > (int64_t)c->cfg.budget_bytes;
	pthread_mutex_unlock(&c->lock);
	return over;
}

static void wait_for_work(struct cache *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += CACHE_COMMIT_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	if (!c->stop && !c->pending && !c->n_bad)
		pthread_cond_timedwait(&c->wake, &c->lock, &ts);
	pthread_mutex_unlock(&c->lock);
}

/* One round: commit what readers recorded, then keep to the budget. */
static int writer_round(struct cache *c)
{
	struct batch b;
	int rc;

	batch_take(c, &b);
	if (!b.windows && !b.n_touched && !b.n_bad)
		return over_budget(c) ? evict(c) : 0;
	rc = write_batch(c, &b);
	if (rc) {
		mfs_log(MFS_LOG_WARN, "cache index: cannot record %s: %s",
			"fetched chunks", strerror(-rc));
		/* the windows stay in memory until a later round succeeds */
		pthread_mutex_lock(&c->lock);
		free(b.touched);
		free(b.bad);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	batch_release(c, &b);
	return over_budget(c) ? evict(c) : 0;
}

static bool chunk_is_known(const uint8_t *hash, void *ctx)
{
	bool known = true;

	if (catalog_chunk_known(ctx, hash, &known))
		return true;	/* when in doubt, keep the file */
	return known;
}

int cache_run(void *arg, const atomic_bool *stop)
{
	struct cache *c = arg;
	int rc = 0;

	/*
	 * Chunk files written by a run that died before recording them:
	 * here, not at open, so a cache of millions of chunks never slows
	 * the mount (reads meanwhile are safe: unknown files are only read
	 * once recorded, and the sweep spares files younger than its grace).
	 */
	if (cache_store_sweep(c->store, chunk_is_known, c->writer))
		mfs_log(MFS_LOG_WARN, "cache: the sweep of unknown chunk files "
				      "failed; it runs again at the next start");
	while (!atomic_load(stop)) {
		wait_for_work(c);
		rc = writer_round(c);
		if (rc == -EIO || rc == -ENOSPC)
			return rc;	/* the supervisor restarts us */
	}
	writer_round(c);	/* what the last reads recorded */
	return 0;
}

void cache_wake(void *arg)
{
	struct cache *c = arg;

	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

/* ---- figures and clearing ------------------------------------------------ */

int cache_get_stats(struct cache *c, struct cache_stats *out)
{
	struct catalog_cache_totals t;
	struct catalog *r = reader_get(c);
	int rc = r ? catalog_cache_totals(r, &t) : -EIO;

	reader_put(c, r);
	memset(out, 0, sizeof(*out));
	out->hits = atomic_load(&c->hits);
	out->misses = atomic_load(&c->misses);
	out->hit_bytes = atomic_load(&c->hit_bytes);
	out->miss_bytes = atomic_load(&c->miss_bytes);
	out->bad_chunks = atomic_load(&c->bad_chunks);
	out->evicted_chunks = atomic_load(&c->evicted_chunks);
	out->evicted_bytes = atomic_load(&c->evicted_bytes);
	out->budget_bytes = c->cfg.budget_bytes;
	if (!rc) {
		out->chunks = t.chunks;
		out->stored_bytes = t.stored_bytes;
		out->file_bytes = t.file_bytes;
	}
	return rc;
}

int cache_origin_stats(struct cache *c,
		       int (*cb)(void *ctx, const char *origin, int64_t chunks,
				 int64_t file_bytes),
		       void *ctx)
{
	struct catalog *r = reader_get(c);
	int rc = r ? catalog_cache_by_origin(r, cb, ctx) : -EIO;

	reader_put(c, r);
	return rc;
}

struct clear_ctx {
	uint8_t (*hashes)[CATALOG_HASH_LEN];
	size_t n, cap;
	int64_t bytes;
};

static int collect_chunk(void *ctx, const uint8_t *hash, int64_t size)
{
	struct clear_ctx *k = ctx;
	uint8_t (*p)[CATALOG_HASH_LEN];

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 256;
		p = realloc(k->hashes, k->cap * sizeof(*p));
		if (!p)
			return 1;
		k->hashes = p;
	}
	memcpy(k->hashes[k->n++], hash, CATALOG_HASH_LEN);
	k->bytes += size;
	return 0;
}

/*
 * Clearing runs on the caller's thread with a writer connection of its
 * own, so it never races the writer task's transactions (SQLite's busy
 * timeout orders the two).
 */
int cache_clear(struct cache *c, int64_t origin, bool dry_run,
		int64_t *chunks_out, int64_t *bytes_out)
{
	struct clear_ctx k = { 0 };
	struct catalog *w = NULL;
	size_t i;
	int rc;

	*chunks_out = *bytes_out = 0;
	rc = catalog_open(c->cfg.db_path, CATALOG_WRITER, 512, &w);
	if (!rc)
		rc = catalog_begin(w);
	if (rc) {
		catalog_close(&w);
		return rc;
	}
	if (origin >= 0)
		rc = catalog_origin_chunks_drop(w, origin);
	else
		rc = catalog_chunks_oldest(w, INT64_MAX, collect_chunk, &k);
	if (!rc && origin >= 0)
		rc = catalog_chunks_unreferenced(w, collect_chunk, &k);
	for (i = 0; !rc && !dry_run && i < k.n; i++)
		rc = catalog_chunk_delete(w, k.hashes[i]);
	if (!rc && !dry_run)
		rc = catalog_commit(w);
	else
		catalog_rollback(w);
	catalog_close(&w);
	for (i = 0; !rc && !dry_run && i < k.n; i++)
		cache_store_delete(c->store, k.hashes[i]);
	if (!rc) {
		*chunks_out = (int64_t)k.n;
		*bytes_out = k.bytes;
		if (!dry_run) {
			pthread_mutex_lock(&c->lock);
			c->stored_bytes -= k.bytes;
			pthread_mutex_unlock(&c->lock);
		}
	}
	free(k.hashes);
	return rc;
}

/* ---- open and close --------------------------------------------------------- */


int cache_open(const struct cache_config *cfg, struct event_bus *bus,
	       struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->bus = bus;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	rc = cache_store_open(cfg->cache_dir, &c->store);
	if (!rc)
		rc = catalog_open(cfg->db_path, CATALOG_WRITER, 1024, &c->writer);
	if (!rc)
		rc = refresh_stored_bytes(c);
	if (rc) {
		cache_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void cache_close(struct cache *c)
{
	struct pending_window *p;
	size_t i;

	if (!c)
		return;
	while (c->pending) {
		p = c->pending;
		c->pending = p->next;
		pending_free(p);
	}
	for (i = 0; i < c->n_readers; i++)
		catalog_close(&c->readers[i]);
	free(c->touched);
	free(c->bad);
	catalog_close(&c->writer);
	cache_store_close(c->store);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
