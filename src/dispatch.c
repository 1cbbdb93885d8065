/* dispatch.c — rank 0's dispatcher thread (see dispatch.h).  It never
 * touches HDF5 or task code: it only reads the spec and talks through
 * transport.c. */
#include "isweep/dispatch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/signals.h"
#include "isweep/task.h"

const char *isw_format_duration(char *buf, size_t len, double s) {
  if (!(s >= 0) || s > 1e8) {
    snprintf(buf, len, "?");
    return buf;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else if (t >= 60) snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
  else snprintf(buf, len, "%lds", t);
  return buf;
}

typedef struct {
  isw_dispatch *d;
  int tty;
  double t0, last_print;
  double cost_total, cost_done;
} progress;

static void progress_print(progress *p, int final) {
  isw_dispatch *d = p->d;
  if (d->quiet) return;
  double now = MPI_Wtime(), el = now - p->t0;
  if (!final && !p->tty && now - p->last_print < d->progress_interval) return;
  p->last_print = now;
  int done = d->n_ok + d->n_diverged + d->n_failed;
  char e1[32], e2[32];
  double eta = -1;
  if (p->cost_done > 0 && p->cost_total > p->cost_done)
    eta = el * (p->cost_total - p->cost_done) / p->cost_done; /* the rate measured so far */
  else if (p->cost_total <= p->cost_done)
    eta = 0;
  else if (d->spec->flop_rate > 0) /* nothing done yet: the spec's assumed rate */
    eta = fmax(0.0, p->cost_total / (d->spec->flop_rate * d->t->size) - el);
  char line[256];
  snprintf(line, sizeof line, "isweep: %d/%d configs done (%d this run), %d failed, %d diverged, elapsed %s, ETA %s%s",
           d->n_before + done, d->n_total, done, d->n_failed, d->n_diverged,
           isw_format_duration(e1, sizeof e1, el),
           eta < 0 ? "?" : isw_format_duration(e2, sizeof e2, eta),
           d->stopped ? " [stopping: running configs finish]" : "");
  if (p->tty) fprintf(stderr, "\r%-110s%s", line, final ? "\n" : "");
  else fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

void *isw_dispatch_main(void *arg) {
  isw_dispatch *d = arg;
  int err = 0;
  isw_transport *t = d->t;
  int world = t->size;
  int *free_ranks = NULL, n_free = 0, stopped_ranks = 0, next = 0, tag = 1;
  double *job_cost = NULL; /* cost by (group,row) flattened via offsets */
  int *offset = NULL;
  progress p = {d, isatty(STDERR_FILENO), MPI_Wtime(), 0, 0, 0};
  p.last_print = p.t0;

  ISW_ALLOC(free_ranks, world);
  ISW_ALLOC(offset, d->spec->n_groups + 1);
  for (int g = 0; g < d->spec->n_groups; ++g) offset[g + 1] = offset[g] + d->spec->groups[g].n_configs;
  ISW_ALLOC(job_cost, offset[d->spec->n_groups]);
  for (int j = 0; j < d->n_jobs; ++j) {
    job_cost[offset[d->jobs[j].group] + d->jobs[j].row] = d->jobs[j].cost;
    p.cost_total += d->jobs[j].cost;
  }
  progress_print(&p, 0);

  for (int k = 0; stopped_ranks < world;) {
    isw_report r;
    int from = -1, got = 0;
    ISW_CALL(isw_transport_dispatch_poll(t, &r, &from, &got));
    if (!d->stopped && isw_stop_requested()) {
      d->stopped = 1;
      progress_print(&p, 0);
    }
    if (!got) {
      isw_transport_backoff(k++);
      if (!p.tty) progress_print(&p, 0);
      continue;
    }
    k = 0;
    if (r.has_result) {
      switch (r.status) {
        case ISW_ST_OK: d->n_ok++; break;
        case ISW_ST_DIVERGED: d->n_diverged++; break;
        case ISW_ST_PENDING: d->n_interrupted++; break;
        default: d->n_failed++; break;
      }
      p.cost_done += job_cost[offset[r.group] + r.row];
      progress_print(&p, 0);
    }
    free_ranks[n_free++] = from;
    /* hand out work in order while enough ranks are free (no backfilling) */
    while (!d->stopped && next < d->n_jobs) {
      const isw_job *job = &d->jobs[next];
      int team = job->team < world ? job->team : world;
      _Static_assert(ISW_SPEC_MAX_TEAM_RANKS <= ISW_MAX_TEAM, "the spec allows teams the dispatcher cannot form");
      if (team > ISW_MAX_TEAM) team = ISW_MAX_TEAM;
      if (n_free < team) break;
      isw_assign a;
      memset(&a, 0, sizeof a);
      a.kind = ISW_ASSIGN_JOB;
      a.group = job->group;
      a.row = job->row;
      a.team = team;
      a.tag = tag++;
      /* the team: the `team` lowest-numbered free ranks, ascending */
      for (int m = 0; m < team; ++m) {
        int best = m;
        for (int u = m + 1; u < n_free; ++u)
          if (free_ranks[u] < free_ranks[best]) best = u;
        int tmp = free_ranks[m];
        free_ranks[m] = free_ranks[best];
        free_ranks[best] = tmp;
        a.members[m] = free_ranks[m];
      }
      for (int m = 0; m < team; ++m) ISW_CALL(isw_transport_dispatch_send(t, a.members[m], &a));
      memmove(free_ranks, free_ranks + team, (size_t)(n_free - team) * sizeof *free_ranks);
      n_free -= team;
      next++;
      d->n_dispatched++;
    }
    if (d->stopped || next >= d->n_jobs) {
      isw_assign a;
      memset(&a, 0, sizeof a);
      a.kind = ISW_ASSIGN_STOP;
      for (int m = 0; m < n_free; ++m) ISW_CALL(isw_transport_dispatch_send(t, free_ranks[m], &a));
      stopped_ranks += n_free;
      n_free = 0;
    }
  }
  progress_print(&p, 1);
cleanup:
  d->seconds = MPI_Wtime() - p.t0;
  d->err = err;
  if (err) {
    /* Workers wait on this thread for work: without it the job cannot go on
     * or end collectively, so this is the one place outside main that aborts. */
    fprintf(stderr, "isweep: dispatcher failed: %s\n%s", isw_error_message(), isw_error_traceback());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  free(free_ranks);
  free(job_cost);
  free(offset);
  return NULL;
}
