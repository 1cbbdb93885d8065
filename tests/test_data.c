/* test_data.c — the data sets: the shipped digits file and its split and
 * scaling, the teacher regression, a user's HDF5 file, the file lookup, and
 * a clear usage error for every malformed input.
 *
 * Shapes: N = rows, D = features, K = outputs. */
#define _XOPEN_SOURCE 700 /* mknod */
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "isweep/data.h"
#include "isweep/error.h"
#include "testutil.h"

static char tmp_path[700], tmp_dir[600];
/* The test's temporary directory (made once: isw_test_tmpdir makes a new one per call). */
static const char *tmp_dir_once(void) {
  if (!tmp_dir[0]) snprintf(tmp_dir, sizeof tmp_dir, "%s", isw_test_tmpdir());
  return tmp_dir;
}
/* A file name unique to this rank inside the test's temporary directory. */
static const char *tmp_file(const char *name) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  snprintf(tmp_path, sizeof tmp_path, "%s/r%d_%s", tmp_dir_once(), rank, name);
  return tmp_path;
}

/* ---- digits --------------------------------------------------------------------- */

static void test_digits_loads_and_splits(void) {
  isw_dataset *d = NULL;
  CU_ASSERT_FATAL(isw_data_digits(&d, 0.25, 7, 11) == 0);
  CU_ASSERT(d->classification == 1 && d->d == 64 && d->k == 10);
  CU_ASSERT(d->n_test == 449 && d->n_train == 1348);
  CU_ASSERT(d->y_train == NULL && d->label_train != NULL);
  int count[10] = {0};
  for (int64_t i = 0; i < d->n_train; ++i) {
    CU_ASSERT_FATAL(d->label_train[i] >= 0 && d->label_train[i] < 10);
    count[d->label_train[i]]++;
  }
  for (int64_t i = 0; i < d->n_test; ++i) {
    CU_ASSERT_FATAL(d->label_test[i] >= 0 && d->label_test[i] < 10);
    count[d->label_test[i]]++;
  }
  int total = 0;
  for (int c = 0; c < 10; ++c) {
    CU_ASSERT(count[c] >= 170 && count[c] <= 190); /* about 180 per class */
    total += count[c];
  }
  CU_ASSERT(total == 1797);
  /* training features standardised: mean 0, std 1 (constant ones only centred) */
  int constant = 0;
  for (int64_t j = 0; j < 64; ++j) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < d->n_train; ++i) m += d->x_train[i * 64 + j];
    m /= (double)d->n_train;
    for (int64_t i = 0; i < d->n_train; ++i) v += pow(d->x_train[i * 64 + j] - m, 2);
    v /= (double)d->n_train;
    CU_ASSERT(fabs(m) < 1e-12);
    CU_ASSERT(fabs(v - 1.0) < 1e-12 || v < 1e-24);
    constant += v < 1e-24;
  }
  CU_ASSERT(constant >= 1 && constant <= 4); /* a few border pixels are always 0 */
  /* same key, same bits; another key, another split */
  isw_dataset *d2 = NULL, *d3 = NULL;
  CU_ASSERT_FATAL(isw_data_digits(&d2, 0.25, 7, 11) == 0);
  CU_ASSERT(memcmp(d->x_test, d2->x_test, sizeof(double) * 449 * 64) == 0);
  CU_ASSERT(memcmp(d->label_train, d2->label_train, sizeof(int32_t) * 1348) == 0);
  CU_ASSERT_FATAL(isw_data_digits(&d3, 0.25, 7, 12) == 0);
  CU_ASSERT(memcmp(d->label_train, d3->label_train, sizeof(int32_t) * 1348) != 0);
  isw_data_destroy(&d);
  isw_data_destroy(&d2);
  isw_data_destroy(&d3);
  CU_ASSERT(d == NULL);
  isw_data_destroy(&d); /* NULL-safe */
  CU_ASSERT_FATAL(isw_data_digits(&d, 0.5, 7, 11) == 0);
  CU_ASSERT(d->n_test == 899 && d->n_train == 898);
  isw_data_destroy(&d);
}

/* Write `text` gzip-compressed to path. */
static void write_gz(const char *path, const char *text) {
  gzFile g = gzopen(path, "wb");
  CU_ASSERT_FATAL(g != NULL);
  gzputs(g, text);
  gzclose(g);
}

static void expect_digits_error(const char *text, const char *needle) {
  const char *p = tmp_file("bad_digits.csv.gz");
  write_gz(p, text);
  isw_dataset *d = NULL;
  int e = isw_data_digits_file(&d, p, 0.25, 1, 1);
  CU_ASSERT(e == ISW_EUSAGE);
  CU_ASSERT(d == NULL);
  CU_ASSERT(strstr(isw_error_message(), p) != NULL);
  if (!strstr(isw_error_message(), needle))
    printf("\n  expected '%s' in: %s", needle, isw_error_message());
  CU_ASSERT(strstr(isw_error_message(), needle) != NULL);
  remove(p);
}

static void test_digits_malformed(void) {
  char row[400], *text = malloc(1797 * 200 + 1000);
  /* a good row: 64 pixels then the label */
  int len = 0;
  for (int j = 0; j < 64; ++j) len += snprintf(row + len, sizeof row - len, "%d,", j % 17);
  snprintf(row + len, sizeof row - len, "3\n");
  text[0] = '\0';
  for (int i = 0; i < 5; ++i) strcat(text, row);
  expect_digits_error(text, "5 rows");
  expect_digits_error("1,2,3\n", "65 expected");
  char bad[400];
  snprintf(bad, sizeof bad, "%s", row);
  bad[0] = '9', bad[1] = '9'; /* pixel 99 */
  expect_digits_error(bad, "outside 0..16");
  snprintf(bad, sizeof bad, "%.*s12\n", len, row); /* label 12 */
  expect_digits_error(bad, "label");
  snprintf(bad, sizeof bad, "%.*sx\n", len, row);
  expect_digits_error(bad, "not an integer");
  snprintf(bad, sizeof bad, "%.*s3,4\n", len, row);
  expect_digits_error(bad, "more than 65");
  isw_dataset *d = NULL;
  CU_ASSERT(isw_data_digits_file(&d, tmp_file("absent.csv.gz"), 0.25, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "absent.csv.gz") != NULL);
  isw_error_clear();
  free(text);
}

static void test_locate(void) {
  char path[1024];
  const char *old = getenv("ISWEEP_DATA_DIR");
  char *saved = old ? strdup(old) : NULL;
  /* an override folder that holds the file wins */
  const char *here = tmp_file("probe.bin");
  FILE *f = fopen(here, "w");
  CU_ASSERT_FATAL(f != NULL);
  fclose(f);
  setenv("ISWEEP_DATA_DIR", tmp_dir_once(), 1);
  const char *base = strrchr(here, '/') + 1;
  CU_ASSERT(isw_data_locate(path, sizeof path, base) == 0);
  CU_ASSERT(strcmp(path, here) == 0);
  /* an override without the file falls back to the source tree */
  CU_ASSERT(isw_data_locate(path, sizeof path, "digits.csv.gz") == 0);
  CU_ASSERT(strstr(path, "/data/digits.csv.gz") != NULL);
  /* a file in neither place: a usage error naming both */
  CU_ASSERT(isw_data_locate(path, sizeof path, "no_such_data.csv.gz") == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "ISWEEP_DATA_DIR") != NULL);
  CU_ASSERT(strstr(isw_error_message(), "/data/no_such_data.csv.gz") != NULL);
  isw_error_clear();
  remove(here);
  if (saved) {
    setenv("ISWEEP_DATA_DIR", saved, 1);
    free(saved);
  } else {
    unsetenv("ISWEEP_DATA_DIR");
  }
}

/* ---- teacher ----------------------------------------------------------------------- */

static void test_teacher(void) {
  isw_teacher_opts o = {.n_train = 200, .n_test = 300, .x_dim = 16, .teacher_width = 32, .noise = 0.1};
  isw_dataset *a = NULL, *b = NULL, *c = NULL;
  CU_ASSERT_FATAL(isw_data_teacher(&a, &o, 5, 9) == 0);
  CU_ASSERT(a->classification == 0 && a->k == 1 && a->d == 16);
  CU_ASSERT(a->n_train == 200 && a->n_test == 300 && a->label_train == NULL);
  double m = 0, v = 0;
  for (int64_t i = 0; i < a->n_train; ++i) m += a->y_train[i];
  m /= 200;
  for (int64_t i = 0; i < a->n_train; ++i) v += pow(a->y_train[i] - m, 2);
  v /= 200;
  CU_ASSERT(v > 0.05 && v < 5.0); /* a signal well above the noise variance 0.01 */
  for (int64_t i = 0; i < 300 * 16; ++i) CU_ASSERT_FATAL(isfinite(a->x_test[i]));
  /* same key: same data; more training rows leave the test rows unchanged */
  o.n_train = 250;
  CU_ASSERT_FATAL(isw_data_teacher(&b, &o, 5, 9) == 0);
  CU_ASSERT(memcmp(a->x_train, b->x_train, sizeof(double) * 200 * 16) == 0);
  CU_ASSERT(memcmp(a->y_test, b->y_test, sizeof(double) * 300) == 0);
  /* noise-free targets differ from noisy ones by about the noise */
  o.n_train = 200;
  o.noise = 0.0;
  CU_ASSERT_FATAL(isw_data_teacher(&c, &o, 5, 9) == 0);
  double dv = 0;
  for (int64_t i = 0; i < 300; ++i) dv += pow(a->y_test[i] - c->y_test[i], 2);
  dv /= 300;
  CU_ASSERT(dv > 0.005 && dv < 0.02);
  isw_data_destroy(&a);
  isw_data_destroy(&b);
  isw_data_destroy(&c);
  o.n_test = 0;
  CU_ASSERT(isw_data_teacher(&a, &o, 5, 9) == ISW_EUSAGE);
  isw_error_clear();
}

/* ---- a user's HDF5 file ------------------------------------------------------------- */

/* Write dataset `name` of rank `rank` with dims and memory type t. */
static void h5_put(hid_t f, const char *name, int rank, const hsize_t *dims, hid_t t,
                   const void *data) {
  hid_t s = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d);
  H5Sclose(s);
}

enum { HN = 40, HD = 3 };

static void test_hdf5_classification_split_scaling(void) {
  const char *p = tmp_file("cls.h5");
  double x[HN * HD];
  long long y[HN];
  for (int i = 0; i < HN; ++i) {
    y[i] = i; /* the label names the row, so the test can undo the split */
    x[i * HD + 0] = i;
    x[i * HD + 1] = (i * 7) % 11 - 3.5;
    x[i * HD + 2] = 5.0; /* constant */
  }
  hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dx[2] = {HN, HD}, dy[1] = {HN};
  h5_put(f, "X", 2, dx, H5T_NATIVE_DOUBLE, x);
  h5_put(f, "y", 1, dy, H5T_NATIVE_LLONG, y);
  H5Fclose(f);
  isw_dataset *d = NULL;
  CU_ASSERT_FATAL(isw_data_hdf5(&d, p, 0.25, 3, 4) == 0);
  CU_ASSERT(d->classification == 1 && d->k == HN && d->d == HD);
  CU_ASSERT(d->n_train == 30 && d->n_test == 10);
  /* every row once; features = (raw - train mean) / train std */
  int seen[HN] = {0};
  double mean[HD] = {0}, sd[HD] = {0};
  for (int64_t i = 0; i < d->n_train; ++i)
    for (int j = 0; j < HD; ++j) mean[j] += x[d->label_train[i] * HD + j] / 30.0;
  for (int64_t i = 0; i < d->n_train; ++i)
    for (int j = 0; j < HD; ++j) sd[j] += pow(x[d->label_train[i] * HD + j] - mean[j], 2) / 30.0;
  for (int j = 0; j < HD; ++j) sd[j] = sd[j] > 0 ? sqrt(sd[j]) : 1.0;
  for (int s = 0; s < 2; ++s) {
    int64_t n = s ? d->n_test : d->n_train;
    const int32_t *lab = s ? d->label_test : d->label_train;
    const double *xs = s ? d->x_test : d->x_train;
    for (int64_t i = 0; i < n; ++i) {
      CU_ASSERT_FATAL(lab[i] >= 0 && lab[i] < HN);
      seen[lab[i]]++;
      for (int j = 0; j < HD; ++j)
        CU_ASSERT(fabs(xs[i * HD + j] - (x[lab[i] * HD + j] - mean[j]) / sd[j]) < 1e-12);
    }
  }
  for (int i = 0; i < HN; ++i) CU_ASSERT(seen[i] == 1);
  isw_data_destroy(&d);
  remove(p);
}

static void test_hdf5_regression(void) {
  const char *p = tmp_file("reg.h5");
  double x[HN * HD], y[HN * 2];
  for (int i = 0; i < HN * HD; ++i) x[i] = sin(i);
  for (int i = 0; i < HN * 2; ++i) y[i] = cos(i);
  hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dx[2] = {HN, HD}, dy[2] = {HN, 2};
  h5_put(f, "X", 2, dx, H5T_NATIVE_DOUBLE, x);
  h5_put(f, "y", 2, dy, H5T_NATIVE_DOUBLE, y);
  H5Fclose(f);
  isw_dataset *d = NULL;
  CU_ASSERT_FATAL(isw_data_hdf5(&d, p, 0.5, 3, 4) == 0);
  CU_ASSERT(d->classification == 0 && d->k == 2 && d->n_train == 20 && d->n_test == 20);
  CU_ASSERT(d->label_train == NULL && d->y_train != NULL);
  /* targets are kept as stored: each training target pair is one of y's rows */
  for (int64_t i = 0; i < d->n_train; ++i) {
    int found = 0;
    for (int r = 0; r < HN; ++r)
      found |= d->y_train[i * 2] == y[r * 2] && d->y_train[i * 2 + 1] == y[r * 2 + 1];
    CU_ASSERT(found);
  }
  isw_data_destroy(&d);
  remove(p);
}

typedef enum { BAD_NO_X, BAD_NO_Y, BAD_X_RANK, BAD_ROWS, BAD_NAN_X, BAD_INF_Y, BAD_NEG_LABEL,
               BAD_ONE_CLASS, BAD_STRING_Y } bad_kind;

static void expect_hdf5_error(bad_kind kind, const char *needle) {
  const char *p = tmp_file("bad.h5");
  double x[HN * HD], yf[HN];
  int yi[HN];
  for (int i = 0; i < HN * HD; ++i) x[i] = i;
  for (int i = 0; i < HN; ++i) yf[i] = i, yi[i] = i % 2;
  if (kind == BAD_NAN_X) x[7] = NAN;
  if (kind == BAD_INF_Y) yf[3] = INFINITY;
  if (kind == BAD_NEG_LABEL) yi[5] = -1;
  if (kind == BAD_ONE_CLASS)
    for (int i = 0; i < HN; ++i) yi[i] = 0;
  hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dx[2] = {HN, HD}, dx1[1] = {HN * HD}, dy[1] = {kind == BAD_ROWS ? HN - 1 : HN};
  if (kind == BAD_X_RANK)
    h5_put(f, "X", 1, dx1, H5T_NATIVE_DOUBLE, x);
  else if (kind != BAD_NO_X)
    h5_put(f, "X", 2, dx, H5T_NATIVE_DOUBLE, x);
  if (kind == BAD_STRING_Y) {
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 4);
    char s[HN][4];
    memset(s, 'a', sizeof s);
    h5_put(f, "y", 1, dy, st, s);
    H5Tclose(st);
  } else if (kind != BAD_NO_Y) {
    int ints = kind == BAD_NEG_LABEL || kind == BAD_ONE_CLASS || kind == BAD_ROWS;
    h5_put(f, "y", 1, dy, ints ? H5T_NATIVE_INT : H5T_NATIVE_DOUBLE, ints ? (void *)yi : (void *)yf);
  }
  H5Fclose(f);
  isw_dataset *d = NULL;
  CU_ASSERT(isw_data_hdf5(&d, p, 0.25, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(d == NULL);
  CU_ASSERT(strstr(isw_error_message(), p) != NULL);
  if (!strstr(isw_error_message(), needle))
    printf("\n  expected '%s' in: %s", needle, isw_error_message());
  CU_ASSERT(strstr(isw_error_message(), needle) != NULL);
  remove(p);
}

static void test_hdf5_errors(void) {
  expect_hdf5_error(BAD_NO_X, "no dataset 'X'");
  expect_hdf5_error(BAD_NO_Y, "no dataset 'y'");
  expect_hdf5_error(BAD_X_RANK, "rank 1");
  expect_hdf5_error(BAD_ROWS, "rows");
  expect_hdf5_error(BAD_NAN_X, "not finite");
  expect_hdf5_error(BAD_INF_Y, "not finite");
  expect_hdf5_error(BAD_NEG_LABEL, "outside");
  expect_hdf5_error(BAD_ONE_CLASS, "2 classes");
  expect_hdf5_error(BAD_STRING_Y, "not numeric");
  isw_dataset *d = NULL;
  /* missing file, a file that is not HDF5, no path, an empty split */
  const char *missing = tmp_file("missing.h5");
  CU_ASSERT(isw_data_hdf5(&d, missing, 0.25, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "missing.h5") != NULL);
  const char *text = tmp_file("text.h5");
  FILE *f = fopen(text, "w");
  fputs("not hdf5\n", f);
  fclose(f);
  CU_ASSERT(isw_data_hdf5(&d, text, 0.25, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "not an HDF5 file") != NULL);
  remove(text);
  CU_ASSERT(isw_data_hdf5(&d, "", 0.25, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "data_file") != NULL);
  const char *small = tmp_file("small.h5");
  double x[2] = {1, 2}, y[2] = {0, 1};
  hid_t h = H5Fcreate(small, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dx[2] = {2, 1}, dy[1] = {2};
  h5_put(h, "X", 2, dx, H5T_NATIVE_DOUBLE, x);
  h5_put(h, "y", 1, dy, H5T_NATIVE_DOUBLE, y);
  H5Fclose(h);
  CU_ASSERT(isw_data_hdf5(&d, small, 0.1, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "empty test set") != NULL);
  CU_ASSERT(isw_data_hdf5(&d, small, 0.9, 1, 1) == ISW_EUSAGE);
  CU_ASSERT(strstr(isw_error_message(), "empty training set") != NULL);
  CU_ASSERT(isw_data_hdf5(&d, small, 0.5, 1, 1) == 0 && d->n_train == 1 && d->n_test == 1);
  isw_data_destroy(&d);
  remove(small);
  isw_error_clear();
}


/* ---- bad input that could hang or exhaust memory: loaded in a bounded child ---- */

/* Call fn(arg) in a forked child whose address space may grow by at most
 * 512 MiB; *rc is its return value and msg its error message.  Returns 0,
 * or -1 when the child did not end within 60 s (it is then killed; a hang
 * is the failure these tests look for) or died of a signal. */
static int call_bounded(int *rc, char *msg, size_t n, int (*fn)(const char *), const char *arg) {
  int fds[2];
  msg[0] = '\0';
  *rc = -1;
  if (pipe(fds) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld", &pages) == 1) {
      struct rlimit lim;
      lim.rlim_cur = lim.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
      setrlimit(RLIMIT_AS, &lim);
    }
    if (f) fclose(f);
    int r = fn(arg);
    const char *m = isw_error_message();
    ssize_t w = write(fds[1], m, strlen(m));
    (void)w;
    _exit(r & 0x7f);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return -1;
  }
  int status = 0, done = 0;
  for (int i = 0; i < 600 && !done; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      done = 1;
    } else {
      struct timespec ts = {0, 100000000};
      nanosleep(&ts, NULL);
    }
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  size_t used = 0;
  ssize_t k;
  while (used + 1 < n && (k = read(fds[0], msg + used, n - 1 - used)) > 0) used += (size_t)k;
  msg[used] = '\0';
  close(fds[0]);
  if (!done || !WIFEXITED(status)) return -1;
  *rc = WEXITSTATUS(status);
  return 0;
}

static int load_hdf5(const char *path) {
  isw_dataset *d = NULL;
  int rc = isw_data_hdf5(&d, path, 0.25, 1, 1);
  isw_data_destroy(&d);
  return rc;
}

static int load_digits(const char *path) {
  isw_dataset *d = NULL;
  int rc = isw_data_digits_file(&d, path, 0.25, 1, 1);
  isw_data_destroy(&d);
  return rc;
}

/* fn(path) must end with ISW_EUSAGE and a one-line message containing `needle`
 * (and the path); `what` names the case in the failure report. */
static void expect_bounded_error(int (*fn)(const char *), const char *path, const char *needle,
                                 const char *what) {
  int rc = -1;
  char msg[1200];
  int ended = call_bounded(&rc, msg, sizeof msg, fn, path) == 0;
  int ok = ended && rc == ISW_EUSAGE && strstr(msg, path) && strstr(msg, needle) && !strchr(msg, '\n');
  CU_ASSERT(ended);
  CU_ASSERT(rc == ISW_EUSAGE);
  CU_ASSERT(ok);
  if (!ok)
    printf("\n  %s: %s, rc %d (want %d with '%s'), message: %s", what, ended ? "ended" : "did not end (hang)",
           rc, ISW_EUSAGE, needle, msg);
}

static void test_special_data_files(void) {
  char fifo[800], dev[800];
  snprintf(fifo, sizeof fifo, "%s", tmp_file("data.fifo"));
  snprintf(dev, sizeof dev, "%s", tmp_file("data.zero"));
  CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
  expect_bounded_error(load_hdf5, fifo, "(it is a FIFO; a data file must be a regular file)", "HDF5 data file FIFO");
  expect_bounded_error(load_digits, fifo, "(it is a FIFO; a data file must be a regular file)", "digits file FIFO");
  /* a private node of the zero device (1, 5), never /dev/zero itself */
  if (mknod(dev, S_IFCHR | 0600, makedev(1, 5)) == 0) {
    expect_bounded_error(load_hdf5, dev, "(it is a character device; a data file must be a regular file)",
                         "HDF5 data file character device");
    expect_bounded_error(load_digits, dev, "(it is a character device; a data file must be a regular file)",
                         "digits file character device");
    remove(dev);
  } else {
    printf("\n  (mknod not permitted here: the character-device cases are skipped) ");
  }
  remove(fifo);
  isw_error_clear();
}

/* ---- declared shapes: allocations bounded by what the file holds ---------------- */

typedef enum { SHAPE_HUGE_X, SHAPE_UNWRITTEN_X, SHAPE_PART_CHUNKED_X, SHAPE_PART_DEFLATE_X,
               SHAPE_OVERFLOW_Y, SHAPE_FULL_DEFLATE } shape_kind;
static shape_kind shape_case;

/* Write `path` with the X and y of shape_case (y float, one target per row). */
static void write_shape_file(const char *path) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  hsize_t rows = 40, cols = 3, chunk[2] = {0, 0};
  int deflate = 0;
  hsize_t write_rows = rows; /* rows of X actually written */
  switch (shape_case) {
    case SHAPE_HUGE_X: rows = (hsize_t)1 << 20, cols = (hsize_t)1 << 19, chunk[0] = 1024, chunk[1] = 1024,
                       write_rows = 0; break;
    case SHAPE_UNWRITTEN_X: rows = (hsize_t)1 << 18, cols = 32, write_rows = 0; break;
    case SHAPE_PART_CHUNKED_X: rows = (hsize_t)1 << 18, cols = 32, chunk[0] = 1024, chunk[1] = 32,
                               write_rows = 1024; break;
    case SHAPE_PART_DEFLATE_X: rows = 4096, cols = 3, chunk[0] = 64, chunk[1] = 3, deflate = 1,
                               write_rows = 64; break;
    case SHAPE_OVERFLOW_Y: break;
    case SHAPE_FULL_DEFLATE: chunk[0] = 8, chunk[1] = 3, deflate = 1; break;
  }
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunk[0]) H5Pset_chunk(dcpl, 2, chunk);
  if (deflate) H5Pset_deflate(dcpl, 6);
  hsize_t dx[2] = {rows, cols};
  hid_t sx = H5Screate_simple(2, dx, NULL);
  hid_t x = H5Dcreate2(f, "X", H5T_NATIVE_DOUBLE, sx, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  CU_ASSERT_FATAL(x >= 0);
  if (write_rows) {
    double *buf = malloc(write_rows * cols * sizeof *buf);
    for (hsize_t i = 0; i < write_rows * cols; ++i) buf[i] = sin((double)i);
    hsize_t start[2] = {0, 0}, count[2] = {write_rows, cols};
    hid_t mem = H5Screate_simple(2, count, NULL);
    H5Sselect_hyperslab(sx, H5S_SELECT_SET, start, NULL, count, NULL);
    CU_ASSERT(H5Dwrite(x, H5T_NATIVE_DOUBLE, mem, sx, H5P_DEFAULT, buf) >= 0);
    H5Sclose(mem);
    free(buf);
  }
  H5Dclose(x);
  H5Sclose(sx);
  H5Pclose(dcpl);
  if (shape_case == SHAPE_OVERFLOW_Y) {
    /* y (40, 2^58): rows * columns does not fit in int64 */
    hsize_t dy[2] = {rows, (hsize_t)1 << 58}, cy[2] = {1, (hsize_t)1 << 20};
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, 2, cy);
    hid_t sy = H5Screate_simple(2, dy, NULL);
    hid_t y = H5Dcreate2(f, "y", H5T_NATIVE_DOUBLE, sy, H5P_DEFAULT, p, H5P_DEFAULT);
    CU_ASSERT_FATAL(y >= 0);
    H5Dclose(y);
    H5Sclose(sy);
    H5Pclose(p);
  } else {
    double *yv = malloc(rows * sizeof *yv);
    for (hsize_t i = 0; i < rows; ++i) yv[i] = cos((double)i);
    hsize_t dy[1] = {rows};
    h5_put(f, "y", 1, dy, H5T_NATIVE_DOUBLE, yv);
    free(yv);
  }
  H5Fclose(f);
}

static int load_shape_file(const char *path) {
  write_shape_file(path);
  return load_hdf5(path);
}

static int load_huge_teacher(const char *arg) {
  (void)arg;
  isw_teacher_opts o = {.n_train = 100000000, .n_test = 10, .x_dim = 1000000, .teacher_width = 4, .noise = 0.1};
  isw_dataset *d = NULL;
  int rc = isw_data_teacher(&d, &o, 1, 1);
  isw_data_destroy(&d);
  return rc;
}

static void test_declared_shapes_are_bounded(void) {
  char p[800];
  snprintf(p, sizeof p, "%s", tmp_file("shape.h5"));
  char limit[64];
  snprintf(limit, sizeof limit, "more than %lld values", (long long)ISW_DATA_MAX_VALUES);
  shape_case = SHAPE_HUGE_X; /* 2^39 values declared, nothing stored */
  expect_bounded_error(load_shape_file, p, limit, "X declared (2^20, 2^19)");
  shape_case = SHAPE_OVERFLOW_Y; /* 40 x 2^58 overflows int64 */
  expect_bounded_error(load_shape_file, p, limit, "y declared (40, 2^58)");
  shape_case = SHAPE_UNWRITTEN_X; /* 64 MiB declared in a file of a few kB */
  expect_bounded_error(load_shape_file, p, "stores only 0 of", "X (2^18, 32) never written");
  shape_case = SHAPE_PART_CHUNKED_X;
  expect_bounded_error(load_shape_file, p, "stores only 262144 of", "X (2^18, 32) one chunk written");
  shape_case = SHAPE_PART_DEFLATE_X;
  expect_bounded_error(load_shape_file, p, "1 of its 64 chunks", "compressed X, one chunk of 64 written");
  /* the rule does not refuse compressed data that is all there */
  shape_case = SHAPE_FULL_DEFLATE;
  write_shape_file(p);
  isw_dataset *d = NULL;
  int rc = isw_data_hdf5(&d, p, 0.25, 1, 1);
  CU_ASSERT(rc == 0 && d && d->n_train == 30 && d->d == 3);
  if (rc) printf("\n  compressed, fully written file refused: %s", isw_error_message());
  isw_data_destroy(&d);
  remove(p);
  /* the teacher's sizes are bounded the same way (n_train x x_dim = 1e14 values) */
  expect_bounded_error(load_huge_teacher, "teacher", "n_train * x_dim", "teacher 1e8 rows x 1e6 features");
  isw_error_clear();
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"digits: 1797 rows, 10 classes, seeded split, training-statistics scaling", test_digits_loads_and_splits},
      {"digits: a malformed file is a usage error naming file and line", test_digits_malformed},
      {"data files: ISWEEP_DATA_DIR first, then the source tree, else a clear error", test_locate},
      {"teacher: shapes, determinism, test rows independent of n_train, noise level", test_teacher},
      {"HDF5: integer y classifies; split is a permutation; test rows use training statistics", test_hdf5_classification_split_scaling},
      {"HDF5: float y (n, k) is regression with targets kept", test_hdf5_regression},
      {"HDF5: every malformed file is a usage error naming the file and the problem", test_hdf5_errors},
      {"special files: a FIFO or a device as a data file is refused at once", test_special_data_files},
      {"HDF5: a declared shape is bounded by ISW_DATA_MAX_VALUES and by what the file stores", test_declared_shapes_are_bounded},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "data", cases);
}
