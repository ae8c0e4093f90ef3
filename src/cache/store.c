/*
 * store.c - chunk files on disk: cache_dir/chunks/ab/<64 hex digits>.
 *
 * Writing.  A chunk is written to a file without a real name, flushed with
 * fdatasync, then given its name with one link(2): an O_TMPFILE inode in
 * the chunk's folder linked through /proc/self/fd (linkat with
 * AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH, which the service does not
 * have), or, where O_TMPFILE or /proc is missing, a mkostemp file
 * ab/.tmp-XXXXXX.  link(2) never replaces an existing name, so when
 * several threads store the same chunk at once exactly one creates it and
 * the others find it there (a rename would silently write it twice).
 * cache_chunk_and_store() writes a window's new chunks first and then
 * flushes and names them, so one flush of the disk's cache serves up to 64
 * chunks (see "the whole store path" below).
 *
 * What a crash can leave, and why that is enough:
 * - a nameless O_TMPFILE inode: freed by the kernel;
 * - a .tmp- file: never looked up, removed by cache_store_sweep();
 * - a complete chunk file that the index does not know yet (the index
 *   record is written after the file exists): nothing reads it; the sweep
 *   removes it once it is older than CACHE_STORE_SWEEP_GRACE_SECS;
 * - a chunk whose name was not yet on disk: we fsync the data, not the
 *   folder, so after a power cut a name linked shortly before may be gone.
 *   An fsync of the folder per chunk would cost a journal commit each; the
 *   name being gone is the same case as an evicted chunk (-ENOENT: the
 *   window is fetched again), never a wrong byte.
 * Never a partial file under a real name: the data reaches the disk before
 * the name exists.  And whatever happens to a file later (a disk error, a
 * user's editor), every read checks the content against the name.
 *
 * Reading always verifies: a chunk is at most 256 KiB, its SHA-256 costs
 * about 0.2 ms, and the cache serves remote origins, which are slower than
 * that.  NEEDSWORK: a table of chunks verified since they were last
 * opened, keyed by (hash, inode, ctime, size), would skip the hash on hot
 * chunks, at the price of trusting the page cache and the disk between two
 * reads; the issue asks for a check per read, so it is not done.
 *
 * The store holds no lock: every change is one link or unlink, atomic in
 * the file system.
 */
#include "common/mfs.h"
#include "common/fdio.h"
#define MFS_LOG_MODULE MFS_LOGM_CACHE
#include "log/log.h"
#include "common/str.h"
#include "cache/cache_i.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"

struct cache_store {
	int dirfd;		/* cache_dir/chunks */
	char *root;		/* its path, for mkostemp */
	atomic_bool no_tmpfile;	/* use named temporaries */
};

MFS_TESTABLE void store_chunk_rel(const uint8_t hash[CACHE_HASH_LEN],
				  char rel[STORE_REL_LEN])
{
	cache_hash_to_hex(hash, rel + 3);
	rel[0] = rel[3];
	rel[1] = rel[4];
	rel[2] = '/';
}

/* ---- opening ------------------------------------------------------------ */

#ifdef MFS_UNIT_TEST
void store_force_named_tmp(struct cache_store *st)
{
	atomic_store(&st->no_tmpfile, true);
}
#endif

/* mkdir that accepts an existing folder. */
static int make_dir(int dirfd, const char *path)
{
	if (mkdirat(dirfd, path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int make_folders(struct cache_store *st)
{
	char sub[3];
	int i, rc;

	for (i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		rc = make_dir(st->dirfd, sub);
		if (rc)
			return mfs_error(rc, "cannot create '%s/%s': %s",
					 st->root, sub, strerror(-rc));
	}
	return 0;
}

int cache_store_open(const char *cache_dir, struct cache_store **out)
{
	struct cache_store *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->dirfd = -1;
	st->root = str_printf("%s/chunks", cache_dir);
	if (!st->root) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = make_dir(AT_FDCWD, st->root);
	if (!rc) {
		st->dirfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = st->dirfd < 0 ? -errno : 0;
	}
	if (rc) {
		mfs_log(MFS_LOG_ERROR, "cannot open '%s': %s", st->root,
			strerror(-rc));
		goto out_free;
	}
	rc = make_folders(st);
	if (rc)
		goto out_free;
	/* linking an O_TMPFILE inode goes through /proc/self/fd */
	atomic_init(&st->no_tmpfile, access("/proc/self/fd", X_OK) != 0);
	*out = st;
	return 0;

out_free:
	cache_store_close(st);
	return rc;
}

void cache_store_close(struct cache_store *st)
{
	if (!st)
		return;
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->root);
	free(st);
}

/* ---- writing ------------------------------------------------------------ */

/* A named temporary ab/.tmp-XXXXXX in the chunk's folder. */
static int tmp_create_named(struct cache_store *st, const char *rel,
			    struct chunk_tmp *t)
{
	t->path = str_printf("%s/%.2s/" TMP_PREFIX "XXXXXX", st->root, rel);
	if (!t->path)
		return -ENOMEM;
	t->rel = t->path + strlen(st->root) + 1;
	t->fd = mkostemp(t->path, O_CLOEXEC);
	if (t->fd < 0) {
		free(t->path);
		t->path = NULL;
		return -errno;
	}
	return 0;
}

/*
 * Open a file without a real name in the folder of rel (O_TMPFILE, else a
 * named temporary).  A missing folder (removed by hand) is made again.
 */
MFS_TESTABLE int store_tmp_create(struct cache_store *st, const char *rel,
				  struct chunk_tmp *t)
{
	char sub[3] = { rel[0], rel[1], '\0' };
	int attempt, rc = 0;

	t->fd = -1;
	t->path = NULL;
	t->rel = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (atomic_load(&st->no_tmpfile)) {
			rc = tmp_create_named(st, rel, t);
		} else {
			t->fd = openat(st->dirfd, sub,
				       O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
			rc = t->fd < 0 ? -errno : 0;
			/* a file system without O_TMPFILE, or an old kernel */
			if (rc == -EOPNOTSUPP || rc == -EISDIR) {
				atomic_store(&st->no_tmpfile, true);
				rc = tmp_create_named(st, rel, t);
			}
		}
		if (rc != -ENOENT)
			break;
		rc = make_dir(st->dirfd, sub);
		if (rc)
			break;
	}
	return rc;
}

/*
 * Write data and start its writeback at once (sync_file_range does not
 * wait), so the disk works while the caller hashes the next chunks; the
 * fdatasync that follows then mostly finds the data written.
 */
static int tmp_fill(struct chunk_tmp *t, const void *data, size_t len)
{
	int rc = mfs_write_full(t->fd, data, len);

	if (!rc && len)
		sync_file_range(t->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return rc;
}

/* The data on disk before any name points at it. */
static int tmp_flush(struct chunk_tmp *t)
{
	return fdatasync(t->fd) ? -errno : 0;
}

/* Write data and flush it to disk. */
MFS_TESTABLE int store_tmp_write(struct chunk_tmp *t, const void *data,
				 size_t len)
{
	int rc = tmp_fill(t, data, len);

	return rc ? rc : tmp_flush(t);
}

/*
 * Give the written file its real name rel.  *created: whether this call
 * made the name (false: another writer was first; not an error).
 */
MFS_TESTABLE int store_tmp_publish(struct cache_store *st,
				   struct chunk_tmp *t, const char *rel,
				   bool *created)
{
	char proc[32];
	int rc;

	if (t->path) {
		rc = linkat(st->dirfd, t->rel, st->dirfd, rel, 0);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
		rc = linkat(AT_FDCWD, proc, st->dirfd, rel, AT_SYMLINK_FOLLOW);
	}
	rc = rc ? -errno : 0;
	*created = rc == 0;
	return rc == -EEXIST ? 0 : rc;
}

/* Close the temporary and remove its name if it had one. */
MFS_TESTABLE void store_tmp_discard(struct cache_store *st,
				    struct chunk_tmp *t)
{
	if (t->path) {
		unlinkat(st->dirfd, t->rel, 0);
		free(t->path);
		t->path = NULL;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static int write_chunk(struct cache_store *st, const char *rel,
		       const void *data, size_t len, bool *created)
{
	struct chunk_tmp t;
	int rc;

	rc = store_tmp_create(st, rel, &t);
	if (rc)
		return mfs_error(rc, "cannot create a chunk file in '%s/%.2s': "
				 "%s", st->root, rel, strerror(-rc));
	rc = store_tmp_write(&t, data, len);
	if (!rc)
		rc = store_tmp_publish(st, &t, rel, created);
	store_tmp_discard(st, &t);
	if (rc)
		mfs_log(MFS_LOG_ERROR, "cannot write chunk file '%s/%s': %s",
			st->root, rel, strerror(-rc));
	return rc;
}

/*
 * Whether the chunk rel must be written: not if a file of its size is
 * there (dedup); yes if it is missing, or damaged (another size: removed
 * here; a racing remover is fine).  *rc: 0 or -errno.
 */
static bool need_write(struct cache_store *st, const char *rel, size_t len,
		       int *rc)
{
	struct stat sb;

	*rc = 0;
	if (!fstatat(st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW)) {
		if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == len)
			return false;
		if (unlinkat(st->dirfd, rel, 0) && errno != ENOENT)
			*rc = -errno;
	} else if (errno != ENOENT) {
		*rc = -errno;
	}
	return !*rc;
}

int cache_store_put(struct cache_store *st, const uint8_t hash[CACHE_HASH_LEN],
		    const void *data, size_t len, bool *was_new)
{
	char rel[STORE_REL_LEN];
	bool created = false;
	int rc;

	store_chunk_rel(hash, rel);
	if (need_write(st, rel, len, &rc))
		rc = write_chunk(st, rel, data, len, &created);
	if (was_new)
		*was_new = created;
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Which file a name pointed at when it was read. */
struct file_id {
	dev_t dev;
	ino_t ino;
};

/*
 * Remove a chunk file that failed its check, unless the name now points at
 * another file (a put replaced it meanwhile).  Returns -EBADMSG.
 */
static int drop_bad(struct cache_store *st, const char *rel,
		    struct file_id had, const char *why)
{
	struct stat named;

	if (!fstatat(st->dirfd, rel, &named, AT_SYMLINK_NOFOLLOW) &&
	    had.ino == named.st_ino && had.dev == named.st_dev)
		unlinkat(st->dirfd, rel, 0);
	mfs_log(MFS_LOG_WARN, "chunk file '%s/%s' is corrupt (%s): removed",
		st->root, rel, why);
	return -EBADMSG;
}

/* Read chunk file rel, which must be exactly len bytes, into buf. */
static int read_chunk(struct cache_store *st, const char *rel, uint8_t *buf,
		      size_t len, struct file_id *id)
{
	struct stat sb;
	ssize_t n;
	int fd, rc = 0;

	fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &sb)) {
		rc = -errno;
		goto out;
	}
	id->dev = sb.st_dev;
	id->ino = sb.st_ino;
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != len) {
		rc = drop_bad(st, rel, *id, "wrong size");
		goto out;
	}
	n = mfs_read_full(fd, buf, len);
	if (n < 0)
		rc = (int)n;
	else if ((size_t)n != len)
		rc = drop_bad(st, rel, *id, "short");
out:
	close(fd);
	return rc;
}

/* The chunks of one cache_sha256_many call. */
#define GET_BATCH 64

/* Read g[0, n) (n <= GET_BATCH), then check all their names at once. */
static int get_batch(struct cache_store *st, struct cache_get *g, size_t n)
{
	char rel[GET_BATCH][STORE_REL_LEN];
	struct file_id id[GET_BATCH];
	const uint8_t *data[GET_BATCH];
	size_t len[GET_BATCH], which[GET_BATCH], k = 0, i;
	uint8_t got[GET_BATCH][CACHE_HASH_LEN];
	int rc = 0;

	for (i = 0; i < n; i++) {
		store_chunk_rel(g[i].hash, rel[i]);
		g[i].rc = read_chunk(st, rel[i], g[i].buf, g[i].len, &id[i]);
		if (!g[i].rc && g[i].sum) {
			cache_sum(g[i].buf, g[i].len, got[0]);
			if (memcmp(got[0], g[i].sum, CACHE_SUM_LEN))
				g[i].rc = drop_bad(st, rel[i], id[i],
						   "content does not match its "
						   "checksum");
		} else if (!g[i].rc) {
			data[k] = g[i].buf;
			len[k] = g[i].len;
			which[k++] = i;
		}
	}
	if (k && cache_sha256_many(data, len, k, got)) {
		for (i = 0; i < k; i++)
			g[which[i]].rc = -EIO;
		k = 0;
	}
	for (i = 0; i < k; i++)
		if (memcmp(got[i], g[which[i]].hash, CACHE_HASH_LEN))
			g[which[i]].rc = drop_bad(st, rel[which[i]], id[which[i]],
						  "content does not match its "
						  "name");
	for (i = 0; i < n && !rc; i++)
		rc = g[i].rc;
	return rc;
}

int cache_store_get_many(struct cache_store *st, struct cache_get *g,
			 size_t n)
{
	size_t i;
	int rc = 0, r;

	for (i = 0; i < n; i += GET_BATCH) {
		r = get_batch(st, g + i, MFS_MIN(n - i, (size_t)GET_BATCH));
		if (!rc)
			rc = r;
	}
	return rc;
}

int cache_store_get(struct cache_store *st, const uint8_t hash[CACHE_HASH_LEN],
		    void *buf, size_t len)
{
	struct cache_get g = { .hash = hash, .buf = buf, .len = len };

	return cache_store_get_many(st, &g, 1);
}

int cache_store_delete(struct cache_store *st,
		       const uint8_t hash[CACHE_HASH_LEN])
{
	char rel[STORE_REL_LEN];

	store_chunk_rel(hash, rel);
	return unlinkat(st->dirfd, rel, 0) ? -errno : 0;
}

int cache_store_has(struct cache_store *st, const uint8_t hash[CACHE_HASH_LEN],
		    size_t len)
{
	char rel[STORE_REL_LEN];
	struct stat sb;

	store_chunk_rel(hash, rel);
	if (fstatat(st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : -errno;
	return S_ISREG(sb.st_mode) && (size_t)sb.st_size == len;
}

/* ---- walking the folders ------------------------------------------------ */

enum entry_kind { ENTRY_OTHER, ENTRY_CHUNK, ENTRY_STRAY, ENTRY_TMP };

/* What a name in folder sub is; a chunk's hash goes to hash. */
static enum entry_kind classify(const char *sub, const char *name,
				uint8_t hash[CACHE_HASH_LEN])
{
	if (!strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)))
		return ENTRY_TMP;
	if (cache_hash_from_hex(name, hash))
		return ENTRY_OTHER;
	/* a chunk name in the wrong folder can never be looked up */
	return name[0] == sub[0] && name[1] == sub[1] ? ENTRY_CHUNK
						      : ENTRY_STRAY;
}

/* Called for each entry of each folder; nonzero stops the walk. */
typedef int (*walk_fn)(void *ctx, int subfd, const char *sub,
		       const char *name);

/* Every entry of one folder; 0, the callback's stop value or -errno. */
static int walk_folder(struct cache_store *st, const char *sub, walk_fn fn,
		       void *ctx)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(st->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = -errno;
			break;
		}
		if (de->d_name[0] != '.' || !strncmp(de->d_name, TMP_PREFIX,
						     strlen(TMP_PREFIX)))
			rc = fn(ctx, dirfd(d), sub, de->d_name);
	}
	closedir(d);
	return rc;
}

/* The 256 folders; the first error is returned after the walk. */
static int walk(struct cache_store *st, walk_fn fn, void *ctx)
{
	char sub[3];
	int i, rc, first = 0;

	for (i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		rc = walk_folder(st, sub, fn, ctx);
		if (rc && !first) {
			mfs_log(MFS_LOG_ERROR, "cannot list '%s/%s': %s",
				st->root, sub, strerror(-rc));
			first = rc;
		}
	}
	return first;
}

/* ---- sweep -------------------------------------------------------------- */

struct sweep {
	struct cache_store *st;
	bool (*is_known)(const uint8_t *hash, void *ctx);
	void *ctx;
	time_t now;
	uint64_t chunks, bytes, temporaries;
};

/* Remove name if it is older than the grace period; true if removed. */
static bool remove_if_old(struct sweep *sw, int subfd, const char *sub,
			  const char *name)
{
	struct stat sb;

	if (fstatat(subfd, name, &sb, AT_SYMLINK_NOFOLLOW))
		return false;	/* gone meanwhile */
	if (sw->now - sb.st_mtime < CACHE_STORE_SWEEP_GRACE_SECS)
		return false;
	if (unlinkat(subfd, name, 0)) {
		if (errno != ENOENT)
			mfs_log(MFS_LOG_WARN, "cannot remove '%s/%s/%s': %s",
				sw->st->root, sub, name, strerror(errno));
		return false;
	}
	sw->bytes += (uint64_t)sb.st_size;
	return true;
}

static int sweep_entry(void *ctx, int subfd, const char *sub,
		       const char *name)
{
	struct sweep *sw = ctx;
	uint8_t hash[CACHE_HASH_LEN];

	switch (classify(sub, name, hash)) {
	case ENTRY_TMP:
		if (remove_if_old(sw, subfd, sub, name))
			sw->temporaries++;
		break;
	case ENTRY_CHUNK:
		/* the index first: stat only the few it does not know */
		if (!sw->is_known(hash, sw->ctx) &&
		    remove_if_old(sw, subfd, sub, name))
			sw->chunks++;
		break;
	case ENTRY_STRAY:
		if (remove_if_old(sw, subfd, sub, name))
			sw->chunks++;
		break;
	default:
		break;
	}
	return 0;
}

int cache_store_sweep(struct cache_store *st,
		      bool (*is_known)(const uint8_t *hash, void *ctx),
		      void *ctx)
{
	struct sweep sw = { .st = st, .is_known = is_known, .ctx = ctx,
			    .now = time(NULL) };
	int rc = walk(st, sweep_entry, &sw);

	if (sw.chunks || sw.temporaries)
		mfs_log(MFS_LOG_INFO, "cache sweep: removed %" PRIu64
			" unknown chunk file(s) and %" PRIu64 " temporary "
			"file(s), %" PRIu64 " bytes", sw.chunks,
			sw.temporaries, sw.bytes);
	return rc;
}

/* ---- size --------------------------------------------------------------- */

static int size_entry(void *ctx, int subfd, const char *sub,
		      const char *name)
{
	struct cache_store_usage *u = ctx;
	uint8_t hash[CACHE_HASH_LEN];
	enum entry_kind kind = classify(sub, name, hash);
	struct stat sb;

	if (kind == ENTRY_TMP)
		u->temporaries++;
	if (kind != ENTRY_CHUNK ||
	    fstatat(subfd, name, &sb, AT_SYMLINK_NOFOLLOW))
		return 0;
	u->chunks++;
	u->bytes += (uint64_t)sb.st_size;
	u->disk_bytes += (uint64_t)sb.st_blocks * 512;
	return 0;
}

int cache_store_size(struct cache_store *st, struct cache_store_usage *out)
{
	memset(out, 0, sizeof(*out));
	return walk(st, size_entry, out);
}

/* ---- the whole store path ----------------------------------------------- */

/*
 * A window's chunks are written as a batch, so that up to BATCH_MAX chunks
 * share one flush of the disk's write cache instead of one each (an
 * fdatasync per file flushes every time, even when the journal has
 * nothing left to commit: measured, 1.5 flushes per chunk):
 *
 * 1. every new chunk goes to a nameless file, and its writeback starts at
 *    once (sync_file_range WRITE), so the disk works while the next chunks
 *    are hashed;
 * 2. the batch waits until the disk has every file's data
 *    (sync_file_range WAIT: written, maybe still in the disk's cache);
 * 3. one fdatasync (of the last file) commits the journal and flushes the
 *    disk's cache, which makes every write completed in step 2 durable:
 *    a cache flush covers the whole device, not one file;
 * 4. each file is linked under its name.
 *
 * So each chunk's data is on stable storage before its name exists, as
 * with an fdatasync per chunk.  Where sync_file_range is not supported (a
 * network file system), each file gets its own fdatasync instead.  A batch
 * holds at most BATCH_MAX open files; when the process runs out of
 * descriptors, the batch is finished early and the chunk retried.
 */
#define WINDOW_CHUNKS (CACHE_WINDOW / CACHE_CHUNK_MIN + 1)
#define BATCH_MAX 64

struct window_store {
	struct cache_store *st;
	const uint8_t *window;
	size_t n;				/* chunks */
	size_t off[WINDOW_CHUNKS], len[WINDOW_CHUNKS];
	uint8_t hash[WINDOW_CHUNKS][CACHE_HASH_LEN];
	bool fresh[WINDOW_CHUNKS];		/* this call made the file */
	/* the batch: chunk index[i] is being written to tmp[i] */
	struct chunk_tmp tmp[BATCH_MAX];
	size_t index[BATCH_MAX];
	int pending;
};

static void collect(void *ctx, size_t off, size_t len)
{
	struct window_store *w = ctx;

	if (w->n < WINDOW_CHUNKS) {
		w->off[w->n] = off;
		w->len[w->n] = len;
		w->n++;
	}
}

/* Steps 2 and 3 above: the data of every file of the batch durable. */
static int flush_batch(struct window_store *w)
{
	const unsigned wait = SYNC_FILE_RANGE_WAIT_BEFORE |
			      SYNC_FILE_RANGE_WRITE |
			      SYNC_FILE_RANGE_WAIT_AFTER;
	int i, rc = 0;

	for (i = 0; !rc && i < w->pending; i++) {
		if (sync_file_range(w->tmp[i].fd, 0, 0, wait))
			rc = tmp_flush(&w->tmp[i]);	/* not supported */
	}
	if (!rc && w->pending)
		rc = tmp_flush(&w->tmp[w->pending - 1]);
	return rc;
}

/* Make the batch durable, then name every file (all are closed, even on
 * error). */
static int finish_batch(struct window_store *w)
{
	char rel[STORE_REL_LEN];
	int i, rc;
	size_t c;

	rc = flush_batch(w);
	for (i = 0; i < w->pending; i++) {
		c = w->index[i];
		store_chunk_rel(w->hash[c], rel);
		if (!rc)
			rc = store_tmp_publish(w->st, &w->tmp[i], rel,
					       &w->fresh[c]);
		store_tmp_discard(w->st, &w->tmp[i]);
	}
	w->pending = 0;
	if (rc)
		mfs_log(MFS_LOG_ERROR, "cannot write chunk files in '%s': %s",
			w->st->root, strerror(-rc));
	return rc;
}

/* Close the batch's files unnamed (after an error). */
static void discard_batch(struct window_store *w)
{
	int i;

	for (i = 0; i < w->pending; i++)
		store_tmp_discard(w->st, &w->tmp[i]);
	w->pending = 0;
}

/* Start writing chunk c into the batch (finishing the batch first when it
 * is full or the descriptors run out). */
static int add_to_batch(struct window_store *w, size_t c, const char *rel)
{
	struct chunk_tmp *t;
	int rc;

	if (w->pending == BATCH_MAX) {
		rc = finish_batch(w);
		if (rc)
			return rc;
	}
	t = &w->tmp[w->pending];
	rc = store_tmp_create(w->st, rel, t);
	if ((rc == -EMFILE || rc == -ENFILE) && w->pending) {
		rc = finish_batch(w);
		t = &w->tmp[0];
		if (!rc)
			rc = store_tmp_create(w->st, rel, t);
	}
	if (!rc)
		rc = tmp_fill(t, w->window + w->off[c], w->len[c]);
	if (rc) {
		store_tmp_discard(w->st, t);
		return mfs_error(rc, "cannot write a chunk file in '%s/%.2s':"
				 " %s", w->st->root, rel, strerror(-rc));
	}
	w->index[w->pending++] = c;
	return 0;
}

/* Whether chunk c's content is already in the batch (a window of silence
 * is 16 times the same chunk). */
static bool in_batch(const struct window_store *w, size_t c)
{
	int i;

	for (i = 0; i < w->pending; i++)
		if (!memcmp(w->hash[w->index[i]], w->hash[c], CACHE_HASH_LEN))
			return true;
	return false;
}

/* Hash chunk c and, unless it is stored already, add it to the batch. */
static int store_one(struct window_store *w, size_t c)
{
	char rel[STORE_REL_LEN];
	int rc;

	rc = cache_sha256(w->window + w->off[c], w->len[c], w->hash[c]);
	if (rc)
		return rc;
	store_chunk_rel(w->hash[c], rel);
	w->fresh[c] = false;
	if (in_batch(w, c) || !need_write(w->st, rel, w->len[c], &rc))
		return rc;
	return add_to_batch(w, c, rel);
}

int cache_chunk_and_store(struct cache_store *st, const uint8_t *window,
			  size_t len, cache_stored_fn on_chunk, void *ctx)
{
	struct window_store *w = malloc(sizeof(*w));
	size_t c;
	int rc;

	if (!w)
		return -ENOMEM;
	w->st = st;
	w->window = window;
	w->n = 0;
	w->pending = 0;
	rc = cache_chunk_window(window, len, collect, w);
	for (c = 0; rc >= 0 && c < w->n; c++)
		rc = store_one(w, c);
	if (rc >= 0)
		rc = finish_batch(w);
	for (c = 0; !rc && c < w->n; c++)
		on_chunk(ctx, w->off[c], w->len[c], w->hash[c], w->fresh[c]);
	discard_batch(w);
	free(w);
	return rc < 0 ? rc : 0;
}
