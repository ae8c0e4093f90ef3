/*
 * ogg_crc.c - the page checksum of Ogg: CRC-32, polynomial 0x04c11db7,
 * most significant bit first, initial value 0, no final XOR.
 *
 * Every page MusicFS writes or renumbers gets a new checksum: header pages
 * when a header is synthesized, and every audio page of a renumbered range
 * as it is read, so the whole file passes through here on a read.  Two
 * ways, same result (the unit tests compare them with a bitwise CRC):
 *
 * - portable: slicing-by-8, eight table lookups per eight bytes;
 * - x86-64 with PCLMULQDQ: carry-less multiplication folds 64 bytes a step.
 *   With no reflection and no final XOR the checksum is M(x) * x^32 mod P,
 *   M being the message as a polynomial (the first byte's top bit highest).
 *   A 128-bit value X = H * x^64 + L moved D bits further is congruent to
 *   H * (x^(D+64) mod P) + L * (x^D mod P), two 64x32-bit products, so four
 *   lanes fold 512 bits at a time, are merged 128 bits at a time, and the
 *   last 128 bits (and bytes left) go through the table: the CRC of 16
 *   bytes from state 0 is exactly their polynomial times x^32 mod P.
 *   The constants are computed at start-up from P, not written down.
 */
#include "common/mfs.h"
#include "formats/formats_i.h"

#include <pthread.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define OGG_CRC_CLMUL 1
#include <immintrin.h>
#endif

#define OGG_CRC_POLY 0x04c11db7u

/* [k][i]: the CRC of byte i followed by k zero bytes. */
static uint32_t crc_table[8][256];
#ifdef OGG_CRC_CLMUL
static bool crc_clmul;		/* the CPU has PCLMULQDQ and SSSE3 */
static uint64_t crc_k128[2], crc_k512[2];	/* fold constants: lo, hi */
#endif
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

#ifdef OGG_CRC_CLMUL
/* x^n mod P, as 32 coefficients. */
static uint32_t crc_xpow(unsigned n)
{
	uint32_t r = 1;

	while (n--)
		r = r & 0x80000000u ? (r << 1) ^ OGG_CRC_POLY : r << 1;
	return r;
}
#endif

static void crc_init(void)
{
	uint32_t r;
	size_t i, k;
	int b;

	for (i = 0; i < 256; i++) {
		r = (uint32_t)i << 24;
		for (b = 0; b < 8; b++)
			r = r & 0x80000000u ? (r << 1) ^ OGG_CRC_POLY : r << 1;
		crc_table[0][i] = r;
	}
	for (k = 1; k < 8; k++)
		for (i = 0; i < 256; i++) {
			r = crc_table[k - 1][i];
			crc_table[k][i] = (r << 8) ^ crc_table[0][r >> 24];
		}
#ifdef OGG_CRC_CLMUL
	crc_k128[0] = crc_xpow(128);
	crc_k128[1] = crc_xpow(128 + 64);
	crc_k512[0] = crc_xpow(512);
	crc_k512[1] = crc_xpow(512 + 64);
	__builtin_cpu_init();
	crc_clmul = __builtin_cpu_supports("pclmul") &&
		    __builtin_cpu_supports("ssse3");
#endif
}

/* Continue crc over len bytes at p, eight bytes a step. */
static uint32_t crc_sliced(uint32_t crc, const uint8_t *p, size_t len)
{
	const uint32_t(*t)[256] = crc_table;
	uint32_t c;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		c = crc ^ ((uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
			   (uint32_t)p[i + 2] << 8 | p[i + 3]);
		crc = t[7][c >> 24] ^ t[6][(c >> 16) & 0xff] ^
		      t[5][(c >> 8) & 0xff] ^ t[4][c & 0xff] ^ t[3][p[i + 4]] ^
		      t[2][p[i + 5]] ^ t[1][p[i + 6]] ^ t[0][p[i + 7]];
	}
	for (; i < len; i++)
		crc = (crc << 8) ^ t[0][((crc >> 24) ^ p[i]) & 0xff];
	return crc;
}

#ifdef MFS_UNIT_TEST
uint32_t formats_ogg_crc_portable(const uint8_t *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return crc_sliced(0, p, len);
}
#endif

#ifdef OGG_CRC_CLMUL
#define CRC_TARGET __attribute__((target("pclmul,ssse3")))

/* 16 bytes as a polynomial: bit i is the coefficient of x^i. */
CRC_TARGET static __m128i crc_load(const uint8_t *p)
{
	const __m128i rev = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					 11, 12, 13, 14, 15);

	return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), rev);
}

/* x * x^D mod P, up to congruence (k: x^D and x^(D+64) mod P). */
CRC_TARGET static __m128i crc_fold(__m128i x, __m128i k)
{
	return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
			     _mm_clmulepi64_si128(x, k, 0x11));
}

/* len >= 64 */
CRC_TARGET static uint32_t crc_clmul_run(const uint8_t *p, size_t len)
{
	const __m128i rev = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					 11, 12, 13, 14, 15);
	__m128i k512 = _mm_set_epi64x((long long)crc_k512[1],
				      (long long)crc_k512[0]);
	__m128i k128 = _mm_set_epi64x((long long)crc_k128[1],
				      (long long)crc_k128[0]);
	__m128i x0 = crc_load(p), x1 = crc_load(p + 16);
	__m128i x2 = crc_load(p + 32), x3 = crc_load(p + 48);
	uint8_t last[16];

	for (p += 64, len -= 64; len >= 64; p += 64, len -= 64) {
		x0 = _mm_xor_si128(crc_fold(x0, k512), crc_load(p));
		x1 = _mm_xor_si128(crc_fold(x1, k512), crc_load(p + 16));
		x2 = _mm_xor_si128(crc_fold(x2, k512), crc_load(p + 32));
		x3 = _mm_xor_si128(crc_fold(x3, k512), crc_load(p + 48));
	}
	x0 = _mm_xor_si128(crc_fold(x0, k128), x1);
	x0 = _mm_xor_si128(crc_fold(x0, k128), x2);
	x0 = _mm_xor_si128(crc_fold(x0, k128), x3);
	for (; len >= 16; p += 16, len -= 16)
		x0 = _mm_xor_si128(crc_fold(x0, k128), crc_load(p));
	_mm_storeu_si128((__m128i *)last, _mm_shuffle_epi8(x0, rev));
	return crc_sliced(crc_sliced(0, last, sizeof(last)), p, len);
}
#endif

uint32_t formats_ogg_crc(const uint8_t *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
#ifdef OGG_CRC_CLMUL
	if (crc_clmul && len >= 64)
		return crc_clmul_run(p, len);
#endif
	return crc_sliced(0, p, len);
}
