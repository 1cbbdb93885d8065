/* summary.c — the end-of-run table (see summary.h).  Grid points are the
 * spec's configs without their seed; statistics are over the seeds whose
 * rows are ok.  Prints; never writes files. */
#include "isweep/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/results.h"
#include "isweep/store.h"

/* Two configs of a group belong to the same grid point when all their
 * parameters but the seed agree. */
static int same_point(const isw_config *a, const isw_config *b) {
  if (a->width != b->width || a->train_iters != b->train_iters) return 0;
  for (int k = 0; k < a->task->n_params; ++k) {
    if (a->p[k].num != b->p[k].num) return 0;
    if ((a->p[k].str || b->p[k].str) && (!a->p[k].str || !b->p[k].str || strcmp(a->p[k].str, b->p[k].str)))
      return 0;
  }
  return 1;
}

static int find_n(const int64_t *iters, int n_test, int64_t n) {
  for (int j = 0; j < n_test; ++j)
    if (iters[j] == n) return j;
  return -1;
}

typedef struct {
  double sum, sum2;
  int n;
} stat;

static void stat_add(stat *s, double x) {
  if (!isfinite(x)) return;
  s->sum += x;
  s->sum2 += x * x;
  s->n++;
}

static double stat_mean(const stat *s) { return s->n ? s->sum / s->n : NAN; }
static double stat_std(const stat *s) {
  if (s->n < 2) return 0.0;
  double m = s->sum / s->n, v = (s->sum2 - s->n * m * m) / (s->n - 1);
  return v > 0 ? sqrt(v) : 0.0;
}

/* |L(N)| at or below this counts as zero: D is then shown absolute. */
#define REL_FLOOR 1e-12

/* "-22.1±0.4%" (relative to L(N)), or "abs +2.1e-03±4e-04" when L(N) is 0. */
static void format_change(char *buf, size_t len, const stat *rel, const stat *abs_, int relative) {
  if (rel->n == 0 && abs_->n == 0) snprintf(buf, len, "-");
  else if (relative) snprintf(buf, len, "%+.1f±%.1f%%", 100 * stat_mean(rel), 100 * stat_std(rel));
  else snprintf(buf, len, "abs %+.1e", stat_mean(abs_));
}

static void print_group(FILE *out, const isw_spec_group *grp, const isw_spec *spec, const uint8_t *status,
                        const double *rho_col, const double *train, const double *test) {
  const isw_task *task = grp->task;
  int C = grp->n_configs, T = grp->n_test;
  int counts[5] = {0};
  for (int i = 0; i < C; ++i) counts[status[i] < 5 ? status[i] : 4]++;
  fprintf(out, "\n%s: %d configs: %d ok, %d diverged, %d failed, %d pending, %d running\n", task->name, C,
          counts[ISW_ST_OK], counts[ISW_ST_DIVERGED], counts[ISW_ST_FAILED], counts[ISW_ST_PENDING],
          counts[ISW_ST_RUNNING]);
  /* axes: task parameters that vary within the group */
  int axis[ISW_MAX_PARAMS], n_axis = 0;
  for (int k = 0; k < task->n_params; ++k) {
    int varies = 0;
    for (int i = 1; i < C && !varies; ++i) {
      const isw_value *a = &grp->configs[0].p[k], *b = &grp->configs[i].p[k];
      varies = a->num != b->num || (a->str && b->str && strcmp(a->str, b->str));
    }
    if (varies) axis[n_axis++] = k;
  }
  fprintf(out, "%6s %5s", "width", "N");
  for (int a = 0; a < n_axis; ++a) fprintf(out, " %10s", task->params[axis[a]].name);
  fprintf(out, " %8s %5s %11s %11s", "rho", "seeds", "L_train(N)", "L_test(N)");
  for (int k = 0; k < spec->n_delta; ++k) {
    char h1[48], h2[48];
    snprintf(h1, sizeof h1, "D_train(%+lld)", (long long)spec->delta_n[k]);
    snprintf(h2, sizeof h2, "D_test(%+lld)", (long long)spec->delta_n[k]);
    fprintf(out, " %17s %17s", h1, h2);
  }
  fputc('\n', out);
  unsigned char *done = calloc((size_t)C, 1);
  if (!done) return;
  for (int i = 0; i < C; ++i) {
    if (done[i]) continue;
    const isw_config *c0 = &grp->configs[i];
    stat rho = {0}, ltr = {0}, lte = {0};
    stat dtr[16] = {{0}}, dte[16] = {{0}}, atr[16] = {{0}}, ate[16] = {{0}};
    int rel_tr = 1, rel_te = 1; /* relative change is meaningless when L(N) is 0 to rounding */
    int seeds = 0, ok = 0;
    int jN = find_n(grp->test_iters, T, c0->train_iters);
    for (int r = i; r < C; ++r) {
      if (done[r] || !same_point(c0, &grp->configs[r])) continue;
      done[r] = 1;
      seeds++;
      if (status[r] != ISW_ST_OK) continue;
      ok++;
      stat_add(&rho, rho_col[r]);
      if (jN < 0) continue;
      double lN = train[(long)r * T + jN], tN = test[(long)r * T + jN];
      stat_add(&ltr, lN);
      stat_add(&lte, tN);
      for (int k = 0; k < spec->n_delta && k < 16; ++k) {
        int j = find_n(grp->test_iters, T, c0->train_iters + spec->delta_n[k]);
        if (j < 0) continue;
        double a = train[(long)r * T + j] - lN, b = test[(long)r * T + j] - tN;
        stat_add(&atr[k], a);
        stat_add(&ate[k], b);
        stat_add(&dtr[k], a / lN);
        stat_add(&dte[k], b / tN);
        rel_tr &= fabs(lN) > REL_FLOOR;
        rel_te &= fabs(tN) > REL_FLOOR;
      }
    }
    fprintf(out, "%6lld %5lld", (long long)c0->width, (long long)c0->train_iters);
    for (int a = 0; a < n_axis; ++a) {
      const isw_value *v = &c0->p[axis[a]];
      if (v->str) fprintf(out, " %10s", v->str);
      else fprintf(out, " %10.4g", v->num);
    }
    fprintf(out, " %8.4g %2d/%-2d %11.4e %11.4e", stat_mean(&rho), ok, seeds, stat_mean(&ltr), stat_mean(&lte));
    for (int k = 0; k < spec->n_delta && k < 16; ++k) {
      char c1[48], c2[48];
      format_change(c1, sizeof c1, &dtr[k], &atr[k], rel_tr);
      format_change(c2, sizeof c2, &dte[k], &ate[k], rel_te);
      fprintf(out, " %17s %17s", c1, c2);
    }
    fputc('\n', out);
  }
  free(done);
}

int isw_summary_print(FILE *out, const char *path, const isw_spec *spec) {
  int err = 0;
  isw_results *res = NULL;
  uint8_t *status = NULL;
  double *train = NULL, *test = NULL, *rho = NULL;
  ISW_CALL(isw_results_open(&res, path));
  fprintf(out, "\nSummary of %s\nD_train(dN), D_test(dN): change of the loss evaluated with N+dN inner iterations\n"
               "instead of the training N, relative to L(N), mean ± std over seeds (abs: absolute change,\n"
               "where L(N) is 0 to rounding). Negative = more iterations help.\n", path);
  for (int g = 0; g < spec->n_groups; ++g) {
    const isw_spec_group *grp = &spec->groups[g];
    long C = grp->n_configs, T = grp->n_test;
    free(status);
    free(train);
    free(test);
    free(rho);
    status = NULL;
    train = test = rho = NULL;
    ISW_ALLOC(rho, C);
    ISW_ALLOC(status, C);
    ISW_ALLOC(train, C * T);
    ISW_ALLOC(test, C * T);
    ISW_CALL(isw_results_read_u8(res, grp->task->name, "status", status, C));
    ISW_CALL(isw_results_read_f64(res, grp->task->name, "rho", rho, C));
    ISW_CALL(isw_results_read_f64(res, grp->task->name, "train_loss", train, C * T));
    ISW_CALL(isw_results_read_f64(res, grp->task->name, "test_loss", test, C * T));
    print_group(out, grp, spec, status, rho, train, test);
  }
  fflush(out);
cleanup:
  free(status);
  free(train);
  free(test);
  free(rho);
  isw_results_close(&res);
  return err;
}
