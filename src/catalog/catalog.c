/*
 * catalog.c - connections, statements and the queries of the catalog.
 *
 * Every statement is written once in stmt_sql[] and prepared lazily per
 * connection, then reused (reset + rebind) for the life of the
 * connection: a getattr costs one indexed lookup and no parsing.
 * Functions here are thin: bind, step, copy out.  Their contracts are in
 * catalog.h.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <time.h>

#define FILE_COLUMNS                                                        \
	"id, origin, relpath, size, mtime, role, kind, title, artist, "    \
	"album, album_artist, genre, composer, date, comment, year, "      \
	"track, track_total, disc, disc_total, compilation, duration, "    \
	"sample_rate, channels, bitrate, audio_start, audio_end, "         \
	"pic_type, pic_mime, pic_offset, pic_length, pic_blob, "           \
	"placed_multi, added_at"

#define VNODE_COLUMNS "ino, parent, kind, file, size, mtime, src_offset, name"

static const char *const stmt_sql[STMT_COUNT] = {
	[STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[STMT_META_SET] = "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
	[STMT_ORIGIN_GET] = "SELECT id, type, root FROM origins WHERE name = ?1",
	[STMT_ORIGIN_INSERT] =
		"INSERT INTO origins (name, type, root) VALUES (?1, ?2, ?3)",
	[STMT_ORIGIN_UPDATE] =
		"UPDATE origins SET type = ?2, root = ?3 WHERE id = ?1",
	[STMT_FILE_STAMP] = "SELECT id, size, mtime FROM files "
			    "WHERE origin = ?1 AND relpath = ?2",
	[STMT_FILE_INSERT] =
		"INSERT INTO files (origin, relpath, dir, size, mtime, role, "
		"kind, title, artist, album, album_artist, genre, composer, "
		"date, comment, year, track, track_total, disc, disc_total, "
		"compilation, duration, sample_rate, channels, bitrate, "
		"audio_start, audio_end, pic_type, pic_mime, pic_offset, "
		"pic_length, pic_blob, album_key, scan_gen, added_at) VALUES "
		"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
		"?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, "
		"?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35)",
	[STMT_FILE_UPDATE] =
		"UPDATE files SET dir = ?3, size = ?4, mtime = ?5, role = ?6, "
		"kind = ?7, title = ?8, artist = ?9, album = ?10, "
		"album_artist = ?11, genre = ?12, composer = ?13, date = ?14, "
		"comment = ?15, year = ?16, track = ?17, track_total = ?18, "
		"disc = ?19, disc_total = ?20, compilation = ?21, "
		"duration = ?22, sample_rate = ?23, channels = ?24, "
		"bitrate = ?25, audio_start = ?26, audio_end = ?27, "
		"pic_type = ?28, pic_mime = ?29, pic_offset = ?30, "
		"pic_length = ?31, pic_blob = ?32, album_key = ?33, "
		"scan_gen = ?34 WHERE origin = ?1 AND relpath = ?2",
	[STMT_FILE_TOUCH] = "UPDATE files SET scan_gen = ?2 WHERE id = ?1",
	[STMT_FILE_TOUCH_UNDER] =
		"UPDATE files SET scan_gen = ?2 WHERE origin = ?1 AND "
		"(?3 = '' OR dir = ?3 OR (dir >= ?3 || '/' AND dir < ?3 || '0'))",
	[STMT_FILE_DELETE] = "DELETE FROM files WHERE id = ?1",
	[STMT_FILE_GET] = "SELECT " FILE_COLUMNS " FROM files WHERE id = ?1",
	[STMT_FILE_PICTURE] = "SELECT data FROM pictures WHERE file = ?1",
	[STMT_FILE_SET_PLACED] =
		"UPDATE files SET placed_multi = ?2 WHERE id = ?1",
	[STMT_FILE_EXTRA] = "SELECT key, value FROM file_tags WHERE file = ?1 "
			    "ORDER BY rowid",
	[STMT_EXTRA_DELETE] = "DELETE FROM file_tags WHERE file = ?1",
	[STMT_EXTRA_INSERT] = "INSERT INTO file_tags VALUES (?1, ?2, ?3)",
	[STMT_PICTURE_DELETE] = "DELETE FROM pictures WHERE file = ?1",
	[STMT_PICTURE_INSERT] = "INSERT OR REPLACE INTO pictures VALUES (?1, ?2)",
	[STMT_FILES_UNSEEN] =
		"SELECT id FROM files WHERE origin = ?1 AND scan_gen < ?2 AND "
		"(?3 = '' OR relpath >= ?3 || '/' AND relpath < ?3 || '0')",
	[STMT_FILES_UNDER] =
		"SELECT id FROM files WHERE origin = ?1 AND (relpath = ?2 OR "
		"(relpath >= ?2 || '/' AND relpath < ?2 || '0'))",
	[STMT_FILES_COUNT] = "SELECT count(*) FROM files WHERE origin = ?1",
	[STMT_TRACKS_IN_DIR] = "SELECT id FROM files WHERE origin = ?1 AND "
			       "dir = ?2 AND role = 1",
	[STMT_IMAGES_IN_DIR] = "SELECT id, relpath FROM files WHERE "
			       "origin = ?1 AND dir = ?2 AND role = 2",
	[STMT_ALBUM_MULTI] = "SELECT 1 FROM files WHERE album_key = ?1 AND "
			     "role = 1 AND (disc > 1 OR disc_total > 1) LIMIT 1",
	[STMT_ALBUM_MISPLACED] = "SELECT id FROM files WHERE album_key = ?1 "
				 "AND role = 1 AND placed_multi != ?2",
	[STMT_TRACKS_ALL] = "SELECT id FROM files WHERE role = 1 ORDER BY id",
	[STMT_VNODE_GET] = "SELECT " VNODE_COLUMNS " FROM vnodes WHERE ino = ?1",
	[STMT_VNODE_LOOKUP] = "SELECT " VNODE_COLUMNS " FROM vnodes "
			      "WHERE parent = ?1 AND fold = ?2",
	[STMT_VNODE_CHILDREN] = "SELECT " VNODE_COLUMNS " FROM vnodes WHERE "
				"parent = ?1 AND ino > ?2 AND ino != 1 "
				"ORDER BY ino",
	[STMT_VNODE_INSERT] =
		"INSERT INTO vnodes (parent, name, fold, kind, file, size, "
		"mtime, src_offset) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STMT_VNODE_DELETE] = "DELETE FROM vnodes WHERE ino = ?1",
	[STMT_VNODE_RENAME] =
		"UPDATE vnodes SET name = ?2, fold = ?3, want = NULL "
		"WHERE ino = ?1",
	[STMT_VNODE_UPDATE] = "UPDATE vnodes SET file = ?2, size = ?3, "
			      "mtime = ?4, src_offset = ?5 WHERE ino = ?1",
	[STMT_VNODE_TOUCH] = "UPDATE vnodes SET mtime = ?2 WHERE ino = ?1",
	[STMT_VNODE_SET_WANT] = "UPDATE vnodes SET want = ?2 WHERE ino = ?1",
	[STMT_VNODE_WANTING] = "SELECT " VNODE_COLUMNS " FROM vnodes WHERE "
			       "parent = ?1 AND want = ?2 ORDER BY ino LIMIT 1",
	[STMT_VNODE_OF_FILE] = "SELECT " VNODE_COLUMNS " FROM vnodes "
			       "WHERE file = ?1 AND kind = ?2",
	[STMT_VNODE_CHILD_KIND] = "SELECT " VNODE_COLUMNS " FROM vnodes "
				  "WHERE parent = ?1 AND kind = ?2 LIMIT 1",
	[STMT_VNODE_HAS_CHILDREN] =
		"SELECT 1 FROM vnodes WHERE parent = ?1 AND ino != 1 LIMIT 1",
	[STMT_VNODE_FIRST_TRACK] =
		"SELECT v.ino, v.parent, v.kind, v.file, v.size, v.mtime, "
		"v.src_offset, v.name FROM vnodes v JOIN files f ON "
		"f.id = v.file WHERE v.parent = ?1 AND v.kind = 2 ORDER BY "
		"coalesce(f.disc, 0), coalesce(f.track, 0), v.name LIMIT 1",
	[STMT_VNODE_COUNT] = "SELECT count(*) FROM vnodes WHERE kind = ?1",
	[STMT_VNODE_COUNT_RANGE] = "SELECT count(*) FROM vnodes WHERE "
				   "parent = ?1 AND fold >= ?2 AND fold < ?3",
	[STMT_SPELLING_ADD] =
		"INSERT INTO spellings VALUES (?1, ?2, ?3) ON CONFLICT "
		"(dir, name) DO UPDATE SET count = count + ?3",
	[STMT_SPELLING_DELETE_ZERO] =
		"DELETE FROM spellings WHERE dir = ?1 AND count <= 0",
	[STMT_SPELLING_TOP] = "SELECT name FROM spellings WHERE dir = ?1 "
			      "ORDER BY count DESC, name LIMIT 1",
	/* a window's chunks lie inside its CATALOG_WINDOW_BYTES of offsets: the bounds let
	 * the primary key seek to them instead of scanning the whole file */
	[STMT_WINDOW_CHUNKS] = "SELECT f.offset, f.length, f.hash, c.sum "
			       "FROM file_chunks f LEFT JOIN chunks c "
			       "ON c.hash = f.hash WHERE f.file = ?1 "
			       "AND f.offset >= ?2 * ?4 "
			       "AND f.offset < (?2 + 1) * ?4 AND f.win = ?2 "
			       "AND f.stamp = ?3 ORDER BY f.offset",
	[STMT_CHUNK_PUT] = "INSERT INTO chunks (hash, size, last_access, sum) "
			   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hash) DO UPDATE "
			   "SET last_access = excluded.last_access, "
			   "sum = coalesce(excluded.sum, chunks.sum)",
	[STMT_FILE_CHUNK_PUT] = "INSERT OR REPLACE INTO file_chunks "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_CHUNK_TOUCH] = "UPDATE chunks SET last_access = ?2 "
			     "WHERE hash = ?1 AND last_access < ?2",
	[STMT_CHUNKS_OLDEST] = "SELECT hash, size FROM chunks WHERE pinned = 0 "
			       "ORDER BY last_access LIMIT ?1",
	[STMT_CHUNK_UNLINK_FILES] = "DELETE FROM file_chunks WHERE hash = ?1",
	[STMT_CHUNK_DELETE] = "DELETE FROM chunks WHERE hash = ?1",
	[STMT_CHUNK_KNOWN] = "SELECT 1 FROM chunks WHERE hash = ?1",
	[STMT_CACHE_TOTALS] = "SELECT (SELECT count(*) FROM chunks),"
			      " (SELECT coalesce(sum(size), 0) FROM chunks),"
			      " (SELECT coalesce(sum(length), 0) FROM file_chunks)",
	[STMT_CACHE_BY_ORIGIN] = "SELECT o.name, count(DISTINCT fc.hash),"
				 " coalesce(sum(fc.length), 0) FROM file_chunks fc"
				 " JOIN files f ON f.id = fc.file"
				 " JOIN origins o ON o.id = f.origin"
				 " GROUP BY o.id ORDER BY o.name",
	[STMT_ORIGIN_CHUNKS_DROP] = "DELETE FROM file_chunks WHERE file IN "
				    "(SELECT id FROM files WHERE origin = ?1)",
	[STMT_CHUNKS_UNREFERENCED] = "SELECT hash, size FROM chunks "
				     "WHERE refs <= 0 AND pinned = 0",
	[STMT_DATA_VERSION] = "PRAGMA data_version",
	[STMT_SEARCH_DOCS] = "SELECT info FROM search_docs WHERE chunk = ?1",
	/* leaf to root: each step puts a parent's name in front */
	[STMT_VNODE_PATH] =
		"WITH RECURSIVE up(ino, path) AS (SELECT parent, name FROM "
		"vnodes WHERE ino = ?1 AND ino != 1 UNION ALL SELECT p.parent, "
		"p.name || '/' || up.path FROM vnodes AS p JOIN up ON "
		"p.ino = up.ino WHERE up.ino != 1) SELECT path FROM up "
		"WHERE ino = 1",
};

int catalog_errno(struct catalog *c, int rc, const char *what)
{
	int err;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		err = -ENOMEM;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		err = -EBUSY;
		break;
	case SQLITE_READONLY:
		err = -EROFS;
		break;
	case SQLITE_FULL:
		err = -ENOSPC;
		break;
	case SQLITE_CANTOPEN:
		err = -ENOENT;
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		err = -EACCES;
		break;
	case SQLITE_CONSTRAINT:
		err = -EEXIST;
		break;
	case SQLITE_TOOBIG:
		err = -EFBIG;
		break;
	default:
		err = -EIO;
		break;
	}
	/* a unique-key clash is an answer the caller handles, not an error */
	if (err != -EEXIST)
		mfs_log(MFS_LOG_ERROR, "catalog '%s': cannot %s: %s",
			c->path, what, c->db ? sqlite3_errmsg(c->db)
					     : sqlite3_errstr(rc));
	return err;
}

sqlite3_stmt *catalog_stmt(struct catalog *c, enum catalog_stmt id)
{
	sqlite3_stmt *st = c->stmts[id];
	int rc;

	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
				SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		catalog_errno(c, rc, "prepare a statement");
		return NULL;
	}
	c->stmts[id] = st;
	return st;
}

static int exec_sql(struct catalog *c, const char *sql, const char *what)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : catalog_errno(c, rc, what);
}

static int configure_connection(struct catalog *c, int64_t cache_kb)
{
	char sql[64];
	int rc;

	sqlite3_busy_timeout(c->db, 5000);
	rc = exec_sql(c, "PRAGMA journal_mode = WAL", "enable WAL");
	if (rc)
		return rc;
	rc = exec_sql(c, "PRAGMA synchronous = NORMAL", "set synchronous");
	if (rc)
		return rc;
	if (cache_kb > 0) {
		snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%" PRId64,
			 cache_kb);
		rc = exec_sql(c, sql, "set the cache size");
		if (rc)
			return rc;
	}
	if (c->mode == CATALOG_READER)
		return exec_sql(c, "PRAGMA query_only = 1", "set query_only");
	return 0;
}

int catalog_open(const char *path, enum catalog_mode mode, int64_t cache_kb,
		 struct catalog **out)
{
	struct catalog *c;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->mode = mode;
	c->path = strdup(path);
	if (!c->path) {
		free(c);
		return -ENOMEM;
	}
	if (mode == CATALOG_WRITER)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		rc = catalog_errno(c, rc, "open");
		goto out_close;
	}
	rc = configure_connection(c, cache_kb);
	if (rc)
		goto out_close;
	/* before the schema: its triggers call the search functions */
	rc = catalog_search_open(c);
	if (rc)
		goto out_close;
	if (mode == CATALOG_WRITER) {
		rc = catalog_migrate(c);
		if (rc)
			goto out_close;
	}
	*out = c;
	return 0;

out_close:
	catalog_close(&c);
	return rc;
}

void catalog_close(struct catalog **cp)
{
	struct catalog *c = cp ? *cp : NULL;
	size_t i;

	if (!c)
		return;
	catalog_search_helper_free(c->search_helper);
	catalog_search_close(c);
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		mfs_log(MFS_LOG_WARN, "catalog '%s': close: %s", c->path,
			sqlite3_errmsg(c->db));
	catalog_search_fn_free(c->search_fn);
	free(c->path);
	free(c);
	*cp = NULL;
}

int catalog_map_file(struct catalog *c, int64_t bytes)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA mmap_size = %" PRId64, bytes);
	return exec_sql(c, sql, "map the catalog");
}

void catalog_release_memory(struct catalog *c)
{
	sqlite3_db_release_memory(c->db);
}

void catalog_limit_memory(int64_t bytes)
{
	sqlite3_soft_heap_limit64(bytes);
}

int catalog_begin(struct catalog *c)
{
	return exec_sql(c, "BEGIN IMMEDIATE", "begin a transaction");
}

int catalog_commit(struct catalog *c)
{
	return exec_sql(c, "COMMIT", "commit");
}

void catalog_rollback(struct catalog *c)
{
	if (!sqlite3_get_autocommit(c->db))
		exec_sql(c, "ROLLBACK", "roll back");
}

/* Step a statement that returns no row. */
int catalog_step_done(struct catalog *c, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(c, rc, what);
}

/*
 * Step a statement that returns at most one row: 0 with the row current
 * (the caller reads columns, then resets), -ENOENT for no row.
 */
int catalog_step_row(struct catalog *c, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ENOENT : catalog_errno(c, rc, what);
}

/* Run a statement yielding one id per row through cb. */
int catalog_step_ids(struct catalog *c, sqlite3_stmt *st,
		    int (*cb)(void *ctx, int64_t id), void *ctx,
		    const char *what)
{
	int rc;

	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ctx, sqlite3_column_int64(st, 0)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return catalog_errno(c, rc, what);
	}
	sqlite3_reset(st);
	return 0;
}

void catalog_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

int catalog_exec_ints(struct catalog *c, enum catalog_stmt id, int64_t a,
		      int64_t b, const char *what)
{
	sqlite3_stmt *st = catalog_stmt(c, id);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	return catalog_step_done(c, st, what);
}

int catalog_count(struct catalog *c, enum catalog_stmt id, int64_t a,
		  int64_t *n, const char *what)
{
	sqlite3_stmt *st = catalog_stmt(c, id);
	int rc;

	*n = 0;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, a);
	rc = catalog_step_row(c, st, what);
	if (rc)
		return rc;
	*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int catalog_meta_get(struct catalog *c, const char *key, char **value)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_META_GET);
	int rc;

	*value = NULL;
	if (!st)
		return -EIO;
	catalog_bind_text(st, 1, key);
	rc = catalog_step_row(c, st, "read meta");
	if (rc)
		return rc;
	*value = column_dup(st, 0);
	sqlite3_reset(st);
	return *value ? 0 : -ENOENT;
}

int catalog_meta_set(struct catalog *c, const char *key, const char *value)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_META_SET);

	if (!st)
		return -EIO;
	catalog_bind_text(st, 1, key);
	catalog_bind_text(st, 2, value);
	return catalog_step_done(c, st, "write meta");
}

int catalog_origin_ensure(struct catalog *c, const char *name,
			  const char *type, const char *root, int64_t *id)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_ORIGIN_GET);
	bool same;
	int rc;

	if (!st)
		return -EIO;
	catalog_bind_text(st, 1, name);
	rc = catalog_step_row(c, st, "read origin");
	if (rc == 0) {
		*id = sqlite3_column_int64(st, 0);
		same = str_eq((const char *)sqlite3_column_text(st, 1), type) &&
		       str_eq((const char *)sqlite3_column_text(st, 2), root);
		sqlite3_reset(st);
		if (same)
			return 0;
		st = catalog_stmt(c, STMT_ORIGIN_UPDATE);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, *id);
		catalog_bind_text(st, 2, type);
		catalog_bind_text(st, 3, root);
		return catalog_step_done(c, st, "update origin");
	}
	if (rc != -ENOENT)
		return rc;
	st = catalog_stmt(c, STMT_ORIGIN_INSERT);
	if (!st)
		return -EIO;
	catalog_bind_text(st, 1, name);
	catalog_bind_text(st, 2, type);
	catalog_bind_text(st, 3, root);
	rc = catalog_step_done(c, st, "add origin");
	if (rc)
		return rc;
	*id = sqlite3_last_insert_rowid(c->db);
	return 0;
}
