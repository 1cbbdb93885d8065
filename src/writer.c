/* writer.c — rows from every rank to rank 0's writer thread, written in
 * batches (see writer.h).  It owns the writer's communicator and thread;
 * HDF5 is store.c's (only this thread calls it while the sweep runs), the
 * decision to exit or abort is run.c's.
 *
 * A message is one entry: a fixed header (msg_head) and, for a finished
 * row, its scalars and curves as doubles.  The sizes are known from the
 * group (every rank has the same spec), and every rank runs the same binary,
 * so the header travels as bytes. */
#include "isweep/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/error.h"
#include "isweep/signals.h"
#include "isweep/transport.h"

#define WRITER_TAG 1
#define IDLE_MIN_NS 50000L   /* the thread's first sleep when nothing came (50 µs) ... */
#define IDLE_MAX_NS 2000000L /* ... doubling up to 2 ms: no core spun, no visible delay */

enum { MSG_BEGIN, MSG_FINISHED, MSG_STATUS, MSG_END };

typedef struct {
  int32_t kind; /* MSG_* */
  int32_t g, row, rank, status;
  int32_t n_values; /* doubles that follow: n_scalars + n_curves * T for MSG_FINISHED, else 0 */
  int64_t n_params;
  double start_time, rho, train_seconds, eval_seconds;
  char host[ISW_HOST_LEN];
  char message[ISW_MESSAGE_LEN];
} msg_head;

/* One received entry, kept until its batch is written. */
typedef struct {
  msg_head h;
  double *values; /* (h.n_values) scalars, then curves (n_curves, T) */
  isw_result r;   /* MSG_FINISHED: points into values */
} held;

struct isw_writer {
  MPI_Comm comm;
  int rank, size;
  const isw_spec *spec;
  isw_store *store;
  int batch_rows;
  double batch_seconds;
  unsigned char *send; /* the calling thread's message buffer */
  size_t send_cap;
  /* rank 0: the thread and what it holds */
  pthread_t thread;
  int have_thread;
  atomic_int quit;   /* destroy: stop without waiting for the other ranks */
  atomic_uchar *lost; /* (size) rank 0: ranks given up (isw_writer_lost): their entries are dropped */
  atomic_int n_lost;
  atomic_int failed; /* a batch failed: err and msg are set */
  int err;
  char msg[1024];
  double write_seconds; /* spent in isw_store_write_batch */
  long batches;
  held *buf;
  int n_buf, cap_buf, n_rows; /* entries held; of them, rows finished or reset */
  double t_oldest;            /* MPI_Wtime of the oldest entry held */
};

static void held_free(held *x) {
  free(x->values);
  x->values = NULL;
}

/* ---- rank 0's thread ------------------------------------------------------ */

/* Write what the thread holds as one batch, and forget it.  After a
 * failure nothing more is written: the error is kept for rank 0's caller
 * and the sweep is asked to stop. */
static void flush_held(isw_writer *w) {
  int err = 0;
  isw_store_entry *e = NULL;
  if (w->n_buf == 0 || atomic_load(&w->failed)) goto cleanup;
  ISW_ALLOC(e, w->n_buf);
  for (int i = 0; i < w->n_buf; ++i) {
    const msg_head *h = &w->buf[i].h;
    e[i] = (isw_store_entry){.g = h->g, .row = h->row, .rank = h->rank, .host = h->host,
                             .start_time = h->start_time, .result = &w->buf[i].r,
                             .status = (isw_status)h->status};
    e[i].kind = h->kind == MSG_BEGIN ? ISW_STORE_BEGIN : h->kind == MSG_FINISHED ? ISW_STORE_FINISHED
                                                                               : ISW_STORE_STATUS;
  }
  double t0 = MPI_Wtime();
  ISW_CALL(isw_store_write_batch(w->store, e, w->n_buf));
  w->write_seconds += MPI_Wtime() - t0;
  w->batches++;
cleanup:
  if (err) {
    w->err = err;
    snprintf(w->msg, sizeof w->msg, "%s", isw_error_message());
    atomic_store(&w->failed, 1);
    isw_signals_request_stop(); /* hand out no more work: its rows could not be written */
  }
  for (int i = 0; i < w->n_buf; ++i) held_free(&w->buf[i]);
  w->n_buf = w->n_rows = 0;
  free(e);
}

/* Keep the entry in msg (n bytes) for the next batch.  0 or ISW_ENOMEM /
 * ISW_EINTERNAL (a message that does not match the spec). */
static int hold(isw_writer *w, const unsigned char *msg, int n) {
  int err = 0;
  held *x = NULL;
  msg_head h;
  ISW_CHECK(n >= (int)sizeof h, ISW_EINTERNAL, "writer: a message of %d bytes is too short", n);
  memcpy(&h, msg, sizeof h);
  ISW_CHECK(h.g >= 0 && h.g < w->spec->n_groups && h.row >= 0 && h.row < w->spec->groups[h.g].n_configs &&
                h.n_values >= 0 && n == (int)sizeof h + h.n_values * (int)sizeof(double),
            ISW_EINTERNAL, "writer: a message for group %d row %d does not match the spec", h.g, h.row);
  if (w->n_buf == w->cap_buf) {
    int cap = w->cap_buf ? 2 * w->cap_buf : 64;
    held *b = realloc(w->buf, (size_t)cap * sizeof *b);
    ISW_CHECK(b != NULL, ISW_ENOMEM, "writer: out of memory holding %d entries", cap);
    w->buf = b;
    w->cap_buf = cap;
  }
  x = &w->buf[w->n_buf];
  memset(x, 0, sizeof *x);
  x->h = h;
  if (h.n_values > 0) {
    ISW_ALLOC(x->values, h.n_values);
    memcpy(x->values, msg + sizeof h, (size_t)h.n_values * sizeof(double));
  }
  if (h.kind == MSG_FINISHED) {
    const isw_task *t = w->spec->groups[h.g].task;
    ISW_CHECK(h.n_values == t->n_scalars + t->n_curves * w->spec->groups[h.g].n_test, ISW_EINTERNAL,
              "writer: group %d row %d came with %d values", h.g, h.row, h.n_values);
    x->r.status = (isw_status)h.status;
    memcpy(x->r.message, h.message, sizeof x->r.message);
    x->r.rho = h.rho;
    x->r.n_params = h.n_params;
    x->r.train_seconds = h.train_seconds;
    x->r.eval_seconds = h.eval_seconds;
    x->r.scalars = x->values;
    x->r.curves = x->values ? x->values + t->n_scalars : NULL;
  }
  if (w->n_buf == 0) w->t_oldest = MPI_Wtime();
  w->n_buf++;
  w->n_rows += h.kind != MSG_BEGIN;
  x = NULL;
cleanup:
  if (x) held_free(x);
  return err;
}

/* Receive until every rank has sent MSG_END (or destroy says quit), writing
 * a batch by count, by age, and at the end. */
static void *writer_main(void *arg) {
  isw_writer *w = arg;
  int err = 0, ended = 0;
  unsigned char *msg = NULL;
  int cap = 0;
  long idle_ns = IDLE_MIN_NS;
  while (ended + atomic_load(&w->n_lost) < w->size && !atomic_load(&w->quit)) {
    int flag = 0, n = 0;
    MPI_Status st;
    ISW_CALL(isw_transport_mpi_error(MPI_Iprobe(MPI_ANY_SOURCE, WRITER_TAG, w->comm, &flag, &st), "MPI_Iprobe"));
    if (flag) {
      ISW_CALL(isw_transport_mpi_error(MPI_Get_count(&st, MPI_BYTE, &n), "MPI_Get_count"));
      if (n > cap) {
        unsigned char *m = realloc(msg, (size_t)n);
        ISW_CHECK(m != NULL, ISW_ENOMEM, "writer: out of memory receiving %d bytes", n);
        msg = m;
        cap = n;
      }
      ISW_CALL(isw_transport_mpi_error(
          MPI_Recv(msg, n, MPI_BYTE, st.MPI_SOURCE, WRITER_TAG, w->comm, MPI_STATUS_IGNORE), "MPI_Recv"));
      int32_t kind = MSG_END;
      if (n >= (int)sizeof kind) memcpy(&kind, msg, sizeof kind);
      if (atomic_load(&w->lost[st.MPI_SOURCE])) continue; /* its rows run elsewhere now */
      if (kind == MSG_END) ended++;
      else if (!atomic_load(&w->failed)) ISW_CALL(hold(w, msg, n));
      idle_ns = IDLE_MIN_NS;
    } else {
      struct timespec ts = {0, idle_ns};
      nanosleep(&ts, NULL);
      if (idle_ns < IDLE_MAX_NS) idle_ns *= 2;
    }
    if (w->n_buf > 0 && (w->n_rows >= w->batch_rows || w->n_buf >= 4 * w->batch_rows ||
                         MPI_Wtime() - w->t_oldest >= w->batch_seconds))
      flush_held(w);
  }
  if (!atomic_load(&w->quit)) flush_held(w);
cleanup:
  if (err && !atomic_load(&w->failed)) {
    w->err = err;
    snprintf(w->msg, sizeof w->msg, "%s", isw_error_message());
    atomic_store(&w->failed, 1);
    isw_signals_request_stop();
  }
  for (int i = 0; i < w->n_buf; ++i) held_free(&w->buf[i]);
  w->n_buf = 0;
  free(msg);
  return NULL;
}

/* ---- every rank ------------------------------------------------------------ */

int isw_writer_create(isw_writer **out, isw_store *store, const isw_spec *spec, int batch_rows,
                      double batch_seconds, MPI_Comm comm) {
  int err = 0;
  isw_writer *w = NULL;
  ISW_CHECK(out && spec && batch_rows >= 1 && batch_seconds > 0, ISW_EINTERNAL,
            "isw_writer_create: bad arguments");
  *out = NULL;
  ISW_ALLOC(w, 1);
  w->comm = MPI_COMM_NULL;
  w->spec = spec;
  w->store = store;
  w->batch_rows = batch_rows;
  w->batch_seconds = batch_seconds;
  atomic_init(&w->quit, 0);
  atomic_init(&w->n_lost, 0);
  atomic_init(&w->failed, 0);
  ISW_CALL(isw_transport_mpi_error(MPI_Comm_dup(comm, &w->comm), "MPI_Comm_dup"));
  MPI_Comm_set_name(w->comm, "isweep row writer");
  ISW_CALL(isw_transport_mpi_error(MPI_Comm_rank(w->comm, &w->rank), "MPI_Comm_rank"));
  ISW_CALL(isw_transport_mpi_error(MPI_Comm_size(w->comm, &w->size), "MPI_Comm_size"));
  if (w->rank == 0) {
    ISW_CHECK(store != NULL, ISW_EINTERNAL, "isw_writer_create: rank 0 needs the open store");
    w->lost = calloc((size_t)w->size, sizeof *w->lost);
    ISW_CHECK(w->lost != NULL, ISW_ENOMEM, "writer: out of memory for %d ranks", w->size);
    ISW_CHECK(pthread_create(&w->thread, NULL, writer_main, w) == 0, ISW_EINTERNAL,
              "cannot start the writer thread");
    w->have_thread = 1;
  }
  *out = w;
  w = NULL;
cleanup:
  isw_writer_destroy(&w);
  return err;
}

/* Rank 0: the writer's error, raised again in the calling thread. */
static int writer_error(isw_writer *w) {
  if (w->rank != 0 || !atomic_load(&w->failed)) return 0;
  return isw_error_raise(w->err, __FILE__, __LINE__, __func__, "%s", w->msg);
}

/* Send header h and n doubles v to rank 0's writer. */
static int send_entry(isw_writer *w, const msg_head *h, const double *v, size_t n) {
  int err = 0;
  ISW_CHECK(w != NULL, ISW_EINTERNAL, "writer: NULL writer");
  ISW_CALL(writer_error(w));
  size_t bytes = sizeof *h + n * sizeof(double);
  ISW_CHECK(bytes <= (size_t)0x7fffffff, ISW_EINTERNAL, "writer: a row of %zu bytes is too large", bytes);
  if (bytes > w->send_cap) {
    unsigned char *b = realloc(w->send, bytes);
    ISW_CHECK(b != NULL, ISW_ENOMEM, "writer: out of memory for a row of %zu bytes", bytes);
    w->send = b;
    w->send_cap = bytes;
  }
  memcpy(w->send, h, sizeof *h);
  if (n) memcpy(w->send + sizeof *h, v, n * sizeof(double));
  ISW_CALL(isw_transport_mpi_error(MPI_Send(w->send, (int)bytes, MPI_BYTE, 0, WRITER_TAG, w->comm),
                                   "sending a row to the writer"));
cleanup:
  return err;
}

/* A zeroed header of `kind` for group g, row `row`. */
static msg_head entry_head(int kind, int g, int row) {
  msg_head h;
  memset(&h, 0, sizeof h);
  h.kind = kind;
  h.g = g;
  h.row = row;
  return h;
}

static void copy_text(char *dst, size_t n, const char *src) {
  memset(dst, 0, n);
  if (src) memcpy(dst, src, strnlen(src, n - 1));
}

int isw_writer_begin(isw_writer *w, int g, int row, int rank, const char *host, double start_time) {
  msg_head h = entry_head(MSG_BEGIN, g, row);
  h.rank = rank;
  h.status = ISW_ST_RUNNING;
  h.start_time = start_time;
  copy_text(h.host, sizeof h.host, host);
  return send_entry(w, &h, NULL, 0);
}

int isw_writer_finished(isw_writer *w, int g, int row, const isw_result *r) {
  int err = 0;
  ISW_CHECK(w != NULL && r != NULL && g >= 0 && g < w->spec->n_groups, ISW_EINTERNAL,
            "isw_writer_finished: bad arguments");
  const isw_spec_group *sg = &w->spec->groups[g];
  const isw_task *t = sg->task;
  size_t nc = (size_t)t->n_curves * (size_t)sg->n_test, n = (size_t)t->n_scalars + nc;
  msg_head h = entry_head(MSG_FINISHED, g, row);
  h.status = r->status;
  h.n_values = (int32_t)n;
  h.n_params = r->n_params;
  h.rho = r->rho;
  h.train_seconds = r->train_seconds;
  h.eval_seconds = r->eval_seconds;
  copy_text(h.message, sizeof h.message, r->message);
  /* one contiguous (n) block: scalars, then curves */
  double *v = NULL;
  ISW_ALLOC(v, n);
  if (t->n_scalars) memcpy(v, r->scalars, (size_t)t->n_scalars * sizeof *v);
  if (nc) memcpy(v + t->n_scalars, r->curves, nc * sizeof *v);
  err = send_entry(w, &h, v, n);
  free(v);
  ISW_CALL(err);
cleanup:
  return err;
}

int isw_writer_status(isw_writer *w, int g, int row, isw_status st) {
  msg_head h = entry_head(MSG_STATUS, g, row);
  h.status = st;
  return send_entry(w, &h, NULL, 0);
}

void isw_writer_lost(isw_writer *w, int rank) {
  if (!w || !w->lost || rank < 0 || rank >= w->size) return;
  if (!atomic_exchange(&w->lost[rank], 1)) atomic_fetch_add(&w->n_lost, 1);
}

int isw_writer_drain(isw_writer *w, double *write_seconds) {
  int err = 0;
  if (write_seconds) *write_seconds = 0;
  ISW_CHECK(w && w->rank == 0, ISW_EINTERNAL, "isw_writer_drain: rank 0 only");
  if (!w->have_thread) return writer_error(w);
  msg_head h = entry_head(MSG_END, 0, 0);
  ISW_CALL(isw_transport_mpi_error(MPI_Send(&h, (int)sizeof h, MPI_BYTE, 0, WRITER_TAG, w->comm),
                                   "telling the writer rank 0 is done"));
  pthread_join(w->thread, NULL);
  w->have_thread = 0;
  if (write_seconds) *write_seconds = w->write_seconds;
  ISW_CALL(writer_error(w));
cleanup:
  return err;
}

int isw_writer_finish(isw_writer **wp, double *write_seconds) {
  int err = 0;
  if (write_seconds) *write_seconds = 0;
  if (!wp || !*wp) return 0;
  isw_writer *w = *wp;
  msg_head h = entry_head(MSG_END, 0, 0);
  int rc = MPI_Send(&h, (int)sizeof h, MPI_BYTE, 0, WRITER_TAG, w->comm);
  if (w->have_thread) {
    if (rc != MPI_SUCCESS) atomic_store(&w->quit, 1); /* its own end cannot arrive */
    pthread_join(w->thread, NULL);
    w->have_thread = 0;
    if (write_seconds) *write_seconds = w->write_seconds;
  }
  ISW_CALL(isw_transport_mpi_error(rc, "telling the writer this rank is done"));
  ISW_CALL(writer_error(w));
cleanup:
  isw_writer_destroy(wp);
  return err;
}

void isw_writer_destroy(isw_writer **wp) {
  if (!wp || !*wp) return;
  isw_writer *w = *wp;
  *wp = NULL;
  if (w->have_thread) {
    atomic_store(&w->quit, 1);
    pthread_join(w->thread, NULL);
  }
  for (int i = 0; i < w->n_buf; ++i) held_free(&w->buf[i]);
  free(w->buf);
  free(w->send);
  free(w->lost);
  if (w->comm != MPI_COMM_NULL) MPI_Comm_free(&w->comm);
  free(w);
}
