/*
 * formats.h - the audio format layer: what is in an audio file.
 *
 * Owns: the parsers of every supported container and tag format.  Given a
 * way to read bytes of a file (struct formats_source), formats_parse()
 * fills a struct formats_meta: the tags, technical info, where the
 * embedded picture is, and where the audio payload starts and ends.
 *
 * Input is hostile: every length read from a file is checked against the
 * bytes available before anything is allocated; allocations are capped
 * (FORMATS_MAX_TAG_BYTES).  A damaged file gives -EBADMSG, never a crash.
 * Parsers read only what they need (the header window; for MP3 and AAC
 * the last bytes of the file, for Ogg the last page; big tags frame by
 * frame), not the whole file, and never picture data stored as-is.  With
 * FORMATS_PARSE_LAZY_PICTURES not even a base64 picture of Ogg is read:
 * its place is recorded and formats_picture_load() decodes it later.
 *
 * Thread safety: no shared state; any thread may parse any file.
 * Memory: everything in a formats_meta is owned by it; release with
 * formats_meta_release().
 */
#ifndef MFS_FORMATS_FORMATS_H
#define MFS_FORMATS_FORMATS_H

#include "common/mfs.h"
#include <sys/types.h>

/* Largest tag block MusicFS reads into memory (pictures are not read). */
#define FORMATS_MAX_TAG_BYTES (16u << 20)

enum formats_kind {
	FORMATS_UNKNOWN,
	FORMATS_FLAC,
	FORMATS_MP3,
	FORMATS_OGG_VORBIS,
	FORMATS_OPUS,
	FORMATS_WAV,
	FORMATS_M4A,
	FORMATS_AAC,
	FORMATS_KIND_COUNT
};

/* Where the bytes come from: a local fd, a cached remote file, a buffer. */
struct formats_source {
	/*
	 * Read up to len bytes at offset off into buf.  Returns the number
	 * of bytes read (fewer only at the end of the file) or -errno.
	 */
	ssize_t (*read_at)(void *ctx, void *buf, size_t len, uint64_t off);
	void *ctx;
	uint64_t size;		/* file size in bytes */
};

/* A tag MusicFS has no named field for, kept as it was read. */
struct formats_field {
	char *key;		/* as in the file ("MUSICBRAINZ_TRACKID", "TXXX:foo") */
	char *value;
};

/*
 * Tag values are UTF-8, NUL-terminated, NULL when absent.  Several values
 * of one field (two ARTIST comments, an ID3 frame with NUL-separated
 * strings) are joined with "; ".  Numbers are 0 when absent.
 */
struct formats_tags {
	char *title;
	char *artist;
	char *album;
	char *album_artist;
	char *genre;
	char *composer;
	char *date;		/* as written: "2023", "2023-04-14" */
	char *comment;
	int year;		/* from date, 0 if none */
	int track;
	int track_total;
	int disc;
	int disc_total;
	bool compilation;
	struct formats_field *extra;
	size_t n_extra;
};

/* How a picture is kept in the file, when it is not in data. */
enum formats_pic_store {
	FORMATS_PIC_RAW,	/* [offset, offset + length) is the image */
	/*
	 * base64 text of a FLAC picture block in the comment packet of an
	 * Ogg stream, split by page headers: offset is the file offset of
	 * its first character, length the image bytes it decodes to.
	 */
	FORMATS_PIC_OGG_BASE64,
};

struct formats_picture {
	bool present;
	uint32_t type;		/* ID3/FLAC picture type, 3 = front cover */
	char mime[32];		/* "image/jpeg", "image/png" */
	/* where the image is in the file (see store) */
	enum formats_pic_store store;
	uint64_t offset;
	uint64_t length;
	/*
	 * or a decoded copy when the file stores it encoded (base64,
	 * unsynchronised ID3) and it was read: then data != NULL and
	 * offset/length are 0.
	 */
	uint8_t *data;
	size_t data_len;
};

struct formats_meta {
	enum formats_kind kind;
	struct formats_tags tags;
	double duration;	/* seconds, 0 if unknown */
	uint32_t sample_rate;
	uint16_t channels;
	uint32_t bitrate;	/* bits per second, average */
	struct formats_picture picture;
	/* the audio payload: [audio_start, audio_end) of the file */
	uint64_t audio_start;
	uint64_t audio_end;
};

/*
 * Parse the file behind src.  name is the file name (its extension is a
 * hint where magic bytes are ambiguous, e.g. ADTS vs MP3) and may be NULL.
 * On success returns 0 and fills *out (caller releases it).  Returns
 * -EBADMSG for a file that is not a supported format or is damaged beyond
 * reading, -EFBIG when a tag passes FORMATS_MAX_TAG_BYTES, or the -errno of
 * a failed read.  On failure *out is left released (safe to release again).
 */
int formats_parse(const struct formats_source *src, const char *name,
		  struct formats_meta *out);

/*
 * Flags of formats_parse_flags.  LAZY_PICTURES: a picture the file stores
 * as base64 in Ogg pages is located (type, MIME type, image length and
 * where its text starts: FORMATS_PIC_OGG_BASE64), not read; the scanner
 * wants that, a picture is decoded when it is served.  Damage inside the
 * text past its first bytes is then only found by formats_picture_load.
 */
#define FORMATS_PARSE_LAZY_PICTURES 0x1u

/* formats_parse with flags (formats_parse: none). */
int formats_parse_flags(const struct formats_source *src, const char *name,
			unsigned flags, struct formats_meta *out);

/*
 * The image of pic, a picture of the file behind src as formats_parse
 * described it, in a new array of *len bytes (caller frees *data): its
 * data copied, its bytes read, or its base64 text decoded.  0, -ENOENT
 * if pic is not present, -EBADMSG if the file no longer holds that
 * picture, -EFBIG over FORMATS_MAX_TAG_BYTES, -ENOMEM or the -errno of a
 * read.
 */
int formats_picture_load(const struct formats_source *src,
			 const struct formats_picture *pic, uint8_t **data,
			 size_t *len);

/* Free what meta owns and zero it.  Accepts a zeroed meta. */
void formats_meta_release(struct formats_meta *meta);

/* True if the file name has the extension of a format MusicFS reads. */
bool formats_is_audio_name(const char *name);

/* "flac", "mp3", "ogg", "opus", "wav", "m4a", "aac" ("" for unknown). */
const char *formats_kind_ext(enum formats_kind kind);

/* A source that reads a file descriptor with pread (ctx is the fd). */
void formats_source_from_fd(struct formats_source *src, int *fd,
			    uint64_t size);

/* The bytes behind a memory source; owned by the caller, not copied. */
struct formats_mem {
	const uint8_t *data;
	size_t len;
};

/*
 * A source that reads len bytes at data (tests, fuzzers, a file already in
 * memory).  mem is filled in and must outlive src; data is not copied.
 */
void formats_source_from_mem(struct formats_source *src,
			     struct formats_mem *mem, const void *data,
			     size_t len);

/* ---- synthesis: a new header for the same audio ----------------------- */

/*
 * One piece of a synthesized file, in order: bytes made by the
 * synthesizer, or a range of the origin file copied as it is.  For Ogg,
 * an origin range may need its pages renumbered: ogg_seq_delta is added
 * to the page sequence number of every page in the range (and each such
 * page's CRC recomputed) when it is read (see formats_ogg_fix_pages).
 */
struct formats_segment {
	const uint8_t *data;	/* synthesized bytes, or NULL: an origin range */
	uint64_t src_offset;	/* origin range: where it starts in the file */
	uint64_t length;
	int32_t ogg_seq_delta;	/* origin range of Ogg pages: renumbering */
	uint32_t ogg_serial;	/* ... of the pages of this logical stream */
};

/* The result of formats_synthesize; release with formats_synth_release. */
struct formats_synth {
	struct formats_segment *segs;
	size_t n_segs;
	uint64_t size;		/* sum of the segment lengths */
	uint8_t *mem;		/* memory the data pointers point into */
	size_t mem_len;
	size_t mem_alloc;	/* bytes allocated at mem */
};

/*
 * Make the segments of a file whose header carries exactly tags (named
 * fields and extra; an absent field is left out) and picture (NULL: keep
 * none; its bytes are read from src when they are a range of it, and an
 * Ogg base64 picture of src is kept as the text it is), and
 * whose audio bytes are those of the origin file behind src, untouched.
 * orig is what formats_parse returned for src (the layout to keep).
 * 0, or -EBADMSG (the file is not as orig says), -EFBIG (tags over the
 * cap), -ENOTSUP (a format that cannot carry them), -errno of a read.
 */
int formats_synthesize(const struct formats_source *src,
		       const struct formats_meta *orig,
		       const struct formats_tags *tags,
		       const struct formats_picture *picture,
		       struct formats_synth *out);

void formats_synth_release(struct formats_synth *synth);

/*
 * Renumber Ogg pages in place: buf holds len bytes starting at a page
 * boundary; every whole page of logical stream serial gets delta added to
 * its sequence number and its CRC recomputed.  Bytes that are not a page
 * (a damaged stretch) are left as they are, up to the next "OggS".
 * Returns 0.
 */
int formats_ogg_fix_pages(uint8_t *buf, size_t len, uint32_t serial,
			  int32_t delta);

#endif
