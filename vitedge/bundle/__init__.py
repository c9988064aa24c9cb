"""Per-device bundles: the artifacts a target runs that passed the gates, a manifest, a README and a runner.

    from vitedge.bundle import write_bundles, verify_bundle
    outcomes = write_bundles("runs/quant", "runs/validate", "runs/bench", ["x86-cpu"], "runs/bundles")
    problems = verify_bundle("runs/bundles/x86-cpu")      # [] when every check passes
"""
from vitedge.bundle.verify import verify_bundle
from vitedge.bundle.write import BundleOutcome, write_bundles

__all__ = ["BundleOutcome", "verify_bundle", "write_bundles"]
