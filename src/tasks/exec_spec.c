/* exec_spec.c — build the per-spec exec task from its [exec] section:
 * the command template (split into words, placeholders checked), the
 * declared curves and scalars (train_loss and test_loss first), the
 * parameters (every other key, type inferred from its values), the cost
 * expression, timeout, grace and shell; and the checks of the program on
 * rank 0 (validate).  Also the placeholder expansion and the cost evaluator.
 *
 * Must not: touch MPI, the results file or the file system, except
 * validate(), which only looks the program up (access/stat).  Every user
 * error is ISW_EUSAGE "LOCATION: what is wrong (what to do)". */
#define _GNU_SOURCE /* vasprintf */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/exec.h"
#include "isweep/rng.h"

/* The keys the family consumes itself, in canonical order. */
enum {
  OK_COMMAND, OK_CURVES, OK_SCALARS, OK_ROLES, OK_TIMEOUT, OK_GRACE, OK_SHELL, OK_COST,
  OK_CONT, /* command_2 ... command_9: the command continued (a spec line is short) */
  N_OWN = OK_CONT + 8
};
static const char *const own_names[N_OWN] = {"command",   "curves",    "scalars",   "roles",     "timeout",
                                             "grace",     "shell",     "cost",      "command_2", "command_3",
                                             "command_4", "command_5", "command_6", "command_7", "command_8",
                                             "command_9"};
/* Section keys that are grid axes, handled by the spec parser. */
static const char *const axis_names[] = {"widths", "train_iters", "test_iters", "seeds"};
/* Placeholders every command may use besides its parameters. */
static const char *const builtin_placeholders[] = {"width",   "train_iters", "seed",   "test_iters", "config_id",
                                                   "config_seed", "workdir", "output", "launch_dir"};
/* Names taken by results columns or placeholders, refused as parameter,
 * curve or scalar names. */
static const char *const reserved[] = {"width",      "train_iters", "seed",        "test_iters",   "config_id",
                                       "config_seed", "workdir",    "output",      "launch_dir",   "status",
                                       "message",    "rank",        "host",        "start_time",   "train_seconds",
                                       "eval_seconds", "rho",       "n_params",    "n_test"};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The built task and everything it owns, freed in one place. */
typedef struct {
  isw_task task; /* first: destroy() casts back */
  isw_exec x;
  isw_param_def params[ISW_MAX_PARAMS];
  isw_column_def *curves, *scalars;
  const char *own_values[N_OWN];
  char **strs; /* every string the task owns */
  int n_strs, cap_strs;
} exec_task;

static int in_list(const char *const *list, int n, const char *s, size_t len) {
  for (int i = 0; i < n; ++i)
    if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0) return 1;
  return 0;
}

/* Keep s (heap) in the task's string list; NULL-safe failure. */
static char *keep(exec_task *e, char *s) {
  if (!s) return NULL;
  if (e->n_strs == e->cap_strs) {
    int cap = e->cap_strs ? 2 * e->cap_strs : 32;
    char **t = realloc(e->strs, (size_t)cap * sizeof *t);
    if (!t) {
      free(s);
      return NULL;
    }
    e->strs = t;
    e->cap_strs = cap;
  }
  e->strs[e->n_strs++] = s;
  return s;
}

static char *keepf(exec_task *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *keepf(exec_task *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  return keep(e, s);
}

static void exec_destroy(isw_task *task) {
  if (!task) return;
  exec_task *e = (exec_task *)task;
  for (int i = 0; i < e->n_strs; ++i) free(e->strs[i]);
  free(e->strs);
  for (int i = 0; i < e->x.n_words; ++i) free(e->x.words[i]);
  free(e->x.words);
  free(e->curves);
  free(e->scalars);
  free(e);
}

static char *trim_dup(const char *s) {
  while (isspace((unsigned char)*s)) ++s;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) --n;
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static int is_ident(const char *s, size_t n) {
  if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; ++i)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
  return 1;
}

/* Raise "WHERE: message" as ISW_EUSAGE. */
#define FAIL(where, ...)                                                                        \
  do {                                                                                          \
    char fail_m_[700];                                                                          \
    snprintf(fail_m_, sizeof fail_m_, __VA_ARGS__);                                             \
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s: %s", (where), fail_m_); \
    goto cleanup;                                                                               \
  } while (0)

/* ---- command words ------------------------------------------------------ */

int isw_exec_split(char ***words, int *n_words, const char *text, char *why, size_t n) {
  char **w = NULL, *cur = NULL;
  int nw = 0, cap = 0, in_word = 0;
  size_t len = 0, tl = strlen(text);
  cur = malloc(tl + 1);
  if (!cur) goto oom;
  for (const char *p = text;; ++p) {
    if (*p == '\0' || isspace((unsigned char)*p)) {
      if (in_word) {
        if (nw == cap) {
          cap = cap ? 2 * cap : 8;
          char **t = realloc(w, (size_t)cap * sizeof *t);
          if (!t) goto oom;
          w = t;
        }
        cur[len] = '\0';
        w[nw] = strdup(cur);
        if (!w[nw]) goto oom;
        ++nw;
        len = 0;
        in_word = 0;
      }
      if (*p == '\0') break;
      continue;
    }
    in_word = 1;
    if (*p == '\\' && p[1]) {
      cur[len++] = *++p;
    } else if (*p == '\'' || *p == '"') {
      char q = *p;
      const char *end = p + 1;
      while (*end && *end != q) end += q == '"' && *end == '\\' && (end[1] == '"' || end[1] == '\\') ? 2 : 1;
      if (!*end) {
        snprintf(why, n, "unterminated %s quote", q == '\'' ? "single" : "double");
        goto bad;
      }
      for (const char *s = p + 1; s < end; ++s) {
        if (q == '"' && *s == '\\' && s + 1 < end && (s[1] == '"' || s[1] == '\\')) ++s;
        cur[len++] = *s;
      }
      p = end;
    } else {
      cur[len++] = *p;
    }
  }
  free(cur);
  *words = w;
  *n_words = nw;
  return 0;
oom:
  snprintf(why, n, "out of memory");
bad:
  free(cur);
  for (int i = 0; i < nw; ++i) free(w[i]);
  free(w);
  *words = NULL;
  *n_words = 0;
  return 1;
}

/* Check every placeholder of text: known names only, braces balanced.
 * used[p] is set for each parameter named.  Returns 0 or 1 with why. */
static int check_placeholders(const char *text, const isw_param_def *params, int n_params, int *used, char *why,
                              size_t n) {
  for (const char *p = text; *p; ++p) {
    if (*p == '{' && p[1] == '{') {
      ++p;
      continue;
    }
    if (*p == '}' && p[1] == '}') {
      ++p;
      continue;
    }
    if (*p == '}') {
      snprintf(why, n, "unmatched '}' in the command (write }} for a literal brace)");
      return 1;
    }
    if (*p != '{') continue;
    const char *end = strchr(p + 1, '}');
    const char *open = strchr(p + 1, '{');
    if (!end || (open && open < end)) {
      snprintf(why, n, "unterminated placeholder '{' in the command (write {{ for a literal brace)");
      return 1;
    }
    size_t len = (size_t)(end - p - 1);
    if (len == 0) {
      snprintf(why, n, "empty placeholder {} in the command (name a parameter, e.g. {width})");
      return 1;
    }
    int found = in_list(builtin_placeholders, N_OF(builtin_placeholders), p + 1, len);
    for (int i = 0; i < n_params && !found; ++i)
      if (strlen(params[i].name) == len && strncmp(params[i].name, p + 1, len) == 0) found = 1, used[i] = 1;
    if (!found) {
      char known[600] = "";
      size_t k = 0;
      for (int i = 0; i < N_OF(builtin_placeholders) && k < sizeof known; ++i)
        k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "", builtin_placeholders[i]);
      for (int i = 0; i < n_params && k < sizeof known; ++i)
        k += (size_t)snprintf(known + k, sizeof known - k, ", %s", params[i].name);
      snprintf(why, n, "unknown placeholder {%.*s} in the command (known: %s; a parameter is any further key "
               "of the section)", (int)(len > 60 ? 60 : len), p + 1, known);
      return 1;
    }
    p = end;
  }
  return 0;
}

/* ---- the cost expression --------------------------------------------------- */

typedef struct {
  const char *s, *p;
  isw_expr_lookup lookup;
  void *user;
  char *why;
  size_t n;
  int bad;
} expr;

static void skip_ws(expr *e) {
  while (isspace((unsigned char)*e->p)) ++e->p;
}

static double expr_sum(expr *e);

static double expr_bad(expr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double expr_bad(expr *e, const char *fmt, ...) {
  if (!e->bad) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, e->n, fmt, ap);
    va_end(ap);
  }
  e->bad = 1;
  return NAN;
}

static double expr_primary(expr *e) {
  skip_ws(e);
  if (e->bad) return NAN;
  if (*e->p == '(') {
    ++e->p;
    double v = expr_sum(e);
    skip_ws(e);
    if (*e->p != ')') return expr_bad(e, "missing ')' at column %d", (int)(e->p - e->s) + 1);
    ++e->p;
    return v;
  }
  if (isdigit((unsigned char)*e->p) || *e->p == '.') {
    char *end = NULL;
    double v = strtod(e->p, &end);
    if (end == e->p) return expr_bad(e, "bad number at column %d", (int)(e->p - e->s) + 1);
    e->p = end;
    return v;
  }
  if (isalpha((unsigned char)*e->p) || *e->p == '_') {
    const char *a = e->p;
    while (isalnum((unsigned char)*e->p) || *e->p == '_') ++e->p;
    double v = NAN;
    int rc = e->lookup(&v, a, (size_t)(e->p - a), e->user);
    if (rc == 1)
      return expr_bad(e, "unknown name '%.*s' (use width, train_iters, seed, test_iters = max(test_iters), "
                         "n_test, or a numeric parameter)", (int)(e->p - a), a);
    if (rc == 2) return expr_bad(e, "parameter '%.*s' is text, not a number", (int)(e->p - a), a);
    return v;
  }
  if (!*e->p) return expr_bad(e, "the expression ends where a number, name or '(' is expected");
  return expr_bad(e, "unexpected '%c' at column %d", *e->p, (int)(e->p - e->s) + 1);
}

static double expr_unary(expr *e);

/* power := primary ('^' unary)?   (right-associative) */
static double expr_power(expr *e) {
  double b = expr_primary(e);
  skip_ws(e);
  if (*e->p == '^') {
    ++e->p;
    return pow(b, expr_unary(e));
  }
  return b;
}

static double expr_unary(expr *e) {
  skip_ws(e);
  if (*e->p == '-') return ++e->p, -expr_unary(e);
  if (*e->p == '+') return ++e->p, expr_unary(e);
  return expr_power(e);
}

static double expr_product(expr *e) {
  double v = expr_unary(e);
  for (;;) {
    skip_ws(e);
    if (*e->p == '*') ++e->p, v *= expr_unary(e);
    else if (*e->p == '/') ++e->p, v /= expr_unary(e);
    else return v;
  }
}

static double expr_sum(expr *e) {
  double v = expr_product(e);
  for (;;) {
    skip_ws(e);
    if (*e->p == '+') ++e->p, v += expr_product(e);
    else if (*e->p == '-') ++e->p, v -= expr_product(e);
    else return v;
  }
}

int isw_expr_eval(double *out, const char *text, isw_expr_lookup lookup, void *user, char *why, size_t n) {
  expr e = {text, text, lookup, user, why, n, 0};
  skip_ws(&e);
  if (!*e.p) {
    *out = NAN;
    snprintf(why, n, "the expression is empty");
    return 1;
  }
  double v = expr_sum(&e);
  skip_ws(&e);
  if (!e.bad && *e.p) expr_bad(&e, "unexpected '%c' at column %d", *e.p, (int)(e.p - e.s) + 1);
  *out = e.bad ? NAN : v;
  return e.bad;
}

/* Names of a config for the cost expression. */
static int config_lookup(double *v, const char *name, size_t len, void *user) {
  const isw_config *c = user;
  const isw_task *t = c->task;
#define IS(s) (strlen(s) == len && strncmp(s, name, len) == 0)
  if (IS("width")) return *v = (double)c->width, 0;
  if (IS("train_iters")) return *v = (double)c->train_iters, 0;
  if (IS("seed")) return *v = (double)c->seed, 0;
  if (IS("n_test")) return *v = (double)c->n_test, 0;
  if (IS("test_iters")) return *v = c->n_test ? (double)c->test_iters[c->n_test - 1] : 0.0, 0;
  for (int i = 0; i < t->n_params; ++i)
    if (IS(t->params[i].name)) {
      if (t->params[i].type == ISW_PARAM_STRING) return 2;
      *v = c->p[i].num;
      return 0;
    }
#undef IS
  return 1;
}

static double exec_cost(const isw_config *c) {
  const isw_exec *x = c->task->ctx;
  if (!x->cost) return 1.0;
  double v = NAN;
  char why[200];
  if (isw_expr_eval(&v, x->cost, config_lookup, (void *)c, why, sizeof why) || !isfinite(v) || v < 0) return 0.0;
  return v;
}

/* ---- validate: the program exists (rank 0, before anything runs) ---------- */

static int executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* A usage error without location: isw_spec_validate prefixes the section's. */
#define NOLOC(...)                                                              \
  do {                                                                          \
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, __VA_ARGS__); \
    goto cleanup;                                                               \
  } while (0)

static int exec_validate(const isw_config *c) {
  int err = 0;
  const isw_exec *x = c->task->ctx;
  const char *prog = x->shell ? "/bin/sh" : x->words[0];
  if (strchr(prog, '/')) {
    struct stat st;
    if (stat(prog, &st) != 0)
      NOLOC("program '%.200s' in exec.command does not exist (give its path relative to the directory isweep "
           "runs in, or a name on PATH)", prog);
    if (!executable(prog))
      NOLOC("program '%.200s' in exec.command is not an executable file (chmod +x it, or run it through its "
           "interpreter, e.g. python3 %.200s)", prog, prog);
    goto cleanup;
  }
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path; *p;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    char full[4096];
    snprintf(full, sizeof full, "%.*s/%s", (int)len, len ? p : ".", prog);
    if (executable(full)) goto cleanup;
    p += len;
    if (*p == ':') ++p;
  }
  NOLOC("program '%.200s' in exec.command is not found on PATH (install it, or give its path, e.g. ./%.200s)",
       prog, prog);
cleanup:
  return err;
}

/* ---- placeholders ----------------------------------------------------------- */

unsigned long long isw_exec_config_seed(const isw_config *c) {
  return (unsigned long long)(isw_hash64(&c->id, sizeof c->id, c->sweep_seed ^ 0x65786563ULL) >> 1);
}

/* Shortest "%.*g" that reads back as x. */
static void real_text(char *buf, size_t n, double x) {
  for (int p = 1; p <= 17; ++p) {
    snprintf(buf, n, "%.*g", p, x);
    if (strtod(buf, NULL) == x) return;
  }
}

typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + n + 1) cap *= 2;
    char *t = realloc(b->s, cap);
    if (!t) {
      b->oom = 1;
      return;
    }
    b->s = t;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

/* One value, single-quoted for the shell when quote != 0. */
static void put_value(buf *b, const char *v, int quote) {
  if (!quote) {
    put(b, v, strlen(v));
    return;
  }
  put(b, "'", 1);
  for (const char *p = v; *p; ++p) {
    if (*p == '\'') put(b, "'\\''", 4);
    else put(b, p, 1);
  }
  put(b, "'", 1);
}

int isw_exec_expand(char **out, const char *text, const isw_config *c, const isw_exec_paths *paths, int quote) {
  int err = 0;
  buf b = {0};
  char *list = NULL;
  const isw_task *t = c->task;
  *out = NULL;
  for (const char *p = text; *p; ++p) {
    if ((*p == '{' && p[1] == '{') || (*p == '}' && p[1] == '}')) {
      put(&b, p, 1);
      ++p;
      continue;
    }
    if (*p != '{') {
      put(&b, p, 1);
      continue;
    }
    const char *end = strchr(p + 1, '}');
    ISW_CHECK(end != NULL, ISW_EUSAGE, "unterminated placeholder in '%.80s'", text);
    size_t len = (size_t)(end - p - 1);
    const char *name = p + 1;
    char v[64];
    const char *val = NULL;
#define IS(s) (strlen(s) == len && strncmp(s, name, len) == 0)
    if (IS("width")) snprintf(v, sizeof v, "%" PRId64, c->width), val = v;
    else if (IS("train_iters")) snprintf(v, sizeof v, "%" PRId64, c->train_iters), val = v;
    else if (IS("seed")) snprintf(v, sizeof v, "%" PRId64, c->seed), val = v;
    else if (IS("config_id")) snprintf(v, sizeof v, "%016" PRIx64, c->id), val = v;
    else if (IS("config_seed")) snprintf(v, sizeof v, "%llu", isw_exec_config_seed(c)), val = v;
    else if (IS("workdir")) val = paths->workdir;
    else if (IS("output")) val = paths->output;
    else if (IS("launch_dir")) val = paths->launch_dir;
    else if (IS("test_iters")) {
      buf l = {0};
      for (int i = 0; i < c->n_test; ++i) {
        snprintf(v, sizeof v, "%s%" PRId64, i ? "," : "", c->test_iters[i]);
        put(&l, v, strlen(v));
      }
      ISW_CHECK(!l.oom, ISW_ENOMEM, "out of memory expanding {test_iters}");
      free(list);
      list = l.s ? l.s : strdup("");
      val = list;
    } else {
      for (int i = 0; i < t->n_params && !val; ++i) {
        if (!IS(t->params[i].name)) continue;
        switch (t->params[i].type) {
          case ISW_PARAM_INT: snprintf(v, sizeof v, "%lld", (long long)c->p[i].num), val = v; break;
          case ISW_PARAM_REAL: real_text(v, sizeof v, c->p[i].num), val = v; break;
          default: val = c->p[i].str ? c->p[i].str : ""; break;
        }
      }
    }
#undef IS
    ISW_CHECK(val != NULL, ISW_EUSAGE, "unknown placeholder {%.*s}", (int)len, name);
    put_value(&b, val, quote);
    p = end;
  }
  if (!b.s) put(&b, "", 0);
  ISW_CHECK(!b.oom, ISW_ENOMEM, "out of memory expanding the command");
  *out = b.s;
  b.s = NULL;
cleanup:
  free(b.s);
  free(list);
  return err;
}

/* ---- roles ---------------------------------------------------------------- */

const char *isw_exec_curve_role(const char *name) {
  if (strstr(name, "loss")) return "loss";
  if (strstr(name, "acc")) return "accuracy";
  if (strncmp(name, "residual", 8) == 0) return "residual";
  return "metric";
}

const char *isw_exec_curve_split(const char *name) {
  if (strncmp(name, "train_", 6) == 0) return "train";
  if (strncmp(name, "test_", 5) == 0) return "test";
  return NULL;
}

static const char *const role_names[] = {"loss", "accuracy", "residual", "metric"};
static const isw_role role_values[] = {ISW_ROLE_LOSS, ISW_ROLE_ACCURACY, ISW_ROLE_RESIDUAL, ISW_ROLE_METRIC};

/* Give curve k the role called `role` (one of role_names) and its split by name. */
static void set_role(isw_column_def *col, const char *role) {
  for (int i = 0; i < N_OF(role_names); ++i)
    if (!strcmp(role_names[i], role)) col->role = role_values[i];
  col->split = isw_exec_curve_split(col->name);
}

/* ---- build ---------------------------------------------------------------- */

/* Split a comma list into trimmed names (heap, kept by e). */
static int split_names(exec_task *e, const char *text, const char *where, const char *key, char ***out, int *n) {
  int err = 0;
  char **v = NULL;
  int k = 0, cap = 0;
  const char *p = text;
  for (;;) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    while (len && isspace((unsigned char)*p)) ++p, --len;
    while (len && isspace((unsigned char)p[len - 1])) --len;
    if (!len && !c && k == 0) break;
    if (!is_ident(p, len))
      FAIL(where, "'%.*s' in exec.%s is not a name (letters, digits and '_', not starting with a digit)",
           (int)(len > 60 ? 60 : len), p, key);
    for (int i = 0; i < k; ++i)
      if (strlen(v[i]) == len && strncmp(v[i], p, len) == 0)
        FAIL(where, "'%s' is listed twice in exec.%s (list each name once)", v[i], key);
    if (k == cap) {
      cap = cap ? 2 * cap : 8;
      char **t = realloc(v, (size_t)cap * sizeof *t);
      ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory");
      v = t;
    }
    v[k] = keepf(e, "%.*s", (int)len, p);
    ISW_CHECK(v[k] != NULL, ISW_ENOMEM, "out of memory");
    ++k;
    if (!c) break;
    p = c + 1;
  }
  *out = v;
  *n = k;
  v = NULL;
cleanup:
  free(v);
  return err;
}

/* The type a parameter's values call for: every item (and range part) an
 * integer -> INT, a number -> REAL, else STRING. */
static isw_param_type infer_type(const char *value) {
  int all_int = 1, all_num = 1;
  char *copy = strdup(value);
  if (!copy) return ISW_PARAM_STRING;
  for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
    int part = 0;
    for (char *q = item, *next; q; q = next, ++part) {
      next = strchr(q, ':');
      if (next) *next++ = '\0';
      char *t = q;
      while (isspace((unsigned char)*t)) ++t;
      size_t len = strlen(t);
      while (len && isspace((unsigned char)t[len - 1])) t[--len] = '\0';
      if (part == 2 && (t[0] == 'x' || t[0] == 'X')) ++t;
      char *end = NULL;
      errno = 0;
      (void)strtoll(t, &end, 10);
      int is_int = *t && end && !*end && !errno;
      errno = 0;
      double d = strtod(t, &end);
      int is_num = *t && end && !*end && !errno && isfinite(d);
      if (!is_int) all_int = 0;
      if (!is_num) all_num = 0;
    }
  }
  free(copy);
  return all_int ? ISW_PARAM_INT : all_num ? ISW_PARAM_REAL : ISW_PARAM_STRING;
}

static int yes_no(const char *v, int *out) {
  if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on")) return *out = 1, 1;
  if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off")) return *out = 0, 1;
  return 0;
}

static int seconds_value(const char *v, double *out) {
  char *end = NULL;
  errno = 0;
  double d = strtod(v, &end);
  if (!*v || !end || *end || errno || !isfinite(d) || d < 0) return 0;
  *out = d;
  return 1;
}

/* Build-time names for the cost expression: 1 for every number. */
static int build_lookup(double *v, const char *name, size_t len, void *user) {
  const exec_task *e = user;
  const char *known[] = {"width", "train_iters", "seed", "test_iters", "n_test"};
  if (in_list(known, N_OF(known), name, len)) return *v = 1.0, 0;
  for (int i = 0; i < e->task.n_params; ++i)
    if (strlen(e->params[i].name) == len && strncmp(e->params[i].name, name, len) == 0)
      return e->params[i].type == ISW_PARAM_STRING ? 2 : (*v = 1.0, 0);
  return 1;
}

int isw_exec_build(isw_task **out, const isw_task_section *sec) {
  int err = 0;
  exec_task *e = NULL;
  char **curves = NULL, **scalars = NULL, **rolev = NULL;
  int n_curves = 0, n_scalars = 0, n_roles = 0;
  int own_at[N_OWN];
  char why[700];
  *out = NULL;
  for (int k = 0; k < N_OWN; ++k) own_at[k] = -1;
  ISW_ALLOC(e, 1);
  e->task = isw_task_exec;
  e->task.build = NULL;
  e->task.destroy = exec_destroy;
  e->task.ctx = &e->x;
  e->x.grace = 10.0;
  e->x.output_ref = sec->output_ref;

  /* sort the section's keys: own keys, axes (the spec's), parameters */
  for (int i = 0; i < sec->n; ++i) {
    const char *key = sec->keys[i];
    int k = 0;
    while (k < N_OWN && strcmp(own_names[k], key) != 0) ++k;
    if (k < N_OWN) {
      own_at[k] = i;
      continue;
    }
    if (in_list(axis_names, N_OF(axis_names), key, strlen(key))) continue;
    if (!is_ident(key, strlen(key)))
      FAIL(sec->wheres[i], "parameter '%.60s' in [%s] is not a name (letters, digits and '_', not starting with "
           "a digit: it becomes a placeholder {name} and a results column)", key, sec->name);
    if (in_list(reserved, N_OF(reserved), key, strlen(key)))
      FAIL(sec->wheres[i], "parameter '%s' in [%s] clashes with the results column or placeholder of that name "
           "(rename it%s)", key, sec->name, !strcmp(key, "width") ? "; the model-size axis is widths = ..." : "");
    if (e->task.n_params == ISW_MAX_PARAMS)
      FAIL(sec->wheres[i], "[%s] has more than %d parameters (fold some into the command)", sec->name,
           ISW_MAX_PARAMS);
    isw_param_def *pd = &e->params[e->task.n_params++];
    pd->name = keepf(e, "%s", key);
    pd->def = keepf(e, "%s", sec->values[i]);
    ISW_CHECK(pd->name && pd->def, ISW_ENOMEM, "out of memory");
    pd->type = infer_type(sec->values[i]);
    pd->min = -INFINITY;
    pd->max = INFINITY;
    pd->help = "a parameter of the user's program";
  }

  /* command */
  if (own_at[OK_COMMAND] < 0)
    FAIL(sec->where, "[%s] has no command (give command = PROGRAM ARGS..., e.g. command = python3 train.py "
         "--width {width} --out {output})", sec->name);
  const char *cw = sec->wheres[own_at[OK_COMMAND]];
  e->x.command = keep(e, trim_dup(sec->values[own_at[OK_COMMAND]]));
  ISW_CHECK(e->x.command != NULL, ISW_ENOMEM, "out of memory");
  for (int k = OK_CONT; k < N_OWN; ++k) {
    if (own_at[k] < 0) continue;
    int prev = k == OK_CONT ? OK_COMMAND : k - 1;
    if (own_at[prev] < 0)
      FAIL(sec->wheres[own_at[k]], "exec.%s without exec.%s (continue the command with command_2, command_3, "
           "... in order)", own_names[k], own_names[prev]);
    char *t = keep(e, trim_dup(sec->values[own_at[k]]));
    ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory");
    e->x.command = keepf(e, "%s %s", e->x.command, t);
    ISW_CHECK(e->x.command != NULL, ISW_ENOMEM, "out of memory");
  }
  if (!*e->x.command)
    FAIL(cw, "exec.command is empty (give the program and its arguments, e.g. python3 train.py --width {width})");
  if (own_at[OK_SHELL] >= 0 && !yes_no(sec->values[own_at[OK_SHELL]], &e->x.shell))
    FAIL(sec->wheres[own_at[OK_SHELL]], "exec.shell is '%.60s' (yes or no)", sec->values[own_at[OK_SHELL]]);
  {
    int used[ISW_MAX_PARAMS] = {0};
    if (check_placeholders(e->x.command, e->params, e->task.n_params, used, why, sizeof why)) FAIL(cw, "%s", why);
    for (int p = 0; p < e->task.n_params; ++p)
      if (!used[p])
        FAIL(cw, "parameter '%s' of [%s] is not used by the command (add {%s} to the command, or remove the key)",
             e->params[p].name, sec->name, e->params[p].name);
  }
  if (!e->x.shell) {
    if (isw_exec_split(&e->x.words, &e->x.n_words, e->x.command, why, sizeof why))
      FAIL(cw, "%.300s in exec.command (close it, or escape it with a backslash; or set shell = yes)", why);
    if (e->x.n_words == 0 || !e->x.words[0][0]) FAIL(cw, "exec.command is empty (give the program and its arguments)");
    if (strchr(e->x.words[0], '{'))
      FAIL(cw, "the program name '%.60s' contains a placeholder (name the program plainly and pass the choice "
           "as an argument)", e->x.words[0]);
  }

  /* curves: train_loss and test_loss first */
  if (own_at[OK_CURVES] < 0)
    FAIL(sec->where, "[%s] declares no curves (give curves = train_loss, test_loss[, more...]: the lists the "
         "program writes, aligned with test_iters)", sec->name);
  const char *wc = sec->wheres[own_at[OK_CURVES]];
  ISW_CALL(split_names(e, sec->values[own_at[OK_CURVES]], wc, "curves", &curves, &n_curves));
  if (n_curves == 0)
    FAIL(wc, "exec.curves is empty (give curves = train_loss, test_loss[, more...])");
  {
    int itr = -1, ite = -1;
    for (int i = 0; i < n_curves; ++i) {
      if (!strcmp(curves[i], "train_loss")) itr = i;
      if (!strcmp(curves[i], "test_loss")) ite = i;
      if (in_list(reserved, N_OF(reserved), curves[i], strlen(curves[i])))
        FAIL(wc, "curve '%s' clashes with the results column of that name (rename it)", curves[i]);
    }
    if (itr < 0 || ite < 0)
      FAIL(wc, "exec.curves must include train_loss and test_loss (the losses every statistic and verdict uses; "
           "have the program write both)");
    ISW_ALLOC(e->curves, n_curves);
    int k = 0;
    e->curves[k++].name = curves[itr];
    e->curves[k++].name = curves[ite];
    for (int i = 0; i < n_curves; ++i)
      if (i != itr && i != ite) e->curves[k++].name = curves[i];
    e->task.curves = e->curves;
    e->task.n_curves = n_curves;
  }

  /* scalars: rho and n_params go to the built-in columns */
  if (own_at[OK_SCALARS] >= 0)
    ISW_CALL(split_names(e, sec->values[own_at[OK_SCALARS]], sec->wheres[own_at[OK_SCALARS]], "scalars",
                         &scalars, &n_scalars));
  ISW_ALLOC(e->scalars, n_scalars);
  for (int i = 0; i < n_scalars; ++i) {
    const char *ws = sec->wheres[own_at[OK_SCALARS]];
    if (!strcmp(scalars[i], "rho")) {
      e->x.declares_rho = 1;
      continue;
    }
    if (!strcmp(scalars[i], "n_params")) {
      e->x.declares_n_params = 1;
      continue;
    }
    if (in_list(reserved, N_OF(reserved), scalars[i], strlen(scalars[i])))
      FAIL(ws, "scalar '%s' clashes with the results column of that name (rename it)", scalars[i]);
    if (isw_task_curve_index(&e->task, scalars[i]) >= 0)
      FAIL(ws, "'%s' is declared both as a curve and as a scalar (declare it once)", scalars[i]);
    e->scalars[e->task.n_scalars].name = scalars[i];
    e->scalars[e->task.n_scalars].help = "a scalar the user's program reports";
    e->task.n_scalars++;
  }
  e->task.scalars = e->scalars;
  for (int i = 0; i < n_curves; ++i) {
    set_role(&e->curves[i], isw_exec_curve_role(e->curves[i].name));
    const char *split = isw_exec_curve_split(e->curves[i].name);
    e->curves[i].help = keepf(e, "a curve the user's program reports (role %s%s%s)",
                              isw_exec_curve_role(e->curves[i].name), split ? ", split " : "", split ? split : "");
    ISW_CHECK(e->curves[i].help != NULL, ISW_ENOMEM, "out of memory");
  }
  for (int p = 0; p < e->task.n_params; ++p)
    for (int i = 0; i < n_curves; ++i)
      if (!strcmp(e->params[p].name, e->curves[i].name))
        FAIL(wc, "'%s' is both a parameter and a curve (rename one)", e->params[p].name);

  /* roles = name:role,... (explicit roles override the naming convention) */
  if (own_at[OK_ROLES] >= 0) {
    const char *wr = sec->wheres[own_at[OK_ROLES]];
    char *copy = keep(e, strdup(sec->values[own_at[OK_ROLES]]));
    ISW_CHECK(copy != NULL, ISW_ENOMEM, "out of memory");
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
      char *colon = strchr(item, ':');
      if (!colon) FAIL(wr, "'%.60s' in exec.roles is not NAME:ROLE (e.g. roles = test_err:accuracy)", item);
      *colon = '\0';
      char *name = keep(e, trim_dup(item)), *role = keep(e, trim_dup(colon + 1));
      ISW_CHECK(name && role, ISW_ENOMEM, "out of memory");
      int ci = isw_task_curve_index(&e->task, name);
      if (ci < 0) FAIL(wr, "'%.60s' in exec.roles is not a declared curve", name);
      if (!in_list(role_names, N_OF(role_names), role, strlen(role)))
        FAIL(wr, "role '%.60s' in exec.roles is unknown (loss, accuracy, residual or metric)", role);
      set_role(&e->curves[ci], role);
      const char *split = isw_exec_curve_split(name);
      e->curves[ci].help = keepf(e, "a curve the user's program reports (role %s%s%s)", role,
                                 split ? ", split " : "", split ? split : "");
      ISW_CHECK(e->curves[ci].help != NULL, ISW_ENOMEM, "out of memory");
      char **t = realloc(rolev, (size_t)(n_roles + 1) * sizeof *t);
      ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory");
      rolev = t;
      rolev[n_roles++] = keepf(e, "%s:%s", name, role);
    }
  }

  /* timeout, grace, cost */
  if (own_at[OK_TIMEOUT] >= 0 && !seconds_value(sec->values[own_at[OK_TIMEOUT]], &e->x.timeout))
    FAIL(sec->wheres[own_at[OK_TIMEOUT]], "exec.timeout is '%.60s' (seconds per config, a number >= 0; 0 = none)",
         sec->values[own_at[OK_TIMEOUT]]);
  if (own_at[OK_GRACE] >= 0 && !seconds_value(sec->values[own_at[OK_GRACE]], &e->x.grace))
    FAIL(sec->wheres[own_at[OK_GRACE]], "exec.grace is '%.60s' (seconds between SIGTERM and SIGKILL, a number "
         ">= 0)", sec->values[own_at[OK_GRACE]]);
  if (own_at[OK_COST] >= 0) {
    e->x.cost = keep(e, trim_dup(sec->values[own_at[OK_COST]]));
    ISW_CHECK(e->x.cost != NULL, ISW_ENOMEM, "out of memory");
    double v;
    if (isw_expr_eval(&v, e->x.cost, build_lookup, e, why, sizeof why))
      FAIL(sec->wheres[own_at[OK_COST]], "bad cost expression '%.80s': %.*s (numbers, names, + - * / ^ and "
           "parentheses, e.g. width^2 * train_iters)", e->x.cost, (int)200, why);
  }

  /* canonical values of the own keys */
  {
    buf cv = {0}, sv = {0}, rv = {0};
    for (int i = 0; i < n_curves; ++i) put(&cv, i ? "," : "", i ? 1 : 0), put(&cv, e->curves[i].name,
                                                                                 strlen(e->curves[i].name));
    for (int i = 0; i < n_scalars; ++i) put(&sv, i ? "," : "", i ? 1 : 0), put(&sv, scalars[i], strlen(scalars[i]));
    for (int i = 0; i < n_roles; ++i) put(&rv, i ? "," : "", i ? 1 : 0), put(&rv, rolev[i], strlen(rolev[i]));
    put(&cv, "", 0), put(&sv, "", 0), put(&rv, "", 0);
    int oom = cv.oom || sv.oom || rv.oom;
    e->own_values[OK_CURVES] = keep(e, cv.s);
    e->own_values[OK_SCALARS] = keep(e, sv.s);
    e->own_values[OK_ROLES] = keep(e, rv.s);
    ISW_CHECK(!oom && e->own_values[OK_CURVES] && e->own_values[OK_SCALARS] && e->own_values[OK_ROLES],
              ISW_ENOMEM, "out of memory");
    char t1[48], t2[48];
    real_text(t1, sizeof t1, e->x.timeout);
    real_text(t2, sizeof t2, e->x.grace);
    e->own_values[OK_COMMAND] = e->x.command;
    e->own_values[OK_TIMEOUT] = keepf(e, "%s", t1);
    e->own_values[OK_GRACE] = keepf(e, "%s", t2);
    e->own_values[OK_SHELL] = e->x.shell ? "yes" : "no";
    e->own_values[OK_COST] = e->x.cost ? e->x.cost : "";
    ISW_CHECK(e->own_values[OK_TIMEOUT] && e->own_values[OK_GRACE], ISW_ENOMEM, "out of memory");
  }
  e->task.params = e->params;
  e->task.own_keys = own_names;
  e->task.own_values = e->own_values;
  e->task.n_own = N_OWN;
  e->task.own_section = "exec:program";
  e->task.validate = exec_validate;
  e->task.cost = exec_cost;
  e->task.run = isw_exec_run;
  *out = &e->task;
  e = NULL;
cleanup:
  free(curves);
  free(scalars);
  free(rolev);
  if (e) exec_destroy(&e->task);
  return err;
}
