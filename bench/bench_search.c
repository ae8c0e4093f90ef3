/*
 * bench_search.c - the search bars on a synthetic catalog (bench_search.sh).
 *
 *   bench_search fill DB N [SEED]
 *       make DB with N synthetic tracks through the catalog API, stored and
 *       placed the way the scanner does (catalog_file_put, tree_place,
 *       10,000 per transaction): the triggers write the search index as
 *       the tracks go in.  Prints the fill rate, then the time of a
 *       from-scratch rebuild of the index (catalog_search_rebuild).
 *   bench_search run DB N [SEED] [QUERIES]
 *       QUERIES (1000) distinct queries of every form, made from the names
 *       the fill with the same N and SEED used; each is compiled and run
 *       once (a first run: never answered by the result cache) and its
 *       first 100 results read.  Prints p50/p99 of the wall clock and of
 *       the CPU time per form and overall, PASS/FAIL against p99 < 50 ms,
 *       then what a repeated query costs (cache) and the slowest queries.
 *   bench_search --one QUERY DB
 *       what `musicfs search QUERY` will do: open the catalog read-only,
 *       run the query, print up to 100 results; timed from outside, with
 *       the process start-up, against `beet ls`.
 *   bench_search queries N [SEED] [QUERIES]
 *       print the mix, one "form<TAB>query" per line.
 *
 * Every name is a function of (SEED, what, index), so `run` rebuilds the
 * names of the catalog without reading it: 50,000 artists for a million
 * tracks (N/20; the first ones real names with diacritics, Motörhead,
 * Sigur Rós...), albums of 6 to 14 tracks, one in 12 a compilation,
 * titles from 150 common words and 30,000 made-up ones (some with
 * accents), 37 genres weighted like a real library, composers on 30 % of
 * the tracks, years 1950-2025 weighted toward recent ones.
 */
#include "common/mfs.h"
#include "common/buf.h"
#include "common/str.h"
#include "catalog/catalog.h"
#include "log/log.h"
#include "search/search.h"
#include "tree/tree.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

#define WORDS 30000
#define BATCH 10000

enum what { W_WORD = 1, W_ARTIST, W_ALBUM, W_TRACK, W_COMPOSER, W_QUERY };

static uint64_t seed;

/* ---- names ------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A generator for (what, index): the same numbers every time. */
static uint64_t rng_for(enum what w, uint64_t i, uint64_t j)
{
	return mix(seed ^ mix(((uint64_t)w << 56) ^ mix(i) ^ (j << 40)));
}

static uint64_t next(uint64_t *r)
{
	*r = mix(*r);
	return *r;
}

static size_t pick(uint64_t *r, size_t n)
{
	return (size_t)(next(r) % n);
}

static const char *const onsets[] = {
	"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r",
	"s", "t", "v", "w", "z", "br", "cr", "dr", "fr", "gr", "kr", "pr",
	"st", "tr", "sh", "ch", "th", "bl", "gl", "sl", "sk",
};
static const char *const vowels[] = {
	"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ou", "ea", "io", "y",
};
static const char *const accented[] = {
	"á", "é", "í", "ó", "ú", "ö", "ü", "ø", "å", "ë", "ñ", "ç",
};
static const char *const codas[] = { "n", "r", "s", "l", "k", "m", "th", "x" };

static const char *const common[] = {
	"love", "night", "heart", "time", "day", "life", "world", "dream",
	"fire", "rain", "blue", "light", "dark", "sun", "moon", "star", "song",
	"soul", "home", "road", "girl", "boy", "man", "woman", "baby", "city",
	"river", "sea", "sky", "black", "white", "red", "gold", "silver",
	"wild", "free", "blood", "angel", "devil", "heaven", "hell", "king",
	"queen", "war", "peace", "death", "ghost", "shadow", "storm", "wind",
	"summer", "winter", "morning", "midnight", "dance", "rock", "roll",
	"metal", "electric", "ocean", "mountain", "fall", "rise", "run", "fly",
	"burn", "cry", "broken", "lonely", "sweet", "crazy", "little", "big",
	"last", "first", "never", "forever", "again", "tonight", "yesterday",
	"tomorrow", "away", "back", "down", "up", "over", "under", "the", "of",
	"in", "on", "my", "your", "me", "you", "we", "to", "a", "and", "is",
	"it", "all", "no", "one", "two", "three", "time", "way", "eyes",
	"hand", "face", "door", "wall", "train", "car", "street", "highway",
	"paradise", "stone", "glass", "paper", "ice", "snow", "thunder",
	"lightning", "machine", "radio", "video", "dead", "alive", "young",
	"old", "new", "good", "bad", "true", "lost", "found", "end", "begin",
	"live", "remix", "edit", "version", "mix", "intro", "outro",
	"interlude",
	"reprise", "part", "theme",
};

/* Real names, first in the artist list: the diacritics targets. */
static const char *const specials[] = {
	"Motörhead", "Sigur Rós", "Björk", "Mötley Crüe",
	"Blue Öyster Cult",
	"Queensrÿche", "Hüsker Dü", "Beyoncé", "Metallica", "Iron Maiden",
	"Led Zeppelin", "Pink Floyd", "Megadeth", "Café Tacvba", "Röyksopp",
	"Mø", "Maná", "Zoé", "Sinéad O'Connor", "AC/DC",
};
static const char *const special_queries[] = {
	"motorhead", "sigur ros", "bjork", "motley crue", "blue oyster cult",
	"queensryche", "husker du", "beyonce", "cafe tacvba", "royksopp",
	"artist:motorhead", "artist:\"sigur ros\"", "mana", "zoe",
	"sinead o'connor", "ac/dc",
};

struct genre {
	const char *name;
	int weight;
};

static const struct genre genres[] = {
	{ "Rock", 150 }, { "Pop", 120 }, { "Electronic", 70 },
	{ "Hip Hop", 60 }, { "Jazz", 50 }, { "Metal", 45 },
	{ "Classical", 45 }, { "Indie", 40 }, { "Alternative Rock", 40 },
	{ "Folk", 30 }, { "Blues", 25 }, { "Country", 25 }, { "Soul", 25 },
	{ "R&B", 25 }, { "Punk", 20 }, { "Reggae", 18 }, { "Funk", 18 },
	{ "Heavy Metal", 15 }, { "Thrash Metal", 8 }, { "Ambient", 15 },
	{ "Techno", 15 }, { "House", 15 }, { "Trance", 10 }, { "Disco", 10 },
	{ "Soundtrack", 20 }, { "Latin", 15 }, { "Bossa Nova", 5 },
	{ "Post-Rock", 6 }, { "Shoegaze", 4 }, { "Grunge", 6 }, { "Ska", 4 },
	{ "Dub", 4 }, { "Synthpop", 8 }, { "New Wave", 8 },
	{ "Industrial", 5 }, { "Música Popular Brasileira", 4 },
	{ "Chanson Française", 4 },
};

/* One made-up word: 1 to 3 syllables, now and then an accent. */
static void make_word(uint64_t r, struct buf *b)
{
	size_t n = 1 + pick(&r, 3);
	size_t i;

	for (i = 0; i < n; i++) {
		buf_adds(b, onsets[pick(&r, MFS_ARRAY_SIZE(onsets))]);
		if (pick(&r, 100) < 7)
			buf_adds(b, accented[pick(&r,
						  MFS_ARRAY_SIZE(accented))]);
		else
			buf_adds(b, vowels[pick(&r, MFS_ARRAY_SIZE(vowels))]);
	}
	if (pick(&r, 100) < 35)
		buf_adds(b, codas[pick(&r, MFS_ARRAY_SIZE(codas))]);
}

static void vocab_word(size_t i, struct buf *b)
{
	make_word(rng_for(W_WORD, i, 0), b);
}

/* Upper-case the first letter if it is ASCII (enough for made-up words). */
static void add_capital(struct buf *b, size_t start)
{
	if (b->len > start && b->data[start] >= 'a' && b->data[start] <= 'z')
		b->data[start] = (char)(b->data[start] - 'a' + 'A');
}

/* A title word: common words follow a Zipf law, the rest are uniform. */
static void title_word(uint64_t *r, struct buf *b)
{
	size_t start = b->len;
	double u;

	if (pick(r, 100) < 30) {
		u = (double)(next(r) >> 11) / 9007199254740992.0;
		buf_adds(b, common[(size_t)(pow((double)MFS_ARRAY_SIZE(common),
						u)) - 1]);
	} else {
		vocab_word(pick(r, WORDS), b);
	}
	add_capital(b, start);
}

static void title_words(uint64_t r, size_t max, struct buf *b)
{
	size_t n = 1 + pick(&r, max);
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			buf_addch(b, ' ');
		title_word(&r, b);
	}
}

static size_t n_artists(size_t n)
{
	return MFS_MAX(n / 20, MFS_ARRAY_SIZE(specials));
}

static void artist_name(size_t i, struct buf *b)
{
	uint64_t r = rng_for(W_ARTIST, i, 0);
	size_t start;
	size_t n;
	size_t k;

	if (i < MFS_ARRAY_SIZE(specials)) {
		buf_adds(b, specials[i]);
		return;
	}
	if (pick(&r, 100) < 12)
		buf_adds(b, "The ");
	n = 1 + pick(&r, 2) + (pick(&r, 4) == 0);
	for (k = 0; k < n; k++) {
		if (k)
			buf_addch(b, ' ');
		start = b->len;
		make_word(next(&r), b);
		add_capital(b, start);
	}
}

static void composer_name(size_t i, struct buf *b)
{
	uint64_t r = rng_for(W_COMPOSER, i, 0);
	size_t start = b->len;

	make_word(next(&r), b);
	add_capital(b, start);
	buf_addch(b, ' ');
	start = b->len;
	make_word(next(&r), b);
	add_capital(b, start);
}

/* ---- albums and tracks -------------------------------------------------- */

struct album {
	size_t index;
	size_t artist;		/* artist index */
	bool compilation;
	int year;
	const char *genre;
	int tracks;
	int discs;
};

static const char *genre_of(uint64_t *r)
{
	static int total;
	size_t i;
	int x;

	if (!total)
		for (i = 0; i < MFS_ARRAY_SIZE(genres); i++)
			total += genres[i].weight;
	x = (int)pick(r, (size_t)total);
	for (i = 0; i < MFS_ARRAY_SIZE(genres) - 1; i++) {
		x -= genres[i].weight;
		if (x < 0)
			break;
	}
	return genres[i].name;
}

static void album_of(size_t a, size_t n, struct album *al)
{
	uint64_t r = rng_for(W_ALBUM, a, 0);
	size_t na = n_artists(n);

	al->index = a;
	al->artist = a < na ? a : pick(&r, na);
	al->compilation = pick(&r, 12) == 0;
	/* years weighted toward recent ones, 1950-2025 */
	al->year = 2025 - (int)(75.0 * pow((double)pick(&r, 10001) / 10000.0,
					   1.7));
	al->genre = genre_of(&r);
	al->tracks = 6 + (int)pick(&r, 9);
	al->discs = pick(&r, 10) == 0 ? 2 : 1;
}

static void album_title(size_t a, struct buf *b)
{
	title_words(rng_for(W_ALBUM, a, 1), 4, b);
}

static void track_title(size_t a, int t, struct buf *b)
{
	title_words(rng_for(W_TRACK, a, (uint64_t)t), 5, b);
}

/* Track t of album a: its artist and composer (if any) by index. */
static void track_people(const struct album *al, int t, size_t n,
			 size_t *artist, long *composer)
{
	uint64_t r = rng_for(W_TRACK, al->index, (uint64_t)t + 1000);

	*artist = al->compilation ? pick(&r, n_artists(n)) : al->artist;
	*composer = pick(&r, 10) < 3 ? (long)pick(&r, MFS_MAX(n / 50, 1)) : -1;
}

/* How many albums hold n tracks (the last one may be cut short). */
static size_t albums_for(size_t n)
{
	struct album al;
	size_t a = 0;
	size_t done = 0;

	while (done < n) {
		album_of(a++, n, &al);
		done += (size_t)al.tracks;
	}
	return a;
}

/* ---- fill --------------------------------------------------------------- */

struct filler {
	struct catalog *db;
	struct tree *tree;
	int64_t origin;
	size_t n;
	/* artist, album artist, album, title, composer, path */
	struct buf text[6];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: what a query costs, whatever else runs. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The tags of track t (1-based) of album al, in f->text. */
static void track_tags(struct filler *f, const struct album *al, int t,
		       struct formats_tags *tags)
{
	size_t artist;
	long composer;
	size_t i;

	for (i = 0; i < MFS_ARRAY_SIZE(f->text); i++)
		buf_reset(&f->text[i]);
	track_people(al, t, f->n, &artist, &composer);
	artist_name(artist, &f->text[0]);
	if (al->compilation)
		buf_adds(&f->text[1], "Various Artists");
	else
		artist_name(al->artist, &f->text[1]);
	album_title(al->index, &f->text[2]);
	track_title(al->index, t, &f->text[3]);
	if (composer >= 0)
		composer_name((size_t)composer, &f->text[4]);
	buf_addf(&f->text[5], "albums/%zu/%02d.flac", al->index, t);
	tags->artist = f->text[0].data;
	tags->album_artist = f->text[1].data;
	tags->album = f->text[2].data;
	tags->title = f->text[3].data;
	tags->composer = composer >= 0 ? f->text[4].data : NULL;
	tags->genre = (char *)al->genre;
	tags->year = al->year;
	tags->disc = al->discs > 1 && t > al->tracks / 2 ? 2 : 1;
	tags->track = tags->disc == 2 ? t - al->tracks / 2 : t;
	tags->disc_total = al->discs;
	tags->compilation = al->compilation;
}

/* Store and place one track as the scanner does. */
static int put_track(struct filler *f, const struct album *al, int t)
{
	struct formats_meta m = { 0 };
	struct catalog_file_info info = { 0 };
	int64_t id;
	char *key;
	int rc;

	m.kind = FORMATS_FLAC;
	m.duration = 200;
	track_tags(f, al, t, &m.tags);
	key = tree_album_key(&m.tags);
	if (!key)
		return -ENOMEM;
	info.origin = f->origin;
	info.relpath = f->text[5].data;
	info.size = 30000000;
	info.mtime_ns = 1;
	info.role = CATALOG_ROLE_TRACK;
	info.meta = &m;
	info.album_key = key;
	info.gen = 1;
	rc = catalog_file_put(f->db, &info, &id);
	if (!rc)
		rc = tree_place(f->tree, id);
	free(key);
	return rc;
}

static int next_batch(struct filler *f)
{
	int rc = tree_finish(f->tree);

	if (!rc)
		rc = catalog_commit(f->db);
	if (rc)
		return rc;
	tree_publish(f->tree);
	return catalog_begin(f->db);
}

static int fill_tracks(struct filler *f)
{
	struct album al;
	size_t done = 0;
	size_t a;
	int t;
	int rc = 0;

	for (a = 0; !rc && done < f->n; a++) {
		album_of(a, f->n, &al);
		for (t = 1; !rc && t <= al.tracks && done < f->n; t++) {
			rc = put_track(f, &al, t);
			if (!rc && ++done % BATCH == 0)
				rc = next_batch(f);
			if (!rc && done % 100000 == 0)
				fprintf(stderr, "  %zu tracks\n", done);
		}
	}
	if (!rc)
		rc = tree_finish(f->tree);
	if (!rc)
		rc = catalog_commit(f->db);
	return rc;
}

static int open_filler(struct filler *f, const char *path)
{
	char err[256];
	size_t i;
	int rc;

	for (i = 0; i < MFS_ARRAY_SIZE(f->text); i++)
		buf_init(&f->text[i], 4096);
	rc = catalog_open(path, CATALOG_WRITER, 64 * 1024, &f->db);
	if (!rc)
		rc = tree_new(f->db, NULL, &f->tree, err, sizeof(err));
	if (!rc)
		rc = catalog_begin(f->db);
	if (!rc)
		rc = catalog_origin_ensure(f->db, "synthetic", "local",
					   "/synth", &f->origin);
	if (!rc)
		rc = tree_sync_template(f->tree);
	return rc;
}

static void close_filler(struct filler *f)
{
	size_t i;

	if (f->db)
		catalog_rollback(f->db);
	tree_free(f->tree);
	catalog_close(&f->db);
	for (i = 0; i < MFS_ARRAY_SIZE(f->text); i++)
		buf_release(&f->text[i]);
}

static int cmd_fill(const char *path, size_t n)
{
	struct filler f = { 0 };
	double t0 = now_s();
	double t1;
	int rc;

	f.n = n;
	if (!access(path, F_OK)) {
		fprintf(stderr, "%s exists: fill makes a new catalog\n", path);
		return 2;
	}
	rc = open_filler(&f, path);
	if (!rc)
		rc = fill_tracks(&f);
	t1 = now_s();
	if (!rc) {
		printf("fill_tracks %zu\nfill_secs %.2f\nfill_rate %.0f\n", n,
		       t1 - t0, (double)n / (t1 - t0));
		fflush(stdout);
		rc = catalog_search_rebuild(f.db);
		printf("rebuild_secs %.2f\n", now_s() - t1);
	}
	close_filler(&f);
	if (rc)
		fprintf(stderr, "fill failed: %s\n", strerror(-rc));
	return rc ? 1 : 0;
}

/* ---- the query mix ------------------------------------------------------ */

struct mixer {
	size_t n;		/* tracks */
	size_t n_albums;
	struct buf tmp;
};

enum source { S_TITLE, S_ARTIST, S_ALBUM, S_COMPOSER };

/* The text of a random track's title, artist, album or composer. */
static void sample(struct mixer *m, uint64_t *r, enum source s, struct buf *b)
{
	struct album al;
	size_t artist;
	long composer;
	int t;

	do {
		album_of(pick(r, m->n_albums - 1), m->n, &al);
		t = 1 + (int)pick(r, (size_t)al.tracks);
		track_people(&al, t, m->n, &artist, &composer);
	} while (s == S_COMPOSER && composer < 0);
	buf_reset(b);
	if (s == S_TITLE)
		track_title(al.index, t, b);
	else if (s == S_ARTIST)
		artist_name(artist, b);
	else if (s == S_ALBUM)
		album_title(al.index, b);
	else
		composer_name((size_t)composer, b);
}

/* A random space-separated word of text, appended to out. */
static void some_word(const char *text, uint64_t *r, struct buf *out)
{
	size_t n = 1;
	size_t k;
	const char *p;
	const char *e;

	for (p = text; *p; p++)
		n += *p == ' ';
	k = pick(r, n);
	for (p = text; k; p++)
		k -= *p == ' ';
	e = strchr(p, ' ');
	buf_add(out, p, e ? (size_t)(e - p) : strlen(p));
}

/* A lower-case ASCII word of at least min letters, from titles and names. */
static void plain_word(struct mixer *m, uint64_t *r, size_t min,
		       struct buf *out)
{
	struct buf w = BUF_INIT_MAX(256);
	bool ok;
	size_t i;

	do {
		sample(m, r, pick(r, 2) ? S_TITLE : S_ARTIST, &m->tmp);
		buf_reset(&w);
		some_word(m->tmp.data, r, &w);
		ok = w.len >= min;
		for (i = 0; ok && i < w.len; i++) {
			w.data[i] = (char)(w.data[i] | 0x20);
			ok = w.data[i] >= 'a' && w.data[i] <= 'z';
		}
	} while (!ok);
	buf_add(out, w.data, w.len);
	buf_release(&w);
}

/* One typo: a letter changed, dropped or added. */
static void typo(uint64_t *r, struct buf *w, size_t from)
{
	size_t len = w->len - from;
	size_t at = from + pick(r, len);
	char c = (char)('a' + pick(r, 26));

	switch (pick(r, 3)) {
	case 0:
		if (c == w->data[at])
			c = (char)((c - 'a' + 1) % 26 + 'a');
		w->data[at] = c;
		break;
	case 1:
		memmove(w->data + at, w->data + at + 1, w->len - at);
		w->len--;
		break;
	default:
		buf_addch(w, 0);
		memmove(w->data + at + 1, w->data + at, w->len - at - 1);
		w->data[at] = c;
		break;
	}
}

static void q_term(struct mixer *m, uint64_t *r, struct buf *q)
{
	sample(m, r, pick(r, 3) ? S_TITLE : S_ARTIST, &m->tmp);
	some_word(m->tmp.data, r, q);
}

static void q_terms(struct mixer *m, uint64_t *r, struct buf *q)
{
	struct album al;
	size_t artist;
	long composer;
	int t;

	album_of(pick(r, m->n_albums - 1), m->n, &al);
	t = 1 + (int)pick(r, (size_t)al.tracks);
	track_people(&al, t, m->n, &artist, &composer);
	buf_reset(&m->tmp);
	artist_name(artist, &m->tmp);
	some_word(m->tmp.data, r, q);
	buf_addch(q, ' ');
	buf_reset(&m->tmp);
	track_title(al.index, t, &m->tmp);
	some_word(m->tmp.data, r, q);
}

static void q_field(struct mixer *m, uint64_t *r, struct buf *q)
{
	static const char *const fields[] = { "title", "artist", "album",
					      "composer" };
	size_t f = pick(r, 5);

	if (f == 4) {
		buf_addf(q, "genre:\"%s\"", genre_of(r));
		return;
	}
	sample(m, r, f == 0 ? S_TITLE : f == 1 ? S_ARTIST
				  : f == 2 ? S_ALBUM : S_COMPOSER, &m->tmp);
	buf_addf(q, "%s:", fields[f]);
	some_word(m->tmp.data, r, q);
}

static void q_phrase(struct mixer *m, uint64_t *r, struct buf *q)
{
	bool album = pick(r, 2);

	do
		sample(m, r, album ? S_ALBUM : S_TITLE, &m->tmp);
	while (!strchr(m->tmp.data, ' '));
	buf_addf(q, "%s:\"%s\"", album ? "album" : "title", m->tmp.data);
}

static void q_prefix(struct mixer *m, uint64_t *r, struct buf *q)
{
	size_t start = q->len;

	plain_word(m, r, 5, q);
	q->len = start + 3 + pick(r, 3);
	buf_addch(q, '*');
}

static void q_fuzzy(struct mixer *m, uint64_t *r, struct buf *q, int d)
{
	size_t start = q->len;
	int i;

	plain_word(m, r, 5 + (size_t)d, q);
	for (i = 0; i < d; i++)
		typo(r, q, start);
	buf_addf(q, "~%d", d);
}

static void q_fuzzy1(struct mixer *m, uint64_t *r, struct buf *q)
{
	q_fuzzy(m, r, q, 1);
}

static void q_fuzzy2(struct mixer *m, uint64_t *r, struct buf *q)
{
	q_fuzzy(m, r, q, 2);
}

static void q_range(struct mixer *m, uint64_t *r, struct buf *q)
{
	int a = 1950 + (int)pick(r, 70);
	int b = a + (int)pick(r, 12);

	(void)m;
	switch (pick(r, 5)) {
	case 0:
		buf_addf(q, "year:%d", a);
		break;
	case 1:
		buf_addf(q, "year:{%d TO %d}", a, b + 2);
		break;
	case 2:
		buf_addf(q, "year:[* TO %d]", a - 20);
		break;
	case 3:
		buf_addf(q, "year:[%d TO *]", b);
		break;
	default:
		buf_addf(q, "year:[%d TO %d]", a, b);
		break;
	}
}

static void q_boolean(struct mixer *m, uint64_t *r, struct buf *q)
{
	int a = 1960 + (int)pick(r, 55);

	switch (pick(r, 4)) {
	case 0:
		buf_addf(q, "genre:\"%s\" AND year:[%d TO %d]", genre_of(r), a,
			 a + 9);
		break;
	case 1:
		q_term(m, r, q);
		buf_adds(q, " OR ");
		q_term(m, r, q);
		break;
	case 2:
		buf_adds(q, "(");
		q_field(m, r, q);
		buf_adds(q, " OR ");
		q_field(m, r, q);
		buf_adds(q, ") AND ");
		q_term(m, r, q);
		break;
	default:
		q_terms(m, r, q);
		buf_addf(q, " AND year:[%d TO %d]", a - 30, a + 10);
		break;
	}
}

static void q_negation(struct mixer *m, uint64_t *r, struct buf *q)
{
	switch (pick(r, 4)) {
	case 0:
		q_term(m, r, q);
		buf_adds(q, " -");
		q_term(m, r, q);
		break;
	case 1:
		q_field(m, r, q);
		buf_adds(q, " NOT ");
		q_term(m, r, q);
		break;
	case 2:
		buf_addf(q, "genre:\"%s\" -year:[1970 TO 1999]", genre_of(r));
		break;
	default:
		buf_adds(q, "-");	/* only negative terms */
		q_term(m, r, q);
		break;
	}
}

static void q_accents(struct mixer *m, uint64_t *r, struct buf *q)
{
	(void)m;
	buf_adds(q, special_queries[pick(r, MFS_ARRAY_SIZE(special_queries))]);
}

struct form {
	const char *name;
	void (*make)(struct mixer *m, uint64_t *r, struct buf *q);
};

static const struct form forms[] = {
	{ "term", q_term },	      { "terms", q_terms },
	{ "field", q_field },	      { "phrase", q_phrase },
	{ "prefix", q_prefix },	      { "fuzzy~1", q_fuzzy1 },
	{ "fuzzy~2", q_fuzzy2 },      { "range", q_range },
	{ "boolean", q_boolean },     { "negation", q_negation },
	{ "accents", q_accents },
};

#define N_FORMS MFS_ARRAY_SIZE(forms)

struct query {
	size_t form;
	char *text;
	double ms;		/* wall clock */
	double cpu_ms;		/* the process's CPU time (both threads of a split ranking, syscalls too) */
	size_t results;
};

static bool seen(const struct query *qs, size_t n, const char *text)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(qs[i].text, text))
			return true;
	return false;
}

/* count distinct queries, the forms in turn (tries bound the few small ones) */
static struct query *make_mix(size_t n_tracks, size_t count, size_t *n_out)
{
	struct mixer m = { n_tracks, albums_for(n_tracks), BUF_INIT_MAX(4096) };
	struct query *qs = calloc(count, sizeof(*qs));
	struct buf q = BUF_INIT_MAX(4096);
	uint64_t r = rng_for(W_QUERY, 0, 0);
	size_t n = 0;
	size_t tries;

	for (tries = 0; qs && n < count && tries < count * 50; tries++) {
		size_t f = tries % N_FORMS;

		buf_reset(&q);
		forms[f].make(&m, &r, &q);
		if (!q.len || seen(qs, n, q.data))
			continue;
		qs[n].form = f;
		qs[n++].text = strdup(q.data);
	}
	buf_release(&q);
	buf_release(&m.tmp);
	*n_out = n;
	return qs;
}

/* ---- running ------------------------------------------------------------ */

static int count_row(void *ctx, const struct catalog_search_row *row)
{
	(void)row;
	(*(size_t *)ctx)++;
	return 0;
}

/*
 * Compile and run one query and read its first FIRST_PAGE results, as
 * `musicfs search` does by default (all the ranked results, up to 1000,
 * are found and cached either way); its time in ms (-1 on error).
 */
#define FIRST_PAGE 100

static double time_query(struct catalog *db, const char *text, size_t *n,
			 bool *cached, double *cpu_ms)
{
	struct catalog_search_info info = { 0 };
	struct search_plan *plan;
	char err[256];
	double c0 = cpu_s();
	double t0 = now_s();
	int rc;

	*n = 0;
	rc = search_compile(text, &plan, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "query '%s': %s\n", text, err);
		return -1;
	}
	rc = catalog_search(db, search_plan_query(plan), 0, FIRST_PAGE,
			    count_row, n, &info);
	search_plan_free(plan);
	*n = info.n_results;
	*cached = info.cached;
	if (rc) {
		fprintf(stderr, "query '%s': %s\n", text, strerror(-rc));
		return -1;
	}
	if (cpu_ms)
		*cpu_ms = (cpu_s() - c0) * 1000;
	return (now_s() - t0) * 1000;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double percentile(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);

	return n ? v[k ? k - 1 : 0] : 0;
}

#define BAR_MS 50.0

/* p50/p99 of the queries of form f (all forms if f == N_FORMS). */
static bool report(const struct query *qs, size_t n, size_t f)
{
	double *v = calloc(n ? n : 1, sizeof(*v));
	double *c = calloc(n ? n : 1, sizeof(*c));
	size_t k = 0;
	size_t res = 0;
	size_t i;
	double p99;

	for (i = 0; v && c && i < n; i++) {
		if (f != N_FORMS && qs[i].form != f)
			continue;
		c[k] = qs[i].cpu_ms;
		v[k++] = qs[i].ms;
		res += qs[i].results;
	}
	qsort(v, k, sizeof(*v), cmp_double);
	qsort(c, k, sizeof(*c), cmp_double);
	p99 = percentile(v, k, 99);
	printf("%-9s %4zu  %7.2f %7.2f %7.2f   %7.2f %7.2f   %6.1f  %s\n",
	       f == N_FORMS ? "ALL" : forms[f].name, k, percentile(v, k, 50),
	       p99, k ? v[k - 1] : 0, percentile(c, k, 50),
	       percentile(c, k, 99), k ? (double)res / (double)k : 0,
	       p99 < BAR_MS ? "PASS" : "FAIL");
	free(v);
	free(c);
	return p99 < BAR_MS;
}

static int cmp_slow(const void *a, const void *b)
{
	const struct query *x = a;
	const struct query *y = b;

	return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

/* The slowest queries, to see what the tail is made of. */
static void report_slowest(struct query *qs, size_t n, size_t k)
{
	size_t i;

	qsort(qs, n, sizeof(*qs), cmp_slow);
	printf("  slowest:\n");
	for (i = 0; i < n && i < k; i++)
		printf("    %8.2f ms (CPU %6.2f) %6zu results  %-9s %s\n",
		       qs[i].ms, qs[i].cpu_ms, qs[i].results,
		       forms[qs[i].form].name, qs[i].text);
}

/* A query asked again: answered by the cache. */
static void report_cache(struct catalog *db, const struct query *qs, size_t n)
{
	double total = 0;
	size_t hits = 0;
	size_t i;
	size_t res;
	bool cached;

	for (i = 0; i < n && i < 16; i++) {
		total += time_query(db, qs[n - 1 - i].text, &res, &cached,
				    NULL);
		hits += cached;
	}
	printf("  repeated: %zu of %zu from the result cache, mean %.3f ms\n",
	       hits, i, i ? total / (double)i : 0);
}

/* Keep only the queries of form name (NULL: all). */
static size_t only_form(struct query *qs, size_t n, const char *name)
{
	size_t k = 0;
	size_t i;

	for (i = 0; name && i < n; i++) {
		if (!strcmp(forms[qs[i].form].name, name))
			qs[k++] = qs[i];
		else
			free(qs[i].text);
	}
	return name ? k : n;
}

static int cmd_run(const char *path, size_t n_tracks, size_t count,
		   const char *form)
{
	struct catalog *db = NULL;
	struct query *qs;
	size_t n = 0;
	size_t i;
	bool cached;
	bool pass = true;
	int rc;

	rc = catalog_open(path, CATALOG_READER, 0, &db);
	if (rc) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(-rc));
		return 1;
	}
	qs = make_mix(n_tracks, count, &n);
	n = only_form(qs, n, form);
	for (i = 0; qs && i < n; i++) {
		qs[i].ms = time_query(db, qs[i].text, &qs[i].results, &cached,
				      &qs[i].cpu_ms);
		if (qs[i].ms < 0 || cached)
			pass = false;
	}
	printf("== %zu queries on %zu tracks (bar: p99 < %.0f ms, wall "
	       "clock)\n", n, n_tracks, BAR_MS);
	printf("form    queries  -------- wall ms -------   -- CPU ms --   "
	       "mean\n          (n)     p50     p99     max       p50     p99"
	       "   results\n");
	for (i = 0; i <= N_FORMS; i++)
		pass = report(qs, n, i) && pass;
	report_cache(db, qs, n);
	report_slowest(qs, n, 15);
	printf("verdict %s\n", pass ? "PASS" : "FAIL");
	for (i = 0; qs && i < n; i++)
		free(qs[i].text);
	free(qs);
	catalog_close(&db);
	return pass ? 0 : 1;
}

static int print_row(void *ctx, const struct catalog_search_row *row)
{
	(void)ctx;
	printf("%s\n", row->path ? row->path : "?");
	return 0;
}

/* What `musicfs search QUERY` does: open, run, print. */
static int cmd_one(const char *query, const char *path)
{
	struct catalog_search_info info = { 0 };
	struct catalog *db = NULL;
	char err[256];
	int rc;

	rc = catalog_open(path, CATALOG_READER, 0, &db);
	if (rc) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(-rc));
		return 1;
	}
	rc = search_run(db, query, 0, 100, print_row, NULL, &info, err,
			sizeof(err));
	if (rc)
		fprintf(stderr, "%s\n", err);
	else
		fprintf(stderr, "%zu results\n", info.n_results);
	catalog_close(&db);
	return rc ? 1 : 0;
}

static int cmd_queries(size_t n_tracks, size_t count)
{
	struct query *qs;
	size_t n = 0;
	size_t i;

	qs = make_mix(n_tracks, count, &n);
	for (i = 0; qs && i < n; i++) {
		printf("%s\t%s\n", forms[qs[i].form].name, qs[i].text);
		free(qs[i].text);
	}
	free(qs);
	return 0;
}

static size_t arg_size(const char *s, size_t dflt)
{
	long long v;

	return s && !str_to_ll(s, 1, LLONG_MAX, &v) ? (size_t)v : dflt;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_search fill DB N [SEED]\n"
			"       bench_search run DB N [SEED] [QUERIES] [FORM]\n"
			"       bench_search queries N [SEED] [QUERIES]\n"
			"       bench_search --one QUERY DB\n");
	return 2;
}

int main(int argc, char **argv)
{
	mfs_log_set_filter("warning", NULL, 0);
	if (argc == 4 && !strcmp(argv[1], "--one"))
		return cmd_one(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "fill")) {
		seed = arg_size(argc > 4 ? argv[4] : NULL, 1);
		return cmd_fill(argv[2], arg_size(argv[3], 0));
	}
	if (argc >= 4 && !strcmp(argv[1], "run")) {
		seed = arg_size(argc > 4 ? argv[4] : NULL, 1);
		return cmd_run(argv[2], arg_size(argv[3], 0),
			       arg_size(argc > 5 ? argv[5] : NULL, 1000),
			       argc > 6 ? argv[6] : NULL);
	}
	if (argc >= 3 && !strcmp(argv[1], "queries")) {
		seed = arg_size(argc > 3 ? argv[3] : NULL, 1);
		return cmd_queries(arg_size(argv[2], 0),
				   arg_size(argc > 4 ? argv[4] : NULL, 1000));
	}
	return usage();
}
