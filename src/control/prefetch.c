/*
 * prefetch.c - the Prefetch RPC's work: read tracks of the mount into the
 * chunk cache on a thread of its own, while the RPC streams progress.
 *
 * Paths are resolved in the virtual tree the way FUSE lookups do (fold
 * keys from the root), folders are expanded to every track below them,
 * and each track is read whole through the same cached vfile a FUSE read
 * uses, so a prefetched file is exactly what a later read finds.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "catalog/catalog.h"
#include "control/prefetch.h"
#include "tree/tree.h"
#include "vfile/vfile.h"

#include <pthread.h>
#include <stdatomic.h>

#define PREFETCH_READ (1u << 20)

struct prefetch_job {
	struct control_deps deps;
	struct catalog *db;		/* the job thread's own */
	int64_t *tracks;		/* vnode inos to read */
	size_t n_tracks, cap_tracks;
	pthread_t thread;
	bool started;
	atomic_bool cancel;
	pthread_mutex_t lock;
	struct prefetch_status st;	/* protected by lock */
};

/* ---- resolving paths ------------------------------------------------- */

/* The vnode at a path of the mount ("/" or "" = the root). */
static int resolve(struct catalog *c, const char *path, struct catalog_vnode *v)
{
	char *copy = strdup(path), *save = NULL, *name, *fold;
	int rc;

	if (!copy)
		return -ENOMEM;
	rc = catalog_vnode_get(c, 1, v);
	for (name = strtok_r(copy, "/", &save); !rc && name;
	     name = strtok_r(NULL, "/", &save)) {
		if (v->kind != CATALOG_VNODE_DIR) {
			rc = -ENOTDIR;
			break;
		}
		fold = tree_fold_name(name);
		rc = fold ? catalog_vnode_lookup_fold(c, v->ino, fold, v)
			  : -ENOMEM;
		free(fold);
	}
	free(copy);
	return rc;
}

static int add_track(struct prefetch_job *j, int64_t ino)
{
	int64_t *p;

	if (j->n_tracks == j->cap_tracks) {
		j->cap_tracks = j->cap_tracks ? j->cap_tracks * 2 : 256;
		p = realloc(j->tracks, j->cap_tracks * sizeof(*p));
		if (!p)
			return -ENOMEM;
		j->tracks = p;
	}
	j->tracks[j->n_tracks++] = ino;
	return 0;
}

struct walk {
	struct prefetch_job *j;
	int64_t *dirs;
	size_t n_dirs, cap_dirs;
	int rc;
};

static int walk_child(void *ctx, const struct catalog_vnode *v)
{
	struct walk *w = ctx;
	int64_t *p;

	if (v->kind == CATALOG_VNODE_TRACK) {
		w->rc = add_track(w->j, v->ino);
		if (!w->rc) {
			pthread_mutex_lock(&w->j->lock);
			w->j->st.bytes_total += (uint64_t)v->size;
			pthread_mutex_unlock(&w->j->lock);
		}
	} else if (v->kind == CATALOG_VNODE_DIR) {
		if (w->n_dirs == w->cap_dirs) {
			w->cap_dirs = w->cap_dirs ? w->cap_dirs * 2 : 64;
			p = realloc(w->dirs, w->cap_dirs * sizeof(*p));
			if (!p) {
				w->rc = -ENOMEM;
				return 1;
			}
			w->dirs = p;
		}
		w->dirs[w->n_dirs++] = v->ino;
	}
	return w->rc != 0 || atomic_load(&w->j->cancel);
}

/* Every track under folder ino (breadth first, no recursion). */
static int collect_folder(struct prefetch_job *j, int64_t ino)
{
	struct walk w = { .j = j };
	size_t next = 0;
	int rc = 0;

	w.dirs = malloc(sizeof(*w.dirs));
	if (!w.dirs)
		return -ENOMEM;
	w.dirs[0] = ino;
	w.n_dirs = w.cap_dirs = 1;
	while (!rc && next < w.n_dirs && !atomic_load(&j->cancel)) {
		rc = catalog_vnode_children(j->db, w.dirs[next++], 0, walk_child,
					    &w);
		if (!rc)
			rc = w.rc;
	}
	free(w.dirs);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

static struct origin *origin_of(const struct prefetch_job *j, int64_t id)
{
	size_t i;

	for (i = 0; i < j->deps.n_origins; i++)
		if (j->deps.origins[i]->catalog_id == id)
			return j->deps.origins[i];
	return NULL;
}

static void count(struct prefetch_job *j, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&j->lock);
	*field += n;
	pthread_mutex_unlock(&j->lock);
}

/* Read one track whole through the cache. */
static int read_track(struct prefetch_job *j, int64_t ino, uint8_t *buf)
{
	struct catalog_vnode v;
	struct catalog_file f;
	struct origin_entry now;
	struct vfile_cache_ref ref = { .cache = j->deps.cache };
	struct vfile *vf = NULL;
	struct origin *o;
	uint64_t off = 0;
	bool known;
	ssize_t got = 0;
	int rc;

	rc = catalog_vnode_get(j->db, ino, &v);
	if (!rc)
		rc = catalog_file_get(j->db, v.file, &f);
	if (rc)
		return rc;
	o = origin_of(j, f.origin);
	if (!o || !o->cached || !ref.cache) {
		count(j, &j->st.files_skipped, 1);
		catalog_file_release(&f);
		return 0;
	}
	ref.file_id = f.id;
	ref.file_stamp = f.mtime_ns;
	ref.file_size = (uint64_t)f.size;
	rc = vfile_open_cached(o, f.relpath, 0, (uint64_t)f.size, &ref, &now,
			       &known, &vf);
	catalog_file_release(&f);
	while (!rc && off < vfile_size(vf) && !atomic_load(&j->cancel)) {
		got = vfile_read(vf, buf, PREFETCH_READ, off);
		if (got <= 0)
			break;
		off += (uint64_t)got;
		count(j, &j->st.bytes_done, (uint64_t)got);
	}
	vfile_close(vf);
	if (rc || got < 0)
		count(j, &j->st.files_failed, 1);
	return rc ? rc : (got < 0 ? (int)got : 0);
}

static void *job_main(void *arg)
{
	struct prefetch_job *j = arg;
	uint8_t *buf = malloc(PREFETCH_READ);
	size_t i;

	for (i = 0; buf && i < j->n_tracks && !atomic_load(&j->cancel); i++) {
		read_track(j, j->tracks[i], buf);
		count(j, &j->st.files_done, 1);
	}
	free(buf);
	pthread_mutex_lock(&j->lock);
	j->st.done = true;
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* ---- the job ------------------------------------------------------------ */

static int collect_paths(struct prefetch_job *j, char *const *paths, size_t n,
			 char *err, size_t errsize)
{
	struct catalog_vnode v;
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < n; i++) {
		rc = resolve(j->db, paths[i], &v);
		if (rc) {
			snprintf(err, errsize, "'%s': %s", paths[i],
				 strerror(-rc));
			return rc;
		}
		if (v.kind == CATALOG_VNODE_DIR)
			rc = collect_folder(j, v.ino);
		else if (v.kind == CATALOG_VNODE_TRACK) {
			rc = add_track(j, v.ino);
			j->st.bytes_total += (uint64_t)v.size;
		}
	}
	if (rc)
		snprintf(err, errsize, "%s", strerror(-rc));
	return rc;
}

int prefetch_start(const struct control_deps *deps, char *const *paths,
		   size_t n, struct prefetch_job **out, char *err,
		   size_t errsize)
{
	struct prefetch_job *j = calloc(1, sizeof(*j));
	int rc;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->deps = *deps;
	pthread_mutex_init(&j->lock, NULL);
	rc = catalog_open(deps->db_path, CATALOG_READER, 512, &j->db);
	if (rc)
		snprintf(err, errsize, "cannot open the catalog");
	if (!rc)
		rc = collect_paths(j, paths, n, err, errsize);
	if (!rc) {
		j->st.files_total = j->n_tracks;
		rc = -pthread_create(&j->thread, NULL, job_main, j);
		j->started = !rc;
	}
	if (rc) {
		prefetch_free(j);
		return rc;
	}
	mfs_log(MFS_LOG_INFO, "prefetching %zu track(s) into the cache",
		j->n_tracks);
	*out = j;
	return 0;
}

void prefetch_get(struct prefetch_job *j, struct prefetch_status *out)
{
	pthread_mutex_lock(&j->lock);
	*out = j->st;
	pthread_mutex_unlock(&j->lock);
}

void prefetch_free(struct prefetch_job *j)
{
	if (!j)
		return;
	atomic_store(&j->cancel, true);
	if (j->started)
		pthread_join(j->thread, NULL);
	catalog_close(&j->db);
	pthread_mutex_destroy(&j->lock);
	free(j->tracks);
	free(j);
}
