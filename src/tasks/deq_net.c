/* deq_net.c — the kernels of the `deq` family (contract in deq.h): the
 * activations, the fused iteration step with its backward beside it, the
 * model, the loss head, the N-step loss and its unrolled and implicit
 * gradients, and the one-pass evaluation with the n = infinity limit.
 * src/tasks/deq.c owns the family (parameters, columns, cost, run).
 * Never talks MPI, HDF5 or the results file.
 *
 * Shapes: B = rows of a batch (or of an evaluation chunk), H = width (dim z),
 * D = inputs, K = outputs, N = iterations, P = parameters, T = recorded
 * iteration counts, R = stacked rows (N - 1)·B.  Everything is row-major and
 * batch-major (one sample per row), so one iteration over the batch is one
 * GEMM (B, H)·(H, H) followed by the activation on the same block. */
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/deq.h"
#include "isweep/error.h"
#include "isweep/nn.h"
#include "isweep/rng.h"

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
static inline __attribute__((always_inline)) void tanh8(isw_real *p) {
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
DEQ_CLONES static void tanh_fast(isw_real *x, int64_t n) {
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
DEQ_CLONES static void tanh_back_fast(isw_real *da, isw_real *acc, int first, const isw_real *g,
                                      const isw_real *s, int64_t n) {
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

void isw_deq_activate(int ref, isw_deq_act act, isw_real *x, int64_t n) {
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
static void act_back(int ref, isw_deq_act act, isw_real *da, isw_real *acc, int first,
                     const isw_real *g, const isw_real *s, int64_t n) {
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

void isw_deq_affine(int ref, isw_real *y, const isw_real *x, const isw_real *p, const isw_real *bias,
                    int64_t rows, int64_t m, int64_t q) {
  for (int64_t i = 0; i < rows; ++i) memcpy(y + i * m, bias, (size_t)m * sizeof *y);
  /* Y (B, M) <- X (B, Q) · Pᵀ (Q, M) + Y */
  isw_nn_gemm(ref, 0, 1, rows, m, q, 1.0, x, q, p, q, 1.0, y, m);
}

void isw_deq_step(int ref, isw_deq_act act, isw_real *zout, const isw_real *zin, const isw_real *w,
                  const isw_real *xu, int64_t rows, int64_t h) {
  memcpy(zout, xu, (size_t)(rows * h) * sizeof *zout);
  /* A (B, H) <- Zin (B, H) · Wᵀ (H, H) + XU */
  if (zin) isw_nn_gemm(ref, 0, 1, rows, h, h, 1.0, zin, h, w, h, 1.0, zout, h);
  /* Zout <- s(A), on the block the GEMM just wrote */
  isw_deq_activate(ref, act, zout, rows * h);
}

/* isw_deq_step_back, and acc (B, H) <- dA (first) or acc + dA when acc != NULL. */
static void step_back_sum(int ref, isw_deq_act act, isw_real *da, isw_real *acc, int first,
                          isw_real *gout, const isw_real *g, const isw_real *s, const isw_real *w,
                          double beta, int64_t rows, int64_t h) {
  /* differentiates Zout = s(Zin Wᵀ + XU): dA = G ⊙ s'(A) (and Σ dA on the way) */
  act_back(ref, act, da, acc, first, g, s, rows * h);
  /* Gout (B, H) <- dA (B, H) · W (H, H) + beta Gout: dL/dZin */
  if (gout) isw_nn_gemm(ref, 0, 0, rows, h, h, 1.0, da, h, w, h, beta, gout, h);
}

void isw_deq_step_back(int ref, isw_deq_act act, isw_real *da, isw_real *gout, const isw_real *g,
                       const isw_real *s, const isw_real *w, double beta, int64_t rows, int64_t h) {
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

static int all_finite(const isw_real *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return 0;
  return 1;
}

int isw_deq_spectral_norm(double *norm, const isw_real *a, int64_t h) {
  int err = 0;
  isw_real *copy = NULL, *s = NULL;
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

int isw_deq_spectral_radius(double *rho, const isw_real *a, int64_t h) {
  int err = 0;
  isw_real *copy = NULL, *wr = NULL, *wi = NULL;
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
static double head_loss(isw_real *dy, int64_t *correct, const isw_real *yhat /* (B, K) */,
                        const isw_real *y /* (B, K) or NULL */,
                        const int32_t *label /* (B) or NULL */, int64_t rows, int64_t k,
                        double scale) {
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const isw_real *o = yhat + i * k;
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
  isw_real *zs;   /* unrolled: (N, B, H) states z_1..z_N; otherwise (2, B, H) ping-pong */
  isw_real *das;  /* unrolled: (N, B, H) dA_0..dA_{N-1}; implicit: (B, H) dA */
  isw_real *xu;   /* (B, H) U x + b */
  isw_real *g1, *g2, *gsum; /* (B, H) each: dL/dz buffers, sum of dA */
  isw_real *f;    /* (B, H) implicit: f(z*) */
  isw_real *yhat, *dy; /* (B, K) */
  isw_real *mat;  /* implicit direct: (H, H) */
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
DEQ_CLONES static double max_abs(const isw_real *x, int64_t n) {
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
static void col_sum(isw_real *out, const isw_real *a, int64_t rows, int64_t h) {
  memset(out, 0, (size_t)h * sizeof *out);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < h; ++j) out[j] += a[i * h + j];
}

/* Implicit backward: u (B, H) <- solution of u = g + J_fᵀ u at z*, J_f =
 * diag(s'(a*)) W, with f = s(a*) given as fz (B, H).  Fixed-point iteration
 * with ping-pong buffers, or per row (I - Wᵀ diag(s'_r)) u_r = g_r by LAPACK.
 * Returns the buffer holding u (one of u0, u1). */
static isw_real *implicit_solve(isw_deq_info *info, const isw_deq_model *m, isw_deq_work *ws,
                              const isw_real *g /* (B, H) */, const isw_real *fz /* (B, H) */,
                              isw_real *u0, isw_real *u1, isw_real *da, int64_t rows,
                              const isw_deq_bwd_opts *bwd) {
  int64_t h = m->h, n = rows * h;
  if (h <= bwd->direct_width) {
    isw_real *dsig = da; /* (B, H) s'(a*) */
    isw_real *ones = u1;
    for (int64_t i = 0; i < n; ++i) ones[i] = 1.0;
    act_back(ws->ref, m->act, dsig, NULL, 0, ones, fz, n);
    for (int64_t r = 0; r < rows; ++r) {
      const isw_real *dr = dsig + r * h;
      isw_real *ur = u0 + r * h;
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
    isw_real *t = u0;
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

int isw_deq_loss_grad(double *loss, isw_real *grad, isw_deq_info *info, const isw_deq_model *m,
                      isw_deq_work *ws, const isw_real *x, const isw_real *y, const int32_t *label,
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
  isw_real *zcur = ws->zs;
  isw_deq_step(ref, m->act, zcur, NULL, m->W, ws->xu, rows, h);
  for (int64_t it = 1; it < n_iters; ++it) {
    isw_real *znext = keep ? ws->zs + it * bh : (zcur == ws->zs ? ws->zs + bh : ws->zs);
    isw_deq_step(ref, m->act, znext, zcur, m->W, ws->xu, rows, h);
    zcur = znext;
  }
  const isw_real *zn = zcur; /* z_N (B, H) */
  info->state_max = max_abs(zn, bh);
  /* head: yhat = z_N Vᵀ + c */
  isw_deq_affine(ref, ws->yhat, zn, m->V, m->c, rows, k, h);
  *loss = head_loss(grad ? ws->dy : NULL, NULL, ws->yhat, y, label, rows, k, (double)rows) /
          (double)rows;
  if (!grad) goto cleanup;

  isw_real *gW = grad, *gU = gW + h * h, *gb = gU + h * d, *gV = gb + h, *gc = gV + k * h;
  memset(grad, 0, (size_t)m->n_params * sizeof *grad);
  /* differentiates yhat = z_N Vᵀ + c: dV (K, H) = dYᵀ (K, B) · z_N (B, H), dc = Σ_rows dY */
  isw_nn_gemm(ref, 1, 0, k, h, rows, 1.0, ws->dy, k, zn, h, 0.0, gV, h);
  col_sum(gc, ws->dy, rows, k);
  /* G (B, H) = dL/dz_N = dY (B, K) · V (K, H) */
  isw_nn_gemm(ref, 0, 0, rows, h, k, 1.0, ws->dy, k, m->V, h, 0.0, ws->g1, h);
  const isw_real *dxu = ws->gsum; /* (B, H) dL/dXU */

  if (mode == ISW_DEQ_UNROLLED) {
    /* backprop through z_{k+1} = s(z_k Wᵀ + XU), k = N-1 .. 0 */
    isw_real *g = ws->g1, *gnext = ws->g2;
    for (int64_t it = n_iters - 1; it >= 0; --it) {
      isw_real *da = ws->das + it * bh;
      /* dA_k = G ⊙ s'(A_k) from z_{k+1}, dXU = Σ_k dA_k on the way;
         G <- dA_k · W = dL/dz_k (not needed at k = 0) */
      step_back_sum(ref, m->act, da, ws->gsum, it == n_iters - 1, it > 0 ? gnext : NULL, g,
                    ws->zs + it * bh, m->W, 0.0, rows, h);
      isw_real *t = g;
      g = gnext;
      gnext = t;
    }
    /* dW (H, H) = Σ_{k=1}^{N-1} dA_kᵀ z_k: one GEMM over the stacked rows, R = (N-1) B:
       dAs[1..N-1]ᵀ (H, R) · zs[0..N-2] (R, H)  (z_0 = 0 adds nothing) */
    if (n_iters > 1)
      isw_nn_gemm(ref, 1, 0, h, h, (n_iters - 1) * rows, 1.0, ws->das + bh, h, ws->zs, h, 0.0,
                   gW, h);
  } else {
    /* implicit: a* = z* Wᵀ + XU, f = s(a*) gives s'(a*); solve u = G + J_fᵀ u */
    isw_deq_step(ref, m->act, ws->f, zn, m->W, ws->xu, rows, h);
    isw_real *u = implicit_solve(info, m, ws, ws->g1, ws->f, ws->g2, ws->gsum, ws->das, rows, bwd);
    /* dA = u ⊙ s'(a*) (B, H) */
    act_back(ref, m->act, ws->das, NULL, 0, u, ws->f, bh);
    /* dW (H, H) = dAᵀ (H, B) · z* (B, H) */
    isw_nn_gemm(ref, 1, 0, h, h, rows, 1.0, ws->das, h, zn, h, 0.0, gW, h);
    dxu = ws->das; /* XU enters f once */
  }
  /* differentiates XU = X Uᵀ + b: dU (H, D) = dXUᵀ (H, B) · X (B, D), db = Σ_rows dXU */
  isw_nn_gemm(ref, 1, 0, h, d, rows, 1.0, dxu, h, x, d, 0.0, gU, d);
  col_sum(gb, dxu, rows, h);
cleanup:
  return err;
}

/* ---- evaluation --------------------------------------------------------------------- */

/* Per-row relative residual ||f - z|| / ||f|| (||f|| = 0: 0 when f = z, else
 * ||f - z|| / ||z||); adds the sum to *sum and the max to *mx. */
static void residuals(double *sum, double *mx, const isw_real *z, const isw_real *f, int64_t rows,
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

int isw_deq_evaluate(isw_deq_eval *out, const isw_deq_model *m, const isw_real *x, const isw_real *y,
                     const int32_t *label, int64_t n, const int64_t *iters, int t,
                     const isw_deq_eval_opts *o) {
  int err = 0;
  int64_t h = m->h, d = m->d, k = m->k;
  int64_t chunk = o->chunk > 0 ? o->chunk : 2048;
  if (chunk > n) chunk = n;
  isw_real *xu = NULL, *z = NULL, *f = NULL, *yhat = NULL;
  double *loss = NULL, *rsum = NULL, *rmax = NULL;
  double *lu = NULL; /* LAPACK factor: double */
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
    const isw_real *xc = x + r0 * d, *yc = y ? y + r0 * k : NULL;
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
      isw_real *tmp = z;
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
        isw_real *tmp = z;
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
