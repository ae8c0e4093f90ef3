/*
 * template.c - path template engine and name sanitizer (see template_i.h).
 *
 * A template compiles to one list of nodes per path component: literal
 * text, a variable (a fallback chain of variables plus an optional literal
 * default) and bracket groups holding nodes of their own.  Rendering walks
 * the nodes into a capped buffer per component while it tracks which
 * variables came out empty, so that a group of empty variables can vanish
 * and the separators an empty variable leaves behind ("$track - $title"
 * without a track) can be trimmed.  Only separators that come from the
 * template's literal text are ever trimmed: a value is shown as tagged.
 * Each rendered component then goes through the sanitizer, which is the
 * one place that decides what a name in the mount may contain.
 *
 * Caveats: values longer than RENDER_MAX bytes are truncated before
 * sanitizing (the result is cut to 255 bytes anyway).  The sanitizer
 * works on bytes for ASCII rules and on code points (utf8proc) for
 * normalization and cutting; it never logs and fails only on ENOMEM.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "tree/template_i.h"

#include <strings.h>
#include <utf8proc.h>

#define TPL_CHAIN_MAX 16	/* elements in one ${a|b|...} */
#define TPL_DEPTH_MAX 16	/* nesting of bracket groups */
#define RENDER_MAX (64 * 1024)	/* raw bytes of one rendered component */
#define SCRATCH_MAX 64		/* a formatted number or format name */
#define EXT_MAX 32		/* bytes of an extension, without the dot */
#define EXT_DETECT_MAX 16	/* longest ".ext" template_sanitize keeps */

enum tvar {
	TV_ARTIST,
	TV_ALBUMARTIST,
	TV_ALBUM,
	TV_TITLE,
	TV_TRACK,
	TV_DISC,
	TV_YEAR,
	TV_GENRE,
	TV_COMPOSER,
	TV_FORMAT,
	TV_FORMAT_UPPER,
	TV_COUNT
};

#define NO_FIELD SIZE_MAX

/* Table of variables: name, string field of template_vars, default. */
static const struct var_def {
	const char *name;
	size_t field;		/* offsetof a string member, or NO_FIELD */
	const char *dflt;	/* value when missing; NULL: computed/empty */
} var_defs[TV_COUNT] = {
	[TV_ARTIST] = { "artist", offsetof(struct template_vars, artist),
			"Unknown Artist" },
	[TV_ALBUMARTIST] = { "albumartist",
			     offsetof(struct template_vars, albumartist),
			     "Unknown Artist" },
	[TV_ALBUM] = { "album", offsetof(struct template_vars, album),
		       "Unknown Album" },
	[TV_TITLE] = { "title", offsetof(struct template_vars, title), NULL },
	[TV_TRACK] = { "track", NO_FIELD, NULL },
	[TV_DISC] = { "disc", NO_FIELD, NULL },
	[TV_YEAR] = { "year", NO_FIELD, NULL },
	[TV_GENRE] = { "genre", offsetof(struct template_vars, genre),
		       "Unknown Genre" },
	[TV_COMPOSER] = { "composer", offsetof(struct template_vars, composer),
			  "Unknown Composer" },
	[TV_FORMAT] = { "format", NO_FIELD, NULL },
	[TV_FORMAT_UPPER] = { "format_upper", NO_FIELD, NULL },
};

enum tnode_kind { TN_TEXT, TN_VAR, TN_GROUP };

struct tnode {
	enum tnode_kind kind;
	struct tnode *next;
	char *text;		/* TN_TEXT: literal; TN_VAR: default or NULL */
	unsigned char chain[TPL_CHAIN_MAX];	/* TN_VAR: enum tvar */
	size_t nchain;
	char open, close;	/* TN_GROUP: its brackets */
	struct tnode *child;	/* TN_GROUP: its content */
};

struct template {
	struct tnode **comps;	/* one node list per path component */
	size_t ncomp;
	unsigned uses;		/* bit (1u << enum tvar) per variable used */
	enum tvar ext_var;	/* TV_FORMAT or TV_FORMAT_UPPER */
};

/* A value being rendered: not NUL-terminated. */
struct val {
	const char *s;
	size_t len;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static bool is_alnum(char c)
{
	return is_ident(c) && c != '_';
}

/* Characters an empty variable may leave dangling in literal text. */
static bool is_sep(char c)
{
	return c && strchr(" \t-_.,;:~", c);
}

static char close_of(char open)
{
	switch (open) {
	case '(':
		return ')';
	case '[':
		return ']';
	case '{':
		return '}';
	default:
		return '\0';
	}
}

static bool is_close(char c)
{
	return c == ')' || c == ']' || c == '}';
}

static int var_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < TV_COUNT; i++) {
		if (strlen(var_defs[i].name) == len &&
		    memcmp(var_defs[i].name, s, len) == 0)
			return (int)i;
	}
	return -1;
}

static struct val val_trim(const char *s, size_t len)
{
	struct val v = { s ? s : "", s ? len : 0 };

	while (v.len && is_space(v.s[0])) {
		v.s++;
		v.len--;
	}
	while (v.len && is_space(v.s[v.len - 1]))
		v.len--;
	return v;
}

static struct val val_str(const char *s)
{
	return val_trim(s, s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------ */
/* UTF-8 */

/*
 * Decode one code point of s (n > 0 bytes) into *cp and return the bytes
 * used.  An invalid sequence gives U+FFFD for its maximal valid prefix
 * (at least one byte), as Unicode recommends (section 3.9, "U+FFFD
 * substitution of maximal subparts"): overlongs, surrogates and code
 * points above U+10FFFF are invalid.
 */
static size_t utf8_next(const unsigned char *s, size_t n, int32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;
	size_t need;
	size_t i;
	int32_t v;

	*cp = 0xFFFD;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		v = c & 0x0F;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		v = c & 0x07;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else {
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return i;
		v = (v << 6) | (s[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return need + 1;
}

static int buf_add_cp(struct buf *b, int32_t cp)
{
	utf8proc_uint8_t enc[4];
	utf8proc_ssize_t k = utf8proc_encode_char(cp, enc);

	return buf_add(b, enc, (size_t)k);
}

/* Copy of s with invalid UTF-8 replaced by U+FFFD.  Caller frees. */
static char *utf8_repair(const char *s)
{
	struct buf b = BUF_INIT_MAX(SIZE_MAX / 2);
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	size_t pos = 0;
	size_t k;
	int32_t cp;

	while (pos < n) {
		k = utf8_next(p + pos, n - pos, &cp);
		if (buf_add_cp(&b, cp) < 0) {
			buf_release(&b);
			return NULL;
		}
		pos += k;
	}
	return buf_detach(&b, NULL);
}

/*
 * NFC (plus opts) of s, which must be valid UTF-8.  Caller frees; NULL on
 * ENOMEM (the only error utf8proc can report for valid input).
 */
static char *utf8_compose(const char *s, utf8proc_option_t opts)
{
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t rc;

	rc = utf8proc_map((const utf8proc_uint8_t *)s, 0, &dst,
			  opts | UTF8PROC_NULLTERM | UTF8PROC_STABLE |
				  UTF8PROC_COMPOSE);
	return rc < 0 ? NULL : (char *)dst;
}

/*
 * Plain ASCII is already NFC and folds by lowering A-Z: most names are,
 * and this path skips utf8proc's decomposition (a fifth of a scan's work).
 */
static char *ascii_map(const char *s, utf8proc_option_t opts)
{
	size_t n = strlen(s), i;
	char *res = malloc(n + 1);

	if (!res)
		return NULL;
	for (i = 0; i <= n; i++)
		res[i] = (opts & UTF8PROC_CASEFOLD) && s[i] >= 'A' && s[i] <= 'Z'
				 ? (char)(s[i] - 'A' + 'a')
				 : s[i];
	return res;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* utf8_compose() of s after repair.  Caller frees; NULL on ENOMEM. */
static char *utf8_map(const char *s, utf8proc_option_t opts)
{
	char *fixed;
	char *res;

	if (s && is_ascii(s))
		return ascii_map(s, opts);
	fixed = utf8_repair(s);
	if (!fixed)
		return NULL;
	res = utf8_compose(fixed, opts);
	free(fixed);
	return res;
}

char *template_nfc(const char *s)
{
	return utf8_map(s, 0);
}

char *template_fold(const char *s)
{
	return utf8_map(s, UTF8PROC_CASEFOLD);
}

/* ------------------------------------------------------------------ */
/* Sanitizer */

/* ':' before a space reads as a dash, inside a word as a hyphen. */
static int add_colon(struct buf *b, const unsigned char *next, size_t left)
{
	bool after_space = !b->len || b->data[b->len - 1] == ' ';

	if (!left)
		return 0;
	if (!is_space((char)*next))
		return buf_addch(b, '-');
	return buf_adds(b, after_space ? "-" : " -");
}

static int add_space(struct buf *b)
{
	if (b->len && b->data[b->len - 1] == ' ')
		return 0;
	return buf_addch(b, ' ');
}

/* Append code point cp of a name to b, applying the character rules. */
static int map_cp(struct buf *b, int32_t cp, const unsigned char *next,
		  size_t left)
{
	switch (cp) {
	case '/':
	case '\\':
	case '<':
	case '>':
	case '*':
	case '|':
		return buf_addch(b, '_');
	case '"':
		return buf_addch(b, '\'');
	case '?':
	case 0xFEFF:
		return 0;
	case ':':
		return add_colon(b, next, left);
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case 0x2028:
	case 0x2029:
		return add_space(b);
	default:
		break;
	}
	if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
		return 0;
	return buf_add_cp(b, cp);
}

/* Repair and map n bytes of s.  Caller frees; NULL on ENOMEM. */
static char *map_chars(const char *s, size_t n)
{
	struct buf b = BUF_INIT_MAX(SIZE_MAX / 2);
	const unsigned char *p = (const unsigned char *)s;
	size_t pos = 0;
	size_t k;
	int32_t cp;

	while (pos < n) {
		k = utf8_next(p + pos, n - pos, &cp);
		pos += k;
		if (map_cp(&b, cp, p + pos, n - pos) < 0) {
			buf_release(&b);
			return NULL;
		}
	}
	return buf_detach(&b, NULL);
}

/*
 * Largest cut <= limit bytes of s (len > limit) that falls on a grapheme
 * cluster boundary, or on a code point boundary when the first cluster
 * alone is longer than limit.  s is valid UTF-8.
 */
static size_t cut_point(const char *s, size_t len, size_t limit)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t state = 0;
	utf8proc_int32_t prev = 0;
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;
	size_t pos = 0;
	size_t gcut = 0;
	size_t ccut = 0;

	while (pos <= limit && pos < len) {
		k = utf8proc_iterate(p + pos, (utf8proc_ssize_t)(len - pos), &cp);
		if (k <= 0)
			break;
		if (pos > 0 && utf8proc_grapheme_break_stateful(prev, cp, &state))
			gcut = pos;
		ccut = pos;
		prev = cp;
		pos += (size_t)k;
	}
	return gcut ? gcut : ccut;
}

static size_t skip_leading(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '.' || s[i] == '-'))
		i++;
	return i;
}

static size_t trim_trailing(const char *s, size_t start, size_t end)
{
	while (end > start && (s[end - 1] == ' ' || s[end - 1] == '.'))
		end--;
	return end;
}

/*
 * Write ".ext" for ext into out (EXT_MAX + 2 bytes) and return its
 * length: leading dots are skipped, bytes other than ASCII letters and
 * digits become '_', and the extension is cut to EXT_MAX bytes.  0 (and
 * "") when ext is NULL or empty.
 */
static size_t clean_ext(const char *ext, size_t extlen, char *out)
{
	size_t n = 0;
	size_t i = 0;

	out[0] = '\0';
	if (!ext)
		return 0;
	while (i < extlen && ext[i] == '.')
		i++;
	if (i == extlen)
		return 0;
	out[n++] = '.';
	for (; i < extlen && n <= EXT_MAX; i++)
		out[n++] = is_alnum(ext[i]) ? ext[i] : '_';
	out[n] = '\0';
	return n;
}

/*
 * Sanitize stem (stemlen bytes) as a name that ends in ext (extlen bytes,
 * without the dot; ext NULL or empty: none).  The extension is kept whole
 * when the stem is cut.  Caller frees; NULL on ENOMEM.
 */
static char *sanitize_parts(const char *stem, size_t stemlen, const char *ext,
			    size_t extlen)
{
	char dext[EXT_MAX + 2];
	char *mapped = NULL;
	char *nfc = NULL;
	char *res = NULL;
	size_t dextlen = clean_ext(ext, extlen, dext);
	size_t start, end;

	mapped = map_chars(stem, stemlen);
	if (!mapped)
		goto out;
	nfc = utf8_compose(mapped, 0);
	if (!nfc)
		goto out;
	end = strlen(nfc);
	start = skip_leading(nfc, end);
	end = trim_trailing(nfc, start, end);
	if (end - start > TEMPLATE_NAME_MAX - dextlen)
		end = start + cut_point(nfc + start, end - start,
					TEMPLATE_NAME_MAX - dextlen);
	end = trim_trailing(nfc, start, end);
	if (end == start)
		res = str_printf("_%s", dext);
	else
		res = str_printf("%.*s%s", (int)(end - start), nfc + start,
				 dext);
out:
	free(nfc);
	free(mapped);
	return res;
}

/*
 * Length of the extension of name (after its last dot), or 0 if it has
 * none: 1 to EXT_DETECT_MAX ASCII letters or digits, the dot not first.
 */
static size_t ext_len(const char *name, size_t len)
{
	size_t i = len;

	while (i > 0 && len - i <= EXT_DETECT_MAX && is_alnum(name[i - 1]))
		i--;
	if (i < 2 || i == len || len - i > EXT_DETECT_MAX || name[i - 1] != '.')
		return 0;
	return len - i;
}

char *template_sanitize(const char *name, bool keep_ext)
{
	size_t len;
	size_t elen = 0;

	if (!name)
		name = "";
	len = strlen(name);
	if (keep_ext)
		elen = ext_len(name, len);
	if (!elen)
		return sanitize_parts(name, len, NULL, 0);
	return sanitize_parts(name, len - elen - 1, name + len - elen, elen);
}

/* ------------------------------------------------------------------ */
/* Compiler */

struct parser {
	const char *text;
	size_t pos;
	unsigned uses;
	unsigned depth;
	char *err;
	size_t errsize;
};

static void tnode_free(struct tnode *n)
{
	struct tnode *next;

	for (; n; n = next) {
		next = n->next;
		tnode_free(n->child);
		free(n->text);
		free(n);
	}
}

/* 1-based column of byte offset at, counted in characters. */
static size_t column_of(const char *text, size_t at)
{
	size_t col = 1;
	size_t i;

	for (i = 0; i < at; i++) {
		if (((unsigned char)text[i] & 0xC0) != 0x80)
			col++;
	}
	return col;
}

static int parse_error(struct parser *p, size_t at, const char *fmt, ...)
	MFS_PRINTF(3, 4);

/* Store "<message> at column N" in p->err; returns -EINVAL. */
static int parse_error(struct parser *p, size_t at, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!p->err || !p->errsize)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errsize, "%s at column %zu", msg,
		 column_of(p->text, at));
	return -EINVAL;
}

static struct tnode *tnode_new(enum tnode_kind kind)
{
	struct tnode *n = calloc(1, sizeof(*n));

	if (n)
		n->kind = kind;
	return n;
}

/* Move the literal text collected in b (if any) to a node at *tail. */
static int flush_text(struct buf *b, struct tnode ***tail)
{
	struct tnode *n;

	if (!b->len)
		return 0;
	n = tnode_new(TN_TEXT);
	if (!n)
		return -ENOMEM;
	n->text = buf_detach(b, NULL);
	if (!n->text) {
		free(n);
		return -ENOMEM;
	}
	**tail = n;
	*tail = &n->next;
	return 0;
}

/* Add element [s, s + len) of a ${...} chain (at offset at) to node n. */
static int chain_add(struct parser *p, struct tnode *n, const char *s,
		     size_t len, size_t at, bool last)
{
	struct val e = val_trim(s, len);
	int var = var_lookup(e.s, e.len);

	at += (size_t)(e.s - s);
	if (var >= 0) {
		if (n->nchain == TPL_CHAIN_MAX)
			return parse_error(p, at, "more than %d alternatives",
					   TPL_CHAIN_MAX);
		n->chain[n->nchain++] = (unsigned char)var;
		p->uses |= 1u << var;
		return 0;
	}
	if (!e.len && (!last || !n->nchain))
		return parse_error(p, at, "empty variable name");
	if (!last || !n->nchain)
		return parse_error(p, at, "unknown variable '%.*s'",
				   (int)e.len, e.s);
	n->text = str_ndup(e.s, e.len);
	return n->text ? 0 : -ENOMEM;
}

/* Parse "${a|b|default}"; p->pos is at the '{', at is the '$'. */
static int parse_braced(struct parser *p, size_t at, struct tnode *n)
{
	const char *s = p->text + p->pos + 1;
	size_t len = strcspn(s, "}/");
	size_t i = 0;
	size_t k;
	int ret;

	if (s[len] != '}')
		return parse_error(p, at, "unclosed '${'");
	for (;;) {
		k = i;
		while (k < len && s[k] != '|')
			k++;
		ret = chain_add(p, n, s + i, k - i, (size_t)(s + i - p->text),
				k == len);
		if (ret < 0)
			return ret;
		if (k == len)
			break;
		i = k + 1;
	}
	p->pos += len + 2;
	return 0;
}

/*
 * Error for an unknown "$name".  Names are read greedily, as in a shell,
 * so "$track_$title" reads "$track_": suggest the braces then.
 */
static int unknown_bare(struct parser *p, size_t at, const char *s, size_t len)
{
	size_t best = 0;
	size_t k;
	int i;

	for (i = 0; i < TV_COUNT; i++) {
		k = strlen(var_defs[i].name);
		if (k < len && k > best && !memcmp(s, var_defs[i].name, k))
			best = k;
	}
	if (!best)
		return parse_error(p, at, "unknown variable '$%.*s'", (int)len,
				   s);
	return parse_error(p, at,
			   "unknown variable '$%.*s' (write '${%.*s}%.*s')",
			   (int)len, s, (int)best, s, (int)(len - best),
			   s + best);
}

/* Parse "$name"; p->pos is after the '$', at is the '$'. */
static int parse_bare(struct parser *p, size_t at, struct tnode *n)
{
	const char *s = p->text + p->pos;
	size_t len = 0;
	int var;

	while (is_ident(s[len]))
		len++;
	if (!len)
		return parse_error(p, at,
				   "'$' without a variable name "
				   "(write '$$' for a literal '$')");
	var = var_lookup(s, len);
	if (var < 0)
		return unknown_bare(p, at, s, len);
	n->chain[n->nchain++] = (unsigned char)var;
	p->uses |= 1u << var;
	p->pos += len;
	return 0;
}

/* Parse a variable at p->pos (a '$' not followed by '$') into *out. */
static int parse_var(struct parser *p, struct tnode **out)
{
	size_t at = p->pos;
	struct tnode *n = tnode_new(TN_VAR);
	int ret;

	if (!n)
		return -ENOMEM;
	p->pos++;
	if (p->text[p->pos] == '{')
		ret = parse_braced(p, at, n);
	else
		ret = parse_bare(p, at, n);
	if (ret < 0) {
		tnode_free(n);
		return ret;
	}
	/* a bare $albumartist falls back to $artist */
	if (n->nchain == 1 && n->chain[0] == TV_ALBUMARTIST && !n->text)
		p->uses |= 1u << TV_ARTIST;
	*out = n;
	return 0;
}

static int parse_seq(struct parser *p, size_t open_at, struct tnode **head);

/* Parse a bracket group at p->pos into *out. */
static int parse_group(struct parser *p, struct tnode **out)
{
	size_t at = p->pos;
	struct tnode *n;
	int ret;

	if (p->depth == TPL_DEPTH_MAX)
		return parse_error(p, at, "groups nested more than %d deep",
				   TPL_DEPTH_MAX);
	n = tnode_new(TN_GROUP);
	if (!n)
		return -ENOMEM;
	n->open = p->text[at];
	n->close = close_of(n->open);
	p->pos++;
	p->depth++;
	ret = parse_seq(p, at, &n->child);
	p->depth--;
	if (ret < 0) {
		tnode_free(n);
		return ret;
	}
	*out = n;
	return 0;
}

/* Parse one '$' or bracket construct at p->pos, appending to *tail. */
static int parse_special(struct parser *p, struct tnode ***tail)
{
	char c = p->text[p->pos];
	int ret;

	if (is_close(c))
		return parse_error(p, p->pos, "unmatched '%c'", c);
	if (c == '$')
		ret = parse_var(p, *tail);
	else
		ret = parse_group(p, *tail);
	if (ret < 0)
		return ret;
	*tail = &(**tail)->next;
	return 0;
}

/*
 * Parse nodes into *head up to the end of a component ('/' or the end of
 * the text) or, in a group opened at open_at (SIZE_MAX: none), up to and
 * including its closing bracket.
 */
static int parse_seq(struct parser *p, size_t open_at, struct tnode **head)
{
	struct buf text = BUF_INIT_MAX(TEMPLATE_TEXT_MAX);
	struct tnode **tail = head;
	char close = open_at == SIZE_MAX ? '\0' : close_of(p->text[open_at]);
	char c;
	int ret = 0;

	for (;;) {
		c = p->text[p->pos];
		if (c == '\0' || c == '/') {
			if (close)
				ret = parse_error(p, open_at, "unclosed '%c'",
						  p->text[open_at]);
			break;
		}
		if (close && c == close) {
			p->pos++;
			break;
		}
		if (c == '$' && p->text[p->pos + 1] == '$') {
			ret = buf_addch(&text, '$');
			p->pos += 2;
		} else if (c == '$' || close_of(c) || is_close(c)) {
			ret = flush_text(&text, &tail);
			if (!ret)
				ret = parse_special(p, &tail);
		} else {
			ret = buf_addch(&text, c);
			p->pos++;
		}
		if (ret < 0)
			break;
	}
	if (!ret)
		ret = flush_text(&text, &tail);
	buf_release(&text);
	return ret;
}

/*
 * If the last component ends with ".$format" or ".$format_upper", take
 * that off the nodes: the renderer appends the extension itself, so that
 * cutting a long name keeps it.
 */
static void split_ext(struct template *t)
{
	struct tnode **pp = &t->comps[t->ncomp - 1];
	struct tnode **prev = NULL;
	struct tnode *v;
	size_t len;

	t->ext_var = TV_FORMAT;
	while ((*pp)->next) {
		prev = pp;
		pp = &(*pp)->next;
	}
	v = *pp;
	if (!prev || (*prev)->kind != TN_TEXT || v->kind != TN_VAR ||
	    v->nchain != 1 || v->text ||
	    (v->chain[0] != TV_FORMAT && v->chain[0] != TV_FORMAT_UPPER))
		return;
	len = strlen((*prev)->text);
	if ((*prev)->text[len - 1] != '.')
		return;
	t->ext_var = v->chain[0];
	tnode_free(v);
	(*prev)->next = NULL;
	(*prev)->text[len - 1] = '\0';
	if (len == 1) {
		tnode_free(*prev);
		*prev = NULL;
	}
}

static bool is_dot_component(const struct tnode *n)
{
	return n && !n->next && n->kind == TN_TEXT &&
	       (!strcmp(n->text, ".") || !strcmp(n->text, ".."));
}

/* Parse the component at p->pos into a new slot of t->comps. */
static int parse_component(struct parser *p, struct template *t)
{
	struct tnode **comps;
	size_t at = p->pos;
	int ret;

	if (p->text[at] == '\0' || p->text[at] == '/')
		return parse_error(p, at, "empty path component");
	comps = realloc(t->comps, (t->ncomp + 1) * sizeof(*comps));
	if (!comps)
		return -ENOMEM;
	t->comps = comps;
	comps[t->ncomp] = NULL;
	t->ncomp++;
	ret = parse_seq(p, SIZE_MAX, &comps[t->ncomp - 1]);
	if (ret < 0)
		return ret;
	if (is_dot_component(comps[t->ncomp - 1]))
		return parse_error(p, at, "'%s' is not a valid path component",
				   comps[t->ncomp - 1]->text);
	return 0;
}

int template_compile(const char *text, struct template **out, char *err,
		     size_t errsize)
{
	struct parser p = { text ? text : TEMPLATE_DEFAULT, 0, 0, 0, err,
			    errsize };
	struct template *t;
	int ret;

	*out = NULL;
	if (err && errsize)
		err[0] = '\0';
	if (!*p.text)
		return parse_error(&p, 0, "empty template");
	if (strlen(p.text) > TEMPLATE_TEXT_MAX)
		return parse_error(&p, TEMPLATE_TEXT_MAX,
				   "template longer than %d bytes",
				   TEMPLATE_TEXT_MAX);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (;;) {
		ret = parse_component(&p, t);
		if (ret < 0)
			goto out_free;
		if (!p.text[p.pos])
			break;
		p.pos++;
	}
	split_ext(t);
	t->uses = p.uses | 1u << TV_FORMAT;
	*out = t;
	return 0;
out_free:
	template_free(t);
	return ret;
}

void template_free(struct template *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ncomp; i++)
		tnode_free(t->comps[i]);
	free(t->comps);
	free(t);
}

bool template_uses(const struct template *t, const char *var)
{
	int i;

	if (!t || !var)
		return false;
	if (*var == '$')
		var++;
	i = var_lookup(var, strlen(var));
	return i >= 0 && (t->uses & 1u << i);
}

/* ------------------------------------------------------------------ */
/* Renderer */

/* The origin file name without directories. */
static const char *orig_base(const struct template_vars *v)
{
	const char *s = v->orig_name ? v->orig_name : "";
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

/* Length of the extension of the origin name, as format or as a guess. */
static size_t orig_ext_len(const struct template_vars *v, const char *base)
{
	size_t len = strlen(base);
	struct val f = val_str(v->format);

	if (f.len && f.len + 1 < len && base[len - f.len - 1] == '.' &&
	    !strncasecmp(base + len - f.len, f.s, f.len))
		return f.len;
	return ext_len(base, len);
}

/* Title of an untitled track: the origin name without its extension. */
static struct val title_default(const struct template_vars *v)
{
	const char *base = orig_base(v);
	size_t elen = orig_ext_len(v, base);
	struct val t = val_trim(base, strlen(base) - (elen ? elen + 1 : 0));

	if (!t.len)
		t = val_str("Unknown Title");
	return t;
}

static bool is_multi(const struct template_vars *v)
{
	return v->multi_disc || v->disc > 1;
}

/* snprintf's result into scratch as a value. */
static struct val val_scratch(int n, const char *scratch)
{
	return (struct val){ scratch, n > 0 ? (size_t)n : 0 };
}

static struct val val_format(const char *format, bool upper, char *scratch)
{
	struct val f = val_str(format);
	size_t i;

	while (f.len && f.s[0] == '.') {
		f.s++;
		f.len--;
	}
	f.len = MFS_MIN(f.len, (size_t)SCRATCH_MAX - 1);
	for (i = 0; i < f.len; i++) {
		char c = f.s[i];

		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		scratch[i] = c;
	}
	f.s = scratch;
	return f;
}

/* The tagged value of var, empty if missing; numbers use scratch. */
static struct val var_raw(const struct template *t,
			  const struct template_vars *v, enum tvar var,
			  char *scratch)
{
	static const struct val none = { "", 0 };
	size_t field = var_defs[var].field;

	if (field != NO_FIELD)
		return val_str(*(const char *const *)((const char *)v + field));
	switch (var) {
	case TV_TRACK:
		if (v->track <= 0)
			return none;
		if (is_multi(v) && v->disc > 0 && !(t->uses & 1u << TV_DISC))
			return val_scratch(snprintf(scratch, SCRATCH_MAX,
						    "%d-%02d", v->disc,
						    v->track),
					   scratch);
		return val_scratch(snprintf(scratch, SCRATCH_MAX, "%02d",
					    v->track),
				   scratch);
	case TV_DISC:
		if (v->disc <= 0 || !is_multi(v))
			return none;
		return val_scratch(snprintf(scratch, SCRATCH_MAX, "%d",
					    v->disc),
				   scratch);
	case TV_YEAR:
		if (v->year <= 0)
			return none;
		return val_scratch(snprintf(scratch, SCRATCH_MAX, "%d",
					    v->year),
				   scratch);
	case TV_FORMAT:
	case TV_FORMAT_UPPER:
		return val_format(v->format, var == TV_FORMAT_UPPER, scratch);
	default:
		return none;
	}
}

/* Value of a variable node: its chain, implicit fallback, default. */
static struct val eval_var(const struct template *t,
			   const struct template_vars *v, const struct tnode *n,
			   char *scratch)
{
	enum tvar last = n->chain[n->nchain - 1];
	struct val r;
	size_t i;

	for (i = 0; i < n->nchain; i++) {
		r = var_raw(t, v, n->chain[i], scratch);
		if (r.len)
			return r;
	}
	if (n->nchain == 1 && last == TV_ALBUMARTIST && !n->text) {
		r = var_raw(t, v, TV_ARTIST, scratch);
		if (r.len)
			return r;
	}
	if (n->text)
		return val_str(n->text);
	if (last == TV_TITLE)
		return title_default(v);
	return val_str(var_defs[last].dflt);
}

/* Rendering state of one component or group. */
struct rctx {
	struct buf out;
	size_t sep_start;	/* start of the trailing literal separators */
	bool pending;		/* an empty variable since the last content */
	size_t nvars;		/* variables rendered, nested groups included */
	size_t nfull;		/* ... of which were not empty */
};

static void rctx_init(struct rctx *c)
{
	buf_init(&c->out, RENDER_MAX);
	c->sep_start = 0;
	c->pending = false;
	c->nvars = 0;
	c->nfull = 0;
}

/* Append, silently truncated to the cap (the name is cut later anyway). */
static int rctx_add(struct rctx *c, const char *s, size_t n)
{
	size_t room = c->out.max - c->out.len;

	return buf_add(&c->out, s, MFS_MIN(n, room));
}

static void rctx_truncate(struct rctx *c, size_t len)
{
	if (len >= c->out.len)
		return;
	c->out.len = len;
	c->out.data[len] = '\0';
	c->sep_start = MFS_MIN(c->sep_start, len);
}

/*
 * Literal text: after an empty variable, its leading separators are
 * dropped when nothing precedes them or separators already do.
 */
static int rctx_literal(struct rctx *c, const char *s, size_t n)
{
	size_t before = c->out.len;
	size_t end;
	int ret;

	if (c->pending && (!c->out.len || c->sep_start < c->out.len)) {
		while (n && is_sep(*s)) {
			s++;
			n--;
		}
	}
	if (!n)
		return 0;
	ret = rctx_add(c, s, n);
	if (ret < 0)
		return ret;
	end = c->out.len;
	while (end > before && is_sep(c->out.data[end - 1]))
		end--;
	if (end > before || c->sep_start == before)
		c->sep_start = end;
	c->pending = false;
	return 0;
}

static int rctx_value(struct rctx *c, struct val v)
{
	int ret;

	c->nvars++;
	if (!v.len) {
		c->pending = true;
		return 0;
	}
	c->nfull++;
	ret = rctx_add(c, v.s, v.len);
	c->sep_start = c->out.len;
	c->pending = false;
	return ret;
}

/* At the end: separators that only led to empty variables go. */
static void rctx_finish(struct rctx *c)
{
	if (c->pending)
		rctx_truncate(c, c->sep_start);
}

static int render_seq(const struct template *t, const struct template_vars *v,
		      const struct tnode *n, struct rctx *c);

static int render_group(const struct template *t,
			const struct template_vars *v, const struct tnode *n,
			struct rctx *c)
{
	struct rctx sub;
	size_t len;
	int ret;

	rctx_init(&sub);
	ret = render_seq(t, v, n->child, &sub);
	if (ret < 0)
		goto out;
	rctx_finish(&sub);
	c->nvars += sub.nvars;
	c->nfull += sub.nfull;
	if (sub.nvars && !sub.nfull) {
		/* the group vanishes with the spaces before it */
		len = c->out.len;
		while (len && (c->out.data[len - 1] == ' ' ||
			       c->out.data[len - 1] == '\t'))
			len--;
		rctx_truncate(c, len);
		c->pending = true;
		goto out;
	}
	ret = rctx_add(c, &n->open, 1);
	if (!ret && sub.out.len)
		ret = rctx_add(c, sub.out.data, sub.out.len);
	if (!ret)
		ret = rctx_add(c, &n->close, 1);
	c->sep_start = c->out.len;
	c->pending = false;
out:
	buf_release(&sub.out);
	return ret;
}

static int render_seq(const struct template *t, const struct template_vars *v,
		      const struct tnode *n, struct rctx *c)
{
	char scratch[SCRATCH_MAX];
	int ret = 0;

	for (; n && !ret; n = n->next) {
		switch (n->kind) {
		case TN_TEXT:
			ret = rctx_literal(c, n->text, strlen(n->text));
			break;
		case TN_VAR:
			ret = rctx_value(c, eval_var(t, v, n, scratch));
			break;
		case TN_GROUP:
			ret = render_group(t, v, n, c);
			break;
		}
	}
	return ret;
}

/* Render and sanitize component i of t into *out (caller frees). */
static int render_component(const struct template *t,
			    const struct template_vars *v, size_t i,
			    char **out)
{
	char scratch[SCRATCH_MAX];
	struct val ext = { "", 0 };
	struct rctx c;
	int ret;

	rctx_init(&c);
	ret = render_seq(t, v, t->comps[i], &c);
	if (ret < 0)
		goto out;
	rctx_finish(&c);
	if (i + 1 == t->ncomp)
		ext = var_raw(t, v, t->ext_var, scratch);
	*out = sanitize_parts(c.out.len ? c.out.data : "", c.out.len, ext.s,
			      ext.len);
	if (!*out)
		ret = -ENOMEM;
out:
	buf_release(&c.out);
	return ret;
}

static bool is_untagged(const struct template_vars *v)
{
	return !val_str(v->title).len && !val_str(v->artist).len &&
	       !val_str(v->albumartist).len && !val_str(v->album).len;
}

/* Unknown Artist/Unknown Album/<origin name> into comps[3]. */
static int render_untagged(const struct template_vars *v, char **comps)
{
	const char *base = orig_base(v);
	size_t len = strlen(base);
	size_t elen = orig_ext_len(v, base);
	struct val title;
	char scratch[SCRATCH_MAX];
	struct val f = val_format(v->format, false, scratch);

	comps[0] = str_dup("Unknown Artist");
	comps[1] = str_dup("Unknown Album");
	if (elen) {
		comps[2] = sanitize_parts(base, len - elen - 1,
					  base + len - elen, elen);
	} else if (val_str(base).len) {
		comps[2] = sanitize_parts(base, len, NULL, 0);
	} else {
		title = title_default(v);
		comps[2] = sanitize_parts(title.s, title.len, f.s, f.len);
	}
	return comps[0] && comps[1] && comps[2] ? 0 : -ENOMEM;
}

int template_render(const struct template *t, const struct template_vars *v,
		    char ***components, size_t *n)
{
	bool untagged = is_untagged(v);
	size_t count = untagged ? 3 : t->ncomp;
	char **comps;
	size_t i;
	int ret = 0;

	*components = NULL;
	*n = 0;
	comps = calloc(count, sizeof(*comps));
	if (!comps)
		return -ENOMEM;
	if (untagged)
		ret = render_untagged(v, comps);
	for (i = 0; !untagged && i < count && !ret; i++)
		ret = render_component(t, v, i, &comps[i]);
	if (ret < 0) {
		template_components_free(comps, count);
		return ret;
	}
	*components = comps;
	*n = count;
	return 0;
}

void template_components_free(char **components, size_t n)
{
	size_t i;

	if (!components)
		return;
	for (i = 0; i < n; i++)
		free(components[i]);
	free(components);
}
