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
 *   mfs_search_len(lens, id, col, ...)  lens (a chunk of search_lens) with
 *                                 the byte of row id set to its number of
 *                                 words (no column: 0)
 *   mfs_search_lens(id, col, ...) the same as an aggregate over a chunk
 *   mfs_rank(search_fts)          FTS5 auxiliary function: relevance
 *
 * Words are cut and folded by FTS5's own unicode61 tokenizer, created
 * with the options of search_fts, so the vocabulary and the lengths are
 * exactly what the index holds.
 *
 * mfs_rank is BM25 as FTS5's bm25() computes it (k1 = 1.2, b = 0.75, IDF
 * ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, the document length
 * being the number of words in all columns) with two differences: a match
 * in the year column never scores (years are filters: year ranges become
 * year-column phrases), and the document length comes from search_lens,
 * one byte per track in chunks of 2048, read once per chunk and query.
 * bm25() reads %_docsize once per hit, about 1 µs each: 100 ms to rank
 * the 95,000 hits of `metal` in a million tracks, where mfs_rank takes
 * 15 ms.  A length of 0 (not recorded) falls back to FTS5's xColumnSize.
 */
#include "common/mfs.h"
#include "common/buf.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <math.h>

#define LEV_MAX_CHARS 64	/* longer words are never "near" another */
#define YEAR_COLUMN 6		/* search_fts column of the year */
#define TERMS_MAX 4096		/* bytes of JSON per row (the rest dropped) */

struct catalog_search_fn {
	struct catalog *c;
	fts5_api *api;
	fts5_tokenizer tok;	/* unicode61's methods */
	Fts5Tokenizer *tk;	/* an instance: remove_diacritics 2 */
};

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

static void fn_lev(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *sa = sqlite3_value_text(argv[0]);
	const unsigned char *sb = sqlite3_value_text(argv[1]);
	int k = sqlite3_value_int(argv[2]);
	int32_t a[LEV_MAX_CHARS];
	int32_t b[LEV_MAX_CHARS];
	int la;
	int lb;

	(void)argc;
	if (!sa || !sb)
		return;
	k = MFS_MAX(0, MFS_MIN(k, LEV_MAX_CHARS));
	la = decode(sa, a);
	lb = decode(sb, b);
	if (la < 0 || lb < 0) {
		sqlite3_result_int(ctx, strcmp((const char *)sa,
					       (const char *)sb) ? k + 1 : 0);
		return;
	}
	sqlite3_result_int(ctx, catalog_levenshtein(a, la, b, lb, k));
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
		if (tok[i] == '"' || tok[i] == '\\' || (unsigned char)tok[i] < 32)
			return SQLITE_OK;
	if (json_has(&t->json, tok, n))
		return SQLITE_OK;
	if (buf_addf(&t->json, "%s\"%.*s\"", t->json.len > 1 ? "," : "", n,
		     tok))
		t->rc = -EFBIG;	/* a huge row: the words so far will do */
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

static void fn_len(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct catalog_search_fn *s = sqlite3_user_data(ctx);
	uint8_t chunk[CATALOG_LENS_CHUNK] = { 0 };
	int64_t id = sqlite3_value_int64(argv[1]);
	int n = sqlite3_value_bytes(argv[0]);

	if (n > 0)
		memcpy(chunk, sqlite3_value_blob(argv[0]),
		       (size_t)MFS_MIN(n, CATALOG_LENS_CHUNK));
	chunk[id & (CATALOG_LENS_CHUNK - 1)] =
		(uint8_t)row_length(s, argc - 2, argv + 2);
	sqlite3_result_blob(ctx, chunk, CATALOG_LENS_CHUNK, SQLITE_TRANSIENT);
}

static void fn_lens_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct catalog_search_fn *s = sqlite3_user_data(ctx);
	uint8_t *chunk = sqlite3_aggregate_context(ctx, CATALOG_LENS_CHUNK);
	int64_t id = sqlite3_value_int64(argv[0]);

	if (!chunk) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	chunk[id & (CATALOG_LENS_CHUNK - 1)] =
		(uint8_t)row_length(s, argc - 1, argv + 1);
}

static void fn_lens_final(sqlite3_context *ctx)
{
	uint8_t *chunk = sqlite3_aggregate_context(ctx, 0);

	if (chunk)
		sqlite3_result_blob(ctx, chunk, CATALOG_LENS_CHUNK,
				    SQLITE_TRANSIENT);
}

/* ---- mfs_rank ---------------------------------------------------------- */

/* What one query needs across its rows (FTS5 auxdata). */
struct rank_query {
	struct catalog_search_fn *s;
	int n_phrase;
	double n_rows;
	double avgdl;
	double *idf;		/* NAN until a row needs it */
	double *freq;		/* per row: matches of each phrase */
	uint8_t **chunks;	/* search_lens chunks read so far */
	size_t n_chunks;
};

static void rank_query_free(void *p)
{
	struct rank_query *q = p;
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->n_chunks; i++)
		free(q->chunks[i]);
	free(q->chunks);
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
	q->s = s;
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

static double idf_of(struct rank_query *q, const Fts5ExtensionApi *api,
		     Fts5Context *fts, int phrase)
{
	sqlite3_int64 n = 0;
	double idf;

	if (!isnan(q->idf[phrase]))
		return q->idf[phrase];
	api->xQueryPhrase(fts, phrase, &n, count_rows);
	idf = log((q->n_rows - (double)n + 0.5) / ((double)n + 0.5));
	q->idf[phrase] = idf > 1e-6 ? idf : 1e-6;
	return q->idf[phrase];
}

/* The chunk of search_lens holding row id (NULL: none recorded). */
static const uint8_t *lens_chunk(struct rank_query *q, int64_t id)
{
	size_t k = (size_t)(id >> CATALOG_LENS_BITS);
	sqlite3_stmt *st;
	uint8_t **grown;
	uint8_t *chunk;

	if (k < q->n_chunks && q->chunks[k])
		return q->chunks[k];
	if (k >= q->n_chunks) {
		grown = realloc(q->chunks, (k + 1) * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + q->n_chunks, 0,
		       (k + 1 - q->n_chunks) * sizeof(*grown));
		q->chunks = grown;
		q->n_chunks = k + 1;
	}
	st = catalog_stmt(q->s->c, STMT_SEARCH_LENS);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, (int64_t)k);
	chunk = calloc(1, CATALOG_LENS_CHUNK);
	if (chunk && sqlite3_step(st) == SQLITE_ROW)
		memcpy(chunk, sqlite3_column_blob(st, 0),
		       (size_t)MFS_MIN(sqlite3_column_bytes(st, 0),
				       CATALOG_LENS_CHUNK));
	sqlite3_reset(st);
	q->chunks[k] = chunk;	/* all zeros if none: falls back per row */
	return chunk;
}

static double row_words(struct rank_query *q, const Fts5ExtensionApi *api,
			Fts5Context *fts)
{
	int64_t id = api->xRowid(fts);
	const uint8_t *chunk = lens_chunk(q, id);
	int n = chunk ? chunk[id & (CATALOG_LENS_CHUNK - 1)] : 0;

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
	int n_inst = 0;
	int i;
	int phrase;
	int col;
	int off;

	(void)argc;
	(void)argv;
	if (!q) {
		q = rank_query_new(api, fts, api->xUserData(fts));
		if (!q || api->xSetAuxdata(fts, q, rank_query_free)) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
	}
	memset(q->freq, 0, (size_t)q->n_phrase * sizeof(double));
	api->xInstCount(fts, &n_inst);
	for (i = 0; i < n_inst; i++)
		if (!api->xInst(fts, i, &phrase, &col, &off) &&
		    col != YEAR_COLUMN && phrase < q->n_phrase)
			q->freq[phrase] += 1;
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
		rc = sqlite3_create_function(db, "mfs_search_len", -1, det, s,
					     fn_len, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "mfs_search_lens", -1, det,
					     s, NULL, fn_lens_step,
					     fn_lens_final);
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
