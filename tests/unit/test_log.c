/*
 * test_log.c - log filters, the sinks and redaction.
 *
 * Filters: levels per subsystem, and bad specs refused.  Sinks: the stderr
 * text format unchanged, JSON lines (parsed back with jansson), the file
 * in log_dir rotated across a date change (the clock is injected through
 * mfs_log_test_clock; TZ is UTC so a "local day" is a UTC day), pruning to
 * 14 rotated files, reopening on reload, clear errors for a bad log_dir,
 * 8 threads across a rotation, and the journal's fields (no journald runs
 * here: the entry is captured through mfs_log_test_journal).  Redaction:
 * registered secrets (several, overlapping, across the cut) and URL
 * passwords, in every sink and in libfuse's messages.
 */
#include "common/mfs.h"
#define MFS_LOG_MODULE MFS_LOGM_SCAN
#include "log/log.h"
#include "log/log_i.h"

#include <fcntl.h>
#include <ftw.h>
#include <fuse_log.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------ */

/* 2026-03-01T23:59:58Z, a Sunday; the next day starts 2 s later. */
#define DAY1_LATE ((time_t)1772409598)
#define DAY2_START ((time_t)1772409600)

static _Atomic long long fake_ms;	/* the injected clock, in ms */
static atomic_int fake_step_ms;		/* added after each reading */

static void fake_clock(struct timespec *ts)
{
	long long ms = atomic_fetch_add(&fake_ms, fake_step_ms);

	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

static void set_clock(time_t sec, int ms)
{
	atomic_store(&fake_ms, (long long)sec * 1000 + ms);
	atomic_store(&fake_step_ms, 0);
	mfs_log_test_clock = fake_clock;
}

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/test_log.XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	return strdup(dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* The whole content of path (NUL-terminated, caller frees), or NULL. */
static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	for (;;) {
		buf = realloc(buf, len + 65536 + 1);
		assert_non_null(buf);
		n = read(fd, buf + len, 65536);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static char *slurp_in(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return slurp(path);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* stderr goes to a file while captured. */
struct capture {
	char path[64];
	int saved;
};

static void capture_start(struct capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/test_log_err.XXXXXX");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Stop capturing; the captured text (caller frees). */
static char *capture_end(struct capture *c)
{
	char *text = slurp(c->path);

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	unlink(c->path);
	assert_non_null(text);
	return text;
}

static void open_sinks(const char *dir, bool json, bool journald,
		       bool to_stderr)
{
	struct mfs_log_sinks s = { .dir = dir, .json = json,
				   .journald = journald,
				   .stderr_sink = to_stderr };
	char err[512];

	err[0] = '\0';
	assert_int_equal(mfs_log_open_sinks(&s, err, sizeof(err)), 0);
}

/* Journal entries captured instead of sent (each as "F=v|F=v|..."). */
static char journal_seen[16][4200];
static atomic_int journal_count;

static void fake_journal(const struct iovec *iov, size_t n)
{
	int i = atomic_fetch_add(&journal_count, 1);
	size_t o = 0;
	size_t k;

	if (i >= 16)
		return;
	for (k = 0; k < n; k++) {
		o += (size_t)snprintf(journal_seen[i] + o,
				      sizeof(journal_seen[i]) - o, "%.*s|",
				      (int)iov[k].iov_len,
				      (const char *)iov[k].iov_base);
	}
}

/* A unix socket standing for journald's; its path in buf. */
static int fake_journal_socket(const char *dir, char *buf, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	snprintf(buf, size, "%s/journal.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", buf);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int teardown_sinks(void **state)
{
	(void)state;
	mfs_log_close_sinks();
	mfs_log_clear_secrets();
	mfs_log_test_clock = NULL;
	mfs_log_test_journal = NULL;
	mfs_log_journal_socket = "/run/systemd/journal/socket";
	unsetenv("JOURNAL_STREAM");
	atomic_store(&journal_count, 0);
	mfs_log_set_filter("info", NULL, 0);
	return 0;
}

/* ---- filters ------------------------------------------------------------ */

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
	struct capture c;

	(void)state;
	assert_int_equal(mfs_log_set_filter("error", err, sizeof(err)), 0);
	capture_start(&c);
	mfs_log(MFS_LOG_DEBUG, "%d", side_effect());
	assert_int_equal(evaluated, 0);
	assert_int_equal(mfs_error(-5, "x %d", 1), -5);
	free(capture_end(&c));
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

static void test_every_module_starts_at_info(void **state)
{
	int m;

	(void)state;
	for (m = 0; m < MFS_LOGM_COUNT; m++) {
		assert_int_equal(mfs_log_levels[m], MFS_LOG_INFO);
		assert_string_not_equal(mfs_log_module_name(m), "?");
	}
}

/* ---- the default stderr sink -------------------------------------------- */

static void test_stderr_text_unchanged(void **state)
{
	struct capture c;
	char *out;

	(void)state;
	set_clock(1795687200, 123);	/* 2026-11-26T10:00:00.123Z */
	capture_start(&c);
	mfs_log(MFS_LOG_WARN, "cannot read '%s': %s", "a.flac",
		"Permission denied");
	mfs_log_write(MFS_LOGM_FUSE, MFS_LOG_INFO, "ends in a newline\n");
	out = capture_end(&c);
	assert_string_equal(out,
		"2026-11-26T10:00:00.123Z WARN  scan: cannot read 'a.flac': "
		"Permission denied\n"
		"2026-11-26T10:00:00.123Z INFO  fuse: ends in a newline\n");
	free(out);
}

static void test_long_message_cut(void **state)
{
	struct capture c;
	char *big = malloc(10000);
	char *out;

	(void)state;
	memset(big, 'x', 9999);
	big[9999] = '\0';
	capture_start(&c);
	mfs_log(MFS_LOG_INFO, "%s", big);
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 1);
	assert_true(strlen(out) < MFS_LOG_TEXT_MAX);
	assert_non_null(strstr(out, "scan: xxxx"));
	free(out);
	free(big);
}

/* ---- JSON --------------------------------------------------------------- */

/* Parse one JSON line and check its fields; the decoded msg (owned). */
static char *check_json_line(const char *line, const char *level,
			     const char *module)
{
	json_error_t jerr;
	json_t *o = json_loads(line, 0, &jerr);
	const char *ts;
	char *msg;

	if (!o)
		fail_msg("not JSON (%s): %s", jerr.text, line);
	assert_int_equal(json_object_size(o), 4);
	ts = json_string_value(json_object_get(o, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[23], 'Z');
	assert_string_equal(json_string_value(json_object_get(o, "level")),
			    level);
	assert_string_equal(json_string_value(json_object_get(o, "module")),
			    module);
	msg = strdup(json_string_value(json_object_get(o, "msg")));
	json_decref(o);
	return msg;
}

static void test_json_lines(void **state)
{
	struct capture c;
	char *out;
	char *line;
	char *msg;
	char *save = NULL;

	(void)state;
	set_clock(1795687200, 5);
	open_sinks(NULL, true, false, true);
	capture_start(&c);
	mfs_log(MFS_LOG_WARN, "say \"hi\" \\ back\nslash\ttab\x01\x1f end");
	mfs_log(MFS_LOG_ERROR, "bad: \xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82|"
			       "ok: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	mfs_log_write(MFS_LOGM_CATALOG, MFS_LOG_TRACE, "trace");
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 3);
	assert_non_null(strstr(out, "{\"ts\":\"2026-11-26T10:00:00.005Z\","
				    "\"level\":\"warn\",\"module\":\"scan\","
				    "\"msg\":"));

	line = strtok_r(out, "\n", &save);
	msg = check_json_line(line, "warn", "scan");
	assert_string_equal(msg, "say \"hi\" \\ back\nslash\ttab\x01\x1f end");
	free(msg);
	assert_non_null(strstr(line, "\\u0001"));

	line = strtok_r(NULL, "\n", &save);
	msg = check_json_line(line, "error", "scan");
	/* each invalid byte is one U+FFFD; valid UTF-8 kept */
	assert_string_equal(msg, "bad: \xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
				 "\xef\xbf\xbd\xef\xbf\xbd|ok: \xc3\xa9"
				 "\xe2\x82\xac\xf0\x9f\x98\x80");
	free(msg);

	line = strtok_r(NULL, "\n", &save);
	msg = check_json_line(line, "trace", "catalog");
	assert_string_equal(msg, "trace");
	free(msg);
	free(out);
}

static void test_json_escape_never_splits(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	/* 3 bytes fit "abc"; the 6-byte escape of \x01 does not */
	n = mfs_log_json_escape(out, 8, "abc\x01zz", 6);
	assert_int_equal(n, 3);
	n = mfs_log_json_escape(out, 9, "abc\x01zz", 6);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "abc\\u0001", 9);
	/* a 4-byte character is not cut either */
	n = mfs_log_json_escape(out, 3, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(n, 0);
	n = mfs_log_json_escape(out, sizeof(out), "\xf4\x90\x80\x80", 4);
	assert_int_equal(n, 24 > sizeof(out) ? 12 : 24);
	assert_memory_equal(out, "\\ufffd\\ufffd", 12);
}

static void test_json_long_control_message(void **state)
{
	char *msg = malloc(MFS_LOG_MSG_MAX + 1);
	struct capture c;
	char *out;
	char *decoded;

	(void)state;
	memset(msg, '\x02', MFS_LOG_MSG_MAX);
	msg[MFS_LOG_MSG_MAX] = '\0';
	open_sinks(NULL, true, false, true);
	capture_start(&c);
	mfs_log(MFS_LOG_INFO, "%s", msg);
	out = capture_end(&c);
	*strchr(out, '\n') = '\0';
	decoded = check_json_line(out, "info", "scan");
	assert_string_equal(decoded, msg);	/* nothing cut */
	free(decoded);
	free(out);
	free(msg);
}

/* ---- the file sink ------------------------------------------------------ */

static void touch_in(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, name, strlen(name)), (ssize_t)strlen(name));
	close(fd);
}

static bool exists_in(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static size_t count_rotated(const char *dir)
{
	char path[64];
	size_t n = 0;
	int d;
	int m;

	for (m = 1; m <= 12; m++) {
		for (d = 1; d <= 31; d++) {
			snprintf(path, sizeof(path), "musicfs.log.2025-%02d-%02d",
				 m, d);
			n += exists_in(dir, path);
			snprintf(path, sizeof(path), "musicfs.log.2026-%02d-%02d",
				 m, d);
			n += exists_in(dir, path);
		}
	}
	return n;
}

static void test_rotation_across_midnight(void **state)
{
	char *top = make_tmpdir();
	char dir[PATH_MAX];
	char name[64];
	struct stat st;
	char *day1;
	char *day2;
	mode_t old_umask = umask(022);
	int i;

	(void)state;
	/* 20 older rotated files (2025-01-01 ...) and one of something else */
	snprintf(dir, sizeof(dir), "%s/var/log/musicfs", top);
	open_sinks(dir, false, false, false);
	mfs_log_close_sinks();
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "musicfs.log.2025-01-%02d", i + 1);
		touch_in(dir, name);
	}
	touch_in(dir, "musicfs.log.notes");
	touch_in(dir, "other.txt");

	set_clock(DAY1_LATE, 0);
	open_sinks(dir, false, false, false);
	mfs_log(MFS_LOG_INFO, "line of day one");
	set_clock(DAY1_LATE + 1, 999);
	mfs_log(MFS_LOG_INFO, "last line of day one");
	set_clock(DAY2_START, 0);
	mfs_log(MFS_LOG_INFO, "first line of day two");
	set_clock(DAY2_START + 3600, 0);
	mfs_log(MFS_LOG_INFO, "later on day two");

	day1 = slurp_in(dir, "musicfs.log.2026-03-01");
	day2 = slurp_in(dir, "musicfs.log");
	assert_non_null(day1);
	assert_non_null(day2);
	assert_string_equal(day1,
		"2026-03-01T23:59:58.000Z INFO  scan: line of day one\n"
		"2026-03-01T23:59:59.999Z INFO  scan: last line of day one\n");
	assert_string_equal(day2,
		"2026-03-02T00:00:00.000Z INFO  scan: first line of day two\n"
		"2026-03-02T01:00:00.000Z INFO  scan: later on day two\n");
	/* the 14 newest rotated files are kept: 2026-03-01 and 13 others */
	assert_int_equal(count_rotated(dir), 14);
	assert_false(exists_in(dir, "musicfs.log.2025-01-07"));
	assert_true(exists_in(dir, "musicfs.log.2025-01-08"));
	assert_true(exists_in(dir, "musicfs.log.2025-01-20"));
	assert_true(exists_in(dir, "musicfs.log.notes"));
	assert_true(exists_in(dir, "other.txt"));

	/* modes: created folders 0750, the file 0640 */
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(name, sizeof(name), "%s/var", top);
	assert_int_equal(stat(name, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/musicfs.log");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	free(day1);
	free(day2);
	umask(old_umask);
	mfs_log_close_sinks();
	rm_tree(top);
}

static void test_rotation_keeps_a_taken_name(void **state)
{
	char *dir = make_tmpdir();
	char *older;
	char *newer;

	(void)state;
	touch_in(dir, "musicfs.log.2026-03-01");
	set_clock(DAY1_LATE, 0);
	open_sinks(dir, false, false, false);
	mfs_log(MFS_LOG_INFO, "one");
	set_clock(DAY2_START, 0);
	mfs_log(MFS_LOG_INFO, "two");
	older = slurp_in(dir, "musicfs.log.2026-03-01");
	newer = slurp_in(dir, "musicfs.log.2026-03-01.1");
	assert_string_equal(older, "musicfs.log.2026-03-01");
	assert_non_null(newer);
	assert_non_null(strstr(newer, "scan: one\n"));
	free(older);
	free(newer);
	mfs_log_close_sinks();
	rm_tree(dir);
}

/* A musicfs.log left by yesterday's run is rotated by today's first line. */
static void test_file_of_an_earlier_run(void **state)
{
	char *dir = make_tmpdir();
	struct timespec times[2];
	char path[2 * PATH_MAX];
	char *old;
	char *cur;

	(void)state;
	touch_in(dir, "musicfs.log");
	snprintf(path, sizeof(path), "%s/musicfs.log", dir);
	times[0].tv_sec = DAY1_LATE - 3600;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);

	set_clock(DAY2_START + 7200, 0);
	open_sinks(dir, false, false, false);
	mfs_log(MFS_LOG_INFO, "today");
	old = slurp_in(dir, "musicfs.log.2026-03-01");
	cur = slurp_in(dir, "musicfs.log");
	assert_string_equal(old, "musicfs.log");
	assert_string_equal(cur,
			    "2026-03-02T02:00:00.000Z INFO  scan: today\n");
	free(old);
	free(cur);
	mfs_log_close_sinks();
	rm_tree(dir);
}

static void test_json_to_the_file(void **state)
{
	char *dir = make_tmpdir();
	char *text;
	char *msg;

	(void)state;
	set_clock(DAY1_LATE, 0);
	open_sinks(dir, true, false, false);
	mfs_log(MFS_LOG_DEBUG, "not shown");
	mfs_log(MFS_LOG_INFO, "quote \" and \x7f");
	text = slurp_in(dir, "musicfs.log");
	assert_int_equal(count_lines(text), 1);
	*strchr(text, '\n') = '\0';
	msg = check_json_line(text, "info", "scan");
	assert_string_equal(msg, "quote \" and \x7f");
	free(msg);
	free(text);
	mfs_log_close_sinks();
	rm_tree(dir);
}

static void test_reopen_switches_files(void **state)
{
	char *a = make_tmpdir();
	char *b = make_tmpdir();
	char bad[PATH_MAX];
	char err[512];
	struct mfs_log_sinks s = { 0 };
	struct capture c;
	char *ta;
	char *tb;
	char *out;

	(void)state;
	open_sinks(a, false, false, false);
	mfs_log(MFS_LOG_INFO, "to a");
	open_sinks(b, false, false, false);
	mfs_log(MFS_LOG_INFO, "to b");
	/* a failed reload keeps b */
	snprintf(bad, sizeof(bad), "%s/musicfs.log/sub", b);
	s.dir = bad;
	assert_int_not_equal(mfs_log_open_sinks(&s, err, sizeof(err)), 0);
	mfs_log(MFS_LOG_INFO, "still b");
	ta = slurp_in(a, "musicfs.log");
	tb = slurp_in(b, "musicfs.log");
	assert_non_null(strstr(ta, "scan: to a\n"));
	assert_int_equal(count_lines(ta), 1);
	assert_non_null(strstr(tb, "scan: to b\n"));
	assert_non_null(strstr(tb, "scan: still b\n"));
	assert_int_equal(count_lines(tb), 2);
	free(ta);
	free(tb);

	/* closing goes back to stderr */
	mfs_log_close_sinks();
	capture_start(&c);
	mfs_log(MFS_LOG_INFO, "back on stderr");
	out = capture_end(&c);
	assert_non_null(strstr(out, "scan: back on stderr\n"));
	free(out);
	tb = slurp_in(b, "musicfs.log");
	assert_int_equal(count_lines(tb), 2);
	free(tb);
	rm_tree(a);
	rm_tree(b);
}

static void expect_open_error(const char *dir, int rc, const char *text)
{
	struct mfs_log_sinks s = { .dir = dir };
	char err[512] = "";

	assert_int_equal(mfs_log_open_sinks(&s, err, sizeof(err)), rc);
	if (!strstr(err, text) || !strstr(err, dir))
		fail_msg("'%s' does not name '%s' and say '%s'", err, dir,
			 text);
}

static void test_unwritable_log_dir(void **state)
{
	char *top = make_tmpdir();
	char path[2 * PATH_MAX];
	char sub[PATH_MAX];

	(void)state;
	touch_in(top, "afile");
	snprintf(path, sizeof(path), "%s/afile/logs", top);
	expect_open_error(path, -ENOTDIR, "cannot create log_dir");
	expect_open_error(path, -ENOTDIR, "Not a directory");
	snprintf(path, sizeof(path), "%s/afile", top);
	expect_open_error(path, -ENOTDIR, "is not a folder");
	snprintf(path, sizeof(path), "%s/d", top);
	snprintf(sub, sizeof(sub), "%s/d/musicfs.log", top);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	expect_open_error(path, -EISDIR, "cannot open log file");
	expect_open_error(path, -EISDIR, "musicfs.log': Is a directory");
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", top);
		assert_int_equal(mkdir(path, 0500), 0);
		expect_open_error(path, -EACCES, "Permission denied");
		snprintf(path, sizeof(path), "%s/ro/logs", top);
		expect_open_error(path, -EACCES, "cannot create log_dir");
	}
	rm_tree(top);
}

/* 8 threads log across a rotation: every line once, whole, in order. */
#define THREADS 8
#define LINES_PER_THREAD 2000

static void *log_lines(void *arg)
{
	int t = (int)(intptr_t)arg;
	int i;

	for (i = 0; i < LINES_PER_THREAD; i++)
		mfs_log(MFS_LOG_INFO, "thread %d line %d %s", t, i,
			"padding padding padding padding padding padding");
	return NULL;
}

/* Check one file's lines; next[t] is the line expected next from t. */
static void check_concurrent_lines(char *text, int *next, bool day1)
{
	char *save = NULL;
	char *line;
	int t;
	int i;
	int used;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		used = 0;
		if (sscanf(line + 25, "INFO  scan: thread %d line %d padding "
				      "padding padding padding padding "
				      "padding%n", &t, &i, &used) != 2 ||
		    line[25 + used] != '\0')
			fail_msg("mixed line: %s", line);
		assert_true(t >= 0 && t < THREADS);
		assert_int_equal(i, next[t]);
		next[t]++;
		if (day1)
			assert_memory_equal(line, "2026-03-01T", 11);
	}
}

static void test_threads_across_rotation(void **state)
{
	pthread_t th[THREADS];
	int next[THREADS] = { 0 };
	char *dir = make_tmpdir();
	char *day1;
	char *day2;
	int t;

	(void)state;
	/* 16000 lines, 10 ms apart: midnight is crossed after 200 lines */
	set_clock(DAY1_LATE, 0);
	atomic_store(&fake_step_ms, 10);
	open_sinks(dir, false, false, false);
	for (t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, log_lines,
						(void *)(intptr_t)t), 0);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	mfs_log_close_sinks();

	day1 = slurp_in(dir, "musicfs.log.2026-03-01");
	day2 = slurp_in(dir, "musicfs.log");
	assert_non_null(day1);
	assert_non_null(day2);
	assert_true(count_lines(day1) > 0);
	assert_int_equal(count_lines(day1) + count_lines(day2),
			 THREADS * LINES_PER_THREAD);
	check_concurrent_lines(day1, next, true);
	check_concurrent_lines(day2, next, false);
	for (t = 0; t < THREADS; t++)
		assert_int_equal(next[t], LINES_PER_THREAD);
	free(day1);
	free(day2);
	rm_tree(dir);
}

/* ---- redaction ---------------------------------------------------------- */

static void expect_redacted(const char *in, const char *want)
{
	char out[512];

	mfs_log_redact(out, sizeof(out), in, strlen(in), NULL, 0);
	assert_string_equal(out, want);
}

static void test_url_passwords(void **state)
{
	(void)state;
	expect_redacted("cannot open s3://AKIAXX:wJalr/K7MDENG@bucket/x",
			"cannot open s3://AKIAXX:***@bucket/x");
	expect_redacted("'https://user:p@ss@host:8443/a?b'",
			"'https://user:***@host:8443/a?b'");
	expect_redacted("sftp://u:x@h and smb://v:yy@k/s",
			"sftp://u:***@h and smb://v:***@k/s");
	expect_redacted("http://host:8080/a@b", "http://host:8080/a@b");
	expect_redacted("sftp://user@host/x", "sftp://user@host/x");
	expect_redacted("ftp://u:@h", "ftp://u:@h");
	expect_redacted("nothing://", "nothing://");
	expect_redacted("://:pw@", "://:***@");
	expect_redacted("a://b:c", "a://b:c");
	/* raw '/' or '#' in a password (malformed, but people write it) */
	expect_redacted("s3://K:ab/cd#ef@bucket/path ok",
			"s3://K:***@bucket/path ok");
	expect_redacted("http://[::1]:8080/x", "http://[::1]:8080/x");
	expect_redacted("http://host:/x@y", "http://host:/x@y");
	expect_redacted("\"https://u:pw@h\"", "\"https://u:***@h\"");
}

static void test_secrets_redacted(void **state)
{
	char s1[] = "abcdef12";
	char s2[] = "ef12ghij";
	char s3[] = "aaaa";
	struct mfs_log_secret s[3] = { { s1, 8 }, { s2, 8 }, { s3, 4 } };
	char out[128];
	char *big;
	char *cut;
	size_t n;

	(void)state;
	n = mfs_log_redact(out, sizeof(out), "x abcdef12 y abcdef12abcdef12 z",
			   31, s, 1);
	assert_string_equal(out, "x *** y *** z");
	assert_int_equal(n, strlen(out));
	/* overlapping secrets: no byte of either is left */
	mfs_log_redact(out, sizeof(out), "<abcdef12ghij>", 14, s, 2);
	assert_string_equal(out, "<***>");
	mfs_log_redact(out, sizeof(out), "<ef12ghij abcdef12>", 19, s, 2);
	assert_string_equal(out, "<*** ***>");
	/* a secret overlapping itself */
	mfs_log_redact(out, sizeof(out), "baaaaab", 7, s + 2, 1);
	assert_string_equal(out, "b***b");
	/* cut output never ends in part of a secret */
	mfs_log_redact(out, 6, "ab abcdef12", 11, s, 1);
	assert_string_equal(out, "ab ");

	/* a secret across the MFS_LOG_MSG_MAX cut, in a 10 KB message */
	big = malloc(10001);
	memset(big, 'x', 10000);
	memcpy(big + MFS_LOG_MSG_MAX - 4, "abcdef12", 8);
	memcpy(big + 9000, "abcdef12", 8);
	big[10000] = '\0';
	cut = malloc(MFS_LOG_MSG_MAX + 1);
	n = mfs_log_redact(cut, MFS_LOG_MSG_MAX + 1, big, 10000, s, 1);
	assert_int_equal(n, MFS_LOG_MSG_MAX);
	assert_null(strstr(cut, "abcd"));
	assert_memory_equal(cut + MFS_LOG_MSG_MAX - 4, "***x", 4);
	free(cut);
	free(big);
}

static void test_secrets_in_every_sink(void **state)
{
	char *dir = make_tmpdir();
	char sock[PATH_MAX];
	struct capture c;
	char *out;
	char *file;
	int fd;
	int i;

	(void)state;
	fd = fake_journal_socket(dir, sock, sizeof(sock));
	mfs_log_journal_socket = sock;
	mfs_log_test_journal = fake_journal;
	mfs_log_add_secret("hunter2hunter2");
	mfs_log_add_secret("abcdef12");
	mfs_log_add_secret("ef12ghij");
	mfs_log_add_secret("abc");		/* too short: ignored */
	mfs_log_add_secret(NULL);
	mfs_log_add_secret("hunter2hunter2");	/* twice is once */
	set_clock(DAY1_LATE, 0);
	open_sinks(dir, false, true, true);
	mfs_log_hook_libfuse();
	capture_start(&c);
	mfs_log(MFS_LOG_WARN, "pw=%s again %s, token abcdef12ghij, abc, "
		"url https://bob:%s@nas/x", "hunter2hunter2", "hunter2hunter2",
		"s3cr3t");
	fuse_log(FUSE_LOG_ERR, "libfuse saw hunter2hunter2\n");
	out = capture_end(&c);
	file = slurp_in(dir, "musicfs.log");

	assert_int_equal(count_lines(out), 2);
	assert_string_equal(file, out);
	assert_non_null(strstr(out, "WARN  scan: pw=*** again ***, token ***, "
				    "abc, url https://bob:***@nas/x\n"));
	assert_non_null(strstr(out, "ERROR libfuse: libfuse saw ***\n"));
	assert_int_equal(atomic_load(&journal_count), 2);
	assert_string_equal(journal_seen[0],
		"MESSAGE=pw=*** again ***, token ***, abc, url "
		"https://bob:***@nas/x|PRIORITY=4|SYSLOG_IDENTIFIER=musicfs|"
		"MUSICFS_MODULE=scan|");
	assert_string_equal(journal_seen[1],
		"MESSAGE=libfuse saw ***|PRIORITY=3|"
		"SYSLOG_IDENTIFIER=musicfs|MUSICFS_MODULE=libfuse|");
	for (i = 0; i < 2; i++)
		assert_null(strstr(journal_seen[i], "hunter2"));
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "s3cr3t"));
	free(out);
	free(file);

	/* JSON too; and cleared secrets are written again */
	open_sinks(NULL, true, false, true);
	capture_start(&c);
	mfs_log(MFS_LOG_INFO, "json hunter2hunter2");
	mfs_log_clear_secrets();
	mfs_log(MFS_LOG_INFO, "cleared hunter2hunter2");
	out = capture_end(&c);
	assert_non_null(strstr(out, "\"msg\":\"json ***\""));
	assert_non_null(strstr(out, "\"msg\":\"cleared hunter2hunter2\""));
	free(out);
	close(fd);
	rm_tree(dir);
}

/* Secrets registered while other threads log (a reload). */
static void *log_while_reloading(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 3000; i++)
		mfs_log(MFS_LOG_INFO, "secret-one-%d secret-two", i);
	return NULL;
}

static void test_secrets_swapped_while_logging(void **state)
{
	char *dir = make_tmpdir();
	pthread_t th[4];
	char *text;
	int t;
	int i;

	(void)state;
	mfs_log_add_secret("secret-one");
	mfs_log_add_secret("secret-two");
	open_sinks(dir, false, false, false);
	for (t = 0; t < 4; t++)
		pthread_create(&th[t], NULL, log_while_reloading, NULL);
	for (i = 0; i < 200; i++) {
		mfs_log_clear_secrets();	/* never seen empty by a line */
		mfs_log_add_secret("secret-one");
		mfs_log_add_secret("secret-two");
		if (i % 50 == 0)
			open_sinks(dir, false, false, false);
	}
	for (t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	mfs_log_close_sinks();
	text = slurp_in(dir, "musicfs.log");
	assert_int_equal(count_lines(text), 4 * 3000);
	free(text);
	rm_tree(dir);
}

/* ---- the journal -------------------------------------------------------- */

static void test_journal_fields(void **state)
{
	struct mfs_log_journal_entry e;
	struct mfs_log_line line = {
		.level = MFS_LOG_TRACE, .module = "scan",
		.msg = "two\nlines", .msg_len = 9,
	};
	size_t n;

	(void)state;
	n = mfs_log_journal_fields(&e, &line);
	assert_int_equal(n, 4);
	assert_int_equal(e.iov[0].iov_len, 17);
	assert_memory_equal(e.iov[0].iov_base, "MESSAGE=two\nlines", 17);
	assert_int_equal(e.iov[1].iov_len, 10);
	assert_memory_equal(e.iov[1].iov_base, "PRIORITY=7", 10);
	assert_int_equal(e.iov[2].iov_len, 25);
	assert_memory_equal(e.iov[2].iov_base, "SYSLOG_IDENTIFIER=musicfs", 25);
	assert_int_equal(e.iov[3].iov_len, 19);
	assert_memory_equal(e.iov[3].iov_base, "MUSICFS_MODULE=scan", 19);

	line.level = MFS_LOG_ERROR;
	mfs_log_journal_fields(&e, &line);
	assert_memory_equal(e.iov[1].iov_base, "PRIORITY=3", 10);
	line.level = MFS_LOG_DEBUG;
	mfs_log_journal_fields(&e, &line);
	assert_memory_equal(e.iov[1].iov_base, "PRIORITY=7", 10);
	line.level = MFS_LOG_INFO;
	mfs_log_journal_fields(&e, &line);
	assert_memory_equal(e.iov[1].iov_base, "PRIORITY=6", 10);
}

static void test_journal_sink(void **state)
{
	char *dir = make_tmpdir();
	char sock[PATH_MAX];
	char env[64];
	struct capture c;
	struct stat st;
	char *out;
	int fd;

	(void)state;
	mfs_log_test_journal = fake_journal;

	/* no journal socket: silently left out, stderr carries on */
	snprintf(sock, sizeof(sock), "%s/missing.sock", dir);
	mfs_log_journal_socket = sock;
	capture_start(&c);
	open_sinks(NULL, false, true, false);	/* would be nowhere: stderr */
	mfs_log(MFS_LOG_INFO, "no journal");
	out = capture_end(&c);
	assert_non_null(strstr(out, "scan: no journal\n"));
	assert_int_equal(atomic_load(&journal_count), 0);
	free(out);

	/* a journal, and stderr is not a journal stream: both */
	fd = fake_journal_socket(dir, sock, sizeof(sock));
	capture_start(&c);
	open_sinks(NULL, false, true, true);
	mfs_log(MFS_LOG_INFO, "both");
	out = capture_end(&c);
	assert_non_null(strstr(out, "scan: both\n"));
	assert_int_equal(atomic_load(&journal_count), 1);
	free(out);

	/* stderr is the journal (JOURNAL_STREAM names it): written once */
	capture_start(&c);
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	assert_true(mfs_log_stderr_is_journal());
	open_sinks(NULL, false, true, true);
	mfs_log(MFS_LOG_INFO, "once");
	out = capture_end(&c);
	assert_string_equal(out, "");
	assert_int_equal(atomic_load(&journal_count), 2);
	assert_non_null(strstr(journal_seen[1], "MESSAGE=once|"));
	free(out);

	/* a JOURNAL_STREAM naming another file does not count */
	setenv("JOURNAL_STREAM", "1:2", 1);
	assert_false(mfs_log_stderr_is_journal());
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_false(mfs_log_stderr_is_journal());
	close(fd);
	rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_module_starts_at_info),
		cmocka_unit_test(test_filter_levels),
		cmocka_unit_test(test_arguments_not_evaluated_when_off),
		cmocka_unit_test(test_bad_filters),
		cmocka_unit_test_teardown(test_stderr_text_unchanged,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_long_message_cut,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_json_lines, teardown_sinks),
		cmocka_unit_test(test_json_escape_never_splits),
		cmocka_unit_test_teardown(test_json_long_control_message,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_rotation_across_midnight,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_rotation_keeps_a_taken_name,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_file_of_an_earlier_run,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_json_to_the_file,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_reopen_switches_files,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_unwritable_log_dir,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_threads_across_rotation,
					  teardown_sinks),
		cmocka_unit_test(test_url_passwords),
		cmocka_unit_test(test_secrets_redacted),
		cmocka_unit_test_teardown(test_secrets_in_every_sink,
					  teardown_sinks),
		cmocka_unit_test_teardown(test_secrets_swapped_while_logging,
					  teardown_sinks),
		cmocka_unit_test(test_journal_fields),
		cmocka_unit_test_teardown(test_journal_sink, teardown_sinks),
	};

	/* a "local day" is a UTC day here, whatever the machine's zone */
	setenv("TZ", "UTC0", 1);
	tzset();
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
