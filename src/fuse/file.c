/*
 * file.c - open, read and release of tracks and covers.
 *
 * open builds the vfile (the segment list) once; read maps the requested
 * range to pieces and hands origin pieces to the kernel as file
 * descriptor ranges, which libfuse splices into /dev/fuse without copying
 * through user space.  open also compares the origin file with what the
 * catalog recorded: a file that changed is reported to the scanner and
 * opened without keep_cache, so stale pages are not reused.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_FUSE
#include "log/log.h"
#include "fuse/mfs_fuse_i.h"

#include <fcntl.h>
#include <unistd.h>

#define MFS_FUSE_MAX_PIECES 8

/*
 * The vnode's byte range of its origin file: straight from the origin, or
 * through the chunk cache for cached origins (then an origin that is away
 * still serves what the cache holds, and *known says whether its stamp
 * could be read).
 */
static int open_origin_range(struct mfs_fuse *f, struct origin *o,
			     const struct catalog_file *file,
			     const struct catalog_vnode *v,
			     struct origin_entry *now, bool *known,
			     struct vfile **vf)
{
	struct vfile_cache_ref ref = {
		.cache = f->cfg.cache,
		.file_id = file->id,
		.file_stamp = file->mtime_ns,
		.file_size = (uint64_t)file->size,
	};
	int rc;

	*known = true;
	if (o->cached && f->cfg.cache) {
		rc = vfile_open_cached(o, file->relpath, (uint64_t)v->src_offset,
				       (uint64_t)v->size, &ref, now, known, vf);
		/* content that changed since the scan is never cached under
		 * the catalog's old stamp: read it straight until rescanned */
		if (rc || !*known || ((int64_t)now->size == file->size &&
				      now->mtime_ns == file->mtime_ns))
			return rc;
		vfile_close(*vf);
		*vf = NULL;
	}
	return vfile_open_range(o, file->relpath, (uint64_t)v->src_offset,
				(uint64_t)v->size, now, vf);
}

/*
 * A cover that its track keeps encoded (an Ogg base64 picture): decoded
 * from the whole file, read as the track is read.
 */
static int open_encoded_picture(struct mfs_fuse *f, struct origin *o,
				const struct catalog_file *file,
				const struct catalog_vnode *v,
				struct origin_entry *now, bool *known,
				struct vfile **vf)
{
	struct catalog_vnode whole = *v;
	struct vfile *track = NULL;
	int rc;

	if (file->pic_blob)
		return -ENOENT;		/* the blob went missing */
	whole.src_offset = 0;
	whole.size = file->size;
	rc = open_origin_range(f, o, file, &whole, now, known, &track);
	if (!rc)
		rc = vfile_open_picture(track, file->relpath,
					&file->meta.picture, vf);
	vfile_close(track);
	return rc;
}

/* Open the vfile behind a track or cover vnode; *fresh says unchanged. */
static int open_vnode(struct mfs_fuse *f, struct catalog *c,
		      const struct catalog_vnode *v, struct vfile **vf,
		      bool *fresh)
{
	struct catalog_file file;
	struct origin_entry now;
	struct origin *o;
	bool known = true;
	uint8_t *data;
	size_t len;
	int rc;

	*fresh = true;
	if (v->kind == CATALOG_VNODE_COVER && v->src_offset < 0) {
		rc = catalog_file_picture(c, v->file, &data, &len);
		if (rc != -ENOENT)
			return rc ? rc : vfile_open_bytes(data, len, vf);
		/* not stored decoded: decoded from the file below */
	}
	rc = catalog_file_get(c, v->file, &file);
	if (rc)
		return rc == -ENOENT ? -ESTALE : rc;
	o = mfs_fuse_origin(f, file.origin);
	if (!o) {
		catalog_file_release(&file);
		return -ESTALE;
	}
	if (v->kind == CATALOG_VNODE_COVER && v->src_offset < 0)
		rc = open_encoded_picture(f, o, &file, v, &now, &known, vf);
	else
		rc = open_origin_range(f, o, &file, v, &now, &known, vf);
	if (!rc && known && ((int64_t)now.size != file.size ||
			     now.mtime_ns != file.mtime_ns)) {
		*fresh = false;
		mfs_log(MFS_LOG_DEBUG, "'%s' changed since the scan",
			file.relpath);
		if (f->scan)
			scan_request_path(f->scan, o, file.relpath);
	}
	catalog_file_release(&file);
	return rc;
}

/*
 * Open files are kept on a list: the kernel does not send RELEASE for
 * files still open when the file system goes away (an immediate shutdown,
 * a forced unmount), and mfs_fuse_free closes those.
 */
static struct mfs_fuse_handle *handle_new(struct mfs_fuse *f,
					  struct vfile *vf)
{
	struct mfs_fuse_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->vf = vf;
	pthread_mutex_lock(&f->handles_lock);
	h->next = f->handles;
	if (f->handles)
		f->handles->prev = h;
	f->handles = h;
	pthread_mutex_unlock(&f->handles_lock);
	atomic_fetch_add(&f->open_handles, 1);
	return h;
}

static void handle_close(struct mfs_fuse *f, struct mfs_fuse_handle *h)
{
	pthread_mutex_lock(&f->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		f->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&f->handles_lock);
	vfile_close(h->vf);
	free(h);
	atomic_fetch_sub(&f->open_handles, 1);
}

void mfs_fuse_close_handles(struct mfs_fuse *f)
{
	while (f->handles)
		handle_close(f, f->handles);
}

void mfs_fuse_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	struct catalog_vnode v;
	struct mfs_fuse_handle *h;
	struct vfile *vf = NULL;
	struct catalog *c;
	bool fresh = false;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return (void)fuse_reply_err(req, EROFS);
	/* a graceful shutdown waits for open files: take no new ones */
	if (atomic_load(&f->draining))
		return (void)fuse_reply_err(req, ESHUTDOWN);
	c = mfs_fuse_reader_get(f);
	rc = c ? catalog_vnode_get(c, (int64_t)ino, &v) : -EIO;
	if (!rc && v.kind == CATALOG_VNODE_DIR)
		rc = -EISDIR;
	if (!rc)
		rc = open_vnode(f, c, &v, &vf, &fresh);
	mfs_fuse_reader_put(f, c);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	h = handle_new(f, vf);
	if (!h) {
		vfile_close(vf);
		return (void)fuse_reply_err(req, ENOMEM);
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = fresh;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_close(f, h);	/* the caller was interrupted */
}

/* ---- pushing verified chunks to the page cache ----------------------- */

/* An idle push buffer, or NULL when AROUND_SLOTS threads are pushing. */
static uint8_t *around_take(struct mfs_fuse *f)
{
	uint8_t *b = NULL;
	bool make = false;

	pthread_mutex_lock(&f->around_lock);
	if (f->around_n)
		b = f->around_idle[--f->around_n];
	else if (f->around_made < MFS_FUSE_AROUND_SLOTS)
		make = true, f->around_made++;
	pthread_mutex_unlock(&f->around_lock);
	if (make && !(b = malloc(MFS_FUSE_AROUND_CAP))) {
		pthread_mutex_lock(&f->around_lock);
		f->around_made--;
		pthread_mutex_unlock(&f->around_lock);
	}
	return b;
}

static void around_give(struct mfs_fuse *f, uint8_t *b)
{
	pthread_mutex_lock(&f->around_lock);
	f->around_idle[f->around_n++] = b;
	pthread_mutex_unlock(&f->around_lock);
}

void mfs_fuse_around_free(struct mfs_fuse *f)
{
	while (f->around_n)
		free(f->around_idle[--f->around_n]);
	f->around_made = 0;
}

static void push_range(struct mfs_fuse *f, fuse_ino_t ino,
		       const struct vfile_around *a, uint64_t from, uint64_t to)
{
	struct fuse_bufvec v = FUSE_BUFVEC_INIT(0);

	if (to <= from)
		return;
	v.buf[0].mem = (void *)(a->data + (from - a->off));
	v.buf[0].size = (size_t)(to - from);
	fuse_lowlevel_notify_store(f->se, ino, (off_t)from, &v, 0);
}

/*
 * Give the kernel the whole pages of a->data that the reply [off, off +
 * n) did not cover.  A random 4 KiB read verifies a whole chunk (64 KiB
 * on average); pushed, its other pages are served by the page cache
 * instead of a request and a second verification each.  Called after the
 * reply: the kernel holds the replied pages locked until then.  The reply
 * also lets the kernel release the file, so its vfile may be gone: size is
 * the file's, taken before.
 */
static void push_around(struct mfs_fuse *f, fuse_ino_t ino, uint64_t size,
			const struct vfile_around *a, uint64_t off, size_t n)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = (a->off + page - 1) / page * page;
	uint64_t end = a->off + a->len;

	/* a partial last page is whole only at the end of the file */
	if (end != size)
		end = end / page * page;
	push_range(f, ino, a, start, MFS_MIN(end, off / page * page));
	push_range(f, ino, a, MFS_MAX(start, (off + n + page - 1) / page * page),
		   end);
}

/* ---- reads -------------------------------------------------------------- */

/* Answer a read by copying, for origins without a file descriptor. */
static void read_copy(fuse_req_t req, fuse_ino_t ino, const struct vfile *vf,
		      size_t size, off_t off)
{
	struct mfs_fuse *f = mfs_fuse_of(req);
	char *buf = malloc(size ? size : 1);
	struct vfile_around a = { 0 };
	uint64_t file_size = vfile_size(vf);
	ssize_t n;

	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	if (size <= MFS_FUSE_AROUND_READ_MAX)
		a.buf = around_take(f);
	if (a.buf) {
		a.cap = MFS_FUSE_AROUND_CAP;
		n = vfile_read_around(vf, buf, size, (uint64_t)off, &a);
	} else {
		n = vfile_read(vf, buf, size, (uint64_t)off);
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
	if (a.buf) {
		if (n > 0 && a.len)
			push_around(f, ino, file_size, &a, (uint64_t)off,
				    (size_t)n);
		around_give(f, a.buf);
	}
}

void mfs_fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	const struct vfile *vf =
		((const struct mfs_fuse_handle *)(uintptr_t)fi->fh)->vf;
	struct vfile_piece pieces[MFS_FUSE_MAX_PIECES];
	struct {
		struct fuse_bufvec vec;
		struct fuse_buf more[MFS_FUSE_MAX_PIECES - 1];
	} bufs;
	size_t n, i, total;
	int rc;

	rc = vfile_map(vf, (uint64_t)off, size, pieces, MFS_FUSE_MAX_PIECES, &n);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	if (n == 0)
		return (void)fuse_reply_buf(req, NULL, 0);
	for (i = 0, total = 0; i < n; i++) {
		total += pieces[i].len;
		/* pieces without a descriptor (remote, renumbered Ogg
		 * pages) and ranges over many segments are copied; so are
		 * bytes in memory: a reply pointing into the vfile can be
		 * freed by the release its completion allows while writev
		 * is still returning (harmless, the kernel has the bytes,
		 * but ASan checks the iovec after the call and reports it) */
		if (pieces[i].mem || pieces[i].fd < 0)
			return read_copy(req, ino, vf, size, off);
	}
	if (total < MFS_MIN((uint64_t)size, vfile_size(vf) - (uint64_t)off))
		return read_copy(req, ino, vf, size, off);
	memset(&bufs, 0, sizeof(bufs));
	bufs.vec.count = n;
	for (i = 0; i < n; i++) {
		struct fuse_buf *b = &bufs.vec.buf[i];

		b->size = pieces[i].len;
		if (pieces[i].mem) {
			b->mem = (void *)pieces[i].mem;
		} else {
			b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK |
				   FUSE_BUF_FD_RETRY;
			b->fd = pieces[i].fd;
			b->pos = (off_t)pieces[i].pos;
		}
	}
	fuse_reply_data(req, &bufs.vec, FUSE_BUF_SPLICE_MOVE);
}

void mfs_fuse_release(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct mfs_fuse *f = mfs_fuse_of(req);

	(void)ino;
	handle_close(f, (struct mfs_fuse_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}
