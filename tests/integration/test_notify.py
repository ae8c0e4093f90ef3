"""systemd notifications, received on a fake NOTIFY_SOCKET: a Unix
datagram socket bound by the test and named in the daemon's environment."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import mfs_helpers as H
from grpc_helpers import api, pb  # noqa: F401


class NotifySocket:
    """The listening end of NOTIFY_SOCKET; every datagram is kept as the
    list of its KEY=VALUE lines."""

    def __init__(self):
        # a short path: sun_path holds 108 bytes
        self.dir = tempfile.mkdtemp(prefix="mfs-notify-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        msg = data.decode().split("\n")
        msg = [l for l in msg if l]
        self.messages.append(msg)
        return msg

    def wait_for(self, pred, timeout=5, on_receive=None):
        """The first message (already received, or arriving within timeout
        s) for which pred(lines) is true, else None.  on_receive(lines) is
        called the moment each new message arrives."""
        for msg in self.messages:
            if pred(msg):
                return msg
        deadline = time.monotonic() + H.scaled(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            msg = self._recv(left)
            if msg is None:
                continue
            if on_receive:
                on_receive(msg)
            if pred(msg):
                return msg

    def lines(self):
        return [l for msg in self.messages for l in msg]

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


def has(line):
    return lambda msg: line in msg


@pytest.fixture
def start_notified(mount_factory, output_checker, notify, tmp_path):
    """start(origins, extra=(), env={}, log_level="debug", wait=True) ->
    Mount: the daemon with NOTIFY_SOCKET (and env) in its environment,
    torn down by mount_factory."""
    def start(origins, extra=(), env=None, log_level="debug", wait=True):
        n = len(mount_factory.mounts) + 1
        full = {k: v for k, v in os.environ.items()
                if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
        full["NOTIFY_SOCKET"] = notify.path
        full.update(env or {})
        log = tmp_path / f"musicfs-notify{n}.log"
        m = H.start_mount(tmp_path / f"mnt-n{n}", origins,
                          tmp_path / f"cache-n{n}", log, extra,
                          wait_mounted=wait, env=full, log_level=log_level)
        mount_factory.mounts.append(m)
        output_checker.add(f"musicfs daemon n{n} ({log})", m.stderr)
        return m

    return start


def test_ready_once_mount_is_live(start_notified, notify, library):
    m = start_notified([library.root], wait=False)
    live_at_ready = []
    ready = notify.wait_for(
        has("READY=1"), 10,
        on_receive=lambda msg: "READY=1" in msg and live_at_ready.append(
            os.path.ismount(m.path)))
    assert ready is not None, (notify.messages, m.stderr()[-2000:])
    assert live_at_ready == [True], "READY=1 came before the mount was live"
    assert any(l.startswith("STATUS=") for l in ready), ready
    assert "STATUS=Mounted; scanning the origins" in ready
    # READY=1 only once, and never before the mount
    m.wait_scanned()
    assert notify.lines().count("READY=1") == 1
    assert "STOPPING=1" not in notify.lines()


@pytest.mark.parametrize("how", ["unmount", "SIGTERM"])
def test_stopping_on_the_way_out(start_notified, notify, library, how):
    m = start_notified([library.root])
    assert notify.wait_for(has("READY=1"), 5)
    if how == "unmount":
        subprocess.run(["fusermount3", "-u", str(m.path)], check=True)
    else:
        m.proc.send_signal(signal.SIGTERM)
    stopping = notify.wait_for(has("STOPPING=1"), 5)
    assert stopping is not None, notify.messages
    assert "STATUS=Stopping" in stopping
    assert m.proc.wait(H.scaled(5)) == 0
    assert not m.is_mounted()
    assert notify.lines().count("STOPPING=1") == 1


def test_watchdog_pings(start_notified, notify, library, api, pb):
    # no WATCHDOG_PID: sd_watchdog_enabled() applies the watchdog to any
    # process that sees WATCHDOG_USEC
    m = start_notified([library.root], env={"WATCHDOG_USEC": "500000"})
    t0 = time.monotonic()
    pings = []
    ok = notify.wait_for(lambda msg: "WATCHDOG=1" in msg
                         and pings.append(time.monotonic()) is None
                         and len(pings) >= 4, 4)
    assert ok, notify.messages
    # half the interval (0.25 s) between pings: 4 within about a second
    assert pings[-1] - t0 < H.scaled(2.5), [p - t0 for p in pings]
    tasks = {t.name: t.state for t in api(m).status().tasks}
    assert tasks.get("watchdog") == pb.msg.TASK_STATE_RUNNING, tasks
    assert "systemd watchdog: pinging every" in m.stderr()


def test_no_watchdog_for_another_pid(start_notified, notify, library, api):
    m = start_notified([library.root], env={"WATCHDOG_USEC": "500000",
                                            "WATCHDOG_PID": "1"})
    assert notify.wait_for(has("READY=1"), 5)
    names = [t.name for t in api(m).status().tasks]
    assert "watchdog" not in names, names
    assert "WATCHDOG=1" not in notify.lines()


def test_sighup_reloads_log_level(start_notified, notify, library,
                                  origin_copy, tmp_path):
    cfg = tmp_path / "musicfs.toml"
    cfg.write_text('[logging]\nlevel = "info"\n')
    m = start_notified([origin_copy], extra=["--config", str(cfg)],
                       log_level=None)
    m.wait_scanned()
    assert notify.wait_for(has("READY=1"), 5)
    assert " DEBUG " not in m.stderr()

    cfg.write_text('[logging]\nlevel = "debug"\n')
    m.proc.send_signal(signal.SIGHUP)
    reloading = notify.wait_for(has("RELOADING=1"), 5)
    assert reloading is not None, notify.messages
    again = notify.wait_for(lambda msg: "READY=1" in msg
                            and notify.messages.index(msg)
                            > notify.messages.index(reloading), 5)
    assert again is not None, notify.messages
    assert "STATUS=Serving" in again
    assert H.wait_for(lambda: "configuration reloaded" in m.stderr(),
                      H.scaled(3)), m.stderr()[-2000:]

    shutil.copyfile(library.extras / "new.flac", origin_copy / "new.flac")

    def debug_after_reload():
        text = m.stderr()
        tail = text[text.index("configuration reloaded"):]
        return "DEBUG scan: new file 'new.flac'" in tail

    assert H.wait_for(debug_after_reload, H.scaled(3)), m.stderr()[-3000:]
    head = m.stderr()[:m.stderr().index("configuration reloaded")]
    assert " DEBUG " not in head


def test_sighup_keeps_the_log_level_flag(start_notified, notify, library,
                                         origin_copy, tmp_path):
    """--log-level overrides the config's [logging] level
    (config.example.toml); a reload re-reads the file but the flag still
    wins."""
    cfg = tmp_path / "musicfs.toml"
    cfg.write_text('[logging]\nlevel = "warn"\n')
    m = start_notified([origin_copy], extra=["--config", str(cfg)],
                       log_level="debug")
    m.wait_scanned()
    assert notify.wait_for(has("READY=1"), 5)
    m.proc.send_signal(signal.SIGHUP)
    reloading = notify.wait_for(has("RELOADING=1"), 5)
    assert reloading is not None, notify.messages
    # READY=1 again: the reload is over
    assert notify.wait_for(lambda msg: "READY=1" in msg
                           and notify.messages.index(msg)
                           > notify.messages.index(reloading), 5)
    shutil.copyfile(library.extras / "new.flac", origin_copy / "new.flac")
    assert H.wait_for(lambda: "DEBUG scan: new file 'new.flac'"
                      in m.stderr(), H.scaled(3)), (
        "after SIGHUP the daemon logs at the config's level (warn), not "
        "at the --log-level flag's (debug):\n" + m.stderr()[-1500:])
