/*
 * formats_i.h - what the parsers of the formats module share.
 *
 * formats.c owns a parse in progress (struct formats_ctx): the source, the
 * header window (the first FORMATS_WINDOW bytes of the file, read once) and
 * the meta being filled.  Each container is a backend (struct formats_ops,
 * a const vtable like the origins'): a probe that looks at the bytes where
 * the stream starts, and a parse.  The helpers here are the only way a
 * backend reads the file (formats_fetch: from the window when the range is
 * in it, else one bounded read) and the only way it stores a tag
 * (formats_tag_add: converts nothing, checks caps, maps names to fields).
 *
 * Everything here runs on the thread that called formats_parse(); nothing
 * is shared.
 */
#ifndef MFS_FORMATS_FORMATS_I_H
#define MFS_FORMATS_FORMATS_I_H

#include "common/mfs.h"
#include "common/buf.h"
#include "common/byte_reader.h"
#include "formats/formats.h"

/*
 * The header window read at the start of every parse, and the largest
 * ID3v2 body read in one piece (bigger ones are read frame by frame).
 * Tests and fuzzers shrink both to reach the paths that read more.
 */
#ifdef MFS_UNIT_TEST
extern size_t formats_window;
extern size_t formats_id3_whole_max;
#define FORMATS_WINDOW formats_window
#define FORMATS_ID3_WHOLE_MAX formats_id3_whole_max
#else
#define FORMATS_WINDOW ((size_t)64 << 10)
#define FORMATS_ID3_WHOLE_MAX ((size_t)1 << 20)
#endif
/* Bytes at the start of the stream the backends' probes look at. */
#define FORMATS_PROBE ((size_t)64 << 10)
/* Longest value of one field (joined values included); longer is cut. */
#define FORMATS_MAX_VALUE (1u << 20)
/* Values joined under one key at most; later ones are dropped. */
#define FORMATS_MAX_JOIN 256
/* Fields without a name kept at most per file. */
#define FORMATS_MAX_EXTRA 1024
/* Tag items looked at per file, all tags together. */
#define FORMATS_MAX_ITEMS 16384

/* The named fields of struct formats_tags, for tables. */
enum formats_field_id {
	FORMATS_F_TITLE,
	FORMATS_F_ARTIST,
	FORMATS_F_ALBUM,
	FORMATS_F_ALBUM_ARTIST,
	FORMATS_F_GENRE,
	FORMATS_F_COMPOSER,
	FORMATS_F_DATE,
	FORMATS_F_COMMENT,
	FORMATS_F_TRACK,
	FORMATS_F_TRACK_TOTAL,
	FORMATS_F_DISC,
	FORMATS_F_DISC_TOTAL,
	FORMATS_F_COMPILATION,
	FORMATS_F_COUNT,
	FORMATS_F_NONE = FORMATS_F_COUNT
};

/* A value being joined: its length and allocation (appends are O(1)). */
struct formats_grow {
	size_t len;
	size_t cap;
	unsigned joins;
};

/*
 * An internal flag of a parse (beside FORMATS_PARSE_*): formats_picture_load
 * decoding the Ogg base64 picture whose text starts at ctx->load_at into
 * meta->picture; tags are not read.
 */
#define FORMATS_PARSE_LOAD_PICTURE 0x100u

/* A parse in progress. */
struct formats_ctx {
	const struct formats_source *src;
	const char *name;		/* file name hint, may be NULL */
	struct formats_meta *meta;
	unsigned flags;			/* FORMATS_PARSE_* */
	uint64_t load_at;		/* with FORMATS_PARSE_LOAD_PICTURE */
	const uint8_t *head;		/* the first head_len bytes */
	size_t head_len;
	uint64_t start;			/* where the stream starts */
	uint64_t id3v2_end;		/* end of leading ID3v2 tags or 0 */
	unsigned n_items;		/* formats_tag_add calls so far */
	uint32_t locked;		/* fields set before the current tag */
	struct formats_grow fields[FORMATS_F_COUNT];
	struct formats_grow extras[FORMATS_MAX_EXTRA];
};

/* A format backend. */
struct formats_ops {
	enum formats_kind kind;
	const char *name;
	/* Does the stream at p (n bytes from ctx->start) look like this? */
	bool (*probe)(const struct formats_ctx *ctx, const uint8_t *p,
		      size_t n);
	/* Fill ctx->meta; 0 or -errno (ctx->meta is released by the caller) */
	int (*parse)(struct formats_ctx *ctx);
	/*
	 * Build the segments of a new file (see formats_synthesize); NULL
	 * while the backend cannot.  out is zeroed; on failure the caller
	 * releases it.
	 */
	int (*synthesize)(const struct formats_source *src,
			  const struct formats_meta *orig,
			  const struct formats_tags *tags,
			  const struct formats_picture *picture,
			  struct formats_synth *out);
};

/*
 * Synthesis helpers (synth.c): append a segment of synthesized bytes
 * (copied into out->mem) or of an origin range.  0, -ENOMEM, -EFBIG.
 */
int formats_synth_add_bytes(struct formats_synth *out, const void *p,
			    size_t len);
int formats_synth_add_origin(struct formats_synth *out, uint64_t offset,
			     uint64_t length);

/* Store integers into headers being synthesized. */
static inline void formats_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void formats_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void formats_put_be64(uint8_t *p, uint64_t v)
{
	formats_put_be32(p, (uint32_t)(v >> 32));
	formats_put_be32(p + 4, (uint32_t)v);
}

static inline void formats_put_le64(uint8_t *p, uint64_t v)
{
	formats_put_le32(p, (uint32_t)v);
	formats_put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * The CRC-32 of an Ogg page (polynomial 0x04c11db7, most significant bit
 * first, initial value 0, no final XOR) of len bytes at p, its CRC field
 * zeroed (ogg_crc.c).  Thread-safe.
 */
uint32_t formats_ogg_crc(const uint8_t *p, size_t len);

#ifdef MFS_UNIT_TEST
/* The same without CPU-specific instructions, for the tests. */
uint32_t formats_ogg_crc_portable(const uint8_t *p, size_t len);
#endif

/*
 * Base64 (base64.c).  A decoder keeps the state of text that arrives in
 * pieces; zero it to start.  formats_b64_decode decodes n characters into
 * out (room for n / 4 * 3 + 3 bytes) and returns the bytes written:
 * whitespace is skipped; '=' or any byte outside the standard and URL-safe
 * alphabets ends the data (end is set, later input is ignored).
 */
struct formats_b64 {
	uint32_t acc;
	unsigned bits;		/* in acc not yet written out, < 8 */
	bool end;
};

size_t formats_b64_decode(struct formats_b64 *d, const uint8_t *in, size_t n,
			  uint8_t *out);

/* Encode n bytes as (n + 2) / 3 * 4 characters at out, '=' padded. */
size_t formats_b64_encode(const uint8_t *in, size_t n, char *out);

/*
 * Read exactly len bytes at off of the file behind src (synthesis reads
 * what the parse located).  0, -EBADMSG if the file ends first, or the
 * -errno of the read.
 */
int formats_read_exact(const struct formats_source *src, uint64_t off,
		       void *buf, size_t len);

/*
 * Append the segments of an ID3v2.4 tag holding exactly tags and picture
 * (NULL or not present: none; its bytes are a range of src or its data),
 * followed by padding zero bytes (id3.c; MP3, ADTS and WAV's "id3 "
 * chunk use it).  0, -EBADMSG, -EFBIG, -ENOMEM; on failure out may hold
 * part of the tag.
 */
int formats_id3v24_write(const struct formats_source *src,
			 const struct formats_tags *tags,
			 const struct formats_picture *picture, size_t padding,
			 struct formats_synth *out);

extern const struct formats_ops formats_flac_ops;
extern const struct formats_ops formats_mp3_ops;
extern const struct formats_ops formats_adts_ops;
extern const struct formats_ops formats_ogg_ops;
extern const struct formats_ops formats_wav_ops;
extern const struct formats_ops formats_mp4_ops;

/* ---- reading ----------------------------------------------------------- */

/*
 * Bytes of the file: a pointer into the window or into owned.  p is never
 * NULL once fetched (formats_no_bytes when empty).
 */
struct formats_chunk {
	const uint8_t *p;
	size_t len;
	uint8_t *owned;
};

extern const uint8_t formats_no_bytes[1];

/*
 * Get len bytes at off.  Fewer (down to 0) when the file ends first: the
 * caller checks c->len.  -EFBIG if len > FORMATS_MAX_TAG_BYTES (checked
 * before anything is allocated), -ENOMEM, or the source's -errno.  Release
 * with formats_chunk_release() even on failure.
 */
int formats_fetch(struct formats_ctx *ctx, uint64_t off, size_t len,
		  struct formats_chunk *c);
void formats_chunk_release(struct formats_chunk *c);

/* Read exactly up to len bytes into buf; *got says how many (EOF). */
int formats_read(struct formats_ctx *ctx, uint64_t off, void *buf, size_t len,
		 size_t *got);

/* ---- text -------------------------------------------------------------- */

enum formats_enc {
	FORMATS_ENC_LATIN1,
	FORMATS_ENC_UTF16,		/* the BOM decides, else LE */
	FORMATS_ENC_UTF16BE,
	FORMATS_ENC_UTF8,
	FORMATS_ENC_UTF16LE,
};

/*
 * Append n bytes of text in enc to b as valid UTF-8: invalid sequences
 * become U+FFFD, NULs and byte order marks (U+FEFF) are dropped, the
 * output stops (at a character boundary, returning 0) when b is full.
 * -ENOMEM only.
 */
int formats_text_append(struct buf *b, enum formats_enc enc, const uint8_t *p,
			size_t n);

/*
 * Copy the valid UTF-8 string src into dst (size bytes), cut at a
 * character boundary when it does not fit.
 */
void formats_utf8_copy(char *dst, const char *src, size_t size);

/*
 * For 8-bit text of unknown encoding (ID3v1, RIFF INFO): UTF-8 if p is
 * valid UTF-8, else Latin-1.
 */
enum formats_enc formats_text_guess(const uint8_t *p, size_t n);

/* The same into a new string (caller frees); NULL on ENOMEM. */
char *formats_text_dup(enum formats_enc enc, const uint8_t *p, size_t n);

/*
 * Length of the string at p (n bytes) up to its terminator (one NUL, or
 * two aligned NULs in UTF-16); *next is the offset after the terminator
 * (n when there is none).
 */
size_t formats_text_len(enum formats_enc enc, const uint8_t *p, size_t n,
			size_t *next);

/* ---- tags -------------------------------------------------------------- */

/*
 * formats_tag_add flags.  IF_EMPTY: only set a field that no earlier tag
 * set (see formats_tag_begin); values of one tag are still joined.
 */
#define FORMATS_TAG_IF_EMPTY 0x1

/*
 * A new tag starts: the fields set so far belong to tags of higher
 * priority, which IF_EMPTY values do not touch.
 */
void formats_tag_begin(struct formats_ctx *ctx);

/*
 * Store value (valid UTF-8, NUL-terminated) under key.  A key naming a
 * field (Vorbis comment names, case ignored: TITLE, ALBUMARTIST, "ALBUM
 * ARTIST", DATE, YEAR, TRACKNUMBER, ...) sets that field: text joins
 * earlier values with "; ", DATE and the numbers keep the first value.
 * Any other key goes to extra (joined the same way with a value of the
 * same key).  Empty values are ignored; over the caps values are dropped
 * silently.  0 or -ENOMEM.
 */
int formats_tag_add(struct formats_ctx *ctx, const char *key,
		    const char *value, unsigned flags);

/* The same with the value as n bytes of text in enc. */
int formats_tag_add_text(struct formats_ctx *ctx, const char *key,
			 enum formats_enc enc, const uint8_t *p, size_t n,
			 unsigned flags);

/* Which named field key is (FORMATS_F_NONE if none). */
enum formats_field_id formats_field_lookup(const char *key);

/* Is the named field set? */
bool formats_field_is_set(const struct formats_tags *t,
			  enum formats_field_id f);

/*
 * Parse "3", " 3/12", "03 of"... : the leading number into *num and a
 * number after '/' into *total (left alone when absent).  -EINVAL if
 * there is no leading number.
 */
int formats_parse_pair(const char *s, int *num, int *total);

/* The year of a date ("2023-04-14", "14.04.2023"): 0 if none. */
int formats_year_from_date(const char *date);

/* Average bits per second of bytes lasting seconds (0 if unknown). */
uint32_t formats_bitrate(uint64_t bytes, double seconds);

/* ---- pictures ---------------------------------------------------------- */

/* Should a picture of type be taken over the one already held? */
bool formats_picture_better(const struct formats_picture *have,
			    uint32_t type);

/* Fill mime from the first bytes of an image when the tag gave none. */
void formats_picture_sniff(struct formats_picture *pic, const uint8_t *p,
			   size_t n);

/*
 * Parse a FLAC PICTURE block body of body_len bytes (also what Ogg's
 * METADATA_BLOCK_PICTURE holds); r holds at least the part before the
 * image.  If copy, the image (then in r) is copied into pic->data;
 * else pic->offset is base + its position in the body and the image is
 * not touched.  Only replaces *pic when the new one is better (front
 * cover first).  0, -EBADMSG if malformed, -ENOMEM.
 */
int formats_flac_picture(struct byte_reader *r, uint64_t body_len,
			 uint64_t base, bool copy, struct formats_picture *pic);

/* ---- bits -------------------------------------------------------------- */

/* A bounds-checked reader of bit fields, most significant bit first. */
struct formats_bits {
	const uint8_t *p;
	size_t n;
	size_t pos;		/* in bits */
	bool failed;		/* sticky: a read past the end */
};

void formats_bits_init(struct formats_bits *b, const uint8_t *p, size_t n);

/* The next count (<= 32) bits; 0 and failed past the end. */
uint32_t formats_bits_get(struct formats_bits *b, unsigned count);

/* The AAC sampling frequency of index i (0 if reserved). */
uint32_t formats_aac_rate(unsigned i);

/*
 * The output sample rate of an MPEG-4 AudioSpecificConfig: the SBR rate
 * of HE-AAC, explicit or signalled after the config.  0 if unreadable.
 */
uint32_t formats_aac_config_rate(const uint8_t *p, size_t n);

/* ---- shared parsers ---------------------------------------------------- */

/* Size of the ID3v2 tag at p (header, body, footer), 0 if not a tag. */
uint64_t formats_id3v2_size(const uint8_t *p, size_t n);

/*
 * Parse the ID3v2 tag at file offset off (at most avail bytes of the file
 * belong to it).  flags as for formats_tag_add.  Damage stops the parse
 * with what was read kept; returns 0, -EFBIG, -ENOMEM or a read -errno.
 */
int formats_id3v2_parse(struct formats_ctx *ctx, uint64_t off, uint64_t avail,
			unsigned flags);

/*
 * Parse the ID3v2 tags at the start of the file (up to ctx->start): the
 * first one sets fields, later ones only fill fields still empty.
 */
int formats_id3v2_leading(struct formats_ctx *ctx);

/*
 * The tags at the end of an MPEG stream (MP3, ADTS): ID3v1, "TAG+",
 * Lyrics3v2, APEv2 and ID3v2 with a footer, in any order.  Reads them
 * (ID3v1 last, filling only fields still empty) and moves *end to where
 * the first of them starts (never before start).
 */
int formats_tail_tags(struct formats_ctx *ctx, uint64_t start,
		      uint64_t *end);

/* Parse the 128 bytes of an ID3v1 tag (fields still empty only). */
int formats_id3v1_parse(struct formats_ctx *ctx, const uint8_t *p);

/* Name of ID3v1 genre number i, NULL if out of range. */
const char *formats_id3_genre(unsigned i);

/*
 * Parse a Vorbis comment block (vendor, count, "KEY=value" items).
 * Pictures in METADATA_BLOCK_PICTURE are decoded into meta->picture.data.
 * Damage keeps what was read and returns 0; -ENOMEM.
 */
int formats_vorbis_comments(struct formats_ctx *ctx, const uint8_t *p,
			    size_t n);

/* One "KEY=value" comment of n bytes at p, as formats_vorbis_comments. */
int formats_vorbis_item(struct formats_ctx *ctx, const uint8_t *p, size_t n);

#endif
