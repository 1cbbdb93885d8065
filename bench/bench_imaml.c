/* bench_imaml.c — CPU time per meta-step of iMAML against second-order MAML
 * on the same meta-batches, side by side in one run: (w, N) = (40, 5) and
 * (128, 16), B = 25, K = 10, relu, sub-batches of ISW_MAML_SUB_BATCH as the
 * families' run(); iMAML with lambda = 2 and cg_steps 5 (the defaults) and
 * 16.  Process CPU time (robust to other jobs on the cores), the median of
 * REPS repetitions of S meta-steps each; both methods alternate within a
 * repetition so load changes hit both.
 *
 *   bench_imaml            the table
 *   bench_imaml S REPS     other sizes
 * Single rank; set OPENBLAS_NUM_THREADS=1. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "isweep/imaml.h"
#include "isweep/maml.h"
#include "isweep/rng.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

enum { NMETHODS = 3 };

/* ms per meta-step of MAML (order 2) and iMAML (cg 5, cg 16) at (W, N) */
static int bench_case(double *ms /* (NMETHODS) */, int W, int N, int S, int reps) {
  const int B = 25, K = 10, sub = B < ISW_MAML_SUB_BATCH ? B : ISW_MAML_SUB_BATCH;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  int64_t P = net.P;
  isw_maml_ws *mws = NULL;
  isw_imaml_ws *iws = NULL;
  int err = isw_maml_ws_create(&mws, &net, sub, K, K, N);
  if (!err) err = isw_imaml_ws_create(&iws, &net, sub, K, K);
  double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
  double *xs = malloc(sizeof(double) * B * K), *ys = malloc(sizeof(double) * B * K);
  double *xq = malloc(sizeof(double) * B * K), *yq = malloc(sizeof(double) * B * K);
  double *t = malloc(sizeof(double) * NMETHODS * reps);
  isw_rng r;
  isw_rng_init(&r, 1, (uint64_t)W, ISW_STREAM_INIT);
  isw_maml_init_params(theta, &net, &r);
  isw_maml_sample_tasks(xs, ys, xq, yq, B, K, K, &r);
  const int cg[NMETHODS] = {0, 5, 16};
  for (int rep = 0; rep < reps && !err; ++rep)
    for (int m = 0; m < NMETHODS && !err; ++m) {
      double t0 = cpu_now(), loss;
      isw_imaml_opts o = {N, 0.01, 2.0, cg[m], 0.0};
      isw_imaml_stats st;
      for (int s = 0; s < S && !err; ++s)
        err = m == 0 ? isw_maml_meta_grad(g, &loss, mws, theta, xs, ys, xq, yq, B, K, K, N, 0.01, 2)
                     : isw_imaml_meta_grad(g, &st, iws, theta, xs, ys, xq, yq, B, K, K, &o);
      t[m * reps + rep] = 1e3 * (cpu_now() - t0) / S;
    }
  for (int m = 0; m < NMETHODS; ++m) {
    qsort(t + m * reps, (size_t)reps, sizeof(double), cmp);
    ms[m] = t[m * reps + reps / 2];
  }
  free(theta), free(g), free(xs), free(ys), free(xq), free(yq), free(t);
  isw_maml_ws_destroy(&mws);
  isw_imaml_ws_destroy(&iws);
  return err;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int S = argc > 1 ? atoi(argv[1]) : 20, reps = argc > 2 ? atoi(argv[2]) : 5, err = 0;
  const int cases[][2] = {{40, 5}, {128, 16}};
  printf("meta-step CPU ms (median of %d x %d steps), B = 25, K = 10, relu, lambda = 2\n", reps, S);
  printf("| w | N | MAML (2nd order) | iMAML cg 5 | ratio | iMAML cg 16 | ratio |\n");
  printf("|---|---|---|---|---|---|---|\n");
  for (int c = 0; c < 2 && !err; ++c) {
    double ms[NMETHODS];
    err = bench_case(ms, cases[c][0], cases[c][1], S, reps);
    if (!err)
      printf("| %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", cases[c][0], cases[c][1], ms[0], ms[1],
             ms[1] / ms[0], ms[2], ms[2] / ms[0]);
  }
  MPI_Finalize();
  return err ? 1 : 0;
}
