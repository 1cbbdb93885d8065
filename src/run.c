/* run.c — the `run`, `plan` and `help` commands (see run.h).  Owns the
 * worker loop; delegates the spec to spec.c, the file to store.c, the
 * dispatcher to dispatch.c and messages to transport.c. */
#include "isweep/run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isweep/dispatch.h"
#include "isweep/error.h"
#include "isweep/lock.h"
#include "isweep/sched.h"
#include "isweep/select.h"
#include "isweep/signals.h"
#include "isweep/spec.h"
#include "isweep/store.h"
#include "isweep/results.h"
#include "isweep/summary.h"
#include "isweep/transport.h"
#include "isweep/writer.h"

/* Print the current error once, on rank 0, as "isweep: error: MESSAGE". */
static void report_error(int rank, int err) {
  if (rank != 0 || !err) return;
  fprintf(stderr, "isweep: error: %s\n", isw_error_message());
  if (err != ISW_EUSAGE) fputs(isw_error_traceback(), stderr);
}

/* Rank 0 loads the spec (file or default), expands its grid and validates
 * every distinct data set; the text goes to every other rank, which parses
 * it the same way without expanding the grid (memory O(spec), not
 * O(configs)), and rank 0's row map, from which it builds the config of any
 * row it is assigned (assigned_config).  The outcome code is the same on
 * every rank. */
static int load_spec(isw_spec **out, const isw_cli *cli, int rank, MPI_Comm comm) {
  int err = 0;
  isw_spec *spec = NULL;
  char *text = NULL;
  int64_t *map = NULL;
  long len = 0;
  int64_t n_map = 0;
  if (rank == 0) {
    err = isw_spec_load(&spec, cli->spec_path, cli->sets, cli->n_sets);
    if (!err && spec->notes)
      for (const char *l = spec->notes; *l;) {
        size_t n = strcspn(l, "\n");
        fprintf(stderr, "isweep: note: %.*s\n", (int)n, l);
        l += n + (l[n] == '\n');
      }
    if (!err) err = isw_spec_validate(spec);
    if (!err) err = isw_spec_row_map(&map, &n_map, spec);
    report_error(rank, err);
    if (!err) len = (long)strlen(spec->text);
  }
  MPI_Bcast(&err, 1, MPI_INT, 0, comm);
  if (err) goto cleanup;
  MPI_Bcast(&len, 1, MPI_LONG, 0, comm);
  MPI_Bcast(&n_map, 1, MPI_INT64_T, 0, comm);
  if (rank != 0) {
    ISW_ALLOC(text, len + 1);
    ISW_ALLOC(map, n_map > 0 ? n_map : 1);
  }
  MPI_Bcast(rank == 0 ? spec->text : text, (int)len, MPI_CHAR, 0, comm);
  ISW_CALL(isw_transport_mpi_error(MPI_Bcast(map, (int)n_map, MPI_INT64_T, 0, comm), "MPI_Bcast"));
  if (rank != 0) {
    const char *name = cli->spec_path ? cli->spec_path : "(default spec)";
    ISW_CALL(isw_spec_parse_lean(&spec, name, text, cli->sets, cli->n_sets));
    ISW_CALL(isw_spec_set_row_map(spec, map, n_map));
  }
  *out = spec;
  spec = NULL;
cleanup:
  free(text);
  free(map);
  isw_spec_destroy(&spec);
  return err;
}

/* *c <- the config of assignment a, on the team the dispatcher formed for
 * it: rank 0 copies its expanded config, another rank builds it from
 * (group, row) (isw_spec_config). */
static int assigned_config(isw_config *c, const isw_spec *spec, const isw_assign *a) {
  int err = 0;
  ISW_CALL(isw_spec_config(c, spec, a->group, a->row));
  c->team = a->team;
  if (c->cost == 0) c->cost = c->task->cost(c);
cleanup:
  return err;
}

/* Seconds this rank spent in results-file calls (reported at the end). */
static double io_seconds = 0.0;
#define TIMED_IO(call)                         \
  do {                                         \
    double io_t0_ = MPI_Wtime();               \
    int io_rc_ = (call);                       \
    io_seconds += MPI_Wtime() - io_t0_;        \
    ISW_CALL(io_rc_);                          \
  } while (0)

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run one job on this rank (possibly as a member of a team); the team
 * leader writes the row.  *status receives the row's final status: pending
 * when a stop request or `cancelled` (the dispatcher cancelled the jobs
 * queued here) came first (the config did not start) or the task abandoned
 * it on one (ISW_EINTERRUPT). */
static int run_job(isw_writer *writer, const isw_spec *spec, isw_transport *t, const isw_assign *a,
                   const char *host, int cancelled, int *status) {
  int err = 0;
  MPI_Comm team = MPI_COMM_NULL;
  isw_result res;
  memset(&res, 0, sizeof res);
  isw_config cfg;
  ISW_CALL(assigned_config(&cfg, spec, a));
  const isw_config *c = &cfg;
  const isw_task *task = c->task;
  int leader = a->members[0] == t->rank;
  ISW_ALLOC(res.scalars, task->n_scalars);
  ISW_ALLOC(res.curves, (size_t)task->n_curves * (size_t)c->n_test);
  for (int i = 0; i < task->n_scalars; ++i) res.scalars[i] = NAN;
  for (long i = 0; i < (long)task->n_curves * c->n_test; ++i) res.curves[i] = NAN;
  res.rho = NAN;
  res.n_params = -1;

  ISW_CALL(isw_transport_team_comm(t, a, &team));
  /* a stop that arrived after this job was handed out: the config does not
   * start (the team agrees, so no member enters the task alone) */
  int stop = isw_stop_requested() || cancelled;
  ISW_CALL(isw_transport_team_any(team, &stop));
  if (stop) {
    if (leader) TIMED_IO(isw_writer_status(writer, a->group, a->row, ISW_ST_PENDING));
    *status = ISW_ST_PENDING;
    goto cleanup;
  }
  if (leader) TIMED_IO(isw_writer_begin(writer, a->group, a->row, t->rank, host, unix_now()));
  double t0 = MPI_Wtime();
  isw_error_clear();
  int rc = task->run(&res, c, team);
  double wall = MPI_Wtime() - t0;
  if (rc == ISW_EINTERRUPT) {
    res.status = ISW_ST_PENDING;
  } else if (rc) {
    res.status = ISW_ST_FAILED;
    snprintf(res.message, sizeof res.message, "error: %s", isw_error_message());
    fprintf(stderr, "isweep: rank %d: config %s row %d failed: %s\n%s", t->rank, task->name, a->row,
            isw_error_message(), isw_error_traceback());
  }
  if (res.train_seconds == 0 && res.eval_seconds == 0) res.train_seconds = wall;
  if (leader) {
    if (res.status == ISW_ST_PENDING) TIMED_IO(isw_writer_status(writer, a->group, a->row, ISW_ST_PENDING));
    else TIMED_IO(isw_writer_finished(writer, a->group, a->row, &res));
  }
  *status = res.status;
cleanup:
  isw_transport_team_free(&team);
  free(res.scalars);
  free(res.curves);
  return err;
}

/* Run the jobs the dispatcher hands out until it has none left.  The
 * transport carries this rank's stop flag to the dispatcher and the
 * outcomes back, several per report. */
static int worker_loop(isw_writer *writer, const isw_spec *spec, isw_transport *t) {
  int err = 0;
  char host[ISW_HOST_LEN] = "";
  gethostname(host, sizeof host - 1);
  for (;;) {
    isw_assign a;
    int cancelled = 0;
    ISW_CALL(isw_transport_worker_next(t, &a, &cancelled));
    if (a.kind == ISW_ASSIGN_STOP) break;
    double t0 = MPI_Wtime();
    int status = ISW_ST_FAILED;
    ISW_CALL(run_job(writer, spec, t, &a, host, cancelled, &status));
    ISW_CALL(isw_transport_worker_done(t, &a, status, MPI_Wtime() - t0));
  }
cleanup:
  return err;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Collective: the largest error code over the ranks of comm, so that every
 * rank takes the same path.  A rank that was fine gets a message saying that
 * another one failed (the failing rank keeps its own message). */
static int agree(int mine, MPI_Comm comm) {
  int err = 0, any = 0;
  ISW_CALL(isw_transport_mpi_error(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm), "MPI_Allreduce"));
  if (mine) return mine;
  ISW_CHECK(!any, any, "another rank failed (its error is above)");
cleanup:
  return err;
}

/* Test hook: nonzero when the environment variable ISW_FAULT names `point`,
 * so that tests can make a failure happen where none can be provoked from
 * outside.  It only ever makes a run fail, never changes a result. */
static int fault_injected(const char *point) {
  const char *f = getenv("ISW_FAULT");
  return f && !strcmp(f, point);
}

/* With --only: mark every config that does not match as skipped (it stays
 * as the file has it: pending on a new file).  Returns 0 or ISW_EUSAGE. */
static int skip_unselected(unsigned char **skip, const isw_spec *spec, const char *only, int *n_selected) {
  int err = 0;
  isw_select *sel = NULL;
  *n_selected = (int)isw_spec_n_configs(spec);
  if (!only) goto cleanup;
  ISW_CALL(isw_select_parse(&sel, only, spec));
  *n_selected = 0;
  for (int g = 0; g < spec->n_groups; ++g)
    for (int i = 0; i < spec->groups[g].n_configs; ++i) {
      int in = isw_select_match(sel, &spec->groups[g].configs[i]);
      if (!in) skip[g][i] = 2; /* 2: not selected (1: done) */
      *n_selected += in;
    }
cleanup:
  isw_select_destroy(&sel);
  return err;
}

/* rows[g] (n_configs of group g) zeroed, for every group. */
static int alloc_rows(unsigned char ***rows, const isw_spec *spec) {
  int err = 0;
  ISW_ALLOC(*rows, spec->n_groups);
  for (int g = 0; g < spec->n_groups; ++g) ISW_ALLOC((*rows)[g], spec->groups[g].n_configs);
cleanup:
  return err;
}

/* Rank 0 on resume: every group's status column into status[g]. */
static int read_statuses(isw_store *store, const isw_spec *spec, unsigned char **status) {
  int err = 0;
  for (int g = 0; g < spec->n_groups; ++g) {
    ISW_CHECK(!fault_injected("resume-status-read"), ISW_EIO,
              "%s: cannot read the status column of group %s (failure injected by ISW_FAULT=resume-status-read)",
              spec->output, spec->groups[g].task->name);
    ISW_CALL(isw_store_read_status(store, g, status[g]));
  }
cleanup:
  return err;
}

/* Flop/s per rank that the ok rows of an existing results file took
 * (predicted cost over train_seconds + eval_seconds times the team size), or
 * 0 when the file has none or cannot be read (opening it for the run reports
 * the real problem).  Serial, read-only; call before the file is opened for
 * writing.  With `say`, prints the rate on stderr. */
static double file_rate_measured(const isw_spec *spec, int say) {
  isw_results *r = NULL;
  uint8_t *st = NULL;
  double *train = NULL, *eval = NULL, flops = 0, rank_s = 0, rate = 0;
  uint64_t *ids = NULL;
  int n_ok = 0;
  if (isw_results_open(&r, spec->output) != 0) goto done;
  for (int g = 0; g < spec->n_groups; ++g) {
    const isw_spec_group *grp = &spec->groups[g];
    long n = grp->n_configs;
    free(st);
    free(train);
    free(eval);
    st = malloc((size_t)n * sizeof *st);
    train = malloc((size_t)n * sizeof *train);
    eval = malloc((size_t)n * sizeof *eval);
    free(ids);
    ids = malloc((size_t)n * sizeof *ids);
    if (!st || !train || !eval || !ids || isw_results_read_u8(r, grp->task->name, "status", st, n) ||
        isw_results_read_f64(r, grp->task->name, "train_seconds", train, n) ||
        isw_results_read_f64(r, grp->task->name, "eval_seconds", eval, n) ||
        isw_results_read_u64(r, grp->task->name, "config_id", ids, n))
      goto done;
    /* rows of an extended file are not grid positions: only rows whose id is the
     * spec config's are counted (all of them on a file never extended) */
    for (long i = 0; i < n; ++i) {
      double sec = train[i] + (isfinite(eval[i]) ? eval[i] : 0);
      if (st[i] != ISW_ST_OK || !(sec > 0) || ids[i] != grp->configs[i].id) continue;
      flops += grp->configs[i].cost;
      rank_s += sec * grp->configs[i].team;
      n_ok++;
    }
  }
  if (rank_s > 0 && flops > 0) rate = flops / rank_s;
  if (say && rate > 0)
    fprintf(stderr, "isweep: ETA from the file's timings: %.4g flop/s per rank (%d ok rows, %.1f rank-seconds)\n",
            rate, n_ok, rank_s);
done:
  isw_error_clear();
  isw_results_close(&r);
  free(st);
  free(train);
  free(eval);
  free(ids);
  return rate;
}

/* Rank 0: the end-of-run lines and the summary on stdout; returns the
 * configs of this run not done.  With have_io, the HDF5 I/O line (io_sum
 * seconds over `size` ranks of `wall` seconds). */
static int print_outcome(const isw_cli *cli, const isw_spec *spec, const isw_dispatch *d, int n_jobs, int have_io,
                         double io_sum, double wall, int size) {
  int left = n_jobs - d->n_ok - d->n_diverged - d->n_failed;
  if (cli->quiet) return left;
  char dur[32];
  printf("isweep: %d configs run in %s: %d ok, %d diverged, %d failed%s\n", d->n_ok + d->n_diverged + d->n_failed,
         isw_format_duration(dur, sizeof dur, d->seconds), d->n_ok, d->n_diverged, d->n_failed,
         d->stopped && !d->starved ? " (stopped by a signal)" : "");
  if (have_io)
    printf("isweep: HDF5 I/O: %.3f s summed over %d ranks = %.2f%% of %.1f rank-seconds\n", io_sum, size,
           100.0 * io_sum / (wall * size), wall * size);
  if (left > 0) {
    printf("isweep: %d configs not run yet: continue with  isweep run%s%s", left, cli->spec_path ? " " : "",
           cli->spec_path ? cli->spec_path : "");
    for (int i = 0; i < cli->n_sets; ++i)
      if (strncmp(cli->sets[i], "sweep.output=", 13) != 0) printf(" --set '%s'", cli->sets[i]);
    if (cli->only) printf(" --only '%s'", cli->only);
    printf(" -o '%s' %s\n", spec->output, cli->extend ? "--extend" : "--resume");
  }
  fflush(stdout);
  if (isw_summary_print(spec->output, stdout) != 0)
    fprintf(stderr, "isweep: warning: no summary: %s\n", isw_error_message());
  return left;
}

/* What rank 0's dispatcher needs to end a run with lost ranks by itself. */
typedef struct {
  const isw_cli *cli;
  const isw_spec *spec;
  isw_store **store;
  isw_writer *writer;
  isw_lock **lock;
  isw_transport *t;
  int n_jobs;
} lost_ctx;

static void lost_rank(void *arg, int rank) {
  isw_writer_lost(((lost_ctx *)arg)->writer, rank);
}

/* Rows of jobs a lost rank gave back and no rank ran again: running (it
 * began them) -> pending; every other row is as its last writer left it. */
static int orphans_pending(isw_store *store, const isw_spec *spec, const isw_dispatch *d) {
  int err = 0;
  uint8_t *st = NULL;
  for (int g = 0; g < spec->n_groups; ++g) {
    int any = 0;
    for (int i = 0; i < d->n_orphans && !any; ++i) any = d->jobs[d->orphans[i]].group == g;
    if (!any) continue;
    free(st);
    st = NULL;
    ISW_ALLOC(st, spec->groups[g].n_configs);
    ISW_CALL(isw_store_read_status(store, g, st));
    for (int i = 0; i < d->n_orphans; ++i) {
      const isw_job *j = &d->jobs[d->orphans[i]];
      if (j->group == g && st[j->row] == ISW_ST_RUNNING) ISW_CALL(isw_store_set_status(store, g, j->row, ISW_ST_PENDING));
    }
  }
cleanup:
  free(st);
  return err;
}

/* The dispatcher's lost_end (dispatch.h): every rank not lost is done.  The
 * collectives that end a run (writer, barrier, close) would wait for the
 * lost ranks forever, so rank 0 writes the last rows and closes the file
 * alone, tells every rank still alive to exit (END: a rank blocked in MPI
 * with a dead one is ended by its heartbeat thread; MPI_Abort on rank 0 does
 * not end it under --enable-recovery) and aborts.  Exit status 75 when
 * configs are left (--resume runs them), 0 when every config is done (the
 * file is complete; the lost ranks are on stderr), an error's code if the
 * last write or the close failed. */
static void lost_end(isw_dispatch *d) {
  lost_ctx *c = d->hook_arg;
  double write_seconds = 0;
  int err = isw_writer_drain(c->writer, &write_seconds);
  if (!err) err = orphans_pending(*c->store, c->spec, d);
  int closed = isw_store_close_alone(c->store);
  if (!err) err = closed;
  if (err) fprintf(stderr, "isweep: error: %s\n", isw_error_message());
  isw_lock_release(c->lock); /* after the close: the file is complete before another run may open it */
  int left = print_outcome(c->cli, c->spec, d, c->n_jobs, 0, 0, 0, 0);
  int code = err ? err : left > 0 ? ISW_EXIT_STOPPED : 0;
  char why[128];
  if (err) snprintf(why, sizeof why, "the file could not be written or closed");
  else if (left > 0) snprintf(why, sizeof why, "%d configs left: --resume runs them", left);
  else snprintf(why, sizeof why, "every config done");
  fprintf(stderr, "isweep: %d rank(s) lost: rank 0 wrote every row the others sent and closed %s alone; ending the job "
          "with MPI_Abort, exit status %d (%s)\n", d->n_lost, c->spec->output, code, why);
  fflush(stdout);
  fflush(stderr);
  isw_transport_dispatch_end(c->t, d->lost, code, 10.0);
  MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);
}

int isw_run_sweep(const isw_cli *cli) {
  int err = 0, rank = 0, size = 1, exit_status = 0, resuming = 0;
  MPI_Comm world = MPI_COMM_WORLD;
  isw_spec *spec = NULL;
  isw_store *store = NULL;
  isw_writer *writer = NULL; /* rows go through rank 0's writer thread to the store */
  isw_lock *lock = NULL; /* rank 0's: RESULTS.lock, held for the whole run */
  isw_job *jobs = NULL;
  unsigned char **skip = NULL;
  int n_jobs = 0, n_before = 0, transport_ready = 0;
  isw_transport t;
  isw_dispatch d;
  memset(&d, 0, sizeof d);
  MPI_Comm_rank(world, &rank);
  MPI_Comm_size(world, &size);
  isw_signals_install();

  err = load_spec(&spec, cli, rank, world);
  if (err) goto cleanup_quiet;
  if (rank == 0) isw_sched_assign(spec, size); /* the other ranks have no grid to order */
  if (cli->only) { /* a bad --only is a usage error before the lock or the file */
    isw_select *sel = NULL;
    int e = rank == 0 ? isw_select_parse(&sel, cli->only, spec) : 0;
    report_error(rank, e);
    isw_select_destroy(&sel);
    MPI_Bcast(&e, 1, MPI_INT, 0, world);
    if (e) {
      err = e;
      goto cleanup_quiet;
    }
  }

  /* one writer per results file: rank 0 takes RESULTS.lock before anything
   * looks at the file, and releases it at the very end */
  int lock_err = 0;
  if (rank == 0) {
    lock_err = isw_lock_acquire(&lock, spec->output, stderr);
    report_error(rank, lock_err);
  }
  MPI_Bcast(&lock_err, 1, MPI_INT, 0, world);
  if (lock_err) {
    err = lock_err;
    goto cleanup_quiet;
  }
  /* rank 0 calibrates the ETA from the timings earlier runs left in the file */
  double file_rate = 0;
  if (rank == 0 && (cli->resume || cli->extend) && file_exists(spec->output))
    file_rate = file_rate_measured(spec, !cli->quiet && cli->progress != ISW_PROGRESS_NONE);

  /* create or resume the results file (collective); --resume of a missing file starts it */
  int exists = 0;
  if (rank == 0) exists = file_exists(spec->output);
  MPI_Bcast(&exists, 1, MPI_INT, 0, world);
  isw_store_meta meta = {cli->command_line, size, stderr};
  resuming = (cli->resume || cli->extend || (cli->only && !cli->force)) && exists; /* a subset run resumes */
  if ((cli->resume || cli->extend) && !exists && rank == 0 && !cli->quiet)
    fprintf(stderr, "isweep: %s does not exist yet: starting the sweep (nothing to resume)\n", spec->output);
  double t_open = MPI_Wtime(), t_start = t_open;
  int64_t n_added = 0;
  if (resuming && cli->extend) err = isw_store_extend(&store, &n_added, spec->output, spec, &meta, world);
  else if (resuming) err = isw_store_open(&store, spec->output, spec, &meta, world);
  else err = isw_store_create(&store, spec->output, cli->force, spec, &meta, world);
  io_seconds += MPI_Wtime() - t_open;
  report_error(rank, err);
  if (err) goto cleanup_quiet;

  /* which rows to run: all on a new file; on resume those not done.  Only
   * rank 0 (the dispatcher's) knows; the others run what it assigns.  Each
   * step that can fail is agreed on by all before they go on, so a failure
   * (rank 0 cannot read the statuses) ends the run on every rank together
   * instead of leaving them in different collectives. */
  ISW_CALL(agree(rank == 0 ? alloc_rows(&skip, spec) : 0, world));
  int n_selected = 0;
  if (resuming) {
    ISW_CALL(agree(rank == 0 ? read_statuses(store, spec, skip) : 0, world));
    for (int g = 0; rank == 0 && g < spec->n_groups; ++g)
      for (int i = 0; i < spec->groups[g].n_configs; ++i) {
        int st = skip[g][i];
        int done = st == ISW_ST_OK || (!cli->retry_failed && (st == ISW_ST_DIVERGED || st == ISW_ST_FAILED));
        skip[g][i] = (unsigned char)done;
      }
  }
  ISW_CALL(agree(rank == 0 ? skip_unselected(skip, spec, cli->only, &n_selected) : 0, world));
  for (int g = 0; rank == 0 && g < spec->n_groups; ++g)
    for (int i = 0; i < spec->groups[g].n_configs; ++i) {
      n_before += skip[g][i] == 1;
      skip[g][i] = skip[g][i] != 0;
    }
  ISW_CALL(agree(rank == 0 ? isw_sched_order(&jobs, &n_jobs, spec, (const unsigned char *const *)skip) : 0, world));
  if (rank == 0 && !cli->quiet) {
    fprintf(stderr, "isweep: %s: %lld configs in %d task group(s), %d to run on %d rank(s)%s -> %s\n",
            spec->path, (long long)isw_spec_n_configs(spec), spec->n_groups, n_jobs, size,
            resuming ? " (resumed)" : "", spec->output);
    if (cli->extend && resuming)
      fprintf(stderr, "isweep: --extend: %lld new configs added to %s\n", (long long)n_added, spec->output);
    if (cli->only)
      fprintf(stderr, "isweep: --only %s: %d of %lld configs selected; the others are left as the file has them\n",
              cli->only, n_selected, (long long)isw_spec_n_configs(spec));
  }

  ISW_CALL(isw_transport_init(&t, world));
  transport_ready = 1;
  ISW_CALL(agree(isw_transport_heartbeat_start(&t, spec->heartbeat), world));
  ISW_CALL(agree(isw_writer_create(&writer, store, spec, spec->batch_rows, spec->batch_seconds, world), world));
  /* bench_startup: everything before the first hand-out is done; end here */
  ISW_CHECK(!fault_injected("after-startup"), ISW_EINTERNAL,
            "start-up done, %lld configs, %d to run (stopped by ISW_FAULT=after-startup)",
            (long long)isw_spec_n_configs(spec), n_jobs);
  pthread_t thread;
  int have_thread = 0;
  lost_ctx lost = {cli, spec, &store, writer, &lock, &t, n_jobs};
  if (rank == 0) {
    d.t = &t;
    d.spec = spec;
    d.jobs = jobs;
    d.n_jobs = n_jobs;
    d.n_total = n_before + n_jobs; /* the selection: every config without --only */
    d.n_before = n_before;
    d.quiet = cli->quiet || cli->progress == ISW_PROGRESS_NONE;
    d.bar = cli->progress == ISW_PROGRESS_BAR || (cli->progress == ISW_PROGRESS_AUTO && isatty(STDERR_FILENO));
    d.progress_interval = 10.0;
    d.status_every = cli->status_every;
    d.rate = file_rate;
    d.depth = 2;                              /* prefetch: the next config waits beside the running one */
    d.backfill = !getenv("ISW_NO_BACKFILL"); /* benchmarks compare with today's strict order */
    d.rank_timeout = spec->rank_timeout;
    d.rank_lost = lost_rank;
    d.lost_end = lost_end;
    d.hook_arg = &lost;
    ISW_CHECK(pthread_create(&thread, NULL, isw_dispatch_main, &d) == 0, ISW_EINTERNAL,
              "cannot start the dispatcher thread");
    have_thread = 1;
  }
  err = worker_loop(writer, spec, &t);
  /* ranks told to stop wait in the barrier, asleep, for the last config: the
   * collective close below would otherwise spin them at 100 % */
  if (!err && have_thread) pthread_join(thread, NULL);
  double write_seconds = 0;
  if (!err) err = isw_writer_finish(&writer, &write_seconds); /* rank 0: the last batch is written */
  io_seconds += write_seconds;
  if (!err) err = isw_transport_quiet_barrier(&t);
  if (err) {
    /* a rank that cannot write its rows cannot take part in the collective
     * close, and rank 0's dispatcher would wait for it forever */
    fprintf(stderr, "isweep: rank %d: %s\n%s", rank, isw_error_message(), isw_error_traceback());
    MPI_Abort(world, err);
  }
  TIMED_IO(isw_store_close(&store));
  double io_sum = 0, wall = MPI_Wtime() - t_start;
  MPI_Reduce(&io_seconds, &io_sum, 1, MPI_DOUBLE, MPI_SUM, 0, world);

  if (rank == 0) {
    int left = print_outcome(cli, spec, &d, n_jobs, 1, io_sum, wall, size);
    exit_status = left > 0 ? ISW_EXIT_STOPPED : 0;
  }
  MPI_Bcast(&exit_status, 1, MPI_INT, 0, world);

cleanup:
  report_error(rank, err);
cleanup_quiet:
  isw_writer_destroy(&writer);
  if (store) isw_store_close(&store);
  isw_lock_release(&lock); /* after the close: the file is complete before another run may open it */
  if (transport_ready) isw_transport_destroy(&t);
  if (skip)
    for (int g = 0; g < spec->n_groups; ++g) free(skip[g]);
  free(skip);
  free(jobs);
  isw_spec_destroy(&spec);
  return err ? err : exit_status;
}

/* The parameters of config c as "name=value ..." into buf: every one with
 * `all`, else only those that vary in its group (vary[k]). */
static void plan_params(char *buf, size_t size, const isw_config *c, const unsigned char *vary, int all) {
  size_t used = 0;
  buf[0] = '\0';
  for (int k = 0; k < c->task->n_params && used + 2 < size; ++k) {
    const isw_param_def *pd = &c->task->params[k];
    if (!all && !vary[k]) continue;
    const char *sep = used ? " " : "";
    if (pd->type == ISW_PARAM_ENUM || pd->type == ISW_PARAM_STRING)
      used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", sep, pd->name, c->p[k].str ? c->p[k].str : "");
    else
      used += (size_t)snprintf(buf + used, size - used, "%s%s=%.6g", sep, pd->name, c->p[k].num);
  }
}

/* vary[g][k]: parameter k of group g takes more than one value. */
static int plan_vary(unsigned char (**vary)[ISW_MAX_PARAMS], const isw_spec *spec) {
  int err = 0;
  ISW_ALLOC(*vary, spec->n_groups);
  for (int g = 0; g < spec->n_groups; ++g) {
    const isw_spec_group *grp = &spec->groups[g];
    for (int k = 0; k < grp->task->n_params; ++k) {
      const isw_value *a = &grp->configs[0].p[k];
      for (int i = 1; i < grp->n_configs && !(*vary)[g][k]; ++i) {
        const isw_value *b = &grp->configs[i].p[k];
        (*vary)[g][k] = a->num != b->num || (a->str && b->str && strcmp(a->str, b->str) != 0);
      }
    }
  }
cleanup:
  return err;
}

#define PLAN_COLUMNS 120 /* plan lines fit this many columns (--verbose: the full parameter list) */

int isw_run_plan(const isw_cli *cli) {
  int err = 0, rank = 0;
  isw_spec *spec = NULL;
  isw_job *jobs = NULL;
  double *start = NULL;
  unsigned char **skip = NULL;
  unsigned char (*vary)[ISW_MAX_PARAMS] = NULL;
  int n_jobs = 0, n_selected = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  err = load_spec(&spec, cli, rank, MPI_COMM_WORLD); /* reports its own errors */
  if (err || rank != 0) {
    isw_spec_destroy(&spec);
    return err;
  }
  isw_sched_assign(spec, cli->ranks);
  ISW_CALL(alloc_rows(&skip, spec));
  ISW_CALL(skip_unselected(skip, spec, cli->only, &n_selected));
  for (int g = 0; g < spec->n_groups; ++g)
    for (int i = 0; i < spec->groups[g].n_configs; ++i) skip[g][i] = skip[g][i] != 0;
  ISW_CALL(isw_sched_order(&jobs, &n_jobs, spec, (const unsigned char *const *)skip));
  ISW_CALL(plan_vary(&vary, spec));
  ISW_ALLOC(start, n_jobs > 0 ? n_jobs : 1);
  double makespan = isw_sched_makespan(jobs, n_jobs, cli->ranks, spec->flop_rate, start);
  double total = 0;
  printf("# isweep plan: %s\n# output: %s\n", spec->path, spec->output);
  printf("# %d configs", n_jobs);
  if (cli->only) printf(" of %lld (--only %s)", (long long)isw_spec_n_configs(spec), cli->only);
  printf(", %d rank(s), flop_rate %.3g flop/s per rank\n", cli->ranks, spec->flop_rate);
  printf("# N = train_iters; params: %s\n", cli->verbose ? "all" : "those that vary in the task group (--verbose: all)");
  printf("%-6s %-11s %5s %-16s %6s %5s %5s %4s %10s %7s %8s %s\n", "#order", "task", "row", "config_id",
         "width", "N", "seed", "team", "pred_gflop", "pred_s", "start_s",
         "params");
  for (int j = 0; j < n_jobs; ++j) {
    const isw_config *c = &spec->groups[jobs[j].group].configs[jobs[j].row];
    char params[2048], line[2400];
    plan_params(params, sizeof params, c, vary[jobs[j].group], cli->verbose);
    int n = snprintf(line, sizeof line, "%6d %-11s %5d %016llx %6lld %5lld %5lld %4d %10.3f %7.2f %8.2f %s", j,
                     c->task->name, c->row, (unsigned long long)c->id, (long long)c->width,
                     (long long)c->train_iters, (long long)c->seed, c->team, c->cost / 1e9,
                     c->cost / (spec->flop_rate * c->team), start[j], params);
    while (n > 0 && line[n - 1] == ' ') line[--n] = '\0';
    if (!cli->verbose && n > PLAN_COLUMNS) memcpy(line + PLAN_COLUMNS - 3, "...", 4);
    puts(line);
    total += c->cost;
  }
  char a[32], b[32], e[32];
  printf("# total predicted work %.3g flop = %s on one rank\n", total,
         isw_format_duration(a, sizeof a, total / spec->flop_rate));
  printf("# predicted makespan on %d rank(s): %s (ideal %s)\n", cli->ranks,
         isw_format_duration(b, sizeof b, makespan),
         isw_format_duration(e, sizeof e, total / spec->flop_rate / cli->ranks));
cleanup:
  if (skip)
    for (int g = 0; g < spec->n_groups; ++g) free(skip[g]);
  free(skip);
  free(vary);
  free(start);
  free(jobs);
  isw_spec_destroy(&spec);
  if (err && rank == 0) report_error(rank, err);
  return err;
}

int isw_run_help(const isw_cli *cli) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return 0;
  if (!cli->topic) {
    isw_cli_usage(stdout);
    printf("task families (isweep help TASK for parameters):\n");
    for (int i = 0; i < isw_n_tasks; ++i) printf("  %-12s %s\n", isw_tasks[i]->name, isw_tasks[i]->summary);
    return 0;
  }
  const isw_task *task = isw_task_find(cli->topic);
  if (!task) {
    fprintf(stderr, "isweep: error: unknown task family '%s' (known:", cli->topic);
    for (int i = 0; i < isw_n_tasks; ++i) fprintf(stderr, " %s", isw_tasks[i]->name);
    fprintf(stderr, ")\n");
    return ISW_EUSAGE;
  }
  if (task->doc) { /* a family built per spec (exec): its keys and protocol */
    printf("[%s] %s\n\n%s", task->name, task->summary, task->doc);
    return 0;
  }
  printf("[%s] %s\nparameters (a list value makes a grid axis):\n", task->name, task->summary);
  printf("  %-16s %-10s %s\n", "widths", "list", "model size axis (also in [sweep])");
  printf("  %-16s %-10s %s\n", "train_iters", "list", "inner iterations N used in training (also in [sweep])");
  printf("  %-16s %-10s %s\n", "test_iters", "list", "inner iterations n evaluated per trained model (also in [sweep])");
  printf("  %-16s %-10s %s\n", "seeds", "list", "seeds (also in [sweep])");
  for (int i = 0; i < task->n_params; ++i) {
    const isw_param_def *p = &task->params[i];
    printf("  %-16s %-10s %s (default %s", p->name,
           p->type == ISW_PARAM_INT ? "int" : p->type == ISW_PARAM_REAL ? "real"
           : p->type == ISW_PARAM_ENUM ? "choice" : "text",
           p->help, p->def);
    if (p->type == ISW_PARAM_ENUM) printf("; one of %s", p->choices);
    else if (p->type != ISW_PARAM_STRING) printf("; %g..%g", p->min, p->max);
    printf(")\n");
  }
  printf("curves (per n in test_iters):\n");
  for (int i = 0; i < task->n_curves; ++i) printf("  %-16s %s\n", task->curves[i].name, task->curves[i].help);
  printf("scalars:\n");
  for (int i = 0; i < task->n_scalars; ++i) printf("  %-16s %s\n", task->scalars[i].name, task->scalars[i].help);
  return 0;
}
