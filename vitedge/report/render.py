"""report.md and report.html from the same cells; estimated latencies are marked as estimates in both."""
from __future__ import annotations

import base64
import html

from vitedge.console import human_bytes
from vitedge.report.data import ReportData, Row, TargetSection

HEADERS = ["target", "format", "precision", "scheme", "size", "top-1", "drop pp", "gates", "p50 ms", "p90 ms",
           "how obtained", "x vs SAM3/T4", "bundle"]
OUTPUT_HEADERS = [h.replace("top-1", "cosine").replace("drop pp", "pixels agree") for h in HEADERS]  # no top-1


def headers(report: ReportData) -> list[str]:
    task = report.model.get("io", {}).get("task", "image-classification")
    return HEADERS if task == "image-classification" else OUTPUT_HEADERS


def _quality(row: Row) -> list[str]:
    """top-1 and its drop; for a non-classifier the output cosine and a map's pixel agreement."""
    if row.top1 is None and row.cosine is not None:
        return [f"{row.cosine:.5f}", "-" if row.pixels is None else f"{100 * row.pixels:.2f}%"]
    return ["-" if row.top1 is None else f"{100 * row.top1:.2f}%", _num(row.drop_pp, "+.2f")]
ESTIMATE_NOTE = ("~ marks an ESTIMATED latency: a roofline from the device's published peak compute and memory "
                 "bandwidth, scaled by this host's measured/estimated ratio; not a measurement (basis in bench.json).")


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def cells(row: Row) -> list[str]:
    """Plain-text cells; an estimated latency is written `~0.062 (est.)`."""
    mark = (lambda v: f"~{v} (est.)") if row.estimated else (lambda v: v)
    p50, p90 = _num(row.p50, ".4g"), _num(row.p90, ".4g")
    return [row.target, row.format, row.precision, row.scheme, human_bytes(row.bytes), *_quality(row),
            row.verdict.upper(),
            mark(p50) if row.p50 is not None else "-", mark(p90) if row.p90 is not None else "-",
            row.obtained.upper() if row.estimated else row.obtained,
            "-" if row.speedup is None else mark(f"{row.speedup:g}x"), row.role or "-"]


def _intro(report: ReportData) -> list[str]:
    model, data, base = report.model, report.data or {}, report.baseline
    return [f"Model `{model['name']}` ({model.get('parameters', '?')} parameters, id {model['id']}, weights sha256 "
            f"{str(model.get('weights_sha256'))[:12]}). Accuracy: `vitedge validate` on {data.get('count', '?')} "
            f"images of `{data.get('source', '?')}` (sha256 {str(data.get('sha256'))[:12]}); gates: "
            + "; ".join(f"{g['metric']} {g['type']} {g['value']:g}" for g in report.gates) + ".",
            f"Baseline: {base['model']} on {base['device']}, {base['latency_ms']:g} ms. {base['note']}"]


def _shipped_line(section: TargetSection) -> str:
    if section.shipped is None:
        return f"No bundle for {section.name}: {section.why_none}"
    s = section.shipped
    return f"Shipped: `{s.path}` ({s.format} {s.precision}), {section.primary_reason}."


def markdown(report: ReportData) -> str:
    lines = [f"# vitedge report: {report.model['name']}", ""] + [p + "\n" for p in _intro(report)]
    lines += ["## Benchmark", "", "| " + " | ".join(headers(report)) + " |", "|" + "---|" * len(HEADERS)]
    for section in report.sections:
        lines += ["| " + " | ".join(_md_cells(r)) + " |" for r in section.rows]
    lines += ["", ESTIMATE_NOTE, ""]
    for section in report.sections:
        lines += [f"## {section.name}", "", section.title, "", _shipped_line(section), ""]
        if section.plot:
            lines += [f"![{section.name}: accuracy vs latency]({section.plot})", ""]
    return "\n".join(lines)


def _md_cells(row: Row) -> list[str]:
    out = cells(row)
    if row.estimated:
        out[8], out[11] = f"*{out[8]}*", f"*{out[11]}*" if out[11] != "-" else "-"
    if row.role == "primary":
        out[-1] = "**primary**"
    return out


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}td.est{font-style:italic;color:#8a5a00;border-bottom:2px dashed #d9a100}
tr.fail td{color:#999}tr.primary td{font-weight:600;background:#fff6f6}img{max-width:100%}
.note{font-size:13px;color:#555}"""


def _html_row(row: Row) -> str:
    classes = " ".join(c for c in ("fail" if row.verdict == "fail" else "", row.role) if c)
    tds = []
    for i, cell in enumerate(cells(row)):
        if row.estimated and i in (8, 9, 10, 11):
            tds.append(f'<td class="est" title="{html.escape(row.basis)}">{html.escape(cell)}</td>')
        else:
            tds.append(f"<td>{html.escape(cell)}</td>")
    return f'<tr class="{classes}">' + "".join(tds) + "</tr>"


def html_page(report: ReportData, images: dict[str, bytes]) -> str:
    """A self-contained page: the plots are embedded as base64 PNG."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>vitedge report: {esc(report.model['name'])}"
             f"</title><style>{CSS}</style></head><body>", f"<h1>vitedge report: {esc(report.model['name'])}</h1>"]
    parts += [f"<p class='note'>{esc(p)}</p>" for p in _intro(report)]
    parts += ["<h2>Benchmark</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers(report)) + "</tr>"]
    parts += [_html_row(r) for s in report.sections for r in s.rows]
    parts += [f"</table><p class='note'>{esc(ESTIMATE_NOTE)}</p>"]
    for section in report.sections:
        parts += [f"<h2>{esc(section.name)}</h2><p>{esc(section.title)}</p><p>{esc(_shipped_line(section))}</p>"]
        if section.name in images:
            data = base64.b64encode(images[section.name]).decode("ascii")
            parts.append(f"<img alt='{esc(section.name)}: accuracy vs latency' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
