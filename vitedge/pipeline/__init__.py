"""`vitedge run`: every stage from one config, cached by content, resumable."""
from vitedge.pipeline.run import PipelineResult, dry_run, run_pipeline

__all__ = ["PipelineResult", "dry_run", "run_pipeline"]
