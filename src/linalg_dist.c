/* linalg_dist.c — the team least-squares solve over ScaLAPACK/BLACS (see
 * include/isweep/linalg_dist.h).  The only file that talks BLACS/ScaLAPACK;
 * it does no I/O and never aborts: ScaLAPACK failures become ISW_ENUMERIC.
 *
 * Shapes: m = rows of A (constraints), n = columns (unknowns), P = team size,
 * mb = row block of the caller's layout, nb = column block (set_nb, default
 * 64), m_loc = local rows of A, b_loc = local rows of the right-hand side B,
 * which has max(m, n) global rows so that the n-vector solution of the
 * under-determined case fits in it.
 *
 * Grids: "tall" P x 1, team rank r = process row r: the caller's layout.
 * Global row block k lives on row k % P; every rank holds all n columns.
 * "wide" 1 x P, team rank r = process column r: only for m < n, P > 1.
 *
 * Algorithm (what pdgels does, done step by step so that the Householder
 * scalars tau survive for project_perp: pdgels keeps them in WORK and
 * overwrites WORK(1) with the workspace size on return):
 *   m >= n, on the tall grid, in place:
 *     A = Q R (pdgeqrf);  b <- Qᵀ b (pdormqr);  x = R⁻¹ b(1:n) (pdtrsm).
 *   m < n, on the wide grid (A and b copied there with pdgemr2d):
 *     A = L Q (pdgelqf);  y = L⁻¹ b(1:m) (pdtrsm);  x = Qᵀ [y; 0] (pdormlq).
 *   Why the copy: on the tall grid each LQ row panel sits on one rank, so its
 *   factorisation is serial and the team barely beat one rank (bench_team);
 *   on the wide grid every rank holds n/P columns of each panel.  With P = 1
 *   both grids are 1 x 1 and A is factored in place.  For m < n the caller's
 *   local A is therefore left as it was: the LQ factors live in the copy,
 *   which is freed after the solve (project_perp needs no factor when m <= n).
 * pdgels additionally rescales A and b when their norms are near under/overflow;
 * this module does not (data of ordinary size only).
 * Numerical rank, unlike pdgels: after the factorisation, rcond = 1 /
 * (||T||_1 ||T⁻¹||_1) of the triangular factor T (R or L) is estimated with
 * LAPACK's estimator (dlacn2) driving pdtrsm solves (dist_rcond says why not
 * pdtrcon), rank 0's value is broadcast (so every member takes the same
 * decision), and the solve is refused below isw_linalg_rcond_min(m, n) as on
 * one rank.  An exact zero on T's diagonal is caught first (rcond 0) so that
 * no solve divides by zero.
 *
 * Alignment (checked by pdgels/pdormqr/pdormlq, satisfied by construction):
 *   QR:  MB_A == MB_B == mb, same first row; the panel width nb is free.
 *   LQ:  NB_A == MB_B: A's column block equals b's row block (both nb on the
 *        wide grid).  On the tall grid this would force nb = mb, i.e. the LQ
 *        panel width would be the caller's mb. */
#include "isweep/linalg_dist.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "isweep/error.h"
#include "isweep/linalg.h"

/* --- BLACS / ScaLAPACK prototypes (Debian ships no C header) ---------------
 * Fortran routines take pointers and, for CHARACTER arguments, hidden trailing
 * lengths (size_t with gfortran).  PBLAS (pdtrsm_) is written in C and takes
 * plain char pointers. */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);

int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ctxt, const int *lld,
               int *info);
void pdgeqrf_(const int *m, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, double *tau, double *work, const int *lwork, int *info);
void pdgelqf_(const int *m, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, double *tau, double *work, const int *lwork, int *info);
void pdormqr_(const char *side, const char *trans, const int *m, const int *n,
              const int *k, const double *a, const int *ia, const int *ja,
              const int *desca, const double *tau, double *c, const int *ic,
              const int *jc, const int *descc, double *work, const int *lwork,
              int *info, size_t side_len, size_t trans_len);
void pdormlq_(const char *side, const char *trans, const int *m, const int *n,
              const int *k, const double *a, const int *ia, const int *ja,
              const int *desca, const double *tau, double *c, const int *ic,
              const int *jc, const int *descc, double *work, const int *lwork,
              int *info, size_t side_len, size_t trans_len);
void pdgemr2d_(const int *m, const int *n, const double *a, const int *ia, const int *ja,
               const int *desca, double *b, const int *ib, const int *jb, const int *descb,
               const int *ctxt);
void pdtrsm_(const char *side, const char *uplo, const char *transa, const char *diag,
             const int *m, const int *n, const double *alpha, const double *a,
             const int *ia, const int *ja, const int *desca, double *b, const int *ib,
             const int *jb, const int *descb);

enum { DLEN = 9, ISW_DIST_NB_DEFAULT = 64 };

struct isw_dist_ls {
  MPI_Comm comm;  /* private duplicate of the team communicator */
  int sys;        /* BLACS system handle of comm, -1 when none */
  int ctxt;       /* BLACS tall grid context (P x 1), -1 when none */
  int ctxt_wide;  /* BLACS wide grid context (1 x P) when m < n and P > 1, else -1 */
  int nprow, myrow;
  int m, n, mb, nb;
  int m_loc;      /* local rows of A */
  int b_loc;      /* local rows of B (max(m, n) global rows) */
  int factored;   /* solve done; for m >= n, a holds the QR factors and tau their scalars */
  int desc_a[DLEN]; /* of a on the tall grid, set by the QR solve */
  double *a;      /* (m_loc, n), lda = max(1, m_loc) */
  double *b;      /* (b_loc) */
  double *tau;    /* (min(m, n)) Householder scalars */
};

static const int I_ZERO = 0, I_ONE = 1;

/* Global row (0-based) of local row i of any array with row block mb on this grid. */
static int global_row(const isw_dist_ls *ls, int i) {
  int blk = i / ls->mb, off = i % ls->mb;
  return (blk * ls->nprow + ls->myrow) * ls->mb + off;
}

static int max_int(int a, int b) { return a > b ? a : b; }

int isw_dist_ls_create(isw_dist_ls **out, MPI_Comm comm, int m, int n, int mb) {
  int err = 0;
  isw_dist_ls *ls = NULL;
  ISW_CHECK(out != NULL, ISW_EUSAGE, "isw_dist_ls_create: out is NULL; pass &handle");
  *out = NULL;
  ISW_CHECK(comm != MPI_COMM_NULL, ISW_EUSAGE,
            "isw_dist_ls_create: comm is MPI_COMM_NULL; call it on team members only");
  ISW_CHECK(m >= 1 && n >= 1, ISW_EUSAGE,
            "isw_dist_ls_create: matrix is %d x %d; both dimensions must be >= 1", m, n);
  ISW_CHECK(mb >= 1, ISW_EUSAGE, "isw_dist_ls_create: row block mb = %d; give mb >= 1", mb);

  ls = calloc(1, sizeof *ls);
  ISW_CHECK(ls != NULL, ISW_ENOMEM, "isw_dist_ls_create: out of memory");
  ls->comm = MPI_COMM_NULL;
  ls->sys = -1;
  ls->ctxt = -1;
  ls->ctxt_wide = -1;
  ls->m = m;
  ls->n = n;
  ls->mb = mb;
  ls->nb = ISW_DIST_NB_DEFAULT;

  /* A private communicator: BLACS keys system handles by communicator value, so
   * two live solvers over the same comm would otherwise share (and free) one. */
  ISW_CHECK(MPI_Comm_dup(comm, &ls->comm) == MPI_SUCCESS, ISW_EMPI,
            "isw_dist_ls_create: MPI_Comm_dup of the team communicator failed");
  int size = 0, rank = 0;
  MPI_Comm_size(ls->comm, &size);
  MPI_Comm_rank(ls->comm, &rank);

  ls->sys = Csys2blacs_handle(ls->comm);
  int ctxt = ls->sys; /* gridinit turns the system handle into a grid context */
  Cblacs_gridinit(&ctxt, "Row", size, 1);
  int npcol = 0, mycol = 0;
  ls->nprow = -1;
  if (ctxt >= 0) {
    ls->ctxt = ctxt;
    Cblacs_gridinfo(ls->ctxt, &ls->nprow, &npcol, &ls->myrow, &mycol);
  }
  ISW_CHECK(ls->ctxt >= 0 && ls->nprow == size && npcol == 1 && ls->myrow == rank,
            ISW_EINTERNAL,
            "isw_dist_ls_create: BLACS grid is %d x %d with this rank at row %d; expected "
            "%d x 1 with team rank %d at row %d",
            ls->nprow, npcol, ls->myrow, size, rank, rank);

  if (m < n && size > 1) {
    int wide = ls->sys, wrows = 0, wcols = 0, wrow = -1, wcol = -1;
    Cblacs_gridinit(&wide, "Row", 1, size);
    if (wide >= 0) {
      ls->ctxt_wide = wide;
      Cblacs_gridinfo(wide, &wrows, &wcols, &wrow, &wcol);
    }
    ISW_CHECK(wide >= 0 && wrows == 1 && wcols == size && wcol == rank, ISW_EINTERNAL,
              "isw_dist_ls_create: BLACS wide grid is %d x %d with this rank at column %d; "
              "expected 1 x %d with team rank %d at column %d",
              wrows, wcols, wcol, size, rank, rank);
  }

  int mb_rows = max_int(m, n);
  ls->m_loc = numroc_(&m, &mb, &ls->myrow, &I_ZERO, &ls->nprow);
  ls->b_loc = numroc_(&mb_rows, &mb, &ls->myrow, &I_ZERO, &ls->nprow);
  ISW_ALLOC(ls->a, (size_t)max_int(1, ls->m_loc) * (size_t)n);
  ISW_ALLOC(ls->b, max_int(1, ls->b_loc));
  ISW_ALLOC(ls->tau, m < n ? m : n);
  *out = ls;
  ls = NULL;
cleanup:
  isw_dist_ls_destroy(&ls);
  return err;
}

void isw_dist_ls_destroy(isw_dist_ls **pls) {
  if (!pls || !*pls) return;
  isw_dist_ls *ls = *pls;
  if (ls->ctxt_wide >= 0) Cblacs_gridexit(ls->ctxt_wide);
  if (ls->ctxt >= 0) Cblacs_gridexit(ls->ctxt);
  if (ls->sys >= 0) Cfree_blacs_system_handle(ls->sys);
  if (ls->comm != MPI_COMM_NULL) MPI_Comm_free(&ls->comm);
  free(ls->a);
  free(ls->b);
  free(ls->tau);
  free(ls);
  *pls = NULL;
}

int isw_dist_ls_local_rows(const isw_dist_ls *ls) { return ls->m_loc; }
int isw_dist_ls_global_row(const isw_dist_ls *ls, int i) { return global_row(ls, i); }
double *isw_dist_ls_a(isw_dist_ls *ls) { return ls->a; }
int isw_dist_ls_lda(const isw_dist_ls *ls) { return max_int(1, ls->m_loc); }
double *isw_dist_ls_b(isw_dist_ls *ls) { return ls->b; }

int isw_dist_ls_set_nb(isw_dist_ls *ls, int nb) {
  int err = 0;
  ISW_CHECK(ls != NULL && nb >= 1, ISW_EUSAGE,
            "isw_dist_ls_set_nb: column block %d; give nb >= 1 on a live solver", nb);
  ISW_CHECK(!ls->factored, ISW_EUSAGE,
            "isw_dist_ls_set_nb: already solved; set the block before isw_dist_ls_solve");
  ls->nb = nb;
cleanup:
  return err;
}

void isw_dist_ls_blacs_ids(const isw_dist_ls *ls, int *sys, int *ctxt, int *ctxt_wide) {
  if (sys) *sys = ls->sys;
  if (ctxt) *ctxt = ls->ctxt;
  if (ctxt_wide) *ctxt_wide = ls->ctxt_wide;
}

/* Fill a descriptor on grid ctxt, translating descinit's info. */
static int make_desc(int *desc, int ctxt, int rows, int cols, int mb, int nb, int lld) {
  int err = 0, info = 0;
  descinit_(desc, &rows, &cols, &mb, &nb, &I_ZERO, &I_ZERO, &ctxt, &lld, &info);
  ISW_CHECK(info == 0, ISW_EINTERNAL,
            "descinit of a %d x %d matrix (mb %d, nb %d, lld %d) failed: info = %d", rows,
            cols, mb, nb, lld, info);
cleanup:
  return err;
}

/* Work-array length from a ScaLAPACK lwork = -1 query result. */
static int query_len(double w) { return w < 1.0 ? 1 : (int)w + 1; }

/* 1 on every rank if some rank's share of the first k diagonal entries of R
 * (held on the tall grid) is exactly zero. */
static int diag_has_zero(const isw_dist_ls *ls, int k) {
  int lda = max_int(1, ls->m_loc), mine = 0, any = 0;
  for (int i = 0; i < ls->m_loc; ++i) {
    int g = global_row(ls, i);
    if (g < k && ls->a[i + (size_t)g * lda] == 0.0) mine = 1;
  }
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, ls->comm);
  return any;
}

/* *rcond <- 1 / (||T||_1 est ||T⁻¹||_1) for the k x k triangular factor T at
 * the top left of a (desc_a): upper R on the tall grid (lq = 0) or lower L in
 * the LQ layout (lq = 1: all rows local, nb x nb column blocks over the wide
 * grid, or the 1 x 1 grid when P = 1).  The estimator is LAPACK's dtrcon one,
 * dlacn2 (Higham's) run on every rank on an identical x (k), its products
 * T⁻¹ x and T⁻ᵀ x done by pdtrsm on a distributed copy of x and re-replicated
 * with a sum of disjoint parts (exact, so every rank takes the same branches).
 * Reference pdtrcon is not used: on the 37 x 13 R of test_linalg_dist it
 * estimates rcond 0.46 where dtrcon gives 0.14 and the exact 1-norm value is
 * 0.092 (25x off for a 24 x 24 R), so the rank test would depend on the path.
 * Collective. */
static int dist_rcond(double *rcond, isw_dist_ls *ls, int lq, int k, const double *a,
                      const int *desc_a) {
  int err = 0, rank = 0, P = 1, kase = 0, isave[3] = {0, 0, 0}, desc_v[DLEN];
  double *colsum = NULL, *x = NULL, *v = NULL, *xl = NULL, est = 0.0, anorm = 0.0;
  int *isgn = NULL;
  const double one = 1.0;
  MPI_Comm_rank(ls->comm, &rank);
  MPI_Comm_size(ls->comm, &P);
  const int wide = lq && ls->ctxt_wide >= 0, pw = wide ? P : 1, mycol = wide ? rank : 0;
  const int ctxt = wide ? ls->ctxt_wide : ls->ctxt, nb = ls->nb;
  /* x's distributed copy: tall grid, rows like A's (mb); LQ layout, all on rank 0 */
  const int n_vl = lq ? (rank == 0 ? k : 0) : numroc_(&k, &ls->mb, &ls->myrow, &I_ZERO, &ls->nprow);
  if (lq)
    ISW_CALL(make_desc(desc_v, ctxt, k, 1, nb, nb, k));
  else
    ISW_CALL(make_desc(desc_v, ctxt, k, 1, ls->mb, 1, max_int(1, n_vl)));
  ISW_ALLOC(colsum, k);
  ISW_ALLOC(x, k);
  ISW_ALLOC(v, k);
  ISW_ALLOC(isgn, k);
  ISW_ALLOC(xl, k);

  /* ||T||_1: column sums of |T| over the triangle, summed over the team */
  if (!lq) {
    const int lda = max_int(1, ls->m_loc);
    for (int i = 0; i < ls->m_loc; ++i) {
      int g = global_row(ls, i);
      for (int j = g; j < k; ++j) colsum[j] += fabs(a[i + (size_t)j * lda]);
    }
  } else {
    const int lda = max_int(1, ls->m), ncl = numroc_(&k, &nb, &mycol, &I_ZERO, &pw);
    for (int lc = 0; lc < ncl; ++lc) {
      int j = (lc / nb * pw + mycol) * nb + lc % nb;
      for (int i = j; i < k; ++i) colsum[j] += fabs(a[i + (size_t)lc * lda]);
    }
  }
  ISW_CHECK(MPI_Allreduce(MPI_IN_PLACE, colsum, k, MPI_DOUBLE, MPI_SUM, ls->comm) == MPI_SUCCESS,
            ISW_EMPI, "isw_dist_ls_solve: MPI_Allreduce of the factor's column sums failed");
  for (int j = 0; j < k; ++j) anorm = colsum[j] > anorm ? colsum[j] : anorm;

  /* est <- ||T⁻¹||_1 estimated by reverse communication */
  for (;;) {
    LAPACKE_dlacn2(k, v, x, isgn, &est, &kase, isave);
    if (kase == 0) break;
    for (int i = 0; i < n_vl; ++i) xl[i] = x[lq ? i : global_row(ls, i)];
    /* xl (k) <- T⁻¹ (k,k) · xl (kase 1) or T⁻ᵀ (k,k) · xl (kase 2) */
    pdtrsm_("L", lq ? "L" : "U", kase == 1 ? "N" : "T", "N", &k, &I_ONE, &one, a, &I_ONE, &I_ONE,
            desc_a, xl, &I_ONE, &I_ONE, desc_v);
    memset(x, 0, (size_t)k * sizeof *x);
    for (int i = 0; i < n_vl; ++i) x[lq ? i : global_row(ls, i)] = xl[i];
    ISW_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, k, MPI_DOUBLE, MPI_SUM, ls->comm) == MPI_SUCCESS,
              ISW_EMPI, "isw_dist_ls_solve: MPI_Allreduce of the estimator's vector failed");
  }
  *rcond = anorm > 0.0 && est != 0.0 ? (1.0 / anorm) / est : 0.0; /* as dtrcon */
cleanup:
  free(colsum);
  free(x);
  free(v);
  free(isgn);
  free(xl);
  return err;
}

/* *rcond <- 0 when `singular` (an exact zero on T's diagonal, found by the
 * caller), else dist_rcond of T (lq as there); then ISW_ENUMERIC unless it
 * reaches isw_linalg_rcond_min(m, n).  Collective; rank 0's value is
 * broadcast so every member returns the same value and the same verdict. */
static int rank_test(double *rcond, isw_dist_ls *ls, int singular, int lq, int k,
                     const double *a, const int *desc_a) {
  int err = 0;
  const int m = ls->m, n = ls->n;
  *rcond = 0.0;
  if (!singular) ISW_CALL(dist_rcond(rcond, ls, lq, k, a, desc_a));
  ISW_CHECK(MPI_Bcast(rcond, 1, MPI_DOUBLE, 0, ls->comm) == MPI_SUCCESS, ISW_EMPI,
            "isw_dist_ls_solve: MPI_Bcast of the condition estimate failed");
  const double rmin = isw_linalg_rcond_min(m, n);
  ISW_CHECK(*rcond >= rmin, ISW_ENUMERIC,
            "team least squares on a %d x %d problem: A is %s rank deficient: its triangular "
            "factor has estimated condition number %.3g (1-norm), above %.3g = 1/(max(m, n) "
            "eps); remove the dependent columns or rows of A",
            m, n, singular ? "exactly" : "numerically", 1.0 / *rcond, 1.0 / rmin);
cleanup:
  return err;
}

/* m >= n on the tall grid, in place: x (n) on every rank. */
static int solve_qr(isw_dist_ls *ls, double *x /* (n) */, double *rcond) {
  int err = 0, info = 0, lwork = -1;
  double *work = NULL, wq[2] = {0.0, 0.0};
  const int m = ls->m, n = ls->n, nb = ls->nb, lda = max_int(1, ls->m_loc);
  const double one = 1.0;
  int desc_b[DLEN];
  ISW_CALL(make_desc(ls->desc_a, ls->ctxt, m, n, ls->mb, nb, lda));
  ISW_CALL(make_desc(desc_b, ls->ctxt, m, 1, ls->mb, 1, max_int(1, ls->b_loc)));

  pdgeqrf_(&m, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, &wq[0], &lwork, &info);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdgeqrf workspace query failed: info = %d", info);
  pdormqr_("L", "T", &m, &I_ONE, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, ls->b,
           &I_ONE, &I_ONE, desc_b, &wq[1], &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormqr workspace query failed: info = %d", info);
  lwork = max_int(query_len(wq[0]), query_len(wq[1]));
  ISW_ALLOC(work, lwork);

  /* A (m,n) = Q (m,m) · [R (n,n); 0] */
  pdgeqrf_(&m, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, work, &lwork, &info);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdgeqrf (%d x %d, mb %d, nb %d) failed: info = %d", m,
            n, ls->mb, nb, info);
  ls->factored = 1;
  /* rcond <- 1 / cond_1(R (n,n)) */
  ISW_CALL(rank_test(rcond, ls, diag_has_zero(ls, n), 0, n, ls->a, ls->desc_a));
  /* b (m) <- Qᵀ (m,m) · b */
  pdormqr_("L", "T", &m, &I_ONE, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, ls->b,
           &I_ONE, &I_ONE, desc_b, work, &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormqr (Qᵀ b) failed: info = %d", info);
  /* b (1:n) <- R⁻¹ (n,n) · b (1:n) */
  pdtrsm_("L", "U", "N", "N", &n, &I_ONE, &one, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->b,
          &I_ONE, &I_ONE, desc_b);

  /* x (n) on every rank: each rank contributes the solution rows it owns. */
  memset(x, 0, (size_t)n * sizeof *x);
  for (int i = 0; i < ls->b_loc; ++i) {
    int g = global_row(ls, i);
    if (g < n) x[g] = ls->b[i];
  }
  ISW_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, ls->comm) == MPI_SUCCESS,
            ISW_EMPI, "isw_dist_ls_solve: MPI_Allreduce of the solution failed");
cleanup:
  free(work);
  return err;
}

/* m < n on the wide grid (1 x P; with P = 1 the tall grid, in place): x (n)
 * on every rank. */
static int solve_lq(isw_dist_ls *ls, double *x /* (n) */, double *rcond) {
  int err = 0, info = 0, lwork = -1, rank = 0;
  double *work = NULL, *aw_own = NULL, *bw_own = NULL, wq[2] = {0.0, 0.0};
  const int m = ls->m, n = ls->n, nb = ls->nb, copy = ls->ctxt_wide >= 0;
  const int ctxt = copy ? ls->ctxt_wide : ls->ctxt;
  const double one = 1.0;
  double *aw = ls->a, *bw = ls->b; /* A (m,n) and b (n) on the wide grid */
  int desc_aw[DLEN], desc_bw[DLEN];
  MPI_Comm_rank(ls->comm, &rank);
  /* Wide grid: each rank holds all m rows, columns in blocks of nb; b (n, 1)
   * lives on process column 0 (team rank 0) with row block nb = A's column
   * block, as pdormlq requires.  P = 1: the 1 x 1 tall grid, lda = m. */
  ISW_CALL(make_desc(desc_aw, ctxt, m, n, nb, nb, max_int(1, m)));
  ISW_CALL(make_desc(desc_bw, ctxt, n, 1, nb, nb, n));
  if (copy) {
    int mycol = rank, P = 0;
    MPI_Comm_size(ls->comm, &P);
    int n_loc = numroc_(&n, &nb, &mycol, &I_ZERO, &P);
    int desc_at[DLEN], desc_bt[DLEN];
    ISW_CALL(make_desc(desc_at, ls->ctxt, m, n, ls->mb, nb, max_int(1, ls->m_loc)));
    ISW_CALL(make_desc(desc_bt, ls->ctxt, n, 1, ls->mb, 1, max_int(1, ls->b_loc)));
    ISW_ALLOC(aw_own, (size_t)m * (size_t)max_int(1, n_loc));
    ISW_ALLOC(bw_own, n); /* zeroed: rows m.. of [y; 0] */
    aw = aw_own;
    bw = bw_own;
    /* A (m,n): tall grid -> wide grid;  b (m): tall grid -> wide grid.  The
     * context spanning both is the wide grid: given one with more than one
     * process row, pdgemr2d builds a 1 x P grid of its own and leaks a BLACS
     * system handle each call (found by test_linalg_dist). */
    pdgemr2d_(&m, &n, ls->a, &I_ONE, &I_ONE, desc_at, aw, &I_ONE, &I_ONE, desc_aw, &ctxt);
    pdgemr2d_(&m, &I_ONE, ls->b, &I_ONE, &I_ONE, desc_bt, bw, &I_ONE, &I_ONE, desc_bw, &ctxt);
  } else {
    for (int i = m; i < n; ++i) bw[i] = 0.0; /* rows m.. of [y; 0] */
  }

  pdgelqf_(&m, &n, aw, &I_ONE, &I_ONE, desc_aw, ls->tau, &wq[0], &lwork, &info);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdgelqf workspace query failed: info = %d", info);
  pdormlq_("L", "T", &n, &I_ONE, &m, aw, &I_ONE, &I_ONE, desc_aw, ls->tau, bw, &I_ONE,
           &I_ONE, desc_bw, &wq[1], &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormlq workspace query failed: info = %d", info);
  lwork = max_int(query_len(wq[0]), query_len(wq[1]));
  ISW_ALLOC(work, lwork);

  /* A (m,n) = [L (m,m), 0] · Q (n,n) */
  pdgelqf_(&m, &n, aw, &I_ONE, &I_ONE, desc_aw, ls->tau, work, &lwork, &info);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdgelqf (%d x %d, nb %d) failed: info = %d", m, n, nb,
            info);
  ls->factored = 1;
  /* L's diagonal: on the wide grid entry (i, i) is in global column i. */
  int mine = 0, any = 0, pw = 1, mycol = 0;
  if (copy) {
    MPI_Comm_size(ls->comm, &pw);
    mycol = rank;
  }
  for (int i = 0; i < m; ++i) {
    int blk = i / nb;
    if (blk % pw != mycol) continue;
    int lcol = (blk / pw) * nb + i % nb;
    if (aw[i + (size_t)lcol * max_int(1, m)] == 0.0) mine = 1;
  }
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, ls->comm);
  /* rcond <- 1 / cond_1(L (m,m)) */
  ISW_CALL(rank_test(rcond, ls, any, 1, m, aw, desc_aw));
  /* b (1:m) <- L⁻¹ (m,m) · b (1:m) */
  pdtrsm_("L", "L", "N", "N", &m, &I_ONE, &one, aw, &I_ONE, &I_ONE, desc_aw, bw, &I_ONE,
          &I_ONE, desc_bw);
  /* x (n) = Qᵀ (n,n) · [y (m); 0 (n-m)] */
  pdormlq_("L", "T", &n, &I_ONE, &m, aw, &I_ONE, &I_ONE, desc_aw, ls->tau, bw, &I_ONE,
           &I_ONE, desc_bw, work, &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormlq (Qᵀ [y; 0]) failed: info = %d", info);

  /* x (n) on every rank: the wide grid's b sits on team rank 0. */
  if (rank == 0) memcpy(x, bw, (size_t)n * sizeof *x);
  ISW_CHECK(MPI_Bcast(x, n, MPI_DOUBLE, 0, ls->comm) == MPI_SUCCESS, ISW_EMPI,
            "isw_dist_ls_solve: MPI_Bcast of the solution failed");
cleanup:
  free(work);
  free(aw_own);
  free(bw_own);
  return err;
}

int isw_dist_ls_solve(isw_dist_ls *ls, double *x /* (n) */, double *rcond) {
  int err = 0;
  double rc = NAN;
  ISW_CHECK(ls != NULL && x != NULL, ISW_EUSAGE, "isw_dist_ls_solve: NULL solver or x");
  ISW_CHECK(!ls->factored, ISW_EUSAGE,
            "isw_dist_ls_solve: already solved (the factors replaced A); create a new "
            "solver for a new system");
  if (ls->m >= ls->n)
    ISW_CALL(solve_qr(ls, x, &rc));
  else
    ISW_CALL(solve_lq(ls, x, &rc));
cleanup:
  if (rcond) *rcond = rc;
  return err;
}

int isw_dist_ls_project_perp(isw_dist_ls *ls, double *v /* (m_loc, k) */, int k) {
  int err = 0, info = 0, lwork = -1;
  double *work = NULL, wq[2] = {0.0, 0.0}, dummy = 0.0;
  ISW_CHECK(ls != NULL && k >= 0, ISW_EUSAGE,
            "isw_dist_ls_project_perp: NULL solver or k = %d < 0", k);
  ISW_CHECK(ls->factored, ISW_EUSAGE,
            "isw_dist_ls_project_perp: no factors yet; call isw_dist_ls_solve first");
  ISW_CHECK(v != NULL || ls->m_loc == 0 || k == 0, ISW_EUSAGE,
            "isw_dist_ls_project_perp: v is NULL but this rank owns %d rows", ls->m_loc);
  const int m = ls->m, n = ls->n, ld = max_int(1, ls->m_loc);
  if (k == 0) goto cleanup;
  if (m <= n) {
    /* A has full row rank: range(A) = R^m, so range(A)^perp = {0}. */
    for (int j = 0; j < k; ++j)
      for (int i = 0; i < ls->m_loc; ++i) v[i + (size_t)j * ld] = 0.0;
    goto cleanup;
  }
  double *vp = v ? v : &dummy;
  int desc_v[DLEN];
  ISW_CALL(make_desc(desc_v, ls->ctxt, m, k, ls->mb, ls->desc_a[5], ld));
  pdormqr_("L", "T", &m, &k, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, vp, &I_ONE,
           &I_ONE, desc_v, &wq[0], &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormqr workspace query (Qᵀ) failed: info = %d", info);
  pdormqr_("L", "N", &m, &k, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, vp, &I_ONE,
           &I_ONE, desc_v, &wq[1], &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormqr workspace query (Q) failed: info = %d", info);
  lwork = max_int(query_len(wq[0]), query_len(wq[1]));
  ISW_ALLOC(work, lwork);

  /* P⊥ v = Q [0 (n); I (m-n)] Qᵀ v */
  /* v (m,k) <- Qᵀ (m,m) · v */
  pdormqr_("L", "T", &m, &k, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, vp, &I_ONE,
           &I_ONE, desc_v, work, &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormqr (Qᵀ v) failed: info = %d", info);
  /* v (1:n, :) <- 0: drop the range(A) coordinates */
  for (int i = 0; i < ls->m_loc; ++i) {
    if (global_row(ls, i) >= n) continue;
    for (int j = 0; j < k; ++j) v[i + (size_t)j * ld] = 0.0;
  }
  /* v (m,k) <- Q (m,m) · v */
  pdormqr_("L", "N", &m, &k, &n, ls->a, &I_ONE, &I_ONE, ls->desc_a, ls->tau, vp, &I_ONE,
           &I_ONE, desc_v, work, &lwork, &info, 1, 1);
  ISW_CHECK(info == 0, ISW_ENUMERIC, "pdormqr (Q v) failed: info = %d", info);
cleanup:
  free(work);
  return err;
}
