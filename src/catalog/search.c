/*
 * search.c - running compiled searches: one statement per query, its
 * results cached per connection.
 *
 * A query (catalog_search_query, made by the search module) brings the
 * SQL of its hits; here it is wrapped to fetch what a result shows (tags,
 * the track's vnode and its path in the mount, built by walking vnodes up
 * to the root) and prepared.  The SQL of a query depends only on its
 * shape, never on its words (they are parameters), so the statements of
 * the last few shapes stay prepared.
 *
 * The result cache keeps the ranked rows of recent queries (up to
 * CATALOG_SEARCH_MAX each) by their normalized text, so a listing read in
 * pieces, or asked again, costs nothing.  An entry is answered for
 * CATALOG_SEARCH_TTL_SECS unless the catalog changed since it was made:
 * PRAGMA data_version (other connections' commits) and the connection's
 * own change count (sqlite3_total_changes64) are recorded with it and
 * compared on use.  Both are per connection and free, where a generation
 * number in meta would cost the writer an UPDATE per commit; the price is
 * that each connection has its own cache (the FUSE workers' pool shares
 * its connections, so in practice a handful of caches).
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <time.h>

#define STMT_SLOTS 8		/* prepared search shapes per connection */
#define CACHE_SLOTS 16		/* cached queries per connection */
#define ROW_TEXT_MAX (4 << 20)	/* bytes of text of one cached query */

/*
 * Wrap the hits (id, score) with what a result shows, in the final order.
 * Paths are made when a result is first given out (catalog_vnode_path):
 * a listing of 20 results does not pay for walking the tree 1000 times.
 */
static const char wrap_sql[] =
	"SELECT h.id, h.score, f.artist, f.album, f.title, f.track, f.disc, "
	"f.year, v.ino FROM (%s) AS h JOIN files AS f ON f.id = h.id "
	"LEFT JOIN vnodes AS v ON v.file = h.id AND v.kind = 2 "
	"ORDER BY h.score DESC, f.album_key, f.disc, f.track, h.id";

struct prepared {
	char *sql;		/* as the query gave it (the key) */
	bool wrapped;		/* with wrap_sql around it */
	sqlite3_stmt *st;
	uint64_t used;		/* LRU tick */
};

/* One cached query: rows whose strings point into text. */
struct entry {
	char *key;
	int64_t made;		/* catalog_search_now() */
	int64_t version;	/* PRAGMA data_version then */
	int64_t changes;	/* sqlite3_total_changes64 then */
	struct catalog_search_row *rows;
	size_t n;
	char *text;
	char **paths;		/* made on first delivery (rows[i].path) */
	uint64_t used;
};

struct catalog_search_state {
	struct prepared stmts[STMT_SLOTS];
	struct entry cache[CACHE_SLOTS];
	uint64_t tick;
};

static int64_t monotonic_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

MFS_TESTABLE int64_t (*catalog_search_now)(void) = monotonic_secs;

/* ---- life -------------------------------------------------------------- */

int catalog_search_open(struct catalog *c)
{
	int rc;

	c->search = calloc(1, sizeof(*c->search));
	if (!c->search)
		return -ENOMEM;
	rc = catalog_search_fn_new(c, &c->search_fn);
	return rc;
}

static void entry_clear(struct entry *e)
{
	size_t i;

	for (i = 0; e->paths && i < e->n; i++)
		free(e->paths[i]);
	free(e->paths);
	free(e->key);
	free(e->rows);
	free(e->text);
	memset(e, 0, sizeof(*e));
}

void catalog_search_close(struct catalog *c)
{
	struct catalog_search_state *s = c->search;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < STMT_SLOTS; i++) {
		sqlite3_finalize(s->stmts[i].st);
		free(s->stmts[i].sql);
	}
	for (i = 0; i < CACHE_SLOTS; i++)
		entry_clear(&s->cache[i]);
	free(s);
	c->search = NULL;
}

/* ---- statements -------------------------------------------------------- */

void catalog_search_bind(sqlite3_stmt *st,
			 const struct catalog_search_query *q)
{
	size_t i;

	for (i = 0; i < q->n_params; i++) {
		if (q->params[i].text)
			sqlite3_bind_text(st, (int)i + 1, q->params[i].text,
					  -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, (int)i + 1, q->params[i].num);
	}
}

/* A free slot, or the least recently used one, emptied. */
static struct prepared *slot_for(struct catalog_search_state *s)
{
	struct prepared *p = &s->stmts[0];
	size_t i;

	for (i = 1; i < STMT_SLOTS; i++)
		if (s->stmts[i].used < p->used)
			p = &s->stmts[i];
	sqlite3_finalize(p->st);
	free(p->sql);
	memset(p, 0, sizeof(*p));
	return p;
}

/*
 * The statement running sql (the hits wrapped with wrap_sql if wrap),
 * prepared once per shape and bound to q's parameters.
 */
static sqlite3_stmt *prepare(struct catalog *c, const char *sql, bool wrap,
			     const struct catalog_search_query *q)
{
	struct catalog_search_state *s = c->search;
	struct prepared *p = NULL;
	char *text;
	size_t i;
	int rc;

	for (i = 0; !p && i < STMT_SLOTS; i++)
		if (s->stmts[i].sql && s->stmts[i].wrapped == wrap &&
		    !strcmp(s->stmts[i].sql, sql))
			p = &s->stmts[i];
	if (!p) {
		p = slot_for(s);
		p->sql = strdup(sql);
		text = wrap ? str_printf(wrap_sql, sql) : strdup(sql);
		rc = SQLITE_NOMEM;
		if (p->sql && text)
			rc = sqlite3_prepare_v3(c->db, text, -1,
						SQLITE_PREPARE_PERSISTENT,
						&p->st, NULL);
		free(text);
		if (rc != SQLITE_OK) {
			catalog_errno(c, rc, "prepare a search");
			free(p->sql);
			p->sql = NULL;
			return NULL;
		}
		p->wrapped = wrap;
	}
	p->used = ++s->tick;
	sqlite3_reset(p->st);
	sqlite3_clear_bindings(p->st);
	catalog_search_bind(p->st, q);
	return p->st;
}

/* ---- the result cache -------------------------------------------------- */

/* What an entry must have recorded to be current. */
static int catalog_state(struct catalog *c, int64_t *version,
			 int64_t *changes)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_DATA_VERSION);
	int rc;

	rc = catalog_step_row(c, st, "read the data version");
	if (rc)
		return rc;
	*version = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	*changes = (int64_t)sqlite3_total_changes64(c->db);
	return 0;
}

static struct entry *cache_find(struct catalog_search_state *s, const char *key,
				int64_t version, int64_t changes)
{
	int64_t now = catalog_search_now();
	size_t i;

	for (i = 0; i < CACHE_SLOTS; i++) {
		struct entry *e = &s->cache[i];

		if (!e->key)
			continue;
		if (e->version != version || e->changes != changes ||
		    now - e->made >= CATALOG_SEARCH_TTL_SECS) {
			entry_clear(e);	/* stale: free it now */
			continue;
		}
		if (!strcmp(e->key, key)) {
			e->used = ++s->tick;
			return e;
		}
	}
	return NULL;
}

static struct entry *cache_slot(struct catalog_search_state *s)
{
	struct entry *e = &s->cache[0];
	size_t i;

	for (i = 1; i < CACHE_SLOTS && e->key; i++)
		if (!s->cache[i].key || s->cache[i].used < e->used)
			e = &s->cache[i];
	entry_clear(e);
	return e;
}

/* ---- running ----------------------------------------------------------- */

/* Copy a text column into the entry's text; its offset + 1 (0: NULL). */
static int add_text(struct buf *text, sqlite3_stmt *st, int col,
		    uintptr_t *off)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	int rc;

	*off = 0;
	if (!s)
		return 0;
	*off = text->len + 1;
	rc = buf_add(text, s, (size_t)sqlite3_column_bytes(st, col));
	return rc ? rc : buf_addch(text, 0);
}

/* Read one result row; strings are stored as offsets until the end. */
static int read_row(sqlite3_stmt *st, struct catalog_search_row *r,
		    struct buf *text)
{
	uintptr_t off[3] = { 0, 0, 0 };
	int rc;

	r->file = sqlite3_column_int64(st, 0);
	r->score = sqlite3_column_double(st, 1);
	r->track = sqlite3_column_int(st, 5);
	r->disc = sqlite3_column_int(st, 6);
	r->year = sqlite3_column_int(st, 7);
	r->ino = sqlite3_column_int64(st, 8);
	rc = add_text(text, st, 2, &off[0]);
	if (!rc)
		rc = add_text(text, st, 3, &off[1]);
	if (!rc)
		rc = add_text(text, st, 4, &off[2]);
	r->artist = (const char *)off[0];
	r->album = (const char *)off[1];
	r->title = (const char *)off[2];
	r->path = NULL;
	return rc;
}

static const char *resolve(const char *base, const char *off)
{
	return off ? base + ((uintptr_t)off - 1) : NULL;
}

/* Offsets become pointers into the entry's final text. */
static void resolve_rows(struct entry *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		struct catalog_search_row *r = &e->rows[i];

		r->artist = resolve(e->text, r->artist);
		r->album = resolve(e->text, r->album);
		r->title = resolve(e->text, r->title);
	}
}

/*
 * The statement of q's rows: hits_sql wrapped (prepared once per shape),
 * or, when its hits were ranked on two threads, the wrapper around their
 * merged list (*once: the caller finalizes it).
 */
static sqlite3_stmt *rows_statement(struct catalog *c,
				    const struct catalog_search_query *q,
				    sqlite3_stmt **once)
{
	char *merged = NULL;
	char *sql;
	int rc;

	*once = NULL;
	if (catalog_search_split(c, q, &merged))
		return NULL;
	if (!merged)
		return prepare(c, q->hits_sql, true, q);
	sql = str_printf(wrap_sql, merged);
	free(merged);
	if (!sql)
		return NULL;
	rc = sqlite3_prepare_v2(c->db, sql, -1, once, NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		catalog_errno(c, rc, "prepare the merged hits");
		sqlite3_finalize(*once);
		*once = NULL;
	}
	return *once;
}

/* Run q and fill e with its rows. */
static int run_query(struct catalog *c, const struct catalog_search_query *q,
		     struct entry *e)
{
	sqlite3_stmt *once;
	sqlite3_stmt *st = rows_statement(c, q, &once);
	struct buf text = BUF_INIT_MAX(ROW_TEXT_MAX);
	int step = SQLITE_DONE;
	int rc = 0;

	if (!st)
		return -EIO;
	e->rows = calloc(CATALOG_SEARCH_MAX, sizeof(*e->rows));
	e->paths = calloc(CATALOG_SEARCH_MAX, sizeof(*e->paths));
	if (!e->rows || !e->paths)
		rc = -ENOMEM;
	while (!rc && e->n < CATALOG_SEARCH_MAX &&
	       (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = read_row(st, &e->rows[e->n++], &text);
	if (!rc && e->n < CATALOG_SEARCH_MAX && step != SQLITE_DONE)
		rc = catalog_errno(c, step, "search");
	sqlite3_reset(st);
	sqlite3_finalize(once);
	e->text = rc ? NULL : buf_detach(&text, NULL);
	buf_release(&text);
	if (!rc && !e->text)
		rc = -ENOMEM;
	if (!rc)
		resolve_rows(e);
	return rc;
}

int catalog_vnode_path(struct catalog *c, int64_t ino, char **path)
{
	sqlite3_stmt *st = catalog_stmt(c, STMT_VNODE_PATH);
	const unsigned char *s;
	int rc;

	*path = NULL;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, ino);
	rc = catalog_step_row(c, st, "build a path");
	if (rc)
		return rc;
	s = sqlite3_column_text(st, 0);
	*path = s ? strdup((const char *)s) : NULL;
	sqlite3_reset(st);
	return *path ? 0 : s ? -ENOMEM : -ENOENT;
}

/* Make the path of result i if it is still missing. */
static int give_path(struct catalog *c, struct entry *e, size_t i)
{
	struct catalog_search_row *r = &e->rows[i];
	int rc;

	if (r->path || !r->ino)
		return 0;
	rc = catalog_vnode_path(c, r->ino, &e->paths[i]);
	if (rc == -ENOENT)
		return 0;	/* the node went since: no path to give */
	r->path = e->paths[i];
	return rc;
}

int catalog_search(struct catalog *c, const struct catalog_search_query *q,
		   size_t offset, size_t limit,
		   int (*cb)(void *ctx,
			     const struct catalog_search_row *row),
		   void *ctx, struct catalog_search_info *info)
{
	struct catalog_search_state *s = c->search;
	int64_t version;
	int64_t changes;
	struct entry *e;
	size_t i;
	int rc;

	rc = catalog_state(c, &version, &changes);
	if (rc)
		return rc;
	e = cache_find(s, q->key, version, changes);
	if (info)
		info->cached = e != NULL;
	if (!e) {
		e = cache_slot(s);
		e->key = strdup(q->key);
		rc = e->key ? run_query(c, q, e) : -ENOMEM;
		if (rc) {
			entry_clear(e);
			return rc;
		}
		e->made = catalog_search_now();
		e->version = version;
		e->changes = changes;
		e->used = ++s->tick;
	}
	if (info)
		info->n_results = e->n;
	for (i = offset; i < e->n && i - offset < limit; i++) {
		rc = give_path(c, e, i);
		if (rc)
			return rc;
		if (cb(ctx, &e->rows[i]))
			break;
	}
	return 0;
}

int catalog_search_count(struct catalog *c,
			 const struct catalog_search_query *q, int64_t *n)
{
	sqlite3_stmt *st = prepare(c, q->count_sql, false, q);
	int rc;

	*n = 0;
	if (!st)
		return -EIO;
	rc = catalog_step_row(c, st, "count search results");
	if (rc)
		return rc;
	*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/*
 * The index from scratch: FTS5 rebuilds search_fts from search_src; the
 * vocabulary comes from the rebuilt index (fts5vocab lists each word once,
 * far faster than tokenizing every row again); word counts and years are
 * gathered per chunk.
 */
static const char rebuild_sql[] =
	"INSERT INTO search_fts (search_fts) VALUES ('rebuild');"
	"DELETE FROM search_terms;"
	"CREATE VIRTUAL TABLE temp.search_vocab USING fts5vocab (main, "
	"  search_fts, row);"
	"INSERT OR IGNORE INTO search_terms SELECT length(term), term "
	"  FROM temp.search_vocab;"
	"DROP TABLE temp.search_vocab;"
	"DELETE FROM search_docs;"
	"INSERT INTO search_docs SELECT id >> 11, mfs_search_docs(id, title, "
	"  artist, album, album_artist, genre, composer, year) "
	"  FROM search_src GROUP BY id >> 11;";

int catalog_search_rebuild(struct catalog *c)
{
	int rc;

	rc = catalog_begin(c);
	if (rc)
		return rc;
	rc = sqlite3_exec(c->db, rebuild_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = catalog_errno(c, rc, "rebuild the search index");
		catalog_rollback(c);
		return rc;
	}
	return catalog_commit(c);
}
