/*
 * stat_latency - per-call latency of stat(2) over a list of paths.
 *
 * usage: stat_latency LIST ROUNDS
 * LIST holds one path per line.  Before each round the kernel's dentry and
 * inode caches are dropped (root only), so every stat of a FUSE path is a
 * LOOKUP answered by the daemon, not by the kernel's attribute cache.
 * Prints: n, p50, p90, p99, p99.9 and max in microseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void drop_dentries(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd < 0 || write(fd, "2\n", 2) != 2)
		fprintf(stderr, "stat_latency: cannot drop caches: %s\n",
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	char **paths = NULL, *line = NULL;
	size_t n = 0, cap = 0, len = 0, i, k = 0;
	uint64_t *lat, t0;
	struct stat st;
	ssize_t got;
	int rounds, r;
	FILE *f;

	if (argc != 3 || !(f = fopen(argv[1], "r")) || (rounds = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: stat_latency LIST ROUNDS\n");
		return 2;
	}
	while ((got = getline(&line, &len, f)) > 0) {
		if (line[got - 1] == '\n')
			line[got - 1] = '\0';
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			paths = realloc(paths, cap * sizeof(*paths));
		}
		paths[n++] = strdup(line);
	}
	fclose(f);
	lat = malloc(n * (size_t)rounds * sizeof(*lat));
	if (!n || !lat)
		return 2;
	for (r = 0; r < rounds; r++) {
		sync();
		drop_dentries();
		for (i = 0; i < n; i++) {
			t0 = now_ns();
			if (stat(paths[i], &st)) {
				fprintf(stderr, "stat %s: %s\n", paths[i],
					strerror(errno));
				return 1;
			}
			lat[k++] = now_ns() - t0;
		}
	}
	qsort(lat, k, sizeof(*lat), cmp_u64);
	printf("n=%zu p50=%.1f p90=%.1f p99=%.1f p999=%.1f max=%.1f\n", k,
	       lat[k / 2] / 1e3, lat[k * 9 / 10] / 1e3, lat[k * 99 / 100] / 1e3,
	       lat[k * 999 / 1000] / 1e3, lat[k - 1] / 1e3);
	return 0;
}
