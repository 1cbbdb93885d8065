# The README's three lines (with PYTHONPATH=analysis, or the installed share/isweep/analysis):
# every config with its parameters, status name and scalars (r.configs), every curve in long
# form (r.curves: config x n), joined on config_id (16 hex digits everywhere, CSV included).
from isweep_analysis import load
r = load("results.h5")  # or load(["part1.h5", "part2.h5"]): one table, a `source` column
long = r.curves.merge(r.configs, on=["source", "task", "config_id"])  # one row per config x n
