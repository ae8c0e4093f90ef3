/*
 * log.h - the one log module of MusicFS.
 *
 * Owns: the log filter (a level per subsystem) and the sinks (stderr for
 * now).  Any thread may log; a line is written with one write(2) so lines
 * of different threads never interleave.  The filter is set once at start
 * (and on config reload) and read without a lock: a byte per subsystem.
 *
 * Each source file may define MFS_LOG_MODULE (an enum mfs_log_module value)
 * before including this header; mfs_log() then checks that subsystem's
 * level *before* it evaluates its arguments, so a debug line in a hot path
 * costs one load and a compare when debug is off.
 */
#ifndef MFS_LOG_LOG_H
#define MFS_LOG_LOG_H

#include "common/mfs.h"

/* syslog's numbers, plus TRACE below DEBUG. */
enum mfs_log_level {
	MFS_LOG_ERROR = 3,
	MFS_LOG_WARN = 4,
	MFS_LOG_INFO = 6,
	MFS_LOG_DEBUG = 7,
	MFS_LOG_TRACE = 8,
};

/* Subsystems, each filterable by its name ("scan=debug"). */
enum mfs_log_module {
	MFS_LOGM_MAIN,
	MFS_LOGM_CONFIG,
	MFS_LOGM_CATALOG,
	MFS_LOGM_FORMATS,
	MFS_LOGM_TREE,
	MFS_LOGM_ORIGINS,
	MFS_LOGM_VFILE,
	MFS_LOGM_SCAN,
	MFS_LOGM_FUSE,
	MFS_LOGM_CLI,
	MFS_LOGM_CONTROL,
	MFS_LOGM_HEALTH,
	MFS_LOGM_DAEMON,
	MFS_LOGM_COUNT
};

#ifndef MFS_LOG_MODULE
#define MFS_LOG_MODULE MFS_LOGM_MAIN
#endif

/* Current level of each subsystem; written only by mfs_log_set_filter. */
extern unsigned char mfs_log_levels[MFS_LOGM_COUNT];

#define mfs_log_enabled(level) ((level) <= mfs_log_levels[MFS_LOG_MODULE])

#define mfs_log(level, ...)                                                 \
	do {                                                                \
		if (mfs_log_enabled(level))                                 \
			mfs_log_write(MFS_LOG_MODULE, (level), __VA_ARGS__); \
	} while (0)

/* Log at ERROR and evaluate to rc: `return mfs_error(-EIO, "...")`. */
#define mfs_error(rc, ...)                                                  \
	((mfs_log_enabled(MFS_LOG_ERROR)                                    \
		  ? mfs_log_write(MFS_LOG_MODULE, MFS_LOG_ERROR, __VA_ARGS__) \
		  : (void)0),                                               \
	 (rc))

/* Write one line (a newline is added).  Use mfs_log() instead. */
void mfs_log_write(enum mfs_log_module module, enum mfs_log_level level,
		   const char *fmt, ...) MFS_PRINTF(3, 4);

/*
 * Set the filter from a spec such as "info", "debug" or "scan=debug,warn":
 * a bare level applies to every subsystem not named.  Level names: error,
 * warn, info, debug, trace (and "musicfs" as a subsystem name means all).
 * Returns 0, or -EINVAL with a message in err (errsize bytes) and the
 * filter unchanged.
 */
int mfs_log_set_filter(const char *spec, char *err, size_t errsize);

/* Parse a level name; -EINVAL if unknown. */
int mfs_log_parse_level(const char *name, enum mfs_log_level *out);

/* Name of a subsystem ("scan") for log lines and tests. */
const char *mfs_log_module_name(enum mfs_log_module module);

/*
 * Route libfuse's own messages into this log (subsystem "fuse").  Called
 * once by the daemon before the session is created.
 */
void mfs_log_hook_libfuse(void);

#endif
