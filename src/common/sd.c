/*
 * sd.c - libsystemd, loaded on first use (see sd.h).
 */
#include "common/sd.h"
#include "common/dynlib.h"

#include <pthread.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#define SD_SONAME "libsystemd.so.0"

static struct {
	__typeof__(&sd_journal_sendv) journal_sendv;
	__typeof__(&sd_notify) notify;
	__typeof__(&sd_watchdog_enabled) watchdog_enabled;
} sd;

static pthread_once_t sd_once = PTHREAD_ONCE_INIT;

static void sd_load(void)
{
	const struct mfs_dynsym syms[] = {
		{ "sd_journal_sendv", &sd.journal_sendv },
		{ "sd_notify", &sd.notify },
		{ "sd_watchdog_enabled", &sd.watchdog_enabled },
	};
	char err[256];

	/* without it, the callers' fallbacks say what happens */
	(void)mfs_dynlib_load(SD_SONAME, syms, MFS_ARRAY_SIZE(syms), err,
			      sizeof(err));
}

int mfs_sd_journal_sendv(const struct iovec *iov, int n)
{
	pthread_once(&sd_once, sd_load);
	return sd.journal_sendv ? sd.journal_sendv(iov, n) : -ENOSYS;
}

int mfs_sd_notify(int unset_environment, const char *state)
{
	pthread_once(&sd_once, sd_load);
	return sd.notify ? sd.notify(unset_environment, state) : 0;
}

int mfs_sd_watchdog_enabled(int unset_environment, uint64_t *usec)
{
	pthread_once(&sd_once, sd_load);
	return sd.watchdog_enabled ? sd.watchdog_enabled(unset_environment,
							 usec) : 0;
}
