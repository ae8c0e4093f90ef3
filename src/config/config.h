/*
 * config.h - the configuration of MusicFS and the TOML parser under it.
 *
 * Owns: struct config (all strings in it are owned by it and freed by
 * config_release) and the TOML value trees returned by toml_parse (freed
 * by toml_free).  Nothing here is shared between threads: the daemon loads
 * a config on its main thread and hands out read-only pointers.
 *
 * The TOML parser is written here (no packaged C library reads TOML 1.0
 * exactly); it is checked against the toml-test conformance files.  Errors
 * are reported as "FILE:LINE:COL: reason".
 */
#ifndef MFS_CONFIG_CONFIG_H
#define MFS_CONFIG_CONFIG_H

#include "common/mfs.h"

/* ---- TOML values ------------------------------------------------------ */

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,		/* offset date-time */
	TOML_DATETIME_LOCAL,
	TOML_DATE_LOCAL,
	TOML_TIME_LOCAL,
};

struct toml_value;

/*
 * Deepest nesting toml_parse accepts: a table or array more than this many
 * levels below the root (through [headers], dotted keys, arrays or inline
 * tables) is an error, so walking a parsed tree recurses at most
 * TOML_MAX_DEPTH + 1 levels.
 */
#define TOML_MAX_DEPTH 128

/*
 * Parse a TOML 1.0.0 document of len bytes.  On success *out is the root
 * table (caller frees with toml_free).  On failure returns -EINVAL and
 * writes "FILENAME:LINE:COL: reason" into err (errsize bytes); filename
 * may be NULL ("<input>").
 */
int toml_parse(const char *text, size_t len, const char *filename,
	       struct toml_value **out, char *err, size_t errsize);

void toml_free(struct toml_value *v);

enum toml_type toml_type_of(const struct toml_value *v);

/* Entries of a table or elements of an array. */
size_t toml_count(const struct toml_value *v);

/* The i-th key of a table, in document order. */
const char *toml_key_at(const struct toml_value *table, size_t i);

/* The i-th value of a table (document order) or array. */
const struct toml_value *toml_at(const struct toml_value *v, size_t i);

/* The value of key in table, or NULL. */
const struct toml_value *toml_get(const struct toml_value *table,
				  const char *key);

/* 1-based line and column where the value's key (or the value) was defined. */
int toml_line(const struct toml_value *v);
int toml_col(const struct toml_value *v);

/* Scalars.  A string may hold NUL bytes: *len (if not NULL) is its length. */
const char *toml_string(const struct toml_value *v, size_t *len);
int64_t toml_int(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_bool(const struct toml_value *v);
/* Date-times as canonical RFC 3339 text (local kinds without an offset). */
const char *toml_datetime(const struct toml_value *v);

/* ---- MusicFS configuration ------------------------------------------- */

enum config_origin_type {
	CONFIG_ORIGIN_LOCAL,
	CONFIG_ORIGIN_NFS,
	CONFIG_ORIGIN_SMB,
	CONFIG_ORIGIN_S3,
	CONFIG_ORIGIN_SFTP,
	CONFIG_ORIGIN_TYPE_COUNT
};

struct config_origin {
	char *id;
	enum config_origin_type type;
	int priority;		/* lower = preferred */
	bool enabled;
	char *path;		/* local/nfs/smb: a path mounted by the OS; sftp: remote dir */
	/* remote origins (used by later issues, parsed and kept now) */
	char *host;
	int port;
	char *user;
	char *bucket;
	char *region;
	char *endpoint;
	char *export_path;	/* nfs "export" */
	char *share;		/* smb "share" */
};

struct config_cache {
	int64_t metadata_cache_mb;
	int64_t content_cache_gb;
	int64_t content_cache_mb;	/* > 0: a finer budget, wins over _gb */
	bool cache_local_origins;
	bool verify_sha256;	/* check reads by SHA-256, not the checksum */
};

struct config_health {
	int check_interval_secs;
	int timeout_ms;
	int unhealthy_threshold;
	/* per origin type; -1 = use unhealthy_threshold */
	int per_origin_thresholds[CONFIG_ORIGIN_TYPE_COUNT];
};

/* A smart collection of the config file: [[collections]] name, query. */
struct config_collection {
	char *name;		/* the folder shown at the root of the mount */
	char *query;		/* search syntax (search/search.h) */
	int line;		/* of its table in the file, for messages */
};

struct config_logging {
	char *log_dir;
	bool json_output;
	bool journald;
	char *level;		/* filter spec, see mfs_log_set_filter */
	double trace_sample_rate;
};

struct config {
	char *mount_point;
	char *cache_dir;
	char *path_template;
	bool tag_xattrs;
	int grpc_port;		/* loopback TCP port of the API; 0: none */
	char *grpc_address;	/* address the TCP port binds to */
	bool grpc_allow_remote;	/* allow a non-loopback grpc_address */
	int metrics_port;	/* GET /metrics on 127.0.0.1; 0: none */
	char *config_path;	/* the file it was read from (not a key) */
	struct config_origin *origins;
	size_t n_origins;
	struct config_collection *collections;
	size_t n_collections;
	struct config_cache cache;
	struct config_health health;
	struct config_logging logging;
};

/* Fill cfg with the defaults (no origins, no mount point). */
void config_init(struct config *cfg);

/*
 * Free everything cfg owns and leave it zeroed, holding no memory (the
 * defaults of config_init hold allocated strings, so release cannot restore
 * them without allocating): call config_init before using cfg again.
 */
void config_release(struct config *cfg);

/*
 * Read a TOML config file into cfg (which config_init prepared; keys in the
 * file replace what cfg holds).  Unknown keys are logged as warnings naming
 * FILE:LINE.  Returns 0; -ENOENT/-EACCES/... if the file cannot be read;
 * -EINVAL with a one-line message in err for a syntax error or a key of the
 * wrong type.  An [[origins]] list replaces the origins cfg held, and a
 * [[collections]] list the collections (each needs a name, unique in the
 * file, that is a folder name, and a query; the query's syntax is checked
 * by whoever runs it).  On any failure cfg is left exactly as it was.
 */
int config_load_file(struct config *cfg, const char *path, char *err,
		     size_t errsize);

/* Same, from text already in memory (filename is used in messages). */
int config_load_text(struct config *cfg, const char *text, size_t len,
		     const char *filename, char *err, size_t errsize);

/*
 * Add an origin of type local for a --origin DIR flag; its id is
 * "local", "local-2", ... (the first id not already used).  0 or -ENOMEM.
 */
int config_add_local_origin(struct config *cfg, const char *dir);

/*
 * Check what a mount needs, after the CLI flags were applied: a mount
 * point, a cache dir, at least one enabled origin, unique origin ids,
 * a path for every local/nfs/smb origin.  0 or -EINVAL with a one-line
 * message in err.
 */
int config_validate(const struct config *cfg, char *err, size_t errsize);

const char *config_origin_type_name(enum config_origin_type type);

#endif
