"""OUT/report/report.md and .html of a pipeline run: which model and artifact each target ships, with links to
the report of each model line (the figures there are the ones from validate and bench)."""
from __future__ import annotations

import html
from pathlib import Path

from vitedge.fileio import write_text_atomic


def _rows(outcomes: list[dict], lines: dict[str, str]) -> list[list[str]]:
    rows = []
    for o in outcomes:
        shipped = f"`{Path(o['primary']).name}`" if o["folder"] else f"no bundle: {o['reason']}"
        rows.append([o["target"], o["line"], shipped, f"[{o['line']}]({o['line']}/report.md)"])
    return rows


def write_index(folder: Path, outcomes: list[dict], reports: dict[str, str], title: str,
                nas: list[str] | None = None) -> Path:
    """report.md + report.html in `folder` (the stage's report folder, published as OUT/report)."""
    headers = ["target", "model line", "ships", "report"]
    rows = _rows(outcomes, reports)
    md = [f"# vitedge pipeline: {title}", "",
          "One bundle per target: the NAS variant picked for it (within [nas] max_drop of the model) or the "
          "model itself; the primary artifact is the fastest that passed every gate. Figures, gates, latency and "
          "Pareto plots are in each model line's report.", "",
          "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    if nas:
        md += ["", "## Architecture search", "", "The model was trained once as a supernet; per target (nas.json):", ""]
        md += [f"- {line}" for line in nas]
    md += ["", "Reports: " + ", ".join(f"[{name}]({name}/report.md)" for name in reports)]
    write_text_atomic(folder / "report.md", "\n".join(md) + "\n")
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c.replace('`', ''))}</td>" for c in r[:3])
                    + f"<td><a href=\"{r[1]}/report.html\">{html.escape(r[1])}</a></td></tr>" for r in rows)
    page = (f"<!doctype html><meta charset=utf-8><title>vitedge: {html.escape(title)}</title>"
            f"<h1>vitedge pipeline: {html.escape(title)}</h1><table border=1 cellpadding=4><tr>"
            + "".join(f"<th>{h}</th>" for h in headers) + f"</tr>{cells}</table>"
            + ("<h2>Architecture search</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in nas) + "</ul>"
               if nas else ""))
    write_text_atomic(folder / "report.html", page + "\n")
    return folder / "report.md"
