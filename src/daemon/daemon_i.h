/*
 * daemon_i.h - the state of a running daemon, shared by its files:
 * daemon.c (process: lock, detach, pid, signals, the order of start and
 * stop), services.c (the control plane: event bus, supervised tasks,
 * health monitor, gRPC server, metrics page, shutdown and reload),
 * collect.c (metrics collectors) and notify.c (systemd notifications).
 */
#ifndef MFS_DAEMON_DAEMON_I_H
#define MFS_DAEMON_DAEMON_I_H

#include "common/mfs.h"
#include "daemon/daemon.h"
#include "origins/origins.h"

#include <pthread.h>
#include <stdatomic.h>

struct cache;
struct catalog;
struct collections;

/*
 * Events kept for slow readers: a first scan publishes thousands of
 * file_added a second, and a subscriber a whole ring behind is dropped.
 * 48 bytes a slot, strings only while someone subscribes.
 */
#define DAEMON_EVENT_BUS_CAPACITY 65536
struct control;
struct event_bus;
struct health;
struct metrics_http;
struct mfs_fuse;
struct scan;
struct supervisor;

struct daemon {
	const struct config *cfg;
	char *lock_path;
	char *pid_path;
	char *db_path;
	char *socket_path;
	int lock_fd;
	int ready_fd;		/* pipe to the waiting parent, or -1 */
	int64_t start_unix_ms;
	bool foreground;
	const char *const *log_overrides;	/* [3], see daemon_options */
	pthread_t main_thread;
	struct origin **origins;
	size_t n_origins;
	struct catalog *writer;	/* until handed to the scanner */
	struct scan *scan;
	struct mfs_fuse *fuse;

	struct cache *cache;		/* the chunk cache */
	struct collections *collections; /* smart collections */

	/* the control plane (services.c) */
	struct event_bus *bus;
	struct supervisor *supervisor;
	struct health *health;
	struct control *control;
	struct metrics_http *metrics_http;
	int reload_fd;		/* eventfd written by the SIGHUP handler */
	pthread_t shutdown_thread;
	atomic_bool shutdown_requested;
	bool shutdown_started;	/* shutdown_thread must be joined */
	bool shutdown_immediate;
	int shutdown_timeout_s;
};

/* services.c */
int services_start_background(struct daemon *d);	/* before the mount is live */
int services_start_control(struct daemon *d);		/* API and metrics */
void services_stop(struct daemon *d);
void services_sighup(struct daemon *d);			/* async-signal-safe */

/* daemon.c: open the log sinks of cfg's [logging] (start and reload). */
int daemon_open_log_sinks(const struct config *cfg, bool foreground,
			  char *err, size_t errsize);

/* collect.c: register the daemon's metrics collectors. */
int collect_register(struct daemon *d);
/* After metrics_remove_collectors: close what the collectors used. */
void collect_release(void);

/* notify.c: systemd's notification socket (no-ops without one). */
void notify_ready(void);
void notify_stopping(void);
void notify_reloading(void);
void notify_reloaded(void);
void notify_status(const char *fmt, ...) MFS_PRINTF(1, 2);
/* Start the watchdog task when WatchdogSec is set (0 or -errno). */
int notify_watchdog_start(struct daemon *d);

#endif
