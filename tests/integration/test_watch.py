"""Changes in the origin show in the mount within 2 seconds (inotify)."""

import os
import shutil
import signal
import subprocess
import time

import pytest

import mfs_helpers as H

LIMIT = 2.0     # seconds, from the end of the change in the origin


def _within(pred, what, m):
    ok = H.wait_for(pred, H.scaled(LIMIT), interval=0.02)
    assert ok, (f"{what}: not seen within {LIMIT} s; stderr tail:\n"
                + m.stderr()[-2000:])


def _listed(m, rel):
    """rel is listed by its parent folder (not only found by lookup)."""
    parent, _, name = rel.rstrip("/").rpartition("/")
    try:
        return name in os.listdir(m.p(parent))
    except FileNotFoundError:
        return False


def _gone(m, rel):
    return not os.path.lexists(m.p(rel)) and not _listed(m, rel)


def _shown(m, rel):
    return os.path.exists(m.p(rel)) and _listed(m, rel)


def _xattr(m, rel, name):
    """user.musicfs.<name> of rel, or None."""
    try:
        return os.getxattr(m.p(rel), "user.musicfs." + name)
    except OSError:
        return None


def _content(m, rel):
    """The bytes of rel, or None while it does not exist."""
    try:
        return H.read_all(m.p(rel))
    except FileNotFoundError:
        return None


@pytest.fixture
def live(mount_factory, origin_copy):
    return mount_factory([origin_copy], extra=["--xattrs"])


def test_added_file_appears(live, library):
    target = "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"
    assert not os.path.exists(live.p("Newcomer"))
    assert "Newcomer" not in os.listdir(live.path)
    shutil.copyfile(library.extras / "new.flac", live.origin / "plain/new.flac")
    _within(lambda: _shown(live, target), "added file", live)
    assert H.read_all(live.p(target)) == \
        (library.extras / "new.flac").read_bytes()


def test_retagged_file_moves(live, library):
    from mutagen.flac import FLAC
    old = H.expected_path_of("incoming/mh/03.flac")
    new = "Motörhead/Ace of Spades (1980) [FLAC]/03 - Bomber.flac"
    assert _shown(live, old)
    f = FLAC(live.origin / "incoming/mh/03.flac")
    f["title"] = "Bomber"
    f.save()
    _within(lambda: _shown(live, new) and _gone(live, old), "re-tag", live)
    assert H.read_all(live.p(new)) == \
        (live.origin / "incoming/mh/03.flac").read_bytes()
    assert os.getxattr(live.p(new), "user.musicfs.title") == b"Bomber"


def test_retag_to_another_album(live, library):
    from mutagen.flac import FLAC
    old_album = "No Art/Plain (2002) [FLAC]/"
    new = "No Art/Fancy (2002) [FLAC]/01 - Bare.flac"
    f = FLAC(live.origin / "plain/p.flac")
    f["album"] = "Fancy"
    f.save()
    _within(lambda: _shown(live, new) and _gone(live, old_album),
            "re-tag to a new album", live)
    assert os.listdir(live.p("No Art")) == ["Fancy (2002) [FLAC]"]


@pytest.mark.parametrize("dest", [
    pytest.param("aaa/renamed.mp3", id="to-earlier-path"),
    pytest.param("zzz/renamed.mp3", id="to-later-path"),
])
def test_moved_file_follows(live, library, dest):
    rel = H.expected_path_of("solo/timeless.mp3")
    want = (library.root / "solo/timeless.mp3").read_bytes()
    (live.origin / dest).parent.mkdir()
    os.rename(live.origin / "solo/timeless.mp3", live.origin / dest)

    def moved():
        try:
            return H.list_tree(live.p("Solo/Timeless [MP3]")) == {
                "01 - T.mp3"} and os.getxattr(
                live.p(rel), "user.musicfs.origin") == ("local:" + dest).encode()
        except OSError:
            return False

    _within(moved, "moved file", live)
    assert H.read_all(live.p(rel)) == want


@pytest.mark.parametrize("dest", [
    pytest.param("Sleeve Moved", id="to-earlier-path"),
    pytest.param("the sleeve", id="to-later-path"),
])
def test_moved_folder_follows(live, library, dest):
    album = "Folder Art/Sleeve (2000) [MP3]"
    rels = {src: H.expected_path_of(src)
            for src in ("sleeve/s1.mp3", "sleeve/s2.mp3")}
    os.rename(live.origin / "sleeve", live.origin / dest)

    def followed():
        try:
            return sorted(os.listdir(live.p(album))) == [
                "01 - Outside.mp3", "02 - Inside.mp3", "cover.jpg"] and all(
                os.getxattr(live.p(p), "user.musicfs.origin")
                == f"local:{dest}/{src.split('/')[1]}".encode()
                for src, p in rels.items())
        except OSError:
            return False

    _within(followed, "moved folder", live)
    for src, p in rels.items():
        assert H.read_all(live.p(p)) == (library.root / src).read_bytes()
    assert H.read_all(live.p(album + "/cover.jpg")) == \
        (library.root / "sleeve/folder.jpg").read_bytes()


def test_removed_file_disappears(live):
    rel = H.expected_path_of("solo/timeless.mp3")
    assert _shown(live, rel)
    os.unlink(live.origin / "solo/timeless.mp3")
    _within(lambda: _gone(live, rel), "removed file", live)
    # its album folder, now empty, goes too; the artist stays (other album)
    _within(lambda: _gone(live, "Solo/Timeless [MP3]"), "empty album", live)
    assert _shown(live, "Solo/Loose Ends (2011) [FLAC]")


def test_removed_album_disappears(live):
    shutil.rmtree(live.origin / "jp")
    _within(lambda: _gone(live, "東京事変"), "removed folder", live)


def test_new_folder_with_files_appears(live, library):
    folder = live.origin / "new stuff" / "cd"
    folder.mkdir(parents=True)
    shutil.copyfile(library.extras / "folder1.mp3", folder / "a.mp3")
    shutil.copyfile(library.extras / "folder2.mp3", folder / "b.mp3")
    album = "Folder Band/Dropped In (2023) [MP3]"
    names = ["01 - First Drop.mp3", "02 - Second Drop.mp3"]
    _within(lambda: all(_shown(live, f"{album}/{n}") for n in names),
            "new folder", live)
    assert sorted(os.listdir(live.p(album))) == names
    assert H.read_all(live.p(f"{album}/{names[1]}")) == \
        (library.extras / "folder2.mp3").read_bytes()


def test_cover_file_added(live, library):
    album = "No Art/Plain (2002) [FLAC]"
    assert os.listdir(live.p(album)) == ["01 - Bare.flac"]
    jpg = library.image_bytes("green.jpg")
    (live.origin / "plain/cover.jpg").write_bytes(jpg)
    _within(lambda: _shown(live, album + "/cover.jpg"), "new cover.jpg", live)
    assert H.read_all(live.p(album + "/cover.jpg")) == jpg
    # and it goes away with the file
    os.unlink(live.origin / "plain/cover.jpg")
    _within(lambda: _gone(live, album + "/cover.jpg"), "removed cover", live)


def test_changed_content_is_read_fresh(live, library):
    """A file rewritten in place: the mount serves the new bytes, not the
    kernel's cached pages of the old ones."""
    from mutagen.flac import FLAC
    rel = H.expected_path_of("incoming/mh/02.flac")
    src = live.origin / "incoming/mh/02.flac"
    assert H.read_all(live.p(rel)) == src.read_bytes()   # now in the cache
    f = FLAC(src)
    f["comment"] = "x" * 5000
    f.save()
    want = src.read_bytes()
    _within(lambda: os.path.getsize(live.p(rel)) == len(want),
            "new size", live)
    assert H.read_all(live.p(rel)) == want


def _copy_retagged(src, dest, **tags):
    from mutagen.flac import FLAC
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    f = FLAC(dest)
    for k, v in tags.items():
        f[k] = v
    f.save()


def test_album_becomes_multi_disc(live):
    """A disc 2 track added to a single-disc album: every track of the album
    is renamed D-TT."""
    album = "Motörhead/Ace of Spades (1980) [FLAC]"
    _copy_retagged(live.origin / "incoming/mh/03.flac",
                   live.origin / "incoming/mh/bonus.flac",
                   discnumber="2", tracknumber="1", title="Bonus")
    want = ["1-01 - Ace of Spades.flac", "1-02 - Love Me Like a Reptile.flac",
            "1-03 - Shoot You in the Back.flac", "2-01 - Bonus.flac",
            "cover.jpg"]
    _within(lambda: sorted(os.listdir(live.p(album))) == want,
            "multi-disc renaming", live)
    assert not os.path.exists(live.p(album + "/01 - Ace of Spades.flac"))
    # and back when the disc 2 track goes
    os.unlink(live.origin / "incoming/mh/bonus.flac")
    want = ["01 - Ace of Spades.flac", "02 - Love Me Like a Reptile.flac",
            "03 - Shoot You in the Back.flac", "cover.jpg"]
    _within(lambda: sorted(os.listdir(live.p(album))) == want,
            "single-disc renaming", live)


def test_folder_spelling_follows_majority(live):
    """Boredoms (2 tracks) / BOREDOMS (1): adding two BOREDOMS tracks makes
    BOREDOMS the most common spelling, and the one folder is renamed."""
    for i in (4, 5):
        _copy_retagged(live.origin / "case/b3.flac",
                       live.origin / f"case/b{i}.flac", tracknumber=str(i),
                       title=f"Extra {i}")
    _within(lambda: "BOREDOMS" in os.listdir(live.path)
            and "Boredoms" not in os.listdir(live.path),
            "majority spelling", live)
    assert sorted(os.listdir(live.p("BOREDOMS/Super Roots (1993) [FLAC]"))) == [
        "01 - Ant.flac", "02 - Bee.flac", "03 - Cicada.flac",
        "04 - Extra 4.flac", "05 - Extra 5.flac"]
    assert not os.path.exists(live.p("Boredoms"))


def test_cover_follows_first_track(live, library):
    album = "Motörhead/Ace of Spades (1980) [FLAC]"
    assert H.read_all(live.p(album + "/cover.jpg")) == \
        library.image_bytes("red.jpg")
    os.unlink(live.origin / "incoming/mh/01.flac")
    os.unlink(live.origin / "incoming/mh/02.flac")
    _within(lambda: _content(live, album + "/cover.jpg") ==
            library.image_bytes("white.jpg"), "cover of the new first track",
            live)


def test_cover_follows_new_embedded_picture(live, library):
    from mutagen.flac import FLAC, Picture
    album = "Motörhead/Ace of Spades (1980) [FLAC]"
    assert H.read_all(live.p(album + "/cover.jpg")) == \
        library.image_bytes("red.jpg")
    f = FLAC(live.origin / "incoming/mh/01.flac")
    f.clear_pictures()
    pic = Picture()
    pic.type = 3
    pic.mime = "image/png"
    pic.data = library.image_bytes("purple.png")
    f.add_picture(pic)
    f.save()
    _within(lambda: os.path.exists(live.p(album + "/cover.png")) and
            not os.path.exists(live.p(album + "/cover.jpg")),
            "new cover type", live)
    assert H.read_all(live.p(album + "/cover.png")) == \
        library.image_bytes("purple.png")


def test_origin_root_vanishing_keeps_tree(live, tmp_path):
    """The origin root goes away while mounted (a NAS unmounted): the tree
    stays, as for an unreachable origin."""
    before = H.list_tree(live.path)
    os.rename(live.origin, tmp_path / "away")
    time.sleep(1.5)
    assert H.list_tree(live.path) == before
    os.rename(tmp_path / "away", live.origin)


def test_folder_moved_in_from_outside(live, library, tmp_path):
    """Files moved into the origin (no create event of their own)."""
    outside = tmp_path / "downloads" / "Fresh"
    outside.mkdir(parents=True)
    shutil.copyfile(library.extras / "new.flac", outside / "n.flac")
    os.rename(outside, live.origin / "Fresh")
    rel = "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"
    _within(lambda: _shown(live, rel), "folder moved in", live)
    assert H.read_all(live.p(rel)) == (library.extras / "new.flac").read_bytes()


def test_folder_moved_out(live, tmp_path):
    os.rename(live.origin / "jp", tmp_path / "jp-out")
    _within(lambda: _gone(live, "東京事変"), "folder moved out", live)


def test_new_file_in_renamed_folder(live, library):
    """A folder renamed in the origin is still watched under its new name:
    a file added to it afterwards appears, and reads from the right path."""
    os.rename(live.origin / "plain", live.origin / "zz-plain")
    old = "No Art/Plain (2002) [FLAC]/01 - Bare.flac"
    _within(lambda: os.getxattr(live.p(old), "user.musicfs.origin")
            == b"local:zz-plain/p.flac", "renamed folder", live)
    shutil.copyfile(library.extras / "new.flac",
                    live.origin / "zz-plain/new.flac")
    rel = "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"
    _within(lambda: _shown(live, rel), "file added to a renamed folder", live)
    assert os.getxattr(live.p(rel), "user.musicfs.origin") == \
        b"local:zz-plain/new.flac"
    assert H.read_all(live.p(rel)) == (library.extras / "new.flac").read_bytes()
    # and a change of a file in it is seen too
    from mutagen.flac import FLAC
    f = FLAC(live.origin / "zz-plain/p.flac")
    f["title"] = "Changed"
    f.save()
    _within(lambda: _shown(live, "No Art/Plain (2002) [FLAC]/01 - Changed.flac"),
            "re-tag in a renamed folder", live)


def test_new_file_in_subfolder_of_moved_in_folder(live, library, tmp_path):
    """A tree moved in from outside is watched at every level."""
    outside = tmp_path / "dl"
    (outside / "deep" / "er").mkdir(parents=True)
    os.rename(outside, live.origin / "dl")
    time.sleep(0.5)
    shutil.copyfile(library.extras / "new.flac",
                    live.origin / "dl/deep/er/n.flac")
    rel = "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"
    _within(lambda: _shown(live, rel), "file in a moved-in subfolder", live)


def test_collision_resolved_name_is_plain(live, library):
    """Two files with the same path, then one of them is re-tagged: the
    other one is shown under the plain name again, whichever got ' (2)'
    (both are tried in turn, so the result does not depend on scan order)."""
    from mutagen.flac import FLAC
    folder = "Twin/Same (2010) [FLAC]"
    assert sorted(os.listdir(live.p(folder))) == ["01 - Dup (2).flac",
                                                  "01 - Dup.flac"]
    for src in ("dup/one.flac", "dup/two.flac"):
        f = FLAC(live.origin / src)
        other = "01 - Other " + src[4:7] + ".flac"
        f["title"] = "Other " + src[4:7]
        f.save()
        _within(lambda: other in os.listdir(live.p(folder)),
                f"re-tag of {src}", live)
        time.sleep(0.3)
        assert sorted(os.listdir(live.p(folder))) == sorted(
            ["01 - Dup.flac", other])
        # restore
        f["title"] = "Dup"
        f.save()
        _within(lambda: len([n for n in os.listdir(live.p(folder))
                             if "Dup" in n]) == 2, "restore", live)
    # a removed file frees its name too
    for src in ("dup/one.flac", "dup/two.flac"):
        os.unlink(live.origin / src)
        _within(lambda: os.listdir(live.p(folder)) == ["01 - Dup.flac"],
                f"rm of {src}", live)
        other = "dup/two.flac" if src.endswith("one.flac") else "dup/one.flac"
        assert H.read_all(live.p(folder + "/01 - Dup.flac")) == \
            (live.origin / other).read_bytes()
        shutil.copyfile(library.root / src, live.origin / src)
        _within(lambda: len(os.listdir(live.p(folder))) == 2, "restore",
                live)


def test_same_size_rewrite_is_read_fresh(live, library):
    """Bytes changed in place, same size and tags (a repaired file): once
    seen, the mount serves the new bytes, not cached pages of the old."""
    rel = H.expected_path_of("incoming/mh/01.flac")
    src = live.origin / "incoming/mh/01.flac"
    old = src.read_bytes()
    assert H.read_all(live.p(rel)) == old        # in the page cache now
    st = src.stat()
    with open(src, "r+b") as f:                  # flip bytes near the end
        f.seek(len(old) - 5000)
        f.write(bytes(b ^ 0xFF for b in old[-5000:-1000]))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    new = src.read_bytes()
    assert new != old and len(new) == len(old)
    _within(lambda: H.read_all(live.p(rel)) == new, "rewritten bytes", live)


def test_atomic_replace_is_read_fresh(live, library):
    """A tagger writes a temporary file and renames it over the track."""
    from mutagen.flac import FLAC
    rel = H.expected_path_of("incoming/mh/02.flac")
    src = live.origin / "incoming/mh/02.flac"
    assert H.read_all(live.p(rel)) == src.read_bytes()
    tmp = live.origin / "incoming/mh/.02.flac.part"
    shutil.copyfile(src, tmp)
    f = FLAC(tmp)
    f["comment"] = "replaced"
    f.save()
    new = tmp.read_bytes()
    os.rename(tmp, src)
    _within(lambda: _xattr(live, rel, "comment") == b"replaced",
            "replaced file's tags", live)
    assert H.read_all(live.p(rel)) == new


def test_truncated_origin_file(live):
    """An origin file cut short while mounted: reads never return bytes the
    file does not have, and the size follows."""
    rel = H.expected_path_of("incoming/mh/01.flac")
    src = live.origin / "incoming/mh/01.flac"
    fd = os.open(live.p(rel), os.O_RDONLY)       # opened before the cut
    try:
        os.truncate(src, 100000)
        cut = src.read_bytes()
        got = H.read_all(live.p(rel))            # opened after the cut
        assert cut.startswith(got) or got == cut, len(got)
        tail = os.pread(fd, 65536, 200000)       # past the new end
        assert tail == b"", len(tail)
        assert os.pread(fd, 1000, 0) == cut[:1000]
    finally:
        os.close(fd)
    _within(lambda: os.path.getsize(live.p(rel)) == 100000, "new size", live)
    assert H.read_all(live.p(rel)) == cut
    assert live.proc.poll() is None


def test_busy_origin_converges_to_fresh_scan(live, library, mount_factory):
    """Readers walk and read the mount while the origin is re-tagged, added
    to and deleted from; once it settles, the tree is the one a fresh mount
    of the same origin (a new cache dir) shows, file for file."""
    import random
    import threading
    from mutagen.flac import FLAC
    origin = live.origin
    stop = time.monotonic() + H.scaled(5)
    errors = []
    writes = []

    def reader(i):
        rng = random.Random(i)
        while time.monotonic() < stop:
            for dirpath, _, files in os.walk(live.path):
                for n in files:
                    if rng.random() < 0.3:
                        try:
                            H.read_all(os.path.join(dirpath, n))
                        except FileNotFoundError:
                            pass        # removed meanwhile
                        except OSError as e:
                            errors.append(f"{n}: {e}")

    def writer():
        k = 0
        while time.monotonic() < stop:
            k += 1
            for rel in ("incoming/mh/02.flac", "case/b1.flac", "comp/02.flac",
                        "dbl/a/d2t2.flac"):
                f = FLAC(origin / rel)
                f["title"] = f"T{k} {rel[-7:-5]}"
                f.save()
            dest = origin / "adds" / f"n{k % 7}.flac"
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(library.extras / "new.flac", dest)
            f = FLAC(dest)
            f["title"] = f"Added {k % 7}"
            f.save()
            if k % 4 == 0:
                (origin / "adds" / f"n{(k + 3) % 7}.flac").unlink(
                    missing_ok=True)
            time.sleep(0.03)
        writes.append(k)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:10]
    assert writes and writes[0] > 10, "the writer did not run"
    assert live.proc.poll() is None
    fresh = mount_factory([origin])

    def same():
        return H.list_tree(live.path) == H.list_tree(fresh.path)

    H.wait_for(same, H.scaled(3))
    a, b = H.list_tree(live.path), H.list_tree(fresh.path)
    assert a == b, (sorted(a - b)[:20], sorted(b - a)[:20])
    for rel in sorted(a):
        if not rel.endswith("/"):
            assert H.read_all(live.p(rel)) == H.read_all(fresh.p(rel)), rel


def test_origin_filesystem_unmounted_keeps_tree(mount_factory, tmpfs_origin,
                                                library):
    """The origin's disk goes away and leaves its empty mount point folder:
    an unreachable origin, not a deleted library (DESIGN.md section 3)."""
    m = mount_factory([tmpfs_origin])
    before = H.list_tree(m.path)
    assert before == set(library.expected)
    res = subprocess.run(["umount", str(tmpfs_origin)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert not any(tmpfs_origin.iterdir())
    time.sleep(H.scaled(2))
    assert H.list_tree(m.path) == before


def test_tags_removed_falls_back_to_origin_name(live):
    from mutagen.flac import FLAC
    f = FLAC(live.origin / "plain/p.flac")
    f.delete()
    f.save()
    rel = "Unknown Artist/Unknown Album/p.flac"
    _within(lambda: _shown(live, rel) and _gone(live, "No Art"),
            "untagged file", live)
    assert H.read_all(live.p(rel)) == (live.origin / "plain/p.flac").read_bytes()


def _remount_tmpfs(origin, library):
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                          str(origin)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    shutil.copytree(library.root, origin, dirs_exist_ok=True)


NEW_TRACK = "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"


def test_origin_back_after_sighup(mount_factory, tmpfs_origin, library):
    """The origin's file system goes and comes back (with a new file):
    SIGHUP rescans it, and it is watched again afterwards."""
    m = mount_factory([tmpfs_origin])
    subprocess.run(["umount", str(tmpfs_origin)], check=True)
    time.sleep(0.5)
    _remount_tmpfs(tmpfs_origin, library)
    shutil.copyfile(library.extras / "new.flac", tmpfs_origin / "new.flac")
    os.kill(m.proc.pid, signal.SIGHUP)
    _within(lambda: _shown(m, NEW_TRACK), "rescan after SIGHUP", m)
    assert H.list_tree(m.path) >= set(library.expected)
    shutil.copyfile(library.extras / "folder1.mp3", tmpfs_origin / "f1.mp3")
    _within(lambda: _shown(m, "Folder Band/Dropped In (2023) [MP3]/"
                              "01 - First Drop.mp3"),
            "a file added after the origin came back", m)


def test_origin_back_is_noticed(mount_factory, tmpfs_origin, library,
                                tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[health]\ncheck_interval_secs = 1\n")
    m = mount_factory([tmpfs_origin], extra=["--config", str(cfg)])
    subprocess.run(["umount", str(tmpfs_origin)], check=True)
    time.sleep(1.5)
    _remount_tmpfs(tmpfs_origin, library)
    shutil.copyfile(library.extras / "new.flac", tmpfs_origin / "new.flac")
    # one check interval, then the scan
    ok = H.wait_for(lambda: _shown(m, NEW_TRACK), H.scaled(5))
    assert ok, "the file system came back, its new file is not listed"
    shutil.copyfile(library.extras / "folder1.mp3", tmpfs_origin / "f1.mp3")
    _within(lambda: _shown(m, "Folder Band/Dropped In (2023) [MP3]/"
                              "01 - First Drop.mp3"),
            "a file added after the origin came back", m)


def test_origin_emptied_while_mounted_keeps_tree(live):
    """Every file gone at once is an unhealthy origin, not a deleted
    library (DESIGN.md section 3)."""
    before = H.list_tree(live.path)
    for child in list(live.origin.iterdir()):
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    time.sleep(H.scaled(2))
    assert H.list_tree(live.path) == before
