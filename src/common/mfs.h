/*
 * mfs.h - the first include of every MusicFS source file.
 *
 * Sets the feature macros (through meson: _GNU_SOURCE, _FILE_OFFSET_BITS=64,
 * FUSE_USE_VERSION), pulls in the C library headers nearly every file needs,
 * defines MFS_TESTABLE and bans the C functions that invite buffer overruns
 * (banned.h, after the system headers so that their inline code still
 * compiles).
 */
#ifndef MFS_COMMON_MFS_H
#define MFS_COMMON_MFS_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Functions that are file-local in the product but that unit tests call
 * directly: static unless the file is compiled for a unit test.
 */
#ifdef MFS_UNIT_TEST
#define MFS_TESTABLE
#else
#define MFS_TESTABLE static
#endif

#define MFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MFS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MFS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MFS_UNUSED __attribute__((unused))
#define MFS_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * In an array of n elements of size bytes sorted by the uint64_t at byte
 * offset key_off of each, the index of the last element whose key is <=
 * key (0 when none is, and for n <= 1): which segment, page or range holds
 * an offset.  Binary search.
 */
static inline size_t mfs_floor_index(const void *base, size_t n, size_t size,
				     size_t key_off, uint64_t key)
{
	const char *p = base;
	size_t lo = 0, hi = n;
	uint64_t k;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&k, p + mid * size + key_off, sizeof(k));
		if (k <= key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

#include "common/banned.h"

#endif
