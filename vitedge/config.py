"""The pipeline config (`vitedge run pipeline.toml`): typed, validated up front, every error names the key.

    out = "runs/pipeline"                      # everything the run writes goes here

    [model]
    source = "vit4mnist"                       # built-in / standard name / spec file / Hugging Face folder
    weights = "deit_tiny.safetensors"          # optional: local weights for a standard name

    [data]
    calib = "calib_data/mnist_calib.npz"       # optional for built-in models; PATH[START:END] slices
    eval = "calib_data/mnist_eval.npz"
    calib_samples = 300

    [nas]                                      # optional: train the model once as a supernet, pick per target
    epochs = 4                                 # supernet epochs over [data] calib (0: search the pretrained weights)
    max_drop = 1.0                             # pp top-1 a pick may lose; min_agreement = 90 (% with the model)
    targets = ["x86-cpu"]                      # optional: the targets to derive variants for (default: all)
                                               # optional budget: budget_ms, budget_fraction or min_speedup

    [distill]                                  # optional (needs [nas]): polish each distinct pick by distillation
    epochs = 5

    [export]
    formats = ["onnx", "openvino", "tflite"]

    [quantize]
    precisions = ["fp16", "bf16", "int8"]     # bf16: OpenVINO, where the CPU has AVX512-BF16 / AMX (else skipped)
    int8 = ["static", "dynamic"]               # dynamic-range too: on XNNPACK (LiteRT) it ran fastest (peers.md)
    max_drop = 0.3                             # pp; the accuracy-aware fallback keeps layers in float to meet it
    # min_agreement = 97                       # optional: % of eval images whose top-1 must match FP32's
    # smoothquant = 0.8                        # static INT8's SmoothQuant alpha (0 = off); calibration_method too

    [validate]
    gates = "gates.toml"                       # optional; default: vitedge's gates

    [bench]
    targets = ["x86-cpu", "jetson-orin-nano", "android-arm64"]
    threads = 2

Paths inside the file are relative to the file.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vitedge.errors import VitedgeError
from vitedge.schema import ARTIFACT_FORMATS, ARTIFACT_PRECISIONS, DEFAULT_SMOOTHQUANT, SchemaError, number

FORMATS = ARTIFACT_FORMATS
PRECISIONS = ARTIFACT_PRECISIONS
INT8_MODES = ("static", "dynamic", "full-integer")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")

# section -> key -> (type, default); a type of tuple means "one of these values"
SCHEMA: dict[str, dict[str, tuple]] = {
    "model": {"source": (str, None), "weights": (str, None)},
    "data": {"calib": (str, None), "eval": (str, None), "calib_samples": (int, 300), "eval_samples": (int, None)},
    "nas": {"budget_ms": (float, None), "budget_fraction": (float, None), "min_speedup": (float, None),
            "targets": (list, None), "max_drop": (float, 1.0), "min_agreement": (float, 90.0), "seed": (int, 0),
            "epochs": (int, 4), "batch_size": (int, 32), "lr": (float, 2e-5), "screen": (int, 240),
            "finalists": (int, 10), "merge": (bool, True), "merge_every": (int, 0)},
    "distill": {"epochs": (int, 5), "batch_size": (int, 64), "lr": (float, 5e-4), "temperature": (float, 4.0),
                "alpha": (float, 0.7), "hard": (bool, False), "seed": (int, 0)},
    "export": {"formats": (list, list(FORMATS))},
    "quantize": {"precisions": (list, ["fp16", "bf16", "int8"]), "int8": (list, ["static", "dynamic"]),
                 "calibration_method": (CALIBRATION_METHODS, "percentile"), "per_channel": (bool, True),
                 "smoothquant": (float, DEFAULT_SMOOTHQUANT), "max_drop": (float, None),
                 "min_agreement": (float, None)},
    "validate": {"gates": (str, None)},
    "bench": {"targets": (list, ["x86-cpu"]), "threads": (int, None)},
}
# (section, key) -> (lowest, highest, lowest excluded): numbers outside make no sense
RANGES = {("data", "calib_samples"): (1, None, False), ("data", "eval_samples"): (1, None, False),
          ("nas", "budget_ms"): (0, None, True), ("nas", "budget_fraction"): (0, 1, True),
          ("nas", "max_drop"): (0, 100, False), ("nas", "seed"): (0, None, False),
          ("nas", "min_speedup"): (1, None, True), ("nas", "min_agreement"): (0, 100, False),
          ("nas", "epochs"): (0, None, False), ("nas", "batch_size"): (1, None, False),
          ("nas", "lr"): (0, 10, True), ("nas", "screen"): (1, None, False), ("nas", "finalists"): (2, None, False),
          ("nas", "merge_every"): (0, 1024, False),
          ("distill", "epochs"): (1, None, False), ("distill", "batch_size"): (1, None, False),
          ("distill", "lr"): (0, 10, True), ("distill", "temperature"): (0, 1000, True),
          ("distill", "alpha"): (0, 1, False), ("distill", "seed"): (0, None, False),
          ("quantize", "max_drop"): (0, 100, False), ("quantize", "smoothquant"): (0, 1, False),
          ("quantize", "min_agreement"): (0, 100, False),
          ("bench", "threads"): (1, 4096, False)}
LIST_CHOICES = {("export", "formats"): FORMATS, ("quantize", "precisions"): PRECISIONS,
                ("quantize", "int8"): INT8_MODES}
PATH_KEYS = {("model", "weights"), ("data", "calib"), ("data", "eval"), ("validate", "gates")}
OPTIONAL_SECTIONS = ("nas", "distill")


class ConfigError(VitedgeError):
    """A pipeline config that cannot be run."""


@dataclass(frozen=True)
class PipelineConfig:
    path: str
    out: str
    sections: dict[str, dict] = field(default_factory=dict)

    def __getitem__(self, section: str) -> dict:
        return self.sections[section]

    def enabled(self, section: str) -> bool:
        return section in self.sections

    def to_dict(self) -> dict:
        return {"out": self.out, **self.sections}


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline TOML; relative paths inside it are resolved against its folder."""
    from vitedge.readfile import InputFileError, read_text

    path = Path(path)
    try:
        text = read_text(path, "pipeline config", "pass the path of a pipeline TOML file (README: `vitedge run`)",
                         1 << 20)
    except InputFileError as exc:
        raise ConfigError(exc.message, exc.hint) from None
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"pipeline config {path} could not be parsed: {exc}", "check the TOML syntax") from None
    return parse_config(raw, path)


def parse_config(raw: dict, path: Path) -> PipelineConfig:
    unknown = sorted(set(raw) - set(SCHEMA) - {"out"})
    if unknown:
        raise ConfigError(f"{path}: unknown section or key {unknown}", f"allowed: out, {', '.join(SCHEMA)}")
    sections = {name: _section(path, name, raw.get(name, {})) for name in SCHEMA
                if name in raw or name not in OPTIONAL_SECTIONS}
    if not sections["model"]["source"]:
        raise ConfigError(f"{path}: [model] source is required", "e.g. source = \"vit4mnist\"")
    base = path.parent
    for section, key in PATH_KEYS:
        value = sections[section].get(key)
        if value:
            sections[section][key] = _resolve(base, value)
    out = raw.get("out", "runs/pipeline")
    if not isinstance(out, str) or not out.strip():
        raise ConfigError(f"{path}: out = {out!r} must be a non-empty string: the folder the run writes to",
                          'e.g. out = "runs/pipeline" (relative to the config file)')
    out = _resolve(base, out)
    _check_out(out, path, sections)
    if sections["validate"]["gates"]:
        from vitedge.validate.gates import read_gates

        read_gates(sections["validate"]["gates"])  # a missing or malformed gates file stops the run before any work
    config = PipelineConfig(str(path), out, sections)
    check_combinations(config)
    return config


def _check_out(out: str, path: Path, sections: dict) -> None:
    """`out` must be a folder vitedge may own, not the config's own folder, and not an input's (vitedge.outdir)."""
    from vitedge.outdir import check_not_an_input, check_output_folder

    option = f"{path}: out"
    folder = check_output_folder(out, option)
    source = sections["model"]["source"]
    inputs = {"pipeline config": str(path), "[data] calib": sections["data"]["calib"],
              "[data] eval": sections["data"]["eval"], "[model] weights": sections["model"]["weights"],
              "[model] source": _resolve(path.parent, source) if isinstance(source, str) else None}
    check_not_an_input(folder, option, inputs)
    if folder in path.resolve().parents:
        raise ConfigError(f"{option} = {folder} holds the config's own folder {path.resolve().parent}: the run's "
                          "stages/, bundles/ and report/ would be mixed with your project",
                          'choose a folder of its own, e.g. out = "runs/pipeline" (relative to the config file)')


def _resolve(base: Path, value: str) -> str:
    """Relative to the config file; a `[START:END]` slice suffix is kept."""
    if not isinstance(value, str):
        return value
    return value if Path(value).is_absolute() else str(base / value)


def _section(path: Path, name: str, table) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table", f"write it as [{name}] with key = value lines")
    allowed = SCHEMA[name]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} in [{name}]", f"allowed keys: {', '.join(allowed)}")
    return {key: _value(path, name, key, table.get(key, default), kind) for key, (kind, default) in allowed.items()}


def _value(path: Path, section: str, key: str, value, kind):
    where = f"{path}: [{section}] {key}"
    if value is None:
        return None
    if isinstance(kind, tuple):
        if not isinstance(value, str) or value not in kind:
            raise ConfigError(f"{where} = {value!r} is not allowed", f"allowed values: {', '.join(kind)}")
        return value
    if kind in (int, float):
        low, high, low_open = RANGES.get((section, key), (0, None, False))
        try:
            return number(value, where, low, high, integer=kind is int, low_open=low_open)
        except SchemaError as exc:
            raise ConfigError(exc.message, "fix the value in the pipeline config") from None
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        wanted = {str: "a non-empty string", bool: "true or false", list: 'a list (e.g. ["x"], not "x")'}.get(
            kind, kind.__name__)
        raise ConfigError(f"{where} must be {wanted}, got {value!r}"[:300], "fix the value in the pipeline config "
                          "(see the vitedge.config docstring or the README: Pipeline config)")
    if kind is list:
        return _list(where, value, LIST_CHOICES.get((section, key)))
    return value


def _list(where: str, values: list, allowed: tuple[str, ...] | None) -> list:
    if not values:
        raise ConfigError(f"{where} is empty", "list at least one value")
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where} must be a list of strings, got {values!r}"[:300], 'e.g. ["x86-cpu"]')
    bad = [v for v in values if allowed and v not in allowed]
    if bad:
        raise ConfigError(f"{where}: {bad} not allowed", f"allowed values: {', '.join(allowed)}")
    return list(dict.fromkeys(values))


def check_combinations(config: PipelineConfig) -> None:
    """Every target must have something it can run; stages that need others must have them."""
    from vitedge.targets.profile import load_profiles

    profiles = load_profiles()
    formats, precisions = config["export"]["formats"], ["fp32"] + config["quantize"]["precisions"]
    for name in config["bench"]["targets"]:
        if name not in profiles:
            raise ConfigError(f"{config.path}: [bench] targets: unknown target {name!r}",
                              f"known targets: {', '.join(sorted(profiles))} (see `vitedge targets`)")
        profile = profiles[name]
        if not set(profile.formats) & set(formats):
            raise ConfigError(f"{config.path}: target {name} runs {', '.join(profile.formats)} ({profile.runtime}), "
                              f"but [export] formats = {formats} gives it nothing to run",
                              f"add {profile.formats[0]!r} to [export] formats, or drop {name} from [bench] targets")
        if not set(profile.precisions) & set(precisions):
            raise ConfigError(f"{config.path}: target {name} runs {', '.join(profile.precisions)}, not "
                              f"{', '.join(precisions)}", "add one of its precisions to [quantize] precisions")
    if config.enabled("distill") and not config.enabled("nas"):
        raise ConfigError(f"{config.path}: [distill] needs [nas]: the students are the variants NAS derives",
                          "add a [nas] section with budget_ms, or remove [distill]")
    stray = set((config["nas"]["targets"] or []) if config.enabled("nas") else []) - set(config["bench"]["targets"])
    if stray:
        raise ConfigError(f"{config.path}: [nas] targets {sorted(stray)} are not in [bench] targets",
                          "NAS derives variants for targets the pipeline benches; add them to [bench] targets")
    if config.enabled("nas"):
        budgets = [k for k in ("budget_ms", "budget_fraction", "min_speedup") if config["nas"][k] is not None]
        if len(budgets) > 1:
            raise ConfigError(f"{config.path}: [nas] sets {' and '.join(budgets)}: at most one latency budget",
                              "budget_ms = 1.0 (ms on every target), budget_fraction = 0.5 (of the model's own "
                              "latency) or min_speedup = 2; none: the fastest pick within max_drop")
        fraction = config["nas"]["budget_fraction"]
        if fraction is not None and not 0 < fraction < 1:
            raise ConfigError(f"{config.path}: [nas] budget_fraction = {fraction} must be between 0 and 1",
                              "e.g. 0.5: variants at most half as slow as the model")
    if "int8" not in config["quantize"]["precisions"] and config["quantize"]["max_drop"] is not None:
        raise ConfigError(f"{config.path}: [quantize] max_drop applies to int8, which is not in precisions",
                          "add \"int8\" to [quantize] precisions or remove max_drop")
