/* dispatch.h — rank 0's dispatcher: hands jobs out longest-first, keeping
 * up to `depth` jobs on each rank (it gets the next while it runs one; teams
 * when a job needs several ranks, with EASY backfilling of single jobs while
 * a team waits, see isw_sched_pick), never waiting on a send, tracks outcomes,
 * prints progress with an ETA from the cost model, prints what every rank
 * runs on SIGUSR2 (or every status_every seconds), and stops handing out work
 * on a stop signal on rank 0 or in any worker's report.  Runs in its own
 * thread beside rank 0's worker.
 *
 * ETA: with results of this run, the rate measured so far (cost done per
 * second of this run); before that, `rate` (flop/s per rank from the timings
 * an earlier run left in the file) when known; otherwise "?", never a guess
 * from the spec's assumed flop rate. */
#ifndef ISWEEP_DISPATCH_H
#define ISWEEP_DISPATCH_H

#include "isweep/sched.h"
#include "isweep/spec.h"
#include "isweep/transport.h"

typedef struct {
  /* inputs */
  isw_transport *t;
  const isw_spec *spec;
  const isw_job *jobs; /* (n_jobs) in dispatch order */
  int n_jobs;
  int n_total;   /* configs in the whole sweep */
  int n_before;  /* configs already finished before this run (resume) */
  int quiet;     /* no progress output (status blocks on request still print) */
  int bar;       /* 1: one progress line updated in place; 0: full lines */
  double progress_interval; /* seconds between full progress lines */
  double status_every;      /* seconds between status blocks; 0: only on SIGUSR2 */
  double rate;   /* flop/s per rank measured in earlier runs (resume); 0: unknown */
  int depth;     /* jobs a rank may hold, running + queued (1 .. ISW_PREFETCH_MAX; 2: prefetch one);
                    more while jobs last under 5 ms, so that a rank has 5 ms of work queued */
  int backfill;  /* nonzero: EASY backfilling of single jobs while a team waits */
  /* outputs */
  int n_ok, n_diverged, n_failed, n_interrupted; /* outcomes of this run's jobs */
  int n_dispatched;
  int stopped; /* dispatch ended early on a stop request */
  int stop_rank; /* the rank whose report carried the stop request, or -1 (rank 0's own flag) */
  double seconds;
  int err;     /* 0, or the error that ended the dispatcher */
} isw_dispatch;

/* Thread entry: arg is an isw_dispatch*.  Returns when every rank sent its
 * final report (after STOP, or CANCEL on a stop request: the jobs a rank
 * holds but has not started then go back to pending) and got its BYE.
 * A rank that dies (possible only under mpirun --enable-recovery; Open MPI
 * 4.1 without ULFM reports nothing) never sends it: the dispatcher never
 * blocks in a send to it, but keeps polling for that report (README
 * "Scaling"). */
void *isw_dispatch_main(void *arg);

/* "1:02:03" / "4:05" / "12s" into buf. */
const char *isw_format_duration(char *buf, size_t len, double seconds);

#endif
