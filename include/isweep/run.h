/* run.h — the commands: `run` (the sweep driver, collective over
 * MPI_COMM_WORLD), `plan` and `help` (rank 0 prints, others idle). */
#ifndef ISWEEP_RUN_H
#define ISWEEP_RUN_H

#include "isweep/cli.h"

/* Exit statuses beyond the error codes of error.h. */
enum { ISW_EXIT_STOPPED = 75 };

/* Run the sweep: load and validate the spec on rank 0, create or resume the
 * results file, hand out configs, close the file, print the summary.
 * Collective.  Returns the process exit status (0 done, 2 bad input, 75
 * stopped early by a signal, other codes per error.h); an error message was
 * printed by rank 0. */
int isw_run_sweep(const isw_cli *cli);
/* `isweep plan`: collective (only rank 0 prints).  Returns the exit status. */
int isw_run_plan(const isw_cli *cli);
/* `isweep help [TASK]` on rank 0. Returns the exit status. */
int isw_run_help(const isw_cli *cli);

#endif
