/* bench_maml_step.c — seconds per maml meta-step for one (width, N,
 * precision), for bench/bench_vs_torch.py: the workload of bench_maml and
 * of the maml family's run() at its defaults (sinusoid tasks, B = 25 fresh
 * tasks per meta-batch, K = 10 support and 10 query points each, the
 * 1 -> w -> w -> 1 relu network, N inner steps of inner_lr 0.01, the exact
 * second-order meta-gradient in sub-batches of ISW_MAML_SUB_BATCH, Adam
 * with lr 1e-3).  A meta-step is: draw the meta-batch, meta-gradient, Adam
 * step.  This file is typed source (nn.h): built for double as it is and
 * for float by bench_maml_step_s.c; main is in the double build.
 * Usage: bench_maml_step WIDTH N float32|float64 [MIN_SECONDS]
 * Prints one line: "maml width W N n precision P s_per_step T" (T the best
 * block mean of the process's CPU time over at least MIN_SECONDS of it,
 * default 1; torch_peer.py maml measures the same way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/maml.h"
#include "isweep/nn.h"
#include "isweep/rng.h"

#ifdef ISW_REAL_FLOAT
#define bench_meta_step_time bench_meta_step_time_s
#endif

enum { BENCH_B = 25, BENCH_K = 10 };

double bench_meta_step_time(int W, int N, double min_s);

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best CPU seconds of the process per meta-step over blocks of >= 50 ms (CPU time, not
 * wall time: the shared machine preempts the process); -1 on failure. */
double bench_meta_step_time(int W, int N, double min_s) {
  const int B = BENCH_B, K = BENCH_K;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  isw_maml_ws *ws = NULL;
  isw_nn_adam *adam = NULL;
  isw_maml_tasks tasks = {0};
  isw_real *theta = malloc(sizeof *theta * (size_t)net.P), *grad = malloc(sizeof *grad * (size_t)net.P);
  isw_real *xs = malloc(sizeof *xs * B * K), *ys = malloc(sizeof *ys * B * K);
  isw_real *xq = malloc(sizeof *xq * B * K), *yq = malloc(sizeof *yq * B * K);
  double best = -1.0, loss;
  isw_rng r;
  isw_rng_init(&r, 20231, (uint64_t)W, ISW_STREAM_INIT);
  if (!theta || !grad || !xs || !ys || !xq || !yq ||
      isw_maml_tasks_init(&tasks, 20231, (uint64_t)W, 1, K, 0) ||
      isw_maml_ws_create(&ws, &net, ISW_MAML_SUB_BATCH, K, K, N) ||
      isw_nn_adam_create(&adam, net.P, 1e-3))
    goto done;
  isw_maml_init_params(theta, &net, &r);
  int64_t block = 1;
  best = 1e300;
  double t_all = cpu_s();
  for (int warm = -2; cpu_s() - t_all < min_s || warm < 1; ++warm) {
    double t0 = cpu_s();
    for (int64_t s = 0; s < block; ++s) {
      isw_maml_tasks_meta_batch(&tasks, xs, ys, xq, yq, B);
      if (isw_maml_meta_grad(grad, &loss, ws, theta, xs, ys, xq, yq, B, K, K, N, 0.01, 2)) {
        best = -1.0;
        goto done;
      }
      isw_nn_adam_step(adam, theta, grad);
    }
    double per = (cpu_s() - t0) / (double)block;
    if (warm >= 0 && per < best) best = per;
    if (per * (double)block < 0.05) block *= 2;
  }
done:
  free(theta), free(grad), free(xs), free(ys), free(xq), free(yq);
  isw_maml_tasks_free(&tasks);
  isw_nn_adam_destroy(&adam);
  isw_maml_ws_destroy(&ws);
  return best;
}

#ifndef ISW_REAL_FLOAT
double bench_meta_step_time_s(int W, int N, double min_s);

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "float32") != 0 && strcmp(argv[3], "float64") != 0)) {
    fprintf(stderr, "usage: bench_maml_step WIDTH N float32|float64 [MIN_SECONDS]\n");
    return 2;
  }
  int W = atoi(argv[1]), N = atoi(argv[2]);
  double min_s = argc > 4 ? atof(argv[4]) : 1.0;
  if (W < 1 || W > 4096 || N < 1 || N > 1000) {
    fprintf(stderr, "bench_maml_step: width %s or N %s out of range (1..4096, 1..1000)\n", argv[1], argv[2]);
    return 2;
  }
  int f32 = strcmp(argv[3], "float32") == 0;
  double t = f32 ? bench_meta_step_time_s(W, N, min_s) : bench_meta_step_time(W, N, min_s);
  if (t < 0) {
    fprintf(stderr, "bench_maml_step: meta-step failed (out of memory?)\n");
    return 1;
  }
  printf("maml width %d N %d precision %s s_per_step %.6e\n", W, N, argv[3], t);
  return 0;
}
#endif
