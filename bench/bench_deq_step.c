/* bench_deq_step.c — seconds per deq training step for one (width, N,
 * precision), for bench/bench_vs_torch.py: the workload of bench_deq
 * (teacher d_x = 16, 512 rows full batch, tanh, unrolled, Adam).  This file
 * is typed source (nn.h): built for double as it is and for float by
 * bench_deq_step_s.c; main is in the double build.
 * Usage: bench_deq_step WIDTH N float32|float64 [MIN_SECONDS] [gemm]
 * Prints one line: "deq width W N n precision P s_per_step T" (T the best
 * block mean over at least MIN_SECONDS, default 1).  With "gemm": the same
 * line for the step's matrix products alone, at their exact shapes and
 * layouts (bench_gemm_time; "gemm_s_per_step T"): the GEMM floor of a step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/data.h"
#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/rng.h"

#ifdef ISW_REAL_FLOAT
#define bench_step_time bench_step_time_s
#define bench_gemm_time bench_gemm_time_s
#endif

double bench_step_time(const isw_dataset *ds, int64_t h, int64_t n_iters, double min_s);
double bench_gemm_time(int64_t rows, int64_t h, int64_t d, int64_t n_iters, double min_s);

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best seconds per step (loss + gradient + Adam) over blocks of >= 50 ms; -1 on failure. */
double bench_step_time(const isw_dataset *ds, int64_t h, int64_t n_iters, double min_s) {
  isw_deq_model *m = NULL;
  isw_deq_work *ws = NULL;
  isw_nn_adam *adam = NULL;
  isw_real *x = NULL, *y = NULL, *grad = NULL;
  double best = -1.0, loss;
  int64_t n = ds->n_train;
  if (isw_deq_model_create(&m, h, ds->d, ds->k, ISW_DEQ_TANH, 0)) goto done;
  isw_rng r;
  isw_rng_init(&r, 20231, (uint64_t)h, ISW_STREAM_INIT);
  if (isw_deq_model_init(m, 0.5, &r) || isw_deq_work_create(&ws, m, n, n_iters, ISW_DEQ_UNROLLED) ||
      isw_nn_adam_create(&adam, m->n_params, 1e-3))
    goto done;
  x = malloc(sizeof *x * (size_t)(n * ds->d));
  y = malloc(sizeof *y * (size_t)(n * ds->k));
  grad = calloc((size_t)m->n_params, sizeof *grad);
  if (!x || !y || !grad) goto done;
  for (int64_t i = 0; i < n * ds->d; ++i) x[i] = (isw_real)ds->x_train[i];
  for (int64_t i = 0; i < n * ds->k; ++i) y[i] = (isw_real)ds->y_train[i];
  int64_t block = 1;
  best = 1e300;
  double t_all = now_s();
  for (int warm = -2; now_s() - t_all < min_s || warm < 1; ++warm) {
    double t0 = now_s();
    for (int64_t s = 0; s < block; ++s) {
      if (isw_deq_loss_grad(&loss, grad, NULL, m, ws, x, y, NULL, n, n_iters, ISW_DEQ_UNROLLED, NULL)) {
        best = -1.0;
        goto done;
      }
      isw_nn_adam_step(adam, m->theta, grad);
    }
    double per = (now_s() - t0) / (double)block;
    if (warm >= 0 && per < best) best = per;
    if (per * (double)block < 0.05) block *= 2;
  }
done:
  free(x), free(y), free(grad);
  isw_nn_adam_destroy(&adam);
  isw_deq_work_destroy(&ws);
  isw_deq_model_destroy(&m);
  return best;
}

/* The GEMMs of one unrolled step of isw_deq_loss_grad (deq_net.c; K = 1
 * output, plain Picard), in its order, shapes and layouts, on buffers
 * sized like the workspace: B = rows, H = h, D = d. */
static void step_gemms(isw_real *const *buf, int64_t rows, int64_t h, int64_t d, int64_t n_iters) {
  isw_real *x = buf[0], *u = buf[1], *xu = buf[2], *w = buf[3], *zs = buf[4], *das = buf[5],
           *v = buf[6], *y = buf[7], *g = buf[8], *gw = buf[9], *gu = buf[10], *gv = buf[11];
  int64_t bh = rows * h;
  isw_nn_gemm(0, 0, 1, rows, h, d, 1.0, x, d, u, d, 1.0, xu, h); /* XU = X Uᵀ + b */
  for (int64_t it = 1; it < n_iters; ++it) /* z_{k+1} = s(z_k Wᵀ + XU) */
    isw_nn_gemm(0, 0, 1, rows, h, h, 1.0, zs + (it - 1) * bh, h, w, h, 1.0, zs + it * bh, h);
  isw_nn_gemm(0, 0, 1, rows, 1, h, 1.0, zs + (n_iters - 1) * bh, h, v, h, 1.0, y, 1); /* yhat */
  isw_nn_gemm(0, 1, 0, 1, h, rows, 1.0, y, 1, zs + (n_iters - 1) * bh, h, 0.0, gv, h); /* dV */
  isw_nn_gemm(0, 0, 0, rows, h, 1, 1.0, y, 1, v, h, 0.0, g, h); /* G = dY V */
  for (int64_t it = n_iters - 1; it >= 1; --it) /* G <- dA_k W */
    isw_nn_gemm(0, 0, 0, rows, h, h, 1.0, das + it * bh, h, w, h, 0.0, g, h);
  if (n_iters > 1) /* dW = Σ dA_kᵀ z^(k): one GEMM over the stacked rows */
    isw_nn_gemm(0, 1, 0, h, h, (n_iters - 1) * rows, 1.0, das + bh, h, zs, h, 0.0, gw, h);
  isw_nn_gemm(0, 1, 0, h, d, rows, 1.0, g, h, x, d, 0.0, gu, d); /* dU = dXUᵀ X */
}

/* Best seconds per step_gemms call over blocks of >= 50 ms; -1 on failure. */
double bench_gemm_time(int64_t rows, int64_t h, int64_t d, int64_t n_iters, double min_s) {
  int64_t bh = rows * h;
  int64_t len[12] = {rows * d, h * d, bh, h * h, n_iters * bh, n_iters * bh, h, rows, bh, h * h, h * d, h};
  isw_real *buf[12] = {0};
  double best = -1.0;
  for (int i = 0; i < 12; ++i) {
    buf[i] = malloc(sizeof *buf[i] * (size_t)len[i]);
    if (!buf[i]) goto done;
    for (int64_t j = 0; j < len[i]; ++j) buf[i][j] = (isw_real)(0.01 * (double)((j * 7 + i) % 13) - 0.06);
  }
  int64_t block = 1;
  best = 1e300;
  double t_all = now_s();
  for (int warm = -2; now_s() - t_all < min_s || warm < 1; ++warm) {
    double t0 = now_s();
    for (int64_t s = 0; s < block; ++s) step_gemms(buf, rows, h, d, n_iters);
    double per = (now_s() - t0) / (double)block;
    if (warm >= 0 && per < best) best = per;
    if (per * (double)block < 0.05) block *= 2;
  }
done:
  for (int i = 0; i < 12; ++i) free(buf[i]);
  return best;
}

#ifndef ISW_REAL_FLOAT
double bench_step_time_s(const isw_dataset *ds, int64_t h, int64_t n_iters, double min_s);
double bench_gemm_time_s(int64_t rows, int64_t h, int64_t d, int64_t n_iters, double min_s);

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "float32") != 0 && strcmp(argv[3], "float64") != 0)) {
    fprintf(stderr, "usage: bench_deq_step WIDTH N float32|float64 [MIN_SECONDS] [gemm]\n");
    return 2;
  }
  int64_t h = atoll(argv[1]), n_iters = atoll(argv[2]);
  double min_s = argc > 4 ? atof(argv[4]) : 1.0;
  isw_teacher_opts o = {.n_train = 512, .n_test = 16, .x_dim = 16, .teacher_width = 32, .noise = 0.1};
  isw_dataset *ds = NULL;
  if (h < 1 || n_iters < 1 || isw_data_teacher(&ds, &o, 20231, 1)) {
    fprintf(stderr, "bench_deq_step: bad width/N or data: %s\n", isw_error_message());
    return 2;
  }
  int f32 = strcmp(argv[3], "float32") == 0, gemm = argc > 5 && strcmp(argv[5], "gemm") == 0;
  double t = gemm  ? (f32 ? bench_gemm_time_s : bench_gemm_time)(ds->n_train, h, ds->d, n_iters, min_s)
             : f32 ? bench_step_time_s(ds, h, n_iters, min_s)
                   : bench_step_time(ds, h, n_iters, min_s);
  isw_data_destroy(&ds);
  if (t < 0) {
    fprintf(stderr, "bench_deq_step: step failed: %s\n", isw_error_message());
    return 1;
  }
  printf("deq width %lld N %lld precision %s %s %.6e\n", (long long)h, (long long)n_iters, argv[3],
         gemm ? "gemm_s_per_step" : "s_per_step", t);
  return 0;
}
#endif
