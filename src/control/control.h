/*
 * control.h - the gRPC control API of a running daemon.
 *
 * Owns: the gRPC server (core C API, one completion-queue thread), its
 * listening Unix socket and loopback TCP port, every call in progress, and
 * a pump thread that feeds server-streaming calls (events, rescan
 * progress).  The RPCs are those of proto/musicfs.proto; the daemon's
 * subsystems are borrowed through struct control_deps and must outlive
 * the server.
 *
 * Threads: control_start/control_stop on the daemon's main thread, after
 * the process detached (gRPC does not survive a fork).  Handlers run on the
 * completion-queue thread under the server's mutex; they only read state
 * and queue work (a rescan request, a shutdown request), never block.
 */
#ifndef MFS_CONTROL_CONTROL_H
#define MFS_CONTROL_CONTROL_H

#include "common/mfs.h"
#include "config/config.h"
#include "origins/origins.h"

struct cache;
struct collections;
struct control;
struct event_bus;
struct health;
struct mfs_fuse;
struct scan;
struct supervisor;

struct control_deps {
	const struct config *cfg;
	const char *db_path;		/* for a reader connection of its own */
	struct origin **origins;	/* the served ones, by priority */
	size_t n_origins;
	struct mfs_fuse *fuse;
	struct scan *scan;
	struct health *health;
	struct supervisor *supervisor;
	struct event_bus *bus;
	struct cache *cache;		/* the chunk cache (NULL: none) */
	struct collections *collections; /* smart collections */
	int64_t start_unix_ms;
	/*
	 * Called on the CQ thread once the Shutdown reply has been sent: the
	 * daemon drains (graceful) and ends its FUSE loop.  Must not block.
	 */
	void (*request_shutdown)(void *arg, bool immediate, int timeout_s);
	void *shutdown_arg;
};

/*
 * Listen on unix:socket_path (mode 0600) and, when tcp_port > 0, on
 * tcp_address:tcp_port.  tcp_address must be a loopback address unless
 * allow_remote.  Returns 0, or -errno with the reason logged.
 */
struct control_listen {
	const char *socket_path;
	const char *tcp_address;
	int tcp_port;
	bool allow_remote;
};

int control_start(const struct control_listen *listen,
		  const struct control_deps *deps, struct control **out);

/* The TCP port actually bound (the configured one, or the one picked for 0). */
int control_tcp_port(const struct control *c);

/*
 * Stop accepting calls, end open streams (clients see UNAVAILABLE), wait
 * for the threads and free everything; NULL accepted.
 */
void control_stop(struct control *c);

/* Is addr (numeric IPv4/IPv6 or "localhost") a loopback address? */
bool control_is_loopback(const char *addr);

#endif
