"""Tags as extended attributes (--xattrs), and nothing without the flag."""

import errno
import os
import shutil

import mfs_helpers as H

TRACK_REL = "incoming/mh/02.flac"


def test_no_xattrs_without_flag(mounted):
    path = mounted.p(H.expected_path_of(TRACK_REL))
    err = H.errno_of(os.getxattr, path, "user.musicfs.title")
    assert err in (errno.EOPNOTSUPP, errno.ENOSYS), errno.errorcode.get(err)
    # asked again (the kernel may remember the first answer): still no value
    assert H.errno_of(os.getxattr, path, "user.musicfs.artist") is not None


def test_xattrs_of_a_track(mount_factory, library, tmp_path):
    second = tmp_path / "second"
    second.mkdir()
    shutil.copyfile(library.extras / "new.flac", second / "deep.flac")
    m = mount_factory([library.root, second], extra=["--xattrs"])
    path = m.p(H.expected_path_of(TRACK_REL))
    t = library.track(TRACK_REL)

    def get(name):
        return os.getxattr(path, "user.musicfs." + name).decode()

    assert get("title") == "Love Me Like a Reptile"
    assert get("artist") == "Motörhead"
    assert get("album") == "Ace of Spades"
    assert get("track") == "2"
    assert get("origin") == "local:" + TRACK_REL
    assert t.tags["title"] == get("title")
    names = os.listxattr(path)
    for n in ("title", "artist", "album", "track", "origin"):
        assert "user.musicfs." + n in names, names
    # the value of every listed name can be read
    for n in names:
        os.getxattr(path, n)
    # an unknown attribute: ENODATA
    assert H.errno_of(os.getxattr, path, "user.musicfs.nope") == errno.ENODATA

    # the second --origin is local-2
    other = m.p("Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac")
    assert os.getxattr(other, "user.musicfs.origin").decode() == \
        "local-2:deep.flac"
    assert os.getxattr(other, "user.musicfs.title").decode() == "Brand New"

    # Unicode and multi-disc values
    jp = m.p(H.expected_path_of("jp/tj2.mp3"))
    assert os.getxattr(jp, "user.musicfs.artist").decode() == "東京事変"
    assert os.getxattr(jp, "user.musicfs.title").decode() == "群青日和"
    d2 = m.p(H.expected_path_of("dbl/a/d2t1.flac"))
    assert os.getxattr(d2, "user.musicfs.disc").decode() == "2"
    assert os.getxattr(d2, "user.musicfs.track").decode() == "1"

    # folders carry no tags
    folder = m.p("Motörhead")
    assert H.errno_of(os.getxattr, folder, "user.musicfs.title") == \
        errno.ENODATA
