"""An independent gRPC client of the MusicFS control API.

The stubs are generated from proto/musicfs.proto with grpc_tools.protoc
(Debian's python3-grpc-tools) into a temporary folder, once per pytest
session, and imported from there: nothing of the daemon's code is used.

Fixtures (import them into a test module: `from grpc_helpers import
pb, api  # noqa: F401`):
- pb (session): the generated modules, as pb.msg (musicfs_pb2) and
  pb.svc (musicfs_pb2_grpc).
- api: api(target_or_mount) -> Client; every channel is closed at
  teardown.

Other helpers: socket_target(mount), free_port(), EventStream (a
SubscribeEvents call read on a thread of its own), metrics_value().
"""

import importlib
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_tools")

import mfs_helpers as H  # noqa: E402

PROTO = H.REPO / "proto" / "musicfs.proto"

_generated = {}     # one generation per process, however many modules ask


def generate_stubs(out_dir):
    """musicfs_pb2 and musicfs_pb2_grpc generated into out_dir, imported."""
    if "mods" in _generated:
        return _generated["mods"]
    out_dir = Path(out_dir)
    res = subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                          f"-I{PROTO.parent}", f"--python_out={out_dir}",
                          f"--grpc_python_out={out_dir}", PROTO.name],
                         capture_output=True, text=True)
    assert res.returncode == 0, f"protoc failed:\n{res.stderr}"
    sys.path.insert(0, str(out_dir))
    try:
        msg = importlib.import_module("musicfs_pb2")
        svc = importlib.import_module("musicfs_pb2_grpc")
    finally:
        sys.path.remove(str(out_dir))
    _generated["mods"] = types.SimpleNamespace(msg=msg, svc=svc)
    return _generated["mods"]


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    if "mods" in _generated:
        return _generated["mods"]
    return generate_stubs(tmp_path_factory.mktemp("grpc_stubs"))


def socket_target(m):
    """The gRPC target of a Mount's Unix socket."""
    return f"unix:{m.cache_dir / 'musicfs.sock'}"


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One channel to the daemon and its MusicFS stub."""

    def __init__(self, pb_mods, target):
        self.pb = pb_mods.msg
        self.target = target
        self.channel = grpc.insecure_channel(target)
        self.stub = pb_mods.svc.MusicFSStub(self.channel)

    def ready(self, timeout=10):
        grpc.channel_ready_future(self.channel).result(
            timeout=H.scaled(timeout))
        return self

    def status(self):
        return self.stub.GetStatus(self.pb.GetStatusRequest(),
                                   timeout=H.scaled(10))

    def metrics_text(self):
        return self.stub.GetMetrics(self.pb.GetMetricsRequest(),
                                    timeout=H.scaled(10)).text

    def metric(self, name, **labels):
        return metrics_value(self.metrics_text(), name, **labels)

    def subscribe(self, types=()):
        return EventStream(self, types)

    def close(self):
        self.channel.close()


@pytest.fixture
def api(pb):
    """api(mount or target) -> Client (connected)."""
    clients = []

    def connect(where, wait_ready=True):
        target = where if isinstance(where, str) else socket_target(where)
        c = Client(pb, target)
        clients.append(c)
        return c.ready() if wait_ready else c

    yield connect
    for c in clients:
        c.close()


def metrics_value(text, name, **labels):
    """The value of sample `name` with exactly these labels in the
    Prometheus text, parsed by prometheus_client (None if absent)."""
    from prometheus_client.parser import text_string_to_metric_families
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


class EventStream:
    """A SubscribeEvents call whose messages a thread collects.

    The subscription is live on the daemon only once the daemon handled
    the request: wait_subscribers() waits for musicfs_event_subscribers
    to reach the count the caller expects."""

    def __init__(self, client, types=()):
        self.client = client
        self.events = []
        self.error = None
        self.ended = False
        self._cond = threading.Condition()
        self.call = client.stub.SubscribeEvents(
            client.pb.SubscribeEventsRequest(types=list(types)))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            for e in self.call:
                with self._cond:
                    self.events.append(e)
                    self._cond.notify_all()
        except grpc.RpcError as e:
            self.error = e
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def wait_for(self, pred, timeout=5):
        """The first event received (so far or within timeout s) for which
        pred(event) is true, else None."""
        deadline = time.monotonic() + H.scaled(timeout)
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    return None
                self._cond.wait(left)

    def snapshot(self):
        with self._cond:
            return list(self.events)

    def cancel(self):
        self.call.cancel()
        self._thread.join(H.scaled(5))


def wait_subscribers(client, n, timeout=5):
    """Wait until the daemon counts n event subscribers; returns the last
    value read."""
    last = [None]

    def reached():
        last[0] = client.metric("musicfs_event_subscribers")
        return last[0] == n

    H.wait_for(reached, H.scaled(timeout), interval=0.05)
    return last[0]
