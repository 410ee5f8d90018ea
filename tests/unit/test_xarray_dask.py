"""xarray's dask checks import nothing until dask is imported, then work as before.

Runs in a fresh interpreter: the test process may have imported dask already (the
simulation studies use it), and then :func:`pclbayes._xarray_dask.defer_dask` rightly
does nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_CODE = """
import json, sys
import numpy as np
import pclbayes.provenance  # installs the deferral
import xarray as xr
from xarray.namedarray.utils import is_duck_dask_array
out = {}
plain = xr.Dataset({"a": xr.DataArray(np.ones((2, 3)), dims=("x", "y"))})
out["dask_after_numpy"] = "dask" in sys.modules
out["plain_chunks"] = plain["a"].chunks
import dask.array as da
lazy = xr.DataArray(da.ones((4, 3), chunks=2), dims=("x", "y"))
out["lazy_type"] = type(lazy.data).__module__
out["lazy_chunks"] = [list(c) for c in lazy.chunks]
out["lazy_is_dask"] = bool(is_duck_dask_array(lazy.data))
out["numpy_is_dask"] = bool(is_duck_dask_array(np.ones(3)))
out["chunked_sum"] = float(plain.chunk({"x": 1})["a"].sum().compute())
out["chunked_is_dask"] = bool(is_duck_dask_array(plain.chunk({"x": 1})["a"].data))
print(json.dumps(out))
"""


@pytest.mark.heavy
def test_dask_imported_only_when_used_and_then_recognised() -> None:
    proc = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True,
                          check=True, timeout=300)
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["dask_after_numpy"] is False
    assert out["plain_chunks"] is None
    assert out["lazy_type"].startswith("dask.array")
    assert out["lazy_chunks"] == [[2, 2], [2, 1]]
    assert out["lazy_is_dask"] is True and out["numpy_is_dask"] is False
    assert out["chunked_is_dask"] is True and out["chunked_sum"] == 6.0
