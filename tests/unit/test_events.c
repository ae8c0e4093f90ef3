/*
 * test_events.c - the event bus: reading, the ring wrapping, type masks,
 * slow subscribers dropped with their loss counted, several publishers
 * and readers at once, and waiting.
 */
#include "common/mfs.h"
#include "events/events.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static struct event_bus *new_bus(size_t capacity)
{
	struct event_bus *bus = NULL;

	assert_int_equal(event_bus_new(capacity, &bus), 0);
	return bus;
}

static struct event_sub *subscribe(struct event_bus *bus, uint32_t mask)
{
	struct event_sub *sub = NULL;

	assert_int_equal(event_subscribe(bus, mask, &sub), 0);
	return sub;
}

/* Read one event and check its type and value. */
static void expect(struct event_sub *sub, enum event_type type, int64_t value)
{
	struct event e;

	assert_int_equal(event_next(sub, &e), 1);
	assert_int_equal(e.type, type);
	assert_int_equal(e.value, value);
	event_clear(&e);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_type_names(void **state)
{
	enum event_type t;
	unsigned i;

	(void)state;
	for (i = 0; i < EVENT_TYPE_COUNT; i++) {
		assert_int_equal(event_type_parse(event_type_name(i), &t), 0);
		assert_int_equal(t, i);
	}
	assert_string_equal(event_type_name(EVENT_SYNC_COMPLETED),
			    "sync_completed");
	assert_int_equal(event_type_parse("Cache_Eviction", &t), 0);
	assert_int_equal(t, EVENT_CACHE_EVICTION);
	assert_int_equal(event_type_parse("file", &t), -EINVAL);
	assert_int_equal(event_type_parse("", &t), -EINVAL);
	assert_string_equal(event_type_name(EVENT_TYPE_COUNT), "unknown");
}

static void test_bad_arguments(void **state)
{
	struct event_bus *bus = NULL;
	struct event_sub *sub = NULL;

	(void)state;
	assert_int_equal(event_bus_new(0, &bus), -EINVAL);
	assert_int_equal(event_bus_new(EVENT_BUS_MAX_CAPACITY + 1, &bus),
			 -EINVAL);
	assert_null(bus);
	/* a NULL bus is a no-op for producers */
	event_publish(NULL, EVENT_FILE_ADDED, "o", "p", 0);
	bus = new_bus(4);
	assert_int_equal(event_subscribe(bus, EVENT_MASK(EVENT_TYPE_COUNT),
					 &sub),
			 -EINVAL);
	assert_null(sub);
	event_unsubscribe(NULL);
	event_bus_free(bus);
	event_bus_free(NULL);
}

static void test_publish_and_read(void **state)
{
	struct event_bus *bus = new_bus(8);
	struct event_sub *sub;
	struct event e;
	int64_t before;
	struct timespec ts;

	(void)state;
	/* published before subscribing: never seen */
	event_publish(bus, EVENT_FILE_ADDED, "local", "old.flac", 0);
	sub = subscribe(bus, 0);
	assert_int_equal(event_next(sub, &e), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	before = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	event_publish(bus, EVENT_FILE_ADDED, "local", "a/b.flac", 0);
	event_publish(bus, EVENT_SYNC_COMPLETED, "nas", NULL, 42);
	event_publish(bus, EVENT_CACHE_EVICTION, NULL, NULL, 1 << 20);

	assert_int_equal(event_next(sub, &e), 1);
	assert_int_equal(e.seq, 2);
	assert_int_equal(e.type, EVENT_FILE_ADDED);
	assert_string_equal(e.origin, "local");
	assert_string_equal(e.path, "a/b.flac");
	assert_true(e.time_us >= before && e.time_us < before + 10000000);
	event_clear(&e);
	assert_null(e.origin);

	assert_int_equal(event_next(sub, &e), 1);
	assert_int_equal(e.seq, 3);
	assert_string_equal(e.origin, "nas");
	assert_null(e.path);
	assert_int_equal(e.value, 42);
	event_clear(&e);

	assert_int_equal(event_next(sub, &e), 1);
	assert_int_equal(e.seq, 4);
	assert_null(e.origin);
	assert_int_equal(e.value, 1 << 20);
	event_clear(&e);
	assert_int_equal(event_next(sub, &e), 0);
	event_unsubscribe(sub);
	event_bus_free(bus);
}

static void test_ring_wrap(void **state)
{
	struct event_bus *bus = new_bus(4);
	struct event_sub *sub = subscribe(bus, 0);
	struct event_bus_stats st;
	struct event e;
	int64_t i;

	(void)state;
	/* the ring wraps many times under a reader that keeps up */
	for (i = 0; i < 30; i++) {
		event_publish(bus, EVENT_FILE_MODIFIED, "o", "p", i);
		if (i % 3 == 2) {
			expect(sub, EVENT_FILE_MODIFIED, i - 2);
			expect(sub, EVENT_FILE_MODIFIED, i - 1);
			expect(sub, EVENT_FILE_MODIFIED, i);
		}
	}
	/* exactly `capacity` behind is still fine */
	for (i = 0; i < 4; i++)
		event_publish(bus, EVENT_FILE_ADDED, NULL, NULL, i);
	for (i = 0; i < 4; i++)
		expect(sub, EVENT_FILE_ADDED, i);
	/* one more is not */
	for (i = 0; i < 5; i++)
		event_publish(bus, EVENT_FILE_ADDED, NULL, NULL, i);
	assert_int_equal(event_next(sub, &e), -EPIPE);
	assert_int_equal(event_next(sub, &e), -EPIPE);
	assert_int_equal(event_sub_lost(sub), 5);
	event_bus_get_stats(bus, &st);
	assert_int_equal(st.published[EVENT_FILE_MODIFIED], 30);
	assert_int_equal(st.published[EVENT_FILE_ADDED], 9);
	assert_int_equal(st.dropped_subscribers, 1);
	assert_int_equal(st.lost_events, 5);
	assert_int_equal(st.subscribers, 0);
	event_unsubscribe(sub);
	event_bus_free(bus);
}

static void test_type_filter(void **state)
{
	struct event_bus *bus = new_bus(16);
	struct event_sub *files =
		subscribe(bus, EVENT_MASK(EVENT_FILE_ADDED) |
				       EVENT_MASK(EVENT_FILE_REMOVED));
	struct event_sub *sync =
		subscribe(bus, EVENT_MASK(EVENT_SYNC_COMPLETED));
	struct event e;

	(void)state;
	event_publish(bus, EVENT_SYNC_STARTED, "o", NULL, 0);
	event_publish(bus, EVENT_FILE_ADDED, "o", "a", 1);
	event_publish(bus, EVENT_FILE_MODIFIED, "o", "a", 2);
	event_publish(bus, EVENT_FILE_REMOVED, "o", "b", 3);
	event_publish(bus, EVENT_SYNC_COMPLETED, "o", NULL, 2);
	expect(files, EVENT_FILE_ADDED, 1);
	expect(files, EVENT_FILE_REMOVED, 3);
	assert_int_equal(event_next(files, &e), 0);
	expect(sync, EVENT_SYNC_COMPLETED, 2);
	assert_int_equal(event_next(sync, &e), 0);
	event_unsubscribe(files);
	event_unsubscribe(sync);
	event_bus_free(bus);
}

/*
 * A reader that stops is dropped and its loss counted (by its own types
 * only), while a reader that keeps up loses nothing.
 */
static void test_slow_subscriber_dropped(void **state)
{
	struct event_bus *bus = new_bus(8);
	struct event_sub *fast = subscribe(bus, 0);
	struct event_sub *slow = subscribe(bus, 0);
	struct event_sub *partial = subscribe(bus, 0);
	struct event_sub *removed =
		subscribe(bus, EVENT_MASK(EVENT_FILE_REMOVED));
	struct event_bus_stats st;
	struct event e;
	int64_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		event_publish(bus, EVENT_FILE_ADDED, "o", "p", i);
		expect(partial, EVENT_FILE_ADDED, i);
		expect(fast, EVENT_FILE_ADDED, i);
	}
	for (i = 3; i < 20; i++) {
		enum event_type t = i % 2 ? EVENT_FILE_REMOVED
					  : EVENT_FILE_ADDED;

		event_publish(bus, t, "o", "p", i);
		expect(fast, t, i);
	}
	/* `removed` is found behind by the stats, without reading */
	event_bus_get_stats(bus, &st);
	assert_int_equal(st.dropped_subscribers, 3);
	assert_int_equal(st.subscribers, 1);
	/* lost: slow all 20, partial all but the 3 it read */
	assert_int_equal(event_sub_lost(slow), 20);
	assert_int_equal(event_sub_lost(partial), 17);
	/* only its own type: odd values 3..19 */
	assert_int_equal(event_sub_lost(removed), 9);
	assert_int_equal(st.lost_events, 20 + 17 + 9);
	assert_int_equal(event_next(slow, &e), -EPIPE);
	assert_int_equal(event_next(partial, &e), -EPIPE);
	assert_int_equal(event_next(removed, &e), -EPIPE);
	/* the fast reader carries on */
	event_publish(bus, EVENT_SYNC_COMPLETED, "o", NULL, 7);
	expect(fast, EVENT_SYNC_COMPLETED, 7);
	event_unsubscribe(slow);
	event_unsubscribe(partial);
	event_unsubscribe(removed);
	event_bus_get_stats(bus, &st);
	assert_int_equal(st.subscribers, 1);
	assert_int_equal(st.lost_events, 46);
	event_unsubscribe(fast);
	event_bus_free(bus);
}

/* ---- several threads ---------------------------------------------------- */

#define PUBLISHERS 4
#define PER_PUBLISHER 20000
#define READERS 2
#define CONCURRENT_CAPACITY 256

struct shared {
	struct event_bus *bus;
	atomic_uint_fast64_t reserved;	/* publish slots handed out */
	atomic_uint_fast64_t consumed[READERS];
	atomic_bool stop;
};

struct reader {
	struct shared *sh;
	struct event_sub *sub;
	unsigned index;
	uint32_t mask;
	uint64_t got, errors;
	int64_t last[PUBLISHERS];	/* last value seen per publisher */
};

static uint64_t min_consumed(struct shared *sh)
{
	uint64_t m = UINT64_MAX, c;
	unsigned i;

	for (i = 0; i < READERS; i++) {
		c = atomic_load(&sh->consumed[i]);
		m = MFS_MIN(m, c);
	}
	return m;
}

/*
 * Take a publish slot when the readers are less than half a ring behind:
 * the test's own flow control, so that "fast" readers are fast by
 * construction however the threads are scheduled.
 */
static void reserve(struct shared *sh)
{
	uint64_t r;

	for (;;) {
		r = atomic_load(&sh->reserved);
		if (r - min_consumed(sh) < CONCURRENT_CAPACITY / 2 &&
		    atomic_compare_exchange_weak(&sh->reserved, &r, r + 1))
			return;
		sched_yield();
	}
}

struct publisher {
	struct shared *sh;
	int64_t id;
};

static void *publisher_main(void *arg)
{
	struct publisher *p = arg;
	int64_t i;

	for (i = 0; i < PER_PUBLISHER; i++) {
		reserve(p->sh);
		event_publish(p->sh->bus,
			      i % 2 ? EVENT_FILE_MODIFIED : EVENT_FILE_ADDED,
			      "origin", "some/path.flac", p->id << 32 | i);
	}
	return NULL;
}

/* One event: per publisher, values arrive in publishing order. */
static void reader_take(struct reader *r, const struct event *e)
{
	int64_t id = e->value >> 32, i = e->value & 0xffffffff;

	if (id < 0 || id >= PUBLISHERS || i <= r->last[id] ||
	    !e->path || strcmp(e->path, "some/path.flac") != 0)
		r->errors++;
	else
		r->last[id] = i;
	r->got++;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t seen = 0;
	struct event e;
	int rc;

	while (!atomic_load(&r->sh->stop)) {
		seen = event_bus_wait(r->sh->bus, seen, 100);
		while ((rc = event_next(r->sub, &e)) == 1) {
			reader_take(r, &e);
			event_clear(&e);
		}
		if (rc < 0)
			r->errors++;
		/* a reader with a mask "consumes" what it skips too */
		atomic_store(&r->sh->consumed[r->index], seen);
	}
	return NULL;
}

static void test_concurrent_publish(void **state)
{
	struct shared sh = { .bus = new_bus(CONCURRENT_CAPACITY) };
	struct publisher pubs[PUBLISHERS];
	struct reader readers[READERS];
	pthread_t pt[PUBLISHERS], rt[READERS];
	struct event_sub *idle = subscribe(sh.bus, 0);
	struct event_bus_stats st;
	struct event e;
	unsigned i;

	(void)state;
	for (i = 0; i < READERS; i++) {
		readers[i] = (struct reader){
			.sh = &sh, .index = i,
			.mask = i ? EVENT_MASK(EVENT_FILE_ADDED) : 0,
		};
		memset(readers[i].last, 0xff, sizeof(readers[i].last));
		readers[i].sub = subscribe(sh.bus, readers[i].mask);
		assert_int_equal(pthread_create(&rt[i], NULL, reader_main,
						&readers[i]), 0);
	}
	for (i = 0; i < PUBLISHERS; i++) {
		pubs[i] = (struct publisher){ .sh = &sh, .id = i };
		assert_int_equal(pthread_create(&pt[i], NULL, publisher_main,
						&pubs[i]), 0);
	}
	for (i = 0; i < PUBLISHERS; i++)
		pthread_join(pt[i], NULL);
	while (min_consumed(&sh) < PUBLISHERS * PER_PUBLISHER)
		usleep(1000);
	atomic_store(&sh.stop, true);
	event_bus_wake(sh.bus);
	for (i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);

	assert_int_equal(readers[0].errors, 0);
	assert_int_equal(readers[0].got, PUBLISHERS * PER_PUBLISHER);
	assert_int_equal(readers[1].errors, 0);
	assert_int_equal(readers[1].got, PUBLISHERS * PER_PUBLISHER / 2);
	assert_int_equal(event_next(idle, &e), -EPIPE);
	assert_int_equal(event_sub_lost(idle), PUBLISHERS * PER_PUBLISHER);
	event_bus_get_stats(sh.bus, &st);
	assert_int_equal(st.published[EVENT_FILE_ADDED] +
				 st.published[EVENT_FILE_MODIFIED],
			 PUBLISHERS * PER_PUBLISHER);
	assert_int_equal(st.dropped_subscribers, 1);
	assert_int_equal(st.lost_events, PUBLISHERS * PER_PUBLISHER);
	for (i = 0; i < READERS; i++)
		event_unsubscribe(readers[i].sub);
	event_unsubscribe(idle);
	event_bus_free(sh.bus);
}

/* ---- waiting ------------------------------------------------------------ */

struct delayed {
	struct event_bus *bus;
	bool wake;
};

static void *delayed_main(void *arg)
{
	struct delayed *d = arg;

	usleep(50 * 1000);
	if (d->wake)
		event_bus_wake(d->bus);
	else
		event_publish(d->bus, EVENT_ORIGIN_CONNECTED, "nas", NULL, 0);
	return NULL;
}

static void test_wait(void **state)
{
	struct event_bus *bus = new_bus(4);
	struct delayed d = { .bus = bus };
	pthread_t t;
	uint64_t start, head;

	(void)state;
	/* nothing new: returns after the timeout with the same head */
	event_publish(bus, EVENT_FILE_ADDED, NULL, NULL, 0);
	assert_int_equal(event_bus_wait(bus, 0, 1000), 1);
	assert_int_equal(event_bus_wait(bus, 1, 0), 1);
	start = now_ms();
	assert_int_equal(event_bus_wait(bus, 1, 80), 1);
	assert_true(now_ms() - start >= 79);

	/* a publish wakes a waiter long before its timeout */
	assert_int_equal(pthread_create(&t, NULL, delayed_main, &d), 0);
	start = now_ms();
	head = event_bus_wait(bus, 1, 20000);
	assert_int_equal(head, 2);
	assert_true(now_ms() - start < 10000);
	pthread_join(t, NULL);

	/* so does event_bus_wake, with no timeout at all; and it sticks */
	d.wake = true;
	assert_int_equal(pthread_create(&t, NULL, delayed_main, &d), 0);
	assert_int_equal(event_bus_wait(bus, 2, -1), 2);
	pthread_join(t, NULL);
	start = now_ms();
	assert_int_equal(event_bus_wait(bus, 2, 20000), 2);
	assert_true(now_ms() - start < 10000);
	event_bus_free(bus);
}

/* Freeing a bus with a subscription still open frees that too (ASan). */
static void test_free_with_subscription(void **state)
{
	struct event_bus *bus = new_bus(2);

	(void)state;
	subscribe(bus, 0);
	event_publish(bus, EVENT_FILE_ADDED, "o", "p", 0);
	event_publish(bus, EVENT_FILE_ADDED, "o", "p", 0);
	event_publish(bus, EVENT_FILE_ADDED, "o", "p", 0);
	event_bus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_publish_and_read),
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_type_filter),
		cmocka_unit_test(test_slow_subscriber_dropped),
		cmocka_unit_test(test_concurrent_publish),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_free_with_subscription),
	};

	return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
