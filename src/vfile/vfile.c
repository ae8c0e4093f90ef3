/*
 * vfile.c - segment lists and the one read path (see vfile.h).
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_VFILE
#include "log/log.h"
#include "vfile/vfile.h"

enum vfile_seg_kind {
	VFILE_SEG_BYTES,
	VFILE_SEG_ORIGIN,
};

struct vfile_seg {
	enum vfile_seg_kind kind;
	uint64_t vstart;	/* offset of the segment in the virtual file */
	uint64_t len;
	uint64_t src;		/* origin: offset in the origin file */
	const uint8_t *bytes;	/* bytes: the data */
};

struct vfile {
	struct origin_file *file;	/* NULL if no segment reads an origin */
	int fd;				/* its descriptor for splicing, or -1 */
	uint8_t *owned;			/* memory the segments point into */
	uint64_t size;
	size_t n_segs;
	struct vfile_seg segs[];
};

static struct vfile *vfile_alloc(size_t n_segs)
{
	struct vfile *vf = calloc(1, sizeof(*vf) + n_segs * sizeof(vf->segs[0]));

	if (vf) {
		vf->fd = -1;
		vf->n_segs = n_segs;
	}
	return vf;
}

int vfile_open_range(struct origin *o, const char *relpath, uint64_t off,
		     uint64_t len, struct origin_entry *stat_out,
		     struct vfile **out)
{
	struct vfile *vf;
	int rc;

	*out = NULL;
	vf = vfile_alloc(1);
	if (!vf)
		return -ENOMEM;
	rc = origin_file_open(o, relpath, &vf->file);
	if (!rc && stat_out)
		rc = origin_file_stat(vf->file, stat_out);
	if (rc) {
		vfile_close(vf);
		return rc;
	}
	vf->fd = origin_file_fd(vf->file);
	vf->segs[0].kind = VFILE_SEG_ORIGIN;
	vf->segs[0].len = len;
	vf->segs[0].src = off;
	vf->size = len;
	*out = vf;
	return 0;
}

int vfile_open_bytes(uint8_t *data, size_t len, struct vfile **out)
{
	struct vfile *vf = vfile_alloc(1);

	*out = NULL;
	if (!vf) {
		free(data);
		return -ENOMEM;
	}
	vf->owned = data;
	vf->segs[0].kind = VFILE_SEG_BYTES;
	vf->segs[0].len = len;
	vf->segs[0].bytes = data;
	vf->size = len;
	*out = vf;
	return 0;
}

uint64_t vfile_size(const struct vfile *vf)
{
	return vf->size;
}

/* Index of the segment holding virtual offset off (binary search). */
static size_t find_segment(const struct vfile *vf, uint64_t off)
{
	size_t lo = 0, hi = vf->n_segs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (vf->segs[mid].vstart <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int vfile_map(const struct vfile *vf, uint64_t off, size_t size,
	      struct vfile_piece *pieces, size_t max, size_t *n)
{
	size_t i, count = 0;

	*n = 0;
	if (off >= vf->size || size == 0)
		return 0;
	if (size > vf->size - off)
		size = (size_t)(vf->size - off);
	for (i = find_segment(vf, off); size && i < vf->n_segs; i++) {
		const struct vfile_seg *seg = &vf->segs[i];
		uint64_t in = off - seg->vstart;
		size_t take = (size_t)MFS_MIN((uint64_t)size, seg->len - in);
		struct vfile_piece *p;

		if (count == max)
			return -E2BIG;
		p = &pieces[count++];
		p->len = take;
		p->fd = -1;
		p->file = NULL;
		p->mem = NULL;
		p->pos = 0;
		if (seg->kind == VFILE_SEG_BYTES) {
			p->mem = seg->bytes + in;
		} else {
			p->fd = vf->fd;
			p->file = vf->file;
			p->pos = seg->src + in;
		}
		off += take;
		size -= take;
	}
	*n = count;
	return 0;
}

ssize_t vfile_read(const struct vfile *vf, void *buf, size_t size,
		   uint64_t off)
{
	struct vfile_piece pieces[8];
	size_t n, i, done = 0;
	ssize_t got;
	int rc;

	rc = vfile_map(vf, off, size, pieces, MFS_ARRAY_SIZE(pieces), &n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (pieces[i].mem) {
			memcpy((char *)buf + done, pieces[i].mem, pieces[i].len);
			got = (ssize_t)pieces[i].len;
		} else {
			got = origin_file_pread(pieces[i].file,
						(char *)buf + done,
						pieces[i].len, pieces[i].pos);
			if (got < 0)
				return got;
		}
		done += (size_t)got;
		if ((size_t)got < pieces[i].len)
			break;	/* the origin file got shorter */
	}
	return (ssize_t)done;
}

void vfile_close(struct vfile *vf)
{
	if (!vf)
		return;
	origin_file_close(vf->file);
	free(vf->owned);
	free(vf);
}
