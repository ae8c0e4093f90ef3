/*
 * ogg_synth.c - a new header for an Ogg Vorbis or Opus file.
 *
 * A synthesized Ogg file: the identification page of the origin as it is,
 * new pages carrying the new comment packet (and, for Vorbis, the setup
 * packet copied from the origin, as the two share pages), then the audio
 * pages of the origin, renumbered on read by the difference in header
 * pages.  Only files of one logical stream: a multiplexed or chained file
 * gives -ENOTSUP, as does a header page that also carries audio.
 *
 * A cover the origin keeps as base64 text (a FORMATS_PIC_OGG_BASE64
 * picture of src) is not decoded and encoded again: the new comment packet
 * carries the origin's text as it is.  Of the origin pages that hold the
 * text, those wholly inside it are kept as they are (origin ranges,
 * renumbered on read like the audio pages), and only the text at its two
 * ends is read and laid out in new pages, so a synthesis costs the same
 * whatever the size of the cover.  Kept pages only fit if the new packet
 * is cut into pages where the old one was, and a packet can only be cut
 * every 255 bytes: so the vendor string gets up to 254 spaces, putting the
 * text at the offset it had modulo 255.  A picture in memory (or a range
 * of the file) is encoded to base64 and laid out in new pages.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"
#include "formats/ogg_i.h"

#include <strings.h>

#define OGG_VENDOR "MusicFS"

/* A header page of the origin after the identification page. */
struct ogg_hpage {
	uint64_t off;		/* of "OggS" */
	uint64_t body;		/* its body in the file */
	uint64_t pos;		/* ... in the header packets after id */
	uint32_t body_len;
	uint32_t seq;
	bool plain;		/* inside a packet, as we would write it */
};

/* Origin pages kept as they are: part of the text of a kept picture. */
struct ogg_keep {
	uint64_t at;		/* where their bytes are in the new packet */
	uint64_t len;		/* packet bytes they carry */
	uint64_t off;		/* the pages in the file */
	uint64_t bytes;
	uint32_t seq;		/* sequence number of the first */
	unsigned npages;
};

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
	unsigned new_pages;	/* pages made or kept after the BOS page */
	uint64_t audio_off;	/* the first audio page */
	struct ogg_hpage *pages;	/* the old header pages after the BOS */
	size_t npages;
	size_t pages_alloc;
	uint64_t pos;		/* header packet bytes seen so far */
	uint64_t comment_end;	/* where the old comment packet ends */
	struct buf setup;	/* the Vorbis setup packet of the origin */
	struct buf comment;	/* the new comment packet, but kept pages */
	size_t count_at;	/* where its comment count is */
	uint32_t count;		/* comments in it */
	struct ogg_keep *keep;	/* kept pages, in order */
	size_t nkeep;
};

/* The page header at off, whose body must be within the file. */
static int synth_page_at(const struct ogg_synth *s, uint64_t off,
			 struct ogg_page *pg)
{
	uint8_t h[OGG_HEADER + 255];
	size_t n;
	int rc;

	if (off >= s->src->size)
		return -EBADMSG;
	n = (size_t)MFS_MIN(s->src->size - off, (uint64_t)sizeof(h));
	rc = formats_read_exact(s->src, off, h, n);
	if (rc)
		return rc;
	if (!ogg_page_parse(h, n, off, pg) ||
	    pg->body_len > s->src->size - MFS_MIN(pg->body, s->src->size))
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
	unsigned i;
	int rc;

	rc = synth_page_at(s, off, &pg);
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
	s->seq = pg.seq + 1;
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

/* Remember a header page of the origin (its body starts at s->pos). */
static int synth_note_page(struct ogg_synth *s, const struct ogg_page *pg)
{
	struct ogg_hpage *h;
	unsigned i;

	if (s->npages == s->pages_alloc) {
		s->pages_alloc = MFS_MAX(s->pages_alloc * 2, (size_t)8);
		h = realloc(s->pages, s->pages_alloc * sizeof(*h));
		if (!h)
			return -ENOMEM;
		s->pages = h;
	}
	h = &s->pages[s->npages++];
	h->off = pg->off;
	h->body = pg->body;
	h->pos = s->pos;
	h->body_len = pg->body_len;
	h->seq = pg->seq;
	h->plain = pg->type == 1 && pg->granule == UINT64_MAX && pg->nsegs;
	for (i = 0; i < pg->nsegs; i++)
		h->plain = h->plain && pg->lacing[i] == 255;
	return 0;
}

/* Walk the segments of a header page of the origin. */
static int synth_header_page(struct ogg_synth *s, const struct ogg_page *pg)
{
	size_t at = 0, from = 0, to = 0;
	unsigned i;
	int rc;

	if (pg->serial != s->serial || (pg->type & 2))
		return -ENOTSUP;	/* multiplexed */
	if (!(pg->type & 1) != !s->mid)
		return -EBADMSG;
	rc = synth_note_page(s, pg);
	for (i = 0; !rc && i < pg->nsegs; i++) {
		if (s->packet >= s->want)
			return -ENOTSUP;	/* audio on a header page */
		if (s->packet == 2 && from == to)
			from = to = at;
		at += pg->lacing[i];
		s->pos += pg->lacing[i];
		if (s->packet == 2)
			to = at;
		s->mid = pg->lacing[i] == 255;
		if (!s->mid && s->packet++ == 1)
			s->comment_end = s->pos;
	}
	return rc ? rc : synth_take_setup(s, pg, from, to);
}

/* Check the origin's header pages and find where the audio starts. */
static int synth_scan(struct ogg_synth *s, const struct formats_meta *orig)
{
	struct ogg_page pg;
	uint64_t off;
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
		rc = synth_page_at(s, off, &pg);
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
	got = formats_ogg_crc(p, n);
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

/* Append n bytes of base64 for the n bytes at p to b. */
static int synth_base64(struct buf *b, const uint8_t *p, size_t n)
{
	size_t out = (n + 2) / 3 * 4;
	char *d;

	if (n > FORMATS_MAX_TAG_BYTES || out > b->max - MFS_MIN(b->len, b->max))
		return -EFBIG;
	d = buf_grow(b, out);
	if (!d)
		return -ENOMEM;
	b->len += formats_b64_encode(p, n, d);
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

/* The item header of METADATA_BLOCK_PICTURE with len characters. */
static int synth_picture_key(struct ogg_synth *s, uint64_t len)
{
	uint8_t le[4];
	int rc;

	if (len > UINT32_MAX - OGG_PICTURE_KEY_LEN)
		return -EFBIG;
	formats_put_le32(le, (uint32_t)(OGG_PICTURE_KEY_LEN + len));
	rc = buf_add(&s->comment, le, sizeof(le));
	if (!rc)
		rc = buf_adds(&s->comment, OGG_PICTURE_KEY);
	if (!rc)
		s->count++;
	return rc;
}

/* METADATA_BLOCK_PICTURE: base64 of a FLAC picture block. */
static int synth_picture(struct ogg_synth *s,
			 const struct formats_picture *pic)
{
	uint8_t *image = NULL, *blk = NULL;
	const uint8_t *img = pic->data;
	size_t n = pic->data_len, blk_len;
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
	if (!rc)
		rc = synth_picture_key(s, (blk_len + 2) / 3 * 4);
	if (!rc)
		rc = synth_base64(&s->comment, blk, blk_len);
out:
	free(blk);
	free(image);
	return rc;
}

/* ---- a picture kept as the origin's text ---- */

/* The old header page holding header packet byte pos (binary search). */
static size_t synth_page_of(const struct ogg_synth *s, uint64_t pos)
{
	return mfs_floor_index(s->pages, s->npages, sizeof(s->pages[0]),
			       offsetof(struct ogg_hpage, pos), pos);
}

/* Copy len bytes at pos of the old header packets to dst. */
static int synth_packet_read(const struct ogg_synth *s, uint64_t pos,
			     uint8_t *dst, size_t len)
{
	const struct ogg_hpage *h;
	size_t i, k;
	int rc;

	for (i = synth_page_of(s, pos); len; i++) {
		if (i >= s->npages)
			return -EBADMSG;
		h = &s->pages[i];
		if (pos < h->pos || pos - h->pos >= h->body_len)
			continue;	/* an empty page */
		k = (size_t)MFS_MIN((uint64_t)len,
				    h->body_len - (pos - h->pos));
		rc = formats_read_exact(s->src, h->body + (pos - h->pos), dst,
					k);
		if (rc)
			return rc;
		dst += k;
		pos += k;
		len -= k;
	}
	return 0;
}

/* Append len bytes at pos of the old header packets to b. */
static int synth_packet_append(const struct ogg_synth *s, uint64_t pos,
			       struct buf *b, size_t len)
{
	char *d;
	int rc;

	if (len > b->max - MFS_MIN(b->len, b->max))
		return -EFBIG;
	d = buf_grow(b, len);
	if (!d)
		return -ENOMEM;
	rc = synth_packet_read(s, pos, (uint8_t *)d, len);
	if (rc)
		return rc;
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Characters of a base64 value in the old packets (ogg_text_fn). */
struct synth_text {
	const struct ogg_synth *s;
	uint64_t at;		/* where the value starts */
};

static int synth_text(void *ctx, struct buf *text, size_t want)
{
	const struct synth_text *t = ctx;

	return synth_packet_append(t->s, t->at + text->len, text,
				   want - text->len);
}

/* The header packet byte at file offset off (binary search). */
static int synth_pos_of(const struct ogg_synth *s, uint64_t off,
			uint64_t *pos)
{
	size_t lo = 0, hi = s->npages;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ogg_hpage *h = &s->pages[mid];

		if (off < h->body) {
			hi = mid;
		} else if (off - h->body >= h->body_len) {
			lo = mid + 1;
		} else {
			*pos = h->pos + (off - h->body);
			return 0;
		}
	}
	return -EBADMSG;
}

/*
 * Where the text of pic is in the old comment packet: [*at, *at + *len).
 * -EBADMSG unless a METADATA_BLOCK_PICTURE comment starts there whose
 * block header matches pic (the file changed since it was parsed).
 */
static int synth_find_text(const struct ogg_synth *s,
			   const struct formats_picture *pic, uint64_t *at,
			   uint64_t *len)
{
	uint8_t item[4 + OGG_PICTURE_KEY_LEN];
	struct synth_text t = { s, 0 };
	struct formats_picture found;
	uint32_t ilen;
	size_t used;
	int rc;

	rc = synth_pos_of(s, pic->offset, at);
	if (rc || *at < sizeof(item) || *at > s->comment_end)
		return -EBADMSG;
	rc = synth_packet_read(s, *at - sizeof(item), item, sizeof(item));
	if (rc)
		return rc;
	ilen = (uint32_t)item[0] | (uint32_t)item[1] << 8 |
	       (uint32_t)item[2] << 16 | (uint32_t)item[3] << 24;
	if (strncasecmp((const char *)item + 4, OGG_PICTURE_KEY,
			OGG_PICTURE_KEY_LEN) || ilen < OGG_PICTURE_KEY_LEN ||
	    ilen - OGG_PICTURE_KEY_LEN > s->comment_end - *at)
		return -EBADMSG;
	*len = ilen - OGG_PICTURE_KEY_LEN;
	t.at = *at;
	rc = ogg_picture_peek(synth_text, &t, *len, &found, &used);
	if (rc)
		return rc < 0 ? rc : -EBADMSG;
	if (!found.present || found.type != pic->type ||
	    found.length != pic->length)
		return -EBADMSG;
	return 0;
}

/*
 * The old pages wholly inside the text [at, at + len) that can be kept,
 * in runs of consecutive pages; keep[].at is relative to the text.
 */
static int synth_find_keeps(struct ogg_synth *s, uint64_t at, uint64_t len)
{
	const struct ogg_hpage *h;
	struct ogg_keep *k = NULL;
	size_t i, last = SIZE_MAX;

	for (i = 0; i < s->npages; i++) {
		h = &s->pages[i];
		if (!h->plain || h->pos < at || h->pos - at > len ||
		    h->body_len > len - (h->pos - at) || h->pos % 255)
			continue;
		if (k && last + 1 == i && h->seq == k->seq + k->npages) {
			k->len += h->body_len;
			k->bytes = h->body + h->body_len - k->off;
			k->npages++;
			last = i;
			continue;
		}
		k = realloc(s->keep, (s->nkeep + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
		s->keep = k;
		k = &s->keep[s->nkeep++];
		k->at = h->pos - at;
		k->len = h->body_len;
		k->off = h->off;
		k->bytes = h->body + h->body_len - h->off;
		k->seq = h->seq;
		k->npages = 1;
		last = i;
	}
	return 0;
}

/*
 * Pad the vendor string so that text put next (after the item header)
 * starts at the offset it had in the old packet, modulo 255.
 */
static int synth_pad_vendor(struct ogg_synth *s, uint64_t at)
{
	size_t vend = s->count_at;	/* the vendor string ends there */
	size_t start = s->comment.len + 4 + OGG_PICTURE_KEY_LEN;
	size_t pad = (size_t)((at % 255 + 255 - start % 255) % 255);
	size_t vlen_at = vend - strlen(OGG_VENDOR) - 4;
	char *d;

	if (!pad)
		return 0;
	if (pad > s->comment.max - MFS_MIN(s->comment.len, s->comment.max))
		return -EFBIG;
	d = buf_grow(&s->comment, pad);
	if (!d)
		return -ENOMEM;
	memmove(s->comment.data + vend + pad, s->comment.data + vend,
		s->comment.len - vend);
	memset(s->comment.data + vend, ' ', pad);
	s->comment.len += pad;
	s->comment.data[s->comment.len] = '\0';
	formats_put_le32((uint8_t *)s->comment.data + vlen_at,
			 (uint32_t)(strlen(OGG_VENDOR) + pad));
	s->count_at += pad;
	return 0;
}

/* METADATA_BLOCK_PICTURE with the origin's own text for pic. */
static int synth_picture_text(struct ogg_synth *s,
			      const struct formats_picture *pic)
{
	uint64_t at, len, done = 0;
	size_t i, base;
	int rc;

	rc = synth_find_text(s, pic, &at, &len);
	if (!rc)
		rc = synth_find_keeps(s, at, len);
	if (!rc && s->nkeep)
		rc = synth_pad_vendor(s, at);
	if (!rc)
		rc = synth_picture_key(s, len);
	base = s->comment.len;	/* kept pages all come after this */
	for (i = 0; !rc && i < s->nkeep; i++) {
		rc = synth_packet_append(s, at + done, &s->comment,
					 (size_t)(s->keep[i].at - done));
		done = s->keep[i].at + s->keep[i].len;
		s->keep[i].at += base;
	}
	if (!rc)
		rc = synth_packet_append(s, at + done, &s->comment,
					 (size_t)(len - done));
	return rc;
}

/* The new comment packet, in s->comment (s->keep: what it leaves out). */
static int synth_comments(struct ogg_synth *s, const struct formats_tags *t,
			  const struct formats_picture *pic)
{
	uint8_t len[4];
	size_t i;
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
	s->count_at = s->comment.len;
	if (!rc)
		rc = buf_add(&s->comment, len, sizeof(len));
	if (!rc)
		rc = synth_named(s, t);
	for (i = 0; !rc && i < t->n_extra; i++)
		if (t->extra[i].key)
			rc = synth_comment(s, t->extra[i].key,
					   t->extra[i].value);
	/* the picture last: kept pages come after everything in memory */
	if (!rc && pic && pic->present) {
		if (pic->store == FORMATS_PIC_OGG_BASE64 && !pic->data)
			rc = synth_picture_text(s, pic);
		else
			rc = synth_picture(s, pic);
	}
	if (!rc && s->kind == FORMATS_OGG_VORBIS)
		rc = buf_addch(&s->comment, 1);		/* framing bit */
	if (!rc)
		formats_put_le32((uint8_t *)s->comment.data + s->count_at,
				 s->count);
	return rc;
}

/* ---- pages ---- */

/* A packet to lay out: len bytes, those outside the kept pages at mem. */
struct ogg_packet_ref {
	const uint8_t *mem;
	uint64_t len;
	const struct ogg_keep *keep;	/* in order */
	size_t nkeep;
};

/* A new page being filled. */
struct ogg_pagebuf {
	uint8_t *page;		/* header, 255 lacing values, body */
	unsigned nseg;
	size_t body;		/* bytes of body so far */
	bool cont;		/* it starts inside a packet */
	bool ended;		/* a packet ends on it */
};

/* Append the page being filled, if it has segments, and start another. */
static int synth_flush(struct ogg_synth *s, struct ogg_pagebuf *pb,
		       struct formats_synth *out)
{
	uint8_t *p = pb->page;
	size_t n;

	if (!pb->nseg)
		return 0;
	memmove(p + OGG_HEADER + pb->nseg, p + OGG_HEADER + 255, pb->body);
	memcpy(p, "OggS", 5);
	p[5] = pb->cont ? 1 : 0;
	formats_put_le32(p + 6, pb->ended ? 0 : UINT32_MAX);
	formats_put_le32(p + 10, pb->ended ? 0 : UINT32_MAX);
	formats_put_le32(p + 14, s->serial);
	formats_put_le32(p + 18, s->seq++);
	formats_put_le32(p + 22, 0);
	p[26] = (uint8_t)pb->nseg;
	n = OGG_HEADER + pb->nseg + pb->body;
	formats_put_le32(p + 22, formats_ogg_crc(p, n));
	s->new_pages++;
	pb->cont = p[OGG_HEADER + pb->nseg - 1] == 255;
	pb->nseg = 0;
	pb->body = 0;
	pb->ended = false;
	return formats_synth_add_bytes(out, p, n);
}

/* Append kept origin pages, renumbered on read if need be. */
static int synth_kept(struct ogg_synth *s, const struct ogg_keep *k,
		      struct formats_synth *out)
{
	int32_t delta = (int32_t)(s->seq - k->seq);
	int rc;

	rc = formats_synth_add_origin(out, k->off, k->bytes);
	if (!rc && delta) {
		out->segs[out->n_segs - 1].ogg_seq_delta = delta;
		out->segs[out->n_segs - 1].ogg_serial = s->serial;
	}
	s->seq += k->npages;
	s->new_pages += k->npages;
	return rc;
}

/*
 * Lay out packet pk: 255-byte segments into new pages, kept pages as
 * they are (they start on a segment boundary: the page before is
 * flushed there).
 */
static int synth_packet(struct ogg_synth *s, struct ogg_pagebuf *pb,
			const struct ogg_packet_ref *pk,
			struct formats_synth *out)
{
	const uint8_t *mem = pk->mem;
	uint64_t pos = 0;
	size_t k = 0, seg;
	int rc = 0;

	for (;;) {
		if (k < pk->nkeep && pos == pk->keep[k].at) {
			rc = synth_flush(s, pb, out);
			if (!rc)
				rc = synth_kept(s, &pk->keep[k], out);
			if (rc)
				return rc;
			pos += pk->keep[k++].len;
			pb->cont = true;
			continue;
		}
		if (pb->nseg == 255) {
			rc = synth_flush(s, pb, out);
			if (rc)
				return rc;
		}
		seg = (size_t)MFS_MIN(pk->len - pos, (uint64_t)255);
		pb->page[OGG_HEADER + pb->nseg++] = (uint8_t)seg;
		memcpy(pb->page + OGG_HEADER + 255 + pb->body, mem, seg);
		pb->body += seg;
		mem += seg;
		pos += seg;
		if (seg < 255) {
			pb->ended = true;
			return 0;
		}
	}
}

/* The new header pages: the comment packet, then the setup packet. */
static int synth_pages(struct ogg_synth *s, struct formats_synth *out)
{
	struct ogg_packet_ref pk[2] = {
		{ (const uint8_t *)s->comment.data, s->comment.len, s->keep,
		  s->nkeep },
		{ (const uint8_t *)s->setup.data, s->setup.len, NULL, 0 },
	};
	struct ogg_pagebuf pb = { 0 };
	size_t i;
	int rc = 0;

	for (i = 0; i < s->nkeep; i++)
		pk[0].len += s->keep[i].len;
	pb.page = malloc(OGG_MAX_PAGE);
	if (!pb.page)
		return -ENOMEM;
	for (i = 0; !rc && i < (s->kind == FORMATS_OGG_VORBIS ? 2u : 1u); i++)
		rc = synth_packet(s, &pb, &pk[i], out);
	if (!rc)
		rc = synth_flush(s, &pb, out);
	free(pb.page);
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

int formats_ogg_synthesize(const struct formats_source *src,
			   const struct formats_meta *orig,
			   const struct formats_tags *tags,
			   const struct formats_picture *picture,
			   struct formats_synth *out)
{
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
	if (!rc)
		rc = synth_pages(&s, out);
	if (!rc)
		rc = synth_audio(&s, out);
	buf_release(&s.comment);
	buf_release(&s.setup);
	free(s.keep);
	free(s.pages);
	return rc;
}
