/*
 * services.c - the control plane of a running daemon: the event bus, the
 * supervised background tasks (scanner, watcher, health monitor, config
 * reloader, watchdog), the gRPC server, the metrics page, and the two
 * ways out (a Shutdown RPC, SIGTERM/SIGINT).
 *
 * Signals: every thread but the main one blocks SIGINT, SIGTERM and
 * SIGHUP (the mask is set before any thread starts and inherited), so they
 * reach the main thread, where libfuse's handlers end the FUSE loop and
 * ours wakes the reloader.  gRPC's own threads inherit the mask too.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_DAEMON
#include "log/log.h"
#include "collections/collections.h"
#include "config/config.h"
#include "control/control.h"
#include "daemon/daemon_i.h"
#include "events/events.h"
#include "fuse/mfs_fuse.h"
#include "cache/runtime.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "scan/scan.h"
#include "supervisor/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>


/* ---- SIGHUP: reload the config ------------------------------------------ */

void services_sighup(struct daemon *d)
{
	uint64_t one = 1;

	if (d->reload_fd >= 0 && write(d->reload_fd, &one, sizeof(one)) < 0)
		return;	/* nothing async-signal-safe to report it with */
}

/* The file's level, then what outranks it (the environment, the flags). */
static void apply_log_filters(struct daemon *d, const char *file_level)
{
	char err[256];
	size_t i;

	if (file_level && mfs_log_set_filter(file_level, err, sizeof(err)))
		mfs_log(MFS_LOG_ERROR, "config reload: %s", err);
	for (i = 0; i < 3; i++)
		if (d->log_overrides[i] && *d->log_overrides[i])
			mfs_log_set_filter(d->log_overrides[i], err, sizeof(err));
}

/*
 * What a reload can change while mounted: the log filter and sinks.
 * Origins, paths and ports need a restart; a changed file is checked the
 * same way as at start, and a bad one keeps the running settings.
 */
static void reload_config(struct daemon *d)
{
	struct config fresh;
	char err[512];
	int rc = 0;

	notify_reloading();
	config_init(&fresh);
	if (d->cfg->config_path)
		rc = config_load_file(&fresh, d->cfg->config_path, err,
				      sizeof(err));
	if (rc) {
		mfs_log(MFS_LOG_ERROR, "config reload failed, keeping the "
				       "running settings: %s",
			err);
	} else if (d->cfg->config_path) {
		apply_log_filters(d, fresh.logging.level);
		rc = daemon_open_log_sinks(&fresh, d->foreground, err,
					   sizeof(err));
		if (rc)
			mfs_log(MFS_LOG_ERROR, "config reload: %s", err);
		if (collections_set_config(d->collections, &fresh, err,
					   sizeof(err)))
			mfs_log(MFS_LOG_ERROR, "config reload: keeping the "
					       "collections: %s",
				err);
		mfs_log(MFS_LOG_INFO, "configuration reloaded from '%s' (log "
				      "settings and collections applied; "
				      "origins, paths and ports take effect "
				      "on restart)",
			d->cfg->config_path);
	}
	config_release(&fresh);
	/* SIGHUP also asks for a full rescan, as it always did */
	scan_request_full(d->scan);
	notify_reloaded();
}

static int reloader_run(void *arg, const atomic_bool *stop)
{
	struct daemon *d = arg;
	struct pollfd pfd = { .fd = d->reload_fd, .events = POLLIN };
	uint64_t n;

	while (!atomic_load(stop)) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		if (read(d->reload_fd, &n, sizeof(n)) != sizeof(n))
			continue;
		if (atomic_load(stop))
			break;
		mfs_log(MFS_LOG_INFO, "SIGHUP: reloading the configuration and "
				      "rescanning every origin");
		reload_config(d);
	}
	return 0;
}

static void reloader_wake(void *arg)
{
	struct daemon *d = arg;
	uint64_t one = 1;	/* the task sees its stop flag when it wakes */

	if (write(d->reload_fd, &one, sizeof(one)) < 0)
		mfs_log(MFS_LOG_DEBUG, "cannot wake the reloader");
}

/* ---- shutdown -------------------------------------------------------------- */

/* Drain (graceful) on a thread of its own, then end the FUSE loop. */
static void *shutdown_main(void *arg)
{
	struct daemon *d = arg;

	if (!d->shutdown_immediate)
		mfs_fuse_drain(d->fuse, d->shutdown_timeout_s * 1000);
	mfs_log(MFS_LOG_INFO, "unmounting on request");
	mfs_fuse_exit(d->fuse);
	return NULL;
}

/* From the control API, once the Shutdown reply is on its way. */
static void request_shutdown(void *arg, bool immediate, int timeout_s)
{
	struct daemon *d = arg;
	sigset_t all, old;

	if (atomic_exchange(&d->shutdown_requested, true))
		return;	/* one is under way */
	d->shutdown_immediate = immediate;
	d->shutdown_timeout_s = timeout_s;
	notify_status("Shutting down (%s)", immediate ? "immediate" : "draining");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	d->shutdown_started =
		pthread_create(&d->shutdown_thread, NULL, shutdown_main, d) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!d->shutdown_started)
		mfs_fuse_exit(d->fuse);
}

/* ---- start and stop ---------------------------------------------------------- */

static void block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static int add_task(struct daemon *d, const char *name,
		    int (*run)(void *, const atomic_bool *),
		    void (*wake)(void *), void *arg)
{
	const struct task_ops ops = { run, wake };

	return supervisor_add(d->supervisor, name, &ops, arg);
}

/* The bus, the supervisor and its tasks: scanner, watcher, health, reloader. */
int services_start_background(struct daemon *d)
{
	sigset_t old;
	int rc;

	d->reload_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->reload_fd < 0)
		return -errno;
	rc = supervisor_new(&d->supervisor);
	if (!rc)
		rc = health_new(d->cfg, d->db_path, d->origins, d->n_origins,
				d->scan, d->bus, &d->health);
	if (rc)
		return rc;
	scan_set_events(d->scan, d->bus);
	block_signals(&old);
	rc = add_task(d, "scanner", scan_run, scan_wake, d->scan);
	if (!rc)
		rc = add_task(d, "watcher", scan_watch_run, scan_watch_wake,
			      d->scan);
	if (!rc)
		rc = add_task(d, "health", health_run, health_wake, d->health);
	if (!rc)
		rc = add_task(d, "reloader", reloader_run, reloader_wake, d);
	if (!rc)
		rc = add_task(d, "cache", cache_run, cache_wake, d->cache);
	if (!rc)
		rc = notify_watchdog_start(d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * The gRPC server and the metrics page.  A TCP port that cannot be bound
 * (another daemon holds 50052) is a warning, not a failed mount: the Unix
 * socket, which the CLI uses, is enough.
 */
int services_start_control(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct control_listen l = {
		.socket_path = d->socket_path,
		.tcp_address = cfg->grpc_address,
		.tcp_port = cfg->grpc_port,
		.allow_remote = cfg->grpc_allow_remote,
	};
	struct control_deps deps = {
		.cfg = cfg,
		.db_path = d->db_path,
		.origins = d->origins,
		.n_origins = d->n_origins,
		.fuse = d->fuse,
		.scan = d->scan,
		.health = d->health,
		.supervisor = d->supervisor,
		.bus = d->bus,
		.cache = d->cache,
		.collections = d->collections,
		.start_unix_ms = d->start_unix_ms,
		.request_shutdown = request_shutdown,
		.shutdown_arg = d,
	};
	sigset_t old;
	int rc;

	if (l.tcp_port && l.tcp_address && !control_is_loopback(l.tcp_address) &&
	    !l.allow_remote)
		return mfs_error(-EPERM, "grpc_address '%s' is not a loopback "
					 "address: set grpc_allow_remote = true "
					 "to serve the control API beyond this "
					 "machine",
				 l.tcp_address);
	block_signals(&old);
	rc = collect_register(d);
	if (!rc)
		rc = control_start(&l, &deps, &d->control);
	if (rc == -EADDRINUSE) {
		mfs_log(MFS_LOG_WARN, "control API: TCP port %d is taken; "
				      "serving on the Unix socket only",
			l.tcp_port);
		l.tcp_port = 0;
		rc = control_start(&l, &deps, &d->control);
	}
	if (!rc && cfg->metrics_port) {
		int mrc = metrics_http_start("127.0.0.1", cfg->metrics_port,
					     &d->metrics_http);

		if (mrc)
			mfs_log(MFS_LOG_WARN, "metrics page: cannot listen on "
					      "127.0.0.1:%d (%s); metrics stay "
					      "available through GetMetrics",
				cfg->metrics_port, strerror(-mrc));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Reverse order: nothing is left calling into what was freed. */
void services_stop(struct daemon *d)
{
	control_stop(d->control);
	d->control = NULL;
	metrics_http_stop(d->metrics_http);
	d->metrics_http = NULL;
	metrics_remove_collectors();
	collect_release();
	if (d->shutdown_started) {
		pthread_join(d->shutdown_thread, NULL);
		d->shutdown_started = false;
	}
	supervisor_free(d->supervisor);	/* stops every task */
	d->supervisor = NULL;
	health_free(d->health);
	d->health = NULL;
	if (d->reload_fd >= 0)
		close(d->reload_fd);
	d->reload_fd = -1;
}
