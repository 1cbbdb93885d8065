/* report.c — `isweep report`: exec the Python report (report.h).  Must not
 * read results files itself (analysis/isweep_analysis does) or talk MPI. */
#include "isweep/report.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ISW_SOURCE_DIR
#define ISW_SOURCE_DIR "."
#endif

/* The folder that holds isweep_analysis/ (report.h), in buf. */
static void analysis_dir(char *buf, size_t len) {
  const char *env = getenv("ISW_ANALYSIS_DIR");
  if (env && env[0]) {
    snprintf(buf, len, "%s", env);
    return;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      char cand[PATH_MAX + 64];
      struct stat st;
      snprintf(cand, sizeof cand, "%s/../share/isweep/analysis/isweep_analysis", exe);
      if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
        cand[strlen(cand) - strlen("/isweep_analysis")] = '\0';
        snprintf(buf, len, "%.*s", (int)(len - 1), cand);
        return;
      }
    }
  }
  snprintf(buf, len, "%s/analysis", ISW_SOURCE_DIR);
}

/* Nonzero on a rank other than 0 of an MPI launch (mpirun -np 2 isweep report
 * ...): only one process writes the report. */
static int not_first_rank(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; ++i) {
    const char *v = getenv(vars[i]);
    if (v && v[0]) return strcmp(v, "0") != 0;
  }
  return 0;
}

int isw_report_exec(const char *const *args, int n_args, const char *argv0) {
  if (not_first_rank()) return 0;
  const char *py = getenv("ISW_PYTHON");
  if (!py || !py[0]) py = "/usr/bin/python3";
  char dir[PATH_MAX], *path = NULL;
  analysis_dir(dir, sizeof dir);
  const char *old = getenv("PYTHONPATH");
  size_t len = strlen(dir) + (old ? strlen(old) + 1 : 0) + 1;
  char **av = calloc((size_t)n_args + 5, sizeof *av);
  path = malloc(len);
  if (!av || !path) {
    fprintf(stderr, "isweep: error: out of memory starting the report\n");
    free(av);
    free(path);
    return 2;
  }
  snprintf(path, len, "%s%s%s", dir, old && old[0] ? ":" : "", old && old[0] ? old : "");
  setenv("PYTHONPATH", path, 1);
  setenv("ISW_REPORT_PROG", "isweep", 1); /* the report's usage lines name the command the user typed */
  int k = 0;
  av[k++] = (char *)py;
  av[k++] = "-m";
  av[k++] = "isweep_analysis";
  av[k++] = "report";
  for (int i = 0; i < n_args; ++i) av[k++] = (char *)args[i];
  av[k] = NULL;
  execv(py, av);
  fprintf(stderr, "isweep: error: %s: cannot run the report with %s (%s); install python3 (jobs/install-deps.sh) "
                  "or set ISW_PYTHON\n", argv0 ? argv0 : "isweep", py, strerror(errno));
  free(av);
  free(path);
  return 2;
}
