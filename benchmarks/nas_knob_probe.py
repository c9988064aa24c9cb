"""What a short supernet fine-tune buys on DeiT-Tiny: the mild configurations (224/208/192 px, depth 11-12, ToMe
merge 0-14) evaluated on imagenet_sample classes 500-999, first with the pretrained weights (zero-shot), then after
fine-tuning on classes 0-499 (all weights, lr 1e-5, 3 epochs, sandwich rule over the mild space only).

    python benchmarks/nas_knob_probe.py     # ~10 min on 2 cores; writes benchmarks/results/nas_knob_probe.{json,md}

Agreement is top-1 agreement with the FP32 parent; the evaluation is FP32.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vitedge.data import load_dataset  # noqa: E402
from vitedge.models import load_model  # noqa: E402
from vitedge.nas.evaluate import Evaluator, SearchImages  # noqa: E402
from vitedge.nas.run import NASConfig, _prepare  # noqa: E402
from vitedge.nas.supernet import SupernetSettings, train_supernet  # noqa: E402

SHARED = ROOT.parent / "shared"
RESULTS = Path(__file__).parent / "results"
PROBED = [(224, 12, 0), (224, 12, 8), (224, 12, 10), (224, 12, 12), (224, 12, 14), (208, 12, 0), (208, 12, 8),
          (224, 11, 0), (224, 11, 10), (192, 12, 0), (192, 12, 6)]  # (resolution, depth, merge)


def probe(vit, parent, search, space) -> dict:
    evaluator = Evaluator(vit, parent.module, SearchImages(search, parent.spec))
    return {space.config(r, d, 3, 768, 192, m).label(): evaluator.evaluate(space.config(r, d, 3, 768, 192, m))
            for r, d, m in PROBED}


def main() -> None:
    parent = load_model("deit_tiny_patch16_224",
                        weights=str(SHARED / "models/deit_tiny_imagenet/deit_tiny_patch16_224.safetensors"))
    train = load_dataset(f"{SHARED}/data/imagenet_sample[0:500]", parent.spec)
    search = load_dataset(f"{SHARED}/data/imagenet_sample[500:1000]", parent.spec)
    _, vit, space = _prepare(parent, train, NASConfig())
    results = {"zero-shot": probe(vit, parent, search, space)}
    mild = space.restrict(resolution=tuple(r for r in space.resolution if r >= 176),
                          depth=tuple(d for d in space.depth if d >= 10), heads=(3,), mlp=(768,), embed=(192,))
    trained = copy.deepcopy(vit)
    train_supernet(parent.module, trained, mild, train, parent.spec,
                   SupernetSettings(epochs=3, lr=1e-5, held_out=0), None, resume=False)
    results["fine-tuned (mild space, lr 1e-5, 3 epochs)"] = probe(trained, parent, search, space)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nas_knob_probe.json").write_text(json.dumps(results, indent=1) + "\n")
    write_table(results)


def write_table(results: dict) -> None:
    lines = ["# DeiT-Tiny: mild configurations before and after a short fine-tune", "",
             "| configuration | " + " | ".join(f"{k}: top-1 (pp) / agree %" for k in results) + " |",
             "|---|" + "---|" * len(results)]
    for label in results["zero-shot"]:
        cells = [f"{r[label]['top1']:.1f} ({0.0 - r[label]['drop_pp']:+.1f}) / {r[label]['agreement']:.1f}"
                 for r in results.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "`python benchmarks/nas_knob_probe.py`; FP32, imagenet_sample classes 500-999 (500 photos: one image is "
              "0.2 pp); agreement: top-1 agreement with the pretrained parent. Speed-ups of these knobs per target: "
              "nas_deit.json (`knob_effects`)."]
    (RESULTS / "nas_knob_probe.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
