"""An ONNX file as a model source: the real vit4mnist exported to ONNX and handed back with a spec beside it, and
small graphs built in the test for the bad cases (each refused naming the file and what to do)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from vitedge.errors import ExportError, ModelSourceError
from vitedge.export.onnx import OnnxExporter
from vitedge.models import load_model
from vitedge.models.specfile import toml_value


def write_spec(folder, onnx_name: str, spec, **extra) -> None:
    lines = ['name = "handed_back"', f'onnx = "{onnx_name}"', f"labels = {toml_value(list(spec.labels))}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in extra.items()]
    lines += ["[preprocessing]", f"mean = {toml_value(list(spec.mean))}", f"std = {toml_value(list(spec.std))}"]
    (folder / onnx_name).with_suffix(".toml").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def handed_back(vit4mnist, tmp_path_factory):
    """vit4mnist exported by vitedge, then given back as model.onnx + model.toml."""
    folder = tmp_path_factory.mktemp("onnx_source")
    exported = OnnxExporter().export(vit4mnist, folder)[0]
    path = exported.rename(folder / "model.onnx")
    write_spec(folder, path.name, vit4mnist.spec)
    return path


def test_the_file_is_the_reference(vit4mnist, handed_back):
    model = load_model(handed_back)
    x = torch.randn(5, *vit4mnist.spec.input_size)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), vit4mnist.module(x), atol=1e-4, rtol=1e-4)
    assert model.spec.labels == vit4mnist.spec.labels and model.spec.input_size == vit4mnist.spec.input_size
    assert model.parameters == pytest.approx(vit4mnist.parameters, abs=16)  # + a few float constants
    assert model.reference_runtime == "ONNX Runtime (model.onnx)" and model.describe()["onnx"] == str(handed_back)
    assert load_model(handed_back.with_suffix(".toml")).fingerprint() == model.fingerprint()


def test_export_keeps_onnx_converts_openvino_and_skips_tflite(handed_back, tmp_path, capsys):
    from vitedge.data import load_dataset
    from vitedge.export.run import export_model
    from tests.conftest import CALIB_DATA

    model = load_model(handed_back)
    data = load_dataset(CALIB_DATA / "mnist_eval.npz", model.spec, limit=64)
    result = export_model(model, ["onnx", "openvino", "tflite"], tmp_path / "out", data)
    assert [a.format for a in result.artifacts] == ["onnx", "openvino"]
    assert all(a.parity["passed"] for a in result.artifacts)
    assert "tflite: skipped: TFLite is not made from ONNX sources" in capsys.readouterr().err
    with pytest.raises(ExportError, match="not made from ONNX sources"):
        export_model(model, ["tflite"], tmp_path / "only_tflite", data)


def fixed_batch_onnx(model, folder):
    """`model` exported with its batch fixed at 1 (as many ONNX files in the wild are), with a spec beside it."""
    path = folder / "fixed.onnx"
    with torch.no_grad():
        torch.onnx.export(model.module, (torch.zeros(1, *model.spec.input_size),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"])
    write_spec(folder, path.name, model.spec)
    return path


def test_a_batch_fixed_at_one_runs_image_by_image(vit4mnist, tmp_path):
    path = fixed_batch_onnx(vit4mnist, tmp_path)
    model = load_model(path)
    x = torch.randn(3, *vit4mnist.spec.input_size)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), vit4mnist.module(x), atol=1e-4, rtol=1e-4)
    run = OnnxExporter().open_runner(path, 1)
    assert run(x.numpy()).shape == (3, 10)


def tiny_graph(path, opset: int = 17, shape=(1, 3, 8, 8), op: str = "Relu", domain: str = "", inputs: int = 1,
               dtype=TensorProto.FLOAT):
    """x -> op -> global average pool -> flatten: a 3-output "classifier"."""
    names = [f"x{i}" for i in range(inputs)]
    nodes = [helper.make_node(op, names[:1], ["a"], domain=domain),
             helper.make_node("GlobalAveragePool", ["a"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(n, dtype, list(shape))
                                              for n in names],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(graph, opset_imports=imports), str(path))
    (path.with_suffix(".toml")).write_text(f'onnx = "{path.name}"\n')
    return path


def refused(path, *mentions):
    with pytest.raises(ModelSourceError) as err:
        load_model(path)
    text = str(err.value)
    assert all(m in text for m in mentions), text
    return text


def test_a_good_tiny_graph_loads(tmp_path):
    model = load_model(tiny_graph(tmp_path / "t.onnx"))
    assert model.spec.input_size == (3, 8, 8) and model.spec.task == "image-classification"
    assert model.module(torch.ones(2, 3, 8, 8)).shape == (2, 3)  # fixed batch 1, run image by image


def test_not_onnx(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_text("this is not a model\n" * 10)
    (tmp_path / "m.toml").write_text('onnx = "m.onnx"\n')
    refused(path, str(path), "not a readable ONNX model")


def test_truncated(tmp_path):
    path = tiny_graph(tmp_path / "m.onnx")
    path.write_bytes(path.read_bytes()[:40])
    refused(path, str(path), "not a readable ONNX model")


def test_opset_out_of_range(tmp_path):
    refused(tiny_graph(tmp_path / "m.onnx", opset=11), "opset 11", "13-21", "opset_version=17")


def test_op_no_runtime_has(tmp_path):
    refused(tiny_graph(tmp_path / "m.onnx", op="Frobnicate", domain="com.example"), "ONNX Runtime cannot run",
            "m.onnx")


def test_dynamic_size_needs_input_size(tmp_path):
    path = tiny_graph(tmp_path / "m.onnx", shape=("N", 3, "H", "W"))
    refused(path, "dynamic size", "input_size")
    path.with_suffix(".toml").write_text('onnx = "m.onnx"\ninput_size = [3, 16, 12]\n')
    assert load_model(path).spec.input_size == (3, 16, 12)


def test_an_integer_input(tmp_path):
    refused(tiny_graph(tmp_path / "m.onnx", dtype=TensorProto.UINT8), "input 'x0' is uint8", "float32")


def test_two_inputs(tmp_path):
    refused(tiny_graph(tmp_path / "m.onnx", inputs=2), "2 inputs", "one image input")


def test_missing_external_data(tmp_path):
    path = tmp_path / "ext.onnx"
    weight = numpy_helper.from_array(np.ones((3, 3, 1, 1), np.float32), "w")  # raw data: external-able
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("GlobalAveragePool", ["c"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, "ext", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path),
              save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    (tmp_path / "ext.toml").write_text('onnx = "ext.onnx"\n')
    assert load_model(path).spec.input_size == (3, 8, 8)  # with its data beside it, it loads
    (tmp_path / "ext.data").unlink()
    refused(path, "external data", "ext.data", "beside the .onnx file")


def test_no_spec_beside_shows_one(tmp_path):
    path = tiny_graph(tmp_path / "m.onnx")
    path.with_suffix(".toml").unlink()
    text = refused(path, "needs a spec beside it (m.toml)")
    assert 'onnx = "m.onnx"' in text


def test_spec_keys_that_do_not_apply(tmp_path):
    path = tiny_graph(tmp_path / "m.onnx")
    path.with_suffix(".toml").write_text('onnx = "m.onnx"\nweights = "w.safetensors"\n')
    refused(path, "do not apply to an ONNX source", "weights")


def test_spec_naming_a_file_outside_its_folder(tmp_path):
    tiny_graph(tmp_path / "m.onnx")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "spec.toml").write_text('onnx = "../m.onnx"\n')
    refused(inner / "spec.toml", "lies outside the spec's folder")


def test_over_two_gigabytes(tmp_path, monkeypatch):
    import vitedge.models.onnx_source as source

    monkeypatch.setattr(source, "MAX_BYTES", 100)  # writing 2 GB here would only test the disk
    refused(tiny_graph(tmp_path / "m.onnx"), "over 2 GB")


def test_nas_and_distill_need_the_pytorch_model(handed_back, tmp_path):
    from vitedge import api

    with pytest.raises(ModelSourceError, match="needs the PyTorch model"):
        api.nas(str(handed_back), out=tmp_path / "nas")


@pytest.mark.parametrize("extra, mention", [
    ('[bench]\ntargets = ["x86-cpu", "android-arm64"]\n', "target android-arm64 runs tflite only"),
    ('[nas]\nmax_drop = 1.0\n[bench]\ntargets = ["x86-cpu"]\n', "[nas] / [distill] need the PyTorch model"),
])
def test_a_pipeline_on_an_onnx_source_refuses_what_it_cannot_make(handed_back, tmp_path, extra, mention):
    from vitedge.config import ConfigError, load_config
    from vitedge.pipeline.run import plan_lines

    config = tmp_path / "pipeline.toml"
    config.write_text(f'out = "{tmp_path / "out"}"\n[model]\nsource = "{handed_back}"\n{extra}')
    with pytest.raises(ConfigError, match=mention.replace("[", r"\[").replace("]", r"\]")):
        plan_lines(load_config(config), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_nhwc_input_is_wrapped_to_take_nchw(tmp_path):
    import onnxruntime as ort

    path = tmp_path / "nhwc.onnx"
    nodes = [helper.make_node("Transpose", ["img"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Mul", ["t", "scale"], ["a"]), helper.make_node("GlobalAveragePool", ["a"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    scale = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1), "scale")
    graph = helper.make_graph(nodes, "nhwc", [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 6, 5, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [scale])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    path.with_suffix(".toml").write_text('onnx = "nhwc.onnx"\n')
    model = load_model(path)
    assert model.spec.input_size == (3, 6, 5)  # channels first, as every vitedge model
    x = np.random.default_rng(0).random((2, 3, 6, 5), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"img": image[None].transpose(0, 2, 3, 1)})[0] for image in x])
    np.testing.assert_allclose(model.module(torch.from_numpy(x)).numpy(), expected, rtol=1e-6)
    (tmp_path / "export").mkdir()
    exported = OnnxExporter().export(model, tmp_path / "export")[0]  # the artifact takes NCHW too
    dims = [d.dim_value for d in onnx.load(str(exported)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 6, 5]
