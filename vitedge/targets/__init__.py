"""Deployment targets: device profiles as data, the reference baseline, and a roofline latency estimator."""
from vitedge.targets.baseline import Baseline, load_baseline, speedup
from vitedge.targets.estimate import Estimate, GraphCost, count_graph, estimate_latency_ms
from vitedge.targets.profile import TARGETS, Source, TargetProfile, describe_targets, get_target, load_profiles

__all__ = ["TARGETS", "Baseline", "Estimate", "GraphCost", "Source", "TargetProfile", "count_graph",
           "describe_targets", "estimate_latency_ms", "get_target", "load_baseline", "load_profiles", "speedup"]
