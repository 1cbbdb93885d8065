/* summary.h — the table `isweep run` prints at the end: per task and grid
 * point (all axes but seed), over seeds: ρ, L(N) train and test, and the
 * relative change D/L(N) of train and test loss at N + ΔN for the spec's
 * delta_n, as mean ± standard deviation over seeds.  Reads the results file
 * (serially, after it was closed) through results.c. */
#ifndef ISWEEP_SUMMARY_H
#define ISWEEP_SUMMARY_H

#include <stdio.h>

#include "isweep/spec.h"

/* Print the summary of the results file `path` written for `spec`.
 * Returns 0, or an error (unreadable file) with a message. */
int isw_summary_print(FILE *out, const char *path, const isw_spec *spec);

#endif
