"""Shared fixtures: the real vit4mnist model and real MNIST data (shipped in calib_data/ and ../shared/)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CALIB_DATA = REPO / "calib_data"


@pytest.fixture(scope="session")
def vit4mnist():
    from vitedge.models import load_model

    return load_model("vit4mnist")
