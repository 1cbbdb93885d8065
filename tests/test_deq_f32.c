/* test_deq_f32.c — the float32 build of the deq kernels against the float64
 * one (nn.h: one source compiled twice).  Finite differences in float32
 * would need a large step and tolerance, so every float32 gradient is
 * compared with the float64 gradient of the same model and batch instead:
 * relative difference ||g32 - g64||_inf / ||g64||_inf <= 1e-4 (the float64
 * gradients themselves are checked against central finite differences in
 * test_deq.c).  Tolerances: gradient 1e-4, loss 1e-5 relative; the BLAS
 * path against the plain-loop reference in float32 1e-5; the evaluation's
 * loss curve 1e-4. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "isweep/deq.h"
#include "isweep/rng.h"
#include "isweep/real_s.h"
#include "isweep/deq.h"
#include "isweep/real_end.h"
#include "testutil.h"

/* A float64 model, batch and its float32 copy. */
typedef struct {
  isw_deq_model *m;
  isw_deq_model_s *ms;
  int64_t rows;
  double *x, *y;  /* (B, D), (B, K) */
  float *xs, *ys; /* the same, rounded */
} pair;

static void pair_make(pair *p, isw_deq_act act, int64_t h, int64_t d, int64_t k, int64_t rows,
                      double w_scale, uint64_t seed) {
  CU_ASSERT_FATAL(isw_deq_model_create(&p->m, h, d, k, act, 0) == 0);
  CU_ASSERT_FATAL(isw_deq_model_create_s(&p->ms, h, d, k, act, 0) == 0);
  isw_rng r;
  isw_rng_init(&r, seed, 1, 2);
  CU_ASSERT_FATAL(isw_deq_model_init(p->m, w_scale, &r) == 0);
  /* nonzero biases so their gradients are exercised */
  for (int64_t i = 0; i < h; ++i) p->m->b[i] = 0.1 * sin((double)i);
  for (int64_t i = 0; i < k; ++i) p->m->c[i] = 0.05 * (double)i;
  /* round theta to float and back so both models are the same point */
  for (int64_t i = 0; i < p->m->n_params; ++i) {
    p->ms->theta[i] = (float)p->m->theta[i];
    p->m->theta[i] = (double)p->ms->theta[i];
  }
  p->rows = rows;
  p->x = calloc((size_t)(rows * d), sizeof *p->x);
  p->y = calloc((size_t)(rows * k), sizeof *p->y);
  p->xs = calloc((size_t)(rows * d), sizeof *p->xs);
  p->ys = calloc((size_t)(rows * k), sizeof *p->ys);
  isw_rng_normal_fill(&r, p->x, (size_t)(rows * d), 0.0, 1.0);
  isw_rng_normal_fill(&r, p->y, (size_t)(rows * k), 0.0, 1.0);
  for (int64_t i = 0; i < rows * d; ++i) p->x[i] = p->xs[i] = (float)p->x[i];
  for (int64_t i = 0; i < rows * k; ++i) p->y[i] = p->ys[i] = (float)p->y[i];
}

static void pair_free(pair *p) {
  isw_deq_model_destroy(&p->m);
  isw_deq_model_destroy_s(&p->ms);
  free(p->x), free(p->y), free(p->xs), free(p->ys);
}

static double rel_inf(const double *a, const float *b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    num = fmax(num, fabs(a[i] - (double)b[i]));
    den = fmax(den, fabs(a[i]));
  }
  return num / den;
}

/* The float32 loss and gradient of one mode vs float64; returns the
 * gradient's relative difference, *dl the loss's. */
static double compare_mode(pair *p, int64_t n, isw_deq_grad mode, double jac_reg, int64_t direct,
                           double *dl) {
  int64_t np = p->m->n_params, bh = p->rows * p->m->h;
  double *g = calloc((size_t)np, sizeof *g), *eps = calloc((size_t)bh, sizeof *eps), l = NAN;
  float *gs = calloc((size_t)np, sizeof *gs), *epss = calloc((size_t)bh, sizeof *epss);
  isw_rng r;
  isw_rng_init(&r, 9, 9, 9);
  isw_rng_normal_fill(&r, eps, (size_t)bh, 0.0, 1.0);
  for (int64_t i = 0; i < bh; ++i) eps[i] = epss[i] = (float)eps[i];
  int64_t stored = mode == ISW_DEQ_PHANTOM ? 4 : mode == ISW_DEQ_JFB ? 1 : n;
  isw_deq_work *ws = NULL;
  isw_deq_work_s *wss = NULL;
  CU_ASSERT_FATAL(isw_deq_work_create(&ws, p->m, p->rows, stored, mode) == 0);
  CU_ASSERT_FATAL(isw_deq_work_create_s(&wss, p->ms, p->rows, stored, mode) == 0);
  isw_deq_bwd_opts o = {.tol = 1e-12, .max_iter = 2000, .direct_width = direct, .phantom_k = 4,
                        .phantom_damping = 0.5, .jac_reg = jac_reg, .probe = eps};
  isw_deq_bwd_opts_s os = {.tol = 1e-6, .max_iter = 2000, .direct_width = direct, .phantom_k = 4,
                           .phantom_damping = 0.5, .jac_reg = jac_reg, .probe = epss};
  double ls = NAN;
  CU_ASSERT_FATAL(isw_deq_loss_grad(&l, g, NULL, p->m, ws, p->x, p->y, NULL, p->rows, n, mode, &o) == 0);
  CU_ASSERT_FATAL(isw_deq_loss_grad_s(&ls, gs, NULL, p->ms, wss, p->xs, p->ys, NULL, p->rows, n, mode, &os) == 0);
  *dl = fabs(ls - l) / fabs(l);
  double e = rel_inf(g, gs, np);
  isw_deq_work_destroy(&ws);
  isw_deq_work_destroy_s(&wss);
  free(g), free(gs), free(eps), free(epss);
  return e;
}

static void test_gradients_match_float64(void) {
  static const char *const acts[] = {"tanh", "relu", "identity"};
  static const char *const modes[] = {"unrolled", "implicit", "jfb", "phantom"};
  double worst = 0.0, worst_l = 0.0;
  for (int a = 0; a < 3; ++a)
    for (int md = 0; md < 4; ++md)
      for (int variant = 0; variant < 3; ++variant) {
        /* variant 0: plain; 1: jac_reg 0.3; 2: implicit with the direct solve */
        if (variant == 2 && md != ISW_DEQ_IMPLICIT) continue;
        pair p;
        pair_make(&p, (isw_deq_act)a, 12, 5, 3, 9, 0.6, 40 + (uint64_t)(a * 10 + md));
        int64_t n = md == ISW_DEQ_UNROLLED ? 6 : 60;
        double dl = 0.0;
        double e = compare_mode(&p, n, (isw_deq_grad)md, variant == 1 ? 0.3 : 0.0,
                                variant == 2 ? 64 : 0, &dl);
        printf("\n    %-8s %-8s %-9s grad rel diff %.2e, loss %.2e", acts[a], modes[md],
               variant == 1 ? "jac_reg" : variant == 2 ? "direct" : "plain", e, dl);
        CU_ASSERT(e <= 1e-4);
        CU_ASSERT(dl <= 1e-5);
        worst = fmax(worst, e);
        worst_l = fmax(worst_l, dl);
        pair_free(&p);
      }
  printf("\n    worst: gradient %.2e (bound 1e-4), loss %.2e (bound 1e-5)", worst, worst_l);
}

static void test_float32_blas_matches_reference(void) {
  pair p;
  pair_make(&p, ISW_DEQ_TANH, 20, 4, 2, 11, 0.7, 77);
  int64_t np = p.m->n_params;
  for (int md = 0; md < 4; ++md) {
    float *g0 = calloc((size_t)np, sizeof *g0), *g1 = calloc((size_t)np, sizeof *g1);
    double l0 = NAN, l1 = NAN;
    int64_t stored = md == ISW_DEQ_PHANTOM ? 3 : md == ISW_DEQ_JFB ? 1 : 5;
    isw_deq_work_s *ws = NULL;
    CU_ASSERT_FATAL(isw_deq_work_create_s(&ws, p.ms, p.rows, stored, (isw_deq_grad)md) == 0);
    isw_deq_bwd_opts_s o = {.tol = 1e-6, .max_iter = 500, .phantom_k = 3, .phantom_damping = 0.5};
    CU_ASSERT_FATAL(isw_deq_loss_grad_s(&l0, g0, NULL, p.ms, ws, p.xs, p.ys, NULL, p.rows, 5, (isw_deq_grad)md, &o) == 0);
    isw_deq_work_set_reference_s(ws, 1);
    CU_ASSERT_FATAL(isw_deq_loss_grad_s(&l1, g1, NULL, p.ms, ws, p.xs, p.ys, NULL, p.rows, 5, (isw_deq_grad)md, &o) == 0);
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < np; ++i) {
      num = fmax(num, fabs((double)g0[i] - g1[i]));
      den = fmax(den, fabs((double)g1[i]));
    }
    printf("\n    mode %d: float32 BLAS vs reference: grad %.2e, loss %.2e", md, num / den, fabs(l0 - l1) / fabs(l1));
    CU_ASSERT(num / den <= 1e-5);
    CU_ASSERT(fabs(l0 - l1) <= 1e-5 * fabs(l1));
    isw_deq_work_destroy_s(&ws);
    free(g0), free(g1);
  }
  pair_free(&p);
}

/* The float32 vector tanh against libm's tanh in double (and NaN kept), on
 * 2^23 points of [-25, 25]: at most 5e-7 relative (about 8 ulp). */
static void test_float32_tanh(void) {
  enum { N = 1 << 23 };
  float *x = malloc(N * sizeof *x);
  double worst = 0.0;
  for (int i = 0; i < N; ++i) x[i] = (float)(-25.0 + 50.0 * i / (N - 1));
  float *y = malloc(N * sizeof *y);
  for (int i = 0; i < N; ++i) y[i] = x[i];
  isw_deq_activate_s(0, ISW_DEQ_TANH, y, N);
  for (int i = 0; i < N; ++i) {
    double t = tanh((double)x[i]);
    worst = fmax(worst, fabs((double)y[i] - t) / fmax(fabs(t), 1e-30));
  }
  printf("\n    float32 vector tanh: max rel err vs tanh %.2e (bound 5e-7)", worst);
  CU_ASSERT(worst <= 5e-7);
  float nan_in[3] = {NAN, 1.0f, -1.0f};
  isw_deq_activate_s(0, ISW_DEQ_TANH, nan_in, 3);
  CU_ASSERT(isnan(nan_in[0]));
  free(x), free(y);
}

/* The evaluation's loss curve and limit in float32 vs float64. */
static void test_float32_evaluate(void) {
  pair p;
  pair_make(&p, ISW_DEQ_TANH, 16, 5, 3, 40, 0.6, 91);
  int64_t iters[4] = {0, 1, 5, 20};
  double l64[4], l32[4];
  isw_deq_eval_opts o = {.limit_tol = 1e-5, .limit_max_iter = 500, .rho_w = 0.5};
  isw_deq_eval e64 = {.loss = l64}, e32 = {.loss = l32};
  CU_ASSERT_FATAL(isw_deq_evaluate(&e64, p.m, p.x, p.y, NULL, p.rows, iters, 4, &o) == 0);
  CU_ASSERT_FATAL(isw_deq_evaluate_s(&e32, p.ms, p.xs, p.ys, NULL, p.rows, iters, 4, &o) == 0);
  double worst = 0.0;
  for (int j = 0; j < 4; ++j) worst = fmax(worst, fabs(l32[j] - l64[j]) / fabs(l64[j]));
  double dlim = fabs(e32.limit_loss - e64.limit_loss) / fabs(e64.limit_loss);
  printf("\n    evaluation: loss curve rel diff %.2e, limit %.2e (bound 1e-4); limit converged %d / %d",
         worst, dlim, e64.limit_converged, e32.limit_converged);
  CU_ASSERT(worst <= 1e-4);
  CU_ASSERT(dlim <= 1e-4);
  CU_ASSERT(e32.limit_converged && e64.limit_converged);
  pair_free(&p);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"float32 gradients (every act, mode, jac_reg, direct) = float64 ones to 1e-4", test_gradients_match_float64},
      {"float32 BLAS path = float32 plain-loop reference to 1e-5", test_float32_blas_matches_reference},
      {"float32 vector tanh = tanh to 5e-7 and keeps NaN", test_float32_tanh},
      {"float32 evaluation curve and limit = float64 to 1e-4", test_float32_evaluate},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "deq_f32", cases);
}
