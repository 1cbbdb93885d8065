/* test_solvers.c — the inner fixed-point solvers (solvers.h): Anderson and
 * Broyden solve a contractive affine fixed point to 1e-10 in fewer f
 * evaluations than Picard; the damped Picard step is what it says; every
 * row of a batch is its own problem; the safeguard's fallback is taken
 * (singular Anderson solve, residual growth on an expansive map) and
 * counted.
 *
 * Shapes: B = rows, H = state size. */
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/rng.h"
#include "isweep/solvers.h"
#include "testutil.h"

/* f(z) = A z + c per row, A (H, H) symmetric with spectral norm `scale`,
 * c (B, H): a different problem per row. */
typedef struct {
  int64_t h, rows;
  double *a, *c;
} affine;

static void affine_make(affine *f, int64_t h, int64_t rows, double scale, uint64_t seed) {
  f->h = h;
  f->rows = rows;
  f->a = malloc(sizeof(double) * h * h);
  f->c = malloc(sizeof(double) * h * rows);
  double *g = malloc(sizeof(double) * h * h), *ev = malloc(sizeof(double) * h);
  isw_rng r;
  isw_rng_init(&r, seed, 3, ISW_STREAM_INIT);
  /* A = scale · S / ||S||_2 with S symmetric Gaussian: ||A||_2 = rho(A) = scale exactly */
  isw_rng_normal_fill(&r, g, (size_t)(h * h), 0.0, 1.0);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < h; ++j) f->a[i * h + j] = g[i * h + j] + g[j * h + i];
  memcpy(g, f->a, sizeof(double) * h * h);
  CU_ASSERT_FATAL(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)h, g, (lapack_int)h, ev) == 0);
  double norm = fmax(fabs(ev[0]), fabs(ev[h - 1]));
  for (int64_t i = 0; i < h * h; ++i) f->a[i] *= scale / norm;
  isw_rng_normal_fill(&r, f->c, (size_t)(h * rows), 0.0, 1.0);
  free(g);
  free(ev);
}

static void affine_free(affine *f) {
  free(f->a);
  free(f->c);
}

static int affine_map(void *ctx, isw_real *fz, const isw_real *z, int64_t rows) {
  const affine *f = ctx;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < f->h; ++i) {
      double s = f->c[r * f->h + i];
      for (int64_t j = 0; j < f->h; ++j) s += f->a[i * f->h + j] * z[r * f->h + j];
      fz[r * f->h + i] = s;
    }
  return 0;
}

/* Evaluations of f to reach max relative residual <= tol from z = 0; the
 * solution is checked against the exact fixed point (one Picard-solved to
 * 1e-15 is the reference). */
static int64_t evals_to(const affine *f, isw_solver_kind kind, int m, double beta, double tol,
                        double *zout, int64_t *fallbacks) {
  isw_solver_opts o = {.kind = kind, .beta = beta, .m = m, .lambda = 1e-10};
  isw_solver *s = NULL;
  CU_ASSERT_FATAL(isw_solver_create(&s, &o, f->rows, f->h) == 0);
  int64_t bh = f->rows * f->h;
  isw_real *fz = calloc((size_t)bh, sizeof *fz), *tmp = calloc((size_t)bh, sizeof *tmp);
  memset(zout, 0, sizeof(double) * bh);
  isw_solver_result res;
  CU_ASSERT_FATAL(isw_solver_solve(&res, s, affine_map, (void *)f, zout, fz, tmp, f->rows, tol,
                                   100000) == 0);
  CU_ASSERT(res.converged == 1);
  CU_ASSERT(res.residual <= tol);
  if (fallbacks) *fallbacks = isw_solver_fallbacks(s);
  isw_solver_destroy(&s);
  CU_ASSERT(s == NULL);
  free(fz);
  free(tmp);
  return res.evals;
}

static void test_affine_fewer_evals(void) {
  affine f;
  affine_make(&f, 32, 5, 0.95, 11);
  int64_t bh = f.rows * f.h;
  double *zp = malloc(sizeof(double) * bh), *za = malloc(sizeof(double) * bh),
         *zb = malloc(sizeof(double) * bh), *zx = malloc(sizeof(double) * bh);
  int64_t np = evals_to(&f, ISW_SOLVER_PICARD, 1, 1.0, 1e-10, zp, NULL);
  int64_t fa = 0, fb = 0;
  int64_t na = evals_to(&f, ISW_SOLVER_ANDERSON, 5, 1.0, 1e-10, za, &fa);
  int64_t nb = evals_to(&f, ISW_SOLVER_BROYDEN, 30, 1.0, 1e-10, zb, &fb);
  (void)evals_to(&f, ISW_SOLVER_PICARD, 1, 1.0, 1e-15, zx, NULL);
  printf("\n    affine H=32, ||A|| = 0.95: f evaluations to 1e-10: picard %lld, anderson(5) %lld "
         "(fallbacks %lld), broyden(30) %lld (fallbacks %lld)\n",
         (long long)np, (long long)na, (long long)fa, (long long)nb, (long long)fb);
  CU_ASSERT(na < np);
  CU_ASSERT(nb < np);
  CU_ASSERT(2 * na < np); /* acceleration is worth more than a few steps here */
  /* all three found the same fixed point, to the tolerance's order */
  CU_ASSERT(isw_test_rel_diff(za, zx, bh, 1e-300) < 1e-8);
  CU_ASSERT(isw_test_rel_diff(zb, zx, bh, 1e-300) < 1e-8);
  CU_ASSERT(isw_test_rel_diff(zp, zx, bh, 1e-300) < 1e-8);
  free(zp), free(za), free(zb), free(zx);
  affine_free(&f);
}

/* Rows are independent: solving a batch gives each row what solving it alone gives. */
static void test_rows_independent(void) {
  affine f;
  affine_make(&f, 16, 3, 0.8, 5);
  for (int kind = 1; kind <= 2; ++kind) {
    isw_solver_opts o = {.kind = (isw_solver_kind)kind, .beta = 1.0, .m = 4, .lambda = 1e-10};
    isw_solver *s = NULL, *s1 = NULL;
    CU_ASSERT_FATAL(isw_solver_create(&s, &o, 3, 16) == 0);
    CU_ASSERT_FATAL(isw_solver_create(&s1, &o, 1, 16) == 0);
    isw_real z[48] = {0}, fz[48], zn[48], z1[16] = {0}, fz1[16], zn1[16];
    isw_solver_reset(s, 3);
    isw_solver_reset(s1, 1);
    affine one = f;
    one.rows = 1;
    one.c = f.c + 32; /* the third row alone */
    for (int it = 0; it < 12; ++it) {
      affine_map(&f, fz, z, 3);
      affine_map(&one, fz1, z1, 1);
      isw_solver_step(s, zn, z, fz);
      isw_solver_step(s1, zn1, z1, fz1);
      memcpy(z, zn, sizeof z);
      memcpy(z1, zn1, sizeof z1);
    }
    CU_ASSERT(isw_test_rel_diff(z + 32, z1, 16, 1e-300) < 1e-13);
    isw_solver_destroy(&s);
    isw_solver_destroy(&s1);
  }
  affine_free(&f);
}

/* Picard with damping beta: z <- (1 - beta) z + beta f(z), exactly. */
static void test_picard_damped(void) {
  isw_solver_opts o = {.kind = ISW_SOLVER_PICARD, .beta = 0.25, .m = 1, .lambda = 0};
  isw_solver *s = NULL;
  CU_ASSERT_FATAL(isw_solver_create(&s, &o, 2, 3) == 0);
  isw_solver_reset(s, 2);
  isw_real z[6] = {1, 2, 3, 4, 5, 6}, fz[6] = {5, 6, 7, 8, 9, 10}, zn[6];
  isw_solver_step(s, zn, z, fz);
  for (int i = 0; i < 6; ++i) CU_ASSERT_DOUBLE_EQUAL(zn[i], 0.75 * z[i] + 0.25 * fz[i], 1e-15);
  CU_ASSERT(isw_solver_fallbacks(s) == 0);
  isw_solver_destroy(&s);
  /* bad options are refused */
  o.beta = 0.0;
  CU_ASSERT(isw_solver_create(&s, &o, 2, 3) != 0);
  CU_ASSERT(s == NULL);
}

/* A singular Anderson system (lambda = 0, a zero residual in the history)
 * takes the damped Picard step and is counted. */
static void test_anderson_singular_fallback(void) {
  isw_solver_opts o = {.kind = ISW_SOLVER_ANDERSON, .beta = 0.5, .m = 3, .lambda = 0};
  isw_solver *s = NULL;
  CU_ASSERT_FATAL(isw_solver_create(&s, &o, 1, 2) == 0);
  isw_solver_reset(s, 1);
  isw_real z0[2] = {0, 0}, f0[2] = {1, 2}, z1[2], z2[2];
  isw_solver_step(s, z1, z0, f0); /* first step: damped Picard, not a fallback */
  CU_ASSERT(isw_solver_fallbacks(s) == 0);
  CU_ASSERT_DOUBLE_EQUAL(z1[0], 0.5, 1e-15);
  /* at z1, pretend f(z1) = z1: G = {f0 - z0, 0}: the Gram matrix is singular */
  isw_solver_step(s, z2, z1, z1);
  CU_ASSERT(isw_solver_fallbacks(s) == 1);
  CU_ASSERT_DOUBLE_EQUAL(z2[0], z1[0], 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(z2[1], z1[1], 1e-15);
  isw_solver_destroy(&s);
}

/* On an expansive map f(z) = tanh(3 W z + c) the accelerated steps overshoot:
 * the residual-growth safeguard is taken (counted), and the solves stay finite. */
static int tanh_map(void *ctx, isw_real *fz, const isw_real *z, int64_t rows) {
  const affine *f = ctx;
  affine_map(ctx, fz, z, rows);
  for (int64_t i = 0; i < rows * f->h; ++i) fz[i] = tanh(fz[i]);
  return 0;
}

static void test_growth_fallback(void) {
  affine f;
  affine_make(&f, 24, 8, 3.0, 9);
  for (int kind = 1; kind <= 2; ++kind) {
    isw_solver_opts o = {.kind = (isw_solver_kind)kind, .beta = 1.0, .m = 5, .lambda = 1e-8};
    isw_solver *s = NULL;
    CU_ASSERT_FATAL(isw_solver_create(&s, &o, 8, 24) == 0);
    isw_real z[192] = {0}, fz[192], tmp[192];
    isw_solver_result res;
    CU_ASSERT(isw_solver_solve(&res, s, tanh_map, &f, z, fz, tmp, 8, 1e-12, 200) == 0);
    printf("\n    expansive tanh map, %s: %lld fallbacks in %lld evaluations, residual %.3g",
           isw_solver_names[kind], (long long)isw_solver_fallbacks(s), (long long)res.evals,
           res.residual);
    CU_ASSERT(isw_solver_fallbacks(s) > 0);
    for (int i = 0; i < 192; ++i) CU_ASSERT(isfinite(z[i]));
    isw_solver_destroy(&s);
  }
  affine_free(&f);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"Anderson and Broyden reach 1e-10 on an affine contraction in fewer f evaluations than Picard",
       test_affine_fewer_evals},
      {"every row of a batch is its own fixed-point problem", test_rows_independent},
      {"damped Picard is (1 - beta) z + beta f(z); bad options are refused", test_picard_damped},
      {"a singular Anderson solve falls back to a counted Picard step", test_anderson_singular_fallback},
      {"residual growth on an expansive map triggers the counted fallback", test_growth_fallback},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "solvers", cases);
}
