/*
 * buf.h - a growable byte buffer with a hard cap.
 *
 * Owns: its data array.  A struct buf is embedded (buf_init/buf_release)
 * and used by one thread at a time.  Every append checks the cap before it
 * allocates, so a hostile length can never make MusicFS allocate more than
 * the caller allowed: appends past the cap fail with -EFBIG and leave the
 * buffer as it was.  data is always NUL-terminated (the NUL is not counted
 * in len) so text can be used as a C string.
 */
#ifndef MFS_COMMON_BUF_H
#define MFS_COMMON_BUF_H

#include "common/mfs.h"

struct buf {
	char *data;	/* NULL until the first append */
	size_t len;
	size_t alloc;
	size_t max;	/* cap on len, in bytes */
};

#define BUF_INIT_MAX(m) { NULL, 0, 0, (m) }

/* Initialize an empty buffer that refuses to grow past max bytes. */
void buf_init(struct buf *b, size_t max);

/* Free the data and leave the buffer empty (max is kept). */
void buf_release(struct buf *b);

/* Drop the content but keep the allocation. */
void buf_reset(struct buf *b);

/* Append n bytes.  0, -EFBIG past the cap, -ENOMEM. */
int buf_add(struct buf *b, const void *p, size_t n);

/* Append a C string. */
int buf_adds(struct buf *b, const char *s);

/* Append one byte. */
int buf_addch(struct buf *b, int c);

/* Append printf-style text. */
int buf_addf(struct buf *b, const char *fmt, ...) MFS_PRINTF(2, 3);

/* Make room for n more bytes; returns a pointer to them or NULL. */
char *buf_grow(struct buf *b, size_t n);

/*
 * Take the data out of the buffer: returns a NUL-terminated array that the
 * caller frees (never NULL on success: an empty buffer gives ""), stores the
 * length in *len if len is not NULL, and leaves the buffer empty.
 * NULL on allocation failure.
 */
char *buf_detach(struct buf *b, size_t *len);

#endif
