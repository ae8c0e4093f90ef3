/*
 * cmd_events.c - musicfs events [--type T]...: follow the daemon's events.
 */
#include "common/mfs.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "control/musicfs.pb-c.h"

#include <ctype.h>
#include <getopt.h>
#include <time.h>

static const char events_usage[] =
	"usage: musicfs events [--type TYPE]... [options]\n"
	"\n"
	"Print the daemon's events as they happen, one per line, until\n"
	"interrupted.  TYPE: file_added, file_removed, file_modified,\n"
	"origin_connected, origin_disconnected, sync_started,\n"
	"sync_completed, cache_eviction (repeatable; default: all).\n"
	"\n"
	"options:\n"
	"  -t, --type TYPE         only events of this type\n"
	"  -n, --count N           stop after N events\n" CLI_CLIENT_HELP;

struct events_args {
	Musicfs__V1__EventType types[16];
	size_t n_types;
	long long count;	/* 0: until interrupted */
	long long seen;
	bool json;
};

static int parse_type(const char *name, Musicfs__V1__EventType *out)
{
	const ProtobufCEnumDescriptor *d = &musicfs__v1__event_type__descriptor;
	char full[64];
	unsigned i;
	size_t k;

	snprintf(full, sizeof(full), "EVENT_TYPE_%s", name);
	for (k = 11; full[k]; k++)
		full[k] = (char)toupper((unsigned char)full[k]);
	for (i = 0; i < d->n_values; i++)
		if (d->values[i].value && !strcmp(d->values[i].name, full)) {
			*out = (Musicfs__V1__EventType)d->values[i].value;
			return 0;
		}
	return -EINVAL;
}

static int take_option(int c, const char *arg, void *ctx)
{
	struct events_args *a = ctx;

	if (c == 'n') {
		a->count = strtoll(arg, NULL, 10);
		if (a->count <= 0) {
			cli_error("--count: '%s' is not a positive number", arg);
			return CLI_EXIT_USAGE;
		}
		return 0;
	}
	if (a->n_types == MFS_ARRAY_SIZE(a->types) ||
	    parse_type(arg, &a->types[a->n_types])) {
		cli_error("--type: '%s' is not an event type (see musicfs "
			  "events --help)",
			  arg);
		return CLI_EXIT_USAGE;
	}
	a->n_types++;
	return 0;
}

static int on_event(const ProtobufCMessage *m, void *arg)
{
	const Musicfs__V1__Event *e = (const Musicfs__V1__Event *)m;
	struct events_args *a = arg;
	time_t t = (time_t)(e->time_unix_ms / 1000);
	char when[32];
	struct tm tm;

	if (a->json) {
		cli_print_json(m);
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s.%03d %-19s %s%s%s", when,
		       (int)(e->time_unix_ms % 1000), e->type_name,
		       e->origin_id, *e->path ? ":" : "", e->path);
		if (e->type == MUSICFS__V1__EVENT_TYPE__EVENT_TYPE_SYNC_COMPLETED)
			printf(" (%" PRId64 " files changed)", e->value);
		if (e->type == MUSICFS__V1__EVENT_TYPE__EVENT_TYPE_CACHE_EVICTION)
			printf(" (%" PRId64 " bytes)", e->value);
		putchar('\n');
		fflush(stdout);
	}
	return a->count && ++a->seen >= a->count;
}

int cmd_events(int argc, char **argv, const struct cli_global *g)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	Musicfs__V1__SubscribeEventsRequest req =
		MUSICFS__V1__SUBSCRIBE_EVENTS_REQUEST__INIT;
	struct events_args a = { .n_types = 0 };
	struct cli_extra_opts extra = { longopts, "t:n:", take_option, &a };
	struct cli_common co = { 0 };
	struct cli_client *c;
	int rc;

	(void)g;
	rc = cli_client_parse(argc, argv, events_usage, &extra, &co);
	if (rc)
		return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	a.json = co.json;
	req.n_types = a.n_types;
	req.types = a.types;
	rc = cli_client_open(&co.target, &c);
	if (rc)
		return rc;
	rc = cli_client_stream(c, "/musicfs.v1.MusicFS/SubscribeEvents",
			       &req.base, &musicfs__v1__event__descriptor,
			       on_event, &a);
	cli_client_close(c);
	return rc;
}
