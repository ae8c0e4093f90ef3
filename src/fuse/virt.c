/*
 * virt.c - the folders that are searches: /.search/<query>/ and the smart
 * collections at the root, each a folder of symlinks to the tracks it
 * finds.
 *
 * These nodes are not in the catalog.  Their inode numbers have bit 62
 * set (catalog vnodes stay far below, see mfs_fuse_i.h): /.search is
 * MFS_FUSE_VIRT_BASE; a folder is a slot of a small table that maps its
 * id to the query or collection name the kernel named it by; a symlink
 * is its folder's number plus the vnode of the track it points to, so
 * readlink and getattr need nothing but the catalog.  The table is
 * bounded (VIRT_SLOTS): it keeps the kernel's lookup counts and gives a
 * slot back, least recently used first, once the kernel forgot it or the
 * table is full.  A number whose slot was given away answers ESTALE, and
 * the kernel looks the path up again.
 *
 * Results change whenever the catalog does, and nothing invalidates these
 * folders: their entries and attributes expire after VIRT_TIMEOUT, a
 * listing is kept at most as long, and a folder's mtime is the time its
 * listing was made, so a stat after a rebuild changes the mtime and the
 * kernel drops its cached listing (it caches every folder's: no OPENDIR).
 * Collections are announced (collections_set_listener): their root
 * entries are invalidated when one appears or goes.
 *
 * Offsets in these folders are positions: "." 1, ".." 2, entry i is
 * i + 3.  At the root, the collections follow the catalog's children at
 * offsets from VIRT_ROOT_OFF on.  /.search lists nothing and is not
 * listed in the root (like ZFS's .zfs: tree walkers, backups and media
 * scanners never wander in), but any name in it can be looked up.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_SEARCH
#include "log/log.h"
#include "fuse/mfs_fuse_i.h"
#include "collections/collections.h"
#include "search/search.h"
#include "tree/tree.h"

#include <stdatomic.h>
#include <time.h>

#define VIRT_SEARCH_NAME ".search"
#define VIRT_SUFFIX " (collection)"
/* seconds: the life of entries, attributes and listings */
#define VIRT_TIMEOUT 1.0
#define VIRT_SLOT_BITS 10
#define VIRT_SLOTS (1u << VIRT_SLOT_BITS)
#define VIRT_ID_BITS 21			/* bits 40..60 of an inode number */
#define VIRT_COLL_BIT ((uint64_t)1 << 61)
#define VIRT_ID_SHIFT 40
#define VIRT_VNODE_MASK (((uint64_t)1 << VIRT_ID_SHIFT) - 1)
#define VIRT_ROOT_OFF ((off_t)1 << 62)
#define VIRT_DEPTH_MAX 64		/* folders from the root to a track */

/* One symlink of a listing. */
struct virt_entry {
	char *name;
	int64_t vnode;		/* the track's */
	size_t target_len;	/* of "../" or "../../" + its path */
};

/* A folder's listing: immutable once made, shared by reference. */
struct virt_list {
	atomic_int refs;
	int64_t made_mono_ns;	/* for its age */
	int64_t made_ns;	/* wall clock: the folder's mtime */
	size_t n;
	struct virt_entry *e;
};

struct virt_dir {
	uint32_t id;		/* 0: free; (gen << VIRT_SLOT_BITS) | index */
	uint32_t gen;		/* bumped at each reuse of the slot */
	bool collection;
	char *key;		/* the query, or the collection's name */
	uint64_t nlookup;	/* the kernel's references */
	uint64_t used;		/* LRU tick */
	struct virt_list *list;	/* the last listing, or NULL */
};

struct mfs_fuse_virt {
	int64_t mount_ns;	/* mtime of /.search and of every symlink */
	pthread_mutex_t lock;
	/* protected by lock */
	struct virt_dir dirs[VIRT_SLOTS];
	uint64_t tick;
};

/* ---- inode numbers ----------------------------------------------------- */

static fuse_ino_t dir_ino(uint32_t id, bool collection)
{
	return MFS_FUSE_VIRT_BASE | (collection ? VIRT_COLL_BIT : 0) |
	       ((uint64_t)id << VIRT_ID_SHIFT);
}

static uint32_t ino_id(fuse_ino_t ino)
{
	return (uint32_t)((ino >> VIRT_ID_SHIFT) &
			  ((1u << VIRT_ID_BITS) - 1));
}

static int64_t ino_vnode(fuse_ino_t ino)
{
	return (int64_t)(ino & VIRT_VNODE_MASK);
}

static bool ino_collection(fuse_ino_t ino)
{
	return ino & VIRT_COLL_BIT;
}

/* Up from a symlink's folder to the root of the mount. */
static const char *link_prefix(bool collection)
{
	return collection ? "../" : "../../";
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- listings ---------------------------------------------------------- */

static void list_put(struct virt_list *l)
{
	size_t i;

	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	for (i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	free(l);
}

struct list_build {
	struct virt_list *l;
	size_t cap;
	size_t prefix_len;
	int rc;
};

/* The extension of a path's last name ("flac"), or "". */
static const char *path_ext(const char *path)
{
	const char *base = strrchr(path, '/');
	const char *dot;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	return dot && dot != base ? dot + 1 : "";
}

/* A result's name: "Artist - Title.ext", made a valid file name. */
static char *result_name(const struct catalog_search_row *r)
{
	const char *base = strrchr(r->path, '/');
	const char *ext = path_ext(r->path);
	char *raw;
	char *name;

	base = base ? base + 1 : r->path;
	if (r->title && *r->title)
		raw = str_printf("%s - %s%s%s",
				 r->artist && *r->artist ? r->artist
							 : "Unknown Artist",
				 r->title, *ext ? "." : "", ext);
	else	/* no title: the tree named the file after its origin name */
		raw = str_printf("%s - %s",
				 r->artist && *r->artist ? r->artist
							 : "Unknown Artist",
				 base);
	if (!raw)
		return NULL;
	name = tree_sanitize_name(raw, true);
	free(raw);
	return name;
}

static int list_add(void *ctx, const struct catalog_search_row *r)
{
	struct list_build *b = ctx;
	struct virt_list *l = b->l;
	struct virt_entry *e;

	/* a track outside the tree (none, in practice) has no target */
	if (!r->ino || !r->path || (uint64_t)r->ino > VIRT_VNODE_MASK)
		return 0;
	if (l->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		e = realloc(l->e, b->cap * sizeof(*e));
		if (!e) {
			b->rc = -ENOMEM;
			return 1;
		}
		l->e = e;
	}
	e = &l->e[l->n];
	e->vnode = r->ino;
	e->target_len = b->prefix_len + strlen(r->path);
	e->name = result_name(r);
	if (!e->name) {
		b->rc = -ENOMEM;
		return 1;
	}
	l->n++;
	return 0;
}

/* A set of fold keys, to find names that clash (open addressing). */
struct fold_set {
	char **slot;
	size_t mask;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Insert key (owned by the set on success): 1 if it was there already. */
static int fold_set_add(struct fold_set *fs, char *key)
{
	size_t i = (size_t)str_hash(key) & fs->mask;

	while (fs->slot[i]) {
		if (!strcmp(fs->slot[i], key))
			return 1;
		i = (i + 1) & fs->mask;
	}
	fs->slot[i] = key;
	return 0;
}

/* "stem (k).ext" from a name whose extension is ext ("" for none). */
static char *with_number(const char *name, const char *ext, unsigned k)
{
	size_t stem = strlen(name) - (*ext ? strlen(ext) + 1 : 0);
	char *raw;
	char *out;

	raw = str_printf("%.*s (%u)%s%s", (int)stem, name, k, *ext ? "." : "",
			 ext);
	if (!raw)
		return NULL;
	out = tree_sanitize_name(raw, true);
	free(raw);
	return out;
}

/* Give entry e a name no earlier entry has (up to case): " (2)", ... */
static int unique_name(struct fold_set *fs, struct virt_entry *e)
{
	char *ext = str_dup(path_ext(e->name));
	char *fold = tree_fold_name(e->name);
	char *next;
	unsigned k = 2;
	int rc = ext && fold ? 0 : -ENOMEM;

	while (!rc && fold_set_add(fs, fold) == 1) {
		free(fold);
		fold = NULL;
		next = with_number(e->name, ext, k++);
		if (next)
			fold = tree_fold_name(next);
		rc = next && fold ? 0 : -ENOMEM;
		if (!rc) {
			free(e->name);
			e->name = next;
		} else {
			free(next);
		}
	}
	if (rc)
		free(fold);
	free(ext);
	return rc;
}

/* Make the names of l unique, in rank order: the best keeps its name. */
static int list_unique(struct virt_list *l)
{
	struct fold_set fs = { 0 };
	size_t cap = 16;
	size_t i;
	int rc = 0;

	while (cap < 2 * l->n)
		cap *= 2;
	fs.slot = calloc(cap, sizeof(*fs.slot));
	if (!fs.slot)
		return -ENOMEM;
	fs.mask = cap - 1;
	for (i = 0; !rc && i < l->n; i++)
		rc = unique_name(&fs, &l->e[i]);
	for (i = 0; i < cap; i++)
		free(fs.slot[i]);
	free(fs.slot);
	return rc;
}

/*
 * Run the folder's query (or collection) and make its listing.  -EINVAL
 * for a query that does not compile, -ENOENT for a collection that went.
 */
static int list_make(struct mfs_fuse *f, struct catalog *c, bool collection,
		     const char *key, struct virt_list **out)
{
	struct list_build b = { .prefix_len = strlen(link_prefix(collection)) };
	char err[256] = "";
	int rc;

	*out = NULL;
	b.l = calloc(1, sizeof(*b.l));
	if (!b.l)
		return -ENOMEM;
	atomic_init(&b.l->refs, 1);
	if (collection)
		rc = f->cfg.collections
			     ? collections_run(f->cfg.collections, c, key, 0,
					       CATALOG_SEARCH_MAX, list_add,
					       &b, NULL, err, sizeof(err))
			     : -ENOENT;
	else
		rc = search_run(c, key, 0, CATALOG_SEARCH_MAX, list_add, &b,
				NULL, err, sizeof(err));
	if (!rc)
		rc = b.rc;
	if (!rc)
		rc = list_unique(b.l);
	if (rc && rc != -ENOENT && rc != -EINVAL)
		mfs_log(MFS_LOG_ERROR, "cannot list '%s': %s", key,
			*err ? err : strerror(-rc));
	if (rc) {
		list_put(b.l);
		return rc;
	}
	b.l->made_mono_ns = clock_ns(CLOCK_MONOTONIC);
	b.l->made_ns = clock_ns(CLOCK_REALTIME);
	*out = b.l;
	return 0;
}

/* ---- the table of folders ---------------------------------------------- */

int mfs_fuse_virt_new(struct mfs_fuse *f)
{
	f->virt = calloc(1, sizeof(*f->virt));
	if (!f->virt)
		return -ENOMEM;
	pthread_mutex_init(&f->virt->lock, NULL);
	f->virt->mount_ns = clock_ns(CLOCK_REALTIME);
	return 0;
}

static void dir_clear(struct virt_dir *d)
{
	free(d->key);
	list_put(d->list);
	d->key = NULL;
	d->list = NULL;
	d->id = 0;
	d->nlookup = 0;
}

void mfs_fuse_virt_free(struct mfs_fuse *f)
{
	size_t i;

	if (!f->virt)
		return;
	for (i = 0; i < VIRT_SLOTS; i++)
		dir_clear(&f->virt->dirs[i]);
	pthread_mutex_destroy(&f->virt->lock);
	free(f->virt);
	f->virt = NULL;
}

/* The slot to take for a new folder (caller holds lock). */
static struct virt_dir *slot_victim(struct mfs_fuse_virt *v)
{
	struct virt_dir *best = NULL;
	size_t i;

	for (i = 0; i < VIRT_SLOTS; i++) {
		struct virt_dir *d = &v->dirs[i];

		if (!d->id)
			return d;
		/* the kernel's forgotten ones first, then the oldest */
		if (!best || (!d->nlookup && best->nlookup) ||
		    (!d->nlookup == !best->nlookup && d->used < best->used))
			best = d;
	}
	return best;
}

/*
 * The id of the folder for (collection, key), made if new; ref adds one
 * to its lookup count (a reply the kernel will count).  0 on ENOMEM.
 */
static uint32_t dir_get(struct mfs_fuse_virt *v, bool collection,
			const char *key, bool ref)
{
	struct virt_dir *d = NULL;
	uint32_t id = 0;
	size_t i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; !d && i < VIRT_SLOTS; i++)
		if (v->dirs[i].id && v->dirs[i].collection == collection &&
		    !strcmp(v->dirs[i].key, key))
			d = &v->dirs[i];
	if (!d) {
		d = slot_victim(v);
		dir_clear(d);
		d->key = str_dup(key);
		d->collection = collection;
		d->gen = d->gen % ((1u << (VIRT_ID_BITS - VIRT_SLOT_BITS)) - 1)
			 + 1;
		d->id = d->key ? (d->gen << VIRT_SLOT_BITS) |
					 (uint32_t)(d - v->dirs)
			       : 0;
	}
	if (d->id) {
		d->used = ++v->tick;
		d->nlookup += ref;
		id = d->id;
	}
	pthread_mutex_unlock(&v->lock);
	return id;
}

/* The slot of id (caller holds lock), or NULL if it was given away. */
static struct virt_dir *dir_of(struct mfs_fuse_virt *v, uint32_t id)
{
	struct virt_dir *d = &v->dirs[id & (VIRT_SLOTS - 1)];

	return id && d->id == id ? d : NULL;
}

/* The kernel dropped n references to folder id. */
static void dir_unref(struct mfs_fuse_virt *v, uint32_t id, uint64_t n)
{
	struct virt_dir *d;

	pthread_mutex_lock(&v->lock);
	d = dir_of(v, id);
	if (d)
		d->nlookup -= MFS_MIN(d->nlookup, n);
	pthread_mutex_unlock(&v->lock);
}

/*
 * The listing of folder id, made again if older than VIRT_TIMEOUT (the
 * caller puts it).  -ESTALE if the slot was given away.
 */
static int dir_list(struct mfs_fuse *f, struct catalog *c, uint32_t id,
		    struct virt_list **out)
{
	struct mfs_fuse_virt *v = f->virt;
	int64_t fresh_after = clock_ns(CLOCK_MONOTONIC) -
			      (int64_t)(VIRT_TIMEOUT * 1e9);
	struct virt_list *l = NULL;
	struct virt_dir *d;
	bool collection;
	char *key;
	int rc;

	pthread_mutex_lock(&v->lock);
	d = dir_of(v, id);
	if (d && d->list && d->list->made_mono_ns >= fresh_after) {
		l = d->list;
		atomic_fetch_add(&l->refs, 1);
	}
	key = d && !l ? str_dup(d->key) : NULL;
	collection = d && d->collection;
	pthread_mutex_unlock(&v->lock);
	*out = l;
	if (l)
		return 0;
	if (!d)
		return -ESTALE;
	if (!key)
		return -ENOMEM;
	/* made outside the lock: a search takes milliseconds */
	rc = list_make(f, c, collection, key, &l);
	free(key);
	if (rc)
		return rc;
	pthread_mutex_lock(&v->lock);
	d = dir_of(v, id);
	if (d) {
		list_put(d->list);
		d->list = l;
		atomic_fetch_add(&l->refs, 1);
	}
	pthread_mutex_unlock(&v->lock);
	*out = l;
	return 0;
}

void mfs_fuse_virt_forget(struct mfs_fuse *f, fuse_ino_t ino,
			  uint64_t nlookup)
{
	/* symlinks keep no state; only folders count */
	if (!ino_vnode(ino) && ino_id(ino))
		dir_unref(f->virt, ino_id(ino), nlookup);
}

/* ---- attributes -------------------------------------------------------- */

static void fill_dir(const struct mfs_fuse *f, fuse_ino_t ino, int64_t mtime,
		     struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 1;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_blksize = 4096;
	st->st_mtim.tv_sec = mtime / 1000000000;
	st->st_mtim.tv_nsec = mtime % 1000000000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

static void fill_link(const struct mfs_fuse *f, fuse_ino_t ino, size_t len,
		      struct stat *st)
{
	fill_dir(f, ino, f->virt->mount_ns, st);
	st->st_mode = S_IFLNK | 0777;
	st->st_size = (off_t)len;
}

static void fill_entry(fuse_ino_t ino, double timeout,
		       struct fuse_entry_param *e)
{
	e->ino = ino;
	e->generation = 0;
	e->entry_timeout = timeout;
	e->attr_timeout = MFS_MIN(timeout, VIRT_TIMEOUT);
}

/* ---- paths ------------------------------------------------------------- */

/* The track's path in the mount, no leading '/' (caller releases out). */
static int vnode_path(struct catalog *c, int64_t ino, struct buf *out)
{
	char (*names)[CATALOG_NAME_MAX + 1];
	struct catalog_vnode v;
	int depth = 0;
	int rc = 0;

	names = malloc(VIRT_DEPTH_MAX * sizeof(*names));
	if (!names)
		return -ENOMEM;
	while (!rc && ino != CATALOG_ROOT_INO) {
		rc = depth < VIRT_DEPTH_MAX ? catalog_vnode_get(c, ino, &v)
					    : -ELOOP;
		if (!rc) {
			memcpy(names[depth++], v.name, sizeof(v.name));
			ino = v.parent;
		}
	}
	while (!rc && depth > 0) {
		rc = buf_adds(out, names[--depth]);
		if (!rc && depth)
			rc = buf_addch(out, '/');
	}
	free(names);
	return rc;
}

/* The target of a symlink: "../" or "../../" and the track's path. */
static int link_target(struct catalog *c, fuse_ino_t ino, struct buf *out)
{
	int rc = buf_adds(out, link_prefix(ino_collection(ino)));

	return rc ? rc : vnode_path(c, ino_vnode(ino), out);
}

/* ---- the root: /.search and the collections ---------------------------- */

/*
 * The name collection `name` has at the root: its own, or with
 * VIRT_SUFFIX when the catalog has a root folder of the same fold key
 * (an artist keeps its name).  Caller frees; NULL on ENOMEM.
 */
static char *root_name(struct catalog *c, const char *name)
{
	struct catalog_vnode v;
	char *fold = tree_fold_name(name);
	int rc;

	if (!fold)
		return NULL;
	rc = catalog_vnode_lookup_fold(c, CATALOG_ROOT_INO, fold, &v);
	free(fold);
	return rc ? str_dup(name) : str_printf("%s%s", name, VIRT_SUFFIX);
}

struct root_find {
	struct catalog *c;
	const char *want;
	char *found;		/* the collection's own name */
	int rc;
};

static int root_find_one(void *ctx, const struct collections_info *info)
{
	struct root_find *r = ctx;
	size_t n = strlen(info->name);
	char *shown;

	/* only a name it could have: itself, or itself with the suffix */
	if (strncmp(r->want, info->name, n) ||
	    (r->want[n] && strcmp(r->want + n, VIRT_SUFFIX)))
		return 0;
	shown = root_name(r->c, info->name);
	if (!shown) {
		r->rc = -ENOMEM;
		return 1;
	}
	if (!strcmp(shown, r->want))
		r->found = str_dup(info->name);
	free(shown);
	return r->found != NULL;
}

int mfs_fuse_virt_root_lookup(struct mfs_fuse *f, struct catalog *c,
			      const char *name, struct fuse_entry_param *e)
{
	struct root_find r = { .c = c, .want = name };
	uint32_t id;

	memset(e, 0, sizeof(*e));
	if (!strcmp(name, VIRT_SEARCH_NAME)) {
		fill_entry(MFS_FUSE_VIRT_BASE, f->cfg.timeout, e);
		e->attr_timeout = f->cfg.timeout;
		fill_dir(f, MFS_FUSE_VIRT_BASE, f->virt->mount_ns, &e->attr);
		return 0;
	}
	if (!f->cfg.collections)
		return -ENOENT;
	collections_list(f->cfg.collections, root_find_one, &r);
	if (!r.found)
		return r.rc ? r.rc : -ENOENT;
	id = dir_get(f->virt, true, r.found, true);
	free(r.found);
	if (!id)
		return -ENOMEM;
	/* the entry lasts (changes are invalidated); the listing does not */
	fill_entry(dir_ino(id, true), f->cfg.timeout, e);
	fill_dir(f, e->ino, clock_ns(CLOCK_REALTIME), &e->attr);
	return 0;
}

struct root_list {
	struct mfs_fuse *f;
	struct catalog *c;
	off_t first;		/* index of the first collection to add */
	off_t index;
	bool plus;
	int (*add)(void *ctx, const char *name,
		   const struct fuse_entry_param *e, off_t next);
	void *ctx;
	int rc;
};

static int root_list_one(void *ctx, const struct collections_info *info)
{
	struct root_list *r = ctx;
	struct fuse_entry_param e;
	char *shown;
	uint32_t id;
	int full;

	if (r->index++ < r->first)
		return 0;
	shown = root_name(r->c, info->name);
	/* readdirplus hands the kernel a reference, as a lookup does */
	id = shown ? dir_get(r->f->virt, true, info->name, r->plus) : 0;
	if (!id) {
		free(shown);
		r->rc = -ENOMEM;
		return 1;
	}
	memset(&e, 0, sizeof(e));
	fill_entry(dir_ino(id, true), r->f->cfg.timeout, &e);
	fill_dir(r->f, e.ino, clock_ns(CLOCK_REALTIME), &e.attr);
	full = r->add(r->ctx, shown, &e, VIRT_ROOT_OFF + r->index);
	free(shown);
	if (full && r->plus)
		dir_unref(r->f->virt, id, 1);
	return full;
}

bool mfs_fuse_virt_root_offset(off_t off)
{
	return off >= VIRT_ROOT_OFF;
}

int mfs_fuse_virt_root_list(struct mfs_fuse *f, struct catalog *c, off_t off,
			    bool plus,
			    int (*add)(void *ctx, const char *name,
				       const struct fuse_entry_param *e,
				       off_t next),
			    void *ctx)
{
	struct root_list r = {
		.f = f, .c = c, .plus = plus, .add = add, .ctx = ctx,
		.first = off >= VIRT_ROOT_OFF ? off - VIRT_ROOT_OFF : 0,
	};

	if (!f->cfg.collections)
		return 0;
	collections_list(f->cfg.collections, root_list_one, &r);
	return r.rc;
}

/*
 * A collection appeared or went, or a root folder with its name did:
 * the kernel forgets both names the collection may have at the root and
 * the root's listing; its folder's listing is made again.
 */
void mfs_fuse_virt_root_changed(struct mfs_fuse *f, const char *name)
{
	struct mfs_fuse_virt *v = f->virt;
	char *suffixed = str_printf("%s%s", name, VIRT_SUFFIX);
	size_t i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < VIRT_SLOTS; i++) {
		struct virt_dir *d = &v->dirs[i];

		if (d->id && d->collection && !strcmp(d->key, name)) {
			list_put(d->list);
			d->list = NULL;
		}
	}
	pthread_mutex_unlock(&v->lock);
	mfs_fuse_inval_entry(f, CATALOG_ROOT_INO, name);
	if (suffixed)
		mfs_fuse_inval_entry(f, CATALOG_ROOT_INO, suffixed);
	mfs_fuse_inval_inode(f, CATALOG_ROOT_INO);
	free(suffixed);
}

/* Does name (a root folder the tree changed) match a collection's? */
struct root_match {
	char *fold;
	char *name;
};

static int root_match_one(void *ctx, const struct collections_info *info)
{
	struct root_match *m = ctx;
	char *fold = tree_fold_name(info->name);
	int hit = fold && !strcmp(fold, m->fold);

	free(fold);
	if (hit)
		m->name = str_dup(info->name);
	return hit;
}

void mfs_fuse_virt_root_entry_changed(struct mfs_fuse *f, const char *name)
{
	struct root_match m = { .fold = tree_fold_name(name) };

	if (m.fold && f->cfg.collections)
		collections_list(f->cfg.collections, root_match_one, &m);
	if (m.name)
		mfs_fuse_virt_root_changed(f, m.name);
	free(m.fold);
	free(m.name);
}

/* ---- handlers ---------------------------------------------------------- */

/* Look name up in a search or collection folder: its symlink. */
static int lookup_link(struct mfs_fuse *f, struct catalog *c,
		       fuse_ino_t parent, const char *name,
		       struct fuse_entry_param *e)
{
	struct virt_list *l;
	size_t i;
	int rc;

	rc = dir_list(f, c, ino_id(parent), &l);
	if (rc)
		return rc;
	rc = -ENOENT;
	for (i = 0; rc && i < l->n; i++) {
		if (strcmp(l->e[i].name, name))
			continue;
		fill_entry(parent | (fuse_ino_t)l->e[i].vnode, VIRT_TIMEOUT,
			   e);
		fill_link(f, e->ino, l->e[i].target_len, &e->attr);
		rc = 0;
	}
	list_put(l);
	return rc;
}

/* Look a query up in /.search: a folder, or EINVAL if it is no query. */
static int lookup_query(struct mfs_fuse *f, const char *query,
			struct fuse_entry_param *e)
{
	struct search_plan *plan = NULL;
	char err[256];
	uint32_t id;
	int rc;

	rc = search_compile(query, &plan, err, sizeof(err));
	search_plan_free(plan);
	if (rc == -EINVAL)
		mfs_log(MFS_LOG_WARN, "bad query '%s' in /.search: %s", query,
			err);
	if (rc)
		return rc;
	id = dir_get(f->virt, false, query, true);
	if (!id)
		return -ENOMEM;
	fill_entry(dir_ino(id, false), VIRT_TIMEOUT, e);
	fill_dir(f, e->ino, clock_ns(CLOCK_REALTIME), &e->attr);
	return 0;
}

void mfs_fuse_virt_lookup(fuse_req_t req, fuse_ino_t parent,
			  const char *name)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct fuse_entry_param e;
	struct catalog *c = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	if (parent == MFS_FUSE_VIRT_BASE) {
		rc = lookup_query(f, name, &e);
	} else if (ino_id(parent) && !ino_vnode(parent)) {
		c = mfs_fuse_reader_get(f);
		rc = c ? lookup_link(f, c, parent, name, &e) : -EIO;
		mfs_fuse_reader_put(f, c);
	} else {
		rc = -ENOTDIR;
	}
	if (rc == -ENOENT) {
		/* a name that is no result now may be one in a moment */
		e.entry_timeout = VIRT_TIMEOUT;
		return (void)fuse_reply_entry(req, &e);
	}
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_entry(req, &e);
}

void mfs_fuse_virt_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct buf target = BUF_INIT_MAX(PATH_MAX);
	struct virt_list *l = NULL;
	struct catalog *c;
	struct stat st;
	int rc = 0;

	if (ino == MFS_FUSE_VIRT_BASE) {
		fill_dir(f, ino, f->virt->mount_ns, &st);
		return (void)fuse_reply_attr(req, &st, f->cfg.timeout);
	}
	c = mfs_fuse_reader_get(f);
	if (!c)
		rc = -EIO;
	else if (ino_vnode(ino))
		rc = link_target(c, ino, &target);
	else
		rc = dir_list(f, c, ino_id(ino), &l);
	mfs_fuse_reader_put(f, c);
	if (!rc && l)
		fill_dir(f, ino, l->made_ns, &st);
	else if (!rc)
		fill_link(f, ino, target.len, &st);
	list_put(l);
	buf_release(&target);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_attr(req, &st, VIRT_TIMEOUT);
}

void mfs_fuse_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct buf target = BUF_INIT_MAX(PATH_MAX);
	struct catalog *c;
	int rc;

	if (!mfs_fuse_is_virt(ino) || !ino_vnode(ino))
		return (void)fuse_reply_err(req, EINVAL);
	c = mfs_fuse_reader_get(f);
	rc = c ? link_target(c, ino, &target) : -EIO;
	mfs_fuse_reader_put(f, c);
	if (!rc)
		rc = buf_addch(&target, '\0');
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target.data);
	buf_release(&target);
}

/* Add ".", "..", then entries from index first; 1 when the buffer is full. */
static int list_fill(struct mfs_fuse *f, fuse_ino_t ino, fuse_ino_t parent,
		     const struct virt_list *l, off_t off,
		     int (*add)(void *ctx, const char *name,
				const struct fuse_entry_param *e, off_t next),
		     void *ctx)
{
	struct fuse_entry_param e;
	size_t i;

	memset(&e, 0, sizeof(e));
	fill_entry(ino, VIRT_TIMEOUT, &e);
	fill_dir(f, ino, l ? l->made_ns : f->virt->mount_ns, &e.attr);
	if (off < 1 && add(ctx, ".", &e, 1))
		return 1;
	fill_entry(parent, VIRT_TIMEOUT, &e);
	fill_dir(f, parent, f->virt->mount_ns, &e.attr);
	if (off < 2 && add(ctx, "..", &e, 2))
		return 1;
	for (i = off > 2 ? (size_t)off - 2 : 0; l && i < l->n; i++) {
		memset(&e, 0, sizeof(e));
		fill_entry(ino | (fuse_ino_t)l->e[i].vnode, VIRT_TIMEOUT, &e);
		fill_link(f, e.ino, l->e[i].target_len, &e.attr);
		if (add(ctx, l->e[i].name, &e, (off_t)i + 3))
			return 1;
	}
	return 0;
}

int mfs_fuse_virt_list(struct mfs_fuse *f, fuse_ino_t ino, off_t off,
		       int (*add)(void *ctx, const char *name,
				  const struct fuse_entry_param *e,
				  off_t next),
		       void *ctx)
{
	struct virt_list *l = NULL;
	struct catalog *c;
	int rc = 0;

	if (ino == MFS_FUSE_VIRT_BASE) {
		list_fill(f, ino, CATALOG_ROOT_INO, NULL, off, add, ctx);
		return 0;
	}
	if (ino_vnode(ino))
		return -ENOTDIR;
	c = mfs_fuse_reader_get(f);
	rc = c ? dir_list(f, c, ino_id(ino), &l) : -EIO;
	mfs_fuse_reader_put(f, c);
	if (!rc)
		list_fill(f, ino,
			  ino_collection(ino) ? CATALOG_ROOT_INO
					      : MFS_FUSE_VIRT_BASE,
			  l, off, add, ctx);
	list_put(l);
	return rc;
}
