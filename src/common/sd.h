/*
 * sd.h - the parts of libsystemd musicfs uses, loaded on first use.
 *
 * Owns the loading of libsystemd (common/dynlib.h): only the daemon talks
 * to the journal and to the service manager, and a CLI command should not
 * pay for mapping libsystemd and its six libraries.  Without libsystemd
 * the journal sink reports -ENOSYS and the service manager calls do
 * nothing, as they do when musicfs is not run by systemd.
 */
#ifndef MFS_COMMON_SD_H
#define MFS_COMMON_SD_H

#include "common/mfs.h"

#include <sys/uio.h>

/* sd_journal_sendv, or -ENOSYS without libsystemd. */
int mfs_sd_journal_sendv(const struct iovec *iov, int n);

/* sd_notify; 0 (nothing sent) without libsystemd. */
int mfs_sd_notify(int unset_environment, const char *state);

/* sd_watchdog_enabled; 0 (no watchdog) without libsystemd. */
int mfs_sd_watchdog_enabled(int unset_environment, uint64_t *usec);

#endif
