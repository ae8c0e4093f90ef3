/*
 * chunks.c - the index of the content-addressed chunk cache: which chunks
 * exist (size, references, last read) and which chunk holds which bytes
 * of which file, window by window.  The chunk files themselves belong to
 * the cache module; this is only their bookkeeping.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

int catalog_window_chunks(struct catalog *c, int64_t file, int64_t stamp,
			  int64_t win,
			  int (*cb)(void *ctx,
				    const struct catalog_chunk_ref *ref),
			  void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_WINDOW_CHUNKS);
	struct catalog_chunk_ref ref;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, file);
	sqlite3_bind_int64(st, 2, win);
	sqlite3_bind_int64(st, 3, stamp);
	sqlite3_bind_int64(st, 4, CATALOG_WINDOW_BYTES);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 2) != CATALOG_HASH_LEN)
			continue;	/* not ours: never trust a short hash */
		ref.offset = sqlite3_column_int64(st, 0);
		ref.length = sqlite3_column_int64(st, 1);
		memcpy(ref.hash, sqlite3_column_blob(st, 2), CATALOG_HASH_LEN);
		ref.has_sum = sqlite3_column_bytes(st, 3) == CATALOG_SUM_LEN;
		if (ref.has_sum)
			memcpy(ref.sum, sqlite3_column_blob(st, 3),
			       CATALOG_SUM_LEN);
		if (cb(ctx, &ref)) {
			sqlite3_reset(st);
			return 0;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(c, rc, "read window");
}

int catalog_chunk_put(struct catalog *c, const uint8_t *hash,
		      const uint8_t *sum, int64_t size, int64_t now)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CHUNK_PUT);

	if (!st)
		return -EIO;
	sqlite3_bind_blob(st, 1, hash, CATALOG_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, size);
	sqlite3_bind_int64(st, 3, now);
	if (sum)
		sqlite3_bind_blob(st, 4, sum, CATALOG_SUM_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	return catalog_step_done(c, st, "record chunk");
}

int catalog_file_chunk_put(struct catalog *c, int64_t file, int64_t stamp,
			   int64_t win, const struct catalog_chunk_ref *ref)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_FILE_CHUNK_PUT);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, file);
	sqlite3_bind_int64(st, 2, win);
	sqlite3_bind_int64(st, 3, ref->offset);
	sqlite3_bind_int64(st, 4, ref->length);
	sqlite3_bind_blob(st, 5, ref->hash, CATALOG_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, stamp);
	return catalog_step_done(c, st, "record file chunk");
}

int catalog_chunk_touch(struct catalog *c, const uint8_t *hash, int64_t now)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CHUNK_TOUCH);

	if (!st)
		return -EIO;
	sqlite3_bind_blob(st, 1, hash, CATALOG_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return catalog_step_done(c, st, "touch chunk");
}

/* Rows of (hash, size) from st through cb; non-zero from cb stops. */
static int each_chunk(struct catalog *c, sqlite3_stmt *st,
		      int (*cb)(void *ctx, const uint8_t *hash, int64_t size),
		      void *ctx, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != CATALOG_HASH_LEN)
			continue;
		if (cb(ctx, sqlite3_column_blob(st, 0),
		       sqlite3_column_int64(st, 1))) {
			sqlite3_reset(st);
			return 0;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(c, rc, what);
}

int catalog_chunks_oldest(struct catalog *c, int64_t limit,
			  int (*cb)(void *ctx, const uint8_t *hash,
				    int64_t size),
			  void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CHUNKS_OLDEST);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, limit);
	return each_chunk(c, st, cb, ctx, "list oldest chunks");
}

int catalog_chunks_unreferenced(struct catalog *c,
				int (*cb)(void *ctx, const uint8_t *hash,
					  int64_t size),
				void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CHUNKS_UNREFERENCED);

	if (!st)
		return -EIO;
	return each_chunk(c, st, cb, ctx, "list unreferenced chunks");
}

/* Statement id with the hash as ?1, run to completion. */
static int exec_hash(struct catalog *c, enum catalog_stmt id,
		     const uint8_t *hash, const char *what)
{
	sqlite3_stmt *st = catalog_stmt(c, id);

	if (!st)
		return -EIO;
	sqlite3_bind_blob(st, 1, hash, CATALOG_HASH_LEN, SQLITE_STATIC);
	return catalog_step_done(c, st, what);
}

int catalog_chunk_delete(struct catalog *c, const uint8_t *hash)
{
	int rc = exec_hash(c, STMT_CHUNK_UNLINK_FILES, hash,
			   "forget a chunk's ranges");

	return rc ? rc : exec_hash(c, STMT_CHUNK_DELETE, hash, "forget chunk");
}

int catalog_chunk_known(struct catalog *c, const uint8_t *hash, bool *known)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CHUNK_KNOWN);
	int rc;

	*known = false;
	if (!st)
		return -EIO;
	sqlite3_bind_blob(st, 1, hash, CATALOG_HASH_LEN, SQLITE_STATIC);
	rc = catalog_step_row(c, st, "look a chunk up");
	if (rc == -ENOENT)
		return 0;
	*known = rc == 0;
	sqlite3_reset(st);
	return rc;
}

int catalog_cache_totals(struct catalog *c, struct catalog_cache_totals *out)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CACHE_TOTALS);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st)
		return -EIO;
	rc = catalog_step_row(c, st, "sum the cache");
	if (rc)
		return rc;
	out->chunks = sqlite3_column_int64(st, 0);
	out->stored_bytes = sqlite3_column_int64(st, 1);
	out->file_bytes = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	return 0;
}

int catalog_cache_by_origin(struct catalog *c,
			    int (*cb)(void *ctx, const char *origin,
				      int64_t chunks, int64_t file_bytes),
			    void *ctx)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_CACHE_BY_ORIGIN);
	int rc;

	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0),
		       sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)))
			break;
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW
		       ? 0
		       : catalog_errno(c, rc, "sum the cache by origin");
}

int catalog_origin_chunks_drop(struct catalog *c, int64_t origin)
{
	return catalog_exec_ints(c, STMT_ORIGIN_CHUNKS_DROP, origin, 0,
				 "forget an origin's cached ranges");
}
