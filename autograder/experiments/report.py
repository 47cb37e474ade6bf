"""What `autograder experiments` writes into its --out folder:

| file | what |
| --- | --- |
| report.html | the page: per experiment the lecture's claim, how it ran it, what was measured, the findings with their verdicts, the plots (self-contained, like feedback.html: reports/pages.py) |
| report.md | the same as markdown, the plots as PNG files in plots/ |
| experiments.json | everything the pages show, as data: the run (submission, budget, device, times), per experiment its findings (values per seed, their summary, where they come from) and the plots' data |
| measurements.csv | every measurement: experiment, run, seed, metric, index, value; each finding's values are computed from these rows (findings.evaluate) |

Student text (the submission's folder name, intake's notes, the messages of exceptions their
code raised) is escaped for each output kind (reports/escape.py); plots draw numbers only.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from autograder.experiments import stats
from autograder.experiments.findings import Measurements
from autograder.reports import escape, pages, plots
from autograder.reports.files import write_atomic

HTML, MARKDOWN, DATA, MEASUREMENTS, PLOTS = "report.html", "report.md", "experiments.json", "measurements.csv", "plots"
TITLE = "The lecture's claims, reproduced"
RULES = (
    "A number of the lecture is reproduced when it lies within three of our seed-to-seed standard deviations "
    "of our mean, or within half a point of accuracy (a factor of 2 for a loss), whichever is wider.",
    "A comparison holds when it goes the lecture's way on every seed (all runs of one seed start from the same "
    "random state), does not hold when the mean difference goes the other way, and is unclear otherwise.",
    "A rate comes with its Wilson score bounds (one-sided, 95%); the claim is unclear while the bounds straddle "
    "the limit.",
    "Not comparable: the --quick budget is smaller than the lecture's, so its numbers are not held against the "
    "lecture's (its comparisons are). Not measured: the run failed or the lab was not found.",
)


def fmt(value: float | None) -> str:
    """A measured number as the reports show it: four significant digits."""
    return "" if value is None else f"{value:.4g}"


def measured_text(measured: dict | None) -> str:
    """A finding's measurement in words: mean ± standard deviation (n seeds, lowest to highest),
    or for a rate its count and bounds."""
    if not measured:
        return "not measured"
    if "rate" in measured:
        return (f"{measured['rate']:.3f} ({measured['count']} of {measured['n']} tries; 95% bounds "
                f"{measured['low']:.3f} to {measured['high']:.3f})")
    n = measured["n"]
    if n == 1:
        return f"{fmt(measured['mean'])} (1 seed)"
    return (f"{fmt(measured['mean'])} ± {measured['sd']:.2g} ({n} seeds; {fmt(measured['min'])} to "
            f"{fmt(measured['max'])})")


def _png_name(section: dict, i: int) -> str:
    return f"{section['number']}-{section['id']}-{i + 1}.png"


def _counts(section: dict) -> dict[str, int]:
    counts = {v: 0 for v in stats.VERDICTS}
    for f in section["findings"]:
        counts[f["verdict"]] += 1
    return counts


def _summary_words(section: dict) -> str:
    if section["status"] != "run":
        return "not run"
    counts = _counts(section)
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n)


def _run_line(data: dict) -> str:
    run = data["run"]
    return (f"budget {run['budget']['name']} ({run['seconds']:.0f} s on {run['machine']}, device {run['device']}, "
            f"{run['workers']} workers, torch {run['torch']}, {run['started']})")


def markdown(data: dict) -> str:
    """report.md: the same content as report.html, the plots linked from plots/."""
    md = escape.markdown
    sub = data["submission"]
    lines = [f"# {TITLE}", "",
             f"On {md(sub['name'])}; {md(_run_line(data))}.", "",
             f"Budget: {md(data['run']['budget_text'])}.", "",
             "| # | experiment | verdicts |", "| --- | --- | --- |"]
    lines += [f"| {s['number']} | {md(s['title'])} | {md(_summary_words(s))} |" for s in data["sections"]]
    for note in sub["notes"]:
        lines += ["", f"Note: {md(note)}"]
    for s in data["sections"]:
        lines += ["", f"## {s['number']}. {md(s['title'])}", "",
                  f"**The lecture's claim.** {md(s['claim'])}", "",
                  f"**How the lecture ran it.** {md(s['lecture'])}", "",
                  f"**What was measured here.** {md(s['budget'])}", ""]
        if s["status"] != "run":
            lines += [f"Not run: {md(s['why'])}"]
            continue
        lines += ["| claim | lecture | measured | verdict |", "| --- | --- | --- | --- |"]
        for f in s["findings"]:
            # The numbers and the verdict are the kit's; the claim and why may hold student text.
            lines.append(f"| {md(f['claim'])} | {fmt(f['lecture'])} | {measured_text(f['measured'])} | "
                         f"**{f['verdict']}**: {md(f['why'])} |")
        if s.get("table"):
            table = s["table"]
            lines += ["", "| " + " | ".join(md(h) for h in table["head"]) + " |",
                      "| " + " | ".join("---" for _ in table["head"]) + " |"]
            lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in table["rows"]]
        for i, item in enumerate(s["plots"]):
            lines += ["", f"![{md(item.get('title', plots.TITLES[item['kind']]))}]({PLOTS}/{_png_name(s, i)})"]
        lines += ["", *(md(plots.CAPTIONS[k]) for k in dict.fromkeys(item["kind"] for item in s["plots"]))]
        for note in s["notes"]:
            lines += ["", f"Note: {md(note)}"]
    lines += ["", "## How to read the verdicts", ""] + [f"- {md(rule)}" for rule in RULES]
    lines += ["", f"The numbers come from `{MEASUREMENTS}` (one row per measurement) and `{DATA}` (each finding's "
                  "values, their summary and the rows they come from)."]
    return "\n".join(lines) + "\n"


def _finding_row(f: dict) -> list[str]:
    values = " ".join(f"{k}={fmt(v)}" for k, v in list(f["values"].items())[:12])
    lecture = f'<span class="nowrap">{escape.html(fmt(f["lecture"]))}</span>' if f["lecture"] is not None else ""
    return [escape.html(f["claim"]), lecture,
            f'<span title="{escape.html(values)}">{escape.html(measured_text(f["measured"]))}</span>',
            f'{pages.badge(f["verdict"])} <span class="message">{escape.html(f["why"])}</span>']


def html_page(data: dict, pngs: dict[tuple[int, int], bytes | None]) -> str:
    """report.html; `pngs` are the drawn plots by (section number, plot index)."""
    sub = data["submission"]
    body = [f"<h1>{escape.html(TITLE)}</h1>",
            f'<p class="meta">On <strong>{escape.html(sub["name"])}</strong>; {escape.html(_run_line(data))}.</p>',
            f'<p class="meta">Budget: {escape.html(data["run"]["budget_text"])}.</p>']
    body += [f'<div class="note">{escape.html(note)}</div>' for note in sub["notes"]]
    rows = [[str(s["number"]), f'<a href="#{escape.html(s["id"])}">{escape.html(s["title"])}</a>',
             " ".join(f'{pages.badge(v)}&nbsp;×{n}' for v, n in _counts(s).items() if n) if s["status"] == "run"
             else '<span class="muted">not run</span>'] for s in data["sections"]]
    body.append(pages.table(["#", "experiment", "verdicts"], rows, numeric={0}))
    for s in data["sections"]:
        part = [f'<section class="experiment" id="{escape.html(s["id"])}" data-experiment="{escape.html(s["id"])}">',
                f"<h2>{s['number']}. {escape.html(s['title'])}</h2>",
                f"<p><strong>The lecture's claim.</strong> {escape.html(s['claim'])}</p>",
                f"<p><strong>How the lecture ran it.</strong> {escape.html(s['lecture'])}</p>",
                f"<p><strong>What was measured here.</strong> {escape.html(s['budget'])}</p>"]
        if s["status"] != "run":
            part.append(f'<p class="muted">Not run: {escape.html(s["why"])}</p>')
        else:
            part.append(pages.table(["claim", "lecture", "measured", "verdict"],
                                    [_finding_row(f) for f in s["findings"]], numeric={1}, stacked=True))
            if s.get("table"):
                table = s["table"]
                part.append(pages.table(table["head"], [[escape.html(c) for c in row] for row in table["rows"]]))
            figures = []
            for i, item in enumerate(s["plots"]):
                alt = str(item.get("title") or plots.TITLES[item["kind"]])
                png = pngs.get((s["number"], i))
                picture = pages.image(png, alt) if png else '<p class="muted">(This plot could not be drawn.)</p>'
                figures.append(f"<figure>{picture}</figure>")
            if figures:
                kinds = dict.fromkeys(item["kind"] for item in s["plots"])
                part.append(f'<div class="plots">{"".join(figures)}</div>'
                            + "".join(f'<p class="caption">{escape.html(plots.CAPTIONS[k])}</p>' for k in kinds))
            part += [f'<div class="note">{escape.html(note)}</div>' for note in s["notes"]]
        part.append("</section>")
        body.append("\n".join(part))
    body.append("<h2>How to read the verdicts</h2><ul>" + "".join(f"<li>{escape.html(r)}</li>" for r in RULES)
                + f"</ul><p class=\"muted\">The numbers come from <code>{MEASUREMENTS}</code> (one row per "
                  f"measurement) and <code>{DATA}</code> (each finding's values, their summary and the rows they come "
                  "from), beside this page.</p>")
    return pages.page(TITLE, "\n".join(body))


def measurements_csv(m: Measurements) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["experiment", "run", "seed", "metric", "index", "value"])
    for e, r, seed, metric, index, value in m.rows:
        writer.writerow([e, r, seed, metric, index, repr(value)])
    return out.getvalue()


def write(out: Path, data: dict, m: Measurements) -> dict[str, Path]:
    """Every file into `out` (created when missing); returns their paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    pngs = {}
    (out / PLOTS).mkdir(exist_ok=True)
    for s in data["sections"]:
        for i, item in enumerate(s["plots"]):
            png = plots.png(item)
            pngs[(s["number"], i)] = png
            path = out / PLOTS / _png_name(s, i)
            if png:
                path.write_bytes(png)
            else:
                path.unlink(missing_ok=True)
    write_atomic(out / DATA, json.dumps(data, indent=1, allow_nan=False, ensure_ascii=False) + "\n")
    write_atomic(out / MEASUREMENTS, measurements_csv(m))
    write_atomic(out / MARKDOWN, markdown(data))
    write_atomic(out / HTML, html_page(data, pngs))
    return {name: out / name for name in (HTML, MARKDOWN, DATA, MEASUREMENTS)}
