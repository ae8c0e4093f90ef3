"""GET /metrics of a mounted daemon (--metrics-port), read with urllib and
parsed with Debian's python3-prometheus-client."""

import http.client
import os
import socket
import subprocess

import pytest

import mfs_helpers as H
from grpc_helpers import free_port

prom = pytest.importorskip("prometheus_client.parser")


@pytest.fixture
def page(mount_factory, library):
    """(Mount, port) of a daemon serving its metrics page."""
    port = free_port()
    m = mount_factory([library.root], extra=["--metrics-port", str(port)])
    return m, port


def get(port, path="/metrics", method="GET", host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, port, timeout=H.scaled(5))
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def fuse_ops(port):
    status, _, text = get(port)
    assert status == 200
    return {s.labels["op"]: s.value
            for f in prom.text_string_to_metric_families(text)
            for s in f.samples if s.name == "musicfs_fuse_ops_total"}


def test_metrics_page(page, library):
    m, port = page
    status, headers, text = get(port)
    assert status == 200
    ctype = [p.strip() for p in headers["Content-Type"].split(";")]
    assert ctype[0] == "text/plain" and "version=0.0.4" in ctype[1:], ctype
    fams = {f.name: f for f in prom.text_string_to_metric_families(text)}
    for name, kind in (("musicfs_fuse_ops", "counter"),
                       ("musicfs_fuse_latency_seconds", "summary"),
                       ("musicfs_origin_health", "gauge"),
                       ("musicfs_origin_files", "gauge"),
                       ("musicfs_event_subscribers", "gauge"),
                       ("musicfs_open_handles", "gauge"),
                       ("musicfs_scan_files_seen", "counter")):
        assert name in fams, (name, sorted(fams))
        assert fams[name].type == kind, (name, fams[name].type)
    files = {s.labels["origin"]: s.value
             for s in fams["musicfs_origin_files"].samples}
    assert files == {"local": len(library.tracks) + len(library.folder_images)}
    # HEAD: the headers only
    status, headers, body = get(port, method="HEAD")
    assert status == 200 and body == ""


def test_op_counters_grow_after_ls(page):
    m, port = page
    before = fuse_ops(port)
    # folders nobody listed yet: the kernel has nothing cached
    names = os.listdir(m.path)
    for n in names:
        os.listdir(m.path / n)
    after = fuse_ops(port)
    listings = ("readdir", "readdirplus")
    assert sum(after[o] for o in listings) >= sum(before[o] for o in listings) \
        + len(names) + 1, (before, after)
    # readdirplus answers the lookups: no lookup needed for the names
    assert all(after[o] >= before[o] for o in before)


def test_other_paths_and_methods(page):
    m, port = page
    status, _, body = get(port, "/other")
    assert status == 404 and body == "not found\n"
    status, _, _ = get(port, "/")
    assert status == 404
    status, headers, _ = get(port, method="POST")
    assert status == 405 and headers.get("Allow") == "GET, HEAD"


def non_loopback_addresses():
    """The machine's IPv4 addresses other than 127.0.0.0/8."""
    res = subprocess.run(["ip", "-4", "-o", "addr", "show"],
                         capture_output=True, text=True)
    out = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            addr = parts[parts.index("inet") + 1].split("/")[0]
            if not addr.startswith("127."):
                out.append(addr)
    return out


def test_loopback_only(page):
    m, port = page
    assert get(port)[0] == 200
    addrs = non_loopback_addresses()
    if not addrs:
        pytest.skip("this machine has no non-loopback IPv4 address")
    for addr in addrs:
        s = socket.socket()
        s.settimeout(H.scaled(3))
        try:
            with pytest.raises(ConnectionRefusedError):
                s.connect((addr, port))
        finally:
            s.close()
    # nor on IPv6 loopback (the page is on 127.0.0.1 only)
    s = socket.socket(socket.AF_INET6)
    s.settimeout(H.scaled(3))
    try:
        with pytest.raises(OSError):
            s.connect(("::1", port))
    finally:
        s.close()
