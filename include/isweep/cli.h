/* cli.h — the command line: every option in one struct, each with its help.
 *
 *   isweep run [SPEC] [options]      run a sweep (the embedded default without SPEC)
 *   isweep plan [SPEC] [--ranks P]   print configs, predicted costs and makespan
 *   isweep help [TASK]               list task families, or one family's parameters
 *   isweep --version
 * Pure parsing: no MPI, no files. */
#ifndef ISWEEP_CLI_H
#define ISWEEP_CLI_H

#include <stdio.h>

#define ISW_MAX_SETS 64

typedef enum {
  ISW_CMD_RUN,
  ISW_CMD_PLAN,
  ISW_CMD_HELP,
  ISW_CMD_VERSION,
  ISW_CMD_REPORT
} isw_command;

/* --progress: how rank 0 shows progress on stderr. */
typedef enum {
  ISW_PROGRESS_AUTO = 0, /* bar when stderr is a terminal, else lines */
  ISW_PROGRESS_BAR,      /* one line updated in place (carriage return) */
  ISW_PROGRESS_LINES,    /* a full line at the start, every 10 s and at the end */
  ISW_PROGRESS_NONE      /* no progress (the summary is still printed) */
} isw_progress_mode;

typedef struct {
  isw_command cmd;
  const char *spec_path;           /* NULL: the embedded default spec */
  const char *sets[ISW_MAX_SETS];  /* "SECTION.KEY=VALUE" overrides, in order */
  int n_sets;
  char output_set[4200];           /* -o PATH, turned into "sweep.output=PATH" */
  int resume;                      /* --resume: continue an existing results file */
  int extend;                      /* --extend: grow an existing results file to the spec, then resume */
  int retry_failed;                /* --retry-failed: also re-run failed/diverged rows */
  int force;                       /* --force: overwrite an existing results file */
  int quiet;                       /* --quiet: no progress, no summary */
  isw_progress_mode progress;      /* --progress bar|lines|none|auto */
  double status_every;             /* --status-every MINUTES, in seconds; 0: on SIGUSR2 only */
  int ranks;                       /* plan --ranks P (default 1) */
  int verbose;                     /* plan --verbose: every parameter of each config */
  const char *only;                /* --only EXPR: run / plan only the matching configs; NULL: all */
  const char *topic;               /* help TASK */
  const char *const *report_args;  /* report: the arguments after "report" (argv's) */
  int n_report_args;
  char command_line[4096];         /* argv joined by spaces (provenance) */
} isw_cli;

/* Parse argv.  ISW_EUSAGE with a one-line message (raised through
 * isw_error_raise) on an unknown option, a missing argument or a bad number. */
int isw_cli_parse(isw_cli *cli, int argc, char **argv);
/* Print the usage text with every option's help. */
void isw_cli_usage(FILE *out);

#endif
