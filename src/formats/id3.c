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
