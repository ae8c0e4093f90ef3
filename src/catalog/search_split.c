/*
 * search_split.c - ranking the hits of one text search on two cores.
 *
 * Why: a word in a fifth of a million tracks ("love", genre:"Rock") has
 * 200,000 hits, all of which FTS5 must walk and mfs_rank must score to
 * keep the best 1000: ~50 ms of one core, most of a search's tail.  The
 * rowids are cut in two halves: this thread ranks the lower one on the
 * caller's connection while a helper thread ranks the upper one on a
 * connection of its own; the best 1000 of the two best-1000 lists are the
 * best 1000 of all (same order: score, then rowid), and every score is
 * the same as in one pass, since mfs_rank's IDF and row counts are over
 * the whole index, not the rows a statement visits.
 *
 * The merged hits go back to search.c as the text of a SELECT over VALUES
 * (ids and scores printed exactly: %.17g), which its tags-and-order
 * wrapper reads like any hits statement.  The two connections may see
 * different commits if the scanner commits between their starts: a list
 * mixing two moments a few milliseconds apart, as two searches would.
 *
 * Catalogs under SPLIT_MIN_IDS files are ranked in one pass (splitting
 * costs a thread hand-off and a prepare, ~0.1 ms).
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CATALOG
#include "log/log.h"
#include "catalog/catalog_i.h"

#include <pthread.h>

#define SPLIT_MIN_IDS 50000

MFS_TESTABLE int64_t catalog_search_split_min = SPLIT_MIN_IDS;

/* One ranked hit. */
struct hit {
	int64_t id;
	double score;
};

/* A half's work and answer. */
struct half {
	const struct catalog_search_query *q;
	int64_t lo, hi;		/* rowids */
	struct hit *hits;	/* CATALOG_SEARCH_MAX */
	size_t n;
	int rc;
};

struct catalog_search_helper {
	struct catalog *conn;	/* the helper thread's own */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	/* protected by lock */
	struct half *job;	/* set by the caller, cleared when done */
	bool stop;
};

/* Rank [h->lo, h->hi] of h->q on c into h->hits. */
static void rank_half(struct catalog *c, struct half *h)
{
	sqlite3_stmt *st = NULL;
	int step = SQLITE_DONE;
	int rc;

	h->n = 0;
	rc = sqlite3_prepare_v2(c->db, h->q->hits_sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		h->rc = catalog_errno(c, rc, "prepare a ranking half");
		sqlite3_finalize(st);
		return;
	}
	catalog_search_bind(st, h->q);
	sqlite3_bind_int64(st, h->q->rowid_range, h->lo);
	sqlite3_bind_int64(st, h->q->rowid_range + 1, h->hi);
	while (h->n < CATALOG_SEARCH_MAX &&
	       (step = sqlite3_step(st)) == SQLITE_ROW) {
		h->hits[h->n].id = sqlite3_column_int64(st, 0);
		h->hits[h->n].score = sqlite3_column_double(st, 1);
		h->n++;
	}
	h->rc = step == SQLITE_ROW || step == SQLITE_DONE
			? 0 : catalog_errno(c, step, "rank a half");
	sqlite3_finalize(st);
}

static void *helper_main(void *arg)
{
	struct catalog_search_helper *hp = arg;
	struct half *job;

	pthread_mutex_lock(&hp->lock);
	for (;;) {
		while (!hp->job && !hp->stop)
			pthread_cond_wait(&hp->cv, &hp->lock);
		if (hp->stop)
			break;
		job = hp->job;
		pthread_mutex_unlock(&hp->lock);
		rank_half(hp->conn, job);
		pthread_mutex_lock(&hp->lock);
		hp->job = NULL;
		pthread_cond_broadcast(&hp->cv);
	}
	pthread_mutex_unlock(&hp->lock);
	return NULL;
}

void catalog_search_helper_free(struct catalog_search_helper *hp)
{
	if (!hp)
		return;
	pthread_mutex_lock(&hp->lock);
	hp->stop = true;
	pthread_cond_broadcast(&hp->cv);
	pthread_mutex_unlock(&hp->lock);
	pthread_join(hp->thread, NULL);
	catalog_close(&hp->conn);
	pthread_cond_destroy(&hp->cv);
	pthread_mutex_destroy(&hp->lock);
	free(hp);
}

static struct catalog_search_helper *helper_new(struct catalog *c)
{
	struct catalog_search_helper *hp = calloc(1, sizeof(*hp));

	if (!hp)
		return NULL;
	if (catalog_open(c->path, CATALOG_READER, 0, &hp->conn)) {
		free(hp);
		return NULL;
	}
	pthread_mutex_init(&hp->lock, NULL);
	pthread_cond_init(&hp->cv, NULL);
	if (pthread_create(&hp->thread, NULL, helper_main, hp)) {
		catalog_close(&hp->conn);
		pthread_cond_destroy(&hp->cv);
		pthread_mutex_destroy(&hp->lock);
		free(hp);
		return NULL;
	}
	return hp;
}

/* The largest files id (0: none). */
static int64_t max_file_id(struct catalog *c)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT max(id) FROM files", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

/* Score descending, then rowid: the order of hits_sql. */
static bool better(const struct hit *a, const struct hit *b)
{
	return a->score > b->score || (a->score == b->score && a->id < b->id);
}

/* The best CATALOG_SEARCH_MAX of two lists each in that order. */
static size_t merge(const struct half *a, const struct half *b,
		    struct hit *out)
{
	size_t i = 0, j = 0, n = 0;

	while (n < CATALOG_SEARCH_MAX && (i < a->n || j < b->n)) {
		if (j >= b->n || (i < a->n && better(&a->hits[i], &b->hits[j])))
			out[n++] = a->hits[i++];
		else
			out[n++] = b->hits[j++];
	}
	return n;
}

/* SELECT id, score over the merged hits, in their order. */
static char *values_sql(const struct hit *hits, size_t n)
{
	struct buf b = BUF_INIT_MAX(64 * CATALOG_SEARCH_MAX + 256);
	size_t i;
	int rc;

	if (!n)
		return strdup("SELECT 0 AS id, 0.0 AS score WHERE 0");
	rc = buf_adds(&b, "SELECT column1 AS id, column2 AS score FROM "
			  "(VALUES ");
	for (i = 0; !rc && i < n; i++)
		rc = buf_addf(&b, "%s(%" PRId64 ", %.17g)", i ? ", " : "",
			      hits[i].id, hits[i].score);
	if (!rc)
		rc = buf_adds(&b, ")");
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

int catalog_search_split(struct catalog *c,
			 const struct catalog_search_query *q, char **sql)
{
	struct catalog_search_helper *hp;
	struct half low = { .q = q }, high = { .q = q };
	struct catalog_rank_share share = { 0 };
	struct hit *merged = NULL;
	int64_t top;
	int rc;

	*sql = NULL;
	if (q->rowid_range <= 0 ||
	    (size_t)q->rowid_range + 1 > q->n_params)
		return 0;
	top = max_file_id(c);
	if (top < catalog_search_split_min || top < 2)
		return 0;
	if (!c->search_helper)
		c->search_helper = helper_new(c);
	hp = c->search_helper;
	if (!hp)
		return 0;	/* ranked in one pass after all */
	low.lo = 0;
	low.hi = top / 2;
	high.lo = top / 2 + 1;
	high.hi = INT64_MAX;
	low.hits = malloc(CATALOG_SEARCH_MAX * sizeof(*low.hits));
	high.hits = malloc(CATALOG_SEARCH_MAX * sizeof(*high.hits));
	merged = malloc(CATALOG_SEARCH_MAX * sizeof(*merged));
	rc = low.hits && high.hits && merged ? 0 : -ENOMEM;
	if (!rc) {
		/* both halves count each phrase's rows for its IDF once */
		pthread_mutex_init(&share.lock, NULL);
		pthread_cond_init(&share.known, NULL);
		catalog_search_fn_share(c, &share);
		catalog_search_fn_share(hp->conn, &share);
		pthread_mutex_lock(&hp->lock);
		hp->job = &high;
		pthread_cond_broadcast(&hp->cv);
		pthread_mutex_unlock(&hp->lock);
		rank_half(c, &low);
		pthread_mutex_lock(&hp->lock);
		while (hp->job)
			pthread_cond_wait(&hp->cv, &hp->lock);
		pthread_mutex_unlock(&hp->lock);
		catalog_search_fn_share(c, NULL);
		catalog_search_fn_share(hp->conn, NULL);
		pthread_cond_destroy(&share.known);
		pthread_mutex_destroy(&share.lock);
		rc = low.rc ? low.rc : high.rc;
	}
	if (!rc) {
		*sql = values_sql(merged, merge(&low, &high, merged));
		if (!*sql)
			rc = -ENOMEM;
	}
	free(low.hits);
	free(high.hits);
	free(merged);
	return rc;
}
