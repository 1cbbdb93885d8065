/* results.c — read-only access to a results file (see results.h).  Serial
 * HDF5; used after the parallel file was closed, or on a file of a sweep
 * that is still running (rows are read as they stand).
 *
 * Every HDF5 failure is translated here into ISW_EUSAGE naming the file and
 * the object (a results file that cannot be read is the user's input being
 * wrong: exit status 2).  HDF5's automatic error printing is off.  This file
 * never writes and never decides about exit. */
#include "isweep/results.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "isweep/error.h"
#include "isweep/store.h"

struct isw_results {
  hid_t file;
  char path[4096];
};

const char *isw_results_path(const isw_results *r) { return r ? r->path : ""; }

int isw_results_open(isw_results **out, const char *path) {
  int err = 0;
  isw_results *r = NULL;
  hid_t attr = H5I_INVALID_HID, atype = H5I_INVALID_HID;
  struct stat st;
  *out = NULL;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ISW_CHECK(stat(path, &st) == 0, ISW_EUSAGE, "%s: cannot read the results file (%s)", path,
            strerror(errno));
  ISW_CHECK(S_ISREG(st.st_mode), ISW_EUSAGE, "%s: not a regular file (give an isweep results file)", path);
  ISW_ALLOC(r, 1);
  r->file = H5I_INVALID_HID;
  snprintf(r->path, sizeof r->path, "%s", path);
  ISW_CHECK(H5Fis_hdf5(path) > 0, ISW_EUSAGE, "%s: not a readable HDF5 file (give an isweep results file)", path);
  r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ISW_CHECK(r->file >= 0, ISW_EUSAGE, "%s: cannot open the HDF5 file (damaged or still being created?)", path);
  ISW_CHECK(H5Aexists(r->file, "schema_version") > 0, ISW_EUSAGE,
            "%s: not an isweep results file (no schema_version attribute)", path);
  int version = -1;
  attr = H5Aopen(r->file, "schema_version", H5P_DEFAULT);
  ISW_CHECK(attr >= 0 && (atype = H5Aget_type(attr)) >= 0 && H5Tget_class(atype) == H5T_INTEGER &&
                H5Aread(attr, H5T_NATIVE_INT, &version) >= 0,
            ISW_EUSAGE, "%s: unreadable schema_version attribute (not an isweep results file?)", path);
  ISW_CHECK(version == ISW_SCHEMA_VERSION, ISW_EUSAGE,
            "%s: results schema version %d, this isweep reads version %d (use the isweep that wrote it)",
            path, version, ISW_SCHEMA_VERSION);
  *out = r;
  r = NULL;
cleanup:
  if (atype >= 0) H5Tclose(atype);
  if (attr >= 0) H5Aclose(attr);
  H5Eclear2(H5E_DEFAULT);
  isw_results_close(&r);
  return err;
}

void isw_results_close(isw_results **r) {
  if (!r || !*r) return;
  if ((*r)->file >= 0) H5Fclose((*r)->file);
  free(*r);
  *r = NULL;
}

/* full <- "/GROUP/NAME" (or "/NAME" for the root). */
static void full_name(char *full, size_t len, const char *group, const char *name) {
  if (!group || !group[0] || !strcmp(group, "/")) snprintf(full, len, "/%s", name);
  else snprintf(full, len, "/%s/%s", group, name);
}

int isw_results_exists(isw_results *r, const char *group, const char *name) {
  char full[512];
  if (group && group[0] && strcmp(group, "/")) {
    char g[300];
    snprintf(g, sizeof g, "/%s", group);
    if (H5Lexists(r->file, g, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return 0;
    }
  }
  full_name(full, sizeof full, group, name);
  htri_t e = H5Lexists(r->file, full, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

/* Open dataset /group/name with n elements; ISW_EUSAGE when missing or of
 * another size. */
static int open_dset(hid_t *ds, isw_results *r, const char *group, const char *name, long n) {
  int err = 0;
  char full[512];
  hid_t sp = H5I_INVALID_HID;
  full_name(full, sizeof full, group, name);
  ISW_CHECK(isw_results_exists(r, group, name), ISW_EUSAGE,
            "%s: dataset %s is missing (damaged or foreign file)", r->path, full);
  *ds = H5Dopen2(r->file, full, H5P_DEFAULT);
  ISW_CHECK(*ds >= 0, ISW_EUSAGE, "%s: cannot open dataset %s (damaged file?)", r->path, full);
  sp = H5Dget_space(*ds);
  hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  ISW_CHECK(npts == n, ISW_EUSAGE, "%s: dataset %s has %lld elements, expected %ld (damaged file?)", r->path,
            full, (long long)npts, n);
cleanup:
  if (sp >= 0) H5Sclose(sp);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

static int read_any(isw_results *r, const char *group, const char *name, hid_t mtype, void *out, long n) {
  int err = 0;
  char full[512];
  hid_t ds = H5I_INVALID_HID;
  full_name(full, sizeof full, group, name);
  ISW_CALL(open_dset(&ds, r, group, name, n));
  ISW_CHECK(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0, ISW_EUSAGE,
            "%s: cannot read dataset %s (damaged file, or not of a numeric type)", r->path, full);
cleanup:
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

int isw_results_read_f64(isw_results *r, const char *group, const char *name, double *out, long n) {
  return read_any(r, group, name, H5T_NATIVE_DOUBLE, out, n);
}
int isw_results_read_i64(isw_results *r, const char *group, const char *name, int64_t *out, long n) {
  return read_any(r, group, name, H5T_NATIVE_INT64, out, n);
}
int isw_results_read_u64(isw_results *r, const char *group, const char *name, uint64_t *out, long n) {
  return read_any(r, group, name, H5T_NATIVE_UINT64, out, n);
}
int isw_results_read_u8(isw_results *r, const char *group, const char *name, uint8_t *out, long n) {
  return read_any(r, group, name, H5T_NATIVE_UINT8, out, n);
}

int isw_results_read_str(isw_results *r, const char *group, const char *name, char *out, size_t width,
                         long n) {
  int err = 0;
  char full[512];
  hid_t ds = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  full_name(full, sizeof full, group, name);
  ISW_CHECK(width >= 2, ISW_EINTERNAL, "isw_results_read_str: width %zu too small", width);
  ISW_CALL(open_dset(&ds, r, group, name, n));
  ft = H5Dget_type(ds);
  ISW_CHECK(ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) == 0, ISW_EUSAGE,
            "%s: dataset %s is not a fixed-length string (damaged or foreign file)", r->path, full);
  mt = H5Tcopy(H5T_C_S1);
  ISW_CHECK(mt >= 0 && H5Tset_size(mt, width) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLTERM) >= 0,
            ISW_EINTERNAL, "cannot make a %zu-byte string type", width);
  ISW_CHECK(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0, ISW_EUSAGE,
            "%s: cannot read dataset %s (damaged file?)", r->path, full);
  for (long i = 0; i < n; ++i) out[(size_t)i * width + width - 1] = '\0';
cleanup:
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

/* ---- rows of a dataset ---------------------------------------------------- */

/* Open "GROUP/NAME" and check that its shape is (C) (W == 1) or (C, W). */
static int open_rows(hid_t *ds, isw_results *r, const char *group, const char *name, long C, long W) {
  int err = 0;
  char full[512];
  hid_t sp = H5I_INVALID_HID;
  hsize_t dims[2] = {0, 0};
  full_name(full, sizeof full, group, name);
  ISW_CALL(open_dset(ds, r, group, name, C * W));
  sp = H5Dget_space(*ds);
  int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (nd >= 1 && nd <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
  ISW_CHECK((nd == 1 && W == 1 && (long)dims[0] == C) || (nd == 2 && (long)dims[0] == C && (long)dims[1] == W),
            ISW_EUSAGE, "%s: dataset %s is not of shape (%ld, %ld) (damaged file?)", r->path, full, C, W);
cleanup:
  if (sp >= 0) H5Sclose(sp);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

/* Rows start .. start + count - 1 of the open dataset ds ((C) or (C, W))
 * into out (count, W) of memory type mtype. */
static int read_range_open(isw_results *r, hid_t ds, const char *full, hid_t mtype, void *out, long W,
                           long start, long count) {
  int err = 0;
  hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
  hsize_t off[2] = {(hsize_t)start, 0}, cnt[2] = {(hsize_t)count, (hsize_t)W}, mdim = (hsize_t)(count * W);
  fs = H5Dget_space(ds);
  int nd = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
  ISW_CHECK(fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
                (ms = H5Screate_simple(1, &mdim, NULL)) >= 0 && nd >= 1,
            ISW_EUSAGE, "%s: cannot select rows %ld..%ld of %s (damaged file?)", r->path, start,
            start + count - 1, full);
  ISW_CHECK(H5Dread(ds, mtype, ms, fs, H5P_DEFAULT, out) >= 0, ISW_EUSAGE,
            "%s: cannot read rows %ld..%ld of %s (damaged file, or not of the type expected)", r->path, start,
            start + count - 1, full);
cleanup:
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

/* A fixed-length string memory type of `width` bytes for dataset ds. */
static int str_mtype(hid_t *mt, isw_results *r, hid_t ds, const char *full, size_t width) {
  int err = 0;
  hid_t ft = H5Dget_type(ds);
  ISW_CHECK(ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) == 0, ISW_EUSAGE,
            "%s: dataset %s is not a fixed-length string (damaged or foreign file)", r->path, full);
  *mt = H5Tcopy(H5T_C_S1);
  ISW_CHECK(*mt >= 0 && H5Tset_size(*mt, width) >= 0 && H5Tset_strpad(*mt, H5T_STR_NULLTERM) >= 0,
            ISW_EINTERNAL, "cannot make a %zu-byte string type", width);
cleanup:
  if (ft >= 0) H5Tclose(ft);
  return err;
}

/* Rows [start, start + count) (str: width > 0, values of width bytes) or
 * the ascending rows[0..k-1] (rows != NULL: only the blocks of
 * ISW_RESULTS_BLOCK rows holding one are read, through tmp). */
static int read_rows_any(isw_results *r, const char *group, const char *name, hid_t num_type, size_t esize,
                         size_t width, void *out, long C, long W, long start, long count, const long *rows,
                         long k) {
  int err = 0;
  char full[512];
  hid_t ds = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  unsigned char *tmp = NULL;
  size_t row_bytes = (width ? width : esize) * (size_t)W;
  full_name(full, sizeof full, group, name);
  ISW_CALL(open_rows(&ds, r, group, name, C, W));
  if (width) {
    ISW_CHECK(width >= 2, ISW_EINTERNAL, "read_rows_any: width %zu too small", width);
    ISW_CALL(str_mtype(&mt, r, ds, full, width));
  }
  hid_t mtype = width ? mt : num_type;
  if (!rows) {
    ISW_CHECK(start >= 0 && count >= 0 && start + count <= C, ISW_EINTERNAL, "rows %ld..%ld of %ld", start,
              start + count - 1, C);
    if (count) ISW_CALL(read_range_open(r, ds, full, mtype, out, W, start, count));
    count = count * W;
  } else {
    ISW_ALLOC(tmp, row_bytes * ISW_RESULTS_BLOCK);
    for (long i = 0; i < k;) {
      long b0 = rows[i] - rows[i] % ISW_RESULTS_BLOCK, n = C - b0 < ISW_RESULTS_BLOCK ? C - b0 : ISW_RESULTS_BLOCK;
      ISW_CHECK(rows[i] >= 0 && rows[i] < C && (i == 0 || rows[i] > rows[i - 1]), ISW_EINTERNAL,
                "rows not ascending in 0..%ld", C - 1);
      ISW_CALL(read_range_open(r, ds, full, mtype, tmp, W, b0, n));
      for (; i < k && rows[i] < b0 + n; ++i)
        memcpy((unsigned char *)out + (size_t)i * row_bytes, tmp + (size_t)(rows[i] - b0) * row_bytes, row_bytes);
    }
    count = k * W;
  }
  if (width)
    for (long i = 0; i < count; ++i) ((char *)out)[(size_t)i * width + width - 1] = '\0';
cleanup:
  free(tmp);
  if (mt >= 0) H5Tclose(mt);
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

int isw_results_range_f64(isw_results *r, const char *group, const char *name, double *out, long C, long W,
                          long start, long count) {
  return read_rows_any(r, group, name, H5T_NATIVE_DOUBLE, sizeof *out, 0, out, C, W, start, count, NULL, 0);
}
int isw_results_range_u8(isw_results *r, const char *group, const char *name, uint8_t *out, long C, long start,
                         long count) {
  return read_rows_any(r, group, name, H5T_NATIVE_UINT8, sizeof *out, 0, out, C, 1, start, count, NULL, 0);
}
int isw_results_range_str(isw_results *r, const char *group, const char *name, char *out, size_t width, long C,
                          long start, long count) {
  return read_rows_any(r, group, name, H5I_INVALID_HID, 0, width, out, C, 1, start, count, NULL, 0);
}
int isw_results_rows_f64(isw_results *r, const char *group, const char *name, double *out, long C, long W,
                         const long *rows, long k) {
  return read_rows_any(r, group, name, H5T_NATIVE_DOUBLE, sizeof *out, 0, out, C, W, 0, 0, rows, k);
}
int isw_results_rows_str(isw_results *r, const char *group, const char *name, char *out, size_t width, long C,
                         const long *rows, long k) {
  return read_rows_any(r, group, name, H5I_INVALID_HID, 0, width, out, C, 1, 0, 0, rows, k);
}

/* ---- listing ------------------------------------------------------------ */

typedef struct {
  char **names;
  int n, cap, oom;
  H5O_type_t want;
  hid_t loc;
} name_list;

static herr_t collect_cb(hid_t loc, const char *name, const H5L_info_t *info, void *data) {
  name_list *l = data;
  (void)info;
  H5O_info_t oi;
  if (H5Oget_info_by_name(loc, name, &oi, H5P_DEFAULT) < 0) return 0; /* dangling: skip */
  if (oi.type != l->want) return 0;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **p = realloc(l->names, (size_t)cap * sizeof *p);
    if (!p) {
      l->oom = 1;
      return 1;
    }
    l->names = p;
    l->cap = cap;
  }
  l->names[l->n] = strdup(name);
  if (!l->names[l->n]) {
    l->oom = 1;
    return 1;
  }
  l->n++;
  return 0;
}

/* Names of the objects of type `want` directly in `loc`, in name order. */
static int list_names(isw_results *r, hid_t loc, const char *where, H5O_type_t want, name_list *l) {
  int err = 0;
  hsize_t idx = 0;
  memset(l, 0, sizeof *l);
  l->want = want;
  l->loc = loc;
  herr_t e = H5Literate(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_cb, l);
  H5Eclear2(H5E_DEFAULT);
  ISW_CHECK(!l->oom, ISW_ENOMEM, "out of memory listing %s", where);
  ISW_CHECK(e >= 0, ISW_EUSAGE, "%s: cannot list the objects of %s (damaged file?)", r->path, where);
cleanup:
  return err;
}

void isw_results_free_names(char ***names, int n) {
  if (!names || !*names) return;
  for (int i = 0; i < n; ++i) free((*names)[i]);
  free(*names);
  *names = NULL;
}

int isw_results_groups(isw_results *r, char ***names, int *n) {
  int err = 0;
  name_list l;
  *names = NULL;
  *n = 0;
  ISW_CALL(list_names(r, r->file, "/", H5O_TYPE_GROUP, &l));
  *names = l.names;
  *n = l.n;
  l.names = NULL;
cleanup:
  if (err) isw_results_free_names(&l.names, l.n);
  return err;
}

int isw_results_columns(isw_results *r, const char *group, isw_results_column **cols, int *n) {
  int err = 0;
  name_list l = {0};
  hid_t g = H5I_INVALID_HID, ds = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
  char where[300];
  *cols = NULL;
  *n = 0;
  snprintf(where, sizeof where, "/%s", group);
  ISW_CHECK(isw_results_exists(r, "/", group), ISW_EUSAGE, "%s: group %s is missing (damaged or foreign file)",
            r->path, where);
  g = H5Gopen2(r->file, where, H5P_DEFAULT);
  ISW_CHECK(g >= 0, ISW_EUSAGE, "%s: cannot open group %s (damaged file?)", r->path, where);
  ISW_CALL(list_names(r, g, where, H5O_TYPE_DATASET, &l));
  ISW_ALLOC(*cols, l.n);
  for (int i = 0; i < l.n; ++i) {
    isw_results_column *c = &(*cols)[i];
    snprintf(c->name, sizeof c->name, "%s", l.names[i]);
    ds = H5Dopen2(g, l.names[i], H5P_DEFAULT);
    ISW_CHECK(ds >= 0, ISW_EUSAGE, "%s: cannot open dataset %s/%s (damaged file?)", r->path, where, l.names[i]);
    sp = H5Dget_space(ds);
    t = H5Dget_type(ds);
    ISW_CHECK(sp >= 0 && t >= 0, ISW_EUSAGE, "%s: cannot read the shape of %s/%s (damaged file?)", r->path,
              where, l.names[i]);
    hsize_t dims[H5S_MAX_RANK] = {0};
    c->ndims = H5Sget_simple_extent_dims(sp, dims, NULL);
    c->dims[0] = c->ndims >= 1 ? (long)dims[0] : 0;
    c->dims[1] = c->ndims >= 2 ? (long)dims[1] : 0;
    switch (H5Tget_class(t)) {
      case H5T_INTEGER: c->kind = ISW_RCOL_INT; break;
      case H5T_FLOAT: c->kind = ISW_RCOL_FLOAT; break;
      case H5T_ENUM: c->kind = ISW_RCOL_ENUM; break;
      case H5T_STRING:
        c->kind = H5Tis_variable_str(t) > 0 ? ISW_RCOL_OTHER : ISW_RCOL_STRING;
        c->str_len = H5Tget_size(t);
        break;
      default: c->kind = ISW_RCOL_OTHER; break;
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    t = sp = ds = H5I_INVALID_HID;
  }
  *n = l.n;
cleanup:
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  if (g >= 0) H5Gclose(g);
  H5Eclear2(H5E_DEFAULT);
  isw_results_free_names(&l.names, l.n);
  if (err) {
    free(*cols);
    *cols = NULL;
  }
  return err;
}

/* ---- attributes --------------------------------------------------------- */

static const char *obj_path(const char *obj) { return (!obj || !obj[0]) ? "/" : obj; }

int isw_results_has_attr(isw_results *r, const char *obj, const char *name) {
  htri_t e = H5Aexists_by_name(r->file, obj_path(obj), name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

static int open_attr(hid_t *a, isw_results *r, const char *obj, const char *name) {
  int err = 0;
  ISW_CHECK(isw_results_has_attr(r, obj, name), ISW_EUSAGE,
            "%s: attribute %s of %s is missing (damaged or foreign file)", r->path, name, obj_path(obj));
  *a = H5Aopen_by_name(r->file, obj_path(obj), name, H5P_DEFAULT, H5P_DEFAULT);
  ISW_CHECK(*a >= 0, ISW_EUSAGE, "%s: cannot open attribute %s of %s (damaged file?)", r->path, name,
            obj_path(obj));
cleanup:
  H5Eclear2(H5E_DEFAULT);
  return err;
}

int isw_results_attr_str(isw_results *r, const char *obj, const char *name, char **out) {
  int err = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char *vl = NULL;
  *out = NULL;
  ISW_CALL(open_attr(&a, r, obj, name));
  t = H5Aget_type(a);
  sp = H5Aget_space(a);
  ISW_CHECK(t >= 0 && H5Tget_class(t) == H5T_STRING && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1,
            ISW_EUSAGE, "%s: attribute %s of %s is not a string (damaged or foreign file)", r->path, name,
            obj_path(obj));
  mt = H5Tcopy(H5T_C_S1);
  ISW_CHECK(mt >= 0, ISW_EINTERNAL, "cannot copy the string type");
  if (H5Tis_variable_str(t) > 0) {
    ISW_CHECK(H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &vl) >= 0 && vl, ISW_EUSAGE,
              "%s: cannot read attribute %s of %s", r->path, name, obj_path(obj));
    *out = strdup(vl);
    ISW_CHECK(*out != NULL, ISW_ENOMEM, "out of memory reading attribute %s", name);
  } else {
    size_t size = H5Tget_size(t);
    ISW_ALLOC(*out, size + 1);
    ISW_CHECK(H5Tset_size(mt, size) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLPAD) >= 0 &&
                  H5Aread(a, mt, *out) >= 0,
              ISW_EUSAGE, "%s: cannot read attribute %s of %s", r->path, name, obj_path(obj));
    (*out)[size] = '\0';
  }
cleanup:
  if (vl) H5free_memory(vl);
  if (mt >= 0) H5Tclose(mt);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  if (err) {
    free(*out);
    *out = NULL;
  }
  return err;
}

int isw_results_attr_i64(isw_results *r, const char *obj, const char *name, int64_t *out) {
  int err = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
  ISW_CALL(open_attr(&a, r, obj, name));
  t = H5Aget_type(a);
  ISW_CHECK(t >= 0 && (H5Tget_class(t) == H5T_INTEGER) && H5Aread(a, H5T_NATIVE_INT64, out) >= 0, ISW_EUSAGE,
            "%s: attribute %s of %s is not an integer (damaged or foreign file)", r->path, name, obj_path(obj));
cleanup:
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

int isw_results_attr_f64(isw_results *r, const char *obj, const char *name, double *out) {
  int err = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
  ISW_CALL(open_attr(&a, r, obj, name));
  t = H5Aget_type(a);
  ISW_CHECK(t >= 0 && (H5Tget_class(t) == H5T_FLOAT || H5Tget_class(t) == H5T_INTEGER) &&
                H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0,
            ISW_EUSAGE, "%s: attribute %s of %s is not a number (damaged or foreign file)", r->path, name,
            obj_path(obj));
cleanup:
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

int isw_results_attr_i64v(isw_results *r, const char *obj, const char *name, int64_t **out, int *n) {
  int err = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  *out = NULL;
  *n = 0;
  ISW_CALL(open_attr(&a, r, obj, name));
  t = H5Aget_type(a);
  sp = H5Aget_space(a);
  ISW_CHECK(t >= 0 && H5Tget_class(t) == H5T_INTEGER && sp >= 0, ISW_EUSAGE,
            "%s: attribute %s of %s is not an integer list (damaged or foreign file)", r->path, name,
            obj_path(obj));
  hssize_t k = H5Sget_simple_extent_npoints(sp);
  ISW_CHECK(k >= 0 && k < 100000, ISW_EUSAGE, "%s: attribute %s of %s has a bad size", r->path, name, obj_path(obj));
  if (k > 0) {
    ISW_ALLOC(*out, k);
    ISW_CHECK(H5Aread(a, H5T_NATIVE_INT64, *out) >= 0, ISW_EUSAGE, "%s: cannot read attribute %s of %s", r->path,
              name, obj_path(obj));
  }
  *n = (int)k;
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  if (err) {
    free(*out);
    *out = NULL;
    *n = 0;
  }
  return err;
}
