/*
 * bench_cache.c - the cache's store path over one file, on one thread, for
 * bench_cache.sh.
 *
 *   bench_cache MODE FILE [CACHE_DIR] [--scalar]
 *
 * The file is mapped (MAP_POPULATE, before the clock starts: the page
 * cache should be warm, the script reads it first) and cut into windows of
 * CACHE_WINDOW bytes, each going through MODE:
 *
 *   read    read(2) of the file into a 4 MiB buffer instead, nothing else:
 *           what reading costs (not part of the other modes)
 *   cdc     cache_chunk_window (FastCDC boundaries only)
 *   sha     SHA-256 of consecutive 64 KiB pieces (hashing alone)
 *   shamany the same through cache_sha256_many, a window's pieces at once
 *           (two lanes of SHA-NI; --openssl: OpenSSL one by one)
 *   cdcsha  FastCDC, then SHA-256 of every chunk (the chunking bar)
 *   store   cache_chunk_and_store into CACHE_DIR: cut, hash, write every
 *           chunk file (the whole store path)
 *   put     the same with one cache_store_put per chunk, each with its own
 *           flush (what the batching of cache_chunk_and_store saves)
 *
 * --scalar forces the portable FastCDC kernel.  Prints one line:
 *   mode=M kernel=K bytes=N chunks=C new=W wall=S cpu=S
 * with wall and process CPU seconds; the script turns them into GB/s.
 */
#include "common/mfs.h"
#include "common/fdio.h"
#include "cache/cache.h"
#include "log/log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct run {
	const char *mode;
	struct cache_store *st;
	uint64_t chunks, fresh;
	uint8_t sink;		/* keeps the hashes alive */
};

static double seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void count_chunk(void *ctx, size_t off, size_t len)
{
	(void)off;
	(void)len;
	((struct run *)ctx)->chunks++;
}

/* cdcsha and put: chunk a window, then hash (and store) each chunk. */
struct cdcsha {
	struct run *r;
	const uint8_t *win;
};

static void hash_chunk(void *ctx, size_t off, size_t len)
{
	struct cdcsha *c = ctx;
	uint8_t h[CACHE_HASH_LEN];

	if (cache_sha256(c->win + off, len, h))
		exit(1);
	c->r->sink ^= h[0];
	c->r->chunks++;
}

static void put_chunk(void *ctx, size_t off, size_t len)
{
	struct cdcsha *c = ctx;
	uint8_t h[CACHE_HASH_LEN];
	bool fresh;

	if (cache_sha256(c->win + off, len, h) ||
	    cache_store_put(c->r->st, h, c->win + off, len, &fresh))
		exit(1);
	c->r->chunks++;
	c->r->fresh += fresh;
}

static void stored(void *ctx, size_t off, size_t len, const uint8_t *hash,
		   bool was_new)
{
	struct run *r = ctx;

	(void)off;
	(void)len;
	r->sink ^= hash[0];
	r->chunks++;
	r->fresh += was_new;
}

/* shamany: the 64 KiB pieces of a window in one cache_sha256_many call,
 * as the read path verifies the chunks of a request. */
static int sha_many(struct run *r, const uint8_t *win, size_t len)
{
	enum { MAX = CACHE_WINDOW / CACHE_CHUNK_AVG };
	const uint8_t *data[MAX];
	size_t lens[MAX], n = 0, off;
	uint8_t (*h)[CACHE_HASH_LEN] = malloc(MAX * CACHE_HASH_LEN);

	if (!h)
		return 1;
	for (off = 0; off < len && n < MAX; off += CACHE_CHUNK_AVG, n++) {
		data[n] = win + off;
		lens[n] = MFS_MIN(len - off, (size_t)CACHE_CHUNK_AVG);
	}
	if (cache_sha256_many(data, lens, n, h)) {
		free(h);
		return 1;
	}
	r->sink ^= n ? h[n - 1][0] : 0;
	r->chunks += n;
	free(h);
	return 0;
}

static int do_window(struct run *r, const uint8_t *win, size_t len)
{
	struct cdcsha c = { r, win };
	uint8_t h[CACHE_HASH_LEN];
	size_t off;

	if (!strcmp(r->mode, "cdc"))
		return cache_chunk_window(win, len, count_chunk, r) < 0;
	if (!strcmp(r->mode, "cdcsha"))
		return cache_chunk_window(win, len, hash_chunk, &c) < 0;
	if (!strcmp(r->mode, "store"))
		return cache_chunk_and_store(r->st, win, len, stored, r) != 0;
	if (!strcmp(r->mode, "put"))
		return cache_chunk_window(win, len, put_chunk, &c) < 0;
	if (!strcmp(r->mode, "shamany"))
		return sha_many(r, win, len);
	if (!strcmp(r->mode, "sha")) {
		for (off = 0; off < len; off += CACHE_CHUNK_AVG) {
			if (cache_sha256(win + off, MFS_MIN(len - off,
					 (size_t)CACHE_CHUNK_AVG), h))
				return 1;
			r->sink ^= h[0];
			r->chunks++;
		}
	}
	return 0;
}

/* The read mode: bytes read, or -1. */
static int64_t read_file(int fd)
{
	uint8_t *buf = malloc(CACHE_WINDOW);
	int64_t bytes = 0;
	ssize_t n;

	if (!buf)
		return -1;
	for (;;) {
		n = mfs_read_full(fd, buf, CACHE_WINDOW);
		if (n <= 0)
			break;
		bytes += n;
	}
	free(buf);
	return n < 0 ? -1 : bytes;
}

/* Map the whole file, its pages in place; NULL on failure. */
static uint8_t *map_input(int fd, size_t *size)
{
	struct stat sb;
	void *p;

	if (fstat(fd, &sb) || !sb.st_size)
		return NULL;
	*size = (size_t)sb.st_size;
	p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Every window of the mapped file through the mode: bytes, or -1. */
static int64_t run_windows(struct run *r, const uint8_t *p, size_t size)
{
	size_t off;

	for (off = 0; off < size; off += CACHE_WINDOW)
		if (do_window(r, p + off, MFS_MIN(size - off,
						  (size_t)CACHE_WINDOW)))
			return -1;
	return (int64_t)size;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_cache read|cdc|sha|shamany|cdcsha|store|"
			"put FILE [CACHE_DIR] [--scalar|--openssl]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct run r = { .mode = argc > 1 ? argv[1] : "" };
	bool reading = !strcmp(r.mode, "read");
	double w0, c0, wall, cpu;
	uint8_t *map = NULL;
	size_t size = 0;
	int64_t bytes;
	int fd, i;

	if (argc < 3)
		return usage();
	for (i = 3; i < argc; i++)
		if (!strcmp(argv[i], "--scalar"))
			cache_cdc_force_scalar(true);
		else if (!strcmp(argv[i], "--openssl"))
			cache_sha256_ni_disable();
	if ((!strcmp(r.mode, "store") || !strcmp(r.mode, "put")) &&
	    (argc < 4 || cache_store_open(argv[3], &r.st)))
		return usage();
	fd = open(argv[2], O_RDONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	if (!reading) {
		map = map_input(fd, &size);
		if (!map) {
			perror(argv[2]);
			return 1;
		}
	}
	w0 = seconds(CLOCK_MONOTONIC);
	c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
	bytes = reading ? read_file(fd) : run_windows(&r, map, size);
	wall = seconds(CLOCK_MONOTONIC) - w0;
	cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (bytes < 0) {
		fprintf(stderr, "bench_cache: %s failed on '%s'\n", r.mode,
			argv[2]);
		return 1;
	}
	printf("mode=%s kernel=%s bytes=%" PRId64 " chunks=%" PRIu64
	       " new=%" PRIu64 " wall=%.4f cpu=%.4f sink=%u\n", r.mode,
	       cache_cdc_kernel(), bytes, r.chunks, r.fresh, wall, cpu,
	       r.sink);
	if (map)
		munmap(map, size);
	close(fd);
	cache_store_close(r.st);
	return 0;
}
