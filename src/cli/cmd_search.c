/*
 * cmd_search.c - musicfs search QUERY... [--limit N] [--offset N]
 *
 * The query is compiled here first: a syntax error is a usage error
 * (exit 2, with the column) found without a daemon.  Each result is a
 * line "Artist - Album - NN Title  (/path/in/the/mount)", or a JSON object
 * per line with --json.
 *
 * Two ways to the results, giving the same ones.  The daemon's own
 * catalog, read here: when the target is the default one (the socket of
 * the cache dir) and a daemon answers a connect(2) on that socket, the
 * catalog beside it is opened read-only (WAL lets this process read while
 * the daemon writes) and the query runs in this process.  That is the
 * common case and the fast one: a Search call would add gRPC's start
 * (threads, resolver), a connection and an HTTP/2 exchange, several
 * milliseconds, to a query that takes about one.  Otherwise (--endpoint,
 * a catalog this user cannot read) the Search RPC answers.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "catalog/catalog.h"
#include "cli/cli_i.h"
#include "cli/client.h"
#include "config/config.h"
#include "control/musicfs.pb-c.h"
#include "search/search.h"

#include <getopt.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char search_usage[] =
	"usage: musicfs search QUERY... [options]\n"
	"\n"
	"Search the running daemon's library: the words of QUERY (joined by\n"
	"spaces) must all match, in any field.  Syntax:\n"
	"  artist:Metallica  album:\"Master of Puppets\"  metal*  metalica~1\n"
	"  year:[1980 TO 1989]  genre:metal AND NOT live  (a OR b)  -live\n"
	"Fields: title artist album album_artist genre composer year.  Case\n"
	"and accents are ignored; -- goes before a query that starts with\n"
	"'-'.  Each track is printed as \"Artist - Album - NN Title  (path\n"
	"in the mount)\", best first.  The same results are a folder of\n"
	"symlinks: ls MOUNT/.search/QUERY/ (a query without '/').\n"
	"\n"
	"options:\n"
	"  -n, --limit N           at most N results (default 100, max 1000)\n"
	"  -o, --offset N          skip the first N results\n" CLI_CLIENT_HELP;

struct search_opts {
	unsigned limit;
	unsigned offset;
};

/* A whole number in [lo, hi]: 0, or CLI_EXIT_USAGE after saying why. */
static int parse_count(const char *opt, const char *s, unsigned lo,
		       unsigned hi, unsigned *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || v < lo || v > hi) {
		cli_error("%s must be a number from %u to %u, not '%s'", opt,
			  lo, hi, s);
		return CLI_EXIT_USAGE;
	}
	*out = (unsigned)v;
	return 0;
}

static int take_option(int c, const char *arg, void *ctx)
{
	struct search_opts *o = ctx;

	if (c == 'n')
		return parse_count("--limit", arg, 1, CATALOG_SEARCH_MAX,
				   &o->limit);
	return parse_count("--offset", arg, 0, CATALOG_SEARCH_MAX,
			   &o->offset);
}

/* The last name of a path: a track without a title tag shows its file. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void print_result(const Musicfs__V1__SearchResult *r)
{
	char num[16] = "";

	if (r->track)
		snprintf(num, sizeof(num), "%02u ", r->track);
	printf("%s - %s - %s%s  (%s)\n",
	       *r->artist ? r->artist : "Unknown Artist",
	       *r->album ? r->album : "Unknown Album", num,
	       *r->title ? r->title : base_name(r->path), r->path);
}

/* ---- the daemon's catalog, read here -------------------------------- */

/* Does a daemon accept connections on the socket at path? */
static bool daemon_listens(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool ok;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

/*
 * *out: the catalog of the daemon at co's default target, opened
 * read-only, or NULL when the RPC must answer (--endpoint, no daemon
 * there, a catalog this user cannot open).  Returns an exit code: a bad
 * config file is one.
 */
static int daemon_catalog(const struct cli_common *co, struct catalog **out)
{
	struct config cfg;
	char *sock = NULL;
	char *db = NULL;
	const char *dir;
	int rc;

	*out = NULL;
	if (co->target.endpoint)
		return 0;
	config_init(&cfg);
	rc = cli_load_config(&cfg, co->target.config);
	dir = co->target.cache_dir ? co->target.cache_dir : cfg.cache_dir;
	if (!rc && dir) {
		sock = str_printf("%s/musicfs.sock", dir);
		db = str_printf("%s/musicfs.db", dir);
	}
	if (sock && db && daemon_listens(sock) &&
	    catalog_open(db, CATALOG_READER, 0, out))
		*out = NULL;
	/* one query, a few hundred pages read once: mapped, not pread */
	if (*out && catalog_map_file(*out, (int64_t)1 << 30))
		catalog_close(out);
	free(sock);
	free(db);
	config_release(&cfg);
	return rc;
}

struct local_print {
	bool json;
	char path[PATH_MAX + 2];
};

/* One result as the RPC would give it, printed the same way. */
static int print_row(void *ctx, const struct catalog_search_row *row)
{
	Musicfs__V1__SearchResult r = MUSICFS__V1__SEARCH_RESULT__INIT;
	struct local_print *lp = ctx;

	snprintf(lp->path, sizeof(lp->path), "/%s", row->path ? row->path : "");
	r.path = lp->path;
	r.artist = (char *)(row->artist ? row->artist : "");
	r.album = (char *)(row->album ? row->album : "");
	r.title = (char *)(row->title ? row->title : "");
	r.track = row->track > 0 ? (uint32_t)row->track : 0;
	r.disc = row->disc > 0 ? (uint32_t)row->disc : 0;
	r.year = row->year > 0 ? (uint32_t)row->year : 0;
	r.rank = row->score;
	if (lp->json)
		cli_print_json(&r.base);
	else
		print_result(&r);
	return 0;
}

/* Run query on c (one page: no result cache to fill); an exit code. */
static int search_here(struct catalog *c, bool json, const char *query,
		       unsigned limit, unsigned offset)
{
	struct local_print *lp = calloc(1, sizeof(*lp));
	struct search_plan *plan = NULL;
	char err[256] = "";
	int rc;

	if (!lp)
		return CLI_EXIT_FAILURE;
	lp->json = json;
	rc = search_compile(query, &plan, err, sizeof(err));
	if (!rc)
		rc = catalog_search_page(c, search_plan_query(plan), offset,
					 limit, print_row, lp);
	search_plan_free(plan);
	free(lp);
	if (rc)
		cli_error("search failed: %s", *err ? err : strerror(-rc));
	return rc ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* ---- the Search RPC ---------------------------------------------------- */

int cli_search_call(const struct cli_common *co, const char *query,
		    const char *collection, unsigned limit, unsigned offset)
{
	Musicfs__V1__SearchRequest req = MUSICFS__V1__SEARCH_REQUEST__INIT;
	const Musicfs__V1__SearchResponse *resp;
	ProtobufCMessage *m = NULL;
	struct cli_client *c;
	size_t i;
	int rc;

	req.query = (char *)query;
	req.collection = (char *)collection;
	req.limit = limit;
	req.offset = offset;
	rc = cli_client_open(&co->target, &c);
	if (rc)
		return rc;
	rc = cli_client_unary(c, "/musicfs.v1.MusicFS/Search", &req.base,
			      &musicfs__v1__search_response__descriptor, &m);
	resp = (const Musicfs__V1__SearchResponse *)m;
	for (i = 0; !rc && i < resp->n_results; i++) {
		if (co->json)
			cli_print_json(&resp->results[i]->base);
		else
			print_result(resp->results[i]);
	}
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	cli_client_close(c);
	return rc;
}

/* argv's operands joined by spaces (caller frees); NULL on ENOMEM. */
static char *join_words(char **words, size_t n)
{
	struct buf b = BUF_INIT_MAX(1 << 16);
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < n; i++)
		rc = buf_addf(&b, "%s%s", i ? " " : "", words[i]);
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* Does query parse?  0, or CLI_EXIT_USAGE after printing the column. */
static int check_query(const char *query)
{
	struct search_plan *plan = NULL;
	char err[256];
	int rc;

	rc = search_compile(query, &plan, err, sizeof(err));
	search_plan_free(plan);
	if (!rc)
		return 0;
	cli_error("bad query: %s", rc == -EINVAL ? err : strerror(-rc));
	return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
}

int cmd_search(int argc, char **argv, const struct cli_global *g)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "offset", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct search_opts o = { .limit = 100 };
	struct cli_extra_opts extra = { longopts, "n:o:", take_option, &o };
	struct cli_common co = { 0 };
	struct catalog *c = NULL;
	char **words;
	char *query;
	size_t n = 0;
	int rc = 0;

	(void)g;
	words = calloc((size_t)argc, sizeof(*words));
	if (!words)
		return CLI_EXIT_FAILURE;
	/* options may come anywhere: gather the words between them */
	while (!rc && optind < argc) {
		rc = cli_client_parse(argc, argv, search_usage, &extra, &co);
		/* after "--" every word is the query's ("-live") */
		if (!rc && optind > 1 && !strcmp(argv[optind - 1], "--"))
			while (optind < argc)
				words[n++] = argv[optind++];
		if (!rc && optind < argc)
			words[n++] = argv[optind++];
	}
	query = rc ? NULL : join_words(words, n);
	free(words);
	if (rc)
		return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
	if (!query)
		return CLI_EXIT_FAILURE;
	if (!n) {
		fputs(search_usage, stderr);
		rc = CLI_EXIT_USAGE;
	}
	if (!rc)
		rc = check_query(query);
	if (!rc)
		rc = daemon_catalog(&co, &c);
	if (!rc && c)
		rc = search_here(c, co.json, query, o.limit, o.offset);
	else if (!rc)
		rc = cli_search_call(&co, query, "", o.limit, o.offset);
	catalog_close(&c);
	free(query);
	return rc;
}
