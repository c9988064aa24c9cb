"""The three reports of `vitedge validate`: report.json (every figure), junit.xml (CI), report.md (people)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from vitedge.errors import VitedgeError
from vitedge.fileio import write_json_atomic, write_text_atomic
from vitedge.validate.run import ArtifactReport, Validation
from vitedge.versions import tool_versions


def write_reports(validation: Validation, folder: Path) -> list[Path]:
    folder = Path(folder)
    paths = [folder / "report.json", folder / "junit.xml", folder / "report.md"]
    junit = junit_xml(validation)  # refuses a run whose gates applied to nothing, before anything is written
    write_json_atomic(paths[0], report_json(validation))
    write_text_atomic(paths[1], junit)
    write_text_atomic(paths[2], report_markdown(validation))
    return paths


def _artifact_doc(r: ArtifactReport) -> dict:
    a = r.artifact
    return {"id": a.id, "format": a.format, "precision": a.precision, "path": a.path, "sha256": a.sha256,
            "runtime": r.runtime, "executed_precision": r.executed_precision, "verdict": "pass" if r.passed else "fail",
            "metrics": r.metrics, "gates": r.checks}


def report_json(v: Validation) -> dict:
    return {"schema": "vitedge.validate", "version": 1, "verdict": "pass" if v.passed else "fail",
            "reference": v.reference, "data": v.data, "gates": [g.to_dict() for g in v.gates],
            "warnings": v.warnings, "tool_versions": tool_versions(),
            "artifacts": [_artifact_doc(r) for r in v.reports]}


def junit_xml(v: Validation) -> str:
    """One testcase per artifact x gate; a failure carries the measured value and the threshold; an optional gate
    that selected no artifact is a skipped testcase. A run with gates never yields a junit.xml without a testcase."""
    checks = [(r, c) for r in v.reports for c in r.checks]
    failures = sum(not c["passed"] for _, c in checks)
    tests = len(checks) + len(v.skipped)
    if v.gates and not tests:
        raise VitedgeError(f"no gate applied to any of the {len(v.reports)} artifact(s): a junit.xml without a test "
                           "case would pass CI on nothing", "check the gates' formats / precisions")
    suite = ET.Element("testsuite", name="vitedge.validate", tests=str(tests), failures=str(failures),
                       errors="0", skipped=str(len(v.skipped)))
    for r, c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"vitedge.{r.artifact.format}.{r.artifact.precision}",
                             name=f"{r.artifact.path}: {c['gate']}")
        if not c["passed"]:
            failure = ET.SubElement(case, "failure", type="GateFailed", message=_failure_text(r, c))
            failure.text = _failure_text(r, c)
    for gate in v.skipped:
        case = ET.SubElement(suite, "testcase", classname="vitedge.optional", name=f"optional gate: {gate.name}")
        ET.SubElement(case, "skipped", message="optional gate: selected no artifact")
    suites = ET.Element("testsuites", name="vitedge", tests=str(tests), failures=str(failures))
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _value(value) -> str:
    return "not measured (no labels?)" if value is None else f"{value:.6g}"


def _failure_text(r: ArtifactReport, c: dict) -> str:
    return (f"{r.artifact.path} ({r.artifact.format} {r.artifact.precision}): {c['figure']} = {_value(c['measured'])}, "
            f"threshold {c['comparison']} {c['threshold']:g}")


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _row(r: ArtifactReport) -> str:
    m, a = r.metrics, r.artifact
    drop = m.get("top1_drop_pp")
    ci = m.get("top1_drop_ci95_pp")
    interval = "[undefined: one image]" if not ci or None in ci else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
    drop_text = "-" if drop is None else f"{drop:+.2f} {interval}"
    worst = (f"{m['worst_class']}: {m['worst_class_drop_pp']:+.2f}" if "worst_class" in m else
             "not measured (few images per class)" if "worst_class_note" in m else "-")
    cells = [("PASS" if r.passed else "**FAIL**"), a.format, a.precision, r.executed_precision, f"`{a.path}`",
             _pct(m.get("top1")), drop_text, _pct(m.get("top1_agreement")), f"{m['mean_cosine']:.5f}",
             f"{m['min_cosine']:.5f}", "-" if "kl_divergence" not in m else f"{m['kl_divergence']:.2e}", worst]
    return "| " + " | ".join(cells) + " |"


def _db(value) -> str:
    return "identical" if value is None else f"{value:.1f}"


def _map_row(r: ArtifactReport) -> str:
    """A non-classifier's row: cosine, PSNR (pooled, worst image) and, for maps, the pixels that agree."""
    m, a = r.metrics, r.artifact
    cells = [("PASS" if r.passed else "**FAIL**"), a.format, a.precision, r.executed_precision, f"`{a.path}`",
             f"{m['mean_cosine']:.5f}", f"{m['min_cosine']:.5f}", _db(m.get("psnr_db")), _db(m.get("min_psnr_db")),
             _pct(m.get("pixel_agreement")), _pct(m.get("min_pixel_agreement"))]
    return "| " + " | ".join(cells) + " |"


CLASSIFIER_HEADER = ("| verdict | format | precision | runs as | file | top-1 | drop pp [95% CI] | agreement | "
                     "cosine mean | cosine worst | KL | worst class (drop pp) |")
OUTPUT_HEADER = ("| verdict | format | precision | runs as | file | cosine mean | cosine worst | PSNR dB | "
                 "worst PSNR dB | pixels agree | worst image's pixels agree |")


def report_markdown(v: Validation) -> str:
    failed = [(r, c) for r in v.reports for c in r.checks if not c["passed"]]
    lines = [f"# vitedge validate: {'PASS' if v.passed else 'FAIL'}", "",
             f"{len(v.reports)} artifact(s), {len(v.gates)} gate(s), {v.data['count']} images from "
             f"`{v.data['source']}` (sha256 {v.data['sha256'][:12]}), reference `{v.reference['name']}` FP32 "
             f"{v.reference.get('reference_runtime', 'PyTorch')}.",
             ""]
    if failed:
        lines += ["## Failures", "", "| artifact | gate | measured | threshold |", "|---|---|---|---|"]
        lines += [f"| `{r.artifact.path}` | {c['gate']} | {_value(c['measured'])} | {c['comparison']} "
                  f"{c['threshold']:g} |" for r, c in failed] + [""]
    classifier = v.reference.get("io", {}).get("task", "image-classification") == "image-classification"
    header, row = (CLASSIFIER_HEADER, _row) if classifier else (OUTPUT_HEADER, _map_row)
    lines += ["## Artifacts", "", header, "|" + "---|" * (header.count(" | ") + 1)]
    lines += [row(r) for r in sorted(v.reports, key=lambda r: r.passed)] + [""]
    lines += ["## Gates", ""] + [f"- {g.name}" for g in v.gates] + [""]
    if v.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in v.warnings] + [""]
    return "\n".join(lines)
