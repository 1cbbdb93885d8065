/* solvers.h — inner fixed-point solvers for z = f(z), shared by the deq
 * forward, its evaluation and its implicit (adjoint) backward:
 *   picard    z <- (1 - beta) z + beta f(z)  (beta = 1: the plain iteration);
 *   anderson  Anderson acceleration with memory m and mixing beta: with
 *             G_i = f(z_i) - z_i over the last n <= m iterates,
 *             alpha = argmin ||Σ alpha_i G_i||² + lambda' ||alpha||² subject
 *             to Σ alpha_i = 1 (lambda' = lambda · trace(GᵀG) / n, so lambda
 *             is scale-free), solved per sample as the n x n system
 *             (GᵀG + lambda' I) w = 1, alpha = w / Σ w (LAPACK dgesv), then
 *             z <- Σ alpha_i ((1 - beta) z_i + beta f(z_i));
 *   broyden   limited-memory good Broyden on g(z) = f(z) - z, line-search
 *             free: H ≈ (J_g)⁻¹ starts at -I and takes the Sherman-Morrison
 *             update H <- H + (s - H y) sᵀ H / (sᵀ H y) with s = z_k - z_{k-1},
 *             y = g_k - g_{k-1}; when m updates are held the memory restarts
 *             (H = -I) before the next one (dropping only the oldest instead
 *             diverged for m = 5, 20 and 25 on tests/test_solvers.c's affine
 *             problem in a prototype; restarting converged for every m);
 *             z <- z - H g(z).
 * Every step costs exactly one evaluation of f (the caller's), so curves
 * over steps compare solvers per unit of work.  The first step of every
 * solver is the (damped) Picard step.
 *
 * Safeguard (anderson, broyden): a sample takes the damped Picard step
 * instead when its small solve is singular or not finite (anderson: dgesv
 * info != 0 or Σ w = 0; broyden: |sᵀ H y| <= 1e-14 ||s|| ||H y||), or when
 * the previous step was an accelerated one and the residual ||g|| grew
 * over it by more than ISW_SOLVER_GROWTH; each such sample-step is counted
 * (isw_solver_fallbacks).  The factor: Broyden's residuals are not
 * monotone, and falling back on any growth doubled its f evaluations on the
 * affine test problem (106 vs 55 at factor 10; Picard 391); measured in
 * tests/test_solvers.c for factors 1, 1.5, 2, 4, 10: Broyden took 106, 100,
 * 71, 80, 55 evaluations, Anderson(5) 114 at every factor.
 *
 * Samples are rows: states are batch-major (B, H), every row an independent
 * fixed-point problem (its own coefficients), all rows step in lockstep.
 * Shapes: B = rows, H = state size, M = memory.
 * Deterministic; never touches MPI.  Not thread-safe per object. */
#ifndef ISWEEP_SOLVERS_H
#define ISWEEP_SOLVERS_H

#include <stdint.h>

#include "isweep/nn.h"

#define ISW_SOLVER_GROWTH 10.0 /* the safeguard's residual growth factor */

typedef enum { ISW_SOLVER_PICARD = 0, ISW_SOLVER_ANDERSON = 1, ISW_SOLVER_BROYDEN = 2 } isw_solver_kind;

/* "picard", "anderson", "broyden" (the spec's names, in enum order). */
extern const char *const isw_solver_names[3];

typedef struct {
  isw_solver_kind kind;
  double beta;   /* picard damping, anderson mixing, and every fallback step's damping: (0, 1] */
  int m;         /* anderson / broyden memory, >= 1 (anderson with m = 1 is damped picard) */
  double lambda; /* anderson regularization, relative (see above), >= 0 */
} isw_solver_opts;

typedef struct {
  int64_t evals;    /* evaluations of f used */
  int converged;    /* 1: every row's relative residual met tol */
  double residual;  /* max over rows of ||f(z) - z|| / ||f(z)|| at the returned z */
} isw_solver_result;

#endif

/* ---- typed part: once per precision (nn.h) ---- */
#if (defined(ISW_REAL_FLOAT) && !defined(ISWEEP_SOLVERS_H_S)) || (!defined(ISW_REAL_FLOAT) && !defined(ISWEEP_SOLVERS_H_D))
#ifdef ISW_REAL_FLOAT
#define ISWEEP_SOLVERS_H_S
#else
#define ISWEEP_SOLVERS_H_D
#endif
#include "isweep/nn.h"

typedef struct isw_solver isw_solver;

/* A solver for up to max_rows rows of size h.  Returns ISW_ENOMEM or
 * ISW_EINTERNAL (bad options). */
int isw_solver_create(isw_solver **out, const isw_solver_opts *o, int64_t max_rows, int64_t h);
/* NULL-safe; NULLs the pointer. */
void isw_solver_destroy(isw_solver **s);
/* Start a new solve of `rows` problems: history and memory cleared
 * (the fallback count is kept). */
void isw_solver_reset(isw_solver *s, int64_t rows);
/* One step: znext (B, H) <- the next iterate from the current z (B, H) and
 * fz = f(z) (B, H).  znext must not alias z or fz.  Non-finite values
 * propagate. */
void isw_solver_step(isw_solver *s, isw_real *znext, const isw_real *z, const isw_real *fz);
/* Sample-steps that took the safeguard's Picard step since creation. */
int64_t isw_solver_fallbacks(const isw_solver *s);

/* fz (B, H) <- f(z (B, H)) for `rows` rows; returns 0 or an error code. */
typedef int (*isw_solver_map)(void *ctx, isw_real *fz, const isw_real *z, int64_t rows);


/* Solve from z (B, H) (in: the start; out: the first iterate at which every
 * row has ||f(z) - z|| <= tol ||f(z)||, or the last one tried) with at most
 * max_evals evaluations of f; fz (B, H) returns f(z) there and tmp (B, H)
 * is scratch.  The solver is reset first.  Stops early on a non-finite
 * residual (converged = 0, residual = inf). */
int isw_solver_solve(isw_solver_result *res, isw_solver *s, isw_solver_map f, void *ctx,
                     isw_real *z, isw_real *fz, isw_real *tmp, int64_t rows, double tol,
                     int64_t max_evals);

/* Per-row relative residual r_i = ||f_i - z_i|| / ||f_i|| (||f_i|| = 0: 0
 * when f_i = z_i, else ||f_i - z_i|| / ||z_i||; non-finite: inf); adds the
 * sum over rows to *sum and the max to *max. */
void isw_solver_residuals(double *sum, double *max, const isw_real *z /* (B, H) */,
                          const isw_real *fz /* (B, H) */, int64_t rows, int64_t h);

#endif
