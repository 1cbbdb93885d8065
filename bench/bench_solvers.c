/* bench_solvers.c — the inner solvers side by side (issue #12): f
 * evaluations and wall time for Picard, Anderson and Broyden to bring every
 * sample of the digits test split (449 rows) to max relative residual
 * ||f(z) - z|| / ||f(z)|| <= 1e-6 from z_0 = 0, for the deq map
 * f(z) = tanh(W z + U x + b) at widths 64 and 256, W Gaussian rescaled
 * to spectral radius 0.9 and 0.99 and U (N(0, 1/D)) scaled by 0.1, b = 0, so
 * that tanh works near its linear range and the iteration contracts at
 * about that rate (the slow regime where solvers differ), and the ratio of
 * each to Picard.  Time is the minimum over 3 repetitions
 * (OPENBLAS_NUM_THREADS=1).  A benchmark, not a test: it asserts nothing
 * (ctest label `bench`).  Options: --quick (1 repetition). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/data.h"
#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/rng.h"
#include "isweep/solvers.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "bench_solvers: %s failed: %s\n%s", what, isw_error_message(), isw_error_traceback());
  exit(1);
}

typedef struct {
  const isw_deq_model *m;
  const double *xu; /* (B, H) */
} map_ctx;

static int deq_map(void *ctx, isw_real *fz, const isw_real *z, int64_t rows) {
  const map_ctx *c = ctx;
  isw_deq_step(0, c->m->act, fz, z, c->m->W, c->xu, rows, c->m->h);
  return 0;
}

int main(int argc, char **argv) {
  int reps = 3;
  for (int i = 1; i < argc; ++i)
    if (strcmp(argv[i], "--quick") == 0) reps = 1;
  MPI_Init(&argc, &argv);
  isw_dataset *ds = NULL;
  if (isw_data_digits(&ds, 0.25, 1, 2)) die("digits");
  int64_t n = ds->n_test, d = ds->d;
  const int64_t widths[2] = {64, 256};
  const double scales[2] = {0.9, 0.99};
  const char *names[3] = {"picard", "anderson(m=5)", "broyden(m=30)"};
  const int mem[3] = {1, 5, 30};
  printf("bench_solvers: digits test split (%lld rows), f(z) = tanh(W z + U x + b), tol 1e-6 "
         "(max over rows of ||f(z)-z||/||f(z)||), min of %d runs\n\n", (long long)n, reps);
  printf("| width | rho(W) | solver | f evaluations | vs picard | ms | vs picard | fallbacks |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  for (int wi = 0; wi < 2; ++wi)
    for (int si = 0; si < 2; ++si) {
      int64_t h = widths[wi];
      isw_deq_model *m = NULL;
      if (isw_deq_model_create(&m, h, d, ds->k, ISW_DEQ_TANH, 1)) die("model");
      isw_rng r;
      isw_rng_init(&r, 7, (uint64_t)h, ISW_STREAM_INIT);
      if (isw_deq_model_init(m, 0.5, &r)) die("init");
      /* W rescaled to spectral radius rho, inputs scaled down so tanh works near its
         linear range: the contraction factor is about rho, the hard regime */
      double rho = 0.0;
      if (isw_deq_spectral_radius(&rho, m->W, h)) die("spectral radius");
      for (int64_t q = 0; q < h * h; ++q) m->W[q] *= scales[si] / rho;
      for (int64_t q = 0; q < h * d; ++q) m->U[q] *= 0.1;
      double *xu = malloc(sizeof(double) * n * h), *z = malloc(sizeof(double) * n * h);
      double *fz = malloc(sizeof(double) * n * h), *tmp = malloc(sizeof(double) * n * h);
      if (!xu || !z || !fz || !tmp) die("allocation");
      isw_deq_affine(0, xu, ds->x_test, m->U, m->b, n, h, d);
      map_ctx ctx = {.m = m, .xu = xu};
      double t_p = 0.0, e_p = 0.0;
      for (int k = 0; k < 3; ++k) {
        isw_solver_opts o = {.kind = (isw_solver_kind)k, .beta = 1.0, .m = mem[k], .lambda = 1e-8};
        isw_solver *s = NULL;
        if (isw_solver_create(&s, &o, n, h)) die("solver");
        double best = 1e300;
        isw_solver_result res = {0};
        for (int rep = 0; rep < reps; ++rep) {
          memset(z, 0, sizeof(double) * n * h);
          double t0 = now();
          if (isw_solver_solve(&res, s, deq_map, &ctx, z, fz, tmp, n, 1e-6, 100000)) die("solve");
          double dt = now() - t0;
          if (dt < best) best = dt;
        }
        if (k == 0) t_p = best, e_p = (double)res.evals;
        printf("| %lld | %.2f | %s | %lld%s | %.2f | %.1f | %.2f | %lld |\n", (long long)h,
               scales[si], names[k], (long long)res.evals, res.converged ? "" : " (not converged)",
               (double)res.evals / e_p, 1e3 * best, best / t_p,
               (long long)(isw_solver_fallbacks(s) / reps));
        fflush(stdout);
        isw_solver_destroy(&s);
      }
      free(xu), free(z), free(fz), free(tmp);
      isw_deq_model_destroy(&m);
    }
  isw_data_destroy(&ds);
  MPI_Finalize();
  return 0;
}
