# The README's three lines: one task group of an isweep results file as a pandas DataFrame
# (one row per config; strings decoded; status is the enum's code: 0 pending, 1 running, 2 ok,
# 3 diverged, 4 failed). Curves are 2-D, e.g. g["test_loss"][()] is (configs, len(g["test_iters"])).
import h5py, pandas as pd
g = h5py.File("results.h5", "r")["linear-meta"]
runs = pd.DataFrame({k: d.asstr()[()] if d.dtype.kind == "S" else d[()] for k, d in g.items() if d.shape == g["config_id"].shape and k != "test_iters"})
