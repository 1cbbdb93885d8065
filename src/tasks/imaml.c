/* imaml.c — the `imaml` task family: implicit MAML (Rajeswaran et al. 2019)
 * on maml's sinusoid regression.  Owns the parameter table, the result
 * columns, the cost model and run(); the numerics live in imaml_net.c
 * (imaml.h) on top of maml's kernels (maml.h).  Single-rank; a stop request
 * is polled every 64 meta-steps (ISW_EINTERRUPT: the config stays pending).
 *
 * Same tasks as maml, config for config: every parameter imaml shares with
 * maml has maml's name, default and data flag, and the streams (meta-batches,
 * fixed training tasks, held-out tasks) and the initialisation of θ are keyed
 * by isw_maml_identity(c): the identity of the second-order maml config with
 * the same width, train_iters, seed and shared parameters.  So an imaml and
 * a maml config of one spec start from the same θ₀, meet the same
 * meta-batches and are evaluated on the same tasks; λ, lambda_test,
 * cg_steps and cg_damping do not change the tasks.
 *
 * ρ as maml: P / (tasks seen · K).
 *
 * Precision as maml (maml.c): the training and evaluation (isw_imaml_train)
 * is typed source, built for double here and for float by imaml_s.c; the
 * tables, validate and cost are built once and run dispatches on
 * `precision`, which isw_maml_identity leaves out of the streams' keys. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/imaml.h"
#include "isweep/maml.h"
#include "isweep/nn.h"
#include "isweep/rng.h"
#include "isweep/task.h"

enum {
  IP_K_SHOT,
  IP_QUERY_EVAL,
  IP_INNER_LR,
  IP_META_LR,
  IP_META_BATCH,
  IP_META_STEPS,
  IP_ACTIVATION,
  IP_TEST_TASKS,
  IP_TRAIN_EVAL_TASKS,
  IP_TASK_POOL,
  IP_LIMIT_TOL,
  IP_LIMIT_MAX_STEPS,
  IP_LAMBDA,
  IP_LAMBDA_TEST,
  IP_CG_STEPS,
  IP_CG_DAMPING,
  IP_PRECISION,
  IP_N_PARAMS
};
enum { PREC_FLOAT64 = 0, PREC_FLOAT32 = 1 };

#ifndef ISW_REAL_FLOAT /* the tables are built once */

static const isw_param_def ip_params[IP_N_PARAMS] = {
    [IP_K_SHOT] = {"k_shot", ISW_PARAM_INT, "10", 1, 10000, NULL, 1,
                   "K: support and query points of a training task (support points of every task)"},
    [IP_QUERY_EVAL] = {"query_eval", ISW_PARAM_INT, "100", 1, 100000, NULL, 1,
                       "query points of an evaluation task (held-out and fixed training tasks)"},
    [IP_INNER_LR] = {"inner_lr", ISW_PARAM_REAL, "0.01", 0, 1e6, NULL, 0,
                     "alpha: step of the inner gradient descent (training and evaluation)"},
    [IP_META_LR] = {"meta_lr", ISW_PARAM_REAL, "0.001", 0, 10, NULL, 0,
                    "Adam learning rate of the outer loop"},
    [IP_META_BATCH] = {"meta_batch", ISW_PARAM_INT, "25", 1, 100000, NULL, 0,
                       "B: tasks per meta-step"},
    [IP_META_STEPS] = {"meta_steps", ISW_PARAM_INT, "10000", 0, 1e9, NULL, 0,
                       "S: Adam steps of the outer loop"},
    [IP_ACTIVATION] = {"activation", ISW_PARAM_ENUM, "relu", 0, 0, "relu|tanh", 0,
                       "hidden activation of the 1 -> w -> w -> 1 network"},
    [IP_TEST_TASKS] = {"test_tasks", ISW_PARAM_INT, "100", 1, 1e6, NULL, 1,
                       "held-out tasks of the test curves"},
    [IP_TRAIN_EVAL_TASKS] = {"train_eval_tasks", ISW_PARAM_INT, "100", 1, 1e6, NULL, 1,
                             "fixed training-distribution tasks of the train curves (at most task_pool)"},
    [IP_TASK_POOL] = {"task_pool", ISW_PARAM_INT, "0", 0, 1e7, NULL, 1,
                      "0: a fresh task for every meta-batch entry; T > 0: meta-batches drawn from a "
                      "fixed pool of T tasks with K query points, whose first tasks are the train set"},
    [IP_LIMIT_TOL] = {"limit_tol", ISW_PARAM_REAL, "0.001", 0, 1e6, NULL, 0,
                      "n = infinity proxy: adapt until the gradient norm of the test-time inner "
                      "objective (support MSE + lambda_test/2 |phi - theta|^2) is below this"},
    [IP_LIMIT_MAX_STEPS] = {"limit_max_steps", ISW_PARAM_INT, "1000", 0, 1e8, NULL, 0,
                            "cap on the adaptation steps of the n = infinity proxy (unreached: flagged)"},
    [IP_LAMBDA] = {"lambda", ISW_PARAM_REAL, "2", 1e-9, 1e9, NULL, 0,
                   "lambda: weight of the proximal term (lambda/2)|phi - theta|^2 of the inner problem "
                   "in training (inner_lr * lambda < 2)"},
    [IP_LAMBDA_TEST] = {"lambda_test", ISW_PARAM_REAL, "0", 0, 1e9, NULL, 0,
                        "proximal weight of the inner steps at evaluation; 0: plain gradient descent "
                        "on the support MSE (as the study, and as maml evaluates)"},
    [IP_CG_STEPS] = {"cg_steps", ISW_PARAM_INT, "5", 1, 100000, NULL, 0,
                     "conjugate-gradient steps (Hessian-vector products) per task and meta-step"},
    [IP_CG_DAMPING] = {"cg_damping", ISW_PARAM_REAL, "0", 0, 1e6, NULL, 0,
                       "delta: CG solves ((1 + delta) I + H / lambda) x = grad of the query loss"},
    [IP_PRECISION] = {"precision", ISW_PARAM_ENUM, "float64", 0, 0, "float64|float32", 0,
                      "scalar of the network, tasks, CG vectors and kernels (README: what stays "
                      "double); results are stored as float64 either way"},
};
#endif

enum {
  IS_TRAIN_N,
  IS_TEST_N,
  IS_TRAIN_LIMIT,
  IS_TEST_LIMIT,
  IS_LIMIT_REACHED,
  IS_LIMIT_STEPS,
  IS_INITIAL_META,
  IS_FINAL_META,
  IS_DIVERGED_STEP,
  IS_CG_RES_MEAN,
  IS_CG_RES_FINAL,
  IS_CG_BREAKDOWN,
  IS_INNER_GRAD_FINAL,
  IS_N
};
#ifndef ISW_REAL_FLOAT
static const isw_column_def ip_scalars[IS_N] = {
    [IS_TRAIN_N] = {"train_loss_at_N", "mean query MSE of the fixed training tasks after n = train_iters steps", .role = ISW_ROLE_LOSS, .split = "train", .at = "N"},
    [IS_TEST_N] = {"test_loss_at_N", "mean query MSE of the held-out tasks after n = train_iters steps", .role = ISW_ROLE_LOSS, .split = "test", .at = "N"},
    [IS_TRAIN_LIMIT] = {"train_loss_limit", "training tasks' query MSE at the n = infinity proxy (see limit_tol)", .role = ISW_ROLE_LOSS, .split = "train", .at = "limit"},
    [IS_TEST_LIMIT] = {"test_loss_limit", "held-out tasks' query MSE at the n = infinity proxy", .role = ISW_ROLE_LOSS, .split = "test", .at = "limit"},
    [IS_LIMIT_REACHED] = {"limit_reached_fraction",
                          "fraction of evaluation tasks (train and test) that met limit_tol within "
                          "limit_max_steps", .role = ISW_ROLE_VALIDITY, .valid_min = 0.9, .valid_max = 1, .qualifies = "limit"},
    [IS_LIMIT_STEPS] = {"limit_steps_mean", "mean adaptation steps to reach limit_tol, over the tasks that did"},
    [IS_INITIAL_META] = {"initial_meta_loss", "meta-loss (query MSE at phi_N) averaged over the first min(100, S) meta-steps"},
    [IS_FINAL_META] = {"final_meta_loss", "meta-loss averaged over the last min(100, S) meta-steps"},
    [IS_DIVERGED_STEP] = {"diverged_step", "meta-step at which the meta-loss or θ went non-finite (NaN if never)"},
    [IS_CG_RES_MEAN] = {"cg_rel_residual_mean",
                        "relative residual |r|/|b| of the CG solve after cg_steps, mean over every "
                        "task of every meta-step"},
    [IS_CG_RES_FINAL] = {"cg_rel_residual_final", "the same over the last min(100, S) meta-steps"},
    [IS_CG_BREAKDOWN] = {"cg_breakdown_fraction",
                         "fraction of CG solves that met non-positive curvature p'Ap <= 0 (stopped there)"},
    [IS_INNER_GRAD_FINAL] = {"inner_grad_norm_final",
                             "mean |grad of support MSE + lambda/2 |phi - theta|^2| at phi_N over the last "
                             "min(100, S) meta-steps: how far N steps leave the inner minimizer"},
};
#endif

enum { IC_TRAIN, IC_TEST, IC_TRAIN_STD, IC_TEST_STD, IC_TEST_DELTA_SE, IC_TEST_SUPPORT, IC_N };
#ifndef ISW_REAL_FLOAT
static const isw_column_def ip_curves[IC_N] = {
    [IC_TRAIN] = {"train_loss", "mean query MSE of the fixed training tasks after n adaptation steps", .role = ISW_ROLE_LOSS, .split = "train"},
    [IC_TEST] = {"test_loss", "mean query MSE of the held-out tasks after n adaptation steps", .role = ISW_ROLE_LOSS, .split = "test"},
    [IC_TRAIN_STD] = {"train_loss_std", "standard deviation over the training tasks of their query MSE", .role = ISW_ROLE_SPREAD, .split = "train"},
    [IC_TEST_STD] = {"test_loss_std", "standard deviation over the held-out tasks of their query MSE", .role = ISW_ROLE_SPREAD, .split = "test"},
    [IC_TEST_DELTA_SE] = {"test_delta_se",
                          "standard error over held-out tasks of the paired change L_t(n) - L_t(N)", .role = ISW_ROLE_SPREAD, .split = "test"},
    [IC_TEST_SUPPORT] = {"test_support_loss", "mean support MSE of the held-out tasks after n steps (inner fit)"},
};
#endif

/* Where isw_maml_record_set puts an evaluation set's statistics (both builds). */
static const isw_maml_slots ip_slots = {
    .mean = {IC_TRAIN, IC_TEST}, .std = {IC_TRAIN_STD, IC_TEST_STD}, .delta_se = IC_TEST_DELTA_SE,
    .support = IC_TEST_SUPPORT, .at_n = {IS_TRAIN_N, IS_TEST_N}, .limit = {IS_TRAIN_LIMIT, IS_TEST_LIMIT}};

/* Tasks evaluated together: one, as maml (each stops at its own limit). */
#define IMAML_EVAL_CHUNK 1
/* Largest workspace run() may allocate, in bytes (validate refuses beyond). */
#define IMAML_MAX_BYTES (8.0 * 1024 * 1024 * 1024)

typedef struct {
  int W, N, K, Q, B, Tt, Ttr, pool, cg;
  int64_t S, cap;
  double alpha, lr, tol, lambda, lambda_test, damping;
  isw_maml_act act;
} imaml_args;

static void read_args(imaml_args *a, const isw_config *c) {
  a->W = (int)c->width;
  a->N = (int)c->train_iters;
  a->K = (int)c->p[IP_K_SHOT].num;
  a->Q = (int)c->p[IP_QUERY_EVAL].num;
  a->alpha = c->p[IP_INNER_LR].num;
  a->lr = c->p[IP_META_LR].num;
  a->B = (int)c->p[IP_META_BATCH].num;
  a->S = (int64_t)c->p[IP_META_STEPS].num;
  a->act = c->p[IP_ACTIVATION].str && strcmp(c->p[IP_ACTIVATION].str, "tanh") == 0 ? ISW_MAML_TANH
                                                                                  : ISW_MAML_RELU;
  a->Tt = (int)c->p[IP_TEST_TASKS].num;
  a->Ttr = (int)c->p[IP_TRAIN_EVAL_TASKS].num;
  a->pool = (int)c->p[IP_TASK_POOL].num;
  a->tol = c->p[IP_LIMIT_TOL].num;
  a->cap = (int64_t)c->p[IP_LIMIT_MAX_STEPS].num;
  a->lambda = c->p[IP_LAMBDA].num;
  a->lambda_test = c->p[IP_LAMBDA_TEST].num;
  a->cg = (int)c->p[IP_CG_STEPS].num;
  a->damping = c->p[IP_CG_DAMPING].num;
  if (a->pool > 0 && a->Ttr > a->pool) a->Ttr = a->pool;
}

#ifndef ISW_REAL_FLOAT /* validate and cost: built once */
/* Doubles of the larger of the two workspaces run() holds (float32: half the bytes). */
static double workspace_doubles(const imaml_args *a) {
  double W = a->W, P = W * W + 4 * W + 1, K = a->K, me = a->K > a->Q ? a->K : a->Q;
  double Bt = a->B < ISW_MAML_SUB_BATCH ? a->B : ISW_MAML_SUB_BATCH, Be = IMAML_EVAL_CHUNK;
  double train = (3 + 6) * Bt * P + (6 * (K + K) + 7 * K) * Bt * W;
  double eval = (3 + 2) * Be * P + (6 * (K + me) + 7 * me) * Be * W;
  return train > eval ? train : eval;
}

static int imaml_validate(const isw_config *c) {
  int err = 0;
  imaml_args a;
  read_args(&a, c);
  ISW_CHECK(a.W >= 1 && a.W <= 16384, ISW_EUSAGE,
            "imaml: width %d is out of range (use 1..16384 hidden units)", a.W);
  ISW_CHECK(a.N >= 0 && a.N <= 100000, ISW_EUSAGE,
            "imaml: train_iters %d is out of range (use 0..100000 inner steps)", a.N);
  ISW_CHECK(a.alpha * a.lambda < 2.0, ISW_EUSAGE,
            "imaml: inner_lr * lambda = %g makes the inner steps diverge on the proximal term "
            "(use inner_lr * lambda < 2)", a.alpha * a.lambda);
  ISW_CHECK(a.alpha * a.lambda_test < 2.0, ISW_EUSAGE,
            "imaml: inner_lr * lambda_test = %g makes the test-time steps diverge "
            "(use inner_lr * lambda_test < 2)", a.alpha * a.lambda_test);
  double bytes = 8.0 * workspace_doubles(&a);
  ISW_CHECK(bytes <= IMAML_MAX_BYTES, ISW_EUSAGE,
            "imaml: width %d needs %.1f GiB of workspace (reduce width; at most 8 GiB)", a.W,
            bytes / (1024.0 * 1024 * 1024));
cleanup:
  return err;
}

static double imaml_cost(const isw_config *c) {
  imaml_args a;
  read_args(&a, c);
  double W = a.W, K = a.K, Q = a.Q, N = a.N, P = W * W + 4 * W + 1;
  double u = 2.0 * K * W * W; /* one layer-2 product on one task's support points */
  double ew = 30.0 * K * W;   /* elementwise work of one pass over one task's support points */
  /* per task and meta-step: N inner passes (3 products), the query and the
   * prepared support pass (3 each), cg_steps R-operator passes (6 each) */
  double prods = 3 * N + 6 + 6.0 * a.cg;
  double step = a.B * (prods * u + (2 * N + 2 + 2.0 * a.cg) * ew + (N + 8.0 * a.cg) * P) + 12 * P;
  double nmax = N;
  if (c->n_test > 0 && (double)c->test_iters[c->n_test - 1] > nmax)
    nmax = (double)c->test_iters[c->n_test - 1];
  double steps = nmax > (double)a.cap ? nmax : (double)a.cap;
  double nrec = c->n_test + 2, tasks = (double)a.Tt + a.Ttr;
  double eval = tasks * (steps * (3 * u + 2 * ew + 3 * P) + nrec * 2 * Q * W * W);
  return (double)a.S * step + eval;
}
#endif


enum { RECENT = 100 }; /* meta-steps of the initial / final averages */

/* Train and evaluate one config in the build's precision (isw_imaml_train
 * for float64, isw_imaml_train_s for float32): the family's run. */
int isw_imaml_train(isw_result *res, const isw_config *c, MPI_Comm team);
int isw_imaml_train(isw_result *res, const isw_config *c, MPI_Comm team) {
  (void)team;
  int err = 0;
  imaml_args a;
  read_args(&a, c);
  isw_maml_net net;
  isw_maml_net_init(&net, a.W, a.act);
  int64_t P = net.P;
  isw_imaml_ws *iws = NULL;
  isw_maml_ws *ws = NULL;
  isw_nn_adam *adam = NULL;
  isw_maml_tasks tasks = {0};
  isw_real *theta = NULL, *grad = NULL, *xs = NULL, *ys = NULL, *xq = NULL, *yq = NULL;
  isw_real *t_xs = NULL, *t_ys = NULL, *t_xq = NULL, *t_yq = NULL;
  double *recent = NULL, *recent_res = NULL, *recent_inner = NULL, *qloss = NULL, *sloss = NULL,
         *lim = NULL;
  int64_t *rec = NULL, *lsteps = NULL;
  int *col = NULL;
  uint64_t sid, sdata;
  isw_maml_identity(&sid, &sdata, c); /* maml's streams: the same tasks and θ₀ */
  isw_rng r_init;
  isw_rng_init(&r_init, c->sweep_seed, sid, ISW_STREAM_INIT);

  res->status = ISW_ST_OK;
  res->n_params = P;
  double tasks_seen = a.pool > 0 ? (double)a.pool : (double)a.S * a.B;
  res->rho = tasks_seen > 0 ? (double)P / (tasks_seen * a.K) : INFINITY;

  /* ---- meta-training ---- */
  double t0 = MPI_Wtime();
  ISW_ALLOC(theta, P);
  ISW_ALLOC(grad, P);
  ISW_CALL(isw_nn_adam_create(&adam, P, a.lr));
  ISW_ALLOC(xs, (size_t)a.B * a.K);
  ISW_ALLOC(ys, (size_t)a.B * a.K);
  ISW_ALLOC(xq, (size_t)a.B * a.K);
  ISW_ALLOC(yq, (size_t)a.B * a.K);
  ISW_ALLOC(recent, RECENT);
  ISW_ALLOC(recent_res, RECENT);
  ISW_ALLOC(recent_inner, RECENT);
  isw_maml_init_params(theta, &net, &r_init);
  ISW_CALL(isw_maml_tasks_init(&tasks, c->sweep_seed, sid, sdata, a.K, a.pool));
  ISW_CALL(isw_imaml_ws_create(&iws, &net, a.B < ISW_MAML_SUB_BATCH ? a.B : ISW_MAML_SUB_BATCH,
                               a.K, a.K));
  const isw_imaml_opts opts = {a.N, a.alpha, a.lambda, a.cg, a.damping};
  double first_sum = 0.0, res_sum = 0.0, broke_sum = 0.0;
  int64_t n_first = a.S < RECENT ? a.S : RECENT, done = 0;
  for (int64_t s = 0; s < a.S; ++s) {
    ISW_CHECK(s % 64 != 0 || !isw_stop_requested(), ISW_EINTERRUPT,
              "imaml: stopped by a signal at meta-step %lld", (long long)s);
    isw_maml_tasks_meta_batch(&tasks, xs, ys, xq, yq, a.B);
    isw_imaml_stats st;
    ISW_CALL(isw_imaml_meta_grad(grad, &st, iws, theta, xs, ys, xq, yq, a.B, a.K, a.K, &opts));
    if (!isfinite(st.loss) || !isw_maml_all_finite(grad, P)) {
      res->status = ISW_ST_DIVERGED;
      snprintf(res->message, ISW_MESSAGE_LEN, "non-finite meta-%s at meta-step %lld",
               isfinite(st.loss) ? "gradient" : "loss", (long long)s);
      res->scalars[IS_DIVERGED_STEP] = (double)s;
      break;
    }
    isw_nn_adam_step(adam, theta, grad);
    if (!isw_maml_all_finite(theta, P)) {
      res->status = ISW_ST_DIVERGED;
      snprintf(res->message, ISW_MESSAGE_LEN, "non-finite parameters after meta-step %lld",
               (long long)s);
      res->scalars[IS_DIVERGED_STEP] = (double)s;
      break;
    }
    if (s < n_first) first_sum += st.loss;
    recent[s % RECENT] = st.loss;
    recent_res[s % RECENT] = st.cg_rel_residual;
    recent_inner[s % RECENT] = st.inner_grad_norm;
    res_sum += st.cg_rel_residual;
    broke_sum += st.cg_breakdown;
    ++done;
  }
  isw_imaml_ws_destroy(&iws);
  res->train_seconds = MPI_Wtime() - t0;
  if (done > 0) {
    res->scalars[IS_CG_RES_MEAN] = res_sum / done;
    res->scalars[IS_CG_BREAKDOWN] = broke_sum / done;
  }
  if (res->status != ISW_ST_OK) goto cleanup;
  if (a.S > 0) {
    double sum = 0.0, sr = 0.0, si = 0.0;
    for (int64_t i = 0; i < n_first; ++i) sum += recent[i], sr += recent_res[i], si += recent_inner[i];
    res->scalars[IS_INITIAL_META] = first_sum / n_first;
    res->scalars[IS_FINAL_META] = sum / n_first;
    res->scalars[IS_CG_RES_FINAL] = sr / n_first;
    res->scalars[IS_INNER_GRAD_FINAL] = si / n_first;
  }

  /* ---- evaluation: one pass of max(n) steps per task set ---- */
  t0 = MPI_Wtime();
  int T = c->n_test, R = 0, jN = -1;
  ISW_ALLOC(rec, T + 1);
  ISW_ALLOC(col, T);
  R = isw_maml_record_steps(rec, col, &jN, c->test_iters, T, a.N);
  int Qt = a.pool > 0 ? a.K : a.Q; /* query points of the training tasks */
  int Tmax = a.Tt > a.Ttr ? a.Tt : a.Ttr, Qmax = a.Q > Qt ? a.Q : Qt;
  ISW_ALLOC(t_xs, (size_t)Tmax * a.K);
  ISW_ALLOC(t_ys, (size_t)Tmax * a.K);
  ISW_ALLOC(t_xq, (size_t)Tmax * Qmax);
  ISW_ALLOC(t_yq, (size_t)Tmax * Qmax);
  ISW_ALLOC(qloss, (size_t)Tmax * R);
  ISW_ALLOC(sloss, (size_t)Tmax * R);
  ISW_ALLOC(lim, Tmax);
  ISW_ALLOC(lsteps, Tmax);
  ISW_CALL(isw_maml_ws_create(&ws, &net, IMAML_EVAL_CHUNK, a.K, Qmax, 0));
  int reached = 0;
  double steps_sum = 0.0;
  for (int set = 0; set < 2; ++set) { /* 0: training tasks, 1: held-out tasks */
    int Ts = set == 0 ? a.Ttr : a.Tt, Qs = set == 0 ? Qt : a.Q;
    isw_maml_tasks_eval_set(&tasks, set, t_xs, t_ys, t_xq, t_yq, Ts, Qs);
    ISW_CALL(isw_imaml_evaluate(qloss, sloss, lim, lsteps, ws, theta, t_xs, t_ys, t_xq, t_yq, Ts,
                                a.K, Qs, rec, R, a.alpha, a.lambda_test, a.tol, a.cap));
    isw_maml_record_set(res->curves, res->scalars, &ip_slots, set, qloss, sloss, lim, lsteps, Ts, R, col, T, jN,
                        &reached, &steps_sum);
  }
  res->scalars[IS_LIMIT_REACHED] = (double)reached / (a.Tt + a.Ttr);
  if (reached > 0) res->scalars[IS_LIMIT_STEPS] = steps_sum / reached;
  res->eval_seconds = MPI_Wtime() - t0;

cleanup:
  isw_imaml_ws_destroy(&iws);
  isw_maml_ws_destroy(&ws);
  isw_nn_adam_destroy(&adam);
  isw_maml_tasks_free(&tasks);
  free(theta), free(grad), free(xs), free(ys), free(xq), free(yq);
  free(recent), free(recent_res), free(recent_inner);
  free(t_xs), free(t_ys), free(t_xq), free(t_yq), free(qloss), free(sloss), free(lim);
  free(lsteps), free(rec), free(col);
  return err;
}

#ifndef ISW_REAL_FLOAT /* the dispatch and the family table: built once */
int isw_imaml_train_s(isw_result *res, const isw_config *c, MPI_Comm team); /* imaml_s.c */

static int imaml_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  if ((int)c->p[IP_PRECISION].num == PREC_FLOAT32) return isw_imaml_train_s(res, c, team);
  return isw_imaml_train(res, c, team);
}

const isw_task isw_task_imaml = {
    .name = "imaml",
    .summary = "implicit MAML (proximal inner problem, CG meta-gradient) on maml's sinusoid tasks",
    .params = ip_params,
    .n_params = IP_N_PARAMS,
    .scalars = ip_scalars,
    .n_scalars = IS_N,
    .curves = ip_curves,
    .n_curves = IC_N,
    .width_shapes_data = 0,
    .team_capable = 0,
    .validate = imaml_validate,
    .cost = imaml_cost,
    .run = imaml_run,
};
#endif
