/*
 * byte_reader.c - bounds-checked cursor (see byte_reader.h).
 */
#include "common/mfs.h"
#include "common/byte_reader.h"

void byte_reader_init(struct byte_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->pos = 0;
	r->failed = false;
}

static int byte_reader_fail(struct byte_reader *r)
{
	r->failed = true;
	r->pos = r->len;
	return -EBADMSG;
}

int byte_reader_skip(struct byte_reader *r, size_t n)
{
	if (n > byte_reader_left(r))
		return byte_reader_fail(r);
	r->pos += n;
	return 0;
}

int byte_reader_seek(struct byte_reader *r, size_t pos)
{
	if (pos > r->len)
		return byte_reader_fail(r);
	r->pos = pos;
	return 0;
}

int byte_reader_bytes(struct byte_reader *r, size_t n, const uint8_t **out)
{
	if (n > byte_reader_left(r)) {
		*out = NULL;
		return byte_reader_fail(r);
	}
	*out = r->data + r->pos;
	r->pos += n;
	return 0;
}

int byte_reader_sub(struct byte_reader *r, size_t n, struct byte_reader *sub)
{
	const uint8_t *p;

	if (byte_reader_bytes(r, n, &p)) {
		byte_reader_init(sub, NULL, 0);
		sub->failed = true;
		return -EBADMSG;
	}
	byte_reader_init(sub, p, n);
	return 0;
}

static uint64_t byte_reader_be(struct byte_reader *r, size_t n)
{
	const uint8_t *p;
	uint64_t v = 0;
	size_t i;

	if (byte_reader_bytes(r, n, &p))
		return 0;
	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t byte_reader_le(struct byte_reader *r, size_t n)
{
	const uint8_t *p;
	uint64_t v = 0;
	size_t i;

	if (byte_reader_bytes(r, n, &p))
		return 0;
	for (i = n; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

uint8_t byte_reader_u8(struct byte_reader *r)
{
	return (uint8_t)byte_reader_be(r, 1);
}

uint16_t byte_reader_be16(struct byte_reader *r)
{
	return (uint16_t)byte_reader_be(r, 2);
}

uint32_t byte_reader_be24(struct byte_reader *r)
{
	return (uint32_t)byte_reader_be(r, 3);
}

uint32_t byte_reader_be32(struct byte_reader *r)
{
	return (uint32_t)byte_reader_be(r, 4);
}

uint64_t byte_reader_be64(struct byte_reader *r)
{
	return byte_reader_be(r, 8);
}

uint16_t byte_reader_le16(struct byte_reader *r)
{
	return (uint16_t)byte_reader_le(r, 2);
}

uint32_t byte_reader_le32(struct byte_reader *r)
{
	return (uint32_t)byte_reader_le(r, 4);
}

uint64_t byte_reader_le64(struct byte_reader *r)
{
	return byte_reader_le(r, 8);
}

uint32_t byte_reader_syncsafe32(struct byte_reader *r)
{
	const uint8_t *p;

	if (byte_reader_bytes(r, 4, &p))
		return 0;
	return ((uint32_t)(p[0] & 0x7f) << 21) | ((uint32_t)(p[1] & 0x7f) << 14) |
	       ((uint32_t)(p[2] & 0x7f) << 7) | (uint32_t)(p[3] & 0x7f);
}
