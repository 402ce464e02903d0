"""The transparency report as an A4 PDF: text pages, then chart pages (matplotlib's PdfPages, no extra dependency)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from brightline.privacy.transparency import DEFINITIONS, ErrorRate, TransparencyReport
from brightline.privacy.transparency_charts import CHARTS
from brightline.privacy.transparency_html import duration, ratio

_A4 = (8.27, 11.69)
_LINES_PER_PAGE = 62
_TOP, _STEP, _LEFT = 0.95, 0.0142, 0.08
_WRAP = 92

Line = tuple[str, str]  # (style, text): title, heading, text, or row (monospaced)


def _rows(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[Line]:
    """A monospaced table: the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in head], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    out = []
    for r in cells:
        text = r[0].ljust(widths[0]) + "".join(c.rjust(w + 2) for c, w in zip(r[1:], widths[1:], strict=True))
        out.append(("row", text))
    if not rows:
        out.append(("row", "(none)"))
    return [*out, ("text", "")]


def _wrapped(style: str, text: str) -> list[Line]:
    return [(style, part) for part in textwrap.wrap(text, _WRAP)] or [(style, "")]


def _rate_rows(report: TransparencyReport) -> list[Line]:
    head = ["", "matches", "reviewed", "confirmed", "FP review", "FP appeal", "error rate"]

    def row(name: str, r: ErrorRate) -> list[object]:
        return [
            name,
            r.matches,
            r.reviewed,
            r.confirmed,
            r.false_positives_by_review,
            r.false_positives_by_appeal,
            ratio(r.error_rate),
        ]

    tech = [row(k, v) for k, v in sorted(report.by_technology.items())]
    banks = [row(f"{k} ({v.domain})" if v.domain else k, v) for k, v in sorted(report.by_bank.items())]
    return [
        ("heading", "Error rate by technology"),
        *_rows(["technology", *head[1:]], tech),
        ("heading", "Error rate by hash list"),
        *_rows(["hash list (domain)", *head[1:]], banks),
        *_rows(["overall", *head[1:]], [row("all", report.overall)]),
    ]


def _lines(report: TransparencyReport) -> list[Line]:
    p = report.period
    types = sorted(set(report.scans_by_content_type) | set(report.matched_by_content_type))
    volume = [[t, report.scans_by_content_type.get(t, 0), report.matched_by_content_type.get(t, 0)] for t in types] + [
        ["all", report.scans, report.matched]
    ]
    destinations = sorted(set(report.reports_by_destination) | set(report.retractions_by_destination))
    return [
        ("title", "Transparency report"),
        *_wrapped(
            "text",
            f"{p.start} to {p.end} (UTC days, both included); generated "
            f"{report.generated_at.isoformat(timespec='seconds')} from the audit log and scan counters.",
        ),
        ("text", ""),
        ("heading", "1. Volume of media processed"),
        *_rows(["content type", "scans", "matched"], volume),
        ("heading", "2. Matches"),
        *_rows(["hash list", "matches"], sorted(report.matches_by_bank.items())),
        *_rows(["list domain", "matches"], sorted(report.matches_by_domain.items())),
        *_rows(["technology", "matches"], sorted(report.matches_by_technology.items())),
        ("heading", "3. Human review and error rates"),
        *_rows(
            ["cases", "count"],
            [
                ["opened", report.cases_opened],
                ["reviewed", report.overall.reviewed],
                ["confirmed", report.overall.confirmed],
                ["false positive", report.overall.false_positives_by_review],
                ["escalations", report.cases_escalated],
                ["not yet reviewed", report.cases_undecided],
            ],
        ),
        *_rate_rows(report),
        ("heading", "4. Reports"),
        *_rows(
            ["destination", "sent", "retracted"],
            [
                [d, report.reports_by_destination.get(d, 0), report.retractions_by_destination.get(d, 0)]
                for d in destinations
            ],
        ),
        ("heading", "5. Complaints and appeals"),
        *_rows(
            ["appeals", "count"],
            [
                ["submitted", report.appeals_submitted],
                ["upheld", report.appeals_upheld],
                ["rejected", report.appeals_rejected],
                ["pending", report.appeals_pending],
            ],
        ),
        ("heading", "6. Time to review and to report"),
        *_rows(
            ["", "cases", "mean", "median"],
            [
                [k, d.count, duration(d.mean_seconds), duration(d.median_seconds)]
                for k, d in (("review", report.time_to_review), ("report", report.time_to_report))
            ],
        ),
        ("heading", "7. Retention policy in force"),
        *[line for r in report.retention_policy for line in _wrapped("text", f"{r.what}: {r.kept}.")],
        *_rows(["deleted under retention", "count"], sorted(report.retention_deleted.items())),
        ("heading", "8. Measures limiting errors and safeguarding data"),
        *[line for s in report.safeguards for line in _wrapped("text", f"- {s}")],
        ("heading", "9. Definitions"),
        *[line for k, v in DEFINITIONS.items() for line in _wrapped("text", f"{k}: {v}")],
    ]


_STYLE = {
    "title": {"fontsize": 18, "fontweight": "bold"},
    "heading": {"fontsize": 12, "fontweight": "bold"},
    "text": {"fontsize": 9},
    "row": {"fontsize": 8.5, "family": "monospace"},
}


def _text_pages(lines: list[Line]) -> list[Figure]:
    pages = []
    for start in range(0, len(lines), _LINES_PER_PAGE):
        fig = Figure(figsize=_A4)
        y = _TOP
        for style, text in lines[start : start + _LINES_PER_PAGE]:
            fig.text(_LEFT, y, text, va="top", **_STYLE[style])  # type: ignore[arg-type]
            y -= _STEP * (1.6 if style in ("title", "heading") else 1.0)
        pages.append(fig)
    return pages


def _chart_pages(report: TransparencyReport) -> list[Figure]:
    """The charts two to a page, each in its own sub-figure of an A4 page."""
    names = list(CHARTS)
    pages = []
    for start in range(0, len(names), 2):
        fig = Figure(figsize=_A4, layout="constrained")
        grid = fig.add_gridspec(2, 1)
        subs = [fig.add_subfigure(grid[i, 0]) for i in range(2)]
        for sub, name in zip(subs, names[start : start + 2], strict=False):
            CHARTS[name][0](sub, report)
        pages.append(fig)
    return pages


def render_pdf(report: TransparencyReport) -> bytes:
    """The whole report as PDF bytes."""
    buf = io.BytesIO()
    # No creation date: the same report gives the same bytes.
    with PdfPages(buf, metadata={"Title": "Transparency report", "CreationDate": None}) as pdf:
        for fig in [*_text_pages(_lines(report)), *_chart_pages(report)]:
            pdf.savefig(fig)
    return buf.getvalue()
