/*
 * synth_tool.c - run header synthesis on a file, for the round-trip tests.
 *
 *   synth_tool IN OUT [--via-vfile] [--keep-picture | --picture FILE MIME]
 *              [KEY=VALUE]...
 *
 * Parses IN as the scanner does (an Ogg cover located, not decoded, so
 * --keep-picture keeps its base64 text), synthesizes a file carrying
 * exactly the given tags (KEY is a field name of struct formats_tags -
 * title artist album album_artist genre composer date comment track
 * track_total disc disc_total compilation - or any other key, kept as an
 * extra tag), and writes the segments, in order, to OUT.  Ogg renumbering is applied as a reader
 * would see it.  With --via-vfile the output is read through a vfile (the
 * mount's read path) in odd-sized chunks instead.  Exit 0, or 1 with a
 * message.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "formats/formats.h"
#include "origins/origins.h"
#include "vfile/vfile.h"

#include <libgen.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int set_field(struct formats_tags *t, const char *key, const char *val)
{
	struct { const char *name; char **field; } text[] = {
		{ "title", &t->title }, { "artist", &t->artist },
		{ "album", &t->album }, { "album_artist", &t->album_artist },
		{ "genre", &t->genre }, { "composer", &t->composer },
		{ "date", &t->date }, { "comment", &t->comment },
	};
	struct { const char *name; int *field; } num[] = {
		{ "track", &t->track }, { "track_total", &t->track_total },
		{ "disc", &t->disc }, { "disc_total", &t->disc_total },
		{ "year", &t->year },
	};
	struct formats_field *ex;
	long long v;
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(text); i++)
		if (!strcmp(key, text[i].name)) {
			*text[i].field = strdup(val);
			return 0;
		}
	for (i = 0; i < MFS_ARRAY_SIZE(num); i++)
		if (!strcmp(key, num[i].name))
			return str_to_ll(val, 0, INT_MAX, &v) ? -EINVAL
			       : (*num[i].field = (int)v, 0);
	if (!strcmp(key, "compilation")) {
		t->compilation = !strcmp(val, "1");
		return 0;
	}
	ex = realloc(t->extra, (t->n_extra + 1) * sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	t->extra = ex;
	ex[t->n_extra].key = strdup(key);
	ex[t->n_extra].value = strdup(val);
	t->n_extra++;
	return 0;
}

static int load_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = malloc(n > 0 ? (size_t)n : 1);
	*len = *data ? fread(*data, 1, (size_t)n, f) : 0;
	fclose(f);
	return *data ? 0 : -ENOMEM;
}

/* Copy one segment to out, fixing Ogg pages when asked. */
static int write_segment(int in, FILE *out, const struct formats_segment *s)
{
	uint8_t *buf;
	int rc = 0;

	if (s->data)
		return fwrite(s->data, 1, s->length, out) == s->length ? 0 : -EIO;
	buf = malloc(s->length ? s->length : 1);
	if (!buf)
		return -ENOMEM;
	if (pread(in, buf, s->length, (off_t)s->src_offset) != (ssize_t)s->length)
		rc = -EIO;
	if (!rc && s->ogg_seq_delta)
		rc = formats_ogg_fix_pages(buf, s->length, s->ogg_serial,
					   s->ogg_seq_delta);
	if (!rc && fwrite(buf, 1, s->length, out) != s->length)
		rc = -EIO;
	free(buf);
	return rc;
}

/* Read the synthesized file through the mount's read path. */
static int write_via_vfile(const char *in, const struct formats_synth *synth,
			   FILE *out)
{
	char *dir_copy = strdup(in), *base_copy = strdup(in);
	struct origin *o = NULL;
	struct vfile *vf = NULL;
	char chunk[4099];
	uint64_t off = 0;
	ssize_t n = 1;
	int rc;

	rc = dir_copy && base_copy
		     ? origin_open_local("tool", dirname(dir_copy), 1, &o)
		     : -ENOMEM;
	if (!rc)
		rc = vfile_open_synth(o, basename(base_copy), synth, NULL, &vf);
	while (!rc && n > 0) {
		n = vfile_read(vf, chunk, sizeof(chunk), off);
		if (n < 0)
			rc = (int)n;
		else if (fwrite(chunk, 1, (size_t)n, out) != (size_t)n)
			rc = -EIO;
		off += n > 0 ? (uint64_t)n : 0;
	}
	if (!rc && off != vfile_size(vf))
		rc = -EIO;
	vfile_close(vf);
	origin_free(o);
	free(dir_copy);
	free(base_copy);
	return rc;
}

static int run(int argc, char **argv)
{
	struct formats_meta meta = { 0 }, next = { 0 };
	struct formats_picture pic = { 0 };
	const struct formats_picture *picp = NULL;
	struct formats_source src;
	struct formats_synth synth;
	struct stat st;
	bool via_vfile = false;
	FILE *out;
	size_t i;
	int fd, a, rc;

	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return -errno;
	formats_source_from_fd(&src, &fd, (uint64_t)st.st_size);
	rc = formats_parse_flags(&src, argv[1], FORMATS_PARSE_LAZY_PICTURES,
				 &meta);
	for (a = 3; !rc && a < argc; a++) {
		char *eq = strchr(argv[a], '=');

		if (!strcmp(argv[a], "--via-vfile")) {
			via_vfile = true;
		} else if (!strcmp(argv[a], "--keep-picture")) {
			picp = meta.picture.present ? &meta.picture : NULL;
		} else if (!strcmp(argv[a], "--picture") && a + 2 < argc) {
			pic.present = true;
			pic.type = 3;
			snprintf(pic.mime, sizeof(pic.mime), "%s", argv[a + 2]);
			rc = load_file(argv[a + 1], &pic.data, &pic.data_len);
			picp = &pic;
			a += 2;
		} else if (eq) {
			*eq = '\0';
			rc = set_field(&next.tags, argv[a], eq + 1);
		} else {
			rc = -EINVAL;
		}
	}
	if (!rc)
		rc = formats_synthesize(&src, &meta, &next.tags, picp, &synth);
	if (rc)
		goto out;
	out = fopen(argv[2], "wb");
	rc = out ? 0 : -errno;
	if (!rc && via_vfile)
		rc = write_via_vfile(argv[1], &synth, out);
	for (i = 0; !rc && !via_vfile && i < synth.n_segs; i++)
		rc = write_segment(fd, out, &synth.segs[i]);
	if (out && fclose(out) && !rc)
		rc = -EIO;
	formats_synth_release(&synth);
out:
	free(pic.data);
	formats_meta_release(&next);
	formats_meta_release(&meta);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: synth_tool IN OUT [--keep-picture | "
				"--picture FILE MIME] [KEY=VALUE]...\n");
		return 2;
	}
	rc = run(argc, argv);
	if (rc) {
		fprintf(stderr, "synth_tool: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	return 0;
}
