"""Real, partly broken files from the taglib and mutagen test suites
(tests/data/corpus): the daemon survives them, shows every audio file
somewhere and serves each byte for byte."""

import collections
import os

import pytest

import mfs_helpers as H

CORPUS = H.REPO / "tests" / "data" / "corpus"


def _corpus_audio():
    out = []
    for dirpath, _, files in os.walk(CORPUS):
        for f in files:
            if f.rsplit(".", 1)[-1].lower() in H.AUDIO_EXTS and "." in f:
                out.append(os.path.join(dirpath, f))
    return sorted(out)


@pytest.fixture
def corpus_mount(mount_factory):
    if not CORPUS.is_dir():
        pytest.skip("tests/data/corpus is missing")
    return mount_factory([CORPUS], extra=["--xattrs"])


def test_corpus_every_audio_file_shown_and_identical(corpus_mount):
    m = corpus_mount
    audio = _corpus_audio()
    assert len(audio) > 50
    shown = H.track_files(m.path)
    assert m.proc.poll() is None, "the daemon died"
    by_origin = {}
    for rel in shown:
        origin = os.getxattr(m.p(rel), "user.musicfs.origin").decode()
        assert origin.startswith("local:"), (rel, origin)
        by_origin.setdefault(origin[len("local:"):], []).append(rel)
    want = {os.path.relpath(p, CORPUS) for p in audio}
    missing = sorted(want - set(by_origin))
    assert not missing, f"corpus files not in the mount: {missing}"
    twice = {k: v for k, v in by_origin.items() if len(v) > 1}
    assert not twice, f"shown more than once: {twice}"
    assert set(by_origin) == want
    assert len(shown) == len(audio)
    # and byte for byte
    wrong = [rel for origin, (rel,) in by_origin.items()
             if H.sha256_file(m.p(rel)) != H.sha256_file(CORPUS / origin)]
    assert not wrong, f"bytes differ: {wrong}"
    assert m.proc.poll() is None, "the daemon died"


def test_corpus_hash_multiset(corpus_mount):
    """Independent of xattrs: the multiset of the mount's track hashes is
    the multiset of the corpus's audio hashes."""
    m = corpus_mount
    got = collections.Counter(H.sha256_file(m.p(r))
                              for r in H.track_files(m.path))
    want = collections.Counter(H.sha256_file(p) for p in _corpus_audio())
    assert got == want


def _pictures(path):
    """Embedded pictures of path as mutagen sees them (may be none)."""
    import mutagen
    try:
        f = mutagen.File(path)
    except Exception:
        return []
    if f is None:
        return []
    import base64
    from mutagen.flac import Picture
    out = [p.data for p in getattr(f, "pictures", None) or []]
    for k, v in (f.tags or {}).items() if hasattr(f.tags, "items") else []:
        if str(k).startswith("APIC"):
            out.append(v.data)
        elif k == "covr":
            out += [bytes(c) for c in v]
        elif str(k).lower() == "metadata_block_picture":
            for b64 in v:
                try:
                    out.append(Picture(base64.b64decode(b64)).data)
                except Exception:
                    pass
    return out


def test_corpus_covers_are_pictures_of_their_tracks(corpus_mount):
    """Each cover's bytes are a picture of one of its folder's tracks: found
    verbatim in the origin file, or equal to what mutagen decodes."""
    m = corpus_mount
    covers = [p for p in H.list_tree(m.path)
              if H.COVER_RE.match(p.split("/")[-1])]
    for rel in covers:
        data = H.read_all(m.p(rel))
        assert len(data) == os.path.getsize(m.p(rel)) > 0, rel
        folder = rel.rsplit("/", 1)[0]
        origins = [os.getxattr(m.p(folder + "/" + n), "user.musicfs.origin")
                   .decode().split(":", 1)[1]
                   for n in os.listdir(m.p(folder))
                   if not H.COVER_RE.match(n)]
        assert any(data in (CORPUS / o).read_bytes()
                   or data in _pictures(CORPUS / o) for o in origins), rel
    assert m.proc.poll() is None
