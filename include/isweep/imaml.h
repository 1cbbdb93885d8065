/* imaml.h — the kernels of the `imaml` family (Rajeswaran et al. 2019,
 * implicit MAML) on maml's sinusoid tasks and 1 -> W -> W -> 1 network
 * (maml.h): the proximal inner problem, the implicit meta-gradient by
 * conjugate gradient on maml's Hessian-vector products, and the one-pass
 * evaluation with a proximal term at test.  src/tasks/imaml_net.c owns
 * them; src/tasks/imaml.c owns the family.
 *
 * Per task b with support loss L_s,b and query loss L_q,b, from θ:
 *   inner problem   min_φ G_b(φ) = L_s,b(φ) + (λ/2) ||φ - θ||²,
 *                   approximated by N gradient steps from φ_0 = θ:
 *                   φ_{k+1} = φ_k - α (∇L_s,b(φ_k) + λ (φ_k - θ));
 *   meta-gradient   (1/B) Σ_b x_b with ((1 + δ) I + H_b / λ) x_b = ∇L_q,b(φ_N),
 *                   H_b = ∇²L_s,b(φ_N), x_b from K conjugate-gradient steps
 *                   from x = 0 (δ = 0: the implicit-function-theorem gradient
 *                   of L_q,b(φ*(θ)) at the exact inner minimizer φ*).
 *
 * Shapes: B = tasks, K = support points, Q = query points, P = parameters,
 * T = evaluation tasks, R = recorded step counts.  Nothing here touches MPI;
 * every function is deterministic given its inputs.
 *
 * Precision as maml.h: φ, the CG vectors x, r, p, Ap and every gradient are
 * isw_real (imaml_net.c built twice, names _s in float); in double in both
 * builds: the losses, every dot product and norm of the CG (pᵀAp, ||r||²,
 * ||b||, so α and β), the statistics, and the proximal evaluation's
 * gradient norm.  CG stops a task at ||r|| <= 1e-13 ||b|| in double,
 * 1e-6 ||b|| in float (past that the recurrence only divides rounding). */
#ifndef ISWEEP_IMAML_H
#define ISWEEP_IMAML_H

#include <stdint.h>

#include "isweep/maml.h"

typedef struct {
  int N;          /* inner gradient steps */
  double alpha;   /* inner step size */
  double lambda;  /* proximal weight, > 0 */
  int cg_steps;   /* conjugate-gradient steps, >= 1 */
  double damping; /* δ >= 0 */
} isw_imaml_opts;

/* What one meta-gradient reports, averaged over its B tasks. */
typedef struct {
  double loss;            /* (1/B) Σ_b L_q,b(φ_N,b): the meta-loss */
  double cg_rel_residual; /* mean ||r||/||∇L_q,b|| after CG (its recurrence residual) */
  double cg_breakdown;    /* fraction of tasks whose CG met pᵀAp <= 0 (A not positive
                             definite along p: CG stopped there; at its first step x = g/(1+δ)) */
  double inner_grad_norm; /* mean ||∇G_b(φ_N)||: how far N steps are from the inner minimizer */
} isw_imaml_stats;

#endif

/* ---- typed part: once per precision (nn.h) ---- */
#if (defined(ISW_REAL_FLOAT) && !defined(ISWEEP_IMAML_H_S)) || (!defined(ISW_REAL_FLOAT) && !defined(ISWEEP_IMAML_H_D))
#ifdef ISW_REAL_FLOAT
#define ISWEEP_IMAML_H_S
#else
#define ISWEEP_IMAML_H_D
#endif
#include "isweep/maml.h"

/* Scratch for up to B tasks of K support and Q query points: a maml
 * workspace (N = 0) plus seven (B, P) vectors.  ISW_ENOMEM on failure. */
typedef struct isw_imaml_ws isw_imaml_ws;
int isw_imaml_ws_create(isw_imaml_ws **out, const isw_maml_net *net, int B, int K, int Q);
/* NULL-safe; NULLs the pointer. */
void isw_imaml_ws_destroy(isw_imaml_ws **ws);
/* 1: every matrix product through the plain-loop reference (tests). */
void isw_imaml_ws_set_reference(isw_imaml_ws *ws, int on);

/* The approximate inner solution: phi (B, P) <- φ_N of each of B <= ws B
 * tasks (N = 0: θ). */
int isw_imaml_inner(isw_real *phi /* (B, P) */, isw_imaml_ws *ws, const isw_real *theta /* (P) */,
                    const isw_real *xs /* (B, K) */, const isw_real *ys /* (B, K) */, int B, int K,
                    int N, double alpha, double lambda);

/* The iMAML meta-gradient grad (P) of B tasks (any B: they go through in
 * sub-batches of the workspace's B, weighted by their share) and its
 * statistics *st.  Non-finite values propagate: the caller tests them. */
int isw_imaml_meta_grad(isw_real *grad /* (P) */, isw_imaml_stats *st, isw_imaml_ws *ws,
                        const isw_real *theta /* (P) */, const isw_real *xs /* (B, K) */,
                        const isw_real *ys /* (B, K) */, const isw_real *xq /* (B, Q) */,
                        const isw_real *yq /* (B, Q) */, int B, int K, int Q,
                        const isw_imaml_opts *o);

/* One-pass evaluation (see isw_maml_evaluate for the outputs and the n =
 * infinity proxy), adapting each task by the proximal steps
 * φ_{n+1} = φ_n - α (∇L_s(φ_n) + λ (φ_n - θ)) with λ = lambda_test; the
 * proxy stops at ||∇L_s + λ (φ - θ)|| < tol.  lambda_test = 0 is plain
 * gradient descent and runs isw_maml_evaluate itself (the maml family's
 * numbers); lambda_test > 0 runs isw_imaml_evaluate_prox.  ws is a maml
 * workspace for at least one task. */
int isw_imaml_evaluate(double *query_loss /* (T, R) */, double *support_loss /* (T, R) */,
                       double *limit_query /* (T) */, int64_t *limit_steps /* (T) */,
                       isw_maml_ws *ws, const isw_real *theta /* (P) */,
                       const isw_real *xs /* (T, K) */, const isw_real *ys /* (T, K) */,
                       const isw_real *xq /* (T, Q) */, const isw_real *yq /* (T, Q) */, int T, int K,
                       int Q, const int64_t *rec /* (R) */, int R, double alpha,
                       double lambda_test, double tol, int64_t cap);
/* The proximal loop itself, one task at a time, for any lambda_test >= 0
 * (at 0 it equals isw_maml_evaluate to rounding; test_imaml checks). */
int isw_imaml_evaluate_prox(double *query_loss, double *support_loss, double *limit_query,
                            int64_t *limit_steps, isw_maml_ws *ws, const isw_real *theta,
                            const isw_real *xs, const isw_real *ys, const isw_real *xq,
                            const isw_real *yq, int T, int K, int Q, const int64_t *rec, int R,
                            double alpha, double lambda_test, double tol, int64_t cap);

#endif
