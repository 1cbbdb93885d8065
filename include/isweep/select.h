/* select.h — `--only EXPR`: which configs of a spec a run or plan takes.
 *
 * EXPR is a comma-separated list of conditions NAME OP VALUE, all of which
 * must hold ("," = and): OP is one of = != < <= > >= (== is =).  NAME is
 * `task`, `width`, `train_iters`, `seed` or a parameter of one of the spec's
 * families.  Numeric parameters (width, train_iters, seed, int and real
 * parameters) compare as numbers, the others (task, choices, texts) as text
 * (byte order for < and >).  A condition on a parameter a config's family
 * does not have is false for that config, so `grad=implicit` selects only
 * deq configs.  Nothing here touches MPI or the results file. */
#ifndef ISWEEP_SELECT_H
#define ISWEEP_SELECT_H

#include "isweep/spec.h"
#include "isweep/task.h"

typedef struct isw_select isw_select;

/* Parse `expr` against the families of `spec`.  ISW_EUSAGE with one line
 * "--only EXPR: what is wrong (what is allowed)" on a syntax error, an
 * unknown parameter (the message lists the known ones) or a value that is
 * not a number where the parameter is numeric.  *out owned by the caller. */
int isw_select_parse(isw_select **out, const char *expr, const isw_spec *spec);
/* Nonzero when config c meets every condition. */
int isw_select_match(const isw_select *s, const isw_config *c);
/* NULL-safe; NULLs the pointer. */
void isw_select_destroy(isw_select **s);

#endif
