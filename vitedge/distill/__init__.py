"""Knowledge distillation: train a smaller student ViT on a teacher's outputs.

    from vitedge.distill import DistillConfig, distill
    result = distill(teacher.module, student.module, train, teacher.spec, DistillConfig(epochs=5), out=Path("d"))
"""
from vitedge.distill.config import CheckpointMismatchError, DistillConfig, DistillError, DistillResult
from vitedge.distill.loop import distill

__all__ = ["CheckpointMismatchError", "DistillConfig", "DistillError", "DistillResult", "distill"]
