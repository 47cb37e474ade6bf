"""Student text stays data in every output kind (autograder/reports/escape.py): rendered
markdown and parsed HTML hold no element the text tried to make, CSV cells start no
formula, terminal text carries no escape sequence."""
from __future__ import annotations

from html.parser import HTMLParser

import mistune
import pytest

from autograder.reports import escape

HOSTILE = [
    "<img src=x onerror=\"document.title='pwned'\">",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "![x](http://example.invalid/x.png)",
    "<http://example.invalid>",
    "**bold** _it_ `code` ~~gone~~",
    "# a heading",
    "1. a list",
    "- a list",
    "| a | table |\n| --- | --- |",
    "line\n\n<b>new block</b>",
    "&lt;img src=x onerror=alert(1)&gt;",
]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _tags(html_text: str) -> list[str]:
    parser = _Tags()
    parser.feed(html_text)
    return parser.tags


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_renders_as_the_text_itself(text):
    rendered = mistune.html(f"- **check** (0/1) FAILED: {escape.markdown(text)}\n")
    assert [t for t in _tags(rendered) if t not in ("ul", "li", "strong")] == [], rendered
    assert _tags(mistune.html(escape.markdown(text))) in ([], ["p"])


def test_markdown_escaping_is_needed():
    # Without escaping the same texts do make elements: the test above can fail.
    made = [t for text in HOSTILE for t in _tags(mistune.html(text)) if t != "p"]
    assert {"img", "a", "script", "strong", "h1", "ol", "table"} <= set(made)


def test_markdown_keeps_ordinary_messages_readable():
    text = "expected shape (7, 1), found (7,); differs by up to 0.25"
    assert escape.markdown(text) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_html_makes_no_element(text):
    assert _tags(f"<p>{escape.html(text)}</p>") == ["p"]
    assert _tags(f'<p title="{escape.html(text)}">x</p>') == ["p"]


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_start_no_formula(cell):
    assert escape.csv_cell(cell).startswith("'")


def test_csv_keeps_ordinary_cells():
    assert [escape.csv_cell(c) for c in ("alice", "lab08_1_perceptron", "3.5", "김민준")] == [
        "alice", "lab08_1_perceptron", "3.5", "김민준"]


@pytest.mark.parametrize("text", ["\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
                                  "\x9b2J", "bell\x07", "back\x08space"])
def test_terminal_text_carries_no_control_sequence(text):
    cleaned = escape.terminal(text)
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f for c in cleaned), repr(cleaned)


def test_terminal_keeps_lines_and_korean():
    assert escape.terminal("첫 줄\n\t둘째 줄") == "첫 줄\n\t둘째 줄"
