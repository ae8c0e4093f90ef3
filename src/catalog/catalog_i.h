/*
 * catalog_i.h - internals shared by the catalog's source files.
 */
#ifndef MFS_CATALOG_CATALOG_I_H
#define MFS_CATALOG_CATALOG_I_H

#include "catalog/catalog.h"

#include <pthread.h>
#include <sqlite3.h>

/* Every statement the catalog runs, prepared once per connection. */
enum catalog_stmt {
	STMT_META_GET,
	STMT_META_SET,
	STMT_ORIGIN_GET,
	STMT_ORIGIN_INSERT,
	STMT_ORIGIN_UPDATE,
	STMT_FILE_STAMP,
	STMT_FILE_INSERT,
	STMT_FILE_UPDATE,
	STMT_FILE_TOUCH,
	STMT_FILE_TOUCH_UNDER,
	STMT_FILE_DELETE,
	STMT_FILE_GET,
	STMT_FILE_PICTURE,
	STMT_FILE_SET_PLACED,
	STMT_FILE_EXTRA,
	STMT_EXTRA_DELETE,
	STMT_EXTRA_INSERT,
	STMT_PICTURE_DELETE,
	STMT_PICTURE_INSERT,
	STMT_FILES_UNSEEN,
	STMT_FILES_UNDER,
	STMT_FILES_COUNT,
	STMT_TRACKS_IN_DIR,
	STMT_IMAGES_IN_DIR,
	STMT_ALBUM_MULTI,
	STMT_ALBUM_MISPLACED,
	STMT_TRACKS_ALL,
	STMT_VNODE_GET,
	STMT_VNODE_LOOKUP,
	STMT_VNODE_CHILDREN,
	STMT_VNODE_INSERT,
	STMT_VNODE_DELETE,
	STMT_VNODE_RENAME,
	STMT_VNODE_UPDATE,
	STMT_VNODE_TOUCH,
	STMT_VNODE_SET_WANT,
	STMT_VNODE_WANTING,
	STMT_VNODE_OF_FILE,
	STMT_VNODE_CHILD_KIND,
	STMT_VNODE_HAS_CHILDREN,
	STMT_VNODE_FIRST_TRACK,
	STMT_VNODE_COUNT,
	STMT_VNODE_COUNT_RANGE,
	STMT_SPELLING_ADD,
	STMT_SPELLING_DELETE_ZERO,
	STMT_SPELLING_TOP,
	/* the chunk cache's index (chunks.c) */
	STMT_WINDOW_CHUNKS,
	STMT_CHUNK_PUT,
	STMT_FILE_CHUNK_PUT,
	STMT_CHUNK_TOUCH,
	STMT_CHUNKS_OLDEST,
	STMT_CHUNK_UNLINK_FILES,
	STMT_CHUNK_DELETE,
	STMT_CHUNK_KNOWN,
	STMT_CACHE_TOTALS,
	STMT_CACHE_BY_ORIGIN,
	STMT_ORIGIN_CHUNKS_DROP,
	STMT_CHUNKS_UNREFERENCED,
	/* search (search.c, search_fn.c) */
	STMT_DATA_VERSION,
	STMT_SEARCH_DOCS,
	STMT_VNODE_PATH,
	STMT_COUNT
};

struct catalog {
	sqlite3 *db;
	enum catalog_mode mode;
	char *path;
	sqlite3_stmt *stmts[STMT_COUNT];	/* prepared lazily */
	struct catalog_search_state *search;	/* statements, results */
	struct catalog_search_fn *search_fn;	/* SQL functions' state */
	/* ranks half of a search's hits (search_split.c): made on first use */
	struct catalog_search_helper *search_helper;
};

/* Map a SQLite result code to a negative errno and log it. */
int catalog_errno(struct catalog *c, int rc, const char *what);

/* The prepared statement for id, reset and with its bindings cleared. */
sqlite3_stmt *catalog_stmt(struct catalog *c, enum catalog_stmt id);

/* Step a statement that returns no row (then reset it). */
int catalog_step_done(struct catalog *c, sqlite3_stmt *st, const char *what);

/*
 * Step a statement that returns at most one row: 0 with the row current
 * (the caller reads its columns, then resets), -ENOENT for no row.
 */
int catalog_step_row(struct catalog *c, sqlite3_stmt *st, const char *what);

/* Run a statement yielding an id per row through cb (non-zero stops). */
int catalog_step_ids(struct catalog *c, sqlite3_stmt *st,
		     int (*cb)(void *ctx, int64_t id), void *ctx,
		     const char *what);

/* Run statement id with integer parameters ?1 = a (and ?2 = b if it has one). */
int catalog_exec_ints(struct catalog *c, enum catalog_stmt id, int64_t a,
		      int64_t b, const char *what);

/* Run the count(*) statement id with ?1 = a. */
int catalog_count(struct catalog *c, enum catalog_stmt id, int64_t a,
		  int64_t *n, const char *what);

/* Bind text (not copied: it must outlive the step) or NULL. */
void catalog_bind_text(sqlite3_stmt *st, int i, const char *s);

/*
 * search_docs: per track, its number of words (byte 0, capped at 255) and
 * its year (bytes 2-3, little-endian; 0: none), CATALOG_DOC_BYTES each, in
 * chunks of CATALOG_DOCS_CHUNK tracks by id (the schema's triggers spell
 * the same numbers: id >> 11 is the chunk, zeroblob(8192) a new one).
 */
#define CATALOG_DOCS_BITS 11
#define CATALOG_DOCS_CHUNK (1 << CATALOG_DOCS_BITS)
#define CATALOG_DOC_BYTES 4
#define CATALOG_DOCS_BYTES (CATALOG_DOCS_CHUNK * CATALOG_DOC_BYTES)

/*
 * Search state of a connection (search.c): made by catalog_open before
 * the schema is touched (it registers the SQL functions the triggers
 * call); catalog_search_close runs before the connection closes and
 * catalog_search_fn_free after.
 */
int catalog_search_open(struct catalog *c);
void catalog_search_close(struct catalog *c);

/* Bind q's parameters to st, a statement of its SQL (search.c). */
void catalog_search_bind(sqlite3_stmt *st,
			 const struct catalog_search_query *q);

/*
 * Rank q's hits on two threads when q allows it (a rowid range) and the
 * catalog is large: *sql = a SELECT of (id, score) over the merged best
 * hits, in hits_sql's order, for the caller to read instead of hits_sql.
 * *sql NULL: not split (rank in one pass).  0 or -errno.
 * (search_split.c)
 */
int catalog_search_split(struct catalog *c,
			 const struct catalog_search_query *q, char **sql);
void catalog_search_helper_free(struct catalog_search_helper *hp);

/*
 * The IDF of each phrase of one query ranked in parts: the first part to
 * need a phrase's IDF counts its rows (a pass over them: 7-10 ms for a
 * word in 200,000 tracks), the others wait for it instead of counting too.
 * Phrases past CATALOG_SHARE_PHRASES are counted by each part.
 */
#define CATALOG_SHARE_PHRASES 64
struct catalog_rank_share {
	pthread_mutex_t lock;
	pthread_cond_t known;
	double idf[CATALOG_SHARE_PHRASES];
	uint8_t state[CATALOG_SHARE_PHRASES];	/* 0 unknown, 1 counting, 2 set */
};

/* Rank with share on c from now (NULL: on one's own again). */
void catalog_search_fn_share(struct catalog *c,
			     struct catalog_rank_share *share);

/* The SQL functions of search (search_fn.c). */
int catalog_search_fn_new(struct catalog *c, struct catalog_search_fn **out);
void catalog_search_fn_free(struct catalog_search_fn *s);

#ifdef MFS_UNIT_TEST
/* The result cache's clock, in seconds (tests move it). */
extern int64_t (*catalog_search_now)(void);
/* Catalogs with fewer files ids are ranked in one pass (tests: 0). */
extern int64_t catalog_search_split_min;
int catalog_levenshtein(const int32_t *a, int la, const int32_t *b, int lb,
			int k);
#endif

/* Create or migrate the schema to CATALOG_SCHEMA_VERSION (schema.c). */
int catalog_migrate(struct catalog *c);

#endif
