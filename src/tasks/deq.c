/* deq.c — the deep equilibrium family (SCIENCE.md, task `deq`): parameter
 * table, columns, validate, cost model and run (train with Adam, then
 * evaluate); the kernels live in deq_net.c (deq.h).  Runs on one rank:
 * team_capable = 0, it never touches the team communicator.  Data come from
 * data.h; nothing here talks to HDF5 or the results file.
 * Precision: the training and evaluation (isw_deq_train) is typed source,
 * built for double here and for float by deq_s.c (nn.h); the family table,
 * validate and cost are built once, and run dispatches on `precision`. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/data.h"
#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/nn.h"
#include "isweep/rng.h"
#include "isweep/task.h"

/* The stream of the Jacobian regularization's Hutchinson probes (rng.h: a
 * task may use any stream number beyond the common ones). */
#define DEQ_STREAM_JAC 16

static int all_finite(const isw_real *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return 0;
  return 1;
}

/* ---- the family: parameters, columns, validate, cost, run ------------------------- */

enum {
  P_DATASET, P_DATA_FILE, P_TEST_FRACTION, P_N_TRAIN, P_N_TEST, P_X_DIM, P_TEACHER_WIDTH,
  P_NOISE, P_ACTIVATION, P_GRAD, P_LR, P_STEPS, P_BATCH, P_W_SCALE, P_BWD_TOL,
  P_BWD_MAX_ITER, P_BWD_DIRECT_WIDTH, P_LIMIT_TOL, P_LIMIT_MAX_ITER, P_BLOWUP, P_SOLVER,
  P_TEST_SOLVER, P_SOLVER_BETA, P_SOLVER_M, P_SOLVER_LAMBDA, P_BWD_SOLVER, P_LIMIT_SOLVER,
  P_PHANTOM_K, P_PHANTOM_DAMPING, P_JAC_REG, P_PRECISION, P_N_PARAMS
};
enum { DS_TEACHER = 0, DS_DIGITS = 1, DS_FILE = 2 };
enum { PREC_FLOAT64 = 0, PREC_FLOAT32 = 1 };

static const isw_param_def deq_params[P_N_PARAMS] = {
    [P_DATASET] = {"dataset", ISW_PARAM_ENUM, "teacher", 0, 0, "teacher|digits|file", 1,
                   "data set: teacher (synthetic regression), digits (shipped 8x8 digits, 10 classes) or file (data_file)"},
    [P_DATA_FILE] = {"data_file", ISW_PARAM_STRING, "none", 0, 0, NULL, 1,
                     "dataset = file: HDF5 file with X (n, d) and y (n); integer y = class labels, float y = regression targets (none: no file)"},
    [P_TEST_FRACTION] = {"test_fraction", ISW_PARAM_REAL, "0.25", 1e-6, 0.999999, NULL, 1,
                         "digits and file: fraction of the rows held out as the test set (seeded split)"},
    [P_N_TRAIN] = {"n_train", ISW_PARAM_INT, "256", 1, 1e8, NULL, 1, "teacher: training rows"},
    [P_N_TEST] = {"n_test", ISW_PARAM_INT, "1024", 1, 1e8, NULL, 1, "teacher: test rows"},
    [P_X_DIM] = {"x_dim", ISW_PARAM_INT, "16", 1, 1e6, NULL, 1, "teacher: input dimension d_x, x ~ N(0, I)"},
    [P_TEACHER_WIDTH] = {"teacher_width", ISW_PARAM_INT, "32", 1, 1e6, NULL, 1,
                         "teacher: hidden units of the two-layer tanh teacher network"},
    [P_NOISE] = {"noise", ISW_PARAM_REAL, "0.1", 0, 1e6, NULL, 1, "teacher: std of the Gaussian noise on targets"},
    [P_ACTIVATION] = {"activation", ISW_PARAM_ENUM, "tanh", 0, 0, "tanh|relu|identity", 0,
                      "sigma in z_{k+1} = sigma(W z_k + U x + b)"},
    [P_GRAD] = {"grad", ISW_PARAM_ENUM, "unrolled", 0, 0, "unrolled|implicit|jfb|phantom", 0,
                "gradient: unrolled (backprop through the N iterations), implicit (z_N as fixed point, IFT backward), "
                "jfb (through one application of f at z_N), phantom (phantom_k damped steps from z_N)"},
    [P_LR] = {"lr", ISW_PARAM_REAL, "0.001", 1e-12, 10, NULL, 0, "Adam learning rate"},
    [P_STEPS] = {"steps", ISW_PARAM_INT, "1000", 0, 1e9, NULL, 0, "Adam steps"},
    [P_BATCH] = {"batch", ISW_PARAM_INT, "0", 0, 1e9, NULL, 0,
                 "minibatch rows per step; 0 or >= training rows = full batch"},
    [P_W_SCALE] = {"w_scale", ISW_PARAM_REAL, "0.5", 0, 0.999, NULL, 0,
                   "spectral norm of W at initialisation (< 1: the initial map contracts for tanh/relu/identity)"},
    [P_BWD_TOL] = {"bwd_tol", ISW_PARAM_REAL, "1e-8", 1e-16, 1, NULL, 0,
                   "implicit: backward fixed-point iteration stops when ||u_{t+1} - u_t|| <= bwd_tol ||u_{t+1}||"},
    [P_BWD_MAX_ITER] = {"bwd_max_iter", ISW_PARAM_INT, "200", 1, 1e7, NULL, 0,
                        "implicit: cap on backward fixed-point iterations per step"},
    [P_BWD_DIRECT_WIDTH] = {"bwd_direct_width", ISW_PARAM_INT, "0", 0, 4096, NULL, 0,
                            "implicit: widths <= this solve (I - J_f^T) u = g exactly per sample with LAPACK instead of iterating"},
    [P_LIMIT_TOL] = {"limit_tol", ISW_PARAM_REAL, "1e-8", 1e-16, 1, NULL, 0,
                     "n = infinity: iterate until every sample's relative residual < limit_tol"},
    [P_LIMIT_MAX_ITER] = {"limit_max_iter", ISW_PARAM_INT, "1000", 1, 1e8, NULL, 0,
                          "n = infinity: iteration cap (counted from z_0); limit_converged = 0 when hit"},
    [P_BLOWUP] = {"blowup", ISW_PARAM_REAL, "1e6", 1, 1e300, NULL, 0,
                  "training diverges when max |z_N| exceeds this (or a loss/gradient is not finite)"},
    [P_SOLVER] = {"solver", ISW_PARAM_ENUM, "picard", 0, 0, "picard|anderson|broyden", 0,
                  "inner solver of the N training steps (each step one f evaluation); unrolled needs picard"},
    [P_TEST_SOLVER] = {"test_solver", ISW_PARAM_ENUM, "same", 0, 0, "same|picard|anderson|broyden", 0,
                       "inner solver of the evaluation's n steps (same: the training solver)"},
    [P_SOLVER_BETA] = {"solver_beta", ISW_PARAM_REAL, "1", 1e-6, 1, NULL, 0,
                       "picard damping / anderson mixing beta: z <- (1 - beta) z + beta f(z) (training and test)"},
    [P_SOLVER_M] = {"solver_m", ISW_PARAM_INT, "5", 1, 1000, NULL, 0,
                    "anderson / broyden memory (iterates or rank-one updates kept)"},
    [P_SOLVER_LAMBDA] = {"solver_lambda", ISW_PARAM_REAL, "1e-8", 0, 1e6, NULL, 0,
                         "anderson regularization of the least-squares step, relative to the mean of diag(G^T G)"},
    [P_BWD_SOLVER] = {"bwd_solver", ISW_PARAM_ENUM, "picard", 0, 0, "picard|anderson|broyden", 0,
                      "implicit: solver of the adjoint u = dL/dz + J_f^T u (memory solver_m, unless bwd_direct_width applies)"},
    [P_LIMIT_SOLVER] = {"limit_solver", ISW_PARAM_ENUM, "broyden", 0, 0, "picard|anderson|broyden", 0,
                        "n = infinity: solver run to limit_tol from the last recorded state (memory solver_m)"},
    [P_PHANTOM_K] = {"phantom_k", ISW_PARAM_INT, "5", 1, 10000, NULL, 0,
                     "phantom: damped steps from z_N that are backpropagated (the loss is read after them)"},
    [P_PHANTOM_DAMPING] = {"phantom_damping", ISW_PARAM_REAL, "0.5", 1e-6, 1, NULL, 0,
                           "phantom: lambda of the steps z <- (1 - lambda) z + lambda f(z)"},
    [P_JAC_REG] = {"jac_reg", ISW_PARAM_REAL, "0", 0, 1e6, NULL, 0,
                   "gamma: adds gamma ||J_f(z_N)||_F^2 / width (Hutchinson, one probe per sample and step) to the training loss"},
    [P_PRECISION] = {"precision", ISW_PARAM_ENUM, "float64", 0, 0, "float64|float32", 0,
                     "scalar of the model, states and kernels (README: what stays double); results are stored as float64 either way"},
};

#ifndef ISW_REAL_FLOAT /* the columns are declared once */
enum {
  S_TRAIN_N, S_TEST_N, S_TRAIN_ACC_N, S_TEST_ACC_N, S_TRAIN_LIM, S_TEST_LIM, S_TRAIN_ACC_LIM,
  S_TEST_ACC_LIM, S_LIM_CONV, S_LIM_ITERS, S_LIM_RES, S_RHO_W, S_NORM_W, S_DIV_STEP,
  S_FINAL_BATCH_LOSS, S_BWD_ITERS, S_BWD_UNCONV, S_N_TRAIN, S_N_TEST, S_FWD_FALLBACKS,
  S_BWD_FALLBACKS, S_TEST_FALLBACKS, S_JAC_FINAL, S_N_SCALARS
};
static const isw_column_def deq_scalars[S_N_SCALARS] = {
    [S_TRAIN_N] = {"train_loss_at_N", "training loss at n = train_iters (MSE, or mean softmax cross-entropy)", .role = ISW_ROLE_LOSS, .split = "train", .at = "N"},
    [S_TEST_N] = {"test_loss_at_N", "test loss at n = train_iters", .role = ISW_ROLE_LOSS, .split = "test", .at = "N"},
    [S_TRAIN_ACC_N] = {"train_accuracy_at_N", "training accuracy at n = train_iters (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "train", .at = "N"},
    [S_TEST_ACC_N] = {"test_accuracy_at_N", "test accuracy at n = train_iters (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "test", .at = "N"},
    [S_TRAIN_LIM] = {"train_loss_limit", "training loss at n = infinity (see limit_converged)", .role = ISW_ROLE_LOSS, .split = "train", .at = "limit"},
    [S_TEST_LIM] = {"test_loss_limit", "test loss at n = infinity (see limit_converged)", .role = ISW_ROLE_LOSS, .split = "test", .at = "limit"},
    [S_TRAIN_ACC_LIM] = {"train_accuracy_limit", "training accuracy at n = infinity (classification)", .role = ISW_ROLE_ACCURACY, .split = "train", .at = "limit"},
    [S_TEST_ACC_LIM] = {"test_accuracy_limit", "test accuracy at n = infinity (classification)", .role = ISW_ROLE_ACCURACY, .split = "test", .at = "limit"},
    [S_LIM_CONV] = {"limit_converged", "1: the limit is a fixed point (tanh/relu: every sample's residual < limit_tol; identity: direct solve of (I - W) z = U x + b with rho(W) < 1); 0: not the n = infinity limit", .role = ISW_ROLE_VALIDITY, .valid_min = 1, .valid_max = 1, .qualifies = "limit"},
    [S_LIM_ITERS] = {"limit_iters", "f evaluations from z_0 (test_solver's recorded steps, then limit_solver's) until every sample's residual < limit_tol (about limit_max_iter when not reached; 0 for identity's direct solve)"},
    [S_LIM_RES] = {"limit_residual", "max over train and test samples of ||f(z) - z|| / ||f(z)|| at the limit state"},
    [S_RHO_W] = {"spectral_radius_W", "max |eigenvalue| of the trained W"},
    [S_NORM_W] = {"spectral_norm_W", "largest singular value of the trained W"},
    [S_DIV_STEP] = {"diverged_step", "Adam step (1-based) at which training diverged; NaN when it did not"},
    [S_FINAL_BATCH_LOSS] = {"final_batch_loss", "training loss of the last Adam step's batch (at n = train_iters)"},
    [S_BWD_ITERS] = {"bwd_iters_mean", "implicit: mean backward fixed-point iterations per step (0 with the direct solve; NaN for unrolled)"},
    [S_BWD_UNCONV] = {"bwd_unconverged_steps", "implicit: steps whose backward iteration hit bwd_max_iter before bwd_tol (NaN for unrolled)", .role = ISW_ROLE_VALIDITY, .per = "steps", .valid_min = 0, .valid_max = 0.1, .qualifies = "row"},
    [S_N_TRAIN] = {"n_train_rows", "training rows of the data set used"},
    [S_N_TEST] = {"n_test_rows", "test rows of the data set used"},
    [S_FWD_FALLBACKS] = {"solver_fallbacks_mean", "mean per Adam step of the training solver's safeguard Picard steps (sample-steps; 0 for picard)"},
    [S_BWD_FALLBACKS] = {"bwd_fallbacks_mean", "implicit: mean per Adam step of the adjoint solver's safeguard Picard steps (sample-steps; NaN otherwise)"},
    [S_TEST_FALLBACKS] = {"test_fallbacks", "safeguard Picard steps (sample-steps) of the test solver over the test set's recorded steps"},
    [S_JAC_FINAL] = {"jac_term_final", "jac_reg > 0: the Jacobian term gamma ||J_f||_F^2 / width of the last Adam step's batch (NaN otherwise)"},
};

enum { C_TRAIN, C_TEST, C_TRAIN_ACC, C_TEST_ACC, C_RES, C_RES_MAX, C_N_CURVES };
static const isw_column_def deq_curves[C_N_CURVES] = {
    [C_TRAIN] = {"train_loss", "training loss after n steps of test_solver (n f evaluations; MSE, or mean softmax cross-entropy)", .role = ISW_ROLE_LOSS, .split = "train"},
    [C_TEST] = {"test_loss", "test loss after n steps of test_solver", .role = ISW_ROLE_LOSS, .split = "test"},
    [C_TRAIN_ACC] = {"train_accuracy", "training accuracy after n iterations (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "train"},
    [C_TEST_ACC] = {"test_accuracy", "test accuracy after n iterations (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "test"},
    [C_RES] = {"residual", "MEAN over test samples of ||f(z_n) - z_n|| / ||f(z_n)||: the convergence curve", .role = ISW_ROLE_RESIDUAL, .split = "test"},
    [C_RES_MAX] = {"residual_max", "MAX over test samples of ||f(z_n) - z_n|| / ||f(z_n)||", .role = ISW_ROLE_SPREAD, .split = "test"},
};
#else
enum {
  S_TRAIN_N, S_TEST_N, S_TRAIN_ACC_N, S_TEST_ACC_N, S_TRAIN_LIM, S_TEST_LIM, S_TRAIN_ACC_LIM,
  S_TEST_ACC_LIM, S_LIM_CONV, S_LIM_ITERS, S_LIM_RES, S_RHO_W, S_NORM_W, S_DIV_STEP,
  S_FINAL_BATCH_LOSS, S_BWD_ITERS, S_BWD_UNCONV, S_N_TRAIN, S_N_TEST, S_FWD_FALLBACKS,
  S_BWD_FALLBACKS, S_TEST_FALLBACKS, S_JAC_FINAL, S_N_SCALARS
};
enum { C_TRAIN, C_TEST, C_TRAIN_ACC, C_TEST_ACC, C_RES, C_RES_MAX, C_N_CURVES };
#endif

/* The task's parameters of one config, decoded. */
typedef struct {
  int dataset;
  const char *data_file;
  double test_fraction;
  isw_teacher_opts teacher;
  isw_deq_act act;
  isw_deq_grad grad;
  double lr;
  int64_t steps, batch;
  double w_scale;
  isw_deq_bwd_opts bwd;
  double limit_tol;
  int64_t limit_max_iter;
  double blowup;
  isw_solver_opts test_solver, limit_solver;
} deq_cfg;

static void deq_cfg_read(deq_cfg *k, const isw_config *c) {
  memset(k, 0, sizeof *k);
  const isw_value *p = c->p;
  k->dataset = (int)p[P_DATASET].num;
  k->data_file = p[P_DATA_FILE].str && strcmp(p[P_DATA_FILE].str, "none") != 0 ? p[P_DATA_FILE].str : "";
  k->test_fraction = p[P_TEST_FRACTION].num;
  k->teacher.n_train = (int64_t)p[P_N_TRAIN].num;
  k->teacher.n_test = (int64_t)p[P_N_TEST].num;
  k->teacher.x_dim = (int64_t)p[P_X_DIM].num;
  k->teacher.teacher_width = (int64_t)p[P_TEACHER_WIDTH].num;
  k->teacher.noise = p[P_NOISE].num;
  k->act = (isw_deq_act)(int)p[P_ACTIVATION].num;
  k->grad = (isw_deq_grad)(int)p[P_GRAD].num;
  k->lr = p[P_LR].num;
  k->steps = (int64_t)p[P_STEPS].num;
  k->batch = (int64_t)p[P_BATCH].num;
  k->w_scale = p[P_W_SCALE].num;
  k->bwd.tol = p[P_BWD_TOL].num;
  k->bwd.max_iter = (int64_t)p[P_BWD_MAX_ITER].num;
  k->bwd.direct_width = (int64_t)p[P_BWD_DIRECT_WIDTH].num;
  k->limit_tol = p[P_LIMIT_TOL].num;
  k->limit_max_iter = (int64_t)p[P_LIMIT_MAX_ITER].num;
  k->blowup = p[P_BLOWUP].num;
  k->bwd.fwd.kind = (isw_solver_kind)(int)p[P_SOLVER].num;
  k->bwd.fwd.beta = p[P_SOLVER_BETA].num;
  k->bwd.fwd.m = (int)p[P_SOLVER_M].num;
  k->bwd.fwd.lambda = p[P_SOLVER_LAMBDA].num;
  k->bwd.adjoint = (isw_solver_kind)(int)p[P_BWD_SOLVER].num;
  k->bwd.phantom_k = (int64_t)p[P_PHANTOM_K].num;
  k->bwd.phantom_damping = p[P_PHANTOM_DAMPING].num;
  k->bwd.jac_reg = p[P_JAC_REG].num;
  k->test_solver = k->bwd.fwd;
  int ts = (int)p[P_TEST_SOLVER].num; /* 0 = same */
  if (ts > 0) k->test_solver.kind = (isw_solver_kind)(ts - 1);
  k->limit_solver = k->bwd.fwd;
  k->limit_solver.kind = (isw_solver_kind)(int)p[P_LIMIT_SOLVER].num;
  k->limit_solver.beta = 1.0;
}

/* The identity of what training sees: the task, width, train_iters, seed
 * and every parameter but the evaluation-only ones (test_solver,
 * limit_solver, limit_tol, limit_max_iter).  It keys the initialisation,
 * minibatch and probe streams, so configs that differ only in how they are
 * evaluated train bitwise the same model: a grid over test_solver compares
 * solvers on one trained model, not across draws.  precision is left out
 * too: float32 and float64 train from the same draws (and float64 ids are
 * those of the builds before the parameter existed). */
static uint64_t deq_train_id(const isw_config *c) {
  char buf[4096];
  int n = snprintf(buf, sizeof buf, "deq-train;width=%lld;train_iters=%lld;seed=%lld;",
                   (long long)c->width, (long long)c->train_iters, (long long)c->seed);
  for (int p = 0; p < P_N_PARAMS && n < (int)sizeof buf; ++p) {
    if (p == P_TEST_SOLVER || p == P_LIMIT_SOLVER || p == P_LIMIT_TOL || p == P_LIMIT_MAX_ITER ||
        p == P_PRECISION)
      continue;
    const isw_param_def *d = &deq_params[p];
    if (d->type == ISW_PARAM_ENUM || d->type == ISW_PARAM_STRING)
      n += snprintf(buf + n, sizeof buf - (size_t)n, "%s=%s;", d->name, c->p[p].str ? c->p[p].str : "");
    else
      n += snprintf(buf + n, sizeof buf - (size_t)n, "%s=%.17g;", d->name, c->p[p].num);
  }
  if (n > (int)sizeof buf) n = (int)sizeof buf;
  return isw_hash64(buf, (size_t)n, 0);
}

static int deq_load(isw_dataset **ds, const deq_cfg *k, const isw_config *c) {
  switch (k->dataset) {
    case DS_TEACHER: return isw_data_teacher(ds, &k->teacher, c->sweep_seed, c->data_id);
    case DS_DIGITS: return isw_data_digits(ds, k->test_fraction, c->sweep_seed, c->data_id);
    default: return isw_data_hdf5(ds, k->data_file, k->test_fraction, c->sweep_seed, c->data_id);
  }
}

/* Loads the data set the way run() will, so every data problem is a spec
 * error before anything trains.  The last accepted data description is
 * remembered (only the split's emptiness depends on the seed, and it does
 * not depend on which rows are drawn), so a sweep over many configs of one
 * file reads it once. */
#ifndef ISW_REAL_FLOAT /* validate and cost: built once */
static int deq_validate(const isw_config *c) {
  static char accepted[1200];
  int err = 0;
  deq_cfg k;
  isw_dataset *ds = NULL;
  char key[sizeof accepted];
  deq_cfg_read(&k, c);
  if (k.grad == ISW_DEQ_UNROLLED && k.bwd.fwd.kind != ISW_SOLVER_PICARD)
    return isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                           "[deq] grad = unrolled backpropagates through Picard steps only, not solver = %s "
                           "(use grad = implicit, jfb or phantom with it, or solver = picard)",
                           isw_solver_names[k.bwd.fwd.kind]);
  snprintf(key, sizeof key, "%d|%s|%.17g|%lld|%lld|%lld|%lld|%.17g", k.dataset,
           k.dataset == DS_FILE ? k.data_file : "", k.test_fraction, (long long)k.teacher.n_train,
           (long long)k.teacher.n_test, (long long)k.teacher.x_dim,
           (long long)k.teacher.teacher_width, k.teacher.noise);
  if (strcmp(key, accepted) == 0) return 0;
  err = deq_load(&ds, &k, c);
  if (err) {
    if (err == ISW_EUSAGE) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", isw_error_message());
      err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "[deq] %s", msg);
    } else {
      isw_error_trace(__FILE__, __LINE__, __func__);
    }
    goto cleanup;
  }
  snprintf(accepted, sizeof accepted, "%s", key);
cleanup:
  isw_data_destroy(&ds);
  return err;
}

/* Rows of the splits without reading a file (cost must be pure): exact for
 * teacher and digits, a guess of 1000 rows for a user file. */
static void deq_rows(int64_t *ntr, int64_t *nte, const deq_cfg *k) {
  int64_t n = k->dataset == DS_DIGITS ? 1797 : 1000;
  if (k->dataset == DS_TEACHER) {
    *ntr = k->teacher.n_train;
    *nte = k->teacher.n_test;
    return;
  }
  *nte = isw_data_n_test(n, k->test_fraction);
  *ntr = n - *nte;
}

static double deq_cost(const isw_config *c) {
  deq_cfg k;
  deq_cfg_read(&k, c);
  int64_t ntr, nte;
  deq_rows(&ntr, &nte, &k);
  double h = (double)c->width, n_it = (double)c->train_iters;
  double dd = k.dataset == DS_TEACHER ? (double)k.teacher.x_dim : 64.0, kk = 10.0;
  double b = (k.batch == 0 || k.batch >= ntr) ? (double)ntr : (double)k.batch;
  double hh = h * h, step;
  if (k.grad == ISW_DEQ_UNROLLED) {
    step = 6.0 * n_it * b * hh;
  } else if (k.grad == ISW_DEQ_JFB || k.grad == ISW_DEQ_PHANTOM) {
    double kb = k.grad == ISW_DEQ_JFB ? 1.0 : (double)k.bwd.phantom_k;
    step = 2.0 * n_it * b * hh + 6.0 * kb * b * hh;
  } else {
    /* backward iterations: measured means run from ~20 (converging) to the cap (wide
       models trained with small N), so guess 0.6 of the cap, at most 100 */
    double guess = fmin(0.6 * (double)k.bwd.max_iter, 100.0);
    double bwd = (double)c->width <= (double)k.bwd.direct_width ? b * (2.0 / 3.0) * hh * h
                                                                : 2.0 * b * hh * guess;
    step = 2.0 * (n_it + 2.0) * b * hh + bwd;
  }
  step += 4.0 * b * h * dd + 6.0 * b * h * kk + 20.0 * (hh + h * dd);
  double mm = (double)k.bwd.fwd.m;
  if (k.bwd.fwd.kind != ISW_SOLVER_PICARD) step += n_it * b * h * (4.0 * mm + mm * mm);
  if (k.bwd.jac_reg > 0.0) step += 8.0 * b * hh;
  double nmax = c->n_test > 0 ? (double)c->test_iters[c->n_test - 1] : 0.0;
  if (n_it > nmax) nmax = n_it;
  double lim = k.act == ISW_DEQ_IDENTITY ? 2.0 : fmin((double)k.limit_max_iter, 300.0);
  double eval = (double)(ntr + nte) * 2.0 * hh * (nmax + 2.0 + lim);
  double dense = 16.0 * hh * h; /* dgesdd at init and after, dgeev, LU */
  return (double)k.steps * step + eval + dense;
}

#endif

/* A copy of x (n) in the build's precision, or NULL for x NULL. */
static int to_real(isw_real **out, const double *x, int64_t n) {
  int err = 0;
  *out = NULL;
  if (!x) return 0;
  ISW_ALLOC(*out, n > 0 ? n : 1);
  for (int64_t i = 0; i < n; ++i) (*out)[i] = (isw_real)x[i];
cleanup:
  return err;
}

/* The data set's arrays in the build's precision (float64: exact copies). */
typedef struct {
  isw_real *x_train, *y_train, *x_test, *y_test; /* (Ntr, D), (Ntr, K) or NULL, (Nte, D), ... */
} deq_rdata;

static void deq_rdata_free(deq_rdata *r) {
  free(r->x_train);
  free(r->y_train);
  free(r->x_test);
  free(r->y_test);
  memset(r, 0, sizeof *r);
}

static int deq_rdata_make(deq_rdata *r, const isw_dataset *ds) {
  int err = 0;
  memset(r, 0, sizeof *r);
  ISW_CALL(to_real(&r->x_train, ds->x_train, ds->n_train * ds->d));
  ISW_CALL(to_real(&r->y_train, ds->y_train, ds->n_train * ds->k));
  ISW_CALL(to_real(&r->x_test, ds->x_test, ds->n_test * ds->d));
  ISW_CALL(to_real(&r->y_test, ds->y_test, ds->n_test * ds->k));
cleanup:
  if (err) deq_rdata_free(r);
  return err;
}

/* Fill the curves and scalars from a finished model. */
static int deq_evaluate_all(isw_result *res, const isw_deq_model *m, const isw_dataset *ds,
                            const deq_rdata *rd, const deq_cfg *k, const isw_config *c) {
  int err = 0;
  int t = c->n_test, nt = 0;
  int64_t *iters = NULL;
  double *buf = NULL;
  /* the recorded counts: test_iters ∪ {N}, ascending */
  ISW_ALLOC(iters, t + 1);
  int inserted = 0;
  for (int j = 0; j < t; ++j) {
    if (!inserted && c->train_iters <= c->test_iters[j]) {
      if (c->train_iters < c->test_iters[j]) iters[nt++] = c->train_iters;
      inserted = 1;
    }
    iters[nt++] = c->test_iters[j];
  }
  if (!inserted) iters[nt++] = c->train_iters;
  int jn = 0;
  while (iters[jn] != c->train_iters) ++jn;
  ISW_ALLOC(buf, 6 * (int64_t)nt);
  double rho = NAN, norm = NAN;
  ISW_CALL(isw_deq_spectral_radius(&rho, m->W, m->h));
  ISW_CALL(isw_deq_spectral_norm(&norm, m->W, m->h));
  res->scalars[S_RHO_W] = rho;
  res->scalars[S_NORM_W] = norm;
  isw_deq_eval_opts eo = {.limit_tol = k->limit_tol, .limit_max_iter = k->limit_max_iter,
                          .rho_w = isfinite(rho) ? rho : INFINITY, .chunk = 0,
                          .solver = k->test_solver, .limit_solver = k->limit_solver};
  isw_deq_eval tr = {.loss = buf, .acc = buf + nt, .res_mean = NULL, .res_max = NULL};
  isw_deq_eval te = {.loss = buf + 2 * nt, .acc = buf + 3 * nt, .res_mean = buf + 4 * nt,
                     .res_max = buf + 5 * nt};
  ISW_CALL(isw_deq_evaluate(&tr, m, rd->x_train, rd->y_train, ds->label_train, ds->n_train, iters,
                            nt, &eo));
  ISW_CALL(isw_deq_evaluate(&te, m, rd->x_test, rd->y_test, ds->label_test, ds->n_test, iters,
                            nt, &eo));
  int64_t tt = c->n_test;
  for (int j = 0, jc = 0; j < nt; ++j) {
    if (jc >= t || iters[j] != c->test_iters[jc]) continue;
    res->curves[C_TRAIN * tt + jc] = tr.loss[j];
    res->curves[C_TEST * tt + jc] = te.loss[j];
    res->curves[C_TRAIN_ACC * tt + jc] = tr.acc[j];
    res->curves[C_TEST_ACC * tt + jc] = te.acc[j];
    res->curves[C_RES * tt + jc] = te.res_mean[j];
    res->curves[C_RES_MAX * tt + jc] = te.res_max[j];
    ++jc;
  }
  res->scalars[S_TRAIN_N] = tr.loss[jn];
  res->scalars[S_TEST_N] = te.loss[jn];
  res->scalars[S_TRAIN_ACC_N] = tr.acc[jn];
  res->scalars[S_TEST_ACC_N] = te.acc[jn];
  res->scalars[S_TRAIN_LIM] = tr.limit_loss;
  res->scalars[S_TEST_LIM] = te.limit_loss;
  res->scalars[S_TRAIN_ACC_LIM] = tr.limit_acc;
  res->scalars[S_TEST_ACC_LIM] = te.limit_acc;
  res->scalars[S_LIM_CONV] = tr.limit_converged && te.limit_converged ? 1.0 : 0.0;
  res->scalars[S_LIM_ITERS] = (double)(tr.limit_iters > te.limit_iters ? tr.limit_iters : te.limit_iters);
  res->scalars[S_LIM_RES] = fmax(tr.limit_residual, te.limit_residual);
  res->scalars[S_TEST_FALLBACKS] = (double)te.fallbacks;
  if (!isfinite(tr.limit_residual) || !isfinite(te.limit_residual)) res->scalars[S_LIM_RES] = NAN;
cleanup:
  free(iters);
  free(buf);
  return err;
}

/* Train and evaluate one config in the build's precision (isw_deq_train
 * for float64, isw_deq_train_s for float32): the family's run. */
int isw_deq_train(isw_result *res, const isw_config *c, MPI_Comm team);
int isw_deq_train(isw_result *res, const isw_config *c, MPI_Comm team) {
  (void)team;
  int err = 0;
  deq_cfg k;
  isw_dataset *ds = NULL;
  deq_rdata rd = {0};
  isw_real *probe_r = NULL;
  isw_deq_model *m = NULL;
  isw_deq_work *ws = NULL;
  isw_nn_adam *adam = NULL;
  isw_real *grad = NULL, *xb = NULL, *yb = NULL;
  double *probe = NULL;
  int32_t *lb = NULL;
  int64_t *perm = NULL;
  deq_cfg_read(&k, c);
  res->status = ISW_ST_OK;
  res->message[0] = '\0';
  double t0 = MPI_Wtime();

  int derr = deq_load(&ds, &k, c);
  if (derr == ISW_EUSAGE) { /* validate saw it fine: the file changed under us */
    res->status = ISW_ST_FAILED;
    snprintf(res->message, sizeof res->message, "%s", isw_error_message());
    isw_error_clear();
    goto cleanup;
  }
  ISW_CALL(derr);
  ISW_CALL(deq_rdata_make(&rd, ds));
  int64_t h = c->width, n_it = c->train_iters, ntr = ds->n_train;
  int64_t b = (k.batch == 0 || k.batch >= ntr) ? ntr : k.batch;
  ISW_CHECK(n_it >= 1, ISW_EINTERNAL, "deq needs train_iters >= 1, got %lld", (long long)n_it);
  ISW_CALL(isw_deq_model_create(&m, h, ds->d, ds->k, k.act, ds->classification));
  res->n_params = m->n_params;
  res->rho = (double)m->n_params / ((double)ntr * (double)ds->k);
  res->scalars[S_N_TRAIN] = (double)ds->n_train;
  res->scalars[S_N_TEST] = (double)ds->n_test;
  isw_rng rinit, rtrain;
  uint64_t tid = deq_train_id(c);
  isw_rng_init(&rinit, c->sweep_seed, tid, ISW_STREAM_INIT);
  isw_rng_init(&rtrain, c->sweep_seed, tid, ISW_STREAM_TRAIN);
  ISW_CALL(isw_deq_model_init(m, k.w_scale, &rinit));
  int64_t stored = k.grad == ISW_DEQ_PHANTOM ? k.bwd.phantom_k : k.grad == ISW_DEQ_JFB ? 1 : n_it;
  ISW_CALL(isw_deq_work_create(&ws, m, b, stored, k.grad));
  isw_rng rjac; /* Hutchinson probes: the next B·H normals of this stream at every step */
  isw_rng_init(&rjac, c->sweep_seed, tid, DEQ_STREAM_JAC);
  if (k.bwd.jac_reg > 0.0) {
    ISW_ALLOC(probe, b * h);
    ISW_ALLOC(probe_r, b * h);
    k.bwd.probe = probe_r;
  }
  int64_t p = m->n_params;
  ISW_ALLOC(grad, p);
  ISW_CALL(isw_nn_adam_create(&adam, p, k.lr));
  if (b < ntr) {
    ISW_ALLOC(perm, ntr);
    ISW_ALLOC(xb, b * ds->d);
    if (ds->classification)
      ISW_ALLOC(lb, b);
    else
      ISW_ALLOC(yb, b * ds->k);
  }

  /* Adam on the N-iteration loss */
  double bwd_iters = 0.0, loss = NAN, fwd_fb = 0.0, bwd_fb = 0.0, jac_last = NAN;
  int64_t pos = ntr, unconv = 0, step = 0;
  for (step = 1; step <= k.steps; ++step) {
    /* a stop request abandons the config: the sweep leaves it pending for --resume */
    ISW_CHECK(!isw_stop_requested(), ISW_EINTERRUPT, "deq: stopped by a signal at step %lld", (long long)step);
    const isw_real *xs = rd.x_train, *ys = rd.y_train;
    const int32_t *ls = ds->label_train;
    if (b < ntr) {
      if (pos + b > ntr) {
        isw_rng_permutation(&rtrain, perm, (size_t)ntr);
        pos = 0;
      }
      for (int64_t i = 0; i < b; ++i) {
        int64_t r = perm[pos + i];
        memcpy(xb + i * ds->d, rd.x_train + r * ds->d, (size_t)ds->d * sizeof *xb);
        if (lb) lb[i] = ds->label_train[r];
        if (yb) memcpy(yb + i * ds->k, rd.y_train + r * ds->k, (size_t)ds->k * sizeof *yb);
      }
      pos += b;
      xs = xb;
      ys = yb;
      ls = lb;
    }
    isw_deq_info info;
    if (probe) {
      isw_rng_normal_fill(&rjac, probe, (size_t)(b * h), 0.0, 1.0);
      for (int64_t i = 0; i < b * h; ++i) probe_r[i] = (isw_real)probe[i];
    }
    ISW_CALL(isw_deq_loss_grad(&loss, grad, &info, m, ws, xs, ys, ls, b, n_it, k.grad, &k.bwd));
    bwd_iters += (double)info.bwd_iters;
    unconv += !info.bwd_converged;
    fwd_fb += (double)info.fwd_fallbacks;
    bwd_fb += (double)info.bwd_fallbacks;
    jac_last = info.jac;
    const char *why = NULL;
    if (!isfinite(loss))
      why = "non-finite training loss";
    else if (!(info.state_max <= k.blowup))
      why = "state blow-up (max |z_N| above blowup)";
    else if (!all_finite(grad, p))
      why = "non-finite gradient";
    if (why) {
      res->status = ISW_ST_DIVERGED;
      res->scalars[S_DIV_STEP] = (double)step;
      snprintf(res->message, sizeof res->message, "%s at step %lld (loss %g, max |z_N| %g)", why,
               (long long)step, loss, info.state_max);
      break;
    }
    isw_nn_adam_step(adam, m->theta, grad);
  }
  int64_t done = step > k.steps ? k.steps : step;
  res->scalars[S_FINAL_BATCH_LOSS] = isfinite(loss) ? loss : NAN;
  if (k.grad == ISW_DEQ_IMPLICIT && done > 0) {
    res->scalars[S_BWD_ITERS] = bwd_iters / (double)done;
    res->scalars[S_BWD_UNCONV] = (double)unconv;
    res->scalars[S_BWD_FALLBACKS] = bwd_fb / (double)done;
  }
  if (done > 0) res->scalars[S_FWD_FALLBACKS] = fwd_fb / (double)done;
  if (k.bwd.jac_reg > 0.0) res->scalars[S_JAC_FINAL] = jac_last;
  double t1 = MPI_Wtime();
  res->train_seconds = t1 - t0;
  if (res->status == ISW_ST_OK) ISW_CALL(deq_evaluate_all(res, m, ds, &rd, &k, c));
  res->eval_seconds = MPI_Wtime() - t1;
cleanup:
  deq_rdata_free(&rd);
  free(probe_r);
  isw_data_destroy(&ds);
  isw_deq_model_destroy(&m);
  isw_deq_work_destroy(&ws);
  isw_nn_adam_destroy(&adam);
  free(grad);
  free(probe);
  free(xb);
  free(yb);
  free(lb);
  free(perm);
  return err;
}

#ifndef ISW_REAL_FLOAT /* the dispatch and the family table: built once */
int isw_deq_train_s(isw_result *res, const isw_config *c, MPI_Comm team); /* deq_s.c */

static int deq_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  if ((int)c->p[P_PRECISION].num == PREC_FLOAT32) return isw_deq_train_s(res, c, team);
  return isw_deq_train(res, c, team);
}

const isw_task isw_task_deq = {
    .name = "deq",
    .summary = "deep equilibrium model z = s(W z + U x + b): Picard, Anderson or Broyden inner solver; unrolled, implicit, JFB or phantom gradient",
    .params = deq_params,
    .n_params = P_N_PARAMS,
    .scalars = deq_scalars,
    .n_scalars = S_N_SCALARS,
    .curves = deq_curves,
    .n_curves = C_N_CURVES,
    .width_shapes_data = 0,
    .team_capable = 0,
    .validate = deq_validate,
    .cost = deq_cost,
    .run = deq_run,
};
#endif
