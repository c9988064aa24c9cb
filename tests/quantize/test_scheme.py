import pytest

from vitedge.errors import VitedgeError
from vitedge.quantize.scheme import Scheme


def test_tags_name_the_files():
    assert [Scheme("fp16").tag, Scheme("int8").tag, Scheme("int8", "dynamic").tag,
            Scheme("int8", "full-integer").tag] == ["fp16", "int8", "int8-dynamic", "int8-full"]
    assert Scheme("int8").needs_calibration and not Scheme("int8", "dynamic").needs_calibration


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "int4"}, "unknown precision 'int4'"),
    ({"precision": "int8", "mode": "weights-only"}, "unknown int8 scheme 'weights-only'"),
    ({"precision": "int8", "calibration": "kl"}, "unknown calibration method 'kl'"),
])
def test_bad_scheme_named(kwargs, message):
    with pytest.raises(VitedgeError, match=message):
        Scheme(**kwargs)
