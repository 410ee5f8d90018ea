"""Column dictionary of the evidence base: types, allowed values and required columns."""

from __future__ import annotations

from dataclasses import dataclass

#: Days per month used for every conversion from days (Julian year / 12).
DAYS_PER_MONTH = 30.4375

#: IMWG response categories, best first. ``NE`` = not evaluable.
RESPONSE_CATEGORIES = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")
#: Categories that count as objective response (partial response or better).
ORR_CATEGORIES = frozenset({"sCR", "CR", "VGPR", "PR"})
#: Categories that count as complete response or better.
CR_CATEGORIES = frozenset({"sCR", "CR"})

#: Antigen targets pclbayes recognises (multiple myeloma / PCL CAR T and T-cell engagers).
KNOWN_TARGETS = ("BCMA", "GPRC5D", "FCRH5", "CD38", "SLAMF7", "CD19", "CD138", "NKG2D", "BCMA+CD19",
                 "BCMA+GPRC5D")
STRATEGIES = ("first", "switch")
PCL_TYPES = ("primary", "secondary")
SEXES = ("M", "F")
DATA_LEVELS = ("patient-level", "partial", "press-release", "aggregate", "user")
MISSING_TOKENS = frozenset({"", "NA"})


@dataclass(frozen=True)
class Column:
    """How one column is parsed and checked.

    Parameters
    ----------
    kind : {"str", "int", "float", "binary", "category"}
        ``float`` values must be > ``min_value`` (exclusive) when ``positive``.
    """

    kind: str
    choices: tuple[str, ...] = ()
    positive: bool = False
    min_value: float | None = None
    max_value: float | None = None


_BIN = Column("binary")
_TIME = Column("float", positive=True)

PATIENT_COLUMNS: dict[str, Column] = {
    "cohort": Column("str"),
    "patient_id": Column("str"),
    "sex": Column("category", SEXES),
    "age": Column("float", positive=True, max_value=120),
    "pcl_type": Column("category", PCL_TYPES),
    "target": Column("category", KNOWN_TARGETS),
    "dose_1e6_per_kg": Column("float", positive=True),
    "response_day28": Column("category", RESPONSE_CATEGORIES),
    "best_response": Column("category", RESPONSE_CATEGORIES),
    "orr": _BIN,
    "cr_or_better": _BIN,
    "mrd_negative": _BIN,
    "pfs_months": _TIME,
    "pfs_event": _BIN,
    "progression": _BIN,
    "os_months": _TIME,
    "os_event": _BIN,
    "soft_tissue": _BIN,
    "crs_grade": Column("int", min_value=0, max_value=5),
    "icans_grade": Column("int", min_value=0, max_value=5),
    "subsequent_therapy": Column("str"),
    "subsequent_therapy_months": _TIME,
    "time": _TIME,
    "event": _BIN,
}

REINFUSION_COLUMNS: dict[str, Column] = {
    "cohort": Column("str"),
    "patient_id": Column("str"),
    "episode": Column("int", min_value=2),
    "target": Column("category", KNOWN_TARGETS),
    "start_months": _TIME,
    "best_response": Column("category", RESPONSE_CATEGORIES),
    "orr": _BIN,
    "cr_or_better": _BIN,
    "pfs_months": _TIME,
    "pfs_event": _BIN,
    "progression": _BIN,
}

AGGREGATE_COLUMNS: dict[str, Column] = {
    "cohort": Column("str"),
    "population": Column("str"),
    "is_pcl": _BIN,
    "endpoint": Column("str"),
    "n": Column("int", min_value=1),
    "responders": Column("int", min_value=0),
    "target": Column("category", KNOWN_TARGETS),
    "strategy": Column("category", STRATEGIES),
    "derived": _BIN,
}

COHORT_COLUMNS: dict[str, Column] = {
    "cohort": Column("str"),
    "data_level": Column("category", DATA_LEVELS),
    "n_pcl_patients": Column("int", min_value=0),
}

REQUIRED = {
    "cohorts.csv": ("cohort", "data_level"),
    "patients.csv": ("cohort", "patient_id"),
    "reinfusions.csv": ("cohort", "patient_id", "target", "start_months"),
    "aggregates.csv": ("cohort", "n", "responders"),
}

#: Pairs of (time, event) columns that must be given together.
TIME_EVENT_PAIRS = (("pfs_months", "pfs_event"), ("os_months", "os_event"), ("time", "event"))

#: Binary response endpoints and the patient column that holds each.
ENDPOINT_COLUMNS = {"orr": "orr", "cr": "cr_or_better"}
