/*
 * compile.c - a parsed query becomes one SQL statement for the catalog.
 *
 * Two shapes, chosen by what the query asks:
 *
 *  - text: the query has a term outside any NOT.  The whole boolean tree
 *    becomes one FTS5 MATCH expression and FTS5 drives the search; hits
 *    are ranked by mfs_rank (BM25, catalog/search_fn.c) and the best
 *    CATALOG_SEARCH_MAX kept.  A year range inside such a query becomes
 *    `year : ("1980" OR "1981" ...)` over the years that exist (found by
 *    hopping along the files_year index), because FTS5 intersects
 *    doclists far faster than it can test each hit against another
 *    table: `genre:metal AND year:[1980 TO 1989]` on a million tracks
 *    takes 5 ms this way and 3.9 s with `rowid IN (SELECT ... year ...)`.
 *    Ties at the cut are kept by file id.
 *
 *  - files: nothing to rank (ranges, negations only: `year:[1980 TO
 *    1989]`, `-live`).  The files table drives, filtered by year on the
 *    files_year index and by membership in FTS5 matches, in the tree's
 *    order (album artist, album, disc, track).
 *
 * Every user string is a bound parameter.  FTS5 text is written in
 * parameters as double-quoted FTS5 strings with inner quotes doubled, so
 * user text is only ever tokenized, never parsed as FTS5 syntax.  A fuzzy
 * term expands at run time to the indexed words within its distance
 * (search_terms, mfs_lev), in a subquery of the same statement; so does a
 * year range in the text shape.  An expansion that finds nothing gives
 * the empty phrase "", which matches no row.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "search/search_i.h"

#include <utf8proc.h>

/* Words a fuzzy term may expand to (nearest first, then in order). */
#define FUZZY_EXPANSIONS 64

/* Cap on the SQL text of one plan (a 256-character query stays far below). */
#define SQL_MAX (64 * 1024)

struct search_plan {
	struct catalog_search_query q;
	char *key;
	char *hits_sql;
	char *count_sql;
	struct catalog_search_param *params;
	size_t n_params;
	int rowid_range;	/* see catalog_search_query */
};

struct compiler {
	struct search_plan *plan;
	int fuzzy;		/* fuzzy terms so far */
	char *err;
	size_t errsize;
};

/*
 * An SQL expression of text built from pieces: FTS5 text the compiler
 * writes (collected in lit, then bound as one parameter) and subqueries
 * that produce FTS5 text at run time, joined with ||.
 */
struct mexpr {
	struct buf sql;
	struct buf lit;
};

/* ---- parameters -------------------------------------------------------- */

/* Add a parameter (text copied if not NULL); *index receives its ?N. */
static int param_add(struct compiler *k, const char *text, int64_t num,
		     int *index)
{
	struct search_plan *p = k->plan;
	struct catalog_search_param *a;

	a = realloc(p->params, (p->n_params + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	p->params = a;
	a[p->n_params].text = NULL;
	a[p->n_params].num = num;
	if (text) {
		a[p->n_params].text = strdup(text);
		if (!a[p->n_params].text)
			return -ENOMEM;
	}
	*index = (int)++p->n_params;
	return 0;
}

/* ---- FTS5 text --------------------------------------------------------- */

static void mexpr_init(struct mexpr *m)
{
	buf_init(&m->sql, SQL_MAX);
	buf_init(&m->lit, SQL_MAX);
}

static void mexpr_release(struct mexpr *m)
{
	buf_release(&m->sql);
	buf_release(&m->lit);
}

/* Bind the pending FTS5 text as a parameter and join it to the SQL. */
static int mexpr_flush(struct compiler *k, struct mexpr *m)
{
	int idx;
	int rc;

	if (!m->lit.len)
		return 0;
	rc = param_add(k, m->lit.data, 0, &idx);
	if (!rc)
		rc = buf_addf(&m->sql, "%s?%d", m->sql.len ? " || " : "", idx);
	buf_reset(&m->lit);
	return rc;
}

/* Join a subquery whose value is FTS5 text. */
static int mexpr_dynamic(struct compiler *k, struct mexpr *m, const char *sql)
{
	int rc = mexpr_flush(k, m);

	if (!rc)
		rc = buf_addf(&m->sql, "%s%s", m->sql.len ? " || " : "", sql);
	return rc;
}

/* User text as an FTS5 string: "..." with every '"' doubled. */
static int add_fts_string(struct buf *b, const char *s)
{
	int rc = buf_addch(b, '"');

	for (; !rc && *s; s++)
		rc = *s == '"' ? buf_adds(b, "\"\"") : buf_addch(b, *s);
	return rc ? rc : buf_addch(b, '"');
}

static int add_column(struct buf *b, enum search_field f)
{
	if (f == SEARCH_FIELD_ANY)
		return 0;
	return buf_addf(b, "%s : ", search_field_name(f));
}

/* The words of the index within n->dist of n->text, as "a" OR "b". */
static int emit_fuzzy(struct compiler *k, const struct search_node *n,
		      struct mexpr *m)
{
	char sql[1024];
	int t;
	int d;
	int rc;

	if (++k->fuzzy > SEARCH_FUZZY_MAX) {
		if (k->errsize)
			snprintf(k->err, k->errsize, "column %d: at most %d "
				 "fuzzy terms in one query", n->col,
				 SEARCH_FUZZY_MAX);
		return -EINVAL;
	}
	rc = param_add(k, n->text, 0, &t);
	if (!rc)
		rc = param_add(k, NULL, n->dist, &d);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql),
		 "coalesce((SELECT group_concat('\"' || replace(term, '\"', "
		 "'\"\"') || '\"', ' OR ') FROM (SELECT term FROM "
		 "search_terms WHERE len BETWEEN length(mfs_fold(?%d)) - ?%d "
		 "AND length(mfs_fold(?%d)) + ?%d AND mfs_lev(term, "
		 "mfs_fold(?%d), ?%d) <= ?%d ORDER BY mfs_lev(term, "
		 "mfs_fold(?%d), ?%d), term LIMIT %d)), '\"\"')",
		 t, d, t, d, t, d, d, t, d, FUZZY_EXPANSIONS);
	rc = add_column(&m->lit, n->field);
	if (!rc)
		rc = buf_adds(&m->lit, "(");
	if (!rc)
		rc = mexpr_dynamic(k, m, sql);
	return rc ? rc : buf_adds(&m->lit, ")");
}

/* The years of the catalog within the range, as "1980" OR "1981" ... */
static int emit_years(struct compiler *k, const struct search_node *n,
		      struct mexpr *m)
{
	char sql[640];
	int lo;
	int hi;
	int rc;

	rc = param_add(k, NULL, n->lo, &lo);
	if (!rc)
		rc = param_add(k, NULL, n->hi, &hi);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql),
		 "coalesce((SELECT group_concat('\"' || y || '\"', ' OR ') "
		 "FROM (WITH RECURSIVE ys(y) AS (SELECT min(year) FROM files "
		 "WHERE role = 1 AND year >= ?%d UNION ALL SELECT (SELECT "
		 "min(year) FROM files WHERE role = 1 AND year > ys.y) FROM ys "
		 "WHERE ys.y < ?%d) SELECT y FROM ys WHERE y <= ?%d)), "
		 "'\"\"')", lo, hi, hi);
	rc = buf_adds(&m->lit, "year : (");
	if (!rc)
		rc = mexpr_dynamic(k, m, sql);
	return rc ? rc : buf_adds(&m->lit, ")");
}

static int emit_match(struct compiler *k, const struct search_node *n,
		      struct mexpr *m);

/* (a) OP (b) OP ... over the kids that are (negated) or not NOTs. */
static int emit_list(struct compiler *k, const struct search_node *n,
		     const char *op, bool negated, struct mexpr *m)
{
	bool first = true;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < n->n_kids; i++) {
		const struct search_node *kid = n->kids[i];

		if ((kid->kind == SN_NOT) != negated)
			continue;
		if (negated)
			kid = kid->kids[0];
		rc = buf_addf(&m->lit, "%s(", first ? "" : op);
		if (!rc)
			rc = emit_match(k, kid, m);
		if (!rc)
			rc = buf_adds(&m->lit, ")");
		first = false;
	}
	return rc;
}

static bool has_negated(const struct search_node *n)
{
	size_t i;

	for (i = 0; i < n->n_kids; i++)
		if (n->kids[i]->kind == SN_NOT)
			return true;
	return false;
}

/* AND: (p1) AND (p2) NOT ((n1) OR (n2)). */
static int emit_and(struct compiler *k, const struct search_node *n,
		    struct mexpr *m)
{
	int rc;

	if (!has_negated(n))
		return emit_list(k, n, " AND ", false, m);
	rc = buf_adds(&m->lit, "(");
	if (!rc)
		rc = emit_list(k, n, " AND ", false, m);
	if (!rc)
		rc = buf_adds(&m->lit, ") NOT (");
	if (!rc)
		rc = emit_list(k, n, " OR ", true, m);
	return rc ? rc : buf_adds(&m->lit, ")");
}

/* n as FTS5 query text (n is fts_able). */
static int emit_match(struct compiler *k, const struct search_node *n,
		      struct mexpr *m)
{
	int rc;

	switch (n->kind) {
	case SN_TERM:
	case SN_PREFIX:
		rc = add_column(&m->lit, n->field);
		if (!rc)
			rc = add_fts_string(&m->lit, n->text);
		if (!rc && n->kind == SN_PREFIX)
			rc = buf_adds(&m->lit, " *");
		return rc;
	case SN_FUZZY:
		return emit_fuzzy(k, n, m);
	case SN_RANGE:
		return emit_years(k, n, m);
	case SN_AND:
		return emit_and(k, n, m);
	case SN_OR:
		return emit_list(k, n, " OR ", false, m);
	default:
		return -EINVAL;	/* SN_NOT alone is not FTS5 text */
	}
}

/* ---- which shape ------------------------------------------------------- */

/* Can FTS5 evaluate n alone?  (NOT only as the right side of an AND.) */
static bool fts_able(const struct search_node *n)
{
	bool positive = false;
	size_t i;

	switch (n->kind) {
	case SN_TERM:
	case SN_PREFIX:
	case SN_FUZZY:
	case SN_RANGE:
		return true;
	case SN_OR:
		for (i = 0; i < n->n_kids; i++)
			if (n->kids[i]->kind == SN_NOT ||
			    !fts_able(n->kids[i]))
				return false;
		return true;
	case SN_AND:
		for (i = 0; i < n->n_kids; i++) {
			const struct search_node *kid = n->kids[i];

			if (kid->kind == SN_NOT)
				kid = kid->kids[0];
			else
				positive = true;
			if (kid->kind == SN_NOT || !fts_able(kid))
				return false;
		}
		return positive;
	default:
		return false;
	}
}

/* Does a text term (not a year) appear outside every NOT? */
static bool has_text(const struct search_node *n)
{
	size_t i;

	switch (n->kind) {
	case SN_TERM:
	case SN_PREFIX:
	case SN_FUZZY:
		return n->field != SEARCH_FIELD_YEAR;
	case SN_AND:
	case SN_OR:
		for (i = 0; i < n->n_kids; i++)
			if (has_text(n->kids[i]))
				return true;
		return false;
	default:
		return false;
	}
}

/* ---- the files shape: a predicate on f --------------------------------- */

static int emit_pred(struct compiler *k, const struct search_node *n,
		     struct buf *b);

/* f.id IN (the FTS5 matches of n). */
static int emit_in_fts(struct compiler *k, const struct search_node *n,
		       struct buf *b)
{
	struct mexpr m;
	int rc;

	mexpr_init(&m);
	rc = emit_match(k, n, &m);
	if (!rc)
		rc = mexpr_flush(k, &m);
	if (!rc)
		rc = buf_addf(b, "f.id IN (SELECT rowid FROM search_fts WHERE "
			      "search_fts MATCH %s)", m.sql.data);
	mexpr_release(&m);
	return rc;
}

static int emit_pred_list(struct compiler *k, const struct search_node *n,
			  const char *op, struct buf *b)
{
	size_t i;
	int rc = buf_adds(b, "(");

	for (i = 0; !rc && i < n->n_kids; i++) {
		if (i)
			rc = buf_adds(b, op);
		if (!rc)
			rc = emit_pred(k, n->kids[i], b);
	}
	return rc ? rc : buf_adds(b, ")");
}

static int emit_pred(struct compiler *k, const struct search_node *n,
		     struct buf *b)
{
	int lo;
	int hi;
	int rc;

	/* a text subtree is one FTS5 query; ranges stay on the B-tree */
	if (fts_able(n) && has_text(n))
		return emit_in_fts(k, n, b);
	switch (n->kind) {
	case SN_RANGE:
		rc = param_add(k, NULL, n->lo, &lo);
		if (!rc)
			rc = param_add(k, NULL, n->hi, &hi);
		return rc ? rc : buf_addf(b, "f.year BETWEEN ?%d AND ?%d", lo,
					  hi);
	case SN_NOT:
		/* IS NOT 1: a track without a year is outside every range */
		rc = buf_adds(b, "(");
		if (!rc)
			rc = emit_pred(k, n->kids[0], b);
		return rc ? rc : buf_adds(b, ") IS NOT 1");
	case SN_AND:
		return emit_pred_list(k, n, " AND ", b);
	case SN_OR:
		return emit_pred_list(k, n, " OR ", b);
	default:
		return emit_in_fts(k, n, b);
	}
}

/* ---- statements -------------------------------------------------------- */

#define TREE_ORDER "f.album_key, f.disc, f.track, f.id"

/*
 * A year range ANDed at the top of a text search filters its hits: FTS5
 * would advance one doclist per year of the range for each hit (150 ms
 * for genre:rock AND a 30-year range, on a million tracks), where
 * mfs_year_in reads two bytes (search_docs).  A range of a few years, or
 * one nested deeper, stays FTS5 text (`genre:pop AND year:[1976 TO
 * 1985]`: 4 ms).  A negated range is always a filter.
 */
#define FTS_YEARS_MAX 12

static bool is_year_filter(const struct search_node *kid)
{
	const struct search_node *r = kid->kind == SN_NOT ? kid->kids[0] : kid;

	return r->kind == SN_RANGE &&
	       (kid->kind == SN_NOT || r->hi - r->lo + 1 > FTS_YEARS_MAX);
}

/* " AND [NOT ]mfs_year_in(rowid, lo, hi)" for each filter of root. */
static int emit_year_filters(struct compiler *k,
			     const struct search_node *root, struct buf *b)
{
	const struct search_node *r;
	size_t i;
	int lo;
	int hi;
	int rc = 0;

	for (i = 0; !rc && root->kind == SN_AND && i < root->n_kids; i++) {
		if (!is_year_filter(root->kids[i]))
			continue;
		r = root->kids[i]->kind == SN_NOT ? root->kids[i]->kids[0]
						  : root->kids[i];
		rc = param_add(k, NULL, r->lo, &lo);
		if (!rc)
			rc = param_add(k, NULL, r->hi, &hi);
		if (!rc)
			rc = buf_addf(b, " AND %smfs_year_in(rowid, ?%d, ?%d)",
				      r == root->kids[i] ? "" : "NOT ", lo, hi);
	}
	return rc;
}

/*
 * The part of root FTS5 matches: root without its year filters (a
 * shallow copy whose kids array the caller frees), or root itself.
 */
static int text_part(const struct search_node *root, struct search_node *tmp,
		     const struct search_node **text)
{
	size_t i;

	*text = root;
	if (root->kind != SN_AND)
		return 0;
	*tmp = *root;
	tmp->kids = calloc(root->n_kids, sizeof(*tmp->kids));
	if (!tmp->kids)
		return -ENOMEM;
	tmp->n_kids = 0;
	for (i = 0; i < root->n_kids; i++)
		if (!is_year_filter(root->kids[i]))
			tmp->kids[tmp->n_kids++] = root->kids[i];
	*text = tmp->n_kids == 1 ? tmp->kids[0] : tmp;
	return 0;
}

static int compile_text(struct compiler *k, const struct search_node *root)
{
	struct search_plan *p = k->plan;
	const struct search_node *text;
	struct search_node tmp = { 0 };
	struct buf filters;
	struct mexpr m;
	int lo, hi;
	int rc;

	mexpr_init(&m);
	buf_init(&filters, SQL_MAX);
	rc = text_part(root, &tmp, &text);
	if (!rc)
		rc = emit_match(k, text, &m);
	if (!rc)
		rc = mexpr_flush(k, &m);
	if (!rc)
		rc = emit_year_filters(k, root, &filters);
	/* every rowid, unless the catalog ranks the hits in parts */
	if (!rc)
		rc = param_add(k, NULL, 0, &lo);
	if (!rc)
		rc = param_add(k, NULL, INT64_MAX, &hi);
	if (!rc) {
		p->rowid_range = lo;
		p->hits_sql = str_printf(
			"SELECT rowid AS id, mfs_rank(search_fts) AS score "
			"FROM search_fts WHERE search_fts MATCH %s%s "
			"AND rowid BETWEEN ?%d AND ?%d "
			"ORDER BY score DESC, rowid LIMIT %d", m.sql.data,
			filters.len ? filters.data : "", lo, hi,
			CATALOG_SEARCH_MAX);
		p->count_sql = str_printf("SELECT count(*) FROM search_fts "
					  "WHERE search_fts MATCH %s%s",
					  m.sql.data,
					  filters.len ? filters.data : "");
		if (!p->hits_sql || !p->count_sql)
			rc = -ENOMEM;
	}
	free(tmp.kids);
	buf_release(&filters);
	mexpr_release(&m);
	return rc;
}

/*
 * The years every match must be in: the intersection of the ranges that
 * are terms of the top-level AND (false if there is none).
 */
static bool top_range(const struct search_node *root, int *lo, int *hi)
{
	bool found = false;
	size_t i;

	*lo = SEARCH_YEAR_MIN;
	*hi = SEARCH_YEAR_MAX;
	if (root->kind == SN_RANGE) {
		*lo = root->lo;
		*hi = root->hi;
		return true;
	}
	for (i = 0; root->kind == SN_AND && i < root->n_kids; i++) {
		if (root->kids[i]->kind != SN_RANGE)
			continue;
		*lo = MFS_MAX(*lo, root->kids[i]->lo);
		*hi = MFS_MIN(*hi, root->kids[i]->hi);
		found = true;
	}
	return found;
}

/*
 * Tracks with few matching years are best found on files_year and
 * sorted; many are best found walking files_order (the tree's order) and
 * stopping at the cap: on a million tracks, a year of 12,000 tracks takes
 * 9 ms one way and 15 ms the other, an empty range 75 ms walking, a wide
 * one 110 ms sorting.  One statement does both: the number of tracks in
 * the years, counted on files_year up to FEW_YEARS, sets the LIMIT of
 * each half to the cap or to 0, and a LIMIT of 0 skips its half before
 * its first row (a WHERE term would not: SQLite tests it on every row).
 */
#define FEW_YEARS 15000

static char *files_by_range(struct compiler *k, const char *pred, int lo,
			    int hi)
{
	char guard[256];
	int a;
	int b;

	if (param_add(k, NULL, lo, &a) || param_add(k, NULL, hi, &b))
		return NULL;
	snprintf(guard, sizeof(guard), "(SELECT count(*) FROM (SELECT 1 FROM "
		 "files INDEXED BY files_year WHERE role = 1 AND year BETWEEN "
		 "?%d AND ?%d LIMIT %d))", a, b, FEW_YEARS);
	return str_printf(
		"SELECT id, score FROM (SELECT f.id AS id, 0.0 AS score FROM "
		"files AS f INDEXED BY files_year WHERE f.role = 1 AND %s "
		"ORDER BY " TREE_ORDER " LIMIT CASE WHEN %s < %d THEN %d "
		"ELSE 0 END) UNION ALL SELECT id, score FROM (SELECT f.id AS "
		"id, 0.0 AS score FROM files AS f INDEXED BY files_order "
		"WHERE f.role = 1 AND %s ORDER BY " TREE_ORDER " LIMIT CASE "
		"WHEN %s >= %d THEN %d ELSE 0 END)",
		pred, guard, FEW_YEARS, CATALOG_SEARCH_MAX, pred, guard,
		FEW_YEARS, CATALOG_SEARCH_MAX);
}

static int compile_files(struct compiler *k, const struct search_node *root)
{
	struct search_plan *p = k->plan;
	struct buf pred;
	int lo;
	int hi;
	int rc;

	buf_init(&pred, SQL_MAX);
	rc = emit_pred(k, root, &pred);
	if (!rc && top_range(root, &lo, &hi))
		p->hits_sql = files_by_range(k, pred.data, lo, hi);
	else if (!rc)
		p->hits_sql = str_printf(
			"SELECT f.id AS id, 0.0 AS score FROM files AS f "
			"INDEXED BY files_order WHERE f.role = 1 AND %s "
			"ORDER BY " TREE_ORDER " LIMIT %d", pred.data,
			CATALOG_SEARCH_MAX);
	if (!rc) {
		p->count_sql = str_printf("SELECT count(*) FROM files AS f "
					  "WHERE f.role = 1 AND %s",
					  pred.data);
		if (!p->hits_sql || !p->count_sql)
			rc = -ENOMEM;
	}
	buf_release(&pred);
	return rc;
}

/* ---- the normalized query ---------------------------------------------- */

static int key_node(const struct search_node *n, struct buf *b);

/* Lower-cased text in quotes, '"' and '\' escaped. */
static int key_text(const char *s, struct buf *b)
{
	utf8proc_uint8_t enc[4];
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;
	int rc = buf_addch(b, '"');

	while (!rc && *s) {
		k = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &cp);
		if (k <= 0)
			return -EINVAL;
		s += k;
		if (cp == '"' || cp == '\\')
			rc = buf_addch(b, '\\');
		if (!rc)
			rc = buf_add(b, enc,
				     (size_t)utf8proc_encode_char(
					     utf8proc_tolower(cp), enc));
	}
	return rc ? rc : buf_addch(b, '"');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Kids' keys sorted, so that "a b" and "b a" share one key. */
static int key_list(const struct search_node *n, const char *op,
		    struct buf *b)
{
	char **keys = calloc(n->n_kids, sizeof(*keys));
	struct buf one;
	size_t i;
	int rc = keys ? 0 : -ENOMEM;

	buf_init(&one, SQL_MAX);
	for (i = 0; !rc && i < n->n_kids; i++) {
		rc = key_node(n->kids[i], &one);
		keys[i] = rc ? NULL : buf_detach(&one, NULL);
		if (!rc && !keys[i])
			rc = -ENOMEM;
	}
	if (!rc)
		qsort(keys, n->n_kids, sizeof(*keys), cmp_str);
	for (i = 0; !rc && i < n->n_kids; i++)
		rc = buf_addf(b, "%s%s", i ? op : "(", keys[i]);
	for (i = 0; keys && i < n->n_kids; i++)
		free(keys[i]);
	free(keys);
	buf_release(&one);
	return rc ? rc : buf_addch(b, ')');
}

static int key_node(const struct search_node *n, struct buf *b)
{
	int rc = 0;

	if (n->field != SEARCH_FIELD_ANY && n->kind != SN_RANGE)
		rc = buf_addf(b, "%s:", search_field_name(n->field));
	if (rc)
		return rc;
	switch (n->kind) {
	case SN_TERM:
		return key_text(n->text, b);
	case SN_PREFIX:
		rc = key_text(n->text, b);
		return rc ? rc : buf_addch(b, '*');
	case SN_FUZZY:
		rc = key_text(n->text, b);
		return rc ? rc : buf_addf(b, "~%d", n->dist);
	case SN_RANGE:
		return buf_addf(b, "year:[%d TO %d]", n->lo, n->hi);
	case SN_AND:
		return key_list(n, " AND ", b);
	case SN_OR:
		return key_list(n, " OR ", b);
	case SN_NOT:
		rc = buf_adds(b, "-");
		return rc ? rc : key_node(n->kids[0], b);
	default:
		return -EINVAL;
	}
}

/* ---- entry ------------------------------------------------------------- */

static int compile_tree(struct compiler *k, const struct search_node *root)
{
	struct search_plan *p = k->plan;
	struct buf key;
	int rc;

	buf_init(&key, SQL_MAX);
	rc = key_node(root, &key);
	p->key = rc ? NULL : buf_detach(&key, NULL);
	buf_release(&key);
	if (!rc && !p->key)
		rc = -ENOMEM;
	if (rc)
		return rc;
	if (fts_able(root) && has_text(root))
		rc = compile_text(k, root);
	else
		rc = compile_files(k, root);
	if (rc)
		return rc;
	p->q.key = p->key;
	p->q.hits_sql = p->hits_sql;
	p->q.count_sql = p->count_sql;
	p->q.params = p->params;
	p->q.n_params = p->n_params;
	p->q.rowid_range = p->rowid_range;
	return 0;
}

int search_compile(const char *query, struct search_plan **out, char *err,
		   size_t errsize)
{
	struct compiler k = { 0 };
	struct search_node *root = NULL;
	int rc;

	*out = NULL;
	rc = search_parse(query, &root, err, errsize);
	if (rc)
		return rc;
	k.plan = calloc(1, sizeof(*k.plan));
	k.err = err;
	k.errsize = errsize;
	rc = k.plan ? compile_tree(&k, root) : -ENOMEM;
	search_node_free(root);
	if (rc) {
		if (rc != -EINVAL && errsize)
			snprintf(err, errsize, "cannot compile the query: %s",
				 strerror(-rc));
		search_plan_free(k.plan);
		return rc;
	}
	*out = k.plan;
	return 0;
}

void search_plan_free(struct search_plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_params; i++)
		free((char *)p->params[i].text);
	free(p->params);
	free(p->key);
	free(p->hits_sql);
	free(p->count_sql);
	free(p);
}

const struct catalog_search_query *
search_plan_query(const struct search_plan *p)
{
	return &p->q;
}

const char *search_plan_key(const struct search_plan *p)
{
	return p->key;
}
