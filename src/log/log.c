/*
 * log.c - levels, per-subsystem filters and the stderr sink.
 *
 * A line looks like
 *   2026-11-26T10:00:00.123Z WARN  scan: cannot read 'a.flac': Permission denied
 * and is written with a single write(2) so that concurrent lines never mix.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "log/log.h"

#include <fuse_log.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

unsigned char mfs_log_levels[MFS_LOGM_COUNT] = {
	MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO,
	MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO,
	MFS_LOG_INFO, MFS_LOG_INFO, MFS_LOG_INFO,
};

static const char *const module_names[MFS_LOGM_COUNT] = {
	[MFS_LOGM_MAIN] = "main",	  [MFS_LOGM_CONFIG] = "config",
	[MFS_LOGM_CATALOG] = "catalog",	  [MFS_LOGM_FORMATS] = "formats",
	[MFS_LOGM_TREE] = "tree",	  [MFS_LOGM_ORIGINS] = "origins",
	[MFS_LOGM_VFILE] = "vfile",	  [MFS_LOGM_SCAN] = "scan",
	[MFS_LOGM_FUSE] = "fuse",	  [MFS_LOGM_CLI] = "cli",
	[MFS_LOGM_CONTROL] = "control",	  [MFS_LOGM_HEALTH] = "health",
	[MFS_LOGM_DAEMON] = "daemon",
};

static const struct {
	const char *name;
	enum mfs_log_level level;
} level_names[] = {
	{ "error", MFS_LOG_ERROR }, { "warn", MFS_LOG_WARN },
	{ "warning", MFS_LOG_WARN }, { "info", MFS_LOG_INFO },
	{ "debug", MFS_LOG_DEBUG }, { "trace", MFS_LOG_TRACE },
};

static const char *level_label(enum mfs_log_level level)
{
	switch (level) {
	case MFS_LOG_ERROR:
		return "ERROR";
	case MFS_LOG_WARN:
		return "WARN ";
	case MFS_LOG_INFO:
		return "INFO ";
	case MFS_LOG_DEBUG:
		return "DEBUG";
	default:
		return "TRACE";
	}
}

const char *mfs_log_module_name(enum mfs_log_module module)
{
	return module < MFS_LOGM_COUNT ? module_names[module] : "?";
}

int mfs_log_parse_level(const char *name, enum mfs_log_level *out)
{
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(level_names); i++) {
		if (!strcasecmp(name, level_names[i].name)) {
			*out = level_names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

static void vlog_line(const char *module, enum mfs_log_level level,
		      const char *fmt, va_list ap) MFS_PRINTF(3, 0);

static void vlog_line(const char *module, enum mfs_log_level level,
		      const char *fmt, va_list ap)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	int n;
	int m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     level_label(level), module);
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* libfuse's messages already end in a newline */
	if (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void mfs_log_write(enum mfs_log_module module, enum mfs_log_level level,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_line(mfs_log_module_name(module), level, fmt, ap);
	va_end(ap);
}

static int find_module(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < MFS_LOGM_COUNT; i++)
		if (strlen(module_names[i]) == len &&
		    !strncasecmp(module_names[i], name, len))
			return (int)i;
	return -1;
}

/* Copy [p, p + len) without surrounding blanks into out (size bytes). */
static int copy_trimmed(const char *p, size_t len, char *out, size_t size)
{
	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static int parse_filter_item(const char *item, size_t len,
			     unsigned char *levels, bool *have_default,
			     enum mfs_log_level *deflt)
{
	const char *eq = memchr(item, '=', len);
	char name[64], value[64];
	enum mfs_log_level level;
	int module;

	if (!eq) {
		if (copy_trimmed(item, len, value, sizeof(value)) ||
		    mfs_log_parse_level(value, &level))
			return -EINVAL;
		*have_default = true;
		*deflt = level;
		return 0;
	}
	if (copy_trimmed(item, (size_t)(eq - item), name, sizeof(name)) ||
	    copy_trimmed(eq + 1, (size_t)(item + len - eq - 1), value,
			 sizeof(value)) ||
	    mfs_log_parse_level(value, &level))
		return -EINVAL;
	/* "musicfs=debug" (the tracing-style crate name) means all modules */
	if (!strcmp(name, "musicfs")) {
		*have_default = true;
		*deflt = level;
		return 0;
	}
	module = find_module(name, strlen(name));
	if (module < 0)
		return -EINVAL;
	levels[module] = (unsigned char)(level | 0x80);	/* mark explicit */
	return 0;
}

int mfs_log_set_filter(const char *spec, char *err, size_t errsize)
{
	unsigned char levels[MFS_LOGM_COUNT] = { 0 };
	enum mfs_log_level deflt = MFS_LOG_INFO;
	bool have_default = false;
	const char *p = spec;
	size_t i;

	while (*p) {
		size_t len = strcspn(p, ",");

		if (len && parse_filter_item(p, len, levels, &have_default,
					     &deflt)) {
			if (err)
				snprintf(err, errsize,
					 "invalid log filter '%.*s' (want LEVEL "
					 "or MODULE=LEVEL, levels error, warn, "
					 "info, debug, trace)",
					 (int)len, p);
			return -EINVAL;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	for (i = 0; i < MFS_LOGM_COUNT; i++)
		mfs_log_levels[i] = levels[i] ? (unsigned char)(levels[i] & 0x7f)
					      : (unsigned char)deflt;
	return 0;
}

static void libfuse_log(enum fuse_log_level level, const char *fmt,
			va_list ap) MFS_PRINTF(2, 0);

static void libfuse_log(enum fuse_log_level level, const char *fmt,
			va_list ap)
{
	enum mfs_log_level l = level <= FUSE_LOG_ERR	  ? MFS_LOG_ERROR
			       : level == FUSE_LOG_WARNING ? MFS_LOG_WARN
			       : level <= FUSE_LOG_INFO	  ? MFS_LOG_INFO
							  : MFS_LOG_DEBUG;

	/*
	 * libfuse reports the end of an aborted connection as an error;
	 * for MusicFS it is one way an unmount ends (see mfs_fuse_loop).
	 */
	if (l == MFS_LOG_ERROR && strstr(fmt, "reading device"))
		l = MFS_LOG_INFO;
	if (l <= mfs_log_levels[MFS_LOGM_FUSE])
		vlog_line("libfuse", l, fmt, ap);
}

void mfs_log_hook_libfuse(void)
{
	fuse_set_log_func(libfuse_log);
}
