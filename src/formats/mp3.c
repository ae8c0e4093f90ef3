/*
 * mp3.c - MPEG-1/2/2.5 audio (layers I-III) and the tags around it.
 *
 * Layout of a tagged MP3: ID3v2 tags at the start, MPEG frames, then at
 * the end, in this order, an optional APEv2 tag (with or without its own
 * header), an optional Lyrics3v2 block, an optional extended "TAG+" block
 * and an ID3v1 tag (the last 128 bytes).  The audio range excludes all of
 * them, so a new header can be glued to the frames alone.
 *
 * Tags are read in priority order ID3v2, then APEv2, then ID3v1: the later
 * ones only fill fields that are still empty.  Technical info comes from
 * the first frame that is confirmed by the frame that follows it.  The
 * duration comes from a Xing/Info (with the LAME encoder delay and padding
 * taken off) or VBRI header in that frame, else, for constant bitrate,
 * from the audio size.  Only the header window, a small window after the
 * tags and the last bytes of the file are read.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

#include <strings.h>

/* How far after the tags a frame sync is searched for. */
#define MP3_SYNC_WINDOW (64u << 10)

struct mpeg_header {
	unsigned version;	/* 1, 2, or 25 for 2.5 */
	unsigned layer;		/* 1-3 */
	bool crc;
	uint32_t bitrate;	/* bits per second */
	uint32_t sample_rate;
	unsigned mode;		/* 3 = mono */
	uint32_t frame_len;
	unsigned samples;	/* per frame */
};

static const uint16_t mpeg_bitrates[5][15] = {
	/* MPEG-1 layer I, II, III */
	{ 0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416,
	  448 },
	{ 0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384 },
	{ 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 },
	/* MPEG-2/2.5 layer I, then II and III */
	{ 0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256 },
	{ 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160 },
};

static const uint32_t mpeg_rates[3][3] = {
	{ 44100, 48000, 32000 },
	{ 22050, 24000, 16000 },
	{ 11025, 12000, 8000 },
};

/* Decode the 4-byte header at p; false if it is not a usable frame. */
static bool mpeg_header_parse(const uint8_t *p, struct mpeg_header *h)
{
	unsigned vbits = (p[1] >> 3) & 3;
	unsigned lbits = (p[1] >> 1) & 3;
	unsigned bri = p[2] >> 4;
	unsigned sri = (p[2] >> 2) & 3;
	unsigned pad = (p[2] >> 1) & 1;
	unsigned row;

	if (p[0] != 0xff || (p[1] & 0xe0) != 0xe0 || vbits == 1 || !lbits ||
	    bri == 0 || bri == 15 || sri == 3)
		return false;
	h->version = vbits == 3 ? 1 : vbits == 2 ? 2 : 25;
	h->layer = 4 - lbits;
	h->crc = !(p[1] & 1);
	if (h->version == 1)
		row = h->layer - 1;
	else
		row = h->layer == 1 ? 3 : 4;
	h->bitrate = mpeg_bitrates[row][bri] * 1000u;
	h->sample_rate = mpeg_rates[h->version == 1 ? 0 :
				    h->version == 2 ? 1 : 2][sri];
	h->mode = p[3] >> 6;
	if (h->layer == 1) {
		h->samples = 384;
		h->frame_len = (12 * h->bitrate / h->sample_rate + pad) * 4;
	} else if (h->layer == 2 || h->version == 1) {
		h->samples = 1152;
		h->frame_len = 144 * h->bitrate / h->sample_rate + pad;
	} else {
		h->samples = 576;
		h->frame_len = 72 * h->bitrate / h->sample_rate + pad;
	}
	return h->frame_len >= 4;
}

static bool mpeg_same_stream(const struct mpeg_header *a,
			     const struct mpeg_header *b)
{
	return a->version == b->version && a->layer == b->layer &&
	       a->sample_rate == b->sample_rate;
}

/*
 * Is there a frame at file offset off (p: n bytes from there) that the
 * next frame confirms?  A frame that ends exactly at end needs no
 * confirmation.
 */
static int mpeg_confirmed(struct formats_ctx *ctx, const uint8_t *p, size_t n,
			  uint64_t off, uint64_t end, struct mpeg_header *h)
{
	struct mpeg_header next;
	struct formats_chunk c;
	uint64_t at;
	bool ok;
	int rc;

	if (n < 4 || !mpeg_header_parse(p, h))
		return 0;
	at = off + h->frame_len;
	if (at == end)
		return 1;
	if (at + 4 > end)
		return 0;
	if (h->frame_len + 4 <= n)
		return mpeg_header_parse(p + h->frame_len, &next) &&
		       mpeg_same_stream(h, &next);
	rc = formats_fetch(ctx, at, 4, &c);
	ok = !rc && c.len == 4 && mpeg_header_parse(c.p, &next) &&
	     mpeg_same_stream(h, &next);
	formats_chunk_release(&c);
	return rc ? rc : ok;
}

/*
 * Find the first confirmed frame in [from, end), searching at most
 * MP3_SYNC_WINDOW bytes.  0 and *pos, 1 if there is none, or -errno.
 */
static int mpeg_find(struct formats_ctx *ctx, uint64_t from, uint64_t end,
		     uint64_t *pos, struct mpeg_header *h)
{
	struct formats_chunk c;
	size_t i;
	int rc;
	int ok = 0;

	if (from >= end)
		return 1;
	rc = formats_fetch(ctx, from,
			   (size_t)MFS_MIN(end - from, MP3_SYNC_WINDOW + 4),
			   &c);
	for (i = 0; !rc && i + 4 <= c.len && i < MP3_SYNC_WINDOW; i++) {
		if (c.p[i] != 0xff)
			continue;
		ok = mpeg_confirmed(ctx, c.p + i, c.len - i, from + i, end, h);
		if (ok) {
			*pos = from + i;
			break;
		}
	}
	formats_chunk_release(&c);
	if (rc)
		return rc;
	if (ok < 0)
		return ok;
	return ok ? 0 : 1;
}

/* Number of consecutive frames of one stream at p (at most want). */
static unsigned mpeg_run(const uint8_t *p, size_t n, unsigned want)
{
	struct mpeg_header first = { 0 };
	struct mpeg_header h;
	size_t at = 0;
	unsigned count = 0;

	while (count < want && at + 4 <= n && mpeg_header_parse(p + at, &h)) {
		if (count && !mpeg_same_stream(&first, &h))
			break;
		if (!count)
			first = h;
		count++;
		at += h.frame_len;
		if (at == n)
			return want;	/* the last frame ends the file */
	}
	return count;
}

/*
 * MPEG audio has no magic: a frame at the start confirmed by the next
 * one, or else three frames in a row somewhere in the window.  Random
 * bytes (another container this build does not read) rarely do that.
 */
static bool mp3_probe(const struct formats_ctx *ctx, const uint8_t *p,
		      size_t n)
{
	size_t i;

	(void)ctx;
	if (n >= 4 && mpeg_run(p, n, 2) == 2)
		return true;
	for (i = 1; i + 4 <= n; i++)
		if (p[i] == 0xff && mpeg_run(p + i, n - i, 3) == 3)
			return true;
	return false;
}

/* ---- Xing, Info, LAME, VBRI -------------------------------------------- */

/* Frames and bytes from a Xing/Info or VBRI header; delay+padding. */
struct mpeg_vbr {
	uint32_t frames;
	uint32_t bytes;
	uint32_t trim;	/* encoder delay + padding, in samples */
	bool found;
};

static void mpeg_lame(struct byte_reader *r, struct mpeg_vbr *v)
{
	static const char *const encoders[] = { "LAME", "Lavc", "Lavf",
						"GOGO" };
	const uint8_t *tag;
	uint32_t x;
	size_t i;

	if (byte_reader_left(r) < 24 || byte_reader_bytes(r, 24, &tag))
		return;
	for (i = 0; i < MFS_ARRAY_SIZE(encoders); i++) {
		if (!memcmp(tag, encoders[i], 4)) {
			x = (uint32_t)tag[21] << 16 | (uint32_t)tag[22] << 8 |
			    tag[23];
			v->trim = (x >> 12) + (x & 0xfff);
			return;
		}
	}
}

static void mpeg_xing(const struct mpeg_header *h, const uint8_t *p, size_t n,
		      struct mpeg_vbr *v)
{
	struct byte_reader r;
	size_t side;
	uint32_t flags;

	if (h->version == 1)
		side = h->mode == 3 ? 17 : 32;
	else
		side = h->mode == 3 ? 9 : 17;
	byte_reader_init(&r, p, n);
	byte_reader_skip(&r, 4 + (h->crc ? 2 : 0) + side);
	if (byte_reader_left(&r) >= 8 &&
	    (!memcmp(byte_reader_ptr(&r), "Xing", 4) ||
	     !memcmp(byte_reader_ptr(&r), "Info", 4))) {
		byte_reader_skip(&r, 4);
		flags = byte_reader_be32(&r);
		if (flags & 1)
			v->frames = byte_reader_be32(&r);
		if (flags & 2)
			v->bytes = byte_reader_be32(&r);
		if (flags & 4)
			byte_reader_skip(&r, 100);
		if (flags & 8)
			byte_reader_skip(&r, 4);
		v->found = !r.failed;
		if (v->found)
			mpeg_lame(&r, v);
		return;
	}
	byte_reader_init(&r, p, n);
	byte_reader_skip(&r, 36);
	if (byte_reader_left(&r) >= 18 &&
	    !memcmp(byte_reader_ptr(&r), "VBRI", 4)) {
		byte_reader_skip(&r, 10); /* id, version, delay, quality */
		v->bytes = byte_reader_be32(&r);
		v->frames = byte_reader_be32(&r);
		v->found = !r.failed;
	}
}

static int mpeg_info(struct formats_ctx *ctx, uint64_t pos,
		     const struct mpeg_header *h)
{
	struct formats_meta *m = ctx->meta;
	struct mpeg_vbr v = { 0 };
	struct formats_chunk c;
	uint64_t samples;
	uint64_t bytes = m->audio_end - pos;
	int rc;

	m->sample_rate = h->sample_rate;
	m->channels = h->mode == 3 ? 1 : 2;
	rc = formats_fetch(ctx, pos, h->frame_len, &c);
	if (!rc)
		mpeg_xing(h, c.p, c.len, &v);
	formats_chunk_release(&c);
	if (rc)
		return rc;
	if (v.found && v.frames) {
		samples = (uint64_t)v.frames * h->samples;
		if (v.trim < samples)
			samples -= v.trim;
		m->duration = (double)samples / h->sample_rate;
		/* a cut file keeps the header of the whole: trust its bytes */
		if (v.bytes)
			bytes = v.bytes;
		m->bitrate = formats_bitrate(bytes, m->duration);
	} else {
		m->bitrate = h->bitrate;
		m->duration = (double)bytes * 8 / h->bitrate;
	}
	return 0;
}

/* ---- APEv2 ------------------------------------------------------------- */

static int ape_picture(struct formats_ctx *ctx, const char *key,
		       const uint8_t *p, size_t n, uint64_t file_off)
{
	struct formats_picture *pic = &ctx->meta->picture;
	uint32_t type = strcasecmp(key, "Cover Art (Front)") ? 0 : 3;
	const uint8_t *z = memchr(p, 0, n);
	size_t skip;

	if (!z || (size_t)(z - p) + 1 >= n ||
	    !formats_picture_better(pic, type))
		return 0;
	skip = (size_t)(z - p) + 1;
	free(pic->data);
	memset(pic, 0, sizeof(*pic));
	pic->present = true;
	pic->type = type;
	pic->offset = file_off + skip;
	pic->length = n - skip;
	formats_picture_sniff(pic, z + 1, n - skip);
	return 0;
}

static int ape_item(struct formats_ctx *ctx, const char *key, uint32_t flags,
		    const uint8_t *p, size_t n, uint64_t file_off)
{
	size_t len;
	size_t next;
	int rc = 0;

	if (((flags >> 1) & 3) == 1 && !strncasecmp(key, "Cover Art", 9))
		return ape_picture(ctx, key, p, n, file_off);
	if ((flags >> 1) & 3)
		return 0;	/* binary or a link */
	if (!strcasecmp(key, "Album Artist"))
		key = "ALBUMARTIST";
	while (n && !rc) {
		len = formats_text_len(FORMATS_ENC_UTF8, p, n, &next);
		rc = formats_tag_add_text(ctx, key, FORMATS_ENC_UTF8, p, len,
					  FORMATS_TAG_IF_EMPTY);
		p += next;
		n -= next;
	}
	return rc;
}

/* The items of an APE tag, p: n bytes at file offset base. */
static int ape_items(struct formats_ctx *ctx, const uint8_t *p, size_t n,
		     uint32_t count, uint64_t base)
{
	struct byte_reader r;
	const uint8_t *key;
	const uint8_t *value;
	uint32_t len;
	uint32_t flags;
	size_t klen;
	size_t next;
	uint32_t i;
	size_t j;
	char k[256];
	int rc;

	formats_tag_begin(ctx);
	byte_reader_init(&r, p, n);
	for (i = 0; i < count && byte_reader_left(&r) >= 8; i++) {
		len = byte_reader_le32(&r);
		flags = byte_reader_le32(&r);
		key = byte_reader_ptr(&r);
		klen = formats_text_len(FORMATS_ENC_LATIN1, key,
					byte_reader_left(&r), &next);
		if (klen == next || klen < 1 || klen >= sizeof(k))
			break;
		byte_reader_skip(&r, next);
		if (byte_reader_bytes(&r, len, &value))
			break;
		for (j = 0; j < klen; j++)
			k[j] = key[j] >= 0x20 && key[j] < 0x7f ? (char)key[j] :
								 '?';
		k[klen] = '\0';
		rc = ape_item(ctx, k, flags, value, len,
			      base + (uint64_t)(value - p));
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * An APE tag whose footer ends at end: read it and move *end to where it
 * starts.  A damaged footer is ignored.
 */
static int ape_tag(struct formats_ctx *ctx, uint64_t start, uint64_t *end)
{
	struct formats_chunk c;
	struct byte_reader r;
	uint32_t size;
	uint32_t count;
	uint32_t flags;
	uint64_t tag_start;
	uint64_t items;
	int rc;

	if (*end < start + 32)
		return 0;
	rc = formats_fetch(ctx, *end - 32, 32, &c);
	if (rc || c.len < 32 || memcmp(c.p, "APETAGEX", 8)) {
		formats_chunk_release(&c);
		return rc;
	}
	byte_reader_init(&r, c.p + 8, 24);
	byte_reader_le32(&r);	/* version */
	size = byte_reader_le32(&r);
	count = byte_reader_le32(&r);
	flags = byte_reader_le32(&r);
	formats_chunk_release(&c);
	if (size < 32 || (flags & (1u << 29)) || size > *end - start)
		return 0;
	items = *end - size;
	tag_start = items;
	if ((flags & (1u << 31)) && tag_start - start >= 32)
		tag_start -= 32;
	if (size - 32 <= FORMATS_MAX_TAG_BYTES) {
		rc = formats_fetch(ctx, items, size - 32, &c);
		if (!rc)
			rc = ape_items(ctx, c.p, c.len, count, items);
		formats_chunk_release(&c);
		if (rc)
			return rc;
	}
	*end = tag_start;
	return 0;
}

/* ---- the end of the file ----------------------------------------------- */

/* Lyrics3v2: "LYRICSBEGIN"... six digits of size, "LYRICS200". */
static int lyrics3_tag(struct formats_ctx *ctx, uint64_t start, uint64_t *end)
{
	struct formats_chunk c;
	uint64_t size = 0;
	size_t i;
	int rc;

	if (*end < start + 15)
		return 0;
	rc = formats_fetch(ctx, *end - 15, 15, &c);
	if (rc || c.len < 15 || memcmp(c.p + 6, "LYRICS200", 9)) {
		formats_chunk_release(&c);
		return rc;
	}
	for (i = 0; i < 6 && c.p[i] >= '0' && c.p[i] <= '9'; i++)
		size = size * 10 + (c.p[i] - '0');
	formats_chunk_release(&c);
	if (i == 6 && size + 15 <= *end - start)
		*end -= size + 15;
	return 0;
}

/*
 * ID3v1 (and "TAG+" before it) at the end: move *end before them and set
 * *v1 to the offset of the ID3v1 tag (parsed last: the others come first).
 */
static int id3v1_tag(struct formats_ctx *ctx, uint64_t start, uint64_t *end,
		     uint64_t *v1)
{
	struct formats_chunk c;
	int rc;

	if (*end < start + 128)
		return 0;
	rc = formats_fetch(ctx, *end - 128, 128, &c);
	if (rc || c.len < 128 || memcmp(c.p, "TAG", 3)) {
		formats_chunk_release(&c);
		return rc;
	}
	formats_chunk_release(&c);
	*end -= 128;
	*v1 = *end;
	if (*end < start + 227)
		return 0;
	rc = formats_fetch(ctx, *end - 227, 4, &c);
	if (!rc && c.len == 4 && !memcmp(c.p, "TAG+", 4))
		*end -= 227;
	formats_chunk_release(&c);
	return rc;
}

/*
 * An ID3v2.4 tag with a footer ("3DI") at the end.  Some writers got the
 * size wrong, so the header is searched for between where the size puts
 * it and the footer.
 */
static int id3v2_trailer(struct formats_ctx *ctx, uint64_t start,
			 uint64_t *end)
{
	struct formats_chunk c;
	uint8_t h[10];
	uint64_t size;
	uint64_t from;
	size_t i;
	int rc;

	if (*end < start + 20)
		return 0;
	rc = formats_fetch(ctx, *end - 10, 10, &c);
	if (rc || c.len < 10 || memcmp(c.p, "3DI", 3)) {
		formats_chunk_release(&c);
		return rc;
	}
	memcpy(h, c.p, 10);
	formats_chunk_release(&c);
	memcpy(h, "ID3", 3);
	size = formats_id3v2_size(h, 10);
	if (!size || size > FORMATS_MAX_TAG_BYTES)
		return 0;
	from = *end - MFS_MIN(size, *end - start);
	rc = formats_fetch(ctx, from, (size_t)(*end - 10 - from), &c);
	for (i = 0; !rc && i + 10 <= c.len; i++) {
		if (!memcmp(c.p + i, h, 5) && formats_id3v2_size(c.p + i, 10))
			break;
	}
	if (rc || i + 10 > c.len) {
		formats_chunk_release(&c);
		return rc;
	}
	formats_chunk_release(&c);
	size = *end - (from + i);	/* what is really there */
	*end = from + i;
	return formats_id3v2_parse(ctx, *end, size, FORMATS_TAG_IF_EMPTY);
}

/*
 * The tags at the end, in any order (writers disagree): move *end before
 * all of them.  ID3v1 is parsed last, as the one with least priority.
 */
int formats_tail_tags(struct formats_ctx *ctx, uint64_t start,
		      uint64_t *end)
{
	uint64_t v1 = UINT64_MAX;
	struct formats_chunk c;
	uint64_t before;
	int rounds;
	int rc = 0;

	for (rounds = 0; rounds < 8 && !rc; rounds++) {
		before = *end;
		rc = id3v2_trailer(ctx, start, end);
		if (!rc && v1 == UINT64_MAX)
			rc = id3v1_tag(ctx, start, end, &v1);
		if (!rc)
			rc = lyrics3_tag(ctx, start, end);
		if (!rc)
			rc = ape_tag(ctx, start, end);
		if (*end == before)
			break;
	}
	if (rc || v1 == UINT64_MAX)
		return rc;
	rc = formats_fetch(ctx, v1, 128, &c);
	if (!rc && c.len == 128)
		rc = formats_id3v1_parse(ctx, c.p);
	formats_chunk_release(&c);
	return rc;
}

/* ---- MP3 --------------------------------------------------------------- */

/* Is [from, to) all zero bytes (padding after a tag)? */
static bool mp3_zeros(struct formats_ctx *ctx, uint64_t from, uint64_t to)
{
	struct formats_chunk c;
	bool zero = true;
	size_t i;

	if (formats_fetch(ctx, from,
			  (size_t)MFS_MIN(to - from, MP3_SYNC_WINDOW), &c))
		zero = false;
	for (i = 0; zero && i < c.len; i++)
		zero = !c.p[i];
	formats_chunk_release(&c);
	return zero;
}

static int mp3_parse(struct formats_ctx *ctx)
{
	struct formats_meta *m = ctx->meta;
	struct mpeg_header h;
	uint64_t end = ctx->src->size;
	uint64_t start = MFS_MIN(ctx->start, end);
	uint64_t pos;
	int rc;

	rc = formats_id3v2_leading(ctx);
	if (!rc)
		rc = formats_tail_tags(ctx, start, &end);
	if (rc)
		return rc;
	m->audio_start = start;
	m->audio_end = end;
	rc = mpeg_find(ctx, start, end, &pos, &h);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return ctx->id3v2_end ? 0 : -EBADMSG;
	if (pos > start && mp3_zeros(ctx, start, pos))
		m->audio_start = pos;
	return mpeg_info(ctx, pos, &h);
}

/* ---- synthesis --------------------------------------------------------- */

/* Padding after the new tag: room for a tag editor to work in place. */
#define MP3_SYNTH_PADDING ((size_t)4 << 10)

/*
 * A new ID3v2.4 tag, then the MPEG frames as they are (the Xing/LAME
 * frame included).  The old ID3v2 tags, and the APEv2, Lyrics3 and ID3v1
 * tags at the end, are outside [audio_start, audio_end) and so dropped.
 */
static int mp3_synthesize(const struct formats_source *src,
			  const struct formats_meta *orig,
			  const struct formats_tags *tags,
			  const struct formats_picture *picture,
			  struct formats_synth *out)
{
	int rc;

	if (orig->kind != FORMATS_MP3 || orig->audio_start > orig->audio_end ||
	    orig->audio_end > src->size)
		return -EBADMSG;
	rc = formats_id3v24_write(src, tags, picture, MP3_SYNTH_PADDING, out);
	if (!rc)
		rc = formats_synth_add_origin(out, orig->audio_start,
					      orig->audio_end -
						      orig->audio_start);
	return rc;
}

const struct formats_ops formats_mp3_ops = {
	.kind = FORMATS_MP3,
	.name = "mp3",
	.probe = mp3_probe,
	.parse = mp3_parse,
	.synthesize = mp3_synthesize,
};
