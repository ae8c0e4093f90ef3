/*
 * ogg.c - Ogg Vorbis and Ogg Opus: parsing (synthesis is ogg_synth.c).
 *
 * An Ogg file is a sequence of pages ("OggS", a 27-byte header and a
 * lacing table); each page carries segments of the packets of one logical
 * stream (its serial number).  A packet may span pages.  All beginning-of-
 * stream pages come first, so the first BOS page whose packet is a Vorbis
 * or Opus identification header picks the stream; pages of other streams
 * (Theora video, Skeleton) are ignored.  Speex and FLAC-in-Ogg are not
 * read (-EBADMSG).
 *
 * The header packets are read as a stream of bytes, page by page, never
 * assembled: identification (rate, channels, Opus pre-skip), comments
 * (Vorbis comment layout, items handed to flac.c's parser one by one)
 * and, for Vorbis, the setup packet, whose bytes are skipped (only the
 * lacing values of its pages are read).  The audio starts with the page
 * after the last of them.  The duration is the granule position of the
 * last page of the stream, found in the last 64 KiB of the file: no page
 * in between is read.
 *
 * A cover arrives as base64 text in the comment packet, often most of the
 * header.  With FORMATS_PARSE_LAZY_PICTURES only its first characters are
 * decoded (the block header: type, MIME type, image length) and the rest
 * is skipped through the lacing values, without being read; the picture
 * is recorded as where its text starts (FORMATS_PIC_OGG_BASE64), and
 * formats_picture_load reads the same packets again to decode it.
 *
 * Caveat: page CRCs are not checked; a damaged page ends the header
 * parse with what was read.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"
#include "formats/ogg_i.h"

#include <strings.h>

/* Base64 characters decoded first to read a picture block's header. */
#define OGG_PICTURE_PEEK 344

/* rd_* results besides 0 and -errno: the packet ended first. */
#define OGG_PACKET_END 1

/* A stream being read, and the position of the reader in its packets. */
struct ogg_stream {
	struct formats_ctx *ctx;
	enum formats_kind kind;
	uint32_t serial;
	unsigned want;		/* header packets there are: 3 or 2 */
	uint32_t rate;
	uint16_t preskip;
	uint32_t nominal;	/* Vorbis nominal bitrate */
	struct ogg_page pg;	/* the page being read */
	unsigned seg;		/* its segment being read (nsegs: none) */
	unsigned seg_pos;	/* bytes of that segment read */
	uint64_t seg_off;	/* file offset of that segment */
	uint64_t end;		/* the end of the last page read */
	unsigned pages;		/* pages looked at */
	uint64_t packet_len;	/* bytes of the current packet passed */
	struct buf item;	/* the comment being read */
	bool loaded;		/* LOAD_PICTURE: the picture was decoded */
};

bool ogg_page_parse(const uint8_t *h, size_t n, uint64_t off,
		    struct ogg_page *pg)
{
	struct byte_reader r;
	unsigned i;

	if (n < OGG_HEADER || memcmp(h, "OggS", 4) || h[4] ||
	    n - OGG_HEADER < h[26])
		return false;
	byte_reader_init(&r, h, n);
	byte_reader_skip(&r, 5);
	pg->off = off;
	pg->type = byte_reader_u8(&r);
	pg->granule = byte_reader_le64(&r);
	pg->serial = byte_reader_le32(&r);
	pg->seq = byte_reader_le32(&r);
	byte_reader_skip(&r, 4);	/* CRC */
	pg->nsegs = byte_reader_u8(&r);
	pg->body_len = 0;
	for (i = 0; i < pg->nsegs; i++) {
		pg->lacing[i] = h[OGG_HEADER + i];
		pg->body_len += pg->lacing[i];
	}
	pg->body = off + OGG_HEADER + pg->nsegs;
	return true;
}

/* Copy len bytes at off: 0, -ENODATA if the file ends first, -errno. */
static int ogg_copy(struct formats_ctx *ctx, uint64_t off, void *dst,
		    size_t len)
{
	size_t got;
	int rc;

	if (off <= ctx->head_len && len <= ctx->head_len - off) {
		memcpy(dst, ctx->head + off, len);
		return 0;
	}
	rc = formats_read(ctx, off, dst, len, &got);
	return rc ? rc : got == len ? 0 : -ENODATA;
}

/* Read the page header at off; *ok false if there is no valid page. */
static int ogg_page_at(struct formats_ctx *ctx, uint64_t off,
		       struct ogg_page *pg, bool *ok)
{
	uint8_t h[OGG_HEADER + 255];
	uint64_t size = ctx->src->size;
	size_t n;
	int rc;

	*ok = false;
	if (off >= size)
		return 0;
	n = (size_t)MFS_MIN(size - off, (uint64_t)sizeof(h));
	rc = ogg_copy(ctx, off, h, n);
	if (rc)
		return rc == -ENODATA ? 0 : rc;
	*ok = ogg_page_parse(h, n, off, pg);
	return 0;
}

/* ---- the packet reader ------------------------------------------------- */

/* Make the next page of the stream current: 0, -ENODATA at damage. */
static int rd_next_page(struct ogg_stream *s)
{
	uint64_t size = s->ctx->src->size;
	uint64_t off = s->pg.body + s->pg.body_len;
	struct ogg_page pg;
	bool ok;
	int rc;

	for (;;) {
		if (++s->pages > OGG_MAX_PAGES)
			return -ENODATA;
		rc = ogg_page_at(s->ctx, off, &pg, &ok);
		if (rc || !ok)
			return rc ? rc : -ENODATA;	/* damage: the end */
		off = pg.body + pg.body_len;
		s->end = off;
		if (pg.body_len > size - MFS_MIN(pg.body, size))
			return -ENODATA;		/* a cut page */
		if (pg.serial == s->serial)
			break;
	}
	s->pg = pg;
	s->seg = 0;
	s->seg_pos = 0;
	s->seg_off = pg.body;
	return 0;
}

/* Stand on the next byte of the packet: 0, OGG_PACKET_END or -errno. */
static int rd_ready(struct ogg_stream *s)
{
	int rc;

	for (;;) {
		if (s->seg == s->pg.nsegs) {
			rc = rd_next_page(s);
			if (rc)
				return rc;
			continue;
		}
		if (s->seg_pos < s->pg.lacing[s->seg])
			return 0;
		if (s->pg.lacing[s->seg] < 255)
			return OGG_PACKET_END;
		s->seg_off += 255;
		s->seg++;
		s->seg_pos = 0;
	}
}

/* Bytes of the packet that follow in the file without a break, <= want. */
static size_t rd_run(const struct ogg_stream *s, size_t want)
{
	size_t n = s->pg.lacing[s->seg] - s->seg_pos;
	unsigned j = s->seg;

	while (n < want && s->pg.lacing[j] == 255 && j + 1 < s->pg.nsegs)
		n += s->pg.lacing[++j];
	return MFS_MIN(n, want);
}

/* Pass n bytes of the current run (n <= rd_run). */
static int rd_pass(struct ogg_stream *s, size_t n)
{
	size_t k;

	s->packet_len += n;
	if (s->packet_len > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	while (n) {
		k = MFS_MIN(n, (size_t)(s->pg.lacing[s->seg] - s->seg_pos));
		s->seg_pos += (unsigned)k;
		n -= k;
		if (n) {	/* a full segment: the run goes on */
			s->seg_off += 255;
			s->seg++;
			s->seg_pos = 0;
		}
	}
	return 0;
}

/*
 * The next len bytes of the packet: copied to dst, or appended to b, or
 * skipped (both NULL).  0, OGG_PACKET_END if it ends first, -errno.
 */
static int rd_read(struct ogg_stream *s, void *dst, struct buf *b,
		   uint64_t len)
{
	uint8_t *p = dst;
	size_t k;
	int rc;

	while (len) {
		rc = rd_ready(s);
		if (rc)
			return rc;
		k = rd_run(s, (size_t)MFS_MIN(len, (uint64_t)SIZE_MAX));
		if (b) {
			if (k > b->max - MFS_MIN(b->len, b->max))
				return -EFBIG;
			p = (uint8_t *)buf_grow(b, k);
			if (!p)
				return -ENOMEM;
		}
		rc = p ? ogg_copy(s->ctx, s->seg_off + s->seg_pos, p, k) : 0;
		if (rc)
			return rc;
		if (b) {
			b->len += k;
			b->data[b->len] = '\0';
		} else if (p) {
			p += k;
		}
		rc = rd_pass(s, k);
		if (rc)
			return rc;
		len -= k;
	}
	return 0;
}

static int rd_take(struct ogg_stream *s, void *dst, size_t len)
{
	return rd_read(s, dst, NULL, len);
}

static int rd_skip(struct ogg_stream *s, uint64_t len)
{
	return rd_read(s, NULL, NULL, len);
}

/* Pass the rest of the current packet and stand at the next one. */
static int rd_next_packet(struct ogg_stream *s)
{
	int rc;

	for (;;) {
		rc = rd_ready(s);
		if (rc)
			break;
		rc = rd_pass(s, rd_run(s, SIZE_MAX));
		if (rc)
			return rc;
	}
	if (rc < 0)
		return rc;
	s->seg_off += s->pg.lacing[s->seg];
	s->seg++;
	s->seg_pos = 0;
	s->packet_len = 0;
	return 0;
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- pictures ---------------------------------------------------------- */

/*
 * Decode the n characters at text (the start of a value of value_len) and
 * read the block header; *more: the header, or the first image bytes the
 * MIME type is sniffed from, lie past them.
 */
static int ogg_picture_header(const uint8_t *text, size_t n,
			      uint64_t value_len, struct formats_picture *pic,
			      bool *more)
{
	/* the most bytes value_len characters decode to */
	uint64_t body = value_len / 4 * 3 + value_len % 4 * 3 / 4;
	struct formats_b64 d = { 0 };
	struct byte_reader r;
	uint8_t *dec;
	size_t len, avail;
	int rc;

	memset(pic, 0, sizeof(*pic));
	*more = false;
	dec = malloc(n / 4 * 3 + 3);
	if (!dec)
		return -ENOMEM;
	len = formats_b64_decode(&d, text, n, dec);
	byte_reader_init(&r, dec, len);
	rc = formats_flac_picture(&r, body, 0, false, pic);
	if (rc == -EBADMSG) {
		*more = r.failed && n < value_len;
		rc = 0;
	} else if (!rc && pic->present) {
		avail = len - (size_t)MFS_MIN(pic->offset, (uint64_t)len);
		if (avail < MFS_MIN(pic->length, 16) && n < value_len)
			*more = true;
		else
			formats_picture_sniff(pic, dec + pic->offset,
					      (size_t)MFS_MIN(avail,
							      pic->length));
	}
	free(dec);
	if (rc || *more || !pic->present)
		memset(pic, 0, sizeof(*pic));
	return rc;
}

int ogg_picture_peek(ogg_text_fn read, void *ctx, uint64_t value_len,
		     struct formats_picture *pic, size_t *used)
{
	struct buf text = BUF_INIT_MAX(FORMATS_MAX_TAG_BYTES);
	bool more;
	int rc;

	memset(pic, 0, sizeof(*pic));
	rc = read(ctx, &text,
		  (size_t)MFS_MIN(value_len, (uint64_t)OGG_PICTURE_PEEK));
	if (!rc)
		rc = ogg_picture_header((const uint8_t *)text.data, text.len,
					value_len, pic, &more);
	/* a long description or MIME type: the whole block, as eager */
	if (!rc && more && value_len <= FORMATS_MAX_TAG_BYTES)
		rc = read(ctx, &text, (size_t)value_len);
	if (!rc && more)
		rc = ogg_picture_header((const uint8_t *)text.data, text.len,
					value_len, pic, &more);
	if (!rc && pic->present) {
		pic->store = FORMATS_PIC_OGG_BASE64;
		pic->offset = 0;
	}
	*used = text.len;
	buf_release(&text);
	return rc;
}

/* ogg_text_fn over the packet reader: the next characters. */
static int rd_text(void *ctx, struct buf *text, size_t want)
{
	return rd_read(ctx, NULL, text, want - text->len);
}

/* A picture item, the reader on the first of its len characters. */
static int ogg_picture_item(struct ogg_stream *s, const uint8_t *key,
			    uint64_t len)
{
	struct formats_picture *have = &s->ctx->meta->picture, pic;
	uint64_t at;
	size_t used;
	int rc;

	if (!len)
		return 0;
	rc = rd_ready(s);
	if (rc)
		return rc;
	at = s->seg_off + s->seg_pos;
	if (s->ctx->flags & FORMATS_PARSE_LOAD_PICTURE) {
		if (at != s->ctx->load_at)
			return rd_skip(s, len);
		/* decoded as an eager parse does: key and value together */
		buf_reset(&s->item);
		rc = buf_add(&s->item, key, OGG_PICTURE_KEY_LEN);
		if (!rc)
			rc = rd_read(s, NULL, &s->item, len);
		if (!rc)
			rc = formats_vorbis_item(s->ctx,
						 (const uint8_t *)s->item.data,
						 s->item.len);
		s->loaded = !rc;
		return rc;
	}
	rc = ogg_picture_peek(rd_text, s, len, &pic, &used);
	if (!rc)
		rc = rd_skip(s, len - used);
	if (!rc && pic.present && formats_picture_better(have, pic.type)) {
		free(have->data);
		*have = pic;
		have->offset = at;
	}
	return rc;
}

/* One comment of len bytes. */
static int ogg_comment(struct ogg_stream *s, uint32_t len)
{
	uint8_t key[OGG_PICTURE_KEY_LEN];
	size_t k = MFS_MIN(len, sizeof(key));
	int rc;

	rc = rd_take(s, key, k);
	if (rc)
		return rc;
	if ((s->ctx->flags & (FORMATS_PARSE_LAZY_PICTURES |
			      FORMATS_PARSE_LOAD_PICTURE)) &&
	    k == sizeof(key) && !strncasecmp((const char *)key,
					     OGG_PICTURE_KEY, k))
		return ogg_picture_item(s, key, len - k);
	if (s->ctx->flags & FORMATS_PARSE_LOAD_PICTURE)
		return rd_skip(s, len - k);
	buf_reset(&s->item);
	rc = buf_add(&s->item, key, k);
	if (!rc)
		rc = rd_read(s, NULL, &s->item, len - k);
	if (rc)
		return rc;
	return formats_vorbis_item(s->ctx, (const uint8_t *)s->item.data,
				   s->item.len);
}

/*
 * The comment packet, the reader at its start: vendor, count, items.  A
 * packet that ends early keeps what was read (0); -ENODATA if the file
 * does.
 */
static int ogg_comments(struct ogg_stream *s)
{
	size_t mlen = s->kind == FORMATS_OGG_VORBIS ? 7 : 8;
	uint8_t buf[8];
	uint32_t count, i;
	int rc;

	rc = rd_take(s, buf, mlen);
	if (!rc && memcmp(buf, mlen == 7 ? "\x03vorbis" : "OpusTags", mlen))
		return 0;	/* not a comment header: nothing to read */
	if (!rc)
		rc = rd_take(s, buf, 4);
	if (!rc)
		rc = rd_skip(s, le32_at(buf));	/* vendor */
	if (!rc)
		rc = rd_take(s, buf, 4);
	count = rc ? 0 : le32_at(buf);
	for (i = 0; !rc && !s->loaded && i < count; i++) {
		rc = rd_take(s, buf, 4);
		if (!rc)
			rc = ogg_comment(s, le32_at(buf));
	}
	return rc == OGG_PACKET_END ? 0 : rc;
}

/* ---- the stream -------------------------------------------------------- */

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

/* The first BOS page of a Vorbis or Opus stream; the reader on it. */
static int ogg_find_stream(struct ogg_stream *s)
{
	uint64_t off = s->ctx->start, size = s->ctx->src->size;
	uint8_t id[64];
	struct ogg_page pg;
	size_t n;
	bool ok;
	int rc;

	for (;;) {
		rc = ogg_page_at(s->ctx, off, &pg, &ok);
		if (rc || !ok || !(pg.type & 2))
			return rc ? rc : -EBADMSG;
		off = pg.body + pg.body_len;
		s->end = off;
		/* a cut page: what there is of it */
		n = (size_t)MFS_MIN(MFS_MIN(pg.body_len, (uint32_t)sizeof(id)),
				    size - MFS_MIN(pg.body, size));
		rc = ogg_copy(s->ctx, pg.body, id, n);
		if (rc)
			return rc;
		if (!ogg_id_header(s, id, n))
			break;
	}
	s->serial = pg.serial;
	s->pg = pg;
	s->seg = 0;
	s->seg_pos = 0;
	s->seg_off = pg.body;
	return 0;
}

/*
 * The header packets: identification, comments, setup.  s->end is then
 * where the audio starts.  A damaged or cut file keeps what was read.
 */
static int ogg_headers(struct ogg_stream *s)
{
	int rc;

	rc = ogg_find_stream(s);
	if (rc)
		return rc;
	rc = rd_next_packet(s);		/* identification: read */
	if (!rc)
		rc = ogg_comments(s);
	if (!rc && !(s->ctx->flags & FORMATS_PARSE_LOAD_PICTURE)) {
		rc = rd_next_packet(s);	/* the rest of the comments */
		if (!rc && s->want == 3)
			rc = rd_next_packet(s);	/* setup */
		/* the audio starts after the page the headers end on */
		if (!rc)
			s->end = s->pg.body + s->pg.body_len;
	}
	return rc == -ENODATA ? 0 : rc;
}

/*
 * The granule position of the last page of the stream found in the last
 * span bytes of the file (not before from): *granule is left alone if none.
 */
static int ogg_granule_in(struct ogg_stream *s, uint64_t from, uint64_t span,
			  uint64_t *granule, bool *found)
{
	struct formats_ctx *ctx = s->ctx;
	uint64_t size = ctx->src->size;
	uint64_t start = size - MFS_MIN(size - from, span);
	struct formats_chunk c;
	struct ogg_page pg;
	size_t i;
	int rc;

	*found = false;
	rc = formats_fetch(ctx, start, (size_t)(size - start), &c);
	for (i = c.len; !rc && i >= OGG_HEADER; i--) {
		if (memcmp(c.p + i - OGG_HEADER, "OggS", 4) ||
		    !ogg_page_parse(c.p + i - OGG_HEADER,
				    c.len - (i - OGG_HEADER),
				    start + i - OGG_HEADER, &pg))
			continue;
		if (pg.serial == s->serial && pg.granule != UINT64_MAX) {
			*granule = pg.granule;
			*found = true;
			break;
		}
	}
	formats_chunk_release(&c);
	return rc;
}

/*
 * The granule position of the last page of the stream, or 0: searched in
 * the last page's worth of the file, the last 8 KiB first (usually enough:
 * a match there is also the last one of the longer span).
 */
static int ogg_last_granule(struct ogg_stream *s, uint64_t from,
			    uint64_t *granule)
{
	bool found;
	int rc;

	*granule = 0;
	rc = ogg_granule_in(s, from, 8192, granule, &found);
	if (!rc && !found && s->ctx->src->size - from > 8192)
		rc = ogg_granule_in(s, from, OGG_MAX_PAGE, granule, &found);
	return rc;
}

static int ogg_parse(struct formats_ctx *ctx)
{
	struct formats_meta *m = ctx->meta;
	struct ogg_stream s;
	uint64_t granule;
	int rc;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	buf_init(&s.item, FORMATS_MAX_TAG_BYTES);
	rc = ogg_headers(&s);
	buf_release(&s.item);
	if (rc || (ctx->flags & FORMATS_PARSE_LOAD_PICTURE))
		return rc;
	m->audio_start = MFS_MIN(s.end, ctx->src->size);
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
	.synthesize = formats_ogg_synthesize,
};
