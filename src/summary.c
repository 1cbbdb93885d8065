/* summary.c — the end-of-run table (summary.h): the statistics and verdict
 * rule of the Python report, computed in C from a results file read through
 * results.c.  Everything is found by the columns' role attributes
 * (schema.h); no family's column names appear here.  Must not write files,
 * draw figures or talk MPI. */
#include "isweep/summary.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/results.h"
#include "isweep/schema.h"
#include "isweep/task.h"

#define REL_FLOOR 1e-12 /* |L(N)| at or below this: D is taken absolute */
#define ROUNDING 1e-9   /* |mean D| within this (relative): rounding */
#define EFFECT 0.10     /* a large relative change */
#define MIN_CONSISTENT 3
#define PATH_LEN 300

/* ---- the verdict rule ---------------------------------------------------- */

double isw_summary_t_crit(int df) {
  static const double tab[31] = {NAN,      12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624,
                                 2.306004, 2.262157,  2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450,
                                 2.119905, 2.109816,  2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658,
                                 2.063899, 2.059539,  2.055529, 2.051831, 2.048407, 2.045230, 2.042272};
  if (df < 1) return NAN;
  if (df <= 30) return tab[df];
  /* Cornish-Fisher expansion around z = 1.959964 (error < 1e-4 for df > 30) */
  double z = 1.959964, d = df;
  return z + (z * z * z + z) / (4 * d) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

isw_verdict isw_summary_verdict(const double *d, int k, int n_div, double scale) {
  int total = k + n_div;
  if (total == 0) return ISW_V_PENDING;
  if (n_div > 0 && 2 * n_div >= total) return ISW_V_HURT_DIV;
  if (k < 2) return ISW_V_UNDECIDED;
  double m = 0, s2 = 0;
  for (int i = 0; i < k; ++i) m += d[i];
  m /= k;
  for (int i = 0; i < k; ++i) s2 += (d[i] - m) * (d[i] - m);
  double s = sqrt(s2 / (k - 1)), tc = isw_summary_t_crit(k - 1);
  if (fabs(m) <= ROUNDING * scale) return ISW_V_NS;
  isw_verdict sign = m < 0 ? ISW_V_HELP : ISW_V_HURT;
  if (s == 0 || fabs(m / (s / sqrt(k))) > tc) return sign;
  double big = EFFECT * scale;
  if (k >= MIN_CONSISTENT) {
    int up = 1, down = 1;
    for (int i = 0; i < k; ++i) {
      up &= d[i] >= big;
      down &= d[i] <= -big;
    }
    if (up || down) return sign;
  }
  double half = tc * s / sqrt(k);
  if (m - half > -big && m + half < big) return ISW_V_NS;
  return ISW_V_UNDECIDED;
}

const char *isw_summary_verdict_name(isw_verdict v) {
  switch (v) {
    case ISW_V_PENDING: return "pending";
    case ISW_V_UNDECIDED: return "undecided";
    case ISW_V_NS: return "no significant change";
    case ISW_V_HELP: return "more iterations help";
    case ISW_V_HURT: return "hurt";
    case ISW_V_HURT_DIV: return "hurt (diverges)";
  }
  return "?";
}

/* ---- one task group ------------------------------------------------------ */

/* The summary reads a group in blocks of rows and keeps only the rows that
 * are not pending (the ones the table is made of), so its memory grows with
 * the rows run, not with the file: a file of 10^6 pending rows costs a few
 * blocks.  Shapes: C = rows in the file, K = rows kept (not pending), T =
 * test_iters, B = ISW_RESULTS_BLOCK. */

typedef struct {
  char name[128];
  int is_str;
  double *num; /* (K) */
  char *str;   /* (K, ISW_STRING_LEN) */
  double *bnum; /* (B) one block of every row, while pending rows are counted */
  char *bstr;   /* (B, ISW_STRING_LEN) */
  int varies;
} param;

typedef struct {
  char name[128];
  double *v;            /* (K) */
  double lo, hi;        /* valid range of v / per */
  double *per;          /* (K) product of the `per` columns, NULL: 1 */
  int row;              /* qualifies the row (not only its limit) */
} validity;

typedef struct {
  const char *task;
  long C, K, T;
  long *rows;      /* (K) file rows kept, ascending */
  long counts[5];  /* rows of each status over all C */
  int64_t *iters;  /* (T) */
  uint8_t *status; /* (K) */
  double *rho;     /* (K) */
  double *ltr, *lte; /* (K, T) */
  param *par;      /* (n_par) */
  int n_par, i_width, i_N, i_seed;
  validity *val;   /* (n_val) */
  int n_val;
  unsigned char *flagged; /* (K) */
} group;

static void group_free(group *g) {
  for (int k = 0; k < g->n_par; ++k) {
    free(g->par[k].num);
    free(g->par[k].str);
    free(g->par[k].bnum);
    free(g->par[k].bstr);
  }
  for (int k = 0; k < g->n_val; ++k) {
    free(g->val[k].v);
    free(g->val[k].per);
  }
  free(g->par);
  free(g->val);
  free(g->rows);
  free(g->iters);
  free(g->status);
  free(g->rho);
  free(g->ltr);
  free(g->lte);
  free(g->flagged);
  memset(g, 0, sizeof *g);
}

/* A string attribute of column NAME of the group, or NULL (caller frees). */
static char *col_attr(isw_results *r, const char *task, const char *name, const char *attr) {
  char path[PATH_LEN];
  char *v = NULL;
  snprintf(path, sizeof path, "%s/%s", task, name);
  if (!isw_results_has_attr(r, path, attr) || isw_results_attr_str(r, path, attr, &v) != 0) return NULL;
  return v;
}

static int is(const char *a, const char *b) { return a && !strcmp(a, b); }

/* g->rows, g->status (K) and g->counts from the status column, block by block. */
static int keep_rows(group *g, isw_results *r) {
  int err = 0;
  uint8_t *blk = NULL;
  long cap = 0;
  ISW_ALLOC(blk, ISW_RESULTS_BLOCK);
  for (long b0 = 0; b0 < g->C; b0 += ISW_RESULTS_BLOCK) {
    long n = g->C - b0 < ISW_RESULTS_BLOCK ? g->C - b0 : ISW_RESULTS_BLOCK;
    ISW_CALL(isw_results_range_u8(r, g->task, "status", blk, g->C, b0, n));
    for (long i = 0; i < n; ++i) {
      g->counts[blk[i] <= ISW_ST_FAILED ? blk[i] : ISW_ST_FAILED]++;
      if (blk[i] == ISW_ST_PENDING) continue;
      if (g->K == cap) {
        long nc = cap ? 2 * cap : 1024;
        long *nr = realloc(g->rows, (size_t)nc * sizeof *nr);
        uint8_t *ns = nr ? realloc(g->status, (size_t)nc) : NULL;
        if (nr) g->rows = nr;
        if (ns) g->status = ns;
        ISW_CHECK(nr && ns, ISW_ENOMEM, "out of memory reading the status column of /%s", g->task);
        cap = nc;
      }
      g->rows[g->K] = b0 + i;
      g->status[g->K++] = blk[i];
    }
  }
cleanup:
  free(blk);
  return err;
}

static int load_group(group *g, isw_results *r, const char *task) {
  int err = 0;
  isw_results_column *cols = NULL;
  int n_cols = 0;
  char *role = NULL, *split = NULL, *qual = NULL, *per = NULL;
  double *tmp = NULL;
  memset(g, 0, sizeof *g);
  g->task = task;
  g->i_width = g->i_N = g->i_seed = -1;
  ISW_CALL(isw_results_columns(r, task, &cols, &n_cols));
  for (int c = 0; c < n_cols; ++c) {
    if (!strcmp(cols[c].name, "config_id")) g->C = cols[c].dims[0];
    if (!strcmp(cols[c].name, "test_iters")) g->T = cols[c].dims[0];
  }
  ISW_CHECK(g->C > 0 && g->T > 0, ISW_EUSAGE, "%s: /%s has no config_id or test_iters (damaged or foreign file)",
            isw_results_path(r), task);
  {
    char *st = col_attr(r, task, "status", "role");
    int ok = st != NULL;
    free(st);
    ISW_CHECK(ok, ISW_EUSAGE,
              "%s: /%s has no column roles (written by an older isweep): use isweep report for this file",
              isw_results_path(r), task);
  }
  ISW_ALLOC(g->iters, g->T);
  ISW_CALL(isw_results_read_i64(r, task, "test_iters", g->iters, g->T));
  ISW_CALL(keep_rows(g, r));
  long K = g->K, K1 = K > 0 ? K : 1;
  ISW_ALLOC(g->rho, K1);
  ISW_ALLOC(g->flagged, K1);
  ISW_ALLOC(g->par, n_cols);
  ISW_ALLOC(g->val, n_cols);
  for (int c = 0; c < n_cols; ++c) {
    const isw_results_column *col = &cols[c];
    free(role);
    free(split);
    role = col_attr(r, task, col->name, "role");
    split = col_attr(r, task, col->name, "split");
    if (is(role, "ratio")) ISW_CALL(isw_results_rows_f64(r, task, col->name, g->rho, g->C, 1, g->rows, K));
    if (is(role, "loss") && col->ndims == 2 && (is(split, "train") || is(split, "test"))) {
      double **dst = is(split, "train") ? &g->ltr : &g->lte;
      ISW_CHECK(*dst == NULL, ISW_EUSAGE, "%s: /%s has two %s loss curves", isw_results_path(r), task, split);
      ISW_ALLOC(*dst, K1 * g->T);
      ISW_CALL(isw_results_rows_f64(r, task, col->name, *dst, g->C, g->T, g->rows, K));
    }
    if (is(role, "parameter")) {
      param *p = &g->par[g->n_par++];
      snprintf(p->name, sizeof p->name, "%s", col->name);
      p->is_str = col->kind == ISW_RCOL_STRING;
      if (p->is_str) {
        ISW_ALLOC(p->str, (size_t)K1 * ISW_STRING_LEN);
        ISW_CALL(isw_results_rows_str(r, task, col->name, p->str, ISW_STRING_LEN, g->C, g->rows, K));
      } else {
        ISW_ALLOC(p->num, K1);
        ISW_CALL(isw_results_rows_f64(r, task, col->name, p->num, g->C, 1, g->rows, K));
      }
      for (long i = 1; i < K && !p->varies; ++i)
        p->varies = p->is_str ? strcmp(p->str + i * ISW_STRING_LEN, p->str) != 0 : p->num[i] != p->num[0];
      if (!strcmp(col->name, "width")) g->i_width = g->n_par - 1;
      if (!strcmp(col->name, "train_iters")) g->i_N = g->n_par - 1;
      if (!strcmp(col->name, "seed")) g->i_seed = g->n_par - 1;
    }
    if (is(role, "validity") && col->ndims == 1) {
      validity *v = &g->val[g->n_val++];
      snprintf(v->name, sizeof v->name, "%s", col->name);
      char path[PATH_LEN];
      snprintf(path, sizeof path, "%s/%s", task, col->name);
      ISW_CALL(isw_results_attr_f64(r, path, "valid_min", &v->lo));
      ISW_CALL(isw_results_attr_f64(r, path, "valid_max", &v->hi));
      free(qual);
      qual = col_attr(r, task, col->name, "qualifies");
      v->row = !is(qual, "limit");
      ISW_ALLOC(v->v, K1);
      ISW_CALL(isw_results_rows_f64(r, task, col->name, v->v, g->C, 1, g->rows, K));
      free(per);
      per = col_attr(r, task, col->name, "per");
      if (per && per[0]) {
        ISW_ALLOC(v->per, K1);
        ISW_ALLOC(tmp, K1);
        for (long i = 0; i < K; ++i) v->per[i] = 1.0;
        for (char *tok = strtok(per, "*"); tok; tok = strtok(NULL, "*")) {
          ISW_CALL(isw_results_rows_f64(r, task, tok, tmp, g->C, 1, g->rows, K));
          for (long i = 0; i < K; ++i) v->per[i] *= tmp[i];
        }
        free(tmp);
        tmp = NULL;
      }
    }
  }
  ISW_CHECK(g->ltr && g->lte && g->i_width >= 0 && g->i_N >= 0, ISW_EUSAGE,
            "%s: /%s has no train/test loss curve or no width/train_iters column (damaged or foreign file)",
            isw_results_path(r), task);
  for (int k = 0; k < g->n_val; ++k) {
    const validity *v = &g->val[k];
    if (!v->row) continue;
    for (long i = 0; i < K; ++i) {
      double x = v->v[i] / (v->per ? v->per[i] : 1.0);
      if (isfinite(x) && (x < v->lo - 1e-12 || x > v->hi + 1e-12)) g->flagged[i] = 1;
    }
  }
cleanup:
  free(role);
  free(split);
  free(qual);
  free(per);
  free(tmp);
  free(cols);
  return err;
}

/* "3 diverged", "2 diverged, 1 failed" or "1 failed" into buf (len bytes). */
static const char *no_ok_reason(char *buf, size_t len, int n_div, int n_fail) {
  if (n_div && n_fail) snprintf(buf, len, "%d diverged, %d failed", n_div, n_fail);
  else if (n_div) snprintf(buf, len, "%d diverged", n_div);
  else snprintf(buf, len, "%d failed", n_fail);
  return buf;
}

/* Parameter k of row i: of the kept rows (blk 0) or of the block being
 * read (blk 1). */
static const double *num_at(const param *p, int blk, long i) { return (blk ? p->bnum : p->num) + i; }
static const char *str_at(const param *p, int blk, long i) {
  return (blk ? p->bstr : p->str) + (size_t)i * ISW_STRING_LEN;
}

/* Row a (of blk_a) and kept row b are the same grid point: every parameter
 * but seed equal. */
static int same_point(const group *g, int blk_a, long a, long b) {
  for (int k = 0; k < g->n_par; ++k) {
    if (k == g->i_seed) continue;
    const param *p = &g->par[k];
    if (p->is_str ? strcmp(str_at(p, blk_a, a), str_at(p, 0, b)) != 0 : *num_at(p, blk_a, a) != *num_at(p, 0, b))
      return 0;
  }
  return 1;
}

static uint64_t point_hash(const group *g, int blk, long i) {
  uint64_t h = 1469598103934665603ULL;
  for (int k = 0; k < g->n_par; ++k) {
    if (k == g->i_seed) continue;
    const param *p = &g->par[k];
    const unsigned char *b = p->is_str ? (const unsigned char *)str_at(p, blk, i)
                                       : (const unsigned char *)num_at(p, blk, i);
    size_t n = p->is_str ? strlen((const char *)b) : sizeof(double);
    for (size_t q = 0; q < n; ++q) h = (h ^ b[q]) * 1099511628211ULL;
  }
  return h;
}

/* The grid point of row i (of blk) in the open-addressing table slot (cap,
 * p + 1 per used slot, first[p] its first kept row), or -1 with *at its
 * free slot. */
static long point_find(const group *g, const long *slot, const long *first, long cap, int blk, long i, long *at) {
  *at = (long)(point_hash(g, blk, i) & (uint64_t)(cap - 1));
  while (slot[*at]) {
    long q = slot[*at] - 1;
    if (same_point(g, blk, i, first[q])) return q;
    *at = (*at + 1) & (cap - 1);
  }
  return -1;
}

/* pend[p] += the pending rows of every grid point p, read block by block;
 * *hidden = pending rows of points without a kept row (not listed). */
static int count_pending(long *pend, long *hidden, const group *g, isw_results *r, const long *slot,
                         const long *first, long cap) {
  int err = 0;
  uint8_t *st = NULL;
  *hidden = 0;
  if (g->counts[ISW_ST_PENDING] == 0) goto cleanup;
  ISW_ALLOC(st, ISW_RESULTS_BLOCK);
  for (int k = 0; k < g->n_par; ++k) {
    param *p = &g->par[k];
    if (p->is_str) ISW_ALLOC(p->bstr, (size_t)ISW_RESULTS_BLOCK * ISW_STRING_LEN);
    else ISW_ALLOC(p->bnum, ISW_RESULTS_BLOCK);
  }
  for (long b0 = 0; b0 < g->C; b0 += ISW_RESULTS_BLOCK) {
    long n = g->C - b0 < ISW_RESULTS_BLOCK ? g->C - b0 : ISW_RESULTS_BLOCK;
    ISW_CALL(isw_results_range_u8(r, g->task, "status", st, g->C, b0, n));
    int any = 0;
    for (long i = 0; i < n && !any; ++i) any = st[i] == ISW_ST_PENDING;
    if (!any) continue;
    if (g->K == 0) { /* nothing kept: every pending row is of a point not listed */
      for (long i = 0; i < n; ++i) *hidden += st[i] == ISW_ST_PENDING;
      continue;
    }
    for (int k = 0; k < g->n_par; ++k) {
      param *p = &g->par[k];
      if (k == g->i_seed) continue;
      if (p->is_str) ISW_CALL(isw_results_range_str(r, g->task, p->name, p->bstr, ISW_STRING_LEN, g->C, b0, n));
      else ISW_CALL(isw_results_range_f64(r, g->task, p->name, p->bnum, g->C, 1, b0, n));
    }
    for (long i = 0; i < n; ++i) {
      if (st[i] != ISW_ST_PENDING) continue;
      long at, p = point_find(g, slot, first, cap, 1, i, &at);
      if (p >= 0) pend[p]++;
      else ++*hidden;
    }
  }
cleanup:
  free(st);
  return err;
}

static long find_iter(const group *g, int64_t n) {
  for (long j = 0; j < g->T; ++j)
    if (g->iters[j] == n) return j;
  return -1;
}

static void pval(char *buf, size_t len, const param *p, long i) {
  if (p->is_str) snprintf(buf, len, "%s", p->str + i * ISW_STRING_LEN);
  else snprintf(buf, len, "%.10g", p->num[i]);
}

static double mean_of(const double *x, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += x[i];
  return n ? s / n : NAN;
}

static double sd_of(const double *x, int n) {
  if (n < 2) return NAN;
  double m = mean_of(x, n), s = 0;
  for (int i = 0; i < n; ++i) s += (x[i] - m) * (x[i] - m);
  return sqrt(s / (n - 1));
}

/* One D cell: relative mean ± sd in %, or "abs" and the absolute mean. */
static void cell(char *buf, size_t len, const double *rel, const double *abs_, int k, int relative) {
  if (k == 0) snprintf(buf, len, "-");
  else if (relative && k >= 2) snprintf(buf, len, "%+.1f±%.1f%%", 100 * mean_of(rel, k), 100 * sd_of(rel, k));
  else if (relative) snprintf(buf, len, "%+.1f%%", 100 * mean_of(rel, k));
  else snprintf(buf, len, "abs %+.1e", mean_of(abs_, k));
}

/* The table of group g (its kept rows; the pending rows of the file are
 * counted into their grid points' seeds by reading r again block by block). */
static int print_group(group *g, isw_results *r, const int64_t *dn, int n_dn, FILE *out) {
  int err = 0;
  long cap = 1, K1 = g->K > 0 ? g->K : 1, hidden = 0;
  long *slot = NULL, *last = NULL, *first = NULL, *next = NULL, *pend = NULL;
  double *dtr = NULL, *rtr = NULL, *dte = NULL, *rte = NULL, *vtr = NULL, *vte = NULL;
  while (cap < 2 * K1) cap *= 2;
  ISW_ALLOC(slot, cap);
  ISW_ALLOC(first, K1);
  ISW_ALLOC(next, K1);
  ISW_ALLOC(last, K1);
  ISW_ALLOC(pend, K1);
  ISW_ALLOC(dtr, K1);
  ISW_ALLOC(rtr, K1);
  ISW_ALLOC(dte, K1);
  ISW_ALLOC(rte, K1);
  ISW_ALLOC(vtr, K1);
  ISW_ALLOC(vte, K1);
  /* grid points in first-seen row order; rows of a point chained by next[] */
  long P = 0;
  for (long i = 0; i < g->K; ++i) {
    next[i] = -1;
    long at, p = point_find(g, slot, first, cap, 0, i, &at);
    if (p < 0) {
      p = P++;
      first[p] = i;
      slot[at] = p + 1;
    } else {
      next[last[p]] = i;
    }
    last[p] = i;
  }
  ISW_CALL(count_pending(pend, &hidden, g, r, slot, first, cap));
  fprintf(out, "\n%s: %ld configs: %ld ok, %ld diverged, %ld failed, %ld pending, %ld running\n", g->task, g->C,
          g->counts[ISW_ST_OK], g->counts[ISW_ST_DIVERGED], g->counts[ISW_ST_FAILED], g->counts[ISW_ST_PENDING],
          g->counts[ISW_ST_RUNNING]);
  fprintf(out, "%6s %5s", "width", "N");
  for (int k = 0; k < g->n_par; ++k)
    if (k != g->i_width && k != g->i_N && k != g->i_seed && g->par[k].varies) fprintf(out, " %10s", g->par[k].name);
  fprintf(out, " %9s %5s %11s %11s", "rho", "seeds", "L_train(N)", "L_test(N)");
  for (int q = 0; q < n_dn; ++q) {
    char h1[32], h2[32];
    snprintf(h1, sizeof h1, "D_train(%+lld)", (long long)dn[q]);
    snprintf(h2, sizeof h2, "D_test(%+lld)", (long long)dn[q]);
    fprintf(out, " %15s %15s", h1, h2);
  }
  fprintf(out, "  verdict\n");
  for (long p = 0; p < P; ++p) {
    long rep = first[p];
    int64_t N = (int64_t)llround(g->par[g->i_N].num[rep]);
    long jN = find_iter(g, N);
    int seeds = (int)pend[p], ok = 0, flagged = 0, n_div_rows = 0, n_fail_rows = 0;
    double rho = 0, ltr = 0, lte = 0;
    int n_rho = 0, n_tr = 0, n_te = 0;
    for (long i = rep; i >= 0; i = next[i]) {
      seeds++;
      n_div_rows += g->status[i] == ISW_ST_DIVERGED;
      n_fail_rows += g->status[i] == ISW_ST_FAILED;
      if (g->status[i] != ISW_ST_OK) continue;
      ok++;
      flagged |= g->flagged[i];
      if (isfinite(g->rho[i])) rho += g->rho[i], n_rho++;
      if (jN < 0) continue;
      double a = g->ltr[i * g->T + jN], b = g->lte[i * g->T + jN];
      if (isfinite(a)) ltr += a, n_tr++;
      if (isfinite(b)) lte += b, n_te++;
    }
    char v[ISW_STRING_LEN];
    pval(v, sizeof v, &g->par[g->i_width], rep);
    fprintf(out, "%6s", v);
    pval(v, sizeof v, &g->par[g->i_N], rep);
    fprintf(out, " %5s", v);
    for (int k = 0; k < g->n_par; ++k) {
      if (k == g->i_width || k == g->i_N || k == g->i_seed || !g->par[k].varies) continue;
      pval(v, sizeof v, &g->par[k], rep);
      fprintf(out, " %10s", v);
    }
    fprintf(out, " %9.4g %2d/%-2d %11.4e %11.4e", n_rho ? rho / n_rho : NAN, ok, seeds, n_tr ? ltr / n_tr : NAN,
            n_te ? lte / n_te : NAN);
    isw_verdict verdict = ok ? ISW_V_UNDECIDED : ISW_V_PENDING;
    int k_verdict = 0, have = 0;
    for (int q = 0; q < n_dn; ++q) {
      long j = find_iter(g, N + dn[q]);
      int k_tr = 0, k_te = 0, n_div = 0, rel_tr = 1, rel_te = 1;
      if (j >= 0 && jN >= 0) {
        for (long i = rep; i >= 0; i = next[i]) {
          if (g->status[i] != ISW_ST_OK) continue;
          double a = g->ltr[i * g->T + jN], b = g->ltr[i * g->T + j];
          if (isfinite(a) && isfinite(b)) {
            dtr[k_tr] = b - a;
            rtr[k_tr] = (b - a) / a;
            rel_tr &= fabs(a) > REL_FLOOR;
            vtr[k_tr++] = fabs(a);
          }
          a = g->lte[i * g->T + jN];
          b = g->lte[i * g->T + j];
          if (isfinite(a) && !isfinite(b)) n_div++;
          if (isfinite(a) && isfinite(b)) {
            dte[k_te] = b - a;
            rte[k_te] = (b - a) / a;
            rel_te &= fabs(a) > REL_FLOOR;
            vte[k_te++] = fabs(a);
          }
        }
        if (ok) {
          verdict = isw_summary_verdict(rel_te ? rte : dte, k_te, n_div, rel_te ? 1.0 : mean_of(vte, k_te));
          k_verdict = k_te;
          have = 1;
        }
      }
      char c1[48], c2[48];
      cell(c1, sizeof c1, rtr, dtr, k_tr, rel_tr);
      cell(c2, sizeof c2, rte, dte, k_te, rel_te);
      fprintf(out, " %15s %15s", c1, c2);
    }
    if (!ok && n_div_rows + n_fail_rows == seeds)  /* nothing left to run: say why there is no verdict */
      fprintf(out, "  no ok seed (%s)", no_ok_reason(v, sizeof v, n_div_rows, n_fail_rows));
    else if (!ok) fprintf(out, "  pending");
    else if (jN < 0) fprintf(out, "  n = N not evaluated");
    else if (!have) fprintf(out, "  no N+dN evaluated");
    else if (verdict == ISW_V_UNDECIDED) fprintf(out, "  undecided (%d seed%s)", k_verdict, k_verdict == 1 ? "" : "s");
    else if (verdict == ISW_V_HELP) fprintf(out, "  help");
    else if (verdict == ISW_V_NS) fprintf(out, "  n.s.");
    else fprintf(out, "  %s", isw_summary_verdict_name(verdict));
    fprintf(out, "%s\n", flagged ? " !" : "");
  }
  if (hidden)
    fprintf(out, "(%ld pending rows of grid points with no row run yet are not listed)\n", hidden);
cleanup:
  free(pend);
  free(slot);
  free(first);
  free(next);
  free(last);
  free(dtr);
  free(rtr);
  free(dte);
  free(rte);
  free(vtr);
  free(vte);
  return err;
}

int isw_summary_print(const char *file, FILE *out) {
  int err = 0;
  isw_results *r = NULL;
  char **names = NULL;
  int n = 0, n_dn = 0;
  int64_t *dn = NULL;
  group g;
  memset(&g, 0, sizeof g);
  ISW_CALL(isw_results_open(&r, file));
  ISW_CHECK(isw_results_has_attr(r, "/", "delta_n"), ISW_EUSAGE,
            "%s: no delta_n attribute (written by an older isweep): use isweep report for this file", file);
  ISW_CALL(isw_results_attr_i64v(r, "/", "delta_n", &dn, &n_dn));
  ISW_CALL(isw_results_groups(r, &names, &n));
  fprintf(out, "\nSummary of %s\n"
               "D_train(dN), D_test(dN): change of the loss evaluated with N+dN inner iterations instead of\n"
               "the training N, relative to L(N), mean ± sd over ok seeds (abs: absolute change where L(N)\n"
               "is 0 to rounding); negative = more iterations help. Verdict at the largest dN: paired t-test,\n"
               "sign consistency with a 10 %% effect, or undecided (README \"Verdict rule\"); \"!\": a row's\n"
               "validity flags say it is unreliable. isweep report FILE -o DIR: the full report.\n",
          file);
  for (int i = 0; i < n; ++i) {
    ISW_CALL(load_group(&g, r, names[i]));
    ISW_CALL(print_group(&g, r, dn, n_dn, out));
    group_free(&g);
  }
  fflush(out);
cleanup:
  group_free(&g);
  free(dn);
  isw_results_free_names(&names, n);
  isw_results_close(&r);
  return err;
}
