"""Search through the mount (/.search/<query>/), the CLI (musicfs search,
musicfs collection) and the API (Search, SearchStream, collections), on a
library generated here with accents, typos to search with, and years.

Each expectation comes from the tags written below, not from the daemon:
a result folder holds "Artist - Title.ext" symlinks that resolve inside
the mount to the file with the origin's bytes.  One mount (with a config
file that defines two collections) serves the read-only tests; the tests
that change the origin or restart have mounts of their own.
"""

import errno
import json
import os
import shutil
import time

import pytest

import mfs_helpers as H
from grpc_helpers import api, pb, socket_target  # noqa: F401

grpc = pytest.importorskip("grpc")

_t = H._t
TRACKS = [
    _t("mh/overkill.flac", artist="Motörhead", album="Overkill",
       date="1979", track="1", title="Overkill", genre="Metal"),
    _t("mh/ace.flac", artist="Motörhead", album="Ace of Spades",
       date="1980", track="1", title="Ace of Spades", genre="Metal"),
    _t("met/battery.flac", artist="Metallica", album="Master of Puppets",
       date="1986", track="1", title="Battery", genre="Metal"),
    _t("met/puppets.mp3", artist="Metallica", album="Master of Puppets",
       date="1986", track="2", title="Master of Puppets", genre="Metal"),
    _t("live/battery.flac", artist="Metallica", album="Live Shit",
       date="1993", track="1", title="Battery", genre="Metal"),
    _t("sr/svefn.flac", artist="Sigur Rós", album="Ágætis byrjun",
       date="1999", track="2", title="Svefn-g-englar", genre="Post-Rock"),
    _t("bj/joga.mp3", artist="Björk", album="Homogenic", date="1997",
       track="2", title="Jóga", genre="Electronic"),
    _t("dp/omt.flac", artist="Daft Punk", album="Discovery", date="2001",
       track="1", title="One More Time", genre="Electronic"),
    _t("loose/demo tape.flac"),
]
NEWCOMER = _t("new.flac", artist="Newcomer", album="Fresh", date="2024",
              track="1", title="Brand New", genre="Pop")
OLD = "mh/overkill.flac"        # its mtime is two years back
CONFIG = """\
[[collections]]
name = "Heavy"
query = "genre:metal AND year:[* TO 1989]"

[[collections]]
name = "Metallica"
query = "metallica"
"""


def link_name(t):
    return f"{t.tags['artist']} - {t.tags['title']}.{t.fmt}"


def by_rel(rel):
    return next(t for t in TRACKS if t.rel == rel)


def make_tracks(root, tracks):
    for i, t in enumerate(tracks):
        H.ffmpeg_track(t, root / t.rel, None, 300 + 41 * i)


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is missing")
    root = tmp_path_factory.mktemp("search") / "origin"
    make_tracks(root, TRACKS)
    old = time.time() - 2 * 365 * 86400
    os.utime(root / OLD, (old, old))
    return root


@pytest.fixture(scope="module")
def srch(origin, tmp_path_factory):
    """The origin mounted with CONFIG, first scan done; no error lines."""
    base = tmp_path_factory.mktemp("srch")
    cfg = base / "config.toml"
    cfg.write_text(CONFIG)
    m = H.start_mount(base / "mnt", [origin], base / "cache",
                      base / "musicfs.log", ["--config", str(cfg)])
    try:
        m.wait_scanned()
        yield m
    finally:
        problems = H.stop_mount(m)
        assert not problems, problems
        assert not m.bad_output(), m.bad_output()


@pytest.fixture
def m(srch, output_checker):
    output_checker.add("musicfs daemon (module mount)", srch.stderr)
    return srch


def ls(m, *parts):
    return sorted(os.listdir(m.p(os.path.join(*parts))))


def search_dir(m, query):
    return ls(m, ".search", query)


# ---- /.search ------------------------------------------------------------


def test_search_folder_lists_matches(m):
    # accents and case are ignored both ways
    assert search_dir(m, "motorhead") == [
        "Motörhead - Ace of Spades.flac", "Motörhead - Overkill.flac"]
    assert search_dir(m, "SIGUR RÓS") == ["Sigur Rós - Svefn-g-englar.flac"]
    assert search_dir(m, "joga") == ["Björk - Jóga.mp3"]
    # typos, with the fuzzy syntax
    assert search_dir(m, "motorhed~1") == search_dir(m, "motorhead")
    assert search_dir(m, "metalica~1 puppets") == [
        "Metallica - Battery.flac", "Metallica - Master of Puppets.mp3"]
    # fields, phrases, years and booleans
    assert search_dir(m, 'album:"master of puppets"') == [
        "Metallica - Battery.flac", "Metallica - Master of Puppets.mp3"]
    assert search_dir(m, "year:[1990 TO 1999]") == [
        "Björk - Jóga.mp3", "Metallica - Battery.flac",
        "Sigur Rós - Svefn-g-englar.flac"]
    assert search_dir(m, "genre:electronic AND NOT year:1997") == [
        "Daft Punk - One More Time.flac"]
    assert search_dir(m, "nothing matches this") == []
    # a track without tags: its file name stands for the title
    assert search_dir(m, "-genre:metal -genre:electronic -sigur") == [
        "Unknown Artist - demo tape.flac"]


def test_equal_names_are_numbered(m):
    names = search_dir(m, "battery")
    assert names == ["Metallica - Battery (2).flac",
                     "Metallica - Battery.flac"]
    targets = {os.readlink(m.p(f".search/battery/{n}")) for n in names}
    assert len(targets) == 2


def test_symlinks_resolve_inside_the_mount(m, origin):
    folder = m.p(".search/metal OR electronic OR sigur")
    names = os.listdir(folder)
    assert len(names) == 8
    mount = os.path.realpath(m.path)
    for name in names:
        link = folder / name
        target = os.readlink(link)
        assert target.startswith("../../") and not target.startswith("/")
        real = os.path.realpath(link)
        assert real.startswith(mount + "/"), (name, real)
        assert not os.path.islink(real) and os.path.isfile(real)
        st = os.lstat(link)
        assert st.st_size == len(os.fsencode(target))
    # the same bytes as the origin file, through the link
    for rel in ("mh/ace.flac", "met/puppets.mp3", "sr/svefn.flac"):
        t = by_rel(rel)
        got = H.sha256_file(folder / link_name(t))
        assert got == H.sha256_file(origin / rel), rel


def test_search_root(m):
    # not listed (walkers stay out), but there; it lists nothing
    assert ".search" not in os.listdir(m.path)
    assert os.path.isdir(m.p(".search"))
    assert os.listdir(m.p(".search")) == []
    assert os.path.isdir(m.p(".search/any name at all"))
    with pytest.raises(OSError) as e:
        os.mkdir(m.p(".search/x/y"))
    assert e.value.errno in (errno.EROFS, errno.EACCES)


def test_bad_query_is_einval_and_logged(m):
    with pytest.raises(OSError) as e:
        os.listdir(m.p(".search/year:[1980 TO"))
    assert e.value.errno == errno.EINVAL
    assert H.wait_for(lambda: "bad query 'year:[1980 TO' in /.search: "
                      "column" in m.stderr(), H.scaled(2)), \
        m.stderr()[-2000:]
    with pytest.raises(OSError) as e:
        os.stat(m.p(".search/" + "x" * 257))
    assert e.value.errno in (errno.EINVAL, errno.ENAMETOOLONG)


# ---- collections ---------------------------------------------------------


def test_builtin_collections(m):
    top = os.listdir(m.path)
    for name in H.BUILTIN_COLLECTIONS:
        assert name in top
    assert ls(m, "80s Music") == [
        "Metallica - Battery.flac", "Metallica - Master of Puppets.mp3",
        "Motörhead - Ace of Spades.flac"]
    assert ls(m, "90s Music") == search_dir(m, "year:[1990 TO 1999]")
    # every track but the one whose file is two years old
    recent = ls(m, "Recently Added")
    assert "Motörhead - Overkill.flac" not in recent
    assert len(recent) == len(TRACKS) - 1
    link = m.p("80s Music/Motörhead - Ace of Spades.flac")
    assert os.readlink(link).startswith("../Motörhead/")
    assert H.sha256_file(link) == H.sha256_file(
        m.p("Motörhead/Ace of Spades (1980) [FLAC]/01 - Ace of Spades.flac"))


def test_config_collections_and_name_clash(m):
    top = os.listdir(m.path)
    assert "Heavy" in top
    assert ls(m, "Heavy") == [
        "Metallica - Battery.flac", "Metallica - Master of Puppets.mp3",
        "Motörhead - Ace of Spades.flac", "Motörhead - Overkill.flac"]
    # the artist keeps its name; the collection gets a suffix
    assert "Metallica" in top and "Metallica (collection)" in top
    albums = ls(m, "Metallica")
    assert "Live Shit (1993) [FLAC]" in albums
    assert all(os.path.isdir(m.p("Metallica/" + a)) and
               not os.path.islink(m.p("Metallica/" + a)) for a in albums)
    assert ls(m, "Metallica (collection)") == search_dir(m, "metallica")
    assert len(ls(m, "Metallica (collection)")) == 3


def test_collections_through_the_api(m, api, pb):  # noqa: F811
    c = api(m)
    msg = pb.msg
    assert not os.path.exists(m.p("Electronic"))    # a negative entry now
    made = c.stub.CreateCollection(msg.CreateCollectionRequest(
        name="Electronic", query="genre:electronic"), timeout=10)
    assert made.source == msg.COLLECTION_SOURCE_API and made.created_unix
    # shown at once: the root's listing and the name were invalidated
    assert "Electronic" in os.listdir(m.path)
    assert ls(m, "Electronic") == ["Björk - Jóga.mp3",
                                   "Daft Punk - One More Time.flac"]
    got = c.stub.ListCollections(msg.ListCollectionsRequest(), timeout=10)
    assert [(x.name, x.source) for x in got.collections] == [
        ("Recently Added", msg.COLLECTION_SOURCE_BUILTIN),
        ("80s Music", msg.COLLECTION_SOURCE_BUILTIN),
        ("90s Music", msg.COLLECTION_SOURCE_BUILTIN),
        ("Heavy", msg.COLLECTION_SOURCE_CONFIG),
        ("Metallica", msg.COLLECTION_SOURCE_CONFIG),
        ("Electronic", msg.COLLECTION_SOURCE_API)]
    # its tracks through Search
    r = c.stub.Search(msg.SearchRequest(collection="Electronic"), timeout=10)
    assert sorted(x.title for x in r.results) == ["Jóga", "One More Time"]
    for name, query, code in [
            ("electronic", "x", grpc.StatusCode.ALREADY_EXISTS),
            ("80s music", "x", grpc.StatusCode.ALREADY_EXISTS),
            ("a/b", "x", grpc.StatusCode.INVALID_ARGUMENT),
            (".hidden", "x", grpc.StatusCode.INVALID_ARGUMENT),
            ("Bad", "year:[1 TO", grpc.StatusCode.INVALID_ARGUMENT)]:
        with pytest.raises(grpc.RpcError) as e:
            c.stub.CreateCollection(msg.CreateCollectionRequest(
                name=name, query=query), timeout=10)
        assert e.value.code() == code, (name, e.value.details())
    with pytest.raises(grpc.RpcError) as e:
        c.stub.DeleteCollection(msg.DeleteCollectionRequest(
            name="90s Music"), timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    c.stub.DeleteCollection(msg.DeleteCollectionRequest(name="Electronic"),
                            timeout=10)
    assert "Electronic" not in os.listdir(m.path)
    assert not os.path.exists(m.p("Electronic"))
    with pytest.raises(grpc.RpcError) as e:
        c.stub.DeleteCollection(msg.DeleteCollectionRequest(
            name="Electronic"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


# ---- the API -------------------------------------------------------------


def test_search_rpc_pages_and_streams(m, api, pb):  # noqa: F811
    c = api(m)
    msg = pb.msg
    whole = c.stub.Search(msg.SearchRequest(query="genre:metal"), timeout=10)
    assert whole.total == 5 and len(whole.results) == 5
    assert {r.path for r in whole.results} == {
        "/" + os.path.relpath(os.path.realpath(m.p(f".search/metal/{n}")),
                              os.path.realpath(m.path))
        for n in search_dir(m, "metal")}
    assert all(r.rank > 0 for r in whole.results)
    ace = next(r for r in whole.results if r.title == "Ace of Spades")
    assert (ace.artist, ace.album, ace.year, ace.track) == (
        "Motörhead", "Ace of Spades", 1980, 1)
    pages = []
    for off in range(0, 6, 2):
        p = c.stub.Search(msg.SearchRequest(query="genre:metal", limit=2,
                                            offset=off), timeout=10)
        assert p.total == 5 and p.offset == off
        pages += [r.path for r in p.results]
    assert pages == [r.path for r in whole.results]
    streamed = [r.path for r in c.stub.SearchStream(
        msg.SearchRequest(query="genre:metal"), timeout=10)]
    assert streamed == pages
    assert len(list(c.stub.SearchStream(msg.SearchRequest(
        query="genre:metal", limit=3, offset=1), timeout=10))) == 3
    bad = msg.SearchRequest(query="year:[1980 TO")
    with pytest.raises(grpc.RpcError) as e:
        c.stub.Search(bad, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "column 14" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        list(c.stub.SearchStream(bad, timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "column 14" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        c.stub.Search(msg.SearchRequest(collection="Nope"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


# ---- the CLI -------------------------------------------------------------


def test_cli_search(m, run_musicfs, tmp_path):
    cache = ["--cache-dir", str(m.cache_dir)]
    res = run_musicfs(["search", "motorhead", "ace"] + cache)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ("Motörhead - Ace of Spades - 01 Ace of Spades  "
                          "(/Motörhead/Ace of Spades (1980) [FLAC]/"
                          "01 - Ace of Spades.flac)\n")
    res = run_musicfs(["search", "--json", "genre:metal", "--limit", "2"]
                      + cache)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 2
    assert all(os.path.isfile(m.p(r["path"].lstrip("/"))) for r in rows)
    assert all(r["artist"] in ("Motörhead", "Metallica") for r in rows)
    # the daemon's Search RPC (--endpoint) prints the same page as the
    # catalog read by the CLI itself (the default target)
    page = ["genre:metal OR electronic", "--limit", "3", "--offset", "2"]
    here = run_musicfs(["search"] + cache + page)
    rpc = run_musicfs(["search", "--endpoint", socket_target(m)] + page)
    assert here.returncode == rpc.returncode == 0, rpc.stderr
    assert here.stdout == rpc.stdout and len(here.stdout.splitlines()) == 3
    # a negative query after --
    res = run_musicfs(["search"] + cache + ["--", "-genre:metal",
                                            "-genre:electronic", "-sigur"])
    assert res.stdout.startswith("Unknown Artist - Unknown Album - demo "
                                 "tape.flac  ("), res.stdout
    res = run_musicfs(["search", "year:[1980", "TO"] + cache,
                      expect_error_lines=True)
    assert res.returncode == 2 and "column" in res.stderr, res.stderr
    res = run_musicfs(["search", "x", "--limit", "0"] + cache,
                      expect_error_lines=True)
    assert res.returncode == 2
    res = run_musicfs(["search", "x", "--cache-dir", str(tmp_path / "no")],
                      expect_error_lines=True)
    assert res.returncode == 3


def test_cli_collections(m, run_musicfs):
    cache = ["--cache-dir", str(m.cache_dir)]
    res = run_musicfs(["collection", "list"] + cache)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "QUERY"]
    assert lines[1].split()[:3] == ["Recently", "Added", "builtin"]
    assert "Heavy" in res.stdout and "config" in res.stdout
    res = run_musicfs(["collection", "create", "Sigur", "sigur", "ros"]
                      + cache)
    assert res.returncode == 0, res.stderr
    assert ls(m, "Sigur") == ["Sigur Rós - Svefn-g-englar.flac"]
    res = run_musicfs(["collection", "show", "Sigur", "--json"] + cache)
    assert json.loads(res.stdout)["title"] == "Svefn-g-englar"
    res = run_musicfs(["collection", "create", "Bad", "year:[1"] + cache,
                      expect_error_lines=True)
    assert res.returncode == 2
    res = run_musicfs(["collection", "delete", "Recently Added"] + cache,
                      expect_error_lines=True)
    assert res.returncode == 1 and "built in" in res.stderr
    res = run_musicfs(["collection", "delete", "Sigur"] + cache)
    assert res.returncode == 0, res.stderr
    assert "Sigur" not in os.listdir(m.path)


# ---- changes -------------------------------------------------------------


def test_new_file_found_within_two_seconds(mount_factory, origin, tmp_path,
                                           run_musicfs):
    root = tmp_path / "o"
    shutil.copytree(origin, root)
    mnt = mount_factory([root])
    assert search_dir(mnt, "newcomer") == []
    assert "Newcomer - Brand New.flac" not in ls(mnt, "Recently Added")
    staged = tmp_path / "staged"
    make_tracks(staged, [NEWCOMER])
    t0 = time.monotonic()
    os.rename(staged / NEWCOMER.rel, root / NEWCOMER.rel)
    found = H.wait_for(lambda: search_dir(mnt, "newcomer"), H.scaled(2))
    took = time.monotonic() - t0
    assert found == ["Newcomer - Brand New.flac"], f"not found in {took:.2f} s"
    print(f"new file found by /.search in {took:.3f} s")
    assert H.sha256_file(mnt.p(".search/newcomer/" + found[0])) == \
        H.sha256_file(root / NEWCOMER.rel)
    assert H.wait_for(lambda: "Newcomer - Brand New.flac" in ls(
        mnt, "Recently Added"), H.scaled(2))
    res = run_musicfs(["search", "brand", "new", "--cache-dir",
                       str(mnt.cache_dir)])
    assert "/Newcomer/Fresh (2024) [FLAC]/01 - Brand New.flac" in res.stdout
    # gone from the results when the file goes
    os.unlink(root / NEWCOMER.rel)
    assert H.wait_for(lambda: not search_dir(mnt, "newcomer"), H.scaled(3))


def test_api_collection_survives_a_restart(mount_factory, origin,
                                           run_musicfs):
    first = mount_factory([origin])
    res = run_musicfs(["collection", "create", "Keep", "artist:bjork",
                       "--cache-dir", str(first.cache_dir)])
    assert res.returncode == 0, res.stderr
    assert H.stop_mount(first) == []
    again = mount_factory([origin], cache_dir=first.cache_dir)
    assert ls(again, "Keep") == ["Björk - Jóga.mp3"]
