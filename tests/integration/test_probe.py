"""`musicfs probe`, and the format layer checked against mutagen.

The differential test (issue 3): MusicFS's reading of a file, as `musicfs
probe --json` prints it, is compared value for value with what mutagen
(Debian's python3-mutagen, an independent reader) reads from the same file,
for

- files generated here with ffmpeg in every format MusicFS reads (FLAC, MP3
  with ID3v2.3 and ID3v2.4, Ogg Vorbis, Opus, WAV, M4A, AAC/ADTS) with
  known, partly non-ASCII tags and an embedded cover wherever the format
  can hold one, and
- every file of tests/data/corpus that mutagen opens as a format MusicFS
  reads.

mutagen gives raw tags (frames, atoms, comments); reference_view() maps
them to MusicFS's named fields with the common conventions, written down
there.  The differences that are known and justified are in ALLOWED, each
with its reason; any other difference fails the test, and so does an
ALLOWED entry that no longer matches a difference (the list stays true).

Durations are compared within DURATION_TOLERANCE (see there); pictures by
their bytes: the range offset/length of the file (a picture stored as-is)
or the CRC-32 and length of a decoded one, against mutagen's picture data.
"""

import base64
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import mfs_helpers as H

CORPUS = H.REPO / "tests" / "data" / "corpus"


@pytest.fixture(autouse=True)
def _requirements():
    """Overrides conftest's: probe runs without FUSE."""
    if not H.musicfs_bin().is_file():
        pytest.fail(f"no musicfs binary at {H.musicfs_bin()}: build it or "
                    f"set MUSICFS_BIN")


# --------------------------------------------------------------------------
# Running probe

def probe(run_musicfs, paths, expect_rc=0, **kw):
    """`musicfs probe --json PATHS`: the parsed array, checked for its
    shape.  expect_rc: the exit code it must end with."""
    res = run_musicfs(["probe", "--json"] + [str(p) for p in paths], **kw)
    assert res.returncode == expect_rc, res.stderr
    doc = json.loads(res.stdout)
    assert isinstance(doc, list) and len(doc) == len(paths)
    for obj, p in zip(doc, paths):
        assert obj["file"] == str(p)
        if "error" in obj:
            assert set(obj) == {"file", "error"} and obj["error"], obj
            continue
        assert set(obj) == FILE_KEYS, sorted(obj)
        assert set(obj["tags"]) == TAG_KEYS, sorted(obj["tags"])
        assert 0 <= obj["audio_start"] <= obj["audio_end"] <= obj["size"]
        pic = obj["picture"]
        if pic and pic["stored"] == "raw":
            assert pic["offset"] + pic["length"] <= obj["size"], obj
    return doc, res


FILE_KEYS = {"file", "format", "size", "tags", "extra", "duration",
             "sample_rate", "channels", "bitrate", "picture", "audio_start",
             "audio_end"}
TAG_KEYS = {"title", "artist", "album", "album_artist", "genre", "composer",
            "date", "comment", "year", "track", "track_total", "disc",
            "disc_total", "compilation"}
PICTURE_KEYS = {"type", "type_name", "mime", "stored", "offset", "length",
                "crc32"}


# --------------------------------------------------------------------------
# The reference: mutagen's reading, mapped to MusicFS's fields

TEXT_FIELDS = ("title", "artist", "album", "album_artist", "genre",
               "composer", "date", "comment")
NUM_FIELDS = ("track", "track_total", "disc", "disc_total")

# Vorbis comment names of each field, as the Vorbis comment conventions and
# the taggers that write them (picard, foobar2000, ffmpeg) spell them.
VORBIS_KEYS = {
    "title": ("TITLE",), "artist": ("ARTIST",), "album": ("ALBUM",),
    "album_artist": ("ALBUMARTIST", "ALBUM ARTIST", "ALBUM_ARTIST"),
    "genre": ("GENRE",), "composer": ("COMPOSER",),
    "date": ("DATE", "YEAR"), "comment": ("COMMENT", "DESCRIPTION"),
    "track": ("TRACKNUMBER", "TRACK"), "track_total": ("TRACKTOTAL",
                                                       "TOTALTRACKS"),
    "disc": ("DISCNUMBER", "DISC"), "disc_total": ("DISCTOTAL",
                                                   "TOTALDISCS"),
    "compilation": ("COMPILATION",),
}

ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB",
              "album_artist": "TPE2", "composer": "TCOM"}

MP4_ATOMS = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb",
             "album_artist": "aART", "genre": "\xa9gen",
             "composer": "\xa9wrt", "comment": "\xa9cmt"}

JOIN = "; "     # formats.h: several values of one field are joined so


def _num_pair(s):
    """(n, total) of "3", " 3/12", "03 of 12": the leading number and a
    number after '/'; (None, None) if there is no leading number."""
    s = s.strip(" \t")
    digits = len(s) - len(s.lstrip("0123456789"))
    if not digits:
        return None, None
    n = int(s[:digits])
    rest = s[digits:].strip(" \t")
    total = None
    if rest.startswith("/"):
        t = rest[1:].strip(" \t")
        d = len(t) - len(t.lstrip("0123456789"))
        total = int(t[:d]) if d else None
    return n, total


def _truthy(s):
    """A compilation flag: a number other than 0, "true" or "yes"."""
    s = s.lstrip(" ")
    return (s != "" and s[0] in "123456789") or s.lower() in ("true", "yes")


def _empty_view():
    v = {k: None for k in TEXT_FIELDS + NUM_FIELDS}
    v["compilation"] = False
    v["picture"] = None
    return v


def _set_numbers(v, field, total_field, value):
    n, total = _num_pair(value)
    if n is None:
        return
    if v[field] is None and n:
        v[field] = n
    if total and v[total_field] is None:
        v[total_field] = total


def _vorbis_view(v, tags):
    """Vorbis comments (FLAC, Ogg): values of one field in file order,
    joined; DATE and the numbers keep their first value."""
    if tags is None:
        return
    by_field = {}
    for key, value in tags:
        for field, names in VORBIS_KEYS.items():
            if key.upper() in names and value != "":
                by_field.setdefault(field, []).append(value)
    for field, values in by_field.items():
        if field in ("track", "disc"):
            for value in values:
                _set_numbers(v, field, field + "_total", value)
        elif field in ("track_total", "disc_total"):
            n, _ = _num_pair(values[0])
            v[field] = v[field] or n or None
        elif field == "compilation":
            v[field] = any(_truthy(x) for x in values)
        elif field == "date":
            v[field] = values[0]
        else:
            v[field] = JOIN.join(values)


def _front_first(pictures):
    """The picture MusicFS shows: the first front cover, else the first."""
    for p in pictures:
        if p.type == 3:
            return p
    return pictures[0] if pictures else None


def _ogg_pictures(tags):
    from mutagen.flac import Picture
    out = []
    for key, value in tags or []:
        if key.upper() == "METADATA_BLOCK_PICTURE":
            try:
                out.append(Picture(base64.b64decode(value)))
            except Exception:
                pass
    return out


def _id3_view(v, tags):
    """ID3v2 frames (mutagen merges ID3v1 in, ID3v2 first, and turns
    TYER+TDAT into TDRC).  A TXXX frame whose description names a field
    (TXXX:comment, as ffmpeg writes it) fills that field when no standard
    frame did, as ffmpeg and foobar2000 read them."""
    if tags is None:
        return
    for field, fid in ID3_FRAMES.items():
        texts = [t for fr in tags.getall(fid) for t in fr.text if t != ""]
        v[field] = JOIN.join(texts) if texts else None
    genres = [g for fr in tags.getall("TCON") for g in fr.genres if g]
    v["genre"] = JOIN.join(genres) if genres else None
    dates = [str(t) for fr in tags.getall("TDRC") for t in fr.text]
    v["date"] = dates[0] if dates else None
    comments = [t for fr in tags.getall("COMM") if fr.desc == ""
                for t in fr.text if t != ""]
    v["comment"] = JOIN.join(comments) if comments else None
    for fid, field in (("TRCK", "track"), ("TPOS", "disc")):
        for fr in tags.getall(fid):
            for t in fr.text:
                _set_numbers(v, field, field + "_total", t)
    v["compilation"] = any(_truthy(t) for fr in tags.getall("TCMP")
                           for t in fr.text)
    for fr in tags.getall("TXXX"):
        for field, names in VORBIS_KEYS.items():
            if fr.desc.upper() in names and not v.get(field):
                text = [t for t in fr.text if t != ""]
                if field in TEXT_FIELDS and text:
                    v[field] = text[0] if field == "date" else JOIN.join(text)
                elif field in ("track", "disc") and text:
                    _set_numbers(v, field, field + "_total", text[0])
                elif field == "compilation":
                    v[field] = any(_truthy(t) for t in text)
    v["picture"] = _front_first(tags.getall("APIC"))


def _mp4_view(v, tags):
    """iTunes atoms: trkn/disk are (number, total) pairs; covr images are
    front covers; mutagen turns a numeric gnre into a ©gen name."""
    if tags is None:
        return
    for field, atom in MP4_ATOMS.items():
        values = [str(x) for x in tags.get(atom, []) if str(x) != ""]
        v[field] = JOIN.join(values) if values else None
    days = [str(x) for x in tags.get("\xa9day", [])]
    v["date"] = days[0] if days else None
    for atom, field in (("trkn", "track"), ("disk", "disc")):
        pairs = tags.get(atom) or []
        if pairs:
            n, total = pairs[0]
            v[field] = n or None
            v[field + "_total"] = total or None
    v["compilation"] = bool(tags.get("cpil"))
    covers = tags.get("covr") or []
    v["picture"] = covers[0] if covers else None


def _picture_bytes(pic):
    if pic is None:
        return None
    return bytes(pic.data) if hasattr(pic, "data") else bytes(pic)


APE_KEYS = {"title": "TITLE", "artist": "ARTIST", "album": "ALBUM",
            "album_artist": "ALBUM ARTIST", "genre": "GENRE",
            "composer": "COMPOSER", "date": "YEAR", "comment": "COMMENT",
            "track": "TRACK", "disc": "DISC"}


def _ape_view(v, path):
    """An APEv2 tag (MP3, AAC) fills the fields the ID3 tags left empty."""
    from mutagen.apev2 import APEv2, APENoHeaderError
    try:
        ape = APEv2(path)
    except APENoHeaderError:
        return
    for field, key in APE_KEYS.items():
        if v[field] is not None or key not in ape:
            continue
        values = [x for x in ape[key] if x != ""]
        if field in ("track", "disc"):
            if values:
                _set_numbers(v, field, field + "_total", values[0])
        elif values:
            v[field] = values[0] if field == "date" else JOIN.join(values)


# mutagen classes of the formats MusicFS reads (formats.h), and "ID3": a
# file mutagen.File gives up on (no MPEG audio it can sync to) whose ID3v2
# tag mutagen.id3 still reads: its tags are compared, not its audio.  Files
# mutagen opens as anything else (AIFF, Speex, Theora, FLAC in Ogg) are
# outside MusicFS's formats and are not compared.
MUTAGEN_KINDS = {"FLAC": "flac", "MP3": "mp3", "OggVorbis": "ogg",
                 "OggOpus": "opus", "WAVE": "wav", "MP4": "m4a",
                 "AAC": "aac", "ID3": None}


def open_mutagen(path):
    """(kind, object) of path as mutagen opens it, or (None, None).  A .aac
    file with an ID3v2 tag is opened as AAC (mutagen.File takes it for an
    MP3 and fails to sync)."""
    import mutagen
    from mutagen.aac import AAC
    from mutagen.id3 import ID3
    for opener in (mutagen.File, AAC, ID3):
        if opener is AAC and not str(path).lower().endswith(".aac"):
            continue
        try:
            f = opener(path)
        except Exception:
            continue
        if f is not None:
            return type(f).__name__, f
    return None, None


def reference_view(path, kind, f):
    """MusicFS's fields as mutagen reads them ((kind, f) = open_mutagen)."""
    from mutagen.id3 import ID3, ID3NoHeaderError
    v = _empty_view()
    if kind == "ID3":
        _id3_view(v, f)
        _ape_view(v, path)
        v["picture"] = _picture_bytes(v["picture"])
        return v
    info = f.info
    v["duration"] = info.length or None
    v["sample_rate"] = getattr(info, "sample_rate", None) or None
    if kind == "OggOpus":
        v["sample_rate"] = 48000        # Opus always decodes at 48 kHz
    v["channels"] = getattr(info, "channels", None) or None
    if kind in ("FLAC", "OggVorbis", "OggOpus"):
        _vorbis_view(v, f.tags)
        pics = list(getattr(f, "pictures", []))
        v["picture"] = _front_first(pics + _ogg_pictures(f.tags))
    elif kind == "WAVE":
        _id3_view(v, f.tags)
    elif kind in ("MP3", "AAC"):
        try:
            _id3_view(v, f.tags if kind == "MP3" else ID3(path))
        except ID3NoHeaderError:
            pass
        _ape_view(v, path)
    elif kind == "MP4":
        _mp4_view(v, f.tags)
    v["picture"] = _picture_bytes(v["picture"])
    return v


# --------------------------------------------------------------------------
# Comparison

# Durations, (seconds, fraction of the duration): whichever is larger.
# FLAC (STREAMINFO), WAV (data size), Ogg (last granule position) and MP4
# (mdhd) give exact sample counts, so both readers agree to 1 ms.  MP3:
# MusicFS subtracts the encoder delay and padding of a LAME/Info tag written
# by LAME or by ffmpeg (Lavc/Lavf), mutagen 1.46 only LAME's, and without
# a Xing/Info frame count both estimate from the bit rate and the bytes
# they take for audio: up to two MPEG frames (52 ms at 44.1 kHz) apart.
# AAC/ADTS: both estimate from the frames they see; 2 %.
DURATION_TOLERANCE = {
    "flac": (0.001, 0.0), "wav": (0.001, 0.0), "ogg": (0.001, 0.0),
    "opus": (0.001, 0.0), "m4a": (0.001, 0.0),
    "mp3": (0.06, 0.0), "aac": (0.05, 0.02),
}


def _duration_ok(fmt, got, want):
    if not got or not want:
        return got == want
    absolute, relative = DURATION_TOLERANCE[fmt]
    return abs(got - want) <= max(absolute, relative * want)


def _probe_picture(obj, data):
    """The picture as MusicFS reads it: the bytes for a raw one, else
    (length, crc32); None if none."""
    pic = obj["picture"]
    if pic is None:
        return None
    assert set(pic) == PICTURE_KEYS, sorted(pic)
    if pic["stored"] == "raw":
        raw = data[pic["offset"]:pic["offset"] + pic["length"]]
        assert len(raw) == pic["length"], "picture range past the file"
        assert zlib.crc32(raw) == pic["crc32"]
        return raw
    assert pic["stored"] == "decoded" and pic["offset"] is None
    return (pic["length"], pic["crc32"])


def differences(obj, ref, data):
    """[(field, MusicFS's value, mutagen's value)] of one file."""
    out = []
    tags = obj["tags"]
    for field in TEXT_FIELDS + NUM_FIELDS + ("compilation",):
        if tags[field] != ref[field]:
            out.append((field, tags[field], ref[field]))
    if "duration" in ref and not _duration_ok(obj["format"], obj["duration"],
                                              ref["duration"]):
        out.append(("duration", obj["duration"], ref["duration"]))
    for field in ("sample_rate", "channels"):
        if field in ref and obj[field] != ref[field]:
            out.append((field, obj[field], ref[field]))
    got = _probe_picture(obj, data)
    want = ref["picture"]
    if isinstance(got, tuple) and want is not None:
        want = (len(want), zlib.crc32(want))
    if got != want:
        out.append(("picture", _short(got), _short(want)))
    return out


def _short(pic):
    if isinstance(pic, bytes):
        return f"{len(pic)} bytes, crc32 {zlib.crc32(pic):08x}"
    if isinstance(pic, tuple):
        return f"{pic[0]} bytes, crc32 {pic[1]:08x}"
    return pic


# --------------------------------------------------------------------------
# Generated files

TAGS = {
    "title": "Zwölf Boxkämpfer — 東京事変",
    "artist": "AC/DC & Motörhead",      # a '/' that is no separator
    "album": "Ænima ✓ 教育",
    "album_artist": "Various Ärtists",
    "track": "3/12",
    "disc": "1/2",
    "date": "2004-11-25",
    "genre": "Röck",
    "composer": "Björk Guðmundsdóttir",
    "comment": "Ça va? コメント",
    "compilation": "1",
}

# name -> (ffmpeg output options, cover: "big" (a PNG larger than the
# 64 KiB header window), "small" (a JPEG), None; how it is embedded)
GENERATED = {
    "gen.flac": (["-ar", "48000"], "big"),
    "gen_v24.mp3": (["-ac", "2", "-id3v2_version", "4"], "big"),
    "gen_v23.mp3": (["-id3v2_version", "3"], "small"),
    "gen.ogg": (["-c:a", "libvorbis", "-ac", "2"], "small"),
    "gen.opus": (["-c:a", "libopus"], "small"),
    "gen.wav": (["-ar", "22050", "-ac", "2"], None),
    "gen_id3.wav": ([], "small"),
    "gen.m4a": (["-c:a", "aac", "-ac", "2"], "big"),
    "gen.aac": (["-c:a", "aac", "-write_id3v2", "1"], "small"),
}

# Fields a writer cannot store, so the file does not hold the known value:
# (file, field) -> why.  The other fields must read back as TAGS.
WRITER_GAPS = {
    **{("gen.wav", f): "ffmpeg's RIFF INFO writer has no chunk for it"
       for f in ("album_artist", "composer", "disc", "disc_total",
                 "compilation")},
    **{(n, "compilation"): "ffmpeg's ID3v2.4 writer stores it as "
       "TXXX:TCMP, not as a TCMP frame"
       for n in ("gen_v24.mp3", "gen.aac")},
}


def flac_picture_block(image, mime, ptype=3, desc="Cövér"):
    """A FLAC PICTURE block body (also what METADATA_BLOCK_PICTURE holds),
    written field by field as the FLAC format describes it."""
    mime = mime.encode()
    desc = desc.encode()
    return (struct.pack(">II", ptype, len(mime)) + mime
            + struct.pack(">I", len(desc)) + desc
            + struct.pack(">IIIII", 64, 64, 24, 0, len(image)) + image)


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + [str(a) for a in args],
                   check=True)


def _make_covers(folder):
    big, small = folder / "big.png", folder / "small.jpg"
    _ffmpeg("-f", "lavfi", "-i", "color=gray:s=300x300,noise=alls=100:allf=t",
            "-frames:v", "1", big)
    _ffmpeg("-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1", small)
    assert big.stat().st_size > 64 << 10
    return {"big": big, "small": small}


def _add_id3_with_mutagen(path, cover):
    """ffmpeg writes no ID3 chunk into WAV and no picture into ADTS: add
    them with mutagen (the tags, and an APIC front cover)."""
    from mutagen.id3 import (ID3, APIC, TIT2, TPE1, TALB, TPE2, TRCK, TPOS,
                             TDRC, TCON, TCOM, COMM, TCMP)
    from mutagen.wave import WAVE
    if path.suffix == ".wav":
        f = WAVE(path)
        f.add_tags()
        tags = f.tags
        for cls, key in ((TIT2, "title"), (TPE1, "artist"), (TALB, "album"),
                         (TPE2, "album_artist"), (TRCK, "track"),
                         (TPOS, "disc"), (TDRC, "date"), (TCON, "genre"),
                         (TCOM, "composer"), (TCMP, "compilation")):
            tags.add(cls(encoding=3, text=[TAGS[key]]))
        tags.add(COMM(encoding=3, lang="eng", desc="", text=[TAGS["comment"]]))
    else:
        tags = ID3(path)
    tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cövér",
                  data=cover.read_bytes()))
    if path.suffix == ".wav":
        f.save()
    else:
        tags.save(path)


def generate(folder, name, opts, cover, covers):
    """Write folder/name with ffmpeg: 1.5 s of sine, TAGS, the cover."""
    dest = folder / name
    cmd = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5"]
    ext = dest.suffix
    attach = cover and ext in (".flac", ".mp3", ".m4a")
    if attach:
        cmd += ["-i", covers[cover], "-map", "0", "-map", "1", "-c:v", "copy",
                "-disposition:v", "attached_pic",
                "-metadata:s:v", "comment=Cover (front)"]
    cmd += ["-map_metadata", "-1", "-fflags", "+bitexact"] + opts
    for k, v in TAGS.items():
        cmd += ["-metadata", f"{k}={v}"]
    if cover and ext in (".ogg", ".opus"):
        block = flac_picture_block(covers[cover].read_bytes(), "image/jpeg")
        cmd += ["-metadata",
                "METADATA_BLOCK_PICTURE=" + base64.b64encode(block).decode()]
    _ffmpeg(*cmd, dest)
    if cover and ext in (".wav", ".aac"):
        _add_id3_with_mutagen(dest, covers[cover])
    return dest


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """{name: path} of the GENERATED files."""
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is missing")
    pytest.importorskip("mutagen")
    folder = tmp_path_factory.mktemp("probe")
    covers = _make_covers(folder)
    return {name: generate(folder, name, opts, cover, covers)
            for name, (opts, cover) in GENERATED.items()}


# --------------------------------------------------------------------------
# The known differences

def _allow(name, fields, reason):
    return {(name, f): reason for f in fields}


_TRAILING_ID3 = (
    "the tags are in an ID3v2.4 tag appended at the end of the file, "
    "with a footer (ID3v2.4 structure, section 5); MusicFS reads appended "
    "tags, mutagen reads an ID3v2 tag only at the start (and, with the "
    "appended tag last, finds neither the APEv2 nor the ID3v1 tag before "
    "it)")

# (file, field) -> why MusicFS's answer is right or the difference is
# acceptable.  file: a path below tests/data/corpus, or a GENERATED name.
ALLOWED = {
    **_allow("mutagen/52-too-short-block-size.flac",
             ("title", "artist", "album", "genre", "date", "track"),
             "the Vorbis comment block's length field says 48 bytes, less "
             "than the comment it holds; MusicFS reads metadata blocks by "
             "their length as the FLAC format, libFLAC and ffmpeg do "
             "(ffprobe shows no tags, `flac -t` rejects the file); mutagen "
             "parses past the length on purpose (its issue 52)"),
    ("mutagen/106-short-picture-block-size.flac", "picture"):
        "the PICTURE block's length field says 0 bytes; MusicFS trusts "
        "block lengths like libFLAC and ffmpeg (ffprobe refuses the file); "
        "mutagen parses past the length on purpose (its issue 106)",
    **_allow("mutagen/audacious-trailing-id32-apev2.mp3",
             ("title", "artist", "album", "genre", "date", "comment",
              "track"), _TRAILING_ID3),
    **_allow("mutagen/audacious-trailing-id32-id31.mp3",
             ("title", "artist", "album", "genre", "date", "comment",
              "track"), _TRAILING_ID3),
    ("mutagen/audacious-trailing-id32-id31.mp3", "duration"):
        "no Xing frame count, so both estimate from the bit rate; mutagen "
        "counts the 454 bytes of trailing tags as audio (82 ms more); "
        "MusicFS ends the audio where the tags start",
    ("mutagen/bad-TYER-frame.mp3", "date"):
        "the TYER frame holds the Latin-1 text 'þÿ' (a stray UTF-16 byte "
        "order mark); MusicFS keeps a date as written, as ffprobe shows it "
        "(its year stays unknown); mutagen drops a TYER that is not a year "
        "when it converts it to TDRC",
    ("mutagen/bad-TYER-frame.mp3", "comment"):
        "the ID3v1 comment fills the comment the ID3v2 tag left empty (in "
        "both readers ID3v1 only fills gaps), but mutagen files it as COMM "
        "'ID3v1 Comment', a description the ID3v2 tag already uses, so it "
        "is dropped; MusicFS keeps that COMM frame in extra and the ID3v1 "
        "comment as the comment",
    ("mutagen/id3v1v2-combined.mp3", "date"):
        "the ID3v2.4 tag holds TYER 2004 (a v2.3 frame), the ID3v1 tag "
        "1337; ID3v2 should win, but mutagen merges ID3v1 before it turns "
        "TYER into TDRC, so the ID3v1 year takes TDRC and TYER is dropped; "
        "ffprobe reads 2004 like MusicFS",
    **_allow("taglib/duplicate_id3v2.mp3",
             ("album_artist", "genre", "date", "track", "track_total",
              "disc", "disc_total", "picture"),
             "two ID3v2 tags back to back at the start: the first sets "
             "every field it has in both readers; MusicFS fills the fields "
             "it lacks from the second (formats_id3v2_leading), mutagen "
             "ignores the second tag"),
    ("taglib/ilst-is-last.m4a", "picture"):
        "the covr atom holds an empty (0-byte) image: MusicFS shows no "
        "picture rather than an empty cover file",
    ("taglib/infloop.m4a", "genre"):
        "the gnre atom's data atom has size 0, which MusicFS reads as 'to "
        "the end of the parent' (ISO BMFF's meaning of size 0) and finds "
        "genre 14, Pop; mutagen drops the atom (ffprobe refuses the file)",
    ("taglib/itunes10.mp3", "duration"):
        "the Info tag counts 2 frames (52 ms, as ffprobe says) but its "
        "LAME delay + padding exceed them: mutagen subtracts anyway and "
        "clamps to 0; MusicFS ignores a trim longer than the audio",
    **_allow("taglib/uint8we.wav", ("date", "comment"),
             "RIFF LIST/INFO tags (ICRD, ICMT): mutagen reads only the ID3 "
             "chunk of a WAV file"),
    **_allow("gen.wav", ("title", "artist", "album", "genre", "date",
                         "comment", "track", "track_total"),
             "ffmpeg writes WAV tags as RIFF LIST/INFO, which mutagen does "
             "not read (only the ID3 chunk; gen_id3.wav has one)"),
}


def check_against_mutagen(docs, paths, names):
    """Compare every probed file mutagen opens as a MusicFS format.
    Returns ({(name, field): (musicfs, mutagen)} of the differences not in
    ALLOWED, the set of ALLOWED keys that matched, the names compared)."""
    unexpected, used, compared = {}, set(), []
    for obj, path, name in zip(docs, paths, names):
        kind, f = open_mutagen(path)
        if kind not in MUTAGEN_KINDS:
            continue
        if "error" in obj:
            unexpected[(name, "format")] = (obj["error"], kind)
            continue
        compared.append(name)
        diffs = differences(obj, reference_view(path, kind, f),
                            Path(path).read_bytes())
        want_fmt = MUTAGEN_KINDS[kind]
        if want_fmt and obj["format"] != want_fmt:
            diffs.append(("format", obj["format"], want_fmt))
        for field, got, want in diffs:
            if (name, field) in ALLOWED:
                used.add((name, field))
            else:
                unexpected[(name, field)] = (got, want)
    return unexpected, used, compared


def _report(unexpected):
    return "MusicFS and mutagen differ:\n" + "\n".join(
        f"  {name}: {field}: musicfs {got!r}, mutagen {want!r}"
        for (name, field), (got, want) in sorted(unexpected.items()))


# --------------------------------------------------------------------------
# The differential tests

def test_generated_files_match_mutagen(run_musicfs, generated):
    names = sorted(generated)
    paths = [generated[n] for n in names]
    docs, _ = probe(run_musicfs, paths)
    unexpected, used, compared = check_against_mutagen(docs, paths, names)
    assert not unexpected, _report(unexpected)
    assert compared == names
    stale = {k for k in ALLOWED if k[0] in generated} - used
    assert not stale, f"ALLOWED entries that no longer differ: {stale}"


def _known_values(name):
    """TAGS as probe --json shows them, but for the WRITER_GAPS."""
    want = dict(TAGS)
    for k in ("track", "disc"):
        n, total = want.pop(k).split("/")
        want[k], want[k + "_total"] = int(n), int(total)
    want["compilation"] = True
    want["year"] = int(TAGS["date"][:4])
    for field in want:
        if (name, field) in WRITER_GAPS:
            want[field] = False if field == "compilation" else None
    return want


def test_generated_files_read_back_their_tags(run_musicfs, generated):
    """What ffmpeg was asked to write is what MusicFS reads (but for the
    WRITER_GAPS), and the picture is the image that was embedded."""
    names = sorted(generated)
    docs, _ = probe(run_musicfs, [generated[n] for n in names])
    folder = generated[names[0]].parent
    images = {"big": (folder / "big.png").read_bytes(),
              "small": (folder / "small.jpg").read_bytes()}
    for name, obj in zip(names, docs):
        assert obj["tags"] == _known_values(name), name
        assert obj["format"] == name.rsplit(".", 1)[1], name
        assert abs(obj["duration"] - 1.5) < 0.05, (name, obj["duration"])
        assert obj["sample_rate"] and obj["channels"] and obj["bitrate"]
        assert 0 < obj["audio_start"] < obj["audio_end"] <= obj["size"]
        cover = GENERATED[name][1]
        pic = obj["picture"]
        if cover is None:
            assert pic is None, name
            continue
        image = images[cover]
        assert pic["type"] == 3 and pic["type_name"] == "front cover", name
        assert pic["mime"] == ("image/png" if cover == "big"
                               else "image/jpeg"), name
        assert (pic["length"], pic["crc32"]) == (len(image),
                                                 zlib.crc32(image)), name
        if pic["stored"] == "raw":
            data = generated[name].read_bytes()
            assert data[pic["offset"]:pic["offset"] + pic["length"]] == image
        assert (pic["stored"] == "decoded") == (name.endswith((".ogg",
                                                               ".opus")))


def _corpus_files():
    return sorted(p for p in CORPUS.rglob("*")
                  if p.is_file() and p.name != "README.md")


def test_corpus_matches_mutagen(run_musicfs):
    """Every corpus file mutagen opens as a format MusicFS reads gives the
    same values, but for ALLOWED.  Broken files are in the corpus on
    purpose and some fail to parse: the exit code is 1, each failure has
    its line on stderr and its error object, the others are printed."""
    if not CORPUS.is_dir():
        pytest.skip("tests/data/corpus is missing")
    pytest.importorskip("mutagen")
    paths = _corpus_files()
    names = [str(p.relative_to(CORPUS)) for p in paths]
    docs, res = probe(run_musicfs, paths, expect_rc=1)
    failed = [obj["file"] for obj in docs if "error" in obj]
    assert 0 < len(failed) < len(paths) / 2
    assert len(res.stderr.splitlines()) == len(failed), res.stderr
    for f in failed:
        assert f"musicfs: cannot probe '{f}': " in res.stderr, f
    unexpected, used, compared = check_against_mutagen(docs, paths, names)
    assert not unexpected, _report(unexpected)
    assert len(compared) > 60, compared
    stale = {k for k in ALLOWED if k[0] not in GENERATED} - used
    assert not stale, f"ALLOWED entries that no longer differ: {stale}"


# --------------------------------------------------------------------------
# The command

def test_probe_text_output(run_musicfs, generated):
    """Aligned "label value" lines under the file name, every named field
    (absent ones as "(none)"), a blank line between files."""
    paths = [generated["gen.flac"], generated["gen.wav"]]
    res = run_musicfs(["probe"] + [str(p) for p in paths])
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    blocks = res.stdout.split("\n\n")
    assert len(blocks) == 2
    flac = blocks[0].splitlines()
    assert flac[0] == str(paths[0])
    fields = {}
    for line in flac[1:]:
        # the label padded to 13 columns, then the value
        assert line[:2] == "  " and line[15] == " " and line[16] != " ", line
        fields[line[2:15].strip()] = line[16:]
    assert fields["format"] == "FLAC (flac)"
    for label, key in (("title", "title"), ("artist", "artist"),
                       ("album", "album"), ("album artist", "album_artist"),
                       ("genre", "genre"), ("composer", "composer"),
                       ("date", "date"), ("comment", "comment"),
                       ("track", "track"), ("disc", "disc")):
        assert fields[label] == TAGS[key], label
    assert fields["year"] == "2004"
    assert fields["compilation"] == "yes"
    assert fields["extra"] == "(none)"
    assert fields["duration"] == "1.500 s"
    assert fields["sample rate"] == "48000 Hz"
    assert fields["channels"] == "1"
    image = (paths[0].parent / "big.png").read_bytes()
    assert fields["picture"].startswith(
        f"front cover (type 3), image/png, {len(image)} bytes at offset ")
    assert fields["picture"].endswith(f", crc32 {zlib.crc32(image):08x}")
    for label in ("audio start", "audio end", "file size"):
        assert fields[label].split()[0].isdigit(), label
    wav = blocks[1]
    assert "  album artist  (none)\n" in wav
    assert "  picture       (none)\n" in wav


def test_probe_escapes_control_characters(run_musicfs, tmp_path):
    """A tag cannot drive the terminal: control characters are escaped in
    the text output; the JSON output has the exact text."""
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is missing")
    title = "Line\nBreak\x1b[31mRed\x7f\u009b2J \u6771"
    dest = tmp_path / "ctrl.flac"
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", "-metadata",
            f"title={title}", "-metadata", "MY KEY=tab\there", dest)
    res = run_musicfs(["probe", str(dest)])
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x7f" not in res.stdout
    assert "\u009b" not in res.stdout
    assert ("  title         Line\\nBreak\\x1b[31mRed\\x7f\\u009b2J \u6771\n"
            in res.stdout)
    assert "MY KEY = tab\\there" in res.stdout
    docs, _ = probe(run_musicfs, [dest])
    assert docs[0]["tags"]["title"] == title
    assert docs[0]["extra"]["MY KEY"] == "tab\there"


def test_probe_missing_and_non_audio_files(run_musicfs, generated, tmp_path):
    """Each file that cannot be read: one line on stderr naming it and the
    reason, an error object in JSON; the others still printed; exit 1."""
    text = tmp_path / "notes.txt"
    text.write_text("not audio at all\n" * 100)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.flac"
    good = generated["gen.m4a"]
    paths = [text, good, missing, empty, tmp_path]
    docs, res = probe(run_musicfs, paths, expect_rc=1)
    errors = {Path(d["file"]).name: d["error"] for d in docs if "error" in d}
    assert set(errors) == {"notes.txt", "missing.flac", "empty.mp3",
                           tmp_path.name}
    assert errors["missing.flac"] == "No such file or directory"
    assert "not a supported audio file" in errors["notes.txt"]
    assert errors[tmp_path.name] == "is a folder"
    assert docs[1]["format"] == "m4a"
    lines = res.stderr.splitlines()
    assert lines == [f"musicfs: cannot probe '{d['file']}': {d['error']}"
                     for d in docs if "error" in d]
    # the same in text
    res = run_musicfs(["probe"] + [str(p) for p in paths])
    assert res.returncode == 1
    assert res.stdout.startswith(str(good) + "\n  format        MP4 audio")
    assert res.stderr.splitlines() == lines
    # one bad file alone
    res = run_musicfs(["probe", str(missing)])
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr == (f"musicfs: cannot probe '{missing}': "
                          "No such file or directory\n")


def test_probe_usage(run_musicfs, generated):
    res = run_musicfs(["probe", "--help"])
    assert res.returncode == 0
    assert res.stdout.startswith("usage: musicfs probe FILE... [--json]")
    assert "--json" in res.stdout
    assert run_musicfs(["help", "probe"]).stdout == res.stdout
    assert "probe" in run_musicfs(["--help"]).stdout
    res = run_musicfs(["probe"])
    assert res.returncode == 2 and res.stdout == ""
    assert "no file given" in res.stderr
    res = run_musicfs(["probe", "--frobnicate", str(generated["gen.flac"])])
    assert res.returncode == 2 and res.stdout == ""
    assert "frobnicate" in res.stderr
    # options may follow the files; -- ends them
    docs, _ = probe(run_musicfs, [generated["gen.flac"]])
    res = run_musicfs(["probe", str(generated["gen.flac"]), "-j"])
    assert json.loads(res.stdout) == docs
    res = run_musicfs(["probe", "--", "--json"])
    assert res.returncode == 1
    assert "cannot probe '--json'" in res.stderr


def _flac_with_comments(src, items):
    """src (a FLAC file) with its metadata replaced by STREAMINFO and one
    Vorbis comment block holding items (raw bytes, any encoding)."""
    data = src.read_bytes()
    off = 4
    while True:
        last, size = data[off] & 0x80, int.from_bytes(data[off + 1:off + 4],
                                                      "big")
        off += 4 + size
        if last:
            break
    vc = struct.pack("<I", 1) + b"x" + struct.pack("<I", len(items))
    vc += b"".join(struct.pack("<I", len(i)) + i for i in items)
    streaminfo = bytes([0]) + data[5:42]
    return (b"fLaC" + streaminfo + bytes([0x84]) + len(vc).to_bytes(3, "big")
            + vc + data[off:])


def test_probe_hostile_bytes_give_valid_output(run_musicfs, generated,
                                                tmp_path):
    """Invalid UTF-8 in a comment's key and value: valid JSON (python's
    json parses it), no raw control bytes in the text output."""
    dest = tmp_path / "hostile.flac"
    dest.write_bytes(_flac_with_comments(generated["gen.flac"], [
        b"K\xffEY=v\xfe\xc0al", b"TITLE=ok\x1b[2J", b"ARTIST=\xe6\x9d\xb1"]))
    docs, _ = probe(run_musicfs, [dest])
    obj = docs[0]
    assert obj["tags"]["title"] == "ok\x1b[2J"
    assert obj["tags"]["artist"] == "\u6771"
    (key, value), = obj["extra"].items()
    assert key.startswith("K") and key.endswith("EY")
    assert value.startswith("v") and value.endswith("al")
    assert obj["duration"] == 1.5 and obj["picture"] is None
    res = run_musicfs(["probe", str(dest)])
    assert res.returncode == 0
    assert "  title         ok\\x1b[2J\n" in res.stdout
    assert "\x1b" not in res.stdout
