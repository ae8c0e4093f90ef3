/*
 * sha256_ni.c - SHA-256 of many buffers at once, two per core with the
 * SHA-NI instructions.
 *
 * Why: every chunk read from disk is verified against its SHA-256 name,
 * and that hash is most of the cost of serving a cached file (OpenSSL's
 * SHA-NI code: 1.3 GB/s on one core of the development machine).  One
 * SHA-256 stream is a chain of dependent sha256rnds2 instructions, so a
 * core mostly waits on their latency; two independent streams interleaved
 * keep it busy.  A read of 1 MiB verifies ~16 chunks: they are hashed in
 * pairs (a lane that finishes takes the next buffer).
 *
 * Without SHA-NI (or SSE4.1) every buffer goes through cache_sha256
 * (OpenSSL).  Unit tests and fuzz_cdc compare both with OpenSSL.
 */
#include "common/mfs.h"
#include "cache/cache.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SHA_NI_BUILD 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifdef SHA_NI_BUILD

#define SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t round_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t initial_state[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/*
 * One stream's state in the instructions' layout: abef holds (from the
 * top dword down) a, b, e, f; cdgh holds c, d, g, h.
 */
struct lane {
	__m128i abef, cdgh;
};

SHA_TARGET static struct lane lane_load(const uint32_t s[8])
{
	__m128i abcd = _mm_loadu_si128((const __m128i *)s);
	__m128i efgh = _mm_loadu_si128((const __m128i *)(s + 4));
	__m128i badc = _mm_shuffle_epi32(abcd, 0xB1);
	__m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);
	struct lane l;

	l.abef = _mm_alignr_epi8(badc, hgfe, 8);
	l.cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);
	return l;
}

SHA_TARGET static void lane_store(struct lane l, uint32_t s[8])
{
	__m128i feba = _mm_shuffle_epi32(l.abef, 0x1B);
	__m128i dchg = _mm_shuffle_epi32(l.cdgh, 0xB1);

	_mm_storeu_si128((__m128i *)s, _mm_blend_epi16(feba, dchg, 0xF0));
	_mm_storeu_si128((__m128i *)(s + 4), _mm_alignr_epi8(dchg, feba, 8));
}

/* Four rounds: wk holds w[t..t+3] + k[t..t+3]. */
SHA_TARGET static inline void four_rounds(struct lane *l, __m128i wk)
{
	l->cdgh = _mm_sha256rnds2_epu32(l->cdgh, l->abef, wk);
	l->abef = _mm_sha256rnds2_epu32(l->abef, l->cdgh,
					_mm_shuffle_epi32(wk, 0x0E));
}

/* w[t..t+3] from the sixteen words before them, m[0] the oldest four. */
SHA_TARGET static inline __m128i next_words(const __m128i m[4])
{
	__m128i x = _mm_sha256msg1_epu32(m[0], m[1]);

	x = _mm_add_epi32(x, _mm_alignr_epi8(m[3], m[2], 4));
	return _mm_sha256msg2_epu32(x, m[3]);
}

/* The sixteen words of a block, as big-endian numbers. */
SHA_TARGET static inline void load_block(__m128i m[4], const uint8_t *p)
{
	const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL,
					    0x0405060700010203LL);
	int i;

	for (i = 0; i < 4; i++)
		m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p + i),
					swap);
}

/*
 * Rounds t..t+3 of a block: m holds the last sixteen words in a ring, the
 * oldest four (w[t-16..t-13]) in slot (t / 4) % 4, which the next four
 * words replace.
 */
SHA_TARGET static inline void step(struct lane *l, __m128i m[4], int t)
{
	int i = (t >> 2) & 3;

	if (t >= 16) {
		__m128i ring[4] = { m[i], m[(i + 1) & 3], m[(i + 2) & 3],
				    m[(i + 3) & 3] };

		m[i] = next_words(ring);
	}
	four_rounds(l, _mm_add_epi32(
		m[i], _mm_loadu_si128((const __m128i *)(round_k + t))));
}

SHA_TARGET static inline void lane_add(struct lane *l, struct lane before)
{
	l->abef = _mm_add_epi32(l->abef, before.abef);
	l->cdgh = _mm_add_epi32(l->cdgh, before.cdgh);
}

/*
 * The compression function on n blocks of each of two streams, in
 * lockstep: the two chains of rounds are independent, so the core runs
 * one while the other waits.
 */
SHA_TARGET static void blocks_x2(uint32_t s0[8], const uint8_t *p0,
				 uint32_t s1[8], const uint8_t *p1, size_t n)
{
	struct lane a = lane_load(s0), b = lane_load(s1), a0, b0;
	__m128i ma[4], mb[4];
	int t;

	for (; n; n--, p0 += 64, p1 += 64) {
		a0 = a;
		b0 = b;
		load_block(ma, p0);
		load_block(mb, p1);
		for (t = 0; t < 64; t += 4) {
			step(&a, ma, t);
			step(&b, mb, t);
		}
		lane_add(&a, a0);
		lane_add(&b, b0);
	}
	lane_store(a, s0);
	lane_store(b, s1);
}

/* The same for one stream (the tail of the longer buffer, the padding). */
SHA_TARGET static void blocks_x1(uint32_t s[8], const uint8_t *p, size_t n)
{
	struct lane a = lane_load(s), a0;
	__m128i m[4];
	int t;

	for (; n; n--, p += 64) {
		a0 = a;
		load_block(m, p);
		for (t = 0; t < 64; t += 4)
			step(&a, m, t);
		lane_add(&a, a0);
	}
	lane_store(a, s);
}

/* A buffer being hashed: its state and how far it got. */
struct stream {
	uint32_t state[8];
	const uint8_t *data;
	size_t len;
	size_t done;		/* bytes of whole blocks compressed */
	size_t index;		/* in the caller's arrays */
};

static void stream_start(struct stream *s, const uint8_t *data, size_t len,
			 size_t index)
{
	memcpy(s->state, initial_state, sizeof(s->state));
	s->data = data;
	s->len = len;
	s->done = 0;
	s->index = index;
}

static size_t blocks_left(const struct stream *s)
{
	return (s->len - s->done) / 64;
}

/* The last partial block, the 0x80 and the length in bits; then the name. */
SHA_TARGET static void stream_finish(struct stream *s, uint8_t out[32])
{
	uint8_t tail[128] = { 0 };
	size_t rest = s->len - s->done;
	size_t n = rest < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)s->len * 8;
	int i;

	memcpy(tail, s->data + s->done, rest);
	tail[rest] = 0x80;
	for (i = 0; i < 8; i++)
		tail[n - 1 - i] = (uint8_t)(bits >> (8 * i));
	blocks_x1(s->state, tail, n / 64);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->state[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->state[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->state[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->state[i];
	}
}

static bool cpu_has_sha_ni(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) ||
	    !(c & bit_SSSE3))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return (b & bit_SHA) != 0;
}

/* Two lanes; a lane whose buffer is done takes the next one. */
static void sha256_many_ni(const uint8_t *const *data, const size_t *len,
			   size_t n, uint8_t (*out)[CACHE_HASH_LEN])
{
	struct stream lane[2];
	bool busy[2] = { false, false };
	size_t next = 0, step;
	int i;

	for (;;) {
		for (i = 0; i < 2; i++) {
			while (!busy[i] && next < n) {
				stream_start(&lane[i], data[next], len[next],
					     next);
				next++;
				busy[i] = true;
				if (!blocks_left(&lane[i])) {
					stream_finish(&lane[i],
						      out[lane[i].index]);
					busy[i] = false;
				}
			}
		}
		if (!busy[0] && !busy[1])
			return;
		if (busy[0] && busy[1]) {
			step = MFS_MIN(blocks_left(&lane[0]),
				       blocks_left(&lane[1]));
			blocks_x2(lane[0].state, lane[0].data + lane[0].done,
				  lane[1].state, lane[1].data + lane[1].done,
				  step);
			lane[0].done += step * 64;
			lane[1].done += step * 64;
		} else {
			i = busy[0] ? 0 : 1;
			step = blocks_left(&lane[i]);
			blocks_x1(lane[i].state, lane[i].data + lane[i].done,
				  step);
			lane[i].done += step * 64;
		}
		for (i = 0; i < 2; i++) {
			if (busy[i] && !blocks_left(&lane[i])) {
				stream_finish(&lane[i], out[lane[i].index]);
				busy[i] = false;
			}
		}
	}
}

#endif /* SHA_NI_BUILD */

static int sha256_many_openssl(const uint8_t *const *data, const size_t *len,
			       size_t n, uint8_t (*out)[CACHE_HASH_LEN])
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		if ((rc = cache_sha256(data[i], len[i], out[i])))
			return rc;
	return 0;
}

static int ni_state;	/* 0: not asked yet, 1: yes, -1: no (or forced off) */

bool cache_sha256_ni_available(void)
{
	int s = __atomic_load_n(&ni_state, __ATOMIC_RELAXED);

	if (!s) {
#ifdef SHA_NI_BUILD
		s = cpu_has_sha_ni() ? 1 : -1;
#else
		s = -1;
#endif
		__atomic_store_n(&ni_state, s, __ATOMIC_RELAXED);
	}
	return s > 0;
}

void cache_sha256_ni_disable(void)
{
	__atomic_store_n(&ni_state, -1, __ATOMIC_RELAXED);
}

int cache_sha256_many(const uint8_t *const *data, const size_t *len, size_t n,
		      uint8_t (*out)[CACHE_HASH_LEN])
{
#ifdef SHA_NI_BUILD
	if (cache_sha256_ni_available()) {
		sha256_many_ni(data, len, n, out);
		return 0;
	}
#endif
	return sha256_many_openssl(data, len, n, out);
}
