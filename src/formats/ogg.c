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
 *
 * Synthesis (ogg_synthesize) keeps the identification page, writes new
 * pages for the comment packet (and the Vorbis setup packet, which shares
 * them) and leaves the audio pages to be renumbered as they are read.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

#include <pthread.h>

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

/* ---- synthesis ----------------------------------------------------------- */

/*
 * A synthesized Ogg file: the identification page of the origin as it is,
 * new pages carrying the new comment packet (and, for Vorbis, the setup
 * packet copied from the origin, as the two share pages), then the audio
 * pages of the origin, renumbered on read by the difference in header
 * pages.  Only files of one logical stream: a multiplexed or chained file
 * gives -ENOTSUP, as does a header page that also carries audio.
 */

#define OGG_VENDOR "MusicFS"
#define OGG_PICTURE_KEY "METADATA_BLOCK_PICTURE="

/* Slicing-by-8 tables: [k][i] is the CRC of byte i then k zero bytes. */
static uint32_t synth_crc_table[8][256];
static pthread_once_t synth_crc_once = PTHREAD_ONCE_INIT;

static void synth_crc_init(void)
{
	uint32_t r;
	size_t i, k;
	int b;

	for (i = 0; i < 256; i++) {
		r = (uint32_t)i << 24;
		for (b = 0; b < 8; b++)
			r = r & 0x80000000u ? (r << 1) ^ 0x04c11db7u : r << 1;
		synth_crc_table[0][i] = r;
	}
	for (k = 1; k < 8; k++)
		for (i = 0; i < 256; i++) {
			r = synth_crc_table[k - 1][i];
			synth_crc_table[k][i] =
				(r << 8) ^ synth_crc_table[0][r >> 24];
		}
}

/*
 * CRC-32 of Ogg: polynomial 0x04c11db7, MSB first, initial value 0;
 * eight bytes a step (a 1 MiB cover makes 1.4 MB of pages).
 */
static uint32_t synth_crc(const uint8_t *p, size_t len)
{
	const uint32_t(*t)[256] = synth_crc_table;
	uint32_t crc = 0, c;
	size_t i = 0;

	pthread_once(&synth_crc_once, synth_crc_init);
	for (; i + 8 <= len; i += 8) {
		c = crc ^ ((uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
			   (uint32_t)p[i + 2] << 8 | p[i + 3]);
		crc = t[7][c >> 24] ^ t[6][(c >> 16) & 0xff] ^
		      t[5][(c >> 8) & 0xff] ^ t[4][c & 0xff] ^
		      t[3][p[i + 4]] ^ t[2][p[i + 5]] ^ t[1][p[i + 6]] ^
		      t[0][p[i + 7]];
	}
	for (; i < len; i++)
		crc = (crc << 8) ^ t[0][((crc >> 24) ^ p[i]) & 0xff];
	return crc;
}

struct ogg_synth {
	const struct formats_source *src;
	enum formats_kind kind;
	uint64_t bos_off;	/* the identification page */
	uint64_t bos_len;
	uint32_t serial;
	uint32_t seq;		/* sequence number of the next new page */
	unsigned want;		/* header packets: 3 Vorbis, 2 Opus */
	unsigned packet;	/* index of the header packet being read */
	bool mid;		/* the last page read ended inside a packet */
	unsigned old_pages;	/* pages of the origin after the BOS page */
	unsigned new_pages;	/* pages made after the BOS page */
	uint64_t audio_off;	/* the first audio page */
	struct buf setup;	/* the Vorbis setup packet of the origin */
	struct buf comment;	/* the new comment packet */
	uint32_t count;		/* comments in it */
};

/* A packet to lay out in pages. */
struct ogg_packet_ref {
	const uint8_t *p;
	size_t len;
};

/* The page header at off, whose body must be within the file. */
static int synth_page_at(const struct ogg_synth *s, uint64_t off,
			 struct ogg_page *pg, uint32_t *seq)
{
	uint8_t h[OGG_HEADER + 255];
	struct byte_reader r;
	size_t n;
	unsigned i;
	int rc;

	if (off >= s->src->size)
		return -EBADMSG;
	n = (size_t)MFS_MIN(s->src->size - off, (uint64_t)sizeof(h));
	rc = formats_read_exact(s->src, off, h, n);
	if (rc)
		return rc;
	if (n < OGG_HEADER || memcmp(h, "OggS", 4) || h[4])
		return -EBADMSG;
	byte_reader_init(&r, h, n);
	byte_reader_skip(&r, 5);
	pg->off = off;
	pg->type = byte_reader_u8(&r);
	pg->granule = byte_reader_le64(&r);
	pg->serial = byte_reader_le32(&r);
	*seq = byte_reader_le32(&r);
	byte_reader_skip(&r, 4);	/* CRC */
	pg->nsegs = byte_reader_u8(&r);
	pg->body_len = 0;
	for (i = 0; i < pg->nsegs; i++) {
		pg->lacing[i] = byte_reader_u8(&r);
		pg->body_len += pg->lacing[i];
	}
	pg->body = off + OGG_HEADER + pg->nsegs;
	if (r.failed || pg->body_len > s->src->size - MFS_MIN(pg->body,
							      s->src->size))
		return -EBADMSG;
	return 0;
}

/* Skip the ID3v2 tags before the stream, as formats_parse does. */
static int synth_skip_id3v2(const struct ogg_synth *s, uint64_t *off)
{
	uint8_t h[10];
	uint64_t size;
	int i, rc;

	*off = 0;
	for (i = 0; i < 8; i++) {
		if (s->src->size - *off < sizeof(h))
			return 0;
		rc = formats_read_exact(s->src, *off, h, sizeof(h));
		if (rc)
			return rc;
		size = formats_id3v2_size(h, sizeof(h));
		if (!size || size > s->src->size - *off)
			return 0;
		*off += size;
	}
	return 0;
}

/* The identification page: one whole packet of the kind of orig. */
static int synth_bos(struct ogg_synth *s, uint64_t off)
{
	struct ogg_page pg;
	uint8_t magic[8];
	uint32_t seq;
	unsigned i;
	int rc;

	rc = synth_page_at(s, off, &pg, &seq);
	if (rc)
		return rc;
	if (!(pg.type & 2) || (pg.type & 1) || !pg.nsegs)
		return -EBADMSG;
	for (i = 0; i + 1 < pg.nsegs; i++)
		if (pg.lacing[i] < 255)
			return -ENOTSUP;	/* more than one packet */
	if (pg.lacing[pg.nsegs - 1] == 255 || pg.body_len < sizeof(magic))
		return -ENOTSUP;		/* continues on the next page */
	rc = formats_read_exact(s->src, pg.body, magic, sizeof(magic));
	if (rc)
		return rc;
	if (!memcmp(magic, "\x01vorbis", 7))
		rc = s->kind == FORMATS_OGG_VORBIS ? 0 : -EBADMSG;
	else if (!memcmp(magic, "OpusHead", 8))
		rc = s->kind == FORMATS_OPUS ? 0 : -EBADMSG;
	else
		rc = -ENOTSUP;	/* another stream first: multiplexed */
	s->bos_off = off;
	s->bos_len = pg.body + pg.body_len - off;
	s->serial = pg.serial;
	s->seq = seq + 1;
	return rc;
}

/* Append bytes [from, to) of pg's body to the setup packet. */
static int synth_take_setup(struct ogg_synth *s, const struct ogg_page *pg,
			    size_t from, size_t to)
{
	char *dst;
	int rc;

	if (to == from)
		return 0;
	if (to - from > s->setup.max - MFS_MIN(s->setup.len, s->setup.max))
		return -EFBIG;
	dst = buf_grow(&s->setup, to - from);
	if (!dst)
		return -ENOMEM;
	rc = formats_read_exact(s->src, pg->body + from, dst, to - from);
	if (rc)
		return rc;
	s->setup.len += to - from;
	s->setup.data[s->setup.len] = '\0';
	return 0;
}

/* Walk the segments of a header page of the origin. */
static int synth_header_page(struct ogg_synth *s, const struct ogg_page *pg)
{
	size_t at = 0, from = 0, to = 0;
	unsigned i;

	if (pg->serial != s->serial || (pg->type & 2))
		return -ENOTSUP;	/* multiplexed */
	if (!(pg->type & 1) != !s->mid)
		return -EBADMSG;
	for (i = 0; i < pg->nsegs; i++) {
		if (s->packet >= s->want)
			return -ENOTSUP;	/* audio on a header page */
		if (s->packet == 2 && from == to)
			from = to = at;
		at += pg->lacing[i];
		if (s->packet == 2)
			to = at;
		s->mid = pg->lacing[i] == 255;
		if (!s->mid)
			s->packet++;
	}
	return synth_take_setup(s, pg, from, to);
}

/* Check the origin's header pages and find where the audio starts. */
static int synth_scan(struct ogg_synth *s, const struct formats_meta *orig)
{
	struct ogg_page pg;
	uint64_t off;
	uint32_t seq;
	int rc;

	rc = synth_skip_id3v2(s, &off);
	if (!rc)
		rc = synth_bos(s, off);
	if (rc)
		return rc;
	off = s->bos_off + s->bos_len;
	s->packet = 1;
	while (!rc && s->packet < s->want) {
		if (++s->old_pages > OGG_MAX_PAGES)
			return -EBADMSG;
		rc = synth_page_at(s, off, &pg, &seq);
		if (!rc)
			rc = synth_header_page(s, &pg);
		if (!rc)
			off = pg.body + pg.body_len;
	}
	if (rc)
		return rc;
	if (s->kind == FORMATS_OGG_VORBIS &&
	    (s->setup.len < 7 || memcmp(s->setup.data, "\x05vorbis", 7)))
		return -EBADMSG;
	if (off != orig->audio_start)
		return -EBADMSG;
	s->audio_off = off;
	return 0;
}

/* Length of the whole page at p (len bytes), or 0 if it is not one. */
static size_t synth_page_len(const uint8_t *p, size_t len)
{
	size_t body = 0, i;

	if (len < OGG_HEADER || memcmp(p, "OggS", 4) || p[4] ||
	    len - OGG_HEADER < p[26])
		return 0;
	for (i = 0; i < p[26]; i++)
		body += p[OGG_HEADER + i];
	if (len - OGG_HEADER - p[26] < body)
		return 0;
	return OGG_HEADER + p[26] + body;
}

/* Is the whole page at p (n bytes) intact? */
static bool synth_page_ok(uint8_t *p, size_t n)
{
	uint32_t want = (uint32_t)p[22] | (uint32_t)p[23] << 8 |
			(uint32_t)p[24] << 16 | (uint32_t)p[25] << 24;
	uint32_t got;

	formats_put_le32(p + 22, 0);
	got = synth_crc(p, n);
	formats_put_le32(p + 22, want);
	return got == want;
}

/*
 * *end: the end of the last intact page in the last bytes of the file
 * (audio_off if none): what follows it is not whole pages.  -ENOTSUP if
 * that page belongs to another logical stream (a chained file).
 */
static int synth_tail(const struct ogg_synth *s, uint64_t *end)
{
	uint64_t size = s->src->size;
	uint64_t start = size - MFS_MIN(size - s->audio_off,
					(uint64_t)OGG_MAX_PAGE);
	size_t len = (size_t)(size - start), i, n;
	uint8_t *p;
	uint32_t serial;
	int rc;

	*end = s->audio_off;
	if (!len)
		return 0;
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	rc = formats_read_exact(s->src, start, p, len);
	for (i = len - MFS_MIN(len, (size_t)OGG_HEADER) + 1; !rc && i-- > 0;) {
		n = synth_page_len(p + i, len - i);
		if (!n || !synth_page_ok(p + i, n))
			continue;
		serial = (uint32_t)p[i + 14] | (uint32_t)p[i + 15] << 8 |
			 (uint32_t)p[i + 16] << 16 | (uint32_t)p[i + 17] << 24;
		if (serial != s->serial)
			rc = -ENOTSUP;
		*end = start + i + n;
		break;
	}
	free(p);
	return rc;
}

/* ---- the comment packet ---- */

/* Is key a valid Vorbis comment field name (0x20-0x7d but '=')? */
static bool synth_key_ok(const char *key)
{
	const char *k;

	for (k = key; *k; k++)
		if (*k < 0x20 || *k > 0x7d || *k == '=')
			return false;
	return k != key;
}

/* Append "KEY=value" (vlen bytes of value); an empty value is left out. */
static int synth_comment_n(struct ogg_synth *s, const char *key,
			   const char *value, size_t vlen)
{
	size_t klen = strlen(key);
	uint8_t len[4];
	int rc;

	if (!vlen)
		return 0;
	/* NEEDSWORK: a key Vorbis comments cannot name is dropped */
	if (!synth_key_ok(key))
		return 0;
	if (vlen > FORMATS_MAX_TAG_BYTES || klen > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	formats_put_le32(len, (uint32_t)(klen + 1 + vlen));
	rc = buf_add(&s->comment, len, sizeof(len));
	if (!rc)
		rc = buf_add(&s->comment, key, klen);
	if (!rc)
		rc = buf_addch(&s->comment, '=');
	if (!rc)
		rc = buf_add(&s->comment, value, vlen);
	if (!rc)
		s->count++;
	return rc;
}

static int synth_comment(struct ogg_synth *s, const char *key,
			 const char *value)
{
	return value ? synth_comment_n(s, key, value, strlen(value)) : 0;
}

/*
 * A field that may hold several values: formats_parse joins them with
 * "; ", so each becomes a comment of its own again.
 */
static int synth_comment_multi(struct ogg_synth *s, const char *key,
			       const char *value)
{
	const char *sep;
	int rc = 0;

	while (value && !rc) {
		sep = strstr(value, "; ");
		if (!sep)
			return synth_comment(s, key, value);
		rc = synth_comment_n(s, key, value, (size_t)(sep - value));
		value = sep + 2;
	}
	return rc;
}

static int synth_number(struct ogg_synth *s, const char *key, int value)
{
	char num[16];

	if (value <= 0)
		return 0;
	snprintf(num, sizeof(num), "%d", value);
	return synth_comment(s, key, num);
}

static int synth_named(struct ogg_synth *s, const struct formats_tags *t)
{
	char year[16];
	int rc;

	rc = synth_comment(s, "TITLE", t->title);
	if (!rc)
		rc = synth_comment_multi(s, "ARTIST", t->artist);
	if (!rc)
		rc = synth_comment(s, "ALBUM", t->album);
	if (!rc)
		rc = synth_comment_multi(s, "ALBUMARTIST", t->album_artist);
	if (!rc)
		rc = synth_comment_multi(s, "GENRE", t->genre);
	if (!rc)
		rc = synth_comment_multi(s, "COMPOSER", t->composer);
	if (!rc && !str_empty(t->date)) {
		rc = synth_comment(s, "DATE", t->date);
	} else if (!rc && t->year > 0) {
		snprintf(year, sizeof(year), "%d", t->year);
		rc = synth_comment(s, "DATE", year);
	}
	if (!rc)
		rc = synth_comment(s, "COMMENT", t->comment);
	if (!rc)
		rc = synth_number(s, "TRACKNUMBER", t->track);
	if (!rc)
		rc = synth_number(s, "TRACKTOTAL", t->track_total);
	if (!rc)
		rc = synth_number(s, "DISCNUMBER", t->disc);
	if (!rc)
		rc = synth_number(s, "DISCTOTAL", t->disc_total);
	if (!rc && t->compilation)
		rc = synth_comment(s, "COMPILATION", "1");
	return rc;
}

static const char synth_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Append n bytes as base64 to b. */
static int synth_base64(struct buf *b, const uint8_t *p, size_t n)
{
	size_t out = (n + 2) / 3 * 4, i;
	uint32_t v;
	char *d;

	if (n > FORMATS_MAX_TAG_BYTES || out > b->max - MFS_MIN(b->len, b->max))
		return -EFBIG;
	d = buf_grow(b, out);
	if (!d)
		return -ENOMEM;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*d++ = synth_b64[v >> 18];
		*d++ = synth_b64[(v >> 12) & 63];
		*d++ = synth_b64[(v >> 6) & 63];
		*d++ = synth_b64[v & 63];
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		*d++ = synth_b64[v >> 18];
		*d++ = synth_b64[(v >> 12) & 63];
		*d++ = i + 1 < n ? synth_b64[(v >> 6) & 63] : '=';
		*d++ = '=';
	}
	b->len += out;
	b->data[b->len] = '\0';
	return 0;
}

/* A FLAC PICTURE block of image (n bytes): caller frees *blk. */
static int synth_picture_block(const struct formats_picture *pic,
			       const uint8_t *image, size_t n, uint8_t **blk,
			       size_t *blk_len)
{
	struct formats_picture sniffed = { 0 };
	const char *mime = pic->mime;
	size_t mlen = strnlen(pic->mime, sizeof(pic->mime));
	uint8_t *p;

	if (!mlen) {
		formats_picture_sniff(&sniffed, image, n);
		mime = sniffed.mime;
		mlen = strnlen(sniffed.mime, sizeof(sniffed.mime));
	}
	*blk_len = 32 + mlen + n;
	p = malloc(*blk_len);
	*blk = p;
	if (!p)
		return -ENOMEM;
	formats_put_be32(p, pic->type);
	formats_put_be32(p + 4, (uint32_t)mlen);
	memcpy(p + 8, mime, mlen);
	p += 8 + mlen;
	memset(p, 0, 20);	/* description, width, height, depth, colors */
	formats_put_be32(p + 20, (uint32_t)n);
	if (n)
		memcpy(p + 24, image, n);
	return 0;
}

/* METADATA_BLOCK_PICTURE: base64 of a FLAC picture block. */
static int synth_picture(struct ogg_synth *s,
			 const struct formats_picture *pic)
{
	uint8_t *image = NULL, *blk = NULL;
	const uint8_t *img = pic->data;
	size_t n = pic->data_len, blk_len;
	uint8_t len[4];
	int rc;

	if (!pic->data) {
		if (pic->length > FORMATS_MAX_TAG_BYTES)
			return -EFBIG;
		n = (size_t)pic->length;
		image = malloc(n ? n : 1);
		if (!image)
			return -ENOMEM;
		rc = formats_read_exact(s->src, pic->offset, image, n);
		if (rc)
			goto out;
		img = image;
	}
	if (n > FORMATS_MAX_TAG_BYTES) {
		rc = -EFBIG;
		goto out;
	}
	rc = synth_picture_block(pic, img, n, &blk, &blk_len);
	if (rc)
		goto out;
	formats_put_le32(len, (uint32_t)(strlen(OGG_PICTURE_KEY) +
				   (blk_len + 2) / 3 * 4));
	rc = buf_add(&s->comment, len, sizeof(len));
	if (!rc)
		rc = buf_adds(&s->comment, OGG_PICTURE_KEY);
	if (!rc)
		rc = synth_base64(&s->comment, blk, blk_len);
	if (!rc)
		s->count++;
out:
	free(blk);
	free(image);
	return rc;
}

/* The new comment packet, in s->comment. */
static int synth_comments(struct ogg_synth *s, const struct formats_tags *t,
			  const struct formats_picture *pic)
{
	uint8_t len[4];
	size_t count_at, i;
	int rc;

	if (s->kind == FORMATS_OGG_VORBIS)
		rc = buf_add(&s->comment, "\x03vorbis", 7);
	else
		rc = buf_add(&s->comment, "OpusTags", 8);
	formats_put_le32(len, (uint32_t)strlen(OGG_VENDOR));
	if (!rc)
		rc = buf_add(&s->comment, len, sizeof(len));
	if (!rc)
		rc = buf_adds(&s->comment, OGG_VENDOR);
	count_at = s->comment.len;
	if (!rc)
		rc = buf_add(&s->comment, len, sizeof(len));
	if (!rc)
		rc = synth_named(s, t);
	for (i = 0; !rc && i < t->n_extra; i++)
		if (t->extra[i].key)
			rc = synth_comment(s, t->extra[i].key,
					   t->extra[i].value);
	if (!rc && pic && pic->present)
		rc = synth_picture(s, pic);
	if (!rc && s->kind == FORMATS_OGG_VORBIS)
		rc = buf_addch(&s->comment, 1);		/* framing bit */
	if (!rc)
		formats_put_le32((uint8_t *)s->comment.data + count_at, s->count);
	return rc;
}

/* ---- pages ---- */

/* Where a page starts in the packets being laid out. */
struct ogg_cursor {
	size_t pi;		/* packet */
	size_t pos;		/* byte in it */
};

/*
 * Lay out the next page at *c: its lacing values into page (after the
 * header), its body after them.  Returns the page length; *ended tells
 * whether a packet ends on it.  c moves to the next page's start.
 */
static size_t synth_fill_page(uint8_t *page, const struct ogg_packet_ref *pk,
			      size_t npk, struct ogg_cursor *c, bool *ended)
{
	uint8_t *body;
	size_t nseg = 0, left, v;

	*ended = false;
	body = page + OGG_HEADER + 255;	/* moved in place below */
	while (nseg < 255 && c->pi < npk) {
		left = pk[c->pi].len - c->pos;
		v = MFS_MIN(left, (size_t)255);
		page[OGG_HEADER + nseg++] = (uint8_t)v;
		memcpy(body, pk[c->pi].p + c->pos, v);
		body += v;
		c->pos += v;
		if (v < 255) {
			c->pi++;
			c->pos = 0;
			*ended = true;
		}
	}
	page[26] = (uint8_t)nseg;
	v = (size_t)(body - (page + OGG_HEADER + 255));
	memmove(page + OGG_HEADER + nseg, page + OGG_HEADER + 255, v);
	return OGG_HEADER + nseg + v;
}

/* Append the header pages carrying packets pk, the last one flushed. */
static int synth_pages(struct ogg_synth *s, const struct ogg_packet_ref *pk,
		       size_t npk, struct formats_synth *out)
{
	struct ogg_cursor c = { 0, 0 };
	uint8_t *page;
	bool ended, cont;
	size_t n;
	int rc = 0;

	page = malloc(OGG_MAX_PAGE);
	if (!page)
		return -ENOMEM;
	while (!rc && c.pi < npk) {
		cont = c.pos > 0;
		n = synth_fill_page(page, pk, npk, &c, &ended);
		memcpy(page, "OggS", 5);
		page[5] = cont ? 1 : 0;
		formats_put_le32(page + 6, ended ? 0 : UINT32_MAX);
		formats_put_le32(page + 10, ended ? 0 : UINT32_MAX);
		formats_put_le32(page + 14, s->serial);
		formats_put_le32(page + 18, s->seq++);
		formats_put_le32(page + 22, 0);
		formats_put_le32(page + 22, synth_crc(page, n));
		s->new_pages++;
		rc = formats_synth_add_bytes(out, page, n);
	}
	free(page);
	return rc;
}

/* The audio pages: renumbered as a whole, any tail that is not as it is. */
static int synth_audio(struct ogg_synth *s, struct formats_synth *out)
{
	int64_t delta = (int64_t)s->new_pages - (int64_t)s->old_pages;
	uint64_t size = s->src->size, end;
	int rc;

	if (s->audio_off >= size)
		return 0;
	rc = synth_tail(s, &end);
	if (rc)
		return rc;
	if (delta == 0)
		return formats_synth_add_origin(out, s->audio_off,
						size - s->audio_off);
	if (end > s->audio_off) {
		rc = formats_synth_add_origin(out, s->audio_off,
					      end - s->audio_off);
		if (rc)
			return rc;
		out->segs[out->n_segs - 1].ogg_seq_delta = (int32_t)delta;
		out->segs[out->n_segs - 1].ogg_serial = s->serial;
	}
	return formats_synth_add_origin(out, end, size - end);
}

static int ogg_synthesize(const struct formats_source *src,
			  const struct formats_meta *orig,
			  const struct formats_tags *tags,
			  const struct formats_picture *picture,
			  struct formats_synth *out)
{
	struct ogg_packet_ref pk[2];
	struct ogg_synth s;
	int rc;

	if (orig->kind != FORMATS_OGG_VORBIS && orig->kind != FORMATS_OPUS)
		return -EBADMSG;
	memset(&s, 0, sizeof(s));
	s.src = src;
	s.kind = orig->kind;
	s.want = s.kind == FORMATS_OGG_VORBIS ? 3 : 2;
	buf_init(&s.setup, FORMATS_MAX_TAG_BYTES);
	buf_init(&s.comment, FORMATS_MAX_TAG_BYTES);
	rc = synth_scan(&s, orig);
	if (!rc)
		rc = synth_comments(&s, tags, picture);
	if (!rc)
		rc = formats_synth_add_origin(out, s.bos_off, s.bos_len);
	if (rc)
		goto out;
	pk[0].p = (const uint8_t *)s.comment.data;
	pk[0].len = s.comment.len;
	pk[1].p = (const uint8_t *)s.setup.data;
	pk[1].len = s.setup.len;
	rc = synth_pages(&s, pk, s.kind == FORMATS_OGG_VORBIS ? 2 : 1, out);
	if (!rc)
		rc = synth_audio(&s, out);
out:
	buf_release(&s.comment);
	buf_release(&s.setup);
	return rc;
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
	.synthesize = ogg_synthesize,
};
