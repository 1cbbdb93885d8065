/* data.h — supervised data sets for the task families: the synthetic
 * `teacher` regression, the shipped `digits` classification set, and a
 * user's HDF5 file.  Each comes back split into training and test rows,
 * ready to use (features standardised where that is the rule).
 *
 * Shapes: Ntr = training rows, Nte = test rows, D = features, K = outputs
 * (classes for classification, target components for regression), Hd =
 * hidden width of the teacher network.  Matrices are row-major, one sample
 * per row.
 *
 * Randomness comes only from isw_rng streams keyed by (sweep_seed, data_id):
 * ISW_STREAM_DATA (teacher weights, training rows), ISW_STREAM_TEST_DATA
 * (teacher test rows), ISW_STREAM_SPLIT (train/test split of a real set).
 * The same key gives the same data on any rank.
 *
 * Errors: a missing, unreadable or malformed file, mismatched shapes,
 * non-finite values, bad labels or an empty split are ISW_EUSAGE with a
 * one-line message naming the file and the problem; out of memory is
 * ISW_ENOMEM.  Nothing here touches MPI.  HDF5 files are opened read-only
 * with the default (serial) file access property list. */
#ifndef ISWEEP_DATA_H
#define ISWEEP_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Most values one array of a data set may hold (X, y, the teacher's
 * weights): 2^28 doubles = 2 GiB.  Larger declared sizes are ISW_EUSAGE
 * before anything is allocated. */
#define ISW_DATA_MAX_VALUES ((int64_t)1 << 28)

typedef struct {
  char name[256];      /* "teacher", "digits" or the HDF5 file path */
  int classification;  /* 1: integer labels, softmax cross-entropy; 0: real targets, MSE */
  int64_t n_train;     /* Ntr >= 1 */
  int64_t n_test;      /* Nte >= 1 */
  int64_t d;           /* D: features */
  int64_t k;           /* K: classes (classification) or target components (regression) */
  double *x_train;     /* (Ntr, D) */
  double *x_test;      /* (Nte, D) */
  double *y_train;     /* (Ntr, K) regression targets; NULL for classification */
  double *y_test;      /* (Nte, K) regression targets; NULL for classification */
  int32_t *label_train;/* (Ntr) class labels in 0..K-1; NULL for regression */
  int32_t *label_test; /* (Nte) class labels in 0..K-1; NULL for regression */
} isw_dataset;

/* The synthetic regression set (SCIENCE.md, `teacher`). */
typedef struct {
  int64_t n_train, n_test; /* rows of each split, >= 1 */
  int64_t x_dim;           /* D: inputs x ~ N(0, I_D) */
  int64_t teacher_width;   /* Hd: hidden units of the teacher */
  double noise;            /* std of the Gaussian noise added to every target */
} isw_teacher_opts;

/* Teacher: draw A (Hd, D) ~ N(0, 1/D), a1 (Hd) ~ N(0, 1/4) and a2 (Hd) ~ N(0, 1/Hd) once,
 * then y = a2ᵀ tanh(A x + a1) + noise·ε for every row, K = 1.  The teacher
 * and the training rows come from ISW_STREAM_DATA, the test rows from
 * ISW_STREAM_TEST_DATA, so the test rows do not depend on n_train.
 * Features are used as drawn (already standard).  n_train·x_dim, n_test·x_dim
 * and teacher_width·x_dim above ISW_DATA_MAX_VALUES are ISW_EUSAGE. */
int isw_data_teacher(isw_dataset **out, const isw_teacher_opts *o, uint64_t sweep_seed,
                     uint64_t data_id);

/* Digits: read the shipped digits.csv.gz (located with isw_data_locate),
 * then split and standardise as isw_data_digits_file does. */
int isw_data_digits(isw_dataset **out, double test_fraction, uint64_t sweep_seed,
                    uint64_t data_id);
/* Digits from an explicit path: a gzip'd (or plain) CSV with 1797 rows of 64
 * integer pixel counts in 0..16 followed by the label 0..9.  Split with a
 * seeded permutation: the first round(test_fraction · n) rows of it are the
 * test set; each feature is standardised with the training rows' mean and
 * standard deviation (a constant feature is only centred).  K = 10. */
int isw_data_digits_file(isw_dataset **out, const char *path, double test_fraction,
                         uint64_t sweep_seed, uint64_t data_id);

/* A user's HDF5 file: datasets "X" (n, d) and "y" (n) — or (n, k) for
 * multi-output regression — at the root.  y of integer type means
 * classification (labels 0..K-1, K = max label + 1 <= 10000); y of float type means
 * regression.  X may be any numeric type (read as double).  Split and
 * feature standardisation as for digits; regression targets are kept as
 * stored.  Rejected: a missing or non-regular file, a missing dataset,
 * wrong ranks, X and y with different row counts, X or y with more than
 * ISW_DATA_MAX_VALUES values, a dataset that does not store every value it
 * declares (unwritten storage or chunks), a non-finite value, a negative
 * label, an empty split.  Memory is bounded by the limit and by the file's
 * content, never by a declared shape alone. */
int isw_data_hdf5(isw_dataset **out, const char *path, double test_fraction,
                  uint64_t sweep_seed, uint64_t data_id);

/* Write into `path` (capacity n) the location of the shipped data file
 * `name`: $ISWEEP_DATA_DIR/name when that variable is set and the file is
 * readable there, else ISW_SOURCE_DIR/data/name.  ISW_EUSAGE naming every
 * place looked when the file is in none of them. */
int isw_data_locate(char *path, size_t n, const char *name);

/* Rows of the test split for n samples: round(test_fraction · n).  The
 * training split is the rest. */
int64_t isw_data_n_test(int64_t n, double test_fraction);

/* NULL-safe; NULLs the pointer. */
void isw_data_destroy(isw_dataset **d);

#endif
