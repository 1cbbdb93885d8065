/* linear_meta.c — the exactly solvable meta-learning family (SCIENCE.md,
 * task `linear-meta`).  PARAMETER TABLE ONLY: run() is being written. */
#include <math.h>
#include <float.h>

#include "isweep/error.h"
#include "isweep/task.h"

enum { LM_TASKS, LM_SUPPORT, LM_QUERY, LM_TEST_TASKS, LM_SIGMA_W, LM_SIGMA_EPS, LM_STEP_SCALE, LM_N_PARAMS };

static const isw_param_def lm_params[LM_N_PARAMS] = {
    [LM_TASKS] = {"tasks", ISW_PARAM_INT, "64", 1, 1e6, NULL, 1, "T: number of training tasks"},
    [LM_SUPPORT] = {"support", ISW_PARAM_INT, "64", 1, 1e6, NULL, 1, "s: support rows per task (inner problem size)"},
    [LM_QUERY] = {"query", ISW_PARAM_INT, "8", 1, 1e6, NULL, 1, "q: query rows per task (outer loss)"},
    [LM_TEST_TASKS] = {"test_tasks", ISW_PARAM_INT, "64", 1, 1e6, NULL, 1, "T_test: held-out tasks for the test loss"},
    [LM_SIGMA_W] = {"sigma_w", ISW_PARAM_REAL, "0.5", 0, 1e6, NULL, 1, "spread of task truths around the mean: w_t = mu + sigma_w xi_t"},
    [LM_SIGMA_EPS] = {"sigma_eps", ISW_PARAM_REAL, "0.1", 0, 1e6, NULL, 1, "noise std of support and query targets"},
    [LM_STEP_SCALE] = {"step_scale", ISW_PARAM_REAL, "0.1", 1e-12, 1.999, NULL, 0, "inner step eta = step_scale / L, L = max_t ||K_t||_2^2 (< 2 for convergence)"},
};

enum { LM_S_TRAIN_N, LM_S_TEST_N, LM_S_TRAIN_LIMIT, LM_S_TEST_LIMIT, LM_S_E_N, LM_S_STEP, LM_S_LIPSCHITZ, LM_N_SCALARS };
static const isw_column_def lm_scalars[LM_N_SCALARS] = {
    [LM_S_TRAIN_N] = {"train_loss_at_N", "training outer loss L(n = train_iters), (1/(T q)) sum_t 1/2 ||Q_t z_N - c_t||^2"},
    [LM_S_TEST_N] = {"test_loss_at_N", "held-out loss at n = train_iters, same normalisation"},
    [LM_S_TRAIN_LIMIT] = {"train_loss_limit", "training loss at n = infinity: each task's GD limit (min-norm solution nearest theta)"},
    [LM_S_TEST_LIMIT] = {"test_loss_limit", "held-out loss at n = infinity"},
    [LM_S_E_N] = {"E_N", "1/2 ||r_N||^2, unnormalised training residual energy at n = N (bound term)"},
    [LM_S_STEP] = {"step", "inner step eta"},
    [LM_S_LIPSCHITZ] = {"lipschitz", "L = max_t ||K_t||_2^2 over training tasks"},
};

enum { LM_C_TRAIN, LM_C_TEST, LM_C_DELTA_SQ, LM_C_PERP_NORM, LM_C_PERP_CROSS, LM_N_CURVES };
static const isw_column_def lm_curves[LM_N_CURVES] = {
    [LM_C_TRAIN] = {"train_loss", "training outer loss after n inner steps from theta*_N"},
    [LM_C_TEST] = {"test_loss", "held-out loss after n inner steps from theta*_N"},
    [LM_C_DELTA_SQ] = {"delta_sq", "||Delta||^2, Delta = p_n - p_N stacked training query predictions (unnormalised)"},
    [LM_C_PERP_NORM] = {"perp_delta_norm", "||P_perp Delta||, P_perp projects onto range(A_N)^perp"},
    [LM_C_PERP_CROSS] = {"perp_cross", "<P_perp Delta, r_N>; D*(T q) = 1/2 delta_sq + perp_cross exactly"},
};

static double lm_cost(const isw_config *c) {
  double d = (double)c->width, T = c->p[LM_TASKS].num, s = c->p[LM_SUPPORT].num;
  double q = c->p[LM_QUERY].num, Tt = c->p[LM_TEST_TASKS].num, N = (double)c->train_iters;
  double nmax = c->n_test ? (double)c->test_iters[c->n_test - 1] : 0.0;
  if (N > nmax) nmax = N;
  double m = T * q, mn = m < d ? m : d, smin = s < d ? s : d;
  double build = 4.0 * T * N * s * d * q + 4.0 * T * N * s * d;   /* A_N and offsets */
  double solve = 2.0 * mn * mn * ((m > d ? m : d) - mn / 3.0);   /* QR or LQ */
  double data = (T + Tt) * (s + q) * d * 30.0;                   /* drawing normals */
  double eval = (T + Tt) * nmax * 4.0 * s * d;                   /* one pass of max(n) steps */
  double limit = (T + Tt) * 2.0 * s * d * smin;                  /* per-task least squares */
  return build + solve + data + eval + limit + 2.0 * T * s * s * d;
}

static int lm_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  (void)c;
  (void)team;
  res->status = ISW_ST_FAILED;
  return ISW_OK;
}

const isw_task isw_task_linear_meta = {
    .name = "linear-meta",
    .summary = "meta-learning a shared init for linear regression tasks, solved exactly",
    .params = lm_params,
    .n_params = LM_N_PARAMS,
    .scalars = lm_scalars,
    .n_scalars = LM_N_SCALARS,
    .curves = lm_curves,
    .n_curves = LM_N_CURVES,
    .width_shapes_data = 1,
    .team_capable = 1,
    .validate = NULL,
    .cost = lm_cost,
    .run = lm_run,
};
