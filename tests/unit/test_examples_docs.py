"""docs/examples.rst and the examples agree: every ``examples/NN-*`` folder has its section there, showing its
screenshot, the screenshot is in ``docs/_static/examples/`` (``make screenshots`` puts it there), and nothing on the
page, or in that folder, names an example that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS = REPOSITORY / "docs"
PAGE = DOCS / "examples.rst"
SCREENSHOTS = DOCS / "_static" / "examples"
EXAMPLES = sorted(path.name for path in (REPOSITORY / "examples").glob("[0-9][0-9]-*") if path.is_dir())
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What "small" means for a committed screenshot: the window the browser test runs in, and the size of the file.
MAX_SIZE = (1280, 960)
MAX_BYTES = 200_000

# A section heading of the page, "NN-name: what it shows", with its underline.
HEADING = re.compile(r"^(?P<name>\d\d-[\w-]+): .+\n-{3,}$", re.MULTILINE)
IMAGE = re.compile(r"^\.\. image:: _static/examples/(?P<file>[^\s]+)$", re.MULTILINE)
MENTION = re.compile(r"examples/(?P<name>\d\d-[\w-]+)")


def sections() -> dict[str, str]:
    """Each example section of the page by the example's folder name, its text up to the next section."""
    text = PAGE.read_text()
    found = list(HEADING.finditer(text))
    ends = [match.start() for match in found[1:]] + [len(text)]
    return {match["name"]: text[match.end() : end] for match, end in zip(found, ends, strict=True)}


def pngSize(data: bytes) -> tuple[int, int]:
    """The width and height a PNG's header gives (the IHDR chunk comes first, after the signature)."""
    assert data.startswith(PNG_SIGNATURE), "not a PNG file"
    assert data[12:16] == b"IHDR", "a PNG file without its header first"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_there_are_examples_and_sections() -> None:
    assert EXAMPLES, "no examples/NN-* folders found"
    assert sections(), "no 'NN-name: ...' sections found on docs/examples.rst"


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_has_a_section_showing_its_screenshot(example: str) -> None:
    section = sections().get(example)
    assert section is not None, f"docs/examples.rst has no section '{example}: ...' for examples/{example}"
    shown = IMAGE.findall(section)
    assert shown == [f"{example}.png"], f"the section of {example} should show _static/examples/{example}.png"
    screenshot = SCREENSHOTS / f"{example}.png"
    assert screenshot.is_file(), f"{screenshot.relative_to(REPOSITORY)} is missing: run make screenshots"
    data = screenshot.read_bytes()
    width, height = pngSize(data)
    assert width <= MAX_SIZE[0], f"{screenshot.name} is {width}x{height}"
    assert height <= MAX_SIZE[1], f"{screenshot.name} is {width}x{height}"
    assert len(data) <= MAX_BYTES, f"{screenshot.name} has {len(data):,} bytes"


def test_the_page_names_no_example_that_does_not_exist() -> None:
    text = PAGE.read_text()
    named = set(sections()) | {match["name"] for match in MENTION.finditer(text)}
    named |= {Path(file).stem for file in IMAGE.findall(text)}
    assert sorted(named - set(EXAMPLES)) == []
    # Sections in the examples' order, one each.
    assert list(sections()) == [name for name in EXAMPLES if name in sections()]


def test_no_screenshot_is_left_from_an_example_that_is_gone() -> None:
    kept = sorted(path.stem for path in SCREENSHOTS.glob("*.png"))
    assert sorted(set(kept) - set(EXAMPLES)) == []


def test_the_checks_read_the_page_as_written(tmp_path: Path) -> None:
    """The heading and image patterns find what the page's sections look like."""
    text = (
        "Intro\n\n01-hello: a calculator\n------------------\n\n.. image:: _static/examples/01-hello.png\n"
        "   :alt: x\n\ntext ``examples/01-hello``\n\n02-next: more\n-------------\n\nno picture\n"
    )
    found = [match["name"] for match in HEADING.finditer(text)]
    assert found == ["01-hello", "02-next"]
    assert IMAGE.findall(text) == ["01-hello.png"]
    # The image's path names its example too, so a screenshot of a missing example is caught as a mention.
    assert [match["name"] for match in MENTION.finditer(text)] == ["01-hello", "01-hello"]
