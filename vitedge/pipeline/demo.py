"""The built-in default behind `vitedge demo`: vit4mnist with the MNIST sets shipped in calib_data/, every format,
FP16 and INT8, three targets, a NAS variant for x86 (supernet trained 2 epochs); bundles and the report under OUT."""
from __future__ import annotations

from pathlib import Path

from vitedge.config import PipelineConfig, parse_config

DEMO = {
    "model": {"source": "vit4mnist"},
    "data": {"calib_samples": 300},  # calib_data/mnist_calib.npz (test 0-7999) and mnist_eval.npz (8000-9999)
    "nas": {"targets": ["x86-cpu"], "epochs": 2, "lr": 1e-3, "screen": 60, "finalists": 4},  # vit4mnist: small,
    # trained from scratch: it needs a far higher rate than the fine-tuning default (2e-5) to move in 2 epochs
    "export": {"formats": ["onnx", "openvino", "tflite"]},
    "quantize": {"precisions": ["fp16", "bf16", "int8"], "max_drop": 0.3},
    "bench": {"targets": ["x86-cpu", "jetson-orin-nano", "android-arm64"], "threads": 2},
}


def demo_config(out: str | Path, nas: bool = True) -> PipelineConfig:
    raw = {k: dict(v) for k, v in DEMO.items() if nas or k != "nas"}
    return parse_config({"out": str(Path(out).resolve()), **raw}, Path.cwd() / "vitedge-demo.toml")
