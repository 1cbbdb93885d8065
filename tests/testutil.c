/* testutil.c — the CUnit harness shared by every suite (see testutil.h). */
#include "testutil.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int isw_test_main(int argc, char **argv, const char *suite, const isw_test_case *cases) {
  (void)argc;
  (void)argv;
  int provided = 0, rank = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "CUnit: cannot initialise the registry\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  for (const isw_test_case *c = cases; c->name; ++c) CU_add_test(s, c->name, c->fn);
  CU_basic_set_mode(rank == 0 ? CU_BRM_VERBOSE : CU_BRM_SILENT);
  CU_basic_run_tests();
  int mine = (int)CU_get_number_of_failures();
  if (mine && rank != 0) CU_basic_show_failures(CU_get_failure_list());
  int total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("\n%s: %d failure(s) summed over all ranks\n", suite, total);
  CU_cleanup_registry();
  MPI_Finalize();
  return total > 0 ? 1 : 0;
}

int isw_test_close(double a, double b, double tol, double floor) {
  double scale = fmax(fmax(fabs(a), fabs(b)), floor);
  return fabs(a - b) <= tol * scale;
}

double isw_test_rel_diff(const double *a, const double *b, long n, double floor) {
  double num = 0.0, den = floor;
  for (long i = 0; i < n; ++i) {
    num = fmax(num, fabs(a[i] - b[i]));
    den = fmax(den, fabs(b[i]));
  }
  return num / den;
}

float *isw_test_round_f32(double *x, long n) {
  float *xs = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!xs) return NULL;
  for (long i = 0; i < n; ++i) x[i] = xs[i] = (float)x[i];
  return xs;
}

double isw_test_rel_diff_f32(const double *a, const float *b, long n) {
  double num = 0.0, den = 0.0;
  for (long i = 0; i < n; ++i) {
    num = fmax(num, fabs(a[i] - (double)b[i]));
    den = fmax(den, fabs(a[i]));
  }
  return num / den;
}

const char *isw_test_tmpdir(void) {
  static char path[512];
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/isweep-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) path[0] = '\0';
  }
  MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
  return path;
}
