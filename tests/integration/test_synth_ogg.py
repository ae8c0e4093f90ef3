"""Header synthesis of Ogg Vorbis and Ogg Opus files (issue 3).

tests/tools/synth_tool parses a file, synthesizes one carrying exactly the
tags given and writes the segments out, applying the Ogg page renumbering
a reader of the virtual file sees.  For files generated with ffmpeg (tags)
and mutagen (an embedded cover, METADATA_BLOCK_PICTURE), every field is set
to new values and the picture kept, replaced or removed; then

1. mutagen (an independent reader) reads exactly the new comments and
   picture bytes,
2. `ffprobe -v warning` prints nothing,
3. the decoded audio is bit-identical (`ffmpeg -f md5`),
4. `musicfs probe --json` reads back the same tags,
5. every page of the output is a valid Ogg page: CRC right, sequence
   numbers consecutive, header pages with granule 0 (or -1 where a packet
   continues), checked by the page walker here.

Also every Ogg file of tests/data/corpus that MusicFS parses, and a header
that grows (megabytes of tags) and shrinks (no tags) again.
"""

import base64
import struct
from pathlib import Path

import pytest
import mutagen
from mutagen.flac import Picture

import mfs_helpers as H
from synth_helpers import (synth_tool, _requirements, run, synth,  # noqa: F401 (fixture)
                           audio_md5, probe, check_probe)

CORPUS = H.REPO / "tests" / "data" / "corpus"
OGG_EXTS = (".ogg", ".oga", ".opus", ".spx", ".oggtheora")

LONG = "ü" + "x" * 10239       # a 10 KB value




def ffprobe_warnings(path):
    res = run(["ffprobe", "-v", "warning", "-i", path])
    return (res.stdout + res.stderr).decode(errors="replace")


# --------------------------------------------------------------------------
# An Ogg page walker, independent of MusicFS

def _crc_table():
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


CRC_TABLE = _crc_table()


def ogg_crc(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC_TABLE[((crc >> 24) ^ b) & 0xFF]
    return crc


def pages(data):
    """[(flags, granule, serial, seq, lacing, crc_ok)] of whole pages."""
    out = []
    pos = 0
    while pos + 27 <= len(data):
        assert data[pos:pos + 4] == b"OggS", f"no page at {pos}"
        flags, granule, serial, seq, crc, nseg = struct.unpack_from(
            "<BqIIIB", data, pos + 5)
        lacing = data[pos + 27:pos + 27 + nseg]
        end = pos + 27 + nseg + sum(lacing)
        if end > len(data):
            break
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        out.append((flags, granule, serial, seq, bytes(lacing),
                    ogg_crc(page) == crc))
        pos = end
    return out


def check_pages(path, header_packets):
    """Every page intact, numbered 0.. in order, header pages flagged as
    the Ogg spec says; the audio starts on a new page."""
    pgs = pages(Path(path).read_bytes())
    assert pgs
    packets = 0
    prev_continues = False
    for i, (flags, granule, serial, seq, lacing, crc_ok) in enumerate(pgs):
        assert crc_ok, f"page {i}: bad CRC"
        assert seq == i, f"page {i}: sequence number {seq}"
        assert serial == pgs[0][2]
        assert bool(flags & 2) == (i == 0)
        if packets < header_packets:
            assert bool(flags & 1) == (i > 0 and prev_continues)
            ends = sum(1 for v in lacing if v < 255)
            assert granule == (0 if ends else -1), f"page {i}: {granule}"
            packets += ends
            assert packets <= header_packets, "audio on a header page"
        prev_continues = lacing[-1] == 255 if lacing else False


# --------------------------------------------------------------------------
# Files

def make_cover(path, color):
    res = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
               f"testsrc=s=320x240:r={color}", "-frames:v", "1", path])
    assert res.returncode == 0, res.stderr
    return Path(path).read_bytes()


def embed_cover(path, image, mime):
    f = mutagen.File(path)
    pic = Picture()
    pic.type = 3
    pic.mime = mime
    pic.desc = "old cover"
    pic.data = image
    f["METADATA_BLOCK_PICTURE"] = [
        base64.b64encode(pic.write()).decode("ascii")]
    f.save()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth_ogg")
    old_cover = make_cover(d / "old.jpg", "25")
    new_cover = make_cover(d / "new.png", "30")
    out = {"dir": d, "old_cover": old_cover, "new_cover": new_cover,
           "new_cover_path": d / "new.png"}
    tags = ["-metadata", "title=Old title", "-metadata", "artist=Old",
            "-metadata", "album=Old album", "-metadata", "track=1/2",
            "-metadata", "comment=old comment", "-metadata", "genre=Rock"]
    for name, codec, ext in (("vorbis", "libvorbis", "ogg"),
                             ("opus", "libopus", "opus")):
        p = d / f"in.{ext}"
        res = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                   "sine=frequency=440:duration=4", "-ac", "2", "-c:a",
                   codec] + tags + [p])
        assert res.returncode == 0, res.stderr
        embed_cover(p, old_cover, "image/jpeg")
        assert ffprobe_warnings(p) == ""
        out[name] = p
    return out


NEW_ARGS = [
    "title=東京事変", "artist=Motörhead; Lemmy", f"album={LONG}",
    "album_artist=Various Ärtists", "genre=Jazz", "composer=作曲者",
    "date=2023-04-14", "comment=", "track=3", "track_total=12",
    "disc=1", "disc_total=2", "compilation=1",
    "MUSICBRAINZ_TRACKID=0b6f3b4e-7f5e-4d5b-9b2b-1a2b3c4d5e6f",
    "REPLAYGAIN_TRACK_GAIN=-6.50 dB",
]

# what mutagen reads from the output (lower-case keys, lists of values)
NEW_COMMENTS = {
    "title": ["東京事変"], "artist": ["Motörhead", "Lemmy"],
    "album": [LONG], "albumartist": ["Various Ärtists"], "genre": ["Jazz"],
    "composer": ["作曲者"], "date": ["2023-04-14"], "tracknumber": ["3"],
    "tracktotal": ["12"], "discnumber": ["1"], "disctotal": ["2"],
    "compilation": ["1"],
    "musicbrainz_trackid": ["0b6f3b4e-7f5e-4d5b-9b2b-1a2b3c4d5e6f"],
    "replaygain_track_gain": ["-6.50 dB"],
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
    "MUSICBRAINZ_TRACKID": "0b6f3b4e-7f5e-4d5b-9b2b-1a2b3c4d5e6f",
    "REPLAYGAIN_TRACK_GAIN": "-6.50 dB",
}


def mutagen_view(path):
    """{lower-case key: [values]} and the picture (mime, bytes) or None."""
    f = mutagen.File(path)
    assert f is not None and f.tags is not None
    comments = {}
    for k, v in f.tags:
        comments.setdefault(k.lower(), []).append(v)
    pic = None
    blocks = comments.pop("metadata_block_picture", [])
    assert len(blocks) <= 1
    if blocks:
        p = Picture(base64.b64decode(blocks[0]))
        pic = (p.type, p.mime, p.data)
    return comments, pic


def check_output(src, dst, header_packets, comments, probe_tags,
                 probe_extra, picture):
    got, got_pic = mutagen_view(dst)
    assert got == comments
    assert got_pic == picture
    assert ffprobe_warnings(dst) == ""
    assert audio_md5(dst) == audio_md5(src)
    check_pages(dst, header_packets)
    doc = probe(dst)
    check_probe(doc, probe_tags, probe_extra,
                picture[2] if picture else None,
                picture[1] if picture else None)
    src_doc = probe(src)
    assert doc["duration"] == src_doc["duration"]
    assert doc["sample_rate"] == src_doc["sample_rate"]
    assert doc["channels"] == src_doc["channels"]


@pytest.mark.parametrize("kind", ["vorbis", "opus"])
@pytest.mark.parametrize("pic", ["keep", "replace", "remove"])
def test_roundtrip(files, kind, pic):
    src = files[kind]
    dst = files["dir"] / f"out-{pic}-{kind}{src.suffix}"
    args = list(NEW_ARGS)
    if pic == "keep":
        args.insert(0, "--keep-picture")
        picture = (3, "image/jpeg", files["old_cover"])
    elif pic == "replace":
        args[:0] = ["--picture", files["new_cover_path"], "image/png"]
        picture = (3, "image/png", files["new_cover"])
    else:
        picture = None
    synth(src, dst, args)
    check_output(src, dst, 3 if kind == "vorbis" else 2, NEW_COMMENTS,
                 NEW_PROBE, NEW_EXTRA, picture)


@pytest.mark.parametrize("kind", ["vorbis", "opus"])
def test_grow_and_shrink(files, kind):
    """Megabytes of tags (many header pages, later pages renumbered up),
    then none at all (renumbered down), then a second synthesis of that."""
    src = files[kind]
    d = files["dir"]
    n = 3 if kind == "vorbis" else 2
    # an argument is at most 128 KiB, all of them 2 MiB: 1.3 MB of tags
    title = "é" * 50000
    extra = {f"EXTRA{i:02d}": chr(ord("a") + i) * 100000 for i in range(12)}
    big = d / f"big{src.suffix}"
    synth(src, big, ["--picture", files["new_cover_path"], "image/png",
                     f"title={title}"] + [f"{k}={v}" for k, v in
                                          extra.items()])
    assert len(pages(big.read_bytes())) > len(pages(src.read_bytes())) + 15
    comments = {k.lower(): [v] for k, v in extra.items()}
    comments["title"] = [title]
    check_output(src, big, n, comments, {"title": title}, extra,
                 (3, "image/png", files["new_cover"]))
    empty = d / f"empty{src.suffix}"
    synth(big, empty, [])
    check_output(src, empty, n, {}, {"title": None, "artist": None},
                 {}, None)
    again = d / f"again{src.suffix}"
    synth(empty, again, ["title=again", "--keep-picture"])
    check_output(src, again, n, {"title": ["again"]}, {"title": "again"},
                 {}, None)


def test_too_big_is_refused(files, tmp_path):
    """Tags over FORMATS_MAX_TAG_BYTES give an error, not a huge header."""
    blob = tmp_path / "blob.png"
    blob.write_bytes(b"\x89PNG" + b"\0" * (17 << 20))
    res = synth(files["vorbis"], tmp_path / "x.ogg",
                ["--picture", blob, "image/png"], expect_ok=False)
    assert res.returncode == 1
    assert b"too large" in res.stderr or b"File too large" in res.stderr


def _corpus_ogg():
    return sorted(p for p in CORPUS.rglob("*")
                  if p.suffix.lower() in OGG_EXTS)


@pytest.mark.parametrize("path", _corpus_ogg(), ids=lambda p: p.name)
def test_corpus(path, tmp_path):
    """Every Ogg file of the corpus: no crash; where MusicFS parses it and
    synthesis applies (one logical stream), the checks of the round trip
    hold as far as the input itself is valid."""
    probe(path, ok_codes=(0, 1))  # no crash, no sanitizer report
    dst = tmp_path / ("out" + path.suffix)
    res = synth(path, dst, ["title=Corpus title", "artist=A; B",
                            "--keep-picture"], expect_ok=False)
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (0, 1), err
    assert "Sanitizer" not in err and "runtime error" not in err
    if res.returncode:
        # not parsed (Speex, FLAC in Ogg, damaged) or not one stream
        assert ("Bad message" in err or "not supported" in err), err
        if "not supported" in err:
            assert len({s for _, _, s, _, _, _ in
                        pages(path.read_bytes())}) > 1, \
                "ENOTSUP for a file of one logical stream"
        return
    got, _ = mutagen_view(dst)
    assert got == {"title": ["Corpus title"], "artist": ["A", "B"]}
    assert probe(dst)["tags"]["title"] == "Corpus title"
    decoded = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a",
                   "-f", "md5", "-"])
    if decoded.returncode == 0:
        assert audio_md5(dst) == decoded.stdout
    if ffprobe_warnings(path) == "":
        assert ffprobe_warnings(dst) == ""
        check_pages(dst, 3 if probe(path)["format"] == "ogg" else 2)


@pytest.mark.parametrize("damage", ["id3v2-prefix", "trailing-junk",
                                    "truncated"])
def test_odd_layouts(files, tmp_path, damage):
    """An ID3v2 tag before the stream (dropped: its tags are old), bytes
    after the last page and a cut last page (copied as they are, outside
    the renumbered range), with a header that grows by a page."""
    data = files["vorbis"].read_bytes()
    if damage == "id3v2-prefix":
        body = b"TIT2" + struct.pack(">I", 6) + b"\0\0\x03hello"
        data = b"ID3\x04\0\0" + bytes([0, 0, 0, len(body)]) + body + data
    elif damage == "trailing-junk":
        data += b"TAG" + b"x" * 125
    else:
        data = data[:-100]
    src = tmp_path / "in.ogg"
    src.write_bytes(data)
    dst = tmp_path / "out.ogg"
    title = "z" * 70000
    synth(src, dst, [f"title={title}"])
    out = dst.read_bytes()
    assert out[:4] == b"OggS"
    assert ffprobe_warnings(dst) == ""
    assert audio_md5(dst) == audio_md5(src)
    assert probe(dst)["tags"]["title"] == title
    if damage == "trailing-junk":
        assert out.endswith(b"TAG" + b"x" * 125)
        out = out[:-128]
    else:
        assert mutagen_view(dst)[0] == {"title": [title]}
    if damage == "truncated":
        assert out.endswith(data[-1000:])
    (tmp_path / "pages.ogg").write_bytes(out)
    check_pages(tmp_path / "pages.ogg", 3)
