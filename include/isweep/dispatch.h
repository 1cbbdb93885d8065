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

typedef struct isw_dispatch isw_dispatch;
struct isw_dispatch {
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
  double rank_timeout; /* a rank other than 0 that sent nothing (report or heartbeat) for this many
                          seconds is dead; <= 0: never (then STOP goes out as soon as the last job
                          is handed out; else once every job has ended, so that a dead rank's
                          jobs can still go to the others) */
  /* hooks (NULL: none), called in the dispatcher thread with hook_arg */
  void (*rank_lost)(void *hook_arg, int rank); /* rank is given up: ignore what it sends from now */
  void (*lost_end)(isw_dispatch *d);           /* at the end when ranks were lost; does not return */
  void *hook_arg;
  /* outputs */
  int n_ok, n_diverged, n_failed, n_interrupted; /* outcomes of this run's jobs */
  int n_dispatched;
  int stopped; /* dispatch ended early on a stop request */
  int stop_rank; /* the rank whose report carried the stop request, or -1 (rank 0's own flag) */
  double seconds;
  int err;     /* 0, or the error that ended the dispatcher */
  /* lost ranks (valid in lost_end) */
  unsigned char *lost; /* (world) 0, ISW_LOST_DEAD or ISW_LOST_BLOCKED */
  int n_lost;
  int *orphans;        /* (n_orphans) indices into jobs: given back by a lost rank, never handed out again */
  int n_orphans;
  int starved;         /* jobs were left because they need more live ranks than there are */
};

enum {
  ISW_LOST_DEAD = 1,   /* silent for rank_timeout seconds */
  ISW_LOST_BLOCKED = 2 /* alive, but holds a team job with a lost rank: it blocks in MPI with it
                          (Open MPI 4.1 without ULFM cannot interrupt that) */
};

/* Thread entry: arg is an isw_dispatch*.  Returns when every rank sent its
 * final report (after STOP, or CANCEL on a stop request: the jobs a rank
 * holds but has not started then go back to pending) and got its BYE.
 * A rank that dies (possible only under mpirun --enable-recovery; Open MPI
 * 4.1 without ULFM reports nothing) falls silent: after rank_timeout seconds
 * without a report or heartbeat it is lost, and so is every rank that holds
 * a team job with a lost rank (it would block in that team's MPI calls).  A
 * lost rank's jobs go back to the queue (in their place in the order) and
 * to the other ranks; it gets nothing more, and what it sends is ignored.
 * When every rank not lost sent its final report, lost_end is called (it
 * ends the job: README "A dead rank"); without lost_end the thread returns. */
void *isw_dispatch_main(void *arg);

/* "1:02:03" / "4:05" / "12s" into buf. */
const char *isw_format_duration(char *buf, size_t len, double seconds);

#endif
