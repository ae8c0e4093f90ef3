"""The musicfs CLI (status, origin, events, shutdown) against a mounted
daemon, and its errors when no daemon answers.  The Python gRPC client of
grpc_helpers is used only to watch the daemon (subscribers, exit)."""

import json
import os
import shutil
import socket
import subprocess
import time

import mfs_helpers as H
from grpc_helpers import api, free_port, pb, wait_subscribers  # noqa: F401

NO_DAEMON = 3


def n_files(library):
    return len(library.tracks) + len(library.folder_images)


def cache_args(m):
    return ["--cache-dir", str(m.cache_dir)]


def one_error_line(proc):
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("musicfs: "), proc.stderr
    return lines[0]


def no_terminal_codes(text):
    return "\r" not in text and "\x1b" not in text


def healthy(api_client, pb):
    h = api_client.stub.GetOriginHealth(
        pb.msg.GetOriginHealthRequest(origin_id="local"), timeout=10)
    return h.state == pb.msg.HEALTH_STATE_HEALTHY


# ---- status ------------------------------------------------------------------

def test_status_human(mounted, run_musicfs, library):
    m = mounted
    res = run_musicfs(["status"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    version = run_musicfs(["--version"]).stdout.split()[1]
    out = res.stdout
    assert out.startswith(f"musicfs {version}, pid {m.proc.pid}, up "), out
    assert f"mounted on {m.path}\n" in out
    assert f"cache dir  {m.cache_dir}\n" in out
    tracks = len(H.track_files(m.path))
    assert f"tracks     {tracks}\n" in out
    assert "open files 0, operations in flight " in out
    for task in ("scanner", "watcher", "health", "reloader"):
        line = next((l for l in out.splitlines()
                     if l.split()[:1] == [task]), None)
        assert line is not None, out
        assert line.split()[1:4] == ["running", "restarts", "0"], line


def test_status_json(mounted, run_musicfs):
    m = mounted
    res = run_musicfs(["status", "--json"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 1
    st = json.loads(res.stdout)
    assert st["pid"] == m.proc.pid
    assert st["mount_point"] == str(m.path)
    assert st["cache_dir"] == str(m.cache_dir)
    assert st["mounted"] is True and st["draining"] is False
    assert st["initial_scan_done"] is True
    assert st["tracks"] == len(H.track_files(m.path))
    tasks = {t["name"]: t for t in st["tasks"]}
    for name in ("scanner", "watcher", "health", "reloader"):
        assert tasks[name]["state"] == "TASK_STATE_RUNNING", tasks
        assert tasks[name]["restarts"] == 0


# ---- origin ------------------------------------------------------------------

def test_origin_list(mounted, run_musicfs, library, api, pb):
    m = mounted
    assert H.wait_for(lambda: healthy(api(m), pb), H.scaled(5))
    res = run_musicfs(["origin", "list"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    header, *rows = res.stdout.splitlines()
    assert header.split() == ["ID", "TYPE", "PRIO", "HEALTH", "FILES", "PATH"]
    assert len(rows) == 1
    assert rows[0].split(None, 5) == ["local", "local", "1", "healthy",
                                      str(n_files(library)),
                                      str(library.root)]
    res = run_musicfs(["origin", "list", "--json"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    (o,) = json.loads(res.stdout)["origins"]
    assert (o["id"], o["origin_type"], o["path"], o["priority"], o["enabled"],
            o["serving"], o["health"], o["file_count"]) == (
        "local", "local", str(library.root), 1, True, True,
        "HEALTH_STATE_HEALTHY", n_files(library))


def test_origin_health(mounted, run_musicfs, api, pb):
    m = mounted
    assert H.wait_for(lambda: healthy(api(m), pb), H.scaled(5))
    res = run_musicfs(["origin", "health", "local"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    fields = {l[:20].strip(): l[20:].strip() for l in res.stdout.splitlines()}
    assert fields["origin"] == "local"
    assert fields["state"] == "healthy"
    assert fields["failures in a row"] == "0 of 3 before unhealthy"
    assert fields["last check"] != "never"
    res = run_musicfs(["origin", "health", "local", "--json"] + cache_args(m))
    h = json.loads(res.stdout)
    assert h["origin_id"] == "local" and h["state"] == "HEALTH_STATE_HEALTHY"
    assert h["checks_total"] >= 1 and h["unhealthy_threshold"] == 3


def test_origin_rescan_json(mounted, run_musicfs, library):
    m = mounted
    res = run_musicfs(["origin", "rescan", "local", "--json"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert no_terminal_codes(res.stdout)
    lines = [json.loads(l) for l in res.stdout.splitlines()]
    assert lines and lines[-1]["done"] is True
    assert all(l["done"] is False for l in lines[:-1])
    assert lines[-1]["files_seen"] == n_files(library)
    assert lines[-1]["files_parsed"] == 0 and lines[-1]["error"] == ""


def test_origin_rescan_text_has_no_progress_bar(mounted, run_musicfs, library):
    m = mounted
    res = run_musicfs(["origin", "rescan", "local"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""         # the bar is drawn on a terminal only
    assert no_terminal_codes(res.stdout)
    line = res.stdout.strip()
    assert line.startswith("rescanned 'local' in "), line
    assert line.endswith(f" s: {n_files(library)} files seen, 0 new or "
                         f"changed, 0 removed"), line


# ---- events ------------------------------------------------------------------

def test_events_count_one(mount_factory, origin_copy, library, api, pb,
                          tmp_path, output_checker):
    m = mount_factory([origin_copy])
    c = api(m)
    out, err = tmp_path / "events.out", tmp_path / "events.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(H.daemon_cmd(
            ["events", "--type", "file_added", "--count", "1", "--json"]
            + cache_args(m)), stdin=subprocess.DEVNULL, stdout=o, stderr=e)
    output_checker.add("musicfs events", lambda: err.read_text())
    try:
        assert wait_subscribers(c, 1) == 1
        # another type first: filtered out by the daemon
        (origin_copy / "plain/p.flac").unlink()
        tmp = tmp_path / "new.flac"
        shutil.copyfile(library.extras / "new.flac", tmp)
        os.rename(tmp, origin_copy / "new.flac")
        rc = proc.wait(H.scaled(5))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0, err.read_text()
    (line,) = out.read_text().splitlines()
    ev = json.loads(line)
    assert (ev["type"], ev["type_name"], ev["origin_id"], ev["path"]) == (
        "EVENT_TYPE_FILE_ADDED", "file_added", "local", "new.flac")
    # the CLI's call was freed when it stopped
    assert wait_subscribers(c, 0) == 0


def test_events_text_line(mount_factory, origin_copy, library, api, tmp_path):
    m = mount_factory([origin_copy])
    c = api(m)
    out = tmp_path / "events.out"
    with open(out, "wb") as o:
        proc = subprocess.Popen(H.daemon_cmd(
            ["events", "-t", "file_removed", "-n", "1"] + cache_args(m)),
            stdin=subprocess.DEVNULL, stdout=o, stderr=subprocess.STDOUT)
    try:
        assert wait_subscribers(c, 1) == 1
        (origin_copy / "plain/p.flac").unlink()
        rc = proc.wait(H.scaled(5))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0
    (line,) = out.read_text().splitlines()
    # "YYYY-MM-DD HH:MM:SS.mmm file_removed        local:plain/p.flac"
    date, clock, kind, where = line.split()
    assert time.strptime(date + " " + clock.split(".")[0],
                         "%Y-%m-%d %H:%M:%S")
    assert (kind, where) == ("file_removed", "local:plain/p.flac")


# ---- shutdown ----------------------------------------------------------------

def test_shutdown_graceful_default(mounted, run_musicfs):
    m = mounted
    res = run_musicfs(["shutdown"] + cache_args(m))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "shutting down\n"
    assert m.proc.wait(H.scaled(5)) == 0
    assert not m.is_mounted()
    assert "shutdown requested over the control API (graceful)" in m.stderr()


def test_shutdown_not_graceful(mounted, run_musicfs):
    m = mounted
    f = open(m.p(H.track_files(m.path)[0]), "rb")
    try:
        t0 = time.monotonic()
        res = run_musicfs(["shutdown", "--graceful", "false"] + cache_args(m))
        assert res.returncode == 0, res.stderr
        assert res.stdout == "shutting down: waiting for 1 open file(s)\n"
        assert m.proc.wait(H.scaled(3)) == 0
        assert time.monotonic() - t0 < H.scaled(2)
        assert not m.is_mounted()
    finally:
        f.close()
    assert "shutdown requested over the control API (immediate)" in m.stderr()


# ---- where the daemon is -----------------------------------------------------

def test_endpoint_unix(mounted, run_musicfs):
    m = mounted
    res = run_musicfs(["status", "--json", "--endpoint",
                       f"unix:{m.cache_dir / 'musicfs.sock'}"])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["pid"] == m.proc.pid


def test_endpoint_tcp(mount_factory, library, run_musicfs):
    port = free_port()
    m = mount_factory([library.root], extra=["--grpc-port", str(port)])
    res = run_musicfs(["status", "--json", "-e", f"127.0.0.1:{port}"])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["pid"] == m.proc.pid
    res = run_musicfs(["origin", "list", "-e", f"127.0.0.1:{port}"])
    assert res.returncode == 0 and "\nlocal " in res.stdout


def test_cache_dir_from_config(mounted, run_musicfs, tmp_path):
    cfg = tmp_path / "client.toml"
    cfg.write_text(f'cache_dir = "{mounted.cache_dir}"\n')
    res = run_musicfs(["status", "--json", "--config", str(cfg)])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["pid"] == mounted.proc.pid


# ---- errors ------------------------------------------------------------------

def test_no_daemon(run_musicfs, tmp_path):
    empty = tmp_path / "cache"
    empty.mkdir()
    for cmd in (["status"], ["origin", "list"], ["events"], ["shutdown"]):
        res = run_musicfs(cmd + ["-C", str(empty)], expect_error_lines=True)
        assert res.returncode == NO_DAEMON, (cmd, res.stderr)
        line = one_error_line(res)
        assert str(empty / "musicfs.sock") in line, line
        assert res.stdout == ""


def test_stale_socket(run_musicfs, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / "musicfs.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()           # the file stays; nobody listens
    assert path.is_socket()
    t0 = time.monotonic()
    res = run_musicfs(["status", "-C", str(cache)], expect_error_lines=True)
    assert res.returncode == NO_DAEMON, res.stderr
    assert "cannot reach the musicfs daemon" in one_error_line(res)
    assert time.monotonic() - t0 < H.scaled(5)
    res = run_musicfs(["status", "-e", f"unix:{path}"],
                      expect_error_lines=True)
    assert res.returncode == NO_DAEMON, res.stderr
    one_error_line(res)


def test_unknown_origin(mounted, run_musicfs):
    for action in ("health", "rescan"):
        res = run_musicfs(["origin", action, "nope"] + cache_args(mounted),
                          expect_error_lines=True)
        assert res.returncode == 1, (action, res.stderr)
        assert one_error_line(res) == (
            "musicfs: no origin 'nope' (musicfs origin list shows them)")
        assert res.stdout == ""


def test_bad_event_type(run_musicfs, tmp_path):
    res = run_musicfs(["events", "--type", "file_exploded", "-C",
                       str(tmp_path)], expect_error_lines=True)
    assert res.returncode == 2
    assert one_error_line(res) == ("musicfs: --type: 'file_exploded' is not "
                                   "an event type (see musicfs events --help)")
