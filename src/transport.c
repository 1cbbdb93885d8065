/* transport.c — point-to-point messages between workers and the dispatcher
 * (see transport.h).  Translates MPI return codes into isw errors. */
#include "isweep/transport.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/task.h"

enum { TAG_REPORT = 11, TAG_ASSIGN = 12, TAG_END = 14 };

/* A heartbeat thread wakes at least this often to look for an END. */
#define HEARTBEAT_WAKE_SECONDS 0.5

int isw_transport_mpi_error(int rc, const char *what) {
  if (rc == MPI_SUCCESS) return 0;
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", rc);
  return isw_error_raise(ISW_EMPI, __FILE__, __LINE__, what, "MPI error in %s: %s", what, text);
}

#define MPI_TRY(expr, what) ISW_CALL(isw_transport_mpi_error((expr), what))

static void sleep_ns(long ns) {
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  nanosleep(&ts, NULL);
}

void isw_transport_backoff(int k) {
  long ns = 50000L << (k < 7 ? k : 7); /* 50 us .. 6.4 ms */
  sleep_ns(ns > 5000000L ? 5000000L : ns);
}

void isw_transport_dispatch_nap(int k) {
  /* 2 us doubling to 100 us; after 200 idle rounds (about 20 ms with no
   * message: every rank is busy with a config and holds the next one)
   * 500 us.  A round costs 12-17 us of CPU here (MPI_Test's progress over
   * every transport, the clock, the sleep): bench_dispatch with 2 s configs
   * on 4 ranks measured the dispatcher at 6.6 % of a core with 100 us naps,
   * 5.8 % with 200 us and 3.5 % with this; a report that follows a short
   * gap is still seen within about 0.1 ms. */
  long ns = k >= 200 ? 500000L : 2000L << (k < 6 ? k : 6);
  sleep_ns(k < 200 && ns > 100000L ? 100000L : ns);
}

/* A worker's nap: the dispatcher's for the first 200 rounds (about 20 ms),
 * then up to 1 ms: a rank kept idle (a team waits) needs no fast answer. */
static void worker_nap(int k) {
  if (k < 200) isw_transport_dispatch_nap(k);
  else sleep_ns(1000000L);
}

/* Complete a request without spinning. */
static int wait_polling(MPI_Request *req, MPI_Status *st) {
  int err = 0, done = 0;
  for (int k = 0;; ++k) {
    MPI_TRY(MPI_Test(req, &done, st), "MPI_Test");
    if (done) break;
    isw_transport_backoff(k);
  }
cleanup:
  return err;
}

int isw_transport_init(isw_transport *t, MPI_Comm world) {
  int err = 0;
  memset(t, 0, sizeof *t);
  t->ctrl = t->work = MPI_COMM_NULL;
  t->pending = t->w_recv = t->w_send = MPI_REQUEST_NULL;
  pthread_mutex_init(&t->hb_mu, NULL);
  pthread_cond_init(&t->hb_cv, NULL);
  MPI_TRY(MPI_Comm_dup(world, &t->ctrl), "MPI_Comm_dup");
  MPI_TRY(MPI_Comm_set_errhandler(t->ctrl, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  MPI_TRY(MPI_Comm_dup(world, &t->work), "MPI_Comm_dup");
  MPI_TRY(MPI_Comm_set_errhandler(t->work, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  MPI_TRY(MPI_Comm_rank(world, &t->rank), "MPI_Comm_rank");
  MPI_TRY(MPI_Comm_size(world, &t->size), "MPI_Comm_size");
  char host[ISW_TRANSPORT_HOST_LEN] = "";
  gethostname(host, sizeof host - 1);
  if (t->rank == 0) ISW_ALLOC(t->hosts, (size_t)t->size * ISW_TRANSPORT_HOST_LEN);
  MPI_TRY(MPI_Gather(host, ISW_TRANSPORT_HOST_LEN, MPI_CHAR, t->hosts, ISW_TRANSPORT_HOST_LEN, MPI_CHAR, 0, t->ctrl),
          "MPI_Gather");
cleanup:
  return err;
}

static void cancel_request(MPI_Request *req) {
  if (*req == MPI_REQUEST_NULL) return;
  MPI_Cancel(req);
  MPI_Request_free(req);
}

void isw_transport_destroy(isw_transport *t) {
  if (t->hb_started) {
    pthread_mutex_lock(&t->hb_mu);
    t->hb_quit = 1;
    pthread_cond_signal(&t->hb_cv);
    pthread_mutex_unlock(&t->hb_mu);
    pthread_join(t->hb_thread, NULL);
    t->hb_started = 0;
  }
  pthread_cond_destroy(&t->hb_cv);
  pthread_mutex_destroy(&t->hb_mu);
  cancel_request(&t->pending);
  cancel_request(&t->w_recv);
  if (t->w_send != MPI_REQUEST_NULL) MPI_Request_free(&t->w_send);
  for (int i = 0; i < t->pool_cap; ++i) {
    if (t->pool[i] != MPI_REQUEST_NULL) MPI_Request_free(&t->pool[i]);
    free(t->pool_buf[i]);
  }
  free(t->pool);
  free(t->pool_buf);
  free(t->pool_free);
  free(t->pool_to);
  free(t->hosts);
  t->pool = NULL;
  t->pool_buf = NULL;
  t->pool_free = NULL;
  t->pool_to = NULL;
  t->hosts = NULL;
  t->pool_cap = t->pool_n_free = 0;
  if (t->ctrl != MPI_COMM_NULL) MPI_Comm_free(&t->ctrl);
  if (t->work != MPI_COMM_NULL) MPI_Comm_free(&t->work);
}

/* Bytes of a that travel: the header, and the members of a JOB's team. */
static int assign_bytes(const isw_assign *a) {
  int team = a->kind == ISW_ASSIGN_JOB ? a->team : 0;
  return (int)(offsetof(isw_assign, members) + (size_t)team * sizeof(int));
}

static int report_bytes(const isw_report *r) {
  return (int)(offsetof(isw_report, out) + (size_t)r->n * sizeof(isw_outcome));
}

/* ---- heartbeat -------------------------------------------------------- */

static const isw_report heartbeat_report; /* empty: nothing done, no stop, not final */

/* Every hb_seconds a heartbeat (until the final report); every wake-up a
 * look for an END, which ends the process at once: the main thread may be
 * blocked for good in a collective with a dead rank. */
static void *heartbeat_main(void *arg) {
  isw_transport *t = arg;
  MPI_Request send = MPI_REQUEST_NULL, end = MPI_REQUEST_NULL;
  if (MPI_Irecv(&t->hb_code, 1, MPI_INT, 0, TAG_END, t->ctrl, &end) != MPI_SUCCESS) end = MPI_REQUEST_NULL;
  double next = 0, wake = t->hb_seconds < HEARTBEAT_WAKE_SECONDS ? t->hb_seconds : HEARTBEAT_WAKE_SECONDS;
  pthread_mutex_lock(&t->hb_mu);
  while (!t->hb_quit) {
    double now = MPI_Wtime();
    int done = 1;
    if (send != MPI_REQUEST_NULL) MPI_Test(&send, &done, MPI_STATUS_IGNORE);
    if (!t->hb_final && now >= next && done) { /* one in flight at most */
      if (MPI_Isend(&heartbeat_report, (int)offsetof(isw_report, out), MPI_BYTE, 0, TAG_REPORT, t->ctrl, &send) !=
          MPI_SUCCESS)
        send = MPI_REQUEST_NULL;
      next = now + t->hb_seconds;
    }
    if (end != MPI_REQUEST_NULL) {
      int got = 0;
      MPI_Test(&end, &got, MPI_STATUS_IGNORE);
      if (got) {
        fflush(stdout);
        fflush(stderr);
        _exit(t->hb_code);
      }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(wake * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&t->hb_cv, &t->hb_mu, &ts);
  }
  pthread_mutex_unlock(&t->hb_mu);
  if (send != MPI_REQUEST_NULL) MPI_Request_free(&send); /* received before the final report */
  cancel_request(&end);
  return NULL;
}

int isw_transport_heartbeat_start(isw_transport *t, double seconds) {
  int err = 0;
  if (t->rank == 0 || !(seconds > 0) || t->hb_started) return 0;
  t->hb_seconds = seconds;
  ISW_CHECK(pthread_create(&t->hb_thread, NULL, heartbeat_main, t) == 0, ISW_EINTERNAL,
            "rank %d: cannot start the heartbeat thread", t->rank);
  t->hb_started = 1;
cleanup:
  return err;
}

/* ---- worker side ------------------------------------------------------ */

/* Take every assignment that arrived into the queue. */
static int worker_drain(isw_transport *t) {
  int err = 0;
  for (;;) {
    int done = 0;
    if (t->w_recv == MPI_REQUEST_NULL)
      MPI_TRY(MPI_Irecv(&t->w_inbox, (int)sizeof t->w_inbox, MPI_BYTE, 0, TAG_ASSIGN, t->ctrl, &t->w_recv),
              "MPI_Irecv");
    MPI_TRY(MPI_Test(&t->w_recv, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (!done) break;
    const isw_assign *a = &t->w_inbox;
    if (a->kind == ISW_ASSIGN_JOB) {
      ISW_CHECK(t->w_len < ISW_PREFETCH_MAX && a->team >= 1 && a->team <= ISW_MAX_TEAM && a->batch >= 1,
                ISW_EINTERNAL, "rank %d: bad assignment (queue %d, team %d, batch %d)", t->rank, t->w_len,
                a->team, a->batch);
      t->w_queue[(t->w_head + t->w_len++) % ISW_PREFETCH_MAX] = *a;
      t->w_batch = a->batch;
    } else if (a->kind == ISW_ASSIGN_BYE) {
      t->w_bye = 1;
    } else {
      ISW_CHECK(a->kind == ISW_ASSIGN_STOP || a->kind == ISW_ASSIGN_CANCEL, ISW_EINTERNAL,
                "rank %d: unknown assignment kind %d", t->rank, a->kind);
      if (a->kind == ISW_ASSIGN_CANCEL || !t->w_told) t->w_told = a->kind;
    }
  }
cleanup:
  return err;
}

/* Send what w_unsent holds (if the previous report went out). */
static int worker_send(isw_transport *t, int final) {
  int err = 0;
  t->w_sending = t->w_unsent;
  t->w_sending.final = final;
  t->w_sending.stop = isw_stop_requested();
  memset(&t->w_unsent, 0, offsetof(isw_report, out));
  if (final && t->hb_started) { /* no heartbeat after the final report */
    pthread_mutex_lock(&t->hb_mu);
    t->hb_final = 1;
    pthread_mutex_unlock(&t->hb_mu);
  }
  MPI_TRY(MPI_Isend(&t->w_sending, report_bytes(&t->w_sending), MPI_BYTE, 0, TAG_REPORT, t->ctrl, &t->w_send),
          "MPI_Isend");
  t->w_stop_sent |= t->w_sending.stop;
  t->w_final_sent |= final;
cleanup:
  return err;
}

int isw_transport_worker_next(isw_transport *t, isw_assign *a, int *cancelled) {
  int err = 0;
  *cancelled = 0;
  for (int k = 0;; ++k) {
    ISW_CALL(worker_drain(t));
    int idle = 1;
    if (t->w_send != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_TRY(MPI_Test(&t->w_send, &done, MPI_STATUS_IGNORE), "MPI_Test");
      idle = done;
    }
    int stop_news = isw_stop_requested() && !t->w_stop_sent;
    int owed = t->w_unsent.done > 0 || stop_news;
    if (t->w_len > 0) {
      if (idle && owed && (t->w_unsent.done >= t->w_batch || stop_news)) ISW_CALL(worker_send(t, 0));
      *a = t->w_queue[t->w_head];
      t->w_head = (t->w_head + 1) % ISW_PREFETCH_MAX;
      t->w_len--;
      *cancelled = t->w_told == ISW_ASSIGN_CANCEL;
      break;
    }
    if (idle && !t->w_final_sent && (t->w_told || owed)) {
      ISW_CALL(worker_send(t, t->w_told != 0));
      k = 0;
      continue;
    }
    if (t->w_bye && idle) {
      memset(a, 0, sizeof *a);
      a->kind = ISW_ASSIGN_STOP;
      break;
    }
    worker_nap(k);
  }
cleanup:
  return err;
}

int isw_transport_worker_done(isw_transport *t, const isw_assign *a, int status, double seconds) {
  int err = 0;
  isw_report *u = &t->w_unsent;
  ISW_CHECK(u->done < ISW_PREFETCH_MAX && u->n < ISW_PREFETCH_MAX, ISW_EINTERNAL,
            "rank %d: more jobs ended than it was handed", t->rank);
  u->done++;
  if (a->members[0] == t->rank) u->out[u->n++] = (isw_outcome){a->group, a->row, status, seconds};
cleanup:
  return err;
}

int isw_transport_team_comm(isw_transport *t, const isw_assign *a, MPI_Comm *team) {
  int err = 0;
  MPI_Group world_group = MPI_GROUP_NULL, team_group = MPI_GROUP_NULL;
  *team = MPI_COMM_SELF;
  if (a->team <= 1) return 0;
  *team = MPI_COMM_NULL;
  MPI_TRY(MPI_Comm_group(t->work, &world_group), "MPI_Comm_group");
  MPI_TRY(MPI_Group_incl(world_group, a->team, a->members, &team_group), "MPI_Group_incl");
  MPI_TRY(MPI_Comm_create_group(t->work, team_group, a->tag, team), "MPI_Comm_create_group");
  MPI_TRY(MPI_Comm_set_errhandler(*team, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
cleanup:
  if (team_group != MPI_GROUP_NULL) MPI_Group_free(&team_group);
  if (world_group != MPI_GROUP_NULL) MPI_Group_free(&world_group);
  return err;
}

void isw_transport_team_free(MPI_Comm *team) {
  if (*team != MPI_COMM_SELF && *team != MPI_COMM_NULL) MPI_Comm_free(team);
  *team = MPI_COMM_NULL;
}

int isw_transport_team_any(MPI_Comm team, int *flag) {
  int err = 0;
  if (team == MPI_COMM_SELF) return 0;
  MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, flag, 1, MPI_INT, MPI_LOR, team), "MPI_Allreduce");
cleanup:
  return err;
}

int isw_transport_quiet_barrier(isw_transport *t) {
  int err = 0;
  MPI_Request req;
  MPI_TRY(MPI_Ibarrier(t->work, &req), "MPI_Ibarrier");
  ISW_CALL(wait_polling(&req, MPI_STATUS_IGNORE));
cleanup:
  return err;
}

/* ---- dispatcher side -------------------------------------------------- */

int isw_transport_dispatch_poll(isw_transport *t, isw_report *r, int *from, int *got) {
  int err = 0, done = 0;
  MPI_Status st;
  *got = 0;
  if (t->pending == MPI_REQUEST_NULL)
    MPI_TRY(MPI_Irecv(&t->inbox, (int)sizeof t->inbox, MPI_BYTE, MPI_ANY_SOURCE, TAG_REPORT,
                      t->ctrl, &t->pending),
            "MPI_Irecv");
  MPI_TRY(MPI_Test(&t->pending, &done, &st), "MPI_Test");
  if (done) {
    int bytes = 0;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    t->pending = MPI_REQUEST_NULL;
    ISW_CHECK(bytes >= (int)offsetof(isw_report, out) && t->inbox.n >= 0 && t->inbox.n <= ISW_PREFETCH_MAX &&
                  bytes == report_bytes(&t->inbox),
              ISW_EINTERNAL, "a report of %d bytes from rank %d does not hold what it says", bytes, st.MPI_SOURCE);
    memcpy(r, &t->inbox, (size_t)bytes);
    *from = st.MPI_SOURCE;
    *got = 1;
  }
cleanup:
  return err;
}

/* Free slots of the pool whose sends completed. */
static int pool_reap(isw_transport *t) {
  int err = 0, n_done = 0;
  int *idx = NULL;
  if (t->pool_cap == 0) return 0;
  ISW_ALLOC(idx, t->pool_cap);
  MPI_TRY(MPI_Testsome(t->pool_cap, t->pool, &n_done, idx, MPI_STATUSES_IGNORE), "MPI_Testsome");
  for (int i = 0; n_done != MPI_UNDEFINED && i < n_done; ++i) t->pool_free[t->pool_n_free++] = idx[i];
cleanup:
  free(idx);
  return err;
}

/* Double the pool (requests are handles and may move; buffers stay put). */
static int pool_grow(isw_transport *t) {
  int err = 0, cap = t->pool_cap ? 2 * t->pool_cap : 64;
  MPI_Request *pool = realloc(t->pool, (size_t)cap * sizeof *pool);
  ISW_CHECK(pool, ISW_ENOMEM, "out of memory for %d outstanding sends", cap);
  t->pool = pool;
  isw_assign **buf = realloc(t->pool_buf, (size_t)cap * sizeof *buf);
  ISW_CHECK(buf, ISW_ENOMEM, "out of memory for %d outstanding sends", cap);
  t->pool_buf = buf;
  int *fr = realloc(t->pool_free, (size_t)cap * sizeof *fr);
  ISW_CHECK(fr, ISW_ENOMEM, "out of memory for %d outstanding sends", cap);
  t->pool_free = fr;
  int *to = realloc(t->pool_to, (size_t)cap * sizeof *to);
  ISW_CHECK(to, ISW_ENOMEM, "out of memory for %d outstanding sends", cap);
  t->pool_to = to;
  for (int i = t->pool_cap; i < cap; ++i) {
    t->pool[i] = MPI_REQUEST_NULL;
    t->pool_to[i] = -1;
    t->pool_buf[i] = malloc(sizeof **t->pool_buf);
    ISW_CHECK(t->pool_buf[i], ISW_ENOMEM, "out of memory for %d outstanding sends", cap);
    t->pool_free[t->pool_n_free++] = i;
    t->pool_cap = i + 1;
  }
cleanup:
  return err;
}

int isw_transport_dispatch_send(isw_transport *t, int to, const isw_assign *a) {
  int err = 0;
  if (t->pool_n_free == 0) ISW_CALL(pool_reap(t));
  if (t->pool_n_free == 0) ISW_CALL(pool_grow(t));
  int slot = t->pool_free[--t->pool_n_free];
  memcpy(t->pool_buf[slot], a, (size_t)assign_bytes(a));
  t->pool_to[slot] = to;
  int rc = MPI_Isend(t->pool_buf[slot], assign_bytes(a), MPI_BYTE, to, TAG_ASSIGN, t->ctrl, &t->pool[slot]);
  if (rc != MPI_SUCCESS) {
    t->pool[slot] = MPI_REQUEST_NULL;
    t->pool_free[t->pool_n_free++] = slot;
  }
  MPI_TRY(rc, "MPI_Isend");
cleanup:
  return err;
}

int isw_transport_dispatch_flush(isw_transport *t, const unsigned char *skip) {
  int err = 0;
  for (int k = 0; t->pool_n_free < t->pool_cap; ++k) {
    ISW_CALL(pool_reap(t));
    int busy = 0;
    for (int i = 0; i < t->pool_cap && !busy; ++i)
      busy = t->pool[i] != MPI_REQUEST_NULL && !(skip && skip[t->pool_to[i]]);
    if (!busy) break;
    isw_transport_dispatch_nap(k);
  }
cleanup:
  return err;
}

int isw_transport_dispatch_end(isw_transport *t, const unsigned char *dead, int code, double seconds) {
  int err = 0, n = 0, done = 0;
  MPI_Request *req = NULL;
  t->end_code = code;
  ISW_ALLOC(req, t->size);
  for (int r = 1; r < t->size; ++r)
    if (!dead[r] && MPI_Isend(&t->end_code, 1, MPI_INT, r, TAG_END, t->ctrl, &req[n]) == MPI_SUCCESS) n++;
  double t0 = MPI_Wtime();
  for (int k = 0; done < n && MPI_Wtime() - t0 < seconds; ++k) {
    done = 0;
    for (int i = 0; i < n; ++i) {
      int flag = 1;
      if (req[i] != MPI_REQUEST_NULL) MPI_Test(&req[i], &flag, MPI_STATUS_IGNORE);
      done += flag;
    }
    if (done < n) isw_transport_backoff(k);
  }
cleanup:
  free(req);
  return err ? -1 : done;
}
