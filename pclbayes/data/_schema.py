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

#: Times beyond this many months (50 years) are implausible: a warning, not an error.
PLAUSIBLE_MAX_MONTHS = 600.0

#: Time units a data set may be in, with the number of units per month (a month is
#: :data:`DAYS_PER_MONTH` days, a year 12 months). The bundled data are in months; a
#: user's data declare their unit in a ``time_unit`` column of ``patients.csv`` (one value
#: for every row) or by the ``time_unit`` option (``--time-unit``); months otherwise.
TIME_UNITS: dict[str, float] = {"days": DAYS_PER_MONTH, "weeks": DAYS_PER_MONTH / 7.0,
                                "months": 1.0, "years": 1.0 / 12.0}
#: The time unit of data that do not declare one.
DEFAULT_TIME_UNIT = "months"
#: A column whose name starts with this prefix is the user's own: kept as text, unchecked.
EXTRA_PREFIX = "x_"


@dataclass(frozen=True)
class Column:
    """How one column is parsed and checked.

    Parameters
    ----------
    kind : {"name", "str", "int", "float", "binary", "category"}
        ``name``: an identifier (cohort, patient id), normalised by
        :func:`pclbayes.data._parse.normalise_name` and free of hidden characters;
        ``str``: free text, only stripped; ``category``: a name from ``choices``;
        ``int``, ``float``, ``binary`` (0/1): numbers read by
        :func:`pclbayes.data._parse.parse_number`.
    choices : tuple of str
        Allowed values of a ``category``.
    positive : bool
        Numbers must be > 0.
    min_value, max_value : float, optional
        Inclusive bounds; a number outside them is an error.
    plausible_max : float, optional
        A number above it is accepted with a warning (e.g. a time beyond 50 years).
    """

    kind: str
    choices: tuple[str, ...] = ()
    positive: bool = False
    min_value: float | None = None
    max_value: float | None = None
    plausible_max: float | None = None


_BIN = Column("binary")
_TIME = Column("float", positive=True, plausible_max=PLAUSIBLE_MAX_MONTHS)
_NAME = Column("name")
_TEXT = Column("str")

PATIENT_COLUMNS: dict[str, Column] = {
    "cohort": _NAME,
    "patient_id": _NAME,
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
    "subsequent_therapy": _TEXT,
    "subsequent_therapy_months": _TIME,
    "time": _TIME,
    "event": _BIN,
    "time_unit": Column("category", tuple(TIME_UNITS)),
}

REINFUSION_COLUMNS: dict[str, Column] = {
    "cohort": _NAME,
    "patient_id": _NAME,
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
    "cohort": _NAME,
    "population": _NAME,
    "is_pcl": _BIN,
    "endpoint": _NAME,
    "n": Column("int", min_value=1),
    "responders": Column("int", min_value=0),
    "target": Column("category", KNOWN_TARGETS),
    "strategy": Column("category", STRATEGIES),
    "derived": _BIN,
    "location": _TEXT,
    "note": _TEXT,
    "document_id": _NAME,
}

#: Aggregate columns that hold counts or notes; every other column identifies the row, so
#: two rows equal on all the others are duplicates.
AGGREGATE_VALUE_COLUMNS = ("n", "responders", "derived", "location", "note", "document_id")

COHORT_COLUMNS: dict[str, Column] = {
    "cohort": _NAME,
    "center": _TEXT,
    "country": _TEXT,
    "document_id": _NAME,
    "trial_registration": _TEXT,
    "enrolment": _TEXT,
    "data_cutoff": _TEXT,
    "product": _TEXT,
    "car_construct": _TEXT,
    "costimulatory_domain": _TEXT,
    "targets": _TEXT,
    "data_level": Column("category", DATA_LEVELS),
    "n_pcl_patients": Column("int", min_value=0),
    "notes": _TEXT,
}

#: Columns of the record files (read as text, not used by any model).
RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "documents.csv": ("document_id", "file", "kind", "citation", "doi_or_url"),
    "provenance.csv": ("table", "cohort", "patient_id", "column", "value", "document_id",
                       "location", "quote", "note"),
    "source_issues.csv": ("issue_id", "cohort", "document_id", "kind", "location_a",
                          "statement_a", "location_b", "statement_b", "detail",
                          "affects_analysis", "handling"),
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
#: Endpoint names of aggregate rows that pclbayes knows; others are allowed as given.
KNOWN_ENDPOINTS = ("orr", "cr", "vgpr_or_better")
