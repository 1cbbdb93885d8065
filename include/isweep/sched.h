/* sched.h — the cost model's consumer: predicted cost and team size of every
 * config, the longest-first order, which job to hand out next (with EASY
 * backfilling while a team waits) and the simulated makespan on P ranks.
 * Pure computation: no MPI, no I/O. */
#ifndef ISWEEP_SCHED_H
#define ISWEEP_SCHED_H

#include "isweep/spec.h"

/* One unit of work handed to a rank (or a team of ranks). */
typedef struct {
  int group, row; /* the config: spec->groups[group].configs[row] */
  double cost;    /* predicted flops */
  int team;       /* ranks it occupies */
} isw_job;

/* Set cost (task->cost) and team of every config of spec for a world of
 * `world` ranks: team = min(spec->team_ranks, world) when the task is
 * team-capable and width >= spec->team_width > 0, else 1. */
void isw_sched_assign(isw_spec *spec, int world);

/* The jobs to run, longest first (ties broken by group, then row, so the
 * order is the same on every rank).  `skip` (may be NULL) is indexed like
 * spec rows, group by group: skip[g][row] != 0 leaves a config out.
 * Returns ISW_ENOMEM or 0; *jobs is owned by the caller (free()). */
int isw_sched_order(isw_job **jobs, int *n_jobs, const isw_spec *spec,
                    const unsigned char *const *skip);

/* Predicted makespan (in the unit of cost / rate) of list-scheduling `jobs`
 * in the given order on `ranks` ranks: each job starts as soon as `team` ranks
 * are free, in order, without backfilling (what the dispatcher does); a
 * team of k ranks is assumed to run its job k times faster.  The
 * start time of each job is written to start (may be NULL). */
double isw_sched_makespan(const isw_job *jobs, int n_jobs, int ranks, double rate, double *start);

/* What the dispatcher knows of its ranks when it picks the next job. */
typedef struct {
  int ranks;
  double now;            /* seconds, on the clock of free_at */
  const double *free_at; /* (ranks) predicted end of the work each rank holds (<= now: none) */
  const int *held;       /* (ranks) jobs each rank holds, running or queued */
  const int *open;       /* (n_open) ranks that may take a job now (held < depth), ascending */
  int n_open;
  int backfill;          /* nonzero: EASY backfilling while a team waits */
  double rate;           /* flop/s per rank: a job lasts cost / (rate * team) seconds */
} isw_sched_view;

/* Jobs looked at beyond the head for one backfill (bounds a pick's cost). */
#define ISW_SCHED_BACKFILL_WINDOW 4096

/* The next job to hand out, or -1 when none may go now.  `first` is the
 * first job not yet taken (taken[j] != 0: handed out).  The head (the first
 * job not taken) goes first: a single job to the open rank holding the
 * fewest jobs (ties: the lowest rank); a team of k when k ranks hold nothing
 * (the k lowest).  While a team waits and v->backfill is set, a later single
 * job may go to an open rank r when it does not delay the team's predicted
 * start (EASY): r is not one of the k ranks predicted to free first, or the
 * job ends (free_at[r] or now, plus its duration) by that start.  The first
 * such job in order wins (the longest that fits).  members
 * (ISW_SPEC_MAX_TEAM_RANKS) gets the ranks, ascending; *n_members their
 * number.  Allocates nothing. */
int isw_sched_pick(int *members, int *n_members, const isw_job *jobs, int n_jobs,
                   const unsigned char *taken, int first, const isw_sched_view *v);

/* Makespan of the dispatcher's policy (isw_sched_pick, one job per rank at
 * a time, hand-outs at the moments ranks free up) with or without
 * backfilling, simulated on `ranks` ranks at `rate`; a team of k runs its
 * job k times faster.  Start times into start (may be NULL).  Without
 * backfilling it equals isw_sched_makespan.  Returns -1 when out of memory. */
double isw_sched_simulate(const isw_job *jobs, int n_jobs, int ranks, double rate, int backfill, double *start);

#endif
