/*
 * xattr.c - tags as extended attributes (only with --xattrs).
 *
 * Off by default: ls -l asks every file for security.selinux and
 * system.posix_acl_access, and a file system that implements getxattr
 * pays a round trip for each.  Answering ENOSYS once makes the kernel
 * stop asking for the life of the mount.  When on, every named tag of a
 * track is user.musicfs.<field>, and user.musicfs.origin tells where the
 * file really is ("ORIGIN_ID:relative/path").
 */
#include "common/mfs.h"
#include "common/buf.h"
#define MFS_LOG_MODULE MFS_LOGM_FUSE
#include "log/log.h"
#include "fuse/mfs_fuse_i.h"

#define XATTR_PREFIX "user.musicfs."

/*
 * Render every attribute of a track as "name\0value\0" pairs into out.
 * 0, or -ENODATA for a node without tags (folders, covers).
 */
static int track_xattrs(struct mfs_fuse *f, struct catalog *c,
			fuse_ino_t ino, struct buf *out)
{
	struct catalog_vnode v;
	struct catalog_file file;
	const struct formats_tags *t;
	struct origin *o;
	int rc;

	/* search folders and their symlinks carry no tags */
	if (mfs_fuse_is_virt(ino))
		return -ENODATA;
	rc = catalog_vnode_get(c, (int64_t)ino, &v);
	if (rc)
		return rc;
	if (v.kind != CATALOG_VNODE_TRACK)
		return -ENODATA;
	rc = catalog_file_get(c, v.file, &file);
	if (rc)
		return rc;
	t = &file.meta.tags;
	{
		const struct { const char *name; const char *value; } text[] = {
			{ "title", t->title }, { "artist", t->artist },
			{ "album", t->album }, { "album_artist", t->album_artist },
			{ "date", t->date }, { "genre", t->genre },
			{ "composer", t->composer }, { "comment", t->comment },
		};
		size_t i;

		for (i = 0; !rc && i < MFS_ARRAY_SIZE(text); i++)
			if (text[i].value)
				rc = buf_addf(out, XATTR_PREFIX "%s%c%s%c",
					      text[i].name, 0, text[i].value, 0);
	}
	if (!rc && t->track)
		rc = buf_addf(out, XATTR_PREFIX "track%c%d%c", 0, t->track, 0);
	if (!rc && t->disc)
		rc = buf_addf(out, XATTR_PREFIX "disc%c%d%c", 0, t->disc, 0);
	if (!rc && t->year)
		rc = buf_addf(out, XATTR_PREFIX "year%c%d%c", 0, t->year, 0);
	o = mfs_fuse_origin(f, file.origin);
	if (!rc && o)
		rc = buf_addf(out, XATTR_PREFIX "origin%c%s:%s%c", 0, o->id,
			      file.relpath, 0);
	catalog_file_release(&file);
	return rc;
}

/* Load the attributes of ino; the reply path is the caller's. */
static int load_xattrs(fuse_req_t req, fuse_ino_t ino, struct buf *out)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct catalog *c = mfs_fuse_reader_get(f);
	int rc = c ? track_xattrs(f, c, ino, out) : -EIO;

	mfs_fuse_reader_put(f, c);
	return rc;
}

/* Reply with data under the size protocol of getxattr/listxattr. */
static void reply_sized(fuse_req_t req, const char *data, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, len);
}

void mfs_fuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size)
{
	struct buf all = BUF_INIT_MAX(1u << 20);
	const char *p, *end;
	int rc;

	if (!mfs_fuse_of(req)->cfg.xattrs)
		return (void)fuse_reply_err(req, ENOSYS);
	rc = load_xattrs(req, ino, &all);
	if (rc == 0)
		rc = -ENODATA;
	p = all.data;
	end = p ? p + all.len : NULL;
	while (p && p < end) {
		const char *value = p + strlen(p) + 1;

		if (!strcmp(p, name)) {
			reply_sized(req, value, strlen(value), size);
			buf_release(&all);
			return;
		}
		p = value + strlen(value) + 1;
	}
	buf_release(&all);
	fuse_reply_err(req, -rc);
}

void mfs_fuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct buf all = BUF_INIT_MAX(1u << 20);
	struct buf names = BUF_INIT_MAX(1u << 20);
	const char *p, *end;
	int rc;

	if (!mfs_fuse_of(req)->cfg.xattrs)
		return (void)fuse_reply_err(req, ENOSYS);
	rc = load_xattrs(req, ino, &all);
	if (rc && rc != -ENODATA) {
		buf_release(&all);
		return (void)fuse_reply_err(req, -rc);
	}
	p = all.data;
	end = p ? p + all.len : NULL;
	while (p && p < end && !rc) {
		const char *value = p + strlen(p) + 1;

		rc = buf_add(&names, p, strlen(p) + 1);
		p = value + strlen(value) + 1;
	}
	reply_sized(req, names.data ? names.data : "", names.len, size);
	buf_release(&all);
	buf_release(&names);
}
