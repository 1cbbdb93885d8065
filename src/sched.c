/* sched.c — cost, team size, longest-first order and simulated makespan
 * (see sched.h).  Knows nothing of MPI or files. */
#include "isweep/sched.h"

#include <stdlib.h>

#include "isweep/error.h"

void isw_sched_assign(isw_spec *spec, int world) {
  for (int g = 0; g < spec->n_groups; ++g) {
    isw_spec_group *grp = &spec->groups[g];
    for (int i = 0; i < grp->n_configs; ++i) {
      isw_config *c = &grp->configs[i];
      c->cost = grp->task->cost(c);
      int wide = grp->task->team_capable && spec->team_width > 0 && c->width >= spec->team_width;
      int team = spec->team_ranks < world ? spec->team_ranks : world;
      c->team = wide && team > 1 ? team : 1;
    }
  }
}

static int job_cmp(const void *pa, const void *pb) {
  const isw_job *a = pa, *b = pb;
  /* longest first by total work (a team job's flops are shared by its ranks) */
  if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
  if (a->group != b->group) return a->group < b->group ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

int isw_sched_order(isw_job **jobs, int *n_jobs, const isw_spec *spec,
                    const unsigned char *const *skip) {
  int err = 0;
  isw_job *out = NULL;
  int64_t total = isw_spec_n_configs(spec);
  ISW_ALLOC(out, total);
  int n = 0;
  for (int g = 0; g < spec->n_groups; ++g) {
    const isw_spec_group *grp = &spec->groups[g];
    for (int i = 0; i < grp->n_configs; ++i) {
      if (skip && skip[g] && skip[g][i]) continue;
      out[n++] = (isw_job){g, i, grp->configs[i].cost, grp->configs[i].team};
    }
  }
  qsort(out, (size_t)n, sizeof *out, job_cmp);
  *jobs = out;
  *n_jobs = n;
  out = NULL;
cleanup:
  free(out);
  return err;
}

double isw_sched_makespan(const isw_job *jobs, int n_jobs, int ranks, double rate, double *start) {
  if (ranks < 1 || rate <= 0) return 0.0;
  double *free_at = calloc((size_t)ranks, sizeof *free_at);
  if (!free_at) return -1.0;
  double makespan = 0.0;
  double floor_t = 0.0; /* no backfilling: a job never starts before the previous one */
  for (int j = 0; j < n_jobs; ++j) {
    int k = jobs[j].team < ranks ? jobs[j].team : ranks;
    /* pick the k ranks that free up first */
    int *pick = calloc((size_t)k, sizeof *pick);
    if (!pick) {
      free(free_at);
      return -1.0;
    }
    double t0 = floor_t;
    for (int m = 0; m < k; ++m) {
      int best = -1;
      for (int r = 0; r < ranks; ++r) {
        int taken = 0;
        for (int u = 0; u < m; ++u) taken |= pick[u] == r;
        if (!taken && (best < 0 || free_at[r] < free_at[best])) best = r;
      }
      pick[m] = best;
      if (free_at[best] > t0) t0 = free_at[best];
    }
    double t1 = t0 + jobs[j].cost / (rate * k); /* a team shares the work */
    for (int m = 0; m < k; ++m) free_at[pick[m]] = t1;
    if (start) start[j] = t0;
    floor_t = t0;
    if (t1 > makespan) makespan = t1;
    free(pick);
  }
  free(free_at);
  return makespan;
}

static double job_seconds(const isw_job *job, double rate) { return job->cost / (rate * job->team); }

static int in_list(const int *list, int n, int r) {
  for (int u = 0; u < n; ++u)
    if (list[u] == r) return 1;
  return 0;
}

int isw_sched_pick(int *members, int *n_members, const isw_job *jobs, int n_jobs,
                   const unsigned char *taken, int first, const isw_sched_view *v) {
  *n_members = 0;
  while (first < n_jobs && taken[first]) first++;
  if (first >= n_jobs || v->n_open == 0) return -1;
  const isw_job *head = &jobs[first];
  int k = head->team < v->ranks ? head->team : v->ranks;
  if (k <= 1) {
    int best = v->open[0];
    for (int i = 1; i < v->n_open; ++i)
      if (v->held[v->open[i]] < v->held[best]) best = v->open[i];
    members[0] = best;
    *n_members = 1;
    return first;
  }
  /* a team: the k lowest open ranks that hold nothing (open is ascending) */
  for (int i = 0; i < v->n_open && *n_members < k; ++i)
    if (v->held[v->open[i]] == 0) members[(*n_members)++] = v->open[i];
  if (*n_members == k) return first;
  *n_members = 0;
  if (!v->backfill) return -1;
  /* EASY: the team's predicted start (shadow) is when the k ranks predicted
   * to free first (ties: lowest rank) are all free; those are reserved */
  int resv[ISW_SPEC_MAX_TEAM_RANKS];
  double shadow = v->now;
  for (int m = 0; m < k; ++m) {
    int best = -1;
    for (int r = 0; r < v->ranks; ++r)
      if (!in_list(resv, m, r) && (best < 0 || v->free_at[r] < v->free_at[best])) best = r;
    resv[m] = best;
    if (v->free_at[best] > shadow) shadow = v->free_at[best];
  }
  /* the first single job in the window that an open rank may take: one not
   * reserved, or a reserved one it leaves by the shadow time */
  int scanned = 0;
  for (int j = first + 1; j < n_jobs && scanned < ISW_SCHED_BACKFILL_WINDOW; ++j) {
    if (taken[j] || jobs[j].team > 1) continue;
    scanned++;
    double dur = job_seconds(&jobs[j], v->rate);
    int best = -1;
    for (int i = 0; i < v->n_open; ++i) {
      int r = v->open[i];
      double end = (v->free_at[r] > v->now ? v->free_at[r] : v->now) + dur;
      if (in_list(resv, k, r) && end > shadow) continue;
      if (best < 0 || v->held[r] < v->held[best]) best = r;
    }
    if (best >= 0) {
      members[0] = best;
      *n_members = 1;
      return j;
    }
  }
  return -1;
}

double isw_sched_simulate(const isw_job *jobs, int n_jobs, int ranks, double rate, int backfill, double *start) {
  if (ranks < 1 || rate <= 0) return 0.0;
  double *free_at = calloc((size_t)ranks, sizeof *free_at), makespan = 0.0, now = 0.0;
  int *held = calloc((size_t)ranks, sizeof *held), *open = calloc((size_t)ranks, sizeof *open);
  unsigned char *taken = calloc((size_t)(n_jobs > 0 ? n_jobs : 1), 1);
  int members[ISW_SPEC_MAX_TEAM_RANKS], first = 0, left = n_jobs;
  if (!free_at || !held || !open || !taken) {
    makespan = -1.0;
    goto done;
  }
  isw_sched_view v = {ranks, 0.0, free_at, held, open, 0, backfill, rate};
  while (left > 0) {
    /* ranks whose job ended by now are free */
    v.now = now;
    v.n_open = 0;
    for (int r = 0; r < ranks; ++r) {
      held[r] = free_at[r] > now;
      if (!held[r]) open[v.n_open++] = r;
    }
    for (;;) {
      int n_members = 0;
      int j = isw_sched_pick(members, &n_members, jobs, n_jobs, taken, first, &v);
      if (j < 0) break;
      double end = now + job_seconds(&jobs[j], rate) * jobs[j].team / n_members;
      for (int m = 0; m < n_members; ++m) {
        free_at[members[m]] = end;
        held[members[m]] = 1;
      }
      v.n_open = 0;
      for (int r = 0; r < ranks; ++r)
        if (!held[r]) open[v.n_open++] = r;
      taken[j] = 1;
      left--;
      if (start) start[j] = now;
      if (end > makespan) makespan = end;
      while (first < n_jobs && taken[first]) first++;
    }
    /* the next moment a rank frees up */
    double next = -1;
    for (int r = 0; r < ranks; ++r)
      if (free_at[r] > now && (next < 0 || free_at[r] < next)) next = free_at[r];
    if (next < 0) break;
    now = next;
  }
done:
  free(free_at);
  free(held);
  free(open);
  free(taken);
  return makespan;
}
