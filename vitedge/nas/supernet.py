"""Train once: fine-tune the pretrained ViT as a weight-sharing supernet (sandwich rule, in-place distillation).

Each step draws a batch of random resized crops of the user's images; the frozen pretrained model labels them at its
own resolution; the largest, the smallest and random sub-networks of the search space each see the same views at
their resolution and are pulled towards those outputs (KL at `temperature`), so no labels are needed. The sub-networks
of a step are drawn from (seed, step), the batches from (seed, epoch), so a resumed run or one under torchrun
(gloo on CPU, nccl on GPUs) trains the same way. Checkpoints are safetensors (weights, AdamW moments, progress).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vitedge.console import log
from vitedge.data.dataset import Dataset
from vitedge.distill import parallel
from vitedge.distill.batches import epoch_order, steps_per_epoch
from vitedge.distill.checkpoint import module_sha256, read_checkpoint, restore, save_checkpoint, save_tensors
from vitedge.errors import VitedgeError
from vitedge.models.spec import IOSpec
from vitedge.nas.augment import at_resolution, normalize, random_resized_crops
from vitedge.nas.elastic import elastic_forward
from vitedge.nas.space import SearchSpace
from vitedge.nas.subnet import SubnetConfig

CHECKPOINT = "supernet.checkpoint.safetensors"
FORMAT = "vitedge-supernet-checkpoint/1"
BEST = "supernet.best.safetensors"  # the weights of the best epoch so far, for a resumed run
BEST_FORMAT = "vitedge-supernet-best/1"
TRAINED_PARAMETERS = ("all", "norms")


@dataclass(frozen=True)
class SupernetSettings:
    """How the supernet is fine-tuned. `trained`: "all" weights, or "norms" (LayerNorms, position embeddings,
    biases: few parameters, for very small image sets). `precision` "auto": bf16 autocast where the CPU or GPU
    computes bf16 natively, else fp32."""

    epochs: int = 4
    batch_size: int = 32
    lr: float = 2e-5
    weight_decay: float = 0.0
    subnets: int = 4
    temperature: float = 1.0
    crop_scale: float = 0.35
    trained: str = "all"
    held_out: int = 256  # at most an eighth of the images
    seed: int = 0
    precision: str = "auto"
    checkpoint_every: int = 25

    def __post_init__(self):
        checks = [(self.epochs >= 0, "epochs must be >= 0 (0: search the pretrained weights as they are)"),
                  (self.batch_size >= 1, "batch_size must be >= 1"), (self.lr > 0, "lr must be positive"),
                  (self.subnets >= 1, "subnets must be >= 1"), (self.temperature > 0, "temperature must be > 0"),
                  (0 < self.crop_scale <= 1, "crop_scale must be in (0, 1]"),
                  (self.trained in TRAINED_PARAMETERS, f"trained must be one of {TRAINED_PARAMETERS}"),
                  (self.precision in ("auto", "bf16", "fp32"), "precision must be auto, bf16 or fp32"),
                  (self.held_out >= 0, "held_out must be >= 0"), (self.checkpoint_every >= 1, "checkpoint_every >= 1")]
        for ok, message in checks:
            if not ok:
                raise VitedgeError(f"invalid supernet settings: {message}", "fix the value and run again")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingRecord:
    settings: dict
    steps: int
    images: int
    held_out: int
    precision: str
    world: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    resumed_from: int | None = None
    kept_epoch: int | None = None  # the epoch whose weights were kept (best mean held-out agreement)

    def to_dict(self) -> dict:
        return asdict(self)


class Supernet(torch.nn.Module):
    """One forward = the whole sandwich of a step, so DistributedDataParallel sees a single forward per backward."""

    def __init__(self, vit: torch.nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, views: torch.Tensor, subnets: list[SubnetConfig], target: torch.Tensor,
                temperature: float) -> torch.Tensor:
        loss = views.new_zeros(())
        for sub in subnets:
            logits = elastic_forward(self.vit, at_resolution(views, sub.resolution), sub).float()
            loss = loss + F.kl_div(F.log_softmax(logits / temperature, -1), target, reduction="batchmean")
        return loss * temperature ** 2 / len(subnets)


def bf16_available(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    from vitedge.targets.host import cpu_info

    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_info()["flags"]))


def trainable(vit: torch.nn.Module, which: str) -> list[torch.nn.Parameter]:
    """The parameters the run updates (the rest stay as pretrained)."""
    chosen = []
    for name, p in vit.named_parameters():
        keep = which == "all" or p.ndim == 1 or name in ("pos_embed", "cls_token")
        p.requires_grad_(keep)
        if keep:
            chosen.append(p)
    return chosen


MIN_HELD_OUT = 16


def split_held_out(data: Dataset, count: int, seed: int) -> tuple[Dataset, Dataset | None]:
    """Up to `count` images (seeded; at most an eighth of the data) held out of training: the agreement they show
    is reported as it trains and picks the epoch that is kept. None when fewer than 16 could be spared."""
    count = min(count, len(data) // 8)
    if count < MIN_HELD_OUT:
        return data, None
    order = np.random.default_rng([seed, 7]).permutation(len(data))
    pick = lambda idx: Dataset(data.images[idx], None if data.labels is None else data.labels[idx], data.source)
    return pick(np.sort(order[count:])), pick(np.sort(order[:count]))


def train_supernet(teacher: torch.nn.Module, vit: torch.nn.Module, space: SearchSpace, data: Dataset, spec: IOSpec,
                   settings: SupernetSettings, out: Path | None, resume: bool = True) -> TrainingRecord:
    """Fine-tune `vit` (in place; reordered by importance) as a supernet of `space` against frozen `teacher`."""
    par = parallel.start()
    try:
        return _Training(teacher, vit, space, data, spec, settings, out, par).run(resume)
    finally:
        par.close()


class _Training:
    def __init__(self, teacher, vit, space, data, spec, settings, out, par):
        self.teacher, self.vit, self.space, self.spec, self.s, self.out, self.par = \
            teacher.eval(), vit, space, spec, settings, out, par
        self.train, self.held = split_held_out(data, settings.held_out, settings.seed)
        if len(self.train) < settings.batch_size:
            raise VitedgeError(f"{data.source}: {len(self.train)} training images for a batch of "
                               f"{settings.batch_size}", "pass more images, or a smaller batch size")
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.bf16 = settings.precision == "bf16" or (settings.precision == "auto" and bf16_available(par.device))
        self.per_epoch = steps_per_epoch(len(self.train), settings.batch_size)
        self.total = self.per_epoch * settings.epochs
        self.optimizer = torch.optim.AdamW(trainable(vit, settings.trained), lr=settings.lr,
                                           weight_decay=settings.weight_decay)
        self.step, self.history, self.seconds_before, self.resumed_from = 0, [], 0.0, None
        self.started = time.perf_counter()
        self._identity = None
        self.best: tuple[int, float, dict] | None = None  # (epoch, mean held-out agreement, weights)

    def run(self, resume: bool) -> TrainingRecord:
        if self.out is not None and resume:
            self._resume()
        model = parallel.wrap(Supernet(self.vit), self.par, find_unused=True)
        self._say(f"supernet: {self.total} steps ({self.s.epochs} epochs x {self.per_epoch}), batch "
                  f"{self.s.batch_size}, {self.s.subnets} sub-networks a step, "
                  f"{'bf16' if self.bf16 else 'fp32'} on {self.par.device}; {len(self.train)} images"
                  + (f", {len(self.held)} held out" if self.held is not None else ""))
        if self.step == 0 and self.held is not None:
            self.history.append({"epoch": 0, "step": 0, **self._agreement()})
            self._keep_if_best(self.history[-1])
        self.vit.train()
        while self.step < self.total:
            self._train_step(model)
        seconds = self.seconds_before + time.perf_counter() - self.started
        self.vit.eval()
        kept = self._restore_best()
        return TrainingRecord(self.s.to_dict(), self.total, len(self.train), len(self.held or ()),
                              "bf16" if self.bf16 else "fp32", self.par.world, round(seconds, 1), self.history,
                              self.resumed_from, kept)

    def _keep_if_best(self, entry: dict) -> None:
        """Remember the weights of the epoch with the best mean held-out agreement (epoch 0: the pretrained ones),
        in memory and, for a resumed run, in OUT/supernet.best.safetensors."""
        score = float(np.mean([v for k, v in entry.items() if k.startswith("agreement")]))
        if self.best is not None and score <= self.best[1]:
            return
        self.best = (entry["epoch"], score, {k: v.detach().clone() for k, v in self.vit.state_dict().items()})
        if self.out is not None and self.par.main:
            save_tensors(self.out / BEST, {f"model.{k}": v for k, v in self.best[2].items()},
                         {"format": BEST_FORMAT, "state": json.dumps({"epoch": entry["epoch"], "score": score})})

    def _restore_best(self) -> int | None:
        """Load the best epoch's weights when a later epoch lowered the held-out agreement; the epoch kept."""
        if self.best is None:
            return None
        epoch, score, state = self.best
        last = self.history[-1]["epoch"] if self.history else 0
        if epoch != last:
            self.vit.load_state_dict(state)
            self._say(f"supernet: keeping epoch {epoch} (mean held-out agreement {score:.1f}%): later epochs "
                      "lowered it" + (" -- training did not help on these images; the pretrained weights are "
                                      "searched" if epoch == 0 else ""))
        return epoch

    def _views(self) -> torch.Tensor:
        epoch, index = divmod(self.step, self.per_epoch)
        chosen = epoch_order(len(self.train), self.s.seed, epoch)[index * self.s.batch_size:
                                                                   (index + 1) * self.s.batch_size]
        mine = chosen[self.par.rank::self.par.world]
        rng = np.random.default_rng([self.s.seed, self.step, 3])
        views = random_resized_crops(self.train.images[np.sort(mine)], rng, (self.s.crop_scale, 1.0))
        return normalize(views, self.spec).to(self.par.device)

    def _train_step(self, model) -> None:
        lr = self.s.lr * min(1.0, (self.step + 1) / max(1, self.total // 20)) * \
            0.5 * (1 + math.cos(math.pi * self.step / max(1, self.total)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        views = self._views()
        subnets = self.space.sandwich(random.Random(f"{self.s.seed}-{self.step}"), self.s.subnets)
        with torch.autocast(self.par.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            with torch.no_grad():
                target = F.softmax(self.teacher(views).float() / self.s.temperature, -1)
            loss = model(views, subnets, target, self.s.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        self._progress(loss.item())

    def _progress(self, loss: float) -> None:
        every = max(1, self.per_epoch // 2)
        if self.step % every == 0 or self.step == self.total:
            self._say(f"  step {self.step}/{self.total}  loss {loss:.4f}")
        if self.step % self.per_epoch == 0:
            entry = {"epoch": self.step // self.per_epoch, "step": self.step, "loss": round(loss, 5)}
            entry |= self._agreement() if self.held is not None else {}
            self.history.append(entry)
            if self.held is not None:
                self._keep_if_best(entry)
            shown = ", ".join(f"{k} {v:.1f}%" for k, v in entry.items() if k.startswith("agreement"))
            self._say(f"epoch {entry['epoch']}/{self.s.epochs}  loss {loss:.4f}" + (f"  held-out {shown}"
                                                                                   if shown else ""))
        if self.step % self.s.checkpoint_every == 0 or self.step % self.per_epoch == 0:
            self._checkpoint()

    @torch.no_grad()
    def _agreement(self) -> dict:
        """Top-1 agreement with the teacher on the held-out images: largest, smallest and a middle sub-network."""
        self.vit.eval()
        x = normalize(torch.from_numpy(self.held.images).float().div(255), self.spec).to(self.par.device)
        reference = self.teacher(x).argmax(-1)
        middle = self.space.sample(random.Random(self.s.seed))
        out = {}
        for name, sub in (("largest", self.space.largest()), ("middle", middle), ("smallest", self.space.smallest())):
            preds = elastic_forward(self.vit, at_resolution(x, sub.resolution), sub).argmax(-1)
            out[f"agreement_{name}"] = round(100.0 * float((preds == reference).float().mean()), 2)
        self.vit.train()
        return out

    def identity(self) -> dict:
        """What the run depends on: a checkpoint of another run is never resumed."""
        if self._identity is None:
            self._identity = {"settings": self.s.to_dict(), "data": self.train.sha256(),
                              "teacher": module_sha256(self.teacher), "space": self.space.to_dict()}
        return self._identity

    def _checkpoint(self) -> None:
        if self.out is None or not self.par.main:
            return
        state = {"step": self.step, "history": self.history, "identity": self.identity(),
                 "seconds": self.seconds_before + time.perf_counter() - self.started}
        save_checkpoint(self.out / CHECKPOINT, self.vit, self.optimizer, state, FORMAT)

    def _resume(self) -> None:
        path = self.out / CHECKPOINT
        if not path.is_file():
            return
        tensors, state = read_checkpoint(path, FORMAT)
        if state.get("identity") != self.identity():
            raise VitedgeError(f"{path} was made by a different supernet run (settings, data, model or space "
                               "differ)", "pass --force to start over, or choose another --out")
        restore(tensors, self.vit, self.optimizer)
        if (self.out / BEST).is_file():
            weights, best = read_checkpoint(self.out / BEST, BEST_FORMAT)
            self.best = (best["epoch"], best["score"], {k[len("model."):]: v for k, v in weights.items()})
        self.step, self.history, self.seconds_before = state["step"], state["history"], state["seconds"]
        self.resumed_from, self.started = self.step, time.perf_counter()
        self._say(f"supernet: resuming from step {self.step} of {self.total} ({path})")

    def _say(self, message: str) -> None:
        if self.par.main:
            log(message)
