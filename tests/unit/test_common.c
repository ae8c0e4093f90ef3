/*
 * test_common.c - buf, byte_reader and str.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/byte_reader.h"
#include "common/str.h"

#include <setjmp.h>
#include <cmocka.h>

static void test_buf_cap(void **state)
{
	struct buf b;
	char *p;
	size_t len;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "abcd"), 0);
	assert_int_equal(buf_addf(&b, "%d", 123), 0);
	assert_string_equal(b.data, "abcd123");
	/* past the cap: refused, content unchanged */
	assert_int_equal(buf_adds(&b, "xy"), -EFBIG);
	assert_int_equal(buf_addf(&b, "%s", "xyz"), -EFBIG);
	assert_string_equal(b.data, "abcd123");
	assert_int_equal(buf_addch(&b, 'z'), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_addch(&b, 'z'), -EFBIG);
	assert_null(buf_grow(&b, SIZE_MAX));
	p = buf_detach(&b, &len);
	assert_int_equal(len, 8);
	assert_string_equal(p, "abcd123z");
	free(p);
	/* detach leaves the buffer empty and reusable */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	p = buf_detach(&b, &len);
	assert_string_equal(p, "");
	free(p);
	buf_release(&b);
}

static void test_byte_reader_bounds(void **state)
{
	static const uint8_t data[] = { 0x12, 0x34, 0x56, 0x78, 0x7f, 0x7f,
					0x7f, 0x7f };
	struct byte_reader r, sub;
	const uint8_t *p;

	(void)state;
	byte_reader_init(&r, data, sizeof(data));
	assert_int_equal(byte_reader_be16(&r), 0x1234);
	assert_int_equal(byte_reader_le16(&r), 0x7856);
	assert_int_equal(byte_reader_syncsafe32(&r), 0x0fffffff);
	assert_false(r.failed);
	/* reading past the end fails, returns 0 and sticks */
	assert_int_equal(byte_reader_u8(&r), 0);
	assert_true(r.failed);
	assert_int_equal(byte_reader_left(&r), 0);
	byte_reader_init(&r, data, sizeof(data));
	assert_int_equal(byte_reader_skip(&r, 9), -EBADMSG);
	byte_reader_init(&r, data, sizeof(data));
	assert_int_equal(byte_reader_bytes(&r, SIZE_MAX, &p), -EBADMSG);
	assert_null(p);
	byte_reader_init(&r, data, sizeof(data));
	assert_int_equal(byte_reader_sub(&r, 3, &sub), 0);
	assert_int_equal(byte_reader_be24(&sub), 0x123456);
	assert_int_equal(byte_reader_u8(&sub), 0);
	assert_true(sub.failed);
	assert_false(r.failed);
	assert_int_equal(byte_reader_be32(&r), 0x787f7f7f);
	assert_int_equal(byte_reader_seek(&r, 9), -EBADMSG);
}

static void test_str(void **state)
{
	char small[4];
	long long v;

	(void)state;
	assert_int_equal(str_copy(small, "abcdef", sizeof(small)), 6);
	assert_string_equal(small, "abc");
	assert_true(str_ends_with_ci("Track.FLAC", ".flac"));
	assert_false(str_ends_with_ci("ac", ".flac"));
	assert_true(str_eq(NULL, NULL));
	assert_false(str_eq("a", NULL));
	assert_int_equal(str_to_ll("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(str_to_ll("42x", 0, 100, &v), -EINVAL);
	assert_int_equal(str_to_ll(" 4", 0, 100, &v), -EINVAL);
	assert_int_equal(str_to_ll("101", 0, 100, &v), -ERANGE);
	assert_int_equal(str_to_ll("99999999999999999999", 0, LLONG_MAX, &v),
			 -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_byte_reader_bounds),
		cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
