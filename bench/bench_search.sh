#!/usr/bin/env bash
# bench_search.sh - search: a million synthetic tracks, then against beets.
#
#   catalog: `bench_search fill` makes a catalog of BENCH_SEARCH_N
#            (1,000,000) synthetic tracks through the catalog API (stored
#            and placed as the scanner does; the triggers index them as
#            they go in) and times a from-scratch rebuild of the search
#            index.  Bar: index build < 60 s.  Kept in BENCH_DIR and reused
#            while bench_search.c and schema.c are unchanged.
#   queries: `bench_search run`: BENCH_QUERIES (1,000) distinct queries of
#            every form, each run once (never from the result cache).
#            Bar: p99 < 50 ms overall and per form.
#   beets:   a BENCH_BEETS_N (10,000) track library made by gen_library.py,
#            scanned by musicfs (its catalog) and imported into beets
#            (`beet import -A -C -W -q`, fuzzy plugin on).  Each query form
#            is timed as `beet ls QUERY`, as `musicfs search QUERY` (the
#            CLI, against the daemon still mounted on that library) and,
#            for reference, as `bench_search --one QUERY musicfs.db` (the
#            search alone in a lean process); start-up included, median of
#            BENCH_RUNS (5).  Bar: musicfs search >= 30x faster.
#
# usage: bench/bench_search.sh     (env: BENCH_SEARCH_N, BENCH_QUERIES,
#        BENCH_BEETS_N, BENCH_RUNS, BENCH_DIR, MUSICFS; see common.sh)
source "$(dirname "$0")/common.sh"
need beet fusermount3 mountpoint hyperfine

N=${BENCH_SEARCH_N:-1000000}
NQ=${BENCH_QUERIES:-1000}
NB=${BENCH_BEETS_N:-10000}
RUNS=${BENCH_RUNS:-5}
SEED=1
BS=$(dirname "$MUSICFS")/bench/bench_search
[ -x "$BS" ] || (cd "$REPO" && ninja -C "$(dirname "$MUSICFS")" bench/bench_search >/dev/null)

echo "== bench_search: $N synthetic tracks, $NQ queries; beet ls vs a one-shot search on $NB tracks"
machine_info

# ---------------------------------------------------------------- catalog
DB=$WORK/search-$N.db
stamp=$DB.stamp
want="$N $SEED $(cat "$BENCH_SRC/bench_search.c" "$REPO/src/catalog/schema.c" | md5sum | cut -c1-12)"
echo
if [ -f "$DB" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "-- catalog of $N tracks reused from $DB (index build figures: bench/README.md)"
	REBUILD=
else
	rm -f "$DB" "$DB-wal" "$DB-shm" "$stamp"
	echo "-- filling a catalog with $N synthetic tracks through the catalog API"
	out=$("$BS" fill "$DB" "$N" "$SEED")
	echo "$out" | sed 's/^/  /'
	REBUILD=$(echo "$out" | awk '$1 == "rebuild_secs" {print $2}')
	echo "$want" >"$stamp"
	echo "  catalog: $(du -m "$DB" | cut -f1) MB"
fi

# ---------------------------------------------------------------- queries
echo
echo "-- $NQ queries    [$(load_info | cut -c10-)]"
set +e
"$BS" run "$DB" "$N" "$SEED" "$NQ" | sed 's/^/  /'
QRC=${PIPESTATUS[0]}
set -e
echo "  [$(load_info | cut -c10-)]"

# ---------------------------------------------------------------- beets
LIB=$(library "$NB" "lib-$NB")
MAN=$LIB.manifest.tsv
echo
echo "-- musicfs catalog of $LIB (first scan)"
mkdir -p "$RUN/mnt" "$RUN/cache"
start_musicfs "$RUN/mnt" "$LIB" "$RUN/cache" "$RUN/scan.log"
SDB=$RUN/cache/musicfs.db	# the daemon stays: musicfs search asks it
echo "  $(grep -o 'scan of .* done in [0-9.]* s' "$RUN/scan.log" | tail -1)"

beets_fresh "$RUN/beets" fuzzy
echo "-- beets $(beet version 2>/dev/null | head -1 | awk '{print $3}') import of $NB files"
t0=$EPOCHREALTIME
beets_import "$LIB"
echo "  $("$PY" -c "print('%.1f' % ($EPOCHREALTIME - $t0))") s, $(beet ls 2>/dev/null | wc -l) items"

# names from the library's manifest: columns albumartist artist album year title
col() { awk -F'\t' -v c="$1" -v r="$2" 'NR == r + 1 {print $c}' "$MAN"; }
word() { echo "$1" | awk -v k="$2" '{print tolower($k)}'; }
ROW=$((NB / 3))
ARTIST=$(col 4 "$ROW")
ALBUM=$(col 5 "$ROW")
TITLE=$(col 9 "$ROW")
W1=$(word "$TITLE" 1)
W2=$(word "$TITLE" 2)
A2=$(word "$ARTIST" 2)
TYPO=$(echo "$A2" | sed 's/^\(..\)./\1/')	# one letter dropped
GENRE=$(beet ls -f '$genre' "artist:$ARTIST" 2>/dev/null | head -1)

# form | musicfs query | beets query (one argument per line)
FORMS=(
	"term|$W1|$W1"
	"terms|$A2 $W1|$A2
$W1"
	"field|artist:$A2|artist:$A2"
	"phrase|album:\"$ALBUM\"|album:$ALBUM"
	"prefix|${W2:0:4}*|${W2:0:4}"
	"fuzzy|$TYPO~1|~$TYPO"
	"range|year:[1980 TO 1989]|year:1980..1989"
	"boolean|genre:$GENRE AND year:[1980 TO 1989]|genre:$GENRE
year:1980..1989"
	"or|$W1 OR $W2|$W1
,
$W2"
	"negation|$A2 -$W1|$A2
^$W1"
	"accents|motorhead|motorhead"
)

# time_ms CMD...: median wall ms of RUNS runs after one warm-up (output
# discarded, start-up included), timed by hyperfine without a shell:
# timed from bash, each run also paid a fork of bash and a python call,
# ~1 ms on either side, a quarter of a musicfs search)
time_ms() {
	hyperfine -N -i --warmup 1 --runs "$RUNS" --export-json "$RUN/t.json" \
		"$(printf '%q ' "$@")" >/dev/null 2>&1 || { echo nan; return; }
	"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"] * 1000)' "$RUN/t.json"
}

echo
echo "-- one query per form: beet ls vs musicfs search (and bench_search --one), median of $RUNS, start-up included"
printf '  %-9s %9s %9s %9s %8s  %6s %6s  %s\n' form beets_ms cli_ms one_ms ratio beets mfs query
"$BS" --one warm "$SDB" >/dev/null 2>&1 || true
"$MUSICFS" search --cache-dir "$RUN/cache" warm >/dev/null 2>&1 || true
beet ls warm >/dev/null 2>&1 || true
worst=
for f in "${FORMS[@]}"; do
	IFS='|' read -r name mq bq <<<"$f"
	bq=${f#*|*|}
	mapfile -t bargs <<<"$bq"
	tb=$(time_ms beet ls "${bargs[@]}")
	tc=$(time_ms "$MUSICFS" search --cache-dir "$RUN/cache" -- "$mq")
	tm=$(time_ms "$BS" --one "$mq" "$SDB")
	nb=$(beet ls "${bargs[@]}" 2>/dev/null | wc -l)
	nm=$("$BS" --one "$mq" "$SDB" 2>&1 >/dev/null | awk '{print $1}')
	r=$(ratio "$tb" "$tc")
	printf '  %-9s %9.1f %9.2f %9.2f %7sx  %6s %6s  %s\n' "$name" "$tb" "$tc" \
		"$tm" "$r" "$nb" "$nm" "$mq"
	if [ -z "$worst" ] || "$PY" -c "import sys; sys.exit(not ($r < $worst))"; then
		worst=$r
	fi
done

echo
echo "== results"
[ -n "$REBUILD" ] && printf '  index build from scratch, %d tracks: %s s   bar < 60 s: %s\n' \
	"$N" "$REBUILD" "$(verdict "$REBUILD < 60")"
printf '  queries on %d tracks: see the table above   bar p99 < 50 ms: %s\n' "$N" \
	"$([ "$QRC" = 0 ] && echo PASS || echo FAIL)"
printf '  beet ls / musicfs search, worst form: %sx   bar >= 30x: %s\n' "$worst" \
	"$(verdict "$worst >= 30")"
load_info
