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
 *
 * Synthesis (mp4_synthesize, at the end) writes the same items back: a new
 * moov whose udta holds a new meta/ilst, everything else copied as origin
 * ranges, chunk offsets shifted when the audio moves.
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

/* ---- synthesis --------------------------------------------------------- */

/*
 * The new file: the top-level atoms of the origin in their order, each an
 * origin range, except moov, which is rebuilt.  Its children are copied as
 * they are except free (dropped), a meta directly under moov (QuickTime
 * style tags: dropped, it would carry the old tags) and udta, rebuilt from
 * its children other than meta, free and QuickTime text atoms (\xa9xxx)
 * plus a new meta (hdlr mdir/appl, ilst, then free padding for later
 * edits).  When audio data follows moov, it moves by the change of moov's
 * size: every chunk offset (stco, co64) that points past the old moov is
 * shifted; a 32-bit offset that would overflow gives -EFBIG (no conversion
 * to co64).  Fragmented files (moof) give -ENOTSUP.  NEEDSWORK: an ilst in
 * a trak's udta/meta (rare) is copied with the trak, old tags and all.
 */

/* Padding after ilst, so that a tagger can grow the tags in place. */
#define MP4_SYNTH_PADDING 2048u
/* The freeform mean of extra tags with no "----:mean:" of their own. */
#define MP4_ITUNES_MEAN "com.apple.iTunes"
/* Size of the hdlr atom of an iTunes meta. */
#define MP4_HDLR_LEN 33u

static const uint8_t mp4_zeros[MP4_SYNTH_PADDING];

/* iTunes items that hold integers: their type and value width. */
static const struct {
	char type[5];
	uint8_t width;
} mp4_int_items[] = {
	{ "tmpo", 2 }, { "rtng", 1 }, { "stik", 1 }, { "pgap", 1 },
	{ "hdvd", 1 }, { "shwm", 1 }, { "pcst", 1 }, { "tves", 4 },
	{ "tvsn", 4 }, { "sfID", 4 }, { "cnID", 4 }, { "atID", 4 },
	{ "geID", 4 }, { "cmID", 4 }, { "plID", 8 }, { "akID", 1 },
};

/* A synthesis in progress. */
struct mp4_synth {
	const struct formats_source *src;
	struct formats_synth *out;
	bool dry;		/* only count what would be emitted */
	uint64_t size;		/* bytes emitted (or counted) */
	unsigned atoms;
	uint64_t moov_off;	/* the old moov */
	uint64_t moov_end;
	bool patch;		/* shift chunk offsets past the old moov */
	int64_t delta;		/* by this */
	struct buf meta;	/* new meta up to the cover's image */
	uint64_t pic_len;	/* the image after it (0: none) */
	const struct formats_picture *pic;
};

/*
 * The atom at off inside [off, end), strictly: -EBADMSG when its size is
 * below its header or runs past end.  Size 0 ("to the end") only where
 * to_end allows it.
 */
static int mp4_synth_atom(struct mp4_synth *s, uint64_t off, uint64_t end,
			  bool to_end, struct mp4_atom *a)
{
	uint8_t h[16];
	uint64_t size;
	unsigned hlen = 8;
	int rc;

	if (end - off < 8 || ++s->atoms > MP4_MAX_ATOMS)
		return -EBADMSG;
	rc = formats_read_exact(s->src, off, h, end - off < 16 ? 8 : 16);
	if (rc)
		return rc;
	size = (uint64_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
	if (size == 1 && end - off >= 16) {
		size = (uint64_t)h[8] << 56 | (uint64_t)h[9] << 48 |
		       (uint64_t)h[10] << 40 | (uint64_t)h[11] << 32 |
		       (uint64_t)h[12] << 24 | (uint64_t)h[13] << 16 |
		       (uint64_t)h[14] << 8 | h[15];
		hlen = 16;
	} else if (size == 0 && to_end) {
		size = end - off;
	}
	if (size < hlen || size > end - off)
		return -EBADMSG;
	memcpy(a->type, h + 4, 4);
	a->type[4] = '\0';
	a->off = off;
	a->body = off + hlen;
	a->end = off + size;
	return 0;
}

static int mp4_emit_bytes(struct mp4_synth *s, const void *p, size_t n)
{
	s->size += n;
	return s->dry ? 0 : formats_synth_add_bytes(s->out, p, n);
}

static int mp4_emit_origin(struct mp4_synth *s, uint64_t off, uint64_t n)
{
	s->size += n;
	return s->dry ? 0 : formats_synth_add_origin(s->out, off, n);
}

/* ---- the new ilst ------------------------------------------------------ */

/* Start an atom in b: its size is set by mp4_box_end(b, start). */
static int mp4_box_begin(struct buf *b, const char *type, size_t *start)
{
	*start = b->len;
	return buf_add(b, "\0\0\0\0", 4) ? -EFBIG : buf_add(b, type, 4);
}

static void mp4_box_end(struct buf *b, size_t start)
{
	formats_put_be32((uint8_t *)b->data + start, (uint32_t)(b->len - start));
}

/* A data atom: type, locale 0, n bytes of value. */
static int mp4_data_atom(struct buf *b, uint32_t type, const void *p,
			 size_t n)
{
	uint8_t h[16];
	int rc;

	if (n > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	formats_put_be32(h, (uint32_t)(16 + n));
	memcpy(h + 4, "data", 4);
	formats_put_be32(h + 8, type);
	formats_put_be32(h + 12, 0);
	rc = buf_add(b, h, sizeof(h));
	return rc ? rc : buf_add(b, p, n);
}

/*
 * The data atoms of a text value: one per value of a list joined with
 * "; " when split (formats.h), as an item holds several data atoms.
 */
static int mp4_text_values(struct buf *b, const char *value, bool split)
{
	const char *sep;
	size_t n;
	int rc;

	while (*value) {
		sep = split ? strstr(value, "; ") : NULL;
		n = sep ? (size_t)(sep - value) : strlen(value);
		if (n) {
			rc = mp4_data_atom(b, 1, value, n);
			if (rc)
				return rc;
		}
		value += n + (sep ? 2 : 0);
	}
	return 0;
}

/* Does value hold something other than "; " separators? */
static bool mp4_has_text(const char *value, bool split)
{
	const char *p;

	if (!value)
		return false;
	if (!split)
		return *value != '\0';
	for (p = value; *p; p++)
		if (*p != ';' && *p != ' ')
			return true;
	return false;
}

/* A text item (none for an absent or empty value). */
static int mp4_text_item(struct buf *b, const char *type, const char *value,
			 bool split)
{
	size_t start;
	int rc;

	if (!mp4_has_text(value, split))
		return 0;
	rc = mp4_box_begin(b, type, &start);
	if (!rc)
		rc = mp4_text_values(b, value, split);
	if (!rc)
		mp4_box_end(b, start);
	return rc;
}

/* trkn (8 bytes) and disk (6 bytes): 0, number, total, [0]. */
static int mp4_pair_item(struct buf *b, const char *type, int num, int total,
			 size_t len)
{
	uint8_t v[8] = { 0 };
	size_t start;
	int rc;

	if (num <= 0 && total <= 0)
		return 0;
	num = MFS_MIN(MFS_MAX(num, 0), 0xffff);
	total = MFS_MIN(MFS_MAX(total, 0), 0xffff);
	v[2] = (uint8_t)(num >> 8);
	v[3] = (uint8_t)num;
	v[4] = (uint8_t)(total >> 8);
	v[5] = (uint8_t)total;
	rc = mp4_box_begin(b, type, &start);
	if (!rc)
		rc = mp4_data_atom(b, 0, v, len);
	if (!rc)
		mp4_box_end(b, start);
	return rc;
}

/* An integer item (type 21, big-endian, width bytes). */
static int mp4_int_item(struct buf *b, const char *type, uint64_t v,
			unsigned width)
{
	uint8_t p[8];
	size_t start;
	unsigned i;
	int rc;

	for (i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	rc = mp4_box_begin(b, type, &start);
	if (!rc)
		rc = mp4_data_atom(b, 21, p, width);
	if (!rc)
		mp4_box_end(b, start);
	return rc;
}

/* A "mean" or "name" atom of a freeform item. */
static int mp4_string_atom(struct buf *b, const char *type, const char *p,
			   size_t n)
{
	size_t start;
	int rc;

	rc = mp4_box_begin(b, type, &start);
	if (!rc)
		rc = buf_add(b, "\0\0\0\0", 4);
	if (!rc)
		rc = buf_add(b, p, n);
	if (!rc)
		mp4_box_end(b, start);
	return rc;
}

/* A "----" item: mean, name, the values as UTF-8 data atoms. */
static int mp4_freeform(struct buf *b, const char *mean, size_t mean_len,
			const char *name, const char *value)
{
	size_t start;
	int rc;

	if (!*name || !mp4_has_text(value, false))
		return 0;
	rc = mp4_box_begin(b, "----", &start);
	if (!rc)
		rc = mp4_string_atom(b, "mean", mean, mean_len);
	if (!rc)
		rc = mp4_string_atom(b, "name", name, strlen(name));
	if (!rc)
		rc = mp4_text_values(b, value, false);
	if (!rc)
		mp4_box_end(b, start);
	return rc;
}

/*
 * The item type of a key of four Latin-1 characters ("\xa9too", "tmpo"):
 * true and type[4] filled; false for any other key.
 */
static bool mp4_key_type(const char *key, char *type)
{
	const uint8_t *p = (const uint8_t *)key;
	unsigned n = 0;

	while (*p && n < 5) {
		if (*p < 0x80) {
			type[n++] = (char)*p++;
		} else if ((p[0] == 0xc2 || p[0] == 0xc3) &&
			   (p[1] & 0xc0) == 0x80) {
			type[n++] = (char)((p[0] & 0x03) << 6 | (p[1] & 0x3f));
			p += 2;
		} else {
			return false;
		}
	}
	return n == 4 && !*p;
}

/* Is type an item the named fields or the picture write? */
static bool mp4_named_item(const char *type)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(mp4_item_keys); i++)
		if (!memcmp(type, mp4_item_keys[i][0], 4))
			return true;
	return !memcmp(type, "covr", 4) || !memcmp(type, "gnre", 4) ||
	       !memcmp(type, "----", 4);
}

/* An item of four characters: an integer item or text. */
static int mp4_short_item(struct buf *b, const char *type, const char *value)
{
	long long v;
	size_t i;

	if (mp4_named_item(type))
		return 0;
	for (i = 0; i < MFS_ARRAY_SIZE(mp4_int_items); i++) {
		if (memcmp(type, mp4_int_items[i].type, 4))
			continue;
		if (str_to_ll(value, 0, LLONG_MAX, &v))
			break;	/* not a number: kept as text */
		return mp4_int_item(b, type, (uint64_t)v,
				    mp4_int_items[i].width);
	}
	return mp4_text_item(b, type, value, false);
}

/*
 * An extra tag: "----:mean:name" as read back by the parser, a four
 * character item, else a freeform item of mean com.apple.iTunes.  Keys
 * that name a field are left to the field.
 */
static int mp4_extra_item(struct buf *b, const char *key, const char *value)
{
	const char *mean;
	const char *colon;
	char type[5] = { 0 };

	if (!key || !value || !*key || formats_field_lookup(key) !=
						FORMATS_F_NONE)
		return 0;
	if (!strncmp(key, "----:", 5)) {
		mean = key + 5;
		colon = strchr(mean, ':');
		if (colon)
			return mp4_freeform(b, mean, (size_t)(colon - mean),
					    colon + 1, value);
		return mp4_freeform(b, MP4_ITUNES_MEAN,
				    strlen(MP4_ITUNES_MEAN), mean, value);
	}
	if (mp4_key_type(key, type))
		return mp4_short_item(b, type, value);
	return mp4_freeform(b, MP4_ITUNES_MEAN, strlen(MP4_ITUNES_MEAN), key,
			    value);
}

static int mp4_field_items(struct buf *b, const struct formats_tags *t)
{
	char year[16];
	const char *date = t->date;
	uint8_t one = 1;
	size_t start;
	int rc;

	if (!date && t->year > 0) {
		snprintf(year, sizeof(year), "%d", t->year);
		date = year;
	}
	rc = mp4_text_item(b, "\xa9nam", t->title, false);
	if (!rc)
		rc = mp4_text_item(b, "\xa9" "ART", t->artist, true);
	if (!rc)
		rc = mp4_text_item(b, "aART", t->album_artist, true);
	if (!rc)
		rc = mp4_text_item(b, "\xa9" "alb", t->album, false);
	if (!rc)
		rc = mp4_text_item(b, "\xa9gen", t->genre, true);
	if (!rc)
		rc = mp4_text_item(b, "\xa9wrt", t->composer, true);
	if (!rc)
		rc = mp4_text_item(b, "\xa9" "day", date, false);
	if (!rc)
		rc = mp4_text_item(b, "\xa9" "cmt", t->comment, false);
	if (!rc)
		rc = mp4_pair_item(b, "trkn", t->track, t->track_total, 8);
	if (!rc)
		rc = mp4_pair_item(b, "disk", t->disc, t->disc_total, 6);
	if (!rc && t->compilation) {
		rc = mp4_box_begin(b, "cpil", &start);
		if (!rc)
			rc = mp4_data_atom(b, 21, &one, 1);
		if (!rc)
			mp4_box_end(b, start);
	}
	return rc;
}

/* The covr data type of the picture: 13 JPEG, 14 PNG, 27 BMP, else 0. */
static int mp4_cover_type(struct mp4_synth *s, uint32_t *type)
{
	const struct formats_picture *pic = s->pic;
	struct formats_picture tmp = { 0 };
	uint8_t head[16];
	size_t n;
	int rc;

	str_copy(tmp.mime, pic->mime, sizeof(tmp.mime));
	if (!tmp.mime[0]) {
		n = (size_t)MFS_MIN(s->pic_len, sizeof(head));
		if (pic->data) {
			memcpy(head, pic->data, n);
		} else {
			rc = formats_read_exact(s->src, pic->offset, head, n);
			if (rc)
				return rc;
		}
		formats_picture_sniff(&tmp, head, n);
	}
	*type = 0;
	if (!strcasecmp(tmp.mime, "image/jpeg") ||
	    !strcasecmp(tmp.mime, "image/jpg"))
		*type = 13;
	else if (!strcasecmp(tmp.mime, "image/png"))
		*type = 14;
	else if (!strcasecmp(tmp.mime, "image/bmp"))
		*type = 27;
	return 0;
}

/*
 * The covr item's headers, the image following them: from pic->data or a
 * range of the origin (emitted by mp4_emit_meta).
 */
static int mp4_cover_item(struct mp4_synth *s, struct buf *b)
{
	const struct formats_picture *pic = s->pic;
	uint8_t h[8];
	uint32_t type;
	int rc;

	if (!pic || !pic->present)
		return 0;
	s->pic_len = pic->data ? pic->data_len : pic->length;
	if (!s->pic_len)
		return 0;
	if (!pic->data && (pic->offset > s->src->size ||
			   s->pic_len > s->src->size - pic->offset))
		return -EBADMSG;
	if (s->pic_len > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	rc = mp4_cover_type(s, &type);
	if (rc)
		return rc;
	formats_put_be32(h, (uint32_t)(8 + 16 + s->pic_len));
	memcpy(h + 4, "covr", 4);
	rc = buf_add(b, h, sizeof(h));
	if (rc)
		return rc;
	formats_put_be32(h, (uint32_t)(16 + s->pic_len));
	memcpy(h + 4, "data", 4);
	rc = buf_add(b, h, sizeof(h));
	formats_put_be32(h, type);
	formats_put_be32(h + 4, 0);
	return rc ? rc : buf_add(b, h, sizeof(h));
}

/*
 * s->meta: the new meta atom up to the cover's image (the image, then
 * the padding, follow it); its sizes count them.
 */
static int mp4_build_meta(struct mp4_synth *s, const struct formats_tags *t)
{
	static const uint8_t hdlr[MP4_HDLR_LEN] = {
		0, 0, 0, MP4_HDLR_LEN, 'h', 'd', 'l', 'r', 0, 0, 0, 0,
		0, 0, 0, 0, 'm', 'd', 'i', 'r', 'a', 'p', 'p', 'l',
	};
	struct buf *b = &s->meta;
	size_t meta;
	size_t ilst;
	size_t i;
	int rc;

	rc = mp4_box_begin(b, "meta", &meta);
	if (!rc)
		rc = buf_add(b, "\0\0\0\0", 4);
	if (!rc)
		rc = buf_add(b, hdlr, sizeof(hdlr));
	if (!rc)
		rc = mp4_box_begin(b, "ilst", &ilst);
	if (!rc)
		rc = mp4_field_items(b, t);
	for (i = 0; !rc && i < t->n_extra; i++)
		rc = mp4_extra_item(b, t->extra[i].key, t->extra[i].value);
	if (!rc)
		rc = mp4_cover_item(s, b);
	if (rc)
		return rc;
	formats_put_be32((uint8_t *)b->data + ilst,
		     (uint32_t)(b->len - ilst + s->pic_len));
	formats_put_be32((uint8_t *)b->data + meta,
		     (uint32_t)(b->len - meta + s->pic_len +
				MP4_SYNTH_PADDING));
	return 0;
}

static int mp4_emit_meta(struct mp4_synth *s)
{
	uint8_t h[8];
	int rc;

	rc = mp4_emit_bytes(s, s->meta.data, s->meta.len);
	if (!rc && s->pic_len && s->pic->data)
		rc = mp4_emit_bytes(s, s->pic->data, (size_t)s->pic_len);
	else if (!rc && s->pic_len)
		rc = mp4_emit_origin(s, s->pic->offset, s->pic_len);
	if (rc)
		return rc;
	formats_put_be32(h, MP4_SYNTH_PADDING);
	memcpy(h + 4, "free", 4);
	rc = mp4_emit_bytes(s, h, sizeof(h));
	return rc ? rc : mp4_emit_bytes(s, mp4_zeros, MP4_SYNTH_PADDING - 8);
}

/* ---- the new moov ------------------------------------------------------ */

/* An stco or co64 table with its offsets past the old moov shifted. */
static int mp4_emit_offsets(struct mp4_synth *s, const struct mp4_atom *a)
{
	uint64_t len = a->end - a->body;
	size_t width = a->type[3] == '4' ? 8 : 4;
	uint64_t count;
	uint64_t v;
	uint8_t *p;
	size_t i;
	int rc;

	if (s->dry || !s->patch)
		return mp4_emit_origin(s, a->off, a->end - a->off);
	if (len < 8)
		return -EBADMSG;
	if (len > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	p = malloc((size_t)len);
	if (!p)
		return -ENOMEM;
	rc = formats_read_exact(s->src, a->body, p, (size_t)len);
	count = rc ? 0 : (uint64_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
	if (count > (len - 8) / width)
		rc = -EBADMSG;
	for (i = 0; !rc && i < count; i++) {
		uint8_t *e = p + 8 + i * width;

		v = (uint64_t)e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3];
		if (width == 8)
			v = v << 32 | (uint64_t)e[4] << 24 | e[5] << 16 |
			    e[6] << 8 | e[7];
		if (v < s->moov_off)
			continue;
		if (v < s->moov_end)
			rc = -EBADMSG;	/* audio inside moov */
		else if (s->delta > 0 && v > UINT64_MAX - (uint64_t)s->delta)
			rc = -EFBIG;
		v += (uint64_t)s->delta;
		if (!rc && width == 4 && v > UINT32_MAX)
			rc = -EFBIG;	/* NEEDSWORK: could become co64 */
		if (rc)
			break;
		if (width == 8)
			formats_put_be64(e, v);
		else
			formats_put_be32(e, (uint32_t)v);
	}
	if (!rc)
		rc = mp4_emit_origin(s, a->off, a->body - a->off);
	if (!rc)
		rc = mp4_emit_bytes(s, p, (size_t)len);
	free(p);
	return rc;
}

/*
 * The children of [off, end) as they are, but with chunk offsets shifted
 * inside trak/mdia/minf/stbl.  Bytes too few for an atom at the end are
 * kept.
 */
static int mp4_emit_tree(struct mp4_synth *s, uint64_t off, uint64_t end,
			 unsigned depth)
{
	struct mp4_atom a;
	const char *t;
	int rc = 0;

	while (!rc && off < end) {
		if (end - off < 8)
			return mp4_emit_origin(s, off, end - off);
		rc = mp4_synth_atom(s, off, end, false, &a);
		if (rc)
			return rc;
		off = a.end;
		t = a.type;
		if (!strcmp(t, "stco") || !strcmp(t, "co64")) {
			rc = mp4_emit_offsets(s, &a);
		} else if (s->patch && depth < MP4_MAX_DEPTH &&
			   (!strcmp(t, "trak") || !strcmp(t, "mdia") ||
			    !strcmp(t, "minf") || !strcmp(t, "stbl"))) {
			rc = mp4_emit_origin(s, a.off, a.body - a.off);
			if (!rc)
				rc = mp4_emit_tree(s, a.body, a.end, depth + 1);
		} else {
			rc = mp4_emit_origin(s, a.off, a.end - a.off);
		}
	}
	return rc;
}

/*
 * Children of udta that the new meta replaces: meta, free padding and
 * QuickTime's text atoms (\xa9nam...), which readers such as ffmpeg take
 * for tags too.
 */
static bool mp4_old_tag(const char *type)
{
	return !strcmp(type, "meta") || !strcmp(type, "free") ||
	       (uint8_t)type[0] == 0xa9;
}

/* A udta: its children but the old tags; the new meta if first. */
static int mp4_emit_udta(struct mp4_synth *s, const struct mp4_atom *udta,
			 bool with_meta)
{
	uint64_t start = s->size;
	uint64_t off = udta->body;
	struct mp4_atom a;
	uint8_t h[8];
	size_t at;
	int rc;

	/* the header, its size set once known (dry runs come first) */
	rc = mp4_emit_bytes(s, "\0\0\0\0udta", 8);
	at = s->dry ? 0 : s->out->mem_len - 8;
	while (!rc && off < udta->end && udta->end - off >= 8) {
		rc = mp4_synth_atom(s, off, udta->end, false, &a);
		if (rc)
			return rc;
		off = a.end;
		if (!mp4_old_tag(a.type))
			rc = mp4_emit_origin(s, a.off, a.end - a.off);
	}
	/* bytes too few for an atom (QuickTime's terminator): dropped */
	if (!rc && with_meta)
		rc = mp4_emit_meta(s);
	if (rc || s->dry)
		return rc;
	if (s->size - start > UINT32_MAX)
		return -EFBIG;
	formats_put_be32(h, (uint32_t)(s->size - start));
	memcpy(s->out->mem + at, h, 4);
	return 0;
}

/* The body of the new moov: its children, udta rebuilt. */
static int mp4_emit_moov_body(struct mp4_synth *s, const struct mp4_atom *moov)
{
	uint64_t off = moov->body;
	struct mp4_atom a;
	bool meta_done = false;
	int rc = 0;

	/* bytes too few for an atom at the end (a terminator): dropped */
	while (!rc && off < moov->end && moov->end - off >= 8) {
		rc = mp4_synth_atom(s, off, moov->end, false, &a);
		if (rc)
			return rc;
		off = a.end;
		if (!strcmp(a.type, "udta")) {
			rc = mp4_emit_udta(s, &a, !meta_done);
			meta_done = true;
		} else if (!strcmp(a.type, "trak")) {
			rc = mp4_emit_tree(s, a.off, a.end, 0);
		} else if (strcmp(a.type, "free") && strcmp(a.type, "meta")) {
			rc = mp4_emit_origin(s, a.off, a.end - a.off);
		}
	}
	if (!rc && !meta_done) {
		/* no udta: a new one, the new meta in it */
		a.off = a.body = a.end = moov->end;
		rc = mp4_emit_udta(s, &a, true);
	}
	return rc;
}

/*
 * The new moov: counted first (its size sets the shift of the chunk
 * offsets), then emitted.
 */
static int mp4_emit_moov(struct mp4_synth *s, const struct mp4_atom *moov)
{
	uint64_t body;
	uint8_t h[8];
	int rc;

	s->dry = true;
	s->size = 0;
	rc = mp4_emit_moov_body(s, moov);
	s->dry = false;
	if (rc)
		return rc;
	body = s->size;
	if (body > UINT32_MAX - 8)
		return -EFBIG;
	s->delta = (int64_t)(body + 8) - (int64_t)(moov->end - moov->off);
	s->patch = s->delta && moov->end < s->src->size;
	formats_put_be32(h, (uint32_t)(body + 8));
	memcpy(h + 4, "moov", 4);
	rc = mp4_emit_bytes(s, h, sizeof(h));
	s->size = 0;
	if (!rc)
		rc = mp4_emit_moov_body(s, moov);
	if (!rc && s->size != body)
		rc = -EBADMSG;	/* the file changed under us */
	return rc;
}

/*
 * The top-level atoms: checked (sizes within the file, one moov, the
 * first mdat where orig's audio is, no moof), then emitted in order.
 */
static int mp4_top(struct mp4_synth *s, const struct formats_meta *orig,
		   bool emit)
{
	struct mp4_atom a;
	struct mp4_atom moov = { 0 };
	bool mdat = false;
	uint64_t off = 0;
	int rc = 0;

	while (!rc && off < s->src->size) {
		rc = mp4_synth_atom(s, off, s->src->size, true, &a);
		if (rc)
			return rc;
		off = a.end;
		if (!strcmp(a.type, "moof"))
			return -ENOTSUP;
		if (!strcmp(a.type, "moov")) {
			if (moov.end)
				return -EBADMSG;
			moov = a;
			if (emit)
				rc = mp4_emit_moov(s, &a);
			continue;
		}
		if (!strcmp(a.type, "mdat") && !mdat) {
			mdat = true;
			if (a.body != orig->audio_start ||
			    a.end != orig->audio_end)
				return -EBADMSG;
		}
		if (emit)
			rc = formats_synth_add_origin(s->out, a.off,
						      a.end - a.off);
	}
	if (!rc && (!moov.end || !mdat))
		return -EBADMSG;
	s->moov_off = moov.off;
	s->moov_end = moov.end;
	return rc;
}

static int mp4_synthesize(const struct formats_source *src,
			  const struct formats_meta *orig,
			  const struct formats_tags *tags,
			  const struct formats_picture *picture,
			  struct formats_synth *out)
{
	struct mp4_synth *s;
	int rc;

	if (orig->kind != FORMATS_M4A || orig->audio_start > orig->audio_end ||
	    orig->audio_end > src->size)
		return -EBADMSG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->src = src;
	s->out = out;
	s->pic = picture;
	buf_init(&s->meta, FORMATS_MAX_TAG_BYTES);
	rc = mp4_top(s, orig, false);
	if (!rc)
		rc = mp4_build_meta(s, tags);
	if (!rc) {
		s->atoms = 0;
		rc = mp4_top(s, orig, true);
	}
	buf_release(&s->meta);
	free(s);
	return rc;
}


const struct formats_ops formats_mp4_ops = {
	.kind = FORMATS_M4A,
	.name = "mp4",
	.probe = mp4_probe,
	.parse = mp4_parse,
	.synthesize = mp4_synthesize,
};
