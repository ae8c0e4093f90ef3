/*
 * log.c - levels, per-subsystem filters, the front of every line and the
 * stderr sink.
 *
 * A text line looks like
 *   2026-11-26T10:00:00.123Z WARN  scan: cannot read 'a.flac': Permission denied
 * and a JSON line (json_output) like
 *   {"ts":"2026-11-26T10:00:00.123Z","level":"warn","module":"scan","msg":"..."}
 * Each line is formatted, then redacted (log_redact.c) under the shared
 * side of state_lock, then given to each sink with a single write(2) so
 * that concurrent lines never mix.  Without mfs_log_open_sinks the only
 * sink is stderr, in text.
 */
#include "common/mfs.h"
#include "common/str.h"
#include "log/log.h"
#include "log/log_i.h"

#include <fuse_log.h>
#include <pthread.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* every subsystem at INFO, however many there are (a GNU range) */
unsigned char mfs_log_levels[MFS_LOGM_COUNT] = {
	[0 ... MFS_LOGM_COUNT - 1] = MFS_LOG_INFO,
};

static const char *const module_names[MFS_LOGM_COUNT] = {
	[MFS_LOGM_MAIN] = "main",	  [MFS_LOGM_CONFIG] = "config",
	[MFS_LOGM_CATALOG] = "catalog",	  [MFS_LOGM_FORMATS] = "formats",
	[MFS_LOGM_TREE] = "tree",	  [MFS_LOGM_ORIGINS] = "origins",
	[MFS_LOGM_VFILE] = "vfile",	  [MFS_LOGM_SCAN] = "scan",
	[MFS_LOGM_FUSE] = "fuse",	  [MFS_LOGM_CLI] = "cli",
	[MFS_LOGM_CONTROL] = "control",	  [MFS_LOGM_HEALTH] = "health",
	[MFS_LOGM_DAEMON] = "daemon",	  [MFS_LOGM_CACHE] = "cache",
	[MFS_LOGM_SEARCH] = "search",
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

/*
 * The sinks and the secrets.  Logging threads hold state_lock shared while
 * they redact and write a line; opening or closing sinks and changing the
 * secrets take it exclusively (writers preferred, so a reload is not
 * starved by busy loggers).
 */
static pthread_rwlock_t state_lock =
	PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static bool to_stderr = true;		/* protected by state_lock */
static bool as_json;			/* protected by state_lock */
static bool to_journal;			/* protected by state_lock */
static struct mfs_log_file *log_file;	/* protected by state_lock */
static struct mfs_log_secret *secrets;	/* protected by state_lock */
static size_t n_secrets;		/* protected by state_lock */

#ifdef MFS_UNIT_TEST
void (*mfs_log_test_clock)(struct timespec *ts);
#endif

static void log_now(struct timespec *ts)
{
#ifdef MFS_UNIT_TEST
	if (mfs_log_test_clock) {
		mfs_log_test_clock(ts);
		return;
	}
#endif
	clock_gettime(CLOCK_REALTIME, ts);
}

static const char *level_json_name(enum mfs_log_level level)
{
	switch (level) {
	case MFS_LOG_ERROR:
		return "error";
	case MFS_LOG_WARN:
		return "warn";
	case MFS_LOG_INFO:
		return "info";
	case MFS_LOG_DEBUG:
		return "debug";
	default:
		return "trace";
	}
}

/* "2026-11-26T10:00:00.123Z" (UTC) into buf; its length. */
static size_t format_time(char *buf, size_t size, const struct timespec *ts)
{
	struct tm tm;
	int n;

	if (!gmtime_r(&ts->tv_sec, &tm))
		memset(&tm, 0, sizeof(tm));
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
	return n < 0 ? 0 : MFS_MIN((size_t)n, size - 1);
}

size_t mfs_log_format_text(char *buf, size_t size,
			   const struct mfs_log_line *line)
{
	char ts[64];
	size_t msg_len;
	int n;

	format_time(ts, sizeof(ts), &line->ts);
	n = snprintf(buf, size, "%s %s %s: ", ts, level_label(line->level),
		     line->module);
	if (n < 0 || (size_t)n + 2 > size)
		return 0;
	msg_len = MFS_MIN(line->msg_len, size - (size_t)n - 1);
	memcpy(buf + n, line->msg, msg_len);
	buf[(size_t)n + msg_len] = '\n';
	return (size_t)n + msg_len + 1;
}

/* Append "\"" + escaped s + "\"" at buf + *o, keeping tail bytes free. */
static void json_string(char *buf, size_t size, size_t *o, const char *s,
			size_t len, size_t tail)
{
	if (*o + 2 + tail > size)
		return;
	buf[(*o)++] = '"';
	*o += mfs_log_json_escape(buf + *o, size - *o - 1 - tail, s, len);
	buf[(*o)++] = '"';
}

static void json_raw(char *buf, size_t size, size_t *o, const char *s)
{
	size_t len = strlen(s);

	if (*o + len <= size) {
		memcpy(buf + *o, s, len);
		*o += len;
	}
}

size_t mfs_log_format_json(char *buf, size_t size,
			   const struct mfs_log_line *line)
{
	const char *level = level_json_name(line->level);
	char ts[64];
	size_t ts_len;
	size_t o = 0;

	if (size < 128)
		return 0;
	ts_len = format_time(ts, sizeof(ts), &line->ts);
	json_raw(buf, size, &o, "{\"ts\":");
	json_string(buf, size, &o, ts, ts_len, 64);
	json_raw(buf, size, &o, ",\"level\":");
	json_string(buf, size, &o, level, strlen(level), 64);
	json_raw(buf, size, &o, ",\"module\":");
	json_string(buf, size, &o, line->module, strlen(line->module), 16);
	json_raw(buf, size, &o, ",\"msg\":");
	json_string(buf, size, &o, line->msg, line->msg_len, 2);
	json_raw(buf, size, &o, "}\n");
	return o;
}

/* Length of the valid UTF-8 sequence at s (left bytes), or 0. */
static size_t utf8_valid(const unsigned char *s, size_t left)
{
	unsigned char lo = 0x80;
	unsigned char hi = 0xbf;
	size_t n;
	size_t i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;	/* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f;	/* above U+10FFFF */
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* The escape of an ASCII byte c into esc (NUL-terminated); its length. */
static size_t json_escape_ascii(unsigned char c, char *esc)
{
	static const char hex[] = "0123456789abcdef";
	const char *named = NULL;

	switch (c) {
	case '"':
		named = "\\\"";
		break;
	case '\\':
		named = "\\\\";
		break;
	case '\n':
		named = "\\n";
		break;
	case '\r':
		named = "\\r";
		break;
	case '\t':
		named = "\\t";
		break;
	case '\b':
		named = "\\b";
		break;
	case '\f':
		named = "\\f";
		break;
	default:
		break;
	}
	if (named) {
		memcpy(esc, named, 3);
		return 2;
	}
	if (c >= 0x20) {
		esc[0] = (char)c;
		esc[1] = '\0';
		return 1;
	}
	memcpy(esc, "\\u00", 4);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	esc[6] = '\0';
	return 6;
}

size_t mfs_log_json_escape(char *out, size_t size, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	const char *piece;
	size_t piece_len;
	size_t used;
	size_t o = 0;
	size_t i = 0;

	while (i < len) {
		if (p[i] < 0x80) {
			piece_len = json_escape_ascii(p[i], esc);
			piece = esc;
			used = 1;
		} else {
			used = utf8_valid(p + i, len - i);
			piece = used ? s + i : "\\ufffd";
			piece_len = used ? used : 6;
			used = used ? used : 1;
		}
		if (o + piece_len > size)
			break;
		memcpy(out + o, piece, piece_len);
		o += piece_len;
		i += used;
	}
	return o;
}

static void write_stderr(const char *buf, size_t len)
{
	if (write(STDERR_FILENO, buf, len) < 0)
		return;
}

/*
 * Give line to every sink; called with state_lock held shared.  A JSON
 * line needs up to six bytes per message byte: its buffer is allocated
 * (a thread may have a small stack); without memory the line goes out as
 * text rather than not at all.
 */
static bool dispatch(const struct mfs_log_line *line, char *note,
		     size_t notesize)
{
	char text[MFS_LOG_TEXT_MAX];
	const char *out = text;
	char *json = NULL;
	bool noted = false;
	size_t size;
	size_t len = 0;

	if (as_json && (to_stderr || log_file)) {
		size = line->msg_len * 6 + 256;
		json = malloc(size);
		if (json) {
			len = mfs_log_format_json(json, size, line);
			out = json;
		}
	}
	if ((to_stderr || log_file) && !json)
		len = mfs_log_format_text(text, sizeof(text), line);
	if (to_stderr && len)
		write_stderr(out, len);
	if (log_file && len)
		noted = mfs_log_file_write(log_file, line->ts.tv_sec, out, len,
					   note, notesize);
	if (to_journal)
		mfs_log_journal_send(line);
	free(json);
	return noted;
}

static void vlog_line(const char *module, enum mfs_log_level level,
		      const char *fmt, va_list ap) MFS_PRINTF(3, 0);

/*
 * Format the message (the whole of it, so that redaction sees every
 * secret even past the cut), drop a final newline (libfuse's messages
 * have one), redact, cut and dispatch.
 */
static void vlog_line(const char *module, enum mfs_log_level level,
		      const char *fmt, va_list ap)
{
	char raw[MFS_LOG_MSG_MAX + 1];
	char msg[MFS_LOG_MSG_MAX + 1];
	char note[512];
	struct mfs_log_line line;
	const char *text = raw;
	char *big = NULL;
	bool noted;
	va_list aq;
	int n;

	log_now(&line.ts);
	va_copy(aq, ap);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n >= 0 && (size_t)n >= sizeof(raw)) {
		big = malloc((size_t)n + 1);
		if (big && vsnprintf(big, (size_t)n + 1, fmt, aq) == n)
			text = big;
		else
			n = snprintf(raw, sizeof(raw), "(a log message of %d "
				     "bytes dropped: out of memory)", n);
	}
	va_end(aq);
	if (n < 0)
		goto out;
	if (n > 0 && text[n - 1] == '\n')
		n--;
	line.level = level;
	line.module = module;
	line.msg = msg;
	pthread_rwlock_rdlock(&state_lock);
	line.msg_len = mfs_log_redact(msg, sizeof(msg), text, (size_t)n,
				      secrets, n_secrets);
	noted = dispatch(&line, note, sizeof(note));
	pthread_rwlock_unlock(&state_lock);
	if (noted && MFS_LOG_WARN <= mfs_log_levels[MFS_LOGM_MAIN])
		mfs_log_write(MFS_LOGM_MAIN, MFS_LOG_WARN, "%s", note);
out:
	free(big);
}

void mfs_log_write(enum mfs_log_module module, enum mfs_log_level level,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_line(mfs_log_module_name(module), level, fmt, ap);
	va_end(ap);
}

int mfs_log_open_sinks(const struct mfs_log_sinks *sinks, char *err,
		       size_t errsize)
{
	struct mfs_log_file *file = NULL;
	struct mfs_log_file *old;
	struct timespec now;
	bool journal;
	bool std_err;
	int rc;

	if (!sinks) {
		mfs_log_close_sinks();
		return 0;
	}
	if (sinks->dir && *sinks->dir) {
		log_now(&now);
		rc = mfs_log_file_open(sinks->dir, now.tv_sec, &file, err,
				       errsize);
		if (rc)
			return rc;
	}
	/* no journald in a container: the socket is missing, no journal */
	journal = sinks->journald && mfs_log_journal_reachable();
	std_err = sinks->stderr_sink &&
		  !(journal && mfs_log_stderr_is_journal());
	if (!file && !journal)
		std_err = true;	/* never log nowhere */

	pthread_rwlock_wrlock(&state_lock);
	old = log_file;
	log_file = file;
	as_json = sinks->json;
	to_journal = journal;
	to_stderr = std_err;
	pthread_rwlock_unlock(&state_lock);
	mfs_log_file_free(old);
	return 0;
}

void mfs_log_close_sinks(void)
{
	struct mfs_log_file *old;

	pthread_rwlock_wrlock(&state_lock);
	old = log_file;
	log_file = NULL;
	as_json = false;
	to_journal = false;
	to_stderr = true;
	pthread_rwlock_unlock(&state_lock);
	mfs_log_file_free(old);
}

void mfs_log_add_secret(const char *secret)
{
	struct mfs_log_secret *v;
	size_t len = secret ? strlen(secret) : 0;
	char *copy;
	size_t i;

	if (len < 4)
		return;
	copy = strdup(secret);
	if (!copy)
		return;
	pthread_rwlock_wrlock(&state_lock);
	for (i = 0; i < n_secrets; i++)
		if (secrets[i].len == len && !memcmp(secrets[i].text, copy, len))
			break;
	v = i == n_secrets ? realloc(secrets, (n_secrets + 1) * sizeof(*v))
			   : NULL;
	if (v) {
		secrets = v;
		secrets[n_secrets].text = copy;
		secrets[n_secrets].len = len;
		n_secrets++;
		copy = NULL;
	}
	pthread_rwlock_unlock(&state_lock);
	if (copy) {
		explicit_bzero(copy, len);
		free(copy);
	}
}

void mfs_log_clear_secrets(void)
{
	struct mfs_log_secret *old;
	size_t n;
	size_t i;

	pthread_rwlock_wrlock(&state_lock);
	old = secrets;
	n = n_secrets;
	secrets = NULL;
	n_secrets = 0;
	pthread_rwlock_unlock(&state_lock);
	for (i = 0; i < n; i++) {
		explicit_bzero(old[i].text, old[i].len);
		free(old[i].text);
	}
	free(old);
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
