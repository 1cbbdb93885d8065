/* store.h — the only module that talks HDF5: the one shared results file.
 *
 * Layout (schema version ISW_SCHEMA_VERSION), one group per task family:
 *   /                       attributes: schema_version, isweep_version, git_commit,
 *                           spec_path, spec_text, spec_canonical, sweep_seed,
 *                           command_line, mpi_size, hdf5_version, mpi_version,
 *                           blas_info, start_time, end_time, runs
 *   /TASK/                  attributes: task, summary, n_configs
 *   /TASK/test_iters        int64 (T), a dimension scale
 *   /TASK/config_id         uint64 (C), a dimension scale for dim 0 of every column
 *   /TASK/width, train_iters, seed, <each task parameter>   (C) int64 / double / string
 *   /TASK/status            enum int8 {pending, running, ok, diverged, failed} (C)
 *   /TASK/message           string (C) why a row diverged or failed
 *   /TASK/rank, host, start_time, train_seconds, eval_seconds   (C)
 *   /TASK/rho, n_params     (C)
 *   /TASK/<each task scalar>  float64 (C)
 *   /TASK/<each task curve>   float64 (C, T), dim 1 attached to test_iters
 * Every row dataset is chunked (isw_store_chunk_rows rows a chunk, the group
 * attribute chunk_rows) with an unlimited first dimension and allocated at
 * creation.  Only status (pending), rank and n_params (-1) are filled; the
 * other cells of a row are unwritten (zero bytes) until the row is: a reader
 * trusts a row's results only when its status is ok, diverged or failed,
 * and its rank, host, start_time from running on; pending means ignore
 * every cell but the identity and parameter columns.  Afterwards only rank 0 holds the file open for
 * writing (POSIX I/O, no HDF5 file lock: RESULTS.lock keeps other writers
 * out, readers may watch), and writes nothing but raw data of allocated
 * chunks, in batches (isw_store_write_batch: data, flush, statuses, flush),
 * so a file killed mid-run opens and every row whose status is not pending
 * or running is complete.  The root attribute
 * `history` lists each creation and extension {time, command,
 * configs_added, configs_total}.  Rows are found by config_id: after an
 * extension a row is not the config's position in the spec's grid.
 *
 * Creation never leaves a broken file at the output path: rank 0 builds the
 * whole file in memory, writes it to DIR/.NAME.isweep-tmp.HOST.PID beside the
 * output, fsyncs it and only then moves it into place (rename over an old
 * results file with --force: the old one stays until the new one is
 * complete), and rank 0 opens it.  The path holds either nothing (or the
 * old file) or a complete file.  Nothing but a regular file is ever
 * replaced, and the only file removed on failure is the temporary this run
 * made (checked by inode). */
#ifndef ISWEEP_STORE_H
#define ISWEEP_STORE_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "isweep/schema.h"
#include "isweep/spec.h"
#include "isweep/task.h"

/* Rows per chunk of a group's row datasets (the group attribute chunk_rows):
 * the smallest power of two >= its n_configs from ISW_STORE_CHUNK_MIN_ROWS
 * to ISW_STORE_CHUNK_ROWS (256 rows: ~40 KiB for a 160-byte message column,
 * 160 KiB for a curve of 80 doubles), so a tiny sweep makes a small file and
 * a batch of consecutive rows is one write per 64 rows or more per column. */
#define ISW_STORE_CHUNK_ROWS 256
#define ISW_STORE_CHUNK_MIN_ROWS 64
int isw_store_chunk_rows(int64_t n_configs);
/* The name of the store's own communicator (a duplicate of the caller's,
 * set to return errors: MPI failures become ISW_EMPI, never an abort). */
#define ISW_STORE_COMM_NAME "isweep results file"

typedef struct isw_store isw_store;

/* Provenance written as root attributes at creation. */
typedef struct {
  const char *command_line; /* argv joined by spaces */
  int mpi_size;
  FILE *notes; /* rank 0's notes on leftover temporaries removed or left alone; NULL: none */
} isw_store_meta;

/* Create `path` and lay out every group of `spec` at full size, write the
 * attributes (see above: made under a temporary name, then moved into
 * place).  Collective over comm.  ISW_EUSAGE, path untouched: the file
 * exists and `overwrite` is 0 ("exists; use --resume or --force"), or the
 * path is anything but a regular file (device, FIFO, socket, directory,
 * symbolic link) whatever `overwrite` says, or its folder is missing or not
 * writable.  ISW_EIO on a full disk (the message says ENOSPC), path as it
 * was.  First, on rank 0, temporaries of killed creations of the same path
 * are removed when provably dead (same host, pid gone) and noted on
 * meta->notes; others are only noted.  MPI failures give ISW_EMPI. */
int isw_store_create(isw_store **out, const char *path, int overwrite, const isw_spec *spec,
                     const isw_store_meta *meta, MPI_Comm comm);
/* Open an existing results file to resume `spec`.  Collective.  ISW_EUSAGE
 * when it is not an isweep file, has another schema version, or its
 * spec_canonical differs from spec->canonical (the message names the first
 * differing line); the file is then untouched. Updates `runs` and mpi_size.
 * Like create, rank 0 first removes (or notes) leftover temporaries of
 * killed creations of `path`. */
int isw_store_open(isw_store **out, const char *path, const isw_spec *spec,
                   const isw_store_meta *meta, MPI_Comm comm);
/* Open an existing results file to run `spec`, a superset of its sweep
 * (isw_spec_extends): the configs the file lacks are added first, at the
 * end of their group's rows (new families as new groups); the rows already
 * there keep their data, ids and positions.  Then it is opened as a resume
 * (rows mapped by config_id).  Collective; rank 0 extends serially: the
 * file is copied in memory, grown there (H5Dset_extent of every row
 * dataset, new identity columns, the new canonical spec, a record in the
 * root attribute `history`), written to DIR/.NAME.isweep-tmp.HOST.PID,
 * fsynced and renamed over the original, so the path holds the old or the
 * whole extended file at any moment.  *added <- configs added (0: the same
 * sweep, a plain resume).  ISW_EUSAGE, file byte-identical, when the spec
 * does not extend the file's sweep (the message names the first differing
 * canonical line) or the file cannot grow (made before chunked layouts). */
int isw_store_extend(isw_store **out, int64_t *added, const char *path, const isw_spec *spec,
                     const isw_store_meta *meta, MPI_Comm comm);
/* What one entry of a batch writes (isw_store_write_batch). */
typedef enum {
  ISW_STORE_BEGIN,    /* rank, host, start_time; status running */
  ISW_STORE_FINISHED, /* every result column (rho, n_params, timings, message, scalars,
                         curves); status result->status */
  ISW_STORE_STATUS    /* the status only (e.g. back to pending) */
} isw_store_kind;

typedef struct {
  isw_store_kind kind;
  int g, row;               /* spec group and row (mapped to the file's row by config_id) */
  int rank;                 /* BEGIN: who runs it, where, since when (Unix seconds) */
  const char *host;
  double start_time;
  const isw_result *result; /* FINISHED */
  isw_status status;        /* STATUS */
} isw_store_entry;

/* Rank 0 (the only rank that holds the file open for writing): write the
 * entries e[0..n), in any order, as one batch: for every column, the rows it
 * covers go in one H5Dwrite (sorted by file row, runs of consecutive rows
 * merged).  Data first, then flushed and fsynced; then the statuses, then
 * flushed.  A process killed at any moment leaves every row either with its
 * old status or with its data complete and its new status, so a reader that
 * trusts only the status never sees half a row.  Several entries for one row
 * combine: who ran it from the last BEGIN, results from the last FINISHED,
 * the status from the last entry.  All entries are checked before anything is
 * written (ISW_EINTERNAL: bad group, row, kind or status).  ISW_EIO on a
 * write failure (ENOSPC named).  Not collective. */
int isw_store_write_batch(isw_store *s, const isw_store_entry *e, int n);
/* Rank 0: group g's status column into status (n_configs, spec row order). */
int isw_store_read_status(isw_store *s, int g, uint8_t *status);
/* Rank 0: one-entry batches (see isw_store_write_batch): mark a row running
 * (rank, host, start_time, status running); write a finished row and its
 * status; overwrite a row's status only. */
int isw_store_begin_row(isw_store *s, int g, int row, int rank, const char *host,
                        double start_time);
int isw_store_write_row(isw_store *s, int g, int row, const isw_result *r);
int isw_store_set_status(isw_store *s, int g, int row, isw_status st);
/* Rank 0 writes end_time and closes the file; every rank returns once it is
 * closed, with rank 0's verdict.  Collective.  NULL-safe; NULLs the pointer. */
int isw_store_close(isw_store **s);
/* Rank 0 alone, when the other ranks cannot take part (a rank was lost
 * under mpirun --enable-recovery): end_time, close, free.  Not collective;
 * the store's communicator is not freed (the process ends next).
 * NULL-safe; NULLs the pointer. */
int isw_store_close_alone(isw_store **s);

#endif
