"""vitedge: take pretrained Vision Transformers to edge devices.

    import vitedge
    model = vitedge.load_model("vit4mnist")
    data = vitedge.load_dataset("calib_data/mnist_eval.npz", model.spec)
    result = vitedge.export_model(model, ["onnx", "openvino", "tflite"], "runs/demo/export", data)
    result = vitedge.run_pipeline(vitedge.load_config("pipeline.toml"))   # every stage, cached
"""
__version__ = "0.1.0"

from vitedge.errors import VitedgeError  # noqa: E402


def __getattr__(name: str):
    """The public API, imported lazily so `vitedge --help` does not load torch."""
    if name in ("load_model", "from_module", "IOSpec", "ViTConfig", "VisionTransformer", "LoadedModel"):
        import vitedge.models as models
        return getattr(models, name)
    if name == "load_dataset":
        from vitedge.data import load_dataset
        return load_dataset
    if name == "export_model":
        from vitedge.export import export_model
        return export_model
    if name in ("load_config", "run_pipeline"):
        import vitedge.config as config
        import vitedge.pipeline as pipeline
        return getattr(config if name == "load_config" else pipeline, name)
    raise AttributeError(f"module 'vitedge' has no attribute {name!r}")


__all__ = ["IOSpec", "LoadedModel", "VitedgeError", "ViTConfig", "VisionTransformer", "export_model", "from_module",
           "load_config", "load_dataset", "load_model", "run_pipeline", "__version__"]
