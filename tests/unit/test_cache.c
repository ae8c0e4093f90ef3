/*
 * test_cache.c - the cache's pure core: FastCDC boundaries (sizes, mean,
 * determinism, window independence, a shifted header, hostile windows,
 * the AVX-512 and scalar kernels against the sequential reference),
 * SHA-256 known answers, and the chunk store (round trip, dedup without a
 * write, corrupt and missing chunks, crash leftovers and the sweep, eight
 * threads storing one chunk, the whole store path).
 */
#include "common/mfs.h"
#include "cache/cache.h"
#include "cache/cache_i.h"
#include "log/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#define KiB 1024u
#define MiB (1024u * 1024u)

/* ---- helpers ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* len bytes of reproducible noise; caller frees. */
static uint8_t *random_bytes(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	uint64_t v;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i += 8) {
		v = splitmix64(&seed);
		memcpy(p + i, &v, MFS_MIN((size_t)8, len - i));
	}
	return p;
}

struct chunk_list {
	size_t n;
	size_t off[CACHE_WINDOW / CACHE_CHUNK_MIN + 2];
	size_t len[CACHE_WINDOW / CACHE_CHUNK_MIN + 2];
};

static void collect(void *ctx, size_t off, size_t len)
{
	struct chunk_list *l = ctx;

	assert_true(l->n < MFS_ARRAY_SIZE(l->off));
	l->off[l->n] = off;
	l->len[l->n] = len;
	l->n++;
}

/* The window's chunks by cache_chunk_window, checked to tile the window
 * and to respect the sizes. */
static void chunk(const uint8_t *p, size_t len, struct chunk_list *l)
{
	size_t i, pos = 0;
	int n;

	l->n = 0;
	n = cache_chunk_window(p, len, collect, l);
	assert_int_equal(n, l->n);
	for (i = 0; i < l->n; i++) {
		assert_int_equal(l->off[i], pos);
		assert_true(l->len[i] > 0);
		assert_true(l->len[i] <= CACHE_CHUNK_MAX);
		if (i + 1 < l->n)
			assert_true(l->len[i] >= CACHE_CHUNK_MIN);
		pos += l->len[i];
	}
	assert_int_equal(pos, len);
}

/* The same window cut one chunk at a time by cache_cdc_cut. */
static void chunk_sequentially(const uint8_t *p, size_t len,
			       struct chunk_list *l)
{
	size_t pos = 0, c;

	l->n = 0;
	while (pos < len) {
		c = cache_cdc_cut(p + pos, len - pos);
		collect(l, pos, c);
		pos += c;
	}
}

static void assert_same_chunks(const struct chunk_list *a,
			       const struct chunk_list *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->off[i], b->off[i]);
		assert_int_equal(a->len[i], b->len[i]);
	}
}

/* Every kernel, and the sequential rule, agree on this window. */
static void check_kernels_agree(const uint8_t *p, size_t len)
{
	struct chunk_list *ref = malloc(sizeof(*ref));
	struct chunk_list *got = malloc(sizeof(*got));

	assert_non_null(ref);
	assert_non_null(got);
	chunk_sequentially(p, len, ref);
	cache_cdc_force_scalar(true);
	chunk(p, len, got);
	assert_same_chunks(ref, got);
	cache_cdc_force_scalar(false);
	chunk(p, len, got);
	assert_same_chunks(ref, got);
	free(ref);
	free(got);
}

/* ---- FastCDC ------------------------------------------------------------ */

static void test_gear_table_is_splitmix64(void **state)
{
	uint64_t s = 0x4d75736963465321ull;	/* "MusicFS!" */
	int i;

	(void)state;
	for (i = 0; i < 256; i++)
		assert_int_equal(cache_gear[i],
				 (uint32_t)(splitmix64(&s) >> 32));
}

/* Sizes within bounds, and the mean of random data near the average. */
static void test_sizes_and_mean(void **state)
{
	const size_t total = 64 * MiB;
	uint8_t *p = random_bytes(total, 1);
	struct chunk_list *l = malloc(sizeof(*l));
	size_t w, i, n = 0, full = 0, at_max = 0;
	double mean;

	(void)state;
	assert_non_null(l);
	for (w = 0; w < total; w += CACHE_WINDOW) {
		chunk(p + w, CACHE_WINDOW, l);
		/* the last chunk of a window is cut by the window's end */
		for (i = 0; i + 1 < l->n; i++) {
			full += l->len[i];
			at_max += l->len[i] == CACHE_CHUNK_MAX;
		}
		n += l->n - 1;
	}
	mean = (double)full / (double)n;
	print_message("%zu chunks, mean %.1f KiB, %zu at the maximum\n", n,
		      mean / KiB, at_max);
	assert_true(mean > 0.8 * CACHE_CHUNK_AVG);
	assert_true(mean < 1.2 * CACHE_CHUNK_AVG);
	assert_true(at_max < 3);
	free(l);
	free(p);
}

static void test_kernels_agree(void **state)
{
	static const size_t lens[] = {
		1, CACHE_CHUNK_MIN - 1, CACHE_CHUNK_MIN, CACHE_CHUNK_MIN + 1,
		CDC_NORMAL, CACHE_CHUNK_MIN + 16 * 256 + 1, 100 * KiB,
		CACHE_CHUNK_MAX - 1, CACHE_CHUNK_MAX, CACHE_CHUNK_MAX + 1,
		MiB + 7, 3 * MiB + 12345, CACHE_WINDOW - 1, CACHE_WINDOW,
	};
	uint8_t *p = random_bytes(CACHE_WINDOW, 2);
	uint64_t seed = 3;
	size_t i;

	(void)state;
	print_message("kernel: %s\n", cache_cdc_kernel());
	for (i = 0; i < MFS_ARRAY_SIZE(lens); i++)
		check_kernels_agree(p, lens[i]);
	for (i = 0; i < 20; i++)
		check_kernels_agree(p, splitmix64(&seed) % CACHE_WINDOW);
	free(p);
}

/* The candidate lists themselves, where the CPU has the AVX-512 kernel. */
static void test_candidates_agree(void **state)
{
	uint8_t *p = random_bytes(CACHE_WINDOW, 4);
	uint32_t *a = malloc(CDC_CAND_MAX * sizeof(*a));
	uint32_t *b = malloc(CDC_CAND_MAX * sizeof(*b));
	int na, nb, strong = 0, i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	if (!cache_cdc_have_avx512()) {
		print_message("no AVX-512 VBMI here: nothing to compare\n");
		goto out;
	}
	na = cache_cdc_scan_scalar(p, CACHE_CHUNK_MIN, CACHE_WINDOW, a, 0,
				   CDC_CAND_MAX);
	nb = cache_cdc_scan_avx512(p, CACHE_WINDOW, b);
	assert_true(na > 100);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na * sizeof(*a));
	for (i = 0; i < na; i++)
		strong += !!(a[i] & CDC_STRONG);
	print_message("%d candidates, %d strong\n", na, strong);
out:
	free(a);
	free(b);
	free(p);
}

static void test_deterministic_anywhere_in_memory(void **state)
{
	uint8_t *p = random_bytes(CACHE_WINDOW, 5);
	uint8_t *q = malloc(CACHE_WINDOW + 64);
	struct chunk_list *a = malloc(sizeof(*a));
	struct chunk_list *b = malloc(sizeof(*b));
	size_t shift;

	(void)state;
	assert_non_null(q);
	assert_non_null(a);
	assert_non_null(b);
	chunk(p, CACHE_WINDOW, a);
	chunk(p, CACHE_WINDOW, b);
	assert_same_chunks(a, b);
	for (shift = 1; shift < 64; shift += 13) {
		memcpy(q + shift, p, CACHE_WINDOW);
		chunk(q + shift, CACHE_WINDOW, b);
		assert_same_chunks(a, b);
	}
	free(a);
	free(b);
	free(q);
	free(p);
}

/* A window chunked inside a file or alone, from a copy, is the same. */
static void test_window_independence(void **state)
{
	uint8_t *file = random_bytes(3 * CACHE_WINDOW, 6);
	uint8_t *alone = malloc(CACHE_WINDOW);
	struct chunk_list *a = malloc(sizeof(*a));
	struct chunk_list *b = malloc(sizeof(*b));
	size_t w;

	(void)state;
	assert_non_null(alone);
	assert_non_null(a);
	assert_non_null(b);
	for (w = 0; w < 3; w++) {
		chunk(file + w * CACHE_WINDOW, CACHE_WINDOW, a);
		memcpy(alone, file + w * CACHE_WINDOW, CACHE_WINDOW);
		/* the neighbours' bytes are gone: they cannot matter */
		chunk(alone, CACHE_WINDOW, b);
		assert_same_chunks(a, b);
	}
	free(a);
	free(b);
	free(alone);
	free(file);
}

/* Bytes of a window that sit in a chunk that also exists in the other. */
static size_t bytes_in_shared_chunks(const uint8_t *p,
				     const struct chunk_list *l,
				     const uint8_t *q,
				     const struct chunk_list *m, size_t *same)
{
	uint8_t h1[CACHE_HASH_LEN], h2[CACHE_HASH_LEN];
	size_t i, j, bytes = 0;

	*same = 0;
	for (i = 0; i < m->n; i++) {
		assert_int_equal(cache_sha256(q + m->off[i], m->len[i], h2), 0);
		for (j = 0; j < l->n; j++) {
			if (l->len[j] != m->len[i])
				continue;
			assert_int_equal(
				cache_sha256(p + l->off[j], l->len[j], h1), 0);
			if (!memcmp(h1, h2, sizeof(h1)))
				break;
		}
		if (j < l->n) {
			bytes += m->len[i];
			(*same)++;
		}
	}
	return bytes;
}

/* 3 KiB inserted at the start of a 4 MiB window: most chunks survive. */
static void test_shift_resilience(void **state)
{
	uint8_t *orig = random_bytes(CACHE_WINDOW, 7);
	uint8_t *head = random_bytes(3 * KiB, 8);
	uint8_t *shifted = malloc(CACHE_WINDOW);
	struct chunk_list *a = malloc(sizeof(*a));
	struct chunk_list *b = malloc(sizeof(*b));
	size_t kept, same;

	(void)state;
	assert_non_null(shifted);
	assert_non_null(a);
	assert_non_null(b);
	memcpy(shifted, head, 3 * KiB);
	memcpy(shifted + 3 * KiB, orig, CACHE_WINDOW - 3 * KiB);
	chunk(orig, CACHE_WINDOW, a);
	chunk(shifted, CACHE_WINDOW, b);
	kept = bytes_in_shared_chunks(orig, a, shifted, b, &same);
	print_message("%zu of %zu chunks unchanged, %.1f%% of the bytes\n",
		      same, b->n, 100.0 * (double)kept / CACHE_WINDOW);
	assert_true(kept >= CACHE_WINDOW / 10 * 9);
	/* the first chunk and the one cut by the window's end */
	assert_true(b->n - same <= 3);
	free(a);
	free(b);
	free(shifted);
	free(head);
	free(orig);
}

/*
 * A 512-byte block whose repetition makes one offset in 512 a candidate:
 * 512 per 256 KiB lane, more than a lane holds.
 */
static uint8_t *dense_candidates_window(void)
{
	uint8_t *p = NULL;
	uint64_t seed = 100;
	uint32_t h;
	size_t e;
	int tries;

	for (tries = 0; tries < 2000; tries++) {
		free(p);
		p = random_bytes(CACHE_WINDOW, seed++);
		for (e = 512; e < CACHE_WINDOW; e++)
			p[e] = p[e - 512];
		for (h = 0, e = 0; e < 1024; e++) {
			h = 2 * h + cache_gear[p[e]];
			if (e >= 512 && !(h & CDC_MASK_WEAK))
				return p;
		}
	}
	fail_msg("no block with a candidate in 2000 tries");
	return p;
}

static void test_hostile_windows(void **state)
{
	struct chunk_list *l = malloc(sizeof(*l));
	uint8_t *p = calloc(1, CACHE_WINDOW + 1);
	uint32_t *cand;
	size_t i;
	int b;

	(void)state;
	assert_non_null(l);
	assert_non_null(p);
	/* empty: no chunk, no call */
	l->n = 0;
	assert_int_equal(cache_chunk_window(p, 0, collect, l), 0);
	assert_int_equal(l->n, 0);
	assert_int_equal(cache_cdc_cut(p, 0), 0);
	/* too long: refused, nothing emitted */
	assert_int_equal(cache_chunk_window(p, CACHE_WINDOW + 1, collect, l),
			 -EINVAL);
	assert_int_equal(l->n, 0);
	/* exactly the minimum, exactly the maximum of zeros (no cut point) */
	chunk(p, CACHE_CHUNK_MIN, l);
	assert_int_equal(l->n, 1);
	chunk(p, CACHE_CHUNK_MAX, l);
	assert_int_equal(l->n, 1);
	chunk(p, CACHE_CHUNK_MAX + 1, l);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->len[0], CACHE_CHUNK_MAX);
	/* a whole window of one repeated byte, for a few bytes */
	for (b = 0; b < 256; b += 51) {
		memset(p, b, CACHE_WINDOW);
		chunk(p, CACHE_WINDOW, l);
		check_kernels_agree(p, CACHE_WINDOW);
	}
	/* zeros: no candidate anywhere, so every chunk is the maximum */
	memset(p, 0, CACHE_WINDOW);
	chunk(p, CACHE_WINDOW, l);
	assert_int_equal(l->n, CACHE_WINDOW / CACHE_CHUNK_MAX);
	for (i = 0; i < l->n; i++)
		assert_int_equal(l->len[i], CACHE_CHUNK_MAX);
	free(p);
	/* candidates everywhere: the lanes overflow, the result does not */
	p = dense_candidates_window();
	cand = malloc(CDC_CAND_MAX * sizeof(*cand));
	assert_non_null(cand);
	assert_int_equal(cache_cdc_scan_avx512(p, CACHE_WINDOW, cand), -1);
	chunk(p, CACHE_WINDOW, l);
	check_kernels_agree(p, CACHE_WINDOW);
	free(cand);
	free(p);
	free(l);
}

/* ---- SHA-256 ------------------------------------------------------------ */

static void check_sha(const void *data, size_t len, const char *want)
{
	uint8_t h[CACHE_HASH_LEN];
	char hex[CACHE_HEX_LEN + 1];

	assert_int_equal(cache_sha256(data, len, h), 0);
	cache_hash_to_hex(h, hex);
	assert_string_equal(hex, want);
}

static void test_sha256_known_answers(void **state)
{
	char *million = malloc(1000000);

	(void)state;
	assert_non_null(million);
	/* FIPS 180-2 appendix B, and the empty message */
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb924"
			 "27ae41e4649b934ca495991b7852b855");
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
			    "b00361a396177a9cb410ff61f20015ad");
	check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  56, "248d6a61d20638b8e5c026930c3e6039"
		      "a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', 1000000);
	check_sha(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
				    "f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

/* cache_sha256_many against OpenSSL one by one, for a batch shape. */
static void check_many(const uint8_t *pool, const size_t *off,
		       const size_t *len, size_t n)
{
	const uint8_t *data[64];
	uint8_t got[64][CACHE_HASH_LEN], want[CACHE_HASH_LEN];
	size_t i;

	assert_true(n <= 64);
	for (i = 0; i < n; i++)
		data[i] = pool + off[i];
	assert_int_equal(cache_sha256_many(data, len, n, got), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(cache_sha256(data[i], len[i], want), 0);
		if (memcmp(got[i], want, CACHE_HASH_LEN))
			fail_msg("buffer %zu of %zu (%zu bytes) differs", i, n,
				 len[i]);
	}
}

/*
 * The two-lane SHA-NI path (when the CPU has it) gives OpenSSL's answer
 * for every length around the block and padding edges, for buffers that
 * overlap or repeat, and for batches whose lanes finish at different
 * times; the known answers hold through it too.
 */
static void test_sha256_many(void **state)
{
	const size_t pool_len = 300000;
	uint8_t *pool = malloc(pool_len);
	size_t off[64], len[64], i, n, l;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t h[1][CACHE_HASH_LEN];
	const uint8_t *abc[1] = { (const uint8_t *)"abc" };
	char hex[CACHE_HEX_LEN + 1];

	(void)state;
	assert_non_null(pool);
	for (i = 0; i < pool_len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		pool[i] = (uint8_t)x;
	}
	assert_int_equal(cache_sha256_many(abc, (size_t[]){ 3 }, 1, h), 0);
	cache_hash_to_hex(h[0], hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
	/* every length 0..300 paired with every other shape of tail */
	for (l = 0; l <= 300; l++) {
		off[0] = l, len[0] = l;
		off[1] = 7, len[1] = 300 - l;
		off[2] = 1, len[2] = l / 2;
		check_many(pool, off, len, 3);
	}
	/* batches of chunk-sized buffers of random lengths and places */
	for (n = 1; n <= 40; n++) {
		for (i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			len[i] = (size_t)(x % (CACHE_CHUNK_MAX + 1));
			off[i] = (size_t)((x >> 32) % (pool_len - len[i] + 1));
		}
		check_many(pool, off, len, n);
	}
	/* the same buffer in both lanes, and an empty batch */
	off[0] = off[1] = 5, len[0] = len[1] = 100000;
	check_many(pool, off, len, 2);
	check_many(pool, off, len, 0);
	free(pool);
}

static void test_hex(void **state)
{
	uint8_t h[CACHE_HASH_LEN], back[CACHE_HASH_LEN];
	char hex[CACHE_HEX_LEN + 1], bad[CACHE_HEX_LEN + 2];
	size_t i;

	(void)state;
	for (i = 0; i < CACHE_HASH_LEN; i++)
		h[i] = (uint8_t)(i * 37 + 250);
	cache_hash_to_hex(h, hex);
	assert_int_equal(strlen(hex), CACHE_HEX_LEN);
	assert_int_equal(cache_hash_from_hex(hex, back), 0);
	assert_memory_equal(h, back, sizeof(h));
	memcpy(bad, hex, sizeof(hex));
	bad[5] = 'A';		/* upper case is not a name we write */
	assert_int_equal(cache_hash_from_hex(bad, back), -EINVAL);
	bad[5] = 'g';
	assert_int_equal(cache_hash_from_hex(bad, back), -EINVAL);
	memcpy(bad, hex, sizeof(hex));
	bad[CACHE_HEX_LEN - 1] = '\0';	/* short */
	assert_int_equal(cache_hash_from_hex(bad, back), -EINVAL);
	memcpy(bad, hex, sizeof(hex));
	bad[CACHE_HEX_LEN] = '0';	/* long */
	bad[CACHE_HEX_LEN + 1] = '\0';
	assert_int_equal(cache_hash_from_hex(bad, back), -EINVAL);
	assert_int_equal(cache_hash_from_hex("", back), -EINVAL);
}

/* ---- the chunk store ---------------------------------------------------- */

struct fixture {
	char dir[64];
	struct cache_store *st;
};

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_store(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_cache.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_int_equal(cache_store_open(fx->dir, &fx->st), 0);
	*state = fx;
	return 0;
}

static int teardown_store(void **state)
{
	struct fixture *fx = *state;

	cache_store_close(fx->st);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* The path of the chunk file of hash. */
static void chunk_path(const struct fixture *fx, const uint8_t *hash,
		       char *path, size_t size)
{
	char rel[STORE_REL_LEN];

	store_chunk_rel(hash, rel);
	snprintf(path, size, "%s/chunks/%s", fx->dir, rel);
}

/* Set a file's modification time an hour back: old enough to sweep. */
static void age(const char *path)
{
	struct timespec t[2] = { { .tv_nsec = UTIME_OMIT },
				 { .tv_sec = time(NULL) - 3600 } };

	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

static void usage(const struct fixture *fx, struct cache_store_usage *u)
{
	assert_int_equal(cache_store_size(fx->st, u), 0);
}

/* A random chunk of len bytes and its hash. */
static uint8_t *make_chunk(size_t len, uint64_t seed,
			   uint8_t hash[CACHE_HASH_LEN])
{
	uint8_t *p = random_bytes(len, seed);

	assert_int_equal(cache_sha256(p, len, hash), 0);
	return p;
}

static void test_store_round_trip(void **state)
{
	struct fixture *fx = *state;
	uint8_t hash[CACHE_HASH_LEN];
	uint8_t *data = make_chunk(100 * KiB, 10, hash);
	uint8_t *buf = malloc(100 * KiB);
	struct cache_store_usage u;
	char path[256];
	struct stat sb;
	bool fresh = false;

	assert_non_null(buf);
	assert_int_equal(cache_store_put(fx->st, hash, data, 100 * KiB, &fresh),
			 0);
	assert_true(fresh);
	chunk_path(fx, hash, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 100 * KiB);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 100 * KiB), 0);
	assert_memory_equal(buf, data, 100 * KiB);
	usage(fx, &u);
	assert_int_equal(u.chunks, 1);
	assert_int_equal(u.bytes, 100 * KiB);
	assert_true(u.disk_bytes >= 100 * KiB);
	assert_int_equal(u.temporaries, 0);
	/* a zero-length chunk is a chunk too */
	assert_int_equal(cache_sha256("", 0, hash), 0);
	assert_int_equal(cache_store_put(fx->st, hash, "", 0, &fresh), 0);
	assert_true(fresh);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 0), 0);
	free(buf);
	free(data);
}

/* Storing a chunk that is there writes nothing: same inode, same times. */
static void test_store_dedup(void **state)
{
	struct fixture *fx = *state;
	uint8_t hash[CACHE_HASH_LEN];
	uint8_t *data = make_chunk(64 * KiB, 11, hash);
	struct stat before, after;
	char path[256];
	bool fresh = true;

	assert_int_equal(cache_store_put(fx->st, hash, data, 64 * KiB, NULL),
			 0);
	chunk_path(fx, hash, path, sizeof(path));
	assert_int_equal(stat(path, &before), 0);
	usleep(20000);	/* a rewrite would show in the timestamps */
	assert_int_equal(cache_store_put(fx->st, hash, data, 64 * KiB, &fresh),
			 0);
	assert_false(fresh);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(before.st_ctim.tv_nsec, after.st_ctim.tv_nsec);
	free(data);
}

/* XOR the byte at off of the file at path with mask. */
static void flip_bits(const char *path, off_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= mask;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Flip one byte of a chunk file, then cut one short: each read refuses it
 * and removes the file, and a put stores it again. */
static void test_store_corrupt_chunk(void **state)
{
	struct fixture *fx = *state;
	uint8_t hash[CACHE_HASH_LEN];
	uint8_t *data = make_chunk(40 * KiB, 12, hash);
	uint8_t *buf = malloc(40 * KiB);
	char path[256];
	bool fresh;

	assert_non_null(buf);
	chunk_path(fx, hash, path, sizeof(path));
	assert_int_equal(cache_store_put(fx->st, hash, data, 40 * KiB, NULL),
			 0);
	flip_bits(path, 12345, 0x20);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 40 * KiB),
			 -EBADMSG);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 40 * KiB), -ENOENT);
	/* fetched again */
	assert_int_equal(cache_store_put(fx->st, hash, data, 40 * KiB, &fresh),
			 0);
	assert_true(fresh);
	assert_int_equal(truncate(path, 40 * KiB - 1), 0);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 40 * KiB),
			 -EBADMSG);
	assert_int_equal(access(path, F_OK), -1);
	/* a damaged file found by a put is replaced */
	assert_int_equal(cache_store_put(fx->st, hash, data, 40 * KiB, NULL),
			 0);
	assert_int_equal(truncate(path, 10), 0);
	assert_int_equal(cache_store_put(fx->st, hash, data, 40 * KiB, &fresh),
			 0);
	assert_true(fresh);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 40 * KiB), 0);
	assert_memory_equal(buf, data, 40 * KiB);
	free(buf);
	free(data);
}

/*
 * Batched reads: chunks with a checksum are checked against it, the others
 * against their names; a flipped byte fails either check and only that
 * chunk's file goes; a wrong checksum refuses good content (so a row that
 * does not belong to its chunk never serves it).
 */
static void test_store_get_many_sums(void **state)
{
	struct fixture *fx = *state;
	uint8_t hash[3][CACHE_HASH_LEN], sum[3][CACHE_SUM_LEN], bad[CACHE_SUM_LEN];
	uint8_t *data[3], *buf[3];
	struct cache_get g[3];
	char path[256];
	int i;

	for (i = 0; i < 3; i++) {
		data[i] = make_chunk((size_t)(20 + 10 * i) * KiB, 40 + i, hash[i]);
		buf[i] = malloc((size_t)(20 + 10 * i) * KiB);
		assert_non_null(buf[i]);
		cache_sum(data[i], (size_t)(20 + 10 * i) * KiB, sum[i]);
		assert_int_equal(cache_store_put(fx->st, hash[i], data[i],
						 (size_t)(20 + 10 * i) * KiB,
						 NULL), 0);
		g[i] = (struct cache_get){ .hash = hash[i], .buf = buf[i],
					   .len = (size_t)(20 + 10 * i) * KiB,
					   .sum = i == 1 ? NULL : sum[i] };
	}
	assert_int_equal(cache_store_get_many(fx->st, g, 3), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(g[i].rc, 0);
		assert_memory_equal(buf[i], data[i], g[i].len);
	}
	/* a flipped byte in the chunk checked by its checksum */
	chunk_path(fx, hash[2], path, sizeof(path));
	flip_bits(path, 777, 1);
	assert_int_equal(cache_store_get_many(fx->st, g, 3), -EBADMSG);
	assert_int_equal(g[0].rc, 0);
	assert_int_equal(g[1].rc, 0);
	assert_int_equal(g[2].rc, -EBADMSG);
	assert_int_equal(access(path, F_OK), -1);
	/* a checksum that is not the content's */
	memcpy(bad, sum[0], sizeof(bad));
	bad[3] ^= 0x80;
	g[0].sum = bad;
	assert_int_equal(cache_store_get_many(fx->st, g, 1), -EBADMSG);
	chunk_path(fx, hash[0], path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);
	/* and the same content, fetched again, passes its real checksum */
	assert_int_equal(cache_store_put(fx->st, hash[0], data[0], 20 * KiB,
					 NULL), 0);
	g[0].sum = sum[0];
	assert_int_equal(cache_store_get_many(fx->st, g, 1), 0);
	for (i = 0; i < 3; i++) {
		free(buf[i]);
		free(data[i]);
	}
}

static void test_store_missing_and_delete(void **state)
{
	struct fixture *fx = *state;
	uint8_t hash[CACHE_HASH_LEN];
	uint8_t *data = make_chunk(20 * KiB, 13, hash);
	uint8_t *buf = malloc(20 * KiB);
	char path[256];

	assert_non_null(buf);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 20 * KiB), -ENOENT);
	assert_int_equal(cache_store_delete(fx->st, hash), -ENOENT);
	assert_int_equal(cache_store_put(fx->st, hash, data, 20 * KiB, NULL),
			 0);
	assert_int_equal(cache_store_delete(fx->st, hash), 0);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 20 * KiB), -ENOENT);
	/* a chunk folder removed by hand is made again */
	chunk_path(fx, hash, path, sizeof(path));
	*strrchr(path, '/') = '\0';
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(cache_store_put(fx->st, hash, data, 20 * KiB, NULL),
			 0);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 20 * KiB), 0);
	free(buf);
	free(data);
}

/* Entries of a chunk folder, "." and ".." left out. */
static int folder_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static bool always(const uint8_t *hash, void *ctx)
{
	(void)hash;
	(void)ctx;
	return true;
}

/* A writer that dies after creating its file and writing part of the
 * chunk: O_TMPFILE leaves nothing, a named temporary leaves a .tmp- file
 * that only the sweep sees; neither is ever under the real name. */
static void crash_mid_write(struct fixture *fx, bool named)
{
	uint8_t hash[CACHE_HASH_LEN];
	uint8_t *data = make_chunk(64 * KiB, named ? 14 : 15, hash);
	uint8_t *buf = malloc(64 * KiB);
	char rel[STORE_REL_LEN], path[256], dir[256];
	struct cache_store_usage u;
	struct chunk_tmp t;

	assert_non_null(buf);
	store_chunk_rel(hash, rel);
	chunk_path(fx, hash, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s/chunks/%.2s", fx->dir, rel);
	if (named)
		store_force_named_tmp(fx->st);
	assert_int_equal(store_tmp_create(fx->st, rel, &t), 0);
	assert_int_equal(store_tmp_write(&t, data, 30 * KiB), 0);
	/* the process dies here: its descriptors close, nothing else runs */
	close(t.fd);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 64 * KiB), -ENOENT);
	usage(fx, &u);
	assert_int_equal(u.chunks, 0);
	assert_int_equal(u.temporaries, named ? 1 : 0);
	assert_int_equal(folder_entries(dir), named ? 1 : 0);
	if (named) {
		/* young: a live writer's, kept; old: removed */
		assert_int_equal(cache_store_sweep(fx->st, always, NULL), 0);
		assert_int_equal(folder_entries(dir), 1);
		age(t.path);
		assert_int_equal(cache_store_sweep(fx->st, always, NULL), 0);
		assert_int_equal(folder_entries(dir), 0);
		free(t.path);
	}
	/* the next writer is not disturbed by what was left */
	assert_int_equal(cache_store_put(fx->st, hash, data, 64 * KiB, NULL),
			 0);
	assert_int_equal(cache_store_get(fx->st, hash, buf, 64 * KiB), 0);
	assert_int_equal(folder_entries(dir), 1);
	free(buf);
	free(data);
}

static void test_store_crash_tmpfile(void **state)
{
	crash_mid_write(*state, false);
}

static void test_store_crash_named(void **state)
{
	crash_mid_write(*state, true);
}

struct known {
	uint8_t hash[CACHE_HASH_LEN];
	int calls;
};

static bool is_known(const uint8_t *hash, void *ctx)
{
	struct known *k = ctx;

	k->calls++;
	return !memcmp(hash, k->hash, CACHE_HASH_LEN);
}

/* Chunk files the index does not know go once they are old enough;
 * names the store never writes stay. */
static void test_store_sweep_unknown(void **state)
{
	struct fixture *fx = *state;
	uint8_t ha[CACHE_HASH_LEN], hb[CACHE_HASH_LEN];
	uint8_t *a = make_chunk(30 * KiB, 16, ha);
	uint8_t *b = make_chunk(30 * KiB, 17, hb);
	char pa[256], pb[256], stray[256], other[256];
	struct known k;
	FILE *f;

	memcpy(k.hash, ha, sizeof(ha));
	assert_int_equal(cache_store_put(fx->st, ha, a, 30 * KiB, NULL), 0);
	assert_int_equal(cache_store_put(fx->st, hb, b, 30 * KiB, NULL), 0);
	chunk_path(fx, ha, pa, sizeof(pa));
	chunk_path(fx, hb, pb, sizeof(pb));
	/* b's name in a folder where no lookup goes, and a foreign file */
	snprintf(stray, sizeof(stray), "%s/chunks/%02x/%s", fx->dir,
		 (unsigned)(hb[0] ^ 1), strrchr(pb, '/') + 1);
	assert_int_equal(link(pb, stray), 0);
	snprintf(other, sizeof(other), "%s/chunks/00/README", fx->dir);
	f = fopen(other, "w");
	assert_non_null(f);
	fclose(f);
	/* everything young: nothing goes, whatever the index says */
	k.calls = 0;
	assert_int_equal(cache_store_sweep(fx->st, is_known, &k), 0);
	assert_int_equal(k.calls, 2);
	assert_int_equal(access(pb, F_OK), 0);
	assert_int_equal(access(stray, F_OK), 0);
	age(pa);
	age(pb);	/* the stray is the same inode: aged too */
	age(other);
	assert_int_equal(cache_store_sweep(fx->st, is_known, &k), 0);
	assert_int_equal(access(pa, F_OK), 0);
	assert_int_equal(access(pb, F_OK), -1);
	assert_int_equal(access(stray, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
	free(a);
	free(b);
}

struct racer {
	struct cache_store *st;
	pthread_barrier_t *go;
	const uint8_t *hash;
	const uint8_t *data;
	size_t len;
	bool fresh;
	int rc;
};

static void *race_put(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = cache_store_put(r->st, r->hash, r->data, r->len, &r->fresh);
	return NULL;
}

/* Eight threads store one chunk at once: one file, made by one of them. */
static void race(struct fixture *fx, bool named, uint64_t seed)
{
	enum { THREADS = 8 };
	uint8_t hash[CACHE_HASH_LEN];
	uint8_t *data = make_chunk(CACHE_CHUNK_MAX, seed, hash);
	uint8_t *buf = malloc(CACHE_CHUNK_MAX);
	struct racer r[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t go;
	struct cache_store_usage u;
	int i, made = 0;

	assert_non_null(buf);
	if (named)
		store_force_named_tmp(fx->st);
	pthread_barrier_init(&go, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		r[i] = (struct racer){ fx->st, &go, hash, data,
				       CACHE_CHUNK_MAX, false, -1 };
		assert_int_equal(pthread_create(&th[i], NULL, race_put, &r[i]),
				 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, 0);
		made += r[i].fresh;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(made, 1);
	usage(fx, &u);
	assert_int_equal(u.chunks, 1);
	assert_int_equal(u.temporaries, 0);
	assert_int_equal(cache_store_get(fx->st, hash, buf, CACHE_CHUNK_MAX),
			 0);
	assert_memory_equal(buf, data, CACHE_CHUNK_MAX);
	free(buf);
	free(data);
}

static void test_store_concurrent_puts(void **state)
{
	race(*state, false, 18);
}

static void test_store_concurrent_puts_named(void **state)
{
	race(*state, true, 19);
}

struct stored {
	const uint8_t *window;
	size_t n, pos, fresh;
	uint8_t hash[CACHE_WINDOW / CACHE_CHUNK_MIN + 1][CACHE_HASH_LEN];
	size_t off[CACHE_WINDOW / CACHE_CHUNK_MIN + 1];
	size_t len[CACHE_WINDOW / CACHE_CHUNK_MIN + 1];
};

static void on_stored(void *ctx, size_t off, size_t len, const uint8_t *hash,
		      bool was_new)
{
	struct stored *s = ctx;
	uint8_t h[CACHE_HASH_LEN];

	assert_int_equal(off, s->pos);
	assert_int_equal(cache_sha256(s->window + off, len, h), 0);
	assert_memory_equal(h, hash, sizeof(h));
	memcpy(s->hash[s->n], hash, CACHE_HASH_LEN);
	s->off[s->n] = off;
	s->len[s->n] = len;
	s->pos += len;
	s->fresh += was_new;
	s->n++;
}

/* The whole path: cut, hash, store, report; twice stores nothing new. */
static void test_chunk_and_store(void **state)
{
	struct fixture *fx = *state;
	uint8_t *w = random_bytes(CACHE_WINDOW, 20);
	struct stored *s = calloc(1, sizeof(*s));
	uint8_t *buf = malloc(CACHE_CHUNK_MAX);
	struct cache_store_usage u;
	size_t i, n;

	assert_non_null(s);
	assert_non_null(buf);
	s->window = w;
	assert_int_equal(cache_chunk_and_store(fx->st, w, CACHE_WINDOW,
					       on_stored, s), 0);
	assert_int_equal(s->pos, CACHE_WINDOW);
	assert_int_equal(s->fresh, s->n);
	n = s->n;
	for (i = 0; i < n; i++) {
		assert_int_equal(cache_store_get(fx->st, s->hash[i], buf,
						 s->len[i]), 0);
		assert_memory_equal(buf, w + s->off[i], s->len[i]);
	}
	usage(fx, &u);
	assert_int_equal(u.chunks, n);
	assert_int_equal(u.bytes, CACHE_WINDOW);
	memset(s, 0, sizeof(*s));
	s->window = w;
	assert_int_equal(cache_chunk_and_store(fx->st, w, CACHE_WINDOW,
					       on_stored, s), 0);
	assert_int_equal(s->n, n);
	assert_int_equal(s->fresh, 0);
	assert_int_equal(cache_chunk_and_store(fx->st, w, 0, on_stored, s), 0);
	assert_int_equal(cache_chunk_and_store(fx->st, w, CACHE_WINDOW + 1,
					       on_stored, s), -EINVAL);
	free(buf);
	free(s);
	free(w);
}

/* Stores a window and checks every chunk is there and nothing else. */
static void store_window_and_check(struct fixture *fx, uint64_t seed)
{
	uint8_t *w = random_bytes(CACHE_WINDOW, seed);
	struct stored *s = calloc(1, sizeof(*s));
	uint8_t *buf = malloc(CACHE_CHUNK_MAX);
	struct cache_store_usage u;
	size_t i;

	assert_non_null(s);
	assert_non_null(buf);
	s->window = w;
	assert_int_equal(cache_chunk_and_store(fx->st, w, CACHE_WINDOW,
					       on_stored, s), 0);
	assert_int_equal(s->fresh, s->n);
	for (i = 0; i < s->n; i++) {
		assert_int_equal(cache_store_get(fx->st, s->hash[i], buf,
						 s->len[i]), 0);
		assert_memory_equal(buf, w + s->off[i], s->len[i]);
	}
	usage(fx, &u);
	assert_int_equal(u.chunks, s->n);
	assert_int_equal(u.temporaries, 0);
	free(buf);
	free(s);
	free(w);
}

/* A window of silence: 16 times one chunk, written once. */
static void test_chunk_and_store_repeats(void **state)
{
	struct fixture *fx = *state;
	uint8_t *w = calloc(1, CACHE_WINDOW);
	struct stored *s = calloc(1, sizeof(*s));
	struct cache_store_usage u;

	assert_non_null(w);
	assert_non_null(s);
	s->window = w;
	assert_int_equal(cache_chunk_and_store(fx->st, w, CACHE_WINDOW,
					       on_stored, s), 0);
	assert_int_equal(s->n, CACHE_WINDOW / CACHE_CHUNK_MAX);
	assert_int_equal(s->fresh, 1);
	usage(fx, &u);
	assert_int_equal(u.chunks, 1);
	assert_int_equal(u.bytes, CACHE_CHUNK_MAX);
	free(s);
	free(w);
}

/* Where O_TMPFILE is missing: named temporaries, none left behind. */
static void test_chunk_and_store_named(void **state)
{
	struct fixture *fx = *state;

	store_force_named_tmp(fx->st);
	store_window_and_check(fx, 21);
}

/* A process short of descriptors: batches end early, nothing fails. */
static void test_chunk_and_store_few_descriptors(void **state)
{
	struct fixture *fx = *state;
	struct rlimit old, few;
	int probe = dup(0);

	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	few = old;
	few.rlim_cur = (rlim_t)probe + 5;	/* room for 5 chunk files */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &few), 0);
	store_window_and_check(fx, 22);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

static void test_store_open_errors(void **state)
{
	struct cache_store *st = (struct cache_store *)1;

	(void)state;
	assert_int_equal(cache_store_open("/nonexistent/musicfs-test", &st),
			 -ENOENT);
	assert_null(st);
	cache_store_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gear_table_is_splitmix64),
		cmocka_unit_test(test_sizes_and_mean),
		cmocka_unit_test(test_kernels_agree),
		cmocka_unit_test(test_candidates_agree),
		cmocka_unit_test(test_deterministic_anywhere_in_memory),
		cmocka_unit_test(test_window_independence),
		cmocka_unit_test(test_shift_resilience),
		cmocka_unit_test(test_hostile_windows),
		cmocka_unit_test(test_sha256_known_answers),
		cmocka_unit_test(test_sha256_many),
		cmocka_unit_test(test_hex),
		cmocka_unit_test_setup_teardown(test_store_round_trip,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_dedup, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_store_corrupt_chunk,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_get_many_sums,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_missing_and_delete,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_crash_tmpfile,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_crash_named,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_sweep_unknown,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_concurrent_puts,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(
			test_store_concurrent_puts_named, setup_store,
			teardown_store),
		cmocka_unit_test_setup_teardown(test_chunk_and_store,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_chunk_and_store_repeats,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_chunk_and_store_named,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(
			test_chunk_and_store_few_descriptors, setup_store,
			teardown_store),
		cmocka_unit_test(test_store_open_errors),
	};

	mfs_log_set_filter("error", NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
