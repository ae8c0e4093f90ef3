/*
 * str.c - bounded string helpers (see str.h).
 */
#include "common/mfs.h"
#include "common/str.h"

#include <ctype.h>
#include <strings.h>

size_t str_copy(char *dst, const char *src, size_t dstsize)
{
	size_t n = strlen(src);

	if (dstsize) {
		size_t c = n < dstsize ? n : dstsize - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

char *str_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *str_ndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : p;
}

bool str_ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

bool str_eq(const char *s, const char *t)
{
	if (!s || !t)
		return s == t;
	return strcmp(s, t) == 0;
}

int str_to_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
