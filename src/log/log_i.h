/*
 * log_i.h - shared inside src/log/ only (and by tests/unit/test_log.c).
 *
 * log.c formats a line, redacts it (log_redact.c) and hands it to the
 * sinks: stderr (log.c), the rotated file (log_file.c) and the journal
 * (log_journal.c).  The functions here are pure or own their state, so
 * that the unit test can call each piece directly.
 */
#ifndef MFS_LOG_LOG_I_H
#define MFS_LOG_LOG_I_H

#include "common/mfs.h"
#include "log/log.h"

#include <sys/uio.h>
#include <time.h>

/* Longest message (after redaction) that reaches a sink; longer is cut. */
#define MFS_LOG_MSG_MAX 4000
/* Room for a text line: timestamp, level, module, message, newline. */
#define MFS_LOG_TEXT_MAX (MFS_LOG_MSG_MAX + 128)

/* One line as the sinks get it: filtered and redacted already. */
struct mfs_log_line {
	struct timespec ts;		/* CLOCK_REALTIME */
	enum mfs_log_level level;
	const char *module;		/* "scan", "libfuse" */
	const char *msg;		/* without a final newline */
	size_t msg_len;
};

/* ---- formats (log.c) ---------------------------------------------------- */

/* "2026-11-26T10:00:00.123Z WARN  scan: msg\n" into buf; its length. */
size_t mfs_log_format_text(char *buf, size_t size,
			   const struct mfs_log_line *line);

/*
 * {"ts":"2026-11-26T10:00:00.123Z","level":"warn","module":"scan",
 * "msg":"..."} and a newline into buf; its length.  A size of
 * 6 * msg_len + 256 keeps the whole message (a byte escapes to at most
 * six); with less the message is cut, never the JSON.
 */
size_t mfs_log_format_json(char *buf, size_t size,
			   const struct mfs_log_line *line);

/*
 * The JSON string body of s[0, len) (no quotes) into out: quote, backslash
 * and control characters escaped, each byte that is not part of valid
 * UTF-8 (overlong forms, surrogates and code points above U+10FFFF
 * included) replaced by \ufffd.  Writes at most size bytes, never half an
 * escape, no NUL; returns the bytes written.
 */
size_t mfs_log_json_escape(char *out, size_t size, const char *s, size_t len);

/* ---- redaction (log_redact.c) ------------------------------------------- */

struct mfs_log_secret {
	char *text;
	size_t len;
};

/*
 * Copy in[0, len) into out (size bytes, NUL-terminated, cut if needed)
 * with every occurrence of each secret and every URL userinfo password
 * replaced by "***"; a stretch covered by several overlapping or adjacent
 * occurrences becomes a single "***".  Returns the length written.  Needs
 * memory only for messages longer than 8 KiB; without it the message is
 * replaced by a note saying so (nothing unredacted is ever returned).
 */
size_t mfs_log_redact(char *out, size_t size, const char *in, size_t len,
		      const struct mfs_log_secret *secrets, size_t n_secrets);

/* ---- the rotated file (log_file.c) -------------------------------------- */

#define MFS_LOG_FILE_NAME "musicfs.log"
/* Rotated files kept (musicfs.log.YYYY-MM-DD); older ones are deleted. */
#define MFS_LOG_FILE_KEEP 14

struct mfs_log_file;

/*
 * Create dir (mode 0750, with parents) if missing and open
 * dir/musicfs.log for appending (mode 0640).  now is the current time (the
 * day of a new file).  On success *out is the sink (caller frees with
 * mfs_log_file_free); else a negative errno and a message in err.
 */
int mfs_log_file_open(const char *dir, time_t now, struct mfs_log_file **out,
		      char *err, size_t errsize);

/*
 * Append buf[0, len) as one write, first rotating if when (the line's
 * time) falls on a later local day than the file's.  Thread-safe (the
 * file's mutex).  When the rotation failed, a message for the log is put
 * in note (notesize bytes) and true returned: the caller logs it once the
 * line is written (the line went to the current file anyway).
 */
bool mfs_log_file_write(struct mfs_log_file *f, time_t when, const char *buf,
			size_t len, char *note, size_t notesize);

/* Close and free f (NULL is fine). */
void mfs_log_file_free(struct mfs_log_file *f);

/* ---- the journal (log_journal.c) ---------------------------------------- */

/* The fields of one journal entry; iov points into the struct itself. */
struct mfs_log_journal_entry {
	char message[sizeof("MESSAGE=") + MFS_LOG_MSG_MAX];
	char priority[sizeof("PRIORITY=") + 4];
	char module[sizeof("MUSICFS_MODULE=") + 32];
	struct iovec iov[4];
};

/*
 * Fill e with MESSAGE=, PRIORITY= (syslog's number, TRACE sent as 7),
 * SYSLOG_IDENTIFIER=musicfs and MUSICFS_MODULE=; returns the number of
 * iovecs (what sd_journal_sendv takes).
 */
size_t mfs_log_journal_fields(struct mfs_log_journal_entry *e,
			      const struct mfs_log_line *line);

/* Send line to the journal; errors are ignored (nothing else to tell). */
void mfs_log_journal_send(const struct mfs_log_line *line);

/* Whether the journal's socket exists. */
bool mfs_log_journal_reachable(void);

/*
 * Whether stderr is a journal stream: JOURNAL_STREAM ("DEV:INO", set by
 * systemd for services whose stderr is connected to the journal) names
 * the file stderr is open on.
 */
bool mfs_log_stderr_is_journal(void);

#ifdef MFS_UNIT_TEST
/* Replaces clock_gettime(CLOCK_REALTIME) when set. */
extern void (*mfs_log_test_clock)(struct timespec *ts);
/* The socket whose existence means "a journal is reachable". */
extern const char *mfs_log_journal_socket;
/* Receives the journal's fields instead of sd_journal_sendv when set. */
extern void (*mfs_log_test_journal)(const struct iovec *iov, size_t n);
#endif

#endif
