/*
 * test_log.c - log filters: levels per subsystem, and bad specs refused.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_SCAN
#include "log/log.h"

#include <setjmp.h>
#include <cmocka.h>

static void test_filter_levels(void **state)
{
	char err[128];

	(void)state;
	assert_int_equal(mfs_log_set_filter("scan=debug,warn", err, sizeof(err)), 0);
	assert_int_equal(mfs_log_levels[MFS_LOGM_SCAN], MFS_LOG_DEBUG);
	assert_int_equal(mfs_log_levels[MFS_LOGM_FUSE], MFS_LOG_WARN);
	assert_true(mfs_log_enabled(MFS_LOG_DEBUG));
	assert_false(mfs_log_enabled(MFS_LOG_TRACE));
	assert_int_equal(mfs_log_set_filter("musicfs=trace", err, sizeof(err)), 0);
	assert_int_equal(mfs_log_levels[MFS_LOGM_CATALOG], MFS_LOG_TRACE);
	assert_int_equal(mfs_log_set_filter(" info , fuse = error", err,
					    sizeof(err)), 0);
	assert_int_equal(mfs_log_levels[MFS_LOGM_FUSE], MFS_LOG_ERROR);
	assert_int_equal(mfs_log_levels[MFS_LOGM_SCAN], MFS_LOG_INFO);
}

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

static void test_arguments_not_evaluated_when_off(void **state)
{
	char err[128];

	(void)state;
	assert_int_equal(mfs_log_set_filter("error", err, sizeof(err)), 0);
	mfs_log(MFS_LOG_DEBUG, "%d", side_effect());
	assert_int_equal(evaluated, 0);
	assert_int_equal(mfs_error(-5, "x %d", 1), -5);
}

static void test_bad_filters(void **state)
{
	char err[128];

	(void)state;
	assert_int_equal(mfs_log_set_filter("info", err, sizeof(err)), 0);
	assert_int_equal(mfs_log_set_filter("loud", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "loud"));
	assert_int_equal(mfs_log_set_filter("nosuch=debug", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(mfs_log_set_filter("scan=", err, sizeof(err)), -EINVAL);
	/* a refused filter leaves the old one */
	assert_int_equal(mfs_log_levels[MFS_LOGM_SCAN], MFS_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_levels),
		cmocka_unit_test(test_arguments_not_evaluated_when_off),
		cmocka_unit_test(test_bad_filters),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
