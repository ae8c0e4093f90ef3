/*
 * buf.c - growable byte buffer with a cap (see buf.h).
 */
#include "common/mfs.h"
#include "common/buf.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_grow(struct buf *b, size_t n)
{
	size_t want;
	size_t alloc;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return NULL;
	want = b->len + n + 1;
	if (want > b->alloc) {
		alloc = b->alloc ? b->alloc : 64;
		while (alloc < want)
			alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
		p = realloc(b->data, alloc);
		if (!p)
			return NULL;
		b->data = p;
		b->alloc = alloc;
	}
	return b->data + b->len;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	char *dst;

	if (n > b->max || b->len > b->max - n)
		return -EFBIG;
	dst = buf_grow(b, n);
	if (!dst)
		return -ENOMEM;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addch(struct buf *b, int c)
{
	unsigned char ch = (unsigned char)c;

	return buf_add(b, &ch, 1);
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *dst;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > b->max || b->len > b->max - (size_t)n)
		return -EFBIG;
	dst = buf_grow(b, (size_t)n);
	if (!dst)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (!p) {
		p = calloc(1, 1);
		if (!p)
			return NULL;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}
