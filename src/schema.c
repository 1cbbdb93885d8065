/* schema.c — the results layout's tables (schema.h): run columns, their
 * roles and units, the axis columns' descriptions, role names.  Pure data;
 * no HDF5 here (store.c writes it, results.c and summary.c read with it). */
#include "isweep/schema.h"

#include "isweep/task.h"

const isw_run_col isw_schema_run_cols[ISW_RUN_N] = {
    [ISW_RUN_STATUS] = {"status", ISW_KIND_STATUS, 0, ISW_ROLE_STATUS, NULL,
                        "pending, running, ok, diverged or failed; written after the row's data"},
    [ISW_RUN_MESSAGE] = {"message", ISW_KIND_STR, ISW_MESSAGE_LEN, ISW_ROLE_MESSAGE, NULL,
                         "why the row diverged or failed; empty when ok"},
    [ISW_RUN_RANK] = {"rank", ISW_KIND_I32, 0, ISW_ROLE_PROVENANCE, NULL,
                      "MPI rank that ran the config; -1 until it starts"},
    [ISW_RUN_HOST] = {"host", ISW_KIND_STR, ISW_HOST_LEN, ISW_ROLE_PROVENANCE, NULL, "host name of that rank"},
    [ISW_RUN_START] = {"start_time", ISW_KIND_F64, 0, ISW_ROLE_PROVENANCE, "s",
                       "when the config started, Unix seconds (UTC)"},
    [ISW_RUN_TRAIN_S] = {"train_seconds", ISW_KIND_F64, 0, ISW_ROLE_TIMING, "s",
                         "wall-clock seconds spent training"},
    [ISW_RUN_EVAL_S] = {"eval_seconds", ISW_KIND_F64, 0, ISW_ROLE_TIMING, "s",
                        "wall-clock seconds spent evaluating every test_iters value"},
    [ISW_RUN_RHO] = {"rho", ISW_KIND_F64, 0, ISW_ROLE_RATIO, NULL,
                     "overparametrization ratio: n_params / number of scalar constraints in the training data"},
    [ISW_RUN_NPARAMS] = {"n_params", ISW_KIND_I64, 0, ISW_ROLE_SIZE, NULL,
                         "number of trained scalar parameters; -1 until written"},
};

const char isw_schema_help_config_id[] =
    "stable config identity: hash of the task name and every parameter value (not test_iters); "
    "dimension scale of dim 0 of every per-config column";
const char isw_schema_help_test_iters[] =
    "n: inner iterations used at evaluation; dimension scale of dim 1 of every curve";

const char *const isw_schema_axis_names[3] = {"width", "train_iters", "seed"};
const char *const isw_schema_axis_help[3] = {
    "model size: hidden state size (deq), hidden layer size (maml), dimension of theta (linear-meta)",
    "N: inner iterations used during training",
    "seed axis value; with sweep_seed and config_id it keys every random stream",
};

const char *isw_schema_role_name(isw_role role) {
  static const char *const names[ISW_ROLE_N] = {
      [ISW_ROLE_METRIC] = "metric",       [ISW_ROLE_ID] = "id",
      [ISW_ROLE_DIMENSION] = "dimension", [ISW_ROLE_PARAMETER] = "parameter",
      [ISW_ROLE_STATUS] = "status",       [ISW_ROLE_MESSAGE] = "message",
      [ISW_ROLE_PROVENANCE] = "provenance", [ISW_ROLE_TIMING] = "timing",
      [ISW_ROLE_RATIO] = "ratio",         [ISW_ROLE_SIZE] = "size",
      [ISW_ROLE_LOSS] = "loss",           [ISW_ROLE_ACCURACY] = "accuracy",
      [ISW_ROLE_RESIDUAL] = "residual",
      [ISW_ROLE_BOUND_TERM] = "bound_term", [ISW_ROLE_VALIDITY] = "validity",
      [ISW_ROLE_SPREAD] = "spread",
  };
  return role >= 0 && role < ISW_ROLE_N && names[role] ? names[role] : "metric";
}
