#!/usr/bin/env python3
"""Classify images with the model of this bundle, on a CPU, and print the top-5 labels.

    python run.py IMAGE [IMAGE ...] [--artifact ID|FILE|FORMAT|PRECISION] [--threads N]

Reads manifest.json beside this file: the preprocessing (resize, centre crop, scale, normalize), the labels and
the artifacts. Runs the primary artifact unless --artifact names another, with its own runtime:
ONNX -> onnxruntime, OpenVINO IR -> openvino, TFLite -> ai_edge_litert (or tflite_runtime).
Needs numpy and Pillow plus that runtime (pip install numpy pillow onnxruntime | openvino | ai-edge-litert).
Self-contained: copied into each bundle by vitedge; it does not import vitedge.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
           "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
           "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING}


def resized_size(height: int, width: int, pre: dict) -> tuple[int, int]:
    """Size before the centre crop: the shorter side to `resize`, or (unequal sides) cover both target sides."""
    scale_h, scale_w = pre["resize"]
    if scale_h == scale_w:
        return (scale_h, int(scale_h * width / height)) if height <= width else (int(scale_w * height / width), scale_w)
    ratio = min(height / scale_h, width / scale_w)
    return round(height / ratio), round(width / ratio)


def _offset(source: int, target: int) -> int:
    return int(round((source - target) / 2.0)) if source >= target else -((target - source) // 2)


def preprocess(image: Image.Image, pre: dict) -> np.ndarray:
    """A decoded image -> 1 x C x H x W float32, as the manifest's `preprocessing` says."""
    channels, height, width = pre["input_size"]
    image = image.convert(pre["color"])
    if (image.height, image.width) != (height, width):
        new_h, new_w = resized_size(image.height, image.width, pre)
        if (new_h, new_w) != (image.height, image.width):
            image = image.resize((new_w, new_h), FILTERS[pre["interpolation"]])
        top, left = _offset(new_h, height), _offset(new_w, width)
        image = image.crop((left, top, left + width, top + height))
    array = np.asarray(image, dtype=np.uint8)
    chw = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    mean = np.asarray(pre["mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(pre["std"], dtype=np.float32).reshape(-1, 1, 1)
    x = (chw.astype(np.float32) / np.float32(255.0) - mean) / std
    return x[None].astype(np.float32)


def _onnx(path: Path, threads: int, options: dict):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def _openvino(path: Path, threads: int, options: dict):
    import openvino as ov

    # options: the INFERENCE_PRECISION_HINT the artifact was validated with (manifest "runtime_options")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, **options})
    request = compiled.create_infer_request()
    return lambda x: np.array(request.infer([x])[0])


def _tflite(path: Path, threads: int, options: dict):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        if np.dtype(inp["dtype"]).kind in "iu":  # integer input: quantize with the model's scale / zero point
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        if np.dtype(out["dtype"]).kind in "iu":
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y

    return run


RUNTIMES = {"onnx": _onnx, "openvino": _openvino, "tflite": _tflite}


def choose(manifest: dict, wanted: str | None) -> dict:
    """The primary artifact, or the first (fastest) whose id, file, format or precision is `wanted`."""
    artifacts = manifest["artifacts"]
    if wanted is None:
        return next(a for a in artifacts if a["id"] == manifest["primary"])
    for artifact in artifacts:
        names = (artifact["id"], artifact["path"], Path(artifact["path"]).name, artifact["format"],
                 artifact["precision"])
        if wanted in names:
            return artifact
    choices = ", ".join(f"{a['id']} ({a['path']})" for a in artifacts)
    sys.exit(f"error: no artifact {wanted!r} in this bundle; choose from: {choices}")


def top5(logits: np.ndarray, labels: list | None) -> list[tuple[str, float]]:
    z = logits.astype(np.float64).ravel()
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p)[:5]
    return [(labels[i] if labels else str(i), float(p[i])) for i in order]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", help="image files (any format Pillow reads)")
    parser.add_argument("--artifact", help="id, file, format or precision of the artifact to run (default: the primary)")
    parser.add_argument("--threads", type=int, default=1, help="runtime threads (default: 1)")
    parser.add_argument("--out", default="outputs",
                        help="folder for the maps / embeddings of a non-classifier (default: outputs)")
    args = parser.parse_args(argv)
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    artifact = choose(manifest, args.artifact)
    options = artifact.get("runtime_options") or {}
    run = RUNTIMES[artifact["format"]](HERE / artifact["path"], args.threads, options)
    print(f"{artifact['path']} ({artifact['format']} {artifact['precision']}, {artifact['role']})")
    for image_path in args.images:
        with Image.open(image_path) as image:
            output = run(preprocess(image, manifest["preprocessing"]))
        print(f"{image_path}: {describe(output, manifest, Path(args.out))}")
    return 0


def describe(output: np.ndarray, manifest: dict, out: Path) -> str:
    """Top-5 labels of logits; an embedding's size; a map saved as .npy + .png in `out`."""
    task = manifest.get("task", "image-classification")
    if task == "image-classification":
        return ", ".join(f"{label} {p:.1%}" for label, p in top5(output, manifest.get("labels")))
    if task == "feature-extraction":
        path = save_array(output[0], out, "embedding")
        return f"embedding of {output.size} values, norm {float(np.linalg.norm(output)):.4g}, saved to {path}"
    return save_map(output[0], out)


def save_array(value: np.ndarray, out: Path, kind: str) -> Path:
    """`out/<kind>-N.npy`, N counting up so several images keep theirs."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{kind}-{len(list(out.glob(f'{kind}-*.npy')))}.npy"
    np.save(path, value)
    return path


def save_map(value: np.ndarray, out: Path) -> str:
    """`value`: (channels, height, width) or (height, width). PNG: argmax over channels, or the channel min-max
    scaled to 0-255."""
    path = save_array(value, out, "map")
    if value.ndim == 3 and value.shape[0] > 1:
        picture = value.argmax(0).astype(np.uint8)
    else:
        plane = value.reshape(value.shape[-2:]).astype(np.float64)
        span = plane.max() - plane.min()
        scaled = np.zeros(plane.shape) if span == 0 else (plane - plane.min()) / span * 255
        picture = scaled.astype(np.uint8)
    Image.fromarray(picture).save(path.with_suffix(".png"))
    return f"map {list(value.shape)} saved to {path} and .png"


if __name__ == "__main__":
    sys.exit(main())
