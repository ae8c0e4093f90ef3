/*
 * hash.c - SHA-256 content addresses through OpenSSL, and their hex form.
 *
 * Why OpenSSL: a chunk's name must resist a hostile origin (nobody may be
 * able to make two contents share a name), and OpenSSL's SHA-256 uses the
 * SHA-NI instructions when the CPU has them (about 1.3 GB/s on one core of
 * the development machine; see bench/README.md).
 *
 * The implementation is fetched once (EVP_MD_fetch walks the provider
 * tables under a lock: not something to do per chunk) and kept for the
 * life of the process.  Each digest then runs EVP_Digest, which makes and
 * frees a context of its own: a malloc per chunk of 16-256 KiB costs
 * nothing measurable and keeps the function thread-safe without per-thread
 * state.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_CACHE
#include "log/log.h"
#include "cache/cache.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <xxhash.h>

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;	/* written once under sha256_once */

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md)
		mfs_log(MFS_LOG_ERROR, "cannot fetch OpenSSL's SHA-256");
}

int cache_sha256(const void *data, size_t len, uint8_t out[CACHE_HASH_LEN])
{
	unsigned int n = 0;

	pthread_once(&sha256_once, fetch_sha256);
	if (!sha256_md)
		return -EIO;
	if (!EVP_Digest(data, len, out, &n, sha256_md, NULL) ||
	    n != CACHE_HASH_LEN)
		return -EIO;
	return 0;
}

void cache_sum(const void *data, size_t len, uint8_t out[CACHE_SUM_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(out, c.digest, CACHE_SUM_LEN);
}

void cache_hash_to_hex(const uint8_t hash[CACHE_HASH_LEN],
		       char hex[CACHE_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < CACHE_HASH_LEN; i++) {
		hex[2 * i] = digits[hash[i] >> 4];
		hex[2 * i + 1] = digits[hash[i] & 15];
	}
	hex[CACHE_HEX_LEN] = '\0';
}

/* 0..15 for a lowercase hex digit, -1 for anything else. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int cache_hash_from_hex(const char *hex, uint8_t hash[CACHE_HASH_LEN])
{
	int hi, lo;
	size_t i;

	for (i = 0; i < CACHE_HASH_LEN; i++) {
		hi = hex_value(hex[2 * i]);
		lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		hash[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[CACHE_HEX_LEN] ? -EINVAL : 0;
}
