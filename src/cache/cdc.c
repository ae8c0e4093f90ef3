/*
 * cdc.c - FastCDC chunk boundaries within one window.
 *
 * The algorithm is FastCDC's (Xia et al., "FastCDC: a Fast and Efficient
 * Content-Defined Chunking Approach for Data Deduplication", USENIX ATC
 * 2016), written from the paper's ideas:
 *
 * - a gear hash, h = 2h + gear[byte], so that a 32-bit h depends on the
 *   last 32 bytes only and costs a load, a shift-add and a test per byte;
 * - cut-point skipping: the first CACHE_CHUNK_MIN bytes of a chunk are
 *   never tested (a quarter of the work on average);
 * - normalized chunking: below CDC_NORMAL a cut needs the 18 bits of the
 *   strong mask clear (1 offset in 256 KiB), above it the 14 bits of the
 *   weak mask (1 in 16 KiB), which squeezes the sizes towards the average
 *   from both sides.  The masks are the top bits of h: they depend on the
 *   most bytes.
 *
 * Why CDC_NORMAL is 52 KiB rather than the 64 KiB average: skipping the
 * first 16 KiB pushes the mean up.  The expected chunk length of random
 * data is 16 KiB + sum over L of P(no cut before L), which is 73 KiB with
 * the switch at 64 KiB and 63.5 KiB with it at 52 KiB (test_cache measures
 * the mean).  A chunk reaching CACHE_CHUNK_MAX without a cut happens with
 * probability e^-12 on random data.
 *
 * Two ways to find the cuts, with the same result (test_cache and
 * fuzz_cdc check it):
 *
 * - cache_cdc_cut(): the sequential rule, one chunk at a time, skipping.
 *   It is the reference, and the kernel on CPUs without AVX-512 VBMI.
 * - cache_chunk_window() on AVX-512 VBMI: since whether an offset is a
 *   candidate does not depend on where the chunk started (cache_i.h), one
 *   pass over the whole window finds every candidate in 16 independent
 *   lanes (cdc_avx512.c), and the cuts are then picked from the short
 *   sorted list of candidates (about 1 per 16 KiB).  It scans the bytes
 *   that skipping would not, but about 4x faster per byte.
 *
 * The gear table: cache_gear[i] is the high 32 bits of output i (from 0)
 * of splitmix64 seeded with 0x4d75736963465321 ("MusicFS!" in ASCII).
 * test_cache regenerates it.  Changing it changes every boundary: bump
 * CACHE_CDC_VERSION.
 */
#include "common/mfs.h"
#include "cache/cache_i.h"

#include <stdatomic.h>

const uint32_t cache_gear[256] = {
	0x66be1970, 0xdc9963fe, 0xf5e0433e, 0x30cd19f0,
	0x640483b7, 0xf3d2a110, 0x6005d88a, 0xdfcd6935,
	0x165eca36, 0x5640a43a, 0x46f5a3ee, 0xd4db5257,
	0x0132ab4a, 0x77f46c86, 0x21ffaa17, 0xf4c9ea51,
	0x2eb8a142, 0x90cbdd81, 0x64614ff3, 0xf32ae7c1,
	0xc4998ba6, 0x072d3237, 0x0230cf91, 0xa6ae06e1,
	0x5e07e214, 0x79b31678, 0x2c238c8b, 0x153a74ca,
	0x74cb9125, 0xb1a040d1, 0x14d4ecab, 0x0e9f42b9,
	0x779b4b79, 0x6ac40c51, 0x6b30a98c, 0x2d94246c,
	0x4b0f26c6, 0xdbbe3e3e, 0x51b0a2b0, 0xc5379cab,
	0x625838b8, 0x967d0cfb, 0xe527fb24, 0x4648bfe3,
	0x8c135b40, 0xe5701d8c, 0x6d5e4e2c, 0xf584a90d,
	0x2e9383df, 0x2d1c2303, 0x33646ba6, 0x1e0b2c70,
	0x03070c4f, 0x3bff3fe4, 0x0506fcda, 0x52213f27,
	0x1f19cee2, 0x633e9f4c, 0x395cc786, 0x0675b3df,
	0xb1dc5efc, 0x9c6f4007, 0x26b2f2b3, 0x551f5ae9,
	0x62442a5e, 0xa38277a9, 0xb4a50bd7, 0x97d794fa,
	0x9da44ea1, 0x303b112d, 0x4598c6cf, 0x1ac9a503,
	0xa1ddfbf8, 0x1faf343f, 0x2d20cfb5, 0x1f06bbeb,
	0xf6886e90, 0x8d9b58df, 0xc6adcc04, 0x259cfedb,
	0xedf5a792, 0xfce246d5, 0xb2881e46, 0xc89191e6,
	0xafdd886a, 0x8db95f5d, 0x2fd3ee0f, 0x7d0466e1,
	0xb5461088, 0x3e8fec2c, 0x64217686, 0x7247710a,
	0xd747fde1, 0xdc29582a, 0x2fb88782, 0x7d56d796,
	0xe2923aeb, 0x71909080, 0x24697570, 0x7ef4d2ce,
	0xa681c2a2, 0x8c5ba1f0, 0x20edae6d, 0x04e60e74,
	0xdbb7630b, 0x7291094d, 0xdff951f3, 0x81b742ee,
	0x80a3e2bf, 0xd72e5e0f, 0x14833531, 0xb7cfec3d,
	0x0449cce9, 0x38f62026, 0xd57c39c0, 0xc263e0f4,
	0xf1c9f38b, 0x31f7c30f, 0x22cc18a4, 0xb8b8b2bc,
	0x26c6a55b, 0x29947452, 0x8545f086, 0x426a08b8,
	0x4a2c5a81, 0x03abe98a, 0xdb289c58, 0x191d043e,
	0x1185ed2e, 0xdd248080, 0xcf7609c1, 0x2d98ef5c,
	0xa675caf1, 0x16aeb90e, 0xa0779d92, 0x359ea55c,
	0xefc28872, 0xc9ea0848, 0x7058d8cf, 0xfe491606,
	0xebe74ce4, 0x12500820, 0xe0b6cb2f, 0xd3103232,
	0x387b646b, 0x31a23d96, 0x58c57327, 0xbd653573,
	0x16809f6b, 0x41d18cb7, 0xebb2eafd, 0xe9e9a06c,
	0x59d316f4, 0x28be491f, 0xb6fa9f9f, 0x08f57daf,
	0xcbb37317, 0x3b0981cd, 0x4b8bcd65, 0xbade8756,
	0x508e96df, 0x76d6664c, 0xd0b62762, 0x80f7d9a3,
	0x37eff3a1, 0xd1831f44, 0xfae85286, 0xdbdc1eb9,
	0x353583d3, 0xca5d7eb4, 0x2e137e46, 0x0500af7f,
	0xd268667b, 0xed2b08e6, 0xac9a6d93, 0x0360f80d,
	0x0d23cbcc, 0x8c424397, 0x0a19aa1e, 0xa29f4db0,
	0xc0b006be, 0x3c468a8a, 0xce26a1d1, 0x676037c0,
	0xd0187bcb, 0x88abc01e, 0x15dbd6b5, 0x26f58ebb,
	0x6364df08, 0xa9993fa3, 0xc1b070b3, 0xde13e953,
	0x5783c4de, 0x0621df12, 0xd06ee97f, 0x1ef4697f,
	0xa37e5e27, 0xaea41212, 0x14f70181, 0x27b95e14,
	0x02a9e143, 0x204f3fb8, 0x1ef2cddc, 0x8aa8d210,
	0x2b3dda25, 0x9a6b0a49, 0x1a3b9170, 0xe9639811,
	0x72294eff, 0x73ae9b7b, 0x2355170b, 0x3c512cf8,
	0xc54bb585, 0x79142f6d, 0x82544055, 0x92ac887d,
	0x16c16f7a, 0x508bea48, 0xde08a54a, 0xd0e34567,
	0x93bf7d01, 0x20c826e5, 0xb7fbee1c, 0x8bf23b5f,
	0x4dd104ba, 0xd5def2d6, 0x87a38e60, 0x326c6fe5,
	0x2f5da954, 0x6c3b78d4, 0xaee97685, 0xa5662ae8,
	0x134f99d0, 0x0375f931, 0x73113976, 0x2fddffd6,
	0x8309bb70, 0x05ae8a8d, 0xe162023b, 0x0e9b4e02,
	0x9f75d8a0, 0x8ff2d95c, 0x72940b45, 0x54c82ed5,
	0x00b2f0a0, 0x6858499d, 0x67f6d3c8, 0x1ad94b5e,
	0x675ff340, 0x7ed18bc2, 0xad652e53, 0xa5be16c8,
	0xbca0bcdb, 0xbb42ed52, 0x0568a5d4, 0x8fa4dec4,
};

static atomic_bool force_scalar;

/* The hash of the CDC_HASH_SPAN bytes before end offset e (e >= 32). */
static uint32_t hash_before(const uint8_t *p, size_t e)
{
	uint32_t h = 0;
	size_t b;

	for (b = e - CDC_HASH_SPAN; b < e; b++)
		h = 2 * h + cache_gear[p[b]];
	return h;
}

/*
 * The first end offset in [from, to) whose hash clears mask, or to.  *h is
 * the hash at from - 1 on entry and the hash at the offset returned on
 * exit, so the next scan continues from there.
 */
static size_t scan(const uint8_t *p, size_t from, size_t to, uint32_t *h,
		   uint32_t mask)
{
	uint32_t x = *h;
	size_t e;

	for (e = from; e < to; e++) {
		x = 2 * x + cache_gear[p[e - 1]];
		if (!(x & mask))
			break;
	}
	*h = x;
	return e;
}

size_t cache_cdc_cut(const uint8_t *p, size_t len)
{
	size_t end, normal, e;
	uint32_t h;

	if (len <= CACHE_CHUNK_MIN)
		return len;
	end = MFS_MIN(len, (size_t)CACHE_CHUNK_MAX);
	normal = MFS_MIN(len, (size_t)CDC_NORMAL);
	h = hash_before(p, CACHE_CHUNK_MIN - 1);
	e = scan(p, CACHE_CHUNK_MIN, normal, &h, CDC_MASK_STRONG);
	if (e < normal)
		return e;
	return scan(p, normal, end, &h, CDC_MASK_WEAK);
}

int cache_cdc_scan_scalar(const uint8_t *p, size_t e0, size_t e1,
			  uint32_t *out, int n, int cap)
{
	uint32_t h = hash_before(p, e0 - 1);
	size_t e;

	for (e = e0; e < e1; e++) {
		h = 2 * h + cache_gear[p[e - 1]];
		if (h & CDC_MASK_WEAK)
			continue;
		if (n == cap)
			return -1;
		out[n++] = (uint32_t)e | (h & CDC_MASK_STRONG ? 0 : CDC_STRONG);
	}
	return n;
}

/*
 * The end of the chunk that starts at s, from the candidates cand[*i..n)
 * (sorted; *i moves past those that can no longer matter).  The same rule
 * as cache_cdc_cut(), offsets counted from the window's start.
 */
static size_t pick_cut(const uint32_t *cand, int n, int *i, size_t s,
		       size_t len)
{
	size_t lo = s + CACHE_CHUNK_MIN;
	size_t normal = MFS_MIN(len, s + CDC_NORMAL);
	size_t end = MFS_MIN(len, s + CACHE_CHUNK_MAX);
	size_t e;
	int j;

	if (len - s <= CACHE_CHUNK_MIN)
		return len;
	while (*i < n && (cand[*i] & ~CDC_STRONG) < lo)
		(*i)++;
	for (j = *i; j < n; j++) {
		e = cand[j] & ~CDC_STRONG;
		if (e >= end)
			break;
		if (e >= normal || (cand[j] & CDC_STRONG))
			return e;
	}
	return end;
}

static int cut_from_candidates(const uint32_t *cand, int n, size_t len,
			       cache_chunk_fn emit, void *ctx)
{
	size_t s = 0, e;
	int i = 0, chunks = 0;

	while (s < len) {
		e = pick_cut(cand, n, &i, s, len);
		emit(ctx, s, e - s);
		chunks++;
		s = e;
	}
	return chunks;
}

static int cut_sequentially(const uint8_t *win, size_t len,
			    cache_chunk_fn emit, void *ctx)
{
	size_t s = 0, c;
	int chunks = 0;

	while (s < len) {
		c = cache_cdc_cut(win + s, len - s);
		emit(ctx, s, c);
		chunks++;
		s += c;
	}
	return chunks;
}

static bool use_avx512(void)
{
	return !atomic_load_explicit(&force_scalar, memory_order_relaxed) &&
	       cache_cdc_have_avx512();
}

int cache_chunk_window(const uint8_t *win, size_t len, cache_chunk_fn emit,
		       void *ctx)
{
	uint32_t cand[CDC_CAND_MAX];
	int n = -1;

	if (len > CACHE_WINDOW)
		return -EINVAL;
	if (use_avx512())
		n = cache_cdc_scan_avx512(win, len, cand);
	if (n >= 0)
		return cut_from_candidates(cand, n, len, emit, ctx);
	return cut_sequentially(win, len, emit, ctx);
}

const char *cache_cdc_kernel(void)
{
	return use_avx512() ? "avx512vbmi" : "scalar";
}

void cache_cdc_force_scalar(bool scalar)
{
	atomic_store(&force_scalar, scalar);
}
