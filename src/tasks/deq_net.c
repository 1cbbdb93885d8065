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
#include "isweep/solvers.h"

/* ---- activation kernels ------------------------------------------------------
 * tanh dominates the per-element cost at small widths (libm: ~9 ns), so the
 * BLAS path uses a branch-free vector kernel (~0.8 ns): tanh(x) = E / (E + 2)
 * with E = expm1(2x), x clamped to [-C, C] (tanh = ±1 to rounding there),
 * expm1(r), r = 2x/2^D, by its Taylor polynomial to degree 10 (Estrin's
 * scheme for instruction-level parallelism), then D doublings
 * E <- E (E + 2), which never cancel.  NaN propagates.
 * double: C = 20, D = 8 (|r| <= 0.157, truncation < 1e-16 relative).
 * float: C = 10 (tanh(10) rounds to 1), D = 4 (|r| <= 1.25).  Each doubling
 * adds about two roundings, so fewer are more accurate: max relative error
 * 4.7e-7 (D = 8: 5.5e-7) against libm tanh in double on 2^23 points of
 * [-25, 25] (test_deq_f32); the truncation r^10/11! (<= 2.4e-7 at |x| = 10)
 * enters tanh multiplied by 2 / (E + 2) <= 2e^-2|x| and vanishes.  Four
 * doublings fewer halve the float kernel's time (1.6 -> 0.84 ns per element,
 * thread CPU time on this machine's AMD EPYC, AVX2 clone).
 * The functions are cloned for AVX-512 / AVX2 / baseline x86-64 (picked at
 * load time) where the compiler supports it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define DEQ_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DEQ_CLONES
#endif

/* One 32-byte register of isw_real (8 floats or 4 doubles) and the integer
 * lanes of its comparisons.  32 bytes, not 64: on the AVX2 clone GCC 12
 * lowered 64-byte double vectors through the stack and general registers
 * (perf annotate, width 16: tanh_fast was 68 % of a float64 step); the
 * arithmetic per element is the same at any lane count (no FP contraction
 * under -std=c17), so results are bitwise unchanged. */
#define DEQ_LANES ((int)(32 / sizeof(isw_real)))
#ifdef ISW_REAL_FLOAT
typedef float deq_v8 __attribute__((vector_size(32)));
typedef int deq_v8i __attribute__((vector_size(32)));
#else
typedef double deq_v8 __attribute__((vector_size(32)));
typedef long long deq_v8i __attribute__((vector_size(32)));
#endif
#define RC(v) ((isw_real)(v)) /* a constant in the lanes' type */
#ifdef ISW_REAL_FLOAT
#define DEQ_TANH_CLAMP 10.0 /* C and D of the tanh kernel (above) */
#define DEQ_TANH_DOUBLINGS 4
#else
#define DEQ_TANH_CLAMP 20.0
#define DEQ_TANH_DOUBLINGS 8
#endif
#ifdef ISW_REAL_FLOAT
#define DEQ_NOSIGN INT32_MAX /* every bit of a lane but the sign */
#else
#define DEQ_NOSIGN INT64_MAX
#endif

/* p (u DEQ_LANES) <- tanh(p) in place, u <= DEQ_TANH_U vectors side by
 * side: the same operations on each lane as one vector at a time (results
 * bitwise the same), interleaved so the core overlaps the u dependency
 * chains (the doublings are a serial chain of 16 operations). */
#ifndef DEQ_TANH_U
#define DEQ_TANH_U 4
#endif
#define DEQ_EACH _Pragma("GCC unroll 4") for (int q = 0; q < u; ++q)
static inline __attribute__((always_inline)) void tanh8(isw_real *p, int u) {
  deq_v8 x[DEQ_TANH_U], r[DEQ_TANH_U], e[DEQ_TANH_U];
  const deq_v8 hi = (deq_v8){0} + RC(DEQ_TANH_CLAMP);
  DEQ_EACH {
    memcpy(&x[q], p + q * DEQ_LANES, sizeof x[q]);
    deq_v8i over = x[q] > hi, under = x[q] < -hi; /* false for NaN: NaN stays NaN */
    x[q] = (deq_v8)((over & (deq_v8i)hi) | (~over & (deq_v8i)x[q]));
    x[q] = (deq_v8)((under & (deq_v8i)(-hi)) | (~under & (deq_v8i)x[q]));
    r[q] = x[q] * RC(2.0 / (double)(1 << DEQ_TANH_DOUBLINGS));
  }
  /* expm1(r) = r (1 + r/2! + r²/3! + ... + r⁹/10!), Estrin: pairs, then r², r⁴, r⁸ */
  DEQ_EACH {
    deq_v8 rr = r[q], r2 = rr * rr, r4 = r2 * r2, r8 = r4 * r4;
    deq_v8 a0 = RC(1.0) + rr * RC(1.0 / 2.0), a1 = RC(1.0 / 6.0) + rr * RC(1.0 / 24.0);
    deq_v8 a2 = RC(1.0 / 120.0) + rr * RC(1.0 / 720.0), a3 = RC(1.0 / 5040.0) + rr * RC(1.0 / 40320.0);
    deq_v8 a4 = RC(1.0 / 362880.0) + rr * RC(1.0 / 3628800.0);
    e[q] = rr * ((a0 + r2 * a1) + r4 * (a2 + r2 * a3) + r8 * a4);
  }
  for (int i = 0; i < DEQ_TANH_DOUBLINGS; ++i)
    DEQ_EACH e[q] = e[q] * (e[q] + RC(2.0)); /* expm1(2t) = expm1(t)(expm1(t) + 2) */
  DEQ_EACH {
    x[q] = e[q] / (e[q] + RC(2.0));
    memcpy(p + q * DEQ_LANES, &x[q], sizeof x[q]);
  }
}

/* x (n) <- tanh(x), vector kernel. */
DEQ_CLONES static void tanh_fast(isw_real *x, int64_t n) {
  int64_t i = 0;
  for (; i + DEQ_TANH_U * DEQ_LANES <= n; i += DEQ_TANH_U * DEQ_LANES) tanh8(x + i, DEQ_TANH_U);
  for (; i + DEQ_LANES <= n; i += DEQ_LANES) tanh8(x + i, 1);
  if (i < n) {
    isw_real t[DEQ_LANES];
    memset(t, 0, sizeof t);
    memcpy(t, x + i, (size_t)(n - i) * sizeof *t);
    tanh8(t, 1);
    memcpy(x + i, t, (size_t)(n - i) * sizeof *t);
  }
}

/* da (n) <- g ⊙ (1 - s²): the tanh derivative from its output, vector kernel;
 * when acc != NULL also acc (n) <- da (first) or acc + da (a running Σ_k dA_k). */
DEQ_CLONES static void tanh_back_fast(isw_real *da, isw_real *acc, int first, const isw_real *g,
                                      const isw_real *s, int64_t n) {
  int64_t i = 0;
  for (; i + DEQ_LANES <= n; i += DEQ_LANES) {
    deq_v8 gv, sv, av;
    memcpy(&gv, g + i, sizeof gv);
    memcpy(&sv, s + i, sizeof sv);
    gv = gv * (RC(1.0) - sv * sv);
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
  /* A (B, H) <- Zin (B, H) · Wᵀ (H, H) + XU (z = 0: XU) */
  if (zin)
    isw_nn_gemm_add(ref, 1, rows, h, h, zin, h, w, h, xu, h, zout, h);
  else
    memcpy(zout, xu, (size_t)(rows * h) * sizeof *zout);
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
  lapack_int info = ISW_LAPACKE(gesdd)(LAPACK_ROW_MAJOR, 'N', (lapack_int)h, (lapack_int)h, copy,
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
  lapack_int info = ISW_LAPACKE(geev)(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int)h, copy, (lapack_int)h,
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

/* x (n) <- N(mean, sd²) draws from r: the same draws in both precisions
 * (float: drawn in double, then rounded).  Returns ISW_ENOMEM. */
static int normal_fill(isw_rng *r, isw_real *x, int64_t n, double mean, double sd) {
  int err = 0;
#ifdef ISW_REAL_FLOAT
  double *t = NULL;
  ISW_ALLOC(t, n > 0 ? n : 1);
  isw_rng_normal_fill(r, t, (size_t)n, mean, sd);
  for (int64_t i = 0; i < n; ++i) x[i] = (isw_real)t[i];
cleanup:
  free(t);
#else
  isw_rng_normal_fill(r, x, (size_t)n, mean, sd);
#endif
  return err;
}

int isw_deq_model_init(isw_deq_model *m, double w_scale, isw_rng *r) {
  int err = 0;
  int64_t h = m->h, d = m->d, k = m->k;
  memset(m->theta, 0, (size_t)m->n_params * sizeof *m->theta);
  ISW_CALL(normal_fill(r, m->W, h * h, 0.0, 1.0));
  double norm = 0.0;
  ISW_CALL(isw_deq_spectral_norm(&norm, m->W, h));
  double scale = norm > 0.0 ? w_scale / norm : 0.0;
  for (int64_t i = 0; i < h * h; ++i) m->W[i] *= scale;
  ISW_CALL(normal_fill(r, m->U, h * d, 0.0, 1.0 / sqrt((double)d)));
  ISW_CALL(normal_fill(r, m->V, k * h, 0.0, 1.0 / sqrt((double)h)));
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
  isw_real *zs;   /* unrolled / phantom: (S, B, H) the S stored states z^(1)..z^(S);
                     implicit: (2, B, H) ping-pong */
  isw_real *das;  /* unrolled / phantom: (S, B, H) dA_0..dA_{S-1}; implicit: (B, H) dA */
  isw_real *xu;   /* (B, H) U x + b */
  isw_real *g1, *g2, *gsum; /* (B, H) each: dL/dz buffers, sum of dA */
  isw_real *f;    /* (B, H) implicit: f(z*) */
  isw_real *yhat, *dy; /* (B, K) */
  isw_real *mat;  /* implicit direct: (H, H) */
  lapack_int *ipiv; /* implicit direct: (H) */
  /* made on first use */
  isw_real *pz;   /* phantom / jfb / non-Picard forward: (3, B, H) z, f(z), next */
  isw_real *ss;   /* damped stored steps: (S, B, H) s(A_i) */
  isw_real *jb;   /* Jacobian term: (5, B, H) S = f(z_N), E, GV, DE, DA */
  isw_real *au;   /* non-Picard adjoint: (B, H) scratch */
  isw_solver *fsolv, *asolv;
  isw_solver_opts fsolv_o, asolv_o;
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
  int stores = mode != ISW_DEQ_IMPLICIT;
  int64_t nz = stores ? (n_iters > 2 ? n_iters : 2) : 2;
  int64_t nda = stores ? n_iters : 1;
  ISW_ALLOC(ws->zs, nz * b * h);
  ISW_ALLOC(ws->das, nda * b * h);
  ISW_ALLOC(ws->xu, b * h);
  ISW_ALLOC(ws->g1, b * h);
  ISW_ALLOC(ws->g2, b * h);
  ISW_ALLOC(ws->gsum, b * h);
  ISW_ALLOC(ws->yhat, b * k);
  ISW_ALLOC(ws->dy, b * k);
  ws->bytes = (int64_t)sizeof(isw_real) * ((nz + nda + 4) * b * h + 2 * b * k);
  if (mode == ISW_DEQ_IMPLICIT) {
    ISW_ALLOC(ws->f, b * h);
    ISW_ALLOC(ws->mat, h * h);
    ISW_ALLOC(ws->ipiv, h);
    ws->bytes += (int64_t)sizeof(isw_real) * (b * h + h * h) + (int64_t)sizeof(lapack_int) * h;
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
  free(w->pz);
  free(w->ss);
  free(w->jb);
  free(w->au);
  isw_solver_destroy(&w->fsolv);
  isw_solver_destroy(&w->asolv);
  free(w);
  *ws = NULL;
}

void isw_deq_work_set_reference(isw_deq_work *ws, int ref) { ws->ref = ref; }
int64_t isw_deq_work_bytes(const isw_deq_work *ws) { return ws->bytes; }

/* *p <- a buffer of n reals held by ws, made on first use. */
static int lazy(isw_real **p, isw_deq_work *ws, int64_t n) {
  int err = 0;
  if (*p) return 0;
  ISW_ALLOC(*p, n);
  ws->bytes += (int64_t)sizeof(isw_real) * n;
cleanup:
  return err;
}

/* *s <- a solver with options o (remade when they changed), held by ws. */
static int lazy_solver(isw_solver **s, isw_solver_opts *held, isw_deq_work *ws,
                       const isw_solver_opts *o) {
  int err = 0;
  if (*s && memcmp(held, o, sizeof *o) == 0) return 0;
  isw_solver_destroy(s);
  ISW_CALL(isw_solver_create(s, o, ws->max_rows, ws->h));
  *held = *o;
cleanup:
  return err;
}

/* Solver options with the zeroed-means-plain convention resolved. */
static isw_solver_opts solver_resolved(const isw_solver_opts *o) {
  isw_solver_opts r = {.kind = ISW_SOLVER_PICARD, .beta = 1.0, .m = 1, .lambda = 0.0};
  if (!o) return r;
  r = *o;
  if (r.beta == 0.0) r.beta = 1.0;
  if (r.m < 1) r.m = 1;
  return r;
}

static int plain_picard(const isw_solver_opts *o) {
  return o->kind == ISW_SOLVER_PICARD && o->beta == 1.0;
}

/* ---- loss and gradient ---------------------------------------------------------- */

/* max_i |x_i|, or NaN when some x_i is not finite; vector kernel. */
DEQ_CLONES static double max_abs(const isw_real *x, int64_t n) {
  const deq_v8i nosign = (deq_v8i){0} + DEQ_NOSIGN;
  deq_v8 mx = {0}, bad = {0};
  int64_t i = 0;
  for (; i + DEQ_LANES <= n; i += DEQ_LANES) {
    deq_v8 v;
    memcpy(&v, x + i, sizeof v);
    bad += v * 0.0; /* NaN as soon as one entry is NaN or infinite */
    v = (deq_v8)((deq_v8i)v & nosign);
    deq_v8i gt = v > mx;
    mx = (deq_v8)((gt & (deq_v8i)v) | (~gt & (deq_v8i)mx));
  }
  double m = 0.0, b = 0.0;
  for (int j = 0; j < DEQ_LANES; ++j) {
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

/* The adjoint map F(u) = g + J_fᵀ u at z*, for the solvers. */
typedef struct {
  const isw_deq_model *m;
  const isw_deq_work *ws;
  const isw_real *g, *fz; /* (B, H) dL/dz*, f(z*) */
  isw_real *da;           /* (B, H) scratch */
} adjoint_ctx;

static int adjoint_map(void *ctx, isw_real *out, const isw_real *u, int64_t rows) {
  const adjoint_ctx *a = ctx;
  int64_t h = a->m->h;
  memcpy(out, a->g, (size_t)(rows * h) * sizeof *out);
  /* out (B, H) <- g + (u ⊙ s'(a*)) · W */
  isw_deq_step_back(a->ws->ref, a->m->act, a->da, out, u, a->fz, a->m->W, 1.0, rows, h);
  return 0;
}

/* Implicit backward: *u (B, H) <- solution of u = g + J_fᵀ u at z*, J_f =
 * diag(s'(a*)) W, with f = s(a*) given as fz (B, H).  Per row (I - Wᵀ
 * diag(s'_r)) u_r = g_r by LAPACK when H <= direct_width; else the adjoint
 * solver: Picard (the fixed-point iteration with ping-pong buffers), or
 * Anderson / Broyden through isw_solver_solve.  *u is one of u0, u1, ws->au. */
static int implicit_solve(isw_real **u, isw_deq_info *info, const isw_deq_model *m,
                          isw_deq_work *ws, const isw_real *g /* (B, H) */,
                          const isw_real *fz /* (B, H) */, isw_real *u0, isw_real *u1,
                          isw_real *da, int64_t rows, const isw_deq_bwd_opts *bwd) {
  int err = 0;
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
      lapack_int info_l = ISW_LAPACKE(gesv)(LAPACK_ROW_MAJOR, (lapack_int)h, 1, ws->mat, (lapack_int)h,
                                        ws->ipiv, ur, 1);
      if (info_l != 0)
        for (int64_t j = 0; j < h; ++j) ur[j] = NAN;
    }
    info->bwd_iters = 0;
    info->bwd_converged = 1;
    *u = u0;
    goto cleanup;
  }
  if (bwd->adjoint != ISW_SOLVER_PICARD) {
    isw_solver_opts so = solver_resolved(&bwd->fwd);
    so.kind = bwd->adjoint;
    so.beta = 1.0;
    ISW_CALL(lazy(&ws->au, ws, ws->max_rows * h));
    ISW_CALL(lazy_solver(&ws->asolv, &ws->asolv_o, ws, &so));
    int64_t fb0 = isw_solver_fallbacks(ws->asolv);
    adjoint_ctx ctx = {.m = m, .ws = ws, .g = g, .fz = fz, .da = da};
    isw_solver_result res;
    memcpy(u0, g, (size_t)n * sizeof *u0);
    ISW_CALL(isw_solver_solve(&res, ws->asolv, adjoint_map, &ctx, u0, u1, ws->au, rows, bwd->tol,
                              bwd->max_iter));
    info->bwd_iters = res.evals;
    info->bwd_converged = res.converged;
    info->bwd_fallbacks = isw_solver_fallbacks(ws->asolv) - fb0;
    *u = u1; /* F(u) at the last iterate: one more fixed-point step for free */
    goto cleanup;
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
  *u = u0;
cleanup:
  return err;
}

/* The N forward steps from z_0 = 0 with solver o, for every mode but
 * unrolled: *zn <- z_N, in ws->zs (implicit, plain Picard: the ping-pong
 * buffers as always) or in ws->pz. */
static int forward_solve(isw_real **zn, isw_deq_info *info, const isw_deq_model *m,
                         isw_deq_work *ws, const isw_solver_opts *o, int64_t rows, int64_t n_iters) {
  int err = 0;
  int64_t h = m->h, bh = rows * h, mb = ws->max_rows * h;
  int ref = ws->ref;
  isw_real *b0, *b1, *b2 = NULL;
  if (ws->mode == ISW_DEQ_IMPLICIT && plain_picard(o)) {
    b0 = ws->zs;
    b1 = ws->zs + bh;
  } else {
    ISW_CALL(lazy(&ws->pz, ws, 3 * mb));
    b0 = ws->pz;
    b1 = ws->pz + mb;
    b2 = ws->pz + 2 * mb;
  }
  if (plain_picard(o)) {
    /* z_1 = s(XU); z_{k+1} = s(z_k Wᵀ + XU) */
    isw_real *zcur = b0;
    isw_deq_step(ref, m->act, zcur, NULL, m->W, ws->xu, rows, h);
    for (int64_t it = 1; it < n_iters; ++it) {
      isw_real *znext = zcur == b0 ? b1 : b0;
      isw_deq_step(ref, m->act, znext, zcur, m->W, ws->xu, rows, h);
      zcur = znext;
    }
    *zn = zcur;
    goto cleanup;
  }
  ISW_CALL(lazy_solver(&ws->fsolv, &ws->fsolv_o, ws, o));
  isw_solver_reset(ws->fsolv, rows);
  int64_t fb0 = isw_solver_fallbacks(ws->fsolv);
  isw_real *z = b0, *fz = b1, *zn1 = b2;
  memset(z, 0, (size_t)bh * sizeof *z);
  for (int64_t it = 0; it < n_iters; ++it) {
    /* f(z_it) = s(z_it Wᵀ + XU), then the solver's step to z_{it+1} */
    isw_deq_step(ref, m->act, fz, it == 0 ? NULL : z, m->W, ws->xu, rows, h);
    isw_solver_step(ws->fsolv, zn1, z, fz);
    isw_real *t = z;
    z = zn1;
    zn1 = t;
  }
  info->fwd_fallbacks = isw_solver_fallbacks(ws->fsolv) - fb0;
  *zn = z;
cleanup:
  return err;
}

/* S damped Picard steps z^(i+1) = (1 - beta) z^(i) + beta s(z^(i) Wᵀ + XU)
 * from z^(0) = zstart (NULL: 0).  keep: z^(i+1) in zs[i] and, when beta < 1,
 * s(A_i) in ss[i] (for the backward); otherwise ping-pong in zs[0..1].
 * Returns z^(S). */
static isw_real *tail_forward(const isw_deq_model *m, isw_deq_work *ws, const isw_real *zstart,
                              int64_t steps, double beta, int keep, int64_t rows) {
  int64_t h = m->h, bh = rows * h;
  const isw_real *zprev = zstart;
  isw_real *zcur = NULL;
  for (int64_t i = 0; i < steps; ++i) {
    isw_real *znext = keep ? ws->zs + i * bh : (zcur == ws->zs ? ws->zs + bh : ws->zs);
    if (beta == 1.0) {
      isw_deq_step(ws->ref, m->act, znext, zprev, m->W, ws->xu, rows, h);
    } else {
      isw_real *sv = keep ? ws->ss + i * bh : ws->g2;
      isw_deq_step(ws->ref, m->act, sv, zprev, m->W, ws->xu, rows, h);
      for (int64_t q = 0; q < bh; ++q)
        znext[q] = (isw_real)((zprev ? (1.0 - beta) * zprev[q] : 0.0) + beta * sv[q]);
    }
    zprev = zcur = znext;
  }
  return zcur;
}

/* Backward of tail_forward (keep = 1) from G = dL/dz^(S) in ws->g1: dW (H, H)
 * = Σ_i dA_iᵀ z^(i) (z^(0) = zstart held constant; NULL: 0) and ws->gsum
 * (B, H) <- Σ_i dA_i = dL/dXU. */
static void tail_backward(isw_real *gW, const isw_deq_model *m, isw_deq_work *ws,
                          const isw_real *zstart, int64_t steps, double beta, int64_t rows) {
  int64_t h = m->h, bh = rows * h;
  int ref = ws->ref;
  isw_real *g = ws->g1, *gnext = ws->g2;
  for (int64_t it = steps - 1; it >= 0; --it) {
    isw_real *da = ws->das + it * bh;
    int prev = it > 0; /* dL/dz^(0) is not needed: z^(0) is 0 or held constant */
    if (beta == 1.0) {
      /* dA_k = G ⊙ s'(A_k) from z^(k+1), dXU = Σ_k dA_k on the way;
         G <- dA_k · W = dL/dz^(k) */
      step_back_sum(ref, m->act, da, ws->gsum, it == steps - 1, prev ? gnext : NULL, g,
                    ws->zs + it * bh, m->W, 0.0, rows, h);
    } else {
      /* z^(k+1) = (1 - beta) z^(k) + beta s(A_k): dA_k = beta G ⊙ s'(A_k),
         G <- (1 - beta) G + dA_k · W */
      if (prev)
        for (int64_t q = 0; q < bh; ++q) gnext[q] = (isw_real)((1.0 - beta) * g[q]);
      for (int64_t q = 0; q < bh; ++q) g[q] = (isw_real)(beta * g[q]);
      step_back_sum(ref, m->act, da, ws->gsum, it == steps - 1, prev ? gnext : NULL, g,
                    ws->ss + it * bh, m->W, 1.0, rows, h);
    }
    isw_real *t = g;
    g = gnext;
    gnext = t;
  }
  /* dW (H, H) = Σ_{k=1}^{S-1} dA_kᵀ z^(k): one GEMM over the stacked rows, R = (S-1) B:
     dAs[1..S-1]ᵀ (H, R) · zs[0..S-2] (R, H) */
  if (steps > 1)
    isw_nn_gemm(ref, 1, 0, h, h, (steps - 1) * rows, 1.0, ws->das + bh, h, ws->zs, h, 0.0, gW, h);
  /* + dA_0ᵀ (H, B) · z^(0) (B, H) */
  if (zstart) isw_nn_gemm(ref, 1, 0, h, h, rows, 1.0, ws->das, h, zstart, h, 1.0, gW, h);
}

/* The Jacobian term at z (B, H): R = c Σ_b ||v_b||², v = (eps ⊙ s'(A)) · W,
 * A = z Wᵀ + XU, c = gamma / (B H).  With grad: GV = dR/dv = 2 c v,
 * DA = dR/dA = (GV · Wᵀ) ⊙ eps ⊙ s''(A) (tanh: s'' = -2 s (1 - s²); relu,
 * identity: 0), and, when dz != NULL, dz (B, H) += DA · W.  The direct
 * terms are added to dW and dXU by jac_finish.  Buffers in ws->jb. */
static int jac_term(double *r, isw_real *dz, const isw_deq_model *m, isw_deq_work *ws,
                    const isw_real *z, const isw_real *eps, double gamma, int grad, int64_t rows) {
  int err = 0;
  int64_t h = m->h, bh = rows * h, mb = ws->max_rows * h;
  int ref = ws->ref;
  ISW_CALL(lazy(&ws->jb, ws, 5 * mb));
  isw_real *sv = ws->jb, *e = sv + mb, *gv = e + mb, *de = gv + mb, *da = de + mb;
  double c = gamma / ((double)rows * (double)h);
  /* S = s(z Wᵀ + XU); E = eps ⊙ s'(A); v = E · W (B, H) into GV */
  isw_deq_step(ref, m->act, sv, z, m->W, ws->xu, rows, h);
  act_back(ref, m->act, e, NULL, 0, eps, sv, bh);
  isw_nn_gemm(ref, 0, 0, rows, h, h, 1.0, e, h, m->W, h, 0.0, gv, h);
  double s = 0.0;
  for (int64_t q = 0; q < bh; ++q) s += (double)gv[q] * gv[q];
  *r = c * s;
  if (!grad) goto cleanup;
  for (int64_t q = 0; q < bh; ++q) gv[q] = (isw_real)(2.0 * c * gv[q]);
  /* DE (B, H) = GV (B, H) · Wᵀ: dR/dE */
  isw_nn_gemm(ref, 0, 1, rows, h, h, 1.0, gv, h, m->W, h, 0.0, de, h);
  for (int64_t q = 0; q < bh; ++q) {
    double t = m->act == ISW_DEQ_TANH ? -2.0 * sv[q] * (1.0 - (double)sv[q] * sv[q]) : 0.0;
    da[q] = (isw_real)(de[q] * eps[q] * t);
  }
  /* dR/dz (B, H) += DA · W */
  if (dz && m->act == ISW_DEQ_TANH) isw_nn_gemm(ref, 0, 0, rows, h, h, 1.0, da, h, m->W, h, 1.0, dz, h);
cleanup:
  return err;
}

/* dW (H, H) += Eᵀ GV + DAᵀ z; dxu (B, H) += DA: the Jacobian term's direct parts. */
static void jac_finish(isw_real *gW, isw_real *dxu, const isw_deq_model *m, isw_deq_work *ws,
                       const isw_real *z, int64_t rows) {
  int64_t h = m->h, bh = rows * h, mb = ws->max_rows * h;
  isw_real *e = ws->jb + mb, *gv = e + mb, *da = gv + 2 * mb;
  /* v = E W: dW += Eᵀ (H, B) · GV (B, H) */
  isw_nn_gemm(ws->ref, 1, 0, h, h, rows, 1.0, e, h, gv, h, 1.0, gW, h);
  if (m->act != ISW_DEQ_TANH) return;
  /* A = z Wᵀ + XU: dW += DAᵀ (H, B) · z (B, H), dXU += DA */
  isw_nn_gemm(ws->ref, 1, 0, h, h, rows, 1.0, da, h, z, h, 1.0, gW, h);
  for (int64_t q = 0; q < bh; ++q) dxu[q] += da[q];
}

int isw_deq_loss_grad(double *loss, isw_real *grad, isw_deq_info *info, const isw_deq_model *m,
                      isw_deq_work *ws, const isw_real *x, const isw_real *y, const int32_t *label,
                      int64_t rows, int64_t n_iters, isw_deq_grad mode,
                      const isw_deq_bwd_opts *bwd) {
  int err = 0;
  int64_t h = m->h, d = m->d, k = m->k, bh = rows * h;
  int ref = ws->ref;
  isw_deq_info local;
  static const isw_deq_bwd_opts plain = {.tol = 1e-8, .max_iter = 200};
  if (!info) info = &local;
  if (!bwd) bwd = &plain;
  memset(info, 0, sizeof *info);
  info->bwd_converged = 1;
  isw_solver_opts fo = solver_resolved(&bwd->fwd);
  int tail = mode == ISW_DEQ_PHANTOM || mode == ISW_DEQ_JFB;
  int64_t steps = mode == ISW_DEQ_UNROLLED ? n_iters
                  : mode == ISW_DEQ_PHANTOM ? bwd->phantom_k
                  : mode == ISW_DEQ_JFB     ? 1
                                            : 0;
  double beta = mode == ISW_DEQ_UNROLLED ? fo.beta
                : mode == ISW_DEQ_PHANTOM ? bwd->phantom_damping
                                          : 1.0;
  int keep = grad && (mode == ISW_DEQ_UNROLLED || tail); /* keep the states for backprop */
  int jac = bwd->jac_reg > 0.0;
  ISW_CHECK(rows >= 1 && rows <= ws->max_rows && n_iters >= 1 && h == ws->h && k == ws->k &&
                d == ws->d && (!grad || mode == ws->mode) && (!keep || steps <= ws->n_iters),
            ISW_EINTERNAL, "deq loss_grad: %lld rows, %lld iterations do not fit the workspace",
            (long long)rows, (long long)n_iters);
  ISW_CHECK(mode != ISW_DEQ_UNROLLED || fo.kind == ISW_SOLVER_PICARD, ISW_EINTERNAL,
            "deq loss_grad: unrolled backpropagates through Picard steps only, not %s",
            isw_solver_names[fo.kind]);
  ISW_CHECK(steps >= 0 && beta > 0.0 && beta <= 1.0 && (!jac || bwd->probe), ISW_EINTERNAL,
            "deq loss_grad: phantom k %lld, damping %g, jac_reg %g (probe %s)", (long long)steps,
            beta, bwd->jac_reg, bwd->probe ? "given" : "missing");
  ISW_CHECK(!tail || steps >= 1, ISW_EINTERNAL, "deq loss_grad: phantom needs k >= 1");
  if (keep && beta != 1.0)
    ISW_CALL(lazy(&ws->ss, ws, ws->n_iters * ws->max_rows * h));

  /* forward: XU = X Uᵀ + b, then the N steps (and phantom's k from z_N) */
  isw_deq_affine(ref, ws->xu, x, m->U, m->b, rows, h, d);
  isw_real *zn = NULL;  /* z_N (B, H) */
  isw_real *out = NULL; /* the state the head reads (B, H) */
  if (mode == ISW_DEQ_UNROLLED) {
    zn = out = tail_forward(m, ws, NULL, n_iters, beta, keep, rows);
  } else {
    ISW_CALL(forward_solve(&zn, info, m, ws, &fo, rows, n_iters));
    out = tail ? tail_forward(m, ws, zn, steps, beta, keep, rows) : zn;
  }
  info->state_max = max_abs(zn, bh);
  /* head: yhat = out Vᵀ + c */
  isw_deq_affine(ref, ws->yhat, out, m->V, m->c, rows, k, h);
  *loss = head_loss(grad ? ws->dy : NULL, NULL, ws->yhat, y, label, rows, k, (double)rows) /
          (double)rows;

  isw_real *gW = grad, *gU = gW + h * h, *gb = gU + h * d, *gV = gb + h, *gc = gV + k * h;
  if (grad) {
    memset(grad, 0, (size_t)m->n_params * sizeof *grad);
    /* differentiates yhat = out Vᵀ + c: dV (K, H) = dYᵀ (K, B) · out (B, H), dc = Σ_rows dY */
    isw_nn_gemm(ref, 1, 0, k, h, rows, 1.0, ws->dy, k, out, h, 0.0, gV, h);
    col_sum(gc, ws->dy, rows, k);
    /* G (B, H) = dL/d(out) = dY (B, K) · V (K, H) */
    isw_nn_gemm(ref, 0, 0, rows, h, k, 1.0, ws->dy, k, m->V, h, 0.0, ws->g1, h);
  }
  if (jac)
    ISW_CALL(jac_term(&info->jac, grad && !tail ? ws->g1 : NULL, m, ws, zn, bwd->probe,
                      bwd->jac_reg, grad != NULL, rows));
  if (!grad) goto cleanup;

  isw_real *dxu = ws->gsum; /* (B, H) dL/dXU */
  if (mode == ISW_DEQ_UNROLLED || tail) {
    tail_backward(gW, m, ws, tail ? zn : NULL, steps, beta, rows);
  } else {
    /* implicit: a* = z* Wᵀ + XU, f = s(a*) gives s'(a*); solve u = G + J_fᵀ u */
    isw_deq_step(ref, m->act, ws->f, zn, m->W, ws->xu, rows, h);
    isw_real *u = NULL;
    ISW_CALL(implicit_solve(&u, info, m, ws, ws->g1, ws->f, ws->g2, ws->gsum, ws->das, rows, bwd));
    /* dA = u ⊙ s'(a*) (B, H) */
    act_back(ref, m->act, ws->das, NULL, 0, u, ws->f, bh);
    /* dW (H, H) = dAᵀ (H, B) · z* (B, H) */
    isw_nn_gemm(ref, 1, 0, h, h, rows, 1.0, ws->das, h, zn, h, 0.0, gW, h);
    dxu = ws->das; /* XU enters f once */
  }
  if (jac) jac_finish(gW, dxu, m, ws, zn, rows);
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

/* The next iterate from *z and *f = f(*z): plain Picard (s NULL) swaps the
 * two; a solver writes *zn and rotates it into *z. */
static void advance(isw_solver *s, isw_real **z, isw_real **f, isw_real **zn) {
  isw_real *t = *z;
  if (!s) {
    *z = *f;
    *f = t;
    return;
  }
  isw_solver_step(s, *zn, *z, *f);
  *z = *zn;
  *zn = t;
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
  isw_real *lu = NULL; /* LAPACK factor */
  int64_t *correct = NULL;
  char *dead = NULL; /* (T) a chunk's state was non-finite at or before iters[j] */
  lapack_int *ipiv = NULL;
  isw_real *zn = NULL; /* (chunk, H) the solvers' next iterate */
  isw_solver *ts = NULL, *ls = NULL;
  int lu_ok = 0;
  isw_solver_opts to = solver_resolved(&o->solver), lo = solver_resolved(&o->limit_solver);
  int tplain = plain_picard(&to), lplain = plain_picard(&lo);
  ISW_CHECK(n >= 1 && t >= 0, ISW_EINTERNAL, "deq evaluate on %lld rows", (long long)n);
  for (int j = 1; j < t; ++j)
    ISW_CHECK(iters[j] > iters[j - 1] && iters[0] >= 0, ISW_EINTERNAL,
              "deq evaluate: iteration counts must ascend");
  ISW_ALLOC(xu, chunk * h);
  ISW_ALLOC(z, chunk * h);
  ISW_ALLOC(f, chunk * h);
  ISW_ALLOC(yhat, chunk * k);
  if (!tplain || !lplain) ISW_ALLOC(zn, chunk * h);
  if (!tplain) ISW_CALL(isw_solver_create(&ts, &to, chunk, h));
  if (!lplain) ISW_CALL(isw_solver_create(&ls, &lo, chunk, h));
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
            ISW_LAPACKE(getrf)(LAPACK_COL_MAJOR, (lapack_int)h, (lapack_int)h, lu, (lapack_int)h, ipiv) == 0;
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
    if (ts) isw_solver_reset(ts, rows);
    /* one pass: z holds z_it, f <- f(z_it) = z_{it+1}; record at it = iters[j] */
    int64_t it = 0;
    for (; it <= nmax && j < t; ++it) {
      isw_deq_step(0, m->act, f, it == 0 ? NULL : z, m->W, xu, rows, h);
      for (; j < t && iters[j] == it; ++j) {
        isw_deq_affine(0, yhat, z, m->V, m->c, rows, k, h);
        loss[j] += head_loss(NULL, &correct[j], yhat, yc, lc, rows, k, 1.0);
        residuals(&rsum[j], &rmax[j], z, f, rows, h);
      }
      advance(ts, &z, &f, &zn);
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
          ISW_LAPACKE(getrs)(LAPACK_COL_MAJOR, 'N', (lapack_int)h, (lapack_int)rows, lu, (lapack_int)h,
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
      if (ls) isw_solver_reset(ls, rows);
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
        advance(ls, &z, &f, &zn);
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
  out->fallbacks = ts ? isw_solver_fallbacks(ts) : 0;
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
  free(zn);
  isw_solver_destroy(&ts);
  isw_solver_destroy(&ls);
  return err;
}
