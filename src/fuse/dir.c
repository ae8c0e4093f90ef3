/*
 * dir.c - names and folders: lookup, getattr, readdir(plus), statfs.
 *
 * Every answer comes from one indexed catalog query.  readdir offsets are
 * positions in the (parent, ino) index: "." is offset 1, ".." offset 2 and
 * a child's offset is its inode number + 2, so a listing resumes with
 * "ino > off - 2" wherever the kernel left off, whatever changed since.
 * The kernel opens folders without asking (no OPENDIR) and keeps their
 * listings until the scanner invalidates the folder.  Inodes from
 * MFS_FUSE_VIRT_BASE up are searches (virt.c); so are the root's names
 * that the catalog lacks (/.search, the collections, listed after the
 * catalog's children).
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_FUSE
#include "log/log.h"
#include "fuse/mfs_fuse_i.h"
#include "tree/tree.h"

#include <sys/statvfs.h>

void mfs_fuse_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct fuse_entry_param e;
	struct catalog_vnode v;
	struct catalog *c;
	char *fold;
	int rc;

	if (mfs_fuse_is_virt(parent))
		return mfs_fuse_virt_lookup(req, parent, name);
	fold = tree_fold_name(name);
	if (!fold)
		return (void)fuse_reply_err(req, ENOMEM);
	c = mfs_fuse_reader_get(f);
	rc = c ? catalog_vnode_lookup_fold(c, (int64_t)parent, fold, &v) : -EIO;
	free(fold);
	/* the fold key merges case variants; a lookup wants the exact name */
	if (!rc && strcmp(v.name, name))
		rc = -ENOENT;
	if (rc == -ENOENT && parent == CATALOG_ROOT_INO &&
	    !mfs_fuse_virt_root_lookup(f, c, name, &e)) {
		mfs_fuse_reader_put(f, c);
		return (void)fuse_reply_entry(req, &e);
	}
	mfs_fuse_reader_put(f, c);
	if (rc == -ENOENT) {
		/* a negative entry the kernel may cache: we invalidate names we add */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = f->cfg.timeout;
		return (void)fuse_reply_entry(req, &e);
	}
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	mfs_fuse_fill_entry(f, &v, &e);
	fuse_reply_entry(req, &e);
}

void mfs_fuse_getattr(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct catalog_vnode v;
	struct catalog *c;
	struct stat st;
	int rc;

	(void)fi;
	if (mfs_fuse_is_virt(ino))
		return mfs_fuse_virt_getattr(req, ino);
	c = mfs_fuse_reader_get(f);
	rc = c ? catalog_vnode_get(c, (int64_t)ino, &v) : -EIO;
	mfs_fuse_reader_put(f, c);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	mfs_fuse_fill_attr(f, &v, &st);
	fuse_reply_attr(req, &st, f->cfg.timeout);
}

/*
 * Folders keep no per-open state, so MusicFS asks the kernel not to send
 * OPENDIR at all (FUSE_CAP_NO_OPENDIR_SUPPORT): it then opens folders by
 * itself with their listings cached, and a warm find(1) sends no request.
 * Older kernels still call this; it answers as if there were no handler.
 */
void mfs_fuse_opendir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

struct dir_fill {
	struct mfs_fuse *f;
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t used;
	bool plus;
	bool full;		/* an entry did not fit */
};

/* Add one entry; returns 1 when the buffer is full. */
static int dir_add_entry(void *ctx, const char *name,
			 const struct fuse_entry_param *e, off_t next)
{
	struct dir_fill *d = ctx;
	size_t n;

	if (d->plus)
		n = fuse_add_direntry_plus(d->req, d->buf + d->used,
					   d->size - d->used, name, e, next);
	else
		n = fuse_add_direntry(d->req, d->buf + d->used,
				      d->size - d->used, name, &e->attr, next);
	if (n > d->size - d->used) {
		d->full = true;
		return 1;
	}
	d->used += n;
	return 0;
}

static int dir_add(struct dir_fill *d, const char *name,
		   const struct catalog_vnode *v, off_t next)
{
	struct fuse_entry_param e;

	mfs_fuse_fill_entry(d->f, v, &e);
	return dir_add_entry(d, name, &e, next);
}

static int dir_child(void *ctx, const struct catalog_vnode *v)
{
	struct dir_fill *d = ctx;

	return dir_add(d, v->name, v, (off_t)v->ino + 2);
}

/* "." and "..": ".." is looked up by inode so NFS exports resolve it. */
static int dir_dots(struct dir_fill *d, struct catalog *c,
		    const struct catalog_vnode *self, off_t off)
{
	struct catalog_vnode parent;

	if (off < 1 && dir_add(d, ".", self, 1))
		return 1;
	if (off < 2) {
		if (catalog_vnode_get(c, self->parent, &parent))
			parent = *self;
		if (dir_add(d, "..", &parent, 2))
			return 1;
	}
	return 0;
}

/*
 * A catalog folder; the root ends with the collections.  An offset of the
 * collections' range means the catalog's children were all listed.
 */
static int list_catalog(struct dir_fill *d, struct catalog *c,
			fuse_ino_t ino, off_t off)
{
	struct catalog_vnode self;
	bool virt_off = ino == CATALOG_ROOT_INO &&
			mfs_fuse_virt_root_offset(off);
	int rc;

	rc = catalog_vnode_get(c, (int64_t)ino, &self);
	if (rc || dir_dots(d, c, &self, off))
		return rc;
	if (!virt_off)
		rc = catalog_vnode_children(c, (int64_t)ino,
					    off > 2 ? (int64_t)off - 2 : 0,
					    dir_child, d);
	if (!rc && !d->full && ino == CATALOG_ROOT_INO)
		rc = mfs_fuse_virt_root_list(d->f, c, virt_off ? off : 0,
					     d->plus, dir_add_entry, d);
	return rc;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, bool plus)
{
	struct dir_fill d = { .f = mfs_fuse_of(req), .req = req, .plus = plus };
	struct catalog *c = NULL;
	int rc;

	d.size = MFS_MIN(size, (size_t)1 << 20);
	d.buf = malloc(d.size);
	if (!d.buf)
		return (void)fuse_reply_err(req, ENOMEM);
	if (mfs_fuse_is_virt(ino)) {
		rc = mfs_fuse_virt_list(d.f, ino, off, dir_add_entry, &d);
	} else {
		c = mfs_fuse_reader_get(d.f);
		rc = c ? list_catalog(&d, c, ino, off) : -EIO;
	}
	mfs_fuse_reader_put(d.f, c);
	/* an error may only be reported before the first entry */
	if (rc && d.used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

void mfs_fuse_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void mfs_fuse_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void mfs_fuse_releasedir(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void mfs_fuse_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct statvfs sv;
	struct catalog *c;
	int64_t files = 0;

	(void)ino;
	c = mfs_fuse_reader_get(f);
	if (c)
		catalog_vnode_count(c, CATALOG_VNODE_TRACK, &files);
	mfs_fuse_reader_put(f, c);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_files = (fsfilcnt_t)files;
	sv.f_namemax = CATALOG_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}
