/*
 * client.h - the gRPC client of the commands that talk to a running
 * daemon (status, origin, events, shutdown, ...).
 *
 * Owns: one channel to the daemon's endpoint and the calls made on it.
 * Every function prints its own one-line error and returns a CLI exit
 * code, so a command is a request, a call and a printer.
 */
#ifndef MFS_CLI_CLIENT_H
#define MFS_CLI_CLIENT_H

#include "common/mfs.h"

#include <protobuf-c/protobuf-c.h>

struct cli_client;

/* Where to connect: --endpoint, else the socket of the cache dir. */
struct cli_target {
	const char *endpoint;	/* "unix:/path/musicfs.sock", "127.0.0.1:50052" */
	const char *config;	/* --config FILE */
	const char *cache_dir;	/* --cache-dir DIR */
};

/* Options every client command takes, for their getopt tables. */
#define CLI_CLIENT_OPTIONS                                                \
	{ "endpoint", required_argument, NULL, 'e' },                     \
	{ "config", required_argument, NULL, 'c' },                       \
	{ "cache-dir", required_argument, NULL, 'C' },                    \
	{ "json", no_argument, NULL, 'j' },                               \
	{ "help", no_argument, NULL, 'h' }

#define CLI_CLIENT_HELP                                                   \
	"  -e, --endpoint TARGET   the daemon's gRPC target: unix:/path/to/\n" \
	"                          musicfs.sock or 127.0.0.1:50052 (default:\n" \
	"                          the socket in the configured cache dir)\n" \
	"  -c, --config FILE       config file (for its cache_dir)\n"         \
	"  -C, --cache-dir DIR     cache dir of the daemon to talk to\n"      \
	"  -j, --json              machine-readable output\n"                 \
	"  -h, --help              show this help\n"

/* The options of CLI_CLIENT_OPTIONS, as parsed. */
struct cli_common {
	struct cli_target target;
	bool json;
};

#define CLI_CLIENT_SHORTOPTS "e:c:C:jh"

/* A command's own options, beside the common ones. */
struct cli_extra_opts {
	const struct option *longopts;	/* NULL-terminated, or NULL */
	const char *shortopts;		/* "t:" */
	/* take option c (optarg set): 0, or an exit code after an error */
	int (*take)(int c, const char *optarg, void *arg);
	void *arg;
};

/*
 * Parse a client command's options (getopt from argv[1]); the first
 * non-option is left at argv[optind].  0 to go on, CLI_EXIT_OK - 1 (-1)
 * after --help, or an exit code after printing the usage error.
 */
#define CLI_HELP_SHOWN (-1)
int cli_client_parse(int argc, char **argv, const char *usage,
		     const struct cli_extra_opts *extra,
		     struct cli_common *co);

/* Connect (lazily: the first call finds out).  Returns a CLI exit code. */
int cli_client_open(const struct cli_target *t, struct cli_client **out);
void cli_client_close(struct cli_client *c);

/*
 * Call method ("/musicfs.v1.MusicFS/GetStatus") with req; *resp receives
 * the unpacked answer (free with protobuf_c_message_free_unpacked).
 */
int cli_client_unary(struct cli_client *c, const char *method,
		     const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc,
		     ProtobufCMessage **resp);

/*
 * Call a server-streaming method; on_message gets each message (it is
 * freed after the callback) and returns 0 to go on, non-zero to stop.
 */
int cli_client_stream(struct cli_client *c, const char *method,
		      const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *msg_desc,
		      int (*on_message)(const ProtobufCMessage *m, void *arg),
		      void *arg);

/*
 * The whole life of a one-call command: connect to co's target, call
 * method, print the answer (JSON with --json, else print()), disconnect.
 * Returns the exit code.
 */
int cli_client_call_once(const struct cli_common *co, const char *method,
			 const ProtobufCMessage *req,
			 const ProtobufCMessageDescriptor *resp_desc,
			 void (*print)(const ProtobufCMessage *resp));

/* Print m as one JSON object (protobuf field names; enums by name). */
void cli_print_json(const ProtobufCMessage *m);

#endif
