"""The catalog serves the tree on a remount, before and whatever the scan
finds; an empty or unreachable origin never deletes the library."""

import os
import shutil
import signal
import subprocess
import time

import pytest

import mfs_helpers as H


def _first_mount(mount_factory, origin, cache):
    m = mount_factory([origin], cache_dir=cache)
    tree = H.list_tree(m.path)
    assert len(tree) > 50
    problems = H.stop_mount(m)
    assert not problems, problems
    return tree


@pytest.mark.parametrize("how", ["emptied", "replaced-by-empty-dir"])
def test_remount_serves_catalog_when_origin_is_empty(mount_factory,
                                                     origin_copy, tmp_path,
                                                     how):
    cache = tmp_path / "cache"
    tree = _first_mount(mount_factory, origin_copy, cache)
    if how == "emptied":
        for child in origin_copy.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        os.rename(origin_copy, tmp_path / "origin-away")
        origin_copy.mkdir()
    assert not any(origin_copy.iterdir())
    m = mount_factory([origin_copy], cache_dir=cache, wait_scan=False)
    t0 = time.monotonic()
    first = H.list_tree(m.path)
    elapsed = time.monotonic() - t0
    assert first == tree, "the remount does not list the previous tree"
    assert elapsed < H.scaled(2), f"listing took {elapsed:.2f} s"
    # after the scan of the empty origin: still everything
    m.wait_scanned()
    time.sleep(0.5)
    assert H.list_tree(m.path) == tree


def test_remount_shows_tree_before_scan(mount_factory, origin_copy, tmp_path,
                                        library):
    """The old tree is there as soon as the mount is: moving the origin away
    and back makes sure no scan could have produced what is listed."""
    cache = tmp_path / "cache"
    tree = _first_mount(mount_factory, origin_copy, cache)
    away = tmp_path / "origin-away"
    os.rename(origin_copy, away)
    origin_copy.mkdir()
    m = mount_factory([origin_copy], cache_dir=cache, wait_scan=False)
    track = H.expected_path_of("jp/tj1.mp3")
    assert os.path.isfile(m.p(track))
    assert H.list_tree(m.path) == tree
    m.wait_scanned()
    # the files come back: the tree is the same and reads work again
    os.rmdir(origin_copy)
    os.rename(away, origin_copy)
    assert H.wait_for(lambda: H.read_all(m.p(track)) ==
                      (library.root / "jp/tj1.mp3").read_bytes()
                      if os.path.exists(m.p(track)) else False,
                      H.scaled(3))
    assert H.list_tree(m.path) == tree


def test_remount_same_origin_same_tree(mount_factory, library, tmp_path):
    cache = tmp_path / "cache"
    tree = _first_mount(mount_factory, library.root, cache)
    m = mount_factory([library.root], cache_dir=cache, wait_scan=False)
    assert H.list_tree(m.path) == tree
    m.wait_scanned()
    assert H.list_tree(m.path) == tree
    assert H.list_tree(m.path) == set(library.expected)


def test_remount_missing_origin_keeps_tree(mount_factory, origin_copy,
                                           tmp_path):
    """The origin folder does not exist at all (a NAS not mounted yet): the
    mount still comes up, with the catalog's tree."""
    cache = tmp_path / "cache"
    tree = _first_mount(mount_factory, origin_copy, cache)
    os.rename(origin_copy, tmp_path / "origin-away")
    m = mount_factory([origin_copy], cache_dir=cache, wait_scan=False)
    assert H.list_tree(m.path) == tree
    time.sleep(1)
    assert H.list_tree(m.path) == tree


def test_remount_with_new_template_rebuilds_tree(mount_factory, library,
                                                 tmp_path):
    cache = tmp_path / "cache"
    _first_mount(mount_factory, library.root, cache)
    m = mount_factory([library.root], cache_dir=cache,
                      extra=["-t", "$genre/$artist/$title"])
    tree = H.list_tree(m.path)
    assert "Unknown Genre/Motörhead/Ace of Spades.flac" in tree
    assert "Unknown Genre/Artist A/A Song.flac" in tree
    assert not any(p.startswith("Motörhead/") for p in tree)
    # and back to the default
    assert not H.stop_mount(m)
    m = mount_factory([library.root], cache_dir=cache)
    assert H.list_tree(m.path) == set(library.expected)


def test_remount_after_daemon_killed(mount_factory, library, tmp_path):
    """SIGKILL leaves a dead mount and a stale lock/pid: after
    fusermount3 -u the same cache dir mounts again, with the catalog's tree."""
    cache = tmp_path / "cache"
    m = mount_factory([library.root], cache_dir=cache)
    tree = H.list_tree(m.path)
    m.proc.kill()
    m.proc.wait(H.scaled(10))
    m.expected_rc = -signal.SIGKILL     # killed on purpose
    assert subprocess.run(["fusermount3", "-u", str(m.path)]).returncode == 0
    m2 = mount_factory([library.root], cache_dir=cache, wait_scan=False)
    assert H.list_tree(m2.path) == tree
    m2.wait_scanned()
    assert H.list_tree(m2.path) == set(library.expected)
    rel = H.expected_path_of("jp/tj1.mp3")
    assert H.read_all(m2.p(rel)) == (library.root / "jp/tj1.mp3").read_bytes()


def test_changes_while_unmounted_are_picked_up(mount_factory, origin_copy,
                                               library, tmp_path):
    from mutagen.flac import FLAC
    cache = tmp_path / "cache"
    tree = _first_mount(mount_factory, origin_copy, cache)
    f = FLAC(origin_copy / "incoming/mh/03.flac")
    f["title"] = "Bomber"
    f.save()
    os.unlink(origin_copy / "solo/timeless.mp3")
    shutil.copyfile(library.extras / "new.flac", origin_copy / "new.flac")
    m = mount_factory([origin_copy], cache_dir=cache)
    want = set(tree)
    want -= {"Motörhead/Ace of Spades (1980) [FLAC]/03 - Shoot You in the "
             "Back.flac", "Solo/Timeless [MP3]/", "Solo/Timeless [MP3]/01 - T.mp3"}
    want |= {"Motörhead/Ace of Spades (1980) [FLAC]/03 - Bomber.flac",
             "Newcomer/", "Newcomer/Fresh (2024) [FLAC]/",
             "Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac"}
    got = H.wait_for(lambda: H.list_tree(m.path) == want, H.scaled(3))
    assert got, (sorted(H.list_tree(m.path) - want),
                 sorted(want - H.list_tree(m.path)))
