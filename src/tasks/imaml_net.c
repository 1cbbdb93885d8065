/* imaml_net.c — the imaml family's numerics (contract in imaml.h): the
 * proximal inner steps, the batched conjugate gradient on
 * (1 + δ) I + H / λ, the meta-gradient, and the proximal evaluation loop.
 * Every gradient and Hessian-vector product comes from maml's kernels
 * (maml.h); nothing here knows the network's layout.  Owns no global state,
 * never talks MPI or the results file.
 *
 * Shapes: B = tasks, K = support points, Q = query points, P = parameters,
 * T = evaluation tasks, R = recorded step counts.
 * Typed source (imaml.h says what stays double): built as written for
 * double and by imaml_net_s.c for float. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/imaml.h"

/* CG stops a task once ||r|| <= CG_RTOL ||b||: past that point the
 * recurrence only divides rounding by rounding. */
#ifdef ISW_REAL_FLOAT
#define CG_RTOL 1e-6
#else
#define CG_RTOL 1e-13
#endif

struct isw_imaml_ws {
  isw_maml_net net;
  int B, K, Q;
  isw_maml_ws *mws;  /* gradients and HVPs of up to B tasks */
  isw_real *phi;     /* (B, P) φ_N */
  isw_real *gs;      /* (B, P) ∇L_s(φ_N), then ∇G(φ_N) */
  isw_real *x, *r, *p, *ap; /* (B, P) CG iterate, residual, direction, A p (first: ∇L_q) */
  isw_real *gchunk;  /* (P) one sub-batch's meta-gradient */
  double *rs, *bn;   /* (B) ||r||², ||b|| */
  char *active, *broke; /* (B) CG still running; met non-positive curvature */
};

int isw_imaml_ws_create(isw_imaml_ws **out, const isw_maml_net *net, int B, int K, int Q) {
  int err = 0;
  isw_imaml_ws *ws = NULL;
  *out = NULL;
  ISW_CHECK(B >= 1 && K >= 1 && Q >= 1, ISW_EINTERNAL, "imaml workspace: bad sizes B=%d K=%d Q=%d",
            B, K, Q);
  ISW_ALLOC(ws, 1);
  ws->net = *net;
  ws->B = B;
  ws->K = K;
  ws->Q = Q;
  ISW_CALL(isw_maml_ws_create(&ws->mws, net, B, K, Q, 0));
  size_t n = (size_t)B * net->P;
  ISW_ALLOC(ws->phi, n);
  ISW_ALLOC(ws->gs, n);
  ISW_ALLOC(ws->x, n);
  ISW_ALLOC(ws->r, n);
  ISW_ALLOC(ws->p, n);
  ISW_ALLOC(ws->ap, n);
  ISW_ALLOC(ws->gchunk, net->P);
  ISW_ALLOC(ws->rs, B);
  ISW_ALLOC(ws->bn, B);
  ISW_ALLOC(ws->active, B);
  ISW_ALLOC(ws->broke, B);
  *out = ws;
  ws = NULL;
cleanup:
  isw_imaml_ws_destroy(&ws);
  return err;
}

void isw_imaml_ws_destroy(isw_imaml_ws **ws) {
  if (!ws || !*ws) return;
  isw_imaml_ws *w = *ws;
  isw_maml_ws_destroy(&w->mws);
  free(w->phi), free(w->gs), free(w->x), free(w->r), free(w->p), free(w->ap), free(w->gchunk);
  free(w->rs), free(w->bn), free(w->active), free(w->broke);
  free(w);
  *ws = NULL;
}

void isw_imaml_ws_set_reference(isw_imaml_ws *ws, int on) { isw_maml_ws_set_reference(ws->mws, on); }

/* Σ a_i b_i accumulated in double */
static double dot(const isw_real *a, const isw_real *b, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += (double)a[i] * b[i];
  return s;
}

int isw_imaml_inner(isw_real *phi, isw_imaml_ws *ws, const isw_real *theta, const isw_real *xs,
                    const isw_real *ys, int B, int K, int N, double alpha, double lambda) {
  int err = 0;
  size_t P = (size_t)ws->net.P;
  ISW_CHECK(B >= 1 && B <= ws->B && K <= ws->K && N >= 0, ISW_EINTERNAL,
            "imaml inner: B=%d K=%d N=%d do not fit the workspace", B, K, N);
  isw_real *g = ws->gs;
  for (int b = 0; b < B; ++b) memcpy(phi + b * P, theta, sizeof(isw_real) * P);
  for (int k = 0; k < N; ++k) {
    /* g_b = ∇L_s,b(φ_b); at k = 0 every φ_b is θ: one shared pass */
    ISW_CALL(isw_maml_loss_grad(NULL, g, ws->mws, k == 0 ? theta : phi, k == 0, xs, ys, B, K));
    /* φ_b <- φ_b - α (g_b + λ (φ_b - θ)) */
    for (int b = 0; b < B; ++b) {
      isw_real *pb = phi + b * P;
      const isw_real *gb = g + b * P;
      for (size_t q = 0; q < P; ++q) pb[q] -= alpha * (gb[q] + lambda * (pb[q] - theta[q]));
    }
  }
cleanup:
  return err;
}

/* ((1 + δ) I + H_b / λ) x_b = b_b for B tasks by at most `steps` CG steps
 * from x = 0, H_b at the point of the current isw_maml_hvp_prepare.
 * ws->ap holds b on entry; ws->x the solutions on return; *res_sum and
 * *broke_sum get the sums over tasks of ||r||/||b|| and of breakdowns. */
static int cg_solve(isw_imaml_ws *ws, int B, double lambda, double damping, int steps,
                    double *res_sum, double *broke_sum) {
  int err = 0;
  size_t P = (size_t)ws->net.P;
  const double d1 = 1.0 + damping;
  /* x = 0, r = p = b */
  memset(ws->x, 0, sizeof(isw_real) * B * P);
  memcpy(ws->r, ws->ap, sizeof(isw_real) * B * P);
  memcpy(ws->p, ws->ap, sizeof(isw_real) * B * P);
  for (int b = 0; b < B; ++b) {
    ws->rs[b] = dot(ws->r + b * P, ws->r + b * P, P);
    ws->bn[b] = sqrt(ws->rs[b]);
    ws->active[b] = ws->bn[b] > 0.0;
    ws->broke[b] = 0;
  }
  for (int k = 0; k < steps; ++k) {
    int open = 0;
    for (int b = 0; b < B; ++b) open += ws->active[b];
    if (open == 0) break;
    /* A p = (1 + δ) p + H p / λ, every task at once (finished ones are ignored) */
    ISW_CALL(isw_maml_hvp_prepared(ws->ap, ws->mws, ws->p));
    for (size_t q = 0; q < (size_t)B * P; ++q) ws->ap[q] = d1 * ws->p[q] + ws->ap[q] / lambda;
    for (int b = 0; b < B; ++b) {
      if (!ws->active[b]) continue;
      isw_real *x = ws->x + b * P, *r = ws->r + b * P, *p = ws->p + b * P, *ap = ws->ap + b * P;
      double pap = dot(p, ap, P);
      if (!(pap > 0.0)) { /* not positive definite along p (or non-finite): stop here */
        ws->broke[b] = 1;
        ws->active[b] = 0;
        if (k == 0)
          for (size_t q = 0; q < P; ++q) x[q] = r[q] / d1;
        continue;
      }
      double a = ws->rs[b] / pap;
      for (size_t q = 0; q < P; ++q) x[q] += a * p[q];
      for (size_t q = 0; q < P; ++q) r[q] -= a * ap[q];
      double rsn = dot(r, r, P), beta = rsn / ws->rs[b];
      ws->rs[b] = rsn;
      if (sqrt(rsn) <= CG_RTOL * ws->bn[b]) ws->active[b] = 0;
      for (size_t q = 0; q < P; ++q) p[q] = r[q] + beta * p[q];
    }
  }
  for (int b = 0; b < B; ++b) {
    *res_sum += ws->bn[b] > 0.0 ? sqrt(ws->rs[b]) / ws->bn[b] : 0.0;
    *broke_sum += ws->broke[b];
  }
cleanup:
  return err;
}

/* The meta-gradient of B <= ws->B tasks into grad (P), sums of the
 * per-task statistics into *st (the caller divides). */
static int meta_grad_batch(isw_real *grad, isw_imaml_stats *st, isw_imaml_ws *ws,
                           const isw_real *theta, const isw_real *xs, const isw_real *ys,
                           const isw_real *xq, const isw_real *yq, int B, int K, int Q,
                           const isw_imaml_opts *o) {
  int err = 0;
  size_t P = (size_t)ws->net.P;
  double lq[B > 0 ? B : 1];
  /* φ_N of every task */
  ISW_CALL(isw_imaml_inner(ws->phi, ws, theta, xs, ys, B, K, o->N, o->alpha, o->lambda));
  /* right-hand sides ∇L_q,b(φ_N) into ws->ap, query losses */
  ISW_CALL(isw_maml_loss_grad(lq, ws->ap, ws->mws, ws->phi, 0, xq, yq, B, Q));
  /* the support pass at φ_N that every HVP of the CG reuses; ∇G = ∇L_s + λ (φ_N - θ) */
  ISW_CALL(isw_maml_hvp_prepare(ws->gs, NULL, ws->mws, ws->phi, 0, xs, ys, B, K));
  for (int b = 0; b < B; ++b) {
    isw_real *g = ws->gs + b * P;
    const isw_real *pb = ws->phi + b * P;
    for (size_t q = 0; q < P; ++q) g[q] += o->lambda * (pb[q] - theta[q]);
    st->inner_grad_norm += sqrt(dot(g, g, P));
    st->loss += lq[b];
  }
  ISW_CALL(cg_solve(ws, B, o->lambda, o->damping, o->cg_steps, &st->cg_rel_residual,
                    &st->cg_breakdown));
  /* grad = Σ_b x_b (the caller scales) */
  memset(grad, 0, sizeof(isw_real) * P);
  for (int b = 0; b < B; ++b)
    for (size_t q = 0; q < P; ++q) grad[q] += ws->x[b * P + q];
cleanup:
  return err;
}

int isw_imaml_meta_grad(isw_real *grad, isw_imaml_stats *st, isw_imaml_ws *ws, const isw_real *theta,
                        const isw_real *xs, const isw_real *ys, const isw_real *xq, const isw_real *yq,
                        int B, int K, int Q, const isw_imaml_opts *o) {
  int err = 0;
  size_t P = (size_t)ws->net.P;
  ISW_CHECK(B >= 1 && K >= 1 && K <= ws->K && Q >= 1 && Q <= ws->Q && o->N >= 0 &&
                o->cg_steps >= 1 && o->lambda > 0.0 && o->damping >= 0.0,
            ISW_EINTERNAL, "imaml meta-gradient: K=%d Q=%d N=%d cg_steps=%d lambda=%g damping=%g",
            K, Q, o->N, o->cg_steps, o->lambda, o->damping);
  memset(st, 0, sizeof *st);
  memset(grad, 0, sizeof(isw_real) * P);
  /* sub-batches of ws->B tasks; the sums are divided by B at the end */
  for (int b0 = 0; b0 < B; b0 += ws->B) {
    int bc = B - b0 < ws->B ? B - b0 : ws->B;
    size_t os = (size_t)b0 * K, oq = (size_t)b0 * Q;
    ISW_CALL(meta_grad_batch(ws->gchunk, st, ws, theta, xs + os, ys + os, xq + oq, yq + oq, bc, K,
                             Q, o));
    for (size_t q = 0; q < P; ++q) grad[q] += ws->gchunk[q];
  }
  for (size_t q = 0; q < P; ++q) grad[q] /= B;
  st->loss /= B;
  st->cg_rel_residual /= B;
  st->cg_breakdown /= B;
  st->inner_grad_norm /= B;
cleanup:
  return err;
}

/* ---- evaluation ------------------------------------------------------------- */

int isw_imaml_evaluate_prox(double *query_loss, double *support_loss, double *limit_query,
                            int64_t *limit_steps, isw_maml_ws *ws, const isw_real *theta,
                            const isw_real *xs, const isw_real *ys, const isw_real *xq,
                            const isw_real *yq, int T, int K, int Q, const int64_t *rec, int R,
                            double alpha, double lambda, double tol, int64_t cap) {
  int err = 0;
  isw_real *phi = NULL, *g = NULL;
  ISW_CHECK(T >= 1 && K >= 1 && Q >= 1 && R >= 1, ISW_EINTERNAL,
            "imaml evaluation: T=%d K=%d Q=%d R=%d", T, K, Q, R);
  for (int j = 0; j < R; ++j)
    ISW_CHECK(rec[j] >= 0 && (j == 0 || rec[j] > rec[j - 1]), ISW_EINTERNAL,
              "imaml evaluation: recorded steps must ascend (rec[%d] = %lld)", j, (long long)rec[j]);
  const int64_t P = isw_maml_ws_params(ws);
  ISW_ALLOC(phi, P);
  ISW_ALLOC(g, P);
  int64_t nmax = rec[R - 1], stop = cap > nmax ? cap : nmax;
  for (int t = 0; t < T; ++t) {
    const isw_real *txs = xs + (size_t)t * K, *tys = ys + (size_t)t * K;
    const isw_real *txq = xq + (size_t)t * Q, *tyq = yq + (size_t)t * Q;
    memcpy(phi, theta, sizeof(isw_real) * P);
    int64_t reached = -1;
    int dead = 0, j = 0;
    double lim = NAN;
    for (int64_t n = 0;; ++n) {
      double lq, ls;
      if (j < R && rec[j] == n) {
        ISW_CALL(isw_maml_loss_grad(&lq, NULL, ws, phi, 0, txq, tyq, 1, Q));
        query_loss[(size_t)t * R + j] = lq;
      }
      ISW_CALL(isw_maml_loss_grad(&ls, g, ws, phi, 0, txs, tys, 1, K));
      if (j < R && rec[j] == n) support_loss[(size_t)t * R + j++] = ls;
      /* g = ∇L_s(φ) + λ (φ - θ), the gradient of the proximal objective */
      for (int64_t q = 0; q < P; ++q) g[q] += lambda * (phi[q] - theta[q]);
      if (reached < 0 && !dead) {
        double sq = 0.0;
        for (int64_t q = 0; q < P; ++q) sq += (double)g[q] * g[q];
        if (!isfinite(sq)) {
          dead = 1;
        } else if (sqrt(sq) < tol) {
          reached = n;
          ISW_CALL(isw_maml_loss_grad(&lim, NULL, ws, phi, 0, txq, tyq, 1, Q));
        }
      }
      if (n >= nmax && (reached >= 0 || dead || n >= stop)) break;
      for (int64_t q = 0; q < P; ++q) phi[q] -= alpha * g[q];
    }
    /* not converged: the limit proxy is the point where the steps stopped */
    if (reached < 0) ISW_CALL(isw_maml_loss_grad(&lim, NULL, ws, phi, 0, txq, tyq, 1, Q));
    limit_steps[t] = reached;
    limit_query[t] = lim;
  }
cleanup:
  free(phi);
  free(g);
  return err;
}

int isw_imaml_evaluate(double *query_loss, double *support_loss, double *limit_query,
                       int64_t *limit_steps, isw_maml_ws *ws, const isw_real *theta,
                       const isw_real *xs, const isw_real *ys, const isw_real *xq, const isw_real *yq,
                       int T, int K, int Q, const int64_t *rec, int R, double alpha,
                       double lambda_test, double tol, int64_t cap) {
  if (lambda_test == 0.0)
    return isw_maml_evaluate(query_loss, support_loss, limit_query, limit_steps, ws, theta, xs, ys,
                             xq, yq, T, K, Q, rec, R, alpha, tol, cap);
  return isw_imaml_evaluate_prox(query_loss, support_loss, limit_query, limit_steps, ws, theta, xs,
                                 ys, xq, yq, T, K, Q, rec, R, alpha, lambda_test, tol, cap);
}
