"""Nothing in the mount is writable: every modification fails with EROFS,
and the origin is never touched (see also the library fixture, which
checks the whole origin byte for byte at the end of the session)."""

import errno
import os
import shutil
import subprocess

import pytest

import mfs_helpers as H

TRACK = "Motörhead/Ace of Spades (1980) [FLAC]/01 - Ace of Spades.flac"
ALBUM = "Motörhead/Ace of Spades (1980) [FLAC]"
COVER = ALBUM + "/cover.jpg"


def _touch_new(m):
    with open(m.p(ALBUM + "/new.flac"), "w"):
        pass


def _open_rw(m):
    os.close(os.open(m.p(TRACK), os.O_RDWR))


def _open_wronly(m):
    os.close(os.open(m.p(TRACK), os.O_WRONLY))


def _open_trunc(m):
    os.close(os.open(m.p(TRACK), os.O_RDONLY | os.O_TRUNC))


def _open_append(m):
    os.close(os.open(m.p(COVER), os.O_WRONLY | os.O_APPEND))


def _create_excl(m):
    os.close(os.open(m.p("new-at-root"), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o644))


OPS = {
    "touch new file": _touch_new,
    "create at root": _create_excl,
    "touch existing (utime)": lambda m: os.utime(m.p(TRACK)),
    "rm file": lambda m: os.unlink(m.p(TRACK)),
    "rm cover": lambda m: os.unlink(m.p(COVER)),
    "mv file": lambda m: os.rename(m.p(TRACK), m.p(ALBUM + "/moved.flac")),
    "mv dir": lambda m: os.rename(m.p("Motörhead"), m.p("Motorhead")),
    "chmod": lambda m: os.chmod(m.p(TRACK), 0o644),
    "chmod dir": lambda m: os.chmod(m.p(ALBUM), 0o755),
    "chown": lambda m: os.chown(m.p(TRACK), 1, 1),
    "mkdir": lambda m: os.mkdir(m.p("New Artist")),
    "mkdir in album": lambda m: os.mkdir(m.p(ALBUM + "/sub")),
    "rmdir": lambda m: os.rmdir(m.p(ALBUM)),
    "rmdir artist": lambda m: os.rmdir(m.p("Motörhead")),
    "ln -s": lambda m: os.symlink(TRACK, m.p("link")),
    "ln": lambda m: os.link(m.p(TRACK), m.p(ALBUM + "/hard.flac")),
    "mknod fifo": lambda m: os.mkfifo(m.p("fifo")),
    "open O_RDWR": _open_rw,
    "open O_WRONLY": _open_wronly,
    "open O_TRUNC": _open_trunc,
    "open O_APPEND cover": _open_append,
    "truncate": lambda m: os.truncate(m.p(TRACK), 0),
    "setxattr": lambda m: os.setxattr(m.p(TRACK), "user.x", b"1"),
    "setxattr dir": lambda m: os.setxattr(m.p(ALBUM), "user.x", b"1"),
    "removexattr": lambda m: os.removexattr(m.p(TRACK), "user.musicfs.title"),
}


@pytest.mark.parametrize("xattrs", [False, True], ids=["plain", "xattrs"])
def test_modifications_fail_with_erofs(mount_factory, library, xattrs):
    m = mount_factory([library.root], extra=["--xattrs"] if xattrs else [])
    before = H.list_tree(m.path)
    failures = {}
    for name, op in OPS.items():
        err = H.errno_of(op, m)
        if err != errno.EROFS:
            failures[name] = errno.errorcode.get(err, err)
    assert not failures, f"not EROFS: {failures}"
    assert H.list_tree(m.path) == before
    assert H.read_all(m.p(TRACK)) == (library.root /
                                      "incoming/mh/01.flac").read_bytes()


def test_shell_tools_fail_with_erofs(mounted):
    cmds = [["touch", str(mounted.p(TRACK))],
            ["touch", str(mounted.p("x"))],
            ["rm", "-f", str(mounted.p(TRACK))],
            ["mv", str(mounted.p(TRACK)), str(mounted.p("y.flac"))],
            ["chmod", "777", str(mounted.p(TRACK))],
            ["mkdir", str(mounted.p("d"))],
            ["rmdir", str(mounted.p(ALBUM))],
            ["ln", "-s", "x", str(mounted.p("l"))],
            ["truncate", "-s", "0", str(mounted.p(TRACK))]]
    if shutil.which("setfattr"):
        cmds.append(["setfattr", "-n", "user.x", "-v", "1",
                     str(mounted.p(TRACK))])
    for cmd in cmds:
        res = subprocess.run(cmd, capture_output=True, text=True,
                             env=dict(os.environ, LC_ALL="C"))
        assert res.returncode != 0, cmd
        assert "Read-only file system" in res.stderr, (cmd, res.stderr)


def test_statfs_says_read_only(mounted):
    st = os.statvfs(mounted.path)
    assert st.f_flag & os.ST_RDONLY


def test_origin_untouched_after_attempts(mounted, library):
    before = H.snapshot(library.root)
    for op in OPS.values():
        H.errno_of(op, mounted)
    for rel, e in library.expected.items():
        if e.kind != "dir":
            H.read_all(mounted.p(rel))
    assert H.snapshot(library.root) == before
