/*
 * watch.c - inotify for local origins.
 *
 * inotify watches folders, not trees, so every folder the scanner walks
 * gets a watch.  Events are turned into relpaths and handed to the
 * scanner, which re-stats them: the event kind does not matter (a create,
 * a write, a move in or out, a delete all mean "look again"), which keeps
 * this file small and makes coalesced or reordered events harmless.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_SCAN
#include "log/log.h"
#include "scan/scan_i.h"

#include <pthread.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_MASK                                                       \
	(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |      \
	 IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB |         \
	 IN_ONLYDIR | IN_DONT_FOLLOW)

struct watch_dir {
	size_t oi;
	char *reldir;		/* NULL: slot unused */
};

struct watch {
	int fd;
	/* the scanner adds watches while the watcher task reads events */
	pthread_mutex_t lock;
	/* protected by lock */
	struct watch_dir *dirs;	/* indexed by watch descriptor */
	size_t n_dirs;
	bool warned_limit;
};

int watch_new(struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int rc = -errno;

		free(w);
		return rc;
	}
	pthread_mutex_init(&w->lock, NULL);
	*out = w;
	return 0;
}

void watch_free(struct watch *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_dirs; i++)
		free(w->dirs[i].reldir);
	free(w->dirs);
	close(w->fd);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}

static int remember_dir(struct watch *w, int wd, size_t oi,
			const char *reldir)
{
	struct watch_dir *dirs;
	size_t n;

	if ((size_t)wd >= w->n_dirs) {
		n = MFS_MAX((size_t)wd + 1, w->n_dirs * 2);
		dirs = realloc(w->dirs, n * sizeof(*dirs));
		if (!dirs)
			return -ENOMEM;
		memset(dirs + w->n_dirs, 0, (n - w->n_dirs) * sizeof(*dirs));
		w->dirs = dirs;
		w->n_dirs = n;
	}
	free(w->dirs[wd].reldir);
	w->dirs[wd].oi = oi;
	w->dirs[wd].reldir = strdup(reldir);
	return w->dirs[wd].reldir ? 0 : -ENOMEM;
}

int watch_add(struct watch *w, size_t oi, const char *abs_path,
	      const char *reldir)
{
	int wd, rc;

	wd = inotify_add_watch(w->fd, abs_path, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC && !w->warned_limit) {
			w->warned_limit = true;
			mfs_log(MFS_LOG_WARN,
				"inotify watch limit reached at '%s': raise "
				"fs.inotify.max_user_watches; changes in "
				"further folders are seen on the next rescan",
				abs_path);
		}
		return -errno;
	}
	pthread_mutex_lock(&w->lock);
	rc = remember_dir(w, wd, oi, reldir);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Report one event's path; forget watches the kernel dropped. */
static void watch_event(struct watch *w, const struct inotify_event *ev,
			void (*cb)(void *ctx, size_t oi, const char *relpath),
			void *ctx)
{
	struct watch_dir *d;
	char *path;

	if (ev->wd < 0 || (size_t)ev->wd >= w->n_dirs)
		return;
	d = &w->dirs[ev->wd];
	if (!d->reldir)
		return;
	if (ev->mask & IN_IGNORED) {
		free(d->reldir);
		d->reldir = NULL;
		return;
	}
	if (!ev->len) {
		/* the folder itself was deleted or moved */
		cb(ctx, d->oi, d->reldir);
		return;
	}
	path = *d->reldir ? str_printf("%s/%s", d->reldir, ev->name)
			  : strdup(ev->name);
	if (path)
		cb(ctx, d->oi, path);
	free(path);
}

int watch_read(struct watch *w,
	       void (*cb)(void *ctx, size_t oi, const char *relpath),
	       void *ctx, bool *overflow)
{
	char buf[16384]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	*overflow = false;
	for (;;) {
		n = read(w->fd, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		for (p = buf; p < buf + n;
		     p += sizeof(struct inotify_event) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				*overflow = true;
				continue;
			}
			pthread_mutex_lock(&w->lock);
			watch_event(w, ev, cb, ctx);
			pthread_mutex_unlock(&w->lock);
		}
	}
}
