"""Load the bundled PCL evidence base and print the per-target summary.

Run: python examples/data_summary.py [PATH]
"""

from __future__ import annotations

import sys

from pclbayes.data import cohort_summary, load, response_counts

eb = load(sys.argv[1] if len(sys.argv) > 1 else None)
print(f"{len(eb.patients)} PCL patients in {len(eb.cohorts)} cohorts (data {eb.data_hash[:12]})\n")

summary = cohort_summary(eb)
by_target = summary.groupby("target")[["patients", "orr_responders", "cr_or_better",
                                       "pfs_events", "pfs_censored", "reinfusions"]].sum()
print("First infusions by antigen target (all cohorts):")
print(by_target.to_string())

print("\nCR or better by cohort and strategy (first infusion vs target-switched re-infusion):")
print(response_counts(eb, "cr", by="strategy").to_string(index=False))
