"""What `vitedge nas` leaves in OUT besides nas.json: the variants (one weights file per distinct pick, one spec per
target), the trained supernet and a plot per target."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vitedge.fileio import naming, raise_if_storage, sha256_file, write_text_atomic
from vitedge.lock import check_write
from vitedge.models.loaded import LoadedModel
from vitedge.models.specfile import spec_file_text
from vitedge.nas.elastic import extract
from vitedge.nas.evaluate import spec_at
from vitedge.nas.plot import plot_target
from vitedge.nas.search import Entry, TargetPick
from vitedge.paths import model_stem, safe_name

SUPERNET = "supernet.safetensors"
WEIGHTS_MEANING = {"supernet": "the trained supernet's", "pretrained": "the parent's pretrained (zero-shot)"}


def spec_text(model: LoadedModel, weights_name: str, weights_sha256: str, description: str,
              derived_from: dict | None = None) -> str:
    """The TOML spec of `model` with its weights file beside it."""
    return spec_file_text(model.config, model.spec, model.name, weights_name, weights_sha256,
                          "Written by `vitedge nas`: a sub-network of a pretrained ViT. Load it with "
                          "vitedge.load_model(path).", description, derived_from)


def lineage(parent: LoadedModel, p: TargetPick, training) -> dict:
    """[derived_from] of a variant spec: parent, knobs, supernet training run and the search's pick."""
    timing, f = p.pick.timings[p.target], p.pick.full
    out = {"by": "vitedge nas", "parent": parent.name, "parent_source": parent.source,
           "parent_weights_sha256": parent.weights_sha256 or "", "summary": describe(parent, p),
           "configuration": p.pick.sub.key, "knobs": p.pick.sub.label(), "blocks_kept": list(p.pick.sub.blocks),
           "weights": p.pick.weights,  # supernet | pretrained (zero-shot)
           "picked_for": p.target, "speedup": round(timing.speedup, 3), "latency_obtained": timing.obtained,
           "agreement_pct": round(f["agreement"], 2), "search_images": f["images"],
           "supernet_epochs": training.settings.get("epochs", 0), "supernet_steps": training.steps,
           "supernet_images": training.images}
    if f.get("drop_pp") is not None:
        out["top1_drop_pp"] = round(f["drop_pp"], 2)
    return out


def save_weights_atomic(model: LoadedModel, path: Path) -> None:
    from safetensors.torch import save_file

    check_write(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise naming(exc, path) from exc
    os.close(fd)
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
        save_file(state, tmp, metadata={"format": "pt", "producer": "vitedge nas"})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, Exception):
            raise_if_storage(exc, path)
        raise


def variant_model(parent: LoadedModel, vit, pick: Entry) -> LoadedModel:
    """The pick as a standalone model: weights extracted from the supernet, input size and name its own."""
    module = extract(vit, pick.sub)
    name = f"{model_stem(parent)}-nas-{pick.variant_key}"
    return LoadedModel(module, spec_at(parent.spec, pick.sub.resolution), name, f"nas:{parent.source}",
                       module.cfg, notes=[f"NAS variant of {parent.name}: {pick.sub.label()}"])


def describe(parent: LoadedModel, p: TargetPick) -> str:
    timing, f = p.pick.timings[p.target], p.pick.full
    drop = f" at {f['drop_pp']:+.2f} pp top-1" if f.get("drop_pp") is not None else ""
    return (f"NAS variant of {parent.name} for {p.target}: {p.pick.sub.label()}; {timing.speedup:.2f}x faster than "
            f"the parent ({timing.ms:.4g} ms, {timing.obtained}){drop}, {f['agreement']:.1f}% agreement; "
            f"configuration {p.pick.sub.key}, {WEIGHTS_MEANING[p.pick.weights]} weights")


def write_variants(out: Path, parent: LoadedModel, weight_sets: dict, picks: list[TargetPick], training
                   ) -> dict[str, str]:
    """variants/<id>.safetensors per distinct pick, variants/<target>.toml per target; target -> spec (rel. OUT).
    `weight_sets`: "supernet" / "pretrained" -> the ViT whose sub-network a pick is."""
    folder = out / "variants"
    written: dict[str, tuple[LoadedModel, Path]] = {}
    specs = {}
    for p in picks:
        if p.pick is None:
            continue
        key = p.pick.variant_key
        if key not in written:
            model = variant_model(parent, weight_sets[p.pick.weights], p.pick)
            weights = folder / f"{key}.safetensors"
            save_weights_atomic(model, weights)
            written[key] = (model, weights)
        model, weights = written[key]
        spec = folder / f"{safe_name(p.target, 'the target name')}.toml"
        write_text_atomic(spec, spec_text(model, weights.name, sha256_file(weights), describe(parent, p),
                                          lineage(parent, p, training)))
        specs[p.target] = str(spec.relative_to(out))
    return specs


def write_plots(out: Path, parent: LoadedModel, picks: list[TargetPick], entries: list[Entry]) -> dict[str, str]:
    from vitedge.targets.baseline import load_baseline

    baseline = load_baseline()
    line = (baseline.latency_ms, f"{baseline.model_title} on {baseline.device} (~{baseline.latency_ms:g} ms)")
    plots = {}
    for p in picks:
        t = p.target
        timed = [e for e in entries if t in e.timings and e.full is not None]
        point = lambda e: (e.timings[t].ms, e.score())
        labelled = p.parent.full.get("top1") is not None
        path = plot_target(out / f"{safe_name(t, 'the target name')}.png", f"{parent.name}: family on {t}",
                           [point(e) for e in timed], [point(e) for e in p.front],
                           None if p.pick is None else point(p.pick), point(p.parent), line, p.budget_ms,
                           f"latency, ms ({p.parent.timings[t].obtained}, batch 1, FP32; log scale)",
                           "top-1, %" if labelled else "top-1 agreement with the parent, %")
        plots[t] = path.name
    return plots


def write_outputs(out: Path, parent: LoadedModel, weight_sets: dict, picks: list[TargetPick], entries: list[Entry],
                  training) -> dict[str, str]:
    """The trained supernet, the variants and the plots; returns target -> variant spec (relative to OUT).
    `weight_sets`: "supernet" (the trained ViT) and, when searched, "pretrained"."""
    vit = weight_sets["supernet"]
    supernet = LoadedModel(vit, parent.spec, f"{model_stem(parent)}-supernet", f"nas:{parent.source}", vit.cfg)
    save_weights_atomic(supernet, out / SUPERNET)
    variants = write_variants(out, parent, weight_sets, picks, training)
    write_plots(out, parent, picks, entries)
    return variants
