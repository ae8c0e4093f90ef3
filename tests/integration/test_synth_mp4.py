"""Header synthesis of M4A/MP4 files (issue 3).

tests/tools/synth_tool parses a file, synthesizes one carrying exactly the
tags given and writes the segments out.  For the new file MusicFS keeps the
top-level atoms of the origin in order and rebuilds moov, with a new
udta/meta/ilst; when moov precedes mdat the audio moves, and every stco/co64
chunk offset must move with it.  For files generated with ffmpeg in both
layouts (moov first with -movflags +faststart, moov last by default; a
cover as an attached picture), also with a 64-bit mdat size and a size-0
("to the end of the file") mdat, every field is set to new values and the
picture kept, replaced or removed; then

1. mutagen (an independent reader) reads exactly the new items and cover,
2. `ffprobe -v warning` prints nothing (but ffmpeg 5.1's "stream 0,
   timescale not set", which it prints for every file with a cover, the
   inputs included),
3. the decoded audio is bit-identical (`ffmpeg -f md5`), and the first
   chunk offset points at the start of the new mdat's body,
4. `musicfs probe --json` reads back the same tags.

Also every M4A/MP4 file of tests/data/corpus that MusicFS parses, a header
that grows (megabytes of tags) and shrinks (no tags) again, and the
refusals: fragmented files (ENOTSUP), lying sizes and offsets into moov
(EBADMSG), a 32-bit chunk offset pushed past 4 GiB and a cover over the
cap (EFBIG).
"""

import json
import struct
from pathlib import Path

import pytest
import mutagen
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

import mfs_helpers as H
from synth_helpers import (synth_tool, _requirements, run, synth,  # noqa: F401 (fixture)
                           audio_md5, probe, check_probe)

CORPUS = H.REPO / "tests" / "data" / "corpus"
MP4_EXTS = (".m4a", ".m4b", ".mp4", ".m4v", ".m4r", ".3gp", ".mov")

LONG = "ü" + "x" * 10239       # a 10 KB value
COVER_WARNING = "stream 0, timescale not set"
ITUNES = "----:com.apple.iTunes:"




def ffprobe_warnings(path, cover=False):
    """ffprobe's warnings, less the one ffmpeg 5.1 prints for any cover."""
    res = run(["ffprobe", "-v", "warning", "-i", path])
    lines = (res.stdout + res.stderr).decode(errors="replace").splitlines()
    return "\n".join(l for l in lines
                     if not (cover and l.endswith(COVER_WARNING)))


# --------------------------------------------------------------------------
# An atom walker, independent of MusicFS

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta"}


def atoms(data, off=0, end=None):
    """[(offset, header length, size, type)] of the atoms in [off, end)."""
    end = len(data) if end is None else end
    out = []
    while off + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, off)
        hlen = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, off + 8)[0]
            hlen = 16
        elif size == 0:
            size = end - off
        assert hlen <= size <= end - off, f"atom {kind} at {off}: {size}"
        out.append((off, hlen, size, kind))
        off += size
    return out


def find(data, path):
    """All atoms at path (b"moov/trak/...")."""
    level = None
    for name in path.split(b"/"):
        spans = [(0, len(data))] if level is None else \
            [(off + hlen, off + size) for off, hlen, size, _ in level]
        level = [a for start, stop in spans
                 for a in atoms(data, start, stop) if a[3] == name]
    return level


def chunk_offsets(data):
    out = []
    for kind, fmt in ((b"stco", ">I"), (b"co64", ">Q")):
        for off, hlen, size, _ in find(data,
                                       b"moov/trak/mdia/minf/stbl/" + kind):
            count = struct.unpack_from(">I", data, off + hlen + 4)[0]
            width = struct.calcsize(fmt)
            out += [struct.unpack_from(fmt, data, off + hlen + 8 + i * width)
                    [0] for i in range(count)]
    return out


def check_layout(src, dst):
    """Top-level atoms in the same order; the first chunk offset at the
    start of mdat's body, as ffmpeg writes it; no free inside moov."""
    s, d = Path(src).read_bytes(), Path(dst).read_bytes()
    assert [a[3] for a in atoms(s)] == [a[3] for a in atoms(d)]
    mdat = find(d, b"mdat")[0]
    src_mdat = find(s, b"mdat")[0]
    offs, src_offs = chunk_offsets(d), chunk_offsets(s)
    assert len(offs) == len(src_offs)
    shift = (mdat[0] + mdat[1]) - (src_mdat[0] + src_mdat[1])
    assert offs == [o + shift for o in src_offs]
    moov = find(d, b"moov")[0]
    assert b"free" not in [a[3] for a in atoms(d, moov[0] + moov[1],
                                                moov[0] + moov[2])]
    assert len(find(d, b"moov/udta")) == 1


# --------------------------------------------------------------------------
# Files

def make_cover(path, color, size):
    res = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
               f"testsrc=s={size}:r={color}", "-frames:v", "1", path])
    assert res.returncode == 0, res.stderr
    return Path(path).read_bytes()


def to_64bit_mdat(src, dst):
    """moov last: ffmpeg's 8-byte free before mdat becomes the room for a
    64-bit mdat size (the audio stays where it is)."""
    data = bytearray(Path(src).read_bytes())
    top = atoms(data)
    i = [a[3] for a in top].index(b"mdat")
    free, mdat = top[i - 1], top[i]
    assert free[3] == b"free" and free[2] == 8
    data[free[0]:mdat[0] + 8] = struct.pack(">I4sQ", 1, b"mdat",
                                            mdat[2] + 8)
    Path(dst).write_bytes(bytes(data))


def to_size0_mdat(src, dst):
    """moov first, mdat last: mdat's size becomes 0 (to the end)."""
    data = bytearray(Path(src).read_bytes())
    mdat = atoms(data)[-1]
    assert mdat[3] == b"mdat" and mdat[1] == 8
    data[mdat[0]:mdat[0] + 4] = b"\0\0\0\0"
    Path(dst).write_bytes(bytes(data))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth_mp4")
    old_cover = make_cover(d / "old.jpg", "25", "320x240")
    new_cover = make_cover(d / "new.png", "30", "160x120")
    out = {"dir": d, "old_cover": old_cover, "new_cover": new_cover,
           "new_cover_path": d / "new.png"}
    tags = ["-metadata", "title=Old title", "-metadata", "artist=Old",
            "-metadata", "album=Old album", "-metadata", "track=1/2",
            "-metadata", "comment=old comment", "-metadata", "genre=Rock"]
    for name, flags in (("moov_last", []),
                        ("moov_first", ["-movflags", "+faststart"])):
        p = d / f"{name}.m4a"
        res = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                   "sine=frequency=440:duration=4", "-i", d / "old.jpg",
                   "-map", "0", "-map", "1", "-ac", "2", "-c:a", "aac",
                   "-c:v", "copy", "-disposition:v", "attached_pic"] +
                  tags + flags + [p])
        assert res.returncode == 0, res.stderr
        assert ffprobe_warnings(p, cover=True) == ""
        out[name] = p
    top = [a[3] for a in atoms(out["moov_first"].read_bytes())]
    assert top.index(b"moov") < top.index(b"mdat")
    top = [a[3] for a in atoms(out["moov_last"].read_bytes())]
    assert top.index(b"moov") > top.index(b"mdat")
    out["mdat64"] = d / "mdat64.m4a"
    to_64bit_mdat(out["moov_last"], out["mdat64"])
    out["mdat0"] = d / "mdat0.m4a"
    to_size0_mdat(out["moov_first"], out["mdat0"])
    for name in ("mdat64", "mdat0"):
        assert ffprobe_warnings(out[name], cover=True) == ""
        assert audio_md5(out[name]) == audio_md5(out["moov_last"])
        assert probe(out[name])["tags"]["title"] == "Old title"
    return out


LAYOUTS = ["moov_first", "moov_last", "mdat64", "mdat0"]

NEW_ARGS = [
    "title=東京事変", "artist=Motörhead; Lemmy", f"album={LONG}",
    "album_artist=Various Ärtists", "genre=Jazz", "composer=作曲者",
    "date=2023-04-14", "comment=", "track=3", "track_total=12",
    "disc=1", "disc_total=2", "compilation=1",
    "MUSICBRAINZ_TRACKID=0b6f3b4e-7f5e-4d5b-9b2b-1a2b3c4d5e6f",
    "REPLAYGAIN_TRACK_GAIN=-6.50 dB",
    "----:org.example:Mood=calm", "©too=MusicFS", "tmpo=120",
]

# what mutagen reads from the output (covr apart)
NEW_ITEMS = {
    "©nam": ["東京事変"], "©ART": ["Motörhead", "Lemmy"], "©alb": [LONG],
    "aART": ["Various Ärtists"], "©gen": ["Jazz"], "©wrt": ["作曲者"],
    "©day": ["2023-04-14"], "trkn": [(3, 12)], "disk": [(1, 2)],
    "cpil": True, "©too": ["MusicFS"], "tmpo": [120],
    ITUNES + "MUSICBRAINZ_TRACKID":
        [b"0b6f3b4e-7f5e-4d5b-9b2b-1a2b3c4d5e6f"],
    ITUNES + "REPLAYGAIN_TRACK_GAIN": [b"-6.50 dB"],
    "----:org.example:Mood": [b"calm"],
}

# what musicfs probe reads from the output
NEW_PROBE = {
    "title": "東京事変", "artist": "Motörhead; Lemmy", "album": LONG,
    "album_artist": "Various Ärtists", "genre": "Jazz",
    "composer": "作曲者", "date": "2023-04-14", "comment": None,
    "year": 2023, "track": 3, "track_total": 12, "disc": 1,
    "disc_total": 2, "compilation": True,
}
NEW_EXTRA = {
    ITUNES + "MUSICBRAINZ_TRACKID": "0b6f3b4e-7f5e-4d5b-9b2b-1a2b3c4d5e6f",
    ITUNES + "REPLAYGAIN_TRACK_GAIN": "-6.50 dB",
    "----:org.example:Mood": "calm", "©too": "MusicFS", "tmpo": "120",
}


def mutagen_view(path):
    """{key: values} and the cover (imageformat, bytes) or None."""
    f = MP4(path)
    items = {}
    for k, v in (f.tags or {}).items():
        if k.startswith("----:"):
            assert all(isinstance(x, MP4FreeForm) and
                       x.dataformat == 1 for x in v)
            v = [bytes(x) for x in v]
        items[k] = v
    pic = None
    covers = items.pop("covr", [])
    assert len(covers) <= 1
    if covers:
        assert isinstance(covers[0], MP4Cover)
        pic = (covers[0].imageformat, bytes(covers[0]))
    return items, pic


def check_output(src, dst, items, probe_tags, probe_extra, picture):
    got, got_pic = mutagen_view(dst)
    assert got == items
    assert got_pic == picture
    assert ffprobe_warnings(dst, cover=picture is not None) == ""
    assert audio_md5(dst) == audio_md5(src)
    check_layout(src, dst)
    doc = probe(dst)
    check_probe(doc, probe_tags, probe_extra,
                picture[1] if picture else None,
                {13: "image/jpeg", 14: "image/png"}[picture[0]]
                if picture else None)
    src_doc = probe(src)
    for k in ("duration", "sample_rate", "channels"):
        assert doc[k] == src_doc[k], k
    assert doc["audio_end"] - doc["audio_start"] == \
        src_doc["audio_end"] - src_doc["audio_start"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("pic", ["keep", "replace", "remove"])
def test_roundtrip(files, layout, pic):
    src = files[layout]
    dst = files["dir"] / f"out-{layout}-{pic}.m4a"
    args = list(NEW_ARGS)
    if pic == "keep":
        args.insert(0, "--keep-picture")
        picture = (MP4Cover.FORMAT_JPEG, files["old_cover"])
    elif pic == "replace":
        args[:0] = ["--picture", files["new_cover_path"], "image/png"]
        picture = (MP4Cover.FORMAT_PNG, files["new_cover"])
    else:
        picture = None
    synth(src, dst, args)
    check_output(src, dst, NEW_ITEMS, NEW_PROBE, NEW_EXTRA, picture)
    # the extra keys as probe reads them give the same file again
    again = files["dir"] / f"again-{layout}-{pic}.m4a"
    synth(dst, again, [ITUNES + a if str(a).startswith(
        ("MUSICBRAINZ", "REPLAYGAIN")) else a for a in args])
    assert again.read_bytes() == dst.read_bytes()


@pytest.mark.parametrize("layout", ["moov_first", "moov_last"])
def test_grow_and_shrink(files, layout):
    """Megabytes of tags (the audio moves up by them when moov is first),
    then none at all (moves down), then a second synthesis of that."""
    src = files[layout]
    d = files["dir"]
    title = "é" * 50000
    extra = {f"EXTRA{i:02d}": chr(ord("a") + i) * 100000 for i in range(12)}
    big = d / f"big-{layout}.m4a"
    synth(src, big, ["--picture", files["new_cover_path"], "image/png",
                     f"title={title}"] + [f"{k}={v}" for k, v in
                                          extra.items()])
    assert big.stat().st_size > src.stat().st_size + 1_200_000
    items = {ITUNES + k: [v.encode()] for k, v in extra.items()}
    items["©nam"] = [title]
    check_output(src, big, items, {"title": title},
                 {ITUNES + k: v for k, v in extra.items()},
                 (MP4Cover.FORMAT_PNG, files["new_cover"]))
    empty = d / f"empty-{layout}.m4a"
    synth(big, empty, [])
    assert empty.stat().st_size < src.stat().st_size
    check_output(src, empty, {}, {"title": None, "artist": None}, {}, None)
    again = d / f"again-{layout}.m4a"
    synth(empty, again, ["title=again", "--keep-picture"])
    check_output(src, again, {"©nam": ["again"]}, {"title": "again"},
                 {}, None)


def test_too_big_is_refused(files, tmp_path):
    """A cover over FORMATS_MAX_TAG_BYTES gives EFBIG, not a huge moov."""
    blob = tmp_path / "blob.png"
    blob.write_bytes(b"\x89PNG" + b"\0" * (17 << 20))
    res = synth(files["moov_first"], tmp_path / "x.m4a",
                ["--picture", blob, "image/png"], expect_ok=False)
    assert res.returncode == 1
    assert b"File too large" in res.stderr


def _patch(src, dst, fn):
    data = bytearray(Path(src).read_bytes())
    fn(data)
    Path(dst).write_bytes(bytes(data))


def test_32bit_offset_overflow(files, tmp_path):
    """moov first: a 32-bit chunk offset that the shift would push past
    4 GiB gives EFBIG (MusicFS does not turn stco into co64)."""
    src = tmp_path / "overflow.m4a"

    def lie(data):
        off, hlen, _, _ = find(data, b"moov/trak/mdia/minf/stbl/stco")[0]
        struct.pack_into(">I", data, off + hlen + 8, 0xFFFFFFF0)
    _patch(files["moov_first"], src, lie)
    res = synth(src, tmp_path / "x.m4a", ["title=" + "x" * 100000],
                expect_ok=False)
    assert res.returncode == 1
    assert b"File too large" in res.stderr
    # moov last: the offsets do not move, nothing to overflow
    src2 = tmp_path / "overflow-last.m4a"
    _patch(files["moov_last"], src2, lie)
    synth(src2, tmp_path / "y.m4a", ["title=" + "x" * 100000])


def test_inconsistent_files_are_refused(files, tmp_path):
    def offset_in_moov(data):
        off, hlen, _, _ = find(data, b"moov/trak/mdia/minf/stbl/stco")[0]
        struct.pack_into(">I", data, off + hlen + 8, 40)

    def moov_too_long(data):
        moov = find(data, b"moov")[0]
        struct.pack_into(">I", data, moov[0], len(data) * 2)

    def child_too_long(data):
        moov = find(data, b"moov")[0]
        trak = find(data, b"moov/trak")[0]
        struct.pack_into(">I", data, trak[0], moov[2])

    for name, fn in (("in-moov", offset_in_moov),
                     ("moov-long", moov_too_long),
                     ("child-long", child_too_long)):
        src = tmp_path / f"{name}.m4a"
        _patch(files["moov_first"], src, fn)
        res = synth(src, tmp_path / "x.m4a", ["title=x"], expect_ok=False)
        err = res.stderr.decode(errors="replace")
        assert res.returncode == 1, name
        assert "Bad message" in err, (name, err)
    trunc = tmp_path / "trunc.m4a"
    trunc.write_bytes(files["moov_last"].read_bytes()[:-100])
    res = synth(trunc, tmp_path / "x.m4a", ["title=x"], expect_ok=False)
    assert res.returncode == 1 and b"Bad message" in res.stderr


def test_fragmented_is_not_supported(files, tmp_path):
    src = tmp_path / "frag.mp4"
    res = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
               "sine=frequency=440:duration=4", "-c:a", "aac", "-movflags",
               "frag_keyframe+empty_moov", "-frag_duration", "500000", src])
    assert res.returncode == 0, res.stderr
    assert b"moof" in src.read_bytes()
    res = synth(src, tmp_path / "x.mp4", ["title=x"], expect_ok=False)
    assert res.returncode == 1
    err = res.stderr.decode(errors="replace")
    assert "not supported" in err, err


def test_no_udta_and_a_terminator(files, tmp_path):
    """moov last, with no udta and 4 zero bytes at its end: the new udta
    is added, the terminator dropped (else it would hide the udta)."""
    def strip(data):
        moov = find(data, b"moov")[0]
        udta = find(data, b"moov/udta")[0]
        assert moov[0] + moov[2] == len(data)
        data[udta[0]:udta[0] + udta[2]] = b"\0\0\0\0"
        struct.pack_into(">I", data, moov[0], len(data) - moov[0])
    src = tmp_path / "bare.m4a"
    _patch(files["moov_last"], src, strip)
    assert probe(src)["tags"]["title"] is None
    dst = tmp_path / "out.m4a"
    synth(src, dst, ["title=New", "track=2"])
    got, pic = mutagen_view(dst)
    assert got == {"©nam": ["New"], "trkn": [(2, 0)]} and pic is None
    assert ffprobe_warnings(dst) == ""
    assert audio_md5(dst) == audio_md5(src)
    assert probe(dst)["tags"]["track"] == 2


def ffprobe_tags(path):
    res = run(["ffprobe", "-v", "warning", "-of", "json", "-show_entries",
               "format_tags", path])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["format"].get("tags", {})


def test_quicktime_text_atoms_replaced(tmp_path):
    """A QuickTime file (ffmpeg's .mov) keeps its tags as udta/\xa9nam...
    text atoms: they go, so that readers such as ffmpeg see only the new
    ilst."""
    src = tmp_path / "in.mov"
    res = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
               "sine=frequency=440:duration=2", "-c:a", "aac", "-metadata",
               "title=Old", "-metadata", "artist=Old artist", src])
    assert res.returncode == 0, res.stderr
    assert ffprobe_tags(src)["artist"] == "Old artist"
    dst = tmp_path / "out.mov"
    synth(src, dst, ["title=New", "album=Neu"])
    tags = ffprobe_tags(dst)
    assert tags["title"] == "New" and tags["album"] == "Neu"
    assert "artist" not in tags
    assert ffprobe_warnings(dst) == ""
    assert audio_md5(dst) == audio_md5(src)
    got, pic = mutagen_view(dst)
    assert got == {"©nam": ["New"], "©alb": ["Neu"]} and pic is None
    assert probe(dst)["tags"]["title"] == "New"


def _corpus_mp4():
    return sorted(p for p in CORPUS.rglob("*")
                  if p.suffix.lower() in MP4_EXTS)


@pytest.mark.parametrize("path", _corpus_mp4(), ids=lambda p: p.name)
def test_corpus(path, tmp_path):
    """Every MP4 file of the corpus: no crash; where MusicFS parses it and
    it is whole, the checks of the round trip hold as far as the input
    itself is valid."""
    probe(path, ok_codes=(0, 1))  # no crash, no sanitizer report
    dst = tmp_path / ("out" + path.suffix)
    res = synth(path, dst, ["title=Corpus title", "artist=A; B",
                            "--keep-picture"], expect_ok=False)
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (0, 1), err
    assert "Sanitizer" not in err and "runtime error" not in err
    if res.returncode:
        # not parsed, or damaged (truncated, no mdat, lying sizes)
        assert "Bad message" in err or "not supported" in err, err
        return
    got, _ = mutagen_view(dst)
    assert got["©nam"] == ["Corpus title"]
    assert got["©ART"] == ["A", "B"]
    assert probe(dst)["tags"]["title"] == "Corpus title"
    decoded = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a",
                   "-f", "md5", "-"])
    if decoded.returncode == 0:
        assert audio_md5(dst) == decoded.stdout
    cover = probe(path)["picture"] is not None
    if ffprobe_warnings(path, cover) == "":
        assert ffprobe_warnings(dst, cover) == ""
        check_layout(path, dst)
