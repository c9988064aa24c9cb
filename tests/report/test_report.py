"""`vitedge report`: report.md and a self-contained report.html with per-target Pareto plots."""
import base64
import json
import re

import pytest

from vitedge.cli import main
from vitedge.errors import OutputExistsError
from vitedge.report import write_report
from vitedge.report.plot import pareto_front

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    md, page = write_report(*pipeline.inputs(device=True), out=out)
    return out, md.read_text(), page.read_text()


def test_markdown_table_plots_and_shipped(report, pipeline):
    out, md, _ = report
    rows = json.loads((pipeline.bench_device / "bench.json").read_text())["rows"]
    table = [line for line in md.splitlines() if line.startswith("| x86-cpu") or line.startswith("| jetson")]
    assert len(table) == len(rows) == 4
    for target in ("x86-cpu", "jetson-orin-nano"):
        assert f"![{target}: accuracy vs latency](plots/{target}.png)" in md
        assert (out / "plots" / f"{target}.png").read_bytes().startswith(PNG)
    assert md.count("**primary**") == 2 and "Shipped: `vit4mnist_int8.onnx` (onnx int8)" in md


def test_estimates_are_marked(report, pipeline):
    _, md, page = report
    rows = json.loads((pipeline.bench_device / "bench.json").read_text())["rows"]
    estimated = next(r for r in rows if r["obtained"] == "estimated")
    measured = next(r for r in rows if r["obtained"] == "measured on device")
    line = next(l for l in md.splitlines() if l.startswith(f"| {estimated['target']} ") and
                f"| {estimated['precision']} |" in l)
    assert f"*~{estimated['latency_ms_p50']:.4g} (est.)*" in line and "ESTIMATED" in line
    line = next(l for l in md.splitlines() if l.startswith(f"| {measured['target']} ") and
                f"| {measured['precision']} |" in l)
    assert "~" not in line and "measured on device" in line
    assert "~ marks an ESTIMATED latency" in md
    assert page.count('class="est"') == 4  # p50, p90, how obtained, speed-up of the one estimated row


def test_html_is_self_contained(report):
    _, md, page = report
    sources = re.findall(r"src='([^']*)'", page) + re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(base64.b64decode(s.split(",", 1)[1]).startswith(PNG) for s in sources)
    assert "<link" not in page and "http" not in page.split("<body>")[0]
    assert "a different model on a different device" in page and "a different model on a different device" in md


def test_refuses_to_overwrite_without_force(report, pipeline, capsys):
    out, _, _ = report
    with pytest.raises(OutputExistsError):
        write_report(*pipeline.inputs(device=True), out=out)
    quant, validation, bench = pipeline.inputs("int8_fails")
    code = main(["report", str(quant), "--validation", str(validation), "--bench", str(bench), "--out", str(out),
                 "--target", "x86-cpu", "--force"])
    assert code == 0 and "report.html" in capsys.readouterr().out
    md = (out / "report.md").read_text()
    assert "| FAIL |" in md and "jetson" not in md


def test_pareto_front():
    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0), (2.0, 93.0), (4.0, 96.0)]
    assert pareto_front(points) == [(0.5, 80.0), (1.0, 90.0), (2.0, 95.0), (4.0, 96.0)]
