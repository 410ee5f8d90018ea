"""A toy study for the runner's tests: a single-arm beta-binomial design with a closed form.

Kind ``simulate_toy:BetaBinomialToy`` (this folder must be importable: pytest puts it on
``sys.path``; subprocesses get it through ``PYTHONPATH``).

Task: ``y ~ Binomial(n, true_rate)``; posterior ``Beta(a + y, b + n - y)``; success when
``P(rate > threshold | y) > prob``. The exact probability of success is
``sum_y Binomial(y; n, true_rate) 1[success(y)]``, against which the tests check the
simulated frequency.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from pclbayes.errors import SpecError
from pclbayes.simulate.study import Study, StudySummary

TOY_KIND = "simulate_toy:BetaBinomialToy"
_DEFAULTS = {"n": 20, "a": 1.0, "b": 1.0, "threshold": 0.3, "prob": 0.9,
             "fail_replicates": [], "fail_all": False, "fail_prepare": False, "warn_replicates": [],
             "prepare_log": ""}
SLEEP_ENV = "PCLBAYES_TOY_SLEEP"
"""Seconds each task sleeps (an environment variable, so the spec and its hash stay the same)."""


def beta_sf(x: float, a: float, b: float) -> float:
    """P(Beta(a, b) > x) for whole a, b (the binomial identity), no scipy."""
    # For integer a, b: P(Beta(a,b) <= x) = P(Binomial(a+b-1, x) >= a).
    m = int(a + b - 1)
    cdf = sum(math.comb(m, j) * x**j * (1 - x) ** (m - j) for j in range(int(a), m + 1))
    return 1.0 - cdf


class BetaBinomialToy(Study):
    kind = "toy"
    tables = ("toy",)

    def __init__(self, spec, path=None):
        super().__init__(spec, path)
        raw = dict(spec.get("toy", {}))
        for key in raw:
            if key not in _DEFAULTS:
                raise SpecError(f"{path}: [toy] {key}: unknown key")
        self.opts = {**_DEFAULTS, **raw}
        self._ready = False

    def prepare(self) -> None:
        if self._ready:
            return
        if self.opts["fail_prepare"]:
            raise RuntimeError("no compiler here")
        self._ready = True
        log = self.opts["prepare_log"]
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\n")

    def success(self, y: int) -> bool:
        o = self.opts
        return beta_sf(o["threshold"], o["a"] + y, o["b"] + o["n"] - y) > o["prob"]

    def run_task(self, scenario, replicate, seed):
        if not self._ready:
            raise RuntimeError("run_task before prepare")
        o = self.opts
        if o["fail_all"] or replicate in o["fail_replicates"]:
            raise ValueError(f"planned failure of replicate {replicate}")
        if float(os.environ.get(SLEEP_ENV, "0")):
            import time

            time.sleep(float(os.environ[SLEEP_ENV]))
        if replicate in o["warn_replicates"]:
            import warnings

            warnings.warn(f"replicate {replicate} looks odd", UserWarning, stacklevel=2)
            warnings.warn(f"replicate {replicate} looks odd", UserWarning, stacklevel=2)
            warnings.warn("second\nline", RuntimeWarning, stacklevel=2)
        rng = np.random.default_rng(seed)
        y = int(rng.binomial(o["n"], scenario["true_rate"]))
        post_mean = (o["a"] + y) / (o["a"] + o["b"] + o["n"])
        return {"responders": y, "post_mean": post_mean,
                "prob_gt": beta_sf(o["threshold"], o["a"] + y, o["b"] + o["n"] - y),
                "success": self.success(y), "max_rhat": float("nan"), "divergences": 0}

    def exact_success(self, rate: float) -> float:
        n = self.opts["n"]
        return sum(math.comb(n, y) * rate**y * (1 - rate) ** (n - y)
                   for y in range(n + 1) if self.success(y))

    def summarise(self, results: pd.DataFrame) -> StudySummary:
        ok = results[results["status"] == "ok"]
        rows = []
        for rate, group in ok.groupby("true_rate", sort=True):
            p = float(group["success"].astype(float).mean())
            rows.append({"true_rate": rate, "tasks": len(group), "p_success": p,
                         "mcse": math.sqrt(p * (1 - p) / len(group))})
        table = pd.DataFrame(rows)

        def figure():
            from matplotlib.figure import Figure

            fig = Figure()
            ax = fig.subplots()
            ax.plot(table["true_rate"], table["p_success"], "o-")
            return fig

        return StudySummary(tables={"operating characteristics": table},
                            lines=[f"{len(ok)} tasks succeeded."], passed=None,
                            figures=[("Probability of success", figure)])


def write_spec(path: Path, *, replicates: int = 8, rates=(0.2, 0.4), seed: int = 7,
               extra: str = "", name: str = "toy") -> Path:
    """A toy study spec at ``path``."""
    text = (f'[study]\nkind = "{TOY_KIND}"\nname = "{name}"\ntitle = "Toy design"\n'
            f"seed = {seed}\nreplicates = {replicates}\n\n"
            f"[grid]\ntrue_rate = [{', '.join(map(str, rates))}]\n\n[toy]\nn = 20\n{extra}")
    path.write_text(text, encoding="utf-8")
    return path
