/* writer.h — finished rows travel from every rank to one writer, rank 0,
 * which writes them to the results file in batches (store.h,
 * isw_store_write_batch).
 *
 * Why rank 0 and not one writer per node: a row is ~2 kB; a batch of 256
 * rows is one H5Dwrite per column (one write(2) per chunk it touches), so
 * one writer keeps up with thousands of rows a second while the ranks only
 * send a message per row; one writer also means one process opens the file
 * for writing (no MPI-IO open by every rank, no extent-lock traffic between
 * writers on a parallel file system, HDF5's chunk cache usable).
 *
 * Every rank's isw_writer_begin / _finished / _status sends its entry to rank
 * 0 over the writer's own communicator (a duplicate of the caller's) and
 * returns; a thread on rank 0 receives them in whatever order they come,
 * buffers them and writes a batch when it holds `batch_rows` rows, when the
 * oldest has waited `batch_seconds`, and at the end.  Values do not depend on
 * the order: the file is bitwise the same whatever the number of ranks.  A
 * SIGKILL loses at most the entries of the batches not yet written (their
 * rows keep the status they had: resume runs them again).
 *
 * A failed batch write (a full disk) is kept as the writer's error: the
 * thread raises the stop flag (isw_signals_request_stop) so that no more work
 * is handed out, drops the rows that follow, and rank 0's next call (or
 * isw_writer_finish) returns the error. */
#ifndef ISWEEP_WRITER_H
#define ISWEEP_WRITER_H

#include <mpi.h>

#include "isweep/spec.h"
#include "isweep/store.h"
#include "isweep/task.h"

/* Defaults of [sweep] batch_rows and batch_seconds. */
#define ISW_WRITER_BATCH_ROWS 256
#define ISW_WRITER_BATCH_SECONDS 10.0

typedef struct isw_writer isw_writer;

/* Start the writer over comm: rank 0 (which must hold `store` open, store.h)
 * starts its thread.  Collective (MPI_Comm_dup).  batch_rows >= 1,
 * batch_seconds > 0 (ISW_EINTERNAL otherwise). */
int isw_writer_create(isw_writer **out, isw_store *store, const isw_spec *spec, int batch_rows,
                      double batch_seconds, MPI_Comm comm);
/* Hand an entry to the writer (any rank, the calling thread only; not
 * collective): a row begins on `rank` at `host` at start_time (Unix seconds);
 * a row finished with result r (its status r->status); a row's status alone
 * (e.g. back to pending).  Returns 0, ISW_EMPI, or on rank 0 the writer's
 * error once a batch failed. */
int isw_writer_begin(isw_writer *w, int g, int row, int rank, const char *host, double start_time);
int isw_writer_finished(isw_writer *w, int g, int row, const isw_result *r);
int isw_writer_status(isw_writer *w, int g, int row, isw_status st);
/* Every rank says it is done; rank 0 waits until every rank's entries are
 * written (the last batch included) and stops its thread.  Collective.
 * Returns rank 0's batch error there (0 on the other ranks); *write_seconds
 * (may be NULL) <- on rank 0 the seconds spent writing batches, else 0.
 * Frees, NULLs *w.  NULL-safe. */
int isw_writer_finish(isw_writer **w, double *write_seconds);
/* Rank 0, any thread: give up `rank` (a rank lost under mpirun
 * --enable-recovery, dispatch.h): from now on its entries are dropped (its
 * rows are run again elsewhere: a late entry of its own must not overwrite
 * theirs) and it counts as ended.  Thread-safe; no-op elsewhere. */
void isw_writer_lost(isw_writer *w, int rank);
/* Rank 0, once every rank not lost has called isw_writer_finish (the others
 * cannot: isw_writer_finish is collective): rank 0 counts as ended too, the
 * thread writes what it holds and stops.  *w stays allocated (another
 * thread may still hold it; the process ends next).  Returns the writer's
 * error. */
int isw_writer_drain(isw_writer *w, double *write_seconds);
/* Free without waiting for the other ranks (an error path: rank 0's thread
 * is told to stop and joined; entries not yet written are lost).  NULL-safe. */
void isw_writer_destroy(isw_writer **w);

#endif
