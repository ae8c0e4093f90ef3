/*
 * search_rpc.c - search and smart collections over the API: Search (a
 * page), SearchStream (one message per result), ListCollections,
 * CreateCollection, DeleteCollection.
 *
 * A search runs on the server's own reader connection, on the CQ thread:
 * a query takes milliseconds (DESIGN.md §5: p99 < 50 ms on a million
 * tracks) and a repeated one comes from the connection's result cache.
 * The stream runs the whole query when it starts and sends the results
 * it copied, so no catalog state lives across messages.  Creating and
 * deleting a collection write the catalog through the collections' own
 * writer connection, which can wait for the scanner's transaction.
 */
#include "common/mfs.h"
#include "common/str.h"
#define MFS_LOG_MODULE MFS_LOGM_CONTROL
#include "log/log.h"
#include "collections/collections.h"
#include "control/control_i.h"
#include "search/search.h"

#define SEARCH_DEFAULT_LIMIT 100

/* ---- results ------------------------------------------------------------ */

/* Results copied out of the catalog's callback, as messages. */
struct result_set {
	Musicfs__V1__SearchResult *rows;
	Musicfs__V1__SearchResult **ptrs;
	size_t n;
	size_t cap;
	int rc;
};

static void result_set_release(struct result_set *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		free(rs->rows[i].path);
		free(rs->rows[i].artist);
		free(rs->rows[i].album);
		free(rs->rows[i].title);
	}
	free(rs->rows);
	free(rs->ptrs);
	memset(rs, 0, sizeof(*rs));
}

/* A copy of s, "" for NULL. */
static char *dup_or_empty(const char *s)
{
	return str_dup(s ? s : "");
}

static int add_result(void *ctx, const struct catalog_search_row *row)
{
	struct result_set *rs = ctx;
	Musicfs__V1__SearchResult *m;

	if (rs->n == rs->cap) {	/* cap was sized for limit: never, but safe */
		rs->rc = -ENOBUFS;
		return 1;
	}
	m = &rs->rows[rs->n];
	musicfs__v1__search_result__init(m);
	m->path = str_printf("/%s", row->path ? row->path : "");
	m->artist = dup_or_empty(row->artist);
	m->album = dup_or_empty(row->album);
	m->title = dup_or_empty(row->title);
	m->track = row->track > 0 ? (uint32_t)row->track : 0;
	m->disc = row->disc > 0 ? (uint32_t)row->disc : 0;
	m->year = row->year > 0 ? (uint32_t)row->year : 0;
	m->rank = row->score;
	rs->ptrs[rs->n++] = m;
	if (!m->path || !m->artist || !m->album || !m->title) {
		rs->rc = -ENOMEM;
		return 1;
	}
	return 0;
}

/*
 * Run the request's query or collection: results [offset, offset +
 * limit) into rs.  An error is set in reply (INVALID_ARGUMENT with the
 * column for a bad query).
 */
static int run_request(struct control *srv,
		       const Musicfs__V1__SearchRequest *r, size_t limit,
		       struct result_set *rs, struct catalog_search_info *info,
		       struct control_reply *reply)
{
	struct collections *cs = control_deps_of(srv)->collections;
	struct catalog *c = control_catalog(srv);
	bool coll = r->collection && *r->collection;
	char err[256] = "";
	int rc;

	if (coll && r->query && *r->query)
		return control_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT,
					   "give a query or a collection, not "
					   "both");
	if (!c || (coll && !cs))
		return control_reply_error(reply, GRPC_STATUS_UNAVAILABLE,
					   "the catalog cannot be read");
	limit = MFS_MIN(limit, (size_t)CATALOG_SEARCH_MAX);
	rs->cap = limit;
	rs->rows = calloc(limit ? limit : 1, sizeof(*rs->rows));
	rs->ptrs = calloc(limit ? limit : 1, sizeof(*rs->ptrs));
	if (!rs->rows || !rs->ptrs)
		rc = -ENOMEM;
	else if (coll)
		rc = collections_run(cs, c, r->collection, r->offset, limit,
				     add_result, rs, info, err, sizeof(err));
	else
		rc = search_run(c, r->query ? r->query : "", r->offset, limit,
				add_result, rs, info, err, sizeof(err));
	if (!rc)
		rc = rs->rc;
	if (rc == -EINVAL)
		return control_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT,
					   "%s", err);
	if (rc == -ENOENT && coll)
		return control_reply_error(reply, GRPC_STATUS_NOT_FOUND,
					   "no collection '%s'", r->collection);
	if (rc)
		return control_reply_error(reply, GRPC_STATUS_INTERNAL,
					   "search failed: %s",
					   *err ? err : strerror(-rc));
	return 0;
}

/* ---- Search -------------------------------------------------------------- */

static int search_rpc(struct control *srv, const ProtobufCMessage *req,
		      struct control_reply *reply)
{
	const Musicfs__V1__SearchRequest *r =
		(const Musicfs__V1__SearchRequest *)req;
	Musicfs__V1__SearchResponse resp = MUSICFS__V1__SEARCH_RESPONSE__INIT;
	struct catalog_search_info info = { 0 };
	struct result_set rs = { 0 };
	int rc;

	rc = run_request(srv, r, r->limit ? r->limit : SEARCH_DEFAULT_LIMIT,
			 &rs, &info, reply);
	if (!rc) {
		resp.n_results = rs.n;
		resp.results = rs.ptrs;
		resp.total = (uint32_t)info.n_results;
		resp.offset = r->offset;
		resp.cached = info.cached;
		rc = control_reply_message(reply, &resp.base);
	}
	result_set_release(&rs);
	return rc;
}

/* ---- SearchStream -------------------------------------------------------- */

struct search_stream {
	struct result_set rs;
	size_t sent;
};

static int stream_begin(struct control *srv, const ProtobufCMessage *req,
			void **state, struct control_reply *reply)
{
	const Musicfs__V1__SearchRequest *r =
		(const Musicfs__V1__SearchRequest *)req;
	struct search_stream *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return control_reply_error(reply,
					   GRPC_STATUS_RESOURCE_EXHAUSTED,
					   "out of memory");
	rc = run_request(srv, r, r->limit ? r->limit : CATALOG_SEARCH_MAX,
			 &st->rs, NULL, reply);
	if (rc) {
		result_set_release(&st->rs);
		free(st);
		return rc;
	}
	*state = st;
	return 0;
}

static enum control_next stream_next(struct control *srv, void *state,
				     struct control_reply *reply)
{
	struct search_stream *st = state;

	(void)srv;
	if (st->sent == st->rs.n)
		return CONTROL_NEXT_DONE;
	if (control_reply_message(reply, &st->rs.ptrs[st->sent]->base))
		return CONTROL_NEXT_WAIT;
	st->sent++;
	return CONTROL_NEXT_MESSAGE;
}

static void stream_end(void *state)
{
	struct search_stream *st = state;

	result_set_release(&st->rs);
	free(st);
}

/* ---- collections --------------------------------------------------------- */

static struct collections *collections_of(struct control *srv,
					  struct control_reply *reply)
{
	struct collections *cs = control_deps_of(srv)->collections;

	if (!cs)
		control_reply_error(reply, GRPC_STATUS_UNAVAILABLE,
				    "collections are not available");
	return cs;
}

#define SOURCE(x) MUSICFS__V1__COLLECTION_SOURCE__COLLECTION_SOURCE_##x

static Musicfs__V1__CollectionSource source_of(enum collections_source s)
{
	switch (s) {
	case COLLECTIONS_BUILTIN:
		return SOURCE(BUILTIN);
	case COLLECTIONS_CONFIG:
		return SOURCE(CONFIG);
	case COLLECTIONS_API:
		return SOURCE(API);
	}
	return SOURCE(UNSPECIFIED);
}

/* Collections copied out of the list's callback. */
struct collection_set {
	Musicfs__V1__Collection *rows;
	Musicfs__V1__Collection **ptrs;
	size_t n;
};

static void collection_set_release(struct collection_set *cs)
{
	size_t i;

	for (i = 0; i < cs->n; i++) {
		free(cs->rows[i].name);
		free(cs->rows[i].query);
		free(cs->rows[i].description);
	}
	free(cs->rows);
	free(cs->ptrs);
}

static int add_collection(void *ctx, const struct collections_info *info)
{
	struct collection_set *cs = ctx;
	Musicfs__V1__Collection *rows;
	Musicfs__V1__Collection **ptrs;
	Musicfs__V1__Collection *m;
	size_t i;

	rows = realloc(cs->rows, (cs->n + 1) * sizeof(*rows));
	if (rows)
		cs->rows = rows;
	ptrs = rows ? realloc(cs->ptrs, (cs->n + 1) * sizeof(*ptrs)) : NULL;
	if (!ptrs)
		return -ENOMEM;
	cs->ptrs = ptrs;
	for (i = 0; i < cs->n; i++)	/* rows may have moved */
		ptrs[i] = &rows[i];
	m = &rows[cs->n];
	musicfs__v1__collection__init(m);
	m->name = str_dup(info->name);
	m->query = str_dup(info->query);
	m->description = str_dup(info->description);
	m->source = source_of(info->source);
	m->created_unix = info->created_at;
	ptrs[cs->n++] = m;
	return m->name && m->query && m->description ? 0 : -ENOMEM;
}

static int list_collections_rpc(struct control *srv,
				const ProtobufCMessage *req,
				struct control_reply *reply)
{
	Musicfs__V1__ListCollectionsResponse resp =
		MUSICFS__V1__LIST_COLLECTIONS_RESPONSE__INIT;
	struct collections *cols = collections_of(srv, reply);
	struct collection_set set = { 0 };
	int rc;

	(void)req;
	if (!cols)
		return -EINVAL;
	rc = collections_list(cols, add_collection, &set);
	if (rc)
		rc = control_reply_error(reply, GRPC_STATUS_INTERNAL,
					 "cannot list the collections: %s",
					 strerror(-rc));
	if (!rc) {
		resp.n_collections = set.n;
		resp.collections = set.ptrs;
		rc = control_reply_message(reply, &resp.base);
	}
	collection_set_release(&set);
	return rc;
}

/* The collection just made, as the list has it. */
struct find_one {
	const char *name;
	struct collection_set set;
};

static int find_collection(void *ctx, const struct collections_info *info)
{
	struct find_one *f = ctx;

	if (strcmp(info->name, f->name))
		return 0;
	return add_collection(&f->set, info) ? -ENOMEM : 1;
}

static int create_collection_rpc(struct control *srv,
				 const ProtobufCMessage *req,
				 struct control_reply *reply)
{
	const Musicfs__V1__CreateCollectionRequest *r =
		(const Musicfs__V1__CreateCollectionRequest *)req;
	struct collections *cols = collections_of(srv, reply);
	struct find_one f = { .name = r->name };
	char err[512] = "";
	int rc;

	if (!cols)
		return -EINVAL;
	rc = collections_create(cols, r->name, r->query, err, sizeof(err));
	if (rc == -EINVAL)
		return control_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT,
					   "%s", err);
	if (rc == -EEXIST)
		return control_reply_error(reply, GRPC_STATUS_ALREADY_EXISTS,
					   "%s", err);
	if (rc)
		return control_reply_error(reply, GRPC_STATUS_INTERNAL, "%s",
					   *err ? err : strerror(-rc));
	rc = collections_list(cols, find_collection, &f);
	if (rc == 1 && f.set.n)
		rc = control_reply_message(reply, &f.set.ptrs[0]->base);
	else	/* deleted meanwhile by another call */
		rc = control_reply_error(reply, GRPC_STATUS_ABORTED,
					 "collection '%s' went meanwhile",
					 r->name);
	collection_set_release(&f.set);
	return rc;
}

static int delete_collection_rpc(struct control *srv,
				 const ProtobufCMessage *req,
				 struct control_reply *reply)
{
	const Musicfs__V1__DeleteCollectionRequest *r =
		(const Musicfs__V1__DeleteCollectionRequest *)req;
	Musicfs__V1__DeleteCollectionResponse resp =
		MUSICFS__V1__DELETE_COLLECTION_RESPONSE__INIT;
	struct collections *cols = collections_of(srv, reply);
	char err[512] = "";
	int rc;

	if (!cols)
		return -EINVAL;
	rc = collections_delete(cols, r->name, err, sizeof(err));
	if (rc == -ENOENT)
		return control_reply_error(reply, GRPC_STATUS_NOT_FOUND, "%s",
					   err);
	if (rc == -EPERM)
		return control_reply_error(reply,
					   GRPC_STATUS_FAILED_PRECONDITION,
					   "%s", err);
	if (rc)
		return control_reply_error(reply, GRPC_STATUS_INTERNAL, "%s",
					   *err ? err : strerror(-rc));
	resp.deleted = true;
	return control_reply_message(reply, &resp.base);
}

const struct control_method control_search_methods[] = {
	{ .path = "/musicfs.v1.MusicFS/Search",
	  .request = &musicfs__v1__search_request__descriptor,
	  .unary = search_rpc },
	{ .path = "/musicfs.v1.MusicFS/SearchStream",
	  .request = &musicfs__v1__search_request__descriptor,
	  .stream = { stream_begin, stream_next, stream_end } },
	{ .path = "/musicfs.v1.MusicFS/ListCollections",
	  .request = &musicfs__v1__list_collections_request__descriptor,
	  .unary = list_collections_rpc },
	{ .path = "/musicfs.v1.MusicFS/CreateCollection",
	  .request = &musicfs__v1__create_collection_request__descriptor,
	  .unary = create_collection_rpc },
	{ .path = "/musicfs.v1.MusicFS/DeleteCollection",
	  .request = &musicfs__v1__delete_collection_request__descriptor,
	  .unary = delete_collection_rpc },
	{ .path = NULL },
};
