/*
 * catalog.h - the catalog: MusicFS's persistent state in one SQLite file.
 *
 * Owns: cache_dir/musicfs.db (WAL mode), its schema and migrations, and
 * every SQL statement of MusicFS: no other module sees SQL.  It stores the
 * origins, the scanned files with their tags, and the virtual tree
 * (vnodes: inode numbers, parent, name) that FUSE serves.
 *
 * Threads: a struct catalog is one SQLite connection and must be used by
 * one thread at a time.  The scanner owns the single writer connection;
 * every FUSE worker thread opens a reader connection of its own (WAL lets
 * readers run while the writer commits, and they never block each other).
 *
 * Errors: 0 or a negative errno; SQLite result codes are mapped in one
 * place (catalog_errno) and logged with the statement that failed.
 * Memory: functions that fill a struct say how to release it.
 */
#ifndef MFS_CATALOG_CATALOG_H
#define MFS_CATALOG_CATALOG_H

#include "common/mfs.h"
#include "formats/formats.h"

#define CATALOG_SCHEMA_VERSION 4
#define CATALOG_NAME_MAX 255

struct catalog;

enum catalog_mode {
	CATALOG_WRITER,		/* creates and migrates the schema */
	CATALOG_READER,		/* query_only; the schema must exist */
};

/*
 * Open the catalog at path.  cache_kb bounds SQLite's page cache of this
 * connection (0 = SQLite's default).  On success *out is owned by the
 * caller (catalog_close).  -EIO with a logged reason if the file is not a
 * MusicFS catalog or its schema is newer than this binary.
 */
int catalog_open(const char *path, enum catalog_mode mode, int64_t cache_kb,
		 struct catalog **out);

/* Close and clear *c; accepts NULL and *c == NULL. */
void catalog_close(struct catalog **c);

/*
 * Read the database through a memory map of up to bytes instead of a
 * pread per page: for a short-lived process that reads a few hundred pages
 * once (musicfs search: 600 reads of a 10k-track catalog otherwise).  The
 * daemon's connections keep pread, so that its RSS counts only its own
 * page cache.  0 or -errno.
 */
int catalog_map_file(struct catalog *c, int64_t bytes);

/* Give back the page cache of an idle connection (it refills on use). */
void catalog_release_memory(struct catalog *c);

/*
 * Bound the memory of every catalog connection of the process together
 * (metadata_cache_mb): past it, SQLite recycles page-cache pages instead of
 * growing.  0 = no bound.
 */
void catalog_limit_memory(int64_t bytes);

/* Transactions on the writer connection. */
int catalog_begin(struct catalog *c);
int catalog_commit(struct catalog *c);
void catalog_rollback(struct catalog *c);

/* meta table: key/value strings.  *value is malloc'd (caller frees). */
int catalog_meta_get(struct catalog *c, const char *key, char **value);
int catalog_meta_set(struct catalog *c, const char *key, const char *value);

/* ---- origins ----------------------------------------------------------- */

/*
 * The row id of the origin named name, created if missing (type and root
 * are updated if they changed).
 */
int catalog_origin_ensure(struct catalog *c, const char *name,
			  const char *type, const char *root, int64_t *id);

/* ---- files ------------------------------------------------------------- */

enum catalog_role {
	CATALOG_ROLE_TRACK = 1,		/* an audio file, shown in the tree */
	CATALOG_ROLE_IMAGE = 2,		/* cover.jpg & co in an origin folder */
};

struct catalog_file {
	int64_t id;
	int64_t origin;
	char *relpath;			/* path inside the origin */
	int64_t size;
	int64_t mtime_ns;
	enum catalog_role role;
	struct formats_meta meta;	/* tags, info, picture location */
	bool pic_blob;			/* picture stored decoded in the catalog */
	bool placed_multi;		/* multi-disc flag used to place it */
	int64_t added_at;		/* unix seconds */
};

/* Free what f owns and zero it. */
void catalog_file_release(struct catalog_file *f);

/* Size and mtime recorded for (origin, relpath): -ENOENT if none. */
int catalog_file_stamp(struct catalog *c, int64_t origin, const char *relpath,
		       int64_t *id, int64_t *size, int64_t *mtime_ns);

/* What catalog_file_put stores about one file. */
struct catalog_file_info {
	int64_t origin;
	const char *relpath;
	int64_t size;
	int64_t mtime_ns;
	enum catalog_role role;
	const struct formats_meta *meta;	/* NULL: no tags */
	const char *album_key;			/* tree's grouping key, or NULL */
	int64_t gen;				/* scan generation that saw it */
};

/*
 * Insert or update the file (origin, relpath) and mark it seen by the
 * scan generation.  An existing row keeps its id.  Extra tags and a
 * decoded picture replace the old ones.  *id receives the row id.
 */
int catalog_file_put(struct catalog *c, const struct catalog_file_info *info,
		     int64_t *id);

/* Mark the file seen by scan generation gen. */
int catalog_file_touch(struct catalog *c, int64_t id, int64_t gen);

/* Mark every file under dir ("" = all) seen: a folder that failed to list. */
int catalog_files_touch_under(struct catalog *c, int64_t origin,
			      const char *dir, int64_t gen);

/* Delete the file row, its extra tags and its picture. */
int catalog_file_delete(struct catalog *c, int64_t id);

/* Load the file (without its decoded picture).  Release with catalog_file_release. */
int catalog_file_get(struct catalog *c, int64_t id, struct catalog_file *f);

/* Decoded picture bytes (malloc'd, caller frees): -ENOENT if none. */
int catalog_file_picture(struct catalog *c, int64_t id, uint8_t **data,
			 size_t *len);

/* Record the multi-disc flag the file was placed with. */
int catalog_file_set_placed_multi(struct catalog *c, int64_t id, bool multi);

/* Extra tags of a file, in key order: cb returns non-zero to stop. */
int catalog_file_extra(struct catalog *c, int64_t id,
		       int (*cb)(void *ctx, const char *key, const char *value),
		       void *ctx);

/*
 * Ids of files of origin under folder dir ("" = all) not seen by scan
 * generation gen: the ones that vanished.
 */
int catalog_files_unseen(struct catalog *c, int64_t origin, const char *dir,
			 int64_t gen, int (*cb)(void *ctx, int64_t id),
			 void *ctx);

/* Ids of files of origin whose relpath is dir or under dir/. */
int catalog_files_under(struct catalog *c, int64_t origin, const char *dir,
			int (*cb)(void *ctx, int64_t id), void *ctx);

/* Number of files of origin (of any role). */
int catalog_files_count(struct catalog *c, int64_t origin, int64_t *n);

/* Ids of tracks directly in folder dir of origin. */
int catalog_tracks_in_dir(struct catalog *c, int64_t origin, const char *dir,
			  int (*cb)(void *ctx, int64_t id), void *ctx);

/*
 * The best cover image file in folder dir of origin (cover.*, folder.*,
 * front.*, in that order, jpg before png): -ENOENT if none.
 */
int catalog_image_in_dir(struct catalog *c, int64_t origin, const char *dir,
			 int64_t *id);

/* Album grouping: does any track of album key have disc > 1 or disc total > 1? */
int catalog_album_multi_disc(struct catalog *c, const char *album_key,
			     bool *multi);

/* Tracks of album key placed with a multi-disc flag other than multi. */
int catalog_album_misplaced(struct catalog *c, const char *album_key,
			    bool multi, int (*cb)(void *ctx, int64_t id),
			    void *ctx);

/* Every track id, for a full rebuild of the tree. */
int catalog_tracks_all(struct catalog *c, int (*cb)(void *ctx, int64_t id),
		       void *ctx);

/* ---- vnodes: the virtual tree ------------------------------------------ */

enum catalog_vnode_kind {
	CATALOG_VNODE_DIR = 1,
	CATALOG_VNODE_TRACK = 2,
	CATALOG_VNODE_COVER = 3,
};

#define CATALOG_ROOT_INO 1

struct catalog_vnode {
	int64_t ino;
	int64_t parent;
	enum catalog_vnode_kind kind;
	int64_t file;		/* track: its file; cover: the file holding the image */
	int64_t size;
	int64_t mtime_ns;
	int64_t src_offset;	/* cover: where the image starts in file (-1: blob) */
	char name[CATALOG_NAME_MAX + 1];
};

/* -ENOENT if no such inode. */
int catalog_vnode_get(struct catalog *c, int64_t ino, struct catalog_vnode *v);

/* The child of parent with this fold key (see tree): -ENOENT if none. */
int catalog_vnode_lookup_fold(struct catalog *c, int64_t parent,
			      const char *fold, struct catalog_vnode *v);

/*
 * Children of parent with ino > after, in inode order; cb returns non-zero
 * to stop (the entry it stopped on is not consumed: its ino is not passed
 * as `after` next time unless the caller chooses so).
 */
int catalog_vnode_children(struct catalog *c, int64_t parent, int64_t after,
			   int (*cb)(void *ctx, const struct catalog_vnode *v),
			   void *ctx);

/* Insert a vnode (v->ino is set on return). */
int catalog_vnode_insert(struct catalog *c, struct catalog_vnode *v,
			 const char *fold);

int catalog_vnode_delete(struct catalog *c, int64_t ino);

int catalog_vnode_rename(struct catalog *c, int64_t ino, const char *name,
			 const char *fold);

/* Update size, mtime, file and src_offset of a vnode. */
int catalog_vnode_update(struct catalog *c, const struct catalog_vnode *v);

/* Set the mtime of a directory. */
int catalog_vnode_touch(struct catalog *c, int64_t ino, int64_t mtime_ns);

/*
 * Record that a vnode carries a " (N)" name because the name whose fold
 * key is fold was taken (NULL: it has the name it wanted).  Renaming a
 * vnode clears it.
 */
int catalog_vnode_set_want(struct catalog *c, int64_t ino, const char *fold);

/* The oldest child of parent waiting for the name of fold key fold. */
int catalog_vnode_wanting(struct catalog *c, int64_t parent, const char *fold,
			  struct catalog_vnode *v);

/* The vnode of kind placed for file: -ENOENT if none. */
int catalog_vnode_of_file(struct catalog *c, int64_t file,
			  enum catalog_vnode_kind kind, struct catalog_vnode *v);

/* The first child of kind of parent (covers): -ENOENT if none. */
int catalog_vnode_child_of_kind(struct catalog *c, int64_t parent,
				enum catalog_vnode_kind kind,
				struct catalog_vnode *v);

/* Does parent have any child? */
int catalog_vnode_has_children(struct catalog *c, int64_t parent, bool *any);

/* The first track of an album folder by (disc, track, name). */
int catalog_vnode_first_track(struct catalog *c, int64_t dir,
			      struct catalog_vnode *v);

/* Total number of vnodes of kind (statfs). */
int catalog_vnode_count(struct catalog *c, enum catalog_vnode_kind kind,
			int64_t *n);

/* Number of children of parent whose fold key starts with prefix. */
int catalog_vnode_count_prefix(struct catalog *c, int64_t parent,
			       const char *prefix, int64_t *n);

/* Delete every vnode but the root (the template changed). */
int catalog_vnode_clear(struct catalog *c);

/*
 * Folder spellings: how many tracks below dir use each spelling of its
 * name.  Add delta to spelling's count; *top receives the most used
 * spelling (caller-provided buffer of CATALOG_NAME_MAX + 1 bytes).
 */
int catalog_spelling_add(struct catalog *c, int64_t dir, const char *spelling,
			 int delta, char *top);

/* ---- the chunk cache's index (chunks.c) ------------------------------ */

#define CATALOG_HASH_LEN 32	/* SHA-256 */
/* Files are chunked per window of this many bytes (cache.h's CACHE_WINDOW):
 * window win holds the chunks at offsets [win * it, (win + 1) * it). */
#define CATALOG_WINDOW_BYTES (4 << 20)

#define CATALOG_SUM_LEN 16	/* XXH3-128 (cache.h: CACHE_SUM_LEN) */

/*
 * Bytes [offset, offset + length) of a file are the chunk hash; sum is the
 * checksum of its content recorded with it (has_sum false: none recorded,
 * by a catalog older than schema 4).
 */
struct catalog_chunk_ref {
	int64_t offset;
	int64_t length;
	uint8_t hash[CATALOG_HASH_LEN];
	uint8_t sum[CATALOG_SUM_LEN];
	bool has_sum;
};

/*
 * The chunks recorded for window win of file as it was at modification
 * time stamp, by offset (non-zero from cb stops).
 */
int catalog_window_chunks(struct catalog *c, int64_t file, int64_t stamp,
			  int64_t win,
			  int (*cb)(void *ctx,
				    const struct catalog_chunk_ref *ref),
			  void *ctx);

/* Record a stored chunk and its checksum (sum: CATALOG_SUM_LEN bytes, or
 * NULL), or refresh its last access. */
int catalog_chunk_put(struct catalog *c, const uint8_t *hash,
		      const uint8_t *sum, int64_t size, int64_t now);

/* Record that a range of file (stamp, window win) is that chunk. */
int catalog_file_chunk_put(struct catalog *c, int64_t file, int64_t stamp,
			   int64_t win, const struct catalog_chunk_ref *ref);

/* A chunk was read: move it to the young end of the LRU. */
int catalog_chunk_touch(struct catalog *c, const uint8_t *hash, int64_t now);

/* At most limit unpinned chunks, least recently read first. */
int catalog_chunks_oldest(struct catalog *c, int64_t limit,
			  int (*cb)(void *ctx, const uint8_t *hash,
				    int64_t size),
			  void *ctx);

/* Unpinned chunks no file range uses any more. */
int catalog_chunks_unreferenced(struct catalog *c,
				int (*cb)(void *ctx, const uint8_t *hash,
					  int64_t size),
				void *ctx);

/* Forget a chunk and every range that used it. */
int catalog_chunk_delete(struct catalog *c, const uint8_t *hash);

int catalog_chunk_known(struct catalog *c, const uint8_t *hash, bool *known);

struct catalog_cache_totals {
	int64_t chunks;
	int64_t stored_bytes;	/* sum of chunk sizes: what the disk holds */
	int64_t file_bytes;	/* sum of cached file ranges: what they serve */
};

int catalog_cache_totals(struct catalog *c, struct catalog_cache_totals *out);

/* Per origin: distinct chunks and bytes of its files' cached ranges. */
int catalog_cache_by_origin(struct catalog *c,
			    int (*cb)(void *ctx, const char *origin,
				      int64_t chunks, int64_t file_bytes),
			    void *ctx);

/* Forget every cached range of an origin's files (chunks stay until
 * unreferenced ones are collected). */
int catalog_origin_chunks_drop(struct catalog *c, int64_t origin);

/* ---- search (search.c, search_fn.c) ------------------------------------ */

/*
 * Queries are compiled by the search module (search/search.h) into a
 * struct catalog_search_query, run here against search_fts (an FTS5 index
 * of title, artist, album, album_artist, genre, composer and year kept by
 * triggers on files), search_terms (the fuzzy vocabulary) and search_docs
 * (word counts and years of tracks).  The results of a query are capped at
 * CATALOG_SEARCH_MAX, in order of relevance (BM25), then in the order of
 * the tree: album artist (else artist), album, disc, track.
 */
#define CATALOG_SEARCH_MAX 1000
/* Results are answered from the cache this long, unless the catalog changed. */
#define CATALOG_SEARCH_TTL_SECS 300

/* A bound parameter: text, or num if text is NULL. */
struct catalog_search_param {
	const char *text;
	int64_t num;
};

/*
 * A compiled search.  hits_sql: one SELECT of (id, score): files ids, at
 * most CATALOG_SEARCH_MAX, score higher for better (0 when the query has
 * no text term).  count_sql: one SELECT of the number of matches,
 * uncapped.  Both use ?1..?n_params.  key: the normalized query; equal
 * keys give equal results (the result cache's key).
 */
struct catalog_search_query {
	const char *key;
	const char *hits_sql;
	const char *count_sql;
	const struct catalog_search_param *params;
	size_t n_params;
	/* > 0: hits_sql keeps to rowids within [?N, ?N+1] (those two params
	 * span every id): its hits may be ranked in parts (search_split.c) */
	int rowid_range;
};

/* One result; its strings are valid during the callback only. */
struct catalog_search_row {
	int64_t file;		/* files.id */
	int64_t ino;		/* the track's vnode; 0 if it has none */
	double score;		/* relevance, higher first (0: no text) */
	const char *artist;	/* NULL if the tag is missing */
	const char *album;
	const char *title;
	int track;		/* 0 if missing */
	int disc;
	int year;
	const char *path;	/* in the mount, no leading '/' (NULL: none) */
};

struct catalog_search_info {
	size_t n_results;	/* of the query: <= CATALOG_SEARCH_MAX */
	bool cached;		/* answered from the result cache */
};

/*
 * Results [offset, offset + limit) of q through cb (non-zero stops);
 * info (may be NULL) tells how many results the query has in all (to
 * page) and whether they came from the cache.  A query is run once: all
 * its results are kept in the connection's cache (16 queries) for
 * CATALOG_SEARCH_TTL_SECS or until the catalog changes, whoever changed
 * it; a result's path is made the first time the result is given out.
 * -EIO if the statement cannot be prepared (logged).
 */
int catalog_search(struct catalog *c, const struct catalog_search_query *q,
		   size_t offset, size_t limit,
		   int (*cb)(void *ctx,
			     const struct catalog_search_row *row),
		   void *ctx, struct catalog_search_info *info);

/*
 * The path of vnode ino in the mount, without a leading '/' ("Artist/
 * Album (1999) [FLAC]/01 - Title.flac"): malloc'd, caller frees.
 * -ENOENT if there is no such node (or it is the root).
 */
int catalog_vnode_path(struct catalog *c, int64_t ino, char **path);

/* Number of matches of q, uncapped (not cached; costs a pass over them). */
int catalog_search_count(struct catalog *c,
			 const struct catalog_search_query *q, int64_t *n);

/*
 * Rebuild search_fts, search_terms and search_docs from files, in one
 * transaction of the writer (never needed in normal operation: the
 * triggers keep them; for a damaged index and for benchmarks).
 */
int catalog_search_rebuild(struct catalog *c);

/*
 * Results [offset, offset + limit) of q, as catalog_search gives them, for
 * a caller that asks once (musicfs search): no result cache, and paths
 * made only for the rows given to cb (non-zero stops).  -EIO if the
 * statement cannot be prepared (logged).  (search_page.c)
 */
int catalog_search_page(struct catalog *c,
			const struct catalog_search_query *q, size_t offset,
			size_t limit,
			int (*cb)(void *ctx,
				  const struct catalog_search_row *row),
			void *ctx);

/* ---- smart collections (collections.c) ------------------------------- */

/*
 * The tracks added at or after since (unix seconds), newest first, the
 * way catalog_search gives results (and through its cache).  A track's
 * time is the earlier of its first scan and its file's mtime.
 */
int catalog_search_added(struct catalog *c, int64_t since, size_t offset,
			 size_t limit,
			 int (*cb)(void *ctx,
				   const struct catalog_search_row *row),
			 void *ctx, struct catalog_search_info *info);

/* A collection made through the API; strings valid in the callback only. */
struct catalog_collection {
	const char *name;
	const char *query;
	int64_t created_at;	/* unix seconds */
};

/* The collections made through the API, oldest first (non-zero stops). */
int catalog_collections(struct catalog *c,
			int (*cb)(void *ctx,
				  const struct catalog_collection *col),
			void *ctx);

/* Store a collection (writer).  -EEXIST if the name is taken. */
int catalog_collection_add(struct catalog *c, const char *name,
			   const char *query, int64_t created_at);

/* Forget a collection (writer).  -ENOENT if there is none of that name. */
int catalog_collection_delete(struct catalog *c, const char *name);

#endif
