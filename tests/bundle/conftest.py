import pytest

from .pipeline import build


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    return build(tmp_path_factory)


@pytest.fixture(scope="session")
def bundles(pipeline, tmp_path_factory):
    """Bundles for x86-cpu and jetson-orin-nano from the inputs every artifact passes; do not modify (copy)."""
    from vitedge.bundle import write_bundles

    out = tmp_path_factory.mktemp("bundles")
    outcomes = write_bundles(*pipeline.inputs(), out=out)
    return out, {o.target: o for o in outcomes}
