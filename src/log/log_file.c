/*
 * log_file.c - the log file in log_dir, rotated every local day.
 *
 * The file is <dir>/musicfs.log, opened O_APPEND.  Each line carries its
 * time; the first line whose local day is after the file's day renames
 * the file musicfs.log.YYYY-MM-DD (the file's day: the date of its lines),
 * opens a new musicfs.log and deletes the oldest rotated files beyond
 * MFS_LOG_FILE_KEEP.  The day of a file opened nonempty is the day of its
 * last change (a run that ended yesterday is rotated today).
 *
 * One mutex per file covers the day check, the rotation and the write, so
 * every line lands in the file of its day even with many threads, and a
 * rotation never races a write.  Lines are written whole, with O_APPEND.
 * The directory is held open (dirfd) so that a relative log_dir keeps
 * meaning the same folder after the daemon changes directory.
 *
 * A rotated name already taken (the clock went back) gets a suffix .1 to
 * .9 rather than replacing the older file.  If the rename fails the file
 * keeps growing and the caller is told once per day; if the new file
 * cannot be opened, lines go on to the renamed one and opening is retried
 * a minute later.
 */
#include "common/mfs.h"
#include "common/fdio.h"
#include "log/log_i.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_SIZE 32		/* "YYYY-MM-DD" with room for any int year */
#define RETRY_OPEN_SECS 60

struct mfs_log_file {
	pthread_mutex_t lock;
	int dirfd;		/* the log_dir */
	int fd;			/* musicfs.log; protected by lock */
	char day[DAY_SIZE];	/* local date of fd's lines; protected by lock */
	time_t next_day;	/* start of the day after day; protected by lock */
};

/* The local date of t ("2026-11-26") and the time the next day begins. */
static void local_day(time_t t, char *day, time_t *next)
{
	struct tm tm;
	time_t n;

	if (!localtime_r(&t, &tm)) {
		snprintf(day, DAY_SIZE, "unknown");
		*next = t + 86400;
		return;
	}
	snprintf(day, DAY_SIZE, "%04d-%02d-%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
	tm.tm_hour = 0;
	tm.tm_min = 0;
	tm.tm_sec = 0;
	tm.tm_mday++;
	tm.tm_isdst = -1;
	n = mktime(&tm);
	*next = n > t ? n : t + 86400;
}

/* mkdir -p with mode 0750 for each folder created. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	size_t i;

	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) && errno != EEXIST)
			return -errno;
		if (i < len)
			path[i] = '/';
	}
	return 0;
}

static int open_log(int dirfd)
{
	return openat(dirfd, MFS_LOG_FILE_NAME,
		      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY |
			      O_NONBLOCK,
		      0640);
}

static int open_dir(const char *dir, char *err, size_t errsize)
{
	int fd;
	int rc;

	rc = make_dirs(dir);
	if (rc) {
		snprintf(err, errsize, "cannot create log_dir '%s': %s", dir,
			 strerror(-rc));
		return rc;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOTDIR)
			snprintf(err, errsize, "log_dir '%s' is not a folder",
				 dir);
		else
			snprintf(err, errsize, "cannot open log_dir '%s': %s",
				 dir, strerror(-rc));
	}
	return fd < 0 ? rc : fd;
}

int mfs_log_file_open(const char *dir, time_t now, struct mfs_log_file **out,
		      char *err, size_t errsize)
{
	struct mfs_log_file *f;
	struct stat st;
	int rc;

	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	f->fd = -1;
	f->dirfd = open_dir(dir, err, errsize);
	if (f->dirfd < 0) {
		rc = f->dirfd;
		goto out_free;
	}
	f->fd = open_log(f->dirfd);
	if (f->fd < 0 || fstat(f->fd, &st)) {
		rc = -errno;
		snprintf(err, errsize, "cannot open log file '%s/%s': %s", dir,
			 MFS_LOG_FILE_NAME, strerror(-rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errsize, "log file '%s/%s' is not a regular file",
			 dir, MFS_LOG_FILE_NAME);
		goto out_close;
	}
	local_day(st.st_size > 0 ? st.st_mtime : now, f->day, &f->next_day);
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;

out_close:
	if (f->fd >= 0)
		close(f->fd);
	close(f->dirfd);
out_free:
	free(f);
	return rc;
}

/* "musicfs.log.YYYY-MM-DD" with an optional ".N" (one digit). */
static bool is_rotated_name(const char *name)
{
	static const char pattern[] = "dddd-dd-dd";
	size_t plen = strlen(MFS_LOG_FILE_NAME);
	size_t i;

	if (strncmp(name, MFS_LOG_FILE_NAME ".", plen + 1))
		return false;
	name += plen + 1;
	for (i = 0; i < sizeof(pattern) - 1; i++) {
		if (pattern[i] == 'd' ? name[i] < '0' || name[i] > '9'
				      : name[i] != pattern[i])
			return false;
	}
	name += i;
	return !*name ||
	       (name[0] == '.' && name[1] >= '1' && name[1] <= '9' && !name[2]);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the rotated names of the folder into *names (caller frees). */
static size_t list_rotated(int dirfd, char ***names)
{
	struct dirent *de;
	size_t n = 0;
	size_t cap = 0;
	char **v = NULL;
	char **nv;
	DIR *d;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (;;) {
		de = readdir(d);
		if (!de)
			break;
		if (!is_rotated_name(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n] = strdup(de->d_name);
		if (v[n])
			n++;
	}
	closedir(d);
	*names = v;
	return n;
}

/* Delete the oldest rotated files beyond MFS_LOG_FILE_KEEP. */
static void prune(int dirfd)
{
	char **names = NULL;
	size_t n;
	size_t i;

	n = list_rotated(dirfd, &names);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if (i + MFS_LOG_FILE_KEEP < n)
			unlinkat(dirfd, names[i], 0);
		free(names[i]);
	}
	free(names);
}

/* Rename musicfs.log to musicfs.log.<day>[.N] without replacing a file. */
static int rename_current(struct mfs_log_file *f, char *name, size_t size)
{
	int i;

	for (i = 0; i <= 9; i++) {
		if (i == 0)
			snprintf(name, size, "%s.%s", MFS_LOG_FILE_NAME, f->day);
		else
			snprintf(name, size, "%s.%s.%d", MFS_LOG_FILE_NAME,
				 f->day, i);
		if (!renameat2(f->dirfd, MFS_LOG_FILE_NAME, f->dirfd, name,
			       RENAME_NOREPLACE))
			return 0;
		if (errno == EINVAL || errno == ENOSYS)
			break;	/* no RENAME_NOREPLACE here: plain rename */
		if (errno != EEXIST)
			return -errno;
	}
	if (!renameat(f->dirfd, MFS_LOG_FILE_NAME, f->dirfd, name))
		return 0;
	return -errno;
}

/* Called with f->lock held; true (and a note) if something failed. */
static bool rotate(struct mfs_log_file *f, time_t now, char *note,
		   size_t notesize)
{
	char name[sizeof(MFS_LOG_FILE_NAME) + DAY_SIZE + 4];
	int rc;
	int fd;

	rc = rename_current(f, name, sizeof(name));
	if (rc && rc != -ENOENT) {
		local_day(now, f->day, &f->next_day);
		snprintf(note, notesize, "cannot rotate the log: cannot rename "
			 "'%s' to '%s': %s", MFS_LOG_FILE_NAME, name,
			 strerror(-rc));
		return true;
	}
	local_day(now, f->day, &f->next_day);
	fd = open_log(f->dirfd);
	if (fd < 0) {
		rc = -errno;
		f->next_day = now + RETRY_OPEN_SECS;
		snprintf(note, notesize, "cannot open a new '%s' (retrying in "
			 "a minute): %s", MFS_LOG_FILE_NAME, strerror(-rc));
		return true;
	}
	close(f->fd);
	f->fd = fd;
	prune(f->dirfd);
	return false;
}

bool mfs_log_file_write(struct mfs_log_file *f, time_t when, const char *buf,
			size_t len, char *note, size_t notesize)
{
	bool noted = false;

	pthread_mutex_lock(&f->lock);
	if (when >= f->next_day)
		noted = rotate(f, when, note, notesize);
	/* a full disk: nowhere to say so */
	(void)mfs_write_full(f->fd, buf, len);
	pthread_mutex_unlock(&f->lock);
	return noted;
}

void mfs_log_file_free(struct mfs_log_file *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	close(f->fd);
	close(f->dirfd);
	free(f);
}
