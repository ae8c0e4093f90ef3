/*
 * test_config.c - unit tests of the TOML parser and the config schema.
 *
 * The parser is checked against every file that toml-test lists for TOML
 * 1.0.0 (tests/data/toml-test/files-toml-1.0.0): a valid document must
 * decode to exactly the value in its .json twin, which a small JSON reader
 * below loads, and an invalid one must be rejected with a
 * "FILE:LINE:COL: reason" message.  Documents are handed over in buffers
 * of their exact size, so ASan catches a read past the end.  Then come
 * targeted tests: positions, limits, the time taken by large inputs, and
 * the MusicFS schema on top (defaults, every key, warnings, errors).
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "config/config.h"
#include "log/log.h"

#include <setjmp.h>
#include <cmocka.h>
#include <locale.h>
#include <math.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------- */

/* The whole file in a buffer of exactly its size (caller frees). */
static char *read_whole(const char *path, size_t *len)
{
	struct buf b;
	char chunk[4096];
	FILE *f = fopen(path, "rb");
	size_t n;
	char *exact;

	if (!f)
		return NULL;
	buf_init(&b, 64 << 20);
	for (;;) {
		n = fread(chunk, 1, sizeof(chunk), f);
		if (!n)
			break;
		assert_int_equal(buf_add(&b, chunk, n), 0);
	}
	fclose(f);
	*len = b.len;
	exact = malloc(b.len ? b.len : 1);
	assert_non_null(exact);
	if (b.len)
		memcpy(exact, b.data, b.len);
	buf_release(&b);
	return exact;
}

static char *data_path(const char *rel)
{
	const char *dir = getenv("MFS_TEST_DATA");
	char *p;

	assert_non_null(dir);
	p = str_printf("%s/%s", dir, rel);
	assert_non_null(p);
	return p;
}

/* Parse text (a C string) that must be valid TOML. */
static struct toml_value *parse_ok(const char *text)
{
	struct toml_value *root = NULL;
	char err[256];
	int rc;

	rc = toml_parse(text, strlen(text), "t.toml", &root, err, sizeof(err));
	if (rc)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(root);
	return root;
}

/* Parse text that must be rejected; its message is left in err. */
static void parse_fails(const char *text, char *err, size_t errsize)
{
	struct toml_value *root = NULL;
	int rc;

	rc = toml_parse(text, strlen(text), "t.toml", &root, err, errsize);
	if (!rc)
		print_error("accepted: %s\n", text);
	assert_int_equal(rc, -EINVAL);
	assert_null(root);
}

/* ---- a JSON reader for the expected values --------------------------- */

enum jkind { J_OBJECT, J_ARRAY, J_STRING, J_OTHER };

struct jv {
	enum jkind kind;
	char *s;		/* J_STRING, may hold NULs */
	size_t len;
	size_t n;		/* members or items */
	char **keys;		/* J_OBJECT */
	struct jv **items;	/* J_OBJECT values, J_ARRAY items */
};

struct jp {
	const char *s;
	size_t len;
	size_t pos;
	int depth;
};

static struct jv *json_value(struct jp *p);

static void json_free(struct jv *j)
{
	size_t i;

	if (!j)
		return;
	for (i = 0; i < j->n; i++) {
		if (j->keys)
			free(j->keys[i]);
		json_free(j->items[i]);
	}
	free(j->keys);
	free(j->items);
	free(j->s);
	free(j);
}

static void json_ws(struct jp *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]))
		p->pos++;
}

static bool json_eat(struct jp *p, char c)
{
	json_ws(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static long json_hex4(struct jp *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p->pos < p->len ? p->s[p->pos++] : 'x';

		v *= 16;
		if (c >= '0' && c <= '9')
			v += c - '0';
		else if (c >= 'a' && c <= 'f')
			v += c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v += c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static void json_utf8(struct buf *b, long c)
{
	if (c < 0x80) {
		buf_addch(b, (int)c);
	} else if (c < 0x800) {
		buf_addch(b, (int)(0xc0 | (c >> 6)));
		buf_addch(b, (int)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_addch(b, (int)(0xe0 | (c >> 12)));
		buf_addch(b, (int)(0x80 | ((c >> 6) & 0x3f)));
		buf_addch(b, (int)(0x80 | (c & 0x3f)));
	} else {
		buf_addch(b, (int)(0xf0 | (c >> 18)));
		buf_addch(b, (int)(0x80 | ((c >> 12) & 0x3f)));
		buf_addch(b, (int)(0x80 | ((c >> 6) & 0x3f)));
		buf_addch(b, (int)(0x80 | (c & 0x3f)));
	}
}

/* The JSON string at the opening quote into b; false if malformed. */
static bool json_string(struct jp *p, struct buf *b)
{
	static const char from[] = "\"\\/bfnrt";
	static const char to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	long c;
	long lo;

	p->pos++;
	while (p->pos < p->len && p->s[p->pos] != '"') {
		if (p->s[p->pos] != '\\') {
			buf_addch(b, p->s[p->pos++]);
			continue;
		}
		if (++p->pos >= p->len)
			return false;
		if (p->s[p->pos] != 'u') {
			e = strchr(from, p->s[p->pos++]);
			if (!e)
				return false;
			buf_addch(b, to[e - from]);
			continue;
		}
		p->pos++;
		c = json_hex4(p);
		if (c >= 0xd800 && c < 0xdc00) {
			if (p->pos + 2 > p->len || p->s[p->pos] != '\\' ||
			    p->s[p->pos + 1] != 'u')
				return false;
			p->pos += 2;
			lo = json_hex4(p);
			if (lo < 0xdc00 || lo > 0xdfff)
				return false;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (c < 0)
			return false;
		json_utf8(b, c);
	}
	if (p->pos >= p->len)
		return false;
	p->pos++;
	return true;
}

static struct jv *json_new(enum jkind kind)
{
	struct jv *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	j->kind = kind;
	return j;
}

static void json_push(struct jv *j, char *key, struct jv *item)
{
	j->items = realloc(j->items, (j->n + 1) * sizeof(*j->items));
	assert_non_null(j->items);
	if (j->kind == J_OBJECT) {
		j->keys = realloc(j->keys, (j->n + 1) * sizeof(*j->keys));
		assert_non_null(j->keys);
		j->keys[j->n] = key;
	}
	j->items[j->n++] = item;
}

/* An object or array after its opening bracket. */
static struct jv *json_container(struct jp *p, enum jkind kind)
{
	char close = kind == J_OBJECT ? '}' : ']';
	struct jv *j = json_new(kind);
	struct jv *item;
	struct buf key;
	char *k = NULL;

	if (json_eat(p, close))
		return j;
	do {
		if (kind == J_OBJECT) {
			buf_init(&key, 1 << 20);
			json_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != '"' ||
			    !json_string(p, &key) || !json_eat(p, ':')) {
				buf_release(&key);
				goto fail;
			}
			k = buf_detach(&key, NULL);
		}
		item = json_value(p);
		if (!item) {
			free(k);
			goto fail;
		}
		json_push(j, k, item);
		k = NULL;
	} while (json_eat(p, ','));
	if (json_eat(p, close))
		return j;
fail:
	json_free(j);
	return NULL;
}

static struct jv *json_value(struct jp *p)
{
	struct jv *j;
	struct buf b;

	json_ws(p);
	if (p->pos >= p->len || p->depth > 200)
		return NULL;
	if (p->s[p->pos] == '{' || p->s[p->pos] == '[') {
		p->pos++;
		p->depth++;
		j = json_container(p, p->s[p->pos - 1] == '{' ? J_OBJECT
							      : J_ARRAY);
		p->depth--;
		return j;
	}
	if (p->s[p->pos] == '"') {
		buf_init(&b, 1 << 20);
		if (!json_string(p, &b)) {
			buf_release(&b);
			return NULL;
		}
		j = json_new(J_STRING);
		j->s = buf_detach(&b, &j->len);
		return j;
	}
	while (p->pos < p->len && !strchr(",]} \t\r\n", p->s[p->pos]))
		p->pos++;
	return json_new(J_OTHER);
}

static struct jv *json_parse(const char *s, size_t len)
{
	struct jp p = { s, len, 0, 0 };
	struct jv *j = json_value(&p);

	json_ws(&p);
	if (j && p.pos != len) {
		json_free(j);
		return NULL;
	}
	return j;
}

static const struct jv *json_member(const struct jv *j, const char *key)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		if (!strcmp(j->keys[i], key))
			return j->items[i];
	return NULL;
}

/* {"type": "...", "value": "..."}: a scalar in toml-test's encoding. */
static bool json_is_scalar(const struct jv *j)
{
	const struct jv *t;
	const struct jv *v;

	if (j->kind != J_OBJECT || j->n != 2)
		return false;
	t = json_member(j, "type");
	v = json_member(j, "value");
	return t && v && t->kind == J_STRING && v->kind == J_STRING;
}

/* ---- comparing a parsed document with its JSON ------------------------ */

static bool float_matches(double got, const char *want)
{
	const char *w = (*want == '+') ? want + 1 : want;

	if (!strcmp(w, "nan") || !strcmp(w, "-nan"))
		return isnan(got);
	if (!strcmp(w, "inf"))
		return isinf(got) && got > 0;
	if (!strcmp(w, "-inf"))
		return isinf(got) && got < 0;
	return got == strtod(want, NULL);
}

/* Canonical form of an expected date-time: 'T' and 'Z' in capitals. */
static void datetime_norm(const char *in, char *out, size_t size)
{
	size_t i;

	str_copy(out, in, size);
	for (i = 0; out[i]; i++) {
		if (i == 10 && (out[i] == ' ' || out[i] == 't'))
			out[i] = 'T';
		else if (out[i] == 'z')
			out[i] = 'Z';
	}
}

static bool scalar_matches(const struct toml_value *t, const struct jv *j,
			   char *why, size_t whysize)
{
	static const struct {
		const char *name;
		enum toml_type type;
	} types[] = {
		{ "string", TOML_STRING },
		{ "integer", TOML_INTEGER },
		{ "float", TOML_FLOAT },
		{ "bool", TOML_BOOL },
		{ "datetime", TOML_DATETIME },
		{ "datetime-local", TOML_DATETIME_LOCAL },
		{ "date-local", TOML_DATE_LOCAL },
		{ "time-local", TOML_TIME_LOCAL },
	};
	const char *type = json_member(j, "type")->s;
	const struct jv *value = json_member(j, "value");
	char norm[128];
	const char *s;
	size_t len;
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(types); i++)
		if (!strcmp(type, types[i].name))
			break;
	if (i == MFS_ARRAY_SIZE(types) || toml_type_of(t) != types[i].type) {
		snprintf(why, whysize, "type %d, want %s", toml_type_of(t),
			 type);
		return false;
	}
	switch (types[i].type) {
	case TOML_STRING:
		s = toml_string(t, &len);
		if (len == value->len && !memcmp(s, value->s, len))
			return true;
		snprintf(why, whysize, "string '%s', want '%s'", s, value->s);
		return false;
	case TOML_INTEGER:
		if (toml_int(t) == strtoll(value->s, NULL, 10))
			return true;
		snprintf(why, whysize, "integer %" PRId64 ", want %s",
			 toml_int(t), value->s);
		return false;
	case TOML_FLOAT:
		if (float_matches(toml_float(t), value->s))
			return true;
		snprintf(why, whysize, "float %.17g, want %s", toml_float(t),
			 value->s);
		return false;
	case TOML_BOOL:
		if (toml_bool(t) == !strcmp(value->s, "true"))
			return true;
		snprintf(why, whysize, "bool %d, want %s", toml_bool(t),
			 value->s);
		return false;
	default:
		datetime_norm(value->s, norm, sizeof(norm));
		if (!strcmp(toml_datetime(t), norm))
			return true;
		snprintf(why, whysize, "date-time '%s', want '%s'",
			 toml_datetime(t), norm);
		return false;
	}
}

static bool tree_matches(const struct toml_value *t, const struct jv *j,
			 char *why, size_t whysize)
{
	const struct toml_value *v;
	size_t i;

	if (json_is_scalar(j))
		return scalar_matches(t, j, why, whysize);
	if ((j->kind == J_OBJECT && toml_type_of(t) != TOML_TABLE) ||
	    (j->kind == J_ARRAY && toml_type_of(t) != TOML_ARRAY) ||
	    j->kind == J_STRING || j->kind == J_OTHER) {
		snprintf(why, whysize, "type %d, want JSON kind %d",
			 toml_type_of(t), j->kind);
		return false;
	}
	if (toml_count(t) != j->n) {
		snprintf(why, whysize, "%zu entries, want %zu", toml_count(t),
			 j->n);
		return false;
	}
	for (i = 0; i < j->n; i++) {
		v = j->kind == J_OBJECT ? toml_get(t, j->keys[i])
					: toml_at(t, i);
		if (!v) {
			snprintf(why, whysize, "missing key '%s'", j->keys[i]);
			return false;
		}
		if (!tree_matches(v, j->items[i], why, whysize))
			return false;
	}
	return true;
}

/* "NAME:LINE:COL: reason" on one line. */
static bool error_well_formed(const char *err, const char *name)
{
	size_t n = strlen(name);
	const char *p = err + n;
	int digits;
	int field;

	if (strncmp(err, name, n) || *p++ != ':')
		return false;
	for (field = 0; field < 2; field++) {
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (!digits || *p++ != ':')
			return false;
	}
	return *p == ' ' && p[1] && p[1] != ' ' && !strchr(p, '\n');
}

/* One toml-test file; returns true if the parser did the right thing. */
static bool run_toml_test(const char *dir, const char *name, bool valid)
{
	struct toml_value *root = NULL;
	struct jv *want = NULL;
	char *path = str_printf("%s/%s", dir, name);
	char *text;
	char *json;
	char err[512];
	char why[512] = "";
	size_t len;
	size_t jlen;
	bool ok;
	int rc;

	text = read_whole(path, &len);
	assert_non_null(text);
	rc = toml_parse(text, len, name, &root, err, sizeof(err));
	if (!valid) {
		ok = rc == -EINVAL && !root && error_well_formed(err, name);
		if (!ok)
			print_message("FAIL %s: rc %d, message '%s'\n", name,
				      rc, rc ? err : "");
		goto out;
	}
	memcpy(path + strlen(path) - 5, ".json", 5);
	json = read_whole(path, &jlen);
	assert_non_null(json);
	want = json_parse(json, jlen);
	free(json);
	assert_non_null(want);
	ok = !rc && tree_matches(root, want, why, sizeof(why));
	if (!ok)
		print_message("FAIL %s: %s\n", name, rc ? err : why);
out:
	json_free(want);
	toml_free(root);
	free(text);
	free(path);
	return ok;
}

static void test_toml_conformance(void **state)
{
	char *dir = data_path("toml-test");
	char *list_path = str_printf("%s/files-toml-1.0.0", dir);
	size_t len;
	char *list = read_whole(list_path, &len);
	int passed[2] = { 0, 0 };
	int total[2] = { 0, 0 };
	char *line;
	char *end;
	bool valid;

	(void)state;
	assert_non_null(list);
	list = realloc(list, len + 1);
	list[len] = '\0';
	for (line = list; *line; line = end) {
		end = line + strcspn(line, "\n");
		if (*end)
			*end++ = '\0';
		if (!str_ends_with_ci(line, ".toml"))
			continue;
		valid = !strncmp(line, "valid/", 6);
		total[valid]++;
		passed[valid] += run_toml_test(dir, line, valid);
	}
	print_message("toml-test 1.0.0: valid %d/%d passed, invalid %d/%d "
		      "passed\n", passed[1], total[1], passed[0], total[0]);
	assert_int_equal(total[1], 170);
	assert_int_equal(total[0], 399);
	assert_int_equal(passed[1], total[1]);
	assert_int_equal(passed[0], total[0]);
	free(list);
	free(list_path);
	free(dir);
}

/* ---- the parser's own contract ----------------------------------------- */

static void test_toml_positions(void **state)
{
	struct toml_value *root;
	const struct toml_value *t;
	const struct toml_value *v;

	(void)state;
	root = parse_ok("a = 1\n  [t]\n\tb.c = 'x'\n\"ü\" = [1, 2]\n");
	v = toml_get(root, "a");
	assert_int_equal(toml_line(v), 1);
	assert_int_equal(toml_col(v), 1);
	t = toml_get(root, "t");
	assert_int_equal(toml_line(t), 2);
	assert_int_equal(toml_col(t), 4);
	v = toml_get(t, "b");
	assert_int_equal(toml_line(v), 3);
	assert_int_equal(toml_col(v), 2);
	v = toml_get(v, "c");
	assert_int_equal(toml_line(v), 3);
	assert_int_equal(toml_col(v), 4);
	v = toml_get(t, "ü");
	assert_int_equal(toml_line(v), 4);
	assert_int_equal(toml_col(v), 1);
	v = toml_at(v, 1);
	assert_int_equal(toml_line(v), 4);
	assert_int_equal(toml_col(v), 11);
	assert_string_equal(toml_key_at(root, 0), "a");
	assert_string_equal(toml_key_at(root, 1), "t");
	assert_null(toml_key_at(root, 2));
	assert_null(toml_at(root, 2));
	toml_free(root);
}

static void test_toml_errors(void **state)
{
	char err[256];

	(void)state;
	/* columns count characters, not bytes */
	parse_fails("k = \"ü\" junk\n", err, sizeof(err));
	assert_string_equal(err, "t.toml:1:9: expected the end of the line, "
			    "found 'j'");
	parse_fails("a = 1\na = 2\n", err, sizeof(err));
	assert_string_equal(err, "t.toml:2:1: duplicate key 'a'");
	parse_fails("[x.y]\n[x]\n[x.y]\n", err, sizeof(err));
	assert_string_equal(err, "t.toml:3:4: table 'x.y' is already "
			    "defined");
	parse_fails("s = \"bad \\q\"\n", err, sizeof(err));
	assert_string_equal(err, "t.toml:1:10: invalid escape sequence: '\\' "
			    "followed by 'q'");
	parse_fails("n = 9223372036854775808\n", err, sizeof(err));
	assert_string_equal(err, "t.toml:1:5: number out of range "
			    "'9223372036854775808'");
	parse_fails("\n\nx = \"\x01\"", err, sizeof(err));
	assert_string_equal(err, "t.toml:3:6: control character U+0001 is "
			    "not allowed (write it as an escape in a string)");
	parse_fails("x = 1\r", err, sizeof(err));
	parse_fails("x = \"\xc3\"", err, sizeof(err));
	assert_string_equal(err, "t.toml:1:6: invalid UTF-8 (byte 0xc3)");
	/* a NULL file name and a NULL or tiny error buffer are fine */
	assert_int_equal(toml_parse("=", 1, NULL, &(struct toml_value *){ 0 },
				    err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "<input>:1:1: expected a key, found '='");
	assert_int_equal(toml_parse("=", 1, NULL, &(struct toml_value *){ 0 },
				    NULL, 0), -EINVAL);
	assert_int_equal(toml_parse("=", 1, NULL, &(struct toml_value *){ 0 },
				    err, 4), -EINVAL);
	assert_string_equal(err, "<in");
}

static void test_toml_scalars(void **state)
{
	struct toml_value *root;
	const char *s;
	size_t len;

	(void)state;
	root = parse_ok("z = -0.0\nmin = -9223372036854775808\n"
			"max = 0x7fffffffffffffff\nnul = \"a\\u0000b\"\n"
			"ml = \"\"\"\r\nx\r\ny\\\r\n   z\"\"\"\n"
			"dt = 1979-05-27 07:32:00.5z\nbig = 1e308\n"
			"tiny = 1e-400\n");
	assert_true(signbit(toml_float(toml_get(root, "z"))));
	assert_true(toml_float(toml_get(root, "z")) == 0.0);
	assert_true(toml_int(toml_get(root, "min")) == INT64_MIN);
	assert_true(toml_int(toml_get(root, "max")) == INT64_MAX);
	s = toml_string(toml_get(root, "nul"), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "a\0b", 3);
	assert_string_equal(toml_string(toml_get(root, "ml"), NULL), "x\nyz");
	assert_string_equal(toml_datetime(toml_get(root, "dt")),
			    "1979-05-27T07:32:00.5Z");
	assert_true(toml_float(toml_get(root, "tiny")) == 0.0);
	/* accessors of the wrong type give neutral values */
	assert_null(toml_string(toml_get(root, "z"), &len));
	assert_null(toml_datetime(toml_get(root, "nul")));
	assert_int_equal(toml_int(toml_get(root, "nul")), 0);
	assert_false(toml_bool(toml_get(root, "nul")));
	assert_int_equal(toml_count(toml_get(root, "nul")), 0);
	assert_null(toml_get(toml_get(root, "nul"), "x"));
	assert_null(toml_get(root, "missing"));
	toml_free(root);
	toml_free(NULL);
}

/* head, then n copies of body with each '@' replaced by the index, tail. */
static char *repeat(const char *head, const char *body, const char *tail,
		    int n)
{
	struct buf b;
	const char *c;
	int i;

	buf_init(&b, SIZE_MAX);
	buf_adds(&b, head);
	for (i = 0; i < n; i++) {
		for (c = body; *c; c++) {
			if (*c == '@')
				assert_int_equal(buf_addf(&b, "%d", i), 0);
			else
				assert_int_equal(buf_addch(&b, *c), 0);
		}
	}
	buf_adds(&b, tail);
	return buf_detach(&b, NULL);
}

static void test_toml_depth_limit(void **state)
{
	char err[256];
	struct toml_value *root;
	char *doc;

	(void)state;
	doc = repeat("a = ", "[", "", TOML_MAX_DEPTH);
	doc = realloc(doc, strlen(doc) + TOML_MAX_DEPTH + 1);
	memset(doc + strlen(doc), ']', TOML_MAX_DEPTH);
	doc[4 + 2 * TOML_MAX_DEPTH] = '\0';
	root = parse_ok(doc);
	toml_free(root);
	free(doc);
	doc = repeat("a = ", "[", "", TOML_MAX_DEPTH + 1);
	parse_fails(doc, err, sizeof(err));
	assert_string_equal(err, "t.toml:1:133: nesting deeper than 128 "
			    "levels");
	free(doc);
	doc = repeat("a = ", "{b=", "", 100000);
	parse_fails(doc, err, sizeof(err));
	free(doc);
	doc = repeat("", "k.", "k = 1", 200);
	parse_fails(doc, err, sizeof(err));
	free(doc);
	doc = repeat("[", "k.", "k]", 127);
	root = parse_ok(doc);
	toml_free(root);
	free(doc);
	doc = repeat("[[", "k.", "k]]\nx.y = {z = [1]}", 127);
	parse_fails(doc, err, sizeof(err));
	free(doc);
}

static double seconds_since(struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Large documents must parse in linear time (a quadratic parser takes
 * minutes here). */
static void test_toml_large_inputs(void **state)
{
	static const char *const docs[][3] = {
		{ "", "k@ = 1\n", "" },
		{ "t = {", "k@ = 1, ", "x = 1}\n" },
		{ "", "[[a]]\nk = @\n", "" },
		{ "", "[t@]\n", "" },
		{ "a = [", "@,", "]\n" },
		{ "", "\"a\\u00e9@\" = '''x'''\n", "" },
	};
	struct timespec t0;
	struct toml_value *root;
	size_t i;
	char *doc;

	(void)state;
	for (i = 0; i < MFS_ARRAY_SIZE(docs); i++) {
		doc = repeat(docs[i][0], docs[i][1], docs[i][2], 200000);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		root = parse_ok(doc);
		assert_true(seconds_since(&t0) < 10.0);
		toml_free(root);
		free(doc);
	}
}

/* Floats are read in the C locale, whatever the process set. */
static void test_toml_locale(void **state)
{
	static const char *const locales[] = { "de_DE.UTF-8", "fr_FR.UTF-8",
					       "C.UTF-8" };
	struct toml_value *root;
	size_t i;

	(void)state;
	for (i = 0; i < MFS_ARRAY_SIZE(locales); i++)
		if (setlocale(LC_NUMERIC, locales[i]))
			break;
	root = parse_ok("f = 1.5\n");
	assert_true(toml_float(toml_get(root, "f")) == 1.5);
	toml_free(root);
	setlocale(LC_NUMERIC, "C");
}

/* ---- the schema ---------------------------------------------------------- */

struct capture {
	int saved;
	FILE *f;
};

/* Send stderr (where the log goes) to a temporary file. */
static void capture_start(struct capture *c)
{
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

/* Restore stderr; returns what was logged meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
	char chunk[1024];
	struct buf b;
	size_t n;

	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	rewind(c->f);
	buf_init(&b, 1 << 20);
	for (;;) {
		n = fread(chunk, 1, sizeof(chunk), c->f);
		if (!n)
			break;
		assert_int_equal(buf_add(&b, chunk, n), 0);
	}
	fclose(c->f);
	return buf_detach(&b, NULL);
}

/* Load text as "t.toml" into cfg; what was logged goes to *log. */
static int load_text(struct config *cfg, const char *text, char *err,
		     size_t errsize, char **log)
{
	struct capture c;
	int rc;

	capture_start(&c);
	rc = config_load_text(cfg, text, strlen(text), "t.toml", err, errsize);
	*log = capture_end(&c);
	return rc;
}

static void assert_zeroed(const struct config *cfg)
{
	struct config zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(cfg, &zero, sizeof(zero));
}

char *config_default_cache_dir(uid_t euid);

/* config_default_cache_dir(euid), kept until the next call. */
static const char *check_cache_dir(uid_t euid)
{
	static char *last;

	free(last);
	last = config_default_cache_dir(euid);
	return last ? last : "(null)";
}

static void test_config_defaults(void **state)
{
	char *home = str_dup(getenv("HOME"));
	struct passwd *pw;
	struct config cfg;
	char *want;
	size_t i;

	(void)state;
	setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
	config_init(&cfg);
	assert_null(cfg.mount_point);
	assert_string_equal(cfg.cache_dir, geteuid() == 0
					   ? "/var/cache/musicfs"
					   : "/tmp/xdg/musicfs");
	assert_string_equal(cfg.path_template, "$albumartist/$album ($year) "
			    "[$format_upper]/$track - $title.$format");
	assert_false(cfg.tag_xattrs);
	assert_int_equal(cfg.grpc_port, 50052);
	assert_string_equal(cfg.grpc_address, "127.0.0.1");
	assert_false(cfg.grpc_allow_remote);
	assert_int_equal(cfg.metrics_port, 50053);
	assert_null(cfg.origins);
	assert_int_equal(cfg.n_origins, 0);
	assert_int_equal(cfg.cache.metadata_cache_mb, 100);
	assert_int_equal(cfg.cache.content_cache_gb, 10);
	assert_false(cfg.cache.cache_local_origins);
	assert_int_equal(cfg.health.check_interval_secs, 30);
	assert_int_equal(cfg.health.timeout_ms, 5000);
	assert_int_equal(cfg.health.unhealthy_threshold, 3);
	for (i = 0; i < CONFIG_ORIGIN_TYPE_COUNT; i++)
		assert_int_equal(cfg.health.per_origin_thresholds[i], -1);
	assert_null(cfg.logging.log_dir);
	assert_false(cfg.logging.json_output);
	assert_true(cfg.logging.journald);
	assert_string_equal(cfg.logging.level, "info");
	assert_true(cfg.logging.trace_sample_rate == 1.0);
	config_release(&cfg);
	assert_zeroed(&cfg);

	/* the rules for other users (tests often run as root) */
	assert_string_equal(check_cache_dir(0), "/var/cache/musicfs");
	assert_string_equal(check_cache_dir(1000), "/tmp/xdg/musicfs");
	setenv("HOME", "/home/u", 1);
	setenv("XDG_CACHE_HOME", "relative", 1);
	assert_string_equal(check_cache_dir(1000), "/home/u/.cache/musicfs");
	unsetenv("XDG_CACHE_HOME");
	assert_string_equal(check_cache_dir(1000), "/home/u/.cache/musicfs");
	/* no $HOME: the password database */
	unsetenv("HOME");
	assert_string_equal(check_cache_dir(0), "/var/cache/musicfs");
	pw = getpwuid(1);
	if (pw && pw->pw_dir[0]) {
		want = str_printf("%s/.cache/musicfs", pw->pw_dir);
		assert_string_equal(check_cache_dir(1), want);
		free(want);
	}
	if (home)
		setenv("HOME", home, 1);
	free(home);
}

static const char every_key[] =
	"mount_point = \"/mnt/m\"\n"
	"cache_dir = \"/c\"\n"
	"path_template = \"$artist/$title.$format\"\n"
	"tag_xattrs = true\n"
	"grpc_port = 6000\n"
	"[[origins]]\n"
	"id = \"nas\"\n"
	"origin_type = \"nfs\"\n"
	"priority = 5\n"
	"enabled = false\n"
	"path = \"/mnt/nas\"\n"
	"host = \"nas.local\"\n"
	"port = 2049\n"
	"user = \"u1\"\n"
	"export = \"/vol\"\n"
	"[[origins]]\n"
	"id = \"s3\"\n"
	"origin_type = \"s3\"\n"
	"username = \"u2\"\n"
	"bucket = \"b\"\n"
	"region = \"r\"\n"
	"endpoint = \"https://e\"\n"
	"[[origins]]\n"
	"id = \"smb\"\n"
	"origin_type = \"smb\"\n"
	"path = \"/mnt/smb\"\n"
	"share = \"music\"\n";

static void test_config_every_key(void **state)
{
	static const char *const tail =
		"[cache]\n"
		"metadata_cache_mb = 7\n"
		"content_cache_gb = 0\n"
		"cache_local_origins = true\n"
		"[health]\n"
		"check_interval_secs = 9\n"
		"timeout_ms = 99\n"
		"unhealthy_threshold = 4\n"
		"per_origin_thresholds = { local = 1, nfs = 2, smb = 3, "
		"s3 = 4, sftp = 5 }\n"
		"[logging]\n"
		"log_dir = \"/l\"\n"
		"json_output = true\n"
		"journald = false\n"
		"level = \" scan=debug, WARN,musicfs=trace \"\n"
		"trace_sample_rate = 0.25\n"
		"[plugins]\n"
		"whatever = [1, \"two\"]\n";
	const struct config_origin *o;
	struct config cfg;
	char *text;
	char err[256];
	char *log;
	int i;

	(void)state;
	text = str_printf("%s%s", every_key, tail);
	config_init(&cfg);
	if (load_text(&cfg, text, err, sizeof(err), &log))
		fail_msg("%s", err);
	assert_string_equal(log, "");
	assert_string_equal(cfg.mount_point, "/mnt/m");
	assert_string_equal(cfg.cache_dir, "/c");
	assert_string_equal(cfg.path_template, "$artist/$title.$format");
	assert_true(cfg.tag_xattrs);
	assert_int_equal(cfg.grpc_port, 6000);
	assert_int_equal(cfg.n_origins, 3);
	o = &cfg.origins[0];
	assert_string_equal(o->id, "nas");
	assert_int_equal(o->type, CONFIG_ORIGIN_NFS);
	assert_int_equal(o->priority, 5);
	assert_false(o->enabled);
	assert_string_equal(o->path, "/mnt/nas");
	assert_string_equal(o->host, "nas.local");
	assert_int_equal(o->port, 2049);
	assert_string_equal(o->user, "u1");
	assert_string_equal(o->export_path, "/vol");
	o = &cfg.origins[1];
	assert_string_equal(o->id, "s3");
	assert_int_equal(o->type, CONFIG_ORIGIN_S3);
	assert_int_equal(o->priority, 1);
	assert_true(o->enabled);
	assert_null(o->path);
	assert_int_equal(o->port, 0);
	assert_string_equal(o->user, "u2");
	assert_string_equal(o->bucket, "b");
	assert_string_equal(o->region, "r");
	assert_string_equal(o->endpoint, "https://e");
	o = &cfg.origins[2];
	assert_int_equal(o->type, CONFIG_ORIGIN_SMB);
	assert_string_equal(o->share, "music");
	assert_int_equal(cfg.cache.metadata_cache_mb, 7);
	assert_int_equal(cfg.cache.content_cache_gb, 0);
	assert_true(cfg.cache.cache_local_origins);
	assert_int_equal(cfg.health.check_interval_secs, 9);
	assert_int_equal(cfg.health.timeout_ms, 99);
	assert_int_equal(cfg.health.unhealthy_threshold, 4);
	for (i = 0; i < CONFIG_ORIGIN_TYPE_COUNT; i++)
		assert_int_equal(cfg.health.per_origin_thresholds[i], i + 1);
	assert_string_equal(cfg.logging.log_dir, "/l");
	assert_true(cfg.logging.json_output);
	assert_false(cfg.logging.journald);
	assert_string_equal(cfg.logging.level,
			    " scan=debug, WARN,musicfs=trace ");
	assert_true(cfg.logging.trace_sample_rate == 0.25);
	free(log);
	/* an integer rate is fine too */
	assert_int_equal(load_text(&cfg, "logging.trace_sample_rate = 0\n",
				   err, sizeof(err), &log), 0);
	assert_true(cfg.logging.trace_sample_rate == 0.0);
	free(log);
	config_release(&cfg);
	assert_zeroed(&cfg);
	free(text);
}

static void test_config_unknown_keys(void **state)
{
	struct config cfg;
	char err[256];
	char *log;

	(void)state;
	config_init(&cfg);
	assert_int_equal(load_text(&cfg,
				   "mount_point = \"/m\"\n"
				   "bogus = 1\n"
				   "\"ctl\\n\" = 1\n"
				   "[cache]\n"
				   "nope = true\n"
				   "[plugins]\n"
				   "anything = { x = 1 }\n"
				   "[[origins]]\n"
				   "id = \"a\"\n"
				   "origin_type = \"local\"\n"
				   "path = \"/a\"\n"
				   "colour = \"red\"\n"
				   "[new]\n"
				   "x = 1\n",
				   err, sizeof(err), &log), 0);
	assert_non_null(strstr(log, "config: t.toml:2: unknown key 'bogus'\n"));
	assert_non_null(strstr(log, "config: t.toml:3: unknown key 'ctl?'\n"));
	assert_non_null(strstr(log, "config: t.toml:5: unknown key "
				    "'cache.nope'\n"));
	assert_non_null(strstr(log, "config: t.toml:12: unknown key "
				    "'origins.colour'\n"));
	assert_non_null(strstr(log, "config: t.toml:13: unknown key 'new'\n"));
	assert_null(strstr(log, "plugins"));
	assert_non_null(strstr(log, " WARN "));
	assert_string_equal(cfg.mount_point, "/m");
	assert_int_equal(cfg.n_origins, 1);
	free(log);
	config_release(&cfg);
}

static void test_config_bad_values(void **state)
{
	static const char *const cases[][2] = {
		{ "[cache]\ncontent_cache_gb = \"ten\"\n",
		  "t.toml:2:1: key 'cache.content_cache_gb' must be an "
		  "integer" },
		{ "[cache]\n  metadata_cache_mb = -1\n",
		  "t.toml:2:3: key 'cache.metadata_cache_mb' must be between 0 "
		  "and 8796093022207" },
		{ "cache.content_cache_gb = 1.5\n",
		  "t.toml:1:7: key 'cache.content_cache_gb' must be an "
		  "integer" },
		{ "grpc_port = 70000\n",
		  "t.toml:1:1: key 'grpc_port' must be between 0 and 65535" },
		{ "tag_xattrs = 1\n",
		  "t.toml:1:1: key 'tag_xattrs' must be true or false" },
		{ "mount_point = 1\n",
		  "t.toml:1:1: key 'mount_point' must be a string" },
		{ "mount_point = \"a\\u0000b\"\n",
		  "t.toml:1:1: key 'mount_point' must not contain NUL" },
		{ "cache = 1\n", "t.toml:1:1: key 'cache' must be a table" },
		{ "[logging]\ntrace_sample_rate = 1.5\n",
		  "t.toml:2:1: key 'logging.trace_sample_rate' must be between "
		  "0.0 and 1.0" },
		{ "[logging]\ntrace_sample_rate = nan\n",
		  "t.toml:2:1: key 'logging.trace_sample_rate' must be between "
		  "0.0 and 1.0" },
		{ "[logging]\ntrace_sample_rate = 'x'\n",
		  "t.toml:2:1: key 'logging.trace_sample_rate' must be a "
		  "number" },
		{ "[logging]\nlevel = \"loud\"\n",
		  "t.toml:2:1: key 'logging.level' must be a log level or "
		  "filter such as \"info\" or \"scan=debug,warn\" (levels: "
		  "error, warn, info, debug, trace)" },
		{ "[logging]\nlevel = \"nosuch=debug\"\n",
		  "t.toml:2:1: key 'logging.level' must be a log level or "
		  "filter such as \"info\" or \"scan=debug,warn\" (levels: "
		  "error, warn, info, debug, trace)" },
		{ "[health.per_origin_thresholds]\nnfs = 0\n",
		  "t.toml:2:1: key 'health.per_origin_thresholds.nfs' must be "
		  "between 1 and 2147483647" },
		{ "[health]\ncheck_interval_secs = 0\n",
		  "t.toml:2:1: key 'health.check_interval_secs' must be "
		  "between 1 and 86400" },
		{ "[[origins]]\nid = \"x\"\norigin_type = \"ftp\"\n",
		  "t.toml:3:1: key 'origins.origin_type' must be one of local, "
		  "nfs, smb, s3, sftp" },
		{ "[[origins]]\nid = \"x\"\norigin_type = \"s3\"\nport = 0\n",
		  "t.toml:4:1: key 'origins.port' must be between 1 and "
		  "65535" },
		{ "[[origins]]\nid = \"x\"\norigin_type = \"s3\"\n"
		  "priority = -1\n",
		  "t.toml:4:1: key 'origins.priority' must be between 0 and "
		  "2147483647" },
		{ "origins = 5\n",
		  "t.toml:1:1: key 'origins' must be an array of tables "
		  "([[origins]])" },
		{ "origins = [1]\n",
		  "t.toml:1:12: origins[0] must be a table" },
		{ "x = \n", "t.toml:1:5: expected a value, found end of line" },
	};
	struct config cfg;
	char err[256];
	char *log;
	size_t i;

	(void)state;
	config_init(&cfg);
	assert_int_equal(load_text(&cfg, "grpc_port = 7\n[[origins]]\n"
				   "id = \"keep\"\norigin_type = \"s3\"\n",
				   err, sizeof(err), &log), 0);
	free(log);
	for (i = 0; i < MFS_ARRAY_SIZE(cases); i++) {
		assert_int_equal(load_text(&cfg, cases[i][0], err,
					   sizeof(err), &log), -EINVAL);
		assert_string_equal(err, cases[i][1]);
		free(log);
	}
	/* a failed load changed nothing */
	assert_int_equal(cfg.grpc_port, 7);
	assert_int_equal(cfg.n_origins, 1);
	assert_string_equal(cfg.origins[0].id, "keep");
	assert_int_equal(cfg.health.per_origin_thresholds[1], -1);
	assert_string_equal(cfg.logging.level, "info");
	config_release(&cfg);
}

static void test_config_origin_required_keys(void **state)
{
	static const char *const cases[][2] = {
		{ "[[origins]]\norigin_type = \"local\"\npath = \"/x\"\n",
		  "t.toml:1:3: origin #1 has no 'id'" },
		{ "[[origins]]\nid = \"a\"\norigin_type = \"s3\"\n"
		  "[[origins]]\nid = \"\"\norigin_type = \"s3\"\n",
		  "t.toml:4:3: origin #2 has no 'id'" },
		{ "[[origins]]\nid = \"nas\"\npath = \"/x\"\n",
		  "t.toml:1:3: origin 'nas' has no 'origin_type'" },
		{ "[[origins]]\nid = \"nas\"\norigin_type = \"nfs\"\n",
		  "t.toml:1:3: origin 'nas' (nfs) has no 'path'" },
		{ "origins = [{ id = \"l\", origin_type = \"local\" }]\n",
		  "t.toml:1:12: origin 'l' (local) has no 'path'" },
		{ "[[origins]]\nid = \"w\"\norigin_type = \"smb\"\n"
		  "path = \"\"\n",
		  "t.toml:1:3: origin 'w' (smb) has no 'path'" },
	};
	struct config cfg;
	char err[256];
	char *log;
	size_t i;

	(void)state;
	config_init(&cfg);
	for (i = 0; i < MFS_ARRAY_SIZE(cases); i++) {
		assert_int_equal(load_text(&cfg, cases[i][0], err,
					   sizeof(err), &log), -EINVAL);
		assert_string_equal(err, cases[i][1]);
		free(log);
	}
	assert_int_equal(cfg.n_origins, 0);
	config_release(&cfg);
}

static void test_config_collections(void **state)
{
	static const char *const bad[][2] = {
		{ "[[collections]]\nquery = \"x\"\n",
		  "t.toml:1:3: collection #1 has no 'name'" },
		{ "[[collections]]\nname = \"Jazz\"\n",
		  "t.toml:1:3: collection 'Jazz' has no 'query'" },
		{ "[[collections]]\nname = \"a/b\"\nquery = \"x\"\n",
		  "t.toml:1:3: collection name 'a/b' is not a folder name (no "
		  "'/', no leading '.', at most 255 bytes)" },
		{ "[[collections]]\nname = \".x\"\nquery = \"x\"\n",
		  "t.toml:1:3: collection name '.x' is not a folder name (no "
		  "'/', no leading '.', at most 255 bytes)" },
		{ "[[collections]]\nname = \"J\"\nquery = \"a\"\n"
		  "[[collections]]\nname = \"J\"\nquery = \"b\"\n",
		  "t.toml:4:3: collection 'J' is defined twice" },
		{ "[[collections]]\nname = 5\n",
		  "t.toml:2:1: key 'collections.name' must be a string" },
		{ "collections = 1\n",
		  "t.toml:1:1: key 'collections' must be an array of tables "
		  "([[collections]])" },
		{ "collections = [\"x\"]\n",
		  "t.toml:1:16: collections[0] must be a table" },
	};
	static const char good[] =
		"[[collections]]\n"
		"name = \"Jazz Classics\"\n"
		"query = \"genre:jazz AND year:[1950 TO 1969]\"\n"
		"\n"
		"[[collections]]\n"
		"name = \"Motörhead\"\n"
		"query = \"motorhead\"\n"
		"color = \"red\"\n";
	struct config cfg;
	char err[256];
	char *log;
	size_t i;

	(void)state;
	config_init(&cfg);
	assert_null(cfg.collections);
	assert_int_equal(cfg.n_collections, 0);
	assert_int_equal(load_text(&cfg, good, err, sizeof(err), &log), 0);
	assert_non_null(strstr(log, "t.toml:8: unknown key "
				    "'collections.color'"));
	free(log);
	assert_int_equal(cfg.n_collections, 2);
	assert_string_equal(cfg.collections[0].name, "Jazz Classics");
	assert_string_equal(cfg.collections[0].query,
			    "genre:jazz AND year:[1950 TO 1969]");
	assert_int_equal(cfg.collections[0].line, 1);
	assert_string_equal(cfg.collections[1].name, "Motörhead");
	assert_int_equal(cfg.collections[1].line, 5);
	/* a failed load keeps them; a later file's list replaces them */
	for (i = 0; i < MFS_ARRAY_SIZE(bad); i++) {
		assert_int_equal(load_text(&cfg, bad[i][0], err, sizeof(err),
					   &log), -EINVAL);
		assert_string_equal(err, bad[i][1]);
		free(log);
	}
	assert_int_equal(cfg.n_collections, 2);
	assert_int_equal(load_text(&cfg, "grpc_port = 1\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(cfg.n_collections, 2);
	assert_int_equal(load_text(&cfg, "collections = [{ name = \"N\", "
				   "query = \"q\" }]\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(cfg.n_collections, 1);
	assert_string_equal(cfg.collections[0].name, "N");
	assert_int_equal(load_text(&cfg, "collections = []\n", err,
				   sizeof(err), &log), 0);
	free(log);
	assert_int_equal(cfg.n_collections, 0);
	/* each load works on a deep copy (ASan sees a shallow one) */
	assert_int_equal(load_text(&cfg, good, err, sizeof(err), &log), 0);
	free(log);
	assert_int_equal(load_text(&cfg, "grpc_port = 2\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(cfg.n_collections, 2);
	assert_string_equal(cfg.collections[1].query, "motorhead");
	config_release(&cfg);
	assert_zeroed(&cfg);
}

static void test_config_validate(void **state)
{
	struct config cfg;
	char err[256];
	char *log;

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no mount point given (set mount_point in "
			    "the config or pass one)");
	assert_int_equal(load_text(&cfg, "mount_point = '/m'\n"
				   "cache_dir = '/c'\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no enabled origin (add an [[origins]] table "
			    "or pass --origin DIR)");
	assert_int_equal(load_text(&cfg, "[[origins]]\nid = 'a'\n"
				   "origin_type = 'local'\npath = '/a'\n"
				   "enabled = false\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no enabled origin (add an [[origins]] table "
			    "or pass --origin DIR)");
	assert_int_equal(load_text(&cfg, "[[origins]]\nid = 'a'\n"
				   "origin_type = 'local'\npath = '/a'\n"
				   "[[origins]]\nid = 'b'\n"
				   "origin_type = 's3'\n"
				   "[[origins]]\nid = 'a'\n"
				   "origin_type = 'sftp'\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "duplicate origin id 'a'");
	free(cfg.origins[2].id);
	cfg.origins[2].id = str_dup("c");
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
	free(cfg.cache_dir);
	cfg.cache_dir = NULL;
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no cache directory (set cache_dir in the "
			    "config)");
	config_release(&cfg);
}

static void test_config_local_origins(void **state)
{
	struct config cfg;
	char err[256];
	char *log;

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_add_local_origin(&cfg, "/a"), 0);
	assert_int_equal(config_add_local_origin(&cfg, "/b"), 0);
	assert_string_equal(cfg.origins[0].id, "local");
	assert_string_equal(cfg.origins[1].id, "local-2");
	assert_string_equal(cfg.origins[1].path, "/b");
	assert_int_equal(cfg.origins[1].type, CONFIG_ORIGIN_LOCAL);
	assert_int_equal(cfg.origins[1].priority, 1);
	assert_true(cfg.origins[1].enabled);
	/* a file's origins replace these; new ids skip the file's */
	assert_int_equal(load_text(&cfg, "[[origins]]\nid = 'local-2'\n"
				   "origin_type = 's3'\n", err, sizeof(err),
				   &log), 0);
	free(log);
	assert_int_equal(cfg.n_origins, 1);
	assert_int_equal(config_add_local_origin(&cfg, "/c"), 0);
	assert_int_equal(config_add_local_origin(&cfg, "/d"), 0);
	assert_int_equal(cfg.n_origins, 3);
	assert_string_equal(cfg.origins[1].id, "local");
	assert_string_equal(cfg.origins[2].id, "local-3");
	assert_string_equal(cfg.origins[2].path, "/d");
	assert_string_equal(config_origin_type_name(CONFIG_ORIGIN_LOCAL),
			    "local");
	assert_string_equal(config_origin_type_name(CONFIG_ORIGIN_SFTP),
			    "sftp");
	assert_string_equal(config_origin_type_name(CONFIG_ORIGIN_TYPE_COUNT),
			    "unknown");
	config_release(&cfg);
	assert_zeroed(&cfg);
}

static void test_config_load_file(void **state)
{
	char path[] = "/tmp/test_config_XXXXXX";
	struct capture c;
	struct config cfg;
	char err[512];
	char *log;
	char *big;
	FILE *f;
	int fd;

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, "/nonexistent/musicfs.toml",
					  err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot read config "
			    "'/nonexistent/musicfs.toml': No such file or "
			    "directory");
	assert_int_equal(config_load_file(&cfg, "/", err, sizeof(err)),
			 -EISDIR);
	assert_string_equal(err, "cannot read config '/': Is a directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("grpc_port = 1234\nmystery = 1\n", f);
	fclose(f);
	capture_start(&c);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
	log = capture_end(&c);
	assert_int_equal(cfg.grpc_port, 1234);
	big = str_printf("%s:2: unknown key 'mystery'\n", path);
	assert_non_null(strstr(log, big));
	free(big);
	free(log);

	/* a file past the cap is refused */
	f = fopen(path, "w");
	assert_non_null(f);
	big = calloc(1, (1 << 20) + 2);
	memset(big, '\n', (1 << 20) + 1);
	fputs(big, f);
	fclose(f);
	free(big);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)),
			 -EFBIG);
	assert_non_null(strstr(err, "larger than 1 MiB"));
	unlink(path);
	config_release(&cfg);
}

/* The example at the root of the tree loads, validates and warns of
 * nothing: it documents every key. */
static void test_config_example(void **state)
{
	char *path = data_path("../../config.example.toml");
	struct capture c;
	struct config cfg;
	char err[512];
	char *log;
	int rc;

	(void)state;
	config_init(&cfg);
	capture_start(&c);
	rc = config_load_file(&cfg, path, err, sizeof(err));
	log = capture_end(&c);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(log, "");
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.mount_point, "/mnt/music");
	assert_int_equal(cfg.n_origins, 5);
	assert_int_equal(cfg.n_collections, 1);
	assert_int_equal(cfg.health.per_origin_thresholds[CONFIG_ORIGIN_NFS],
			 5);
	assert_string_equal(cfg.path_template, "$albumartist/$album ($year) "
			    "[$format_upper]/$track - $title.$format");
	config_release(&cfg);
	free(log);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_toml_conformance),
		cmocka_unit_test(test_toml_positions),
		cmocka_unit_test(test_toml_errors),
		cmocka_unit_test(test_toml_scalars),
		cmocka_unit_test(test_toml_depth_limit),
		cmocka_unit_test(test_toml_large_inputs),
		cmocka_unit_test(test_toml_locale),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_every_key),
		cmocka_unit_test(test_config_unknown_keys),
		cmocka_unit_test(test_config_bad_values),
		cmocka_unit_test(test_config_origin_required_keys),
		cmocka_unit_test(test_config_collections),
		cmocka_unit_test(test_config_validate),
		cmocka_unit_test(test_config_local_origins),
		cmocka_unit_test(test_config_load_file),
		cmocka_unit_test(test_config_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
