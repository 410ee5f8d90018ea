"""The results store of a simulation study: a folder that makes a study resumable and safe.

Layout::

    STORE/
      study.json           the resolved spec, its hash, the pclbayes version, the task count
      parts/*.parquet      finished rows, one Parquet file per batch of tasks
      .lock                held (``flock``) while a run writes into the store

Every file is written under a temporary name in the same folder and renamed into place, so
an interrupted run leaves whole files only: what is in ``parts/`` is finished, and a run
loses at most the tasks that were in flight. ``study.json`` is written once, when the store
is created; a store whose ``spec_hash`` differs from the spec being run is refused.

Reading (:meth:`ResultStore.results`) concatenates the partitions, drops repeated tasks
(possible only if a compaction was interrupted; the rows are the same) and sorts by
``(scenario_index, replicate)``; the columns are in a fixed order (runner columns, scenario
keys, the study's columns). So the table does not depend on how the tasks were batched,
which executor ran them, or whether the run was interrupted and resumed. The timing column
``seconds`` is the one thing that differs between runs; ``results(timing=False)`` leaves
it out.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pclbayes._files import new_file_mode
from pclbayes.errors import PclBayesError

if TYPE_CHECKING:
    import pandas as pd

    from pclbayes.simulate.study import Study

STORE_FORMAT = "pclbayes-simulation-store"
STORE_VERSION = 1
"""Layout version of ``study.json`` and the partitions."""

#: Columns every row starts with, in this order (the scenario's keys follow).
LEADING_COLUMNS = ("scenario_index", "replicate")
#: Runner columns after the scenario keys and before the study's own columns.
TASK_COLUMNS = ("seed", "status", "message", "warnings", "seconds")
TIMING_COLUMNS = ("seconds",)


class StoreError(PclBayesError):
    """A results store cannot be used: missing, of another spec, locked or damaged."""


def _atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and rename the file into place (removed on any failure)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        new_file_mode(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def study_record(study: Study, spec_path: Path | None = None) -> dict[str, Any]:
    """What ``study.json`` holds for ``study``."""
    from pclbayes import __version__
    from pclbayes.simulate.spec import spec_hash

    table = study.spec["study"]
    scenarios = study.scenarios()
    return {
        "format": STORE_FORMAT,
        "format_version": STORE_VERSION,
        "name": table["name"],
        "title": table["title"],
        "kind": table["kind"],
        "spec_hash": spec_hash(study),
        "pclbayes_version": __version__,
        "seed": table["seed"],
        "replicates": table["replicates"],
        "scenarios": scenarios,
        "tasks": len(scenarios) * table["replicates"],
        "spec_file": None if spec_path is None else str(spec_path),
        "spec": study.spec,
    }


class ResultStore:
    """One results-store folder (see the module docstring).

    Use :meth:`create` to start a store for a study, :meth:`open` to read one.
    """

    def __init__(self, path: str | Path, record: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.record = dict(record)

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> ResultStore:
        """Open an existing store.

        Raises
        ------
        StoreError
            If ``path`` is not a store (no readable ``study.json`` of this format).
        """
        path = Path(path)
        meta = path / "study.json"
        if not path.is_dir():
            raise StoreError(f"{path}: no such results store (not a folder)")
        if not meta.is_file():
            raise StoreError(f"{path}: not a results store (no study.json)")
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"{meta}: cannot be read as a store record ({exc})") from None
        if not isinstance(record, dict) or record.get("format") != STORE_FORMAT:
            raise StoreError(f"{meta}: not a pclbayes simulation store record")
        if record.get("format_version") != STORE_VERSION:
            raise StoreError(f"{meta}: store format {record.get('format_version')!r}; this "
                             f"pclbayes reads format {STORE_VERSION}")
        return cls(path, record)

    @classmethod
    def create(cls, path: str | Path, study: Study, *, resume: bool = False,
               spec_path: Path | None = None) -> ResultStore:
        """Create the store for ``study`` at ``path``, or reopen it with ``resume``.

        Parameters
        ----------
        path : str or Path
            The store folder (created with its parents).
        study : Study
            The study the rows belong to.
        resume : bool
            Continue an existing store of the same spec. Without it an existing store that
            holds rows is an error (rows are never mixed or overwritten by accident); one
            without rows (a run that stopped before its first task finished) is reused.
        spec_path : Path or None
            The spec file, recorded in ``study.json``.

        Raises
        ------
        StoreError
            If ``path`` is a store with rows and ``resume`` is false; if it is a store of
            another spec (hash); if it exists and is not a store (a file, a non-empty folder).
        """
        path = Path(path)
        record = study_record(study, spec_path)
        if path.exists() and not path.is_dir():
            raise StoreError(f"--out {path}: exists and is not a folder; choose a store folder")
        if (path / "study.json").exists():
            store = cls.open(path)
            if store.record.get("spec_hash") != record["spec_hash"]:
                raise StoreError(
                    f"{path}: holds results of another spec (study {store.record.get('name')!r}"
                    f", spec hash {str(store.record.get('spec_hash'))[:12]}); this spec's hash "
                    f"is {record['spec_hash'][:12]}. Choose another --out for it")
            if not resume and store.finished():
                raise StoreError(
                    f"{path}: a results store already exists ({len(store.finished())} of "
                    f"{store.record['tasks']} tasks finished); add --resume to continue it, or "
                    "choose another --out")
            return store
        if path.is_dir() and any(path.iterdir()):
            raise StoreError(f"--out {path}: folder exists, is not empty and is not a results "
                             "store; choose a new folder")
        (path / "parts").mkdir(parents=True, exist_ok=True)
        from pclbayes.jsonio import dumps

        text = dumps(record) + "\n"
        _atomic_write_bytes(path / "study.json",
                            lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return cls(path, record)

    # --- properties ---------------------------------------------------------------------
    @property
    def tasks(self) -> int:
        """Number of tasks of the study (scenarios times replicates)."""
        return int(self.record["tasks"])

    @property
    def scenario_keys(self) -> list[str]:
        """The scenario keys (the grid's axes, in order)."""
        scenarios = self.record.get("scenarios") or [{}]
        return list(scenarios[0])

    def study(self) -> Study:
        """Rebuild the study from the spec recorded in ``study.json``.

        Raises
        ------
        SpecError
            If the recorded spec no longer loads (e.g. a ``module:Class`` kind that is not
            importable here).
        """
        from pclbayes.simulate.spec import study_from_spec

        return study_from_spec(self.record["spec"], self.path / "study.json")

    # --- writing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock: a second run into the same store is refused."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no protection against a second run
            yield
            return
        with open(self.path / ".lock", "a+b") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{self.path}: another run is writing this store; wait for "
                                 "it to finish or stop it") from None
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def append(self, rows: Sequence[Mapping[str, Any]]) -> Path | None:
        """Write ``rows`` (finished tasks) as one new Parquet partition, atomically."""
        if not rows:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns = {}
        for name in names:
            values = [row.get(name) for row in rows]
            try:
                columns[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                # mixed kinds (e.g. True and NaN): store the text, never lose the row
                columns[name] = pa.array([None if v is None else str(v) for v in values])
        table = pa.table(columns)
        first = min((int(r["scenario_index"]), int(r["replicate"])) for r in rows)
        name = f"part-{first[0]:06d}-{first[1]:07d}-{uuid.uuid4().hex[:12]}.parquet"
        target = self.path / "parts" / name
        _atomic_write_bytes(target, lambda tmp: pq.write_table(table, tmp))
        return target

    def compact(self) -> None:
        """Merge every partition into one (the rows of :meth:`results`), then remove the rest.

        The merged file is written before the old ones are removed, so an interruption in
        between leaves repeated tasks, which reading drops.
        """
        parts = self._parts()
        if len(parts) <= 1:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = self.results()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        target = self.path / "parts" / f"part-all-{uuid.uuid4().hex[:12]}.parquet"
        _atomic_write_bytes(target, lambda tmp: pq.write_table(table, tmp))
        for part in parts:
            part.unlink(missing_ok=True)

    # --- reading ------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        folder = self.path / "parts"
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def _tables(self) -> list:
        import pyarrow.parquet as pq

        tables = []
        for part in self._parts():
            try:
                tables.append(pq.read_table(part))
            except OSError as exc:
                raise StoreError(f"{part}: damaged partition ({exc}); remove it and resume to "
                                 "run its tasks again") from None
        return tables

    def finished(self) -> set[tuple[int, int]]:
        """``{(scenario_index, replicate)}`` of every stored task (ok or error)."""
        import pyarrow.parquet as pq

        done: set[tuple[int, int]] = set()
        for part in self._parts():
            try:
                table = pq.read_table(part, columns=list(LEADING_COLUMNS))
            except OSError as exc:
                raise StoreError(f"{part}: damaged partition ({exc}); remove it and resume to "
                                 "run its tasks again") from None
            done.update(zip(table.column(0).to_pylist(), table.column(1).to_pylist(),
                            strict=True))
        return done

    def results(self, *, timing: bool = True) -> pd.DataFrame:
        """The stored rows, one per finished task, sorted by ``(scenario_index, replicate)``.

        Parameters
        ----------
        timing : bool, default True
            Include the ``seconds`` column (the one column that differs between runs).

        Returns
        -------
        pandas.DataFrame
            Columns: ``scenario_index, replicate``, the scenario keys, ``seed, status,
            message, warnings, seconds`` and the study's columns (in the order its rows
            give them).
            Empty (with the runner columns) when no task has finished.
        """
        import pandas as pd
        import pyarrow as pa

        tables = self._tables()
        keys = self.scenario_keys
        fixed = [*LEADING_COLUMNS, *keys, *TASK_COLUMNS]
        if not tables:
            frame = pd.DataFrame({c: [] for c in fixed})
        else:
            study_cols = self._study_columns(tables, set(fixed))
            table = pa.concat_tables(tables, promote_options="permissive")
            frame = table.to_pandas()
            frame = frame[[c for c in fixed if c in frame] + study_cols]
            frame = frame.sort_values(list(LEADING_COLUMNS), kind="stable")
            frame = frame.drop_duplicates(list(LEADING_COLUMNS), keep="first")
            frame = frame.reset_index(drop=True)
        if not timing:
            frame = frame.drop(columns=[c for c in TIMING_COLUMNS if c in frame])
        return frame

    @staticmethod
    def _study_columns(tables: list, fixed: set[str]) -> list[str]:
        """The study's columns in the order of the partition holding the first ok task."""
        best: tuple[tuple[int, int], list[str]] | None = None
        every: dict[str, None] = {}
        for table in tables:
            cols = [c for c in table.column_names if c not in fixed]
            every.update(dict.fromkeys(cols))
            status = table.column("status").to_pylist()
            si = table.column("scenario_index").to_pylist()
            rep = table.column("replicate").to_pylist()
            ok = [(a, b) for a, b, s in zip(si, rep, status, strict=True) if s == "ok"]
            if ok and (best is None or min(ok) < best[0]):
                best = (min(ok), cols)
        order = list(best[1]) if best else []
        return order + sorted(c for c in every if c not in order)
