"""``pclbayes report --time-unit``: a user's times in weeks are reported in weeks everywhere.

Tables, key findings, axis labels (figure captions and methods), the summary JSON; the
grouping column the data lack falls back to none with a note.
"""

import html as htmllib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.cli import main


def _visible(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<pre>.*?</pre>", " ", html, flags=re.S)  # quoted spec reasons
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", htmllib.unescape(html))


@pytest.mark.slow
def test_report_in_weeks(tmp_path: Path):
    rng = np.random.default_rng(3)
    times = np.round(rng.exponential(30.0, 16), 1) + 0.5  # weeks: median about 21 weeks
    events = (rng.random(16) < 0.7).astype(int)
    rows = "".join(f"{c},{t},{e}\n" for c, t, e in
                   zip(["A"] * 8 + ["B"] * 8, times, events, strict=True))
    data = tmp_path / "weeks.csv"
    data.write_text("cohort,time,event\n" + rows, encoding="utf-8")
    models = tmp_path / "models"
    models.mkdir()
    text = (BUNDLED_MODELS / "survival_pfs_by_target.toml").read_text(encoding="utf-8")
    (models / "s.toml").write_text(text + "\n[report]\nsensitivity = false\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["report", "--quick", "--quiet", "--jobs", "1", "--data", str(data),
                 "--models", str(models), "--out", str(out), "--time-unit", "weeks"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    seen = _visible(page)
    assert "months" not in seen, seen[max(seen.find("months") - 300, 0):][:600]
    for phrase in ("median (weeks)", "95% CI (weeks)", "at 26 weeks", "at 52 weeks",
                   "Times are in weeks (as given", "follow-up, weeks (min-max)"):
        assert phrase in seen, phrase
    # the grouping column is absent: fitted without grouping, with a note
    assert "the data have no 'target' column, so it was fitted without grouping" in seen
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    fits = [v for v in summary["fits"].values() if v.get("model") == "weibull"] \
        if isinstance(summary.get("fits"), dict) else []
    assert fits and all(f["time_unit"] == "weeks" for f in fits)
    assert all(set(f["groups"]["all"]["survival_at"]) == {"26", "52"} for f in fits)
