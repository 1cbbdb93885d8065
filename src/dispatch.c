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
  double t0, last_print, last_status;
  double cost_total, cost_done;
  int *busy;     /* (world) index into d->jobs of the job each rank runs, or -1 */
  double *since; /* (world) when that job was handed out (MPI_Wtime) */
} progress;

enum { PRINT_TICK, PRINT_EVENT, PRINT_NOW, PRINT_FINAL };

/* Seconds left, or -1 when unknown. */
static double progress_eta(const progress *p, double el) {
  if (p->cost_total <= p->cost_done) return 0;
  if (p->cost_done > 0) return el * (p->cost_total - p->cost_done) / p->cost_done;
  if (p->d->rate > 0) {
    double eta = p->cost_total / (p->d->rate * p->d->t->size) - el;
    return eta > 0 ? eta : -1; /* overdue: no honest estimate until a config ends */
  }
  return -1;
}

/* Bar: on events and once a second; lines: at start, stop and end, and at
 * most every progress_interval seconds otherwise. */
static void progress_print(progress *p, int how) {
  isw_dispatch *d = p->d;
  if (d->quiet) return;
  double now = MPI_Wtime(), el = now - p->t0;
  double gap = d->bar ? (how == PRINT_TICK ? 1.0 : 0.0) : d->progress_interval;
  if (how < PRINT_NOW && now - p->last_print < gap) return;
  p->last_print = now;
  int done = d->n_ok + d->n_diverged + d->n_failed;
  char e1[32], e2[32], line[256];
  double eta = progress_eta(p, el);
  snprintf(line, sizeof line, "isweep: %d/%d configs done (%d this run), %d failed, %d diverged, elapsed %s, ETA %s%s",
           d->n_before + done, d->n_total, done, d->n_failed, d->n_diverged,
           isw_format_duration(e1, sizeof e1, el), eta < 0 ? "?" : isw_format_duration(e2, sizeof e2, eta),
           d->stopped ? " [stopping: no new configs]" : "");
  if (d->bar) fprintf(stderr, "\r%-110s%s", line, how == PRINT_FINAL ? "\n" : "");
  else fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

/* "width=64 train_iters=5 seed=0 tasks=64 ..." into buf. */
static void describe_config(char *buf, size_t len, const isw_config *c) {
  size_t used = (size_t)snprintf(buf, len, "width=%lld train_iters=%lld seed=%lld", (long long)c->width,
                                 (long long)c->train_iters, (long long)c->seed);
  for (int k = 0; k < c->task->n_params && used + 2 < len; ++k) {
    const isw_param_def *pd = &c->task->params[k];
    if (pd->type == ISW_PARAM_ENUM || pd->type == ISW_PARAM_STRING)
      used += (size_t)snprintf(buf + used, len - used, " %s=%s", pd->name, c->p[k].str ? c->p[k].str : "");
    else
      used += (size_t)snprintf(buf + used, len - used, " %s=%.6g", pd->name, c->p[k].num);
  }
}

/* One line per rank: what it runs and for how long, or idle. */
static void status_print(progress *p) {
  isw_dispatch *d = p->d;
  double now = MPI_Wtime();
  int world = d->t->size, n_busy = 0;
  for (int r = 0; r < world; ++r) n_busy += p->busy[r] >= 0;
  char el[32], run_for[32], params[512];
  if (d->bar && !d->quiet) fputc('\n', stderr); /* leave the progress line intact */
  fprintf(stderr, "isweep: status at %s: %d/%d configs done, %d of %d ranks busy%s\n",
          isw_format_duration(el, sizeof el, now - p->t0), d->n_before + d->n_ok + d->n_diverged + d->n_failed,
          d->n_total, n_busy, world, d->stopped ? ", stopping" : "");
  for (int r = 0; r < world; ++r) {
    if (p->busy[r] < 0) {
      fprintf(stderr, "isweep:   rank %d: idle\n", r);
      continue;
    }
    const isw_job *job = &d->jobs[p->busy[r]];
    const isw_config *c = &d->spec->groups[job->group].configs[job->row];
    describe_config(params, sizeof params, c);
    fprintf(stderr, "isweep:   rank %d: %s row %d config %016llx (%s) running for %s\n", r, c->task->name,
            job->row, (unsigned long long)c->id, params,
            isw_format_duration(run_for, sizeof run_for, now - p->since[r]));
  }
  fflush(stderr);
  p->last_status = now;
}

void *isw_dispatch_main(void *arg) {
  isw_dispatch *d = arg;
  int err = 0;
  isw_transport *t = d->t;
  int world = t->size;
  int *free_ranks = NULL, n_free = 0, stopped_ranks = 0, next = 0, tag = 1;
  double *job_cost = NULL; /* cost by (group,row) flattened via offsets */
  int *offset = NULL;
  progress p = {d, MPI_Wtime(), 0, 0, 0, 0, NULL, NULL};
  p.last_print = p.last_status = p.t0;
  d->stop_rank = -1;

  ISW_ALLOC(free_ranks, world);
  ISW_ALLOC(p.busy, world);
  ISW_ALLOC(p.since, world);
  for (int r = 0; r < world; ++r) p.busy[r] = -1;
  ISW_ALLOC(offset, d->spec->n_groups + 1);
  for (int g = 0; g < d->spec->n_groups; ++g) offset[g + 1] = offset[g] + d->spec->groups[g].n_configs;
  ISW_ALLOC(job_cost, offset[d->spec->n_groups]);
  for (int j = 0; j < d->n_jobs; ++j) {
    job_cost[offset[d->jobs[j].group] + d->jobs[j].row] = d->jobs[j].cost;
    p.cost_total += d->jobs[j].cost;
  }
  progress_print(&p, PRINT_NOW);

  for (int k = 0; stopped_ranks < world;) {
    isw_report r;
    int from = -1, got = 0;
    ISW_CALL(isw_transport_dispatch_poll(t, &r, &from, &got));
    if (!d->stopped && (isw_stop_requested() || (got && r.stop))) {
      d->stopped = 1;
      if (!isw_stop_requested()) {
        d->stop_rank = from;
        fprintf(stderr, "isweep: rank %d received a stop signal: no new configs\n", from);
      }
      progress_print(&p, PRINT_NOW);
    }
    double now = MPI_Wtime();
    if (isw_signals_take_status_request() || (d->status_every > 0 && now - p.last_status >= d->status_every))
      status_print(&p);
    if (!got) {
      isw_transport_backoff(k++);
      progress_print(&p, PRINT_TICK);
      continue;
    }
    k = 0;
    p.busy[from] = -1;
    if (r.has_result) {
      switch (r.status) {
        case ISW_ST_OK: d->n_ok++; break;
        case ISW_ST_DIVERGED: d->n_diverged++; break;
        case ISW_ST_PENDING: d->n_interrupted++; break;
        default: d->n_failed++; break;
      }
      if (r.status != ISW_ST_PENDING) p.cost_done += job_cost[offset[r.group] + r.row];
      progress_print(&p, PRINT_EVENT);
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
      for (int m = 0; m < team; ++m) {
        ISW_CALL(isw_transport_dispatch_send(t, a.members[m], &a));
        p.busy[a.members[m]] = next;
        p.since[a.members[m]] = MPI_Wtime();
      }
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
  progress_print(&p, PRINT_FINAL);
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
  free(p.busy);
  free(p.since);
  free(job_cost);
  free(offset);
  return NULL;
}
