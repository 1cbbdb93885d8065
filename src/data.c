/* data.c — the supervised data sets behind data.h: the teacher regression,
 * the shipped digits CSV (read through zlib) and a user's HDF5 file (plain
 * serial HDF5 calls, read-only, default file access).  Owns loading,
 * checking, splitting and feature scaling; knows nothing about models, MPI
 * or the results file.
 *
 * Shapes: N = rows of the whole set, Ntr/Nte = training/test rows, D =
 * features, K = outputs, Hd = teacher hidden width. */
#include "isweep/data.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "isweep/error.h"
#include "isweep/rng.h"

#ifndef ISW_SOURCE_DIR
#define ISW_SOURCE_DIR "."
#endif

enum { DIGITS_ROWS = 1797, DIGITS_FEATURES = 64, DIGITS_CLASSES = 10, DIGITS_MAX_PIXEL = 16 };
#define DATA_MAX_CLASSES 10000

/* 1 when a * b <= max, computed without overflow. */
static int product_within(uint64_t a, uint64_t b, uint64_t max) {
  return a == 0 || b <= max / a;
}

void isw_data_destroy(isw_dataset **d) {
  if (!d || !*d) return;
  free((*d)->x_train);
  free((*d)->x_test);
  free((*d)->y_train);
  free((*d)->y_test);
  free((*d)->label_train);
  free((*d)->label_test);
  free(*d);
  *d = NULL;
}

int64_t isw_data_n_test(int64_t n, double test_fraction) {
  return (int64_t)llround(test_fraction * (double)n);
}

/* Allocate the split arrays of *d for its n_train, n_test, d, k, classification. */
static int data_alloc(isw_dataset *d) {
  int err = 0;
  ISW_ALLOC(d->x_train, d->n_train * d->d);
  ISW_ALLOC(d->x_test, d->n_test * d->d);
  if (d->classification) {
    ISW_ALLOC(d->label_train, d->n_train);
    ISW_ALLOC(d->label_test, d->n_test);
  } else {
    ISW_ALLOC(d->y_train, d->n_train * d->k);
    ISW_ALLOC(d->y_test, d->n_test * d->k);
  }
cleanup:
  return err;
}

/* ---- teacher ------------------------------------------------------------- */

/* y (n, 1) <- a2ᵀ tanh(A x + a1) + noise ε for x (n, D) drawn here from r. */
static void teacher_rows(double *x /* (n, D) */, double *y /* (n) */, isw_rng *r,
                         const double *a /* (Hd, D) */, const double *a1 /* (Hd) */,
                         const double *a2 /* (Hd) */, double noise, int64_t n, int64_t dim,
                         int64_t hd) {
  for (int64_t i = 0; i < n; ++i) {
    double *xi = x + i * dim;
    isw_rng_normal_fill(r, xi, (size_t)dim, 0.0, 1.0);
    double s = 0.0;
    for (int64_t h = 0; h < hd; ++h) {
      double pre = a1[h];
      for (int64_t j = 0; j < dim; ++j) pre += a[h * dim + j] * xi[j];
      s += a2[h] * tanh(pre);
    }
    y[i] = s + noise * isw_rng_normal(r);
  }
}

int isw_data_teacher(isw_dataset **out, const isw_teacher_opts *o, uint64_t sweep_seed,
                     uint64_t data_id) {
  int err = 0;
  isw_dataset *d = NULL;
  double *a = NULL, *a1 = NULL, *a2 = NULL;
  *out = NULL;
  ISW_CHECK(o->n_train >= 1 && o->n_test >= 1 && o->x_dim >= 1 && o->teacher_width >= 1 &&
                o->noise >= 0.0,
            ISW_EUSAGE, "teacher data: n_train, n_test, x_dim, teacher_width must be >= 1 and "
            "noise >= 0 (got %lld, %lld, %lld, %lld, %g)", (long long)o->n_train,
            (long long)o->n_test, (long long)o->x_dim, (long long)o->teacher_width, o->noise);
  static const char *const dims_of[3] = {"n_train * x_dim", "n_test * x_dim", "teacher_width * x_dim"};
  const int64_t rows_of[3] = {o->n_train, o->n_test, o->teacher_width};
  for (int i = 0; i < 3; ++i)
    ISW_CHECK(product_within((uint64_t)rows_of[i], (uint64_t)o->x_dim, ISW_DATA_MAX_VALUES), ISW_EUSAGE,
              "teacher data: %s = %lld * %lld is more than %lld values (the limit for one data set; use "
              "fewer rows or a smaller x_dim)",
              dims_of[i], (long long)rows_of[i], (long long)o->x_dim, (long long)ISW_DATA_MAX_VALUES);
  ISW_ALLOC(d, 1);
  snprintf(d->name, sizeof d->name, "teacher");
  d->classification = 0;
  d->n_train = o->n_train;
  d->n_test = o->n_test;
  d->d = o->x_dim;
  d->k = 1;
  ISW_CALL(data_alloc(d));
  int64_t hd = o->teacher_width, dim = o->x_dim;
  ISW_ALLOC(a, hd * dim);
  ISW_ALLOC(a1, hd);
  ISW_ALLOC(a2, hd);
  isw_rng r;
  isw_rng_init(&r, sweep_seed, data_id, ISW_STREAM_DATA);
  isw_rng_normal_fill(&r, a, (size_t)(hd * dim), 0.0, 1.0 / sqrt((double)dim));
  isw_rng_normal_fill(&r, a1, (size_t)hd, 0.0, 0.5);
  isw_rng_normal_fill(&r, a2, (size_t)hd, 0.0, 1.0 / sqrt((double)hd));
  teacher_rows(d->x_train, d->y_train, &r, a, a1, a2, o->noise, d->n_train, dim, hd);
  isw_rng_init(&r, sweep_seed, data_id, ISW_STREAM_TEST_DATA);
  teacher_rows(d->x_test, d->y_test, &r, a, a1, a2, o->noise, d->n_test, dim, hd);
  *out = d;
  d = NULL;
cleanup:
  free(a);
  free(a1);
  free(a2);
  isw_data_destroy(&d);
  return err;
}

/* ---- split and scaling shared by digits and HDF5 files -------------------- */

/* Build *out from the whole set: x (N, D), then y (N, K) or labels (N).
 * Test rows are the first Nte entries of a permutation drawn from
 * ISW_STREAM_SPLIT; features are standardised with training statistics. */
static int data_split(isw_dataset **out, const char *name, const double *x /* (N, D) */,
                      const double *y /* (N, K) or NULL */, const int32_t *lab /* (N) or NULL */,
                      int64_t n, int64_t dim, int64_t k, double test_fraction,
                      uint64_t sweep_seed, uint64_t data_id) {
  int err = 0;
  isw_dataset *d = NULL;
  int64_t *perm = NULL;
  *out = NULL;
  int64_t nte = isw_data_n_test(n, test_fraction);
  ISW_CHECK(nte >= 1 && n - nte >= 1, ISW_EUSAGE,
            "data set '%s': %lld rows with test_fraction %g leave an empty %s set "
            "(use more rows or a test_fraction between 1/n and 1 - 1/n)",
            name, (long long)n, test_fraction, nte < 1 ? "test" : "training");
  ISW_ALLOC(d, 1);
  snprintf(d->name, sizeof d->name, "%s", name);
  d->classification = lab != NULL;
  d->n_train = n - nte;
  d->n_test = nte;
  d->d = dim;
  d->k = k;
  ISW_CALL(data_alloc(d));
  ISW_ALLOC(perm, n);
  isw_rng r;
  isw_rng_init(&r, sweep_seed, data_id, ISW_STREAM_SPLIT);
  isw_rng_permutation(&r, perm, (size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = perm[i], dst = i < nte ? i : i - nte;
    double *xd = (i < nte ? d->x_test : d->x_train) + dst * dim;
    memcpy(xd, x + src * dim, (size_t)dim * sizeof *xd);
    if (lab)
      (i < nte ? d->label_test : d->label_train)[dst] = lab[src];
    else
      memcpy((i < nte ? d->y_test : d->y_train) + dst * k, y + src * k, (size_t)k * sizeof(double));
  }
  for (int64_t j = 0; j < dim; ++j) {
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < d->n_train; ++i) mean += d->x_train[i * dim + j];
    mean /= (double)d->n_train;
    for (int64_t i = 0; i < d->n_train; ++i) {
      double t = d->x_train[i * dim + j] - mean;
      var += t * t;
    }
    double sd = sqrt(var / (double)d->n_train);
    double scale = sd > 1e-12 * (fabs(mean) + 1.0) ? 1.0 / sd : 1.0;
    for (int64_t i = 0; i < d->n_train; ++i)
      d->x_train[i * dim + j] = (d->x_train[i * dim + j] - mean) * scale;
    for (int64_t i = 0; i < d->n_test; ++i)
      d->x_test[i * dim + j] = (d->x_test[i * dim + j] - mean) * scale;
  }
  *out = d;
  d = NULL;
cleanup:
  free(perm);
  isw_data_destroy(&d);
  return err;
}

/* ---- opening a user's file ------------------------------------------------------ */

/* What a non-regular file is, for "it is %s". */
static const char *file_kind(mode_t m) {
  return S_ISFIFO(m)  ? "a FIFO"
         : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device"
         : S_ISDIR(m) ? "a directory"
         : S_ISSOCK(m) ? "a socket"
                       : "not a regular file";
}

/* Open `path` read-only and check, on the open descriptor, that it is a
 * regular file: O_NONBLOCK keeps a FIFO from waiting for a writer, and the
 * check on the descriptor (not on the name) means no other file can be
 * swapped in after it.  *fd is the descriptor, blocking again, or -1 on
 * failure.  `what` names the file in messages ("data file"). */
static int data_open_regular(int *fd, const char *path, const char *what) {
  int err = 0;
  struct stat st;
  *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ISW_CHECK(*fd >= 0 && fstat(*fd, &st) == 0, ISW_EUSAGE, "%s '%s' cannot be read (%s)", what, path,
            strerror(errno));
  ISW_CHECK(S_ISREG(st.st_mode), ISW_EUSAGE,
            "%s '%s' cannot be read (it is %s; a data file must be a regular file)", what, path,
            file_kind(st.st_mode));
  int flags = fcntl(*fd, F_GETFL);
  ISW_CHECK(flags >= 0 && fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK) == 0, ISW_EUSAGE,
            "%s '%s' cannot be read (%s)", what, path, strerror(errno));
cleanup:
  if (err && *fd >= 0) {
    close(*fd);
    *fd = -1;
  }
  return err;
}

/* ---- digits ---------------------------------------------------------------- */

int isw_data_locate(char *path, size_t n, const char *name) {
  int err = 0;
  const char *env = getenv("ISWEEP_DATA_DIR");
  char tried[600] = "";
  if (env && *env) {
    snprintf(path, n, "%s/%s", env, name);
    if (access(path, R_OK) == 0) return 0;
    snprintf(tried, sizeof tried, "%s (ISWEEP_DATA_DIR), ", path);
  }
  snprintf(path, n, "%s/data/%s", ISW_SOURCE_DIR, name);
  if (access(path, R_OK) == 0) return 0;
  size_t used = strlen(tried);
  snprintf(tried + used, sizeof tried - used, "%s", path);
  ISW_CHECK(0, ISW_EUSAGE,
            "data file '%s' not found: looked in %s (set ISWEEP_DATA_DIR to the folder "
            "holding it)", name, tried);
cleanup:
  return err;
}

/* Parse one CSV line of the digits file into pix (64) and *label. */
static int digits_parse_line(int32_t *pix /* (64) */, int32_t *label, const char *line,
                             const char *path, int64_t lineno) {
  int err = 0;
  const char *p = line;
  for (int j = 0; j <= DIGITS_FEATURES; ++j) {
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    ISW_CHECK(end != p && errno == 0, ISW_EUSAGE,
              "%s:%lld: field %d is not an integer (each row holds 64 pixels and a label)",
              path, (long long)lineno, j + 1);
    if (j < DIGITS_FEATURES) {
      ISW_CHECK(v >= 0 && v <= DIGITS_MAX_PIXEL, ISW_EUSAGE,
                "%s:%lld: pixel %d is %ld, outside 0..16", path, (long long)lineno, j + 1, v);
      pix[j] = (int32_t)v;
      ISW_CHECK(*end == ',', ISW_EUSAGE, "%s:%lld: row ends after %d fields (65 expected)",
                path, (long long)lineno, j + 1);
      p = end + 1;
    } else {
      ISW_CHECK(v >= 0 && v < DIGITS_CLASSES, ISW_EUSAGE,
                "%s:%lld: label is %ld, outside 0..9", path, (long long)lineno, v);
      *label = (int32_t)v;
      while (*end == '\r' || *end == '\n' || *end == ' ') ++end;
      ISW_CHECK(*end == '\0', ISW_EUSAGE, "%s:%lld: more than 65 fields in a row", path,
                (long long)lineno);
    }
  }
cleanup:
  return err;
}

int isw_data_digits_file(isw_dataset **out, const char *path, double test_fraction,
                         uint64_t sweep_seed, uint64_t data_id) {
  int err = 0;
  gzFile gz = NULL;
  int fd = -1;
  double *x = NULL;
  int32_t *lab = NULL;
  *out = NULL;
  ISW_CALL(data_open_regular(&fd, path, "digits data file"));
  gz = gzdopen(fd, "rb");
  ISW_CHECK(gz != NULL, ISW_EUSAGE, "digits data file '%s' cannot be opened (give a gzip'd or plain CSV file)", path);
  fd = -1; /* gzclose closes it */
  ISW_ALLOC(x, (int64_t)DIGITS_ROWS * DIGITS_FEATURES);
  ISW_ALLOC(lab, DIGITS_ROWS);
  char line[1024];
  int64_t rows = 0, lineno = 0;
  while (gzgets(gz, line, sizeof line)) {
    ++lineno;
    size_t len = strlen(line);
    ISW_CHECK(len + 1 < sizeof line || line[len - 1] == '\n', ISW_EUSAGE,
              "%s:%lld: line longer than %zu characters", path, (long long)lineno,
              sizeof line - 2);
    if (strspn(line, " \r\n") == len) continue; /* blank line */
    ISW_CHECK(rows < DIGITS_ROWS, ISW_EUSAGE, "%s:%lld: more than %d rows", path,
              (long long)lineno, DIGITS_ROWS);
    int32_t pix[DIGITS_FEATURES];
    ISW_CALL(digits_parse_line(pix, &lab[rows], line, path, lineno));
    for (int j = 0; j < DIGITS_FEATURES; ++j) x[rows * DIGITS_FEATURES + j] = pix[j];
    ++rows;
  }
  int zerr = 0;
  const char *zmsg = gzerror(gz, &zerr);
  ISW_CHECK(zerr == Z_OK || zerr == Z_BUF_ERROR, ISW_EUSAGE, "%s: corrupt gzip data (%s)", path,
            zmsg);
  ISW_CHECK(gzeof(gz), ISW_EUSAGE, "%s: read stopped before the end of the file", path);
  ISW_CHECK(rows == DIGITS_ROWS, ISW_EUSAGE, "%s: %lld rows, the digits set has %d", path,
            (long long)rows, DIGITS_ROWS);
  ISW_CALL(data_split(out, "digits", x, NULL, lab, rows, DIGITS_FEATURES, DIGITS_CLASSES,
                      test_fraction, sweep_seed, data_id));
cleanup:
  if (gz) gzclose(gz);
  if (fd >= 0) close(fd);
  free(x);
  free(lab);
  return err;
}

int isw_data_digits(isw_dataset **out, double test_fraction, uint64_t sweep_seed,
                    uint64_t data_id) {
  int err = 0;
  char path[1024];
  *out = NULL;
  ISW_CALL(isw_data_locate(path, sizeof path, "digits.csv.gz"));
  ISW_CALL(isw_data_digits_file(out, path, test_fraction, sweep_seed, data_id));
cleanup:
  return err;
}

/* ---- a user's HDF5 file ------------------------------------------------------ */

/* Refuse a dataset that does not hold every value it declares, before
 * anything is allocated by its shape: unfiltered data must occupy
 * n_values * type size bytes of storage; filtered (compressed) chunked data
 * must have every chunk written. */
static int h5_check_stored(hid_t dset, hid_t type, const hsize_t dims[2], int rank, const char *path,
                           const char *name) {
  int err = 0;
  hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID;
  dcpl = H5Dget_create_plist(dset);
  ISW_CHECK(dcpl >= 0, ISW_EUSAGE, "data file '%s': cannot read how '%s' is stored (is the file damaged?)", path, name);
  uint64_t values = (uint64_t)dims[0] * (uint64_t)dims[1]; /* <= ISW_DATA_MAX_VALUES here */
  size_t tsize = H5Tget_size(type);
  if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_nfilters(dcpl) > 0) {
    hsize_t chunk[2] = {1, 1}, n_chunks = 0, want = 1;
    ISW_CHECK(H5Pget_chunk(dcpl, rank, chunk) == rank, ISW_EUSAGE,
              "data file '%s': cannot read the chunks of '%s' (is the file damaged?)", path, name);
    for (int i = 0; i < rank; ++i) want *= (dims[i] + chunk[i] - 1) / chunk[i];
    space = H5Dget_space(dset);
    ISW_CHECK(space >= 0 && H5Dget_num_chunks(dset, space, &n_chunks) >= 0, ISW_EUSAGE,
              "data file '%s': cannot count the chunks of '%s' (is the file damaged?)", path, name);
    ISW_CHECK(n_chunks >= want, ISW_EUSAGE,
              "data file '%s': %s (%llu x %llu) has %llu of its %llu chunks written (an unwritten or "
              "partly written dataset; write every value)",
              path, name, (unsigned long long)dims[0], (unsigned long long)dims[1],
              (unsigned long long)n_chunks, (unsigned long long)want);
  } else {
    hsize_t stored = H5Dget_storage_size(dset);
    uint64_t need = values * (uint64_t)tsize; /* values <= 2^28, tsize a numeric type's size */
    ISW_CHECK(stored >= need, ISW_EUSAGE,
              "data file '%s': %s (%llu x %llu) needs %llu bytes but the file stores only %llu of them "
              "(an unwritten or partly written dataset; write every value)",
              path, name, (unsigned long long)dims[0], (unsigned long long)dims[1],
              (unsigned long long)need, (unsigned long long)stored);
  }
cleanup:
  if (space >= 0) H5Sclose(space);
  if (dcpl >= 0) H5Pclose(dcpl);
  return err;
}

/* Open dataset `name` of `file`, check its rank is in [rmin, rmax], return
 * its extents in dims (2) (dims[1] = 1 for rank 1) and its type class.
 * Refuses more than ISW_DATA_MAX_VALUES values and a dataset that does not
 * store every value it declares (h5_check_stored), so what the caller
 * allocates by dims is bounded by the limit and by the file's content. */
static int h5_open_dataset(hid_t *dset, hsize_t dims[2], H5T_class_t *cls, hid_t file,
                           const char *path, const char *name, int rmin, int rmax) {
  int err = 0;
  hid_t space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  *dset = H5I_INVALID_HID;
  htri_t there = H5Lexists(file, name, H5P_DEFAULT);
  ISW_CHECK(there > 0, ISW_EUSAGE,
            "data file '%s' has no dataset '%s' at its root (X (n, d) and y (n) are needed)",
            path, name);
  *dset = H5Dopen2(file, name, H5P_DEFAULT);
  ISW_CHECK(*dset >= 0, ISW_EUSAGE, "data file '%s': '%s' is not a readable dataset (X and y must be datasets at the root)", path, name);
  space = H5Dget_space(*dset);
  ISW_CHECK(space >= 0, ISW_EUSAGE, "data file '%s': cannot read the shape of '%s' (is the file damaged?)", path, name);
  int rank = H5Sget_simple_extent_ndims(space);
  ISW_CHECK(rank >= rmin && rank <= rmax, ISW_EUSAGE,
            "data file '%s': dataset '%s' has rank %d (expected %s)", path, name, rank,
            rmin == rmax ? "2 (n, d)" : "1 (n) or 2 (n, k)");
  hsize_t d2[2] = {0, 1};
  H5Sget_simple_extent_dims(space, d2, NULL);
  dims[0] = d2[0];
  dims[1] = rank == 2 ? d2[1] : 1;
  ISW_CHECK(product_within(dims[0], dims[1], ISW_DATA_MAX_VALUES), ISW_EUSAGE,
            "data file '%s': %s (%llu x %llu) has more than %lld values (the limit for one data set; "
            "use fewer rows or columns)",
            path, name, (unsigned long long)dims[0], (unsigned long long)dims[1],
            (long long)ISW_DATA_MAX_VALUES);
  type = H5Dget_type(*dset);
  ISW_CHECK(type >= 0, ISW_EUSAGE, "data file '%s': cannot read the type of '%s' (is the file damaged?)", path, name);
  *cls = H5Tget_class(type);
  ISW_CHECK(*cls == H5T_INTEGER || *cls == H5T_FLOAT, ISW_EUSAGE,
            "data file '%s': dataset '%s' is not numeric (integer or float expected)", path, name);
  ISW_CALL(h5_check_stored(*dset, type, dims, rank, path, name));
cleanup:
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (err && *dset >= 0) {
    H5Dclose(*dset);
    *dset = H5I_INVALID_HID;
  }
  return err;
}

static int h5_read_file(isw_dataset **out, const char *path, double test_fraction,
                        uint64_t sweep_seed, uint64_t data_id) {
  int err = 0;
  hid_t file = H5I_INVALID_HID, dx = H5I_INVALID_HID, dy = H5I_INVALID_HID;
  int fd = -1;
  double *x = NULL, *y = NULL;
  int64_t *lab64 = NULL;
  int32_t *lab = NULL;
  ISW_CALL(data_open_regular(&fd, path, "data file"));
  /* HDF5 opens by name: give it the checked descriptor's own name where
   * /proc shows it, so it opens the very file that was checked */
  char fd_path[64];
  struct stat by_name, by_fd;
  snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
  const char *h5_path = stat(fd_path, &by_name) == 0 && fstat(fd, &by_fd) == 0 &&
                                by_name.st_dev == by_fd.st_dev && by_name.st_ino == by_fd.st_ino
                            ? fd_path
                            : path;
  htri_t is_h5 = H5Fis_hdf5(h5_path);
  ISW_CHECK(is_h5 > 0, ISW_EUSAGE, "data file '%s' is not an HDF5 file (give an HDF5 file with X and y)", path);
  file = H5Fopen(h5_path, H5F_ACC_RDONLY, H5P_DEFAULT);
  ISW_CHECK(file >= 0, ISW_EUSAGE, "data file '%s' cannot be opened as HDF5 (is it damaged, or open for writing elsewhere?)", path);
  hsize_t xd[2], yd[2];
  H5T_class_t xc, yc;
  ISW_CALL(h5_open_dataset(&dx, xd, &xc, file, path, "X", 2, 2));
  ISW_CALL(h5_open_dataset(&dy, yd, &yc, file, path, "y", 1, 2));
  ISW_CHECK(xd[0] >= 1 && xd[1] >= 1, ISW_EUSAGE, "data file '%s': X is empty, %llu x %llu (X needs at least one row and one column)",
            path, (unsigned long long)xd[0], (unsigned long long)xd[1]);
  ISW_CHECK(yd[0] == xd[0], ISW_EUSAGE,
            "data file '%s': X has %llu rows but y has %llu (one target per row of X)", path,
            (unsigned long long)xd[0], (unsigned long long)yd[0]);
  ISW_CHECK(yc == H5T_FLOAT || yd[1] == 1, ISW_EUSAGE,
            "data file '%s': integer y (class labels) has shape (%llu, %llu) (labels are one column: y of shape (n))",
            path, (unsigned long long)yd[0], (unsigned long long)yd[1]);
  int64_t n = (int64_t)xd[0], dim = (int64_t)xd[1], k = (int64_t)yd[1];
  ISW_ALLOC(x, n * dim);
  ISW_CHECK(H5Dread(dx, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0, ISW_EUSAGE,
            "data file '%s': cannot read X as double (is the file damaged?)", path);
  for (int64_t i = 0; i < n * dim; ++i)
    ISW_CHECK(isfinite(x[i]), ISW_EUSAGE,
              "data file '%s': X[%lld][%lld] is not finite, %g (clean the data first)", path,
              (long long)(i / dim), (long long)(i % dim), x[i]);
  if (yc == H5T_INTEGER) {
    ISW_ALLOC(lab64, n);
    ISW_ALLOC(lab, n);
    ISW_CHECK(H5Dread(dy, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab64) >= 0,
              ISW_EUSAGE, "data file '%s': cannot read y as integer labels (is the file damaged?)", path);
    int64_t kmax = 0;
    for (int64_t i = 0; i < n; ++i) {
      ISW_CHECK(lab64[i] >= 0 && lab64[i] < DATA_MAX_CLASSES, ISW_EUSAGE,
                "data file '%s': label y[%lld] = %lld is outside 0..%d (integer y means class "
                "labels 0..K-1)", path, (long long)i, (long long)lab64[i], DATA_MAX_CLASSES - 1);
      lab[i] = (int32_t)lab64[i];
      if (lab64[i] + 1 > kmax) kmax = lab64[i] + 1;
    }
    ISW_CHECK(kmax >= 2, ISW_EUSAGE,
              "data file '%s': every label is 0 (a classification needs at least 2 classes)", path);
    k = kmax;
  } else {
    ISW_ALLOC(y, n * k);
    ISW_CHECK(H5Dread(dy, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0, ISW_EUSAGE,
              "data file '%s': cannot read y as double (is the file damaged?)", path);
    for (int64_t i = 0; i < n * k; ++i)
      ISW_CHECK(isfinite(y[i]), ISW_EUSAGE,
                "data file '%s': y[%lld] is not finite, %g (clean the data first)", path,
                (long long)(i / k), y[i]);
  }
  ISW_CALL(data_split(out, path, x, y, lab, n, dim, k, test_fraction, sweep_seed, data_id));
cleanup:
  if (dx >= 0) H5Dclose(dx);
  if (dy >= 0) H5Dclose(dy);
  if (file >= 0) H5Fclose(file);
  if (fd >= 0) close(fd);
  free(x);
  free(y);
  free(lab64);
  free(lab);
  return err;
}

int isw_data_hdf5(isw_dataset **out, const char *path, double test_fraction, uint64_t sweep_seed,
                  uint64_t data_id) {
  int err = 0;
  *out = NULL;
  if (!path || !*path)
    return isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                           "dataset = file needs data_file = PATH of an HDF5 file with X and y");
  /* Silence HDF5's own error stack printing while probing a user's file. */
  H5E_auto2_t old_fn = NULL;
  void *old_data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  err = h5_read_file(out, path, test_fraction, sweep_seed, data_id);
  H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
  if (err) isw_error_trace(__FILE__, __LINE__, __func__);
  return err;
}
