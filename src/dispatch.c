/* dispatch.c — rank 0's dispatcher thread (see dispatch.h).  It never
 * touches HDF5 or task code: it only reads the spec and talks through
 * transport.c. */
#include "isweep/dispatch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
  int *fifo;     /* (world, ISW_PREFETCH_MAX) indices into d->jobs each rank holds, oldest first */
  int *head;     /* (world) where each rank's oldest job sits in its row of fifo */
  int *held;     /* (world) jobs each rank holds (running or queued) */
  double *since; /* (world) when the oldest of them started (MPI_Wtime, as far as known) */
} progress;

/* Index into d->jobs of the job rank r runs, or -1 when it holds none. */
static int running_job(const progress *p, int r) {
  return p->held[r] > 0 ? p->fifo[r * ISW_PREFETCH_MAX + p->head[r]] : -1;
}

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
  for (int r = 0; r < world; ++r) n_busy += p->held[r] > 0;
  char el[32], run_for[32], params[512];
  if (d->bar && !d->quiet) fputc('\n', stderr); /* leave the progress line intact */
  fprintf(stderr, "isweep: status at %s: %d/%d configs done, %d of %d ranks busy%s\n",
          isw_format_duration(el, sizeof el, now - p->t0), d->n_before + d->n_ok + d->n_diverged + d->n_failed,
          d->n_total, n_busy, world, d->stopped ? ", stopping" : "");
  for (int r = 0; r < world; ++r) {
    if (d->lost && d->lost[r]) {
      fprintf(stderr, "isweep:   rank %d: lost\n", r);
      continue;
    }
    if (p->held[r] == 0) {
      fprintf(stderr, "isweep:   rank %d: idle\n", r);
      continue;
    }
    const isw_job *job = &d->jobs[running_job(p, r)];
    const isw_config *c = &d->spec->groups[job->group].configs[job->row];
    describe_config(params, sizeof params, c);
    fprintf(stderr, "isweep:   rank %d: %s row %d config %016llx (%s) running for %s\n", r, c->task->name,
            job->row, (unsigned long long)c->id, params,
            isw_format_duration(run_for, sizeof run_for, now - p->since[r]));
  }
  fflush(stderr);
  p->last_status = now;
}


/* Everything the hand-out needs beside the progress. */
typedef struct {
  isw_dispatch *d;
  progress *p;
  int world, depth, first, tag, n_open, n_final;
  unsigned char *taken; /* (n_jobs) handed out */
  int *open;            /* (world) ranks that may take a job now, ascending */
  int *told;            /* (world) 0, ISW_ASSIGN_STOP or ISW_ASSIGN_CANCEL sent */
  unsigned char *final; /* (world) its final report arrived */
  double *free_at;      /* (world) predicted end of what it holds, seconds since p->t0 */
  int *job_of;          /* (configs) index into d->jobs by offset[group] + row, or -1 */
  int *offset;          /* (n_groups + 1) */
  double done_flops, done_rank_seconds; /* measured rate: ok jobs' cost over their rank time */
  double mean_seconds;  /* moving mean of a job's wall time */
  int n_timed;          /* jobs in that mean */
  /* lost ranks */
  double *heard;        /* (world) MPI_Wtime of its last message (report or heartbeat) */
  double *lost_at;      /* (world) when it was given up */
  int *n_back;          /* (world) jobs it gave back */
  int *gave_back;       /* (n_jobs) the lost rank that last gave it back, or -1 */
  unsigned char *ended; /* (n_jobs) its outcome (not pending) arrived from a rank not lost */
  double last_check;    /* MPI_Wtime of the last look for silent ranks */
} dispatcher;

/* Work a rank should hold beyond the job it runs, in seconds: enough to
 * cover a report's round trip to the dispatcher on a loaded machine. */
#define QUEUED_SECONDS 5e-3

/* Jobs a rank may hold: d->depth, more for jobs shorter than
 * QUEUED_SECONDS (so a rank keeps running while its report travels), at
 * most ISW_PREFETCH_MAX. */
static void update_depth(dispatcher *s) {
  int depth = s->d->depth < 1 ? 1 : s->d->depth;
  if (s->n_timed > 0 && depth < ISW_PREFETCH_MAX) {
    double want = s->mean_seconds > 0 ? 1.0 + QUEUED_SECONDS / s->mean_seconds : ISW_PREFETCH_MAX;
    if (want > depth) depth = want < ISW_PREFETCH_MAX ? (int)want : ISW_PREFETCH_MAX;
  }
  s->depth = depth > ISW_PREFETCH_MAX ? ISW_PREFETCH_MAX : depth;
}

static double predicted_rate(const dispatcher *s) {
  if (s->done_rank_seconds > 0 && s->done_flops > 0) return s->done_flops / s->done_rank_seconds;
  if (s->d->rate > 0) return s->d->rate;
  return s->d->spec->flop_rate > 0 ? s->d->spec->flop_rate : 1e9;
}

static double job_seconds(const dispatcher *s, int j, double rate) {
  const isw_job *job = &s->d->jobs[j];
  int team = job->team < s->world ? job->team : s->world;
  return job->cost / (rate * team);
}

/* free_at[r]: the oldest job ends at since + its duration (not before now),
 * the queued ones after it. */
static void predict_rank(dispatcher *s, int r, double now, double rate) {
  progress *p = s->p;
  double at = now;
  for (int m = 0; m < p->held[r]; ++m) {
    int j = p->fifo[r * ISW_PREFETCH_MAX + (p->head[r] + m) % ISW_PREFETCH_MAX];
    if (m == 0) {
      double end = p->since[r] - p->t0 + job_seconds(s, j, rate);
      at = end > now ? end : now;
    } else {
      at += job_seconds(s, j, rate);
    }
  }
  s->free_at[r] = at;
}

static void rebuild_open(dispatcher *s) {
  s->n_open = 0;
  for (int r = 0; r < s->world; ++r)
    if (!s->told[r] && !s->d->lost[r] && s->p->held[r] < s->depth) s->open[s->n_open++] = r;
}

static int send_kind(dispatcher *s, int to, int kind) {
  isw_assign a;
  memset(&a, 0, sizeof a);
  a.kind = kind;
  return isw_transport_dispatch_send(s->d->t, to, &a);
}

/* Hand out jobs while isw_sched_pick finds one that may go now. */
static int hand_out(dispatcher *s) {
  int err = 0;
  isw_dispatch *d = s->d;
  progress *p = s->p;
  double wall = MPI_Wtime(), now = wall - p->t0, rate = predicted_rate(s);
  _Static_assert(ISW_SPEC_MAX_TEAM_RANKS <= ISW_MAX_TEAM, "the spec allows teams the dispatcher cannot form");
  update_depth(s);
  rebuild_open(s);
  for (;;) {
    isw_sched_view v = {s->world, now, s->free_at, p->held, s->open, s->n_open, d->backfill, rate};
    int members[ISW_SPEC_MAX_TEAM_RANKS], n_members = 0;
    int j = isw_sched_pick(members, &n_members, d->jobs, d->n_jobs, s->taken, s->first, &v);
    if (j < 0) break;
    isw_assign a;
    memset(&a, 0, sizeof a);
    a.kind = ISW_ASSIGN_JOB;
    a.group = d->jobs[j].group;
    a.row = d->jobs[j].row;
    a.batch = s->depth > 3 ? s->depth / 2 : 1; /* deep queues: report when half is done */
    a.tag = s->tag++;
    a.team = n_members;
    memcpy(a.members, members, (size_t)n_members * sizeof *members);
    for (int m = 0; m < n_members; ++m) {
      int r = members[m];
      ISW_CALL(isw_transport_dispatch_send(d->t, r, &a));
      p->fifo[r * ISW_PREFETCH_MAX + (p->head[r] + p->held[r]) % ISW_PREFETCH_MAX] = j;
      if (p->held[r]++ == 0) p->since[r] = wall;
      predict_rank(s, r, now, rate);
    }
    s->taken[j] = 1;
    while (s->first < d->n_jobs && s->taken[s->first]) s->first++;
    d->n_dispatched++;
    rebuild_open(s);
  }
cleanup:
  return err;
}

/* STOP (nothing left) or CANCEL (a stop request) to every rank that has
 * not sent its final report and was not told so already. */
static int tell_all(dispatcher *s, int kind) {
  int err = 0;
  for (int r = 0; r < s->world; ++r) {
    if (s->final[r] || s->d->lost[r] || s->told[r] == kind || s->told[r] == ISW_ASSIGN_CANCEL) continue;
    ISW_CALL(send_kind(s, r, kind));
    s->told[r] = kind;
  }
cleanup:
  return err;
}

/* A report from rank `from`: its outcomes, the jobs it finished, its final. */
static int take_report(dispatcher *s, const isw_report *r, int from) {
  int err = 0;
  isw_dispatch *d = s->d;
  progress *p = s->p;
  s->heard[from] = MPI_Wtime();
  if (d->lost[from]) return 0; /* its jobs went to others already */
  for (int i = 0; i < r->n; ++i) {
    const isw_outcome *o = &r->out[i];
    ISW_CHECK(o->group >= 0 && o->group < d->spec->n_groups && o->row >= 0 &&
                  o->row < d->spec->groups[o->group].n_configs && s->job_of[s->offset[o->group] + o->row] >= 0,
              ISW_EINTERNAL, "rank %d reported a config it was not handed (group %d row %d)", from, o->group, o->row);
    const isw_job *job = &d->jobs[s->job_of[s->offset[o->group] + o->row]];
    switch (o->status) {
      case ISW_ST_OK: d->n_ok++; break;
      case ISW_ST_DIVERGED: d->n_diverged++; break;
      case ISW_ST_PENDING: d->n_interrupted++; break;
      default: d->n_failed++; break;
    }
    if (o->status != ISW_ST_PENDING) {
      p->cost_done += job->cost;
      s->ended[job - d->jobs] = 1;
    }
    s->mean_seconds = s->n_timed++ > 0 ? 0.9 * s->mean_seconds + 0.1 * o->seconds : o->seconds;
    if (o->status == ISW_ST_OK && o->seconds > 0) {
      s->done_flops += job->cost;
      s->done_rank_seconds += o->seconds * (job->team < s->world ? job->team : s->world);
    }
  }
  ISW_CHECK(r->done >= 0 && r->done <= p->held[from], ISW_EINTERNAL, "rank %d reported %d jobs done of %d it holds",
            from, r->done, p->held[from]);
  double wall = MPI_Wtime();
  p->head[from] = (p->head[from] + r->done) % ISW_PREFETCH_MAX;
  p->held[from] -= r->done;
  if (r->done > 0) p->since[from] = wall;
  predict_rank(s, from, wall - p->t0, predicted_rate(s));
  if (r->n > 0) progress_print(p, PRINT_EVENT);
  if (r->final) {
    ISW_CHECK(s->told[from] && !s->final[from] && p->held[from] == 0, ISW_EINTERNAL,
              "rank %d sent a final report out of turn", from);
    s->final[from] = 1;
    s->n_final++;
    ISW_CALL(send_kind(s, from, ISW_ASSIGN_BYE));
  }
cleanup:
  return err;
}

/* "15:04:05 UTC" of MPI_Wtime value `wall` into buf. */
static const char *utc_clock(char *buf, size_t len, double wall) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  time_t at = (time_t)floor((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - (MPI_Wtime() - wall));
  struct tm tm;
  gmtime_r(&at, &tm);
  strftime(buf, len, "%H:%M:%S UTC", &tm);
  return buf;
}

static const char *host_of(const dispatcher *s, int r) {
  const char *h = s->d->t->hosts ? s->d->t->hosts + (size_t)r * ISW_TRANSPORT_HOST_LEN : "";
  return *h ? h : "?";
}

/* Give rank r up (`kind`: ISW_LOST_*; for a blocked rank, `because` is the
 * lost rank it shares team job `job` with): its jobs go back to the queue,
 * it gets no more, and every rank that holds one of its team jobs is lost
 * too (it would wait in that team's MPI calls forever). */
static void lose_rank(dispatcher *s, int r, int kind, int because, int job) {
  isw_dispatch *d = s->d;
  progress *p = s->p;
  int mine[ISW_PREFETCH_MAX], n = p->held[r];
  for (int m = 0; m < n; ++m) mine[m] = p->fifo[r * ISW_PREFETCH_MAX + (p->head[r] + m) % ISW_PREFETCH_MAX];
  d->lost[r] = (unsigned char)kind;
  d->n_lost++;
  s->lost_at[r] = MPI_Wtime();
  p->held[r] = 0;
  s->free_at[r] = HUGE_VAL; /* never free: no team waits for it */
  if (d->rank_lost) d->rank_lost(d->hook_arg, r);
  for (int m = 0; m < n; ++m) {
    int j = mine[m];
    if (!s->taken[j]) continue; /* a team job another member gave back */
    s->taken[j] = 0;
    s->gave_back[j] = r;
    s->n_back[r]++;
    if (j < s->first) s->first = j;
  }
  char at[32];
  if (kind == ISW_LOST_DEAD)
    fprintf(stderr,
            "isweep: rank %d (host %s) lost: nothing heard from it for %.1f s (since %s); the %d config(s) it "
            "held go back to the queue\n",
            r, host_of(s, r), s->lost_at[r] - s->heard[r], utc_clock(at, sizeof at, s->heard[r]), s->n_back[r]);
  else
    fprintf(stderr,
            "isweep: rank %d (host %s) lost: it holds team config row %d of %s with lost rank %d and would wait "
            "for it in MPI forever (no ULFM to free it); the %d config(s) it held go back to the queue\n",
            r, host_of(s, r), d->jobs[job].row, d->spec->groups[d->jobs[job].group].task->name, because,
            s->n_back[r]);
  fflush(stderr);
  for (int m = 0; m < n; ++m) {
    int j = mine[m];
    if (d->jobs[j].team <= 1) continue;
    for (int q = 0; q < s->world; ++q) {
      if (d->lost[q] || s->final[q]) continue;
      for (int i = 0; i < p->held[q]; ++i)
        if (p->fifo[q * ISW_PREFETCH_MAX + (p->head[q] + i) % ISW_PREFETCH_MAX] == j) {
          lose_rank(s, q, ISW_LOST_BLOCKED, r, j);
          break;
        }
    }
  }
}

/* Lose every rank other than 0 not heard from for rank_timeout seconds
 * (looked at about ten times per timeout, at most once a second). */
static void find_dead(dispatcher *s, double now) {
  isw_dispatch *d = s->d;
  double every = d->rank_timeout / 10 < 1.0 ? d->rank_timeout / 10 : 1.0;
  if (d->rank_timeout <= 0 || now - s->last_check < every) return;
  s->last_check = now;
  for (int r = 1; r < s->world; ++r)
    if (!d->lost[r] && !s->final[r] && now - s->heard[r] > d->rank_timeout) lose_rank(s, r, ISW_LOST_DEAD, -1, -1);
}

/* Nothing left to hand out, and no live rank holds a job (with a timeout:
 * any rank may still die and give jobs back until then). */
static int all_ended(const dispatcher *s) {
  if (s->first < s->d->n_jobs) return 0;
  if (s->d->rank_timeout <= 0) return 1;
  for (int r = 0; r < s->world; ++r)
    if (!s->d->lost[r] && s->p->held[r] > 0) return 0;
  return 1;
}

/* After a loss: jobs left that no live rank can take (a team larger than
 * the ranks left) while no live rank holds anything. */
static int starving(const dispatcher *s) {
  if (s->d->n_lost == 0 || s->first >= s->d->n_jobs) return 0;
  for (int r = 0; r < s->world; ++r)
    if (!s->d->lost[r] && s->p->held[r] > 0) return 0;
  return 1;
}

/* The lines the end of a run with lost ranks prints, one per lost rank. */
static void lost_print(dispatcher *s) {
  isw_dispatch *d = s->d;
  char at[32], heard[32];
  for (int r = 0; r < s->world; ++r) {
    if (!d->lost[r]) continue;
    int rerun = 0;
    for (int j = 0; j < d->n_jobs; ++j) rerun += s->gave_back[j] == r && s->ended[j];
    fprintf(stderr, "isweep: rank %d (host %s) was lost at %s (%s, last heard %s): %d config(s) it held went "
            "back to the queue, %d of them ran again on other ranks\n",
            r, host_of(s, r), utc_clock(at, sizeof at, s->lost_at[r]),
            d->lost[r] == ISW_LOST_DEAD ? "silent" : "blocked with a lost team member",
            utc_clock(heard, sizeof heard, s->heard[r]), s->n_back[r], rerun);
  }
  fflush(stderr);
}

void *isw_dispatch_main(void *arg) {
  isw_dispatch *d = arg;
  int err = 0;
  isw_transport *t = d->t;
  int world = t->size;
  progress p = {d, MPI_Wtime(), 0, 0, 0, 0, NULL, NULL, NULL, NULL};
  dispatcher s;
  memset(&s, 0, sizeof s);
  s.d = d;
  s.p = &p;
  s.world = world;
  update_depth(&s);
  s.tag = 1;
  p.last_print = p.last_status = p.t0;
  d->stop_rank = -1;

  ISW_ALLOC(p.fifo, (size_t)world * ISW_PREFETCH_MAX);
  ISW_ALLOC(p.head, world);
  ISW_ALLOC(p.held, world);
  ISW_ALLOC(p.since, world);
  ISW_ALLOC(s.open, world);
  ISW_ALLOC(s.told, world);
  ISW_ALLOC(s.final, world);
  ISW_ALLOC(s.free_at, world);
  ISW_ALLOC(s.taken, d->n_jobs > 0 ? d->n_jobs : 1);
  ISW_ALLOC(s.offset, d->spec->n_groups + 1);
  for (int g = 0; g < d->spec->n_groups; ++g) s.offset[g + 1] = s.offset[g] + d->spec->groups[g].n_configs;
  ISW_ALLOC(s.job_of, s.offset[d->spec->n_groups] > 0 ? s.offset[d->spec->n_groups] : 1);
  ISW_ALLOC(s.heard, world);
  ISW_ALLOC(s.lost_at, world);
  ISW_ALLOC(s.n_back, world);
  ISW_ALLOC(s.gave_back, d->n_jobs > 0 ? d->n_jobs : 1);
  ISW_ALLOC(s.ended, d->n_jobs > 0 ? d->n_jobs : 1);
  ISW_ALLOC(d->lost, world);
  d->n_lost = d->n_orphans = d->starved = 0;
  for (int j = 0; j < d->n_jobs; ++j) s.gave_back[j] = -1;
  for (int r = 0; r < world; ++r) s.heard[r] = p.t0;
  s.last_check = p.t0;
  for (int i = 0; i < s.offset[d->spec->n_groups]; ++i) s.job_of[i] = -1;
  for (int j = 0; j < d->n_jobs; ++j) {
    s.job_of[s.offset[d->jobs[j].group] + d->jobs[j].row] = j;
    p.cost_total += d->jobs[j].cost;
  }
  progress_print(&p, PRINT_NOW);

  /* every rank starts free: no first request */
  if (!isw_stop_requested()) ISW_CALL(hand_out(&s));
  for (int k = 0; s.n_final + d->n_lost < world;) {
    if (!d->stopped && all_ended(&s)) ISW_CALL(tell_all(&s, ISW_ASSIGN_STOP));
    isw_report r;
    int from = -1, got = 0;
    ISW_CALL(isw_transport_dispatch_poll(t, &r, &from, &got));
    if (!d->stopped && (isw_stop_requested() || (got && r.stop))) {
      d->stopped = 1;
      if (!isw_stop_requested()) {
        d->stop_rank = from;
        fprintf(stderr, "isweep: rank %d received a stop signal: no new configs\n", from);
      }
      ISW_CALL(tell_all(&s, ISW_ASSIGN_CANCEL));
      progress_print(&p, PRINT_NOW);
    }
    double now = MPI_Wtime();
    if (isw_signals_take_status_request() || (d->status_every > 0 && now - p.last_status >= d->status_every))
      status_print(&p);
    int lost_before = d->n_lost;
    find_dead(&s, now);
    if (d->n_lost > lost_before && !d->stopped) ISW_CALL(hand_out(&s));
    if (!d->stopped && starving(&s)) {
      d->starved = d->stopped = 1;
      fprintf(stderr, "isweep: the configs left need a team larger than the %d rank(s) still alive: they stay "
              "pending\n", world - d->n_lost);
      ISW_CALL(tell_all(&s, ISW_ASSIGN_STOP));
    }
    if (!got) {
      isw_transport_dispatch_nap(k++);
      progress_print(&p, PRINT_TICK);
      continue;
    }
    k = 0;
    ISW_CALL(take_report(&s, &r, from));
    if (!d->stopped) ISW_CALL(hand_out(&s));
  }
  ISW_CALL(isw_transport_dispatch_flush(t, d->lost));
  progress_print(&p, PRINT_FINAL);
  if (d->n_lost > 0) {
    ISW_ALLOC(d->orphans, d->n_jobs);
    for (int j = 0; j < d->n_jobs; ++j)
      if (s.gave_back[j] >= 0 && !s.taken[j]) d->orphans[d->n_orphans++] = j;
    lost_print(&s);
    if (d->lost_end) {
      d->seconds = MPI_Wtime() - p.t0;
      d->lost_end(d);
    }
  }
cleanup:
  d->seconds = MPI_Wtime() - p.t0;
  d->err = err;
  if (err) {
    /* Workers wait on this thread for work: without it the job cannot go on
     * or end collectively, so this is the one place outside main that aborts. */
    fprintf(stderr, "isweep: dispatcher failed: %s\n%s", isw_error_message(), isw_error_traceback());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  free(p.fifo);
  free(p.head);
  free(p.held);
  free(p.since);
  free(s.open);
  free(s.told);
  free(s.final);
  free(s.free_at);
  free(s.taken);
  free(s.offset);
  free(s.job_of);
  free(s.heard);
  free(s.lost_at);
  free(s.n_back);
  free(s.gave_back);
  free(s.ended);
  free(d->lost);
  free(d->orphans);
  d->lost = NULL;
  d->orphans = NULL;
  return NULL;
}
