/* test_imaml.c — the imaml family: the CG meta-gradient against the exact
 * ((1 + δ) I + H/λ)⁻¹ g with H formed explicitly, against central finite
 * differences of the query loss at the exact inner minimizer, its λ → ∞
 * limit (first-order MAML at N = 0), prepared HVPs against maml's HVP, the
 * proximal evaluation against a step loop and maml's evaluation, one-pass
 * curves against separate evaluations, the same tasks and θ₀ as maml
 * (identity formula against spec.c), run() end to end and determinism.
 * The float32 build (imaml.h) against float64 at the same rounded point:
 * inner solution, prepared HVPs and the CG meta-gradient within
 * max |g32 - g64| / max |g64| <= F32_TOL = 1e-4 (float64 itself is checked
 * against finite differences and the explicit solve to 1e-6 and 1e-8
 * relative below), the meta-loss within 1e-5.
 *
 * Shapes: B = tasks, K = support points, Q = query points, P = parameters. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/imaml.h"
#include "isweep/maml.h"
#include "isweep/rng.h"
#include "isweep/real_s.h"
#include "isweep/imaml.h"
#include "isweep/real_end.h"
#include "isweep/spec.h"
#include "isweep/task.h"
#include "testutil.h"

extern const isw_task isw_task_imaml;
extern const isw_task isw_task_maml;

/* ---- helpers --------------------------------------------------------------- */

typedef struct {
  double *xs, *ys, *xq, *yq; /* (B, K), (B, K), (B, Q), (B, Q) */
} task_set;

static task_set make_tasks(int B, int K, int Q, uint64_t seed) {
  task_set t = {malloc(sizeof(double) * B * K), malloc(sizeof(double) * B * K),
                malloc(sizeof(double) * B * Q), malloc(sizeof(double) * B * Q)};
  isw_rng r;
  isw_rng_init(&r, seed, 2, ISW_STREAM_DATA);
  isw_maml_sample_tasks(t.xs, t.ys, t.xq, t.yq, B, K, Q, &r);
  return t;
}

static void free_tasks(task_set *t) { free(t->xs), free(t->ys), free(t->xq), free(t->yq); }

static void init_theta(double *theta, const isw_maml_net *net, uint64_t seed) {
  isw_rng r;
  isw_rng_init(&r, seed, 1, ISW_STREAM_INIT);
  isw_maml_init_params(theta, net, &r);
}

/* The exact ((1 + δ) I + H/λ)⁻¹ g of one task: H (P, P) from P HVPs against
 * unit vectors at phi (P) on the support set, g the query gradient at phi.
 * Returns the asymmetry of the formed H and its smallest eigenvalue. */
static void exact_solution(double *x /* (P) */, double *asym, double *eig_min, const isw_maml_net *net,
                           const double *phi, const task_set *t, int b, int K, int Q, double lambda,
                           double damping) {
  int P = (int)net->P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, net, 1, K, Q, 0), 0);
  double *A = malloc(sizeof(double) * P * P), *e = calloc(P, sizeof(double));
  double *col = malloc(sizeof(double) * P), *w = malloc(sizeof(double) * P), *S = malloc(sizeof(double) * P * P);
  lapack_int *ipiv = malloc(sizeof(lapack_int) * P);
  for (int j = 0; j < P; ++j) {
    e[j] = 1.0;
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp(col, NULL, ws, phi, 0, e, t->xs + b * K, t->ys + b * K, 1, K), 0);
    e[j] = 0.0;
    for (int i = 0; i < P; ++i) A[i * P + j] = col[i]; /* column j of H */
  }
  double amax = 0.0, hmax = 0.0;
  for (int i = 0; i < P; ++i)
    for (int j = 0; j < P; ++j) amax = fmax(amax, fabs(A[i * P + j] - A[j * P + i])), hmax = fmax(hmax, fabs(A[i * P + j]));
  *asym = amax / hmax;
  memcpy(S, A, sizeof(double) * P * P);
  CU_ASSERT_EQUAL_FATAL(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', P, S, P, w), 0);
  *eig_min = w[0];
  for (int i = 0; i < P * P; ++i) A[i] /= lambda;
  for (int i = 0; i < P; ++i) A[i * P + i] += 1.0 + damping;
  CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(NULL, x, ws, phi, 0, t->xq + b * Q, t->yq + b * Q, 1, Q), 0);
  CU_ASSERT_EQUAL_FATAL(LAPACKE_dgesv(LAPACK_ROW_MAJOR, P, 1, A, P, ipiv, x, 1), 0);
  free(A), free(e), free(col), free(w), free(S), free(ipiv);
  isw_maml_ws_destroy(&ws);
}

/* ---- prepared HVPs ------------------------------------------------------------ */

static void test_prepared_hvp_equals_hvp(void) {
  const int W = 9, B = 3, K = 6;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_TANH);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, B, K, K, 0), 0);
  double *phi = malloc(sizeof(double) * B * P), *v = malloc(sizeof(double) * B * P);
  double *h1 = malloc(sizeof(double) * B * P), *h2 = malloc(sizeof(double) * B * P);
  double *g1 = malloc(sizeof(double) * B * P), *g2 = malloc(sizeof(double) * B * P);
  isw_rng r;
  isw_rng_init(&r, 5, 5, 5);
  for (int b = 0; b < B; ++b) init_theta(phi + b * P, &net, 10 + b);
  isw_rng_normal_fill(&r, v, (size_t)(B * P), 0.0, 1.0);
  task_set t = make_tasks(B, K, K, 3);
  CU_ASSERT_EQUAL(isw_maml_hvp_prepared(h1, ws, v), ISW_EINTERNAL); /* nothing prepared yet */
  CU_ASSERT_EQUAL_FATAL(isw_maml_hvp_prepare(g1, NULL, ws, phi, 0, t.xs, t.ys, B, K), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(NULL, g2, ws, phi, 0, t.xs, t.ys, B, K), 0);
  for (int rep = 0; rep < 2; ++rep) /* repeated products from one preparation */
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp_prepared(h1, ws, v), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_hvp(h2, NULL, ws, phi, 0, v, t.xs, t.ys, B, K), 0);
  CU_ASSERT(isw_test_rel_diff(h1, h2, B * P, 1e-12) <= 1e-13); /* prepared HVP equals isw_maml_hvp */
  CU_ASSERT(isw_test_rel_diff(g1, g2, B * P, 1e-12) <= 1e-13); /* and its gradient the gradient */
  free_tasks(&t);
  free(phi), free(v), free(h1), free(h2), free(g1), free(g2);
  isw_maml_ws_destroy(&ws);
}

/* ---- the meta-gradient against the explicit solve ----------------------------- */

static void test_cg_matches_explicit_solve(void) {
  const int W = 4, B = 3, K = 5, Q = 6;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_TANH);
  int P = (int)net.P;
  double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
  double *phi = malloc(sizeof(double) * B * P), *x = malloc(sizeof(double) * P);
  double *ref = calloc(P, sizeof(double));
  init_theta(theta, &net, 7);
  task_set t = make_tasks(B, K, Q, 7);
  isw_imaml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_ws_create(&ws, &net, 2, K, Q), 0); /* B = 3 in sub-batches of 2 */
  const double cases[][3] = {{8.0, 0.0, 3}, {3.0, 1.0, 5}, {10.0, 0.0, 0}}; /* λ, δ, N: positive definite */
  for (int c = 0; c < 3; ++c) {
    isw_imaml_opts o = {(int)cases[c][2], 0.05, cases[c][0], 4 * P, cases[c][1]};
    isw_imaml_stats st;
    CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad(g, &st, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, &o), 0);
    CU_ASSERT_EQUAL_FATAL(isw_imaml_inner(phi, ws, theta, t.xs, t.ys, 2, K, o.N, o.alpha, o.lambda), 0);
    CU_ASSERT_EQUAL_FATAL(isw_imaml_inner(phi + 2 * P, ws, theta, t.xs + 2 * K, t.ys + 2 * K, 1, K, o.N, o.alpha, o.lambda), 0);
    memset(ref, 0, sizeof(double) * P);
    double asym_max = 0.0, emin = INFINITY;
    for (int b = 0; b < B; ++b) {
      double asym, e;
      exact_solution(x, &asym, &e, &net, phi + b * P, &t, b, K, Q, o.lambda, o.damping);
      asym_max = fmax(asym_max, asym);
      emin = fmin(emin, e);
      for (int q = 0; q < P; ++q) ref[q] += x[q] / B;
    }
    double rel = isw_test_rel_diff(g, ref, P, 1e-12);
    printf("\n  lambda %.1f delta %.1f N %d (P = %d, %d CG steps): CG vs explicit solve rel %.2e; "
           "H asymmetry %.1e, min eig(H) %.3f, CG residual %.1e, breakdowns %.2f",
           o.lambda, o.damping, o.N, P, o.cg_steps, rel, asym_max, emin, st.cg_rel_residual, st.cg_breakdown);
    CU_ASSERT(asym_max <= 1e-12);                      /* the HVP is a symmetric operator */
    CU_ASSERT_FATAL(emin > -o.lambda * (1 + o.damping)); /* the system is positive definite here */
    CU_ASSERT(st.cg_breakdown == 0.0);
    CU_ASSERT(rel <= 1e-8); /* CG reaches the exact ((1 + δ) I + H/λ)⁻¹ g */
  }
  printf("\n");
  /* the plain-loop reference path gives the same meta-gradient */
  isw_imaml_opts o = {3, 0.05, 2.0, 5, 0.1};
  isw_imaml_stats st;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad(g, &st, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, &o), 0);
  isw_imaml_ws_set_reference(ws, 1);
  CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad(x, &st, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, &o), 0);
  CU_ASSERT(isw_test_rel_diff(g, x, P, 1e-12) <= 1e-11);
  free_tasks(&t);
  free(theta), free(g), free(phi), free(x), free(ref);
  isw_imaml_ws_destroy(&ws);
}

/* ---- against finite differences at the exact inner minimizer ---------------- */

/* L_q(φ*(θ)) of one task, φ* by `steps` proximal GD steps (converged) */
static double query_at_minimizer(isw_imaml_ws *ws, isw_maml_ws *mws, const double *theta,
                                 const task_set *t, int K, int Q, int steps, double alpha,
                                 double lambda, double *phi, double *gnorm) {
  double l;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_inner(phi, ws, theta, t->xs, t->ys, 1, K, steps, alpha, lambda), 0);
  int64_t P = isw_maml_ws_params(mws);
  double *g = malloc(sizeof(double) * P), s = 0.0;
  isw_maml_loss_grad(NULL, g, mws, phi, 0, t->xs, t->ys, 1, K);
  for (int64_t q = 0; q < P; ++q) g[q] += lambda * (phi[q] - theta[q]), s += g[q] * g[q];
  *gnorm = sqrt(s);
  free(g);
  CU_ASSERT_EQUAL_FATAL(isw_maml_loss_grad(&l, NULL, mws, phi, 0, t->xq, t->yq, 1, Q), 0);
  return l;
}

static void test_meta_grad_matches_fd_at_minimizer(void) {
  const int W = 4, K = 6, Q = 7, steps = 3000;
  const double alpha = 0.05, lambda = 4.0;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_TANH);
  int P = (int)net.P;
  isw_imaml_ws *ws = NULL;
  isw_maml_ws *mws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_ws_create(&ws, &net, 1, K, Q), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&mws, &net, 1, K, Q, 0), 0);
  double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
  double *fd = malloc(sizeof(double) * P), *tp = malloc(sizeof(double) * P), *phi = malloc(sizeof(double) * P);
  init_theta(theta, &net, 17);
  task_set t = make_tasks(1, K, Q, 17);
  isw_imaml_opts o = {steps, alpha, lambda, 4 * P, 0.0};
  isw_imaml_stats st;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad(g, &st, ws, theta, t.xs, t.ys, t.xq, t.yq, 1, K, Q, &o), 0);
  const double eps = 1e-5;
  double gworst = 0.0, gn;
  for (int q = 0; q < P; ++q) {
    memcpy(tp, theta, sizeof(double) * P);
    tp[q] += eps;
    double lp = query_at_minimizer(ws, mws, tp, &t, K, Q, steps, alpha, lambda, phi, &gn);
    gworst = fmax(gworst, gn);
    tp[q] -= 2 * eps;
    double lm = query_at_minimizer(ws, mws, tp, &t, K, Q, steps, alpha, lambda, phi, &gn);
    gworst = fmax(gworst, gn);
    fd[q] = (lp - lm) / (2 * eps);
  }
  double rel = isw_test_rel_diff(g, fd, P, 1e-12);
  printf("\n  exact inner minimizer (%d steps, |grad G| <= %.1e): CG meta-gradient vs FD of "
         "L_q(phi*(theta)) rel %.2e (inner grad at phi_N %.1e)\n", steps, gworst, rel, st.inner_grad_norm);
  CU_ASSERT_FATAL(gworst <= 1e-10); /* the inner problem is solved, so FD differentiates phi* */
  CU_ASSERT(rel <= 1e-6);
  free_tasks(&t);
  free(theta), free(g), free(fd), free(tp), free(phi);
  isw_imaml_ws_destroy(&ws);
  isw_maml_ws_destroy(&mws);
}

/* ---- λ → ∞: first-order MAML at N = 0 ----------------------------------------- */

static void test_large_lambda_is_first_order_maml(void) {
  const int W = 6, B = 3, K = 5, Q = 6;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  int P = (int)net.P;
  isw_imaml_ws *ws = NULL;
  isw_maml_ws *mws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_ws_create(&ws, &net, B, K, Q), 0);
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&mws, &net, B, K, Q, 0), 0);
  double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P), *fo = malloc(sizeof(double) * P);
  init_theta(theta, &net, 23);
  task_set t = make_tasks(B, K, Q, 23);
  double l0;
  /* first-order MAML at N = 0: (1/B) Σ_b ∇L_q,b(θ) */
  CU_ASSERT_EQUAL_FATAL(isw_maml_meta_grad(fo, &l0, mws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, 0, 0.0, 1), 0);
  double err[5], lam[5] = {1e1, 1e2, 1e3, 1e4, 1e5};
  printf("\n  iMAML (inner problem solved: 400 steps of alpha = 1/(2 lambda)) vs first-order MAML at N = 0:");
  for (int i = 0; i < 5; ++i) {
    isw_imaml_opts o = {400, 0.5 / lam[i], lam[i], 2 * P, 0.0};
    isw_imaml_stats st;
    CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad(g, &st, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, &o), 0);
    err[i] = isw_test_rel_diff(g, fo, P, 1e-12);
    printf("\n    lambda %.0e: rel diff %.3e%s", lam[i], err[i],
           i ? "" : "");
    if (i) printf(" (ratio to previous %.2f, log-log slope %.3f)", err[i - 1] / err[i], log10(err[i] / err[i - 1]));
  }
  printf("\n");
  for (int i = 1; i < 5; ++i) CU_ASSERT(err[i - 1] / err[i] > 8 && err[i - 1] / err[i] < 12); /* O(1/λ) */
  CU_ASSERT(err[4] < 1e-3);
  free_tasks(&t);
  free(theta), free(g), free(fo);
  isw_imaml_ws_destroy(&ws);
  isw_maml_ws_destroy(&mws);
}

/* ---- evaluation ------------------------------------------------------------------ */

static void test_prox_evaluation(void) {
  enum { W = 8, T = 4, K = 5, Q = 9, R = 4 };
  const int64_t rec[R] = {0, 1, 3, 7};
  const double alpha = 0.05;
  isw_maml_net net;
  isw_maml_net_init(&net, W, ISW_MAML_RELU);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&ws, &net, 1, K, Q, 0), 0);
  double *theta = malloc(sizeof(double) * P), *phi = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
  init_theta(theta, &net, 31);
  task_set t = make_tasks(T, K, Q, 31);
  double qa[T * R], sa[T * R], la[T], qb[T * R], sb[T * R], lb[T], q1[T], s1[T], l1[T];
  int64_t sta[T], stb[T], st1[T];
  /* λ_test = 0: the proximal loop equals maml's evaluation */
  CU_ASSERT_EQUAL_FATAL(isw_imaml_evaluate(qa, sa, la, sta, ws, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, 0.0, 1e-2, 30), 0);
  CU_ASSERT_EQUAL_FATAL(isw_imaml_evaluate_prox(qb, sb, lb, stb, ws, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, 0.0, 1e-2, 30), 0);
  double r0 = isw_test_rel_diff(qa, qb, T * R, 1e-12), r1 = isw_test_rel_diff(la, lb, T, 1e-12);
  printf("\n  lambda_test 0: proximal loop vs maml evaluation: curves %.1e, limit %.1e", r0, r1);
  CU_ASSERT(r0 <= 1e-12 && r1 <= 1e-12 && isw_test_rel_diff(sa, sb, T * R, 1e-12) <= 1e-12);
  for (int b = 0; b < T; ++b) CU_ASSERT_EQUAL(sta[b], stb[b]);
  /* λ_test > 0 against a plain loop of proximal steps; one pass vs one n at a time */
  const double lt = 1.5;
  CU_ASSERT_EQUAL_FATAL(isw_imaml_evaluate(qa, sa, la, sta, ws, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec, R, alpha, lt, 0.0, 7), 0);
  int separate_equal = 1;
  for (int j = 0; j < R; ++j) {
    CU_ASSERT_EQUAL_FATAL(isw_imaml_evaluate(q1, s1, l1, st1, ws, theta, t.xs, t.ys, t.xq, t.yq, T, K, Q, rec + j, 1, alpha, lt, 0.0, 0), 0);
    for (int b = 0; b < T; ++b) separate_equal &= q1[b] == qa[b * R + j] && s1[b] == sa[b * R + j];
  }
  CU_ASSERT(separate_equal); /* the one-pass curve is bitwise the separate evaluations */
  double worst = 0.0;
  for (int b = 0; b < T; ++b) {
    CU_ASSERT_EQUAL(sta[b], -1); /* tol 0: flagged, the limit is where the steps stopped */
    memcpy(phi, theta, sizeof(double) * P);
    for (int n = 0, j = 0; n <= 7; ++n) {
      double lq, ls;
      isw_maml_loss_grad(&lq, NULL, ws, phi, 0, t.xq + b * Q, t.yq + b * Q, 1, Q);
      isw_maml_loss_grad(&ls, g, ws, phi, 0, t.xs + b * K, t.ys + b * K, 1, K);
      if (rec[j] == n) {
        worst = fmax(worst, fabs(lq - qa[b * R + j]) / lq);
        worst = fmax(worst, fabs(ls - sa[b * R + j]) / ls);
        ++j;
      }
      if (n == 7) worst = fmax(worst, fabs(lq - la[b]) / lq);
      for (int64_t q = 0; q < P; ++q) phi[q] -= alpha * (g[q] + lt * (phi[q] - theta[q]));
    }
  }
  printf("; lambda_test %.1f vs a step loop: %.1e\n", lt, worst);
  CU_ASSERT(worst <= 1e-12);
  free_tasks(&t);
  free(theta), free(phi), free(g);
  isw_maml_ws_destroy(&ws);
}

/* ---- the family ----------------------------------------------------------------- */

static void make_config(isw_config *c, const isw_task *task, int64_t width, int64_t N,
                        const int64_t *ti, int nt, const char *const *kv) {
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

static void result_alloc(isw_result *res, const isw_task *task, int nt) {
  memset(res, 0, sizeof *res);
  res->scalars = malloc(sizeof(double) * task->n_scalars);
  res->curves = malloc(sizeof(double) * task->n_curves * nt);
  for (int i = 0; i < task->n_scalars; ++i) res->scalars[i] = NAN;
  for (int i = 0; i < task->n_curves * nt; ++i) res->curves[i] = NAN;
}

static void result_free(isw_result *res) { free(res->scalars), free(res->curves); }

static double scalar(const isw_result *res, const char *name) {
  int k = isw_task_scalar_index(&isw_task_imaml, name);
  CU_ASSERT_FATAL(k >= 0);
  return res->scalars[k];
}

/* The identity formula against the spec's, for defaults and for changed values.
 * spec.c's config id names every parameter, precision included; the streams'
 * identity leaves precision out (both precisions draw the same θ₀ and tasks),
 * so it is the id spec.c gave the maml config of this text before maml had a
 * precision parameter: ID_BEFORE_PRECISION, printed by b659671's spec.c.  The
 * data identity is spec.c's (precision does not shape data). */
#define ID_BEFORE_PRECISION UINT64_C(0x5e3ffe82c46f005c)
static void test_identity_matches_spec(void) {
  static const char *text =
      "[sweep]\ntasks = maml, imaml\nseeds = 3\ntrain_iters = 4\ntest_iters = 0:2\nseed = 99\n"
      "[maml]\nwidths = 12\nmeta_lr = 0.003\nactivation = tanh\ntask_pool = 7\nk_shot = 6\n"
      "precision = float64,float32\n"
      "[imaml]\nwidths = 12\nmeta_lr = 0.003\nactivation = tanh\ntask_pool = 7\nk_shot = 6\n"
      "lambda = 0.5,2\ncg_steps = 3\nprecision = float64,float32\n";
  isw_spec *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_spec_parse(&s, "identity", text, NULL, 0), 0);
  CU_ASSERT_EQUAL_FATAL(s->groups[0].n_configs, 2);
  const isw_config *m = &s->groups[0].configs[0];
  CU_ASSERT_NOT_EQUAL(m->id, s->groups[0].configs[1].id); /* the spec tells the precisions apart */
  for (int g = 0; g < 2; ++g)
    for (int i = 0; i < s->groups[g].n_configs; ++i) {
      uint64_t id, did;
      isw_maml_identity(&id, &did, &s->groups[g].configs[i]);
      /* every maml and imaml config of either precision keys θ₀ and meta-batches alike */
      CU_ASSERT_EQUAL(id, ID_BEFORE_PRECISION);
      CU_ASSERT_EQUAL(did, m->data_id); /* ... and its evaluation tasks */
    }
  isw_spec_destroy(&s);
}

/* imaml before any meta-step is maml before any meta-step: the same θ₀ and
 * tasks, and (λ_test = 0) maml's evaluation: the curves are bitwise equal. */
static void test_same_tasks_as_maml(void) {
  static const char *const kv[] = {"meta_steps=0", "test_tasks=7", "train_eval_tasks=5", "query_eval=15",
                                   "limit_max_steps=20", NULL};
  const int64_t ti[] = {0, 1, 3};
  isw_config cm, ci;
  make_config(&cm, &isw_task_maml, 10, 3, ti, 3, kv);
  make_config(&ci, &isw_task_imaml, 10, 3, ti, 3, kv);
  uint64_t id, did;
  isw_maml_identity(&id, &did, &ci);
  cm.id = id, cm.data_id = did; /* what the spec gives the maml twin */
  isw_result rm, ri;
  result_alloc(&rm, &isw_task_maml, 3);
  result_alloc(&ri, &isw_task_imaml, 3);
  CU_ASSERT_EQUAL_FATAL(isw_task_maml.run(&rm, &cm, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(isw_task_imaml.run(&ri, &ci, MPI_COMM_SELF), 0);
  CU_ASSERT(memcmp(rm.curves, ri.curves, sizeof(double) * 6 * 3) == 0);
  printf("\n  meta_steps 0: maml test_loss %.6f %.6f %.6f, imaml %.6f %.6f %.6f\n", rm.curves[3],
         rm.curves[4], rm.curves[5], ri.curves[3], ri.curves[4], ri.curves[5]);
  result_free(&rm);
  result_free(&ri);
}

static void test_run_end_to_end_and_deterministic(void) {
  static const char *const kv[] = {"meta_steps=40", "meta_batch=7", "test_tasks=9", "train_eval_tasks=6",
                                   "query_eval=20", "limit_max_steps=40", "lambda=1", "cg_steps=4",
                                   "cg_damping=0.5", NULL};
  const int64_t ti_a[] = {0, 1, 2, 3, 4, 8}, ti_b[] = {0, 2, 8};
  isw_config ca, cb;
  make_config(&ca, &isw_task_imaml, 10, 3, ti_a, 6, kv);
  make_config(&cb, &isw_task_imaml, 10, 3, ti_b, 3, kv);
  CU_ASSERT_EQUAL(isw_task_imaml.validate(&ca), 0);
  CU_ASSERT(isw_task_imaml.cost(&ca) > 0);
  isw_result ra, rb, rb2;
  result_alloc(&ra, &isw_task_imaml, 6);
  result_alloc(&rb, &isw_task_imaml, 3);
  result_alloc(&rb2, &isw_task_imaml, 3);
  CU_ASSERT_EQUAL_FATAL(isw_task_imaml.run(&ra, &ca, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(isw_task_imaml.run(&rb, &cb, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(isw_task_imaml.run(&rb2, &cb, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL(ra.status, ISW_ST_OK);
  CU_ASSERT_EQUAL(ra.n_params, 141);
  CU_ASSERT(isw_test_close(ra.rho, 141.0 / (40.0 * 7 * 10), 1e-14, 0)); /* P / (S B K) */
  for (int i = 0; i < isw_task_imaml.n_curves * 6; ++i) CU_ASSERT(isfinite(ra.curves[i]));
  /* test_iters {0, 2, 8} are the same numbers as those columns of {0..4, 8}, and n = N is recorded */
  int k = isw_task_curve_index(&isw_task_imaml, "test_loss");
  CU_ASSERT_EQUAL(rb.curves[k * 3 + 1], ra.curves[k * 6 + 2]);
  CU_ASSERT_EQUAL(rb.curves[k * 3 + 2], ra.curves[k * 6 + 5]);
  CU_ASSERT_EQUAL(scalar(&rb, "test_loss_at_N"), ra.curves[k * 6 + 3]);
  CU_ASSERT(memcmp(rb.curves, rb2.curves, sizeof(double) * isw_task_imaml.n_curves * 3) == 0);
  CU_ASSERT(memcmp(rb.scalars, rb2.scalars, sizeof(double) * isw_task_imaml.n_scalars) == 0);
  double res = scalar(&ra, "cg_rel_residual_mean"), brk = scalar(&ra, "cg_breakdown_fraction");
  printf("\n  run: test_loss n=0 %.3f n=3 %.3f; CG residual %.2e, breakdowns %.2f, |grad G(phi_N)| %.3f\n",
         ra.curves[k * 6], ra.curves[k * 6 + 3], res, brk, scalar(&ra, "inner_grad_norm_final"));
  CU_ASSERT(isfinite(res) && res >= 0 && brk >= 0 && brk <= 1);
  CU_ASSERT(isnan(scalar(&ra, "diverged_step")));
  /* bad input: an inner step that diverges on the proximal term alone */
  static const char *const bad[] = {"inner_lr=0.5", "lambda=5", NULL};
  isw_config cbad;
  make_config(&cbad, &isw_task_imaml, 10, 3, ti_b, 3, bad);
  CU_ASSERT_EQUAL(isw_task_imaml.validate(&cbad), ISW_EUSAGE);
  result_free(&ra);
  result_free(&rb);
  result_free(&rb2);
}

/* ---- float32 against float64 ---------------------------------------------------- */

#define F32_TOL 1e-4

static void test_float32_matches_float64(void) {
  const int W = 7, B = 5, K = 6, Q = 7;
  double worst = 0.0;
  for (int a = 0; a < 2; ++a) {
    isw_maml_net net;
    isw_maml_net_init(&net, W, a ? ISW_MAML_RELU : ISW_MAML_TANH);
    int P = (int)net.P;
    double *theta = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * B * P);
    double *v = malloc(sizeof(double) * B * P), *phi = malloc(sizeof(double) * B * P);
    float *gs = malloc(sizeof(float) * B * P), *phis = malloc(sizeof(float) * B * P);
    init_theta(theta, &net, 30 + (uint64_t)a);
    isw_rng r;
    isw_rng_init(&r, 6, 6, 6);
    isw_rng_normal_fill(&r, v, (size_t)(B * P), 0.0, 1.0);
    task_set t = make_tasks(B, K, Q, 30 + (uint64_t)a);
    float *th = isw_test_round_f32(theta, P), *vf = isw_test_round_f32(v, (int64_t)B * P);
    float *xs = isw_test_round_f32(t.xs, B * K), *ys = isw_test_round_f32(t.ys, B * K);
    float *xq = isw_test_round_f32(t.xq, B * Q), *yq = isw_test_round_f32(t.yq, B * Q);
    isw_imaml_ws *ws = NULL;
    isw_imaml_ws_s *wss = NULL;
    isw_maml_ws *mws = NULL;
    isw_maml_ws_s *mwss = NULL;
    /* sub-batches of 2 (B = 5: 2, 2, 1) */
    CU_ASSERT_EQUAL_FATAL(isw_imaml_ws_create(&ws, &net, 2, K, Q), 0);
    CU_ASSERT_EQUAL_FATAL(isw_imaml_ws_create_s(&wss, &net, 2, K, Q), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create(&mws, &net, B, K, Q, 0), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_ws_create_s(&mwss, &net, B, K, Q, 0), 0);
    /* the inner solution φ_N of two tasks, N = 3 */
    CU_ASSERT_EQUAL_FATAL(isw_imaml_inner(phi, ws, theta, t.xs, t.ys, 2, K, 3, 0.05, 2.0), 0);
    CU_ASSERT_EQUAL_FATAL(isw_imaml_inner_s(phis, wss, th, xs, ys, 2, K, 3, 0.05, 2.0), 0);
    double ei = isw_test_rel_diff_f32(phi, phis, 2 * P);
    /* prepared HVPs at φ = v rounded (any point): float32 against float64's isw_maml_hvp */
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp(g, NULL, mws, v, 0, v, t.xs, t.ys, B, K), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp_prepare_s(NULL, NULL, mwss, vf, 0, xs, ys, B, K), 0);
    CU_ASSERT_EQUAL_FATAL(isw_maml_hvp_prepared_s(gs, mwss, vf), 0);
    double eh = isw_test_rel_diff_f32(g, gs, (int64_t)B * P);
    printf("\n  %s: float32 vs float64: inner phi_N %.2e, prepared HVP %.2e", a ? "relu" : "tanh", ei, eh);
    CU_ASSERT(ei <= F32_TOL);
    CU_ASSERT(eh <= F32_TOL);
    worst = fmax(worst, fmax(ei, eh));
    /* the CG meta-gradient: (λ, δ, N, CG steps) as the default spec (2, 0, 3, 5), the
     * explicit-solve test's (8, 0, 3, 4P), damped (3, 1, 5, 5), and N = 0 */
    const double cases[][4] = {{2.0, 0.0, 3, 5}, {0.5, 0.0, 3, 5}, {8.0, 0.0, 3, 4.0 * P}, {3.0, 1.0, 5, 5}, {10.0, 0.0, 0, 5}};
    for (int c = 0; c < 5; ++c) {
      isw_imaml_opts o = {(int)cases[c][2], 0.05, cases[c][0], (int)cases[c][3], cases[c][1]};
      isw_imaml_stats st, sts;
      CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad(g, &st, ws, theta, t.xs, t.ys, t.xq, t.yq, B, K, Q, &o), 0);
      CU_ASSERT_EQUAL_FATAL(isw_imaml_meta_grad_s(gs, &sts, wss, th, xs, ys, xq, yq, B, K, Q, &o), 0);
      double em = isw_test_rel_diff_f32(g, gs, P), el = fabs(sts.loss - st.loss) / st.loss;
      printf("\n    lambda %.1f delta %.1f N %d cg %d: meta-gradient %.2e, meta-loss %.2e, CG residual "
             "%.1e / %.1e (float64 / float32)", o.lambda, o.damping, o.N, o.cg_steps, em, el,
             st.cg_rel_residual, sts.cg_rel_residual);
      CU_ASSERT(em <= F32_TOL);
      CU_ASSERT(el <= 1e-5);
      CU_ASSERT(sts.cg_breakdown == st.cg_breakdown);
      worst = fmax(worst, em);
    }
    free_tasks(&t);
    free(theta), free(g), free(v), free(phi), free(gs), free(phis), free(th), free(vf);
    free(xs), free(ys), free(xq), free(yq);
    isw_imaml_ws_destroy(&ws);
    isw_imaml_ws_destroy_s(&wss);
    isw_maml_ws_destroy(&mws);
    isw_maml_ws_destroy_s(&mwss);
  }
  printf("\n  worst: %.2e (bound %.0e)\n", worst, F32_TOL);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"prepared HVPs equal maml's HVP", test_prepared_hvp_equals_hvp},
      {"CG meta-gradient equals the explicit solve", test_cg_matches_explicit_solve},
      {"meta-gradient matches FD at the exact inner minimizer", test_meta_grad_matches_fd_at_minimizer},
      {"lambda -> infinity gives first-order MAML at N = 0", test_large_lambda_is_first_order_maml},
      {"float32 inner steps, HVPs and CG meta-gradients match float64", test_float32_matches_float64},
      {"proximal evaluation: maml's at 0, a step loop, one pass", test_prox_evaluation},
      {"stream identities match the spec's", test_identity_matches_spec},
      {"same tasks and init as maml", test_same_tasks_as_maml},
      {"run end to end, deterministic", test_run_end_to_end_and_deterministic},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "imaml", cases);
}
