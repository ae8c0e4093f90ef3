/*
 * notify.c - systemd notifications: READY=1 once the mount is live,
 * STATUS= lines, RELOADING=1 on SIGHUP, STOPPING=1 on the way out, and
 * WATCHDOG=1 from a supervised task when the unit sets WatchdogSec.
 *
 * sd_notify does nothing when NOTIFY_SOCKET is unset, so these are safe
 * to call from a terminal.  The watchdog pings only while the FUSE
 * session answers: its task stats the mount point (a request through the
 * kernel to our own handlers) before each ping, so a daemon whose FUSE
 * workers are wedged is restarted by systemd instead of pinging on.
 */
#include "common/mfs.h"
#include "common/sd.h"
#define MFS_LOG_MODULE MFS_LOGM_DAEMON
#include "log/log.h"
#include "config/config.h"
#include "daemon/daemon_i.h"
#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

void notify_ready(void)
{
	mfs_sd_notify(0, "READY=1\nSTATUS=Mounted; scanning the origins");
}

void notify_stopping(void)
{
	mfs_sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

void notify_reloading(void)
{
	mfs_sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");
}

void notify_reloaded(void)
{
	mfs_sd_notify(0, "READY=1\nSTATUS=Serving");
}

void notify_status(const char *fmt, ...)
{
	static const char key[] = "STATUS=";
	char line[256] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + sizeof(key) - 1, sizeof(line) - (sizeof(key) - 1),
		  fmt, ap);
	va_end(ap);
	mfs_sd_notify(0, line);
}

struct watchdog {
	struct daemon *d;
	uint64_t interval_us;
	int wake_fd[2];
};

static struct watchdog watchdog = { .wake_fd = { -1, -1 } };

static int watchdog_run(void *arg, const atomic_bool *stop)
{
	struct watchdog *w = arg;
	struct pollfd pfd = { .fd = w->wake_fd[0], .events = POLLIN };
	int timeout_ms = (int)MFS_MAX(w->interval_us / 2000, 100);
	struct stat st;

	while (!atomic_load(stop)) {
		/* a round trip through our own FUSE handlers */
		if (stat(w->d->cfg->mount_point, &st) == 0)
			mfs_sd_notify(0, "WATCHDOG=1");
		else
			mfs_log(MFS_LOG_WARN, "watchdog: the mount does not "
					      "answer (%s)",
				strerror(errno));
		poll(&pfd, 1, timeout_ms);
	}
	return 0;
}

static void watchdog_wake(void *arg)
{
	struct watchdog *w = arg;

	if (write(w->wake_fd[1], "x", 1) < 0)
		mfs_log(MFS_LOG_DEBUG, "cannot wake the watchdog task");
}

int notify_watchdog_start(struct daemon *d)
{
	static const struct task_ops ops = { watchdog_run, watchdog_wake };
	uint64_t usec = 0;

	if (mfs_sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return 0;
	if (pipe2(watchdog.wake_fd, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	watchdog.d = d;
	watchdog.interval_us = usec;
	mfs_log(MFS_LOG_INFO, "systemd watchdog: pinging every %.1f s",
		(double)usec / 2e6);
	return supervisor_add(d->supervisor, "watchdog", &ops, &watchdog);
}
