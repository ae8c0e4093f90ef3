/*
 * events.c - the event bus: a ring of events and cursors into it.
 *
 * Event number `seq` lives in ring[seq % capacity] until event seq +
 * capacity overwrites it.  A subscription is a cursor (the next seq it
 * wants) plus a type mask; reading walks the cursor forward, skipping the
 * types it does not want.  Nothing is pushed to subscribers, so publishing
 * costs the same with one subscriber or fifty, and a stalled one is
 * noticed lazily: its cursor points below the oldest event still in the
 * ring.
 *
 * What a dropped subscription lost is counted exactly, mask included:
 * the events of its types published since it subscribed, minus those it
 * was given.  That needs only the per-type publish counters, not the
 * types of the overwritten events.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "events/events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>

struct event_sub {
	struct event_bus *bus;
	struct event_sub *prev, *next;	/* protected by bus->lock */
	uint32_t mask;			/* 0 = every type */
	uint64_t cursor;	/* next seq to look at; bus->lock */
	uint64_t base;		/* matching events published before us */
	uint64_t delivered;	/* matching events returned; bus->lock */
	uint64_t lost;		/* set when dropped; bus->lock */
	bool dropped;		/* protected by bus->lock */
};

struct event_bus {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* head moved, or woken */
	size_t capacity;
	struct event *ring;		/* protected by lock */
	uint64_t head;			/* newest seq, 0 = none; lock */
	struct event_sub *subs;		/* protected by lock */
	/* open, undropped subscriptions: written under lock, read before it
	   by publishers deciding whether to copy strings */
	atomic_uint_fast32_t live;
	unsigned waiters;		/* in event_bus_wait; lock */
	bool woken;			/* protected by lock */
	struct event_bus_stats stats;	/* protected by lock */
};

static const char *const type_names[EVENT_TYPE_COUNT] = {
	[EVENT_FILE_ADDED] = "file_added",
	[EVENT_FILE_REMOVED] = "file_removed",
	[EVENT_FILE_MODIFIED] = "file_modified",
	[EVENT_ORIGIN_CONNECTED] = "origin_connected",
	[EVENT_ORIGIN_DISCONNECTED] = "origin_disconnected",
	[EVENT_SYNC_STARTED] = "sync_started",
	[EVENT_SYNC_COMPLETED] = "sync_completed",
	[EVENT_CACHE_EVICTION] = "cache_eviction",
};

#define ALL_TYPES (EVENT_MASK(EVENT_TYPE_COUNT) - 1u)

const char *event_type_name(enum event_type t)
{
	return (unsigned)t < EVENT_TYPE_COUNT ? type_names[t] : "unknown";
}

int event_type_parse(const char *name, enum event_type *out)
{
	unsigned i;

	for (i = 0; name && i < EVENT_TYPE_COUNT; i++) {
		if (!strcasecmp(name, type_names[i])) {
			*out = (enum event_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

void event_clear(struct event *e)
{
	free(e->origin);
	free(e->path);
	memset(e, 0, sizeof(*e));
}

int event_bus_new(size_t capacity, struct event_bus **out)
{
	pthread_condattr_t attr;
	struct event_bus *bus;

	if (!capacity || capacity > EVENT_BUS_MAX_CAPACITY)
		return -EINVAL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->ring = calloc(capacity, sizeof(*bus->ring));
	if (!bus->ring) {
		free(bus);
		return -ENOMEM;
	}
	bus->capacity = capacity;
	atomic_init(&bus->live, 0);
	pthread_mutex_init(&bus->lock, NULL);
	/* timeouts must not jump with the wall clock */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&bus->cond, &attr);
	pthread_condattr_destroy(&attr);
	*out = bus;
	return 0;
}

void event_bus_free(struct event_bus *bus)
{
	size_t i;

	if (!bus)
		return;
	while (bus->subs) {
		struct event_sub *sub = bus->subs;

		bus->subs = sub->next;
		free(sub);
	}
	for (i = 0; i < bus->capacity; i++)
		event_clear(&bus->ring[i]);
	free(bus->ring);
	pthread_cond_destroy(&bus->cond);
	pthread_mutex_destroy(&bus->lock);
	free(bus);
}

static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Copies of origin and path; false (and nothing kept) on ENOMEM. */
static bool copy_strings(const char *origin, const char *path, char **o,
			 char **p)
{
	*o = str_dup(origin);
	*p = str_dup(path);
	if ((origin && !*o) || (path && !*p)) {
		free(*o);
		free(*p);
		*o = *p = NULL;
		return false;
	}
	return true;
}

/*
 * Store the event in its slot; the strings it overwrites are handed back
 * in *old_o / *old_p so that they are freed after the lock is released.
 */
static void store_locked(struct event_bus *bus, enum event_type type,
			 char *o, char *p, int64_t value, char **old_o,
			 char **old_p)
{
	uint64_t seq = ++bus->head;
	struct event *slot = &bus->ring[seq % bus->capacity];

	*old_o = slot->origin;
	*old_p = slot->path;
	slot->seq = seq;
	slot->type = type;
	slot->time_us = realtime_us();
	slot->origin = o;
	slot->path = p;
	slot->value = value;
	bus->stats.published[type]++;
}

static bool anyone_listening(struct event_bus *bus)
{
	return atomic_load_explicit(&bus->live, memory_order_relaxed) != 0;
}

void event_publish(struct event_bus *bus, enum event_type type,
		   const char *origin, const char *path, int64_t value)
{
	char *o = NULL, *p = NULL, *old_o, *old_p;
	bool copied = false;
	unsigned waiters;

	if (!bus || (unsigned)type >= EVENT_TYPE_COUNT)
		return;
	/*
	 * Copy before locking.  Whether anyone listens is checked again
	 * under the lock: a subscription made in between must get the
	 * strings (copied under the lock, rarely); if the last one ended,
	 * the copies stay until their slot is overwritten.
	 */
	if (anyone_listening(bus))
		copied = copy_strings(origin, path, &o, &p);
	pthread_mutex_lock(&bus->lock);
	if (!copied && anyone_listening(bus))
		copy_strings(origin, path, &o, &p);
	store_locked(bus, type, o, p, value, &old_o, &old_p);
	waiters = bus->waiters;
	pthread_mutex_unlock(&bus->lock);
	if (waiters)
		pthread_cond_broadcast(&bus->cond);
	free(old_o);
	free(old_p);
}

static bool type_wanted(uint32_t mask, enum event_type type)
{
	return !mask || (mask & EVENT_MASK(type));
}

/* Events of the mask's types published so far. */
static uint64_t matching_published(const struct event_bus *bus,
				   uint32_t mask)
{
	uint64_t n = 0;
	unsigned t;

	for (t = 0; t < EVENT_TYPE_COUNT; t++) {
		if (type_wanted(mask, (enum event_type)t))
			n += bus->stats.published[t];
	}
	return n;
}

int event_subscribe(struct event_bus *bus, uint32_t type_mask,
		    struct event_sub **out)
{
	struct event_sub *sub;

	if (!bus || (type_mask & ~ALL_TYPES))
		return -EINVAL;
	sub = calloc(1, sizeof(*sub));
	if (!sub)
		return -ENOMEM;
	sub->bus = bus;
	sub->mask = type_mask;
	pthread_mutex_lock(&bus->lock);
	sub->cursor = bus->head + 1;
	sub->base = matching_published(bus, type_mask);
	sub->next = bus->subs;
	if (bus->subs)
		bus->subs->prev = sub;
	bus->subs = sub;
	atomic_fetch_add_explicit(&bus->live, 1, memory_order_relaxed);
	pthread_mutex_unlock(&bus->lock);
	*out = sub;
	return 0;
}

/* The subscription's cursor points at an event already overwritten. */
static bool fell_behind(const struct event_bus *bus,
			const struct event_sub *sub)
{
	uint64_t oldest = bus->head >= bus->capacity
				  ? bus->head - bus->capacity + 1
				  : 1;

	return sub->cursor < oldest;
}

static void drop_locked(struct event_bus *bus, struct event_sub *sub)
{
	sub->dropped = true;
	sub->lost = matching_published(bus, sub->mask) - sub->base -
		    sub->delivered;
	bus->stats.dropped_subscribers++;
	bus->stats.lost_events += sub->lost;
	atomic_fetch_sub_explicit(&bus->live, 1, memory_order_relaxed);
}

/* Copy a ring slot for the caller.  0 or -ENOMEM. */
static int copy_event(const struct event *slot, struct event *out)
{
	struct event e = *slot;

	if (!copy_strings(slot->origin, slot->path, &e.origin, &e.path))
		return -ENOMEM;
	*out = e;
	return 0;
}

/* The next wanted event at or after the cursor.  bus->lock held. */
static int next_locked(struct event_bus *bus, struct event_sub *sub,
		       struct event *out)
{
	int rc;

	if (!sub->dropped && fell_behind(bus, sub))
		drop_locked(bus, sub);
	if (sub->dropped)
		return -EPIPE;
	for (; sub->cursor <= bus->head; sub->cursor++) {
		const struct event *slot =
			&bus->ring[sub->cursor % bus->capacity];

		if (!type_wanted(sub->mask, slot->type))
			continue;
		rc = copy_event(slot, out);
		if (rc < 0)
			return rc;
		sub->cursor++;
		sub->delivered++;
		return 1;
	}
	return 0;
}

int event_next(struct event_sub *sub, struct event *out)
{
	struct event_bus *bus = sub->bus;
	int rc;

	pthread_mutex_lock(&bus->lock);
	rc = next_locked(bus, sub, out);
	pthread_mutex_unlock(&bus->lock);
	return rc;
}

uint64_t event_sub_lost(struct event_sub *sub)
{
	uint64_t lost;

	pthread_mutex_lock(&sub->bus->lock);
	lost = sub->lost;
	pthread_mutex_unlock(&sub->bus->lock);
	return lost;
}

void event_unsubscribe(struct event_sub *sub)
{
	struct event_bus *bus;

	if (!sub)
		return;
	bus = sub->bus;
	pthread_mutex_lock(&bus->lock);
	if (sub->prev)
		sub->prev->next = sub->next;
	else
		bus->subs = sub->next;
	if (sub->next)
		sub->next->prev = sub->prev;
	if (!sub->dropped)
		atomic_fetch_sub_explicit(&bus->live, 1, memory_order_relaxed);
	pthread_mutex_unlock(&bus->lock);
	free(sub);
}

/* CLOCK_MONOTONIC time timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_after(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

uint64_t event_bus_wait(struct event_bus *bus, uint64_t seen, int timeout_ms)
{
	struct timespec deadline = deadline_after(MFS_MAX(timeout_ms, 0));
	uint64_t head;
	int rc = 0;

	pthread_mutex_lock(&bus->lock);
	bus->waiters++;
	while (bus->head <= seen && !bus->woken && timeout_ms && !rc) {
		if (timeout_ms < 0)
			pthread_cond_wait(&bus->cond, &bus->lock);
		else
			rc = pthread_cond_timedwait(&bus->cond, &bus->lock,
						    &deadline);
	}
	bus->waiters--;
	head = bus->head;
	pthread_mutex_unlock(&bus->lock);
	return head;
}

void event_bus_wake(struct event_bus *bus)
{
	pthread_mutex_lock(&bus->lock);
	bus->woken = true;
	pthread_mutex_unlock(&bus->lock);
	pthread_cond_broadcast(&bus->cond);
}

void event_bus_get_stats(struct event_bus *bus, struct event_bus_stats *out)
{
	struct event_sub *sub;

	pthread_mutex_lock(&bus->lock);
	for (sub = bus->subs; sub; sub = sub->next) {
		if (!sub->dropped && fell_behind(bus, sub))
			drop_locked(bus, sub);
	}
	*out = bus->stats;
	out->subscribers =
		atomic_load_explicit(&bus->live, memory_order_relaxed);
	pthread_mutex_unlock(&bus->lock);
}
