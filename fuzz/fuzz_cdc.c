/*
 * fuzz_cdc.c - libFuzzer target for FastCDC (src/cache/cdc.c and
 * cdc_avx512.c).
 *
 * Each input is chunked twice as a window: as is (when it fits), and as a
 * recipe for a window of up to CACHE_WINDOW bytes, since interesting
 * windows are far longer than what a fuzzer mutates well.  The recipe:
 * bytes 0-3 the window's length (little endian, modulo 512 KiB + 1, or
 * modulo CACHE_WINDOW + 1 when byte 4 has bit 2 set: long windows are
 * slow under the sanitizers), byte 4 bits 0-1 how to fill it from the
 * rest of the input (the pattern):
 *
 *   0  the pattern repeated (periodic data: no candidate at all, or one
 *      every period, which overflows the AVX-512 lanes);
 *   1  noise seeded by the pattern, the pattern at the start;
 *   2  noise with the pattern pasted every 64 KiB;
 *   3  zeros with the pattern at the end.
 *
 * For every window: the chunks tile it exactly; each is at most
 * CACHE_CHUNK_MAX and, except the last, at least CACHE_CHUNK_MIN; the count
 * returned is the count emitted; and cache_chunk_window() cuts as
 * cache_cdc_cut() does one chunk at a time (the portable kernel is that
 * loop).  Where the CPU has AVX-512 VBMI, its candidate list equals the
 * scalar scanner's whenever it does not give up.  The chunks' SHA-256
 * through cache_sha256_many equal OpenSSL's.  Any difference traps.
 *
 * Build: CC=clang meson setup build-fuzz -Dfuzzers=true
 *        -Db_sanitize=address,undefined -Db_lundef=false
 * Seed it with tests/data/corpus.
 */
#include "common/mfs.h"
#include "cache/cache.h"
#include "cache/cache_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CHUNKS (CACHE_WINDOW / CACHE_CHUNK_MIN + 2)

struct cuts {
	size_t n;
	size_t off[MAX_CHUNKS], len[MAX_CHUNKS];
};

static uint8_t window[CACHE_WINDOW];
static struct cuts by_default, by_cut;
static uint32_t cand_scalar[CDC_CAND_MAX], cand_avx[CDC_CAND_MAX];

static void collect(void *ctx, size_t off, size_t len)
{
	struct cuts *c = ctx;

	if (c->n == MAX_CHUNKS)
		__builtin_trap();	/* more chunks than sizes allow */
	c->off[c->n] = off;
	c->len[c->n] = len;
	c->n++;
}

/* The chunks tile p[0, len) and respect the sizes. */
static void check_tiling(const struct cuts *c, size_t len)
{
	size_t i, pos = 0;

	for (i = 0; i < c->n; i++) {
		if (c->off[i] != pos || !c->len[i] ||
		    c->len[i] > CACHE_CHUNK_MAX ||
		    (i + 1 < c->n && c->len[i] < CACHE_CHUNK_MIN))
			__builtin_trap();
		pos += c->len[i];
	}
	if (pos != len)
		__builtin_trap();
}

static void check_same(const struct cuts *a, const struct cuts *b)
{
	if (a->n != b->n ||
	    memcmp(a->off, b->off, a->n * sizeof(a->off[0])) ||
	    memcmp(a->len, b->len, a->n * sizeof(a->len[0])))
		__builtin_trap();
}

static void chunk(const uint8_t *p, size_t len, struct cuts *c)
{
	int n;

	c->n = 0;
	n = cache_chunk_window(p, len, collect, c);
	if (n < 0 || (size_t)n != c->n)
		__builtin_trap();
}

static void check_candidates(const uint8_t *p, size_t len)
{
	int a, b;

	if (!cache_cdc_have_avx512() || len <= CACHE_CHUNK_MIN)
		return;
	b = cache_cdc_scan_avx512(p, len, cand_avx);
	if (b < 0)
		return;		/* gave up: the sequential cut is checked */
	a = cache_cdc_scan_scalar(p, CACHE_CHUNK_MIN, len, cand_scalar, 0,
				  CDC_CAND_MAX);
	if (a != b || memcmp(cand_scalar, cand_avx, (size_t)a * 4))
		__builtin_trap();
}

/*
 * The chunks' names through cache_sha256_many (two SHA-NI lanes, each
 * taking the next chunk when its own ends) equal OpenSSL's one by one.
 */
static void check_names(const uint8_t *p, const struct cuts *c)
{
	static const uint8_t *data[MAX_CHUNKS];
	static uint8_t many[MAX_CHUNKS][CACHE_HASH_LEN];
	uint8_t one[CACHE_HASH_LEN];
	size_t i;

	for (i = 0; i < c->n; i++)
		data[i] = p + c->off[i];
	if (cache_sha256_many(data, c->len, c->n, many))
		__builtin_trap();
	for (i = 0; i < c->n; i++)
		if (cache_sha256(data[i], c->len[i], one) ||
		    memcmp(one, many[i], CACHE_HASH_LEN))
			__builtin_trap();
}

static void check_window(const uint8_t *p, size_t len)
{
	size_t pos = 0, c;

	chunk(p, len, &by_default);
	check_tiling(&by_default, len);
	by_cut.n = 0;
	while (pos < len) {
		c = cache_cdc_cut(p + pos, len - pos);
		collect(&by_cut, pos, c);
		pos += c;
	}
	check_same(&by_default, &by_cut);
	check_candidates(p, len);
	check_names(p, &by_default);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_noise(size_t len, const uint8_t *pat, size_t plen)
{
	uint64_t seed = 0, v;
	size_t i;

	memcpy(&seed, pat, MFS_MIN(plen, sizeof(seed)));
	for (i = 0; i < len; i += 8) {
		v = splitmix64(&seed);
		memcpy(window + i, &v, MFS_MIN((size_t)8, len - i));
	}
}

/* Paste pat at offset off, as much as fits in len. */
static void paste(size_t off, size_t len, const uint8_t *pat, size_t plen)
{
	if (off < len)
		memcpy(window + off, pat, MFS_MIN(plen, len - off));
}

/* Build the window a recipe describes; its length. */
static size_t build(const uint8_t *data, size_t size)
{
	const uint8_t *pat = data + 5;
	size_t plen = size - 5, len, i;
	uint32_t want;

	memcpy(&want, data, sizeof(want));
	len = want % ((data[4] & 4 ? CACHE_WINDOW : 512u << 10) + 1);
	switch (data[4] & 3) {
	case 0:
		for (i = 0; i < len; i++)
			window[i] = plen ? pat[i % plen] : 0;
		break;
	case 1:
		fill_noise(len, pat, plen);
		paste(0, len, pat, plen);
		break;
	case 2:
		fill_noise(len, pat, plen);
		for (i = 0; i < len; i += 64 << 10)
			paste(i, len, pat, plen);
		break;
	default:
		memset(window, 0, len);
		paste(len > plen ? len - plen : 0, len, pat, plen);
		break;
	}
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size <= CACHE_WINDOW)
		check_window(data, size);
	if (size >= 5)
		check_window(window, build(data, size));
	return 0;
}
