"""Bandwidth: measured by this process, or a figure labelled as an assumption."""
from vitedge.targets.hostmemory import ASSUMED_GBS, assumed_bandwidth, measure_bandwidth


def test_assumed_bandwidth_says_it_is_not_measured():
    bandwidth = assumed_bandwidth()
    assert bandwidth.gbs == ASSUMED_GBS and not bandwidth.measured
    assert "not measured" in bandwidth.title and "assumed" in bandwidth.detail


def test_a_small_measurement_is_labelled_measured_here():
    bandwidth = measure_bandwidth(threads=2, mib=4, repeats=2)  # tiny: cached, so only the labels are checked
    assert bandwidth.measured and bandwidth.gbs > 0
    assert bandwidth.title.startswith("measured here") and "2 thread(s)" in bandwidth.detail
    assert set(bandwidth.source()) == {"title", "detail"}
