/*
 * ops.c - the session: mount, init, the operation table, the reader pool,
 * kernel invalidations, and the refusal of every modifying operation.
 *
 * The mount is read-only twice over: the kernel mount carries MS_RDONLY
 * (so most writes never reach us), and every modifying handler answers
 * EROFS anyway, for the calls the kernel still forwards.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_FUSE
#include "log/log.h"
#include "fuse/mfs_fuse_i.h"
#include "metrics/metrics.h"

#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define MFS_FUSE_MAX_READ (1u << 20)

struct catalog *mfs_fuse_reader_get(struct mfs_fuse *f)
{
	struct catalog *c = NULL;
	int rc;

	pthread_mutex_lock(&f->pool_lock);
	if (f->pool_n)
		c = f->pool[--f->pool_n];
	pthread_mutex_unlock(&f->pool_lock);
	if (c)
		return c;
	rc = catalog_open(f->db_path, CATALOG_READER, f->cfg.db_cache_kb, &c);
	if (rc)
		mfs_log(MFS_LOG_ERROR, "cannot open a catalog reader: %s",
			strerror(-rc));
	return c;
}

void mfs_fuse_reader_put(struct mfs_fuse *f, struct catalog *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&f->pool_lock);
	if (f->pool_n < MFS_FUSE_POOL_MAX) {
		f->pool[f->pool_n++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&f->pool_lock);
	catalog_close(&c);
}

struct origin *mfs_fuse_origin(const struct mfs_fuse *f, int64_t id)
{
	size_t i;

	for (i = 0; i < f->cfg.n_origins; i++)
		if (f->cfg.origins[i]->catalog_id == id)
			return f->cfg.origins[i];
	return NULL;
}

void mfs_fuse_fill_attr(const struct mfs_fuse *f, const struct catalog_vnode *v,
			struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)v->ino;
	if (v->kind == CATALOG_VNODE_DIR) {
		st->st_mode = S_IFDIR | 0555;
		/* 1, not 2: tells find(1) not to count subfolders by links */
		st->st_nlink = 1;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = v->size;
		st->st_blocks = (v->size + 511) / 512;
	}
	/*
	 * What cat(1) & co use as their buffer size.  128 KiB, as for local
	 * files: the kernel's read-ahead (1 MiB, see tune_readahead) decides
	 * the size of our read requests, not the reader's buffer.
	 */
	st->st_blksize = 128 * 1024;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_mtim.tv_sec = v->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = v->mtime_ns % 1000000000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

void mfs_fuse_fill_entry(const struct mfs_fuse *f,
			 const struct catalog_vnode *v,
			 struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t)v->ino;
	e->generation = 0;	/* inode numbers are never reused */
	e->attr_timeout = f->cfg.timeout;
	e->entry_timeout = f->cfg.timeout;
	mfs_fuse_fill_attr(f, v, &e->attr);
}

static void mfs_fuse_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
	/* folders have no per-open state: no OPENDIR/RELEASEDIR round trips */
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT)
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* the kernel keeps cached pages: we invalidate changed files */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->max_readahead = MFS_FUSE_MAX_READ;
	conn->max_read = MFS_FUSE_MAX_READ;
}

/* Catalog nodes keep no state; search folders count the kernel's refs. */
static void mfs_fuse_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (mfs_fuse_is_virt(ino))
		mfs_fuse_virt_forget(mfs_fuse_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void mfs_fuse_forget_multi(fuse_req_t req, size_t count,
				  struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (mfs_fuse_is_virt(forgets[i].ino))
			mfs_fuse_virt_forget(mfs_fuse_of(req), forgets[i].ino,
					     forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Every modifying operation: the tree is read-only. */
static void reply_erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	reply_erofs(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	reply_erofs(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	reply_erofs(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	reply_erofs(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	reply_erofs(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	reply_erofs(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	reply_erofs(req);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	reply_erofs(req);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	reply_erofs(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	reply_erofs(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	reply_erofs(req);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	(void)ino, (void)mode, (void)offset, (void)length, (void)fi;
	reply_erofs(req);
}

/*
 * The read-only operations, timed: each handler replies before it
 * returns, so the time around the call is the operation's latency as the
 * kernel sees it (minus the queueing in /dev/fuse).  f is taken before
 * the call: the request is gone once answered.
 */
#define MFS_FUSE_TIMED(op, name, params, ...)                            \
	static void timed_##name params                                   \
	{                                                                 \
		struct mfs_fuse *f = mfs_fuse_of(req);                    \
		uint64_t t0 = metrics_now_ns();                           \
                                                                          \
		atomic_fetch_add(&f->in_flight, 1);                       \
		mfs_fuse_##name(__VA_ARGS__);                             \
		metrics_fuse_record(op, metrics_now_ns() - t0);           \
		atomic_fetch_sub(&f->in_flight, 1);                       \
	}

MFS_FUSE_TIMED(METRICS_OP_LOOKUP, lookup,
	       (fuse_req_t req, fuse_ino_t parent, const char *name),
	       req, parent, name)
MFS_FUSE_TIMED(METRICS_OP_GETATTR, getattr,
	       (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	       req, ino, fi)
MFS_FUSE_TIMED(METRICS_OP_OTHER, opendir,
	       (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	       req, ino, fi)
MFS_FUSE_TIMED(METRICS_OP_READDIR, readdir,
	       (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi),
	       req, ino, size, off, fi)
MFS_FUSE_TIMED(METRICS_OP_READDIRPLUS, readdirplus,
	       (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi),
	       req, ino, size, off, fi)
MFS_FUSE_TIMED(METRICS_OP_OTHER, releasedir,
	       (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	       req, ino, fi)
MFS_FUSE_TIMED(METRICS_OP_STATFS, statfs, (fuse_req_t req, fuse_ino_t ino),
	       req, ino)
MFS_FUSE_TIMED(METRICS_OP_OPEN, open,
	       (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	       req, ino, fi)
MFS_FUSE_TIMED(METRICS_OP_READ, read,
	       (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi),
	       req, ino, size, off, fi)
MFS_FUSE_TIMED(METRICS_OP_RELEASE, release,
	       (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	       req, ino, fi)
MFS_FUSE_TIMED(METRICS_OP_GETXATTR, getxattr,
	       (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size),
	       req, ino, name, size)
MFS_FUSE_TIMED(METRICS_OP_LISTXATTR, listxattr,
	       (fuse_req_t req, fuse_ino_t ino, size_t size), req, ino, size)
MFS_FUSE_TIMED(METRICS_OP_OTHER, readlink, (fuse_req_t req, fuse_ino_t ino),
	       req, ino)

static const struct fuse_lowlevel_ops mfs_fuse_ops = {
	.init = mfs_fuse_init,
	.lookup = timed_lookup,
	.forget = mfs_fuse_forget,
	.forget_multi = mfs_fuse_forget_multi,
	.getattr = timed_getattr,
	.opendir = timed_opendir,
	.readdir = timed_readdir,
	.readdirplus = timed_readdirplus,
	.releasedir = timed_releasedir,
	.statfs = timed_statfs,
	.open = timed_open,
	.read = timed_read,
	.release = timed_release,
	.getxattr = timed_getxattr,
	.listxattr = timed_listxattr,
	.readlink = timed_readlink,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
};

/* ---- kernel invalidations (called from the scanner thread) ------------- */

void mfs_fuse_inval_entry(struct mfs_fuse *f, int64_t parent,
			  const char *name)
{
	int rc;

	rc = fuse_lowlevel_notify_inval_entry(f->se, (fuse_ino_t)parent, name,
					      strlen(name));
	/* -ENOENT: the kernel did not have it cached, nothing to do */
	if (rc && rc != -ENOENT)
		mfs_log(MFS_LOG_DEBUG, "invalidate '%s' in %" PRId64 ": %s",
			name, parent, strerror(-rc));
}

void mfs_fuse_inval_inode(struct mfs_fuse *f, int64_t ino)
{
	int rc;

	rc = fuse_lowlevel_notify_inval_inode(f->se, (fuse_ino_t)ino, 0, 0);
	if (rc && rc != -ENOENT)
		mfs_log(MFS_LOG_DEBUG, "invalidate inode %" PRId64 ": %s", ino,
			strerror(-rc));
}

/* A root name that comes or goes may move a collection of that name. */
static void inval_entry(void *ctx, int64_t parent, const char *name)
{
	struct mfs_fuse *f = ctx;

	mfs_fuse_inval_entry(f, parent, name);
	if (parent == CATALOG_ROOT_INO)
		mfs_fuse_virt_root_entry_changed(f, name);
}

static void inval_inode(void *ctx, int64_t ino)
{
	mfs_fuse_inval_inode(ctx, ino);
}

void mfs_fuse_listener(struct mfs_fuse *f, struct tree_listener *out)
{
	out->inval_entry = inval_entry;
	out->inval_inode = inval_inode;
	out->ctx = f;
}

static void collection_changed(void *ctx, const char *name)
{
	mfs_fuse_virt_root_changed(ctx, name);
}

void mfs_fuse_collections_listener(struct mfs_fuse *f,
				   struct collections_listener *out)
{
	out->changed = collection_changed;
	out->ctx = f;
}

void mfs_fuse_set_scan(struct mfs_fuse *f, struct scan *scan)
{
	f->scan = scan;
}

/* ---- session ---------------------------------------------------------- */

/* Undo mountinfo's octal escapes ("\040" is a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *in = s, *out = s;

	while (*in) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] &&
		    in[3]) {
			*out++ = (char)(((in[1] - '0') << 6) |
					((in[2] - '0') << 3) | (in[3] - '0'));
			in += 4;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
}

/*
 * The kernel reads ahead only 128 KiB on a new FUSE mount, which caps read
 * requests well below max_read.  Raise the mount's read-ahead to 1 MiB
 * through sysfs (root only; silently skipped otherwise).  The device
 * number comes from /proc/self/mountinfo: a stat of our own mount point
 * would wait for a request the loop is not serving yet.
 */
static void tune_readahead(const char *real_mountpoint)
{
	char line[4096], dev[32] = "", point[PATH_MAX], path[96];
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	FILE *ra;

	if (!mi)
		return;
	while (fgets(line, sizeof(line), mi)) {
		char d[32];

		if (sscanf(line, "%*s %*s %31s %*s %4095s", d, point) != 2)
			continue;
		unescape_mountinfo(point);
		if (!strcmp(point, real_mountpoint))
			str_copy(dev, d, sizeof(dev));
	}
	fclose(mi);
	if (!*dev)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	ra = fopen(path, "we");
	if (!ra)
		return;
	fprintf(ra, "%u\n", MFS_FUSE_MAX_READ / 1024);
	if (fclose(ra))
		mfs_log(MFS_LOG_DEBUG, "cannot raise read-ahead of %s", dev);
}

static int build_args(const struct mfs_fuse_config *cfg,
		      struct fuse_args *args)
{
	char opts[256];

	snprintf(opts, sizeof(opts),
		 "ro,fsname=musicfs,subtype=musicfs,default_permissions,"
		 "max_read=%u%s",
		 MFS_FUSE_MAX_READ, geteuid() == 0 ? ",allow_other" : "");
	if (fuse_opt_add_arg(args, "musicfs") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts))
		return -ENOMEM;
	if (cfg->debug && fuse_opt_add_arg(args, "-d"))
		return -ENOMEM;
	return 0;
}

int mfs_fuse_new(const struct mfs_fuse_config *cfg, struct mfs_fuse **out)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct mfs_fuse *f;
	char *real = NULL;
	int rc;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	real = realpath(cfg->mountpoint, NULL);
	pthread_mutex_init(&f->pool_lock, NULL);
	pthread_mutex_init(&f->handles_lock, NULL);
	pthread_mutex_init(&f->around_lock, NULL);
	f->cfg = *cfg;
	f->uid = getuid();
	f->gid = getgid();
	f->mountpoint = strdup(cfg->mountpoint);
	f->db_path = strdup(cfg->db_path);
	rc = f->mountpoint && f->db_path ? mfs_fuse_virt_new(f) : -ENOMEM;
	if (!rc)
		rc = build_args(cfg, &args);
	if (rc)
		goto out_free;
	mfs_log_hook_libfuse();
	f->se = fuse_session_new(&args, &mfs_fuse_ops, sizeof(mfs_fuse_ops), f);
	if (!f->se) {
		rc = mfs_error(-EINVAL, "cannot create the FUSE session");
		goto out_free;
	}
	if (fuse_set_signal_handlers(f->se)) {
		rc = mfs_error(-EIO, "cannot install signal handlers");
		goto out_free;
	}
	if (fuse_session_mount(f->se, f->mountpoint)) {
		rc = mfs_error(-EIO, "cannot mount on '%s' (is it an existing "
				     "empty folder, and is /dev/fuse usable?)",
			       f->mountpoint);
		goto out_free;
	}
	f->mounted = true;
	if (real)
		tune_readahead(real);
	free(real);
	fuse_opt_free_args(&args);
	*out = f;
	return 0;

out_free:
	free(real);
	fuse_opt_free_args(&args);
	mfs_fuse_free(f);
	return rc;
}

int mfs_fuse_loop(struct mfs_fuse *f)
{
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	int rc;

	if (!lc)
		return -ENOMEM;
	f->loop_thread = pthread_self();
	fuse_loop_cfg_set_clone_fd(lc, 1);
	fuse_loop_cfg_set_max_threads(lc, 64);
	fuse_loop_cfg_set_idle_threads(lc, 8);
	rc = fuse_session_loop_mt(f->se, lc);
	fuse_loop_cfg_destroy(lc);
	/* a signal ends the loop with rc = the signal number: a clean exit */
	if (rc == -ECONNABORTED) {
		/* the kernel dropped the connection (a forced unmount, or a
		 * race of umount with a reading thread): the mount is gone */
		mfs_log(MFS_LOG_INFO, "the kernel closed the FUSE connection");
		return 0;
	}
	return rc < 0 ? rc : 0;
}

void mfs_fuse_exit(struct mfs_fuse *f)
{
	fuse_session_exit(f->se);
	/* the loop's thread sleeps in sem_wait: only a signal wakes it */
	pthread_kill(f->loop_thread, SIGTERM);
}

void mfs_fuse_get_stats(struct mfs_fuse *f, struct mfs_fuse_stats *out)
{
	out->open_handles = atomic_load(&f->open_handles);
	out->in_flight = atomic_load(&f->in_flight);
	out->draining = atomic_load(&f->draining);
}

int mfs_fuse_drain(struct mfs_fuse *f, int timeout_ms)
{
	struct timespec tick = { 0, 20 * 1000000 };
	int waited = 0;

	atomic_store(&f->draining, true);
	mfs_log(MFS_LOG_INFO, "draining: %" PRIuFAST64 " open file(s), %"
			      PRIuFAST64 " operation(s) in flight",
		atomic_load(&f->open_handles), atomic_load(&f->in_flight));
	while (atomic_load(&f->open_handles) || atomic_load(&f->in_flight)) {
		if (waited >= timeout_ms) {
			mfs_log(MFS_LOG_WARN, "drain timed out after %d ms with "
					      "%" PRIuFAST64 " file(s) open",
				timeout_ms, atomic_load(&f->open_handles));
			return -ETIMEDOUT;
		}
		nanosleep(&tick, NULL);
		waited += 20;
	}
	return 0;
}

void mfs_fuse_free(struct mfs_fuse *f)
{
	size_t i;

	if (!f)
		return;
	if (f->se) {
		if (f->mounted)
			fuse_session_unmount(f->se);
		fuse_remove_signal_handlers(f->se);
		fuse_session_destroy(f->se);
	}
	for (i = 0; i < f->pool_n; i++)
		catalog_close(&f->pool[i]);
	mfs_fuse_virt_free(f);
	mfs_fuse_close_handles(f);
	mfs_fuse_around_free(f);
	pthread_mutex_destroy(&f->around_lock);
	pthread_mutex_destroy(&f->handles_lock);
	pthread_mutex_destroy(&f->pool_lock);
	free(f->mountpoint);
	free(f->db_path);
	free(f);
}
