/*
 * collections.c - the list of smart collections and how each is run.
 *
 * One array holds every collection in the order of a listing: built-in,
 * config, API.  An API collection whose name (up to case) a built-in or
 * config one took since it was made is kept but hidden, and shows again
 * if the config entry goes.  A change builds a new array under the lock
 * only for the config part (a reload); create and delete edit the API
 * part in place.  The catalog write of create and delete happens under
 * write_lock alone: readers of the list (FUSE workers listing the root)
 * never wait for SQLite's busy handler.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_SEARCH
#include "log/log.h"
#include "collections/collections.h"
#include "search/search.h"
#include "tree/tree.h"

#include <pthread.h>
#include <time.h>

struct entry {
	char *name;
	char *fold;		/* tree_fold_name(name): the uniqueness key */
	char *query;		/* NULL: Recently Added */
	char *description;
	enum collections_source source;
	int64_t created_at;
	bool hidden;		/* API: a built-in or config one has the name */
};

struct collections {
	char *db_path;
	struct collections_listener listener;	/* set once, before use */

	pthread_mutex_t lock;
	/* protected by lock */
	struct entry *v;
	size_t n;

	pthread_mutex_t write_lock;
	/* protected by write_lock */
	struct catalog *writer;		/* opened on the first change */
};

static const struct {
	const char *name;
	const char *query;
	const char *description;
} builtins[] = {
	{ "Recently Added", NULL, "tracks added in the last 30 days" },
	{ "80s Music", "year:[1980 TO 1989]", "tracks from 1980 to 1989" },
	{ "90s Music", "year:[1990 TO 1999]", "tracks from 1990 to 1999" },
};

const char *collections_source_name(enum collections_source s)
{
	switch (s) {
	case COLLECTIONS_BUILTIN:
		return "builtin";
	case COLLECTIONS_CONFIG:
		return "config";
	case COLLECTIONS_API:
		return "api";
	}
	return "?";
}

/* ---- entries ----------------------------------------------------------- */

static void entry_release(struct entry *e)
{
	free(e->name);
	free(e->fold);
	free(e->query);
	free(e->description);
	memset(e, 0, sizeof(*e));
}

static void entries_free(struct entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		entry_release(&v[i]);
	free(v);
}

/* Fill e (zeroed) with copies.  0 or -ENOMEM (e then released). */
static int entry_set(struct entry *e, const char *name, const char *query,
		     const char *description, enum collections_source source)
{
	e->source = source;
	e->name = str_dup(name);
	e->fold = tree_fold_name(name);
	e->query = query ? str_dup(query) : NULL;
	e->description = description
				 ? str_dup(description)
				 : str_printf("tracks matching %s", query);
	if (e->name && e->fold && (e->query || !query) && e->description)
		return 0;
	entry_release(e);
	return -ENOMEM;
}

/* The entry named fold (hidden ones too when all), or NULL. */
static struct entry *find_fold(struct entry *v, size_t n, const char *fold,
			       bool all)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((all || !v[i].hidden) && !strcmp(v[i].fold, fold))
			return &v[i];
	return NULL;
}

/* Hide the API entries whose name an earlier entry has. */
static void mark_hidden(struct entry *v, size_t n)
{
	size_t i;
	size_t j;

	for (i = 0; i < n; i++) {
		v[i].hidden = false;
		for (j = 0; v[i].source == COLLECTIONS_API && j < i; j++)
			if (v[j].source != COLLECTIONS_API &&
			    !strcmp(v[j].fold, v[i].fold))
				v[i].hidden = true;
	}
}

/* ---- checks ------------------------------------------------------------ */

/* Is name a folder name as it is?  0 or -EINVAL with a message. */
static int check_name(const char *name, char *err, size_t errsize)
{
	char *clean;
	int rc = 0;

	if (!name || !*name) {
		snprintf(err, errsize, "a collection needs a name");
		return -EINVAL;
	}
	clean = tree_sanitize_name(name, false);
	if (!clean)
		return -ENOMEM;
	if (strcmp(clean, name) || strlen(name) > COLLECTIONS_NAME_MAX) {
		snprintf(err, errsize, "collection name '%s' is not a folder "
			 "name (as one it would read '%s')", name, clean);
		rc = -EINVAL;
	}
	free(clean);
	return rc;
}

/* Does query compile?  0 or -EINVAL with the column message. */
static int check_query(const char *name, const char *query, char *err,
		       size_t errsize)
{
	struct search_plan *plan = NULL;
	char why[256];
	int rc;

	rc = search_compile(query ? query : "", &plan, why, sizeof(why));
	search_plan_free(plan);
	if (rc == -EINVAL)
		snprintf(err, errsize, "query of collection '%s': %s", name,
			 why);
	return rc;
}

/* ---- building the list ------------------------------------------------- */

static int add_builtins(struct entry *v, size_t *n)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < MFS_ARRAY_SIZE(builtins); i++) {
		rc = entry_set(&v[*n], builtins[i].name, builtins[i].query,
			       builtins[i].description, COLLECTIONS_BUILTIN);
		*n += !rc;
	}
	return rc;
}

/* One config collection, checked, appended to v[0..*n). */
static int add_config_one(struct entry *v, size_t *n,
			  const struct config_collection *col,
			  const char *file, char *err, size_t errsize)
{
	char why[512];
	int rc;

	rc = check_name(col->name, why, sizeof(why));
	if (!rc)
		rc = check_query(col->name, col->query, why, sizeof(why));
	if (!rc)
		rc = entry_set(&v[*n], col->name, col->query, NULL,
			       COLLECTIONS_CONFIG);
	if (!rc && find_fold(v, *n, v[*n].fold, true)) {
		snprintf(why, sizeof(why), "collection '%s' has the name of "
			 "another collection", col->name);
		entry_release(&v[*n]);
		rc = -EINVAL;
	}
	if (rc == -EINVAL)
		snprintf(err, errsize, "%s:%d: %s", file, col->line, why);
	*n += !rc;
	return rc;
}

/*
 * A new array: built-ins, cfg's collections, and the API entries of
 * api[0..n_api) moved over (api's slots are left empty).
 */
static int build(const struct config *cfg, struct entry *api, size_t n_api,
		 struct entry **out, size_t *n_out, char *err, size_t errsize)
{
	const char *file = cfg->config_path ? cfg->config_path : "config";
	size_t cap = MFS_ARRAY_SIZE(builtins) + cfg->n_collections + n_api;
	struct entry *v = calloc(cap ? cap : 1, sizeof(*v));
	size_t n = 0;
	size_t i;
	int rc;

	if (!v)
		return -ENOMEM;
	rc = add_builtins(v, &n);
	for (i = 0; !rc && i < cfg->n_collections; i++)
		rc = add_config_one(v, &n, &cfg->collections[i], file, err,
				    errsize);
	if (rc) {
		entries_free(v, n);
		return rc;
	}
	for (i = 0; i < n_api; i++) {
		v[n++] = api[i];
		memset(&api[i], 0, sizeof(api[i]));
	}
	mark_hidden(v, n);
	*out = v;
	*n_out = n;
	return 0;
}

struct api_load {
	struct entry *v;
	size_t n;
	int rc;
};

static int load_api_one(void *ctx, const struct catalog_collection *col)
{
	struct api_load *l = ctx;
	struct entry *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v) {
		l->rc = -ENOMEM;
		return 1;
	}
	l->v = v;
	memset(&v[l->n], 0, sizeof(v[l->n]));
	l->rc = entry_set(&v[l->n], col->name, col->query, NULL,
			  COLLECTIONS_API);
	if (l->rc)
		return 1;
	v[l->n++].created_at = col->created_at;
	return 0;
}

/* The API collections of the catalog (none, logged, if it cannot be read). */
static int load_api(const char *db_path, struct api_load *l)
{
	struct catalog *c = NULL;
	int rc;

	rc = catalog_open(db_path, CATALOG_READER, 0, &c);
	if (!rc)
		rc = catalog_collections(c, load_api_one, l);
	catalog_close(&c);
	if (!rc)
		rc = l->rc;
	if (rc && rc != -ENOMEM) {
		mfs_log(MFS_LOG_WARN, "cannot read the saved collections: %s",
			strerror(-rc));
		rc = 0;
	}
	return rc;
}

int collections_new(const char *db_path, const struct config *cfg,
		    struct collections **out, char *err, size_t errsize)
{
	struct api_load l = { 0 };
	struct collections *cs;
	int rc;

	*out = NULL;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	pthread_mutex_init(&cs->lock, NULL);
	pthread_mutex_init(&cs->write_lock, NULL);
	cs->db_path = db_path ? str_dup(db_path) : NULL;
	rc = db_path && !cs->db_path ? -ENOMEM : 0;
	if (!rc && db_path)
		rc = load_api(db_path, &l);
	if (!rc)
		rc = build(cfg, l.v, l.n, &cs->v, &cs->n, err, errsize);
	entries_free(l.v, l.n);
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(err, errsize, "out of memory");
		collections_free(cs);
		return rc;
	}
	*out = cs;
	return 0;
}

void collections_free(struct collections *cs)
{
	if (!cs)
		return;
	entries_free(cs->v, cs->n);
	catalog_close(&cs->writer);
	pthread_mutex_destroy(&cs->lock);
	pthread_mutex_destroy(&cs->write_lock);
	free(cs->db_path);
	free(cs);
}

void collections_set_listener(struct collections *cs,
			      const struct collections_listener *l)
{
	cs->listener = *l;
}

static void announce(struct collections *cs, const char *name)
{
	if (cs->listener.changed)
		cs->listener.changed(cs->listener.ctx, name);
}

/* ---- reading ----------------------------------------------------------- */

/* A copy of the visible entries (caller frees with entries_free). */
static int snapshot(struct collections *cs, struct entry **out, size_t *n)
{
	struct entry *v;
	size_t i;
	int rc = 0;

	*n = 0;
	pthread_mutex_lock(&cs->lock);
	v = calloc(cs->n ? cs->n : 1, sizeof(*v));
	for (i = 0; v && !rc && i < cs->n; i++) {
		if (cs->v[i].hidden)
			continue;
		rc = entry_set(&v[*n], cs->v[i].name, cs->v[i].query,
			       cs->v[i].description, cs->v[i].source);
		if (!rc)
			v[(*n)++].created_at = cs->v[i].created_at;
	}
	pthread_mutex_unlock(&cs->lock);
	if (!v || rc) {
		entries_free(v, *n);
		return -ENOMEM;
	}
	*out = v;
	return 0;
}

int collections_list(struct collections *cs,
		     int (*cb)(void *ctx, const struct collections_info *info),
		     void *ctx)
{
	struct collections_info info;
	struct entry *v = NULL;
	size_t n;
	size_t i;
	int rc;

	rc = snapshot(cs, &v, &n);
	for (i = 0; !rc && i < n; i++) {
		info.name = v[i].name;
		info.query = v[i].query ? v[i].query : "";
		info.description = v[i].description;
		info.source = v[i].source;
		info.created_at = v[i].created_at;
		rc = cb(ctx, &info);
	}
	if (v)
		entries_free(v, n);
	return rc;
}

/* The query of the visible collection named name (caller frees). */
static int query_of(struct collections *cs, const char *name, char **query,
		    bool *recent)
{
	size_t i;
	int rc = -ENOENT;

	*query = NULL;
	pthread_mutex_lock(&cs->lock);
	for (i = 0; rc == -ENOENT && i < cs->n; i++) {
		if (cs->v[i].hidden || strcmp(cs->v[i].name, name))
			continue;
		*recent = !cs->v[i].query;
		*query = cs->v[i].query ? str_dup(cs->v[i].query) : NULL;
		rc = *recent || *query ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&cs->lock);
	return rc;
}

/*
 * The start of "the last 30 days", on a whole minute: the key of the
 * result cache changes once a minute, not at every call.
 */
static int64_t recent_since(void)
{
	int64_t now = (int64_t)time(NULL);

	return (now - (int64_t)COLLECTIONS_RECENT_DAYS * 86400) / 60 * 60;
}

int collections_run(struct collections *cs, struct catalog *c,
		    const char *name, size_t offset, size_t limit,
		    int (*cb)(void *ctx, const struct catalog_search_row *row),
		    void *ctx, struct catalog_search_info *info, char *err,
		    size_t errsize)
{
	bool recent = false;
	char *query;
	int rc;

	rc = query_of(cs, name, &query, &recent);
	if (rc)
		return rc;
	if (recent) {
		rc = catalog_search_added(c, recent_since(), offset, limit,
					  cb, ctx, info);
		if (rc && errsize)
			snprintf(err, errsize, "search failed: %s",
				 strerror(-rc));
	} else {
		rc = search_run(c, query, offset, limit, cb, ctx, info, err,
				errsize);
	}
	free(query);
	return rc;
}

/* ---- changes ----------------------------------------------------------- */

/* The writer connection (caller holds write_lock). */
static int writer_of(struct collections *cs, struct catalog **out)
{
	int rc = 0;

	if (!cs->writer)
		rc = cs->db_path ? catalog_open(cs->db_path, CATALOG_WRITER, 0,
						&cs->writer)
				 : -ENOENT;
	*out = cs->writer;
	return rc;
}

/* Append an API entry to the list (caller holds lock). */
static int append_api(struct collections *cs, struct entry *e)
{
	struct entry *v = realloc(cs->v, (cs->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	cs->v = v;
	v[cs->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

/* -EEXIST with a message if a collection has e's name (takes lock). */
static int check_free(struct collections *cs, const struct entry *e,
		      char *err, size_t errsize)
{
	const struct entry *old;
	int rc = 0;

	pthread_mutex_lock(&cs->lock);
	old = find_fold(cs->v, cs->n, e->fold, true);
	if (old) {
		snprintf(err, errsize, "collection '%s' exists (%s)",
			 old->name, collections_source_name(old->source));
		rc = -EEXIST;
	}
	pthread_mutex_unlock(&cs->lock);
	return rc;
}

/* Store e in the catalog and the list (caller holds write_lock). */
static int create_locked(struct collections *cs, struct entry *e,
			 char *err, size_t errsize)
{
	struct catalog *w;
	int rc;

	rc = check_free(cs, e, err, errsize);
	if (!rc)
		rc = writer_of(cs, &w);
	if (!rc)
		rc = catalog_collection_add(w, e->name, e->query,
					    e->created_at);
	if (rc == -EEXIST && !*err)
		snprintf(err, errsize, "collection '%s' exists", e->name);
	else if (rc && !*err)
		snprintf(err, errsize, "cannot save collection '%s': %s",
			 e->name, strerror(-rc));
	if (rc)
		return rc;
	pthread_mutex_lock(&cs->lock);
	rc = append_api(cs, e);
	pthread_mutex_unlock(&cs->lock);
	return rc;
}

int collections_create(struct collections *cs, const char *name,
		       const char *query, char *err, size_t errsize)
{
	struct entry e = { 0 };
	int rc;

	if (errsize)
		*err = '\0';
	rc = check_name(name, err, errsize);
	if (!rc)
		rc = check_query(name, query, err, errsize);
	if (!rc)
		rc = entry_set(&e, name, query, NULL, COLLECTIONS_API);
	if (rc)
		return rc;
	e.created_at = (int64_t)time(NULL);
	pthread_mutex_lock(&cs->write_lock);
	rc = create_locked(cs, &e, err, errsize);
	pthread_mutex_unlock(&cs->write_lock);
	entry_release(&e);
	if (!rc) {
		mfs_log(MFS_LOG_INFO, "collection '%s' created: %s", name,
			query);
		announce(cs, name);
	}
	return rc;
}

/* Where name is in the list: the API entry of that exact name first. */
static int find_for_delete(struct collections *cs, const char *name,
			   char *err, size_t errsize)
{
	int other = -1;
	size_t i;

	for (i = 0; i < cs->n; i++) {
		if (strcmp(cs->v[i].name, name))
			continue;
		if (cs->v[i].source == COLLECTIONS_API)
			return (int)i;
		other = (int)i;
	}
	if (other < 0) {
		snprintf(err, errsize, "no collection '%s'", name);
		return -ENOENT;
	}
	snprintf(err, errsize, "collection '%s' is %s", name,
		 cs->v[other].source == COLLECTIONS_BUILTIN
			 ? "built in"
			 : "defined in the config file (remove it there)");
	return -EPERM;
}

int collections_delete(struct collections *cs, const char *name, char *err,
		       size_t errsize)
{
	struct catalog *w;
	int rc;

	pthread_mutex_lock(&cs->write_lock);
	pthread_mutex_lock(&cs->lock);
	rc = find_for_delete(cs, name, err, errsize);
	pthread_mutex_unlock(&cs->lock);
	if (rc >= 0)
		rc = writer_of(cs, &w);
	if (!rc)
		rc = catalog_collection_delete(w, name);
	if (!rc) {
		pthread_mutex_lock(&cs->lock);
		rc = find_for_delete(cs, name, err, errsize);
		if (rc >= 0) {
			entry_release(&cs->v[rc]);
			memmove(&cs->v[rc], &cs->v[rc + 1],
				(cs->n - (size_t)rc - 1) * sizeof(*cs->v));
			cs->n--;
			rc = 0;
		}
		pthread_mutex_unlock(&cs->lock);
	} else if (rc != -ENOENT && rc != -EPERM) {
		snprintf(err, errsize, "cannot delete collection '%s': %s",
			 name, strerror(-rc));
	}
	pthread_mutex_unlock(&cs->write_lock);
	if (!rc) {
		mfs_log(MFS_LOG_INFO, "collection '%s' deleted", name);
		announce(cs, name);
	}
	return rc;
}

/* Announce every name of v but the built-in ones. */
static void announce_all(struct collections *cs, const struct entry *v,
			 size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].source != COLLECTIONS_BUILTIN)
			announce(cs, v[i].name);
}

int collections_set_config(struct collections *cs, const struct config *cfg,
			   char *err, size_t errsize)
{
	struct entry *now = NULL;
	struct entry *old;
	struct entry *v;
	size_t n_old;
	size_t first_api;
	size_t n;
	int rc;

	pthread_mutex_lock(&cs->write_lock);
	pthread_mutex_lock(&cs->lock);
	for (first_api = 0; first_api < cs->n &&
			    cs->v[first_api].source != COLLECTIONS_API;
	     first_api++)
		;
	rc = build(cfg, cs->v + first_api, cs->n - first_api, &v, &n, err,
		   errsize);
	old = cs->v;
	n_old = cs->n;
	if (!rc) {
		/* the API entries moved: only names are left to release */
		n_old = first_api;
		cs->v = v;
		cs->n = n;
	}
	pthread_mutex_unlock(&cs->lock);
	pthread_mutex_unlock(&cs->write_lock);
	if (rc)
		return rc;
	/* what went, then what is (a copy: the list may change meanwhile) */
	announce_all(cs, old, n_old);
	entries_free(old, n_old);
	if (!snapshot(cs, &now, &n)) {
		announce_all(cs, now, n);
		entries_free(now, n);
	}
	return 0;
}
