/*
 * formats.c - dispatch by magic bytes and the helpers every parser shares.
 *
 * formats_parse() reads the header window once, skips leading ID3v2 tags
 * (MP3, but also FLAC and ADTS files carry them), and asks each backend in
 * turn whether the bytes where the stream starts are its own.  The file
 * name is only a hint for the backends that must search for a frame sync
 * (ADTS and MPEG audio share one); magic bytes decide.
 *
 * The shared helpers are the bounded reader (formats_fetch), the text
 * decoders (Latin-1, UTF-16 with or without BOM, UTF-8 in; always valid
 * UTF-8 out, invalid input replaced by U+FFFD) and the one place that
 * stores a tag value (formats_tag_add), which enforces the caps that keep
 * a hostile tag from growing the meta without bound.
 */
#include "common/mfs.h"
#include "common/fdio.h"
#define MFS_LOG_MODULE MFS_LOGM_FORMATS
#include "common/str.h"
#include "formats/formats_i.h"
#include "log/log.h"

#include <strings.h>
#include <unistd.h>

#ifdef MFS_UNIT_TEST
size_t formats_window = (size_t)64 << 10;
size_t formats_id3_whole_max = (size_t)1 << 20;
#endif

/* ---- sources ----------------------------------------------------------- */

static ssize_t formats_fd_read_at(void *ctx, void *buf, size_t len,
				  uint64_t off)
{
	return mfs_pread_full(*(int *)ctx, buf, len, off);
}

void formats_source_from_fd(struct formats_source *src, int *fd,
			    uint64_t size)
{
	src->read_at = formats_fd_read_at;
	src->ctx = fd;
	src->size = size;
}

static ssize_t formats_mem_read_at(void *ctx, void *buf, size_t len,
				   uint64_t off)
{
	const struct formats_mem *mem = ctx;
	size_t n;

	if (off >= mem->len)
		return 0;
	n = MFS_MIN(len, mem->len - (size_t)off);
	memcpy(buf, mem->data + off, n);
	return (ssize_t)n;
}

void formats_source_from_mem(struct formats_source *src,
			     struct formats_mem *mem, const void *data,
			     size_t len)
{
	mem->data = data;
	mem->len = data ? len : 0;
	src->read_at = formats_mem_read_at;
	src->ctx = mem;
	src->size = mem->len;
}

/* ---- reading ----------------------------------------------------------- */

int formats_read(struct formats_ctx *ctx, uint64_t off, void *buf, size_t len,
		 size_t *got)
{
	const struct formats_source *src = ctx->src;
	size_t done = 0;
	ssize_t n;

	*got = 0;
	if (off >= src->size)
		return 0;
	len = (size_t)MFS_MIN((uint64_t)len, src->size - off);
	while (done < len) {
		n = src->read_at(src->ctx, (uint8_t *)buf + done, len - done,
				 off + done);
		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len - done)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

/* What an empty chunk points at: never NULL, so p + 0 is always valid. */
const uint8_t formats_no_bytes[1];

int formats_fetch(struct formats_ctx *ctx, uint64_t off, size_t len,
		  struct formats_chunk *c)
{
	uint64_t size = ctx->src->size;
	int rc;

	c->p = formats_no_bytes;
	c->len = 0;
	c->owned = NULL;
	if (len > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	if (off >= size)
		return 0;
	len = (size_t)MFS_MIN((uint64_t)len, size - off);
	if (off + len <= ctx->head_len) {
		c->p = ctx->head + off;
		c->len = len;
		return 0;
	}
	c->owned = malloc(len ? len : 1);
	if (!c->owned)
		return -ENOMEM;
	rc = formats_read(ctx, off, c->owned, len, &c->len);
	c->p = c->owned;
	return rc;
}

void formats_chunk_release(struct formats_chunk *c)
{
	free(c->owned);
	c->owned = NULL;
	c->p = formats_no_bytes;
	c->len = 0;
}

/* ---- text -------------------------------------------------------------- */

/*
 * Append one code point; -EFBIG when b is full, -ENOMEM.  NUL and U+FEFF
 * (a byte order mark, never part of a value) are dropped.
 */
static int utf8_put(struct buf *b, uint32_t cp)
{
	uint8_t s[4];
	size_t n;

	if (cp == 0 || cp == 0xfeff)
		return 0;
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		s[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (uint8_t)(0xc0 | (cp >> 6));
		s[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (uint8_t)(0xe0 | (cp >> 12));
		s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		s[0] = (uint8_t)(0xf0 | (cp >> 18));
		s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		s[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(b, s, n);
}

/*
 * Decode one UTF-8 sequence at p (n > 0 bytes) into *cp; returns the bytes
 * consumed.  An invalid sequence gives U+FFFD and consumes its valid part.
 */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t c = p[0];
	uint32_t v;
	uint32_t min;
	size_t len;
	size_t i;

	*cp = 0xfffd;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 1;
	}
	for (i = 1; i < len; i++) {
		if (i >= n || (p[i] & 0xc0) != 0x80)
			return i;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return len;
	*cp = v;
	return len;
}

static int text_utf16(struct buf *b, enum formats_enc enc, const uint8_t *p,
		      size_t n)
{
	bool be = enc == FORMATS_ENC_UTF16BE;
	uint32_t u;
	uint32_t lo;
	size_t i = 0;
	int rc = 0;

	if (n >= 2 && p[0] == 0xff && p[1] == 0xfe) {
		be = false;
		i = 2;
	} else if (n >= 2 && p[0] == 0xfe && p[1] == 0xff) {
		be = true;
		i = 2;
	}
	while (i + 1 < n && !rc) {
		u = be ? (uint32_t)(p[i] << 8 | p[i + 1]) :
			 (uint32_t)(p[i + 1] << 8 | p[i]);
		i += 2;
		if (u >= 0xd800 && u <= 0xdbff && i + 1 < n) {
			lo = be ? (uint32_t)(p[i] << 8 | p[i + 1]) :
				  (uint32_t)(p[i + 1] << 8 | p[i]);
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 2;
			}
		}
		rc = utf8_put(b, u);
	}
	return rc;
}

/* Length of the run of plain ASCII (1..127) at p: copied as it is. */
static size_t ascii_run(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] && p[i] < 0x80)
		i++;
	return i;
}

/*
 * Append a run of plain ASCII in one step; when it passes the cap, what
 * fits is kept and -EFBIG returned, as a byte-by-byte append would.
 */
static int add_run(struct buf *b, const uint8_t *p, size_t run)
{
	size_t room = b->max > b->len ? b->max - b->len : 0;
	int rc;

	if (run <= room)
		return buf_add(b, p, run);
	rc = buf_add(b, p, room);
	return rc ? rc : -EFBIG;
}

int formats_text_append(struct buf *b, enum formats_enc enc, const uint8_t *p,
			size_t n)
{
	uint32_t cp;
	size_t i = 0, run;
	int rc = 0;

	switch (enc) {
	case FORMATS_ENC_LATIN1:
	case FORMATS_ENC_UTF8:
		if (enc == FORMATS_ENC_UTF8 && n >= 3 && p[0] == 0xef &&
		    p[1] == 0xbb && p[2] == 0xbf)
			i = 3;
		while (i < n && !rc) {
			run = ascii_run(p + i, n - i);
			if (run) {
				rc = add_run(b, p + i, run);
				i += run;
			} else if (enc == FORMATS_ENC_LATIN1) {
				rc = utf8_put(b, p[i++]);
			} else {
				i += utf8_decode(p + i, n - i, &cp);
				rc = utf8_put(b, cp);
			}
		}
		break;
	default:
		rc = text_utf16(b, enc, p, n);
		break;
	}
	return rc == -EFBIG ? 0 : rc;
}

enum formats_enc formats_text_guess(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t i = 0;
	size_t len;

	while (i < n) {
		len = ascii_run(p + i, n - i);
		if (len) {
			i += len;
			continue;
		}
		len = utf8_decode(p + i, n - i, &cp);
		/* an invalid sequence, not a U+FFFD that was there */
		if (cp == 0xfffd && (len != 3 || p[i] != 0xef))
			return FORMATS_ENC_LATIN1;
		i += len;
	}
	return FORMATS_ENC_UTF8;
}

void formats_utf8_copy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (!size)
		return;
	if (n >= size) {
		n = size - 1;
		while (n && ((uint8_t)src[n] & 0xc0) == 0x80)
			n--;	/* src[n] would start the cut character */
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

char *formats_text_dup(enum formats_enc enc, const uint8_t *p, size_t n)
{
	struct buf b = BUF_INIT_MAX(FORMATS_MAX_VALUE);

	if (formats_text_append(&b, enc, p, n)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

size_t formats_text_len(enum formats_enc enc, const uint8_t *p, size_t n,
			size_t *next)
{
	const uint8_t *z;
	size_t i;

	if (enc == FORMATS_ENC_LATIN1 || enc == FORMATS_ENC_UTF8) {
		z = n ? memchr(p, 0, n) : NULL;
		if (!z) {
			*next = n;
			return n;
		}
		*next = (size_t)(z - p) + 1;
		return (size_t)(z - p);
	}
	for (i = 0; i + 1 < n; i += 2) {
		if (!p[i] && !p[i + 1]) {
			*next = i + 2;
			return i;
		}
	}
	*next = n;
	return n;
}

/* ---- tags -------------------------------------------------------------- */

static const struct {
	const char *key;
	enum formats_field_id field;
} formats_field_keys[] = {
	{ "TITLE", FORMATS_F_TITLE },
	{ "ARTIST", FORMATS_F_ARTIST },
	{ "ALBUM", FORMATS_F_ALBUM },
	{ "ALBUMARTIST", FORMATS_F_ALBUM_ARTIST },
	{ "ALBUM ARTIST", FORMATS_F_ALBUM_ARTIST },
	{ "ALBUM_ARTIST", FORMATS_F_ALBUM_ARTIST },
	{ "GENRE", FORMATS_F_GENRE },
	{ "COMPOSER", FORMATS_F_COMPOSER },
	{ "DATE", FORMATS_F_DATE },
	{ "YEAR", FORMATS_F_DATE },
	{ "COMMENT", FORMATS_F_COMMENT },
	{ "DESCRIPTION", FORMATS_F_COMMENT },
	{ "TRACKNUMBER", FORMATS_F_TRACK },
	{ "TRACK", FORMATS_F_TRACK },
	{ "TRACKTOTAL", FORMATS_F_TRACK_TOTAL },
	{ "TOTALTRACKS", FORMATS_F_TRACK_TOTAL },
	{ "DISCNUMBER", FORMATS_F_DISC },
	{ "DISC", FORMATS_F_DISC },
	{ "DISCTOTAL", FORMATS_F_DISC_TOTAL },
	{ "TOTALDISCS", FORMATS_F_DISC_TOTAL },
	{ "COMPILATION", FORMATS_F_COMPILATION },
};

enum formats_field_id formats_field_lookup(const char *key)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(formats_field_keys); i++)
		if (!strcasecmp(key, formats_field_keys[i].key))
			return formats_field_keys[i].field;
	return FORMATS_F_NONE;
}

static char **field_str(struct formats_tags *t, enum formats_field_id f)
{
	switch (f) {
	case FORMATS_F_TITLE:
		return &t->title;
	case FORMATS_F_ARTIST:
		return &t->artist;
	case FORMATS_F_ALBUM:
		return &t->album;
	case FORMATS_F_ALBUM_ARTIST:
		return &t->album_artist;
	case FORMATS_F_GENRE:
		return &t->genre;
	case FORMATS_F_COMPOSER:
		return &t->composer;
	case FORMATS_F_DATE:
		return &t->date;
	case FORMATS_F_COMMENT:
		return &t->comment;
	default:
		return NULL;
	}
}

static int *field_num(struct formats_tags *t, enum formats_field_id f)
{
	switch (f) {
	case FORMATS_F_TRACK:
		return &t->track;
	case FORMATS_F_TRACK_TOTAL:
		return &t->track_total;
	case FORMATS_F_DISC:
		return &t->disc;
	case FORMATS_F_DISC_TOTAL:
		return &t->disc_total;
	default:
		return NULL;
	}
}

bool formats_field_is_set(const struct formats_tags *t,
			  enum formats_field_id f)
{
	struct formats_tags *m = (struct formats_tags *)t;
	char **s = field_str(m, f);
	int *n = field_num(m, f);

	if (s)
		return *s != NULL;
	if (n)
		return *n != 0;
	if (f == FORMATS_F_COMPILATION)
		return t->compilation;
	return false;
}

/* The first value of a key. */
static int value_set(char **dst, struct formats_grow *g, const char *value)
{
	*dst = strdup(value);
	if (!*dst)
		return -ENOMEM;
	g->len = strlen(value);
	g->cap = g->len + 1;
	g->joins = 1;
	return 0;
}

/*
 * Append "; " and value to *dst, unless that passes FORMATS_MAX_VALUE or
 * FORMATS_MAX_JOIN.  The allocation grows geometrically, so many values
 * cost linear time.
 */
static int value_join(char **dst, struct formats_grow *g, const char *value)
{
	size_t v = strlen(value);
	size_t need;
	size_t cap;
	char *p;

	if (g->joins >= FORMATS_MAX_JOIN || v > FORMATS_MAX_VALUE - 2 ||
	    g->len > FORMATS_MAX_VALUE - 2 - v)
		return 0;
	need = g->len + 2 + v + 1;
	if (need > g->cap) {
		cap = MFS_MIN(MFS_MAX(need, g->cap * 2),
			      (size_t)FORMATS_MAX_VALUE + 1);
		p = realloc(*dst, cap);
		if (!p)
			return -ENOMEM;
		*dst = p;
		g->cap = cap;
	}
	memcpy(*dst + g->len, "; ", 2);
	memcpy(*dst + g->len + 2, value, v + 1);
	g->len += 2 + v;
	g->joins++;
	return 0;
}

static int extra_add(struct formats_ctx *ctx, const char *key,
		     const char *value)
{
	struct formats_tags *t = &ctx->meta->tags;
	struct formats_field *e;
	size_t i;

	if (!*key)
		return 0;
	for (i = 0; i < t->n_extra; i++)
		if (!strcasecmp(t->extra[i].key, key))
			return value_join(&t->extra[i].value,
					  &ctx->extras[i], value);
	if (t->n_extra >= FORMATS_MAX_EXTRA)
		return 0;
	e = realloc(t->extra, (t->n_extra + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	t->extra = e;
	e = &t->extra[t->n_extra];
	e->key = strdup(key);
	if (!e->key)
		return -ENOMEM;
	if (value_set(&e->value, &ctx->extras[t->n_extra], value)) {
		free(e->key);
		return -ENOMEM;
	}
	t->n_extra++;
	return 0;
}

int formats_parse_pair(const char *s, int *num, int *total)
{
	long v = 0;
	int digits = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if (v < 1000000)
			v = v * 10 + (*s - '0');
	if (!digits || v >= 1000000)
		return -EINVAL;
	*num = (int)v;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '/')
		return 0;
	s++;
	while (*s == ' ' || *s == '\t')
		s++;
	v = 0;
	digits = 0;
	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if (v < 1000000)
			v = v * 10 + (*s - '0');
	if (digits && v < 1000000)
		*total = (int)v;
	return 0;
}

int formats_year_from_date(const char *date)
{
	const char *s = date;
	int y;
	int i;

	if (!s)
		return 0;
	while (*s) {
		if (*s < '0' || *s > '9') {
			s++;
			continue;
		}
		for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i >= 4) {
			y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
			    (s[2] - '0') * 10 + (s[3] - '0');
			return y;
		}
		s += i;
	}
	return 0;
}

static bool parse_bool(const char *s)
{
	while (*s == ' ')
		s++;
	return (*s >= '1' && *s <= '9') || !strcasecmp(s, "true") ||
	       !strcasecmp(s, "yes");
}

static int tag_set_number(struct formats_ctx *ctx, enum formats_field_id f,
			  const char *key, const char *value)
{
	struct formats_tags *t = &ctx->meta->tags;
	int *num = field_num(t, f);
	int *total = NULL;
	int n = 0;
	int tot = 0;

	if (f == FORMATS_F_TRACK)
		total = &t->track_total;
	else if (f == FORMATS_F_DISC)
		total = &t->disc_total;
	if (formats_parse_pair(value, &n, &tot))
		return extra_add(ctx, key, value);
	if (!*num)
		*num = n;
	if (total && tot && !*total)
		*total = tot;
	return 0;
}

void formats_tag_begin(struct formats_ctx *ctx)
{
	unsigned f;

	ctx->locked = 0;
	for (f = 0; f < FORMATS_F_COUNT; f++)
		if (formats_field_is_set(&ctx->meta->tags, f))
			ctx->locked |= 1u << f;
}

int formats_tag_add(struct formats_ctx *ctx, const char *key,
		    const char *value, unsigned flags)
{
	struct formats_tags *t = &ctx->meta->tags;
	enum formats_field_id f;
	char **str;

	if (!key || !value || !*value || ctx->n_items >= FORMATS_MAX_ITEMS)
		return 0;
	ctx->n_items++;
	f = formats_field_lookup(key);
	if (f == FORMATS_F_NONE)
		return extra_add(ctx, key, value);
	if ((flags & FORMATS_TAG_IF_EMPTY) && (ctx->locked & (1u << f)))
		return 0;
	if (f == FORMATS_F_COMPILATION) {
		t->compilation = t->compilation || parse_bool(value);
		return 0;
	}
	str = field_str(t, f);
	if (!str)
		return tag_set_number(ctx, f, key, value);
	if (!*str)
		return value_set(str, &ctx->fields[f], value);
	if (f == FORMATS_F_DATE)
		return 0;
	return value_join(str, &ctx->fields[f], value);
}

int formats_tag_add_text(struct formats_ctx *ctx, const char *key,
			 enum formats_enc enc, const uint8_t *p, size_t n,
			 unsigned flags)
{
	char *value;
	int rc;

	if (!n || ctx->n_items >= FORMATS_MAX_ITEMS)
		return 0;
	value = formats_text_dup(enc, p, n);
	if (!value)
		return -ENOMEM;
	rc = formats_tag_add(ctx, key, value, flags);
	free(value);
	return rc;
}

uint32_t formats_bitrate(uint64_t bytes, double seconds)
{
	double bps;

	if (!(seconds > 0))
		return 0;
	bps = (double)bytes * 8 / seconds;
	if (!(bps < 4294967295.0))
		return 0;
	return (uint32_t)bps;
}

/* ---- bits -------------------------------------------------------------- */

void formats_bits_init(struct formats_bits *b, const uint8_t *p, size_t n)
{
	b->p = p;
	b->n = n;
	b->pos = 0;
	b->failed = false;
}

uint32_t formats_bits_get(struct formats_bits *b, unsigned count)
{
	uint32_t v = 0;

	while (count--) {
		if (b->pos >= b->n * 8) {
			b->failed = true;
			return 0;
		}
		v = v << 1 | ((b->p[b->pos / 8] >> (7 - b->pos % 8)) & 1);
		b->pos++;
	}
	return v;
}

uint32_t formats_aac_rate(unsigned i)
{
	static const uint32_t rates[13] = {
		96000, 88200, 64000, 48000, 44100, 32000, 24000,
		22050, 16000, 12000, 11025, 8000,  7350,
	};

	return i < MFS_ARRAY_SIZE(rates) ? rates[i] : 0;
}

/* An object type: 5 bits, 31 escaping to 6 more. */
static unsigned aac_object_type(struct formats_bits *b)
{
	unsigned type = formats_bits_get(b, 5);

	return type == 31 ? 32 + formats_bits_get(b, 6) : type;
}

static uint32_t aac_config_freq(struct formats_bits *b)
{
	unsigned i = formats_bits_get(b, 4);

	return i == 15 ? formats_bits_get(b, 24) : formats_aac_rate(i);
}

uint32_t formats_aac_config_rate(const uint8_t *p, size_t n)
{
	struct formats_bits b;
	unsigned type;
	uint32_t rate;
	uint32_t ext;

	formats_bits_init(&b, p, n);
	type = aac_object_type(&b);
	rate = aac_config_freq(&b);
	formats_bits_get(&b, 4);	/* channel configuration */
	if (type == 5 || type == 29) {	/* explicit SBR (and PS) */
		ext = aac_config_freq(&b);
		return b.failed ? 0 : ext;
	}
	if (b.failed)
		return 0;
	/* GASpecificConfig of AAC LC: frame length, core coder, extension */
	if (type == 2 && !formats_bits_get(&b, 1) && !formats_bits_get(&b, 1) &&
	    !formats_bits_get(&b, 1) && formats_bits_get(&b, 11) == 0x2b7 &&
	    aac_object_type(&b) == 5 && formats_bits_get(&b, 1)) {
		ext = aac_config_freq(&b);	/* backward-compatible SBR */
		if (!b.failed && ext)
			return ext;
	}
	return rate;
}

/* ---- pictures ---------------------------------------------------------- */

bool formats_picture_better(const struct formats_picture *have,
			    uint32_t type)
{
	return !have->present || (have->type != 3 && type == 3);
}

void formats_picture_sniff(struct formats_picture *pic, const uint8_t *p,
			   size_t n)
{
	const char *mime = NULL;

	if (pic->mime[0])
		return;
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		mime = "image/jpeg";
	else if (n >= 4 && !memcmp(p, "\x89PNG", 4))
		mime = "image/png";
	else if (n >= 4 && !memcmp(p, "GIF8", 4))
		mime = "image/gif";
	else if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
		mime = "image/webp";
	else if (n >= 2 && !memcmp(p, "BM", 2))
		mime = "image/bmp";
	if (mime)
		str_copy(pic->mime, mime, sizeof(pic->mime));
}

/* ---- dispatch ---------------------------------------------------------- */

static const struct formats_ops *const formats_backends[] = {
	&formats_flac_ops,
	&formats_ogg_ops,
	&formats_wav_ops,
	&formats_mp4_ops,
	&formats_adts_ops,
	&formats_mp3_ops,
};

static const char *const formats_exts[FORMATS_KIND_COUNT] = {
	[FORMATS_UNKNOWN] = "",		[FORMATS_FLAC] = "flac",
	[FORMATS_MP3] = "mp3",		[FORMATS_OGG_VORBIS] = "ogg",
	[FORMATS_OPUS] = "opus",	[FORMATS_WAV] = "wav",
	[FORMATS_M4A] = "m4a",		[FORMATS_AAC] = "aac",
};

const char *formats_kind_ext(enum formats_kind kind)
{
	if ((unsigned)kind >= FORMATS_KIND_COUNT)
		return "";
	return formats_exts[kind];
}

bool formats_is_audio_name(const char *name)
{
	static const char *const exts[] = {
		".flac", ".mp3", ".ogg", ".oga", ".opus", ".wav",
		".m4a",	 ".m4b", ".mp4", ".aac",
	};
	size_t i;

	if (!name)
		return false;
	for (i = 0; i < MFS_ARRAY_SIZE(exts); i++)
		if (str_ends_with_ci(name, exts[i]))
			return true;
	return false;
}

void formats_meta_release(struct formats_meta *meta)
{
	struct formats_tags *t = &meta->tags;
	size_t i;

	free(t->title);
	free(t->artist);
	free(t->album);
	free(t->album_artist);
	free(t->genre);
	free(t->composer);
	free(t->date);
	free(t->comment);
	for (i = 0; i < t->n_extra; i++) {
		free(t->extra[i].key);
		free(t->extra[i].value);
	}
	free(t->extra);
	free(meta->picture.data);
	memset(meta, 0, sizeof(*meta));
}

/* Skip the ID3v2 tags at the start: ctx->start is where the stream is. */
static void skip_id3v2(struct formats_ctx *ctx)
{
	struct formats_chunk c;
	uint64_t off = 0;
	uint64_t size;
	int i;

	for (i = 0; i < 8; i++) {
		if (formats_fetch(ctx, off, 10, &c)) {
			formats_chunk_release(&c);
			break;
		}
		size = formats_id3v2_size(c.p, c.len);
		formats_chunk_release(&c);
		if (!size)
			break;
		off += size;
		ctx->id3v2_end = off;
	}
	ctx->start = off;
}

static const struct formats_ops *pick_backend(struct formats_ctx *ctx,
					      const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(formats_backends); i++)
		if (formats_backends[i]->probe(ctx, p, n))
			return formats_backends[i];
	/* A tag with nothing recognisable after it: keep the tags. */
	if (ctx->id3v2_end)
		return &formats_mp3_ops;
	return NULL;
}

static void finish_meta(struct formats_meta *meta, uint64_t size)
{
	meta->tags.year = formats_year_from_date(meta->tags.date);
	if (meta->audio_end > size)
		meta->audio_end = size;
	if (meta->audio_start > meta->audio_end)
		meta->audio_start = meta->audio_end;
}

/* A parse with flags; load_at: see FORMATS_PARSE_LOAD_PICTURE. */
static int parse_with(const struct formats_source *src, const char *name,
		      unsigned flags, uint64_t load_at,
		      struct formats_meta *out)
{
	struct formats_ctx ctx;
	struct formats_chunk probe = { 0 };
	const struct formats_ops *ops;
	uint8_t *head = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&ctx, 0, sizeof(ctx));
	if (!src || !src->read_at)
		return -EINVAL;
	ctx.src = src;
	ctx.name = name;
	ctx.meta = out;
	ctx.flags = flags;
	ctx.load_at = load_at;
	head = malloc(FORMATS_WINDOW);
	if (!head)
		return -ENOMEM;
	rc = formats_read(&ctx, 0, head, FORMATS_WINDOW, &ctx.head_len);
	if (rc)
		goto out;
	ctx.head = head;
	skip_id3v2(&ctx);
	rc = formats_fetch(&ctx, ctx.start, FORMATS_PROBE, &probe);
	if (rc)
		goto out;
	ops = pick_backend(&ctx, probe.p, probe.len);
	formats_chunk_release(&probe);
	if (!ops || ((flags & FORMATS_PARSE_LOAD_PICTURE) &&
		     ops != &formats_ogg_ops)) {
		rc = -EBADMSG;
		goto out;
	}
	out->kind = ops->kind;
	rc = ops->parse(&ctx);
	if (rc)
		goto out;
	finish_meta(out, src->size);
out:
	formats_chunk_release(&probe);
	free(head);
	if (rc) {
		mfs_log(MFS_LOG_DEBUG, "cannot parse '%s': %s",
			name ? name : "(unnamed)", strerror(-rc));
		formats_meta_release(out);
	}
	return rc;
}

int formats_parse(const struct formats_source *src, const char *name,
		  struct formats_meta *out)
{
	return parse_with(src, name, 0, 0, out);
}

int formats_parse_flags(const struct formats_source *src, const char *name,
			unsigned flags, struct formats_meta *out)
{
	return parse_with(src, name, flags & FORMATS_PARSE_LAZY_PICTURES, 0,
			  out);
}

/* Decode the base64 picture pic of an Ogg file (see ogg.c). */
static int load_ogg_picture(const struct formats_source *src,
			    const struct formats_picture *pic, uint8_t **data,
			    size_t *len)
{
	struct formats_meta m;
	int rc;

	rc = parse_with(src, NULL, FORMATS_PARSE_LOAD_PICTURE, pic->offset,
			&m);
	if (rc)
		return rc;
	if (!m.picture.data || m.picture.type != pic->type ||
	    m.picture.data_len != pic->length) {
		formats_meta_release(&m);
		return -EBADMSG;
	}
	*data = m.picture.data;
	*len = m.picture.data_len;
	m.picture.data = NULL;
	formats_meta_release(&m);
	return 0;
}

int formats_picture_load(const struct formats_source *src,
			 const struct formats_picture *pic, uint8_t **data,
			 size_t *len)
{
	size_t n = pic->data ? pic->data_len : (size_t)pic->length;
	int rc;

	*data = NULL;
	*len = 0;
	if (!pic->present)
		return -ENOENT;
	if (!pic->data && pic->length > FORMATS_MAX_TAG_BYTES)
		return -EFBIG;
	if (!pic->data && pic->store == FORMATS_PIC_OGG_BASE64)
		return load_ogg_picture(src, pic, data, len);
	*data = malloc(n ? n : 1);
	if (!*data)
		return -ENOMEM;
	if (pic->data)
		memcpy(*data, pic->data, n);
	rc = pic->data ? 0 : formats_read_exact(src, pic->offset, *data, n);
	if (rc) {
		free(*data);
		*data = NULL;
		return rc;
	}
	*len = n;
	return 0;
}
