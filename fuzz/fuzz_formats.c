/*
 * fuzz_formats.c - libFuzzer target over formats_parse().
 *
 * The input is a whole file behind a memory source.  Each input is parsed
 * twice: with the normal header window, and with a 512-byte window and a
 * 256-byte ID3v2 whole-read limit, so that small inputs also reach the
 * paths that read past the window and stream ID3v2 frames.  The name hint
 * (which only matters where frame syncs are searched) depends on the input
 * size.  Beyond what ASan/UBSan catch, the API's promises are checked and
 * a broken one aborts: an allowed return code, valid UTF-8 everywhere, the
 * audio range and the picture inside the file, a zeroed meta on failure.
 * Each parse is repeated with FORMATS_PARSE_LAZY_PICTURES: the same
 * result but for a picture located instead of decoded, and when
 * formats_picture_load decodes that one, it is the picture of the plain
 * parse, byte for byte (a damaged text can make the lazy parse keep a
 * picture the plain one dropped, whose load then fails).
 *
 *   CC=clang meson setup build-fuzz -Dfuzzers=true \
 *       -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C build-fuzz fuzz/fuzz_formats
 *   build-fuzz/fuzz/fuzz_formats -jobs=1 corpus-dir tests/data/corpus/...
 */
#include "common/mfs.h"
#include "formats/formats.h"
#include "formats/formats_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_formats: broken promise: %s\n", what);
		abort();
	}
}

static void check_utf8(const char *s)
{
	char *copy;

	if (!s)
		return;
	copy = formats_text_dup(FORMATS_ENC_UTF8, (const uint8_t *)s,
				strlen(s));
	check(copy && !strcmp(copy, s), "invalid UTF-8 in a value");
	free(copy);
}

static void check_meta(const struct formats_meta *m, uint64_t size)
{
	const struct formats_tags *t = &m->tags;
	size_t i;

	check_utf8(t->title);
	check_utf8(t->artist);
	check_utf8(t->album);
	check_utf8(t->album_artist);
	check_utf8(t->genre);
	check_utf8(t->composer);
	check_utf8(t->date);
	check_utf8(t->comment);
	check(t->n_extra <= FORMATS_MAX_EXTRA, "too many extras");
	for (i = 0; i < t->n_extra; i++) {
		check_utf8(t->extra[i].key);
		check_utf8(t->extra[i].value);
	}
	check(m->audio_start <= m->audio_end, "audio_start > audio_end");
	check(m->audio_end <= size, "audio_end past the end");
	check(m->duration >= 0, "negative duration");
	check(memchr(m->picture.mime, 0, sizeof(m->picture.mime)) != NULL,
	      "mime not terminated");
	if (m->picture.present && !m->picture.data)
		check(m->picture.offset <= size &&
			      m->picture.length <= size - m->picture.offset,
		      "picture outside the file");
	check(!m->picture.data || m->picture.present, "stray picture data");
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* What a lazy parse promises, next to the plain parse of the same file. */
static void check_lazy(const struct formats_source *src,
		       const struct formats_meta *m,
		       const struct formats_meta *lazy)
{
	const struct formats_picture *p = &m->picture, *l = &lazy->picture;
	uint8_t *data = NULL;
	size_t len;
	int rc;

	check(lazy->kind == m->kind && lazy->audio_start == m->audio_start &&
		      lazy->audio_end == m->audio_end &&
		      same_str(lazy->tags.title, m->tags.title) &&
		      same_str(lazy->tags.comment, m->tags.comment) &&
		      lazy->tags.n_extra == m->tags.n_extra,
	      "a lazy parse read other tags or layout");
	if (!l->present) {
		check(!p->present, "a lazy parse lost the picture");
		return;
	}
	if (l->store != FORMATS_PIC_OGG_BASE64 || l->data) {
		check(p->present && l->type == p->type &&
			      !strcmp(l->mime, p->mime) &&
			      l->offset == p->offset &&
			      l->length == p->length &&
			      l->data_len == p->data_len &&
			      !l->data == !p->data &&
			      (!l->data ||
			       !memcmp(l->data, p->data, l->data_len)),
		      "pictures differ");
		return;
	}
	rc = formats_picture_load(src, l, &data, &len);
	check(rc == 0 || rc == -EBADMSG, "unexpected error of a load");
	if (!rc)
		check(p->data && len == p->data_len &&
			      !memcmp(data, p->data, len) &&
			      l->type == p->type && !strcmp(l->mime, p->mime),
		      "a loaded picture is not the one a plain parse decodes");
	else
		check(!p->present || p->type != 3 || l->type == 3,
		      "a lazy parse preferred another picture");
	free(data);
}

static void parse_once(const uint8_t *data, size_t size, const char *name)
{
	static const struct formats_meta zero;
	struct formats_source src;
	struct formats_mem mem;
	struct formats_meta m, lazy;
	int rc, rc2;

	formats_source_from_mem(&src, &mem, data, size);
	rc = formats_parse(&src, name, &m);
	check(rc == 0 || rc == -EBADMSG || rc == -EFBIG, "unexpected error");
	if (rc)
		check(!memcmp(&m, &zero, sizeof(m)), "meta not released");
	else
		check_meta(&m, size);
	rc2 = formats_parse_flags(&src, name, FORMATS_PARSE_LAZY_PICTURES,
				  &lazy);
	check(rc2 == rc, "a lazy parse failed otherwise");
	if (!rc) {
		check_meta(&lazy, size);
		check_lazy(&src, &m, &lazy);
	}
	formats_meta_release(&lazy);
	formats_meta_release(&m);
	check(!memcmp(&m, &zero, sizeof(m)), "release left data");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "f.mp3", "f.aac", NULL };
	const char *name = names[size % MFS_ARRAY_SIZE(names)];
	size_t window = formats_window;
	size_t whole = formats_id3_whole_max;

	parse_once(data, size, name);
	formats_window = 512;
	formats_id3_whole_max = 256;
	parse_once(data, size, name);
	formats_window = window;
	formats_id3_whole_max = whole;
	return 0;
}
