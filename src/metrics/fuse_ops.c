/*
 * fuse_ops.c - counters and latency histograms of the FUSE operations.
 *
 * Recording is three relaxed atomic adds, no lock.  The statistics are
 * split into SHARDS slices picked by sched_getcpu() (glibc reads it from
 * the rseq area: a few ns), and each operation's block in a slice starts
 * on its own cache line, so two workers on two CPUs, or two operations,
 * never write the same line.  Readers add the slices up; they see each
 * counter exactly, though not all counters at the same instant.
 *
 * Histogram buckets are log-linear: bucket 0 holds [0, 2^10) ns, then 8
 * buckets split each power of two from 2^10 to 2^36 ns evenly, and the
 * last bucket holds everything from 2^36 ns.  A bucket is at most 1/8 of
 * its lower bound wide, so its middle is within 1/16 of any value in it.
 *
 * Windows: each block has two histograms.  Window number e =
 * coarse_now >> WINDOW_SHIFT is recorded into histogram e & 1, and
 * window_epoch[e & 1] says which window that histogram holds.  The first
 * recorder that finds it holding an older window (e - 2 or before) clears
 * that histogram in every block under window_lock, then publishes the new
 * epoch; everyone else only reads window_epoch.  A quantile merges the
 * histograms holding windows e and e - 1.  Clearing only races with a
 * recorder that read the epoch one whole window earlier and has not added
 * yet, which would have to sleep 68 s between two instructions.
 */
#include "common/mfs.h"
#include "metrics/metrics_i.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <time.h>

#define SHARDS 8
#define SUB_BITS 3
#define SUBS (1u << SUB_BITS)
#define MIN_EXP 10		/* 2^10 ns = 1.024 us */
#define MAX_EXP 36		/* 2^36 ns = 68.7 s */
#define BUCKETS (2 + (MAX_EXP - MIN_EXP) * SUBS)
#define WINDOW_SHIFT 36		/* one window = 2^36 ns of coarse time */

struct op_block {
	alignas(64) atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
	atomic_uint_fast64_t hist[2][BUCKETS];
};

static struct op_block blocks[SHARDS][METRICS_OP_COUNT];
static atomic_uint_fast64_t window_epoch[2];	/* see the top comment */
static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const op_names[METRICS_OP_COUNT] = {
	[METRICS_OP_LOOKUP] = "lookup",
	[METRICS_OP_GETATTR] = "getattr",
	[METRICS_OP_READDIR] = "readdir",
	[METRICS_OP_READDIRPLUS] = "readdirplus",
	[METRICS_OP_OPEN] = "open",
	[METRICS_OP_READ] = "read",
	[METRICS_OP_RELEASE] = "release",
	[METRICS_OP_READLINK] = "readlink",
	[METRICS_OP_GETXATTR] = "getxattr",
	[METRICS_OP_LISTXATTR] = "listxattr",
	[METRICS_OP_STATFS] = "statfs",
	[METRICS_OP_OTHER] = "other",
};

const char *metrics_fuse_op_name(enum metrics_fuse_op op)
{
	return (unsigned)op < METRICS_OP_COUNT ? op_names[op] : "other";
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t metrics_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* ---- buckets ----------------------------------------------------------- */

MFS_TESTABLE unsigned metrics_bucket_of(uint64_t ns);

MFS_TESTABLE unsigned metrics_bucket_of(uint64_t ns)
{
	unsigned e;

	if (ns < ((uint64_t)1 << MIN_EXP))
		return 0;
	e = 63u - (unsigned)__builtin_clzll(ns);
	if (e >= MAX_EXP)
		return BUCKETS - 1;
	return 1 + (e - MIN_EXP) * SUBS +
	       (unsigned)((ns >> (e - SUB_BITS)) & (SUBS - 1));
}

/* The value a bucket stands for: its middle (see the top comment). */
static double bucket_value_ns(unsigned b)
{
	unsigned e, sub;

	if (b == 0)
		return (double)((uint64_t)1 << (MIN_EXP - 1));
	if (b >= BUCKETS - 1)
		return (double)((uint64_t)1 << MAX_EXP);
	e = MIN_EXP + (b - 1) / SUBS;
	sub = (b - 1) % SUBS;
	return (double)((uint64_t)(2 * (SUBS + sub) + 1) << (e - SUB_BITS - 1));
}

/* ---- recording --------------------------------------------------------- */

static struct op_block *my_block(enum metrics_fuse_op op)
{
	int cpu = sched_getcpu();

	return &blocks[cpu < 0 ? 0 : cpu % SHARDS][op];
}

/* Histogram `slot` now holds window `epoch`; was holding an older one. */
static void clear_slot(unsigned slot)
{
	unsigned s, op, b;

	for (s = 0; s < SHARDS; s++) {
		for (op = 0; op < METRICS_OP_COUNT; op++) {
			atomic_uint_fast64_t *h = blocks[s][op].hist[slot];

			/* skip zeros: never touch pages nobody used */
			for (b = 0; b < BUCKETS; b++) {
				if (atomic_load_explicit(&h[b],
							 memory_order_relaxed))
					atomic_store_explicit(
						&h[b], 0, memory_order_relaxed);
			}
		}
	}
}

/*
 * Make histogram epoch & 1 hold window `epoch`.  False if it already
 * holds a newer one (a recorder late by a whole window): skip the sample.
 */
static bool claim_window(uint64_t epoch)
{
	unsigned slot = (unsigned)(epoch & 1);
	uint64_t held;

	pthread_mutex_lock(&window_lock);
	held = atomic_load_explicit(&window_epoch[slot], memory_order_relaxed);
	if (held < epoch) {
		clear_slot(slot);
		atomic_store_explicit(&window_epoch[slot], epoch,
				      memory_order_release);
		held = epoch;
	}
	pthread_mutex_unlock(&window_lock);
	return held == epoch;
}

/* metrics_fuse_record() at coarse time now_ns (tests pass their own). */
MFS_TESTABLE void metrics_fuse_record_at(enum metrics_fuse_op op,
					 uint64_t elapsed_ns, uint64_t now_ns);

MFS_TESTABLE void metrics_fuse_record_at(enum metrics_fuse_op op,
					 uint64_t elapsed_ns, uint64_t now_ns)
{
	uint64_t epoch = now_ns >> WINDOW_SHIFT;
	unsigned slot = (unsigned)(epoch & 1), bucket;
	struct op_block *blk;

	if ((unsigned)op >= METRICS_OP_COUNT)
		op = METRICS_OP_OTHER;
	blk = my_block(op);
	atomic_fetch_add_explicit(&blk->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&blk->sum_ns, elapsed_ns,
				  memory_order_relaxed);
	if (atomic_load_explicit(&window_epoch[slot], memory_order_acquire) !=
		    epoch &&
	    !claim_window(epoch))
		return;
	bucket = metrics_bucket_of(elapsed_ns);
	atomic_fetch_add_explicit(&blk->hist[slot][bucket], 1,
				  memory_order_relaxed);
}

void metrics_fuse_record(enum metrics_fuse_op op, uint64_t elapsed_ns)
{
	metrics_fuse_record_at(op, elapsed_ns,
			       clock_ns(CLOCK_MONOTONIC_COARSE));
}

/* ---- reading ----------------------------------------------------------- */

uint64_t metrics_fuse_count(enum metrics_fuse_op op)
{
	uint64_t n = 0;
	unsigned s;

	if ((unsigned)op >= METRICS_OP_COUNT)
		return 0;
	for (s = 0; s < SHARDS; s++)
		n += atomic_load_explicit(&blocks[s][op].count,
					  memory_order_relaxed);
	return n;
}

static uint64_t fuse_sum_ns(enum metrics_fuse_op op)
{
	uint64_t n = 0;
	unsigned s;

	for (s = 0; s < SHARDS; s++)
		n += atomic_load_explicit(&blocks[s][op].sum_ns,
					  memory_order_relaxed);
	return n;
}

/* Add histogram `slot` of op, all shards, into h; returns the samples. */
static uint64_t merge_slot(enum metrics_fuse_op op, unsigned slot,
			   uint64_t *h)
{
	uint64_t total = 0, n;
	unsigned s, b;

	for (s = 0; s < SHARDS; s++) {
		for (b = 0; b < BUCKETS; b++) {
			n = atomic_load_explicit(&blocks[s][op].hist[slot][b],
						 memory_order_relaxed);
			h[b] += n;
			total += n;
		}
	}
	return total;
}

/* op's histogram of windows e and e - 1 (e from now_ns) into h. */
static uint64_t recent_histogram(enum metrics_fuse_op op, uint64_t now_ns,
				 uint64_t h[BUCKETS])
{
	uint64_t epoch = now_ns >> WINDOW_SHIFT, held, total = 0;
	unsigned slot;

	memset(h, 0, BUCKETS * sizeof(*h));
	for (slot = 0; slot < 2; slot++) {
		held = atomic_load_explicit(&window_epoch[slot],
					    memory_order_acquire);
		if (held == epoch || held + 1 == epoch)
			total += merge_slot(op, slot, h);
	}
	return total;
}

/* The q-quantile of a histogram of `total` samples, in seconds. */
static double histogram_quantile(const uint64_t h[BUCKETS], uint64_t total,
				 double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)total), seen = 0;
	unsigned b;

	rank = MFS_MAX(rank, 1);
	for (b = 0; b < BUCKETS - 1; b++) {
		seen += h[b];
		if (seen >= rank)
			break;
	}
	return bucket_value_ns(b) / 1e9;
}

MFS_TESTABLE int metrics_fuse_quantile_at(enum metrics_fuse_op op, double q,
					  uint64_t now_ns,
					  double *seconds_out);

MFS_TESTABLE int metrics_fuse_quantile_at(enum metrics_fuse_op op, double q,
					  uint64_t now_ns, double *seconds_out)
{
	uint64_t h[BUCKETS], total;

	if ((unsigned)op >= METRICS_OP_COUNT || !(q >= 0 && q <= 1))
		return -EINVAL;
	total = recent_histogram(op, now_ns, h);
	if (!total)
		return -ENODATA;
	*seconds_out = histogram_quantile(h, total, q);
	return 0;
}

int metrics_fuse_quantile(enum metrics_fuse_op op, double q,
			  double *seconds_out)
{
	return metrics_fuse_quantile_at(op, q, clock_ns(CLOCK_MONOTONIC_COARSE),
					seconds_out);
}

#ifdef MFS_UNIT_TEST
/* Forget every figure, for tests that need a known start. */
void metrics_fuse_reset(void);
/* Samples in op's recent window as of coarse time now_ns. */
uint64_t metrics_fuse_window_samples(enum metrics_fuse_op op,
				     uint64_t now_ns);

void metrics_fuse_reset(void)
{
	memset(blocks, 0, sizeof(blocks));
	memset(window_epoch, 0, sizeof(window_epoch));
}

uint64_t metrics_fuse_window_samples(enum metrics_fuse_op op,
				     uint64_t now_ns)
{
	uint64_t h[BUCKETS];

	return recent_histogram(op, now_ns, h);
}
#endif

/* ---- rendering --------------------------------------------------------- */

static const double quantiles[] = { 0.5, 0.9, 0.99 };

static void render_op_summary(struct metrics_out *out, unsigned op,
			      uint64_t now_ns)
{
	const char *name = op_names[op];
	char labels[64];
	uint64_t h[BUCKETS], total;
	size_t i;

	total = recent_histogram((enum metrics_fuse_op)op, now_ns, h);
	for (i = 0; i < MFS_ARRAY_SIZE(quantiles); i++) {
		double v = total ? histogram_quantile(h, total, quantiles[i])
				 : NAN;

		snprintf(labels, sizeof(labels), "op=\"%s\",quantile=\"%g\"",
			 name, quantiles[i]);
		metrics_sample(out, "musicfs_fuse_latency_seconds", labels, v);
	}
	snprintf(labels, sizeof(labels), "op=\"%s\"", name);
	metrics_sample(out, "musicfs_fuse_latency_seconds_sum", labels,
		       (double)fuse_sum_ns((enum metrics_fuse_op)op) / 1e9);
	metrics_sample(out, "musicfs_fuse_latency_seconds_count", labels,
		       (double)metrics_fuse_count((enum metrics_fuse_op)op));
}

void metrics_fuse_render(struct metrics_out *out)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC_COARSE);
	unsigned op;

	metrics_family(out, "musicfs_fuse_ops_total", "counter",
		       "FUSE operations handled since start, by operation.");
	for (op = 0; op < METRICS_OP_COUNT; op++)
		metrics_sample_label(out, "musicfs_fuse_ops_total", "op",
				     op_names[op],
				     (double)metrics_fuse_count(
					     (enum metrics_fuse_op)op));
	metrics_family(out, "musicfs_fuse_latency_seconds", "summary",
		       "Time spent in FUSE handlers; quantiles over the last"
		       " 69 to 137 s, sum and count since start.");
	for (op = 0; op < METRICS_OP_COUNT; op++)
		render_op_summary(out, op, now);
}
