/*
 * id3.c - ID3v2.2, 2.3 and 2.4 tags, and ID3v1/1.1.
 *
 * An ID3v2 tag is a 10-byte header (version, flags, a syncsafe size), an
 * optional extended header, frames and padding, and in 2.4 an optional
 * footer.  The body is read in one piece when it is small (the common case:
 * it is already in the header window) and frame by frame otherwise, so a
 * tag holding a 30 MiB picture costs a few small reads and never a 30 MiB
 * allocation.  The picture itself is not read: its offset in the file is
 * recorded, except when the bytes in the file are not the image bytes
 * (unsynchronisation), where a decoded copy is kept instead.
 *
 * Unsynchronisation is a whole-tag transform in 2.2/2.3 (frame sizes count
 * the decoded bytes, so such a tag is decoded in memory first) and a
 * per-frame one in 2.4 (frame sizes count the encoded bytes).  Compressed
 * and encrypted frames are skipped.  iTunes wrote 2.4 frame sizes as plain
 * integers; a size that is not syncsafe, or whose syncsafe reading does
 * not land on a frame while the plain one does, is read as plain.
 *
 * ID3v1 only fills fields that are still empty.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats_i.h"

#include <strings.h>

/* Bytes read of a picture frame to find where the image starts. */
#define ID3_PIC_PREFIX 4096u

/* The Winamp genre list: ID3v1 numbers 0-191. */
static const char *const id3_genres[] = {
	"Blues", "Classic Rock", "Country", "Dance", "Disco", "Funk",
	"Grunge", "Hip-Hop", "Jazz", "Metal", "New Age", "Oldies", "Other",
	"Pop", "R&B", "Rap", "Reggae", "Rock", "Techno", "Industrial",
	"Alternative", "Ska", "Death Metal", "Pranks", "Soundtrack",
	"Euro-Techno", "Ambient", "Trip-Hop", "Vocal", "Jazz+Funk", "Fusion",
	"Trance", "Classical", "Instrumental", "Acid", "House", "Game",
	"Sound Clip", "Gospel", "Noise", "Alternative Rock", "Bass", "Soul",
	"Punk", "Space", "Meditative", "Instrumental Pop",
	"Instrumental Rock", "Ethnic", "Gothic", "Darkwave",
	"Techno-Industrial", "Electronic", "Pop-Folk", "Eurodance", "Dream",
	"Southern Rock", "Comedy", "Cult", "Gangsta", "Top 40",
	"Christian Rap", "Pop/Funk", "Jungle", "Native American", "Cabaret",
	"New Wave", "Psychedelic", "Rave", "Showtunes", "Trailer", "Lo-Fi",
	"Tribal", "Acid Punk", "Acid Jazz", "Polka", "Retro", "Musical",
	"Rock & Roll", "Hard Rock",
	/* Winamp extensions */
	"Folk", "Folk-Rock", "National Folk", "Swing", "Fast Fusion",
	"Bebop", "Latin", "Revival", "Celtic", "Bluegrass", "Avantgarde",
	"Gothic Rock", "Progressive Rock", "Psychedelic Rock",
	"Symphonic Rock", "Slow Rock", "Big Band", "Chorus",
	"Easy Listening", "Acoustic", "Humour", "Speech", "Chanson", "Opera",
	"Chamber Music", "Sonata", "Symphony", "Booty Bass", "Primus",
	"Porn Groove", "Satire", "Slow Jam", "Club", "Tango", "Samba",
	"Folklore", "Ballad", "Power Ballad", "Rhythmic Soul", "Freestyle",
	"Duet", "Punk Rock", "Drum Solo", "A Cappella", "Euro-House",
	"Dance Hall", "Goa", "Drum & Bass", "Club-House", "Hardcore Techno",
	"Terror", "Indie", "BritPop", "Afro-Punk", "Polsk Punk", "Beat",
	"Christian Gangsta Rap", "Heavy Metal", "Black Metal", "Crossover",
	"Contemporary Christian", "Christian Rock", "Merengue", "Salsa",
	"Thrash Metal", "Anime", "JPop", "Synthpop",
	/* Winamp 5.6 */
	"Abstract", "Art Rock", "Baroque", "Bhangra", "Big Beat",
	"Breakbeat", "Chillout", "Downtempo", "Dub", "EBM", "Eclectic",
	"Electro", "Electroclash", "Emo", "Experimental", "Garage", "Global",
	"IDM", "Illbient", "Industro-Goth", "Jam Band", "Krautrock",
	"Leftfield", "Lounge", "Math Rock", "New Romantic", "Nu-Breakz",
	"Post-Punk", "Post-Rock", "Psytrance", "Shoegaze", "Space Rock",
	"Trop Rock", "World Music", "Neoclassical", "Audiobook",
	"Audio Theatre", "Neue Deutsche Welle", "Podcast", "Indie Rock",
	"G-Funk", "Dubstep", "Garage Rock", "Psybient",
};

_Static_assert(MFS_ARRAY_SIZE(id3_genres) == 192, "192 Winamp genres");

const char *formats_id3_genre(unsigned i)
{
	return i < MFS_ARRAY_SIZE(id3_genres) ? id3_genres[i] : NULL;
}

/* ID3v2.2 frame ids and their 2.3/2.4 names. */
static const char id3_v22_ids[][2][5] = {
	{ "TT1", "TIT1" }, { "TT2", "TIT2" }, { "TT3", "TIT3" },
	{ "TP1", "TPE1" }, { "TP2", "TPE2" }, { "TP3", "TPE3" },
	{ "TP4", "TPE4" }, { "TAL", "TALB" }, { "TCO", "TCON" },
	{ "TCM", "TCOM" }, { "TRK", "TRCK" }, { "TPA", "TPOS" },
	{ "TYE", "TYER" }, { "TDA", "TDAT" }, { "TIM", "TIME" },
	{ "TCP", "TCMP" }, { "TXX", "TXXX" }, { "COM", "COMM" },
	{ "PIC", "APIC" }, { "ULT", "USLT" }, { "TEN", "TENC" },
	{ "TBP", "TBPM" }, { "TCR", "TCOP" }, { "TPB", "TPUB" },
	{ "TSS", "TSSE" }, { "TLA", "TLAN" }, { "TLE", "TLEN" },
	{ "TMT", "TMED" }, { "TOA", "TOPE" }, { "TOT", "TOAL" },
	{ "TOL", "TOLY" }, { "TOR", "TORY" }, { "TRC", "TSRC" },
	{ "TXT", "TEXT" }, { "TKE", "TKEY" }, { "TFT", "TFLT" },
	{ "TOF", "TOFN" }, { "TRD", "TRDA" }, { "TSI", "TSIZ" },
	{ "TS2", "TSO2" }, { "TSA", "TSOA" }, { "TSC", "TSOC" },
	{ "TSP", "TSOP" }, { "TST", "TSOT" },
};

/* Text frames that are named fields. */
static const char id3_field_ids[][2][12] = {
	{ "TIT2", "TITLE" },	   { "TPE1", "ARTIST" },
	{ "TPE2", "ALBUMARTIST" }, { "TALB", "ALBUM" },
	{ "TCOM", "COMPOSER" },	   { "TRCK", "TRACKNUMBER" },
	{ "TPOS", "DISCNUMBER" },  { "TDRC", "DATE" },
	{ "TCMP", "COMPILATION" },
};

/* A tag being parsed. */
struct id3_tag {
	struct formats_ctx *ctx;
	unsigned ver;		/* 2, 3 or 4 */
	unsigned flags;		/* header flags */
	unsigned add;		/* FORMATS_TAG_* */
	/* the body: in memory, or frame by frame from the file */
	const uint8_t *mem;
	bool mem_is_file;	/* mem holds the file's bytes as they are */
	uint64_t base;		/* file offset of body byte 0 */
	uint64_t len;		/* bytes in the body */
	char tyer[16];
	char tdat[16];
};

/* Frame flags, decoded from the 2.3 and 2.4 layouts. */
struct id3_frame {
	char id[5];
	uint64_t off;		/* content offset in the body */
	uint64_t len;		/* content bytes (after the flag fields) */
	bool unsync;
};

static size_t id3_resync(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i;
	size_t j = 0;

	for (i = 0; i < n; i++) {
		dst[j++] = src[i];
		if (src[i] == 0xff && i + 1 < n && src[i + 1] == 0)
			i++;
	}
	return j;
}

/* Bytes [off, off+n) of the body (fewer at its end). */
static int id3_get(struct id3_tag *tag, uint64_t off, uint64_t n,
		   struct formats_chunk *c)
{
	memset(c, 0, sizeof(*c));
	c->p = formats_no_bytes;
	if (off >= tag->len)
		return 0;
	n = MFS_MIN(n, tag->len - off);
	if (tag->mem) {
		c->p = tag->mem + off;
		c->len = (size_t)n;
		return 0;
	}
	if (n > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	return formats_fetch(tag->ctx, tag->base + off, (size_t)n, c);
}

/*
 * Content of frame f, at most max bytes, resynchronised when the frame is.
 * The chunk is owned when it had to be decoded.
 */
static int id3_content(struct id3_tag *tag, const struct id3_frame *f,
		       uint64_t max, struct formats_chunk *c)
{
	uint8_t *copy;
	int rc;

	rc = id3_get(tag, f->off, MFS_MIN(f->len, max), c);
	if (rc || !f->unsync)
		return rc;
	if (!c->owned) {
		copy = malloc(c->len ? c->len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, c->p, c->len);
		c->owned = copy;
		c->p = copy;
	}
	c->len = id3_resync(c->owned, c->owned, c->len);
	return 0;
}

static bool id3_id_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool id3_valid_id(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!id3_id_char(p[i]))
			return false;
	return true;
}

/* Is there a frame, padding or the end at body offset off? */
static bool id3_frame_at(struct id3_tag *tag, uint64_t off)
{
	struct formats_chunk c;
	bool ok;

	if (off >= tag->len)
		return off == tag->len;
	if (id3_get(tag, off, 4, &c)) {
		formats_chunk_release(&c);
		return false;
	}
	ok = c.len && (c.p[0] == 0 || (c.len == 4 && id3_valid_id(c.p, 4)));
	formats_chunk_release(&c);
	return ok;
}

static uint64_t id3_v24_size(struct id3_tag *tag, uint64_t pos, uint32_t raw)
{
	uint32_t ss;

	if (raw & 0x80808080u)
		return raw;
	ss = (raw & 0x7f) | ((raw >> 8) & 0x7f) << 7 |
	     ((raw >> 16) & 0x7f) << 14 | ((raw >> 24) & 0x7f) << 21;
	if (ss == raw || id3_frame_at(tag, pos + 10 + (uint64_t)ss))
		return ss;
	if (id3_frame_at(tag, pos + 10 + (uint64_t)raw))
		return raw;
	return ss;
}

/* ---- text frames ------------------------------------------------------- */

static bool id3_enc_ok(uint8_t enc)
{
	return enc <= FORMATS_ENC_UTF8;
}

/* Resolve "(17)", "(17)Rock", "17", "(RX)" and "((text" to genre names. */
static int id3_genre(struct id3_tag *tag, const char *s)
{
	const char *last = NULL;
	const char *name;
	const char *close;
	long long n;
	char num[8];
	int rc;

	while (s[0] == '(' && s[1] != '(') {
		close = strchr(s, ')');
		if (!close || close - s - 1 >= (long)sizeof(num))
			break;
		memcpy(num, s + 1, (size_t)(close - s - 1));
		num[close - s - 1] = '\0';
		if (!strcmp(num, "RX"))
			name = "Remix";
		else if (!strcmp(num, "CR"))
			name = "Cover";
		else if (!str_to_ll(num, 0, 255, &n))
			name = formats_id3_genre((unsigned)n);
		else
			break;
		if (name) {
			rc = formats_tag_add(tag->ctx, "GENRE", name, tag->add);
			if (rc)
				return rc;
			last = name;
		}
		s = close + 1;
	}
	if (s[0] == '(' && s[1] == '(')
		s++;
	if (!strcmp(s, "RX") || !strcmp(s, "CR"))	/* 2.4 */
		return formats_tag_add(tag->ctx, "GENRE",
				       s[0] == 'R' ? "Remix" : "Cover",
				       tag->add);
	if (!str_to_ll(s, 0, 255, &n))
		return formats_tag_add(tag->ctx, "GENRE",
				       formats_id3_genre((unsigned)n),
				       tag->add);
	if (last && !strcasecmp(s, last))
		return 0;
	return formats_tag_add(tag->ctx, "GENRE", s, tag->add);
}

static int id3_value(struct id3_tag *tag, const char *id, const char *key,
		     const char *value)
{
	enum formats_field_id f;
	int rc;

	if (!strcmp(id, "TCON"))
		return id3_genre(tag, value);
	if (!strcmp(id, "TYER")) {
		if (!tag->tyer[0])
			formats_utf8_copy(tag->tyer, value, sizeof(tag->tyer));
		return 0;
	}
	if (!strcmp(id, "TDAT")) {
		if (!tag->tdat[0])
			formats_utf8_copy(tag->tdat, value, sizeof(tag->tdat));
		return 0;
	}
	rc = formats_tag_add(tag->ctx, key, value, tag->add);
	if (rc || strncmp(key, "TXXX:", 5))
		return rc;
	/* "TXXX:ALBUMARTIST" stays in extra and fills the field if empty */
	f = formats_field_lookup(key + 5);
	if (f == FORMATS_F_NONE ||
	    formats_field_is_set(&tag->ctx->meta->tags, f))
		return 0;
	return formats_tag_add(tag->ctx, key + 5, value,
			       tag->add | FORMATS_TAG_IF_EMPTY);
}

/*
 * The NUL-separated strings of a text frame (p: after the encoding byte),
 * each stored under key.
 */
static int id3_strings(struct id3_tag *tag, const char *id, const char *key,
		       enum formats_enc enc, const uint8_t *p, size_t n)
{
	char *value;
	size_t len;
	size_t next;
	int rc = 0;

	while (n && !rc) {
		len = formats_text_len(enc, p, n, &next);
		if (enc == FORMATS_ENC_UTF16 && len >= 2 && p[0] == 0xfe &&
		    p[1] == 0xff)
			enc = FORMATS_ENC_UTF16BE; /* for BOM-less ones */
		if (len) {
			value = formats_text_dup(enc, p, len);
			if (!value)
				return -ENOMEM;
			if (*value)
				rc = id3_value(tag, id, key, value);
			free(value);
		}
		p += next;
		n -= next;
	}
	return rc;
}

/* Frame id → the key its values are stored under. */
static const char *id3_key(const char *id)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(id3_field_ids); i++)
		if (!strcmp(id, id3_field_ids[i][0]))
			return id3_field_ids[i][1];
	return id;
}

/*
 * "TXXX:desc", "COMM:desc": a key from a description, or plain when the
 * description is empty (caller frees).
 */
static char *id3_desc_key(const char *id, const char *plain,
			  enum formats_enc enc, const uint8_t *p, size_t len)
{
	char *desc = formats_text_dup(enc, p, MFS_MIN(len, 256));
	char *key;

	if (!desc)
		return NULL;
	if (*desc || !plain)
		key = str_printf("%s:%s", id, desc);
	else
		key = strdup(plain);
	free(desc);
	return key;
}

static int id3_text_frame(struct id3_tag *tag, const char *id,
			  const uint8_t *p, size_t n)
{
	size_t next;
	size_t len;
	char *key;
	int rc;

	if (!n || !id3_enc_ok(p[0]))
		return 0;
	if (strcmp(id, "TXXX"))
		return id3_strings(tag, id, id3_key(id), p[0], p + 1, n - 1);
	len = formats_text_len(p[0], p + 1, n - 1, &next);
	key = id3_desc_key(id, NULL, p[0], p + 1, len);
	if (!key)
		return -ENOMEM;
	rc = id3_strings(tag, id, key, p[0], p + 1 + next, n - 1 - next);
	free(key);
	return rc;
}

/* COMM and USLT: encoding, language, description, text. */
static int id3_comment_frame(struct id3_tag *tag, const char *id,
			     const uint8_t *p, size_t n)
{
	enum formats_enc enc;
	char *key;
	size_t next;
	size_t len;
	int rc;

	if (n < 4 || !id3_enc_ok(p[0]))
		return 0;
	enc = p[0];
	p += 4;
	n -= 4;
	len = formats_text_len(enc, p, n, &next);
	key = id3_desc_key(id, strcmp(id, "COMM") ? id : "COMMENT", enc, p,
			   len);
	if (!key)
		return -ENOMEM;
	p += next;
	n -= next;
	len = formats_text_len(enc, p, n, &next);
	rc = formats_tag_add_text(tag->ctx, key, enc, p, len, tag->add);
	free(key);
	return rc;
}

/* ---- pictures ---------------------------------------------------------- */

/*
 * Parse the start of an APIC/PIC frame: *type, the MIME type into pic_mime
 * and the offset of the image in *data_off.  -EBADMSG if it does not fit.
 */
static int id3_pic_header(unsigned ver, const uint8_t *p, size_t n,
			  uint32_t *type, char *mime, size_t mime_size,
			  size_t *data_off)
{
	struct byte_reader r;
	const uint8_t *s;
	size_t len;
	size_t next;
	uint8_t enc;

	byte_reader_init(&r, p, n);
	enc = byte_reader_u8(&r);
	if (r.failed || !id3_enc_ok(enc))
		return -EBADMSG;
	if (ver == 2) {
		if (byte_reader_bytes(&r, 3, &s))
			return -EBADMSG;
		if (!memcmp(s, "PNG", 3) || !memcmp(s, "png", 3))
			str_copy(mime, "image/png", mime_size);
		else if (!strncasecmp((const char *)s, "JPG", 3))
			str_copy(mime, "image/jpeg", mime_size);
		else
			mime[0] = '\0';
	} else {
		s = byte_reader_ptr(&r);
		len = formats_text_len(FORMATS_ENC_LATIN1, s,
				       byte_reader_left(&r), &next);
		if (len == next)
			return -EBADMSG;	/* no terminator */
		str_copy(mime, "", mime_size);
		if (len < mime_size) {
			memcpy(mime, s, len);
			mime[len] = '\0';
		}
		byte_reader_skip(&r, next);
	}
	*type = byte_reader_u8(&r);
	if (r.failed)
		return -EBADMSG;
	s = byte_reader_ptr(&r);
	len = formats_text_len(enc, s, byte_reader_left(&r), &next);
	if (len == next)
		return -EBADMSG;
	*data_off = r.pos + next;
	return 0;
}

static void id3_pic_store(struct formats_picture *pic, uint32_t type,
			  const char *mime)
{
	size_t i;

	free(pic->data);
	memset(pic, 0, sizeof(*pic));
	pic->present = true;
	pic->type = type;
	for (i = 0; mime[i] && i + 1 < sizeof(pic->mime); i++)
		pic->mime[i] = mime[i] > 0x20 && mime[i] < 0x7f ? mime[i] : '?';
	pic->mime[i] = '\0';
	if (!strcasecmp(pic->mime, "image/jpg") ||
	    !strcasecmp(pic->mime, "jpg") || !strcasecmp(pic->mime, "jpeg"))
		str_copy(pic->mime, "image/jpeg", sizeof(pic->mime));
	else if (!strcasecmp(pic->mime, "png"))
		str_copy(pic->mime, "image/png", sizeof(pic->mime));
}

static int id3_picture(struct id3_tag *tag, const struct id3_frame *f)
{
	struct formats_picture *pic = &tag->ctx->meta->picture;
	bool copy = f->unsync || !tag->mem_is_file;
	struct formats_chunk c;
	size_t data_off;
	uint32_t type;
	char mime[64];
	int rc;

	if (copy && f->len > FORMATS_MAX_TAG_BYTES)
		return 0;
	rc = id3_content(tag, f, copy ? f->len : ID3_PIC_PREFIX, &c);
	if (rc)
		goto out;
	if (id3_pic_header(tag->ver, c.p, c.len, &type, mime, sizeof(mime),
			   &data_off))
		goto out;
	if (!formats_picture_better(pic, type) ||
	    data_off >= (copy ? c.len : f->len))
		goto out;	/* not better, or no image at all */
	if (copy) {
		uint8_t *data = malloc(c.len - data_off + 1);

		if (!data) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(data, c.p + data_off, c.len - data_off);
		id3_pic_store(pic, type, mime);
		pic->data = data;
		pic->data_len = c.len - data_off;
		formats_picture_sniff(pic, data, pic->data_len);
	} else {
		id3_pic_store(pic, type, mime);
		pic->offset = tag->base + f->off + data_off;
		pic->length = f->len - data_off;
		formats_picture_sniff(pic, c.p + data_off, c.len - data_off);
	}
out:
	formats_chunk_release(&c);
	return rc == -EFBIG ? 0 : rc;
}

/* ---- frames ------------------------------------------------------------ */

static bool id3_wanted(const char *id)
{
	return id[0] == 'T' || !strcmp(id, "COMM") || !strcmp(id, "USLT") ||
	       !strcmp(id, "APIC");
}

static int id3_frame(struct id3_tag *tag, const struct id3_frame *f)
{
	struct formats_chunk c;
	int rc;

	if (!id3_wanted(f->id))
		return 0;
	if (!strcmp(f->id, "APIC"))
		return id3_picture(tag, f);
	if (f->len > FORMATS_MAX_TAG_BYTES)
		return 0;
	rc = id3_content(tag, f, f->len, &c);
	if (!rc) {
		if (f->id[0] == 'T')
			rc = id3_text_frame(tag, f->id, c.p, c.len);
		else
			rc = id3_comment_frame(tag, f->id, c.p, c.len);
	}
	formats_chunk_release(&c);
	return rc == -EFBIG ? 0 : rc;
}

static void id3_map_v22(char id[5])
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(id3_v22_ids); i++) {
		if (!strcmp(id, id3_v22_ids[i][0])) {
			memcpy(id, id3_v22_ids[i][1], 5);
			return;
		}
	}
}

/*
 * Decode the frame flags of a 2.3/2.4 frame whose header ends at body
 * offset pos, with size content bytes: fills f, returns false to skip.
 */
static bool id3_frame_flags(struct id3_tag *tag, const uint8_t *h,
			    uint64_t pos, uint64_t size, struct id3_frame *f)
{
	unsigned fl = h[9];
	uint64_t skip = 0;

	f->off = pos;
	f->len = size;
	f->unsync = false;
	if (tag->ver == 3) {
		if (fl & 0xc0)
			return false;	/* compressed or encrypted */
		skip += fl & 0x20 ? 1 : 0;
	} else {
		if (fl & 0x0c)
			return false;
		skip += fl & 0x40 ? 1 : 0;
		skip += fl & 0x01 ? 4 : 0;
		f->unsync = (fl & 0x02) || (tag->flags & 0x80);
	}
	if (skip > size)
		return false;
	f->off += skip;
	f->len -= skip;
	return true;
}

/* Parse the frame at body offset pos; *next is where the next one is. */
static int id3_next_frame(struct id3_tag *tag, uint64_t pos, uint64_t *next)
{
	unsigned hlen = tag->ver == 2 ? 6 : 10;
	unsigned idlen = tag->ver == 2 ? 3 : 4;
	struct formats_chunk c;
	struct id3_frame f;
	uint8_t h[10];
	uint64_t size;
	int rc;

	rc = id3_get(tag, pos, hlen, &c);
	if (rc || c.len < hlen || !id3_valid_id(c.p, idlen)) {
		formats_chunk_release(&c);
		return rc ? rc : -ENOENT;	/* padding or garbage: stop */
	}
	memcpy(h, c.p, hlen);
	formats_chunk_release(&c);
	memset(&f, 0, sizeof(f));
	memcpy(f.id, h, idlen);
	if (tag->ver == 2) {
		size = (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
		id3_map_v22(f.id);
	} else if (tag->ver == 3) {
		size = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
		       (uint32_t)h[6] << 8 | h[7];
	} else {
		size = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
		       (uint32_t)h[6] << 8 | h[7];
		size = id3_v24_size(tag, pos, (uint32_t)size);
	}
	if (size > tag->len - pos - hlen)
		return -ENOENT;	/* runs past the tag */
	*next = pos + hlen + size;
	if (tag->ver == 2) {
		f.off = pos + hlen;
		f.len = size;
	} else if (!id3_frame_flags(tag, h, pos + hlen, size, &f)) {
		return 0;
	}
	return id3_frame(tag, &f);
}

/* Body offset of the first frame (after an extended header). */
static uint64_t id3_first_frame(struct id3_tag *tag)
{
	struct formats_chunk c;
	struct byte_reader r;
	uint64_t pos = 0;

	if (tag->ver == 2 || !(tag->flags & 0x40))
		return 0;
	if (id3_get(tag, 0, 4, &c) || c.len < 4) {
		formats_chunk_release(&c);
		return tag->len;
	}
	if (id3_valid_id(c.p, 4)) {
		/* the flag is set, but a frame is there: no extended header */
		formats_chunk_release(&c);
		return 0;
	}
	byte_reader_init(&r, c.p, c.len);
	if (tag->ver == 3)
		pos = 4 + (uint64_t)byte_reader_be32(&r);
	else
		pos = byte_reader_syncsafe32(&r);
	formats_chunk_release(&c);
	return MFS_MIN(pos, tag->len);
}

static int id3_finish_date(struct id3_tag *tag)
{
	char date[32];
	long long ddmm;

	if (!tag->tyer[0])
		return 0;
	if (strlen(tag->tdat) == 4 && !str_to_ll(tag->tdat, 101, 3112, &ddmm))
		snprintf(date, sizeof(date), "%s-%.2s-%.2s", tag->tyer,
			 tag->tdat + 2, tag->tdat);
	else
		str_copy(date, tag->tyer, sizeof(date));
	return formats_tag_add(tag->ctx, "DATE", date, tag->add);
}

static int id3_frames(struct id3_tag *tag)
{
	uint64_t pos = id3_first_frame(tag);
	uint64_t next;
	int rc = 0;

	formats_tag_begin(tag->ctx);
	while (pos < tag->len) {
		rc = id3_next_frame(tag, pos, &next);
		if (rc)
			break;
		pos = next;
	}
	if (rc == -ENOENT || rc == -EBADMSG)
		rc = 0;
	if (!rc)
		rc = id3_finish_date(tag);
	return rc;
}

/* Header checks shared by both entry points; 0 if the tag is not read. */
static bool id3_header(struct id3_tag *tag, const uint8_t *h)
{
	if (!formats_id3v2_size(h, 10))
		return false;
	tag->ver = h[3];
	tag->flags = h[5];
	/* 2.2 compression was never defined: such a tag cannot be read */
	return !(tag->ver == 2 && (tag->flags & 0x40));
}

/* Decode a whole-tag unsynchronised body (2.2/2.3) into memory. */
static int id3_parse_unsync(struct id3_tag *tag, const uint8_t *p, size_t n)
{
	uint8_t *body = malloc(n ? n : 1);
	int rc;

	if (!body)
		return -ENOMEM;
	tag->len = id3_resync(body, p, n);
	tag->mem = body;
	tag->mem_is_file = false;
	rc = id3_frames(tag);
	free(body);
	return rc;
}

uint64_t formats_id3v2_size(const uint8_t *p, size_t n)
{
	uint64_t size;

	if (n < 10 || memcmp(p, "ID3", 3) || p[3] < 2 || p[3] > 4 ||
	    p[4] == 0xff || ((p[6] | p[7] | p[8] | p[9]) & 0x80))
		return 0;
	size = (uint64_t)p[6] << 21 | (uint64_t)p[7] << 14 |
	       (uint64_t)p[8] << 7 | p[9];
	return 10 + size + (p[3] == 4 && (p[5] & 0x10) ? 10 : 0);
}

int formats_id3v2_parse(struct formats_ctx *ctx, uint64_t off, uint64_t avail,
			unsigned flags)
{
	struct id3_tag tag = { .ctx = ctx, .add = flags };
	struct formats_chunk c;
	uint64_t size;
	int rc;

	rc = formats_fetch(ctx, off, 10, &c);
	if (rc || c.len < 10 || !id3_header(&tag, c.p)) {
		formats_chunk_release(&c);
		return rc;
	}
	size = formats_id3v2_size(c.p, c.len) - 10;
	formats_chunk_release(&c);
	if (tag.ver == 4 && (tag.flags & 0x10))
		size -= 10;	/* the footer */
	/* the tag ends where its size says, or where the file ends */
	avail = MFS_MIN(avail, ctx->src->size - off);
	tag.base = off + 10;
	tag.len = MFS_MIN(size, avail > 10 ? avail - 10 : 0);
	tag.mem_is_file = true;
	if (tag.ver < 4 && (tag.flags & 0x80)) {
		if (tag.len > FORMATS_MAX_TAG_BYTES)
			return -EFBIG;
		rc = formats_fetch(ctx, tag.base, (size_t)tag.len, &c);
		if (!rc)
			rc = id3_parse_unsync(&tag, c.p, c.len);
		formats_chunk_release(&c);
		return rc;
	}
	if (tag.len <= FORMATS_ID3_WHOLE_MAX) {
		rc = formats_fetch(ctx, tag.base, (size_t)tag.len, &c);
		if (rc) {
			formats_chunk_release(&c);
			return rc;
		}
		tag.mem = c.p;
		tag.len = c.len;
	}
	rc = id3_frames(&tag);
	formats_chunk_release(&c);
	return rc;
}

int formats_id3v2_leading(struct formats_ctx *ctx)
{
	struct formats_chunk c;
	uint64_t off = 0;
	uint64_t size;
	int rc = 0;

	while (off < ctx->start && !rc) {
		rc = formats_fetch(ctx, off, 10, &c);
		size = rc ? 0 : formats_id3v2_size(c.p, c.len);
		formats_chunk_release(&c);
		if (!size)
			break;
		rc = formats_id3v2_parse(ctx, off, ctx->src->size - off,
					 off ? FORMATS_TAG_IF_EMPTY : 0);
		off += size;
	}
	return rc;
}

/* ---- ID3v1 ------------------------------------------------------------- */

static int id3v1_field(struct formats_ctx *ctx, const char *key,
		       const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);

	if (z)
		n = (size_t)(z - p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == 0))
		n--;
	return formats_tag_add_text(ctx, key, formats_text_guess(p, n), p, n,
				    FORMATS_TAG_IF_EMPTY);
}

int formats_id3v1_parse(struct formats_ctx *ctx, const uint8_t *p)
{
	bool v11 = p[125] == 0 && p[126] != 0;
	char track[8];
	int rc;

	if (memcmp(p, "TAG", 3))
		return 0;
	formats_tag_begin(ctx);
	rc = id3v1_field(ctx, "TITLE", p + 3, 30);
	if (!rc)
		rc = id3v1_field(ctx, "ARTIST", p + 33, 30);
	if (!rc)
		rc = id3v1_field(ctx, "ALBUM", p + 63, 30);
	if (!rc)
		rc = id3v1_field(ctx, "DATE", p + 93, 4);
	if (!rc)
		rc = id3v1_field(ctx, "COMMENT", p + 97, v11 ? 28 : 30);
	if (!rc && v11) {
		snprintf(track, sizeof(track), "%u", p[126]);
		rc = formats_tag_add(ctx, "TRACKNUMBER", track,
				     FORMATS_TAG_IF_EMPTY);
	}
	if (!rc && formats_id3_genre(p[127]))
		rc = formats_tag_add(ctx, "GENRE", formats_id3_genre(p[127]),
				     FORMATS_TAG_IF_EMPTY);
	return rc;
}

/* ---- writing ID3v2.4 --------------------------------------------------- */

/*
 * The writer makes one ID3v2.4 tag: a header, UTF-8 text frames (encoding
 * 3), the picture frame last, then padding; no extended header, no
 * unsynchronisation, every size syncsafe.  Multi-valued fields (people,
 * genre) are split at the "; " the parsers join values with and written as
 * NUL-separated strings, the 2.4 way.  Extra tags become frames by their
 * key (see id3w_target).  The picture's bytes are not copied when they are
 * a range of the origin file: the tag is then three segments (frames and
 * APIC header, the origin range, padding).
 */

/* Largest picture written into a tag (its frame size must stay syncsafe) */
#define ID3W_MAX_PICTURE ((uint64_t)64 << 20)
/* Extra tags looked at: duplicates are found by pairs, so keep n small */
#define ID3W_MAX_EXTRA FORMATS_MAX_EXTRA
/* Largest syncsafe size */
#define ID3W_MAX_SIZE ((1u << 28) - 1)

/* Text frames of ID3v2.4 (and iTunes' sort ones) written under their id. */
static const char id3w_text_ids[][5] = {
	"TBPM", "TCOP", "TDEN", "TDLY", "TDOR", "TDRL", "TDTG", "TENC",
	"TEXT", "TFLT", "TIPL", "TIT1", "TIT3", "TKEY", "TLAN", "TLEN",
	"TMCL", "TMED", "TMOO", "TOAL", "TOFN", "TOLY", "TOPE", "TOWN",
	"TPE3", "TPE4", "TPRO", "TPUB", "TRSN", "TRSO", "TSOA", "TSOP",
	"TSOT", "TSRC", "TSSE", "TSST", "TSO2", "TSOC",
};

/* Common names of other tag formats → their ID3v2.4 frame (as Picard). */
static const char id3w_name_ids[][2][16] = {
	{ "ARTISTSORT", "TSOP" },     { "ALBUMSORT", "TSOA" },
	{ "TITLESORT", "TSOT" },      { "ALBUMARTISTSORT", "TSO2" },
	{ "COMPOSERSORT", "TSOC" },   { "BPM", "TBPM" },
	{ "ISRC", "TSRC" },	      { "COPYRIGHT", "TCOP" },
	{ "ENCODEDBY", "TENC" },      { "ENCODER", "TSSE" },
	{ "LYRICIST", "TEXT" },	      { "CONDUCTOR", "TPE3" },
	{ "REMIXER", "TPE4" },	      { "LABEL", "TPUB" },
	{ "PUBLISHER", "TPUB" },      { "LANGUAGE", "TLAN" },
	{ "MOOD", "TMOO" },	      { "MEDIA", "TMED" },
	{ "GROUPING", "TIT1" },	      { "SUBTITLE", "TIT3" },
	{ "ORIGINALDATE", "TDOR" },   { "TORY", "TDOR" },
	{ "LYRICS", "USLT" },	      { "UNSYNCEDLYRICS", "USLT" },
};

/* Where an extra tag goes: frame id, and the description of TXXX etc. */
struct id3w_target {
	char id[5];
	const char *desc;	/* NULL: a frame without one */
};

/*
 * The frame an extra tag is written as: "TXXX:desc" → TXXX desc;
 * "COMM:desc", "USLT:desc" and "USLT" → those; a 2.4 text frame id, or a
 * common name of one (ARTISTSORT → TSOP, LYRICS → USLT) → that frame;
 * any other key → TXXX with the key as its description.
 */
static void id3w_target(const char *key, struct id3w_target *t)
{
	size_t i;

	t->desc = NULL;
	if (!strncasecmp(key, "TXXX:", 5) ||
	    ((!strncasecmp(key, "COMM:", 5) || !strncasecmp(key, "USLT:", 5)) &&
	     key[5])) {
		memcpy(t->id, key, 4);
		t->id[4] = '\0';
		for (i = 0; i < 4; i++)
			t->id[i] = (char)(t->id[i] & ~0x20);	/* upper case */
		t->desc = key + 5;
		return;
	}
	for (i = 0; i < MFS_ARRAY_SIZE(id3w_text_ids); i++)
		if (!strcmp(key, id3w_text_ids[i])) {
			memcpy(t->id, key, 5);
			return;
		}
	for (i = 0; i < MFS_ARRAY_SIZE(id3w_name_ids); i++)
		if (!strcasecmp(key, id3w_name_ids[i][0])) {
			memcpy(t->id, id3w_name_ids[i][1], 5);
			t->desc = t->id[0] == 'U' ? "" : NULL;
			return;
		}
	if (!strcmp(key, "USLT")) {
		memcpy(t->id, "USLT", 5);
		t->desc = "";
		return;
	}
	memcpy(t->id, "TXXX", 5);
	t->desc = key;
}

static bool id3w_same_target(const struct id3w_target *a,
			     const struct id3w_target *b)
{
	if (strcmp(a->id, b->id))
		return false;
	if (!a->desc || !b->desc)
		return a->desc == b->desc;
	return !strcmp(a->desc, b->desc);
}

/* Append the 4-byte syncsafe form of v (< 2^28). */
static void id3w_syncsafe(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)((v >> 21) & 0x7f);
	p[1] = (uint8_t)((v >> 14) & 0x7f);
	p[2] = (uint8_t)((v >> 7) & 0x7f);
	p[3] = (uint8_t)(v & 0x7f);
}

/* Start a frame: its id and room for the size and flags.  *at: where. */
static int id3w_begin(struct buf *b, const char *id, size_t *at)
{
	static const uint8_t zero[6];
	int rc;

	*at = b->len;
	rc = buf_add(b, id, 4);
	return rc ? rc : buf_add(b, zero, sizeof(zero));
}

/* End the frame started at at; extra: bytes of it not in b (a picture). */
static int id3w_end(struct buf *b, size_t at, uint64_t extra)
{
	uint64_t size = b->len - at - 10 + extra;

	if (size > ID3W_MAX_SIZE)
		return -EFBIG;
	id3w_syncsafe((uint8_t *)b->data + at + 4, (uint32_t)size);
	return 0;
}

/*
 * Append n bytes of UTF-8 as valid UTF-8 without NULs.  formats_text_append
 * stops silently at the cap: coming near it counts as too big.
 */
static int id3w_utf8(struct buf *b, const char *s, size_t n)
{
	int rc = formats_text_append(b, FORMATS_ENC_UTF8, (const uint8_t *)s,
				     n);

	if (!rc && b->len + 4 > b->max)
		rc = -EFBIG;
	return rc;
}

/* How id3w_strings writes a value. */
#define ID3W_SPLIT 0x1	/* several values joined with "; " */
#define ID3W_GENRE 0x2	/* a leading '(' is doubled (TCON) */

/*
 * Append value as NUL-separated strings: split at "; " (empty pieces
 * dropped) with ID3W_SPLIT.  *first: no string written yet.
 */
static int id3w_strings(struct buf *b, const char *value, unsigned how,
			bool *first)
{
	const char *end;
	size_t n;
	int rc = 0;

	while (*value && !rc) {
		end = (how & ID3W_SPLIT) ? strstr(value, "; ") : NULL;
		n = end ? (size_t)(end - value) : strlen(value);
		if (n) {
			rc = *first ? 0 : buf_addch(b, 0);
			if (!rc && (how & ID3W_GENRE) && value[0] == '(')
				rc = buf_addch(b, '(');
			if (!rc)
				rc = id3w_utf8(b, value, n);
			*first = false;
		}
		value += n + (end ? 2 : 0);
	}
	return rc;
}

/* A text frame with the values of value (how: see id3w_strings). */
static int id3w_text(struct buf *b, const char *id, const char *value,
		     unsigned how)
{
	bool first = true;
	size_t at;
	int rc;

	if (!value || !*value)
		return 0;
	rc = id3w_begin(b, id, &at);
	if (!rc)
		rc = buf_addch(b, 3);
	if (!rc)
		rc = id3w_strings(b, value, how, &first);
	if (!rc && first) {
		/* nothing but separators: no frame */
		b->len = at;
		b->data[at] = '\0';
		return 0;
	}
	return rc ? rc : id3w_end(b, at, 0);
}

/* A number pair "n/total" (TRCK, TPOS); nothing when both are 0. */
static int id3w_pair(struct buf *b, const char *id, int num, int total)
{
	char s[32];

	num = MFS_MAX(num, 0);
	total = MFS_MAX(total, 0);
	if (!num && !total)
		return 0;
	if (total)
		snprintf(s, sizeof(s), "%d/%d", num, total);
	else
		snprintf(s, sizeof(s), "%d", num);
	return id3w_text(b, id, s, 0);
}

/* COMM or USLT: UTF-8, language "eng", description, one text. */
static int id3w_comment(struct buf *b, const char *id, const char *desc,
			const char *text)
{
	size_t at;
	int rc;

	if (!text || !*text)
		return 0;
	rc = id3w_begin(b, id, &at);
	if (!rc)
		rc = buf_add(b, "\3eng", 4);
	if (!rc)
		rc = id3w_utf8(b, desc, strlen(desc));
	if (!rc)
		rc = buf_addch(b, 0);
	if (!rc)
		rc = id3w_utf8(b, text, strlen(text));
	return rc ? rc : id3w_end(b, at, 0);
}

static int id3w_named(struct buf *b, const struct formats_tags *t)
{
	char year[16];
	const char *date = t->date;
	int rc;

	if ((!date || !*date) && t->year > 0) {
		snprintf(year, sizeof(year), "%d", t->year);
		date = year;
	}
	rc = id3w_text(b, "TIT2", t->title, 0);
	if (!rc)
		rc = id3w_text(b, "TPE1", t->artist, ID3W_SPLIT);
	if (!rc)
		rc = id3w_text(b, "TALB", t->album, 0);
	if (!rc)
		rc = id3w_text(b, "TPE2", t->album_artist, ID3W_SPLIT);
	if (!rc)
		rc = id3w_text(b, "TCON", t->genre, ID3W_SPLIT | ID3W_GENRE);
	if (!rc)
		rc = id3w_text(b, "TCOM", t->composer, ID3W_SPLIT);
	if (!rc)
		rc = id3w_text(b, "TDRC", date, 0);
	if (!rc)
		rc = id3w_pair(b, "TRCK", t->track, t->track_total);
	if (!rc)
		rc = id3w_pair(b, "TPOS", t->disc, t->disc_total);
	if (!rc)
		rc = id3w_comment(b, "COMM", "", t->comment);
	if (!rc && t->compilation)
		rc = id3w_text(b, "TCMP", "1", 0);
	return rc;
}

/*
 * The frame of extra tag i (target tg[i]), with the values of the later
 * extra tags that go to the same frame (text frames only: COMM and USLT
 * hold one text, later ones are dropped).
 */
static int id3w_extra(struct buf *b, const struct formats_tags *t, size_t i,
		      const struct id3w_target *tg)
{
	bool first = true;
	size_t at;
	size_t j;
	int rc;

	if (tg[i].id[0] != 'T')
		return id3w_comment(b, tg[i].id, tg[i].desc, t->extra[i].value);
	rc = id3w_begin(b, tg[i].id, &at);
	if (!rc)
		rc = buf_addch(b, 3);
	if (!rc && tg[i].desc) {
		rc = id3w_utf8(b, tg[i].desc, strlen(tg[i].desc));
		if (!rc)
			rc = buf_addch(b, 0);
	}
	for (j = i; j < t->n_extra && !rc; j++)
		if (tg[j].id[0] && id3w_same_target(&tg[i], &tg[j]))
			rc = id3w_strings(b, t->extra[j].value, 0, &first);
	return rc ? rc : id3w_end(b, at, 0);
}

/* The frames of the extra tags: one per target, in the order of keys. */
static int id3w_extras(struct buf *b, const struct formats_tags *t)
{
	struct id3w_target *tg;
	bool seen;
	size_t i;
	size_t j;
	int rc = 0;

	if (!t->n_extra)
		return 0;
	if (t->n_extra > ID3W_MAX_EXTRA)
		return -EFBIG;
	tg = calloc(t->n_extra, sizeof(*tg));
	if (!tg)
		return -ENOMEM;
	/* an empty id: an extra tag without a value, left out */
	for (i = 0; i < t->n_extra; i++)
		if (t->extra[i].key && t->extra[i].value &&
		    *t->extra[i].value)
			id3w_target(t->extra[i].key, &tg[i]);
	for (i = 0; i < t->n_extra && !rc; i++) {
		seen = !tg[i].id[0];
		for (j = 0; j < i && !seen; j++)
			seen = tg[j].id[0] && id3w_same_target(&tg[i], &tg[j]);
		if (!seen)
			rc = id3w_extra(b, t, i, tg);
	}
	free(tg);
	return rc;
}

/*
 * The APIC frame up to the image: *len is the image size.  The MIME type
 * is kept to printable ASCII; a type that ID3 does not define becomes 3.
 */
static int id3w_picture(struct buf *b, const struct formats_source *src,
			const struct formats_picture *pic, size_t *at,
			uint64_t *len)
{
	size_t i;
	int rc;

	*len = pic->data ? pic->data_len : pic->length;
	if (!pic->data && (pic->offset > src->size ||
			   pic->length > src->size - pic->offset))
		return -EBADMSG;
	if (*len > ID3W_MAX_PICTURE)
		return -EFBIG;
	rc = id3w_begin(b, "APIC", at);
	if (!rc)
		rc = buf_addch(b, 3);
	for (i = 0; !rc && i < sizeof(pic->mime) && pic->mime[i]; i++)
		rc = buf_addch(b, pic->mime[i] > 0x20 && pic->mime[i] < 0x7f ?
					  pic->mime[i] : '?');
	if (!rc)
		rc = buf_addch(b, 0);
	if (!rc)
		rc = buf_addch(b, pic->type <= 20 ? (int)pic->type : 3);
	if (!rc)
		rc = buf_addch(b, 0);	/* empty description */
	return rc ? rc : id3w_end(b, *at, *len);
}

/* Append the tag in b, then the picture bytes, then padding zeros. */
static int id3w_emit(struct buf *b, const struct formats_picture *pic,
		     uint64_t pic_len, size_t padding,
		     struct formats_synth *out)
{
	uint64_t size = b->len - 10 + pic_len + padding;
	uint8_t *zeros;
	int rc;

	if (size > ID3W_MAX_SIZE)
		return -EFBIG;
	memcpy(b->data, "ID3\4\0\0", 6);
	id3w_syncsafe((uint8_t *)b->data + 6, (uint32_t)size);
	rc = formats_synth_add_bytes(out, b->data, b->len);
	if (!rc && pic_len && pic->data)
		rc = formats_synth_add_bytes(out, pic->data, pic->data_len);
	else if (!rc && pic_len)
		rc = formats_synth_add_origin(out, pic->offset, pic->length);
	if (rc || !padding)
		return rc;
	zeros = calloc(1, padding);
	if (!zeros)
		return -ENOMEM;
	rc = formats_synth_add_bytes(out, zeros, padding);
	free(zeros);
	return rc;
}

/*
 * Append to out the segments of an ID3v2.4 tag holding exactly tags and
 * picture (NULL or not present: none; its bytes are a range of src or its
 * data), followed by padding zero bytes.  0, -EBADMSG (a picture range
 * outside src), -EFBIG (over FORMATS_MAX_TAG_BYTES of frames, a picture
 * over 64 MiB), -ENOMEM.  On failure out may hold part of the tag.
 */
int formats_id3v24_write(const struct formats_source *src,
			 const struct formats_tags *tags,
			 const struct formats_picture *picture, size_t padding,
			 struct formats_synth *out)
{
	struct buf b = BUF_INIT_MAX(FORMATS_MAX_TAG_BYTES);
	static const uint8_t header[10];
	uint64_t pic_len = 0;
	size_t at;
	int rc;

	if (padding > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	rc = buf_add(&b, header, sizeof(header));
	if (!rc)
		rc = id3w_named(&b, tags);
	if (!rc)
		rc = id3w_extras(&b, tags);
	if (!rc && picture && picture->present &&
	    (picture->data ? picture->data_len : picture->length))
		rc = id3w_picture(&b, src, picture, &at, &pic_len);
	if (!rc)
		rc = id3w_emit(&b, picture, pic_len, padding, out);
	buf_release(&b);
	return rc;
}
