/* testutil.h — shared CUnit harness for isweep's suites.
 * isw_test_main() initialises MPI (THREAD_MULTIPLE), runs one suite on every
 * rank and returns the failure count summed over MPI_COMM_WORLD as the exit
 * status (CU_basic_run_tests' own return value says nothing about failures). */
#ifndef ISWEEP_TESTUTIL_H
#define ISWEEP_TESTUTIL_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <math.h>

typedef struct {
  const char *name;
  void (*fn)(void);
} isw_test_case;

/* Run `cases` (terminated by {NULL, NULL}) as suite `suite`; returns the exit status. */
int isw_test_main(int argc, char **argv, const char *suite, const isw_test_case *cases);

/* |a - b| <= tol * max(|a|, |b|, floor) */
int isw_test_close(double a, double b, double tol, double floor);
/* max_i |a_i - b_i| / max(max_i |b_i|, floor) */
double isw_test_rel_diff(const double *a, const double *b, long n, double floor);
/* Two-precision tests: x (n) rounded to float in place, and its float copy (malloc'd,
 * the caller frees); max_i |a_i - b_i| / max_i |a_i| of a float64 and a float32 vector. */
float *isw_test_round_f32(double *x, long n);
double isw_test_rel_diff_f32(const double *a, const float *b, long n);

/* A fresh temporary directory (under $TMPDIR or /tmp), same path on all ranks
 * of MPI_COMM_WORLD; collective.  Returns a static buffer. */
const char *isw_test_tmpdir(void);

#endif
