/*
 * ogg.c - Ogg Vorbis and Ogg Opus.
 *
 * An Ogg file is a sequence of pages ("OggS", a 27-byte header and a
 * lacing table); each page carries segments of the packets of one logical
 * stream (its serial number).  A packet may span pages.  All beginning-of-
 * stream pages come first, so the first BOS page whose packet is a Vorbis
 * or Opus identification header picks the stream; pages of other streams
 * (Theora video, Skeleton) are ignored.  Speex and FLAC-in-Ogg are not
 * read (-EBADMSG).
 *
 * Only the header packets are assembled: identification (rate, channels,
 * Opus pre-skip), comments (Vorbis comment layout, shared with FLAC) and,
 * for Vorbis, the setup packet; the audio starts with the page after the
 * last of them.  The duration is the granule position of the last page of
 * the stream, found in the last 64 KiB of the file: no page in between is
 * read.
 *
 * Caveat: page CRCs are not checked; a damaged page ends the header
 * parse with what was read.
 */
#include "common/mfs.h"
#include "formats/formats_i.h"

#define OGG_HEADER 27
/* The largest page: header, 255 lacing values, 255 segments of 255. */
#define OGG_MAX_PAGE (OGG_HEADER + 255 + 255 * 255)
/* Pages looked at while assembling the header packets. */
#define OGG_MAX_PAGES 4096

struct ogg_page {
	uint64_t off;		/* of "OggS" */
	uint8_t type;		/* 1 continued, 2 first, 4 last */
	uint64_t granule;
	uint32_t serial;
	uint8_t nsegs;
	uint8_t lacing[255];
	uint64_t body;		/* offset of the segments */
	uint32_t body_len;
};

struct ogg_stream {
	struct formats_ctx *ctx;
	enum formats_kind kind;
	uint32_t serial;
	unsigned npackets;	/* header packets complete so far */
	unsigned want;		/* header packets there are: 3 or 2 */
	struct buf packet;	/* the packet being assembled */
	uint32_t rate;
	uint16_t preskip;
	uint32_t nominal;	/* Vorbis nominal bitrate */
};

/* Read the page header at off; false if there is no valid page. */
static int ogg_page_at(struct formats_ctx *ctx, uint64_t off,
		       struct ogg_page *pg, bool *ok)
{
	struct formats_chunk c;
	struct byte_reader r;
	unsigned i;
	int rc;

	*ok = false;
	rc = formats_fetch(ctx, off, OGG_HEADER + 255, &c);
	if (rc || c.len < OGG_HEADER || memcmp(c.p, "OggS", 4) || c.p[4]) {
		formats_chunk_release(&c);
		return rc;
	}
	byte_reader_init(&r, c.p, c.len);
	byte_reader_skip(&r, 5);
	pg->off = off;
	pg->type = byte_reader_u8(&r);
	pg->granule = byte_reader_le64(&r);
	pg->serial = byte_reader_le32(&r);
	byte_reader_skip(&r, 8);	/* sequence number, CRC */
	pg->nsegs = byte_reader_u8(&r);
	pg->body_len = 0;
	for (i = 0; i < pg->nsegs; i++) {
		pg->lacing[i] = byte_reader_u8(&r);
		pg->body_len += pg->lacing[i];
	}
	pg->body = off + OGG_HEADER + pg->nsegs;
	*ok = !r.failed;
	formats_chunk_release(&c);
	return 0;
}

static int ogg_id_header(struct ogg_stream *s, const uint8_t *p, size_t n)
{
	struct formats_meta *m = s->ctx->meta;
	struct byte_reader r;

	byte_reader_init(&r, p, n);
	if (n >= 30 && !memcmp(p, "\x01vorbis", 7)) {
		byte_reader_skip(&r, 11);
		m->channels = byte_reader_u8(&r);
		s->rate = byte_reader_le32(&r);
		byte_reader_skip(&r, 4);
		s->nominal = byte_reader_le32(&r);
		s->kind = FORMATS_OGG_VORBIS;
		s->want = 3;
	} else if (n >= 19 && !memcmp(p, "OpusHead", 8)) {
		byte_reader_skip(&r, 9);
		m->channels = byte_reader_u8(&r);
		s->preskip = byte_reader_le16(&r);
		s->rate = 48000;	/* Opus always decodes at 48 kHz */
		s->kind = FORMATS_OPUS;
		s->want = 2;
	} else {
		return -EBADMSG;
	}
	if (!s->rate || !m->channels)
		return -EBADMSG;
	m->sample_rate = s->rate;
	m->kind = s->kind;
	return 0;
}

/* A complete header packet. */
static int ogg_packet(struct ogg_stream *s)
{
	const uint8_t *p = (const uint8_t *)s->packet.data;
	size_t n = s->packet.len;
	int rc = 0;

	if (s->npackets == 1) {
		if (s->kind == FORMATS_OGG_VORBIS && n >= 7 &&
		    !memcmp(p, "\x03vorbis", 7))
			rc = formats_vorbis_comments(s->ctx, p + 7, n - 7);
		else if (s->kind == FORMATS_OPUS && n >= 8 &&
			 !memcmp(p, "OpusTags", 8))
			rc = formats_vorbis_comments(s->ctx, p + 8, n - 8);
	}
	s->npackets++;
	buf_reset(&s->packet);
	return rc;
}

/* Add the segments of page pg to the packets of the stream. */
static int ogg_segments(struct ogg_stream *s, const struct ogg_page *pg)
{
	struct formats_chunk c;
	size_t at = 0;
	unsigned i;
	int rc;

	rc = formats_fetch(s->ctx, pg->body, pg->body_len, &c);
	if (rc || c.len < pg->body_len) {
		formats_chunk_release(&c);
		return rc ? rc : -ENODATA;
	}
	for (i = 0; i < pg->nsegs && s->npackets < s->want && !rc; i++) {
		/* the comment packet is the only one that can be big */
		rc = buf_add(&s->packet, c.p + at, pg->lacing[i]);
		at += pg->lacing[i];
		if (!rc && pg->lacing[i] < 255)
			rc = ogg_packet(s);
	}
	formats_chunk_release(&c);
	return rc;
}

/* The first BOS page of a Vorbis or Opus stream; *off: after it. */
static int ogg_find_stream(struct ogg_stream *s, uint64_t *off)
{
	struct formats_chunk c;
	struct ogg_page pg;
	bool ok;
	int rc;

	for (;;) {
		rc = ogg_page_at(s->ctx, *off, &pg, &ok);
		if (rc || !ok || !(pg.type & 2))
			return rc ? rc : -EBADMSG;
		*off = pg.body + pg.body_len;
		rc = formats_fetch(s->ctx, pg.body, MFS_MIN(pg.body_len, 64),
				   &c);
		if (!rc && !ogg_id_header(s, c.p, c.len)) {
			formats_chunk_release(&c);
			s->serial = pg.serial;
			return ogg_segments(s, &pg);
		}
		formats_chunk_release(&c);
		if (rc)
			return rc;
	}
}

/* The granule position of the last page of the stream, or 0. */
static int ogg_last_granule(struct ogg_stream *s, uint64_t from,
			    uint64_t *granule)
{
	struct formats_ctx *ctx = s->ctx;
	uint64_t size = ctx->src->size;
	uint64_t start = size - MFS_MIN(size - from, (uint64_t)OGG_MAX_PAGE);
	struct formats_chunk c;
	struct ogg_page pg;
	size_t i;
	bool ok;
	int rc;

	*granule = 0;
	rc = formats_fetch(ctx, start, (size_t)(size - start), &c);
	for (i = c.len; !rc && i >= OGG_HEADER; i--) {
		if (memcmp(c.p + i - OGG_HEADER, "OggS", 4))
			continue;
		rc = ogg_page_at(ctx, start + i - OGG_HEADER, &pg, &ok);
		if (!rc && ok && pg.serial == s->serial &&
		    pg.granule != UINT64_MAX) {
			*granule = pg.granule;
			break;
		}
	}
	formats_chunk_release(&c);
	return rc;
}

static int ogg_headers(struct ogg_stream *s, uint64_t *off)
{
	struct ogg_page pg;
	unsigned n;
	bool ok;
	int rc;

	rc = ogg_find_stream(s, off);
	for (n = 0; !rc && s->npackets < s->want && n < OGG_MAX_PAGES; n++) {
		rc = ogg_page_at(s->ctx, *off, &pg, &ok);
		if (rc || !ok)
			break;
		*off = pg.body + pg.body_len;
		if (pg.serial == s->serial)
			rc = ogg_segments(s, &pg);
	}
	/* a damaged or cut file keeps what was read */
	if (rc == -ENODATA)
		rc = 0;
	return rc;
}

static int ogg_parse(struct formats_ctx *ctx)
{
	struct formats_meta *m = ctx->meta;
	struct ogg_stream s;
	uint64_t off = ctx->start;
	uint64_t granule;
	int rc;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	buf_init(&s.packet, FORMATS_MAX_TAG_BYTES);
	rc = ogg_headers(&s, &off);
	buf_release(&s.packet);
	if (rc)
		return rc;
	m->audio_start = MFS_MIN(off, ctx->src->size);
	m->audio_end = ctx->src->size;
	rc = ogg_last_granule(&s, m->audio_start, &granule);
	if (rc)
		return rc;
	if (s.kind == FORMATS_OPUS)
		granule = granule > s.preskip ? granule - s.preskip : 0;
	if (granule < (1ull << 53))
		m->duration = (double)granule / s.rate;
	m->bitrate = formats_bitrate(m->audio_end - m->audio_start,
				     m->duration);
	if (!m->bitrate && s.nominal < INT32_MAX)
		m->bitrate = s.nominal;
	return 0;
}

static bool ogg_probe(const struct formats_ctx *ctx MFS_UNUSED,
		      const uint8_t *p, size_t n)
{
	return n >= 4 && !memcmp(p, "OggS", 4);
}

const struct formats_ops formats_ogg_ops = {
	.kind = FORMATS_OGG_VORBIS,
	.name = "ogg",
	.probe = ogg_probe,
	.parse = ogg_parse,
};
