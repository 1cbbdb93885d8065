/* error.h — error codes, the ISW_CALL/ISW_CHECK traceback macros, and the
 * thread-local error message.
 *
 * Contract: every fallible function returns int (0 = fine) and declares
 * `int err = 0;` plus one `cleanup:` label where it releases what it owns.
 * ISW_CHECK states a precondition: on failure it records a formatted message
 * and jumps to cleanup.  ISW_CALL propagates a non-zero code and appends a
 * "  at file:line (func)" frame, so a failure prints a short traceback.
 * Only main() decides between exit and MPI_Abort. */
#ifndef ISWEEP_ERROR_H
#define ISWEEP_ERROR_H

#include <stddef.h>

enum {
  ISW_OK = 0,
  ISW_EINTERNAL = 1, /* a bug: a broken invariant */
  ISW_EUSAGE = 2,    /* bad user input (spec, options, files): exit status 2 */
  ISW_EIO = 3,       /* file system or HDF5 failure */
  ISW_EMPI = 4,      /* MPI failure */
  ISW_ENOMEM = 5,    /* allocation failure */
  ISW_ENUMERIC = 6,  /* LAPACK/ScaLAPACK reported a failure */
  ISW_EINTERRUPT = 7 /* stopped by a signal */
};

/* Record an error message (printf-style) for the calling thread, replacing
 * any previous one, and start a new traceback at file:line. Returns code. */
int isw_error_raise(int code, const char *file, int line, const char *func,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Append a traceback frame "  at file:line (func)". */
void isw_error_trace(const char *file, int line, const char *func);
/* The current message ("" if none) and the traceback frames. */
const char *isw_error_message(void);
const char *isw_error_traceback(void);
/* Forget the current error. */
void isw_error_clear(void);

#define ISW_CHECK(cond, code, ...)                                            \
  do {                                                                        \
    if (!(cond)) {                                                            \
      err = isw_error_raise((code), __FILE__, __LINE__, __func__, __VA_ARGS__); \
      goto cleanup;                                                           \
    }                                                                         \
  } while (0)

#define ISW_CALL(expr)                                                        \
  do {                                                                        \
    int isw_e_ = (expr);                                                      \
    if (isw_e_) {                                                             \
      isw_error_trace(__FILE__, __LINE__, __func__);                          \
      err = isw_e_;                                                           \
      goto cleanup;                                                           \
    }                                                                         \
  } while (0)

/* Allocate n zeroed elements of type T into p, or fail with ISW_ENOMEM. */
#define ISW_ALLOC(p, n)                                                       \
  do {                                                                        \
    size_t isw_n_ = (size_t)(n);                                              \
    (p) = calloc(isw_n_ ? isw_n_ : 1, sizeof(*(p)));                          \
    ISW_CHECK((p) != NULL, ISW_ENOMEM, "out of memory allocating %zu x %zu bytes", \
              isw_n_, sizeof(*(p)));                                          \
  } while (0)

#endif
