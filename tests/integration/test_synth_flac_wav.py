"""Header synthesis of FLAC and WAV/RF64 files (issue 3).

tests/tools/synth_tool parses a file, synthesizes one carrying exactly the
tags given and writes its segments out.  For files generated with ffmpeg
(tags, a cover in FLAC) and mutagen (an ID3 chunk with a cover in WAV),
every field is set to new values (non-Latin text, a 10 KB value, an empty
field, several artists, track and disc with totals, the compilation flag,
MusicBrainz and ReplayGain extra tags) and the picture kept, replaced or
removed; then

1. mutagen (an independent reader) reads exactly the new tags and the
   picture bytes,
2. `ffprobe -v warning` prints nothing,
3. the decoded audio is bit-identical (`ffmpeg -f md5`),
4. `musicfs probe --json` reads back the same tags and picture,
5. the layout is right: FLAC starts with "fLaC" and keeps STREAMINFO and
   SEEKTABLE byte for byte; a RIFF file's sizes add up, chunks are padded
   to even sizes, the chunks that are not tags are kept.

Also every FLAC and WAV file of tests/data/corpus that MusicFS parses,
headers that grow (megabytes of tags) and shrink (no tags), and damaged
headers (cut, lying sizes, flipped bytes): a clean error or a good file,
never a crash.
"""

import io
import json
import random
import struct
import subprocess
from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import APIC, COMM, ID3, TIT2, TPE1
from mutagen.wave import WAVE

import mfs_helpers as H
import synth_helpers
from synth_helpers import synth_tool, _requirements, run  # noqa: F401 (fixture)

CORPUS = H.REPO / "tests" / "data" / "corpus"

LONG = "ü" + "x" * 10239       # a 10 KB value
MBID = "5c0c1b5c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"

# The new tags, as synth_tool arguments.
NEW = {
    "title": "Zwölf Boxkämpfer — 東京事変",
    "artist": "Motörhead; 東京事変",       # two artists
    "album": LONG,
    "album_artist": "Various Ärtists",
    "genre": "Röck",
    "composer": "Björk Guðmundsdóttir",
    "date": "2021-03-04",
    "comment": "",                          # empty: left out
    "track": "3", "track_total": "12",
    "disc": "1", "disc_total": "2",
    "compilation": "1",
    "MUSICBRAINZ_TRACKID": MBID,
    "REPLAYGAIN_TRACK_GAIN": "-6.50 dB",
}

# What `musicfs probe --json` must read back.
PROBE_TAGS = {
    "title": NEW["title"], "artist": NEW["artist"], "album": LONG,
    "album_artist": NEW["album_artist"], "genre": "Röck",
    "composer": NEW["composer"], "date": "2021-03-04", "comment": None,
    "year": 2021, "track": 3, "track_total": 12, "disc": 1,
    "disc_total": 2, "compilation": True,
}
EMPTY_TAGS = {k: None for k in PROBE_TAGS} | {"compilation": False}

# The Vorbis comments mutagen must read from a FLAC output.
VORBIS = sorted([
    ("TITLE", NEW["title"]), ("ARTIST", "Motörhead"), ("ARTIST", "東京事変"),
    ("ALBUM", LONG), ("ALBUMARTIST", NEW["album_artist"]),
    ("GENRE", "Röck"), ("COMPOSER", NEW["composer"]),
    ("DATE", "2021-03-04"), ("TRACKNUMBER", "3"), ("TRACKTOTAL", "12"),
    ("DISCNUMBER", "1"), ("DISCTOTAL", "2"), ("COMPILATION", "1"),
    ("MUSICBRAINZ_TRACKID", MBID), ("REPLAYGAIN_TRACK_GAIN", "-6.50 dB"),
])

# The ID3v2.4 frames mutagen must read from a WAV output: key -> texts.
ID3_FRAMES = {
    "TIT2": [NEW["title"]], "TPE1": ["Motörhead", "東京事変"],
    "TALB": [LONG], "TPE2": [NEW["album_artist"]], "TCON": ["Röck"],
    "TCOM": [NEW["composer"]], "TDRC": ["2021-03-04"], "TRCK": ["3/12"],
    "TPOS": ["1/2"], "TCMP": ["1"],
    "TXXX:MUSICBRAINZ_TRACKID": [MBID],
    "TXXX:REPLAYGAIN_TRACK_GAIN": ["-6.50 dB"],
}


def tag_args(tags):
    return [f"{k}={v}" for k, v in tags.items()]


def synth(src, dst, args, expect_ok=True):
    res = run([synth_tool(), src, dst] + list(args))
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (0, 1), f"synth_tool died: {res.returncode} {err}"
    assert not H.BAD_OUTPUT.search(err), err
    if expect_ok:
        assert res.returncode == 0, err
    return res


def audio_md5(path):
    res = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a",
               "-f", "md5", "-"])
    return res.stdout if res.returncode == 0 else None


def ffprobe_warnings(path):
    res = run(["ffprobe", "-v", "warning", "-i", path])
    return (res.stdout + res.stderr).decode(errors="replace")


def probe(path):
    return synth_helpers.probe(path, ok_codes=(0, 1))


def probe_picture(obj, path):
    pic = obj["picture"]
    if pic is None:
        return None
    assert pic["stored"] == "raw", pic
    return Path(path).read_bytes()[pic["offset"]:pic["offset"] +
                                   pic["length"]]


# --------------------------------------------------------------------------
# Inputs

def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + [str(a) for a in args],
                   check=True)


OLD = ["-metadata", "title=Old title", "-metadata", "artist=Old artist",
       "-metadata", "comment=Old comment", "-metadata", "track=7/9"]


def _syncsafe(n):
    return bytes([(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f,
                  n & 0x7f])


def _id3v24(title):
    """A small ID3v2.4 tag with one TIT2 frame, built by hand."""
    body = b"\x03" + title.encode()
    frame = b"TIT2" + _syncsafe(len(body)) + b"\0\0" + body
    return b"ID3\x04\0\0" + _syncsafe(len(frame)) + frame


def _riff_chunks(data):
    """[(id, body offset, size)] of a RIFF file; asserts the layout."""
    assert data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE"
    riff = struct.unpack("<I", data[4:8])[0]
    ds64 = None
    out = []
    pos = 12
    while pos < len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"ds64":
            ds64 = struct.unpack("<QQ", data[pos + 8:pos + 24])
        if cid == b"data" and size == 0xFFFFFFFF:
            size = ds64[1]
        out.append((cid, pos + 8, size))
        pos += 8 + size + (size & 1)
    assert pos == len(data), "chunks do not end where the file does"
    if data[:4] == b"RIFF":
        assert riff == len(data) - 8
    else:
        assert riff == 0xFFFFFFFF and ds64[0] == len(data) - 8
    return out


def _append_chunk(path, cid, body):
    """Add a chunk at the end of a RIFF file (and fix the RIFF size)."""
    data = bytearray(path.read_bytes())
    data += cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)
    data[4:8] = struct.pack("<I", len(data) - 8)
    path.write_bytes(bytes(data))


def _insert_before_data(path, cid, body):
    """Add a chunk right before "data" (and fix the RIFF size)."""
    data = bytearray(path.read_bytes())
    pos = next(o - 8 for c, o, _ in _riff_chunks(bytes(data))
               if c == b"data")
    data[pos:pos] = (cid + struct.pack("<I", len(body)) + body +
                     b"\0" * (len(body) & 1))
    data[4:8] = struct.pack("<I", len(data) - 8)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """{name: path} of the generated inputs, and the covers."""
    d = tmp_path_factory.mktemp("synth_fw")
    small, big = d / "small.png", d / "big.png"
    _ffmpeg("-f", "lavfi", "-i", "color=red:s=32x32", "-frames:v", "1",
            small)
    _ffmpeg("-f", "lavfi", "-i", "color=gray:s=300x300,noise=alls=100:allf=t",
            "-frames:v", "1", big)
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5"]
    f = {"small.png": small, "big.png": big}

    f["gen.flac"] = d / "gen.flac"
    _ffmpeg(*sine, "-i", small, "-map", "0", "-map", "1", "-c:v", "copy",
            "-disposition:v", "attached_pic",
            "-metadata:s:v", "comment=Cover (front)", "-fflags", "+bitexact",
            "-ar", "48000", *OLD, f["gen.flac"])
    # an ID3v2 tag in front of fLaC (some taggers write one)
    f["id3.flac"] = d / "id3.flac"
    f["id3.flac"].write_bytes(_id3v24("ID3 in front") +
                              f["gen.flac"].read_bytes())

    # SEEKTABLE (a placeholder point) and two APPLICATION blocks
    f["blocks.flac"] = d / "blocks.flac"
    f["blocks.flac"].write_bytes(_with_blocks(
        f["gen.flac"].read_bytes(),
        [(2, b"mfs1appl"), (3, SEEK), (2, b"mfs2")]))
    # an ID3v1 tag at the end (some taggers append one)
    f["v1.flac"] = d / "v1.flac"
    v1 = (b"TAG" + b"Old v1 title".ljust(30, b"\0") + b"\0" * 92 +
          b"\0\x05\x0c")
    assert len(v1) == 128
    f["v1.flac"].write_bytes(f["gen.flac"].read_bytes() + v1)
    f["gen.wav"] = d / "gen.wav"       # RIFF INFO tags, from ffmpeg
    _ffmpeg(*sine, "-fflags", "+bitexact", "-ar", "22050", "-ac", "2", *OLD,
            f["gen.wav"])
    f["id3.wav"] = d / "id3.wav"       # an ID3 chunk with a cover
    _ffmpeg(*sine, "-fflags", "+bitexact", *OLD, f["id3.wav"])
    w = WAVE(f["id3.wav"])
    w.add_tags()
    w.tags.add(TIT2(encoding=3, text=["Old ID3 title"]))
    w.tags.add(TPE1(encoding=3, text=["Old ID3 artist"]))
    w.tags.add(COMM(encoding=3, lang="eng", desc="", text=["old"]))
    w.tags.add(APIC(encoding=3, mime="image/png", type=3, desc="Cövér",
                    data=small.read_bytes()))
    w.save()
    # 8-bit mono with an odd number of samples: a padded data chunk, and
    # a chunk after it (odd too)
    f["odd.wav"] = d / "odd.wav"
    _ffmpeg(*sine, "-fflags", "+bitexact", "-ar", "8000", "-ac", "1",
            "-c:a", "pcm_u8", "-af", "atrim=end_sample=11999", *OLD,
            f["odd.wav"])
    _append_chunk(f["odd.wav"], b"abcd", b"xyz")
    # a LIST chunk that is not INFO (odd, so padded) is kept
    _insert_before_data(f["odd.wav"], b"LIST", b"adtlnote\x05\0\0\0ab")
    f["rf64.wav"] = d / "rf64.wav"
    _ffmpeg(*sine, "-fflags", "+bitexact", "-rf64", "always", *OLD,
            f["rf64.wav"])
    return f


# --------------------------------------------------------------------------
# The checks

def check_common(src, out, want_tags, want_extra, want_pic):
    """ffprobe quiet, audio bit-identical, probe reads the new tags."""
    assert ffprobe_warnings(out) == ""
    want_md5 = audio_md5(src)
    assert want_md5 and audio_md5(out) == want_md5
    obj = probe(out)
    assert "error" not in obj, obj
    assert obj["tags"] == want_tags
    assert obj["extra"] == want_extra
    assert probe_picture(obj, out) == want_pic
    return obj


def check_flac(src, out, want_vorbis, want_pic):
    data = out.read_bytes()
    assert data[:4] == b"fLaC"
    new, old = FLAC(out), FLAC(src)
    assert sorted(new.tags or []) == want_vorbis
    assert new.tags is None or new.tags.vendor == old.tags.vendor
    assert new.info.pprint() == old.info.pprint()
    if old.seektable:
        assert new.seektable == old.seektable
    assert [p.data for p in new.pictures] == ([want_pic] if want_pic else [])
    for p in new.pictures:
        assert p.mime == "image/png"


def _flac_blocks(data):
    """[(type, last, body)] of the metadata blocks of a FLAC file."""
    pos = data.index(b"fLaC") + 4
    out = []
    while True:
        h = data[pos]
        n = int.from_bytes(data[pos + 1:pos + 4], "big")
        out.append((h & 0x7f, bool(h & 0x80), data[pos + 4:pos + 4 + n]))
        pos += 4 + n
        if h & 0x80:
            return out


SEEK = b"\xff" * 8 + b"\0" * 10      # a placeholder seek point


def _with_blocks(data, blocks):
    """data (a FLAC file) with blocks [(type, body)] after STREAMINFO."""
    pos = data.index(b"fLaC") + 4
    assert data[pos] == 0       # STREAMINFO, not last
    pos += 4 + 34
    extra = b"".join(bytes([t]) + len(b).to_bytes(3, "big") + b
                     for t, b in blocks)
    return data[:pos] + extra + data[pos:]


def _streaminfo(path):
    data = path.read_bytes()
    pos = data.index(b"fLaC") + 4
    assert data[pos] & 0x7f == 0
    return data[pos + 4:pos + 38]


def _id3_chunk_tags(data, chunks):
    """The ID3 tag of the "id3 " chunk as mutagen reads it, or None."""
    for cid, off, size in chunks:
        if cid == b"id3 ":
            return ID3(io.BytesIO(data[off:off + size]))
    return None


def check_wav(src, out, want_frames, want_pic):
    data = out.read_bytes()
    chunks = _riff_chunks(data)
    ids = [c[0] for c in chunks]
    assert ids.count(b"id3 ") <= 1 and b"ID3 " not in ids
    assert not any(c == b"LIST" and data[o:o + 4] == b"INFO"
                   for c, o, _ in chunks)
    sdata = src.read_bytes()
    old = [c for c in _riff_chunks(sdata)
           if c[0] not in (b"id3 ", b"ID3 ", b"data", b"ds64") and
           not (c[0] == b"LIST" and sdata[c[1]:c[1] + 4] == b"INFO")]
    kept = [c for c in chunks if c[0] not in (b"id3 ", b"data", b"ds64")]
    assert [(c, sdata[o:o + n]) for c, o, n in old] == \
        [(c, data[o:o + n]) for c, o, n in kept]
    tags = _id3_chunk_tags(data, chunks)
    if data[:4] == b"RIFF":     # mutagen's WAVE does not open RF64
        assert WAVE(out).tags == tags
    frames = {k: [str(t) for t in v.text] for k, v in (tags or {}).items()
              if not k.startswith("APIC")}
    assert frames == want_frames
    pics = [v for k, v in (tags or {}).items() if k.startswith("APIC")]
    assert [p.data for p in pics] == ([want_pic] if want_pic else [])
    for p in pics:
        assert p.mime == "image/png" and p.type == 3


def _pic_args(mode, inputs):
    if mode == "keep":
        return ["--keep-picture"]
    if mode == "replace":
        return ["--picture", inputs["big.png"], "image/png"]
    return []


def _want_pic(mode, inputs, src_has_cover):
    if mode == "keep":
        return inputs["small.png"].read_bytes() if src_has_cover else None
    if mode == "replace":
        return inputs["big.png"].read_bytes()
    return None


# --------------------------------------------------------------------------
# Round trips

@pytest.mark.parametrize("mode", ["keep", "replace", "remove"])
@pytest.mark.parametrize("name", ["gen.flac", "id3.flac", "v1.flac",
                                  "blocks.flac"])
def test_flac_round_trip(inputs, tmp_path, name, mode):
    src, out = inputs[name], tmp_path / "out.flac"
    synth(src, out, _pic_args(mode, inputs) + tag_args(NEW))
    assert out.read_bytes()[-128:-125] != b"TAG"
    pic = _want_pic(mode, inputs, True)
    check_flac(src, out, VORBIS, pic)
    assert _streaminfo(out) == _streaminfo(src)
    check_common(src, out, PROBE_TAGS,
                 {"MUSICBRAINZ_TRACKID": MBID,
                  "REPLAYGAIN_TRACK_GAIN": "-6.50 dB"}, pic)


@pytest.mark.parametrize("mode", ["keep", "replace", "remove"])
@pytest.mark.parametrize("name", ["gen.wav", "id3.wav", "odd.wav",
                                  "rf64.wav"])
def test_wav_round_trip(inputs, tmp_path, name, mode):
    src, out = inputs[name], tmp_path / "out.wav"
    synth(src, out, _pic_args(mode, inputs) + tag_args(NEW))
    pic = _want_pic(mode, inputs, name == "id3.wav")
    check_wav(src, out, ID3_FRAMES, pic)
    assert out.read_bytes()[:4] == src.read_bytes()[:4]    # RF64 stays
    check_common(src, out, PROBE_TAGS,
                 {"TXXX:MUSICBRAINZ_TRACKID": MBID,
                  "TXXX:REPLAYGAIN_TRACK_GAIN": "-6.50 dB"}, pic)


def test_flac_blocks_kept(inputs, tmp_path):
    """STREAMINFO first, then SEEKTABLE (one), APPLICATION blocks as they
    were; the new VORBIS_COMMENT, PICTURE, and PADDING last."""
    src, out = tmp_path / "in.flac", tmp_path / "out.flac"
    # a SEEKTABLE before the one there, which the format does not allow:
    # the first is kept
    src.write_bytes(_with_blocks(inputs["blocks.flac"].read_bytes(),
                                 [(3, SEEK + SEEK)]))
    synth(src, out, ["--keep-picture", "title=T"])
    blocks = _flac_blocks(src.read_bytes())
    got = _flac_blocks(out.read_bytes())
    kept = [(t, b) for t, _, b in blocks if t in (0, 2, 3)]
    assert [t for t, _ in kept] == [0, 3, 2, 3, 2]
    del kept[3]     # the second SEEKTABLE of the chain goes
    assert [(t, b) for t, _, b in got[:len(kept)]] == kept
    assert [t for t, _, _ in got[len(kept):]] == [4, 6, 1]
    assert [last for _, last, _ in got] == [False] * (len(got) - 1) + [True]
    assert got[-1][2] == bytes(len(got[-1][2]))


def test_wav_odd_chunks_are_padded(inputs, tmp_path):
    """The odd data chunk and the odd chunk after it keep their pad byte;
    the chunk after the audio stays after it."""
    out = tmp_path / "out.wav"
    synth(inputs["odd.wav"], out, tag_args({"title": "T"}))
    chunks = _riff_chunks(out.read_bytes())
    ids = [c[0] for c in chunks]
    assert ids.index(b"data") < ids.index(b"abcd")
    sizes = dict((c, n) for c, _, n in chunks)
    assert sizes[b"data"] % 2 == 1 and sizes[b"abcd"] == 3


def test_grow_and_shrink(inputs, tmp_path):
    """A megabyte of tags (values stay under the 128 KiB of one argument)
    and a picture of megabytes, then no tags at all."""
    huge = {"title": "Ü" * 50000, "comment": "c" * 120000,
            "artist": "; ".join(f"Artist {i}" for i in range(200)),
            **{f"BIG_{i}": chr(0x4e00 + i) * 33000 for i in range(8)}}
    cover = tmp_path / "huge.png"
    _ffmpeg("-f", "lavfi", "-i",
            "color=gray:s=1400x1400,noise=alls=100:allf=t", "-frames:v", "1",
            cover)
    assert cover.stat().st_size > (3 << 20)
    for name in ("gen.flac", "id3.wav", "rf64.wav"):
        src = inputs[name]
        ext = src.suffix
        big, empty = tmp_path / ("big" + ext), tmp_path / ("empty" + ext)
        synth(src, big, ["--picture", cover, "image/png"] + tag_args(huge))
        synth(big, empty, [])
        assert big.stat().st_size > src.stat().st_size + (3 << 20)
        assert empty.stat().st_size < src.stat().st_size
        for out in (big, empty):
            assert ffprobe_warnings(out) == "", out
            assert audio_md5(out) == audio_md5(src), out
        obj = probe(big)
        assert obj["tags"]["title"] == huge["title"]
        assert obj["tags"]["comment"] == huge["comment"]
        assert obj["tags"]["artist"] == huge["artist"]
        assert obj["extra"]["BIG_7" if ext == ".flac" else "TXXX:BIG_7"] \
            == huge["BIG_7"]
        assert probe_picture(obj, big) == cover.read_bytes()
        obj = probe(empty)
        assert obj["tags"] == EMPTY_TAGS and obj["extra"] == {}
        assert obj["picture"] is None
        if ext == ".flac":
            f = FLAC(empty)
            assert list(f.tags) == [] and f.pictures == []
        else:
            data = empty.read_bytes()
            tags = _id3_chunk_tags(data, _riff_chunks(data))
            assert tags is None or len(tags) == 0


# --------------------------------------------------------------------------
# The corpus and damaged files

def _corpus_files():
    return sorted(p for p in CORPUS.rglob("*")
                  if p.suffix.lower() in (".flac", ".wav") and p.is_file())


def test_corpus(tmp_path):
    """Every FLAC and WAV file of the corpus that MusicFS parses
    synthesizes cleanly; where ffmpeg reads the input without a warning,
    the output passes the same checks as the generated files."""
    files = _corpus_files()
    assert len(files) >= 10
    synthesized = 0
    tags = {"title": "Tïtle 東京", "artist": "A; B", "track": "2",
            "track_total": "5", "MUSICBRAINZ_TRACKID": MBID}
    for src in files:
        obj = probe(src)
        if "error" in obj:
            continue
        out = tmp_path / ("out" + src.suffix.lower())
        res = synth(src, out, ["--keep-picture"] + tag_args(tags),
                    expect_ok=False)
        if res.returncode:
            continue
        synthesized += 1
        got = probe(out)
        assert "error" not in got, (src, got)
        assert got["tags"]["title"] == "Tïtle 東京", src
        assert got["tags"]["artist"] == "A; B", src
        assert (got["tags"]["track"], got["tags"]["track_total"]) == (2, 5)
        assert got["audio_end"] - got["audio_start"] == \
            obj["audio_end"] - obj["audio_start"], src
        assert (got["picture"] is None) == (obj["picture"] is None), src
        if src.suffix.lower() == ".wav":
            _riff_chunks(out.read_bytes())
        else:
            assert out.read_bytes()[:4] == b"fLaC"
            assert _streaminfo(out) == _streaminfo(src)
        md5 = audio_md5(src)
        if md5 and ffprobe_warnings(src) == "":
            assert ffprobe_warnings(out) == "", src
            assert audio_md5(out) == md5, src
    assert synthesized >= 8


def _damaged(data, rng):
    """Variants of a header: cut, lying sizes, flipped bytes."""
    out = [data[:n] for n in (4, 12, 20, 42, 60, 100, 300, 1000)]
    for pos in range(4, min(len(data), 400), 7):
        for value in (0x00, 0xFF, 0x80):
            d = bytearray(data)
            d[pos] = value
            out.append(bytes(d))
    for _ in range(40):
        d = bytearray(data)
        for _ in range(4):
            d[rng.randrange(0, min(len(d), 2000))] = rng.randrange(256)
        out.append(bytes(d))
    return out


@pytest.mark.parametrize("name", ["gen.flac", "id3.flac", "id3.wav",
                                  "rf64.wav", "odd.wav"])
def test_damaged_headers(inputs, tmp_path, name):
    """A clean error or a file MusicFS reads back, never a crash."""
    rng = random.Random(name)
    src = tmp_path / ("in" + inputs[name].suffix)
    out = tmp_path / ("out" + inputs[name].suffix)
    for data in _damaged(inputs[name].read_bytes(), rng):
        src.write_bytes(data)
        res = synth(src, out, ["--keep-picture"] + tag_args(NEW),
                    expect_ok=False)
        if res.returncode == 0:
            got = probe(out)
            assert "error" not in got
            assert got["tags"]["title"] == NEW["title"]
