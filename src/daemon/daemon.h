/*
 * daemon.h - the musicfs daemon: one mount, from start to clean exit.
 *
 * Owns: the process-level resources of a mount: the single-instance lock
 * (cache_dir/musicfs.lock), the pid file, the origins, the catalog, the
 * scanner and the FUSE session, created in that order and released in the
 * reverse order.  Runs on the main thread.
 */
#ifndef MFS_DAEMON_DAEMON_H
#define MFS_DAEMON_DAEMON_H

#include "common/mfs.h"
#include "config/config.h"

struct daemon_options {
	bool foreground;	/* stay attached (systemd, tests) */
	bool debug_fuse;	/* libfuse request tracing */
	/*
	 * Log filters that outrank the config file's level, lowest first
	 * (MUSICFS_LOG, then the flags; NULL entries skipped): a reload
	 * (SIGHUP) applies the file's new level, then these again.
	 */
	const char *log_overrides[3];
};

/*
 * Mount cfg (already validated) and serve until unmounted or signalled.
 * Without foreground, returns in the parent once the mount is live (or
 * failed) while a detached child keeps serving.  Returns the process exit
 * code: 0 on a clean exit, 1 on failure.
 */
int daemon_run(const struct config *cfg, const struct daemon_options *opts);

#endif
