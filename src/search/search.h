/*
 * search.h - the query language of MusicFS search, compiled to SQL.
 *
 * Owns: the syntax of a search query (SPEC.md "Search", DESIGN.md §3):
 *
 *   metallica sandman           every term must match, in any field
 *   artist:Metallica            one field: title artist album album_artist
 *                               (or albumartist) genre composer year
 *   album:"Master of Puppets"   a phrase (words in this order)
 *   metal*                      a prefix
 *   metalica~1  metalica~2      within Levenshtein distance 1 or 2 of a
 *                               word of the index (`~` alone means ~2)
 *   year:[1980 TO 1989]         inclusive range; {} exclusive, * open;
 *                               year:1984 is the range [1984 TO 1984]
 *   a AND b, a OR b, NOT a, -a  boolean operators (upper case); NOT binds
 *                               tightest, then AND (also implicit between
 *                               terms), then OR; +a is a
 *   ( ... )  artist:( ... )     grouping; a field before a group applies
 *                               to the terms inside it
 *
 * Terms and phrases are matched the way the index folds them: case and
 * diacritics are ignored (motorhead finds Motörhead), punctuation splits
 * words (AC/DC is the phrase "ac dc").  A term with no letter or digit
 * ("&" in "Simon & Garfunkel") is dropped.  A query of negative terms
 * only ("-live") is allowed: it means every track but those.
 *
 * A query is compiled to one SQL statement for the catalog (struct
 * catalog_search_query, catalog.h), which runs it (catalog_search): the
 * text of every term is a bound parameter, written as an FTS5 string, so
 * no user text is ever read as SQL or FTS5 syntax.
 *
 * Threads: no shared state; a plan is immutable once compiled and may be
 * used by any thread and run on any catalog connection.
 */
#ifndef MFS_SEARCH_SEARCH_H
#define MFS_SEARCH_SEARCH_H

#include "common/mfs.h"
#include "catalog/catalog.h"

/* Longest query, in characters (Unicode code points). */
#define SEARCH_QUERY_MAX 256

/* At most this many fuzzy terms in one query (each expands to words). */
#define SEARCH_FUZZY_MAX 8

struct search_plan;

/*
 * Compile query (UTF-8, NUL-terminated).  On success *out is a plan the
 * caller frees with search_plan_free.  On a query that is too long, empty,
 * not UTF-8 or not valid syntax: -EINVAL and a one-line message in err
 * naming the column (1-based, in characters), e.g. "column 12: expected
 * ']' to close the range started at column 6".  -ENOMEM.  Never reads past
 * the NUL and never recurses deeper than a fixed bound.
 */
int search_compile(const char *query, struct search_plan **out, char *err,
		   size_t errsize);

/* Free a plan; accepts NULL. */
void search_plan_free(struct search_plan *p);

/* What the catalog runs (owned by the plan, valid until it is freed). */
const struct catalog_search_query *
search_plan_query(const struct search_plan *p);

/*
 * The normalized query: one canonical text per meaning up to case and
 * spacing ("Metallica  AND sandman" and "metallica sandman" give the
 * same).  It is the key of the catalog's result cache.
 */
const char *search_plan_key(const struct search_plan *p);

/*
 * Compile and run a query in one call: results [offset, offset + limit)
 * of the ranked list (at most CATALOG_SEARCH_MAX) through cb, as
 * catalog_search does.  Query errors: -EINVAL with the message in err;
 * catalog errors as catalog_search.  info may be NULL.
 */
int search_run(struct catalog *c, const char *query, size_t offset,
	       size_t limit,
	       int (*cb)(void *ctx, const struct catalog_search_row *row),
	       void *ctx, struct catalog_search_info *info, char *err,
	       size_t errsize);

#endif
