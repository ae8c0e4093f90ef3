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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
