/* summary.h — the end-of-run table `isweep run` prints: per task and grid
 * point (every parameter but seed), over the seeds whose rows are ok: ρ,
 * L(N) train and test, D_train and D_test relative to L(N) for each ΔN of
 * the file's `delta_n` (absolute where L(N) is 0 to rounding), the verdict
 * and a "!" where a row's validity flags say it is unreliable.
 *
 * The same statistics and verdict rule as the Python report
 * (analysis/isweep_analysis/stats.py; tests/test_analysis_summary.py checks
 * that both agree on the same file).  Everything comes from the file through
 * results.c: the column roles (schema.h), the root's delta_n.  Serial, read
 * only; never MPI. */
#ifndef ISWEEP_SUMMARY_H
#define ISWEEP_SUMMARY_H

#include <stdio.h>

/* Verdicts of the rule (isw_summary_verdict). */
typedef enum {
  ISW_V_PENDING,   /* no ok seed */
  ISW_V_UNDECIDED, /* too little evidence either way ("undecided (k seeds)") */
  ISW_V_NS,        /* no significant change: any effect is small */
  ISW_V_HELP,      /* more iterations help */
  ISW_V_HURT,      /* more iterations hurt */
  ISW_V_HURT_DIV   /* at least half the seeds diverge at N + ΔN */
} isw_verdict;

/* The verdict from k paired changes d (relative to L(N), or absolute with
 * `scale` = mean |L(N)| for the effect size; 1 when relative) and n_div
 * diverging seeds.  The rule (README "Verdict rule"): k = 0 pending; half
 * or more diverge: hurt (diverges); k = 1 undecided; |mean| <= 1e-9 scale:
 * no significant change; two-sided paired t-test at 5 %: help/hurt; k >= 3
 * all of one sign with every |d| >= 10 % scale: help/hurt; 95 % CI inside
 * ±10 % scale: no significant change; else undecided.  Pure. */
isw_verdict isw_summary_verdict(const double *d, int k, int n_div, double scale);
/* "more iterations help", "hurt", ... ; "undecided" without its count. */
const char *isw_summary_verdict_name(isw_verdict v);
/* t_{0.975, df} of Student's t (NaN for df < 1). */
double isw_summary_t_crit(int df);

/* Print the table of results file `file` on `out`.  Returns 0, or
 * ISW_EUSAGE with a one-line message for a missing, foreign, damaged or
 * other-schema file, or one without column roles (written before they
 * existed: `isweep report` reads those). */
int isw_summary_print(const char *file, FILE *out);

#endif
