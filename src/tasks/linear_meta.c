/* linear_meta.c — the exactly solvable meta-learning family (SCIENCE.md, task
 * `linear-meta`): the seeded task data, the closed-form outer solve theta*_N,
 * and the one-pass evaluation with the n = infinity limit and the bound terms.
 * Runs on one rank (LAPACK through linalg.h) or on a team (ScaLAPACK through
 * linalg_dist.h); it never touches the results file and never prints.
 *
 * Shapes: d = width, T = training tasks, s = support rows, q = query rows,
 * Tt = test tasks, m = T q stacked query rows, ml = rows of A_N on this rank,
 * J = number of test_iters, N = train_iters, nmax = max(N, max test_iters).
 *
 * Data protocol (a pure function of sweep_seed, data_id and the parameters,
 * so 1 and P ranks see the same numbers): mu (d) is the first draw of stream
 * ISW_STREAM_DATA of id data_id.  Training task t draws from stream
 * ISW_STREAM_DATA of id data_id ^ mix64(t + 1), test task t from stream
 * ISW_STREAM_TEST_DATA of the same id, in this order: xi (d), K (s, d) column
 * by column, Q (q, d) column by column, eps (s), eps' (q).  Then
 * w = mu + sigma_w xi, K and Q scaled by 1/sqrt(d), b = K w + sigma_eps eps,
 * c = Q w + sigma_eps eps'.
 *
 * Team layout: A_N (m, d) is distributed by row blocks of mb = q max(1, 64/q)
 * rows (whole tasks), block k on team rank k % P; a rank draws, builds and
 * evaluates only the training tasks of its blocks, and test task t lives on
 * rank (t / (mb/q)) % P.  Partial sums are gathered and added in rank order,
 * so every member returns the same bits. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/linalg.h"
#include "isweep/linalg_dist.h"
#include "isweep/rng.h"
#include "isweep/task.h"

enum { LM_TASKS, LM_SUPPORT, LM_QUERY, LM_TEST_TASKS, LM_SIGMA_W, LM_SIGMA_EPS, LM_STEP_SCALE, LM_N_PARAMS };

static const isw_param_def lm_params[LM_N_PARAMS] = {
    [LM_TASKS] = {"tasks", ISW_PARAM_INT, "64", 1, 1e6, NULL, 1, "T: number of training tasks"},
    [LM_SUPPORT] = {"support", ISW_PARAM_INT, "64", 1, 1e6, NULL, 1, "s: support rows per task (inner problem size)"},
    [LM_QUERY] = {"query", ISW_PARAM_INT, "8", 1, 1e6, NULL, 1, "q: query rows per task (outer loss)"},
    [LM_TEST_TASKS] = {"test_tasks", ISW_PARAM_INT, "64", 1, 1e6, NULL, 1, "T_test: held-out tasks for the test loss"},
    [LM_SIGMA_W] = {"sigma_w", ISW_PARAM_REAL, "0.5", 0, 1e6, NULL, 1, "spread of task truths around the mean: w_t = mu + sigma_w xi_t"},
    [LM_SIGMA_EPS] = {"sigma_eps", ISW_PARAM_REAL, "0.1", 0, 1e6, NULL, 1, "noise std of support and query targets"},
    [LM_STEP_SCALE] = {"step_scale", ISW_PARAM_REAL, "0.1", 1e-12, 1.999, NULL, 0, "inner step eta = step_scale / L, L = max_t ||K_t||_2^2 (< 2 for convergence)"},
};

enum { LM_S_TRAIN_N, LM_S_TEST_N, LM_S_TRAIN_LIMIT, LM_S_TEST_LIMIT, LM_S_E_N, LM_S_STEP, LM_S_LIPSCHITZ, LM_S_COND, LM_N_SCALARS };
static const isw_column_def lm_scalars[LM_N_SCALARS] = {
    [LM_S_TRAIN_N] = {"train_loss_at_N", "training outer loss L(n = train_iters), (1/(T q)) sum_t 1/2 ||Q_t z_N - c_t||^2", .role = ISW_ROLE_LOSS, .split = "train", .at = "N"},
    [LM_S_TEST_N] = {"test_loss_at_N", "held-out loss at n = train_iters, same normalisation", .role = ISW_ROLE_LOSS, .split = "test", .at = "N"},
    [LM_S_TRAIN_LIMIT] = {"train_loss_limit", "training loss at n = infinity: each task's GD limit (min-norm solution nearest theta)", .role = ISW_ROLE_LOSS, .split = "train", .at = "limit"},
    [LM_S_TEST_LIMIT] = {"test_loss_limit", "held-out loss at n = infinity", .role = ISW_ROLE_LOSS, .split = "test", .at = "limit"},
    [LM_S_E_N] = {"E_N", "1/2 ||r_N||^2, unnormalised training residual energy at n = N (bound term)", .role = ISW_ROLE_BOUND_TERM, .term = "energy", .per = "tasks*query"},
    [LM_S_STEP] = {"step", "inner step eta"},
    [LM_S_LIPSCHITZ] = {"lipschitz", "L = max_t ||K_t||_2^2 over training tasks"},
    [LM_S_COND] = {"cond_est", "estimated 1-norm condition number of the triangular factor of A_N (1/rcond); "
                               "the solve is refused above 1/(max(T q, width) eps)"},
};

enum { LM_C_TRAIN, LM_C_TEST, LM_C_DELTA_SQ, LM_C_PERP_NORM, LM_C_PERP_CROSS, LM_N_CURVES };
static const isw_column_def lm_curves[LM_N_CURVES] = {
    [LM_C_TRAIN] = {"train_loss", "training outer loss after n inner steps from theta*_N", .role = ISW_ROLE_LOSS, .split = "train"},
    [LM_C_TEST] = {"test_loss", "held-out loss after n inner steps from theta*_N", .role = ISW_ROLE_LOSS, .split = "test"},
    [LM_C_DELTA_SQ] = {"delta_sq", "||Delta||^2, Delta = p_n - p_N stacked training query predictions (unnormalised)", .role = ISW_ROLE_BOUND_TERM, .term = "delta_sq", .per = "tasks*query"},
    [LM_C_PERP_NORM] = {"perp_delta_norm", "||P_perp Delta||, P_perp projects onto range(A_N)^perp", .role = ISW_ROLE_BOUND_TERM, .term = "perp_norm", .per = "tasks*query"},
    [LM_C_PERP_CROSS] = {"perp_cross", "<P_perp Delta, r_N>; D*(T q) = 1/2 delta_sq + perp_cross exactly", .role = ISW_ROLE_BOUND_TERM, .term = "perp_cross", .per = "tasks*query"},
};

/* Cost model in flop-equivalents of one core's dense BLAS rate (~1e10/s where it
 * was calibrated): BLAS/LAPACK phases count their flops; the phases that run
 * slower per flop carry a weight measured phase by phase (one rank, defaults,
 * d = 32..2048): a normal draw (Box-Muller + counter hash, ~30 ns) is 300, the
 * per-task dgels of the limit (thin panels) 3x its flops. */
static double lm_cost(const isw_config *c) {
  double d = (double)c->width, T = c->p[LM_TASKS].num, s = c->p[LM_SUPPORT].num;
  double q = c->p[LM_QUERY].num, Tt = c->p[LM_TEST_TASKS].num, N = (double)c->train_iters;
  double nmax = c->n_test ? (double)c->test_iters[c->n_test - 1] : 0.0;
  if (N > nmax) nmax = N;
  double m = T * q, mn = m < d ? m : d, mx = m > d ? m : d;
  double smin = s < d ? s : d, smax = s > d ? s : d;
  double data = (T + Tt) * ((s + q + 1.0) * d + s + q) * 300.0;    /* normals: xi, K, Q, noise */
  double gram = T * smin * smin * smax;                             /* dsyrk for L = max ||K_t||^2 */
  double build = 4.0 * T * N * s * d * q + 4.0 * T * N * s * d;    /* A_N (dgemm) and offsets */
  double solve = 2.0 * mn * mn * (mx - mn / 3.0);                  /* QR or LQ of A_N */
  double eval = (T + Tt) * nmax * 4.0 * s * d;                     /* one pass of nmax steps (dgemv) */
  double limit = 3.0 * (T + Tt) * 2.0 * smin * smin * (smax - smin / 3.0); /* per-task dgels */
  return data + gram + build + solve + eval + limit;
}

static int lm_validate(const isw_config *c) {
  int err = 0;
  double T = c->p[LM_TASKS].num, q = c->p[LM_QUERY].num, s = c->p[LM_SUPPORT].num;
  ISW_CHECK(c->width >= 1 && c->width <= INT_MAX, ISW_EUSAGE,
            "linear-meta: width %lld is out of range (use 1 .. %d)", (long long)c->width, INT_MAX);
  ISW_CHECK(c->train_iters >= 0 && c->train_iters <= INT_MAX, ISW_EUSAGE,
            "linear-meta: train_iters %lld is out of range (use 0 .. %d)",
            (long long)c->train_iters, INT_MAX);
  ISW_CHECK(c->n_test == 0 || c->test_iters[c->n_test - 1] <= INT_MAX, ISW_EUSAGE,
            "linear-meta: test_iters up to %lld exceed %d (use fewer inner steps)",
            c->n_test ? (long long)c->test_iters[c->n_test - 1] : 0LL, INT_MAX);
  ISW_CHECK(T * q <= (double)INT_MAX, ISW_EUSAGE,
            "linear-meta: tasks * query = %.0f stacked rows exceed %d (use fewer tasks or query rows)",
            T * q, INT_MAX);
  ISW_CHECK(s * (double)c->width <= (double)INT_MAX, ISW_EUSAGE,
            "linear-meta: support * width = %.0f exceeds %d (use fewer support rows)",
            s * (double)c->width, INT_MAX);
cleanup:
  return err;
}

/* ---- sizes and data -------------------------------------------------------- */

typedef struct {
  int d, T, s, q, Tt, N, J, nmax, m;
  double sigma_w, sigma_eps, step_scale;
  const int64_t *iters; /* (J) */
} lm_dims;

typedef struct { /* one task */
  double *k; /* (s, d) support design */
  double *q; /* (q, d) query design */
  double *b; /* (s) support targets */
  double *c; /* (q) query targets */
} lm_data;

static uint64_t lm_task_id(uint64_t data_id, int t) { return data_id ^ isw_mix64((uint64_t)t + 1); }

/* Draw one task (protocol in the file header).  w: scratch (d). */
static int lm_draw_task(lm_data *td, double *w /* (d) */, const double *mu /* (d) */,
                        const lm_dims *D, uint64_t sweep_seed, uint64_t data_id, int stream,
                        int t) {
  int err = 0;
  const size_t d = (size_t)D->d, s = (size_t)D->s, q = (size_t)D->q;
  const double sd = 1.0 / sqrt((double)D->d);
  isw_rng r;
  isw_rng_init(&r, sweep_seed, lm_task_id(data_id, t), (uint64_t)stream);
  isw_rng_normal_fill(&r, w, d, 0.0, 1.0);
  for (size_t j = 0; j < d; ++j) w[j] = mu[j] + D->sigma_w * w[j];
  isw_rng_normal_fill(&r, td->k, s * d, 0.0, sd);
  isw_rng_normal_fill(&r, td->q, q * d, 0.0, sd);
  /* b (s) <- K w, c (q) <- Q w, then the noise */
  ISW_CALL(isw_linalg_residual(td->b, td->k, D->s, w, NULL, D->s, D->d));
  ISW_CALL(isw_linalg_residual(td->c, td->q, D->q, w, NULL, D->q, D->d));
  for (size_t i = 0; i < s; ++i) td->b[i] += D->sigma_eps * isw_rng_normal(&r);
  for (size_t i = 0; i < q; ++i) td->c[i] += D->sigma_eps * isw_rng_normal(&r);
cleanup:
  return err;
}

static double lm_half_sq(const double *v, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += v[i] * v[i];
  return 0.5 * s;
}

static int lm_all_finite(const double *v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* ---- the solver: one rank or a team --------------------------------------- */

typedef struct {
  MPI_Comm comm;
  int P, rank;
  isw_linalg_ls *ls;  /* one rank */
  isw_dist_ls *dls;   /* team */
} lm_solver;

static double *lm_a(lm_solver *v) { return v->dls ? isw_dist_ls_a(v->dls) : isw_linalg_ls_a(v->ls); }
static int lm_lda(lm_solver *v) { return v->dls ? isw_dist_ls_lda(v->dls) : isw_linalg_ls_lda(v->ls); }
static double *lm_b(lm_solver *v) { return v->dls ? isw_dist_ls_b(v->dls) : isw_linalg_ls_b(v->ls); }

/* Collective over the team: theta (d) and *rcond (the condition estimate of
 * the triangular factor, also when the solve is refused as rank deficient)
 * on every member, bit-identical. */
static int lm_solve(lm_solver *v, double *theta, double *rcond, int d) {
  int err = 0;
  if (!v->dls) {
    ISW_CALL(isw_linalg_ls_solve(v->ls, theta, rcond));
    goto cleanup;
  }
  ISW_CALL(isw_dist_ls_solve(v->dls, theta, rcond));
  ISW_CHECK(MPI_Bcast(theta, d, MPI_DOUBLE, 0, v->comm) == MPI_SUCCESS, ISW_EMPI,
            "linear-meta: MPI_Bcast of theta over the team failed");
cleanup:
  return err;
}

/* v (ml, k), ld max(1, ml) <- P_perp v.  Collective over the team. */
static int lm_project(lm_solver *v, double *x, int ml, int k) {
  int err = 0;
  if (v->dls)
    ISW_CALL(isw_dist_ls_project_perp(v->dls, x, k));
  else
    ISW_CALL(isw_linalg_ls_project_perp(v->ls, x, ml > 1 ? ml : 1, k));
cleanup:
  return err;
}

/* sum (n) <- the sum over team ranks of the partials (n), added in rank order
 * on every rank (identical bits everywhere).  Collective. */
static int lm_team_sum(double *sum, const double *part, int n, const lm_solver *v) {
  int err = 0;
  double *all = NULL;
  if (v->P == 1) {
    memcpy(sum, part, (size_t)n * sizeof *sum);
    goto cleanup;
  }
  ISW_ALLOC(all, (size_t)n * (size_t)v->P);
  ISW_CHECK(MPI_Allgather(part, n, MPI_DOUBLE, all, n, MPI_DOUBLE, v->comm) == MPI_SUCCESS,
            ISW_EMPI, "linear-meta: MPI_Allgather of partial sums failed");
  for (int i = 0; i < n; ++i) {
    double s = 0.0;
    for (int p = 0; p < v->P; ++p) s += all[(size_t)p * n + i];
    sum[i] = s;
  }
cleanup:
  free(all);
  return err;
}

/* ---- evaluation of one task ------------------------------------------------ */

typedef struct {
  double *z;    /* (d) inner iterate */
  double *res;  /* (q) Q z - c */
  double *ws;   /* (s) gd scratch */
  double *wls;  /* (s d + max(s, d)) minimum-norm solve scratch */
  double *rhs;  /* (s) */
  double *dz;   /* (d) */
} lm_scratch;

/* One pass of nmax inner steps from theta: adds 1/2 ||Q z_n - c||^2 into
 * sums[j] at n = iters[j] and into *sum_n at n = N; when rn is not NULL,
 * stores Q z_n - c into column j of R (q rows, ld ldr) and Q z_N - c into rn.
 * Then the limit z_inf = theta + K^+ (b - K theta) adds into *sum_lim; a rank-
 * deficient K_t counts one into *lim_fail instead. */
static int lm_eval_task(double *sums /* (J) */, double *sum_n, double *sum_lim, double *lim_fail,
                        double *R /* (q, J) */, int ldr, double *rn /* (q) */,
                        const lm_data *td, const double *theta /* (d) */, double eta,
                        const lm_dims *D, lm_scratch *w) {
  int err = 0;
  const int d = D->d, s = D->s, q = D->q;
  memcpy(w->z, theta, (size_t)d * sizeof *theta);
  int j = 0;
  for (int n = 0; n <= D->nmax; ++n) {
    int listed = j < D->J && D->iters[j] == n;
    if (listed || n == D->N) {
      /* res (q) <- Q z_n - c */
      ISW_CALL(isw_linalg_residual(w->res, td->q, q, w->z, td->c, q, d));
      double e = lm_half_sq(w->res, q);
      if (listed) {
        sums[j] += e;
        if (rn) memcpy(R + (size_t)j * ldr, w->res, (size_t)q * sizeof *R);
        ++j;
      }
      if (n == D->N) {
        *sum_n += e;
        if (rn) memcpy(rn, w->res, (size_t)q * sizeof *rn);
      }
    }
    /* z <- z - eta K^T (K z - b) */
    if (n < D->nmax) ISW_CALL(isw_linalg_gd_step(w->z, td->k, s, td->b, eta, w->ws, s, d));
  }
  /* rhs (s) <- b - K theta; dz (d) <- K^+ rhs; z_inf = theta + dz */
  ISW_CALL(isw_linalg_residual(w->rhs, td->k, s, theta, td->b, s, d));
  for (int i = 0; i < s; ++i) w->rhs[i] = -w->rhs[i];
  int e = isw_linalg_minnorm_solve(w->dz, td->k, s, w->rhs, s, d, w->wls);
  if (e == ISW_ENUMERIC) {
    isw_error_clear();
    *lim_fail += 1.0;
    goto cleanup;
  }
  ISW_CALL(e);
  for (int i = 0; i < d; ++i) w->z[i] = theta[i] + w->dz[i];
  ISW_CALL(isw_linalg_residual(w->res, td->q, q, w->z, td->c, q, d));
  *sum_lim += lm_half_sq(w->res, q);
cleanup:
  return err;
}

/* ---- run -------------------------------------------------------------------- */

/* Partial sums gathered over the team, in this layout (J = number of test_iters). */
enum { PS_TRAIN_N, PS_TEST_N, PS_TRAIN_LIM, PS_TEST_LIM, PS_LIM_FAIL, PS_FIXED };
#define PS_TRAIN(J) (PS_FIXED)
#define PS_TEST(J) (PS_FIXED + (J))
#define PS_DSQ(J) (PS_FIXED + 2 * (J))
#define PS_PSQ(J) (PS_FIXED + 3 * (J))
#define PS_PCROSS(J) (PS_FIXED + 4 * (J))
#define PS_LEN(J) (PS_FIXED + 5 * (J))

/* A stop request abandons a one-rank config between tasks (the sweep sets it
 * back to pending for --resume).  A team's members could see the request at
 * different moments and part ways in a collective, so a team config finishes. */
static int lm_check_stop(const lm_solver *v) {
  int err = 0;
  ISW_CHECK(v->P > 1 || !isw_stop_requested(), ISW_EINTERRUPT, "linear-meta: stopped by a signal");
cleanup:
  return err;
}

static int lm_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  int err = 0;
  lm_solver sv = {.comm = team, .P = 1, .rank = 0, .ls = NULL, .dls = NULL};
  lm_data *own = NULL, tt = {0};
  int *own_t = NULL, *own_row = NULL, n_own = 0;
  double *mu = NULL, *wvec = NULL, *ktr = NULL, *qtr = NULL, *btr = NULL, *ctr = NULL;
  double *theta = NULL, *wq = NULL, *rvec = NULL, *resq = NULL, *delta = NULL, *rnl = NULL;
  double *part = NULL, *tot = NULL;
  lm_scratch sc = {0};
  double t0 = MPI_Wtime(), t_train = 0.0;

  ISW_CALL(lm_validate(c));
  lm_dims D = {.d = (int)c->width, .T = (int)c->p[LM_TASKS].num, .s = (int)c->p[LM_SUPPORT].num,
               .q = (int)c->p[LM_QUERY].num, .Tt = (int)c->p[LM_TEST_TASKS].num,
               .N = (int)c->train_iters, .J = c->n_test, .sigma_w = c->p[LM_SIGMA_W].num,
               .sigma_eps = c->p[LM_SIGMA_EPS].num, .step_scale = c->p[LM_STEP_SCALE].num,
               .iters = c->test_iters};
  D.m = D.T * D.q;
  D.nmax = D.N;
  if (D.J > 0 && D.iters[D.J - 1] > D.nmax) D.nmax = (int)D.iters[D.J - 1];
  const int d = D.d, s = D.s, q = D.q, m = D.m, J = D.J;
  const int mb = q * (64 / q > 1 ? 64 / q : 1), tpb = mb / q;
  res->rho = (double)d / (double)m;
  res->n_params = d;

  /* -- the solver and the rows this rank owns -- */
  int ml = m;
  if (c->team > 1) {
    ISW_CHECK(MPI_Comm_size(team, &sv.P) == MPI_SUCCESS && MPI_Comm_rank(team, &sv.rank) == MPI_SUCCESS,
              ISW_EMPI, "linear-meta: cannot query the team communicator");
    ISW_CHECK(sv.P == c->team, ISW_EINTERNAL,
              "linear-meta: config wants a team of %d ranks, the communicator has %d", c->team, sv.P);
    ISW_CALL(isw_dist_ls_create(&sv.dls, team, m, d, mb));
    ml = isw_dist_ls_local_rows(sv.dls);
  } else {
    ISW_CALL(isw_linalg_ls_create(&sv.ls, m, d));
  }
  const int lda = lm_lda(&sv), ldl = ml > 1 ? ml : 1;
  ISW_ALLOC(own_t, ml / q + 1);
  ISW_ALLOC(own_row, ml / q + 1);
  for (int i = 0; i < ml; ++i) {
    int g = sv.dls ? isw_dist_ls_global_row(sv.dls, i) : i;
    if (g % q) continue;
    ISW_CHECK(i + q <= ml && (!sv.dls || isw_dist_ls_global_row(sv.dls, i + q - 1) == g + q - 1),
              ISW_EINTERNAL, "linear-meta: task %d is split across row blocks", g / q);
    own_t[n_own] = g / q;
    own_row[n_own++] = i;
  }
  ISW_CHECK(n_own * q == ml, ISW_EINTERNAL, "linear-meta: %d local rows but %d whole tasks", ml, n_own);

  /* -- data: mu, then this rank's training tasks -- */
  ISW_ALLOC(mu, d);
  ISW_ALLOC(wvec, d);
  {
    isw_rng r;
    isw_rng_init(&r, c->sweep_seed, c->data_id, ISW_STREAM_DATA);
    isw_rng_normal_fill(&r, mu, (size_t)d, 0.0, 1.0);
  }
  ISW_ALLOC(own, n_own + 1);
  ISW_ALLOC(ktr, (size_t)n_own * s * d + 1);
  ISW_ALLOC(qtr, (size_t)n_own * q * d + 1);
  ISW_ALLOC(btr, (size_t)n_own * s + 1);
  ISW_ALLOC(ctr, (size_t)n_own * q + 1);
  double lip_loc = 0.0, lip = 0.0;
  for (int o = 0; o < n_own; ++o) {
    ISW_CALL(lm_check_stop(&sv));
    own[o] = (lm_data){.k = ktr + (size_t)o * s * d, .q = qtr + (size_t)o * q * d,
                       .b = btr + (size_t)o * s, .c = ctr + (size_t)o * q};
    ISW_CALL(lm_draw_task(&own[o], wvec, mu, &D, c->sweep_seed, c->data_id, ISW_STREAM_DATA, own_t[o]));
    double lt = 0.0;
    ISW_CALL(isw_linalg_max_eig_gram(&lt, own[o].k, s, s, d));
    if (lt > lip_loc) lip_loc = lt;
  }
  lip = lip_loc;
  if (sv.P > 1)
    ISW_CHECK(MPI_Allreduce(&lip_loc, &lip, 1, MPI_DOUBLE, MPI_MAX, team) == MPI_SUCCESS, ISW_EMPI,
              "linear-meta: MPI_Allreduce of the Lipschitz constant failed");
  const double eta = D.step_scale / lip;
  res->scalars[LM_S_STEP] = eta;
  res->scalars[LM_S_LIPSCHITZ] = lip;

  /* -- A_N rows and targets y_N = c - Q r^N of the owned tasks -- */
  double *A = lm_a(&sv), *y = lm_b(&sv);
  ISW_ALLOC(wq, (size_t)q * s);
  ISW_ALLOC(rvec, d);
  ISW_ALLOC(resq, q);
  ISW_ALLOC(sc.ws, s);
  for (int o = 0; o < n_own; ++o) {
    ISW_CALL(lm_check_stop(&sv));
    const lm_data *td = &own[o];
    double *x = A + own_row[o]; /* (q, d), ld lda: this task's block of A_N */
    for (int j = 0; j < d; ++j) memcpy(x + (size_t)j * lda, td->q + (size_t)j * q, (size_t)q * sizeof *x);
    /* X <- X M = X (I - eta K^T K), N times: Q M^N */
    for (int k = 0; k < D.N; ++k) ISW_CALL(isw_linalg_gd_apply_rows(x, lda, td->k, s, eta, wq, q, s, d));
    /* offsets: r^N from r^0 = 0 under the full inner map */
    memset(rvec, 0, (size_t)d * sizeof *rvec);
    for (int k = 0; k < D.N; ++k) ISW_CALL(isw_linalg_gd_step(rvec, td->k, s, td->b, eta, sc.ws, s, d));
    /* resq (q) <- Q r^N - c; y = -resq */
    ISW_CALL(isw_linalg_residual(resq, td->q, q, rvec, td->c, q, d));
    for (int i = 0; i < q; ++i) y[own_row[o] + i] = -resq[i];
  }
  int bad_loc = !(isfinite(lip) && lip > 0.0), bad = 0;
  for (int j = 0; j < d && !bad_loc; ++j) bad_loc = !lm_all_finite(A + (size_t)j * lda, (size_t)ml);
  if (!bad_loc) bad_loc = !lm_all_finite(y, (size_t)ml);
  bad = bad_loc;
  if (sv.P > 1)
    ISW_CHECK(MPI_Allreduce(&bad_loc, &bad, 1, MPI_INT, MPI_MAX, team) == MPI_SUCCESS, ISW_EMPI,
              "linear-meta: MPI_Allreduce of the finiteness flag failed");
  if (bad) {
    res->status = ISW_ST_DIVERGED;
    snprintf(res->message, sizeof res->message,
             "non-finite A_N or targets after %d inner steps (L = %g)", D.N, lip);
    goto cleanup;
  }

  /* -- theta*_N: minimum-norm least squares -- */
  ISW_ALLOC(theta, d);
  {
    double rcond = NAN;
    int e = lm_solve(&sv, theta, &rcond, d);
    res->scalars[LM_S_COND] = 1.0 / rcond; /* inf when exactly singular */
    if (e == ISW_ENUMERIC) {
      res->status = ISW_ST_FAILED;
      if (rcond >= 0.0) /* the rank test refused the solve */
        snprintf(res->message, sizeof res->message,
                 "A_N (%d x %d) is numerically rank deficient: cond_est %.3g > %.3g = "
                 "1/(max(m, d) eps); use fewer train_iters or a smaller step_scale",
                 m, d, 1.0 / rcond, 1.0 / isw_linalg_rcond_min(m, d));
      else
        snprintf(res->message, sizeof res->message, "A_N (%d x %d): %s", m, d,
                 isw_error_message());
      isw_error_clear();
      goto cleanup;
    }
    ISW_CALL(e);
  }
  if (!lm_all_finite(theta, (size_t)d)) {
    res->status = ISW_ST_DIVERGED;
    snprintf(res->message, sizeof res->message, "non-finite theta*_N from the %d x %d solve", m, d);
    goto cleanup;
  }
  t_train = MPI_Wtime() - t0;
  double t1 = MPI_Wtime();

  /* -- evaluation: one pass of nmax steps per task -- */
  ISW_ALLOC(sc.z, d);
  ISW_ALLOC(sc.res, q);
  ISW_ALLOC(sc.rhs, s);
  ISW_ALLOC(sc.dz, d);
  ISW_ALLOC(sc.wls, (size_t)s * d + (s > d ? s : d));
  ISW_ALLOC(part, PS_LEN(J));
  ISW_ALLOC(tot, PS_LEN(J));
  ISW_ALLOC(delta, (size_t)ldl * J + 1); /* (ml, J): residuals, then Delta = res_n - res_N */
  ISW_ALLOC(rnl, ldl);                   /* (ml) r_N */
  for (int o = 0; o < n_own; ++o)
    ISW_CALL(lm_eval_task(part + PS_TRAIN(J), &part[PS_TRAIN_N], &part[PS_TRAIN_LIM], &part[PS_LIM_FAIL],
                          delta + own_row[o], ldl, rnl + own_row[o], &own[o], theta, eta, &D, &sc));
  ISW_ALLOC(tt.k, (size_t)s * d);
  ISW_ALLOC(tt.q, (size_t)q * d);
  ISW_ALLOC(tt.b, s);
  ISW_ALLOC(tt.c, q);
  for (int t = 0; t < D.Tt; ++t) {
    if ((t / tpb) % sv.P != sv.rank) continue;
    ISW_CALL(lm_check_stop(&sv));
    ISW_CALL(lm_draw_task(&tt, wvec, mu, &D, c->sweep_seed, c->data_id, ISW_STREAM_TEST_DATA, t));
    ISW_CALL(lm_eval_task(part + PS_TEST(J), &part[PS_TEST_N], &part[PS_TEST_LIM], &part[PS_LIM_FAIL],
                          NULL, 0, NULL, &tt, theta, eta, &D, &sc));
  }
  /* bound terms over the owned training rows: Delta_j = res_{n_j} - r_N */
  for (int j = 0; j < J; ++j)
    for (int i = 0; i < ml; ++i) {
      double *x = delta + (size_t)j * ldl + i;
      *x -= rnl[i];
      part[PS_DSQ(J) + j] += *x * *x;
    }
  if (m > d && J > 0) {
    ISW_CALL(lm_project(&sv, delta, ml, J)); /* Delta <- P_perp Delta */
    for (int j = 0; j < J; ++j)
      for (int i = 0; i < ml; ++i) {
        double x = delta[(size_t)j * ldl + i];
        part[PS_PSQ(J) + j] += x * x;
        part[PS_PCROSS(J) + j] += x * rnl[i];
      }
  } /* else P_perp = 0: A_N has full row rank, the terms stay exactly 0 */
  ISW_CALL(lm_team_sum(tot, part, PS_LEN(J), &sv));

  /* -- the result -- */
  const double ntr = (double)m, nte = (double)D.Tt * q;
  res->scalars[LM_S_TRAIN_N] = tot[PS_TRAIN_N] / ntr;
  res->scalars[LM_S_TEST_N] = tot[PS_TEST_N] / nte;
  res->scalars[LM_S_E_N] = tot[PS_TRAIN_N];
  if (tot[PS_LIM_FAIL] == 0.0) {
    res->scalars[LM_S_TRAIN_LIMIT] = tot[PS_TRAIN_LIM] / ntr;
    res->scalars[LM_S_TEST_LIMIT] = tot[PS_TEST_LIM] / nte;
  }
  for (int j = 0; j < J; ++j) {
    res->curves[LM_C_TRAIN * J + j] = tot[PS_TRAIN(J) + j] / ntr;
    res->curves[LM_C_TEST * J + j] = tot[PS_TEST(J) + j] / nte;
    res->curves[LM_C_DELTA_SQ * J + j] = tot[PS_DSQ(J) + j];
    res->curves[LM_C_PERP_NORM * J + j] = sqrt(tot[PS_PSQ(J) + j]);
    res->curves[LM_C_PERP_CROSS * J + j] = tot[PS_PCROSS(J) + j];
  }
  res->status = ISW_ST_OK;
  for (int k = 0; k < LM_N_CURVES && res->status == ISW_ST_OK; ++k)
    for (int j = 0; j < J; ++j)
      if (!isfinite(res->curves[k * J + j])) {
        res->status = ISW_ST_DIVERGED;
        snprintf(res->message, sizeof res->message, "non-finite %s at n = %lld", lm_curves[k].name,
                 (long long)D.iters[j]);
        break;
      }
  for (int k = 0; k < LM_N_SCALARS && res->status == ISW_ST_OK; ++k)
    if ((k != LM_S_TRAIN_LIMIT && k != LM_S_TEST_LIMIT) || tot[PS_LIM_FAIL] == 0.0)
      if (!isfinite(res->scalars[k])) {
        res->status = ISW_ST_DIVERGED;
        snprintf(res->message, sizeof res->message, "non-finite %s", lm_scalars[k].name);
      }
  if (res->status == ISW_ST_OK && tot[PS_LIM_FAIL] > 0.0) {
    res->status = ISW_ST_FAILED;
    snprintf(res->message, sizeof res->message,
             "%.0f task design(s) K_t rank deficient: no n = infinity limit", tot[PS_LIM_FAIL]);
  }
  {
    double times[2] = {t_train, MPI_Wtime() - t1}, tmax[2] = {times[0], times[1]};
    if (sv.P > 1)
      ISW_CHECK(MPI_Allreduce(times, tmax, 2, MPI_DOUBLE, MPI_MAX, team) == MPI_SUCCESS, ISW_EMPI,
                "linear-meta: MPI_Allreduce of the timings failed");
    res->train_seconds = tmax[0];
    res->eval_seconds = tmax[1];
  }

cleanup:
  isw_linalg_ls_destroy(&sv.ls);
  isw_dist_ls_destroy(&sv.dls);
  free(own);
  free(own_t);
  free(own_row);
  free(mu);
  free(wvec);
  free(ktr);
  free(qtr);
  free(btr);
  free(ctr);
  free(theta);
  free(wq);
  free(rvec);
  free(resq);
  free(delta);
  free(rnl);
  free(part);
  free(tot);
  free(sc.z);
  free(sc.res);
  free(sc.ws);
  free(sc.wls);
  free(sc.rhs);
  free(sc.dz);
  free(tt.k);
  free(tt.q);
  free(tt.b);
  free(tt.c);
  return err;
}

const isw_task isw_task_linear_meta = {
    .name = "linear-meta",
    .summary = "meta-learning a shared init for linear regression tasks, solved exactly",
    .params = lm_params,
    .n_params = LM_N_PARAMS,
    .scalars = lm_scalars,
    .n_scalars = LM_N_SCALARS,
    .curves = lm_curves,
    .n_curves = LM_N_CURVES,
    .width_shapes_data = 1,
    .team_capable = 1,
    .validate = lm_validate,
    .cost = lm_cost,
    .run = lm_run,
};
