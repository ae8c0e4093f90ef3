/*
 * toml.c - a TOML 1.0.0 parser that reads a whole document into a tree.
 *
 * The document is checked twice: first as a whole for its encoding (valid
 * UTF-8, no control character other than tab and newline anywhere, which
 * TOML forbids even in comments and strings), then by a recursive-descent
 * parser over the bytes.  The first error stops the parse and is reported
 * as "FILE:LINE:COL: reason" (columns count characters, not bytes).
 *
 * Tables keep their keys in document order plus, once they hold more than
 * a few keys, an open-addressing hash index, so every lookup is O(1) and a
 * document of n keys parses in O(n).  Nesting (arrays, inline tables,
 * dotted keys and [headers] alike) is capped at TOML_MAX_DEPTH levels, so
 * neither the parser nor toml_free() can recurse without bound.  The parser
 * never reads past text + len: the text need not be NUL-terminated.
 *
 * The rules on redefining tables are the subtle part of TOML.  Each table
 * remembers how it was created (enum table_kind): a [header] may define a
 * table that an earlier header only implied, dotted keys may extend tables
 * that dotted keys created, and nothing may extend an inline table or an
 * array written as a value.  Keys are compared byte by byte (TOML does no
 * Unicode normalization).  A key holding a NUL byte (from "\u0000") is kept
 * whole for duplicate checks, but toml_key_at() and toml_get() see it as a C
 * string.  Floats go through strtod_l() in the "C" locale, so a daemon that
 * called setlocale() still reads "1.5" as one and a half.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "config/config.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>

/* Tables with more keys than this get a hash index. */
#define TOML_INDEX_MIN 8

/* How a table came to be; decides which later definitions may extend it. */
enum table_kind {
	TABLE_IMPLIED,	/* parent in a [a.b] header: [a] may still define it */
	TABLE_HEADER,	/* defined by [header], [[header]] or the root */
	TABLE_DOTTED,	/* created by a dotted key (a.b = 1) */
	TABLE_INLINE,	/* { ... }: closed for good */
};

struct toml_entry {
	char *key;		/* NUL-terminated; may hold NULs (see klen) */
	size_t klen;
	uint32_t hash;
	struct toml_value *val;
};

struct toml_value {
	enum toml_type type;
	unsigned char kind;	/* tables: enum table_kind; arrays: true for
				 * an array of tables ([[name]]) */
	unsigned short depth;	/* containers above this value */
	int line;
	int col;
	union {
		struct {
			struct toml_entry *ent;	/* document order */
			size_t n;
			size_t alloc;
			uint32_t *index;	/* entry + 1, 0 = free slot */
			size_t mask;		/* index size - 1 */
		} tab;
		struct {
			struct toml_value **item;
			size_t n;
			size_t alloc;
		} arr;
		struct {
			char *s;	/* strings and canonical date-times */
			size_t len;
		} str;
		int64_t i;
		double f;
		bool b;
	} u;
};

struct key_part {
	char *s;
	size_t len;
	int line;
	int col;
};

/* A dotted key such as a."b".c, as its unescaped parts. */
struct key_path {
	struct key_part *part;
	size_t n;
	size_t alloc;
};

struct parser {
	const char *s;
	size_t len;
	size_t pos;
	const char *filename;
	char *err;
	size_t errsize;
	int line;		/* line of pos, 1-based */
	size_t line_start;	/* offset of that line's first byte */
	size_t col_pos;		/* column cache: col_val is the column of */
	int col_val;		/* col_pos when col_pos >= line_start */
	struct toml_value *root;
	struct toml_value *cur;	/* the table key/value pairs go to */
};

static int parse_value(struct parser *p, unsigned depth,
		       struct toml_value **out);

/* ---- values ------------------------------------------------------------ */

static struct toml_value *value_new(enum toml_type type, unsigned depth)
{
	struct toml_value *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->type = type;
	v->depth = (unsigned short)depth;
	return v;
}

void toml_free(struct toml_value *v)
{
	size_t i;

	if (!v)
		return;
	switch (v->type) {
	case TOML_TABLE:
		for (i = 0; i < v->u.tab.n; i++) {
			free(v->u.tab.ent[i].key);
			toml_free(v->u.tab.ent[i].val);
		}
		free(v->u.tab.ent);
		free(v->u.tab.index);
		break;
	case TOML_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			toml_free(v->u.arr.item[i]);
		free(v->u.arr.item);
		break;
	case TOML_STRING:
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		free(v->u.str.s);
		break;
	default:
		break;
	}
	free(v);
}

/* FNV-1a: keys are short and the index only needs a fair spread. */
static uint32_t key_hash(const char *k, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 16777619u;
	}
	return h;
}

static struct toml_entry *table_find(const struct toml_value *t,
				     const char *k, size_t n)
{
	const struct toml_entry *e;
	uint32_t h;
	size_t i;

	if (!t->u.tab.index) {
		for (i = 0; i < t->u.tab.n; i++) {
			e = &t->u.tab.ent[i];
			if (e->klen == n && !memcmp(e->key, k, n))
				return (struct toml_entry *)e;
		}
		return NULL;
	}
	h = key_hash(k, n);
	for (i = h & t->u.tab.mask; t->u.tab.index[i];
	     i = (i + 1) & t->u.tab.mask) {
		e = &t->u.tab.ent[t->u.tab.index[i] - 1];
		if (e->hash == h && e->klen == n && !memcmp(e->key, k, n))
			return (struct toml_entry *)e;
	}
	return NULL;
}

/* Rebuild the index with room for at least twice the keys.  0 or -ENOMEM. */
static int table_reindex(struct toml_value *t, size_t want)
{
	uint32_t *index;
	size_t size = 16;
	size_t i;
	size_t j;

	while (size < want * 2)
		size *= 2;
	index = calloc(size, sizeof(*index));
	if (!index)
		return -ENOMEM;
	for (i = 0; i < t->u.tab.n; i++) {
		j = t->u.tab.ent[i].hash & (size - 1);
		while (index[j])
			j = (j + 1) & (size - 1);
		index[j] = (uint32_t)(i + 1);
	}
	free(t->u.tab.index);
	t->u.tab.index = index;
	t->u.tab.mask = size - 1;
	return 0;
}

/*
 * Append key (of klen bytes, malloc'd) -> val.  On success the table owns
 * both; on -ENOMEM the caller still owns them.  The key must be new.
 */
static int table_add(struct toml_value *t, char *key, size_t klen,
		     struct toml_value *val)
{
	struct toml_entry *ent;
	size_t alloc;
	size_t j;

	if (t->u.tab.n == t->u.tab.alloc) {
		if (t->u.tab.n >= UINT32_MAX / 4)
			return -ENOMEM;
		alloc = t->u.tab.alloc ? t->u.tab.alloc * 2 : 4;
		ent = realloc(t->u.tab.ent, alloc * sizeof(*ent));
		if (!ent)
			return -ENOMEM;
		t->u.tab.ent = ent;
		t->u.tab.alloc = alloc;
	}
	if (t->u.tab.n + 1 > TOML_INDEX_MIN &&
	    (!t->u.tab.index || (t->u.tab.n + 1) * 2 > t->u.tab.mask + 1) &&
	    table_reindex(t, t->u.tab.n + 1))
		return -ENOMEM;
	ent = &t->u.tab.ent[t->u.tab.n];
	ent->key = key;
	ent->klen = klen;
	ent->hash = key_hash(key, klen);
	ent->val = val;
	if (t->u.tab.index) {
		j = ent->hash & t->u.tab.mask;
		while (t->u.tab.index[j])
			j = (j + 1) & t->u.tab.mask;
		t->u.tab.index[j] = (uint32_t)(t->u.tab.n + 1);
	}
	t->u.tab.n++;
	return 0;
}

/* Append v to an array (which then owns it).  0 or -ENOMEM. */
static int array_push(struct toml_value *a, struct toml_value *v)
{
	struct toml_value **item;
	size_t alloc;

	if (a->u.arr.n == a->u.arr.alloc) {
		if (a->u.arr.alloc > SIZE_MAX / 2 / sizeof(*item))
			return -ENOMEM;
		alloc = a->u.arr.alloc ? a->u.arr.alloc * 2 : 4;
		item = realloc(a->u.arr.item, alloc * sizeof(*item));
		if (!item)
			return -ENOMEM;
		a->u.arr.item = item;
		a->u.arr.alloc = alloc;
	}
	a->u.arr.item[a->u.arr.n++] = v;
	return 0;
}

/* ---- positions and errors ----------------------------------------------- */

/* Characters (not UTF-8 continuation bytes) in s[from, to). */
static size_t count_chars(const char *s, size_t from, size_t to)
{
	size_t n = 0;

	for (; from < to; from++)
		if (((unsigned char)s[from] & 0xc0) != 0x80)
			n++;
	return n;
}

static int clamp_int(size_t n)
{
	return n > INT_MAX ? INT_MAX : (int)n;
}

/*
 * Column of offset off, which must be on the current line.  Offsets are
 * mostly asked for in increasing order, so counting on from the last
 * answer keeps a long line linear.
 */
static int parser_col(struct parser *p, size_t off)
{
	size_t n;

	if (p->col_pos < p->line_start || p->col_pos > off) {
		p->col_pos = p->line_start;
		p->col_val = 1;
	}
	n = (size_t)p->col_val + count_chars(p->s, p->col_pos, off);
	p->col_pos = off;
	p->col_val = clamp_int(n);
	return p->col_val;
}

static int perr_at(struct parser *p, int line, int col, const char *fmt,
		   ...) MFS_PRINTF(4, 5);

static int perr_at(struct parser *p, int line, int col, const char *fmt,
		   ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errsize)
		return -EINVAL;
	n = snprintf(p->err, p->errsize, "%s:%d:%d: ",
		     p->filename ? p->filename : "<input>", line, col);
	if (n < 0 || (size_t)n >= p->errsize)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errsize - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An error at the current position.  Returns -EINVAL. */
#define perr(p, ...) perr_at((p), (p)->line, parser_col((p), (p)->pos), \
			     __VA_ARGS__)

static int oom(struct parser *p)
{
	perr(p, "out of memory");
	return -ENOMEM;
}

/* A buf error (-EFBIG cannot happen: caps are the input size). */
static int buf_err(struct parser *p, int rc)
{
	return rc == -ENOMEM ? oom(p) : perr(p, "string too long");
}

/* Describe the byte at the current position for a message. */
static const char *found(const struct parser *p, char *buf, size_t size)
{
	unsigned char c;

	if (p->pos >= p->len)
		return "end of file";
	c = (unsigned char)p->s[p->pos];
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", c);
	return buf;
}

/* Copy a key or value into buf for a message: printable, bounded. */
static const char *disp(const char *s, size_t n, char *buf, size_t size)
{
	size_t i;
	size_t j = 0;

	for (i = 0; i < n && j + 4 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[j++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
	}
	if (i < n) {
		buf[j++] = '.';
		buf[j++] = '.';
		buf[j++] = '.';
	}
	buf[j] = '\0';
	return buf;
}

/* The first parts of a key joined with dots, for a message. */
static const char *key_disp(const struct key_path *k, size_t upto,
			    char *buf, size_t size)
{
	char part[64];
	size_t i;
	size_t n = 0;

	buf[0] = '\0';
	for (i = 0; i < upto && n + 1 < size; i++) {
		disp(k->part[i].s, k->part[i].len, part, sizeof(part));
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
				      i ? "." : "", part);
		if (n >= size)
			break;
	}
	return buf;
}

/* ---- encoding ------------------------------------------------------------ */

/*
 * Length of the valid UTF-8 sequence at s (n bytes left) and its code point
 * in *cp, or 0 if the bytes are not UTF-8 (overlong, surrogate, too large
 * or cut short).
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0];
	size_t len;
	size_t i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static size_t utf8_encode(uint32_t c, char out[4])
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* The message for the byte at i that check_encoding refused. */
static int encoding_error(struct parser *p, int line, size_t start,
			  size_t i)
{
	int col = clamp_int(count_chars(p->s, start, i) + 1);
	unsigned char c = (unsigned char)p->s[i];

	if (c < 0x20 || c == 0x7f)
		return perr_at(p, line, col, "control character U+%04X is not "
			       "allowed (write it as an escape in a string)",
			       c);
	return perr_at(p, line, col, "invalid UTF-8 (byte 0x%02x)", c);
}

/*
 * TOML allows no control character but tab anywhere (a CR only before
 * LF), and the whole document must be UTF-8: check it all up front so that
 * the parser can take both for granted.
 */
static int check_encoding(struct parser *p)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t start = p->pos;
	size_t i = p->pos;
	int line = 1;
	uint32_t cp;
	size_t n;

	while (i < p->len) {
		if (s[i] == '\n') {
			line = line < INT_MAX ? line + 1 : line;
			start = ++i;
			continue;
		}
		if (s[i] == '\r' && i + 1 < p->len && s[i + 1] == '\n') {
			i++;
			continue;
		}
		n = utf8_decode(s + i, p->len - i, &cp);
		if (!n || (s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return encoding_error(p, line, start, i);
		i += n;
	}
	return 0;
}

/* ---- lexing helpers ----------------------------------------------------- */

static int peek_at(const struct parser *p, size_t k)
{
	return p->pos + k < p->len ? (unsigned char)p->s[p->pos + k] : -1;
}

static int peek(const struct parser *p)
{
	return peek_at(p, 0);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
		p->pos++;
}

/* LF or CRLF at the current position (a lone CR never passes encoding). */
static bool at_newline(const struct parser *p)
{
	return peek(p) == '\n' || peek(p) == '\r';
}

static void eat_newline(struct parser *p)
{
	if (peek(p) == '\r')
		p->pos++;
	p->pos++;
	if (p->line < INT_MAX)
		p->line++;
	p->line_start = p->pos;
}

static void skip_comment(struct parser *p)
{
	if (peek(p) != '#')
		return;
	while (p->pos < p->len && !at_newline(p))
		p->pos++;
}

/* Whitespace, comments and newlines, as allowed inside arrays. */
static void skip_blank(struct parser *p)
{
	for (;;) {
		skip_ws(p);
		skip_comment(p);
		if (!at_newline(p))
			return;
		eat_newline(p);
	}
}

/* After a key/value pair or a header: a comment, then a newline or EOF. */
static int expect_eol(struct parser *p)
{
	char buf[16];

	skip_ws(p);
	skip_comment(p);
	if (p->pos >= p->len)
		return 0;
	if (at_newline(p)) {
		eat_newline(p);
		return 0;
	}
	return perr(p, "expected the end of the line, found %s",
		    found(p, buf, sizeof(buf)));
}

static bool is_bare(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- strings ------------------------------------------------------------ */

/* \uXXXX or \UXXXXXXXX after the backslash and letter; n hex digits. */
static int parse_unicode_escape(struct parser *p, size_t n, struct buf *b,
				int line, int col)
{
	uint32_t c = 0;
	char utf8[4];
	size_t i;
	int h;
	int rc;

	for (i = 0; i < n; i++) {
		h = peek_at(p, i) < 0 ? -1 : hex_val(peek_at(p, i));
		if (h < 0)
			return perr_at(p, line, col,
				       "invalid escape: \\%c needs %zu hex "
				       "digits", n == 4 ? 'u' : 'U', n);
		c = c * 16 + (uint32_t)h;
	}
	if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return perr_at(p, line, col,
			       "invalid escape: U+%04" PRIX32 " is not a "
			       "Unicode scalar value", c);
	p->pos += n;
	rc = buf_add(b, utf8, utf8_encode(c, utf8));
	return rc ? buf_err(p, rc) : 0;
}

/* An escape sequence at the backslash under the current position. */
static int parse_escape(struct parser *p, struct buf *b)
{
	static const char from[] = "btnfr\"\\";
	static const char to[] = "\b\t\n\f\r\"\\";
	int line = p->line;
	int col = parser_col(p, p->pos);
	const char *e;
	char buf[16];
	int c = peek_at(p, 1);
	int rc;

	p->pos++;
	if (c == 'u' || c == 'U') {
		p->pos++;
		return parse_unicode_escape(p, c == 'u' ? 4 : 8, b, line, col);
	}
	e = c > 0 ? strchr(from, c) : NULL;
	if (!e)
		return perr_at(p, line, col, "invalid escape sequence: '\\' "
			       "followed by %s", found(p, buf, sizeof(buf)));
	p->pos++;
	rc = buf_addch(b, to[e - from]);
	return rc ? buf_err(p, rc) : 0;
}

/* Add the bytes up to the next byte in stop (or the end) to b. */
static int add_run(struct parser *p, struct buf *b, const char *stop)
{
	size_t start = p->pos;
	int rc;

	while (p->pos < p->len && !strchr(stop, p->s[p->pos]))
		p->pos++;
	rc = buf_add(b, p->s + start, p->pos - start);
	return rc ? buf_err(p, rc) : 0;
}

/* "..." at the current position. */
static int parse_basic_string(struct parser *p, struct buf *b)
{
	int rc;

	p->pos++;
	for (;;) {
		if (p->pos >= p->len || at_newline(p))
			return perr(p, "unterminated string");
		if (peek(p) == '"') {
			p->pos++;
			return 0;
		}
		if (peek(p) == '\\')
			rc = parse_escape(p, b);
		else
			rc = add_run(p, b, "\"\\\r\n");
		if (rc)
			return rc;
	}
}

/* '...' at the current position. */
static int parse_literal_string(struct parser *p, struct buf *b)
{
	int rc;

	p->pos++;
	for (;;) {
		if (p->pos >= p->len || at_newline(p))
			return perr(p, "unterminated string");
		if (peek(p) == '\'') {
			p->pos++;
			return 0;
		}
		rc = add_run(p, b, "'\r\n");
		if (rc)
			return rc;
	}
}

/*
 * A run of quote characters q inside a multi-line string.  Three or more
 * end the string, and up to two before those belong to it.  Returns 1 at
 * the end, 0 to go on, or an error.
 */
static int multiline_quotes(struct parser *p, struct buf *b, char q)
{
	size_t n = 0;
	int rc;

	while (peek_at(p, n) == q)
		n++;
	if (n > 5)
		return perr(p, "too many quotes at the end of a multi-line "
			    "string");
	rc = buf_add(b, p->s + p->pos, n >= 3 ? n - 3 : n);
	if (rc)
		return buf_err(p, rc);
	p->pos += n;
	return n >= 3;
}

/* A backslash that ends a line: skip it and all whitespace after it. */
static int line_ending_backslash(struct parser *p)
{
	size_t save = p->pos;

	p->pos++;
	skip_ws(p);
	if (!at_newline(p)) {
		p->pos = save;
		return perr(p, "invalid escape sequence: '\\' followed by "
			    "whitespace must end the line");
	}
	for (;;) {
		skip_ws(p);
		if (!at_newline(p))
			return 0;
		eat_newline(p);
	}
}

/* """...""" or '''...''' at the current position. */
static int parse_multiline_string(struct parser *p, struct buf *b, char q)
{
	const char *stop = q == '"' ? "\"\\\r\n" : "'\r\n";
	int rc;
	int c;

	p->pos += 3;
	if (at_newline(p))
		eat_newline(p);
	for (;;) {
		c = peek(p);
		if (c < 0)
			return perr(p, "unterminated multi-line string");
		if (c == q) {
			rc = multiline_quotes(p, b, q);
			if (rc)
				return rc < 0 ? rc : 0;
			continue;
		}
		if (c == '\n' || c == '\r') {
			eat_newline(p);
			rc = buf_addch(b, '\n');
			rc = rc ? buf_err(p, rc) : 0;
		} else if (c == '\\' && q == '"') {
			c = peek_at(p, 1);
			if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
				rc = line_ending_backslash(p);
			else
				rc = parse_escape(p, b);
		} else {
			rc = add_run(p, b, stop);
		}
		if (rc)
			return rc;
	}
}

/* Any string at the current position into b (its contents, unescaped). */
static int parse_string(struct parser *p, struct buf *b)
{
	char q = p->s[p->pos];

	if (peek_at(p, 1) == q && peek_at(p, 2) == q)
		return parse_multiline_string(p, b, q);
	if (q == '"')
		return parse_basic_string(p, b);
	return parse_literal_string(p, b);
}

/* ---- keys ---------------------------------------------------------------- */

static void key_path_release(struct key_path *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->part[i].s);
	free(k->part);
	k->part = NULL;
	k->n = 0;
	k->alloc = 0;
}

/* One bare or quoted key at the current position. */
static int parse_simple_key(struct parser *p, struct key_part *out)
{
	struct buf b;
	char buf[16];
	size_t start = p->pos;
	int c = peek(p);
	int rc;

	out->line = p->line;
	out->col = parser_col(p, p->pos);
	buf_init(&b, p->len + 1);
	if (c == '"' || c == '\'') {
		if (peek_at(p, 1) == c && peek_at(p, 2) == c)
			return perr(p, "a multi-line string cannot be a key");
		rc = parse_string(p, &b);
	} else if (is_bare(c)) {
		while (is_bare(peek(p)))
			p->pos++;
		rc = buf_add(&b, p->s + start, p->pos - start);
		rc = rc ? buf_err(p, rc) : 0;
	} else {
		return perr(p, "expected a key, found %s",
			    found(p, buf, sizeof(buf)));
	}
	if (rc) {
		buf_release(&b);
		return rc;
	}
	out->s = buf_detach(&b, &out->len);
	return out->s ? 0 : oom(p);
}

/* A dotted key; whitespace around the dots and after it is skipped. */
static int parse_key(struct parser *p, struct key_path *k)
{
	struct key_part *part;
	int rc;

	for (;;) {
		if (k->n >= TOML_MAX_DEPTH)
			return perr(p, "key has more than %d parts",
				    TOML_MAX_DEPTH);
		if (k->n == k->alloc) {
			part = realloc(k->part, (k->alloc + 4) * sizeof(*part));
			if (!part)
				return oom(p);
			k->part = part;
			k->alloc += 4;
		}
		rc = parse_simple_key(p, &k->part[k->n]);
		if (rc)
			return rc;
		k->n++;
		skip_ws(p);
		if (peek(p) != '.')
			return 0;
		p->pos++;
		skip_ws(p);
	}
}

/* ---- tables -------------------------------------------------------------- */

/* A new empty table or array at depth, or an error past the depth cap. */
static int new_container(struct parser *p, enum toml_type type,
			 unsigned depth, int line, int col,
			 struct toml_value **out)
{
	if (depth > TOML_MAX_DEPTH)
		return perr_at(p, line, col,
			       "nesting deeper than %d levels", TOML_MAX_DEPTH);
	*out = value_new(type, depth);
	if (!*out)
		return oom(p);
	(*out)->line = line;
	(*out)->col = col;
	return 0;
}

/*
 * Add a new table of the given kind under part in t; the key moves into
 * the table on success.
 */
static int add_table(struct parser *p, struct toml_value *t,
		     struct key_part *part, enum table_kind kind,
		     struct toml_value **out)
{
	struct toml_value *v = NULL;
	int rc;

	rc = new_container(p, TOML_TABLE, t->depth + 1u, part->line,
			   part->col, &v);
	if (rc)
		return rc;
	v->kind = (unsigned char)kind;
	if (table_add(t, part->s, part->len, v)) {
		toml_free(v);
		return oom(p);
	}
	part->s = NULL;
	*out = v;
	return 0;
}

static const char *type_name(const struct toml_value *v)
{
	static const char *const names[] = {
		[TOML_TABLE] = "a table",
		[TOML_ARRAY] = "an array",
		[TOML_STRING] = "a string",
		[TOML_INTEGER] = "an integer",
		[TOML_FLOAT] = "a float",
		[TOML_BOOL] = "a boolean",
		[TOML_DATETIME] = "a date-time",
		[TOML_DATETIME_LOCAL] = "a local date-time",
		[TOML_DATE_LOCAL] = "a local date",
		[TOML_TIME_LOCAL] = "a local time",
	};

	return names[v->type];
}

/* Step from *t into part i of a dotted key on the left of '='. */
static int descend_dotted(struct parser *p, struct toml_value **t,
			  struct key_path *k, size_t i)
{
	struct key_part *part = &k->part[i];
	struct toml_entry *e = table_find(*t, part->s, part->len);
	char name[256];
	struct toml_value *v;

	if (!e)
		return add_table(p, *t, part, TABLE_DOTTED, t);
	v = e->val;
	key_disp(k, i + 1, name, sizeof(name));
	if (v->type != TOML_TABLE)
		return perr_at(p, part->line, part->col,
			       "key '%s' is already defined as %s", name,
			       type_name(v));
	if (v->kind == TABLE_INLINE)
		return perr_at(p, part->line, part->col,
			       "cannot add keys to inline table '%s'", name);
	if (v->kind == TABLE_HEADER)
		return perr_at(p, part->line, part->col,
			       "cannot add keys to table '%s' with dotted "
			       "keys: it has a [%s] header", name, name);
	v->kind = TABLE_DOTTED;
	*t = v;
	return 0;
}

/* Step from *t into part i of a [header] key that is not the last. */
static int descend_header(struct parser *p, struct toml_value **t,
			  struct key_path *k, size_t i)
{
	struct key_part *part = &k->part[i];
	struct toml_entry *e = table_find(*t, part->s, part->len);
	char name[256];
	struct toml_value *v;

	if (!e)
		return add_table(p, *t, part, TABLE_IMPLIED, t);
	v = e->val;
	key_disp(k, i + 1, name, sizeof(name));
	if (v->type == TOML_ARRAY && v->kind) {
		*t = v->u.arr.item[v->u.arr.n - 1];
		return 0;
	}
	if (v->type != TOML_TABLE)
		return perr_at(p, part->line, part->col,
			       "key '%s' is already defined as %s", name,
			       type_name(v));
	if (v->kind == TABLE_INLINE)
		return perr_at(p, part->line, part->col,
			       "cannot add keys to inline table '%s'", name);
	*t = v;
	return 0;
}

/* The last part of [name]: define the table. */
static int define_table(struct parser *p, struct toml_value *t,
			struct key_path *k)
{
	struct key_part *part = &k->part[k->n - 1];
	struct toml_entry *e = table_find(t, part->s, part->len);
	char name[256];

	if (!e)
		return add_table(p, t, part, TABLE_HEADER, &p->cur);
	key_disp(k, k->n, name, sizeof(name));
	if (e->val->type != TOML_TABLE)
		return perr_at(p, part->line, part->col,
			       "key '%s' is already defined as %s", name,
			       type_name(e->val));
	if (e->val->kind != TABLE_IMPLIED)
		return perr_at(p, part->line, part->col,
			       "table '%s' is already defined", name);
	e->val->kind = TABLE_HEADER;
	e->val->line = part->line;
	e->val->col = part->col;
	p->cur = e->val;
	return 0;
}

/* The last part of [[name]]: add a table to the array of tables. */
static int define_array_table(struct parser *p, struct toml_value *t,
			      struct key_path *k)
{
	struct key_part *part = &k->part[k->n - 1];
	struct toml_entry *e = table_find(t, part->s, part->len);
	struct toml_value *arr = NULL;
	struct toml_value *tab;
	char name[256];
	int rc;

	if (e && (e->val->type != TOML_ARRAY || !e->val->kind))
		return perr_at(p, part->line, part->col,
			       "key '%s' is already defined as %s",
			       key_disp(k, k->n, name, sizeof(name)),
			       type_name(e->val));
	if (e) {
		arr = e->val;
	} else {
		rc = new_container(p, TOML_ARRAY, t->depth + 1u, part->line,
				   part->col, &arr);
		if (rc)
			return rc;
		arr->kind = true;
		if (table_add(t, part->s, part->len, arr)) {
			toml_free(arr);
			return oom(p);
		}
		part->s = NULL;
	}
	rc = new_container(p, TOML_TABLE, arr->depth + 1u, part->line,
			   part->col, &tab);
	if (rc)
		return rc;
	tab->kind = TABLE_HEADER;
	if (array_push(arr, tab)) {
		toml_free(tab);
		return oom(p);
	}
	p->cur = tab;
	return 0;
}

/* [name] or [[name]] at the current position. */
static int parse_header(struct parser *p)
{
	struct key_path k = { NULL, 0, 0 };
	struct toml_value *t = p->root;
	bool array = peek_at(p, 1) == '[';
	char buf[16];
	size_t i;
	int rc;

	p->pos += array ? 2 : 1;
	skip_ws(p);
	rc = parse_key(p, &k);
	if (rc)
		goto out;
	if (peek(p) != ']' || (array && peek_at(p, 1) != ']')) {
		rc = perr(p, "expected '%s' after the table name, found %s",
			  array ? "]]" : "]", found(p, buf, sizeof(buf)));
		goto out;
	}
	p->pos += array ? 2 : 1;
	for (i = 0; i + 1 < k.n && !rc; i++)
		rc = descend_header(p, &t, &k, i);
	if (!rc && array)
		rc = define_array_table(p, t, &k);
	else if (!rc)
		rc = define_table(p, t, &k);
out:
	key_path_release(&k);
	return rc;
}

/* key = value at the current position, into table base. */
static int parse_keyval(struct parser *p, struct toml_value *base)
{
	struct key_path k = { NULL, 0, 0 };
	struct toml_value *t = base;
	struct toml_value *v = NULL;
	struct key_part *last;
	char name[256];
	char buf[16];
	size_t i;
	int rc;

	rc = parse_key(p, &k);
	if (rc)
		goto out;
	if (peek(p) != '=') {
		rc = perr(p, "expected '=' after the key, found %s",
			  found(p, buf, sizeof(buf)));
		goto out;
	}
	p->pos++;
	skip_ws(p);
	for (i = 0; i + 1 < k.n && !rc; i++)
		rc = descend_dotted(p, &t, &k, i);
	if (rc)
		goto out;
	last = &k.part[k.n - 1];
	if (table_find(t, last->s, last->len)) {
		rc = perr_at(p, last->line, last->col,
			     "duplicate key '%s'",
			     key_disp(&k, k.n, name, sizeof(name)));
		goto out;
	}
	rc = parse_value(p, t->depth + 1u, &v);
	if (rc)
		goto out;
	v->line = last->line;
	v->col = last->col;
	if (table_add(t, last->s, last->len, v)) {
		toml_free(v);
		rc = oom(p);
		goto out;
	}
	last->s = NULL;
out:
	key_path_release(&k);
	return rc;
}

/* ---- values -------------------------------------------------------------- */

static int parse_array(struct parser *p, unsigned depth,
		       struct toml_value **out)
{
	struct toml_value *arr = NULL;
	struct toml_value *v;
	char buf[16];
	int rc;

	rc = new_container(p, TOML_ARRAY, depth, p->line,
			   parser_col(p, p->pos), &arr);
	if (rc)
		return rc;
	p->pos++;
	for (;;) {
		skip_blank(p);
		if (peek(p) == ']')
			break;
		if (peek(p) < 0) {
			rc = perr(p, "unterminated array");
			goto fail;
		}
		rc = parse_value(p, depth + 1, &v);
		if (rc)
			goto fail;
		if (array_push(arr, v)) {
			toml_free(v);
			rc = oom(p);
			goto fail;
		}
		skip_blank(p);
		if (peek(p) == ']')
			break;
		if (peek(p) != ',') {
			rc = perr(p, "expected ',' or ']' in an array, "
				  "found %s", found(p, buf, sizeof(buf)));
			goto fail;
		}
		p->pos++;
	}
	p->pos++;
	*out = arr;
	return 0;
fail:
	toml_free(arr);
	return rc;
}

static int parse_inline_table(struct parser *p, unsigned depth,
			      struct toml_value **out)
{
	struct toml_value *tab = NULL;
	char buf[16];
	int rc;

	rc = new_container(p, TOML_TABLE, depth, p->line,
			   parser_col(p, p->pos), &tab);
	if (rc)
		return rc;
	tab->kind = TABLE_INLINE;
	p->pos++;
	skip_ws(p);
	while (peek(p) != '}') {
		rc = parse_keyval(p, tab);
		if (rc)
			goto fail;
		skip_ws(p);
		if (peek(p) == '}')
			break;
		if (peek(p) != ',') {
			rc = perr(p, "expected ',' or '}' in an inline table "
				  "(which must fit on one line), found %s",
				  found(p, buf, sizeof(buf)));
			goto fail;
		}
		p->pos++;
		skip_ws(p);
		if (peek(p) == '}') {
			rc = perr(p, "trailing comma in an inline table");
			goto fail;
		}
	}
	p->pos++;
	*out = tab;
	return 0;
fail:
	toml_free(tab);
	return rc;
}

/* Parse digits of base with '_' only between two digits; 0 if none. */
static size_t scan_digits(const char *t, size_t n, size_t i, int base)
{
	size_t start = i;

	while (i < n) {
		if (hex_val(t[i]) >= 0 && hex_val(t[i]) < base) {
			i++;
			continue;
		}
		if (t[i] != '_' || i == start || i + 1 >= n ||
		    hex_val(t[i + 1]) < 0 || hex_val(t[i + 1]) >= base)
			break;
		i++;
	}
	return i - start;
}

/* The digits (and '_') in t[i, n) as an integer up to max; -ERANGE. */
static int digits_value(const char *t, size_t i, size_t n, int base,
			uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	uint64_t d;

	for (; i < n; i++) {
		if (t[i] == '_')
			continue;
		d = (uint64_t)hex_val(t[i]);
		if (v > (max - d) / (uint64_t)base)
			return -ERANGE;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* t[0, n) is a valid TOML float: convert it (without the '_'). */
static int float_value(const char *t, size_t n, double *out)
{
	char small[64];
	char *s = n < sizeof(small) ? small : malloc(n + 1);
	size_t i;
	size_t j = 0;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (t[i] != '_')
			s[j++] = t[i];
	s[j] = '\0';
	pthread_once(&c_locale_once, c_locale_init);
	*out = c_locale ? strtod_l(s, NULL, c_locale) : strtod(s, NULL);
	if (s != small)
		free(s);
	return isinf(*out) ? -ERANGE : 0;
}

/* A decimal integer or float in t[0, n) (no inf/nan, no prefix). */
static int parse_decimal(const char *t, size_t n, struct toml_value *v)
{
	size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
	size_t int_len = scan_digits(t, n, i, 10);
	bool is_float = false;
	uint64_t u;

	if (!int_len || (t[i] == '0' && int_len > 1))
		return -EINVAL;
	i += int_len;
	if (i < n && t[i] == '.') {
		int_len = scan_digits(t, n, i + 1, 10);
		if (!int_len)
			return -EINVAL;
		i += 1 + int_len;
		is_float = true;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		int_len = scan_digits(t, n, i, 10);
		if (!int_len)
			return -EINVAL;
		i += int_len;
		is_float = true;
	}
	if (i != n)
		return -EINVAL;
	if (is_float) {
		v->type = TOML_FLOAT;
		return float_value(t, n, &v->u.f);
	}
	i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
	if (digits_value(t, i, n, 10, (uint64_t)INT64_MAX + (t[0] == '-'),
			 &u))
		return -ERANGE;
	v->type = TOML_INTEGER;
	v->u.i = t[0] == '-' ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/* A number in t[0, n): 0, -EINVAL or -ERANGE; sets v's type and value. */
static int parse_number(const char *t, size_t n, struct toml_value *v)
{
	size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
	int base = 0;
	uint64_t u;

	if (n - i == 3 && (!memcmp(t + i, "inf", 3) ||
			   !memcmp(t + i, "nan", 3))) {
		v->type = TOML_FLOAT;
		v->u.f = t[i] == 'i' ? INFINITY : NAN;
		if (t[0] == '-')
			v->u.f = -v->u.f;
		return 0;
	}
	if (n > 2 && t[0] == '0')
		base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : t[1] == 'b' ? 2 : 0;
	if (!base)
		return parse_decimal(t, n, v);
	if (scan_digits(t, n, 2, base) != n - 2)
		return -EINVAL;
	if (digits_value(t, 2, n, base, INT64_MAX, &u))
		return -ERANGE;
	v->type = TOML_INTEGER;
	v->u.i = (int64_t)u;
	return 0;
}

/* n decimal digits at t[i] as a number, or -1. */
static int digits_at(const char *t, size_t len, size_t i, size_t n)
{
	int v = 0;

	if (i + n > len)
		return -1;
	for (; n; n--, i++) {
		if (!is_digit(t[i]))
			return -1;
		v = v * 10 + (t[i] - '0');
	}
	return v;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* HH:MM:SS[.frac] at t[i]; returns its length or 0. */
static size_t scan_time(const char *t, size_t n, size_t i)
{
	int h = digits_at(t, n, i, 2);
	int m = digits_at(t, n, i + 3, 2);
	int s = digits_at(t, n, i + 6, 2);
	size_t len = 8;

	if (h < 0 || m < 0 || s < 0 || t[i + 2] != ':' || t[i + 5] != ':' ||
	    h > 23 || m > 59 || s > 60)
		return 0;
	if (i + len < n && t[i + len] == '.') {
		len++;
		while (i + len < n && is_digit(t[i + len]))
			len++;
		if (len == 9)
			return 0;
	}
	return len;
}

/* Z or +HH:MM at t[i]; returns its length or 0. */
static size_t scan_offset(const char *t, size_t n, size_t i)
{
	int h;
	int m;

	if (i < n && (t[i] == 'Z' || t[i] == 'z'))
		return 1;
	if (i >= n || (t[i] != '+' && t[i] != '-'))
		return 0;
	h = digits_at(t, n, i + 1, 2);
	m = digits_at(t, n, i + 4, 2);
	if (h < 0 || m < 0 || t[i + 3] != ':' || h > 23 || m > 59)
		return 0;
	return 6;
}

/* Canonical RFC 3339 text of the date-time in t[0, n) (validated). */
static int datetime_text(const char *t, size_t n, struct toml_value *v)
{
	char *s = malloc(n + 1);
	size_t i;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		s[i] = t[i];
		if (i == 10 && (t[i] == ' ' || t[i] == 't'))
			s[i] = 'T';
		else if (t[i] == 'z')
			s[i] = 'Z';
	}
	s[n] = '\0';
	v->u.str.s = s;
	v->u.str.len = n;
	return 0;
}

/* A date, time or date-time in t[0, n); 0, -EINVAL or -ENOMEM. */
static int parse_datetime(const char *t, size_t n, struct toml_value *v)
{
	int y = digits_at(t, n, 0, 4);
	int m = digits_at(t, n, 5, 2);
	int d = digits_at(t, n, 8, 2);
	size_t i = 0;
	size_t len;

	if (n >= 3 && t[2] == ':') {
		v->type = TOML_TIME_LOCAL;
	} else {
		if (y < 0 || m < 1 || m > 12 || d < 1 || t[4] != '-' ||
		    t[7] != '-' || d > days_in_month(y, m))
			return -EINVAL;
		v->type = TOML_DATE_LOCAL;
		if (n == 10)
			return datetime_text(t, n, v);
		if (t[10] != 'T' && t[10] != 't' && t[10] != ' ')
			return -EINVAL;
		v->type = TOML_DATETIME_LOCAL;
		i = 11;
	}
	len = scan_time(t, n, i);
	if (!len)
		return -EINVAL;
	i += len;
	if (i < n && v->type == TOML_DATETIME_LOCAL) {
		len = scan_offset(t, n, i);
		if (!len)
			return -EINVAL;
		i += len;
		v->type = TOML_DATETIME;
	}
	return i == n ? datetime_text(t, n, v) : -EINVAL;
}

static bool is_token_char(int c)
{
	return is_bare(c) || c == '+' || c == '.' || c == ':';
}

/* A bare value (number, bool, date-time) at the current position. */
static int parse_bare_value(struct parser *p, struct toml_value *v)
{
	const char *t = p->s + p->pos;
	int col = parser_col(p, p->pos);
	size_t n = 0;
	char buf[64];
	int rc;

	while (p->pos + n < p->len && is_token_char(t[n]))
		n++;
	/* "1979-05-27 07:32:00": a space may separate date and time */
	if (n == 10 && t[4] == '-' && p->pos + n + 3 < p->len &&
	    t[n] == ' ' && is_digit(t[n + 1]) && is_digit(t[n + 2]) &&
	    t[n + 3] == ':') {
		n++;
		while (p->pos + n < p->len && is_token_char(t[n]))
			n++;
	}
	if (n == 4 && !memcmp(t, "true", 4)) {
		v->type = TOML_BOOL;
		v->u.b = true;
		rc = 0;
	} else if (n == 5 && !memcmp(t, "false", 5)) {
		v->type = TOML_BOOL;
		rc = 0;
	} else if ((n >= 5 && digits_at(t, n, 0, 4) >= 0 && t[4] == '-') ||
		   (n >= 3 && digits_at(t, n, 0, 2) >= 0 && t[2] == ':')) {
		rc = parse_datetime(t, n, v);
	} else if (n) {
		rc = parse_number(t, n, v);
	} else {
		return perr(p, "expected a value, found %s",
			    found(p, buf, sizeof(buf)));
	}
	if (rc == -ENOMEM)
		return oom(p);
	if (rc)
		return perr_at(p, p->line, col, "%s '%s'",
			       rc == -ERANGE ? "number out of range"
					     : "invalid value",
			       disp(t, n, buf, sizeof(buf)));
	p->pos += n;
	return 0;
}

/*
 * The value at the current position into *out (caller frees); depth is
 * its depth in the tree.  Its position is where it starts.
 */
static int parse_value(struct parser *p, unsigned depth,
		       struct toml_value **out)
{
	struct toml_value *v;
	struct buf b;
	int c = peek(p);
	int rc;

	if (c == '[')
		return parse_array(p, depth, out);
	if (c == '{')
		return parse_inline_table(p, depth, out);
	v = value_new(TOML_STRING, depth);
	if (!v)
		return oom(p);
	v->line = p->line;
	v->col = parser_col(p, p->pos);
	if (c == '"' || c == '\'') {
		buf_init(&b, p->len + 1);
		rc = parse_string(p, &b);
		if (!rc) {
			v->u.str.s = buf_detach(&b, &v->u.str.len);
			rc = v->u.str.s ? 0 : oom(p);
		}
		buf_release(&b);
	} else {
		rc = parse_bare_value(p, v);
	}
	if (rc) {
		toml_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* ---- documents ----------------------------------------------------------- */

static int parse_document(struct parser *p)
{
	int rc;

	for (;;) {
		skip_ws(p);
		if (p->pos >= p->len)
			return 0;
		if (peek(p) == '[')
			rc = parse_header(p);
		else if (peek(p) != '#' && !at_newline(p))
			rc = parse_keyval(p, p->cur);
		else
			rc = 0;
		if (!rc)
			rc = expect_eol(p);
		if (rc)
			return rc;
	}
}

int toml_parse(const char *text, size_t len, const char *filename,
	       struct toml_value **out, char *err, size_t errsize)
{
	struct parser p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.s = text;
	p.len = len;
	p.filename = filename;
	p.err = err;
	p.errsize = errsize;
	p.line = 1;
	p.col_val = 1;
	if (err && errsize)
		err[0] = '\0';
	*out = NULL;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		p.pos = 3;
	p.line_start = p.pos;
	p.col_pos = p.pos;
	rc = check_encoding(&p);
	if (rc)
		return rc;
	p.root = value_new(TOML_TABLE, 0);
	if (!p.root)
		return oom(&p);
	p.root->kind = TABLE_HEADER;
	p.root->line = 1;
	p.root->col = 1;
	p.cur = p.root;
	rc = parse_document(&p);
	if (rc) {
		toml_free(p.root);
		return rc;
	}
	*out = p.root;
	return 0;
}

/* ---- accessors ----------------------------------------------------------- */

enum toml_type toml_type_of(const struct toml_value *v)
{
	return v->type;
}

size_t toml_count(const struct toml_value *v)
{
	if (!v)
		return 0;
	if (v->type == TOML_TABLE)
		return v->u.tab.n;
	if (v->type == TOML_ARRAY)
		return v->u.arr.n;
	return 0;
}

const char *toml_key_at(const struct toml_value *table, size_t i)
{
	if (!table || table->type != TOML_TABLE || i >= table->u.tab.n)
		return NULL;
	return table->u.tab.ent[i].key;
}

const struct toml_value *toml_at(const struct toml_value *v, size_t i)
{
	if (!v || i >= toml_count(v))
		return NULL;
	if (v->type == TOML_TABLE)
		return v->u.tab.ent[i].val;
	return v->u.arr.item[i];
}

const struct toml_value *toml_get(const struct toml_value *table,
				  const char *key)
{
	const struct toml_entry *e;

	if (!table || table->type != TOML_TABLE || !key)
		return NULL;
	e = table_find(table, key, strlen(key));
	return e ? e->val : NULL;
}

int toml_line(const struct toml_value *v)
{
	return v ? v->line : 0;
}

int toml_col(const struct toml_value *v)
{
	return v ? v->col : 0;
}

const char *toml_string(const struct toml_value *v, size_t *len)
{
	if (!v || v->type != TOML_STRING)
		return NULL;
	if (len)
		*len = v->u.str.len;
	return v->u.str.s;
}

int64_t toml_int(const struct toml_value *v)
{
	return v && v->type == TOML_INTEGER ? v->u.i : 0;
}

double toml_float(const struct toml_value *v)
{
	return v && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool toml_bool(const struct toml_value *v)
{
	return v && v->type == TOML_BOOL ? v->u.b : false;
}

const char *toml_datetime(const struct toml_value *v)
{
	if (!v || v->type < TOML_DATETIME || v->type > TOML_TIME_LOCAL)
		return NULL;
	return v->u.str.s;
}
