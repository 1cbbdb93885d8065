/* test_nn_small.c — isw_nn_gemm's small-width path (nn.c: N, K <= 32,
 * op(A) = A, no packing) against BLAS, in both precisions, over the shapes,
 * transposition flags, alpha and beta the families use: the deq step and
 * its backward (B, H)·(H, H)ᵀ and (B, H)·(H, H), the head (B, H)·(1, H)ᵀ
 * and (B, 1)·(1, H), the input affine (B, D)·(H, D)ᵀ, maml's per-task
 * (M, W)·(W, W) with W <= 32, odd row counts (the last row goes to BLAS),
 * padded leading dimensions and every width from 1 to 33.  Tolerance:
 * max |fast - BLAS| / max |BLAS| <= 1e-13 in float64, 1e-5 in float32
 * (the path sums in OpenBLAS's order, so on this machine's OpenBLAS the
 * two are bitwise equal in float64; other BLAS differ by rounding).  The
 * float32 build has the path switched off (nn.c), so its comparison holds
 * as long as that stays so or a float32 kernel agrees.  Also: entries
 * outside C's (M, N) block are never written, and beta = 0 never reads C;
 * isw_nn_gemm_add (C = A op(B) + D, the deq step) against copying D into
 * C and BLAS, D unchanged.
 * Where the path does not run (no AVX2/FMA, another compiler) both sides
 * are BLAS and the comparisons hold trivially; the suite says so. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "isweep/nn.h"
#include "isweep/real_s.h"
#include "isweep/nn.h"
#include "isweep/real_end.h"
#include "testutil.h"

#define SENTINEL 12345.0 /* C's padding: never written */

/* Worst relative difference of the fast path against BLAS for one shape, in
 * float64 (f32 = 0) or float32; *untouched = 0 when an entry outside C's
 * block changed.  beta = 0 runs with C full of NaN (it must not be read). */
static double compare(int f32, int tb, int64_t m, int64_t n, int64_t k, double alpha, double beta,
                      int *untouched, uint64_t seed) {
  int64_t lda = k + 1, ldb = (tb ? k : n) + 2, ldc = n + 3, brows = tb ? n : k;
  double *a = malloc(sizeof *a * (size_t)(m * lda)), *b = malloc(sizeof *b * (size_t)(brows * ldb));
  double *c1 = malloc(sizeof *c1 * (size_t)(m * ldc)), *c2 = malloc(sizeof *c2 * (size_t)(m * ldc));
  float *af = malloc(sizeof *af * (size_t)(m * lda)), *bf = malloc(sizeof *bf * (size_t)(brows * ldb));
  float *c1f = malloc(sizeof *c1f * (size_t)(m * ldc)), *c2f = malloc(sizeof *c2f * (size_t)(m * ldc));
  CU_ASSERT_FATAL(a && b && c1 && c2 && af && bf && c1f && c2f);
  uint64_t s = seed * 2654435761u + 1;
#define NEXT() ((double)((s = s * 6364136223846793005u + 1442695040888963407u) >> 11) / 9007199254740992.0 - 0.5)
  for (int64_t i = 0; i < m * lda; ++i) af[i] = (float)(a[i] = NEXT());
  for (int64_t i = 0; i < brows * ldb; ++i) bf[i] = (float)(b[i] = NEXT());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      double v = j >= n ? SENTINEL : beta == 0.0 ? NAN : NEXT();
      c1f[i * ldc + j] = c2f[i * ldc + j] = (float)(c1[i * ldc + j] = c2[i * ldc + j] = v);
    }
#undef NEXT
  double num = 0.0, den = 0.0;
  if (f32) {
    isw_nn_gemm_s(ISW_NN_BLAS, 0, tb, m, n, k, (float)alpha, af, lda, bf, ldb, (float)beta, c1f, ldc);
    isw_nn_gemm_s(ISW_NN_FAST, 0, tb, m, n, k, (float)alpha, af, lda, bf, ldb, (float)beta, c2f, ldc);
  } else {
    isw_nn_gemm(ISW_NN_BLAS, 0, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
    isw_nn_gemm(ISW_NN_FAST, 0, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, ldc);
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      double x = f32 ? c1f[i * ldc + j] : c1[i * ldc + j], y = f32 ? c2f[i * ldc + j] : c2[i * ldc + j];
      if (j >= n) {
        if (y != SENTINEL) *untouched = 0;
        continue;
      }
      double d = fabs(x - y);
      if (!(d <= num)) num = d; /* NaN: the worst */
      if (fabs(x) > den) den = fabs(x);
    }
  free(a), free(b), free(c1), free(c2), free(af), free(bf), free(c1f), free(c2f);
  return num / (den > 0.0 ? den : 1.0);
}

/* isw_nn_gemm_add on the small path against copying D into C, then BLAS
 * (its contract): worst relative difference, float64 and float32; C's
 * padding untouched, D unchanged. */
static double compare_add(int f32, int tb, int64_t m, int64_t h, int *untouched, uint64_t seed) {
  int64_t ld = h + 1, ldc = h + 3;
  double *a = malloc(sizeof *a * (size_t)(m * ld)), *w = malloc(sizeof *w * (size_t)(h * ld));
  double *dd = malloc(sizeof *dd * (size_t)(m * ld)), *c1 = malloc(sizeof *c1 * (size_t)(m * ldc));
  double *c2 = malloc(sizeof *c2 * (size_t)(m * ldc));
  float *af = malloc(sizeof *af * (size_t)(m * ld)), *wf = malloc(sizeof *wf * (size_t)(h * ld));
  float *df = malloc(sizeof *df * (size_t)(m * ld)), *c1f = malloc(sizeof *c1f * (size_t)(m * ldc));
  float *c2f = malloc(sizeof *c2f * (size_t)(m * ldc));
  CU_ASSERT_FATAL(a && w && dd && c1 && c2 && af && wf && df && c1f && c2f);
  for (int64_t i = 0; i < m * ld; ++i) {
    af[i] = (float)(a[i] = sin(0.37 * (double)(i + seed)));
    df[i] = (float)(dd[i] = cos(0.11 * (double)(i + 3 * seed)));
  }
  for (int64_t i = 0; i < h * ld; ++i) wf[i] = (float)(w[i] = sin(0.23 * (double)i + (double)seed));
  for (int64_t i = 0; i < m * ldc; ++i) c1f[i] = c2f[i] = (float)(c1[i] = c2[i] = SENTINEL);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < h; ++j) {
      c1[i * ldc + j] = dd[i * ld + j];
      c1f[i * ldc + j] = df[i * ld + j];
    }
  if (f32) {
    isw_nn_gemm_s(ISW_NN_BLAS, 0, tb, m, h, h, 1.0f, af, ld, wf, ld, 1.0f, c1f, ldc);
    isw_nn_gemm_add_s(ISW_NN_FAST, tb, m, h, h, af, ld, wf, ld, df, ld, c2f, ldc);
  } else {
    isw_nn_gemm(ISW_NN_BLAS, 0, tb, m, h, h, 1.0, a, ld, w, ld, 1.0, c1, ldc);
    isw_nn_gemm_add(ISW_NN_FAST, tb, m, h, h, a, ld, w, ld, dd, ld, c2, ldc);
  }
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      double x = f32 ? c1f[i * ldc + j] : c1[i * ldc + j], y = f32 ? c2f[i * ldc + j] : c2[i * ldc + j];
      if (j >= h) {
        if (y != SENTINEL) *untouched = 0;
        continue;
      }
      if (!(fabs(x - y) <= num)) num = fabs(x - y);
      if (fabs(x) > den) den = fabs(x);
    }
    for (int64_t j = 0; j < h; ++j)
      if ((f32 ? df[i * ld + j] : dd[i * ld + j]) != (f32 ? (double)(float)cos(0.11 * (double)(i * ld + j + 3 * seed))
                                                        : cos(0.11 * (double)(i * ld + j + 3 * seed))))
        *untouched = 0;
  }
  free(a), free(w), free(dd), free(c1), free(c2), free(af), free(wf), free(df), free(c1f), free(c2f);
  return num / (den > 0.0 ? den : 1.0);
}

/* Every shape of the families at width h (B rows; d = 16 inputs; maml's M = 10 rows per task). */
static void check_width(int f32, int64_t h, double tol, double *worst, int *untouched, uint64_t *seed) {
  static const int64_t rows[] = {512, 256, 37, 10, 2, 1};
  static const double alphas[] = {1.0, 0.37}, betas[] = {0.0, 1.0, 0.5};
  for (size_t r = 0; r < sizeof rows / sizeof *rows; ++r)
    for (int tb = 0; tb < 2; ++tb)
      for (int ia = 0; ia < 2; ++ia)
        for (int ib = 0; ib < 3; ++ib) {
          int64_t shapes[4][2] = {{h, h}, {1, h}, {h, 1}, {h, 16}}; /* (n, k) */
          for (int q = 0; q < 4; ++q) {
            double e = compare(f32, tb, rows[r], shapes[q][0], shapes[q][1], alphas[ia], betas[ib],
                               untouched, ++*seed);
            if (!(e <= tol))
              printf("\n  %s m %lld n %lld k %lld tb %d alpha %g beta %g: relative difference %.3g",
                     f32 ? "float32" : "float64", (long long)rows[r], (long long)shapes[q][0],
                     (long long)shapes[q][1], tb, alphas[ia], betas[ib], e);
            if (!(e <= *worst)) *worst = e;
          }
        }
  for (size_t r = 0; r < sizeof rows / sizeof *rows; ++r)
    for (int tb = 0; tb < 2; ++tb) {
      double e = compare_add(f32, tb, rows[r], h, untouched, ++*seed);
      if (!(e <= tol))
        printf("\n  %s gemm_add m %lld h %lld tb %d: relative difference %.3g", f32 ? "float32" : "float64",
               (long long)rows[r], (long long)h, tb, e);
      if (!(e <= *worst)) *worst = e;
    }
}

static void check_precision(int f32, double tol) {
  double worst = 0.0;
  int untouched = 1;
  uint64_t seed = 0;
  for (int64_t h = 1; h <= 33; ++h) check_width(f32, h, tol, &worst, &untouched, &seed);
  printf("\n  %s: worst relative difference %.3g (small path %s)", f32 ? "float32" : "float64", worst,
         f32 ? "off in the float32 build" : isw_nn_small_available() ? "on" : "not available: both sides BLAS");
  CU_ASSERT(worst <= tol);
  CU_ASSERT(untouched);
}

static void test_small_matches_blas_f64(void) { check_precision(0, 1e-13); }
static void test_small_matches_blas_f32(void) { check_precision(1, 1e-5); }

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"float64 small-width GEMM and GEMM+addend = BLAS to 1e-13 (every deq/maml shape, w 1..33, alpha, beta, ld)",
       test_small_matches_blas_f64},
      {"float32 small-width GEMM = BLAS to 1e-5 (the same shapes)", test_small_matches_blas_f32},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "nn_small", cases);
}
