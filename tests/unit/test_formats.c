/*
 * test_formats.c - unit tests of the formats module (cmocka).
 *
 * Three kinds of input: byte arrays built here field by field (every ID3
 * version and flag, APEv2, ID3v1, FLAC blocks, MPEG frames with Xing/VBRI
 * headers), files written by real tools into a temporary folder (ffmpeg,
 * metaflac, mutagen; those tests skip when the tool is missing), and the
 * corpus of third-party files in $MFS_TEST_DATA/corpus, many broken on
 * purpose, which must parse or be rejected cleanly (run it under ASan).
 * Every successful parse is checked for the invariants of the API: valid
 * UTF-8 without NUL, audio range and picture inside the file.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "formats/formats.h"
#include "formats/formats_i.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

/* ---- helpers ----------------------------------------------------------- */

static void put(struct buf *b, const void *p, size_t n)
{
	assert_int_equal(buf_add(b, p, n), 0);
}

static void put_s(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_u8(struct buf *b, unsigned v)
{
	assert_int_equal(buf_addch(b, (int)v), 0);
}

static void put_be16(struct buf *b, uint32_t v)
{
	put_u8(b, v >> 8);
	put_u8(b, v & 0xff);
}

static void put_be24(struct buf *b, uint32_t v)
{
	put_u8(b, (v >> 16) & 0xff);
	put_be16(b, v & 0xffff);
}

static void put_be32(struct buf *b, uint32_t v)
{
	put_be16(b, v >> 16);
	put_be16(b, v & 0xffff);
}

static void put_le32(struct buf *b, uint32_t v)
{
	put_u8(b, v & 0xff);
	put_u8(b, (v >> 8) & 0xff);
	put_u8(b, (v >> 16) & 0xff);
	put_u8(b, v >> 24);
}

static void put_syncsafe(struct buf *b, uint32_t v)
{
	put_u8(b, (v >> 21) & 0x7f);
	put_u8(b, (v >> 14) & 0x7f);
	put_u8(b, (v >> 7) & 0x7f);
	put_u8(b, v & 0x7f);
}

static void put_zeros(struct buf *b, size_t n)
{
	while (n--)
		put_u8(b, 0);
}

static void put_buf(struct buf *b, const struct buf *src)
{
	put(b, src->data, src->len);
}

static int parse_mem(const void *p, size_t n, const char *name,
		     struct formats_meta *m)
{
	struct formats_source src;
	struct formats_mem mem;

	formats_source_from_mem(&src, &mem, p, n);
	return formats_parse(&src, name, m);
}

static int parse_buf(const struct buf *b, const char *name,
		     struct formats_meta *m)
{
	return parse_mem(b->data, b->len, name, m);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st)) {
		close(fd);
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	n = p ? read(fd, p, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		free(p);
		return NULL;
	}
	*len = (size_t)n;
	return p;
}

static int parse_path(const char *path, struct formats_meta *m)
{
	struct formats_source src;
	struct stat st;
	int fd;
	int rc;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		close(fd);
		return -EIO;
	}
	formats_source_from_fd(&src, &fd, (uint64_t)st.st_size);
	rc = formats_parse(&src, path, m);
	close(fd);
	return rc;
}

static void expect_str(const char *got, const char *want)
{
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

static const char *extra(const struct formats_meta *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->tags.n_extra; i++)
		if (!strcmp(m->tags.extra[i].key, key))
			return m->tags.extra[i].value;
	return NULL;
}

static bool utf8_ok(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	char *copy;
	bool ok;

	if (!s)
		return true;
	copy = formats_text_dup(FORMATS_ENC_UTF8, p, strlen(s));
	ok = copy && !strcmp(copy, s);
	free(copy);
	return ok;
}

/* What every successful parse promises. */
static void check_invariants(const struct formats_meta *m, uint64_t size)
{
	const struct formats_tags *t = &m->tags;
	size_t i;

	assert_true(utf8_ok(t->title));
	assert_true(utf8_ok(t->artist));
	assert_true(utf8_ok(t->album));
	assert_true(utf8_ok(t->album_artist));
	assert_true(utf8_ok(t->genre));
	assert_true(utf8_ok(t->composer));
	assert_true(utf8_ok(t->date));
	assert_true(utf8_ok(t->comment));
	for (i = 0; i < t->n_extra; i++) {
		assert_true(utf8_ok(t->extra[i].key));
		assert_true(utf8_ok(t->extra[i].value));
	}
	assert_true(m->audio_start <= m->audio_end);
	assert_true(m->audio_end <= size);
	assert_true(m->duration >= 0);
	if (m->picture.present && !m->picture.data) {
		assert_true(m->picture.offset <= size);
		assert_true(m->picture.length <= size - m->picture.offset);
	}
	assert_true(memchr(m->picture.mime, 0, sizeof(m->picture.mime)));
}

static bool have_tool(const char *cmd)
{
	char *line = str_printf("%s >/dev/null 2>&1", cmd);
	int rc = system(line);

	free(line);
	return rc == 0;
}

static char *tmp_path(const char *name)
{
	return str_printf("%s/%s", tmpdir, name);
}

static void run(const char *fmt, ...) MFS_PRINTF(1, 2);

static void run(const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	assert_true(n > 0);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
	free(cmd);
}

/* A valid 2x2 PNG, written by ffmpeg once and kept here. */
static uint8_t *cover_png(size_t *len)
{
	char *path = tmp_path("cover.png");
	uint8_t *p;

	if (access(path, R_OK))
		run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
		    "-i color=c=red:s=2x2 -frames:v 1 '%s'", path);
	p = slurp(path, len);
	assert_non_null(p);
	free(path);
	return p;
}

static const uint8_t fake_png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
				    '\n', 1, 2, 3, 4, 0xff, 0x00, 0xff, 5 };

/* ---- byte builders ----------------------------------------------------- */

/* One ID3v2 frame of version ver. */
static void id3_frame(struct buf *b, unsigned ver, const char *id,
		      unsigned flags, const void *data, size_t n)
{
	if (ver == 2) {
		put(b, id, 3);
		put_be24(b, (uint32_t)n);
	} else {
		put(b, id, 4);
		if (ver == 3)
			put_be32(b, (uint32_t)n);
		else
			put_syncsafe(b, (uint32_t)n);
		put_be16(b, flags);
	}
	put(b, data, n);
}

/* A text frame: encoding byte, then n bytes of text. */
static void id3_text(struct buf *b, unsigned ver, const char *id, unsigned enc,
		     const void *text, size_t n)
{
	struct buf f = BUF_INIT_MAX(1 << 24);

	put_u8(&f, enc);
	put(&f, text, n);
	id3_frame(b, ver, id, 0, f.data, f.len);
	buf_release(&f);
}

static void id3_text_s(struct buf *b, unsigned ver, const char *id,
		       const char *s)
{
	id3_text(b, ver, id, 0, s, strlen(s));
}

/* A whole tag around body (frames), with padding zeros after them. */
static void id3_tag(struct buf *b, unsigned ver, unsigned flags,
		    const struct buf *body, size_t padding)
{
	put_s(b, "ID3");
	put_u8(b, ver);
	put_u8(b, 0);
	put_u8(b, flags);
	put_syncsafe(b, (uint32_t)(body->len + padding));
	put_buf(b, body);
	put_zeros(b, padding);
}

#define MPEG_FRAME_LEN 417	/* MPEG-1 layer III, 128 kbit/s, 44.1 kHz */

static void mpeg_header(struct buf *b)
{
	put_u8(b, 0xff);
	put_u8(b, 0xfb);
	put_u8(b, 0x90);
	put_u8(b, 0x00);
}

static void mpeg_frames(struct buf *b, unsigned n)
{
	size_t i;

	while (n--) {
		mpeg_header(b);
		for (i = 4; i < MPEG_FRAME_LEN; i++)
			put_u8(b, 0x55);
	}
}

/* A Xing (or Info) frame, then n audio frames. */
static void mpeg_xing(struct buf *b, const char *magic, uint32_t frames,
		      uint32_t bytes, unsigned delay, unsigned padding)
{
	size_t start = b->len;

	mpeg_header(b);
	put_zeros(b, 32);
	put_s(b, magic);
	put_be32(b, 3);
	put_be32(b, frames);
	put_be32(b, bytes);
	put_s(b, "LAME3.100");
	put_zeros(b, 12);
	put_be24(b, delay << 12 | padding);
	put_zeros(b, MPEG_FRAME_LEN - (b->len - start));
}

static void mpeg_vbri(struct buf *b, uint32_t frames, uint32_t bytes)
{
	size_t start = b->len;

	mpeg_header(b);
	put_zeros(b, 32);
	put_s(b, "VBRI");
	put_be16(b, 1);
	put_be16(b, 0);
	put_be16(b, 75);
	put_be32(b, bytes);
	put_be32(b, frames);
	put_zeros(b, MPEG_FRAME_LEN - (b->len - start));
}

static void id3v1_tag(struct buf *b, const char *title, const char *artist,
		      const char *album, const char *year,
		      const char *comment, unsigned track, unsigned genre)
{
	uint8_t t[128] = { 'T', 'A', 'G' };

	memcpy(t + 3, title, strlen(title));
	memcpy(t + 33, artist, strlen(artist));
	memcpy(t + 63, album, strlen(album));
	memcpy(t + 93, year, strlen(year));
	memcpy(t + 97, comment, strlen(comment));
	if (track)
		t[126] = (uint8_t)track;
	t[127] = (uint8_t)genre;
	put(b, t, sizeof(t));
}

static void ape_item(struct buf *b, const char *key, unsigned flags,
		     const void *v, size_t n)
{
	put_le32(b, (uint32_t)n);
	put_le32(b, flags);
	put(b, key, strlen(key) + 1);
	put(b, v, n);
}

static void ape_header(struct buf *b, uint32_t size, uint32_t count,
		       uint32_t flags)
{
	put_s(b, "APETAGEX");
	put_le32(b, 2000);
	put_le32(b, size);
	put_le32(b, count);
	put_le32(b, flags);
	put_zeros(b, 8);
}

/* An APEv2 tag with header and footer around items. */
static void ape_tag(struct buf *b, const struct buf *items, uint32_t count)
{
	uint32_t size = (uint32_t)items->len + 32;

	ape_header(b, size, count, 1u << 31 | 1u << 29);
	put_buf(b, items);
	ape_header(b, size, count, 1u << 31);
}

static void flac_block(struct buf *b, unsigned type, bool last,
		       const struct buf *body)
{
	put_u8(b, type | (last ? 0x80 : 0));
	put_be24(b, (uint32_t)body->len);
	put_buf(b, body);
}

static void flac_streaminfo(struct buf *b, uint32_t rate, unsigned channels,
			    uint64_t samples)
{
	struct buf si = BUF_INIT_MAX(1 << 20);
	uint64_t x;

	put_be16(&si, 4096);
	put_be16(&si, 4096);
	put_be24(&si, 0);
	put_be24(&si, 0);
	x = (uint64_t)rate << 44 | (uint64_t)(channels - 1) << 41 |
	    (uint64_t)15 << 36 | samples;
	put_be32(&si, (uint32_t)(x >> 32));
	put_be32(&si, (uint32_t)x);
	put_zeros(&si, 16);
	put_s(b, "fLaC");
	flac_block(b, 0, false, &si);
	buf_release(&si);
}

static void vorbis_comment(struct buf *b, const char *const *items, size_t n)
{
	size_t i;

	put_le32(b, 6);
	put_s(b, "vendor");
	put_le32(b, (uint32_t)n);
	for (i = 0; i < n; i++) {
		put_le32(b, (uint32_t)strlen(items[i]));
		put_s(b, items[i]);
	}
}

static void flac_picture(struct buf *b, uint32_t type, const char *mime,
			 const void *img, size_t n)
{
	put_be32(b, type);
	put_be32(b, (uint32_t)strlen(mime));
	put_s(b, mime);
	put_be32(b, 4);
	put_s(b, "desc");
	put_be32(b, 2);
	put_be32(b, 2);
	put_be32(b, 24);
	put_be32(b, 0);
	put_be32(b, (uint32_t)n);
	put(b, img, n);
}

/* Find needle in the buffer; its offset, or -1. */
static long find(const struct buf *b, const void *needle, size_t n)
{
	const char *p = memmem(b->data, b->len, needle, n);

	return p ? p - b->data : -1;
}

/* ---- helpers of formats.c ---------------------------------------------- */

static void check_text(enum formats_enc enc, const void *p, size_t n,
		       const char *want)
{
	char *s = formats_text_dup(enc, p, n);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void test_text(void **state)
{
	(void)state;
	check_text(FORMATS_ENC_LATIN1, "Mot\xf6rhead", 9, "Mot\xc3\xb6rhead");
	check_text(FORMATS_ENC_UTF16, "\xff\xfe" "A\0\xe9\0", 6, "A\xc3\xa9");
	check_text(FORMATS_ENC_UTF16, "\xfe\xff\0A\0\xe9", 6, "A\xc3\xa9");
	check_text(FORMATS_ENC_UTF16, "A\0B\0", 4, "AB"); /* no BOM: LE */
	check_text(FORMATS_ENC_UTF16BE, "\0A\0B", 4, "AB");
	/* a surrogate pair (U+1F3B5), a lone surrogate, an odd last byte */
	check_text(FORMATS_ENC_UTF16BE, "\xd8\x3c\xdf\xb5", 4,
		   "\xf0\x9f\x8e\xb5");
	check_text(FORMATS_ENC_UTF16BE, "\xd8\x3c\0A", 4, "\xef\xbf\xbd" "A");
	check_text(FORMATS_ENC_UTF16LE, "A\0B", 3, "A");
	check_text(FORMATS_ENC_UTF8, "caf\xc3\xa9", 5, "caf\xc3\xa9");
	/* invalid: stray continuation, overlong, surrogate, truncated */
	check_text(FORMATS_ENC_UTF8, "a\x80z", 3, "a\xef\xbf\xbdz");
	check_text(FORMATS_ENC_UTF8, "\xc0\xaf", 2,
		   "\xef\xbf\xbd\xef\xbf\xbd");
	check_text(FORMATS_ENC_UTF8, "\xed\xa0\x80", 3, "\xef\xbf\xbd");
	check_text(FORMATS_ENC_UTF8, "ab\xe2\x82", 4, "ab\xef\xbf\xbd");
	/* NULs never reach the output; a UTF-8 BOM is dropped */
	check_text(FORMATS_ENC_UTF8, "a\0b", 3, "ab");
	check_text(FORMATS_ENC_UTF8, "\xef\xbb\xbfx", 4, "x");
	check_text(FORMATS_ENC_LATIN1, "", 0, "");
}

static void test_text_len(void **state)
{
	size_t next;

	(void)state;
	assert_int_equal(formats_text_len(FORMATS_ENC_LATIN1,
					  (const uint8_t *)"ab\0cd", 5, &next),
			 2);
	assert_int_equal(next, 3);
	assert_int_equal(formats_text_len(FORMATS_ENC_UTF8,
					  (const uint8_t *)"abc", 3, &next),
			 3);
	assert_int_equal(next, 3);
	/* UTF-16: the terminator is two NULs on an even offset */
	assert_int_equal(formats_text_len(FORMATS_ENC_UTF16,
					  (const uint8_t *)"\0A\0\0B\0", 6,
					  &next),
			 2);
	assert_int_equal(next, 4);
}

static void test_numbers(void **state)
{
	int n = 0;
	int t = 0;

	(void)state;
	assert_int_equal(formats_parse_pair("3/12", &n, &t), 0);
	assert_int_equal(n, 3);
	assert_int_equal(t, 12);
	t = 0;
	assert_int_equal(formats_parse_pair(" 07 ", &n, &t), 0);
	assert_int_equal(n, 7);
	assert_int_equal(t, 0);
	assert_int_equal(formats_parse_pair("5 / 9", &n, &t), 0);
	assert_int_equal(t, 9);
	assert_int_equal(formats_parse_pair("A1", &n, &t), -EINVAL);
	assert_int_equal(formats_parse_pair("", &n, &t), -EINVAL);
	assert_int_equal(formats_parse_pair("99999999999999999999", &n, &t),
			 -EINVAL);
	assert_int_equal(formats_year_from_date("2023-04-14"), 2023);
	assert_int_equal(formats_year_from_date("14.04.1987"), 1987);
	assert_int_equal(formats_year_from_date("19991231"), 1999);
	assert_int_equal(formats_year_from_date("'95"), 0);
	assert_int_equal(formats_year_from_date(""), 0);
	assert_int_equal(formats_year_from_date(NULL), 0);
}

static void test_aac_config(void **state)
{
	static const uint8_t lc[] = { 0x12, 0x10 };
	static const uint8_t he_implicit[] = { 0x13, 0x88, 0x56, 0xe5, 0xa5 };
	static const uint8_t he_explicit[] = { 0x2b, 0x11, 0x80 };
	static const uint8_t explicit_rate[] = { 0x17, 0x80, 0x01, 0xf4, 0x08 };

	(void)state;
	assert_int_equal(formats_aac_config_rate(lc, sizeof(lc)), 44100);
	assert_int_equal(formats_aac_config_rate(he_implicit,
						 sizeof(he_implicit)),
			 44100);
	assert_int_equal(formats_aac_config_rate(he_explicit,
						 sizeof(he_explicit)),
			 48000);
	/* index 15: a 24-bit rate follows (1000 Hz here) */
	assert_int_equal(formats_aac_config_rate(explicit_rate,
						 sizeof(explicit_rate)),
			 1000);
	assert_int_equal(formats_aac_config_rate(lc, 1), 0);
	assert_int_equal(formats_aac_rate(3), 48000);
	assert_int_equal(formats_aac_rate(13), 0);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(formats_is_audio_name("a.flac"));
	assert_true(formats_is_audio_name("A.MP3"));
	assert_true(formats_is_audio_name("x.Ogg"));
	assert_true(formats_is_audio_name("x.oga"));
	assert_true(formats_is_audio_name("x.opus"));
	assert_true(formats_is_audio_name("x.wav"));
	assert_true(formats_is_audio_name("x.m4a"));
	assert_true(formats_is_audio_name("x.m4b"));
	assert_true(formats_is_audio_name("x.mp4"));
	assert_true(formats_is_audio_name("x.AAC"));
	assert_false(formats_is_audio_name("cover.jpg"));
	assert_false(formats_is_audio_name("flac"));
	assert_false(formats_is_audio_name("x.mp3.txt"));
	assert_false(formats_is_audio_name(NULL));
	assert_string_equal(formats_kind_ext(FORMATS_FLAC), "flac");
	assert_string_equal(formats_kind_ext(FORMATS_MP3), "mp3");
	assert_string_equal(formats_kind_ext(FORMATS_OGG_VORBIS), "ogg");
	assert_string_equal(formats_kind_ext(FORMATS_OPUS), "opus");
	assert_string_equal(formats_kind_ext(FORMATS_WAV), "wav");
	assert_string_equal(formats_kind_ext(FORMATS_M4A), "m4a");
	assert_string_equal(formats_kind_ext(FORMATS_AAC), "aac");
	assert_string_equal(formats_kind_ext(FORMATS_UNKNOWN), "");
	assert_string_equal(formats_kind_ext(FORMATS_KIND_COUNT), "");
	assert_string_equal(formats_id3_genre(0), "Blues");
	assert_string_equal(formats_id3_genre(17), "Rock");
	assert_string_equal(formats_id3_genre(79), "Hard Rock");
	assert_string_equal(formats_id3_genre(147), "Synthpop");
	assert_string_equal(formats_id3_genre(191), "Psybient");
	assert_null(formats_id3_genre(192));
	assert_null(formats_id3_genre(255));
}

static void test_release(void **state)
{
	struct formats_meta m;
	struct formats_meta zero;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	memset(&m, 0, sizeof(m));
	formats_meta_release(&m);
	m.tags.title = strdup("x");
	m.tags.extra = calloc(1, sizeof(*m.tags.extra));
	m.tags.extra[0].key = strdup("k");
	m.tags.extra[0].value = strdup("v");
	m.tags.n_extra = 1;
	m.picture.data = malloc(4);
	m.duration = 3;
	formats_meta_release(&m);
	assert_memory_equal(&m, &zero, sizeof(m));
	formats_meta_release(&m);
	assert_memory_equal(&m, &zero, sizeof(m));
}

/* ---- FLAC -------------------------------------------------------------- */

static const char *const flac_items[] = {
	"TITLE=Caf\xc3\xa9",
	"artist=First",
	"ARTIST=Second",
	"ALBUM=The Album",
	"ALBUM ARTIST=Various",
	"GENRE=Rock",
	"COMPOSER=Bach",
	"DATE=2023-04-14",
	"DESCRIPTION=a comment",
	"TRACKNUMBER=3/12",
	"TOTALDISCS=2",
	"DISCNUMBER=1",
	"COMPILATION=1",
	"MUSICBRAINZ_TRACKID=0123-abcd",
	"NOEQUALSIGN",
	"=novalue",
	"EMPTY=",
};

/* A FLAC file: STREAMINFO, comments, two pictures, padding, audio. */
static void build_flac(struct buf *b)
{
	struct buf body = BUF_INIT_MAX(1 << 20);

	flac_streaminfo(b, 44100, 2, 88200);
	vorbis_comment(&body, flac_items, MFS_ARRAY_SIZE(flac_items));
	flac_block(b, 4, false, &body);
	buf_reset(&body);
	flac_picture(&body, 4, "image/jpeg", "\xff\xd8\xff\xe0", 4);
	flac_block(b, 6, false, &body);
	buf_reset(&body);
	flac_picture(&body, 3, "image/png", fake_png, sizeof(fake_png));
	flac_block(b, 6, false, &body);
	buf_reset(&body);
	put_zeros(&body, 100);
	flac_block(b, 1, true, &body);
	buf_release(&body);
	put_u8(b, 0xff);
	put_u8(b, 0xf8);
	put_zeros(b, 998);
}

static void check_flac_tags(const struct formats_meta *m)
{
	const struct formats_tags *t = &m->tags;

	expect_str(t->title, "Caf\xc3\xa9");
	expect_str(t->artist, "First; Second");
	expect_str(t->album, "The Album");
	expect_str(t->album_artist, "Various");
	expect_str(t->genre, "Rock");
	expect_str(t->composer, "Bach");
	expect_str(t->date, "2023-04-14");
	assert_int_equal(t->year, 2023);
	expect_str(t->comment, "a comment");
	assert_int_equal(t->track, 3);
	assert_int_equal(t->track_total, 12);
	assert_int_equal(t->disc, 1);
	assert_int_equal(t->disc_total, 2);
	assert_true(t->compilation);
	expect_str(extra(m, "MUSICBRAINZ_TRACKID"), "0123-abcd");
	assert_null(extra(m, "EMPTY"));
	assert_int_equal(t->n_extra, 1);
}

static void test_flac(void **state)
{
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	long png;
	long audio;

	(void)state;
	build_flac(&b);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	check_invariants(&m, b.len);
	assert_int_equal(m.kind, FORMATS_FLAC);
	assert_int_equal(m.sample_rate, 44100);
	assert_int_equal(m.channels, 2);
	assert_true(m.duration > 1.999 && m.duration < 2.001);
	check_flac_tags(&m);
	/* the front cover wins over the first picture; data not copied */
	png = find(&b, fake_png, sizeof(fake_png));
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 3);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.offset, png);
	assert_int_equal(m.picture.length, sizeof(fake_png));
	assert_null(m.picture.data);
	audio = find(&b, "\xff\xf8", 2);
	assert_int_equal(m.audio_start, audio);
	assert_int_equal(m.audio_end, b.len);
	assert_int_equal(m.bitrate, (b.len - audio) * 8 / 2);
	formats_meta_release(&m);
	buf_release(&b);
}

/* An ID3v2 tag before "fLaC" is skipped. */
static void test_flac_id3_prefix(void **state)
{
	struct buf flac = BUF_INIT_MAX(1 << 20);
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t tag;

	(void)state;
	build_flac(&flac);
	id3_text_s(&body, 3, "TIT2", "from id3");
	id3_tag(&b, 3, 0, &body, 50);
	tag = b.len;
	put_buf(&b, &flac);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_int_equal(m.kind, FORMATS_FLAC);
	check_flac_tags(&m);
	assert_int_equal(m.audio_start, tag + find(&flac, "\xff\xf8", 2));
	assert_int_equal(m.picture.offset,
			 tag + find(&flac, fake_png, sizeof(fake_png)));
	formats_meta_release(&m);
	buf_release(&b);
	buf_release(&body);
	buf_release(&flac);
}

/* A file written by ffmpeg and metaflac, with a front cover. */
static void test_flac_tools(void **state)
{
	char *path = tmp_path("t.flac");
	char *png_path = tmp_path("cover.png");
	struct formats_meta m;
	uint8_t *png;
	uint8_t *file;
	size_t png_len;
	size_t len;

	(void)state;
	if (!have_tool("ffmpeg -version") || !have_tool("metaflac --version"))
		skip();
	png = cover_png(&png_len);
	run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
	    "-i anullsrc=r=48000:cl=mono -t 1.5 -metadata title='T\xc3\xaftle' "
	    "-metadata artist=Artist -metadata album=Album "
	    "-metadata album_artist='Album Artist' -metadata genre=Jazz "
	    "-metadata composer=Comp -metadata date=2021 "
	    "-metadata comment='A comment' -metadata track=4/10 "
	    "-metadata disc=2/3 -metadata compilation=1 '%s'", path);
	run("metaflac --import-picture-from='3|image/png|front||%s' '%s'",
	    png_path, path);
	file = slurp(path, &len);
	assert_non_null(file);
	assert_int_equal(parse_path(path, &m), 0);
	check_invariants(&m, len);
	assert_int_equal(m.kind, FORMATS_FLAC);
	assert_int_equal(m.sample_rate, 48000);
	assert_int_equal(m.channels, 1);
	assert_true(m.duration > 1.499 && m.duration < 1.501);
	expect_str(m.tags.title, "T\xc3\xaftle");
	expect_str(m.tags.artist, "Artist");
	expect_str(m.tags.album, "Album");
	expect_str(m.tags.album_artist, "Album Artist");
	expect_str(m.tags.genre, "Jazz");
	expect_str(m.tags.composer, "Comp");
	expect_str(m.tags.comment, "A comment");
	assert_int_equal(m.tags.year, 2021);
	assert_int_equal(m.tags.track, 4);
	assert_int_equal(m.tags.track_total, 10);
	assert_int_equal(m.tags.disc, 2);
	assert_int_equal(m.tags.disc_total, 3);
	assert_true(m.tags.compilation);
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 3);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.length, png_len);
	assert_memory_equal(file + m.picture.offset, png, png_len);
	/* audio starts with a FLAC frame sync */
	assert_int_equal(file[m.audio_start], 0xff);
	assert_int_equal(file[m.audio_start + 1] & 0xfe, 0xf8);
	assert_int_equal(m.audio_end, len);
	formats_meta_release(&m);
	free(file);
	free(png);
	free(png_path);
	free(path);
}

/* Each damaged FLAC gives a clean error or a partial result. */
static void test_flac_damaged(void **state)
{
	static const char *const huge_item[] = { "TITLE=x" };
	struct buf good = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t n;
	int rc;

	(void)state;
	build_flac(&good);
	for (n = 0; n <= good.len; n++) {
		rc = parse_mem(good.data, n, "x.flac", &m);
		assert_true(rc == 0 || rc == -EBADMSG);
		if (!rc)
			check_invariants(&m, n);
		formats_meta_release(&m);
	}
	/* a block claiming 16 MiB in a small file: partial result */
	flac_streaminfo(&b, 44100, 2, 44100);
	put_u8(&b, 4);
	put_be24(&b, 0xffffff);
	put_zeros(&b, 100);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	assert_null(m.tags.title);
	assert_int_equal(m.sample_rate, 44100);
	formats_meta_release(&m);
	/* a comment count of 4 billion, an item length of 4 GiB */
	buf_reset(&b);
	flac_streaminfo(&b, 44100, 2, 44100);
	vorbis_comment(&body, huge_item, 1);
	body.data[12] = body.data[13] = (char)0xff;	/* the count */
	put_le32(&body, 0xffffffff);
	flac_block(&b, 4, true, &body);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	expect_str(m.tags.title, "x");
	formats_meta_release(&m);
	/* a picture with a 4 GiB MIME length and one with 4 GiB of data */
	buf_reset(&b);
	buf_reset(&body);
	flac_streaminfo(&b, 44100, 2, 44100);
	put_be32(&body, 3);
	put_be32(&body, 0xffffffff);
	put_zeros(&body, 40);
	flac_block(&b, 6, false, &body);
	buf_reset(&body);
	flac_picture(&body, 3, "image/png", "abc", 3);
	body.data[body.len - 7] = (char)0xff;
	flac_block(&b, 6, true, &body);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	assert_false(m.picture.present);
	formats_meta_release(&m);
	/* no STREAMINFO at all */
	buf_reset(&b);
	put_s(&b, "fLaC");
	put_u8(&b, 0x81);
	put_be24(&b, 0);
	assert_int_equal(parse_buf(&b, "x.flac", &m), -EBADMSG);
	/* zero-length blocks without a last flag up to the end */
	buf_reset(&b);
	flac_streaminfo(&b, 8000, 1, 8000);
	for (n = 0; n < 1000; n++) {
		put_u8(&b, 1);
		put_be24(&b, 0);
	}
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	assert_int_equal(m.audio_start, b.len);
	formats_meta_release(&m);
	buf_release(&body);
	buf_release(&b);
	buf_release(&good);
}

/* ---- ID3v2 ------------------------------------------------------------- */

/* APIC frame content of version ver: the image is fake_png. */
static void apic(struct buf *f, unsigned ver, unsigned type)
{
	put_u8(f, 0);
	if (ver == 2)
		put_s(f, "PNG");
	else
		put(f, "image/png", 10);
	put_u8(f, type);
	put(f, "cover", 6);
	put(f, fake_png, sizeof(fake_png));
}

static void test_id3v23(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf f = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t tag_end;

	(void)state;
	id3_text_s(&body, 3, "TIT2", "Title \xe9");	/* Latin-1 */
	id3_text(&body, 3, "TPE1", 1, "\xff\xfeM\0\xf6\0", 6);
	id3_text(&body, 3, "TALB", 1, "\xfe\xff\0A\0l\0b", 8);
	id3_text_s(&body, 3, "TPE2", "Band");
	id3_text_s(&body, 3, "TCON", "(17)");
	id3_text_s(&body, 3, "TCOM", "Composer");
	id3_text_s(&body, 3, "TRCK", "3/12");
	id3_text_s(&body, 3, "TPOS", "1/2");
	id3_text_s(&body, 3, "TYER", "1999");
	id3_text_s(&body, 3, "TDAT", "1503");
	id3_text_s(&body, 3, "TCMP", "1");
	id3_text_s(&body, 3, "TBPM", "120");
	put(&f, "\0eng\0A comment", 14);
	id3_frame(&body, 3, "COMM", 0, f.data, f.len);
	buf_reset(&f);
	put(&f, "\0eng" "iTunNORM\0 0000", 18);
	id3_frame(&body, 3, "COMM", 0, f.data, f.len);
	buf_reset(&f);
	put(&f, "\0MusicBrainz Album Id\0" "abc-123", 29);
	id3_frame(&body, 3, "TXXX", 0, f.data, f.len);
	buf_reset(&f);
	put(&f, "\0ALBUMARTIST\0Other", 18);
	id3_frame(&body, 3, "TXXX", 0, f.data, f.len);
	/* compressed and encrypted frames are skipped */
	id3_frame(&body, 3, "TIT3", 0x0080, "\0\0\0\x10xx", 6);
	id3_frame(&body, 3, "TIT1", 0x0040, "\x01zz", 3);
	id3_frame(&body, 3, "PRIV", 0, "owner\0data", 10);
	buf_reset(&f);
	apic(&f, 3, 3);
	id3_frame(&body, 3, "APIC", 0, f.data, f.len);
	id3_tag(&b, 3, 0, &body, 200);
	tag_end = b.len;
	mpeg_frames(&b, 20);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	assert_int_equal(m.kind, FORMATS_MP3);
	expect_str(m.tags.title, "Title \xc3\xa9");
	expect_str(m.tags.artist, "M\xc3\xb6");
	expect_str(m.tags.album, "Alb");
	expect_str(m.tags.album_artist, "Band");
	expect_str(m.tags.genre, "Rock");
	expect_str(m.tags.composer, "Composer");
	expect_str(m.tags.date, "1999-03-15");
	assert_int_equal(m.tags.year, 1999);
	expect_str(m.tags.comment, "A comment");
	assert_int_equal(m.tags.track, 3);
	assert_int_equal(m.tags.track_total, 12);
	assert_int_equal(m.tags.disc, 1);
	assert_int_equal(m.tags.disc_total, 2);
	assert_true(m.tags.compilation);
	expect_str(extra(&m, "TBPM"), "120");
	expect_str(extra(&m, "COMM:iTunNORM"), " 0000");
	expect_str(extra(&m, "TXXX:MusicBrainz Album Id"), "abc-123");
	expect_str(extra(&m, "TXXX:ALBUMARTIST"), "Other");
	assert_null(extra(&m, "TIT3"));
	assert_null(extra(&m, "TIT1"));
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 3);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.offset,
			 find(&b, fake_png, sizeof(fake_png)));
	assert_int_equal(m.picture.length, sizeof(fake_png));
	assert_null(m.picture.data);
	/* technical info from the frames; CBR: duration from the size */
	assert_int_equal(m.sample_rate, 44100);
	assert_int_equal(m.channels, 2);
	assert_int_equal(m.bitrate, 128000);
	assert_true(fabs(m.duration - 20.0 * MPEG_FRAME_LEN * 8 / 128000) <
		    1e-6);
	assert_int_equal(m.audio_start, tag_end);
	assert_int_equal(m.audio_end, b.len);
	formats_meta_release(&m);
	buf_release(&f);
	buf_release(&body);
	buf_release(&b);
}

/* Unsynchronise: a zero after every 0xff. */
static void unsync(struct buf *out, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < n; i++) {
		put_u8(out, p[i]);
		if (p[i] == 0xff)
			put_u8(out, 0);
	}
}

static void test_id3v24(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf f = BUF_INIT_MAX(1 << 20);
	struct buf u = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t tag_end;

	(void)state;
	/* extended header: size 6 (with itself), one flag byte */
	put_syncsafe(&body, 6);
	put_u8(&body, 1);
	put_u8(&body, 0);
	id3_text(&body, 4, "TIT2", 3, "T\xc3\xadtulo", 7);
	id3_text(&body, 4, "TPE1", 3, "A\0B\0", 4);
	id3_text(&body, 4, "TCON", 3, "17\0Jazz\0CR", 10);
	id3_text(&body, 4, "TDRC", 3, "2023-04-14", 10);
	id3_text(&body, 4, "TRCK", 2, "\0" "7", 2);
	id3_text(&body, 4, "TPE2", 1, "\xff\xfe" "A\0\0\0\xfe\xff\0B", 10);
	/* per-frame unsynchronisation */
	unsync(&u, "\0x\xff\xe0y", 5);
	id3_frame(&body, 4, "TALB", 0x0002, u.data, u.len);
	/* data length indicator + unsynchronisation */
	buf_reset(&u);
	put_syncsafe(&u, 4);
	unsync(&u, "\0Z\xff\xff", 4);
	id3_frame(&body, 4, "TCOM", 0x0003, u.data, u.len);
	/* grouping identity byte */
	id3_frame(&body, 4, "TIT3", 0x0040, "\x01\0Sub", 5);
	/* compressed: skipped */
	id3_frame(&body, 4, "TIT1", 0x0009, "\0\0\0\x10xx", 6);
	/* the cover, unsynchronised: a decoded copy */
	apic(&f, 4, 3);
	buf_reset(&u);
	unsync(&u, f.data, f.len);
	id3_frame(&body, 4, "APIC", 0x0002, u.data, u.len);
	put_s(&b, "ID3");
	put_u8(&b, 4);
	put_u8(&b, 0);
	put_u8(&b, 0x50);	/* extended header, footer */
	put_syncsafe(&b, (uint32_t)body.len);
	put_buf(&b, &body);
	put_s(&b, "3DI");
	put(&b, b.data + 3, 7);
	tag_end = b.len;
	mpeg_xing(&b, "Xing", 10, 10 * MPEG_FRAME_LEN, 576, 1000);
	mpeg_frames(&b, 9);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	expect_str(m.tags.title, "T\xc3\xadtulo");
	expect_str(m.tags.artist, "A; B");
	expect_str(m.tags.genre, "Rock; Jazz; Cover");
	expect_str(m.tags.date, "2023-04-14");
	assert_int_equal(m.tags.year, 2023);
	assert_int_equal(m.tags.track, 7);
	expect_str(m.tags.album_artist, "A; B");
	expect_str(m.tags.album, "x\xc3\xbf\xc3\xa0y");
	expect_str(m.tags.composer, "Z\xc3\xbf\xc3\xbf");
	expect_str(extra(&m, "TIT3"), "Sub");
	assert_null(extra(&m, "TIT1"));
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 3);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.offset, 0);
	assert_int_equal(m.picture.length, 0);
	assert_non_null(m.picture.data);
	assert_int_equal(m.picture.data_len, sizeof(fake_png));
	assert_memory_equal(m.picture.data, fake_png, sizeof(fake_png));
	/* Xing with LAME delay and padding taken off */
	assert_int_equal(m.audio_start, tag_end);
	assert_int_equal(m.audio_end, b.len);
	assert_true(fabs(m.duration - (10 * 1152 - 1576) / 44100.0) < 1e-9);
	assert_int_equal(m.bitrate,
			 (uint32_t)(10.0 * MPEG_FRAME_LEN * 8 / m.duration));
	formats_meta_release(&m);
	buf_release(&u);
	buf_release(&f);
	buf_release(&body);
	buf_release(&b);
}

static void test_id3v22(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf f = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;

	(void)state;
	id3_text_s(&body, 2, "TT2", "Two Two");
	id3_text(&body, 2, "TP1", 1, "\xff\xfeP\0i\0", 6);
	id3_text_s(&body, 2, "TP2", "Album Band");
	id3_text_s(&body, 2, "TAL", "Old Album");
	id3_text_s(&body, 2, "TCO", "(13)Pop");
	id3_text_s(&body, 2, "TCM", "Writer");
	id3_text_s(&body, 2, "TRK", "5/9");
	id3_text_s(&body, 2, "TPA", "2");
	id3_text_s(&body, 2, "TYE", "2001");
	id3_text_s(&body, 2, "TDA", "0102");
	id3_text_s(&body, 2, "TCP", "1");
	id3_text_s(&body, 2, "TEN", "iTunes");
	id3_frame(&body, 2, "TXX", 0, "\0foo\0bar", 8);
	id3_frame(&body, 2, "COM", 0, "\0eng\0old comment", 17);
	apic(&f, 2, 3);
	id3_frame(&body, 2, "PIC", 0, f.data, f.len);
	id3_tag(&b, 2, 0, &body, 64);
	mpeg_frames(&b, 3);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	expect_str(m.tags.title, "Two Two");
	expect_str(m.tags.artist, "Pi");
	expect_str(m.tags.album_artist, "Album Band");
	expect_str(m.tags.album, "Old Album");
	expect_str(m.tags.genre, "Pop");
	expect_str(m.tags.composer, "Writer");
	assert_int_equal(m.tags.track, 5);
	assert_int_equal(m.tags.track_total, 9);
	assert_int_equal(m.tags.disc, 2);
	expect_str(m.tags.date, "2001-02-01");
	assert_true(m.tags.compilation);
	expect_str(m.tags.comment, "old comment");
	expect_str(extra(&m, "TENC"), "iTunes");
	expect_str(extra(&m, "TXXX:foo"), "bar");
	assert_true(m.picture.present);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.offset,
			 find(&b, fake_png, sizeof(fake_png)));
	assert_int_equal(m.picture.length, sizeof(fake_png));
	assert_int_equal(m.sample_rate, 44100);
	formats_meta_release(&m);
	/* a 2.2 tag with the compression flag cannot be read: tags skipped */
	b.data[5] = 0x40;
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_null(m.tags.title);
	assert_int_equal(m.sample_rate, 44100);
	formats_meta_release(&m);
	buf_release(&f);
	buf_release(&body);
	buf_release(&b);
}

/* ID3v2.3 with the whole tag unsynchronised and an extended header. */
static void test_id3v23_unsync(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf f = BUF_INIT_MAX(1 << 20);
	struct buf u = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;

	(void)state;
	put_be32(&body, 6);	/* extended header: size, flags, padding */
	put_be16(&body, 0);
	put_be32(&body, 0);
	id3_text_s(&body, 3, "TIT2", "\xff\xe0 title");
	id3_text(&body, 3, "TPE1", 1, "\xff\xfe" "A\0\xff\0", 6);
	apic(&f, 3, 0);
	id3_frame(&body, 3, "APIC", 0, f.data, f.len);
	unsync(&u, body.data, body.len);
	id3_tag(&b, 3, 0xc0, &u, 0);
	mpeg_frames(&b, 3);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	expect_str(m.tags.title, "\xc3\xbf\xc3\xa0 title");
	expect_str(m.tags.artist, "A\xc3\xbf");
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 0);
	assert_non_null(m.picture.data);
	assert_int_equal(m.picture.data_len, sizeof(fake_png));
	assert_memory_equal(m.picture.data, fake_png, sizeof(fake_png));
	assert_int_equal(m.audio_start, 10 + u.len);
	formats_meta_release(&m);
	buf_release(&u);
	buf_release(&f);
	buf_release(&body);
	buf_release(&b);
}

/* iTunes wrote ID3v2.4 frame sizes as plain integers. */
static void test_id3v24_itunes_sizes(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	char text[301];

	(void)state;
	memset(text, 'a', sizeof(text));
	text[0] = 0;
	/* size 301 = 00 00 01 2d: read as syncsafe (173) it lands inside
	 * the text, read as a plain integer on TPE1 */
	put_s(&body, "TIT2");
	put_be32(&body, sizeof(text));
	put_be16(&body, 0);
	put(&body, text, sizeof(text));
	id3_text_s(&body, 4, "TPE1", "After");
	id3_tag(&b, 4, 0, &body, 10);
	mpeg_frames(&b, 2);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_non_null(m.tags.title);
	assert_int_equal(strlen(m.tags.title), 300);
	expect_str(m.tags.artist, "After");
	formats_meta_release(&m);
	buf_release(&body);
	buf_release(&b);
}

static void test_id3v1(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t audio_end;

	(void)state;
	mpeg_frames(&b, 5);
	audio_end = b.len;
	id3v1_tag(&b, "V1 Title", "Mot\xf6rhead", "V1 Album", "1980",
		  "v1 comment", 7, 17);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	expect_str(m.tags.title, "V1 Title");
	expect_str(m.tags.artist, "Mot\xc3\xb6rhead");
	expect_str(m.tags.album, "V1 Album");
	expect_str(m.tags.date, "1980");
	assert_int_equal(m.tags.year, 1980);
	expect_str(m.tags.comment, "v1 comment");
	assert_int_equal(m.tags.track, 7);
	expect_str(m.tags.genre, "Rock");
	assert_int_equal(m.audio_start, 0);
	assert_int_equal(m.audio_end, audio_end);
	assert_true(fabs(m.duration - 5.0 * MPEG_FRAME_LEN * 8 / 128000) <
		    1e-9);
	formats_meta_release(&m);

	/* ID3v1.0: a 30-byte comment, no track; 255 is "no genre" */
	buf_reset(&b);
	mpeg_frames(&b, 5);
	id3v1_tag(&b, "T", "A", "", "", "123456789012345678901234567890",
		  0, 255);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.comment, "123456789012345678901234567890");
	assert_int_equal(m.tags.track, 0);
	assert_null(m.tags.genre);
	assert_null(m.tags.album);
	formats_meta_release(&m);

	/* ID3v2 wins; ID3v1 only fills what it did not give */
	buf_reset(&b);
	id3_text_s(&body, 3, "TIT2", "V2 Title");
	id3_text_s(&body, 3, "TRCK", "2");
	id3_tag(&b, 3, 0, &body, 0);
	mpeg_frames(&b, 5);
	id3v1_tag(&b, "V1 Title", "V1 Artist", "", "", "", 9, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.title, "V2 Title");
	expect_str(m.tags.artist, "V1 Artist");
	assert_int_equal(m.tags.track, 2);
	expect_str(m.tags.genre, "Blues");
	formats_meta_release(&m);
	buf_release(&body);
	buf_release(&b);
}

static void test_ape(void **state)
{
	struct buf items = BUF_INIT_MAX(1 << 20);
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct buf cover = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t audio_end;

	(void)state;
	ape_item(&items, "Title", 0, "APE Title", 9);
	ape_item(&items, "Artist", 0, "APE Artist", 10);
	ape_item(&items, "Album Artist", 0, "AA", 2);
	ape_item(&items, "Track", 0, "4/10", 4);
	ape_item(&items, "Year", 0, "2010", 4);
	ape_item(&items, "Genre", 0, "Metal", 5);
	ape_item(&items, "Composer", 0, "C1\0C2", 5);
	ape_item(&items, "MUSICBRAINZ_TRACKID", 0, "mb-1", 4);
	ape_item(&items, "Some Link", 4, "http://x", 8);
	put(&cover, "cover.png", 10);
	put(&cover, fake_png, sizeof(fake_png));
	ape_item(&items, "Cover Art (Front)", 2, cover.data, cover.len);
	id3_text_s(&body, 3, "TIT2", "V2 Title");
	id3_tag(&b, 3, 0, &body, 0);
	mpeg_frames(&b, 5);
	audio_end = b.len;
	ape_tag(&b, &items, 10);
	id3v1_tag(&b, "V1 Title", "V1 Artist", "V1 Album", "", "", 1, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	expect_str(m.tags.title, "V2 Title");
	expect_str(m.tags.artist, "APE Artist");
	expect_str(m.tags.album, "V1 Album");
	expect_str(m.tags.album_artist, "AA");
	assert_int_equal(m.tags.track, 4);
	assert_int_equal(m.tags.track_total, 10);
	assert_int_equal(m.tags.year, 2010);
	expect_str(m.tags.genre, "Metal");
	expect_str(m.tags.composer, "C1; C2");
	expect_str(extra(&m, "MUSICBRAINZ_TRACKID"), "mb-1");
	assert_null(extra(&m, "Some Link"));
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 3);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.offset,
			 find(&b, fake_png, sizeof(fake_png)));
	assert_int_equal(m.picture.length, sizeof(fake_png));
	assert_int_equal(m.audio_end, audio_end);
	formats_meta_release(&m);

	/* footer only, no ID3v1 */
	buf_reset(&b);
	mpeg_frames(&b, 5);
	audio_end = b.len;
	put_buf(&b, &items);
	ape_header(&b, (uint32_t)items.len + 32, 10, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.title, "APE Title");
	assert_int_equal(m.audio_end, audio_end);
	formats_meta_release(&m);

	/* a footer claiming 4 GiB and 4 billion items: ignored */
	buf_reset(&b);
	mpeg_frames(&b, 5);
	ape_header(&b, 0xffffffff, 0xffffffff, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_int_equal(m.audio_end, b.len);
	formats_meta_release(&m);
	/* a count larger than the items present */
	buf_reset(&b);
	mpeg_frames(&b, 5);
	put_buf(&b, &items);
	ape_header(&b, (uint32_t)items.len + 32, 0xffffffff, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.title, "APE Title");
	formats_meta_release(&m);
	buf_release(&cover);
	buf_release(&items);
	buf_release(&body);
	buf_release(&b);
}

static void test_mp3_vbri(void **state)
{
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;

	(void)state;
	mpeg_vbri(&b, 50, 50 * 300);
	mpeg_frames(&b, 4);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_true(fabs(m.duration - 50 * 1152 / 44100.0) < 1e-9);
	assert_int_equal(m.bitrate, (uint32_t)(50 * 300 * 8 / m.duration));
	formats_meta_release(&m);
	/* Info (CBR) without a LAME tag */
	buf_reset(&b);
	mpeg_header(&b);
	put_zeros(&b, 32);
	put_s(&b, "Info");
	put_be32(&b, 1);
	put_be32(&b, 100);
	put_zeros(&b, MPEG_FRAME_LEN - 48);
	mpeg_frames(&b, 4);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_true(fabs(m.duration - 100 * 1152 / 44100.0) < 1e-9);
	formats_meta_release(&m);
	buf_release(&b);
}

/* A file encoded by ffmpeg (LAME) with ID3v2.3, ID3v1 and a cover. */
static void test_mp3_tools(void **state)
{
	char *path = tmp_path("t23.mp3");
	char *path24 = tmp_path("t24.mp3");
	char *png_path = tmp_path("cover.png");
	struct formats_meta m;
	uint8_t *file;
	uint8_t *png;
	size_t png_len;
	size_t len;

	(void)state;
	if (!have_tool("ffmpeg -version"))
		skip();
	png = cover_png(&png_len);
	run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
	    "-i anullsrc=r=44100:cl=stereo -i '%s' -t 2 -map 0 -map 1 "
	    "-c:v copy -disposition:v attached_pic "
	    "-metadata:s:v comment='Cover (front)' -id3v2_version 3 "
	    "-write_id3v1 1 -metadata title='T\xc3\xaftle' "
	    "-metadata artist=Artist -metadata album=Album "
	    "-metadata album_artist='Album Artist' -metadata genre=Rock "
	    "-metadata composer=Comp -metadata date=2021 "
	    "-metadata track=3/12 -metadata disc=1/2 "
	    "-metadata compilation=1 '%s'", png_path, path);
	file = slurp(path, &len);
	assert_non_null(file);
	assert_int_equal(parse_path(path, &m), 0);
	check_invariants(&m, len);
	assert_int_equal(m.kind, FORMATS_MP3);
	expect_str(m.tags.title, "T\xc3\xaftle");
	expect_str(m.tags.artist, "Artist");
	expect_str(m.tags.album, "Album");
	expect_str(m.tags.album_artist, "Album Artist");
	expect_str(m.tags.genre, "Rock");
	expect_str(m.tags.composer, "Comp");
	assert_int_equal(m.tags.year, 2021);
	assert_int_equal(m.tags.track, 3);
	assert_int_equal(m.tags.track_total, 12);
	assert_int_equal(m.tags.disc, 1);
	assert_int_equal(m.tags.disc_total, 2);
	assert_true(m.tags.compilation);
	assert_int_equal(m.sample_rate, 44100);
	assert_int_equal(m.channels, 2);
	assert_true(fabs(m.duration - 2.0) < 0.01);
	assert_true(m.picture.present);
	assert_int_equal(m.picture.type, 3);
	assert_int_equal(m.picture.length, png_len);
	assert_memory_equal(file + m.picture.offset, png, png_len);
	assert_int_equal(file[m.audio_start], 0xff);
	assert_int_equal(m.audio_end, len - 128);
	assert_memory_equal(file + m.audio_end, "TAG", 3);
	formats_meta_release(&m);
	free(file);

	run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
	    "-i anullsrc=r=22050:cl=mono -t 1 -id3v2_version 4 "
	    "-metadata title=Four -metadata genre=17 '%s'", path24);
	assert_int_equal(parse_path(path24, &m), 0);
	expect_str(m.tags.title, "Four");
	expect_str(m.tags.genre, "Rock");
	assert_int_equal(m.sample_rate, 22050);
	assert_int_equal(m.channels, 1);
	assert_true(fabs(m.duration - 1.0) < 0.01);
	formats_meta_release(&m);
	free(png);
	free(png_path);
	free(path24);
	free(path);
}

/* Tags written by mutagen: ID3v2.3 frames, APEv2 and ID3v1 together. */
static void test_mp3_mutagen(void **state)
{
	char *path = tmp_path("mutagen.mp3");
	char *script = tmp_path("w.py");
	struct formats_meta m;
	uint8_t *file;
	size_t len;
	FILE *f;

	(void)state;
	if (!have_tool("ffmpeg -version") ||
	    !have_tool("/usr/bin/python3 -c 'import mutagen'"))
		skip();
	run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
	    "-i anullsrc=r=32000:cl=stereo -t 1 -write_xing 0 "
	    "-id3v2_version 0 -b:a 64k '%s'", path);
	f = fopen(script, "w");
	assert_non_null(f);
	fputs("import sys\n"
	      "from mutagen.id3 import ID3, TIT2, TPE1, TPE2, TCON, TRCK, "
	      "TXXX, COMM, APIC, TDRC\n"
	      "from mutagen.apev2 import APEv2\n"
	      "p = sys.argv[1]\n"
	      "t = ID3()\n"
	      "t.add(TIT2(encoding=1, text=['Mutagen \\u00e9']))\n"
	      "t.add(TPE1(encoding=1, text=['One', 'Two']))\n"
	      "t.add(TCON(encoding=0, text=['(9)Metal']))\n"
	      "t.add(TRCK(encoding=0, text=['11/20']))\n"
	      "t.add(TDRC(encoding=0, text=['2005-06']))\n"
	      "t.add(TXXX(encoding=3, desc='MusicBrainz Artist Id', "
	      "text=['mbid']))\n"
	      "t.add(COMM(encoding=3, lang='eng', desc='', text=['hi']))\n"
	      "t.add(APIC(encoding=0, mime='image/jpeg', type=3, desc='', "
	      "data=b'\\xff\\xd8\\xff\\xe0jpegdata'))\n"
	      "a = APEv2()\n"
	      "a['Album'] = 'Ape Album'\n"
	      "a['Title'] = 'not used'\n"
	      "a.save(p)\n"
	      "t.save(p, v2_version=3, v1=2)\n",
	      f);
	fclose(f);
	run("/usr/bin/python3 '%s' '%s'", script, path);
	file = slurp(path, &len);
	assert_non_null(file);
	assert_int_equal(parse_path(path, &m), 0);
	check_invariants(&m, len);
	expect_str(m.tags.title, "Mutagen \xc3\xa9");
	/* 2.3 has no separator: mutagen joins with '/', kept as written */
	expect_str(m.tags.artist, "One/Two");
	expect_str(m.tags.genre, "Metal");
	assert_int_equal(m.tags.track, 11);
	assert_int_equal(m.tags.track_total, 20);
	assert_int_equal(m.tags.year, 2005);
	expect_str(m.tags.comment, "hi");
	expect_str(m.tags.album, "Ape Album");
	expect_str(extra(&m, "TXXX:MusicBrainz Artist Id"), "mbid");
	assert_true(m.picture.present);
	assert_string_equal(m.picture.mime, "image/jpeg");
	assert_memory_equal(file + m.picture.offset, "\xff\xd8\xff\xe0jpeg",
			    8);
	assert_int_equal(m.sample_rate, 32000);
	assert_int_equal(m.bitrate, 64000);
	assert_true(fabs(m.duration - 1.0) < 0.06);
	/* the APE tag and ID3v1 are out of the audio */
	assert_true(m.audio_end < len - 128);
	assert_memory_equal(file + m.audio_end, "APETAGEX", 8);
	assert_memory_equal(file + len - 128, "TAG", 3);
	formats_meta_release(&m);
	free(file);
	free(script);
	free(path);
}

/* ---- detection --------------------------------------------------------- */

static void test_detection(void **state)
{
	struct buf flac = BUF_INIT_MAX(1 << 20);
	struct buf mp3 = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	uint8_t zeros[256] = { 0 };

	(void)state;
	build_flac(&flac);
	mpeg_frames(&mp3, 4);
	/* magic bytes decide, not the name */
	assert_int_equal(parse_buf(&flac, "song.mp3", &m), 0);
	assert_int_equal(m.kind, FORMATS_FLAC);
	formats_meta_release(&m);
	assert_int_equal(parse_buf(&mp3, "song.flac", &m), 0);
	assert_int_equal(m.kind, FORMATS_MP3);
	formats_meta_release(&m);
	assert_int_equal(parse_buf(&mp3, NULL, &m), 0);
	assert_int_equal(m.kind, FORMATS_MP3);
	formats_meta_release(&m);
	assert_int_equal(parse_mem(zeros, sizeof(zeros), "x.mp3", &m),
			 -EBADMSG);
	assert_int_equal(m.kind, FORMATS_UNKNOWN);
	assert_int_equal(parse_mem("", 0, "x.mp3", &m), -EBADMSG);
	assert_int_equal(parse_mem("just some text, not audio", 25, "a.flac",
				   &m),
			 -EBADMSG);
	/* one lone frame header in garbage is not enough */
	assert_int_equal(parse_mem("abc\xff\xfb\x90\x00xyz", 10, "x.mp3", &m),
			 -EBADMSG);
	assert_int_equal(formats_parse(NULL, "x", &m), -EINVAL);
	buf_release(&flac);
	buf_release(&mp3);
}

/* ---- Ogg, WAV, MP4, ADTS ---------------------------------------------- */

/* Write a Python script into the temporary folder and run it on path. */
static void mutagen_script(const char *name, const char *code,
			   const char *path)
{
	char *script = tmp_path(name);
	FILE *f = fopen(script, "w");

	assert_non_null(f);
	fputs(code, f);
	fclose(f);
	run("/usr/bin/python3 '%s' '%s'", script, path);
	unlink(script);
	free(script);
}

static bool have_mutagen(void)
{
	return have_tool("ffmpeg -version") &&
	       have_tool("/usr/bin/python3 -c 'import mutagen'");
}

static const char ogg_tags_py[] =
	"import sys, base64\n"
	"from mutagen import File\n"
	"from mutagen.flac import Picture\n"
	"f = File(sys.argv[1])\n"
	"f['TITLE'] = 'Ogg \u00e9'\n"
	"f['ARTIST'] = ['One', 'Two']\n"
	"f['ALBUM'] = 'Album'\n"
	"f['ALBUMARTIST'] = 'AA'\n"
	"f['GENRE'] = 'Jazz'\n"
	"f['COMPOSER'] = 'Comp'\n"
	"f['DATE'] = '1999-12-31'\n"
	"f['COMMENT'] = 'note'\n"
	"f['TRACKNUMBER'] = '3'\n"
	"f['TRACKTOTAL'] = '12'\n"
	"f['DISCNUMBER'] = '1/2'\n"
	"f['COMPILATION'] = '1'\n"
	"f['BIG'] = 'x' * 100000\n"
	"p = Picture()\n"
	"p.type = 3\n"
	"p.mime = 'image/png'\n"
	"p.data = open(sys.argv[1] + '.png', 'rb').read()\n"
	"f['METADATA_BLOCK_PICTURE'] = "
	"[base64.b64encode(p.write()).decode()]\n"
	"f.save()\n";

static void check_ogg_tags(const struct formats_meta *m, const uint8_t *png,
			   size_t png_len)
{
	expect_str(m->tags.title, "Ogg \xc3\xa9");
	expect_str(m->tags.artist, "One; Two");
	expect_str(m->tags.album, "Album");
	expect_str(m->tags.album_artist, "AA");
	expect_str(m->tags.genre, "Jazz");
	expect_str(m->tags.composer, "Comp");
	assert_int_equal(m->tags.year, 1999);
	expect_str(m->tags.comment, "note");
	assert_int_equal(m->tags.track, 3);
	assert_int_equal(m->tags.track_total, 12);
	assert_int_equal(m->tags.disc, 1);
	assert_int_equal(m->tags.disc_total, 2);
	assert_true(m->tags.compilation);
	assert_non_null(extra(m, "BIG"));
	assert_int_equal(strlen(extra(m, "BIG")), 100000);
	assert_true(m->picture.present);
	assert_int_equal(m->picture.type, 3);
	assert_string_equal(m->picture.mime, "image/png");
	assert_int_equal(m->picture.offset, 0);
	assert_int_equal(m->picture.data_len, png_len);
	assert_memory_equal(m->picture.data, png, png_len);
}

/* The same file parsed lazily: the cover located, then loaded. */
static void check_ogg_lazy_file(const uint8_t *file, size_t len,
				const uint8_t *png, size_t png_len)
{
	struct formats_picture pic;
	struct formats_source src;
	struct formats_mem mem;
	struct formats_meta m;
	uint8_t *data;
	size_t n;

	formats_source_from_mem(&src, &mem, file, len);
	assert_int_equal(formats_parse_flags(&src, "t.ogg",
					     FORMATS_PARSE_LAZY_PICTURES, &m),
			 0);
	check_invariants(&m, len);
	assert_null(m.picture.data);
	assert_int_equal(m.picture.store, FORMATS_PIC_OGG_BASE64);
	assert_int_equal(m.picture.length, png_len);
	pic = m.picture;
	/* what check_ogg_tags wants of the decoded picture */
	m.picture.offset = 0;
	assert_int_equal(formats_picture_load(&src, &pic, &data, &n), 0);
	m.picture.data = data;
	m.picture.data_len = n;
	check_ogg_tags(&m, png, png_len);
	formats_meta_release(&m);
}

/* Ogg Vorbis and Opus from ffmpeg, tagged by mutagen (comments over pages) */
static void test_ogg_tools(void **state)
{
	static const struct {
		const char *file;
		const char *codec;
		enum formats_kind kind;
		uint32_t rate;
	} cases[] = {
		{ "t.ogg", "libvorbis", FORMATS_OGG_VORBIS, 44100 },
		{ "t.opus", "libopus", FORMATS_OPUS, 48000 },
	};
	struct formats_meta m;
	uint8_t *png;
	uint8_t *file;
	size_t png_len;
	size_t len;
	size_t i;
	char *path;

	(void)state;
	if (!have_mutagen())
		skip();
	png = cover_png(&png_len);
	for (i = 0; i < MFS_ARRAY_SIZE(cases); i++) {
		path = tmp_path(cases[i].file);
		run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
		    "-i anullsrc=r=44100:cl=stereo -t 1 -c:a %s '%s'",
		    cases[i].codec, path);
		run("cp '%s/cover.png' '%s.png'", tmpdir, path);
		mutagen_script("ogg.py", ogg_tags_py, path);
		file = slurp(path, &len);
		assert_non_null(file);
		assert_int_equal(parse_path(path, &m), 0);
		check_invariants(&m, len);
		assert_int_equal(m.kind, cases[i].kind);
		assert_int_equal(m.sample_rate, cases[i].rate);
		assert_int_equal(m.channels, 2);
		assert_true(fabs(m.duration - 1.0) < 0.03);
		assert_true(m.bitrate > 0);
		check_ogg_tags(&m, png, png_len);
		/* the comment packet spans pages: audio starts after it */
		assert_true(m.audio_start > 100000);
		assert_memory_equal(file + m.audio_start, "OggS", 4);
		assert_int_equal(m.audio_end, len);
		formats_meta_release(&m);
		check_ogg_lazy_file(file, len, png, png_len);
		free(file);
		run("rm -f '%s' '%s.png'", path, path);
		free(path);
	}
	free(png);
}

static const char wav_id3_py[] =
	"import sys\n"
	"from mutagen.wave import WAVE\n"
	"from mutagen.id3 import TIT2, TPE2\n"
	"f = WAVE(sys.argv[1])\n"
	"f.add_tags()\n"
	"f.tags.add(TIT2(encoding=3, text=['From ID3']))\n"
	"f.tags.add(TPE2(encoding=3, text=['AA']))\n"
	"f.save()\n";

/* WAV with LIST/INFO (ffmpeg) and an "id3 " chunk (mutagen). */
static void test_wav_tools(void **state)
{
	char *path = tmp_path("t.wav");
	struct formats_meta m;
	uint8_t *file;
	size_t len;

	(void)state;
	if (!have_mutagen())
		skip();
	run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
	    "-i anullsrc=r=22050:cl=mono -t 1.5 -c:a pcm_s16le "
	    "-metadata title='Info Title' -metadata artist='Info Artist' "
	    "-metadata album='Info Album' -metadata genre=Blues "
	    "-metadata comment='Info comment' -metadata date=1970 "
	    "-metadata track=4 '%s'", path);
	file = slurp(path, &len);
	assert_non_null(file);
	assert_int_equal(parse_path(path, &m), 0);
	check_invariants(&m, len);
	assert_int_equal(m.kind, FORMATS_WAV);
	assert_int_equal(m.sample_rate, 22050);
	assert_int_equal(m.channels, 1);
	assert_int_equal(m.bitrate, 22050 * 16);
	assert_true(fabs(m.duration - 1.5) < 1e-9);
	expect_str(m.tags.title, "Info Title");
	expect_str(m.tags.artist, "Info Artist");
	expect_str(m.tags.album, "Info Album");
	expect_str(m.tags.genre, "Blues");
	expect_str(m.tags.comment, "Info comment");
	assert_int_equal(m.tags.year, 1970);
	assert_int_equal(m.tags.track, 4);
	assert_memory_equal(file + m.audio_start - 8, "data", 4);
	assert_int_equal(m.audio_end - m.audio_start, 22050 * 2 * 3 / 2);
	formats_meta_release(&m);
	free(file);
	/* an ID3v2 tag in an "id3 " chunk wins over INFO */
	mutagen_script("wav.py", wav_id3_py, path);
	file = slurp(path, &len);
	assert_int_equal(parse_path(path, &m), 0);
	check_invariants(&m, len);
	expect_str(m.tags.title, "From ID3");
	expect_str(m.tags.album_artist, "AA");
	expect_str(m.tags.artist, "Info Artist");
	assert_true(fabs(m.duration - 1.5) < 1e-9);
	formats_meta_release(&m);
	free(file);
	unlink(path);
	free(path);
}

static const char m4a_py[] =
	"import sys\n"
	"from mutagen.mp4 import MP4, MP4FreeForm\n"
	"f = MP4(sys.argv[1])\n"
	"f['----:com.apple.iTunes:MusicBrainz Track Id'] = "
	"[MP4FreeForm(b'mb-track')]\n"
	"f['tmpo'] = [120]\n"
	"f.save()\n";

/* M4A from ffmpeg (moov after mdat, then before it), tags and cover. */
static void test_m4a_tools(void **state)
{
	static const char *const flags[] = { "", "-movflags +faststart" };
	char *path = tmp_path("t.m4a");
	char *png_path = tmp_path("cover.png");
	struct formats_meta m;
	uint8_t *file;
	uint8_t *png;
	size_t png_len;
	size_t len;
	size_t i;

	(void)state;
	if (!have_mutagen())
		skip();
	png = cover_png(&png_len);
	for (i = 0; i < MFS_ARRAY_SIZE(flags); i++) {
		run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
		    "-i anullsrc=r=48000:cl=stereo -i '%s' -t 2 -map 0 -map 1 "
		    "-c:a aac -b:a 96k -c:v copy -disposition:v attached_pic "
		    "%s -metadata title='M4A \xc3\xa9' -metadata artist=Artist "
		    "-metadata album=Album -metadata album_artist=AA "
		    "-metadata genre=Soul -metadata composer=Comp "
		    "-metadata date=2012-01-02 -metadata comment=Hello "
		    "-metadata track=3/12 -metadata disc=1/2 "
		    "-metadata compilation=1 '%s'", png_path, flags[i], path);
		mutagen_script("m4a.py", m4a_py, path);
		file = slurp(path, &len);
		assert_non_null(file);
		assert_int_equal(parse_path(path, &m), 0);
		check_invariants(&m, len);
		assert_int_equal(m.kind, FORMATS_M4A);
		assert_int_equal(m.sample_rate, 48000);
		assert_int_equal(m.channels, 2);
		assert_true(fabs(m.duration - 2.0) < 0.05);
		assert_true(m.bitrate > 0);
		expect_str(m.tags.title, "M4A \xc3\xa9");
		expect_str(m.tags.artist, "Artist");
		expect_str(m.tags.album, "Album");
		expect_str(m.tags.album_artist, "AA");
		expect_str(m.tags.genre, "Soul");
		expect_str(m.tags.composer, "Comp");
		expect_str(m.tags.date, "2012-01-02");
		expect_str(m.tags.comment, "Hello");
		assert_int_equal(m.tags.track, 3);
		assert_int_equal(m.tags.track_total, 12);
		assert_int_equal(m.tags.disc, 1);
		assert_int_equal(m.tags.disc_total, 2);
		assert_true(m.tags.compilation);
		expect_str(extra(&m,
				 "----:com.apple.iTunes:MusicBrainz Track Id"),
			   "mb-track");
		expect_str(extra(&m, "tmpo"), "120");
		assert_true(m.picture.present);
		assert_string_equal(m.picture.mime, "image/png");
		assert_int_equal(m.picture.length, png_len);
		assert_memory_equal(file + m.picture.offset, png, png_len);
		assert_memory_equal(file + m.audio_start - 4, "mdat", 4);
		formats_meta_release(&m);
		free(file);
	}
	unlink(path);
	free(png);
	free(png_path);
	free(path);
}

static const char aac_py[] =
	"import sys\n"
	"from mutagen.id3 import ID3, TIT2, TPE1\n"
	"t = ID3()\n"
	"t.add(TIT2(encoding=3, text=['ADTS title']))\n"
	"t.add(TPE1(encoding=3, text=['ADTS artist']))\n"
	"t.save(sys.argv[1], v1=2)\n";

/* ADTS from ffmpeg with an ID3v2 tag before and ID3v1 after. */
static void test_adts_tools(void **state)
{
	char *path = tmp_path("t.aac");
	struct formats_meta m;
	uint8_t *file;
	size_t len;

	(void)state;
	if (!have_mutagen())
		skip();
	run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
	    "-i anullsrc=r=32000:cl=mono -t 3 -c:a aac -b:a 32k -f adts '%s'",
	    path);
	mutagen_script("aac.py", aac_py, path);
	file = slurp(path, &len);
	assert_non_null(file);
	assert_int_equal(parse_path(path, &m), 0);
	check_invariants(&m, len);
	assert_int_equal(m.kind, FORMATS_AAC);
	assert_int_equal(m.sample_rate, 32000);
	assert_int_equal(m.channels, 1);
	assert_true(fabs(m.duration - 3.0) < 0.1);
	assert_true(m.bitrate > 0);
	expect_str(m.tags.title, "ADTS title");
	expect_str(m.tags.artist, "ADTS artist");
	assert_int_equal(file[m.audio_start], 0xff);
	assert_int_equal(m.audio_end, len - 128);
	formats_meta_release(&m);
	/* named .mp3, still AAC */
	assert_int_equal(parse_mem(file, len, "x.mp3", &m), 0);
	assert_int_equal(m.kind, FORMATS_AAC);
	formats_meta_release(&m);
	free(file);
	unlink(path);
	free(path);
}

/* ---- robustness -------------------------------------------------------- */

/* A tagged MP3 with every kind of tag, for the truncation tests. */
static void build_mp3(struct buf *b)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf items = BUF_INIT_MAX(1 << 20);
	struct buf f = BUF_INIT_MAX(1 << 20);

	id3_text_s(&body, 4, "TIT2", "Title");
	id3_text(&body, 4, "TPE1", 3, "A\0B", 3);
	apic(&f, 4, 3);
	id3_frame(&body, 4, "APIC", 0, f.data, f.len);
	id3_tag(b, 4, 0, &body, 30);
	mpeg_xing(b, "Xing", 6, 6 * MPEG_FRAME_LEN, 576, 100);
	mpeg_frames(b, 5);
	ape_item(&items, "Album", 0, "Ape", 3);
	ape_tag(b, &items, 1);
	id3v1_tag(b, "V1", "V1", "V1", "2000", "", 1, 1);
	buf_release(&f);
	buf_release(&items);
	buf_release(&body);
}

static void parse_all_prefixes(const struct buf *b, const char *name)
{
	struct formats_meta m;
	size_t n;
	int rc;

	for (n = 0; n <= b->len; n++) {
		rc = parse_mem(b->data, n, name, &m);
		assert_true(rc == 0 || rc == -EBADMSG);
		if (!rc)
			check_invariants(&m, n);
		formats_meta_release(&m);
	}
}

static size_t atom_begin(struct buf *b, const char *type)
{
	size_t at = b->len;

	put_be32(b, 0);
	put(b, type, 4);
	return at;
}

static void atom_end(struct buf *b, size_t at)
{
	uint32_t size = (uint32_t)(b->len - at);
	uint8_t *p = (uint8_t *)b->data + at;

	p[0] = (uint8_t)(size >> 24);
	p[1] = (uint8_t)(size >> 16);
	p[2] = (uint8_t)(size >> 8);
	p[3] = (uint8_t)size;
}

/* An ilst item with one data atom of the given type. */
static void m4a_item(struct buf *b, const char *type, uint32_t dtype,
		     const void *v, size_t n)
{
	size_t item = atom_begin(b, type);
	size_t data = atom_begin(b, "data");

	put_be32(b, dtype);
	put_be32(b, 0);
	put(b, v, n);
	atom_end(b, data);
	atom_end(b, item);
}

static void build_m4a(struct buf *b)
{
	size_t moov, trak, mdia, minf, stbl, stsd, mp4a, esds;
	size_t udta, meta, ilst, item, a;

	a = atom_begin(b, "ftyp");
	put_s(b, "M4A ");
	put_be32(b, 0);
	atom_end(b, a);
	moov = atom_begin(b, "moov");
	a = atom_begin(b, "mvhd");
	put_be32(b, 0);
	put_be32(b, 0);
	put_be32(b, 0);
	put_be32(b, 1000);
	put_be32(b, 9999);
	put_zeros(b, 80);
	atom_end(b, a);
	trak = atom_begin(b, "trak");
	mdia = atom_begin(b, "mdia");
	a = atom_begin(b, "mdhd");
	put_be32(b, 1 << 24);	/* version 1 */
	put_zeros(b, 16);
	put_be32(b, 44100);
	put_be32(b, 0);
	put_be32(b, 44100 * 3);
	put_be32(b, 0);
	atom_end(b, a);
	a = atom_begin(b, "hdlr");
	put_be32(b, 0);
	put_be32(b, 0);
	put_s(b, "soun");
	put_zeros(b, 13);
	atom_end(b, a);
	minf = atom_begin(b, "minf");
	stbl = atom_begin(b, "stbl");
	stsd = atom_begin(b, "stsd");
	put_be32(b, 0);
	put_be32(b, 1);
	mp4a = atom_begin(b, "mp4a");
	put_zeros(b, 6);
	put_be16(b, 1);
	put_zeros(b, 8);
	put_be16(b, 1);		/* channels */
	put_be16(b, 16);
	put_zeros(b, 4);
	put_be32(b, 44100u << 16);
	esds = atom_begin(b, "esds");
	put_be32(b, 0);
	put_u8(b, 3);
	put_u8(b, 0x80);	/* a length in two bytes */
	put_u8(b, 25);
	put_be16(b, 1);
	put_u8(b, 0);
	put_u8(b, 4);
	put_u8(b, 17);
	put_u8(b, 0x40);
	put_u8(b, 0x15);
	put_be24(b, 0);
	put_be32(b, 160000);
	put_be32(b, 128000);
	put_u8(b, 5);
	put_u8(b, 2);
	put_be16(b, 0x1208);
	atom_end(b, esds);
	atom_end(b, mp4a);
	atom_end(b, stsd);
	a = atom_begin(b, "stsz");	/* never read */
	put_zeros(b, 1000);
	atom_end(b, a);
	atom_end(b, stbl);
	atom_end(b, minf);
	atom_end(b, mdia);
	atom_end(b, trak);
	udta = atom_begin(b, "udta");
	meta = atom_begin(b, "meta");
	put_be32(b, 0);
	a = atom_begin(b, "hdlr");
	put_zeros(b, 8);
	put_s(b, "mdirappl");
	put_zeros(b, 9);
	atom_end(b, a);
	ilst = atom_begin(b, "ilst");
	m4a_item(b, "\xa9nam", 2, "\0T\0\xed", 4);
	m4a_item(b, "\xa9" "ART", 1, "First", 5);
	m4a_item(b, "\xa9" "ART", 1, "Second", 6);
	m4a_item(b, "gnre", 0, "\0\x12", 2);
	m4a_item(b, "trkn", 0, "\0\0\0\x05\0\x09\0\0", 8);
	m4a_item(b, "disk", 0, "\0\0\0\x01\0\x02", 6);
	m4a_item(b, "cpil", 21, "\x01", 1);
	m4a_item(b, "\xa9too", 1, "enc", 3);
	item = atom_begin(b, "----");
	a = atom_begin(b, "mean");
	put_be32(b, 0);
	put_s(b, "com.apple.iTunes");
	atom_end(b, a);
	a = atom_begin(b, "name");
	put_be32(b, 0);
	put_s(b, "LABEL");
	atom_end(b, a);
	a = atom_begin(b, "data");
	put_be32(b, 1);
	put_be32(b, 0);
	put_s(b, "Lbl");
	atom_end(b, a);
	atom_end(b, item);
	item = atom_begin(b, "covr");
	a = atom_begin(b, "data");
	put_be32(b, 13);
	put_be32(b, 0);
	put(b, "\xff\xd8\xff\xe0jpeg", 8);
	atom_end(b, a);
	a = atom_begin(b, "data");
	put_be32(b, 14);
	put_be32(b, 0);
	put(b, fake_png, sizeof(fake_png));
	atom_end(b, a);
	atom_end(b, item);
	atom_end(b, ilst);
	atom_end(b, meta);
	atom_end(b, udta);
	atom_end(b, moov);
	/* mdat with a 64-bit size */
	put_be32(b, 1);
	put_s(b, "mdat");
	put_be32(b, 0);
	put_be32(b, 16 + 100);
	put_zeros(b, 100);
}

static void test_m4a_bytes(void **state)
{
	struct buf b = BUF_INIT_MAX(1 << 24);
	struct formats_meta m;
	size_t i;

	(void)state;
	build_m4a(&b);
	assert_int_equal(parse_buf(&b, "x.m4a", &m), 0);
	check_invariants(&m, b.len);
	assert_int_equal(m.kind, FORMATS_M4A);
	assert_true(fabs(m.duration - 3.0) < 1e-9);
	assert_int_equal(m.sample_rate, 44100);
	assert_int_equal(m.channels, 1);
	assert_int_equal(m.bitrate, 128000);
	expect_str(m.tags.title, "T\xc3\xad");
	expect_str(m.tags.artist, "First; Second");
	expect_str(m.tags.genre, "Rock");
	assert_int_equal(m.tags.track, 5);
	assert_int_equal(m.tags.track_total, 9);
	assert_int_equal(m.tags.disc, 1);
	assert_int_equal(m.tags.disc_total, 2);
	assert_true(m.tags.compilation);
	expect_str(extra(&m, "----:com.apple.iTunes:LABEL"), "Lbl");
	expect_str(extra(&m, "\xc2\xa9too"), "enc");
	assert_true(m.picture.present);
	assert_string_equal(m.picture.mime, "image/jpeg");
	assert_int_equal(m.picture.offset, find(&b, "\xff\xd8\xff\xe0", 4));
	assert_int_equal(m.picture.length, 8);
	assert_int_equal(m.audio_start, b.len - 100);
	assert_int_equal(m.audio_end, b.len);
	formats_meta_release(&m);
	parse_all_prefixes(&b, "x.m4a");

	/* hostile trees: deep nesting, many atoms, 64-bit and tiny sizes */
	buf_reset(&b);
	i = atom_begin(&b, "ftyp");
	atom_end(&b, i);
	atom_begin(&b, "moov");
	for (i = 0; i < 1000; i++)
		atom_begin(&b, "udta");
	assert_int_equal(parse_buf(&b, "x.m4a", &m), -EBADMSG);
	buf_reset(&b);
	i = atom_begin(&b, "ftyp");
	atom_end(&b, i);
	put_be32(&b, 1);
	put_s(&b, "moov");
	put_be32(&b, 0xffffffff);
	put_be32(&b, 0xffffffff);
	for (i = 0; i < 200000; i++) {
		put_be32(&b, 8);
		put_s(&b, "free");
	}
	put_be32(&b, 4);
	put_s(&b, "trak");
	assert_int_equal(parse_buf(&b, "x.m4a", &m), -EBADMSG);
	buf_release(&b);
}

static void test_wav_bytes(void **state)
{
	struct buf items = BUF_INIT_MAX(1 << 20);
	struct buf tag = BUF_INIT_MAX(1 << 20);
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t data;

	(void)state;
	put_s(&items, "INFO");
	put_s(&items, "INAM");
	put_le32(&items, 5);
	put(&items, "Name\0\0", 6);	/* odd size: padded */
	put_s(&items, "IART");
	put_le32(&items, 7);
	put(&items, "Mot\xf6rh\0", 8);	/* Latin-1 */
	put_s(&items, "ISFT");
	put_le32(&items, 3);
	put(&items, "abc\0", 4);
	put_s(&items, "ICRD");
	put_le32(&items, 0x7fffffff);	/* runs past the list */
	id3_text_s(&body, 3, "TALB", "Id3 Album");
	id3_tag(&tag, 3, 0, &body, 0);
	put_s(&b, "RIFF");
	put_le32(&b, 0);
	put_s(&b, "WAVE");
	put_s(&b, "fmt ");
	put_le32(&b, 16);
	put_be16(&b, 0x0100);
	put_be16(&b, 0x0200);
	put_le32(&b, 8000);
	put_le32(&b, 32000);
	put_be16(&b, 0x0400);
	put_be16(&b, 0x1000);
	put_s(&b, "LIST");
	put_le32(&b, (uint32_t)items.len);
	put_buf(&b, &items);
	put_s(&b, "id3 ");
	put_le32(&b, (uint32_t)tag.len);
	put_buf(&b, &tag);
	put_s(&b, "data");
	put_le32(&b, 0xffffffff);	/* streamed: to the end */
	data = b.len;
	put_zeros(&b, 64000);
	assert_int_equal(parse_buf(&b, "x.wav", &m), 0);
	check_invariants(&m, b.len);
	assert_int_equal(m.kind, FORMATS_WAV);
	assert_int_equal(m.sample_rate, 8000);
	assert_int_equal(m.channels, 2);
	assert_int_equal(m.audio_start, data);
	assert_int_equal(m.audio_end, b.len);
	assert_true(fabs(m.duration - 2.0) < 1e-9);
	expect_str(m.tags.title, "Name");
	expect_str(m.tags.artist, "Mot\xc3\xb6rh");
	expect_str(m.tags.album, "Id3 Album");
	expect_str(extra(&m, "ISFT"), "abc");
	formats_meta_release(&m);
	b.len = data + 16;
	parse_all_prefixes(&b, "x.wav");
	/* no data chunk: not a usable file */
	b.len = data - 8;
	assert_int_equal(parse_buf(&b, "x.wav", &m), -EBADMSG);
	buf_release(&items);
	buf_release(&tag);
	buf_release(&body);
	buf_release(&b);
}

/* ADTS frames of 100 bytes: AAC LC, 44.1 kHz, stereo. */
static void adts_frames(struct buf *b, unsigned n)
{
	static const uint8_t h[] = { 0xff, 0xf1, 0x50, 0x80, 0x0c, 0x9f, 0xfc };

	while (n--) {
		put(b, h, sizeof(h));
		put_zeros(b, 100 - sizeof(h));
	}
}

/* The file name is a hint only where a frame sync must be searched for. */
static void test_adts_bytes(void **state)
{
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;

	(void)state;
	adts_frames(&b, 10);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	assert_int_equal(m.kind, FORMATS_AAC);
	assert_int_equal(m.sample_rate, 44100);
	assert_int_equal(m.channels, 2);
	assert_true(fabs(m.duration - 10 * 1024 / 44100.0) < 1e-9);
	assert_int_equal(m.bitrate, (uint32_t)(1000 * 8 / m.duration));
	formats_meta_release(&m);
	/* junk before the first frame: searched for in a ".aac" only */
	buf_reset(&b);
	put_s(&b, "xyz");
	adts_frames(&b, 10);
	assert_int_equal(parse_buf(&b, "x.AAC", &m), 0);
	assert_int_equal(m.kind, FORMATS_AAC);
	assert_int_equal(m.audio_start, 3);
	formats_meta_release(&m);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), -EBADMSG);
	assert_int_equal(parse_buf(&b, NULL, &m), -EBADMSG);
	parse_all_prefixes(&b, "x.aac");
	buf_release(&b);
}

/* Short files of every format written by ffmpeg, cut at every length. */
static void test_tools_truncated(void **state)
{
	static const char *const files[] = { "c.ogg", "c.opus", "c.m4a",
					     "c.aac", "c.wav", "c.flac",
					     "c.mp3" };
	static const char *const codecs[] = { "libvorbis", "libopus", "aac",
					      "aac", "pcm_u8", "flac",
					      "libmp3lame" };
	struct buf b = BUF_INIT_MAX(1 << 24);
	uint8_t *file;
	size_t len;
	size_t i;
	char *path;

	(void)state;
	if (!have_tool("ffmpeg -version"))
		skip();
	for (i = 0; i < MFS_ARRAY_SIZE(files); i++) {
		path = tmp_path(files[i]);
		run("ffmpeg -hide_banner -loglevel error -y -f lavfi "
		    "-i anullsrc=r=8000:cl=mono -t 0.2 -c:a %s "
		    "-metadata title=Cut -metadata artist=Cut '%s'",
		    codecs[i], path);
		file = slurp(path, &len);
		assert_non_null(file);
		buf_reset(&b);
		put(&b, file, len);
		parse_all_prefixes(&b, files[i]);
		free(file);
		unlink(path);
		free(path);
	}
	buf_release(&b);
}

static void test_truncated(void **state)
{
	struct buf b = BUF_INIT_MAX(1 << 20);

	(void)state;
	build_mp3(&b);
	parse_all_prefixes(&b, "x.mp3");
	buf_release(&b);
}

/* Lengths that claim far more than the file holds. */
static void test_id3_claims(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	int i;

	(void)state;
	/* a tag size of 256 MiB in a 100-byte file */
	id3_text_s(&body, 3, "TIT2", "Short");
	put_s(&b, "ID3");
	put_u8(&b, 3);
	put_u8(&b, 0);
	put_u8(&b, 0);
	put_syncsafe(&b, 0x0fffffff);
	put_buf(&b, &body);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.title, "Short");
	check_invariants(&m, b.len);
	formats_meta_release(&m);
	/* a frame of 4 GiB: the frames before it are kept */
	buf_reset(&b);
	put_s(&body, "TPE1");
	put_be32(&body, 0xffffffff);
	put_be16(&body, 0);
	put_s(&body, "xyz");
	id3_tag(&b, 3, 0, &body, 0);
	mpeg_frames(&b, 2);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.title, "Short");
	assert_null(m.tags.artist);
	assert_int_equal(m.sample_rate, 44100);
	formats_meta_release(&m);
	/* a thousand empty frames: no loop, no values */
	buf_reset(&b);
	buf_reset(&body);
	for (i = 0; i < 1000; i++)
		id3_frame(&body, 4, "TIT2", 0, "", 0);
	id3_text_s(&body, 4, "TPE1", "End");
	id3_tag(&b, 4, 0, &body, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_null(m.tags.title);
	expect_str(m.tags.artist, "End");
	formats_meta_release(&m);
	/* an extended header claiming more than the tag */
	buf_reset(&b);
	buf_reset(&body);
	put_be32(&body, 0x7fffffff);
	id3_text_s(&body, 3, "TIT2", "Hidden");
	id3_tag(&b, 3, 0x40, &body, 0);
	mpeg_frames(&b, 2);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_null(m.tags.title);
	formats_meta_release(&m);
	/* the extended header flag without an extended header (mutagen
	 * issue 21): the frames are read anyway */
	buf_reset(&b);
	buf_reset(&body);
	id3_text_s(&body, 4, "TIT2", "Punk");
	id3_tag(&b, 4, 0x40, &body, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	expect_str(m.tags.title, "Punk");
	formats_meta_release(&m);
	/* an unknown text encoding; a Xing count of 4 billion */
	buf_reset(&b);
	buf_reset(&body);
	id3_text(&body, 3, "TIT2", 7, "bad", 3);
	id3_tag(&b, 3, 0, &body, 0);
	mpeg_xing(&b, "Xing", 0xffffffff, 0xffffffff, 0, 0);
	mpeg_frames(&b, 2);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_null(m.tags.title);
	assert_true(m.duration > 1e5 && isfinite(m.duration));
	check_invariants(&m, b.len);
	formats_meta_release(&m);
	buf_release(&body);
	buf_release(&b);
}

/* Many values for one field: joined up to the caps, never unbounded. */
static void test_caps(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 24);
	struct buf b = BUF_INIT_MAX(1 << 24);
	struct buf big = BUF_INIT_MAX(1 << 24);
	struct formats_meta m;
	char item[32];
	size_t j;
	int i;

	(void)state;
	put_le32(&body, 0);
	put_le32(&body, 20000);
	for (i = 0; i < 20000; i++) {
		snprintf(item, sizeof(item), "X%d=v", i);
		put_le32(&body, (uint32_t)strlen(item));
		put_s(&body, item);
	}
	flac_streaminfo(&b, 44100, 2, 44100);
	flac_block(&b, 4, true, &body);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	assert_int_equal(m.tags.n_extra, FORMATS_MAX_EXTRA);
	formats_meta_release(&m);
	/* 1000 artists: FORMATS_MAX_JOIN of them */
	buf_reset(&body);
	buf_reset(&b);
	put_le32(&body, 0);
	put_le32(&body, 1000);
	for (i = 0; i < 1000; i++) {
		put_le32(&body, 8);
		put_s(&body, "ARTIST=a");
	}
	flac_streaminfo(&b, 44100, 2, 44100);
	flac_block(&b, 4, true, &body);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	assert_int_equal(strlen(m.tags.artist), FORMATS_MAX_JOIN * 3 - 2);
	formats_meta_release(&m);
	/* 16000 values of 1000 bytes for one extra key: joined in linear
	 * time up to FORMATS_MAX_JOIN */
	buf_reset(&body);
	buf_reset(&b);
	put_le32(&body, 0);
	put_le32(&body, 16000);
	for (i = 0; i < 16000; i++) {
		put_le32(&body, 1002);
		put_s(&body, "K=");
		memset(item, 'v', sizeof(item));
		for (j = 0; j < 1000 / sizeof(item); j++)
			put(&body, item, sizeof(item));
		put(&body, item, 1000 % sizeof(item));
	}
	flac_streaminfo(&b, 44100, 2, 44100);
	flac_block(&b, 4, true, &body);
	assert_int_equal(parse_buf(&b, "x.flac", &m), 0);
	expect_str(m.tags.extra[0].key, "K");
	assert_int_equal(strlen(m.tags.extra[0].value),
			 FORMATS_MAX_JOIN * 1002 - 2);
	formats_meta_release(&m);
	/* a 2 MiB title is cut at FORMATS_MAX_VALUE */
	buf_reset(&body);
	buf_reset(&b);
	put_u8(&big, 0);
	for (i = 0; i < (2 << 20); i++)
		put_u8(&big, 'x');
	id3_frame(&body, 3, "TIT2", 0, big.data, big.len);
	id3_tag(&b, 3, 0, &body, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	assert_int_equal(strlen(m.tags.title), FORMATS_MAX_VALUE);
	formats_meta_release(&m);
	buf_release(&big);
	buf_release(&body);
	buf_release(&b);
}

/*
 * A source of a large file that exists only in parts: head bytes at 0,
 * tail bytes at tail_off, zeros between.  Counts reads; fails the Nth one
 * (and every later one if persistent).
 */
struct sparse {
	const uint8_t *head;
	size_t head_len;
	const uint8_t *tail;
	size_t tail_len;
	uint64_t tail_off;
	uint64_t bytes;
	int calls;
	int fail_at;
	bool persistent;
};

static ssize_t sparse_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct sparse *s = ctx;
	uint8_t *out = buf;
	size_t i;

	s->calls++;
	if (s->fail_at && (s->calls == s->fail_at ||
			   (s->persistent && s->calls > s->fail_at)))
		return -EIO;
	for (i = 0; i < len; i++) {
		uint64_t at = off + i;

		if (at < s->head_len)
			out[i] = s->head[at];
		else if (at >= s->tail_off && at - s->tail_off < s->tail_len)
			out[i] = s->tail[at - s->tail_off];
		else
			out[i] = 0;
	}
	s->bytes += len;
	return (ssize_t)len;
}

/* A 20 MiB ID3v2 tag (a big picture) is read frame by frame. */
static void test_big_tag(void **state)
{
	struct buf head = BUF_INIT_MAX(1 << 20);
	struct buf tail = BUF_INIT_MAX(1 << 20);
	struct formats_source src;
	struct formats_meta m;
	struct sparse s;
	uint32_t pic_len = 20u << 20;	/* APIC content: 13 + the image */
	uint64_t tag_len;
	size_t apic_at;
	size_t tpe1_len;

	(void)state;
	id3_text_s(&tail, 3, "TPE1", "After");
	tpe1_len = tail.len;
	mpeg_frames(&tail, 3);
	/* the header, TIT2, the APIC header and the start of its image */
	id3_text_s(&head, 3, "TIT2", "Big");
	apic_at = 10 + head.len;
	tag_len = head.len + 10 + pic_len + tpe1_len;
	buf_reset(&head);
	put_s(&head, "ID3");
	put_u8(&head, 3);
	put_u8(&head, 0);
	put_u8(&head, 0);
	put_syncsafe(&head, (uint32_t)tag_len);
	id3_text_s(&head, 3, "TIT2", "Big");
	put_s(&head, "APIC");
	put_be32(&head, pic_len);
	put_be16(&head, 0);
	put_u8(&head, 0);
	put(&head, "image/png", 10);
	put_u8(&head, 3);
	put_u8(&head, 0);
	assert_int_equal(head.len, apic_at + 10 + 13);
	put(&head, fake_png, sizeof(fake_png));
	memset(&s, 0, sizeof(s));
	s.head = (const uint8_t *)head.data;
	s.head_len = head.len;
	s.tail = (const uint8_t *)tail.data;
	s.tail_len = tail.len;
	s.tail_off = 10 + tag_len - tpe1_len;
	src.read_at = sparse_read;
	src.ctx = &s;
	src.size = s.tail_off + tail.len;
	assert_int_equal(formats_parse(&src, "big.mp3", &m), 0);
	check_invariants(&m, src.size);
	expect_str(m.tags.title, "Big");
	expect_str(m.tags.artist, "After");
	assert_true(m.picture.present);
	assert_string_equal(m.picture.mime, "image/png");
	assert_int_equal(m.picture.offset, apic_at + 10 + 13);
	assert_int_equal(m.picture.length, pic_len - 13);
	assert_int_equal(m.audio_start, 10 + tag_len);
	assert_int_equal(m.sample_rate, 44100);
	assert_true(s.bytes < (1u << 20));
	formats_meta_release(&m);

	/* unsynchronised as a whole it would have to be decoded in memory */
	head.data[5] = (char)0x80;
	s.bytes = 0;
	assert_int_equal(formats_parse(&src, "big.mp3", &m), -EFBIG);
	assert_true(s.bytes < (1u << 20));
	assert_null(m.tags.title);
	buf_release(&head);
	buf_release(&tail);
}

/* A failing read (the Nth, once or from then on) gives its -errno. */
static void test_read_errors(void **state)
{
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_source src;
	struct formats_meta m;
	struct sparse s;
	int calls;
	int n;
	int rc;

	(void)state;
	build_mp3(&b);
	memset(&s, 0, sizeof(s));
	s.head = (const uint8_t *)b.data;
	s.head_len = b.len;
	src.read_at = sparse_read;
	src.ctx = &s;
	src.size = b.len;
	assert_int_equal(formats_parse(&src, "x.mp3", &m), 0);
	formats_meta_release(&m);
	calls = s.calls;
	assert_int_equal(calls, 1);	/* all in the header window */
	for (n = 1; n <= calls + 1; n++) {
		s.calls = 0;
		s.fail_at = n;
		s.persistent = n % 2;
		rc = formats_parse(&src, "x.mp3", &m);
		assert_true(rc == -EIO || (n > calls && rc == 0));
		formats_meta_release(&m);
	}
	/* a big file: the tail is read separately */
	s.tail = (const uint8_t *)b.data;
	s.tail_len = b.len;
	s.tail_off = 1 << 20;
	s.head_len = 0;
	src.size = s.tail_off + b.len;
	s.fail_at = 0;
	s.calls = 0;
	rc = formats_parse(&src, "x.mp3", &m);
	assert_int_equal(rc, -EBADMSG);	/* 1 MiB of zeros, then an mp3 */
	calls = s.calls;
	for (n = 1; n <= calls; n++) {
		s.calls = 0;
		s.fail_at = n;
		s.persistent = n % 2;
		rc = formats_parse(&src, "x.mp3", &m);
		assert_true(rc == -EIO || rc == -EBADMSG);
		formats_meta_release(&m);
	}
	buf_release(&b);
}

/* ---- fuzz findings ----------------------------------------------------- */

/*
 * Fuzz finding 1: a TYER value longer than the room kept for it was cut
 * inside a UTF-8 sequence, and the date was not valid UTF-8; so could a
 * long TXXX/COMM description in the key.
 */
/*
 * Fuzz finding 2: a UTF-16 value made of two BOMs gave a title starting
 * with U+FEFF; byte order marks are now dropped wherever they are.
 */
static void test_fuzz_double_bom(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;

	(void)state;
	id3_text(&body, 3, "TIT2", 1, "\xfe\xff\xfe\xff\0\0\x3b\x30", 8);
	id3_text(&body, 3, "TPE1", 3, "\xef\xbb\xbf\xef\xbb\xbf" "A", 7);
	id3_tag(&b, 3, 0, &body, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	expect_str(m.tags.title, "\xe3\xac\xb0");
	expect_str(m.tags.artist, "A");
	formats_meta_release(&m);
	buf_release(&body);
	buf_release(&b);
}

/*
 * Fuzz finding 3: an ID3v2.4 tag at the end whose footer claims more
 * bytes than the file has was bounded by the claim, not by the file, when
 * read frame by frame: a picture ran past the end of the file.
 */
static void test_fuzz_trailer_claim(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	size_t tag;
	int pass;

	(void)state;
	id3_text_s(&body, 4, "TIT2", "Trailer");
	put_s(&body, "APIC");
	put_syncsafe(&body, 2000);
	put_be16(&body, 0);
	put_u8(&body, 0);
	put(&body, "image/png", 10);
	put_u8(&body, 3);
	put_u8(&body, 0);
	put(&body, fake_png, sizeof(fake_png));
	mpeg_frames(&b, 3);
	tag = b.len;
	put_s(&b, "ID3");
	put_u8(&b, 4);
	put_u8(&b, 0);
	put_u8(&b, 0x10);
	put_syncsafe(&b, (uint32_t)body.len + 3000);
	put_buf(&b, &body);
	put_s(&b, "3DI");
	put(&b, b.data + tag + 3, 7);
	for (pass = 0; pass < 2; pass++) {
		formats_id3_whole_max = pass ? 16 : (size_t)1 << 20;
		assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
		check_invariants(&m, b.len);
		expect_str(m.tags.title, "Trailer");
		assert_false(m.picture.present);
		assert_int_equal(m.audio_end, tag);
		formats_meta_release(&m);
	}
	formats_id3_whole_max = (size_t)1 << 20;
	buf_release(&body);
	buf_release(&b);
}

/*
 * Fuzz finding 4 (UBSan): an empty frame in an unsynchronised tag was
 * copied from a NULL pointer.  Empty chunks now point at a static byte.
 */
static void test_fuzz_empty_unsync_frame(void **state)
{
	static const uint8_t file[] = {
		'I', 'D', '3', 4, 0, 0xc0, 0, 0, 1, 0x14,
		'C', 'O', 'M', 'M', 0, 0, 0, 0, 0, 0,
	};
	struct formats_meta m;

	(void)state;
	assert_int_equal(parse_mem(file, sizeof(file), "f.mp3", &m), 0);
	check_invariants(&m, sizeof(file));
	assert_int_equal(m.tags.n_extra, 0);
	formats_meta_release(&m);
}

static void test_fuzz_cut_utf8(void **state)
{
	struct buf body = BUF_INIT_MAX(1 << 20);
	struct buf f = BUF_INIT_MAX(1 << 20);
	struct buf b = BUF_INIT_MAX(1 << 20);
	struct formats_meta m;
	int i;

	(void)state;
	put_u8(&f, 0);
	for (i = 0; i < 12; i++)
		put_u8(&f, 0xe9);
	id3_frame(&body, 3, "TYER", 0, f.data, f.len);
	buf_reset(&f);
	put_u8(&f, 0);
	for (i = 0; i < 300; i++)
		put_u8(&f, 0xe9);
	put_u8(&f, 0);
	put_s(&f, "value");
	id3_frame(&body, 3, "TXXX", 0, f.data, f.len);
	buf_reset(&f);
	put(&f, "\0eng", 4);
	for (i = 0; i < 300; i++)
		put_u8(&f, 0xe9);
	put_u8(&f, 0);
	put_s(&f, "text");
	id3_frame(&body, 3, "COMM", 0, f.data, f.len);
	id3_tag(&b, 3, 0, &body, 0);
	assert_int_equal(parse_buf(&b, "x.mp3", &m), 0);
	check_invariants(&m, b.len);
	assert_non_null(m.tags.date);
	assert_int_equal(m.tags.n_extra, 2);
	assert_int_equal(strlen(m.tags.extra[0].key), 5 + 2 * 256);
	formats_meta_release(&m);
	buf_release(&f);
	buf_release(&body);
	buf_release(&b);
}

/* ---- the corpus -------------------------------------------------------- */

struct corpus_stats {
	int parsed;
	int rejected;
};

/* The same results when the header window is tiny (more, smaller reads). */
static void compare_small_window(const uint8_t *data, size_t len,
				 const char *rel, int rc,
				 const struct formats_meta *a)
{
	struct formats_meta b;
	int rc2;

	formats_window = 512;
	formats_id3_whole_max = 256;
	rc2 = parse_mem(data, len, rel, &b);
	formats_window = (size_t)64 << 10;
	formats_id3_whole_max = (size_t)1 << 20;
	assert_int_equal(rc2, rc);
	if (!rc) {
		assert_int_equal(b.kind, a->kind);
		expect_str(b.tags.title, a->tags.title);
		expect_str(b.tags.artist, a->tags.artist);
		expect_str(b.tags.album, a->tags.album);
		assert_int_equal(b.tags.n_extra, a->tags.n_extra);
		assert_int_equal(b.sample_rate, a->sample_rate);
		assert_true(b.duration == a->duration);
		assert_int_equal(b.audio_start, a->audio_start);
		assert_int_equal(b.audio_end, a->audio_end);
		assert_int_equal(b.picture.present, a->picture.present);
		assert_int_equal(b.picture.offset, a->picture.offset);
		assert_int_equal(b.picture.length, a->picture.length);
		assert_int_equal(b.picture.data_len, a->picture.data_len);
	}
	formats_meta_release(&b);
}

static void corpus_file(const char *path, const char *rel,
			struct corpus_stats *st)
{
	struct formats_meta m;
	uint8_t *data;
	size_t len = 0;
	size_t cut;
	int rc;

	rc = parse_path(path, &m);
	assert_true(rc == 0 || rc == -EBADMSG || rc == -EFBIG);
	data = slurp(path, &len);
	assert_non_null(data);
	compare_small_window(data, len, rel, rc, &m);
	if (rc) {
		printf("corpus: %-52s rejected (%s)\n", rel, strerror(-rc));
		st->rejected++;
	} else {
		check_invariants(&m, len);
		printf("corpus: %-52s %-4s %5u Hz %u ch %7.2f s tags:%s%s%s "
		       "pic:%s\n",
		       rel, formats_kind_ext(m.kind), m.sample_rate,
		       m.channels, m.duration, m.tags.title ? " title" : "",
		       m.tags.artist ? " artist" : "",
		       m.tags.n_extra ? " extra" : "",
		       m.picture.present ? m.picture.mime : "-");
		st->parsed++;
	}
	formats_meta_release(&m);
	/* and cut at 16 places: a clean error or a partial result */
	for (cut = len / 16; len && cut < len; cut += len / 16 + 1) {
		rc = parse_mem(data, cut, rel, &m);
		assert_true(rc == 0 || rc == -EBADMSG || rc == -EFBIG);
		if (!rc)
			check_invariants(&m, cut);
		formats_meta_release(&m);
	}
	free(data);
}

static void corpus_walk(const char *dir, size_t root_len,
			struct corpus_stats *st)
{
	struct dirent **names;
	struct stat sb;
	char *path;
	int n;
	int i;

	n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] == '.') {
			free(names[i]);
			continue;
		}
		path = str_printf("%s/%s", dir, names[i]->d_name);
		assert_non_null(path);
		assert_int_equal(stat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode))
			corpus_walk(path, root_len, st);
		else if (S_ISREG(sb.st_mode) &&
			 !str_ends_with_ci(path, ".md"))
			corpus_file(path, path + root_len, st);
		free(path);
		free(names[i]);
	}
	free(names);
}

static void test_corpus(void **state)
{
	const char *data = getenv("MFS_TEST_DATA");
	struct corpus_stats st = { 0, 0 };
	char *dir;

	(void)state;
	if (!data)
		skip();
	dir = str_printf("%s/corpus", data);
	if (access(dir, R_OK)) {
		free(dir);
		skip();
	}
	corpus_walk(dir, strlen(dir) + 1, &st);
	printf("corpus: %d parsed, %d rejected\n", st.parsed, st.rejected);
	assert_true(st.parsed > 0);
	free(dir);
}

/* ---- main -------------------------------------------------------------- */

/* ---- the Ogg CRC and base64 ------------------------------------------- */

/* The CRC of Ogg bit by bit: what the fast ones must equal. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t crc = 0;
	size_t i;
	int b;

	for (i = 0; i < n; i++) {
		crc ^= (uint32_t)p[i] << 24;
		for (b = 0; b < 8; b++)
			crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u
						: crc << 1;
	}
	return crc;
}

/* A repeatable pseudo-random byte stream. */
static uint32_t rnd_state = 12345;

static uint8_t rnd8(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (uint8_t)(rnd_state >> 16);
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = rnd8();
}

/* Every length up to a few pages at every alignment, and 1 MiB. */
static void test_ogg_crc(void **state)
{
	const size_t big = (size_t)1 << 20;
	uint8_t *buf = malloc(big + 16);
	size_t len, at;
	uint32_t want;

	(void)state;
	assert_non_null(buf);
	fill_random(buf, big + 16);
	assert_int_equal(formats_ogg_crc(buf, 0), 0);
	for (len = 0; len < 1200; len += len < 200 ? 1 : 37)
		for (at = 0; at < 16; at += 5) {
			want = crc_bitwise(buf + at, len);
			assert_int_equal(formats_ogg_crc(buf + at, len), want);
			assert_int_equal(formats_ogg_crc_portable(buf + at, len),
					 want);
		}
	want = crc_bitwise(buf + 3, big);
	assert_int_equal(formats_ogg_crc(buf + 3, big), want);
	assert_int_equal(formats_ogg_crc_portable(buf + 3, big), want);
	/* the CRC of a real page (libogg's, from an ffmpeg file) */
	assert_int_equal(crc_bitwise((const uint8_t *)"OggS", 4), 0x5fb0a94f);
	free(buf);
}

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The textbook encoder, a reference for formats_b64_encode. */
static void b64_ref(const uint8_t *p, size_t n, char *out)
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64_chars[v >> 18];
		out[o++] = b64_chars[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_chars[v & 63] : '=';
	}
}

/* Decode text in pieces cut at cut1 and cut2; returns the length. */
static size_t b64_in_pieces(const char *text, size_t n, size_t cut1,
			    size_t cut2, uint8_t *out)
{
	struct formats_b64 d = { 0 };
	size_t len;

	len = formats_b64_decode(&d, (const uint8_t *)text, cut1, out);
	len += formats_b64_decode(&d, (const uint8_t *)text + cut1,
				  cut2 - cut1, out + len);
	len += formats_b64_decode(&d, (const uint8_t *)text + cut2, n - cut2,
				  out + len);
	return len;
}

static size_t b64_str(const char *text, uint8_t *out)
{
	return b64_in_pieces(text, strlen(text), 0, 0, out);
}

static void test_base64(void **state)
{
	uint8_t in[80] = { 0 }, out[80];
	char text[120], ref[120];
	size_t n, len, c1, c2, enc;

	(void)state;
	for (n = 0; n < sizeof(in); n++) {
		fill_random(in, n);
		enc = formats_b64_encode(in, n, text);
		assert_int_equal(enc, (n + 2) / 3 * 4);
		b64_ref(in, n, ref);
		assert_memory_equal(text, ref, enc);
		/* cut anywhere: the same bytes */
		for (c1 = 0; c1 <= enc; c1 += 1 + n % 3)
			for (c2 = c1; c2 <= enc; c2 += 3) {
				len = b64_in_pieces(text, enc, c1, c2, out);
				assert_int_equal(len, n);
				assert_memory_equal(out, in, n);
			}
	}
	/* whitespace is skipped, even inside a group */
	assert_int_equal(b64_str("QU\nJD\r\n RE VG\t", out), 6);
	assert_memory_equal(out, "ABCDEF", 6);
	/* the URL-safe alphabet */
	assert_int_equal(b64_str("-_-_", out), 3);
	assert_memory_equal(out, "\xfb\xff\xbf", 3);
	/* '=' and any byte outside the alphabet end the data */
	assert_int_equal(b64_str("QQ==QUJD", out), 1);
	assert_int_equal(out[0], 'A');
	assert_int_equal(b64_str("QUJD*QUJD", out), 3);
	assert_int_equal(b64_str("QUJ\x80QUJD", out), 2);
}

/* ---- Ogg files in memory ----------------------------------------------- */

#define OGG_SERIAL 0x1234

/* Pages being written: a packet stream cut every max_segs segments. */
struct ogg_writer {
	struct buf *out;
	uint32_t seq;
	unsigned max_segs;
	uint8_t lacing[255];
	unsigned nseg;
	struct buf body;
	uint8_t flags;		/* of the page being filled (BOS) */
	bool cont;		/* it continues a packet */
	bool ended;		/* a packet ends on it */
	uint64_t granule;	/* given to pages where a packet ends */
};

static void ogg_flush(struct ogg_writer *w)
{
	size_t at = w->out->len;
	uint8_t *p;
	unsigned i;

	if (!w->nseg)
		return;
	put_s(w->out, "OggS");
	put_u8(w->out, 0);
	put_u8(w->out, w->flags | (w->cont ? 1 : 0));
	put_le32(w->out, w->ended ? (uint32_t)w->granule : UINT32_MAX);
	put_le32(w->out, w->ended ? (uint32_t)(w->granule >> 32) : UINT32_MAX);
	put_le32(w->out, OGG_SERIAL);
	put_le32(w->out, w->seq++);
	put_le32(w->out, 0);
	put_u8(w->out, w->nseg);
	for (i = 0; i < w->nseg; i++)
		put_u8(w->out, w->lacing[i]);
	put_buf(w->out, &w->body);
	p = (uint8_t *)w->out->data + at;
	formats_put_le32(p + 22, crc_bitwise(p, w->out->len - at));
	w->cont = w->lacing[w->nseg - 1] == 255;
	w->nseg = 0;
	w->flags = 0;
	w->ended = false;
	buf_reset(&w->body);
}

/* Add one packet (n bytes at p) to the pages. */
static void ogg_packet(struct ogg_writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t seg;

	for (;;) {
		if (w->nseg == w->max_segs)
			ogg_flush(w);
		seg = MFS_MIN(n, (size_t)255);
		w->lacing[w->nseg++] = (uint8_t)seg;
		put(&w->body, b, seg);
		b += seg;
		n -= seg;
		if (seg < 255) {
			w->ended = true;
			return;
		}
	}
}

/* A FLAC picture block of image (n bytes). */
static void picture_block(struct buf *b, uint32_t type, const char *mime,
			  const char *desc, const uint8_t *image, size_t n)
{
	put_be32(b, type);
	put_be32(b, (uint32_t)strlen(mime));
	put_s(b, mime);
	put_be32(b, (uint32_t)strlen(desc));
	put_s(b, desc);
	put_zeros(b, 16);
	put_be32(b, (uint32_t)n);
	put(b, image, n);
}

/* "KEY=" and base64 of block as one Vorbis comment. */
static void b64_comment(struct buf *c, const char *key, const struct buf *blk)
{
	size_t n = (blk->len + 2) / 3 * 4;
	char *text = malloc(n + 1);

	assert_non_null(text);
	formats_b64_encode((const uint8_t *)blk->data, blk->len, text);
	put_le32(c, (uint32_t)(strlen(key) + 1 + n));
	put_s(c, key);
	put_u8(c, '=');
	put(c, text, n);
	free(text);
}

static void text_comment(struct buf *c, const char *key, const char *value)
{
	put_le32(c, (uint32_t)(strlen(key) + 1 + strlen(value)));
	put_s(c, key);
	put_u8(c, '=');
	put_s(c, value);
}

/*
 * An Ogg Vorbis file: the identification page, the comment packet (a
 * title, a comment of pad bytes, then each picture block as base64) and
 * a setup packet cut into pages of max_segs segments, two audio pages.
 */
static void build_vorbis(struct buf *out, unsigned max_segs, size_t pad,
			 const struct buf *const *blocks, size_t nblocks)
{
	struct ogg_writer w = { out, 0, 255, { 0 }, 0,
				BUF_INIT_MAX(1 << 24), 2, false, false, 0 };
	struct buf c = BUF_INIT_MAX(1 << 24);
	uint8_t setup[3000];
	char *padding;
	size_t i;

	/* identification: 2 channels, 44100 Hz, 128 kbit/s nominal */
	put_s(&c, "\x01vorbis");
	put_le32(&c, 0);
	put_u8(&c, 2);
	put_le32(&c, 44100);
	put_le32(&c, 0);
	put_le32(&c, 128000);
	put_le32(&c, 0);
	put_u8(&c, 0xb8);
	put_u8(&c, 1);
	ogg_packet(&w, c.data, c.len);
	ogg_flush(&w);
	w.max_segs = max_segs;
	buf_reset(&c);
	put_s(&c, "\x03vorbis");
	put_le32(&c, 6);
	put_s(&c, "writer");
	put_le32(&c, (uint32_t)(2 + nblocks));
	text_comment(&c, "TITLE", "Lazy");
	padding = malloc(pad + 1);
	assert_non_null(padding);
	memset(padding, 'p', pad);
	padding[pad] = '\0';
	text_comment(&c, "NOTES", padding);
	free(padding);
	for (i = 0; i < nblocks; i++)
		b64_comment(&c, i % 2 ? "metadata_block_picture"
				      : "METADATA_BLOCK_PICTURE", blocks[i]);
	put_u8(&c, 1);
	ogg_packet(&w, c.data, c.len);
	memcpy(setup, "\x05vorbis", 7);
	fill_random(setup + 7, sizeof(setup) - 7);
	ogg_packet(&w, setup, sizeof(setup));
	ogg_flush(&w);
	w.max_segs = 255;
	w.granule = 44100;
	ogg_packet(&w, setup, 700);
	ogg_flush(&w);
	w.granule = 88200;
	w.flags = 4;
	ogg_packet(&w, setup, 500);
	ogg_flush(&w);
	buf_release(&c);
	buf_release(&w.body);
}

static int parse_lazy(const struct buf *b, struct formats_meta *m)
{
	struct formats_source src;
	struct formats_mem mem;

	formats_source_from_mem(&src, &mem, b->data, b->len);
	return formats_parse_flags(&src, "x.ogg", FORMATS_PARSE_LAZY_PICTURES,
				   m);
}

static int load_picture(const struct buf *b, const struct formats_picture *p,
			uint8_t **data, size_t *len)
{
	struct formats_source src;
	struct formats_mem mem;

	formats_source_from_mem(&src, &mem, b->data, b->len);
	return formats_picture_load(&src, p, data, len);
}

/* The synthesized file behind s, read as a reader of the mount would. */
static void synth_bytes(const struct buf *orig, const struct formats_synth *s,
			struct buf *out)
{
	const struct formats_segment *seg;
	size_t i, at;

	buf_reset(out);
	for (i = 0; i < s->n_segs; i++) {
		seg = &s->segs[i];
		at = out->len;
		if (seg->data) {
			put(out, seg->data, seg->length);
			continue;
		}
		assert_true(seg->src_offset + seg->length <= orig->len);
		put(out, orig->data + seg->src_offset, seg->length);
		if (seg->ogg_seq_delta)
			formats_ogg_fix_pages((uint8_t *)out->data + at,
					      seg->length, seg->ogg_serial,
					      seg->ogg_seq_delta);
	}
	assert_int_equal(out->len, s->size);
}

/* Every page whole, its CRC right, numbered 0, 1, 2... */
static void check_ogg_pages(const struct buf *b)
{
	const uint8_t *p = (const uint8_t *)b->data;
	size_t pos = 0, body, i;
	uint32_t seq = 0, crc;
	uint8_t *copy;

	while (pos < b->len) {
		assert_true(b->len - pos >= 27);
		assert_memory_equal(p + pos, "OggS", 4);
		for (body = 0, i = 0; i < p[pos + 26]; i++)
			body += p[pos + 27 + i];
		body += 27 + p[pos + 26];
		assert_true(body <= b->len - pos);
		copy = malloc(body);
		assert_non_null(copy);
		memcpy(copy, p + pos, body);
		crc = (uint32_t)copy[22] | (uint32_t)copy[23] << 8 |
		      (uint32_t)copy[24] << 16 | (uint32_t)copy[25] << 24;
		memset(copy + 22, 0, 4);
		assert_int_equal(crc_bitwise(copy, body), crc);
		assert_int_equal(copy[18] | copy[19] << 8, seq);
		free(copy);
		seq++;
		pos += body;
	}
}

/* Origin ranges of s that lie inside the header (kept pages). */
static size_t kept_ranges(const struct formats_synth *s, uint64_t audio_start)
{
	size_t i, n = 0;

	for (i = 1; i < s->n_segs; i++)
		if (!s->segs[i].data && s->segs[i].src_offset < audio_start)
			n++;
	return n;
}

/*
 * A picture located lazily is the one an eager parse decodes; loading it
 * gives the same bytes; a synthesis keeping it writes valid pages that
 * carry the same picture and keeps origin pages where it can.
 */
static void check_lazy(const struct buf *file, const uint8_t *image,
		       size_t n, uint32_t type, bool expect_kept)
{
	struct formats_tags tags = { .title = (char *)"New title" };
	struct formats_meta eager, lazy, again;
	struct formats_source src;
	struct formats_mem mem;
	struct formats_synth s;
	struct buf out = BUF_INIT_MAX(1 << 26);
	uint8_t *data;
	size_t len;

	assert_int_equal(parse_buf(file, "x.ogg", &eager), 0);
	assert_int_equal(parse_lazy(file, &lazy), 0);
	check_invariants(&lazy, file->len);
	expect_str(lazy.tags.title, "Lazy");
	assert_int_equal(lazy.audio_start, eager.audio_start);
	assert_true(eager.picture.present && lazy.picture.present);
	assert_int_equal(eager.picture.data_len, n);
	assert_memory_equal(eager.picture.data, image, n);
	assert_null(lazy.picture.data);
	assert_int_equal(lazy.picture.store, FORMATS_PIC_OGG_BASE64);
	assert_int_equal(lazy.picture.length, n);
	assert_int_equal(lazy.picture.type, type);
	assert_string_equal(lazy.picture.mime, eager.picture.mime);
	assert_int_equal(load_picture(file, &lazy.picture, &data, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, image, n);
	free(data);

	formats_source_from_mem(&src, &mem, file->data, file->len);
	assert_int_equal(formats_synthesize(&src, &lazy, &tags, &lazy.picture,
					    &s), 0);
	if (expect_kept)
		assert_true(kept_ranges(&s, lazy.audio_start) > 0);
	synth_bytes(file, &s, &out);
	formats_synth_release(&s);
	check_ogg_pages(&out);
	assert_int_equal(parse_buf(&out, "y.ogg", &again), 0);
	expect_str(again.tags.title, "New title");
	assert_int_equal(again.picture.data_len, n);
	assert_memory_equal(again.picture.data, image, n);
	assert_int_equal(again.audio_end - again.audio_start,
			 eager.audio_end - eager.audio_start);
	formats_meta_release(&again);
	buf_release(&out);
	formats_meta_release(&eager);
	formats_meta_release(&lazy);
}

/*
 * Pages of 1 to 255 segments, the text starting at every offset modulo 4
 * and 255 (the pad comment shifts it), small and large images, the
 * header window small enough that page headers are read past it.
 */
static void test_ogg_lazy_picture(void **state)
{
	static const unsigned segs[] = { 1, 2, 16, 255 };
	static const size_t sizes[] = { 1, 2, 3, 100, 20000 };
	struct buf blk = BUF_INIT_MAX(1 << 24);
	struct buf file = BUF_INIT_MAX(1 << 26);
	const struct buf *blocks[] = { &blk };
	uint8_t image[20000];
	size_t si, gi, pad;

	(void)state;
	fill_random(image, sizeof(image));
	image[0] = 0xff;	/* a JPEG, for the sniffer */
	image[1] = 0xd8;
	image[2] = 0xff;
	for (si = 0; si < MFS_ARRAY_SIZE(sizes); si++)
		for (gi = 0; gi < MFS_ARRAY_SIZE(segs); gi++)
			for (pad = 0; pad < 9; pad += 1 + sizes[si] / 1000) {
				buf_reset(&blk);
				picture_block(&blk, 3, pad % 2 ? "" : "image/x",
					      "d", image, sizes[si]);
				buf_reset(&file);
				build_vorbis(&file, segs[gi], 250 + pad * 29,
					     blocks, 1);
				formats_window = pad % 3 ? 200 : 64 << 10;
				check_lazy(&file, image, sizes[si], 3,
					   sizes[si] > 4 * 255 * segs[gi] &&
						   segs[gi] < 255);
			}
	formats_window = (size_t)64 << 10;
	buf_release(&file);
	buf_release(&blk);
}

/* Of two pictures the front cover, whichever comes first. */
static void test_ogg_lazy_two_pictures(void **state)
{
	struct buf back = BUF_INIT_MAX(1 << 20), front = BUF_INIT_MAX(1 << 20);
	struct buf file = BUF_INIT_MAX(1 << 24);
	const struct buf *order1[] = { &back, &front };
	const struct buf *order2[] = { &front, &back };
	uint8_t img_back[700], img_front[5000];

	(void)state;
	fill_random(img_back, sizeof(img_back));
	fill_random(img_front, sizeof(img_front));
	picture_block(&back, 4, "image/png", "", img_back, sizeof(img_back));
	picture_block(&front, 3, "image/jpeg", "a long description",
		      img_front, sizeof(img_front));
	build_vorbis(&file, 4, 10, order1, 2);
	check_lazy(&file, img_front, sizeof(img_front), 3, true);
	buf_reset(&file);
	build_vorbis(&file, 3, 10, order2, 2);
	check_lazy(&file, img_front, sizeof(img_front), 3, true);
	buf_release(&file);
	buf_release(&front);
	buf_release(&back);
}

/*
 * Damage past the first characters of the text is found when the picture
 * is loaded (and by synthesis), not by the lazy parse; a picture of
 * another file is refused.
 */
static void test_ogg_lazy_damage(void **state)
{
	struct formats_tags none = { 0 };
	struct buf blk = BUF_INIT_MAX(1 << 20), file = BUF_INIT_MAX(1 << 24);
	struct buf other = BUF_INIT_MAX(1 << 24);
	const struct buf *blocks[] = { &blk };
	struct formats_meta lazy, eager, m2;
	struct formats_picture pic;
	struct formats_source src;
	struct formats_mem mem;
	struct formats_synth s;
	uint8_t image[6000], *data;
	size_t len, cut;
	char *text;

	(void)state;
	fill_random(image, sizeof(image));
	picture_block(&blk, 3, "image/png", "", image, sizeof(image));
	build_vorbis(&file, 8, 40, blocks, 1);
	assert_int_equal(parse_lazy(&file, &lazy), 0);
	/* a byte outside the alphabet in the middle of the text */
	text = file.data + lazy.picture.offset + 4000;
	assert_true(strchr(b64_chars, *text));
	*text = '*';
	assert_int_equal(parse_lazy(&file, &m2), 0);
	assert_true(m2.picture.present);
	assert_int_equal(load_picture(&file, &m2.picture, &data, &len),
			 -EBADMSG);
	assert_int_equal(parse_buf(&file, "x.ogg", &eager), 0);
	assert_false(eager.picture.present);
	formats_meta_release(&eager);
	formats_meta_release(&m2);
	/* the picture of another file (a longer image, elsewhere) */
	buf_reset(&blk);
	picture_block(&blk, 3, "image/png", "", image, sizeof(image) - 1);
	build_vorbis(&other, 8, 40, blocks, 1);
	assert_int_equal(load_picture(&other, &lazy.picture, &data, &len),
			 -EBADMSG);
	formats_source_from_mem(&src, &mem, other.data, other.len);
	assert_int_equal(parse_lazy(&other, &m2), 0);
	assert_int_equal(formats_synthesize(&src, &m2, &none, &lazy.picture,
					    &s), -EBADMSG);
	/* no file behind the offset at all */
	pic = lazy.picture;
	pic.offset = other.len + 10;
	assert_int_equal(load_picture(&other, &pic, &data, &len), -EBADMSG);
	assert_int_equal(formats_synthesize(&src, &m2, &none, &pic, &s),
			 -EBADMSG);
	formats_meta_release(&m2);
	cut = (size_t)lazy.picture.offset + 100;
	formats_meta_release(&lazy);
	/* a file cut inside the text: the picture is not kept */
	other.len = cut;
	assert_int_equal(parse_lazy(&other, &m2), 0);
	assert_false(m2.picture.present);
	formats_meta_release(&m2);
	buf_release(&other);
	buf_release(&file);
	buf_release(&blk);
}

/* A picture in memory replaces a kept one; none removes it. */
static void test_ogg_synth_pictures(void **state)
{
	struct formats_tags tags = { .artist = (char *)"A" };
	struct buf blk = BUF_INIT_MAX(1 << 20), file = BUF_INIT_MAX(1 << 24);
	struct buf out = BUF_INIT_MAX(1 << 24);
	const struct buf *blocks[] = { &blk };
	struct formats_picture pic = { 0 };
	struct formats_meta lazy, again;
	struct formats_source src;
	struct formats_mem mem;
	struct formats_synth s;
	uint8_t image[9000], other[3000];

	(void)state;
	fill_random(image, sizeof(image));
	fill_random(other, sizeof(other));
	picture_block(&blk, 3, "image/png", "", image, sizeof(image));
	build_vorbis(&file, 4, 0, blocks, 1);
	assert_int_equal(parse_lazy(&file, &lazy), 0);
	formats_source_from_mem(&src, &mem, file.data, file.len);
	pic.present = true;
	pic.type = 3;
	str_copy(pic.mime, "image/gif", sizeof(pic.mime));
	pic.data = other;
	pic.data_len = sizeof(other);
	assert_int_equal(formats_synthesize(&src, &lazy, &tags, &pic, &s), 0);
	assert_int_equal(kept_ranges(&s, lazy.audio_start), 0);
	synth_bytes(&file, &s, &out);
	formats_synth_release(&s);
	check_ogg_pages(&out);
	assert_int_equal(parse_buf(&out, "y.ogg", &again), 0);
	assert_string_equal(again.picture.mime, "image/gif");
	assert_int_equal(again.picture.data_len, sizeof(other));
	assert_memory_equal(again.picture.data, other, sizeof(other));
	formats_meta_release(&again);
	assert_int_equal(formats_synthesize(&src, &lazy, &tags, NULL, &s), 0);
	synth_bytes(&file, &s, &out);
	formats_synth_release(&s);
	check_ogg_pages(&out);
	assert_int_equal(parse_buf(&out, "y.ogg", &again), 0);
	assert_false(again.picture.present);
	expect_str(again.tags.artist, "A");
	formats_meta_release(&again);
	formats_meta_release(&lazy);
	buf_release(&out);
	buf_release(&file);
	buf_release(&blk);
}

static int setup(void **state)
{
	(void)state;
	str_copy(tmpdir, "/tmp/mfs-formats-XXXXXX", sizeof(tmpdir));
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = str_printf("rm -rf '%s'", tmpdir);
	int rc;

	(void)state;
	rc = cmd ? system(cmd) : -1;
	free(cmd);
	return rc;
}

/* A minimal Ogg page: serial 7, sequence seq, one 3-byte segment. */
static size_t make_page(uint8_t *p, uint32_t seq)
{
	memset(p, 0, 31);
	memcpy(p, "OggS", 4);
	p[14] = 7;
	p[18] = (uint8_t)seq;
	p[26] = 1;	/* one lacing value */
	p[27] = 3;
	memcpy(p + 28, "abc", 3);
	return 31;
}

/* Found by fuzz_synth: a damaged stretch between pages is left as it is. */
static void test_ogg_fix_pages_skips_damage(void **state)
{
	uint8_t buf[80];
	size_t n;

	(void)state;
	n = make_page(buf, 5);
	memcpy(buf + n, "junk-not-a-page", 15);
	n += 15;
	n += make_page(buf + n, 6);
	assert_int_equal(formats_ogg_fix_pages(buf, n, 7, 2), 0);
	assert_int_equal(buf[18], 7);
	assert_memory_equal(buf + 31, "junk-not-a-page", 15);
	assert_int_equal(buf[46 + 18], 8);
	/* CRCs were written (non-zero) for both pages */
	assert_true(buf[22] | buf[23] | buf[24] | buf[25]);
	assert_true(buf[46 + 22] | buf[46 + 23] | buf[46 + 24] | buf[46 + 25]);
	/* a truncated last page stays as it is too */
	assert_int_equal(formats_ogg_fix_pages(buf, 40, 7, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_len),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_aac_config),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_flac),
		cmocka_unit_test(test_flac_id3_prefix),
		cmocka_unit_test(test_flac_tools),
		cmocka_unit_test(test_flac_damaged),
		cmocka_unit_test(test_id3v23),
		cmocka_unit_test(test_id3v24),
		cmocka_unit_test(test_id3v22),
		cmocka_unit_test(test_id3v23_unsync),
		cmocka_unit_test(test_id3v24_itunes_sizes),
		cmocka_unit_test(test_id3v1),
		cmocka_unit_test(test_ape),
		cmocka_unit_test(test_mp3_vbri),
		cmocka_unit_test(test_mp3_tools),
		cmocka_unit_test(test_mp3_mutagen),
		cmocka_unit_test(test_ogg_tools),
		cmocka_unit_test(test_wav_tools),
		cmocka_unit_test(test_m4a_tools),
		cmocka_unit_test(test_adts_tools),
		cmocka_unit_test(test_detection),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_m4a_bytes),
		cmocka_unit_test(test_wav_bytes),
		cmocka_unit_test(test_adts_bytes),
		cmocka_unit_test(test_tools_truncated),
		cmocka_unit_test(test_id3_claims),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_big_tag),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_fuzz_cut_utf8),
		cmocka_unit_test(test_fuzz_double_bom),
		cmocka_unit_test(test_fuzz_trailer_claim),
		cmocka_unit_test(test_fuzz_empty_unsync_frame),
		cmocka_unit_test(test_ogg_fix_pages_skips_damage),
		cmocka_unit_test(test_ogg_crc),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_ogg_lazy_picture),
		cmocka_unit_test(test_ogg_lazy_two_pictures),
		cmocka_unit_test(test_ogg_lazy_damage),
		cmocka_unit_test(test_ogg_synth_pictures),
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
