"""`vitedge bundle create | verify` and `vitedge report`: what goes to the app teams (see vitedge.cli)."""
from __future__ import annotations

import argparse

def _add_inputs(p) -> None:
    """The three documents bundle and report are made from."""
    p.add_argument("artifacts", help="artifacts.json written by quantize (or its folder)")
    p.add_argument("--validation", default="runs/validate", help="validate's report.json or its folder "
                   "(default: runs/validate)")
    p.add_argument("--bench", default="runs/bench", help="bench.json or its folder (default: runs/bench)")
    p.add_argument("--target", help="comma-separated targets (default: every target in bench.json)")


def add_bundle(sub) -> None:
    p = sub.add_parser("bundle", help="per-device bundles of the artifacts that passed the gates; verify one",
                       description="vitedge bundle create ARTIFACTS --validation DIR --bench DIR --out DIR\n"
                                   "vitedge bundle verify DIR|ZIP\n\nExit codes: 0 done, 1 a target got no bundle or "
                                   "verification failed, 2 usage or input error.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="bundle_command", required=True)
    create = verbs.add_parser("create", help="OUT/<target>/ and OUT/<target>.zip: models, manifest.json, README, "
                                             "run.py, device commands")
    _add_inputs(create)
    create.add_argument("--out", default="runs/bundles", help="folder for the bundles (default: runs/bundles)")
    create.add_argument("--force", action="store_true", help="replace bundles already in --out")
    create.set_defaults(run=_run_bundle_create)
    verify = verbs.add_parser("verify", help="check every hash, missing / extra files and the manifest itself")
    verify.add_argument("path", help="a bundle folder or its .zip")
    verify.set_defaults(run=_run_bundle_verify)


def _run_bundle_create(args) -> int:
    from vitedge import api
    from vitedge.console import table

    outcomes = api.bundle(args.artifacts, args.validation, args.bench, args.target, args.out, args.force)
    rows = [[o.target, str(o.folder) if o.written else "-", o.primary or "-",
             str(len(o.artifacts)) if o.written else "0", "" if o.written else f"NO BUNDLE: {o.reason}"]
            for o in outcomes]
    print(table(["target", "bundle", "primary", "artifacts", "note"], rows))
    return 0 if all(o.written for o in outcomes) else 1


def _run_bundle_verify(args) -> int:
    from vitedge import api
    from vitedge.bundle.errors import BundleIntegrityError

    problems = api.verify_bundle(args.path)
    if problems:
        raise BundleIntegrityError(args.path, problems)
    print(f"{args.path}: OK (every file matches manifest.json; manifest unedited)")
    return 0


def add_report(sub) -> None:
    p = sub.add_parser("report", help="report.md + self-contained report.html: benchmark table, per-target Pareto "
                                      "plots with the shipped artifact and the SAM3-on-T4 baseline")
    _add_inputs(p)
    p.add_argument("--out", default="runs/report", help="folder for report.md, report.html, plots/ "
                   "(default: runs/report)")
    p.add_argument("--force", action="store_true", help="replace a report already in --out")
    p.set_defaults(run=_run_report)


def _run_report(args) -> int:
    from vitedge import api

    paths = api.report(args.artifacts, args.validation, args.bench, args.target, args.out, args.force)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
