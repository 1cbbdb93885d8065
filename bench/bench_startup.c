/* bench_startup.c — the end-of-run summary's probe for bench_startup.py:
 * peak RSS (VmHWM) of this process before and after isw_summary_print on
 * a results file, and the time it took.  The table goes to a temporary
 * file.  Serial; no MPI.
 *
 * usage: bench_startup FILE
 * prints: "summary FILE: peak_before_kB N peak_after_kB N seconds S" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/error.h"
#include "isweep/summary.h"

/* VmHWM of this process in kB, or -1. */
static long peak_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: bench_startup RESULTS.h5\n");
    return 2;
  }
  FILE *out = tmpfile();
  if (!out) {
    perror("bench_startup: tmpfile");
    return 1;
  }
  long before = peak_kb();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = isw_summary_print(argv[1], out);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long after = peak_kb();
  fclose(out);
  if (rc) {
    fprintf(stderr, "bench_startup: %s\n", isw_error_message());
    return 1;
  }
  printf("summary %s: peak_before_kB %ld peak_after_kB %ld seconds %.2f\n", argv[1], before, after,
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  return 0;
}
