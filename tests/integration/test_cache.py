"""The content-addressed chunk cache, through a real mount whose local
origin is read through it (`[cache] cache_local_origins = true`).

What is checked: the bytes of every read equal the origin's, cold (misses)
and warm (hits); a second copy of an album and a re-tagged file store almost
nothing new; files read before keep reading when the origin goes away, the
others fail with EIO at once; a damaged chunk file is detected, counted and
repaired; LRU eviction keeps the cache within its budget; a crash during
heavy reads leaves a consistent cache; 500 readers at once; and the cache
commands of the CLI (stats, clear, prefetch) and their errors.  Every
test runs in a few seconds: the big files are generated once per session.

The figures come from `musicfs cache stats --json` (an independent view:
the CLI over the socket), the chunk files under CACHE_DIR/chunks/ab/<hex>
and, for the crash test, the index tables of the catalog read with
Python's sqlite3.  Hits and misses count windows (4 MiB) served from the
cache or fetched from an origin; hit_bytes/miss_bytes the bytes.
"""

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import mfs_helpers as H
from grpc_helpers import api, metrics_value, pb  # noqa: F401
from grpc_helpers import wait_subscribers

MiB = 1 << 20
WINDOW = 4 * MiB            # CACHE_WINDOW
CHUNK_MIN = 16 << 10        # CACHE_CHUNK_MIN
NO_DAEMON = 3

# ---- helpers -------------------------------------------------------------------

# Three tracks of white noise (FLAC barely compresses it): 11-13 MB each,
# three 4 MiB windows, the last one partial.
BIG = [
    H._t("big/alpha.flac", artist="Big Noise", album="Windows", date="2021",
         track="1", title="Alpha", source="noise", duration=95),
    H._t("big/beta.flac", artist="Big Noise", album="Windows", date="2021",
         track="2", title="Beta", source="noise", duration=88),
    H._t("big/gamma.flac", artist="Big Noise", album="Windows", date="2021",
         track="3", title="Gamma", source="noise", duration=80),
]
BIG_FOLDER = "Big Noise/Windows (2021) [FLAC]"


def windows(size):
    """Windows a file of size bytes is cut into (at least one)."""
    return max(1, -(-size // WINDOW))


def sha_of(path):
    """(sha256 hex, size) of a file, read in 1 MiB requests."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


class Origin:
    """A generated origin and the mount tree it gives (default template).

    expected: {mount relpath: H.Expected}; want(rel): the sha256s the mount
    file may have (a collision shows either file under either name)."""

    def __init__(self, root, images, tracks, folder_images, shas=None):
        self.root = root
        self.images = images
        self.tracks = tracks
        self.folder_images = folder_images
        self.expected = H.expected_tree(tracks, folder_images)
        self._shas = dict(shas or {})

    def sha(self, rel):
        if rel not in self._shas:
            self._shas[rel] = H.sha256_file(self.root / rel)
        return self._shas[rel]

    def size(self, rel):
        return os.path.getsize(self.root / rel)

    def want(self, mrel):
        e = self.expected[mrel]
        if e.kind == "cover":
            return {H.sha256_file(self.images / e.image)}
        return {self.sha(o) for o in e.origins}

    def track_paths(self):
        return sorted(p for p, e in self.expected.items()
                      if e.kind == "track")

    def file_paths(self):
        return sorted(p for p, e in self.expected.items() if e.kind != "dir")

    def path_of(self, origin_rel):
        return H.expected_path_of(origin_rel, self.tracks, self.folder_images)

    def unique_paths(self, tracks):
        """Mount paths of those tracks that no other file shares."""
        by_origin = {next(iter(e.origins)): p
                     for p, e in self.expected.items()
                     if e.kind == "track" and len(e.origins) == 1}
        return [by_origin[t.rel] for t in tracks if t.rel in by_origin]

    def track_bytes(self):
        return sum(self.size(t.rel) for t in self.tracks)

    def track_windows(self):
        return sum(windows(self.size(t.rel)) for t in self.tracks)

    def all_bytes(self):
        return sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(self.root) for f in fs)

    def copy(self, dest, tracks=None, folder_images=None):
        """A copy of the origin (or of some tracks only) at dest; the hashes
        known so far stay valid for the copy."""
        tracks = self.tracks if tracks is None else tracks
        folder_images = (self.folder_images if folder_images is None
                         else folder_images)
        for rel in [t.rel for t in tracks] + list(folder_images):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.root / rel, dest / rel)
        return Origin(dest, self.images, tracks, folder_images, self._shas)


def check_reads(m, origin, paths):
    """Read each mount path whole and check it against its origin.
    Returns the bytes read."""
    total = 0
    for rel in paths:
        got, n = sha_of(m.p(rel))
        assert got in origin.want(rel), f"{rel}: not the origin's bytes"
        total += n
    return total


def cache_config(tmp_path, budget_mb=None, verify_sha256=False):
    cfg = tmp_path / f"cache-{budget_mb}-{verify_sha256}.toml"
    text = "[cache]\ncache_local_origins = true\n"
    if budget_mb is not None:
        text += f"content_cache_mb = {budget_mb}\n"
    if verify_sha256:
        text += "verify_sha256 = true\n"
    cfg.write_text(text)
    return cfg


def cached_mount(mount_factory, origins, tmp_path, budget_mb=None,
                 verify_sha256=False, **kw):
    """A mount reading its local origins through the chunk cache."""
    cfg = cache_config(tmp_path, budget_mb, verify_sha256)
    return mount_factory([o.root if isinstance(o, Origin) else o
                          for o in origins],
                         extra=["--config", str(cfg)], **kw)


def cache_cli(run_musicfs, m, *args, **kw):
    return run_musicfs(["cache", *args, "--cache-dir", str(m.cache_dir)],
                       **kw)


def stats(run_musicfs, m):
    """`musicfs cache stats --json`, parsed."""
    res = cache_cli(run_musicfs, m, "stats", "--json")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 1, res.stdout
    return json.loads(res.stdout)


def wait_stats(run_musicfs, m, pred, what, timeout=5):
    """Poll the stats until pred(stats) holds; returns those stats."""
    last = [None]

    def ok():
        last[0] = stats(run_musicfs, m)
        return pred(last[0])

    assert H.wait_for(ok, H.scaled(timeout), interval=0.1), (
        f"{what}: not reached within {timeout} s; last stats {last[0]}")
    return last[0]


SETTLE_KEYS = ("chunks", "stored_bytes", "file_bytes", "evicted_chunks",
               "hits", "misses")


def settle(run_musicfs, m, timeout=5):
    """The stats once the index writer and the evictor are done: the same
    figures in two polls 0.3 s apart (the writer commits ~100 ms after a
    read)."""
    prev = [None]

    def quiet():
        s = stats(run_musicfs, m)
        same = prev[0] is not None and all(s[k] == prev[0][k]
                                           for k in SETTLE_KEYS)
        prev[0] = s
        return s if same else None

    s = H.wait_for(quiet, H.scaled(timeout), interval=0.3)
    assert s, f"the cache index did not settle within {timeout} s: {prev[0]}"
    return s


def chunk_files(m):
    """{hex name: path} of the chunk files under CACHE_DIR/chunks/ab/."""
    out = {}
    for p in (m.cache_dir / "chunks").glob("??/*"):
        if len(p.name) == 64 and p.name[:2] == p.parent.name:
            out[p.name] = p
    return out


def bad_chunk_files(files):
    """Names of chunk files whose content is not their name."""
    return sorted(name for name, p in files.items()
                  if H.sha256_file(p) != name)


def index_chunks(m):
    """{hex: size} of the chunks table of the catalog (read-only)."""
    db = sqlite3.connect(f"file:{m.cache_dir / 'musicfs.db'}?mode=ro",
                         uri=True, timeout=5)
    try:
        return {bytes(h).hex(): size
                for h, size in db.execute("SELECT hash, size FROM chunks")}
    finally:
        db.close()


def chunk_sum_lengths(m):
    """{length of the recorded checksum (None: none): chunk rows}."""
    db = sqlite3.connect(f"file:{m.cache_dir / 'musicfs.db'}?mode=ro",
                         uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT length(sum), count(*) FROM chunks "
                               "GROUP BY 1"))
    finally:
        db.close()


def chunk_places(m, name):
    """[(origin relpath, window)] of the file ranges the index keeps in
    chunk name."""
    db = sqlite3.connect(f"file:{m.cache_dir / 'musicfs.db'}?mode=ro",
                         uri=True, timeout=5)
    try:
        return db.execute("SELECT f.relpath, fc.win FROM file_chunks fc"
                          " JOIN files f ON f.id = fc.file"
                          " WHERE fc.hash = ?",
                          (bytes.fromhex(name),)).fetchall()
    finally:
        db.close()


def origin_row(s, origin_id="local"):
    rows = {o["origin_id"]: o for o in s["origins"]}
    return rows.get(origin_id, {"origin_id": origin_id, "chunks": 0,
                                "bytes": 0})


def drop_caches():
    """Drop the kernel's page cache: the next reads reach the daemon."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        pytest.skip(f"cannot drop the page cache: {e}")


def read_errno_timed(path, limit):
    """Open and read path on a thread of its own: (errno or None, seconds),
    or (None, None) if it did not end within limit seconds (the thread is
    left behind: the mount's teardown ends it)."""
    box = {}

    def run():
        t0 = time.monotonic()
        try:
            with open(path, "rb") as f:
                while f.read(MiB):
                    pass
            box["errno"] = None
        except OSError as e:
            box["errno"] = e.errno
        box["secs"] = time.monotonic() - t0

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(limit)
    return box.get("errno"), box.get("secs")


def check_consistent(run_musicfs, m, all_bytes):
    """The stats, the index and the chunk files agree."""
    s = stats(run_musicfs, m)
    idx = index_chunks(m)
    files = chunk_files(m)
    known = idx.keys() & files.keys()
    assert s["chunks"] == len(idx) == len(known), (
        s["chunks"], len(idx), len(known),
        sorted(idx.keys() - files.keys())[:5])
    assert s["stored_bytes"] == sum(idx.values())
    wrong_size = [h for h in known if files[h].stat().st_size != idx[h]]
    assert wrong_size == [], wrong_size[:5]
    assert bad_chunk_files(files) == []
    assert s["file_bytes"] <= all_bytes, (s["file_bytes"], all_bytes)
    return s


class Readers:
    """Threads reading mount files round and round, each checking the bytes
    it gets; a file's pages are dropped after each read (fadvise), so every
    round reaches the daemon.  Errors after stop() are expected (a killed
    daemon); wrong bytes never are."""

    def __init__(self, m, origin, paths, n):
        for rel in paths:
            origin.want(rel)        # the origin's hashes, before the race
        self.m, self.origin, self.paths = m, origin, paths
        self.stopping = threading.Event()
        self.wrong, self.errors = [], []
        self.rounds = 0
        self.threads = [threading.Thread(target=self._run, args=(k,),
                                         daemon=True) for k in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, k):
        i = k
        while not self.stopping.is_set():
            rel = self.paths[i % len(self.paths)]
            i += 1
            try:
                fd = os.open(self.m.p(rel), os.O_RDONLY)
                try:
                    h = hashlib.sha256()
                    while True:
                        b = os.read(fd, MiB)
                        if not b:
                            break
                        h.update(b)
                    if h.hexdigest() not in self.origin.want(rel):
                        self.wrong.append(rel)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    self.rounds += 1
                finally:
                    os.close(fd)
            except OSError as e:
                if self.stopping.is_set():
                    return
                self.errors.append((rel, e.errno))
                time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(H.scaled(10))
        assert not any(t.is_alive() for t in self.threads), "a reader hangs"


@pytest.fixture(scope="session")
def cache_origin(library, tmp_path_factory):
    """The library plus three big noise tracks (several windows each)."""
    root = tmp_path_factory.mktemp("cache_origin") / "origin"
    shutil.copytree(library.root, root)
    with ThreadPoolExecutor(max_workers=2) as ex:
        list(ex.map(lambda it: H.ffmpeg_track(it[1], root / it[1].rel,
                                              library.images, 1000 + it[0]),
                    enumerate(BIG)))
    o = Origin(root, library.images, H.LIBRARY + BIG, H.FOLDER_IMAGES)
    for t in BIG:
        assert 10 * MiB < o.size(t.rel) < 16 * MiB, (t.rel, o.size(t.rel))
    return o


@pytest.fixture
def big_only(cache_origin, tmp_path):
    """A private origin holding the three big tracks only."""
    return cache_origin.copy(tmp_path / "origin", BIG, {})


# ---- 1. bytes, misses then hits --------------------------------------------------

def test_reads_equal_origin_cold_then_warm(mount_factory, cache_origin,
                                           run_musicfs, tmp_path, api):
    o = cache_origin
    m = cached_mount(mount_factory, [o], tmp_path)
    assert H.list_tree(m.path) == set(o.expected)
    s0 = stats(run_musicfs, m)
    assert (s0["hits"], s0["misses"], s0["chunks"], s0["stored_bytes"],
            s0["file_bytes"], s0["bad_chunks"]) == (0, 0, 0, 0, 0, 0), s0
    assert s0["budget_bytes"] == 10 << 30       # content_cache_gb's default

    paths = o.file_paths()
    track_bytes, all_bytes = o.track_bytes(), o.all_bytes()
    read = check_reads(m, o, paths)             # cold: misses
    assert read >= track_bytes
    s1 = wait_stats(run_musicfs, m,
                    lambda s: s["file_bytes"] >= track_bytes,
                    "the index records every track read")
    s1 = settle(run_musicfs, m)
    assert s1["misses"] >= o.track_windows(), s1
    assert s1["miss_bytes"] > 0
    assert s1["hit_bytes"] + s1["miss_bytes"] >= track_bytes, s1
    assert track_bytes <= s1["file_bytes"] <= all_bytes, s1
    # the index and the chunk files agree, and every chunk is its name
    files = chunk_files(m)
    assert s1["chunks"] == len(files) > 0, (s1["chunks"], len(files))
    assert s1["stored_bytes"] == sum(p.stat().st_size for p in files.values())
    assert bad_chunk_files(files) == []
    assert s1["dedup_ratio"] == pytest.approx(
        s1["file_bytes"] / s1["stored_bytes"], rel=1e-6)
    # per origin: its distinct chunks and the bytes of its files cached
    assert s1["origins"] == [{"origin_id": "local", "chunks": s1["chunks"],
                              "bytes": s1["file_bytes"]}], s1["origins"]
    assert s1["evicted_chunks"] == 0 and s1["bad_chunks"] == 0

    drop_caches()
    check_reads(m, o, paths)                    # warm: hits only
    s2 = stats(run_musicfs, m)
    assert s2["misses"] == s1["misses"], (s1, s2)
    assert s2["miss_bytes"] == s1["miss_bytes"], (s1, s2)
    assert s2["hits"] - s1["hits"] >= o.track_windows(), (s1, s2)
    assert s2["hit_bytes"] - s1["hit_bytes"] >= track_bytes, (s1, s2)
    assert (s2["chunks"], s2["stored_bytes"]) == (s1["chunks"],
                                                  s1["stored_bytes"])
    assert s2["hit_rate"] == pytest.approx(
        s2["hits"] / (s2["hits"] + s2["misses"]), rel=1e-6)

    # the metrics page shows the same figures
    c = api(m)
    text = c.metrics_text()
    for name, key in (("musicfs_cache_hits_total", "hits"),
                      ("musicfs_cache_misses_total", "misses"),
                      ("musicfs_cache_hit_bytes_total", "hit_bytes"),
                      ("musicfs_cache_miss_bytes_total", "miss_bytes"),
                      ("musicfs_cache_size_bytes", "stored_bytes"),
                      ("musicfs_cache_file_bytes", "file_bytes"),
                      ("musicfs_cache_chunks", "chunks"),
                      ("musicfs_cache_budget_bytes", "budget_bytes"),
                      ("musicfs_cache_evicted_bytes_total", "evicted_bytes"),
                      ("musicfs_cache_bad_chunks_total", "bad_chunks")):
        assert metrics_value(text, name) == s2[key], (name, text)


# ---- 1b. small random reads ---------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_pages(path):
    """Pages of path in the kernel's page cache (util-linux fincore)."""
    out = subprocess.run(["fincore", "--raw", "--noheadings", "--output",
                          "PAGES", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[0])


def expected_bytes(o, rel):
    """The bytes of mount file rel (None if more than one origin file
    may be behind it)."""
    e = o.expected[rel]
    if e.kind == "cover":
        return (o.images / e.image).read_bytes()
    if len(e.origins) != 1:
        return None
    return (o.root / next(iter(e.origins))).read_bytes()


def random_reads(path, want, offsets, size=4096):
    """pread size bytes at each offset of path with read-ahead off (each
    read reaches the daemon as a request of its own unless its page is
    cached) and compare them with want (the file's bytes)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for off in offsets:
            got = os.pread(fd, size, off)
            assert got == want[off:off + size], f"{path} at {off}"
    finally:
        os.close(fd)


def test_small_random_reads_push_verified_chunks(mount_factory, cache_origin,
                                                 run_musicfs, tmp_path):
    """A small read served from the cache hands the whole chunks it
    verified to the page cache (notify_store): the pages around it are
    resident after one request, and every byte read later, from those
    pages or from the daemon, is the origin's.  Covers are ranges inside
    their tracks: their pages are at other offsets than the track's."""
    o = cache_origin
    m = cached_mount(mount_factory, [o], tmp_path)
    paths = o.file_paths()
    check_reads(m, o, paths)                    # fill the cache
    settle(run_musicfs, m)
    big = o.path_of(BIG[0].rel)
    want = (o.root / BIG[0].rel).read_bytes()

    drop_caches()
    assert resident_pages(m.p(big)) == 0
    # the middle of the second window: its chunk is a full one, >= 16 KiB
    mid = WINDOW + WINDOW // 2 + 3 * PAGE
    random_reads(m.p(big), want, [mid])
    pushed = resident_pages(m.p(big))
    assert CHUNK_MIN // PAGE - 1 <= pushed <= 2 * (256 << 10) // PAGE, pushed

    # every file, read in small pieces at random, then whole from the pages
    drop_caches()
    rng = random.Random(7)
    for rel in paths:
        want = expected_bytes(o, rel)
        if want is None:
            continue                    # two origin files share the path
        offs = [rng.randrange(0, max(1, len(want) - 4096)) for _ in range(48)]
        random_reads(m.p(rel), want, offs)
    check_reads(m, o, paths)
    s = stats(run_musicfs, m)
    assert s["bad_chunks"] == 0, s


# ---- 2. a second copy of an album --------------------------------------------------

def test_second_copy_of_album_is_deduplicated(mount_factory, big_only,
                                              run_musicfs, tmp_path):
    o = big_only
    m = cached_mount(mount_factory, [o], tmp_path)
    size = o.track_bytes()
    first = o.track_paths()
    check_reads(m, o, first)
    s1 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] == size,
                    "the first copy indexed")
    s1 = settle(run_musicfs, m)
    assert s1["file_bytes"] == size and s1["stored_bytes"] >= size * 0.99

    # the album again, byte for byte, in another folder of the origin
    shutil.copytree(o.root / "big", o.root.parent / "big copy")
    os.rename(o.root.parent / "big copy", o.root / "big copy")
    res = run_musicfs(["origin", "rescan", "local", "--json",
                       "--cache-dir", str(m.cache_dir)])
    assert res.returncode == 0, res.stderr
    copies = [p.replace(".flac", " (2).flac") for p in first]
    for p in copies:
        assert H.wait_for(lambda: os.path.exists(m.p(p)), H.scaled(5)), p
    both = Origin(o.root, o.images,
                  BIG + [H._t(t.rel.replace("big/", "big copy/"), **t.tags)
                         for t in BIG], {}, {})
    check_reads(m, both, first + copies)
    s2 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] == 2 * size,
                    "the second copy indexed")
    s2 = settle(run_musicfs, m)
    assert s2["file_bytes"] == 2 * size
    added = s2["stored_bytes"] - s1["stored_bytes"]
    assert added < 0.01 * s1["stored_bytes"], (added, s1, s2)
    assert s2["dedup_ratio"] >= 1.98, s2


# ---- 3. a re-tagged file -----------------------------------------------------------

def test_retagged_file_stores_little(mount_factory, big_only, run_musicfs,
                                     tmp_path):
    from mutagen.flac import FLAC, Padding
    o = big_only
    m = cached_mount(mount_factory, [o], tmp_path)
    rel = "big/alpha.flac"
    mpath = m.p(o.path_of(rel))
    path = o.root / rel
    old = path.read_bytes()
    got, _ = sha_of(mpath)
    assert got == H.sha256_bytes(old)
    s1 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] == len(old),
                    "the file indexed")
    s1 = settle(run_musicfs, m)

    # a 3 KiB tag, the padding kept as it was: the audio moves by 3 KiB
    f = FLAC(path)
    pad = sum(b.length for b in f.metadata_blocks if isinstance(b, Padding))
    f["comment"] = "c" * 3072
    f.save(padding=lambda info: pad)
    new = path.read_bytes()
    assert len(new) - len(old) >= 3072
    assert new[-(len(old) // 2):] == old[-(len(old) // 2):]
    assert new[:4096] != old[:4096]
    # the rescan: the mount shows the new size (its stamp changed)
    assert H.wait_for(lambda: os.stat(mpath).st_size == len(new),
                      H.scaled(10)), os.stat(mpath).st_size
    drop_caches()
    got, n = sha_of(mpath)
    assert (got, n) == (H.sha256_bytes(new), len(new))
    s2 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] == len(new),
                    "the new content indexed")
    s2 = settle(run_musicfs, m)
    assert s2["misses"] - s1["misses"] >= windows(len(new)), (s1, s2)
    added = s2["stored_bytes"] - s1["stored_bytes"]
    assert added < 0.10 * len(new), (added, len(new), s1, s2)
    # read once more: every window a hit now
    drop_caches()
    assert sha_of(mpath)[0] == H.sha256_bytes(new)
    s3 = stats(run_musicfs, m)
    assert s3["misses"] == s2["misses"]
    assert s3["hits"] - s2["hits"] >= windows(len(new))


# ---- 4. the origin goes away -------------------------------------------------------

def test_origin_away_serves_what_was_read(mount_factory, cache_origin,
                                          run_musicfs, tmp_path):
    o = cache_origin.copy(tmp_path / "origin")
    m = cached_mount(mount_factory, [o], tmp_path)
    was_read = ["big/alpha.flac", "incoming/mh/01.flac", "jp/tj1.mp3",
                "plain/p.flac"]
    never_read = ["big/beta.flac", "comp/01.flac"]
    paths = [o.path_of(r) for r in was_read]
    size = sum(o.size(r) for r in was_read)
    check_reads(m, o, paths)
    wait_stats(run_musicfs, m, lambda s: s["file_bytes"] >= size,
               "the files read indexed")
    settle(run_musicfs, m)

    want = {r: (o.sha(r), o.size(r)) for r in was_read}
    os.rename(o.root, tmp_path / "away")
    drop_caches()
    tree = H.list_tree(m.path)                  # the mount keeps its tree
    assert set(paths) <= tree
    for r, p in zip(was_read, paths):
        assert sha_of(m.p(p)) == want[r], p
    for r in never_read:
        p = m.p(o.path_of(r))
        err, secs = read_errno_timed(p, H.scaled(10))
        assert secs is not None, f"{p}: still hanging after 10 s"
        assert err == errno.EIO, (p, err and errno.errorcode[err])
        assert secs < H.scaled(2), (p, secs)
    # and what was read still reads, again
    drop_caches()
    assert sha_of(m.p(paths[0])) == want[was_read[0]]
    # a prefetch of a file never read fails, and says so
    res = cache_cli(run_musicfs, m, "prefetch", o.path_of(never_read[0]),
                    "--json", expect_error_lines=True)
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    last = json.loads(res.stdout.splitlines()[-1])
    assert (last["done"], last["files_total"], last["files_done"],
            last["files_failed"]) == (True, 1, 1, 1), last
    assert last["error"] != "" and last["error"] in res.stderr, (last,
                                                                 res.stderr)


# ---- 5. a damaged chunk file -------------------------------------------------------

class CatalogWriteLock:
    """Hold the catalog's write lock for a moment, as a scanner batch does
    (up to half a second): the cache's index writer waits for it (SQLite's
    busy timeout is 5 s), so the records of a few reads pile up and are
    committed together."""

    def __init__(self, m):
        self.path = m.cache_dir / "musicfs.db"

    def __enter__(self):
        self.db = sqlite3.connect(str(self.path), timeout=5,
                                  isolation_level=None)
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc):
        self.db.execute("ROLLBACK")
        self.db.close()


def flip_byte(path):
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0x40]))


@pytest.mark.parametrize("verify_sha256", [False, True],
                         ids=["checksum", "sha256"])
def test_flipped_byte_in_chunk_is_repaired(mount_factory, big_only,
                                           run_musicfs, tmp_path,
                                           verify_sha256):
    """Chunks are checked against the checksum recorded with them (every
    chunk row has one) or, with verify_sha256, against their names."""
    o = big_only
    m = cached_mount(mount_factory, [o], tmp_path,
                     verify_sha256=verify_sha256)
    paths = o.track_paths()
    check_reads(m, o, paths)
    wait_stats(run_musicfs, m, lambda s: s["file_bytes"] == o.track_bytes(),
               "the files indexed")
    s1 = settle(run_musicfs, m)
    files = chunk_files(m)
    assert len(files) == s1["chunks"]
    assert chunk_sum_lengths(m) == {16: s1["chunks"]}   # XXH3-128 each
    # two chunks of the album (full-size ones, not a file's last bytes)
    full = sorted(n for n, p in files.items() if p.stat().st_size >= CHUNK_MIN)
    victims = [full[len(full) // 3], full[2 * len(full) // 3]]
    total = o.all_bytes()

    def damage_and_read(name, expect_bad, busy_index):
        victim = files[name]
        flip_byte(victim)
        assert H.sha256_file(victim) != name
        drop_caches()
        if busy_index:
            # the damaged chunk found and its window refetched while the
            # index writer waits for the catalog: read just that window
            (rel, win), = chunk_places(m, name)
            want = (o.root / rel).read_bytes()[win * WINDOW:
                                              (win + 1) * WINDOW]
            with CatalogWriteLock(m):
                fd = os.open(m.p(o.path_of(rel)), os.O_RDONLY)
                try:
                    assert os.pread(fd, WINDOW, win * WINDOW) == want
                finally:
                    os.close(fd)
        check_reads(m, o, paths)                # correct bytes all the same
        s = wait_stats(run_musicfs, m,
                       lambda s: s["bad_chunks"] >= expect_bad,
                       "the damaged chunk counted")
        s = settle(run_musicfs, m)
        assert s["bad_chunks"] == expect_bad, s
        # rewritten under its name with the right content, and kept
        assert victim.exists(), f"{victim} not repaired (no file)"
        assert H.sha256_file(victim) == name, f"{victim} still bad"
        s = check_consistent(run_musicfs, m, total)
        assert (s["chunks"], s["stored_bytes"]) == (s1["chunks"],
                                                    s1["stored_bytes"]), s
        # and served from the cache again
        drop_caches()
        check_reads(m, o, paths)
        s2 = stats(run_musicfs, m)
        assert s2["bad_chunks"] == expect_bad
        assert s2["misses"] == s["misses"], ("read from the origin again",
                                             s, s2)

    damage_and_read(victims[0], 1, busy_index=False)
    damage_and_read(victims[1], 2, busy_index=True)


# ---- 6. eviction -------------------------------------------------------------------

def test_eviction_keeps_budget_and_recent_files(mount_factory, cache_origin,
                                                run_musicfs, tmp_path, api,
                                                pb):
    o = cache_origin
    budget = 8 * MiB
    m = cached_mount(mount_factory, [o], tmp_path, budget_mb=8)
    s0 = stats(run_musicfs, m)
    assert s0["budget_bytes"] == budget
    c = api(m)
    events = c.subscribe([pb.msg.EVENT_TYPE_CACHE_EVICTION])
    assert wait_subscribers(c, 1) == 1

    # the oldest: the big album, 35 MB, much more than the budget
    old = [o.path_of(t.rel) for t in BIG]
    check_reads(m, o, old)
    s1 = wait_stats(run_musicfs, m,
                    lambda s: s["evicted_chunks"] > 0
                    and s["stored_bytes"] <= budget,
                    "eviction down to the budget")
    # the most recent: the library tracks, 1.5 MB
    recent = o.unique_paths(H.LIBRARY)
    recent_bytes = sum(os.path.getsize(m.p(p)) for p in recent)
    recent_windows = sum(windows(os.path.getsize(m.p(p))) for p in recent)
    assert recent_bytes < 0.5 * budget
    check_reads(m, o, recent)
    s1 = settle(run_musicfs, m)
    assert s1["stored_bytes"] <= budget, s1
    assert s1["evicted_chunks"] > 0 and s1["evicted_bytes"] > 0, s1
    big_bytes = sum(o.size(t.rel) for t in BIG)
    assert s1["evicted_bytes"] >= big_bytes + recent_bytes - budget, s1

    ev = events.wait_for(lambda e: e.type == pb.msg.EVENT_TYPE_CACHE_EVICTION,
                         timeout=5)
    assert ev is not None, "no cache_eviction event"
    assert ev.type_name == "cache_eviction" and ev.value > 0, ev
    # every eviction is published: the values add up to evicted_bytes
    assert H.wait_for(lambda: sum(e.value for e in events.snapshot())
                      == s1["evicted_bytes"], H.scaled(3)), (
        sum(e.value for e in events.snapshot()), s1["evicted_bytes"])
    events.cancel()

    # the recent files are hits ...
    drop_caches()
    check_reads(m, o, recent)
    s2 = stats(run_musicfs, m)
    assert s2["misses"] == s1["misses"], (s1, s2)
    assert s2["hits"] - s1["hits"] >= recent_windows, (s1, s2)
    # ... the oldest one is not
    alpha = o.path_of("big/alpha.flac")
    check_reads(m, o, [alpha])
    s3 = stats(run_musicfs, m)
    assert s3["misses"] - s2["misses"] >= windows(o.size("big/alpha.flac")), (
        s2, s3)
    s3 = settle(run_musicfs, m)
    assert s3["stored_bytes"] <= budget, s3


def test_eviction_under_concurrent_reads(mount_factory, cache_origin,
                                         run_musicfs, tmp_path):
    """Readers on several threads while the evictor works: the cache ends
    within its budget, and its index, its figures and its files agree."""
    o = cache_origin
    budget = 8 * MiB
    m = cached_mount(mount_factory, [o], tmp_path, budget_mb=8)
    paths = [o.path_of(t.rel) for t in BIG] + o.unique_paths(H.LIBRARY)[:6]
    readers = Readers(m, o, paths, 4)
    try:
        churned = H.wait_for(
            lambda: stats(run_musicfs, m)["evicted_bytes"] >= 6 * budget,
            H.scaled(20), interval=0.2)
    finally:
        readers.stop()
    assert readers.wrong == [] and readers.errors == [], (
        readers.wrong[:5], readers.errors[:5])
    assert churned, stats(run_musicfs, m)
    s = settle(run_musicfs, m)
    assert s["stored_bytes"] <= budget, s
    check_consistent(run_musicfs, m, o.all_bytes())


# ---- 7. kill -9 during heavy reads ---------------------------------------------------

def test_kill_during_reads_then_restart(mount_factory, cache_origin,
                                        run_musicfs, tmp_path):
    o = cache_origin
    cache = tmp_path / "cache"
    m = cached_mount(mount_factory, [o], tmp_path, cache_dir=cache)
    readers = Readers(m, o, [o.path_of(t.rel) for t in BIG], 6)
    # chunks are being written: kill it in the middle
    assert H.wait_for(lambda: len(chunk_files(m)) >= 40, H.scaled(10))
    m.proc.kill()
    m.proc.wait(H.scaled(10))
    m.expected_rc = -signal.SIGKILL
    readers.stop()
    assert readers.wrong == [], "wrong bytes read before the kill"
    subprocess.run(["fusermount3", "-u", "-z", str(m.path)], check=True)
    # no chunk file under its name with other content, whatever was cut
    assert bad_chunk_files(chunk_files(m)) == []

    m2 = cached_mount(mount_factory, [o], tmp_path, cache_dir=cache,
                      mountpoint=m.path)
    all_bytes = o.all_bytes()
    before = check_consistent(run_musicfs, m2, all_bytes)
    drop_caches()
    check_reads(m2, o, o.file_paths())
    wait_stats(run_musicfs, m2,
               lambda s: s["file_bytes"] >= o.track_bytes(),
               "every track indexed after the restart")
    settle(run_musicfs, m2)
    after = check_consistent(run_musicfs, m2, all_bytes)
    assert after["chunks"] >= before["chunks"]
    assert o.track_bytes() <= after["file_bytes"]


# ---- 8. 500 readers at once ----------------------------------------------------------

def test_500_concurrent_readers(mount_factory, cache_origin, run_musicfs,
                                tmp_path):
    n = 500
    root = tmp_path / "many"
    names = H.build_big_album(root, cache_origin.root / "plain" / "p.flac", n)
    folder = "Big/Huge (2020) [FLAC]"
    files = [(f"{folder}/{names[i]}", root / "big" / f"t{i + 1:04d}.flac")
             for i in range(n)]
    want = {rel: H.sha256_file(src) for rel, src in files}
    assert len(set(want.values())) == n            # n different contents
    total = sum(os.path.getsize(src) for _, src in files)
    m = cached_mount(mount_factory, [root], tmp_path)
    assert H.wait_for(lambda: len(os.listdir(m.p(folder))) == n,
                      H.scaled(10))

    def read_all_at_once():
        barrier = threading.Barrier(n)
        out = {}

        def one(rel):
            barrier.wait(H.scaled(30))
            try:
                out[rel] = sha_of(m.p(rel))[0]
            except OSError as e:
                out[rel] = f"errno {e.errno}"

        threads = [threading.Thread(target=one, args=(rel,), daemon=True)
                   for rel, _ in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join(H.scaled(60))
        assert not any(t.is_alive() for t in threads), "readers hang"
        bad = sorted(rel for rel, _ in files if out.get(rel) != want[rel])
        assert bad == [], f"{len(bad)} wrong: {bad[:5]} {out.get(bad[0])}"

    read_all_at_once()                              # all misses
    s1 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] == total,
                    "all 500 files indexed", timeout=10)
    s1 = settle(run_musicfs, m)
    assert s1["misses"] >= n
    assert bad_chunk_files(chunk_files(m)) == []
    drop_caches()
    read_all_at_once()                              # all hits
    s2 = stats(run_musicfs, m)
    assert s2["misses"] == s1["misses"], (s1, s2)
    assert s2["hits"] - s1["hits"] >= n, (s1, s2)


# ---- 9. the cache commands -------------------------------------------------------------

def test_cache_clear_and_prefetch(mount_factory, cache_origin, run_musicfs,
                                  tmp_path):
    o = cache_origin
    m = cached_mount(mount_factory, [o], tmp_path)
    lib = o.unique_paths(H.LIBRARY)
    lib_bytes = check_reads(m, o, lib)
    s1 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] >= lib_bytes,
                    "the library indexed")
    s1 = settle(run_musicfs, m)
    on_disk = set(chunk_files(m))
    assert s1["chunks"] == len(on_disk) > 0

    # human stats
    res = cache_cli(run_musicfs, m, "stats")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("size "), res.stdout
    assert f"in {s1['chunks']} chunks" in res.stdout

    # --dry-run: the figures, nothing changes
    for args in (["clear", "--dry-run"], ["clear", "local", "--dry-run"],
                 ["clear", "-n", "local"]):
        res = cache_cli(run_musicfs, m, *args, "--json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == {"chunks": s1["chunks"],
                                          "bytes": s1["stored_bytes"],
                                          "dry_run": True}, (args, res.stdout)
    assert set(chunk_files(m)) == on_disk
    s = stats(run_musicfs, m)
    assert (s["chunks"], s["stored_bytes"], s["file_bytes"]) == (
        s1["chunks"], s1["stored_bytes"], s1["file_bytes"])
    res = cache_cli(run_musicfs, m, "clear", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"would free {s1['chunks']} chunks"), \
        res.stdout

    # an unknown origin
    res = cache_cli(run_musicfs, m, "clear", "nosuch", expect_error_lines=True)
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert "nosuch" in res.stderr

    # clear the origin: its chunks go, the files read again (refetched)
    res = cache_cli(run_musicfs, m, "clear", "local", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"chunks": s1["chunks"],
                                      "bytes": s1["stored_bytes"],
                                      "dry_run": False}, res.stdout
    s2 = stats(run_musicfs, m)
    assert (s2["chunks"], s2["stored_bytes"], s2["file_bytes"]) == (0, 0, 0), s2
    assert origin_row(s2) == {"origin_id": "local", "chunks": 0, "bytes": 0}
    assert H.wait_for(lambda: not chunk_files(m), H.scaled(3)), (
        len(chunk_files(m)))
    drop_caches()
    check_reads(m, o, lib)
    s3 = wait_stats(run_musicfs, m, lambda s: s["file_bytes"] >= lib_bytes,
                    "the library indexed again")
    s3 = settle(run_musicfs, m)
    assert s3["misses"] - s2["misses"] >= len(lib), (s2, s3)
    assert s3["chunks"] == s1["chunks"]
    assert s3["stored_bytes"] == s1["stored_bytes"]

    # prefetch a folder (relative to the mount's root) and a file (absolute)
    res = cache_cli(run_musicfs, m, "prefetch", BIG_FOLDER, "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(l) for l in res.stdout.splitlines()]
    last = lines[-1]
    big_bytes = sum(o.size(t.rel) for t in BIG)
    assert last["done"] is True and all(not l["done"] for l in lines[:-1])
    assert (last["files_total"], last["files_done"], last["files_failed"],
            last["files_skipped"], last["error"]) == (3, 3, 0, 0, ""), last
    assert last["bytes_total"] == last["bytes_done"] == big_bytes, last
    s4 = wait_stats(run_musicfs, m,
                    lambda s: s["file_bytes"] >= s3["file_bytes"] + big_bytes,
                    "the prefetched files indexed")
    s4 = settle(run_musicfs, m)
    assert s4["misses"] - s3["misses"] >= sum(windows(o.size(t.rel))
                                              for t in BIG), (s3, s4)
    drop_caches()
    check_reads(m, o, [o.path_of(t.rel) for t in BIG])
    s5 = stats(run_musicfs, m)
    assert s5["misses"] == s4["misses"], (s4, s5)
    assert s5["hits"] - s4["hits"] >= sum(windows(o.size(t.rel))
                                          for t in BIG)

    one = o.path_of("big/alpha.flac")
    res = cache_cli(run_musicfs, m, "prefetch", str(m.p(one)), "--json")
    assert res.returncode == 0, res.stderr
    last = json.loads(res.stdout.splitlines()[-1])
    assert (last["files_total"], last["files_done"], last["done"]) == (
        1, 1, True), last
    assert last["bytes_done"] == o.size("big/alpha.flac")
    # the human form
    res = cache_cli(run_musicfs, m, "prefetch", "/" + BIG_FOLDER)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("prefetched 3 files"), res.stdout

    # a path that is not in the mount
    res = cache_cli(run_musicfs, m, "prefetch", "No Such Artist/Nothing",
                    expect_error_lines=True)
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("musicfs: "), res.stderr
    assert "No Such Artist/Nothing" in lines[0], res.stderr
    assert res.stdout == ""

    # clear everything: no chunk left, and the files still read
    s6 = settle(run_musicfs, m)
    assert s6["chunks"] > 0
    res = cache_cli(run_musicfs, m, "clear", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"chunks": s6["chunks"],
                                      "bytes": s6["stored_bytes"],
                                      "dry_run": False}, res.stdout
    s7 = stats(run_musicfs, m)
    assert (s7["chunks"], s7["stored_bytes"], s7["file_bytes"]) == (0, 0, 0)
    assert H.wait_for(lambda: not chunk_files(m), H.scaled(3))
    drop_caches()
    check_reads(m, o, lib)


def test_uncached_origin_is_read_straight(mount_factory, cache_origin,
                                          run_musicfs):
    """Without cache_local_origins a local origin is read as it is: nothing
    is cached, and a prefetch skips its files."""
    o = cache_origin
    m = mount_factory([o.root])
    big = [o.path_of(t.rel) for t in BIG]
    check_reads(m, o, big)
    s = stats(run_musicfs, m)
    assert (s["hits"], s["misses"], s["chunks"], s["file_bytes"]) == (
        0, 0, 0, 0), s
    res = cache_cli(run_musicfs, m, "prefetch", BIG_FOLDER, "--json")
    assert res.returncode == 0, res.stderr
    last = json.loads(res.stdout.splitlines()[-1])
    assert (last["done"], last["files_total"], last["files_done"],
            last["files_skipped"], last["files_failed"], last["error"]) == (
        True, 3, 3, 3, 0, ""), last
    assert stats(run_musicfs, m)["chunks"] == 0
    assert not chunk_files(m)


def test_cache_commands_without_daemon(run_musicfs, tmp_path):
    nowhere = tmp_path / "nodaemon"
    nowhere.mkdir()
    for args in (["stats"], ["stats", "--json"], ["clear", "--dry-run"],
                 ["prefetch", "Some Artist"]):
        res = run_musicfs(["cache", *args, "--cache-dir", str(nowhere)],
                          expect_error_lines=True)
        assert res.returncode == NO_DAEMON, (args, res.returncode, res.stderr)
        assert res.stdout == ""
        assert res.stderr.startswith("musicfs: "), res.stderr
