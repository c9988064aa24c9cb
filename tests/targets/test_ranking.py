"""A bundle never calls an artifact the fastest on a figure that cannot rank it without saying so."""
from vitedge.targets.interleave import RoundStats
from vitedge.targets.ranking import _apply, noise_warning


def row(basis: str = "onnxruntime, 2 threads", **details) -> dict:
    return {"basis": basis, "details": details}


def test_a_noisy_solo_timing_is_named():
    assert "NOISY" in noise_warning(row("onnxruntime, CV 236.8% (NOISY: do not trust)"))
    assert noise_warning(row("onnxruntime, CV 2.1%")) is None


def test_an_interleaved_ranking_replaces_the_solo_flag_unless_it_ties():
    interleaved = {"ms": 1.0}
    assert noise_warning(row("CV 40% (NOISY: do not trust)", interleaved=interleaved)) is None
    tied = noise_warning(row("CV 3%", interleaved=interleaved, within_noise_of="m_int8.xml"))
    assert "within noise of m_int8.xml" in tied


def test_interleaved_figures_replace_p50_and_are_explained():
    class Row:
        latency_ms_p50, latency_ms_p90, throughput_per_s, basis, details = 2.0, 2.4, 500.0, "onnxruntime", {}

    r = Row()
    _apply(r, RoundStats(1.25, 1.2, 1.3, 9, 40))
    assert r.latency_ms_p50 == 1.25 and r.throughput_per_s == 800.0
    assert r.latency_ms_p90 == 1.5  # the solo tail (p90 = 1.2 x p50) at the interleaved level, never below p50
    assert "9 interleaved rounds" in r.basis and r.details["interleaved"]["low"] == 1.2
    assert r.details["interleaved"]["solo_p50_ms"] == 2.0
