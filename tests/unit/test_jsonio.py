import json
import math

import numpy as np

from pclbayes.cli import _output
from pclbayes.jsonio import dumps, to_jsonable


def test_numpy_scalars_become_python_numbers():
    out = to_jsonable({"a": np.float64(0.25), "b": np.int64(3), "c": np.bool_(True)})
    assert out == {"a": 0.25, "b": 3, "c": True}
    assert type(out["a"]) is float and type(out["b"]) is int and type(out["c"]) is bool


def test_non_finite_floats_become_null_at_any_depth():
    text = dumps({"x": [1.0, math.nan, (np.float64(np.inf), -math.inf)], "y": {"z": np.nan}})
    assert json.loads(text) == {"x": [1.0, None, [None, None]], "y": {"z": None}}
    assert "NaN" not in text and "Infinity" not in text


def test_keys_become_strings_and_strings_stay():
    assert json.loads(dumps({1: "one", "k": "item"})) == {"1": "one", "k": "item"}


def test_the_cli_uses_the_same_function():
    assert _output.dumps is dumps
