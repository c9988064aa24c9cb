"""`vitedge nas` from command-line values: resolve the model, the data and the budgets, run, write nas.json."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vitedge.console import log
from vitedge.data import load_dataset
from vitedge.data.dataset import Dataset, check_labels, model_classes
from vitedge.data.defaults import default_data
from vitedge.data.overlap import overlapping_images
from vitedge.errors import DataError, VitedgeError
from vitedge.models import load_model
from vitedge.nas.run import NASConfig, NASResult, run_nas
from vitedge.paths import model_stem


def parse_targets(text: str | None) -> tuple[str, ...]:
    from vitedge.names import name_list
    from vitedge.targets.profile import TARGETS

    return tuple(name_list("x86-cpu" if text is None else text, "--targets", TARGETS.names(), kind="target"))


def parse_budgets(text: str | float | None, targets: tuple[str, ...]) -> dict[str, float]:
    """`1.0` (every target) or `x86-cpu=0.2,android-arm64=0.1` (per target) -> {target: ms}."""
    if text is None:
        return {}
    hint = "--budget-ms 0.2 (every target) or --budget-ms x86-cpu=0.2,jetson-orin-nano=0.05"
    if not str(text).strip():
        raise VitedgeError("--budget-ms is empty", hint)
    if "=" not in str(text):
        return {t: _positive(text, hint) for t in targets}
    budgets = {}
    for part in str(text).split(","):
        name, _, value = part.partition("=")
        if name.strip() not in targets:
            raise VitedgeError(f"--budget-ms names {name.strip()!r}, which is not in --targets {','.join(targets)}",
                               hint)
        if name.strip() in budgets:
            raise VitedgeError(f"--budget-ms gives {name.strip()} more than one budget", hint)
        budgets[name.strip()] = _positive(value, hint)
    return budgets


def _positive(value, hint: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise VitedgeError(f"latency budget {value!r} is not a number of milliseconds", hint) from None
    if not (math.isfinite(number) and number > 0):
        raise VitedgeError(f"latency budget {value!r} must be a positive, finite number of milliseconds", hint)
    return number


MIN_NAS_IMAGES = 10
SEARCH_SHARE = 0.2  # of --data held out as search images when no --eval is given


def nas_sources(source: str, data: str | None, eval_data: str | None, out: Path, config: NASConfig,
                weights: str | None = None, force: bool = False) -> NASResult | None:
    """Load the parent, its training images and its search images (a built-in model's calib_data/ by default; a
    held-out share of --data when no --eval is given), run NAS, write nas.json."""
    from vitedge.nas.report import write_nas_json

    model = load_model(source, weights=weights)
    model.require_pytorch("vitedge nas")
    model_stem(model)  # a name that cannot be a file name is refused before any work
    config.check_parent(model)
    data = data or default_data(model.name, "calib")
    if data is None:
        raise DataError(f"--data is required for {model.name}",
                        "pass images of the model's domain (class folders, .npz or IDX): the supernet trains on "
                        "them; labels are optional")
    dataset = check_labels(load_dataset(data, model.spec), model_classes(model), model.name)
    if len(dataset) < MIN_NAS_IMAGES:
        raise DataError(f"--data {dataset.source} has {len(dataset)} image(s); NAS needs at least {MIN_NAS_IMAGES} "
                        "(a part trains the supernet, a part is held out to rank the configurations)",
                        "pass more images (a few hundred or more)")
    eval_data = eval_data or default_data(model.name, "eval")
    held = None
    if eval_data:
        search = check_labels(load_dataset(eval_data, model.spec), model_classes(model), model.name)
        if overlapping_images(dataset, search):
            raise DataError(f"--eval {search.source} shares images with --data {dataset.source}: the search would "
                            "rank configurations on images the supernet trained on",
                            "pass held-out images with --eval, or omit --eval to hold out a share of --data")
    else:
        dataset, search, held = hold_out(dataset, SEARCH_SHARE, config.seed)
        log(f"nas: no --eval: {len(search)} images of --data held out to rank the configurations")
    result = run_nas(model, dataset, search, Path(out), config, force=force, search_indices=held)
    if result is not None:  # under torchrun, rank 0 alone
        write_nas_json(result, config)
    return result


def hold_out(data: Dataset, share: float, seed: int) -> tuple[Dataset, Dataset, np.ndarray]:
    """A seeded split of `data`: training images, the `share` held out, and the held-out indices in `data`."""
    order = np.random.default_rng([seed, 11]).permutation(len(data))
    count = max(1, round(share * len(data)))
    held = np.sort(order[:count])
    pick = lambda idx: Dataset(data.images[idx], None if data.labels is None else data.labels[idx], data.source,
                               data.class_names)
    return pick(np.sort(order[count:])), pick(held), held
