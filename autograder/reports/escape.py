"""Student text as data, never markup: one helper per output kind, used by every writer.

Anything a student controls (exception messages, returned strings, file and folder names,
notebook cell text) can reach markdown, HTML, CSV and the terminal. Each function below
turns such text into inert text of its output kind; writers call them on every value
that did not come from the kit itself.
"""
from __future__ import annotations

import html as _html
import re

# What can form inline markdown (CommonMark and GitHub's tables and strikethrough): code,
# emphasis, links and images (no link without its brackets), table cells. Escaped with a
# backslash; & < > become entities, so raw HTML and autolinks cannot start either.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]|~])")
# What forms a block at the start of a line: a heading, a list item, a setext underline.
_MARKDOWN_LINE_START = re.compile(r"^(\s*(?:\d+)?)([#=+-]|(?<=\d)[.)])")
# ECMA-48 control sequences (CSI ... final byte, OSC ... BEL/ST, and two-byte escapes) and
# every other C0/C1 control character but newline and tab.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP's CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def html(text: object) -> str:
    """Text for an HTML element or a quoted attribute value: & < > " ' as character references."""
    return _html.escape(str(text), quote=True)


def markdown(text: object) -> str:
    """Text for markdown, inline (a line, a table cell): no emphasis, link, code, heading,
    list, table or raw HTML can start in it. Newlines become spaces, so that the text stays
    within its line or cell."""
    text = terminal(str(text)).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text, count=1)


def csv_cell(value: object) -> str:
    """A CSV value a spreadsheet reads as text: a leading = + - @ (or tab, CR) gets a
    single quote before it, so that no formula runs; numbers the kit wrote are not student
    text and need no escaping."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def terminal(text: object) -> str:
    """Text for a terminal: escape sequences (colours, cursor moves, window titles, OSC
    hyperlinks) and other control characters removed; newlines and tabs kept."""
    return _CONTROL.sub("", _ANSI.sub("", str(text)))
