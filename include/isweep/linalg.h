/* linalg.h — dense BLAS/LAPACK on one rank, with checked sizes: the minimum-
 * norm least-squares solve that keeps its QR/LQ factors (and the projection
 * onto range(A)^perp they give), the largest eigenvalue of a Gram matrix, a
 * small per-problem minimum-norm solve, and the gradient-descent kernels of a
 * linear least-squares inner problem.  Every BLAS-backed kernel has a
 * plain-loop twin `_ref` with the same contract, for the tests.
 *
 * Layout: column-major everywhere, leading dimensions explicit.
 * Shapes: m = rows, n = columns (unknowns), k = right-hand sides / vectors,
 *         r = rows of a block of row vectors.
 * LAPACK codes are translated here: info > 0 (an exactly singular triangular
 * factor: A is rank deficient) is ISW_ENUMERIC with a message; info < 0 (an
 * illegal argument, which LAPACKE also reports for NaN input) is ISW_EINTERNAL.
 * Numerical rank: the least-squares solves estimate rcond = 1 / (||T||_1
 * ||T^-1||_1) of their triangular factor T (R of A = QR when m >= n, L of
 * A = [L 0] Q when m < n; T has A's singular values) with dtrcon, and refuse
 * (ISW_ENUMERIC, "numerically rank deficient", before any solution is formed)
 * when rcond < isw_linalg_rcond_min(m, n).
 * Bad sizes are ISW_EINTERNAL: callers own their shapes.  No MPI here. */
#ifndef ISWEEP_LINALG_H
#define ISWEEP_LINALG_H

/* ---- least squares with kept factors (the one-rank twin of linalg_dist.h) -- */

/* The rank floor max(m, n) * DBL_EPSILON: a triangular factor whose
 * reciprocal condition estimate is below it is within rounding (a backward-
 * stable QR/LQ perturbs A by about max(m, n) eps ||A||) of a singular one, so
 * the solve would be rounding noise.  It is the tolerance numpy's matrix_rank
 * and MATLAB's rank put on singular values (sigma_min < max(m, n) eps
 * sigma_max), applied to the 1-norm estimate.  Also used by linalg_dist. */
double isw_linalg_rcond_min(int m, int n);

typedef struct isw_linalg_ls isw_linalg_ls;

/* Allocate A (m, n) column-major with lda = max(1, m) and b (m), zeroed. */
int isw_linalg_ls_create(isw_linalg_ls **out, int m, int n);
/* NULL-safe; NULLs the pointer. */
void isw_linalg_ls_destroy(isw_linalg_ls **ls);
/* A (m, n), lda = isw_linalg_ls_lda(), for the caller to fill before solve. */
double *isw_linalg_ls_a(isw_linalg_ls *ls);
int isw_linalg_ls_lda(const isw_linalg_ls *ls);
/* b (m), for the caller to fill before solve. */
double *isw_linalg_ls_b(isw_linalg_ls *ls);
/* x (n) <- argmin ||A x - b||_2, the minimum-norm one when m < n: the dgels
 * algorithm (QR when m >= n, LQ when m < n) done with dgeqrf/dgelqf, dormqr/
 * dormlq and dtrtrs so the Householder scalars survive.  A is replaced by its
 * factors (b is consumed).  Once only.  *rcond (NULL: not wanted) <- the
 * dtrcon estimate of 1 / cond_1 of R or L, 0 when it is exactly singular, set
 * also when the solve is refused (NaN if the factorisation failed).
 * ISW_ENUMERIC, x untouched, when A is rank deficient: rcond <
 * isw_linalg_rcond_min(m, n). */
int isw_linalg_ls_solve(isw_linalg_ls *ls, double *x /* (n) */, double *rcond);
/* After solve: v (m, k), ldv >= max(1, m), is replaced by P_perp v, the
 * orthogonal projection onto range(A)^perp: Q [0 0; 0 I] Q^T v from the QR
 * factors when m > n, exactly zero when m <= n (A has full row rank). */
int isw_linalg_ls_project_perp(isw_linalg_ls *ls, double *v /* (m, k) */, int ldv, int k);

/* ---- small dense problems ------------------------------------------------ */

/* *lambda <- ||A||_2^2, the largest eigenvalue of A A^T (m <= n) or A^T A
 * (m > n), formed with dsyrk and solved with dsyevr. */
int isw_linalg_max_eig_gram(double *lambda, const double *a /* (m, n) */, int lda, int m, int n);
/* x (n) <- A^+ b: the minimum-norm least-squares solution (LAPACKE_dgels on a
 * copy).  work holds at least m*n + max(m, n) doubles.  ISW_ENUMERIC, x
 * untouched, when A is rank deficient (exactly, or numerically as in
 * isw_linalg_ls_solve). */
int isw_linalg_minnorm_solve(double *x /* (n) */, const double *a /* (m, n) */, int lda,
                             const double *b /* (m) */, int m, int n, double *work);

/* ---- gradient descent on 1/2 ||K z - b||^2 (K is (m, n)) -------------------- */

/* z <- z - eta K^T (K z - b); b may be NULL (then b = 0).  work (m). */
int isw_linalg_gd_step(double *z /* (n) */, const double *k /* (m, n) */, int ldk,
                       const double *b /* (m) or NULL */, double eta, double *work /* (m) */,
                       int m, int n);
int isw_linalg_gd_step_ref(double *z /* (n) */, const double *k /* (m, n) */, int ldk,
                           const double *b /* (m) or NULL */, double eta, double *work /* (m) */,
                           int m, int n);
/* The same map's linear part applied to r row vectors: X <- X (I - eta K^T K)
 * = X - eta (X K^T) K.  work (r, m), ld r. */
int isw_linalg_gd_apply_rows(double *x /* (r, n) */, int ldx, const double *k /* (m, n) */,
                             int ldk, double eta, double *work /* (r, m) */, int r, int m, int n);
int isw_linalg_gd_apply_rows_ref(double *x /* (r, n) */, int ldx, const double *k /* (m, n) */,
                                 int ldk, double eta, double *work /* (r, m) */, int r, int m,
                                 int n);
/* out <- A x - c (c may be NULL: then out = A x). */
int isw_linalg_residual(double *out /* (m) */, const double *a /* (m, n) */, int lda,
                        const double *x /* (n) */, const double *c /* (m) or NULL */, int m, int n);
int isw_linalg_residual_ref(double *out /* (m) */, const double *a /* (m, n) */, int lda,
                            const double *x /* (n) */, const double *c /* (m) or NULL */, int m,
                            int n);

#endif
