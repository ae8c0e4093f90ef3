/*
 * bench_formats.c - how fast the format layer parses and synthesizes.
 *
 *   bench_formats parse REPEAT FILE...   files/s of formats_parse (one core)
 *   bench_formats synth REPEAT FILE      mean time of formats_synthesize
 *
 * parse opens each file, parses it through a file-descriptor source as the
 * scanner does (FORMATS_PARSE_LAZY_PICTURES: an Ogg cover is located, not
 * decoded), and closes it, REPEAT times over the list.  synth parses once,
 * the same way, then synthesizes a header with the file's own tags and
 * picture REPEAT times.  Figures go to stdout as "key value" lines for the
 * script.
 */
#include "common/mfs.h"
#include "formats/formats.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_one(const char *path, struct formats_meta *meta)
{
	struct formats_source src;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0 || fstat(fd, &st))
		return -errno;
	formats_source_from_fd(&src, &fd, (uint64_t)st.st_size);
	rc = formats_parse_flags(&src, path, FORMATS_PARSE_LAZY_PICTURES, meta);
	close(fd);
	return rc;
}

static int bench_parse(long repeat, int n, char **files)
{
	struct formats_meta meta;
	long r, done = 0, failed = 0;
	double t0 = now_s(), dt;
	int i;

	for (r = 0; r < repeat; r++) {
		for (i = 0; i < n; i++) {
			if (parse_one(files[i], &meta))
				failed++;
			formats_meta_release(&meta);
			done++;
		}
	}
	dt = now_s() - t0;
	printf("parsed %ld\nfailed %ld\nseconds %.4f\nfiles_per_s %.0f\n",
	       done, failed, dt, (double)done / dt);
	return failed ? 1 : 0;
}

static int bench_synth(long repeat, const char *path)
{
	struct formats_meta meta;
	struct formats_source src;
	struct formats_synth s;
	struct stat st;
	uint64_t pic_bytes;
	double t0, dt;
	long r;
	int fd, rc;

	rc = parse_one(path, &meta);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rc || fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "bench_formats: cannot parse '%s'\n", path);
		return 1;
	}
	formats_source_from_fd(&src, &fd, (uint64_t)st.st_size);
	pic_bytes = meta.picture.data ? meta.picture.data_len
				      : meta.picture.length;
	t0 = now_s();
	for (r = 0; r < repeat && !rc; r++) {
		rc = formats_synthesize(&src, &meta, &meta.tags,
					meta.picture.present ? &meta.picture
							     : NULL,
					&s);
		formats_synth_release(&s);
	}
	dt = now_s() - t0;
	close(fd);
	formats_meta_release(&meta);
	if (rc) {
		printf("synth_error %s\n", strerror(-rc));
		return 1;
	}
	printf("picture_bytes %" PRIu64 "\nms_per_synth %.4f\n", pic_bytes,
	       dt * 1000.0 / (double)repeat);
	return 0;
}

int main(int argc, char **argv)
{
	long repeat;

	if (argc < 4 || (repeat = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: bench_formats parse|synth REPEAT FILE...\n");
		return 2;
	}
	if (!strcmp(argv[1], "parse"))
		return bench_parse(repeat, argc - 3, argv + 3);
	if (!strcmp(argv[1], "synth"))
		return bench_synth(repeat, argv[3]);
	return 2;
}
