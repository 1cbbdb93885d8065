/* test_linalg.c — the one-rank BLAS/LAPACK wrappers: the least-squares solve
 * against LAPACKE_dgels and the normal-equation / minimum-norm formulas, the
 * projection onto range(A)^perp, the Gram eigenvalue against the SVD, and
 * every BLAS kernel against its plain-loop twin.
 * Shapes: m rows, n columns, column-major. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/linalg.h"
#include "isweep/rng.h"
#include "testutil.h"

static double *rand_mat(int rows, int cols, uint64_t id) { /* (rows, cols) N(0, 1) */
  double *a = malloc((size_t)rows * cols * sizeof *a);
  isw_rng r;
  isw_rng_init(&r, 2024, id, 9);
  isw_rng_normal_fill(&r, a, (size_t)rows * cols, 0.0, 1.0);
  return a;
}

/* x (n) <- G^{-1} h for SPD G (n, n) by plain-loop Cholesky; G, h destroyed. */
static void chol_solve(double *x, double *g, double *h, int n) {
  for (int j = 0; j < n; ++j) {
    double s = g[j + j * n];
    for (int k = 0; k < j; ++k) s -= g[j + k * n] * g[j + k * n];
    g[j + j * n] = sqrt(s);
    for (int i = j + 1; i < n; ++i) {
      double t = g[i + j * n];
      for (int k = 0; k < j; ++k) t -= g[i + k * n] * g[j + k * n];
      g[i + j * n] = t / g[j + j * n];
    }
  }
  for (int i = 0; i < n; ++i) { /* L y = h */
    double s = h[i];
    for (int k = 0; k < i; ++k) s -= g[i + k * n] * h[k];
    h[i] = s / g[i + i * n];
  }
  for (int i = n - 1; i >= 0; --i) { /* L^T x = y */
    double s = h[i];
    for (int k = i + 1; k < n; ++k) s -= g[k + i * n] * x[k];
    x[i] = s / g[i + i * n];
  }
}

/* Reference least squares: (A^T A)^{-1} A^T b when m >= n, A^T (A A^T)^{-1} b otherwise. */
static void ref_lstsq(double *x, const double *a, const double *b, int m, int n) {
  if (m >= n) {
    double *g = calloc((size_t)n * n, sizeof *g), *h = calloc(n, sizeof *h);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < m; ++k) g[i + j * n] += a[k + i * m] * a[k + j * m];
      for (int k = 0; k < m; ++k) h[i] += a[k + i * m] * b[k];
    }
    chol_solve(x, g, h, n);
    free(g);
    free(h);
  } else {
    double *g = calloc((size_t)m * m, sizeof *g), *h = malloc(m * sizeof *h), *y = malloc(m * sizeof *y);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j)
        for (int k = 0; k < n; ++k) g[i + j * m] += a[i + k * m] * a[j + k * m];
    memcpy(h, b, m * sizeof *h);
    chol_solve(y, g, h, m);
    for (int k = 0; k < n; ++k) {
      x[k] = 0.0;
      for (int i = 0; i < m; ++i) x[k] += a[i + k * m] * y[i];
    }
    free(g);
    free(h);
    free(y);
  }
}

static void check_solve(int m, int n) {
  double *a = rand_mat(m, n, 100 + m * 31 + n), *b = rand_mat(m, 1, 7 + m + n);
  double *x = malloc(n * sizeof *x), *xr = malloc(n * sizeof *xr);
  double *ac = malloc((size_t)m * n * sizeof *ac), *bx = calloc(m > n ? m : n, sizeof *bx);
  isw_linalg_ls *ls = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_create(&ls, m, n), 0);
  CU_ASSERT_EQUAL(isw_linalg_ls_lda(ls), m);
  memcpy(isw_linalg_ls_a(ls), a, (size_t)m * n * sizeof *a);
  memcpy(isw_linalg_ls_b(ls), b, m * sizeof *b);
  CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_solve(ls, x, NULL), 0);
  ref_lstsq(xr, a, b, m, n);
  CU_ASSERT(isw_test_rel_diff(x, xr, n, 0.0) < 1e-11); /* matches the normal equations / min-norm formula */
  memcpy(ac, a, (size_t)m * n * sizeof *a);
  memcpy(bx, b, m * sizeof *b);
  CU_ASSERT_EQUAL(LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', m, n, 1, ac, m, bx, m > n ? m : n), 0);
  CU_ASSERT(isw_test_rel_diff(x, bx, n, 0.0) < 1e-12); /* matches LAPACKE_dgels */
  CU_ASSERT_NOT_EQUAL(isw_linalg_ls_solve(ls, x, NULL), 0);  /* a second solve is refused */
  isw_error_clear();
  /* minnorm_solve gives the same answer */
  double *work = malloc(((size_t)m * n + (m > n ? m : n)) * sizeof *work);
  CU_ASSERT_EQUAL(isw_linalg_minnorm_solve(xr, a, m, b, m, n, work), 0);
  CU_ASSERT(isw_test_rel_diff(xr, bx, n, 0.0) < 1e-13);
  isw_linalg_ls_destroy(&ls);
  CU_ASSERT_PTR_NULL(ls);
  free(a);
  free(b);
  free(x);
  free(xr);
  free(ac);
  free(bx);
  free(work);
}

static void test_solve_tall(void) { check_solve(23, 7); }
static void test_solve_wide(void) { check_solve(6, 19); }
static void test_solve_square(void) { check_solve(9, 9); }

static void check_project(int m, int n) {
  const int k = 3, ldv = m + 2;
  double *a = rand_mat(m, n, 300 + m + n), *v = rand_mat(ldv, k, 301), *x = malloc(n * sizeof *x);
  double *pv = malloc((size_t)ldv * k * sizeof *pv), *ppv = malloc((size_t)ldv * k * sizeof *ppv);
  isw_linalg_ls *ls = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_create(&ls, m, n), 0);
  memcpy(isw_linalg_ls_a(ls), a, (size_t)m * n * sizeof *a);
  CU_ASSERT_EQUAL(isw_linalg_ls_project_perp(ls, v, ldv, k), ISW_EINTERNAL); /* before solve */
  isw_error_clear();
  CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_solve(ls, x, NULL), 0);
  memcpy(pv, v, (size_t)ldv * k * sizeof *v);
  CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_project_perp(ls, pv, ldv, k), 0);
  memcpy(ppv, pv, (size_t)ldv * k * sizeof *pv);
  CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_project_perp(ls, ppv, ldv, k), 0);
  double vmax = 0.0, amax = 0.0;
  for (int j = 0; j < k; ++j)
    for (int i = 0; i < m; ++i) vmax = fmax(vmax, fabs(v[i + j * ldv]));
  for (int j = 0; j < k; ++j) {
    /* idempotent: P(Pv) = Pv */
    for (int i = 0; i < m; ++i) CU_ASSERT(fabs(ppv[i + j * ldv] - pv[i + j * ldv]) < 1e-13 * vmax);
    /* rows beyond m (padding of ldv) untouched */
    for (int i = m; i < ldv; ++i) CU_ASSERT_EQUAL(pv[i + j * ldv], v[i + j * ldv]);
    /* orthogonal to range(A): A^T P v = 0 */
    for (int c = 0; c < n; ++c) {
      double s = 0.0;
      for (int i = 0; i < m; ++i) s += a[i + c * m] * pv[i + j * ldv];
      amax = fmax(amax, fabs(s));
    }
    if (m > n) { /* v - Pv is the least-squares fit of v: A (A^T A)^{-1} A^T v */
      double *c = malloc(n * sizeof *c);
      ref_lstsq(c, a, v + j * ldv, m, n);
      for (int i = 0; i < m; ++i) {
        double fit = 0.0;
        for (int t = 0; t < n; ++t) fit += a[i + t * m] * c[t];
        CU_ASSERT(fabs(v[i + j * ldv] - pv[i + j * ldv] - fit) < 1e-12 * vmax);
      }
      free(c);
    } else {
      for (int i = 0; i < m; ++i) CU_ASSERT_EQUAL(pv[i + j * ldv], 0.0); /* exactly zero at full row rank */
    }
  }
  CU_ASSERT(amax < 1e-12 * vmax);
  isw_linalg_ls_destroy(&ls);
  isw_linalg_ls_destroy(&ls); /* NULL-safe */
  free(a);
  free(v);
  free(x);
  free(pv);
  free(ppv);
}

static void test_project_tall(void) { check_project(20, 6); }
static void test_project_wide(void) { check_project(5, 12); }

static void test_rank_deficient(void) {
  /* a zero column (tall) or a zero row (wide) makes the triangular factor exactly singular */
  int shapes[2][2] = {{10, 4}, {4, 10}};
  for (int c = 0; c < 2; ++c) {
    int m = shapes[c][0], n = shapes[c][1];
    double *a = rand_mat(m, n, 500 + c), *x = malloc(n * sizeof *x), rcond = -1.0;
    double *work = malloc(((size_t)m * n + (m > n ? m : n)) * sizeof *work);
    if (m > n)
      for (int i = 0; i < m; ++i) a[i + 2 * m] = 0.0;
    else
      for (int j = 0; j < n; ++j) a[2 + j * m] = 0.0;
    isw_linalg_ls *ls = NULL;
    CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_create(&ls, m, n), 0);
    memcpy(isw_linalg_ls_a(ls), a, (size_t)m * n * sizeof *a);
    CU_ASSERT_EQUAL(isw_linalg_ls_solve(ls, x, &rcond), ISW_ENUMERIC);
    CU_ASSERT(strstr(isw_error_message(), "rank deficient") != NULL);
    CU_ASSERT_EQUAL(rcond, 0.0); /* an exactly singular factor has rcond 0 */
    isw_error_clear();
    CU_ASSERT_EQUAL(isw_linalg_minnorm_solve(x, a, m, a, m, n, work), ISW_ENUMERIC);
    isw_error_clear();
    isw_linalg_ls_destroy(&ls);
    free(a);
    free(x);
    free(work);
  }
}

/* The example: column 2 = column 0 + column 1 of a 10 x 4 A (and the
 * wide twin, row 2 = row 0 + row 1 of a 4 x 10 A).  Rounding leaves R (or L)
 * with a diagonal entry of order eps instead of an exact zero, so only the
 * condition estimate can tell; the solve must refuse, not return x ~ 1e15. */
static void test_numerically_rank_deficient(void) {
  int shapes[2][2] = {{10, 4}, {4, 10}};
  for (int c = 0; c < 2; ++c) {
    int m = shapes[c][0], n = shapes[c][1];
    double *a = rand_mat(m, n, 600 + c), *b = rand_mat(m, 1, 610 + c), x[10], rcond = -1.0;
    double *work = malloc(((size_t)m * n + (m > n ? m : n)) * sizeof *work);
    if (m > n)
      for (int i = 0; i < m; ++i) a[i + 2 * m] = a[i] + a[i + m];
    else
      for (int j = 0; j < n; ++j) a[2 + j * m] = a[0 + j * m] + a[1 + j * m];
    for (int j = 0; j < n; ++j) x[j] = 42.0;
    isw_linalg_ls *ls = NULL;
    CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_create(&ls, m, n), 0);
    memcpy(isw_linalg_ls_a(ls), a, (size_t)m * n * sizeof *a);
    memcpy(isw_linalg_ls_b(ls), b, (size_t)m * sizeof *b);
    int e = isw_linalg_ls_solve(ls, x, &rcond);
    CU_ASSERT_EQUAL(e, ISW_ENUMERIC);
    CU_ASSERT(strstr(isw_error_message(), "numerically rank deficient") != NULL);
    CU_ASSERT(strstr(isw_error_message(), "condition number") != NULL);
    printf("\n    %d x %d: rc %d, rcond %.2e (floor %.2e), %s ", m, n, e, rcond,
           isw_linalg_rcond_min(m, n), e ? "refused" : "solved");
    isw_error_clear();
    CU_ASSERT(rcond >= 0.0 && rcond < isw_linalg_rcond_min(m, n)); /* handed back on refusal */
    for (int j = 0; j < n; ++j) CU_ASSERT_EQUAL(x[j], 42.0);      /* x untouched */
    CU_ASSERT_EQUAL(isw_linalg_minnorm_solve(x, a, m, b, m, n, work), ISW_ENUMERIC);
    CU_ASSERT(strstr(isw_error_message(), "numerically rank deficient") != NULL);
    isw_error_clear();
    isw_linalg_ls_destroy(&ls);
    free(a);
    free(b);
    free(work);
  }
}

/* a (m, n) <- U diag(sv) V^T with U (m, p), V (n, p) orthonormal from the QR of
 * random matrices, p = min(m, n), sv (p) the singular values. */
static double *graded_mat(int m, int n, const double *sv, uint64_t id) {
  int p = m < n ? m : n;
  double *u = rand_mat(m, p, id), *v = rand_mat(n, p, id + 1), *tau = malloc(p * sizeof *tau);
  double *a = calloc((size_t)m * n, sizeof *a);
  LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, p, u, m, tau);
  LAPACKE_dorgqr(LAPACK_COL_MAJOR, m, p, p, u, m, tau);
  LAPACKE_dgeqrf(LAPACK_COL_MAJOR, n, p, v, n, tau);
  LAPACKE_dorgqr(LAPACK_COL_MAJOR, n, p, p, v, n, tau);
  for (int j = 0; j < n; ++j)
    for (int k = 0; k < p; ++k)
      for (int i = 0; i < m; ++i) a[i + (size_t)j * m] += u[i + (size_t)k * m] * sv[k] * v[j + (size_t)k * n];
  free(u);
  free(v);
  free(tau);
  return a;
}

/* sigma_max / sigma_min of a (m, n) by dgesvd. */
static double cond2(const double *a, int m, int n) {
  int p = m < n ? m : n;
  double *ac = malloc((size_t)m * n * sizeof *ac), *sv = malloc(p * sizeof *sv), *sup = malloc(p * sizeof *sup);
  memcpy(ac, a, (size_t)m * n * sizeof *a);
  CU_ASSERT_EQUAL(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', m, n, ac, m, sv, NULL, 1, NULL, 1, sup), 0);
  double k = sv[0] / sv[p - 1];
  free(ac);
  free(sv);
  free(sup);
  return k;
}

/* The estimate against the truth.  R (or L) has A's singular values, so
 * cond_2(T) = cond_2(A); cond_1 lies within a factor n of cond_2 and the
 * dtrcon estimate of ||T^-1||_1 is a lower bound that is in practice within
 * a factor 3.  Tested bound: cond_2 / 10 <= 1/rcond <= 10 cond_2 (every
 * factor here has n <= 9).  Graded matrices up to cond 1e12 still solve
 * (that is 300x below the floor 1/(max(m, n) eps) >= 2e14); 1e17 is refused. */
static void test_cond_estimate(void) {
  int shapes[3][2] = {{23, 7}, {6, 19}, {9, 9}};
  const double conds[] = {0.0, 1e4, 1e8, 1e12, 1e17}; /* 0: a plain N(0, 1) matrix */
  double rmin = INFINITY, rmax = 0.0;
  for (int c = 0; c < 3; ++c)
    for (int g = 0; g < 5; ++g) {
      int m = shapes[c][0], n = shapes[c][1], p = m < n ? m : n;
      double sv[9], rcond = -1.0, *a = NULL;
      if (conds[g] == 0.0) {
        a = rand_mat(m, n, 1100 + c);
      } else {
        for (int k = 0; k < p; ++k) sv[k] = pow(conds[g], -(double)k / (p - 1)); /* 1 .. 1/cond */
        a = graded_mat(m, n, sv, 1200 + 10 * c + g);
      }
      double *b = rand_mat(m, 1, 1300 + c), *x = malloc(n * sizeof *x);
      double k2 = cond2(a, m, n);
      isw_linalg_ls *ls = NULL;
      CU_ASSERT_EQUAL_FATAL(isw_linalg_ls_create(&ls, m, n), 0);
      memcpy(isw_linalg_ls_a(ls), a, (size_t)m * n * sizeof *a);
      memcpy(isw_linalg_ls_b(ls), b, (size_t)m * sizeof *b);
      int e = isw_linalg_ls_solve(ls, x, &rcond);
      isw_error_clear();
      if (conds[g] > 1e16) {
        CU_ASSERT_EQUAL(e, ISW_ENUMERIC); /* beyond the floor: refused */
        CU_ASSERT(rcond < isw_linalg_rcond_min(m, n));
      } else {
        CU_ASSERT_EQUAL(e, 0); /* ill conditioned but of full rank: solved */
        CU_ASSERT(rcond > 0.0 && rcond <= 1.0);
        double ratio = (1.0 / rcond) / k2;
        CU_ASSERT(ratio >= 0.1 && ratio <= 10.0);
        if (!(ratio >= 0.1 && ratio <= 10.0))
          printf("\n    %d x %d, cond_2 %.2e: estimate / cond_2 = %.2f ", m, n, k2, ratio);
        rmin = fmin(rmin, ratio);
        rmax = fmax(rmax, ratio);
      }
      isw_linalg_ls_destroy(&ls);
      free(a);
      free(b);
      free(x);
    }
  printf("\n    estimate / cond_2 from %.2f to %.2f over 12 solved matrices ", rmin, rmax);
}

static void test_max_eig_gram(void) {
  int shapes[3][2] = {{5, 17}, {17, 5}, {8, 8}};
  for (int c = 0; c < 3; ++c) {
    int m = shapes[c][0], n = shapes[c][1], lda = m + 3, p = m < n ? m : n;
    double *a = rand_mat(lda, n, 700 + c), *ac = malloc((size_t)m * n * sizeof *ac);
    double *sv = malloc(p * sizeof *sv), *sup = malloc(p * sizeof *sup), lam = 0.0;
    CU_ASSERT_EQUAL_FATAL(isw_linalg_max_eig_gram(&lam, a, lda, m, n), 0);
    for (int j = 0; j < n; ++j) memcpy(ac + (size_t)j * m, a + (size_t)j * lda, m * sizeof *a);
    CU_ASSERT_EQUAL_FATAL(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', m, n, ac, m, sv, NULL, 1, NULL, 1, sup), 0);
    CU_ASSERT(isw_test_close(lam, sv[0] * sv[0], 1e-12, 0.0)); /* ||A||_2^2 = sigma_max^2 */
    free(a);
    free(ac);
    free(sv);
    free(sup);
  }
}

static void test_gd_step_vs_loops(void) {
  const int m = 13, n = 9, ldk = 16;
  double *k = rand_mat(ldk, n, 800), *b = rand_mat(m, 1, 801), *z0 = rand_mat(n, 1, 802);
  double z1[9], z2[9], w1[13], w2[13];
  for (int with_b = 0; with_b < 2; ++with_b) {
    memcpy(z1, z0, sizeof z1);
    memcpy(z2, z0, sizeof z2);
    CU_ASSERT_EQUAL(isw_linalg_gd_step(z1, k, ldk, with_b ? b : NULL, 0.07, w1, m, n), 0);
    CU_ASSERT_EQUAL(isw_linalg_gd_step_ref(z2, k, ldk, with_b ? b : NULL, 0.07, w2, m, n), 0);
    CU_ASSERT(isw_test_rel_diff(z1, z2, n, 0.0) < 1e-14);
    CU_ASSERT(isw_test_rel_diff(z1, z0, n, 0.0) > 1e-3); /* the step moved z */
  }
  CU_ASSERT_EQUAL(isw_linalg_gd_step(z1, k, m - 1, b, 0.1, w1, m, n), ISW_EINTERNAL); /* ldk < m */
  isw_error_clear();
  free(k);
  free(b);
  free(z0);
}

static void test_gd_apply_rows_vs_loops(void) {
  const int r = 4, m = 7, n = 11, ldx = 10, ldk = 9;
  double *k = rand_mat(ldk, n, 900), *x0 = rand_mat(ldx, n, 901);
  double *x1 = malloc((size_t)ldx * n * sizeof *x1), *x2 = malloc((size_t)ldx * n * sizeof *x2);
  double w1[4 * 7], w2[4 * 7];
  memcpy(x1, x0, (size_t)ldx * n * sizeof *x0);
  memcpy(x2, x0, (size_t)ldx * n * sizeof *x0);
  CU_ASSERT_EQUAL(isw_linalg_gd_apply_rows(x1, ldx, k, ldk, 0.05, w1, r, m, n), 0);
  CU_ASSERT_EQUAL(isw_linalg_gd_apply_rows_ref(x2, ldx, k, ldk, 0.05, w2, r, m, n), 0);
  CU_ASSERT(isw_test_rel_diff(x1, x2, (long)ldx * n, 0.0) < 1e-14);
  for (int j = 0; j < n; ++j) /* rows r..ldx-1 are not part of X: untouched */
    for (int i = r; i < ldx; ++i) CU_ASSERT_EQUAL(x1[i + j * ldx], x0[i + j * ldx]);
  /* each row is one gd_step with b = 0: X M = (M X^T)^T */
  for (int a = 0; a < r; ++a) {
    double z[11], w[7];
    for (int j = 0; j < n; ++j) z[j] = x0[a + j * ldx];
    isw_linalg_gd_step_ref(z, k, ldk, NULL, 0.05, w, m, n);
    for (int j = 0; j < n; ++j) CU_ASSERT(fabs(z[j] - x1[a + j * ldx]) < 1e-13);
  }
  CU_ASSERT_EQUAL(isw_linalg_gd_apply_rows(x1, r - 1, k, ldk, 0.05, w1, r, m, n), ISW_EINTERNAL);
  isw_error_clear();
  free(k);
  free(x0);
  free(x1);
  free(x2);
}

static void test_residual_vs_loops(void) {
  const int m = 6, n = 10, lda = 8;
  double *a = rand_mat(lda, n, 1000), *x = rand_mat(n, 1, 1001), *c = rand_mat(m, 1, 1002);
  double o1[6], o2[6];
  for (int with_c = 0; with_c < 2; ++with_c) {
    o1[0] = NAN; /* stale output must not leak into the result */
    CU_ASSERT_EQUAL(isw_linalg_residual(o1, a, lda, x, with_c ? c : NULL, m, n), 0);
    CU_ASSERT_EQUAL(isw_linalg_residual_ref(o2, a, lda, x, with_c ? c : NULL, m, n), 0);
    CU_ASSERT(isw_test_rel_diff(o1, o2, m, 0.0) < 1e-14);
  }
  free(a);
  free(x);
  free(c);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"tall least squares matches dgels and the normal equations", test_solve_tall},
      {"wide least squares is the minimum-norm solution A^T (A A^T)^-1 b", test_solve_wide},
      {"square least squares solves the system", test_solve_square},
      {"P_perp (tall) is idempotent, orthogonal to range(A), and v - P_perp v is the LS fit", test_project_tall},
      {"P_perp (wide, full row rank) is exactly zero", test_project_wide},
      {"a rank-deficient matrix is ISW_ENUMERIC, not a wrong answer", test_rank_deficient},
      {"10 x 4 with col 2 = col 0 + col 1 (and its wide twin) is refused with rcond < floor",
       test_numerically_rank_deficient},
      {"1/rcond is within 10x of cond_2 (dgesvd); cond 1e12 solves, cond 1e17 is refused",
       test_cond_estimate},
      {"max_eig_gram is sigma_max^2 of the SVD", test_max_eig_gram},
      {"gd_step (BLAS) equals its plain-loop twin", test_gd_step_vs_loops},
      {"gd_apply_rows (BLAS) equals its plain loops and a gd_step per row", test_gd_apply_rows_vs_loops},
      {"residual (BLAS) equals its plain-loop twin", test_residual_vs_loops},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "linalg", cases);
}
