/* report.h — `isweep report FILE [-o DIR]`: from a results file to tables
 * and figures a researcher can put in a paper.
 *
 * Reads the file through results.c only (serial HDF5, read-only; never MPI,
 * never the task code), so it works on any isweep file of this schema,
 * finished or not.  Everything is discovered from the file:
 *   - task groups: the root's groups, in the order of `sweep.tasks` of the
 *     spec_canonical attribute;
 *   - a group's parameters: width, train_iters, seed and every "TASK.key"
 *     of spec_canonical (but the axes widths/train_iters/test_iters/seeds);
 *     a grid point is one value of every parameter but seed;
 *   - curves: the group's 2-D datasets (C, T); scalars: the other float 1-D
 *     datasets;
 *   - ΔN: `delta_n` of the spec recorded in the file (spec_text with the
 *     run's --set overrides from command_line, re-read with the spec parser;
 *     isweep's default when absent), overridden by `--set sweep.delta_n=LIST`
 *     on the report's command line; per grid point only N + ΔN in test_iters.
 * Statistics are over the seeds whose status is ok; pending, running,
 * diverged and failed rows are counted, never used.
 *
 * Output: Markdown tables on `out` (stdout) and, with a folder, summary.md,
 * curves.csv (long form: one row per config x n), points.csv (one row per
 * grid point x ΔN), and fig_*.png rendered by gnuplot from fig_*.gp and
 * fig_*.dat written beside them. */
#ifndef ISWEEP_REPORT_H
#define ISWEEP_REPORT_H

#include <stdio.h>

#include "isweep/cli.h"

/* Make the report of results file `file`.  `dir`: the report folder
 * (created if missing, files in it overwritten), or NULL for the tables on
 * `out` only.  `sets`: the report's --set overrides (only sweep.delta_n).
 * `out` may be NULL (quiet).  Returns 0, or ISW_EUSAGE with a one-line
 * message for a missing, foreign, damaged or wrong-version file, a missing
 * dataset, a folder that cannot be written, or a bad --set.  A figure that
 * gnuplot cannot render is a warning on stderr, not an error. */
int isw_report_make(const char *file, const char *dir, const char *const *sets, int n_sets, FILE *out);

/* The compact table `isweep run` prints at its end: per task and grid
 * point, ρ, ok seeds, L(N) train and test, D_train and D_test per ΔN (relative
 * to L(N), absolute where L(N) is 0 to rounding) and the verdict; the same
 * statistics as the report's.  Returns 0 or an error as isw_report_make. */
int isw_report_summary(const char *file, FILE *out);

/* `isweep report`: run isw_report_make from the parsed command line (tables
 * on stdout unless --quiet), print an error as "isweep: error: MESSAGE" on
 * stderr.  Serial; call it on one rank.  Returns the exit status (0 or 2). */
int isw_report_command(const isw_cli *cli);

#endif
