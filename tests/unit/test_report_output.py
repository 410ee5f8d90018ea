"""``pclbayes report`` and its output folder: a failed, refused or interrupted run leaves the
previous report exactly as it was; concurrent runs are refused; every specification is
validated before anything is fitted; nothing is written outside ``--out``; Ctrl-C stops
the worker processes at once."""

from __future__ import annotations

import dataclasses
import errno
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pclbayes._paths import BUNDLED_DATA, BUNDLED_MODELS
from pclbayes.cli import main
from pclbayes.data import load
from pclbayes.errors import ReportOutputError, SpecError
from pclbayes.report import build_report, builder, outdir
from pclbayes.report.outdir import OutputFolder
from pclbayes.specs import load_spec

SPEC = "response_orr_by_target.toml"


def exact_spec(folder: Path, name: str = SPEC, **replace: str) -> Path:
    """Copy a bundled response spec into ``folder`` with the exact (non-MCMC) method.

    ``replace`` maps text of the file to its replacement (e.g. a prior or the name).
    """
    text = (BUNDLED_MODELS / SPEC).read_text().replace('method = "mcmc"', 'method = "exact"')
    assert 'method = "exact"' in text
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path -> content)."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def siblings(folder: Path) -> list[str]:
    """Names beside ``folder`` in its parent (to spot temporary folders left behind)."""
    return sorted(p.name for p in folder.parent.iterdir())


def report(*args: str) -> int:
    return main(["report", "--quiet", "--no-cache", *args])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """One quick specification (exact method: no compilation, about a second per fit)."""
    folder = tmp_path_factory.mktemp("models")
    exact_spec(folder)
    return folder


@pytest.fixture(scope="module")
def previous(tmp_path_factory, models) -> Path:
    """A finished report, copied by every test that runs over it."""
    out = tmp_path_factory.mktemp("previous") / "report"
    assert report("--models", str(models), "--out", str(out), "--seed", "5") == 0
    return out


@pytest.fixture
def out(previous, tmp_path) -> Path:
    """A fresh copy of the previous report in an otherwise empty folder."""
    target = tmp_path / "work" / "report"
    shutil.copytree(previous, target)
    return target


@pytest.mark.heavy
def test_previous_report_is_complete(previous):
    files = snapshot(previous)
    assert {"report.html", "summary.csv", "summary.json",
            "fits/response_orr_by_target.nc"} <= set(files)
    assert any(name.startswith("figures/") for name in files)


# ------------------------------------------------------------------ failed runs
@pytest.mark.heavy
def test_invalid_data_leaves_previous_report(out, models, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA, data)
    patients = data / "patients.csv"
    lines = patients.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("pfs_months")] = "0"
    lines[3] = ",".join(row)
    patients.write_text("\n".join(lines) + "\n")
    before = snapshot(out)
    assert report("--models", str(models), "--out", str(out), "--data", str(data)) == 2
    err = capsys.readouterr().err
    assert "must be > 0" in err
    assert f"previous report in {out} left unchanged" in err
    assert snapshot(out) == before
    assert siblings(out) == ["report"]


@pytest.mark.heavy
def test_interrupted_run_leaves_previous_report(out, models):
    """Stopped after the first fit was written (into the temporary folder)."""
    before = snapshot(out)

    def progress(line: str) -> None:
        if "done in" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_report(models=models, out=out, jobs=1, cache=False, progress=progress)
    assert snapshot(out) == before
    assert siblings(out) == ["report"]


@pytest.mark.heavy
@pytest.mark.parametrize("error", [SpecError("the fit failed"),
                                   OSError(errno.ENOSPC, "the fit failed", "somewhere.nc")])
def test_failing_fit_leaves_previous_report(error, out, models, monkeypatch, capsys):
    before = snapshot(out)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(builder, "fit_spec", fail)
    assert report("--models", str(models), "--out", str(out), "--jobs", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the fit failed" in err and f"previous report in {out} left unchanged" in err
    assert snapshot(out) == before
    assert siblings(out) == ["report"]


@pytest.mark.heavy
def test_success_replaces_the_whole_folder(out, models):
    """Files of an earlier report that this one does not make are gone; nothing left beside."""
    (out / "fits" / "old_model.nc").write_bytes(b"old")
    (out / "figures" / "forest_old_model.png").write_bytes(b"old")
    (out / "summary.json").write_text("{}")
    out.chmod(0o750)
    rep = build_report(models=models, out=out, jobs=1, cache=False, seed=5)
    assert out.stat().st_mode & 0o777 == 0o750
    assert rep.out == out and rep.html == out / "report.html"
    files = snapshot(out)
    assert "fits/old_model.nc" not in files and "figures/forest_old_model.png" not in files
    assert sorted(n for n in files if n.startswith("fits/")) == ["fits/response_orr_by_target.nc"]
    assert files["summary.json"] != b"{}"
    assert siblings(out) == ["report"]


@pytest.mark.parametrize("atomic", [True, False])
def test_swap_with_and_without_an_atomic_exchange(atomic, tmp_path, monkeypatch):
    """The new folder takes the old one's place; nothing else is left in the parent."""
    if not atomic:
        monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    target, new = tmp_path / "report", tmp_path / ".report.tmp-0123abcd"
    for folder, text in ((target, "old"), (new, "new")):
        (folder / "fits").mkdir(parents=True)
        (folder / "fits" / "a.nc").write_text(text)
    outdir._replace(new, target)
    assert (target / "fits" / "a.nc").read_text() == "new"
    assert siblings(target) == ["report"]


@pytest.mark.heavy
def test_new_folder_is_created_through_a_link(models, tmp_path):
    """A new folder (and its parents) is created; ``--out`` a symbolic link: the folder it
    points to is written and the link kept."""
    real = tmp_path / "a" / "b" / "report"
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert report("--models", str(models), "--out", str(link), "--seed", "5") == 0
    assert link.is_symlink() and link.resolve() == real
    assert (real / "report.html").is_file()
    assert siblings(real) == ["report"]
    assert siblings(link) == ["a", "link"]


@pytest.mark.heavy
def test_current_directory_is_refused(out, models, monkeypatch, capsys):
    before = snapshot(out)
    monkeypatch.chdir(out / "fits")
    assert report("--models", str(models), "--out", str(out)) == 2
    assert "current directory" in capsys.readouterr().err
    assert snapshot(out) == before


@pytest.mark.heavy
def test_a_killed_run_is_cleaned_up(out):
    """Left by a run killed without cleaning up: its temporary folder is removed; the
    previous report renamed aside just before a swap is put back."""
    (out.parent / ".report.tmp-deadbeef").mkdir()
    (out.parent / ".report.tmp-deadbeef" / "report.html").write_text("partial")
    (out.parent / ".report.tmp-x.tmp-deadbeef").mkdir()  # another folder's ('report.tmp-x')
    before = snapshot(out)
    with OutputFolder(out):
        assert siblings(out) == [".report.lock", ".report.tmp-x.tmp-deadbeef", "report"]
    (out.parent / ".report.tmp-x.tmp-deadbeef").rmdir()
    aside = out.parent / ".report.old-deadbeef"
    out.rename(aside)
    with OutputFolder(out):
        pass
    assert snapshot(out) == before
    assert siblings(out) == ["report"]


@pytest.mark.heavy
def test_folder_with_other_files_is_refused(out, models, capsys):
    """The whole folder is replaced on success, so a folder holding anything but a report
    is never used."""
    (out / "notes.txt").write_text("mine")
    (out / "fits" / "keep.csv").write_text("mine")
    before = snapshot(out)
    assert report("--models", str(models), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "notes.txt" in err and "fits/keep.csv" in err
    with pytest.raises(ReportOutputError, match=r"notes\.txt"):
        build_report(models=models, out=out, cache=False)
    assert snapshot(out) == before
    assert siblings(out) == ["report"]


def test_out_is_a_file(models, tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("a file")
    assert report("--models", str(models), "--out", str(target)) == 2
    assert "not a directory" in capsys.readouterr().err
    assert target.read_text() == "a file"


# ------------------------------------------------------------------ concurrent runs
@pytest.mark.heavy
def test_concurrent_run_is_refused(out, models, capsys):
    """A second run into the same folder while the first is fitting exits 2, naming it; the
    first run completes unharmed."""
    inner: list[int] = []

    def progress(line: str) -> None:
        if "fitting" in line and not inner:
            inner.append(report("--models", str(models), "--out", str(out)))

    rep = build_report(models=models, out=out, jobs=1, cache=False, seed=5, progress=progress)
    assert inner == [2]
    err = capsys.readouterr().err
    assert f"another pclbayes report is writing {out}" in err
    assert (rep.out / "fits" / "response_orr_by_target.nc").is_file()
    assert siblings(out) == ["report"]
    with OutputFolder(out):  # free again
        assert siblings(out) == [".report.lock", "report"]
    assert siblings(out) == ["report"]


# ------------------------------------------------------------------ specifications
def test_empty_models_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "report"
    assert report("--models", str(empty), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "no" in err
    assert not out.exists()
    assert siblings(out) == ["empty"]


def test_invalid_prior_is_an_error_before_fitting(models, tmp_path, monkeypatch, capsys):
    """Gamma(beta = -0.1) in a copy of a valid spec: exit 2 naming the file and the prior,
    nothing fitted, even though the copy otherwise matches the first spec."""
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    bad = exact_spec(folder, "z_bad.toml", **{
        'name = "response_orr_by_target"': 'name = "bad_copy"',
        "kappa = { dist = \"Gamma\", alpha = 2, beta = 0.1,":
            "kappa = { dist = \"Gamma\", alpha = 2, beta = -0.1,"})
    fitted = []
    monkeypatch.setattr(builder, "fit_spec", lambda *a, **k: fitted.append(a))
    out = tmp_path / "report"
    assert report("--models", str(folder), "--out", str(out), "--jobs", "1") == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "kappa" in err
    assert fitted == []
    assert not out.exists()


def test_unknown_option_names_the_file(models, tmp_path, capsys):
    folder = tmp_path / "models"
    bad = exact_spec(folder, "bad.toml", **{'heterogeneity = "shared"': 'heterogenity = "shared"'})
    assert report("--models", str(folder), "--out", str(tmp_path / "report")) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "heterogenity" in err


def test_only_identical_resolved_specs_are_skipped():
    """A different prior or seed is a different fit; a different name or title is not."""
    base = dataclasses.replace(load_spec(BUNDLED_MODELS / SPEC), name="a")
    priors = dict(base.priors)
    priors["kappa"] = {**priors["kappa"], "beta": 0.2}
    specs = [base,
             dataclasses.replace(base, name="b", priors=priors),
             dataclasses.replace(base, name="c", seed=base.seed + 1),
             dataclasses.replace(base, name="d", title="another title"),
             dataclasses.replace(base, name="e", sampler=dataclasses.replace(base.sampler,
                                                                            draws=500))]
    kept, notes = builder.adapt_specs(specs, load())
    assert [s.name for s in kept] == ["a", "b", "c", "e"]
    assert notes == ["d: skipped, identical to an earlier fit on these data"]


def test_specs_identical_after_adaptation_are_skipped(tmp_path):
    """Counts without a target column: a spec by target becomes by = none, as another."""
    counts = tmp_path / "counts.csv"
    counts.write_text("cohort,n,responders\na,10,7\nb,12,9\nc,8,4\n")
    base = load_spec(BUNDLED_MODELS / SPEC)
    plain = dataclasses.replace(base, name="plain", options={**base.options, "by": "none"})
    kept, notes = builder.adapt_specs([base, plain], load(counts))
    assert [s.name for s in kept] == [base.name]
    assert kept[0].options["by"] == "none"
    assert notes[-1] == "plain: skipped, identical to an earlier fit on these data"


def test_duplicate_names_are_refused(models, tmp_path, capsys):
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    exact_spec(folder, "second.toml", **{"seed = 20260321": "seed = 1"})
    assert report("--models", str(folder), "--out", str(tmp_path / "report")) == 2
    err = capsys.readouterr().err
    assert "response_orr_by_target" in err and "second.toml" in err


@pytest.mark.parametrize("name", ["../../x", "sub/x", "..", ".", "{tmp}/abs/x", ""])
def test_names_never_write_outside_out(name, tmp_path, monkeypatch):
    """Whatever the parser lets through, the report writes only inside its folder."""
    name = name.format(tmp=tmp_path)
    spec = dataclasses.replace(load_spec(exact_spec(tmp_path / "models")), name=name)
    monkeypatch.setattr(builder, "list_specs", lambda folder: [spec])
    out = tmp_path / "deep" / "er" / "report"
    with pytest.raises(SpecError, match=r"name"):
        build_report(models=tmp_path / "models", out=out, cache=False, jobs=1)
    assert sorted(p.name for p in tmp_path.rglob("*.nc")) == []
    assert not out.exists()


def test_name_outside_out_from_a_file(tmp_path, capsys):
    folder = tmp_path / "models"
    exact_spec(folder, **{'name = "response_orr_by_target"': 'name = "../../x"'})
    assert report("--models", str(folder), "--out", str(tmp_path / "a" / "report")) == 2
    assert "../../x" in capsys.readouterr().err
    assert list(tmp_path.rglob("*.nc")) == []


def test_jobs_must_be_positive(capsys):
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exc:
            main(["report", "--jobs", bad])
        assert exc.value.code == 2
        assert "--jobs" in capsys.readouterr().err


def test_library_does_not_import_the_cli():
    source = Path(builder.__file__).read_text()
    assert "pclbayes.cli" not in source


# ------------------------------------------------------------------ Ctrl-C
def _session_processes(sid: int) -> list[int]:
    """Processes still alive in session ``sid`` (zombies count as gone)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.heavy
@pytest.mark.parametrize("target", ["group", "main"])
def test_ctrl_c_stops_workers_quickly(target, out, tmp_path):
    """SIGINT to the process group (a terminal's Ctrl-C) or to the main process only: exit
    130 within about 2 s with one line of explanation, no worker left, previous report
    intact."""
    folder = tmp_path / "mcmc"
    folder.mkdir()
    for name in (SPEC, "response_orr_by_target_logit_normal.toml"):
        shutil.copy(BUNDLED_MODELS / name, folder / name)
    before = snapshot(out)
    env = {**os.environ, "PCLBAYES_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pclbayes", "report", "--models", str(folder), "--out",
         str(out), "--no-cache", "--quick", "--jobs", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True)
    reader.start()
    seen = []
    try:
        deadline = time.monotonic() + 60
        while not any("worker processes" in x for x in seen):
            seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.1)))
        time.sleep(1.5)  # the workers are starting or compiling
        assert proc.poll() is None
        if target == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        start = time.monotonic()
        code = proc.wait(timeout=20)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=5)
    proc.stderr.close()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    err = "".join(rest)
    assert code == 130, err
    assert elapsed < 3.0, elapsed
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert f"interrupted: previous report in {out} left unchanged" in err
    deadline = time.monotonic() + 3  # the resource tracker exits after the main process
    while _session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_processes(proc.pid) == []
    assert snapshot(out) == before
    assert siblings(out) == ["report"]



def test_atomic_outputs_get_the_umask_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (owner-only); the file renamed into place must not."""
    import os
    import stat

    from pclbayes._files import atomic_write_text

    old = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "prior.json", "{}")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        os.umask(0o077)
        private = atomic_write_text(tmp_path / "private.json", "{}")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(old)
