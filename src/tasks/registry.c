/* registry.c — the table of task families, and name look-ups over it.
 * Adding a family: declare its isw_task here and list it in isw_tasks. */
#include <string.h>

#include "isweep/task.h"

extern const isw_task isw_task_linear_meta;
extern const isw_task isw_task_maml;
extern const isw_task isw_task_deq;
extern const isw_task isw_task_exec;
extern const isw_task isw_task_imaml;

const isw_task *const isw_tasks[] = {&isw_task_linear_meta, &isw_task_maml, &isw_task_deq,
                                      &isw_task_imaml, &isw_task_exec};
const int isw_n_tasks = (int)(sizeof isw_tasks / sizeof isw_tasks[0]);

const isw_task *isw_task_find(const char *name) {
  for (int i = 0; i < isw_n_tasks; ++i)
    if (strcmp(isw_tasks[i]->name, name) == 0) return isw_tasks[i];
  return NULL;
}

int isw_task_param_index(const isw_task *task, const char *name) {
  for (int i = 0; i < task->n_params; ++i)
    if (strcmp(task->params[i].name, name) == 0) return i;
  return -1;
}

static int column_index(const isw_column_def *cols, int n, const char *name) {
  for (int i = 0; i < n; ++i)
    if (strcmp(cols[i].name, name) == 0) return i;
  return -1;
}

int isw_task_curve_index(const isw_task *task, const char *name) {
  return column_index(task->curves, task->n_curves, name);
}

int isw_task_scalar_index(const isw_task *task, const char *name) {
  return column_index(task->scalars, task->n_scalars, name);
}

const char *isw_status_name(isw_status st) {
  switch (st) {
    case ISW_ST_PENDING: return "pending";
    case ISW_ST_RUNNING: return "running";
    case ISW_ST_OK: return "ok";
    case ISW_ST_DIVERGED: return "diverged";
    case ISW_ST_FAILED: return "failed";
  }
  return "unknown";
}
