/*
 * adts.c - raw AAC: ADTS streams (and the older ADIF header).
 *
 * An ADTS stream is a sequence of frames, each with a 7-byte header (9
 * with a CRC) giving the sample rate, the channel configuration and the
 * frame length.  Like MP3 it may carry ID3v2 tags before it and
 * ID3v1/APEv2 after it (the same code reads them).  There is no frame
 * count anywhere, so the duration is measured over the frames of one
 * window after the start and extrapolated to the whole stream: exact for
 * files that fit the window, an estimate (like every player's) beyond.
 *
 * The frame sync (12 one-bits, layer 00) is what MPEG audio frames have
 * too, with a layer that is never 00 there; a stream that does not start
 * with a frame is searched for only when the file name says ".aac".
 * ADIF ("ADIF" and one header for the whole stream) gives a bitrate and a
 * sample rate; its duration comes from the size.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

/* Bytes of frames measured for the duration. */
#define ADTS_WINDOW ((size_t)64 << 10)

struct adts_header {
	uint32_t rate;
	uint16_t channels;
	uint32_t frame_len;
	unsigned samples;
};

static bool adts_header_parse(const uint8_t *p, size_t n,
			      struct adts_header *h)
{
	unsigned sfi;
	unsigned ch;

	if (n < 7 || p[0] != 0xff || (p[1] & 0xf6) != 0xf0)
		return false;
	sfi = (p[2] >> 2) & 0xf;
	h->rate = formats_aac_rate(sfi);
	if (!h->rate)
		return false;
	ch = (p[2] & 1) << 2 | p[3] >> 6;
	h->channels = (uint16_t)(ch == 7 ? 8 : ch);
	h->frame_len = (uint32_t)(p[3] & 3) << 11 | (uint32_t)p[4] << 3 |
		       p[5] >> 5;
	h->samples = 1024 * ((p[6] & 3) + 1);
	return h->frame_len >= (p[1] & 1 ? 7u : 9u);
}

/* A frame at p confirmed by the next one, or ending exactly at n. */
static bool adts_confirmed(const uint8_t *p, size_t n, bool at_end)
{
	struct adts_header h;
	struct adts_header next;

	if (!adts_header_parse(p, n, &h))
		return false;
	if (h.frame_len == n && at_end)
		return true;
	return h.frame_len < n &&
	       adts_header_parse(p + h.frame_len, n - h.frame_len, &next) &&
	       next.rate == h.rate;
}

static bool adts_searchable(const struct formats_ctx *ctx)
{
	return ctx->name && str_ends_with_ci(ctx->name, ".aac");
}

static bool adts_probe(const struct formats_ctx *ctx, const uint8_t *p,
		       size_t n)
{
	bool at_end = ctx->start + n == ctx->src->size;
	size_t i;

	if (n >= 4 && !memcmp(p, "ADIF", 4))
		return true;
	if (adts_confirmed(p, n, at_end))
		return true;
	if (!adts_searchable(ctx))
		return false;
	for (i = 1; i + 7 <= n; i++)
		if (p[i] == 0xff && adts_confirmed(p + i, n - i, at_end))
			return true;
	return false;
}

/* ---- ADIF -------------------------------------------------------------- */

/* Channels of a program config element: front, side, back, LFE. */
static unsigned adif_pce(struct formats_bits *b, unsigned *sfi)
{
	unsigned counts[4];
	unsigned channels = 0;
	unsigned i;
	unsigned j;

	formats_bits_get(b, 4 + 2);	/* element tag, object type */
	*sfi = formats_bits_get(b, 4);
	for (i = 0; i < 4; i++)
		counts[i] = formats_bits_get(b, i == 3 ? 2 : 4);
	formats_bits_get(b, 3 + 4);	/* assoc data, valid cc */
	for (i = 0; i < 3; i++)	/* mono, stereo, matrix mixdown */
		if (formats_bits_get(b, 1))
			formats_bits_get(b, i == 2 ? 3 : 4);
	for (i = 0; i < 3; i++) {
		for (j = 0; j < counts[i]; j++) {
			/* a channel pair or a single channel */
			channels += formats_bits_get(b, 1) ? 2 : 1;
			formats_bits_get(b, 4);
		}
	}
	return channels + counts[3];
}

static int adif_parse(struct formats_ctx *ctx, const uint8_t *p, size_t n)
{
	struct formats_meta *m = ctx->meta;
	struct formats_bits b;
	unsigned sfi = 0;
	unsigned type;
	uint32_t bitrate;
	unsigned channels;

	formats_bits_init(&b, p, n);
	b.pos = 32;	/* "ADIF" */
	if (formats_bits_get(&b, 1))	/* a 72-bit copyright id */
		b.pos += 72;
	formats_bits_get(&b, 2);	/* original, home */
	type = formats_bits_get(&b, 1);
	bitrate = formats_bits_get(&b, 23);
	formats_bits_get(&b, 4);	/* number of PCEs - 1 */
	if (!type)
		formats_bits_get(&b, 20);	/* buffer fullness */
	channels = adif_pce(&b, &sfi);
	if (b.failed || !formats_aac_rate(sfi))
		return -EBADMSG;
	m->sample_rate = formats_aac_rate(sfi);
	m->channels = (uint16_t)channels;
	m->bitrate = bitrate;
	if (bitrate)
		m->duration = (double)(m->audio_end - m->audio_start) * 8 /
			      bitrate;
	return 0;
}

/* ---- ADTS -------------------------------------------------------------- */

/* The first confirmed frame in [from, end) (searched if the name allows). */
static int adts_find(struct formats_ctx *ctx, const uint8_t *p, size_t n,
		     bool at_end, size_t *pos)
{
	size_t i;

	for (i = 0; i + 7 <= n; i++) {
		if (p[i] == 0xff && adts_confirmed(p + i, n - i, at_end)) {
			*pos = i;
			return 0;
		}
		if (!adts_searchable(ctx))
			break;
	}
	return -EBADMSG;
}

/* Count the frames of the window: frames, samples, bytes. */
static void adts_measure(struct formats_meta *m, const uint8_t *p, size_t n,
			 uint64_t audio_len)
{
	struct adts_header h;
	uint64_t samples = 0;
	size_t at = 0;

	while (at < n && adts_header_parse(p + at, n - at, &h) &&
	       h.frame_len <= n - at) {
		samples += h.samples;
		at += h.frame_len;
	}
	if (!at || !m->sample_rate)
		return;
	/* extrapolate from the bytes measured to the whole stream */
	m->duration = (double)samples / m->sample_rate * (double)audio_len /
		      (double)at;
	m->bitrate = formats_bitrate(audio_len, m->duration);
}

static int adts_parse(struct formats_ctx *ctx)
{
	struct formats_meta *m = ctx->meta;
	uint64_t end = ctx->src->size;
	uint64_t start = MFS_MIN(ctx->start, end);
	struct formats_chunk c = { 0 };
	struct adts_header h;
	size_t pos = 0;
	int rc;

	rc = formats_id3v2_leading(ctx);
	if (!rc)
		rc = formats_tail_tags(ctx, start, &end);
	if (!rc)
		rc = formats_fetch(ctx, start,
				   (size_t)MFS_MIN(end - start, ADTS_WINDOW),
				   &c);
	if (rc)
		goto out;
	m->audio_start = start;
	m->audio_end = end;
	if (c.len >= 4 && !memcmp(c.p, "ADIF", 4)) {
		rc = adif_parse(ctx, c.p, c.len);
		goto out;
	}
	rc = adts_find(ctx, c.p, c.len, start + c.len == end, &pos);
	if (rc)
		goto out;
	adts_header_parse(c.p + pos, c.len - pos, &h);
	m->sample_rate = h.rate;
	m->channels = h.channels;
	m->audio_start = start + pos;
	adts_measure(m, c.p + pos, c.len - pos, end - m->audio_start);
out:
	formats_chunk_release(&c);
	return rc;
}

/* ---- synthesis --------------------------------------------------------- */

/* Padding after the new tag: room for a tag editor to work in place. */
#define ADTS_SYNTH_PADDING ((size_t)4 << 10)

/*
 * Is there an ADTS frame or an ADIF header at audio_start, as the parse
 * found?  An empty range has nothing to check.
 */
static int adts_check_start(const struct formats_source *src,
			    const struct formats_meta *orig)
{
	uint8_t p[7];
	struct adts_header h;
	size_t n = (size_t)MFS_MIN(orig->audio_end - orig->audio_start,
				   sizeof(p));
	ssize_t got;

	if (!n)
		return 0;
	got = src->read_at(src->ctx, p, n, orig->audio_start);
	if (got < 0)
		return (int)got;
	if ((size_t)got < n)
		return -EBADMSG;
	if (n >= 4 && !memcmp(p, "ADIF", 4))
		return 0;
	return adts_header_parse(p, n, &h) ? 0 : -EBADMSG;
}

/*
 * A new ID3v2.4 tag, then the ADTS frames (or the ADIF stream) as they
 * are; the old tags before and after them are dropped.
 */
static int adts_synthesize(const struct formats_source *src,
			   const struct formats_meta *orig,
			   const struct formats_tags *tags,
			   const struct formats_picture *picture,
			   struct formats_synth *out)
{
	int rc;

	if (orig->kind != FORMATS_AAC || orig->audio_start > orig->audio_end ||
	    orig->audio_end > src->size)
		return -EBADMSG;
	rc = adts_check_start(src, orig);
	if (!rc)
		rc = formats_id3v24_write(src, tags, picture,
					  ADTS_SYNTH_PADDING, out);
	if (!rc)
		rc = formats_synth_add_origin(out, orig->audio_start,
					      orig->audio_end -
						      orig->audio_start);
	return rc;
}

const struct formats_ops formats_adts_ops = {
	.kind = FORMATS_AAC,
	.name = "adts",
	.probe = adts_probe,
	.parse = adts_parse,
	.synthesize = adts_synthesize,
};
