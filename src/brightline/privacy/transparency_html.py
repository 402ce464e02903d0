"""The transparency report as one self-contained, printable HTML page (charts inlined as SVG)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from brightline.privacy.transparency import DEFINITIONS, Durations, ErrorRate, TransparencyReport
from brightline.privacy.transparency_charts import all_figures, svg

_CSS = """
@page { size: A4; margin: 15mm 14mm; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto;
       max-width: 820px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 22px 0 6px;
     border-bottom: 1px solid #bbb; padding-bottom: 2px; } h3 { font-size: 14px; margin: 14px 0 4px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d0d0; padding: 2px 8px; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
th, td.l { white-space: nowrap; } table.text td { white-space: normal; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }
.card { border: 1px solid #ccc; border-radius: 4px; padding: 6px 8px; flex: 1 1 0; }
.card b { display: block; font-size: 17px; white-space: nowrap; } .card span { color: #555; font-size: 11px; }
.note { color: #555; font-size: 12px; } figure { margin: 6px 0 12px; } img { width: 100%; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
dl { margin: 4px 0; } dt { font-weight: 600; } dd { margin: 0 0 4px 16px; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 10pt; } table { font-size: 9pt; }
  th, td { padding: 2px 5px; }
  section.page { break-before: page; }
  table, figure, .cards, dl { break-inside: avoid; } h2, h3 { break-after: avoid; }
}
"""


def ratio(value: float | None) -> str:
    """A ratio as a percentage (two significant digits below 0.1 %), or n/a."""
    if value is None:
        return "n/a"
    if 0 < value < 0.001:
        return f"{value * 100:.2g}%"
    return f"{value:.1%}"


def _cell(value: object) -> str:
    # Counts get thousands separators; everything else is shown as given.
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def duration(seconds: float | None) -> str:
    """Seconds in the largest sensible unit, or n/a."""
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _table(
    head: Sequence[str], rows: Iterable[Sequence[object]], left: int = 1, empty: str = "none", cls: str = ""
) -> str:
    """A table whose first ``left`` columns are text (left-aligned) and the rest numbers."""
    cells = [
        "<tr>"
        + "".join(
            f'<td class="l">{escape(str(c))}</td>' if i < left else f"<td>{escape(_cell(c))}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    ]
    if not cells:
        cells = [f'<tr><td class="l" colspan="{len(head)}">{escape(empty)}</td></tr>']
    header = "".join(
        f'<th class="l">{escape(h)}</th>' if i < left else f"<th>{escape(h)}</th>" for i, h in enumerate(head)
    )
    attrs = f' class="{cls}"' if cls else ""
    return f"<table{attrs}><tr>{header}</tr>{''.join(cells)}</table>"


def _counts(title: str, counts: Mapping[str, int]) -> str:
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return _table([title, "count"], rows)


def _rate_row(name: Sequence[str], r: ErrorRate) -> list[object]:
    return [
        *name,
        r.matches,
        r.reviewed,
        r.confirmed,
        r.false_positives_by_review,
        r.false_positives_by_appeal,
        r.false_positives,
        ratio(r.error_rate),
    ]


_RATE_HEAD = ["matches", "reviewed", "confirmed", "FP review", "FP appeal", "FP total", "error rate"]


def _rates(report: TransparencyReport) -> str:
    tech = _table(["technology", *_RATE_HEAD], [_rate_row([k], v) for k, v in sorted(report.by_technology.items())])
    banks = _table(
        ["hash list", "domain", *_RATE_HEAD],
        [_rate_row([k, v.domain or ""], v) for k, v in sorted(report.by_bank.items())],
        left=2,
    )
    overall = _table(["", *_RATE_HEAD], [_rate_row(["all"], report.overall)])
    return f"<h3>By technology</h3>{tech}<h3>By hash list</h3>{banks}<h3>Overall</h3>{overall}"


def _timing(label: str, d: Durations) -> list[object]:
    return [label, d.count, duration(d.mean_seconds), duration(d.median_seconds)]


def _figure(svg_bytes: bytes, alt: str) -> str:
    data = base64.b64encode(svg_bytes).decode("ascii")
    return f'<figure><img alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}"></figure>'


def _cards(report: TransparencyReport) -> str:
    items = [
        (f"{report.scans:,}", "media scanned"),
        (f"{report.matched:,}", "matched scans"),
        (f"{report.overall.reviewed:,}", "cases reviewed"),
        (f"{report.overall.confirmed:,}", "confirmed"),
        (ratio(report.overall.error_rate), "error rate"),
        (f"{report.reports_sent:,}", "reports sent"),
        (f"{report.appeals_submitted:,}", "appeals"),
    ]
    return (
        '<div class="cards">'
        + "".join(f"<div class=card><b>{v}</b><span>{t}</span></div>" for v, t in items)
        + "</div>"
    )


def render_html(report: TransparencyReport) -> str:
    """The whole report as one HTML document with no external assets."""
    figures = {name: svg(fig) for name, fig in all_figures(report).items()}
    p = report.period
    volume_rows: list[list[object]] = []
    for ct in sorted(set(report.scans_by_content_type) | set(report.matched_by_content_type)):
        scans, matched = report.scans_by_content_type.get(ct, 0), report.matched_by_content_type.get(ct, 0)
        volume_rows.append([ct, scans, matched, ratio(None if scans == 0 else matched / scans)])
    if volume_rows:
        overall = None if report.scans == 0 else report.matched / report.scans
        volume_rows.append(["all", report.scans, report.matched, ratio(overall)])
    cases = [
        ["match cases opened", report.cases_opened],
        ["reviewed (confirm or false positive)", report.overall.reviewed],
        ["confirmed", report.overall.confirmed],
        ["false positive", report.overall.false_positives_by_review],
        ["escalations", report.cases_escalated],
        ["opened and not yet reviewed", report.cases_undecided],
    ]
    destinations = sorted(set(report.reports_by_destination) | set(report.retractions_by_destination))
    reports = [
        [d, report.reports_by_destination.get(d, 0), report.retractions_by_destination.get(d, 0)] for d in destinations
    ]
    appeals = [
        ["submitted", report.appeals_submitted],
        ["upheld (decision overturned)", report.appeals_upheld],
        ["rejected", report.appeals_rejected],
        ["pending", report.appeals_pending],
    ]
    timings = [_timing("time to review", report.time_to_review), _timing("time to report", report.time_to_report)]
    definitions = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in DEFINITIONS.items())
    safeguards = "".join(f"<li>{escape(s)}</li>" for s in report.safeguards)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Transparency report {p.start} to {p.end}</title><style>{_CSS}</style></head>
<body>
<section>
<h1>Transparency report</h1>
<p class="sub">Processing to detect known child sexual abuse material by hash matching, {p.start} to {p.end}
(UTC days, both included). Generated {escape(report.generated_at.isoformat(timespec="seconds"))} from the audit
log and the aggregate scan counters only; no content is kept for this report.</p>
{_cards(report)}
<h2>1. Volume of media processed</h2>
{_table(["content type", "scans", "matched", "match rate"], volume_rows, empty="no scans in the period")}
{_figure(figures["volume"], "Scans and matched scans per month")}
</section>
<section class="page">
<h2>2. Matches by hash list, list domain and technology</h2>
<p>{report.matched_scans:,} scans matched at least one hash list (audit log).</p>
<div class="row">{_counts("hash list", report.matches_by_bank)}
{_counts("list domain", report.matches_by_domain)}
{_counts("technology", report.matches_by_technology)}</div>
{_figure(figures["matches"], "Matched scans by hash list and by list domain")}
</section>
<section class="page">
<h2>3. Human review and error rates</h2>
{_table(["cases", "count"], cases)}
{_rates(report)}
{_figure(figures["error_rates"], "Error rate by technology and by hash list")}
<p class="note">Error rate = (false positives found by review + appeals upheld) / cases reviewed; n/a when
nothing was reviewed. An upheld appeal turns a confirmed match into a false positive of its technology and list.</p>
</section>
<section class="page">
<h2>4. Reports</h2>
{_table(["destination", "sent", "retracted"], reports, empty="no reports in the period")}
<h2>5. Complaints and appeals</h2>
<p>Complaints reach brightline as appeals against a decision; an upheld appeal counts in the error rates.</p>
{_table(["appeals", "count"], appeals)}
<h2>6. Time to review and to report</h2>
{_table(["", "cases", "mean", "median"], timings)}
{_figure(figures["review_time"], "Histogram of the time to review")}
</section>
<section class="page">
<h2>7. Retention policy in force</h2>
{_table(["data", "kept"], [[r.what, r.kept] for r in report.retention_policy], left=2, cls="text")}
{_table(["deleted under retention in the period", "count"], sorted(report.retention_deleted.items()))}
<h2>8. Measures limiting errors and safeguarding data</h2>
<ul>{safeguards}</ul>
<h2>9. Definitions</h2>
<dl>{definitions}</dl>
</section>
</body></html>
"""
