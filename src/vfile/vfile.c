/*
 * vfile.c - segment lists and the one read path (see vfile.h).
 *
 * Ogg segments whose pages must be renumbered keep an index of their page
 * offsets, built on the first read that needs it (one header read per
 * page, once per open file), so that any range can be served by reading
 * the whole pages that cover it, fixing them, and copying out the slice.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_VFILE
#include "log/log.h"
#include "cache/runtime.h"
#include "vfile/vfile.h"

#include <pthread.h>

enum vfile_seg_kind {
	VFILE_SEG_BYTES,
	VFILE_SEG_ORIGIN,
	VFILE_SEG_OGG,		/* origin range of Ogg pages to renumber */
	VFILE_SEG_CACHED,	/* origin range read through the chunk cache */
};

/* Where the pages of an Ogg segment start (relative to the segment). */
struct vfile_pages {
	pthread_mutex_t lock;
	bool built;		/* protected by lock; offsets immutable after */
	uint64_t *offsets;
	size_t n;
};

struct vfile_seg {
	enum vfile_seg_kind kind;
	uint64_t vstart;	/* offset of the segment in the virtual file */
	uint64_t len;
	uint64_t src;		/* origin: offset in the origin file */
	const uint8_t *bytes;	/* bytes: the data */
	uint32_t ogg_serial;	/* ogg: the stream and the renumbering */
	int32_t ogg_delta;
	struct vfile_pages *pages;
};

/* How a cached vfile reaches its origin on a miss (opened lazily). */
struct vfile_cached {
	struct cache *cache;
	struct cache_file cf;		/* fetch_ctx is the vfile */
	struct origin *origin;
	char *relpath;
	pthread_mutex_t lock;		/* opening the origin file */
	bool tried;			/* protected by lock */
};

struct vfile {
	struct origin_file *file;	/* NULL if no segment reads an origin */
	int fd;				/* its descriptor for splicing, or -1 */
	struct vfile_cached *cached;	/* set for VFILE_SEG_CACHED */
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

/*
 * A window missing from the cache: read it from the origin, opening the
 * origin file now if it could not be opened before (it may be back).
 */
static int cached_fetch(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct vfile *vf = ctx;
	struct vfile_cached *vc = vf->cached;
	struct origin_file *f;
	ssize_t got;

	pthread_mutex_lock(&vc->lock);
	if (!vf->file && origin_file_open(vc->origin, vc->relpath, &f) == 0)
		vf->file = f;
	f = vf->file;
	pthread_mutex_unlock(&vc->lock);
	if (!f)
		return -EIO;
	got = origin_file_pread(f, buf, len, off);
	return got == (ssize_t)len ? 0 : -EIO;
}

int vfile_open_cached(struct origin *o, const char *relpath, uint64_t off,
		      uint64_t len, const struct vfile_cache_ref *ref,
		      struct origin_entry *stat_out, bool *stat_known,
		      struct vfile **out)
{
	struct vfile_cached *vc;
	struct vfile *vf;

	*out = NULL;
	*stat_known = false;
	vf = vfile_alloc(1);
	vc = calloc(1, sizeof(*vc));
	if (!vf || !vc || !(vc->relpath = strdup(relpath))) {
		free(vc);
		vfile_close(vf);
		return -ENOMEM;
	}
	vc->cache = ref->cache;
	vc->cf.id = ref->file_id;
	vc->cf.stamp = ref->file_stamp;
	vc->cf.size = ref->file_size;
	vc->cf.fetch = cached_fetch;
	vc->cf.fetch_ctx = vf;
	vc->origin = o;
	pthread_mutex_init(&vc->lock, NULL);
	vf->cached = vc;
	/*
	 * The origin may be away (a NAS asleep, a folder moved): cached
	 * windows are still served, so a failed open is not an error here.
	 */
	vc->tried = true;
	if (!origin_file_open(o, relpath, &vf->file) && stat_out &&
	    !origin_file_stat(vf->file, stat_out))
		*stat_known = true;
	vf->segs[0].kind = VFILE_SEG_CACHED;
	vf->segs[0].len = len;
	vf->segs[0].src = off;
	vf->size = len;
	*out = vf;
	return 0;
}

/* Fill segment i of vf from synthesized segment in (bytes at *mem). */
static int synth_segment(struct vfile *vf, size_t i,
			 const struct formats_segment *in, uint8_t **mem,
			 uint64_t vstart)
{
	struct vfile_seg *seg = &vf->segs[i];

	seg->vstart = vstart;
	seg->len = in->length;
	if (in->data) {
		seg->kind = VFILE_SEG_BYTES;
		memcpy(*mem, in->data, in->length);
		seg->bytes = *mem;
		*mem += in->length;
		return 0;
	}
	seg->src = in->src_offset;
	seg->kind = in->ogg_seq_delta ? VFILE_SEG_OGG : VFILE_SEG_ORIGIN;
	if (seg->kind == VFILE_SEG_ORIGIN)
		return 0;
	seg->ogg_serial = in->ogg_serial;
	seg->ogg_delta = in->ogg_seq_delta;
	seg->pages = calloc(1, sizeof(*seg->pages));
	if (!seg->pages)
		return -ENOMEM;
	pthread_mutex_init(&seg->pages->lock, NULL);
	return 0;
}

int vfile_open_synth(struct origin *o, const char *relpath,
		     const struct formats_synth *synth,
		     struct origin_entry *stat_out, struct vfile **out)
{
	uint64_t vstart = 0;
	struct vfile *vf;
	uint8_t *mem;
	size_t i, bytes = 0;
	int rc = 0;

	*out = NULL;
	for (i = 0; i < synth->n_segs; i++)
		if (synth->segs[i].data)
			bytes += synth->segs[i].length;
	vf = vfile_alloc(synth->n_segs ? synth->n_segs : 1);
	if (!vf)
		return -ENOMEM;
	vf->n_segs = synth->n_segs;
	vf->owned = malloc(bytes ? bytes : 1);
	rc = vf->owned ? origin_file_open(o, relpath, &vf->file) : -ENOMEM;
	if (!rc && stat_out)
		rc = origin_file_stat(vf->file, stat_out);
	mem = vf->owned;
	for (i = 0; !rc && i < synth->n_segs; i++) {
		rc = synth_segment(vf, i, &synth->segs[i], &mem, vstart);
		vstart += synth->segs[i].length;
	}
	if (rc) {
		vfile_close(vf);
		return rc;
	}
	vf->fd = origin_file_fd(vf->file);
	vf->size = vstart;
	*out = vf;
	return 0;
}

/* formats_source read_at over a vfile (ctx: const struct vfile *). */
static ssize_t vfile_read_at(void *ctx, void *buf, size_t len, uint64_t off)
{
	return vfile_read(ctx, buf, len, off);
}

int vfile_open_picture(const struct vfile *file, const char *name,
		       const struct formats_picture *pic, struct vfile **out)
{
	struct formats_source src = { vfile_read_at, (void *)file,
				      vfile_size(file) };
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = formats_picture_load(&src, pic, &data, &len);
	if (rc == -EBADMSG) {
		mfs_log(MFS_LOG_WARN, "cannot decode the picture in '%s'",
			name);
		rc = -EIO;
	}
	return rc ? rc : vfile_open_bytes(data, len, out);
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
	return mfs_floor_index(vf->segs, vf->n_segs, sizeof(vf->segs[0]),
			       offsetof(struct vfile_seg, vstart), off);
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
			break;
		p = &pieces[count++];
		p->seg = seg;
		p->len = take;
		p->fd = -1;
		p->file = NULL;
		p->mem = NULL;
		p->pos = 0;
		if (seg->kind == VFILE_SEG_BYTES) {
			p->mem = seg->bytes + in;
		} else if (seg->kind == VFILE_SEG_CACHED) {
			p->pos = seg->src + in;	/* vfile_read serves it */
		} else {
			/* renumbered pages cannot be spliced as they are */
			p->fd = seg->kind == VFILE_SEG_OGG ? -1 : vf->fd;
			p->file = vf->file;
			p->pos = seg->src + in;
		}
		off += take;
		size -= take;
	}
	*n = count;
	return 0;
}

/*
 * The offset (in the segment) of the next "OggS" after pos, or the end of
 * the segment: where pages start again after a damaged stretch.
 */
static int next_capture(const struct vfile *vf, const struct vfile_seg *seg,
			uint64_t pos, uint64_t *next)
{
	uint8_t buf[65536];
	const uint8_t *hit;
	uint64_t at = pos + 1;
	ssize_t got;

	while (at < seg->len) {
		got = origin_file_pread(vf->file, buf,
					(size_t)MFS_MIN((uint64_t)sizeof(buf),
							seg->len - at),
					seg->src + at);
		if (got < 0)
			return (int)got;
		if (got < 4)
			break;
		hit = memmem(buf, (size_t)got, "OggS", 4);
		if (hit) {
			*next = at + (uint64_t)(hit - buf);
			return 0;
		}
		at += (uint64_t)got - 3;	/* a pattern across the edge */
	}
	*next = seg->len;
	return 0;
}

/* Offsets of the pages of an Ogg segment, built once. */
static int ogg_pages(const struct vfile *vf, const struct vfile_seg *seg,
		     const struct vfile_pages **out)
{
	struct vfile_pages *pg = seg->pages;
	uint8_t head[27 + 255];
	uint64_t pos = 0, body;
	uint64_t *offs;
	ssize_t got;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&pg->lock);
	while (!pg->built && !rc && pos < seg->len) {
		got = origin_file_pread(vf->file, head, sizeof(head),
					seg->src + pos);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		offs = realloc(pg->offsets, (pg->n + 1) * sizeof(*offs));
		if (!offs) {
			rc = -ENOMEM;
			break;
		}
		pg->offsets = offs;
		pg->offsets[pg->n++] = pos;
		if (got < 27 || memcmp(head, "OggS", 4) ||
		    (size_t)got < 27u + head[26]) {
			/* a damaged stretch: a boundary of its own, passed
			 * through untouched (see formats_ogg_fix_pages) */
			rc = next_capture(vf, seg, pos, &pos);
			continue;
		}
		for (body = 0, i = 0; i < head[26]; i++)
			body += head[27 + i];
		pos += 27 + head[26] + body;
	}
	if (!rc)
		pg->built = true;
	else
		pg->n = 0;
	pthread_mutex_unlock(&pg->lock);
	*out = pg;
	return rc;
}

/* Index of the page holding offset off of the segment (binary search). */
static size_t page_at(const struct vfile_pages *pg, uint64_t off)
{
	return mfs_floor_index(pg->offsets, pg->n, sizeof(pg->offsets[0]), 0,
			       off);
}

/* Read len bytes at offset off of a renumbered Ogg segment into dst. */
static ssize_t ogg_read(const struct vfile *vf, const struct vfile_seg *seg,
			uint64_t off, size_t len, char *dst)
{
	const struct vfile_pages *pg;
	uint64_t first, end;
	size_t last;
	uint8_t *buf;
	ssize_t got;
	int rc;

	rc = ogg_pages(vf, seg, &pg);
	if (rc)
		return rc;
	if (!pg->n)
		return 0;
	first = pg->offsets[page_at(pg, off)];
	last = page_at(pg, off + len - 1);
	end = last + 1 < pg->n ? pg->offsets[last + 1] : seg->len;
	buf = malloc(end - first);
	if (!buf)
		return -ENOMEM;
	got = origin_file_pread(vf->file, buf, end - first, seg->src + first);
	rc = got == (ssize_t)(end - first)
		     ? formats_ogg_fix_pages(buf, end - first, seg->ogg_serial,
					     seg->ogg_delta)
		     : -EIO;
	if (!rc)
		memcpy(dst, buf + (off - first), len);
	free(buf);
	return rc ? rc : (ssize_t)len;
}

/* Copy one piece into dst: bytes copied (short at a shrunk origin) or -errno. */
static ssize_t read_piece(const struct vfile *vf, const struct vfile_piece *p,
			  char *dst)
{
	const struct vfile_seg *seg = p->seg;

	if (p->mem) {
		memcpy(dst, p->mem, p->len);
		return (ssize_t)p->len;
	}
	if (seg->kind == VFILE_SEG_OGG)
		return ogg_read(vf, seg, p->pos - seg->src, p->len, dst);
	if (seg->kind == VFILE_SEG_CACHED)
		return cache_read(vf->cached->cache, &vf->cached->cf, dst,
				  p->len, p->pos);
	return origin_file_pread(p->file, dst, p->len, p->pos);
}

ssize_t vfile_read(const struct vfile *vf, void *buf, size_t size,
		   uint64_t off)
{
	struct vfile_piece pieces[8];
	size_t n, i, done = 0;
	ssize_t got;
	int rc;

	while (done < size) {
		rc = vfile_map(vf, off + done, size - done, pieces,
			       MFS_ARRAY_SIZE(pieces), &n);
		if (rc)
			return rc;
		if (n == 0)
			break;	/* the end of the file */
		for (i = 0; i < n; i++) {
			got = read_piece(vf, &pieces[i], (char *)buf + done);
			if (got < 0)
				return got;
			done += (size_t)got;
			if ((size_t)got < pieces[i].len)
				return (ssize_t)done;	/* origin got shorter */
		}
	}
	return (ssize_t)done;
}

ssize_t vfile_read_around(const struct vfile *vf, void *buf, size_t size,
			  uint64_t off, struct vfile_around *a)
{
	struct cache_around ca = { .buf = a->buf, .cap = a->cap };
	const struct vfile_seg *seg;
	struct vfile_piece piece;
	uint64_t lo, hi;
	ssize_t got;
	size_t n;
	int rc;

	a->len = 0;
	rc = vfile_map(vf, off, size, &piece, 1, &n);
	if (rc)
		return rc;
	seg = n ? piece.seg : NULL;
	if (!seg || seg->kind != VFILE_SEG_CACHED ||
	    piece.len < MFS_MIN((uint64_t)size, vf->size - off))
		return vfile_read(vf, buf, size, off);
	got = cache_read_around(vf->cached->cache, &vf->cached->cf, buf,
				piece.len, piece.pos, &ca);
	if (got < 0 || !ca.len)
		return got;
	/* the chunks, in origin offsets, cut to the segment */
	lo = MFS_MAX(ca.off, seg->src);
	hi = MFS_MIN(ca.off + ca.len, seg->src + seg->len);
	if (hi > lo) {
		a->data = a->buf + (lo - ca.off);
		a->off = seg->vstart + (lo - seg->src);
		a->len = (size_t)(hi - lo);
	}
	return got;
}

void vfile_close(struct vfile *vf)
{
	size_t i;

	if (!vf)
		return;
	for (i = 0; i < vf->n_segs; i++) {
		if (!vf->segs[i].pages)
			continue;
		pthread_mutex_destroy(&vf->segs[i].pages->lock);
		free(vf->segs[i].pages->offsets);
		free(vf->segs[i].pages);
	}
	if (vf->cached) {
		cache_file_release(&vf->cached->cf);
		pthread_mutex_destroy(&vf->cached->lock);
		free(vf->cached->relpath);
		free(vf->cached);
	}
	origin_file_close(vf->file);
	free(vf->owned);
	free(vf);
}
