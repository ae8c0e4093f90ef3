#!/usr/bin/python3
"""Make a synthetic but real (playable, correctly tagged) music library, fast.

usage: bench/gen_library.py N DIR [--formats flac,mp3] [--payload-bytes B]
                            [--seconds S] [--seed S] [--cover-fraction F]
                            [--jobs J] [--no-verify] [--quiet]

ffmpeg encodes ONE short FLAC and ONE short MP3 (a sine; or, with
--payload-bytes, audio of about B bytes).  Every output file is that audio
with a fresh tag written byte by byte:

  FLAC  "fLaC" + the template's STREAMINFO (and SEEKTABLE) + a new
        VORBIS_COMMENT block (+ a PICTURE block for some albums) + PADDING
        + the template's audio frames, unchanged;
  MP3   a new ID3v2.4 tag (text frames, APIC for some albums) + the
        template's MPEG frames (encoded without ID3, Xing or bit reservoir,
        so frames can also be repeated to reach --payload-bytes).

Tags: N/10 albums of ~10 tracks (sizes vary 6..14), one album in ten on two
or three discs, one in twelve a compilation (album artist "Various
Artists", one artist per track), artists with 1..4 albums, some names with
non-ASCII letters; about --cover-fraction of the albums (default 0.2) carry
a ~50 KiB JPEG cover embedded in every track.  Every title is distinct.

Layout in DIR is deliberately messy (not the Artist/Album tree MusicFS
shows): rips/Artist - Album (Year)/, Music/A/Artist/Album/CD1/, incoming/
batch-NNN/ with flat dumps, downloads/<junk>/ with odd names, and so on.

At the end a sample of the files is read back with mutagen (tags equal to
what was written) and decoded with ffmpeg (no errors); a mismatch exits 1.
A manifest of the tags written is saved as DIR/../<basename(DIR)>.manifest.tsv
(outside the origin).
"""
import argparse
import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata

# --------------------------------------------------------------------------
# templates made by ffmpeg

FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]


def run(cmd):
    subprocess.run(cmd, check=True)


def make_cover(path):
    # a 256x256 cellular automaton compresses badly: ~50 KiB at q 2
    run(FF + ["-f", "lavfi", "-i", "cellauto=s=256x256:rule=110,format=yuvj420p",
              "-frames:v", "1", "-q:v", "2", path])


def make_flac_template(path, payload_bytes, seconds=1.0):
    if not payload_bytes:
        run(FF + ["-f", "lavfi", "-i", "sine=frequency=440:duration=%g:sample_rate=44100" % seconds,
                  "-ac", "2", "-map_metadata", "-1", "-fflags", "+bitexact",
                  "-flags:a", "+bitexact", "-c:a", "flac", path])
        return
    # Noise does not compress: 48 kHz stereo 16-bit noise gives ~190 kB/s
    # of FLAC.  Measure the rate on 5 s, then encode the needed duration.
    src = "anoisesrc=color=white:sample_rate=48000:amplitude=0.5:seed=7:duration=%f"
    probe = path + ".probe.flac"
    run(FF + ["-f", "lavfi", "-i", src % 5.0, "-ac", "2", "-sample_fmt", "s16",
              "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
              "-compression_level", "0", "-c:a", "flac", probe])
    rate = (os.path.getsize(probe) - 8192) / 5.0
    os.unlink(probe)
    dur = max(1.0, payload_bytes / rate)
    run(FF + ["-f", "lavfi", "-i", src % dur, "-ac", "2", "-sample_fmt", "s16",
              "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
              "-compression_level", "0", "-c:a", "flac", path])


def make_mp3_template(path, seconds=1.0):
    run(FF + ["-f", "lavfi", "-i", "sine=frequency=440:duration=%g:sample_rate=44100" % seconds,
              "-ac", "2", "-map_metadata", "-1", "-fflags", "+bitexact",
              "-c:a", "libmp3lame", "-b:a", "128k", "-reservoir", "0",
              "-id3v2_version", "0", "-write_id3v1", "0", "-write_xing", "0", path])


def flac_parts(data):
    """-> (kept metadata blocks without their 4-byte headers, as (type, body)),
    audio frames bytes)"""
    if data[:4] != b"fLaC":
        raise ValueError("template is not FLAC")
    pos, kept = 4, []
    while True:
        hdr = data[pos]
        btype, last = hdr & 0x7F, hdr & 0x80
        blen = int.from_bytes(data[pos + 1:pos + 4], "big")
        body = data[pos + 4:pos + 4 + blen]
        if btype in (0, 3):          # STREAMINFO, SEEKTABLE
            kept.append((btype, body))
        pos += 4 + blen
        if last:
            break
    if not kept or kept[0][0] != 0:
        raise ValueError("FLAC template without STREAMINFO first")
    return kept, data[pos:]


def mp3_frames(data):
    pos = 0
    if data[:3] == b"ID3":
        sz = data[6:10]
        pos = 10 + ((sz[0] << 21) | (sz[1] << 14) | (sz[2] << 7) | sz[3])
    end = len(data)
    if end - pos >= 128 and data[end - 128:end - 125] == b"TAG":
        end -= 128
    frames = data[pos:end]
    if frames[:2] != b"\xff\xfb" and (frames[0] != 0xFF or frames[1] & 0xE0 != 0xE0):
        raise ValueError("MP3 template does not start with an MPEG frame")
    return frames


# --------------------------------------------------------------------------
# tag writers

def flac_block(btype, body, last=False):
    if len(body) >= 1 << 24:
        raise ValueError("FLAC metadata block too large")
    return bytes([(0x80 if last else 0) | btype]) + len(body).to_bytes(3, "big") + body


def vorbis_comment(tags):
    vendor = b"musicfs gen_library"
    out = [struct.pack("<I", len(vendor)), vendor, struct.pack("<I", len(tags))]
    for k, v in tags:
        c = (k + "=" + v).encode("utf-8")
        out += [struct.pack("<I", len(c)), c]
    return b"".join(out)


def flac_picture(jpeg, w=256, h=256):
    mime, desc = b"image/jpeg", b"Cover (front)"
    return (struct.pack(">I", 3) + struct.pack(">I", len(mime)) + mime +
            struct.pack(">I", len(desc)) + desc +
            struct.pack(">IIII", w, h, 24, 0) + struct.pack(">I", len(jpeg)) + jpeg)


def syncsafe(n):
    if n >= 1 << 28:
        raise ValueError("ID3 size too large")
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3_frame(fid, body):
    return fid.encode("ascii") + syncsafe(len(body)) + b"\x00\x00" + body


def id3_text(fid, text):
    return id3_frame(fid, b"\x03" + text.encode("utf-8"))   # 3 = UTF-8


def id3_apic(jpeg):
    return id3_frame("APIC", b"\x00" + b"image/jpeg\x00" + b"\x03" + b"Cover (front)\x00" + jpeg)


def id3v24(frames, padding=256):
    body = b"".join(frames) + b"\x00" * padding
    return b"ID3\x04\x00\x00" + syncsafe(len(body)) + body


# --------------------------------------------------------------------------
# the library plan: albums, tracks, messy paths

ADJ = ["Silent", "Electric", "Velvet", "Broken", "Golden", "Crimson", "Hollow", "Neon",
       "Wild", "Frozen", "Burning", "Distant", "Hidden", "Lonely", "Savage", "Gentle",
       "Atomic", "Cosmic", "Rusty", "Paper", "Iron", "Glass", "Lunar", "Solar", "Midnight",
       "Northern", "Southern", "Restless", "Sacred", "Twisted", "Wooden", "Bitter"]
NOUN = ["Rivers", "Machines", "Horses", "Lights", "Ghosts", "Engines", "Saints", "Wolves",
        "Mirrors", "Gardens", "Oceans", "Towers", "Kings", "Satellites", "Shadows",
        "Harbors", "Echoes", "Pilots", "Birds", "Stones", "Tigers", "Dreamers", "Owls",
        "Sparrows", "Brothers", "Sisters", "Comets", "Vandals", "Drifters", "Monks"]
ODD = ["Motörhead Tribute", "Sigur Rós Fans", "Björk Collective", "Mötley Echo",
       "東京事変", "Ärzte Ensemble", "Café Tacvba Band", "Ñu Orchestra", "Zoë & Chloé",
       "Jóhann Trio", "Ólafur Strings", "Mariñas", "Françoise Quartet", "ΑΩ Project"]
WORD = ["Love", "Night", "Road", "Fire", "Rain", "Heart", "Dream", "City", "Song", "Time",
        "Sky", "Home", "Storm", "Light", "Dance", "Blue", "Gold", "Run", "Fall", "Rise",
        "Winter", "Summer", "Angel", "Stranger", "Mountain", "River", "Echo", "Signal",
        "Static", "Mirror", "Ghost", "Thunder", "Paradise", "Desire", "Silence", "Shadow"]
GENRE = ["Rock", "Pop", "Jazz", "Electronic", "Hip-Hop", "Classical", "Metal", "Folk",
         "Blues", "Soul", "Reggae", "Country", "Ambient", "Punk", "Indie"]


def ascii_fold(s):
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().strip() or "x"


def plan(n, formats, seed, cover_fraction):
    rnd = random.Random(seed)
    albums = []
    left, ai = n, 0
    artist_pool, artist_left = None, 0
    while left > 0:
        size = min(left, rnd.randint(6, 14))
        left -= size
        if artist_left == 0:
            base = (rnd.choice(ODD) if rnd.random() < 0.06 else
                    "The " + rnd.choice(ADJ) + " " + rnd.choice(NOUN))
            artist_pool = "%s %d" % (base, ai)          # distinct artists
            artist_left = rnd.randint(1, 4)
        artist_left -= 1
        compilation = rnd.random() < 1 / 12
        discs = 1 if rnd.random() >= 0.1 or size < 4 else rnd.choice([2, 2, 3])
        albums.append({
            "i": ai,
            "artist": artist_pool,
            "albumartist": "Various Artists" if compilation else artist_pool,
            "compilation": compilation,
            "album": "%s %s %d" % (rnd.choice(ADJ), rnd.choice(WORD), ai),
            "year": rnd.randint(1960, 2024),
            "genre": rnd.choice(GENRE),
            "fmt": formats[ai % len(formats)],
            "discs": discs,
            "size": size,
            "cover": rnd.random() < cover_fraction,
            "layout": rnd.randrange(8),
        })
        ai += 1
    files = []
    ti = 0
    for a in albums:
        per = -(-a["size"] // a["discs"])
        for k in range(a["size"]):
            disc, trk = k // per + 1, k % per + 1
            ntr = min(per, a["size"] - (disc - 1) * per)
            title = "%s %s %d" % (rnd.choice(WORD), rnd.choice(WORD), ti)
            artist = ("Guest %s %d" % (rnd.choice(NOUN), ti) if a["compilation"]
                      else a["artist"])
            t = {"album": a, "title": title, "artist": artist, "track": trk,
                 "ntracks": ntr, "disc": disc, "i": ti}
            t["path"] = messy_path(a, t, rnd)
            files.append(t)
            ti += 1
    return albums, files


def safe(s):
    return s.replace("/", "_").replace("\0", "")


def messy_path(a, t, rnd):
    ext = a["fmt"]
    A, B, Y = safe(a["albumartist"]), safe(a["album"]), a["year"]
    tr, d, title = t["track"], t["disc"], safe(t["title"])
    multi = a["discs"] > 1
    lay = a["layout"]
    if lay == 0:    # tidy-ish rip folder
        folder = "rips/%s - %s (%d)" % (A, B, Y)
        if multi:
            folder += "/CD%d" % d
        name = "%02d %s.%s" % (tr, title, ext)
    elif lay == 1:  # Music/<letter>/<Artist>/<Album>/Disc N
        folder = "Music/%s/%s/%s" % (ascii_fold(A)[0].upper(), A, B)
        if multi:
            folder += "/Disc %d" % d
        name = "%d-%02d - %s - %s.%s" % (d, tr, safe(t["artist"]), title, ext)
    elif lay == 2:  # incoming batches, flat dumps with hashed names
        folder = "incoming/batch-%03d" % (a["i"] % 97)
        h = hashlib.md5(b"%d" % t["i"]).hexdigest()[:10]
        name = "track_%s.%s" % (h, ext)
    elif lay == 3:  # downloads with scene-ish junk
        folder = "downloads/%s-%s-%d-WEB-%s" % (ascii_fold(A).replace(" ", "_"),
                                                ascii_fold(B).replace(" ", "_"), Y,
                                                "FLAC" if ext == "flac" else "320")
        name = "%d%02d-%s.%s" % (d, tr, ascii_fold(title).lower().replace(" ", "_"), ext)
    elif lay == 4:  # old stuff, upper-case extension, deep folders
        folder = "old stuff/backup 2009/misc/%d" % (a["i"] % 31)
        name = "%s - %s.%s" % (A, title, ext.upper())
    elif lay == 5:  # by year
        folder = "by year/%d/%s" % (Y, B)
        if multi:
            folder += "/disc%d" % d
        name = "Track%02d.%s" % (tr, ext)
    elif lay == 6:  # artist folder only, album mixed in
        folder = "Artists/%s" % A
        name = "%s - %02d - %s.%s" % (B, tr, title, ext)
    else:           # unicode + spaces, a lonely file per folder sometimes
        folder = "to sort/%s — %s" % (A, B)
        name = "%02d. %s.%s" % (tr if not multi else d * 100 + tr, title, ext)
    return folder + "/" + name


def tag_values(t):
    a = t["album"]
    v = {"title": t["title"], "artist": t["artist"], "album": a["album"],
         "albumartist": a["albumartist"], "track": t["track"],
         "tracktotal": t["ntracks"], "year": a["year"], "genre": a["genre"]}
    if a["discs"] > 1:
        v["disc"], v["disctotal"] = t["disc"], a["discs"]
    return v


def flac_bytes(t, kept, audio, jpeg):
    v = tag_values(t)
    tags = [("TITLE", v["title"]), ("ARTIST", v["artist"]), ("ALBUM", v["album"]),
            ("ALBUMARTIST", v["albumartist"]), ("TRACKNUMBER", str(v["track"])),
            ("TRACKTOTAL", str(v["tracktotal"])), ("DATE", str(v["year"])),
            ("GENRE", v["genre"])]
    if "disc" in v:
        tags += [("DISCNUMBER", str(v["disc"])), ("DISCTOTAL", str(v["disctotal"]))]
    if t["album"]["compilation"]:
        tags.append(("COMPILATION", "1"))
    parts = [b"fLaC"] + [flac_block(bt, body) for bt, body in kept]
    parts.append(flac_block(4, vorbis_comment(tags)))
    if t["album"]["cover"]:
        parts.append(flac_block(6, flac_picture(jpeg)))
    parts.append(flac_block(1, b"\x00" * 1024, last=True))
    parts.append(audio)
    return parts


def mp3_bytes(t, frames, jpeg):
    v = tag_values(t)
    fr = [id3_text("TIT2", v["title"]), id3_text("TPE1", v["artist"]),
          id3_text("TALB", v["album"]), id3_text("TPE2", v["albumartist"]),
          id3_text("TRCK", "%d/%d" % (v["track"], v["tracktotal"])),
          id3_text("TDRC", str(v["year"])), id3_text("TCON", v["genre"])]
    if "disc" in v:
        fr.append(id3_text("TPOS", "%d/%d" % (v["disc"], v["disctotal"])))
    if t["album"]["compilation"]:
        fr.append(id3_text("TCMP", "1"))
    if t["album"]["cover"]:
        fr.append(id3_apic(jpeg))
    return [id3v24(fr), frames]


# --------------------------------------------------------------------------

def write_files(files, root, tmpl, jpeg, first, step):
    kept, faudio, mframes = tmpl
    made = set()
    for t in files[first::step]:
        full = os.path.join(root, t["path"])
        d = os.path.dirname(full)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        parts = (flac_bytes(t, kept, faudio, jpeg) if t["album"]["fmt"] == "flac"
                 else mp3_bytes(t, mframes, jpeg))
        with open(full, "wb") as f:
            for p in parts:
                f.write(p)


def verify(files, root, sample, quiet):
    import mutagen
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3
    rnd = random.Random(1)
    picks = rnd.sample(files, min(sample, len(files)))
    seen = set()
    # make sure both formats, a multi-disc, a compilation and a cover are in it
    for pred in (lambda t: t["album"]["fmt"] == "flac", lambda t: t["album"]["fmt"] == "mp3",
                 lambda t: t["album"]["discs"] > 1, lambda t: t["album"]["compilation"],
                 lambda t: t["album"]["cover"]):
        for t in files:
            if pred(t):
                picks.append(t)
                break
    picks = [t for t in picks if not (t["path"] in seen or seen.add(t["path"]))]
    bad = 0
    for t in picks:
        full = os.path.join(root, t["path"])
        v = tag_values(t)
        if t["album"]["fmt"] == "flac":
            f = FLAC(full)
            got = {"title": f["title"][0], "artist": f["artist"][0], "album": f["album"][0],
                   "albumartist": f["albumartist"][0], "track": int(f["tracknumber"][0]),
                   "tracktotal": int(f["tracktotal"][0]), "year": int(f["date"][0]),
                   "genre": f["genre"][0]}
            if "discnumber" in f:
                got["disc"], got["disctotal"] = int(f["discnumber"][0]), int(f["disctotal"][0])
            pics = len(f.pictures)
            if pics and len(f.pictures[0].data) < 40000:
                pics = -1
        else:
            f = ID3(full)
            if f.version != (2, 4, 0):
                print("ID3 version %s in %s" % (f.version, full), file=sys.stderr)
                bad += 1
            tn, tt = f["TRCK"].text[0].split("/")
            got = {"title": f["TIT2"].text[0], "artist": f["TPE1"].text[0],
                   "album": f["TALB"].text[0], "albumartist": f["TPE2"].text[0],
                   "track": int(tn), "tracktotal": int(tt),
                   "year": int(str(f["TDRC"].text[0])), "genre": f["TCON"].text[0]}
            if "TPOS" in f:
                dn, dt = f["TPOS"].text[0].split("/")
                got["disc"], got["disctotal"] = int(dn), int(dt)
            pics = len(f.getall("APIC"))
            if pics and len(f.getall("APIC")[0].data) < 40000:
                pics = -1
        if got != v or pics != (1 if t["album"]["cover"] else 0):
            print("TAG MISMATCH %s:\n  want %r cover=%s\n  got  %r pics=%d"
                  % (full, v, t["album"]["cover"], got, pics), file=sys.stderr)
            bad += 1
        info = mutagen.File(full).info
        if not (0.05 < info.length < 1e6):
            print("odd duration %s in %s" % (info.length, full), file=sys.stderr)
            bad += 1
    # decode a few with ffmpeg (every frame, errors are fatal; of a file
    # over 64 MiB the first and the last 60 s)
    dec = list({t["path"]: t for t in picks[:6] + picks[-5:]}.values())
    for t in dec:
        full = os.path.join(root, t["path"])
        cuts = [[]]
        if os.path.getsize(full) > 64 << 20:
            cuts = [["-t", "60"], ["-sseof", "-60"]]
        for cut in cuts:
            pre, post = ([], cut) if cut[:1] == ["-t"] else (cut, [])
            r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-xerror"] + pre +
                               ["-i", full] + post + ["-map", "0:a", "-f", "null", "-"],
                               capture_output=True, text=True)
            if r.returncode or r.stderr.strip():
                break
        pr = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name",
                             "-of", "csv=p=0", full], capture_output=True, text=True)
        if r.returncode or r.stderr.strip() or pr.returncode or pr.stderr.strip():
            print("DECODE ERROR %s: %s %s" % (full, r.stderr.strip(), pr.stderr.strip()),
                  file=sys.stderr)
            bad += 1
    if not quiet:
        print("verified: %d files read back with mutagen, %d decoded by ffmpeg, %d problem(s)"
              % (len(picks), len(dec), bad))
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("dir")
    ap.add_argument("--formats", default="flac,mp3")
    ap.add_argument("--payload-bytes", type=int, default=0,
                    help="make the audio of each file about B bytes (FLAC: white "
                         "noise encoded by ffmpeg; MP3: the template's frames repeated)")
    ap.add_argument("--seconds", type=float, default=1.0,
                    help="duration of the template audio (default 1; 0.1 makes ~3 KB files "
                         "for very large catalogs)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cover-fraction", type=float, default=0.2)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--verify-sample", type=int, default=40)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    o = ap.parse_args()
    formats = [f.strip().lower() for f in o.formats.split(",") if f.strip()]
    if not formats or any(f not in ("flac", "mp3") for f in formats):
        ap.error("--formats: flac and/or mp3")
    if o.n < 1:
        ap.error("N must be >= 1")
    t0 = time.monotonic()
    root = os.path.abspath(o.dir)
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="gen_library.")
    try:
        kept, faudio, mframes = None, None, None
        cover = os.path.join(tmp, "cover.jpg")
        make_cover(cover)
        jpeg = open(cover, "rb").read()
        if "flac" in formats:
            make_flac_template(os.path.join(tmp, "t.flac"), o.payload_bytes, o.seconds)
            kept, faudio = flac_parts(open(os.path.join(tmp, "t.flac"), "rb").read())
        if "mp3" in formats:
            make_mp3_template(os.path.join(tmp, "t.mp3"), o.seconds)
            mframes = mp3_frames(open(os.path.join(tmp, "t.mp3"), "rb").read())
            if o.payload_bytes and len(mframes) < o.payload_bytes:
                mframes = mframes * (o.payload_bytes // len(mframes))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t1 = time.monotonic()
    albums, files = plan(o.n, formats, o.seed, o.cover_fraction)
    tmpl = (kept, faudio, mframes)
    jobs = max(1, min(o.jobs, 16))
    if jobs == 1 or o.n < 2000:
        write_files(files, root, tmpl, jpeg, 0, 1)
    else:
        pids = []
        for j in range(jobs):
            pid = os.fork()
            if pid == 0:
                try:
                    write_files(files, root, tmpl, jpeg, j, jobs)
                    os._exit(0)
                except BaseException as e:
                    print("worker %d: %s" % (j, e), file=sys.stderr)
                    os._exit(1)
            pids.append(pid)
        fail = 0
        for pid in pids:
            _, st = os.waitpid(pid, 0)
            fail |= st
        if fail:
            sys.exit("gen_library: a writer failed")
    t2 = time.monotonic()
    man = root.rstrip("/") + ".manifest.tsv"
    with open(man, "w", encoding="utf-8") as m:
        m.write("path\tformat\talbumartist\tartist\talbum\tyear\tdisc\ttrack\ttitle\tcover\n")
        for t in files:
            a = t["album"]
            m.write("\t".join(str(x) for x in (
                t["path"], a["fmt"], a["albumartist"], t["artist"], a["album"], a["year"],
                t["disc"] if a["discs"] > 1 else "", t["track"], t["title"],
                int(a["cover"]))) + "\n")
    if not o.quiet:
        print("gen_library: %d files (%d albums, %d multi-disc, %d compilations, %d with "
              "cover) in %s: templates %.1f s, files %.1f s (%.0f files/s)"
              % (len(files), len(albums), sum(a["discs"] > 1 for a in albums),
                 sum(a["compilation"] for a in albums), sum(a["cover"] for a in albums),
                 root, t1 - t0, t2 - t1, len(files) / max(t2 - t1, 1e-9)))
    if not o.no_verify and not verify(files, root, o.verify_sample, o.quiet):
        sys.exit(1)


if __name__ == "__main__":
    main()
