/*
 * daemon.c - start-up and shut-down of a mount (see daemon.h).
 *
 * Order matters: the lock is taken before anything touches the cache dir
 * (so a second instance fails fast with a clear message, and the catalog
 * is never opened by two writers); the process detaches before any thread
 * starts (fork keeps only the calling thread); the catalog is open before
 * the mount, so the previous tree is served at once; the scanner starts
 * after the mount.  On the way out the scanner stops first (it may call
 * into the FUSE session), then the session is unmounted.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_DAEMON
#include "log/log.h"
#include "cache/runtime.h"
#include "catalog/catalog.h"
#include "collections/collections.h"
#include "daemon/daemon_i.h"
#include "events/events.h"
#include "fuse/mfs_fuse.h"
#include "origins/origins.h"
#include "scan/scan.h"
#include "tree/tree.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAEMON_ENTRY_TIMEOUT 3600.0

static struct daemon *signal_daemon;	/* for the SIGHUP handler */

static void on_sighup(int sig)
{
	(void)sig;
	if (signal_daemon)
		services_sighup(signal_daemon);
}

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Credentials reach MusicFS through the environment (AWS_SECRET_ACCESS_KEY,
 * SMB or SFTP passwords, tokens): their values are registered with the
 * log so that no line, whatever module writes it, can carry them.
 */
static void register_env_secrets(void)
{
	static const char *const marks[] = { "PASSWORD", "SECRET", "TOKEN",
					     "ACCESS_KEY", "PASSPHRASE" };
	extern char **environ;
	char **e;
	size_t i;

	for (e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq)
			continue;
		for (i = 0; i < MFS_ARRAY_SIZE(marks); i++) {
			const char *hit = strstr(*e, marks[i]);

			if (hit && hit < eq) {
				mfs_log_add_secret(eq + 1);
				break;
			}
		}
	}
}

int daemon_open_log_sinks(const struct config *cfg, bool foreground,
			  char *err, size_t errsize)
{
	/*
	 * Detached, stderr is cache_dir/musicfs.log: with a log_dir as well,
	 * every line would be written twice (or twice to one file).
	 */
	const struct mfs_log_sinks sinks = {
		.dir = cfg->logging.log_dir,
		.json = cfg->logging.json_output,
		.journald = cfg->logging.journald,
		.stderr_sink = foreground || !cfg->logging.log_dir ||
			       !*cfg->logging.log_dir,
	};

	return mfs_log_open_sinks(&sinks, err, errsize);
}

/*
 * Every open file of the mount holds an origin descriptor: raise the soft
 * limit on descriptors to the hard one so thousands of open handles work.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			mfs_log(MFS_LOG_DEBUG, "cannot raise RLIMIT_NOFILE: %s",
				strerror(errno));
	}
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *copy = strdup(path);
	char *p;
	char saved;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; !rc; p++) {
		if (*p != '/' && *p)
			continue;
		saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) && errno != EEXIST)
			rc = -errno;
		*p = saved;
		if (!saved)
			break;
	}
	free(copy);
	return rc;
}

/* Take the single-instance lock; a clear message if someone holds it. */
static int take_lock(struct daemon *d)
{
	char pid[32] = "";
	ssize_t n;
	int fd;

	fd = open(d->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return mfs_error(-errno, "cannot open '%s': %s", d->lock_path,
				 strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		fd = open(d->pid_path, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, pid, sizeof(pid) - 1) : -1;
		if (fd >= 0)
			close(fd);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return mfs_error(-EBUSY,
				 "cache dir '%s' is in use by another musicfs "
				 "(pid %s): unmount it first or use another "
				 "--cache-dir",
				 d->cfg->cache_dir, *pid ? pid : "unknown");
	}
	d->lock_fd = fd;
	return 0;
}

static int write_pid(struct daemon *d)
{
	char pid[32];
	int fd, len;

	fd = open(d->pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return mfs_error(-errno, "cannot write '%s': %s", d->pid_path,
				 strerror(errno));
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (write(fd, pid, (size_t)len) != len) {
		close(fd);
		return mfs_error(-EIO, "cannot write '%s'", d->pid_path);
	}
	close(fd);
	return 0;
}

/*
 * Fork: the parent waits on a pipe until the child reports the mount live
 * (exit 0) or fails (the pipe closes without a word: exit 1).  The child
 * leaves the terminal's session.
 */
static int detach(struct daemon *d)
{
	int p[2];
	char ok = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return mfs_error(-errno, "cannot create a pipe: %s",
				 strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return mfs_error(-errno, "cannot fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &ok, 1) < 0 && errno == EINTR)
			;
		_exit(ok == '1' ? 0 : 1);
	}
	close(p[0]);
	setsid();
	d->ready_fd = p[1];
	return 0;
}

/* Tell the waiting parent (if any) that the mount is live; detach stdio. */
static void report_ready(struct daemon *d)
{
	char *log_path;
	int fd;

	if (d->ready_fd < 0)
		return;
	log_path = str_printf("%s/musicfs.log", d->cfg->cache_dir);
	fd = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			     0600) : -1;
	free(log_path);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	if (write(d->ready_fd, "1", 1) != 1)
		mfs_log(MFS_LOG_WARN, "cannot reach the starting process");
	close(d->ready_fd);
	d->ready_fd = -1;
}

static int cmp_priority(const void *a, const void *b)
{
	const struct origin *x = *(struct origin *const *)a;
	const struct origin *y = *(struct origin *const *)b;

	return (x->priority > y->priority) - (x->priority < y->priority);
}

/* Open every enabled origin MusicFS can read and register it in the catalog. */
static int open_origins(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct origin *o;
	size_t i;
	int rc;

	d->origins = calloc(cfg->n_origins ? cfg->n_origins : 1,
			    sizeof(*d->origins));
	if (!d->origins)
		return -ENOMEM;
	for (i = 0; i < cfg->n_origins; i++) {
		const struct config_origin *co = &cfg->origins[i];

		if (!co->enabled)
			continue;
		if (co->type == CONFIG_ORIGIN_S3 || co->type == CONFIG_ORIGIN_SFTP) {
			mfs_log(MFS_LOG_WARN, "origin '%s': type '%s' is not "
					      "supported yet, skipped",
				co->id, config_origin_type_name(co->type));
			continue;
		}
		rc = origin_open_local(co->id, co->path, co->priority, &o);
		if (rc)
			return rc;
		o->cached = cfg->cache.cache_local_origins;
		if (origin_probe(o))
			mfs_log(MFS_LOG_WARN, "origin '%s': '%s' is not "
					      "reachable now; its files stay "
					      "listed from the catalog",
				o->id, o->root);
		d->origins[d->n_origins++] = o;
	}
	if (!d->n_origins)
		return mfs_error(-EINVAL, "no usable origin to mount");
	qsort(d->origins, d->n_origins, sizeof(*d->origins), cmp_priority);
	return 0;
}

static int register_origins(struct daemon *d)
{
	size_t i;
	int rc;

	rc = catalog_begin(d->writer);
	for (i = 0; !rc && i < d->n_origins; i++) {
		struct origin *o = d->origins[i];

		rc = catalog_origin_ensure(d->writer, o->id, "local", o->root,
					   &o->catalog_id);
	}
	if (rc) {
		catalog_rollback(d->writer);
		return rc;
	}
	return catalog_commit(d->writer);
}

/*
 * The chunk cache (and the event bus it reports evictions on): before the
 * mount, whose reads of cached origins go through it.
 */
static int open_cache(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct cache_config cc = {
		.cache_dir = cfg->cache_dir,
		.db_path = d->db_path,
		.verify_sha256 = cfg->cache.verify_sha256,
		.budget_bytes = cfg->cache.content_cache_mb > 0
					? (uint64_t)cfg->cache.content_cache_mb << 20
					: (uint64_t)cfg->cache.content_cache_gb << 30,
	};
	int rc = event_bus_new(DAEMON_EVENT_BUS_CAPACITY, &d->bus);

	return rc ? rc : cache_open(&cc, d->bus, &d->cache);
}

/* Catalog, origins, mount and scanner: everything up to the live mount. */
static int start(struct daemon *d, const struct daemon_options *opts)
{
	const struct config *cfg = d->cfg;
	struct mfs_fuse_config fc = { 0 };
	struct collections_listener coll_listener;
	struct tree_listener listener;
	struct tree *tree = NULL;
	int64_t cache_kb = cfg->cache.metadata_cache_mb * 1024;
	char err[256];
	int rc;

	/* metadata_cache_mb bounds SQLite's page caches, all connections */
	catalog_limit_memory(cfg->cache.metadata_cache_mb << 20);
	rc = open_origins(d);
	if (!rc)
		rc = catalog_open(d->db_path, CATALOG_WRITER, cache_kb / 4,
				  &d->writer);
	if (!rc)
		rc = register_origins(d);
	if (!rc) {
		rc = tree_new(d->writer, cfg->path_template, &tree, err,
			      sizeof(err));
		if (rc == -EINVAL)
			mfs_log(MFS_LOG_ERROR, "path_template: %s", err);
	}
	if (!rc)
		rc = open_cache(d);
	if (!rc) {
		/* after the writer made the schema: the API's are read */
		rc = collections_new(d->db_path, cfg, &d->collections, err,
				     sizeof(err));
		if (rc == -EINVAL)
			mfs_log(MFS_LOG_ERROR, "collections: %s", err);
	}
	if (rc) {
		tree_free(tree);
		return rc;
	}
	fc.mountpoint = cfg->mount_point;
	fc.cache = d->cache;
	fc.collections = d->collections;
	fc.db_path = d->db_path;
	/* readers mostly need the upper index pages: SQLite's default size */
	fc.db_cache_kb = 2048;
	fc.origins = d->origins;
	fc.n_origins = d->n_origins;
	fc.xattrs = cfg->tag_xattrs;
	fc.timeout = DAEMON_ENTRY_TIMEOUT;
	fc.debug = opts->debug_fuse;
	rc = mfs_fuse_new(&fc, &d->fuse);
	if (!rc)
		rc = scan_new(d->writer, tree, d->origins, d->n_origins,
			      &d->scan);
	if (rc) {
		tree_free(tree);
		return rc;
	}
	d->writer = NULL;	/* the scanner owns it now, and the tree */
	mfs_fuse_listener(d->fuse, &listener);
	tree_set_listener(tree, &listener);
	mfs_fuse_collections_listener(d->fuse, &coll_listener);
	collections_set_listener(d->collections, &coll_listener);
	mfs_fuse_set_scan(d->fuse, d->scan);
	rc = services_start_background(d);
	if (!rc)
		rc = services_start_control(d);
	return rc;
}

static void stop(struct daemon *d)
{
	size_t i;

	signal_daemon = NULL;
	services_stop(d);		/* the API, then every task */
	scan_free(d->scan);
	mfs_fuse_free(d->fuse);		/* unmounts */
	collections_free(d->collections);	/* FUSE and the API used it */
	cache_close(d->cache);
	event_bus_free(d->bus);
	catalog_close(&d->writer);
	for (i = 0; i < d->n_origins; i++)
		origin_free(d->origins[i]);
	free(d->origins);
	if (d->pid_path)
		unlink(d->pid_path);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->lock_path);
	free(d->pid_path);
	free(d->db_path);
	free(d->socket_path);
}

int daemon_run(const struct config *cfg, const struct daemon_options *opts)
{
	struct daemon d = { .cfg = cfg, .lock_fd = -1, .ready_fd = -1,
			    .reload_fd = -1 };
	char err[512];
	int rc;

	d.start_unix_ms = unix_ms();
	d.foreground = opts->foreground;
	d.log_overrides = opts->log_overrides;
	d.lock_path = str_printf("%s/musicfs.lock", cfg->cache_dir);
	d.pid_path = str_printf("%s/musicfs.pid", cfg->cache_dir);
	d.db_path = str_printf("%s/musicfs.db", cfg->cache_dir);
	d.socket_path = str_printf("%s/musicfs.sock", cfg->cache_dir);
	if (!d.lock_path || !d.pid_path || !d.db_path || !d.socket_path)
		return 1;
	rc = mkdir_p(cfg->cache_dir, 0700);
	if (rc) {
		mfs_log(MFS_LOG_ERROR, "cannot create cache dir '%s': %s",
			cfg->cache_dir, strerror(-rc));
		goto out;
	}
	raise_fd_limit();
	rc = take_lock(&d);
	/* gRPC does not survive a fork: detach before anything starts it */
	if (!rc && !opts->foreground)
		rc = detach(&d);
	if (!rc)
		rc = write_pid(&d);
	if (!rc) {
		register_env_secrets();
		rc = daemon_open_log_sinks(cfg, opts->foreground, err,
					   sizeof(err));
		if (rc)
			mfs_log(MFS_LOG_ERROR, "logging: %s", err);
	}
	if (!rc)
		rc = start(&d, opts);
	if (rc)
		goto out;
	signal_daemon = &d;
	signal(SIGHUP, on_sighup);
	signal(SIGPIPE, SIG_IGN);
	mfs_log(MFS_LOG_INFO, "musicfs %s mounted on '%s' (%zu origin(s), "
			      "catalog '%s')",
		MUSICFS_VERSION, cfg->mount_point, d.n_origins, d.db_path);
	report_ready(&d);
	notify_ready();
	rc = mfs_fuse_loop(d.fuse);
	notify_stopping();
	mfs_log(MFS_LOG_INFO, "unmounting '%s'", cfg->mount_point);
out:
	if (d.lock_fd < 0 || rc == -EBUSY)
		d.pid_path = (free(d.pid_path), NULL);	/* not ours */
	stop(&d);
	return rc ? 1 : 0;
}
