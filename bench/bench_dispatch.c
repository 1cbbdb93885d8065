/* bench_dispatch.c — the real dispatcher (dispatch.c, its own thread on rank
 * 0) and the real transport (transport.c) handing out configs whose run is a
 * no-op (or a sleep), on however many ranks mpirun starts.  Nothing is
 * written: the worker loop below is run.c's worker_loop with run_job
 * replaced by the no-op, so every second it measures is dispatch overhead.
 *
 * Prints one line on rank 0:
 *   ranks configs seconds configs/s overhead_ms wait_ms disp_cpu_pct cpu_ms
 * overhead_ms: rank-milliseconds per config (ranks x seconds / configs; with
 * no-op configs all rank time is overhead); wait_ms: mean time a worker waits
 * from asking for work to holding its next config (the hand-out latency seen
 * by a worker); disp_cpu_pct: CPU time of the dispatcher thread over the
 * wall time, in % of one core (with --sleep-us long configs: its idle cost);
 * cpu_ms: CPU milliseconds (user + system, every rank, the dispatcher thread
 * included) per config — with no-op configs the whole cost of a config, which
 * oversubscription does not inflate as it does overhead_ms.
 *
 * Usage: mpirun -n P bench_dispatch [--configs N] [--sleep-us US] [--depth D] [--heartbeat S]
 *                                    [--mixed SPEC --seeds A:B --us-per-gflop U [--noise F] [--no-backfill]]
 * (depth: jobs a rank holds, running + queued; 2 as in isweep run; heartbeat:
 * every rank but 0 sends one every S seconds and the dispatcher watches for
 * dead ranks with a timeout of 12 S, the ratio of isweep run's defaults;
 * without it, neither, as before the heartbeat existed).
 * --mixed: instead of equal configs, the grid of the spec file SPEC (e.g.
 * tests/specs/team-mixed.ini: teams of 3 for width >= 128) with seeds A:B, each
 * config a sleep of its predicted cost at U microseconds per Gflop over its
 * team (the members start together and end together), times 1 + F u with u
 * uniform in [-1, 1] drawn from the config's row (prediction errors of up to
 * F; the dispatcher learns the rate from what ends, as in a run): the
 * makespan of the real dispatcher's order, EASY backfilling or (with
 * --no-backfill) today's strict order, with ranks that sleep, so that
 * oversubscription costs no CPU.
 * bench/bench_dispatch.py runs it at 1..64 ranks and prints the table. */
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "isweep/dispatch.h"
#include "isweep/error.h"
#include "isweep/sched.h"
#include "isweep/spec.h"
#include "isweep/transport.h"

typedef struct {
  isw_dispatch *d;
  double cpu; /* seconds of CPU the dispatcher thread used */
} dispatcher_run;

/* The real dispatcher, then its own thread's CPU time. */
static void *dispatcher_thread(void *arg) {
  dispatcher_run *run = arg;
  isw_dispatch_main(run->d);
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  run->cpu = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
  return NULL;
}

/* CPU seconds (user + system) this process has used. */
static double process_cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/* The sleep of a --mixed config: its predicted seconds at us_per_gflop, times
 * 1 + noise u, u in [-1, 1] from a hash of (group, row). */
static long mixed_sleep_us(const isw_config *c, int group, int row, double us_per_gflop, double noise) {
  uint64_t z = ((uint64_t)group << 32 | (uint32_t)row) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  double u = 2.0 * (double)(z >> 11) / 9007199254740992.0 - 1.0;
  return (long)(c->cost / 1e9 * us_per_gflop / c->team * (1.0 + noise * u));
}

static void noop_config(long sleep_us) {
  if (sleep_us <= 0) return;
  struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

/* run.c's worker_loop with a no-op run_job: take the next job, run it,
 * tell the transport, until it has none.  *waited: seconds spent in
 * isw_transport_worker_next (waiting for a job to hold). */
typedef struct {
  const isw_spec *spec; /* NULL: every config sleeps sleep_us */
  double us_per_gflop, noise;
} mixed_run;

static int bench_worker(isw_transport *t, long sleep_us, const mixed_run *mixed, double *waited, long *n_run) {
  int err = 0;
  MPI_Comm team = MPI_COMM_NULL;
  for (;;) {
    isw_assign a;
    int cancelled = 0;
    double w0 = MPI_Wtime();
    ISW_CALL(isw_transport_worker_next(t, &a, &cancelled));
    *waited += MPI_Wtime() - w0;
    if (a.kind == ISW_ASSIGN_STOP) break;
    double t0 = MPI_Wtime();
    if (mixed->spec) {
      const isw_config *c = &mixed->spec->groups[a.group].configs[a.row];
      ISW_CALL(isw_transport_team_comm(t, &a, &team));
      if (a.team > 1) ISW_CALL(isw_transport_mpi_error(MPI_Barrier(team), "MPI_Barrier"));
      noop_config(mixed_sleep_us(c, a.group, a.row, mixed->us_per_gflop, mixed->noise));
      if (a.team > 1) ISW_CALL(isw_transport_mpi_error(MPI_Barrier(team), "MPI_Barrier"));
      isw_transport_team_free(&team);
    } else {
      noop_config(sleep_us);
    }
    ISW_CALL(isw_transport_worker_done(t, &a, ISW_ST_OK, MPI_Wtime() - t0));
    *n_run += !mixed->spec || a.members[0] == t->rank;
  }
cleanup:
  isw_transport_team_free(&team);
  return err;
}

int main(int argc, char **argv) {
  int err = 0, rank = 0, size = 1, provided = 0;
  long n_configs = 5000, sleep_us = 0;
  int depth = 2;
  double heartbeat = 0;
  const char *mixed_path = NULL, *mixed_seeds = NULL;
  mixed_run mixed = {NULL, 0.0, 0.0};
  int backfill = 1;
  isw_spec *spec = NULL;
  isw_job *jobs = NULL;
  int n_jobs = 0, transport_ready = 0;
  isw_transport t;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--configs") && i + 1 < argc) n_configs = atol(argv[++i]);
    else if (!strcmp(argv[i], "--sleep-us") && i + 1 < argc) sleep_us = atol(argv[++i]);
    else if (!strcmp(argv[i], "--depth") && i + 1 < argc) depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--heartbeat") && i + 1 < argc) heartbeat = atof(argv[++i]);
    else if (!strcmp(argv[i], "--mixed") && i + 1 < argc) mixed_path = argv[++i];
    else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) mixed_seeds = argv[++i];
    else if (!strcmp(argv[i], "--us-per-gflop") && i + 1 < argc) mixed.us_per_gflop = atof(argv[++i]);
    else if (!strcmp(argv[i], "--noise") && i + 1 < argc) mixed.noise = atof(argv[++i]);
    else if (!strcmp(argv[i], "--no-backfill")) backfill = 0;
    else {
      if (rank == 0)
        fprintf(stderr, "usage: bench_dispatch [--configs N] [--sleep-us US] [--depth D] [--heartbeat S]\n"
                        "                      [--mixed SPEC --seeds A:B --us-per-gflop U [--noise F] [--no-backfill]]\n");
      MPI_Finalize();
      return 2;
    }
  }
  ISW_CHECK(provided == MPI_THREAD_MULTIPLE, ISW_EMPI, "MPI_THREAD_MULTIPLE is not available");
  ISW_CHECK(n_configs >= 1 && n_configs <= 10000000, ISW_EUSAGE, "--configs must be 1 .. 10^7");
  ISW_CHECK(depth >= 1 && depth <= ISW_PREFETCH_MAX, ISW_EUSAGE, "--depth must be 1 .. %d", ISW_PREFETCH_MAX);
  if (mixed_path) {
    ISW_CHECK(mixed_seeds != NULL, ISW_EUSAGE, "--mixed needs --seeds A:B");
    ISW_CHECK(mixed.us_per_gflop > 0 && mixed.us_per_gflop <= 1e9, ISW_EUSAGE, "--mixed needs --us-per-gflop > 0");
    ISW_CHECK(mixed.noise >= 0 && mixed.noise < 1, ISW_EUSAGE, "--noise must be 0 .. below 1");
    char seeds[128];
    snprintf(seeds, sizeof seeds, "sweep.seeds=%s", mixed_seeds);
    const char *sets[] = {seeds, "sweep.output=/nonexistent/bench_dispatch.h5"};
    ISW_CALL(isw_spec_load(&spec, mixed_path, sets, 2));
  } else { /* n_configs equal configs (one width, one train_iters, n seeds):
            * only the dispatcher's bookkeeping reads them */
    char text[512];
    snprintf(text, sizeof text,
             "[sweep]\ntasks = linear-meta\nseeds = 0:%ld\ntrain_iters = 1\ntest_iters = 0\n"
             "max_configs = 10000000\noutput = /nonexistent/bench_dispatch.h5\n"
             "[linear-meta]\nwidths = 16\n",
             n_configs - 1);
    ISW_CALL(isw_spec_parse(&spec, "bench_dispatch", text, NULL, 0));
  }
  isw_sched_assign(spec, size);
  ISW_CALL(isw_sched_order(&jobs, &n_jobs, spec, NULL));
  if (mixed_path) mixed.spec = spec;
  ISW_CHECK(heartbeat >= 0 && heartbeat <= 3600, ISW_EUSAGE, "--heartbeat must be 0 .. 3600 seconds");
  ISW_CALL(isw_transport_init(&t, MPI_COMM_WORLD));
  transport_ready = 1;
  ISW_CALL(isw_transport_heartbeat_start(&t, heartbeat));

  isw_dispatch d;
  memset(&d, 0, sizeof d);
  dispatcher_run run = {&d, 0.0};
  pthread_t thread;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime(), cpu0 = process_cpu();
  if (rank == 0) {
    d.t = &t;
    d.spec = spec;
    d.jobs = jobs;
    d.n_jobs = n_jobs;
    d.n_total = n_jobs;
    d.quiet = 1;
    d.progress_interval = 10.0;
    d.depth = depth;
    d.rank_timeout = 12 * heartbeat;
    d.backfill = backfill;
    if (mixed.spec) d.rate = 1e15 / mixed.us_per_gflop; /* flop/s: what the sleeps last, before noise */
    ISW_CHECK(pthread_create(&thread, NULL, dispatcher_thread, &run) == 0, ISW_EINTERNAL,
              "cannot start the dispatcher thread");
  }
  double waited = 0;
  long n_run = 0;
  ISW_CALL(bench_worker(&t, sleep_us, &mixed, &waited, &n_run));
  if (rank == 0) pthread_join(thread, NULL);
  double wall = MPI_Wtime() - t0, cpu = process_cpu() - cpu0;
  ISW_CALL(isw_transport_quiet_barrier(&t));

  double sums[3] = {waited, (double)n_run, cpu}, tot[3] = {0, 0, 0};
  MPI_Reduce(sums, tot, 3, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    ISW_CHECK(d.n_ok == n_jobs && (long)tot[1] == n_jobs, ISW_EINTERNAL,
              "%d of %d configs reported ok, %.0f run", d.n_ok, n_jobs, tot[1]);
    printf("%5d %8d %8.3f %10.0f %11.4f %8.4f %12.2f %8.4f\n", size, n_jobs, wall, n_jobs / wall,
           1e3 * size * wall / n_jobs, 1e3 * tot[0] / (tot[1] + size), 100.0 * run.cpu / wall,
           1e3 * tot[2] / n_jobs);
    fflush(stdout);
  }
cleanup:
  if (err) fprintf(stderr, "bench_dispatch: rank %d: %s\n", rank, isw_error_message());
  if (transport_ready) isw_transport_destroy(&t);
  free(jobs);
  isw_spec_destroy(&spec);
  MPI_Finalize();
  return err ? 1 : 0;
}
