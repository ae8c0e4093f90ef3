/*
 * cdc_avx512.c - every FastCDC candidate of a window in one AVX-512 pass.
 *
 * Why a second kernel: SHA-256 (SHA-NI) runs at about 1.3 GB/s on this
 * class of machine, so chunking plus hashing reaches 1 GB/s only if
 * chunking alone goes past 4 GB/s, and the scalar gear loop stops near
 * 2 GB/s: it needs two loads, a shift-add and a test for every byte.
 *
 * How: the window's end offsets [CACHE_CHUNK_MIN, len) are split into 16
 * lanes of equal length (a multiple of 64); the few offsets left over go
 * to the scalar scanner.  The 16 hashes are the 32-bit elements of one
 * register.  Each lane starts 64 bytes early with a zero hash, so its hash
 * is exact at its first offset (cache_i.h: it depends on 32 bytes only).
 * Per 64 bytes of each lane:
 *
 * - 16 loads (one row of 64 bytes per lane) and a 16x16 transpose of
 *   32-bit elements give, for each 4-byte step, a register holding the
 *   next 4 bytes of every lane;
 * - a byte shuffle reorders those so that each 128-bit block holds step t
 *   of 4 lanes at bytes 4t..4t+3;
 * - the gear lookup is byte-sliced: slice q is the byte q of every gear
 *   value (256 bytes = 4 registers), and two VPERMI2B (128-entry tables)
 *   plus a blend on the index's top bit look up 64 bytes at once;
 * - unpacking the four slices byte-wise then word-wise rebuilds the 32-bit
 *   gear values, one register per step, lane l in element l;
 * - h = 2h + gear for the 16 lanes; every 4 steps, one compare of their
 *   minimum tells whether any of the 64 hashes is a candidate.
 *
 * A lane's candidates (about one per 16 KiB) go to its own part of the
 * output; the parts are in offset order, so concatenating them sorts the
 * whole list.  Data so regular that a lane has more than CDC_LANE_CAP
 * candidates makes the kernel give up (-1); the caller cuts sequentially.
 *
 * Built for x86-64 with GCC or clang through target attributes, so the
 * rest of the program needs no -mavx512 flag; the caller checks the CPU.
 */
#include "common/mfs.h"
#include "cache/cache_i.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vbmi")))
/* Inlined into its one caller so that constant arguments fold away. */
#define INLINE inline __attribute__((always_inline))

/* The gear table byte-sliced: slice[q][i] = byte q of gear value i. */
struct gear_slices {
	__m512i s[4][4];	/* [q][64-entry quarter] */
};

/* Where the scan writes, and where lane l's offsets start. */
struct lanes {
	uint32_t *out;		/* lane l: out[l * CDC_LANE_CAP ...] */
	int n[CDC_LANES];
	size_t e0;		/* end offset of lane 0's first step */
	size_t lane;		/* offsets per lane */
	bool overflow;
};

bool cache_cdc_have_avx512(void)
{
	return __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vbmi");
}

AVX512 static void load_slices(struct gear_slices *g)
{
	uint8_t bytes[4][256];
	int q, i;

	for (i = 0; i < 256; i++)
		for (q = 0; q < 4; q++)
			bytes[q][i] = (uint8_t)(cache_gear[i] >> (8 * q));
	for (q = 0; q < 4; q++)
		for (i = 0; i < 4; i++)
			g->s[q][i] = _mm512_loadu_si512(&bytes[q][64 * i]);
}

/* r[l] element s becomes r[s] element l, for 16 x 16 32-bit elements. */
AVX512 static INLINE void transpose16(__m512i r[16])
{
	__m512i t[16];
	int i;

#pragma GCC unroll 16
	for (i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
	}
#pragma GCC unroll 16
	for (i = 0; i < 16; i += 4) {
		r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
		r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
		r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
		r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
	}
	/* 0x88 takes 128-bit blocks 0 and 2 of each source, 0xdd 1 and 3 */
#pragma GCC unroll 16
	for (i = 0; i < 4; i++) {
		t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
		t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
		t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
		t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
	}
#pragma GCC unroll 16
	for (i = 0; i < 4; i++) {
		r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
		r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
		r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
	}
}

/*
 * The byte shuffle applied to a transposed register (lane 4b + m's bytes
 * t = 0..3 at 16b + 4m + t) so that step t of 4 lanes sits at 16b + 4t +
 * m, the order the unpacks below turn into one register per step.
 */
AVX512 static inline __m512i step_order(void)
{
	uint8_t idx[64];
	int i;

	for (i = 0; i < 64; i++)
		idx[i] = (uint8_t)((i & ~15) | (4 * (i & 3) + ((i >> 2) & 3)));
	return _mm512_loadu_si512(idx);
}

/* gear[x] for 64 byte indices x, as four registers of 32-bit values. */
AVX512 static INLINE void lookup(const struct gear_slices *g, __m512i x,
				 __m512i out[4])
{
	__mmask64 high = _mm512_movepi8_mask(x);	/* index >= 128 */
	__m512i sl[4], a, b, c, d;
	int q;

#pragma GCC unroll 4
	for (q = 0; q < 4; q++) {
		a = _mm512_permutex2var_epi8(g->s[q][0], x, g->s[q][1]);
		b = _mm512_permutex2var_epi8(g->s[q][2], x, g->s[q][3]);
		sl[q] = _mm512_mask_blend_epi8(high, a, b);
	}
	a = _mm512_unpacklo_epi8(sl[0], sl[1]);
	b = _mm512_unpackhi_epi8(sl[0], sl[1]);
	c = _mm512_unpacklo_epi8(sl[2], sl[3]);
	d = _mm512_unpackhi_epi8(sl[2], sl[3]);
	out[0] = _mm512_unpacklo_epi16(a, c);
	out[1] = _mm512_unpackhi_epi16(a, c);
	out[2] = _mm512_unpacklo_epi16(b, d);
	out[3] = _mm512_unpackhi_epi16(b, d);
}

/* Note the lanes in hits as candidates at step k (rare: a cold path). */
AVX512 static void record(struct lanes *ln, __mmask16 hits, __m512i h,
			  size_t k)
{
	uint32_t hv[CDC_LANES];
	unsigned l;
	size_t e;

	_mm512_storeu_si512(hv, h);
	while (hits) {
		l = (unsigned)__builtin_ctz(hits);
		hits &= (__mmask16)(hits - 1);
		if (ln->n[l] == CDC_LANE_CAP) {
			ln->overflow = true;
			return;
		}
		e = ln->e0 + l * ln->lane + k;
		ln->out[l * CDC_LANE_CAP + ln->n[l]++] =
			(uint32_t)e |
			(hv[l] & CDC_MASK_STRONG ? 0 : CDC_STRONG);
	}
}

/*
 * Test the hashes of 4 consecutive steps (k is the first one's) against
 * the weak mask.  A hash clears the top 14 bits when it is below
 * weak_limit, so one compare of the 4 steps' minimum does, and each step
 * is looked at again only on a hit.
 */
AVX512 static INLINE void test_steps(struct lanes *ln, const __m512i hs[4],
				     __m512i weak_limit, size_t k)
{
	__m512i low = _mm512_min_epu32(_mm512_min_epu32(hs[0], hs[1]),
				       _mm512_min_epu32(hs[2], hs[3]));
	__mmask16 hits;
	int t;

	if (__builtin_expect(!_mm512_cmplt_epu32_mask(low, weak_limit), 1))
		return;
	for (t = 0; t < 4; t++) {
		hits = _mm512_cmplt_epu32_mask(hs[t], weak_limit);
		if (hits)
			record(ln, hits, hs[t], k + (size_t)t);
	}
}

/*
 * Roll the 16 hashes over the 64 bytes at offset k of every lane (lane l
 * reads p[l * lane + k, +64)); with test, record the candidates.  The
 * rows 1 KiB ahead are prefetched: 16 streams 256 KiB apart are more than
 * the hardware prefetcher follows (3.6 GB/s without, 5.2 GB/s with, on a
 * window fresh from memory).
 */
AVX512 static INLINE __m512i group(const uint8_t *p,
				   const struct gear_slices *g, __m512i order,
				   __m512i weak_limit, __m512i h, size_t k,
				   struct lanes *ln, bool test)
{
	__m512i r[16], gv[4], hs[4];
	int l, s, t;

#pragma GCC unroll 16
	for (l = 0; l < 16; l++) {
		r[l] = _mm512_loadu_si512(p + l * ln->lane + k);
		/* never faults, even past the window */
		_mm_prefetch((const char *)p + l * ln->lane + k + 1024,
			     _MM_HINT_T0);
	}
	transpose16(r);
#pragma GCC unroll 16
	for (s = 0; s < 16; s++) {
		lookup(g, _mm512_shuffle_epi8(r[s], order), gv);
#pragma GCC unroll 4
		for (t = 0; t < 4; t++) {
			h = _mm512_add_epi32(_mm512_slli_epi32(h, 1), gv[t]);
			hs[t] = h;
		}
		if (test)
			test_steps(ln, hs, weak_limit, k + (size_t)(4 * s));
	}
	return h;
}

/* Scan the 16 lanes of p (lane l at p + l * ln->lane, 64 bytes before it
 * readable); false on overflow. */
AVX512 static bool scan_lanes(const uint8_t *p, struct lanes *ln)
{
	/* the hashes with no CDC_MASK_WEAK bit are those below this */
	const __m512i limit = _mm512_set1_epi32((int)(~CDC_MASK_WEAK + 1));
	const __m512i order = step_order();
	__m512i h = _mm512_setzero_si512();
	struct gear_slices g;
	size_t k;

	load_slices(&g);
	/* 64 bytes of warm-up: 32 would do, a whole group is simpler */
	h = group(p - 64, &g, order, limit, h, 0, ln, false);
	for (k = 0; k < ln->lane && !ln->overflow; k += 64)
		h = group(p, &g, order, limit, h, k, ln, true);
	return !ln->overflow;
}

int cache_cdc_scan_avx512(const uint8_t *win, size_t len, uint32_t *out)
{
	struct lanes ln = { .out = out, .e0 = CACHE_CHUNK_MIN };
	int n = 0, l;

	if (len <= CACHE_CHUNK_MIN)
		return 0;
	ln.lane = (len - CACHE_CHUNK_MIN) / CDC_LANES / 64 * 64;
	/* a window of a few lanes' warm-up: the sequential cut will do */
	if (ln.lane < 256)
		return -1;
	/* the byte before end offset e0 is the first one a lane tests */
	if (!scan_lanes(win + ln.e0 - 1, &ln))
		return -1;
	for (l = 0; l < CDC_LANES; l++) {
		memmove(out + n, out + l * CDC_LANE_CAP,
			(size_t)ln.n[l] * sizeof(*out));
		n += ln.n[l];
	}
	return cache_cdc_scan_scalar(win, ln.e0 + CDC_LANES * ln.lane, len,
				     out, n, CDC_CAND_MAX);
}

#else /* not x86-64 with GCC or clang */

bool cache_cdc_have_avx512(void)
{
	return false;
}

int cache_cdc_scan_avx512(const uint8_t *win, size_t len, uint32_t *out)
{
	(void)win;
	(void)len;
	(void)out;
	return -1;
}

#endif
