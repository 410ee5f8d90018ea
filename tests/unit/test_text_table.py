"""``pclbayes._text.text_table`` lays a table out exactly as pandas prints it.

pandas is the reference: the ``plan`` commands print with ``text_table`` so as not to import
pandas, and their output must not change for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pclbayes._text import text_table

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_=0123456789.", min_size=1, max_size=14)
values = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False, allow_infinity=False)


@pytest.mark.heavy
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_text_table_is_pandas_to_string_without_index(data):
    n_rows = data.draw(st.integers(1, 6))
    headers = data.draw(st.lists(names, min_size=1, max_size=5, unique=True))
    cols = {h: data.draw(st.lists(values, min_size=n_rows, max_size=n_rows)) for h in headers}
    digits = data.draw(st.integers(0, 6))

    def fmt(v: float) -> str:
        return f"{v:.{digits}f}"

    expected = pd.DataFrame(cols).to_string(index=False, float_format=fmt)
    assert text_table({h: [fmt(v) for v in c] for h, c in cols.items()}) == expected


def test_integer_and_missing_cells_as_pandas_prints_them():
    frame = pd.DataFrame({"n": [3, 12], "boundary": [np.nan, 0.25]})
    expected = frame.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    assert text_table({"n": ["3", "12"], "boundary": ["NaN", "0.2500"]}) == expected
