#!/usr/bin/python3
"""Scaling model of isweep at 1,000 and 10,000 ranks (issue 14).

Reads a JSON file (default: measured.json next to this script, or the path
given as the first argument) and prints the Markdown tables of the README
subsection "Model: 1,000 and 10,000 ranks". Standard library only.

JSON layout -- three blocks; every key is required (idle_dispatcher_cpu_pct
and write_calls_per_row_before are carried for the README text only):

"measured"   figures measured on the 2-core development machine (ranks
             oversubscribed, shared-memory transport):
  dispatch_rate_1rank_per_s     bench_dispatch no-op configs/s, 1 rank
  dispatch_rate_16rank_per_s    bench_dispatch no-op configs/s, 16 ranks
  prefetch_depth                configs a worker holds (running + queued)
  idle_dispatcher_cpu_pct       dispatcher thread CPU, % of a core, idle
  row_bytes                     bytes one row costs the writer: the bytes written
                                per row (bench_writes: calls/row x bytes/call;
                                whole chunks are rewritten, so more than the
                                row's share of the file); also an upper bound
                                of a row's message to rank 0
  file_bytes_per_row            the results file's size per row
  datasets_per_group            datasets written per task group
  batch_rows, batch_seconds     writer flushes a batch at this count/age
  write_calls_per_row_before    strace write calls per row, b659671
  write_calls_per_row_after     strace write calls per row, now
  rank0_base_mb, rank0_bytes_per_config    rank 0 peak RSS = base + N*b
  worker_base_mb, worker_bytes_per_config  worker peak RSS = base + N*b
  resume_startup_wall_s_at_1e6  --resume start-up wall time at 10^6 configs
  resume_startup_cpu_rank0_s_at_1e6  rank 0 CPU time of that start-up

"cited"      figures taken from public sources (see the Sources list of
             README.md, "Scaling", "Model: 1,000 and 10,000 ranks"; tag [Sn]
             in the tables):
  link_gbit_per_s            one node link (HDR IB / Slingshot-11)   [S7,S8]
  nic_msgs_per_s             NIC message rate (ConnectX-6)          [S7]
  mpi_small_latency_us       inter-node MPI small-message latency   [S9]
  ost_single_stream_mb_per_s one OST, one stream (lower figure)     [S11]
  lustre_client_mb_per_s_low / _high   one Lustre client            [S12,S10]
  fsync_worst_s              a pathological Lustre fsync seen       [S15]
  parsl_htex_tasks_per_s, dask_distributed_overhead_s,
  hyperqueue_overhead_s, adlb_tasks_per_s_per_server, ray_tasks_per_s
                             comparable systems                     [S1-S5]

"assumed"    model parameters that are neither measured nor cited:
  ranks                list of rank counts (the table columns)
  ranks_per_node       ranks a node (sub-dispatcher fan-in)
  target_busy          wanted fraction of rank time spent in configs
  ref_config_s         a reference mean config duration T
  subdispatch_block    configs rank 0 hands a sub-dispatcher per message
  report_msg_bytes     size of one report message
  fsync_typical_s      one fsync on a healthy Lustre (not found: assumed)
  fsync_max_writer_fraction  share of writer time fsync may take
  configs              list of sweep sizes N for the start-up table

Model (all "derived" rows):
  D = 1 / dispatch rate (s of dispatcher + transport per config).
  Worker utilisation U = min(1, T / (R * D)): one dispatcher thread, no other
  contention, network latency hidden by prefetch. T_min(U) = U * R * D.
  Sub-dispatcher per node: a node dispatcher serves ranks_per_node ranks at D
  each; rank 0 serves ceil(R / ranks_per_node) sub-dispatchers, one message
  per block of b configs, assumed to cost D like one hand-out, so
  T_min = U * max(ranks_per_node * D, R * D / b).
  Rows/s P = min(R / T, 1 / D). Batches/s = max(P / batch_rows,
  1 / batch_seconds). A batch costs one fsync (plus flushes, ignored).
  With sub-dispatchers the rows/s ceiling is min(b / D, nodes / D).
"""
import json
import math
import os
import sys


def fmt(x, unit=""):
    """Format a number compactly with thousands separators."""
    if isinstance(x, str):
        return x
    ax = abs(x)
    if ax == 0:
        s = "0"
    elif ax >= 100:
        s = f"{x:,.0f}"
    elif ax >= 10:
        s = f"{x:,.1f}"
    elif ax >= 1:
        s = f"{x:,.2f}"
    elif ax >= 0.01:
        s = f"{x:.3f}"
    else:
        s = f"{x:.2e}"
    return s + (" " + unit if unit else "")


def dur(s):
    """Format a duration in s as µs / ms / s / min."""
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def share(x):
    """A share of one writer's time; above 100 % the writer falls behind."""
    return f"{x:.0%}" + (" (falls behind)" if x > 1 else "")


def table(title, ranks, rows):
    out = []
    head = f"| {title} | " + " | ".join(f"{r:,} ranks" for r in ranks) + " | kind |"
    out.append(head)
    out.append("|---|" + "---:|" * len(ranks) + "---|")
    for name, fn, kind in rows:
        vals = [fn(r) for r in ranks]
        out.append(f"| {name} | " + " | ".join(vals) + f" | {kind} |")
    out.append("")
    return "\n".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "measured.json")
    with open(path) as f:
        j = json.load(f)
    m, c, a = j["measured"], j["cited"], j["assumed"]
    R = a["ranks"]
    U = a["target_busy"]
    T = a["ref_config_s"]
    rpn = a["ranks_per_node"]
    b = a["subdispatch_block"]
    D1 = 1.0 / m["dispatch_rate_1rank_per_s"]
    D16 = 1.0 / m["dispatch_rate_16rank_per_s"]
    ceil1 = 1.0 / D1
    M = "measured here (2 cores, oversubscribed)"
    DV = "derived"
    Ut = f"{U:.0%}"

    out = []
    # ---------------------------------------------------------- hand-out
    rows = [
        ("D, dispatcher+transport per config (1 rank / 16 ranks)",
         lambda r: f"{dur(D1)} / {dur(D16)}", M),
        ("hand-out ceiling 1/D (configs/s)", lambda r: fmt(ceil1), DV),
        (f"min. mean config time T for {Ut} busy (D of 1 rank / 16 ranks)",
         lambda r: f"{dur(U * r * D1)} / {dur(U * r * D16)}", DV),
        (f"utilisation at T = {T:g} s (dispatcher load R·D/T)",
         lambda r: f"{min(1, T / (r * D1)):.0%} ({r * D1 / T:.0%})", DV),
        (f"sub-dispatchers rank 0 serves ({rpn} ranks a node)",
         lambda r: f"{math.ceil(r / rpn):,}", DV),
        (f"T for {Ut} busy with sub-dispatchers, blocks of {b}",
         lambda r: dur(U * max(rpn * D1, r * D1 / b)), f"derived (A: block costs D)"),
        (f"T for {Ut} busy at Parsl HTEX's {fmt(c['parsl_htex_tasks_per_s'])} tasks/s",
         lambda r: dur(U * r / c["parsl_htex_tasks_per_s"]), "cited [S1] → derived"),
        (f"… at Dask distributed's ~{dur(c['dask_distributed_overhead_s'])} a task",
         lambda r: dur(U * r * c["dask_distributed_overhead_s"]), "cited [S2] → derived"),
        (f"… at HyperQueue's < {dur(c['hyperqueue_overhead_s'])} a task",
         lambda r: dur(U * r * c["hyperqueue_overhead_s"]), "cited [S3] → derived"),
        (f"… at ADLB's ~{fmt(c['adlb_tasks_per_s_per_server'])} tasks/s (one server)",
         lambda r: dur(U * r / c["adlb_tasks_per_s_per_server"]), "cited [S4] → derived"),
        (f"… at Ray's {fmt(c['ray_tasks_per_s'])} tasks/s (many nodes)",
         lambda r: dur(U * r / c["ray_tasks_per_s"]), "cited [S5] → derived"),
    ]
    out.append(table("Hand-out (last 5 rows: if that figure were the only limit)", R, rows))

    # ---------------------------------------------------------- network
    link_Bps = c["link_gbit_per_s"] * 1e9 / 8
    in_bytes = m["row_bytes"] + a["report_msg_bytes"]  # an upper bound: the message holds the values only

    def P(r, t):
        return min(r / t, ceil1)

    rows = [
        ("MPI small-message latency / D", lambda r: f"{c['mpi_small_latency_us']:g} µs / {dur(D1)}",
         "cited [S9] / measured"),
        (f"bytes/s into rank 0 at the ceiling (row + report); share of a {c['link_gbit_per_s']} Gb/s link",
         lambda r: f"{fmt(ceil1 * in_bytes / 1e6, 'MB/s')}; {ceil1 * in_bytes / link_Bps:.2%}",
         "derived from [S7,S8]"),
        ("messages/s at rank 0 (hand-out + report + row); share of NIC rate",
         lambda r: f"{fmt(3 * ceil1)}; {3 * ceil1 / c['nic_msgs_per_s']:.3%}", "derived from [S7]"),
    ]
    out.append(table("Network into rank 0", R, rows))

    # ---------------------------------------------------------- I/O
    br, bs = m["batch_rows"], m["batch_seconds"]
    ft, fw = a["fsync_typical_s"], c["fsync_worst_s"]
    fmax = a["fsync_max_writer_fraction"]

    def subceil(r):
        # rank 0 limit (b configs per D) and node-dispatcher limit (1/D each)
        return min(b * ceil1, math.ceil(r / rpn) * ceil1)

    def batches(p):
        return max(p / br, 1.0 / bs)

    rows = [
        (f"rows/s the job produces, T = {T:g} s / at the ceiling",
         lambda r: f"{fmt(P(r, T))} / {fmt(ceil1)}", DV),
        ("MB/s into the one writer, same two cases",
         lambda r: f"{fmt(P(r, T) * m['row_bytes'] / 1e6)} / {fmt(ceil1 * m['row_bytes'] / 1e6)}", DV),
        (f"batches (= fsyncs)/s at {br} rows or {bs:g} s, same",
         lambda r: f"{fmt(batches(P(r, T)))} / {fmt(batches(ceil1))}", DV),
        ("write calls/s (strace: rows × calls per row), same",
         lambda r: f"{fmt(P(r, T) * m['write_calls_per_row_after'])} / {fmt(ceil1 * m['write_calls_per_row_after'])}", DV),
        (f"writer time in fsync at {dur(ft)} each, same",
         lambda r: f"{share(batches(P(r, T)) * ft)} / {share(batches(ceil1) * ft)}", "derived (A: fsync)"),
        (f"rows a batch needs for fsync ≤ {fmax:.0%} of writer time, ceiling",
         lambda r: fmt(max(br, ceil1 * ft / fmax)), "derived (A: fsync)"),
        (f"writer ceiling at {br} rows/batch: fsync {dur(ft)} / {dur(fw)}",
         lambda r: f"{fmt(br / ft)} / {fmt(br / fw)} rows/s", "derived (A / [S15])"),
        ("ceiling MB/s as share of one OST stream / one client",
         lambda r: f"{ceil1 * m['row_bytes'] / 1e6 / c['ost_single_stream_mb_per_s']:.0%} / "
                   f"{ceil1 * m['row_bytes'] / 1e6 / c['lustre_client_mb_per_s_low']:.0%}",
         "derived from [S11,S12]"),
        ("… with sub-dispatchers: rows/s ceiling; share of OST / client",
         lambda r: f"{fmt(subceil(r))}; {subceil(r) * m['row_bytes'] / 1e6 / c['ost_single_stream_mb_per_s']:.0%} / "
                   f"{subceil(r) * m['row_bytes'] / 1e6 / c['lustre_client_mb_per_s_low']:.0%}",
         "derived (A: block costs D)"),
    ]
    out.append(table("I/O (one writer thread on rank 0, one HDF5 file)", R, rows))

    # ---------------------------------------------------------- start-up
    def rss0(n):
        return m["rank0_base_mb"] + n * m["rank0_bytes_per_config"] / 1e6

    def rssw(n):
        return m["worker_base_mb"] + n * m["worker_bytes_per_config"] / 1e6

    rows = [("first hand-out round, R × depth × D",
             lambda r: dur(r * m["prefetch_depth"] * D1), DV)]
    for n in a["configs"]:
        e = f"10^{round(math.log10(n))}" if n > 0 and abs(math.log10(n) - round(math.log10(n))) < 1e-9 else fmt(n)
        rows += [
            (f"N = {e}: rank 0 / worker peak RSS",
             lambda r, n=n: f"{fmt(rss0(n), 'MB')} / {fmt(rssw(n), 'MB')}", "derived (linear fit of measured)"),
            (f"N = {e}: rank 0's node ({rpn} ranks) / all workers",
             lambda r, n=n: f"{fmt((rss0(n) + (rpn - 1) * rssw(n)) / 1e3, 'GB')} / "
                            f"{fmt((r - 1) * rssw(n) / 1e3, 'GB')}", DV),
            (f"N = {e}: resume start-up, wall / rank 0 CPU",
             lambda r, n=n: f"{dur(m['resume_startup_wall_s_at_1e6'] * n / 1e6)} / "
                            f"{dur(m['resume_startup_cpu_rank0_s_at_1e6'] * n / 1e6)}", "derived (linear in N)"),
        ]
    rows.append(("results file, N × row, for each N above",
                 lambda r: " / ".join(fmt(n * m["file_bytes_per_row"] / 1e9, "GB") for n in a["configs"]), DV))
    out.append(table("Start-up and memory", R, rows))
    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main()
