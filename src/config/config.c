/*
 * config.c - the MusicFS configuration: defaults, the TOML schema, checks.
 *
 * A config file is parsed into a TOML tree (toml.c) and then walked with
 * tables of options (struct opt): each known key names its type, where it
 * goes in struct config (or struct config_origin) and its valid range.
 * A key that no table knows is logged as a warning and skipped, so a file
 * written for a newer MusicFS still loads; a key of the wrong type or out
 * of range fails the whole load with "FILE:LINE:COL: key 'x' must be ...".
 *
 * Loading is all or nothing: the file is applied to a copy of the caller's
 * config, which replaces the original only when every key was accepted, so
 * a bad reload leaves the running configuration as it was.  An [[origins]]
 * list in a file replaces the origins cfg held, a [[collections]] list the
 * collections.  [plugins] is accepted and ignored until the plugin loader
 * exists.
 */
#define MFS_LOG_MODULE MFS_LOGM_CONFIG

#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "config/config.h"
#include "log/log.h"

#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <unistd.h>

/* Config files larger than this are refused: they are a few KiB, and the
 * cap bounds the memory a parse can take (about 30 bytes per input byte). */
#define CONFIG_MAX_FILE (1 << 20)

#define CONFIG_DEFAULT_TEMPLATE \
	"$albumartist/$album ($year) [$format_upper]/$track - $title.$format"

static const char *const origin_type_names[CONFIG_ORIGIN_TYPE_COUNT] = {
	[CONFIG_ORIGIN_LOCAL] = "local",
	[CONFIG_ORIGIN_NFS] = "nfs",
	[CONFIG_ORIGIN_SMB] = "smb",
	[CONFIG_ORIGIN_S3] = "s3",
	[CONFIG_ORIGIN_SFTP] = "sftp",
};

const char *config_origin_type_name(enum config_origin_type type)
{
	if ((unsigned)type >= CONFIG_ORIGIN_TYPE_COUNT)
		return "unknown";
	return origin_type_names[type];
}

/* Origins of these types read a path the OS mounted. */
static bool origin_needs_path(enum config_origin_type type)
{
	return type == CONFIG_ORIGIN_LOCAL || type == CONFIG_ORIGIN_NFS ||
	       type == CONFIG_ORIGIN_SMB;
}

/* ---- defaults, copies and release -------------------------------------- */

/*
 * The default cache directory of a process running as euid:
 * /var/cache/musicfs for root, else $XDG_CACHE_HOME/musicfs or
 * ~/.cache/musicfs.  Caller frees; NULL if there is no home directory (or
 * no memory).  Testable so that tests running as root cover the rest.
 */
MFS_TESTABLE char *config_default_cache_dir(uid_t euid);

MFS_TESTABLE char *config_default_cache_dir(uid_t euid)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	struct passwd pw;
	struct passwd *res = NULL;
	char pwbuf[4096];

	if (euid == 0)
		return str_dup("/var/cache/musicfs");
	/* the XDG spec says to ignore a relative path */
	if (xdg && xdg[0] == '/')
		return str_printf("%s/musicfs", xdg);
	if (str_empty(home) &&
	    !getpwuid_r(euid, &pw, pwbuf, sizeof(pwbuf), &res) && res)
		home = res->pw_dir;
	if (str_empty(home))
		return NULL;
	return str_printf("%s/.cache/musicfs", home);
}

void config_init(struct config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cache_dir = config_default_cache_dir(geteuid());
	cfg->path_template = str_dup(CONFIG_DEFAULT_TEMPLATE);
	cfg->tag_xattrs = false;
	cfg->grpc_port = 50052;
	cfg->grpc_address = str_dup("127.0.0.1");
	cfg->grpc_allow_remote = false;
	cfg->metrics_port = 50053;
	cfg->cache.metadata_cache_mb = 100;
	cfg->cache.content_cache_gb = 10;
	cfg->cache.cache_local_origins = false;
	cfg->cache.verify_sha256 = false;
	cfg->health.check_interval_secs = 30;
	cfg->health.timeout_ms = 5000;
	cfg->health.unhealthy_threshold = 3;
	for (i = 0; i < CONFIG_ORIGIN_TYPE_COUNT; i++)
		cfg->health.per_origin_thresholds[i] = -1;
	cfg->logging.level = str_dup("info");
	cfg->logging.journald = true;	/* used only where a journal runs */
	cfg->logging.trace_sample_rate = 1.0;
}

static void origin_release(struct config_origin *o)
{
	free(o->id);
	free(o->path);
	free(o->host);
	free(o->user);
	free(o->bucket);
	free(o->region);
	free(o->endpoint);
	free(o->export_path);
	free(o->share);
}

static void origins_free(struct config_origin *origins, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		origin_release(&origins[i]);
	free(origins);
}

static void collections_free(struct config_collection *cols, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(cols[i].name);
		free(cols[i].query);
	}
	free(cols);
}

void config_release(struct config *cfg)
{
	free(cfg->mount_point);
	free(cfg->cache_dir);
	free(cfg->path_template);
	free(cfg->grpc_address);
	free(cfg->config_path);
	origins_free(cfg->origins, cfg->n_origins);
	collections_free(cfg->collections, cfg->n_collections);
	free(cfg->logging.log_dir);
	free(cfg->logging.level);
	memset(cfg, 0, sizeof(*cfg));
}

/* *dst = copy of src; false on ENOMEM (then *dst is NULL). */
static bool dup_str(char **dst, const char *src)
{
	*dst = str_dup(src);
	return !src || *dst;
}

static int origin_copy(struct config_origin *dst,
		       const struct config_origin *src)
{
	bool ok;

	*dst = *src;
	ok = dup_str(&dst->id, src->id);
	ok &= dup_str(&dst->path, src->path);
	ok &= dup_str(&dst->host, src->host);
	ok &= dup_str(&dst->user, src->user);
	ok &= dup_str(&dst->bucket, src->bucket);
	ok &= dup_str(&dst->region, src->region);
	ok &= dup_str(&dst->endpoint, src->endpoint);
	ok &= dup_str(&dst->export_path, src->export_path);
	ok &= dup_str(&dst->share, src->share);
	if (ok)
		return 0;
	origin_release(dst);
	return -ENOMEM;
}

/* dst->collections = a copy of src's (dst holds none).  false on ENOMEM. */
static bool collections_copy(struct config *dst, const struct config *src)
{
	size_t i;
	bool ok = true;

	if (!src->n_collections)
		return true;
	dst->collections = calloc(src->n_collections,
				  sizeof(*dst->collections));
	if (!dst->collections)
		return false;
	for (i = 0; ok && i < src->n_collections; i++) {
		dst->collections[i].line = src->collections[i].line;
		ok = dup_str(&dst->collections[i].name,
			     src->collections[i].name);
		ok &= dup_str(&dst->collections[i].query,
			      src->collections[i].query);
		dst->n_collections++;
	}
	return ok;
}

/* A deep copy of src into dst (which holds nothing).  0 or -ENOMEM. */
static int config_copy(struct config *dst, const struct config *src)
{
	size_t i;
	bool ok;

	*dst = *src;
	dst->origins = NULL;
	dst->n_origins = 0;
	dst->collections = NULL;
	dst->n_collections = 0;
	ok = dup_str(&dst->mount_point, src->mount_point);
	ok &= dup_str(&dst->cache_dir, src->cache_dir);
	ok &= dup_str(&dst->path_template, src->path_template);
	ok &= dup_str(&dst->grpc_address, src->grpc_address);
	ok &= dup_str(&dst->config_path, src->config_path);
	ok &= dup_str(&dst->logging.log_dir, src->logging.log_dir);
	ok &= dup_str(&dst->logging.level, src->logging.level);
	if (ok && src->n_origins) {
		dst->origins = calloc(src->n_origins, sizeof(*dst->origins));
		ok = dst->origins != NULL;
	}
	for (i = 0; ok && i < src->n_origins; i++) {
		ok = !origin_copy(&dst->origins[i], &src->origins[i]);
		dst->n_origins += ok;
	}
	ok = ok && collections_copy(dst, src);
	if (ok)
		return 0;
	config_release(dst);
	return -ENOMEM;
}

/* ---- the schema ---------------------------------------------------------- */

enum opt_kind {
	OPT_STRING,	/* char * */
	OPT_BOOL,	/* bool */
	OPT_INT,	/* int in [min, max] */
	OPT_INT64,	/* int64_t in [min, max] */
	OPT_RATE,	/* double in [0, 1], written as a float or an integer */
	OPT_LOG_FILTER,	/* char *, a filter spec for mfs_log_set_filter */
	OPT_ORIGIN_TYPE, /* enum config_origin_type, by name */
	OPT_TABLE,	/* a table of the options in sub */
	OPT_ORIGINS,	/* the [[origins]] array */
	OPT_COLLECTIONS, /* the [[collections]] array */
	OPT_IGNORE,	/* accepted and ignored */
};

struct opt {
	const char *key;
	enum opt_kind kind;
	size_t offset;		/* in the struct being filled */
	int64_t min;
	int64_t max;
	const struct opt *sub;	/* OPT_TABLE */
};

#define OPT(key, kind, type, field) \
	{ key, kind, offsetof(type, field), 0, 0, NULL }
#define OPT_RANGE(key, kind, type, field, min, max) \
	{ key, kind, offsetof(type, field), min, max, NULL }
#define OPT_SUB(key, sub) { key, OPT_TABLE, 0, 0, 0, sub }
#define OPT_END { NULL, OPT_IGNORE, 0, 0, 0, NULL }

#define THRESHOLD(name, type)                                            \
	OPT_RANGE(name, OPT_INT, struct config,                          \
		  health.per_origin_thresholds[type], 1, INT_MAX)

static const struct opt per_origin_opts[] = {
	THRESHOLD("local", CONFIG_ORIGIN_LOCAL),
	THRESHOLD("nfs", CONFIG_ORIGIN_NFS),
	THRESHOLD("smb", CONFIG_ORIGIN_SMB),
	THRESHOLD("s3", CONFIG_ORIGIN_S3),
	THRESHOLD("sftp", CONFIG_ORIGIN_SFTP),
	OPT_END
};

static const struct opt health_opts[] = {
	OPT_RANGE("check_interval_secs", OPT_INT, struct config,
		  health.check_interval_secs, 1, 86400),
	OPT_RANGE("timeout_ms", OPT_INT, struct config, health.timeout_ms, 1,
		  INT_MAX),
	OPT_RANGE("unhealthy_threshold", OPT_INT, struct config,
		  health.unhealthy_threshold, 1, INT_MAX),
	OPT_SUB("per_origin_thresholds", per_origin_opts),
	OPT_END
};

/* Sizes stay below INT64_MAX once multiplied out to bytes. */
static const struct opt cache_opts[] = {
	OPT_RANGE("metadata_cache_mb", OPT_INT64, struct config,
		  cache.metadata_cache_mb, 0, INT64_MAX >> 20),
	OPT_RANGE("content_cache_gb", OPT_INT64, struct config,
		  cache.content_cache_gb, 0, INT64_MAX >> 30),
	OPT_RANGE("content_cache_mb", OPT_INT64, struct config,
		  cache.content_cache_mb, 0, INT64_MAX >> 20),
	OPT("cache_local_origins", OPT_BOOL, struct config,
	    cache.cache_local_origins),
	OPT("verify_sha256", OPT_BOOL, struct config, cache.verify_sha256),
	OPT_END
};

static const struct opt logging_opts[] = {
	OPT("log_dir", OPT_STRING, struct config, logging.log_dir),
	OPT("json_output", OPT_BOOL, struct config, logging.json_output),
	OPT("journald", OPT_BOOL, struct config, logging.journald),
	OPT("level", OPT_LOG_FILTER, struct config, logging.level),
	OPT("trace_sample_rate", OPT_RATE, struct config,
	    logging.trace_sample_rate),
	OPT_END
};

static const struct opt origin_opts[] = {
	OPT("id", OPT_STRING, struct config_origin, id),
	OPT("origin_type", OPT_ORIGIN_TYPE, struct config_origin, type),
	OPT_RANGE("priority", OPT_INT, struct config_origin, priority, 0,
		  INT_MAX),
	OPT("enabled", OPT_BOOL, struct config_origin, enabled),
	OPT("path", OPT_STRING, struct config_origin, path),
	OPT("host", OPT_STRING, struct config_origin, host),
	OPT_RANGE("port", OPT_INT, struct config_origin, port, 1, 65535),
	OPT("user", OPT_STRING, struct config_origin, user),
	OPT("username", OPT_STRING, struct config_origin, user),
	OPT("bucket", OPT_STRING, struct config_origin, bucket),
	OPT("region", OPT_STRING, struct config_origin, region),
	OPT("endpoint", OPT_STRING, struct config_origin, endpoint),
	OPT("export", OPT_STRING, struct config_origin, export_path),
	OPT("share", OPT_STRING, struct config_origin, share),
	OPT_END
};

static const struct opt collection_opts[] = {
	OPT("name", OPT_STRING, struct config_collection, name),
	OPT("query", OPT_STRING, struct config_collection, query),
	OPT_END
};

static const struct opt top_opts[] = {
	OPT("mount_point", OPT_STRING, struct config, mount_point),
	OPT("cache_dir", OPT_STRING, struct config, cache_dir),
	OPT("path_template", OPT_STRING, struct config, path_template),
	OPT("tag_xattrs", OPT_BOOL, struct config, tag_xattrs),
	OPT_RANGE("grpc_port", OPT_INT, struct config, grpc_port, 0, 65535),
	OPT("grpc_address", OPT_STRING, struct config, grpc_address),
	OPT("grpc_allow_remote", OPT_BOOL, struct config, grpc_allow_remote),
	OPT_RANGE("metrics_port", OPT_INT, struct config, metrics_port, 0,
		  65535),
	{ "origins", OPT_ORIGINS, 0, 0, 0, NULL },
	{ "collections", OPT_COLLECTIONS, 0, 0, 0, NULL },
	OPT_SUB("cache", cache_opts),
	OPT_SUB("health", health_opts),
	OPT_SUB("logging", logging_opts),
	{ "plugins", OPT_IGNORE, 0, 0, 0, NULL },
	OPT_END
};

/* ---- applying a TOML tree ------------------------------------------------ */

struct load {
	const char *filename;
	char *err;
	size_t errsize;
};

static int load_err(struct load *l, const struct toml_value *v,
		    const char *fmt, ...) MFS_PRINTF(3, 4);

/* "FILE:LINE:COL: message" about v into l->err.  Returns -EINVAL. */
static int load_err(struct load *l, const struct toml_value *v,
		    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!l->err || !l->errsize)
		return -EINVAL;
	n = snprintf(l->err, l->errsize, "%s:%d:%d: ", l->filename,
		     toml_line(v), toml_col(v));
	if (n < 0 || (size_t)n >= l->errsize)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errsize - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* prefix.key into buf for messages, with control bytes made harmless. */
static const char *key_name(const char *prefix, const char *key, char *buf,
			    size_t size)
{
	size_t i;

	snprintf(buf, size, "%s%s%s", prefix ? prefix : "",
		 prefix ? "." : "", key);
	for (i = 0; buf[i]; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

static int set_string(struct load *l, const struct toml_value *v,
		      const char *name, char **field)
{
	const char *s;
	size_t len;
	char *copy;

	s = toml_string(v, &len);
	if (!s)
		return load_err(l, v, "key '%s' must be a string", name);
	if (strlen(s) != len)
		return load_err(l, v, "key '%s' must not contain NUL", name);
	copy = str_ndup(s, len);
	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int set_int(struct load *l, const struct opt *o,
		   const struct toml_value *v, const char *name, void *field)
{
	int64_t i = toml_int(v);

	if (toml_type_of(v) != TOML_INTEGER)
		return load_err(l, v, "key '%s' must be an integer", name);
	if (i < o->min || i > o->max)
		return load_err(l, v, "key '%s' must be between %" PRId64
				" and %" PRId64, name, o->min, o->max);
	if (o->kind == OPT_INT)
		*(int *)field = (int)i;
	else
		*(int64_t *)field = i;
	return 0;
}

static int set_rate(struct load *l, const struct toml_value *v,
		    const char *name, double *field)
{
	double d;

	if (toml_type_of(v) == TOML_INTEGER)
		d = (double)toml_int(v);
	else if (toml_type_of(v) == TOML_FLOAT)
		d = toml_float(v);
	else
		return load_err(l, v, "key '%s' must be a number", name);
	if (!(d >= 0.0 && d <= 1.0))
		return load_err(l, v, "key '%s' must be between 0.0 and 1.0",
				name);
	*field = d;
	return 0;
}

/* One trimmed item of a log filter: LEVEL, MODULE=LEVEL or nothing. */
static bool log_item_valid(const char *item, size_t len)
{
	const char *eq = memchr(item, '=', len);
	enum mfs_log_level level;
	const char *module;
	char name[32];
	size_t n;
	int m;

	if (!len)
		return true;
	n = eq ? (size_t)(item + len - eq - 1) : len;
	if (n >= sizeof(name))
		return false;
	memcpy(name, eq ? eq + 1 : item, n);
	name[n] = '\0';
	if (mfs_log_parse_level(name, &level))
		return false;
	if (!eq)
		return true;
	n = (size_t)(eq - item);
	if (n == 7 && !strncmp(item, "musicfs", 7))
		return true;
	for (m = 0; m < MFS_LOGM_COUNT; m++) {
		module = mfs_log_module_name(m);
		if (strlen(module) == n && !strncasecmp(module, item, n))
			return true;
	}
	return false;
}

/*
 * Whether mfs_log_set_filter() would accept spec (checked here rather than
 * by setting the filter, which other threads may be reading).
 */
static bool log_filter_valid(const char *spec)
{
	const char *item;
	size_t len;
	size_t n;

	while (*spec) {
		len = strcspn(spec, ",");
		item = spec;
		n = len;
		while (n && (*item == ' ' || *item == '\t')) {
			item++;
			n--;
		}
		while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		if (!log_item_valid(item, n))
			return false;
		spec += len;
		if (*spec == ',')
			spec++;
	}
	return true;
}

static int set_log_filter(struct load *l, const struct toml_value *v,
			  const char *name, char **field)
{
	const char *s = toml_string(v, NULL);

	if (s && !log_filter_valid(s))
		return load_err(l, v, "key '%s' must be a log level or filter "
				"such as \"info\" or \"scan=debug,warn\" "
				"(levels: error, warn, info, debug, trace)",
				name);
	return set_string(l, v, name, field);
}

static int set_origin_type(struct load *l, const struct toml_value *v,
			   const char *name, enum config_origin_type *field)
{
	const char *s = toml_string(v, NULL);
	int i;

	for (i = 0; s && i < CONFIG_ORIGIN_TYPE_COUNT; i++) {
		if (!strcmp(s, origin_type_names[i])) {
			*field = (enum config_origin_type)i;
			return 0;
		}
	}
	return load_err(l, v, "key '%s' must be one of local, nfs, smb, s3, "
			"sftp", name);
}

static int apply_table(struct load *l, const struct toml_value *tab,
		       const char *prefix, const struct opt *opts,
		       void *base);
static int apply_origins(struct load *l, const struct toml_value *v,
			 struct config *cfg);
static int apply_collections(struct load *l, const struct toml_value *v,
			     struct config *cfg);

static const struct opt *find_opt(const struct opt *opts, const char *key)
{
	for (; opts->key; opts++)
		if (!strcmp(opts->key, key))
			return opts;
	return NULL;
}

static int apply_opt(struct load *l, const struct opt *o,
		     const struct toml_value *v, const char *name, void *base)
{
	char *field = (char *)base + o->offset;

	switch (o->kind) {
	case OPT_STRING:
		return set_string(l, v, name, (char **)field);
	case OPT_BOOL:
		if (toml_type_of(v) != TOML_BOOL)
			return load_err(l, v, "key '%s' must be true or false",
					name);
		*(bool *)field = toml_bool(v);
		return 0;
	case OPT_INT:
	case OPT_INT64:
		return set_int(l, o, v, name, field);
	case OPT_RATE:
		return set_rate(l, v, name, (double *)field);
	case OPT_LOG_FILTER:
		return set_log_filter(l, v, name, (char **)field);
	case OPT_ORIGIN_TYPE:
		return set_origin_type(l, v, name,
				       (enum config_origin_type *)field);
	case OPT_TABLE:
		if (toml_type_of(v) != TOML_TABLE)
			return load_err(l, v, "key '%s' must be a table", name);
		return apply_table(l, v, name, o->sub, base);
	case OPT_ORIGINS:
		return apply_origins(l, v, base);
	case OPT_COLLECTIONS:
		return apply_collections(l, v, base);
	case OPT_IGNORE:
		break;
	}
	return 0;
}

/*
 * Apply every key of tab with the options in opts to the struct at base;
 * prefix names tab in messages (NULL for the root).  Unknown keys are
 * logged and skipped.
 */
static int apply_table(struct load *l, const struct toml_value *tab,
		       const char *prefix, const struct opt *opts, void *base)
{
	const struct toml_value *v;
	const struct opt *o;
	const char *key;
	char name[128];
	size_t i;
	int rc;

	for (i = 0; i < toml_count(tab); i++) {
		key = toml_key_at(tab, i);
		v = toml_at(tab, i);
		key_name(prefix, key, name, sizeof(name));
		o = find_opt(opts, key);
		if (!o) {
			mfs_log(MFS_LOG_WARN, "%s:%d: unknown key '%s'",
				l->filename, toml_line(v), name);
			continue;
		}
		rc = apply_opt(l, o, v, name, base);
		if (rc)
			return rc;
	}
	return 0;
}

/* Element i of the origins array into *o (zeroed, owned by the caller). */
static int load_origin(struct load *l, const struct toml_value *t, size_t i,
		       struct config_origin *o)
{
	char id[128];
	int rc;

	if (toml_type_of(t) != TOML_TABLE)
		return load_err(l, t, "origins[%zu] must be a table", i);
	o->type = CONFIG_ORIGIN_TYPE_COUNT;	/* "not given" */
	o->priority = 1;
	o->enabled = true;
	rc = apply_table(l, t, "origins", origin_opts, o);
	if (rc)
		return rc;
	if (str_empty(o->id))
		return load_err(l, t, "origin #%zu has no 'id'", i + 1);
	key_name(NULL, o->id, id, sizeof(id));
	if (o->type == CONFIG_ORIGIN_TYPE_COUNT)
		return load_err(l, t, "origin '%s' has no 'origin_type'", id);
	if (origin_needs_path(o->type) && str_empty(o->path))
		return load_err(l, t, "origin '%s' (%s) has no 'path'", id,
				origin_type_names[o->type]);
	return 0;
}

/* [[origins]]: replaces the origins cfg held. */
static int apply_origins(struct load *l, const struct toml_value *v,
			 struct config *cfg)
{
	struct config_origin *origins = NULL;
	size_t n = toml_count(v);
	size_t i;
	int rc = 0;

	if (toml_type_of(v) != TOML_ARRAY)
		return load_err(l, v, "key 'origins' must be an array of "
				"tables ([[origins]])");
	if (n) {
		origins = calloc(n, sizeof(*origins));
		if (!origins)
			return -ENOMEM;
	}
	for (i = 0; i < n && !rc; i++)
		rc = load_origin(l, toml_at(v, i), i, &origins[i]);
	if (rc) {
		origins_free(origins, n);
		return rc;
	}
	origins_free(cfg->origins, cfg->n_origins);
	cfg->origins = origins;
	cfg->n_origins = n;
	return 0;
}

/*
 * Element i of the collections array into *col (zeroed, owned by the
 * caller).  The name must be usable as a folder name as it is: the
 * daemon shows it at the root of the mount, and a name that needs
 * cleaning is more likely a mistake than a wish.
 */
static int load_collection(struct load *l, const struct toml_value *t,
			   size_t i, struct config_collection *col)
{
	char name[128];
	int rc;

	if (toml_type_of(t) != TOML_TABLE)
		return load_err(l, t, "collections[%zu] must be a table", i);
	col->line = toml_line(t);
	rc = apply_table(l, t, "collections", collection_opts, col);
	if (rc)
		return rc;
	if (str_empty(col->name))
		return load_err(l, t, "collection #%zu has no 'name'", i + 1);
	key_name(NULL, col->name, name, sizeof(name));
	if (strchr(col->name, '/') || col->name[0] == '.' ||
	    strlen(col->name) > 255)
		return load_err(l, t, "collection name '%s' is not a folder "
				"name (no '/', no leading '.', at most 255 "
				"bytes)", name);
	if (str_empty(col->query))
		return load_err(l, t, "collection '%s' has no 'query'", name);
	return 0;
}

/* Is the name of collection i used by one before it? */
static bool collection_name_taken(const struct config_collection *cols,
				  size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (!strcmp(cols[j].name, cols[i].name))
			return true;
	return false;
}

/* [[collections]]: replaces the collections cfg held. */
static int apply_collections(struct load *l, const struct toml_value *v,
			     struct config *cfg)
{
	struct config_collection *cols = NULL;
	size_t n = toml_count(v);
	char name[128];
	size_t i;
	int rc = 0;

	if (toml_type_of(v) != TOML_ARRAY)
		return load_err(l, v, "key 'collections' must be an array of "
				"tables ([[collections]])");
	if (n) {
		cols = calloc(n, sizeof(*cols));
		if (!cols)
			return -ENOMEM;
	}
	for (i = 0; i < n && !rc; i++) {
		rc = load_collection(l, toml_at(v, i), i, &cols[i]);
		if (!rc && collection_name_taken(cols, i))
			rc = load_err(l, toml_at(v, i), "collection '%s' is "
				      "defined twice",
				      key_name(NULL, cols[i].name, name,
					       sizeof(name)));
	}
	if (rc) {
		collections_free(cols, n);
		return rc;
	}
	collections_free(cfg->collections, cfg->n_collections);
	cfg->collections = cols;
	cfg->n_collections = n;
	return 0;
}

/* ---- loading ------------------------------------------------------------- */

static int msg(char *err, size_t errsize, int rc, const char *fmt, ...)
	MFS_PRINTF(4, 5);

/* A one-line message into err; returns rc. */
static int msg(char *err, size_t errsize, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errsize) {
		va_start(ap, fmt);
		vsnprintf(err, errsize, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int config_load_text(struct config *cfg, const char *text, size_t len,
		     const char *filename, char *err, size_t errsize)
{
	struct load l = { filename ? filename : "<input>", err, errsize };
	struct toml_value *root = NULL;
	struct config next;
	int rc;

	rc = toml_parse(text, len, l.filename, &root, err, errsize);
	if (rc)
		return rc;
	rc = config_copy(&next, cfg);
	if (rc)
		goto out_free_root;
	rc = apply_table(&l, root, NULL, top_opts, &next);
	if (rc) {
		config_release(&next);
		goto out_free_root;
	}
	config_release(cfg);
	*cfg = next;
out_free_root:
	toml_free(root);
	if (rc == -ENOMEM)
		msg(err, errsize, rc, "%s: out of memory", l.filename);
	return rc;
}

/* The whole file at path into b.  0, -EFBIG past b's cap, or -errno. */
static int read_file(const char *path, struct buf *b)
{
	char chunk[8192];
	ssize_t n;
	int rc = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		rc = buf_add(b, chunk, (size_t)n);
		if (rc)
			break;
	}
	close(fd);
	return rc;
}

int config_load_file(struct config *cfg, const char *path, char *err,
		     size_t errsize)
{
	char ebuf[128];
	struct buf b;
	int rc;

	buf_init(&b, CONFIG_MAX_FILE);
	rc = read_file(path, &b);
	if (rc == -EFBIG)
		msg(err, errsize, rc, "cannot read config '%s': larger than "
		    "%d MiB", path, CONFIG_MAX_FILE >> 20);
	else if (rc)
		msg(err, errsize, rc, "cannot read config '%s': %s", path,
		    strerror_r(-rc, ebuf, sizeof(ebuf)));
	else
		rc = config_load_text(cfg, b.data ? b.data : "", b.len, path,
				      err, errsize);
	buf_release(&b);
	return rc;
}

/* ---- origins from the command line, checks ----------------------------- */

static bool origin_id_used(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->n_origins; i++)
		if (str_eq(cfg->origins[i].id, id))
			return true;
	return false;
}

int config_add_local_origin(struct config *cfg, const char *dir)
{
	struct config_origin *origins;
	struct config_origin *o;
	char *id = NULL;
	char *path;
	size_t n;

	for (n = 1; !id; n++) {
		id = n == 1 ? str_dup("local") : str_printf("local-%zu", n);
		if (!id)
			return -ENOMEM;
		if (origin_id_used(cfg, id)) {
			free(id);
			id = NULL;
		}
	}
	path = str_dup(dir);
	origins = realloc(cfg->origins,
			  (cfg->n_origins + 1) * sizeof(*origins));
	if (origins)
		cfg->origins = origins;
	if (!path || !origins) {
		free(path);
		free(id);
		return -ENOMEM;
	}
	o = &origins[cfg->n_origins++];
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->type = CONFIG_ORIGIN_LOCAL;
	o->priority = 1;
	o->enabled = true;
	o->path = path;
	return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Origin ids are unique (sorted, so a long list costs n log n). */
static int check_unique_ids(const struct config *cfg, char *err,
			    size_t errsize)
{
	const char **ids;
	char id[128];
	size_t i;
	int rc = 0;

	if (cfg->n_origins < 2)
		return 0;
	ids = calloc(cfg->n_origins, sizeof(*ids));
	if (!ids)
		return msg(err, errsize, -ENOMEM, "out of memory");
	for (i = 0; i < cfg->n_origins; i++)
		ids[i] = cfg->origins[i].id;
	qsort(ids, cfg->n_origins, sizeof(*ids), cmp_str_ptr);
	for (i = 1; i < cfg->n_origins && !rc; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			rc = msg(err, errsize, -EINVAL,
				 "duplicate origin id '%s'",
				 key_name(NULL, ids[i], id, sizeof(id)));
	free(ids);
	return rc;
}

int config_validate(const struct config *cfg, char *err, size_t errsize)
{
	const struct config_origin *o;
	size_t enabled = 0;
	char id[128];
	size_t i;

	if (str_empty(cfg->mount_point))
		return msg(err, errsize, -EINVAL, "no mount point given "
			   "(set mount_point in the config or pass one)");
	if (str_empty(cfg->cache_dir))
		return msg(err, errsize, -EINVAL, "no cache directory (set "
			   "cache_dir in the config)");
	if (str_empty(cfg->path_template))
		return msg(err, errsize, -EINVAL, "empty path_template");
	for (i = 0; i < cfg->n_origins; i++) {
		o = &cfg->origins[i];
		if (str_empty(o->id))
			return msg(err, errsize, -EINVAL,
				   "origin #%zu has no id", i + 1);
		key_name(NULL, o->id, id, sizeof(id));
		if ((unsigned)o->type >= CONFIG_ORIGIN_TYPE_COUNT)
			return msg(err, errsize, -EINVAL,
				   "origin '%s' has no valid origin_type", id);
		if (origin_needs_path(o->type) && str_empty(o->path))
			return msg(err, errsize, -EINVAL,
				   "origin '%s' (%s) has no path", id,
				   origin_type_names[o->type]);
		enabled += o->enabled;
	}
	if (!enabled)
		return msg(err, errsize, -EINVAL, "no enabled origin (add an "
			   "[[origins]] table or pass --origin DIR)");
	return check_unique_ids(cfg, err, errsize);
}
