/*
 * test_metrics.c - FUSE statistics (buckets, quantiles of known
 * distributions, windows, exact counts from many threads), the text
 * format (values, escaping, collectors), the rendered page read back by
 * Debian's python3-prometheus-client, and the HTTP server spoken to with
 * a plain socket.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* MFS_TESTABLE in the module */
unsigned metrics_bucket_of(uint64_t ns);
void metrics_fuse_record_at(enum metrics_fuse_op op, uint64_t elapsed_ns,
			    uint64_t now_ns);
int metrics_fuse_quantile_at(enum metrics_fuse_op op, double q,
			     uint64_t now_ns, double *seconds_out);
void metrics_fuse_reset(void);
uint64_t metrics_fuse_window_samples(enum metrics_fuse_op op,
				     uint64_t now_ns);
void metrics_format_value(double v, char *s, size_t n);

#define US 1000ull
#define MS 1000000ull
/* A coarse time inside window number e. */
#define WINDOW(e) (((uint64_t)(e) << 36) + 12345)

/* The documented bound: within 1/16 of the sample of that rank. */
static void assert_near(double got_s, double want_ns)
{
	double want = want_ns / 1e9;

	if (fabs(got_s - want) > want / 16 + 1e-12)
		fail_msg("quantile %.9g s, want %.9g s +- 1/16", got_s, want);
}

static double quantile(enum metrics_fuse_op op, double q, uint64_t now)
{
	double s = -1;

	assert_int_equal(metrics_fuse_quantile_at(op, q, now, &s), 0);
	return s;
}

static int quantile_rc(enum metrics_fuse_op op, double q, uint64_t now)
{
	double s;

	return metrics_fuse_quantile_at(op, q, now, &s);
}

static void test_buckets(void **state)
{
	uint64_t v;
	unsigned prev = 0, b;

	(void)state;
	assert_int_equal(metrics_bucket_of(0), 0);
	assert_int_equal(metrics_bucket_of(1023), 0);
	assert_int_equal(metrics_bucket_of(1024), 1);
	assert_int_equal(metrics_bucket_of(1151), 1);
	assert_int_equal(metrics_bucket_of(1152), 2);
	assert_int_equal(metrics_bucket_of(2047), 8);
	assert_int_equal(metrics_bucket_of(2048), 9);
	assert_int_equal(metrics_bucket_of(((uint64_t)1 << 36) - 1), 208);
	assert_int_equal(metrics_bucket_of((uint64_t)1 << 36), 209);
	assert_int_equal(metrics_bucket_of(UINT64_MAX), 209);
	/* monotonic, one step at a time */
	for (v = 1; v < ((uint64_t)1 << 37); v += v / 64 + 1) {
		b = metrics_bucket_of(v);
		assert_true(b == prev || b == prev + 1);
		prev = b;
	}
	assert_int_equal(prev, 209);
}

static void test_quantiles_known(void **state)
{
	uint64_t now = WINDOW(100), i;

	(void)state;
	metrics_fuse_reset();
	assert_int_equal(quantile_rc(METRICS_OP_READ, 0.5, now), -ENODATA);
	assert_int_equal(quantile_rc(METRICS_OP_READ, 1.5, now), -EINVAL);
	assert_int_equal(quantile_rc(METRICS_OP_READ, -0.1, now), -EINVAL);
	assert_int_equal(quantile_rc(METRICS_OP_READ, NAN, now), -EINVAL);
	assert_int_equal(quantile_rc(METRICS_OP_COUNT, 0.5, now), -EINVAL);

	/* uniform: 1, 2, ... 10000 us */
	for (i = 1; i <= 10000; i++)
		metrics_fuse_record_at(METRICS_OP_READ, i * US, now);
	assert_near(quantile(METRICS_OP_READ, 0.5, now), 5000 * US);
	assert_near(quantile(METRICS_OP_READ, 0.9, now), 9000 * US);
	assert_near(quantile(METRICS_OP_READ, 0.99, now), 9900 * US);
	/* 1 us is below the first bucket: reported as 0.512 us */
	assert_true(fabs(quantile(METRICS_OP_READ, 0, now) - 512e-9) <
		    1e-12);
	assert_near(quantile(METRICS_OP_READ, 1, now), 10000 * US);

	/* one value: every quantile is it */
	for (i = 0; i < 1000; i++)
		metrics_fuse_record_at(METRICS_OP_LOOKUP, 3 * MS, now);
	assert_near(quantile(METRICS_OP_LOOKUP, 0.5, now), 3 * MS);
	assert_near(quantile(METRICS_OP_LOOKUP, 0.99, now), 3 * MS);

	/* bimodal: 95 % at 100 us, 5 % at 50 ms */
	for (i = 0; i < 2000; i++)
		metrics_fuse_record_at(METRICS_OP_GETATTR,
				       i % 20 ? 100 * US : 50 * MS, now);
	assert_near(quantile(METRICS_OP_GETATTR, 0.5, now), 100 * US);
	assert_near(quantile(METRICS_OP_GETATTR, 0.9, now), 100 * US);
	assert_near(quantile(METRICS_OP_GETATTR, 0.99, now), 50 * MS);

	/* geometric: 2^k ns for k = 10..30, 100 samples each */
	for (i = 0; i < 2100; i++)
		metrics_fuse_record_at(METRICS_OP_OPEN,
				       (uint64_t)1 << (10 + i / 100), now);
	assert_near(quantile(METRICS_OP_OPEN, 0.5, now), (double)(1u << 20));
	assert_near(quantile(METRICS_OP_OPEN, 0.99, now), (double)(1u << 30));

	/* the ends: below 1.024 us and from 68.7 s */
	metrics_fuse_record_at(METRICS_OP_STATFS, 300, now);
	assert_true(fabs(quantile(METRICS_OP_STATFS, 0.5, now) - 512e-9) <
		    1e-12);
	metrics_fuse_record_at(METRICS_OP_READLINK, 1000 * 1000 * MS, now);
	assert_true(fabs(quantile(METRICS_OP_READLINK, 0.5, now) -
			 (double)((uint64_t)1 << 36) / 1e9) < 1e-9);
	assert_int_equal(metrics_fuse_count(METRICS_OP_READ), 10000);
}

static void test_windows(void **state)
{
	uint64_t e = 1000;
	double s;
	int i;

	(void)state;
	metrics_fuse_reset();
	for (i = 0; i < 10; i++)
		metrics_fuse_record_at(METRICS_OP_READ, 1 * MS, WINDOW(e));
	/* seen in its window and the next, gone in the one after */
	assert_near(quantile(METRICS_OP_READ, 0.5, WINDOW(e)), 1 * MS);
	assert_near(quantile(METRICS_OP_READ, 0.5, WINDOW(e + 1)), 1 * MS);
	assert_int_equal(metrics_fuse_quantile_at(METRICS_OP_READ, 0.5,
						  WINDOW(e + 2), &s),
			 -ENODATA);
	/* the next window merges with the previous one */
	for (i = 0; i < 30; i++)
		metrics_fuse_record_at(METRICS_OP_READ, 7 * MS, WINDOW(e + 1));
	assert_int_equal(metrics_fuse_window_samples(METRICS_OP_READ,
						     WINDOW(e + 1)),
			 40);
	assert_near(quantile(METRICS_OP_READ, 0.1, WINDOW(e + 1)), 1 * MS);
	assert_near(quantile(METRICS_OP_READ, 0.5, WINDOW(e + 1)), 7 * MS);
	/* window e + 2 reuses e's histogram: the old samples are cleared */
	metrics_fuse_record_at(METRICS_OP_READ, 20 * MS, WINDOW(e + 2));
	assert_int_equal(metrics_fuse_window_samples(METRICS_OP_READ,
						     WINDOW(e + 2)),
			 31);
	assert_near(quantile(METRICS_OP_READ, 0, WINDOW(e + 2)), 7 * MS);
	/* a recorder a whole window late is counted, not binned */
	metrics_fuse_record_at(METRICS_OP_READ, 1 * MS, WINDOW(e));
	assert_int_equal(metrics_fuse_window_samples(METRICS_OP_READ,
						     WINDOW(e + 2)),
			 31);
	assert_int_equal(metrics_fuse_count(METRICS_OP_READ), 42);
	/* a long silence: nothing recent */
	assert_int_equal(metrics_fuse_window_samples(METRICS_OP_READ,
						     WINDOW(e + 9)),
			 0);
	metrics_fuse_reset();
}

/* ---- many threads ------------------------------------------------------- */

#define RECORDERS 4
#define RECORDS 200000

static void *recorder_main(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t i;

	for (i = 0; i < RECORDS; i++)
		metrics_fuse_record((enum metrics_fuse_op)(i %
							   METRICS_OP_COUNT),
				    (id + 1) * 1000 + i % 7);
	return NULL;
}

static void test_concurrent_counts(void **state)
{
	pthread_t t[RECORDERS];
	uint64_t want_count, total = 0, windowed = 0;
	struct timespec ts;
	uintptr_t i;
	unsigned op;

	(void)state;
	metrics_fuse_reset();
	for (i = 0; i < RECORDERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, recorder_main,
						(void *)i), 0);
	for (i = 0; i < RECORDERS; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	for (op = 0; op < METRICS_OP_COUNT; op++) {
		want_count = RECORDERS * (RECORDS / METRICS_OP_COUNT +
					  (op < RECORDS % METRICS_OP_COUNT));
		assert_int_equal(metrics_fuse_count(op), want_count);
		total += metrics_fuse_count(op);
		windowed += metrics_fuse_window_samples(
			op, (uint64_t)ts.tv_sec * 1000000000u +
				    (uint64_t)ts.tv_nsec);
	}
	assert_int_equal(total, RECORDERS * RECORDS);
	assert_int_equal(windowed, RECORDERS * RECORDS);
}

/* Not a test: ns per metrics_fuse_record() call, for the record. */
static double record_cost(unsigned threads)
{
	pthread_t t[RECORDERS];
	struct timespec a, b;
	uintptr_t i;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < threads; i++)
		assert_int_equal(pthread_create(&t[i], NULL, recorder_main,
						(void *)i), 0);
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 +
		(double)(b.tv_nsec - a.tv_nsec)) / RECORDS;
}

static void test_record_cost(void **state)
{
	(void)state;
	record_cost(1);
	printf("metrics_fuse_record: %.1f ns/call on 1 thread, "
	       "%.1f ns/call per thread on 2 threads at once\n",
	       record_cost(1), record_cost(2));
	metrics_fuse_reset();
}

/* ---- text format -------------------------------------------------------- */

static void test_format_value(void **state)
{
	static const double values[] = { 0.1, 1.0 / 3, 1e-9, 123.456,
					 1e300, 2.5e15, 123456789012345678.0,
					 -7.25, 4.9e-324 };
	char s[40];
	size_t i;

	(void)state;
	metrics_format_value(0, s, sizeof(s));
	assert_string_equal(s, "0");
	metrics_format_value(-0.0, s, sizeof(s));
	assert_string_equal(s, "0");
	metrics_format_value(42, s, sizeof(s));
	assert_string_equal(s, "42");
	metrics_format_value(-3, s, sizeof(s));
	assert_string_equal(s, "-3");
	metrics_format_value(0.004, s, sizeof(s));
	assert_string_equal(s, "0.004");
	metrics_format_value(NAN, s, sizeof(s));
	assert_string_equal(s, "NaN");
	metrics_format_value(INFINITY, s, sizeof(s));
	assert_string_equal(s, "+Inf");
	metrics_format_value(-INFINITY, s, sizeof(s));
	assert_string_equal(s, "-Inf");
	metrics_format_value(5368709120.0, s, sizeof(s));
	assert_string_equal(s, "5368709120");
	for (i = 0; i < MFS_ARRAY_SIZE(values); i++) {
		metrics_format_value(values[i], s, sizeof(s));
		assert_true(strtod(s, NULL) == values[i]);
	}
}

static void test_label_escape(void **state)
{
	char *s;

	(void)state;
	s = metrics_label_escape("plain");
	assert_string_equal(s, "plain");
	free(s);
	s = metrics_label_escape("a\\b\"c\nd");
	assert_string_equal(s, "a\\\\b\\\"c\\nd");
	free(s);
	s = metrics_label_escape("");
	assert_string_equal(s, "");
	free(s);
}

#define WEIRD_ORIGIN "we\"ird\\na\nme"

static int collector_calls;

static void test_collector(struct metrics_out *out, void *arg)
{
	char *esc = metrics_label_escape("local");
	char labels[64];

	collector_calls++;
	assert_ptr_equal(arg, &collector_calls);
	metrics_family(out, "test_origin_health", "gauge",
		       "1 if the origin answers.\nSecond \\ line.");
	snprintf(labels, sizeof(labels), "origin=\"%s\"", esc);
	metrics_sample(out, "test_origin_health", labels, 1);
	metrics_sample_label(out, "test_origin_health", "origin",
			     WEIRD_ORIGIN, 0);
	metrics_family(out, "test_files_scanned_total", "counter", NULL);
	metrics_sample(out, "test_files_scanned_total", NULL, 1234);
	/* bad names are skipped, the rest of the page stays */
	metrics_family(out, "bad-name", "gauge", "x");
	metrics_sample(out, "9lives", NULL, 1);
	metrics_family(out, "test_bad_type", "gaug", "x");
	free(esc);
}

/* Fill the FUSE figures the render and parse tests look for. */
static void record_three_reads(void)
{
	metrics_fuse_reset();
	metrics_fuse_record(METRICS_OP_READ, 2 * MS);
	metrics_fuse_record(METRICS_OP_READ, 2 * MS);
	metrics_fuse_record(METRICS_OP_READ, 2 * MS);
}

static void assert_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_render(void **state)
{
	char *text;
	size_t len;

	(void)state;
	record_three_reads();
	assert_int_equal(metrics_add_collector(test_collector,
					       &collector_calls), 0);
	text = metrics_render(&len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_int_equal(collector_calls, 1);
	assert_line(text, "# TYPE musicfs_fuse_ops_total counter");
	assert_line(text, "musicfs_fuse_ops_total{op=\"read\"} 3");
	assert_line(text, "musicfs_fuse_ops_total{op=\"readdirplus\"} 0");
	assert_line(text, "# TYPE musicfs_fuse_latency_seconds summary");
	assert_line(text, "musicfs_fuse_latency_seconds"
			  "{op=\"read\",quantile=\"0.99\"} 0.002031616");
	assert_line(text, "musicfs_fuse_latency_seconds"
			  "{op=\"lookup\",quantile=\"0.5\"} NaN");
	assert_line(text,
		    "musicfs_fuse_latency_seconds_sum{op=\"read\"} 0.006");
	assert_line(text, "musicfs_fuse_latency_seconds_count{op=\"read\"} 3");
	assert_line(text, "# HELP test_origin_health 1 if the origin answers."
			  "\\nSecond \\\\ line.");
	assert_line(text, "# TYPE test_origin_health gauge");
	assert_line(text, "test_origin_health{origin=\"local\"} 1");
	assert_line(text,
		    "test_origin_health{origin=\"we\\\"ird\\\\na\\nme\"} 0");
	assert_line(text, "# TYPE test_files_scanned_total counter");
	assert_line(text, "test_files_scanned_total 1234");
	assert_null(strstr(text, "bad-name"));
	assert_null(strstr(text, "9lives"));
	assert_null(strstr(text, "test_bad_type"));
	assert_null(strstr(text, "# HELP test_files_scanned_total"));
	free(text);

	metrics_remove_collectors();
	text = metrics_render(NULL);
	assert_non_null(text);
	assert_null(strstr(text, "test_origin_health"));
	assert_int_equal(collector_calls, 1);
	free(text);
}

/* ---- python3-prometheus-client reads the page --------------------------- */

static const char parse_script[] =
	"import math, sys\n"
	"try:\n"
	"    from prometheus_client.parser import "
	"text_string_to_metric_families\n"
	"except ImportError:\n"
	"    sys.exit(77)\n"
	"fams = {f.name: f for f in "
	"text_string_to_metric_families(sys.stdin.read())}\n"
	"ops = fams['musicfs_fuse_ops']\n"
	"assert ops.type == 'counter', ops.type\n"
	"n = {s.labels['op']: s.value for s in ops.samples}\n"
	"assert len(n) == 12 and n['read'] == 3 and n['lookup'] == 0, n\n"
	"lat = fams['musicfs_fuse_latency_seconds']\n"
	"assert lat.type == 'summary', lat.type\n"
	"q = {(s.labels['op'], s.labels['quantile']): s.value\n"
	"     for s in lat.samples if s.name == lat.name}\n"
	"assert len(q) == 36, q\n"
	"assert abs(q[('read', '0.5')] - 0.002) < 0.002 / 16, q\n"
	"assert math.isnan(q[('lookup', '0.99')]), q\n"
	"c = {s.labels['op']: s.value for s in lat.samples\n"
	"     if s.name.endswith('_count')}\n"
	"assert c['read'] == 3, c\n"
	"s = {s.labels['op']: s.value for s in lat.samples\n"
	"     if s.name.endswith('_sum')}\n"
	"assert abs(s['read'] - 0.006) < 1e-12, s\n"
	"h = fams['test_origin_health']\n"
	"assert h.type == 'gauge', h.type\n"
	"assert h.documentation == '1 if the origin answers.\\nSecond \\\\ "
	"line.', h.documentation\n"
	"v = {s.labels['origin']: s.value for s in h.samples}\n"
	"assert v == {'local': 1, 'we\"ird\\\\na\\nme': 0}, v\n"
	"f = fams['test_files_scanned']\n"
	"assert f.type == 'counter' and f.samples[0].value == 1234, f\n"
	"print('prometheus_client read', len(fams), 'families')\n";

/* Run python3 -c script with text on its stdin; its exit status. */
static int run_python(const char *text, size_t len)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "python3", "-c", parse_script,
		      (char *)NULL);
		_exit(77);
	}
	close(fds[0]);
	while (len) {
		n = write(fds[1], text, len);
		if (n <= 0)
			break;
		text += n;
		len -= (size_t)n;
	}
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_prometheus_client_parses(void **state)
{
	char *text;
	size_t len;
	int rc;

	(void)state;
	record_three_reads();
	assert_int_equal(metrics_add_collector(test_collector,
					       &collector_calls), 0);
	text = metrics_render(&len);
	metrics_remove_collectors();
	assert_non_null(text);
	fflush(stdout);
	rc = run_python(text, len);
	free(text);
	if (rc == 77)
		skip();
	assert_int_equal(rc, 0);
}

/* ---- HTTP --------------------------------------------------------------- */

/* A socket connected to the loopback address of family af, port. */
static int connect_loopback(int af, int port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	int fd = socket(af, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a4.sin_port = htons((uint16_t)port);
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_port = htons((uint16_t)port);
	a6.sin6_addr = in6addr_loopback;
	if (af == AF_INET)
		assert_int_equal(connect(fd, (struct sockaddr *)&a4,
					 sizeof(a4)), 0);
	else
		assert_int_equal(connect(fd, (struct sockaddr *)&a6,
					 sizeof(a6)), 0);
	return fd;
}

/* Send a request to the loopback address, return all that comes back. */
static char *http_af(int af, int port, const char *request)
{
	struct buf b = BUF_INIT_MAX(16 << 20);
	struct pollfd pfd;
	char chunk[4096];
	ssize_t n;
	int fd = connect_loopback(af, port);

	assert_int_equal(write(fd, request, strlen(request)),
			 (ssize_t)strlen(request));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		assert_int_equal(buf_add(&b, chunk, (size_t)n), 0);
	}
	close(fd);
	return buf_detach(&b, NULL);
}

static char *http(int port, const char *request)
{
	return http_af(AF_INET, port, request);
}

/* The body of a response (after the blank line). */
static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

/* Threads of this process, from /proc/self/task. */
static unsigned count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_http(void **state)
{
	struct metrics_http *h = NULL, *h2 = NULL;
	unsigned threads = count_threads();
	char *r;
	int port, i;

	(void)state;
	record_three_reads();
	assert_int_equal(metrics_http_start("127.0.0.1", 0, &h), 0);
	port = metrics_http_port(h);
	assert_true(port > 0 && port < 65536);
	/* one polling thread, however many connections come */
	for (i = 0; i < 5; i++)
		free(http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
				"Connection: close\r\n\r\n"));
	assert_int_equal(count_threads(), threads + 1);

	r = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
		       "Connection: close\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	assert_non_null(strstr(r, "\r\nContent-Type: text/plain; "
				  "version=0.0.4; charset=utf-8\r\n"));
	assert_line(body_of(r), "musicfs_fuse_ops_total{op=\"read\"} 3");
	free(r);

	r = http(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.0 200 OK\r\n", 17) ||
		    !strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	free(r);

	r = http(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n"
		       "Connection: close\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	assert_string_equal(body_of(r), "");
	free(r);

	r = http(port, "GET /other HTTP/1.1\r\nHost: x\r\n"
		       "Connection: close\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 404 ", 13));
	free(r);

	r = http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\n"
		       "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
	assert_true(!strncmp(r, "HTTP/1.1 405 ", 13));
	assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
	free(r);

	/* the port is taken now; bad addresses are refused */
	assert_int_equal(metrics_http_start("127.0.0.1", port, &h2),
			 -EADDRINUSE);
	assert_int_equal(metrics_http_start("localhost", 0, &h2), -EINVAL);
	assert_int_equal(metrics_http_start("127.0.0.1", 70000, &h2),
			 -EINVAL);
	assert_null(h2);
	metrics_http_stop(h);
	metrics_http_stop(NULL);

	/* stopped: the port is free again */
	assert_int_equal(metrics_http_start("127.0.0.1", port, &h), 0);
	metrics_http_stop(h);
}

static void test_http_ipv6(void **state)
{
	struct metrics_http *h = NULL;
	char *r;
	int rc;

	(void)state;
	rc = metrics_http_start("::1", 0, &h);
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)
		skip();
	assert_int_equal(rc, 0);
	r = http_af(AF_INET6, metrics_http_port(h),
		    "GET /metrics HTTP/1.1\r\nHost: x\r\n"
		    "Connection: close\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	assert_non_null(strstr(body_of(r), "musicfs_fuse_ops_total"));
	free(r);
	metrics_http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_quantiles_known),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_concurrent_counts),
		cmocka_unit_test(test_record_cost),
		cmocka_unit_test(test_format_value),
		cmocka_unit_test(test_label_escape),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_prometheus_client_parses),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_ipv6),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
