/*
 * tree.c - placing catalog files in the virtual tree (see tree.h).
 *
 * A batch of changes (one scanner transaction) collects three kinds of
 * pending work: folders whose children changed (their cover and mtime are
 * recomputed in tree_finish), album keys whose tracks changed (their
 * multi-disc state is rechecked), and kernel invalidations (sent by
 * tree_publish after the commit, so that the kernel never re-reads a state
 * that is about to be rolled back).
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_TREE
#include "log/log.h"
#include "tree/tree.h"
#include "tree/template_i.h"

#include <time.h>

struct inval {
	int64_t parent;		/* 0: inode invalidation of ino */
	int64_t ino;
	char *name;
};

struct tree {
	struct catalog *db;
	struct template *tpl;
	char *tpl_text;
	struct tree_listener listener;
	/* pending work of the current batch */
	int64_t *dirty_dirs;
	size_t n_dirty_dirs, cap_dirty_dirs;
	char **dirty_albums;
	size_t n_dirty_albums, cap_dirty_albums;
	struct inval *invals;
	size_t n_invals, cap_invals;
	struct inval *freed;	/* track names given up: (parent, fold) */
	size_t n_freed, cap_freed;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Grow *arr (of elem-sized items) to hold one more; 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int mark_dir(struct tree *t, int64_t dir)
{
	if (t->n_dirty_dirs &&
	    t->dirty_dirs[t->n_dirty_dirs - 1] == dir)
		return 0;
	if (grow((void **)&t->dirty_dirs, &t->cap_dirty_dirs, t->n_dirty_dirs,
		 sizeof(*t->dirty_dirs)))
		return -ENOMEM;
	t->dirty_dirs[t->n_dirty_dirs++] = dir;
	return 0;
}

static int mark_album(struct tree *t, const char *key)
{
	char *copy;

	if (!key)
		return 0;
	if (t->n_dirty_albums &&
	    !strcmp(t->dirty_albums[t->n_dirty_albums - 1], key))
		return 0;
	if (grow((void **)&t->dirty_albums, &t->cap_dirty_albums,
		 t->n_dirty_albums, sizeof(*t->dirty_albums)))
		return -ENOMEM;
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	t->dirty_albums[t->n_dirty_albums++] = copy;
	return 0;
}

/* Queue an entry invalidation (name != NULL) or an inode one. */
static int queue_inval(struct tree *t, int64_t parent, int64_t ino,
		       const char *name)
{
	struct inval *iv;

	if (!t->listener.inval_entry)
		return 0;
	if (grow((void **)&t->invals, &t->cap_invals, t->n_invals,
		 sizeof(*t->invals)))
		return -ENOMEM;
	iv = &t->invals[t->n_invals];
	iv->parent = parent;
	iv->ino = ino;
	iv->name = NULL;
	if (name) {
		iv->name = strdup(name);
		if (!iv->name)
			return -ENOMEM;
	}
	t->n_invals++;
	return 0;
}

/* A name under parent changed: kernel entry, parent listing, parent cover. */
static int name_changed(struct tree *t, int64_t parent, const char *name)
{
	int rc = queue_inval(t, parent, 0, name);

	return rc ? rc : mark_dir(t, parent);
}

char *tree_fold_name(const char *name)
{
	return template_fold(name);
}

char *tree_sanitize_name(const char *name, bool keep_ext)
{
	return template_sanitize(name, keep_ext);
}

int tree_template_check(const char *template_text, char *err, size_t errsize)
{
	struct template *tpl;
	int rc;

	rc = template_compile(template_text ? template_text
					    : TREE_DEFAULT_TEMPLATE,
			      &tpl, err, errsize);
	template_free(rc ? NULL : tpl);
	return rc;
}

int tree_new(struct catalog *writer, const char *template_text,
	     struct tree **out, char *err, size_t errsize)
{
	struct tree *t;
	int rc;

	*out = NULL;
	if (!template_text)
		template_text = TREE_DEFAULT_TEMPLATE;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->db = writer;
	t->tpl_text = strdup(template_text);
	if (!t->tpl_text) {
		free(t);
		return -ENOMEM;
	}
	rc = template_compile(template_text, &t->tpl, err, errsize);
	if (rc) {
		tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void tree_discard(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n_dirty_albums; i++)
		free(t->dirty_albums[i]);
	for (i = 0; i < t->n_invals; i++)
		free(t->invals[i].name);
	for (i = 0; i < t->n_freed; i++)
		free(t->freed[i].name);
	t->n_freed = 0;
	t->n_dirty_albums = 0;
	t->n_invals = 0;
	t->n_dirty_dirs = 0;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	tree_discard(t);
	free(t->dirty_dirs);
	free(t->dirty_albums);
	free(t->invals);
	free(t->freed);
	template_free(t->tpl);
	free(t->tpl_text);
	free(t);
}

void tree_set_listener(struct tree *t, const struct tree_listener *l)
{
	t->listener = *l;
}

char *tree_album_key(const struct formats_tags *tags)
{
	const char *artist = !str_empty(tags->album_artist) ? tags->album_artist
							    : tags->artist;
	char *fa = template_fold(artist ? artist : "");
	char *fb = template_fold(tags->album ? tags->album : "");
	char *key = NULL;

	if (fa && fb)
		key = str_printf("%s\x1f%s", fa, fb);
	free(fa);
	free(fb);
	return key;
}

/* The lowercase extension of a file name ("" if none). */
static void name_ext(const char *relpath, char *ext, size_t size)
{
	const char *base = strrchr(relpath, '/');
	const char *dot;
	size_t i;

	base = base ? base + 1 : relpath;
	dot = strrchr(base, '.');
	str_copy(ext, dot && dot != base ? dot + 1 : "", size);
	for (i = 0; ext[i]; i++)
		if (ext[i] >= 'A' && ext[i] <= 'Z')
			ext[i] = (char)(ext[i] - 'A' + 'a');
}

/* Render the path components of file f placed with multi-disc flag multi. */
static int render(struct tree *t, const struct catalog_file *f, bool multi,
		  char ***comps, size_t *n)
{
	const struct formats_tags *tags = &f->meta.tags;
	struct template_vars v = { 0 };
	const char *base = strrchr(f->relpath, '/');
	char ext[16];

	name_ext(f->relpath, ext, sizeof(ext));
	v.artist = tags->artist;
	v.albumartist = tags->album_artist;
	v.album = tags->album;
	v.title = tags->title;
	v.genre = tags->genre;
	v.composer = tags->composer;
	v.format = f->meta.kind != FORMATS_UNKNOWN
			   ? formats_kind_ext(f->meta.kind)
			   : ext;
	v.orig_name = base ? base + 1 : f->relpath;
	v.track = tags->track;
	v.disc = tags->disc;
	v.year = tags->year;
	v.multi_disc = multi;
	return template_render(t->tpl, &v, comps, n);
}

/*
 * The n-th variant of a name: "name" for n == 1, else "stem (n).ext" (or
 * "name (n)" for folders), cut so it stays a valid component.
 */
static void name_variant(const char *name, bool is_file, int n, char *out,
			 size_t size)
{
	const char *dot = is_file ? strrchr(name, '.') : NULL;
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	const char *ext = stem < strlen(name) ? name + stem : "";
	char suffix[16];
	size_t room;

	if (n == 1) {
		str_copy(out, name, size);
		return;
	}
	snprintf(suffix, sizeof(suffix), " (%d)", n);
	room = size - 1 - strlen(suffix) - strlen(ext);
	if (stem > room) {
		stem = room;
		/* do not cut a UTF-8 sequence in half */
		while (stem > 0 && ((unsigned char)name[stem] & 0xc0) == 0x80)
			stem--;
	}
	snprintf(out, size, "%.*s%s%s", (int)stem, name, suffix, ext);
}

/*
 * Find or create the folder called name under parent; *ino receives it.
 * A file already holding that name (by fold key) pushes the folder to a
 * " (2)" variant.
 */
static int ensure_dir(struct tree *t, int64_t parent, const char *name,
		      int64_t *ino)
{
	struct catalog_vnode v;
	char fold_buf[CATALOG_NAME_MAX + 1];
	char *fold;
	int n;
	int rc;

	for (n = 1; n < 1000; n++) {
		name_variant(name, false, n, fold_buf, sizeof(fold_buf));
		fold = template_fold(fold_buf);
		if (!fold)
			return -ENOMEM;
		rc = catalog_vnode_lookup_fold(t->db, parent, fold, &v);
		if (rc == 0 && v.kind == CATALOG_VNODE_DIR) {
			free(fold);
			*ino = v.ino;
			return 0;
		}
		if (rc == -ENOENT) {
			memset(&v, 0, sizeof(v));
			v.parent = parent;
			v.kind = CATALOG_VNODE_DIR;
			v.mtime_ns = now_ns();
			str_copy(v.name, fold_buf, sizeof(v.name));
			rc = catalog_vnode_insert(t->db, &v, fold);
			free(fold);
			if (rc)
				return rc;
			*ino = v.ino;
			return name_changed(t, parent, v.name);
		}
		free(fold);
		if (rc)
			return rc;
	}
	return -EEXIST;
}

/* Count one more (delta 1) or one less (-1) use of a folder spelling. */
static int count_spelling(struct tree *t, int64_t dir, const char *spelling,
			  int delta)
{
	char top[CATALOG_NAME_MAX + 1];
	struct catalog_vnode v;
	char *fold_top, *fold_cur;
	bool same_folder;
	int rc;

	rc = catalog_spelling_add(t->db, dir, spelling, delta, top);
	if (rc == -ENOENT)
		return 0;	/* no track left: the folder goes away */
	if (rc)
		return rc;
	rc = catalog_vnode_get(t->db, dir, &v);
	if (rc || !strcmp(v.name, top))
		return rc;
	fold_top = template_fold(top);
	fold_cur = template_fold(v.name);
	same_folder = fold_top && fold_cur && !strcmp(fold_top, fold_cur);
	rc = same_folder ? catalog_vnode_rename(t->db, dir, top, fold_top) : 0;
	free(fold_top);
	free(fold_cur);
	if (rc || !same_folder)
		return rc;
	rc = queue_inval(t, v.parent, 0, v.name);
	return rc ? rc : name_changed(t, v.parent, top);
}

/*
 * The name a " (N)" variant stands for: "T (2).flac" -> "T.flac".  Caller
 * frees; NULL on ENOMEM.
 */
static char *strip_variant(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	size_t open = stem;

	if (stem >= 4 && name[stem - 1] == ')') {
		open = stem - 1;
		while (open > 0 && name[open - 1] >= '0' && name[open - 1] <= '9')
			open--;
		if (open < stem - 1 && open >= 2 && name[open - 1] == '(' &&
		    name[open - 2] == ' ')
			open -= 2;
		else
			open = stem;
	}
	return str_printf("%.*s%s", (int)open, name, name + stem);
}

/*
 * The first suffix number worth trying for a name that is taken: one past
 * the number of " (N)" variants already there, so that a thousand
 * untagged "track01.flac" cost a thousand inserts, not half a million.
 */
static int first_free_variant(struct tree *t, int64_t dir, const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	char *prefix = str_printf("%.*s (", (int)stem, name);
	char *fold = prefix ? template_fold(prefix) : NULL;
	int64_t n = 0;

	if (fold)
		catalog_vnode_count_prefix(t->db, dir, fold, &n);
	free(prefix);
	free(fold);
	return (int)MFS_MIN(n + 2, 1000000);
}

/* Insert the track vnode under dir with the first free variant of name. */
static int insert_track(struct tree *t, int64_t dir, const char *name,
			const struct catalog_file *f)
{
	struct catalog_vnode v = { 0 };
	char *fold;
	int n = 1, used = 1, tries;
	int rc = -EEXIST;

	v.parent = dir;
	v.kind = CATALOG_VNODE_TRACK;
	v.file = f->id;
	v.size = f->size;
	v.mtime_ns = f->mtime_ns;
	for (tries = 0; tries < 10000 && rc == -EEXIST; tries++) {
		name_variant(name, true, n, v.name, sizeof(v.name));
		fold = template_fold(v.name);
		if (!fold)
			return -ENOMEM;
		rc = catalog_vnode_insert(t->db, &v, fold);
		free(fold);
		used = n;
		n = n == 1 ? first_free_variant(t, dir, name) : n + 1;
	}
	if (!rc && used > 1) {
		/* remember the name it wanted, to give it back when free */
		fold = template_fold(name);
		rc = fold ? catalog_vnode_set_want(t->db, v.ino, fold) : -ENOMEM;
		free(fold);
	}
	return rc ? rc : name_changed(t, dir, v.name);
}

/* Note that a track gave up its name in dir (see give_back_names). */
static int name_freed(struct tree *t, int64_t dir, const char *name)
{
	char *plain = strip_variant(name);
	char *fold = plain ? template_fold(plain) : NULL;
	struct inval *fr;

	free(plain);
	if (!fold ||
	    grow((void **)&t->freed, &t->cap_freed, t->n_freed, sizeof(*fr))) {
		free(fold);
		return -ENOMEM;
	}
	fr = &t->freed[t->n_freed++];
	fr->parent = dir;
	fr->ino = 0;
	fr->name = fold;
	return 0;
}

/*
 * A name that a " (N)" track wanted is free again: give it to the oldest
 * such track, so the tree looks as a fresh scan would make it.
 */
static int give_back_names(struct tree *t)
{
	struct catalog_vnode v, w;
	char *plain;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < t->n_freed; i++) {
		const struct inval *fr = &t->freed[i];

		rc = catalog_vnode_lookup_fold(t->db, fr->parent, fr->name, &v);
		if (rc != -ENOENT)
			continue;	/* still taken (or an error) */
		rc = catalog_vnode_wanting(t->db, fr->parent, fr->name, &w);
		if (rc) {
			rc = rc == -ENOENT ? 0 : rc;
			continue;
		}
		plain = strip_variant(w.name);
		rc = plain ? catalog_vnode_rename(t->db, w.ino, plain, fr->name)
			   : -ENOMEM;
		if (!rc)
			rc = queue_inval(t, fr->parent, 0, w.name);
		if (!rc)
			rc = name_changed(t, fr->parent, plain);
		free(plain);
	}
	return rc;
}

int tree_place(struct tree *t, int64_t file_id)
{
	struct catalog_file f;
	char *key = NULL;
	char **comps = NULL;
	size_t n = 0, i;
	int64_t dir = CATALOG_ROOT_INO;
	bool multi = false;
	int rc;

	rc = catalog_file_get(t->db, file_id, &f);
	if (rc)
		return rc;
	if (f.role != CATALOG_ROLE_TRACK)
		goto out;
	key = tree_album_key(&f.meta.tags);
	rc = key ? catalog_album_multi_disc(t->db, key, &multi) : -ENOMEM;
	if (!rc)
		rc = mark_album(t, key);
	if (!rc)
		rc = render(t, &f, multi, &comps, &n);
	for (i = 0; !rc && i + 1 < n; i++) {
		rc = ensure_dir(t, dir, comps[i], &dir);
		if (!rc)
			rc = count_spelling(t, dir, comps[i], 1);
	}
	if (!rc && n)
		rc = insert_track(t, dir, comps[n - 1], &f);
	if (!rc)
		rc = catalog_file_set_placed_multi(t->db, file_id, multi);
out:
	template_components_free(comps, n);
	free(key);
	catalog_file_release(&f);
	return rc;
}

/*
 * Remove the now childless folder dir and, recursively, its parents left
 * empty; folder spellings of a removed folder go with it.
 */
static int prune_dirs(struct tree *t, int64_t dir)
{
	struct catalog_vnode v;
	bool any;
	int rc;

	while (dir != CATALOG_ROOT_INO) {
		rc = catalog_vnode_has_children(t->db, dir, &any);
		if (rc || any)
			return rc;
		rc = catalog_vnode_get(t->db, dir, &v);
		if (rc)
			return rc == -ENOENT ? 0 : rc;
		rc = catalog_vnode_delete(t->db, dir);
		if (!rc)
			rc = name_changed(t, v.parent, v.name);
		if (rc)
			return rc;
		dir = v.parent;
	}
	return 0;
}

/* Undo the spelling counts that placing f added along its folders. */
static int uncount_spellings(struct tree *t, const struct catalog_file *f,
			     int64_t dir)
{
	struct catalog_vnode v;
	char **comps = NULL;
	size_t n = 0, level;
	int rc;

	rc = render(t, f, f->placed_multi, &comps, &n);
	for (level = n; !rc && level > 1 && dir != CATALOG_ROOT_INO; level--) {
		rc = catalog_vnode_get(t->db, dir, &v);
		if (!rc)
			rc = count_spelling(t, dir, comps[level - 2], -1);
		dir = v.parent;
	}
	template_components_free(comps, n);
	return rc == -ENOENT ? 0 : rc;
}

int tree_unplace(struct tree *t, int64_t file_id)
{
	struct catalog_file f;
	struct catalog_vnode v;
	char *key;
	int rc;

	rc = catalog_vnode_of_file(t->db, file_id, CATALOG_VNODE_TRACK, &v);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = catalog_file_get(t->db, file_id, &f);
	if (rc)
		return rc;
	key = tree_album_key(&f.meta.tags);
	rc = key ? mark_album(t, key) : -ENOMEM;
	if (!rc)
		rc = catalog_vnode_delete(t->db, v.ino);
	if (!rc)
		rc = name_changed(t, v.parent, v.name);
	if (!rc)
		rc = name_freed(t, v.parent, v.name);
	if (!rc)
		rc = uncount_spellings(t, &f, v.parent);
	free(key);
	catalog_file_release(&f);
	return rc;
}

/* Where a folder's cover comes from. */
struct cover_source {
	int64_t file;
	int64_t offset;		/* -1: decoded picture stored in the catalog */
	int64_t length;
	int64_t mtime_ns;
	const char *name;	/* "cover.jpg", "cover.png", ... */
};

static const char *cover_name(const char *mime_or_path)
{
	if (str_ends_with_ci(mime_or_path, "png"))
		return "cover.png";
	if (str_ends_with_ci(mime_or_path, "gif"))
		return "cover.gif";
	if (str_ends_with_ci(mime_or_path, "webp"))
		return "cover.webp";
	return "cover.jpg";
}

/* The image file beside the track in its origin folder, if any. */
static int folder_image(struct tree *t, const struct catalog_file *track,
			struct cover_source *src)
{
	const char *slash = strrchr(track->relpath, '/');
	char *dir = str_ndup(track->relpath,
			     slash ? (size_t)(slash - track->relpath) : 0);
	struct catalog_file img;
	int64_t id;
	int rc;

	if (!dir)
		return -ENOMEM;
	rc = catalog_image_in_dir(t->db, track->origin, dir, &id);
	free(dir);
	if (rc)
		return rc;
	rc = catalog_file_get(t->db, id, &img);
	if (rc)
		return rc;
	src->file = id;
	src->offset = 0;
	src->length = img.size;
	src->mtime_ns = img.mtime_ns;
	src->name = cover_name(img.relpath);
	catalog_file_release(&img);
	return 0;
}

/*
 * The cover of folder dir: the embedded picture of its first track, else
 * an image file in that track's origin folder.  -ENOENT if none.
 */
static int find_cover(struct tree *t, int64_t dir, struct cover_source *src)
{
	struct catalog_vnode first;
	struct catalog_file f;
	const struct formats_picture *p;
	int rc;

	rc = catalog_vnode_first_track(t->db, dir, &first);
	if (rc)
		return rc;
	rc = catalog_file_get(t->db, first.file, &f);
	if (rc)
		return rc;
	p = &f.meta.picture;
	if (p->present && p->length > 0) {
		src->file = f.id;
		/* -1: not a range of the file (decoded when it is read) */
		src->offset = f.pic_blob || p->store != FORMATS_PIC_RAW
				      ? -1
				      : (int64_t)p->offset;
		src->length = (int64_t)p->length;
		src->mtime_ns = f.mtime_ns;
		src->name = cover_name(p->mime);
	} else {
		rc = folder_image(t, &f, src);
	}
	catalog_file_release(&f);
	return rc;
}

static bool same_cover(const struct catalog_vnode *v,
		       const struct cover_source *src)
{
	return v->file == src->file && v->src_offset == src->offset &&
	       v->size == src->length && v->mtime_ns == src->mtime_ns &&
	       !strcmp(v->name, src->name);
}

/* Make folder dir's cover vnode match what find_cover says. */
static int refresh_cover(struct tree *t, int64_t dir)
{
	struct catalog_vnode old, v = { 0 };
	struct cover_source src;
	bool had, want;
	char *fold;
	int rc;

	rc = catalog_vnode_child_of_kind(t->db, dir, CATALOG_VNODE_COVER, &old);
	if (rc && rc != -ENOENT)
		return rc;
	had = rc == 0;
	rc = find_cover(t, dir, &src);
	if (rc && rc != -ENOENT)
		return rc;
	want = rc == 0;
	if (had && want && same_cover(&old, &src))
		return 0;
	if (had) {
		rc = catalog_vnode_delete(t->db, old.ino);
		if (!rc)
			rc = queue_inval(t, dir, 0, old.name);
		if (rc)
			return rc;
	}
	if (!want)
		return 0;
	v.parent = dir;
	v.kind = CATALOG_VNODE_COVER;
	v.file = src.file;
	v.size = src.length;
	v.mtime_ns = src.mtime_ns;
	v.src_offset = src.offset;
	str_copy(v.name, src.name, sizeof(v.name));
	fold = template_fold(v.name);
	rc = fold ? catalog_vnode_insert(t->db, &v, fold) : -ENOMEM;
	free(fold);
	/* a track that took the name first keeps it: no cover then */
	if (rc == -EEXIST)
		return 0;
	return rc ? rc : queue_inval(t, dir, 0, v.name);
}

/* Ids collected from a query before acting on them (never modify a
 * table while a statement over it is still stepping). */
struct id_list {
	int64_t *ids;
	size_t n, cap;
};

/* Re-place one track whose multi-disc flag is stale. */
static int replace_cb(void *ctx, int64_t id)
{
	struct tree *t = ctx;
	int rc = tree_unplace(t, id);

	return rc ? rc : tree_place(t, id);
}

static int collect_id(void *ctx, int64_t id)
{
	struct id_list *list = ctx;

	if (grow((void **)&list->ids, &list->cap, list->n, sizeof(*list->ids)))
		return -ENOMEM;
	list->ids[list->n++] = id;
	return 0;
}

/* Re-place the tracks of album key placed with a stale multi-disc flag. */
static int fix_album(struct tree *t, const char *key)
{
	struct id_list list = { NULL, 0, 0 };
	bool multi;
	size_t i;
	int rc;

	rc = catalog_album_multi_disc(t->db, key, &multi);
	if (!rc)
		rc = catalog_album_misplaced(t->db, key, multi, collect_id,
					     &list);
	for (i = 0; !rc && i < list.n; i++)
		rc = replace_cb(t, list.ids[i]);
	free(list.ids);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Covers, emptiness and mtimes of the folders touched by this batch. */
static int finish_dirs(struct tree *t)
{
	int64_t now = now_ns();
	struct catalog_vnode v;
	size_t i;
	int rc = 0;

	qsort(t->dirty_dirs, t->n_dirty_dirs, sizeof(int64_t), cmp_i64);
	for (i = 0; !rc && i < t->n_dirty_dirs; i++) {
		int64_t dir = t->dirty_dirs[i];

		if (i && dir == t->dirty_dirs[i - 1])
			continue;
		rc = catalog_vnode_get(t->db, dir, &v);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (!rc)
			rc = refresh_cover(t, dir);
		if (!rc)
			rc = catalog_vnode_touch(t->db, dir, now);
		if (!rc)
			rc = queue_inval(t, 0, dir, NULL);
		if (!rc)
			rc = prune_dirs(t, dir);
	}
	return rc;
}

int tree_finish(struct tree *t)
{
	size_t i;
	int rc = 0;

	/* fixing an album may dirty more albums: loop until it settles */
	for (i = 0; !rc && i < t->n_dirty_albums; i++)
		rc = fix_album(t, t->dirty_albums[i]);
	if (!rc)
		rc = give_back_names(t);
	if (rc)
		return rc;
	/* pruning marks parents dirty: run until no new folder appears */
	for (i = 0; !rc && i < 8 && t->n_dirty_dirs; i++) {
		size_t before = t->n_dirty_dirs;

		rc = finish_dirs(t);
		if (t->n_dirty_dirs == before)
			break;
		memmove(t->dirty_dirs, t->dirty_dirs + before,
			(t->n_dirty_dirs - before) * sizeof(int64_t));
		t->n_dirty_dirs -= before;
	}
	t->n_dirty_dirs = 0;
	return rc;
}

void tree_publish(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n_invals; i++) {
		struct inval *iv = &t->invals[i];

		if (iv->name)
			t->listener.inval_entry(t->listener.ctx, iv->parent,
						iv->name);
		else
			t->listener.inval_inode(t->listener.ctx, iv->ino);
	}
	tree_discard(t);
}

int tree_folder_images_changed(struct tree *t, int64_t origin,
			       const char *dir)
{
	struct id_list list = { NULL, 0, 0 };
	struct catalog_vnode v;
	size_t i;
	int rc;

	rc = catalog_tracks_in_dir(t->db, origin, dir, collect_id, &list);
	for (i = 0; !rc && i < list.n; i++) {
		rc = catalog_vnode_of_file(t->db, list.ids[i],
					   CATALOG_VNODE_TRACK, &v);
		if (rc == 0)
			rc = mark_dir(t, v.parent);
		else if (rc == -ENOENT)
			rc = 0;
	}
	free(list.ids);
	return rc;
}

int tree_sync_template(struct tree *t)
{
	struct id_list list = { NULL, 0, 0 };
	char *old = NULL;
	size_t i;
	int rc;

	rc = catalog_meta_get(t->db, "path_template", &old);
	if (rc && rc != -ENOENT)
		return rc;
	if (old && !strcmp(old, t->tpl_text)) {
		free(old);
		return 0;
	}
	if (old)
		mfs_log(MFS_LOG_INFO, "path template changed: rebuilding the "
				      "tree");
	free(old);
	rc = catalog_vnode_clear(t->db);
	if (!rc)
		rc = queue_inval(t, 0, CATALOG_ROOT_INO, NULL);
	if (!rc)
		rc = catalog_tracks_all(t->db, collect_id, &list);
	for (i = 0; !rc && i < list.n; i++)
		rc = tree_place(t, list.ids[i]);
	free(list.ids);
	if (!rc)
		rc = catalog_meta_set(t->db, "path_template", t->tpl_text);
	return rc;
}
