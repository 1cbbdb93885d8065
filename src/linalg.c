/* linalg.c — dense BLAS/LAPACK on one rank with checked sizes (see linalg.h).
 * Owns the translation of LAPACK info codes into isweep errors, and the
 * numerical rank test of the least-squares solves (the condition estimate of
 * the triangular factor against isw_linalg_rcond_min); never talks MPI,
 * never prints.  Column-major throughout.
 * Shapes: m = rows, n = columns, k = right-hand sides, r = block rows. */
#include "isweep/linalg.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"

#define LD_OK(ld, rows) ((ld) >= ((rows) > 1 ? (rows) : 1))

/* Translate a LAPACKE return code; `what` names the routine and problem. */
static int lapack_status(int info, const char *routine, int m, int n) {
  int err = 0;
  ISW_CHECK(info >= 0, ISW_EINTERNAL,
            "%s on a %d x %d problem: argument %d is illegal or contains NaN (a caller bug)",
            routine, m, n, -info);
  ISW_CHECK(info == 0, ISW_ENUMERIC,
            "%s on a %d x %d problem: diagonal element %d of the triangular factor is exactly "
            "zero, the matrix is rank deficient",
            routine, m, n, info);
cleanup:
  return err;
}

double isw_linalg_rcond_min(int m, int n) { return (double)(m > n ? m : n) * DBL_EPSILON; }

/* ISW_ENUMERIC unless rcond, the estimated reciprocal condition number of the
 * triangular factor of an m x n A, reaches isw_linalg_rcond_min(m, n).  A NaN
 * rcond is refused too. */
static int rcond_status(double rcond, const char *what, int m, int n) {
  int err = 0;
  const double rmin = isw_linalg_rcond_min(m, n);
  ISW_CHECK(rcond >= rmin, ISW_ENUMERIC,
            "%s on a %d x %d problem: A is numerically rank deficient: its triangular factor "
            "has estimated condition number %.3g (1-norm), above %.3g = 1/(max(m, n) eps); "
            "remove the dependent columns or rows of A",
            what, m, n, 1.0 / rcond, 1.0 / rmin);
cleanup:
  return err;
}

/* *rcond <- the LAPACK estimate of 1 / (||T||_1 ||T^-1||_1) for the k x k
 * triangular T (uplo 'U' or 'L') at the top left of a (ld); 0 when T is
 * exactly singular. */
static int tri_rcond(double *rcond, char uplo, int k, const double *a, int ld, int m, int n) {
  int err = 0;
  ISW_CALL(lapack_status(LAPACKE_dtrcon(LAPACK_COL_MAJOR, '1', uplo, 'N', k, a, ld, rcond),
                         "dtrcon", m, n));
cleanup:
  return err;
}

/* ---- least squares with kept factors -------------------------------------- */

struct isw_linalg_ls {
  int m, n, lda;
  double *a;   /* (m, n) the matrix, then its QR (m >= n) or LQ (m < n) factors */
  double *b;   /* (m) right-hand side */
  double *tau; /* (min(m, n)) Householder scalars */
  int solved;
};

int isw_linalg_ls_create(isw_linalg_ls **out, int m, int n) {
  int err = 0;
  isw_linalg_ls *ls = NULL;
  *out = NULL;
  ISW_CHECK(m >= 1 && n >= 1, ISW_EINTERNAL, "least squares of size %d x %d: need m, n >= 1", m, n);
  ISW_ALLOC(ls, 1);
  ls->m = m;
  ls->n = n;
  ls->lda = m;
  ISW_ALLOC(ls->a, (size_t)m * (size_t)n);
  ISW_ALLOC(ls->b, m);
  ISW_ALLOC(ls->tau, m < n ? m : n);
  *out = ls;
  ls = NULL;
cleanup:
  isw_linalg_ls_destroy(&ls);
  return err;
}

void isw_linalg_ls_destroy(isw_linalg_ls **ls) {
  if (!ls || !*ls) return;
  free((*ls)->a);
  free((*ls)->b);
  free((*ls)->tau);
  free(*ls);
  *ls = NULL;
}

double *isw_linalg_ls_a(isw_linalg_ls *ls) { return ls->a; }
int isw_linalg_ls_lda(const isw_linalg_ls *ls) { return ls->lda; }
double *isw_linalg_ls_b(isw_linalg_ls *ls) { return ls->b; }

int isw_linalg_ls_solve(isw_linalg_ls *ls, double *x /* (n) */, double *rcond) {
  int err = 0;
  const int m = ls->m, n = ls->n, lda = ls->lda;
  double rc = NAN;
  ISW_CHECK(!ls->solved, ISW_EINTERNAL, "least squares solved twice: the factors replaced A");
  ls->solved = 1;
  if (m >= n) {
    /* A (m, n) = Q R */
    ISW_CALL(lapack_status(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, ls->a, lda, ls->tau),
                           "dgeqrf", m, n));
    /* rc <- 1 / cond_1(R (n, n)) */
    ISW_CALL(tri_rcond(&rc, 'U', n, ls->a, lda, m, n));
    ISW_CALL(rcond_status(rc, "QR least squares", m, n));
    /* b (m) <- Q^T b */
    ISW_CALL(lapack_status(LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', m, 1, n, ls->a, lda,
                                          ls->tau, ls->b, m),
                           "dormqr", m, n));
    /* b[0:n] <- R^{-1} b[0:n] */
    ISW_CALL(lapack_status(LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'U', 'N', 'N', n, 1, ls->a, lda,
                                          ls->b, m),
                           "dtrtrs (QR least squares)", m, n));
    memcpy(x, ls->b, (size_t)n * sizeof *x);
  } else {
    /* A (m, n) = [L 0] Q, Q (n, n) orthogonal */
    ISW_CALL(lapack_status(LAPACKE_dgelqf(LAPACK_COL_MAJOR, m, n, ls->a, lda, ls->tau),
                           "dgelqf", m, n));
    /* rc <- 1 / cond_1(L (m, m)) */
    ISW_CALL(tri_rcond(&rc, 'L', m, ls->a, lda, m, n));
    ISW_CALL(rcond_status(rc, "LQ minimum-norm least squares", m, n));
    /* y (m) <- L^{-1} b */
    ISW_CALL(lapack_status(LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'L', 'N', 'N', m, 1, ls->a, lda,
                                          ls->b, m),
                           "dtrtrs (LQ minimum norm)", m, n));
    /* x (n) <- Q^T [y; 0] */
    memcpy(x, ls->b, (size_t)m * sizeof *x);
    memset(x + m, 0, (size_t)(n - m) * sizeof *x);
    ISW_CALL(lapack_status(LAPACKE_dormlq(LAPACK_COL_MAJOR, 'L', 'T', n, 1, m, ls->a, lda,
                                          ls->tau, x, n),
                           "dormlq", m, n));
  }
cleanup:
  if (rcond) *rcond = rc;
  return err;
}

int isw_linalg_ls_project_perp(isw_linalg_ls *ls, double *v /* (m, k) */, int ldv, int k) {
  int err = 0;
  const int m = ls->m, n = ls->n;
  ISW_CHECK(ls->solved, ISW_EINTERNAL, "project_perp before solve: no factors yet");
  ISW_CHECK(k >= 0 && LD_OK(ldv, m), ISW_EINTERNAL, "project_perp: k = %d, ldv = %d for m = %d",
            k, ldv, m);
  if (k == 0) goto cleanup;
  if (m <= n) { /* full row rank: range(A) is all of R^m */
    for (int j = 0; j < k; ++j) memset(v + (size_t)j * ldv, 0, (size_t)m * sizeof *v);
    goto cleanup;
  }
  /* v <- Q^T v */
  ISW_CALL(lapack_status(LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', m, k, n, ls->a, ls->lda,
                                        ls->tau, v, ldv),
                         "dormqr (project, Q^T)", m, n));
  /* drop the range(A) coordinates: rows 0..n-1 */
  for (int j = 0; j < k; ++j) memset(v + (size_t)j * ldv, 0, (size_t)n * sizeof *v);
  /* v <- Q v */
  ISW_CALL(lapack_status(LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'N', m, k, n, ls->a, ls->lda,
                                        ls->tau, v, ldv),
                         "dormqr (project, Q)", m, n));
cleanup:
  return err;
}

/* ---- small dense problems --------------------------------------------------- */

int isw_linalg_max_eig_gram(double *lambda, const double *a /* (m, n) */, int lda, int m, int n) {
  int err = 0;
  double *g = NULL, *w = NULL, zdummy = 0.0;
  int *isuppz = NULL;
  ISW_CHECK(m >= 1 && n >= 1 && LD_OK(lda, m), ISW_EINTERNAL,
            "max_eig_gram: bad shape %d x %d, lda %d", m, n, lda);
  const int p = m <= n ? m : n;
  ISW_ALLOC(g, (size_t)p * (size_t)p);
  ISW_ALLOC(w, p);
  ISW_ALLOC(isuppz, 2 * (size_t)p);
  if (m <= n) /* G (m, m) <- A A^T, upper triangle */
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, m, n, 1.0, a, lda, 0.0, g, p);
  else        /* G (n, n) <- A^T A, upper triangle */
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, n, m, 1.0, a, lda, 0.0, g, p);
  int found = 0;
  ISW_CALL(lapack_status(LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'N', 'I', 'U', p, g, p, 0.0, 0.0, p, p,
                                        0.0, &found, w, &zdummy, 1, isuppz),
                         "dsyevr", p, p));
  ISW_CHECK(found == 1, ISW_ENUMERIC, "dsyevr found %d largest eigenvalues of a %d x %d Gram",
            found, p, p);
  *lambda = w[0];
cleanup:
  free(g);
  free(w);
  free(isuppz);
  return err;
}

int isw_linalg_minnorm_solve(double *x /* (n) */, const double *a /* (m, n) */, int lda,
                             const double *b /* (m) */, int m, int n, double *work) {
  int err = 0;
  ISW_CHECK(m >= 1 && n >= 1 && LD_OK(lda, m) && work, ISW_EINTERNAL,
            "minnorm_solve: bad shape %d x %d, lda %d", m, n, lda);
  const int ldb = m > n ? m : n;
  double *ac = work;                       /* (m, n), ld m */
  double *bx = work + (size_t)m * (size_t)n; /* (max(m, n)) */
  for (int j = 0; j < n; ++j) memcpy(ac + (size_t)j * m, a + (size_t)j * lda, (size_t)m * sizeof *a);
  memcpy(bx, b, (size_t)m * sizeof *b);
  ISW_CALL(lapack_status(LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', m, n, 1, ac, m, bx, ldb), "dgels",
                         m, n));
  /* dgels left R (n, n) (m >= n) or L (m, m) (m < n) at the top left of ac */
  double rc = 0.0;
  ISW_CALL(tri_rcond(&rc, m >= n ? 'U' : 'L', m >= n ? n : m, ac, m, m, n));
  ISW_CALL(rcond_status(rc, "dgels", m, n));
  memcpy(x, bx, (size_t)n * sizeof *x);
cleanup:
  return err;
}

/* ---- gradient descent kernels ------------------------------------------------ */

int isw_linalg_gd_step(double *z /* (n) */, const double *k /* (m, n) */, int ldk,
                       const double *b /* (m) or NULL */, double eta, double *work /* (m) */,
                       int m, int n) {
  int err = 0;
  ISW_CHECK(m >= 0 && n >= 0 && LD_OK(ldk, m), ISW_EINTERNAL, "gd_step: bad shape %d x %d, ldk %d",
            m, n, ldk);
  if (m == 0 || n == 0) goto cleanup;
  if (b)
    memcpy(work, b, (size_t)m * sizeof *work);
  else
    memset(work, 0, (size_t)m * sizeof *work); /* beta = 0 must not see stale NaN */
  /* work (m) <- K z - b */
  cblas_dgemv(CblasColMajor, CblasNoTrans, m, n, 1.0, k, ldk, z, 1, b ? -1.0 : 0.0, work, 1);
  /* z (n) <- z - eta K^T work */
  cblas_dgemv(CblasColMajor, CblasTrans, m, n, -eta, k, ldk, work, 1, 1.0, z, 1);
cleanup:
  return err;
}

int isw_linalg_gd_step_ref(double *z /* (n) */, const double *k /* (m, n) */, int ldk,
                           const double *b /* (m) or NULL */, double eta, double *work /* (m) */,
                           int m, int n) {
  int err = 0;
  ISW_CHECK(m >= 0 && n >= 0 && LD_OK(ldk, m), ISW_EINTERNAL,
            "gd_step_ref: bad shape %d x %d, ldk %d", m, n, ldk);
  for (int i = 0; i < m; ++i) {
    double s = b ? -b[i] : 0.0;
    for (int j = 0; j < n; ++j) s += k[i + (size_t)j * ldk] * z[j];
    work[i] = s;
  }
  for (int j = 0; j < n; ++j) {
    double s = 0.0;
    for (int i = 0; i < m; ++i) s += k[i + (size_t)j * ldk] * work[i];
    z[j] -= eta * s;
  }
cleanup:
  return err;
}

int isw_linalg_gd_apply_rows(double *x /* (r, n) */, int ldx, const double *k /* (m, n) */,
                             int ldk, double eta, double *work /* (r, m) */, int r, int m, int n) {
  int err = 0;
  ISW_CHECK(r >= 0 && m >= 0 && n >= 0 && LD_OK(ldx, r) && LD_OK(ldk, m), ISW_EINTERNAL,
            "gd_apply_rows: bad shapes X %d x %d (ld %d), K %d x %d (ld %d)", r, n, ldx, m, n, ldk);
  if (r == 0 || m == 0 || n == 0) goto cleanup;
  /* W (r, m) <- X (r, n) K^T (n, m) */
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, r, m, n, 1.0, x, ldx, k, ldk, 0.0, work, r);
  /* X (r, n) <- X - eta W (r, m) K (m, n) */
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, r, n, m, -eta, work, r, k, ldk, 1.0, x,
              ldx);
cleanup:
  return err;
}

int isw_linalg_gd_apply_rows_ref(double *x /* (r, n) */, int ldx, const double *k /* (m, n) */,
                                 int ldk, double eta, double *work /* (r, m) */, int r, int m,
                                 int n) {
  int err = 0;
  ISW_CHECK(r >= 0 && m >= 0 && n >= 0 && LD_OK(ldx, r) && LD_OK(ldk, m), ISW_EINTERNAL,
            "gd_apply_rows_ref: bad shapes X %d x %d (ld %d), K %d x %d (ld %d)", r, n, ldx, m, n,
            ldk);
  for (int a = 0; a < r; ++a)
    for (int i = 0; i < m; ++i) {
      double s = 0.0;
      for (int j = 0; j < n; ++j) s += x[a + (size_t)j * ldx] * k[i + (size_t)j * ldk];
      work[a + (size_t)i * r] = s;
    }
  for (int a = 0; a < r; ++a)
    for (int j = 0; j < n; ++j) {
      double s = 0.0;
      for (int i = 0; i < m; ++i) s += work[a + (size_t)i * r] * k[i + (size_t)j * ldk];
      x[a + (size_t)j * ldx] -= eta * s;
    }
cleanup:
  return err;
}

int isw_linalg_residual(double *out /* (m) */, const double *a /* (m, n) */, int lda,
                        const double *x /* (n) */, const double *c /* (m) or NULL */, int m, int n) {
  int err = 0;
  ISW_CHECK(m >= 0 && n >= 0 && LD_OK(lda, m), ISW_EINTERNAL, "residual: bad shape %d x %d, lda %d",
            m, n, lda);
  if (m == 0) goto cleanup;
  if (c)
    memcpy(out, c, (size_t)m * sizeof *out);
  else
    memset(out, 0, (size_t)m * sizeof *out);
  /* out (m) <- A x - c */
  cblas_dgemv(CblasColMajor, CblasNoTrans, m, n, 1.0, a, lda, x, 1, c ? -1.0 : 0.0, out, 1);
cleanup:
  return err;
}

int isw_linalg_residual_ref(double *out /* (m) */, const double *a /* (m, n) */, int lda,
                            const double *x /* (n) */, const double *c /* (m) or NULL */, int m,
                            int n) {
  int err = 0;
  ISW_CHECK(m >= 0 && n >= 0 && LD_OK(lda, m), ISW_EINTERNAL,
            "residual_ref: bad shape %d x %d, lda %d", m, n, lda);
  for (int i = 0; i < m; ++i) {
    double s = c ? -c[i] : 0.0;
    for (int j = 0; j < n; ++j) s += a[i + (size_t)j * lda] * x[j];
    out[i] = s;
  }
cleanup:
  return err;
}
