/* solvers.c — Picard, Anderson and Broyden steps for batches of fixed-point
 * problems (contract in solvers.h).  Owns only its histories; never calls
 * f itself except in isw_solver_solve, never touches MPI.
 *
 * Shapes: B = rows, H = state size, M = memory.  Histories are (B, M, H):
 * row r's slot i starts at (r·M + i)·H, so each row's history is one (M, H)
 * block for BLAS (its Gram matrix is one GEMM, its low-rank products are
 * GEMVs); all rows step in lockstep, so slot indices are shared and only
 * coefficients are per row. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/error.h"
#include "isweep/solvers.h"

#ifndef ISW_REAL_FLOAT /* precision-neutral: built once */
const char *const isw_solver_names[3] = {"picard", "anderson", "broyden"};
#endif

struct isw_solver {
  isw_solver_opts o;
  int64_t max_rows, h, rows;
  int64_t k;         /* steps taken since the reset */
  int64_t fallbacks; /* sample-steps that took the safeguard's Picard step */
  isw_real *zh, *fh; /* (B, M, H): anderson: past iterates z_i and residuals g_i; broyden: u_i, v_i */
  isw_real *zp, *gp; /* broyden: (B, H) previous iterate and residual */
  int64_t nmem;      /* broyden: updates held in slots 0 .. nmem-1 (<= M) */
  double *gnorm;     /* (B) ||g|| at the previous step */
  char *accel;       /* (B) 1 when the row's previous step was accelerated */
  isw_real *gram, *rhs; /* anderson: (M, M) scratch; (M) scratch (isw_real: the small solve runs in the build's precision) */
  lapack_int *ipiv;  /* (M) */
};

int isw_solver_create(isw_solver **out, const isw_solver_opts *o, int64_t max_rows, int64_t h) {
  int err = 0;
  isw_solver *s = NULL;
  *out = NULL;
  ISW_CHECK(max_rows >= 1 && h >= 1 && o->m >= 1 && o->beta > 0.0 && o->beta <= 1.0 &&
                o->lambda >= 0.0 && o->kind >= ISW_SOLVER_PICARD && o->kind <= ISW_SOLVER_BROYDEN,
            ISW_EINTERNAL, "solver options: kind %d, m %d, beta %g, lambda %g", (int)o->kind, o->m,
            o->beta, o->lambda);
  ISW_ALLOC(s, 1);
  s->o = *o;
  s->max_rows = max_rows;
  s->h = h;
  s->rows = max_rows;
  int64_t m = o->m, bh = max_rows * h;
  ISW_ALLOC(s->gnorm, max_rows);
  ISW_ALLOC(s->accel, max_rows);
  if (o->kind != ISW_SOLVER_PICARD) {
    ISW_ALLOC(s->zh, m * bh);
    ISW_ALLOC(s->fh, m * bh);
  }
  if (o->kind != ISW_SOLVER_PICARD) ISW_ALLOC(s->rhs, m);
  if (o->kind == ISW_SOLVER_ANDERSON) {
    ISW_ALLOC(s->gram, m * m);
    ISW_ALLOC(s->ipiv, m);
  }
  if (o->kind == ISW_SOLVER_BROYDEN) {
    ISW_ALLOC(s->zp, bh);
    ISW_ALLOC(s->gp, bh);
  }
  *out = s;
  s = NULL;
cleanup:
  isw_solver_destroy(&s);
  return err;
}

void isw_solver_destroy(isw_solver **s) {
  if (!s || !*s) return;
  isw_solver *x = *s;
  free(x->zh);
  free(x->fh);
  free(x->zp);
  free(x->gp);
  free(x->gnorm);
  free(x->accel);
  free(x->gram);
  free(x->rhs);
  free(x->ipiv);
  free(x);
  *s = NULL;
}

void isw_solver_reset(isw_solver *s, int64_t rows) {
  s->rows = rows < s->max_rows ? rows : s->max_rows;
  s->k = 0;
  s->nmem = 0;
  memset(s->accel, 0, (size_t)s->max_rows);
}

int64_t isw_solver_fallbacks(const isw_solver *s) { return s->fallbacks; }

/* zn (H) <- (1 - beta) z + beta fz */
static void picard_row(isw_real *zn, const isw_real *z, const isw_real *fz, double beta, int64_t h) {
  if (beta == 1.0) {
    memcpy(zn, fz, (size_t)h * sizeof *zn);
    return;
  }
  for (int64_t j = 0; j < h; ++j) zn[j] = (isw_real)((1.0 - beta) * z[j] + beta * fz[j]);
}

static double dot(const isw_real *a, const isw_real *b, int64_t h) {
  double s = 0.0;
  for (int64_t j = 0; j < h; ++j) s += (double)a[j] * b[j];
  return s;
}

/* ||fz - z|| of one row */
static double gnorm_row(const isw_real *z, const isw_real *fz, int64_t h) {
  double s = 0.0;
  for (int64_t j = 0; j < h; ++j) {
    double t = (double)fz[j] - z[j];
    s += t * t;
  }
  return sqrt(s);
}

/* Safeguard's growth test for row r with residual norm gn; updates the record. */
static int grew(isw_solver *s, int64_t r, double gn) {
  int g = s->k > 0 && s->accel[r] && !(gn <= ISW_SOLVER_GROWTH * s->gnorm[r]);
  s->gnorm[r] = gn;
  return g;
}

static void anderson_step(isw_solver *s, isw_real *znext, const isw_real *z, const isw_real *fz) {
  int64_t h = s->h, b = s->rows, m = s->o.m;
  int64_t slot = s->k % m, n = s->k + 1 < m ? s->k + 1 : m;
  double beta = s->o.beta;
  for (int64_t r = 0; r < b; ++r) {
    const isw_real *zr = z + r * h, *fr = fz + r * h;
    isw_real *out = znext + r * h;
    isw_real *zh = s->zh + r * m * h, *gh = s->fh + r * m * h; /* (M, H) this row's Z_i, G_i */
    /* history: slot <- (z, g = f(z) - z) */
    for (int64_t q = 0; q < h; ++q) {
      zh[slot * h + q] = zr[q];
      gh[slot * h + q] = (isw_real)((double)fr[q] - zr[q]);
    }
    double gn = sqrt(ISW_DOT_D((int)h, gh + slot * h, 1, gh + slot * h, 1));
    int fallback = grew(s, r, gn);
    if (n == 1 || fallback) {
      picard_row(out, zr, fr, beta, h);
      s->accel[r] = 0;
      s->fallbacks += fallback;
      continue;
    }
    /* Gram (n, n) = G Gᵀ over the held slots (G (n, H) row-major) */
    ISW_BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)h, 1.0, gh, (int)h,
                gh, (int)h, 0.0, s->gram, (int)n);
    double trace = 0.0;
    for (int64_t i = 0; i < n; ++i) trace += s->gram[i * n + i];
    double reg = s->o.lambda * trace / (double)n, sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      s->gram[i * n + i] += reg;
      s->rhs[i] = 1.0;
    }
    /* (G Gᵀ + lambda' I) w = 1 */
    lapack_int info = isfinite(trace) ? ISW_LAPACKE(gesv)(LAPACK_ROW_MAJOR, (lapack_int)n, 1, s->gram,
                                                      (lapack_int)n, s->ipiv, s->rhs, 1)
                                      : -1;
    if (info == 0)
      for (int64_t i = 0; i < n; ++i) sum += s->rhs[i];
    if (info != 0 || !isfinite(sum) || sum == 0.0) {
      picard_row(out, zr, fr, beta, h);
      s->accel[r] = 0;
      s->fallbacks += 1;
      continue;
    }
    /* znext = Σ alpha_i ((1 - beta) Z_i + beta F_i) = Zᵀ alpha + beta Gᵀ alpha, alpha = w / Σ w */
    for (int64_t i = 0; i < n; ++i) s->rhs[i] /= sum;
    ISW_BLAS(gemv)(CblasRowMajor, CblasTrans, (int)n, (int)h, 1.0, zh, (int)h, s->rhs, 1, 0.0, out, 1);
    ISW_BLAS(gemv)(CblasRowMajor, CblasTrans, (int)n, (int)h, beta, gh, (int)h, s->rhs, 1, 1.0, out, 1);
    s->accel[r] = 1;
  }
}

/* Broyden: H = -I + Σ_i u_i v_iᵀ = -I + Uᵀ V over the held updates, per row
 * U (M, H) in zh, V (M, H) in fh. */
static void broyden_step(isw_solver *s, isw_real *znext, const isw_real *z, const isw_real *fz) {
  int64_t h = s->h, b = s->rows, m = s->o.m;
  double beta = s->o.beta;
  if (s->k > 0 && s->nmem == m) s->nmem = 0; /* memory full: restart from H = -I */
  int64_t slot = s->nmem;     /* where this step's update goes */
  int64_t held = s->nmem;     /* updates usable before this step's */
  int any_update = 0;
  isw_real *t = s->rhs;         /* (M) scratch */
  for (int64_t r = 0; r < b; ++r) {
    const isw_real *zr = z + r * h, *fr = fz + r * h;
    isw_real *out = znext + r * h, *zp = s->zp + r * h, *gp = s->gp + r * h;
    isw_real *U = s->zh + r * m * h, *V = s->fh + r * m * h;
    isw_real *un = U + slot * h, *vn = V + slot * h;
    double gn = gnorm_row(zr, fr, h);
    int fallback = grew(s, r, gn);
    if (s->k > 0) {
      /* s = z - zp, y = g - gp, kept in un (s) and vn (y) for now */
      for (int64_t q = 0; q < h; ++q) {
        un[q] = zr[q] - zp[q];
        vn[q] = (isw_real)(((double)fr[q] - zr[q]) - gp[q]);
      }
      /* Hy = -y + Uᵀ (V y) into gp (no longer needed), Hᵀ s = -s + Vᵀ (U s) into zp */
      for (int64_t q = 0; q < h; ++q) {
        gp[q] = -vn[q];
        zp[q] = -un[q];
      }
      if (held > 0) {
        ISW_BLAS(gemv)(CblasRowMajor, CblasNoTrans, (int)held, (int)h, 1.0, V, (int)h, vn, 1, 0.0, t, 1);
        ISW_BLAS(gemv)(CblasRowMajor, CblasTrans, (int)held, (int)h, 1.0, U, (int)h, t, 1, 1.0, gp, 1);
        ISW_BLAS(gemv)(CblasRowMajor, CblasNoTrans, (int)held, (int)h, 1.0, U, (int)h, un, 1, 0.0, t, 1);
        ISW_BLAS(gemv)(CblasRowMajor, CblasTrans, (int)held, (int)h, 1.0, V, (int)h, t, 1, 1.0, zp, 1);
      }
      double den = dot(un, gp, h), ns = sqrt(dot(un, un, h)), nhy = sqrt(dot(gp, gp, h));
      if (isfinite(den) && fabs(den) > 1e-14 * ns * nhy && ns > 0.0) {
        /* u_new = (s - Hy) / (sᵀ H y), v_new = Hᵀ s */
        for (int64_t q = 0; q < h; ++q) {
          un[q] = (isw_real)((un[q] - gp[q]) / den);
          vn[q] = zp[q];
        }
      } else {
        for (int64_t q = 0; q < h; ++q) un[q] = vn[q] = 0; /* a null update */
        fallback = 1;
      }
      any_update = 1;
    }
    /* remember z and g for the next update */
    for (int64_t q = 0; q < h; ++q) {
      zp[q] = zr[q];
      gp[q] = (isw_real)((double)fr[q] - zr[q]);
    }
    if (s->k == 0 || fallback) {
      picard_row(out, zr, fr, beta, h);
      s->accel[r] = 0;
      s->fallbacks += fallback;
      continue;
    }
    /* znext = z - H g = f - Uᵀ (V g), over the held updates and this one */
    memcpy(out, fr, (size_t)h * sizeof *out);
    ISW_BLAS(gemv)(CblasRowMajor, CblasNoTrans, (int)(held + 1), (int)h, 1.0, V, (int)h, gp, 1, 0.0, t, 1);
    ISW_BLAS(gemv)(CblasRowMajor, CblasTrans, (int)(held + 1), (int)h, -1.0, U, (int)h, t, 1, 1.0, out, 1);
    s->accel[r] = 1;
  }
  if (any_update) s->nmem += 1;
}

void isw_solver_step(isw_solver *s, isw_real *znext, const isw_real *z, const isw_real *fz) {
  int64_t h = s->h, b = s->rows;
  switch (s->o.kind) {
    case ISW_SOLVER_PICARD:
      for (int64_t r = 0; r < b; ++r) picard_row(znext + r * h, z + r * h, fz + r * h, s->o.beta, h);
      break;
    case ISW_SOLVER_ANDERSON: anderson_step(s, znext, z, fz); break;
    case ISW_SOLVER_BROYDEN: broyden_step(s, znext, z, fz); break;
  }
  s->k += 1;
}

void isw_solver_residuals(double *sum, double *mx, const isw_real *z, const isw_real *f,
                          int64_t rows, int64_t h) {
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

int isw_solver_solve(isw_solver_result *res, isw_solver *s, isw_solver_map f, void *ctx,
                     isw_real *z, isw_real *fz, isw_real *tmp, int64_t rows, double tol,
                     int64_t max_evals) {
  int err = 0;
  int64_t bh = rows * s->h;
  isw_solver_reset(s, rows);
  res->evals = 0;
  res->converged = 0;
  res->residual = INFINITY;
  for (;;) {
    ISW_CALL(f(ctx, fz, z, rows));
    res->evals += 1;
    double sum = 0.0, mx = 0.0;
    isw_solver_residuals(&sum, &mx, z, fz, rows, s->h);
    res->residual = mx;
    if (mx <= tol) {
      res->converged = 1;
      break;
    }
    if (res->evals >= max_evals || !isfinite(mx)) break;
    isw_solver_step(s, tmp, z, fz);
    memcpy(z, tmp, (size_t)bh * sizeof *z);
  }
cleanup:
  return err;
}
