"""Fixtures of the MusicFS integration suite (STYLE.md item 13).

- library (session): the generated origin (ffmpeg + mutagen), built once;
  its files are hashed before the suite and again at the end: the origin
  must come out byte-identical.
- origin_copy: a private copy of the library, for tests that change it.
- mount_factory: starts `musicfs mount -f` with its own cache dir; every
  mount is unmounted at teardown with fusermount3 -u and must exit 0.
- mounted: the library mounted, its first scan finished.
- output_checker (every test): no " ERROR " line and no sanitizer or
  valgrind report in any daemon or CLI output of the test.

Environment: MUSICFS_BIN (the binary), MUSICFS_VALGRIND=1 (run the
daemon under valgrind; timeouts are scaled by MUSICFS_TIMEOUT_SCALE).
"""

import os
import shutil
import subprocess

import pytest

import mfs_helpers as H


def pytest_report_header(config):
    return [f"musicfs binary: {H.musicfs_bin()}"
            + (" (under valgrind)" if H.VALGRIND else "")]


@pytest.fixture(autouse=True)
def _requirements():
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing")
    if not shutil.which("fusermount3"):
        pytest.skip("fusermount3 is missing")
    if not H.musicfs_bin().is_file():
        pytest.fail(f"no musicfs binary at {H.musicfs_bin()}: build it or "
                    f"set MUSICFS_BIN")


class OutputChecker:
    """Collects the outputs of the test's processes; checked at teardown."""

    def __init__(self):
        self.sources = []   # (label, callable returning the text)

    def add(self, label, text_fn):
        self.sources.append((label, text_fn))

    def add_text(self, label, text):
        self.sources.append((label, lambda: text))

    def problems(self):
        out = []
        for label, fn in self.sources:
            bad = [l for l in fn().splitlines() if H.BAD_OUTPUT.search(l)]
            if bad:
                out.append(f"{label}:\n  " + "\n  ".join(bad[:20]))
        return out


@pytest.fixture(autouse=True)
def output_checker():
    checker = OutputChecker()
    yield checker
    problems = checker.problems()
    if problems:
        pytest.fail("error lines in the output of musicfs:\n"
                    + "\n".join(problems), pytrace=False)


@pytest.fixture
def run_musicfs(output_checker, tmp_path):
    """Run the CLI to completion: CompletedProcess with text output.  The
    output goes through files, not pipes: a daemon that forks must not keep
    the test waiting for EOF.  expect_error_lines: the command is meant to
    fail with an error message, so its output is not checked."""
    count = [0]

    def run(args, timeout=30, expect_error_lines=False, **kw):
        count[0] += 1
        out = tmp_path / f"cli{count[0]}.out"
        err = tmp_path / f"cli{count[0]}.err"
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.run(H.daemon_cmd(args), stdin=subprocess.DEVNULL,
                                  stdout=o, stderr=e,
                                  timeout=H.scaled(timeout), **kw)
        proc.stdout = out.read_text(errors="replace")
        proc.stderr = err.read_text(errors="replace")
        if not expect_error_lines:
            output_checker.add_text(f"musicfs {' '.join(map(str, args))}",
                                    proc.stderr)
        return proc

    return run


class Library:
    def __init__(self, root, images, extras):
        self.root = root
        self.images = images
        self.extras = extras
        self.tracks = H.LIBRARY
        self.folder_images = H.FOLDER_IMAGES
        self.expected = H.expected_tree(self.tracks, self.folder_images)

    def image_bytes(self, name):
        return (self.images / name).read_bytes()

    def track(self, rel):
        return next(t for t in self.tracks if t.rel == rel)


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is missing")
    base = tmp_path_factory.mktemp("library")
    root, images, extras = base / "origin", base / "images", base / "extras"
    H.build_library(root, images, H.LIBRARY, H.FOLDER_IMAGES)
    H.build_library(extras, images, H.EXTRAS, {})
    before = H.snapshot(root)
    lib = Library(root, images, extras)
    yield lib
    after = H.snapshot(root)
    changed = sorted(k for k in before.keys() | after.keys()
                     if before.get(k) != after.get(k))
    assert not changed, ("the origin changed during the suite: "
                         + ", ".join(changed[:20]))


@pytest.fixture(scope="session")
def big_origin(tmp_path_factory, library):
    """An origin holding one album of 1500 tracks."""
    root = tmp_path_factory.mktemp("big") / "origin"
    names = H.build_big_album(root, library.root / "plain" / "p.flac", 1500)
    return root, names


@pytest.fixture
def origin_copy(library, tmp_path):
    dest = tmp_path / "origin"
    shutil.copytree(library.root, dest, symlinks=True)
    return dest


@pytest.fixture
def mount_factory(tmp_path, output_checker):
    """start(origins, extra=(), cache_dir=None, mountpoint=None,
    wait_scan=True) -> Mount.  Each call gets its own mount point and, unless
    given, its own cache dir under tmp_path."""
    mounts = []

    def start(origins, extra=(), cache_dir=None, mountpoint=None,
              wait_scan=True):
        n = len(mounts) + 1
        mountpoint = mountpoint or tmp_path / f"mnt{n}"
        cache_dir = cache_dir or tmp_path / f"cache{n}"
        log = tmp_path / f"musicfs{n}.log"
        m = H.start_mount(mountpoint, origins, cache_dir, log, extra)
        mounts.append(m)
        output_checker.add(f"musicfs daemon {n} ({log})", m.stderr)
        if wait_scan:
            m.wait_scanned()
        return m

    start.mounts = mounts
    yield start
    problems = []
    for m in reversed(mounts):
        problems += H.stop_mount(m)
        text = m.stderr()
        print(f"---- stderr of {' '.join(m.args)} (last 3000 chars) ----")
        print(text[-3000:])
    if problems:
        pytest.fail("teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def mounted(mount_factory, library):
    """The session library mounted (first scan done)."""
    return mount_factory([library.root])


@pytest.fixture
def tmpfs_origin(tmp_path, library):
    """The library on a file system of its own (a NAS, a USB disk), which
    the test may unmount: needs root."""
    origin = tmp_path / "nas"
    origin.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                          str(origin)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.strip()}")
    try:
        shutil.copytree(library.root, origin, dirs_exist_ok=True)
        yield origin
    finally:
        if os.path.ismount(origin):
            subprocess.run(["umount", "-l", str(origin)])
