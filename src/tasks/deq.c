/* deq.c — the deep equilibrium family (SCIENCE.md, task `deq`): the model
 * kernels of deq.h (forward, unrolled and implicit backward, evaluation,
 * the n = infinity limit) and the family itself (parameter table, columns,
 * validate, cost model, run).  Runs on one rank: team_capable = 0, it never
 * touches the team communicator.  Data come from data.h; nothing here
 * talks to HDF5 or the results file.
 *
 * Shapes: B = rows of a batch (or of an evaluation chunk), H = width (dim z),
 * D = inputs, K = outputs, N = iterations, P = parameters, T = recorded
 * iteration counts, R = stacked rows (N - 1)·B.  Everything is row-major and
 * batch-major (one sample per row), so one iteration over the batch is one
 * GEMM (B, H)·(H, H) followed by the activation on the same block. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/data.h"
#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/rng.h"
#include "isweep/task.h"

/* ---- activation kernels ------------------------------------------------------
 * tanh dominates the per-element cost at small widths (libm: ~9 ns), so the
 * BLAS path uses a branch-free vector kernel (~0.8 ns): tanh(x) = E / (E + 2)
 * with E = expm1(2x), x clamped to [-20, 20] (tanh = ±1 to rounding there),
 * expm1(r), r = 2x/256, by its Taylor polynomial to degree 10 (|r| <= 0.157,
 * truncation < 1e-16 relative; Estrin's scheme for instruction-level
 * parallelism), then eight doublings E <- E (E + 2), which keep the relative
 * error near rounding and never cancel.  NaN propagates.
 * The functions are cloned for AVX-512 / AVX2 / baseline x86-64 (picked at
 * load time) where the compiler supports it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define DEQ_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DEQ_CLONES
#endif

typedef double deq_v8 __attribute__((vector_size(64)));
typedef long long deq_v8i __attribute__((vector_size(64)));

/* p (8) <- tanh(p) in place. */
static inline __attribute__((always_inline)) void tanh8(double *p) {
  deq_v8 x;
  memcpy(&x, p, sizeof x);
  const deq_v8 hi = {20, 20, 20, 20, 20, 20, 20, 20};
  deq_v8i over = x > hi, under = x < -hi; /* false for NaN: NaN stays NaN */
  x = (deq_v8)((over & (deq_v8i)hi) | (~over & (deq_v8i)x));
  x = (deq_v8)((under & (deq_v8i)(-hi)) | (~under & (deq_v8i)x));
  deq_v8 r = x * (2.0 / 256.0);
  /* expm1(r) = r (1 + r/2! + r²/3! + ... + r⁹/10!), Estrin: pairs, then r², r⁴, r⁸ */
  deq_v8 r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  deq_v8 a0 = 1.0 + r * (1.0 / 2.0), a1 = 1.0 / 6.0 + r * (1.0 / 24.0);
  deq_v8 a2 = 1.0 / 120.0 + r * (1.0 / 720.0), a3 = 1.0 / 5040.0 + r * (1.0 / 40320.0);
  deq_v8 a4 = 1.0 / 362880.0 + r * (1.0 / 3628800.0);
  deq_v8 e = r * ((a0 + r2 * a1) + r4 * (a2 + r2 * a3) + r8 * a4);
  for (int i = 0; i < 8; ++i) e = e * (e + 2.0); /* expm1(2t) = expm1(t)(expm1(t) + 2) */
  x = e / (e + 2.0);
  memcpy(p, &x, sizeof x);
}

/* x (n) <- tanh(x), vector kernel. */
DEQ_CLONES static void tanh_fast(double *x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) tanh8(x + i);
  if (i < n) {
    double t[8] = {0};
    memcpy(t, x + i, (size_t)(n - i) * sizeof *t);
    tanh8(t);
    memcpy(x + i, t, (size_t)(n - i) * sizeof *t);
  }
}

/* da (n) <- g ⊙ (1 - s²): the tanh derivative from its output, vector kernel;
 * when acc != NULL also acc (n) <- da (first) or acc + da (a running Σ_k dA_k). */
DEQ_CLONES static void tanh_back_fast(double *da, double *acc, int first, const double *g,
                                      const double *s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    deq_v8 gv, sv, av;
    memcpy(&gv, g + i, sizeof gv);
    memcpy(&sv, s + i, sizeof sv);
    gv = gv * (1.0 - sv * sv);
    memcpy(da + i, &gv, sizeof gv);
    if (acc) {
      if (!first) {
        memcpy(&av, acc + i, sizeof av);
        gv += av;
      }
      memcpy(acc + i, &gv, sizeof gv);
    }
  }
  for (; i < n; ++i) {
    da[i] = g[i] * (1.0 - s[i] * s[i]);
    if (acc) acc[i] = first ? da[i] : acc[i] + da[i];
  }
}

void isw_deq_activate(int ref, isw_deq_act act, double *x, int64_t n) {
  switch (act) {
    case ISW_DEQ_TANH:
      if (ref)
        for (int64_t i = 0; i < n; ++i) x[i] = tanh(x[i]);
      else
        tanh_fast(x, n);
      break;
    case ISW_DEQ_RELU:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0 ? x[i] : (x[i] != x[i] ? x[i] : 0.0);
      break;
    case ISW_DEQ_IDENTITY:
      break;
  }
}

/* da (n) <- g ⊙ s'(a), with s'(a) written through s = s(a); when acc != NULL
 * also acc (n) <- da (first) or acc + da. */
static void act_back(int ref, isw_deq_act act, double *da, double *acc, int first,
                     const double *g, const double *s, int64_t n) {
  if (act == ISW_DEQ_TANH && !ref) {
    tanh_back_fast(da, acc, first, g, s, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    switch (act) {
      case ISW_DEQ_TANH: da[i] = g[i] * (1.0 - s[i] * s[i]); break;
      case ISW_DEQ_RELU: da[i] = s[i] > 0.0 ? g[i] : (s[i] != s[i] ? s[i] : 0.0); break;
      case ISW_DEQ_IDENTITY: da[i] = g[i]; break;
    }
    if (acc) acc[i] = first ? da[i] : acc[i] + da[i];
  }
}

/* ---- BLAS-backed kernels and their plain-loop twins ------------------------- */

void isw_deq_gemm(int ref, int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha,
                  const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                  double *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (!ref) {
    /* C (m, n) <- alpha op(A) (m, k) · op(B) (k, n) + beta C */
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t l = 0; l < k; ++l)
        s += (ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
      c[i * ldc + j] = alpha * s + (beta == 0.0 ? 0.0 : beta * c[i * ldc + j]);
    }
}

void isw_deq_affine(int ref, double *y, const double *x, const double *p, const double *bias,
                    int64_t rows, int64_t m, int64_t q) {
  for (int64_t i = 0; i < rows; ++i) memcpy(y + i * m, bias, (size_t)m * sizeof *y);
  /* Y (B, M) <- X (B, Q) · Pᵀ (Q, M) + Y */
  isw_deq_gemm(ref, 0, 1, rows, m, q, 1.0, x, q, p, q, 1.0, y, m);
}

void isw_deq_step(int ref, isw_deq_act act, double *zout, const double *zin, const double *w,
                  const double *xu, int64_t rows, int64_t h) {
  memcpy(zout, xu, (size_t)(rows * h) * sizeof *zout);
  /* A (B, H) <- Zin (B, H) · Wᵀ (H, H) + XU */
  if (zin) isw_deq_gemm(ref, 0, 1, rows, h, h, 1.0, zin, h, w, h, 1.0, zout, h);
  /* Zout <- s(A), on the block the GEMM just wrote */
  isw_deq_activate(ref, act, zout, rows * h);
}

/* isw_deq_step_back, and acc (B, H) <- dA (first) or acc + dA when acc != NULL. */
static void step_back_sum(int ref, isw_deq_act act, double *da, double *acc, int first,
                          double *gout, const double *g, const double *s, const double *w,
                          double beta, int64_t rows, int64_t h) {
  /* differentiates Zout = s(Zin Wᵀ + XU): dA = G ⊙ s'(A) (and Σ dA on the way) */
  act_back(ref, act, da, acc, first, g, s, rows * h);
  /* Gout (B, H) <- dA (B, H) · W (H, H) + beta Gout: dL/dZin */
  if (gout) isw_deq_gemm(ref, 0, 0, rows, h, h, 1.0, da, h, w, h, beta, gout, h);
}

void isw_deq_step_back(int ref, isw_deq_act act, double *da, double *gout, const double *g,
                       const double *s, const double *w, double beta, int64_t rows, int64_t h) {
  step_back_sum(ref, act, da, NULL, 0, gout, g, s, w, beta, rows, h);
}

/* ---- model --------------------------------------------------------------------- */

void isw_deq_block(int64_t *offset, int64_t *len, const isw_deq_model *m, int block) {
  int64_t h = m->h, d = m->d, k = m->k;
  int64_t lens[ISW_DEQ_N_BLOCKS] = {h * h, h * d, h, k * h, k};
  int64_t off = 0;
  for (int i = 0; i < block; ++i) off += lens[i];
  *offset = off;
  *len = lens[block];
}

int isw_deq_model_create(isw_deq_model **out, int64_t h, int64_t d, int64_t k, isw_deq_act act,
                         int classification) {
  int err = 0;
  isw_deq_model *m = NULL;
  *out = NULL;
  ISW_CHECK(h >= 1 && d >= 1 && k >= 1, ISW_EINTERNAL, "deq model sizes H=%lld D=%lld K=%lld",
            (long long)h, (long long)d, (long long)k);
  ISW_ALLOC(m, 1);
  m->h = h;
  m->d = d;
  m->k = k;
  m->act = act;
  m->classification = classification;
  m->n_params = h * h + h * d + h + k * h + k;
  ISW_ALLOC(m->theta, m->n_params);
  m->W = m->theta;
  m->U = m->W + h * h;
  m->b = m->U + h * d;
  m->V = m->b + h;
  m->c = m->V + k * h;
  *out = m;
  m = NULL;
cleanup:
  isw_deq_model_destroy(&m);
  return err;
}

void isw_deq_model_destroy(isw_deq_model **m) {
  if (!m || !*m) return;
  free((*m)->theta);
  free(*m);
  *m = NULL;
}

static int all_finite(const double *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return 0;
  return 1;
}

int isw_deq_spectral_norm(double *norm, const double *a, int64_t h) {
  int err = 0;
  double *copy = NULL, *s = NULL;
  *norm = NAN;
  if (!all_finite(a, h * h)) return 0;
  ISW_ALLOC(copy, h * h);
  ISW_ALLOC(s, h);
  memcpy(copy, a, (size_t)(h * h) * sizeof *copy);
  lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int)h, (lapack_int)h, copy,
                                   (lapack_int)h, s, NULL, (lapack_int)h, NULL, (lapack_int)h);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "dgesdd failed (info %d) on a %lld x %lld matrix", (int)info,
            (long long)h, (long long)h);
  *norm = s[0];
cleanup:
  free(copy);
  free(s);
  return err;
}

int isw_deq_spectral_radius(double *rho, const double *a, int64_t h) {
  int err = 0;
  double *copy = NULL, *wr = NULL, *wi = NULL;
  *rho = NAN;
  if (!all_finite(a, h * h)) return 0;
  ISW_ALLOC(copy, h * h);
  ISW_ALLOC(wr, h);
  ISW_ALLOC(wi, h);
  memcpy(copy, a, (size_t)(h * h) * sizeof *copy);
  lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int)h, copy, (lapack_int)h,
                                  wr, wi, NULL, (lapack_int)h, NULL, (lapack_int)h);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "dgeev failed (info %d) on a %lld x %lld matrix", (int)info,
            (long long)h, (long long)h);
  double r = 0.0;
  for (int64_t i = 0; i < h; ++i) r = fmax(r, hypot(wr[i], wi[i]));
  *rho = r;
cleanup:
  free(copy);
  free(wr);
  free(wi);
  return err;
}

int isw_deq_model_init(isw_deq_model *m, double w_scale, isw_rng *r) {
  int err = 0;
  int64_t h = m->h, d = m->d, k = m->k;
  memset(m->theta, 0, (size_t)m->n_params * sizeof *m->theta);
  isw_rng_normal_fill(r, m->W, (size_t)(h * h), 0.0, 1.0);
  double norm = 0.0;
  ISW_CALL(isw_deq_spectral_norm(&norm, m->W, h));
  double scale = norm > 0.0 ? w_scale / norm : 0.0;
  for (int64_t i = 0; i < h * h; ++i) m->W[i] *= scale;
  isw_rng_normal_fill(r, m->U, (size_t)(h * d), 0.0, 1.0 / sqrt((double)d));
  isw_rng_normal_fill(r, m->V, (size_t)(k * h), 0.0, 1.0 / sqrt((double)h));
cleanup:
  return err;
}

/* ---- output head: loss and its gradient ------------------------------------ */

/* Returns the SUM over rows of the per-row loss (MSE: mean over K of the
 * squared error; classification: softmax cross-entropy).  When dy != NULL,
 * dy (B, K) <- d(sum / scale)/dyhat.  *correct += rows whose argmax is the
 * label (classification). */
static double head_loss(double *dy, int64_t *correct, const double *yhat /* (B, K) */,
                        const double *y /* (B, K) or NULL */,
                        const int32_t *label /* (B) or NULL */, int64_t rows, int64_t k,
                        double scale) {
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const double *o = yhat + i * k;
    if (label) {
      double mx = o[0];
      int64_t arg = 0;
      for (int64_t j = 1; j < k; ++j)
        if (o[j] > mx) {
          mx = o[j];
          arg = j;
        }
      double se = 0.0;
      for (int64_t j = 0; j < k; ++j) se += exp(o[j] - mx);
      double lse = mx + log(se);
      total += lse - o[label[i]];
      if (correct && arg == label[i] && isfinite(lse)) ++*correct;
      if (dy)
        for (int64_t j = 0; j < k; ++j)
          dy[i * k + j] = (exp(o[j] - lse) - (j == label[i] ? 1.0 : 0.0)) / scale;
    } else {
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        double e = o[j] - y[i * k + j];
        s += e * e;
        if (dy) dy[i * k + j] = 2.0 * e / ((double)k * scale);
      }
      total += s / (double)k;
    }
  }
  return total;
}

/* ---- workspace ------------------------------------------------------------------ */

struct isw_deq_work {
  int64_t max_rows, n_iters, h, k, d;
  isw_deq_grad mode;
  int ref;
  int64_t bytes;
  double *zs;   /* unrolled: (N, B, H) states z_1..z_N; otherwise (2, B, H) ping-pong */
  double *das;  /* unrolled: (N, B, H) dA_0..dA_{N-1}; implicit: (B, H) dA */
  double *xu;   /* (B, H) U x + b */
  double *g1, *g2, *gsum; /* (B, H) each: dL/dz buffers, sum of dA */
  double *f;    /* (B, H) implicit: f(z*) */
  double *yhat, *dy; /* (B, K) */
  double *mat;  /* implicit direct: (H, H) */
  lapack_int *ipiv; /* implicit direct: (H) */
};

int isw_deq_work_create(isw_deq_work **out, const isw_deq_model *m, int64_t max_rows,
                        int64_t n_iters, isw_deq_grad mode) {
  int err = 0;
  isw_deq_work *ws = NULL;
  *out = NULL;
  ISW_CHECK(max_rows >= 1 && n_iters >= 1, ISW_EINTERNAL, "deq workspace for %lld rows, %lld iterations",
            (long long)max_rows, (long long)n_iters);
  ISW_ALLOC(ws, 1);
  int64_t b = max_rows, h = m->h, k = m->k;
  ws->max_rows = b;
  ws->n_iters = n_iters;
  ws->h = h;
  ws->k = k;
  ws->d = m->d;
  ws->mode = mode;
  int64_t nz = mode == ISW_DEQ_UNROLLED ? (n_iters > 2 ? n_iters : 2) : 2;
  int64_t nda = mode == ISW_DEQ_UNROLLED ? n_iters : 1;
  ISW_ALLOC(ws->zs, nz * b * h);
  ISW_ALLOC(ws->das, nda * b * h);
  ISW_ALLOC(ws->xu, b * h);
  ISW_ALLOC(ws->g1, b * h);
  ISW_ALLOC(ws->g2, b * h);
  ISW_ALLOC(ws->gsum, b * h);
  ISW_ALLOC(ws->yhat, b * k);
  ISW_ALLOC(ws->dy, b * k);
  ws->bytes = (int64_t)sizeof(double) * ((nz + nda + 4) * b * h + 2 * b * k);
  if (mode == ISW_DEQ_IMPLICIT) {
    ISW_ALLOC(ws->f, b * h);
    ISW_ALLOC(ws->mat, h * h);
    ISW_ALLOC(ws->ipiv, h);
    ws->bytes += (int64_t)sizeof(double) * (b * h + h * h) + (int64_t)sizeof(lapack_int) * h;
  }
  *out = ws;
  ws = NULL;
cleanup:
  isw_deq_work_destroy(&ws);
  return err;
}

void isw_deq_work_destroy(isw_deq_work **ws) {
  if (!ws || !*ws) return;
  isw_deq_work *w = *ws;
  free(w->zs);
  free(w->das);
  free(w->xu);
  free(w->g1);
  free(w->g2);
  free(w->gsum);
  free(w->f);
  free(w->yhat);
  free(w->dy);
  free(w->mat);
  free(w->ipiv);
  free(w);
  *ws = NULL;
}

void isw_deq_work_set_reference(isw_deq_work *ws, int ref) { ws->ref = ref; }
int64_t isw_deq_work_bytes(const isw_deq_work *ws) { return ws->bytes; }

/* ---- loss and gradient ---------------------------------------------------------- */

/* max_i |x_i|, or NaN when some x_i is not finite; vector kernel. */
DEQ_CLONES static double max_abs(const double *x, int64_t n) {
  const deq_v8i nosign = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
                          INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  deq_v8 mx = {0}, bad = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    deq_v8 v;
    memcpy(&v, x + i, sizeof v);
    bad += v * 0.0; /* NaN as soon as one entry is NaN or infinite */
    v = (deq_v8)((deq_v8i)v & nosign);
    deq_v8i gt = v > mx;
    mx = (deq_v8)((gt & (deq_v8i)v) | (~gt & (deq_v8i)mx));
  }
  double m = 0.0, b = 0.0;
  for (int j = 0; j < 8; ++j) {
    m = mx[j] > m ? mx[j] : m;
    b += bad[j];
  }
  for (; i < n; ++i) {
    b += x[i] * 0.0;
    m = fabs(x[i]) > m ? fabs(x[i]) : m;
  }
  return b == 0.0 ? m : NAN;
}

/* out (H) <- Σ_rows a (B, H) */
static void col_sum(double *out, const double *a, int64_t rows, int64_t h) {
  memset(out, 0, (size_t)h * sizeof *out);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < h; ++j) out[j] += a[i * h + j];
}

/* Implicit backward: u (B, H) <- solution of u = g + J_fᵀ u at z*, J_f =
 * diag(s'(a*)) W, with f = s(a*) given as fz (B, H).  Fixed-point iteration
 * with ping-pong buffers, or per row (I - Wᵀ diag(s'_r)) u_r = g_r by LAPACK.
 * Returns the buffer holding u (one of u0, u1). */
static double *implicit_solve(isw_deq_info *info, const isw_deq_model *m, isw_deq_work *ws,
                              const double *g /* (B, H) */, const double *fz /* (B, H) */,
                              double *u0, double *u1, double *da, int64_t rows,
                              const isw_deq_bwd_opts *bwd) {
  int64_t h = m->h, n = rows * h;
  if (h <= bwd->direct_width) {
    double *dsig = da; /* (B, H) s'(a*) */
    double *ones = u1;
    for (int64_t i = 0; i < n; ++i) ones[i] = 1.0;
    act_back(ws->ref, m->act, dsig, NULL, 0, ones, fz, n);
    for (int64_t r = 0; r < rows; ++r) {
      const double *dr = dsig + r * h;
      double *ur = u0 + r * h;
      /* M (H, H): M[i][j] = δ_ij - W[j][i] s'_r[j], i.e. I - Wᵀ diag(s'_r) */
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < h; ++j)
          ws->mat[i * h + j] = (i == j ? 1.0 : 0.0) - m->W[j * h + i] * dr[j];
      memcpy(ur, g + r * h, (size_t)h * sizeof *ur);
      lapack_int info_l = LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)h, 1, ws->mat, (lapack_int)h,
                                        ws->ipiv, ur, 1);
      if (info_l != 0)
        for (int64_t j = 0; j < h; ++j) ur[j] = NAN;
    }
    info->bwd_iters = 0;
    info->bwd_converged = 1;
    return u0;
  }
  memcpy(u0, g, (size_t)n * sizeof *u0);
  info->bwd_converged = 0;
  int64_t it = 0;
  while (it < bwd->max_iter) {
    ++it;
    memcpy(u1, g, (size_t)n * sizeof *u1);
    /* u1 (B, H) <- g + (u0 ⊙ s'(a*)) · W, i.e. u_{t+1} = dL/dz + J_fᵀ u_t row by row */
    isw_deq_step_back(ws->ref, m->act, da, u1, u0, fz, m->W, 1.0, rows, h);
    double diff = 0.0, nrm = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double t = u1[i] - u0[i];
      diff += t * t;
      nrm += u1[i] * u1[i];
    }
    double *t = u0;
    u0 = u1;
    u1 = t;
    if (sqrt(diff) <= bwd->tol * sqrt(nrm)) {
      info->bwd_converged = 1;
      break;
    }
    if (!isfinite(nrm)) break;
  }
  info->bwd_iters = it;
  return u0;
}

int isw_deq_loss_grad(double *loss, double *grad, isw_deq_info *info, const isw_deq_model *m,
                      isw_deq_work *ws, const double *x, const double *y, const int32_t *label,
                      int64_t rows, int64_t n_iters, isw_deq_grad mode,
                      const isw_deq_bwd_opts *bwd) {
  int err = 0;
  int64_t h = m->h, d = m->d, k = m->k, bh = rows * h;
  int ref = ws->ref;
  isw_deq_info local;
  if (!info) info = &local;
  info->bwd_iters = 0;
  info->bwd_converged = 1;
  int keep = grad && mode == ISW_DEQ_UNROLLED; /* keep every state for backprop */
  ISW_CHECK(rows >= 1 && rows <= ws->max_rows && n_iters >= 1 && h == ws->h && k == ws->k &&
                d == ws->d && (!grad || mode == ws->mode) && (!keep || n_iters <= ws->n_iters),
            ISW_EINTERNAL, "deq loss_grad: %lld rows, %lld iterations do not fit the workspace",
            (long long)rows, (long long)n_iters);

  /* forward: XU = X Uᵀ + b; z_1 = s(XU); z_{k+1} = s(z_k Wᵀ + XU) */
  isw_deq_affine(ref, ws->xu, x, m->U, m->b, rows, h, d);
  double *zcur = ws->zs;
  isw_deq_step(ref, m->act, zcur, NULL, m->W, ws->xu, rows, h);
  for (int64_t it = 1; it < n_iters; ++it) {
    double *znext = keep ? ws->zs + it * bh : (zcur == ws->zs ? ws->zs + bh : ws->zs);
    isw_deq_step(ref, m->act, znext, zcur, m->W, ws->xu, rows, h);
    zcur = znext;
  }
  const double *zn = zcur; /* z_N (B, H) */
  info->state_max = max_abs(zn, bh);
  /* head: yhat = z_N Vᵀ + c */
  isw_deq_affine(ref, ws->yhat, zn, m->V, m->c, rows, k, h);
  *loss = head_loss(grad ? ws->dy : NULL, NULL, ws->yhat, y, label, rows, k, (double)rows) /
          (double)rows;
  if (!grad) goto cleanup;

  double *gW = grad, *gU = gW + h * h, *gb = gU + h * d, *gV = gb + h, *gc = gV + k * h;
  memset(grad, 0, (size_t)m->n_params * sizeof *grad);
  /* differentiates yhat = z_N Vᵀ + c: dV (K, H) = dYᵀ (K, B) · z_N (B, H), dc = Σ_rows dY */
  isw_deq_gemm(ref, 1, 0, k, h, rows, 1.0, ws->dy, k, zn, h, 0.0, gV, h);
  col_sum(gc, ws->dy, rows, k);
  /* G (B, H) = dL/dz_N = dY (B, K) · V (K, H) */
  isw_deq_gemm(ref, 0, 0, rows, h, k, 1.0, ws->dy, k, m->V, h, 0.0, ws->g1, h);
  const double *dxu = ws->gsum; /* (B, H) dL/dXU */

  if (mode == ISW_DEQ_UNROLLED) {
    /* backprop through z_{k+1} = s(z_k Wᵀ + XU), k = N-1 .. 0 */
    double *g = ws->g1, *gnext = ws->g2;
    for (int64_t it = n_iters - 1; it >= 0; --it) {
      double *da = ws->das + it * bh;
      /* dA_k = G ⊙ s'(A_k) from z_{k+1}, dXU = Σ_k dA_k on the way;
         G <- dA_k · W = dL/dz_k (not needed at k = 0) */
      step_back_sum(ref, m->act, da, ws->gsum, it == n_iters - 1, it > 0 ? gnext : NULL, g,
                    ws->zs + it * bh, m->W, 0.0, rows, h);
      double *t = g;
      g = gnext;
      gnext = t;
    }
    /* dW (H, H) = Σ_{k=1}^{N-1} dA_kᵀ z_k: one GEMM over the stacked rows, R = (N-1) B:
       dAs[1..N-1]ᵀ (H, R) · zs[0..N-2] (R, H)  (z_0 = 0 adds nothing) */
    if (n_iters > 1)
      isw_deq_gemm(ref, 1, 0, h, h, (n_iters - 1) * rows, 1.0, ws->das + bh, h, ws->zs, h, 0.0,
                   gW, h);
  } else {
    /* implicit: a* = z* Wᵀ + XU, f = s(a*) gives s'(a*); solve u = G + J_fᵀ u */
    isw_deq_step(ref, m->act, ws->f, zn, m->W, ws->xu, rows, h);
    double *u = implicit_solve(info, m, ws, ws->g1, ws->f, ws->g2, ws->gsum, ws->das, rows, bwd);
    /* dA = u ⊙ s'(a*) (B, H) */
    act_back(ref, m->act, ws->das, NULL, 0, u, ws->f, bh);
    /* dW (H, H) = dAᵀ (H, B) · z* (B, H) */
    isw_deq_gemm(ref, 1, 0, h, h, rows, 1.0, ws->das, h, zn, h, 0.0, gW, h);
    dxu = ws->das; /* XU enters f once */
  }
  /* differentiates XU = X Uᵀ + b: dU (H, D) = dXUᵀ (H, B) · X (B, D), db = Σ_rows dXU */
  isw_deq_gemm(ref, 1, 0, h, d, rows, 1.0, dxu, h, x, d, 0.0, gU, d);
  col_sum(gb, dxu, rows, h);
cleanup:
  return err;
}

/* ---- Adam ---------------------------------------------------------------------------- */

int isw_deq_adam_create(isw_deq_adam **out, int64_t n, double lr) {
  int err = 0;
  isw_deq_adam *a = NULL;
  *out = NULL;
  ISW_ALLOC(a, 1);
  a->lr = lr;
  a->beta1 = 0.9;
  a->beta2 = 0.999;
  a->eps = 1e-8;
  a->n = n;
  a->pow1 = a->pow2 = 1.0;
  ISW_ALLOC(a->m, n);
  ISW_ALLOC(a->v, n);
  *out = a;
  a = NULL;
cleanup:
  isw_deq_adam_destroy(&a);
  return err;
}

void isw_deq_adam_destroy(isw_deq_adam **a) {
  if (!a || !*a) return;
  free((*a)->m);
  free((*a)->v);
  free(*a);
  *a = NULL;
}

void isw_deq_adam_step(isw_deq_adam *a, double *theta, const double *grad) {
  const double b1 = a->beta1, b2 = a->beta2;
  a->t += 1;
  a->pow1 *= b1;
  a->pow2 *= b2;
  /* lr m̂ / (sqrt(v̂) + eps) = step · m / (sqrt(v) + eps sqrt(1 - b2^t)) */
  double step = a->lr * sqrt(1.0 - a->pow2) / (1.0 - a->pow1), eps = a->eps * sqrt(1.0 - a->pow2);
  for (int64_t i = 0; i < a->n; ++i) {
    a->m[i] = b1 * a->m[i] + (1.0 - b1) * grad[i];
    a->v[i] = b2 * a->v[i] + (1.0 - b2) * grad[i] * grad[i];
    theta[i] -= step * a->m[i] / (sqrt(a->v[i]) + eps);
  }
}

/* ---- evaluation --------------------------------------------------------------------- */

/* Per-row relative residual ||f - z|| / ||f|| (||f|| = 0: 0 when f = z, else
 * ||f - z|| / ||z||); adds the sum to *sum and the max to *mx. */
static void residuals(double *sum, double *mx, const double *z, const double *f, int64_t rows,
                      int64_t h) {
  for (int64_t i = 0; i < rows; ++i) {
    double num = 0.0, den = 0.0, zz = 0.0;
    for (int64_t j = 0; j < h; ++j) {
      double t = f[i * h + j] - z[i * h + j];
      num += t * t;
      den += f[i * h + j] * f[i * h + j];
      zz += z[i * h + j] * z[i * h + j];
    }
    double r = den > 0.0 ? sqrt(num / den) : (num > 0.0 ? sqrt(num / zz) : 0.0);
    if (r != r) r = INFINITY; /* a non-finite state */
    *sum += r;
    if (!(r <= *mx)) *mx = r;
  }
}

static double finite_or_nan(double v) { return isfinite(v) ? v : NAN; }

int isw_deq_evaluate(isw_deq_eval *out, const isw_deq_model *m, const double *x, const double *y,
                     const int32_t *label, int64_t n, const int64_t *iters, int t,
                     const isw_deq_eval_opts *o) {
  int err = 0;
  int64_t h = m->h, d = m->d, k = m->k;
  int64_t chunk = o->chunk > 0 ? o->chunk : 2048;
  if (chunk > n) chunk = n;
  double *xu = NULL, *z = NULL, *f = NULL, *yhat = NULL, *loss = NULL, *rsum = NULL, *rmax = NULL;
  double *lu = NULL;
  int64_t *correct = NULL;
  char *dead = NULL; /* (T) a chunk's state was non-finite at or before iters[j] */
  lapack_int *ipiv = NULL;
  int lu_ok = 0;
  ISW_CHECK(n >= 1 && t >= 0, ISW_EINTERNAL, "deq evaluate on %lld rows", (long long)n);
  for (int j = 1; j < t; ++j)
    ISW_CHECK(iters[j] > iters[j - 1] && iters[0] >= 0, ISW_EINTERNAL,
              "deq evaluate: iteration counts must ascend");
  ISW_ALLOC(xu, chunk * h);
  ISW_ALLOC(z, chunk * h);
  ISW_ALLOC(f, chunk * h);
  ISW_ALLOC(yhat, chunk * k);
  ISW_ALLOC(loss, t);
  ISW_ALLOC(rsum, t);
  ISW_ALLOC(rmax, t);
  ISW_ALLOC(correct, t);
  ISW_ALLOC(dead, t);
  if (m->act == ISW_DEQ_IDENTITY) {
    /* (I - W) factored once: column-major LU of M[i + j H] = δ_ij - W[i][j] */
    ISW_ALLOC(lu, h * h);
    ISW_ALLOC(ipiv, h);
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < h; ++j) lu[i + j * h] = (i == j ? 1.0 : 0.0) - m->W[i * h + j];
    lu_ok = all_finite(lu, h * h) &&
            LAPACKE_dgetrf(LAPACK_COL_MAJOR, (lapack_int)h, (lapack_int)h, lu, (lapack_int)h, ipiv) == 0;
  }
  int64_t nmax = t > 0 ? iters[t - 1] : 0;
  double lim_loss = 0.0, lim_res = 0.0;
  int64_t lim_correct = 0, lim_iters = 0, first_bad = -1;
  int lim_conv = 1;
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    int64_t rows = n - r0 < chunk ? n - r0 : chunk, bh = rows * h;
    const double *xc = x + r0 * d, *yc = y ? y + r0 * k : NULL;
    const int32_t *lc = label ? label + r0 : NULL;
    isw_deq_affine(0, xu, xc, m->U, m->b, rows, h, d);
    memset(z, 0, (size_t)bh * sizeof *z);
    int j = 0, bad = 0;
    /* one pass: z holds z_it, f <- f(z_it) = z_{it+1}; record at it = iters[j] */
    int64_t it = 0;
    for (; it <= nmax && j < t; ++it) {
      isw_deq_step(0, m->act, f, it == 0 ? NULL : z, m->W, xu, rows, h);
      for (; j < t && iters[j] == it; ++j) {
        isw_deq_affine(0, yhat, z, m->V, m->c, rows, k, h);
        loss[j] += head_loss(NULL, &correct[j], yhat, yc, lc, rows, k, 1.0);
        residuals(&rsum[j], &rmax[j], z, f, rows, h);
      }
      double *tmp = z;
      z = f;
      f = tmp;
      if (!all_finite(z, bh)) {
        bad = 1;
        if (first_bad < 0 || it + 1 < first_bad) first_bad = it + 1;
        break;
      }
    }
    for (; j < t; ++j) dead[j] = 1; /* states past a non-finite one */
    /* the limit, continuing from z_it */
    if (m->act == ISW_DEQ_IDENTITY) {
      isw_deq_affine(0, z, xc, m->U, m->b, rows, h, d);
      /* (I - W) Zᵀ = XUᵀ: Z (B, H) row-major is Zᵀ (H, B) column-major */
      if (!lu_ok ||
          LAPACKE_dgetrs(LAPACK_COL_MAJOR, 'N', (lapack_int)h, (lapack_int)rows, lu, (lapack_int)h,
                         ipiv, z, (lapack_int)h) != 0)
        for (int64_t i = 0; i < bh; ++i) z[i] = NAN;
      isw_deq_step(0, m->act, f, z, m->W, xu, rows, h);
      double s = 0.0;
      residuals(&s, &lim_res, z, f, rows, h);
      if (!(lu_ok && o->rho_w < 1.0)) lim_conv = 0;
    } else if (bad) {
      lim_conv = 0;
      lim_res = INFINITY;
      lim_iters = o->limit_max_iter > lim_iters ? o->limit_max_iter : lim_iters;
    } else {
      int conv = 0;
      double mx = 0.0;
      for (;; ++it) {
        isw_deq_step(0, m->act, f, z, m->W, xu, rows, h);
        double s = 0.0;
        mx = 0.0;
        residuals(&s, &mx, z, f, rows, h);
        if (mx < o->limit_tol) {
          conv = 1;
          break;
        }
        if (it >= o->limit_max_iter || !isfinite(mx)) break;
        double *tmp = z;
        z = f;
        f = tmp;
      }
      if (!conv) lim_conv = 0;
      if (!(mx <= lim_res)) lim_res = mx;
      if (it > lim_iters) lim_iters = it;
    }
    isw_deq_affine(0, yhat, z, m->V, m->c, rows, k, h);
    lim_loss += head_loss(NULL, &lim_correct, yhat, yc, lc, rows, k, 1.0);
  }
  for (int j = 0; j < t; ++j) {
    out->loss[j] = dead[j] ? NAN : finite_or_nan(loss[j] / (double)n);
    if (out->acc)
      out->acc[j] = label && isfinite(out->loss[j]) ? (double)correct[j] / (double)n : NAN;
    if (out->res_mean) out->res_mean[j] = dead[j] ? NAN : finite_or_nan(rsum[j] / (double)n);
    if (out->res_max) out->res_max[j] = dead[j] ? NAN : finite_or_nan(rmax[j]);
  }
  out->limit_loss = finite_or_nan(lim_loss / (double)n);
  out->limit_acc = label && isfinite(out->limit_loss) ? (double)lim_correct / (double)n : NAN;
  out->limit_residual = finite_or_nan(lim_res);
  out->limit_converged = lim_conv && isfinite(out->limit_loss);
  out->limit_iters = m->act == ISW_DEQ_IDENTITY ? 0 : lim_iters;
  out->first_nonfinite = first_bad;
cleanup:
  free(xu);
  free(z);
  free(f);
  free(yhat);
  free(loss);
  free(rsum);
  free(rmax);
  free(correct);
  free(dead);
  free(lu);
  free(ipiv);
  return err;
}

/* ---- the family: parameters, columns, validate, cost, run ------------------------- */

enum {
  P_DATASET, P_DATA_FILE, P_TEST_FRACTION, P_N_TRAIN, P_N_TEST, P_X_DIM, P_TEACHER_WIDTH,
  P_NOISE, P_ACTIVATION, P_GRAD, P_LR, P_STEPS, P_BATCH, P_W_SCALE, P_BWD_TOL,
  P_BWD_MAX_ITER, P_BWD_DIRECT_WIDTH, P_LIMIT_TOL, P_LIMIT_MAX_ITER, P_BLOWUP, P_N_PARAMS
};
enum { DS_TEACHER = 0, DS_DIGITS = 1, DS_FILE = 2 };

static const isw_param_def deq_params[P_N_PARAMS] = {
    [P_DATASET] = {"dataset", ISW_PARAM_ENUM, "teacher", 0, 0, "teacher|digits|file", 1,
                   "data set: teacher (synthetic regression), digits (shipped 8x8 digits, 10 classes) or file (data_file)"},
    [P_DATA_FILE] = {"data_file", ISW_PARAM_STRING, "none", 0, 0, NULL, 1,
                     "dataset = file: HDF5 file with X (n, d) and y (n); integer y = class labels, float y = regression targets (none: no file)"},
    [P_TEST_FRACTION] = {"test_fraction", ISW_PARAM_REAL, "0.25", 1e-6, 0.999999, NULL, 1,
                         "digits and file: fraction of the rows held out as the test set (seeded split)"},
    [P_N_TRAIN] = {"n_train", ISW_PARAM_INT, "256", 1, 1e8, NULL, 1, "teacher: training rows"},
    [P_N_TEST] = {"n_test", ISW_PARAM_INT, "1024", 1, 1e8, NULL, 1, "teacher: test rows"},
    [P_X_DIM] = {"x_dim", ISW_PARAM_INT, "16", 1, 1e6, NULL, 1, "teacher: input dimension d_x, x ~ N(0, I)"},
    [P_TEACHER_WIDTH] = {"teacher_width", ISW_PARAM_INT, "32", 1, 1e6, NULL, 1,
                         "teacher: hidden units of the two-layer tanh teacher network"},
    [P_NOISE] = {"noise", ISW_PARAM_REAL, "0.1", 0, 1e6, NULL, 1, "teacher: std of the Gaussian noise on targets"},
    [P_ACTIVATION] = {"activation", ISW_PARAM_ENUM, "tanh", 0, 0, "tanh|relu|identity", 0,
                      "sigma in z_{k+1} = sigma(W z_k + U x + b)"},
    [P_GRAD] = {"grad", ISW_PARAM_ENUM, "unrolled", 0, 0, "unrolled|implicit", 0,
                "gradient: unrolled (backprop through the N iterations) or implicit (z_N as fixed point, IFT backward)"},
    [P_LR] = {"lr", ISW_PARAM_REAL, "0.001", 1e-12, 10, NULL, 0, "Adam learning rate"},
    [P_STEPS] = {"steps", ISW_PARAM_INT, "1000", 0, 1e9, NULL, 0, "Adam steps"},
    [P_BATCH] = {"batch", ISW_PARAM_INT, "0", 0, 1e9, NULL, 0,
                 "minibatch rows per step; 0 or >= training rows = full batch"},
    [P_W_SCALE] = {"w_scale", ISW_PARAM_REAL, "0.5", 0, 0.999, NULL, 0,
                   "spectral norm of W at initialisation (< 1: the initial map contracts for tanh/relu/identity)"},
    [P_BWD_TOL] = {"bwd_tol", ISW_PARAM_REAL, "1e-8", 1e-16, 1, NULL, 0,
                   "implicit: backward fixed-point iteration stops when ||u_{t+1} - u_t|| <= bwd_tol ||u_{t+1}||"},
    [P_BWD_MAX_ITER] = {"bwd_max_iter", ISW_PARAM_INT, "200", 1, 1e7, NULL, 0,
                        "implicit: cap on backward fixed-point iterations per step"},
    [P_BWD_DIRECT_WIDTH] = {"bwd_direct_width", ISW_PARAM_INT, "0", 0, 4096, NULL, 0,
                            "implicit: widths <= this solve (I - J_f^T) u = g exactly per sample with LAPACK instead of iterating"},
    [P_LIMIT_TOL] = {"limit_tol", ISW_PARAM_REAL, "1e-8", 1e-16, 1, NULL, 0,
                     "n = infinity: iterate until every sample's relative residual < limit_tol"},
    [P_LIMIT_MAX_ITER] = {"limit_max_iter", ISW_PARAM_INT, "1000", 1, 1e8, NULL, 0,
                          "n = infinity: iteration cap (counted from z_0); limit_converged = 0 when hit"},
    [P_BLOWUP] = {"blowup", ISW_PARAM_REAL, "1e6", 1, 1e300, NULL, 0,
                  "training diverges when max |z_N| exceeds this (or a loss/gradient is not finite)"},
};

enum {
  S_TRAIN_N, S_TEST_N, S_TRAIN_ACC_N, S_TEST_ACC_N, S_TRAIN_LIM, S_TEST_LIM, S_TRAIN_ACC_LIM,
  S_TEST_ACC_LIM, S_LIM_CONV, S_LIM_ITERS, S_LIM_RES, S_RHO_W, S_NORM_W, S_DIV_STEP,
  S_FINAL_BATCH_LOSS, S_BWD_ITERS, S_BWD_UNCONV, S_N_TRAIN, S_N_TEST, S_N_SCALARS
};
static const isw_column_def deq_scalars[S_N_SCALARS] = {
    [S_TRAIN_N] = {"train_loss_at_N", "training loss at n = train_iters (MSE, or mean softmax cross-entropy)", .role = ISW_ROLE_LOSS, .split = "train", .at = "N"},
    [S_TEST_N] = {"test_loss_at_N", "test loss at n = train_iters", .role = ISW_ROLE_LOSS, .split = "test", .at = "N"},
    [S_TRAIN_ACC_N] = {"train_accuracy_at_N", "training accuracy at n = train_iters (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "train", .at = "N"},
    [S_TEST_ACC_N] = {"test_accuracy_at_N", "test accuracy at n = train_iters (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "test", .at = "N"},
    [S_TRAIN_LIM] = {"train_loss_limit", "training loss at n = infinity (see limit_converged)", .role = ISW_ROLE_LOSS, .split = "train", .at = "limit"},
    [S_TEST_LIM] = {"test_loss_limit", "test loss at n = infinity (see limit_converged)", .role = ISW_ROLE_LOSS, .split = "test", .at = "limit"},
    [S_TRAIN_ACC_LIM] = {"train_accuracy_limit", "training accuracy at n = infinity (classification)", .role = ISW_ROLE_ACCURACY, .split = "train", .at = "limit"},
    [S_TEST_ACC_LIM] = {"test_accuracy_limit", "test accuracy at n = infinity (classification)", .role = ISW_ROLE_ACCURACY, .split = "test", .at = "limit"},
    [S_LIM_CONV] = {"limit_converged", "1: the limit is a fixed point (tanh/relu: every sample's residual < limit_tol; identity: direct solve of (I - W) z = U x + b with rho(W) < 1); 0: not the n = infinity limit", .role = ISW_ROLE_VALIDITY, .valid_min = 1, .valid_max = 1, .qualifies = "limit"},
    [S_LIM_ITERS] = {"limit_iters", "iterations from z_0 until every sample's residual < limit_tol (about limit_max_iter when not reached; 0 for identity's direct solve)"},
    [S_LIM_RES] = {"limit_residual", "max over train and test samples of ||f(z) - z|| / ||f(z)|| at the limit state"},
    [S_RHO_W] = {"spectral_radius_W", "max |eigenvalue| of the trained W"},
    [S_NORM_W] = {"spectral_norm_W", "largest singular value of the trained W"},
    [S_DIV_STEP] = {"diverged_step", "Adam step (1-based) at which training diverged; NaN when it did not"},
    [S_FINAL_BATCH_LOSS] = {"final_batch_loss", "training loss of the last Adam step's batch (at n = train_iters)"},
    [S_BWD_ITERS] = {"bwd_iters_mean", "implicit: mean backward fixed-point iterations per step (0 with the direct solve; NaN for unrolled)"},
    [S_BWD_UNCONV] = {"bwd_unconverged_steps", "implicit: steps whose backward iteration hit bwd_max_iter before bwd_tol (NaN for unrolled)", .role = ISW_ROLE_VALIDITY, .per = "steps", .valid_min = 0, .valid_max = 0.1, .qualifies = "row"},
    [S_N_TRAIN] = {"n_train_rows", "training rows of the data set used"},
    [S_N_TEST] = {"n_test_rows", "test rows of the data set used"},
};

enum { C_TRAIN, C_TEST, C_TRAIN_ACC, C_TEST_ACC, C_RES, C_RES_MAX, C_N_CURVES };
static const isw_column_def deq_curves[C_N_CURVES] = {
    [C_TRAIN] = {"train_loss", "training loss after n iterations (MSE, or mean softmax cross-entropy)", .role = ISW_ROLE_LOSS, .split = "train"},
    [C_TEST] = {"test_loss", "test loss after n iterations", .role = ISW_ROLE_LOSS, .split = "test"},
    [C_TRAIN_ACC] = {"train_accuracy", "training accuracy after n iterations (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "train"},
    [C_TEST_ACC] = {"test_accuracy", "test accuracy after n iterations (classification; NaN otherwise)", .role = ISW_ROLE_ACCURACY, .split = "test"},
    [C_RES] = {"residual", "MEAN over test samples of ||f(z_n) - z_n|| / ||f(z_n)||: the convergence curve", .role = ISW_ROLE_RESIDUAL, .split = "test"},
    [C_RES_MAX] = {"residual_max", "MAX over test samples of ||f(z_n) - z_n|| / ||f(z_n)||", .role = ISW_ROLE_SPREAD, .split = "test"},
};

/* The task's parameters of one config, decoded. */
typedef struct {
  int dataset;
  const char *data_file;
  double test_fraction;
  isw_teacher_opts teacher;
  isw_deq_act act;
  isw_deq_grad grad;
  double lr;
  int64_t steps, batch;
  double w_scale;
  isw_deq_bwd_opts bwd;
  double limit_tol;
  int64_t limit_max_iter;
  double blowup;
} deq_cfg;

static void deq_cfg_read(deq_cfg *k, const isw_config *c) {
  const isw_value *p = c->p;
  k->dataset = (int)p[P_DATASET].num;
  k->data_file = p[P_DATA_FILE].str && strcmp(p[P_DATA_FILE].str, "none") != 0 ? p[P_DATA_FILE].str : "";
  k->test_fraction = p[P_TEST_FRACTION].num;
  k->teacher.n_train = (int64_t)p[P_N_TRAIN].num;
  k->teacher.n_test = (int64_t)p[P_N_TEST].num;
  k->teacher.x_dim = (int64_t)p[P_X_DIM].num;
  k->teacher.teacher_width = (int64_t)p[P_TEACHER_WIDTH].num;
  k->teacher.noise = p[P_NOISE].num;
  k->act = (isw_deq_act)(int)p[P_ACTIVATION].num;
  k->grad = (isw_deq_grad)(int)p[P_GRAD].num;
  k->lr = p[P_LR].num;
  k->steps = (int64_t)p[P_STEPS].num;
  k->batch = (int64_t)p[P_BATCH].num;
  k->w_scale = p[P_W_SCALE].num;
  k->bwd.tol = p[P_BWD_TOL].num;
  k->bwd.max_iter = (int64_t)p[P_BWD_MAX_ITER].num;
  k->bwd.direct_width = (int64_t)p[P_BWD_DIRECT_WIDTH].num;
  k->limit_tol = p[P_LIMIT_TOL].num;
  k->limit_max_iter = (int64_t)p[P_LIMIT_MAX_ITER].num;
  k->blowup = p[P_BLOWUP].num;
}

static int deq_load(isw_dataset **ds, const deq_cfg *k, const isw_config *c) {
  switch (k->dataset) {
    case DS_TEACHER: return isw_data_teacher(ds, &k->teacher, c->sweep_seed, c->data_id);
    case DS_DIGITS: return isw_data_digits(ds, k->test_fraction, c->sweep_seed, c->data_id);
    default: return isw_data_hdf5(ds, k->data_file, k->test_fraction, c->sweep_seed, c->data_id);
  }
}

/* Loads the data set the way run() will, so every data problem is a spec
 * error before anything trains.  The last accepted data description is
 * remembered (only the split's emptiness depends on the seed, and it does
 * not depend on which rows are drawn), so a sweep over many configs of one
 * file reads it once. */
static int deq_validate(const isw_config *c) {
  static char accepted[1200];
  int err = 0;
  deq_cfg k;
  isw_dataset *ds = NULL;
  char key[sizeof accepted];
  deq_cfg_read(&k, c);
  snprintf(key, sizeof key, "%d|%s|%.17g|%lld|%lld|%lld|%lld|%.17g", k.dataset,
           k.dataset == DS_FILE ? k.data_file : "", k.test_fraction, (long long)k.teacher.n_train,
           (long long)k.teacher.n_test, (long long)k.teacher.x_dim,
           (long long)k.teacher.teacher_width, k.teacher.noise);
  if (strcmp(key, accepted) == 0) return 0;
  err = deq_load(&ds, &k, c);
  if (err) {
    if (err == ISW_EUSAGE) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", isw_error_message());
      err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "[deq] %s", msg);
    } else {
      isw_error_trace(__FILE__, __LINE__, __func__);
    }
    goto cleanup;
  }
  snprintf(accepted, sizeof accepted, "%s", key);
cleanup:
  isw_data_destroy(&ds);
  return err;
}

/* Rows of the splits without reading a file (cost must be pure): exact for
 * teacher and digits, a guess of 1000 rows for a user file. */
static void deq_rows(int64_t *ntr, int64_t *nte, const deq_cfg *k) {
  int64_t n = k->dataset == DS_DIGITS ? 1797 : 1000;
  if (k->dataset == DS_TEACHER) {
    *ntr = k->teacher.n_train;
    *nte = k->teacher.n_test;
    return;
  }
  *nte = isw_data_n_test(n, k->test_fraction);
  *ntr = n - *nte;
}

static double deq_cost(const isw_config *c) {
  deq_cfg k;
  deq_cfg_read(&k, c);
  int64_t ntr, nte;
  deq_rows(&ntr, &nte, &k);
  double h = (double)c->width, n_it = (double)c->train_iters;
  double dd = k.dataset == DS_TEACHER ? (double)k.teacher.x_dim : 64.0, kk = 10.0;
  double b = (k.batch == 0 || k.batch >= ntr) ? (double)ntr : (double)k.batch;
  double hh = h * h, step;
  if (k.grad == ISW_DEQ_UNROLLED) {
    step = 6.0 * n_it * b * hh;
  } else {
    /* backward iterations: measured means run from ~20 (converging) to the cap (wide
       models trained with small N), so guess 0.6 of the cap, at most 100 */
    double guess = fmin(0.6 * (double)k.bwd.max_iter, 100.0);
    double bwd = (double)c->width <= (double)k.bwd.direct_width ? b * (2.0 / 3.0) * hh * h
                                                                : 2.0 * b * hh * guess;
    step = 2.0 * (n_it + 2.0) * b * hh + bwd;
  }
  step += 4.0 * b * h * dd + 6.0 * b * h * kk + 20.0 * (hh + h * dd);
  double nmax = c->n_test > 0 ? (double)c->test_iters[c->n_test - 1] : 0.0;
  if (n_it > nmax) nmax = n_it;
  double lim = k.act == ISW_DEQ_IDENTITY ? 2.0 : fmin((double)k.limit_max_iter, 300.0);
  double eval = (double)(ntr + nte) * 2.0 * hh * (nmax + 2.0 + lim);
  double dense = 16.0 * hh * h; /* dgesdd at init and after, dgeev, LU */
  return (double)k.steps * step + eval + dense;
}

/* Fill the curves and scalars from a finished model. */
static int deq_evaluate_all(isw_result *res, const isw_deq_model *m, const isw_dataset *ds,
                            const deq_cfg *k, const isw_config *c) {
  int err = 0;
  int t = c->n_test, nt = 0;
  int64_t *iters = NULL;
  double *buf = NULL;
  /* the recorded counts: test_iters ∪ {N}, ascending */
  ISW_ALLOC(iters, t + 1);
  int inserted = 0;
  for (int j = 0; j < t; ++j) {
    if (!inserted && c->train_iters <= c->test_iters[j]) {
      if (c->train_iters < c->test_iters[j]) iters[nt++] = c->train_iters;
      inserted = 1;
    }
    iters[nt++] = c->test_iters[j];
  }
  if (!inserted) iters[nt++] = c->train_iters;
  int jn = 0;
  while (iters[jn] != c->train_iters) ++jn;
  ISW_ALLOC(buf, 6 * (int64_t)nt);
  double rho = NAN, norm = NAN;
  ISW_CALL(isw_deq_spectral_radius(&rho, m->W, m->h));
  ISW_CALL(isw_deq_spectral_norm(&norm, m->W, m->h));
  res->scalars[S_RHO_W] = rho;
  res->scalars[S_NORM_W] = norm;
  isw_deq_eval_opts eo = {.limit_tol = k->limit_tol, .limit_max_iter = k->limit_max_iter,
                          .rho_w = isfinite(rho) ? rho : INFINITY, .chunk = 0};
  isw_deq_eval tr = {.loss = buf, .acc = buf + nt, .res_mean = NULL, .res_max = NULL};
  isw_deq_eval te = {.loss = buf + 2 * nt, .acc = buf + 3 * nt, .res_mean = buf + 4 * nt,
                     .res_max = buf + 5 * nt};
  ISW_CALL(isw_deq_evaluate(&tr, m, ds->x_train, ds->y_train, ds->label_train, ds->n_train, iters,
                            nt, &eo));
  ISW_CALL(isw_deq_evaluate(&te, m, ds->x_test, ds->y_test, ds->label_test, ds->n_test, iters,
                            nt, &eo));
  int64_t tt = c->n_test;
  for (int j = 0, jc = 0; j < nt; ++j) {
    if (jc >= t || iters[j] != c->test_iters[jc]) continue;
    res->curves[C_TRAIN * tt + jc] = tr.loss[j];
    res->curves[C_TEST * tt + jc] = te.loss[j];
    res->curves[C_TRAIN_ACC * tt + jc] = tr.acc[j];
    res->curves[C_TEST_ACC * tt + jc] = te.acc[j];
    res->curves[C_RES * tt + jc] = te.res_mean[j];
    res->curves[C_RES_MAX * tt + jc] = te.res_max[j];
    ++jc;
  }
  res->scalars[S_TRAIN_N] = tr.loss[jn];
  res->scalars[S_TEST_N] = te.loss[jn];
  res->scalars[S_TRAIN_ACC_N] = tr.acc[jn];
  res->scalars[S_TEST_ACC_N] = te.acc[jn];
  res->scalars[S_TRAIN_LIM] = tr.limit_loss;
  res->scalars[S_TEST_LIM] = te.limit_loss;
  res->scalars[S_TRAIN_ACC_LIM] = tr.limit_acc;
  res->scalars[S_TEST_ACC_LIM] = te.limit_acc;
  res->scalars[S_LIM_CONV] = tr.limit_converged && te.limit_converged ? 1.0 : 0.0;
  res->scalars[S_LIM_ITERS] = (double)(tr.limit_iters > te.limit_iters ? tr.limit_iters : te.limit_iters);
  res->scalars[S_LIM_RES] = fmax(tr.limit_residual, te.limit_residual);
  if (!isfinite(tr.limit_residual) || !isfinite(te.limit_residual)) res->scalars[S_LIM_RES] = NAN;
cleanup:
  free(iters);
  free(buf);
  return err;
}

static int deq_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  (void)team;
  int err = 0;
  deq_cfg k;
  isw_dataset *ds = NULL;
  isw_deq_model *m = NULL;
  isw_deq_work *ws = NULL;
  isw_deq_adam *adam = NULL;
  double *grad = NULL, *xb = NULL, *yb = NULL;
  int32_t *lb = NULL;
  int64_t *perm = NULL;
  deq_cfg_read(&k, c);
  res->status = ISW_ST_OK;
  res->message[0] = '\0';
  double t0 = MPI_Wtime();

  int derr = deq_load(&ds, &k, c);
  if (derr == ISW_EUSAGE) { /* validate saw it fine: the file changed under us */
    res->status = ISW_ST_FAILED;
    snprintf(res->message, sizeof res->message, "%s", isw_error_message());
    isw_error_clear();
    goto cleanup;
  }
  ISW_CALL(derr);
  int64_t h = c->width, n_it = c->train_iters, ntr = ds->n_train;
  int64_t b = (k.batch == 0 || k.batch >= ntr) ? ntr : k.batch;
  ISW_CHECK(n_it >= 1, ISW_EINTERNAL, "deq needs train_iters >= 1, got %lld", (long long)n_it);
  ISW_CALL(isw_deq_model_create(&m, h, ds->d, ds->k, k.act, ds->classification));
  res->n_params = m->n_params;
  res->rho = (double)m->n_params / ((double)ntr * (double)ds->k);
  res->scalars[S_N_TRAIN] = (double)ds->n_train;
  res->scalars[S_N_TEST] = (double)ds->n_test;
  isw_rng rinit, rtrain;
  isw_rng_init(&rinit, c->sweep_seed, c->id, ISW_STREAM_INIT);
  isw_rng_init(&rtrain, c->sweep_seed, c->id, ISW_STREAM_TRAIN);
  ISW_CALL(isw_deq_model_init(m, k.w_scale, &rinit));
  ISW_CALL(isw_deq_work_create(&ws, m, b, n_it, k.grad));
  int64_t p = m->n_params;
  ISW_ALLOC(grad, p);
  ISW_CALL(isw_deq_adam_create(&adam, p, k.lr));
  if (b < ntr) {
    ISW_ALLOC(perm, ntr);
    ISW_ALLOC(xb, b * ds->d);
    if (ds->classification)
      ISW_ALLOC(lb, b);
    else
      ISW_ALLOC(yb, b * ds->k);
  }

  /* Adam on the N-iteration loss */
  double bwd_iters = 0.0, loss = NAN;
  int64_t pos = ntr, unconv = 0, step = 0;
  for (step = 1; step <= k.steps; ++step) {
    const double *xs = ds->x_train, *ys = ds->y_train;
    const int32_t *ls = ds->label_train;
    if (b < ntr) {
      if (pos + b > ntr) {
        isw_rng_permutation(&rtrain, perm, (size_t)ntr);
        pos = 0;
      }
      for (int64_t i = 0; i < b; ++i) {
        int64_t r = perm[pos + i];
        memcpy(xb + i * ds->d, ds->x_train + r * ds->d, (size_t)ds->d * sizeof *xb);
        if (lb) lb[i] = ds->label_train[r];
        if (yb) memcpy(yb + i * ds->k, ds->y_train + r * ds->k, (size_t)ds->k * sizeof *yb);
      }
      pos += b;
      xs = xb;
      ys = yb;
      ls = lb;
    }
    isw_deq_info info;
    ISW_CALL(isw_deq_loss_grad(&loss, grad, &info, m, ws, xs, ys, ls, b, n_it, k.grad, &k.bwd));
    bwd_iters += (double)info.bwd_iters;
    unconv += !info.bwd_converged;
    const char *why = NULL;
    if (!isfinite(loss))
      why = "non-finite training loss";
    else if (!(info.state_max <= k.blowup))
      why = "state blow-up (max |z_N| above blowup)";
    else if (!all_finite(grad, p))
      why = "non-finite gradient";
    if (why) {
      res->status = ISW_ST_DIVERGED;
      res->scalars[S_DIV_STEP] = (double)step;
      snprintf(res->message, sizeof res->message, "%s at step %lld (loss %g, max |z_N| %g)", why,
               (long long)step, loss, info.state_max);
      break;
    }
    isw_deq_adam_step(adam, m->theta, grad);
  }
  int64_t done = step > k.steps ? k.steps : step;
  res->scalars[S_FINAL_BATCH_LOSS] = isfinite(loss) ? loss : NAN;
  if (k.grad == ISW_DEQ_IMPLICIT && done > 0) {
    res->scalars[S_BWD_ITERS] = bwd_iters / (double)done;
    res->scalars[S_BWD_UNCONV] = (double)unconv;
  }
  double t1 = MPI_Wtime();
  res->train_seconds = t1 - t0;
  if (res->status == ISW_ST_OK) ISW_CALL(deq_evaluate_all(res, m, ds, &k, c));
  res->eval_seconds = MPI_Wtime() - t1;
cleanup:
  isw_data_destroy(&ds);
  isw_deq_model_destroy(&m);
  isw_deq_work_destroy(&ws);
  isw_deq_adam_destroy(&adam);
  free(grad);
  free(xb);
  free(yb);
  free(lb);
  free(perm);
  return err;
}

const isw_task isw_task_deq = {
    .name = "deq",
    .summary = "deep equilibrium model z = s(W z + U x + b), trained unrolled or implicitly",
    .params = deq_params,
    .n_params = P_N_PARAMS,
    .scalars = deq_scalars,
    .n_scalars = S_N_SCALARS,
    .curves = deq_curves,
    .n_curves = C_N_CURVES,
    .width_shapes_data = 0,
    .team_capable = 0,
    .validate = deq_validate,
    .cost = deq_cost,
    .run = deq_run,
};
