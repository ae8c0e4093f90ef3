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

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * Decode base64 (whitespace ignored, stops at '=' or a bad byte) into a
 * new array of *out_len bytes.  Caller frees; NULL on ENOMEM.
 */
static uint8_t *b64_decode(const uint8_t *p, size_t n, size_t *out_len)
{
	uint8_t *out = malloc(n / 4 * 3 + 3);
	uint32_t acc = 0;
	size_t len = 0;
	size_t i;
	int bits = 0;
	int v;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
			continue;
		v = b64_value(p[i]);
		if (v < 0)
			break;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (uint8_t)(acc >> bits);
		}
	}
	*out_len = len;
	return out;
}

static int vorbis_picture(struct formats_ctx *ctx, const uint8_t *p, size_t n)
{
	struct byte_reader r;
	uint8_t *raw;
	size_t len;
	int rc;

	raw = b64_decode(p, n, &len);
	if (!raw)
		return -ENOMEM;
	byte_reader_init(&r, raw, len);
	rc = formats_flac_picture(&r, len, 0, true, &ctx->meta->picture);
	free(raw);
	return rc == -ENOMEM ? rc : 0;
}

/* One "KEY=value" comment. */
static int vorbis_item(struct formats_ctx *ctx, const uint8_t *p, size_t n)
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
		rc = vorbis_item(ctx, item, len);
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

const struct formats_ops formats_flac_ops = {
	.kind = FORMATS_FLAC,
	.name = "flac",
	.probe = flac_probe,
	.parse = flac_parse,
};
