/*
 * collections.c - the smart collections made through the API (the
 * collections table) and the one built-in collection that is not a
 * search query: the tracks added lately.
 *
 * Collections change a few times in a catalog's life, so their statements
 * are prepared when used rather than kept per connection.  "Added" is the
 * earlier of the first scan of a file (files.added_at) and its origin
 * mtime: on a library that MusicFS meets for the first time every file is
 * new to the catalog, and the files' own times are what tells last
 * month's album from last decade's.  The query runs through
 * catalog_search, so it shares the result cache and the path building of
 * searches.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <stdio.h>

/*
 * Newest first: the score of a hit is its time, which the result wrapper
 * sorts by.  added_at >= ?1 runs on the files_added index and leaves the
 * files first scanned lately; their mtime filters the rest.
 */
static const char added_hits_sql[] =
	"SELECT f.id AS id, CAST(min(f.added_at, f.mtime / 1000000000) AS "
	"REAL) AS score FROM files AS f WHERE f.role = 1 AND f.added_at >= "
	"?1 AND f.mtime >= ?1 * 1000000000 ORDER BY score DESC, f.id LIMIT "
	"1000";
_Static_assert(CATALOG_SEARCH_MAX == 1000, "the LIMIT of added_hits_sql");

static const char added_count_sql[] =
	"SELECT count(*) FROM files AS f WHERE f.role = 1 AND f.added_at >= "
	"?1 AND f.mtime >= ?1 * 1000000000";

int catalog_search_added(struct catalog *c, int64_t since, size_t offset,
			 size_t limit,
			 int (*cb)(void *ctx,
				   const struct catalog_search_row *row),
			 void *ctx, struct catalog_search_info *info)
{
	struct catalog_search_param param = { .text = NULL, .num = since };
	struct catalog_search_query q = {
		.hits_sql = added_hits_sql,
		.count_sql = added_count_sql,
		.params = &param,
		.n_params = 1,
	};
	/* '#' starts no normalized query: the key cannot meet a search's */
	char key[48];

	snprintf(key, sizeof(key), "#added>=%" PRId64, since);
	q.key = key;
	return catalog_search(c, &q, offset, limit, cb, ctx, info);
}

/* Prepare sql on c's connection; NULL after logging why. */
static sqlite3_stmt *prepare(struct catalog *c, const char *sql,
			     const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		catalog_errno(c, rc, what);
		return NULL;
	}
	return st;
}

int catalog_collections(struct catalog *c,
			int (*cb)(void *ctx,
				  const struct catalog_collection *col),
			void *ctx)
{
	struct catalog_collection col;
	sqlite3_stmt *st;
	int rc;

	st = prepare(c, "SELECT name, query, created_at FROM collections "
			"WHERE builtin = 0 ORDER BY created_at, name",
		     "list collections");
	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col.name = (const char *)sqlite3_column_text(st, 0);
		col.query = (const char *)sqlite3_column_text(st, 1);
		col.created_at = sqlite3_column_int64(st, 2);
		if (col.name && col.query && cb(ctx, &col))
			break;
	}
	rc = rc == SQLITE_ROW ? 0 : catalog_errno(c, rc, "list collections");
	sqlite3_finalize(st);
	return rc;
}

int catalog_collection_add(struct catalog *c, const char *name,
			   const char *query, int64_t created_at)
{
	sqlite3_stmt *st;
	int rc;

	st = prepare(c, "INSERT INTO collections (name, query, builtin, "
			"created_at) VALUES (?1, ?2, 0, ?3) ON CONFLICT DO "
			"NOTHING",
		     "add a collection");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, query, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, created_at);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? (sqlite3_changes(c->db) ? 0 : -EEXIST)
			       : catalog_errno(c, rc, "add a collection");
	sqlite3_finalize(st);
	return rc;
}

int catalog_collection_delete(struct catalog *c, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	st = prepare(c, "DELETE FROM collections WHERE name = ?1 AND "
			"builtin = 0",
		     "delete a collection");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? (sqlite3_changes(c->db) ? 0 : -ENOENT)
			       : catalog_errno(c, rc, "delete a collection");
	sqlite3_finalize(st);
	return rc;
}
