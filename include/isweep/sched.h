/* sched.h — the cost model's consumer: predicted cost and team size of every
 * config, the longest-first order, and the simulated makespan on P ranks.
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

#endif
