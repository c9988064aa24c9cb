"""Measured importance of a ViT's blocks, attention heads, MLP neurons and embedding channels on real images.

Heads, neurons and channels: first-order Taylor scores. A gate of ones multiplies each unit's output (a head's
slice of the attention output before `proj`; a neuron's activation before `fc2`; a channel of everything written
into the residual stream); the score is |dL/dgate| summed over batches, L the cross-entropy against the labels
(or the parent's own predictions when the data has none): the first-order loss change of removing that unit. A unit
whose output is always zero, or never read, scores 0.

Blocks: greedy removal. Repeatedly drop the block whose absence changes the parent's predictions least (KL
divergence of the shortened network from the parent), so a depth-d sub-network keeps the d blocks that matter.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vitedge.console import log
from vitedge.data.dataset import Dataset
from vitedge.models.loaded import LoadedModel


@dataclass
class Importance:
    removal_order: tuple[int, ...]  # blocks, least important first
    removal_kl: tuple[float, ...]  # KL per image from the parent once this block and the ones before are dropped
    heads: list[np.ndarray]  # per block: a score per head
    neurons: list[np.ndarray]  # per block: a score per MLP neuron
    channels: np.ndarray  # a score per embedding channel
    samples: int
    loss: str  # what L was

    def to_dict(self) -> dict:
        """A summary for nas.json (neuron scores are summarised, not listed)."""
        return {"samples": self.samples, "loss": self.loss, "removal_order": list(self.removal_order),
                "removal_kl": [round(v, 5) for v in self.removal_kl],
                "heads": [[round(float(s), 6) for s in h] for h in self.heads],
                "neurons_zero_score": [int((n == 0).sum()) for n in self.neurons],
                "channels_zero_score": int((self.channels == 0).sum())}


def _batches(model: LoadedModel, data: Dataset, batch: int):
    for images, labels in data.batches(model.spec, batch):
        yield torch.from_numpy(images), None if labels is None else torch.from_numpy(labels)


def _install_gates(module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Gates of ones on every head, neuron and residual channel, applied through hooks."""
    dim = module.cfg.embed_dim
    channel = torch.ones(dim, requires_grad=True)
    heads, neurons = [], []

    def gate_channels(_mod, _inp, out):
        return out * channel

    def gate_input(gate: torch.Tensor, per: int):
        def hook(_mod, args):
            x = args[0]
            return (x.reshape(*x.shape[:-1], -1, per) * gate[:, None]).reshape(x.shape)
        return hook

    module.blocks[0].register_forward_pre_hook(lambda _mod, args: (args[0] * channel,))
    for block in module.blocks:
        attn = block.attn
        heads.append(torch.ones(attn.num_heads, requires_grad=True))
        neurons.append(torch.ones(block.mlp.fc1.out_features, requires_grad=True))
        attn.proj.register_forward_pre_hook(gate_input(heads[-1], attn.head_dim))
        block.mlp.fc2.register_forward_pre_hook(gate_input(neurons[-1], 1))
        attn.proj.register_forward_hook(gate_channels)
        block.mlp.fc2.register_forward_hook(gate_channels)
    return heads, neurons, channel


def taylor_scores(model: LoadedModel, data: Dataset, batch: int = 32):
    """|dL/dgate| per head, neuron and channel, summed over batches; and the loss used."""
    module = copy.deepcopy(model.module).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    heads, neurons, channel = _install_gates(module)
    gates = [*heads, *neurons, channel]
    totals = [torch.zeros_like(g) for g in gates]
    loss_name = "cross-entropy vs labels"
    for images, labels in _batches(model, data, batch):
        logits = module(images)
        if labels is None:
            labels, loss_name = logits.argmax(-1).detach(), "cross-entropy vs the parent's predictions"
        grads = torch.autograd.grad(F.cross_entropy(logits, labels, reduction="sum"), gates)
        for total, grad in zip(totals, grads):
            total += grad.abs()
    scores = [t.numpy().astype(np.float64) for t in totals]
    depth = len(heads)
    return scores[:depth], scores[depth:2 * depth], scores[-1], loss_name


BLOCK_ORDER_IMAGES = 96  # the KL of a missing block ranks blocks clearly on this many images


@torch.no_grad()
def block_removal_order(model: LoadedModel, data: Dataset, batch: int = 64, keep: int = 1
                        ) -> tuple[list[int], list[float]]:
    """Greedy: drop the block whose absence moves the outputs least (KL from the parent), then repeat until `keep`
    blocks are left (the rest follow in their order)."""
    module = model.module
    subset = Dataset(data.images[:BLOCK_ORDER_IMAGES], None, data.source)
    images = [x for x, _ in _batches(model, subset, batch)]
    reference = [F.log_softmax(module(x), -1) for x in images]
    original = module.blocks
    kept, order, kls = list(range(len(original))), [], []
    try:
        while len(kept) > max(1, keep):
            trials = {}
            for block in kept:
                module.blocks = nn.Sequential(*[original[i] for i in kept if i != block])
                trials[block] = sum(F.kl_div(F.log_softmax(module(x), -1), ref, log_target=True,
                                             reduction="sum").item() for x, ref in zip(images, reference))
            best = min(kept, key=lambda b: (trials[b], b))
            kept.remove(best)
            order.append(best)
            kls.append(trials[best] / sum(len(x) for x in images))
            log(f"nas: block order: dropping block {best} next (KL {kls[-1]:.4f}); {len(kept)} left")
    finally:
        module.blocks = original
    return order + kept, kls


def measure_importance(model: LoadedModel, data: Dataset, batch: int = 32, keep: int = 1) -> Importance:
    """Scores of every block, head, neuron and channel of `model` (a vitedge VisionTransformer) on `data`."""
    if not hasattr(model.module, "cfg") or not hasattr(model.module, "blocks"):
        from vitedge.errors import ModelSourceError
        raise ModelSourceError(f"{model.name} is not a vitedge VisionTransformer; NAS slices only those",
                               "load it with vitedge.load_model (built-in name, timm name + weights, spec file)")
    heads, neurons, channels, loss = taylor_scores(model, data, batch)
    order, kls = block_removal_order(model, data, max(batch, 64), keep)
    return Importance(tuple(order), tuple(kls), heads, neurons, channels, len(data), loss)
