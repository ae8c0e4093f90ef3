/*
 * search_i.h - internals of the search module: the syntax tree that the
 * parser (query.c) builds and the compiler (compile.c) turns into SQL.
 */
#ifndef MFS_SEARCH_SEARCH_I_H
#define MFS_SEARCH_SEARCH_I_H

#include "search/search.h"

/* Nesting bound of groups and NOTs: the parser recurses once per level. */
#define SEARCH_DEPTH_MAX 32

/* Columns of search_fts, in table order; ANY: every column. */
enum search_field {
	SEARCH_FIELD_ANY = -1,
	SEARCH_FIELD_TITLE,
	SEARCH_FIELD_ARTIST,
	SEARCH_FIELD_ALBUM,
	SEARCH_FIELD_ALBUM_ARTIST,
	SEARCH_FIELD_GENRE,
	SEARCH_FIELD_COMPOSER,
	SEARCH_FIELD_YEAR,
};

enum search_node_kind {
	SN_EMPTY,	/* a term without letters or digits: dropped */
	SN_TERM,	/* a word or a phrase: text tokenized by the index */
	SN_PREFIX,	/* text* */
	SN_FUZZY,	/* text~dist */
	SN_RANGE,	/* year:[lo TO hi] */
	SN_AND,
	SN_OR,
	SN_NOT,		/* one kid */
};

/* Bounds of an open range side (years are stored as 1..9999). */
#define SEARCH_YEAR_MIN 0
#define SEARCH_YEAR_MAX 9999

struct search_node {
	enum search_node_kind kind;
	enum search_field field;
	int col;		/* 1-based column in the query, for messages */
	char *text;		/* TERM/PREFIX/FUZZY: unescaped user text */
	bool phrase;		/* TERM: written in quotes */
	int dist;		/* FUZZY: 1 or 2 */
	int lo, hi;		/* RANGE: inclusive, in the year bounds */
	struct search_node **kids;	/* AND/OR: two or more; NOT: one */
	size_t n_kids;
};

/*
 * Parse query into a tree (caller frees with search_node_free).  Errors as
 * search_compile.  Empty terms are already folded away: the tree has no
 * SN_EMPTY node unless the whole query is one (then -EINVAL).
 */
int search_parse(const char *query, struct search_node **out, char *err,
		 size_t errsize);

void search_node_free(struct search_node *n);

/* The name of a field as the index spells it ("title"; NULL for ANY). */
const char *search_field_name(enum search_field f);

/* Does the text have a character that the index keeps (letter, digit)? */
bool search_text_has_word(const char *s);

#endif
