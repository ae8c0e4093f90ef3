/*
 * vfile.h - virtual files: what a file of the mount is made of.
 *
 * Owns: struct vfile, an open virtual file, and the origin handle it
 * reads from.  A virtual file is a list of segments, each either bytes
 * held in memory (a synthesized header, a decoded picture) or a byte range
 * of an origin file.  Size, reads and offsets all come from the segment
 * list, so every kind of file (a track, a cover that is a range inside a
 * track, later a track with an overlaid header) shares one read path.
 *
 * A read is answered as "pieces": an origin range with a file descriptor
 * lets FUSE splice from the origin without copying through user space.
 *
 * Threads: a vfile may be read by several threads at once (FUSE may issue
 * parallel reads on one handle); it is immutable after open.
 * Memory: vfile_open_* return a vfile released with vfile_close.
 */
#ifndef MFS_VFILE_VFILE_H
#define MFS_VFILE_VFILE_H

#include "common/mfs.h"
#include "formats/formats.h"
#include "origins/origins.h"

struct vfile;

/* One contiguous part of a read. */
struct vfile_piece {
	const void *mem;	/* bytes in memory, or NULL: */
	int fd;			/* an origin file descriptor (-1: none) */
	struct origin_file *file;	/* for pread when fd is -1 */
	uint64_t pos;		/* offset in the origin file */
	size_t len;
	const void *seg;	/* vfile's own: the segment it comes from */
};

/*
 * A virtual file that is bytes [off, off + len) of relpath in origin o.
 * The origin file stays open until vfile_close.  *stat_out (if not NULL)
 * receives the origin file's current size and mtime so the caller can
 * tell whether it changed since it was scanned.
 */
int vfile_open_range(struct origin *o, const char *relpath, uint64_t off,
		     uint64_t len, struct origin_entry *stat_out,
		     struct vfile **out);

/*
 * A virtual file made of the segments of a synthesized file (see
 * formats_synthesize): synthesized bytes are copied into the vfile,
 * origin ranges are read from relpath in o.  Ranges of Ogg pages marked
 * for renumbering are read whole pages at a time and fixed on the way
 * (their pieces have no fd: vfile_read must serve them).
 */
int vfile_open_synth(struct origin *o, const char *relpath,
		     const struct formats_synth *synth,
		     struct origin_entry *stat_out, struct vfile **out);

/*
 * A virtual file that is the image of pic, a picture that the file read
 * through file (a vfile of the whole file, e.g. vfile_open_range) stores
 * encoded (an Ogg base64 picture, formats.h): decoded now and held in
 * memory; file is not needed afterwards.  name is for messages.  -EIO if
 * the file no longer holds the picture, or the error of a read.
 */
int vfile_open_picture(const struct vfile *file, const char *name,
		       const struct formats_picture *pic, struct vfile **out);

struct cache;

/* The cache entry of an origin file: its catalog id and whole size. */
struct vfile_cache_ref {
	struct cache *cache;
	int64_t file_id;
	int64_t file_stamp;	/* its mtime in the catalog */
	uint64_t file_size;
};

/*
 * Like vfile_open_range, but reads go through the chunk cache (ref), and
 * the origin file is only needed for windows the cache lacks: if it cannot
 * be opened now, the vfile is still made (cached windows are served, the
 * others fail with EIO) and *stat_known is false.
 */
int vfile_open_cached(struct origin *o, const char *relpath, uint64_t off,
		      uint64_t len, const struct vfile_cache_ref *ref,
		      struct origin_entry *stat_out, bool *stat_known,
		      struct vfile **out);

/* A virtual file made of data (ownership of data passes to the vfile). */
int vfile_open_bytes(uint8_t *data, size_t len, struct vfile **out);

uint64_t vfile_size(const struct vfile *vf);

/*
 * Map [off, off + size) to at most max pieces; *n receives their count.
 * Reads past the end are cut (n may be 0).  When the range spans more
 * than max segments, the pieces cover only its beginning: the caller
 * compares their total length with what it asked for.
 */
int vfile_map(const struct vfile *vf, uint64_t off, size_t size,
	      struct vfile_piece *pieces, size_t max, size_t *n);

/* Copy [off, off + size) into buf: bytes copied or -errno. */
ssize_t vfile_read(const struct vfile *vf, void *buf, size_t size,
		   uint64_t off);

/* Bytes of the file around a read that were verified with it. */
struct vfile_around {
	uint8_t *buf;		/* the caller's, cap bytes */
	size_t cap;
	const uint8_t *data;	/* out: inside buf */
	uint64_t off;		/* out: the offset of data in the file */
	size_t len;		/* out: 0 if there is nothing around */
};

/*
 * vfile_read, and when the range is served from chunks of the cache, the
 * whole chunks it read, as file bytes (see cache_read_around).
 */
ssize_t vfile_read_around(const struct vfile *vf, void *buf, size_t size,
			  uint64_t off, struct vfile_around *a);

/* Release; NULL accepted. */
void vfile_close(struct vfile *vf);

#endif
