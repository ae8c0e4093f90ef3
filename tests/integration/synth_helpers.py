"""Shared by the header-synthesis tests (test_synth_*.py).

They drive tests/tools/synth_tool (env MUSICFS_SYNTH_TOOL) and judge its
output with ffmpeg, ffprobe, mutagen and `musicfs probe`; nothing mounts.
"""
import json
import os
import shutil
import zlib
import subprocess
from pathlib import Path

import pytest

import mfs_helpers as H


def synth_tool():
    env = os.environ.get("MUSICFS_SYNTH_TOOL")
    return Path(env) if env else H.REPO / "build" / "tests" / "tools" / \
        "synth_tool"


@pytest.fixture(autouse=True)
def _requirements():
    """Overrides conftest's: nothing here mounts."""
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing")
    if not H.musicfs_bin().is_file():
        pytest.fail(f"no musicfs binary at {H.musicfs_bin()}")
    if not synth_tool().is_file():
        pytest.fail(f"no synth_tool at {synth_tool()}")


def run(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True,
                          timeout=H.scaled(120), **kw)


def synth(src, dst, args, expect_ok=True):
    res = run([synth_tool(), src, dst] + list(args))
    if expect_ok:
        assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res


def probe(path, ok_codes=(0,)):
    """`musicfs probe --json path`: the file's document."""
    res = run([H.musicfs_bin(), "probe", "--json", path])
    assert res.returncode in ok_codes, res.stderr
    assert not H.BAD_OUTPUT.search(res.stderr.decode(errors="replace"))
    return json.loads(res.stdout)[0]


def check_probe(doc, tags, extra, picture, mime):
    """What `musicfs probe` read back: the tags given (a subset), exactly
    the extra tags, and the picture (its bytes, or None) with its MIME."""
    for k, v in tags.items():
        assert doc["tags"][k] == v, k
    assert doc["extra"] == extra
    if picture is None:
        assert doc["picture"] is None
    else:
        assert doc["picture"]["length"] == len(picture)
        assert doc["picture"]["crc32"] == zlib.crc32(picture)
        assert doc["picture"]["mime"] == mime


def audio_md5(path):
    res = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a",
               "-f", "md5", "-"])
    assert res.returncode == 0, res.stderr
    return res.stdout
