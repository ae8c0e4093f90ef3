/*
 * search_page.c - one page of a compiled search, for one-shot callers.
 *
 * catalog_search (search.c) reads every result of a query (up to
 * CATALOG_SEARCH_MAX) with its tags into the connection's cache: right
 * for the daemon, which lists whole folders and pages through results
 * again and again.  A process that asks once (musicfs search) has an
 * empty cache and wants one page: here the hits are sorted on their keys
 * alone and cut in SQL, and the tags and paths (a walk up the vnodes per
 * row) are read for the page's rows only.  The order is catalog_search's,
 * so a page here equals the same page there.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

/*
 * The hits sorted on their keys alone and cut to the page; then the tags
 * and a path for each row kept (sorting whole rows, or joining vnodes
 * before the cut, costs more than the rest of the query).
 */
static const char page_sql[] =
	"SELECT r.id, r.score, f.artist, f.album, f.title, f.track, f.disc, "
	"f.year, v.ino, (WITH RECURSIVE up(ino, path) AS (SELECT v.parent, "
	"v.name UNION ALL SELECT p.parent, p.name || '/' || up.path FROM "
	"vnodes AS p JOIN up ON p.ino = up.ino WHERE up.ino != 1) SELECT "
	"path FROM up WHERE ino = 1) FROM (SELECT h.id AS id, h.score AS "
	"score FROM (%s) AS h JOIN files AS k ON k.id = h.id ORDER BY "
	"h.score DESC, k.album_key, k.disc, k.track, h.id LIMIT ?%zu OFFSET "
	"?%zu) AS r JOIN files AS f ON f.id = r.id LEFT JOIN vnodes AS v ON "
	"v.file = r.id AND v.kind = 2 ORDER BY r.score DESC, f.album_key, "
	"f.disc, f.track, r.id";

static void read_row(sqlite3_stmt *st, struct catalog_search_row *r)
{
	r->file = sqlite3_column_int64(st, 0);
	r->score = sqlite3_column_double(st, 1);
	r->artist = (const char *)sqlite3_column_text(st, 2);
	r->album = (const char *)sqlite3_column_text(st, 3);
	r->title = (const char *)sqlite3_column_text(st, 4);
	r->track = sqlite3_column_int(st, 5);
	r->disc = sqlite3_column_int(st, 6);
	r->year = sqlite3_column_int(st, 7);
	r->ino = sqlite3_column_int64(st, 8);
	r->path = (const char *)sqlite3_column_text(st, 9);
}

int catalog_search_page(struct catalog *c,
			const struct catalog_search_query *q, size_t offset,
			size_t limit,
			int (*cb)(void *ctx,
				  const struct catalog_search_row *row),
			void *ctx)
{
	struct catalog_search_row row;
	sqlite3_stmt *st = NULL;
	char *sql;
	int step;
	int rc;

	/* nothing past the cap, as catalog_search */
	if (offset >= CATALOG_SEARCH_MAX || !limit)
		return 0;
	limit = MFS_MIN(limit, CATALOG_SEARCH_MAX - offset);
	sql = str_printf(page_sql, q->hits_sql, q->n_params + 1,
			 q->n_params + 2);
	if (!sql)
		return -ENOMEM;
	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return catalog_errno(c, rc, "prepare a search page");
	catalog_search_bind(st, q);
	sqlite3_bind_int64(st, (int)q->n_params + 1, (int64_t)limit);
	sqlite3_bind_int64(st, (int)q->n_params + 2, (int64_t)offset);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(st, &row);
		if (cb(ctx, &row))
			break;
	}
	rc = step == SQLITE_ROW || step == SQLITE_DONE
		     ? 0
		     : catalog_errno(c, step, "search a page");
	sqlite3_finalize(st);
	return rc;
}
