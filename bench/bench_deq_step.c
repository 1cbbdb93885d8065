/* bench_deq_step.c — seconds per deq training step for one (width, N,
 * precision), for bench/bench_vs_torch.py: the workload of bench_deq
 * (teacher d_x = 16, 512 rows full batch, tanh, unrolled, Adam).  This file
 * is typed source (nn.h): built for double as it is and for float by
 * bench_deq_step_s.c; main is in the double build.
 * Usage: bench_deq_step WIDTH N float32|float64 [MIN_SECONDS]
 * Prints one line: "deq width W N n precision P s_per_step T" (T the best
 * block mean over at least MIN_SECONDS, default 1). */
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
#endif

double bench_step_time(const isw_dataset *ds, int64_t h, int64_t n_iters, double min_s);

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

#ifndef ISW_REAL_FLOAT
double bench_step_time_s(const isw_dataset *ds, int64_t h, int64_t n_iters, double min_s);

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "float32") != 0 && strcmp(argv[3], "float64") != 0)) {
    fprintf(stderr, "usage: bench_deq_step WIDTH N float32|float64 [MIN_SECONDS]\n");
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
  int f32 = strcmp(argv[3], "float32") == 0;
  double t = f32 ? bench_step_time_s(ds, h, n_iters, min_s) : bench_step_time(ds, h, n_iters, min_s);
  isw_data_destroy(&ds);
  if (t < 0) {
    fprintf(stderr, "bench_deq_step: step failed: %s\n", isw_error_message());
    return 1;
  }
  printf("deq width %lld N %lld precision %s s_per_step %.6e\n", (long long)h, (long long)n_iters,
         argv[3], t);
  return 0;
}
#endif
