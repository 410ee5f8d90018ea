"""Helpers shared by the simulation tests (this folder is on ``sys.path`` under pytest)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


def run_tasks(study, replicates: int, seed: int) -> pd.DataFrame:
    """Drive ``study`` task by task in this process, with the runner's documented seed rule.

    Task (scenario ``i``, replicate ``r``) gets ``SeedSequence(seed, spawn_key=(i, r))``;
    the rows carry the scenario's keys, ``replicate`` and ``status = "ok"``.
    """
    study.prepare()
    rows = []
    for i, scenario in enumerate(study.scenarios()):
        for r in range(replicates):
            row = study.run_task(scenario, r, np.random.SeedSequence(seed, spawn_key=(i, r)))
            rows.append({**scenario, "replicate": r, "status": "ok", **row})
    return pd.DataFrame(rows)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The bytes ``frame`` writes as Parquet (no index): equal bytes, equal stored tables."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
