"""LoadedModel: a torch module with its IOSpec and where it came from."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vitedge.models.spec import IOSpec
from vitedge.models.vit import ViTConfig


@dataclass
class LoadedModel:
    """A model ready to export: eval-mode module, IO spec, and provenance for lineage."""

    module: torch.nn.Module
    spec: IOSpec
    name: str
    source: str
    config: ViTConfig | None = None
    weights_sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    weights_path: str | None = None
    derived_from: dict | None = None  # how a derived model (a NAS variant) was made: parent, knobs, training, pick
    onnx_path: str | None = None  # an ONNX source: the file (module runs it in ONNX Runtime; nothing to train)

    def __post_init__(self):
        self.module.eval()

    @property
    def parameters(self) -> int:
        counted = getattr(self.module, "parameter_count", None)  # an ONNX source: its initializers' elements
        return counted if counted is not None else sum(p.numel() for p in self.module.parameters())

    @property
    def onnx_graph(self) -> str | None:
        """The ONNX file an ONNX source runs as: the user's file, or its NCHW copy when the file takes NHWC."""
        return str(self.module.path) if self.onnx_path else None

    @property
    def reference_runtime(self) -> str:
        """What computes the FP32 reference: PyTorch, or ONNX Runtime for an ONNX source."""
        return f"ONNX Runtime ({Path(self.onnx_path).name})" if self.onnx_path else "PyTorch"

    def require_pytorch(self, what: str) -> None:
        """Refuse an ONNX source where `what` trains or reshapes the network."""
        if self.onnx_path:
            from vitedge.errors import ModelSourceError

            raise ModelSourceError(f"{what} needs the PyTorch model: {self.onnx_path} is an ONNX file (its weights "
                                   "cannot be trained or its blocks re-cut here)", "pass the model as a standard name "
                                   "with --weights, a spec with weights or a Hugging Face folder; export, quantize, "
                                   "validate, bench and bundle take the ONNX file")

    def fingerprint(self) -> str:
        """Identity of the model for lineage and caching: weights, architecture and IO spec."""
        digest = hashlib.sha256(json.dumps([self.name, self.spec.to_dict(),
                                            self.config.to_dict() if self.config else None]).encode())
        if self.onnx_path:
            digest.update(str(self.weights_sha256).encode())
        for key, tensor in sorted(self.module.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "id": self.fingerprint(),
            "name": self.name,
            "source": self.source,
            "weights": self.weights_path,
            **({"onnx": self.onnx_path, "reference_runtime": self.reference_runtime} if self.onnx_path else {}),
            "weights_sha256": self.weights_sha256,
            "parameters": self.parameters,
            "architecture": self.config.to_dict() if self.config else None,
            "io": self.spec.to_dict(),
            **({"derived_from": self.derived_from} if self.derived_from else {}),
        }


def from_module(module: torch.nn.Module, spec: IOSpec, name: str = "custom") -> LoadedModel:
    """Wrap any torch module (a timm model, your own) that maps NCHW float32 to logits."""
    return LoadedModel(module=module, spec=spec, name=name, source=f"python:{type(module).__name__}")
