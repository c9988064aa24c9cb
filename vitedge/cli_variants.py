"""`vitedge nas` and `vitedge distill`: the subcommands that make smaller models (see vitedge.cli)."""
from __future__ import annotations

from pathlib import Path

from vitedge.cli import (non_negative_float, non_negative_int, open_fraction, percentage_points, positive_float,
                         positive_int, seed_int, threads_count, unit_interval)


def add_nas(sub) -> None:
    p = sub.add_parser("nas", help="a family of faster variants of a pretrained ViT: train once as a supernet, then "
                                   "pick per target without retraining",
                       description="Writes OUT/nas.json, OUT/<target>.png, OUT/supernet.safetensors and "
                                   "OUT/variants/<target>.toml (+ weights). Re-running with the same --out resumes "
                                   "the supernet training from its checkpoint. Several processes: "
                                   "torchrun --nproc_per_node N -m vitedge nas ...")
    p.add_argument("model", help="the parent ViT: built-in name, timm name (+ --weights), spec file, HF folder")
    p.add_argument("--weights", help="weights of the parent, as export's --weights")
    p.add_argument("--data", help="images the supernet trains on; labels not needed (default: the built-in "
                                  "model's calibration set)")
    p.add_argument("--eval", dest="eval_data", help="held-out images the configurations are ranked on (default: the "
                                                    "built-in model's evaluation set, else 20%% of --data)")
    p.add_argument("--targets", default="x86-cpu", help="comma-separated targets (`vitedge targets`)")
    p.add_argument("--budget-ms", help="latency budget: 0.2 (every target) or x86-cpu=0.2,android-arm64=0.1 "
                                       "(default: none, the fastest within the accuracy limits)")
    p.add_argument("--budget-fraction", type=open_fraction,
                   help="budget as a share of the parent's own latency on each target (e.g. 0.5)")
    p.add_argument("--min-speedup", type=positive_float, help="budget as a required speed-up over the parent")
    p.add_argument("--max-drop", type=percentage_points, default=1.0,
                   help="top-1 the pick may lose against the parent, in pp (default: 1.0)")
    p.add_argument("--min-agreement", type=percentage_points, default=90.0,
                   help="top-1 agreement with the parent the pick keeps, in %% (default: 90)")
    p.add_argument("--epochs", type=non_negative_int, default=4,
                   help="supernet training epochs over --data; 0: search the pretrained weights (default: 4)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="supernet batch (default: 32)")
    p.add_argument("--lr", type=positive_float, default=2e-5, help="supernet AdamW learning rate (default: 2e-5)")
    p.add_argument("--screen", type=positive_int, default=240, help="configurations screened (default: 240)")
    p.add_argument("--finalists", type=positive_int, default=10,
                   help="per target: configurations evaluated on every image and timed (default: 10)")
    p.add_argument("--min-depth", type=positive_int, help="fewest blocks kept (default: half the parent's)")
    p.add_argument("--no-embed", action="store_true", help="keep the parent's embedding width")
    p.add_argument("--no-merge", action="store_true", help="no token merging")
    p.add_argument("--merge-every", type=positive_int, default=0,
                   help="blocks per token-merging step (default: 1 below 8 blocks, 2 below 12, else 3)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--threads", type=threads_count, help="ONNX Runtime threads for timing (default: the target's)")
    p.add_argument("--zero-shot-floor", type=percentage_points, default=60.0,
                   help="knob values whose sub-network keeps less top-1 agreement with the parent before training "
                        "are neither trained nor searched, in %% (default: 60; 0 keeps all)")
    p.add_argument("--rounds", type=positive_int, default=9,
                   help="interleaved timing rounds per measurement (default: 9; more on a busy host)")
    p.add_argument("--out", default="runs/nas", help="output folder (default: runs/nas)")
    p.add_argument("--force", action="store_true", help="replace a NAS result already in --out")
    p.set_defaults(run=_run_nas)


def nas_config(args):
    """NASConfig from `vitedge nas` arguments."""
    from vitedge.nas.run import NASConfig
    from vitedge.nas.sources import parse_budgets, parse_targets
    from vitedge.nas.supernet import SupernetSettings

    targets = parse_targets(args.targets)
    return NASConfig(targets=targets, budgets=parse_budgets(args.budget_ms, targets),
                     budget_fraction=args.budget_fraction, min_speedup=args.min_speedup, max_drop=args.max_drop,
                     min_agreement=args.min_agreement,
                     supernet=SupernetSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                               seed=args.seed),
                     screen=args.screen, finalists=args.finalists, min_depth=args.min_depth,
                     embed=not args.no_embed, merge=not args.no_merge,
                     merge_every=args.merge_every, seed=args.seed, threads=args.threads,
                     rounds=args.rounds, zero_shot_floor=args.zero_shot_floor)


def _run_nas(args) -> int:
    import os

    from vitedge import api
    from vitedge.nas.report import nas_table

    result = api.nas(args.model, args.data, args.eval_data, args.out, nas_config(args), args.weights, args.force)
    if os.environ.get("RANK", "0") == "0":
        print(nas_table(result))
        print(f"\nwrote {Path(args.out) / 'nas.json'}, {len(result.picks)} plot(s), "
              f"{len(set(result.variants.values()))} variant(s) in {Path(args.out) / 'variants'} "
              f"({result.seconds:.0f} s)")
    return 0


def add_distill(sub) -> None:
    p = sub.add_parser("distill", help="train a smaller student on a teacher's outputs (knowledge distillation)",
                       description="Re-running with the same --out resumes from its checkpoint. Several processes: "
                                   "torchrun --nproc_per_node N -m vitedge distill ...")
    p.add_argument("--teacher", required=True, help="teacher model (any source export takes)")
    p.add_argument("--student", required=True, help="student model: a spec file (e.g. from nas), name or folder")
    p.add_argument("--teacher-weights", help="weights of the teacher, as export's --weights")
    p.add_argument("--student-weights", help="weights of the student, as export's --weights")
    p.add_argument("--random-init", action="store_true", help="allow a student without weights (random start)")
    p.add_argument("--data", help="training images (default: the teacher's calibration set)")
    p.add_argument("--eval", dest="eval_data", help="held-out labelled images (default: the teacher's eval set)")
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="global batch, split across processes (default: 64)")
    p.add_argument("--lr", type=positive_float, default=5e-4, help="peak AdamW learning rate (default: 5e-4)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.05)
    p.add_argument("--warmup-steps", type=non_negative_int, help="linear warmup steps (default: 5%% of the run)")
    p.add_argument("--temperature", type=positive_float, default=4.0,
                   help="softmax temperature of the KL term (default: 4)")
    p.add_argument("--alpha", type=unit_interval, default=0.7, help="weight of the distillation term vs labels (0.7)")
    p.add_argument("--hard", action="store_true", help="DeiT hard distillation: CE on the teacher's argmax")
    p.add_argument("--feature-weight", type=non_negative_float, default=0.0,
                   help="weight of feature MSE (default: 0, off)")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--checkpoint-every", type=positive_int, default=500,
                   help="steps between checkpoints (and every epoch)")
    p.add_argument("--allow-overlap", action="store_true", help="allow images shared by --data and --eval")
    p.add_argument("--out", default="runs/distill", help="output folder (default: runs/distill)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="start over, replacing a checkpoint or run in --out")
    mode.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out (the default)")
    p.set_defaults(run=_run_distill)


def _run_distill(args) -> int:
    import os

    from vitedge import api
    from vitedge.console import table
    from vitedge.distill import DistillConfig

    cfg = DistillConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                        warmup_steps=args.warmup_steps, temperature=args.temperature, alpha=args.alpha,
                        hard_distill=args.hard, feature_weight=args.feature_weight, max_steps=args.max_steps,
                        seed=args.seed, checkpoint_every=args.checkpoint_every)
    result = api.distill(args.teacher, args.student, args.data, args.eval_data, args.out, cfg,
                         args.teacher_weights, args.student_weights, args.random_init, args.allow_overlap, args.force)
    if os.environ.get("RANK", "0") == "0":  # one table under torchrun
        pct = lambda v: "-" if v is None else f"{v:.2f}%"
        rows = [[h["epoch"], f"{h['loss']:.4f}", pct(h["eval_top1"]), pct(h["agreement"]), f"{h['seconds']:.1f}"]
                for h in result.history]
        print(table(["epoch", "loss", "top-1", "agreement", "seconds"], rows))
        print(f"\nteacher top-1 {pct(result.teacher_top1)}, student {pct(result.eval_top1)}")
        print(f"wrote {Path(args.out) / 'student.toml'}")
    return 0
