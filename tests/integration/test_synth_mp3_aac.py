"""Header synthesis of MP3 and AAC/ADTS files (issue 3, "synthesize").

tests/tools/synth_tool parses a file, synthesizes a new one carrying
exactly the tags given on its command line (a new ID3v2.4 tag in place of
the old tags, the MPEG or ADTS frames untouched) and writes it out.  For
files generated here with ffmpeg (ID3v2.3 and 2.4 MP3 with a cover, MP3
with ID3v1 and APEv2 at the end, AAC/ADTS with and without an ID3v2 tag)
and for every MP3/AAC file of tests/data/corpus that MusicFS parses, each
output is checked four ways:

1. mutagen (an independent reader) reads exactly the new frames, as
   ID3v2.4, and the picture bytes that were asked for;
2. `ffprobe -v warning` prints nothing (but the one line ffmpeg prints for
   every ADTS file, input included: see ADTS_FFPROBE_NOTE);
3. the decoded audio is bit-identical to the input's (ffmpeg's md5 muxer);
4. `musicfs probe --json` reads back the same tags;

and the output read through a vfile (synth_tool --via-vfile) is the same.

The expected mapping of the tags to ID3v2.4 frames (EXPECTED_FRAMES) is
what the writer in src/formats/id3.c documents: UTF-8 text frames, people
and genre split at "; " into NUL-separated values, TRCK/TPOS "n/total",
COMM with language "eng" and no description, TCMP "1", extra tags as
TXXX with the key as description (or as the frame their key names).
"""

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import mfs_helpers as H

CORPUS = H.REPO / "tests" / "data" / "corpus"

# ffmpeg's ADTS demuxer has no duration field to read and says so for
# every .aac file (the input as much as the output): the one line allowed.
ADTS_FFPROBE_NOTE = "Estimating duration from bitrate, this may be inaccurate"

BIG_VALUE = "Ça va? 東京事変 " * 600          # about 10 KB of UTF-8

# The new tags, as synth_tool KEY=VALUE arguments.
NEW_TAGS = {
    "title": "東京事変",
    "artist": "Motörhead; 東京事変",
    "album": "Ace of Spades",
    "album_artist": "",                  # empty: left out
    "genre": "Rock; Jazz",
    "composer": "Björk Guðmundsdóttir",
    "date": "2023-04-14",
    "comment": BIG_VALUE,
    "track": "3",
    "track_total": "12",
    "disc": "1",
    "disc_total": "2",
    "compilation": "1",
    "MUSICBRAINZ_TRACKID": "6c3f8f3c-21f8-4c36-9a53-1f3b2f1d4c0e",
    "REPLAYGAIN_TRACK_GAIN": "-6.54 dB",
    "TXXX:Custom Thing": "ünïcode",
    "TBPM": "128",
    "ARTISTSORT": "Motorhead",
}

# What mutagen must read from the output: frame hash key -> text list.
EXPECTED_FRAMES = {
    "TIT2": ["東京事変"],
    "TPE1": ["Motörhead", "東京事変"],
    "TALB": ["Ace of Spades"],
    "TCON": ["Rock", "Jazz"],
    "TCOM": ["Björk Guðmundsdóttir"],
    "TDRC": ["2023-04-14"],
    "TRCK": ["3/12"],
    "TPOS": ["1/2"],
    "COMM::eng": [BIG_VALUE],
    "TCMP": ["1"],
    "TXXX:MUSICBRAINZ_TRACKID": ["6c3f8f3c-21f8-4c36-9a53-1f3b2f1d4c0e"],
    "TXXX:REPLAYGAIN_TRACK_GAIN": ["-6.54 dB"],
    "TXXX:Custom Thing": ["ünïcode"],
    "TBPM": ["128"],
    "TSOP": ["Motorhead"],
}

# What `musicfs probe --json` must read from the output.
EXPECTED_PROBE_TAGS = {
    "title": "東京事変", "artist": "Motörhead; 東京事変",
    "album": "Ace of Spades", "album_artist": None, "genre": "Rock; Jazz",
    "composer": "Björk Guðmundsdóttir", "date": "2023-04-14",
    "comment": BIG_VALUE, "year": 2023, "track": 3, "track_total": 12,
    "disc": 1, "disc_total": 2, "compilation": True,
}
# ... from a file without tags
NO_PROBE_TAGS = dict({k: None for k in EXPECTED_PROBE_TAGS},
                     compilation=False)
EXPECTED_PROBE_EXTRA = {
    "TXXX:MUSICBRAINZ_TRACKID": "6c3f8f3c-21f8-4c36-9a53-1f3b2f1d4c0e",
    "TXXX:REPLAYGAIN_TRACK_GAIN": "-6.54 dB",
    "TXXX:Custom Thing": "ünïcode",
    "TBPM": "128",
    "TSOP": "Motorhead",
}

OLD_TAGS = {"title": "Old Title", "artist": "Old Artist", "album": "Old",
            "genre": "Pop", "track": "7/9", "comment": "old comment"}


@pytest.fixture(autouse=True)
def _requirements():
    """Overrides conftest's: synthesis runs without FUSE."""
    if not H.musicfs_bin().is_file():
        pytest.fail(f"no musicfs binary at {H.musicfs_bin()}")
    if not synth_tool().is_file():
        pytest.fail(f"no synth_tool at {synth_tool()}: build it or set "
                    f"MUSICFS_SYNTH_TOOL")
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing")
    pytest.importorskip("mutagen")


def synth_tool():
    env = os.environ.get("MUSICFS_SYNTH_TOOL")
    if env:
        return Path(env)
    return H.REPO / "build" / "tests" / "tools" / "synth_tool"


# --------------------------------------------------------------------------
# Running the tools

def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + [str(a) for a in args],
                   check=True)


def synth(src, dest, tags=None, picture=None, expect_rc=0, vfile=False):
    """synth_tool SRC DEST [picture options] KEY=VALUE...  picture: None
    (no picture), "keep", or (path, mime).  vfile: read the output through
    a vfile (the mount's read path), not segment by segment."""
    cmd = [str(synth_tool()), str(src), str(dest)]
    if vfile:
        cmd.append("--via-vfile")
    if picture == "keep":
        cmd.append("--keep-picture")
    elif picture:
        cmd += ["--picture", str(picture[0]), picture[1]]
    cmd += [f"{k}={v}" for k, v in (tags or {}).items()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == expect_rc, (src, res.stderr)
    if expect_rc == 0:
        assert res.stderr == ""
    return res


def audio_md5(path):
    res = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map",
                          "0:a", "-f", "md5", "-"], capture_output=True,
                         text=True, timeout=60)
    return res.returncode, res.stdout.strip(), res.stderr


def ffprobe_lines(path):
    res = subprocess.run(["ffprobe", "-v", "warning", "-i", str(path)],
                         capture_output=True, text=True, timeout=60)
    out = (res.stdout + res.stderr).splitlines()
    # "[mp3 @ 0x55d...] text": the address differs from run to run
    # "[mp3 @ 0x55d...] text": the address differs from run to run, and so
    # does the score of a format guess (a better one for a cleaner header)
    return res.returncode, [re.sub(r"score of \d+", "score of N",
                                   re.sub(r" @ 0x[0-9a-f]+\]", "]", l))
                            for l in out]


def check_ffprobe_clean(out):
    rc, lines = ffprobe_lines(out)
    assert rc == 0, lines
    if out.suffix == ".aac":
        lines = [l for l in lines if not l.endswith(ADTS_FFPROBE_NOTE)]
    assert lines == [], f"ffprobe warnings on {out.name}: {lines}"


def probe(run_musicfs, path):
    res = run_musicfs(["probe", "--json", str(path)])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert len(doc) == 1
    return doc[0]


def id3_frames(path):
    """mutagen's reading of the ID3v2 tag: version, {hash key: texts},
    APIC frames.  ID3v1 is not merged in (load_v1=False): the output must
    not have one, which check_no_old_tags() looks at on its own."""
    from mutagen.id3 import ID3
    tags = ID3(str(path), load_v1=False)
    frames = {}
    pics = []
    for key, frame in tags.items():
        if frame.FrameID == "APIC":
            pics.append(frame)
        else:
            text = frame.text       # USLT's is one string
            frames[key] = [text] if isinstance(text, str) else \
                [str(t) for t in text]
    return tags.version, frames, pics


def check_no_old_tags(path):
    data = path.read_bytes()
    assert data[:3] == b"ID3" and data[3] == 4
    assert data[-128:-125] != b"TAG", "an ID3v1 tag was kept"
    assert b"APETAGEX" not in data, "an APEv2 tag was kept"
    end = tag_size(data)
    assert data[end:end + 3] != b"ID3", "an old ID3v2 tag was kept"


def tag_size(data):
    s = data[6:10]
    return 10 + (s[0] << 21 | s[1] << 14 | s[2] << 7 | s[3])


def check_audio_bytes(run_musicfs, src, out):
    """After the new tag, out holds the input's audio range, byte for
    byte, and nothing else."""
    doc = probe(run_musicfs, src)
    data = out.read_bytes()
    audio = src.read_bytes()[doc["audio_start"]:doc["audio_end"]]
    assert data[tag_size(data):] == audio
    return doc


def input_picture(path):
    """The image bytes of the APIC frame mutagen finds in path, or None."""
    from mutagen.id3 import ID3, ID3NoHeaderError
    try:
        pics = ID3(str(path)).getall("APIC")
    except ID3NoHeaderError:
        return None
    return pics[0].data if pics else None


# --------------------------------------------------------------------------
# The generated files

def _make_covers(folder):
    big, small = folder / "big.png", folder / "small.png"
    _ffmpeg("-f", "lavfi", "-i", "color=gray:s=300x300,noise=alls=100:allf=t",
            "-frames:v", "1", big)
    _ffmpeg("-f", "lavfi", "-i", "color=blue:s=48x48", "-frames:v", "1",
            small)
    assert big.stat().st_size > 64 << 10
    return {"big": big, "small": small}


def _tag_args():
    out = []
    for k, v in OLD_TAGS.items():
        out += ["-metadata", f"{k}={v}"]
    return out


def _add_apic(path, cover):
    from mutagen.id3 import ID3, APIC
    tags = ID3(str(path))
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="Cövér",
                  data=cover.read_bytes()))
    tags.save(str(path))


def _append(path, data):
    with open(path, "ab") as f:
        f.write(data)


def _ape_tag():
    """An APEv2 tag (header, one item, footer) as the format describes."""
    item = struct.pack("<II", 3, 0) + b"Title\0" + b"Ape"
    def hf(flags):
        return (b"APETAGEX" + struct.pack("<IIII", 2000, len(item) + 32, 1,
                                          flags) + b"\0" * 8)
    return hf(0xa0000000) + item + hf(0x80000000)


def _id3v1(title=b"V1 Title"):
    return (b"TAG" + title.ljust(30, b"\0") + b"V1 Artist".ljust(30, b"\0")
            + b"V1 Album".ljust(30, b"\0") + b"1999" + b"\0" * 28 + b"\0\5"
            + b"\x11")


def generate(folder, covers):
    """{name: path} of the generated inputs."""
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5"]
    attach = ["-map", "0", "-map", "1", "-c:v", "copy", "-disposition:v",
              "attached_pic", "-metadata:s:v", "comment=Cover (front)"]
    files = {}
    f = files["v23.mp3"] = folder / "v23.mp3"
    _ffmpeg(*sine, "-i", covers["small"], *attach, "-map_metadata", "-1",
            "-id3v2_version", "3", *_tag_args(), f)
    f = files["v24.mp3"] = folder / "v24.mp3"
    _ffmpeg(*sine, "-i", covers["big"], *attach, "-map_metadata", "-1",
            "-ac", "2", "-id3v2_version", "4", *_tag_args(), f)
    # ID3v2.3 at the start, APEv2 and ID3v1 at the end
    f = files["tails.mp3"] = folder / "tails.mp3"
    _ffmpeg(*sine, "-map_metadata", "-1", "-id3v2_version", "3",
            *_tag_args(), f)
    _append(f, _ape_tag() + _id3v1())
    # no tags at all (ffmpeg still writes its Xing/Info frame)
    f = files["bare.mp3"] = folder / "bare.mp3"
    _ffmpeg(*sine, "-map_metadata", "-1", "-id3v2_version", "0",
            "-write_id3v1", "0", f)
    f = files["tagged.aac"] = folder / "tagged.aac"
    _ffmpeg(*sine, "-map_metadata", "-1", "-c:a", "aac", "-write_id3v2",
            "1", *_tag_args(), f)
    _add_apic(f, covers["small"])
    f = files["bare.aac"] = folder / "bare.aac"
    _ffmpeg(*sine, "-map_metadata", "-1", "-c:a", "aac", "-ac", "2", f)
    _append(f, _id3v1())
    return files


@pytest.fixture(scope="session")
def gen(tmp_path_factory):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is missing")
    pytest.importorskip("mutagen")
    folder = tmp_path_factory.mktemp("synth_mp3_aac")
    covers = _make_covers(folder)
    return folder, covers, generate(folder, covers)


# --------------------------------------------------------------------------
# The checks

def check_output(run_musicfs, src, out, frames, probe_tags, probe_extra,
                 picture):
    """The four checks.  picture: expected image bytes or None."""
    version, got, pics = id3_frames(out)
    assert version == (2, 4, 0)
    assert got == frames
    if picture is None:
        assert pics == []
    else:
        assert len(pics) == 1 and pics[0].data == picture
        assert pics[0].desc == ""
    check_no_old_tags(out)
    check_ffprobe_clean(out)
    check_audio_bytes(run_musicfs, src, out)
    rc_in, md5_in, _ = audio_md5(src)
    rc_out, md5_out, err = audio_md5(out)
    assert rc_in == 0 and rc_out == 0, err
    assert md5_in and md5_in == md5_out
    doc = probe(run_musicfs, out)
    doc_in = probe(run_musicfs, src)
    assert doc["tags"] == probe_tags
    assert doc["extra"] == probe_extra
    assert (doc["audio_end"] - doc["audio_start"]
            == doc_in["audio_end"] - doc_in["audio_start"])
    assert doc["sample_rate"] == doc_in["sample_rate"]
    assert doc["channels"] == doc_in["channels"]
    if picture is None:
        assert doc["picture"] is None
    else:
        pic = doc["picture"]
        assert pic["stored"] == "raw"
        data = out.read_bytes()
        assert data[pic["offset"]:pic["offset"] + pic["length"]] == picture


GENERATED = ["v23.mp3", "v24.mp3", "tails.mp3", "bare.mp3", "tagged.aac",
             "bare.aac"]


@pytest.mark.parametrize("name", GENERATED)
def test_new_tags_keep_picture(gen, name, tmp_path, run_musicfs):
    _, _, files = gen
    src = files[name]
    out = tmp_path / ("out" + src.suffix)
    synth(src, out, NEW_TAGS, "keep")
    check_output(run_musicfs, src, out, EXPECTED_FRAMES, EXPECTED_PROBE_TAGS,
                 EXPECTED_PROBE_EXTRA, input_picture(src))
    # the same bytes through vfile, as a mount reads them
    via = tmp_path / ("via" + src.suffix)
    synth(src, via, NEW_TAGS, "keep", vfile=True)
    assert via.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("name", GENERATED)
def test_new_tags_replace_picture(gen, name, tmp_path, run_musicfs):
    _, covers, files = gen
    src = files[name]
    out = tmp_path / ("out" + src.suffix)
    synth(src, out, NEW_TAGS, (covers["big"], "image/png"))
    via = tmp_path / ("via" + src.suffix)
    synth(src, via, NEW_TAGS, (covers["big"], "image/png"), vfile=True)
    assert via.read_bytes() == out.read_bytes()
    check_output(run_musicfs, src, out, EXPECTED_FRAMES, EXPECTED_PROBE_TAGS,
                 EXPECTED_PROBE_EXTRA, covers["big"].read_bytes())
    _, _, pics = id3_frames(out)
    assert pics[0].mime == "image/png" and pics[0].type == 3


@pytest.mark.parametrize("name", GENERATED)
def test_remove_picture_and_fields(gen, name, tmp_path, run_musicfs):
    """No picture, only a title: every other field is gone."""
    _, _, files = gen
    src = files[name]
    out = tmp_path / ("out" + src.suffix)
    synth(src, out, {"title": "Motörhead", "composer": ""})
    tags = dict(NO_PROBE_TAGS, title="Motörhead")
    check_output(run_musicfs, src, out, {"TIT2": ["Motörhead"]}, tags, {},
                 None)


def test_values_written_the_id3_way(gen, tmp_path, run_musicfs):
    """Year without a date, a track without a total, a genre starting with
    '(' (escaped as '((' in TCON), lyrics, sort fields by their common
    names, repeated frames merged."""
    _, _, files = gen
    out = tmp_path / "out.mp3"
    synth(files["v24.mp3"], out, {
        "year": "1980", "track": "5", "genre": "(Live) Rock",
        "LYRICS": "la la\nla", "ALBUMARTISTSORT": "Sort, The",
        "COMM:Notes": "a note", "TXXX:foo": "one", "foo": "two"})
    _, got, _ = id3_frames(out)
    assert got == {"TDRC": ["1980"], "TRCK": ["5"], "TCON": ["(Live) Rock"],
                   "USLT::eng": ["la la\nla"], "TSO2": ["Sort, The"],
                   "COMM:Notes:eng": ["a note"], "TXXX:foo": ["one", "two"]}
    assert out.read_bytes().count(b"((Live) Rock") == 1
    doc = probe(run_musicfs, out)
    assert doc["tags"]["genre"] == "(Live) Rock"
    assert doc["tags"]["date"] == "1980" and doc["tags"]["track"] == 5
    assert doc["extra"] == {"USLT": "la la\nla", "TSO2": "Sort, The",
                            "COMM:Notes": "a note", "TXXX:foo": "one; two"}
    check_ffprobe_clean(out)


def test_grow_and_shrink(gen, tmp_path, run_musicfs):
    """A header of about 1.2 MB (ten 100 KB values and a big picture) on a
    file that had none, then no tag content at all on that file."""
    _, covers, files = gen
    big = {f"TXXX:big{i}": chr(0x4e00 + i) * 34000 for i in range(10)}
    grown = tmp_path / "grown.mp3"
    synth(files["bare.mp3"], grown, big, (covers["big"], "image/png"))
    assert grown.stat().st_size > files["bare.mp3"].stat().st_size + 1000000
    frames = {k: [v] for k, v in big.items()}
    extra = dict(big)
    tags = NO_PROBE_TAGS
    check_output(run_musicfs, files["bare.mp3"], grown, frames, tags, extra,
                 covers["big"].read_bytes())
    shrunk = tmp_path / "shrunk.mp3"
    synth(grown, shrunk)
    assert shrunk.stat().st_size < 20 << 10
    check_output(run_musicfs, grown, shrunk, {}, tags, {}, None)
    # the tag is the header, no frame, and the padding
    data = shrunk.read_bytes()
    assert data[:10] == b"ID3\4\0\0" + bytes([0, 0, 0x20, 0])
    assert data[10:tag_size(data)] == bytes(tag_size(data) - 10)


def test_picture_over_cap(gen, tmp_path):
    """A picture over the 64 MiB the writer allows: a clean -EFBIG."""
    _, _, files = gen
    pic = tmp_path / "huge.png"
    with open(pic, "wb") as f:
        f.truncate((64 << 20) + 1)
    res = synth(files["v23.mp3"], tmp_path / "out.mp3", {"title": "x"},
                (pic, "image/png"), expect_rc=1)
    assert "too large" in res.stderr
    assert not H.BAD_OUTPUT.search(res.stderr)


# --------------------------------------------------------------------------
# The corpus

CORPUS_FILES = sorted(p for p in CORPUS.rglob("*")
                      if p.suffix.lower() in (".mp3", ".aac"))

CORPUS_TAGS = {k: v for k, v in NEW_TAGS.items() if k != "comment"}
CORPUS_TAGS["comment"] = "Ça va?"
CORPUS_FRAMES = dict(EXPECTED_FRAMES)
CORPUS_FRAMES["COMM::eng"] = ["Ça va?"]
CORPUS_PROBE_TAGS = dict(EXPECTED_PROBE_TAGS, comment="Ça va?")


def test_corpus_found():
    assert len(CORPUS_FILES) >= 30, "tests/data/corpus is missing files"


@pytest.mark.parametrize("path", CORPUS_FILES,
                         ids=[f"{p.parent.name}/{p.name}"
                              for p in CORPUS_FILES])
def test_corpus(path, tmp_path, run_musicfs):
    """Every corpus file MusicFS parses synthesizes without a crash and
    with the new tags; where ffmpeg decodes the input without an error,
    the output decodes to the same audio.

    The decoded audio is compared with that of the input cut at its
    audio_end ("ref"): ffmpeg decodes an ID3v2 tag appended at the end
    (audacious-trailing-id32-*.mp3) as junk frames, and an ID3v1 tag
    changes how it starts a file whose first frame is a VBRI header
    (taglib/rare_frames.mp3: without the ID3v1 tag it reports "invalid
    new backstep -1", as for the output).  ffprobe must print no line on
    the output that it does not print on the input or ref."""
    res = run_musicfs(["probe", "--json", str(path)],
                      expect_error_lines=True)
    doc = json.loads(res.stdout)[0]
    out = tmp_path / ("out" + path.suffix.lower())
    if "error" in doc:
        assert res.returncode == 1
        res = subprocess.run([str(synth_tool()), str(path), str(out)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 1, res.stderr     # a clean error
        return
    assert res.returncode == 0, res.stderr
    if doc["format"] not in ("mp3", "aac"):
        pytest.skip(f"parsed as {doc['format']}, not MP3/AAC")
    synth(path, out, CORPUS_TAGS, "keep")
    version, got, pics = id3_frames(out)
    assert version == (2, 4, 0) and got == CORPUS_FRAMES
    check_no_old_tags(out)
    check_audio_bytes(run_musicfs, path, out)
    new = probe(run_musicfs, out)
    assert new["tags"] == CORPUS_PROBE_TAGS
    assert new["extra"] == EXPECTED_PROBE_EXTRA
    assert (new["audio_end"] - new["audio_start"]
            == doc["audio_end"] - doc["audio_start"])
    if doc["picture"]:
        pic = new["picture"]
        data = out.read_bytes()
        assert len(pics) == 1
        assert pics[0].data == data[pic["offset"]:pic["offset"]
                                    + pic["length"]]
    rc, _, err = audio_md5(path)
    if rc != 0 or err or doc["audio_end"] == doc["audio_start"]:
        return          # not valid audio: no crash was the check
    ref = tmp_path / ("ref" + path.suffix.lower())
    ref.write_bytes(path.read_bytes()[:doc["audio_end"]])
    rc_ref, md5_ref, err_ref = audio_md5(ref)
    rc, md5_out, err = audio_md5(out)
    assert rc == 0 and rc_ref == 0
    assert md5_out == md5_ref
    assert re.sub(r"0x[0-9a-f]+", "", err) == \
        re.sub(r"0x[0-9a-f]+", "", err_ref)
    _, lines_in = ffprobe_lines(path)
    _, lines_ref = ffprobe_lines(ref)
    rc, lines_out = ffprobe_lines(out)
    assert rc == 0
    assert set(lines_out) <= set(lines_in) | set(lines_ref), lines_out

