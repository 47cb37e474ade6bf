"""What the HTML pages share (feedback.html, report.html): the frame, the style, images.

A page is one self-contained file: the style is inline, every image is a PNG in a data:
URI, nothing is fetched from a network, and a viewport meta tag lays it out for a phone.
Callers build the body from their own markup and escape.html() of every value that is
not the kit's own words; `page` escapes the title itself.
"""
from __future__ import annotations

import base64

from autograder.reports import escape

CSS = """
:root { --ok: #1e7d32; --bad: #b3261e; --warn: #9a6700; --muted: #5f6368; --line: #dadce0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Malgun Gothic", Roboto, sans-serif;
       line-height: 1.5; color: #202124; margin: 0 auto; max-width: 62rem; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; padding-top: 0.5rem; border-top: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
a { color: #1a57b5; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.92em;
       background: var(--soft); padding: 0 0.2em; border-radius: 3px; overflow-wrap: anywhere; }
.muted, .meta { color: var(--muted); font-size: 0.9rem; }
.total { font-size: 1.2rem; }
.score { font-weight: 600; white-space: nowrap; }
.badge { display: inline-block; padding: 0 0.5em; border-radius: 1em; font-size: 0.8rem; font-weight: 600;
         border: 1px solid currentColor; white-space: nowrap; vertical-align: middle; }
.passed, .graded { color: var(--ok); }
.failed, .missing { color: var(--bad); }
.error, .timeout, .oom, .ambiguous, .unreadable { color: var(--warn); }
.hidden-tag, .zero { color: var(--muted); }
.holds { color: var(--ok); }
.fails { color: var(--bad); }
.unclear { color: var(--warn); }
.not-comparable, .not-measured { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; }
td code, .nowrap { white-space: nowrap; overflow-wrap: normal; }
td ul { margin: 0; padding-left: 1.1rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td.num, th.num { text-align: right; white-space: nowrap; }
ol.checks { list-style: none; padding: 0; margin: 0; }
li.check { color: inherit; border: 1px solid var(--line); border-left: 5px solid var(--ok); border-radius: 4px;
           padding: 0.4rem 0.7rem; margin: 0.45rem 0; }
li.check.failed { border-left-color: var(--bad); }
li.check.error, li.check.timeout, li.check.oom { border-left-color: var(--warn); }
.check-head { display: flex; flex-wrap: wrap; gap: 0.2rem 0.6rem; align-items: baseline; }
.message { margin: 0.3rem 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.topic { margin: 0.3rem 0; font-size: 0.92rem; color: #3c4043; }
.note { background: #fff8e1; border-left: 4px solid var(--warn); padding: 0.3rem 0.6rem; margin: 0.3rem 0;
        overflow-wrap: anywhere; }
.plots { display: flex; flex-wrap: wrap; gap: 0.8rem; margin-top: 0.5rem; }
figure { margin: 0; flex: 1 1 22rem; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 0.85rem; color: var(--muted); margin-top: 0.2rem; }
.bar { display: inline-block; width: 6rem; height: 0.7rem; vertical-align: middle; margin-right: 0.4rem;
       border-radius: 2px; }
.caption { font-size: 0.85rem; color: var(--muted); margin: 0.3rem 0; }
details.collapsed summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.8rem; }
@media (max-width: 40rem) { body { padding: 0.6rem; } h1 { font-size: 1.3rem; } th, td { padding: 0.25rem 0.4rem; }
  table.stacked thead { display: none; }
  table.stacked, table.stacked tbody, table.stacked tr, table.stacked td { display: block; width: 100%; }
  table.stacked tr { border-bottom: 1px solid var(--line); padding: 0.35rem 0; }
  table.stacked td { border: none; padding: 0.1rem 0; text-align: left; white-space: normal; }
  table.stacked td:first-child { font-weight: 600; }
  table.stacked td:empty { display: none; }
  table.stacked td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); } }
"""


def page(title: str, body: str) -> str:
    """A whole HTML document: `title` (plain text, escaped here) and `body` (markup)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape.html(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        "<footer>Written by the DNN grading kit. This page is self-contained: it loads nothing from a network."
        "</footer>\n</body>\n</html>\n"
    )


def image(png: bytes, alt: str) -> str:
    """An <img> holding `png` in a data: URI; `alt` is plain text (escaped here)."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape.html(alt)}">'


STATUS_CLASSES = {"passed", "failed", "error", "timeout", "oom", "graded", "missing", "ambiguous", "unreadable"}
# An experiment's verdicts (autograder/experiments/stats.py) and their colours.
VERDICT_CLASSES = {"holds": "holds", "does not hold": "fails", "unclear": "unclear",
                   "not comparable": "not-comparable", "not measured": "not-measured"}


def badge(status: str) -> str:
    """A status word, or an experiment's verdict, in its colour; `status` may come from a
    results file, so it is escaped and only a known word gives a class."""
    css = status if status in STATUS_CLASSES else VERDICT_CLASSES.get(status, "error")
    return f'<span class="badge {css}">{escape.html(status)}</span>'


def bar(fraction: float) -> str:
    """A horizontal bar, green for `fraction` (0 to 1) of its width and pale red for the rest."""
    pct = f"{100 * min(max(fraction, 0.0), 1.0):.0f}%"
    return f'<span class="bar" style="background: linear-gradient(to right, #1e7d32 {pct}, #f1d3d0 {pct})"></span>'


def table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), stacked: bool = False) -> str:
    """A table in a scrolling wrapper; `head` is plain text, `rows` markup (escaped by the
    caller); the columns in `numeric` are right-aligned. `stacked`: on a phone each row
    becomes a block, each cell after the first labelled with its column's name."""
    def cls(i):
        return ' class="num"' if i in numeric else ""

    def label(i):
        return f' data-label="{escape.html(head[i])}"' if stacked and i > 0 else ""
    header = "".join(f"<th{cls(i)}>{escape.html(h)}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}{label(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>\n"
                   for r in rows)
    css = ' class="stacked"' if stacked else ""
    return (f'<div class="table-wrap"><table{css}><thead><tr>{header}</tr></thead>\n<tbody>\n{body}</tbody>'
            "</table></div>")
