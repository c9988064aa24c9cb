import pytest

from ..bundle.pipeline import build


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    return build(tmp_path_factory)
