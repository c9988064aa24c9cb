"""The distillation loop: AdamW, warmup + cosine, per-epoch evaluation, checkpoints and exact resume."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from vitedge.console import log
from vitedge.data.dataset import Dataset
from vitedge.distill import parallel
from vitedge.distill.batches import epoch_batches, steps_per_epoch
from vitedge.distill.checkpoint import (CHECKPOINT, architecture_sha256, check_identity, module_sha256,
                                        read_checkpoint, restore, save_checkpoint)
from vitedge.distill.config import DistillConfig, DistillError, DistillResult
from vitedge.distill.evaluate import predict, top1
from vitedge.distill.losses import distill_loss
from vitedge.distill.modules import Trainee, check_feature_models, param_groups, teacher_outputs
from vitedge.distill.output import REPORT, SPEC, WEIGHTS
from vitedge.distill.report import final_report
from vitedge.errors import OutputExistsError
from vitedge.models.spec import IOSpec

MIN_LR_RATIO = 0.01


def lr_at(step: int, cfg: DistillConfig, total: int, warmup: int) -> float:
    """Linear warmup to cfg.lr over `warmup` steps, then cosine down to MIN_LR_RATIO * cfg.lr at `total`."""
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return cfg.lr * (MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def distill(teacher: torch.nn.Module, student: torch.nn.Module, train: Dataset, spec: IOSpec,
            cfg: DistillConfig | None = None, out: Path | None = None, eval_data: Dataset | None = None,
            resume: bool = True, progress: bool = True, *, name: str = "student",
            meta: dict | None = None) -> DistillResult:
    """Train `student` (in place) to match `teacher` on `train`; see DistillConfig for the loss and schedule.

    With `out`, checkpoints go to OUT/checkpoint.safetensors and a finished run writes student.safetensors,
    student.toml and distill.json there; a run with the same inputs resumes from the checkpoint (`resume=False`
    starts over). Under torchrun every process calls this; only rank 0 writes and prints.
    `name` is the student's name in student.toml; `meta` is recorded in distill.json.
    """
    par = parallel.start()
    try:
        run = _Run(teacher, student, train, spec, cfg or DistillConfig(), Path(out) if out else None, eval_data,
                   par, progress and par.main)
        return run.execute(resume, name, meta or {})
    finally:
        par.close()


class _Run:
    def __init__(self, teacher, student, train, spec, cfg, out, eval_data, par, verbose):
        if len(train) < par.world:
            raise DistillError(f"{train.source}: {len(train)} training images for {par.world} processes",
                               "pass more training images")
        self.cfg, self.train, self.spec, self.out, self.eval_data, self.par = cfg, train, spec, out, eval_data, par
        self.verbose = verbose
        self.teacher, self.student = teacher, student
        self.homes = (_device_of(teacher), teacher.training, _device_of(student))
        if cfg.feature_weight > 0:
            check_feature_models(teacher, student)
        torch.manual_seed(cfg.seed)
        teacher_dim = teacher.cfg.embed_dim if cfg.feature_weight > 0 else None
        teacher.to(par.device).eval()
        self.trainee = Trainee(student, teacher_dim).to(par.device)
        self.optimizer = torch.optim.AdamW(param_groups(self.trainee, cfg.weight_decay), lr=cfg.lr)
        self.per_epoch = steps_per_epoch(len(train), cfg.batch_size)
        self.total = self.per_epoch * cfg.epochs if cfg.max_steps is None else \
            min(cfg.max_steps, self.per_epoch * cfg.epochs)
        self.warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, round(0.05 * self.total))
        self.step, self.history, self.seconds_before, self.resumed_from = 0, [], 0.0, None
        self.loss_sum, self.loss_count, self.epoch_seconds = 0.0, 0.0, 0.0
        self.samples = 0

    def identity(self) -> dict:
        return {"config": self.cfg.training_dict(), "train": self.train.sha256(),
                "eval": self.eval_data.sha256() if self.eval_data is not None else None,
                "teacher": module_sha256(self.teacher), "student": architecture_sha256(self.student),
                "spec": self.spec.to_dict()}

    def execute(self, resume: bool, name: str, meta: dict) -> DistillResult:
        self.started = time.perf_counter()
        self._identity = self.identity() if self.out is not None else None  # hashing is for checkpoints only
        if self.out is not None:
            self._start_or_resume(resume, self._identity)
        self.model = parallel.wrap(self.trainee, self.par)
        self.teacher_preds = self._teacher_eval()
        self._train()
        samples = self.par.gather(float(self.samples))
        result = self._finish(self.seconds_before + self._session_seconds())
        if self.out is not None and self.par.main:
            run = {"device": str(self.par.device), "samples_per_rank": [int(n) for n in samples],
                   "steps_per_epoch": self.per_epoch, "total_steps": self.total, "warmup_steps": self.warmup}
            final_report(self.out, result, self.cfg, self.spec, self._identity, self.train, self.eval_data,
                         self.teacher, name, {**meta, "run": run})
            self._say(f"wrote {self.out / WEIGHTS}, {self.out / SPEC}, {self.out / REPORT}")
        self.par.barrier()
        return result

    def _start_or_resume(self, resume: bool, identity: dict) -> None:
        path = self.out / CHECKPOINT
        if not resume:
            self.par.barrier()
            if self.par.main:
                for stale in (CHECKPOINT, WEIGHTS, SPEC, REPORT):
                    (self.out / stale).unlink(missing_ok=True)
            self.par.barrier()
            return
        if not path.is_file():
            done = [n for n in (WEIGHTS, SPEC, REPORT) if (self.out / n).exists()]
            if done:
                raise OutputExistsError(f"{self.out} holds {', '.join(done)} but no checkpoint to resume",
                                        "pass --force (resume=False) to replace them, or choose another --out")
            return
        tensors, state = read_checkpoint(path)
        check_identity(path, state["identity"], identity)
        restore(tensors, self.trainee, self.optimizer)
        self.step, self.history = state["step"], state["history"]
        self.loss_sum, self.loss_count = state["loss_sum"], state["loss_count"]
        self.seconds_before, self.epoch_seconds = state["seconds"], state["epoch_seconds"]
        self.resumed_from = self.step
        self._say(f"resuming from the checkpoint at step {self.step} of {self.total} ({path})")

    def _teacher_eval(self):
        """The teacher's predictions on this process's share of the eval data, and its top-1 (%)."""
        self.teacher_top1 = None
        if self.eval_data is None:
            return None
        preds = predict(self.teacher, self.eval_data, self.spec, self.par.device, self.par.rank, self.par.world)
        counts = top1(preds, self.eval_data, self.par.rank, self.par.world)
        if counts is not None:
            correct, total = self.par.all_sum(list(counts))
            self.teacher_top1 = 100.0 * correct / total
        return preds

    def _train(self) -> None:
        cfg, par = self.cfg, self.par
        self._say(f"distill: {self.per_epoch} steps/epoch, {self.total} steps, batch {cfg.batch_size} on "
                  f"{par.device} ({par.world} process{'es' if par.world > 1 else ''})"
                  + (f"; teacher top-1 {self.teacher_top1:.2f}%" if self.teacher_top1 is not None else ""))
        self.trainee.train()
        local = torch.zeros(2, dtype=torch.float64)
        tick = time.perf_counter()
        while self.step < self.total:
            epoch = self.step // self.per_epoch
            batches = epoch_batches(self.train, self.spec, cfg.batch_size, cfg.seed, epoch, self.step, par.rank,
                                    par.world, cfg.augment_shift, par.device)
            for x, y, global_count in batches:
                local += self._train_step(x, y, global_count)
                self.step += 1
                if self.step % self.per_epoch == 0 or self.step == self.total:
                    self.epoch_seconds += time.perf_counter() - tick
                    self._end_epoch(epoch, local)
                    tick, local = time.perf_counter(), torch.zeros(2, dtype=torch.float64)
                    break
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.epoch_seconds += time.perf_counter() - tick
                    self._commit(local)
                    self._checkpoint()
                    tick, local = time.perf_counter(), torch.zeros(2, dtype=torch.float64)
                self._step_line(local)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor | None, global_count: int) -> torch.Tensor:
        lr = lr_at(self.step, self.cfg, self.total, self.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        student_logits, student_features = self.model(x)
        teacher_logits, teacher_features = teacher_outputs(self.teacher, x, self.cfg.feature_weight > 0)
        per_sample = distill_loss(student_logits, teacher_logits, y, self.cfg, student_features, teacher_features)
        loss = per_sample.sum() * (self.par.world / global_count)  # DDP averages over processes: a global mean
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.samples += len(x)
        return torch.tensor([per_sample.detach().sum().item(), len(x)], dtype=torch.float64)

    def _commit(self, local: torch.Tensor) -> None:
        """Add every process's loss since the last commit to the epoch's running total."""
        loss_sum, count = self.par.all_sum(local.tolist())
        self.loss_sum, self.loss_count = self.loss_sum + loss_sum, self.loss_count + count

    def _end_epoch(self, epoch: int, local: torch.Tensor) -> None:
        self._commit(local)
        entry = {"epoch": epoch + 1, "step": self.step, "loss": self.loss_sum / max(1.0, self.loss_count),
                 "lr": lr_at(self.step - 1, self.cfg, self.total, self.warmup)}
        entry.update(self._evaluate())
        entry["seconds"] = self.epoch_seconds
        self.history.append(entry)
        self.loss_sum, self.loss_count, self.epoch_seconds = 0.0, 0.0, 0.0
        self._checkpoint()
        top = f"  eval top-1 {entry['eval_top1']:.2f}%" if entry.get("eval_top1") is not None else ""
        agree = f"  agreement {entry['agreement']:.2f}%" if entry.get("agreement") is not None else ""
        self._say(f"epoch {epoch + 1}/{self.cfg.epochs}  step {self.step}/{self.total}  loss {entry['loss']:.4f}"
                  f"{top}{agree}  lr {entry['lr']:.2e}  {entry['seconds']:.1f} s")

    def _evaluate(self) -> dict:
        if self.eval_data is None:
            return {"eval_top1": None, "agreement": None}
        par = self.par
        preds = predict(self.student, self.eval_data, self.spec, par.device, par.rank, par.world)
        counts = top1(preds, self.eval_data, par.rank, par.world) or (0, 0)
        correct, labelled, agree, total = par.all_sum([*counts, float((preds == self.teacher_preds).sum()),
                                                       float(len(preds))])
        return {"eval_top1": 100.0 * correct / labelled if labelled else None, "agreement": 100.0 * agree / total}

    def _checkpoint(self) -> None:
        if self.out is None or not self.par.main:
            return
        state = {"step": self.step, "history": self.history, "loss_sum": self.loss_sum,
                 "loss_count": self.loss_count, "seconds": self.seconds_before + self._session_seconds(),
                 "epoch_seconds": self.epoch_seconds, "identity": self._identity, "world_size": self.par.world}
        save_checkpoint(self.out / CHECKPOINT, self.trainee, self.optimizer, state)

    def _session_seconds(self) -> float:
        return time.perf_counter() - self.started

    def _step_line(self, local: torch.Tensor) -> None:
        every = max(10, self.per_epoch // 4)
        if self.verbose and self.step % every == 0 and local[1] > 0:
            self._say(f"  step {self.step}/{self.total}  loss {local[0].item() / local[1].item():.4f} (rank 0)")

    def _finish(self, seconds: float) -> DistillResult:
        teacher_home, teacher_training, student_home = self.homes
        self.teacher.to(teacher_home).train(teacher_training)
        self.student.to(student_home).eval()
        last = self.history[-1] if self.history else {}
        return DistillResult(self.student, self.history, last.get("eval_top1"), self.teacher_top1, self.step,
                             seconds, self.resumed_from, last.get("agreement"), self.par.world)

    def _say(self, message: str) -> None:
        if self.verbose:
            log(message)


def _device_of(module: torch.nn.Module) -> torch.device:
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
