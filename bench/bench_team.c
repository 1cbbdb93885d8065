/* bench_team.c — the team solve (isw_dist_ls_solve over all ranks) against
 * LAPACKE_dgels on rank 0 alone, on the same matrix, in one run.
 *
 * Shapes: m = rows, n = columns of A (m, n); b (m).  Default cases are the
 * issue's d = 4096, T·q = 2048 (A is 2048 x 4096, min-norm LQ path) and its
 * transpose shape 4096 x 2048 (QR path), with the caller's row block mb = 64
 * and the factorisation block nb (isw_dist_ls_set_nb) at 32, 64 and 128.
 * Each timing is the median of `reps` runs (default 3); the minimum is shown
 * too, as the machine may be shared.  While rank 0 runs
 * LAPACK the other ranks wait in a sleeping poll on an MPI_Ibarrier, so they
 * do not steal a core.  Not a test: prints a table, exits 0 unless a solve
 * failed or the two solutions disagree beyond 1e-10 relative.
 *
 * Usage: mpirun -n 2 bench_team [reps] [m n [mb [nb]]] */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isweep/error.h"
#include "isweep/linalg_dist.h"
#include "isweep/rng.h"

enum { MAX_REPS = 15 };

static int rank_, size_;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Every rank enters; those with nothing to do wait without spinning a core. */
static void sleepy_barrier(void) {
  MPI_Request req;
  int done = 0;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  MPI_Test(&req, &done, MPI_STATUS_IGNORE);
  while (!done) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
  }
}

/* LAPACK on rank 0: x (n) from A (m,n), b (m); returns the median seconds
 * (broadcast to every rank). */
static double time_lapack(double *x /* (n) */, double *tmin, const double *a /* (m,n) */,
                          const double *b /* (m) */, int m, int n, int reps) {
  double t[MAX_REPS], med[2] = {0.0, 0.0};
  int ldb = m > n ? m : n;
  for (int r = 0; r < reps; ++r) {
    if (rank_ == 0) {
      double *ac = malloc((size_t)m * n * sizeof *ac), *bc = calloc((size_t)ldb, sizeof *bc);
      memcpy(ac, a, (size_t)m * n * sizeof *ac);
      memcpy(bc, b, (size_t)m * sizeof *bc);
      double t0 = MPI_Wtime();
      int info = LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', m, n, 1, ac, m, bc, ldb);
      t[r] = MPI_Wtime() - t0;
      if (info != 0) {
        fprintf(stderr, "bench_team: LAPACKE_dgels info = %d\n", info);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      memcpy(x, bc, (size_t)n * sizeof *x);
      free(ac);
      free(bc);
    }
    sleepy_barrier(); /* a blocking MPI_Barrier would not match MPI_Ibarrier */
  }
  if (rank_ == 0) {
    med[0] = median(t, reps);
    med[1] = t[0]; /* sorted by median() */
  }
  MPI_Bcast(med, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(x, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  *tmin = med[1];
  return med[0];
}

/* The team solve over MPI_COMM_WORLD; returns the median of the slowest
 * rank's solve time (create and fill excluded, they are reported apart). */
static double time_team(double *x /* (n) */, double *tmin, double *setup,
                        const double *a /* (m,n) */,
                        const double *b /* (m) */, int m, int n, int mb, int nb, int reps) {
  double t[MAX_REPS], ts[MAX_REPS];
  for (int r = 0; r < reps; ++r) {
    isw_dist_ls *ls = NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    int err = isw_dist_ls_create(&ls, MPI_COMM_WORLD, m, n, mb);
    if (!err && nb > 0) err = isw_dist_ls_set_nb(ls, nb);
    if (err) {
      fprintf(stderr, "bench_team: %s\n%s", isw_error_message(), isw_error_traceback());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int mloc = isw_dist_ls_local_rows(ls), lda = isw_dist_ls_lda(ls);
    double *al = isw_dist_ls_a(ls), *bl = isw_dist_ls_b(ls);
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < mloc; ++i)
        al[i + (size_t)j * lda] = a[isw_dist_ls_global_row(ls, i) + (size_t)j * m];
    for (int i = 0; i < mloc; ++i) bl[i] = b[isw_dist_ls_global_row(ls, i)];
    double t1 = MPI_Wtime();
    MPI_Barrier(MPI_COMM_WORLD);
    double t2 = MPI_Wtime();
    err = isw_dist_ls_solve(ls, x, NULL);
    double mine[2] = {MPI_Wtime() - t2, t1 - t0}, worst[2];
    if (err) {
      fprintf(stderr, "bench_team: %s\n%s", isw_error_message(), isw_error_traceback());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Allreduce(mine, worst, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    t[r] = worst[0];
    ts[r] = worst[1];
    isw_dist_ls_destroy(&ls);
  }
  *setup = median(ts, reps);
  double med = median(t, reps);
  *tmin = t[0]; /* sorted by median() */
  return med;
}

/* max_i |a_i - b_i| / max_i |b_i| */
static double rel_diff(const double *a, const double *b, int n) {
  double num = 0.0, den = 1e-300;
  for (int i = 0; i < n; ++i) {
    num = fmax(num, fabs(a[i] - b[i]));
    den = fmax(den, fabs(b[i]));
  }
  return num / den;
}

/* One shape: LAPACK once, then the team at each block setting. */
static int run_shape(int m, int n, const int *mbs, const int *nbs, int nconf, int reps) {
  size_t mn = (size_t)m * n;
  double *a = malloc(mn * sizeof *a), *b = malloc((size_t)m * sizeof *b);
  double *xl = calloc((size_t)n, sizeof *xl), *xt = calloc((size_t)n, sizeof *xt);
  isw_rng r;
  isw_rng_init(&r, 2024, (uint64_t)m * 100000 + (uint64_t)n, ISW_STREAM_DATA);
  isw_rng_normal_fill(&r, a, mn, 0.0, 1.0);
  isw_rng_normal_fill(&r, b, (size_t)m, 0.0, 1.0);
  int bad = 0;
  double tl_min = 0.0, tl = time_lapack(xl, &tl_min, a, b, m, n, reps);
  for (int c = 0; c < nconf; ++c) {
    double setup = 0.0, tt_min = 0.0;
    double tt = time_team(xt, &tt_min, &setup, a, b, m, n, mbs[c], nbs[c], reps);
    double d = rel_diff(xt, xl, n);
    if (rank_ == 0)
      printf("%6d %6d %5d %5d %3d %10.3f %10.3f %8.2f %11.2e %9.3f %9.3f %9.3f\n", m, n,
             mbs[c], nbs[c], size_, tl, tt, tl / tt, d, setup, tl_min, tt_min);
    if (!(d <= 1e-10)) bad = 1;
  }
  free(a);
  free(b);
  free(xl);
  free(xt);
  return bad;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  int reps = argc > 1 ? atoi(argv[1]) : 3;
  if (reps < 1) reps = 1;
  if (reps > MAX_REPS) reps = MAX_REPS;
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  int blas_threads = openblas_get_num_threads();
  if (rank_ == 0) {
    printf("bench_team: %d ranks, OPENBLAS_NUM_THREADS=%s, openblas_get_num_threads() = %d, "
           "median of %d\n", size_, env ? env : "(unset)", blas_threads, reps);
    if (blas_threads != 1)
      printf("WARNING: OpenBLAS uses %d threads: LAPACK and team timings are not per core\n",
             blas_threads);
    printf("%6s %6s %5s %5s %3s %10s %10s %8s %11s %9s %9s %9s\n", "m", "n", "mb", "nb", "P",
           "LAPACK_s", "team_s", "ratio", "rel_diff", "fill_s", "LAPACK_min", "team_min");
  }
  int bad = 0;
  if (argc > 3) {
    int m = atoi(argv[2]), n = atoi(argv[3]);
    const int mbs[] = {argc > 4 ? atoi(argv[4]) : 64}, nbs[] = {argc > 5 ? atoi(argv[5]) : 64};
    bad |= run_shape(m, n, mbs, nbs, 1, reps);
  } else {
    const int mbs[] = {64, 64, 64}, nbs[] = {32, 64, 128};
    bad |= run_shape(2048, 4096, mbs, nbs, 3, reps);
    bad |= run_shape(4096, 2048, mbs, nbs, 3, reps);
  }
  if (rank_ == 0)
    printf("ratio = LAPACK_s / team_s (medians; > 1: the team is faster); fill_s = create + "
           "copy of the local rows, not in team_s\n");
  MPI_Finalize();
  return bad;
}
