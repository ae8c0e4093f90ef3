"""The command line: help, errors, one daemon per cache dir, background
mode, config files, signals."""

import ctypes
import os
import re
import shutil
import signal
import subprocess

import pytest

import mfs_helpers as H


def test_help(run_musicfs):
    res = run_musicfs(["--help"])
    assert res.returncode == 0
    assert res.stdout.startswith("usage: musicfs")
    assert "mount" in res.stdout
    res = run_musicfs(["mount", "--help"])
    assert res.returncode == 0
    assert res.stdout.startswith("usage: musicfs mount")
    for flag in ("--origin", "--cache-dir", "--xattrs", "--foreground",
                 "--template", "--config"):
        assert flag in res.stdout, flag


def test_unknown_command(run_musicfs):
    res = run_musicfs(["frobnicate"])
    assert res.returncode == 2
    assert "frobnicate" in res.stderr
    assert res.stdout == ""


def test_unknown_mount_option(run_musicfs, tmp_path):
    res = run_musicfs(["mount", str(tmp_path), "--no-such-flag"])
    assert res.returncode == 2
    assert res.stderr.strip()


def test_mountpoint_missing(run_musicfs, tmp_path, library):
    res = run_musicfs(["mount", str(tmp_path / "nope"), "--origin",
                       str(library.root), "--cache-dir", str(tmp_path / "c"),
                       "-f"])
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "nope" in res.stderr


def test_second_mount_same_cache_dir_fails(mount_factory, run_musicfs,
                                           library, tmp_path):
    first = mount_factory([library.root])
    other = tmp_path / "other"
    other.mkdir()
    res = run_musicfs(["mount", str(other), "--origin", str(library.root),
                       "--cache-dir", str(first.cache_dir), "-f"],
                      timeout=20, expect_error_lines=True)
    assert res.returncode != 0
    assert "in use" in res.stderr
    assert str(first.cache_dir) in res.stderr
    assert not os.path.ismount(other)
    # the first one keeps working
    assert first.proc.poll() is None
    assert H.list_tree(first.path) == set(library.expected)
    rel = H.expected_path_of("jp/tj2.mp3")
    assert H.read_all(first.p(rel)) == (library.root / "jp/tj2.mp3").read_bytes()


def _set_subreaper():
    """Orphans (the daemonized musicfs) become our children, so that their
    exit status can be collected."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_background_mode(run_musicfs, library, tmp_path, output_checker):
    reaper = _set_subreaper()
    mnt, cache = tmp_path / "mnt", tmp_path / "cache"
    mnt.mkdir()
    # the daemon's log, wherever it writes one in the cache dir
    output_checker.add("background daemon log", lambda: "\n".join(
        p.read_text(errors="replace") for p in cache.glob("*.log")))
    res = run_musicfs(["mount", str(mnt), "--origin", str(library.root),
                       "--cache-dir", str(cache)], timeout=20)
    try:
        assert res.returncode == 0, res.stderr
        # returned once the mount is live
        assert os.path.ismount(mnt)
        pid = int((cache / "musicfs.pid").read_text().strip())
        assert pid != os.getpid() and _pid_alive(pid)
        assert H.wait_for(lambda: H.list_tree(mnt) == set(library.expected),
                          H.scaled(10)), "the background mount's tree"
        rel = H.expected_path_of("incoming/mh/02.flac")
        assert H.read_all(mnt / rel) == \
            (library.root / "incoming/mh/02.flac").read_bytes()
    finally:
        un = subprocess.run(["fusermount3", "-u", str(mnt)],
                            capture_output=True, text=True)
    assert un.returncode == 0, un.stderr
    assert H.wait_for(lambda: not _pid_alive(pid), H.scaled(10)), \
        f"musicfs (pid {pid}) still runs 10 s after the unmount"
    if reaper:
        wpid, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert not (cache / "musicfs.pid").exists()
    assert not os.path.ismount(mnt)


BAD_CONFIGS = [
    ("unclosed table", 'tag_xattrs = true\n\n[[origins\n', 3),
    ("wrong type", 'tag_xattrs = true\ngrpc_port = "x"\n', 2),
    ("bad value", 'grpc_port = 50052\n\ntag_xattrs = maybe\n', 3),
]


@pytest.mark.parametrize("what,text,line", BAD_CONFIGS,
                         ids=[b[0] for b in BAD_CONFIGS])
def test_malformed_config(run_musicfs, library, tmp_path, what, text, line):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = run_musicfs(["mount", str(mnt), "--origin", str(library.root),
                       "--cache-dir", str(tmp_path / "cache"), "-f",
                       "--config", str(cfg)], timeout=20)
    assert res.returncode == 2
    assert re.search(rf"bad\.toml:{line}:\d+", res.stderr), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not os.path.ismount(mnt)


def test_unknown_config_key_warns(mount_factory, library, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('tag_xattrs = true\nfrobnicate_level = 11\n')
    m = mount_factory([library.root], extra=["--config", str(cfg)])
    warn = [l for l in m.stderr().splitlines() if "frobnicate_level" in l]
    assert warn, m.stderr()
    assert f"{cfg}:2" in warn[0]
    # the mount works, with the config's other keys applied
    path = m.p(H.expected_path_of("jp/tj1.mp3"))
    assert os.getxattr(path, "user.musicfs.title").decode() == "林檎の唄"
    assert H.list_tree(m.path) == set(library.expected)


def test_bad_template_is_usage_error(run_musicfs, library, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = run_musicfs(["mount", str(mnt), "--origin", str(library.root),
                       "--cache-dir", str(tmp_path / "cache"), "-f",
                       "-t", "$artist/$yaer/$title"], timeout=20)
    assert res.returncode == 2
    assert "yaer" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_unmounts_cleanly(mount_factory, library, sig):
    m = mount_factory([library.root])
    assert m.is_mounted()
    os.kill(m.proc.pid, sig)
    try:
        rc = m.proc.wait(H.scaled(10))
    except subprocess.TimeoutExpired:
        pytest.fail(f"musicfs did not exit within 10 s of {sig.name}")
    assert rc == 0
    assert not os.path.ismount(m.path)


def test_cache_dir_reusable_after_unmount(mount_factory, library, tmp_path):
    cache = tmp_path / "cache"
    m = mount_factory([library.root], cache_dir=cache)
    assert not H.stop_mount(m)
    assert (cache / "musicfs.db").is_file()
    m2 = mount_factory([library.root], cache_dir=cache)
    assert H.list_tree(m2.path) == set(library.expected)


def test_paths_with_spaces_and_unicode(mount_factory, library, tmp_path):
    origin = tmp_path / "my music ö" / "ライブラリ"
    shutil.copytree(library.root, origin)
    m = mount_factory([origin], extra=["--xattrs"],
                      mountpoint=tmp_path / "mount point é",
                      cache_dir=tmp_path / "cache dir ü")
    assert H.list_tree(m.path) == set(library.expected)
    rel = H.expected_path_of("jp/tj1.mp3")
    assert H.read_all(m.p(rel)) == (origin / "jp/tj1.mp3").read_bytes()
    assert os.getxattr(m.p(rel), "user.musicfs.origin") == \
        "local:jp/tj1.mp3".encode()
