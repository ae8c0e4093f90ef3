"""Header synthesis read through vfile, the mount's read path.

For a file of every format, the synthesized file read through a vfile
(odd-sized chunks, as FUSE reads arrive) must be byte-identical to the
segments written out directly, including Ogg files whose header grew by
several pages (audio pages renumbered on the fly), and must decode to the
same audio as the origin.  The per-format tests (test_synth_*.py) check
the tags themselves with mutagen; this one checks the read path.
"""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# format -> ffmpeg output options
FORMATS = {
    "flac": [],
    "mp3": [],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus"],
    "wav": [],
    "m4a": ["-c:a", "aac", "-movflags", "+faststart"],
    "aac": ["-c:a", "aac"],
}


@pytest.fixture(scope="module")
def tool():
    path = os.environ.get("MUSICFS_SYNTH_TOOL",
                          str(REPO / "build" / "tests" / "tools" / "synth_tool"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"synth_tool not found at {path}: build it or set "
                    f"MUSICFS_SYNTH_TOOL")
    return path


@pytest.fixture(autouse=True)
def _requirements():
    """Override conftest's FUSE check: no mount is needed here."""
    yield


def audio_md5(path):
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map",
                           "0:a", "-f", "md5", "-"], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("grow", [False, True], ids=["small", "grown"])
def test_vfile_reads_the_synthesized_file(tool, tmp_path, fmt, grow):
    src = tmp_path / f"in.{fmt}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=660:duration=8", "-metadata",
                    "title=Old", *FORMATS[fmt], str(src)], check=True)
    tags = ["title=Neu Titel", "artist=東京事変", "album=Motörhead",
            "track=3", "track_total=12"]
    if grow:
        # ~100 KB of comment: several new Ogg header pages
        tags.append("comment=" + "long notes " * 9000)
    direct, via = tmp_path / f"d.{fmt}", tmp_path / f"v.{fmt}"
    r = subprocess.run([tool, str(src), str(direct), *tags],
                       capture_output=True, text=True)
    if "not supported" in r.stderr:
        pytest.skip(f"no header synthesizer for {fmt} yet: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([tool, str(src), str(via), "--via-vfile", *tags],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert via.read_bytes() == direct.read_bytes()
    assert audio_md5(via) == audio_md5(src)
