/* report.c — `isweep report` (see report.h): read a results file, aggregate
 * over seeds per grid point, print Markdown tables, write tidy CSV and
 * gnuplot figures.
 *
 * Owns: the statistics (mean, standard deviation, the paired t-test of the
 * verdict), the table and CSV formats, and the gnuplot scripts.  Must not:
 * write the results file, talk MPI, or call task code; figures are drawn by
 * gnuplot (pngcairo), never by hand.
 *
 * Shapes: C = configs (rows) of a task group, T = len(test_iters),
 * P = grid points of a group, K = ΔN values. */
#include "isweep/report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/results.h"
#include "isweep/spec.h"
#include "isweep/store.h"
#include "isweep/task.h"

extern char **environ;

#define NAME_LEN 128
#define STRW 256          /* bytes kept of a string parameter value */
#define MAX_DELTA 32      /* ΔN values */
#define REL_FLOOR 1e-12   /* |L(N)| at or below this: D is shown absolute only */
#define ROUNDING 1e-9     /* |mean D| <= ROUNDING * |L(N)|: a rounding-level change */
#define MAX_FIG_COLS 4    /* ΔN panels of figure 2 */

/* ---- a growing string --------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && (size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
}

/* ---- statistics --------------------------------------------------------- */

/* Running mean and sum of squared deviations (Welford); non-finite values are
 * ignored. */
typedef struct {
  double mean, m2;
  int n;
} mstat;

static void st_add(mstat *s, double x) {
  if (!isfinite(x)) return;
  s->n++;
  double d = x - s->mean;
  s->mean += d / s->n;
  s->m2 += d * (x - s->mean);
}
static double st_mean(const mstat *s) { return s->n ? s->mean : NAN; }
/* Sample standard deviation (n - 1); NaN below two values. */
static double st_sd(const mstat *s) { return s->n >= 2 ? sqrt(fmax(s->m2, 0.0) / (s->n - 1)) : NAN; }

/* t_{0.975, df}: the two-sided 5 % critical value of Student's t. */
static double t_crit(int df) {
  static const double tab[31] = {NAN,   12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201, 2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                                 2.074, 2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return NAN;
  if (df <= 30) return tab[df];
  /* Cornish-Fisher expansion around z = 1.959964 (error < 1e-4 for df > 30) */
  double z = 1.959964, d = df;
  return z + (z * z * z + z) / (4 * d) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

enum { V_PENDING, V_NO_N, V_NO_DN, V_ONE, V_NS, V_HELP, V_HURT, V_HURT_DIV };
static const char *verdict_text(int v) {
  switch (v) {
    case V_PENDING: return "pending (no ok seed)";
    case V_NO_N: return "n = N not evaluated";
    case V_NO_DN: return "no N+ΔN evaluated";
    case V_ONE: return "no significant change (1 seed)";
    case V_NS: return "no significant change";
    case V_HELP: return "more iterations help";
    case V_HURT: return "hurt";
    case V_HURT_DIV: return "hurt (diverges)";
  }
  return "?";
}
static const char *verdict_short(int v) {
  switch (v) {
    case V_HELP: return "help";
    case V_HURT: return "hurt";
    case V_HURT_DIV: return "hurt (diverges)";
    case V_NS: return "n.s.";
    case V_ONE: return "n.s. (1 seed)";
    default: return "-";
  }
}

static const char verdict_rule[] =
    "Verdict rule (per grid point, on held-out data): take the k seeds whose rows are ok and the "
    "largest ΔN of the list with N+ΔN in test_iters, and the paired differences "
    "D_i = L_test(N+ΔN) - L_test(N) of seed i, taken relative, D_i / L_test(N) of that seed, when every "
    "|L_test(N)| > 1e-12 (so seeds of different loss scale weigh alike), else absolute. A seed whose "
    "L_test(N+ΔN) is not finite while "
    "L_test(N) is counts as diverging: when at least half of the seeds diverge the verdict is "
    "\"hurt (diverges)\", otherwise those seeds are left out. With k >= 2 finite differences, mean m "
    "and standard deviation s, t = m / (s / sqrt(k)) is compared with Student's t_{0.975, k-1} "
    "(two-sided paired t-test at the 5 % level; 12.71 for 2 seeds, 4.30 for 3, 2.78 for 5): "
    "t < -t_crit: \"more iterations help\"; t > +t_crit: \"hurt\"; otherwise \"no significant change\". "
    "A mean change within 1e-9 (relative; 1e-9 |L_test(N)| absolute) is rounding, never significant; s = 0 with a larger |m| "
    "is significant by its sign. With k = 1: \"no significant change (1 seed)\". The per-ΔN columns "
    "of table 2 apply the same test at each ΔN.";

/* ---- the loaded file ---------------------------------------------------- */

typedef struct {
  char name[NAME_LEN];
  int is_str, is_int;
  double *num; /* (C) numeric values */
  char *str;   /* (C, STRW) string values */
  int varies;  /* not one value over the group */
} pcol;

typedef struct {
  char name[NAME_LEN];
  double *v; /* (C, T) curves, (C) scalars */
} vcol;

/* One ΔN at one grid point. */
typedef struct {
  int j;                       /* column of N + ΔN, -1 when not evaluated */
  mstat dtr, dte, rtr, rte;     /* D absolute and relative to L(N), train and test */
  int rel_tr, rel_te;          /* every ok seed had |L(N)| > REL_FLOOR */
  int n_div;                   /* seeds diverging at N + ΔN (test) */
  double t, tcrit;             /* paired t statistic and critical value (NaN if none) */
  int verdict;
  /* linear-meta: the affine bound and the identity, train data */
  mstat bound, ident;
} dstat;

typedef struct {
  int rep;          /* first row of the point */
  int seeds, ok;    /* rows, ok rows */
  int jN;           /* column of n = N, -1 when not evaluated */
  mstat rho, ltr, lte, lim_te, lbest, acc_N, acc_best;
  int best_j, acc_best_j; /* -1: none */
  dstat d[MAX_DELTA];
  int verdict, vk;  /* overall verdict and the ΔN index it used (-1) */
} pstat;

typedef struct {
  char name[NAME_LEN];
  long C, T;
  int64_t *iters;   /* (T) */
  uint64_t *ids;    /* (C) */
  uint8_t *status;  /* (C) */
  double *rho;      /* (C) */
  pcol *par;        /* (n_par) par[0] width, par[1] train_iters, par[2] seed, then the task's */
  int n_par;
  vcol *cur;        /* (n_cur) curves */
  int n_cur;
  vcol *sca;        /* (n_sca) float scalars */
  int n_sca;
  int counts[5];    /* by status */
  int *point;       /* (C) grid point of each row */
  int *prow, *pstart; /* (C), (P+1): the rows of point p are prow[pstart[p] .. pstart[p+1]) */
  pstat *ps;        /* (P) */
  int P;
  int c_train, c_test, c_acc, c_res; /* curve indexes, -1 when absent */
  int acc_ok;       /* test_accuracy has finite values in ok rows */
  int has_bound;    /* linear-meta bound columns present */
  int dn_used[MAX_DELTA]; /* ΔN k evaluated at some point */
  /* linear-meta identity and bound checks over (ok row, ΔN) */
  double ident_max;
  long bound_pairs, bound_viol;
} tgroup;

typedef struct {
  isw_results *res;
  const char *file, *dir;
  char *spec_path, *cmdline, *canonical, *version, *git, *start, *end;
  int64_t runs;
  tgroup *g;
  int n_g;
  int64_t dn[MAX_DELTA];
  int n_dn;
  char dn_source[512];
  int n_figs, n_png;
  int gnuplot_missing;
  char partial[96]; /* " [partial: 7 of 40 configs done]" or "" */
} report;

static int find_iter(const tgroup *g, int64_t n) {
  for (long j = 0; j < g->T; ++j)
    if (g->iters[j] == n) return (int)j;
  return -1;
}
static int find_curve(const tgroup *g, const char *name) {
  for (int k = 0; k < g->n_cur; ++k)
    if (!strcmp(g->cur[k].name, name)) return k;
  return -1;
}
static const double *scalar(const tgroup *g, const char *name) {
  for (int k = 0; k < g->n_sca; ++k)
    if (!strcmp(g->sca[k].name, name)) return g->sca[k].v;
  return NULL;
}
static const pcol *param(const tgroup *g, const char *name) {
  for (int k = 0; k < g->n_par; ++k)
    if (!strcmp(g->par[k].name, name)) return &g->par[k];
  return NULL;
}
static double cv(const tgroup *g, int c, long row, long j) { return g->cur[c].v[row * g->T + j]; }
static int64_t N_of(const tgroup *g, long row) { return (int64_t)llround(g->par[1].num[row]); }

static void group_free(tgroup *g) {
  free(g->iters);
  free(g->ids);
  free(g->status);
  free(g->rho);
  for (int k = 0; k < g->n_par; ++k) {
    free(g->par[k].num);
    free(g->par[k].str);
  }
  free(g->par);
  for (int k = 0; k < g->n_cur; ++k) free(g->cur[k].v);
  free(g->cur);
  for (int k = 0; k < g->n_sca; ++k) free(g->sca[k].v);
  free(g->sca);
  free(g->point);
  free(g->prow);
  free(g->pstart);
  free(g->ps);
}

static void report_free(report *r) {
  for (int i = 0; i < r->n_g; ++i) group_free(&r->g[i]);
  free(r->g);
  free(r->spec_path);
  free(r->cmdline);
  free(r->canonical);
  free(r->version);
  free(r->git);
  free(r->start);
  free(r->end);
  isw_results_close(&r->res);
}

/* ---- loading ------------------------------------------------------------ */

static int is_run_column(const char *n) {
  static const char *const run[] = {"config_id", "test_iters", "status", "message", "rank",
                                    "host", "start_time", "train_seconds", "eval_seconds",
                                    "rho", "n_params"};
  for (size_t i = 0; i < sizeof run / sizeof run[0]; ++i)
    if (!strcmp(n, run[i])) return 1;
  return 0;
}

/* The task parameter names of group `task` from the canonical spec: every
 * "task.key = ..." line but the axes.  names (n) point into a heap copy. */
static int canonical_params(char ***names, int *n, char **store, const char *canonical, const char *task) {
  int err = 0;
  size_t tl = strlen(task);
  *names = NULL;
  *n = 0;
  *store = NULL;
  int cap = 0;
  for (const char *p = canonical; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) cap++;
  ISW_ALLOC(*names, cap + 1);
  ISW_ALLOC(*store, strlen(canonical) + 1);
  memcpy(*store, canonical, strlen(canonical) + 1);
  for (char *line = *store; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    if (!strncmp(line, task, tl) && line[tl] == '.') {
      char *key = line + tl + 1, *eq = strstr(key, " = ");
      if (eq) {
        *eq = '\0';
        if (strcmp(key, "widths") && strcmp(key, "train_iters") && strcmp(key, "test_iters") &&
            strcmp(key, "seeds"))
          (*names)[(*n)++] = key;
      }
    }
    line = nl ? nl + 1 : NULL;
  }
cleanup:
  return err;
}

/* The task order: `sweep.tasks` of the canonical text, then any other group. */
static int order_groups(char ***names, int n, const char *canonical) {
  int err = 0;
  char **sorted = NULL;
  int m = 0;
  ISW_ALLOC(sorted, n);
  const char *line = strstr(canonical, "sweep.tasks = ");
  if (line && (line == canonical || line[-1] == '\n')) {
    const char *p = line + strlen("sweep.tasks = ");
    while (*p && *p != '\n') {
      size_t len = strcspn(p, ",\n");
      for (int i = 0; i < n; ++i)
        if ((*names)[i] && strlen((*names)[i]) == len && !strncmp((*names)[i], p, len)) {
          sorted[m++] = (*names)[i];
          (*names)[i] = NULL;
        }
      p += len;
      if (*p == ',') ++p;
    }
  }
  for (int i = 0; i < n; ++i)
    if ((*names)[i]) sorted[m++] = (*names)[i];
  free(*names);
  *names = sorted;
cleanup:
  return err;
}

static int load_group(report *r, tgroup *g, const char *name) {
  int err = 0;
  isw_results_column *cols = NULL;
  int n_cols = 0;
  char **pn = NULL, *pstore = NULL;
  int n_pn = 0;
  const char *file = r->file;
  snprintf(g->name, sizeof g->name, "%s", name);
  g->c_train = g->c_test = g->c_acc = g->c_res = -1;
  ISW_CALL(isw_results_columns(r->res, name, &cols, &n_cols));
  int64_t nc = -1;
  ISW_CALL(isw_results_attr_i64(r->res, name, "n_configs", &nc));
  ISW_CHECK(nc >= 1 && nc < (1LL << 40), ISW_EUSAGE, "%s: /%s has n_configs = %lld (damaged file?)", file, name,
            (long long)nc);
  g->C = (long)nc;
  const isw_results_column *ti = NULL;
  for (int i = 0; i < n_cols; ++i)
    if (!strcmp(cols[i].name, "test_iters")) ti = &cols[i];
  ISW_CHECK(ti && ti->ndims == 1 && ti->dims[0] >= 1, ISW_EUSAGE,
            "%s: dataset /%s/test_iters is missing or empty (damaged or foreign file)", file, name);
  g->T = ti->dims[0];
  /* every dataset must be (C) or (C, T) */
  for (int i = 0; i < n_cols; ++i) {
    const isw_results_column *c = &cols[i];
    if (c == ti) continue;
    ISW_CHECK((c->ndims == 1 && c->dims[0] == g->C) || (c->ndims == 2 && c->dims[0] == g->C && c->dims[1] == g->T),
              ISW_EUSAGE, "%s: dataset /%s/%s has the wrong shape for %ld configs x %ld test_iters (damaged file?)",
              file, name, c->name, g->C, g->T);
  }
  /* the run columns of schema 1 (store.h) */
  static const char *const need[] = {"config_id", "status", "message", "rank", "host", "start_time",
                                     "train_seconds", "eval_seconds", "rho", "n_params"};
  for (size_t k = 0; k < sizeof need / sizeof need[0]; ++k) {
    int found = 0;
    for (int i = 0; i < n_cols; ++i) found |= !strcmp(cols[i].name, need[k]);
    ISW_CHECK(found, ISW_EUSAGE, "%s: dataset /%s/%s is missing (damaged or foreign file)", file, name, need[k]);
  }
  ISW_ALLOC(g->iters, g->T);
  ISW_ALLOC(g->ids, g->C);
  ISW_ALLOC(g->status, g->C);
  ISW_ALLOC(g->rho, g->C);
  ISW_CALL(isw_results_read_i64(r->res, name, "test_iters", g->iters, g->T));
  ISW_CALL(isw_results_read_u64(r->res, name, "config_id", g->ids, g->C));
  ISW_CALL(isw_results_read_u8(r->res, name, "status", g->status, g->C)); /* status first: rows are complete */
  ISW_CALL(isw_results_read_f64(r->res, name, "rho", g->rho, g->C));
  for (long i = 0; i < g->C; ++i) g->counts[g->status[i] <= ISW_ST_FAILED ? g->status[i] : ISW_ST_FAILED]++;

  /* parameters: width, train_iters, seed, then the canonical spec's keys */
  ISW_CALL(canonical_params(&pn, &n_pn, &pstore, r->canonical, name));
  ISW_ALLOC(g->par, 3 + n_pn);
  static const char *const fixed[3] = {"width", "train_iters", "seed"};
  for (int k = 0; k < 3 + n_pn; ++k) {
    pcol *p = &g->par[g->n_par];
    const char *pname = k < 3 ? fixed[k] : pn[k - 3];
    const isw_results_column *c = NULL;
    for (int i = 0; i < n_cols; ++i)
      if (!strcmp(cols[i].name, pname)) c = &cols[i];
    ISW_CHECK(c != NULL, ISW_EUSAGE, "%s: dataset /%s/%s (a parameter of the spec) is missing (damaged file?)",
              file, name, pname);
    ISW_CHECK(c->ndims == 1, ISW_EUSAGE, "%s: parameter /%s/%s is not one value per config (damaged file?)",
              file, name, pname);
    snprintf(p->name, sizeof p->name, "%s", pname);
    g->n_par++;
    if (c->kind == ISW_RCOL_STRING) {
      p->is_str = 1;
      ISW_ALLOC(p->str, (size_t)g->C * STRW);
      ISW_CALL(isw_results_read_str(r->res, name, pname, p->str, STRW, g->C));
    } else {
      ISW_CHECK(c->kind == ISW_RCOL_INT || c->kind == ISW_RCOL_FLOAT, ISW_EUSAGE,
                "%s: parameter /%s/%s is neither a number nor a fixed-length string (foreign file?)", file,
                name, pname);
      p->is_int = c->kind == ISW_RCOL_INT;
      ISW_ALLOC(p->num, g->C);
      ISW_CALL(isw_results_read_f64(r->res, name, pname, p->num, g->C));
    }
    for (long i = 1; i < g->C && !p->varies; ++i)
      p->varies = p->is_str ? strcmp(p->str, p->str + (size_t)i * STRW) != 0 : p->num[i] != p->num[0];
  }
  /* curves and scalars: everything else of a float type */
  ISW_ALLOC(g->cur, n_cols);
  ISW_ALLOC(g->sca, n_cols);
  for (int i = 0; i < n_cols; ++i) {
    const isw_results_column *c = &cols[i];
    if (c == ti || is_run_column(c->name) || param(g, c->name) || c->kind != ISW_RCOL_FLOAT) continue;
    vcol *v = c->ndims == 2 ? &g->cur[g->n_cur++] : &g->sca[g->n_sca++];
    long n = c->ndims == 2 ? g->C * g->T : g->C;
    snprintf(v->name, sizeof v->name, "%s", c->name);
    ISW_ALLOC(v->v, n);
    ISW_CALL(isw_results_read_f64(r->res, name, c->name, v->v, n));
  }
  g->c_train = find_curve(g, "train_loss");
  g->c_test = find_curve(g, "test_loss");
  ISW_CHECK(g->c_train >= 0 && g->c_test >= 0, ISW_EUSAGE,
            "%s: dataset /%s/%s is missing (every task has train_loss and test_loss curves; damaged file?)",
            file, name, g->c_train < 0 ? "train_loss" : "test_loss");
  g->c_acc = find_curve(g, "test_accuracy");
  g->c_res = find_curve(g, "residual");
  if (g->c_acc >= 0)
    for (long i = 0; i < g->C && !g->acc_ok; ++i)
      for (long j = 0; j < g->T && g->status[i] == ISW_ST_OK; ++j)
        if (isfinite(cv(g, g->c_acc, i, j))) g->acc_ok = 1;
  g->has_bound = find_curve(g, "delta_sq") >= 0 && find_curve(g, "perp_delta_norm") >= 0 &&
                 find_curve(g, "perp_cross") >= 0 && scalar(g, "E_N") && param(g, "tasks") &&
                 param(g, "query") && !param(g, "tasks")->is_str && !param(g, "query")->is_str;
cleanup:
  free(cols);
  free(pn);
  free(pstore);
  return err;
}

/* ---- ΔN ------------------------------------------------------------------ */

/* The value of the last "sweep.delta_n=..." among sets, or NULL. */
static const char *set_delta(const char *const *sets, int n) {
  const char *v = NULL;
  for (int i = 0; i < n; ++i)
    if (!strncmp(sets[i], "sweep.delta_n=", 14)) v = sets[i] + 14;
  return v;
}

/* The --set values of a recorded command line (argv joined by spaces; a
 * value with a space in it is cut there). *sets points into *store. */
static int recorded_sets(char ***sets, int *n, char **store, const char *cmdline) {
  int err = 0;
  *sets = NULL;
  *n = 0;
  ISW_ALLOC(*store, strlen(cmdline) + 1);
  memcpy(*store, cmdline, strlen(cmdline) + 1);
  ISW_ALLOC(*sets, strlen(cmdline) / 2 + 2);
  char *save = NULL, *prev = NULL;
  for (char *tok = strtok_r(*store, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    if (prev && !strcmp(prev, "--set") && strchr(tok, '=')) (*sets)[(*n)++] = tok;
    prev = tok;
  }
cleanup:
  return err;
}

/* delta_n of a [sweep] section of INI text, found by a plain scan (used
 * when the recorded spec no longer parses).  NULL when absent; heap copy. */
static char *scan_delta(const char *text) {
  int in_sweep = 0;
  const char *p = text;
  while (p && *p) {
    size_t len = strcspn(p, "\n");
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
    char *s = line;
    while (*s == ' ' || *s == '\t') ++s;
    if (*s == '[') in_sweep = !strncmp(s, "[sweep]", 7);
    else if (in_sweep && !strncmp(s, "delta_n", 7)) {
      char *eq = strchr(s, '=');
      if (eq) {
        char *v = eq + 1;
        v[strcspn(v, "#;")] = '\0';
        while (*v == ' ' || *v == '\t') ++v;
        size_t e = strlen(v);
        while (e && (v[e - 1] == ' ' || v[e - 1] == '\t' || v[e - 1] == '\r')) v[--e] = '\0';
        return strdup(v);
      }
    }
    p = p[len] ? p + len + 1 : NULL;
  }
  return NULL;
}

static int set_dn(report *r, const int64_t *v, int n) {
  int err = 0;
  r->n_dn = 0;
  for (int i = 0; i < n; ++i) {
    ISW_CHECK(v[i] >= 1, ISW_EUSAGE, "delta_n value %lld: ΔN must be >= 1 (give e.g. --set sweep.delta_n=1,5,20)",
              (long long)v[i]);
    int dup = 0;
    for (int k = 0; k < r->n_dn; ++k) dup |= r->dn[k] == v[i];
    if (dup) continue;
    ISW_CHECK(r->n_dn < MAX_DELTA, ISW_EUSAGE, "more than %d delta_n values (give fewer)", MAX_DELTA);
    r->dn[r->n_dn++] = v[i];
  }
  for (int a = 1; a < r->n_dn; ++a) /* ascending */
    for (int b = a; b > 0 && r->dn[b - 1] > r->dn[b]; --b) {
      int64_t t = r->dn[b];
      r->dn[b] = r->dn[b - 1];
      r->dn[b - 1] = t;
    }
cleanup:
  return err;
}

static int resolve_delta(report *r, const char *const *rsets, int n_rsets) {
  int err = 0;
  char *text = NULL, *store = NULL, *scanned = NULL, *parse_msg = NULL;
  char **sets = NULL;
  int n_sets = 0;
  isw_spec *spec = NULL;
  int64_t *v = NULL;
  int n = 0;
  for (int i = 0; i < n_rsets; ++i)
    ISW_CHECK(!strncmp(rsets[i], "sweep.delta_n=", 14), ISW_EUSAGE,
              "--set %s: the report only takes --set sweep.delta_n=LIST (the ΔN values to report)", rsets[i]);
  const char *over = set_delta(rsets, n_rsets);
  if (over) {
    int e = isw_spec_expand_ints(&v, &n, over, MAX_DELTA + 1);
    ISW_CHECK(!e, ISW_EUSAGE, "--set sweep.delta_n=%s: %s", over, isw_error_message());
    ISW_CALL(set_dn(r, v, n));
    snprintf(r->dn_source, sizeof r->dn_source, "from --set sweep.delta_n=%s", over);
    goto cleanup;
  }
  ISW_CALL(isw_results_attr_str(r->res, "/", "spec_text", &text));
  ISW_CALL(recorded_sets(&sets, &n_sets, &store, r->cmdline ? r->cmdline : ""));
  if (isw_spec_parse(&spec, r->spec_path ? r->spec_path : "spec_text", text, (const char *const *)sets, n_sets) == 0) {
    ISW_CALL(set_dn(r, spec->delta_n, spec->n_delta));
    snprintf(r->dn_source, sizeof r->dn_source, "delta_n of the spec recorded in the file");
    goto cleanup;
  }
  parse_msg = strdup(isw_error_message());
  isw_error_clear();
  const char *val = set_delta((const char *const *)sets, n_sets);
  if (!val) val = scanned = scan_delta(text);
  if (val && isw_spec_expand_ints(&v, &n, val, MAX_DELTA + 1) == 0) {
    ISW_CALL(set_dn(r, v, n));
    snprintf(r->dn_source, sizeof r->dn_source, "delta_n = %.100s read from the recorded spec (it no longer parses: %.200s)",
             val, parse_msg ? parse_msg : "");
  } else {
    static const int64_t def[3] = {1, 5, 20};
    isw_error_clear();
    ISW_CALL(set_dn(r, def, 3));
    snprintf(r->dn_source, sizeof r->dn_source,
             "isweep's default 1,5,20 (the recorded spec no longer parses: %.200s)", parse_msg ? parse_msg : "");
  }
cleanup:
  isw_spec_destroy(&spec);
  free(v);
  free(text);
  free(store);
  free(sets);
  free(scanned);
  free(parse_msg);
  return err;
}

/* ---- aggregation -------------------------------------------------------- */

static int same_point(const tgroup *g, long a, long b) {
  for (int k = 0; k < g->n_par; ++k) {
    if (k == 2) continue; /* seed */
    const pcol *p = &g->par[k];
    if (p->is_str ? strcmp(p->str + (size_t)a * STRW, p->str + (size_t)b * STRW) != 0 : p->num[a] != p->num[b])
      return 0;
  }
  return 1;
}

/* Verdict of one ΔN from its collected statistics. */
static void decide(dstat *d, double lN_mean) {
  int rel = d->rel_te && d->rte.n == d->dte.n;
  const mstat *x = rel ? &d->rte : &d->dte;
  int k = x->n, total = k + d->n_div;
  d->t = d->tcrit = NAN;
  if (total == 0) {
    d->verdict = V_PENDING;
    return;
  }
  if (d->n_div > 0 && 2 * d->n_div >= total) {
    d->verdict = V_HURT_DIV;
    return;
  }
  if (k < 2) {
    d->verdict = V_ONE;
    return;
  }
  double m = st_mean(x), s = st_sd(x);
  d->tcrit = t_crit(k - 1);
  if (fabs(m) <= ROUNDING * (rel ? 1.0 : fabs(lN_mean))) {
    d->verdict = V_NS;
    d->t = s > 0 ? m / (s / sqrt(k)) : 0.0;
    return;
  }
  if (s == 0) {
    d->t = m > 0 ? INFINITY : -INFINITY;
    d->verdict = m < 0 ? V_HELP : V_HURT;
    return;
  }
  d->t = m / (s / sqrt(k));
  d->verdict = d->t < -d->tcrit ? V_HELP : d->t > d->tcrit ? V_HURT : V_NS;
}

/* FNV-1a hash of every parameter value but the seed at row i. */
static uint64_t point_hash(const tgroup *g, long i) {
  uint64_t h = 1469598103934665603ULL;
  for (int k = 0; k < g->n_par; ++k) {
    if (k == 2) continue;
    const pcol *p = &g->par[k];
    const unsigned char *b = p->is_str ? (const unsigned char *)(p->str + (size_t)i * STRW)
                                       : (const unsigned char *)&p->num[i];
    size_t n = p->is_str ? strlen((const char *)b) + 1 : sizeof(double);
    for (size_t q = 0; q < n; ++q) h = (h ^ b[q]) * 1099511628211ULL;
  }
  return h;
}

/* Assign every row its grid point (first-seen order) through a hash table,
 * and list the rows of each point: rows of point p are
 * prow[pstart[p] .. pstart[p+1]). */
static int assign_points(tgroup *g) {
  int err = 0;
  long cap = 1;
  int *slot = NULL; /* (cap) point index + 1, 0 = empty */
  uint64_t *hash = NULL; /* (C) */
  int *fill = NULL; /* (P) */
  while (cap < 2 * g->C) cap *= 2;
  ISW_ALLOC(slot, cap);
  ISW_ALLOC(hash, g->C);
  ISW_ALLOC(g->point, g->C);
  ISW_ALLOC(g->ps, g->C);
  for (long i = 0; i < g->C; ++i) {
    hash[i] = point_hash(g, i);
    long at = (long)(hash[i] & (uint64_t)(cap - 1));
    int p = -1;
    while (slot[at]) {
      int q = slot[at] - 1;
      if (hash[g->ps[q].rep] == hash[i] && same_point(g, g->ps[q].rep, i)) {
        p = q;
        break;
      }
      at = (at + 1) & (cap - 1);
    }
    if (p < 0) {
      p = g->P++;
      g->ps[p].rep = (int)i;
      slot[at] = p + 1;
    }
    g->point[i] = p;
  }
  ISW_ALLOC(g->pstart, g->P + 1);
  ISW_ALLOC(g->prow, g->C);
  ISW_ALLOC(fill, g->P);
  for (long i = 0; i < g->C; ++i) g->pstart[g->point[i] + 1]++;
  for (int p = 0; p < g->P; ++p) g->pstart[p + 1] += g->pstart[p];
  for (long i = 0; i < g->C; ++i) g->prow[g->pstart[g->point[i]] + fill[g->point[i]]++] = (int)i;
cleanup:
  free(slot);
  free(hash);
  free(fill);
  return err;
}

static int aggregate(report *r, tgroup *g) {
  int err = 0;
  ISW_CALL(assign_points(g));
  const double *lim = scalar(g, "test_loss_limit");
  int cdsq = find_curve(g, "delta_sq"), cpn = find_curve(g, "perp_delta_norm"), cpc = find_curve(g, "perp_cross");
  const double *EN = scalar(g, "E_N");
  for (int p = 0; p < g->P; ++p) {
    pstat *s = &g->ps[p];
    long rep = s->rep;
    s->jN = find_iter(g, N_of(g, rep));
    s->best_j = s->acc_best_j = -1;
    s->vk = -1;
    for (int k = 0; k < r->n_dn; ++k) {
      s->d[k].j = find_iter(g, N_of(g, rep) + r->dn[k]);
      s->d[k].rel_tr = s->d[k].rel_te = 1;
      if (s->d[k].j >= 0) g->dn_used[k] = 1;
    }
    for (int q = g->pstart[p]; q < g->pstart[p + 1]; ++q) {
      long i = g->prow[q];
      s->seeds++;
      if (g->status[i] != ISW_ST_OK) continue;
      s->ok++;
      st_add(&s->rho, g->rho[i]);
      if (lim) st_add(&s->lim_te, lim[i]);
      if (s->jN < 0) continue;
      double a_tr = cv(g, g->c_train, i, s->jN), a_te = cv(g, g->c_test, i, s->jN);
      st_add(&s->ltr, a_tr);
      st_add(&s->lte, a_te);
      if (g->acc_ok) st_add(&s->acc_N, cv(g, g->c_acc, i, s->jN));
      for (int k = 0; k < r->n_dn; ++k) {
        dstat *d = &s->d[k];
        if (d->j < 0) continue;
        double b_tr = cv(g, g->c_train, i, d->j), b_te = cv(g, g->c_test, i, d->j);
        if (isfinite(a_tr) && isfinite(b_tr)) {
          st_add(&d->dtr, b_tr - a_tr);
          if (fabs(a_tr) > REL_FLOOR) st_add(&d->rtr, (b_tr - a_tr) / a_tr);
          else d->rel_tr = 0;
        }
        if (isfinite(a_te) && !isfinite(b_te)) d->n_div++;
        if (isfinite(a_te) && isfinite(b_te)) {
          st_add(&d->dte, b_te - a_te);
          if (fabs(a_te) > REL_FLOOR) st_add(&d->rte, (b_te - a_te) / a_te);
          else d->rel_te = 0;
        }
        if (g->has_bound && isfinite(a_tr) && isfinite(b_tr)) {
          double Tq = param(g, "tasks")->num[i] * param(g, "query")->num[i];
          double dsq = cv(g, cdsq, i, d->j), pn = cv(g, cpn, i, d->j), pc = cv(g, cpc, i, d->j);
          double bound = (0.5 * dsq - sqrt(2 * EN[i]) * pn) / Tq, ident = (0.5 * dsq + pc) / Tq;
          double meas = b_tr - a_tr;
          st_add(&d->bound, bound);
          st_add(&d->ident, ident);
          if (isfinite(bound) && isfinite(ident)) {
            double scale = fmax(fabs(meas), fmax(0.5 * dsq / Tq, 1e-300));
            double e = fabs(meas - ident) / scale;
            if (e > g->ident_max) g->ident_max = e;
            g->bound_pairs++;
            if (bound > meas + 1e-9 * scale) g->bound_viol++;
          }
        }
      }
    }
    /* best n: smallest mean test loss over the ok seeds, every seed finite */
    if (s->ok > 0) {
      double best = INFINITY, best_acc = -INFINITY;
      for (long j = 0; j < g->T; ++j) {
        mstat l = {0}, a = {0};
        int all = 1, all_a = 1;
        for (int q = g->pstart[p]; q < g->pstart[p + 1]; ++q) {
          long i = g->prow[q];
          if (g->status[i] != ISW_ST_OK) continue;
          double x = cv(g, g->c_test, i, j);
          all &= isfinite(x);
          st_add(&l, x);
          if (g->acc_ok) {
            double y = cv(g, g->c_acc, i, j);
            all_a &= isfinite(y);
            st_add(&a, y);
          }
        }
        if (all && l.n > 0 && st_mean(&l) < best) {
          best = st_mean(&l);
          s->best_j = (int)j;
          s->lbest = l;
        }
        if (g->acc_ok && all_a && a.n > 0 && st_mean(&a) > best_acc) {
          best_acc = st_mean(&a);
          s->acc_best_j = (int)j;
          s->acc_best = a;
        }
      }
    }
    for (int k = 0; k < r->n_dn; ++k) decide(&s->d[k], st_mean(&s->lte));
    if (s->ok == 0) s->verdict = V_PENDING;
    else if (s->jN < 0) s->verdict = V_NO_N;
    else {
      s->verdict = V_NO_DN;
      for (int k = r->n_dn - 1; k >= 0 && s->vk < 0; --k)
        if (s->d[k].j >= 0 && (s->d[k].dte.n + s->d[k].n_div) > 0) {
          s->vk = k;
          s->verdict = s->d[k].verdict;
        }
    }
  }
cleanup:
  return err;
}

/* ---- formatting --------------------------------------------------------- */

/* "1.23e-02 ± 4.5e-04" (absolute) or "-22.1 ± 0.4 %" (percent); "-" when empty. */
static void fmt_ms(char *buf, size_t len, const mstat *s, int percent) {
  double m = st_mean(s), sd = st_sd(s);
  if (s->n == 0) snprintf(buf, len, "-");
  else if (percent && s->n >= 2) snprintf(buf, len, "%+.3g ± %.2g %%", 100 * m, 100 * sd);
  else if (percent) snprintf(buf, len, "%+.3g %%", 100 * m);
  else if (s->n >= 2) snprintf(buf, len, "%.4g ± %.2g", m, sd);
  else snprintf(buf, len, "%.4g", m);
}
static void fmt_signed(char *buf, size_t len, const mstat *s) {
  double m = st_mean(s), sd = st_sd(s);
  if (s->n == 0) snprintf(buf, len, "-");
  else if (s->n >= 2) snprintf(buf, len, "%+.3e ± %.1e", m, sd);
  else snprintf(buf, len, "%+.3e", m);
}

/* The value of parameter k at row i as text. */
static void pval(char *buf, size_t len, const pcol *p, long i) {
  if (p->is_str) snprintf(buf, len, "%s", p->str + (size_t)i * STRW);
  else if (p->is_int) snprintf(buf, len, "%lld", (long long)llround(p->num[i]));
  else snprintf(buf, len, "%.10g", p->num[i]);
}

/* "grad=implicit, activation=tanh": the varying parameters other than
 * width (and train_iters unless with_N) and seed, at row i; "" if none.
 * `skip` names one more parameter to leave out (or NULL). */
static void axes_label(char *buf, size_t len, const tgroup *g, long i, int with_width, int with_N, const char *skip,
                       const char *sep) {
  size_t used = 0;
  buf[0] = '\0';
  for (int k = 0; k < g->n_par; ++k) {
    if (k == 2 || (k == 0 && !with_width) || (k == 1 && !with_N)) continue;
    if (k > 2 && (!g->par[k].varies || (skip && !strcmp(skip, g->par[k].name)))) continue;
    char v[STRW];
    pval(v, sizeof v, &g->par[k], i);
    const char *nm = k == 1 ? "N" : g->par[k].name;
    int n = snprintf(buf + used, len - used, "%s%s=%s", used ? sep : "", nm, v);
    if (n < 0 || (size_t)n >= len - used) break;
    used += (size_t)n;
  }
}

/* ---- Markdown ----------------------------------------------------------- */

static void md_header(sbuf *b, const report *r) {
  long total = 0, c[5] = {0};
  for (int i = 0; i < r->n_g; ++i) {
    total += r->g[i].C;
    for (int s = 0; s < 5; ++s) c[s] += r->g[i].counts[s];
  }
  long done = c[ISW_ST_OK] + c[ISW_ST_DIVERGED] + c[ISW_ST_FAILED];
  sb_printf(b, "# isweep report: %s\n\n", r->file);
  sb_printf(b, "- spec: %s; isweep %s (git %s); started %s, %s%s; runs: %lld\n", r->spec_path, r->version, r->git,
            r->start, r->end && r->end[0] ? "ended " : "not ended (still running, or stopped before closing)",
            r->end ? r->end : "", (long long)r->runs);
  sb_printf(b, "- command line: `%s`\n", r->cmdline);
  sb_printf(b, "- progress: %ld of %ld configs done (%ld ok, %ld diverged, %ld failed); %ld not done "
               "(%ld pending, %ld running or interrupted)%s\n",
            done, total, c[ISW_ST_OK], c[ISW_ST_DIVERGED], c[ISW_ST_FAILED], c[ISW_ST_PENDING] + c[ISW_ST_RUNNING],
            c[ISW_ST_PENDING], c[ISW_ST_RUNNING],
            done < total ? " — **partial results**: statistics use the ok seeds finished so far" : "");
  sb_printf(b, "- ΔN: ");
  for (int k = 0; k < r->n_dn; ++k) sb_printf(b, "%s%lld", k ? "," : "", (long long)r->dn[k]);
  sb_printf(b, " (%s); a ΔN is reported where N+ΔN is in test_iters\n", r->dn_source);
  sb_printf(b, "- D(N, ΔN) = L(N+ΔN) - L(N) of the model trained with N; relative: D / L(N) per seed "
               "(only where every |L(N)| > %g); negative = more iterations help. Values are mean ± "
               "standard deviation over the ok seeds.\n",
            REL_FLOOR);
  sb_printf(b, "- %s\n", verdict_rule);
}

static void md_group(sbuf *b, const report *r, const tgroup *g) {
  char buf[256], b2[256], b3[256];
  const int *cnt = g->counts;
  sb_printf(b, "\n## %s\n\n", g->name);
  sb_printf(b, "%ld configs: %d ok, %d diverged, %d failed, %d pending, %d running or interrupted; %d grid points, "
               "test_iters %lld..%lld (%ld values).\n",
            g->C, cnt[ISW_ST_OK], cnt[ISW_ST_DIVERGED], cnt[ISW_ST_FAILED], cnt[ISW_ST_PENDING], cnt[ISW_ST_RUNNING],
            g->P, (long long)g->iters[0], (long long)g->iters[g->T - 1], g->T);
  sb_printf(b, "Fixed parameters:");
  int nf = 0;
  for (int k = 3; k < g->n_par; ++k) {
    if (g->par[k].varies) continue;
    pval(buf, sizeof buf, &g->par[k], 0);
    sb_printf(b, "%s %s=%s", nf++ ? "," : "", g->par[k].name, buf);
  }
  sb_printf(b, "%s\n", nf ? "." : " none.");
  const double *lim = scalar(g, "test_loss_limit");
  int has_lim = 0;
  for (int p = 0; p < g->P; ++p) has_lim |= g->ps[p].lim_te.n > 0;
  has_lim &= lim != NULL;
  /* table 1 */
  sb_printf(b, "\nTable 1 (%s): loss at n = N, the best n, and the verdict\n\n| width | N |", g->name);
  for (int k = 3; k < g->n_par; ++k)
    if (g->par[k].varies) sb_printf(b, " %s |", g->par[k].name);
  sb_printf(b, " ρ | ok seeds | L_train(N) | L_test(N) | best n (test) | L_test(best n) |");
  if (has_lim) sb_printf(b, " L_test(∞) |");
  if (g->acc_ok) sb_printf(b, " acc_test(N) | best n (acc) | acc_test(best n) |");
  sb_printf(b, " verdict |\n|---|---|");
  for (int k = 3; k < g->n_par; ++k)
    if (g->par[k].varies) sb_printf(b, "---|");
  sb_printf(b, "---|---|---|---|---|---|%s%s---|\n", has_lim ? "---|" : "", g->acc_ok ? "---|---|---|" : "");
  for (int p = 0; p < g->P; ++p) {
    const pstat *s = &g->ps[p];
    long i = s->rep;
    sb_printf(b, "| %lld | %lld |", (long long)llround(g->par[0].num[i]), (long long)N_of(g, i));
    for (int k = 3; k < g->n_par; ++k)
      if (g->par[k].varies) {
        pval(buf, sizeof buf, &g->par[k], i);
        sb_printf(b, " %s |", buf);
      }
    if (s->rho.n) sb_printf(b, " %.4g | %d/%d |", st_mean(&s->rho), s->ok, s->seeds);
    else sb_printf(b, " - | %d/%d |", s->ok, s->seeds);
    fmt_ms(buf, sizeof buf, &s->ltr, 0);
    fmt_ms(b2, sizeof b2, &s->lte, 0);
    sb_printf(b, " %s | %s |", buf, b2);
    if (s->best_j >= 0) {
      fmt_ms(buf, sizeof buf, &s->lbest, 0);
      sb_printf(b, " %lld | %s |", (long long)g->iters[s->best_j], buf);
    } else sb_printf(b, " - | - |");
    if (has_lim) {
      fmt_ms(buf, sizeof buf, &s->lim_te, 0);
      sb_printf(b, " %s |", buf);
    }
    if (g->acc_ok) {
      fmt_ms(buf, sizeof buf, &s->acc_N, 0);
      fmt_ms(b2, sizeof b2, &s->acc_best, 0);
      if (s->acc_best_j >= 0) snprintf(b3, sizeof b3, "%lld", (long long)g->iters[s->acc_best_j]);
      else snprintf(b3, sizeof b3, "-");
      sb_printf(b, " %s | %s | %s |", buf, b3, b2);
    }
    if (s->vk >= 0) sb_printf(b, " %s (ΔN=%lld) |\n", verdict_text(s->verdict), (long long)r->dn[s->vk]);
    else sb_printf(b, " %s |\n", verdict_text(s->verdict));
  }
  /* table 2 */
  int any = 0;
  for (int k = 0; k < r->n_dn; ++k) any |= g->dn_used[k];
  if (!any) {
    sb_printf(b, "\nTable 2 (%s): no N+ΔN of the ΔN list is in test_iters: no D to report.\n", g->name);
    return;
  }
  sb_printf(b, "\nTable 2 (%s): D(N, ΔN) = L(N+ΔN) - L(N), absolute and relative to L(N)\n\n| width | N |",
            g->name);
  for (int k = 3; k < g->n_par; ++k)
    if (g->par[k].varies) sb_printf(b, " %s |", g->par[k].name);
  sb_printf(b, " ΔN | D_train | D_train / L_train(N) | D_test | D_test / L_test(N) | t of D_test (k seeds) | at this ΔN |\n"
               "|---|---|");
  for (int k = 3; k < g->n_par; ++k)
    if (g->par[k].varies) sb_printf(b, "---|");
  sb_printf(b, "---|---|---|---|---|---|---|\n");
  for (int p = 0; p < g->P; ++p) {
    const pstat *s = &g->ps[p];
    long i = s->rep;
    for (int k = 0; k < r->n_dn; ++k) {
      const dstat *d = &s->d[k];
      if (d->j < 0 || s->jN < 0) continue;
      sb_printf(b, "| %lld | %lld |", (long long)llround(g->par[0].num[i]), (long long)N_of(g, i));
      for (int q = 3; q < g->n_par; ++q)
        if (g->par[q].varies) {
          pval(buf, sizeof buf, &g->par[q], i);
          sb_printf(b, " %s |", buf);
        }
      sb_printf(b, " +%lld |", (long long)r->dn[k]);
      fmt_signed(buf, sizeof buf, &d->dtr);
      if (d->rel_tr) fmt_ms(b2, sizeof b2, &d->rtr, 1);
      else snprintf(b2, sizeof b2, "- (L(N) = 0)");
      sb_printf(b, " %s | %s |", buf, b2);
      fmt_signed(buf, sizeof buf, &d->dte);
      if (d->rel_te) fmt_ms(b2, sizeof b2, &d->rte, 1);
      else snprintf(b2, sizeof b2, "- (L(N) = 0)");
      sb_printf(b, " %s | %s |", buf, b2);
      if (isfinite(d->t)) sb_printf(b, " %+.3g (%d; crit %.3g) |", d->t, d->dte.n, d->tcrit);
      else if (isinf(d->t)) sb_printf(b, " %s (%d; s = 0) |", d->t > 0 ? "+inf" : "-inf", d->dte.n);
      else sb_printf(b, " - (%d) |", d->dte.n);
      if (d->n_div) sb_printf(b, " %s; %d seed(s) diverge |\n", verdict_short(d->verdict), d->n_div);
      else sb_printf(b, " %s |\n", verdict_short(d->verdict));
    }
  }
  if (g->has_bound && g->bound_pairs > 0)
    sb_printf(b, "\nAffine-case check (%s, training data, %ld (ok row, ΔN) pairs): the identity D·(T q) = "
                 "½‖Δ‖² + ⟨P⊥Δ, r_N⟩ matches the measured D_train to a relative error of at most %.2g; "
                 "the lower bound ½‖Δ‖² - √(2 E_N)·‖P⊥Δ‖ is above the measured D in %ld of them.\n",
              g->name, g->bound_pairs, g->ident_max, g->bound_viol);
}

/* ---- CSV ---------------------------------------------------------------- */

static void csv_str(FILE *f, const char *s) {
  if (strpbrk(s, ",\"\n\r")) {
    fputc('"', f);
    for (; *s; ++s) {
      if (*s == '"') fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else fputs(s, f);
}
static void csv_num(FILE *f, double x) {
  if (isfinite(x)) fprintf(f, "%.15g", x);
  else if (isnan(x)) fputs("", f);
  else fputs(x > 0 ? "inf" : "-inf", f);
}

/* The union of the parameter names over groups (first-seen order). */
static int union_params(const report *r, const char ***names, int *n, int skip_seed) {
  int err = 0;
  int cap = 0;
  for (int i = 0; i < r->n_g; ++i) cap += r->g[i].n_par;
  ISW_ALLOC(*names, cap);
  *n = 0;
  for (int i = 0; i < r->n_g; ++i)
    for (int k = 0; k < r->g[i].n_par; ++k) {
      const char *nm = r->g[i].par[k].name;
      if (skip_seed && k == 2) continue;
      int seen = 0;
      for (int q = 0; q < *n; ++q) seen |= !strcmp((*names)[q], nm);
      if (!seen) (*names)[(*n)++] = nm;
    }
cleanup:
  return err;
}

static int write_curves_csv(const report *r, const char *path) {
  int err = 0;
  FILE *f = NULL;
  const char **pn = NULL, **cn = NULL;
  int n_pn = 0, n_cn = 0, cap = 0;
  ISW_CALL(union_params(r, &pn, &n_pn, 0));
  for (int i = 0; i < r->n_g; ++i) cap += r->g[i].n_cur;
  ISW_ALLOC(cn, cap);
  for (int i = 0; i < r->n_g; ++i)
    for (int k = 0; k < r->g[i].n_cur; ++k) {
      int seen = 0;
      for (int q = 0; q < n_cn; ++q) seen |= !strcmp(cn[q], r->g[i].cur[k].name);
      if (!seen) cn[n_cn++] = r->g[i].cur[k].name;
    }
  f = fopen(path, "w");
  ISW_CHECK(f != NULL, ISW_EUSAGE, "%s: cannot write (%s; choose another report folder)", path, strerror(errno));
  fputs("task,config_id", f);
  for (int q = 0; q < n_pn; ++q) fprintf(f, ",%s", pn[q]);
  fputs(",status,rho,n", f);
  for (int q = 0; q < n_cn; ++q) fprintf(f, ",%s", cn[q]);
  fputc('\n', f);
  for (int gi = 0; gi < r->n_g; ++gi) {
    const tgroup *g = &r->g[gi];
    int pidx[ISW_MAX_PARAMS + 8], cidx[256];
    for (int q = 0; q < n_pn && q < ISW_MAX_PARAMS + 8; ++q) {
      pidx[q] = -1;
      for (int k = 0; k < g->n_par; ++k)
        if (!strcmp(g->par[k].name, pn[q])) pidx[q] = k;
    }
    for (int q = 0; q < n_cn && q < 256; ++q) cidx[q] = find_curve(g, cn[q]);
    for (long i = 0; i < g->C; ++i)
      for (long j = 0; j < g->T; ++j) {
        char v[STRW];
        csv_str(f, g->name);
        fprintf(f, ",%016llx", (unsigned long long)g->ids[i]);
        for (int q = 0; q < n_pn && q < ISW_MAX_PARAMS + 8; ++q) {
          fputc(',', f);
          if (pidx[q] < 0) continue;
          pval(v, sizeof v, &g->par[pidx[q]], i);
          csv_str(f, v);
        }
        fprintf(f, ",%s,", isw_status_name((isw_status)(g->status[i] <= ISW_ST_FAILED ? g->status[i] : ISW_ST_FAILED)));
        csv_num(f, g->rho[i]);
        fprintf(f, ",%lld", (long long)g->iters[j]);
        for (int q = 0; q < n_cn && q < 256; ++q) {
          fputc(',', f);
          if (cidx[q] >= 0) csv_num(f, cv(g, cidx[q], i, j));
        }
        fputc('\n', f);
      }
  }
  ISW_CHECK(!ferror(f), ISW_EUSAGE, "%s: write error (disk full?)", path);
cleanup:
  if (f && fclose(f) != 0 && !err) err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s: write error", path);
  free(pn);
  free(cn);
  return err;
}

static void csv_stat(FILE *f, const mstat *s, double scale) {
  fputc(',', f);
  csv_num(f, s->n ? scale * st_mean(s) : NAN);
  fputc(',', f);
  csv_num(f, scale * st_sd(s));
}

static int write_points_csv(const report *r, const char *path) {
  int err = 0;
  FILE *f = NULL;
  const char **pn = NULL;
  int n_pn = 0;
  ISW_CALL(union_params(r, &pn, &n_pn, 1));
  f = fopen(path, "w");
  ISW_CHECK(f != NULL, ISW_EUSAGE, "%s: cannot write (%s; choose another report folder)", path, strerror(errno));
  fputs("task", f);
  for (int q = 0; q < n_pn; ++q) fprintf(f, ",%s", pn[q]);
  fputs(",seeds,seeds_ok,rho,L_train_N,L_train_N_sd,L_test_N,L_test_N_sd,best_n,L_test_best,L_test_best_sd,"
        "delta_n,n,D_train,D_train_sd,D_train_rel,D_train_rel_sd,D_test,D_test_sd,D_test_rel,D_test_rel_sd,"
        "k_test,diverged_seeds,t,t_crit,verdict_delta_n,verdict\n",
        f);
  for (int gi = 0; gi < r->n_g; ++gi) {
    const tgroup *g = &r->g[gi];
    for (int p = 0; p < g->P; ++p) {
      const pstat *s = &g->ps[p];
      long i = s->rep;
      int avail = 0;
      for (int q = 0; q < r->n_dn; ++q) avail |= s->d[q].j >= 0 && s->jN >= 0;
      for (int k = avail ? 0 : -1; k < (avail ? r->n_dn : 0); ++k) {
        const dstat *d = k >= 0 ? &s->d[k] : NULL; /* NULL: the point has no ΔN; one row without D */
        if (d && (d->j < 0 || s->jN < 0)) continue;
        csv_str(f, g->name);
        for (int q = 0; q < n_pn; ++q) {
          fputc(',', f);
          const pcol *pc = param(g, pn[q]);
          if (!pc) continue;
          char v[STRW];
          pval(v, sizeof v, pc, i);
          csv_str(f, v);
        }
        fprintf(f, ",%d,%d,", s->seeds, s->ok);
        csv_num(f, st_mean(&s->rho));
        csv_stat(f, &s->ltr, 1);
        csv_stat(f, &s->lte, 1);
        fputc(',', f);
        if (s->best_j >= 0) fprintf(f, "%lld", (long long)g->iters[s->best_j]);
        csv_stat(f, &s->lbest, 1);
        if (d) {
          fprintf(f, ",%lld,%lld", (long long)r->dn[k], (long long)g->iters[d->j]);
          csv_stat(f, &d->dtr, 1);
          mstat none = {0};
          csv_stat(f, d->rel_tr ? &d->rtr : &none, 1);
          csv_stat(f, &d->dte, 1);
          csv_stat(f, d->rel_te ? &d->rte : &none, 1);
          fprintf(f, ",%d,%d,", d->dte.n, d->n_div);
          csv_num(f, d->t);
          fputc(',', f);
          csv_num(f, d->tcrit);
          fputc(',', f);
          csv_str(f, verdict_text(d->verdict));
        } else
          fputs(",,,,,,,,,,,,,,,,", f);
        fputc(',', f);
        csv_str(f, verdict_text(s->verdict));
        fputc('\n', f);
      }
    }
  }
  ISW_CHECK(!ferror(f), ISW_EUSAGE, "%s: write error (disk full?)", path);
cleanup:
  if (f && fclose(f) != 0 && !err) err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s: write error", path);
  free(pn);
  return err;
}

/* ---- gnuplot ------------------------------------------------------------ */

/* A colour for position t in [0, 1] of an ordered axis (viridis, cut before
 * its pale yellow end), "#rrggbb". */
static void seq_color(char out[8], double t) {
  static const unsigned char vir[9][3] = {{0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b},
                                          {0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c}, {0x28, 0xae, 0x80},
                                          {0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25}};
  double x = fmin(fmax(t, 0.0), 1.0) * 0.85 * 8;
  int a = (int)floor(x);
  if (a >= 8) a = 7;
  double w = x - a;
  int c[3];
  for (int q = 0; q < 3; ++q) c[q] = (int)lround(vir[a][q] * (1 - w) + vir[a + 1][q] * w);
  snprintf(out, 8, "#%02x%02x%02x", c[0] & 0xff, c[1] & 0xff, c[2] & 0xff);
}
static const char *cat_color(int i) {
  static const char *const pal[10] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return pal[((i % 10) + 10) % 10];
}

/* A gnuplot single-quoted string literal of s. */
static void gp_str(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; ++s) {
    if (*s == '\'') fputc('\'', f);
    if (*s != '\n') fputc(*s, f);
  }
  fputc('\'', f);
}

/* Append s to b as a gnuplot single-quoted string literal. */
static void sb_quote(sbuf *b, const char *s) {
  sb_printf(b, "'");
  for (; *s; ++s) {
    if (*s == '\n') continue;
    sb_printf(b, *s == '\'' ? "''" : "%c", *s);
  }
  sb_printf(b, "'");
}

#define MAX_KEY 16 /* more curves than this in a panel: no legend (colours follow width / series) */

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Emit the y axis settings of one panel.  The scale is chosen from `core`
 * (nc values): linear, or symmetric-log when their magnitudes span more than
 * ~2 decades.  On a linear scale, values of `all` (na) beyond the range of
 * `core` are clipped (explicit yrange); returns 1 when that happened. */
static int gp_yaxis(FILE *f, const double *core, int nc, const double *all, int na, int id) {
  double *a = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *a);
  int m = 0, clipped = 0;
  double A = 0, lo = INFINITY, hi = -INFINITY;
  for (int i = 0; a && i < nc; ++i)
    if (isfinite(core[i])) {
      lo = fmin(lo, core[i]);
      hi = fmax(hi, core[i]);
      if (core[i] != 0) {
        a[m++] = fabs(core[i]);
        A = fmax(A, fabs(core[i]));
      }
    }
  fprintf(f, "unset nonlinear y\nset ytics autofreq\nset format y '%%g'\nset yrange [*:*]\n");
  int symlog = 0;
  if (m >= 3) {
    qsort(a, (size_t)m, sizeof *a, cmp_dbl);
    double med = a[m / 2];
    if (A / med > 200) {
      symlog = 1;
      double c = pow(10, floor(log10(med / 10)));
      fprintf(f, "# symmetric log scale: linear within +-%g, logarithmic beyond\n", c);
      fprintf(f, "c%d = %.6g\n", id, c);
      fprintf(f, "set nonlinear y via sgn(y)*log10(1+abs(y)/c%d) inverse sgn(y)*c%d*(10**abs(y)-1)\n", id, id);
      int d0 = (int)lround(log10(c)) + 1, d1 = (int)ceil(log10(A));
      int step = (d1 - d0) > 6 ? 2 : 1;
      fprintf(f, "set ytics (\"0\" 0");
      for (int d = d0; d <= d1; d += step)
        fprintf(f, ", \"%g\" %g, \"-%g\" -%g", pow(10, d), pow(10, d), pow(10, d), pow(10, d));
      fprintf(f, ")\n");
    }
  }
  if (!symlog && hi >= lo) {
    double alo = lo, ahi = hi;
    for (int i = 0; i < na; ++i)
      if (isfinite(all[i])) {
        alo = fmin(alo, all[i]);
        ahi = fmax(ahi, all[i]);
      }
    clipped = ahi - alo > 3 * (hi - lo); /* only when the rest would squash the core */
    if (clipped) {
      double pad = hi > lo ? 0.08 * (hi - lo) : fmax(fabs(hi) * 0.1, 1e-12);
      fprintf(f, "set yrange [%.10g:%.10g]\n", lo - pad, hi + pad);
    }
  }
  free(a);
  return clipped;
}

typedef struct {
  FILE *gp, *dat;
  char name[400]; /* fig_xxx (no extension) */
  int block;      /* next index in the .dat */
} gfig;

/* Open DIR/NAME.gp and DIR/NAME.dat for a rows x cols multiplot whose
 * panels have at most `key_entries` legend entries (the legend goes below
 * each panel, two entries a line). */
static int fig_open(gfig *fg, report *r, const char *name, int cols, int rows, int key_entries, const char *title) {
  int err = 0;
  char path[4600];
  memset(fg, 0, sizeof *fg);
  snprintf(fg->name, sizeof fg->name, "%s", name);
  snprintf(path, sizeof path, "%s/%s.gp", r->dir, name);
  fg->gp = fopen(path, "w");
  ISW_CHECK(fg->gp != NULL, ISW_EUSAGE, "%s: cannot write (%s; choose another report folder)", path, strerror(errno));
  snprintf(path, sizeof path, "%s/%s.dat", r->dir, name);
  fg->dat = fopen(path, "w");
  ISW_CHECK(fg->dat != NULL, ISW_EUSAGE, "%s: cannot write (%s; choose another report folder)", path, strerror(errno));
  fprintf(fg->gp, "# %s.gp: written by `isweep report %s`.\n# Restyle and re-render with `gnuplot %s.gp` in this "
                  "folder; the data are in %s.dat (one block per curve, see its comments).\n",
          name, r->file, name, name);
  int key_rows = (key_entries + 1) / 2;
  fprintf(fg->gp, "set terminal pngcairo size %d,%d noenhanced font 'Sans,10'\nset output '%s.png'\n",
          cols * 560 + (cols == 1 ? 340 : 40), rows * (400 + 15 * key_rows) + 60, name);
  fprintf(fg->gp, "set datafile missing 'NaN'\nset grid lc rgb '#dddddd'\n"
                  "set key bmargin center horizontal maxcols 2 font ',8'\nset bmargin %d\n", key_rows + 3);
  fprintf(fg->gp, "set multiplot layout %d,%d title ", rows, cols);
  char full[2200];
  snprintf(full, sizeof full, "%s%s", title, r->partial);
  gp_str(fg->gp, full);
  fprintf(fg->gp, " font ',12'\n");
  fprintf(fg->dat, "# %s.dat: data of %s.png, from %s; blocks separated by two blank lines (gnuplot 'index')\n", name,
          name, r->file);
cleanup:
  return err;
}

static int fig_close(gfig *fg, report *r) {
  int err = 0;
  if (fg->gp) {
    fprintf(fg->gp, "unset multiplot\n");
    ISW_CHECK(!ferror(fg->gp) && !ferror(fg->dat), ISW_EUSAGE, "%s/%s: write error (disk full?)", r->dir, fg->name);
  }
cleanup:
  if (fg->gp) fclose(fg->gp);
  if (fg->dat) fclose(fg->dat);
  fg->gp = fg->dat = NULL;
  if (!err) r->n_figs++;
  return err;
}

/* Start a data block; returns its index. */
static int dat_block(gfig *fg, const char *what, const char *columns) {
  if (fg->block) fputs("\n\n", fg->dat);
  fprintf(fg->dat, "# block %d: %s\n# %s\n", fg->block, what, columns);
  return fg->block++;
}
static void dat_num(FILE *f, double x) {
  if (isfinite(x)) fprintf(f, " %.10g", x);
  else fputs(" NaN", f);
}

/* Run gnuplot on DIR/NAME.gp in DIR; returns 0 when the PNG was written. */
static int run_gnuplot(report *r, const char *name) {
  char cd[4700], script[420], log[4600], png[4600];
  pid_t pid;
  int status = 0;
  posix_spawn_file_actions_t fa;
  if (r->gnuplot_missing) return -1;
  size_t u = (size_t)snprintf(cd, sizeof cd, "cd '");
  for (const char *s = r->dir; *s && u + 3 < sizeof cd; ++s) {
    if (*s == '\'') cd[u++] = '\'';
    cd[u++] = *s;
  }
  snprintf(cd + u, sizeof cd - u, "'");
  snprintf(script, sizeof script, "%s.gp", name);
  snprintf(log, sizeof log, "%s/gnuplot.log", r->dir);
  snprintf(png, sizeof png, "%s/%s.png", r->dir, name);
  char *argv[] = {"gnuplot", "-e", cd, script, NULL};
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e != 0) {
    fprintf(stderr, "isweep: warning: cannot run gnuplot (%s): figures' .gp and .dat files are written, PNGs "
                    "are not (install gnuplot-nox and run `gnuplot FILE.gp` in %s)\n",
            strerror(e), r->dir);
    r->gnuplot_missing = 1;
    return -1;
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  struct stat st;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(png, &st) != 0 || st.st_size == 0) {
    fprintf(stderr, "isweep: warning: gnuplot failed on %s/%s.gp (see %s)\n", r->dir, name, log);
    return -1;
  }
  r->n_png++;
  return 0;
}

/* The distinct N of the points of a set that have ok rows, ascending. */
static int distinct_N(const tgroup *g, const int *pts, int n, int64_t *out) {
  int m = 0;
  for (int q = 0; q < n; ++q) {
    if (g->ps[pts[q]].ok == 0) continue;
    int64_t v = N_of(g, g->ps[pts[q]].rep);
    int seen = 0;
    for (int a = 0; a < m; ++a) seen |= out[a] == v;
    if (!seen) out[m++] = v;
  }
  for (int a = 1; a < m; ++a)
    for (int b = a; b > 0 && out[b - 1] > out[b]; --b) {
      int64_t t = out[b];
      out[b] = out[b - 1];
      out[b - 1] = t;
    }
  return m;
}

/* "grad-implicit_activation-relu": a file-name tag of a label. */
static void tag_of(char *out, size_t len, const char *label) {
  size_t u = 0;
  for (const char *s = label; *s && u + 1 < len; ++s) {
    char c = *s;
    if (c == '=') c = '-';
    else if (c == ',' ) c = '_';
    else if (c == ' ') continue;
    else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
      c = '-';
    out[u++] = c;
  }
  out[u] = '\0';
}

/* Per-n gap of one grid point, mean (and sd) over its ok seeds:
 * accuracy mode: 100 (acc(n) - acc(N)) percentage points; loss mode:
 * 100 (L(n) - L(N)) / L(N) percent.  res: mean residual (NaN without). */
static void point_gap(const tgroup *g, int p, int acc, long j, double *mean, double *sd, double *res, double *metric) {
  mstat s = {0}, rs = {0}, ms = {0};
  const pstat *ps = &g->ps[p];
  int c = acc ? g->c_acc : g->c_test;
  for (int q = g->pstart[p]; q < g->pstart[p + 1]; ++q) {
    long i = g->prow[q];
    if (g->status[i] != ISW_ST_OK) continue;
    double x = cv(g, c, i, j);
    st_add(&ms, x);
    if (g->c_res >= 0) st_add(&rs, cv(g, g->c_res, i, j));
    if (ps->jN < 0) continue;
    double x0 = cv(g, c, i, ps->jN);
    if (acc) st_add(&s, 100 * (x - x0));
    else if (fabs(x0) > REL_FLOOR) st_add(&s, 100 * (x - x0) / x0);
  }
  *mean = s.n ? st_mean(&s) : NAN;
  *sd = st_sd(&s);
  *res = rs.n ? st_mean(&rs) : NAN;
  *metric = ms.n ? st_mean(&ms) : NAN;
}

#define LABW 1024 /* bytes of a class label */

/* Group the grid points into classes of equal axes_label(with_N, skip) —
 * every varying parameter but width, seed, `skip` and (unless with_N) N:
 * cls[p] (P) is the class of point p, numbered in first-seen order; returns
 * the number of classes, or -1 when out of memory. */
static int classify(const tgroup *g, int with_N, const char *skip, int *cls) {
  long cap = 1;
  while (cap < 2 * (long)g->P) cap *= 2;
  char *lab = malloc((size_t)g->P * LABW);
  int *slot = calloc((size_t)cap, sizeof *slot); /* first point of a class + 1 */
  int n = 0;
  if (!lab || !slot) n = -1;
  for (int p = 0; n >= 0 && p < g->P; ++p) {
    char *l = lab + (size_t)p * LABW;
    axes_label(l, LABW, g, g->ps[p].rep, 0, with_N, skip, ",");
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = l; *c; ++c) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    long at = (long)(h & (uint64_t)(cap - 1));
    while (slot[at] && strcmp(lab + (size_t)(slot[at] - 1) * LABW, l)) at = (at + 1) & (cap - 1);
    if (slot[at]) cls[p] = cls[slot[at] - 1];
    else {
      slot[at] = p + 1;
      cls[p] = n++;
    }
  }
  free(lab);
  free(slot);
  return n;
}

/* The points of class c (cls from classify), sorted by width, into pts. */
static int class_points(const tgroup *g, const int *cls, int c, int *pts) {
  int n = 0;
  for (int p = 0; p < g->P; ++p)
    if (cls[p] == c) pts[n++] = p;
  for (int x = 1; x < n; ++x)
    for (int y = x; y > 0 && g->par[0].num[g->ps[pts[y - 1]].rep] > g->par[0].num[g->ps[pts[y]].rep]; --y) {
      int t = pts[y];
      pts[y] = pts[y - 1];
      pts[y - 1] = t;
    }
  return n;
}

/* Figures 1 and 3: test-metric gap against n, panels per N.  fig3: curves
 * per (width, grad) with grad as the line style; fig1: per width with the
 * residual on y2. */
static int fig_gap(report *r, const tgroup *g, int fig3) {
  int err = 0;
  int *pts = NULL, *cls = NULL;
  int64_t *Ns = NULL;
  double *vals = NULL, *rvals = NULL, *cvals = NULL;
  gfig fg = {0};
  const pcol *grad = fig3 ? param(g, "grad") : NULL;
  if (fig3 && (!grad || !grad->is_str)) return 0;
  ISW_ALLOC(pts, g->P);
  ISW_ALLOC(cls, g->P);
  ISW_ALLOC(Ns, g->P);
  ISW_ALLOC(vals, (size_t)g->P * g->T);
  ISW_ALLOC(rvals, (size_t)g->P * g->T);
  ISW_ALLOC(cvals, (size_t)g->P * g->T);
  int acc = g->acc_ok;
  const char *skip = fig3 ? "grad" : NULL;
  int n_cls = classify(g, 0, skip, cls);
  ISW_CHECK(n_cls >= 0, ISW_ENOMEM, "out of memory grouping the grid points of %s", g->name);
  for (int cl = 0; cl < n_cls; ++cl) {
    int n = class_points(g, cls, cl, pts);
    int any_ok = 0;
    for (int q = 0; q < n; ++q) any_ok |= g->ps[pts[q]].ok > 0;
    if (!any_ok) continue;
    int p0 = pts[0];
    char lab[1024], tag[1024], name[400], title[2048];
    axes_label(lab, sizeof lab, g, g->ps[p0].rep, 0, 0, skip, ", ");
    tag_of(tag, sizeof tag, lab);
    snprintf(name, sizeof name, "fig%d_%s%s%.100s", fig3 ? 3 : 1, g->name, tag[0] ? "_" : "", tag);
    int nN = distinct_N(g, pts, n, Ns);
    int cols = nN < 3 ? nN : 3, rows = (nN + cols - 1) / cols;
    const char *what = acc ? "test accuracy gap acc(n) - acc(N)" : "relative test-loss gap (L(n) - L(N)) / L(N)";
    if (fig3)
      snprintf(title, sizeof title, "%s%s%s%s: training with unrolled vs implicit gradients — %s against n", g->name,
               lab[0] ? " (" : "", lab, lab[0] ? ")" : "", what);
    else
      snprintf(title, sizeof title, "%s%s%s%s: %s against n", g->name, lab[0] ? " (" : "", lab, lab[0] ? ")" : "", what);
    int per_panel = 0; /* legend entries: curves of the fullest panel, + residual/grad styles, + n = N */
    for (int a = 0; a < nN; ++a) {
      int c = 0;
      for (int q = 0; q < n; ++q) c += g->ps[pts[q]].ok > 0 && N_of(g, g->ps[pts[q]].rep) == Ns[a];
      if (c > per_panel) per_panel = c;
    }
    int keyed = per_panel <= MAX_KEY;
    if (!keyed)
      snprintf(title + strlen(title), sizeof title - strlen(title),
               " — %d widths, no legend: colour from dark (smallest) to light (largest width)", per_panel);
    ISW_CALL(fig_open(&fg, r, name, cols, rows, keyed ? per_panel + (fig3 ? 3 : 2) : 2 + (fig3 ? 2 : 0), title));
    /* the grad values, in order of appearance (solid, dashed, ...) */
    char gv[4][STRW];
    int ngv = 0;
    for (int q = 0; fig3 && q < n; ++q) {
      const char *v = grad->str + (size_t)g->ps[pts[q]].rep * STRW;
      int k = -1;
      for (int a = 0; a < ngv; ++a)
        if (!strcmp(gv[a], v)) k = a;
      if (k < 0 && ngv < 4) snprintf(gv[ngv++], STRW, "%s", v);
    }
    /* widths, for the colour scale */
    double wmin = INFINITY, wmax = -INFINITY;
    for (int q = 0; q < n; ++q) {
      double w = g->par[0].num[g->ps[pts[q]].rep];
      wmin = fmin(wmin, w);
      wmax = fmax(wmax, w);
    }
    for (int a = 0; a < nN; ++a) {
      int nv = 0, nr = 0, nc = 0;
      sbuf plot = {0};
      sb_printf(&plot, "0 with lines lw 1 lc rgb '#888888' notitle"); /* the zero line; keeps an empty panel valid */
      for (int q = 0; q < n; ++q) {
        int p = pts[q];
        const pstat *ps = &g->ps[p];
        if (N_of(g, ps->rep) != Ns[a] || ps->ok == 0) continue;
        long rep = ps->rep;
        double w = g->par[0].num[rep];
        char what2[512], col[8];
        int style = 0;
        if (fig3) {
          const char *v = grad->str + (size_t)rep * STRW;
          for (int b = 0; b < ngv; ++b)
            if (!strcmp(gv[b], v)) style = b;
        }
        snprintf(what2, sizeof what2, "N=%lld width=%lld%s%s", (long long)Ns[a], (long long)llround(w),
                 fig3 ? " grad=" : "", fig3 ? grad->str + (size_t)rep * STRW : "");
        int blk = dat_block(&fg, what2, acc ? "n  gap_mean(pp)  gap_sd  residual_mean  test_accuracy_mean"
                                           : "n  gap_mean(%)  gap_sd  residual_mean  test_loss_mean");
        for (long j = 0; j < g->T; ++j) {
          double m, sd, res, met;
          point_gap(g, p, acc, j, &m, &sd, &res, &met);
          fprintf(fg.dat, "%lld", (long long)g->iters[j]);
          dat_num(fg.dat, m);
          dat_num(fg.dat, sd);
          dat_num(fg.dat, res);
          dat_num(fg.dat, met);
          fputc('\n', fg.dat);
          vals[nv++] = m;
          if (2 * g->iters[j] >= Ns[a]) cvals[nc++] = m; /* the scale follows n >= N/2 */
          if (isfinite(res) && res > 0) rvals[nr++] = res;
        }
        seq_color(col, wmax > wmin ? (log(w) - log(wmin)) / (log(wmax) - log(wmin)) : 0.0);
        char key[600];
        if (fig3)
          snprintf(key, sizeof key, "width %lld, %s", (long long)llround(w), grad->str + (size_t)rep * STRW);
        else
          snprintf(key, sizeof key, "width %lld (ρ = %.3g)", (long long)llround(w), st_mean(&ps->rho));
        sb_printf(&plot, ", \\\n     '%s.dat' index %d using 1:2 with linespoints lw 2 lc rgb '%s' pt %d ps 0.6 dt %d ",
                  fg.name, blk, col, 7 + 2 * style, 1 + style);
        if (keyed) {
          sb_printf(&plot, "title ");
          sb_quote(&plot, key);
        } else
          sb_printf(&plot, "notitle");
        if (!fig3 && g->c_res >= 0)
          sb_printf(&plot, ", \\\n     '%s.dat' index %d using 1:4 axes x1y2 with lines lw 1.5 dt 3 lc rgb '%s' notitle",
                    fg.name, blk, col);
      }
      fprintf(fg.gp, "\n# panel %d: N = %lld\n", a + 1, (long long)Ns[a]);
      fprintf(fg.gp, "set title 'trained with N = %lld'\nset xlabel 'n (inner iterations at evaluation)'\n", (long long)Ns[a]);
      fprintf(fg.gp, "set ylabel '%s'\n", acc ? "acc_test(n) - acc_test(N)  [percentage points]"
                                               : "(L_test(n) - L_test(N)) / L_test(N)  [%]");
      if (gp_yaxis(fg.gp, cvals, nc, vals, nv, a + 1))
        fprintf(fg.gp, "set xlabel 'n (inner iterations at evaluation); values at n < N/2 run off the scale'\n");
      fprintf(fg.gp, "set xrange [%lld:%lld]\n", (long long)g->iters[0], (long long)g->iters[g->T - 1]);
      fprintf(fg.gp, "unset arrow\n");
      if (Ns[a] >= g->iters[0] && Ns[a] <= g->iters[g->T - 1])
        fprintf(fg.gp, "set arrow 1 from %lld, graph 0 to %lld, graph 1 nohead dt 2 lw 1.5 lc rgb 'black'\n",
                (long long)Ns[a], (long long)Ns[a]);
      if (!fig3 && g->c_res >= 0 && nr > 0) {
        fprintf(fg.gp, "set logscale y2\nset y2tics format '%%.0e' textcolor rgb '#555555'\nset ytics nomirror\n"
                       "set y2label 'relative residual ‖f(z_n) - z_n‖/‖f(z_n)‖ (dotted)' textcolor rgb '#555555'\n");
        sb_printf(&plot, ", \\\n     keyentry with lines dt 3 lc rgb '#555555' title 'residual (right axis)'");
      } else
        fprintf(fg.gp, "unset logscale y2\nunset y2tics\nunset y2label\nset ytics mirror\n");
      if (fig3)
        for (int b = 0; b < ngv; ++b)
        {
          char t[STRW + 16];
          snprintf(t, sizeof t, "grad = %s", gv[b]);
          sb_printf(&plot, ", \\\n     keyentry with linespoints dt %d pt %d lc rgb 'black' title ", 1 + b, 7 + 2 * b);
          sb_quote(&plot, t);
        }
      sb_printf(&plot, ", \\\n     keyentry with lines dt 2 lw 1.5 lc rgb 'black' title 'n = N'");
      ISW_CHECK(!plot.oom, ISW_ENOMEM, "out of memory writing %s.gp", fg.name);
      fprintf(fg.gp, "plot %s\n", plot.s ? plot.s : "NaN notitle");
      free(plot.s);
    }
    ISW_CALL(fig_close(&fg, r));
    run_gnuplot(r, name);
  }
cleanup:
  if (fg.gp) fclose(fg.gp);
  if (fg.dat) fclose(fg.dat);
  free(pts);
  free(cls);
  free(Ns);
  free(vals);
  free(rvals);
  free(cvals);
  return err;
}

/* Figure 2: D(N, ΔN) against ρ (log x): rows relative D_train, relative
 * D_test, and for linear-meta the absolute D_train beside the affine bound;
 * columns: up to MAX_FIG_COLS ΔN values; one series per N (and any other
 * axis but width).  Every panel shares the ρ range; a row shares its y scale. */
static int fig_rho(report *r, const tgroup *g) {
  int err = 0;
  int *pts = NULL, *series = NULL;
  double *vals = NULL;
  gfig fg = {0};
  int ks[MAX_FIG_COLS], nk = 0, used[MAX_DELTA], nu = 0;
  double rlo = INFINITY, rhi = -INFINITY;
  for (int k = 0; k < r->n_dn; ++k) {
    int has = 0;
    for (int p = 0; p < g->P; ++p) has |= g->ps[p].ok > 0 && g->ps[p].jN >= 0 && g->ps[p].d[k].j >= 0;
    if (has) used[nu++] = k;
  }
  for (int p = 0; p < g->P; ++p)
    if (g->ps[p].ok > 0 && st_mean(&g->ps[p].rho) > 0) {
      rlo = fmin(rlo, st_mean(&g->ps[p].rho));
      rhi = fmax(rhi, st_mean(&g->ps[p].rho));
    }
  if (nu == 0 || !(rhi >= rlo)) return 0;
  /* x tics at the ρ values of the sweep when they are few, else log decades */
  sbuf xt = {0};
  double rv[13];
  int n_rv = 0;
  for (int p = 0; p < g->P && n_rv <= 12; ++p) {
    double v = st_mean(&g->ps[p].rho);
    int seen = 0;
    if (g->ps[p].ok == 0 || !(v > 0)) continue;
    for (int q = 0; q < n_rv; ++q) seen |= fabs(rv[q] - v) <= 1e-9 * v;
    if (!seen) rv[n_rv++] = v;
  }
  if (n_rv <= 12) {
    sb_printf(&xt, "set xtics (");
    for (int q = 0; q < n_rv; ++q) sb_printf(&xt, "%s\"%.3g\" %.10g", q ? ", " : "", rv[q], rv[q]);
    sb_printf(&xt, ")\n");
  } else
    sb_printf(&xt, "set xtics autofreq\nset mxtics 10\n");
  if (nu <= MAX_FIG_COLS)
    for (int k = 0; k < nu; ++k) ks[nk++] = used[k];
  else
    for (int k = 0; k < MAX_FIG_COLS; ++k) ks[nk++] = used[(int)lround((double)k * (nu - 1) / (MAX_FIG_COLS - 1))];
  ISW_ALLOC(pts, g->P);
  ISW_ALLOC(series, g->P);
  ISW_ALLOC(vals, 3 * (size_t)g->P * MAX_FIG_COLS + 4);
  int rows = g->has_bound ? 3 : 2;
  char name[400], title[1024];
  snprintf(name, sizeof name, "fig2_%s", g->name);
  snprintf(title, sizeof title, "%s: D(N, ΔN) = L(N+ΔN) - L(N) against the overparametrization ratio ρ "
                                "(mean ± sd over ok seeds; below 0: more iterations help)",
           g->name);
  /* series: points grouped by everything but width (so by N and the other axes) */
  int n_series = classify(g, 1, NULL, series);
  ISW_CHECK(n_series >= 0, ISW_ENOMEM, "out of memory grouping the grid points of %s", g->name);
  int keyed = n_series <= MAX_KEY / 2;
  if (!keyed)
    snprintf(title + strlen(title), sizeof title - strlen(title),
             " — %d series, no legend (see %s.dat)", n_series, name);
  ISW_CALL(fig_open(&fg, r, name, nk, rows, keyed ? (g->has_bound ? 2 * n_series : n_series) : 0, title));
  for (int row = 0; row < rows; ++row) {
    /* the row's values first: one y scale for the row */
    int nv = 0;
    for (int c = 0; c < nk; ++c)
      for (int p = 0; p < g->P; ++p) {
        const pstat *ps = &g->ps[p];
        const dstat *d = &ps->d[ks[c]];
        if (ps->ok == 0 || d->j < 0) continue;
        if (row < 2) {
          const mstat *x = row == 0 ? &d->rtr : &d->rte;
          if (!(row == 0 ? d->rel_tr : d->rel_te) || x->n == 0) continue;
          vals[nv++] = 100 * st_mean(x);
          if (x->n >= 2) vals[nv++] = 100 * (st_mean(x) + st_sd(x));
          if (x->n >= 2) vals[nv++] = 100 * (st_mean(x) - st_sd(x));
        } else {
          vals[nv++] = st_mean(&d->dtr);
          vals[nv++] = st_mean(&d->bound);
        }
      }
    for (int c = 0; c < nk; ++c) {
      int k = ks[c];
      sbuf plot = {0};
      sb_printf(&plot, "0 with lines lw 1 lc rgb '#888888' notitle"); /* the zero line; keeps an empty panel valid */
      for (int sidx = 0; sidx < n_series; ++sidx) {
        int n = 0;
        for (int p = 0; p < g->P; ++p)
          if (series[p] == sidx && g->ps[p].ok > 0 && g->ps[p].jN >= 0 && g->ps[p].d[k].j >= 0) pts[n++] = p;
        if (!n) continue;
        for (int x = 1; x < n; ++x) /* by ρ */
          for (int y = x; y > 0 && !(st_mean(&g->ps[pts[y - 1]].rho) <= st_mean(&g->ps[pts[y]].rho)); --y) {
            int t = pts[y];
            pts[y] = pts[y - 1];
            pts[y - 1] = t;
          }
        char lab[1024], what[1200];
        axes_label(lab, sizeof lab, g, g->ps[pts[0]].rep, 0, 1, NULL, ", ");
        snprintf(what, sizeof what, "%s, ΔN=%lld, %s", lab, (long long)r->dn[k],
                 row == 0 ? "relative D_train (%)" : row == 1 ? "relative D_test (%)" : "absolute D_train and bound");
        int blk = dat_block(&fg, what, row < 2 ? "rho  D_rel_mean(%)  D_rel_sd(%)  width  k_seeds"
                                                : "rho  D_train_mean  D_train_sd  bound_mean  identity_mean  width  k_seeds");
        for (int q = 0; q < n; ++q) {
          const pstat *ps = &g->ps[pts[q]];
          const dstat *d = &ps->d[k];
          fprintf(fg.dat, "%.10g", st_mean(&ps->rho));
          int kk = d->dtr.n;
          if (row < 2) {
            const mstat *x = row == 0 ? &d->rtr : &d->rte;
            int rel = row == 0 ? d->rel_tr : d->rel_te;
            dat_num(fg.dat, rel && x->n ? 100 * st_mean(x) : NAN);
            dat_num(fg.dat, rel ? 100 * st_sd(x) : NAN);
            kk = x->n;
          } else {
            dat_num(fg.dat, st_mean(&d->dtr));
            dat_num(fg.dat, st_sd(&d->dtr));
            dat_num(fg.dat, st_mean(&d->bound));
            dat_num(fg.dat, st_mean(&d->ident));
          }
          fprintf(fg.dat, " %lld %d\n", (long long)llround(g->par[0].num[ps->rep]), kk);
        }
        const char *col = cat_color(sidx);
        char t1[1200], t2[1200];
        snprintf(t1, sizeof t1, "%s%s", row < 2 ? "" : "measured D_train, ", lab);
        snprintf(t2, sizeof t2, "bound, %s", lab);
        if (row < 2)
          sb_printf(&plot, ", \\\n     '%s.dat' index %d using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.7 lc rgb '%s' ",
                    fg.name, blk, col);
        else
          sb_printf(&plot, ", \\\n     '%s.dat' index %d using 1:2:3 with yerrorbars pt 7 ps 0.8 lc rgb '%s' ", fg.name,
                    blk, col);
        if (keyed) {
          sb_printf(&plot, "title ");
          sb_quote(&plot, t1);
        } else
          sb_printf(&plot, "notitle");
        if (row == 2) {
          sb_printf(&plot, ", \\\n     '%s.dat' index %d using 1:4 with lines lw 2 dt 2 lc rgb '%s' ", fg.name, blk, col);
          if (keyed) {
            sb_printf(&plot, "title ");
            sb_quote(&plot, t2);
          } else
            sb_printf(&plot, "notitle");
        }
      }
      const char *yl = row == 0 ? "D_train / L_train(N)  [%]" : row == 1 ? "D_test / L_test(N)  [%]"
                                                                       : "D_train  [training loss units]";
      fprintf(fg.gp, "\n# panel: row %d, ΔN = %lld\n", row + 1, (long long)r->dn[k]);
      if (row < 2)
        fprintf(fg.gp, "set title '%s, ΔN = %lld'\n", row == 0 ? "relative D_train" : "relative D_test", (long long)r->dn[k]);
      else
        fprintf(fg.gp, "set title 'D_train and the affine bound (½‖Δ‖² - √(2E_N)‖P⊥Δ‖) / (T q), ΔN = %lld'\n",
                (long long)r->dn[k]);
      fprintf(fg.gp, "set logscale x\nset xrange [%.6g:%.6g]\nset xlabel 'ρ = n_params / training constraints (log scale)'\n"
                     "set ylabel '%s'\n",
              rlo / 1.5, rhi * 1.5, yl);
      fprintf(fg.gp, "%sunset arrow\n", xt.s ? xt.s : "");
      if (rlo / 1.5 < 1 && rhi * 1.5 > 1)
        fprintf(fg.gp, "set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 2 lc rgb '#888888'\n");
      fprintf(fg.gp, "unset logscale y2\nunset y2tics\nunset y2label\nset ytics mirror\n");
      gp_yaxis(fg.gp, vals, nv, vals, 0, row * MAX_FIG_COLS + c + 1);
      int omitted = 0;
      for (int p = 0; row < 2 && p < g->P; ++p)
        if (g->ps[p].ok && g->ps[p].jN >= 0 && g->ps[p].d[k].j >= 0 &&
            !(row == 0 ? g->ps[p].d[k].rel_tr : g->ps[p].d[k].rel_te))
          omitted = 1;
      if (omitted)
        fprintf(fg.gp, "set title 'relative %s, ΔN = %lld (L(N) = 0 omitted%s)'\n", row == 0 ? "D_train" : "D_test",
                (long long)r->dn[k], g->has_bound && row == 0 ? ": see the bottom row" : "");
      ISW_CHECK(!plot.oom, ISW_ENOMEM, "out of memory writing %s.gp", fg.name);
      fprintf(fg.gp, "plot %s\n", plot.s);
      free(plot.s);
    }
  }
  ISW_CALL(fig_close(&fg, r));
  run_gnuplot(r, name);
cleanup:
  if (fg.gp) fclose(fg.gp);
  if (fg.dat) fclose(fg.dat);
  free(xt.s);
  free(pts);
  free(series);
  free(vals);
  return err;
}

/* ---- the command -------------------------------------------------------- */

static int make_dir(const char *dir) {
  int err = 0;
  char buf[4096];
  struct stat st;
  ISW_CHECK(dir[0] != '\0', ISW_EUSAGE, "empty report folder (give -o DIR)");
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; ++p) {
    if (*p != '/') continue;
    *p = '\0';
    if (stat(buf, &st) != 0) ISW_CHECK(mkdir(buf, 0777) == 0 || errno == EEXIST, ISW_EUSAGE,
                                       "%s: cannot create the report folder (%s)", buf, strerror(errno));
    *p = '/';
  }
  if (stat(buf, &st) != 0)
    ISW_CHECK(mkdir(buf, 0777) == 0 || errno == EEXIST, ISW_EUSAGE, "%s: cannot create the report folder (%s)", dir,
              strerror(errno));
  ISW_CHECK(stat(buf, &st) == 0 && S_ISDIR(st.st_mode), ISW_EUSAGE, "%s: not a folder (give -o DIR)", dir);
  ISW_CHECK(access(buf, W_OK | X_OK) == 0, ISW_EUSAGE, "%s: report folder is not writable (choose another -o DIR)",
            dir);
cleanup:
  return err;
}

/* Open `file`, read its attributes and ΔN, load and aggregate every group.
 * On failure r may be partly filled: release it with report_free. */
static int report_load(report *r, const char *file, const char *const *sets, int n_sets) {
  int err = 0;
  char **names = NULL;
  int n_names = 0;
  r->file = file;
  ISW_CHECK(file && file[0], ISW_EUSAGE, "report needs a results file: isweep report FILE.h5 [-o DIR]");
  ISW_CALL(isw_results_open(&r->res, file));
  ISW_CALL(isw_results_attr_str(r->res, "/", "spec_canonical", &r->canonical));
  ISW_CALL(isw_results_attr_str(r->res, "/", "spec_path", &r->spec_path));
  ISW_CALL(isw_results_attr_str(r->res, "/", "command_line", &r->cmdline));
  ISW_CALL(isw_results_attr_str(r->res, "/", "isweep_version", &r->version));
  ISW_CALL(isw_results_attr_str(r->res, "/", "git_commit", &r->git));
  ISW_CALL(isw_results_attr_str(r->res, "/", "start_time", &r->start));
  ISW_CALL(isw_results_attr_str(r->res, "/", "end_time", &r->end));
  ISW_CALL(isw_results_attr_i64(r->res, "/", "runs", &r->runs));
  ISW_CALL(resolve_delta(r, sets, n_sets));
  ISW_CALL(isw_results_groups(r->res, &names, &n_names));
  ISW_CHECK(n_names > 0, ISW_EUSAGE, "%s: no task group in the file (damaged or foreign file)", file);
  ISW_CALL(order_groups(&names, n_names, r->canonical));
  ISW_ALLOC(r->g, n_names);
  for (int i = 0; i < n_names; ++i) {
    ISW_CALL(load_group(r, &r->g[r->n_g], names[i]));
    r->n_g++;
    ISW_CALL(aggregate(r, &r->g[r->n_g - 1]));
  }
  long total = 0, done = 0;
  for (int i = 0; i < r->n_g; ++i) {
    total += r->g[i].C;
    done += r->g[i].counts[ISW_ST_OK] + r->g[i].counts[ISW_ST_DIVERGED] + r->g[i].counts[ISW_ST_FAILED];
  }
  if (done < total) snprintf(r->partial, sizeof r->partial, " [partial: %ld of %ld configs done]", done, total);
cleanup:
  isw_results_free_names(&names, n_names);
  return err;
}

int isw_report_make(const char *file, const char *dir, const char *const *sets, int n_sets, FILE *out) {
  int err = 0;
  report r;
  sbuf md = {0};
  FILE *f = NULL;
  char path[4600];
  memset(&r, 0, sizeof r);
  r.dir = dir;
  ISW_CALL(report_load(&r, file, sets, n_sets));
  md_header(&md, &r);
  for (int i = 0; i < r.n_g; ++i) md_group(&md, &r, &r.g[i]);
  if (dir) {
    ISW_CALL(make_dir(dir));
    snprintf(path, sizeof path, "%s/gnuplot.log", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/curves.csv", dir);
    ISW_CALL(write_curves_csv(&r, path));
    snprintf(path, sizeof path, "%s/points.csv", dir);
    ISW_CALL(write_points_csv(&r, path));
    for (int i = 0; i < r.n_g; ++i) {
      ISW_CALL(fig_gap(&r, &r.g[i], 0));
      ISW_CALL(fig_rho(&r, &r.g[i]));
      ISW_CALL(fig_gap(&r, &r.g[i], 1));
    }
    sb_printf(&md, "\n## Files\n\ncurves.csv (one row per config × n), points.csv (one row per grid point × ΔN), "
                   "%d figure(s) fig*.png (%d rendered) with their gnuplot scripts fig*.gp and data fig*.dat.\n",
              r.n_figs, r.n_png);
  }
  ISW_CHECK(!md.oom, ISW_ENOMEM, "out of memory building the report");
  if (dir) {
    snprintf(path, sizeof path, "%s/summary.md", dir);
    f = fopen(path, "w");
    ISW_CHECK(f != NULL, ISW_EUSAGE, "%s: cannot write (%s; choose another report folder)", path, strerror(errno));
    fputs(md.s, f);
    int rc = fclose(f);
    f = NULL;
    ISW_CHECK(rc == 0, ISW_EUSAGE, "%s: write error (disk full?)", path);
  }
  if (out) {
    fputs(md.s, out);
    fflush(out);
  }
cleanup:
  if (f) fclose(f);
  free(md.s);
  report_free(&r);
  return err;
}

/* One summary cell: D relative to L(N) as mean ± sd in %, or absolute where
 * L(N) is 0 to rounding. */
static void summary_cell(char *buf, size_t len, const mstat *rel, const mstat *abs_, int relative) {
  if (abs_->n == 0) snprintf(buf, len, "-");
  else if (relative && rel->n >= 2) snprintf(buf, len, "%+.1f±%.1f%%", 100 * st_mean(rel), 100 * st_sd(rel));
  else if (relative) snprintf(buf, len, "%+.1f%%", 100 * st_mean(rel));
  else snprintf(buf, len, "abs %+.1e", st_mean(abs_));
}

int isw_report_summary(const char *file, FILE *out) {
  int err = 0;
  report r;
  memset(&r, 0, sizeof r);
  ISW_CALL(report_load(&r, file, NULL, 0));
  fprintf(out, "\nSummary of %s%s\n"
               "D_train(dN), D_test(dN): change of the loss evaluated with N+dN inner iterations instead of\n"
               "the training N, relative to L(N), mean ± sd over ok seeds (abs: absolute change where L(N)\n"
               "is 0 to rounding); negative = more iterations help. Verdict: paired t-test over seeds at the\n"
               "largest dN (isweep report FILE -o DIR for the full tables, CSV files and figures).\n",
          file, r.partial);
  for (int i = 0; i < r.n_g; ++i) {
    const tgroup *g = &r.g[i];
    fprintf(out, "\n%s: %ld configs: %d ok, %d diverged, %d failed, %d pending, %d running\n", g->name, g->C,
            g->counts[ISW_ST_OK], g->counts[ISW_ST_DIVERGED], g->counts[ISW_ST_FAILED], g->counts[ISW_ST_PENDING],
            g->counts[ISW_ST_RUNNING]);
    fprintf(out, "%6s %5s", "width", "N");
    for (int k = 3; k < g->n_par; ++k)
      if (g->par[k].varies) fprintf(out, " %10s", g->par[k].name);
    fprintf(out, " %9s %5s %11s %11s", "rho", "seeds", "L_train(N)", "L_test(N)");
    for (int k = 0; k < r.n_dn; ++k) {
      if (!g->dn_used[k]) continue;
      char h1[32], h2[32];
      snprintf(h1, sizeof h1, "D_train(%+lld)", (long long)r.dn[k]);
      snprintf(h2, sizeof h2, "D_test(%+lld)", (long long)r.dn[k]);
      fprintf(out, " %15s %15s", h1, h2);
    }
    fprintf(out, "  verdict\n");
    for (int p = 0; p < g->P; ++p) {
      const pstat *ps = &g->ps[p];
      char v[STRW];
      pval(v, sizeof v, &g->par[0], ps->rep);
      fprintf(out, "%6s", v);
      pval(v, sizeof v, &g->par[1], ps->rep);
      fprintf(out, " %5s", v);
      for (int k = 3; k < g->n_par; ++k) {
        if (!g->par[k].varies) continue;
        pval(v, sizeof v, &g->par[k], ps->rep);
        fprintf(out, " %10s", v);
      }
      fprintf(out, " %9.4g %2d/%-2d %11.4e %11.4e", st_mean(&ps->rho), ps->ok, ps->seeds, st_mean(&ps->ltr),
              st_mean(&ps->lte));
      for (int k = 0; k < r.n_dn; ++k) {
        if (!g->dn_used[k]) continue;
        char c1[48], c2[48];
        summary_cell(c1, sizeof c1, &ps->d[k].rtr, &ps->d[k].dtr, ps->d[k].rel_tr);
        summary_cell(c2, sizeof c2, &ps->d[k].rte, &ps->d[k].dte, ps->d[k].rel_te);
        fprintf(out, " %15s %15s", c1, c2);
      }
      fprintf(out, "  %s\n", verdict_short(ps->verdict));
    }
  }
  fflush(out);
cleanup:
  report_free(&r);
  return err;
}

int isw_report_command(const isw_cli *cli) {
  int err = isw_report_make(cli->report_file, cli->report_dir, cli->sets, cli->n_sets, cli->quiet ? NULL : stdout);
  if (err) {
    fprintf(stderr, "isweep: error: %s\n", isw_error_message());
    if (err != ISW_EUSAGE) fputs(isw_error_traceback(), stderr);
    return err;
  }
  if (cli->report_dir) fprintf(stderr, "isweep: report written to %s/ (summary.md, curves.csv, points.csv, fig*.png)\n", cli->report_dir);
  else fprintf(stderr, "isweep: tables only; give -o DIR for summary.md, CSV files and figures\n");
  return 0;
}
