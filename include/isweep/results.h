/* results.h — reading a results file (serial HDF5, read-only), for the
 * end-of-run summary (summary.c) and resume.  Never writes; store.c owns writing.
 *
 * Every failure caused by the file (missing, not HDF5, foreign, another
 * schema version, a missing or misshapen dataset or attribute, unreadable
 * data) is ISW_EUSAGE with a one-line message naming the file and object, so
 * the commands exit with status 2.  A file whose sweep is still running (or
 * was killed) opens: its rows are read as they stand. */
#ifndef ISWEEP_RESULTS_H
#define ISWEEP_RESULTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct isw_results isw_results;

/* What a dataset of a task group holds, as far as the reader cares. */
typedef enum {
  ISW_RCOL_INT,    /* integer class */
  ISW_RCOL_FLOAT,  /* floating point */
  ISW_RCOL_STRING, /* fixed-length string */
  ISW_RCOL_ENUM,   /* enum (the status column) */
  ISW_RCOL_OTHER   /* anything else (variable-length strings, compounds, ...) */
} isw_results_kind;

/* One dataset of a task group, listed by isw_results_columns. */
typedef struct {
  char name[128];
  int ndims;       /* rank of its dataspace (1 = per config, 2 = curve) */
  long dims[2];    /* first two extents; dims[1] = 0 when ndims < 2 */
  isw_results_kind kind;
  size_t str_len;  /* ISW_RCOL_STRING: bytes per value */
} isw_results_column;

/* Open `path` read-only; ISW_EUSAGE with a clear message when it is missing,
 * not HDF5, or not an isweep file of this schema version. */
int isw_results_open(isw_results **out, const char *path);
void isw_results_close(isw_results **r);
/* The path given to isw_results_open. */
const char *isw_results_path(const isw_results *r);

/* Read the whole dataset "GROUP/NAME" converted to the memory type; `n` is
 * the expected number of elements (ISW_EUSAGE when it differs or the dataset
 * is missing). */
int isw_results_read_f64(isw_results *r, const char *group, const char *name, double *out, long n);
int isw_results_read_i64(isw_results *r, const char *group, const char *name, int64_t *out, long n);
int isw_results_read_u64(isw_results *r, const char *group, const char *name, uint64_t *out, long n);
int isw_results_read_u8(isw_results *r, const char *group, const char *name, uint8_t *out, long n);
/* Read a fixed-length string dataset of n values into out (n, width): value
 * i at out + i * width, truncated to width - 1 bytes and NUL-terminated. */
int isw_results_read_str(isw_results *r, const char *group, const char *name, char *out,
                         size_t width, long n);

/* Parts of a dataset of C rows, (C) or (C, W) (W = 1 for (C)), for readers
 * whose memory must not grow with the file (the summary).  ISW_EUSAGE when
 * the dataset is missing, of another shape or unreadable.
 * range: rows start .. start + count - 1 into out (count, W).
 * rows:  the k rows rows[0] < rows[1] < ... into out (k, W); only the blocks
 *        of ISW_RESULTS_BLOCK rows that hold one are read, and the memory
 *        beyond out is one block.
 * Strings as isw_results_read_str (width bytes each, NUL-terminated). */
#define ISW_RESULTS_BLOCK 4096
int isw_results_range_f64(isw_results *r, const char *group, const char *name, double *out, long C, long W,
                          long start, long count);
int isw_results_range_u8(isw_results *r, const char *group, const char *name, uint8_t *out, long C, long start,
                         long count);
int isw_results_range_str(isw_results *r, const char *group, const char *name, char *out, size_t width, long C,
                          long start, long count);
int isw_results_rows_f64(isw_results *r, const char *group, const char *name, double *out, long C, long W,
                         const long *rows, long k);
int isw_results_rows_str(isw_results *r, const char *group, const char *name, char *out, size_t width, long C,
                         const long *rows, long k);

/* Nonzero when "GROUP/NAME" (GROUP NULL or "/": the root) exists. */
int isw_results_exists(isw_results *r, const char *group, const char *name);
/* The names of the root's groups, in name order: *names (n) of heap strings,
 * freed with isw_results_free_names. */
int isw_results_groups(isw_results *r, char ***names, int *n);
void isw_results_free_names(char ***names, int n);
/* Every dataset of `group`, in name order; *cols (n) is the caller's to free. */
int isw_results_columns(isw_results *r, const char *group, isw_results_column **cols, int *n);

/* A string attribute of object `obj` ("/" for the root, or a group name),
 * fixed- or variable-length; *out is a heap copy, caller frees.  ISW_EUSAGE
 * when it is missing or not a string. */
int isw_results_attr_str(isw_results *r, const char *obj, const char *name, char **out);
/* An integer attribute; ISW_EUSAGE when missing or not numeric. */
int isw_results_attr_i64(isw_results *r, const char *obj, const char *name, int64_t *out);
/* A numeric attribute read as double; ISW_EUSAGE when missing or not numeric. */
int isw_results_attr_f64(isw_results *r, const char *obj, const char *name, double *out);
/* An integer list attribute: *out (n) is the caller's to free (NULL when empty). */
int isw_results_attr_i64v(isw_results *r, const char *obj, const char *name, int64_t **out, int *n);
/* Nonzero when attribute `name` of `obj` exists (obj may be "GROUP/NAME"). */
int isw_results_has_attr(isw_results *r, const char *obj, const char *name);

#endif
