"""Token merging (ToMe, Bolya et al. 2023): after a block's attention, merge the `r` most similar token pairs.

Which blocks merge is the model's schedule (ViTConfig.merges_after: every `token_merge_every`-th block but the last);
fewer, larger steps pay on CPUs, where each step is a few dozen small ops.

Bipartite soft matching: tokens alternate between set A and set B; each A token finds its most similar B token
(cosine of the attention keys, averaged over heads); the `r` A tokens with the closest match are averaged into their
B token (weighted by how many image patches each already stands for), the rest stay. The class token is never
merged. Attention then adds log(size) to its logits (proportional attention), so a merged token counts as the
patches it holds. No training is needed: a pretrained ViT keeps most of its predictions at far fewer tokens.

Written with dense ops only (ArgMax, TopK, CumSum, Equal, MatMul) instead of gather / scatter, so ONNX Runtime,
OpenVINO and LiteRT all run it; the shapes are static for a given input size and `r`.
"""
from __future__ import annotations

import torch

PROTECTED = 1  # leading tokens never merged: the class token


def merges_after(block: int, depth: int, r: int, every: int) -> bool:
    """Whether block `block` of `depth` merges `r` tokens after its attention: every `every`-th block but the last
    (a merge there saves only the last MLP's work on the merged tokens, less than the step costs)."""
    return r > 0 and (block + 1) % every == 0 and block < depth - 1


def merge_count(tokens: int, r: int, protected: int = PROTECTED) -> int:
    """Tokens merged at a block that receives `tokens` tokens: r, capped so every A token but the protected one can
    merge at most once (ToMe's cap: half the tokens)."""
    set_a = (tokens + 1) // 2
    return max(0, min(r, set_a - protected))


def _one_hot(index: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """index (..., n) -> (..., n, width) one-hot rows, as float (Equal against a range; exports everywhere)."""
    return (index.unsqueeze(-1) == torch.arange(width, device=index.device)).to(dtype)


def merge_tokens(x: torch.Tensor, size: torch.Tensor | None, keys: torch.Tensor,
                 r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge `r` tokens of x (B, N, C) whose sizes are size (B, N, 1) (None: all 1), matched by keys (B, N, K).

    One (N - r, N) matrix says where each token goes (the kept A tokens first, in order, then the B tokens with the
    A tokens merged into them); weighted by the sizes, a single MatMul then sums the features and a ReduceSum the
    sizes, so the step writes two (N - r, C) tensors and otherwise only small ones."""
    n = x.shape[1]
    r = merge_count(n, r)
    if r == 0:
        return x, torch.ones_like(x[..., :1]) if size is None else size
    metric = keys / keys.norm(dim=-1, keepdim=True)
    scores = metric[:, ::2] @ metric[:, 1::2].transpose(-1, -2)  # (B, Na, Nb) cosine similarities in [-1, 1]
    best, match = scores.max(dim=-1)  # each A token's closest B token
    na, nb = scores.shape[1], scores.shape[2]
    # below any cosine: never merged (a constant vector added instead, filled in place, was lost by OpenVINO's
    # PyTorch frontend at batch >= 64)
    best = torch.cat([torch.full_like(best[:, :PROTECTED], -2.0), best[:, PROTECTED:]], dim=1)
    merged = _one_hot(best.topk(r, dim=-1).indices, na, x.dtype).sum(dim=1)  # (B, Na): 1 = merges
    rank = (1.0 - merged).cumsum(dim=-1) - 1.0  # a kept A token's row among the kept ones
    dest_a = rank + merged * (match.to(x.dtype) + (na - r) - rank)  # merged: its B token's row
    dest_b = torch.arange(na, dtype=x.dtype, device=x.device) + (na - r)  # padded to Na when N is odd
    dest = torch.stack([dest_a, dest_b.expand_as(dest_a)], dim=-1).flatten(1)[:, :n]  # (B, N): A, B interleaved
    rows = torch.arange(n - r, dtype=x.dtype, device=x.device)
    where = (dest.unsqueeze(1) == rows.unsqueeze(-1)).to(x.dtype)  # (B, N - r, N): token -> its row
    if size is not None:
        where = where * size.transpose(1, 2)
    new_size = where.sum(dim=-1, keepdim=True)
    return (where @ x) / new_size, new_size


def proportional_bias(size: torch.Tensor) -> torch.Tensor:
    """(B, N, 1) token sizes -> (B, 1, 1, N) attention-logit bias log(size)."""
    return size.log().transpose(1, 2).unsqueeze(1)


def size_weighted_mean(x: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of x (B, N, C) where each token stands for `size` patches."""
    return (x * size).sum(dim=1) / size.sum(dim=1)

