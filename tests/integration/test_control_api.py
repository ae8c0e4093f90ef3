"""The control API driven by an independent client: Python stubs generated
from proto/musicfs.proto (grpc_helpers), against a real mounted daemon,
over its Unix socket (and TCP where a test says so)."""

import errno
import http.client
import os
import shutil
import stat
import subprocess
import time

import pytest

import mfs_helpers as H
from grpc_helpers import (api, free_port, pb,  # noqa: F401
                          wait_subscribers, grpc, metrics_value)

IMAGE_STEMS = ("cover.", "folder.", "front.")
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
TASKS = ("scanner", "watcher", "health", "reloader")


def origin_files(root):
    """Files of root the scanner catalogs: audio files and cover images
    (cover/folder/front.jpg|jpeg|png, any case)."""
    n = 0
    for _, _, files in os.walk(root):
        for name in files:
            low = name.lower()
            if low.endswith(tuple("." + e for e in H.AUDIO_EXTS)):
                n += 1
            elif low.startswith(IMAGE_STEMS) and low.endswith(IMAGE_EXTS):
                n += 1
    return n


def musicfs_version():
    out = subprocess.run(H.daemon_cmd(["--version"]), capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0] == "musicfs", out
    return out[1]


def code_of(call, *args, **kw):
    """The gRPC status code a call ends with (OK if it succeeds)."""
    try:
        res = call(*args, **kw)
        if hasattr(res, "__iter__") and not isinstance(res, (bytes, str)):
            list(res)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def drop(src, origin, rel):
    """Put a copy of src at origin/rel at once: written beside the origin,
    then renamed in (one inotify event, no half-written file)."""
    dest = origin / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = origin.parent / ("." + dest.name + ".part")
    shutil.copyfile(src, tmp)
    os.rename(tmp, dest)
    return dest


def shown(m, rel):
    parent, _, name = rel.rpartition("/")
    try:
        return name in os.listdir(m.p(parent))
    except FileNotFoundError:
        return False


NEW_TRACK = "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"


@pytest.fixture
def live(mount_factory, origin_copy):
    """A private copy of the library mounted: tests may change it."""
    return mount_factory([origin_copy])


# ---- GetStatus -------------------------------------------------------------

def test_get_status(mounted, api, pb):
    m = mounted
    c = api(m)
    st = c.status()
    assert st.version == musicfs_version()
    assert st.mounted is True
    assert st.mount_point == str(m.path)
    assert st.cache_dir == str(m.cache_dir)
    assert st.pid == m.proc.pid
    assert 0 <= st.uptime_seconds < H.scaled(30)     # mounted just now
    assert st.initial_scan_done is True
    assert st.draining is False
    assert st.tracks == len(H.track_files(m.path)) > 0
    tasks = {t.name: t for t in st.tasks}
    for name in TASKS:
        assert name in tasks, f"task {name} missing: {sorted(tasks)}"
        t = tasks[name]
        assert t.state == pb.msg.TASK_STATE_RUNNING, (name, t)
        assert t.restarts == 0 and t.last_error == "", (name, t)
        assert 0 < t.state_since_unix_ms <= time.time() * 1000 + 1000
    assert "watchdog" not in tasks      # only when systemd asks for one


def test_open_handles_follow_open_files(mounted, api):
    m = mounted
    c = api(m)
    base = c.status().open_handles
    paths = [m.p(p) for p in H.track_files(m.path)[:3]]
    files = [open(p, "rb") for p in paths]
    try:
        assert c.status().open_handles == base + 3
        assert H.read_all(paths[0])     # another open and close meanwhile
    finally:
        for f in files:
            f.close()
    # release reaches the daemon after close(2) returns
    assert H.wait_for(lambda: c.status().open_handles == base,
                      H.scaled(3)), c.status().open_handles


# ---- origins ---------------------------------------------------------------

def test_list_origins(mount_factory, library, api, pb, tmp_path):
    cfg = tmp_path / "two.toml"
    cfg.write_text(f"""
[[origins]]
id = "music"
origin_type = "local"
path = "{library.root}"
priority = 2

[[origins]]
id = "archive"
origin_type = "nfs"
path = "{tmp_path / 'nowhere'}"
host = "nas.invalid"
export = "/music"
priority = 7
enabled = false
""")
    m = mount_factory([], extra=["--config", str(cfg)])
    c = api(m)

    def listed():
        return c.stub.ListOrigins(pb.msg.ListOriginsRequest(),
                                  timeout=H.scaled(10)).origins

    # health is UNSPECIFIED until the first check
    assert H.wait_for(lambda: listed()[0].health
                      == pb.msg.HEALTH_STATE_HEALTHY, H.scaled(5))
    music, archive = listed()
    assert (music.id, music.origin_type, music.path, music.priority,
            music.enabled, music.serving) == (
        "music", "local", str(library.root), 2, True, True)
    assert music.file_count == origin_files(library.root) == (
        len(library.tracks) + len(library.folder_images))
    assert (archive.id, archive.origin_type, archive.path, archive.priority,
            archive.enabled, archive.serving) == (
        "archive", "nfs", str(tmp_path / "nowhere"), 7, False, False)
    assert archive.file_count == 0
    assert archive.health == pb.msg.HEALTH_STATE_UNSPECIFIED
    # a configured origin that is not served is not NOT_FOUND
    code, details = code_of(c.stub.GetOriginHealth,
                            pb.msg.GetOriginHealthRequest(origin_id="archive"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, details)
    assert "archive" in details


def test_origin_health(mounted, api, pb):
    c = api(mounted)

    def health(origin_id="local"):
        return c.stub.GetOriginHealth(
            pb.msg.GetOriginHealthRequest(origin_id=origin_id),
            timeout=H.scaled(10))

    assert H.wait_for(lambda: health().state == pb.msg.HEALTH_STATE_HEALTHY,
                      H.scaled(5)), health()
    h = health()
    now_ms = time.time() * 1000
    assert h.origin_id == "local"
    assert h.consecutive_failures == 0 and h.failures_total == 0
    assert h.unhealthy_threshold == 3          # the default
    assert h.checks_total >= 1
    assert now_ms - 60_000 < h.last_check_unix_ms <= now_ms + 1000
    assert 0 < h.state_since_unix_ms <= h.last_check_unix_ms
    assert h.last_error == ""

    code, details = code_of(health, "no-such-origin")
    assert code == grpc.StatusCode.NOT_FOUND
    assert "no-such-origin" in details
    code, details = code_of(health, "")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "origin_id" in details


def test_origin_unmounted_goes_unhealthy_and_back(mount_factory, tmpfs_origin,
                                                  library, api, pb, tmp_path):
    cfg = tmp_path / "health.toml"
    cfg.write_text("[health]\ncheck_interval_secs = 1\n"
                   "[health.per_origin_thresholds]\nlocal = 1\n")
    m = mount_factory([tmpfs_origin], extra=["--config", str(cfg)])
    c = api(m)
    HS = pb.msg

    def health():
        return c.stub.GetOriginHealth(
            HS.GetOriginHealthRequest(origin_id="local"), timeout=H.scaled(10))

    assert H.wait_for(lambda: health().state == HS.HEALTH_STATE_HEALTHY,
                      H.scaled(3)), health()
    assert health().unhealthy_threshold == 1
    events = c.subscribe([HS.EVENT_TYPE_ORIGIN_CONNECTED,
                          HS.EVENT_TYPE_ORIGIN_DISCONNECTED])
    wait_subscribers(c, 1)

    subprocess.run(["umount", str(tmpfs_origin)], check=True)
    t0 = time.monotonic()
    assert H.wait_for(lambda: health().state == HS.HEALTH_STATE_UNHEALTHY,
                      H.scaled(4)), health()
    h = health()
    assert h.consecutive_failures >= 1 and h.failures_total >= 1
    assert h.last_error != ""
    gone = events.wait_for(
        lambda e: e.type == HS.EVENT_TYPE_ORIGIN_DISCONNECTED, 2)
    assert gone is not None, events.snapshot()
    assert (gone.origin_id, gone.type_name) == ("local", "origin_disconnected")
    assert c.metric("musicfs_origin_health", origin="local") == 0
    # the catalog keeps the tree while the origin is away
    assert shown(m, "No Art/Plain (2002) [FLAC]/01 - Bare.flac")

    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                          str(tmpfs_origin)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    shutil.copytree(library.root, tmpfs_origin, dirs_exist_ok=True)
    assert H.wait_for(lambda: health().state == HS.HEALTH_STATE_HEALTHY,
                      H.scaled(4)), health()
    back = events.wait_for(
        lambda e: e.type == HS.EVENT_TYPE_ORIGIN_CONNECTED, 2)
    assert back is not None, events.snapshot()
    assert (back.origin_id, back.type_name) == ("local", "origin_connected")
    assert back.seq > gone.seq
    assert health().consecutive_failures == 0
    assert time.monotonic() - t0 < H.scaled(12)
    events.cancel()


# ---- RescanOrigin ----------------------------------------------------------

def test_rescan_streams_progress_to_done(live, library, api, pb):
    c = api(live)
    known = origin_files(live.origin)
    # dropped in just before the rescan: the walk is done before the
    # watcher's queued paths, so the walk parses it
    drop(library.extras / "new.flac", live.origin, "fresh/new.flac")
    msgs = list(c.stub.RescanOrigin(
        pb.msg.RescanOriginRequest(origin_id="local"), timeout=H.scaled(20)))
    assert msgs, "no progress message"
    last = msgs[-1]
    assert last.done is True
    assert all(not p.done for p in msgs[:-1]), msgs
    assert all(p.origin_id == "local" for p in msgs)
    assert last.error == ""
    assert origin_files(live.origin) == known + 1
    assert last.files_seen == known + 1, (
        f"the finished walk reports {last.files_seen} files seen; the origin "
        f"holds {known + 1}: {last}")
    assert last.files_parsed >= 1, (
        f"the file dropped before the rescan is not in files_parsed: {last}")
    assert last.files_removed == 0
    assert last.files_known in (known, known + 1)
    seen = [p.files_seen for p in msgs]
    assert seen == sorted(seen), seen       # progress never goes back
    elapsed = [p.elapsed_ms for p in msgs]
    assert elapsed == sorted(elapsed), elapsed
    assert H.wait_for(lambda: shown(live, NEW_TRACK), H.scaled(2))


def test_rescan_of_unknown_origin(mounted, api, pb):
    c = api(mounted)
    code, details = code_of(c.stub.RescanOrigin,
                            pb.msg.RescanOriginRequest(origin_id="nope"),
                            timeout=H.scaled(10))
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in details
    code, _ = code_of(c.stub.RescanOrigin, pb.msg.RescanOriginRequest(),
                      timeout=H.scaled(10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# ---- SubscribeEvents ---------------------------------------------------------

def test_file_events(live, library, api, pb):
    from mutagen.flac import FLAC
    c = api(live)
    E = pb.msg
    events = c.subscribe()
    wait_subscribers(c, 1)
    start_ms = time.time() * 1000

    (live.origin / "drop").mkdir()
    shutil.copyfile(library.extras / "new.flac", live.origin / "drop/new.flac")
    added = events.wait_for(lambda e: e.type == E.EVENT_TYPE_FILE_ADDED
                            and e.path == "drop/new.flac")
    assert added is not None, events.snapshot()
    assert (added.type_name, added.origin_id) == ("file_added", "local")
    assert start_ms - 1000 <= added.time_unix_ms <= time.time() * 1000 + 1000

    f = FLAC(live.origin / "plain/p.flac")
    f["title"] = "Retagged"
    f.save()
    modified = events.wait_for(lambda e: e.type == E.EVENT_TYPE_FILE_MODIFIED
                               and e.path == "plain/p.flac")
    assert modified is not None, events.snapshot()
    assert (modified.type_name, modified.origin_id) == ("file_modified",
                                                        "local")
    assert modified.seq > added.seq

    (live.origin / "drop/new.flac").unlink()
    removed = events.wait_for(lambda e: e.type == E.EVENT_TYPE_FILE_REMOVED
                              and e.path == "drop/new.flac")
    assert removed is not None, events.snapshot()
    assert (removed.type_name, removed.origin_id) == ("file_removed", "local")
    assert removed.seq > modified.seq
    seqs = [e.seq for e in events.snapshot()]
    assert seqs == sorted(set(seqs)), seqs
    assert events.error is None
    events.cancel()


def test_sync_events_around_rescan(mounted, api, pb):
    c = api(mounted)
    E = pb.msg
    events = c.subscribe([E.EVENT_TYPE_SYNC_STARTED,
                          E.EVENT_TYPE_SYNC_COMPLETED])
    wait_subscribers(c, 1)
    msgs = list(c.stub.RescanOrigin(E.RescanOriginRequest(origin_id="local"),
                                    timeout=H.scaled(20)))
    assert msgs[-1].done
    done = events.wait_for(lambda e: e.type == E.EVENT_TYPE_SYNC_COMPLETED)
    assert done is not None, events.snapshot()
    got = events.snapshot()
    assert [e.type_name for e in got] == ["sync_started", "sync_completed"]
    assert all(e.origin_id == "local" and e.path == "" for e in got)
    assert got[1].seq > got[0].seq
    assert got[1].value == msgs[-1].files_parsed + msgs[-1].files_removed == 0
    events.cancel()


def test_event_type_filter(live, library, api, pb):
    c = api(live)
    E = pb.msg
    events = c.subscribe([E.EVENT_TYPE_FILE_REMOVED])
    wait_subscribers(c, 1)
    drop(library.extras / "new.flac", live.origin, "filter/new.flac")
    assert H.wait_for(lambda: shown(live, NEW_TRACK), H.scaled(3))
    (live.origin / "filter/new.flac").unlink()
    removed = events.wait_for(lambda e: e.path == "filter/new.flac")
    assert removed is not None, events.snapshot()
    # events come in order: the addition would have come first
    assert [(e.type_name, e.path) for e in events.snapshot()] == [
        ("file_removed", "filter/new.flac")]
    events.cancel()

    code, details = code_of(lambda: list(c.stub.SubscribeEvents(
        E.SubscribeEventsRequest(types=[99]), timeout=H.scaled(5))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)


def test_twenty_subscribers_get_the_same_event(live, library, api, pb):
    E = pb.msg
    probe = api(live)
    base = probe.metric("musicfs_event_subscribers")
    clients = [api(live) for _ in range(20)]
    streams = [cl.subscribe([E.EVENT_TYPE_FILE_ADDED]) for cl in clients]
    assert wait_subscribers(probe, base + 20) == base + 20
    drop(library.extras / "folder1.mp3", live.origin, "many/f1.mp3")
    got = [s.wait_for(lambda e: e.path == "many/f1.mp3") for s in streams]
    assert all(g is not None for g in got), [s.snapshot() for s in streams]
    assert {(g.seq, g.type_name, g.origin_id, g.time_unix_ms)
            for g in got} == {(got[0].seq, "file_added", "local",
                               got[0].time_unix_ms)}
    for s in streams:
        s.cancel()
    assert wait_subscribers(probe, base) == base


def test_cancelled_subscriber_is_freed(mount_factory, library, api):
    port = free_port()
    m = mount_factory([library.root], extra=["--metrics-port", str(port)])

    def page_subscribers():
        conn = http.client.HTTPConnection("127.0.0.1", port,
                                          timeout=H.scaled(5))
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        return metrics_value(text, "musicfs_event_subscribers")

    c = api(m)
    base = page_subscribers()
    assert base == 0
    other = api(m)
    events = other.subscribe()
    assert H.wait_for(lambda: page_subscribers() == base + 1, H.scaled(5))
    events.cancel()
    assert events.error is not None
    assert events.error.code() == grpc.StatusCode.CANCELLED
    assert c.status().pid == m.proc.pid
    assert H.wait_for(lambda: page_subscribers() == base, H.scaled(5)), \
        page_subscribers()
    # the channel of the cancelled call still works
    assert other.status().mounted


# ---- GetMetrics --------------------------------------------------------------

def test_get_metrics(mounted, api, library):
    from prometheus_client.parser import text_string_to_metric_families
    m = mounted
    c = api(m)
    H.list_tree(m.path)
    H.read_all(m.p(H.track_files(m.path)[0]))
    text = c.metrics_text()
    fams = {f.name: f for f in text_string_to_metric_families(text)}

    ops = fams["musicfs_fuse_ops"]     # the parser drops _total
    assert ops.type == "counter"
    by_op = {s.labels["op"]: s.value for s in ops.samples
             if s.name == "musicfs_fuse_ops_total"}
    assert {"lookup", "getattr", "readdir", "readdirplus", "open", "read",
            "release"} <= set(by_op), by_op
    assert by_op["open"] >= 1 and by_op["read"] >= 1
    assert by_op["lookup"] + by_op["readdirplus"] + by_op["readdir"] > 0

    lat = fams["musicfs_fuse_latency_seconds"]
    assert lat.type == "summary"
    quantiles = {(s.labels["op"], s.labels["quantile"]) for s in lat.samples
                 if s.name == "musicfs_fuse_latency_seconds"}
    assert {("read", "0.5"), ("read", "0.9"), ("read", "0.99")} <= quantiles
    counts = {s.labels["op"]: s.value for s in lat.samples
              if s.name == "musicfs_fuse_latency_seconds_count"}
    assert counts["read"] == by_op["read"]

    n = len(library.tracks) + len(library.folder_images)
    assert metrics_value(text, "musicfs_origin_health", origin="local") == 1
    assert metrics_value(text, "musicfs_origin_files", origin="local") == n
    assert metrics_value(text, "musicfs_scan_files_seen_total") >= n
    assert metrics_value(text, "musicfs_scan_files_parsed_total") >= n
    assert metrics_value(text, "musicfs_scan_files_removed_total") == 0
    assert metrics_value(text, "musicfs_scan_initial_done") == 1


# ---- protocol errors -----------------------------------------------------------

def identity(b):
    return b


def test_unknown_method_is_unimplemented(mounted, api):
    c = api(mounted)
    for path in ("/musicfs.v1.MusicFS/NoSuchCall", "/other.Service/Get"):
        call = c.channel.unary_unary(path, request_serializer=identity,
                                     response_deserializer=identity)
        code, details = code_of(call, b"", timeout=H.scaled(10))
        assert code == grpc.StatusCode.UNIMPLEMENTED, (path, code, details)
    assert c.status().mounted     # still serving


@pytest.mark.parametrize("method", ["GetStatus", "GetOriginHealth",
                                    "Shutdown", "RescanOrigin",
                                    "SubscribeEvents"])
def test_garbage_request_is_invalid_argument(mounted, api, method):
    c = api(mounted)
    # field 1, length-delimited, 16 bytes announced, 3 present
    garbage = b"\x0a\x10abc"
    kind = (c.channel.unary_stream if method in ("RescanOrigin",
                                                 "SubscribeEvents")
            else c.channel.unary_unary)
    call = kind(f"/musicfs.v1.MusicFS/{method}",
                request_serializer=identity, response_deserializer=identity)
    code, details = code_of(call, garbage, timeout=H.scaled(10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    st = c.status()        # a garbage Shutdown did not stop anything
    assert st.mounted and not st.draining
    assert mounted.is_mounted()


# ---- listening ------------------------------------------------------------------

def test_tcp_get_status(mount_factory, library, api):
    port = free_port()
    m = mount_factory([library.root], extra=["--grpc-port", str(port)])
    st = api(f"127.0.0.1:{port}").status()
    assert st.pid == m.proc.pid and st.mount_point == str(m.path)


def test_remote_address_needs_allow_remote(mount_factory, library, api,
                                           tmp_path):
    port = free_port()
    cfg = tmp_path / "remote.toml"
    cfg.write_text('grpc_address = "0.0.0.0"\n')
    log = tmp_path / "refused.log"
    # not through mount_factory: its output is meant to hold an error line
    m = H.start_mount(tmp_path / "mnt-refused", [library.root],
                      tmp_path / "cache-refused", log,
                      extra=["--config", str(cfg), "--grpc-port", str(port)],
                      wait_mounted=False)
    try:
        rc = m.proc.wait(H.scaled(10))
    except subprocess.TimeoutExpired:
        H.force_stop(m)
        pytest.fail("the daemon kept running with grpc_address 0.0.0.0")
    assert rc != 0
    text = m.stderr()
    assert "0.0.0.0" in text and "grpc_allow_remote" in text, text[-2000:]
    assert not m.is_mounted()

    cfg.write_text('grpc_address = "0.0.0.0"\ngrpc_allow_remote = true\n')
    port = free_port()
    ok = mount_factory([library.root],
                       extra=["--config", str(cfg), "--grpc-port", str(port)])
    assert api(f"127.0.0.1:{port}").status().pid == ok.proc.pid


def test_socket_is_private(mounted):
    st = os.stat(mounted.cache_dir / "musicfs.sock")
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()


# ---- Shutdown --------------------------------------------------------------------

def _shutdown(c, pb, **kw):
    return c.stub.Shutdown(pb.msg.ShutdownRequest(**kw), timeout=H.scaled(10))


def _exited(m, timeout):
    try:
        return m.proc.wait(H.scaled(timeout))
    except subprocess.TimeoutExpired:
        return None


def test_graceful_shutdown_waits_for_open_file(mounted, api, pb):
    m = mounted
    c = api(m)
    track = m.p(H.track_files(m.path)[0])
    other = m.p(H.track_files(m.path)[1])
    f = open(track, "rb")
    try:
        resp = _shutdown(c, pb, timeout_seconds=30)
        assert resp.accepted is True
        assert resp.open_handles == 1
        assert H.wait_for(lambda: c.status().draining, H.scaled(2))
        st = c.status()
        assert st.open_handles == 1 and st.mounted
        assert errno_of_open(other) == errno.ESHUTDOWN
        assert f.read(4)                # the open file still reads
        # the drain waits for the file: still mounted half a second on
        assert not H.wait_for(lambda: not m.is_mounted(), 0.5)
        assert m.proc.poll() is None and c.status().draining
    finally:
        f.close()
    t0 = time.monotonic()
    assert _exited(m, 5) == 0
    assert time.monotonic() - t0 < H.scaled(3)
    assert not m.is_mounted()
    assert not (m.cache_dir / "musicfs.sock").exists()


def errno_of_open(path):
    return H.errno_of(lambda: open(path, "rb").close())


def test_graceful_shutdown_timeout(mounted, api, pb):
    m = mounted
    c = api(m)
    f = open(m.p(H.track_files(m.path)[0]), "rb")
    try:
        t0 = time.monotonic()
        resp = _shutdown(c, pb, timeout_seconds=2)
        assert resp.accepted and resp.open_handles == 1
        assert H.wait_for(lambda: not m.is_mounted(), H.scaled(4.5)), \
            "still mounted 4 s after a 2 s drain began"
        elapsed = time.monotonic() - t0
        assert 1.8 <= elapsed, f"unmounted after {elapsed:.2f} s, before " \
                               f"the 2 s drain timeout"
        assert _exited(m, 3) == 0
    finally:
        f.close()
    assert "drain timed out" in m.stderr()


def test_immediate_shutdown(mounted, api, pb):
    m = mounted
    c = api(m)
    f = open(m.p(H.track_files(m.path)[0]), "rb")
    try:
        t0 = time.monotonic()
        resp = _shutdown(c, pb, immediate=True)
        assert resp.accepted and resp.open_handles == 1
        assert H.wait_for(lambda: not m.is_mounted(), H.scaled(2))
        assert time.monotonic() - t0 < H.scaled(1.5)
        assert _exited(m, 3) == 0
    finally:
        f.close()
