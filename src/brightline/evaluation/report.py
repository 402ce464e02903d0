"""The evaluation's outputs: report.json (every figure) and a self-contained, printable report.html."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any, cast

from brightline.evaluation.metrics import FMR_KEY

Doc = dict[str, Any]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto;
       max-width: 1150px; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px;
     border-bottom: 1px solid #ccc; padding-bottom: 3px; } h3 { font-size: 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
tr.group td { border-top: 2px solid #999; }
.warn { background: #fff4e0; border-left: 4px solid #e69500; padding: 6px 10px; }
.note { color: #555; font-size: 13px; } img { max-width: 100%; }
.good { background: #e3f4e1; } .mid { background: #fbf3d5; } .bad { background: #f8dcdc; }
@media print { body { margin: 0; max-width: none; font-size: 11px; }
  section, figure, table { break-inside: avoid; } h2 { break-after: avoid; } }
"""


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _rate(x: float) -> str:
    return "0" if x == 0 else f"{x:.2e}"


def _cls(x: float) -> str:
    return "good" if x >= 0.9 else "mid" if x >= 0.5 else "bad"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _summary_table(doc: Doc) -> str:
    methods = cast(dict[str, Doc], doc["methods"])
    head = "".join(f"<th>{escape(n)}</th>" for n in methods)

    def row(label: str, cells: list[str]) -> str:
        return f'<tr><td class="l">{label}</td>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    rows = [
        row("operating threshold", [str(r["threshold"]) for r in methods.values()]),
        row("recall, all copies", [_pct(r["recall_overall"]) for r in methods.values()]),
        row(
            "false-match rate (false matches / pairs)",
            [
                f"{_rate(r['false_match_rate'])} ({r['false_matches']:,} / {r['negative_pairs']:,})"
                for r in methods.values()
            ],
        ),
        row("&nbsp;&nbsp;known × distractor", [_rate(r["false_match_rate_distractors"]) for r in methods.values()]),
        row("&nbsp;&nbsp;copy × other known", [_rate(r["false_match_rate_known_other"]) for r in methods.values()]),
        row(
            "largest threshold with FMR ≤ 1e-6",
            [
                ("none" if r[FMR_KEY] is None else str(r[FMR_KEY])) + ("" if r["fmr_1e-6_resolved"] else " *")
                for r in methods.values()
            ],
        ),
        row("recall at that threshold", [_pct(r["recall_at_fmr_1e-6"]) for r in methods.values()]),
    ]
    note = ""
    if not all(r["fmr_1e-6_resolved"] for r in methods.values()):
        pairs = max(r["negative_pairs"] for r in methods.values())
        note = (
            f'<p class="note">* Too few pairs to resolve 1e-6: {pairs:,} negative pairs allow no false match at '
            "1e-6, so this is the largest threshold with <em>no</em> false match; "
            "a real 1e-6 needs ≥ 1,000,000 pairs.</p>"
        )
    return f'<table><tr><th class="l">method</th>{head}</tr>{"".join(rows)}</table>{note}'


def _recall_table(doc: Doc) -> str:
    methods = cast(dict[str, Doc], doc["methods"])
    names = list(methods)
    first = cast(dict[str, dict[str, float]], methods[names[0]]["recall"])
    head = "".join(f"<th>{escape(n)} recall</th><th>median</th>" for n in names)
    body = []
    for transform, by_strength in first.items():
        for i, strength in enumerate(by_strength):
            cells = []
            for n in names:
                r = methods[n]["recall"][transform][strength]
                med = methods[n]["median_score"][transform][strength]
                cells.append(f'<td class="{_cls(r)}">{_pct(r)}</td><td>{med:g}</td>')
            group = ' class="group"' if i == 0 else ""
            name = escape(transform) if i == 0 else ""
            body.append(
                f'<tr{group}><td class="l">{name}</td><td class="l">{escape(strength)}</td>{"".join(cells)}</tr>'
            )
    return f'<table><tr><th class="l">transform</th><th class="l">strength</th>{head}</tr>{"".join(body)}</table>'


def _closest_table(result: Doc) -> str:
    rows = "".join(
        f'<tr><td>{c["score"]}</td><td class="l">{escape(c["query"])}</td><td class="l">{escape(c["known"])}</td></tr>'
        for c in result["closest_negatives"]
    )
    if not rows:
        return '<p class="note">No negative pair scored within range.</p>'
    return f'<table><tr><th>score</th><th class="l">query</th><th class="l">known photo</th></tr>{rows}</table>'


def render_html(doc: Doc, figures: Mapping[str, bytes]) -> str:
    """The report as one HTML page with the PNG figures inlined as data URIs."""
    counts = doc["counts"]
    corpus = doc["corpus"]
    methods = cast(dict[str, Doc], doc["methods"])
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>brightline eval: {escape(', '.join(methods))}</title><style>{_CSS}</style></head><body>",
        "<h1>brightline accuracy evaluation</h1>",
        f'<p class="note">brightline {escape(doc["brightline_version"])} · seed {doc["seed"]} · '
        f"transforms <code>{escape(doc['transform_spec'])}</code> · min quality {doc['min_quality']}</p>",
        f"<p>Known list: <b>{counts['known']}</b> photos picked from <code>{escape(corpus['root'])}</code> "
        f"({counts['images_found']} images). Each known photo gets <b>{counts['edits']}</b> edited copies "
        f"({counts['copies']:,} copies in all), uploaded as JPEG. <b>{counts['distractors']}</b> other photos are "
        f"distractors. Negatives are every known × distractor pair and every copy × <em>other</em> known pair.</p>",
    ]
    for name, reason in doc["skipped_methods"].items():
        parts.append(f'<p class="warn">Method <b>{escape(name)}</b> skipped: {escape(reason)}</p>')
    if counts["hash_failures"]:
        parts.append(
            f'<p class="warn">{counts["hash_failures"]} hashing failures (a failed copy counts as a miss); '
            "see report.json <code>failures</code>.</p>"
        )
    parts += ["<section><h2>Summary</h2>", _summary_table(doc), "</section>"]
    parts += [
        "<section><h2>Recall by transform</h2>",
        '<p class="note">Recall at each method\'s operating threshold; median = median score of the copies '
        "against their original (lower is closer).</p>",
        _recall_table(doc),
        "</section>",
    ]
    if "heatmap" in figures:
        parts += ["<section><h2>Recall heatmap</h2>", _img(figures["heatmap"], "recall heatmap"), "</section>"]
    for name, result in methods.items():
        parts.append(f"<section><h2>{escape(name)}</h2>")
        if f"roc_{name}" in figures:
            parts.append(_img(figures[f"roc_{name}"], f"{name} ROC"))
        if f"recall_{name}" in figures:
            parts.append(_img(figures[f"recall_{name}"], f"{name} recall curves"))
        parts += ["<h3>Closest false pairs</h3>", _closest_table(result), "</section>"]
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in doc["timings"].items())
    parts.append(f'<p class="note">Timings: {escape(timings)}.</p></body></html>')
    return "\n".join(parts)


def write_outputs(out_dir: Path, doc: Doc, figures: Mapping[str, bytes]) -> list[Path]:
    """Write report.json, report.html and one PNG per figure; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in figures.items():
        path = out_dir / f"{name}.png"
        path.write_bytes(png)
        written.append(path)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(doc, figures), encoding="utf-8")
    return [html_path, json_path, *written]
