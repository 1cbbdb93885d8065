/* task.h — the contract between the sweep machinery and a task family.
 *
 * A task family (linear-meta, deq, maml, ...) is one isw_task value: its
 * parameters (each one a spec key and a results column; a list value makes it
 * a grid axis), the scalar and curve columns it fills, a cost model and a run
 * function.  Adding a family touches its own file and src/tasks/registry.c.
 *
 * Shapes: C = configs of a task group, T = number of test_iters. */
#ifndef ISWEEP_TASK_H
#define ISWEEP_TASK_H

#include <mpi.h>
#include <stdint.h>

#include "isweep/schema.h"

#define ISW_MAX_PARAMS 32   /* task parameters per family (not counting width/train_iters/seed) */
#define ISW_MESSAGE_LEN 160 /* length of a row's status message, '\0' included */

typedef enum {
  ISW_PARAM_INT,   /* integer, stored as int64 */
  ISW_PARAM_REAL,  /* double */
  ISW_PARAM_ENUM,  /* one of `choices`; stored as a fixed-length string */
  ISW_PARAM_STRING /* free text such as a file path; fixed-length string (255 max) */
} isw_param_type;

typedef struct {
  const char *name;    /* key in the task's spec section and the column name */
  isw_param_type type;
  const char *def;     /* default value text: one value or a list (then it is an axis) */
  double min, max;     /* inclusive bounds for INT and REAL */
  const char *choices; /* ENUM: allowed values separated by '|', e.g. "tanh|relu|identity" */
  int data;            /* nonzero: the value shapes the data, so it keys the data streams */
  const char *help;    /* one line: meaning and unit; shown by `isweep help TASK` */
} isw_param_def;

/* One parameter value of a config. */
typedef struct {
  double num;      /* INT and REAL values; ENUM: index into choices */
  const char *str; /* ENUM: the choice's name; STRING: the text; NULL otherwise.
                      Owned by the spec. */
} isw_value;

struct isw_task;

/* One trained model: a point of the grid.  Built by the spec (all fields but
 * cost and team, which the scheduler sets). */
typedef struct isw_config {
  const struct isw_task *task;
  int64_t width, train_iters, seed;
  isw_value p[ISW_MAX_PARAMS]; /* the task's parameters, in task->params order */
  const int64_t *test_iters;   /* (T) ascending, distinct, >= 0; shared by the group */
  int n_test;                  /* T */
  uint64_t sweep_seed;
  uint64_t id;      /* stable identity: hash of the task name and every parameter value
                       (width, train_iters, seed and all task parameters; not test_iters) */
  uint64_t data_id; /* hash of what shapes the data: task name, seed, the parameters
                       flagged `data`, and width when task->width_shapes_data */
  int group;        /* index of the task group in the spec and results file */
  int row;          /* row in that group */
  double cost;      /* predicted flop count (task->cost), set by the scheduler */
  int team;         /* ranks that run it together: 1, or the team size */
} isw_config;

typedef enum {
  ISW_ST_PENDING = 0,
  ISW_ST_RUNNING = 1,
  ISW_ST_OK = 2,
  ISW_ST_DIVERGED = 3,
  ISW_ST_FAILED = 4
} isw_status;

/* A scalar or curve column.  Everything after help is optional (designated
 * initializers; zero = unset) and is stored as the column's attributes
 * (schema.h), which is all the analysis package knows of a family:
 *   role   what it is (ISW_ROLE_METRIC when unset).  The curves with role
 *          LOSS and split "train"/"test" are the losses every statistic and
 *          verdict uses (one of each per family); ACCURACY the same for
 *          accuracy (a scalar of either role with at = "limit" is its
 *          n = infinity value); RESIDUAL a convergence curve drawn on a
 *          second axis; SPREAD a spread over samples; BOUND_TERM a term of the affine
 *          bound (term names which); VALIDITY a flag saying when the row (or
 *          its limit) is reliable: valid_min <= value / per <= valid_max.
 *   split  "train" or "test"; at  "N" or "limit" for scalars;
 *   per    '*'-separated parameter columns the value is divided by. */
typedef struct {
  const char *name; /* column name in the results file */
  const char *help; /* meaning and unit; stored as the column's "description" attribute */
  isw_role role;
  const char *split;
  const char *at;
  const char *term;
  const char *per;
  double valid_min, valid_max; /* VALIDITY only */
  const char *qualifies;       /* VALIDITY only: "limit" or "row" */
} isw_column_def;

/* What run() fills.  The caller allocates and NaN-fills scalars and curves. */
typedef struct {
  isw_status status;              /* ISW_ST_OK, ISW_ST_DIVERGED or ISW_ST_FAILED */
  char message[ISW_MESSAGE_LEN];  /* why, when not OK ("non-finite loss at step 812") */
  double rho;                     /* overparametrization ratio: n_params / constraints */
  int64_t n_params;               /* number of trained scalar parameters */
  double train_seconds, eval_seconds;
  double *scalars;                /* (task->n_scalars) */
  double *curves;                 /* (task->n_curves, T) row-major: curve k at n = test_iters[j]
                                     is curves[k * T + j] */
} isw_result;

typedef struct isw_task {
  const char *name;    /* spec section name and results group name */
  const char *summary; /* one line */
  const isw_param_def *params;
  int n_params;
  const isw_column_def *scalars; /* per-config scalars, e.g. the n = infinity limit */
  int n_scalars;
  const isw_column_def *curves;  /* curves over test_iters; curves[0] is "train_loss",
                                    curves[1] is "test_loss" for every task */
  int n_curves;
  int width_shapes_data; /* nonzero when the data depend on width (linear-meta) */
  int team_capable;      /* nonzero when run() can use a team of ranks */

  /* Checks beyond bounds (files exist, shapes, dataset sanity), on rank 0
   * before anything runs.  Returns 0 or ISW_EUSAGE with a message raised
   * through isw_error_raise ("what is wrong (what to do)").  May be NULL. */
  int (*validate)(const isw_config *c);
  /* Predicted flop count of one config (training + evaluation).  Pure. */
  double (*cost)(const isw_config *c);
  /* Train and evaluate one config.  Collective over `team` (MPI_COMM_SELF
   * unless c->team > 1); every member returns the same result.  A diverged
   * or failed model is a status in `res`, not an error: return non-zero only
   * for a broken environment (out of memory, MPI or LAPACK failure). */
  int (*run)(isw_result *res, const isw_config *c, MPI_Comm team);
} isw_task;

/* The registry (src/tasks/registry.c). */
extern const isw_task *const isw_tasks[];
extern const int isw_n_tasks;
/* The family called `name`, or NULL. */
const isw_task *isw_task_find(const char *name);
/* Index of a parameter of `task` by name, or -1. */
int isw_task_param_index(const isw_task *task, const char *name);
/* Index of a curve / scalar column of `task` by name, or -1. */
int isw_task_curve_index(const isw_task *task, const char *name);
int isw_task_scalar_index(const isw_task *task, const char *name);

/* Status names as stored in the file's enum type: "pending", "running", ... */
const char *isw_status_name(isw_status st);

/* Cooperative stop: nonzero once SIGTERM/SIGINT/SIGUSR1 arrived.  A task may
 * poll it in long loops; it need not. (src/signals.c) */
int isw_stop_requested(void);

#endif
