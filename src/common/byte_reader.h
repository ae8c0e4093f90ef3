/*
 * byte_reader.h - a bounds-checked cursor over a byte array.
 *
 * Every parser of untrusted bytes (audio headers, tags) reads through a
 * byte_reader: each read checks the bytes left *before* touching memory or
 * allocating, and a failed read sets a sticky error so a parser can read a
 * whole structure and check once.  The reader never owns the bytes.
 * Single-threaded; embed it on the stack.
 */
#ifndef MFS_COMMON_BYTE_READER_H
#define MFS_COMMON_BYTE_READER_H

#include "common/mfs.h"

struct byte_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool failed;	/* sticky: set by the first read past the end */
};

void byte_reader_init(struct byte_reader *r, const void *data, size_t len);

static inline size_t byte_reader_left(const struct byte_reader *r)
{
	return r->len - r->pos;
}

/* The current position as a pointer (valid for byte_reader_left bytes). */
static inline const uint8_t *byte_reader_ptr(const struct byte_reader *r)
{
	return r->data + r->pos;
}

/* Skip n bytes; -EBADMSG (and failed) if fewer are left. */
int byte_reader_skip(struct byte_reader *r, size_t n);

/* Move to an absolute position <= len. */
int byte_reader_seek(struct byte_reader *r, size_t pos);

/*
 * Return a pointer to the next n bytes in *out and advance; the pointer is
 * into the reader's array (not a copy).  -EBADMSG if fewer are left.
 */
int byte_reader_bytes(struct byte_reader *r, size_t n, const uint8_t **out);

/* Split off the next n bytes as a reader of their own and advance. */
int byte_reader_sub(struct byte_reader *r, size_t n, struct byte_reader *sub);

/*
 * Fixed-size integers, big and little endian.  On failure they return 0,
 * set failed and leave the position at the end.
 */
uint8_t byte_reader_u8(struct byte_reader *r);
uint16_t byte_reader_be16(struct byte_reader *r);
uint32_t byte_reader_be24(struct byte_reader *r);
uint32_t byte_reader_be32(struct byte_reader *r);
uint64_t byte_reader_be64(struct byte_reader *r);
uint16_t byte_reader_le16(struct byte_reader *r);
uint32_t byte_reader_le32(struct byte_reader *r);
uint64_t byte_reader_le64(struct byte_reader *r);

/* ID3v2 "syncsafe" 28-bit integer (four bytes of seven bits). */
uint32_t byte_reader_syncsafe32(struct byte_reader *r);

#endif
