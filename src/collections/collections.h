/*
 * collections.h - smart collections: named searches that the mount shows
 * as folders beside the artists (SPEC.md "Smart Collections").
 *
 * Owns: the list of collections of a daemon: the built-in ones ("Recently
 * Added": tracks added in the last COLLECTIONS_RECENT_DAYS days; "80s
 * Music" and "90s Music": years 1980-1989 and 1990-1999), those of the
 * config file ([[collections]] name, query) and those made through the
 * API, which live in the catalog's collections table.  Names are unique
 * up to case and Unicode normalization, whatever their source; a config
 * collection hides an API one of the same name (the file was edited
 * since), with a warning.
 *
 * Messages go to err, a buffer of errsize > 0 bytes.
 *
 * Threads: every function may be called from any thread.  The list is
 * guarded by a mutex that no callback runs under; the writer connection
 * that create and delete use has a mutex of its own, so a write waiting
 * for the scanner's transaction never stalls a reader of the list.
 * Memory: the strings given to callbacks are valid during the call only.
 */
#ifndef MFS_COLLECTIONS_COLLECTIONS_H
#define MFS_COLLECTIONS_COLLECTIONS_H

#include "common/mfs.h"
#include "catalog/catalog.h"
#include "config/config.h"

#define COLLECTIONS_RECENT_DAYS 30

/* Longest collection name, in bytes (a folder name). */
#define COLLECTIONS_NAME_MAX 255

enum collections_source {
	COLLECTIONS_BUILTIN,
	COLLECTIONS_CONFIG,
	COLLECTIONS_API,
};

struct collections_info {
	const char *name;
	const char *query;	/* "" for Recently Added (not a query) */
	const char *description;	/* what it holds, in words */
	enum collections_source source;
	int64_t created_at;	/* unix seconds; 0 unless made by the API */
};

/* Told when a collection appears or goes (no lock held during the call). */
struct collections_listener {
	void (*changed)(void *ctx, const char *name);
	void *ctx;
};

struct collections;

/*
 * The built-in collections, cfg's (each query compiled, each name
 * checked) and the catalog's at db_path.  -EINVAL with a one-line
 * message naming the file and line if a config collection is bad; a
 * catalog that cannot be read is logged and its collections are missing.
 * Caller frees with collections_free.
 */
int collections_new(const char *db_path, const struct config *cfg,
		    struct collections **out, char *err, size_t errsize);

/* Free the list and close the writer connection; NULL accepted. */
void collections_free(struct collections *cs);

/* Set where changes are announced (before any change is made). */
void collections_set_listener(struct collections *cs,
			      const struct collections_listener *l);

/*
 * Replace the config collections with cfg's (a reload).  On -EINVAL
 * (message in err) nothing changed.  The listener hears of every name
 * that appeared or went.
 */
int collections_set_config(struct collections *cs, const struct config *cfg,
			   char *err, size_t errsize);

/*
 * Every collection through cb: built-in ones first, then the config's,
 * then the API's, oldest first.  A non-zero return from cb stops the walk
 * and is returned.  -ENOMEM.
 */
int collections_list(struct collections *cs,
		     int (*cb)(void *ctx, const struct collections_info *info),
		     void *ctx);

/*
 * Make a collection through the API, stored in the catalog.  -EINVAL
 * with a message for a name that is not a folder name or a query that
 * does not compile; -EEXIST if a collection has that name (up to case);
 * catalog errors as the catalog gives them.
 */
int collections_create(struct collections *cs, const char *name,
		       const char *query, char *err, size_t errsize);

/*
 * Delete a collection made through the API.  -ENOENT if none has that
 * name; -EPERM (with a message) for a built-in or config collection.
 */
int collections_delete(struct collections *cs, const char *name, char *err,
		       size_t errsize);

/*
 * Results [offset, offset + limit) of collection name on catalog
 * connection c, as search_run gives them (ranked, at most
 * CATALOG_SEARCH_MAX; newest first for Recently Added).  -ENOENT if there
 * is no such collection (exact name); other errors as search_run, with a
 * message in err.
 */
int collections_run(struct collections *cs, struct catalog *c,
		    const char *name, size_t offset, size_t limit,
		    int (*cb)(void *ctx, const struct catalog_search_row *row),
		    void *ctx, struct catalog_search_info *info, char *err,
		    size_t errsize);

const char *collections_source_name(enum collections_source s);

#endif
