/*
 * test_template.c - unit tests of the path template engine and the name
 * sanitizer (src/tree/template.c).
 *
 * Each test renders one track through a template, joins the components
 * with '/' and compares the whole path, so a test also catches a value
 * that would have added a path level.  The sanitizer is tested on its own
 * with hostile input: banned and control characters, invalid UTF-8,
 * decomposed Unicode and names far longer than NAME_MAX.
 */
#include "common/mfs.h"
#include "tree/template_i.h"

#include <setjmp.h>
#include <cmocka.h>
#include <utf8proc.h>

/* A fully tagged single-disc track. */
static struct template_vars full_track(void)
{
	struct template_vars v = {
		.artist = "Boredoms",
		.albumartist = NULL,
		.album = "Super Ae",
		.title = "Super Going",
		.genre = "Noise",
		.composer = "Eye",
		.format = "flac",
		.orig_name = "track03.flac",
		.track = 3,
		.disc = 1,
		.year = 1998,
		.multi_disc = false,
	};
	return v;
}

/* Render v through tpl, check every component, return them joined by '/'. */
static char *render(const char *tpl, const struct template_vars *v,
		    size_t *ncomp)
{
	char err[128];
	struct template *t = NULL;
	char **c = NULL;
	size_t n = 0;
	size_t i, len = 0;
	char *path;

	assert_int_equal(template_compile(tpl, &t, err, sizeof(err)), 0);
	assert_int_equal(template_render(t, v, &c, &n), 0);
	assert_non_null(c);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_non_null(c[i]);
		assert_true(strlen(c[i]) > 0);
		assert_true(strlen(c[i]) <= TEMPLATE_NAME_MAX);
		assert_null(strchr(c[i], '/'));
		assert_string_not_equal(c[i], ".");
		assert_string_not_equal(c[i], "..");
		len += strlen(c[i]) + 1;
	}
	path = calloc(1, len);
	assert_non_null(path);
	for (i = 0; i < n; i++) {
		if (i)
			path[strlen(path)] = '/';
		memcpy(path + strlen(path), c[i], strlen(c[i]));
	}
	if (ncomp)
		*ncomp = n;
	template_components_free(c, n);
	template_free(t);
	return path;
}

static void assert_render(const char *tpl, const struct template_vars *v,
			  const char *want)
{
	char *got = render(tpl, v, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void assert_sanitize(const char *in, bool keep_ext, const char *want)
{
	char *got = template_sanitize(in, keep_ext);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* The compile error message for tpl (asserting -EINVAL). */
static void assert_compile_error(const char *tpl, const char *want)
{
	char err[160];
	struct template *t = (struct template *)1;

	assert_int_equal(template_compile(tpl, &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	assert_string_equal(err, want);
}

static bool valid_utf8(const char *s)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s);
	utf8proc_ssize_t k;
	utf8proc_int32_t cp;

	while (len > 0) {
		k = utf8proc_iterate(p, len, &cp);
		if (k <= 0)
			return false;
		p += k;
		len -= k;
	}
	return true;
}

/* A string of n copies of unit (caller frees). */
static char *repeat(const char *unit, size_t n)
{
	size_t u = strlen(unit);
	char *s = malloc(u * n + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * u, unit, u);
	s[u * n] = '\0';
	return s;
}

/* ---- templates and fallbacks ---- */

static void test_default_full_track(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	assert_render(NULL, &v,
		      "Boredoms/Super Ae (1998) [FLAC]/03 - Super Going.flac");
	assert_render(TEMPLATE_DEFAULT, &v,
		      "Boredoms/Super Ae (1998) [FLAC]/03 - Super Going.flac");
}

static void test_albumartist_preferred_and_fallback(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.albumartist = "Various Artists";
	assert_render("$albumartist/$title", &v,
		      "Various Artists/Super Going.flac");
	v.albumartist = "   ";
	assert_render("$albumartist/$title", &v, "Boredoms/Super Going.flac");
	v.albumartist = NULL;
	v.artist = "";
	v.title = "x";
	assert_render("$albumartist/$artist/$title", &v,
		      "Unknown Artist/Unknown Artist/x.flac");
}

static void test_defaults_for_missing_values(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.album = NULL;
	v.genre = "";
	v.composer = NULL;
	assert_render("$genre/$composer/$album/$title", &v,
		      "Unknown Genre/Unknown Composer/Unknown Album/"
		      "Super Going.flac");
}

static void test_title_defaults_to_file_name(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.title = NULL;
	v.orig_name = "01 Intro.FLAC";
	assert_render("$artist/$title.$format", &v, "Boredoms/01 Intro.flac");
	v.orig_name = "some/dir/Mr. Brown";
	assert_render("$title", &v, "Mr. Brown.flac");
	v.orig_name = NULL;
	assert_render("$title", &v, "Unknown Title.flac");
}

static void test_values_trimmed(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.artist = "  Boredoms \t";
	v.title = "\n Super Going  ";
	assert_render("$artist/$track - $title", &v,
		      "Boredoms/03 - Super Going.flac");
}

static void test_chain_first_present(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.albumartist = "V.A.";
	assert_render("${albumartist|artist|Unknown Artist}/$title", &v,
		      "V.A/Super Going.flac");
	v.albumartist = NULL;
	assert_render("${albumartist|artist|Unknown Artist}/$title", &v,
		      "Boredoms/Super Going.flac");
	v.artist = NULL;
	assert_render("${albumartist|artist|Nobody at All}/$title", &v,
		      "Nobody at All/Super Going.flac");
}

static void test_chain_without_literal(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.genre = NULL;
	v.composer = NULL;
	/* no literal: the last variable's own default */
	assert_render("${genre|composer}/$title", &v,
		      "Unknown Composer/Super Going.flac");
	v.composer = "Eye";
	assert_render("${genre|composer}/$title", &v, "Eye/Super Going.flac");
	/* in an explicit chain albumartist does not fall back implicitly */
	v.artist = "Boredoms";
	assert_render("${albumartist|genre}/$title", &v,
		      "Unknown Genre/Super Going.flac");
}

static void test_chain_empty_default_and_spaces(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.genre = NULL;
	assert_render("$album [${ genre | }]/$title", &v,
		      "Super Ae/Super Going.flac");
	v.genre = "Noise";
	assert_render("$album [${ genre | }]/$title", &v,
		      "Super Ae [Noise]/Super Going.flac");
}

static void test_braced_syntax(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	assert_render("${artist}/${year}_${album}/${track}. ${title}.${format}",
		      &v,
		      "Boredoms/1998_Super Ae/03. Super Going.flac");
	assert_render("$artist/$$${year}$$/$title", &v,
		      "Boredoms/$1998$/Super Going.flac");
}

static void test_format_and_extension(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	/* no .$format at the end: the extension is appended */
	assert_render("$artist/$title", &v, "Boredoms/Super Going.flac");
	assert_render("$artist/$title.$format_upper", &v,
		      "Boredoms/Super Going.FLAC");
	v.format = "MP3";
	assert_render("$format/$format_upper/$title.$format", &v,
		      "mp3/MP3/Super Going.mp3");
	v.format = NULL;
	assert_render("$artist/$album [$format_upper]/$track - $title.$format",
		      &v,
		      "Boredoms/Super Ae/03 - Super Going");
}

static void test_slash_in_value_never_splits(void **state)
{
	struct template_vars v = full_track();
	size_t n;
	char *p;

	(void)state;
	v.artist = "AC/DC";
	v.album = "../../etc";
	v.title = "a/b\\c";
	p = render("$artist/$album/$title", &v, &n);
	assert_int_equal(n, 3);
	assert_string_equal(p, "AC_DC/_.._etc/a_b_c.flac");
	free(p);
}

/* ---- groups ---- */

static void test_group_paren_vanishes(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.year = 0;
	assert_render(NULL, &v,
		      "Boredoms/Super Ae [FLAC]/03 - Super Going.flac");
	assert_render("$album ($year)", &v, "Super Ae.flac");
	assert_render("($year) $album", &v, "Super Ae.flac");
}

static void test_group_bracket_and_brace_vanish(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.year = 0;
	v.format = NULL;
	assert_render(NULL, &v, "Boredoms/Super Ae/03 - Super Going");
	assert_render("$album {$year}", &v, "Super Ae");
	v.year = 2001;
	assert_render("$album {$year}", &v, "Super Ae {2001}");
}

static void test_group_without_variables_stays(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.year = 0;
	assert_render("$album [Live] ($year)", &v, "Super Ae [Live].flac");
	assert_render("$album ()", &v, "Super Ae ().flac");
}

static void test_group_with_text_and_value_stays(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.year = 0;
	assert_render("$album (Remaster $year)/$title", &v,
		      "Super Ae/Super Going.flac");
	v.year = 2009;
	assert_render("$album (Remaster $year)/$title", &v,
		      "Super Ae (Remaster 2009)/Super Going.flac");
	/* a group with a defaulted variable is never empty */
	v.genre = NULL;
	assert_render("$album ($genre)/$title", &v,
		      "Super Ae (Unknown Genre)/Super Going.flac");
}

static void test_group_nested(void **state)
{
	struct template_vars v = full_track();
	const char *tpl = "$album [$format_upper ($year)]/$title";

	(void)state;
	assert_render(tpl, &v, "Super Ae [FLAC (1998)]/Super Going.flac");
	v.year = 0;
	assert_render(tpl, &v, "Super Ae [FLAC]/Super Going.flac");
	v.format = NULL;
	assert_render(tpl, &v, "Super Ae/Super Going");
	v.year = 1998;
	assert_render(tpl, &v, "Super Ae [(1998)]/Super Going");
}

static void test_group_inner_dangling(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.year = 0;
	assert_render("$album [$format_upper, $year]/$title", &v,
		      "Super Ae [FLAC]/Super Going.flac");
}

/* ---- numbers and discs ---- */

static void test_track_padding_and_numbers(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.track = 123;
	assert_render("$track", &v, "123.flac");
	v.track = 7;
	v.year = 987;
	assert_render("$year-$track", &v, "987-07.flac");
	v.track = -4;
	v.year = -1;
	assert_render("$year $track $title", &v, "Super Going.flac");
}

static void test_multi_disc_track(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.multi_disc = true;
	v.disc = 2;
	assert_render(NULL, &v,
		      "Boredoms/Super Ae (1998) [FLAC]/2-03 - "
		      "Super Going.flac");
	/* disc unknown: plain track number */
	v.disc = 0;
	assert_render("$track - $title", &v, "03 - Super Going.flac");
	/* disc > 1 means more than one disc even without the flag */
	v.multi_disc = false;
	v.disc = 3;
	assert_render("$track - $title", &v, "3-03 - Super Going.flac");
}

static void test_multi_disc_template_uses_disc(void **state)
{
	struct template_vars v = full_track();
	const char *tpl = "$album/Disc $disc/$track - $title";

	(void)state;
	v.multi_disc = true;
	v.disc = 2;
	assert_render(tpl, &v, "Super Ae/Disc 2/03 - Super Going.flac");
	assert_render("$album (CD ${disc})/$track $title", &v,
		      "Super Ae (CD 2)/03 Super Going.flac");
}

static void test_single_disc_hides_disc(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.disc = 1;
	assert_render("$album (Disc $disc)/$disc-$track $title", &v,
		      "Super Ae/03 Super Going.flac");
}

/* ---- untagged ---- */

static void test_untagged_fallback(void **state)
{
	struct template_vars v = { .format = "flac",
				   .orig_name = "Track 01.flac",
				   .track = 1, .year = 2000, .genre = "Rock" };

	(void)state;
	assert_render(NULL, &v, "Unknown Artist/Unknown Album/Track 01.flac");
	assert_render("$genre/$year/$title", &v,
		      "Unknown Artist/Unknown Album/Track 01.flac");
	v.orig_name = "/srv/music/.hidden:file?.FLAC";
	assert_render("$title", &v,
		      "Unknown Artist/Unknown Album/hidden-file.FLAC");
	v.orig_name = "noext";
	assert_render("$title", &v, "Unknown Artist/Unknown Album/noext");
	v.orig_name = NULL;
	assert_render("$title", &v,
		      "Unknown Artist/Unknown Album/Unknown Title.flac");
}

static void test_partly_tagged_uses_template(void **state)
{
	struct template_vars v = { .format = "flac", .orig_name = "t.flac",
				   .title = "Only A Title" };

	(void)state;
	assert_render(NULL, &v,
		      "Unknown Artist/Unknown Album [FLAC]/Only A Title.flac");
}

/* ---- dangling separators ---- */

static void test_dangling_leading(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.track = 0;
	assert_render("$track - $title", &v, "Super Going.flac");
	assert_render("${track}_${title}", &v, "Super Going.flac");
	assert_render("${track}-$title", &v, "Super Going.flac");
	v.year = 0;
	assert_render("($year) - $track - $title", &v, "Super Going.flac");
}

static void test_dangling_trailing_and_middle(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.year = 0;
	v.track = 0;
	assert_render("$title - $year", &v, "Super Going.flac");
	assert_render("$artist - $track - $title", &v,
		      "Boredoms - Super Going.flac");
	assert_render("$artist, $year", &v, "Boredoms.flac");
}

static void test_dangling_never_touches_values(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	v.track = 0;
	v.title = "__init__";
	assert_render("$track - $title", &v, "__init__.flac");
	v.artist = "Mouse on Mars_";
	assert_render("$artist$track - $title", &v,
		      "Mouse on Mars_ - __init__.flac");
}

/* ---- sanitizer ---- */

static void test_sanitize_banned_chars(void **state)
{
	(void)state;
	assert_sanitize("a/b", false, "a_b");
	assert_sanitize("a\\b", false, "a_b");
	assert_sanitize("a<b>c", false, "a_b_c");
	assert_sanitize("12\" Mix", false, "12' Mix");
	assert_sanitize("Who Are You?", false, "Who Are You");
	assert_sanitize("Sh*t", false, "Sh_t");
	assert_sanitize("a|b", false, "a_b");
	assert_sanitize("/\\<>\"?*|:", false, "____'__");
}

static void test_sanitize_colon(void **state)
{
	(void)state;
	assert_sanitize("Title: Subtitle", false, "Title - Subtitle");
	assert_sanitize("Title : Subtitle", false, "Title - Subtitle");
	assert_sanitize("Re:Stage", false, "Re-Stage");
	assert_sanitize("Title:", false, "Title");
	assert_sanitize(":Title", false, "Title");
}

static void test_sanitize_control_chars(void **state)
{
	(void)state;
	assert_sanitize("\x01\x7f", false, "_");
	assert_sanitize("a\x01" "b\x1f" "c\x7f" "d", false, "abcd");
	assert_sanitize("a\tb\r\nc", false, "a b c");
	assert_sanitize("C1\xc2\x85" "x\xc2\x9f", false, "C1x");
	assert_sanitize("\xef\xbb\xbf" "BOM", false, "BOM");
	assert_sanitize("line\xe2\x80\xa8" "sep", false, "line sep");
}

static void test_sanitize_leading_dot_dash(void **state)
{
	(void)state;
	assert_sanitize(".hidden", false, "hidden");
	assert_sanitize("...And Justice for All", false, "And Justice for All");
	assert_sanitize("-rf", false, "rf");
	assert_sanitize(" - .x", false, "x");
	assert_sanitize("_keep", false, "_keep");
}

static void test_sanitize_trailing_dot_space(void **state)
{
	(void)state;
	assert_sanitize("Vol.", false, "Vol");
	assert_sanitize("name . . ", false, "name");
	assert_sanitize("a b  ", false, "a b");
	assert_sanitize("Title..flac", true, "Title.flac");
}

static void test_sanitize_dots_and_empty(void **state)
{
	(void)state;
	assert_sanitize("..", false, "_");
	assert_sanitize(".", false, "_");
	assert_sanitize("", false, "_");
	assert_sanitize(NULL, false, "_");
	assert_sanitize("   ", true, "_");
	assert_sanitize("??", false, "_");
	assert_sanitize("../..", false, "_");
	assert_sanitize("../../etc", false, "_.._etc");
	assert_sanitize(".flac", true, "flac");
	assert_sanitize("-.flac", true, "_.flac");
}

static void test_sanitize_nfc(void **state)
{
	(void)state;
	assert_sanitize("Mo\xcc\x88torhead", false, "M\xc3\xb6torhead");
	assert_sanitize("Cafe\xcc\x81.flac", true, "Caf\xc3\xa9.flac");
}

static void test_sanitize_invalid_utf8(void **state)
{
	(void)state;
	/* lone continuation, truncated sequence, overlong, surrogate */
	assert_sanitize("a\x80" "b", false, "a\xef\xbf\xbd" "b");
	assert_sanitize("a\xe2\x82", false, "a\xef\xbf\xbd");
	assert_sanitize("\xc0\xafx", false, "\xef\xbf\xbd\xef\xbf\xbdx");
	assert_sanitize("\xed\xa0\x80", false,
			"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_sanitize("\xf4\x90\x80\x80", false,
			"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_sanitize("\xff", false, "\xef\xbf\xbd");
}

static void test_sanitize_cut_multibyte_keeps_ext(void **state)
{
	char *stem = repeat("\xe2\x82\xac", 100); /* 300 bytes of euro signs */
	char *name;
	char *got;
	size_t len;

	(void)state;
	name = malloc(strlen(stem) + 6);
	assert_non_null(name);
	memcpy(name, stem, strlen(stem));
	memcpy(name + strlen(stem), ".flac", 6);
	got = template_sanitize(name, true);
	assert_non_null(got);
	len = strlen(got);
	/* 250 bytes would split a euro sign: 83 of them (249) + ".flac" */
	assert_int_equal(len, 254);
	assert_string_equal(got + len - 5, ".flac");
	assert_memory_equal(got, stem, 249);
	assert_true(valid_utf8(got));
	free(got);
	/* without keep_ext the extension is cut like the rest */
	got = template_sanitize(name, false);
	assert_int_equal(strlen(got), 255);
	assert_memory_equal(got, stem, 255);
	free(got);
	free(name);
	free(stem);
}

static void test_sanitize_cut_grapheme_and_trailing(void **state)
{
	char *s = repeat("e\xcc\x81", 100); /* NFC turns this into 200 bytes */
	char *big = repeat("\xe2\x82\xac", 90); /* 270 bytes of euro signs */
	char *zalgo = repeat("\xcc\x81", 300);
	char *z;
	char *got;

	(void)state;
	got = template_sanitize(s, false);
	assert_int_equal(strlen(got), 200);
	free(got);
	free(s);
	s = calloc(1, 300);
	assert_non_null(s);
	/* combining marks stay with their base: q + dot below + circumflex */
	memset(s, 'x', 252);
	memcpy(s + 252, "q\xcc\xa3\xcc\x82", 6);
	got = template_sanitize(s, false);
	assert_int_equal(strlen(got), 252);
	free(got);
	/* the cut leaves trailing spaces: they go too */
	memcpy(s + 252, "   yyyyyyy", 11);
	got = template_sanitize(s, false);
	assert_int_equal(strlen(got), 252);
	free(got);
	free(s);
	got = template_sanitize(big, true);
	assert_int_equal(strlen(got), 255);
	assert_true(valid_utf8(got));
	free(got);
	/* one cluster longer than a name: cut on a code point boundary */
	z = malloc(strlen(zalgo) + 2);
	assert_non_null(z);
	z[0] = 'q';
	memcpy(z + 1, zalgo, strlen(zalgo) + 1);
	got = template_sanitize(z, false);
	assert_int_equal(strlen(got), 255);
	assert_true(valid_utf8(got));
	free(got);
	free(z);
	free(zalgo);
	free(big);
}

static void test_sanitize_keep_ext_detection(void **state)
{
	char *s = repeat("a", 300);
	char *name;
	char *got;

	(void)state;
	name = malloc(300 + 12);
	memcpy(name, s, 300);
	memcpy(name + 300, ". Brown", 8);
	got = template_sanitize(name, true); /* ". Brown" is no extension */
	assert_int_equal(strlen(got), 255);
	assert_memory_equal(got, s, 255);
	free(got);
	memcpy(name + 300, ".mp3", 5);
	got = template_sanitize(name, true);
	assert_int_equal(strlen(got), 255);
	assert_string_equal(got + 251, ".mp3");
	free(got);
	free(name);
	free(s);
}

static void test_render_hostile_values(void **state)
{
	struct template_vars v = full_track();
	char *huge = repeat("x\xe2\x82\xac", 2600); /* ~10 KB */
	char *p;
	size_t n;

	(void)state;
	v.artist = "\x01\x7f";
	v.album = huge;
	v.title = huge;
	p = render(NULL, &v, &n);
	assert_int_equal(n, 3);
	assert_true(valid_utf8(p));
	assert_memory_equal(p, "_/x", 3);
	assert_string_equal(p + strlen(p) - 5, ".flac");
	free(p);
	v.artist = "..";
	v.album = ".";
	v.title = "";
	assert_render(NULL, &v, "_/(1998) [FLAC]/03 - track03.flac");
	free(huge);
}

static void test_render_long_title_keeps_ext(void **state)
{
	struct template_vars v = full_track();
	char *title = repeat("\xe6\x97\xa5", 120); /* 360 bytes */
	char **c;
	size_t n;
	struct template *t;

	(void)state;
	v.title = title;
	assert_int_equal(template_compile(NULL, &t, NULL, 0), 0);
	assert_int_equal(template_render(t, &v, &c, &n), 0);
	assert_int_equal(n, 3);
	/* "03 - " is 5 bytes, 81 ideographs 243, ".flac" 5 */
	assert_int_equal(strlen(c[2]), 253);
	assert_string_equal(c[2] + 248, ".flac");
	assert_true(valid_utf8(c[2]));
	template_components_free(c, n);
	template_free(t);
	free(title);
}

/* ---- NFC and fold keys ---- */

static void test_nfc(void **state)
{
	char *s = template_nfc("Mo\xcc\x88torhead");

	(void)state;
	assert_string_equal(s, "M\xc3\xb6torhead");
	free(s);
	s = template_nfc("bad\xff");
	assert_string_equal(s, "bad\xef\xbf\xbd");
	free(s);
	s = template_nfc(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void assert_fold_equal(const char *a, const char *b, bool equal)
{
	char *fa = template_fold(a);
	char *fb = template_fold(b);

	assert_non_null(fa);
	assert_non_null(fb);
	assert_int_equal(strcmp(fa, fb) == 0, equal);
	free(fa);
	free(fb);
}

static void test_fold(void **state)
{
	(void)state;
	assert_fold_equal("Boredoms", "BOREDOMS", true);
	assert_fold_equal("boredoms", "BoReDoMs", true);
	assert_fold_equal("Mo\xcc\x88torhead", "M\xc3\xb6torhead", true);
	assert_fold_equal("MO\xcc\x88TORHEAD", "m\xc3\xb6torhead", true);
	assert_fold_equal("Stra\xc3\x9f" "e", "STRASSE", true);
	assert_fold_equal("Boredoms", "Boredom", false);
	assert_fold_equal("Motorhead", "M\xc3\xb6torhead", false);
}

/* ---- compile ---- */

static void test_compile_errors_with_column(void **state)
{
	(void)state;
	assert_compile_error("$artist/$yaer",
			     "unknown variable '$yaer' at column 9");
	assert_compile_error("$artist/${titel}",
			     "unknown variable 'titel' at column 11");
	assert_compile_error("$track_$title",
			     "unknown variable '$track_' (write '${track}_') "
			     "at column 1");
	assert_compile_error("$albumartists",
			     "unknown variable '$albumartists' (write "
			     "'${albumartist}s') at column 1");
	assert_compile_error("$5", "unknown variable '$5' at column 1");
	assert_compile_error("$artist/cost 5$",
			     "'$' without a variable name (write '$$' for a "
			     "literal '$') at column 15");
	assert_compile_error("$artist/${title", "unclosed '${' at column 9");
	assert_compile_error("${title/x}", "unclosed '${' at column 1");
	assert_compile_error("${}", "empty variable name at column 3");
	assert_compile_error("${|artist}", "empty variable name at column 3");
	assert_compile_error("${artist||x}",
			     "empty variable name at column 10");
	assert_compile_error("${Unknown|artist}",
			     "unknown variable 'Unknown' at column 3");
}

static void test_compile_errors_structure(void **state)
{
	(void)state;
	assert_compile_error("", "empty template at column 1");
	assert_compile_error("$artist//$title",
			     "empty path component at column 9");
	assert_compile_error("/$title", "empty path component at column 1");
	assert_compile_error("$title/", "empty path component at column 8");
	assert_compile_error("$album ($year", "unclosed '(' at column 8");
	assert_compile_error("$album ($year/$title)",
			     "unclosed '(' at column 8");
	assert_compile_error("$album)", "unmatched ')' at column 7");
	assert_compile_error("$album ($year]", "unmatched ']' at column 14");
	assert_compile_error("../$title",
			     "'..' is not a valid path component at column 1");
	/* columns count characters, not bytes */
	assert_compile_error("\xc3\xa9\xc3\xa9/$x",
			     "unknown variable '$x' at column 4");
}

static void test_compile_limits(void **state)
{
	char *deep = repeat("(", 40);
	char *longer = repeat("a", TEMPLATE_TEXT_MAX + 1);
	char err[128];
	struct template *t;

	(void)state;
	assert_int_equal(template_compile(deep, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nested more than"));
	assert_int_equal(template_compile(longer, &t, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	/* no message buffer is fine */
	assert_int_equal(template_compile("$nope", &t, NULL, 0), -EINVAL);
	assert_null(t);
	free(deep);
	free(longer);
}

static void test_template_uses(void **state)
{
	struct template *t;

	(void)state;
	assert_int_equal(template_compile(NULL, &t, NULL, 0), 0);
	assert_true(template_uses(t, "albumartist"));
	assert_true(template_uses(t, "artist")); /* implicit fallback */
	assert_true(template_uses(t, "$year"));
	assert_true(template_uses(t, "format"));
	assert_false(template_uses(t, "disc"));
	assert_false(template_uses(t, "genre"));
	assert_false(template_uses(t, "nonsense"));
	template_free(t);
	assert_int_equal(template_compile("${genre|disc}/$title", &t, NULL, 0),
			 0);
	assert_true(template_uses(t, "disc"));
	assert_true(template_uses(t, "format")); /* the extension */
	assert_false(template_uses(t, "artist"));
	template_free(t);
	assert_false(template_uses(NULL, "disc"));
	template_free(NULL);
	template_components_free(NULL, 0);
}

static void test_template_literal_sanitized(void **state)
{
	struct template_vars v = full_track();

	(void)state;
	assert_render("$artist: $album/<$title>", &v,
		      "Boredoms - Super Ae/_Super Going_.flac");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_full_track),
		cmocka_unit_test(test_albumartist_preferred_and_fallback),
		cmocka_unit_test(test_defaults_for_missing_values),
		cmocka_unit_test(test_title_defaults_to_file_name),
		cmocka_unit_test(test_values_trimmed),
		cmocka_unit_test(test_chain_first_present),
		cmocka_unit_test(test_chain_without_literal),
		cmocka_unit_test(test_chain_empty_default_and_spaces),
		cmocka_unit_test(test_braced_syntax),
		cmocka_unit_test(test_format_and_extension),
		cmocka_unit_test(test_slash_in_value_never_splits),
		cmocka_unit_test(test_group_paren_vanishes),
		cmocka_unit_test(test_group_bracket_and_brace_vanish),
		cmocka_unit_test(test_group_without_variables_stays),
		cmocka_unit_test(test_group_with_text_and_value_stays),
		cmocka_unit_test(test_group_nested),
		cmocka_unit_test(test_group_inner_dangling),
		cmocka_unit_test(test_track_padding_and_numbers),
		cmocka_unit_test(test_multi_disc_track),
		cmocka_unit_test(test_multi_disc_template_uses_disc),
		cmocka_unit_test(test_single_disc_hides_disc),
		cmocka_unit_test(test_untagged_fallback),
		cmocka_unit_test(test_partly_tagged_uses_template),
		cmocka_unit_test(test_dangling_leading),
		cmocka_unit_test(test_dangling_trailing_and_middle),
		cmocka_unit_test(test_dangling_never_touches_values),
		cmocka_unit_test(test_sanitize_banned_chars),
		cmocka_unit_test(test_sanitize_colon),
		cmocka_unit_test(test_sanitize_control_chars),
		cmocka_unit_test(test_sanitize_leading_dot_dash),
		cmocka_unit_test(test_sanitize_trailing_dot_space),
		cmocka_unit_test(test_sanitize_dots_and_empty),
		cmocka_unit_test(test_sanitize_nfc),
		cmocka_unit_test(test_sanitize_invalid_utf8),
		cmocka_unit_test(test_sanitize_cut_multibyte_keeps_ext),
		cmocka_unit_test(test_sanitize_cut_grapheme_and_trailing),
		cmocka_unit_test(test_sanitize_keep_ext_detection),
		cmocka_unit_test(test_render_hostile_values),
		cmocka_unit_test(test_render_long_title_keeps_ext),
		cmocka_unit_test(test_nfc),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_compile_errors_with_column),
		cmocka_unit_test(test_compile_errors_structure),
		cmocka_unit_test(test_compile_limits),
		cmocka_unit_test(test_template_uses),
		cmocka_unit_test(test_template_literal_sanitized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
