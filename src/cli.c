/* cli.c — argv into isw_cli (see cli.h).  Every option is listed once in
 * `options` with its help text; the usage text is generated from it. */
#include "isweep/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"

typedef struct {
  const char *name;
  const char *arg; /* NULL: a flag */
  const char *commands;
  const char *help;
} option_def;

static const option_def options[] = {
    {"--set", "SECTION.KEY=VALUE", "run, plan",
     "override one spec value, e.g. --set linear-meta.tasks=32 (repeatable)"},
    {"-o", "FILE", "run, plan", "results file (same as --set sweep.output=FILE)"},
    {"-o", "DIR", "report", "report folder: index.html, summary.md, CSV files, figures (without it: tables only)"},
    {"--resume", NULL, "run",
     "continue an existing results file: run only configs not ok (the spec must be identical)"},
    {"--extend", NULL, "run",
     "continue a results file whose sweep SPEC contains (axes gained values, families or sub-grids "
     "added): add the new configs, run them and every config not ok"},
    {"--retry-failed", NULL, "run", "with --resume or --extend, also re-run failed and diverged configs"},
    {"--force", NULL, "run", "overwrite an existing results file"},
    {"--quiet", NULL, "run, report", "no progress line and no summary (report: no tables on stdout)"},
    {"--progress", "bar|lines|none", "run",
     "progress on stderr: a line updated in place, a line every 10 s, or none (default: bar on a "
     "terminal, else lines; under mpirun stderr is a pipe)"},
    {"--status-every", "MINUTES", "run",
     "print what every rank is running every MINUTES (any time: SIGUSR2 to rank 0 or mpirun)"},
    {"--ranks", "P", "plan", "number of ranks to predict the makespan for (default 1)"},
    {"--verbose", NULL, "plan", "list every parameter of each config (default: the ones that vary, to 120 columns)"},
    {"--only", "EXPR", "run, plan",
     "only configs matching EXPR, e.g. 'task=deq,width<=64,grad=implicit' (comma = and; = != < <= > >=); "
     "the others stay pending, and a run of an existing file is a resume"},
    {"--help", NULL, "all", "show this help"},
    {"--version", NULL, "all", "show the version and git commit"},
};

void isw_cli_usage(FILE *out) {
  fputs("usage: isweep run [SPEC] [options]     run a sweep (embedded default spec without SPEC)\n"
        "       isweep plan [SPEC] [--ranks P] [--only EXPR] [--verbose]  configs, costs, makespan\n"
        "       isweep report FILE... [-o DIR]  tables, CSV, figures, HTML (python3 -m isweep_analysis)\n"
        "       isweep help [TASK]              list task families or one family's parameters\n"
        "       isweep --version\n"
        "Run under MPI, e.g. mpirun -np 4 isweep run sweep.ini. A stop request (SIGUSR1, SIGTERM\n"
        "or SIGINT on any rank; SIGUSR1 to mpirun) stops handing out work, lets running configs\n"
        "finish (configs that check the request are set back to pending) and closes the results\n"
        "file; --resume continues it.  SIGUSR2 prints what every rank is running.\n"
        "Finished rows reach the file through rank 0 in batches ([sweep] batch_rows = 256 rows,\n"
        "batch_seconds = 10): a SIGKILL loses at most the rows not yet written; --resume runs them.\n"
        "Under mpirun --enable-recovery, a rank that sent nothing for [sweep] rank_timeout = 120 s\n"
        "(each rank proves it is alive every heartbeat = 10 s) is given up: its configs run on the\n"
        "others, then rank 0 closes the file alone and ends the job (exit status 75 if configs are left).\n"
        "options:\n",
        out);
  for (size_t i = 0; i < sizeof options / sizeof options[0]; ++i) {
    char head[64];
    snprintf(head, sizeof head, "%s%s%s", options[i].name, options[i].arg ? " " : "",
             options[i].arg ? options[i].arg : "");
    fprintf(out, "  %-26s %s [%s]\n", head, options[i].help, options[i].commands);
  }
  fputs("exit status: 0 done, 2 bad input (spec, options, files), 75 stopped early by a signal\n"
        "(resume with --resume), other non-zero values for internal, I/O or MPI failures.\n",
        out);
}

static int need_arg(int i, int argc, char **argv) {
  int err = 0;
  ISW_CHECK(i + 1 < argc, ISW_EUSAGE, "option %s needs an argument (see isweep --help)", argv[i]);
cleanup:
  return err;
}

int isw_cli_parse(isw_cli *cli, int argc, char **argv) {
  int err = 0;
  memset(cli, 0, sizeof *cli);
  cli->ranks = 1;
  size_t used = 0;
  for (int i = 0; i < argc && used + 2 < sizeof cli->command_line; ++i)
    used += (size_t)snprintf(cli->command_line + used, sizeof cli->command_line - used, "%s%s",
                             i ? " " : "", argv[i]);
  int i = 1;
  ISW_CHECK(argc >= 2, ISW_EUSAGE, "no command given (use: isweep run|plan|help, see isweep --help)");
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    cli->cmd = ISW_CMD_VERSION;
    return 0;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    cli->cmd = ISW_CMD_HELP;
    cli->topic = argc > 2 ? argv[2] : NULL;
    return 0;
  }
  if (!strcmp(argv[1], "run")) cli->cmd = ISW_CMD_RUN;
  else if (!strcmp(argv[1], "plan")) cli->cmd = ISW_CMD_PLAN;
  else if (!strcmp(argv[1], "report")) {
    cli->cmd = ISW_CMD_REPORT; /* every further argument is the Python report's */
    cli->report_args = (const char *const *)argv + 2;
    cli->n_report_args = argc - 2;
    return 0;
  }
  else
    ISW_CHECK(0, ISW_EUSAGE, "unknown command '%s' (use: isweep run|plan|help, see isweep --help)",
              argv[1]);
  for (i = 2; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      cli->cmd = ISW_CMD_HELP;
      cli->topic = NULL;
      return 0;
    } else if (!strcmp(a, "--set")) {
      ISW_CALL(need_arg(i, argc, argv));
      ISW_CHECK(cli->n_sets < ISW_MAX_SETS - 1, ISW_EUSAGE, "too many --set options (at most %d)",
                ISW_MAX_SETS - 1);
      ISW_CHECK(strchr(argv[i + 1], '=') && strchr(argv[i + 1], '.'), ISW_EUSAGE,
                "--set %s: expected SECTION.KEY=VALUE, e.g. --set linear-meta.tasks=32", argv[i + 1]);
      cli->sets[cli->n_sets++] = argv[++i];
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      ISW_CALL(need_arg(i, argc, argv));
      snprintf(cli->output_set, sizeof cli->output_set, "sweep.output=%s", argv[++i]);
    } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
      cli->verbose = 1;
    } else if (!strcmp(a, "--only")) {
      ISW_CALL(need_arg(i, argc, argv));
      ISW_CHECK(!cli->only, ISW_EUSAGE, "--only given twice: join the conditions with commas, e.g. --only "
                "'task=deq,width<=64'");
      cli->only = argv[++i];
    } else if (!strcmp(a, "--resume")) {
      cli->resume = 1;
    } else if (!strcmp(a, "--extend")) {
      cli->extend = 1;
    } else if (!strcmp(a, "--retry-failed")) {
      cli->retry_failed = 1;
    } else if (!strcmp(a, "--force")) {
      cli->force = 1;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      cli->quiet = 1;
    } else if (!strcmp(a, "--progress")) {
      ISW_CALL(need_arg(i, argc, argv));
      const char *m = argv[++i];
      if (!strcmp(m, "bar")) cli->progress = ISW_PROGRESS_BAR;
      else if (!strcmp(m, "lines")) cli->progress = ISW_PROGRESS_LINES;
      else if (!strcmp(m, "none")) cli->progress = ISW_PROGRESS_NONE;
      else if (!strcmp(m, "auto")) cli->progress = ISW_PROGRESS_AUTO;
      else ISW_CHECK(0, ISW_EUSAGE, "--progress %s: expected bar, lines, none or auto", m);
    } else if (!strcmp(a, "--status-every")) {
      ISW_CALL(need_arg(i, argc, argv));
      char *end = NULL;
      errno = 0;
      double m = strtod(argv[i + 1], &end);
      ISW_CHECK(!errno && end != argv[i + 1] && !*end && m > 0 && m <= 525600, ISW_EUSAGE,
                "--status-every %s: expected a number of minutes above 0 and at most 525600 (a year), "
                "e.g. 10 or 0.5", argv[i + 1]);
      cli->status_every = 60.0 * m;
      ++i;
    } else if (!strcmp(a, "--ranks")) {
      ISW_CALL(need_arg(i, argc, argv));
      char *end = NULL;
      errno = 0;
      long p = strtol(argv[i + 1], &end, 10);
      ISW_CHECK(!errno && end && !*end && p >= 1 && p <= 1000000, ISW_EUSAGE,
                "--ranks %s: expected a whole number of ranks from 1 to 1000000", argv[i + 1]);
      cli->ranks = (int)p;
      ++i;
    } else if (a[0] == '-' && a[1]) {
      ISW_CHECK(0, ISW_EUSAGE, "unknown option '%s' (see isweep --help)", a);
    } else {
      ISW_CHECK(!cli->spec_path, ISW_EUSAGE,
                "more than one spec file given ('%s' and '%s'): give one", cli->spec_path, a);
      cli->spec_path = a;
    }
  }
  if (cli->output_set[0]) cli->sets[cli->n_sets++] = cli->output_set;
  ISW_CHECK(!(cli->resume && cli->force), ISW_EUSAGE,
            "--resume and --force contradict each other: --resume continues the file, --force replaces it");
  ISW_CHECK(!(cli->extend && cli->force), ISW_EUSAGE,
            "--extend and --force contradict each other: --extend grows the file, --force replaces it");
  ISW_CHECK(!cli->retry_failed || cli->resume || cli->extend, ISW_EUSAGE,
            "--retry-failed needs --resume or --extend (it re-runs rows of an existing results file)");
cleanup:
  return err;
}
