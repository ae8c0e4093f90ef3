/*
 * str.h - small string helpers that replace the banned C functions.
 *
 * Functions that return memory say so; the caller frees it with free().
 * All are thread-safe (no shared state).
 */
#ifndef MFS_COMMON_STR_H
#define MFS_COMMON_STR_H

#include "common/mfs.h"

/*
 * Copy src into dst of size dstsize, always NUL-terminating (if dstsize > 0).
 * Returns strlen(src); a result >= dstsize means the copy was truncated.
 */
size_t str_copy(char *dst, const char *src, size_t dstsize);

/* strdup that returns NULL for NULL.  Caller frees. */
char *str_dup(const char *s);

/* Copy of n bytes of s plus a NUL.  Caller frees; NULL on ENOMEM. */
char *str_ndup(const char *s, size_t n);

/* printf into a new string.  Caller frees; NULL on failure. */
char *str_printf(const char *fmt, ...) MFS_PRINTF(1, 2);

/* True if s ends with suffix, ASCII case ignored. */
bool str_ends_with_ci(const char *s, const char *suffix);

/* True if s and t are equal, either may be NULL (two NULLs are equal). */
bool str_eq(const char *s, const char *t);

/*
 * Parse a whole decimal integer in [min, max]; 0 or -EINVAL (not a number,
 * trailing garbage) or -ERANGE.
 */
int str_to_ll(const char *s, long long min, long long max, long long *out);

/* Empty or NULL. */
static inline bool str_empty(const char *s)
{
	return !s || !*s;
}

#endif
