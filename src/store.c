/* store.c — the only file that talks HDF5: it creates the shared results
 * file (layout in store.h), reopens it for a resume, writes rows and
 * statuses, and closes it.
 *
 * Parallel discipline (the HDF Group's rule: collective structure first, then
 * independent I/O): create/open/close are collective over the communicator;
 * they create or open every object, write every attribute and the grid
 * columns, and flush once.  Between open and close the only HDF5 calls are
 * independent raw-data reads and writes of already allocated, contiguous
 * datasets through handles kept open here, so no metadata changes after the
 * flush and a file killed mid-run opens with every row written so far.
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
 * innermost reason appended.  This file must not decide about exit or abort,
 * run tasks, or talk MPI beyond agreeing on errors and broadcasting the
 * attribute values rank 0 chose. */
#include "isweep/store.h"

#include <cblas.h>
#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isweep/error.h"

extern const char isw_version_string[];
extern const char isw_git_commit[];

#define ENUM_LEN ISW_ENUM_LEN     /* ENUM parameter columns, bytes */
#define STRING_LEN ISW_STRING_LEN /* STRING parameter columns, bytes */
#define TIME_LEN 32    /* start_time / end_time attributes, bytes */
#define MSG_MAX 1024   /* an error message crossing ranks */

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
  hid_t file;
  hid_t dxpl_ind;   /* independent transfer: row I/O */
  hid_t dxpl_coll;  /* collective transfer: grid columns at creation */
  hid_t t_status;   /* enum int8 {pending, running, ok, diverged, failed}, file and memory */
  hid_t t_message;  /* fixed string ISW_MESSAGE_LEN, NUL-terminated, NUL-padded */
  hid_t t_host;     /* fixed string ISW_HOST_LEN, NUL-terminated, NUL-padded */
  hid_t mspace_one; /* (1) one cell in memory */
  store_group *groups;
  int n_groups;
};

/* ---- HDF5 error translation --------------------------------------------- */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
  char *buf = data;
  if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
  return 0;
}

/* Raise ISW_EIO with the formatted message plus HDF5's innermost reason, and
 * clear HDF5's error stack. */
static int h5_fail(const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int h5_fail(const char *file, int line, const char *func, const char *fmt, ...) {
  char what[700], why[256] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, why);
  H5Eclear2(H5E_DEFAULT);
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

/* Every rank returns rank 0's verdict `err` (meaningful on rank 0 only),
 * with rank 0's message.  Collective. */
static int agree_root(MPI_Comm comm, int rank, int err) {
  char msg[MSG_MAX] = "";
  MPI_Bcast(&err, 1, MPI_INT, 0, comm);
  if (!err) return 0;
  if (rank == 0) snprintf(msg, sizeof msg, "%s", isw_error_message());
  MPI_Bcast(msg, MSG_MAX, MPI_CHAR, 0, comm);
  if (rank != 0) isw_error_raise(err, __FILE__, __LINE__, __func__, "%s", msg);
  return err;
}

/* Every rank returns the error of the lowest failing rank, with its message
 * (a failing rank keeps its own message and traceback).  Collective. */
static int agree_all(MPI_Comm comm, int rank, int size, int err) {
  int who = err ? rank : size, first = size;
  MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return 0;
  char msg[MSG_MAX] = "";
  int code = err;
  if (rank == first) snprintf(msg, sizeof msg, "%s", isw_error_message());
  MPI_Bcast(&code, 1, MPI_INT, first, comm);
  MPI_Bcast(msg, MSG_MAX, MPI_CHAR, first, comm);
  if (!err) isw_error_raise(code, __FILE__, __LINE__, __func__, "%s (on rank %d)", msg, first);
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

/* *out <- a heap copy of rank 0's `in` on every rank.  Collective. */
static int bcast_str(char **out, const char *in, MPI_Comm comm, int rank) {
  int err = 0;
  unsigned long long n = rank == 0 ? strlen(in ? in : "") : 0;
  *out = NULL;
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  ISW_ALLOC(*out, n + 1);
  if (rank == 0) memcpy(*out, in ? in : "", n);
  if (n) MPI_Bcast(*out, (int)n, MPI_CHAR, 0, comm);
cleanup:
  return err;
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

/* Create dataset `name` in group `gr` over `space`: contiguous, allocated at
 * creation, filled with `fill`; with a "description" attribute, dim 0
 * attached to `scale0` and dim 1 to `scale1` when those are valid.
 * Collective. */
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
  H5_TRY(H5Pset_layout(dcpl, H5D_CONTIGUOUS), "cannot set the contiguous layout");
  H5_TRY(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "cannot set early allocation");
  H5_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC), "cannot set the fill time");
  H5_TRY(H5Pset_fill_value(dcpl, ftype, fill), "cannot set the fill value of %s", name);
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

/* Write a whole dataset at creation: rank 0 writes everything, the others
 * take part with empty selections.  Collective. */
static int dset_write_all(const isw_store *s, const store_group *gr, hid_t d, hid_t mtype,
                          const void *buf, const char *name) {
  int err = 0;
  hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
  H5_TRY(fs = H5Dget_space(d), "%s: cannot get the dataspace of /%s/%s", s->path,
         gr->task->name, name);
  H5_TRY(ms = H5Scopy(fs), "cannot copy a dataspace");
  if (s->rank != 0) {
    H5_TRY(H5Sselect_none(fs), "cannot select nothing");
    H5_TRY(H5Sselect_none(ms), "cannot select nothing");
  }
  H5_TRY(H5Dwrite(d, mtype, ms, fs, s->dxpl_coll, buf), "%s: cannot write /%s/%s", s->path,
         gr->task->name, name);
cleanup:
  h5_close_id(&ms);
  h5_close_id(&fs);
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

/* ---- store lifetime ----------------------------------------------------- */

static void group_close(store_group *gr) {
  for (int k = 0; k < N_RUN; ++k) h5_close_id(&gr->d_run[k]);
  if (gr->d_scalars)
    for (int k = 0; k < gr->task->n_scalars; ++k) h5_close_id(&gr->d_scalars[k]);
  if (gr->d_curves)
    for (int k = 0; k < gr->task->n_curves; ++k) h5_close_id(&gr->d_curves[k]);
  free(gr->d_scalars);
  free(gr->d_curves);
  gr->d_scalars = gr->d_curves = NULL;
  h5_close_id(&gr->mspace_curve);
  h5_close_id(&gr->fspace_curves);
  h5_close_id(&gr->fspace_rows);
  h5_close_id(&gr->group);
}

/* Close every handle and the file (collective when the file is open), free. */
static int store_free(isw_store *s) {
  int err = 0;
  if (!s) return 0;
  for (int g = 0; g < s->n_groups; ++g) group_close(&s->groups[g]);
  free(s->groups);
  h5_close_id(&s->mspace_one);
  h5_close_id(&s->t_host);
  h5_close_id(&s->t_message);
  h5_close_id(&s->t_status);
  h5_close_id(&s->dxpl_coll);
  h5_close_id(&s->dxpl_ind);
  if (s->file >= 0 && H5Fclose(s->file) < 0)
    err = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot close the file", s->path);
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
  s->file = s->dxpl_ind = s->dxpl_coll = H5I_INVALID_HID;
  s->t_status = s->t_message = s->t_host = s->mspace_one = H5I_INVALID_HID;
  ISW_ALLOC(s->path, strlen(path) + 1);
  memcpy(s->path, path, strlen(path) + 1);
  ISW_CHECK(MPI_Comm_dup(comm, &s->comm) == MPI_SUCCESS, ISW_EMPI, "cannot duplicate the communicator");
  MPI_Comm_rank(s->comm, &s->rank);
  MPI_Comm_size(s->comm, &s->size);
  ISW_ALLOC(s->groups, spec->n_groups);
  s->n_groups = spec->n_groups;
  for (int g = 0; g < s->n_groups; ++g) {
    store_group *gr = &s->groups[g];
    gr->task = spec->groups[g].task;
    gr->n_configs = spec->groups[g].n_configs;
    gr->n_test = spec->groups[g].n_test;
    gr->group = gr->fspace_rows = gr->fspace_curves = gr->mspace_curve = H5I_INVALID_HID;
    for (int k = 0; k < N_RUN; ++k) gr->d_run[k] = H5I_INVALID_HID;
    ISW_ALLOC(gr->d_scalars, gr->task->n_scalars);
    ISW_ALLOC(gr->d_curves, gr->task->n_curves);
    for (int k = 0; k < gr->task->n_scalars; ++k) gr->d_scalars[k] = H5I_INVALID_HID;
    for (int k = 0; k < gr->task->n_curves; ++k) gr->d_curves[k] = H5I_INVALID_HID;
  }
  H5_TRY(s->dxpl_ind = H5Pcreate(H5P_DATASET_XFER), "cannot create a transfer property list");
  H5_TRY(H5Pset_dxpl_mpio(s->dxpl_ind, H5FD_MPIO_INDEPENDENT), "cannot set independent transfer");
  H5_TRY(s->dxpl_coll = H5Pcreate(H5P_DATASET_XFER), "cannot create a transfer property list");
  H5_TRY(H5Pset_dxpl_mpio(s->dxpl_coll, H5FD_MPIO_COLLECTIVE), "cannot set collective transfer");
  ISW_CALL(make_status_type(&s->t_status));
  ISW_CALL(make_str_type(&s->t_message, ISW_MESSAGE_LEN, H5T_STR_NULLTERM));
  ISW_CALL(make_str_type(&s->t_host, ISW_HOST_LEN, H5T_STR_NULLTERM));
  hsize_t one = 1;
  H5_TRY(s->mspace_one = H5Screate_simple(1, &one, NULL), "cannot create a dataspace");
  *out = s;
  s = NULL;
cleanup:
  if (s) store_free(s);
  return err;
}

static int make_spaces(store_group *gr) {
  int err = 0;
  hsize_t rows = (hsize_t)gr->n_configs, cur[2] = {(hsize_t)gr->n_configs, (hsize_t)gr->n_test};
  hsize_t t = (hsize_t)gr->n_test;
  H5_TRY(gr->fspace_rows = H5Screate_simple(1, &rows, NULL), "cannot create a dataspace");
  H5_TRY(gr->fspace_curves = H5Screate_simple(2, cur, NULL), "cannot create a dataspace");
  H5_TRY(gr->mspace_curve = H5Screate_simple(1, &t, NULL), "cannot create a dataspace");
cleanup:
  return err;
}

static int file_access_plist(hid_t *fapl, MPI_Comm comm) {
  int err = 0;
  H5_TRY(*fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  H5_TRY(H5Pset_fapl_mpio(*fapl, comm, MPI_INFO_NULL), "cannot select the MPI-IO driver");
  H5_TRY(H5Pset_libver_bounds(*fapl, H5F_LIBVER_V18, H5F_LIBVER_V18),
         "cannot set the file format bounds");
cleanup:
  return err;
}

/* ---- create ------------------------------------------------------------- */

/* Rank 0: may `path` be created?  ISW_EUSAGE with a one-line reason if not. */
static int check_create_path(const char *path, int overwrite) {
  int err = 0;
  char *dir = NULL;
  struct stat st;
  ISW_CHECK(path[0] != '\0', ISW_EUSAGE, "empty output path (give a file name for the results)");
  if (stat(path, &st) == 0) {
    ISW_CHECK(!S_ISDIR(st.st_mode), ISW_EUSAGE,
              "%s: is a directory (give a file name for the results)", path);
    ISW_CHECK(overwrite, ISW_EUSAGE,
              "%s: output file exists (use --resume to continue it or --force to overwrite)", path);
    ISW_CHECK(access(path, W_OK) == 0, ISW_EUSAGE,
              "%s: output file is not writable (%s; fix its permissions or choose another output path)",
              path, strerror(errno));
    return 0;
  }
  ISW_CHECK(errno == ENOENT, ISW_EUSAGE, "%s: cannot use this output path (%s)", path, strerror(errno));
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 1;
  ISW_ALLOC(dir, n + 1);
  if (!slash) dir[0] = '.';
  else if (n == 0) dir[0] = '/';
  else memcpy(dir, path, n);
  ISW_CHECK(stat(dir, &st) == 0, ISW_EUSAGE,
            "%s: directory %s does not exist (create it or choose another output path)", path, dir);
  ISW_CHECK(S_ISDIR(st.st_mode), ISW_EUSAGE, "%s: %s is not a directory", path, dir);
  ISW_CHECK(access(dir, W_OK | X_OK) == 0, ISW_EUSAGE,
            "%s: directory %s is not writable (choose another output path)", path, dir);
cleanup:
  free(dir);
  return err;
}

/* Root attributes: provenance.  Values that could differ between ranks are
 * rank 0's.  Collective. */
/* The resolved ΔN list as the root's int64 (K) attribute "delta_n" (every
 * rank holds the same spec).  Collective. */
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

static int write_root_attrs(isw_store *s, const isw_spec *spec, const isw_store_meta *meta) {
  int err = 0;
  char *cmd = NULL, *mpiv = NULL, *blas = NULL, *start = NULL;
  char *spec_path = NULL, *spec_text = NULL, *canonical = NULL;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "", now[TIME_LEN] = "", h5v[64];
  unsigned maj = 0, min = 0, rel = 0;
  int len = 0, schema = ISW_SCHEMA_VERSION, runs = 1;
  int mpi_size = meta && meta->mpi_size > 0 ? meta->mpi_size : s->size;
  uint64_t seed = spec->sweep_seed;
  if (s->rank == 0) {
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, "\n")] = '\0';
    iso_utc_now(now);
  }
  H5get_libversion(&maj, &min, &rel);
  snprintf(h5v, sizeof h5v, "%u.%u.%u", maj, min, rel);
  ISW_CALL(bcast_str(&cmd, meta && meta->command_line ? meta->command_line : "", s->comm, s->rank));
  ISW_CALL(bcast_str(&mpiv, lib, s->comm, s->rank));
  ISW_CALL(bcast_str(&blas, s->rank == 0 ? openblas_get_config() : "", s->comm, s->rank));
  ISW_CALL(bcast_str(&start, now, s->comm, s->rank));
  ISW_CALL(bcast_str(&spec_path, spec->path, s->comm, s->rank));
  ISW_CALL(bcast_str(&spec_text, spec->text, s->comm, s->rank));
  ISW_CALL(bcast_str(&canonical, spec->canonical, s->comm, s->rank));
  MPI_Bcast(&mpi_size, 1, MPI_INT, 0, s->comm);
  MPI_Bcast(&seed, 1, MPI_UINT64_T, 0, s->comm);

  hid_t f = s->file;
  const char *p = s->path;
  ISW_CALL(attr_num(f, p, "schema_version", H5T_STD_I32LE, H5T_NATIVE_INT, &schema));
  ISW_CALL(attr_str(f, p, "isweep_version", isw_version_string, 0));
  ISW_CALL(attr_str(f, p, "git_commit", isw_git_commit, 0));
  ISW_CALL(attr_str(f, p, "spec_path", spec_path, 0));
  ISW_CALL(attr_str(f, p, "spec_text", spec_text, 0));
  ISW_CALL(attr_str(f, p, "spec_canonical", canonical, 0));
  ISW_CALL(attr_num(f, p, "sweep_seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed));
  ISW_CALL(attr_str(f, p, "command_line", cmd, 0));
  ISW_CALL(attr_num(f, p, "mpi_size", H5T_STD_I32LE, H5T_NATIVE_INT, &mpi_size));
  ISW_CALL(attr_str(f, p, "hdf5_version", h5v, 0));
  ISW_CALL(attr_str(f, p, "mpi_version", mpiv, 0));
  ISW_CALL(attr_str(f, p, "blas_info", blas, 0));
  ISW_CALL(attr_str(f, p, "start_time", start, TIME_LEN));
  ISW_CALL(attr_str(f, p, "end_time", "", TIME_LEN));
  ISW_CALL(attr_num(f, p, "runs", H5T_STD_I32LE, H5T_NATIVE_INT, &runs));
  ISW_CALL(attr_delta_n(f, p, spec));
cleanup:
  free(cmd);
  free(mpiv);
  free(blas);
  free(start);
  free(spec_path);
  free(spec_text);
  free(canonical);
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
  ISW_CALL(make_spaces(gr));

  /* the dimension scales */
  hsize_t tn = (hsize_t)T;
  H5_TRY(sp_iters = H5Screate_simple(1, &tn, NULL), "cannot create a dataspace");
  ISW_CALL(dset_create(&d_iters, s, gr, "test_iters", H5T_STD_I64LE, sp_iters, kind_fill(K_I64),
                       isw_schema_help_test_iters, H5I_INVALID_HID, H5I_INVALID_HID));
  ISW_CALL(col_attrs(d_iters, path, ISW_ROLE_DIMENSION, NULL));
  ISW_CALL(dset_write_all(s, gr, d_iters, H5T_NATIVE_INT64, sg->test_iters, "test_iters"));
  H5_TRY(H5DSset_scale(d_iters, "test_iters"), "%s: cannot make /%s/test_iters a dimension scale",
         path, t->name);
  for (int i = 0; i < C; ++i) u64[i] = sg->configs[i].id;
  ISW_CALL(dset_create(&d_ids, s, gr, "config_id", H5T_STD_U64LE, gr->fspace_rows, kind_fill(K_U64),
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
    ISW_CALL(dset_create(&d, s, gr, axis_name[a], H5T_STD_I64LE, gr->fspace_rows, kind_fill(K_I64),
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
                           gr->fspace_rows, kind_fill(is_int ? K_I64 : K_F64), pd->help, d_ids,
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
      ISW_CALL(dset_create(&d, s, gr, pd->name, t_str, gr->fspace_rows, kind_fill(K_STR), pd->help,
                           d_ids, H5I_INVALID_HID));
      ISW_CALL(dset_write_all(s, gr, d, t_str, str, pd->name));
      ISW_CALL(col_attrs(d, path, ISW_ROLE_PARAMETER, NULL));
      ISW_CALL(attr_num(d, path, "shapes_data", H5T_STD_I32LE, H5T_NATIVE_INT, &shapes));
      h5_close_id(&t_str);
    }
    h5_close_id(&d);
  }

  /* run columns, scalars and curves: fill values now, rows later */
  for (int k = 0; k < N_RUN; ++k) {
    const isw_run_col *cd = &run_cols[k];
    hid_t ft = cd->kind == K_STR ? (k == C_HOST ? s->t_host : s->t_message) : kind_ftype(s, cd->kind);
    ISW_CALL(dset_create(&gr->d_run[k], s, gr, cd->name, ft, gr->fspace_rows, kind_fill(cd->kind),
                         cd->help, d_ids, H5I_INVALID_HID));
    ISW_CALL(col_attrs(gr->d_run[k], path, cd->role, cd->unit));
  }
  for (int k = 0; k < t->n_scalars; ++k) {
    ISW_CALL(dset_create(&gr->d_scalars[k], s, gr, t->scalars[k].name, H5T_IEEE_F64LE,
                         gr->fspace_rows, kind_fill(K_F64), t->scalars[k].help, d_ids,
                         H5I_INVALID_HID));
    ISW_CALL(task_col_attrs(gr->d_scalars[k], path, &t->scalars[k]));
  }
  for (int k = 0; k < t->n_curves; ++k) {
    ISW_CALL(dset_create(&gr->d_curves[k], s, gr, t->curves[k].name, H5T_IEEE_F64LE,
                         gr->fspace_curves, kind_fill(K_F64), t->curves[k].help, d_ids, d_iters));
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

int isw_store_create(isw_store **out, const char *path, int overwrite, const isw_spec *spec,
                     const isw_store_meta *meta, MPI_Comm comm) {
  int err = 0, created = 0;
  isw_store *s = NULL;
  hid_t fapl = H5I_INVALID_HID;
  ISW_CHECK(out && path && spec, ISW_EINTERNAL, "isw_store_create: NULL argument");
  *out = NULL;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ISW_CALL(store_alloc(&s, path, spec, comm));
  ISW_CALL(agree_root(s->comm, s->rank, s->rank == 0 ? check_create_path(path, overwrite) : 0));

  int local = 0;
  if ((local = file_access_plist(&fapl, s->comm)) == 0) {
    s->file = H5Fcreate(path, overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    if (s->file < 0)
      local = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot create the results file", path);
  }
  ISW_CALL(agree_all(s->comm, s->rank, s->size, local));
  created = 1;

  local = write_root_attrs(s, spec, meta);
  for (int g = 0; g < spec->n_groups && !local; ++g) local = layout_group(s, g, &spec->groups[g]);
  if (!local && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    local = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot flush the new file", path);
  ISW_CALL(agree_all(s->comm, s->rank, s->size, local));
  *out = s;
  s = NULL;
cleanup:
  h5_close_id(&fapl);
  if (s) {
    store_free(s); /* collective: every rank failed together */
    if (created) {
      int rank = 0;
      MPI_Comm_rank(comm, &rank);
      if (rank == 0) unlink(path); /* a half-made file would block the next run */
    }
  }
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

/* Rank 0: group g of the file matches the spec (every column, shapes, config ids). */
static int check_group(hid_t f, const char *path, const isw_spec_group *sg) {
  int err = 0;
  const isw_task *t = sg->task;
  hid_t grp = H5I_INVALID_HID, d = H5I_INVALID_HID;
  uint64_t *ids = NULL; /* (C) */
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
  for (hsize_t i = 0; i < C; ++i)
    ISW_CHECK(ids[i] == sg->configs[i].id, ISW_EUSAGE,
              "%s: /%s/config_id row %llu is %llu, the spec gives %llu (config ids changed: "
              "resume with the isweep that made the file, or use --force to start over)",
              path, t->name, (unsigned long long)i, (unsigned long long)ids[i],
              (unsigned long long)sg->configs[i].id);
cleanup:
  free(ids);
  h5_close_id(&d);
  h5_close_id(&grp);
  return err;
}

/* Rank 0, read-only, before anything is written: is `path` an isweep file
 * of this schema, made from this spec? */
static int check_resume(const char *path, const isw_spec *spec) {
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
  for (int g = 0; g < spec->n_groups; ++g) ISW_CALL(check_group(f, path, &spec->groups[g]));
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
  H5_TRY(gr->group = H5Gopen2(s->file, t->name, H5P_DEFAULT), "%s: cannot open group /%s", path,
         t->name);
  ISW_CALL(make_spaces(gr));
  for (int k = 0; k < N_RUN; ++k)
    H5_TRY(gr->d_run[k] = H5Dopen2(gr->group, run_cols[k].name, H5P_DEFAULT),
           "%s: cannot open /%s/%s", path, t->name, run_cols[k].name);
  for (int k = 0; k < t->n_scalars; ++k)
    H5_TRY(gr->d_scalars[k] = H5Dopen2(gr->group, t->scalars[k].name, H5P_DEFAULT),
           "%s: cannot open /%s/%s", path, t->name, t->scalars[k].name);
  for (int k = 0; k < t->n_curves; ++k)
    H5_TRY(gr->d_curves[k] = H5Dopen2(gr->group, t->curves[k].name, H5P_DEFAULT),
           "%s: cannot open /%s/%s", path, t->name, t->curves[k].name);
cleanup:
  return err;
}

/* Bump runs, record this run's mpi_size, clear end_time.  Collective. */
static int mark_resumed(isw_store *s, const isw_store_meta *meta) {
  int err = 0, runs = 0;
  int mpi_size = meta && meta->mpi_size > 0 ? meta->mpi_size : s->size;
  ISW_CALL(attr_get_int(&runs, s->file, s->path, "runs"));
  MPI_Bcast(&runs, 1, MPI_INT, 0, s->comm);
  MPI_Bcast(&mpi_size, 1, MPI_INT, 0, s->comm);
  ISW_CALL(attr_set_int(s->file, s->path, "runs", runs + 1));
  ISW_CALL(attr_set_int(s->file, s->path, "mpi_size", mpi_size));
  ISW_CALL(attr_set_str(s->file, s->path, "end_time", ""));
cleanup:
  return err;
}

int isw_store_open(isw_store **out, const char *path, const isw_spec *spec,
                   const isw_store_meta *meta, MPI_Comm comm) {
  int err = 0;
  isw_store *s = NULL;
  hid_t fapl = H5I_INVALID_HID;
  ISW_CHECK(out && path && spec, ISW_EINTERNAL, "isw_store_open: NULL argument");
  *out = NULL;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ISW_CALL(store_alloc(&s, path, spec, comm));
  ISW_CALL(agree_root(s->comm, s->rank, s->rank == 0 ? check_resume(path, spec) : 0));

  int local = 0;
  if ((local = file_access_plist(&fapl, s->comm)) == 0) {
    s->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    if (s->file < 0)
      local = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot open the results file for writing", path);
  }
  ISW_CALL(agree_all(s->comm, s->rank, s->size, local));
  for (int g = 0; g < s->n_groups && !local; ++g) local = open_group(s, g);
  if (!local) local = mark_resumed(s, meta);
  if (!local && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    local = h5_fail(__FILE__, __LINE__, __func__, "%s: cannot flush the file", path);
  ISW_CALL(agree_all(s->comm, s->rank, s->size, local));
  *out = s;
  s = NULL;
cleanup:
  h5_close_id(&fapl);
  if (s) store_free(s);
  return err;
}

/* ---- rows (independent) ------------------------------------------------- */

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

/* Write one cell of a 1-D column. */
static int write_cell(isw_store *s, store_group *gr, hid_t d, hid_t mtype, int row, const void *v,
                      const char *name) {
  int err = 0;
  hsize_t start = (hsize_t)row, one = 1;
  H5_TRY(H5Sselect_hyperslab(gr->fspace_rows, H5S_SELECT_SET, &start, NULL, &one, NULL),
         "cannot select row %d", row);
  H5_TRY(H5Dwrite(d, mtype, s->mspace_one, gr->fspace_rows, s->dxpl_ind, v),
         "%s: cannot write /%s/%s row %d", s->path, gr->task->name, name, row);
cleanup:
  return err;
}

static int write_status(isw_store *s, store_group *gr, int row, isw_status st) {
  int err = 0;
  ISW_CHECK(st >= ISW_ST_PENDING && st <= ISW_ST_FAILED, ISW_EINTERNAL,
            "%s: /%s row %d: invalid status %d", s->path, gr->task->name, row, (int)st);
  int8_t v = (int8_t)st;
  ISW_CALL(write_cell(s, gr, gr->d_run[C_STATUS], s->t_status, row, &v, "status"));
cleanup:
  return err;
}

int isw_store_read_status(isw_store *s, int g, uint8_t *status) {
  int err = 0;
  ISW_CALL(check_row(s, g, 0));
  store_group *gr = &s->groups[g];
  H5_TRY(H5Sselect_all(gr->fspace_rows), "cannot select every row");
  /* the enum's base type is int8: its values 0..4 read bit-identically into uint8 */
  H5_TRY(H5Dread(gr->d_run[C_STATUS], s->t_status, gr->fspace_rows, gr->fspace_rows, s->dxpl_ind,
                 status),
         "%s: cannot read /%s/status", s->path, gr->task->name);
cleanup:
  return err;
}

int isw_store_begin_row(isw_store *s, int g, int row, int rank, const char *host,
                        double start_time) {
  int err = 0;
  ISW_CALL(check_row(s, g, row));
  store_group *gr = &s->groups[g];
  char h[ISW_HOST_LEN];
  int32_t r = rank;
  copy_padded(h, sizeof h, host);
  ISW_CALL(write_cell(s, gr, gr->d_run[C_RANK], H5T_NATIVE_INT32, row, &r, "rank"));
  ISW_CALL(write_cell(s, gr, gr->d_run[C_HOST], s->t_host, row, h, "host"));
  ISW_CALL(write_cell(s, gr, gr->d_run[C_START], H5T_NATIVE_DOUBLE, row, &start_time, "start_time"));
  ISW_CALL(write_status(s, gr, row, ISW_ST_RUNNING));
cleanup:
  return err;
}

int isw_store_write_row(isw_store *s, int g, int row, const isw_result *r) {
  int err = 0;
  ISW_CALL(check_row(s, g, row));
  ISW_CHECK(r != NULL, ISW_EINTERNAL, "isw_store_write_row: NULL result");
  store_group *gr = &s->groups[g];
  const isw_task *t = gr->task;
  char msg[ISW_MESSAGE_LEN];
  int64_t np = r->n_params;
  copy_padded(msg, sizeof msg, r->message);
  ISW_CALL(write_cell(s, gr, gr->d_run[C_RHO], H5T_NATIVE_DOUBLE, row, &r->rho, "rho"));
  ISW_CALL(write_cell(s, gr, gr->d_run[C_NPARAMS], H5T_NATIVE_INT64, row, &np, "n_params"));
  ISW_CALL(write_cell(s, gr, gr->d_run[C_TRAIN_S], H5T_NATIVE_DOUBLE, row, &r->train_seconds,
                      "train_seconds"));
  ISW_CALL(write_cell(s, gr, gr->d_run[C_EVAL_S], H5T_NATIVE_DOUBLE, row, &r->eval_seconds,
                      "eval_seconds"));
  ISW_CALL(write_cell(s, gr, gr->d_run[C_MESSAGE], s->t_message, row, msg, "message"));
  ISW_CHECK(t->n_scalars == 0 || r->scalars, ISW_EINTERNAL, "%s: row %d has no scalars", t->name, row);
  ISW_CHECK(t->n_curves == 0 || r->curves, ISW_EINTERNAL, "%s: row %d has no curves", t->name, row);
  for (int k = 0; k < t->n_scalars; ++k)
    ISW_CALL(write_cell(s, gr, gr->d_scalars[k], H5T_NATIVE_DOUBLE, row, &r->scalars[k],
                        t->scalars[k].name));
  hsize_t start[2] = {(hsize_t)row, 0}, count[2] = {1, (hsize_t)gr->n_test};
  H5_TRY(H5Sselect_hyperslab(gr->fspace_curves, H5S_SELECT_SET, start, NULL, count, NULL),
         "cannot select curve row %d", row);
  for (int k = 0; k < t->n_curves; ++k)
    H5_TRY(H5Dwrite(gr->d_curves[k], H5T_NATIVE_DOUBLE, gr->mspace_curve, gr->fspace_curves,
                    s->dxpl_ind, r->curves + (size_t)k * (size_t)gr->n_test),
           "%s: cannot write /%s/%s row %d", s->path, t->name, t->curves[k].name, row);
  ISW_CALL(write_status(s, gr, row, r->status)); /* last: the row is complete */
cleanup:
  return err;
}

int isw_store_set_status(isw_store *s, int g, int row, isw_status st) {
  int err = 0;
  ISW_CALL(check_row(s, g, row));
  ISW_CALL(write_status(s, &s->groups[g], row, st));
cleanup:
  return err;
}

/* ---- close -------------------------------------------------------------- */

int isw_store_close(isw_store **sp) {
  int err = 0;
  if (!sp || !*sp) return 0;
  isw_store *s = *sp;
  *sp = NULL;
  char now[TIME_LEN] = "";
  if (s->rank == 0) iso_utc_now(now);
  MPI_Bcast(now, TIME_LEN, MPI_CHAR, 0, s->comm);
  int local = s->file >= 0 ? attr_set_str(s->file, s->path, "end_time", now) : 0;
  int closed = store_free(s);
  if (!local) local = closed;
  err = local;
  return err;
}
