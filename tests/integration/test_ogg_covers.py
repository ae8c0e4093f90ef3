"""Covers of Ogg Vorbis and Opus files, served through the mount.

An Ogg cover is base64 text (METADATA_BLOCK_PICTURE) spread over the pages
of the comment packet.  The scanner only locates it (the first bytes are
decoded for type, MIME type and size); it is decoded when the cover file
is opened.  Here: the cover file of each album has exactly the image bytes
mutagen embedded (big covers over hundreds of pages, a small one inside a
page, Vorbis and Opus, the front cover preferred over an earlier back
cover), its size is right before any read, reads at odd offsets and sizes
agree, a file re-tagged with another cover shows the new one, and with
the origin read through the chunk cache the cover is still served when its
file is gone (the decoding reads the file as a track is read).
"""

import base64
import os
import random
import shutil
import subprocess
import time

import pytest
import mutagen
from mutagen.flac import Picture

import mfs_helpers as H


def _noise_png(path, side):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"nullsrc=s={side}x{side},geq=random(1)*255:"
                    "random(1)*255:random(1)*255", "-frames:v", "1",
                    str(path)], check=True)
    return path.read_bytes()


def _embed(path, pictures):
    f = mutagen.File(path)
    blocks = []
    for ptype, mime, data in pictures:
        p = Picture()
        p.type = ptype
        p.mime = mime
        p.desc = "cover"
        p.data = data
        blocks.append(base64.b64encode(p.write()).decode("ascii"))
    f["METADATA_BLOCK_PICTURE"] = blocks
    f.save()


def _track(path, codec, album, pictures):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=330:duration=2", "-c:a", codec,
                    "-metadata", "artist=Ogg Covers", "-metadata",
                    f"album={album}", "-metadata", "title=T", "-metadata",
                    "track=1", str(path)], check=True)
    _embed(path, pictures)


@pytest.fixture
def ogg_origin(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is missing")
    root = tmp_path / "origin"
    root.mkdir()
    big = _noise_png(tmp_path / "big.png", 500)      # ~750 KB, ~250 pages
    small = _noise_png(tmp_path / "small.png", 16)
    back = _noise_png(tmp_path / "back.png", 24)
    _track(root / "big.ogg", "libvorbis", "Big", [(3, "image/png", big)])
    _track(root / "small.opus", "libopus", "Small",
           [(3, "image/png", small)])
    _track(root / "two.ogg", "libvorbis", "Two",
           [(4, "image/png", back), (3, "image/png", big)])
    return root, {"Big": big, "Small": small, "Two": big, "back": back}


def _settle():
    """Let the release of the last file closed reach the daemon: the kernel
    sends it in the background and drops it if the unmount comes first,
    and the vfile left open would be reported as a leak under ASan."""
    time.sleep(0.3)


def _cover(m, album):
    folder = f"Ogg Covers/{album} [{'OPUS' if album == 'Small' else 'OGG'}]"
    return m.p(folder + "/cover.png")


def test_ogg_covers_are_the_embedded_images(mount_factory, ogg_origin):
    root, images = ogg_origin
    m = mount_factory([root])
    for album in ("Big", "Small", "Two"):
        path = _cover(m, album)
        assert os.path.getsize(path) == len(images[album]), album
        assert H.read_all(path) == images[album], album
    assert m.proc.poll() is None
    _settle()


def test_ogg_cover_reads_at_odd_offsets(mount_factory, ogg_origin):
    root, images = ogg_origin
    m = mount_factory([root])
    want = images["Big"]
    rng = random.Random(7)
    fd = os.open(_cover(m, "Big"), os.O_RDONLY)
    try:
        for _ in range(200):
            off = rng.randrange(0, len(want) + 10)
            size = rng.choice([1, 3, 4095, 4097, 65537, 300001])
            assert os.pread(fd, size, off) == want[off:off + size]
    finally:
        os.close(fd)
    _settle()


def test_ogg_cover_follows_a_retag(mount_factory, ogg_origin, tmp_path):
    root, images = ogg_origin
    m = mount_factory([root])
    assert H.read_all(_cover(m, "Small")) == images["Small"]
    new = _noise_png(tmp_path / "new.png", 20)
    staged = tmp_path / "staged.opus"
    shutil.copy(root / "small.opus", staged)
    _embed(staged, [(3, "image/png", new)])
    os.replace(staged, root / "small.opus")

    # stat, not reads, while waiting: under ASan each open/read/close of
    # an in-memory cover may be reported as a use after free, because its
    # writev interceptor checks the reply buffer after the call, when the
    # release that the completed read allowed may have freed it (the
    # kernel copied the bytes before; the report is false)
    def new_size():
        try:
            return os.path.getsize(_cover(m, "Small")) == len(new)
        except OSError:
            return False
    assert H.wait_for(new_size, H.scaled(5)), m.stderr()[-2000:]
    assert H.read_all(_cover(m, "Small")) == new
    _settle()


def test_ogg_cover_served_from_the_cache(mount_factory, tmp_path):
    root = tmp_path / "origin"
    root.mkdir()
    image = _noise_png(tmp_path / "cover.png", 300)
    _track(root / "c.ogg", "libvorbis", "Cached", [(3, "image/png", image)])
    conf = tmp_path / "musicfs.toml"
    conf.write_text("[cache]\ncache_local_origins = true\n"
                    "content_cache_mb = 64\n")
    m = mount_factory([root], extra=["-c", str(conf)])
    assert H.read_all(_cover(m, "Cached")) == image
    _settle()
    os.rename(root / "c.ogg", tmp_path / "away.ogg")
    # the origin now looks empty: unreachable, nothing removed
    assert H.wait_for(lambda: "looks empty" in m.stderr(), H.scaled(5))
    assert H.read_all(_cover(m, "Cached")) == image
    _settle()
