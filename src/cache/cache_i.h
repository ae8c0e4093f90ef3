/*
 * cache_i.h - what cdc.c and cdc_avx512.c share: the rule that makes an
 * offset a cut point, and the candidate scanners.
 *
 * The gear hash at end offset e of a window is the hash of the 32 bytes
 * before e: h(e) = sum over k = 1..32 of gear[p[e - k]] << (k - 1), modulo
 * 2^32, rolled one byte at a time as h = 2h + gear[byte] (older bytes fall
 * off the top).  Offset e is a "candidate" when h(e) has none of the
 * CDC_MASK_WEAK bits set, a strong candidate when it has none of the
 * CDC_MASK_STRONG bits set either (the strong mask contains the weak one).
 * Because h(e) depends on those 32 bytes only, the candidates of a window
 * do not depend on where its chunks start.
 */
#ifndef MFS_CACHE_CACHE_I_H
#define MFS_CACHE_CACHE_I_H

#include "common/mfs.h"
#include "cache/cache.h"

#define CDC_HASH_SPAN 32		/* bytes a hash depends on */
#define CDC_MASK_STRONG 0xffffc000u	/* 18 bits: 1 in 256 KiB */
#define CDC_MASK_WEAK 0xfffc0000u	/* 14 bits: 1 in 16 KiB */
#define CDC_NORMAL (52u << 10)		/* strong mask below, weak above */

/* A candidate as the scanners record it: its end offset, plus this bit. */
#define CDC_STRONG 0x80000000u

/* Room for candidates: per AVX-512 lane, and in all. */
#define CDC_LANES 16
#define CDC_LANE_CAP 256
#define CDC_CAND_MAX (CDC_LANES * CDC_LANE_CAP + 1024)

/* splitmix64-generated; see cdc.c. */
extern const uint32_t cache_gear[256];

/*
 * Append the candidates among end offsets [e0, e1) of p to out[n..cap), in
 * order, as e | (CDC_STRONG if strong); needs e0 > CDC_HASH_SPAN.  Returns
 * the new count, or -1 if cap was too small (out is then incomplete).
 */
int cache_cdc_scan_scalar(const uint8_t *p, size_t e0, size_t e1,
			  uint32_t *out, int n, int cap);

/*
 * Every candidate among end offsets [CACHE_CHUNK_MIN, len) of win into
 * out[0, CDC_CAND_MAX), in order, with the AVX-512 VBMI kernel.  Returns
 * the count, or -1 when the kernel cannot help: no such CPU, a window too
 * short to split into lanes, or more than CDC_LANE_CAP candidates in one
 * lane (data so regular that nearly every offset is a candidate); the
 * caller then cuts sequentially.  len <= CACHE_WINDOW.
 */
int cache_cdc_scan_avx512(const uint8_t *win, size_t len, uint32_t *out);

/* Whether this CPU (and OS) can run cache_cdc_scan_avx512. */
bool cache_cdc_have_avx512(void);

/* ---- store.c internals (static, but for test_cache) --------------------- */

#define STORE_REL_LEN (3 + CACHE_HEX_LEN + 1)	/* "ab/" + hex + NUL */

/* A chunk being written. */
struct chunk_tmp {
	int fd;
	char *path;		/* named temporary: its full path, else NULL */
	const char *rel;	/* in path: "ab/.tmp-XXXXXX" */
};

#ifdef MFS_UNIT_TEST
/* "ab/abcdef..." (relative to chunks/) for hash. */
void store_chunk_rel(const uint8_t hash[CACHE_HASH_LEN],
		     char rel[STORE_REL_LEN]);
/* Write named temporaries from now on, as without O_TMPFILE. */
void store_force_named_tmp(struct cache_store *st);
/* The steps of a put: a file without a real name in rel's folder, its
 * data flushed, linked as rel (*created: this call made the name), and
 * closed (a named temporary is removed). */
int store_tmp_create(struct cache_store *st, const char *rel,
		     struct chunk_tmp *t);
int store_tmp_write(struct chunk_tmp *t, const void *data, size_t len);
int store_tmp_publish(struct cache_store *st, struct chunk_tmp *t,
		      const char *rel, bool *created);
void store_tmp_discard(struct cache_store *st, struct chunk_tmp *t);
#endif

#endif
