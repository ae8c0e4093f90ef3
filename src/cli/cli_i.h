/*
 * cli_i.h - shared by the subcommands of src/cli/.
 */
#ifndef MFS_CLI_CLI_I_H
#define MFS_CLI_CLI_I_H

#include "cli/cli.h"

/* Options that come before the subcommand. */
struct cli_global {
	const char *log_level;	/* -l/--log-level, or NULL */
};

int cmd_mount(int argc, char **argv, const struct cli_global *g);
int cmd_probe(int argc, char **argv, const struct cli_global *g);
int cmd_status(int argc, char **argv, const struct cli_global *g);
int cmd_origin(int argc, char **argv, const struct cli_global *g);
int cmd_events(int argc, char **argv, const struct cli_global *g);
int cmd_shutdown(int argc, char **argv, const struct cli_global *g);
int cmd_cache(int argc, char **argv, const struct cli_global *g);
int cmd_search(int argc, char **argv, const struct cli_global *g);
int cmd_collection(int argc, char **argv, const struct cli_global *g);

struct config;

/*
 * Read --config FILE (explicit_path), else the default config file if it
 * exists, into cfg (prepared by config_init).  0, or CLI_EXIT_USAGE after
 * printing why the file is bad.
 */
int cli_load_config(struct config *cfg, const char *explicit_path);

/*
 * Set the log filter from specs[0..n), later ones winning (config, env,
 * flags); NULL or empty entries are skipped.  0, or CLI_EXIT_USAGE after
 * printing why a spec is invalid.
 */
int cli_apply_log_filters(const char *const *specs, size_t n);

struct cli_common;

/*
 * Print results [offset, offset + limit) of query, or of collection when
 * it is not empty, as musicfs search does (cmd_search.c).  Exit code.
 */
int cli_search_call(const struct cli_common *co, const char *query,
		    const char *collection, unsigned limit, unsigned offset);

/* Print "musicfs: <message>" to stderr. */
void cli_error(const char *fmt, ...) MFS_PRINTF(1, 2);

#endif
