/*
 * events.h - the in-process event bus.
 *
 * Owns: a bounded ring of the last `capacity` events and the list of
 * subscriptions.  Producers (the scanner, the health monitor, the cache)
 * publish; consumers (the gRPC SubscribeEvents streams, the log, metrics)
 * subscribe and read at their own pace.
 *
 * Threads and locks.  Any thread may publish, subscribe, read or wait.
 * Every function takes the bus lock (one mutex) for a short, bounded time:
 * a slot write, or the copy of one event's two strings.  The bus never
 * calls user code: it has no callbacks, so a caller may hold its own locks
 * across any of these calls (the control thread calls event_next() under
 * its own mutex).  Only event_bus_wait() sleeps, and it sleeps on the bus's
 * condition variable without holding anything of the caller's.
 *
 * Publishing never waits for subscribers.  A subscription that falls more
 * than `capacity` events behind finds, on its next event_next(), that the
 * events it had not read were overwritten: it is dropped (every later read
 * returns -EPIPE), and the events it will never see are added to the bus's
 * lost_events.  Fast subscribers lose nothing.
 *
 * Memory.  The ring is an array of `capacity` struct event allocated by
 * event_bus_new().  A published event's strings are copied only while at
 * least one subscription is open, and freed when their slot is
 * overwritten, so an idle bus holds at most `capacity` events' strings and
 * a bus nobody listens to holds none after `capacity` publishes.  Events
 * returned by event_next() are copies the caller owns (event_clear()).
 */
#ifndef MFS_EVENTS_EVENTS_H
#define MFS_EVENTS_EVENTS_H

#include "common/mfs.h"

enum event_type {
	EVENT_FILE_ADDED,
	EVENT_FILE_REMOVED,
	EVENT_FILE_MODIFIED,
	EVENT_ORIGIN_CONNECTED,
	EVENT_ORIGIN_DISCONNECTED,
	EVENT_SYNC_STARTED,
	EVENT_SYNC_COMPLETED,
	EVENT_CACHE_EVICTION,
	EVENT_TYPE_COUNT
};

/* The bit of a type in a subscription's type mask. */
#define EVENT_MASK(type) (1u << (type))

/* Largest capacity event_bus_new() accepts. */
#define EVENT_BUS_MAX_CAPACITY ((size_t)1 << 20)

/*
 * Name of a type as the CLI and the gRPC API spell it ("file_added",
 * "origin_disconnected", ...); "unknown" for a value out of range.
 */
const char *event_type_name(enum event_type t);

/* Parse a type name (ASCII case ignored).  0, or -EINVAL if unknown. */
int event_type_parse(const char *name, enum event_type *out);

struct event {
	uint64_t seq;		/* 1, 2, ... in publishing order */
	enum event_type type;
	int64_t time_us;	/* CLOCK_REALTIME, microseconds */
	char *origin;		/* origin id, may be NULL */
	char *path;		/* virtual or origin-relative, may be NULL */
	int64_t value;		/* files changed (sync_completed), bytes
				   (cache_eviction), else 0 */
};

/* Free the strings of an event returned by event_next(); fields zeroed. */
void event_clear(struct event *e);

struct event_bus;

/*
 * A bus keeping the last `capacity` events (1..EVENT_BUS_MAX_CAPACITY).
 * 0, -EINVAL or -ENOMEM.  Free with event_bus_free().
 */
int event_bus_new(size_t capacity, struct event_bus **out);

/*
 * Free the bus and its events.  Accepts NULL.  Subscriptions should be
 * ended first; any still open are freed with the bus and must not be used
 * afterwards.  No thread may be publishing or waiting.
 */
void event_bus_free(struct event_bus *bus);

/*
 * Publish an event stamped with the next sequence number and the current
 * time.  origin and path (either may be NULL) are copied when somebody
 * subscribes; on allocation failure the event is kept without them.  An
 * unknown type is ignored.  NULL bus = no-op, so producers need no check.
 * Never blocks on readers: only the bus lock, for a slot write.
 */
void event_publish(struct event_bus *bus, enum event_type type,
		   const char *origin, const char *path, int64_t value);

struct event_sub;

/*
 * Subscribe to the events published from now on whose type bit is in
 * type_mask (EVENT_MASK(t) | ...; 0 = every type).  0, -EINVAL (unknown
 * bits in the mask) or -ENOMEM.  End with event_unsubscribe().
 */
int event_subscribe(struct event_bus *bus, uint32_t type_mask,
		    struct event_sub **out);

/*
 * Read the subscription's next event.  Returns 1 with *out filled (the
 * caller owns the strings: event_clear()), 0 when there is nothing new,
 * -EPIPE once the subscription has been dropped for falling behind (it
 * stays dropped), or -ENOMEM (the event stays unread; retry).
 * One thread at a time per subscription.
 */
int event_next(struct event_sub *sub, struct event *out);

/*
 * Events this subscription missed because it was dropped (0 while it is
 * not dropped): what the stream's final error message can report.
 */
uint64_t event_sub_lost(struct event_sub *sub);

/* End a subscription and free it.  Accepts NULL. */
void event_unsubscribe(struct event_sub *sub);

/*
 * Block until an event newer than `seen` is published, the bus is woken
 * (event_bus_wake()), or timeout_ms passes (negative = no timeout, 0 =
 * just look).  Returns the sequence number of the newest event (0 before
 * the first): a pump thread passes it back as `seen` on its next call
 * after draining its subscriptions with event_next().
 */
uint64_t event_bus_wait(struct event_bus *bus, uint64_t seen,
			int timeout_ms);

/*
 * Wake every thread in event_bus_wait(), for shutdown.  Sticky: from now
 * on event_bus_wait() returns at once, so a waiter that arrives late is
 * not stranded.
 */
void event_bus_wake(struct event_bus *bus);

struct event_bus_stats {
	uint64_t published[EVENT_TYPE_COUNT]; /* since the bus was made */
	uint64_t subscribers;		/* open and not dropped, now */
	uint64_t dropped_subscribers;	/* dropped for falling behind */
	uint64_t lost_events;		/* events those never saw */
};

/*
 * Counters for metrics and GetStatus.  Subscriptions found too far behind
 * are dropped (and counted) here too, so a reader that stalled shows up
 * without having to read again.
 */
void event_bus_get_stats(struct event_bus *bus, struct event_bus_stats *out);

#endif
