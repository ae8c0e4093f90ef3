/*
 * cli.h - the musicfs command line: parses argv and runs one subcommand.
 *
 * Owns: argument parsing, help texts and exit codes (0 success, 1 failure
 * at run time, 2 bad usage or configuration, 3 no daemon answering), and
 * the gRPC client of the commands that talk to a running daemon.  Each subcommand is a
 * cmd_<name>() in its own file, like git's builtins.
 */
#ifndef MFS_CLI_CLI_H
#define MFS_CLI_CLI_H

#include "common/mfs.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_NO_DAEMON 3	/* no daemon answers at the endpoint */

int cli_main(int argc, char **argv);

#endif
