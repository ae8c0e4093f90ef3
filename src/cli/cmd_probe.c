/*
 * cmd_probe.c - musicfs probe: what the format layer reads from files.
 *
 * For each FILE: open it, run formats_parse() through a file descriptor
 * source (no daemon, no catalog, no configuration) and print what MusicFS
 * reads: the format, every named tag field, the other tags, technical
 * info, the embedded picture and the byte layout.  Aligned text by
 * default; with --json one JSON array, an object per file in the order
 * given, with stable key names (the entry point of the differential tests,
 * tests/integration/test_probe.py).
 *
 * A file that cannot be opened or parsed gets one line on stderr naming
 * it and the reason (and, in JSON, an object with "file" and "error");
 * the other files are still printed.  Exit code 1 if any file failed, 0
 * otherwise, 2 for bad usage.
 *
 * Tags come from hostile files.  Text output escapes control characters
 * and invalid UTF-8 (\n, \x1b, \u009b), so a tag cannot drive the
 * terminal; JSON output replaces invalid UTF-8 with U+FFFD (extra keys
 * are kept as in the file and may be any bytes).  The picture's CRC-32
 * (zlib's) is printed so that a picture MusicFS decodes (base64 in Ogg,
 * unsynchronised ID3) can be compared with another tool's bytes.
 */
#define MFS_LOG_MODULE MFS_LOGM_CLI
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "log/log.h"
#include "cli/cli_i.h"
#include "formats/formats.h"

#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

static const char probe_usage[] =
	"usage: musicfs probe FILE... [--json]\n"
	"\n"
	"Print what MusicFS reads from audio files: the format, the tags, the\n"
	"duration, sample rate, channels and bit rate, the embedded picture\n"
	"and where the audio payload starts and ends.  No daemon is needed.\n"
	"A file that cannot be read is reported on stderr and the others are\n"
	"still printed; the exit code is then 1.\n"
	"\n"
	"options:\n"
	"  -j, --json              one JSON array, an object per file\n"
	"  -h, --help              show this help\n";

/* Width of the labels of the text output. */
#define PROBE_LABEL_WIDTH 13
/* Bytes of an embedded picture read at a time for its checksum. */
#define PROBE_READ_CHUNK ((size_t)64 << 10)

/* One file being probed. */
struct probe_file {
	const char *path;
	int fd;			/* -1 when not open */
	uint64_t size;
	struct formats_meta meta;
	bool have_crc;		/* pic_crc is the picture's CRC-32 */
	uint32_t pic_crc;
	char why[256];		/* the reason it failed */
};

static const char *const probe_kind_names[FORMATS_KIND_COUNT] = {
	[FORMATS_UNKNOWN] = "unknown",
	[FORMATS_FLAC] = "FLAC",
	[FORMATS_MP3] = "MP3",
	[FORMATS_OGG_VORBIS] = "Ogg Vorbis",
	[FORMATS_OPUS] = "Ogg Opus",
	[FORMATS_WAV] = "WAV",
	[FORMATS_M4A] = "MP4 audio",
	[FORMATS_AAC] = "AAC (ADTS)",
};

/* The picture types of ID3v2 APIC and FLAC PICTURE. */
static const char *const probe_picture_types[] = {
	"other", "file icon", "other file icon", "front cover",
	"back cover", "leaflet page", "media", "lead artist", "artist",
	"conductor", "band", "composer", "lyricist", "recording location",
	"during recording", "during performance", "screen capture",
	"bright coloured fish", "illustration", "band logotype",
	"publisher logotype",
};

static const char *picture_type_name(uint32_t type)
{
	if (type < MFS_ARRAY_SIZE(probe_picture_types))
		return probe_picture_types[type];
	return "unknown";
}

/* ---- checksum ---------------------------------------------------------- */

/* CRC-32 as zlib and PNG compute it (reflected, polynomial 0xEDB88320). */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	static uint32_t table[256];
	uint32_t c;
	size_t i;
	int k;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
			table[i] = c;
		}
	}
	crc = ~crc;
	for (i = 0; i < n; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* CRC-32 of the picture: the decoded copy, or its bytes in the file. */
static int picture_crc(struct probe_file *pf)
{
	const struct formats_picture *pic = &pf->meta.picture;
	uint64_t done = 0;
	uint8_t *chunk;
	ssize_t n;
	size_t want;
	uint32_t crc = 0;

	if (pic->data) {
		pf->pic_crc = crc32_update(0, pic->data, pic->data_len);
		pf->have_crc = true;
		return 0;
	}
	chunk = malloc(PROBE_READ_CHUNK);
	if (!chunk)
		return -ENOMEM;
	while (done < pic->length) {
		want = (size_t)MFS_MIN(pic->length - done,
				       (uint64_t)PROBE_READ_CHUNK);
		n = pread(pf->fd, chunk, want, (off_t)(pic->offset + done));
		if (n <= 0) {
			free(chunk);
			return n < 0 ? -errno : -EIO;
		}
		crc = crc32_update(crc, chunk, (size_t)n);
		done += (uint64_t)n;
	}
	free(chunk);
	pf->pic_crc = crc;
	pf->have_crc = true;
	return 0;
}

/* ---- reading ----------------------------------------------------------- */

static void set_why(struct probe_file *pf, int rc)
{
	const char *why;

	switch (rc) {
	case -EBADMSG:
		why = "not a supported audio file, or damaged beyond reading";
		break;
	case -EFBIG:
		why = "a tag is larger than MusicFS reads (16 MiB)";
		break;
	case -EISDIR:
		why = "is a folder";
		break;
	case -ENODEV:
		why = "not a regular file";
		break;
	default:
		why = strerror(-rc);
		break;
	}
	str_copy(pf->why, why, sizeof(pf->why));
}

/*
 * Open pf->path and parse it into pf->meta, then checksum its picture.
 * 0 or -errno with the reason in pf->why.  pf->fd stays open until
 * probe_release().  FIFOs and devices are refused, not read.
 */
static int probe_open(struct probe_file *pf)
{
	const char *slash = strrchr(pf->path, '/');
	struct formats_source src;
	struct stat st;
	int rc;

	pf->fd = open(pf->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (pf->fd < 0) {
		rc = -errno;
		goto out;
	}
	if (fstat(pf->fd, &st)) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -ENODEV;
		goto out;
	}
	pf->size = (uint64_t)st.st_size;
	formats_source_from_fd(&src, &pf->fd, pf->size);
	rc = formats_parse(&src, slash ? slash + 1 : pf->path, &pf->meta);
	if (!rc && pf->meta.picture.present)
		rc = picture_crc(pf);
out:
	if (rc)
		set_why(pf, rc);
	return rc;
}

static void probe_release(struct probe_file *pf)
{
	formats_meta_release(&pf->meta);
	if (pf->fd >= 0)
		close(pf->fd);
	pf->fd = -1;
}

/* ---- the tag fields, for both outputs ---------------------------------- */

static const struct probe_text_field {
	const char *label;	/* text output */
	const char *key;	/* JSON key */
	size_t off;		/* of the char * in struct formats_tags */
} probe_text_fields[] = {
	{ "title", "title", offsetof(struct formats_tags, title) },
	{ "artist", "artist", offsetof(struct formats_tags, artist) },
	{ "album", "album", offsetof(struct formats_tags, album) },
	{ "album artist", "album_artist",
	  offsetof(struct formats_tags, album_artist) },
	{ "genre", "genre", offsetof(struct formats_tags, genre) },
	{ "composer", "composer", offsetof(struct formats_tags, composer) },
	{ "date", "date", offsetof(struct formats_tags, date) },
	{ "comment", "comment", offsetof(struct formats_tags, comment) },
};

static const char *tag_text(const struct formats_tags *t, size_t i)
{
	const char *base = (const char *)t;

	return *(char *const *)(base + probe_text_fields[i].off);
}

/* ---- text output ------------------------------------------------------- */

/* One character of text_escaped: cp is the code point of p[0..k). */
static void text_char(const uint8_t *p, size_t k, int32_t cp)
{
	if (cp == '\n')
		fputs("\\n", stdout);
	else if (cp == '\t')
		fputs("\\t", stdout);
	else if (cp == '\r')
		fputs("\\r", stdout);
	else if (cp < 0x20 || cp == 0x7f)
		printf("\\x%02x", (unsigned)cp);
	else if (cp >= 0x80 && cp < 0xa0)	/* C1 controls: CSI is one */
		printf("\\u%04x", (unsigned)cp);
	else
		fwrite(p, 1, k, stdout);
}

/* Write s with control characters and invalid UTF-8 escaped. */
static void text_escaped(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;

	while (n) {
		k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
		if (k <= 0) {
			printf("\\x%02x", *p);
			k = 1;
		} else {
			text_char(p, (size_t)k, cp);
		}
		p += k;
		n -= (size_t)k;
	}
}

static void text_label(const char *label)
{
	printf("  %-*s ", PROBE_LABEL_WIDTH, label);
}

/* A line "label value"; "(none)" for NULL. */
static void text_str(const char *label, const char *value)
{
	text_label(label);
	text_escaped(value ? value : "(none)");
	putchar('\n');
}

static void MFS_PRINTF(2, 3) text_fmt(const char *label, const char *fmt, ...)
{
	va_list ap;

	text_label(label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* "3/12", "3", "?/12" or "(none)". */
static void text_pair(const char *label, int num, int total)
{
	if (!num && !total)
		text_str(label, NULL);
	else if (!total)
		text_fmt(label, "%d", num);
	else if (!num)
		text_fmt(label, "?/%d", total);
	else
		text_fmt(label, "%d/%d", num, total);
}

static void text_tags(const struct formats_tags *t)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(probe_text_fields); i++)
		text_str(probe_text_fields[i].label, tag_text(t, i));
	if (t->year)
		text_fmt("year", "%d", t->year);
	else
		text_str("year", NULL);
	text_pair("track", t->track, t->track_total);
	text_pair("disc", t->disc, t->disc_total);
	text_str("compilation", t->compilation ? "yes" : "no");
	if (!t->n_extra)
		text_str("extra", NULL);
	for (i = 0; i < t->n_extra; i++) {
		text_label(i ? "" : "extra");
		text_escaped(t->extra[i].key);
		fputs(" = ", stdout);
		text_escaped(t->extra[i].value);
		putchar('\n');
	}
}

static void text_tech(const struct formats_meta *m)
{
	if (m->duration > 0)
		text_fmt("duration", "%.3f s", m->duration);
	else
		text_str("duration", NULL);
	if (m->sample_rate)
		text_fmt("sample rate", "%" PRIu32 " Hz", m->sample_rate);
	else
		text_str("sample rate", NULL);
	if (m->channels)
		text_fmt("channels", "%u", (unsigned)m->channels);
	else
		text_str("channels", NULL);
	if (m->bitrate)
		text_fmt("bit rate", "%.1f kbit/s", m->bitrate / 1000.0);
	else
		text_str("bit rate", NULL);
}

static void text_picture(const struct probe_file *pf)
{
	const struct formats_picture *pic = &pf->meta.picture;

	if (!pic->present) {
		text_str("picture", NULL);
		return;
	}
	text_label("picture");
	printf("%s (type %" PRIu32 "), ", picture_type_name(pic->type),
	       pic->type);
	text_escaped(pic->mime[0] ? pic->mime : "unknown image type");
	if (pic->data)
		printf(", decoded, %zu bytes", pic->data_len);
	else
		printf(", %" PRIu64 " bytes at offset %" PRIu64, pic->length,
		       pic->offset);
	printf(", crc32 %08" PRIx32 "\n", pf->pic_crc);
}

/* The text block of one file, after a blank line unless it is the first. */
static void text_file(const struct probe_file *pf, bool *printed)
{
	const struct formats_meta *m = &pf->meta;

	if (*printed)
		putchar('\n');
	*printed = true;
	text_escaped(pf->path);
	putchar('\n');
	text_fmt("format", "%s (%s)", probe_kind_names[m->kind],
		 formats_kind_ext(m->kind));
	text_tags(&m->tags);
	text_tech(m);
	text_picture(pf);
	text_fmt("audio start", "%" PRIu64, m->audio_start);
	text_fmt("audio end", "%" PRIu64 " (%" PRIu64 " bytes of audio)",
		 m->audio_end, m->audio_end - m->audio_start);
	text_fmt("file size", "%" PRIu64, pf->size);
}

/* ---- JSON output ------------------------------------------------------- */

/* A copy of s with invalid UTF-8 replaced by U+FFFD.  Caller frees. */
static char *utf8_repair(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;
	struct buf b;

	buf_init(&b, 3 * n + 1);
	while (n) {
		k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
		if (k <= 0) {
			k = 1;
			if (buf_add(&b, "\xef\xbf\xbd", 3))
				break;
		} else if (buf_add(&b, p, (size_t)k)) {
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	if (n) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* A JSON string of s, repaired if it is not UTF-8.  NULL on ENOMEM. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *fixed;

	if (j)
		return j;
	fixed = utf8_repair(s);
	j = fixed ? json_string(fixed) : NULL;
	free(fixed);
	return j;
}

static json_t *json_text_or_null(const char *s)
{
	return s && *s ? json_text(s) : json_null();
}

/* A number that MusicFS stores as 0 when absent. */
static json_t *json_count(long long v)
{
	return v ? json_integer(v) : json_null();
}

/* obj[key] = val (the reference is stolen); false if either failed. */
static bool jset(json_t *obj, const char *key, json_t *val)
{
	return val && !json_object_set_new(obj, key, val);
}

/* The same with a key from the file, repaired if it is not UTF-8. */
static bool jset_file_key(json_t *obj, const char *key, json_t *val)
{
	char *fixed;
	bool ok;

	if (!val)
		return false;
	if (!json_object_set_new(obj, key, json_incref(val))) {
		json_decref(val);
		return true;
	}
	fixed = utf8_repair(key);
	ok = fixed && !json_object_set_new(obj, fixed, val);
	if (!fixed)
		json_decref(val);
	free(fixed);
	return ok;
}

static json_t *json_tags(const struct formats_tags *t)
{
	json_t *o = json_object();
	bool ok = o != NULL;
	size_t i;

	for (i = 0; ok && i < MFS_ARRAY_SIZE(probe_text_fields); i++)
		ok = jset(o, probe_text_fields[i].key,
			  json_text_or_null(tag_text(t, i)));
	ok = ok && jset(o, "year", json_count(t->year)) &&
	     jset(o, "track", json_count(t->track)) &&
	     jset(o, "track_total", json_count(t->track_total)) &&
	     jset(o, "disc", json_count(t->disc)) &&
	     jset(o, "disc_total", json_count(t->disc_total)) &&
	     jset(o, "compilation", json_boolean(t->compilation));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *json_extra(const struct formats_tags *t)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; o && i < t->n_extra; i++) {
		if (!jset_file_key(o, t->extra[i].key,
				   json_text(t->extra[i].value))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *json_picture(const struct probe_file *pf)
{
	const struct formats_picture *pic = &pf->meta.picture;
	const char *type_name = picture_type_name(pic->type);
	json_int_t length = (json_int_t)pic->length;
	json_t *offset;
	json_t *o;
	bool ok;

	if (!pic->present)
		return json_null();
	if (pic->data) {
		length = (json_int_t)pic->data_len;
		offset = json_null();
	} else {
		offset = json_integer((json_int_t)pic->offset);
	}
	o = json_object();
	ok = o && jset(o, "type", json_integer(pic->type)) &&
	     jset(o, "type_name", json_string(type_name)) &&
	     jset(o, "mime", json_text_or_null(pic->mime)) &&
	     jset(o, "stored", json_string(pic->data ? "decoded" : "raw")) &&
	     jset(o, "offset", json_incref(offset)) &&
	     jset(o, "length", json_integer(length)) &&
	     jset(o, "crc32", json_integer(pf->pic_crc));
	json_decref(offset);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *json_duration(double seconds)
{
	return seconds > 0 && isfinite(seconds) ? json_real(seconds)
						: json_null();
}

/* The object of one file read.  NULL on ENOMEM. */
static json_t *json_file(const struct probe_file *pf)
{
	const struct formats_meta *m = &pf->meta;
	json_t *o = json_object();
	bool ok;

	ok = o && jset(o, "file", json_text(pf->path)) &&
	     jset(o, "format", json_string(formats_kind_ext(m->kind))) &&
	     jset(o, "size", json_integer((json_int_t)pf->size)) &&
	     jset(o, "tags", json_tags(&m->tags)) &&
	     jset(o, "extra", json_extra(&m->tags)) &&
	     jset(o, "duration", json_duration(m->duration)) &&
	     jset(o, "sample_rate", json_count(m->sample_rate)) &&
	     jset(o, "channels", json_count(m->channels)) &&
	     jset(o, "bitrate", json_count(m->bitrate)) &&
	     jset(o, "picture", json_picture(pf)) &&
	     jset(o, "audio_start", json_integer((json_int_t)m->audio_start)) &&
	     jset(o, "audio_end", json_integer((json_int_t)m->audio_end));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The object of a file that failed: {"file": ..., "error": ...}. */
static json_t *json_failed(const struct probe_file *pf)
{
	json_t *o = json_object();

	if (o && jset(o, "file", json_text(pf->path)) &&
	    jset(o, "error", json_text(pf->why)))
		return o;
	json_decref(o);
	return NULL;
}

/* ---- the command ------------------------------------------------------- */

/*
 * Probe one file and print it (text) or append its object to arr (JSON).
 * A failure is reported on stderr.  0 or -errno.
 */
static int probe_one(const char *path, json_t *arr, bool *printed)
{
	struct probe_file pf = { .path = path, .fd = -1 };
	json_t *obj = NULL;
	int rc;

	rc = probe_open(&pf);
	if (arr) {
		obj = rc ? json_failed(&pf) : json_file(&pf);
		if (!obj || json_array_append_new(arr, obj)) {
			set_why(&pf, -ENOMEM);
			rc = -ENOMEM;
		}
	} else if (!rc) {
		text_file(&pf, printed);
	}
	if (rc) {
		fflush(stdout);
		cli_error("cannot probe '%s': %s", path, pf.why);
	}
	probe_release(&pf);
	return rc;
}

/* 0, -1 after --help, or CLI_EXIT_USAGE. */
static int parse_flags(int argc, char **argv, bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			fputs(probe_usage, stdout);
			return -1;
		default:
			fputs(probe_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_error("probe: no file given");
		fputs(probe_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* MUSICFS_LOG, then -l: the format layer logs why a file is rejected. */
static int apply_log_level(const char *global_flag)
{
	const char *specs[] = { getenv("MUSICFS_LOG"), global_flag };

	return cli_apply_log_filters(specs, MFS_ARRAY_SIZE(specs));
}

/* Write the JSON document and check that stdout took everything. */
static int finish_output(json_t *arr)
{
	int rc = 0;

	if (arr && (json_dumpf(arr, stdout, JSON_INDENT(2)) ||
		    putchar('\n') == EOF))
		rc = -EIO;
	if (fflush(stdout) || ferror(stdout))
		rc = -EIO;
	if (rc)
		cli_error("cannot write the output: %s", strerror(errno));
	return rc;
}

int cmd_probe(int argc, char **argv, const struct cli_global *g)
{
	json_t *arr = NULL;
	bool json = false;
	bool printed = false;
	bool failed = false;
	int rc;
	int i;

	rc = parse_flags(argc, argv, &json);
	if (!rc)
		rc = apply_log_level(g->log_level);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (json) {
		arr = json_array();
		if (!arr) {
			cli_error("out of memory");
			return CLI_EXIT_FAILURE;
		}
	}
	for (i = optind; i < argc; i++)
		if (probe_one(argv[i], arr, &printed))
			failed = true;
	if (finish_output(arr))
		failed = true;
	json_decref(arr);
	return failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
