/* nn.c — the GEMM entry and Adam shared by the neural families (nn.h).
 * Owns no state; never talks MPI or HDF5.  Typed source: built for double
 * as it is and for float by nn_s.c (nn.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/nn.h"

/* ---- the small-width path ---------------------------------------------------
 * At widths <= 32 OpenBLAS spends about as long packing its operands as
 * multiplying them (perf, deq step at width 16, float64: dgemm kernel 35 %,
 * packing 13 % of the step), so op(A) = A (m, k) with n, k <= NN_SMALL_MAX
 * is done here without packing A: C is cut into tiles of rb rows by nv
 * 32-byte vectors whose accumulators stay in registers, and each element is
 * acc = Σ_l a_il b_lj accumulated in l order from 0, one fused multiply-add
 * per term, then C = alpha acc + D (D = beta C, or an addend matrix), two
 * roundings.  That is the order and rounding of the OpenBLAS 0.3.21
 * Haswell/Zen dgemm kernel for every row but a lone last one (its one-row
 * kernel sums in another order), so the rows are done two by two and an odd
 * last row goes to BLAS: in float64 the results are bitwise those of
 * OpenBLAS on this machine (test_nn_small: 0 difference), and within
 * rounding of any BLAS elsewhere.  Bᵀ (tb) is transposed into a (k, n) block on the
 * stack first.  Only on x86-64 CPUs with AVX2 and FMA (checked at run time;
 * the kernel is compiled for them, plain C on GCC's vector types with fma()
 * per lane, which GCC turns into vfmadd); elsewhere BLAS. */
#ifdef ISW_REAL_FLOAT
/* float32: off.  Faster at n = k = 16 ((512, 16)·(16, 16): 6.1 us, sgemm
 * 9.3 us), slower at 32 (22.1 us, sgemm 16.6 us), and OpenBLAS's sgemm
 * kernel sums in another order, so it would change float32 results. */
#define NN_SMALL_MAX 0
#else
#define NN_SMALL_MAX 32
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define NN_SMALL 1
#define NN_LANES ((int)(32 / sizeof(isw_real)))
typedef isw_real nn_v __attribute__((vector_size(32)));
#ifdef ISW_REAL_FLOAT
#define NN_FMA fmaf
#else
#define NN_FMA fma
#endif
#define NN_TARGET __attribute__((target("avx2,fma")))
#define NN_INLINE static inline __attribute__((always_inline)) NN_TARGET
#ifndef NN_RB4 /* rows per tile of 4, 2 and 1 vectors: 12, 12 and 8 accumulators */
#define NN_RB4 3
#define NN_RB2 6
#define NN_RB1 8
#endif
#define NN_RB 8 /* the most rows of a tile */
/* the tile loops unrolled, so the accumulators are registers, not a stack array */
#define NN_UNROLL _Pragma("GCC unroll 8")

/* a ⊙ b + c per lane, each lane rounded once. */
NN_INLINE nn_v nn_fma(nn_v a, nn_v b, nn_v c) {
  nn_v r;
  NN_UNROLL for (int q = 0; q < NN_LANES; ++q) r[q] = NN_FMA(a[q], b[q], c[q]);
  return r;
}

/* (x, ..., x) */
NN_INLINE nn_v nn_splat(isw_real x) {
  nn_v r;
  NN_UNROLL for (int q = 0; q < NN_LANES; ++q) r[q] = x;
  return r;
}

/* One tile, rows [0, rb) × columns [0, nv L): acc = Σ_{l<k} A[r][l] Bt[l][.]
 * (A (rb, k) lda, Bt (k, nv L) ldbt), then C = alpha acc + D with D = 0
 * (d NULL), beta D or D (beta 1) read at d (ldd; d may be c). */
NN_INLINE void nn_tile(int rb, int nv, int64_t k, nn_v alpha, const isw_real *a, int64_t ar, int64_t al,
                       const isw_real *bt, int64_t ldbt, isw_real beta, const isw_real *d, int64_t ldd,
                       isw_real *c, int64_t ldc) {
  nn_v acc[NN_RB][4];
  NN_UNROLL for (int r = 0; r < rb; ++r)
    NN_UNROLL for (int v = 0; v < nv; ++v) acc[r][v] = (nn_v){0};
  for (int64_t l = 0; l < k; ++l) {
    nn_v bv[4];
    NN_UNROLL for (int v = 0; v < nv; ++v) memcpy(&bv[v], bt + l * ldbt + v * NN_LANES, sizeof bv[v]);
    NN_UNROLL for (int r = 0; r < rb; ++r) {
      nn_v av = nn_splat(a[r * ar + l * al]);
      NN_UNROLL for (int v = 0; v < nv; ++v) acc[r][v] = nn_fma(av, bv[v], acc[r][v]);
    }
  }
  NN_UNROLL for (int r = 0; r < rb; ++r)
    NN_UNROLL for (int v = 0; v < nv; ++v) {
      nn_v dv = (nn_v){0};
      if (d) {
        memcpy(&dv, d + r * ldd + v * NN_LANES, sizeof dv);
        if (beta != 1.0) dv *= beta;
      }
      dv += alpha * acc[r][v];
      memcpy(c + r * ldc + v * NN_LANES, &dv, sizeof dv);
    }
}

/* nv vectors of columns of C (m rows): tiles of rb rows, the last rows one by one. */
NN_INLINE void nn_panel(int rb, int nv, int64_t m, int64_t k, nn_v alpha, const isw_real *a, int64_t ar,
                        int64_t al, const isw_real *bt, int64_t ldbt, isw_real beta, const isw_real *d,
                        int64_t ldd, isw_real *c, int64_t ldc) {
  int64_t i = 0;
  for (; i + rb <= m; i += rb)
    nn_tile(rb, nv, k, alpha, a + i * ar, ar, al, bt, ldbt, beta, d ? d + i * ldd : NULL, ldd, c + i * ldc, ldc);
  for (; i < m; ++i)
    nn_tile(1, nv, k, alpha, a + i * ar, ar, al, bt, ldbt, beta, d ? d + i * ldd : NULL, ldd, c + i * ldc, ldc);
}

/* C (m, n) <- alpha op(A) (m, k) · Bt (k, n) + D (nn_tile), op(A)[i][l] at
 * a[i ar + l al], Bt row-major with ldbt. */
static NN_TARGET void nn_small(int64_t m, int64_t n, int64_t k, isw_real alpha, const isw_real *a,
                               int64_t ar, int64_t al, const isw_real *bt, int64_t ldbt, isw_real beta,
                               const isw_real *d, int64_t ldd, isw_real *c, int64_t ldc) {
  nn_v alv = nn_splat(alpha);
  int64_t j = 0;
#define NN_PANEL(rb, nv) \
  nn_panel(rb, nv, m, k, alv, a, ar, al, bt + j, ldbt, beta, d ? d + j : NULL, ldd, c + j, ldc)
  for (; j + 4 * NN_LANES <= n; j += 4 * NN_LANES) NN_PANEL(NN_RB4, 4);
  for (; j + 2 * NN_LANES <= n; j += 2 * NN_LANES) NN_PANEL(NN_RB2, 2);
  for (; j + NN_LANES <= n; j += NN_LANES) NN_PANEL(NN_RB1, 1);
#undef NN_PANEL
  for (; j < n; ++j) /* the last columns one by one, in the same order and rounding */
    for (int64_t i = 0; i < m; ++i) {
      isw_real s = 0.0, dv = d ? (beta == 1.0 ? d[i * ldd + j] : beta * d[i * ldd + j]) : (isw_real)0.0;
      for (int64_t l = 0; l < k; ++l) s = NN_FMA(a[i * ar + l * al], bt[l * ldbt + j], s);
      c[i * ldc + j] = dv + alpha * s;
    }
}
#endif

#ifndef ISW_REAL_FLOAT /* precision-neutral: built once */
int isw_nn_small_available(void) {
#ifdef NN_SMALL
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}
#endif

/* C (m, n) <- alpha op(A) (m, k) · op(B) + D on the small path when it
 * applies (returns 1), else 0 with C untouched.  D: 0 (d NULL), beta D or D
 * (beta 1) at d (ldd; d may be c).  Only op(A) = A (m, k) with n, k <=
 * NN_SMALL_MAX: Aᵀ (the dW = Σ_rows products, k = rows) stays with BLAS,
 * which packs once for a long sum (at (16, 4608)ᵀ·(4608, 16) float64 it
 * took 91 us, this path with OpenBLAS's blocking of the sum 99 us). */
static int gemm_small(int ta, int tb, int64_t m, int64_t n, int64_t k, isw_real alpha, const isw_real *a,
                      int64_t lda, const isw_real *b, int64_t ldb, isw_real beta, const isw_real *d,
                      int64_t ldd, isw_real *c, int64_t ldc) {
#ifdef NN_SMALL
  int64_t me = m - m % 2; /* rows done here; an odd last row by BLAS (OpenBLAS's order) */
  if (ta || n > NN_SMALL_MAX || k > NN_SMALL_MAX || k < 1 || me == 0 || !isw_nn_small_available()) return 0;
  if (!tb) {
    nn_small(me, n, k, alpha, a, lda, 1, b, ldb, beta, d, ldd, c, ldc);
  } else {
    isw_real bt[32 * 32]; /* (k, n) = Bᵀ, B (n, k); n, k <= NN_SMALL_MAX <= 32 */
    for (int64_t l = 0; l < k; ++l)
      for (int64_t j = 0; j < n; ++j) bt[l * n + j] = b[j * ldb + l];
    nn_small(me, n, k, alpha, a, lda, 1, bt, n, beta, d, ldd, c, ldc);
  }
  if (me < m) {
    isw_real *cl = c + me * ldc;
    if (d && d != c) memcpy(cl, d + me * ldd, (size_t)n * sizeof *cl);
    isw_nn_gemm(ISW_NN_BLAS, 0, tb, 1, n, k, alpha, a + me * lda, lda, b, ldb, d ? beta : 0.0, cl, ldc);
  }
  return 1;
#else
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb;
  (void)beta, (void)d, (void)ldd, (void)c, (void)ldc;
  return 0;
#endif
}

void isw_nn_gemm(int ref, int ta, int tb, int64_t m, int64_t n, int64_t k, isw_real alpha,
                 const isw_real *a, int64_t lda, const isw_real *b, int64_t ldb, isw_real beta,
                 isw_real *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (ref == ISW_NN_FAST &&
      gemm_small(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, beta == 0.0 ? NULL : c, ldc, c, ldc))
    return;
  if (ref != ISW_NN_REF) {
    /* beta = 0: C zeroed here and accumulated onto (beta 1).  OpenBLAS does
       the same (its beta kernel zeroes C, then the same GEMM kernels add),
       so the result is bitwise the one of beta = 0, but its zeroing pass is
       slower than memset: at (512, 16)·(16, 16), 10.4 -> 7.8 us in float,
       17.1 -> 15.6 us in double (thread CPU time, this machine). */
    if (beta == 0.0) {
      if (ldc == n)
        memset(c, 0, (size_t)(m * n) * sizeof *c);
      else
        for (int64_t i = 0; i < m; ++i) memset(c + i * ldc, 0, (size_t)n * sizeof *c);
      beta = 1.0;
    }
    /* C (m, n) <- alpha op(A) (m, k) · op(B) (k, n) + beta C */
    ISW_BLAS(gemm)(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t l = 0; l < k; ++l)
        s += (ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
      c[i * ldc + j] = (isw_real)(alpha * s + (beta == 0.0 ? 0.0 : beta * c[i * ldc + j]));
    }
}

void isw_nn_gemm_add(int ref, int tb, int64_t m, int64_t n, int64_t k, const isw_real *a, int64_t lda,
                     const isw_real *b, int64_t ldb, const isw_real *d, int64_t ldd, isw_real *c,
                     int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (ref == ISW_NN_FAST && gemm_small(0, tb, m, n, k, 1.0, a, lda, b, ldb, 1.0, d, ldd, c, ldc)) return;
  if (ldc == n && ldd == n)
    memcpy(c, d, (size_t)(m * n) * sizeof *c);
  else
    for (int64_t i = 0; i < m; ++i) memcpy(c + i * ldc, d + i * ldd, (size_t)n * sizeof *c);
  /* C (m, n) <- A (m, k) · op(B) (k, n) + C */
  isw_nn_gemm(ref, 0, tb, m, n, k, 1.0, a, lda, b, ldb, 1.0, c, ldc);
}

#ifndef ISW_REAL_FLOAT /* precision-neutral: built once */
int isw_nn_adam_create(isw_nn_adam **out, int64_t n, double lr) {
  int err = 0;
  isw_nn_adam *a = NULL;
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
  isw_nn_adam_destroy(&a);
  return err;
}

void isw_nn_adam_destroy(isw_nn_adam **a) {
  if (!a || !*a) return;
  free((*a)->m);
  free((*a)->v);
  free(*a);
  *a = NULL;
}
#endif

void isw_nn_adam_step(isw_nn_adam *a, isw_real *theta, const isw_real *grad) {
  const double b1 = a->beta1, b2 = a->beta2;
  a->t += 1;
  a->pow1 *= b1;
  a->pow2 *= b2;
  /* lr m̂ / (sqrt(v̂) + eps) = step · m / (sqrt(v) + eps sqrt(1 - b2^t)) */
  double step = a->lr * sqrt(1.0 - a->pow2) / (1.0 - a->pow1), eps = a->eps * sqrt(1.0 - a->pow2);
  for (int64_t i = 0; i < a->n; ++i) {
    a->m[i] = b1 * a->m[i] + (1.0 - b1) * grad[i];
    a->v[i] = b2 * a->v[i] + (1.0 - b2) * grad[i] * grad[i];
    theta[i] -= (isw_real)(step * a->m[i] / (sqrt(a->v[i]) + eps));
  }
}
