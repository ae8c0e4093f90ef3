"""The mounted tree is what the path rules (DESIGN.md section 4) give."""

import collections
import os
import unicodedata

import mfs_helpers as H


def _diff(expected, got):
    missing = sorted(expected - got)
    extra = sorted(got - expected)
    return (f"missing from the mount ({len(missing)}): {missing[:30]}\n"
            f"unexpected in the mount ({len(extra)}): {extra[:30]}")


def test_whole_tree_matches_rules(mounted, library):
    expected = set(library.expected)
    got = H.list_tree(mounted.path)
    assert got == expected, _diff(expected, got)


def test_every_entry_has_right_type(mounted, library):
    for rel, e in library.expected.items():
        st = os.lstat(mounted.p(rel))
        if e.kind == "dir":
            assert os.path.isdir(mounted.p(rel)), rel
            assert st.st_mode & 0o777 == 0o555, rel
        else:
            assert os.path.isfile(mounted.p(rel)), rel
            assert st.st_mode & 0o777 == 0o444, rel
    for rel, e in library.expected.items():
        if e.kind == "track":
            rels = sorted(e.origins)
            sizes = {os.path.getsize(library.root / r) for r in rels}
            assert os.path.getsize(mounted.p(rel)) in sizes, rel


def test_unicode_names(mounted):
    top = os.listdir(mounted.path)
    assert "Motörhead" in top
    assert "東京事変" in top
    assert os.listdir(mounted.p("東京事変")) == ["教育 (2004) [MP3]"]
    assert sorted(os.listdir(mounted.p("東京事変/教育 (2004) [MP3]"))) == [
        "01 - 林檎の唄.mp3", "02 - 群青日和.mp3", "cover.png"]
    # every name is NFC, whatever the tags or origin file names were
    for rel in H.list_tree(mounted.path):
        for comp in rel.rstrip("/").split("/"):
            assert unicodedata.is_normalized("NFC", comp), repr(comp)


def test_untagged_files_fall_back(mounted):
    folder = mounted.p("Unknown Artist/Unknown Album")
    # the NFD origin name "Weird Näme.mp3" is shown in NFC
    assert sorted(os.listdir(folder)) == ["Weird Näme.mp3",
                                          "untitled demo.flac"]


def test_multi_disc_album(mounted):
    folder = mounted.p("The Band/Double Album (1999) [FLAC]")
    assert sorted(os.listdir(folder)) == [
        "1-01 - First Start.flac", "1-02 - First End.flac",
        "2-01 - Second Start.flac", "2-02 - Second End.flac", "cover.jpg"]
    # a disc number > 1 alone (no totals) makes the album multi-disc too
    assert sorted(os.listdir(mounted.p("Second Band/Two Parts [MP3]"))) == [
        "1-01 - Part One.mp3", "2-01 - Part Two.mp3"]
    # disc 1 of 1 is not multi-disc
    assert "01 - Ace of Spades.flac" in os.listdir(
        mounted.p("Motörhead/Ace of Spades (1980) [FLAC]"))


def test_compilation_stays_one_folder(mounted):
    top = os.listdir(mounted.path)
    for artist in ("Artist A", "Artist B", "Artist C"):
        assert artist not in top
    assert os.listdir(mounted.p("Various Artists")) == [
        "Now That's Music (2005) [FLAC]"]
    assert sorted(os.listdir(
        mounted.p("Various Artists/Now That's Music (2005) [FLAC]"))) == [
        "01 - A Song.flac", "02 - B Song.flac", "03 - C Song.flac",
        "cover.png"]


def test_same_path_shows_both_files(mounted, library):
    folder = mounted.p("Twin/Same (2010) [FLAC]")
    assert sorted(os.listdir(folder)) == ["01 - Dup (2).flac",
                                          "01 - Dup.flac"]
    got = sorted(H.sha256_file(folder / n) for n in os.listdir(folder))
    want = sorted(H.sha256_file(library.root / r)
                  for r in ("dup/one.flac", "dup/two.flac"))
    assert got == want


def test_case_variants_merge(mounted):
    top = os.listdir(mounted.path)
    assert "Boredoms" in top
    assert "BOREDOMS" not in top
    assert sorted(os.listdir(mounted.p("Boredoms/Super Roots (1993) [FLAC]"))) \
        == ["01 - Ant.flac", "02 - Bee.flac", "03 - Cicada.flac"]
    # Björk (NFC and NFD), Homogenic/HOMOGENIC: one folder each
    assert [n for n in top if H.fold(n) == H.fold("Björk")] == ["Björk"]
    assert os.listdir(mounted.p("Björk")) == ["Homogenic (1997) [FLAC]"]
    assert sorted(os.listdir(mounted.p("Björk/Homogenic (1997) [FLAC]"))) == [
        "01 - Hunter.flac", "02 - Jóga.flac", "03 - Unravel.flac"]


def test_hostile_tags_make_safe_names(mounted):
    assert sorted(os.listdir(mounted.p("AC_DC/What (1990) [MP3]"))) == [
        "01 - Who - Me.mp3"]
    assert os.listdir(mounted.p("CtrlArtist")) == ["Tab Album [FLAC]"]
    assert os.listdir(mounted.p("CtrlArtist/Tab Album [FLAC]")) == [
        "01 - Line Break.flac"]
    assert os.listdir(mounted.p("hidden")) == ["a_b_c_d_e'f_g [FLAC]"]
    assert os.listdir(mounted.p("hidden/a_b_c_d_e'f_g [FLAC]")) == [
        "01 - Re-Stage.flac"]
    assert os.listdir(mounted.p("_")) == ["[MP3]"]
    long_names = os.listdir(mounted.p("dash/Etc. [FLAC]"))
    assert len(long_names) == 2
    for n in long_names:
        assert n.endswith(".flac") and len(n.encode()) <= 255, n
    assert ("01 - " + "x" * 245 + ".flac") in long_names
    assert ("02 - " + "東" * 81 + ".flac") in long_names
    for rel in H.list_tree(mounted.path):
        for comp in rel.rstrip("/").split("/"):
            assert comp not in ("", ".", "..")
            assert not comp.startswith((".", "-", " ")), repr(comp)
            assert not comp.endswith((" ", ".")), repr(comp)
            assert not any(c in comp for c in '\\:<>"?*|'), repr(comp)
            assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
                           for c in comp), repr(comp)
            assert len(comp.encode()) <= 255


def test_missing_number_title_year(mounted):
    assert sorted(os.listdir(mounted.p("Solo"))) == [
        "Loose Ends (2011) [FLAC]", "Timeless [MP3]"]
    assert sorted(os.listdir(mounted.p("Solo/Loose Ends (2011) [FLAC]"))) == [
        "02 - raw take.flac", "No Number.flac"]


def test_readdir_larger_than_one_buffer(mount_factory, big_origin):
    root, names = big_origin
    m = mount_factory([root])
    folder = m.p("Big/Huge (2020) [FLAC]")
    assert os.listdir(m.path) == ["Big"]
    for attempt in range(2):        # cold, then from the kernel's cache
        listed = os.listdir(folder)
        dups = [n for n, c in collections.Counter(listed).items() if c > 1]
        assert not dups, f"listed more than once: {dups[:10]}"
        assert sorted(listed) == sorted(names), _diff(set(names), set(listed))
    # readdir with attributes (scandir) sees the same entries, all files
    with os.scandir(folder) as it:
        entries = list(it)
    assert sorted(e.name for e in entries) == sorted(names)
    assert all(e.is_file() for e in entries)
    # lookups of names near the end of the listing work
    for n in names[-3:]:
        assert os.path.getsize(folder / n) == os.path.getsize(
            root / "big" / ("t" + n.split(" - Track ")[1]))
