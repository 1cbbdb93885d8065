/* report.h — `isweep report FILE... [-o DIR] [--quiet]`: hands the command
 * to the Python package analysis/isweep_analysis (tables, tidy CSV,
 * matplotlib figures, index.html), which reads the files itself.
 *
 * Interpreter: $ISW_PYTHON, else /usr/bin/python3 (Debian's, with h5py,
 * pandas, scipy, matplotlib).  Package folder put first on PYTHONPATH:
 * $ISW_ANALYSIS_DIR, else the installed copy <prefix>/share/isweep/analysis
 * next to the executable's bin/ when it exists, else the source tree's
 * analysis/ this binary was built from. */
#ifndef ISWEEP_REPORT_H
#define ISWEEP_REPORT_H

/* Replace the process with `python3 -m isweep_analysis report ARGS...`.
 * Call it before MPI_Init.  Under mpirun only rank 0 reports (the others
 * return 0 at once).  Otherwise returns only on failure (the interpreter
 * cannot be executed): a message on stderr and exit status 2 to return. */
int isw_report_exec(const char *const *args, int n_args, const char *argv0);

#endif
