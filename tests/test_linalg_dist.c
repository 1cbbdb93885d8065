/* test_linalg_dist.c — the team least-squares solve and projection against
 * LAPACK on one rank, over the world team, a 1-rank team (MPI_COMM_SELF) and
 * sub-communicator teams created and destroyed repeatedly.
 *
 * Shapes: m = rows of A, n = columns, k = columns of V, m_loc = local rows.
 * Every rank draws the same global A (m,n), b (m), V (m,k) from isw_rng and
 * fills the rows it owns; the LAPACK reference is computed on every rank. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/linalg.h"
#include "isweep/linalg_dist.h"
#include "isweep/rng.h"
#include "testutil.h"

enum { K_COLS = 3 };
static const double TOL = 1e-10;
/* The team path runs dtrcon's estimator (dlacn2) on factors that differ from
 * LAPACK's by rounding, so the estimates agree to rounding (2.7e-15 .. 4.8e-15
 * measured at 1 and 2 ranks) unless a discrete choice of the estimator (a
 * sign, an argmax) flips, which well-separated random test matrices do not
 * provoke; 1e-10 leaves room for the rounding of an ill-conditioned factor. */
static const double RCOND_TOL = 1e-10;

typedef struct {
  int m, n, k;
  double *a; /* (m, n) column-major, lda = m */
  double *b; /* (m) */
  double *v; /* (m, k) column-major, ld = m */
} problem;

static void problem_make(problem *p, int m, int n, uint64_t seed) {
  p->m = m;
  p->n = n;
  p->k = K_COLS;
  p->a = malloc((size_t)m * n * sizeof *p->a);
  p->b = malloc((size_t)m * sizeof *p->b);
  p->v = malloc((size_t)m * K_COLS * sizeof *p->v);
  isw_rng r;
  isw_rng_init(&r, seed, (uint64_t)m * 1000 + (uint64_t)n, ISW_STREAM_DATA);
  isw_rng_normal_fill(&r, p->a, (size_t)m * n, 0.0, 1.0);
  isw_rng_normal_fill(&r, p->b, (size_t)m, 0.0, 1.0);
  isw_rng_normal_fill(&r, p->v, (size_t)m * K_COLS, 0.0, 1.0);
}

static void problem_free(problem *p) {
  free(p->a);
  free(p->b);
  free(p->v);
}

/* LAPACK reference: x (n) = argmin ||A x - b|| (min-norm when m < n). */
static int ref_solve(double *x /* (n) */, const problem *p) {
  int m = p->m, n = p->n, ldb = m > n ? m : n;
  double *a = malloc((size_t)m * n * sizeof *a), *bb = calloc((size_t)ldb, sizeof *bb);
  memcpy(a, p->a, (size_t)m * n * sizeof *a);
  memcpy(bb, p->b, (size_t)m * sizeof *bb);
  int info = LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', m, n, 1, a, m, bb, ldb);
  memcpy(x, bb, (size_t)n * sizeof *x);
  free(a);
  free(bb);
  return info;
}

/* LAPACK reference: pv (m,k) = V - Q Qᵀ V with A = Q R (m > n), else 0. */
static int ref_project(double *pv /* (m, k) */, const problem *p) {
  int m = p->m, n = p->n, k = p->k, info = 0;
  memcpy(pv, p->v, (size_t)m * k * sizeof *pv);
  if (m <= n) {
    memset(pv, 0, (size_t)m * k * sizeof *pv);
    return 0;
  }
  double *a = malloc((size_t)m * n * sizeof *a), *tau = malloc((size_t)n * sizeof *tau);
  memcpy(a, p->a, (size_t)m * n * sizeof *a);
  info |= LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, a, m, tau);
  info |= LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', m, k, n, a, m, tau, pv, m);
  for (int j = 0; j < k; ++j)
    for (int i = 0; i < n; ++i) pv[i + (size_t)j * m] = 0.0;
  info |= LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'N', m, k, n, a, m, tau, pv, m);
  free(a);
  free(tau);
  return info;
}

/* LAPACK reference: 1 / cond_1 of R (A = QR, m >= n) or L (A = [L 0] Q),
 * estimated by dtrcon. */
static double ref_rcond(const problem *p) {
  int m = p->m, n = p->n, k = m < n ? m : n;
  double *a = malloc((size_t)m * n * sizeof *a), *tau = malloc((size_t)k * sizeof *tau), rc = -1.0;
  memcpy(a, p->a, (size_t)m * n * sizeof *a);
  if (m >= n) {
    CU_ASSERT_EQUAL(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, a, m, tau), 0);
    CU_ASSERT_EQUAL(LAPACKE_dtrcon(LAPACK_COL_MAJOR, '1', 'U', 'N', n, a, m, &rc), 0);
  } else {
    CU_ASSERT_EQUAL(LAPACKE_dgelqf(LAPACK_COL_MAJOR, m, n, a, m, tau), 0);
    CU_ASSERT_EQUAL(LAPACKE_dtrcon(LAPACK_COL_MAJOR, '1', 'L', 'N', m, a, m, &rc), 0);
  }
  free(a);
  free(tau);
  return rc;
}

/* 1 if v is the same double on every rank of comm. */
static int same_everywhere(double v, MPI_Comm comm) {
  double lo = v, hi = v;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_DOUBLE, MPI_MIN, comm);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, comm);
  return lo == v && hi == v;
}

/* Largest relative difference team vs LAPACK condition estimate seen by check_case. */
static double worst_rcond_diff = 0.0;

/* Plain loops: y (n) = Aᵀ r for r (m). */
static void at_times(double *y /* (n) */, const double *a /* (m, n) */, const double *r /* (m) */,
                     int m, int n) {
  for (int j = 0; j < n; ++j) {
    double s = 0.0;
    for (int i = 0; i < m; ++i) s += a[i + (size_t)j * m] * r[i];
    y[j] = s;
  }
}

static double max_abs(const double *x, long n) {
  double s = 0.0;
  for (long i = 0; i < n; ++i) s = fmax(s, fabs(x[i]));
  return s;
}

/* Copy this rank's rows of the global A and b into the solver. */
static void fill_local(isw_dist_ls *ls, const problem *p) {
  int mloc = isw_dist_ls_local_rows(ls), lda = isw_dist_ls_lda(ls);
  double *a = isw_dist_ls_a(ls), *b = isw_dist_ls_b(ls);
  for (int i = 0; i < mloc; ++i) {
    int g = isw_dist_ls_global_row(ls, i);
    b[i] = p->b[g];
    for (int j = 0; j < p->n; ++j) a[i + (size_t)j * lda] = p->a[g + (size_t)j * p->m];
  }
}

/* One solve + projection over `team`, checked against LAPACK; nb <= 0 keeps
 * the default column block.  Returns the solver's error code. */
static int check_case(MPI_Comm team, int m, int n, int mb, int nb, uint64_t seed) {
  problem p;
  problem_make(&p, m, n, seed);
  isw_dist_ls *ls = NULL;
  double *x = calloc((size_t)n, sizeof *x), *xr = calloc((size_t)n, sizeof *xr);
  double *pvr = calloc((size_t)m * p.k, sizeof *pvr), *pv = calloc((size_t)m * p.k, sizeof *pv);
  double *vloc = NULL, *r = calloc((size_t)m, sizeof *r), *atr = calloc((size_t)n, sizeof *atr);
  int err = isw_dist_ls_create(&ls, team, m, n, mb);
  CU_ASSERT_EQUAL_FATAL(err, 0);
  if (nb > 0) CU_ASSERT_EQUAL(isw_dist_ls_set_nb(ls, nb), 0);

  /* the row map is the documented block-cyclic one, and covers every row once */
  int mloc = isw_dist_ls_local_rows(ls), size = 1, rank = 0, count = mloc;
  MPI_Comm_size(team, &size);
  MPI_Comm_rank(team, &rank);
  for (int i = 0; i < mloc; ++i) {
    int g = isw_dist_ls_global_row(ls, i);
    CU_ASSERT(g >= 0 && g < m && (g / mb) % size == rank);
    if (i > 0) CU_ASSERT(g > isw_dist_ls_global_row(ls, i - 1));
  }
  MPI_Allreduce(MPI_IN_PLACE, &count, 1, MPI_INT, MPI_SUM, team);
  CU_ASSERT_EQUAL(count, m);
  CU_ASSERT_EQUAL(isw_dist_ls_lda(ls), mloc > 0 ? mloc : 1);

  fill_local(ls, &p);
  double rcond = -1.0;
  err = isw_dist_ls_solve(ls, x, &rcond);
  CU_ASSERT_EQUAL(err, 0);
  if (err) goto done;

  /* the condition estimate: one value on every rank, LAPACK's to RCOND_TOL */
  CU_ASSERT(same_everywhere(rcond, team));
  double rc_ref = ref_rcond(&p), drc = fabs(rcond - rc_ref) / rc_ref;
  worst_rcond_diff = fmax(worst_rcond_diff, drc);
  CU_ASSERT(rcond > 0.0 && drc <= RCOND_TOL);
  if (drc > RCOND_TOL)
    printf("\n  m %d n %d mb %d nb %d: rcond %.6e vs lapack %.6e\n", m, n, mb, nb, rcond, rc_ref);

  /* x equals LAPACK's dgels on the whole matrix */
  CU_ASSERT_EQUAL(ref_solve(xr, &p), 0);
  double dx = isw_test_rel_diff(x, xr, n, 1e-300);
  CU_ASSERT(dx <= TOL);
  if (dx > TOL) printf("\n  m %d n %d mb %d nb %d: |x - x_lapack| rel %.3e\n", m, n, mb, nb, dx);

  /* plain loops: m >= n, the residual is orthogonal to range(A); m < n, A x = b */
  for (int i = 0; i < m; ++i) {
    double s = -p.b[i];
    for (int j = 0; j < n; ++j) s += p.a[i + (size_t)j * m] * x[j];
    r[i] = s;
  }
  if (m >= n) {
    at_times(atr, p.a, r, m, n);
    CU_ASSERT(max_abs(atr, n) <= 1e-10 * m * max_abs(p.a, (long)m * n) * max_abs(p.b, m));
  } else {
    CU_ASSERT(max_abs(r, m) <= 1e-10 * max_abs(p.b, m));
  }

  /* P⊥ V: local rows in, local rows out, equal to LAPACK's projection */
  int ld = mloc > 0 ? mloc : 1;
  vloc = calloc((size_t)ld * p.k, sizeof *vloc);
  for (int i = 0; i < mloc; ++i)
    for (int j = 0; j < p.k; ++j)
      vloc[i + (size_t)j * ld] = p.v[isw_dist_ls_global_row(ls, i) + (size_t)j * m];
  CU_ASSERT_EQUAL(isw_dist_ls_project_perp(ls, vloc, p.k), 0);
  for (int i = 0; i < mloc; ++i)
    for (int j = 0; j < p.k; ++j)
      pv[isw_dist_ls_global_row(ls, i) + (size_t)j * m] = vloc[i + (size_t)j * ld];
  MPI_Allreduce(MPI_IN_PLACE, pv, m * p.k, MPI_DOUBLE, MPI_SUM, team);
  CU_ASSERT_EQUAL(ref_project(pvr, &p), 0);
  double vscale = max_abs(p.v, (long)m * p.k);
  if (m <= n) {
    CU_ASSERT(max_abs(pv, (long)m * p.k) == 0.0);
  } else {
    double dp = isw_test_rel_diff(pv, pvr, (long)m * p.k, vscale);
    CU_ASSERT(dp <= TOL);
    if (dp > TOL) printf("\n  m %d n %d mb %d: |P⊥V - lapack| rel %.3e\n", m, n, mb, dp);
    /* Aᵀ P⊥ v = 0 column by column, and P⊥ is not the zero map */
    for (int j = 0; j < p.k; ++j) {
      at_times(atr, p.a, pv + (size_t)j * m, m, n);
      CU_ASSERT(max_abs(atr, n) <= 1e-10 * m * max_abs(p.a, (long)m * n) * vscale);
    }
    CU_ASSERT(max_abs(pv, (long)m * p.k) > 0.1 * vscale);
    /* idempotent: projecting again changes nothing */
    CU_ASSERT_EQUAL(isw_dist_ls_project_perp(ls, vloc, p.k), 0);
    double moved = 0.0;
    for (int i = 0; i < mloc; ++i)
      for (int j = 0; j < p.k; ++j)
        moved = fmax(moved, fabs(vloc[i + (size_t)j * ld] -
                                 pv[isw_dist_ls_global_row(ls, i) + (size_t)j * m]));
    CU_ASSERT(moved <= TOL * vscale);
  }
done:
  isw_dist_ls_destroy(&ls);
  CU_ASSERT_PTR_NULL(ls);
  free(x);
  free(xr);
  free(pv);
  free(pvr);
  free(vloc);
  free(r);
  free(atr);
  problem_free(&p);
  return err;
}

/* Shapes shared by the world and self teams: mb never divides m. */
static void run_shapes(MPI_Comm team) {
  check_case(team, 37, 13, 5, 0, 1);    /* QR, nb 64 > n */
  check_case(team, 120, 50, 7, 0, 2);   /* QR, several row blocks per rank */
  check_case(team, 120, 50, 7, 16, 3);  /* QR, nb != mb, nb < n */
  check_case(team, 90, 41, 32, 8, 4);   /* QR, mb > nb */
  check_case(team, 13, 37, 5, 0, 5);    /* LQ, min-norm */
  check_case(team, 50, 120, 16, 0, 6);  /* LQ */
  check_case(team, 3, 40, 8, 0, 7);     /* LQ, one row block: rank 1 owns no row */
  check_case(team, 24, 24, 5, 0, 8);    /* square: QR path, P⊥ = 0 */
}

static void test_world_team(void) {
  worst_rcond_diff = 0.0;
  run_shapes(MPI_COMM_WORLD);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) printf("\n    largest |rcond - rcond_lapack| / rcond_lapack: %.1e ", worst_rcond_diff);
}

static void test_self_team(void) { run_shapes(MPI_COMM_SELF); }

/* Split the world into singleton teams, then a team of everyone made with
 * MPI_Comm_create_group, 20 times over, each with a QR- and an LQ-shaped
 * solver: BLACS handles must be released (the same ids come back every time),
 * results stay right, nothing hangs. */
static void test_subcomm_teams_repeated(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Group world_group;
  MPI_Comm_group(MPI_COMM_WORLD, &world_group);
  int first[2][2][3], stable = 1, valid = 1;
  for (int it = 0; it < 20; ++it) {
    MPI_Comm single = MPI_COMM_NULL, all = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, rank, 0, &single);
    MPI_Comm_create_group(MPI_COMM_WORLD, world_group, 7, &all);
    MPI_Comm teams[2] = {single, all};
    for (int t = 0; t < 2; ++t) {
      for (int shape = 0; shape < 2; ++shape) {
        isw_dist_ls *ls = NULL;
        int m = shape ? 11 : 29, n = shape ? 29 : 11, ids[3];
        CU_ASSERT_EQUAL_FATAL(isw_dist_ls_create(&ls, teams[t], m, n, 4), 0);
        isw_dist_ls_blacs_ids(ls, &ids[0], &ids[1], &ids[2]);
        valid &= ids[0] >= 0 && ids[1] >= 0;
        for (int q = 0; q < 3; ++q) {
          if (it == 0) first[t][shape][q] = ids[q];
          else if (ids[q] != first[t][shape][q]) stable = 0;
        }
        isw_dist_ls_destroy(&ls);
      }
    }
    /* and a full solve on each team, checked against LAPACK */
    CU_ASSERT_EQUAL(check_case(single, 29, 11, 4, 0, 100 + it), 0);
    CU_ASSERT_EQUAL(check_case(all, 11, 29, 4, 8, 200 + it), 0);
    MPI_Comm_free(&single);
    MPI_Comm_free(&all);
  }
  MPI_Group_free(&world_group);
  CU_ASSERT(stable);
  CU_ASSERT(valid);
}

/* Two live solvers over the same communicator do not share BLACS handles. */
static void test_two_live_solvers(void) {
  isw_dist_ls *a = NULL, *b = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_dist_ls_create(&a, MPI_COMM_WORLD, 20, 6, 3), 0);
  CU_ASSERT_EQUAL_FATAL(isw_dist_ls_create(&b, MPI_COMM_WORLD, 20, 6, 3), 0);
  int sa, ca, sb, cb;
  isw_dist_ls_blacs_ids(a, &sa, &ca, NULL);
  isw_dist_ls_blacs_ids(b, &sb, &cb, NULL);
  CU_ASSERT(sa != sb && ca != cb);
  isw_dist_ls_destroy(&a);
  isw_dist_ls_destroy(&b);
  isw_dist_ls_destroy(&b); /* NULL-safe */
  CU_ASSERT_EQUAL(check_case(MPI_COMM_WORLD, 20, 6, 3, 0, 9), 0);
}

static void test_usage_errors(void) {
  isw_dist_ls *ls = NULL;
  CU_ASSERT_EQUAL(isw_dist_ls_create(&ls, MPI_COMM_WORLD, 10, 5, 0), ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(ls);
  CU_ASSERT_EQUAL(isw_dist_ls_create(&ls, MPI_COMM_WORLD, 0, 5, 4), ISW_EUSAGE);
  CU_ASSERT_EQUAL(isw_dist_ls_create(&ls, MPI_COMM_NULL, 10, 5, 4), ISW_EUSAGE);
  CU_ASSERT_EQUAL_FATAL(isw_dist_ls_create(&ls, MPI_COMM_WORLD, 10, 5, 4), 0);
  double v[10] = {0}, x[5];
  CU_ASSERT_EQUAL(isw_dist_ls_project_perp(ls, v, 1), ISW_EUSAGE);
  CU_ASSERT_EQUAL(isw_dist_ls_set_nb(ls, 0), ISW_EUSAGE);
  problem p;
  problem_make(&p, 10, 5, 11);
  fill_local(ls, &p);
  CU_ASSERT_EQUAL(isw_dist_ls_solve(ls, x, NULL), 0);
  CU_ASSERT_EQUAL(isw_dist_ls_solve(ls, x, NULL), ISW_EUSAGE);
  CU_ASSERT_EQUAL(isw_dist_ls_set_nb(ls, 32), ISW_EUSAGE);
  CU_ASSERT_EQUAL(isw_dist_ls_project_perp(ls, v, -1), ISW_EUSAGE);
  CU_ASSERT_EQUAL(isw_dist_ls_project_perp(ls, v, 0), 0);
  isw_dist_ls_destroy(&ls);
  problem_free(&p);
  isw_error_clear();
}

/* An exactly rank-deficient A (a zero column for QR, a zero row for LQ) is
 * ISW_ENUMERIC on every rank, not a NaN solution. */
static void test_rank_deficient(void) {
  const int shapes[2][2] = {{30, 8}, {8, 30}};
  for (int s = 0; s < 2; ++s) {
    int m = shapes[s][0], n = shapes[s][1];
    problem p;
    problem_make(&p, m, n, 12);
    if (m > n) {
      for (int i = 0; i < m; ++i) p.a[i + (size_t)(n - 1) * m] = 0.0;
    } else {
      for (int j = 0; j < n; ++j) p.a[(m - 1) + (size_t)j * m] = 0.0;
    }
    isw_dist_ls *ls = NULL;
    double *x = calloc((size_t)n, sizeof *x);
    CU_ASSERT_EQUAL_FATAL(isw_dist_ls_create(&ls, MPI_COMM_WORLD, m, n, 3), 0);
    /* nb 4: at 2 ranks the zero diagonal entry (7, 7) of L is on rank 1 */
    CU_ASSERT_EQUAL(isw_dist_ls_set_nb(ls, 4), 0);
    fill_local(ls, &p);
    double rcond = -1.0;
    CU_ASSERT_EQUAL(isw_dist_ls_solve(ls, x, &rcond), ISW_ENUMERIC);
    CU_ASSERT(strstr(isw_error_message(), "rank deficient") != NULL);
    CU_ASSERT_EQUAL(rcond, 0.0); /* exactly singular, on every rank */
    isw_error_clear();
    isw_dist_ls_destroy(&ls);
    free(x);
    problem_free(&p);
  }
}

/* The example and its relatives: a column that is the sum of two
 * others (QR) or a row that is the sum of two others (LQ) leaves an O(eps)
 * diagonal entry, not an exact zero; the condition estimate refuses the
 * solve on every rank with the same rcond, below the floor.  10 x 4 with mb 3
 * (at 2 ranks rows are split 6 + 4); 30 x 8 and 8 x 30 with nb 4 put the
 * dependent column / row's diagonal entry on rank 1. */
static void test_numerically_rank_deficient(void) {
  const int shapes[3][3] = {{10, 4, 2}, {30, 8, 5}, {8, 30, 6}}; /* m, n, dependent index */
  for (int s = 0; s < 3; ++s) {
    int m = shapes[s][0], n = shapes[s][1], dep = shapes[s][2];
    problem p;
    problem_make(&p, m, n, 13);
    if (m > n)
      for (int i = 0; i < m; ++i) p.a[i + (size_t)dep * m] = p.a[i] + p.a[i + (size_t)m];
    else
      for (int j = 0; j < n; ++j)
        p.a[dep + (size_t)j * m] = p.a[(size_t)j * m] + p.a[1 + (size_t)j * m];
    isw_dist_ls *ls = NULL;
    double *x = calloc((size_t)n, sizeof *x), rcond = -1.0;
    CU_ASSERT_EQUAL_FATAL(isw_dist_ls_create(&ls, MPI_COMM_WORLD, m, n, 3), 0);
    CU_ASSERT_EQUAL(isw_dist_ls_set_nb(ls, 4), 0);
    fill_local(ls, &p);
    int e = isw_dist_ls_solve(ls, x, &rcond);
    CU_ASSERT_EQUAL(e, ISW_ENUMERIC);
    CU_ASSERT(strstr(isw_error_message(), "numerically rank deficient") != NULL);
    CU_ASSERT(rcond >= 0.0 && rcond < isw_linalg_rcond_min(m, n));
    CU_ASSERT(same_everywhere(rcond, MPI_COMM_WORLD));
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
      printf("\n    %d x %d: rc %d, rcond %.2e (lapack %.2e, floor %.2e) ", m, n, e, rcond,
             ref_rcond(&p), isw_linalg_rcond_min(m, n));
    isw_error_clear();
    isw_dist_ls_destroy(&ls);
    free(x);
    problem_free(&p);
  }
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"world team: x and P_perp V equal LAPACK for QR, LQ and square shapes", test_world_team},
      {"1-rank team on MPI_COMM_SELF equals LAPACK on every rank", test_self_team},
      {"sub-communicator teams made and released 20 times reuse BLACS ids",
       test_subcomm_teams_repeated},
      {"two live solvers on one communicator hold distinct BLACS handles",
       test_two_live_solvers},
      {"bad sizes, project before solve and solve twice are ISW_EUSAGE", test_usage_errors},
      {"an exactly rank-deficient A is ISW_ENUMERIC", test_rank_deficient},
      {"a numerically rank-deficient A (col = sum of two, row = sum of two) is refused",
       test_numerically_rank_deficient},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "linalg_dist", cases);
}
