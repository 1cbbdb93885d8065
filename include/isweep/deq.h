/* deq.h — the kernels of the `deq` family (SCIENCE.md, task `deq`): the
 * deep equilibrium model, its N-step forward, the unrolled and implicit
 * gradients, and the one-pass evaluation with the n = infinity limit.
 * src/tasks/deq_net.c owns them; src/tasks/deq.c owns the family
 * (parameter table, columns, cost, run) and uses only this contract.
 * The GEMM entry and Adam are shared with the other families (nn.h).
 *
 * Model: z_{k+1} = s(W z_k + U x + b), z_0 = 0, yhat = V z + c, with
 * s in {tanh, relu, identity}.  theta packs, in this order, W (H, H),
 * U (H, D), b (H), V (K, H), c (K), each row-major [out][in]:
 * P = H² + H·D + H + K·H + K doubles.
 * Loss over B rows: MSE (1/(B·K)) Σ (yhat − y)² for regression, mean
 * softmax cross-entropy for classification.
 *
 * Shapes: B = rows of a batch, H = width (dim z), D = inputs, K = outputs,
 * N = iterations, P = parameters, T = recorded iteration counts.
 * States are batch-major: Z (B, H), one sample per row, so one iteration of
 * the whole batch is one GEMM (B, H)·(H, H).
 *
 * Nothing here touches MPI; every function is deterministic given its
 * inputs, with BLAS or with the plain-loop reference kernels (equal to
 * rounding). */
#ifndef ISWEEP_DEQ_H
#define ISWEEP_DEQ_H

#include <stdint.h>

#include "isweep/nn.h"
#include "isweep/rng.h"
#include "isweep/solvers.h"

typedef enum { ISW_DEQ_TANH = 0, ISW_DEQ_RELU = 1, ISW_DEQ_IDENTITY = 2 } isw_deq_act;
/* Gradient modes (the spec's names: unrolled, implicit, jfb, phantom). */
typedef enum { ISW_DEQ_UNROLLED = 0, ISW_DEQ_IMPLICIT = 1, ISW_DEQ_JFB = 2, ISW_DEQ_PHANTOM = 3 } isw_deq_grad;

/* The parameter blocks of theta, in storage order. */
enum { ISW_DEQ_W, ISW_DEQ_U, ISW_DEQ_B, ISW_DEQ_V, ISW_DEQ_C, ISW_DEQ_N_BLOCKS };

typedef struct {
  double state_max;  /* max |z_N| over the batch (NaN if a state is not finite) */
  int64_t bwd_iters; /* implicit: fixed-point iterations used (0 when solved directly) */
  int bwd_converged; /* implicit: 1 when the backward met tol (or was solved directly) */
  double jac;        /* the Jacobian term gamma · (1 / (B H)) Σ ||J_fᵀ eps||² (0 without jac_reg) */
  int64_t fwd_fallbacks, bwd_fallbacks; /* safeguard Picard steps (sample-steps) of this call */
} isw_deq_info;

typedef struct {
  double limit_tol;       /* the limit: iterate until every row's residual < this */
  int64_t limit_max_iter; /* ... or this many iterations (counted from z_0) */
  double rho_w;           /* spectral radius of W: identity's direct limit is flagged when >= 1 */
  isw_solver_opts solver; /* the test solver of the recorded steps; zeroed (beta 0 reads 1): Picard */
  isw_solver_opts limit_solver; /* the limit's solver from the last recorded state; zeroed: Picard */
  int64_t chunk;          /* rows evaluated together (memory bound); 0 = 2048 */
} isw_deq_eval_opts;

typedef struct {
  double *loss;     /* (T) caller-provided: loss at n = iters[j] */
  double *acc;      /* (T) caller-provided or NULL: accuracy (classification) */
  double *res_mean; /* (T) caller-provided or NULL: mean over rows of ||f(z_n) - z_n|| / ||f(z_n)|| */
  double *res_max;  /* (T) caller-provided or NULL: max over rows of the same */
  double limit_loss, limit_acc; /* at n = infinity */
  double limit_residual;        /* max relative residual at the limit state */
  int limit_converged;          /* 1: residual < limit_tol reached (identity: rho_w < 1) */
  int64_t limit_iters;          /* iterations the limit took (0 for identity's direct solve) */
  int64_t first_nonfinite;      /* first n at which a state was non-finite, or -1 */
  int64_t fallbacks;            /* safeguard Picard steps (sample-steps) of the recorded steps */
} isw_deq_eval;

#endif

/* ---- typed part: once per precision (nn.h) ---- */
#if (defined(ISW_REAL_FLOAT) && !defined(ISWEEP_DEQ_H_S)) || (!defined(ISW_REAL_FLOAT) && !defined(ISWEEP_DEQ_H_D))
#ifdef ISW_REAL_FLOAT
#define ISWEEP_DEQ_H_S
#else
#define ISWEEP_DEQ_H_D
#endif
#include "isweep/nn.h"
#include "isweep/solvers.h"

typedef struct {
  int64_t h, d, k;     /* H width, D inputs, K outputs */
  isw_deq_act act;
  int classification;  /* 1: softmax cross-entropy over K classes; 0: MSE */
  int64_t n_params;    /* P */
  isw_real *theta;       /* (P) owned */
  isw_real *W, *U, *b, *V, *c; /* views into theta: (H, H), (H, D), (H), (K, H), (K) */
} isw_deq_model;

int isw_deq_model_create(isw_deq_model **out, int64_t h, int64_t d, int64_t k, isw_deq_act act,
                         int classification);
/* NULL-safe; NULLs the pointer. */
void isw_deq_model_destroy(isw_deq_model **m);
/* Offset and length of block `block` (ISW_DEQ_W ...) inside theta. */
void isw_deq_block(int64_t *offset, int64_t *len, const isw_deq_model *m, int block);
/* W ~ Gaussian rescaled to spectral norm exactly w_scale (singular values by
 * LAPACK), U ~ N(0, 1/D), V ~ N(0, 1/H), b = c = 0; all drawn from r. */
int isw_deq_model_init(isw_deq_model *m, double w_scale, isw_rng *r);

/* *norm <- ||A||_2 (largest singular value, dgesvd) of A (H, H). */
int isw_deq_spectral_norm(double *norm, const isw_real *a /* (H, H) */, int64_t h);
/* *rho <- max |eigenvalue| of A (H, H) (dgeev, eigenvalues only). */
int isw_deq_spectral_radius(double *rho, const isw_real *a /* (H, H) */, int64_t h);

/* ---- kernels (BLAS, or plain loops when ref != 0) ------------------------- */

/* Y (B, M) <- X (B, Q) · Pᵀ (Q, M) + bias (M) on every row. */
void isw_deq_affine(int ref, isw_real *y, const isw_real *x, const isw_real *p, const isw_real *bias,
                    int64_t rows, int64_t m, int64_t q);
/* One iteration, fused: Zout (B, H) <- s(Zin (B, H) · Wᵀ + XU (B, H)); Zin NULL means 0. */
void isw_deq_step(int ref, isw_deq_act act, isw_real *zout, const isw_real *zin, const isw_real *w,
                  const isw_real *xu, int64_t rows, int64_t h);
/* Its backward: dA (B, H) <- G ⊙ s'(·) where S = s(·) is the step's output
 * (B, H); then, when gout != NULL, Gout (B, H) <- beta·Gout + dA · W. */
void isw_deq_step_back(int ref, isw_deq_act act, isw_real *da, isw_real *gout, const isw_real *g,
                       const isw_real *s, const isw_real *w, double beta, int64_t rows, int64_t h);
/* x (n) <- s(x) in place: the activation alone (tanh is a vectorised
 * expm1-based kernel when ref == 0, libm tanh when ref != 0). */
void isw_deq_activate(int ref, isw_deq_act act, isw_real *x, int64_t n);

/* ---- loss and gradient --------------------------------------------------- */

/* How the N-step loss is computed and differentiated.  Zeroed fields keep
 * the plain model: fwd zeroed (beta 0 reads as 1) is plain Picard, adjoint
 * 0 is the fixed-point iteration, jac_reg 0 adds nothing. */
typedef struct {
  double tol;           /* implicit backward: stop when ||u_{t+1} - u_t|| <= tol ||u_{t+1}||
                           (picard; anderson/broyden: every row's ||F(u) - u|| <= tol ||F(u)||) */
  int64_t max_iter;     /* implicit backward: iteration cap (evaluations of the adjoint map) */
  int64_t direct_width; /* implicit backward: H <= this solves (I - J_fᵀ) u = g per row with LAPACK */
  isw_solver_opts fwd;  /* solver of the N forward steps (unrolled: picard only) */
  isw_solver_kind adjoint; /* implicit: solver of u = g + J_fᵀ u (with fwd's m and lambda, beta 1) */
  int64_t phantom_k;    /* phantom: damped steps backpropagated from z_N (jfb: 1) */
  double phantom_damping; /* phantom: lambda of z <- (1 - lambda) z + lambda f(z) (jfb: 1) */
  double jac_reg;       /* gamma: adds gamma · (1 / (B H)) Σ_b ||J_f(z_N,b)ᵀ eps_b||² */
  const isw_real *probe; /* (B, H) the Hutchinson probe eps (needed when jac_reg > 0) */
} isw_deq_bwd_opts;


typedef struct isw_deq_work isw_deq_work;
/* Buffers for batches of up to max_rows rows and up to n_iters
 * backpropagated iterations in `mode`: unrolled keeps the N states,
 * phantom its k (jfb: 1), implicit none (its size does not depend on N).
 * Solvers and the Jacobian term's buffers are made on first use. */
int isw_deq_work_create(isw_deq_work **out, const isw_deq_model *m, int64_t max_rows,
                        int64_t n_iters, isw_deq_grad mode);
void isw_deq_work_destroy(isw_deq_work **ws);
/* Use the plain-loop reference kernels instead of BLAS (tests). */
void isw_deq_work_set_reference(isw_deq_work *ws, int ref);
/* Bytes held by the workspace. */
int64_t isw_deq_work_bytes(const isw_deq_work *ws);

/* *loss <- L on the batch (x (B, D) with y (B, K) or label (B)) at the
 * model's output state; when grad != NULL, grad (P) <- d(L + jac)/dtheta.
 * The N forward steps use bwd->fwd's solver from z_0 = 0, giving z_N.
 *   unrolled: L(z_N), backpropagated exactly through the N (damped Picard)
 *             steps; anderson/broyden forward steps are refused (EINTERNAL).
 *   implicit: L(z_N) with z_N as the fixed point z*: u = dL/dz + J_fᵀ u at
 *             z* (bwd->adjoint solver, or a direct solve when H <=
 *             bwd->direct_width), then dtheta = uᵀ df/dtheta.
 *   phantom:  L(z^(k)) with z^(0) = z_N held constant and k damped steps
 *             z^(i+1) = (1 - lambda) z^(i) + lambda f(z^(i)) backpropagated
 *             (Geng et al. 2021); jfb: k = 1, lambda = 1, i.e. L(f(z_N)) with
 *             the gradient through that one application (Fung et al. 2022).
 * jac_reg > 0 adds info->jac (computed at z_N, with bwd->probe) to the
 * differentiated objective: through z_N too in unrolled and implicit mode,
 * with z_N held constant in phantom and jfb mode.  *loss excludes it.
 * N >= 1.  A non-finite state gives a non-finite loss; that is data.
 * bwd may be NULL (unrolled with plain Picard).  Returns ISW_EINTERNAL when
 * B or the stored steps exceed what ws was made for, ISW_ENOMEM. */
int isw_deq_loss_grad(double *loss, isw_real *grad /* (P) or NULL */, isw_deq_info *info,
                      const isw_deq_model *m, isw_deq_work *ws, const isw_real *x /* (B, D) */,
                      const isw_real *y /* (B, K) or NULL */, const int32_t *label /* (B) or NULL */,
                      int64_t rows, int64_t n_iters, isw_deq_grad mode,
                      const isw_deq_bwd_opts *bwd);

/* ---- evaluation ---------------------------------------------------------- */



/* Evaluate on n rows (x (n, D) with y (n, K) or label (n)) at every
 * n = iters[j] (ascending, >= 0) from ONE pass of max(iters) + 1
 * evaluations of f (the extra one gives f(z_n) for the residual), z_n being
 * the iterate of o->solver after n steps (= n evaluations of f), then the
 * limit: from the last recorded state, o->limit_solver until every row's
 * residual < limit_tol (limit_iters counts f evaluations from z_0).
 * Non-finite values are stored as NaN; the entries before them stay. */
int isw_deq_evaluate(isw_deq_eval *out, const isw_deq_model *m, const isw_real *x /* (n, D) */,
                     const isw_real *y /* (n, K) or NULL */, const int32_t *label /* (n) or NULL */,
                     int64_t n, const int64_t *iters /* (T) */, int t,
                     const isw_deq_eval_opts *o);

#endif
