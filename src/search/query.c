/*
 * query.c - the tokenizer and the recursive-descent parser of search
 * queries (the syntax is in search.h).
 *
 * The query is checked as UTF-8 and measured first, so the lexer may
 * decode characters without further checks.  Tokens are made one at a
 * time; positions are byte offsets until a message needs them, then
 * converted to 1-based character columns.  Recursion happens once per
 * group or NOT and is bounded by SEARCH_DEPTH_MAX, so no input can
 * exhaust the stack.  On any error the partial tree is freed and a
 * message naming the column is left in err.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "search/search_i.h"

#include <utf8proc.h>

enum tok_kind {
	TOK_END,
	TOK_WORD,	/* bare text: a term, or a range bound / TO */
	TOK_PHRASE,	/* "..." */
	TOK_FIELD,	/* name: (the ':' consumed) */
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_LRANGE,	/* '[' or '{' */
	TOK_RRANGE,	/* ']' or '}' */
	TOK_AND,
	TOK_OR,
	TOK_NOT,
	TOK_MINUS,	/* '-' glued to what follows */
	TOK_PLUS,	/* '+' glued to what follows */
};

struct tok {
	enum tok_kind kind;
	size_t pos;		/* byte offset of the first character */
	size_t end;		/* byte offset just past the token */
	struct buf text;	/* WORD/PHRASE/FIELD, escapes removed */
	bool inclusive;		/* LRANGE/RRANGE: '[' or ']' */
	bool prefix;		/* PHRASE followed by '*' */
	size_t star;		/* WORD: offset in text of a bare '*' */
	size_t star_pos;	/*   and its byte offset in the query */
	size_t tilde;		/* WORD: offset in text of a bare '~' */
	size_t tilde_pos;
};

#define NONE SIZE_MAX

struct parser {
	const char *q;
	size_t len;
	size_t pos;		/* lexer position */
	struct tok tok;		/* current token */
	int depth;
	enum search_field group;	/* field of the enclosing field:( ) */
	char *err;
	size_t errsize;
};

static const char *const field_names[] = {
	[SEARCH_FIELD_TITLE] = "title",
	[SEARCH_FIELD_ARTIST] = "artist",
	[SEARCH_FIELD_ALBUM] = "album",
	[SEARCH_FIELD_ALBUM_ARTIST] = "album_artist",
	[SEARCH_FIELD_GENRE] = "genre",
	[SEARCH_FIELD_COMPOSER] = "composer",
	[SEARCH_FIELD_YEAR] = "year",
};

const char *search_field_name(enum search_field f)
{
	if (f < 0 || (size_t)f >= MFS_ARRAY_SIZE(field_names))
		return NULL;
	return field_names[f];
}

/* ---- characters -------------------------------------------------------- */

/* Decode the character at s[i] (the query is valid UTF-8). */
static int32_t char_at(const char *s, size_t len, size_t i, size_t *n)
{
	utf8proc_int32_t cp = 0;
	utf8proc_ssize_t k;

	k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
			     (utf8proc_ssize_t)(len - i), &cp);
	*n = k > 0 ? (size_t)k : 1;
	return k > 0 ? cp : -1;
}

static bool is_space(int32_t cp)
{
	utf8proc_category_t cat;

	if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
		return true;
	cat = utf8proc_category(cp);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
	       cat == UTF8PROC_CATEGORY_ZP;
}

/* Letters, digits and private-use characters: what the index keeps. */
static bool is_word_char(int32_t cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
	case UTF8PROC_CATEGORY_CO:
		return true;
	default:
		return false;
	}
}

static bool is_mark(int32_t cp)
{
	utf8proc_category_t cat = utf8proc_category(cp);

	return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
	       cat == UTF8PROC_CATEGORY_ME;
}

bool search_text_has_word(const char *s)
{
	size_t len = strlen(s);
	size_t i;
	size_t n;

	for (i = 0; i < len; i += n)
		if (is_word_char(char_at(s, len, i, &n)))
			return true;
	return false;
}

/* One word for the index: word characters and their combining marks. */
static bool is_one_word(const char *s)
{
	size_t len = strlen(s);
	size_t i;
	size_t n;
	int32_t cp;

	for (i = 0; i < len; i += n) {
		cp = char_at(s, len, i, &n);
		if (!is_word_char(cp) && !is_mark(cp))
			return false;
	}
	return len > 0;
}

/* Characters that end a bare word. */
static bool is_delim(int32_t cp)
{
	return cp == '(' || cp == ')' || cp == '"' || cp == '[' ||
	       cp == ']' || cp == '{' || cp == '}' || is_space(cp);
}

/* 1-based column of byte offset pos. */
static int column_of(const struct parser *p, size_t pos)
{
	size_t i;
	size_t n;
	int col = 1;

	for (i = 0; i < pos && i < p->len; i += n) {
		char_at(p->q, p->len, i, &n);
		col++;
	}
	return col;
}

/* Fail with "column N: ..." at byte offset pos; returns -EINVAL. */
static int MFS_PRINTF(3, 4) fail_at(struct parser *p, size_t pos,
				    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errsize)
		snprintf(p->err, p->errsize, "column %d: %s",
			 column_of(p, pos), msg);
	return -EINVAL;
}

/* ---- the lexer --------------------------------------------------------- */

static void skip_space(struct parser *p)
{
	size_t n;

	while (p->pos < p->len && is_space(char_at(p->q, p->len, p->pos, &n)))
		p->pos += n;
}

/* A "..." phrase; \" and \\ are escapes.  p->pos is on the quote. */
static int lex_phrase(struct parser *p, struct tok *t)
{
	size_t i = p->pos + 1;
	int rc = 0;

	while (!rc && i < p->len && p->q[i] != '"') {
		if (p->q[i] == '\\' && i + 1 < p->len)
			i++;
		rc = buf_addch(&t->text, p->q[i++]);
	}
	if (rc)
		return rc;
	if (i >= p->len)
		return fail_at(p, t->pos,
			       "unterminated phrase: this '\"' is never "
			       "closed");
	i++;
	if (i < p->len && p->q[i] == '*') {
		t->prefix = true;
		i++;
	} else if (i < p->len && p->q[i] == '~') {
		return fail_at(p, i, "proximity (\"...\"~N) is not "
				     "supported; use '~' after a word");
	}
	t->kind = TOK_PHRASE;
	p->pos = i;
	return 0;
}

/* Note a bare '*' or '~' of a word. */
static void mark_special(struct tok *t, int32_t ch, size_t qpos)
{
	if (ch == '*' && t->star == NONE) {
		t->star = t->text.len;
		t->star_pos = qpos;
	}
	if (ch == '~' && t->tilde == NONE) {
		t->tilde = t->text.len;
		t->tilde_pos = qpos;
	}
}

/* A bare word, up to a delimiter; "name:" makes a field token. */
static int lex_word(struct parser *p, struct tok *t)
{
	size_t n;
	int32_t cp;
	int rc = 0;

	t->kind = TOK_WORD;
	while (!rc && p->pos < p->len) {
		cp = char_at(p->q, p->len, p->pos, &n);
		if (is_delim(cp))
			break;
		if (cp == ':') {
			t->kind = TOK_FIELD;
			p->pos++;
			break;
		}
		if (cp == '\\' && p->pos + 1 < p->len) {
			p->pos++;
			char_at(p->q, p->len, p->pos, &n);
		} else {
			mark_special(t, cp, p->pos);
		}
		rc = buf_add(&t->text, p->q + p->pos, n);
		p->pos += n;
	}
	return rc;
}

/* Which single-character token starts at c (TOK_END: none). */
static enum tok_kind punct_kind(char c, bool *inclusive)
{
	*inclusive = c == '[' || c == ']';
	switch (c) {
	case '(':
		return TOK_LPAREN;
	case ')':
		return TOK_RPAREN;
	case '[':
	case '{':
		return TOK_LRANGE;
	case ']':
	case '}':
		return TOK_RRANGE;
	default:
		return TOK_END;
	}
}

/* '-' or '+' glued to a term: an operator; alone: part of a word. */
static bool glued_sign(const struct parser *p)
{
	size_t n;
	char c = p->q[p->pos];

	if ((c != '-' && c != '+') || p->pos + 1 >= p->len)
		return false;
	c = p->q[p->pos + 1];
	return c != ')' && c != ']' && c != '}' &&
	       !is_space(char_at(p->q, p->len, p->pos + 1, &n));
}

static void keyword(struct tok *t)
{
	if (t->kind != TOK_WORD || t->star != NONE || t->tilde != NONE)
		return;
	if (!strcmp(t->text.data, "AND"))
		t->kind = TOK_AND;
	else if (!strcmp(t->text.data, "OR"))
		t->kind = TOK_OR;
	else if (!strcmp(t->text.data, "NOT"))
		t->kind = TOK_NOT;
}

/* Make text a C string even when nothing was added ("" then). */
static int text_terminate(struct buf *text)
{
	if (text->data)
		return 0;
	return buf_adds(text, "");
}

/* Make the next token current. */
static int next(struct parser *p)
{
	struct tok *t = &p->tok;
	int rc;

	buf_reset(&t->text);
	t->prefix = false;
	t->star = t->tilde = NONE;
	skip_space(p);
	t->pos = p->pos;
	if (p->pos >= p->len) {
		t->kind = TOK_END;
		t->end = p->pos;
		return 0;
	}
	t->kind = punct_kind(p->q[p->pos], &t->inclusive);
	if (t->kind != TOK_END) {
		p->pos++;
	} else if (glued_sign(p)) {
		t->kind = p->q[p->pos] == '-' ? TOK_MINUS : TOK_PLUS;
		p->pos++;
	} else if (p->q[p->pos] == '"') {
		rc = lex_phrase(p, t);
		if (rc)
			return rc;
	} else {
		rc = lex_word(p, t);
		if (rc)
			return rc;
		keyword(t);
	}
	t->end = p->pos;
	return text_terminate(&t->text);
}

/* ---- the tree ---------------------------------------------------------- */

void search_node_free(struct search_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n_kids; i++)
		search_node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static struct search_node *node_new(enum search_node_kind kind,
				    const struct parser *p, size_t pos)
{
	struct search_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->kind = kind;
	n->field = SEARCH_FIELD_ANY;
	n->col = column_of(p, pos);
	return n;
}

static int node_add(struct search_node *n, struct search_node *kid)
{
	struct search_node **k;

	k = realloc(n->kids, (n->n_kids + 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	n->kids = k;
	n->kids[n->n_kids++] = kid;
	return 0;
}

/*
 * Join left and right under an AND or OR: nested nodes of the same kind
 * are flattened and empty terms dropped, so the tree is canonical.
 * Consumes both (also on failure); *out receives the result.
 */
static int join(enum search_node_kind kind, struct search_node *left,
		struct search_node *right, struct search_node **out)
{
	struct search_node *n = left;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (right->kind == SN_EMPTY || left->kind == SN_EMPTY) {
		*out = left->kind == SN_EMPTY ? right : left;
		search_node_free(left->kind == SN_EMPTY ? left : right);
		return 0;
	}
	if (left->kind != kind) {
		n = calloc(1, sizeof(*n));
		if (!n || node_add(n, left)) {
			free(n);
			search_node_free(left);
			search_node_free(right);
			return -ENOMEM;
		}
		n->kind = kind;
		n->field = SEARCH_FIELD_ANY;
		n->col = left->col;
	}
	if (right->kind == kind) {
		for (i = 0; !rc && i < right->n_kids; i++) {
			rc = node_add(n, right->kids[i]);
			if (!rc)
				right->kids[i] = NULL;
		}
		search_node_free(right);
	} else {
		rc = node_add(n, right);
		if (rc)
			search_node_free(right);
	}
	if (rc) {
		search_node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* ---- terms ------------------------------------------------------------- */

static int term_fuzzy(struct parser *p, struct search_node *n)
{
	struct tok *t = &p->tok;
	const char *digits = t->text.data + t->tilde + 1;
	long long d = 2;

	if (*digits && str_to_ll(digits, 0, 1000000, &d))
		return fail_at(p, t->tilde_pos, "expected 1 or 2 after '~'");
	if (d > 2)
		return fail_at(p, t->tilde_pos,
			       "fuzzy distance %lld is too large (at most 2)",
			       d);
	t->text.data[t->tilde] = 0;
	if (t->star != NONE && t->star < t->tilde)
		return fail_at(p, t->star_pos,
			       "a term cannot be both a prefix ('*') and "
			       "fuzzy ('~')");
	if (!is_one_word(t->text.data))
		return fail_at(p, t->pos,
			       "a fuzzy term must be one word of letters or "
			       "digits: '%s'", t->text.data);
	n->kind = d ? SN_FUZZY : SN_TERM;
	n->dist = (int)d;
	return 0;
}

static int term_prefix(struct parser *p, struct search_node *n)
{
	struct tok *t = &p->tok;

	if (t->star + 1 != t->text.len)
		return fail_at(p, t->star_pos,
			       "'*' is only allowed at the end of a term");
	t->text.data[t->star] = 0;
	if (!search_text_has_word(t->text.data))
		return fail_at(p, t->star_pos,
			       "'*' needs a letter or digit before it");
	n->kind = SN_PREFIX;
	return 0;
}

/* A word or phrase with its field: a term node (or SN_EMPTY). */
static int parse_term(struct parser *p, enum search_field field,
		      struct search_node **out)
{
	struct tok *t = &p->tok;
	struct search_node *n = node_new(SN_TERM, p, t->pos);
	int rc = 0;

	if (!n)
		return -ENOMEM;
	n->field = field;
	if (t->kind == TOK_PHRASE) {
		n->phrase = true;
		n->kind = t->prefix ? SN_PREFIX : SN_TERM;
	} else if (t->tilde != NONE) {
		rc = term_fuzzy(p, n);
	} else if (t->star != NONE) {
		rc = term_prefix(p, n);
	}
	if (!rc && !search_text_has_word(t->text.data)) {
		if (n->kind != SN_TERM)
			rc = fail_at(p, t->pos,
				     "'%s' has no letter or digit to search "
				     "for", t->text.data);
		n->kind = SN_EMPTY;
	}
	if (!rc) {
		n->text = strdup(t->text.data);
		rc = n->text ? next(p) : -ENOMEM;
	}
	if (rc)
		search_node_free(n);
	else
		*out = n;
	return rc;
}

/* ---- ranges ------------------------------------------------------------ */

/* A range bound: a year, or '*' (open: *v = dflt). */
static int range_bound(struct parser *p, int dflt, int *v, bool *open)
{
	struct tok *t = &p->tok;
	long long y;

	*open = false;
	if (t->kind == TOK_WORD && !strcmp(t->text.data, "*")) {
		*open = true;
		*v = dflt;
		return next(p);
	}
	if (t->kind != TOK_WORD || str_to_ll(t->text.data, 0, LLONG_MAX, &y))
		return fail_at(p, t->pos, "bad range bound '%.*s': a year or "
				"'*'", (int)(t->end - t->pos), p->q + t->pos);
	if (y > SEARCH_YEAR_MAX)
		return fail_at(p, t->pos, "year %lld is out of range (0 to "
				"%d)", y, SEARCH_YEAR_MAX);
	*v = (int)y;
	return next(p);
}

/* year:[lo TO hi]; p->tok is the opening bracket. */
static int parse_range(struct parser *p, struct search_node *n)
{
	size_t start = p->tok.pos;
	bool lo_incl = p->tok.inclusive;
	char closer = lo_incl ? ']' : '}';
	bool lo_open;
	bool hi_open;
	int rc;

	n->kind = SN_RANGE;
	rc = next(p);
	if (!rc)
		rc = range_bound(p, SEARCH_YEAR_MIN, &n->lo, &lo_open);
	if (rc)
		return rc;
	if (p->tok.kind != TOK_WORD || strcmp(p->tok.text.data, "TO"))
		return fail_at(p, p->tok.pos, "expected 'TO' in the range "
				"started at column %d", column_of(p, start));
	rc = next(p);
	if (!rc)
		rc = range_bound(p, SEARCH_YEAR_MAX, &n->hi, &hi_open);
	if (rc)
		return rc;
	if (p->tok.kind != TOK_RRANGE)
		return fail_at(p, p->tok.pos, "expected '%c' to close the "
				"range started at column %d", closer,
				column_of(p, start));
	if (!lo_open && !hi_open && n->lo > n->hi)
		return fail_at(p, start, "empty range: %d is after %d", n->lo,
			       n->hi);
	n->lo += !lo_incl && !lo_open;
	n->hi -= !p->tok.inclusive && !hi_open;
	return next(p);
}

/* ---- fields, groups, operators ----------------------------------------- */

static int parse_or(struct parser *p, struct search_node **out);
static int parse_unary(struct parser *p, struct search_node **out);

static int field_lookup(struct parser *p, enum search_field *f)
{
	const char *name = p->tok.text.data;
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(field_names); i++) {
		if (!strcasecmp(name, field_names[i])) {
			*f = (enum search_field)i;
			return 0;
		}
	}
	if (!strcasecmp(name, "albumartist")) {
		*f = SEARCH_FIELD_ALBUM_ARTIST;
		return 0;
	}
	if (!*name)
		return fail_at(p, p->tok.pos, "expected a field name before "
				"':'");
	if (p->errsize)
		snprintf(p->err, p->errsize, "unknown field '%s' at column "
			 "%d; fields: title, artist, album, album_artist, "
			 "genre, composer, year", name,
			 column_of(p, p->tok.pos));
	return -EINVAL;
}

/* year:1984 is the range [1984 TO 1984]: it runs on the year index. */
static bool is_year_word(const struct tok *t)
{
	long long y;

	return t->kind == TOK_WORD && t->star == NONE && t->tilde == NONE &&
	       !str_to_ll(t->text.data, 0, SEARCH_YEAR_MAX, &y);
}

static int parse_year_word(struct parser *p, struct search_node **out)
{
	struct search_node *n = node_new(SN_RANGE, p, p->tok.pos);
	long long y = 0;
	int rc;

	if (!n)
		return -ENOMEM;
	str_to_ll(p->tok.text.data, 0, SEARCH_YEAR_MAX, &y);
	n->field = SEARCH_FIELD_YEAR;
	n->lo = n->hi = (int)y;
	rc = next(p);
	if (rc)
		search_node_free(n);
	else
		*out = n;
	return rc;
}

static int parse_group(struct parser *p, struct search_node **out);

/* field:term, field:"phrase", field:(...), year:[a TO b]. */
static int parse_field(struct parser *p, struct search_node **out)
{
	enum search_field outer = p->group;
	enum search_field f = SEARCH_FIELD_ANY;
	size_t colon_end = p->tok.end;
	struct search_node *n;
	int rc;

	rc = field_lookup(p, &f);
	if (rc)
		return rc;
	if (outer != SEARCH_FIELD_ANY && outer != f)
		return fail_at(p, p->tok.pos, "field '%s' inside '%s:(...)'",
			       field_names[f], field_names[outer]);
	rc = next(p);
	if (rc)
		return rc;
	if (p->tok.pos != colon_end || p->tok.kind == TOK_END)
		return fail_at(p, colon_end, "expected a term right after "
				"'%s:'", field_names[f]);
	switch (p->tok.kind) {
	case TOK_WORD:
		if (f == SEARCH_FIELD_YEAR && is_year_word(&p->tok))
			return parse_year_word(p, out);
		/* fall through */
	case TOK_PHRASE:
		return parse_term(p, f, out);
	case TOK_LPAREN:
		p->group = f;
		rc = parse_group(p, out);
		p->group = outer;
		return rc;
	case TOK_LRANGE:
		if (f != SEARCH_FIELD_YEAR)
			return fail_at(p, p->tok.pos, "ranges apply to year "
					"only: year:[1980 TO 1989]");
		n = node_new(SN_RANGE, p, p->tok.pos);
		if (!n)
			return -ENOMEM;
		n->field = f;
		rc = parse_range(p, n);
		if (rc)
			search_node_free(n);
		else
			*out = n;
		return rc;
	default:
		return fail_at(p, colon_end, "expected a term right after "
				"'%s:'", field_names[f]);
	}
}

static int deeper(struct parser *p)
{
	if (++p->depth > SEARCH_DEPTH_MAX)
		return fail_at(p, p->tok.pos, "too deeply nested (at most %d "
				"levels of groups and NOT)",
				SEARCH_DEPTH_MAX);
	return 0;
}

/* ( ... ); p->tok is the '('. */
static int parse_group(struct parser *p, struct search_node **out)
{
	size_t open = p->tok.pos;
	int rc;

	rc = deeper(p);
	if (!rc)
		rc = next(p);
	if (rc)
		return rc;
	if (p->tok.kind == TOK_RPAREN)
		return fail_at(p, open, "empty parentheses");
	rc = parse_or(p, out);
	if (rc)
		return rc;
	if (p->tok.kind != TOK_RPAREN)
		rc = fail_at(p, p->tok.pos, "the '(' at column %d is never "
			     "closed", column_of(p, open));
	else
		rc = next(p);
	if (rc) {
		search_node_free(*out);
		*out = NULL;
	}
	p->depth--;
	return rc;
}

static const char *tok_name(const struct tok *t)
{
	switch (t->kind) {
	case TOK_AND:
		return "AND";
	case TOK_OR:
		return "OR";
	case TOK_NOT:
		return "NOT";
	case TOK_MINUS:
		return "-";
	default:
		return "+";
	}
}

static int parse_primary(struct parser *p, struct search_node **out)
{
	struct tok *t = &p->tok;

	switch (t->kind) {
	case TOK_WORD:
	case TOK_PHRASE:
		return parse_term(p, p->group, out);
	case TOK_FIELD:
		return parse_field(p, out);
	case TOK_LPAREN:
		return parse_group(p, out);
	case TOK_AND:
	case TOK_OR:
		return fail_at(p, t->pos, "'%s' needs a term on its left",
			       tok_name(t));
	case TOK_RPAREN:
		return fail_at(p, t->pos, "unmatched ')'");
	case TOK_LRANGE:
		return fail_at(p, t->pos, "a range needs a field: "
				"year:[1980 TO 1989]");
	case TOK_RRANGE:
		return fail_at(p, t->pos, "unexpected '%c'",
			       t->inclusive ? ']' : '}');
	default:
		return fail_at(p, t->pos, "expected a term");
	}
}

static bool starts_term(enum tok_kind k)
{
	return k == TOK_WORD || k == TOK_PHRASE || k == TOK_FIELD ||
	       k == TOK_LPAREN || k == TOK_NOT || k == TOK_MINUS ||
	       k == TOK_PLUS || k == TOK_LRANGE;
}

/* NOT x, -x, +x, or a primary. */
static int parse_unary(struct parser *p, struct search_node **out)
{
	struct tok *t = &p->tok;
	enum tok_kind op = t->kind;
	struct search_node *n;
	struct search_node *kid = NULL;
	size_t pos = t->pos;
	int rc;

	if (op != TOK_NOT && op != TOK_MINUS && op != TOK_PLUS)
		return parse_primary(p, out);
	rc = deeper(p);
	if (!rc)
		rc = next(p);
	if (rc)
		return rc;
	if (!starts_term(t->kind))
		return fail_at(p, t->pos, "'%s' needs a term after it",
			       op == TOK_NOT ? "NOT" : op == TOK_MINUS ? "-"
								  : "+");
	rc = parse_unary(p, &kid);
	if (rc)
		return rc;
	p->depth--;
	if (op == TOK_PLUS || kid->kind == SN_EMPTY) {
		*out = kid;
		return 0;
	}
	n = node_new(SN_NOT, p, pos);
	if (!n || node_add(n, kid)) {
		free(n);
		search_node_free(kid);
		return -ENOMEM;
	}
	*out = n;
	return 0;
}

/* Terms joined by AND, written or implied. */
static int parse_and(struct parser *p, struct search_node **out)
{
	struct search_node *left = NULL;
	struct search_node *right;
	size_t op_pos;
	int rc;

	rc = parse_unary(p, &left);
	while (!rc && (p->tok.kind == TOK_AND || starts_term(p->tok.kind))) {
		if (p->tok.kind == TOK_AND) {
			op_pos = p->tok.pos;
			rc = next(p);
			if (!rc && !starts_term(p->tok.kind))
				rc = fail_at(p, op_pos, "'AND' needs a term "
					     "on its right");
		}
		right = NULL;
		if (!rc)
			rc = parse_unary(p, &right);
		if (!rc)
			rc = join(SN_AND, left, right, &left);
	}
	if (rc)
		search_node_free(left);
	else
		*out = left;
	return rc;
}

static int parse_or(struct parser *p, struct search_node **out)
{
	struct search_node *left = NULL;
	struct search_node *right;
	size_t op_pos;
	int rc;

	rc = parse_and(p, &left);
	while (!rc && p->tok.kind == TOK_OR) {
		op_pos = p->tok.pos;
		rc = next(p);
		if (!rc && !starts_term(p->tok.kind))
			rc = fail_at(p, op_pos, "'OR' needs a term on its "
				     "right");
		right = NULL;
		if (!rc)
			rc = parse_and(p, &right);
		if (!rc)
			rc = join(SN_OR, left, right, &left);
	}
	if (rc)
		search_node_free(left);
	else
		*out = left;
	return rc;
}

/* ---- entry ------------------------------------------------------------- */

/* Valid UTF-8 and at most SEARCH_QUERY_MAX characters. */
static int check_text(struct parser *p)
{
	size_t i = 0;
	size_t chars = 0;
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;

	while (i < p->len) {
		k = utf8proc_iterate((const utf8proc_uint8_t *)p->q + i,
				     (utf8proc_ssize_t)(p->len - i), &cp);
		if (k <= 0)
			return fail_at(p, i, "invalid UTF-8");
		i += (size_t)k;
		chars++;
	}
	if (chars > SEARCH_QUERY_MAX) {
		if (p->errsize)
			snprintf(p->err, p->errsize, "query is %zu characters "
				 "long; the limit is %d", chars,
				 SEARCH_QUERY_MAX);
		return -EINVAL;
	}
	return 0;
}

static int parse_all(struct parser *p, struct search_node **out)
{
	struct search_node *extra = NULL;
	int rc;

	rc = check_text(p);
	if (!rc)
		rc = next(p);
	if (rc)
		return rc;
	if (p->tok.kind == TOK_END) {
		if (p->errsize)
			snprintf(p->err, p->errsize, "empty query");
		return -EINVAL;
	}
	rc = parse_or(p, out);
	if (rc)
		return rc;
	if (p->tok.kind != TOK_END) {
		/* parse_primary fails naming what is there */
		rc = parse_primary(p, &extra);
		search_node_free(extra);
	} else if ((*out)->kind == SN_EMPTY) {
		rc = fail_at(p, 0, "nothing to search for: no letter or "
				   "digit outside operators");
	}
	if (rc) {
		search_node_free(*out);
		*out = NULL;
	}
	return rc;
}

int search_parse(const char *query, struct search_node **out, char *err,
		 size_t errsize)
{
	struct parser p = { 0 };
	int rc;

	*out = NULL;
	if (errsize)
		err[0] = 0;
	p.q = query;
	p.len = strlen(query);
	p.group = SEARCH_FIELD_ANY;
	p.err = err;
	p.errsize = errsize;
	buf_init(&p.tok.text, SEARCH_QUERY_MAX * 4 + 16);
	rc = parse_all(&p, out);
	buf_release(&p.tok.text);
	if (rc == -ENOMEM && errsize)
		snprintf(err, errsize, "out of memory");
	return rc;
}
