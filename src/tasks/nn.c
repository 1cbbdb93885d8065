/* nn.c — the GEMM entry and Adam shared by the neural families (nn.h).
 * Owns no state; never talks MPI or HDF5.  Typed source: built for double
 * as it is and for float by nn_s.c (nn.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/nn.h"

void isw_nn_gemm(int ref, int ta, int tb, int64_t m, int64_t n, int64_t k, isw_real alpha,
                 const isw_real *a, int64_t lda, const isw_real *b, int64_t ldb, isw_real beta,
                 isw_real *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (!ref) {
    /* beta = 0: C zeroed here and accumulated onto (beta 1).  OpenBLAS does
       the same (its beta kernel zeroes C, then the same GEMM kernels add),
       so the result is bitwise the one of beta = 0, but its zeroing pass is
       slower than memset: at (512, 16)·(16, 16), 10.4 -> 7.8 us in float,
       17.1 -> 15.6 us in double (thread CPU time, this machine). */
    if (beta == 0.0) {
      if (ldc == n)
        memset(c, 0, (size_t)(m * n) * sizeof *c);
      else
        for (int64_t i = 0; i < m; ++i) memset(c + i * ldc, 0, (size_t)n * sizeof *c);
      beta = 1.0;
    }
    /* C (m, n) <- alpha op(A) (m, k) · op(B) (k, n) + beta C */
    ISW_BLAS(gemm)(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t l = 0; l < k; ++l)
        s += (ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
      c[i * ldc + j] = (isw_real)(alpha * s + (beta == 0.0 ? 0.0 : beta * c[i * ldc + j]));
    }
}

#ifndef ISW_REAL_FLOAT /* precision-neutral: built once */
int isw_nn_adam_create(isw_nn_adam **out, int64_t n, double lr) {
  int err = 0;
  isw_nn_adam *a = NULL;
  *out = NULL;
  ISW_ALLOC(a, 1);
  a->lr = lr;
  a->beta1 = 0.9;
  a->beta2 = 0.999;
  a->eps = 1e-8;
  a->n = n;
  a->pow1 = a->pow2 = 1.0;
  ISW_ALLOC(a->m, n);
  ISW_ALLOC(a->v, n);
  *out = a;
  a = NULL;
cleanup:
  isw_nn_adam_destroy(&a);
  return err;
}

void isw_nn_adam_destroy(isw_nn_adam **a) {
  if (!a || !*a) return;
  free((*a)->m);
  free((*a)->v);
  free(*a);
  *a = NULL;
}
#endif

void isw_nn_adam_step(isw_nn_adam *a, isw_real *theta, const isw_real *grad) {
  const double b1 = a->beta1, b2 = a->beta2;
  a->t += 1;
  a->pow1 *= b1;
  a->pow2 *= b2;
  /* lr m̂ / (sqrt(v̂) + eps) = step · m / (sqrt(v) + eps sqrt(1 - b2^t)) */
  double step = a->lr * sqrt(1.0 - a->pow2) / (1.0 - a->pow1), eps = a->eps * sqrt(1.0 - a->pow2);
  for (int64_t i = 0; i < a->n; ++i) {
    a->m[i] = b1 * a->m[i] + (1.0 - b1) * grad[i];
    a->v[i] = b2 * a->v[i] + (1.0 - b2) * grad[i] * grad[i];
    theta[i] -= (isw_real)(step * a->m[i] / (sqrt(a->v[i]) + eps));
  }
}
