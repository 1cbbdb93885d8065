/* test_deq.c — the deq family: BLAS kernels against plain loops, every
 * parameter block's gradient against central finite differences in both
 * gradient modes, implicit = unrolled on a contraction, the one-pass
 * evaluation and its limit, failure as data (diverged training, non-finite
 * evaluation), spec errors from validate, and run() end to end.
 *
 * Shapes: B = rows, H = width, D = inputs, K = outputs, P = parameters. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/data.h"
#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/rng.h"
#include "isweep/solvers.h"
#include "isweep/task.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------- */

/* A random model with nonzero biases and data x (B, D), y (B, K) or label (B). */
typedef struct {
  isw_deq_model *m;
  double *x, *y;
  int32_t *label;
  int64_t rows;
} fixture;

static void fixture_make(fixture *f, isw_deq_act act, int classification, int64_t h, int64_t d,
                         int64_t k, int64_t rows, double w_scale, uint64_t seed) {
  memset(f, 0, sizeof *f);
  CU_ASSERT_FATAL(isw_deq_model_create(&f->m, h, d, k, act, classification) == 0);
  isw_rng r;
  isw_rng_init(&r, seed, 1, ISW_STREAM_INIT);
  CU_ASSERT_FATAL(isw_deq_model_init(f->m, w_scale, &r) == 0);
  isw_rng_normal_fill(&r, f->m->b, (size_t)h, 0.0, 0.3);
  isw_rng_normal_fill(&r, f->m->c, (size_t)k, 0.0, 0.3);
  f->rows = rows;
  f->x = calloc((size_t)(rows * d), sizeof *f->x);
  isw_rng_normal_fill(&r, f->x, (size_t)(rows * d), 0.0, 1.0);
  if (classification) {
    f->label = calloc((size_t)rows, sizeof *f->label);
    for (int64_t i = 0; i < rows; ++i) f->label[i] = (int32_t)isw_rng_below(&r, (uint64_t)k);
  } else {
    f->y = calloc((size_t)(rows * k), sizeof *f->y);
    isw_rng_normal_fill(&r, f->y, (size_t)(rows * k), 0.0, 1.0);
  }
}

static void fixture_free(fixture *f) {
  isw_deq_model_destroy(&f->m);
  free(f->x);
  free(f->y);
  free(f->label);
}

static double loss_at(fixture *f, isw_deq_work *ws, int64_t n_iters) {
  double l = NAN;
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, NULL, NULL, f->m, ws, f->x, f->y, f->label, f->rows,
                                    n_iters, ISW_DEQ_UNROLLED, NULL) == 0);
  return l;
}

static const char *block_name[ISW_DEQ_N_BLOCKS] = {"W", "U", "b", "V", "c"};

/* Max over blocks of the relative error of grad against central differences
 * of the n_iters-step loss (h = 1e-5); prints each block's error. */
static double fd_check(fixture *f, isw_deq_work *ws, const double *grad, int64_t n_iters,
                       const char *what) {
  double worst = 0.0;
  const double step = 1e-5;
  for (int blk = 0; blk < ISW_DEQ_N_BLOCKS; ++blk) {
    int64_t off, len;
    isw_deq_block(&off, &len, f->m, blk);
    double num = 0.0, den = 0.0;
    for (int64_t i = off; i < off + len; ++i) {
      double keep = f->m->theta[i];
      f->m->theta[i] = keep + step;
      double lp = loss_at(f, ws, n_iters);
      f->m->theta[i] = keep - step;
      double lm = loss_at(f, ws, n_iters);
      f->m->theta[i] = keep;
      double fd = (lp - lm) / (2.0 * step);
      num = fmax(num, fabs(fd - grad[i]));
      den = fmax(den, fabs(grad[i]));
    }
    double rel = num / fmax(den, 1e-12);
    if (rel > 1e-6 || den < 1e-8)
      printf("\n  %s block %s: |g|max %.3g, FD rel err %.3g", what, block_name[blk], den, rel);
    CU_ASSERT(den > 1e-8); /* a zero block would make the check vacuous */
    worst = fmax(worst, rel);
  }
  return worst;
}

/* min |pre-activation| over the iterations 1..n_iters of the fixture (relu kinks). */
static double min_abs_preact(fixture *f, int64_t n_iters) {
  int64_t h = f->m->h, bh = f->rows * h;
  double *xu = calloc((size_t)bh, sizeof *xu), *z = calloc((size_t)bh, sizeof *z);
  double *a = calloc((size_t)bh, sizeof *a);
  isw_deq_affine(1, xu, f->x, f->m->U, f->m->b, f->rows, h, f->m->d);
  double mn = INFINITY;
  for (int64_t it = 0; it < n_iters; ++it) {
    isw_deq_step(1, ISW_DEQ_IDENTITY, a, it ? z : NULL, f->m->W, xu, f->rows, h);
    for (int64_t i = 0; i < bh; ++i) {
      mn = fmin(mn, fabs(a[i]));
      z[i] = a[i] > 0 ? a[i] : 0.0;
    }
  }
  free(xu);
  free(z);
  free(a);
  return mn;
}

/* ---- kernels ------------------------------------------------------------------ */

static void test_tanh_kernel(void) {
  const int64_t n = 1003;
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  isw_rng r;
  isw_rng_init(&r, 3, 3, 3);
  for (int64_t i = 0; i < n; ++i) {
    double s = i % 3 == 0 ? 1e-6 : (i % 3 == 1 ? 1.0 : 30.0);
    a[i] = s * isw_rng_normal(&r);
  }
  a[0] = 0.0;
  a[1] = -0.0;
  a[2] = 1e-300;
  a[3] = 700.0;
  a[4] = -700.0;
  memcpy(b, a, n * sizeof *b);
  isw_deq_activate(0, ISW_DEQ_TANH, a, n);
  isw_deq_activate(1, ISW_DEQ_TANH, b, n);
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i)
    worst = fmax(worst, fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1e-300));
  CU_ASSERT(worst <= 4e-15);
  double nanv[3] = {NAN, INFINITY, -INFINITY};
  isw_deq_activate(0, ISW_DEQ_TANH, nanv, 3);
  CU_ASSERT(isnan(nanv[0]));
  CU_ASSERT(nanv[1] == 1.0 && nanv[2] == -1.0);
  free(a);
  free(b);
}

static void test_kernels_match_reference(void) {
  isw_rng r;
  isw_rng_init(&r, 5, 5, 5);
  const int64_t m = 13, n = 11, k = 9;
  double *a = malloc(sizeof(double) * 200), *b = malloc(sizeof(double) * 200);
  double *c1 = malloc(sizeof(double) * 200), *c2 = malloc(sizeof(double) * 200);
  isw_rng_normal_fill(&r, a, 200, 0, 1);
  isw_rng_normal_fill(&r, b, 200, 0, 1);
  isw_rng_normal_fill(&r, c1, 200, 0, 1);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      memcpy(c2, c1, sizeof(double) * 200);
      double *c0 = malloc(sizeof(double) * 200);
      memcpy(c0, c1, sizeof(double) * 200);
      int64_t lda = ta ? m : k, ldb = tb ? k : n;
      isw_nn_gemm(0, ta, tb, m, n, k, 0.7, a, lda, b, ldb, 0.3, c0, n);
      isw_nn_gemm(1, ta, tb, m, n, k, 0.7, a, lda, b, ldb, 0.3, c2, n);
      CU_ASSERT(isw_test_rel_diff(c0, c2, m * n, 1e-300) < 1e-13);
      free(c0);
    }
  /* fused step and its backward, every activation */
  const int64_t rows = 7, h = 10;
  double *w = malloc(sizeof(double) * h * h), *xu = malloc(sizeof(double) * rows * h);
  double *z = malloc(sizeof(double) * rows * h), *g = malloc(sizeof(double) * rows * h);
  double *o1 = malloc(sizeof(double) * rows * h), *o2 = malloc(sizeof(double) * rows * h);
  double *d1 = malloc(sizeof(double) * rows * h), *d2 = malloc(sizeof(double) * rows * h);
  double *p1 = malloc(sizeof(double) * rows * h), *p2 = malloc(sizeof(double) * rows * h);
  isw_rng_normal_fill(&r, w, h * h, 0, 0.5);
  isw_rng_normal_fill(&r, xu, rows * h, 0, 1);
  isw_rng_normal_fill(&r, z, rows * h, 0, 1);
  isw_rng_normal_fill(&r, g, rows * h, 0, 1);
  for (int act = 0; act < 3; ++act) {
    isw_deq_step(0, (isw_deq_act)act, o1, z, w, xu, rows, h);
    isw_deq_step(1, (isw_deq_act)act, o2, z, w, xu, rows, h);
    CU_ASSERT(isw_test_rel_diff(o1, o2, rows * h, 1e-300) < 1e-13);
    isw_deq_step(0, (isw_deq_act)act, o1, NULL, w, xu, rows, h);
    isw_deq_step(1, (isw_deq_act)act, o2, NULL, w, xu, rows, h);
    CU_ASSERT(isw_test_rel_diff(o1, o2, rows * h, 1e-300) < 1e-13);
    isw_rng_normal_fill(&r, p1, rows * h, 0, 1);
    memcpy(p2, p1, sizeof(double) * rows * h);
    isw_deq_step_back(0, (isw_deq_act)act, d1, p1, g, o1, w, 1.0, rows, h);
    isw_deq_step_back(1, (isw_deq_act)act, d2, p2, g, o1, w, 1.0, rows, h);
    CU_ASSERT(isw_test_rel_diff(d1, d2, rows * h, 1e-300) < 1e-13);
    CU_ASSERT(isw_test_rel_diff(p1, p2, rows * h, 1e-300) < 1e-13);
  }
  /* affine with bias */
  isw_deq_affine(0, o1, z, w, xu, rows, h, h);
  isw_deq_affine(1, o2, z, w, xu, rows, h, h);
  CU_ASSERT(isw_test_rel_diff(o1, o2, rows * h, 1e-300) < 1e-13);
  free(a), free(b), free(c1), free(c2), free(w), free(xu), free(z), free(g);
  free(o1), free(o2), free(d1), free(d2), free(p1), free(p2);
}

/* The whole loss/gradient with BLAS equals the one with plain loops. */
static void test_pipeline_matches_reference(void) {
  for (int mode = 0; mode < 2; ++mode) {
    fixture f;
    fixture_make(&f, ISW_DEQ_TANH, 1, 9, 5, 4, 11, 0.6, 77);
    isw_deq_work *w0 = NULL, *w1 = NULL;
    CU_ASSERT_FATAL(isw_deq_work_create(&w0, f.m, f.rows, 6, (isw_deq_grad)mode) == 0);
    CU_ASSERT_FATAL(isw_deq_work_create(&w1, f.m, f.rows, 6, (isw_deq_grad)mode) == 0);
    isw_deq_work_set_reference(w1, 1);
    int64_t p = f.m->n_params;
    double *g0 = calloc(p, sizeof *g0), *g1 = calloc(p, sizeof *g1), l0, l1;
    isw_deq_bwd_opts bwd = {.tol = 1e-12, .max_iter = 500, .direct_width = 0};
    CU_ASSERT(isw_deq_loss_grad(&l0, g0, NULL, f.m, w0, f.x, f.y, f.label, f.rows, 6,
                                (isw_deq_grad)mode, &bwd) == 0);
    CU_ASSERT(isw_deq_loss_grad(&l1, g1, NULL, f.m, w1, f.x, f.y, f.label, f.rows, 6,
                                (isw_deq_grad)mode, &bwd) == 0);
    CU_ASSERT(isw_test_close(l0, l1, 1e-13, 1e-300));
    CU_ASSERT(isw_test_rel_diff(g0, g1, p, 1e-300) < 1e-12);
    free(g0), free(g1);
    isw_deq_work_destroy(&w0);
    isw_deq_work_destroy(&w1);
    fixture_free(&f);
  }
}

/* ---- gradients against finite differences --------------------------------- */

static void check_unrolled(isw_deq_act act, int classification, uint64_t seed) {
  fixture f;
  const int64_t n_iters = 4;
  fixture_make(&f, act, classification, 6, 4, classification ? 3 : 2, 5, 0.7, seed);
  if (act == ISW_DEQ_RELU) { /* points away from the kinks */
    for (uint64_t s = seed + 1; min_abs_preact(&f, n_iters) < 1e-3 && s < seed + 200; ++s) {
      fixture_free(&f);
      fixture_make(&f, act, classification, 6, 4, classification ? 3 : 2, 5, 0.7, s);
    }
    CU_ASSERT_FATAL(min_abs_preact(&f, n_iters) >= 1e-3);
  }
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, n_iters, ISW_DEQ_UNROLLED) == 0);
  double *g = calloc(f.m->n_params, sizeof *g), l;
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, NULL, f.m, ws, f.x, f.y, f.label, f.rows, n_iters,
                                    ISW_DEQ_UNROLLED, NULL) == 0);
  double err = fd_check(&f, ws, g, n_iters, "unrolled");
  printf("\n    unrolled act=%d cls=%d: max block FD rel err %.2e", (int)act, classification, err);
  CU_ASSERT(err <= 1e-6);
  free(g);
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

static void test_unrolled_fd_tanh(void) {
  check_unrolled(ISW_DEQ_TANH, 0, 11);
  check_unrolled(ISW_DEQ_TANH, 1, 12);
}
static void test_unrolled_fd_identity(void) {
  check_unrolled(ISW_DEQ_IDENTITY, 0, 13);
  check_unrolled(ISW_DEQ_IDENTITY, 1, 14);
}
static void test_unrolled_fd_relu(void) {
  check_unrolled(ISW_DEQ_RELU, 0, 15);
  check_unrolled(ISW_DEQ_RELU, 1, 16);
}

/* Implicit gradient at the exact fixed point (N = 300 on a 0.5-contraction
 * reaches it to rounding) against FD of the loss at that fixed point. */
static void check_implicit(isw_deq_act act, int classification, int64_t direct_width,
                           uint64_t seed) {
  fixture f;
  const int64_t n_iters = 300;
  fixture_make(&f, act, classification, 6, 4, classification ? 3 : 2, 5, 0.5, seed);
  if (act == ISW_DEQ_RELU) {
    for (uint64_t s = seed + 1; min_abs_preact(&f, n_iters) < 1e-3 && s < seed + 200; ++s) {
      fixture_free(&f);
      fixture_make(&f, act, classification, 6, 4, classification ? 3 : 2, 5, 0.5, s);
    }
    CU_ASSERT_FATAL(min_abs_preact(&f, n_iters) >= 1e-3);
  }
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, n_iters, ISW_DEQ_IMPLICIT) == 0);
  double *g = calloc(f.m->n_params, sizeof *g), l;
  isw_deq_bwd_opts bwd = {.tol = 1e-14, .max_iter = 2000, .direct_width = direct_width};
  isw_deq_info info;
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, &info, f.m, ws, f.x, f.y, f.label, f.rows, n_iters,
                                    ISW_DEQ_IMPLICIT, &bwd) == 0);
  CU_ASSERT(info.bwd_converged == 1);
  CU_ASSERT(direct_width >= f.m->h ? info.bwd_iters == 0 : info.bwd_iters > 5);
  double err = fd_check(&f, ws, g, n_iters, direct_width ? "implicit-direct" : "implicit");
  printf("\n    implicit act=%d cls=%d direct=%d (bwd iters %lld): max block FD rel err %.2e",
         (int)act, classification, direct_width > 0, (long long)info.bwd_iters, err);
  CU_ASSERT(err <= 1e-6);
  free(g);
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

static void test_implicit_fd_tanh(void) {
  check_implicit(ISW_DEQ_TANH, 0, 0, 21);
  check_implicit(ISW_DEQ_TANH, 1, 0, 22);
  check_implicit(ISW_DEQ_TANH, 1, 64, 23);
}
static void test_implicit_fd_identity(void) {
  check_implicit(ISW_DEQ_IDENTITY, 0, 0, 24);
  check_implicit(ISW_DEQ_IDENTITY, 1, 64, 25);
}
static void test_implicit_fd_relu(void) {
  check_implicit(ISW_DEQ_RELU, 0, 0, 26);
  check_implicit(ISW_DEQ_RELU, 1, 64, 27);
}

/* Large N on a contraction: unrolled and implicit gradients agree. */
static void test_implicit_matches_unrolled(void) {
  for (int act = 0; act < 3; ++act) {
    fixture f;
    const int64_t n_iters = 120;
    fixture_make(&f, (isw_deq_act)act, 1, 8, 5, 3, 6, 0.6, 31 + act);
    isw_deq_work *wu = NULL, *wi = NULL;
    CU_ASSERT_FATAL(isw_deq_work_create(&wu, f.m, f.rows, n_iters, ISW_DEQ_UNROLLED) == 0);
    CU_ASSERT_FATAL(isw_deq_work_create(&wi, f.m, f.rows, n_iters, ISW_DEQ_IMPLICIT) == 0);
    int64_t p = f.m->n_params;
    double *gu = calloc(p, sizeof *gu), *gi = calloc(p, sizeof *gi), lu, li;
    isw_deq_bwd_opts bwd = {.tol = 1e-13, .max_iter = 1000, .direct_width = 0};
    CU_ASSERT(isw_deq_loss_grad(&lu, gu, NULL, f.m, wu, f.x, f.y, f.label, f.rows, n_iters,
                                ISW_DEQ_UNROLLED, &bwd) == 0);
    CU_ASSERT(isw_deq_loss_grad(&li, gi, NULL, f.m, wi, f.x, f.y, f.label, f.rows, n_iters,
                                ISW_DEQ_IMPLICIT, &bwd) == 0);
    CU_ASSERT(lu == li);
    double rel = isw_test_rel_diff(gi, gu, p, 1e-12);
    printf("\n    act=%d N=%lld: implicit vs unrolled rel diff %.2e", act, (long long)n_iters, rel);
    CU_ASSERT(rel <= 1e-6);
    free(gu), free(gi);
    isw_deq_work_destroy(&wu);
    isw_deq_work_destroy(&wi);
    fixture_free(&f);
  }
}

/* Implicit memory does not depend on N; unrolled grows with it. */
static void test_workspace_memory(void) {
  fixture f;
  fixture_make(&f, ISW_DEQ_TANH, 0, 16, 4, 1, 32, 0.5, 41);
  int64_t bytes[2][2];
  for (int mode = 0; mode < 2; ++mode)
    for (int j = 0; j < 2; ++j) {
      isw_deq_work *ws = NULL;
      CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, 32, j ? 50 : 5, (isw_deq_grad)mode) == 0);
      bytes[mode][j] = isw_deq_work_bytes(ws);
      isw_deq_work_destroy(&ws);
    }
  CU_ASSERT(bytes[ISW_DEQ_IMPLICIT][0] == bytes[ISW_DEQ_IMPLICIT][1]);
  CU_ASSERT(bytes[ISW_DEQ_UNROLLED][1] > 5 * bytes[ISW_DEQ_UNROLLED][0]);
  fixture_free(&f);
}

/* Adam against the textbook update with bias correction. */
static void test_adam(void) {
  isw_nn_adam *a = NULL;
  CU_ASSERT_FATAL(isw_nn_adam_create(&a, 2, 0.1) == 0);
  double theta[2] = {1.0, -2.0}, ref[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
  const double g[3][2] = {{0.5, -1.0}, {0.25, 3.0}, {-0.1, 1e-3}};
  for (int t = 1; t <= 3; ++t) {
    isw_nn_adam_step(a, theta, g[t - 1]);
    for (int i = 0; i < 2; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[t - 1][i];
      v[i] = 0.999 * v[i] + 0.001 * g[t - 1][i] * g[t - 1][i];
      double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.999, t));
      ref[i] -= 0.1 * mh / (sqrt(vh) + 1e-8);
    }
  }
  CU_ASSERT(isw_test_rel_diff(theta, ref, 2, 1e-300) < 1e-14);
  CU_ASSERT(fabs(theta[0] - 1.0) > 0.1); /* it moved */
  isw_nn_adam_destroy(&a);
  CU_ASSERT(a == NULL);
}

/* ---- evaluation ------------------------------------------------------------------ */

static void test_evaluate_one_pass(void) {
  fixture f;
  fixture_make(&f, ISW_DEQ_TANH, 1, 7, 3, 4, 37, 0.9, 51);
  const int64_t iters[] = {0, 1, 3, 7, 20};
  const int t = 5;
  double loss[5], acc[5], rm[5], rx[5];
  isw_deq_eval_opts o = {.limit_tol = 1e-10, .limit_max_iter = 5000, .rho_w = 0.5, .chunk = 10};
  isw_deq_eval e = {.loss = loss, .acc = acc, .res_mean = rm, .res_max = rx};
  CU_ASSERT_FATAL(isw_deq_evaluate(&e, f.m, f.x, f.y, f.label, f.rows, iters, t, &o) == 0);
  /* each n on its own, one chunk: the same numbers */
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, 1, ISW_DEQ_UNROLLED) == 0);
  for (int j = 0; j < t; ++j) {
    double l1, a1, m1, x1;
    isw_deq_eval e1 = {.loss = &l1, .acc = &a1, .res_mean = &m1, .res_max = &x1};
    isw_deq_eval_opts o1 = o;
    o1.chunk = 0;
    CU_ASSERT_FATAL(isw_deq_evaluate(&e1, f.m, f.x, f.y, f.label, f.rows, &iters[j], 1, &o1) == 0);
    CU_ASSERT(isw_test_close(l1, loss[j], 1e-13, 1e-300));
    CU_ASSERT(a1 == acc[j]);
    CU_ASSERT(isw_test_close(m1, rm[j], 1e-12, 1e-300));
    CU_ASSERT(isw_test_close(x1, rx[j], 1e-12, 1e-300));
    if (iters[j] >= 1) CU_ASSERT(isw_test_close(loss_at(&f, ws, iters[j]), loss[j], 1e-12, 1e-300));
  }
  CU_ASSERT(isw_test_close(rm[0], 1.0, 1e-15, 1.0)); /* z_0 = 0: residual exactly 1 */
  CU_ASSERT(rm[4] < rm[2] && rm[2] < rm[1]);          /* a contraction converges */
  for (int j = 0; j < t; ++j) CU_ASSERT(acc[j] >= 0.0 && acc[j] <= 1.0);
  /* the limit: converged fixed point, equal to many iterations */
  CU_ASSERT(e.limit_converged == 1);
  CU_ASSERT(e.limit_residual < 1e-10);
  CU_ASSERT(e.limit_iters > 20 && e.limit_iters < 5000);
  CU_ASSERT(e.first_nonfinite == -1);
  isw_deq_work_destroy(&ws);
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, 1, ISW_DEQ_UNROLLED) == 0);
  CU_ASSERT(isw_test_close(loss_at(&f, ws, 600), e.limit_loss, 1e-9, 1e-300));
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

static void test_identity_limit_direct(void) {
  fixture f;
  fixture_make(&f, ISW_DEQ_IDENTITY, 0, 8, 3, 2, 23, 0.8, 61);
  const int64_t iters[] = {2};
  double loss[1];
  isw_deq_eval_opts o = {.limit_tol = 1e-10, .limit_max_iter = 100, .rho_w = 0.8, .chunk = 7};
  isw_deq_eval e = {.loss = loss};
  CU_ASSERT_FATAL(isw_deq_evaluate(&e, f.m, f.x, f.y, f.label, f.rows, iters, 1, &o) == 0);
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, 1, ISW_DEQ_UNROLLED) == 0);
  CU_ASSERT(isw_test_close(loss_at(&f, ws, 400), e.limit_loss, 1e-10, 1e-300));
  CU_ASSERT(e.limit_converged == 1 && e.limit_iters == 0);
  CU_ASSERT(e.limit_residual < 1e-12);
  o.rho_w = 1.3; /* an unstable W: the solve is no limit of the iteration */
  CU_ASSERT_FATAL(isw_deq_evaluate(&e, f.m, f.x, f.y, f.label, f.rows, iters, 1, &o) == 0);
  CU_ASSERT(e.limit_converged == 0);
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

/* W = 3 I with identity: states overflow near n = 650; values before stay. */
static void test_evaluate_nonfinite(void) {
  fixture f;
  fixture_make(&f, ISW_DEQ_IDENTITY, 1, 5, 3, 3, 9, 0.5, 71);
  memset(f.m->W, 0, sizeof(double) * 25);
  for (int i = 0; i < 5; ++i) f.m->W[i * 5 + i] = 3.0;
  const int64_t iters[] = {0, 1, 10, 100, 700, 900};
  double loss[6], acc[6], rm[6], rx[6];
  isw_deq_eval_opts o = {.limit_tol = 1e-8, .limit_max_iter = 1000, .rho_w = 3.0, .chunk = 4};
  isw_deq_eval e = {.loss = loss, .acc = acc, .res_mean = rm, .res_max = rx};
  CU_ASSERT_FATAL(isw_deq_evaluate(&e, f.m, f.x, f.y, f.label, f.rows, iters, 6, &o) == 0);
  for (int j = 0; j < 4; ++j) {
    CU_ASSERT(isfinite(loss[j]) && isfinite(acc[j]) && isfinite(rm[j]));
  }
  for (int j = 4; j < 6; ++j) CU_ASSERT(isnan(loss[j]) && isnan(acc[j]) && isnan(rm[j]) && isnan(rx[j]));
  CU_ASSERT(e.first_nonfinite > 100 && e.first_nonfinite <= 700);
  CU_ASSERT(e.limit_converged == 0);
  fixture_free(&f);
}

/* ---- the family through its contract ------------------------------------------- */

/* Set parameter `key` of c from text, the way a spec would. */
static void set_param(isw_config *c, const char *key, const char *val) {
  int i = isw_task_param_index(c->task, key);
  CU_ASSERT_FATAL(i >= 0);
  const isw_param_def *p = &c->task->params[i];
  c->p[i].str = NULL;
  if (p->type == ISW_PARAM_ENUM) {
    int idx = 0;
    const char *s = p->choices;
    size_t n = strlen(val);
    while (s && !(strncmp(s, val, n) == 0 && (s[n] == '|' || s[n] == '\0'))) {
      s = strchr(s, '|');
      if (s) ++s;
      ++idx;
    }
    CU_ASSERT_FATAL(s != NULL);
    c->p[i].num = idx;
    c->p[i].str = val;
  } else if (p->type == ISW_PARAM_STRING) {
    c->p[i].str = val;
  } else {
    c->p[i].num = strtod(val, NULL);
  }
}

/* A deq config from the table's defaults; kv = {"key", "value", ..., NULL}. */
static void make_config(isw_config *c, int64_t width, int64_t n_iters, const int64_t *ti, int nt,
                        uint64_t id, const char *const *kv) {
  memset(c, 0, sizeof *c);
  c->task = isw_task_find("deq");
  CU_ASSERT_FATAL(c->task != NULL);
  for (int i = 0; i < c->task->n_params; ++i)
    set_param(c, c->task->params[i].name, c->task->params[i].def);
  for (; kv && kv[0]; kv += 2) set_param(c, kv[0], kv[1]);
  c->width = width;
  c->train_iters = n_iters;
  c->test_iters = ti;
  c->n_test = nt;
  c->sweep_seed = 99;
  c->id = id;
  c->data_id = id * 7 + 1;
  c->team = 1;
}

typedef struct {
  isw_result r;
  double *scal, *curv;
} result_buf;

static int run_config(result_buf *rb, const isw_config *c) {
  const isw_task *t = c->task;
  memset(&rb->r, 0, sizeof rb->r);
  rb->scal = malloc(sizeof(double) * t->n_scalars);
  rb->curv = malloc(sizeof(double) * t->n_curves * c->n_test);
  for (int i = 0; i < t->n_scalars; ++i) rb->scal[i] = NAN;
  for (int i = 0; i < t->n_curves * c->n_test; ++i) rb->curv[i] = NAN;
  rb->r.scalars = rb->scal;
  rb->r.curves = rb->curv;
  return t->run(&rb->r, c, MPI_COMM_SELF);
}

static void result_free(result_buf *rb) {
  free(rb->scal);
  free(rb->curv);
}

static double scalar(const result_buf *rb, const isw_config *c, const char *name) {
  int i = isw_task_scalar_index(c->task, name);
  CU_ASSERT_FATAL(i >= 0);
  return rb->scal[i];
}

static void test_family_table(void) {
  const isw_task *t = isw_task_find("deq");
  CU_ASSERT_FATAL(t != NULL);
  CU_ASSERT(strcmp(t->curves[0].name, "train_loss") == 0);
  CU_ASSERT(strcmp(t->curves[1].name, "test_loss") == 0);
  CU_ASSERT(t->team_capable == 0 && t->width_shapes_data == 0);
  CU_ASSERT(t->n_params <= ISW_MAX_PARAMS);
  for (int i = 0; i < t->n_params; ++i) CU_ASSERT(t->params[i].help && t->params[i].help[0]);
  CU_ASSERT(t->params[isw_task_param_index(t, "dataset")].data == 1);
  CU_ASSERT(t->params[isw_task_param_index(t, "lr")].data == 0);
  int64_t ti[] = {1, 5};
  isw_config a, b;
  make_config(&a, 16, 5, ti, 2, 1, NULL);
  make_config(&b, 64, 5, ti, 2, 1, NULL);
  CU_ASSERT(t->cost(&a) > 0 && t->cost(&b) > 4 * t->cost(&a));
}

static void test_run_teacher(void) {
  int64_t ti[12];
  for (int i = 0; i < 12; ++i) ti[i] = i;
  const char *kv[] = {"n_train", "64", "n_test", "100", "steps", "60", "lr", "0.01", NULL};
  for (int mode = 0; mode < 2; ++mode) {
    isw_config c;
    make_config(&c, 12, 4, ti, 12, 1234, kv);
    set_param(&c, "grad", mode ? "implicit" : "unrolled");
    CU_ASSERT_FATAL(c.task->validate(&c) == 0);
    result_buf rb, rb2;
    CU_ASSERT_FATAL(run_config(&rb, &c) == 0);
    CU_ASSERT(rb.r.status == ISW_ST_OK);
    CU_ASSERT(rb.r.n_params == 12 * 12 + 12 * 16 + 12 + 12 + 1);
    CU_ASSERT(isw_test_close(rb.r.rho, (double)rb.r.n_params / 64.0, 1e-15, 0));
    CU_ASSERT(rb.r.train_seconds >= 0 && rb.r.eval_seconds >= 0);
    for (int j = 0; j < 12; ++j) {
      CU_ASSERT(isfinite(rb.curv[0 * 12 + j]) && isfinite(rb.curv[1 * 12 + j]));
      CU_ASSERT(isnan(rb.curv[2 * 12 + j]) && isnan(rb.curv[3 * 12 + j])); /* regression */
      CU_ASSERT(isfinite(rb.curv[4 * 12 + j]) && rb.curv[4 * 12 + j] <= rb.curv[5 * 12 + j]);
    }
    CU_ASSERT(rb.curv[0 * 12 + 4] == scalar(&rb, &c, "train_loss_at_N"));
    CU_ASSERT(rb.curv[1 * 12 + 4] == scalar(&rb, &c, "test_loss_at_N"));
    CU_ASSERT(scalar(&rb, &c, "train_loss_at_N") < rb.curv[0]); /* training did something */
    CU_ASSERT(isfinite(scalar(&rb, &c, "train_loss_limit")));
    CU_ASSERT(scalar(&rb, &c, "limit_converged") == 1.0 || scalar(&rb, &c, "limit_converged") == 0.0);
    CU_ASSERT(isnan(scalar(&rb, &c, "diverged_step")));
    CU_ASSERT(mode ? isfinite(scalar(&rb, &c, "bwd_iters_mean")) : isnan(scalar(&rb, &c, "bwd_iters_mean")));
    CU_ASSERT(scalar(&rb, &c, "spectral_radius_W") <= scalar(&rb, &c, "spectral_norm_W") + 1e-12);
    /* deterministic: the same config gives the same bits */
    CU_ASSERT_FATAL(run_config(&rb2, &c) == 0);
    CU_ASSERT(memcmp(rb.curv, rb2.curv, sizeof(double) * 6 * 12) == 0);
    /* N not among test_iters: the scalars still come from n = N */
    int64_t ti2[] = {1, 8};
    isw_config c2 = c;
    c2.test_iters = ti2;
    c2.n_test = 2;
    result_buf rb3;
    CU_ASSERT_FATAL(run_config(&rb3, &c2) == 0);
    CU_ASSERT(scalar(&rb3, &c2, "train_loss_at_N") == scalar(&rb, &c, "train_loss_at_N"));
    CU_ASSERT(rb3.curv[1] == rb.curv[8]);
    result_free(&rb);
    result_free(&rb2);
    result_free(&rb3);
  }
}

static void test_run_digits(void) {
  int64_t ti[] = {1, 2, 4};
  const char *kv[] = {"dataset", "digits", "steps", "30", "batch", "64", "lr", "0.01", NULL};
  isw_config c;
  make_config(&c, 8, 2, ti, 3, 4321, kv);
  CU_ASSERT_FATAL(c.task->validate(&c) == 0);
  result_buf rb;
  CU_ASSERT_FATAL(run_config(&rb, &c) == 0);
  CU_ASSERT(rb.r.status == ISW_ST_OK);
  CU_ASSERT(scalar(&rb, &c, "n_train_rows") + scalar(&rb, &c, "n_test_rows") == 1797);
  CU_ASSERT(rb.r.n_params == 8 * 8 + 8 * 64 + 8 + 10 * 8 + 10);
  double acc = scalar(&rb, &c, "test_accuracy_at_N");
  CU_ASSERT(acc > 0.3 && acc <= 1.0); /* 30 steps beat chance (0.1) */
  for (int j = 0; j < 3; ++j) CU_ASSERT(rb.curv[3 * 3 + j] >= 0.0 && rb.curv[3 * 3 + j] <= 1.0);
  result_free(&rb);
}

static void test_run_diverges(void) {
  int64_t ti[] = {1, 10};
  /* identity with a huge step: W leaves the unit ball and z_N explodes */
  const char *kv[] = {"activation", "identity", "lr", "3", "steps", "200", "n_train", "32",
                      "n_test", "16", "w_scale", "0.9", "blowup", "1e4", NULL};
  isw_config c;
  make_config(&c, 6, 20, ti, 2, 555, kv);
  result_buf rb;
  CU_ASSERT_FATAL(run_config(&rb, &c) == 0); /* failure is data, not an error */
  CU_ASSERT(rb.r.status == ISW_ST_DIVERGED);
  double st = scalar(&rb, &c, "diverged_step");
  CU_ASSERT(st >= 1 && st <= 200);
  CU_ASSERT(strstr(rb.r.message, "at step") != NULL);
  CU_ASSERT(isnan(rb.curv[0]));
  result_free(&rb);
  /* with no blow-up threshold and N = 300 the states overflow: a non-finite loss */
  set_param(&c, "blowup", "1e300");
  c.train_iters = 300;
  CU_ASSERT_FATAL(run_config(&rb, &c) == 0);
  CU_ASSERT(rb.r.status == ISW_ST_DIVERGED);
  if (!strstr(rb.r.message, "non-finite")) printf("\n  message: %s", rb.r.message);
  CU_ASSERT(strstr(rb.r.message, "non-finite") != NULL);
  CU_ASSERT(scalar(&rb, &c, "diverged_step") >= 1);
  result_free(&rb);
}

/* Write an HDF5 file with X (n, d) doubles and y (n) int or double. */
static void write_h5(const char *path, const double *x, hsize_t n, hsize_t d, const void *y,
                     int y_int, hsize_t ny) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dx[2] = {n, d};
  hid_t s = H5Screate_simple(2, dx, NULL);
  hid_t ds = H5Dcreate2(f, "X", H5T_NATIVE_DOUBLE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  H5Dclose(ds);
  H5Sclose(s);
  if (y) {
    hid_t t = y_int ? H5T_NATIVE_INT : H5T_NATIVE_DOUBLE;
    s = H5Screate_simple(1, &ny, NULL);
    ds = H5Dcreate2(f, "y", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(ds);
    H5Sclose(s);
  }
  H5Fclose(f);
}

static void test_validate_user_file(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const char *dir = isw_test_tmpdir();
  char good[600], bad[600], missing[600];
  snprintf(good, sizeof good, "%s/good_r%d.h5", dir, rank);
  snprintf(bad, sizeof bad, "%s/bad_r%d.h5", dir, rank);
  snprintf(missing, sizeof missing, "%s/nothing_here.h5", dir);
  enum { N = 40, D = 3 };
  double x[N * D];
  int y[N];
  for (int i = 0; i < N; ++i) {
    y[i] = i % 3;
    for (int j = 0; j < D; ++j) x[i * D + j] = (y[i] == j ? 2.0 : 0.0) + 0.1 * ((i * 7 + j) % 5);
  }
  write_h5(good, x, N, D, y, 1, N);
  write_h5(bad, x, N, D, y, 1, N - 1); /* mismatched rows */
  int64_t ti[] = {1, 3};
  const char *kv[] = {"dataset", "file", "steps", "40", "lr", "0.02", NULL};
  isw_config c;
  make_config(&c, 6, 3, ti, 2, 777, kv);
  set_param(&c, "data_file", good);
  CU_ASSERT(c.task->validate(&c) == 0);
  result_buf rb;
  CU_ASSERT_FATAL(run_config(&rb, &c) == 0);
  CU_ASSERT(rb.r.status == ISW_ST_OK);
  CU_ASSERT(scalar(&rb, &c, "n_train_rows") == 30 && scalar(&rb, &c, "n_test_rows") == 10);
  CU_ASSERT(isfinite(scalar(&rb, &c, "test_accuracy_at_N")));
  result_free(&rb);
  set_param(&c, "data_file", bad);
  CU_ASSERT(c.task->validate(&c) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), bad) != NULL && strstr(isw_error_message(), "rows") != NULL);
  set_param(&c, "data_file", missing);
  CU_ASSERT(c.task->validate(&c) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), missing) != NULL);
  set_param(&c, "data_file", "");
  CU_ASSERT(c.task->validate(&c) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "data_file") != NULL);
  set_param(&c, "data_file", good);
  set_param(&c, "test_fraction", "0.001"); /* 40 rows: no test row */
  CU_ASSERT(c.task->validate(&c) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "empty") != NULL);
  isw_error_clear();
  remove(good);
  remove(bad);
}

/* ---- issue 12: solvers, JFB, phantom, Jacobian regularization ------------------ */

typedef double (*loss_fn)(fixture *f, void *ctx);

/* Max over blocks of the relative error of grad against central differences
 * (h = 1e-5) of fn at theta. */
static double fd_check_fn(fixture *f, const double *grad, loss_fn fn, void *ctx, const char *what) {
  double worst = 0.0;
  const double step = 1e-5;
  for (int blk = 0; blk < ISW_DEQ_N_BLOCKS; ++blk) {
    int64_t off, len;
    isw_deq_block(&off, &len, f->m, blk);
    double num = 0.0, den = 0.0;
    for (int64_t i = off; i < off + len; ++i) {
      double keep = f->m->theta[i];
      f->m->theta[i] = keep + step;
      double lp = fn(f, ctx);
      f->m->theta[i] = keep - step;
      double lm = fn(f, ctx);
      f->m->theta[i] = keep;
      double fd = (lp - lm) / (2.0 * step);
      num = fmax(num, fabs(fd - grad[i]));
      den = fmax(den, fabs(grad[i]));
    }
    double rel = num / fmax(den, 1e-12);
    if (rel > 1e-6 || den < 1e-8)
      printf("\n  %s block %s: |g|max %.3g, FD rel err %.3g", what, block_name[blk], den, rel);
    CU_ASSERT(den > 1e-8);
    worst = fmax(worst, rel);
  }
  return worst;
}

/* z (B, H) <- N plain Picard steps from 0 with the fixture's current theta (reference loops). */
static void picard_state(double *z, fixture *f, int64_t n_iters) {
  int64_t h = f->m->h, bh = f->rows * h;
  double *xu = calloc((size_t)bh, sizeof *xu), *t = calloc((size_t)bh, sizeof *t);
  isw_deq_affine(1, xu, f->x, f->m->U, f->m->b, f->rows, h, f->m->d);
  memset(z, 0, sizeof(double) * bh);
  for (int64_t it = 0; it < n_iters; ++it) {
    isw_deq_step(1, f->m->act, t, it ? z : NULL, f->m->W, xu, f->rows, h);
    memcpy(z, t, sizeof(double) * bh);
  }
  free(xu);
  free(t);
}

/* The phantom / JFB objective written out with the reference kernels: the
 * MSE at z^(k), z^(0) = zbar held fixed, z^(i+1) = (1 - lam) z^(i) + lam f(z^(i)). */
typedef struct {
  const double *zbar;
  int64_t k;
  double lam;
} tail_ctx;

static double tail_loss(fixture *f, void *ctx) {
  const tail_ctx *t = ctx;
  int64_t h = f->m->h, bh = f->rows * h, kk = f->m->k;
  double *xu = calloc((size_t)bh, sizeof *xu), *z = calloc((size_t)bh, sizeof *z);
  double *s = calloc((size_t)bh, sizeof *s), *yh = calloc((size_t)(f->rows * kk), sizeof *yh);
  isw_deq_affine(1, xu, f->x, f->m->U, f->m->b, f->rows, h, f->m->d);
  memcpy(z, t->zbar, sizeof(double) * bh);
  for (int64_t i = 0; i < t->k; ++i) {
    isw_deq_step(1, f->m->act, s, z, f->m->W, xu, f->rows, h);
    for (int64_t q = 0; q < bh; ++q) z[q] = (1.0 - t->lam) * z[q] + t->lam * s[q];
  }
  isw_deq_affine(1, yh, z, f->m->V, f->m->c, f->rows, kk, h);
  double l = 0.0;
  for (int64_t q = 0; q < f->rows * kk; ++q) l += (yh[q] - f->y[q]) * (yh[q] - f->y[q]);
  free(xu), free(z), free(s), free(yh);
  return l / (double)(f->rows * kk);
}

/* JFB: the gradient through one application of f at z_N equals the
 * gradient of the one-step loss theta -> L(f_theta(zbar)), zbar = z_N held
 * fixed (its closed form), checked by central differences; it is phantom
 * with k = 1, lambda = 1 bit for bit. */
static void test_jfb_closed_form(void) {
  fixture f;
  const int64_t n_iters = 4;
  fixture_make(&f, ISW_DEQ_TANH, 0, 6, 4, 2, 5, 0.7, 81);
  int64_t bh = f.rows * f.m->h, p = f.m->n_params;
  double *zbar = calloc((size_t)bh, sizeof *zbar);
  picard_state(zbar, &f, n_iters);
  isw_deq_work *ws = NULL, *wp = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, 1, ISW_DEQ_JFB) == 0);
  CU_ASSERT_FATAL(isw_deq_work_create(&wp, f.m, f.rows, 1, ISW_DEQ_PHANTOM) == 0);
  double *g = calloc((size_t)p, sizeof *g), *gp = calloc((size_t)p, sizeof *gp), l, lp;
  isw_deq_bwd_opts o = {.tol = 1e-8, .max_iter = 10, .phantom_k = 1, .phantom_damping = 1.0};
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, NULL, f.m, ws, f.x, f.y, NULL, f.rows, n_iters,
                                    ISW_DEQ_JFB, &o) == 0);
  CU_ASSERT_FATAL(isw_deq_loss_grad(&lp, gp, NULL, f.m, wp, f.x, f.y, NULL, f.rows, n_iters,
                                    ISW_DEQ_PHANTOM, &o) == 0);
  tail_ctx t = {.zbar = zbar, .k = 1, .lam = 1.0};
  CU_ASSERT(isw_test_close(l, tail_loss(&f, &t), 1e-13, 1e-300)); /* JFB's loss is L(f(z_N)) */
  double err = fd_check_fn(&f, g, tail_loss, &t, "jfb");
  printf("\n    jfb: FD rel err of the one-step loss at fixed z_N %.2e", err);
  CU_ASSERT(err <= 1e-6);
  CU_ASSERT(l == lp && memcmp(g, gp, sizeof(double) * p) == 0);
  free(g), free(gp), free(zbar);
  isw_deq_work_destroy(&ws);
  isw_deq_work_destroy(&wp);
  fixture_free(&f);
}

/* Phantom with k damped steps is exactly the gradient of the k-step loss
 * from z_N held fixed (FD), for damping < 1 too. */
static void test_phantom_fd(void) {
  fixture f;
  const int64_t n_iters = 3, k = 3;
  fixture_make(&f, ISW_DEQ_TANH, 0, 6, 4, 2, 5, 0.7, 82);
  int64_t bh = f.rows * f.m->h, p = f.m->n_params;
  double *zbar = calloc((size_t)bh, sizeof *zbar), *g = calloc((size_t)p, sizeof *g), l;
  picard_state(zbar, &f, n_iters);
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, k, ISW_DEQ_PHANTOM) == 0);
  isw_deq_bwd_opts o = {.tol = 1e-8, .max_iter = 10, .phantom_k = k, .phantom_damping = 0.6};
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, NULL, f.m, ws, f.x, f.y, NULL, f.rows, n_iters,
                                    ISW_DEQ_PHANTOM, &o) == 0);
  tail_ctx t = {.zbar = zbar, .k = k, .lam = 0.6};
  CU_ASSERT(isw_test_close(l, tail_loss(&f, &t), 1e-13, 1e-300));
  double err = fd_check_fn(&f, g, tail_loss, &t, "phantom");
  printf("\n    phantom k=3 lambda=0.6: FD rel err %.2e", err);
  CU_ASSERT(err <= 1e-6);
  free(g), free(zbar);
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

/* On a contraction at the fixed point, phantom with k -> infinity approaches
 * the implicit gradient (damping 1 and damping 0.5 alike). */
static void test_phantom_to_implicit(void) {
  fixture f;
  const int64_t n_iters = 300;
  fixture_make(&f, ISW_DEQ_TANH, 1, 6, 4, 3, 5, 0.5, 83);
  int64_t p = f.m->n_params;
  isw_deq_work *wi = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&wi, f.m, f.rows, n_iters, ISW_DEQ_IMPLICIT) == 0);
  double *gi = calloc((size_t)p, sizeof *gi), *gp = calloc((size_t)p, sizeof *gp), l;
  isw_deq_bwd_opts oi = {.tol = 1e-14, .max_iter = 10, .direct_width = 64};
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, gi, NULL, f.m, wi, f.x, NULL, f.label, f.rows, n_iters,
                                    ISW_DEQ_IMPLICIT, &oi) == 0);
  const int64_t ks[] = {2, 10, 200};
  const double lams[] = {1.0, 0.5};
  for (int a = 0; a < 2; ++a) {
    double prev = INFINITY, rel = INFINITY;
    for (int j = 0; j < 3; ++j) {
      int64_t k = lams[a] < 1.0 ? 2 * ks[j] : ks[j];
      isw_deq_work *wp = NULL;
      CU_ASSERT_FATAL(isw_deq_work_create(&wp, f.m, f.rows, k, ISW_DEQ_PHANTOM) == 0);
      isw_deq_bwd_opts o = {.phantom_k = k, .phantom_damping = lams[a]};
      CU_ASSERT_FATAL(isw_deq_loss_grad(&l, gp, NULL, f.m, wp, f.x, NULL, f.label, f.rows,
                                        n_iters, ISW_DEQ_PHANTOM, &o) == 0);
      rel = isw_test_rel_diff(gp, gi, p, 1e-300);
      printf("\n    phantom lambda=%.1f k=%lld vs implicit: rel diff %.2e", lams[a], (long long)k, rel);
      CU_ASSERT(rel <= prev);
      prev = rel;
      isw_deq_work_destroy(&wp);
    }
    CU_ASSERT(rel < 1e-10);
  }
  free(gi), free(gp);
  isw_deq_work_destroy(&wi);
  fixture_free(&f);
}

/* Unrolled through damped Picard steps: FD of the damped N-step loss. */
typedef struct {
  isw_deq_work *ws;
  const isw_deq_bwd_opts *o;
  int64_t n;
  isw_deq_grad mode;
  int with_jac;
} lg_ctx;

static double lg_loss(fixture *f, void *ctx) {
  const lg_ctx *c = ctx;
  double l = NAN;
  isw_deq_info info;
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, NULL, &info, f->m, c->ws, f->x, f->y, f->label, f->rows,
                                    c->n, c->mode, c->o) == 0);
  return c->with_jac ? l + info.jac : l;
}

static void test_unrolled_damped_fd(void) {
  fixture f;
  fixture_make(&f, ISW_DEQ_TANH, 1, 6, 4, 3, 5, 0.7, 84);
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, 5, ISW_DEQ_UNROLLED) == 0);
  isw_deq_bwd_opts o = {.fwd = {.kind = ISW_SOLVER_PICARD, .beta = 0.6, .m = 1}};
  double *g = calloc((size_t)f.m->n_params, sizeof *g), l, l1;
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, NULL, f.m, ws, f.x, NULL, f.label, f.rows, 5,
                                    ISW_DEQ_UNROLLED, &o) == 0);
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l1, NULL, NULL, f.m, ws, f.x, NULL, f.label, f.rows, 5,
                                    ISW_DEQ_UNROLLED, NULL) == 0);
  CU_ASSERT(fabs(l - l1) > 1e-6); /* the damping changed the map */
  lg_ctx c = {.ws = ws, .o = &o, .n = 5, .mode = ISW_DEQ_UNROLLED};
  double err = fd_check_fn(&f, g, lg_loss, &c, "unrolled damped");
  printf("\n    unrolled, picard beta=0.6: FD rel err %.2e", err);
  CU_ASSERT(err <= 1e-6);
  /* unrolled refuses non-Picard forward steps */
  isw_deq_bwd_opts oa = {.fwd = {.kind = ISW_SOLVER_ANDERSON, .beta = 1.0, .m = 3}};
  CU_ASSERT(isw_deq_loss_grad(&l, g, NULL, f.m, ws, f.x, NULL, f.label, f.rows, 5,
                              ISW_DEQ_UNROLLED, &oa) != 0);
  isw_error_clear();
  free(g);
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

/* Jacobian regularization: the gradient of L + gamma/(B H) Σ ||J_fᵀ eps||²
 * against central FD with the same probe, unrolled (through z_N) and
 * implicit at the fixed point (through z* by the IFT). */
static void test_jac_reg_fd(void) {
  for (int mode = 0; mode < 2; ++mode) {
    fixture f;
    int64_t n = mode ? 300 : 4;
    fixture_make(&f, ISW_DEQ_TANH, 0, 6, 4, 2, 5, mode ? 0.5 : 0.8, 85 + mode);
    int64_t bh = f.rows * f.m->h;
    double *eps = calloc((size_t)bh, sizeof *eps), *g = calloc((size_t)f.m->n_params, sizeof *g), l;
    isw_rng r;
    isw_rng_init(&r, 5, 6, 7);
    isw_rng_normal_fill(&r, eps, (size_t)bh, 0.0, 1.0);
    isw_deq_work *ws = NULL;
    isw_deq_grad gm = mode ? ISW_DEQ_IMPLICIT : ISW_DEQ_UNROLLED;
    CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, n, gm) == 0);
    isw_deq_bwd_opts o = {.tol = 1e-14, .max_iter = 10, .direct_width = 64, .jac_reg = 0.3, .probe = eps};
    isw_deq_info info;
    CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, &info, f.m, ws, f.x, f.y, NULL, f.rows, n, gm, &o) == 0);
    CU_ASSERT(info.jac > 1e-3);
    lg_ctx c = {.ws = ws, .o = &o, .n = n, .mode = ISW_DEQ_UNROLLED, .with_jac = 1};
    double err = fd_check_fn(&f, g, lg_loss, &c, "jac_reg");
    printf("\n    jac_reg 0.3, %s: term %.4f, FD rel err of the regularized loss %.2e",
           mode ? "implicit at z*" : "unrolled", info.jac, err);
    CU_ASSERT(err <= 1e-6);
    free(eps), free(g);
    isw_deq_work_destroy(&ws);
    fixture_free(&f);
  }
}

/* The implicit backward's adjoint solved by Anderson and Broyden equals the
 * direct LAPACK solve, in fewer adjoint-map evaluations than Picard; the
 * forward solved by Anderson or Broyden reaches the same fixed point. */
static void test_adjoint_and_forward_solvers(void) {
  fixture f;
  const int64_t n_iters = 200;
  fixture_make(&f, ISW_DEQ_TANH, 1, 24, 4, 3, 7, 0.9, 87);
  int64_t p = f.m->n_params;
  isw_deq_work *ws = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, f.m, f.rows, n_iters, ISW_DEQ_IMPLICIT) == 0);
  double *gd = calloc((size_t)p, sizeof *gd), *g = calloc((size_t)p, sizeof *g), ld, l;
  isw_deq_bwd_opts od = {.tol = 1e-13, .max_iter = 5000, .direct_width = 64};
  CU_ASSERT_FATAL(isw_deq_loss_grad(&ld, gd, NULL, f.m, ws, f.x, NULL, f.label, f.rows, n_iters,
                                    ISW_DEQ_IMPLICIT, &od) == 0);
  int64_t evals[3];
  for (int kind = 0; kind < 3; ++kind) {
    isw_deq_bwd_opts o = {.tol = 1e-12, .max_iter = 5000, .direct_width = 0,
                          .fwd = {.kind = ISW_SOLVER_PICARD, .beta = 1.0, .m = 8, .lambda = 1e-10},
                          .adjoint = (isw_solver_kind)kind};
    isw_deq_info info;
    CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, &info, f.m, ws, f.x, NULL, f.label, f.rows, n_iters,
                                      ISW_DEQ_IMPLICIT, &o) == 0);
    CU_ASSERT(info.bwd_converged == 1);
    evals[kind] = info.bwd_iters;
    double rel = isw_test_rel_diff(g, gd, p, 1e-300);
    printf("\n    adjoint %s: %lld evaluations, rel diff to the direct solve %.2e",
           isw_solver_names[kind], (long long)info.bwd_iters, rel);
    CU_ASSERT(rel < 1e-9);
  }
  CU_ASSERT(evals[1] < evals[0] && evals[2] < evals[0]);
  for (int kind = 1; kind < 3; ++kind) {
    isw_deq_bwd_opts o = {.tol = 1e-13, .max_iter = 10, .direct_width = 64,
                          .fwd = {.kind = (isw_solver_kind)kind, .beta = 1.0, .m = 6, .lambda = 1e-10}};
    CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, NULL, f.m, ws, f.x, NULL, f.label, f.rows, 60,
                                      ISW_DEQ_IMPLICIT, &o) == 0);
    double rel = isw_test_rel_diff(g, gd, p, 1e-300);
    printf("\n    forward %s, N = 60: loss %.15f (Picard N = 200: %.15f), gradient rel diff %.2e",
           isw_solver_names[kind], l, ld, rel);
    CU_ASSERT(isw_test_close(l, ld, 1e-10, 1e-300));
    CU_ASSERT(rel < 1e-8);
  }
  free(gd), free(g);
  isw_deq_work_destroy(&ws);
  fixture_free(&f);
}

/* Evaluation with a test solver: one pass gives every n exactly as
 * separate evaluations do; Anderson/Broyden curves are the solver's
 * iterates (residual falls faster than Picard's), and the limit is the same
 * fixed point whichever limit solver finds it. */
static void test_evaluate_with_solver(void) {
  fixture f;
  fixture_make(&f, ISW_DEQ_TANH, 1, 16, 4, 3, 23, 0.95, 88);
  const int64_t iters[] = {0, 1, 3, 8, 20, 40};
  double loss[3][6], acc[6], rm[3][6], rx[6], lim[3];
  for (int kind = 0; kind < 3; ++kind) {
    isw_deq_eval_opts o = {.limit_tol = 1e-11, .limit_max_iter = 5000, .rho_w = 0.5, .chunk = 10,
                           .solver = {.kind = (isw_solver_kind)kind, .beta = 1.0, .m = 5, .lambda = 1e-10},
                           .limit_solver = {.kind = (isw_solver_kind)(2 - kind), .beta = 1.0, .m = 5}};
    isw_deq_eval e = {.loss = loss[kind], .acc = acc, .res_mean = rm[kind], .res_max = rx};
    CU_ASSERT_FATAL(isw_deq_evaluate(&e, f.m, f.x, NULL, f.label, f.rows, iters, 6, &o) == 0);
    CU_ASSERT(e.limit_converged == 1);
    lim[kind] = e.limit_loss;
    for (int j = 0; j < 6; ++j) {
      double l1, m1[1], x1[1], a1[1];
      isw_deq_eval e1 = {.loss = &l1, .acc = a1, .res_mean = m1, .res_max = x1};
      CU_ASSERT_FATAL(isw_deq_evaluate(&e1, f.m, f.x, NULL, f.label, f.rows, &iters[j], 1, &o) == 0);
      CU_ASSERT(isw_test_close(l1, loss[kind][j], 1e-13, 1e-300));
      CU_ASSERT(isw_test_close(m1[0], rm[kind][j], 1e-12, 1e-300));
    }
    printf("\n    test solver %s: mean residual at n = 8, 20, 40: %.2e %.2e %.2e", isw_solver_names[kind],
           rm[kind][3], rm[kind][4], rm[kind][5]);
  }
  for (int j = 0; j < 2; ++j) /* the first step is Picard's for every solver */
    CU_ASSERT(loss[1][j] == loss[0][j] && loss[2][j] == loss[0][j]);
  CU_ASSERT(rm[1][5] < rm[0][5] && rm[2][5] < rm[0][5]);
  CU_ASSERT(isw_test_close(lim[1], lim[0], 1e-9, 1e-300) && isw_test_close(lim[2], lim[0], 1e-9, 1e-300));
  fixture_free(&f);
}

/* test_solver != solver through run(): the trained model is bitwise the
 * same (training never sees test_solver), the curves are the test solver's;
 * unrolled with a non-Picard training solver is a spec error. */
static void test_run_test_solver(void) {
  int64_t ti[] = {0, 2, 4, 8, 16};
  const char *kv[] = {"n_train", "64", "n_test", "100", "steps", "40", "lr", "0.01",
                      "grad", "implicit", "solver", "picard", NULL};
  isw_config a, b;
  make_config(&a, 12, 4, ti, 5, 77, kv);
  make_config(&b, 12, 4, ti, 5, 78, kv); /* another config id: only test_solver differs */
  b.data_id = a.data_id; /* the same data, as a spec gives configs differing only in test_solver */
  set_param(&b, "test_solver", "anderson");
  CU_ASSERT_FATAL(a.task->validate(&a) == 0 && b.task->validate(&b) == 0);
  result_buf ra, rb;
  CU_ASSERT_FATAL(run_config(&ra, &a) == 0);
  CU_ASSERT_FATAL(run_config(&rb, &b) == 0);
  CU_ASSERT(ra.r.status == ISW_ST_OK && rb.r.status == ISW_ST_OK);
  CU_ASSERT(scalar(&ra, &a, "final_batch_loss") == scalar(&rb, &b, "final_batch_loss"));
  CU_ASSERT(scalar(&ra, &a, "spectral_norm_W") == scalar(&rb, &b, "spectral_norm_W"));
  int tl = isw_task_curve_index(a.task, "test_loss"), rs = isw_task_curve_index(a.task, "residual");
  CU_ASSERT(ra.curv[tl * 5 + 0] == rb.curv[tl * 5 + 0]); /* n = 0: z_0 = 0 for both */
  CU_ASSERT(ra.curv[tl * 5 + 4] != rb.curv[tl * 5 + 4]);
  CU_ASSERT(rb.curv[rs * 5 + 4] < ra.curv[rs * 5 + 4]);
  CU_ASSERT(isw_test_close(scalar(&ra, &a, "test_loss_limit"), scalar(&rb, &b, "test_loss_limit"), 1e-6, 0));
  result_free(&ra);
  result_free(&rb);
  isw_config u;
  make_config(&u, 12, 4, ti, 5, 79, kv);
  set_param(&u, "grad", "unrolled");
  set_param(&u, "solver", "broyden");
  CU_ASSERT(u.task->validate(&u) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "unrolled") != NULL);
  isw_error_clear();
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"the vector tanh equals libm tanh to 4e-15 and keeps NaN", test_tanh_kernel},
      {"BLAS kernels agree with plain-loop references", test_kernels_match_reference},
      {"loss and gradient: BLAS path equals the reference path (both modes)", test_pipeline_matches_reference},
      {"unrolled gradient = central FD of the N-step loss (tanh)", test_unrolled_fd_tanh},
      {"unrolled gradient = central FD of the N-step loss (identity)", test_unrolled_fd_identity},
      {"unrolled gradient = central FD of the N-step loss (relu, off kinks)", test_unrolled_fd_relu},
      {"implicit gradient = central FD of the fixed-point loss (tanh)", test_implicit_fd_tanh},
      {"implicit gradient = central FD of the fixed-point loss (identity)", test_implicit_fd_identity},
      {"implicit gradient = central FD of the fixed-point loss (relu, off kinks)", test_implicit_fd_relu},
      {"implicit and unrolled gradients agree at large N on a contraction", test_implicit_matches_unrolled},
      {"implicit memory is flat in N, unrolled grows", test_workspace_memory},
      {"Adam follows the textbook update with bias correction", test_adam},
      {"evaluation: one pass gives every n, the limit is the fixed point", test_evaluate_one_pass},
      {"identity limit: direct solve, flagged when rho(W) >= 1", test_identity_limit_direct},
      {"evaluation: non-finite states become NaN, earlier n stay", test_evaluate_nonfinite},
      {"family table: columns, parameters, cost", test_family_table},
      {"run on teacher: curves, scalars at N, determinism (both modes)", test_run_teacher},
      {"run on digits: a 10-class model beats chance", test_run_digits},
      {"run: blow-up and non-finite training are a diverged row", test_run_diverges},
      {"validate: a user's HDF5 file, and clear errors for bad ones", test_validate_user_file},
      {"JFB = its closed form: FD of the one-step loss at fixed z_N; = phantom(1, 1)", test_jfb_closed_form},
      {"phantom = FD of the k damped steps' loss from fixed z_N", test_phantom_fd},
      {"phantom with k -> infinity approaches the implicit gradient on a contraction", test_phantom_to_implicit},
      {"unrolled through damped Picard = FD; unrolled refuses Anderson", test_unrolled_damped_fd},
      {"Jacobian regularization gradient = FD of the regularized loss (fixed probe)", test_jac_reg_fd},
      {"adjoint by Anderson/Broyden = direct solve in fewer evaluations; forward solvers agree", test_adjoint_and_forward_solvers},
      {"evaluation with a test solver: one pass = separate runs; same limit", test_evaluate_with_solver},
      {"test_solver != solver: same trained model, the test solver's curves", test_run_test_solver},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "deq", cases);
}
