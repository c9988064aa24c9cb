"""Fine-grained, monotone fallback for static INT8: quantize once, then keep single ops in float. Serves ONNX Runtime
and OpenVINO (one QDQ model, qdq.py / qdq_route.py) and LiteRT (one PT2E model, pt2e.py / pt2e_route.py).

1. The INT8 model is made once, with activation ranges from the calibration images minus a held-out part.
2. Each weight-bearing op (qkv, proj, fc1, fc2, patch embedding, head) is switched back to float alone in that one
   model (graph surgery, no re-calibration) and scored on the held-out calibration images: the mean KL
   divergence of its logits from the FP32 model's. Its sensitivity is how much KL it removes.
3. Greedy by KL removed per share of the MACs put back in float (on the real DeiT-Tiny the error is spread over all
   ops, and an attention projection removes as much as an MLP layer four times its size): an op is kept in float
   only if the KL of the combined model goes down (so every kept step improves the objective) and the float share
   stays within MAX_FLOAT_SHARE; after each kept step the release gate (drop and agreement on the evaluation
   images) is checked, and the search stops as soon as it holds. The evaluation images decide when to stop, never
   which op to keep.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vitedge.console import log
from vitedge.quantize.qdq import QuantizedOp, quantized_ops, with_float_ops
from vitedge.quantize.scheme import Scheme
from vitedge.quantize.sensitivity import FallbackResult

MIN_HELD_OUT = 16  # calibration images kept out of the ranges to score the fallback's steps
HELD_OUT_SHARE = 4  # one in four calibration images, at least MIN_HELD_OUT
MAX_FLOAT_SHARE = 0.15  # at most this share of the weight-op MACs in float: beyond, the artifact is not INT8 any more
MIN_COST_SHARE = 0.002  # an op's MAC share counted at least this when ranking by KL per share (the head is ~0)
BATCH = 64


def split_calibration(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images for the ranges, held-out images for the objective); all for the ranges when there are too few."""
    held = max(MIN_HELD_OUT, len(images) // HELD_OUT_SHARE)
    if len(images) < 2 * held:
        return images, images
    return images[:-held], images[-held:]


@dataclass
class KLObjective:
    """Mean KL(FP32 || model) of the logits on held-out calibration images, run in ONNX Runtime from memory."""

    inputs: np.ndarray
    reference: np.ndarray
    threads: int

    def __call__(self, model) -> float:
        return mean_kl(self.reference, run_onnx(model, self.inputs, self.threads))


def run_onnx(model, inputs: np.ndarray, threads: int, names: list[str] | None = None):
    """The model's first output on `inputs` (ONNX Runtime, from memory); with `names`, those tensors by name."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    step = 1 if first.shape[0] == 1 else BATCH  # an ONNX source may fix its batch at 1
    batches = [session.run(names, {first.name: inputs[i:i + step]}) for i in range(0, len(inputs), step)]
    if names is None:
        return np.concatenate([outputs[0] for outputs in batches])
    return {name: np.concatenate([outputs[k] for outputs in batches]) for k, name in enumerate(names)}


def mean_kl(reference: np.ndarray, outputs: np.ndarray) -> float:
    """Mean KL divergence of softmax(outputs) from softmax(reference); for non-logit outputs, their mean squared
    error relative to the reference's mean square (a scale-free error)."""
    reference, outputs = reference.reshape(len(reference), -1), outputs.reshape(len(outputs), -1)
    if reference.shape[1] < 2:
        return float(((reference - outputs) ** 2).mean() / max(float((reference ** 2).mean()), 1e-12))
    log_p, log_q = _log_softmax(reference.astype(np.float64)), _log_softmax(outputs.astype(np.float64))
    return float((np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean())


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


Gate = Callable[[object, list[str]], tuple[Path, dict, bool]]  # (model, float ops) -> (file, evaluation, passes)


@dataclass
class OpSpace:
    """One quantized model, its weight-bearing ops and how to switch a set of them back to float."""

    quantized: object
    ops: list[QuantizedOp]
    switch: Callable[[set[str]], object]  # op nodes -> the model with those ops in float


def qdq_space(qdq, fp32) -> OpSpace:
    """The ops of a QDQ ONNX model (float weights from `fp32`)."""
    return OpSpace(qdq, quantized_ops(qdq, fp32), lambda kept: with_float_ops(qdq, fp32, kept))


def float_share(ops: list[QuantizedOp], floating: set[str]) -> float:
    total = sum(op.macs for op in ops)
    return 0.0 if total == 0 else sum(op.macs for op in ops if op.node in floating) / total


def rank_ops(space: OpSpace, objective: Callable[[object], float], base: float) -> dict[str, float]:
    """Per op node, the KL removed by running only that op in float; most removed per share of the MACs first."""
    ops = space.ops
    gains, total = {}, sum(op.macs for op in ops) or 1
    for index, op in enumerate(ops, 1):
        gains[op.node] = base - objective(space.switch({op.node}))
        if index % 10 == 0 or index == len(ops):
            log(f"  sensitivity {index}/{len(ops)} ops scored on {len(objective.inputs)} held-out calibration images")
    cost = {op.node: max(op.macs / total, MIN_COST_SHARE) for op in ops}
    return dict(sorted(gains.items(), key=lambda item: -item[1] / cost[item[0]]))


def fine_grained(space: OpSpace, scheme: Scheme, objective: Callable[[object], float], gate: Gate,
                 check_each_step: bool = True) -> FallbackResult:
    """The quantized model, or the fewest ops in float (greedy on the objective) that make `gate` pass."""
    ops = space.ops
    labels = {op.node: op.label for op in ops}
    base = objective(space.quantized)
    path, evaluation, passes = gate(space.quantized, [])
    result = FallbackResult(path, evaluation, scheme, passes, [_step([], labels, ops, base, evaluation)],
                            float_mac_share=0.0)
    if passes:
        return result
    log(f"  gate not met: ranking {len(ops)} ops (objective: logit KL {base:.2e} on held-out calibration images)")
    gains = rank_ops(space, objective, base)
    result.sensitivity = {labels[node]: round(gain, 8) for node, gain in gains.items()}
    tried = [(path, evaluation, [], False)]
    checked = lambda kept, kl: _checked(space, gate, kept, kl, labels, tried, result)  # noqa: E731
    greedy = _greedy(space, gains, objective, base)
    if check_each_step:
        passes = any(checked(kept, kl) for kept, kl in greedy)
    else:
        passes = _bisect(list(greedy), checked)
    result.met = passes
    passing = [entry for entry in tried if entry[3]]
    path, evaluation, chosen, _ = min(passing, key=lambda e: len(e[2])) if passes else min(tried, key=_best_found)
    result.path, result.evaluation, result.scheme = path, evaluation, scheme.with_float(chosen)
    result.float_ops = [labels[n] for n in chosen]
    result.float_mac_share = round(float_share(ops, set(chosen)), 4)
    return result


def _greedy(space: OpSpace, gains: dict[str, float], objective, base: float):
    """Yield (ops in float, KL) for each op that lowers the objective, most KL removed per MAC share first."""
    labels, kept, current = {op.node: op.label for op in space.ops}, [], base
    for node in (node for node, gain in gains.items() if gain > 0):
        if float_share(space.ops, set(kept) | {node}) > MAX_FLOAT_SHARE:
            continue
        value = objective(space.switch(set(kept) | {node}))
        if value >= current:
            log(f"  {labels[node]} in float: KL {value:.2e} not below {current:.2e}, left in INT8")
            continue
        kept, current = kept + [node], value
        log(f"  + {labels[node]} in float: KL {value:.2e}, "
            f"{100 * float_share(space.ops, set(kept)):.1f}% of the MACs in float")
        yield list(kept), value


def _checked(space: OpSpace, gate: Gate, kept: list[str], kl: float, labels: dict, tried: list,
             result: FallbackResult) -> bool:
    """Check the gate with `kept` in float; record the step; whether it passes."""
    path, evaluation, passes = gate(space.switch(set(kept)), kept)
    tried.append((path, evaluation, kept, passes))
    result.steps.append(_step(kept, labels, space.ops, kl, evaluation))
    log(f"  gate with {len(kept)} op(s) in float: {_figures(evaluation)} ({'passes' if passes else 'fails'})")
    return passes


def _bisect(steps: list[tuple[list[str], float]], checked: Callable[[list[str], float], bool]) -> bool:
    """Check the last greedy step; if it passes, bisect for a shorter passing prefix."""
    if not steps or not checked(*steps[-1]):
        return False
    low, high = -1, len(steps) - 1  # steps[low] fails (-1: the quantized model), steps[high] passes
    while high - low > 1:
        middle = (low + high) // 2
        if checked(*steps[middle]):
            high = middle
        else:
            low = middle
    return True


def _best_found(entry: tuple[Path, dict, list[str], bool]) -> tuple:
    """When the gate cannot be met: the step closest to it (lowest drop, then highest agreement, then fewest ops in
    float): more ops in float that did not get there are not worth their speed."""
    _, evaluation, kept, _ = entry
    drop, agreement = evaluation.get("drop_pp"), evaluation.get("top1_agreement")
    return (drop if drop is not None else 0.0, -(agreement or 0.0), len(kept))


def _step(kept: list[str], labels: dict[str, str], ops: list[QuantizedOp], kl: float, evaluation: dict) -> dict:
    return {"float_groups": [labels[n] for n in kept], "kl": round(kl, 8),
            "float_mac_share": round(float_share(ops, set(kept)), 4), "top1": evaluation.get("top1"),
            "drop_pp": evaluation.get("drop_pp"), "agreement": evaluation.get("top1_agreement"),
            "min_cosine": evaluation.get("min_cosine")}


def _figures(evaluation: dict) -> str:
    if evaluation.get("drop_pp") is None:
        return f"min cosine {evaluation['min_cosine']:.5f}"
    return f"drop {evaluation['drop_pp']:.2f} pp, agreement {100 * evaluation['top1_agreement']:.1f}%"

