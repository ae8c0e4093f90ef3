/*
 * local.c - the local origin: a folder of the machine's own file system.
 *
 * Also serves NFS and SMB shares that the operating system mounted.  Paths
 * are resolved relative to the configured root on every call (no root fd
 * is kept) so that a share that is unmounted and mounted again keeps
 * working.  Folder symlinks are not followed (they can loop); file
 * symlinks are.  Reads use pread on a descriptor that FUSE can splice
 * from.
 */
#include "common/mfs.h"
#include "common/fdio.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_ORIGINS
#include "log/log.h"
#include "origins/origins.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct origin_local {
	struct origin base;	/* first: origin_local is-a origin */
};

struct origin_local_file {
	struct origin_file base;
	int fd;
};

static int64_t stat_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

char *origin_local_path(struct origin *o, const char *relpath)
{
	if (strcmp(o->ops->type, "local"))
		return NULL;
	if (!relpath || !*relpath)
		return strdup(o->root);
	return str_printf("%s/%s", o->root, relpath);
}

/* Fill e from a stat of name in dirfd; -errno if it vanished. */
static int entry_from_stat(int dirfd, const char *name, unsigned char d_type,
			   struct origin_entry *e)
{
	struct stat st;

	/* folders are not followed through symlinks: they can loop */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (S_ISLNK(st.st_mode) && fstatat(dirfd, name, &st, 0))
		return -errno;
	if (S_ISDIR(st.st_mode) && d_type == DT_LNK)
		return -ELOOP;
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return -EINVAL;
	e->name = name;
	e->is_dir = S_ISDIR(st.st_mode);
	e->size = (uint64_t)st.st_size;
	e->mtime_ns = stat_mtime_ns(&st);
	return 0;
}

static int local_list_dir(struct origin *o, const char *reldir,
			  int (*cb)(void *ctx, const struct origin_entry *e),
			  void *ctx)
{
	char *path = origin_local_path(o, reldir);
	struct origin_entry e;
	struct dirent *de;
	DIR *dir;
	int dfd, rc = 0;

	if (!path)
		return -ENOMEM;
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dfd < 0 ? -errno : 0;
	free(path);
	if (rc)
		return rc;
	dir = fdopendir(dfd);
	if (!dir) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (entry_from_stat(dfd, de->d_name, de->d_type, &e))
			continue;	/* vanished, special file or loop */
		if (cb(ctx, &e))
			break;
	}
	closedir(dir);
	return rc;
}

static int local_stat(struct origin *o, const char *relpath,
		      struct origin_entry *out)
{
	char *path = origin_local_path(o, relpath);
	struct stat st;
	int rc;

	if (!path)
		return -ENOMEM;
	rc = stat(path, &st) ? -errno : 0;
	free(path);
	if (rc)
		return rc;
	out->name = NULL;
	out->is_dir = S_ISDIR(st.st_mode);
	out->size = (uint64_t)st.st_size;
	out->mtime_ns = stat_mtime_ns(&st);
	return 0;
}

static int local_open(struct origin *o, const char *relpath,
		      struct origin_file **out)
{
	struct origin_local_file *f;
	char *path = origin_local_path(o, relpath);
	int fd;
	int rc;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)	/* O_NOATIME needs ownership */
		fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 ? -errno : 0;
	free(path);
	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->base.origin = o;
	f->fd = fd;
	*out = &f->base;
	return 0;
}

static ssize_t local_pread(struct origin_file *base, void *buf, size_t len,
			   uint64_t off)
{
	struct origin_local_file *f = (struct origin_local_file *)base;

	return mfs_pread_full(f->fd, buf, len, off);
}

static int local_fstat(struct origin_file *base, struct origin_entry *out)
{
	struct origin_local_file *f = (struct origin_local_file *)base;
	struct stat st;

	if (fstat(f->fd, &st))
		return -errno;
	out->name = NULL;
	out->is_dir = S_ISDIR(st.st_mode);
	out->size = (uint64_t)st.st_size;
	out->mtime_ns = stat_mtime_ns(&st);
	return 0;
}

static int local_fd(struct origin_file *base)
{
	return ((struct origin_local_file *)base)->fd;
}

static void local_close(struct origin_file *base)
{
	struct origin_local_file *f = (struct origin_local_file *)base;

	close(f->fd);
	free(f);
}

static int local_probe(struct origin *o)
{
	struct stat st;

	if (stat(o->root, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void local_free(struct origin *o)
{
	free(o->id);
	free(o->root);
	free(o);
}

static const struct origin_ops local_ops = {
	.version = 1,
	.type = "local",
	.list_dir = local_list_dir,
	.stat = local_stat,
	.open = local_open,
	.pread = local_pread,
	.fstat = local_fstat,
	.fd = local_fd,
	.close = local_close,
	.probe = local_probe,
	.free = local_free,
};

int origin_open_local(const char *id, const char *path, int priority,
		      struct origin **out)
{
	struct origin_local *lo;
	char *real;

	*out = NULL;
	lo = calloc(1, sizeof(*lo));
	if (!lo)
		return -ENOMEM;
	/* an absolute, canonical root keeps relpaths stable across cwd */
	real = realpath(path, NULL);
	lo->base.ops = &local_ops;
	lo->base.id = strdup(id);
	lo->base.root = real ? real : strdup(path);
	lo->base.priority = priority;
	if (!lo->base.id || !lo->base.root) {
		local_free(&lo->base);
		return -ENOMEM;
	}
	*out = &lo->base;
	return 0;
}
