/*
 * scan.c - the scanner thread (see scan.h).
 *
 * Mark and sweep: each walk takes a new generation number; every file
 * seen is stamped with it (unchanged files cost one UPDATE, no parse);
 * afterwards the files of the walked folder still carrying an older
 * generation have vanished.  A walk whose root cannot be listed, or that
 * finds nothing where the catalog knew files, sweeps nothing: an
 * unreachable NAS must never look like a deleted library.
 *
 * Writes are batched: a transaction is committed after SCAN_BATCH_FILES
 * changes or SCAN_BATCH_NS, then the tree's invalidations are published,
 * so the mount shows new files while a long scan runs.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_SCAN
#include "log/log.h"
#include "events/events.h"
#include "scan/scan_i.h"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SCAN_BATCH_FILES 2000
#define SCAN_BATCH_NS (500 * 1000000LL)
#define SCAN_QUIET_NS (150 * 1000000LL)	/* inotify debounce */
#define SCAN_MAX_DELAY_NS (1000 * 1000000LL)
#define SCAN_MAX_DEPTH 64

struct scan_request {
	size_t oi;
	char *relpath;
};

/* A change of the open batch, published as an event once it commits. */
struct scan_change {
	enum event_type type;
	size_t oi;
	char *relpath;
};

struct scan {
	struct catalog *db;
	struct tree *tree;
	struct origin **origins;
	size_t n_origins;
	struct watch *watch;		/* NULL if inotify is unavailable */
	struct event_bus *bus;		/* NULL: no events */
	atomic_bool stop;		/* set by scan_wake: leave scan_run */
	atomic_bool full_from_signal;	/* set by SIGHUP */
	int wake_fd;			/* eventfd: requests and stop */
	int watch_wake_fd;		/* eventfd: stop the watcher */

	pthread_mutex_t lock;
	/* protected by lock */
	struct scan_request *reqs;
	size_t n_reqs, cap_reqs;
	bool full_requested;
	struct scan_progress progress;
	struct scan_origin_progress *per_origin;	/* [n_origins] */
	pthread_cond_t initial_cond;

	/* scanner thread only */
	int64_t gen;
	bool in_txn;
	size_t batch_changes;
	int64_t batch_start_ns;
	int64_t walk_seen;
	int64_t warned_origin;		/* index warned about in this batch, or -1 */
	bool catalog_failed;		/* a commit failed: restart the task */
	bool *walked;			/* [n_origins]: walked by this drain */
	struct scan_change *changes;	/* of the open batch */
	size_t n_changes, cap_changes;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum progress_field { P_SEEN, P_PARSED, P_REMOVED, P_PARSE_ERROR };

/* Count one file in the totals and in origin oi's current walk. */
static void progress_add(struct scan *s, size_t oi, enum progress_field f)
{
	struct scan_origin_progress *op = &s->per_origin[oi];

	pthread_mutex_lock(&s->lock);
	switch (f) {
	case P_SEEN:
		s->progress.files_seen++;
		op->files_seen++;
		break;
	case P_PARSED:
		s->progress.files_parsed++;
		op->files_parsed++;
		break;
	case P_REMOVED:
		s->progress.files_removed++;
		op->files_removed++;
		break;
	case P_PARSE_ERROR:
		s->progress.parse_errors++;
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- events ----------------------------------------------------------- */

/* Remember a change; it becomes an event when its batch commits. */
static void change_add(struct scan *s, enum event_type type, size_t oi,
		       const char *relpath)
{
	struct scan_change *p;

	if (!s->bus)
		return;
	if (s->n_changes == s->cap_changes) {
		s->cap_changes = s->cap_changes ? s->cap_changes * 2 : 64;
		p = realloc(s->changes, s->cap_changes * sizeof(*p));
		if (!p)
			return;	/* an event lost, never a scan */
		s->changes = p;
	}
	s->changes[s->n_changes].type = type;
	s->changes[s->n_changes].oi = oi;
	s->changes[s->n_changes].relpath = strdup(relpath);
	s->n_changes++;
}

/* Publish (committed) or drop (rolled back) the batch's changes. */
static void changes_flush(struct scan *s, bool publish)
{
	struct scan_change *c;
	size_t i;

	for (i = 0; i < s->n_changes; i++) {
		c = &s->changes[i];
		if (publish)
			event_publish(s->bus, c->type, s->origins[c->oi]->id,
				      c->relpath, 0);
		free(c->relpath);
	}
	s->n_changes = 0;
}

/* ---- batches ---------------------------------------------------------- */

static int batch_open(struct scan *s)
{
	int rc;

	if (s->in_txn)
		return 0;
	rc = catalog_begin(s->db);
	if (rc) {
		s->catalog_failed = true;
		return rc;
	}
	s->in_txn = true;
	s->batch_changes = 0;
	s->batch_start_ns = mono_ns();
	return 0;
}

static int batch_commit(struct scan *s)
{
	int rc;

	if (!s->in_txn)
		return 0;
	rc = tree_finish(s->tree);
	if (!rc)
		rc = catalog_commit(s->db);
	s->in_txn = false;
	if (rc) {
		catalog_rollback(s->db);
		tree_discard(s->tree);
		changes_flush(s, false);
		s->catalog_failed = true;
		return rc;
	}
	tree_publish(s->tree);
	changes_flush(s, true);
	return 0;
}

/* Commit when the batch is big or old enough, and open the next one. */
static int batch_tick(struct scan *s)
{
	int rc;

	if (s->batch_changes < SCAN_BATCH_FILES &&
	    mono_ns() - s->batch_start_ns < SCAN_BATCH_NS)
		return 0;
	rc = batch_commit(s);
	return rc ? rc : batch_open(s);
}

/* ---- one file --------------------------------------------------------- */

static bool is_cover_image(const char *name)
{
	static const char *const stems[] = { "cover.", "folder.", "front." };
	size_t i;

	if (!str_ends_with_ci(name, ".jpg") && !str_ends_with_ci(name, ".jpeg") &&
	    !str_ends_with_ci(name, ".png"))
		return false;
	for (i = 0; i < MFS_ARRAY_SIZE(stems); i++)
		if (!strncasecmp(name, stems[i], strlen(stems[i])))
			return true;
	return false;
}

static ssize_t source_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return origin_file_pread(ctx, buf, len, off);
}

/* Parse an audio file; a file no parser reads still gets an empty meta. */
static void parse_audio(struct scan *s, struct origin *o, const char *relpath,
			uint64_t size, struct formats_meta *meta)
{
	struct formats_source src;
	struct origin_file *f;
	const char *name = strrchr(relpath, '/');
	int rc;

	memset(meta, 0, sizeof(*meta));
	rc = origin_file_open(o, relpath, &f);
	if (rc) {
		mfs_log(MFS_LOG_WARN, "cannot open '%s' in origin '%s': %s",
			relpath, o->id, strerror(-rc));
		return;
	}
	src.read_at = source_read;
	src.ctx = f;
	src.size = size;
	/* an Ogg cover is located, not decoded: it is decoded when read */
	rc = formats_parse_flags(&src, name ? name + 1 : relpath,
				 FORMATS_PARSE_LAZY_PICTURES, meta);
	origin_file_close(f);
	if (rc) {
		mfs_log(MFS_LOG_DEBUG, "cannot read tags of '%s': %s", relpath,
			strerror(-rc));
		formats_meta_release(meta);
		memset(meta, 0, sizeof(*meta));
		progress_add(s, 0, P_PARSE_ERROR);
	}
}

static const char *base_name(const char *relpath)
{
	const char *slash = strrchr(relpath, '/');

	return slash ? slash + 1 : relpath;
}

/* The folder part of relpath as a new string ("" at the root). */
static char *dir_of(const char *relpath)
{
	const char *slash = strrchr(relpath, '/');

	return str_ndup(relpath, slash ? (size_t)(slash - relpath) : 0);
}

/* Store a new or changed file and place it in the tree. */
static int store_file(struct scan *s, size_t oi, const char *relpath,
		      const struct origin_entry *e, bool known, int64_t id)
{
	struct origin *o = s->origins[oi];
	struct catalog_file_info info = { 0 };
	struct formats_meta meta = { 0 };
	bool audio = formats_is_audio_name(base_name(relpath));
	char *key = NULL;
	char *dir;
	int rc = 0;

	if (audio) {
		parse_audio(s, o, relpath, e->size, &meta);
		key = tree_album_key(&meta.tags);
		if (!key)
			rc = -ENOMEM;
	}
	if (!rc && known)
		rc = tree_unplace(s->tree, id);
	info.origin = o->catalog_id;
	info.relpath = relpath;
	info.size = (int64_t)e->size;
	info.mtime_ns = e->mtime_ns;
	info.role = audio ? CATALOG_ROLE_TRACK : CATALOG_ROLE_IMAGE;
	info.meta = audio ? &meta : NULL;
	info.album_key = key;
	info.gen = s->gen;
	if (!rc)
		rc = catalog_file_put(s->db, &info, &id);
	if (!rc && audio)
		rc = tree_place(s->tree, id);
	if (!rc && audio)
		change_add(s, known ? EVENT_FILE_MODIFIED : EVENT_FILE_ADDED, oi,
			   relpath);
	if (!rc && !audio) {
		dir = dir_of(relpath);
		rc = dir ? tree_folder_images_changed(s->tree, o->catalog_id, dir)
			 : -ENOMEM;
		free(dir);
	}
	formats_meta_release(&meta);
	free(key);
	s->batch_changes++;
	progress_add(s, oi, P_PARSED);
	return rc;
}

/* Look at one file of a walk: skip it, touch it, or (re)read it. */
static int scan_file(struct scan *s, size_t oi, const char *relpath,
		     const struct origin_entry *e)
{
	const char *name = base_name(relpath);
	int64_t id, size, mtime;
	int rc;

	if (!formats_is_audio_name(name) && !is_cover_image(name))
		return 0;
	s->walk_seen++;
	progress_add(s, oi, P_SEEN);
	rc = catalog_file_stamp(s->db, s->origins[oi]->catalog_id, relpath, &id,
				&size, &mtime);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && size == (int64_t)e->size && mtime == e->mtime_ns)
		return catalog_file_touch(s->db, id, s->gen);
	mfs_log(MFS_LOG_DEBUG, "%s '%s' in origin '%s'",
		rc ? "new file" : "changed file", relpath, s->origins[oi]->id);
	rc = store_file(s, oi, relpath, e, rc == 0, id);
	return rc ? rc : batch_tick(s);
}

static size_t origin_index(const struct scan *s, int64_t catalog_id)
{
	size_t oi;

	for (oi = 0; oi + 1 < s->n_origins; oi++)
		if (s->origins[oi]->catalog_id == catalog_id)
			break;
	return oi;
}

/* Take one file out of the tree and the catalog. */
static int remove_file(struct scan *s, int64_t id)
{
	struct catalog_file f;
	char *dir;
	int rc;

	rc = catalog_file_get(s->db, id, &f);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	mfs_log(MFS_LOG_DEBUG, "file '%s' vanished", f.relpath);
	rc = tree_unplace(s->tree, id);
	if (!rc)
		rc = catalog_file_delete(s->db, id);
	if (!rc && f.role == CATALOG_ROLE_IMAGE) {
		dir = dir_of(f.relpath);
		rc = dir ? tree_folder_images_changed(s->tree, f.origin, dir)
			 : -ENOMEM;
		free(dir);
	}
	if (!rc && f.role == CATALOG_ROLE_TRACK)
		change_add(s, EVENT_FILE_REMOVED, origin_index(s, f.origin),
			   f.relpath);
	progress_add(s, origin_index(s, f.origin), P_REMOVED);
	catalog_file_release(&f);
	s->batch_changes++;
	return rc ? rc : batch_tick(s);
}

struct id_list {
	int64_t *ids;
	size_t n, cap;
};

static int collect_id(void *ctx, int64_t id)
{
	struct id_list *l = ctx;
	int64_t *p;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		p = realloc(l->ids, l->cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->ids = p;
	}
	l->ids[l->n++] = id;
	return 0;
}

/* Remove every file in list (collected first: never delete mid-query). */
static int remove_list(struct scan *s, struct id_list *l)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < l->n; i++)
		rc = remove_file(s, l->ids[i]);
	free(l->ids);
	l->ids = NULL;
	l->n = l->cap = 0;
	return rc;
}

/* ---- walks ------------------------------------------------------------ */

struct walk_ctx {
	struct scan *s;
	size_t oi;
	const char *reldir;
	char **subdirs;
	size_t n_subdirs, cap_subdirs;
	int rc;
};

static char *join_path(const char *dir, const char *name)
{
	return *dir ? str_printf("%s/%s", dir, name) : strdup(name);
}

static int walk_entry(void *ctx, const struct origin_entry *e)
{
	struct walk_ctx *w = ctx;
	char *relpath;
	char **p;

	if (atomic_load(&w->s->stop))
		return 1;
	relpath = join_path(w->reldir, e->name);
	if (!relpath) {
		w->rc = -ENOMEM;
		return 1;
	}
	if (e->is_dir) {
		/* recurse after the listing: keep one folder open at a time */
		if (w->n_subdirs == w->cap_subdirs) {
			w->cap_subdirs = w->cap_subdirs ? w->cap_subdirs * 2 : 16;
			p = realloc(w->subdirs,
				    w->cap_subdirs * sizeof(*w->subdirs));
			if (!p) {
				free(relpath);
				w->rc = -ENOMEM;
				return 1;
			}
			w->subdirs = p;
		}
		w->subdirs[w->n_subdirs++] = relpath;
		return 0;
	}
	w->rc = scan_file(w->s, w->oi, relpath, e);
	free(relpath);
	return w->rc != 0;
}

static void watch_folder(struct scan *s, size_t oi, const char *reldir)
{
	char *abs;

	if (!s->watch)
		return;
	abs = origin_local_path(s->origins[oi], reldir);
	if (abs)
		watch_add(s->watch, oi, abs, reldir);
	free(abs);
}

/*
 * Walk folder reldir of origin oi and everything below it.  A sub-folder
 * that cannot be listed keeps its files (they are marked seen); only a
 * failure of reldir itself is returned.
 */
static int walk_dir(struct scan *s, size_t oi, const char *reldir, int depth)
{
	struct walk_ctx w = { .s = s, .oi = oi, .reldir = reldir };
	struct origin *o = s->origins[oi];
	size_t i;
	int rc;

	watch_folder(s, oi, reldir);
	rc = origin_list_dir(o, reldir, walk_entry, &w);
	if (!rc)
		rc = w.rc;
	for (i = 0; i < w.n_subdirs; i++) {
		int sub = rc || depth >= SCAN_MAX_DEPTH
				  ? -ELOOP
				  : walk_dir(s, oi, w.subdirs[i], depth + 1);

		if (sub && sub != -ENOMEM && !rc && !atomic_load(&s->stop)) {
			mfs_log(MFS_LOG_WARN,
				"cannot list '%s' in origin '%s': %s",
				w.subdirs[i], o->id, strerror(-sub));
			sub = catalog_files_touch_under(s->db, o->catalog_id,
							w.subdirs[i], s->gen);
		}
		if (sub == -ENOMEM || (sub && !rc))
			rc = sub;
		free(w.subdirs[i]);
	}
	free(w.subdirs);
	return rc;
}

static int next_generation(struct scan *s)
{
	char buf[32];

	s->gen++;
	snprintf(buf, sizeof(buf), "%" PRId64, s->gen);
	return catalog_meta_set(s->db, "scan_gen", buf);
}

/*
 * Walk folder reldir ("" = the whole origin) and sweep what vanished
 * below it, unless the walk says the origin is unreachable.
 */
static int walk_and_sweep(struct scan *s, size_t oi, const char *reldir)
{
	struct origin *o = s->origins[oi];
	struct id_list gone = { NULL, 0, 0 };
	int64_t known = 0;
	int rc;

	rc = batch_open(s);
	if (!rc)
		rc = next_generation(s);
	if (rc)
		return rc;
	s->walk_seen = 0;
	rc = walk_dir(s, oi, reldir, 0);
	if (atomic_load(&s->stop))
		return 0;
	if (rc) {
		mfs_log(MFS_LOG_WARN, "origin '%s' is unreachable (%s): its "
				      "files stay listed",
			o->id, strerror(-rc));
		return 0;
	}
	if (!*reldir && s->walk_seen == 0) {
		rc = catalog_files_count(s->db, o->catalog_id, &known);
		if (!rc && known > 0) {
			mfs_log(MFS_LOG_WARN,
				"origin '%s' looks empty but the catalog "
				"knows %" PRId64 " files: treating it as "
				"unreachable, nothing is removed",
				o->id, known);
			return 0;
		}
	}
	rc = catalog_files_unseen(s->db, o->catalog_id, reldir, s->gen,
				  collect_id, &gone);
	if (!rc)
		rc = remove_list(s, &gone);
	free(gone.ids);
	return rc;
}

/*
 * Walk a whole origin and commit, with sync_started/sync_completed events
 * and the per-origin progress a RescanOrigin stream reports.  Every rescan
 * ticket taken before the walk started is answered by it.
 */
static int walk_origin(struct scan *s, size_t oi)
{
	struct scan_origin_progress *op = &s->per_origin[oi];
	struct origin *o = s->origins[oi];
	int64_t known = 0, changed;
	uint64_t ticket;
	int rc;

	if (catalog_files_count(s->db, o->catalog_id, &known))
		known = 0;
	pthread_mutex_lock(&s->lock);
	ticket = op->requested;
	op->walking = true;
	op->files_seen = op->files_parsed = op->files_removed = 0;
	op->files_known = known;
	op->started_unix_ms = unix_ms();
	pthread_mutex_unlock(&s->lock);
	event_publish(s->bus, EVENT_SYNC_STARTED, o->id, NULL, 0);

	rc = walk_and_sweep(s, oi, "");
	if (!rc)
		rc = batch_commit(s);

	pthread_mutex_lock(&s->lock);
	op->walking = false;
	if (op->completed < ticket)
		op->completed = ticket;
	op->last_error = rc;
	op->finished_unix_ms = unix_ms();
	changed = op->files_parsed + op->files_removed;
	pthread_mutex_unlock(&s->lock);
	event_publish(s->bus, EVENT_SYNC_COMPLETED, o->id, NULL, changed);
	return rc;
}

static int full_walk(struct scan *s)
{
	int64_t start = mono_ns();
	size_t oi;
	int rc = 0;

	for (oi = 0; oi < s->n_origins && !atomic_load(&s->stop); oi++) {
		rc = walk_origin(s, oi);
		if (rc)
			break;
	}
	pthread_mutex_lock(&s->lock);
	s->progress.walks++;
	pthread_mutex_unlock(&s->lock);
	mfs_log(MFS_LOG_INFO, "scan of %zu origin(s) done in %.2f s",
		s->n_origins, (double)(mono_ns() - start) / 1e9);
	return rc;
}

static int first_entry(void *ctx, const struct origin_entry *e)
{
	(void)e;
	*(bool *)ctx = true;
	return 1;
}

/*
 * May files of origin oi be removed because paths vanished?  Not when the
 * origin's root is gone, or lists nothing while the catalog knows files:
 * that is an unmounted share or a NAS asleep, not a user deleting music.
 */
static bool origin_trustworthy(struct scan *s, size_t oi)
{
	struct origin *o = s->origins[oi];
	bool any = false;
	int64_t known = 0;

	if (origin_probe(o) || origin_list_dir(o, "", first_entry, &any))
		return false;
	if (any)
		return true;
	if (catalog_files_count(s->db, o->catalog_id, &known) || known == 0)
		return known == 0;
	/* one warning per batch of events, not one per folder */
	if (s->warned_origin != (int64_t)oi)
		mfs_log(MFS_LOG_WARN, "origin '%s' looks empty but the catalog "
				      "knows %" PRId64 " files: treating it as "
				      "unreachable, nothing is removed",
			o->id, known);
	s->warned_origin = (int64_t)oi;
	return false;
}

enum rescan_pass {
	RESCAN_VANISHED,	/* first: take out what is gone */
	RESCAN_PRESENT,		/* then: add what is there */
};

/*
 * Re-read one path that an event or FUSE named, if it belongs to this
 * pass.  Removals run before additions so that a file moved to a name
 * that sorts first does not meet its own old entry as a collision.
 */
static int rescan_path(struct scan *s, size_t oi, const char *relpath,
		       enum rescan_pass pass)
{
	struct origin *o = s->origins[oi];
	struct id_list gone = { NULL, 0, 0 };
	struct origin_entry e;
	int rc;

	rc = batch_open(s);
	if (rc)
		return rc;
	rc = origin_stat(o, relpath, &e);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		/* gone: the file, or a folder and everything in it */
		if (pass != RESCAN_VANISHED || !origin_trustworthy(s, oi))
			return 0;
		rc = catalog_files_under(s->db, o->catalog_id, relpath,
					 collect_id, &gone);
		return rc ? rc : remove_list(s, &gone);
	}
	if (rc || pass != RESCAN_PRESENT)
		return rc;
	if (e.is_dir)
		return walk_and_sweep(s, oi, relpath);
	return scan_file(s, oi, relpath, &e);
}

/* ---- requests and the thread ------------------------------------------ */

static void wake(struct scan *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		mfs_log(MFS_LOG_WARN, "cannot wake the scanner: %s",
			strerror(errno));
}

/* Queue a path; the caller holds s->lock. */
static void queue_locked(struct scan *s, size_t oi, const char *relpath)
{
	struct scan_request *p;

	if (s->n_reqs == s->cap_reqs) {
		s->cap_reqs = s->cap_reqs ? s->cap_reqs * 2 : 64;
		p = realloc(s->reqs, s->cap_reqs * sizeof(*p));
		if (!p) {
			s->full_requested = true;	/* degrade, never lose */
			return;
		}
		s->reqs = p;
	}
	s->reqs[s->n_reqs].oi = oi;
	s->reqs[s->n_reqs].relpath = strdup(relpath);
	if (!s->reqs[s->n_reqs].relpath)
		s->full_requested = true;
	else
		s->n_reqs++;
}

void scan_request_path(struct scan *s, const struct origin *o,
		       const char *relpath)
{
	size_t oi;

	for (oi = 0; oi < s->n_origins; oi++) {
		if (s->origins[oi] != o)
			continue;
		pthread_mutex_lock(&s->lock);
		queue_locked(s, oi, relpath);
		pthread_mutex_unlock(&s->lock);
		wake(s);
		return;
	}
}

void scan_request_full(struct scan *s)
{
	pthread_mutex_lock(&s->lock);
	s->full_requested = true;
	pthread_mutex_unlock(&s->lock);
	wake(s);
}

static void on_watch_event(void *ctx, size_t oi, const char *relpath)
{
	struct scan *s = ctx;

	pthread_mutex_lock(&s->lock);
	queue_locked(s, oi, relpath);
	pthread_mutex_unlock(&s->lock);
}

static int cmp_request(const void *a, const void *b)
{
	const struct scan_request *x = a, *y = b;

	if (x->oi != y->oi)
		return x->oi < y->oi ? -1 : 1;
	return strcmp(x->relpath, y->relpath);
}

static bool rescan_pending(struct scan *s, size_t oi)
{
	bool pending;

	pthread_mutex_lock(&s->lock);
	pending = s->per_origin[oi].requested > s->per_origin[oi].completed;
	pthread_mutex_unlock(&s->lock);
	return pending;
}

uint64_t scan_request_origin(struct scan *s, size_t oi)
{
	uint64_t ticket;

	pthread_mutex_lock(&s->lock);
	ticket = ++s->per_origin[oi].requested;
	pthread_mutex_unlock(&s->lock);
	wake(s);
	return ticket;
}

int scan_get_origin_progress(struct scan *s, size_t oi,
			     struct scan_origin_progress *out)
{
	if (oi >= s->n_origins)
		return -ENOENT;
	pthread_mutex_lock(&s->lock);
	*out = s->per_origin[oi];
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Take the queued requests and handle each distinct path once. */
static int drain_requests(struct scan *s)
{
	struct scan_request *reqs;
	enum rescan_pass pass;
	size_t n, i;
	bool full;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	reqs = s->reqs;
	n = s->n_reqs;
	full = s->full_requested;
	s->reqs = NULL;
	s->n_reqs = s->cap_reqs = 0;
	s->full_requested = false;
	pthread_mutex_unlock(&s->lock);

	if (full)
		rc = full_walk(s);
	for (i = 0; i < s->n_origins; i++) {
		s->walked[i] = full || rescan_pending(s, i);
		if (!full && !rc && s->walked[i])
			rc = walk_origin(s, i);
	}
	if (n)
		qsort(reqs, n, sizeof(*reqs), cmp_request);
	s->warned_origin = -1;
	for (pass = RESCAN_VANISHED; !full && pass <= RESCAN_PRESENT; pass++) {
		for (i = 0; !rc && i < n && !atomic_load(&s->stop); i++) {
			if (i && !cmp_request(&reqs[i], &reqs[i - 1]))
				continue;
			/* a walk of the whole origin just saw this path */
			if (s->walked[reqs[i].oi])
				continue;
			rc = rescan_path(s, reqs[i].oi, reqs[i].relpath, pass);
		}
	}
	for (i = 0; i < n; i++)
		free(reqs[i].relpath);
	free(reqs);
	if (!rc)
		rc = batch_commit(s);
	return rc;
}

void scan_request_full_from_signal(struct scan *s)
{
	atomic_store(&s->full_from_signal, true);
	wake(s);
}

static bool have_requests(struct scan *s)
{
	bool any;
	size_t oi;

	if (atomic_exchange(&s->full_from_signal, false)) {
		mfs_log(MFS_LOG_INFO, "SIGHUP: rescanning every origin");
		scan_request_full(s);
	}
	pthread_mutex_lock(&s->lock);
	any = s->n_reqs || s->full_requested;
	for (oi = 0; oi < s->n_origins; oi++)
		any = any || s->per_origin[oi].requested >
				     s->per_origin[oi].completed;
	pthread_mutex_unlock(&s->lock);
	return any;
}

/*
 * Wait for requests; returns once they have been quiet for SCAN_QUIET_NS
 * (or waited SCAN_MAX_DELAY_NS), or stop was asked.  The watcher task
 * queues inotify events and writes wake_fd, so each wake-up restarts the
 * quiet period: a burst of changes is handled as one batch.
 */
static void wait_for_work(struct scan *s)
{
	struct pollfd pfd = { .fd = s->wake_fd, .events = POLLIN };
	int64_t first = 0, last = 0, now;
	uint64_t junk;
	int timeout;

	while (!atomic_load(&s->stop)) {
		now = mono_ns();
		if (have_requests(s)) {
			if (!first)
				first = last = now;
			if (now - last >= SCAN_QUIET_NS ||
			    now - first >= SCAN_MAX_DELAY_NS)
				return;
			timeout = (int)((SCAN_QUIET_NS - (now - last)) / 1000000) + 1;
		} else {
			timeout = -1;
		}
		if (poll(&pfd, 1, timeout) <= 0)
			continue;
		if (read(s->wake_fd, &junk, sizeof(junk)) < 0)
			junk = 0;
		last = mono_ns();
	}
}

static int first_pass(struct scan *s)
{
	char *gen = NULL;
	long long g = 0;
	int rc;

	if (catalog_meta_get(s->db, "scan_gen", &gen) == 0)
		str_to_ll(gen, 0, INT64_MAX, &g);
	free(gen);
	s->gen = g;
	rc = batch_open(s);
	if (!rc)
		rc = tree_sync_template(s->tree);
	if (!rc)
		rc = batch_commit(s);
	if (!rc)
		rc = full_walk(s);
	pthread_mutex_lock(&s->lock);
	s->progress.initial_done = true;
	pthread_cond_broadcast(&s->initial_cond);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * A failed commit leaves the batch rolled back and the tree's pending
 * placements discarded: the task fails so that the supervisor restarts it
 * from a fresh walk, which redoes what was lost.  Origin errors (a folder
 * that cannot be read) are logged and never fail the task.
 */
static int scan_failed(struct scan *s, int rc)
{
	if (s->in_txn) {
		catalog_rollback(s->db);
		tree_discard(s->tree);
		changes_flush(s, false);
		s->in_txn = false;
	}
	s->catalog_failed = false;
	return rc ? rc : -EIO;
}

int scan_run(void *arg, const atomic_bool *stop)
{
	struct scan *s = arg;
	int rc;

	(void)stop;	/* scan_wake sets s->stop, which the walks poll */
	/*
	 * Scanning is background work: on a busy machine FUSE requests
	 * (a player, an ls right after the mount) come first.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10))
		mfs_log(MFS_LOG_DEBUG, "cannot lower the scanner's priority");

	rc = first_pass(s);
	while (!atomic_load(&s->stop)) {
		if (s->catalog_failed)
			return scan_failed(s, rc);
		if (rc)
			mfs_log(MFS_LOG_ERROR, "scan failed: %s", strerror(-rc));
		/* idle until the next event: give the page cache back, and
		 * the heap the walk grew, to the system */
		catalog_release_memory(s->db);
		malloc_trim(0);
		wait_for_work(s);
		if (atomic_load(&s->stop))
			break;
		rc = drain_requests(s);
	}
	if (batch_commit(s))
		mfs_log(MFS_LOG_ERROR, "cannot commit the last scan batch");
	return 0;
}

void scan_wake(void *arg)
{
	struct scan *s = arg;

	atomic_store(&s->stop, true);
	wake(s);
}

/* ---- the watcher task -------------------------------------------------- */

int scan_watch_run(void *arg, const atomic_bool *stop)
{
	struct scan *s = arg;
	struct pollfd pfd[2];
	bool overflow;
	uint64_t junk;
	int rc;

	if (!s->watch)
		return 0;	/* no inotify: changes wait for a rescan */
	pfd[0].fd = s->watch_wake_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = watch_fd(s->watch);
	pfd[1].events = POLLIN;
	while (!atomic_load(stop)) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((pfd[0].revents & POLLIN) &&
		    read(s->watch_wake_fd, &junk, sizeof(junk)) < 0)
			junk = 0;
		if (!(pfd[1].revents & POLLIN))
			continue;
		rc = watch_read(s->watch, on_watch_event, s, &overflow);
		if (rc)
			return rc;
		if (overflow) {
			mfs_log(MFS_LOG_WARN, "inotify queue overflow: "
					      "rescanning everything");
			scan_request_full(s);
		}
		wake(s);
	}
	return 0;
}

void scan_watch_wake(void *arg)
{
	struct scan *s = arg;
	uint64_t one = 1;

	if (write(s->watch_wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		mfs_log(MFS_LOG_WARN, "cannot wake the watcher: %s",
			strerror(errno));
}

void scan_set_events(struct scan *s, struct event_bus *bus)
{
	s->bus = bus;
}

int scan_new(struct catalog *writer, struct tree *tree,
	     struct origin **origins, size_t n, struct scan **out)
{
	struct scan *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->db = writer;
	s->tree = tree;
	s->origins = origins;
	s->n_origins = n;
	s->watch_wake_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->initial_cond, NULL);
	s->per_origin = calloc(n ? n : 1, sizeof(*s->per_origin));
	s->walked = calloc(n ? n : 1, sizeof(*s->walked));
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd >= 0)
		s->watch_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->per_origin || !s->walked || s->watch_wake_fd < 0) {
		rc = s->per_origin && s->walked ? -errno : -ENOMEM;
		scan_free(s);
		return rc;
	}
	rc = watch_new(&s->watch);
	if (rc)
		mfs_log(MFS_LOG_WARN, "inotify unavailable (%s): changes are "
				      "seen on the next rescan",
			strerror(-rc));
	*out = s;
	return 0;
}

void scan_free(struct scan *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_reqs; i++)
		free(s->reqs[i].relpath);
	free(s->reqs);
	changes_flush(s, false);
	free(s->changes);
	free(s->per_origin);
	free(s->walked);
	watch_free(s->watch);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->watch_wake_fd >= 0)
		close(s->watch_wake_fd);
	tree_free(s->tree);
	catalog_close(&s->db);
	pthread_cond_destroy(&s->initial_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void scan_get_progress(struct scan *s, struct scan_progress *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->progress;
	pthread_mutex_unlock(&s->lock);
}

int scan_wait_initial(struct scan *s, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->progress.initial_done && rc == 0)
		rc = pthread_cond_timedwait(&s->initial_cond, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
	return s->progress.initial_done ? 0 : -ETIMEDOUT;
}
