"""Device profiles and the baseline: every shipped file loads, bad files fail naming file and key."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vitedge.errors import VitedgeError
from vitedge.targets.baseline import load_baseline, speedup
from vitedge.targets.profile import (BANDWIDTH_KEY, PEAK_KEYS, PROFILES_DIR, TARGETS, describe_targets, get_target,
                                     load_profile, load_profiles)

EXPECTED = {"x86-cpu", "jetson-orin-nano", "jetson-agx-orin", "android-arm64", "raspberry-pi-5"}
GOOD = PROFILES_DIR / "raspberry-pi-5.toml"


def test_every_profile_loads_with_a_source_for_every_peak():
    profiles = load_profiles()
    assert EXPECTED <= set(profiles) and list(profiles) == sorted(profiles)
    for profile in profiles.values():
        for precision in profile.precisions:
            assert profile.peak_ops(precision) > 0
        assert profile.bandwidth_bytes > 0
        assert set(profile.sources) == set(profile.peak)
        assert all(s.title and s.detail for s in profile.sources.values())


def test_registry_and_close_name_suggestion():
    assert set(TARGETS.names()) == set(load_profiles())
    assert get_target("x86-cpu").latency == "measured-here"
    with pytest.raises(VitedgeError, match="unknown target") as info:
        get_target("jetson-orin-nan")
    assert "jetson-orin-nano" in str(info.value)


def test_describe_targets_lists_every_device():
    text = describe_targets()
    assert all(name in text for name in EXPECTED)
    assert "measured here" in text and "on device" in text


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / GOOD.name
    shutil.copy(GOOD, path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, key", [
    ("threads = 4", "threads = 4\ncolour = \"red\"", "colour"),
    ("int8_tops = 0.614\n", "", "peak.int8_tops"),
    ('formats = ["onnx", "tflite"]', 'formats = ["onnx", "coreml"]', "formats"),
    ('kind = "board"', 'kind = "toaster"', "kind"),
    ("fp16_tflops = 0.307", "fp16_tflops = -1", "peak.fp16_tflops"),
    ("[sources.bandwidth_gbs]", "[sources.memory]", "sources.memory"),
])
def test_bad_profile_names_file_and_key(tmp_path, old, new, key):
    path = _broken(tmp_path, old, new)
    with pytest.raises(VitedgeError) as info:
        load_profile(path)
    assert str(path) in str(info.value) and repr(key) in str(info.value)


def test_peak_without_a_source_is_refused(tmp_path):
    path = tmp_path / GOOD.name
    text = GOOD.read_text()
    path.write_text(text[:text.index("[sources.bandwidth_gbs]")])
    with pytest.raises(VitedgeError, match=f"'sources.{BANDWIDTH_KEY}'"):
        load_profile(path)


def test_unlisted_precision_is_refused():
    profile = get_target("jetson-agx-orin")
    assert profile.peak_ops("int8") == profile.peak[PEAK_KEYS["int8"]] * 1e12
    with pytest.raises(VitedgeError, match="bf16"):
        profile.peak_ops("bf16")


def test_baseline_is_data_with_sources():
    baseline = load_baseline()
    assert baseline.model == "SAM3" and baseline.device == "NVIDIA T4"
    assert baseline.parameters == 848_000_000 and baseline.latency_ms == 300.0
    assert "different model" in baseline.note
    assert "not independently verified" in baseline.sources["latency_ms"].detail
    assert baseline.sources["model"].url.startswith("https://arxiv.org/")
    assert speedup(30.0) == pytest.approx(10.0)
    with pytest.raises(VitedgeError):
        speedup(0)
