/*
 * log_journal.c - the systemd journal as a sink, with structured fields.
 *
 * Each line becomes one entry: MESSAGE (the redacted message, without
 * timestamp or level: the journal has both), PRIORITY (syslog's number;
 * TRACE has none and is sent as 7, debug), SYSLOG_IDENTIFIER=musicfs and
 * MUSICFS_MODULE (the subsystem, or "libfuse").  CODE_FILE/CODE_LINE are
 * not sent: mfs_log() does not carry them.
 *
 * "A journal is reachable" means its socket exists; where it does not (a
 * container without journald, like the one MusicFS is developed in) the
 * sink is left out when sinks are opened and the others carry the log.
 * The entries themselves go through sd_journal_sendv, which is
 * thread-safe and opens its socket once.
 */
#include "common/mfs.h"
#include "common/sd.h"
#include "log/log_i.h"

#include <sys/stat.h>
/* else sd_journal_sendv adds CODE_FILE=log_journal.c: true, and useless */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <unistd.h>

#ifdef MFS_UNIT_TEST
const char *mfs_log_journal_socket = "/run/systemd/journal/socket";
void (*mfs_log_test_journal)(const struct iovec *iov, size_t n);
#define JOURNAL_SOCKET mfs_log_journal_socket
#else
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#endif

static const char ident[] = "SYSLOG_IDENTIFIER=musicfs";

/* "PREFIX" + value into field (size bytes); its length. */
static size_t field(char *buf, size_t size, const char *prefix,
		    const char *value, size_t len)
{
	size_t plen = strlen(prefix);

	len = MFS_MIN(len, size - plen - 1);
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, value, len);
	buf[plen + len] = '\0';
	return plen + len;
}

size_t mfs_log_journal_fields(struct mfs_log_journal_entry *e,
			      const struct mfs_log_line *line)
{
	int priority = MFS_MIN((int)line->level, 7);
	int n;

	e->iov[0].iov_base = e->message;
	e->iov[0].iov_len = field(e->message, sizeof(e->message), "MESSAGE=",
				  line->msg, line->msg_len);
	n = snprintf(e->priority, sizeof(e->priority), "PRIORITY=%d",
		     priority);
	e->iov[1].iov_base = e->priority;
	e->iov[1].iov_len = (size_t)MFS_MAX(n, 0);
	e->iov[2].iov_base = (void *)ident;
	e->iov[2].iov_len = sizeof(ident) - 1;
	e->iov[3].iov_base = e->module;
	e->iov[3].iov_len = field(e->module, sizeof(e->module),
				  "MUSICFS_MODULE=", line->module,
				  strlen(line->module));
	return MFS_ARRAY_SIZE(e->iov);
}

void mfs_log_journal_send(const struct mfs_log_line *line)
{
	struct mfs_log_journal_entry e;
	size_t n;

	n = mfs_log_journal_fields(&e, line);
#ifdef MFS_UNIT_TEST
	if (mfs_log_test_journal) {
		mfs_log_test_journal(e.iov, n);
		return;
	}
#endif
	(void)mfs_sd_journal_sendv(e.iov, (int)n);
}

bool mfs_log_journal_reachable(void)
{
	struct stat st;

	return !stat(JOURNAL_SOCKET, &st) && S_ISSOCK(st.st_mode);
}

bool mfs_log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev;
	unsigned long long ino;
	struct stat st;
	int end = 0;

	if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    env[end] || fstat(STDERR_FILENO, &st))
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}
