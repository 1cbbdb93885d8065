/* test_linear_meta.c — the linear-meta family against the mathematics:
 * the exact bound identity, the sign of D in both regimes, the closed-form
 * theta*_N against plain outer gradient descent (back-propagated through the
 * inner steps, on data regenerated here from the documented protocol), A_N
 * against an explicitly formed M^N, the n = infinity limit against many inner
 * steps, the team path against the single-rank path, and determinism.
 * Shapes: d = width, T tasks, s support rows, q query rows, m = T q,
 * J = number of test_iters; matrices column-major as in linear_meta.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>
#include <mpi.h>

#include "isweep/error.h"
#include "isweep/linalg.h"
#include "isweep/rng.h"
#include "isweep/task.h"
#include "testutil.h"

extern const isw_task isw_task_linear_meta;

static int world_rank(void) {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
static const isw_task *const LM = &isw_task_linear_meta;

/* ---- configs and results ------------------------------------------------ */

typedef struct {
  int d, T, s, q, Tt, N;
  double sigma_w, sigma_eps, step_scale;
  int64_t iters[64];
  int J;
  uint64_t sweep_seed;
} lm_case;

static lm_case make_case(int d, int T, int s, int q, int Tt, int N, double step, int nlo, int nhi) {
  lm_case k = {.d = d, .T = T, .s = s, .q = q, .Tt = Tt, .N = N, .sigma_w = 0.5, .sigma_eps = 0.1,
               .step_scale = step, .J = 0, .sweep_seed = 77};
  for (int n = nlo; n <= nhi && k.J < 64; ++n) k.iters[k.J++] = n;
  return k;
}

static void set_param(isw_config *c, const char *name, double v) {
  int i = isw_task_param_index(LM, name);
  CU_ASSERT_FATAL(i >= 0);
  c->p[i].num = v;
}

static isw_config make_config(const lm_case *k) {
  isw_config c;
  memset(&c, 0, sizeof c);
  c.task = LM;
  c.width = k->d;
  c.train_iters = k->N;
  c.seed = 1;
  set_param(&c, "tasks", k->T);
  set_param(&c, "support", k->s);
  set_param(&c, "query", k->q);
  set_param(&c, "test_tasks", k->Tt);
  set_param(&c, "sigma_w", k->sigma_w);
  set_param(&c, "sigma_eps", k->sigma_eps);
  set_param(&c, "step_scale", k->step_scale);
  c.test_iters = k->iters;
  c.n_test = k->J;
  c.sweep_seed = k->sweep_seed;
  char key[128];
  int len = snprintf(key, sizeof key, "linear-meta d=%d T=%d s=%d q=%d Tt=%d", k->d, k->T, k->s, k->q, k->Tt);
  c.data_id = isw_hash64(key, (size_t)len, 1);
  c.id = isw_hash64(key, (size_t)len, 2 + (uint64_t)k->N);
  c.team = 1;
  return c;
}

typedef struct {
  isw_result r;
  double sc[16];
  double cv[8 * 64];
  int J;
} lm_out;

static int run_case(lm_out *o, const lm_case *k, int team, MPI_Comm comm) {
  isw_config c = make_config(k);
  c.team = team;
  memset(o, 0, sizeof *o);
  for (int i = 0; i < 16; ++i) o->sc[i] = NAN;
  for (int i = 0; i < 8 * 64; ++i) o->cv[i] = NAN;
  o->r.scalars = o->sc;
  o->r.curves = o->cv;
  o->J = k->J;
  int err = LM->run(&o->r, &c, comm);
  if (err) fprintf(stderr, "linear-meta run failed: %s\n%s", isw_error_message(), isw_error_traceback());
  return err;
}

static double S(const lm_out *o, const char *name) {
  int i = isw_task_scalar_index(LM, name);
  CU_ASSERT_FATAL(i >= 0);
  return o->sc[i];
}

static const double *C(const lm_out *o, const char *name) {
  int i = isw_task_curve_index(LM, name);
  CU_ASSERT_FATAL(i >= 0);
  return o->cv + (size_t)i * o->J;
}

static int index_of(const lm_case *k, int64_t n) {
  for (int j = 0; j < k->J; ++j)
    if (k->iters[j] == n) return j;
  return -1;
}

static double curve_max(const double *v, int n) {
  double m = 0.0;
  for (int i = 0; i < n; ++i) m = fmax(m, fabs(v[i]));
  return m;
}

/* ρ = d / (T q) below and above 1; J covers n < N, n = N and n > N. */
static lm_case case_lo(void) { return make_case(12, 8, 10, 4, 6, 3, 0.3, 0, 14); }  /* ρ = 0.375 */
static lm_case case_hi(void) { return make_case(48, 8, 10, 4, 6, 3, 0.3, 0, 14); }  /* ρ = 1.5 */
static lm_case case_sq(void) { return make_case(32, 8, 10, 4, 6, 3, 0.3, 0, 14); }  /* ρ = 1 */

/* ---- 1. the bound identity ------------------------------------------------- */

static void check_identity(const lm_case *k) {
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(o.r.status, ISW_ST_OK);
  const double m = (double)k->T * k->q, en = S(&o, "E_N"), lN = S(&o, "train_loss_at_N");
  const double *tr = C(&o, "train_loss"), *dsq = C(&o, "delta_sq"), *pn = C(&o, "perp_delta_norm"),
               *pc = C(&o, "perp_cross");
  const double scale = m * curve_max(tr, k->J);
  CU_ASSERT(isw_test_close(en, m * lN, 1e-14, 0.0)); /* E_N = (T q) L_N */
  int jN = index_of(k, k->N), nontrivial = 0;
  CU_ASSERT_FATAL(jN >= 0);
  CU_ASSERT_EQUAL(tr[jN], lN);   /* the curve at n = N is the scalar */
  CU_ASSERT_EQUAL(dsq[jN], 0.0); /* Delta = 0 at n = N */
  for (int j = 0; j < k->J; ++j) {
    double lhs = m * tr[j] - en, rhs = 0.5 * dsq[j] + pc[j];
    CU_ASSERT(isw_test_close(lhs, rhs, 1e-10, 1e-4 * scale)); /* D (T q) = 1/2 |Delta|^2 + <P_perp Delta, r_N> */
    CU_ASSERT(lhs >= 0.5 * dsq[j] - sqrt(2.0 * en) * pn[j] - 1e-13 * scale); /* the bound */
    if (k->d >= k->T * k->q) {
      CU_ASSERT_EQUAL(pn[j], 0.0); /* full row rank: P_perp = 0 exactly */
      CU_ASSERT_EQUAL(pc[j], 0.0);
    } else if (j != jN && fabs(pc[j]) > 1e-3 * fabs(rhs)) {
      ++nontrivial;
    }
  }
  if (k->d < k->T * k->q) CU_ASSERT(nontrivial > 0); /* at ρ < 1 the cross term matters */
  /* the condition estimate of A_N's triangular factor is recorded: finite, >= 1, below the refusal line */
  const double ce = S(&o, "cond_est");
  CU_ASSERT(isfinite(ce) && ce >= 1.0);
  CU_ASSERT(ce < 1.0 / isw_linalg_rcond_min(k->T * k->q, k->d));
}

static void test_identity_lo(void) {
  lm_case k = case_lo();
  check_identity(&k);
}
static void test_identity_hi(void) {
  lm_case k = case_hi();
  check_identity(&k);
}

/* ---- 2. the sign of D --------------------------------------------------------- */

static void check_nonneg(const lm_case *k) {
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(o.r.status, ISW_ST_OK);
  const double *tr = C(&o, "train_loss"), lN = S(&o, "train_loss_at_N");
  const double scale = curve_max(tr, k->J);
  CU_ASSERT(lN <= 1e-16 * scale); /* ρ >= 1: theta*_N interpolates, L_N ~ 0 */
  for (int j = 0; j < k->J; ++j) CU_ASSERT(tr[j] >= lN - 1e-14 * scale); /* D_train >= 0 */
}

static void test_d_nonneg_hi(void) {
  lm_case k = case_hi();
  check_nonneg(&k);
}
static void test_d_nonneg_square(void) {
  lm_case k = case_sq();
  check_nonneg(&k);
}

static void test_d_negative_small_rho(void) {
  /* ρ = 8 / 256 = 1/32, defaults otherwise (step 0.1/L, N = 5): adaptation helps */
  lm_case k = make_case(8, 32, 32, 8, 16, 5, 0.1, 0, 0);
  k.J = 0;
  int64_t ns[] = {5, 10, 25};
  for (int i = 0; i < 3; ++i) k.iters[k.J++] = ns[i];
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, &k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(o.r.status, ISW_ST_OK);
  const double *tr = C(&o, "train_loss");
  double rel = (tr[2] - tr[0]) / tr[0];
  if (world_rank() == 0)
    printf("\n    rho = 1/32: relative D_train(5, 5) = %.4f, D_train(5, 20) = %.4f ", (tr[1] - tr[0]) / tr[0], rel);
  CU_ASSERT(rel < -0.05); /* D_train(5, 20) < 0, clearly */
  CU_ASSERT(tr[1] < tr[0]);
}

/* ---- 3. closed form vs outer gradient descent ---------------------------------- */

typedef struct {
  double *k, *q, *b, *c; /* (s, d), (q, d), (s), (q) */
} tdata;

/* The data protocol of linear_meta.c, re-implemented with plain loops. */
static void draw_task(tdata *td, const double *mu, const lm_case *k, uint64_t data_id, int stream, int t) {
  const int d = k->d, s = k->s, q = k->q;
  double *w = malloc(d * sizeof *w);
  td->k = malloc((size_t)s * d * sizeof(double));
  td->q = malloc((size_t)q * d * sizeof(double));
  td->b = malloc(s * sizeof(double));
  td->c = malloc(q * sizeof(double));
  isw_rng r;
  isw_rng_init(&r, k->sweep_seed, data_id ^ isw_mix64((uint64_t)t + 1), (uint64_t)stream);
  for (int j = 0; j < d; ++j) w[j] = mu[j] + k->sigma_w * isw_rng_normal(&r);
  for (int i = 0; i < s * d; ++i) td->k[i] = isw_rng_normal(&r) / sqrt((double)d);
  for (int i = 0; i < q * d; ++i) td->q[i] = isw_rng_normal(&r) / sqrt((double)d);
  for (int i = 0; i < s; ++i) {
    double v = 0.0;
    for (int j = 0; j < d; ++j) v += td->k[i + j * s] * w[j];
    td->b[i] = v;
  }
  for (int i = 0; i < q; ++i) {
    double v = 0.0;
    for (int j = 0; j < d; ++j) v += td->q[i + j * q] * w[j];
    td->c[i] = v;
  }
  for (int i = 0; i < s; ++i) td->b[i] += k->sigma_eps * isw_rng_normal(&r);
  for (int i = 0; i < q; ++i) td->c[i] += k->sigma_eps * isw_rng_normal(&r);
  free(w);
}

static void free_task(tdata *td) {
  free(td->k);
  free(td->q);
  free(td->b);
  free(td->c);
}

/* z <- z - eta K^T (K z - b); with hom = 1 the linear part only (b ignored). */
static void inner_step(double *z, const tdata *td, const lm_case *k, double eta, int hom) {
  const int d = k->d, s = k->s;
  double u[256];
  for (int i = 0; i < s; ++i) {
    double v = hom ? 0.0 : -td->b[i];
    for (int j = 0; j < d; ++j) v += td->k[i + j * s] * z[j];
    u[i] = v;
  }
  for (int j = 0; j < d; ++j) {
    double v = 0.0;
    for (int i = 0; i < s; ++i) v += td->k[i + j * s] * u[i];
    z[j] -= eta * v;
  }
}

/* 1/2 ||Q z_n - c||^2 summed over tasks, at each n of ns (J values), from theta. */
static void loss_curve(double *out, const tdata *tasks, int nt, const double *theta, const lm_case *k,
                       double eta, const int64_t *ns, int J) {
  double z[256];
  for (int j = 0; j < J; ++j) out[j] = 0.0;
  for (int t = 0; t < nt; ++t) {
    memcpy(z, theta, k->d * sizeof *z);
    int64_t n = 0;
    for (int j = 0; j < J; ++j) {
      for (; n < ns[j]; ++n) inner_step(z, &tasks[t], k, eta, 0);
      for (int i = 0; i < k->q; ++i) {
        double e = -tasks[t].c[i];
        for (int a = 0; a < k->d; ++a) e += tasks[t].q[i + a * k->q] * z[a];
        out[j] += 0.5 * e * e;
      }
    }
  }
}

/* Outer loss L_N(theta) and its gradient by back-propagation through the N inner steps. */
static double outer_loss_grad(double *g, const tdata *tasks, const double *theta, const lm_case *k, double eta) {
  const int d = k->d, q = k->q;
  const double m = (double)k->T * q;
  double z[256], e[64], u[256], loss = 0.0;
  if (g) memset(g, 0, d * sizeof *g);
  for (int t = 0; t < k->T; ++t) {
    memcpy(z, theta, d * sizeof *z);
    for (int n = 0; n < k->N; ++n) inner_step(z, &tasks[t], k, eta, 0); /* forward */
    for (int i = 0; i < q; ++i) {
      e[i] = -tasks[t].c[i];
      for (int a = 0; a < d; ++a) e[i] += tasks[t].q[i + a * q] * z[a];
      loss += 0.5 * e[i] * e[i] / m;
    }
    if (!g) continue;
    /* backward: dL/dz_N = Q^T e / m, then dz_{n+1}/dz_n = M = I - eta K^T K (symmetric) */
    for (int a = 0; a < d; ++a) {
      u[a] = 0.0;
      for (int i = 0; i < q; ++i) u[a] += tasks[t].q[i + a * q] * e[i] / m;
    }
    for (int n = k->N - 1; n >= 0; --n) inner_step(u, &tasks[t], k, eta, 1);
    for (int a = 0; a < d; ++a) g[a] += u[a];
  }
  return loss;
}

static void check_closed_form_vs_gd(const lm_case *k) {
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(o.r.status, ISW_ST_OK);
  isw_config c = make_config(k);
  const int d = k->d;
  /* regenerate the data */
  double *mu = malloc(d * sizeof *mu);
  isw_rng r;
  isw_rng_init(&r, k->sweep_seed, c.data_id, ISW_STREAM_DATA);
  for (int j = 0; j < d; ++j) mu[j] = isw_rng_normal(&r);
  tdata *tr = calloc(k->T, sizeof *tr), *te = calloc(k->Tt, sizeof *te);
  for (int t = 0; t < k->T; ++t) draw_task(&tr[t], mu, k, c.data_id, ISW_STREAM_DATA, t);
  for (int t = 0; t < k->Tt; ++t) draw_task(&te[t], mu, k, c.data_id, ISW_STREAM_TEST_DATA, t);
  /* L = max_t sigma_max(K_t)^2 from the SVD, and the step */
  double lip = 0.0, sv[256], sup[256], *kc = malloc((size_t)k->s * d * sizeof *kc);
  for (int t = 0; t < k->T; ++t) {
    memcpy(kc, tr[t].k, (size_t)k->s * d * sizeof *kc);
    CU_ASSERT_EQUAL_FATAL(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', k->s, d, kc, k->s, sv, NULL, 1, NULL, 1, sup), 0);
    lip = fmax(lip, sv[0] * sv[0]);
  }
  CU_ASSERT(isw_test_close(S(&o, "lipschitz"), lip, 1e-12, 0.0));
  const double eta = k->step_scale / lip;
  CU_ASSERT(isw_test_close(S(&o, "step"), eta, 1e-12, 0.0));

  /* the back-propagated gradient against central finite differences */
  double *th = malloc(d * sizeof *th), *g = malloc(d * sizeof *g), *g0 = malloc(d * sizeof *g0);
  for (int j = 0; j < d; ++j) th[j] = 0.3 * sin(1.0 + j);
  outer_loss_grad(g, tr, th, k, eta);
  for (int j = 0; j < d; ++j) {
    const double h = 1e-5, keep = th[j];
    th[j] = keep + h;
    double lp = outer_loss_grad(NULL, tr, th, k, eta);
    th[j] = keep - h;
    double lm = outer_loss_grad(NULL, tr, th, k, eta);
    th[j] = keep;
    CU_ASSERT(isw_test_close(g[j], (lp - lm) / (2 * h), 1e-6, 1e-8));
  }

  /* plain GD from 0 (which also picks the minimum-norm minimiser at ρ > 1); the
   * step 1/B with B = (1/(T q)) sum_t ||Q_t||_F^2 >= the Hessian's largest eigenvalue */
  double B = 0.0;
  for (int t = 0; t < k->T; ++t)
    for (int i = 0; i < k->q * d; ++i) B += tr[t].q[i] * tr[t].q[i];
  B /= (double)k->T * k->q;
  memset(th, 0, d * sizeof *th);
  outer_loss_grad(g0, tr, th, k, eta);
  double gn0 = 0.0, gn = 0.0;
  for (int j = 0; j < d; ++j) gn0 += g0[j] * g0[j];
  long it = 0;
  for (; it < 2000000; ++it) {
    outer_loss_grad(g, tr, th, k, eta);
    gn = 0.0;
    for (int j = 0; j < d; ++j) gn += g[j] * g[j];
    if (gn <= 1e-24 * gn0) break;
    for (int j = 0; j < d; ++j) th[j] -= g[j] / B;
  }
  if (world_rank() == 0)
    printf("\n    outer GD (d = %d, T q = %d): %ld steps to |grad| = %.1e |grad_0| ", d, k->T * k->q, it, sqrt(gn / gn0));
  CU_ASSERT_FATAL(gn <= 1e-24 * gn0); /* converged: |grad| <= 1e-12 |grad_0| */

  /* the model's curves and scalars are those of the GD minimiser */
  double *ct = malloc(k->J * sizeof *ct), *cs = malloc(k->J * sizeof *cs), atN[2];
  int64_t nN = k->N;
  loss_curve(ct, tr, k->T, th, k, eta, k->iters, k->J);
  loss_curve(cs, te, k->Tt, th, k, eta, k->iters, k->J);
  loss_curve(&atN[0], tr, k->T, th, k, eta, &nN, 1);
  loss_curve(&atN[1], te, k->Tt, th, k, eta, &nN, 1);
  const double mtr = (double)k->T * k->q, mte = (double)k->Tt * k->q;
  for (int j = 0; j < k->J; ++j) {
    ct[j] /= mtr;
    cs[j] /= mte;
  }
  const double scale = curve_max(ct, k->J);
  CU_ASSERT(isw_test_rel_diff(C(&o, "train_loss"), ct, k->J, 0.0) < 1e-8);
  CU_ASSERT(isw_test_rel_diff(C(&o, "test_loss"), cs, k->J, 0.0) < 1e-8);
  CU_ASSERT(isw_test_close(S(&o, "train_loss_at_N"), atN[0] / mtr, 1e-8, scale));
  CU_ASSERT(isw_test_close(S(&o, "test_loss_at_N"), atN[1] / mte, 1e-8, 0.0));

  for (int t = 0; t < k->T; ++t) free_task(&tr[t]);
  for (int t = 0; t < k->Tt; ++t) free_task(&te[t]);
  free(tr);
  free(te);
  free(mu);
  free(kc);
  free(th);
  free(g);
  free(g0);
  free(ct);
  free(cs);
}

static void test_gd_lo(void) {
  lm_case k = make_case(6, 6, 5, 3, 4, 3, 0.5, 0, 8); /* ρ = 6/18 */
  check_closed_form_vs_gd(&k);
}
static void test_gd_hi(void) {
  lm_case k = make_case(24, 4, 5, 3, 4, 3, 0.5, 0, 8); /* ρ = 24/12 */
  check_closed_form_vs_gd(&k);
}

/* ---- 4. A_N by M applications vs a formed M^N ----------------------------------- */

static void test_a_n_vs_formed_m(void) {
  const int d = 9, s = 5, q = 3, N = 6, ldx = 7; /* X is a (q, d) block of a taller A: ld 7 */
  const double eta = 0.2;
  isw_rng r;
  isw_rng_init(&r, 5, 6, 7);
  double K[5 * 9], Q[3 * 9], b[5], M[9 * 9], P[3 * 9], T1[3 * 9], X[7 * 9], w[3 * 5], rz[9], ws[5];
  isw_rng_normal_fill(&r, K, 45, 0.0, 1.0 / 3.0);
  isw_rng_normal_fill(&r, Q, 27, 0.0, 1.0 / 3.0);
  isw_rng_normal_fill(&r, b, 5, 0.0, 1.0);
  /* M (d, d) = I - eta K^T K, formed with loops */
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      double v = 0.0;
      for (int a = 0; a < s; ++a) v += K[a + i * s] * K[a + j * s];
      M[i + j * d] = (i == j) - eta * v;
    }
  memcpy(P, Q, sizeof P); /* P (q, d) <- Q M^N with loops */
  for (int n = 0; n < N; ++n) {
    for (int i = 0; i < q; ++i)
      for (int j = 0; j < d; ++j) {
        double v = 0.0;
        for (int a = 0; a < d; ++a) v += P[i + a * q] * M[a + j * d];
        T1[i + j * q] = v;
      }
    memcpy(P, T1, sizeof P);
  }
  for (int i = 0; i < 7 * 9; ++i) X[i] = 1000.0 + i; /* rows q.. are sentinels */
  for (int j = 0; j < d; ++j)
    for (int i = 0; i < q; ++i) X[i + j * ldx] = Q[i + j * q];
  for (int n = 0; n < N; ++n) CU_ASSERT_EQUAL(isw_linalg_gd_apply_rows(X, ldx, K, s, eta, w, q, s, d), 0);
  double diff = 0.0, pmax = 0.0;
  for (int j = 0; j < d; ++j) {
    for (int i = 0; i < q; ++i) {
      diff = fmax(diff, fabs(X[i + j * ldx] - P[i + j * q]));
      pmax = fmax(pmax, fabs(P[i + j * q]));
    }
    for (int i = q; i < ldx; ++i) CU_ASSERT_EQUAL(X[i + j * ldx], 1000.0 + i + j * ldx);
  }
  CU_ASSERT(diff <= 1e-13 * pmax); /* Q M^N by N applications = Q times the formed M^N */
  /* offsets: r^N by N full steps from 0 = sum_{k<N} M^k (eta K^T b) */
  double g[9], acc[9] = {0}, tmp[9];
  for (int j = 0; j < d; ++j) {
    g[j] = 0.0;
    for (int a = 0; a < s; ++a) g[j] += eta * K[a + j * s] * b[a];
  }
  for (int n = 0; n < N; ++n) {
    for (int j = 0; j < d; ++j) acc[j] += g[j];
    for (int i = 0; i < d; ++i) {
      tmp[i] = 0.0;
      for (int a = 0; a < d; ++a) tmp[i] += M[i + a * d] * g[a];
    }
    memcpy(g, tmp, sizeof g);
  }
  memset(rz, 0, sizeof rz);
  for (int n = 0; n < N; ++n) CU_ASSERT_EQUAL(isw_linalg_gd_step(rz, K, s, b, eta, ws, s, d), 0);
  CU_ASSERT(isw_test_rel_diff(rz, acc, d, 0.0) < 1e-13);
}

/* ---- 5. the n = infinity limit vs many inner steps ------------------------------- */

static void check_limit(lm_case *k) {
  const int64_t far = 6000;
  k->J = 0;
  k->iters[k->J++] = 0;
  k->iters[k->J++] = k->N;
  k->iters[k->J++] = far;
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(o.r.status, ISW_ST_OK);
  const double *tr = C(&o, "train_loss"), *te = C(&o, "test_loss");
  CU_ASSERT(isw_test_close(tr[2], S(&o, "train_loss_limit"), 1e-8, 0.0));
  CU_ASSERT(isw_test_close(te[2], S(&o, "test_loss_limit"), 1e-8, 0.0));
  CU_ASSERT(!isw_test_close(tr[2], tr[1], 1e-3, 0.0)); /* the limit is not the n = N value */
}

static void test_limit_underdetermined(void) { /* s < d: the minimum-norm task solution nearest theta */
  lm_case k = make_case(16, 6, 6, 4, 6, 2, 0.9, 0, 0);
  check_limit(&k);
}
static void test_limit_overdetermined(void) { /* s > d: each task's least-squares solution */
  lm_case k = make_case(6, 6, 16, 4, 6, 2, 0.9, 0, 0);
  check_limit(&k);
}

/* ---- 7. team path vs single rank ------------------------------------------------- */

static void check_team(const lm_case *k) {
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (size < 2) {
    printf("\n    (skipped: the team path needs 2 ranks; run test_linear_meta_np2) ");
    return;
  }
  lm_out one, tm;
  CU_ASSERT_EQUAL_FATAL(run_case(&one, k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(run_case(&tm, k, size, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL_FATAL(one.r.status, ISW_ST_OK);
  CU_ASSERT_EQUAL_FATAL(tm.r.status, ISW_ST_OK);
  CU_ASSERT_EQUAL(tm.r.n_params, one.r.n_params);
  CU_ASSERT_EQUAL(tm.r.rho, one.r.rho);
  const double m = (double)k->T * k->q;
  const int J = k->J;
  const double scale = fmax(curve_max(C(&one, "train_loss"), J), curve_max(C(&one, "test_loss"), J));
  /* scalars: relative, with the loss scale as the floor (E_N and L_N are rounding noise at ρ > 1) */
  const char *loss_names[] = {"train_loss_at_N", "test_loss_at_N", "train_loss_limit", "test_loss_limit"};
  for (int i = 0; i < 4; ++i) CU_ASSERT(isw_test_close(S(&tm, loss_names[i]), S(&one, loss_names[i]), 1e-10, scale));
  CU_ASSERT(isw_test_close(S(&tm, "E_N"), S(&one, "E_N"), 1e-10, m * scale));
  CU_ASSERT_EQUAL(S(&tm, "step"), S(&one, "step"));
  CU_ASSERT_EQUAL(S(&tm, "lipschitz"), S(&one, "lipschitz"));
  /* the same estimator on factors equal up to rounding */
  CU_ASSERT(isfinite(S(&one, "cond_est")));
  CU_ASSERT(isw_test_close(S(&tm, "cond_est"), S(&one, "cond_est"), 1e-10, 0.0));
  /* curves: relative to each curve's largest value */
  double worst = 0.0;
  for (int c = 0; c < LM->n_curves; ++c) {
    const double *a = tm.cv + (size_t)c * k->J, *b = one.cv + (size_t)c * k->J;
    double rd = isw_test_rel_diff(a, b, k->J, 1e-300);
    worst = fmax(worst, rd);
    if (rd > 1e-10) printf("\n    curve %s differs by %.2e relative ", LM->curves[c].name, rd);
    CU_ASSERT(rd <= 1e-10);
  }
  if (rank == 0) printf("\n    largest relative curve difference team vs one rank: %.1e ", worst);
  /* every member of the team returns the same bits */
  double mine[16 + 8 * 64], other[16 + 8 * 64];
  memcpy(mine, tm.sc, sizeof tm.sc);
  memcpy(mine + 16, tm.cv, sizeof tm.cv);
  memcpy(other, mine, sizeof mine);
  MPI_Bcast(other, (int)(sizeof other / sizeof other[0]), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  CU_ASSERT(memcmp(mine, other, sizeof mine) == 0);
}

static void test_team_lo(void) { /* m = 160 rows in 3 blocks of 64: ρ = 0.2 */
  lm_case k = make_case(32, 40, 16, 4, 10, 4, 0.2, 0, 10);
  check_team(&k);
}
static void test_team_hi(void) { /* ρ = 256 / 160 = 1.6 */
  lm_case k = make_case(256, 40, 16, 4, 10, 4, 0.2, 0, 10);
  check_team(&k);
}
static void test_team_one_block(void) { /* m = 40 < mb: rank 1 owns no rows, only test tasks */
  lm_case k = make_case(20, 10, 12, 4, 40, 3, 0.2, 0, 8);
  check_team(&k);
}

/* ---- 8. a rank-deficient A_N is a FAILED status naming cond_est ----------------- */

/* One task with a single support row k and step_scale 1: eta = 1 / ||k||^2, so
 * M = I - k k^T / ||k||^2 is the projector onto k^perp and A_N = Q M^N (64 x 4)
 * has rank 3 up to rounding: its R has an O(eps) diagonal entry.  Before the
 * rank test the solve returned a theta of size ~1/eps and the config was "ok". */
static void check_rank_deficient(int team, MPI_Comm comm) {
  lm_case k = make_case(4, 1, 1, 64, 2, 2, 1.0, 0, 4);
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, &k, team, comm), 0); /* a status, not an error */
  const double ce = S(&o, "cond_est"), line = 1.0 / isw_linalg_rcond_min(64, 4);
  if (world_rank() == 0)
    printf("\n    team %d: status %d, cond_est %.3g (refusal above %.3g): %s ", team, (int)o.r.status,
           ce, line, o.r.message);
  CU_ASSERT_EQUAL(o.r.status, ISW_ST_FAILED);
  CU_ASSERT(strstr(o.r.message, "numerically rank deficient") != NULL);
  CU_ASSERT(strstr(o.r.message, "cond_est") != NULL);
  CU_ASSERT(ce > line); /* recorded even though the solve was refused */
  CU_ASSERT(isnan(S(&o, "train_loss_at_N")));  /* nothing evaluated from a bad theta */
}

static void test_rank_deficient_failed(void) { check_rank_deficient(1, MPI_COMM_SELF); }

static void test_rank_deficient_failed_team(void) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    printf("\n    (skipped: the team path needs 2 ranks; run test_linear_meta_np2) ");
    return;
  }
  check_rank_deficient(size, MPI_COMM_WORLD);
}

/* ---- 9. determinism, validation ------------------------------------------------ */

static void test_deterministic(void) {
  lm_case k = case_lo();
  lm_out a, b;
  CU_ASSERT_EQUAL_FATAL(run_case(&a, &k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL_FATAL(run_case(&b, &k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT_EQUAL(a.r.status, b.r.status);
  CU_ASSERT(memcmp(a.sc, b.sc, sizeof a.sc) == 0);
  CU_ASSERT(memcmp(a.cv, b.cv, sizeof a.cv) == 0);
  /* and another sweep seed gives other data */
  k.sweep_seed += 1;
  CU_ASSERT_EQUAL_FATAL(run_case(&b, &k, 1, MPI_COMM_SELF), 0);
  CU_ASSERT(S(&a, "train_loss_at_N") != S(&b, "train_loss_at_N"));
}

static void test_diverged_is_a_status(void) {
  /* one training task sets L; a test task with ||K||^2 > 2 L / 1.999 makes its inner GD blow up */
  lm_case k = make_case(8, 1, 4, 4, 32, 2, 1.999, 0, 0);
  k.J = 0;
  k.iters[k.J++] = 0;
  k.iters[k.J++] = 20000;
  lm_out o;
  CU_ASSERT_EQUAL_FATAL(run_case(&o, &k, 1, MPI_COMM_SELF), 0); /* not an error */
  CU_ASSERT_EQUAL(o.r.status, ISW_ST_DIVERGED);
  CU_ASSERT(strstr(o.r.message, "non-finite test_loss") != NULL);
  CU_ASSERT(isfinite(C(&o, "train_loss")[1])); /* the training tasks themselves converge */
  CU_ASSERT_EQUAL(o.r.n_params, 8);
  CU_ASSERT(isw_test_close(o.r.rho, 2.0, 1e-15, 0.0)); /* rho = d / (T q) */
}

static void test_validate_and_cost(void) {
  lm_case k = case_lo();
  isw_config c = make_config(&k);
  CU_ASSERT_EQUAL(LM->validate(&c), 0);
  CU_ASSERT(LM->cost(&c) > 0.0);
  set_param(&c, "tasks", 1e6);
  set_param(&c, "query", 1e4);
  CU_ASSERT_EQUAL(LM->validate(&c), ISW_EUSAGE); /* T q overflows an int */
  CU_ASSERT(strstr(isw_error_message(), "tasks * query") != NULL);
  isw_error_clear();
  lm_case big = k;
  big.d *= 8;
  isw_config cb = make_config(&big), cs = make_config(&k);
  CU_ASSERT(LM->cost(&cb) > LM->cost(&cs));
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"D (T q) = 1/2 |Delta|^2 + <P_perp Delta, r_N> at every n, rho < 1", test_identity_lo},
      {"D (T q) = 1/2 |Delta|^2 + <P_perp Delta, r_N> at every n, rho > 1", test_identity_hi},
      {"rho > 1: theta*_N interpolates and D_train >= 0 for every n", test_d_nonneg_hi},
      {"rho = 1: theta*_N interpolates and D_train >= 0 for every n", test_d_nonneg_square},
      {"rho = 1/32: D_train(5, 20) < 0, more iterations help", test_d_negative_small_rho},
      {"closed-form theta*_N equals outer gradient descent, rho < 1", test_gd_lo},
      {"closed-form theta*_N equals min-norm outer gradient descent, rho > 1", test_gd_hi},
      {"A_N by N applications of M equals Q times a formed M^N", test_a_n_vs_formed_m},
      {"the n = infinity limit equals 6000 inner steps (s < d)", test_limit_underdetermined},
      {"the n = infinity limit equals 6000 inner steps (s > d)", test_limit_overdetermined},
      {"team of 2 equals one rank, rho < 1", test_team_lo},
      {"team of 2 equals one rank, rho > 1", test_team_hi},
      {"team of 2 equals one rank when one member owns no rows", test_team_one_block},
      {"a rank-deficient A_N is status failed naming cond_est, on one rank", test_rank_deficient_failed},
      {"a rank-deficient A_N is status failed naming cond_est, on a team", test_rank_deficient_failed_team},
      {"the same config twice gives identical bits", test_deterministic},
      {"a diverging inner GD is a DIVERGED status with a message", test_diverged_is_a_status},
      {"validate rejects overflowing sizes; cost grows with width", test_validate_and_cost},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "linear_meta", cases);
}
