/*
 * mp4.c - MPEG-4 audio files (M4A, M4B, MP4, 3GP): iTunes-style tags.
 *
 * An MP4 file is a tree of atoms (32-bit size, four-character type; size
 * 1 means a 64-bit size follows, 0 means "to the end of the parent").
 * The tree is walked by reading atom headers only; the bodies read are
 * the few leaves that matter: mvhd and mdhd (time scale and duration),
 * hdlr (is the track sound?), stsd (channels, sample rate; esds for the
 * average bitrate) and the items of moov/udta/meta/ilst (or moov/meta/
 * ilst).  Sample tables, which can be megabytes, are never read, and
 * neither is cover art: its offset in the file is recorded.  moov may come
 * before or after mdat; the audio range is the body of the first mdat.
 *
 * Items: ©nam ©ART aART ©alb ©gen gnre ©wrt ©day ©cmt trkn disk cpil
 * covr are named fields; "----" freeform items are kept in extra as
 * "----:mean:name"; other text and integer items as their four characters.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

/* Nesting followed at most (moov/udta/meta/ilst/item/data is 6). */
#define MP4_MAX_DEPTH 12
/* Atoms looked at, at most, in the whole file. */
#define MP4_MAX_ATOMS 100000
/* Bytes of an stsd atom read. */
#define MP4_STSD_MAX 4096

struct mp4_atom {
	uint64_t off;		/* of the header */
	uint64_t body;		/* of the body */
	uint64_t end;		/* of the atom */
	char type[5];
};

/* The track being walked. */
struct mp4_track {
	bool sound;
	uint32_t scale;
	uint64_t duration;
	uint32_t rate;
	uint16_t channels;
	uint32_t avg_bitrate;
	uint32_t config_rate;	/* AAC: the output rate (HE-AAC: SBR) */
};

struct mp4_state {
	struct formats_ctx *ctx;
	unsigned atoms;
	bool moov;
	bool mdat;
	uint64_t mdat_off;
	uint64_t mdat_len;
	uint32_t mvhd_scale;
	uint64_t mvhd_duration;
	bool have_sound;
	struct mp4_track sound;	/* the first sound track */
	struct mp4_track trak;	/* the track being walked */
};

static const char mp4_item_keys[][2][12] = {
	{ "\xa9nam", "TITLE" },	      { "\xa9" "ART", "ARTIST" },
	{ "aART", "ALBUMARTIST" },    { "\xa9" "alb", "ALBUM" },
	{ "\xa9gen", "GENRE" },	      { "\xa9wrt", "COMPOSER" },
	{ "\xa9" "day", "DATE" },     { "\xa9" "cmt", "COMMENT" },
	{ "trkn", "TRACKNUMBER" },    { "disk", "DISCNUMBER" },
	{ "cpil", "COMPILATION" },
};

static int mp4_walk(struct mp4_state *s, uint64_t off, uint64_t end,
		    unsigned depth, const char *parent);

/*
 * Read the header of the atom at off inside [off, end).  1 and *a, 0 if
 * there is no valid atom there, or -errno.
 */
static int mp4_atom_at(struct mp4_state *s, uint64_t off, uint64_t end,
		       struct mp4_atom *a)
{
	struct formats_chunk c;
	struct byte_reader r;
	uint64_t size;
	unsigned hlen = 8;
	int rc;

	if (end - off < 8 || ++s->atoms > MP4_MAX_ATOMS)
		return 0;
	rc = formats_fetch(s->ctx, off, 16, &c);
	if (rc || c.len < 8) {
		formats_chunk_release(&c);
		return rc;
	}
	byte_reader_init(&r, c.p, c.len);
	size = byte_reader_be32(&r);
	memcpy(a->type, c.p + 4, 4);
	a->type[4] = '\0';
	byte_reader_skip(&r, 4);
	if (size == 1) {
		size = byte_reader_be64(&r);
		hlen = 16;
	} else if (size == 0) {
		size = end - off;
	}
	formats_chunk_release(&c);
	if (r.failed || size < hlen)
		return 0;
	a->off = off;
	a->body = off + hlen;
	/* an atom cut by the end of the file or its parent: clamp it */
	a->end = size > end - off ? end : off + size;
	return 1;
}

/* ---- technical info ---------------------------------------------------- */

/* mvhd and mdhd: version, times, time scale, duration. */
static int mp4_header(struct mp4_state *s, const struct mp4_atom *a,
		      uint32_t *scale, uint64_t *duration)
{
	struct formats_chunk c;
	struct byte_reader r;
	int rc;

	rc = formats_fetch(s->ctx, a->body, 32, &c);
	if (!rc) {
		byte_reader_init(&r, c.p, c.len);
		if (byte_reader_u8(&r) == 1) {
			byte_reader_skip(&r, 3 + 16);
			*scale = byte_reader_be32(&r);
			*duration = byte_reader_be64(&r);
		} else {
			byte_reader_skip(&r, 3 + 8);
			*scale = byte_reader_be32(&r);
			*duration = byte_reader_be32(&r);
			if (*duration == UINT32_MAX)
				*duration = 0;
		}
		if (r.failed)
			*scale = 0;
	}
	formats_chunk_release(&c);
	return rc;
}

static int mp4_hdlr(struct mp4_state *s, const struct mp4_atom *a)
{
	struct formats_chunk c;
	int rc;

	rc = formats_fetch(s->ctx, a->body, 12, &c);
	if (!rc && c.len == 12 && !memcmp(c.p + 8, "soun", 4))
		s->trak.sound = true;
	formats_chunk_release(&c);
	return rc;
}

/* The length of an MPEG-4 descriptor (up to four 7-bit bytes). */
static uint32_t esds_len(struct byte_reader *r)
{
	uint32_t len = 0;
	uint8_t b;
	int i;

	for (i = 0; i < 4; i++) {
		b = byte_reader_u8(r);
		len = len << 7 | (b & 0x7f);
		if (!(b & 0x80))
			break;
	}
	return len;
}

/* esds: ES descriptor, then the decoder config with the bitrates. */
static void mp4_esds(struct mp4_track *t, struct byte_reader *r)
{
	uint8_t flags;
	size_t len;

	byte_reader_skip(r, 4);	/* version, flags */
	if (byte_reader_u8(r) != 3)
		return;
	esds_len(r);
	byte_reader_skip(r, 2);	/* ES id */
	flags = byte_reader_u8(r);
	if (flags & 0x80)
		byte_reader_skip(r, 2);
	if (flags & 0x40)
		byte_reader_skip(r, byte_reader_u8(r));
	if (flags & 0x20)
		byte_reader_skip(r, 2);
	if (byte_reader_u8(r) != 4)
		return;
	esds_len(r);
	/* object type, stream type, buffer size, maximum bitrate */
	byte_reader_skip(r, 1 + 1 + 3 + 4);
	t->avg_bitrate = byte_reader_be32(r);
	if (r->failed) {
		t->avg_bitrate = 0;
		return;
	}
	if (byte_reader_u8(r) != 5)
		return;
	len = esds_len(r);
	len = MFS_MIN(len, byte_reader_left(r));
	t->config_rate = formats_aac_config_rate(byte_reader_ptr(r), len);
}

/* The first sample entry of an stsd atom. */
static void mp4_sample_entry(struct mp4_track *t, struct byte_reader *r)
{
	struct byte_reader e;
	struct byte_reader child;
	uint32_t size;
	uint32_t csize;
	uint16_t version;
	uint64_t bits;
	double rate;

	byte_reader_skip(r, 8);	/* version, flags, entry count */
	size = byte_reader_be32(r);
	if (size < 36 || byte_reader_sub(r, MFS_MIN(size - 4,
						    byte_reader_left(r)), &e))
		return;
	byte_reader_skip(&e, 4 + 6 + 2);	/* format, reserved, ref */
	version = byte_reader_be16(&e);
	byte_reader_skip(&e, 6);
	t->channels = byte_reader_be16(&e);
	byte_reader_skip(&e, 6);
	t->rate = byte_reader_be32(&e) >> 16;
	if (version == 1) {
		byte_reader_skip(&e, 16);
	} else if (version == 2) {
		byte_reader_skip(&e, 4);
		bits = byte_reader_be64(&e);
		memcpy(&rate, &bits, sizeof(rate));
		t->channels = (uint16_t)byte_reader_be32(&e);
		byte_reader_skip(&e, 20);
		t->rate = rate > 0 && rate < 1e7 ? (uint32_t)rate : 0;
	}
	while (!e.failed && byte_reader_left(&e) >= 8) {
		csize = byte_reader_be32(&e);
		if (csize < 8 || byte_reader_sub(&e, MFS_MIN(csize - 4,
						     byte_reader_left(&e)),
						 &child))
			break;
		if (!memcmp(byte_reader_ptr(&child), "esds", 4)) {
			byte_reader_skip(&child, 4);
			mp4_esds(t, &child);
		}
	}
	if (e.failed)
		t->channels = 0;
}

static int mp4_stsd(struct mp4_state *s, const struct mp4_atom *a)
{
	struct formats_chunk c;
	struct byte_reader r;
	int rc;

	rc = formats_fetch(s->ctx, a->body,
			   (size_t)MFS_MIN(a->end - a->body, MP4_STSD_MAX), &c);
	if (!rc) {
		byte_reader_init(&r, c.p, c.len);
		mp4_sample_entry(&s->trak, &r);
	}
	formats_chunk_release(&c);
	return rc;
}

static int mp4_trak(struct mp4_state *s, const struct mp4_atom *a,
		    unsigned depth)
{
	int rc;

	memset(&s->trak, 0, sizeof(s->trak));
	rc = mp4_walk(s, a->body, a->end, depth + 1, "trak");
	if (!rc && s->trak.sound && !s->have_sound) {
		s->sound = s->trak;
		s->have_sound = true;
	}
	return rc;
}

/* ---- tags -------------------------------------------------------------- */

/* The key of an item: its name if it is a field, else its 4 characters. */
static void mp4_item_key(const char *type, char *key, size_t size)
{
	char *s;
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(mp4_item_keys); i++) {
		if (!memcmp(type, mp4_item_keys[i][0], 4)) {
			str_copy(key, mp4_item_keys[i][1], size);
			return;
		}
	}
	s = formats_text_dup(FORMATS_ENC_LATIN1, (const uint8_t *)type, 4);
	formats_utf8_copy(key, s ? s : "", size);
	free(s);
}

static int mp4_cover(struct mp4_state *s, const struct mp4_atom *data,
		     uint32_t type)
{
	struct formats_picture *pic = &s->ctx->meta->picture;
	struct formats_chunk c;
	int rc;

	if (data->end - data->body <= 8 || !formats_picture_better(pic, 3))
		return 0;	/* an empty cover is no cover */
	free(pic->data);
	memset(pic, 0, sizeof(*pic));
	pic->present = true;
	pic->type = 3;
	pic->offset = data->body + 8;
	pic->length = data->end - pic->offset;
	if (type == 13)
		str_copy(pic->mime, "image/jpeg", sizeof(pic->mime));
	else if (type == 14)
		str_copy(pic->mime, "image/png", sizeof(pic->mime));
	else if (type == 27)
		str_copy(pic->mime, "image/bmp", sizeof(pic->mime));
	rc = formats_fetch(s->ctx, pic->offset, 16, &c);
	if (!rc)
		formats_picture_sniff(pic, c.p, c.len);
	formats_chunk_release(&c);
	return rc;
}

/* A binary value: trkn/disk "n/t", gnre a genre, cpil and integers. */
static int mp4_binary(struct mp4_state *s, const char *item, const char *key,
		      const uint8_t *p, size_t n)
{
	char text[32];
	uint64_t v = 0;
	size_t i;

	if (!memcmp(item, "trkn", 4) || !memcmp(item, "disk", 4)) {
		if (n < 6)
			return 0;
		snprintf(text, sizeof(text), "%u/%u", p[2] << 8 | p[3],
			 p[4] << 8 | p[5]);
		return formats_tag_add(s->ctx, key, text, 0);
	}
	if (!memcmp(item, "gnre", 4)) {
		if (n < 2 || !(p[0] << 8 | p[1]))
			return 0;
		return formats_tag_add(
			s->ctx, "GENRE",
			formats_id3_genre((unsigned)(p[0] << 8 | p[1]) - 1), 0);
	}
	if (!n || n > 8)
		return 0;
	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	snprintf(text, sizeof(text), "%" PRIu64, v);
	return formats_tag_add(s->ctx, key, text, 0);
}

/* One "data" atom of item type (key: where its value goes). */
static int mp4_data(struct mp4_state *s, const char *item, const char *key,
		    const struct mp4_atom *a)
{
	struct formats_chunk c;
	uint32_t type;
	int rc;

	if (a->end - a->body < 8)
		return 0;
	rc = formats_fetch(s->ctx, a->body, 8, &c);
	type = c.len == 8 ? (uint32_t)(c.p[1] << 16 | c.p[2] << 8 | c.p[3]) :
			    0;
	formats_chunk_release(&c);
	if (rc || !strcmp(item, "covr"))
		return rc ? rc : mp4_cover(s, a, type);
	if (a->end - a->body - 8 > FORMATS_MAX_TAG_BYTES)
		return 0;
	rc = formats_fetch(s->ctx, a->body + 8, (size_t)(a->end - a->body - 8),
			   &c);
	if (rc)
		goto out;
	if (type == 1)
		rc = formats_tag_add_text(s->ctx, key, FORMATS_ENC_UTF8, c.p,
					  c.len, 0);
	else if (type == 2)
		rc = formats_tag_add_text(s->ctx, key, FORMATS_ENC_UTF16BE,
					  c.p, c.len, 0);
	else if (type == 0 || type == 21 || type == 22)
		rc = mp4_binary(s, item, key, c.p, c.len);
out:
	formats_chunk_release(&c);
	return rc;
}

/* The string of a "mean" or "name" atom (after version and flags). */
static int mp4_string(struct mp4_state *s, const struct mp4_atom *a,
		      char **out)
{
	struct formats_chunk c;
	int rc;

	free(*out);
	*out = NULL;
	if (a->end - a->body < 4)
		return 0;
	rc = formats_fetch(s->ctx, a->body + 4,
			   (size_t)MFS_MIN(a->end - a->body - 4, 256), &c);
	if (!rc) {
		*out = formats_text_dup(FORMATS_ENC_UTF8, c.p, c.len);
		if (!*out)
			rc = -ENOMEM;
	}
	formats_chunk_release(&c);
	return rc;
}

/* An ilst item: its data atoms (and for "----" its mean and name). */
static int mp4_item(struct mp4_state *s, const struct mp4_atom *item)
{
	char *mean = NULL;
	char *name = NULL;
	char key[300];
	struct mp4_atom a;
	uint64_t off = item->body;
	int rc = 0;
	int ok;

	mp4_item_key(item->type, key, sizeof(key));
	while (!rc && off < item->end) {
		ok = mp4_atom_at(s, off, item->end, &a);
		if (ok <= 0) {
			rc = ok;
			break;
		}
		off = a.end;
		if (!strcmp(a.type, "mean")) {
			rc = mp4_string(s, &a, &mean);
		} else if (!strcmp(a.type, "name")) {
			rc = mp4_string(s, &a, &name);
		} else if (!strcmp(a.type, "data")) {
			if (!strcmp(item->type, "----"))
				snprintf(key, sizeof(key), "----:%.120s:%.120s",
					 mean ? mean : "", name ? name : "");
			rc = mp4_data(s, item->type, key, &a);
		}
	}
	free(mean);
	free(name);
	return rc;
}

static int mp4_ilst(struct mp4_state *s, const struct mp4_atom *ilst)
{
	struct mp4_atom a;
	uint64_t off = ilst->body;
	int rc = 0;
	int ok;

	while (!rc && off < ilst->end) {
		ok = mp4_atom_at(s, off, ilst->end, &a);
		if (ok <= 0)
			return ok;
		off = a.end;
		rc = mp4_item(s, &a);
	}
	return rc;
}

/* meta is a full atom (version, flags) in MP4, a plain one in QuickTime. */
static int mp4_meta(struct mp4_state *s, const struct mp4_atom *a,
		    unsigned depth)
{
	struct formats_chunk c;
	uint64_t body = a->body;
	int rc;

	rc = formats_fetch(s->ctx, a->body, 4, &c);
	if (!rc && c.len == 4 && !c.p[0] && !c.p[1] && !c.p[2] && !c.p[3])
		body += 4;
	formats_chunk_release(&c);
	if (rc)
		return rc;
	return mp4_walk(s, body, a->end, depth + 1, "meta");
}

/* ---- the walk ---------------------------------------------------------- */

static int mp4_child(struct mp4_state *s, const char *parent,
		     const struct mp4_atom *a, unsigned depth)
{
	const char *t = a->type;

	if (!strcmp(parent, "")) {
		if (!strcmp(t, "moov") && !s->moov) {
			s->moov = true;
			return mp4_walk(s, a->body, a->end, depth + 1, t);
		}
		if (!strcmp(t, "mdat") && !s->mdat) {
			s->mdat = true;
			s->mdat_off = a->body;
			s->mdat_len = a->end - a->body;
		}
		return 0;
	}
	if (!strcmp(t, "mvhd") && !strcmp(parent, "moov"))
		return mp4_header(s, a, &s->mvhd_scale, &s->mvhd_duration);
	if (!strcmp(t, "trak") && !strcmp(parent, "moov"))
		return mp4_trak(s, a, depth);
	if (!strcmp(t, "mdhd"))
		return mp4_header(s, a, &s->trak.scale, &s->trak.duration);
	if (!strcmp(t, "hdlr") && !strcmp(parent, "mdia"))
		return mp4_hdlr(s, a);
	if (!strcmp(t, "stsd"))
		return mp4_stsd(s, a);
	if (!strcmp(t, "meta"))
		return mp4_meta(s, a, depth);
	if (!strcmp(t, "ilst"))
		return mp4_ilst(s, a);
	if (!strcmp(t, "udta") || !strcmp(t, "mdia") || !strcmp(t, "minf") ||
	    !strcmp(t, "stbl"))
		return mp4_walk(s, a->body, a->end, depth + 1, t);
	return 0;
}

static int mp4_walk(struct mp4_state *s, uint64_t off, uint64_t end,
		    unsigned depth, const char *parent)
{
	struct mp4_atom a;
	int rc = 0;
	int ok;

	if (depth > MP4_MAX_DEPTH)
		return 0;
	while (!rc && off < end) {
		ok = mp4_atom_at(s, off, end, &a);
		if (ok <= 0)
			return ok;
		off = a.end;
		rc = mp4_child(s, parent, &a, depth);
	}
	return rc;
}

static void mp4_info(struct mp4_state *s)
{
	struct formats_meta *m = s->ctx->meta;
	struct mp4_track *t = &s->sound;

	m->audio_start = s->mdat_off;
	m->audio_end = s->mdat_off + s->mdat_len;
	m->channels = t->channels;
	m->sample_rate = t->rate ? t->rate : t->scale;
	if (t->config_rate)
		m->sample_rate = t->config_rate;
	if (t->scale && t->duration)
		m->duration = (double)t->duration / t->scale;
	else if (s->mvhd_scale)
		m->duration = (double)s->mvhd_duration / s->mvhd_scale;
	m->bitrate = t->avg_bitrate;
	if (!m->bitrate)
		m->bitrate = formats_bitrate(s->mdat_len, m->duration);
}

static int mp4_parse(struct formats_ctx *ctx)
{
	struct mp4_state s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	rc = mp4_walk(&s, ctx->start, ctx->src->size, 0, "");
	if (rc)
		return rc;
	if (!s.moov || !s.have_sound)
		return -EBADMSG;	/* no audio track: not an audio file */
	mp4_info(&s);
	return 0;
}

static bool mp4_probe(const struct formats_ctx *ctx MFS_UNUSED,
		      const uint8_t *p, size_t n)
{
	return n >= 8 && !memcmp(p + 4, "ftyp", 4);
}

const struct formats_ops formats_mp4_ops = {
	.kind = FORMATS_M4A,
	.name = "mp4",
	.probe = mp4_probe,
	.parse = mp4_parse,
};
