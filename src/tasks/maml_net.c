/* maml_net.c — the maml family's numerical kernels (contract in maml.h):
 * forward, backward, Hessian-vector product (R-operator), the exact
 * second-order meta-gradient and the one-pass evaluation (Adam is nn.h's).
 * Owns no global state and never talks MPI or the results file.
 *
 * Shapes: B = tasks, M = points of the set at hand (K support or Q query),
 * W = width, P = parameters (W² + 4W + 1), N = inner steps.
 * Activations of B tasks are stacked row-wise: row r = b·M + i, (B·M, W).
 * Per-task parameters are (B, P); `shared` means one θ (P) for all tasks.
 *
 * Forward (per row r of task b, parameters p_b):
 *   a1 = x_r W1 + b1, h1 = s(a1), a2 = h1 W2ᵀ + b2, h2 = s(a2),
 *   yhat_r = h2 · W3 + b3, L_b = (1/M) Σ_i (yhat - y)², e_r = dL_b/dyhat_r.
 * Backward: da2 = e_r W3 ⊙ s'(a2), dh1 = da2 W2, da1 = dh1 ⊙ s'(a1),
 *   gW3 = Σ e h2, gb3 = Σ e, gW2 = Σ da2ᵀ h1, gb2 = Σ da2, gW1 = Σ da1 x, gb1 = Σ da1.
 * R-operator along V = (V1, c1, V2, c2, V3, c3): R(.) of every line above;
 *   the Hessian-vector product is R(g).
 * Only the layer-2 products are O(W²) per point: they go through mm(), BLAS
 * or the shared plain-loop reference (nn.h); everything else is O(W) loops.
 *
 * Typed source (maml.h, nn.h): built as written for double and by
 * maml_net_s.c for float.  Double in both builds: the per-task losses and
 * their sums (mcache.loss), the gradient norms of the n = infinity proxy
 * (grad_norms_sq, ws->norms), step sizes, tolerances and the random draws;
 * the precision-neutral helpers (offsets, record steps, column statistics)
 * are built once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/maml.h"
#include "isweep/nn.h"

/* ---- parameter layout ---------------------------------------------------- */

#ifndef ISW_REAL_FLOAT /* precision-neutral: built once */

size_t isw_maml_offset(const isw_maml_net *net, int block) {
  size_t W = (size_t)net->W;
  switch (block) {
    case ISW_MAML_W1: return 0;
    case ISW_MAML_B1: return W;
    case ISW_MAML_W2: return 2 * W;
    case ISW_MAML_B2: return 2 * W + W * W;
    case ISW_MAML_W3: return 3 * W + W * W;
    case ISW_MAML_B3: return 4 * W + W * W;
  }
  return 0;
}

void isw_maml_net_init(isw_maml_net *net, int W, isw_maml_act act) {
  net->W = W;
  net->act = act;
  net->P = (int64_t)W * W + 4 * (int64_t)W + 1;
}
#endif

/* x (n) <- U(lo, hi) draws made in double, then rounded (isw_rng_uniform_fill's formula) */
static void uniform_fill(isw_rng *r, isw_real *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; ++i) x[i] = (isw_real)(lo + (hi - lo) * isw_rng_uniform(r));
}

void isw_maml_init_params(isw_real *theta, const isw_maml_net *net, isw_rng *r) {
  size_t W = (size_t)net->W;
  double s1 = 1.0, s2 = 1.0 / sqrt((double)W);
  uniform_fill(r, theta + isw_maml_offset(net, ISW_MAML_W1), W, -s1, s1);
  uniform_fill(r, theta + isw_maml_offset(net, ISW_MAML_B1), W, -s1, s1);
  uniform_fill(r, theta + isw_maml_offset(net, ISW_MAML_W2), W * W, -s2, s2);
  uniform_fill(r, theta + isw_maml_offset(net, ISW_MAML_B2), W, -s2, s2);
  uniform_fill(r, theta + isw_maml_offset(net, ISW_MAML_W3), W, -s2, s2);
  uniform_fill(r, theta + isw_maml_offset(net, ISW_MAML_B3), 1, -s2, s2);
}

void isw_maml_sample_tasks(isw_real *xs, isw_real *ys, isw_real *xq, isw_real *yq, int B, int K, int Q,
                           isw_rng *r) {
  const double pi = 3.14159265358979323846;
  for (int b = 0; b < B; ++b) {
    double amp = 0.1 + 4.9 * isw_rng_uniform(r);
    double phase = pi * isw_rng_uniform(r);
    for (int i = 0; i < K; ++i) {
      double x = -5.0 + 10.0 * isw_rng_uniform(r);
      xs[(size_t)b * K + i] = (isw_real)x;
      ys[(size_t)b * K + i] = (isw_real)(amp * sin(x + phase));
    }
    for (int i = 0; i < Q; ++i) {
      double x = -5.0 + 10.0 * isw_rng_uniform(r);
      xq[(size_t)b * Q + i] = (isw_real)x;
      yq[(size_t)b * Q + i] = (isw_real)(amp * sin(x + phase));
    }
  }
}

/* ---- task streams ---------------------------------------------------------- */

/* (pool, 4, K): support x, support y, query x, query y of pool task t */
static void copy_pool_task(isw_real *xs, isw_real *ys, isw_real *xq, isw_real *yq, const isw_real *pt, int K) {
  size_t n = sizeof(isw_real) * (size_t)K;
  memcpy(xs, pt, n);
  memcpy(ys, pt + K, n);
  memcpy(xq, pt + 2 * (size_t)K, n);
  memcpy(yq, pt + 3 * (size_t)K, n);
}

int isw_maml_tasks_init(isw_maml_tasks *t, uint64_t sweep_seed, uint64_t id, uint64_t data_id,
                        int K, int pool) {
  int err = 0;
  memset(t, 0, sizeof *t);
  t->K = K;
  t->pool = pool;
  isw_rng_init(&t->r_train, sweep_seed, id, ISW_STREAM_TRAIN);
  isw_rng_init(&t->r_data, sweep_seed, data_id, ISW_STREAM_DATA);
  isw_rng_init(&t->r_test, sweep_seed, data_id, ISW_STREAM_TEST_DATA);
  if (pool > 0) {
    ISW_ALLOC(t->pool_data, (size_t)pool * 4 * K);
    for (int i = 0; i < pool; ++i) {
      isw_real *pt = t->pool_data + (size_t)i * 4 * K;
      isw_maml_sample_tasks(pt, pt + K, pt + 2 * K, pt + 3 * K, 1, K, K, &t->r_data);
    }
  }
cleanup:
  return err;
}

void isw_maml_tasks_free(isw_maml_tasks *t) {
  free(t->pool_data);
  t->pool_data = NULL;
}

void isw_maml_tasks_meta_batch(isw_maml_tasks *t, isw_real *xs, isw_real *ys, isw_real *xq, isw_real *yq,
                               int B) {
  int K = t->K;
  if (t->pool == 0) {
    isw_maml_sample_tasks(xs, ys, xq, yq, B, K, K, &t->r_train);
    return;
  }
  for (int b = 0; b < B; ++b) {
    const isw_real *pt = t->pool_data + (size_t)isw_rng_below(&t->r_train, (uint64_t)t->pool) * 4 * K;
    size_t o = (size_t)b * K;
    copy_pool_task(xs + o, ys + o, xq + o, yq + o, pt, K);
  }
}

void isw_maml_tasks_eval_set(isw_maml_tasks *t, int set, isw_real *xs, isw_real *ys, isw_real *xq,
                             isw_real *yq, int T, int Q) {
  int K = t->K;
  if (set == 0 && t->pool > 0) {
    for (int i = 0; i < T; ++i) {
      size_t o = (size_t)i * K;
      copy_pool_task(xs + o, ys + o, xq + o, yq + o, t->pool_data + (size_t)i * 4 * K, K);
    }
    return;
  }
  isw_maml_sample_tasks(xs, ys, xq, yq, T, K, Q, set == 0 ? &t->r_data : &t->r_test);
}

/* ---- workspace ----------------------------------------------------------- */

/* What a forward/backward pass at one parameter point leaves behind. */
typedef struct {
  isw_real *a1, *h1, *a2, *h2; /* (B·M, W) pre-activations and activations */
  isw_real *da2, *dh1;         /* (B·M, W) dL/da2, dL/dh1 (after backward) */
  isw_real *yhat, *e;          /* (B·M) outputs and dL/dyhat */
  double *loss;                /* (B) per-task MSE, summed in double */
  const isw_real *x;           /* (B·M) inputs of the last forward, not owned */
  int B, M;
} mcache;

struct isw_maml_ws {
  isw_maml_net net;
  int B, K, Q, N, Mmax; /* capacity; Mmax = max(K, Q) */
  int nsup;             /* support caches, max(N, 1) */
  int reference;        /* 1: the plain-loop reference instead of BLAS */
  isw_real *slots;        /* (N + 3, B, P) per-task parameter / vector slots */
  mcache *caches;       /* (nsup + 1): caches[k < nsup] hold B·K rows, caches[nsup] B·Mmax */
  isw_real *cache_mem;
  char *dead;           /* (B) evaluation: task whose gradient went non-finite */
  isw_real *gchunk;       /* (P) meta-gradient of one sub-batch */
  double *loss_mem;       /* (nsup + 1, B) the caches' losses */
  double *norms;          /* (B + W) evaluation: squared gradient norms and their scratch */
  /* HVP and backward scratch, (B·Mmax, W) each, and (B·Mmax) */
  isw_real *ra1, *rh1, *ra2, *rh2, *rda2, *rdh1, *da1;
  isw_real *ryhat, *re;
  isw_real *scratch_mem;
  /* isw_maml_hvp_prepare: the point caches[0] holds (NULL: none) */
  const isw_real *prep_params;
  int prep_shared;
};

static isw_real *slot(isw_maml_ws *ws, int k) {
  return ws->slots + (size_t)k * ws->B * ws->net.P;
}

int isw_maml_ws_create(isw_maml_ws **out, const isw_maml_net *net, int B, int K, int Q, int N) {
  int err = 0;
  isw_maml_ws *ws = NULL;
  *out = NULL;
  ISW_CHECK(B >= 1 && K >= 1 && Q >= 0 && N >= 0 && net->W >= 1, ISW_EINTERNAL,
            "maml workspace: bad sizes B=%d K=%d Q=%d N=%d W=%d", B, K, Q, N, net->W);
  ISW_ALLOC(ws, 1);
  ws->net = *net;
  ws->B = B;
  ws->K = K;
  ws->Q = Q;
  ws->N = N;
  ws->Mmax = K > Q ? K : Q;
  ws->nsup = N > 1 ? N : 1;
  size_t W = (size_t)net->W, P = (size_t)net->P;
  ISW_ALLOC(ws->slots, (size_t)(N + 3) * B * P);
  ISW_ALLOC(ws->caches, ws->nsup + 1);
  ISW_ALLOC(ws->dead, B);
  ISW_ALLOC(ws->gchunk, P);
  size_t rows_k = (size_t)B * K, rows_m = (size_t)B * ws->Mmax;
  size_t per_row = 6 * W + 2; /* a1 h1 a2 h2 da2 dh1, yhat e */
  ISW_ALLOC(ws->cache_mem, ((size_t)ws->nsup * rows_k + rows_m) * per_row);
  ISW_ALLOC(ws->loss_mem, (size_t)(ws->nsup + 1) * B);
  ISW_ALLOC(ws->norms, (size_t)B + W);
  isw_real *p = ws->cache_mem;
  for (int k = 0; k <= ws->nsup; ++k) {
    mcache *c = &ws->caches[k];
    size_t rows = k < ws->nsup ? rows_k : rows_m;
    c->a1 = p, p += rows * W;
    c->h1 = p, p += rows * W;
    c->a2 = p, p += rows * W;
    c->h2 = p, p += rows * W;
    c->da2 = p, p += rows * W;
    c->dh1 = p, p += rows * W;
    c->yhat = p, p += rows;
    c->e = p, p += rows;
    c->loss = ws->loss_mem + (size_t)k * B;
  }
  ISW_ALLOC(ws->scratch_mem, rows_m * (7 * W + 2));
  p = ws->scratch_mem;
  ws->ra1 = p, p += rows_m * W;
  ws->rh1 = p, p += rows_m * W;
  ws->ra2 = p, p += rows_m * W;
  ws->rh2 = p, p += rows_m * W;
  ws->rda2 = p, p += rows_m * W;
  ws->rdh1 = p, p += rows_m * W;
  ws->da1 = p, p += rows_m * W;
  ws->ryhat = p, p += rows_m;
  ws->re = p;
  *out = ws;
  ws = NULL;
cleanup:
  isw_maml_ws_destroy(&ws);
  return err;
}

void isw_maml_ws_destroy(isw_maml_ws **ws) {
  if (!ws || !*ws) return;
  free((*ws)->slots);
  free((*ws)->caches);
  free((*ws)->cache_mem);
  free((*ws)->scratch_mem);
  free((*ws)->dead);
  free((*ws)->gchunk);
  free((*ws)->loss_mem);
  free((*ws)->norms);
  free(*ws);
  *ws = NULL;
}

void isw_maml_ws_set_reference(isw_maml_ws *ws, int on) { ws->reference = on; }

int64_t isw_maml_ws_params(const isw_maml_ws *ws) { return ws->net.P; }

/* ---- matrix products ------------------------------------------------------ */

/* The one entry point of every O(W²) product: BLAS gemm, or the shared
 * plain-loop reference (nn.h). */
static void mm(const isw_maml_ws *ws, int ta, int tb, int m, int n, int k, isw_real alpha,
               const isw_real *A, int lda, const isw_real *Bm, int ldb, isw_real beta, isw_real *C,
               int ldc) {
  isw_nn_gemm(ws->reference, ta, tb, m, n, k, alpha, A, lda, Bm, ldb, beta, C, ldc);
}

/* Layer-2 product with the network's own W2: for every task b,
 *   trans_w = 1: C_b (M, W) = A_b (M, W) · W2_bᵀ (W, W) [+ C_b when accumulate]
 *   trans_w = 0: C_b (M, W) = A_b (M, W) · W2_b (W, W)  [+ C_b when accumulate]
 * one GEMM over B·M rows when the parameters are shared, else one per task. */
static void layer2(const isw_maml_ws *ws, isw_real *C /* (B·M, W) */, const isw_real *A /* (B·M, W) */,
                   const isw_real *params, int shared, int trans_w, int accumulate, int B, int M) {
  int W = ws->net.W;
  size_t P = (size_t)ws->net.P, o2 = isw_maml_offset(&ws->net, ISW_MAML_W2), blk = (size_t)M * W;
  isw_real beta = accumulate ? 1 : 0;
  if (shared) {
    /* C (B·M, W) = A (B·M, W) · op(W2) (W, W) [+ C]: one GEMM for every task */
    mm(ws, 0, trans_w, B * M, W, W, 1.0, A, W, params + o2, W, beta, C, W);
    return;
  }
  for (int b = 0; b < B; ++b)
    /* C_b (M, W) = A_b (M, W) · op(W2_b) (W, W) [+ C_b] */
    mm(ws, 0, trans_w, M, W, W, 1.0, A + b * blk, W, params + b * P + o2, W, beta, C + b * blk, W);
}

/* ---- activations ---------------------------------------------------------- */

static inline isw_real act(isw_maml_act f, isw_real a) {
  return f == ISW_MAML_TANH ? (isw_real)tanh(a) : (a > 0 ? a : (isw_real)0);
}
/* s'(a) from a and h = s(a) */
static inline isw_real dact(isw_maml_act f, isw_real a, isw_real h) {
  return f == ISW_MAML_TANH ? (isw_real)1 - h * h : (a > 0 ? (isw_real)1 : (isw_real)0);
}
/* s''(a) from h = s(a); relu's is 0 */
static inline isw_real ddact(isw_maml_act f, isw_real h) {
  return f == ISW_MAML_TANH ? (isw_real)-2 * h * ((isw_real)1 - h * h) : (isw_real)0;
}

/* The loops over elements branch on the activation once, outside: with the
 * activation a constant in each copy, relu's loops have no call and no
 * branch, and the compiler vectorizes them (CMakeLists.txt: the dynamic cost
 * model for this file).  The arithmetic per element is unchanged. */

/* h (n) <- s(a) */
static inline void act_n(isw_maml_act f, isw_real *h, const isw_real *a, size_t n) {
  if (f == ISW_MAML_TANH)
    for (size_t i = 0; i < n; ++i) h[i] = act(ISW_MAML_TANH, a[i]);
  else
    for (size_t i = 0; i < n; ++i) h[i] = act(ISW_MAML_RELU, a[i]);
}

/* out (n) <- x ⊙ s'(a), from a and h = s(a); out may be x */
static inline void mul_dact_n(isw_maml_act f, isw_real *out, const isw_real *x, const isw_real *a,
                              const isw_real *h, size_t n) {
  if (f == ISW_MAML_TANH)
    for (size_t i = 0; i < n; ++i) out[i] = x[i] * dact(ISW_MAML_TANH, a[i], h[i]);
  else
    for (size_t i = 0; i < n; ++i) out[i] = x[i] * dact(ISW_MAML_RELU, a[i], h[i]);
}

/* ---- forward, backward, accumulation -------------------------------------- */

/* Forward pass of B tasks on M points: fills a1, h1, a2, h2, yhat, e, loss. */
static void forward(const isw_maml_ws *ws, mcache *c, const isw_real *params, int shared,
                    const isw_real *x /* (B, M) */, const isw_real *y /* (B, M) */, int B, int M) {
  const isw_maml_net *net = &ws->net;
  int W = net->W;
  size_t P = (size_t)net->P;
  size_t oW1 = isw_maml_offset(net, ISW_MAML_W1), ob1 = isw_maml_offset(net, ISW_MAML_B1);
  size_t ob2 = isw_maml_offset(net, ISW_MAML_B2), oW3 = isw_maml_offset(net, ISW_MAML_W3);
  size_t ob3 = isw_maml_offset(net, ISW_MAML_B3);
  c->B = B;
  c->M = M;
  c->x = x;
  /* a1 = x W1 + b1, h1 = s(a1) */
  for (int b = 0; b < B; ++b) {
    const isw_real *p = params + (shared ? 0 : b * P), *W1 = p + oW1, *b1 = p + ob1;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      isw_real xr = x[r], *a1 = c->a1 + r * W, *h1 = c->h1 + r * W;
      for (int j = 0; j < W; ++j) a1[j] = xr * W1[j] + b1[j];
      act_n(net->act, h1, a1, (size_t)W);
    }
  }
  /* A2 (B·M, W) = H1 (B·M, W) · W2ᵀ (W, W), per task unless shared */
  layer2(ws, c->a2, c->h1, params, shared, 1, 0, B, M);
  /* a2 += b2, h2 = s(a2), yhat = h2 · W3 + b3, e = (2/M)(yhat - y) */
  for (int b = 0; b < B; ++b) {
    const isw_real *p = params + (shared ? 0 : b * P), *b2 = p + ob2, *W3 = p + oW3;
    double loss = 0.0;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      isw_real *a2 = c->a2 + r * W, *h2 = c->h2 + r * W, out = p[ob3];
      for (int j = 0; j < W; ++j) a2[j] += b2[j];
      act_n(net->act, h2, a2, (size_t)W);
      for (int j = 0; j < W; ++j) out += h2[j] * W3[j];
      double d = out - y[r];
      c->yhat[r] = out;
      c->e[r] = (isw_real)(2.0 * d / M);
      loss += d * d;
    }
    c->loss[b] = loss / M;
  }
}

/* out_b += s · [Σ_i d1_i x_i, Σ_i d1_i, Σ_i d2_iᵀ g1_i + Σ_i d2x_iᵀ g1x_i, Σ_i d2_i,
 *               Σ_i d3_i g2_i + Σ_i d3x_i g2x_i, Σ_i d3_i]
 * over the rows i of task b: the gradient has (d1, d2, g1, d3, g2) =
 * (da1, da2, h1, e, h2) and no x-terms; the HVP adds the product-rule terms.
 * per_task = 0 sums every task into one out (P). */
static void accumulate(const isw_maml_ws *ws, isw_real *out, int per_task, isw_real s,
                       const isw_real *x /* (B·M) */, const isw_real *d1 /* (B·M, W) */,
                       const isw_real *d2 /* (B·M, W) */, const isw_real *g1 /* (B·M, W) */,
                       const isw_real *d2x /* (B·M, W) or NULL */,
                       const isw_real *g1x /* (B·M, W) or NULL */, const isw_real *d3 /* (B·M) */,
                       const isw_real *g2 /* (B·M, W) */, const isw_real *d3x /* (B·M) or NULL */,
                       const isw_real *g2x /* (B·M, W) or NULL */, int B, int M) {
  const isw_maml_net *net = &ws->net;
  int W = net->W;
  size_t P = (size_t)net->P, blk = (size_t)M * W;
  size_t oW1 = isw_maml_offset(net, ISW_MAML_W1), ob1 = isw_maml_offset(net, ISW_MAML_B1);
  size_t oW2 = isw_maml_offset(net, ISW_MAML_W2), ob2 = isw_maml_offset(net, ISW_MAML_B2);
  size_t oW3 = isw_maml_offset(net, ISW_MAML_W3), ob3 = isw_maml_offset(net, ISW_MAML_B3);
  for (int b = 0; b < B; ++b) {
    isw_real *o = out + (per_task ? b * P : 0);
    isw_real *gW1 = o + oW1, *gb1 = o + ob1, *gb2 = o + ob2, *gW3 = o + oW3, sb3 = 0;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      const isw_real *d1r = d1 + r * W, *d2r = d2 + r * W, *g2r = g2 + r * W;
      isw_real sx = s * x[r], s3 = s * d3[r];
      for (int j = 0; j < W; ++j) gW1[j] += sx * d1r[j];
      for (int j = 0; j < W; ++j) gb1[j] += s * d1r[j];
      for (int j = 0; j < W; ++j) gb2[j] += s * d2r[j];
      for (int j = 0; j < W; ++j) gW3[j] += s3 * g2r[j];
      if (d3x) {
        const isw_real *g2xr = g2x + r * W;
        isw_real s3x = s * d3x[r];
        for (int j = 0; j < W; ++j) gW3[j] += s3x * g2xr[j];
      }
      sb3 += d3[r];
    }
    o[ob3] += s * sb3;
  }
  if (per_task) {
    for (int b = 0; b < B; ++b) {
      /* gW2_b (W, W) += s · D2_bᵀ (W, M) · G1_b (M, W) */
      mm(ws, 1, 0, W, W, M, s, d2 + b * blk, W, g1 + b * blk, W, 1.0, out + b * P + oW2, W);
      /* gW2_b (W, W) += s · D2x_bᵀ (W, M) · G1x_b (M, W) */
      if (d2x) mm(ws, 1, 0, W, W, M, s, d2x + b * blk, W, g1x + b * blk, W, 1.0, out + b * P + oW2, W);
    }
  } else {
    /* gW2 (W, W) += s · D2ᵀ (W, B·M) · G1 (B·M, W): the sum over tasks is the inner index */
    mm(ws, 1, 0, W, W, B * M, s, d2, W, g1, W, 1.0, out + oW2, W);
    /* gW2 (W, W) += s · D2xᵀ (W, B·M) · G1x (B·M, W) */
    if (d2x) mm(ws, 1, 0, W, W, B * M, s, d2x, W, g1x, W, 1.0, out + oW2, W);
  }
}

/* Backward deltas after forward(c): c->da2, c->dh1 and ws->da1. */
static void backward_deltas(const isw_maml_ws *ws, mcache *c, const isw_real *params, int shared) {
  const isw_maml_net *net = &ws->net;
  int W = net->W, B = c->B, M = c->M;
  size_t P = (size_t)net->P, oW3 = isw_maml_offset(net, ISW_MAML_W3);
  /* da2 = e W3 ⊙ s'(a2) */
  for (int b = 0; b < B; ++b) {
    const isw_real *W3 = params + (shared ? 0 : b * P) + oW3;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      const isw_real *a2 = c->a2 + r * W, *h2 = c->h2 + r * W;
      isw_real *da2 = c->da2 + r * W, e = c->e[r];
      for (int j = 0; j < W; ++j) da2[j] = e * W3[j];
      mul_dact_n(net->act, da2, da2, a2, h2, (size_t)W);
    }
  }
  /* DH1 (B·M, W) = DA2 (B·M, W) · W2 (W, W), per task unless shared */
  layer2(ws, c->dh1, c->da2, params, shared, 0, 0, B, M);
  /* da1 = dh1 ⊙ s'(a1) */
  size_t n = (size_t)B * M * W;
  mul_dact_n(net->act, ws->da1, c->dh1, c->a1, c->h1, n);
}

/* Backward pass after forward(c): fills c->da2, c->dh1 and adds
 * s · ∇L_b(params_b) into out (per task (B, P), or summed (P)). */
static void backward(const isw_maml_ws *ws, mcache *c, isw_real *out, int per_task, isw_real s,
                     const isw_real *params, int shared) {
  backward_deltas(ws, c, params, shared);
  accumulate(ws, out, per_task, s, c->x, ws->da1, c->da2, c->h1, NULL, NULL, c->e, c->h2, NULL,
             NULL, c->B, c->M);
}

/* Squared norm of each task's gradient after backward_deltas(c), without
 * forming it: the vector blocks are row sums, and the W2 block's Frobenius
 * norm is ||DA2ᵀ H1||² = Σ_{i,i'} (da2_i · da2_i') (h1_i · h1_i') over the
 * task's M rows (two M x M Gram matrices), all in double.  sq (B), tmp (W). */
static void grad_norms_sq(double *sq, const isw_maml_ws *ws, const mcache *c, double *tmp) {
  int W = ws->net.W, B = c->B, M = c->M;
  for (int b = 0; b < B; ++b) {
    const size_t r0 = (size_t)b * M;
    double total = 0.0, sb3 = 0.0;
    /* gW1 = Σ_i da1_i x_i, gb1 = Σ_i da1_i, gb2 = Σ_i da2_i, gW3 = Σ_i e_i h2_i */
    for (int blk = 0; blk < 4; ++blk) {
      for (int j = 0; j < W; ++j) tmp[j] = 0.0;
      for (int i = 0; i < M; ++i) {
        size_t r = r0 + i;
        const isw_real *src = blk < 2 ? ws->da1 + r * W : blk == 2 ? c->da2 + r * W : c->h2 + r * W;
        double f = blk == 0 ? c->x[r] : blk == 3 ? c->e[r] : 1.0;
        for (int j = 0; j < W; ++j) tmp[j] += f * src[j];
      }
      for (int j = 0; j < W; ++j) total += tmp[j] * tmp[j];
    }
    for (int i = 0; i < M; ++i) sb3 += c->e[r0 + i];
    total += sb3 * sb3;
    for (int i = 0; i < M; ++i)
      for (int i2 = 0; i2 <= i; ++i2) {
        const isw_real *d1 = c->da2 + (r0 + i) * W, *d2 = c->da2 + (r0 + i2) * W;
        const isw_real *h1 = c->h1 + (r0 + i) * W, *h2 = c->h1 + (r0 + i2) * W;
        double gd = 0.0, gh = 0.0;
        for (int j = 0; j < W; ++j) gd += d1[j] * d2[j];
        for (int j = 0; j < W; ++j) gh += h1[j] * h2[j];
        total += (i == i2 ? 1.0 : 2.0) * gd * gh;
      }
    sq[b] = total;
  }
}

/* Hessian-vector product after forward(c) and backward(c) at params:
 * out_b += s · H_b(params_b) v_b (per task, or summed over tasks).
 * Every read of v happens before the first write to out, so out may be v. */
static void hvp_accumulate(isw_maml_ws *ws, const mcache *c, isw_real *out, int per_task, isw_real s,
                           const isw_real *params, int shared, const isw_real *v /* (B, P) */) {
  const isw_maml_net *net = &ws->net;
  int W = net->W, B = c->B, M = c->M;
  size_t P = (size_t)net->P, blk = (size_t)M * W;
  size_t oW1 = isw_maml_offset(net, ISW_MAML_W1), ob1 = isw_maml_offset(net, ISW_MAML_B1);
  size_t oW2 = isw_maml_offset(net, ISW_MAML_W2), ob2 = isw_maml_offset(net, ISW_MAML_B2);
  size_t oW3 = isw_maml_offset(net, ISW_MAML_W3), ob3 = isw_maml_offset(net, ISW_MAML_B3);
  isw_maml_act f = net->act;
  /* R(a1) = x V1 + c1, R(h1) = s'(a1) R(a1) */
  for (int b = 0; b < B; ++b) {
    const isw_real *vb = v + b * P, *V1 = vb + oW1, *c1 = vb + ob1;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      isw_real xr = c->x[r], *ra1 = ws->ra1 + r * W, *rh1 = ws->rh1 + r * W;
      const isw_real *a1 = c->a1 + r * W, *h1 = c->h1 + r * W;
      for (int j = 0; j < W; ++j) ra1[j] = xr * V1[j] + c1[j];
      mul_dact_n(f, rh1, ra1, a1, h1, (size_t)W); /* s'(a1) R(a1) */
    }
  }
  /* R(A2) (B·M, W) = R(H1) (B·M, W) · W2ᵀ (W, W), per task unless shared */
  layer2(ws, ws->ra2, ws->rh1, params, shared, 1, 0, B, M);
  for (int b = 0; b < B; ++b)
    /* R(A2)_b (M, W) += H1_b (M, W) · V2_bᵀ (W, W) */
    mm(ws, 0, 1, M, W, W, 1.0, c->h1 + b * blk, W, v + b * P + oW2, W, 1.0, ws->ra2 + b * blk, W);
  /* R(a2) += c2, R(h2) = s'(a2) R(a2), R(yhat) = R(h2)·W3 + h2·V3 + c3, R(e) = (2/M) R(yhat) */
  for (int b = 0; b < B; ++b) {
    const isw_real *vb = v + b * P, *c2 = vb + ob2, *V3 = vb + oW3;
    const isw_real *W3 = params + (shared ? 0 : b * P) + oW3;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      isw_real *ra2 = ws->ra2 + r * W, *rh2 = ws->rh2 + r * W;
      const isw_real *a2 = c->a2 + r * W, *h2 = c->h2 + r * W;
      isw_real ry = vb[ob3];
      for (int j = 0; j < W; ++j) ra2[j] += c2[j];
      mul_dact_n(f, rh2, ra2, a2, h2, (size_t)W); /* s'(a2) R(a2) */
      for (int j = 0; j < W; ++j) ry += rh2[j] * W3[j] + h2[j] * V3[j];
      ws->ryhat[r] = ry;
      ws->re[r] = 2.0 * ry / M;
    }
  }
  /* R(da2) = (R(e) W3 + e V3) ⊙ s'(a2) + e W3 ⊙ s''(a2) ⊙ R(a2) */
  for (int b = 0; b < B; ++b) {
    const isw_real *V3 = v + b * P + oW3, *W3 = params + (shared ? 0 : b * P) + oW3;
    for (int i = 0; i < M; ++i) {
      size_t r = (size_t)b * M + i;
      isw_real *rda2 = ws->rda2 + r * W, e = c->e[r], re = ws->re[r];
      const isw_real *a2 = c->a2 + r * W, *h2 = c->h2 + r * W, *ra2 = ws->ra2 + r * W;
      if (f == ISW_MAML_TANH)
        for (int j = 0; j < W; ++j)
          rda2[j] = (re * W3[j] + e * V3[j]) * dact(ISW_MAML_TANH, a2[j], h2[j]) +
                    e * W3[j] * ddact(ISW_MAML_TANH, h2[j]) * ra2[j];
      else {
        for (int j = 0; j < W; ++j) rda2[j] = re * W3[j] + e * V3[j];
        mul_dact_n(ISW_MAML_RELU, rda2, rda2, a2, h2, (size_t)W);
      }
    }
  }
  /* R(DH1) (B·M, W) = R(DA2) (B·M, W) · W2 (W, W), per task unless shared */
  layer2(ws, ws->rdh1, ws->rda2, params, shared, 0, 0, B, M);
  for (int b = 0; b < B; ++b)
    /* R(DH1)_b (M, W) += DA2_b (M, W) · V2_b (W, W) */
    mm(ws, 0, 0, M, W, W, 1.0, c->da2 + b * blk, W, v + b * P + oW2, W, 1.0, ws->rdh1 + b * blk, W);
  /* R(da1) = R(dh1) ⊙ s'(a1) + dh1 ⊙ s''(a1) ⊙ R(a1), in place of R(dh1) */
  size_t n = (size_t)B * M * W;
  if (f == ISW_MAML_TANH)
    for (size_t q = 0; q < n; ++q)
      ws->rdh1[q] = ws->rdh1[q] * dact(ISW_MAML_TANH, c->a1[q], c->h1[q]) +
                    c->dh1[q] * ddact(ISW_MAML_TANH, c->h1[q]) * ws->ra1[q];
  else
    mul_dact_n(ISW_MAML_RELU, ws->rdh1, ws->rdh1, c->a1, c->h1, n);
  /* v is no longer read: out may alias it */
  accumulate(ws, out, per_task, s, c->x, ws->rdh1, ws->rda2, c->h1, c->da2, ws->rh1, ws->re,
             c->h2, c->e, ws->rh2, B, M);
}

/* ---- public batched kernels ---------------------------------------------- */

static int check_fit(const isw_maml_ws *ws, int B, int M) {
  int err = 0;
  ISW_CHECK(B >= 1 && B <= ws->B && M >= 1 && M <= ws->Mmax, ISW_EINTERNAL,
            "maml: B=%d M=%d exceed the workspace (B=%d, M=%d)", B, M, ws->B, ws->Mmax);
cleanup:
  return err;
}

int isw_maml_loss_grad(double *loss, isw_real *grad, isw_maml_ws *ws, const isw_real *params,
                       int shared, const isw_real *x, const isw_real *y, int B, int M) {
  int err = 0;
  ISW_CALL(check_fit(ws, B, M));
  mcache *c = &ws->caches[ws->nsup];
  forward(ws, c, params, shared, x, y, B, M);
  if (grad) {
    memset(grad, 0, sizeof(isw_real) * (size_t)B * ws->net.P);
    backward(ws, c, grad, 1, 1.0, params, shared);
  }
  if (loss) memcpy(loss, c->loss, sizeof(double) * B);
cleanup:
  return err;
}

int isw_maml_hvp(isw_real *hv, double *loss, isw_maml_ws *ws, const isw_real *params, int shared,
                 const isw_real *v, const isw_real *x, const isw_real *y, int B, int M) {
  int err = 0;
  ISW_CALL(check_fit(ws, B, M));
  mcache *c = &ws->caches[ws->nsup];
  isw_real *scratch = slot(ws, ws->N + 2); /* backward's gradient, discarded */
  forward(ws, c, params, shared, x, y, B, M);
  memset(scratch, 0, sizeof(isw_real) * (size_t)B * ws->net.P);
  backward(ws, c, scratch, 1, 1.0, params, shared);
  memset(hv, 0, sizeof(isw_real) * (size_t)B * ws->net.P);
  hvp_accumulate(ws, c, hv, 1, 1.0, params, shared, v);
  if (loss) memcpy(loss, c->loss, sizeof(double) * B);
cleanup:
  return err;
}

int isw_maml_hvp_prepare(isw_real *grad, double *loss, isw_maml_ws *ws, const isw_real *params,
                         int shared, const isw_real *x, const isw_real *y, int B, int M) {
  int err = 0;
  ISW_CALL(check_fit(ws, B, M));
  ISW_CHECK(M <= ws->K, ISW_EINTERNAL, "maml: prepared HVPs need M=%d <= K=%d", M, ws->K);
  mcache *c = &ws->caches[0];
  forward(ws, c, params, shared, x, y, B, M);
  if (grad) {
    memset(grad, 0, sizeof(isw_real) * (size_t)B * ws->net.P);
    backward(ws, c, grad, 1, 1.0, params, shared);
  } else {
    backward_deltas(ws, c, params, shared);
  }
  if (loss) memcpy(loss, c->loss, sizeof(double) * B);
  ws->prep_params = params;
  ws->prep_shared = shared;
cleanup:
  return err;
}

int isw_maml_hvp_prepared(isw_real *hv, isw_maml_ws *ws, const isw_real *v) {
  int err = 0;
  ISW_CHECK(ws->prep_params != NULL, ISW_EINTERNAL,
            "maml: isw_maml_hvp_prepared without a current isw_maml_hvp_prepare");
  const mcache *c = &ws->caches[0];
  memset(hv, 0, sizeof(isw_real) * (size_t)c->B * ws->net.P);
  hvp_accumulate(ws, c, hv, 1, 1.0, ws->prep_params, ws->prep_shared, v);
cleanup:
  return err;
}

/* dst_b = src for every task b (dst (B, P), src (P)) */
static void broadcast(isw_real *dst, const isw_real *src, int B, size_t P) {
  for (int b = 0; b < B; ++b) memcpy(dst + b * P, src, sizeof(isw_real) * P);
}

/* The meta-gradient of B <= ws->B tasks (see isw_maml_meta_grad). */
static void meta_grad_batch(isw_real *grad, double *loss, isw_maml_ws *ws, const isw_real *theta,
                            const isw_real *xs, const isw_real *ys, const isw_real *xq,
                            const isw_real *yq, int B, int K, int Q, int N, double alpha, int order) {
  size_t P = (size_t)ws->net.P;
  ws->prep_params = NULL; /* caches[0] is overwritten */
  /* inner loop: phi_{k+1} (slot k+1) = phi_k - alpha ∇L_s(phi_k); phi_0 = θ (shared) */
  for (int k = 0; k < N; ++k) {
    const isw_real *pk = k == 0 ? theta : slot(ws, k);
    isw_real *next = slot(ws, k + 1);
    mcache *c = &ws->caches[k];
    forward(ws, c, pk, k == 0, xs, ys, B, K);
    if (k == 0)
      broadcast(next, theta, B, P);
    else
      memcpy(next, pk, sizeof(isw_real) * B * P);
    backward(ws, c, next, 1, -alpha, pk, k == 0);
  }
  /* outer loss at phi_N on the query points */
  const isw_real *pN = N == 0 ? theta : slot(ws, N);
  mcache *cq = &ws->caches[ws->nsup];
  forward(ws, cq, pN, N == 0, xq, yq, B, Q);
  double l = 0.0;
  for (int b = 0; b < B; ++b) l += cq->loss[b];
  *loss = l / B;
  memset(grad, 0, sizeof(isw_real) * P);
  if (order == 1 || N == 0) {
    /* grad = (1/B) Σ_b ∇L_q,b(phi_N) */
    backward(ws, cq, grad, 0, 1.0 / B, pN, N == 0);
    return;
  }
  /* reverse: v_N = (1/B) ∇L_q(phi_N); v_k = v_{k+1} - alpha H_s(phi_k) v_{k+1} */
  isw_real *v = slot(ws, 0);
  memset(v, 0, sizeof(isw_real) * B * P);
  backward(ws, cq, v, 1, 1.0 / B, pN, 0);
  for (int k = N - 1; k >= 1; --k)
    hvp_accumulate(ws, &ws->caches[k], v, 1, -alpha, slot(ws, k), 0, v);
  /* k = 0 at the shared θ: grad = Σ_b v_1,b - alpha Σ_b H_s,b(θ) v_1,b */
  for (int b = 0; b < B; ++b)
    for (size_t q = 0; q < P; ++q) grad[q] += v[b * P + q];
  hvp_accumulate(ws, &ws->caches[0], grad, 0, -alpha, theta, 1, v);
}

int isw_maml_meta_grad(isw_real *grad, double *loss, isw_maml_ws *ws, const isw_real *theta,
                       const isw_real *xs, const isw_real *ys, const isw_real *xq, const isw_real *yq,
                       int B, int K, int Q, int N, double alpha, int order) {
  int err = 0;
  ISW_CHECK(B >= 1 && K >= 1 && K <= ws->K && Q >= 1 && Q <= ws->Mmax && N >= 0 && N <= ws->N &&
                (order == 1 || order == 2),
            ISW_EINTERNAL, "maml meta-gradient: K=%d Q=%d N=%d order=%d do not fit the workspace",
            K, Q, N, order);
  if (B <= ws->B) {
    meta_grad_batch(grad, loss, ws, theta, xs, ys, xq, yq, B, K, Q, N, alpha, order);
    goto cleanup;
  }
  /* sub-batches of ws->B tasks, weighted by their share of the B tasks */
  size_t P = (size_t)ws->net.P;
  memset(grad, 0, sizeof(isw_real) * P);
  *loss = 0.0;
  for (int b0 = 0; b0 < B; b0 += ws->B) {
    int bc = B - b0 < ws->B ? B - b0 : ws->B;
    double lc, wgt = (double)bc / B;
    size_t os = (size_t)b0 * K, oq = (size_t)b0 * Q;
    meta_grad_batch(ws->gchunk, &lc, ws, theta, xs + os, ys + os, xq + oq, yq + oq, bc, K, Q, N,
                    alpha, order);
    for (size_t q = 0; q < P; ++q) grad[q] += wgt * ws->gchunk[q];
    *loss += wgt * lc;
  }
cleanup:
  return err;
}

/* ---- evaluation ------------------------------------------------------------ */

/* One chunk of Bc <= ws->B tasks: see isw_maml_evaluate.  Each step takes
 * the gradient norms from the backward deltas (grad_norms_sq) and adds
 * -alpha ∇ straight into phi, so no (B, P) gradient is ever formed.  Past
 * the last recorded n, converged tasks keep stepping (their limit point was
 * copied when they converged) so the chunk stays one batched computation. */
static void evaluate_chunk(double *query_loss /* (Bc, R) */, double *support_loss /* (Bc, R) */,
                           double *limit_query /* (Bc) */, int64_t *limit_steps /* (Bc) */,
                           isw_maml_ws *ws, const isw_real *theta, const isw_real *xs, const isw_real *ys,
                           const isw_real *xq, const isw_real *yq, int Bc, int K, int Q,
                           const int64_t *rec, int R, double alpha, double tol, int64_t cap) {
  size_t P = (size_t)ws->net.P;
  isw_real *phi = slot(ws, 0), *lim = slot(ws, 1);
  double *sq = ws->norms, *tmp = sq + Bc;
  mcache *cs = &ws->caches[0], *cq = &ws->caches[ws->nsup];
  int64_t nmax = rec[R - 1], stop = cap > nmax ? cap : nmax;
  int shared = 1, j = 0;
  char *dead = ws->dead; /* non-finite gradient: can never converge */
  ws->prep_params = NULL; /* caches[0] is overwritten */
  memset(dead, 0, (size_t)Bc);
  for (int b = 0; b < Bc; ++b) limit_steps[b] = -1;
  for (int64_t n = 0;; ++n) {
    const isw_real *p = shared ? theta : phi;
    if (j < R && rec[j] == n) {
      forward(ws, cq, p, shared, xq, yq, Bc, Q);
      for (int b = 0; b < Bc; ++b) query_loss[(size_t)b * R + j] = cq->loss[b];
    }
    forward(ws, cs, p, shared, xs, ys, Bc, K);
    backward_deltas(ws, cs, p, shared);
    if (j < R && rec[j] == n) {
      for (int b = 0; b < Bc; ++b) support_loss[(size_t)b * R + j] = cs->loss[b];
      ++j;
    }
    grad_norms_sq(sq, ws, cs, tmp);
    int open = 0;
    for (int b = 0; b < Bc; ++b) {
      if (limit_steps[b] >= 0 || dead[b]) continue;
      if (!isfinite(sq[b])) {
        dead[b] = 1;
      } else if (sqrt(fmax(sq[b], 0.0)) < tol) { /* the Gram form may round below 0 */
        limit_steps[b] = n;
        memcpy(lim + b * P, p + (shared ? 0 : b * P), sizeof(isw_real) * P);
      } else {
        ++open;
      }
    }
    if (n >= nmax && (open == 0 || n >= stop)) break;
    /* phi_b -= alpha ∇L_s,b(phi_b) */
    if (shared) broadcast(phi, theta, Bc, P);
    accumulate(ws, phi, 1, -alpha, cs->x, ws->da1, cs->da2, cs->h1, NULL, NULL, cs->e, cs->h2,
               NULL, NULL, Bc, K);
    shared = 0;
  }
  /* not converged: the limit proxy is the point where the steps stopped */
  for (int b = 0; b < Bc; ++b)
    if (limit_steps[b] < 0) memcpy(lim + b * P, shared ? theta : phi + b * P, sizeof(isw_real) * P);
  forward(ws, cq, lim, 0, xq, yq, Bc, Q);
  for (int b = 0; b < Bc; ++b) limit_query[b] = cq->loss[b];
}

int isw_maml_evaluate(double *query_loss, double *support_loss, double *limit_query,
                      int64_t *limit_steps, isw_maml_ws *ws, const isw_real *theta, const isw_real *xs,
                      const isw_real *ys, const isw_real *xq, const isw_real *yq, int T, int K, int Q,
                      const int64_t *rec, int R, double alpha, double tol, int64_t cap) {
  int err = 0;
  ISW_CHECK(T >= 1 && K >= 1 && K <= ws->K && Q >= 1 && Q <= ws->Mmax && R >= 1, ISW_EINTERNAL,
            "maml evaluation: T=%d K=%d Q=%d R=%d do not fit the workspace", T, K, Q, R);
  for (int j = 0; j < R; ++j)
    ISW_CHECK(rec[j] >= 0 && (j == 0 || rec[j] > rec[j - 1]), ISW_EINTERNAL,
              "maml evaluation: recorded steps must ascend (rec[%d] = %lld)", j, (long long)rec[j]);
  for (int t0 = 0; t0 < T; t0 += ws->B) {
    int Bc = T - t0 < ws->B ? T - t0 : ws->B;
    evaluate_chunk(query_loss + (size_t)t0 * R, support_loss + (size_t)t0 * R, limit_query + t0,
                   limit_steps + t0, ws, theta, xs + (size_t)t0 * K, ys + (size_t)t0 * K,
                   xq + (size_t)t0 * Q, yq + (size_t)t0 * Q, Bc, K, Q, rec, R, alpha, tol, cap);
  }
cleanup:
  return err;
}

#ifndef ISW_REAL_FLOAT /* precision-neutral: built once */
int isw_maml_record_steps(int64_t *rec, int *col, int *jN, const int64_t *test_iters, int T, int64_t N) {
  int R = 0;
  *jN = -1;
  for (int j = 0, added = 0; j < T || !added;) {
    if (!added && (j == T || N <= test_iters[j])) {
      added = 1;
      *jN = R;
      if (j < T && test_iters[j] == N) continue;
      rec[R++] = N;
      continue;
    }
    col[j] = R;
    rec[R++] = test_iters[j++];
  }
  return R;
}

void isw_maml_column_stats(double *mean, double *std, double *delta_se, const double *loss /* (T, R) */,
                           int T, int R, int j, int jN) {
  double s = 0, s2 = 0, d = 0, d2 = 0;
  for (int t = 0; t < T; ++t) {
    double x = loss[(size_t)t * R + j], dx = x - loss[(size_t)t * R + jN];
    s += x;
    s2 += x * x;
    d += dx;
    d2 += dx * dx;
  }
  *mean = s / T;
  double var = s2 / T - *mean * *mean;
  *std = sqrt(var > 0 ? var : 0);
  double dm = d / T, dv = T > 1 ? (d2 - T * dm * dm) / (T - 1) : 0;
  *delta_se = sqrt((dv > 0 ? dv : 0) / T);
}

void isw_maml_record_set(double *curves, double *scalars, const isw_maml_slots *slot, int set,
                         const double *qloss, const double *sloss, const double *lim,
                         const int64_t *lsteps, int Ts, int R, const int *col, int T, int jN,
                         int *reached, double *steps_sum) {
  double mean, std, dse, lsum = 0.0;
  for (int j = 0; j < T; ++j) {
    isw_maml_column_stats(&mean, &std, &dse, qloss, Ts, R, col[j], jN);
    curves[(size_t)slot->mean[set] * T + j] = mean;
    curves[(size_t)slot->std[set] * T + j] = std;
    if (set == 1) {
      curves[(size_t)slot->delta_se * T + j] = dse;
      isw_maml_column_stats(&mean, &std, &dse, sloss, Ts, R, col[j], jN);
      curves[(size_t)slot->support * T + j] = mean;
    }
  }
  isw_maml_column_stats(&mean, &std, &dse, qloss, Ts, R, jN, jN);
  scalars[slot->at_n[set]] = mean;
  for (int t = 0; t < Ts; ++t) {
    lsum += lim[t];
    if (lsteps[t] >= 0) {
      ++*reached;
      *steps_sum += (double)lsteps[t];
    }
  }
  scalars[slot->limit[set]] = lsum / Ts;
}

#endif

int isw_maml_all_finite(const isw_real *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return 0;
  return 1;
}
