"""The texts of a bundle: README.md for the app team and run_on_device.sh for Jetson (trtexec) / Android (adb)."""
from __future__ import annotations

import json
from pathlib import Path

from vitedge.console import human_bytes
from vitedge.targets.devices import TRTEXEC, android_commands, jetson_commands

RUN_TEMPLATE = Path(__file__).resolve().parent / "run_template.py"
DEVICE_SCRIPT = "run_on_device.sh"
_SCRIPT_HEADERS = {
    "jetson": ("# Run ON the Jetson (JetPack 6 / TensorRT 10), from a copy of this bundle folder:\n"
               "#   bash run_on_device.sh    (TRTEXEC overrides the trtexec path)\n"
               "# For stable numbers first: sudo nvpmodel -m 0 && sudo jetson_clocks",
               f'TRTEXEC="${{TRTEXEC:-{TRTEXEC}}}"'),
    "android": ("# Run on the HOST with one phone attached (adb devices), from this bundle folder:\n"
                "#   BENCHMARK_MODEL=/abs/path/to/android_arm64/benchmark_model bash run_on_device.sh\n"
                "# Models and benchmark_model are pushed to /data/local/tmp.",
                'BENCHMARK_MODEL="${BENCHMARK_MODEL:-./benchmark_model}"'),
}


def device_script(manifest: dict) -> str | None:
    """trtexec (Jetson) or adb + benchmark_model (Android) commands for every shipped artifact, primary first."""
    target = manifest["target"]
    if target["kind"] not in _SCRIPT_HEADERS:
        return None
    commands: list[str] = []
    logs = f"../{target['name']}-logs"  # beside the bundle: the bundle itself stays as verified
    for a in manifest["artifacts"]:
        if target["kind"] == "jetson" and a["format"] == "onnx":
            commands += jetson_commands(a["path"], a["inputs"][0]["name"], a["inputs"][0]["shape"], a["precision"],
                                        log_dir=logs, trtexec='"${TRTEXEC}"')
        elif target["kind"] == "android" and a["format"] == "tflite":
            commands += android_commands(a["path"], target["threads"] or 4, "xnnpack", precision=a["precision"],
                                         log_dir=logs, binary='"${BENCHMARK_MODEL}"')
    if not commands:
        return None
    header, env = _SCRIPT_HEADERS[target["kind"]]
    ingest = (f"# Engines and logs go to {logs}/ beside the bundle. To record a measurement in bench.json:\n"
              f"#   vitedge bench ingest BENCH_DIR/{target['name']} {logs}/<log>")
    return (f"#!/usr/bin/env bash\n# {target['title']}: latency of this bundle's models.\n{header}\n{ingest}\n"
            f"set -euo pipefail\n{env}\ncd \"$(dirname \"$0\")\"\n\n" + "\n".join(dict.fromkeys(commands)) + "\n")


def _latency(lat: dict) -> str:
    p50 = lat.get("latency_ms_p50")
    text = "-" if p50 is None else f"{p50:.4g} ms"
    return f"~{text} (ESTIMATED)" if lat.get("estimated") else f"{text} ({lat.get('obtained')})"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _artifact_rows(manifest: dict) -> list[str]:
    rows = ["| role | file | format | precision | size | top-1 | drop pp | p50 latency | x vs baseline |",
            "|---|---|---|---|---|---|---|---|---|"]
    for a in manifest["artifacts"]:
        m, lat = a["validation"]["metrics"], a["latency"]
        drop = m.get("top1_drop_pp")
        speed = lat.get("speedup_vs_baseline")
        rows.append(f"| {a['role']} | `{a['path']}` | {a['format']} | {a['precision']} | {human_bytes(a['bytes'])} | "
                    f"{_pct(m.get('top1'))} | {'-' if drop is None else f'{drop:+.2f}'} | {_latency(lat)} | "
                    f"{'-' if speed is None else ('~' if lat.get('estimated') else '') + f'{speed:g}x'} |")
    return rows


def _how_to_run(manifest: dict, has_script: bool) -> list[str]:
    kind = manifest["target"]["kind"]
    lines = ["## Run it", "", "On any CPU (a check of the model and the preprocessing, or the app's reference):", "",
             "```", "python run.py image.png            # the primary artifact, top-5 labels",
             "python run.py image.png --artifact <id|file|format|precision>   # an alternative", "```", ""]
    hinted = [a for a in manifest["artifacts"] if a.get("runtime_options")]
    if hinted:
        lines += ["OpenVINO computes in what the artifact was validated in only with its compile options "
                  "(manifest `runtime_options`; run.py passes them): " + "; ".join(
                      f"`{a['path']}`: `{json.dumps(a['runtime_options'])}`" for a in hinted) +
                  ". Without them OpenVINO computes in bf16 on CPUs with AVX512-BF16 / AMX.", ""]
    if has_script and kind == "jetson":
        lines += ["On the Jetson, latency with TensorRT: `bash run_on_device.sh` (trtexec builds an engine per "
                  "artifact; engines and logs go to a folder beside the bundle).", ""]
    if has_script and kind == "android":
        lines += ["On an Android phone over adb: `BENCHMARK_MODEL=/path/to/benchmark_model bash run_on_device.sh` "
                  "(LiteRT benchmark_model, XNNPACK; logs go to a folder beside the bundle).", ""]
    return lines


def _derived(lineage: dict | None) -> list[str]:
    """What a derived model is (a NAS variant: parent, knobs, training run, search pick), from its spec."""
    if not lineage:
        return []
    return ["## What this model is", "", f"Derived from **{lineage.get('parent')}** by `{lineage.get('by')}`: "
            f"{lineage.get('summary', '')}", ""] + [f"- {k}: {v}" for k, v in lineage.items()
                                                    if k not in ("parent", "by", "summary")] + [""]


def readme(manifest: dict, has_script: bool) -> str:
    """README.md for the app team: what to load, how to feed it, how fast it is and how that is known."""
    t, pre, primary = manifest["target"], manifest["preprocessing"], manifest["artifacts"][0]
    lat, base = primary["latency"], manifest["baseline"] or {}
    labels = manifest.get("labels")
    lines = [f"# {manifest['model']['name']} for {t['name']}", "", f"{t['title']} — runtime: {t['runtime']}.", "",
             f"**Ship `{primary['path']}`** ({primary['format']} {primary['precision']}): "
             f"{manifest['primary_reason']}.", "",
             f"- latency p50: {_latency(lat)}; basis: {lat.get('basis')}",
             f"- speed-up against {base.get('model')} on {base.get('device')} ({base.get('latency_ms')} ms): "
             f"{'~' if lat.get('estimated') else ''}{lat.get('speedup_vs_baseline')}x. {base.get('note', '')}",
             f"- validation: {primary['validation']['verdict'].upper()} on every gate "
             f"({', '.join(g['gate'] for g in primary['validation']['gates'])})", "",
             "## Input", "", f"Tensor `{manifest['input'].get('name')}`, shape {manifest['input'].get('shape')} "
             f"({manifest['input'].get('dtype')}; batch 1). Preprocessing:", ""]
    lines += [f"{i}. {step}" for i, step in enumerate(pre["steps"], 1)] + [""]
    if str(manifest["input"].get("dtype", "float32")).startswith(("int", "uint")):
        lines += [f"The tensor is {manifest['input']['dtype']}: quantize the float input with the model's input "
                  "scale and zero point, q = clip(round(x / scale) + zero_point), as `run.py` does.", ""]
    lines += ["## Output", "", f"Tensor `{manifest['output'].get('name')}`: {manifest['output'].get('meaning')}.",
              f"Labels ({len(labels)}): {', '.join(labels)}" if labels else "No labels recorded.", ""]
    lines += _derived(manifest["model"].get("derived_from"))
    lines += ["## Artifacts", ""] + _artifact_rows(manifest) + [""]
    if manifest["excluded"]:
        lines += ["Not shipped:", ""] + [f"- `{e['path']}` ({e['format']} {e['precision']}): {e['reason']}"
                                         for e in manifest["excluded"]] + [""]
    lines += _how_to_run(manifest, has_script)
    lines += ["## Provenance", "", "`manifest.json` holds every figure above with its source: model and data "
              "hashes, each artifact's lineage (source model, export, quantization), drift metrics and gate "
              "verdicts from `vitedge validate`, latency from `vitedge bench`, tool versions.",
              "Check the bundle before shipping: `vitedge bundle verify .` (every file hash, no missing or extra "
              "file, manifest unedited).", ""]
    return "\n".join(lines)
