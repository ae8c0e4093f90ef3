"""Reading through the mount gives the origin's bytes, exactly."""

import json
import mmap
import os
import random
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import mfs_helpers as H


def _origin_hashes(library):
    return {t.rel: H.sha256_file(library.root / t.rel) for t in library.tracks}


def test_every_file_equals_its_origin(mounted, library):
    hashes = _origin_hashes(library)
    seen = {}
    for rel, e in sorted(library.expected.items()):
        if e.kind == "dir":
            continue
        got = H.sha256_file(mounted.p(rel))
        if e.kind == "cover":
            assert got == H.sha256_bytes(library.image_bytes(e.image)), rel
            continue
        matches = [o for o in e.origins if hashes[o] == got]
        assert matches, f"{rel}: bytes of none of {sorted(e.origins)}"
        seen.setdefault(e.origins, []).append(matches[0])
    # the two names of a collision show the two different files
    for origins, shown in seen.items():
        assert sorted(shown) == sorted(origins)


def test_sizes_and_reads_past_end(mounted, library):
    rel = H.expected_path_of("incoming/mh/01.flac")
    origin = library.root / "incoming/mh/01.flac"
    size = os.path.getsize(origin)
    assert size > (1 << 20), "the large test file should pass 1 MiB"
    assert os.stat(mounted.p(rel)).st_size == size
    fd = os.open(mounted.p(rel), os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, size) == b""
        assert os.pread(fd, 4096, size + 12345) == b""
        assert os.pread(fd, 4096, size - 10) == origin.read_bytes()[-10:]
    finally:
        os.close(fd)


def test_random_preads(mounted, library):
    rng = random.Random(1234)
    for src in ("incoming/mh/01.flac", "incoming/mh/02.flac", "jp/tj1.mp3"):
        data = (library.root / src).read_bytes()
        fd = os.open(mounted.p(H.expected_path_of(src)), os.O_RDONLY)
        try:
            for _ in range(300):
                off = rng.randrange(0, len(data) + 100)
                size = rng.choice([1, 7, 512, 4095, 4096, 65536, 131073,
                                   (1 << 20) + 3, rng.randrange(1, 300000)])
                got = os.pread(fd, size, off)
                assert got == data[off:off + size], (src, off, size)
        finally:
            os.close(fd)


def test_mmap_read(mounted, library):
    src = "incoming/mh/01.flac"
    data = (library.root / src).read_bytes()
    with open(mounted.p(H.expected_path_of(src)), "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert mm[:] == data
            assert mm[len(data) // 3:len(data) // 3 + 99999] == \
                data[len(data) // 3:len(data) // 3 + 99999]


def _embedded_picture(path):
    import mutagen
    f = mutagen.File(path)
    pics = getattr(f, "pictures", None)
    if pics:
        return pics[0].data
    apic = [v for k, v in (f.tags or {}).items() if k.startswith("APIC")]
    return apic[0].data if apic else None


@pytest.mark.parametrize("album,first", [
    ("Motörhead/Ace of Spades (1980) [FLAC]/cover.jpg", "incoming/mh/01.flac"),
    ("The Band/Double Album (1999) [FLAC]/cover.jpg", "dbl/b/d1t1.flac"),
    ("東京事変/教育 (2004) [MP3]/cover.png", "jp/tj1.mp3"),
], ids=["flac", "multi-disc", "mp3-png"])
def test_cover_is_embedded_picture(mounted, library, album, first):
    pic = _embedded_picture(library.root / first)
    assert pic, f"mutagen found no picture in {first}"
    got = H.read_all(mounted.p(album))
    assert got == pic
    assert os.path.getsize(mounted.p(album)) == len(pic)


def test_cover_from_folder_image(mounted, library):
    assert H.read_all(mounted.p("Folder Art/Sleeve (2000) [MP3]/cover.jpg")) \
        == (library.root / "sleeve/folder.jpg").read_bytes()
    assert H.read_all(mounted.p(
        "Various Artists/Now That's Music (2005) [FLAC]/cover.png")) \
        == (library.root / "comp/cover.png").read_bytes()
    assert H.read_all(mounted.p("Second Band/Two Parts [MP3]/cover.jpg")) \
        == (library.root / "parts/Cover.JPG").read_bytes()
    assert not any(H.COVER_RE.match(n)
                   for n in os.listdir(mounted.p("No Art/Plain (2002) [FLAC]")))


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe is missing")
@pytest.mark.parametrize("src", ["incoming/mh/01.flac", "jp/tj1.mp3"])
def test_ffprobe_reads_through_mount(mounted, library, src):
    path = mounted.p(H.expected_path_of(src))
    res = subprocess.run(["ffprobe", "-v", "error", "-show_format",
                          "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    tags = {k.lower(): v for k, v in info["format"].get("tags", {}).items()}
    assert tags.get("title") == library.track(src).tags["title"]
    assert any(s["codec_type"] == "audio" for s in info["streams"])
    assert int(info["format"]["size"]) == os.path.getsize(library.root / src)


def test_concurrent_readers(mounted, library):
    hashes = _origin_hashes(library)
    files = [(rel, e) for rel, e in library.expected.items()
             if e.kind == "track"]
    errors = []
    barrier = threading.Barrier(50)

    def reader(i):
        rng = random.Random(i)
        barrier.wait()
        order = files[:]
        rng.shuffle(order)
        for rel, e in order[:12]:
            chunk = rng.choice([4096, 65536, 1 << 20, 777])
            h = __import__("hashlib").sha256()
            with open(mounted.p(rel), "rb", buffering=0) as f:
                while True:
                    b = f.read(chunk)
                    if not b:
                        break
                    h.update(b)
            if h.hexdigest() not in {hashes[o] for o in e.origins}:
                errors.append(f"thread {i}: wrong bytes in {rel}")
        # the large file at random offsets too
        big = H.expected_path_of("incoming/mh/01.flac")
        data_len = os.path.getsize(library.root / "incoming/mh/01.flac")
        fd = os.open(mounted.p(big), os.O_RDONLY)
        try:
            for _ in range(5):
                off = rng.randrange(0, data_len)
                got = os.pread(fd, 100000, off)
                with open(library.root / "incoming/mh/01.flac", "rb") as f:
                    f.seek(off)
                    if got != f.read(100000):
                        errors.append(f"thread {i}: pread at {off} differs")
        finally:
            os.close(fd)

    with ThreadPoolExecutor(max_workers=50) as ex:
        for fut in [ex.submit(reader, i) for i in range(50)]:
            fut.result(timeout=H.scaled(120))
    assert not errors, errors[:10]
    assert mounted.proc.poll() is None, "the daemon died"


def test_many_files_open_at_once(mount_factory, big_origin):
    """1500 files of one folder open at the same time, each read."""
    import resource
    root, names = big_origin
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1600:
        pytest.skip(f"open file limit {hard} too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1600)
                                                if hard == resource.RLIM_INFINITY
                                                else hard, hard))
    try:
        m = mount_factory([root])
        folder = m.p("Big/Huge (2020) [FLAC]")
        fds = []
        try:
            for n in names:
                fds.append(os.open(folder / n, os.O_RDONLY))
            for n, fd in zip(names, fds):
                src = root / "big" / ("t" + n.split(" - Track ")[1])
                with open(src, "rb") as f:
                    want = f.read(8192)
                assert os.pread(fd, 8192, 0) == want, n
        finally:
            for fd in fds:
                os.close(fd)
        assert m.proc.poll() is None
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_file_larger_than_4_gib(mount_factory, tmp_path):
    """64-bit sizes and offsets: a sparse 5 GiB file with marks past 4 GiB."""
    origin = tmp_path / "o"
    origin.mkdir()
    big = origin / "huge.flac"
    size = 5 * (1 << 30) + 12345
    marks = {0: b"not really flac", (1 << 32) - 3: b"across 4 GiB",
             (1 << 32) + 4096: b"past 4 GiB", size - 10: b"the end..."}
    with open(big, "wb") as f:
        f.truncate(size)
        for off, data in marks.items():
            f.seek(off)
            f.write(data)
    assert big.stat().st_size == size
    m = mount_factory([origin])
    rel = "Unknown Artist/Unknown Album/huge.flac"
    assert os.stat(m.p(rel)).st_size == size
    fd = os.open(m.p(rel), os.O_RDONLY)
    ofd = os.open(big, os.O_RDONLY)
    try:
        for off, data in marks.items():
            assert os.pread(fd, len(data), off) == data, off
            for start, n in ((max(0, off - 50), 100 + len(data)),
                             (off - off % 4096, 3 << 20)):
                assert os.pread(fd, n, start) == os.pread(ofd, n, start), off
        assert os.pread(fd, 10, size) == b""
    finally:
        os.close(fd)
        os.close(ofd)
