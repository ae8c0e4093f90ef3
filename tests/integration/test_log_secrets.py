"""Secrets given to the daemon through its environment never reach a log:
the daemon registers the value of every variable whose name holds
PASSWORD, SECRET, TOKEN or ACCESS_KEY, and each log line is redacted
before any sink (stderr, log_dir files, the journal).

The test drives the daemon at debug level with the secrets in file and
folder names of its origin, so that lines would carry them unredacted.
The last test of this file greps every log of the whole pytest run (all
musicfs*.log files under the base temp dir, and the log_dir files)."""

import json
import os
import re
import secrets
import shutil
import string

import pytest

import mfs_helpers as H
from grpc_helpers import api, pb  # noqa: F401


def _random(n=24):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


# one set per pytest run: the last test looks for them everywhere
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": _random(),
    "AWS_ACCESS_KEY_ID": "AKIA" + _random(16).upper(),
    "MUSICFS_SMB_PASSWORD": _random(),
    "MUSICFS_S3_SESSION_TOKEN": _random(),
}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"error", "warn", "info", "debug", "trace"}
MODULES = {"main", "config", "catalog", "formats", "tree", "origins", "vfile",
           "scan", "fuse", "cli", "control", "health", "daemon"}


def secret_hits(text):
    return [name for name, value in SECRETS.items() if value in text]


def json_lines(text, where):
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"{where}:{n}: not a JSON object: {line!r}")
        assert isinstance(obj, dict), (where, n, line)
        assert {"ts", "level", "module", "msg"} <= set(obj), (where, n, obj)
        assert TS_RE.match(obj["ts"]), (where, n, obj["ts"])
        assert obj["level"] in LEVELS, (where, n, obj)
        assert obj["module"] in MODULES, (where, n, obj)
        assert isinstance(obj["msg"], str) and obj["msg"], (where, n, obj)
        out.append(obj)
    return out


def test_json_log_files_hold_no_secret(mount_factory, output_checker,
                                       origin_copy, library, api, pb,
                                       tmp_path):
    log_dir = tmp_path / "logs"
    cfg = tmp_path / "musicfs.toml"
    cfg.write_text(f'[logging]\nlog_dir = "{log_dir}"\njson_output = true\n')
    env = dict(os.environ)
    env.update(SECRETS)
    sk = SECRETS["AWS_SECRET_ACCESS_KEY"]
    pw = SECRETS["MUSICFS_SMB_PASSWORD"]
    tok = SECRETS["MUSICFS_S3_SESSION_TOKEN"]
    ak = SECRETS["AWS_ACCESS_KEY_ID"]
    # names the scanner logs at debug level from its first walk
    shutil.copyfile(library.extras / "new.flac",
                    origin_copy / f"take-{sk}.flac")
    log = tmp_path / "musicfs-secrets.log"
    m = H.start_mount(tmp_path / "mnt", [origin_copy], tmp_path / "cache",
                      log, extra=["--config", str(cfg)], env=env,
                      log_level="debug")
    mount_factory.mounts.append(m)
    output_checker.add(f"musicfs daemon ({log})", m.stderr)
    m.wait_scanned()

    c = api(m)
    E = pb.msg
    events = c.subscribe()
    H.wait_for(lambda: c.metric("musicfs_event_subscribers") == 1,
               H.scaled(5))
    # and from the watcher, the events and a rescan over the API
    (origin_copy / f"dir-{tok}").mkdir()
    shutil.copyfile(library.extras / "folder1.mp3",
                    origin_copy / f"dir-{tok}" / f"{pw}+{ak}.mp3")
    added = events.wait_for(lambda e: e.type == E.EVENT_TYPE_FILE_ADDED
                            and pw in e.path)
    assert added is not None, events.snapshot()
    assert added.path == f"dir-{tok}/{pw}+{ak}.mp3"   # the API is not a log
    msgs = list(c.stub.RescanOrigin(E.RescanOriginRequest(origin_id="local"),
                                    timeout=H.scaled(20)))
    assert msgs[-1].done and msgs[-1].error == ""
    os.unlink(origin_copy / f"take-{sk}.flac")
    assert events.wait_for(lambda e: e.type == E.EVENT_TYPE_FILE_REMOVED
                           and sk in e.path) is not None, events.snapshot()
    events.cancel()
    c.stub.Shutdown(E.ShutdownRequest(), timeout=H.scaled(10))
    assert m.proc.wait(H.scaled(10)) == 0

    files = sorted(log_dir.iterdir())
    assert [f.name for f in files] == ["musicfs.log"], files
    assert (files[0].stat().st_mode & 0o777) == 0o640
    text = files[0].read_text()
    lines = json_lines(text, files[0])
    msgs_text = "\n".join(o["msg"] for o in lines)
    # the lines that named the files are there, redacted
    assert "take-***.flac" in msgs_text, msgs_text[-3000:]
    assert "dir-***/***+***.mp3" in msgs_text, msgs_text[-3000:]
    assert any(o["level"] == "debug" for o in lines)
    assert any(o["module"] == "control" for o in lines)
    assert secret_hits(text) == [], f"secrets in {files[0]}"
    # stderr is JSON too, and as clean
    err = m.stderr()
    json_lines(err, log)
    assert "take-***.flac" in err
    assert secret_hits(err) == [], f"secrets in the daemon's stderr ({log})"


def test_zz_no_secret_in_any_log_of_the_run(tmp_path_factory):
    """Runs last in this file: every log file written so far in this pytest
    run, whatever test wrote it."""
    base = tmp_path_factory.getbasetemp()
    checked, dirty = [], []
    for dirpath, _, names in os.walk(base):
        for name in names:
            p = os.path.join(dirpath, name)
            if not (re.match(r"musicfs.*\.log", name)
                    or re.match(r"cli\d+\.(out|err)$", name)
                    or os.path.basename(dirpath) == "logs"):
                continue
            with open(p, "rb") as f:
                text = f.read().decode(errors="replace")
            checked.append(p)
            hits = secret_hits(text)
            if hits:
                dirty.append(f"{p}: {', '.join(hits)}")
    assert checked, f"no log file under {base}"
    assert not dirty, "secrets in logs:\n" + "\n".join(dirty)
