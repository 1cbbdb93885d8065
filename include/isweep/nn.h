/* nn.h — numerical building blocks shared by the neural task families
 * (deq, maml, imaml): the scalar type of model data, the one GEMM entry
 * (BLAS, or its plain-loop reference for tests) and the one Adam.
 * Nothing here touches MPI or the results file; every function is
 * deterministic given its inputs.
 *
 * Precision (the LAPACK s/d pattern).  isw_real is the scalar of model data
 * (parameters, states, activations, gradients); every kernel writes it
 * instead of `double`, and the kernel sources (nn.c, solvers.c, deq_net.c,
 * maml_net.c, imaml_net.c, the training parts of deq.c, maml.c and imaml.c)
 * are compiled twice: as they are (isw_real = double, the names as written)
 * and once more through a two-line wrapper
 * (src/tasks/ *_s.c: include isweep/real_s.h, then the source) with
 * isw_real = float and every typed name suffixed _s (isw_deq_loss_grad_s,
 * isw_deq_model_s, ...; the list is real_s.h).  One copy of each algorithm.
 * ISW_BLAS(gemm) / ISW_LAPACKE(gesv) pick cblas_sgemm / LAPACKE_sgesv for
 * float and the d routines for double.
 *
 * What stays double in the float build (so float32 changes the arithmetic
 * of the matrix products and elementwise kernels; maml.h and imaml.h list
 * theirs):
 *   - loss sums (the loss head accumulates in double), every norm, dot
 *     product and residual (solvers.c: ISW_DOT_D = cblas_dsdot, double
 *     loops; deq_net.c), state_max and the Jacobian term's sum;
 *   - the plain-loop reference GEMM's accumulator;
 *   - Adam's moments m, v and the step arithmetic (isw_nn_adam is one type
 *     for both precisions; only the parameter update is rounded to float);
 *   - every option and tolerance (they are doubles in both builds), and
 *     the random draws (made in double, then rounded: the same draws).
 * In the build's precision (LAPACK s routines for float): Anderson's small
 * Gram system, Broyden's coefficients, the spectral norm / radius, the
 * implicit backward's direct solve and the identity limit's LU.
 * Results are stored as float64 columns in both cases.
 *
 * Headers: the precision-neutral part (options, enums, Adam) is guarded
 * once; the typed part once per precision, so a test may include a header,
 * then real_s.h and the header again, then real_end.h, and use both. */
#ifndef ISWEEP_NN_H
#define ISWEEP_NN_H

#include <stdint.h>

/* Adam (Kingma & Ba) with bias correction; moments in double for both precisions. */
typedef struct {
  double lr, beta1, beta2, eps; /* defaults 0.9, 0.999, 1e-8 */
  int64_t n, t;                 /* parameters, steps taken */
  double *m, *v;                /* (n) first and second moments, owned */
  double pow1, pow2;            /* beta1^t, beta2^t */
} isw_nn_adam;

/* isw_nn_gemm's paths (its ref argument; the families pass 0 or 1). */
enum {
  ISW_NN_FAST = 0, /* the small-width path where it applies (nn.c), else BLAS */
  ISW_NN_REF = 1,  /* plain loops, accumulated in double: the slow checking path */
  ISW_NN_BLAS = 2  /* BLAS always (tests compare the small path with it) */
};
/* 1 when the small-width path runs on this CPU (x86-64 with AVX2 and FMA,
 * built with GCC >= 12), else 0: isw_nn_gemm then always calls BLAS.
 * float32 never takes it (nn.c says why). */
int isw_nn_small_available(void);

/* Moments zeroed, t = 0.  Returns ISW_ENOMEM on allocation failure. */
int isw_nn_adam_create(isw_nn_adam **out, int64_t n, double lr);
/* NULL-safe; NULLs the pointer. */
void isw_nn_adam_destroy(isw_nn_adam **a);

#endif

/* ---- typed part: once per precision ---- */
#if (defined(ISW_REAL_FLOAT) && !defined(ISWEEP_NN_H_S)) || (!defined(ISW_REAL_FLOAT) && !defined(ISWEEP_NN_H_D))
#ifdef ISW_REAL_FLOAT
#define ISWEEP_NN_H_S
typedef float isw_real;
#else
#define ISWEEP_NN_H_D
typedef double isw_real;
#endif
#ifndef ISW_BLAS
#define ISW_BLAS(name) cblas_d##name
#define ISW_LAPACKE(name) LAPACKE_d##name
#endif
/* Σ x_i y_i over isw_real vectors accumulated in double (cblas_dsdot for float). */
#undef ISW_DOT_D
#ifdef ISW_REAL_FLOAT
#define ISW_DOT_D cblas_dsdot
#else
#define ISW_DOT_D cblas_ddot
#endif

/* C (M, N) <- alpha op(A) op(B) + beta C, row-major, op(A) (M, K), op(B)
 * (K, N), op(X) = Xᵀ when tX.  ref (ISW_NN_*): ISW_NN_FAST the small-width
 * path in float64 when op(A) = A and N, K <= 32 (nn.c: no packing,
 * OpenBLAS's summation order; equal to BLAS to rounding, bitwise on this
 * machine's OpenBLAS), else BLAS; ISW_NN_REF plain loops (equal to BLAS to
 * rounding); ISW_NN_BLAS BLAS.  beta = 0 overwrites C without reading it on
 * every path. */
void isw_nn_gemm(int ref, int ta, int tb, int64_t m, int64_t n, int64_t k, isw_real alpha,
                 const isw_real *a, int64_t lda, const isw_real *b, int64_t ldb, isw_real beta,
                 isw_real *c, int64_t ldc);

/* C (M, N) <- A (M, K) · op(B) (K, N) + D (M, N), op(B) = Bᵀ when tb; D
 * and C do not overlap.  Bitwise the same as copying D into C, then
 * isw_nn_gemm(ref, 0, tb, ..., alpha 1, beta 1), without the copy on the
 * small-width path (the deq step: A = z Wᵀ + XU). */
void isw_nn_gemm_add(int ref, int tb, int64_t m, int64_t n, int64_t k, const isw_real *a, int64_t lda,
                     const isw_real *b, int64_t ldb, const isw_real *d, int64_t ldd, isw_real *c,
                     int64_t ldc);

/* theta (n) <- theta - lr m̂ / (sqrt(v̂) + eps) after folding grad (n) into the moments. */
void isw_nn_adam_step(isw_nn_adam *a, isw_real *theta, const isw_real *grad);

#endif
