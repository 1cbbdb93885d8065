/* bench_maml.c — time per meta-step of the maml family and the share of it
 * spent in BLAS, plus an ad-hoc driver for full-budget runs.
 *
 *   bench_maml                      the table: (w, N) in {40, 128} x {1, 5},
 *                                   B = 25, K = 10, second order, relu, in
 *                                   sub-batches of ISW_MAML_SUB_BATCH as run()
 *   bench_maml steps W N [S]        one (W, N) case, S timed meta-steps
 *   bench_maml run W N S [key=value ...] [ti=a:b]
 *                                   a whole config through the family's run()
 *                                   (train + evaluate), printing its curves
 *
 * BLAS share: the executable is linked with -Wl,--wrap=cblas_dgemm, so every
 * dgemm of the library lands in __wrap_cblas_dgemm below, which times it
 * (clock_gettime, ~20 ns a call) when `timing` is on.  Each case runs once
 * with the wrapper timing and once without, to show the wrapper's overhead.
 * The kernels make no other BLAS calls (maml_net.c: mm() is the only one).
 * Single rank; set OPENBLAS_NUM_THREADS=1. */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/maml.h"
#include "isweep/nn.h"
#include "isweep/rng.h"
#include "isweep/task.h"

extern const isw_task isw_task_maml;

/* ---- the dgemm wrapper ----------------------------------------------------- */

static int timing = 0;
static double blas_seconds = 0.0, blas_flops = 0.0;
static long blas_calls = 0;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of the process: robust to other jobs sharing the cores. */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void __real_cblas_dgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                        const blasint k, const double alpha, const double *a, const blasint lda,
                        const double *b, const blasint ldb, const double beta, double *c,
                        const blasint ldc);
void __wrap_cblas_dgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                        const blasint k, const double alpha, const double *a, const blasint lda,
                        const double *b, const blasint ldb, const double beta, double *c,
                        const blasint ldc);
void __wrap_cblas_dgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                        const blasint k, const double alpha, const double *a, const blasint lda,
                        const double *b, const blasint ldb, const double beta, double *c,
                        const blasint ldc) {
  if (!timing) {
    __real_cblas_dgemm(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  double t0 = now();
  __real_cblas_dgemm(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  blas_seconds += now() - t0;
  blas_flops += 2.0 * m * n * k;
  ++blas_calls;
}

/* ---- time per meta-step ------------------------------------------------------ */

typedef struct {
  double ms_timed, ms_plain, cpu_ms_plain, blas_share, blas_gflops, calls_per_step, gflops_model;
  double cpu_ms_one_at_a_time, cpu_ms_one_batch, cpu_ms_loops;
} step_stats;

/* S meta-steps (meta-gradient + Adam) on fresh tasks after 5 warm-up steps,
 * as run() does them (sub-batches of ISW_MAML_SUB_BATCH tasks); then, for
 * comparison, the same step one task at a time (B calls with B = 1,
 * averaged), as one batch of all B tasks, and with plain loops instead of
 * dgemm. */
static int time_steps(step_stats *st, int W, int N, int B, int K, int S, int order) {
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL, *ws1 = NULL, *wsb = NULL;
  int Bs = B < ISW_MAML_SUB_BATCH ? B : ISW_MAML_SUB_BATCH;
  if (isw_maml_ws_create(&ws, &net, Bs, K, K, N)) return 1;
  if (isw_maml_ws_create(&ws1, &net, 1, K, K, N)) return 1;
  if (isw_maml_ws_create(&wsb, &net, B, K, K, N)) return 1;
  double *g1 = malloc(sizeof(double) * P);
  double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
  isw_nn_adam *adam = NULL;
  if (isw_nn_adam_create(&adam, P, 1e-3)) {
    fprintf(stderr, "bench_maml: out of memory\n");
    exit(1);
  }
  double *xs = malloc(sizeof(double) * B * K), *ys = malloc(sizeof(double) * B * K);
  double *xq = malloc(sizeof(double) * B * K), *yq = malloc(sizeof(double) * B * K);
  isw_rng r;
  isw_rng_init(&r, 1, 2, ISW_STREAM_INIT);
  isw_maml_init_params(theta, &net, &r);
  double loss = 0.0;
  for (int pass = 0; pass < 3; ++pass) { /* warm-up, timed wrapper, plain */
    int steps = pass == 0 ? 5 : S;
    timing = pass == 1;
    blas_seconds = blas_flops = 0.0;
    blas_calls = 0;
    double t0 = now(), c0 = cpu_now();
    for (int s = 0; s < steps; ++s) {
      isw_maml_sample_tasks(xs, ys, xq, yq, B, K, K, &r);
      isw_maml_meta_grad(g, &loss, ws, theta, xs, ys, xq, yq, B, K, K, N, 0.01, order);
      isw_nn_adam_step(adam, theta, g);
    }
    double dt = now() - t0, dc = cpu_now() - c0;
    if (pass == 1) {
      st->ms_timed = 1e3 * dt / S;
      st->blas_share = blas_seconds / dt;
      st->blas_gflops = blas_flops / blas_seconds * 1e-9;
      st->calls_per_step = (double)blas_calls / S;
      st->gflops_model = blas_flops / S;
    } else if (pass == 2) {
      st->ms_plain = 1e3 * dt / S;
      st->cpu_ms_plain = 1e3 * dc / S;
    }
  }
  timing = 0;
  /* one task at a time: B meta-gradients of one task each, averaged */
  int S1 = S / 4 > 5 ? S / 4 : 5;
  double c0 = cpu_now();
  for (int s = 0; s < S1; ++s) {
    isw_maml_sample_tasks(xs, ys, xq, yq, B, K, K, &r);
    memset(g, 0, sizeof(double) * P);
    for (int b = 0; b < B; ++b) {
      isw_maml_meta_grad(g1, &loss, ws1, theta, xs + b * K, ys + b * K, xq + b * K, yq + b * K,
                         1, K, K, N, 0.01, order);
      for (int64_t q = 0; q < P; ++q) g[q] += g1[q] / B;
    }
    isw_nn_adam_step(adam, theta, g);
  }
  st->cpu_ms_one_at_a_time = 1e3 * (cpu_now() - c0) / S1;
  /* one batch of all B tasks */
  c0 = cpu_now();
  for (int s = 0; s < S1; ++s) {
    isw_maml_sample_tasks(xs, ys, xq, yq, B, K, K, &r);
    isw_maml_meta_grad(g, &loss, wsb, theta, xs, ys, xq, yq, B, K, K, N, 0.01, order);
    isw_nn_adam_step(adam, theta, g);
  }
  st->cpu_ms_one_batch = 1e3 * (cpu_now() - c0) / S1;
  /* plain loops instead of dgemm */
  int S2 = S / 20 > 3 ? S / 20 : 3;
  isw_maml_ws_set_reference(ws, 1);
  c0 = cpu_now();
  for (int s = 0; s < S2; ++s) {
    isw_maml_sample_tasks(xs, ys, xq, yq, B, K, K, &r);
    isw_maml_meta_grad(g, &loss, ws, theta, xs, ys, xq, yq, B, K, K, N, 0.01, order);
    isw_nn_adam_step(adam, theta, g);
  }
  st->cpu_ms_loops = 1e3 * (cpu_now() - c0) / S2;
  if (!isfinite(loss)) fprintf(stderr, "bench_maml: non-finite meta-loss\n");
  isw_maml_ws_destroy(&ws1);
  isw_maml_ws_destroy(&wsb);
  free(g1);
  isw_maml_ws_destroy(&ws);
  free(theta), free(g), free(xs), free(ys), free(xq), free(yq);
  isw_nn_adam_destroy(&adam);
  return 0;
}

static void print_header(void) {
  printf("| w | N | CPU ms / meta-step | wall ms | wall ms, wrapper timing | dgemm calls / step "
         "| dgemm GFlop / step | BLAS share (wall) | BLAS GFlop/s | CPU ms, one task at a time "
         "| CPU ms, one batch of B | CPU ms, plain loops |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

static void print_row(int W, int N, const step_stats *st) {
  printf("| %d | %d | %.3f | %.3f | %.3f | %.0f | %.4f | %.1f %% | %.1f | %.3f | %.3f | %.3f |\n", W,
         N, st->cpu_ms_plain, st->ms_plain, st->ms_timed, st->calls_per_step, st->gflops_model * 1e-9,
         100 * st->blas_share, st->blas_gflops, st->cpu_ms_one_at_a_time, st->cpu_ms_one_batch,
         st->cpu_ms_loops);
  fflush(stdout);
}

/* ---- a whole config through run() ------------------------------------------- */

static int run_config(int W, int N, const char *S, int argc, char **argv) {
  const isw_task *task = &isw_task_maml;
  int64_t ti[4096];
  int nt = 0, lo = 0, hi = 4 * N > 20 ? 4 * N : 20;
  isw_config c;
  memset(&c, 0, sizeof c);
  c.task = task;
  c.width = W;
  c.train_iters = N;
  c.sweep_seed = 20231;
  c.id = 1;
  c.data_id = 2;
  for (int i = 0; i < task->n_params; ++i) {
    const isw_param_def *d = &task->params[i];
    const char *val = strcmp(d->name, "meta_steps") == 0 ? S : d->def;
    for (int a = 0; a < argc; ++a) {
      size_t n = strlen(d->name);
      if (strncmp(argv[a], d->name, n) == 0 && argv[a][n] == '=') val = argv[a] + n + 1;
    }
    if (d->type == ISW_PARAM_ENUM) {
      c.p[i].str = val;
      c.p[i].num = strcmp(val, "tanh") == 0 ? 1 : 0;
    } else {
      c.p[i].num = strtod(val, NULL);
    }
  }
  for (int a = 0; a < argc; ++a) {
    if (strncmp(argv[a], "ti=", 3) == 0) sscanf(argv[a] + 3, "%d:%d", &lo, &hi);
    if (strncmp(argv[a], "seed=", 5) == 0) c.id = 1 + strtoull(argv[a] + 5, NULL, 10);
  }
  for (int n = lo; n <= hi && nt < 4096; ++n) ti[nt++] = n;
  c.test_iters = ti;
  c.n_test = nt;
  isw_result res;
  memset(&res, 0, sizeof res);
  res.scalars = malloc(sizeof(double) * task->n_scalars);
  res.curves = malloc(sizeof(double) * task->n_curves * nt);
  for (int i = 0; i < task->n_scalars; ++i) res.scalars[i] = NAN;
  for (int i = 0; i < task->n_curves * nt; ++i) res.curves[i] = NAN;
  printf("maml w=%d N=%d meta_steps=%s cost %.3g flop\n", W, N, S, task->cost(&c));
  int err = task->run(&res, &c, MPI_COMM_SELF);
  if (err) return err;
  printf("status %s %s  rho %.4g  P %lld  train %.2f s  eval %.2f s\n", isw_status_name(res.status),
         res.message, res.rho, (long long)res.n_params, res.train_seconds, res.eval_seconds);
  for (int i = 0; i < task->n_scalars; ++i) printf("  %-24s %.6g\n", task->scalars[i].name, res.scalars[i]);
  printf("  n");
  for (int k = 0; k < task->n_curves; ++k) printf(" %s", task->curves[k].name);
  printf("\n");
  for (int j = 0; j < nt; ++j) {
    printf("  %lld", (long long)ti[j]);
    for (int k = 0; k < task->n_curves; ++k) printf(" %.5g", res.curves[k * nt + j]);
    printf("\n");
  }
  free(res.scalars);
  free(res.curves);
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int err = 0;
  if (argc >= 5 && strcmp(argv[1], "run") == 0) {
    err = run_config(atoi(argv[2]), atoi(argv[3]), argv[4], argc - 5, argv + 5);
  } else if (argc >= 4 && strcmp(argv[1], "steps") == 0) {
    step_stats st;
    int W = atoi(argv[2]), N = atoi(argv[3]), S = argc > 4 ? atoi(argv[4]) : 200;
    print_header();
    err = time_steps(&st, W, N, 25, 10, S, 2);
    if (!err) print_row(W, N, &st);
  } else {
    const int widths[] = {40, 128}, iters[] = {1, 5};
    print_header();
    for (int i = 0; i < 2 && !err; ++i)
      for (int j = 0; j < 2 && !err; ++j) {
        step_stats st;
        int S = widths[i] <= 40 ? 2000 : 300;
        err = time_steps(&st, widths[i], iters[j], 25, 10, S, 2);
        if (!err) print_row(widths[i], iters[j], &st);
      }
  }
  MPI_Finalize();
  return err;
}
