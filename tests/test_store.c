/* test_store.c — the results file: layout, fill values, independent row
 * writes from every rank, refusals that leave files untouched, resume, a file
 * killed mid-run, and dimension scales.  Everything written through the store
 * is read back with plain serial HDF5 calls, not through the store.
 *
 * `test_store --write-sample PATH` (under mpiexec) instead writes a small
 * sample file with every status, plus PATH.bad with a duplicated config id,
 * for tests/check_h5py.py. */
#define _XOPEN_SOURCE 700 /* mknod, S_IFCHR */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/spec.h"
#include "isweep/store.h"
#include "isweep/task.h"
#include "isweep/writer.h"
#include "testutil.h"

extern const char isw_version_string[];
extern const char isw_git_commit[];

/* ---- a hand-built spec: linear-meta (7 configs) and a toy task (5) ------ */

static const isw_param_def toy_params[] = {
    {"act", ISW_PARAM_ENUM, "tanh", 0, 0, "tanh|relu", 0, "activation"},
    {"data_file", ISW_PARAM_STRING, "", 0, 0, NULL, 1, "path of a data file"},
    {"depth", ISW_PARAM_INT, "2", 1, 10, NULL, 0, "layers"},
    {"lr", ISW_PARAM_REAL, "0.1", 0, 1, NULL, 0, "learning rate"},
};
static const isw_column_def toy_scalars[] = {{"final_gap", "a toy scalar", .role = ISW_ROLE_METRIC}};
static const isw_column_def toy_curves[] = {{"train_loss", "toy training loss", .role = ISW_ROLE_LOSS, .split = "train"},
                                            {"test_loss", "toy held-out loss", .role = ISW_ROLE_LOSS, .split = "test"},
                                            {"accuracy", "toy accuracy", .role = ISW_ROLE_ACCURACY, .split = "test"}};
static const isw_task toy_task = {
    .name = "toy",
    .summary = "a task that exists only in this test",
    .params = toy_params,
    .n_params = 4,
    .scalars = toy_scalars,
    .n_scalars = 1,
    .curves = toy_curves,
    .n_curves = 3,
};

enum { C0 = 7, T0 = 4, C1 = 5, T1 = 2 };
static const char *const toy_acts[2] = {"tanh", "relu"};
static const char *const toy_files[C1] = {"/data/a.npz", "/data/bb.npz", "", "/d/c.npz",
                                          "/a/long/path/to/some/data/file/number/five.npz"};

typedef struct {
  isw_spec spec;
  isw_spec_group groups[2];
  isw_config cfg0[C0], cfg1[C1];
  int64_t iters0[T0], iters1[T1];
  char path[64], text[256], canonical[512];
} test_spec;

static const char spec_text[] =
    "[sweep]\ntasks = linear-meta, toy\nseeds = 0:6\n[linear-meta]\nwidths = 16,32,64\n";
static const char spec_canonical[] =
    "linear-meta.query = 8\nlinear-meta.seeds = 0,1,2,3,4,5,6\nlinear-meta.support = 64\n"
    "sweep.seed = 20231\nsweep.tasks = linear-meta,toy\ntoy.act = tanh,relu\n";

static uint64_t test_id(int g, int i) { return 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + (uint64_t)g * 1000003u; }

/* Fill ts with the two-group spec; canonical text `canon` (NULL: the
 * default).  -1 when linear-meta is not registered. */
static int make_spec(test_spec *ts, const char *canon) {
  memset(ts, 0, sizeof *ts);
  const isw_task *lm = isw_task_find("linear-meta");
  if (!lm) return -1;
  snprintf(ts->path, sizeof ts->path, "tests/store-spec.ini");
  snprintf(ts->text, sizeof ts->text, "%s", spec_text);
  snprintf(ts->canonical, sizeof ts->canonical, "%s", canon ? canon : spec_canonical);
  const int64_t it0[T0] = {0, 1, 2, 5}, it1[T1] = {0, 10};
  memcpy(ts->iters0, it0, sizeof it0);
  memcpy(ts->iters1, it1, sizeof it1);
  for (int i = 0; i < C0; ++i) {
    isw_config *c = &ts->cfg0[i];
    c->task = lm;
    c->width = 16 << (i % 3);
    c->train_iters = 2 + i;
    c->seed = i;
    for (int k = 0; k < lm->n_params; ++k)
      c->p[k].num = lm->params[k].type == ISW_PARAM_INT ? 10 + k + i : 0.1 * (k + 1) + 0.01 * i;
    c->test_iters = ts->iters0;
    c->n_test = T0;
    c->sweep_seed = 20231;
    c->id = test_id(0, i);
    c->group = 0;
    c->row = i;
  }
  for (int i = 0; i < C1; ++i) {
    isw_config *c = &ts->cfg1[i];
    c->task = &toy_task;
    c->width = 8 + i;
    c->train_iters = 3;
    c->seed = 100 + i;
    c->p[0].num = i % 2;
    c->p[0].str = toy_acts[i % 2];
    c->p[1].str = toy_files[i];
    c->p[2].num = 1 + i;
    c->p[3].num = 0.5 / (i + 1);
    c->test_iters = ts->iters1;
    c->n_test = T1;
    c->sweep_seed = 20231;
    c->id = test_id(1, i);
    c->group = 1;
    c->row = i;
  }
  ts->groups[0] = (isw_spec_group){lm, ts->iters0, T0, ts->cfg0, C0};
  ts->groups[1] = (isw_spec_group){&toy_task, ts->iters1, T1, ts->cfg1, C1};
  ts->spec.path = ts->path;
  ts->spec.text = ts->text;
  ts->spec.canonical = ts->canonical;
  ts->spec.output = NULL;
  ts->spec.sweep_seed = 20231;
  ts->spec.groups = ts->groups;
  ts->spec.n_groups = 2;
  return 0;
}

/* ---- deterministic row contents ----------------------------------------- */

static double val(int g, int row, int k) { return 1.0 + 100.0 * g + row + 0.125 * k; }

/* Group 0 row 3 diverged: NaN rho, scalar 1 and curve point (0, 2). */
static int is_nan_row(int g, int row) { return g == 0 && row == 3; }

typedef struct {
  isw_result r;
  double scalars[16];
  double curves[16 * 8];
} test_result;

static void make_result(test_result *tr, const isw_task *t, int g, int row, int T) {
  memset(tr, 0, sizeof *tr);
  isw_result *r = &tr->r;
  r->status = is_nan_row(g, row) ? ISW_ST_DIVERGED : ISW_ST_OK;
  if (is_nan_row(g, row)) snprintf(r->message, sizeof r->message, "non-finite loss at step %d", 812);
  r->rho = is_nan_row(g, row) ? NAN : val(g, row, 1);
  r->n_params = 1000 * g + row;
  r->train_seconds = 0.5 + row;
  r->eval_seconds = 0.25 + row;
  r->scalars = tr->scalars;
  r->curves = tr->curves;
  for (int k = 0; k < t->n_scalars; ++k) tr->scalars[k] = val(g, row, 10 + k);
  for (int k = 0; k < t->n_curves; ++k)
    for (int j = 0; j < T; ++j) tr->curves[k * T + j] = val(g, row, 100 + k * T + j);
  if (is_nan_row(g, row)) {
    tr->scalars[1] = NAN;
    tr->curves[2] = NAN;
  }
}

static void host_name(char *buf, size_t n, int rank) { snprintf(buf, n, "host-%d", rank); }

#define MAX_ENTRIES 64 /* 2 groups x at most 8 rows x a begin and a finish */

/* Rank 0 (the only rank that writes) writes, as if rank `row % size` ran
 * it, every row with row < upto (begun and finished) and begins the rows in
 * [upto, begin_upto): all in one batch, in reverse order, the finish of a
 * row after its begin (as they arrive from a rank).  Returns the first error. */
static int write_rows(isw_store *s, const test_spec *ts, int upto, int begin_upto) {
  int rank = 0, size = 1, n = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank != 0) return 0;
  static test_result tr[MAX_ENTRIES];
  static char hosts[MAX_ENTRIES][32];
  isw_store_entry e[MAX_ENTRIES];
  for (int g = ts->spec.n_groups - 1; g >= 0; --g) {
    const isw_spec_group *sg = &ts->spec.groups[g];
    for (int row = sg->n_configs - 1; row >= 0; --row) {
      if (row >= begin_upto) continue;
      host_name(hosts[n], sizeof hosts[n], row % size);
      e[n] = (isw_store_entry){.kind = ISW_STORE_BEGIN, .g = g, .row = row, .rank = row % size,
                               .host = hosts[n], .start_time = 1.7e9 + row};
      ++n;
      if (row >= upto) continue;
      make_result(&tr[n], sg->task, g, row, sg->n_test);
      e[n] = (isw_store_entry){.kind = ISW_STORE_FINISHED, .g = g, .row = row, .result = &tr[n].r};
      ++n;
    }
  }
  return isw_store_write_batch(s, e, n);
}

/* ---- serial read-back helpers ------------------------------------------- */

static hid_t open_ro(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT(f >= 0);
  return f;
}

static int read_f64(hid_t f, const char *grp, const char *name, double *out) {
  char p[256];
  snprintf(p, sizeof p, "/%s/%s", grp, name);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
  if (d < 0) return -1;
  herr_t e = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Dclose(d);
  return e < 0 ? -1 : 0;
}

static int read_i64(hid_t f, const char *grp, const char *name, int64_t *out) {
  char p[256];
  snprintf(p, sizeof p, "/%s/%s", grp, name);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
  if (d < 0) return -1;
  herr_t e = H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Dclose(d);
  return e < 0 ? -1 : 0;
}

static int read_u64(hid_t f, const char *grp, const char *name, uint64_t *out) {
  char p[256];
  snprintf(p, sizeof p, "/%s/%s", grp, name);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
  if (d < 0) return -1;
  herr_t e = H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Dclose(d);
  return e < 0 ? -1 : 0;
}

/* Status column through its own enum type into int8. */
static int read_status_col(hid_t f, const char *grp, int8_t *out) {
  char p[256];
  snprintf(p, sizeof p, "/%s/status", grp);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t t = H5Dget_type(d);
  herr_t e = H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Tclose(t);
  H5Dclose(d);
  return e < 0 ? -1 : 0;
}

/* Fixed string column: out (rows * width) and its width. */
static int read_str(hid_t f, const char *grp, const char *name, char *out, size_t *width) {
  char p[256];
  snprintf(p, sizeof p, "/%s/%s", grp, name);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t t = H5Dget_type(d);
  *width = H5Tget_size(t);
  herr_t e = H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Tclose(t);
  H5Dclose(d);
  return e < 0 ? -1 : 0;
}

/* Attribute `name` of object `obj` (a path) as a NUL-terminated string. */
static int attr_text(hid_t f, const char *obj, const char *name, char *out, size_t n) {
  hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  size_t size = H5Tget_size(t);
  char *buf = calloc(size + 1, 1);
  herr_t e = H5Aread(a, t, buf);
  snprintf(out, n, "%s", buf);
  free(buf);
  H5Tclose(t);
  H5Aclose(a);
  return e < 0 ? -1 : 0;
}

static int64_t attr_int(hid_t f, const char *obj, const char *name) {
  int64_t v = -999;
  hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) return -999;
  if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0) v = -999;
  H5Aclose(a);
  return v;
}

/* Size, mtime and an FNV-1a hash of the file's bytes: equal when untouched. */
typedef struct {
  long long size, mtime_ns;
  uint64_t hash;
  int ok;
} fingerprint;

static fingerprint file_fingerprint(const char *path) {
  fingerprint fp = {0, 0, 1469598103934665603ull, 0};
  struct stat st;
  if (stat(path, &st) != 0) return fp;
  fp.size = (long long)st.st_size;
  fp.mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  FILE *in = fopen(path, "rb");
  if (!in) return fp;
  int c;
  while ((c = fgetc(in)) != EOF) fp.hash = (fp.hash ^ (uint64_t)c) * 1099511628211ull;
  fclose(in);
  fp.ok = 1;
  return fp;
}

static int same_fingerprint(fingerprint a, fingerprint b) {
  return a.ok && b.ok && a.size == b.size && a.mtime_ns == b.mtime_ns && a.hash == b.hash;
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out;
  char buf[65536];
  size_t n;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok ? 0 : -1;
}

/* Remove a flat temporary directory (rank 0, after a barrier). */
static void remove_dir(const char *dir) {
  MPI_Barrier(MPI_COMM_WORLD);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static int world_rank(void) {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

static int world_size(void) {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

static const isw_store_meta test_meta = {"isweep run --test", 0, NULL};

/* Create `path` from ts and write rows (see write_rows), then close.  0 or an error. */
static int make_file(const char *path, const test_spec *ts, int upto) {
  isw_store *s = NULL;
  int err = isw_store_create(&s, path, 1, &ts->spec, &test_meta, MPI_COMM_WORLD);
  if (!err) err = write_rows(s, ts, upto, upto);
  int cerr = isw_store_close(&s);
  return err ? err : cerr;
}

/* Check rows [0, upto) of every group hold what write_rows wrote and rows
 * beyond hold the fill values (status `rest`, rank -1 or the writer when
 * begun).  Serial reads. */
static void check_rows(hid_t f, const test_spec *ts, int upto, int begin_upto, int size) {
  for (int g = 0; g < ts->spec.n_groups; ++g) {
    const isw_spec_group *sg = &ts->spec.groups[g];
    const isw_task *t = sg->task;
    const int C = sg->n_configs, T = sg->n_test;
    int8_t st[8];
    double rho[8], tr[8], ev[8], start[8], sc[8], cv[8 * 8];
    int64_t np[8], rk[8];
    char msg[8 * ISW_MESSAGE_LEN], host[8 * ISW_HOST_LEN];
    size_t wmsg = 0, whost = 0;
    CU_ASSERT_EQUAL_FATAL(read_status_col(f, t->name, st), 0);
    CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, "rho", rho), 0);
    CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, "train_seconds", tr), 0);
    CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, "eval_seconds", ev), 0);
    CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, "start_time", start), 0);
    CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, "n_params", np), 0);
    CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, "rank", rk), 0);
    CU_ASSERT_EQUAL_FATAL(read_str(f, t->name, "message", msg, &wmsg), 0);
    CU_ASSERT_EQUAL_FATAL(read_str(f, t->name, "host", host, &whost), 0);
    CU_ASSERT_EQUAL(wmsg, ISW_MESSAGE_LEN);
    CU_ASSERT_EQUAL(whost, ISW_HOST_LEN);
    for (int row = 0; row < C; ++row) {
      test_result want;
      make_result(&want, t, g, row, T);
      int done = row < upto, begun = row < begin_upto;
      if (done) {
        CU_ASSERT_EQUAL(st[row], (int8_t)want.r.status);
        CU_ASSERT(is_nan_row(g, row) ? isnan(rho[row]) : rho[row] == want.r.rho);
        CU_ASSERT_EQUAL(np[row], want.r.n_params);
        CU_ASSERT_EQUAL(tr[row], want.r.train_seconds);
        CU_ASSERT_EQUAL(ev[row], want.r.eval_seconds);
        CU_ASSERT_STRING_EQUAL(msg + (size_t)row * wmsg, want.r.message);
      } else { /* only the filled columns say anything; the other cells are unwritten */
        CU_ASSERT_EQUAL(st[row], begun ? ISW_ST_RUNNING : ISW_ST_PENDING);
        CU_ASSERT_EQUAL(np[row], -1);
      }
      if (begun) {
        char h[32];
        host_name(h, sizeof h, row % size);
        CU_ASSERT_EQUAL(rk[row], row % size);
        CU_ASSERT_EQUAL(start[row], 1.7e9 + row);
        CU_ASSERT_STRING_EQUAL(host + (size_t)row * whost, h);
      } else {
        CU_ASSERT_EQUAL(rk[row], -1);
      }
    }
    for (int k = 0; k < t->n_scalars; ++k) {
      CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, t->scalars[k].name, sc), 0);
      for (int row = 0; row < C; ++row) {
        test_result want;
        make_result(&want, t, g, row, T);
        if (row < upto) CU_ASSERT(isnan(want.scalars[k]) ? isnan(sc[row]) : sc[row] == want.scalars[k]);
      }
    }
    for (int k = 0; k < t->n_curves; ++k) {
      CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, t->curves[k].name, cv), 0);
      for (int row = 0; row < C; ++row) {
        test_result want;
        make_result(&want, t, g, row, T);
        for (int j = 0; j < T; ++j) {
          double w = want.curves[k * T + j], got = cv[row * T + j];
          if (row < upto) CU_ASSERT(isnan(w) ? isnan(got) : got == w);
        }
      }
    }
  }
}

/* The grid columns, config ids and test_iters of every group. */
static void check_grid(hid_t f, const test_spec *ts) {
  for (int g = 0; g < ts->spec.n_groups; ++g) {
    const isw_spec_group *sg = &ts->spec.groups[g];
    const isw_task *t = sg->task;
    int64_t v[8], it[8];
    uint64_t id[8];
    double x[8];
    char s[8 * 256];
    size_t w = 0;
    CU_ASSERT_EQUAL_FATAL(read_u64(f, t->name, "config_id", id), 0);
    CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, "test_iters", it), 0);
    for (int j = 0; j < sg->n_test; ++j) CU_ASSERT_EQUAL(it[j], sg->test_iters[j]);
    for (int i = 0; i < sg->n_configs; ++i) CU_ASSERT_EQUAL(id[i], sg->configs[i].id);
    CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, "width", v), 0);
    for (int i = 0; i < sg->n_configs; ++i) CU_ASSERT_EQUAL(v[i], sg->configs[i].width);
    CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, "train_iters", v), 0);
    for (int i = 0; i < sg->n_configs; ++i) CU_ASSERT_EQUAL(v[i], sg->configs[i].train_iters);
    CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, "seed", v), 0);
    for (int i = 0; i < sg->n_configs; ++i) CU_ASSERT_EQUAL(v[i], sg->configs[i].seed);
    for (int k = 0; k < t->n_params; ++k) {
      const isw_param_def *pd = &t->params[k];
      if (pd->type == ISW_PARAM_INT) {
        CU_ASSERT_EQUAL_FATAL(read_i64(f, t->name, pd->name, v), 0);
        for (int i = 0; i < sg->n_configs; ++i) CU_ASSERT_EQUAL(v[i], (int64_t)sg->configs[i].p[k].num);
      } else if (pd->type == ISW_PARAM_REAL) {
        CU_ASSERT_EQUAL_FATAL(read_f64(f, t->name, pd->name, x), 0);
        for (int i = 0; i < sg->n_configs; ++i) CU_ASSERT_EQUAL(x[i], sg->configs[i].p[k].num);
      } else {
        CU_ASSERT_EQUAL_FATAL(read_str(f, t->name, pd->name, s, &w), 0);
        CU_ASSERT_EQUAL(w, pd->type == ISW_PARAM_ENUM ? 32u : 256u);
        for (int i = 0; i < sg->n_configs; ++i)
          CU_ASSERT_NSTRING_EQUAL(s + (size_t)i * w, sg->configs[i].p[k].str, w);
      }
    }
  }
}

static const char *const common_cols[] = {"config_id", "width", "train_iters", "seed", "status",
                                          "message", "rank", "host", "start_time", "train_seconds",
                                          "eval_seconds", "rho", "n_params", "test_iters"};
enum { N_COMMON = sizeof common_cols / sizeof common_cols[0] };

/* ---- tests --------------------------------------------------------------- */

static void test_create_write_reopen(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/results.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  int err = isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD);
  CU_ASSERT_EQUAL_FATAL(err, 0);
  /* rank 0 alone writes: a collective call in a row write would hang the others */
  CU_ASSERT_EQUAL(write_rows(s, &ts, 99, 99), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  CU_ASSERT_PTR_NULL(s);

  hid_t f = open_ro(path);
  check_grid(f, &ts);
  check_rows(f, &ts, 99, 99, world_size());
  char buf[512];
  CU_ASSERT_EQUAL(attr_int(f, "/", "schema_version"), ISW_SCHEMA_VERSION);
  CU_ASSERT_EQUAL(attr_int(f, "/", "runs"), 1);
  CU_ASSERT_EQUAL(attr_int(f, "/", "mpi_size"), world_size());
  CU_ASSERT_EQUAL(attr_int(f, "/", "sweep_seed"), 20231);
  attr_text(f, "/", "spec_text", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, spec_text);
  attr_text(f, "/", "spec_canonical", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, spec_canonical);
  attr_text(f, "/", "spec_path", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "tests/store-spec.ini");
  attr_text(f, "/", "command_line", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "isweep run --test");
  attr_text(f, "/", "isweep_version", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, isw_version_string);
  attr_text(f, "/", "git_commit", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, isw_git_commit);
  attr_text(f, "/", "hdf5_version", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "1.10.8");
  CU_ASSERT_EQUAL(attr_text(f, "/", "mpi_version", buf, sizeof buf), 0);
  CU_ASSERT(strlen(buf) > 0 && strchr(buf, '\n') == NULL);
  CU_ASSERT_EQUAL(attr_text(f, "/", "blas_info", buf, sizeof buf), 0);
  CU_ASSERT(strncmp(buf, "OpenBLAS", 8) == 0);
  attr_text(f, "/", "start_time", buf, sizeof buf);
  CU_ASSERT(strlen(buf) == 20 && buf[10] == 'T' && buf[19] == 'Z');
  attr_text(f, "/", "end_time", buf, sizeof buf);
  CU_ASSERT(strlen(buf) == 20 && buf[10] == 'T' && buf[19] == 'Z');
  attr_text(f, "/linear-meta", "task", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "linear-meta");
  attr_text(f, "/toy", "summary", buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, toy_task.summary);
  CU_ASSERT_EQUAL(attr_int(f, "/linear-meta", "n_configs"), C0);
  CU_ASSERT_EQUAL(attr_int(f, "/toy", "n_configs"), C1);
  H5Fclose(f);
  remove_dir(dir);
}

/* Every row dataset chunked by ISW_STORE_CHUNK_ROWS rows with an unlimited
 * first dimension (test_iters contiguous), allocated early, no filters, a
 * description, config_id on dim 0, test_iters on dim 1 of curves; the types
 * the schema names. */
static void test_layout_types_and_scales(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/layout.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 0), 0);
  /* chunks: a power of two of rows covering the group, from 64 to 256 */
  CU_ASSERT_EQUAL(isw_store_chunk_rows(1), 64);
  CU_ASSERT_EQUAL(isw_store_chunk_rows(64), 64);
  CU_ASSERT_EQUAL(isw_store_chunk_rows(65), 128);
  CU_ASSERT_EQUAL(isw_store_chunk_rows(200), 256);
  CU_ASSERT_EQUAL(isw_store_chunk_rows(1000000), ISW_STORE_CHUNK_ROWS);
  hid_t f = open_ro(path);
  for (int g = 0; g < 2; ++g) {
    const isw_task *t = ts.spec.groups[g].task;
    hid_t grp = H5Gopen2(f, t->name, H5P_DEFAULT);
    CU_ASSERT_EQUAL(attr_int(f, t->name, "chunk_rows"), ISW_STORE_CHUNK_MIN_ROWS);
    hid_t ids = H5Dopen2(grp, "config_id", H5P_DEFAULT), its = H5Dopen2(grp, "test_iters", H5P_DEFAULT);
    CU_ASSERT(H5DSis_scale(ids) > 0);
    CU_ASSERT(H5DSis_scale(its) > 0);
    const char *names[64];
    int n = 0, n_curve0 = 0;
    for (int k = 0; k < N_COMMON; ++k) names[n++] = common_cols[k];
    for (int k = 0; k < t->n_params; ++k) names[n++] = t->params[k].name;
    for (int k = 0; k < t->n_scalars; ++k) names[n++] = t->scalars[k].name;
    n_curve0 = n;
    for (int k = 0; k < t->n_curves; ++k) names[n++] = t->curves[k].name;
    hsize_t nlinks = 0;
    H5G_info_t info;
    if (H5Gget_info(grp, &info) >= 0) nlinks = info.nlinks;
    CU_ASSERT_EQUAL(nlinks, (hsize_t)n); /* nothing else in the group */
    for (int k = 0; k < n; ++k) {
      hid_t d = H5Dopen2(grp, names[k], H5P_DEFAULT);
      CU_ASSERT_FATAL(d >= 0);
      hid_t dcpl = H5Dget_create_plist(d);
      H5D_alloc_time_t at;
      H5Pget_alloc_time(dcpl, &at);
      int rows_ds = strcmp(names[k], "test_iters") != 0;
      hsize_t chunk[2] = {0, 0}, maxd[2] = {0, 0};
      if (rows_ds) {
        CU_ASSERT_EQUAL(H5Pget_layout(dcpl), H5D_CHUNKED);
        CU_ASSERT(H5Pget_chunk(dcpl, 2, chunk) >= 1 && chunk[0] == (hsize_t)ISW_STORE_CHUNK_MIN_ROWS);
        /* filled: status (pending), rank and n_params (-1); never filled: the rest */
        H5D_fill_time_t ft;
        H5Pget_fill_time(dcpl, &ft);
        int filled = !strcmp(names[k], "status") || !strcmp(names[k], "rank") || !strcmp(names[k], "n_params");
        CU_ASSERT_EQUAL(ft, filled ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER);
        hid_t msp = H5Dget_space(d);
        H5Sget_simple_extent_dims(msp, NULL, maxd);
        CU_ASSERT(maxd[0] == H5S_UNLIMITED);
        H5Sclose(msp);
      } else {
        CU_ASSERT_EQUAL(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
      }
      CU_ASSERT_EQUAL(at, H5D_ALLOC_TIME_EARLY);
      CU_ASSERT_EQUAL(H5Pget_nfilters(dcpl), 0);
      CU_ASSERT(H5Aexists(d, "description") > 0);
      int is_scale = strcmp(names[k], "config_id") == 0 || strcmp(names[k], "test_iters") == 0;
      if (!is_scale) CU_ASSERT(H5DSis_attached(d, ids, 0) > 0);
      if (k >= n_curve0) CU_ASSERT(H5DSis_attached(d, its, 1) > 0);
      hid_t sp = H5Dget_space(d);
      hsize_t dims[2] = {0, 0};
      int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
      if (k >= n_curve0) {
        CU_ASSERT(rank == 2 && dims[0] == (hsize_t)ts.spec.groups[g].n_configs &&
                  dims[1] == (hsize_t)ts.spec.groups[g].n_test);
      } else if (strcmp(names[k], "test_iters") == 0) {
        CU_ASSERT(rank == 1 && dims[0] == (hsize_t)ts.spec.groups[g].n_test);
      } else {
        CU_ASSERT(rank == 1 && dims[0] == (hsize_t)ts.spec.groups[g].n_configs);
      }
      H5Sclose(sp);
      H5Pclose(dcpl);
      H5Dclose(d);
    }
    /* types */
    struct { const char *name; H5T_class_t cls; size_t size; } want[] = {
        {"config_id", H5T_INTEGER, 8}, {"width", H5T_INTEGER, 8},   {"status", H5T_ENUM, 1},
        {"message", H5T_STRING, ISW_MESSAGE_LEN}, {"rank", H5T_INTEGER, 4},
        {"host", H5T_STRING, ISW_HOST_LEN},       {"start_time", H5T_FLOAT, 8},
        {"n_params", H5T_INTEGER, 8},             {"rho", H5T_FLOAT, 8},
        {"test_iters", H5T_INTEGER, 8}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; ++k) {
      hid_t d = H5Dopen2(grp, want[k].name, H5P_DEFAULT);
      hid_t ty = H5Dget_type(d);
      CU_ASSERT_EQUAL(H5Tget_class(ty), want[k].cls);
      CU_ASSERT_EQUAL(H5Tget_size(ty), want[k].size);
      if (want[k].cls == H5T_STRING) {
        CU_ASSERT_EQUAL(H5Tget_strpad(ty), H5T_STR_NULLTERM);
        CU_ASSERT(H5Tis_variable_str(ty) == 0);
      }
      if (strcmp(want[k].name, "config_id") == 0) CU_ASSERT_EQUAL(H5Tget_sign(ty), H5T_SGN_NONE);
      if (strcmp(want[k].name, "width") == 0) CU_ASSERT_EQUAL(H5Tget_sign(ty), H5T_SGN_2);
      if (want[k].cls == H5T_ENUM) {
        CU_ASSERT_EQUAL(H5Tget_nmembers(ty), 5);
        for (int v = 0; v < 5; ++v) {
          char nm[32] = "";
          int8_t x = (int8_t)v;
          H5Tenum_nameof(ty, &x, nm, sizeof nm);
          CU_ASSERT_STRING_EQUAL(nm, isw_status_name((isw_status)v));
        }
        hid_t base = H5Tget_super(ty);
        CU_ASSERT(H5Tequal(base, H5T_STD_I8LE) > 0);
        H5Tclose(base);
      }
      H5Tclose(ty);
      H5Dclose(d);
    }
    H5Dclose(its);
    H5Dclose(ids);
    H5Gclose(grp);
  }
  H5Fclose(f);
  remove_dir(dir);
}

/* A fresh file holds fill values only; the store reads statuses back. */
static void test_fill_values_and_read_status(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/fill.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  uint8_t st[8];
  memset(st, 9, sizeof st);
  int rank = world_rank();
  CU_ASSERT_EQUAL(isw_store_read_status(s, 0, st), rank == 0 ? 0 : ISW_EINTERNAL); /* rank 0 holds the file */
  if (rank == 0)
    for (int i = 0; i < C0; ++i) CU_ASSERT_EQUAL(st[i], ISW_ST_PENDING);
  CU_ASSERT_EQUAL(write_rows(s, &ts, 99, 99), 0);
  if (rank == 0) {
    CU_ASSERT_EQUAL(isw_store_read_status(s, 0, st), 0);
    for (int i = 0; i < C0; ++i) /* written just now */
      CU_ASSERT_EQUAL(st[i], is_nan_row(0, i) ? ISW_ST_DIVERGED : ISW_ST_OK);
    /* set_status overwrites only the status */
    CU_ASSERT_EQUAL(isw_store_set_status(s, 1, 0, ISW_ST_PENDING), 0);
  } else { /* the other ranks hold no file: rows reach it through rank 0 (writer.c) */
    test_result tr;
    make_result(&tr, ts.spec.groups[0].task, 0, 0, T0);
    CU_ASSERT_EQUAL(isw_store_write_row(s, 0, 0, &tr.r), ISW_EINTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "rank 0 alone"));
  }
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);

  hid_t f = open_ro(path);
  int8_t s1[8];
  double rho[8];
  CU_ASSERT_EQUAL(read_status_col(f, "toy", s1), 0);
  CU_ASSERT_EQUAL(s1[0], ISW_ST_PENDING);
  CU_ASSERT_EQUAL(s1[1], ISW_ST_OK);
  CU_ASSERT_EQUAL(read_f64(f, "toy", "rho", rho), 0);
  CU_ASSERT_EQUAL(rho[0], val(1, 0, 1)); /* data kept */
  H5Fclose(f);

  snprintf(path, sizeof path, "%s/empty.h5", dir);
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 0), 0);
  f = open_ro(path);
  check_rows(f, &ts, 0, 0, world_size()); /* pending, NaN, -1, empty strings */
  H5Fclose(f);
  remove_dir(dir);
}

static void test_create_refuses_existing_and_force_overwrites(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/exists.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 99), 0);
  fingerprint before = file_fingerprint(path);
  CU_ASSERT(before.ok);
  isw_store *s = NULL;
  int err = isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD);
  CU_ASSERT_EQUAL(err, ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "output file exists"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "--force"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), path));
  MPI_Barrier(MPI_COMM_WORLD);
  CU_ASSERT(same_fingerprint(before, file_fingerprint(path)));

  /* --force: a fresh file, every row pending again */
  err = isw_store_create(&s, path, 1, &ts.spec, &test_meta, MPI_COMM_WORLD);
  CU_ASSERT_EQUAL_FATAL(err, 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  hid_t f = open_ro(path);
  check_rows(f, &ts, 0, 0, world_size());
  CU_ASSERT_EQUAL(attr_int(f, "/", "runs"), 1);
  H5Fclose(f);
  remove_dir(dir);
}

static void test_create_bad_paths(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  snprintf(path, sizeof path, "%s/no/such/dir/r.h5", dir);
  CU_ASSERT_EQUAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "does not exist"));
  CU_ASSERT_PTR_NULL(strchr(isw_error_message(), '\n'));
  CU_ASSERT_EQUAL(isw_store_create(&s, path, 1, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_EQUAL(isw_store_create(&s, dir, 1, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "is a directory"));
  snprintf(path, sizeof path, "%s/plain", dir);
  if (world_rank() == 0) {
    FILE *o = fopen(path, "w");
    if (o) fclose(o);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  snprintf(path, sizeof path, "%s/plain/r.h5", dir); /* a file used as a directory */
  CU_ASSERT_EQUAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(s);
  remove_dir(dir);
}

/* Resume refusals: each leaves the file byte-identical. */
static void test_open_refusals_leave_file_untouched(void) {
  const char *dir = isw_test_tmpdir();
  char path[600], other[600];
  snprintf(path, sizeof path, "%s/resume.h5", dir);
  test_spec ts, changed;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 3), 0);
  fingerprint before = file_fingerprint(path);
  isw_store *s = NULL;

  /* another canonical text: line 3 differs */
  CU_ASSERT_EQUAL_FATAL(make_spec(&changed, "linear-meta.query = 8\nlinear-meta.seeds = 0,1,2,3,4,5,6\n"
                      "linear-meta.support = 32\nsweep.seed = 20231\n"), 0);
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &changed.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "canonical line 3"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "'linear-meta.support = 64' in the file"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "'linear-meta.support = 32' in this spec"));
  /* a spec with one more line */
  char longer[600];
  snprintf(longer, sizeof longer, "%sz.extra = 1\n", spec_canonical);
  CU_ASSERT_EQUAL_FATAL(make_spec(&changed, longer), 0);
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &changed.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "(end of text) in the file"));
  /* same text, other config ids */
  CU_ASSERT_EQUAL_FATAL(make_spec(&changed, NULL), 0);
  changed.cfg1[2].id ^= 1;
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &changed.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "of the spec is not in the file"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "group /toy"));
  /* same text, a group with fewer configs */
  CU_ASSERT_EQUAL_FATAL(make_spec(&changed, NULL), 0);
  changed.groups[0].n_configs = C0 - 1;
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &changed.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "not 6 rows"));
  MPI_Barrier(MPI_COMM_WORLD);
  CU_ASSERT(same_fingerprint(before, file_fingerprint(path)));

  /* not a file / not HDF5 / HDF5 without our attribute / other schema */
  snprintf(other, sizeof other, "%s/missing.h5", dir);
  CU_ASSERT_EQUAL(isw_store_open(&s, other, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "cannot resume"));
  snprintf(other, sizeof other, "%s/text.h5", dir);
  if (world_rank() == 0) {
    FILE *o = fopen(other, "w");
    if (o) {
      fputs("not hdf5 at all\n", o);
      fclose(o);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  CU_ASSERT_EQUAL(isw_store_open(&s, other, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "not an isweep results file (not an HDF5 file)"));
  snprintf(other, sizeof other, "%s/plain.h5", dir);
  if (world_rank() == 0) {
    hid_t f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  fingerprint plain = file_fingerprint(other);
  CU_ASSERT_EQUAL(isw_store_open(&s, other, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "no schema_version attribute"));
  MPI_Barrier(MPI_COMM_WORLD);
  CU_ASSERT(same_fingerprint(plain, file_fingerprint(other)));
  snprintf(other, sizeof other, "%s/schema99.h5", dir);
  if (world_rank() == 0) {
    CU_ASSERT_EQUAL(copy_file(path, other), 0);
    hid_t f = H5Fopen(other, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
    int v = 99;
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  CU_ASSERT_EQUAL(isw_store_open(&s, other, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "schema version 99, this isweep reads 1"));
  CU_ASSERT_PTR_NULL(s);
  remove_dir(dir);
}

/* Resume with the same spec: runs and mpi_size updated, done rows kept,
 * the rest written now. */
static void test_open_resumes_and_bumps_runs(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/resume.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 3), 0);
  isw_store *s = NULL;
  isw_store_meta meta = {"isweep run --resume", 5, NULL};
  CU_ASSERT_EQUAL_FATAL(isw_store_open(&s, path, &ts.spec, &meta, MPI_COMM_WORLD), 0);
  uint8_t st[8];
  if (world_rank() == 0) {
    CU_ASSERT_EQUAL(isw_store_read_status(s, 0, st), 0);
    for (int i = 0; i < C0; ++i)
      CU_ASSERT_EQUAL(st[i], i >= 3 ? ISW_ST_PENDING : ISW_ST_OK);
  }
  CU_ASSERT_EQUAL(write_rows(s, &ts, 99, 99), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  hid_t f = open_ro(path);
  check_rows(f, &ts, 99, 99, world_size());
  check_grid(f, &ts);
  char buf[64];
  CU_ASSERT_EQUAL(attr_int(f, "/", "runs"), 2);
  CU_ASSERT_EQUAL(attr_int(f, "/", "mpi_size"), 5);
  attr_text(f, "/", "end_time", buf, sizeof buf);
  CU_ASSERT_EQUAL(strlen(buf), 20u);
  H5Fclose(f);
  CU_ASSERT_EQUAL_FATAL(isw_store_open(&s, path, &ts.spec, NULL, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  f = open_ro(path);
  CU_ASSERT_EQUAL(attr_int(f, "/", "runs"), 3);
  CU_ASSERT_EQUAL(attr_int(f, "/", "mpi_size"), world_size());
  H5Fclose(f);
  remove_dir(dir);
}

/* A copy taken while the file is open (as if the job were killed) opens,
 * reads every row written so far, and can be resumed. */
static void test_killed_mid_run_file_opens(void) {
  const char *dir = isw_test_tmpdir();
  char path[600], copy[600];
  snprintf(path, sizeof path, "%s/live.h5", dir);
  snprintf(copy, sizeof copy, "%s/killed.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL(write_rows(s, &ts, 4, 6), 0); /* rows 0-3 done, 4-5 running, 6 pending */
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    CU_ASSERT_EQUAL(copy_file(path, copy), 0);
    unsigned char sb[12] = {0};
    FILE *in = fopen(copy, "rb");
    CU_ASSERT_FATAL(in != NULL);
    CU_ASSERT_EQUAL(fread(sb, 1, sizeof sb, in), sizeof sb);
    fclose(in);
    /* superblock version 2: rank 0's sec2 open sets its write-access flag (byte
     * 11), which only superblock 3 enforces, so the killed file opens below */
    CU_ASSERT_EQUAL(sb[8], 2);
    hid_t f = open_ro(copy);
    if (f >= 0) {
      check_rows(f, &ts, 4, 6, world_size());
      check_grid(f, &ts);
      char buf[64] = "x";
      attr_text(f, "/", "end_time", buf, sizeof buf);
      CU_ASSERT_STRING_EQUAL(buf, "");
      H5Fclose(f);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* resume the killed copy while the original is still open */
  isw_store *r = NULL;
  CU_ASSERT_EQUAL(isw_store_open(&r, copy, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  uint8_t st[8];
  if (r && world_rank() == 0) {
    CU_ASSERT_EQUAL(isw_store_read_status(r, 0, st), 0);
    CU_ASSERT_EQUAL(st[0], ISW_ST_OK);
    CU_ASSERT_EQUAL(st[3], ISW_ST_DIVERGED);
    CU_ASSERT_EQUAL(st[4], ISW_ST_RUNNING);
    CU_ASSERT_EQUAL(st[6], ISW_ST_PENDING);
  }
  CU_ASSERT_EQUAL(isw_store_close(&r), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  remove_dir(dir);
}

/* A canonical text far beyond the 64 KiB a 1.0-format attribute holds. */
static void test_large_spec_text(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/large.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  size_t n = 200000;
  char *big = malloc(n + 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  for (size_t i = 0; i < n; ++i) big[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
  big[n] = '\0';
  ts.spec.canonical = big;
  ts.spec.text = big;
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 2), 0);
  isw_store *s = NULL;
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  hid_t f = open_ro(path);
  char *back = malloc(n + 16);
  CU_ASSERT_EQUAL(attr_text(f, "/", "spec_canonical", back, n + 16), 0);
  CU_ASSERT_STRING_EQUAL(back, big);
  H5Fclose(f);
  free(back);
  free(big);
  remove_dir(dir);
}

/* ---- issue 8: special paths, leftover temporaries, MPI failures --------- */

/* Nothing but a regular file is replaced: a private device node (char 1,3,
 * made here, never /dev/null), a FIFO, a symbolic link; each left as it was. */
static void test_create_never_replaces_special_files(void) {
  const char *dir = isw_test_tmpdir();
  char dev[600], fifo[600], link_[600], target[600];
  snprintf(dev, sizeof dev, "%s/devnode", dir);
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  snprintf(link_, sizeof link_, "%s/link.h5", dir);
  snprintf(target, sizeof target, "%s/target.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  int have_dev = 0;
  if (world_rank() == 0) {
    have_dev = mknod(dev, S_IFCHR | 0600, makedev(1, 3)) == 0;
    if (!have_dev) printf("\n  (cannot mknod here: %s; device case not run)\n", strerror(errno));
    CU_ASSERT_EQUAL(mkfifo(fifo, 0600), 0);
  }
  MPI_Bcast(&have_dev, 1, MPI_INT, 0, MPI_COMM_WORLD);
  CU_ASSERT_EQUAL_FATAL(make_file(target, &ts, 2), 0);
  if (world_rank() == 0) CU_ASSERT_EQUAL(symlink(target, link_), 0);
  MPI_Barrier(MPI_COMM_WORLD);
  fingerprint tfp = file_fingerprint(target);
  const char *paths[3] = {dev, fifo, link_};
  const char *why[3] = {"is not a regular file but a character device", "is not a regular file but a FIFO",
                        "is a symbolic link"};
  for (int i = have_dev ? 0 : 1; i < 3; ++i) {
    struct stat before, after;
    CU_ASSERT_EQUAL_FATAL(lstat(paths[i], &before), 0);
    for (int force = 0; force <= 1; ++force) {
      isw_store *s = NULL;
      CU_ASSERT_EQUAL(isw_store_create(&s, paths[i], force, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EUSAGE);
      CU_ASSERT_PTR_NULL(s);
      CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), why[i]));
      CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), paths[i]));
      MPI_Barrier(MPI_COMM_WORLD);
      CU_ASSERT_EQUAL_FATAL(lstat(paths[i], &after), 0);
      CU_ASSERT_EQUAL(after.st_mode, before.st_mode);
      CU_ASSERT_EQUAL(after.st_ino, before.st_ino);
      CU_ASSERT_EQUAL(after.st_rdev, before.st_rdev);
    }
  }
  CU_ASSERT(same_fingerprint(tfp, file_fingerprint(target))); /* the link's target untouched too */
  remove_dir(dir);
}

/* Temporaries of killed creations: removed when provably ours and dead,
 * noted and left alone otherwise; the creation leaves none of its own. */
static void test_leftover_temporaries(void) {
  const char *dir = isw_test_tmpdir();
  char path[600], host[256] = "", p[4][900], note[4096] = "";
  snprintf(path, sizeof path, "%s/r.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  gethostname(host, sizeof host - 1);
  long dead = 0;
  if (world_rank() == 0) {
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    dead = (long)c;
  }
  MPI_Bcast(&dead, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  snprintf(p[0], sizeof p[0], "%s/.r.h5.isweep-tmp.%s.%ld", dir, host, dead);           /* ours, dead */
  snprintf(p[1], sizeof p[1], "%s/.r.h5.isweep-tmp.%s.%ld", dir, host, (long)getppid()); /* alive */
  snprintf(p[2], sizeof p[2], "%s/.r.h5.isweep-tmp.node-b.invalid.%ld", dir, dead);     /* other host */
  snprintf(p[3], sizeof p[3], "%s/.r.h5.isweep-tmp.%s.%ld", dir, host, dead + 1000000); /* not a file */
  FILE *notes = NULL;
  if (world_rank() == 0) {
    for (int i = 0; i < 3; ++i) {
      FILE *o = fopen(p[i], "w");
      CU_ASSERT_PTR_NOT_NULL_FATAL(o);
      fputs("half a file", o);
      fclose(o);
    }
    CU_ASSERT_EQUAL(mkfifo(p[3], 0600), 0);
    notes = tmpfile();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  isw_store_meta meta = {"isweep run --test", 0, notes};
  isw_store *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_store_create(&s, path, 0, &ts.spec, &meta, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  if (world_rank() == 0) {
    rewind(notes);
    size_t k = fread(note, 1, sizeof note - 1, notes);
    note[k] = '\0';
    fclose(notes);
    CU_ASSERT_NOT_EQUAL(access(p[0], F_OK), 0);
    for (int i = 1; i < 4; ++i) CU_ASSERT_EQUAL(access(p[i], F_OK), 0);
    char want[1000];
    snprintf(want, sizeof want, "removed %s", p[0]);
    CU_ASSERT_PTR_NOT_NULL(strstr(note, want));
    snprintf(want, sizeof want, "left %s alone: the process that made it is still running", p[1]);
    CU_ASSERT_PTR_NOT_NULL(strstr(note, want));
    snprintf(want, sizeof want, "left %s alone: it was made on another host", p[2]);
    CU_ASSERT_PTR_NOT_NULL(strstr(note, want));
    snprintf(want, sizeof want, "left %s alone: it is not a regular file", p[3]);
    CU_ASSERT_PTR_NOT_NULL(strstr(note, want));
    DIR *d = opendir(dir); /* nothing else: the creation's own temporary is gone */
    int others = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
      if (strstr(e->d_name, ".isweep-tmp.") && strstr(e->d_name, ".isweep-tmp.node-b") == NULL) {
        char full[1200];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        others += strcmp(full, p[1]) != 0 && strcmp(full, p[3]) != 0;
      }
    if (d) closedir(d);
    CU_ASSERT_EQUAL(others, 0);
  }
  remove_dir(dir);
}

/* MPI failures inside the store are returned as ISW_EMPI on every rank, never
 * an abort: the test's MPI_Bcast/MPI_Allreduce (PMPI wrappers below) fail on
 * the store's own communicator while `mpi_faults` is set, through the
 * communicator's error handler as a real MPI error would. */
static int mpi_faults = 0;

static int store_comm(MPI_Comm comm) {
  char name[MPI_MAX_OBJECT_NAME] = "";
  int len = 0;
  return PMPI_Comm_get_name(comm, name, &len) == MPI_SUCCESS && strcmp(name, ISW_STORE_COMM_NAME) == 0;
}

int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  if (mpi_faults && store_comm(comm)) {
    PMPI_Comm_call_errhandler(comm, MPI_ERR_OTHER);
    return MPI_ERR_OTHER;
  }
  return PMPI_Bcast(buf, count, type, root, comm);
}

int MPI_Allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  if (mpi_faults && store_comm(comm)) {
    PMPI_Comm_call_errhandler(comm, MPI_ERR_OTHER);
    return MPI_ERR_OTHER;
  }
  return PMPI_Allreduce(in, out, count, type, op, comm);
}

static void test_mpi_failures_are_returned(void) {
  const char *dir = isw_test_tmpdir();
  char path[600], other[600];
  snprintf(path, sizeof path, "%s/mpi.h5", dir);
  snprintf(other, sizeof other, "%s/mpi-new.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(make_file(path, &ts, 3), 0);
  fingerprint before = file_fingerprint(path);
  isw_store *s = NULL;
  mpi_faults = 1;
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EMPI);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "MPI: MPI_ERR_OTHER"));
  CU_ASSERT_EQUAL(isw_store_create(&s, other, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), ISW_EMPI);
  CU_ASSERT_PTR_NULL(s);
  mpi_faults = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  CU_ASSERT(same_fingerprint(before, file_fingerprint(path)));
  /* a failure at close still closes the file (no crash at MPI_Finalize), first cause kept */
  CU_ASSERT_EQUAL_FATAL(isw_store_open(&s, path, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  mpi_faults = 1;
  CU_ASSERT_EQUAL(isw_store_close(&s), ISW_EMPI);
  mpi_faults = 0;
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "broadcasting end_time failed"));
  MPI_Barrier(MPI_COMM_WORLD);
  hid_t f = open_ro(path);
  CU_ASSERT(f >= 0);
  if (f >= 0) H5Fclose(f);
  CU_ASSERT_EQUAL(isw_store_open(&s, path, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  remove_dir(dir);
}

static void test_argument_checks(void) {
  CU_ASSERT_EQUAL(isw_store_close(NULL), 0);
  isw_store *none = NULL;
  CU_ASSERT_EQUAL(isw_store_close(&none), 0);
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/args.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  test_result tr;
  make_result(&tr, ts.spec.groups[0].task, 0, 0, T0);
  CU_ASSERT_EQUAL(isw_store_write_row(s, 2, 0, &tr.r), ISW_EINTERNAL);
  CU_ASSERT_EQUAL(isw_store_write_row(s, 0, C0, &tr.r), ISW_EINTERNAL);
  CU_ASSERT_EQUAL(isw_store_begin_row(s, 0, -1, 0, "h", 0.0), ISW_EINTERNAL);
  CU_ASSERT_EQUAL(isw_store_set_status(s, 0, 0, (isw_status)7), ISW_EINTERNAL);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  remove_dir(dir);
}

/* ---- the writer (writer.c) ------------------------------------------------ */

/* Every rank hands its rows (row % size == rank) to the writer, last row
 * first: rows < upto begun and finished, rows in [upto, begin_upto) only
 * begun.  Returns the first error. */
static int send_rows(isw_writer *w, const test_spec *ts, int upto, int begin_upto) {
  int rank = world_rank(), size = world_size(), err = 0;
  char host[32];
  host_name(host, sizeof host, rank);
  for (int g = ts->spec.n_groups - 1; g >= 0 && !err; --g) {
    const isw_spec_group *sg = &ts->spec.groups[g];
    for (int row = sg->n_configs - 1; row >= 0 && !err; --row) {
      if (row % size != rank || row >= begin_upto) continue;
      err = isw_writer_begin(w, g, row, rank, host, 1.7e9 + row);
      if (err || row >= upto) continue;
      test_result tr;
      make_result(&tr, sg->task, g, row, sg->n_test);
      err = isw_writer_finished(w, g, row, &tr.r);
    }
  }
  return err;
}

/* Rows from every rank, in batches of 3 rows, land as rank 0 writing them
 * itself would leave them: the same reader check as for the store. */
static void test_writer_batches_rows_of_every_rank(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/writer.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  isw_writer *w = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL_FATAL(isw_writer_create(&w, s, &ts.spec, 3, 1e6, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL(send_rows(w, &ts, 5, 7), 0); /* rows 0-4 done, 5-6 running, 7 pending */
  double seconds = -1;
  CU_ASSERT_EQUAL(isw_writer_finish(&w, &seconds), 0);
  CU_ASSERT_PTR_NULL(w);
  CU_ASSERT(world_rank() == 0 ? seconds > 0 : seconds == 0);
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  hid_t f = open_ro(path);
  check_rows(f, &ts, 5, 7, world_size());
  check_grid(f, &ts);
  H5Fclose(f);
  remove_dir(dir);
}

/* A batch that cannot be written (a row with an invalid status) is rank
 * 0's error at finish, raises the stop flag, and leaves the file opening
 * with nothing of that batch in it. */
static void test_writer_failure_stops_the_sweep(void) {
  const char *dir = isw_test_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/writer-fail.h5", dir);
  test_spec ts;
  CU_ASSERT_EQUAL_FATAL(make_spec(&ts, NULL), 0);
  isw_store *s = NULL;
  isw_writer *w = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_store_create(&s, path, 0, &ts.spec, &test_meta, MPI_COMM_WORLD), 0);
  CU_ASSERT_EQUAL_FATAL(isw_writer_create(&w, s, &ts.spec, 1000, 1e6, MPI_COMM_WORLD), 0);
  int rank = world_rank();
  test_result tr;
  make_result(&tr, ts.spec.groups[0].task, 0, rank, T0);
  tr.r.status = (isw_status)9;
  CU_ASSERT_EQUAL(isw_writer_finished(w, 0, rank, &tr.r), 0); /* sent; checked by the batch */
  int err = isw_writer_finish(&w, NULL);
  CU_ASSERT_EQUAL(err, rank == 0 ? ISW_EINTERNAL : 0);
  if (rank == 0) {
    CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "invalid status 9"));
    CU_ASSERT(isw_stop_requested());
  }
  CU_ASSERT_EQUAL(isw_store_close(&s), 0);
  hid_t f = open_ro(path);
  check_rows(f, &ts, 0, 0, world_size()); /* nothing written */
  H5Fclose(f);
  remove_dir(dir);
}

/* ---- the sample file for check_h5py.py ----------------------------------- */

static int write_sample(const char *path) {
  test_spec ts;
  if (make_spec(&ts, NULL) != 0) return 1;
  int rank = world_rank(), size = world_size(), err = 0;
  isw_store *s = NULL;
  err = isw_store_create(&s, path, 1, &ts.spec, &test_meta, MPI_COMM_WORLD);
  /* every status: 0,1,6 ok; 2 diverged; 3 failed; 4 running; 5 pending; rank 0
   * writes them all, as if rank row % size had run each */
  for (int g = 0; g < 2 && !err && rank == 0; ++g) {
    const isw_spec_group *sg = &ts.spec.groups[g];
    for (int row = 0; row < sg->n_configs && !err; ++row) {
      if (row == 5) continue;
      err = isw_store_begin_row(s, g, row, row % size, "sample-host", 1.7e9 + row);
      if (err || row == 4) continue;
      test_result tr;
      make_result(&tr, sg->task, g, row, sg->n_test);
      if (row == 2) tr.r.status = ISW_ST_DIVERGED;
      if (row == 3) {
        tr.r.status = ISW_ST_FAILED;
        snprintf(tr.r.message, sizeof tr.r.message, "failed on purpose");
      }
      err = isw_store_write_row(s, g, row, &tr.r);
    }
  }
  int cerr = isw_store_close(&s);
  if (!err) err = cerr;
  if (err) fprintf(stderr, "rank %d: %s\n%s", rank, isw_error_message(), isw_error_traceback());
  MPI_Barrier(MPI_COMM_WORLD);
  if (!err && rank == 0) { /* PATH.bad: config id of row 1 duplicated */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s.bad", path);
    uint64_t ids[C0];
    hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID;
    err = copy_file(path, bad) != 0 || (f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT)) < 0 ||
          (d = H5Dopen2(f, "/linear-meta/config_id", H5P_DEFAULT)) < 0 ||
          H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) < 0;
    ids[1] = ids[0];
    if (!err) err = H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) < 0;
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    if (err) fprintf(stderr, "cannot write %s\n", bad);
  }
  int any = 0;
  MPI_Allreduce(&err, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return any ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write-sample") == 0) {
    MPI_Init(&argc, &argv);
    int rc = write_sample(argv[2]);
    MPI_Finalize();
    return rc;
  }
  static const isw_test_case cases[] = {
      {"rank 0 writes every row in one batch, in any order; a serial reader sees them all",
       test_create_write_reopen},
      {"row datasets are chunked and growable, unfiltered, typed, described, with dimension scales",
       test_layout_types_and_scales},
      {"a new file holds fill values; read_status and set_status work on rank 0, nowhere else",
       test_fill_values_and_read_status},
      {"create refuses an existing file untouched; overwrite starts fresh",
       test_create_refuses_existing_and_force_overwrites},
      {"create rejects missing directories and directory paths", test_create_bad_paths},
      {"resume refuses another spec, ids, shapes, non-isweep files; file untouched",
       test_open_refusals_leave_file_untouched},
      {"resume keeps done rows and bumps runs", test_open_resumes_and_bumps_runs},
      {"a file copied mid-run (killed) opens, reads and resumes", test_killed_mid_run_file_opens},
      {"a spec text beyond 64 KiB is stored and compared", test_large_spec_text},
      {"bad rows and statuses are refused; close is NULL-safe", test_argument_checks},
      {"a device node, FIFO or symbolic link is never replaced, even with overwrite",
       test_create_never_replaces_special_files},
      {"leftover temporaries: removed when ours and dead, noted and left otherwise",
       test_leftover_temporaries},
      {"MPI failures in create, open and close return ISW_EMPI on every rank",
       test_mpi_failures_are_returned},
      {"the writer: rows of every rank, in any order, in batches of 3, land complete",
       test_writer_batches_rows_of_every_rank},
      {"the writer: a batch that cannot be written is rank 0's error and stops the sweep (last case)",
       test_writer_failure_stops_the_sweep},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "store", cases);
}
