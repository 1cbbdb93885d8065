/* store.c — the only file that talks HDF5: it creates the shared results
 * file (layout in store.h), reopens it for a resume, writes rows and
 * statuses, and closes it.
 *
 * Creation: rank 0 alone builds the whole file in memory (HDF5's core
 * driver), writes the closed image to a temporary file beside the output,
 * fsyncs it and moves it into place; then rank 0 opens it, as a resume does.  So no collective HDF5 call can fail half-way
 * (a full disk is a plain write() error on rank 0), and the output path
 * holds nothing, the old file, or a complete file.  The price: rank 0 holds
 * the whole file in memory while it builds it (measured: a 41 MB file of
 * 20,000 configs x 41 test_iters raised rank 0's peak RSS by 51 MB).
 *
 * Afterwards rank 0 alone holds the file open for writing (sec2, HDF5's
 * flock off) and every row reaches it through rank 0's writer thread
 * (writer.c), in batches: one H5Dwrite per column for the rows of a batch,
 * then H5Fflush and fsync, then the statuses, then H5Fflush.  The only HDF5
 * calls between open and close are raw-data reads and writes of datasets
 * whose chunks were all allocated at creation (or at an extension's
 * H5Dset_extent), so no metadata changes after creation and a file killed
 * mid-run opens with every row whose status says it is written complete.
 * Open and close stay collective: every rank gets rank 0's verdict.
 *
 * Strings are fixed-length, zero-filled and NUL-terminated (H5T_STR_NULLTERM:
 * at most width - 1 characters), so h5dump prints them without padding and
 * h5py reads them as bytes.
 *
 * File format bounds: low = high = H5F_LIBVER_V18 (superblock 2, no status
 * flags: only superblock 3 has them).  The 1.0 format (earliest) caps an
 * attribute at 64 KiB, which a spec with long expanded lists exceeds.
 *
 * HDF5 errors are translated here: automatic stack printing is off and every
 * failure becomes an isw error naming the file and object, with HDF5's
 * innermost reason appended; MPI errors likewise (the store's communicator
 * returns them).  This file must not decide about exit or abort, run tasks,
 * or talk MPI beyond agreeing on errors and broadcasting what rank 0 read;
 * the only files it removes are its own temporaries. */
#include "isweep/store.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/lock.h"
#include "isweep/rng.h"

extern const char isw_version_string[];
extern const char isw_git_commit[];

#define ENUM_LEN ISW_ENUM_LEN     /* ENUM parameter columns, bytes */
#define STRING_LEN ISW_STRING_LEN /* STRING parameter columns, bytes */
#define TIME_LEN 32    /* start_time / end_time attributes, bytes */
#define MSG_MAX 1024   /* an error message crossing ranks */
#define ISW_STORE_MAX_GROUPS 256 /* task groups of one file (families and their number are few) */

/* ---- columns (declared in schema.c) -------------------------------------- */

typedef isw_kind col_kind;
#define K_I64 ISW_KIND_I64
#define K_U64 ISW_KIND_U64
#define K_I32 ISW_KIND_I32
#define K_F64 ISW_KIND_F64
#define K_STR ISW_KIND_STR
#define K_STATUS ISW_KIND_STATUS
#define C_STATUS ISW_RUN_STATUS
#define C_MESSAGE ISW_RUN_MESSAGE
#define C_RANK ISW_RUN_RANK
#define C_HOST ISW_RUN_HOST
#define C_START ISW_RUN_START
#define C_TRAIN_S ISW_RUN_TRAIN_S
#define C_EVAL_S ISW_RUN_EVAL_S
#define C_RHO ISW_RUN_RHO
#define C_NPARAMS ISW_RUN_NPARAMS
#define N_RUN ISW_RUN_N
#define run_cols isw_schema_run_cols

/* ---- the store ---------------------------------------------------------- */

typedef struct {
  const isw_task *task;
  int n_configs, n_test;
  int chunk_rows;      /* rows per chunk of the row datasets this run creates (layout_group) */
  int *map;            /* (n_configs) file row of each spec config (row order of the spec's group):
                          the identity on a new file, by config_id after an extension */
  hid_t group;
  hid_t fspace_rows;   /* (C) file space of every 1-D column; selection scratch */
  hid_t fspace_curves; /* (C, T) file space of every curve; selection scratch */
  hid_t mspace_curve;  /* (T) one curve row in memory */
  hid_t d_run[N_RUN];
  hid_t *d_scalars; /* (task->n_scalars) */
  hid_t *d_curves;  /* (task->n_curves) */
} store_group;

struct isw_store {
  char *path;
  MPI_Comm comm;
  int rank, size;
  hid_t file;       /* open on rank 0 only (after creation): the one writer */
  hid_t dxpl_ind;   /* row I/O transfer properties */
  hid_t t_status;   /* enum int8 {pending, running, ok, diverged, failed}, file and memory */
  hid_t t_message;  /* fixed string ISW_MESSAGE_LEN, NUL-terminated, NUL-padded */
  hid_t t_host;     /* fixed string ISW_HOST_LEN, NUL-terminated, NUL-padded */
  hid_t mspace_one; /* (1) one cell in memory */
  long batches;     /* batches written by this run */
  store_group *groups;
  int n_groups;
};

/* ---- HDF5 error translation --------------------------------------------- */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
  char *buf = data;
  if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
  return 0;
}

/* errno values that mean the file system (or the user's quota) is full. */
static int disk_full(int e) {
#ifdef EDQUOT
  if (e == EDQUOT) return 1;
#endif
  return e == ENOSPC;
}

/* Raise ISW_EIO with the formatted message plus HDF5's innermost reason, and
 * clear HDF5's error stack.  When errno says the disk is full, the message
 * says so first: HDF5's own reason is then only "file write failed". */
static int h5_fail(const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int h5_fail(const char *file, int line, const char *func, const char *fmt, ...) {
  int e = errno; /* a failed write below HDF5 (e.g. Open MPI's fbtl) leaves its errno */
  char what[700], why[256] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, why);
  H5Eclear2(H5E_DEFAULT);
  if (disk_full(e))
    return isw_error_raise(ISW_EIO, file, line, func,
                           "%s: %s (ENOSPC: free space on that file system or choose another "
                           "output path) (HDF5: %s)",
                           what, strerror(e), why[0] ? why : "no reason given");
  return isw_error_raise(ISW_EIO, file, line, func, "%s (HDF5: %s)", what,
                         why[0] ? why : "no reason given");
}

/* Evaluate an HDF5 call; a negative result raises ISW_EIO and jumps to cleanup. */
#define H5_TRY(expr, ...)                                                  \
  do {                                                                     \
    if ((expr) < 0) {                                                      \
      err = h5_fail(__FILE__, __LINE__, __func__, __VA_ARGS__);            \
      goto cleanup;                                                        \
    }                                                                      \
  } while (0)

static void h5_close_id(hid_t *id) {
  if (*id < 0) return;
  switch (H5Iget_type(*id)) {
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    case H5I_FILE: H5Fclose(*id); break;
    default: break;
  }
  *id = H5I_INVALID_HID;
}

/* ---- agreeing on errors across ranks ------------------------------------ */

/* ISW_EMPI for a failed MPI call `what`, with MPI's reason. */
static int mpi_fail(int rc, const char *file, int line, const char *func, const char *what) {
  char why[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(rc, why, &len) != MPI_SUCCESS) snprintf(why, sizeof why, "error code %d", rc);
  return isw_error_raise(ISW_EMPI, file, line, func, "%s failed (MPI: %s)", what, why);
}

/* Evaluate an MPI call; anything but MPI_SUCCESS raises ISW_EMPI and jumps
 * to cleanup.  The store's communicator returns errors (MPI_ERRORS_RETURN). */
#define STORE_MPI(expr, what)                                          \
  do {                                                                 \
    int mpi_rc_ = (expr);                                              \
    if (mpi_rc_ != MPI_SUCCESS) {                                      \
      err = mpi_fail(mpi_rc_, __FILE__, __LINE__, __func__, (what));   \
      goto cleanup;                                                    \
    }                                                                  \
  } while (0)

/* Every rank returns rank 0's verdict `mine` (meaningful on rank 0 only),
 * with rank 0's message.  A failing broadcast gives ISW_EMPI, except where
 * this rank already has an error of its own: the first cause is kept.
 * Collective. */
static int agree_root(MPI_Comm comm, int rank, int mine) {
  char msg[MSG_MAX] = "";
  int code = mine, rc = MPI_Bcast(&code, 1, MPI_INT, 0, comm);
  if (rc == MPI_SUCCESS && code) {
    if (rank == 0) snprintf(msg, sizeof msg, "%s", isw_error_message());
    rc = MPI_Bcast(msg, MSG_MAX, MPI_CHAR, 0, comm);
    if (rc == MPI_SUCCESS && rank != 0) isw_error_raise(code, __FILE__, __LINE__, __func__, "%s", msg);
  }
  if (rc != MPI_SUCCESS)
    return mine ? mine : mpi_fail(rc, __FILE__, __LINE__, __func__, "broadcasting rank 0's verdict");
  return code;
}

/* ---- small helpers ------------------------------------------------------ */

/* buf <- now as ISO 8601 UTC, "2024-05-01T12:00:00Z". */
static void iso_utc_now(char buf[TIME_LEN]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* dst (n bytes) <- src truncated to n-1 characters and NUL-padded. */
static void copy_padded(char *dst, size_t n, const char *src) {
  size_t len = src ? strnlen(src, n - 1) : 0;
  memset(dst, 0, n);
  if (len) memcpy(dst, src, len);
}

static int make_str_type(hid_t *t, size_t n, H5T_str_t pad) {
  int err = 0;
  H5_TRY(*t = H5Tcopy(H5T_C_S1), "cannot copy the string type");
  H5_TRY(H5Tset_size(*t, n), "cannot size a %zu-byte string type", n);
  H5_TRY(H5Tset_strpad(*t, pad), "cannot set string padding");
cleanup:
  return err;
}

static int make_status_type(hid_t *t) {
  int err = 0;
  H5_TRY(*t = H5Tenum_create(H5T_STD_I8LE), "cannot create the status enum type");
  for (int v = ISW_ST_PENDING; v <= ISW_ST_FAILED; ++v) {
    int8_t x = (int8_t)v;
    H5_TRY(H5Tenum_insert(*t, isw_status_name((isw_status)v), &x), "cannot build the status enum");
  }
cleanup:
  return err;
}

/* ---- attributes --------------------------------------------------------- */

/* Create a scalar string attribute of `size` bytes (0: strlen + 1),
 * NUL-terminated.  Collective. */
static int attr_str(hid_t loc, const char *path, const char *name, const char *value, size_t size) {
  int err = 0;
  hid_t t = H5I_INVALID_HID, sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  char *buf = NULL;
  const char *v = value ? value : "";
  if (size == 0) size = strlen(v) + 1;
  ISW_ALLOC(buf, size);
  copy_padded(buf, size, v);
  ISW_CALL(make_str_type(&t, size, H5T_STR_NULLTERM));
  H5_TRY(sp = H5Screate(H5S_SCALAR), "%s: cannot create a dataspace", path);
  H5_TRY(a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT),
         "%s: cannot create attribute %s", path, name);
  H5_TRY(H5Awrite(a, t, buf), "%s: cannot write attribute %s", path, name);
cleanup:
  h5_close_id(&a);
  h5_close_id(&sp);
  h5_close_id(&t);
  free(buf);
  return err;
}

/* Create a scalar numeric attribute.  Collective. */
static int attr_num(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                    const void *value) {
  int err = 0;
  hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  H5_TRY(sp = H5Screate(H5S_SCALAR), "%s: cannot create a dataspace", path);
  H5_TRY(a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT),
         "%s: cannot create attribute %s", path, name);
  H5_TRY(H5Awrite(a, mtype, value), "%s: cannot write attribute %s", path, name);
cleanup:
  h5_close_id(&a);
  h5_close_id(&sp);
  return err;
}

/* Overwrite an existing string attribute with `value`, NUL-padded to its
 * stored size.  Collective. */
static int attr_set_str(hid_t loc, const char *path, const char *name, const char *value) {
  int err = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
  char *buf = NULL;
  H5_TRY(a = H5Aopen(loc, name, H5P_DEFAULT), "%s: cannot open attribute %s", path, name);
  H5_TRY(t = H5Aget_type(a), "%s: cannot read the type of attribute %s", path, name);
  size_t size = H5Tget_size(t);
  ISW_CHECK(H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && size > 0, ISW_EUSAGE,
            "%s: attribute %s is not a fixed-length string (not an isweep results file?)", path, name);
  ISW_ALLOC(buf, size);
  copy_padded(buf, size, value);
  H5_TRY(H5Awrite(a, t, buf), "%s: cannot write attribute %s", path, name);
cleanup:
  h5_close_id(&t);
  h5_close_id(&a);
  free(buf);
  return err;
}

static int attr_set_int(hid_t loc, const char *path, const char *name, int value) {
  int err = 0;
  hid_t a = H5I_INVALID_HID;
  H5_TRY(a = H5Aopen(loc, name, H5P_DEFAULT), "%s: cannot open attribute %s", path, name);
  H5_TRY(H5Awrite(a, H5T_NATIVE_INT, &value), "%s: cannot write attribute %s", path, name);
cleanup:
  h5_close_id(&a);
  return err;
}

static int attr_get_int(int *out, hid_t loc, const char *path, const char *name) {
  int err = 0;
  hid_t a = H5I_INVALID_HID;
  H5_TRY(a = H5Aopen(loc, name, H5P_DEFAULT), "%s: cannot open attribute %s", path, name);
  H5_TRY(H5Aread(a, H5T_NATIVE_INT, out), "%s: cannot read attribute %s", path, name);
cleanup:
  h5_close_id(&a);
  return err;
}

/* *out <- a fixed-length string attribute, NUL-terminated, caller frees. */
static int attr_get_str(char **out, hid_t loc, const char *path, const char *name) {
  int err = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  *out = NULL;
  H5_TRY(a = H5Aopen(loc, name, H5P_DEFAULT), "%s: cannot open attribute %s", path, name);
  H5_TRY(t = H5Aget_type(a), "%s: cannot read the type of attribute %s", path, name);
  ISW_CHECK(H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t), ISW_EUSAGE,
            "%s: not an isweep results file (attribute %s is not a fixed-length string)", path, name);
  size_t size = H5Tget_size(t);
  ISW_ALLOC(*out, size + 1);
  ISW_CALL(make_str_type(&mt, size, H5T_STR_NULLPAD));
  H5_TRY(H5Aread(a, mt, *out), "%s: cannot read attribute %s", path, name);
  (*out)[size] = '\0';
cleanup:
  h5_close_id(&mt);
  h5_close_id(&t);
  h5_close_id(&a);
  if (err) {
    free(*out);
    *out = NULL;
  }
  return err;
}

/* ---- datasets ----------------------------------------------------------- */

/* Create dataset `name` in group `gr` over `space`: chunked by
 * gr->chunk_rows rows when its first dimension is unlimited (a row dataset,
 * which an extension grows), else contiguous; allocated at creation (so no
 * metadata changes once rows are written), filled with `fill`, or never
 * filled when fill is NULL (a column written at once, or one whose cells a
 * reader ignores until the row's status says they are written); with a
 * "description" attribute, dim 0 attached to `scale0` and dim 1 to `scale1`
 * when those are valid. */
static int dset_create(hid_t *out, const isw_store *s, const store_group *gr, const char *name,
                       hid_t ftype, hid_t space, const void *fill, const char *help, hid_t scale0,
                       hid_t scale1) {
  int err = 0;
  hid_t dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  const char *task = gr->task->name;
  htri_t exists = H5Lexists(gr->group, name, H5P_DEFAULT);
  ISW_CHECK(exists == 0, ISW_EINTERNAL,
            "task %s: column name '%s' is used twice (rename the parameter, scalar or curve)", task,
            name);
  H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE), "cannot create a property list");
  hsize_t dims[2] = {0, 0}, maxd[2] = {0, 0};
  int nd = H5Sget_simple_extent_dims(space, dims, maxd);
  if (nd >= 1 && maxd[0] == H5S_UNLIMITED) { /* a row dataset: chunks of gr->chunk_rows rows */
    hsize_t chunk[2] = {(hsize_t)gr->chunk_rows, nd == 2 ? dims[1] : 1};
    H5_TRY(H5Pset_chunk(dcpl, nd, chunk), "cannot set the chunk shape of %s", name);
  } else {
    H5_TRY(H5Pset_layout(dcpl, H5D_CONTIGUOUS), "cannot set the contiguous layout");
  }
  H5_TRY(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "cannot set early allocation");
  if (fill) {
    H5_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC), "cannot set the fill time");
    H5_TRY(H5Pset_fill_value(dcpl, ftype, fill), "cannot set the fill value of %s", name);
  } else {
    H5_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "cannot set the fill time");
  }
  H5_TRY(d = H5Dcreate2(gr->group, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
         "%s: cannot create dataset /%s/%s", s->path, task, name);
  ISW_CALL(attr_str(d, s->path, "description", help ? help : "", 0));
  if (scale0 >= 0)
    H5_TRY(H5DSattach_scale(d, scale0, 0), "%s: cannot attach config_id to /%s/%s", s->path, task,
           name);
  if (scale1 >= 0)
    H5_TRY(H5DSattach_scale(d, scale1, 1), "%s: cannot attach test_iters to /%s/%s", s->path,
           task, name);
  *out = d;
  d = H5I_INVALID_HID;
cleanup:
  h5_close_id(&d);
  h5_close_id(&dcpl);
  return err;
}

/* Write a whole dataset at creation (rank 0 alone builds the file). */
static int dset_write_all(const isw_store *s, const store_group *gr, hid_t d, hid_t mtype,
                          const void *buf, const char *name) {
  int err = 0;
  H5_TRY(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "%s: cannot write /%s/%s", s->path,
         gr->task->name, name);
cleanup:
  return err;
}

/* The file type and the fill value of a column kind. */
static hid_t kind_ftype(const isw_store *s, col_kind k) {
  switch (k) {
    case K_I64: return H5T_STD_I64LE;
    case K_U64: return H5T_STD_U64LE;
    case K_I32: return H5T_STD_I32LE;
    case K_F64: return H5T_IEEE_F64LE;
    case K_STATUS: return s->t_status;
    case K_STR: break;
  }
  return H5I_INVALID_HID;
}

static const void *kind_fill(col_kind k) {
  static const int64_t i64 = -1;
  static const uint64_t u64 = 0;
  static const int32_t i32 = -1;
  static double f64; /* NaN, set on first use */
  static const int8_t st = ISW_ST_PENDING;
  static const char zeros[STRING_LEN] = {0};
  switch (k) {
    case K_I64: return &i64;
    case K_U64: return &u64;
    case K_I32: return &i32;
    case K_F64: f64 = NAN; return &f64;
    case K_STATUS: return &st;
    case K_STR: return zeros;
  }
  return zeros;
}

int isw_store_chunk_rows(int64_t n_configs) {
  int rows = ISW_STORE_CHUNK_MIN_ROWS;
  while (rows < ISW_STORE_CHUNK_ROWS && rows < n_configs) rows *= 2;
  return rows;
}

/* ---- store lifetime ----------------------------------------------------- */

/* Close group gr's handles (its handle arrays stay for a reopen). */
static void group_close(store_group *gr) {
  for (int k = 0; k < N_RUN; ++k) h5_close_id(&gr->d_run[k]);
  if (gr->d_scalars)
    for (int k = 0; k < gr->task->n_scalars; ++k) h5_close_id(&gr->d_scalars[k]);
  if (gr->d_curves)
    for (int k = 0; k < gr->task->n_curves; ++k) h5_close_id(&gr->d_curves[k]);
  h5_close_id(&gr->mspace_curve);
  h5_close_id(&gr->fspace_curves);
  h5_close_id(&gr->fspace_rows);
  h5_close_id(&gr->group);
}

/* Close the group handles and the file (rank 0's, when open).  With
 * `pending` set (the caller already has an error), a failing close is not
 * raised: the first cause stays the message. */
static int close_file(isw_store *s, int pending) {
  int err = 0;
  for (int g = 0; g < s->n_groups; ++g) group_close(&s->groups[g]);
  errno = 0;
  if (s->file >= 0 && H5Fclose(s->file) < 0) {
    if (pending) H5Eclear2(H5E_DEFAULT);
    else err = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot close the file", s->path);
  }
  s->file = H5I_INVALID_HID;
  return err;
}

/* Close every handle and the file, free (see close_file for `pending`). */
static int store_free(isw_store *s, int pending) {
  if (!s) return 0;
  int err = close_file(s, pending);
  for (int g = 0; g < s->n_groups; ++g) {
    free(s->groups[g].d_scalars);
    free(s->groups[g].d_curves);
    free(s->groups[g].map);
  }
  free(s->groups);
  h5_close_id(&s->mspace_one);
  h5_close_id(&s->t_host);
  h5_close_id(&s->t_message);
  h5_close_id(&s->t_status);
  h5_close_id(&s->dxpl_ind);
  if (s->comm != MPI_COMM_NULL) MPI_Comm_free(&s->comm);
  free(s->path);
  free(s);
  return err;
}

/* A store with every handle invalid, the communicator duplicated, the
 * shared types and spaces made.  Collective (MPI_Comm_dup). */
static int store_alloc(isw_store **out, const char *path, const isw_spec *spec, MPI_Comm comm) {
  int err = 0;
  isw_store *s = NULL;
  ISW_ALLOC(s, 1);
  s->comm = MPI_COMM_NULL;
  s->file = s->dxpl_ind = H5I_INVALID_HID;
  s->t_status = s->t_message = s->t_host = s->mspace_one = H5I_INVALID_HID;
  ISW_ALLOC(s->path, strlen(path) + 1);
  memcpy(s->path, path, strlen(path) + 1);
  STORE_MPI(MPI_Comm_dup(comm, &s->comm), "duplicating the communicator for the results file");
  STORE_MPI(MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN),
            "making the results file's communicator return errors");
  STORE_MPI(MPI_Comm_set_name(s->comm, ISW_STORE_COMM_NAME), "naming the results file's communicator");
  STORE_MPI(MPI_Comm_rank(s->comm, &s->rank), "MPI_Comm_rank");
  STORE_MPI(MPI_Comm_size(s->comm, &s->size), "MPI_Comm_size");
  ISW_ALLOC(s->groups, spec->n_groups);
  s->n_groups = spec->n_groups;
  for (int g = 0; g < s->n_groups; ++g) {
    store_group *gr = &s->groups[g];
    gr->task = spec->groups[g].task;
    gr->n_configs = spec->groups[g].n_configs;
    gr->n_test = spec->groups[g].n_test;
    ISW_ALLOC(gr->map, gr->n_configs);
    for (int i = 0; i < gr->n_configs; ++i) gr->map[i] = i;
    gr->group = gr->fspace_rows = gr->fspace_curves = gr->mspace_curve = H5I_INVALID_HID;
    for (int k = 0; k < N_RUN; ++k) gr->d_run[k] = H5I_INVALID_HID;
    ISW_ALLOC(gr->d_scalars, gr->task->n_scalars);
    ISW_ALLOC(gr->d_curves, gr->task->n_curves);
    for (int k = 0; k < gr->task->n_scalars; ++k) gr->d_scalars[k] = H5I_INVALID_HID;
    for (int k = 0; k < gr->task->n_curves; ++k) gr->d_curves[k] = H5I_INVALID_HID;
  }
  H5_TRY(s->dxpl_ind = H5Pcreate(H5P_DATASET_XFER), "cannot create a transfer property list");
  ISW_CALL(make_status_type(&s->t_status));
  ISW_CALL(make_str_type(&s->t_message, ISW_MESSAGE_LEN, H5T_STR_NULLTERM));
  ISW_CALL(make_str_type(&s->t_host, ISW_HOST_LEN, H5T_STR_NULLTERM));
  hsize_t one = 1;
  H5_TRY(s->mspace_one = H5Screate_simple(1, &one, NULL), "cannot create a dataspace");
  *out = s;
  s = NULL;
cleanup:
  if (s) store_free(s, 1);
  return err;
}

static int make_spaces(store_group *gr) {
  int err = 0;
  hsize_t rows = (hsize_t)gr->n_configs, cur[2] = {(hsize_t)gr->n_configs, (hsize_t)gr->n_test};
  hsize_t t = (hsize_t)gr->n_test, max1 = H5S_UNLIMITED, max2[2] = {H5S_UNLIMITED, (hsize_t)gr->n_test};
  H5_TRY(gr->fspace_rows = H5Screate_simple(1, &rows, &max1), "cannot create a dataspace");
  H5_TRY(gr->fspace_curves = H5Screate_simple(2, cur, max2), "cannot create a dataspace");
  H5_TRY(gr->mspace_curve = H5Screate_simple(1, &t, NULL), "cannot create a dataspace");
cleanup:
  return err;
}

/* Rank 0's access to the results file while it writes rows: POSIX I/O
 * (sec2), without HDF5's flock: readers (h5py, isweep report) may watch a
 * running sweep, and RESULTS.lock (lock.c) already keeps other writers out. */
static int file_access_plist(hid_t *fapl) {
  int err = 0;
  H5_TRY(*fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  H5_TRY(H5Pset_fapl_sec2(*fapl), "cannot select the sec2 driver");
  H5_TRY(H5Pset_file_locking(*fapl, 0, 1), "cannot turn HDF5's file locking off");
  H5_TRY(H5Pset_libver_bounds(*fapl, H5F_LIBVER_V18, H5F_LIBVER_V18),
         "cannot set the file format bounds");
cleanup:
  return err;
}

/* ---- create ------------------------------------------------------------- */

/* *dir <- the folder of `path` ("." or "/" where it has none), *base <- its
 * last component ("" when path ends in '/'); caller frees both. */
static int split_path(char **dir, char **base, const char *path) {
  int err = 0;
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 1;
  *dir = *base = NULL;
  ISW_ALLOC(*dir, n + 1);
  if (!slash) (*dir)[0] = '.';
  else if (n == 0) (*dir)[0] = '/';
  else memcpy(*dir, path, n);
  const char *b = slash ? slash + 1 : path;
  ISW_ALLOC(*base, strlen(b) + 1);
  memcpy(*base, b, strlen(b));
cleanup:
  if (err) {
    free(*dir);
    *dir = NULL;
  }
  return err;
}

/* Rank 0: may `path` be created (or, with overwrite, replaced)?  ISW_EUSAGE
 * with a one-line reason if not.  Nothing but a regular file is ever
 * replaced: a device, FIFO, socket, directory or symbolic link is refused
 * whatever the options.  *dir and *base receive the folder (where the new
 * file is made under a temporary name) and the file name; caller frees. */
static int check_create_path(char **dir, char **base, const char *path, int overwrite) {
  int err = 0;
  struct stat st;
  *dir = *base = NULL;
  ISW_CHECK(path[0] != '\0', ISW_EUSAGE, "empty output path (give a file name for the results)");
  ISW_CALL(split_path(dir, base, path));
  ISW_CHECK((*base)[0] != '\0', ISW_EUSAGE, "%s: is a directory (give a file name for the results)", path);
  if (lstat(path, &st) == 0) {
    ISW_CHECK(!S_ISDIR(st.st_mode), ISW_EUSAGE,
              "%s: is a directory (give a file name for the results)", path);
    ISW_CHECK(!S_ISLNK(st.st_mode), ISW_EUSAGE,
              "%s: is a symbolic link (isweep never replaces one: give the path of the results file "
              "itself, or another output path)", path);
    ISW_CHECK(S_ISREG(st.st_mode), ISW_EUSAGE,
              "%s: is not a regular file but a %s (isweep never replaces one, even with --force: "
              "choose another output path)",
              path, S_ISCHR(st.st_mode) ? "character device" : S_ISBLK(st.st_mode) ? "block device"
                    : S_ISFIFO(st.st_mode) ? "FIFO" : S_ISSOCK(st.st_mode) ? "socket" : "special file");
    ISW_CHECK(overwrite, ISW_EUSAGE,
              "%s: output file exists (use --resume to continue it or --force to overwrite)", path);
    ISW_CHECK(access(path, W_OK) == 0, ISW_EUSAGE,
              "%s: output file is not writable (%s; fix its permissions or choose another output path)",
              path, strerror(errno));
  } else {
    ISW_CHECK(errno == ENOENT, ISW_EUSAGE, "%s: cannot use this output path (%s)", path, strerror(errno));
  }
  ISW_CHECK(stat(*dir, &st) == 0, ISW_EUSAGE,
            "%s: directory %s does not exist (create it or choose another output path)", path, *dir);
  ISW_CHECK(S_ISDIR(st.st_mode), ISW_EUSAGE, "%s: %s is not a directory", path, *dir);
  ISW_CHECK(access(*dir, W_OK | X_OK) == 0, ISW_EUSAGE,
            "%s: directory %s is not writable (choose another output path)", path, *dir);
cleanup:
  if (err) {
    free(*dir);
    free(*base);
    *dir = *base = NULL;
  }
  return err;
}

#define TMP_TAG ".isweep-tmp." /* DIR/.BASE.isweep-tmp.HOST.PID: a file being created */

/* This host's name, never empty, without '/'. */
static void host_name(char buf[ISW_HOST_LEN]) {
  if (gethostname(buf, ISW_HOST_LEN - 1) != 0 || buf[0] == '\0') snprintf(buf, ISW_HOST_LEN, "localhost");
  buf[ISW_HOST_LEN - 1] = '\0';
  for (char *c = buf; *c; ++c)
    if (*c == '/') *c = '_';
}

/* Rank 0, before creating: temporaries DIR/.BASE.isweep-tmp.HOST.PID left by
 * a creation that was killed.  One is removed only when it is provably
 * ours and dead: a regular file, made on this host by a process that no
 * longer runs (or by this very process).  Every other one is reported on
 * `notes` and left alone.  Never fails: a temporary left is only a note. */
static void clean_leftovers(const char *dir, const char *base, const char *path, FILE *notes) {
  char prefix[512], host[ISW_HOST_LEN], full[4096];
  int np = snprintf(prefix, sizeof prefix, ".%s" TMP_TAG, base);
  if (np <= 0 || (size_t)np >= sizeof prefix) return;
  host_name(host);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, (size_t)np) != 0) continue;
    const char *rest = e->d_name + np, *dot = strrchr(rest, '.');
    int nf = snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    if (nf <= 0 || (size_t)nf >= sizeof full) continue;
    char *end = NULL;
    long pid = dot ? strtol(dot + 1, &end, 10) : 0;
    int parsed = dot && dot > rest && end && *end == '\0' && dot[1] >= '0' && dot[1] <= '9';
    size_t hl = parsed ? (size_t)(dot - rest) : 0;
    int same_host = parsed && hl == strlen(host) && strncmp(rest, host, hl) == 0;
    struct stat st;
    int regular = lstat(full, &st) == 0 && S_ISREG(st.st_mode);
    int ours = parsed && same_host && regular && (pid == (long)getpid() || !isw_lock_process_alive(pid));
    if (ours && unlink(full) == 0) {
      if (notes)
        fprintf(notes, "isweep: note: removed %s, a partial results file left by a killed isweep run "
                       "(pid %ld on this host, no longer running)\n", full, pid);
      continue;
    }
    if (notes)
      fprintf(notes, "isweep: note: left %s alone: %s; remove it yourself if no isweep run is "
                     "creating %s\n", full,
              !regular ? "it is not a regular file"
              : !parsed ? "its name does not end in .HOST.PID"
              : !same_host ? "it was made on another host, where its run may still be working"
              : ours ? "it cannot be removed"
                     : "the process that made it is still running", path);
  }
  closedir(d);
}

/* ---- history: one record per creation or extension ----------------------- */

#define HISTORY_CMD_LEN 512 /* bytes of the command line kept per record */

typedef struct {
  char time[TIME_LEN];          /* ISO 8601 UTC */
  char command[HISTORY_CMD_LEN]; /* argv joined by spaces, cut to fit */
  int64_t configs_added;        /* configs this run added to the file */
  int64_t configs_total;        /* configs in the file after it */
} history_rec;

static int history_type(hid_t *t) {
  int err = 0;
  hid_t ts = H5I_INVALID_HID, tc = H5I_INVALID_HID;
  ISW_CALL(make_str_type(&ts, TIME_LEN, H5T_STR_NULLTERM));
  ISW_CALL(make_str_type(&tc, HISTORY_CMD_LEN, H5T_STR_NULLTERM));
  H5_TRY(*t = H5Tcreate(H5T_COMPOUND, sizeof(history_rec)), "cannot create the history type");
  H5_TRY(H5Tinsert(*t, "time", HOFFSET(history_rec, time), ts), "cannot build the history type");
  H5_TRY(H5Tinsert(*t, "command", HOFFSET(history_rec, command), tc), "cannot build the history type");
  H5_TRY(H5Tinsert(*t, "configs_added", HOFFSET(history_rec, configs_added), H5T_NATIVE_INT64),
         "cannot build the history type");
  H5_TRY(H5Tinsert(*t, "configs_total", HOFFSET(history_rec, configs_total), H5T_NATIVE_INT64),
         "cannot build the history type");
cleanup:
  h5_close_id(&ts);
  h5_close_id(&tc);
  return err;
}

/* Append a record to the root attribute `history` (a 1-D array of
 * {time, command, configs_added, configs_total}, made when missing).  An
 * attribute, not a dataset: readers take every root member for a task
 * group.  Rank 0 alone, on a file it builds or extends serially. */
static int history_append(hid_t f, const char *path, const char *time, const char *command, int64_t added,
                          int64_t total) {
  int err = 0;
  hid_t t = H5I_INVALID_HID, a = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  history_rec *rec = NULL;
  hsize_t n = 0;
  ISW_CALL(history_type(&t));
  if (H5Aexists(f, "history") > 0) {
    H5_TRY(a = H5Aopen(f, "history", H5P_DEFAULT), "%s: cannot open attribute history", path);
    H5_TRY(sp = H5Aget_space(a), "%s: cannot read attribute history", path);
    ISW_CHECK(H5Sget_simple_extent_ndims(sp) == 1, ISW_EUSAGE, "%s: attribute history is not a list", path);
    H5Sget_simple_extent_dims(sp, &n, NULL);
    ISW_ALLOC(rec, n + 1);
    H5_TRY(H5Aread(a, t, rec), "%s: cannot read attribute history", path);
    h5_close_id(&sp);
    h5_close_id(&a);
    H5_TRY(H5Adelete(f, "history"), "%s: cannot replace attribute history", path);
  } else {
    ISW_ALLOC(rec, 1);
  }
  copy_padded(rec[n].time, TIME_LEN, time);
  copy_padded(rec[n].command, HISTORY_CMD_LEN, command ? command : "");
  rec[n].configs_added = added;
  rec[n].configs_total = total;
  ++n;
  H5_TRY(sp = H5Screate_simple(1, &n, NULL), "cannot create a dataspace");
  H5_TRY(a = H5Acreate2(f, "history", t, sp, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create attribute history",
         path);
  H5_TRY(H5Awrite(a, t, rec), "%s: cannot write attribute history", path);
cleanup:
  free(rec);
  h5_close_id(&sp);
  h5_close_id(&a);
  h5_close_id(&t);
  return err;
}

/* The resolved ΔN list as the root's int64 (K) attribute "delta_n" (every
 * rank holds the same spec). */
static int attr_delta_n(hid_t f, const char *path, const isw_spec *spec) {
  int err = 0;
  hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  hsize_t k = (hsize_t)(spec->n_delta > 0 ? spec->n_delta : 0);
  H5_TRY(sp = k ? H5Screate_simple(1, &k, NULL) : H5Screate(H5S_NULL), "cannot create a dataspace");
  H5_TRY(a = H5Acreate2(f, "delta_n", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT),
         "%s: cannot create attribute delta_n", path);
  if (k) H5_TRY(H5Awrite(a, H5T_NATIVE_INT64, spec->delta_n), "%s: cannot write attribute delta_n", path);
cleanup:
  h5_close_id(&a);
  h5_close_id(&sp);
  return err;
}

/* Root attributes: provenance.  Rank 0 alone builds the file. */
static int write_root_attrs(isw_store *s, const isw_spec *spec, const isw_store_meta *meta) {
  int err = 0;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "", now[TIME_LEN] = "", h5v[64];
  unsigned maj = 0, min = 0, rel = 0;
  int len = 0, schema = ISW_SCHEMA_VERSION, runs = 1;
  int mpi_size = meta && meta->mpi_size > 0 ? meta->mpi_size : s->size;
  uint64_t seed = spec->sweep_seed;
  if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) snprintf(lib, sizeof lib, "unknown");
  lib[strcspn(lib, "\n")] = '\0';
  iso_utc_now(now);
  H5get_libversion(&maj, &min, &rel);
  snprintf(h5v, sizeof h5v, "%u.%u.%u", maj, min, rel);

  hid_t f = s->file;
  const char *p = s->path;
  ISW_CALL(attr_num(f, p, "schema_version", H5T_STD_I32LE, H5T_NATIVE_INT, &schema));
  ISW_CALL(attr_str(f, p, "isweep_version", isw_version_string, 0));
  ISW_CALL(attr_str(f, p, "git_commit", isw_git_commit, 0));
  ISW_CALL(attr_str(f, p, "spec_path", spec->path, 0));
  ISW_CALL(attr_str(f, p, "spec_text", spec->text, 0));
  ISW_CALL(attr_str(f, p, "spec_canonical", spec->canonical, 0));
  ISW_CALL(attr_num(f, p, "sweep_seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed));
  ISW_CALL(attr_str(f, p, "command_line", meta && meta->command_line ? meta->command_line : "", 0));
  ISW_CALL(attr_num(f, p, "mpi_size", H5T_STD_I32LE, H5T_NATIVE_INT, &mpi_size));
  ISW_CALL(attr_str(f, p, "hdf5_version", h5v, 0));
  ISW_CALL(attr_str(f, p, "mpi_version", lib, 0));
  ISW_CALL(attr_str(f, p, "blas_info", openblas_get_config(), 0));
  ISW_CALL(attr_str(f, p, "start_time", now, TIME_LEN));
  ISW_CALL(attr_str(f, p, "end_time", "", TIME_LEN));
  ISW_CALL(attr_num(f, p, "runs", H5T_STD_I32LE, H5T_NATIVE_INT, &runs));
  int64_t total = isw_spec_n_configs(spec);
  ISW_CALL(history_append(f, p, now, meta ? meta->command_line : "", total, total));
  ISW_CALL(attr_delta_n(f, p, spec));
cleanup:
  return err;
}

/* The schema attributes of a column (schema.h): role, and unit when given.
 * Collective (attribute creation). */
static int col_attrs(hid_t d, const char *path, isw_role role, const char *unit) {
  int err = 0;
  ISW_CALL(attr_str(d, path, "role", isw_schema_role_name(role), 0));
  if (unit) ISW_CALL(attr_str(d, path, "unit", unit, 0));
cleanup:
  return err;
}

/* The attributes of a task's scalar or curve column: role and every field of
 * its definition that is set.  Collective. */
static int task_col_attrs(hid_t d, const char *path, const isw_column_def *cd) {
  int err = 0;
  ISW_CALL(col_attrs(d, path, cd->role, NULL));
  if (cd->split) ISW_CALL(attr_str(d, path, "split", cd->split, 0));
  if (cd->at) ISW_CALL(attr_str(d, path, "at", cd->at, 0));
  if (cd->term) ISW_CALL(attr_str(d, path, "term", cd->term, 0));
  if (cd->per) ISW_CALL(attr_str(d, path, "per", cd->per, 0));
  if (cd->role == ISW_ROLE_VALIDITY) {
    double lo = cd->valid_min, hi = cd->valid_max;
    ISW_CALL(attr_num(d, path, "valid_min", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &lo));
    ISW_CALL(attr_num(d, path, "valid_max", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &hi));
    ISW_CALL(attr_str(d, path, "qualifies", cd->qualifies ? cd->qualifies : "row", 0));
  }
cleanup:
  return err;
}

/* Lay out group g: attributes, the two dimension scales, the grid columns
 * (written now), and the run, scalar and curve columns (fill values), whose
 * handles stay open.  Collective. */
static int layout_group(isw_store *s, int g, const isw_spec_group *sg) {
  int err = 0;
  store_group *gr = &s->groups[g];
  const isw_task *t = sg->task;
  const int C = sg->n_configs, T = sg->n_test;
  hid_t d_iters = H5I_INVALID_HID, d_ids = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hid_t sp_iters = H5I_INVALID_HID, t_str = H5I_INVALID_HID;
  int64_t *i64 = NULL;  /* (C) */
  uint64_t *u64 = NULL; /* (C) */
  double *f64 = NULL;   /* (C) */
  char *str = NULL;     /* (C, STRING_LEN) */
  const char *path = s->path;

  ISW_CHECK(t != NULL && C >= 1 && T >= 1 && sg->test_iters && sg->configs, ISW_EINTERNAL,
            "%s: group %d has no task, no configs or no test_iters", path, g);
  ISW_CHECK(t->n_params <= ISW_MAX_PARAMS, ISW_EINTERNAL, "task %s: too many parameters", t->name);
  ISW_ALLOC(i64, C);
  ISW_ALLOC(u64, C);
  ISW_ALLOC(f64, C);
  ISW_ALLOC(str, (size_t)C * STRING_LEN);

  H5_TRY(gr->group = H5Gcreate2(s->file, t->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
         "%s: cannot create group /%s", path, t->name);
  int64_t nc = C;
  ISW_CALL(attr_str(gr->group, path, "task", t->name, 0));
  ISW_CALL(attr_str(gr->group, path, "summary", t->summary, 0));
  ISW_CALL(attr_num(gr->group, path, "n_configs", H5T_STD_I64LE, H5T_NATIVE_INT64, &nc));
  gr->chunk_rows = isw_store_chunk_rows(C);
  ISW_CALL(attr_num(gr->group, path, "chunk_rows", H5T_STD_I32LE, H5T_NATIVE_INT, &gr->chunk_rows));
  ISW_CALL(make_spaces(gr));

  /* the dimension scales */
  hsize_t tn = (hsize_t)T;
  H5_TRY(sp_iters = H5Screate_simple(1, &tn, NULL), "cannot create a dataspace");
  ISW_CALL(dset_create(&d_iters, s, gr, "test_iters", H5T_STD_I64LE, sp_iters, NULL,
                       isw_schema_help_test_iters, H5I_INVALID_HID, H5I_INVALID_HID));
  ISW_CALL(col_attrs(d_iters, path, ISW_ROLE_DIMENSION, NULL));
  ISW_CALL(dset_write_all(s, gr, d_iters, H5T_NATIVE_INT64, sg->test_iters, "test_iters"));
  H5_TRY(H5DSset_scale(d_iters, "test_iters"), "%s: cannot make /%s/test_iters a dimension scale",
         path, t->name);
  for (int i = 0; i < C; ++i) u64[i] = sg->configs[i].id;
  ISW_CALL(dset_create(&d_ids, s, gr, "config_id", H5T_STD_U64LE, gr->fspace_rows, NULL,
                       isw_schema_help_config_id, H5I_INVALID_HID, H5I_INVALID_HID));
  ISW_CALL(col_attrs(d_ids, path, ISW_ROLE_ID, NULL));
  ISW_CALL(dset_write_all(s, gr, d_ids, H5T_NATIVE_UINT64, u64, "config_id"));
  H5_TRY(H5DSset_scale(d_ids, "config_id"), "%s: cannot make /%s/config_id a dimension scale",
         path, t->name);

  /* grid columns, written now */
  const char *const *axis_name = isw_schema_axis_names;
  const char *const *axis_help = isw_schema_axis_help;
  for (int a = 0; a < 3; ++a) {
    for (int i = 0; i < C; ++i) {
      const isw_config *c = &sg->configs[i];
      i64[i] = a == 0 ? c->width : a == 1 ? c->train_iters : c->seed;
    }
    ISW_CALL(dset_create(&d, s, gr, axis_name[a], H5T_STD_I64LE, gr->fspace_rows, NULL,
                         axis_help[a], d_ids, H5I_INVALID_HID));
    ISW_CALL(col_attrs(d, path, ISW_ROLE_PARAMETER, NULL));
    ISW_CALL(dset_write_all(s, gr, d, H5T_NATIVE_INT64, i64, axis_name[a]));
    h5_close_id(&d);
  }
  for (int k = 0; k < t->n_params; ++k) {
    const isw_param_def *pd = &t->params[k];
    int shapes = pd->data != 0;
    if (pd->type == ISW_PARAM_INT || pd->type == ISW_PARAM_REAL) {
      int is_int = pd->type == ISW_PARAM_INT;
      for (int i = 0; i < C; ++i) {
        double v = sg->configs[i].p[k].num;
        i64[i] = (int64_t)llround(v);
        f64[i] = v;
      }
      ISW_CALL(dset_create(&d, s, gr, pd->name, is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE,
                           gr->fspace_rows, NULL, pd->help, d_ids,
                           H5I_INVALID_HID));
      ISW_CALL(dset_write_all(s, gr, d, is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE,
                              is_int ? (const void *)i64 : (const void *)f64, pd->name));
      ISW_CALL(col_attrs(d, path, ISW_ROLE_PARAMETER, NULL));
      ISW_CALL(attr_num(d, path, "shapes_data", H5T_STD_I32LE, H5T_NATIVE_INT, &shapes));
    } else {
      size_t w = pd->type == ISW_PARAM_ENUM ? ENUM_LEN : STRING_LEN;
      for (int i = 0; i < C; ++i) {
        const char *v = sg->configs[i].p[k].str ? sg->configs[i].p[k].str : "";
        ISW_CHECK(strlen(v) < w, ISW_EUSAGE,
                  "task %s, parameter %s: value '%.40s...' is longer than %zu bytes (shorten it)",
                  t->name, pd->name, v, w - 1);
        copy_padded(str + (size_t)i * w, w, v);
      }
      ISW_CALL(make_str_type(&t_str, w, H5T_STR_NULLTERM));
      ISW_CALL(dset_create(&d, s, gr, pd->name, t_str, gr->fspace_rows, NULL, pd->help,
                           d_ids, H5I_INVALID_HID));
      ISW_CALL(dset_write_all(s, gr, d, t_str, str, pd->name));
      ISW_CALL(col_attrs(d, path, ISW_ROLE_PARAMETER, NULL));
      ISW_CALL(attr_num(d, path, "shapes_data", H5T_STD_I32LE, H5T_NATIVE_INT, &shapes));
      h5_close_id(&t_str);
    }
    h5_close_id(&d);
  }

  /* run columns, scalars and curves: rows later.  Only the status (pending)
   * and the two integers whose descriptions name their fill (rank,
   * n_params: -1) are filled; every other cell of a row means something only
   * once its status says it is written (a reader ignores it before) */
  for (int k = 0; k < N_RUN; ++k) {
    const isw_run_col *cd = &run_cols[k];
    hid_t ft = cd->kind == K_STR ? (k == C_HOST ? s->t_host : s->t_message) : kind_ftype(s, cd->kind);
    const void *fill = k == C_STATUS || k == C_RANK || k == C_NPARAMS ? kind_fill(cd->kind) : NULL;
    ISW_CALL(dset_create(&gr->d_run[k], s, gr, cd->name, ft, gr->fspace_rows, fill,
                         cd->help, d_ids, H5I_INVALID_HID));
    ISW_CALL(col_attrs(gr->d_run[k], path, cd->role, cd->unit));
  }
  for (int k = 0; k < t->n_scalars; ++k) {
    ISW_CALL(dset_create(&gr->d_scalars[k], s, gr, t->scalars[k].name, H5T_IEEE_F64LE,
                         gr->fspace_rows, NULL, t->scalars[k].help, d_ids,
                         H5I_INVALID_HID));
    ISW_CALL(task_col_attrs(gr->d_scalars[k], path, &t->scalars[k]));
  }
  for (int k = 0; k < t->n_curves; ++k) {
    ISW_CALL(dset_create(&gr->d_curves[k], s, gr, t->curves[k].name, H5T_IEEE_F64LE,
                         gr->fspace_curves, NULL, t->curves[k].help, d_ids, d_iters));
    ISW_CALL(task_col_attrs(gr->d_curves[k], path, &t->curves[k]));
  }
cleanup:
  h5_close_id(&t_str);
  h5_close_id(&d);
  h5_close_id(&d_ids);
  h5_close_id(&d_iters);
  h5_close_id(&sp_iters);
  free(i64);
  free(u64);
  free(f64);
  free(str);
  return err;
}

/* The core driver's buffer, kept when HDF5 closes the in-memory file: the
 * image of a closed file (H5Fget_file_image of an open one carries a stale
 * superblock checksum in HDF5 1.10). */
typedef struct {
  void *buf;   /* the buffer handed back at close; ours to free */
  size_t size; /* its size */
  void *live;  /* the buffer in use and its size */
  size_t live_size;
} image_keep;

static void *img_malloc(size_t n, H5FD_file_image_op_t op, void *u) {
  (void)op;
  image_keep *k = u;
  void *p = calloc(1, n ? n : 1);
  if (p) {
    k->live = p;
    k->live_size = n;
  }
  return p;
}
static void *img_memcpy(void *d, const void *src, size_t n, H5FD_file_image_op_t op, void *u) {
  (void)op;
  (void)u;
  return memcpy(d, src, n);
}
static void *img_realloc(void *p, size_t n, H5FD_file_image_op_t op, void *u) {
  (void)op;
  image_keep *k = u;
  size_t had = p == k->live ? k->live_size : 0;
  void *q = realloc(p, n);
  if (q) {
    if (n > had) memset((char *)q + had, 0, n - had); /* a reused heap block holds old bytes */
    k->live = q;
    k->live_size = n;
  }
  return q;
}
static herr_t img_free(void *p, H5FD_file_image_op_t op, void *u) {
  image_keep *k = u;
  if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && p && p == k->live && !k->buf) {
    k->buf = p;
    k->size = k->live_size;
  } else {
    free(p);
  }
  return 0;
}
static void *img_udata_copy(void *u) { return u; }
static herr_t img_udata_free(void *u) {
  (void)u;
  return 0;
}

/* End of file of a superblock-2 image with 8-byte addresses (the bounds the
 * store sets): bytes 28..35, little endian; 0 when it is not one. */
static size_t image_eof(const unsigned char *b, size_t size) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size < 48 || memcmp(b, sig, 8) != 0 || b[8] != 2 || b[9] != 8) return 0;
  uint64_t eof = 0;
  for (int i = 7; i >= 0; --i) eof = eof << 8 | b[28 + i];
  return eof <= size ? (size_t)eof : 0;
}

/* Rank 0: build the whole file in memory (HDF5's core driver, no backing
 * store) named `name`, which must not exist (the core driver reads an
 * existing file of that name even for a new file): root attributes, every
 * group laid out and filled, closed.
 * *image (*n bytes, caller frees) receives the bytes of the closed file.
 * Nothing here touches the disk, so nothing here can fail half-way on a
 * full one; the image is opened once more, read-only, as a check. */
static int build_image(void **image, size_t *n, isw_store *s, const char *name, const isw_spec *spec,
                       const isw_store_meta *meta) {
  int err = 0;
  hid_t fapl = H5I_INVALID_HID, check = H5I_INVALID_HID;
  image_keep keep = {NULL, 0, NULL, 0};
  H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy,     img_realloc,   img_free,
                                    img_udata_copy, img_udata_free, &keep};
  *image = NULL;
  *n = 0;
  H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  H5_TRY(H5Pset_fapl_core(fapl, (size_t)1 << 20, 0), "cannot select the in-memory driver");
  H5_TRY(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18), "cannot set the file format bounds");
  H5_TRY(H5Pset_file_image_callbacks(fapl, &cb), "cannot set the file image callbacks");
  H5_TRY(s->file = H5Fcreate(name, H5F_ACC_EXCL, H5P_DEFAULT, fapl),
         "%s: cannot create the results file in memory", s->path);
  ISW_CALL(write_root_attrs(s, spec, meta));
  for (int g = 0; g < spec->n_groups; ++g) ISW_CALL(layout_group(s, g, &spec->groups[g]));
  for (int g = 0; g < spec->n_groups; ++g) group_close(&s->groups[g]);
  hid_t f = s->file;
  s->file = H5I_INVALID_HID;
  H5_TRY(H5Fclose(f), "%s: cannot close the in-memory file", s->path);
  *n = keep.buf ? image_eof(keep.buf, keep.size) : 0;
  ISW_CHECK(*n > 0, ISW_EINTERNAL, "%s: HDF5 did not hand back the in-memory file", s->path);
  H5_TRY(check = H5LTopen_file_image(keep.buf, *n, H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE),
         "%s: the new file made in memory does not open", s->path);
  *image = keep.buf;
  keep.buf = NULL;
cleanup:
  for (int g = 0; g < s->n_groups; ++g) group_close(&s->groups[g]);
  if (s->file >= 0) H5Fclose(s->file);
  s->file = H5I_INVALID_HID;
  h5_close_id(&check);
  H5Eclear2(H5E_DEFAULT);
  h5_close_id(&fapl);
  free(keep.buf);
  if (err) *n = 0;
  return err;
}

/* ISW_EIO for a failed system call on the new file, naming a full disk. */
static int sys_fail(const char *file, int line, const char *func, const char *path, const char *tmp,
                    const char *what) {
  int e = errno;
  if (disk_full(e))
    return isw_error_raise(ISW_EIO, file, line, func,
                           "%s: cannot %s: %s (ENOSPC: free space on that file system or choose "
                           "another output path; %s is unchanged)",
                           path, what, strerror(e), path);
  return isw_error_raise(ISW_EIO, file, line, func, "%s: cannot %s (%s, temporary file %s)", path,
                         what, strerror(e), tmp);
}

/* Test hook, compiled in always, inert unless ISW_TEST_CREATE_FAULT is set:
 * "kill" raises SIGKILL once the temporary file holds half its bytes, the
 * moment a crash is most likely to leave a broken file behind. */
static void create_fault_hook(const char *env) {
  const char *v = getenv(env);
  if (v && strcmp(v, "kill") == 0) raise(SIGKILL);
}

/* Rank 0: write `image` to the new file `tmp` (O_EXCL), fsync it.
 * *made is set once tmp exists (its identity in *id), so the caller removes
 * exactly that file and nothing else on failure. */
static int write_temp(int *made, struct stat *id, const char *tmp, const char *path, const void *image,
                      size_t n, const char *fault_env) {
  int err = 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) {
    err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "create its temporary file");
    goto cleanup;
  }
  *made = 1;
  if (fstat(fd, id) != 0) {
    err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "inspect its temporary file");
    goto cleanup;
  }
  const char *p = image;
  size_t done = 0, half = n / 2;
  while (done < n) {
    size_t chunk = done < half ? half - done : n - done;
    ssize_t w = write(fd, p + done, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "write the new results file");
      goto cleanup;
    }
    done += (size_t)w;
    if (done == half) create_fault_hook(fault_env);
  }
  if (fsync(fd) != 0) {
    err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "write the new results file to disk");
    goto cleanup;
  }
cleanup:
  if (fd >= 0 && close(fd) != 0 && !err)
    err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "write the new results file");
  return err;
}

/* Rank 0: put the complete file `tmp` at `path`.  With overwrite, rename()
 * replaces an old results file atomically (re-checked to be a regular file
 * just before); without, link() refuses to replace anything that appeared
 * meanwhile (rename() after a fresh check where the file system has no hard
 * links).  *moved is set once tmp is no longer ours to remove. */
static int move_into_place(int *moved, const char *tmp, const char *path, const char *dir,
                           int overwrite) {
  int err = 0;
  struct stat st;
  if (lstat(path, &st) == 0) {
    ISW_CHECK(overwrite && S_ISREG(st.st_mode), ISW_EUSAGE,
              "%s: appeared while the new results file was being made and is %s (left as it is; "
              "the new file was not written)", path, S_ISREG(st.st_mode) ? "a file" : "not a regular file");
    if (rename(tmp, path) != 0) {
      err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "replace the old results file");
      goto cleanup;
    }
    *moved = 1;
  } else if (link(tmp, path) == 0) {
    *moved = 1;
    unlink(tmp); /* a second name of the file now at path */
  } else {
    ISW_CHECK(errno != EEXIST, ISW_EUSAGE,
              "%s: appeared while the new results file was being made (left as it is; the new file "
              "was not written)", path);
    ISW_CHECK(errno == EPERM || errno == EOPNOTSUPP || errno == ENOTSUP || errno == EMLINK ||
                  errno == ENOSYS,
              ISW_EIO, "%s: cannot put the new results file in place: %s (temporary file %s)", path,
              strerror(errno), tmp);
    ISW_CHECK(lstat(path, &st) != 0 && errno == ENOENT, ISW_EUSAGE,
              "%s: appeared while the new results file was being made (left as it is)", path);
    if (rename(tmp, path) != 0) {
      err = sys_fail(__FILE__, __LINE__, __func__, path, tmp, "put the new results file in place");
      goto cleanup;
    }
    *moved = 1;
  }
  int dfd = open(dir, O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) { /* make the new name durable; a failure here loses nothing */
    fsync(dfd);
    close(dfd);
  }
cleanup:
  return err;
}

/* Rank 0: make the complete file at `path` under a temporary name beside it,
 * then move it into place; on failure remove that temporary (only it: the
 * file this call made, checked by inode) and leave `path` as it was. */
static int make_file_root(isw_store *s, const char *path, int overwrite, const isw_spec *spec,
                          const isw_store_meta *meta) {
  int err = 0, made = 0, moved = 0;
  char *dir = NULL, *base = NULL, *tmp = NULL, host[ISW_HOST_LEN];
  void *image = NULL;
  size_t n = 0;
  struct stat id;
  ISW_CALL(check_create_path(&dir, &base, path, overwrite));
  clean_leftovers(dir, base, path, meta ? meta->notes : NULL);
  host_name(host);
  size_t len = strlen(dir) + strlen(base) + strlen(host) + 64;
  ISW_ALLOC(tmp, len);
  snprintf(tmp, len, "%s/.%s" TMP_TAG "%s.%ld", dir, base, host, (long)getpid());
  ISW_CALL(build_image(&image, &n, s, tmp, spec, meta));
  ISW_CALL(write_temp(&made, &id, tmp, path, image, n, "ISW_TEST_CREATE_FAULT"));
  ISW_CALL(move_into_place(&moved, tmp, path, dir, overwrite));
cleanup:
  if (made && !moved) {
    struct stat now;
    if (lstat(tmp, &now) == 0 && now.st_dev == id.st_dev && now.st_ino == id.st_ino) unlink(tmp);
  }
  free(image);
  free(tmp);
  free(dir);
  free(base);
  return err;
}

static int open_group(isw_store *s, int g);

/* Rank 0 opens the existing file `s->path` read-write and the handles of
 * every group; the other ranks hold no handle (every row reaches the file
 * through rank 0, writer.c).  Collective: every rank gets rank 0's verdict. */
static int open_all(isw_store *s) {
  int err = 0, local = 0;
  hid_t fapl = H5I_INVALID_HID;
  if (s->rank == 0 && (local = file_access_plist(&fapl)) == 0) {
    s->file = H5Fopen(s->path, H5F_ACC_RDWR, fapl);
    if (s->file < 0)
      local = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot open the results file for writing",
                      s->path);
    for (int g = 0; g < s->n_groups && !local; ++g) local = open_group(s, g);
  }
  ISW_CALL(agree_root(s->comm, s->rank, local));
cleanup:
  h5_close_id(&fapl);
  return err;
}

int isw_store_create(isw_store **out, const char *path, int overwrite, const isw_spec *spec,
                     const isw_store_meta *meta, MPI_Comm comm) {
  int err = 0;
  isw_store *s = NULL;
  ISW_CHECK(out && path && spec, ISW_EINTERNAL, "isw_store_create: NULL argument");
  *out = NULL;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ISW_CALL(store_alloc(&s, path, spec, comm));
  ISW_CALL(agree_root(s->comm, s->rank, s->rank == 0 ? make_file_root(s, path, overwrite, spec, meta) : 0));
  ISW_CALL(open_all(s));
  *out = s;
  s = NULL;
cleanup:
  if (s) store_free(s, 1); /* collective: every rank failed together */
  return err;
}

/* ---- open for resume ---------------------------------------------------- */

/* Copy line `n` (1-based) of text into buf (truncated), or "(end of text)". */
static void text_line(char *buf, size_t size, const char *text, int n) {
  const char *p = text;
  for (int i = 1; i < n && p; ++i) {
    p = strchr(p, '\n');
    if (p) ++p;
  }
  if (!p || (*p == '\0')) {
    snprintf(buf, size, "(end of text)");
    return;
  }
  size_t len = strcspn(p, "\n");
  if (len > 100) snprintf(buf, size, "'%.100s...'", p);
  else snprintf(buf, size, "'%.*s'", (int)len, p);
}

/* The first 1-based line where a and b differ, or 0 when equal. */
static int first_diff_line(const char *a, const char *b) {
  int line = 1;
  for (size_t i = 0;; ++i) {
    if (a[i] != b[i]) return line;
    if (a[i] == '\0') return 0;
    if (a[i] == '\n') ++line;
  }
}

/* Rank 0: dataset /TASK/name exists with shape (d0) or (d0, d1). */
static int check_shape(hid_t grp, const char *path, const char *task, const char *name, int rank,
                       hsize_t d0, hsize_t d1) {
  int err = 0;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  hsize_t dims[2] = {0, 0};
  int ok = H5Lexists(grp, name, H5P_DEFAULT) > 0;
  if (ok) ok = (d = H5Dopen2(grp, name, H5P_DEFAULT)) >= 0 && (sp = H5Dget_space(d)) >= 0 &&
               H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, dims, NULL) == rank &&
               dims[0] == d0 && (rank == 1 || dims[1] == d1);
  H5Eclear2(H5E_DEFAULT);
  if (rank == 1)
    ISW_CHECK(ok, ISW_EUSAGE,
              "%s: /%s/%s is missing or not %llu rows (written by another isweep version? use --force to start over)",
              path, task, name, (unsigned long long)d0);
  else
    ISW_CHECK(ok, ISW_EUSAGE,
              "%s: /%s/%s is missing or not %llu x %llu (written by another isweep version? use --force to start over)",
              path, task, name, (unsigned long long)d0, (unsigned long long)d1);
cleanup:
  h5_close_id(&sp);
  h5_close_id(&d);
  return err;
}

/* Rank 0: group g of the file matches the spec (every column, shapes, the
 * same set of config ids); map (C) <- the file row of each spec config,
 * found by config_id (rows of an extended file are not grid positions). */
static int check_group(int *map, hid_t f, const char *path, const isw_spec_group *sg) {
  int err = 0;
  const isw_task *t = sg->task;
  hid_t grp = H5I_INVALID_HID, d = H5I_INVALID_HID;
  uint64_t *ids = NULL; /* (C) */
  int *slot = NULL;     /* (cap) open addressing: 1 + file row, 0 = free */
  size_t cap = 1;
  const hsize_t C = (hsize_t)sg->n_configs, T = (hsize_t)sg->n_test;
  ISW_CHECK(H5Lexists(f, t->name, H5P_DEFAULT) > 0 &&
                (grp = H5Gopen2(f, t->name, H5P_DEFAULT)) >= 0,
            ISW_EUSAGE, "%s: group /%s is missing (resume with the spec that made the file)", path,
            t->name);
  ISW_CALL(check_shape(grp, path, t->name, "test_iters", 1, T, 0));
  ISW_CALL(check_shape(grp, path, t->name, "config_id", 1, C, 0));
  ISW_CALL(check_shape(grp, path, t->name, "width", 1, C, 0));
  ISW_CALL(check_shape(grp, path, t->name, "train_iters", 1, C, 0));
  ISW_CALL(check_shape(grp, path, t->name, "seed", 1, C, 0));
  for (int k = 0; k < t->n_params; ++k)
    ISW_CALL(check_shape(grp, path, t->name, t->params[k].name, 1, C, 0));
  for (int k = 0; k < N_RUN; ++k) ISW_CALL(check_shape(grp, path, t->name, run_cols[k].name, 1, C, 0));
  for (int k = 0; k < t->n_scalars; ++k)
    ISW_CALL(check_shape(grp, path, t->name, t->scalars[k].name, 1, C, 0));
  for (int k = 0; k < t->n_curves; ++k)
    ISW_CALL(check_shape(grp, path, t->name, t->curves[k].name, 2, C, T));

  ISW_ALLOC(ids, C);
  H5_TRY(d = H5Dopen2(grp, "config_id", H5P_DEFAULT), "%s: cannot open /%s/config_id", path, t->name);
  H5_TRY(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids),
         "%s: cannot read /%s/config_id", path, t->name);
  while (cap < 2 * (size_t)C) cap *= 2;
  ISW_ALLOC(slot, cap);
  for (hsize_t i = 0; i < C; ++i) {
    size_t h = (size_t)isw_mix64(ids[i]) & (cap - 1);
    while (slot[h] && ids[slot[h] - 1] != ids[i]) h = (h + 1) & (cap - 1);
    ISW_CHECK(!slot[h], ISW_EUSAGE, "%s: /%s/config_id %016llx is in rows %d and %llu (a damaged file: use "
              "--force to start over)", path, t->name, (unsigned long long)ids[i], slot[h] - 1,
              (unsigned long long)i);
    slot[h] = (int)i + 1;
  }
  for (hsize_t i = 0; i < C; ++i) {
    uint64_t id = sg->configs[i].id;
    size_t h = (size_t)isw_mix64(id) & (cap - 1);
    while (slot[h] && ids[slot[h] - 1] != id) h = (h + 1) & (cap - 1);
    ISW_CHECK(slot[h], ISW_EUSAGE,
              "%s: config %016llx (group /%s, width %lld, seed %lld) of the spec is not in the file "
              "(config ids changed: resume with the isweep that made the file, or use --force to start over)",
              path, (unsigned long long)id, t->name, (long long)sg->configs[i].width,
              (long long)sg->configs[i].seed);
    map[i] = slot[h] - 1;
  }
cleanup:
  free(slot);
  free(ids);
  h5_close_id(&d);
  h5_close_id(&grp);
  return err;
}

/* Rank 0, read-only, before anything is written: is `path` an isweep file
 * of this schema, made from this spec? */
static int check_resume(int **maps, const char *path, const isw_spec *spec) {
  int err = 0, schema = 0;
  hid_t f = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
  char *canon = NULL;
  struct stat st;
  ISW_CHECK(stat(path, &st) == 0, ISW_EUSAGE,
            "%s: cannot resume: %s (run without --resume to start a new sweep)", path, strerror(errno));
  ISW_CHECK(S_ISREG(st.st_mode), ISW_EUSAGE, "%s: not an isweep results file (not a regular file)", path);
  htri_t is = H5Fis_hdf5(path);
  H5Eclear2(H5E_DEFAULT);
  ISW_CHECK(is > 0, ISW_EUSAGE, "%s: not an isweep results file (not an HDF5 file)", path);
  H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  H5_TRY(H5Pset_fapl_sec2(fapl), "cannot select the sec2 driver");
  H5_TRY(f = H5Fopen(path, H5F_ACC_RDONLY, fapl), "%s: cannot open the results file", path);
  ISW_CHECK(H5Aexists(f, "schema_version") > 0, ISW_EUSAGE,
            "%s: not an isweep results file (no schema_version attribute)", path);
  ISW_CALL(attr_get_int(&schema, f, path, "schema_version"));
  ISW_CHECK(schema == ISW_SCHEMA_VERSION, ISW_EUSAGE,
            "%s: schema version %d, this isweep reads %d (resume it with the isweep that wrote it, "
            "or use --force to start over)",
            path, schema, ISW_SCHEMA_VERSION);
  ISW_CHECK(H5Aexists(f, "spec_canonical") > 0, ISW_EUSAGE,
            "%s: not an isweep results file (no spec_canonical attribute)", path);
  ISW_CALL(attr_get_str(&canon, f, path, "spec_canonical"));
  const char *mine = spec->canonical ? spec->canonical : "";
  int line = first_diff_line(canon, mine);
  if (line) {
    char a[128], b[128];
    text_line(a, sizeof a, canon, line);
    text_line(b, sizeof b, mine, line);
    ISW_CHECK(0, ISW_EUSAGE,
              "%s: made from another spec: canonical line %d is %s in the file, %s in this spec "
              "(resume with the same spec and --set values, or use --force to start over)",
              path, line, a, b);
  }
  for (int g = 0; g < spec->n_groups; ++g) ISW_CALL(check_group(maps[g], f, path, &spec->groups[g]));
cleanup:
  free(canon);
  h5_close_id(&f);
  h5_close_id(&fapl);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

/* Open the handles of group g of an existing file.  Collective. */
static int open_group(isw_store *s, int g) {
  int err = 0;
  store_group *gr = &s->groups[g];
  const isw_task *t = gr->task;
  const char *path = s->path;
  hid_t dapl = H5I_INVALID_HID;
  H5_TRY(gr->group = H5Gopen2(s->file, t->name, H5P_DEFAULT), "%s: cannot open group /%s", path,
         t->name);
  ISW_CALL(make_spaces(gr));
  for (int k = 0; k < N_RUN; ++k)
    H5_TRY(gr->d_run[k] = H5Dopen2(gr->group, run_cols[k].name, H5P_DEFAULT),
           "%s: cannot open /%s/%s", path, t->name, run_cols[k].name);
  for (int k = 0; k < t->n_scalars; ++k)
    H5_TRY(gr->d_scalars[k] = H5Dopen2(gr->group, t->scalars[k].name, H5P_DEFAULT),
           "%s: cannot open /%s/%s", path, t->name, t->scalars[k].name);
  /* a chunk cache that holds a few curve chunks (HDF5's default 1 MiB holds
   * none once a chunk of T doubles a row is larger): a batch then writes each
   * chunk it touches once, at the flush */
  H5_TRY(dapl = H5Pcreate(H5P_DATASET_ACCESS), "cannot create a dataset access property list");
  size_t curve_chunk = (size_t)ISW_STORE_CHUNK_ROWS * (size_t)gr->n_test * sizeof(double); /* at most */
  size_t cache = 8 * curve_chunk > ((size_t)1 << 20) ? 8 * curve_chunk : (size_t)1 << 20;
  H5_TRY(H5Pset_chunk_cache(dapl, 521, cache, 1.0), "cannot size the chunk cache");
  for (int k = 0; k < t->n_curves; ++k)
    H5_TRY(gr->d_curves[k] = H5Dopen2(gr->group, t->curves[k].name, dapl),
           "%s: cannot open /%s/%s", path, t->name, t->curves[k].name);
cleanup:
  h5_close_id(&dapl);
  return err;
}

/* Rank 0: bump runs, record this run's mpi_size, clear end_time. */
static int mark_resumed(isw_store *s, const isw_store_meta *meta) {
  int err = 0, runs = 0;
  int mpi_size = meta && meta->mpi_size > 0 ? meta->mpi_size : s->size;
  ISW_CALL(attr_get_int(&runs, s->file, s->path, "runs"));
  ISW_CALL(attr_set_int(s->file, s->path, "runs", runs + 1));
  ISW_CALL(attr_set_int(s->file, s->path, "mpi_size", mpi_size));
  ISW_CALL(attr_set_str(s->file, s->path, "end_time", ""));
cleanup:
  return err;
}

/* Rank 0: remove (or note) temporaries of killed creations and extensions. */
static void clean_path_leftovers(const char *path, const isw_store_meta *meta) {
  char *dir = NULL, *base = NULL;
  if (split_path(&dir, &base, path) == 0 && base[0]) clean_leftovers(dir, base, path, meta ? meta->notes : NULL);
  free(dir);
  free(base);
}

/* The rest of an open for resume, after store_alloc: check, map rows by
 * config_id, open, mark resumed.  Collective. */
static int open_existing(isw_store *s, const char *path, const isw_spec *spec, const isw_store_meta *meta) {
  int err = 0;
  int *maps[ISW_STORE_MAX_GROUPS];
  ISW_CHECK(s->n_groups <= ISW_STORE_MAX_GROUPS, ISW_EINTERNAL, "more than %d task groups", ISW_STORE_MAX_GROUPS);
  for (int g = 0; g < s->n_groups; ++g) maps[g] = s->groups[g].map;
  ISW_CALL(agree_root(s->comm, s->rank, s->rank == 0 ? check_resume(maps, path, spec) : 0));
  for (int g = 0; g < s->n_groups; ++g) /* every rank writes its rows where the file has them */
    STORE_MPI(MPI_Bcast(s->groups[g].map, s->groups[g].n_configs, MPI_INT, 0, s->comm), "broadcasting the row map");
  ISW_CALL(open_all(s));
  errno = 0;
  int local = s->rank == 0 ? mark_resumed(s, meta) : 0;
  if (!local && s->rank == 0 && H5Fflush(s->file, H5F_SCOPE_LOCAL) < 0)
    local = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot flush the file", path);
  ISW_CALL(agree_root(s->comm, s->rank, local));
cleanup:
  return err;
}

int isw_store_open(isw_store **out, const char *path, const isw_spec *spec,
                   const isw_store_meta *meta, MPI_Comm comm) {
  int err = 0;
  isw_store *s = NULL;
  ISW_CHECK(out && path && spec, ISW_EINTERNAL, "isw_store_open: NULL argument");
  *out = NULL;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ISW_CALL(store_alloc(&s, path, spec, comm));
  if (s->rank == 0) clean_path_leftovers(path, meta); /* a killed --force creation or extension */
  ISW_CALL(open_existing(s, path, spec, meta));
  *out = s;
  s = NULL;
cleanup:
  if (s) store_free(s, 1);
  return err;
}

/* ---- extend ------------------------------------------------------------- */

/* Rank 0: read the whole regular file `path` into *buf (*n bytes). */
static int read_whole(void **buf, size_t *n, const char *path) {
  int err = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  char *b = NULL;
  *buf = NULL;
  *n = 0;
  ISW_CHECK(fd >= 0 && fstat(fd, &st) == 0, ISW_EIO, "%s: cannot read the results file (%s)", path, strerror(errno));
  ISW_ALLOC(b, (size_t)st.st_size);
  size_t done = 0;
  while (done < (size_t)st.st_size) {
    ssize_t r = read(fd, b + done, (size_t)st.st_size - done);
    if (r < 0 && errno == EINTR) continue;
    ISW_CHECK(r > 0, ISW_EIO, "%s: cannot read the results file (%s)", path, r < 0 ? strerror(errno) : "it shrank");
    done += (size_t)r;
  }
  *buf = b;
  *n = done;
  b = NULL;
cleanup:
  free(b);
  if (fd >= 0) close(fd);
  return err;
}

/* Replace (or make) a string attribute with `value`, sized to fit. */
static int attr_replace_str(hid_t loc, const char *path, const char *name, const char *value) {
  int err = 0;
  if (H5Aexists(loc, name) > 0) H5_TRY(H5Adelete(loc, name), "%s: cannot replace attribute %s", path, name);
  ISW_CALL(attr_str(loc, path, name, value, 0));
cleanup:
  return err;
}

/* In the open in-memory file: add the spec's configs that group g lacks at
 * the end of its rows (every row dataset grown by H5Dset_extent, which
 * fills the new rows as a creation does: status pending; identity columns
 * written), or lay the group out whole when the file has none.  *added
 * receives the number of new rows. */
static int extend_group(int64_t *added, isw_store *s, int g, const isw_spec_group *sg) {
  int err = 0;
  const isw_task *t = sg->task;
  const char *path = s->path;
  hid_t grp = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID, ms = H5I_INVALID_HID;
  hid_t t_str = H5I_INVALID_HID, a = H5I_INVALID_HID;
  uint64_t *ids = NULL;              /* (C_old) */
  int *fresh = NULL;                 /* (C_new) spec rows of the new configs */
  unsigned char *seen = NULL;
  void *col = NULL;
  *added = 0;
  if (H5Lexists(s->file, t->name, H5P_DEFAULT) <= 0) { /* a family the file does not have yet */
    H5Eclear2(H5E_DEFAULT);
    ISW_CALL(layout_group(s, g, sg));
    group_close(&s->groups[g]);
    *added = sg->n_configs;
    goto cleanup;
  }
  H5_TRY(grp = H5Gopen2(s->file, t->name, H5P_DEFAULT), "%s: cannot open group /%s", path, t->name);
  H5_TRY(d = H5Dopen2(grp, "config_id", H5P_DEFAULT), "%s: cannot open /%s/config_id", path, t->name);
  H5_TRY(sp = H5Dget_space(d), "%s: cannot read /%s/config_id", path, t->name);
  hsize_t old = 0, maxd = 0;
  H5Sget_simple_extent_dims(sp, &old, &maxd);
  ISW_CHECK(maxd == H5S_UNLIMITED, ISW_EUSAGE,
            "%s: cannot extend: its datasets have a fixed size (made by an isweep before extensions; run the "
            "larger spec into a new file)", path);
  ISW_ALLOC(ids, old);
  H5_TRY(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids), "%s: cannot read /%s/config_id", path,
         t->name);
  h5_close_id(&sp);
  h5_close_id(&d);
  /* which of the spec's configs are new: a hash set of the file's ids */
  size_t cap = 1;
  while (cap < 2 * (size_t)old + 2) cap *= 2;
  uint64_t *tab = NULL;
  ISW_ALLOC(tab, cap);
  ISW_ALLOC(seen, cap);
  for (hsize_t i = 0; i < old; ++i) {
    size_t h = (size_t)isw_mix64(ids[i]) & (cap - 1);
    while (seen[h] && tab[h] != ids[i]) h = (h + 1) & (cap - 1);
    seen[h] = 1;
    tab[h] = ids[i];
  }
  ISW_ALLOC(fresh, sg->n_configs);
  int n_new = 0;
  for (int i = 0; i < sg->n_configs; ++i) {
    uint64_t id = sg->configs[i].id;
    size_t h = (size_t)isw_mix64(id) & (cap - 1);
    while (seen[h] && tab[h] != id) h = (h + 1) & (cap - 1);
    if (!seen[h]) fresh[n_new++] = i;
  }
  free(tab);
  ISW_CHECK((hsize_t)(sg->n_configs - n_new) == old, ISW_EUSAGE,
            "%s: cannot extend: /%s has %llu configs, of which only %d are in this spec (a sweep is extended "
            "by a spec that contains it)", path, t->name, (unsigned long long)old, sg->n_configs - n_new);
  if (n_new == 0) goto cleanup;
  /* grow every row dataset: identity, run, scalar and curve columns */
  const char *names[3 + ISW_MAX_PARAMS + N_RUN + 64 + 64];
  int nn = 0;
  names[nn++] = "config_id", names[nn++] = "width", names[nn++] = "train_iters", names[nn++] = "seed";
  for (int k = 0; k < t->n_params; ++k) names[nn++] = t->params[k].name;
  for (int k = 0; k < N_RUN; ++k) names[nn++] = run_cols[k].name;
  ISW_CHECK(t->n_scalars + t->n_curves <= 128, ISW_EINTERNAL, "task %s: too many columns", t->name);
  for (int k = 0; k < t->n_scalars; ++k) names[nn++] = t->scalars[k].name;
  for (int k = 0; k < t->n_curves; ++k) names[nn++] = t->curves[k].name;
  hsize_t total = old + (hsize_t)n_new;
  for (int k = 0; k < nn; ++k) {
    hsize_t dims[2];
    H5_TRY(d = H5Dopen2(grp, names[k], H5P_DEFAULT), "%s: cannot open /%s/%s", path, t->name, names[k]);
    H5_TRY(sp = H5Dget_space(d), "%s: cannot read /%s/%s", path, t->name, names[k]);
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    ISW_CHECK(nd >= 1 && dims[0] == old, ISW_EUSAGE, "%s: /%s/%s has %llu rows, config_id %llu (a damaged file)",
              path, t->name, names[k], (unsigned long long)dims[0], (unsigned long long)old);
    dims[0] = total;
    H5_TRY(H5Dset_extent(d, dims), "%s: cannot grow /%s/%s", path, t->name, names[k]);
    h5_close_id(&sp);
    h5_close_id(&d);
  }
  /* the identity columns of the new rows */
  hsize_t start = old, count = (hsize_t)n_new;
  H5_TRY(ms = H5Screate_simple(1, &count, NULL), "cannot create a dataspace");
  ISW_ALLOC(col, (size_t)n_new * STRING_LEN);
  for (int k = 0; k < 4 + t->n_params; ++k) {
    hid_t mt = H5T_NATIVE_INT64;
    for (int j = 0; j < n_new; ++j) {
      const isw_config *c = &sg->configs[fresh[j]];
      if (k == 0) ((uint64_t *)col)[j] = c->id, mt = H5T_NATIVE_UINT64;
      else if (k <= 3) ((int64_t *)col)[j] = k == 1 ? c->width : k == 2 ? c->train_iters : c->seed;
      else {
        const isw_param_def *pd = &t->params[k - 4];
        if (pd->type == ISW_PARAM_INT) ((int64_t *)col)[j] = (int64_t)llround(c->p[k - 4].num);
        else if (pd->type == ISW_PARAM_REAL) ((double *)col)[j] = c->p[k - 4].num, mt = H5T_NATIVE_DOUBLE;
        else {
          size_t w = pd->type == ISW_PARAM_ENUM ? ENUM_LEN : STRING_LEN;
          const char *v = c->p[k - 4].str ? c->p[k - 4].str : "";
          ISW_CHECK(strlen(v) < w, ISW_EUSAGE, "task %s, parameter %s: value '%.40s...' is longer than %zu bytes",
                    t->name, pd->name, v, w - 1);
          copy_padded((char *)col + (size_t)j * w, w, v);
          if (!j) {
            h5_close_id(&t_str);
            ISW_CALL(make_str_type(&t_str, w, H5T_STR_NULLTERM));
          }
          mt = t_str;
        }
      }
    }
    H5_TRY(d = H5Dopen2(grp, names[k], H5P_DEFAULT), "%s: cannot open /%s/%s", path, t->name, names[k]);
    H5_TRY(sp = H5Dget_space(d), "%s: cannot read /%s/%s", path, t->name, names[k]);
    H5_TRY(H5Sselect_hyperslab(sp, H5S_SELECT_SET, &start, NULL, &count, NULL), "cannot select the new rows");
    H5_TRY(H5Dwrite(d, mt, ms, sp, H5P_DEFAULT, col), "%s: cannot write /%s/%s", path, t->name, names[k]);
    h5_close_id(&sp);
    h5_close_id(&d);
  }
  int64_t nc = (int64_t)total;
  H5_TRY(a = H5Aopen(grp, "n_configs", H5P_DEFAULT), "%s: cannot open /%s n_configs", path, t->name);
  H5_TRY(H5Awrite(a, H5T_NATIVE_INT64, &nc), "%s: cannot write /%s n_configs", path, t->name);
  *added = n_new;
cleanup:
  free(col);
  free(fresh);
  free(seen);
  free(ids);
  h5_close_id(&a);
  h5_close_id(&t_str);
  h5_close_id(&ms);
  h5_close_id(&sp);
  h5_close_id(&d);
  h5_close_id(&grp);
  return err;
}

/* Rank 0: if `spec` extends the sweep of the file at `path` (see
 * isw_spec_extends), make the extended file under a temporary name beside
 * it and rename it over the original: the file is read into memory, opened
 * there (core driver), grown, given the new canonical spec and a history
 * record, closed, written to the temporary (fsync) and moved into place.
 * So the path holds the old file or the whole extended one at any moment.
 * Equal canonical texts: nothing to do (*added 0, *changed 0). */
static int extend_file_root(int64_t *added, int *changed, isw_store *s, const char *path, const isw_spec *spec,
                            const isw_store_meta *meta) {
  int err = 0, made = 0, moved = 0, schema = 0;
  hid_t f = H5I_INVALID_HID, fapl = H5I_INVALID_HID, check = H5I_INVALID_HID;
  char *canon = NULL, *dir = NULL, *base = NULL, *tmp = NULL, host[ISW_HOST_LEN], why[600], now[TIME_LEN];
  void *old = NULL;
  size_t n_old = 0, n = 0;
  image_keep keep = {NULL, 0, NULL, 0};
  H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free, img_udata_copy, img_udata_free,
                                    &keep};
  struct stat st, id;
  *added = 0;
  *changed = 0;
  ISW_CHECK(lstat(path, &st) == 0, ISW_EUSAGE, "%s: cannot extend: %s", path, strerror(errno));
  ISW_CHECK(S_ISREG(st.st_mode), ISW_EUSAGE, "%s: not an isweep results file (not a regular file)", path);
  htri_t is = H5Fis_hdf5(path);
  H5Eclear2(H5E_DEFAULT);
  ISW_CHECK(is > 0, ISW_EUSAGE, "%s: not an isweep results file (not an HDF5 file)", path);
  H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  H5_TRY(H5Pset_fapl_sec2(fapl), "cannot select the sec2 driver");
  H5_TRY(f = H5Fopen(path, H5F_ACC_RDONLY, fapl), "%s: cannot open the results file", path);
  ISW_CHECK(H5Aexists(f, "schema_version") > 0 && H5Aexists(f, "spec_canonical") > 0, ISW_EUSAGE,
            "%s: not an isweep results file (no schema_version or spec_canonical attribute)", path);
  ISW_CALL(attr_get_int(&schema, f, path, "schema_version"));
  ISW_CHECK(schema == ISW_SCHEMA_VERSION, ISW_EUSAGE, "%s: schema version %d, this isweep reads %d", path, schema,
            ISW_SCHEMA_VERSION);
  ISW_CALL(attr_get_str(&canon, f, path, "spec_canonical"));
  h5_close_id(&f);
  h5_close_id(&fapl);
  int rc = isw_spec_extends(canon, spec->canonical, why, sizeof why);
  if (rc == ISW_EUSAGE)
    ISW_CHECK(0, ISW_EUSAGE,
              "%s: cannot extend: %s (only grid axes may gain values and families or sub-grids be added; "
              "run the spec into a new file with -o, or use --force to start over)", path, why);
  ISW_CALL(rc);
  if (strcmp(canon, spec->canonical) == 0) goto cleanup; /* the same sweep: a resume */
  *changed = 1;

  /* the copy, in memory */
  ISW_CALL(split_path(&dir, &base, path));
  host_name(host);
  size_t len = strlen(dir) + strlen(base) + strlen(host) + 64;
  ISW_ALLOC(tmp, len);
  snprintf(tmp, len, "%s/.%s" TMP_TAG "%s.%ld", dir, base, host, (long)getpid());
  ISW_CALL(read_whole(&old, &n_old, path));
  H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  H5_TRY(H5Pset_fapl_core(fapl, (size_t)1 << 20, 0), "cannot select the in-memory driver");
  H5_TRY(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18), "cannot set the file format bounds");
  H5_TRY(H5Pset_file_image_callbacks(fapl, &cb), "cannot set the file image callbacks");
  H5_TRY(H5Pset_file_image(fapl, old, n_old), "cannot hand the file to the in-memory driver");
  free(old);
  old = NULL;
  H5_TRY(s->file = H5Fopen(tmp, H5F_ACC_RDWR, fapl), "%s: cannot open a copy of the results file in memory", path);
  int64_t total = 0;
  for (int g = 0; g < spec->n_groups; ++g) {
    int64_t a = 0;
    ISW_CALL(extend_group(&a, s, g, &spec->groups[g]));
    *added += a;
    total += spec->groups[g].n_configs;
  }
  iso_utc_now(now);
  ISW_CALL(attr_replace_str(s->file, path, "spec_canonical", spec->canonical));
  ISW_CALL(attr_replace_str(s->file, path, "spec_text", spec->text));
  ISW_CALL(attr_replace_str(s->file, path, "spec_path", spec->path));
  ISW_CALL(history_append(s->file, path, now, meta ? meta->command_line : "", *added, total));
  hid_t fh = s->file;
  s->file = H5I_INVALID_HID;
  H5_TRY(H5Fclose(fh), "%s: cannot close the extended copy in memory", path);
  n = keep.buf ? image_eof(keep.buf, keep.size) : 0;
  ISW_CHECK(n > 0, ISW_EINTERNAL, "%s: HDF5 did not hand back the extended file", path);
  H5_TRY(check = H5LTopen_file_image(keep.buf, n, H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE),
         "%s: the extended file made in memory does not open", path);
  h5_close_id(&check);
  /* ISW_TEST_EXTEND_FAULT=kill: SIGKILL with half the temporary written */
  ISW_CALL(write_temp(&made, &id, tmp, path, keep.buf, n, "ISW_TEST_EXTEND_FAULT"));
  ISW_CALL(move_into_place(&moved, tmp, path, dir, 1));
cleanup:
  if (made && !moved) {
    struct stat now_st;
    if (lstat(tmp, &now_st) == 0 && now_st.st_dev == id.st_dev && now_st.st_ino == id.st_ino) unlink(tmp);
  }
  for (int g = 0; g < s->n_groups; ++g) group_close(&s->groups[g]);
  if (s->file >= 0) H5Fclose(s->file);
  s->file = H5I_INVALID_HID;
  h5_close_id(&check);
  h5_close_id(&f);
  h5_close_id(&fapl);
  H5Eclear2(H5E_DEFAULT);
  free(keep.buf);
  free(old);
  free(canon);
  free(tmp);
  free(dir);
  free(base);
  return err;
}

int isw_store_extend(isw_store **out, int64_t *added, const char *path, const isw_spec *spec,
                     const isw_store_meta *meta, MPI_Comm comm) {
  int err = 0, changed = 0;
  isw_store *s = NULL;
  int64_t n = 0;
  ISW_CHECK(out && path && spec, ISW_EINTERNAL, "isw_store_extend: NULL argument");
  *out = NULL;
  if (added) *added = 0;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ISW_CALL(store_alloc(&s, path, spec, comm));
  if (s->rank == 0) clean_path_leftovers(path, meta);
  ISW_CALL(agree_root(s->comm, s->rank, s->rank == 0 ? extend_file_root(&n, &changed, s, path, spec, meta) : 0));
  STORE_MPI(MPI_Bcast(&n, 1, MPI_INT64_T, 0, s->comm), "broadcasting the configs added");
  ISW_CALL(open_existing(s, path, spec, meta));
  if (added) *added = n;
  *out = s;
  s = NULL;
cleanup:
  if (s) store_free(s, 1);
  return err;
}

/* ---- rows (rank 0, in batches) ------------------------------------------ */

static int check_row(const isw_store *s, int g, int row) {
  int err = 0;
  ISW_CHECK(s != NULL, ISW_EINTERNAL, "store: NULL store");
  ISW_CHECK(g >= 0 && g < s->n_groups, ISW_EINTERNAL, "%s: no group %d", s->path, g);
  ISW_CHECK(row >= 0 && row < s->groups[g].n_configs, ISW_EINTERNAL,
            "%s: /%s has no row %d (%d rows)", s->path, s->groups[g].task->name, row,
            s->groups[g].n_configs);
cleanup:
  return err;
}

/* One cell value of a batch entry, by the run column it goes to. */
typedef struct {
  int g;        /* group */
  hsize_t frow; /* row in the file */
  int idx;      /* position in the caller's batch: the later entry for a row wins */
} batch_key;

static int batch_key_cmp(const void *pa, const void *pb) {
  const batch_key *a = pa, *b = pb;
  if (a->g != b->g) return a->g < b->g ? -1 : 1;
  if (a->frow != b->frow) return a->frow < b->frow ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Select the file rows rows[0..n) (ascending, distinct) of `space` (1-D (C),
 * or 2-D (C, T) when T > 0) as a union of runs of consecutive rows, and make
 * *mspace the matching (n) or (n, T) memory space: HDF5 then moves the
 * values in ascending row order, the order of the caller's buffer. */
static int select_rows(hid_t *mspace, hid_t space, const hsize_t *rows, int n, hsize_t T) {
  int err = 0, first = 1;
  for (int i = 0; i < n;) {
    int j = i + 1;
    while (j < n && rows[j] == rows[j - 1] + 1) ++j;
    hsize_t start[2] = {rows[i], 0}, count[2] = {(hsize_t)(j - i), T};
    H5_TRY(H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL, count, NULL),
           "cannot select rows %llu..%llu", (unsigned long long)rows[i], (unsigned long long)rows[j - 1]);
    first = 0;
    i = j;
  }
  hsize_t mdims[2] = {(hsize_t)n, T};
  H5_TRY(*mspace = H5Screate_simple(T > 0 ? 2 : 1, mdims, NULL), "cannot create a dataspace");
cleanup:
  return err;
}

/* Write buf (n values of mtype, or (n, T) for a curve) to the file rows
 * rows[0..n) of dataset d: one H5Dwrite for the whole batch. */
static int write_col(isw_store *s, store_group *gr, hid_t d, hid_t mtype, const hsize_t *rows, int n,
                     const void *buf, int curve, const char *name) {
  int err = 0;
  hid_t ms = H5I_INVALID_HID;
  if (n == 0) goto cleanup;
  hid_t fs = curve ? gr->fspace_curves : gr->fspace_rows;
  ISW_CALL(select_rows(&ms, fs, rows, n, curve ? (hsize_t)gr->n_test : 0));
  errno = 0; /* h5_fail reads the errno a failed write leaves */
  H5_TRY(H5Dwrite(d, mtype, ms, fs, s->dxpl_ind, buf), "%s: cannot write /%s/%s (%d rows)", s->path,
         gr->task->name, name, n);
cleanup:
  h5_close_id(&ms);
  return err;
}

/* Push everything written so far to the file (HDF5's caches, then the
 * kernel's page cache, then with `sync` the disk), so that what follows
 * cannot reach the file before it. */
static int flush_file(isw_store *s, int sync) {
  int err = 0;
  errno = 0;
  H5_TRY(H5Fflush(s->file, H5F_SCOPE_LOCAL), "%s: cannot flush the results file", s->path);
  if (sync) {
    int *fd = NULL;
    H5_TRY(H5Fget_vfd_handle(s->file, H5P_DEFAULT, (void **)&fd), "%s: no file descriptor", s->path);
    if (fsync(*fd) != 0 && errno != EINVAL && errno != EROFS) {
      err = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot write the results file to disk (%s)", s->path,
                    strerror(errno));
      goto cleanup;
    }
  }
cleanup:
  return err;
}

/* Test hook (the ISW_FAULT mechanism of run.c): with
 * ISW_FAULT=batch-before-status, the process kills itself once a batch's
 * data are in the file and its statuses are not, from the second batch on
 * (so that the file also holds a complete batch).  Inert otherwise. */
static void batch_fault_hook(const isw_store *s) {
  const char *f = getenv("ISW_FAULT");
  if (f && strcmp(f, "batch-before-status") == 0 && s->batches >= 1) raise(SIGKILL);
}

/* The last entry of `kind` (-1: any kind) in each run of keys with the same
 * file row, into out (its batch index) and rows (the file row); returns how
 * many rows have one. */
static int last_of_kind(int *out, hsize_t *rows, const isw_store_entry *e, const batch_key *keys, int n,
                        int kind) {
  int m = 0;
  for (int lo = 0; lo < n;) {
    int hi = lo, pick = -1;
    for (; hi < n && keys[hi].frow == keys[lo].frow; ++hi)
      if (kind < 0 || (int)e[keys[hi].idx].kind == kind) pick = keys[hi].idx;
    if (pick >= 0) {
      out[m] = pick;
      rows[m++] = keys[lo].frow;
    }
    lo = hi;
  }
  return m;
}

/* The data columns of group gr for its entries keys[0..n) (sorted by file
 * row, then batch order): who ran it from each row's last BEGIN, the result
 * columns from its last FINISHED. */
static int write_group_data(isw_store *s, store_group *gr, const isw_store_entry *e, const batch_key *keys,
                            int n) {
  int err = 0;
  const isw_task *t = gr->task;
  const int T = gr->n_test;
  hsize_t *rows = NULL;  /* (n) file rows of the entries a column covers */
  int32_t *i32 = NULL;   /* (n) */
  int64_t *i64 = NULL;   /* (n) */
  double *f64 = NULL;    /* (n, T) */
  char *str = NULL;      /* (n, ISW_MESSAGE_LEN) */
  int *pick = NULL;      /* (n) batch index of the entry each row's cells come from */
  ISW_ALLOC(rows, n);
  ISW_ALLOC(i32, n);
  ISW_ALLOC(i64, n);
  ISW_ALLOC(f64, (size_t)n * (size_t)(T > 1 ? T : 1));
  ISW_ALLOC(str, (size_t)n * ISW_MESSAGE_LEN);
  ISW_ALLOC(pick, n);
  /* who ran it */
  int m = last_of_kind(pick, rows, e, keys, n, ISW_STORE_BEGIN);
  for (int i = 0; i < m; ++i) {
    const isw_store_entry *x = &e[pick[i]];
    i32[i] = x->rank;
    f64[i] = x->start_time;
    copy_padded(str + (size_t)i * ISW_HOST_LEN, ISW_HOST_LEN, x->host ? x->host : "");
  }
  ISW_CALL(write_col(s, gr, gr->d_run[C_RANK], H5T_NATIVE_INT32, rows, m, i32, 0, "rank"));
  ISW_CALL(write_col(s, gr, gr->d_run[C_START], H5T_NATIVE_DOUBLE, rows, m, f64, 0, "start_time"));
  ISW_CALL(write_col(s, gr, gr->d_run[C_HOST], s->t_host, rows, m, str, 0, "host"));
  /* the results */
  m = last_of_kind(pick, rows, e, keys, n, ISW_STORE_FINISHED);
  if (m == 0) goto cleanup;
  for (int i = 0; i < m; ++i) f64[i] = e[pick[i]].result->rho;
  ISW_CALL(write_col(s, gr, gr->d_run[C_RHO], H5T_NATIVE_DOUBLE, rows, m, f64, 0, "rho"));
  for (int i = 0; i < m; ++i) i64[i] = e[pick[i]].result->n_params;
  ISW_CALL(write_col(s, gr, gr->d_run[C_NPARAMS], H5T_NATIVE_INT64, rows, m, i64, 0, "n_params"));
  for (int i = 0; i < m; ++i) f64[i] = e[pick[i]].result->train_seconds;
  ISW_CALL(write_col(s, gr, gr->d_run[C_TRAIN_S], H5T_NATIVE_DOUBLE, rows, m, f64, 0, "train_seconds"));
  for (int i = 0; i < m; ++i) f64[i] = e[pick[i]].result->eval_seconds;
  ISW_CALL(write_col(s, gr, gr->d_run[C_EVAL_S], H5T_NATIVE_DOUBLE, rows, m, f64, 0, "eval_seconds"));
  for (int i = 0; i < m; ++i)
    copy_padded(str + (size_t)i * ISW_MESSAGE_LEN, ISW_MESSAGE_LEN, e[pick[i]].result->message);
  ISW_CALL(write_col(s, gr, gr->d_run[C_MESSAGE], s->t_message, rows, m, str, 0, "message"));
  for (int k = 0; k < t->n_scalars; ++k) {
    for (int i = 0; i < m; ++i) f64[i] = e[pick[i]].result->scalars[k];
    ISW_CALL(write_col(s, gr, gr->d_scalars[k], H5T_NATIVE_DOUBLE, rows, m, f64, 0, t->scalars[k].name));
  }
  for (int k = 0; k < t->n_curves; ++k) {
    for (int i = 0; i < m; ++i)
      memcpy(f64 + (size_t)i * (size_t)T, e[pick[i]].result->curves + (size_t)k * (size_t)T, (size_t)T * sizeof *f64);
    ISW_CALL(write_col(s, gr, gr->d_curves[k], H5T_NATIVE_DOUBLE, rows, m, f64, 1, t->curves[k].name));
  }
cleanup:
  free(rows);
  free(i32);
  free(i64);
  free(f64);
  free(str);
  free(pick);
  return err;
}

/* The status an entry leaves its row in. */
static isw_status entry_status(const isw_store_entry *x) {
  if (x->kind == ISW_STORE_BEGIN) return ISW_ST_RUNNING;
  if (x->kind == ISW_STORE_FINISHED) return x->result->status;
  return x->status;
}

int isw_store_write_batch(isw_store *s, const isw_store_entry *e, int n) {
  int err = 0;
  batch_key *keys = NULL; /* (n) sorted by group, file row, then batch order */
  hsize_t *rows = NULL;   /* (n) */
  int8_t *st = NULL;      /* (n) */
  int *pick = NULL;       /* (n) */
  ISW_CHECK(s != NULL && (e != NULL || n == 0) && n >= 0, ISW_EINTERNAL, "isw_store_write_batch: bad arguments");
  ISW_CHECK(s->file >= 0, ISW_EINTERNAL, "%s: rows are written by rank 0 alone (this is rank %d)", s->path,
            s->rank);
  if (n == 0) goto cleanup;
  /* check everything before writing anything */
  for (int i = 0; i < n; ++i) {
    const isw_store_entry *x = &e[i];
    ISW_CALL(check_row(s, x->g, x->row));
    const char *task = s->groups[x->g].task->name;
    ISW_CHECK(x->kind == ISW_STORE_BEGIN || x->kind == ISW_STORE_FINISHED || x->kind == ISW_STORE_STATUS,
              ISW_EINTERNAL, "%s: /%s row %d: invalid entry kind %d", s->path, task, x->row, (int)x->kind);
    if (x->kind == ISW_STORE_FINISHED) {
      const isw_result *r = x->result;
      const isw_task *t = s->groups[x->g].task;
      ISW_CHECK(r != NULL, ISW_EINTERNAL, "%s: /%s row %d: no result", s->path, task, x->row);
      ISW_CHECK(t->n_scalars == 0 || r->scalars, ISW_EINTERNAL, "%s: row %d has no scalars", task, x->row);
      ISW_CHECK(t->n_curves == 0 || r->curves, ISW_EINTERNAL, "%s: row %d has no curves", task, x->row);
    }
    isw_status v = entry_status(x);
    ISW_CHECK(v >= ISW_ST_PENDING && v <= ISW_ST_FAILED, ISW_EINTERNAL, "%s: /%s row %d: invalid status %d",
              s->path, task, x->row, (int)v);
  }
  ISW_ALLOC(keys, n);
  ISW_ALLOC(rows, n);
  ISW_ALLOC(st, n);
  ISW_ALLOC(pick, n);
  for (int i = 0; i < n; ++i) keys[i] = (batch_key){e[i].g, (hsize_t)s->groups[e[i].g].map[e[i].row], i};
  qsort(keys, (size_t)n, sizeof *keys, batch_key_cmp);
  const int m = n;
  /* data first, pushed to disk; then the statuses that declare them valid */
  for (int lo = 0; lo < m;) {
    int hi = lo;
    while (hi < m && keys[hi].g == keys[lo].g) ++hi;
    ISW_CALL(write_group_data(s, &s->groups[keys[lo].g], e, keys + lo, hi - lo));
    lo = hi;
  }
  ISW_CALL(flush_file(s, 1));
  batch_fault_hook(s);
  for (int lo = 0; lo < m;) {
    int hi = lo;
    while (hi < m && keys[hi].g == keys[lo].g) ++hi;
    store_group *gr = &s->groups[keys[lo].g];
    int k = last_of_kind(pick, rows, e, keys + lo, hi - lo, -1); /* a row's last entry sets its status */
    for (int i = 0; i < k; ++i) st[i] = (int8_t)entry_status(&e[pick[i]]);
    ISW_CALL(write_col(s, gr, gr->d_run[C_STATUS], s->t_status, rows, k, st, 0, "status"));
    lo = hi;
  }
  ISW_CALL(flush_file(s, 0));
  s->batches++;
cleanup:
  free(keys);
  free(rows);
  free(st);
  free(pick);
  return err;
}

int isw_store_read_status(isw_store *s, int g, uint8_t *status) {
  int err = 0;
  uint8_t *by_row = NULL; /* (C) in file row order */
  ISW_CALL(check_row(s, g, 0));
  ISW_CHECK(s->file >= 0, ISW_EINTERNAL, "%s: statuses are read by rank 0 alone (this is rank %d)", s->path,
            s->rank);
  store_group *gr = &s->groups[g];
  ISW_ALLOC(by_row, gr->n_configs);
  H5_TRY(H5Sselect_all(gr->fspace_rows), "cannot select every row");
  /* the enum's base type is int8: its values 0..4 read bit-identically into uint8 */
  H5_TRY(H5Dread(gr->d_run[C_STATUS], s->t_status, gr->fspace_rows, gr->fspace_rows, s->dxpl_ind,
                 by_row),
         "%s: cannot read /%s/status", s->path, gr->task->name);
  for (int i = 0; i < gr->n_configs; ++i) status[i] = by_row[gr->map[i]];
cleanup:
  free(by_row);
  return err;
}

int isw_store_begin_row(isw_store *s, int g, int row, int rank, const char *host,
                        double start_time) {
  isw_store_entry x = {.kind = ISW_STORE_BEGIN, .g = g, .row = row, .rank = rank, .host = host,
                       .start_time = start_time};
  return isw_store_write_batch(s, &x, 1);
}

int isw_store_write_row(isw_store *s, int g, int row, const isw_result *r) {
  int err = 0;
  ISW_CHECK(r != NULL, ISW_EINTERNAL, "isw_store_write_row: NULL result");
  isw_store_entry x = {.kind = ISW_STORE_FINISHED, .g = g, .row = row, .result = r};
  ISW_CALL(isw_store_write_batch(s, &x, 1));
cleanup:
  return err;
}

int isw_store_set_status(isw_store *s, int g, int row, isw_status st) {
  isw_store_entry x = {.kind = ISW_STORE_STATUS, .g = g, .row = row, .status = st};
  return isw_store_write_batch(s, &x, 1);
}

/* ---- close -------------------------------------------------------------- */

int isw_store_close_alone(isw_store **sp) {
  int err = 0;
  if (!sp || !*sp) return 0;
  isw_store *s = *sp;
  *sp = NULL;
  char now[TIME_LEN] = "";
  iso_utc_now(now);
  errno = 0;
  if (s->file >= 0) err = attr_set_str(s->file, s->path, "end_time", now);
  int closed = close_file(s, err != 0);
  s->comm = MPI_COMM_NULL; /* its other ranks cannot free it with us: left to the end of the process */
  store_free(s, 1);
  return err ? err : closed;
}

int isw_store_close(isw_store **sp) {
  int err = 0;
  if (!sp || !*sp) return 0;
  isw_store *s = *sp;
  *sp = NULL;
  char now[TIME_LEN] = "";
  if (s->rank == 0) iso_utc_now(now);
  int rc = MPI_Bcast(now, TIME_LEN, MPI_CHAR, 0, s->comm);
  if (rc != MPI_SUCCESS) err = mpi_fail(rc, __FILE__, __LINE__, __func__, "broadcasting end_time");
  errno = 0;
  if (!err && s->file >= 0) err = attr_set_str(s->file, s->path, "end_time", now); /* rank 0 */
  int closed = close_file(s, err != 0); /* the first cause stays the message */
  /* every rank returns once rank 0 has closed the file, with its verdict */
  if (!err) closed = agree_root(s->comm, s->rank, closed);
  store_free(s, 1);
  return err ? err : closed;
}
