"""Sub-networks of a pretrained ViT (fewer blocks, heads, MLP neurons, a narrower embedding) sharing its weights,
chosen by measured importance, searched per target on the accuracy / latency Pareto front."""
from vitedge.nas.importance import Importance, measure_importance
from vitedge.nas.pareto import choose, pareto_front
from vitedge.nas.proxy import ProxySettings
from vitedge.nas.run import NASConfig, NASResult, run_nas
from vitedge.nas.search import evolve
from vitedge.nas.slicing import slice_model
from vitedge.nas.space import Choice, SearchSpace, count_macs, count_params, default_space, subnet_config
from vitedge.nas.variant import write_variant

__all__ = ["Choice", "Importance", "NASConfig", "NASResult", "ProxySettings", "SearchSpace", "choose", "count_macs",
           "count_params", "default_space", "evolve", "measure_importance", "pareto_front", "run_nas",
           "slice_model", "subnet_config", "write_variant"]
