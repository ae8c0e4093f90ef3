/*
 * template_i.h - path templates and name sanitizing, internal to tree/.
 *
 * A path template ("$albumartist/$album ($year)/$track - $title.$format")
 * turns the tags of one track into the components of its path in the
 * mount.  template_compile() parses the text once (at config load) into an
 * immutable struct template; template_render() then runs per track and
 * returns components that are already safe names: every value goes
 * through the same sanitizer as template_sanitize(), so a tag can never
 * add a path level, name a parent, hide a file or exceed NAME_MAX.
 *
 * Owns: nothing shared.  A compiled template is immutable, so any number
 * of threads may render with it at once without a lock; it is released
 * with template_free() by its owner (the tree) once no thread uses it.
 * Every function returning a string or an array says "caller frees".
 * No function here logs: compile errors are returned in a message buffer
 * for the caller (config) to report.
 *
 * Template language (DESIGN.md section 4):
 *   $name or ${name}      a variable: artist albumartist album title track
 *                         disc year genre composer format format_upper
 *   ${a|b|Default}        the first variable that is set; the last element
 *                         may be a literal default (may be empty: ${year|})
 *   $$                    a literal '$'
 *   /                     separates path components (never from a value)
 *   ( ) [ ] { }           a group: disappears, with the spaces before it,
 *                         when it holds variables and all of them are empty
 * Missing values: artist, albumartist "Unknown Artist", album "Unknown
 * Album", title the origin file name without its extension, genre
 * "Unknown Genre", composer "Unknown Composer"; track, disc, year and
 * format are empty.  A bare $albumartist falls back to $artist first.
 * $track is "03", or "2-03" on a multi-disc album unless the template uses
 * $disc; $disc is empty on single-disc albums.  The file name always ends
 * in ".<format>": a template whose last component does not end with
 * ".$format" (or ".$format_upper") gets it appended.
 */
#ifndef MFS_TREE_TEMPLATE_I_H
#define MFS_TREE_TEMPLATE_I_H

#include "common/mfs.h"

/* The template used when the configuration names none. */
#define TEMPLATE_DEFAULT \
	"$albumartist/$album ($year) [$format_upper]/$track - $title.$format"

/* Longest name a sanitized component may have, in bytes (NAME_MAX). */
#define TEMPLATE_NAME_MAX 255

/* Longest template text template_compile() accepts, in bytes. */
#define TEMPLATE_TEXT_MAX 4096

/* A compiled path template: immutable, shareable between threads. */
struct template;

/*
 * The tags of one track, borrowed by template_render() for the call only.
 * A NULL, empty or all-whitespace string is a missing value, and so is a
 * number <= 0.  Strings need not be valid UTF-8 (invalid bytes become
 * U+FFFD).
 */
struct template_vars {
	const char *artist, *albumartist, *album, *title, *genre, *composer;
	const char *format;	/* lowercase extension without dot: "flac" */
	const char *orig_name;	/* origin file name, e.g. "track01.flac" */
	int track, disc, year;
	bool multi_disc;	/* the album has more than one disc */
};

/*
 * Compile text (NULL means TEMPLATE_DEFAULT) into *out.  Returns 0, or
 * -EINVAL with a one-line message in err (errsize bytes, may be 0) that
 * names the 1-based column, in characters, of the mistake ("unknown
 * variable '$yaer' at column 14"), or -ENOMEM.  *out is NULL on failure.
 * The caller frees the template with template_free().
 */
int template_compile(const char *text, struct template **out, char *err,
		     size_t errsize);

/* Free a compiled template; NULL is accepted. */
void template_free(struct template *t);

/*
 * True if the template refers to variable var ("disc", with or without a
 * leading '$'), explicitly or through an implicit fallback: a bare
 * $albumartist also uses "artist", and every template uses "format" (the
 * file extension).  False for unknown names and a NULL template.
 */
bool template_uses(const struct template *t, const char *var);

/*
 * Render the path of one track: *components receives an array of *n
 * sanitized components (directories, then the file name with its
 * extension), each at most TEMPLATE_NAME_MAX bytes, never empty, "." or
 * "..".  A track with no title, artist, album artist nor album is put at
 * "Unknown Artist/Unknown Album/<orig_name sanitized>" whatever the
 * template.  The caller frees the result with template_components_free().
 * Returns 0 or -ENOMEM (then *components is NULL and *n is 0).
 * Thread-safe: the template is only read.
 */
int template_render(const struct template *t, const struct template_vars *v,
		    char ***components, size_t *n);

/* Free what template_render() returned; NULL is accepted. */
void template_components_free(char **components, size_t n);

/*
 * Make name a safe path component and return it; caller frees.
 *   - invalid UTF-8 becomes U+FFFD, then the text is NFC-normalized;
 *   - '/', '\\', '<', '>', '*', '|' become '_'; '"' becomes '\'';
 *     '?' is dropped; ':' becomes " -" before a space ("Title: Sub" ->
 *     "Title - Sub"), '-' between two characters ("Re:Stage" ->
 *     "Re-Stage") and is dropped at the end;
 *   - tab, CR, LF, VT, FF, U+2028 and U+2029 become one space; other
 *     control characters (C0, DEL, C1) and U+FEFF are dropped;
 *   - leading spaces, dots and dashes and trailing spaces and dots are
 *     removed;
 *   - the result is cut to TEMPLATE_NAME_MAX bytes on a grapheme cluster
 *     boundary (on a character boundary if one cluster is that long);
 *     with keep_ext, a final ".ext" (1 to 16 ASCII letters or digits,
 *     not at the start) is kept whole after the cut;
 *   - an empty result becomes "_", so the result is never "", "." or "..".
 * name may be NULL (treated as "").  Returns NULL only on ENOMEM.
 */
char *template_sanitize(const char *name, bool keep_ext);

/*
 * NFC-normalized copy of s (invalid UTF-8 becomes U+FFFD; NULL is "").
 * Caller frees.  NULL only on ENOMEM.
 */
char *template_nfc(const char *s);

/*
 * Fold key of s: NFC plus Unicode case folding, so that "Boredoms",
 * "BOREDOMS" and their NFD spellings have the same key; the tree merges
 * folders whose keys are equal.  Compare keys with strcmp().  Caller frees.
 * NULL only on ENOMEM.
 */
char *template_fold(const char *s);

#endif
