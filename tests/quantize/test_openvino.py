"""OpenVINO quantization of the real vit4mnist: FP16 IR, int8 static (the QDQ route), NNCF int8 full-integer,
keep_float, NNCF accuracy control.

Calibration: the first 300 images of calib_data/mnist_calib.npz; evaluation: the 2,000 of calib_data/mnist_eval.npz.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")

from tests.conftest import CALIB_DATA  # noqa: E402
from vitedge.data import load_dataset  # noqa: E402
from vitedge.errors import ExportError, VitedgeError  # noqa: E402
from vitedge.export import EXPORTERS  # noqa: E402
from vitedge.quantize.base import QUANTIZERS, QuantInput  # noqa: E402
from vitedge.quantize.scheme import Scheme  # noqa: E402

FP32_ACCURACY = 0.9805  # vit4mnist on mnist_eval.npz, FP32 IR run in f32
BLOCK = re.compile(r"blocks\.(\d+)")


def _size(files) -> int:
    return sum(Path(f).stat().st_size for f in files)


def _logits(xml: Path, images: np.ndarray) -> np.ndarray:
    run = EXPORTERS.get("openvino").open_runner(xml, 2)
    return np.concatenate([run(images[i:i + 500]) for i in range(0, len(images), 500)])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def _op_types(xml: Path) -> dict[str, int]:
    import openvino as ov

    counts: dict[str, int] = {}
    for op in ov.Core().read_model(str(xml)).get_ops():
        kind = op.get_type_name() if op.get_type_name() != "Constant" else f"Constant:{op.get_element_type()}"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@pytest.fixture(scope="module")
def setup(vit4mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ov_quant")
    fp32 = EXPORTERS.get("openvino").export(vit4mnist, folder)
    calibration = next(load_dataset(CALIB_DATA / "mnist_calib.npz", vit4mnist.spec, limit=300)
                       .batches(vit4mnist.spec, 300))[0]
    images, labels = next(load_dataset(CALIB_DATA / "mnist_eval.npz", vit4mnist.spec).batches(vit4mnist.spec, 2000))
    reference = _logits(fp32[0], images)
    return {"folder": folder, "fp32": fp32, "inp": QuantInput(vit4mnist, fp32[0], calibration),
            "images": images, "labels": labels, "reference": reference}


@pytest.fixture(scope="module")
def quantized(setup):
    """tag -> (files, logits on the eval set) for fp16, int8 static, int8 full-integer."""
    results = {}
    for scheme in (Scheme("fp16"), Scheme("int8"), Scheme("int8", "full-integer")):
        files = QUANTIZERS.get("openvino").quantize(setup["inp"], scheme, setup["folder"])
        results[scheme.tag] = (files, _logits(files[0], setup["images"]))
    return results


def _accuracy(logits, labels) -> float:
    return float(np.mean(logits.argmax(1) == labels))


def test_registered():
    quantizer = QUANTIZERS.get("openvino")
    assert quantizer.format == "openvino" and quantizer.int8_modes == ("static", "full-integer")


def test_fp32_reference(setup):
    assert _accuracy(setup["reference"], setup["labels"]) == pytest.approx(FP32_ACCURACY, abs=1e-9)


def test_static_layers_are_the_onnx_weight_ops_of_the_qdq_route(setup):
    names = QUANTIZERS.get("openvino").layers(setup["inp"], Scheme("int8"))
    assert names[0] == "/patch_embed/proj/Conv" and "/blocks/blocks.3/attn/qkv/MatMul" in names
    assert len(names) == 1 + 6 * 4 + 2  # patch conv, 4 linears per block, 2 head linears


def test_full_integer_layers_are_weight_and_attention_ops_by_block(setup):
    names = QUANTIZERS.get("openvino").layers(setup["inp"], Scheme("int8", "full-integer"))
    assert names[0] == "__module.patch_embed.proj/aten::_convolution/Convolution"
    assert "__module.blocks.3.attn.qkv/aten::linear/MatMul" in names
    weights = [n for n in names if "linear" in n or "convolution" in n]
    assert len(weights) == 1 + 6 * 4 + 2  # patch conv, 4 linears per block, 2 head linears
    assert len(names) - len(weights) == 6  # one attention op (ScaledDotProductAttention here) per block
    blocks = [int(m.group(1)) for m in map(BLOCK.search, weights) if m]
    assert blocks == sorted(blocks) and set(blocks) == set(range(6)) and len(blocks) == 24


def test_fp16_halves_weights_and_keeps_accuracy(setup, quantized):
    files, logits = quantized["fp16"]
    assert [f.name for f in files] == ["vit4mnist_fp16.xml", "vit4mnist_fp16.bin"]
    assert setup["fp32"][1].stat().st_size / files[1].stat().st_size >= 1.8
    assert _size(setup["fp32"]) > _size(files)
    assert FP32_ACCURACY - _accuracy(logits, setup["labels"]) <= 0.0005
    assert _cosine(logits, setup["reference"]) > 0.9999
    assert "FakeQuantize" not in _op_types(files[0])


def test_int8_static(setup, quantized):
    files, logits = quantized["int8"]
    assert [f.name for f in files] == ["vit4mnist_int8.xml", "vit4mnist_int8.bin"]
    # The .xml (~150 KB of graph text) does not shrink: the weights (.bin) do, ~3.5x. The total is ~2x for this
    # 0.2M-parameter model; for a real ViT the .bin dominates.
    assert setup["fp32"][1].stat().st_size / files[1].stat().st_size >= 3.0
    assert _size(setup["fp32"]) / _size(files) >= 1.8
    assert FP32_ACCURACY - _accuracy(logits, setup["labels"]) <= 0.003
    assert _cosine(logits, setup["reference"]) > 0.998
    ops = _op_types(files[0])
    assert ops["Constant:<Type: 'int8_t'>"] == 27  # every weight op's weights stored in int8
    assert ops["FakeQuantize"] == 27  # and its activation input (the QDQ route: attention inputs stay float)
    assert "ScaledDotProductAttention" in ops  # OpenVINO still fuses the attention of the ONNX graph


def test_int8_full_integer_quantizes_more(setup, quantized):
    files, logits = quantized["int8-full"]
    assert files[0].name == "vit4mnist_int8-full.xml"
    assert _op_types(files[0])["FakeQuantize"] > _op_types(quantized["int8"][0][0])["FakeQuantize"]
    assert setup["fp32"][1].stat().st_size / files[1].stat().st_size >= 3.0
    assert FP32_ACCURACY - _accuracy(logits, setup["labels"]) <= 0.005
    assert _cosine(logits, setup["reference"]) > 0.995


def test_keep_float_leaves_block_ops_in_float(setup, quantized, tmp_path):
    quantizer = QUANTIZERS.get("openvino")
    block0 = [n for n in quantizer.layers(setup["inp"], Scheme("int8")) if BLOCK.search(n)
              and BLOCK.search(n).group(1) == "0"]
    assert len(block0) == 4  # qkv, proj, fc1, fc2
    files = quantizer.quantize(setup["inp"], Scheme("int8").with_float(block0), tmp_path)
    static_files = quantized["int8"][0]
    assert _size(files) > _size(static_files)
    ops, static_ops = _op_types(files[0]), _op_types(static_files[0])
    assert ops["FakeQuantize"] < static_ops["FakeQuantize"]
    assert ops["Constant:<Type: 'int8_t'>"] == static_ops["Constant:<Type: 'int8_t'>"] - 4
    logits = _logits(files[0], setup["images"])
    assert FP32_ACCURACY - _accuracy(logits, setup["labels"]) <= 0.003


def test_refuses_unknown_layers_and_modes(setup, tmp_path):
    quantizer = QUANTIZERS.get("openvino")
    with pytest.raises(VitedgeError, match="keep_float names ops not in"):
        quantizer.quantize(setup["inp"], Scheme("int8").with_float(["__module.nope/MatMul"]), tmp_path)
    with pytest.raises(VitedgeError, match="keep_float names ops not in"):
        quantizer.quantize(setup["inp"], Scheme("int8", "full-integer").with_float(["__module.nope/MatMul"]), tmp_path)
    with pytest.raises(VitedgeError, match="does not support the 'dynamic'"):
        quantizer.quantize(setup["inp"], Scheme("int8", "dynamic"), tmp_path)
    bad = QuantInput(setup["inp"].model, setup["inp"].fp32_path, np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(VitedgeError, match="calibration images are"):
        quantizer.quantize(bad, Scheme("int8"), tmp_path)


def test_nncf_failure_is_an_export_error(setup, tmp_path, monkeypatch):
    import nncf

    def broken(*args, **kwargs):
        raise RuntimeError("statistics collection exploded")

    monkeypatch.setattr(nncf, "quantize", broken)
    with pytest.raises(ExportError, match="NNCF failed to quantize vit4mnist.xml to int8 full-integer: .*exploded"):
        QUANTIZERS.get("openvino").quantize(setup["inp"], Scheme("int8", "full-integer"), tmp_path)


def test_nncf_accuracy_control(setup, tmp_path):
    from vitedge.quantize.openvino import quantize_with_accuracy_control

    images, labels = setup["images"][:500], setup["labels"][:500]
    files = quantize_with_accuracy_control(setup["inp"], Scheme("int8"), tmp_path, images, labels, max_drop_pp=0.1)
    assert files[0].name == "vit4mnist_int8.xml" and files[1].exists()
    fp32_accuracy = _accuracy(setup["reference"][:500], labels)
    assert fp32_accuracy - _accuracy(_logits(files[0], images), labels) <= 0.001 + 1e-9
    assert "FakeQuantize" in _op_types(files[0])


def test_bf16_is_refused_on_a_cpu_without_it(monkeypatch):
    import vitedge.quantize.openvino as openvino_quantizer

    quantizer, scheme = QUANTIZERS.get("openvino"), Scheme("bf16")
    monkeypatch.setattr(openvino_quantizer, "cpu_computes_bf16", lambda: False)  # OpenVINO's answer on such a CPU
    assert "no bf16 instructions" in quantizer.unavailable(scheme)
    monkeypatch.setattr(openvino_quantizer, "cpu_computes_bf16", lambda: True)
    assert quantizer.unavailable(scheme) is None


def _host_computes_bf16() -> bool:
    from vitedge.quantize.openvino import cpu_computes_bf16

    return cpu_computes_bf16()


@pytest.mark.skipif(not _host_computes_bf16(), reason="this CPU has no bf16 (AVX512-BF16 / AMX-BF16) to compute in")
def test_bf16_is_an_fp16_stored_ir_that_runs_in_bf16(setup):
    quantizer, scheme = QUANTIZERS.get("openvino"), Scheme("bf16")
    files = quantizer.quantize(setup["inp"], scheme, setup["folder"])
    assert files[0].name == "vit4mnist_bf16.xml"
    assert _size(files) < 0.65 * _size(setup["fp32"])  # half the weights, plus the xml of a tiny model
    exporter = EXPORTERS.get("openvino")
    assert exporter.inference_precision(files[0], "bf16") == "bf16"
    assert exporter.inference_precision(files[0], "bf16", full_precision=True) == "f32"
    assert exporter.inference_precision(setup["fp32"][0], "fp32") == "f32"  # FP32 computes in f32 on every host
    bf16 = np.concatenate([exporter.open_runner(files[0], 2, "bf16")(setup["images"][i:i + 500])
                           for i in range(0, 2000, 500)])
    assert np.abs(bf16 - setup["reference"]).max() > 1e-3  # computed in bf16 (8-bit mantissa), unlike f32 ...
    assert _cosine(bf16, setup["reference"]) > 0.999  # ... yet close
    assert abs(_accuracy(bf16, setup["labels"]) - FP32_ACCURACY) <= 0.005


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_bf16_is_refused_where_the_runtime_has_no_bf16(fmt):
    assert "has no bf16 execution" in QUANTIZERS.get(fmt).unavailable(Scheme("bf16"))
