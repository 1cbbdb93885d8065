/* main.c — argv -> cli -> MPI init -> command -> exit code; nothing else. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

#include "isweep/cli.h"
#include "isweep/error.h"
#include "isweep/report.h"
#include "isweep/run.h"
#include "isweep/signals.h"

extern const char isw_version_string[];
extern const char isw_git_commit[];

/* Under mpirun each rank runs in a process group of its own, so a SIGKILL of
 * mpirun (or of its process group) leaves the ranks running on as orphans
 * that keep writing rows.  Make them die with their launcher instead. */
static void die_with_launcher(void) {
#ifdef __linux__
  if (!getenv("OMPI_COMM_WORLD_SIZE")) return; /* not started by mpirun/orted */
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) raise(SIGKILL); /* the launcher died before prctl */
#endif
}

int main(int argc, char **argv) {
  isw_cli cli;
  int provided = 0, rank = 0, status = 0;
  isw_signals_install(); /* first: a stop request during start-up is kept, not fatal */
  die_with_launcher();
  int perr = isw_cli_parse(&cli, argc, argv);
  if (!perr && cli.cmd == ISW_CMD_REPORT) /* serial Python: no MPI at all */
    return isw_report_exec(cli.report_args, cli.n_report_args, argv[0]);
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  /* MPI errors come back as return codes (translated to ISW_EMPI at the edge,
   * transport.c) instead of aborting the job before isweep can say what failed;
   * communicators duplicated from these inherit it. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (perr) {
    if (rank == 0) fprintf(stderr, "isweep: error: %s\n", isw_error_message());
    status = ISW_EUSAGE;
  } else if (provided < MPI_THREAD_MULTIPLE && cli.cmd == ISW_CMD_RUN) {
    if (rank == 0)
      fprintf(stderr, "isweep: error: this MPI library does not provide MPI_THREAD_MULTIPLE, which "
                      "rank 0's dispatcher thread needs (use an MPI built with thread support)\n");
    status = 1;
  } else {
    switch (cli.cmd) {
      case ISW_CMD_VERSION:
        if (rank == 0) printf("isweep %s (git %s)\n", isw_version_string, isw_git_commit);
        break;
      case ISW_CMD_HELP: status = isw_run_help(&cli); break;
      case ISW_CMD_PLAN: status = isw_run_plan(&cli); break;
      case ISW_CMD_RUN: status = isw_run_sweep(&cli); break;
      case ISW_CMD_REPORT: break; /* exec'd above */
    }
  }
  MPI_Finalize();
  return status;
}
