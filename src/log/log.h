/*
 * log.h - the one log module of MusicFS.
 *
 * Owns: the log filter (a level per subsystem), the sinks and the list of
 * secrets that must never be written.  Sinks: stderr (the default, and the
 * only one until mfs_log_open_sinks is called), a file in log_dir rotated
 * every local day, and the systemd journal with structured fields; the file
 * and stderr write text or one JSON object per line.
 *
 * Threads: any thread may log.  A line is formatted once, redacted once and
 * then given to each sink with one write(2) (O_APPEND for the file), so the
 * lines of different threads never interleave.  The filter is set at start
 * (and on config reload) and read without a lock: a byte per subsystem.
 * The sinks and the secrets are guarded by a read-write lock inside log.c:
 * logging threads share it, mfs_log_open_sinks/close_sinks and the secret
 * calls take it exclusively, so a reload (SIGHUP) may switch sinks while
 * other threads log.  None of these functions may be called from a signal
 * handler.
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
	MFS_LOGM_CACHE,
	MFS_LOGM_SEARCH,
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

/* ---- sinks -------------------------------------------------------------- */

/* What mfs_log_open_sinks sets up; the strings are copied. */
struct mfs_log_sinks {
	const char *dir;	/* log_dir: write musicfs.log there, rotated
				   daily (NULL/"": no file) */
	bool json;		/* one JSON object per line (file and stderr
				   sinks) */
	bool journald;		/* also send to the journal when one is
				   reachable */
	bool stderr_sink;	/* keep writing to stderr (foreground runs,
				   tests) */
};

/*
 * Open the sinks described by sinks (NULL: as mfs_log_close_sinks) and
 * switch to them atomically; callable again on config reload (SIGHUP).
 *
 * - dir: created (with its parents, mode 0750) if missing; the log goes to
 *   <dir>/musicfs.log (mode 0640), renamed musicfs.log.YYYY-MM-DD (the
 *   local date of its lines) when the local date changes; the 14 newest
 *   rotated files are kept, older ones deleted.  A nonempty musicfs.log
 *   left by an earlier run is rotated at the first line of a later day.
 * - journald: used only when the journal's socket exists; otherwise it is
 *   silently left out.  When the journal is used and stderr is itself a
 *   journal stream (JOURNAL_STREAM names stderr, as under systemd), stderr
 *   is left out too, so each line reaches the journal once.
 * - If no sink at all would remain, stderr is kept.
 *
 * Returns 0, or a negative errno with a message naming the path and the
 * reason in err (errsize bytes) -- a log_dir that cannot be created or
 * written -- and the previous sinks unchanged.
 */
int mfs_log_open_sinks(const struct mfs_log_sinks *sinks, char *err,
		       size_t errsize);

/* Close the file sink and go back to text lines on stderr only. */
void mfs_log_close_sinks(void);

/*
 * Register a secret (password, access key, token) that must never be
 * written: every line has each registered secret replaced by "***" before
 * any sink sees it (occurrences that overlap or touch become one "***").
 * Copies the string; secrets shorter than 4 bytes are ignored (they would
 * redact too much).  Independently of this list, the password of a URL's
 * userinfo (scheme://user:password@host) is always replaced by "***".
 */
void mfs_log_add_secret(const char *secret);

/* Forget (and wipe) every registered secret, e.g. before a reload adds the
 * new ones. */
void mfs_log_clear_secrets(void);

#endif
