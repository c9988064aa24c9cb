"""Can distillation on 500 photos buy back what a lower input resolution costs DeiT-Tiny? (issue 12)

The resolution knob is the one that maps to real x86 speed (192 px: ~1.3x in ONNX Runtime FP32) but it keeps only
~85% top-1 agreement with the 224 px parent. This probe trains the 192 px sub-network alone (not the sandwich) on
imagenet_sample classes 0-499 against the frozen 224 px parent and evaluates on classes 500-999:

- zero-shot: position embeddings resampled (what vitedge does) or cropped to the central tokens (the image cropped
  instead of resized: the parent's own patch tokens at the centre);
- logit KD of the LayerNorms, biases, position embeddings and class token (70k parameters, lr 3e-4);
- logit KD of every weight (lr 3e-5), the 224 px configuration kept in the loss so the parent function stays;
- logit + per-block token-feature KD (teacher token grid area-resampled to the student's) of the same 70k parameters.

    python benchmarks/nas_resolution_probe.py    # ~12 min on 2 cores; writes results/nas_resolution_probe.{json,md}
"""
from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vitedge.data import load_dataset  # noqa: E402
from vitedge.models import load_model  # noqa: E402
from vitedge.nas.augment import at_resolution, normalize, random_resized_crops  # noqa: E402
from vitedge.nas.elastic import resample_pos_embed  # noqa: E402

SHARED = ROOT.parent / "shared"
RESULTS = Path(__file__).parent / "results"
PATCH, FULL, LOW, BATCH = 16, 224, 192, 32


def forward(vit, x: torch.Tensor, resolution: int, crop: bool = False):
    """Logits and every block's tokens of `vit` on images at `resolution` (pos-embeds resampled, or cropped)."""
    grid, full = resolution // PATCH, FULL // PATCH
    if crop:
        offset = (full - grid) // 2
        patches = vit.pos_embed[:, 1:].reshape(1, full, full, -1)[:, offset:offset + grid, offset:offset + grid]
        pos = torch.cat([vit.pos_embed[:, :1], patches.reshape(1, grid * grid, -1)], 1)
    else:
        pos = resample_pos_embed(vit.pos_embed, 1, grid)
    tokens = vit.patch_embed(x)
    tokens = torch.cat([vit.cls_token.expand(len(tokens), -1, -1), tokens], 1) + pos
    features = []
    for block in vit.blocks:
        tokens = block(tokens)
        features.append(tokens)
    return vit.head(vit.norm(tokens)[:, 0]), features


def feature_loss(student: list, teacher: list, grid: int) -> torch.Tensor:
    loss = student[0].new_zeros(())
    for s, t in zip(student, teacher):
        s, t = s.float(), t.float()
        scale = t.var(dim=(0, 1)).mean() + 1e-6
        side = int(round((t.shape[1] - 1) ** 0.5))
        grid_t = F.interpolate(t[:, 1:].transpose(1, 2).reshape(len(t), -1, side, side), size=(grid, grid),
                               mode="area").flatten(2).transpose(1, 2)
        loss = loss + ((s[:, 0] - t[:, 0]).pow(2).mean() + (s[:, 1:] - grid_t).pow(2).mean()) / scale
    return loss / len(student)


class Probe:
    def __init__(self):
        self.parent = load_model("deit_tiny_patch16_224",
                                 weights=str(SHARED / "models/deit_tiny_imagenet/deit_tiny_patch16_224.safetensors"))
        self.train = load_dataset(f"{SHARED}/data/imagenet_sample[0:500]", self.parent.spec)
        search = load_dataset(f"{SHARED}/data/imagenet_sample[500:1000]", self.parent.spec)
        self.labels = search.labels
        self.images = [torch.from_numpy(x) for x, _ in search.batches(self.parent.spec, 100)]
        self.teacher = self.parent.module.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.reference = self._predict(self.teacher, FULL)

    @torch.no_grad()
    def _predict(self, vit, resolution: int, crop: bool = False) -> np.ndarray:
        vit.eval()
        o = (FULL - resolution) // 2
        views = [x[..., o:o + resolution, o:o + resolution] if crop else at_resolution(x, resolution)
                 for x in self.images]
        return torch.cat([forward(vit, v, resolution, crop)[0] for v in views]).argmax(-1).numpy()

    def figures(self, vit, resolution: int = LOW, crop: bool = False) -> dict:
        pred = self._predict(vit, resolution, crop)
        return {"top1": round(100 * float((pred == self.labels).mean()), 1),
                "drop_pp": round(100 * float((self.reference == self.labels).mean() - (pred == self.labels).mean()), 1),
                "agreement": round(100 * float((pred == self.reference).mean()), 1)}

    def distil(self, trained: str, lr: float, epochs: int, features: bool = False) -> list[dict]:
        """Train a copy at 192 px; figures at 192 px (and 224 px) every two epochs."""
        vit = copy.deepcopy(self.teacher)
        params = [p for n, p in vit.named_parameters() if trained == "all" or p.ndim == 1 or n in ("pos_embed",
                                                                                                   "cls_token")]
        for p in vit.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        per_epoch = len(self.train) // BATCH
        total, history = per_epoch * epochs, [{"epoch": 0, **self.figures(vit)}]
        for step in range(total):
            epoch, index = divmod(step, per_epoch)
            order = np.random.default_rng([0, epoch]).permutation(len(self.train))
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / max(1, total // 20)) * 0.5 * (
                    1 + math.cos(math.pi * step / total))
            rng = np.random.default_rng([0, step, 3])
            chosen = np.sort(order[index * BATCH:(index + 1) * BATCH])
            views = normalize(random_resized_crops(self.train.images[chosen], rng, (0.35, 1.0)), self.parent.spec)
            vit.train()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                with torch.no_grad():
                    logits_t, features_t = forward(self.teacher, views, FULL)
                    target = F.softmax(logits_t.float(), -1)
                logits_s, features_s = forward(vit, at_resolution(views, LOW), LOW)
                loss = F.kl_div(F.log_softmax(logits_s.float(), -1), target, reduction="batchmean")
                if features:
                    loss = loss + feature_loss(features_s, features_t, LOW // PATCH)
                if trained == "all":  # keep the parent configuration's function in the shared weights
                    loss = loss + F.kl_div(F.log_softmax(forward(vit, views, FULL)[0].float(), -1), target,
                                           reduction="batchmean")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if (step + 1) % (2 * per_epoch) == 0 or step + 1 == total:
                history.append({"epoch": (step + 1) // per_epoch, **self.figures(vit),
                                "at_224": self.figures(vit, FULL)["agreement"]})
                print(history[-1], flush=True)
        return history


def table_row(label: str, f: dict, epoch: int, at_224) -> str:
    return f"| {label} | {epoch} | {f['top1']} | {f['drop_pp']} | {f['agreement']} | {at_224} |"


def main() -> None:
    torch.manual_seed(0)
    probe = Probe()
    results = {"zero-shot": {f"{r} px, position embeddings {how}": probe.figures(probe.teacher, r, how == "cropped")
                             for r in (208, 192) for how in ("resampled", "cropped")
                             if how == "resampled" or (FULL - r) % (2 * PATCH) == 0},
               "KD norms + biases + pos-embeds, lr 3e-4": probe.distil("norms", 3e-4, 8),
               "KD every weight, lr 3e-5 (224 px kept in the loss)": probe.distil("all", 3e-5, 4),
               "KD logits + block tokens, norms + biases + pos-embeds, lr 3e-4": probe.distil("norms", 3e-4, 4, True)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nas_resolution_probe.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# DeiT-Tiny at 192 px: what distillation on 500 photos buys back", "",
             "Parent (224 px) top-1 on imagenet_sample classes 500-999: "
             f"{100 * float((probe.reference == probe.labels).mean()):.1f}%. Agreement: top-1 agreement with it.", "",
             "| what | epochs | top-1 % | drop pp | agreement % | parent config's agreement % |",
             "|---|---|---|---|---|---|"]
    lines += [table_row(f"zero-shot {label}", f, 0, "-") for label, f in results["zero-shot"].items()]
    lines += [table_row(label, h, h["epoch"], h["at_224"]) for label, history in list(results.items())[1:]
              for h in history[1:]]
    lines += ["", "`python benchmarks/nas_resolution_probe.py`; FP32 evaluation, 500 photos (one image is 0.2 pp)."]
    (RESULTS / "nas_resolution_probe.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
