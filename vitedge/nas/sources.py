"""`vitedge nas` from command-line values: resolve the model, the data and the budgets, run, write nas.json."""
from __future__ import annotations

from pathlib import Path

from vitedge.console import log
from vitedge.data import load_dataset
from vitedge.data.defaults import default_data
from vitedge.data.overlap import overlapping_images
from vitedge.errors import DataError, VitedgeError
from vitedge.models import load_model
from vitedge.nas.run import NASConfig, NASResult, run_nas


def parse_targets(text: str | None) -> tuple[str, ...]:
    from vitedge.targets.profile import get_target

    names = tuple(t.strip() for t in (text or "x86-cpu").split(",") if t.strip())
    for name in names:
        get_target(name)  # unknown names raise with a suggestion
    return names or ("x86-cpu",)


def parse_budgets(text: str | float | None, targets: tuple[str, ...]) -> dict[str, float]:
    """`1.0` (every target) or `x86-cpu=0.2,android-arm64=0.1` (per target) -> {target: ms}."""
    if text is None or text == "":
        return {}
    hint = "--budget-ms 0.2 (every target) or --budget-ms x86-cpu=0.2,jetson-orin-nano=0.05"
    if "=" not in str(text):
        return {t: _positive(text, hint) for t in targets}
    budgets = {}
    for part in str(text).split(","):
        name, _, value = part.partition("=")
        if name.strip() not in targets:
            raise VitedgeError(f"--budget-ms names {name.strip()!r}, which is not in --targets {','.join(targets)}",
                               hint)
        budgets[name.strip()] = _positive(value, hint)
    return budgets


def _positive(value, hint: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise VitedgeError(f"latency budget {value!r} is not a number of milliseconds", hint) from None
    if not number > 0:
        raise VitedgeError(f"latency budget {value!r} must be positive", hint)
    return number


def nas_sources(source: str, data: str | None, eval_data: str | None, out: Path, config: NASConfig,
                weights: str | None = None, force: bool = False) -> NASResult:
    """Load the parent and its data (a built-in model's calib_data/ by default), run the search, write nas.json."""
    from vitedge.nas.report import write_nas_json

    model = load_model(source, weights=weights)
    data = data or default_data(model.name, "calib")
    if data is None:
        raise DataError(f"--data is required for {model.name}",
                        "pass labelled images (class folders, .npz or IDX); a part is held out for the proxy score")
    dataset = load_dataset(data, model.spec)
    eval_data = eval_data or default_data(model.name, "eval")
    evaluation = load_dataset(eval_data, model.spec) if eval_data else None
    if evaluation is None:
        log("nas: no --eval data: the chosen variants get no final held-out accuracy")
    elif overlapping_images(dataset, evaluation):
        log(f"nas: warning: {evaluation.source} shares images with {dataset.source}; its accuracy is not held-out")
    result = run_nas(model, dataset, evaluation, Path(out), config, force=force)
    write_nas_json(result, config, evaluation.describe() if evaluation is not None else None)
    return result
