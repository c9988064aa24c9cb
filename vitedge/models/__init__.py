"""Model sources -> torch.nn.Module + IOSpec."""
from vitedge.models.loaded import LoadedModel, from_module
from vitedge.models.source import available_models, load_model
from vitedge.models.spec import IOSpec
from vitedge.models.vit import ViTConfig, VisionTransformer

__all__ = ["IOSpec", "LoadedModel", "ViTConfig", "VisionTransformer", "available_models", "from_module", "load_model"]
