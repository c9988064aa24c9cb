"""Real inputs for bundle and report tests, built once per session: vit4mnist ONNX FP32 + INT8 (100 calibration,
200 held-out images), validated three times (gates that everything passes; that INT8 fails; that nothing passes),
benchmarked on x86-cpu (measured here) and jetson-orin-nano (estimated), plus a copy with one Jetson row measured
on the device (an ingested trtexec log)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..conftest import REPO

TRTEXEC_LOG = REPO / "tests" / "targets" / "fixtures" / "trtexec_orin_fp16.log"
GATES = {
    "lenient": '[[gate]]\nmetric = "top1"\ntype = "max-drop"\nvalue = 10\n',
    "int8_fails": '[[gate]]\nmetric = "logits"\ntype = "min-cosine"\nvalue = 0.999999\nprecisions = ["int8"]\n',
    "all_fail": '[[gate]]\nmetric = "top1"\ntype = "max-drop"\nvalue = -1\n',
}


@dataclass(frozen=True)
class Pipeline:
    root: Path
    quant: Path  # artifacts.json folder
    validation: dict  # gates name -> validate report folder
    bench: Path  # x86-cpu measured, jetson-orin-nano estimated
    bench_device: Path  # the same, with jetson int8 measured on the device

    def inputs(self, gates: str = "lenient", device: bool = False) -> tuple[Path, Path, Path]:
        return self.quant, self.validation[gates], self.bench_device if device else self.bench


_BUILT: dict[str, Pipeline] = {}


def build(tmp_path_factory) -> Pipeline:
    """Built once, shared by tests/bundle and tests/report."""
    if "pipeline" not in _BUILT:
        _BUILT["pipeline"] = _build(tmp_path_factory.mktemp("pipeline"))
    return _BUILT["pipeline"]


def _build(root: Path) -> Pipeline:
    from vitedge.api import bench, quantize, validate
    from vitedge.targets.bench import ingest

    quantize("vit4mnist", "onnx", "int8", calib_samples=100, eval_samples=200, out=root / "quant", threads=2)
    reports = {}
    for name, text in GATES.items():
        (root / f"{name}.toml").write_text(text)
        validate(root / "quant", samples=200, gates=root / f"{name}.toml", report=root / f"validate_{name}",
                 threads=2)
        reports[name] = root / f"validate_{name}"
    bench(root / "quant", "x86-cpu,jetson-orin-nano", threads=1, out=root / "bench")
    shutil.copytree(root / "bench", root / "bench_device")
    log = root / "bench_device" / "jetson-orin-nano" / "logs" / "vit4mnist_int8_int8.trtexec.log"
    log.parent.mkdir(parents=True)
    shutil.copy(TRTEXEC_LOG, log)
    ingest(root / "bench_device" / "jetson-orin-nano", [log])
    return Pipeline(root, root / "quant", reports, root / "bench", root / "bench_device")
