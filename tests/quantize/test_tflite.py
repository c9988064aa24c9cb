"""TFLite quantization of vit4mnist (fp16, int8 dynamic / static / full-integer), each artifact run in ai-edge-litert.

Calibration: MNIST test images 0-255 (calib_data/mnist_calib.npz); evaluation: images 8000-9999 (mnist_eval.npz).
"""
import time

import numpy as np
import pytest

pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")

from vitedge.data import load_dataset  # noqa: E402
from vitedge.errors import VitedgeError  # noqa: E402
from vitedge.export import EXPORTERS  # noqa: E402
from vitedge.quantize import QUANTIZERS, QuantInput, Scheme  # noqa: E402

from ..conftest import CALIB_DATA  # noqa: E402

FP32_TOP1 = 98.05  # vit4mnist on mnist_eval.npz, percent
SCHEMES = {"fp16": Scheme("fp16"), "int8-dynamic": Scheme("int8", "dynamic"), "int8": Scheme("int8", "static"),
           "int8-full": Scheme("int8", "full-integer")}
MIN_RATIO = {"fp16": 1.8, "int8-dynamic": 2.5, "int8": 2.5, "int8-full": 2.5}
MAX_DROP_PP = {"fp16": 0.05, "int8": 0.3}
LINEARS = ["patch_embed.proj"] + [f"blocks.{b}.{name}" for b in range(6)
                                  for name in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")] + ["head.0", "head.2"]
BLOCK0 = [name for name in LINEARS if name.startswith("blocks.0.")]


@pytest.fixture(scope="module")
def quant_input(tmp_path_factory, vit4mnist):
    fp32 = EXPORTERS.get("tflite").export(vit4mnist, tmp_path_factory.mktemp("fp32"))[0]
    calib = load_dataset(CALIB_DATA / "mnist_calib.npz", vit4mnist.spec, limit=256)
    return QuantInput(vit4mnist, fp32, np.concatenate([x for x, _ in calib.batches(vit4mnist.spec, 256)]))


@pytest.fixture(scope="module")
def eval_set(vit4mnist, quant_input):
    data = load_dataset(CALIB_DATA / "mnist_eval.npz", vit4mnist.spec)
    images = np.concatenate([x for x, _ in data.batches(vit4mnist.spec, 500)])
    return images, data.labels, run(quant_input.fp32_path, images)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, quant_input):
    out, made = tmp_path_factory.mktemp("quant"), {}
    for tag, scheme in SCHEMES.items():
        start = time.perf_counter()
        made[tag] = QUANTIZERS.get("tflite").quantize(quant_input, scheme, out)
        print(f"{tag}: {time.perf_counter() - start:.1f} s")
    return made


def run(path, images):
    return EXPORTERS.get("tflite").open_runner(path, 2)(images)


def ops(path):
    """(op name, input dtypes, output tensor name) of every op, without delegates."""
    interpreter = EXPORTERS.get("tflite")._interpreter(path, 1, delegates=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = lambda indices: tuple(np.dtype(tensors[i]["dtype"]).name for i in indices if i >= 0)
    return [(op["op_name"], dtypes(op["inputs"]), tensors[op["outputs"][0]]["name"])
            for op in interpreter._get_ops_details()]


def fc_dtypes(path, position, contains=""):
    """Dtypes of the `position`-th input (0: activation, 1: weight) of the FULLY_CONNECTED ops named `contains`."""
    return [dtypes[position] for op, dtypes, name in ops(path) if op == "FULLY_CONNECTED" and contains in name]


def test_registered_with_its_int8_modes():
    backend = QUANTIZERS.get("tflite")
    assert backend.format == "tflite" and backend.int8_modes == ("static", "dynamic", "full-integer")


@pytest.mark.parametrize("tag", SCHEMES)
def test_scheme_runs_in_litert_smaller_and_accurate(quant_input, eval_set, artifacts, tag):
    images, labels, reference = eval_set
    (path,) = artifacts[tag]
    assert path.name == f"vit4mnist_{tag}.tflite"
    logits = run(path, images)
    assert logits.shape == (2000, 10) and logits.dtype == np.float32 and np.isfinite(logits).all()
    assert quant_input.fp32_path.stat().st_size / path.stat().st_size >= MIN_RATIO[tag]
    fp32_top1 = (reference.argmax(1) == labels).mean() * 100
    assert fp32_top1 == pytest.approx(FP32_TOP1)
    top1 = (logits.argmax(1) == labels).mean() * 100
    assert fp32_top1 - top1 <= MAX_DROP_PP.get(tag, 5.0), top1


def test_fp16_stores_float16_weights_with_float32_io(artifacts):
    (path,) = artifacts["fp16"]
    listed = ops(path)
    assert sum(op == "DEQUANTIZE" and dtypes == ("float16",) for op, dtypes, _ in listed) == len(LINEARS)
    inputs, outputs = EXPORTERS.get("tflite").io_description(path)
    assert inputs == [{"name": "pixel_values", "shape": [1, 1, 28, 28], "dtype": "float32"}]
    assert outputs[0]["name"] == "logits" and outputs[0]["dtype"] == "float32"


def test_static_int8_quantizes_linears_not_layernorm_softmax(artifacts):
    path = artifacts["int8"][0]
    # every Linear int8 but the output layer (head.2: int8 logits would share one scale over all classes)
    activations, weights = fc_dtypes(path, 0), fc_dtypes(path, 1)
    assert activations[:-1] == weights[:-1] == ["int8"] * (len(LINEARS) - 2)
    assert activations[-1] == weights[-1] == "float32"
    # the converter folds fc1 -> GELU -> fc2 into an int8 GELU (lookup table); LayerNorm, Softmax, Q.K^T stay float
    for float_op in ("SOFTMAX", "BATCH_MATMUL", "RSQRT", "SQUARED_DIFFERENCE"):
        assert {dtypes[0] for op, dtypes, _ in ops(path) if op == float_op} == {"float32"}, float_op


def test_dynamic_int8_keeps_float_activations(artifacts):
    path = artifacts["int8-dynamic"][0]
    assert set(fc_dtypes(path, 0)) == {"float32"} and set(fc_dtypes(path, 1)) == {"int8"}
    assert "QUANTIZE" not in {op for op, _, _ in ops(path)}


def test_full_integer_runs_int8_layernorm_and_softmax(artifacts):
    listed = ops(artifacts["int8-full"][0])
    assert {dtypes[0] for op, dtypes, _ in listed if op in ("FULLY_CONNECTED", "SOFTMAX")} == {"int8"}


def test_layers_are_module_paths_in_graph_order(quant_input):
    backend = QUANTIZERS.get("tflite")
    assert backend.layers(quant_input, SCHEMES["int8"]) == LINEARS[:-1]  # the output layer stays float
    assert backend.layers(quant_input, SCHEMES["int8-dynamic"]) == LINEARS
    full = backend.layers(quant_input, SCHEMES["int8-full"])
    assert set(LINEARS) < set(full) and "blocks.0.norm1" in full and full.index("blocks.0.norm1") < full.index(
        "blocks.0.attn.qkv")


@pytest.mark.parametrize("tag", ["int8", "int8-dynamic"])
def test_keep_float_leaves_block0_linears_in_float(tmp_path, quant_input, eval_set, artifacts, tag):
    small = QuantInput(quant_input.model, quant_input.fp32_path, quant_input.calibration[:32])
    (path,) = QUANTIZERS.get("tflite").quantize(small, SCHEMES[tag].with_float(BLOCK0), tmp_path)
    assert path.stat().st_size > artifacts[tag][0].stat().st_size
    assert fc_dtypes(path, 1, "blocks.0.") == ["float32"] * len(BLOCK0)  # float weights
    assert set(fc_dtypes(path, 1, "blocks.1.")) == {"int8"}
    images, labels, _ = eval_set
    assert (run(path, images[:200]).argmax(1) == labels[:200]).mean() > 0.95


def test_keep_float_rejects_unknown_layer(tmp_path, quant_input):
    with pytest.raises(VitedgeError, match="keep_float"):
        QUANTIZERS.get("tflite").quantize(quant_input, SCHEMES["int8-dynamic"].with_float(["blocks.99.mlp"]), tmp_path)
