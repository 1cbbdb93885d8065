"""isweep_analysis -- read isweep results files (HDF5) into pandas, compute
the study's statistics over seeds, draw the figures and write a report.

    from isweep_analysis import load
    r = load("isweep-results.h5")        # or load(["part1.h5", "part2.h5"])
    r.configs, r.curves                  # tidy tables, joinable on config_id

Modules: load (file -> frames), stats (frames -> statistics), figures
(statistics -> matplotlib figures), html (the report page), __main__ (the
command line: python3 -m isweep_analysis report FILE... -o DIR)."""

from .load import IsweepFileError, Results, load  # noqa: F401

__all__ = ["load", "Results", "IsweepFileError"]
