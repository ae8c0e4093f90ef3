"""The README shows config.example.toml and dist/musicfs.service verbatim.

Each must appear as a fenced code block whose content (the lines between
the opening and the closing fence) is the file, byte for byte, so that an
edit to one without the other fails here.  Also: the [logging] comments of
config.example.toml name every log subsystem of src/log/log.c.

These tests read files only: they need neither FUSE nor the binary.
"""

import difflib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@pytest.fixture(autouse=True)
def _requirements():
    """Replaces conftest's: no /dev/fuse or musicfs binary needed here."""
    yield


def fenced_blocks(text):
    """(info string, content) of each fenced code block of a Markdown text;
    content is the lines between the fences, each ending in a newline."""
    blocks = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i].rstrip("\n"))
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        body = []
        i += 1
        while i < len(lines):
            close = lines[i].rstrip("\n").strip()
            if (close.startswith(fence[0] * len(fence))
                    and set(close) == {fence[0]}):
                break
            body.append(lines[i])
            i += 1
        blocks.append((m.group("info").strip(), "".join(body)))
        i += 1
    return blocks


def check_shown(name):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    want = (ROOT / name).read_bytes()
    blocks = fenced_blocks(readme)
    if any(body.encode("utf-8") == want for _, body in blocks):
        return
    # the most similar block, to show what differs
    text = want.decode("utf-8")
    best = max((body for _, body in blocks), default="",
               key=lambda b: difflib.SequenceMatcher(None, b, text).ratio())
    diff = "".join(difflib.unified_diff(
        best.splitlines(keepends=True), text.splitlines(keepends=True),
        "README.md (closest block)", name))
    pytest.fail(f"README.md has no code block identical to {name}; copy "
                f"the file into it:\n{diff}", pytrace=False)


def test_fenced_blocks_parser():
    text = ("a\n```toml\nx = 1\n\ny = 2\n```\n"
            "````\n```\ninner\n```\n````\n~~~\nt\n~~~\n")
    assert fenced_blocks(text) == [("toml", "x = 1\n\ny = 2\n"),
                                   ("", "```\ninner\n```\n"),
                                   ("", "t\n")]


def test_readme_shows_config_example():
    check_shown("config.example.toml")


def test_readme_shows_service_unit():
    check_shown("dist/musicfs.service")


def test_logging_subsystems_documented():
    source = (ROOT / "src/log/log.c").read_text(encoding="utf-8")
    table = re.search(r"module_names\[MFS_LOGM_COUNT\] = \{(.*?)\};",
                      source, re.S)
    assert table, "module_names not found in src/log/log.c"
    names = re.findall(r'\] = "([a-z_]+)"', table.group(1))
    assert len(names) >= 10
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    logging = example[example.index("[logging]"):]
    logging = logging[:logging.index("\n[", 1)]
    missing = [n for n in names if not re.search(rf"\b{n}\b", logging)]
    assert not missing, (f"config.example.toml [logging] does not name the "
                         f"log subsystems {missing}")
