"""Timing configurations against the parent: a smaller configuration timed slower than the parent (a busy host)
is timed again, and flagged when it stays so."""
from dataclasses import replace

import pytest

from vitedge.nas import latency
from vitedge.nas.latency import LatencyLab
from vitedge.nas.subnet import SubnetConfig
from vitedge.targets.interleave import interleaved

from .conftest import SPEC, tiny_model

PARENT = SubnetConfig(28, (0, 1, 2), 4, 64, 32)
SMALLER = SubnetConfig(28, (0,), 2, 32, 32)


@pytest.fixture
def lab():
    lab = LatencyLab(tiny_model().module, SPEC, ["x86-cpu"], PARENT, threads=1, rounds=3, round_seconds=0.02)
    yield lab
    lab.close()


def busy_for(passes: int, calls: list):
    """interleaved() (real timings of the real ONNX files) with the smaller model's speed-up set as on a host busy
    during the first `passes` timings (0.6x), then as on a quiet one (1.5x), so the test does not depend on load."""
    def timer(runners, reference=None, rounds=9, round_seconds=0.2, warmup_rounds=1):
        stats = interleaved(runners, reference, rounds, round_seconds, warmup_rounds)
        calls.append(rounds)
        ratio = 0.6 if len(calls) <= passes else 1.5
        stats[SMALLER.key] = replace(stats[SMALLER.key], ratio=ratio, ms=stats[PARENT.key].ms / ratio)
        return stats
    return timer


def test_a_smaller_configuration_timed_slower_is_timed_again(lab, monkeypatch):
    calls = []
    monkeypatch.setattr(latency, "interleaved", busy_for(1, calls))
    timing = lab.measure([SMALLER])[SMALLER]["x86-cpu"]
    assert calls == [3, 6]  # the second pass: the suspects and the parent, twice the rounds
    assert timing.speedup == 1.5 and "implausible" not in timing.details


def test_one_that_stays_slower_is_flagged(lab, monkeypatch):
    monkeypatch.setattr(latency, "interleaved", busy_for(2, []))
    timing = lab.measure([SMALLER])[SMALLER]["x86-cpu"]
    assert timing.speedup < 1.0 and "host was busy" in timing.details["implausible"]
