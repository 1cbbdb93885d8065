/* linalg_dist.h — ScaLAPACK/BLACS over a team communicator: the distributed
 * minimum-norm least-squares solve used by team configs, and the projection
 * onto range(A)^perp from the factors it leaves.  The only module that talks
 * BLACS/ScaLAPACK.
 *
 * Layout: the team's P ranks form a P x 1 BLACS grid over `comm`.  A (m, n)
 * is distributed by row blocks of mb rows, block-cyclically: global row block
 * k (rows k*mb .. k*mb+mb-1) lives on team rank k % P.  Local storage is
 * column-major (m_loc, n) with leading dimension max(1, m_loc).
 * Shapes: m = rows (constraints), n = columns (unknowns), m_loc = local rows. */
#ifndef ISWEEP_LINALG_DIST_H
#define ISWEEP_LINALG_DIST_H

#include <mpi.h>

typedef struct isw_dist_ls isw_dist_ls;

/* Collective over comm: make the grid and allocate local A (m_loc, n) and
 * b (max(m, n) rows worth of the distributed right-hand side), zeroed. */
int isw_dist_ls_create(isw_dist_ls **out, MPI_Comm comm, int m, int n, int mb);
/* NULL-safe; collective (releases the grid); NULLs the pointer. */
void isw_dist_ls_destroy(isw_dist_ls **ls);
/* Number of rows of A stored on this rank. */
int isw_dist_ls_local_rows(const isw_dist_ls *ls);
/* Global row index (0-based) of local row i. */
int isw_dist_ls_global_row(const isw_dist_ls *ls, int i);
/* Local A (m_loc, n) column-major, lda = max(1, m_loc), for the caller to fill. */
double *isw_dist_ls_a(isw_dist_ls *ls);
int isw_dist_ls_lda(const isw_dist_ls *ls);
/* Local b (m_loc) for the caller to fill (same row distribution as A). */
double *isw_dist_ls_b(isw_dist_ls *ls);
/* Solve min ||A x - b||_2 with pdgels (QR when m >= n, LQ otherwise; A must
 * have full rank), minimum-norm when m < n.  x (n) is returned on every rank.
 * A's local storage is replaced by the factors, kept for project_perp.
 * *rcond (NULL: not wanted) <- the estimate of 1 / cond_1 of R or L by
 * LAPACK's dtrcon estimator (dlacn2) over pdtrsm solves, the same on every
 * rank, 0 when exactly singular, set also when the solve is refused (NaN if
 * the factorisation failed).  Collective.  ISW_ENUMERIC
 * when A is rank deficient (rcond < isw_linalg_rcond_min(m, n), linalg.h)
 * or when ScaLAPACK reports a failure. */
int isw_dist_ls_solve(isw_dist_ls *ls, double *x, double *rcond);
/* After solve: v (m_loc, k) local rows, column-major, ld = max(1, m_loc),
 * distributed like A, is replaced by P_perp v, the projection onto
 * range(A)^perp (zero when m <= n: A has full row rank).  Collective. */
int isw_dist_ls_project_perp(isw_dist_ls *ls, double *v, int k);

/* Added with the implementation (src/linalg_dist.c): */
/* Block size NB of the factorisation, default 64; call before solve.  QR
 * (m >= n): the column (panel) block on the P x 1 grid.  LQ (m < n): A and b
 * are copied to a 1 x P grid with NB x NB blocks and factored there (A's
 * local storage is then left unchanged: project_perp needs no factor when
 * m <= n).  ISW_EUSAGE for nb < 1 or after solve. */
int isw_dist_ls_set_nb(isw_dist_ls *ls, int nb);
/* The BLACS system handle and grid contexts (P x 1, and 1 x P or -1) this
 * solver holds, for tests that check handles are released: a create after a
 * destroy gets the same ones.  NULL outputs are skipped. */
void isw_dist_ls_blacs_ids(const isw_dist_ls *ls, int *sys, int *ctxt, int *ctxt_wide);

#endif
