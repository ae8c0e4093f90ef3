/*
 * flac.c - native FLAC: metadata blocks, Vorbis comments, pictures.
 *
 * A FLAC file is "fLaC", a chain of metadata blocks (4-byte header: last
 * flag, 7-bit type, 24-bit length) and then audio frames.  We read
 * STREAMINFO (rate, channels, total samples), the first VORBIS_COMMENT
 * (a second one is a writer's bug; the first is what players show) and
 * every PICTURE header, keeping the front cover or else the first picture.
 * Picture data is never read: we record where it is in the file.
 *
 * The Vorbis comment and PICTURE body parsers are shared with Ogg, where
 * the comment packet has the same layout and a picture arrives base64
 * encoded in METADATA_BLOCK_PICTURE.
 *
 * Caveat: a block whose length runs past the end of the file ends the
 * parse with what was read so far (a partial result, not an error), as
 * long as STREAMINFO was seen.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

#include <strings.h>

#define FLAC_STREAMINFO 0
#define FLAC_VORBIS_COMMENT 4
#define FLAC_PICTURE 6
/* Blocks looked at, at most: a chain is normally under ten. */
#define FLAC_MAX_BLOCKS 4096
/* Bytes of a PICTURE block read to find the image (not the image). */
#define FLAC_PICTURE_PREFIX ((size_t)64 << 10)

/* ---- pictures ---------------------------------------------------------- */

/* Copy a MIME type, keeping printable ASCII only. */
static void picture_set_mime(struct formats_picture *pic, const uint8_t *p,
			     size_t n)
{
	size_t i;
	size_t j = 0;

	for (i = 0; i < n && j + 1 < sizeof(pic->mime); i++)
		if (p[i] > 0x20 && p[i] < 0x7f)
			pic->mime[j++] = (char)p[i];
	pic->mime[j] = '\0';
}

int formats_flac_picture(struct byte_reader *r, uint64_t body_len,
			 uint64_t base, bool copy, struct formats_picture *pic)
{
	const uint8_t *mime;
	const uint8_t *data;
	uint32_t type;
	uint32_t mime_len;
	uint32_t len;
	uint8_t *copied = NULL;

	type = byte_reader_be32(r);
	mime_len = byte_reader_be32(r);
	if (byte_reader_bytes(r, mime_len, &mime))
		return -EBADMSG;
	byte_reader_skip(r, byte_reader_be32(r));	/* description */
	byte_reader_skip(r, 16);	/* width, height, depth, colours */
	len = byte_reader_be32(r);
	if (r->failed || len > body_len || r->pos > body_len - len)
		return -EBADMSG;
	if (!len || (mime_len == 3 && !memcmp(mime, "-->", 3)))
		return 0;	/* no image, or a URL */
	if (!formats_picture_better(pic, type))
		return 0;
	if (copy) {
		if (byte_reader_bytes(r, len, &data))
			return -EBADMSG;
		copied = malloc(len ? len : 1);
		if (!copied)
			return -ENOMEM;
		memcpy(copied, data, len);
	}
	free(pic->data);
	memset(pic, 0, sizeof(*pic));
	pic->present = true;
	pic->type = type;
	picture_set_mime(pic, mime, mime_len);
	if (copy) {
		pic->data = copied;
		pic->data_len = len;
		formats_picture_sniff(pic, copied, len);
	} else {
		pic->offset = base + r->pos;
		pic->length = len;
	}
	return 0;
}

/* ---- Vorbis comments --------------------------------------------------- */

static int vorbis_picture(struct formats_ctx *ctx, const uint8_t *p, size_t n)
{
	struct formats_b64 d = { 0 };
	struct byte_reader r;
	uint8_t *raw;
	size_t len;
	int rc;

	raw = malloc(n / 4 * 3 + 3);
	if (!raw)
		return -ENOMEM;
	len = formats_b64_decode(&d, p, n, raw);
	byte_reader_init(&r, raw, len);
	rc = formats_flac_picture(&r, len, 0, true, &ctx->meta->picture);
	free(raw);
	return rc == -ENOMEM ? rc : 0;
}

int formats_vorbis_item(struct formats_ctx *ctx, const uint8_t *p, size_t n)
{
	const uint8_t *eq = n ? memchr(p, '=', n) : NULL;
	char key[128];
	size_t klen;
	size_t i;

	if (!eq || eq == p || (size_t)(eq - p) >= sizeof(key))
		return 0;
	klen = (size_t)(eq - p);
	for (i = 0; i < klen; i++)
		key[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	key[klen] = '\0';
	p += klen + 1;
	n -= klen + 1;
	if (!strcasecmp(key, "METADATA_BLOCK_PICTURE"))
		return vorbis_picture(ctx, p, n);
	if (!strcasecmp(key, "COVERART"))
		return 0;	/* old base64 picture: too big for extra */
	return formats_tag_add_text(ctx, key, FORMATS_ENC_UTF8, p, n, 0);
}

int formats_vorbis_comments(struct formats_ctx *ctx, const uint8_t *p,
			    size_t n)
{
	struct byte_reader r;
	const uint8_t *item;
	uint32_t count;
	uint32_t len;
	uint32_t i;
	int rc;

	byte_reader_init(&r, p, n);
	byte_reader_skip(&r, byte_reader_le32(&r));	/* vendor */
	count = byte_reader_le32(&r);
	for (i = 0; i < count && !r.failed; i++) {
		len = byte_reader_le32(&r);
		if (byte_reader_bytes(&r, len, &item))
			break;
		rc = formats_vorbis_item(ctx, item, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- FLAC -------------------------------------------------------------- */

static bool flac_probe(const struct formats_ctx *ctx MFS_UNUSED,
		       const uint8_t *p, size_t n)
{
	return n >= 4 && !memcmp(p, "fLaC", 4);
}

static void flac_streaminfo(struct formats_meta *m, const uint8_t *p)
{
	struct byte_reader r;
	uint64_t x;
	uint64_t samples;

	byte_reader_init(&r, p, 34);
	byte_reader_skip(&r, 10);	/* block and frame sizes */
	x = byte_reader_be64(&r);
	m->sample_rate = (uint32_t)(x >> 44);
	m->channels = (uint16_t)(((x >> 41) & 7) + 1);
	samples = x & 0xfffffffffull;
	if (m->sample_rate && samples)
		m->duration = (double)samples / m->sample_rate;
}

/* The block of type at body (len bytes). */
static int flac_block(struct formats_ctx *ctx, unsigned type, uint64_t body,
		      uint32_t len, bool *seen_info, bool *seen_vc)
{
	struct formats_chunk c;
	struct byte_reader r;
	int rc = 0;

	switch (type) {
	case FLAC_STREAMINFO:
		if (*seen_info || len < 34)
			return 0;
		rc = formats_fetch(ctx, body, 34, &c);
		if (!rc && c.len == 34) {
			flac_streaminfo(ctx->meta, c.p);
			*seen_info = true;
		}
		break;
	case FLAC_VORBIS_COMMENT:
		if (*seen_vc)
			return 0;
		*seen_vc = true;
		rc = formats_fetch(ctx, body, len, &c);
		if (!rc)
			rc = formats_vorbis_comments(ctx, c.p, c.len);
		break;
	case FLAC_PICTURE:
		rc = formats_fetch(ctx, body, MFS_MIN(len, FLAC_PICTURE_PREFIX),
				   &c);
		if (!rc) {
			byte_reader_init(&r, c.p, c.len);
			rc = formats_flac_picture(&r, len, body, false,
						  &ctx->meta->picture);
			if (rc == -EBADMSG)
				rc = 0;
		}
		break;
	default:
		return 0;
	}
	formats_chunk_release(&c);
	return rc;
}

static int flac_parse(struct formats_ctx *ctx)
{
	struct formats_meta *m = ctx->meta;
	uint64_t size = ctx->src->size;
	uint64_t off = ctx->start + 4;
	struct formats_chunk c;
	bool seen_info = false;
	bool seen_vc = false;
	bool last = false;
	unsigned type;
	unsigned n;
	uint32_t len;
	int rc;

	for (n = 0; !last && n < FLAC_MAX_BLOCKS; n++) {
		rc = formats_fetch(ctx, off, 4, &c);
		if (rc || c.len < 4) {
			formats_chunk_release(&c);
			if (rc)
				return rc;
			break;
		}
		last = c.p[0] & 0x80;
		type = c.p[0] & 0x7f;
		len = (uint32_t)c.p[1] << 16 | (uint32_t)c.p[2] << 8 | c.p[3];
		formats_chunk_release(&c);
		if (type == 127 || off + 4 + len > size)
			break;	/* damaged: keep what we have */
		rc = flac_block(ctx, type, off + 4, len, &seen_info, &seen_vc);
		if (rc)
			return rc;
		off += 4 + (uint64_t)len;
	}
	if (!seen_info)
		return -EBADMSG;
	m->audio_start = MFS_MIN(off, size);
	m->audio_end = size;
	m->bitrate = formats_bitrate(m->audio_end - m->audio_start,
				     m->duration);
	return 0;
}

/* ---- synthesis --------------------------------------------------------- */

#define FLAC_PADDING 1
#define FLAC_APPLICATION 2
#define FLAC_SEEKTABLE 3
#define FLAC_CUESHEET 5
/* Largest block body: its length field has 24 bits. */
#define FLAC_MAX_BODY 0xffffffu
/* PADDING after the tags, so that a tagger can grow them in place. */
#define FLAC_SYNTH_PADDING 1024u
/* Longest vendor string kept from the origin's Vorbis comment. */
#define FLAC_MAX_VENDOR 4096u
/* Leading ID3v2 tags skipped, at most (as formats_parse does). */
#define FLAC_MAX_ID3 8
/* Size of an ID3v1 tag. */
#define FLAC_ID3V1 128u
/* Bytes of an image looked at to guess a missing MIME type. */
#define FLAC_SNIFF 16u

static const uint8_t flac_zeros[FLAC_SYNTH_PADDING];

/* A metadata block of the origin copied as it is. */
struct flac_keep {
	unsigned type;
	uint64_t body;
	uint32_t len;
};

/* A synthesis in progress. */
struct flac_synth {
	const struct formats_source *src;
	struct formats_synth *out;
	struct flac_keep info;		/* STREAMINFO (len 0: not seen) */
	struct flac_keep *keep;		/* SEEKTABLE, APPLICATION, CUESHEET */
	size_t n_keep;
	bool seen_vc;
	unsigned seen;			/* bit per type of the blocks kept */
	uint8_t vendor[FLAC_MAX_VENDOR];
	uint32_t vendor_len;
	bool have_vendor;
	struct buf vc;			/* the new VORBIS_COMMENT body */
	uint32_t n_comments;
};

/* Where "fLaC" is: after the ID3v2 tags at the start, if any. */
static int flac_find_start(const struct formats_source *src, uint64_t *start)
{
	uint8_t h[10];
	uint64_t off = 0;
	uint64_t size;
	int i;
	int rc;

	for (i = 0; i < FLAC_MAX_ID3 && src->size - off >= sizeof(h); i++) {
		rc = formats_read_exact(src, off, h, sizeof(h));
		if (rc)
			return rc;
		size = formats_id3v2_size(h, sizeof(h));
		if (!size || size > src->size - off)
			break;
		off += size;
	}
	if (src->size - off < 4)
		return -EBADMSG;
	rc = formats_read_exact(src, off, h, 4);
	if (rc)
		return rc;
	if (memcmp(h, "fLaC", 4))
		return -EBADMSG;
	*start = off;
	return 0;
}

/* The vendor string of the origin's first Vorbis comment, if it fits. */
static int flac_read_vendor(struct flac_synth *fs, uint64_t body,
			    uint32_t len)
{
	uint8_t h[4];
	uint32_t vlen;
	int rc;

	if (len < 4)
		return 0;
	rc = formats_read_exact(fs->src, body, h, 4);
	if (rc)
		return rc;
	vlen = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	       (uint32_t)h[3] << 24;
	if (vlen > len - 4 || vlen > FLAC_MAX_VENDOR)
		return 0;
	rc = formats_read_exact(fs->src, body + 4, fs->vendor, vlen);
	if (rc)
		return rc;
	fs->vendor_len = vlen;
	fs->have_vendor = true;
	return 0;
}

/* Note a block of the origin: kept, its vendor string taken, or dropped. */
static int flac_note_block(struct flac_synth *fs, unsigned type, uint64_t body,
			   uint32_t len)
{
	struct flac_keep *k;

	switch (type) {
	case FLAC_STREAMINFO:
		if (!fs->info.len && len >= 34) {
			fs->info.type = type;
			fs->info.body = body;
			fs->info.len = len;
		}
		return 0;
	case FLAC_VORBIS_COMMENT:
		if (fs->seen_vc)
			return 0;
		fs->seen_vc = true;
		return flac_read_vendor(fs, body, len);
	case FLAC_SEEKTABLE:
	case FLAC_CUESHEET:
		if (fs->seen & (1u << type))
			return 0;	/* one of each: the first */
		fs->seen |= 1u << type;
		/* fall through */
	case FLAC_APPLICATION:
		k = realloc(fs->keep, (fs->n_keep + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
		fs->keep = k;
		k[fs->n_keep].type = type;
		k[fs->n_keep].body = body;
		k[fs->n_keep].len = len;
		fs->n_keep++;
		return 0;
	default:
		return 0;	/* PADDING, PICTURE, reserved: replaced */
	}
}

/* Walk the metadata blocks from off; they must end where audio starts. */
static int flac_walk(struct flac_synth *fs, uint64_t off, uint64_t end)
{
	uint8_t h[4];
	uint32_t len;
	unsigned n;
	int rc;

	if (end > fs->src->size)
		return -EBADMSG;
	for (n = 0; off < end; n++) {
		if (n >= FLAC_MAX_BLOCKS || end - off < 4)
			return -EBADMSG;
		rc = formats_read_exact(fs->src, off, h, 4);
		if (rc)
			return rc;
		len = (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (len > end - off - 4)
			return -EBADMSG;
		rc = flac_note_block(fs, h[0] & 0x7f, off + 4, len);
		if (rc)
			return rc;
		off += 4 + (uint64_t)len;
		if ((h[0] & 0x80) && off != end)
			return -EBADMSG;
	}
	return fs->info.len ? 0 : -EBADMSG;
}

/* One "KEY=value" comment. */
static int vc_put(struct flac_synth *fs, const char *key, const char *value,
		  size_t vlen)
{
	size_t klen = strlen(key);
	uint8_t h[4];
	int rc;

	if (klen + 1 + vlen > FLAC_MAX_BODY)
		return -EFBIG;
	formats_put_le32(h, (uint32_t)(klen + 1 + vlen));
	rc = buf_add(&fs->vc, h, 4);
	if (!rc)
		rc = buf_add(&fs->vc, key, klen);
	if (!rc)
		rc = buf_addch(&fs->vc, '=');
	if (!rc)
		rc = buf_add(&fs->vc, value, vlen);
	if (!rc)
		fs->n_comments++;
	return rc;
}

/*
 * The comments of a field: none for an absent or empty value; with split,
 * one per value of a list joined with "; " (formats.h), as Vorbis comments
 * hold several values of a field.
 */
static int vc_add(struct flac_synth *fs, const char *key, const char *value,
		  bool split)
{
	const char *sep;
	size_t n;
	int rc;

	if (!value)
		return 0;
	while (*value) {
		sep = split ? strstr(value, "; ") : NULL;
		n = sep ? (size_t)(sep - value) : strlen(value);
		if (n) {
			rc = vc_put(fs, key, value, n);
			if (rc)
				return rc;
		}
		value += n + (sep ? 2 : 0);
	}
	return 0;
}

static int vc_add_num(struct flac_synth *fs, const char *key, int v)
{
	char num[16];

	if (v <= 0)
		return 0;
	snprintf(num, sizeof(num), "%d", v);
	return vc_add(fs, key, num, false);
}

/*
 * The Vorbis comment name of an extra tag: "TXXX:desc" from an ID3 tag
 * becomes desc; NULL for a name Vorbis comments cannot hold or one that a
 * named field or the picture already writes.
 */
static const char *vc_extra_key(const char *key)
{
	const char *p;

	if (!strncmp(key, "TXXX:", 5))
		key += 5;
	if (!*key || formats_field_lookup(key) != FORMATS_F_NONE ||
	    !strcasecmp(key, "METADATA_BLOCK_PICTURE") ||
	    !strcasecmp(key, "COVERART"))
		return NULL;
	for (p = key; *p; p++)
		if (*p < 0x20 || *p > 0x7d || *p == '=')
			return NULL;
	return key;
}

static int vc_build_fields(struct flac_synth *fs,
			   const struct formats_tags *t)
{
	char year[16];
	const char *date = t->date;
	int rc;

	if (!date && t->year > 0) {
		snprintf(year, sizeof(year), "%d", t->year);
		date = year;
	}
	rc = vc_add(fs, "TITLE", t->title, false);
	if (!rc)
		rc = vc_add(fs, "ARTIST", t->artist, true);
	if (!rc)
		rc = vc_add(fs, "ALBUM", t->album, false);
	if (!rc)
		rc = vc_add(fs, "ALBUMARTIST", t->album_artist, true);
	if (!rc)
		rc = vc_add(fs, "GENRE", t->genre, true);
	if (!rc)
		rc = vc_add(fs, "COMPOSER", t->composer, true);
	if (!rc)
		rc = vc_add(fs, "DATE", date, false);
	if (!rc)
		rc = vc_add(fs, "COMMENT", t->comment, false);
	if (!rc)
		rc = vc_add_num(fs, "TRACKNUMBER", t->track);
	if (!rc)
		rc = vc_add_num(fs, "TRACKTOTAL", t->track_total);
	if (!rc)
		rc = vc_add_num(fs, "DISCNUMBER", t->disc);
	if (!rc)
		rc = vc_add_num(fs, "DISCTOTAL", t->disc_total);
	if (!rc && t->compilation)
		rc = vc_add(fs, "COMPILATION", "1", false);
	return rc;
}

/* The new VORBIS_COMMENT body in fs->vc. */
static int vc_build(struct flac_synth *fs, const struct formats_tags *t)
{
	static const char vendor[] = "MusicFS";
	const char *key;
	uint8_t h[4];
	size_t i;
	int rc;

	if (!fs->have_vendor) {
		memcpy(fs->vendor, vendor, sizeof(vendor) - 1);
		fs->vendor_len = sizeof(vendor) - 1;
	}
	formats_put_le32(h, fs->vendor_len);
	rc = buf_add(&fs->vc, h, 4);
	if (!rc)
		rc = buf_add(&fs->vc, fs->vendor, fs->vendor_len);
	if (!rc)
		rc = buf_add(&fs->vc, "\0\0\0\0", 4);	/* count, set below */
	if (!rc)
		rc = vc_build_fields(fs, t);
	for (i = 0; !rc && i < t->n_extra; i++) {
		key = t->extra[i].key ? vc_extra_key(t->extra[i].key) : NULL;
		if (key)
			rc = vc_add(fs, key, t->extra[i].value, false);
	}
	if (rc)
		return rc;
	formats_put_le32((uint8_t *)fs->vc.data + 4 + fs->vendor_len,
		      fs->n_comments);
	return 0;
}

/* A block header: last flag, type, 24-bit length. */
static int flac_add_header(struct flac_synth *fs, bool last, unsigned type,
			   uint32_t len)
{
	uint8_t h[4];

	h[0] = (uint8_t)((last ? 0x80 : 0) | type);
	h[1] = (uint8_t)(len >> 16);
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len;
	return formats_synth_add_bytes(fs->out, h, 4);
}

static int flac_add_kept(struct flac_synth *fs, const struct flac_keep *k)
{
	int rc = flac_add_header(fs, false, k->type, k->len);

	return rc ? rc : formats_synth_add_origin(fs->out, k->body, k->len);
}

/* The MIME type to write: the picture's, else guessed from its bytes. */
static int flac_picture_mime(struct flac_synth *fs,
			     const struct formats_picture *pic, char *mime,
			     size_t size)
{
	struct formats_picture tmp = { 0 };
	uint8_t head[FLAC_SNIFF];
	size_t n;
	size_t i;
	size_t j = 0;
	int rc;

	/* printable ASCII, as the FLAC format wants it */
	for (i = 0; i < sizeof(pic->mime) && pic->mime[i] && j + 1 < size; i++)
		if (pic->mime[i] >= 0x20 && pic->mime[i] < 0x7f)
			mime[j++] = pic->mime[i];
	mime[j] = '\0';
	if (mime[0])
		return 0;
	if (pic->data) {
		formats_picture_sniff(&tmp, pic->data,
				      MFS_MIN(pic->data_len, sizeof(head)));
	} else {
		n = (size_t)MFS_MIN(pic->length, sizeof(head));
		rc = formats_read_exact(fs->src, pic->offset, head, n);
		if (rc)
			return rc;
		formats_picture_sniff(&tmp, head, n);
	}
	str_copy(mime, tmp.mime[0] ? tmp.mime : "image/", size);
	return 0;
}

/* A PICTURE block; the image from pic->data or a range of the origin. */
static int flac_add_picture(struct flac_synth *fs,
			    const struct formats_picture *pic)
{
	uint64_t len = pic->data ? pic->data_len : pic->length;
	char mime[sizeof(pic->mime)];
	uint8_t h[32 + sizeof(mime)];
	size_t mlen;
	int rc;

	if (!pic->data && (pic->offset > fs->src->size ||
			   len > fs->src->size - pic->offset))
		return -EBADMSG;
	rc = flac_picture_mime(fs, pic, mime, sizeof(mime));
	if (rc)
		return rc;
	mlen = strlen(mime);
	if (len > FLAC_MAX_BODY - 32 - mlen)
		return -EFBIG;
	rc = flac_add_header(fs, false, FLAC_PICTURE,
			     (uint32_t)(32 + mlen + len));
	if (rc)
		return rc;
	memset(h, 0, sizeof(h));
	formats_put_be32(h, pic->type);
	formats_put_be32(h + 4, (uint32_t)mlen);
	memcpy(h + 8, mime, mlen);
	/* description, width, height, depth, colours: empty/unknown */
	formats_put_be32(h + 8 + mlen + 20, (uint32_t)len);
	rc = formats_synth_add_bytes(fs->out, h, 32 + mlen);
	if (rc)
		return rc;
	if (pic->data)
		return formats_synth_add_bytes(fs->out, pic->data, len);
	return formats_synth_add_origin(fs->out, pic->offset, len);
}

/*
 * Where the frames end: before an ID3v1 tag that some taggers append to
 * FLAC files (an old tag; the new file carries only the new one).
 */
static int flac_audio_end(struct flac_synth *fs,
			  const struct formats_meta *orig, uint64_t *end)
{
	uint8_t tag[3];
	int rc;

	*end = orig->audio_end;
	if (orig->audio_end - orig->audio_start < FLAC_ID3V1 + 4)
		return 0;
	rc = formats_read_exact(fs->src, orig->audio_end - FLAC_ID3V1, tag, 3);
	if (!rc && !memcmp(tag, "TAG", 3))
		*end -= FLAC_ID3V1;
	return rc;
}

static int flac_emit(struct flac_synth *fs, const struct formats_meta *orig,
		     const struct formats_picture *pic)
{
	uint64_t end;
	size_t i;
	int rc;

	rc = formats_synth_add_bytes(fs->out, "fLaC", 4);
	if (!rc)
		rc = flac_add_kept(fs, &fs->info);
	for (i = 0; !rc && i < fs->n_keep; i++)
		rc = flac_add_kept(fs, &fs->keep[i]);
	if (!rc)
		rc = flac_add_header(fs, false, FLAC_VORBIS_COMMENT,
				     (uint32_t)fs->vc.len);
	if (!rc)
		rc = formats_synth_add_bytes(fs->out, fs->vc.data, fs->vc.len);
	if (!rc && pic && pic->present && (pic->data ? pic->data_len :
					   pic->length))
		rc = flac_add_picture(fs, pic);
	if (!rc)
		rc = flac_add_header(fs, true, FLAC_PADDING,
				     FLAC_SYNTH_PADDING);
	if (!rc)
		rc = formats_synth_add_bytes(fs->out, flac_zeros,
					     sizeof(flac_zeros));
	if (!rc)
		rc = flac_audio_end(fs, orig, &end);
	if (!rc)
		rc = formats_synth_add_origin(fs->out, orig->audio_start,
					      end - orig->audio_start);
	return rc;
}

/*
 * New metadata blocks: STREAMINFO, SEEKTABLE, APPLICATION and CUESHEET of
 * the origin as they are (one SEEKTABLE and one CUESHEET, the first), a
 * new VORBIS_COMMENT (the origin's vendor string kept), the picture,
 * PADDING last; then the origin's frames.  A leading ID3v2 tag and a
 * trailing ID3v1 tag are dropped.
 */
static int flac_synthesize(const struct formats_source *src,
			   const struct formats_meta *orig,
			   const struct formats_tags *tags,
			   const struct formats_picture *picture,
			   struct formats_synth *out)
{
	struct flac_synth *fs;
	uint64_t start;
	int rc;

	if (orig->kind != FORMATS_FLAC || orig->audio_start > orig->audio_end ||
	    orig->audio_end > src->size)
		return -EBADMSG;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->src = src;
	fs->out = out;
	buf_init(&fs->vc, FLAC_MAX_BODY);
	rc = flac_find_start(src, &start);
	if (!rc)
		rc = flac_walk(fs, start + 4, orig->audio_start);
	if (!rc)
		rc = vc_build(fs, tags);
	if (!rc)
		rc = flac_emit(fs, orig, picture);
	buf_release(&fs->vc);
	free(fs->keep);
	free(fs);
	return rc;
}

const struct formats_ops formats_flac_ops = {
	.kind = FORMATS_FLAC,
	.name = "flac",
	.probe = flac_probe,
	.parse = flac_parse,
	.synthesize = flac_synthesize,
};
