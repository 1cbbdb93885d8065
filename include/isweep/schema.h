/* schema.h — the results layout declared once: the schema version, string
 * widths, the per-row run columns, the status enum's names and the column
 * roles.  store.c writes from these tables, results.c and summary.c read
 * with them, and every column carries its role as an attribute so the
 * Python package (analysis/) derives everything from the file.
 *
 * Attributes written on every column (dataset) of a task group:
 *   description  what it holds (always)
 *   role         one of isw_schema_role_name(): "id", "dimension",
 *                "parameter", "status", "message", "provenance", "timing",
 *                "ratio", "size", "loss", "accuracy", "residual",
 *                "bound_term", "validity", "spread", "metric"
 *   unit         where it has one ("s" for timings)
 *   shapes_data  task parameters: 1 when the value shapes the data (a data
 *                set, its size), so rows differing in it never share a figure
 * and, on task columns that set them (isw_column_def in task.h):
 *   split        "train" or "test": which data the loss/accuracy/limit is on
 *   at           "N" (a scalar at n = train_iters) or "limit" (n = infinity)
 *   term         bound_term: "delta_sq", "perp_norm", "perp_cross", "energy"
 *   per          a value is divided by the product of these parameter columns
 *                ("tasks*query") before it is compared or plotted
 *   valid_min, valid_max, qualifies
 *                validity: the row is reliable when
 *                valid_min <= value / per <= valid_max (NaN: not applicable);
 *                qualifies = "limit" (only the n = infinity columns) or "row"
 * The root's `delta_n` attribute (int64, (K)) holds the resolved ΔN list. */
#ifndef ISWEEP_SCHEMA_H
#define ISWEEP_SCHEMA_H

#include <stddef.h>

#define ISW_SCHEMA_VERSION 1 /* roles and delta_n are additive attributes: same version */
#define ISW_HOST_LEN 64      /* host column width, '\0' included */
#define ISW_ENUM_LEN 32      /* ENUM parameter columns, bytes */
#define ISW_STRING_LEN 256   /* STRING parameter columns, bytes */

typedef enum {
  ISW_ROLE_METRIC = 0, /* any other per-config number (the default of a task column) */
  ISW_ROLE_ID,
  ISW_ROLE_DIMENSION,
  ISW_ROLE_PARAMETER,
  ISW_ROLE_STATUS,
  ISW_ROLE_MESSAGE,
  ISW_ROLE_PROVENANCE,
  ISW_ROLE_TIMING,
  ISW_ROLE_RATIO,
  ISW_ROLE_SIZE,
  ISW_ROLE_LOSS,
  ISW_ROLE_ACCURACY,
  ISW_ROLE_RESIDUAL,
  ISW_ROLE_BOUND_TERM,
  ISW_ROLE_VALIDITY,
  ISW_ROLE_SPREAD,
  ISW_ROLE_N
} isw_role;

/* Storage kinds of the run columns. */
typedef enum { ISW_KIND_I64, ISW_KIND_U64, ISW_KIND_I32, ISW_KIND_F64, ISW_KIND_STR, ISW_KIND_STATUS } isw_kind;

/* The per-row run columns, in this order in isw_schema_run_cols. */
enum {
  ISW_RUN_STATUS,
  ISW_RUN_MESSAGE,
  ISW_RUN_RANK,
  ISW_RUN_HOST,
  ISW_RUN_START,
  ISW_RUN_TRAIN_S,
  ISW_RUN_EVAL_S,
  ISW_RUN_RHO,
  ISW_RUN_NPARAMS,
  ISW_RUN_N
};

typedef struct {
  const char *name;
  isw_kind kind;
  size_t len; /* ISW_KIND_STR: bytes, '\0' included */
  isw_role role;
  const char *unit; /* or NULL */
  const char *help;
} isw_run_col;

extern const isw_run_col isw_schema_run_cols[ISW_RUN_N];

/* The columns every group has besides the run, parameter and task columns. */
extern const char isw_schema_help_config_id[];
extern const char isw_schema_help_test_iters[];
/* The three axes every family has: width, train_iters, seed. */
extern const char *const isw_schema_axis_names[3];
extern const char *const isw_schema_axis_help[3];

/* The attribute value of a role ("loss", ...); "metric" for an unknown one. */
const char *isw_schema_role_name(isw_role role);

#endif
