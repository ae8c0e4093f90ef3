"""Shared helpers of the MusicFS integration suite.

Everything here is independent of the product's code: the generated
library is described by LIBRARY (the tags written with ffmpeg), and
expected_tree() derives the mount's tree from those tags with the rules of
DESIGN.md section 4 and src/tree/template_i.h, re-implemented in Python.
"""

import collections
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

AUDIO_EXTS = ("flac", "mp3", "ogg", "oga", "opus", "wav", "m4a", "m4b",
              "mp4", "aac")
COVER_RE = re.compile(r"^cover\.(jpg|png|gif|webp)$")

VALGRIND = os.environ.get("MUSICFS_VALGRIND", "") not in ("", "0")
TIMEOUT_SCALE = float(os.environ.get("MUSICFS_TIMEOUT_SCALE",
                                     "10" if VALGRIND else "1"))

# Lines of a daemon's stderr that fail a test.
BAD_OUTPUT = re.compile(r" ERROR |runtime error|AddressSanitizer|"
                        r"LeakSanitizer|ThreadSanitizer|"
                        r"UndefinedBehaviorSanitizer|^==\d+== ")


def musicfs_bin():
    """The binary: $MUSICFS_BIN, else build/musicfs, else build*/musicfs."""
    env = os.environ.get("MUSICFS_BIN")
    if env:
        return Path(env)
    default = REPO / "build" / "musicfs"
    if default.exists():
        return default
    for cand in sorted(REPO.glob("build*/musicfs")):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return default


def scaled(seconds):
    return seconds * TIMEOUT_SCALE


def wait_for(pred, timeout, interval=0.05):
    """Poll pred() until it returns a true value or timeout (s) passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def snapshot(root):
    """{relpath: (sha256, size, mtime_ns)} of every file below root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (sha256_file(p), st.st_size,
                                             st.st_mtime_ns)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root) + "/"] = ("dir", 0,
                                                   os.lstat(p).st_mtime_ns)
    return out


# The smart collections every mount shows at its root (test_search.py).
BUILTIN_COLLECTIONS = ("Recently Added", "80s Music", "90s Music")


def list_tree(root, collections=False):
    """Every path below root (relative, '/'-separated); dirs end in '/'.
    The music tree only, unless collections: the smart collections at the
    root of a mount (folders of symlinks) are left out."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel + "/"
        if rel == "." and not collections:
            dirnames[:] = [d for d in dirnames
                           if d not in BUILTIN_COLLECTIONS]
        for d in dirnames:
            out.add(prefix + d + "/")
        for f in filenames:
            out.add(prefix + f)
    return out


def track_files(root):
    """Relative paths of the files below root that are not covers."""
    return sorted(p for p in list_tree(root)
                  if not p.endswith("/") and not COVER_RE.match(p.split("/")[-1]))


# --------------------------------------------------------------------------
# The generated library

@dataclasses.dataclass
class Track:
    rel: str                # path in the origin
    tags: dict              # ffmpeg -metadata keys: title artist album ...
    art: str = None         # name of an embedded image (IMAGES)
    id3v2: int = 4          # MP3 only
    source: str = "sine"    # or "noise" (a large, incompressible file)
    duration: float = 0.2

    @property
    def fmt(self):
        return self.rel.rsplit(".", 1)[1].lower()


# name -> (ffmpeg colour, extension)
IMAGES = {
    "red.jpg": ("red", "jpg"),
    "blue.jpg": ("blue", "jpg"),
    "green.jpg": ("green", "jpg"),
    "yellow.png": ("yellow", "png"),
    "purple.png": ("purple", "png"),
    "white.jpg": ("white", "jpg"),
}


def _t(rel, art=None, **tags):
    kw = {}
    for k in ("id3v2", "source", "duration"):
        if k in tags:
            kw[k] = tags.pop(k)
    return Track(rel, tags, art, **kw)


NFD_BJORK = unicodedata.normalize("NFD", "Björk")

LIBRARY = [
    # Unicode artists; a large file (> 1 MiB, more than one FUSE read)
    _t("incoming/mh/01.flac", "red.jpg", artist="Motörhead",
       album="Ace of Spades", date="1980", track="1/3", disc="1/1",
       title="Ace of Spades", source="noise", duration=8),
    _t("incoming/mh/02.flac", "red.jpg", artist="Motörhead",
       album="Ace of Spades", date="1980", track="2/3", disc="1/1",
       title="Love Me Like a Reptile", duration=1.5),
    _t("incoming/mh/03.flac", "white.jpg", artist="Motörhead",
       album="Ace of Spades", date="1980", track="3/3", disc="1/1",
       title="Shoot You in the Back"),
    _t("jp/tj1.mp3", "yellow.png", artist="東京事変", album="教育",
       date="2004-11-25", track="1", title="林檎の唄"),
    _t("jp/tj2.mp3", "yellow.png", artist="東京事変", album="教育",
       date="2004-11-25", track="2", title="群青日和", id3v2=3),
    # untagged (one origin name in NFD: the mount shows NFC)
    _t("loose/untitled demo.flac"),
    _t("loose/" + unicodedata.normalize("NFD", "Weird Näme") + ".mp3"),
    # multi-disc (disc/total), disc 2 stored first; the first track (by disc,
    # track) has the red picture, disc 2's first track the blue one
    _t("dbl/a/d2t1.flac", "blue.jpg", artist="The Band", album="Double Album",
       date="1999", track="1", disc="2/2", title="Second Start"),
    _t("dbl/a/d2t2.flac", "blue.jpg", artist="The Band", album="Double Album",
       date="1999", track="2", disc="2/2", title="Second End"),
    _t("dbl/b/d1t1.flac", "red.jpg", artist="The Band", album="Double Album",
       date="1999", track="1", disc="1/2", title="First Start"),
    _t("dbl/b/d1t2.flac", "red.jpg", artist="The Band", album="Double Album",
       date="1999", track="2", disc="1/2", title="First End"),
    # multi-disc known only from a disc number > 1 (no totals)
    _t("parts/p1.mp3", artist="Second Band", album="Two Parts", track="1",
       disc="1", title="Part One"),
    _t("parts/p2.mp3", artist="Second Band", album="Two Parts", track="1",
       disc="2", title="Part Two"),
    # compilation: one folder under the album artist; a cover.png beside
    _t("comp/01.flac", artist="Artist A", album_artist="Various Artists",
       album="Now That's Music", date="2005", track="1", title="A Song"),
    _t("comp/02.flac", artist="Artist B", album_artist="Various Artists",
       album="Now That's Music", date="2005", track="2", title="B Song"),
    _t("comp/03.flac", artist="Artist C", album_artist="Various Artists",
       album="Now That's Music", date="2005", track="3", title="C Song"),
    # two files with the same path
    _t("dup/one.flac", artist="Twin", album="Same", date="2010", track="1",
       title="Dup"),
    _t("dup/two.flac", artist="Twin", album="Same", date="2010", track="1",
       title="Dup", duration=0.3),
    # hostile tags
    _t("bad/acdc.mp3", artist="AC/DC", album="What?", date="1990", track="1",
       title="Who: Me?", id3v2=3),
    _t("bad/dots.mp3", artist="..", album="..", track="2", title=".."),
    _t("bad/ctrl.flac", artist="Ctrl\x01Artist", album="Tab\tAlbum",
       track="1", title="Line\nBreak\x7f"),
    _t("bad/chars.flac", artist=".hidden", album='a<b>c*d|e"f\\g',
       track="1", title="Re:Stage"),
    _t("bad/dash.flac", artist="-dash", album="Etc.", track="1",
       title="x" * 300),
    _t("bad/cjk.flac", artist="-dash", album="Etc.", track="2",
       title="東" * 100),
    # folders that differ by case (and Unicode normalization) only
    _t("case/b1.flac", artist="Boredoms", album="Super Roots", date="1993",
       track="1", title="Ant"),
    _t("case/b2.flac", artist="Boredoms", album="Super Roots", date="1993",
       track="2", title="Bee"),
    _t("case/b3.flac", artist="BOREDOMS", album="Super Roots", date="1993",
       track="3", title="Cicada"),
    _t("case/bj1.flac", artist="Björk", album="Homogenic", date="1997",
       track="1", title="Hunter"),
    _t("case/bj2.flac", artist="Björk", album="Homogenic", date="1997",
       track="2", title="Jóga"),
    _t("case/bj3.flac", artist=NFD_BJORK, album="HOMOGENIC", date="1997",
       track="3", title="Unravel"),
    # cover from a folder image; an album with no cover at all
    _t("sleeve/s1.mp3", artist="Folder Art", album="Sleeve", date="2000",
       track="1", title="Outside"),
    _t("sleeve/s2.mp3", artist="Folder Art", album="Sleeve", date="2000",
       track="2", title="Inside"),
    _t("plain/p.flac", artist="No Art", album="Plain", date="2002",
       track="1", title="Bare"),
    # missing track number, title, year
    _t("solo/nonum.flac", artist="Solo", album="Loose Ends", date="2011",
       title="No Number"),
    _t("solo/raw take.flac", artist="Solo", album="Loose Ends", date="2011",
       track="2"),
    _t("solo/timeless.mp3", artist="Solo", album="Timeless", track="1",
       title="T"),
]

# Image files in the origin: relpath -> image name
FOLDER_IMAGES = {
    "sleeve/folder.jpg": "green.jpg",
    "sleeve/front.jpg": "white.jpg",        # folder.jpg ranks first
    "comp/cover.png": "purple.png",
    "incoming/mh/front.jpg": "blue.jpg",    # the embedded picture wins
    "parts/Cover.JPG": "white.jpg",         # any case
}

# Files kept out of the origin, for tests that add files.
EXTRAS = [
    _t("new.flac", artist="Newcomer", album="Fresh", date="2024", track="1",
       title="Brand New"),
    _t("folder1.mp3", artist="Folder Band", album="Dropped In", date="2023",
       track="1", title="First Drop"),
    _t("folder2.mp3", artist="Folder Band", album="Dropped In", date="2023",
       track="2", title="Second Drop"),
]


def ffmpeg_image(name, dest):
    colour, ext = IMAGES[name]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color={colour}:s=64x64", "-frames:v", "1", str(dest)],
                   check=True)


def ffmpeg_track(track, dest, images_dir, freq):
    if track.source == "noise":
        src = f"anoisesrc=d={track.duration}:a=0.5:seed={freq}"
    else:
        src = f"sine=frequency={freq}:duration={track.duration}"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src]
    if track.art:
        cmd += ["-i", str(images_dir / track.art), "-map", "0", "-map", "1",
                "-c:v", "copy", "-disposition:v", "attached_pic"]
    if track.source == "noise":
        cmd += ["-ac", "2"]
    cmd += ["-map_metadata", "-1", "-fflags", "+bitexact"]
    if not track.tags and track.fmt == "mp3":
        cmd += ["-write_id3v2", "0"]
    if track.fmt == "mp3":
        cmd += ["-id3v2_version", str(track.id3v2)]
    for k, v in track.tags.items():
        cmd += ["-metadata", f"{k}={v}"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd.append(str(dest))
    subprocess.run(cmd, check=True)


EASY_KEYS = {"title": "title", "artist": "artist", "album": "album",
             "album_artist": "albumartist", "date": "date",
             "track": "tracknumber", "disc": "discnumber"}


def check_written_tags(track, path):
    """The tags in the file are the ones the spec asked for (ffmpeg did not
    alter them): the expected tree is computed from the spec."""
    import mutagen
    f = mutagen.File(path, easy=True)
    assert f is not None, path
    for k, v in track.tags.items():
        got = (f.tags or {}).get(EASY_KEYS[k])
        got = [str(x) for x in got] if got else got
        assert got == [v], f"{path}: {k} written as {got!r}, wanted {v!r}"
    if not track.tags:
        for k in EASY_KEYS.values():
            assert not (f.tags or {}).get(k), f"{path}: untagged has {k}"


def build_library(root, images_dir, tracks, folder_images):
    """Write tracks (and folder images) below root; images into images_dir."""
    images_dir.mkdir(parents=True, exist_ok=True)
    for name in IMAGES:
        ffmpeg_image(name, images_dir / name)
    jobs = []
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
        for i, t in enumerate(tracks):
            jobs.append(ex.submit(ffmpeg_track, t, root / t.rel, images_dir,
                                  220 + 37 * i))
        for j in jobs:
            j.result()
    for t in tracks:
        check_written_tags(t, root / t.rel)
    for rel, name in folder_images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(images_dir / name, root / rel)


def build_big_album(root, template, n):
    """n copies of template re-tagged with mutagen as tracks 1..n of one
    album.  Returns the expected names in the album folder."""
    from mutagen.flac import FLAC
    folder = root / "big"
    folder.mkdir(parents=True)
    names = []
    for i in range(1, n + 1):
        p = folder / f"t{i:04d}.flac"
        shutil.copyfile(template, p)
        f = FLAC(p)
        f.clear()
        f["artist"] = "Big"
        f["album"] = "Huge"
        f["date"] = "2020"
        f["tracknumber"] = str(i)
        f["title"] = f"Track {i:04d}"
        f.save()
        names.append(f"{i:02d} - Track {i:04d}.flac")
    return names


# --------------------------------------------------------------------------
# The path rules, re-implemented from DESIGN.md section 4 / template_i.h

SPACES = " \t\n\r\v\f"


def sanitize(name, ext=""):
    out = ""
    for i, c in enumerate(name):
        cp = ord(c)
        if c in "/\\<>*|":
            out += "_"
        elif c == '"':
            out += "'"
        elif c in "?\ufeff":
            pass
        elif c == ":":
            if i + 1 == len(name):
                pass
            elif name[i + 1] not in SPACES:
                out += "-"
            elif not out or out[-1] == " ":
                out += "-"
            else:
                out += " -"
        elif c in "\t\n\v\f\r\u2028\u2029":
            if not out or out[-1] != " ":
                out += " "
        elif cp < 0x20 or 0x7F <= cp <= 0x9F:
            pass
        else:
            out += c
    s = unicodedata.normalize("NFC", out).lstrip(" .-").rstrip(" .")
    dext = "." + ext if ext else ""
    limit = 255 - len(dext.encode())
    if len(s.encode()) > limit:
        # a code point boundary: the same as a grapheme boundary for the
        # ASCII and CJK names of LIBRARY
        s = s.encode()[:limit].decode("utf-8", "ignore").rstrip(" .")
    return (s or "_") + dext


def fold(s):
    return unicodedata.normalize("NFC", unicodedata.normalize(
        "NFC", s).casefold())


def _num(v):
    """(n, total) of "3" / "3/12" / None."""
    if not v:
        return 0, 0
    a, _, b = v.partition("/")
    return int(a), int(b) if b else 0


def _val(tags, key):
    return (tags.get(key) or "").strip(SPACES)


def album_key(t):
    artist = t.tags.get("album_artist") or t.tags.get("artist") or ""
    return fold(artist) + "\x1f" + fold(t.tags.get("album") or "")


def render(t, multi):
    """Components of track t under the default template."""
    tags = t.tags
    base = t.rel.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0]
    if not any(_val(tags, k) for k in ("title", "artist", "album_artist",
                                       "album")):
        return ["Unknown Artist", "Unknown Album", sanitize(stem, t.fmt)]
    artist = (_val(tags, "album_artist") or _val(tags, "artist")
              or "Unknown Artist")
    album = _val(tags, "album") or "Unknown Album"
    year = int(tags["date"][:4]) if tags.get("date") else 0
    comp2 = album + (f" ({year})" if year else "") + f" [{t.fmt.upper()}]"
    track, _ = _num(tags.get("track"))
    disc, _ = _num(tags.get("disc"))
    num = ""
    if track > 0:
        num = f"{disc}-{track:02d}" if multi and disc > 0 else f"{track:02d}"
    title = _val(tags, "title") or stem.strip(SPACES) or "Unknown Title"
    comp3 = (num + " - " if num else "") + title
    return [sanitize(artist), sanitize(comp2), sanitize(comp3, t.fmt)]


def variant(name, n):
    if n == 1:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem} ({n}).{ext}"


IMAGE_RANK = ["cover.jpg", "cover.jpeg", "cover.png", "folder.jpg",
              "folder.jpeg", "folder.png", "front.jpg", "front.jpeg",
              "front.png"]


@dataclasses.dataclass
class Expected:
    kind: str                  # "dir", "track", "cover"
    origins: frozenset = None  # track: origin relpaths that may be behind it
    image: str = None          # cover: IMAGES name of its bytes


class _Dir:
    def __init__(self):
        self.children = {}              # fold -> _Dir
        self.spellings = collections.Counter()
        self.files = []                 # (name, track)


def expected_tree(tracks, folder_images):
    """{mount relpath: Expected} for the default template.  Dirs end in '/'."""
    multi = collections.defaultdict(bool)
    for t in tracks:
        disc, total = _num(t.tags.get("disc"))
        multi[album_key(t)] |= disc > 1 or total > 1
    root = _Dir()
    for t in tracks:
        comps = render(t, multi[album_key(t)])
        d = root
        for c in comps[:-1]:
            d = d.children.setdefault(fold(c), _Dir())
            d.spellings[c] += 1
        d.files.append((comps[-1], t))
    out = {}

    def emit(d, prefix):
        groups = collections.defaultdict(list)
        for name, t in d.files:
            groups[fold(name)].append((name, t))
        first = None
        for members in groups.values():
            origins = frozenset(t.rel for _, t in members)
            for n in range(1, len(members) + 1):
                name = variant(members[0][0], n)
                out[prefix + name] = Expected("track", origins)
        for name, t in d.files:
            disc, _ = _num(t.tags.get("disc"))
            track, _ = _num(t.tags.get("track"))
            k = (disc, track, name)
            if first is None or k < first[0]:
                first = (k, t)
        if first:
            t = first[1]
            if t.art:
                out[prefix + "cover." + IMAGES[t.art][1]] = Expected(
                    "cover", image=t.art)
            else:
                folder = t.rel.rsplit("/", 1)[0] if "/" in t.rel else ""
                present = {rel.rsplit("/", 1)[-1].lower(): name
                           for rel, name in folder_images.items()
                           if (rel.rsplit("/", 1)[0] if "/" in rel else "")
                           == folder}
                for cand in IMAGE_RANK:
                    if cand in present:
                        ext = "png" if cand.endswith("png") else "jpg"
                        out[prefix + "cover." + ext] = Expected(
                            "cover", image=present[cand])
                        break
        for child in d.children.values():
            name = child.spellings.most_common(1)[0][0]
            out[prefix + name + "/"] = Expected("dir")
            emit(child, prefix + name + "/")

    emit(root, "")
    return out


def expected_path_of(rel, tracks=LIBRARY, folder_images=FOLDER_IMAGES):
    """The one mount path of origin file rel (no collision)."""
    tree = expected_tree(tracks, folder_images)
    hits = [p for p, e in tree.items()
            if e.kind == "track" and e.origins == frozenset([rel])]
    assert len(hits) == 1, (rel, hits)
    return hits[0]


# --------------------------------------------------------------------------
# Running the daemon

class Mount:
    """A musicfs process and its mount point."""

    def __init__(self, path, origins, cache_dir, proc, log_path, args):
        self.path = Path(path)
        self.origins = [Path(o) for o in origins]
        self.origin = self.origins[0] if self.origins else None
        self.cache_dir = Path(cache_dir)
        self.proc = proc
        self.log_path = Path(log_path)
        self.args = args
        self.expected_rc = 0        # exit status the teardown expects

    def stderr(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def is_mounted(self):
        return os.path.ismount(self.path)

    def scans_done(self):
        return len(re.findall(r"scan of \d+ origin\(s\) done", self.stderr()))

    def wait_scanned(self, count=1, timeout=20):
        """Wait until the daemon logged the end of `count` full scans."""
        if not wait_for(lambda: self.scans_done() >= count, scaled(timeout)):
            raise AssertionError(
                f"no end of scan logged within {timeout} s; stderr:\n"
                + self.stderr()[-4000:])

    def p(self, rel):
        return self.path / rel

    def bad_output(self):
        return [l for l in self.stderr().splitlines() if BAD_OUTPUT.search(l)]


def daemon_cmd(args):
    cmd = [str(musicfs_bin())] + list(args)
    if VALGRIND:
        cmd = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite"] + cmd
    return cmd


def start_mount(mountpoint, origins, cache_dir, log_path, extra=(),
                wait_mounted=True, env=None, log_level="debug"):
    """env: the daemon's whole environment (default: the test's);
    log_level None: no -l flag (the config's [logging] level applies)."""
    os.makedirs(mountpoint, exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    args = ["mount", str(mountpoint)]
    for o in origins:
        args += ["--origin", str(o)]
    # no TCP ports unless a test asks: mounts of one run must not collide
    args += ["--cache-dir", str(cache_dir), "-f"]
    if log_level is not None:
        args += ["-l", log_level]
    args += ["--grpc-port", "0", "--metrics-port", "0"] + list(extra)
    log = open(log_path, "ab")
    proc = subprocess.Popen(daemon_cmd(args), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True,
                            env=env)
    log.close()
    m = Mount(mountpoint, origins, cache_dir, proc, log_path, args)
    if wait_mounted:
        wait_for(lambda: m.is_mounted() or proc.poll() is not None,
                 scaled(10))
        if not m.is_mounted():
            died = proc.poll()
            if died is None:
                force_stop(m)
            raise AssertionError(
                f"musicfs did not mount {mountpoint} within 10 s "
                f"(exit status {died}); stderr:\n" + m.stderr()[-4000:])
    return m


def force_stop(m):
    subprocess.run(["fusermount3", "-u", "-z", str(m.path)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if m.proc.poll() is None:
        m.proc.kill()
        try:
            m.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def stop_mount(m):
    """Unmount with fusermount3 -u; the daemon must exit 0 within 10 s.
    Returns a list of problems (empty when all went well)."""
    problems = []
    if m.proc.poll() is None:
        res = None
        for _ in range(20):
            if not m.is_mounted():
                break
            res = subprocess.run(["fusermount3", "-u", str(m.path)],
                                 capture_output=True, text=True)
            if res.returncode == 0:
                break
            time.sleep(0.1)
        if res is not None and res.returncode != 0:
            problems.append(f"fusermount3 -u failed: {res.stderr.strip()}")
        try:
            m.proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            problems.append("musicfs did not exit within 10 s of the unmount")
    if problems:
        force_stop(m)
    rc = m.proc.poll()
    if rc != m.expected_rc and not problems:
        problems.append(f"musicfs exited with status {rc}, not "
                        f"{m.expected_rc}")
    if m.is_mounted():
        subprocess.run(["fusermount3", "-u", "-z", str(m.path)])
        problems.append("the mount point was still mounted")
    return problems


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def errno_of(fn, *args, **kw):
    """The errno fn raises (None if it succeeds)."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None

