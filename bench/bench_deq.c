/* bench_deq.c — throughput and memory of the deq family (issue #3).
 *
 * Prints, in one run:
 *   1. the measured single-core dgemm rate (best of several 1024³ and
 *      (512 x 1024)·(1024 x 1024) products);
 *   2. for widths 16, 64, 256, 1024 on teacher data (d_x = 16, 512 training
 *      rows, full batch, tanh, N = 10, unrolled, Adam): the time per training
 *      step and the achieved GFLOP/s, counting 6·N·n·w² per step, as a
 *      fraction of that dgemm rate (targets: >= 70 % at 1024, >= 30 % at 16),
 *      and the same fraction for the GEMM work the kernels actually execute;
 *   3. the peak resident memory of one config (width 256, the same data,
 *      3 training steps and the evaluation) at N = 5 and N = 50 for both
 *      gradient modes, each in a fresh child process (ru_maxrss is a
 *      high-water mark, reported by the child itself), forked before MPI starts.
 * A benchmark, not a test: it asserts nothing (ctest label `bench`).
 * Options: --quick (fewer repetitions), --widths W1,W2,... */
#include <cblas.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isweep/data.h"
#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/rng.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "bench_deq: %s failed: %s\n%s", what, isw_error_message(), isw_error_traceback());
  exit(1);
}

/* Best GFLOP/s of C (m, n) += A (m, k) · B (k, n) over repetitions lasting >= min_s. */
static double dgemm_rate(int m, int n, int k, double min_s) {
  double *a = malloc(sizeof(double) * m * k), *b = malloc(sizeof(double) * k * n);
  double *c = calloc((size_t)m * n, sizeof(double));
  isw_rng r;
  isw_rng_init(&r, 1, 2, 3);
  isw_rng_normal_fill(&r, a, (size_t)m * k, 0, 1);
  isw_rng_normal_fill(&r, b, (size_t)k * n, 0, 1);
  double best = 0.0, t_all = now();
  while (now() - t_all < min_s) {
    double t0 = now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, b, n, 1.0, c, n);
    double rate = 2.0 * m * n * k / (now() - t0) / 1e9;
    if (rate > best) best = rate;
  }
  free(a);
  free(b);
  free(c);
  return best;
}

/* The benchmark workload's data: teacher, d_x = 16, 512 training rows. */
static isw_dataset *workload_data(void) {
  isw_teacher_opts o = {.n_train = 512, .n_test = 1024, .x_dim = 16, .teacher_width = 32,
                        .noise = 0.1};
  isw_dataset *ds = NULL;
  if (isw_data_teacher(&ds, &o, 20231, 1)) die("teacher data");
  return ds;
}

/* Seconds per training step (loss + gradient + Adam), best over blocks of steps. */
static double step_time(const isw_dataset *ds, int64_t h, int64_t n_iters, isw_deq_grad mode,
                        double min_s) {
  isw_deq_model *m = NULL;
  isw_deq_work *ws = NULL;
  isw_nn_adam *adam = NULL;
  if (isw_deq_model_create(&m, h, ds->d, ds->k, ISW_DEQ_TANH, 0)) die("model");
  isw_rng r;
  isw_rng_init(&r, 20231, (uint64_t)h, ISW_STREAM_INIT);
  if (isw_deq_model_init(m, 0.5, &r)) die("init");
  if (isw_deq_work_create(&ws, m, ds->n_train, n_iters, mode)) die("workspace");
  if (isw_nn_adam_create(&adam, m->n_params, 1e-3)) die("adam");
  double *grad = calloc((size_t)m->n_params, sizeof *grad), loss;
  isw_deq_bwd_opts bwd = {.tol = 1e-8, .max_iter = 200, .direct_width = 0};
  int64_t block = 1;
  double best = 1e300, t_all = now();
  for (int warm = 0; warm < 2; ++warm) {
    if (isw_deq_loss_grad(&loss, grad, NULL, m, ws, ds->x_train, ds->y_train, NULL, ds->n_train,
                          n_iters, mode, &bwd))
      die("loss_grad");
    isw_nn_adam_step(adam, m->theta, grad);
  }
  while (now() - t_all < min_s || block == 1) {
    double t0 = now();
    for (int64_t s = 0; s < block; ++s) {
      if (isw_deq_loss_grad(&loss, grad, NULL, m, ws, ds->x_train, ds->y_train, NULL, ds->n_train,
                            n_iters, mode, &bwd))
        die("loss_grad");
      isw_nn_adam_step(adam, m->theta, grad);
    }
    double per = (now() - t0) / (double)block;
    if (per < best) best = per;
    if (per * (double)block < 0.05) block *= 2; /* blocks of >= 50 ms for small widths */
    else if (block == 1) block = 2;
  }
  free(grad);
  isw_nn_adam_destroy(&adam);
  isw_deq_work_destroy(&ws);
  isw_deq_model_destroy(&m);
  return best;
}

/* One config in this (child) process: data, init, 3 Adam steps, the evaluation. */
static void one_config(int64_t h, int64_t n_iters, isw_deq_grad mode) {
  isw_dataset *ds = workload_data();
  isw_deq_model *m = NULL;
  isw_deq_work *ws = NULL;
  isw_nn_adam *adam = NULL;
  if (isw_deq_model_create(&m, h, ds->d, ds->k, ISW_DEQ_TANH, 0)) die("model");
  isw_rng r;
  isw_rng_init(&r, 20231, 7, ISW_STREAM_INIT);
  if (isw_deq_model_init(m, 0.5, &r)) die("init");
  if (isw_deq_work_create(&ws, m, ds->n_train, n_iters, mode)) die("workspace");
  if (isw_nn_adam_create(&adam, m->n_params, 1e-3)) die("adam");
  double *grad = calloc((size_t)m->n_params, sizeof *grad), loss;
  isw_deq_bwd_opts bwd = {.tol = 1e-8, .max_iter = 200, .direct_width = 0};
  for (int s = 0; s < 3; ++s) {
    if (isw_deq_loss_grad(&loss, grad, NULL, m, ws, ds->x_train, ds->y_train, NULL, ds->n_train,
                          n_iters, mode, &bwd))
      die("loss_grad");
    isw_nn_adam_step(adam, m->theta, grad);
  }
  int64_t t = 2 * n_iters + 1, *iters = malloc(sizeof(int64_t) * (size_t)t);
  for (int64_t i = 0; i < t; ++i) iters[i] = i;
  double *buf = malloc(sizeof(double) * 4 * (size_t)t);
  isw_deq_eval e = {.loss = buf, .acc = buf + t, .res_mean = buf + 2 * t, .res_max = buf + 3 * t};
  isw_deq_eval_opts eo = {.limit_tol = 1e-8, .limit_max_iter = 300, .rho_w = 0.5, .chunk = 0};
  if (isw_deq_evaluate(&e, m, ds->x_test, ds->y_test, NULL, ds->n_test, iters, (int)t, &eo))
    die("evaluate");
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%lld %ld\n", (long long)isw_deq_work_bytes(ws), (long)ru.ru_maxrss);
  free(iters);
  free(buf);
  free(grad);
  isw_nn_adam_destroy(&adam);
  isw_deq_work_destroy(&ws);
  isw_deq_model_destroy(&m);
  isw_data_destroy(&ds);
}

/* Peak RSS (MiB) of one_config in a child process; *ws_mib <- its workspace. */
static double child_rss(int64_t h, int64_t n_iters, isw_deq_grad mode, double *ws_mib) {
  int fd[2];
  if (pipe(fd)) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], STDOUT_FILENO);
    one_config(h, n_iters, mode);
    fflush(stdout);
    _exit(0);
  }
  close(fd[1]);
  char buf[64] = {0};
  ssize_t got = read(fd[0], buf, sizeof buf - 1);
  close(fd[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  long long ws_bytes = -1;
  long maxrss_kb = -1; /* the child's own getrusage: kilobytes on Linux */
  if (got <= 0 || sscanf(buf, "%lld %ld", &ws_bytes, &maxrss_kb) != 2) return -1;
  *ws_mib = (double)ws_bytes / 1048576.0;
  return (double)maxrss_kb / 1024.0;
}

int main(int argc, char **argv) {
  int quick = 0;
  int64_t widths[16] = {16, 64, 256, 1024};
  int n_widths = 4;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--widths") == 0 && i + 1 < argc) {
      n_widths = 0;
      for (char *s = strtok(argv[++i], ","); s && n_widths < 16; s = strtok(NULL, ","))
        widths[n_widths++] = atoll(s);
    }
  }
  /* memory first, in children, before MPI and before any BLAS thread exists */
  const int64_t rss_width = 256;
  double rss[2][2], wsm[2][2];
  const int64_t rss_n[2] = {5, 50};
  for (int mode = 0; mode < 2; ++mode)
    for (int j = 0; j < 2; ++j) rss[mode][j] = child_rss(rss_width, rss_n[j], (isw_deq_grad)mode, &wsm[mode][j]);

  MPI_Init(&argc, &argv);
  const char *thr = getenv("OPENBLAS_NUM_THREADS");
  printf("bench_deq: OPENBLAS_NUM_THREADS=%s; %s\n", thr ? thr : "(unset)", openblas_get_config());
  double min_s = quick ? 0.3 : 1.5;
  double r1 = dgemm_rate(1024, 1024, 1024, min_s), r2 = dgemm_rate(512, 1024, 1024, min_s);
  double peak = r1 > r2 ? r1 : r2;
  printf("single-core dgemm rate: %.2f GFLOP/s (1024^3: %.2f, 512x1024x1024: %.2f)\n\n", peak, r1,
         r2);

  isw_dataset *ds = workload_data();
  const int64_t n_iters = 10;
  printf("training step: teacher d_x=16, n=512 full batch, tanh, N=10, unrolled, Adam\n");
  printf("%8s %14s %12s %12s %14s\n", "width", "ms/step", "GFLOP/s", "of dgemm", "executed/dgemm");
  for (int i = 0; i < n_widths; ++i) {
    int64_t h = widths[i];
    double t = step_time(ds, h, n_iters, ISW_DEQ_UNROLLED, quick ? 0.3 : 2.0);
    double flops = 6.0 * (double)n_iters * 512.0 * (double)h * (double)h;
    /* what the kernels execute: z_0 = 0 skips the k = 0 products, plus U, V terms */
    double exec = 6.0 * (double)(n_iters - 1) * 512.0 * (double)h * (double)h +
                  512.0 * (double)h * (4.0 * 16.0 + 6.0);
    printf("%8lld %14.4f %12.2f %11.1f%% %13.1f%%\n", (long long)h, 1e3 * t, flops / t / 1e9,
           100.0 * flops / t / 1e9 / peak, 100.0 * exec / t / 1e9 / peak);
    fflush(stdout);
  }
  printf("(GFLOP/s and 'of dgemm' count the nominal 6·N·n·w² per step; 'executed' counts the\n"
         " GEMM work actually done, 6·(N-1)·n·w² + n·w·(4·d_x + 6), since z_0 = 0 makes the\n"
         " k = 0 products unnecessary)\n");
  isw_data_destroy(&ds);

  printf("\npeak RSS of one config (width %lld, 3 steps + evaluation), fresh process each:\n",
         (long long)rss_width);
  printf("%10s %6s %12s %16s\n", "grad", "N", "RSS MiB", "workspace MiB");
  for (int mode = 0; mode < 2; ++mode)
    for (int j = 0; j < 2; ++j)
      printf("%10s %6lld %12.1f %16.1f\n", mode ? "implicit" : "unrolled", (long long)rss_n[j],
             rss[mode][j], wsm[mode][j]);
  printf("implicit N=50 vs N=5: %+.2f%%; unrolled N=50 vs N=5: %+.1f%%\n",
         100.0 * (rss[1][1] / rss[1][0] - 1.0), 100.0 * (rss[0][1] / rss[0][0] - 1.0));
  MPI_Finalize();
  return 0;
}
