/*
 * search_fn.c - the SQL functions behind search, registered on every
 * catalog connection (catalog_open) before the schema is touched, since
 * the triggers of schema version 2 call them.
 *
 *   mfs_fold(text)                the words of text as the index folds
 *                                 them (case, diacritics), space-separated
 *   mfs_lev(a, b, k)              Levenshtein distance of a and b in code
 *                                 points, or k + 1 if it is more than k
 *   mfs_search_terms(col, ...)    the distinct words of the columns as a
 *                                 JSON array (the triggers add them to the
 *                                 fuzzy vocabulary, search_terms)
 *   mfs_search_doc(docs, id, col, ...)  docs (a chunk of search_docs) with
 *                                 track id's number of words and year set
 *                                 (no column: cleared)
 *   mfs_search_docs(id, col, ...) the same as an aggregate over a chunk
 *   mfs_year_in(rowid, lo, hi)    is the track's year in [lo, hi]?
 *   mfs_rank(search_fts)          FTS5 auxiliary function: relevance
 *
 * Words are cut and folded by FTS5's own unicode61 tokenizer, created
 * with the options of search_fts, so the vocabulary and the word counts
 * are exactly what the index holds.
 *
 * mfs_rank is BM25 as FTS5's bm25() computes it (k1 = 1.2, b = 0.75, IDF
 * ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, the document length
 * being the number of words in all columns) with two differences: a match
 * in the year column never scores (years are filters: year ranges become
 * year-column phrases), and the document length comes from search_docs,
 * read once per chunk of 2048 tracks and query.  bm25() reads %_docsize
 * once per hit, about 1 µs each: 300 ms to rank the 200,000 hits of
 * `love` in a million tracks, where mfs_rank takes 40 ms.  A length of 0
 * (not recorded) falls back to FTS5's xColumnSize.  A query of one phrase
 * leaves its IDF out (the same factor for every row): its scores are
 * BM25's term-frequency part.
 */
#include "common/mfs.h"
#include "common/buf.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <math.h>

#define LEV_MAX_CHARS 64	/* longer words are never "near" another */
#define YEAR_COLUMN 6		/* search_fts column of the year */
#define TERMS_MAX 4096		/* JSON bytes per row (more: dropped) */

struct catalog_search_fn {
	struct catalog *c;
	fts5_api *api;
	fts5_tokenizer tok;	/* unicode61's methods */
	Fts5Tokenizer *tk;	/* an instance: remove_diacritics 2 */
	struct catalog_rank_share *share;	/* a query ranked in parts */
};

void catalog_search_fn_share(struct catalog *c,
			     struct catalog_rank_share *share)
{
	if (c->search_fn)
		c->search_fn->share = share;
}

/* ---- tokenizing -------------------------------------------------------- */

typedef int (*token_cb)(void *ctx, int flags, const char *tok, int n,
			int start, int end);

static int tokenize(struct catalog_search_fn *s, sqlite3_value *v,
		    void *ctx, token_cb cb)
{
	const char *text = (const char *)sqlite3_value_text(v);

	if (!text)
		return SQLITE_OK;
	return s->tok.xTokenize(s->tk, ctx, FTS5_TOKENIZE_DOCUMENT, text,
				sqlite3_value_bytes(v), cb);
}

struct fold_ctx {
	struct buf out;
	int rc;
};

static int fold_token(void *ctx, int flags, const char *tok, int n,
		      int start, int end)
{
	struct fold_ctx *f = ctx;

	(void)flags;
	(void)start;
	(void)end;
	if (f->out.len)
		f->rc = buf_addch(&f->out, ' ');
	if (!f->rc)
		f->rc = buf_add(&f->out, tok, (size_t)n);
	return f->rc ? SQLITE_NOMEM : SQLITE_OK;
}

static void fn_fold(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct catalog_search_fn *s = sqlite3_user_data(ctx);
	struct fold_ctx f = { BUF_INIT_MAX(64 * 1024), 0 };

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (tokenize(s, argv[0], &f, fold_token) != SQLITE_OK || f.rc)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_text(ctx, f.out.data ? f.out.data : "", -1,
				    SQLITE_TRANSIENT);
	buf_release(&f.out);
}

/* ---- Levenshtein ------------------------------------------------------- */

/* Decode UTF-8 into at most LEV_MAX_CHARS code points; -1 if longer. */
static int decode(const unsigned char *s, int32_t *cp)
{
	int n = 0;
	int k;

	while (*s) {
		if (n == LEV_MAX_CHARS)
			return -1;
		if (*s < 0x80) {
			cp[n++] = *s++;
			continue;
		}
		k = *s >= 0xf0 ? 3 : *s >= 0xe0 ? 2 : 1;
		cp[n] = *s++ & (0x3f >> k);
		while (k-- && (*s & 0xc0) == 0x80)
			cp[n] = (cp[n] << 6) | (*s++ & 0x3f);
		n++;
	}
	return n;
}

/*
 * Edit distance of a and b, stopping as soon as it must exceed k (then
 * k + 1): two rows of the dynamic programme, and the smallest value of a
 * row bounds every later one.
 */
MFS_TESTABLE int catalog_levenshtein(const int32_t *a, int la,
				     const int32_t *b, int lb, int k)
{
	int row[2][LEV_MAX_CHARS + 1];
	int *prev = row[0];
	int *cur = row[1];
	int *t;
	int i;
	int j;
	int best;

	if (abs(la - lb) > k)
		return k + 1;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		best = i;
		for (j = 1; j <= lb; j++) {
			int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			int del = prev[j] + 1;
			int ins = cur[j - 1] + 1;

			cur[j] = MFS_MIN(sub, MFS_MIN(del, ins));
			best = MFS_MIN(best, cur[j]);
		}
		if (best > k)
			return k + 1;
		t = prev;
		prev = cur;
		cur = t;
	}
	return MFS_MIN(prev[lb], k + 1);
}

/* A decoded word: its code points and their number (-1: too long). */
struct word {
	int n;
	int32_t cp[LEV_MAX_CHARS];
};

/*
 * The second argument decoded, kept by SQLite while it stays the same:
 * the fuzzy lookup compares one word with every word of a length class.
 */
static const struct word *constant_word(sqlite3_context *ctx,
					const unsigned char *s)
{
	struct word *w = sqlite3_get_auxdata(ctx, 1);

	if (w)
		return w;
	w = malloc(sizeof(*w));
	if (!w)
		return NULL;
	w->n = decode(s, w->cp);
	sqlite3_set_auxdata(ctx, 1, w, free);
	/* SQLite may free it at once (not a constant): use it this time */
	return sqlite3_get_auxdata(ctx, 1) ? w : NULL;
}

static void fn_lev(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *sa = sqlite3_value_text(argv[0]);
	const unsigned char *sb = sqlite3_value_text(argv[1]);
	int k = sqlite3_value_int(argv[2]);
	const struct word *b;
	struct word a;
	struct word own;

	(void)argc;
	if (!sa || !sb)
		return;
	k = MFS_MAX(0, MFS_MIN(k, LEV_MAX_CHARS));
	b = constant_word(ctx, sb);
	if (!b) {
		own.n = decode(sb, own.cp);
		b = &own;
	}
	a.n = decode(sa, a.cp);
	if (a.n < 0 || b->n < 0) {
		sqlite3_result_int(ctx, strcmp((const char *)sa,
					       (const char *)sb) ? k + 1 : 0);
		return;
	}
	sqlite3_result_int(ctx, catalog_levenshtein(a.cp, a.n, b->cp, b->n, k));
}

/* ---- the vocabulary and the lengths ------------------------------------ */

struct terms_ctx {
	struct buf json;
	int rc;
};

/* Is "tok" already in the JSON array?  (A row has a few dozen words.) */
static bool json_has(const struct buf *json, const char *tok, int n)
{
	const char *p = json->data;

	while (p && (p = strchr(p, '"'))) {
		if (!strncmp(p + 1, tok, (size_t)n) && p[n + 1] == '"')
			return true;
		p = strchr(p + 1, '"');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static int terms_token(void *ctx, int flags, const char *tok, int n,
		       int start, int end)
{
	struct terms_ctx *t = ctx;
	int i;

	(void)flags;
	(void)start;
	(void)end;
	for (i = 0; i < n; i++)	/* not a word unicode61 makes; skip it */
		if (tok[i] == '"' || tok[i] == '\\' ||
		    (unsigned char)tok[i] < 32)
			return SQLITE_OK;
	if (json_has(&t->json, tok, n))
		return SQLITE_OK;
	if (buf_addf(&t->json, "%s\"%.*s\"", t->json.len > 1 ? "," : "", n,
		     tok))
		t->rc = -EFBIG;	/* a huge row: its first words will do */
	return SQLITE_OK;
}

static void fn_terms(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct catalog_search_fn *s = sqlite3_user_data(ctx);
	struct terms_ctx t = { BUF_INIT_MAX(TERMS_MAX), 0 };
	int i;
	int rc = buf_addch(&t.json, '[') ? SQLITE_NOMEM : SQLITE_OK;

	for (i = 0; rc == SQLITE_OK && i < argc; i++)
		rc = tokenize(s, argv[i], &t, terms_token);
	if (rc != SQLITE_OK || buf_addch(&t.json, ']'))
		sqlite3_result_text(ctx, "[]", -1, SQLITE_STATIC);
	else
		sqlite3_result_text(ctx, t.json.data, -1, SQLITE_TRANSIENT);
	buf_release(&t.json);
}

static int count_token(void *ctx, int flags, const char *tok, int n,
		       int start, int end)
{
	(void)tok;
	(void)n;
	(void)start;
	(void)end;
	if (!(flags & FTS5_TOKEN_COLOCATED))
		(*(int *)ctx)++;
	return SQLITE_OK;
}

/* Words of the columns argv[0..argc), capped to a byte. */
static int row_length(struct catalog_search_fn *s, int argc,
		      sqlite3_value **argv)
{
	int n = 0;
	int i;

	for (i = 0; i < argc; i++)
		tokenize(s, argv[i], &n, count_token);
	return MFS_MIN(n, 255);
}

/*
 * Record a track in its chunk of search_docs: argv is (id, title, artist,
 * album, album_artist, genre, composer, year), or (id) for a track gone.
 */
static void put_doc(struct catalog_search_fn *s, uint8_t *chunk, int argc,
		    sqlite3_value **argv)
{
	int64_t id = sqlite3_value_int64(argv[0]);
	size_t at = (size_t)(id & (CATALOG_DOCS_CHUNK - 1));
	uint8_t *d = chunk + at * CATALOG_DOC_BYTES;
	int64_t year = argc > 1 ? sqlite3_value_int64(argv[argc - 1]) : 0;

	memset(d, 0, CATALOG_DOC_BYTES);
	if (argc < 2)
		return;
	d[0] = (uint8_t)row_length(s, argc - 1, argv + 1);
	if (year > 0 && year <= UINT16_MAX) {
		d[2] = (uint8_t)(year & 0xff);
		d[3] = (uint8_t)(year >> 8);
	}
}

/* mfs_search_doc(docs, id [, columns]): the chunk with the track set. */
static void fn_doc(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t *chunk = calloc(1, CATALOG_DOCS_BYTES);
	int n = sqlite3_value_bytes(argv[0]);

	if (!chunk) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (n > 0)
		memcpy(chunk, sqlite3_value_blob(argv[0]),
		       (size_t)MFS_MIN(n, CATALOG_DOCS_BYTES));
	put_doc(sqlite3_user_data(ctx), chunk, argc - 1, argv + 1);
	sqlite3_result_blob(ctx, chunk, CATALOG_DOCS_BYTES, free);
}

static void fn_docs_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t *chunk = sqlite3_aggregate_context(ctx, CATALOG_DOCS_BYTES);

	if (!chunk) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	put_doc(sqlite3_user_data(ctx), chunk, argc, argv);
}

static void fn_docs_final(sqlite3_context *ctx)
{
	uint8_t *chunk = sqlite3_aggregate_context(ctx, 0);

	if (chunk)
		sqlite3_result_blob(ctx, chunk, CATALOG_DOCS_BYTES,
				    SQLITE_TRANSIENT);
}

/* ---- reading search_docs ----------------------------------------------- */

/* The chunks of search_docs one statement has read. */
struct doc_chunks {
	struct catalog *c;
	uint8_t **chunks;
	size_t n;
};

static void doc_chunks_clear(struct doc_chunks *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->chunks[i]);
	free(d->chunks);
	d->chunks = NULL;
	d->n = 0;
}

static void doc_chunks_free(void *p)
{
	if (p)
		doc_chunks_clear(p);
	free(p);
}

static uint8_t *read_chunk(struct catalog *c, size_t k)
{
	uint8_t *chunk = calloc(1, CATALOG_DOCS_BYTES);
	sqlite3_stmt *st = catalog_stmt(c, STMT_SEARCH_DOCS);

	if (!chunk || !st) {
		free(chunk);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, (int64_t)k);
	if (sqlite3_step(st) == SQLITE_ROW)
		memcpy(chunk, sqlite3_column_blob(st, 0),
		       (size_t)MFS_MIN(sqlite3_column_bytes(st, 0),
				       CATALOG_DOCS_BYTES));
	sqlite3_reset(st);
	return chunk;	/* all zeros if the chunk has no row */
}

/* The CATALOG_DOC_BYTES of track id (NULL: out of memory). */
static const uint8_t *doc_of(struct doc_chunks *d, int64_t id)
{
	size_t k = (size_t)(id >> CATALOG_DOCS_BITS);
	uint8_t **grown;

	if (id < 0)
		return NULL;
	if (k >= d->n) {
		grown = realloc(d->chunks, (k + 1) * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + d->n, 0, (k + 1 - d->n) * sizeof(*grown));
		d->chunks = grown;
		d->n = k + 1;
	}
	if (!d->chunks[k])
		d->chunks[k] = read_chunk(d->c, k);
	if (!d->chunks[k])
		return NULL;
	return d->chunks[k] +
	       (id & (CATALOG_DOCS_CHUNK - 1)) * CATALOG_DOC_BYTES;
}

static int doc_year(const uint8_t *d)
{
	return d ? d[2] | d[3] << 8 : 0;
}

/*
 * mfs_year_in(rowid, lo, hi): is the track's year within [lo, hi]?  The
 * filter of a text search by a top-level year range: two bytes read per
 * hit, where FTS5 would advance one doclist per year of the range.  The
 * chunks read are kept with the constant lo for the statement's life.
 */
static void fn_year_in(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct catalog_search_fn *s = sqlite3_user_data(ctx);
	struct doc_chunks *d = sqlite3_get_auxdata(ctx, 1);
	int64_t lo = sqlite3_value_int64(argv[1]);
	int64_t hi = sqlite3_value_int64(argv[2]);
	struct doc_chunks once = { s->c, NULL, 0 };
	int year;

	(void)argc;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (d) {
			d->c = s->c;
			sqlite3_set_auxdata(ctx, 1, d, doc_chunks_free);
			d = sqlite3_get_auxdata(ctx, 1);
		}
	}
	year = doc_year(doc_of(d ? d : &once, sqlite3_value_int64(argv[0])));
	doc_chunks_clear(&once);
	sqlite3_result_int(ctx, year && year >= lo && year <= hi);
}

/* ---- mfs_rank ---------------------------------------------------------- */

/* What one query needs across its rows (FTS5 auxdata). */
struct rank_query {
	struct doc_chunks docs;
	int n_phrase;
	double n_rows;
	double avgdl;
	double *idf;		/* NAN until a row needs it */
	double *freq;		/* per row: matches of each phrase */
};

static void rank_query_free(void *p)
{
	struct rank_query *q = p;

	if (!q)
		return;
	doc_chunks_clear(&q->docs);
	free(q->idf);
	free(q->freq);
	free(q);
}

static struct rank_query *rank_query_new(const Fts5ExtensionApi *api,
					 Fts5Context *fts,
					 struct catalog_search_fn *s)
{
	struct rank_query *q = calloc(1, sizeof(*q));
	sqlite3_int64 rows = 0;
	sqlite3_int64 words = 0;
	int i;

	if (!q)
		return NULL;
	q->docs.c = s->c;
	q->n_phrase = api->xPhraseCount(fts);
	q->idf = calloc((size_t)q->n_phrase + 1, sizeof(double));
	q->freq = calloc((size_t)q->n_phrase + 1, sizeof(double));
	if (!q->idf || !q->freq || api->xRowCount(fts, &rows) ||
	    api->xColumnTotalSize(fts, -1, &words)) {
		rank_query_free(q);
		return NULL;
	}
	for (i = 0; i < q->n_phrase; i++)
		q->idf[i] = NAN;
	q->n_rows = (double)rows;
	q->avgdl = rows ? (double)words / (double)rows : 1.0;
	return q;
}

static int count_rows(const Fts5ExtensionApi *api, Fts5Context *fts,
		      void *ctx)
{
	(void)api;
	(void)fts;
	(*(sqlite3_int64 *)ctx)++;
	return SQLITE_OK;
}

/* BM25's IDF of a phrase that n rows of n_rows match. */
static double idf_of_count(double n_rows, sqlite3_int64 n)
{
	double idf = log((n_rows - (double)n + 0.5) / ((double)n + 0.5));

	return idf > 1e-6 ? idf : 1e-6;
}

/* The IDF of a phrase through a share: counted by whoever needs it first. */
static double shared_idf(struct catalog_rank_share *sh, struct rank_query *q,
			 const Fts5ExtensionApi *api, Fts5Context *fts,
			 int phrase)
{
	sqlite3_int64 n = 0;
	double idf;

	pthread_mutex_lock(&sh->lock);
	while (sh->state[phrase] == 1)
		pthread_cond_wait(&sh->known, &sh->lock);
	if (sh->state[phrase] == 2) {
		idf = sh->idf[phrase];
		pthread_mutex_unlock(&sh->lock);
		return idf;
	}
	sh->state[phrase] = 1;
	pthread_mutex_unlock(&sh->lock);
	api->xQueryPhrase(fts, phrase, &n, count_rows);
	idf = idf_of_count(q->n_rows, n);
	pthread_mutex_lock(&sh->lock);
	sh->idf[phrase] = idf;
	sh->state[phrase] = 2;
	pthread_cond_broadcast(&sh->known);
	pthread_mutex_unlock(&sh->lock);
	return idf;
}

static double idf_of(struct rank_query *q, const Fts5ExtensionApi *api,
		     Fts5Context *fts, int phrase)
{
	struct catalog_search_fn *s = api->xUserData(fts);
	sqlite3_int64 n = 0;

	if (!isnan(q->idf[phrase]))
		return q->idf[phrase];
	if (q->n_phrase == 1) {
		/*
		 * One phrase: the same factor for every row, so it cannot
		 * change the order; counting its rows would cost a pass over
		 * them (10 ms for a word in 200,000 tracks).
		 */
		q->idf[phrase] = 1.0;
		return 1.0;
	}
	if (s && s->share && phrase < CATALOG_SHARE_PHRASES) {
		q->idf[phrase] = shared_idf(s->share, q, api, fts, phrase);
		return q->idf[phrase];
	}
	api->xQueryPhrase(fts, phrase, &n, count_rows);
	q->idf[phrase] = idf_of_count(q->n_rows, n);
	return q->idf[phrase];
}

static double row_words(struct rank_query *q, const Fts5ExtensionApi *api,
			Fts5Context *fts)
{
	const uint8_t *d = doc_of(&q->docs, api->xRowid(fts));
	int n = d ? d[0] : 0;

	if (!n && api->xColumnSize(fts, -1, &n) != SQLITE_OK)
		n = 1;
	return n > 0 ? n : 1;
}

static void fn_rank(const Fts5ExtensionApi *api, Fts5Context *fts,
		    sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct rank_query *q = api->xGetAuxdata(fts, 0);
	const double k1 = 1.2;
	const double b = 0.75;
	double score = 0;
	double norm;
	int i;
	int phrase;
	int col;
	int off;

	(void)argc;
	(void)argv;
	if (!q) {
		q = rank_query_new(api, fts, api->xUserData(fts));
		/* on failure FTS5 frees q itself */
		if (!q || api->xSetAuxdata(fts, q, rank_query_free)) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
	}
	/*
	 * Walk each phrase's positions in this row: xInst would first build
	 * FTS5's instance array of every phrase (half of the cost of a
	 * query with 200,000 rows).
	 */
	for (phrase = 0; phrase < q->n_phrase; phrase++) {
		Fts5PhraseIter it;

		q->freq[phrase] = 0;
		if (api->xPhraseFirst(fts, phrase, &it, &col, &off))
			continue;
		for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off))
			if (col != YEAR_COLUMN)
				q->freq[phrase] += 1;
	}
	norm = k1 * (1 - b + b * row_words(q, api, fts) / q->avgdl);
	for (i = 0; i < q->n_phrase; i++)
		if (q->freq[i] > 0)
			score += idf_of(q, api, fts, i) * q->freq[i] *
				 (k1 + 1) / (q->freq[i] + norm);
	sqlite3_result_double(ctx, score);
}

/* ---- registration ------------------------------------------------------ */

static fts5_api *fts5_api_of(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return NULL;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return api;
}

static int create_tokenizer(struct catalog_search_fn *s)
{
	const char *args[] = { "remove_diacritics", "2" };
	void *ud = NULL;

	s->api = fts5_api_of(s->c->db);
	if (!s->api ||
	    s->api->xFindTokenizer(s->api, "unicode61", &ud, &s->tok) ||
	    s->tok.xCreate(ud, args, 2, &s->tk))
		return -EIO;
	return 0;
}

static int create_functions(struct catalog_search_fn *s)
{
	const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	sqlite3 *db = s->c->db;
	int rc;

	rc = sqlite3_create_function(db, "mfs_fold", 1, det, s, fn_fold,
				     NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "mfs_lev", 3, det, s, fn_lev,
					     NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "mfs_search_terms", -1, det,
					     s, fn_terms, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "mfs_search_doc", -1, det, s,
					     fn_doc, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "mfs_search_docs", -1, det,
					     s, NULL, fn_docs_step,
					     fn_docs_final);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "mfs_year_in", 3,
					     SQLITE_UTF8 | SQLITE_INNOCUOUS, s,
					     fn_year_in, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = s->api->xCreateFunction(s->api, "mfs_rank", s, fn_rank,
					     NULL);
	return rc == SQLITE_OK ? 0 : catalog_errno(s->c, rc,
						   "register search functions");
}

int catalog_search_fn_new(struct catalog *c, struct catalog_search_fn **out)
{
	struct catalog_search_fn *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->c = c;
	rc = create_tokenizer(s);
	if (rc)
		mfs_log(MFS_LOG_ERROR, "catalog '%s': FTS5's unicode61 "
			"tokenizer is missing", c->path);
	else
		rc = create_functions(s);
	if (rc) {
		catalog_search_fn_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void catalog_search_fn_free(struct catalog_search_fn *s)
{
	if (!s)
		return;
	if (s->tk)
		s->tok.xDelete(s->tk);
	free(s);
}
