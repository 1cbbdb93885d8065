/* nn.h — numerical building blocks shared by the neural task families
 * (deq, maml, imaml): the scalar type of model data, the one GEMM entry
 * (BLAS, or its plain-loop reference for tests) and the one Adam.
 * Nothing here touches MPI or the results file; every function is
 * deterministic given its inputs.
 *
 * isw_real is the scalar of model data (parameters, states, activations);
 * every kernel writes it instead of `double` so that the kernels can be
 * built for another precision from the same source.  Accumulations that
 * need it (loss sums, norms, Adam moments) stay double. */
#ifndef ISWEEP_NN_H
#define ISWEEP_NN_H

#include <stdint.h>

typedef double isw_real;

/* C (M, N) <- alpha op(A) op(B) + beta C, row-major, op(A) (M, K), op(B)
 * (K, N), op(X) = Xᵀ when tX.  ref != 0: plain loops (equal to BLAS to
 * rounding); beta = 0 overwrites C without reading it on both paths. */
void isw_nn_gemm(int ref, int ta, int tb, int64_t m, int64_t n, int64_t k, isw_real alpha,
                 const isw_real *a, int64_t lda, const isw_real *b, int64_t ldb, isw_real beta,
                 isw_real *c, int64_t ldc);

/* Adam (Kingma & Ba) with bias correction; moments in double. */
typedef struct {
  double lr, beta1, beta2, eps; /* defaults 0.9, 0.999, 1e-8 */
  int64_t n, t;                 /* parameters, steps taken */
  double *m, *v;                /* (n) first and second moments, owned */
  double pow1, pow2;            /* beta1^t, beta2^t */
} isw_nn_adam;

/* Moments zeroed, t = 0.  Returns ISW_ENOMEM on allocation failure. */
int isw_nn_adam_create(isw_nn_adam **out, int64_t n, double lr);
/* NULL-safe; NULLs the pointer. */
void isw_nn_adam_destroy(isw_nn_adam **a);
/* theta (n) <- theta - lr m̂ / (sqrt(v̂) + eps) after folding grad (n) into the moments. */
void isw_nn_adam_step(isw_nn_adam *a, isw_real *theta, const isw_real *grad);

#endif
