/* maml.h — the kernels of the `maml` family (SCIENCE.md, task `maml`): the
 * sinusoid tasks, the 1 -> W -> W -> 1 network, batched per-task gradients,
 * Hessian-vector products, the exact second-order meta-gradient and the
 * one-pass evaluation.  src/tasks/maml_net.c owns them; src/tasks/maml.c
 * owns the family (parameter table, columns, cost, run) and must not reach
 * into the network's internals.
 *
 * Network: h1 = s(x W1 + b1), h2 = s(h1 W2ᵀ + b2), yhat = h2 · W3 + b3 with
 * s = relu or tanh.  θ packs, in this order, W1 (W), b1 (W), W2 (W, W)
 * row-major [out][in], b2 (W), W3 (W), b3 (1): P = W² + 4W + 1 values.
 * Loss of one task on M points: the MSE (1/M) Σ_i (yhat_i - y_i)².
 *
 * Shapes: B = tasks processed together, K = support points, Q = query
 * points, M = points of the set at hand (K or Q), W = width, P = parameters,
 * N = inner steps, T = evaluation tasks, R = recorded step counts.
 * Tasks are stacked: inputs (B, M), per-task parameters (B, P).  A `shared`
 * flag says that one θ (P) serves every task (before the first inner step),
 * which lets the layer-2 products run as one (B·M, W) x (W, W) GEMM.
 *
 * Nothing here touches MPI; every function is deterministic given its
 * inputs (the same on any rank, any batch split, BLAS or reference loops to
 * rounding).
 *
 * Precision (nn.h: the LAPACK s/d pattern).  Parameters, task points,
 * activations, gradients and Hessian-vector products are isw_real;
 * maml_net.c and maml.c's training part are built for double as written
 * and for float through maml_net_s.c / maml_s.c (every typed name _s).
 * What stays double in the float build: every loss (the squared errors of
 * a task are summed in double, so the loss (B) outputs are double in both
 * builds), the meta-loss, every gradient norm (the n = infinity proxy's
 * test), Adam's moments (nn.h), the step sizes alpha and the random draws
 * (made in double, then rounded).  In float: the network's arithmetic
 * (forward, backward, R-operator, the sgemm products) and the inner steps.
 *
 * The precision-neutral part (network shape, identities, record steps,
 * statistics over double losses) is declared once; the typed part once per
 * precision (a test may include this header before and after real_s.h). */
#ifndef ISWEEP_MAML_H
#define ISWEEP_MAML_H

#include <stddef.h>
#include <stdint.h>

#include "isweep/rng.h"

struct isw_config;

typedef enum { ISW_MAML_RELU = 0, ISW_MAML_TANH = 1 } isw_maml_act;

typedef struct {
  int W;            /* hidden width */
  isw_maml_act act; /* hidden activation */
  int64_t P;        /* number of parameters, W² + 4W + 1 */
} isw_maml_net;

/* Offsets of the blocks of θ (see the header comment). */
enum { ISW_MAML_W1, ISW_MAML_B1, ISW_MAML_W2, ISW_MAML_B2, ISW_MAML_W3, ISW_MAML_B3 };
size_t isw_maml_offset(const isw_maml_net *net, int block);

void isw_maml_net_init(isw_maml_net *net, int W, isw_maml_act act);

/* The identities the spec gives the maml config whose parameters take the
 * values of c's parameters of the same name (c may belong to another family,
 * e.g. imaml; a maml parameter c's family lacks takes maml's default):
 * *id as the config id, *data_id as the data identity (spec.c's formula,
 * checked against it by test_imaml).  An imaml config keys its streams and
 * its initialisation by these, so it trains from the same θ₀ on the same
 * tasks as that maml config. */
void isw_maml_identity(uint64_t *id, uint64_t *data_id, const struct isw_config *c);

/* Tasks per sub-batch of the family's meta-gradient: run() sizes its
 * workspace for this many tasks and isw_maml_meta_grad takes the meta-batch
 * through in sub-batches.  Measured on the development machine (CPU ms per
 * meta-step, B = 25, K = 10, second order, sub-batch 1 / 5 / 25):
 * w 40 N 1: 0.50 / 0.43 / 0.42; w 40 N 5: 1.71 / 1.75 / 1.87;
 * w 128 N 1: 4.56 / 3.61 / 3.88; w 128 N 5: 16.3 / 16.9 / 19.2;
 * w 256 N 1: 19.6 / 15.0 / 15.9.  Five shares the step at θ across tasks
 * (one GEMM of 5K rows) while the 5 (N + 3) per-task parameter copies stay
 * in cache. */
#define ISW_MAML_SUB_BATCH 5

/* rec (T + 1) <- test_iters (T, ascending) with N inserted in order (once);
 * col[j] = index of test_iters[j] in rec, *jN = index of N.  Returns R,
 * the length of rec.  Shared by maml and imaml's one-pass evaluations. */
int isw_maml_record_steps(int64_t *rec, int *col, int *jN, const int64_t *test_iters, int T, int64_t N);
/* Mean, population std and paired standard error against column jN of
 * column j of loss (T, R) over T tasks. */
void isw_maml_column_stats(double *mean, double *std, double *delta_se, const double *loss /* (T, R) */,
                           int T, int R, int j, int jN);

/* Where one evaluation set's statistics go among a result's curves (n_curves, T) and
 * scalars: maml and imaml lay theirs out alike, each with its own indices.  [0]: the
 * training tasks, [1]: the held-out tasks (which alone have delta_se and support). */
typedef struct {
  int mean[2], std[2], delta_se, support; /* curves */
  int at_n[2], limit[2];                  /* scalars */
} isw_maml_slots;

/* Record set `set` (0 training, 1 held-out) of a one-pass evaluation: per test
 * iteration j the mean and std of qloss (Ts, R) at column col[j] (and for the held-out
 * set the paired standard error against jN and the support-loss mean of sloss), the
 * mean at n = N and the mean limit loss lim (Ts); adds the tasks whose limit was
 * reached (lsteps >= 0) to *reached and their steps to *steps_sum. */
void isw_maml_record_set(double *curves, double *scalars, const isw_maml_slots *slot, int set,
                         const double *qloss, const double *sloss, const double *lim,
                         const int64_t *lsteps, int Ts, int R, const int *col, int T, int jN,
                         int *reached, double *steps_sum);

#endif

/* ---- typed part: once per precision (nn.h) ---- */
#if (defined(ISW_REAL_FLOAT) && !defined(ISWEEP_MAML_H_S)) || (!defined(ISW_REAL_FLOAT) && !defined(ISWEEP_MAML_H_D))
#ifdef ISW_REAL_FLOAT
#define ISWEEP_MAML_H_S
#else
#define ISWEEP_MAML_H_D
#endif
#include "isweep/nn.h"

/* θ (P) <- PyTorch's nn.Linear default: every weight and bias of a layer with
 * fan-in f is U(-1/sqrt(f), 1/sqrt(f)) (f = 1 for layer 1). */
void isw_maml_init_params(isw_real *theta /* (P) */, const isw_maml_net *net, isw_rng *r);

/* Draw B sinusoid tasks y = A sin(x + phi), A ~ U[0.1, 5], phi ~ U[0, pi],
 * x ~ U[-5, 5]: per task A, phi, then its K support x, then its Q query x.
 * Any of xq/yq may be NULL when Q = 0. */
void isw_maml_sample_tasks(isw_real *xs /* (B, K) */, isw_real *ys /* (B, K) */,
                           isw_real *xq /* (B, Q) */, isw_real *yq /* (B, Q) */,
                           int B, int K, int Q, isw_rng *r);

/* The task streams of one config, shared by the maml and imaml families so
 * that the two see the same tasks config for config:
 *   meta-batches           (id, ISW_STREAM_TRAIN): fresh tasks, or pool indices
 *   fixed training tasks   (data_id, ISW_STREAM_DATA): the evaluation set, or
 *                          the task pool (drawn first, by isw_maml_tasks_init)
 *   held-out test tasks    (data_id, ISW_STREAM_TEST_DATA)
 * A pool task has K support and K query points. */
typedef struct {
  int K, pool;         /* support (and training query) points; pool size, 0 = fresh tasks */
  isw_real *pool_data; /* (pool, 4, K): support x, support y, query x, query y; owned */
  isw_rng r_train, r_data, r_test;
} isw_maml_tasks;

/* Seeds the three streams and draws the pool.  Returns ISW_ENOMEM on
 * allocation failure (then isw_maml_tasks_free is still safe). */
int isw_maml_tasks_init(isw_maml_tasks *t, uint64_t sweep_seed, uint64_t id, uint64_t data_id,
                        int K, int pool);
void isw_maml_tasks_free(isw_maml_tasks *t);
/* The next meta-batch of B tasks, K support and K query points each. */
void isw_maml_tasks_meta_batch(isw_maml_tasks *t, isw_real *xs /* (B, K) */, isw_real *ys /* (B, K) */,
                               isw_real *xq /* (B, K) */, isw_real *yq /* (B, K) */, int B);
/* Evaluation set `set` (0: the fixed training tasks, the pool's first T
 * tasks when there is a pool, then Q must be K; 1: held-out tasks). */
void isw_maml_tasks_eval_set(isw_maml_tasks *t, int set, isw_real *xs /* (T, K) */,
                             isw_real *ys /* (T, K) */, isw_real *xq /* (T, Q) */,
                             isw_real *yq /* (T, Q) */, int T, int Q);

/* Scratch for up to B tasks, K support and Q query points, N inner steps
 * (N = 0 is fine for evaluation).  Holds N + 3 per-task parameter slots
 * (B, P) and max(N, 1) + 1 activation caches: about (N + 3)·B·P
 * + 6·(max(N, 1)·K + max(K, Q))·B·W + 7·max(K, Q)·B·W values.
 * Returns ISW_ENOMEM on allocation failure. */
typedef struct isw_maml_ws isw_maml_ws;
int isw_maml_ws_create(isw_maml_ws **out, const isw_maml_net *net, int B, int K, int Q, int N);
void isw_maml_ws_destroy(isw_maml_ws **ws);
/* on = 1: every matrix product runs through the plain-loop reference
 * instead of BLAS (for tests); 0 (the default): BLAS. */
void isw_maml_ws_set_reference(isw_maml_ws *ws, int on);
/* P of the workspace's network. */
int64_t isw_maml_ws_params(const isw_maml_ws *ws);

/* Per-task MSE and gradient on M points: loss (B) and grad (B, P) (zeroed
 * and filled; NULL to skip).  params is (B, P), or (P) when shared.
 * M <= max(K, Q) and B <= the workspace's B. */
int isw_maml_loss_grad(double *loss /* (B) */, isw_real *grad /* (B, P) */, isw_maml_ws *ws,
                       const isw_real *params, int shared, const isw_real *x /* (B, M) */,
                       const isw_real *y /* (B, M) */, int B, int M);

/* Per-task Hessian-vector product of the MSE on M points (Pearlmutter's
 * R-operator, exact; relu's second derivative is taken as 0): hv (B, P) =
 * H_b(params_b) v_b.  Also fills loss (B) when non-NULL. */
int isw_maml_hvp(isw_real *hv /* (B, P) */, double *loss /* (B) or NULL */, isw_maml_ws *ws,
                 const isw_real *params, int shared, const isw_real *v /* (B, P) */,
                 const isw_real *x /* (B, M) */, const isw_real *y /* (B, M) */, int B, int M);

/* Repeated Hessian-vector products at one point (imaml's conjugate
 * gradient): _prepare runs the forward and backward pass of B tasks on M <=
 * K points at params (kept by pointer: it must stay unchanged until the last
 * _prepared call), fills grad (B, P) with the per-task gradients and loss
 * (B) when non-NULL; each _prepared call then costs only the R-operator
 * passes: hv (B, P) = H_b(params_b) v_b, equal to isw_maml_hvp to rounding.
 * isw_maml_loss_grad and isw_maml_hvp leave the preparation in place;
 * isw_maml_meta_grad and isw_maml_evaluate end it (_prepared then fails
 * with ISW_EINTERNAL). */
int isw_maml_hvp_prepare(isw_real *grad /* (B, P) or NULL */, double *loss /* (B) or NULL */,
                         isw_maml_ws *ws, const isw_real *params, int shared,
                         const isw_real *x /* (B, M) */, const isw_real *y /* (B, M) */, int B, int M);
int isw_maml_hvp_prepared(isw_real *hv /* (B, P) */, isw_maml_ws *ws, const isw_real *v /* (B, P) */);

/* The MAML meta-loss of B tasks and its gradient in θ:
 *   phi_0 = θ, phi_{k+1} = phi_k - alpha ∇L_s(phi_k) (k < N),
 *   loss = (1/B) Σ_b L_q,b(phi_N),
 * order 2: grad = (1/B) Σ_b (Π_k (I - alpha H_s,b(phi_k)))ᵀ ∇L_q,b(phi_N), exact;
 * order 1: the first-order approximation (1/B) Σ_b ∇L_q,b(phi_N).
 * K, Q and N must fit the workspace; B may exceed the workspace's B: the
 * tasks then go through in sub-batches of that size (sub-batches of about 5
 * tasks keep the per-task parameter copies in cache and were the fastest
 * measured, see bench_maml).  Non-finite values propagate: the caller tests
 * loss and grad. */
int isw_maml_meta_grad(isw_real *grad /* (P) */, double *loss, isw_maml_ws *ws,
                       const isw_real *theta /* (P) */, const isw_real *xs /* (B, K) */,
                       const isw_real *ys /* (B, K) */, const isw_real *xq /* (B, Q) */,
                       const isw_real *yq /* (B, Q) */, int B, int K, int Q, int N, double alpha,
                       int order);

/* One-pass evaluation of T tasks adapted from θ by plain gradient steps of
 * size alpha on their support MSE, in chunks of the workspace's B tasks
 * (results do not depend on the chunk size beyond rounding).
 * For every rec[j] (ascending, distinct, >= 0): query_loss[t, j] and
 * support_loss[t, j] = MSEs of task t after rec[j] steps.
 * The n = infinity proxy: limit_steps[t] = the first step n at which the
 * support-gradient norm of task t is below tol, and limit_query[t] = its
 * query MSE there; the steps of a chunk go on past rec[R-1] until every task
 * met tol or the step count reaches max(cap, rec[R-1]).  A task that never
 * met it is flagged limit_steps[t] = -1 and limit_query[t] is its query MSE
 * where the steps stopped.  Needs K <= ws K and Q <= max(ws K, ws Q). */
int isw_maml_evaluate(double *query_loss /* (T, R) */, double *support_loss /* (T, R) */,
                      double *limit_query /* (T) */, int64_t *limit_steps /* (T) */,
                      isw_maml_ws *ws, const isw_real *theta /* (P) */,
                      const isw_real *xs /* (T, K) */, const isw_real *ys /* (T, K) */,
                      const isw_real *xq /* (T, Q) */, const isw_real *yq /* (T, Q) */, int T, int K,
                      int Q, const int64_t *rec /* (R) */, int R, double alpha, double tol,
                      int64_t cap);

/* 1 when every x[i] is finite. */
int isw_maml_all_finite(const isw_real *x, int64_t n);

#endif
