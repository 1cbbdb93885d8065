/* select.c — the `--only` expression (see select.h): parse it once against
 * the spec's families, then match configs.  Owns isw_select.  Must not:
 * print, touch MPI or the results file. */
#include "isweep/select.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"

typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } op_kind;

/* Where a condition's parameter lives in a config. */
enum { F_TASK = -4, F_WIDTH = -3, F_TRAIN = -2, F_SEED = -1 };

typedef struct {
  char name[64];
  op_kind op;
  char text[256]; /* the value as written */
  double num;     /* the value as a number, when `is_num` */
  int is_num;
} cond;

struct isw_select {
  cond *c; /* (n) */
  int n;
};

static int base_field(const char *name) {
  return !strcmp(name, "task") ? F_TASK : !strcmp(name, "width") ? F_WIDTH
         : !strcmp(name, "train_iters") ? F_TRAIN : !strcmp(name, "seed") ? F_SEED : 0;
}

/* Is `name` numeric in some family of spec (or a base numeric field)?
 * -1: no family has it. */
static int name_numeric(const isw_spec *spec, const char *name) {
  int f = base_field(name);
  if (f) return f != F_TASK;
  int found = -1;
  for (int g = 0; g < spec->n_groups; ++g) {
    const isw_task *t = spec->groups[g].task;
    int k = isw_task_param_index(t, name);
    if (k < 0) continue;
    int num = t->params[k].type == ISW_PARAM_INT || t->params[k].type == ISW_PARAM_REAL;
    if (found < 0 || num) found = num;
  }
  return found;
}

static void trim(char *s) {
  size_t n = strlen(s), a = 0;
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  while (isspace((unsigned char)s[a])) ++a;
  memmove(s, s + a, n - a + 1);
}

/* Parse one condition "NAME OP VALUE" of `expr` into *c. */
static int parse_cond(cond *c, const char *term, size_t len, const char *expr, const isw_spec *spec) {
  int err = 0;
  char t[400];
  ISW_CHECK(len < sizeof t, ISW_EUSAGE, "--only %s: a condition is longer than %zu characters", expr, sizeof t - 1);
  memcpy(t, term, len);
  t[len] = '\0';
  char *o = strpbrk(t, "=!<>");
  ISW_CHECK(o != NULL, ISW_EUSAGE,
            "--only %s: '%s' is not a condition (write NAME OP VALUE with OP one of = != < <= > >=, conditions "
            "joined by commas, e.g. task=deq,width<=64)", expr, t);
  size_t olen = (o[0] == '!' || o[0] == '<' || o[0] == '>' || o[0] == '=') && o[1] == '=' ? 2 : 1;
  ISW_CHECK(o[0] != '!' || olen == 2, ISW_EUSAGE, "--only %s: in '%s', '!' must be followed by '=' (!=)", expr, t);
  c->op = o[0] == '=' ? OP_EQ : o[0] == '!' ? OP_NE : o[0] == '<' ? (olen == 2 ? OP_LE : OP_LT)
          : (olen == 2 ? OP_GE : OP_GT);
  *o = '\0';
  snprintf(c->name, sizeof c->name, "%.63s", t);
  snprintf(c->text, sizeof c->text, "%.255s", o + olen);
  trim(c->name);
  trim(c->text);
  ISW_CHECK(c->name[0] && c->text[0] && !strpbrk(c->text, "=!<>"), ISW_EUSAGE,
            "--only %s: '%s%.*s%s' needs a name and a value around one operator (e.g. width<=64)", expr,
            c->name, (int)olen, term + (o - t), c->text);
  int num = name_numeric(spec, c->name);
  if (num < 0) {
    char known[1200];
    size_t used = (size_t)snprintf(known, sizeof known, "task, width, train_iters, seed");
    for (int g = 0; g < spec->n_groups; ++g) {
      const isw_task *tk = spec->groups[g].task;
      for (int k = 0; k < tk->n_params && used < sizeof known; ++k) {
        int dup = 0;
        for (int h = 0; h < g && !dup; ++h) dup = isw_task_param_index(spec->groups[h].task, tk->params[k].name) >= 0;
        if (!dup) used += (size_t)snprintf(known + used, sizeof known - used, ", %s", tk->params[k].name);
      }
    }
    ISW_CHECK(0, ISW_EUSAGE, "--only %s: unknown parameter '%s' (known in this spec: %s)", expr, c->name, known);
  }
  c->is_num = num;
  if (num) {
    char *end = NULL;
    errno = 0;
    c->num = strtod(c->text, &end);
    ISW_CHECK(!errno && end && !*end, ISW_EUSAGE, "--only %s: %s is numeric, '%s' is not a number", expr,
              c->name, c->text);
  }
cleanup:
  return err;
}

int isw_select_parse(isw_select **out, const char *expr, const isw_spec *spec) {
  int err = 0;
  isw_select *s = NULL;
  ISW_CHECK(out && expr && spec, ISW_EINTERNAL, "isw_select_parse: NULL argument");
  *out = NULL;
  ISW_ALLOC(s, 1);
  int n = 1;
  for (const char *p = expr; *p; ++p) n += *p == ',';
  ISW_ALLOC(s->c, n);
  for (const char *p = expr;;) {
    size_t len = strcspn(p, ",");
    ISW_CALL(parse_cond(&s->c[s->n], p, len, expr, spec));
    s->n++;
    if (!p[len]) break;
    p += len + 1;
  }
  *out = s;
  s = NULL;
cleanup:
  isw_select_destroy(&s);
  return err;
}

static int holds(op_kind op, int cmp) {
  switch (op) {
    case OP_EQ: return cmp == 0;
    case OP_NE: return cmp != 0;
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_GT: return cmp > 0;
    case OP_GE: return cmp >= 0;
  }
  return 0;
}

int isw_select_match(const isw_select *s, const isw_config *c) {
  for (int i = 0; s && i < s->n; ++i) {
    const cond *x = &s->c[i];
    int f = base_field(x->name), cmp = 0;
    double v = 0;
    const char *text = NULL;
    if (f == F_TASK) text = c->task->name;
    else if (f) v = (double)(f == F_WIDTH ? c->width : f == F_TRAIN ? c->train_iters : c->seed);
    else {
      int k = isw_task_param_index(c->task, x->name);
      if (k < 0) return 0;
      const isw_param_def *pd = &c->task->params[k];
      if (pd->type == ISW_PARAM_INT || pd->type == ISW_PARAM_REAL) v = c->p[k].num;
      else text = c->p[k].str ? c->p[k].str : "";
    }
    if (text) cmp = strcmp(text, x->text);
    else if (x->is_num) cmp = v < x->num ? -1 : v > x->num ? 1 : 0;
    else return 0;
    if (!holds(x->op, cmp)) return 0;
  }
  return 1;
}

void isw_select_destroy(isw_select **s) {
  if (!s || !*s) return;
  free((*s)->c);
  free(*s);
  *s = NULL;
}
