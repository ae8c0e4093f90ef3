/*
 * cmd_collection.c - musicfs collection list | show NAME | create NAME
 * QUERY... | delete NAME: the smart collections of the running daemon.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "control/musicfs.pb-c.h"
#include "search/search.h"

#include <getopt.h>

static const char collection_usage[] =
	"usage: musicfs collection list [options]\n"
	"       musicfs collection show NAME [--limit N] [options]\n"
	"       musicfs collection create NAME QUERY... [options]\n"
	"       musicfs collection delete NAME [options]\n"
	"\n"
	"A collection is a saved search shown as a folder of symlinks at the\n"
	"root of the mount (beside the artists; \"NAME (collection)\" when an\n"
	"artist has the name).  Built in: Recently Added (last 30 days), 80s\n"
	"Music, 90s Music; more in the config file ([[collections]] name,\n"
	"query) or made here.\n"
	"\n"
	"list    every collection, where it comes from, its query\n"
	"show    its tracks, as musicfs search prints them\n"
	"create  save QUERY (musicfs search --help for the syntax) as NAME\n"
	"delete  forget a collection made with create\n"
	"\n"
	"options:\n"
	"  -n, --limit N           show: at most N tracks (default 100)\n"
	CLI_CLIENT_HELP;

static const char *source_name(Musicfs__V1__CollectionSource s)
{
	switch (s) {
	case MUSICFS__V1__COLLECTION_SOURCE__COLLECTION_SOURCE_BUILTIN:
		return "builtin";
	case MUSICFS__V1__COLLECTION_SOURCE__COLLECTION_SOURCE_CONFIG:
		return "config";
	case MUSICFS__V1__COLLECTION_SOURCE__COLLECTION_SOURCE_API:
		return "api";
	default:
		return "?";
	}
}

/* Characters (not bytes) of a UTF-8 string: for columns. */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void print_list(const ProtobufCMessage *m)
{
	const Musicfs__V1__ListCollectionsResponse *r =
		(const Musicfs__V1__ListCollectionsResponse *)m;
	size_t width = 4;
	size_t i;

	for (i = 0; i < r->n_collections; i++)
		width = MFS_MAX(width, text_width(r->collections[i]->name));
	printf("%s%*s  %-7s  %s\n", "NAME", (int)(width - 4), "", "SOURCE",
	       "QUERY");
	for (i = 0; i < r->n_collections; i++) {
		const Musicfs__V1__Collection *c = r->collections[i];

		printf("%s%*s  %-7s  %s%s%s\n", c->name,
		       (int)(width - text_width(c->name)), "",
		       source_name(c->source), *c->query ? c->query : "(",
		       *c->query ? "" : c->description, *c->query ? "" : ")");
	}
}

static void print_created(const ProtobufCMessage *m)
{
	const Musicfs__V1__Collection *c = (const Musicfs__V1__Collection *)m;

	printf("created collection '%s': %s\n", c->name, c->query);
}

/* The name delete was given (print callbacks get only the answer). */
static const char *deleted_name;

static void print_deleted(const ProtobufCMessage *m)
{
	(void)m;
	printf("deleted collection '%s'\n", deleted_name);
}

static int take_option(int c, const char *arg, void *ctx)
{
	char *end = NULL;
	unsigned long v;

	(void)c;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || !*arg || *end || *arg == '-' || !v ||
	    v > CATALOG_SEARCH_MAX) {
		cli_error("--limit must be a number from 1 to %d, not '%s'",
			  CATALOG_SEARCH_MAX, arg);
		return CLI_EXIT_USAGE;
	}
	*(unsigned *)ctx = (unsigned)v;
	return 0;
}

/* create NAME QUERY...: the query's words joined, checked here first. */
static int create(const struct cli_common *co, char **args, size_t n)
{
	Musicfs__V1__CreateCollectionRequest req =
		MUSICFS__V1__CREATE_COLLECTION_REQUEST__INIT;
	struct search_plan *plan = NULL;
	struct buf q = BUF_INIT_MAX(1 << 16);
	char err[256];
	size_t i;
	int rc = 0;

	for (i = 2; !rc && i < n; i++)
		rc = buf_addf(&q, "%s%s", i > 2 ? " " : "", args[i]);
	req.name = args[1];
	req.query = rc ? NULL : buf_detach(&q, NULL);
	buf_release(&q);
	if (!req.query)
		return CLI_EXIT_FAILURE;
	rc = search_compile(req.query, &plan, err, sizeof(err));
	search_plan_free(plan);
	if (rc)
		cli_error("bad query: %s", rc == -EINVAL ? err : strerror(-rc));
	if (!rc)
		rc = cli_client_call_once(
			co, "/musicfs.v1.MusicFS/CreateCollection", &req.base,
			&musicfs__v1__collection__descriptor, print_created);
	else
		rc = rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
	free(req.query);
	return rc;
}

static int run_action(const struct cli_common *co, char **args, size_t n,
		      unsigned limit)
{
	Musicfs__V1__ListCollectionsRequest lreq =
		MUSICFS__V1__LIST_COLLECTIONS_REQUEST__INIT;
	Musicfs__V1__DeleteCollectionRequest dreq =
		MUSICFS__V1__DELETE_COLLECTION_REQUEST__INIT;
	const char *action = n ? args[0] : "";

	if (!strcmp(action, "list") && n == 1)
		return cli_client_call_once(
			co, "/musicfs.v1.MusicFS/ListCollections", &lreq.base,
			&musicfs__v1__list_collections_response__descriptor,
			print_list);
	if (!strcmp(action, "show") && n == 2)
		return cli_search_call(co, "", args[1], limit, 0);
	if (!strcmp(action, "create") && n >= 3)
		return create(co, args, n);
	if (!strcmp(action, "delete") && n == 2) {
		dreq.name = args[1];
		deleted_name = args[1];
		return cli_client_call_once(
			co, "/musicfs.v1.MusicFS/DeleteCollection", &dreq.base,
			&musicfs__v1__delete_collection_response__descriptor,
			print_deleted);
	}
	fputs(collection_usage, stderr);
	return CLI_EXIT_USAGE;
}

int cmd_collection(int argc, char **argv, const struct cli_global *g)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned limit = 100;
	struct cli_extra_opts extra = { longopts, "n:", take_option, &limit };
	struct cli_common co = { 0 };
	char **args;
	size_t n = 0;
	int rc = 0;

	(void)g;
	args = calloc((size_t)argc, sizeof(*args));
	if (!args)
		return CLI_EXIT_FAILURE;
	/* options may come anywhere; after "--" every word is an operand */
	while (!rc && optind < argc) {
		rc = cli_client_parse(argc, argv, collection_usage, &extra,
				      &co);
		if (!rc && optind > 1 && !strcmp(argv[optind - 1], "--"))
			while (optind < argc)
				args[n++] = argv[optind++];
		if (!rc && optind < argc)
			args[n++] = argv[optind++];
	}
	if (!rc)
		rc = run_action(&co, args, n, limit);
	free(args);
	return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
}
