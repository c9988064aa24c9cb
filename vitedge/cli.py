"""`vitedge` command line: one subcommand per verb; each parses arguments and calls vitedge.api."""
from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from pathlib import Path

from vitedge import __version__
from vitedge.errors import VitedgeError
from vitedge.schema import DEFAULT_SMOOTHQUANT

DEMO_OUT = "runs/demo"
INTERNAL_ERROR = 3  # an unexpected exception: a bug, never the user's input
STORAGE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                  errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied"}
STORAGE_HINTS = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
                 errno.EROFS: "choose an output folder on a writable disk",
                 errno.EACCES: "choose an output folder you can write to"}


def _number_type(kind: type, low: float, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """An argparse `type` that refuses values out of range: argparse names the flag, this says the range."""
    what = ("an integer" if kind is int else "a number") + (
        f" {'>' if low_open else '>='} {low:g}" if high is None else
        f" {'above' if low_open else 'from'} {low:g} {'and below' if high_open else 'to'} {high:g}")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (low_open and value == low) or \
                (high is not None and (value > high or (high_open and value == high))):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


positive_int = _number_type(int, 1)
non_negative_int = _number_type(int, 0)
threads_count = _number_type(int, 1, 1024)
seed_int = _number_type(int, 0, 2 ** 32 - 1)
positive_float = _number_type(float, 0, low_open=True)
non_negative_float = _number_type(float, 0)
percentage_points = _number_type(float, 0, 100)  # an accuracy drop
smoothquant_alpha = _number_type(float, 0, 1)
unit_interval = _number_type(float, 0, 1)
open_fraction = _number_type(float, 0, 1, low_open=True, high_open=True)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX / OpenVINO IR / TFLite and check each against PyTorch")
    p.add_argument("model", help="built-in name (vit4mnist), standard timm name (+ --weights), spec file, HF folder")
    p.add_argument("--weights", help="weights file: .safetensors, or .pth/.pt (read with weights_only=True)")
    p.add_argument("--format", default="all", help="comma-separated: onnx,openvino,tflite or all (default: all)")
    p.add_argument("--out", default="runs/export", help="output folder (default: runs/export)")
    p.add_argument("--data", help="images for the parity check: class-folder tree, .npz or IDX, optional [START:END]")
    p.add_argument("--samples", type=positive_int,
                   help="check parity on at most this many images (default: a built-in model's whole held-out set, "
                        "else 500)")
    _add_run_options(p, "the parity check")
    p.set_defaults(run=_run_export)


def _add_run_options(p, threads_for: str) -> None:
    """--threads, --force and --resume, shared by every verb that writes artifacts."""
    p.add_argument("--threads", type=threads_count, help=f"runtime threads for {threads_for} (default: all cores)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="replace the artifacts already in --out")
    mode.add_argument("--resume", action="store_true", help="keep artifacts in --out that are still valid")


def _run_export(args) -> int:
    from vitedge import api
    from vitedge.export.run import raise_for_failures
    from vitedge.export.table import export_table

    result = api.export(args.model, args.format, args.out, weights=args.weights, data=args.data,
                        samples=args.samples, threads=args.threads, force=args.force, resume=args.resume)
    print(export_table(result.artifacts, result.reused))
    if result.written:  # no artifact made (every format failed): nothing was written, so nothing is claimed
        print(f"\nwrote {result.written}")
    raise_for_failures(result)
    return 0


def _add_quantize(sub) -> None:
    p = sub.add_parser("quantize", help="FP16 and INT8 artifacts with calibration and an accuracy-aware fallback")
    p.add_argument("source", help="model (as for export), or an export folder / its artifacts.json")
    p.add_argument("--weights", help="weights file, as for export")
    p.add_argument("--format", default="all", help="comma-separated: onnx,openvino,tflite or all (default: all)")
    p.add_argument("--precision", default="fp16,int8",
                   help="comma-separated: fp16,bf16,int8 (default: fp16,int8; bf16 is OpenVINO on CPUs with "
                        "AVX512-BF16 / AMX-BF16)")
    p.add_argument("--int8", default="static", dest="int8_modes",
                   help="int8 schemes, comma-separated: static (default), dynamic, full-integer")
    p.add_argument("--calibration-method", default="percentile", choices=("minmax", "entropy", "percentile"),
                   help="activation ranges for static INT8 (default: percentile, the 99.999th of |x| for ORT, of each "
                        "calibration batch for LiteRT)")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales (default: per-channel)")
    p.add_argument("--smoothquant", type=smoothquant_alpha, default=DEFAULT_SMOOTHQUANT, metavar="ALPHA",
                   help=f"static INT8: SmoothQuant alpha folded into the model first, 0 = none "
                        f"(default: {DEFAULT_SMOOTHQUANT})")
    p.add_argument("--calib", help="calibration images (default: the built-in model's calibration set)")
    p.add_argument("--calib-samples", type=positive_int, help="calibration images used (default: 300)")
    p.add_argument("--eval", dest="eval_data", help="held-out labelled images (default: the built-in model's)")
    p.add_argument("--eval-samples", type=positive_int, help="evaluation images used (default: all)")
    p.add_argument("--max-drop", type=percentage_points,
                   help="accuracy drop allowed, in percentage points; INT8 keeps sensitive layers in float to meet it")
    p.add_argument("--min-agreement", type=percentage_points,
                   help="top-1 agreement with FP32 required, in %%; INT8 keeps sensitive layers in float to meet it")
    p.add_argument("--nncf-accuracy-control", action="store_true",
                   help="OpenVINO: use NNCF's quantize_with_accuracy_control for --max-drop instead of vitedge's")
    p.add_argument("--allow-overlap", action="store_true", help="allow images shared by --calib and --eval")
    p.add_argument("--out", default="runs/quantize", help="output folder (default: runs/quantize)")
    _add_run_options(p, "evaluation")
    p.set_defaults(run=_run_quantize)


def _run_quantize(args) -> int:
    from vitedge import api
    from vitedge.quantize.table import quantize_table

    result = api.quantize(
        args.source, args.format, args.precision, args.int8_modes, args.calibration_method, not args.per_tensor,
        args.calib, args.calib_samples, args.eval_data, args.eval_samples, args.max_drop, args.out, args.weights,
        args.threads, args.force, args.resume, args.allow_overlap, args.nncf_accuracy_control, args.min_agreement,
        args.smoothquant)
    print(quantize_table(result.artifacts))
    if result.written:
        print(f"\nwrote {result.written}")
    if result.failures:
        print("\n" + "\n".join(f"FAILED: {f}" for f in result.failures), file=sys.stderr)
        return 1
    return 0


def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="accuracy drift of every artifact against the FP32 reference; release gates",
                       description="Exit codes: 0 every gate passed, 1 a gate failed, 2 usage or input error.")
    p.add_argument("artifacts", help="artifacts.json written by export or quantize (or its folder)")
    p.add_argument("--reference", help="the FP32 reference model (default: the model recorded in artifacts.json)")
    p.add_argument("--weights", help="weights of the reference model, as for export")
    p.add_argument("--data", help="held-out labelled images (default: the built-in model's evaluation set)")
    p.add_argument("--samples", type=positive_int, help="evaluate on at most this many images (default: all)")
    p.add_argument("--gates", help="gates.toml ([[gate]] metric / type / value; default gates are printed)")
    p.add_argument("--report", default="runs/validate", help="folder for report.json, junit.xml, report.md")
    p.add_argument("--formats", help="only these formats (comma-separated)")
    p.add_argument("--precisions", help="only these precisions (comma-separated)")
    p.add_argument("--allow-overlap", action="store_true", help="allow evaluation images used for calibration")
    p.add_argument("--full-precision", action="store_true",
                   help="OpenVINO: compute in f32 (INFERENCE_PRECISION_HINT) instead of the CPU's default (bf16 on "
                        "AMX / AVX512-BF16 CPUs)")
    p.add_argument("--threads", type=threads_count, help="runtime threads (default: all cores)")
    p.add_argument("--force", action="store_true", help="replace a report already in --report")
    p.set_defaults(run=_run_validate)


def _run_validate(args) -> int:
    from vitedge import api
    if not args.gates:
        print("gates: vitedge's defaults for the model's task (listed in the report)", file=sys.stderr)
    validation, paths = api.validate(
        args.artifacts, args.reference, args.data, args.gates, args.report, args.formats, args.precisions,
        args.samples, args.weights, args.threads, args.allow_overlap, args.full_precision, args.force)
    print(paths[2].read_text())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0 if validation.passed else 1


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="latency per target (measured here, on the device, or estimated) vs SAM3 on T4",
                       description="vitedge bench ARTIFACTS --target x86-cpu,jetson-orin-nano --out DIR\n"
                                   "vitedge bench ingest DIR/<target> LOG [LOG ...]  (trtexec / benchmark_model logs)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifacts", help="artifacts.json (or its folder), or the word ingest")
    p.add_argument("logs", nargs="*", help="with ingest: the target folder, then device logs")
    p.add_argument("--target", default="x86-cpu", help="comma-separated target names (`vitedge targets`)")
    p.add_argument("--data", help="an image source for the timed input (default: the model's evaluation set)")
    p.add_argument("--formats", help="only these formats (comma-separated)")
    p.add_argument("--precisions", help="only these precisions (comma-separated)")
    p.add_argument("--threads", type=threads_count, help="CPU threads (default: the target's, else all cores)")
    p.add_argument("--out", default="runs/bench", help="folder for bench.json and the on-device scripts")
    p.add_argument("--force", action="store_true", help="replace a bench.json already in --out")
    p.set_defaults(run=_run_bench)


def _run_bench(args) -> int:
    from vitedge import api
    from vitedge.errors import VitedgeError
    from vitedge.targets.baseline import load_baseline
    from vitedge.targets.bench import ingest
    from vitedge.targets.table import bench_table, fastest_lines

    if args.artifacts == "ingest":
        if len(args.logs) < 2:
            raise VitedgeError("bench ingest needs the target folder and at least one log",
                               "vitedge bench ingest runs/bench/jetson-orin-nano trtexec_output.txt")
        rows = ingest(Path(args.logs[0]), [Path(p) for p in args.logs[1:]])
        print(bench_table(rows))
        print(f"\nupdated {Path(args.logs[0]).parent / 'bench.json'}")
        return 0
    result = api.bench(args.artifacts, args.target, args.threads, args.data, args.out, args.formats,
                       args.precisions, args.force)
    print(bench_table(result.rows))
    print("", *fastest_lines(result.rows), sep="\n")
    baseline = load_baseline()
    print(f"\nx vs SAM3/T4: {baseline.latency_ms:g} ms / latency. {baseline.note}")
    for script in result.scripts:
        print(f"on-device commands: {script}")
    print(f"wrote {Path(result.out) / 'bench.json'}")
    return 0


def _add_targets(sub) -> None:
    p = sub.add_parser("targets", help="device profiles: what each runs and how its latency is obtained")
    p.set_defaults(run=_run_targets)


def _run_targets(args) -> int:
    from vitedge.targets.profile import describe_targets

    print(describe_targets())
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the built-in default end to end: vit4mnist, real MNIST data, every format")
    p.add_argument("--out", default=DEMO_OUT, help=f"output folder (default: {DEMO_OUT})")
    p.add_argument("--no-nas", action="store_true", help="skip the NAS variant and its distillation")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    """The built-in default end to end (vitedge/pipeline/demo.py): a re-run reuses every stage still valid."""
    from vitedge.pipeline import run_pipeline
    from vitedge.pipeline.demo import demo_config
    from vitedge.pipeline.summary import summary

    result = run_pipeline(demo_config(args.out, nas=not args.no_nas))
    print(summary(result))
    return 1 if result.missing_bundles else 0


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the built-in and standard model names")
    p.set_defaults(run=_run_models)


def _run_models(args) -> int:
    from vitedge.models.source import builtin_names
    from vitedge.models.zoo import ZOO

    for name in builtin_names():
        print(f"{name:28s} built-in (weights shipped)")
    for name, entry in ZOO.items():
        c = entry.config
        print(f"{name:28s} dim {c.embed_dim}, depth {c.depth}, heads {c.num_heads}, {c.img_size}px (needs --weights)")
    return 0


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="every stage from one pipeline.toml: [nas, distill,] export, quantize, validate, "
                                   "bench, bundles and report; cached, resumable")
    p.add_argument("config", help="pipeline TOML (README: `vitedge run pipeline.toml`; the keys are listed in vitedge/config.py)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved plan and what is cached; run nothing")
    p.set_defaults(run=_run_pipeline)


def _run_pipeline(args) -> int:
    from vitedge.config import load_config
    from vitedge.pipeline import dry_run, run_pipeline
    from vitedge.pipeline.summary import summary

    config = load_config(args.config)
    if args.dry_run:
        print(dry_run(config))
        return 0
    result = run_pipeline(config)
    print(summary(result))
    return 1 if result.missing_bundles else 0


class _Parser(argparse.ArgumentParser):
    """argparse with vitedge's error shape: what is wrong, then a hint saying where the options are listed."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {self.prog}: {message}\n  hint: `{self.prog} --help` lists the arguments and their "
                     f"allowed values\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vitedge", description="Take pretrained Vision Transformers to edge devices.")
    parser.add_argument("--version", action="version", version=f"vitedge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from vitedge.cli_ship import add_bundle, add_report
    from vitedge.cli_variants import add_distill, add_nas

    for add in (_add_demo, _add_export, _add_quantize, _add_validate, _add_bench, _add_targets, add_distill,
                add_nas, _add_models, add_bundle, add_report, _add_run):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except VitedgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; finished artifacts are kept: re-run with --resume to continue", file=sys.stderr)
        return 130
    except OSError as exc:
        if os.environ.get("VITEDGE_DEBUG"):
            raise
        print(storage_message(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, or an input vitedge does not check yet: one clear line, never a traceback
        if os.environ.get("VITEDGE_DEBUG"):
            raise
        first = (str(exc).splitlines() or [""])[0][:300]
        print(f"error: vitedge {args.command} stopped on an unexpected {type(exc).__name__}: {first}\n"
              f"  hint: this is a vitedge bug or an input it does not check yet: run again with VITEDGE_DEBUG=1 "
              f"for the traceback and report it", file=sys.stderr)
        return INTERNAL_ERROR


def storage_message(exc: OSError) -> str:
    """An OSError while reading or writing is a storage problem, named with its path and what to do."""
    what = STORAGE_ERRORS.get(exc.errno, exc.strerror or type(exc).__name__)
    hint = STORAGE_HINTS.get(exc.errno, "check the path, the disk and the permissions")
    where = exc.filename or "an output file"
    verb = "while writing" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "at"
    return (f"error: {what} {verb} {where}: nothing half-written was kept under a final name\n  hint: {hint}, then run "
            f"the same command again: finished work is reused")


if __name__ == "__main__":
    sys.exit(main())
