/* test_maml.c — the maml family: Hessian-vector products and the exact
 * second-order meta-gradient against central finite differences, the
 * first-order option against the second-order one, batched against
 * one-task-at-a-time and BLAS against the plain-loop reference, the one-pass
 * evaluation against a step-by-step loop, divergence as data, and the
 * small-budget behaviour check (meta-training lowers the one-step loss;
 * extra steps do not hurt).  The float32 build of the kernels (maml.h) is
 * checked against the float64 one at the same rounded point.
 *
 * Tolerances per precision: float64 gradients, HVPs and meta-gradients
 * against central finite differences (1e-7, 1e-6, 1e-6 relative, below);
 * float32 ones (finite differences in float would need a large step and
 * tolerance) against the float64 analytic values at the same point:
 * max |g32 - g64| / max |g64| <= F32_TOL = 1e-4; float32 losses within
 * 1e-5 relative; float32 BLAS against the float32 plain-loop reference
 * 1e-5; the float32 evaluation's loss curves 1e-4.
 *
 * Shapes: B = tasks, K = support points, Q = query points, P = parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/maml.h"
#include "isweep/rng.h"
#include "isweep/real_s.h"
#include "isweep/maml.h"
#include "isweep/real_end.h"
#include "isweep/signals.h"
#include "isweep/task.h"
#include "testutil.h"

extern const isw_task isw_task_maml;

/* ---- helpers --------------------------------------------------------------- */

/* B per-task parameter vectors near a common init: θ_b = θ + 0.1 N(0, 1), (B, P). */
static void random_params(double *params, const isw_maml_net *net, int B, uint64_t seed) {
  isw_rng r;
  isw_rng_init(&r, seed, 1, ISW_STREAM_INIT);
  isw_maml_init_params(params, net, &r);
  for (int b = 1; b < B; ++b) memcpy(params + (size_t)b * net->P, params, sizeof(double) * net->P);
  for (int64_t q = 0; q < B * net->P; ++q) params[q] += 0.1 * isw_rng_normal(&r);
}

typedef struct {
  double *xs, *ys, *xq, *yq; /* (B, K), (B, K), (B, Q), (B, Q) */
} task_set;

static task_set make_tasks(int B, int K, int Q, uint64_t seed) {
  task_set t;
  t.xs = malloc(sizeof(double) * B * K);
  t.ys = malloc(sizeof(double) * B * K);
  t.xq = malloc(sizeof(double) * B * Q);
  t.yq = malloc(sizeof(double) * B * Q);
  isw_rng r;
  isw_rng_init(&r, seed, 2, ISW_STREAM_DATA);
  isw_maml_sample_tasks(t.xs, t.ys, t.xq, t.yq, B, K, Q, &r);
  return t;
}

static void free_tasks(task_set *t) {
  free(t->xs);
  free(t->ys);
  free(t->xq);
  free(t->yq);
}

static double meta_loss(isw_maml_ws *ws, const double *theta, const task_set *t, int B, int K,
                        int Q, int N, double alpha, double *scratch /* (P) */) {
  double loss = NAN;
  CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(scratch, &loss, ws, theta, t->xs, t->ys, t->xq, t->yq,
                                           B, K, Q, N, alpha, 1), 0);
  return loss;
}

/* Smallest |pre-activation| over the hidden units of every task at params,
 * on M points: how far the relu network is from a kink. */
static double kink_margin(const isw_maml_net *net, const double *params /* (B, P) */,
                          const double *x /* (B, M) */, int B, int M) {
  int W = net->W;
  const double *p;
  double margin = INFINITY, *h1 = malloc(sizeof(double) * W);
  for (int b = 0; b < B; ++b) {
    p = params + (size_t)b * net->P;
    const double *W1 = p + isw_maml_offset(net, ISW_MAML_W1), *b1 = p + isw_maml_offset(net, ISW_MAML_B1);
    const double *W2 = p + isw_maml_offset(net, ISW_MAML_W2), *b2 = p + isw_maml_offset(net, ISW_MAML_B2);
    for (int i = 0; i < M; ++i) {
      double xr = x[(size_t)b * M + i];
      for (int j = 0; j < W; ++j) {
        double a = xr * W1[j] + b1[j];
        margin = fmin(margin, fabs(a));
        h1[j] = a > 0 ? a : 0;
      }
      for (int o = 0; o < W; ++o) {
        double a = b2[o];
        for (int j = 0; j < W; ++j) a += W2[(size_t)o * W + j] * h1[j];
        margin = fmin(margin, fabs(a));
      }
    }
  }
  free(h1);
  return margin;
}

/* ---- Hessian-vector products ------------------------------------------------ */

static void check_hvp_fd(isw_maml_act act, uint64_t seed) {
  const int W = 6, B = 3, M = 7;
  isw_maml_net net;
  isw_maml_net_init(&net, W, act);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, M, M, 1), 0);
  double *params = malloc(sizeof(double) * B * P), *v = malloc(sizeof(double) * B * P);
  double *hv = malloc(sizeof(double) * B * P), *fd = malloc(sizeof(double) * B * P);
  double *pp = malloc(sizeof(double) * B * P), *gp = malloc(sizeof(double) * B * P);
  double *gm = malloc(sizeof(double) * B * P);
  random_params(params, &net, B, seed);
  isw_rng r;
  isw_rng_init(&r, seed, 5, 5);
  isw_rng_normal_fill(&r, v, (size_t)(B * P), 0.0, 1.0);
  task_set t = make_tasks(B, M, M, seed);
  if (act == ISW_MAML_RELU)
    CU_ASSERT_FATAL(kink_margin(&net, params, t.xs, B, M) > 1e-3); /* FD valid: away from kinks */
  CU_ASSERT_EQUAL_FATAL(isw_maml_hvp(hv, NULL, ws, params, 0, v, t.xs, t.ys, B, M), 0);
  const double eps = 1e-6;
  for (int64_t q = 0; q < B * P; ++q) pp[q] = params[q] + eps * v[q];
  CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(NULL, gp, ws, pp, 0, t.xs, t.ys, B, M), 0);
  for (int64_t q = 0; q < B * P; ++q) pp[q] = params[q] - eps * v[q];
  CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(NULL, gm, ws, pp, 0, t.xs, t.ys, B, M), 0);
  for (int64_t q = 0; q < B * P; ++q) fd[q] = (gp[q] - gm[q]) / (2 * eps);
  double rel = isw_test_rel_diff(hv, fd, B * P, 1e-12);
  printf("\n  hvp vs FD of gradients (%s): rel err %.2e\n", act == ISW_MAML_TANH ? "tanh" : "relu", rel);
  CU_ASSERT(rel <= 1e-6); /* H v equals the central difference of the gradient along v */
  free_tasks(&t);
  free(params), free(v), free(hv), free(fd), free(pp), free(gp), free(gm);
  isw_maml_ws_destroy(&ws);
}

static void test_hvp_tanh_matches_fd(void) { check_hvp_fd(ISW_MAML_TANH, 11); }
static void test_hvp_relu_matches_fd(void) { check_hvp_fd(ISW_MAML_RELU, 12); }

/* Also: the gradient itself against central differences of the loss. */
static void test_gradient_matches_fd(void) {
  const int W = 5, B = 2, M = 6;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_TANH);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, M, M, 0), 0);
  double *params = malloc(sizeof(double) * B * P), *g = malloc(sizeof(double) * B * P);
  double *pp = malloc(sizeof(double) * B * P), *fd = malloc(sizeof(double) * B * P);
  double lp[2], lm[2];
  random_params(params, &net, B, 21);
  task_set t = make_tasks(B, M, M, 21);
  CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(NULL, g, ws, params, 0, t.xs, t.ys, B, M), 0);
  const double eps = 1e-5;
  for (int64_t q = 0; q < P; ++q) { /* perturb coordinate q of every task at once */
    memcpy(pp, params, sizeof(double) * B * P);
    for (int b = 0; b < B; ++b) pp[b * P + q] += eps;
    isw_maml_loss_grad(lp, NULL, ws, pp, 0, t.xs, t.ys, B, M);
    for (int b = 0; b < B; ++b) pp[b * P + q] -= 2 * eps;
    isw_maml_loss_grad(lm, NULL, ws, pp, 0, t.xs, t.ys, B, M);
    for (int b = 0; b < B; ++b) fd[b * P + q] = (lp[b] - lm[b]) / (2 * eps);
  }
  double rel = isw_test_rel_diff(g, fd, B * P, 1e-12);
  printf("\n  gradient vs FD: rel err %.2e\n", rel);
  CU_ASSERT(rel <= 1e-7);
  free_tasks(&t);
  free(params), free(g), free(pp), free(fd);
  isw_maml_ws_destroy(&ws);
}

/* ---- the meta-gradient ----------------------------------------------------- */

/* Second-order meta-gradient of N inner steps vs central differences of the
 * meta-loss in every coordinate of θ; returns the first-order one's relative
 * difference from the second-order one through *fo_vs_so. */
static double meta_grad_fd_error(isw_maml_act act, uint64_t seed, int N, double alpha,
                                 double *fo_vs_so, double *fo_vs_fd) {
  const int W = 5, B = 3, K = 4, Q = 5;
  isw_maml_net net;
  isw_maml_net_init(&net, W, act);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, K, Q, N), 0);
  double *theta = malloc(sizeof(double) * P), *g2 = malloc(sizeof(double) * P);
  double *g1 = malloc(sizeof(double) * P), *fd = malloc(sizeof(double) * P);
  double *tp = malloc(sizeof(double) * P), *scratch = malloc(sizeof(double) * P);
  random_params(theta, &net, 1, seed);
  task_set t = make_tasks(B, K, Q, seed);
  double loss2, loss1;
  CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(g2, &loss2, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, alpha, 2), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(g1, &loss1, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, alpha, 1), 0);
  CU_ASSERT_EQUAL(loss1, loss2); /* the order changes the gradient, never the loss */
  const double eps = 1e-5;
  for (int64_t q = 0; q < P; ++q) {
    memcpy(tp, theta, sizeof(double) * P);
    tp[q] += eps;
    double lp = meta_loss(ws, tp, &t, B, K, Q, N, alpha, scratch);
    tp[q] -= 2 * eps;
    double lm = meta_loss(ws, tp, &t, B, K, Q, N, alpha, scratch);
    fd[q] = (lp - lm) / (2 * eps);
  }
  double rel = isw_test_rel_diff(g2, fd, P, 1e-12);
  *fo_vs_so = isw_test_rel_diff(g1, g2, P, 1e-12);
  *fo_vs_fd = isw_test_rel_diff(g1, fd, P, 1e-12);
  free_tasks(&t);
  free(theta), free(g2), free(g1), free(fd), free(tp), free(scratch);
  isw_maml_ws_destroy(&ws);
  return rel;
}

static void test_meta_grad_tanh_matches_fd(void) {
  double fo_so, fo_fd;
  for (int N = 1; N <= 3; N += 2) {
    double rel = meta_grad_fd_error(ISW_MAML_TANH, 31, N, 0.3, &fo_so, &fo_fd);
    printf("\n  tanh N=%d: second-order vs FD %.2e, first-order vs second-order %.2e, vs FD %.2e", N,
           rel, fo_so, fo_fd);
    CU_ASSERT(rel <= 1e-6); /* exact second-order meta-gradient */
    CU_ASSERT(fo_so > 1e-2); /* the first-order option drops a Hessian term that matters here */
    CU_ASSERT(fo_fd > 1e-2); /* ... so it is not the gradient of the meta-loss */
  }
  printf("\n");
}

static void test_meta_grad_relu_matches_fd(void) {
  double fo_so, fo_fd;
  /* relu: FD is only valid away from kinks.  With this seed no pre-activation
   * of any inner step crosses 0 within ±eps (a crossing would leave an O(1)
   * FD error in some coordinate, not the ~1e-8 seen); another seed may need
   * another choice. */
  double rel = meta_grad_fd_error(ISW_MAML_RELU, 41, 2, 0.3, &fo_so, &fo_fd);
  printf("\n  relu N=2: second-order vs FD %.2e, first-order vs second-order %.2e\n", rel, fo_so);
  CU_ASSERT(rel <= 1e-6);
  CU_ASSERT(fo_so > 1e-2);
}

/* With alpha = 0 the Hessian term vanishes: both orders agree to rounding. */
static void test_orders_agree_without_inner_step(void) {
  double fo_so, fo_fd;
  double rel = meta_grad_fd_error(ISW_MAML_TANH, 51, 2, 0.0, &fo_so, &fo_fd);
  CU_ASSERT(rel <= 1e-6);
  CU_ASSERT(fo_so <= 1e-14);
}

/* ---- batching and BLAS ------------------------------------------------------ */

static void test_batched_equals_one_task_at_a_time(void) {
  const int W = 12, B = 5, K = 6, Q = 7, N = 3;
  const double alpha = 0.05;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL, *ws1 = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, K, Q, N), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws1, &net, 1, K, Q, N), 0);
  double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
  double *gsum = calloc((size_t)P, sizeof(double)), *g1 = malloc(sizeof(double) * P);
  random_params(theta, &net, 1, 61);
  task_set t = make_tasks(B, K, Q, 61);
  for (int order = 1; order <= 2; ++order) {
    double loss, lsum = 0.0, l1;
    memset(gsum, 0, sizeof(double) * P);
    CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(g, &loss, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, alpha, order), 0);
    for (int b = 0; b < B; ++b) {
      CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(g1, &l1, ws1, theta, t.xs + b * K, t.ys + b * K,
                                               t.xq + b * Q, t.yq + b * Q, 1, K, Q, N, alpha, order), 0);
      lsum += l1 / B;
      for (int64_t q = 0; q < P; ++q) gsum[q] += g1[q] / B;
    }
    double rel = isw_test_rel_diff(g, gsum, P, 1e-12);
    printf("\n  order %d: batched vs one task at a time: rel diff %.2e", order, rel);
    CU_ASSERT(rel <= 1e-12);
    CU_ASSERT(isw_test_close(loss, lsum, 1e-13, 1e-12));
    /* B = 5 tasks through a workspace of 2: sub-batches of 2, 2, 1 */
    isw_maml_ws *ws2 = NULL;
    CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws2, &net, 2, K, Q, N), 0);
    double l2;
    CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(g1, &l2, ws2, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, alpha, order), 0);
    rel = isw_test_rel_diff(g1, g, P, 1e-12);
    printf("; sub-batches of 2 vs one batch: rel diff %.2e", rel);
    CU_ASSERT(rel <= 1e-12);
    CU_ASSERT(isw_test_close(l2, loss, 1e-13, 1e-12));
    isw_maml_ws_destroy(&ws2);
  }
  printf("\n");
  /* per-task gradient and HVP: one shared θ equals θ replicated per task */
  double *rep = malloc(sizeof(double) * B * P), *ga = malloc(sizeof(double) * B * P);
  double *gb = malloc(sizeof(double) * B * P), *v = malloc(sizeof(double) * B * P);
  for (int b = 0; b < B; ++b) memcpy(rep + (size_t)b * P, theta, sizeof(double) * P);
  isw_rng r;
  isw_rng_init(&r, 3, 3, 3);
  isw_rng_normal_fill(&r, v, (size_t)(B * P), 0.0, 1.0);
  isw_maml_loss_grad(NULL, ga, ws, theta, 1, t.xq, t.yq, B, Q);
  isw_maml_loss_grad(NULL, gb, ws, rep, 0, t.xq, t.yq, B, Q);
  CU_ASSERT(isw_test_rel_diff(ga, gb, B * P, 1e-12) <= 1e-13);
  isw_maml_hvp(ga, NULL, ws, theta, 1, v, t.xq, t.yq, B, Q);
  isw_maml_hvp(gb, NULL, ws, rep, 0, v, t.xq, t.yq, B, Q);
  CU_ASSERT(isw_test_rel_diff(ga, gb, B * P, 1e-12) <= 1e-13);
  free_tasks(&t);
  free(theta), free(g), free(gsum), free(g1), free(rep), free(ga), free(gb), free(v);
  isw_maml_ws_destroy(&ws);
  isw_maml_ws_destroy(&ws1);
}

static void test_blas_matches_reference_loops(void) {
  const int W = 17, B = 4, K = 5, Q = 9, N = 2;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_TANH);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, K, Q, N), 0);
  double *theta = malloc(sizeof(double) * P), *ga = malloc(sizeof(double) * P);
  double *gb = malloc(sizeof(double) * P);
  random_params(theta, &net, 1, 71);
  task_set t = make_tasks(B, K, Q, 71);
  double la, lb;
  isw_maml_meta_grad(ga, &la, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, 0.1, 2);
  isw_maml_ws_set_reference(ws, 1);
  isw_maml_meta_grad(gb, &lb, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, 0.1, 2);
  double rel = isw_test_rel_diff(ga, gb, P, 1e-12);
  printf("\n  BLAS vs plain loops: meta-gradient rel diff %.2e\n", rel);
  CU_ASSERT(rel <= 1e-12);
  CU_ASSERT(isw_test_close(la, lb, 1e-13, 1e-12));
  /* evaluation: the same through both paths */
  const int64_t rec[] = {0, 1, 4};
  double qa[4 * 3], sa[4 * 3], lima[4], qb[4 * 3], sb[4 * 3], limb[4];
  int64_t sta[4], stb[4];
  isw_maml_evaluate(qb, sb, limb, stb, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, rec, 3, 0.01, 1e-2, 50);
  isw_maml_ws_set_reference(ws, 0);
  isw_maml_evaluate(qa, sa, lima, sta, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, rec, 3, 0.01, 1e-2, 50);
  CU_ASSERT(isw_test_rel_diff(qa, qb, 12, 1e-12) <= 1e-12);
  CU_ASSERT(isw_test_rel_diff(lima, limb, 4, 1e-12) <= 1e-12);
  free_tasks(&t);
  free(theta), free(ga), free(gb);
  isw_maml_ws_destroy(&ws);
}

/* ---- evaluation --------------------------------------------------------------- */

/* isw_maml_evaluate vs a plain loop of gradient steps; chunking does not matter. */
static void test_evaluate_matches_step_loop(void) {
  enum { W = 8, T = 7, K = 5, Q = 11, R = 3 };
  const double alpha = 0.05;
  const int64_t rec[R] = {0, 2, 5};
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  int64_t P = net.P;
  isw_maml_ws *ws3 = NULL, *ws7 = NULL, *ws1 = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws3, &net, 3, K, Q, 0), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws7, &net, T, K, Q, 0), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws1, &net, 1, K, Q, 0), 0);
  double *theta = malloc(sizeof(double) * P), *phi = malloc(sizeof(double) * P);
  double *g = malloc(sizeof(double) * P);
  random_params(theta, &net, 1, 81);
  task_set t = make_tasks(T, K, Q, 81);
  double q3[T * R], s3[T * R], l3[T], q7[T * R], s7[T * R], l7[T];
  int64_t st3[T], st7[T];
  CU_ASSERT_EQUAL_FATAL(isw_maml_evaluate(q3, s3, l3, st3, ws3, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, 0.0, 8), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_evaluate(q7, s7, l7, st7, ws7, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, 0.0, 8), 0);
  /* the chunk size changes nothing but rounding */
  CU_ASSERT(isw_test_rel_diff(q3, q7, T * R, 1e-12) <= 1e-13);
  CU_ASSERT(isw_test_rel_diff(l3, l7, T, 1e-12) <= 1e-13);
  double worst = 0.0;
  for (int b = 0; b < T; ++b) {
    CU_ASSERT_EQUAL(st3[b], -1); /* tol = 0: never reached, flagged */
    memcpy(phi, theta, sizeof(double) * P);
    int j = 0;
    for (int n = 0; n <= 8; ++n) {
      double lq, ls;
      isw_maml_loss_grad(&lq, NULL, ws1, phi, 0, t.xq + b * Q, t.yq + b * Q, 1, Q);
      isw_maml_loss_grad(&ls, g, ws1, phi, 0, t.xs + b * K, t.ys + b * K, 1, K);
      if (j < R && rec[j] == n) {
        worst = fmax(worst, fabs(lq - q3[b * R + j]) / lq);
        worst = fmax(worst, fabs(ls - s3[b * R + j]) / ls);
        ++j;
      }
      if (n == 8) worst = fmax(worst, fabs(lq - l3[b]) / lq); /* cap 8: the limit proxy is n = 8 */
      for (int64_t q = 0; q < P; ++q) phi[q] -= alpha * g[q];
    }
  }
  printf("\n  evaluate vs step loop: rel diff %.2e\n", worst);
  CU_ASSERT(worst <= 1e-12);
  /* a huge tolerance is met at once: the limit is the n = 0 value */
  CU_ASSERT_EQUAL_FATAL(isw_maml_evaluate(q7, s7, l7, st7, ws7, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, 1e30, 8), 0);
  for (int b = 0; b < T; ++b) {
    CU_ASSERT_EQUAL(st7[b], 0);
    CU_ASSERT(isw_test_close(l7[b], q7[b * R + 0], 1e-13, 1e-12));
  }
  /* the convergence test uses the support-gradient norm: a tolerance just
   * above a task's norm at θ stops it at n = 0, one just below does not */
  double *gall = malloc(sizeof(double) * T * P), nrm[T];
  isw_maml_loss_grad(NULL, gall, ws7, theta, 1, t.xs, t.ys, T, K);
  for (int b = 0; b < T; ++b) {
    double s2 = 0.0;
    for (int64_t q = 0; q < P; ++q) s2 += gall[b * P + q] * gall[b * P + q];
    nrm[b] = sqrt(s2);
  }
  for (int side = 0; side < 2; ++side) {
    double tol = nrm[3] * (side ? 1 + 1e-9 : 1 - 1e-9);
    isw_maml_evaluate(q7, s7, l7, st7, ws7, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, tol, 8);
    for (int b = 0; b < T; ++b) CU_ASSERT_EQUAL(st7[b] == 0, nrm[b] < tol);
  }
  free(gall);
  free_tasks(&t);
  free(theta), free(phi), free(g);
  isw_maml_ws_destroy(&ws3);
  isw_maml_ws_destroy(&ws7);
  isw_maml_ws_destroy(&ws1);
}

/* ---- the family's run() ------------------------------------------------------ */

/* A config of the maml family: defaults, then "key=value" overrides. */
static void make_config(isw_config *c, int64_t width, int64_t N, const int64_t *ti, int nt,
                        const char *const *kv) {
  const isw_task *task = &isw_task_maml;
  memset(c, 0, sizeof *c);
  c->task = task;
  c->width = width;
  c->train_iters = N;
  c->test_iters = ti;
  c->n_test = nt;
  c->sweep_seed = 20231;
  c->id = 777;
  c->data_id = 999;
  for (int i = 0; i < task->n_params; ++i) {
    const isw_param_def *d = &task->params[i];
    const char *val = d->def;
    for (const char *const *p = kv; p && *p; ++p) {
      size_t n = strlen(d->name);
      if (strncmp(*p, d->name, n) == 0 && (*p)[n] == '=') val = *p + n + 1;
    }
    if (d->type == ISW_PARAM_ENUM) {
      c->p[i].str = val;
      c->p[i].num = strcmp(val, "tanh") == 0 ? 1 : 0;
    } else {
      c->p[i].num = strtod(val, NULL);
    }
  }
}

static void result_alloc(isw_result *res, int nt) {
  memset(res, 0, sizeof *res);
  res->scalars = malloc(sizeof(double) * isw_task_maml.n_scalars);
  res->curves = malloc(sizeof(double) * isw_task_maml.n_curves * (nt ? nt : 1));
  for (int i = 0; i < isw_task_maml.n_scalars; ++i) res->scalars[i] = NAN;
  for (int i = 0; i < isw_task_maml.n_curves * nt; ++i) res->curves[i] = NAN;
}

static void result_free(isw_result *res) {
  free(res->scalars);
  free(res->curves);
}

static double scalar(const isw_result *res, const char *name) {
  int k = isw_task_scalar_index(&isw_task_maml, name);
  CU_ASSERT_FATAL(k >= 0);
  return res->scalars[k];
}

static double curve(const isw_result *res, const char *name, int nt, int j) {
  int k = isw_task_curve_index(&isw_task_maml, name);
  CU_ASSERT_FATAL(k >= 0);
  return res->curves[k * nt + j];
}

static void test_columns_follow_the_contract(void) {
  CU_ASSERT_STRING_EQUAL(isw_task_maml.curves[0].name, "train_loss");
  CU_ASSERT_STRING_EQUAL(isw_task_maml.curves[1].name, "test_loss");
  CU_ASSERT_EQUAL(isw_task_maml.team_capable, 0);
  CU_ASSERT(isw_task_maml.n_params <= ISW_MAX_PARAMS);
  const int64_t ti[] = {0, 1};
  isw_config c;
  make_config(&c, 40, 1, ti, 2, NULL);
  CU_ASSERT(isw_task_maml.cost(&c) > 0);
  CU_ASSERT_EQUAL(isw_task_maml.validate(&c), 0);
  make_config(&c, 8192, 5, ti, 2, NULL); /* ~100 GiB of per-task parameters */
  CU_ASSERT_EQUAL(isw_task_maml.validate(&c), ISW_EUSAGE);
}

/* test_iters without N: the N-step scalars still come out, and equal the
 * curve of a run whose test_iters contain N; runs are deterministic. */
static void test_run_records_N_and_is_deterministic(void) {
  static const char *const kv[] = {"meta_steps=30", "meta_batch=4", "test_tasks=9",
                                   "train_eval_tasks=6", "query_eval=20", "limit_max_steps=40", NULL};
  const int64_t ti_a[] = {0, 1, 2, 3, 4}, ti_b[] = {0, 2, 4};
  isw_config ca, cb;
  make_config(&ca, 10, 3, ti_a, 5, kv);
  make_config(&cb, 10, 3, ti_b, 3, kv);
  isw_result ra, rb, rb2;
  result_alloc(&ra, 5);
  result_alloc(&rb, 3);
  result_alloc(&rb2, 3);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&ra, &ca, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&rb, &cb, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&rb2, &cb, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL(ra.status, ISW_ST_OK);
  CU_ASSERT_EQUAL(rb.status, ISW_ST_OK);
  CU_ASSERT_EQUAL(ra.n_params, 10 * 10 + 4 * 10 + 1);
  CU_ASSERT(isw_test_close(ra.rho, 141.0 / (30.0 * 4 * 10), 1e-14, 0)); /* P / (S B K) */
  CU_ASSERT_EQUAL(scalar(&rb, "test_loss_at_N"), curve(&ra, "test_loss", 5, 3));
  CU_ASSERT_EQUAL(scalar(&rb, "train_loss_at_N"), curve(&ra, "train_loss", 5, 3));
  CU_ASSERT_EQUAL(curve(&rb, "test_loss", 3, 2), curve(&ra, "test_loss", 5, 4));
  CU_ASSERT_EQUAL(curve(&rb, "train_loss_std", 3, 1), curve(&ra, "train_loss_std", 5, 2));
  CU_ASSERT_EQUAL(curve(&rb, "test_delta_se", 3, 0), curve(&ra, "test_delta_se", 5, 0));
  CU_ASSERT(memcmp(rb.curves, rb2.curves, sizeof(double) * isw_task_maml.n_curves * 3) == 0);
  CU_ASSERT(memcmp(rb.scalars, rb2.scalars, sizeof(double) * isw_task_maml.n_scalars) == 0);
  for (int i = 0; i < isw_task_maml.n_curves * 3; ++i) CU_ASSERT(isfinite(rb.curves[i]));
  CU_ASSERT(isnan(scalar(&rb, "diverged_step")));
  CU_ASSERT(ra.train_seconds >= 0 && ra.eval_seconds >= 0);
  result_free(&ra);
  result_free(&rb);
  result_free(&rb2);
}

static void test_task_pool(void) {
  static const char *const kv[] = {"meta_steps=20", "meta_batch=3", "task_pool=5", "test_tasks=4",
                                   "train_eval_tasks=50", "limit_max_steps=5", NULL};
  const int64_t ti[] = {0, 1};
  isw_config c;
  make_config(&c, 6, 1, ti, 2, kv);
  isw_result res;
  result_alloc(&res, 2);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&res, &c, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL(res.status, ISW_ST_OK);
  CU_ASSERT(isw_test_close(res.rho, 61.0 / (5 * 10), 1e-14, 0)); /* P / (pool K) */
  CU_ASSERT(isfinite(curve(&res, "train_loss", 2, 1)));
  result_free(&res);
}

/* An absurd inner step blows the inner loop up: the row is `diverged`, the
 * step is recorded, and run() still returns 0 (the sweep goes on). */
static void test_absurd_inner_step_diverges(void) {
  static const char *const kv[] = {"inner_lr=1e6", "meta_steps=50", "meta_batch=4",
                                   "test_tasks=3", "train_eval_tasks=3", NULL};
  const int64_t ti[] = {0, 5};
  isw_config c;
  make_config(&c, 16, 5, ti, 2, kv);
  isw_result res;
  result_alloc(&res, 2);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&res, &c, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL(res.status, ISW_ST_DIVERGED);
  CU_ASSERT(strlen(res.message) > 0);
  CU_ASSERT(isfinite(scalar(&res, "diverged_step")));
  printf("\n  diverged: \"%s\"\n", res.message);
  result_free(&res);
}

/* The behaviour check on a small budget: w = 40, N = 1, second order.
 * Asserts only what holds robustly at this budget (see the note for the
 * full 10,000-step numbers): meta-training lowers the one-step query loss on
 * held-out tasks, and 2 and 4 steps are no worse than 1 on average. */
static void test_meta_training_helps_small_budget(void) {
  static const char *const trained[] = {"meta_steps=3000", "limit_max_steps=0", NULL};
  static const char *const untrained[] = {"meta_steps=0", "limit_max_steps=0", NULL};
  const int64_t ti[] = {0, 1, 2, 4};
  isw_config ct, cu;
  make_config(&ct, 40, 1, ti, 4, trained);
  make_config(&cu, 40, 1, ti, 4, untrained);
  isw_result rt, ru;
  result_alloc(&rt, 4);
  result_alloc(&ru, 4);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&rt, &ct, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&ru, &cu, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(rt.status, ISW_ST_OK);
  double t0 = curve(&rt, "test_loss", 4, 0), t1 = curve(&rt, "test_loss", 4, 1);
  double t2 = curve(&rt, "test_loss", 4, 2), t4 = curve(&rt, "test_loss", 4, 3);
  double u1 = curve(&ru, "test_loss", 4, 1);
  printf("\n  w=40 N=1, 3000 meta-steps (%.1f s): held-out query MSE n=0 %.3f, n=1 %.3f, n=2 %.3f, "
         "n=4 %.3f; untrained n=1 %.3f; meta-loss %.3f -> %.3f\n",
         rt.train_seconds, t0, t1, t2, t4, u1, scalar(&rt, "initial_meta_loss"),
         scalar(&rt, "final_meta_loss"));
  CU_ASSERT(t1 < 0.8 * u1); /* meta-training lowers the one-step loss */
  CU_ASSERT(t1 < t0);       /* one adaptation step helps the trained initialisation */
  CU_ASSERT(t2 <= t1);      /* extra steps do not hurt on average */
  CU_ASSERT(t4 <= t1);
  result_free(&rt);
  result_free(&ru);
}

/* Runs last: the stop flag cannot be lowered again. */
static void test_stop_request_interrupts(void) {
  static const char *const kv[] = {"meta_steps=100000", "meta_batch=2", "test_tasks=2",
                                   "train_eval_tasks=2", NULL};
  const int64_t ti[] = {0, 1};
  isw_config c;
  make_config(&c, 8, 1, ti, 2, kv);
  isw_result res;
  result_alloc(&res, 2);
  isw_signals_request_stop();
  CU_ASSERT_EQUAL(isw_task_maml.run(&res, &c, MPI_COMM_SELF), ISW_EINTERRUPT);
  result_free(&res);
}

/* ---- float32 against float64 ---------------------------------------------------- */

#define F32_TOL 1e-4

typedef struct {
  float *xs, *ys, *xq, *yq;
} task_set_f32;

static task_set_f32 round_tasks(task_set *t, int B, int K, int Q) {
  task_set_f32 f = {isw_test_round_f32(t->xs, (int64_t)B * K), isw_test_round_f32(t->ys, (int64_t)B * K),
                    isw_test_round_f32(t->xq, (int64_t)B * Q), isw_test_round_f32(t->yq, (int64_t)B * Q)};
  return f;
}

static void free_tasks_f32(task_set_f32 *f) { free(f->xs), free(f->ys), free(f->xq), free(f->yq); }

/* Per-task loss, gradient and HVP, and the meta-gradient of both orders, in
 * float32 against float64 for both activations. */
static void test_float32_matches_float64(void) {
  const int W = 6, B = 3, K = 4, Q = 5;
  double worst = 0.0, worst_l = 0.0;
  for (int a = 0; a < 2; ++a) {
    isw_maml_act act = a ? ISW_MAML_RELU : ISW_MAML_TANH;
    isw_maml_net net;
    isw_maml_net_init(&net, W, act);
    int64_t P = net.P;
    isw_maml_ws *ws = NULL;
    isw_maml_ws_s *wss = NULL;
    CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, K, Q, 3), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create_s(&wss, &net, B, K, Q, 3), 0);
    double *params = malloc(sizeof(double) * B * P), *v = malloc(sizeof(double) * B * P);
    double *g = malloc(sizeof(double) * B * P), l[3], l2;
    float *gs = malloc(sizeof(float) * B * P);
    double ls[3], ls2;
    random_params(params, &net, B, 80 + (uint64_t)a);
    isw_rng r;
    isw_rng_init(&r, 8, 8, 8);
    isw_rng_normal_fill(&r, v, (size_t)(B * P), 0.0, 1.0);
    task_set t = make_tasks(B, K, Q, 80 + (uint64_t)a);
    float *pf = isw_test_round_f32(params, B * P), *vf = isw_test_round_f32(v, B * P);
    task_set_f32 tf = round_tasks(&t, B, K, Q);
    /* per-task gradient and loss on the query points */
    CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(l, g, ws, params, 0, t.xq, t.yq, B, Q), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad_s(ls, gs, wss, pf, 0, tf.xq, tf.yq, B, Q), 0);
    double eg = isw_test_rel_diff_f32(g, gs, B * P), el = 0.0;
    for (int b = 0; b < B; ++b) el = fmax(el, fabs(ls[b] - l[b]) / fabs(l[b]));
    /* HVP on the support points */
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp(g, NULL, ws, params, 0, v, t.xs, t.ys, B, K), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp_s(gs, NULL, wss, pf, 0, vf, tf.xs, tf.ys, B, K), 0);
    double eh = isw_test_rel_diff_f32(g, gs, B * P);
    printf("\n  %s: float32 vs float64: gradient %.2e, loss %.2e, HVP %.2e", a ? "relu" : "tanh", eg,
           el, eh);
    CU_ASSERT(eg <= F32_TOL);
    CU_ASSERT(el <= 1e-5);
    CU_ASSERT(eh <= F32_TOL);
    worst = fmax(worst, fmax(eg, eh));
    worst_l = fmax(worst_l, el);
    /* the meta-gradient at θ = task 0's parameters, N = 1 and 3, both orders */
    for (int N = 1; N <= 3; N += 2)
      for (int order = 1; order <= 2; ++order) {
        CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(g, &l2, ws, params, t.xs, t.ys, t.xq, t.yq, B, K, Q, N, 0.3, order), 0);
        CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad_s(gs, &ls2, wss, pf, tf.xs, tf.ys, tf.xq, tf.yq, B, K, Q, N, 0.3, order), 0);
        double em = isw_test_rel_diff_f32(g, gs, P), elm = fabs(ls2 - l2) / fabs(l2);
        printf("\n    N=%d order %d: meta-gradient %.2e, meta-loss %.2e", N, order, em, elm);
        CU_ASSERT(em <= F32_TOL);
        CU_ASSERT(elm <= 1e-5);
        worst = fmax(worst, em);
        worst_l = fmax(worst_l, elm);
      }
    free_tasks(&t);
    free_tasks_f32(&tf);
    free(params), free(v), free(g), free(gs), free(pf), free(vf);
    isw_maml_ws_destroy(&ws);
    isw_maml_ws_destroy_s(&wss);
  }
  printf("\n  worst: %.2e (bound %.0e), losses %.2e (bound 1e-5)\n", worst, F32_TOL, worst_l);
}

/* float32: sgemm against the float32 plain loops; the one-pass evaluation
 * (recorded losses and the n = infinity proxy) against float64. */
static void test_float32_blas_and_evaluation(void) {
  enum { W = 17, B = 4, K = 5, Q = 9, N = 2, R = 3 };
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_TANH);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  isw_maml_ws_s *wss = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, K, Q, N), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create_s(&wss, &net, B, K, Q, N), 0);
  double *theta = malloc(sizeof(double) * P);
  float *ga = malloc(sizeof(float) * P), *gb = malloc(sizeof(float) * P);
  random_params(theta, &net, 1, 91);
  task_set t = make_tasks(B, K, Q, 91);
  float *tf32 = isw_test_round_f32(theta, P);
  task_set_f32 tf = round_tasks(&t, B, K, Q);
  double la, lb;
  isw_maml_meta_grad_s(ga, &la, wss, tf32, tf.xs, tf.ys, tf.xq, tf.yq, B, K, Q, N, 0.1, 2);
  isw_maml_ws_set_reference_s(wss, 1);
  isw_maml_meta_grad_s(gb, &lb, wss, tf32, tf.xs, tf.ys, tf.xq, tf.yq, B, K, Q, N, 0.1, 2);
  isw_maml_ws_set_reference_s(wss, 0);
  double num = 0.0, den = 0.0;
  for (int64_t q = 0; q < P; ++q) num = fmax(num, fabs((double)ga[q] - gb[q])), den = fmax(den, fabs((double)gb[q]));
  printf("\n  float32 BLAS vs float32 loops: meta-gradient %.2e, loss %.2e", num / den, fabs(la - lb) / lb);
  CU_ASSERT(num / den <= 1e-5);
  CU_ASSERT(fabs(la - lb) <= 1e-5 * lb);
  const int64_t rec[R] = {0, 1, 20};
  double q64[B * R], s64[B * R], lim64[B], q32[B * R], s32[B * R], lim32[B];
  int64_t st64[B], st32[B];
  CU_ASSERT_EQUAL_FATAL(isw_maml_evaluate(q64, s64, lim64, st64, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, rec, R, 0.05, 1e-2, 200), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_evaluate_s(q32, s32, lim32, st32, wss, tf32, tf.xs, tf.ys, tf.xq, tf.yq, B, K, Q, rec, R, 0.05, 1e-2, 200), 0);
  double eq = 0.0, es = 0.0;
  for (int i = 0; i < B * R; ++i)
    eq = fmax(eq, fabs(q32[i] - q64[i]) / q64[i]), es = fmax(es, fabs(s32[i] - s64[i]) / s64[i]);
  printf("; evaluation: query curve %.2e, support curve %.2e (bound 1e-4)\n", eq, es);
  CU_ASSERT(eq <= 1e-4);
  CU_ASSERT(es <= 1e-4);
  free_tasks(&t);
  free_tasks_f32(&tf);
  free(theta), free(ga), free(gb), free(tf32);
  isw_maml_ws_destroy(&ws);
  isw_maml_ws_destroy_s(&wss);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"gradient matches central differences", test_gradient_matches_fd},
      {"HVP (tanh) matches differences of gradients", test_hvp_tanh_matches_fd},
      {"HVP (relu, away from kinks) matches differences of gradients", test_hvp_relu_matches_fd},
      {"second-order meta-gradient (tanh) matches FD; first order differs", test_meta_grad_tanh_matches_fd},
      {"second-order meta-gradient (relu) matches FD", test_meta_grad_relu_matches_fd},
      {"orders agree when the inner step is 0", test_orders_agree_without_inner_step},
      {"batched equals one task at a time", test_batched_equals_one_task_at_a_time},
      {"BLAS equals the plain-loop reference", test_blas_matches_reference_loops},
      {"float32 gradients, HVPs and meta-gradients match float64", test_float32_matches_float64},
      {"float32 BLAS equals its loops; float32 evaluation matches float64", test_float32_blas_and_evaluation},
      {"evaluation equals a step-by-step loop", test_evaluate_matches_step_loop},
      {"columns follow the task contract", test_columns_follow_the_contract},
      {"run records n = N and is deterministic", test_run_records_N_and_is_deterministic},
      {"task pool", test_task_pool},
      {"absurd inner step marks the row diverged", test_absurd_inner_step_diverges},
      {"meta-training helps (small budget)", test_meta_training_helps_small_budget},
      {"a stop request interrupts training", test_stop_request_interrupts},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "maml", cases);
}
