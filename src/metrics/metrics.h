/*
 * metrics.h - Prometheus metrics: FUSE operation counters and latencies,
 * collectors for everything else, the text exposition format 0.0.4, and
 * the GET /metrics page.
 *
 * Owns: the FUSE operation statistics (static, lock-free), the list of
 * collectors (behind one mutex) and the HTTP server, if started.
 *
 * FUSE statistics.  metrics_fuse_record() runs on every libfuse worker for
 * every operation: it takes no lock and does three relaxed atomic adds
 * (count, sum, a histogram bucket) in a slice of the statistics chosen by
 * the CPU it runs on, so threads on different CPUs do not fight over cache
 * lines, and each operation has its own lines.  Counts and sums are exact
 * and cumulative since start.  Quantiles come from log-linear histograms:
 * 8 buckets per power of two from 1.024 us to 2^36 ns (68.7 s).  A
 * quantile is reported as the middle of the bucket holding the sample of
 * that rank, so it is within 1/16 (6.25 %) of that sample; below 1.024 us
 * it is reported as 0.512 us, and from 68.7 s up as 68.7 s.  Quantiles
 * cover a recent window: the histograms come in two halves that take
 * turns, each covering 2^36 ns (68.7 s) of CLOCK_MONOTONIC_COARSE, and a
 * quantile merges the current half with the previous one, so it describes
 * the operations of the last 68.7 to 137 s (no data: -ENODATA, rendered as
 * NaN).
 *
 * Collectors.  Modules that own other figures (origins' health, files per
 * origin, scan progress, events, cache) register a collector at start-up;
 * metrics_render() calls each, in registration order, under the collector
 * lock, so after metrics_remove_collectors() returns none is running and
 * their arguments may be freed.  A collector writes through
 * metrics_family() and metrics_sample*() only; it must not call
 * metrics_add_collector(), metrics_remove_collectors() or metrics_render()
 * (self-deadlock), and should not block for long: it runs on the thread
 * that renders (the HTTP server's, or a gRPC one).
 *
 * Every function that returns memory says so; the caller frees it.
 */
#ifndef MFS_METRICS_METRICS_H
#define MFS_METRICS_METRICS_H

#include "common/mfs.h"

/* ---- FUSE operations --------------------------------------------------- */

enum metrics_fuse_op {
	METRICS_OP_LOOKUP,
	METRICS_OP_GETATTR,
	METRICS_OP_READDIR,
	METRICS_OP_READDIRPLUS,
	METRICS_OP_OPEN,
	METRICS_OP_READ,
	METRICS_OP_RELEASE,
	METRICS_OP_READLINK,
	METRICS_OP_GETXATTR,
	METRICS_OP_LISTXATTR,
	METRICS_OP_STATFS,
	METRICS_OP_OTHER,
	METRICS_OP_COUNT
};

/* The op label ("lookup", "readdirplus", ...); "other" if out of range. */
const char *metrics_fuse_op_name(enum metrics_fuse_op op);

/* CLOCK_MONOTONIC in nanoseconds: take it when a handler starts. */
uint64_t metrics_now_ns(void);

/*
 * Count one operation that took elapsed_ns.  Lock-free, any thread; an op
 * out of range counts as METRICS_OP_OTHER.
 */
void metrics_fuse_record(enum metrics_fuse_op op, uint64_t elapsed_ns);

/* metrics_fuse_record(op, now - start_ns): the last line of a handler. */
static inline void metrics_fuse_done(enum metrics_fuse_op op,
				     uint64_t start_ns)
{
	metrics_fuse_record(op, metrics_now_ns() - start_ns);
}

/*
 * The q-quantile (0 <= q <= 1) of op's latency over the recent window, in
 * seconds (see the top of this file for its precision).  0, -ENODATA when
 * the window holds no operation, -EINVAL for a bad op or q.
 */
int metrics_fuse_quantile(enum metrics_fuse_op op, double q,
			  double *seconds_out);

/* Operations of this kind counted since start (all CPUs, exact). */
uint64_t metrics_fuse_count(enum metrics_fuse_op op);

/* ---- collectors and the exposition format ------------------------------ */

/* Text being rendered; opaque to collectors. */
struct metrics_out;

typedef void (*metrics_collector_fn)(struct metrics_out *out, void *arg);

/*
 * Call fn(out, arg) on every render, after the FUSE metrics and the
 * collectors registered before.  0 or -ENOMEM.  Thread-safe; meant for
 * start-up.
 */
int metrics_add_collector(metrics_collector_fn fn, void *arg);

/* Forget every collector; returns once none is running (shutdown). */
void metrics_remove_collectors(void);

/*
 * Start a metric family: its "# HELP" (backslashes and newlines escaped
 * here) and "# TYPE" lines.  type is "gauge", "counter", "summary",
 * "histogram" or "untyped".  Each family once per render, before its
 * samples.  An invalid name or type is skipped, and the render logs it.
 */
void metrics_family(struct metrics_out *out, const char *name,
		    const char *type, const char *help);

/*
 * One sample line: `name{labels} value`.  labels is the text between the
 * braces, e.g. "origin=\"local\"" with each value escaped by
 * metrics_label_escape(), or NULL for none.  Values are written so that
 * they parse back to the same double (NaN and +Inf/-Inf included).
 */
void metrics_sample(struct metrics_out *out, const char *name,
		    const char *labels, double value);

/*
 * One sample with a single label whose raw value is escaped here:
 * metrics_sample_label(out, "musicfs_origin_health", "origin", id, 1).
 */
void metrics_sample_label(struct metrics_out *out, const char *name,
			  const char *label, const char *raw_value,
			  double value);

/*
 * s with backslash, double quote and newline escaped for a label value
 * (\\, \", \n).  s must not be NULL.  Caller frees; NULL on ENOMEM.
 */
char *metrics_label_escape(const char *s);

/*
 * Render the FUSE metrics and every collector's as Prometheus text 0.0.4.
 * Caller frees; the length (without the final NUL) goes to *len if len is
 * not NULL.  NULL with errno set on allocation failure or when the text
 * would pass 16 MiB.  Any thread.
 */
char *metrics_render(size_t *len);

/* ---- the HTTP page ----------------------------------------------------- */

struct metrics_http;

/*
 * Serve GET (and HEAD) /metrics on address:port, address a numeric IPv4
 * or IPv6 address (the daemon passes a loopback one; nothing is resolved)
 * and port 0 for any free port.  Other paths get 404, other methods 405.
 * One libmicrohttpd thread polls every connection (at most 32, idle ones
 * closed after 10 s) and renders, so collectors run on that thread.
 * 0, -EINVAL (bad address or port), a bind/listen error (-EADDRINUSE,
 * -EACCES, ...) or -EIO.  Stop with metrics_http_stop().
 */
int metrics_http_start(const char *address, int port,
		       struct metrics_http **out);

/* The port the server listens on (the chosen one when 0 was asked). */
int metrics_http_port(const struct metrics_http *h);

/*
 * Close the listening socket and the connections, join the thread and
 * free h.  Accepts NULL.
 */
void metrics_http_stop(struct metrics_http *h);

#endif
