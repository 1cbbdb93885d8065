/* bench_gemm_rate.c — the single-core sgemm and dgemm rates (best GFLOP/s
 * of (512 x 1024)·(1024 x 1024) products over >= 1 s each), for
 * bench/bench_vs_torch.py.  Prints "sgemm G" and "dgemm G" lines. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
  enum { M = 512, N = 1024, K = 1024 };
  float *as = malloc(sizeof(float) * M * K), *bs = malloc(sizeof(float) * K * N), *cs = calloc(M * N, sizeof(float));
  double *ad = malloc(sizeof(double) * M * K), *bd = malloc(sizeof(double) * K * N), *cd = calloc(M * N, sizeof(double));
  if (!as || !bs || !cs || !ad || !bd || !cd) return 1;
  for (long i = 0; i < (long)M * K; ++i) as[i] = (float)(ad[i] = (double)(i % 97) / 97.0 - 0.5);
  for (long i = 0; i < (long)K * N; ++i) bs[i] = (float)(bd[i] = (double)(i % 89) / 89.0 - 0.5);
  for (int prec = 0; prec < 2; ++prec) {
    double best = 0.0, t_all = now_s();
    while (now_s() - t_all < 1.0) {
      double t0 = now_s();
      if (prec == 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, as, K, bs, N, 0.0f, cs, N);
      else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0, ad, K, bd, N, 0.0, cd, N);
      double r = 2.0 * M * N * K / (now_s() - t0) / 1e9;
      if (r > best) best = r;
    }
    printf("%s %.2f\n", prec == 0 ? "sgemm" : "dgemm", best);
  }
  free(as), free(bs), free(cs), free(ad), free(bd), free(cd);
  return 0;
}
