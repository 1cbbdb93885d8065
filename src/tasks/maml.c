/* maml.c — the `maml` task family (SCIENCE.md): second-order MAML on
 * sinusoid regression.  Owns the parameter table, the result columns, the
 * cost model and run(); the numerics live in maml_net.c (maml.h).
 * Single-rank: run() ignores the team communicator.  A stop request
 * (isw_stop_requested) is polled every 64 meta-steps and abandons the config
 * with ISW_EINTERRUPT, which the sweep records as pending.
 *
 * Random streams (all keyed by the sweep seed, so a config gives the same
 * row on any rank and in any order):
 *   held-out test tasks      (data_id, ISW_STREAM_TEST_DATA)
 *   fixed training tasks     (data_id, ISW_STREAM_DATA): the evaluation set,
 *                            or the task pool when task_pool > 0
 *   meta-batches             (id, ISW_STREAM_TRAIN): fresh tasks, or pool indices
 *   initialisation of θ      (id, ISW_STREAM_INIT)
 * width is not in data_id (width_shapes_data = 0): every width of a seed is
 * evaluated on the same tasks.
 *
 * Overparametrization ratio: θ must make the N-step adapted network fit the
 * query points of every training task, so the scalar constraints are the
 * distinct training query points: rho = P / (tasks seen · K) with tasks seen
 * = meta_steps · meta_batch for fresh tasks (every task is new) or task_pool
 * for a fixed pool.  As in linear-meta, support points do not count: they
 * are inputs of the inner problem, not constraints on θ's output.
 *
 * Precision: the training and evaluation (isw_maml_train) is typed source,
 * built for double here and for float by maml_s.c (nn.h, maml.h); the family
 * table, validate, cost and the identities are built once, and run
 * dispatches on `precision`.  The streams are keyed by isw_maml_identity,
 * which leaves precision out: both precisions draw the same θ₀ and tasks,
 * and float64 keys are those of the builds before the parameter existed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/maml.h"
#include "isweep/nn.h"
#include "isweep/rng.h"
#include "isweep/task.h"

enum {
  MP_K_SHOT,
  MP_QUERY_EVAL,
  MP_INNER_LR,
  MP_META_LR,
  MP_META_BATCH,
  MP_META_STEPS,
  MP_ORDER,
  MP_ACTIVATION,
  MP_TEST_TASKS,
  MP_TRAIN_EVAL_TASKS,
  MP_TASK_POOL,
  MP_LIMIT_TOL,
  MP_LIMIT_MAX_STEPS,
  MP_PRECISION,
  MP_N_PARAMS
};
enum { PREC_FLOAT64 = 0, PREC_FLOAT32 = 1 };

#ifndef ISW_REAL_FLOAT /* the tables are built once */

static const isw_param_def mp_params[MP_N_PARAMS] = {
    [MP_K_SHOT] = {"k_shot", ISW_PARAM_INT, "10", 1, 10000, NULL, 1,
                   "K: support and query points of a training task (support points of every task)"},
    [MP_QUERY_EVAL] = {"query_eval", ISW_PARAM_INT, "100", 1, 100000, NULL, 1,
                       "query points of an evaluation task (held-out and fixed training tasks)"},
    [MP_INNER_LR] = {"inner_lr", ISW_PARAM_REAL, "0.01", 0, 1e6, NULL, 0,
                     "alpha: step of the inner SGD on the support MSE (training and evaluation)"},
    [MP_META_LR] = {"meta_lr", ISW_PARAM_REAL, "0.001", 0, 10, NULL, 0,
                    "Adam learning rate of the outer loop"},
    [MP_META_BATCH] = {"meta_batch", ISW_PARAM_INT, "25", 1, 100000, NULL, 0,
                       "B: tasks per meta-step"},
    [MP_META_STEPS] = {"meta_steps", ISW_PARAM_INT, "10000", 0, 1e9, NULL, 0,
                       "S: Adam steps of the outer loop"},
    [MP_ORDER] = {"order", ISW_PARAM_INT, "2", 1, 2, NULL, 0,
                  "2: exact second-order meta-gradient; 1: first-order MAML (Hessian term dropped)"},
    [MP_ACTIVATION] = {"activation", ISW_PARAM_ENUM, "relu", 0, 0, "relu|tanh", 0,
                       "hidden activation of the 1 -> w -> w -> 1 network"},
    [MP_TEST_TASKS] = {"test_tasks", ISW_PARAM_INT, "100", 1, 1e6, NULL, 1,
                       "held-out tasks of the test curves"},
    [MP_TRAIN_EVAL_TASKS] = {"train_eval_tasks", ISW_PARAM_INT, "100", 1, 1e6, NULL, 1,
                             "fixed training-distribution tasks of the train curves (at most task_pool)"},
    [MP_TASK_POOL] = {"task_pool", ISW_PARAM_INT, "0", 0, 1e7, NULL, 1,
                      "0: a fresh task for every meta-batch entry; T > 0: meta-batches drawn from a "
                      "fixed pool of T tasks with K query points, whose first tasks are the train set"},
    [MP_LIMIT_TOL] = {"limit_tol", ISW_PARAM_REAL, "0.001", 0, 1e6, NULL, 0,
                      "n = infinity proxy: adapt until the support-gradient norm is below this"},
    [MP_LIMIT_MAX_STEPS] = {"limit_max_steps", ISW_PARAM_INT, "1000", 0, 1e8, NULL, 0,
                            "cap on the adaptation steps of the n = infinity proxy (unreached: flagged)"},
    [MP_PRECISION] = {"precision", ISW_PARAM_ENUM, "float64", 0, 0, "float64|float32", 0,
                      "scalar of the network, tasks and kernels (README: what stays double); results "
                      "are stored as float64 either way"},
};
#endif

enum {
  MS_TRAIN_N,
  MS_TEST_N,
  MS_TRAIN_LIMIT,
  MS_TEST_LIMIT,
  MS_LIMIT_REACHED,
  MS_LIMIT_STEPS,
  MS_INITIAL_META,
  MS_FINAL_META,
  MS_DIVERGED_STEP,
  MS_N
};
#ifndef ISW_REAL_FLOAT
static const isw_column_def mp_scalars[MS_N] = {
    [MS_TRAIN_N] = {"train_loss_at_N", "mean query MSE of the fixed training tasks after n = train_iters steps", .role = ISW_ROLE_LOSS, .split = "train", .at = "N"},
    [MS_TEST_N] = {"test_loss_at_N", "mean query MSE of the held-out tasks after n = train_iters steps", .role = ISW_ROLE_LOSS, .split = "test", .at = "N"},
    [MS_TRAIN_LIMIT] = {"train_loss_limit", "training tasks' query MSE at the n = infinity proxy (see limit_tol)", .role = ISW_ROLE_LOSS, .split = "train", .at = "limit"},
    [MS_TEST_LIMIT] = {"test_loss_limit", "held-out tasks' query MSE at the n = infinity proxy", .role = ISW_ROLE_LOSS, .split = "test", .at = "limit"},
    [MS_LIMIT_REACHED] = {"limit_reached_fraction",
                          "fraction of evaluation tasks (train and test) whose support-gradient norm "
                          "fell below limit_tol within limit_max_steps", .role = ISW_ROLE_VALIDITY, .valid_min = 0.9, .valid_max = 1, .qualifies = "limit"},
    [MS_LIMIT_STEPS] = {"limit_steps_mean", "mean adaptation steps to reach limit_tol, over the tasks that did"},
    [MS_INITIAL_META] = {"initial_meta_loss", "meta-loss (query MSE after N steps) averaged over the first min(100, S) meta-steps"},
    [MS_FINAL_META] = {"final_meta_loss", "meta-loss averaged over the last min(100, S) meta-steps"},
    [MS_DIVERGED_STEP] = {"diverged_step", "meta-step at which the meta-loss or θ went non-finite (NaN if never)"},
};
#endif

enum { MC_TRAIN, MC_TEST, MC_TRAIN_STD, MC_TEST_STD, MC_TEST_DELTA_SE, MC_TEST_SUPPORT, MC_N };
#ifndef ISW_REAL_FLOAT
static const isw_column_def mp_curves[MC_N] = {
    [MC_TRAIN] = {"train_loss", "mean query MSE of the fixed training tasks after n adaptation steps", .role = ISW_ROLE_LOSS, .split = "train"},
    [MC_TEST] = {"test_loss", "mean query MSE of the held-out tasks after n adaptation steps", .role = ISW_ROLE_LOSS, .split = "test"},
    [MC_TRAIN_STD] = {"train_loss_std", "standard deviation over the training tasks of their query MSE", .role = ISW_ROLE_SPREAD, .split = "train"},
    [MC_TEST_STD] = {"test_loss_std", "standard deviation over the held-out tasks of their query MSE", .role = ISW_ROLE_SPREAD, .split = "test"},
    [MC_TEST_DELTA_SE] = {"test_delta_se",
                          "standard error over held-out tasks of the paired change L_t(n) - L_t(N)", .role = ISW_ROLE_SPREAD, .split = "test"},
    [MC_TEST_SUPPORT] = {"test_support_loss", "mean support MSE of the held-out tasks after n steps (inner fit)"},
};
#endif

/* Where isw_maml_record_set puts an evaluation set's statistics (both builds). */
static const isw_maml_slots mp_slots = {
    .mean = {MC_TRAIN, MC_TEST}, .std = {MC_TRAIN_STD, MC_TEST_STD}, .delta_se = MC_TEST_DELTA_SE,
    .support = MC_TEST_SUPPORT, .at_n = {MS_TRAIN_N, MS_TEST_N}, .limit = {MS_TRAIN_LIMIT, MS_TEST_LIMIT}};

/* Tasks evaluated together.  One at a time was the fastest measured (CPU s
 * for 100 tasks x 300 steps, chunk 1 / 5 / 25: w 16: 0.079 / 0.078 / 0.082;
 * w 128: 1.58 / 1.63 / 1.81) and lets every task stop at its own
 * convergence instead of stepping with its chunk up to the cap. */
#define MAML_EVAL_CHUNK 1

/* Largest workspace run() may allocate, in bytes (validate refuses beyond). */
#define MAML_MAX_BYTES (8.0 * 1024 * 1024 * 1024)

typedef struct {
  int W, N, K, Q, B, order, Tt, Ttr, pool;
  int64_t S, cap;
  double alpha, lr, tol;
  isw_maml_act act;
} maml_args;

static void read_args(maml_args *a, const isw_config *c) {
  a->W = (int)c->width;
  a->N = (int)c->train_iters;
  a->K = (int)c->p[MP_K_SHOT].num;
  a->Q = (int)c->p[MP_QUERY_EVAL].num;
  a->alpha = c->p[MP_INNER_LR].num;
  a->lr = c->p[MP_META_LR].num;
  a->B = (int)c->p[MP_META_BATCH].num;
  a->S = (int64_t)c->p[MP_META_STEPS].num;
  a->order = (int)c->p[MP_ORDER].num;
  a->act = c->p[MP_ACTIVATION].str && strcmp(c->p[MP_ACTIVATION].str, "tanh") == 0 ? ISW_MAML_TANH
                                                                                  : ISW_MAML_RELU;
  a->Tt = (int)c->p[MP_TEST_TASKS].num;
  a->Ttr = (int)c->p[MP_TRAIN_EVAL_TASKS].num;
  a->pool = (int)c->p[MP_TASK_POOL].num;
  a->tol = c->p[MP_LIMIT_TOL].num;
  a->cap = (int64_t)c->p[MP_LIMIT_MAX_STEPS].num;
  if (a->pool > 0 && a->Ttr > a->pool) a->Ttr = a->pool;
}

#ifndef ISW_REAL_FLOAT /* validate and cost: built once */
/* Doubles of the larger of the two workspaces run() holds (float32 needs
 * half the bytes; validate bounds the float64 size for both). */
static double workspace_doubles(const maml_args *a) {
  double W = a->W, P = W * W + 4 * W + 1, N = a->N, nsup = a->N > 1 ? a->N : 1;
  double mt = a->K, me = a->K > a->Q ? a->K : a->Q, Be = MAML_EVAL_CHUNK;
  double Bt = a->B < ISW_MAML_SUB_BATCH ? a->B : ISW_MAML_SUB_BATCH;
  double train = (N + 3) * Bt * P + (6 * (nsup * a->K + mt) + 7 * mt) * Bt * W;
  double eval = 3 * Be * P + (6 * (a->K + me) + 7 * me) * Be * W;
  return train > eval ? train : eval;
}

static int maml_validate(const isw_config *c) {
  int err = 0;
  maml_args a;
  read_args(&a, c);
  ISW_CHECK(a.W >= 1 && a.W <= 16384, ISW_EUSAGE,
            "maml: width %d is out of range (use 1..16384 hidden units)", a.W);
  ISW_CHECK(a.N >= 0 && a.N <= 100000, ISW_EUSAGE,
            "maml: train_iters %d is out of range (use 0..100000 inner steps)", a.N);
  double bytes = 8.0 * workspace_doubles(&a);
  ISW_CHECK(bytes <= MAML_MAX_BYTES, ISW_EUSAGE,
            "maml: width %d, meta_batch %d, train_iters %d need %.1f GiB of workspace "
            "(reduce width, meta_batch or train_iters; at most 8 GiB)",
            a.W, a.B, a.N, bytes / (1024.0 * 1024 * 1024));
cleanup:
  return err;
}

static double maml_cost(const isw_config *c) {
  maml_args a;
  read_args(&a, c);
  double W = a.W, K = a.K, Q = a.Q, N = a.N, P = W * W + 4 * W + 1;
  double u = 2.0 * K * W * W; /* one layer-2 product on one task's support points */
  double ew = 30.0 * K * W;   /* elementwise work of one pass over one task's support points */
  double prods = 3 * N + 3 + (a.order == 2 ? 5 * N : 0); /* per task and meta-step */
  double step = a.B * (prods * u + (4 * N + 2) * ew) + a.B * N * 2 * P + 12 * P;
  double nmax = N;
  if (c->n_test > 0 && (double)c->test_iters[c->n_test - 1] > nmax)
    nmax = (double)c->test_iters[c->n_test - 1];
  /* the n = infinity proxy: at the defaults 55-70 % of the tasks run to the
   * cap (measured), so the cap bounds the steps well enough */
  double steps = nmax > (double)a.cap ? nmax : (double)a.cap;
  double nrec = c->n_test + 2;
  double tasks = (double)a.Tt + a.Ttr;
  double eval = tasks * (steps * (3 * u + 2 * ew + 3 * P) + nrec * 2 * Q * W * W);
  return (double)a.S * step + eval;
}
#endif


/* Train and evaluate one config in the build's precision (isw_maml_train
 * for float64, isw_maml_train_s for float32): the family's run. */
int isw_maml_train(isw_result *res, const isw_config *c, MPI_Comm team);
int isw_maml_train(isw_result *res, const isw_config *c, MPI_Comm team) {
  (void)team;
  int err = 0;
  maml_args a;
  read_args(&a, c);
  isw_maml_net net;
  isw_maml_net_init(&net, a.W, a.act);
  int64_t P = net.P;
  isw_maml_ws *ws = NULL;
  isw_nn_adam *adam = NULL;
  isw_real *theta = NULL, *grad = NULL, *xs = NULL, *ys = NULL, *xq = NULL, *yq = NULL;
  isw_real *t_xs = NULL, *t_ys = NULL, *t_xq = NULL, *t_yq = NULL;
  double *recent = NULL, *qloss = NULL, *sloss = NULL, *lim = NULL;
  int64_t *rec = NULL, *lsteps = NULL;
  int *col = NULL;
  isw_maml_tasks tasks = {0};
  isw_rng r_init;
  uint64_t sid, sdata;
  isw_maml_identity(&sid, &sdata, c); /* c->id without precision */
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
  enum { RECENT = 100 };
  ISW_ALLOC(recent, RECENT);
  isw_maml_init_params(theta, &net, &r_init);
  ISW_CALL(isw_maml_tasks_init(&tasks, c->sweep_seed, sid, sdata, a.K, a.pool));
  ISW_CALL(isw_maml_ws_create(&ws, &net, a.B < ISW_MAML_SUB_BATCH ? a.B : ISW_MAML_SUB_BATCH, a.K, a.K, a.N));
  double first_sum = 0.0;
  int64_t n_first = a.S < RECENT ? a.S : RECENT;
  for (int64_t s = 0; s < a.S; ++s) {
    /* a stop request abandons the config: the sweep leaves it pending for --resume */
    ISW_CHECK(s % 64 != 0 || !isw_stop_requested(), ISW_EINTERRUPT,
              "maml: stopped by a signal at meta-step %lld", (long long)s);
    isw_maml_tasks_meta_batch(&tasks, xs, ys, xq, yq, a.B);
    double loss = NAN;
    ISW_CALL(isw_maml_meta_grad(grad, &loss, ws, theta, xs, ys, xq, yq, a.B, a.K, a.K, a.N,
                                a.alpha, a.order));
    if (!isfinite(loss) || !isw_maml_all_finite(grad, P)) {
      res->status = ISW_ST_DIVERGED;
      snprintf(res->message, ISW_MESSAGE_LEN, "non-finite meta-%s at meta-step %lld",
               isfinite(loss) ? "gradient" : "loss", (long long)s);
      res->scalars[MS_DIVERGED_STEP] = (double)s;
      break;
    }
    isw_nn_adam_step(adam, theta, grad);
    if (!isw_maml_all_finite(theta, P)) {
      res->status = ISW_ST_DIVERGED;
      snprintf(res->message, ISW_MESSAGE_LEN, "non-finite parameters after meta-step %lld",
               (long long)s);
      res->scalars[MS_DIVERGED_STEP] = (double)s;
      break;
    }
    if (s < n_first) first_sum += loss;
    recent[s % RECENT] = loss;
  }
  isw_maml_ws_destroy(&ws);
  res->train_seconds = MPI_Wtime() - t0;
  if (res->status != ISW_ST_OK) goto cleanup;
  if (a.S > 0) {
    res->scalars[MS_INITIAL_META] = first_sum / n_first;
    double sum = 0.0;
    for (int64_t i = 0; i < n_first; ++i) sum += recent[i];
    res->scalars[MS_FINAL_META] = sum / n_first;
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
  ISW_CALL(isw_maml_ws_create(&ws, &net, MAML_EVAL_CHUNK, a.K, Qmax, 0));
  int reached = 0;
  double steps_sum = 0.0;
  for (int set = 0; set < 2; ++set) { /* 0: training tasks, 1: held-out tasks */
    int Ts = set == 0 ? a.Ttr : a.Tt, Qs = set == 0 ? Qt : a.Q;
    isw_maml_tasks_eval_set(&tasks, set, t_xs, t_ys, t_xq, t_yq, Ts, Qs);
    ISW_CALL(isw_maml_evaluate(qloss, sloss, lim, lsteps, ws, theta, t_xs, t_ys, t_xq, t_yq, Ts,
                               a.K, Qs, rec, R, a.alpha, a.tol, a.cap));
    isw_maml_record_set(res->curves, res->scalars, &mp_slots, set, qloss, sloss, lim, lsteps, Ts, R, col, T, jN,
                        &reached, &steps_sum);
  }
  res->scalars[MS_LIMIT_REACHED] = (double)reached / (a.Tt + a.Ttr);
  if (reached > 0) res->scalars[MS_LIMIT_STEPS] = steps_sum / reached;
  res->eval_seconds = MPI_Wtime() - t0;

cleanup:
  isw_maml_ws_destroy(&ws);
  free(theta);
  free(grad);
  isw_nn_adam_destroy(&adam);
  free(xs);
  free(ys);
  free(xq);
  free(yq);
  isw_maml_tasks_free(&tasks);
  free(recent);
  free(t_xs);
  free(t_ys);
  free(t_xq);
  free(t_yq);
  free(qloss);
  free(sloss);
  free(lim);
  free(lsteps);
  free(rec);
  free(col);
  return err;
}

#ifndef ISW_REAL_FLOAT /* the identities, the dispatch and the family table: built once */
/* appends "name=value;" as spec.c's config identities spell it: integers
 * %lld, reals %.17g, enums and strings by their text */
static size_t identity_add(char *buf, size_t len, size_t cap, const isw_param_def *d,
                           double num, const char *str) {
  int n = 0;
  if (len >= cap) return len;
  switch (d->type) {
    case ISW_PARAM_INT: n = snprintf(buf + len, cap - len, "%s=%lld;", d->name, (long long)num); break;
    case ISW_PARAM_REAL: n = snprintf(buf + len, cap - len, "%s=%.17g;", d->name, num); break;
    case ISW_PARAM_ENUM:
    case ISW_PARAM_STRING: n = snprintf(buf + len, cap - len, "%s=%s;", d->name, str ? str : ""); break;
  }
  return n > 0 ? len + (size_t)n : len;
}

void isw_maml_identity(uint64_t *id, uint64_t *data_id, const isw_config *c) {
  char ib[2048], db[1024];
  size_t il = (size_t)snprintf(ib, sizeof ib, "task=maml;width=%lld;train_iters=%lld;seed=%lld;",
                               (long long)c->width, (long long)c->train_iters, (long long)c->seed);
  size_t dl = (size_t)snprintf(db, sizeof db, "task=maml;seed=%lld;", (long long)c->seed);
  for (int p = 0; p < MP_N_PARAMS; ++p) {
    if (p == MP_PRECISION) continue; /* both precisions train from the same draws */
    const isw_param_def *d = &mp_params[p];
    int q = isw_task_param_index(c->task, d->name);
    double num = q >= 0 ? c->p[q].num : 0.0;
    const char *str = q >= 0 ? c->p[q].str : d->def;
    if (q < 0 && (d->type == ISW_PARAM_INT || d->type == ISW_PARAM_REAL)) num = strtod(d->def, NULL);
    il = identity_add(ib, il, sizeof ib, d, num, str);
    if (d->data) dl = identity_add(db, dl, sizeof db, d, num, str);
  }
  *id = isw_hash64(ib, il < sizeof ib ? il : sizeof ib - 1, 0);
  *data_id = isw_hash64(db, dl < sizeof db ? dl : sizeof db - 1, 0);
}

int isw_maml_train_s(isw_result *res, const isw_config *c, MPI_Comm team); /* maml_s.c */

static int maml_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  if ((int)c->p[MP_PRECISION].num == PREC_FLOAT32) return isw_maml_train_s(res, c, team);
  return isw_maml_train(res, c, team);
}

const isw_task isw_task_maml = {
    .name = "maml",
    .summary = "second-order MAML on sinusoid regression, 1 -> w -> w -> 1 network",
    .params = mp_params,
    .n_params = MP_N_PARAMS,
    .scalars = mp_scalars,
    .n_scalars = MS_N,
    .curves = mp_curves,
    .n_curves = MC_N,
    .width_shapes_data = 0,
    .team_capable = 0,
    .validate = maml_validate,
    .cost = maml_cost,
    .run = maml_run,
};
#endif
