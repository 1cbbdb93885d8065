/* spec.c — the sweep spec: read INI text through libinih with a line-counting
 * reader, check every section, key and value, apply --set overrides, expand
 * the grid into configs with stable identities, and render the canonical text.
 *
 * Owns: the isw_spec and everything it points to.  Must not: touch MPI or the
 * results file, or print.  Every user error is ISW_EUSAGE raised with the one
 * line "FILE:LINE: what is wrong (what is allowed)" ("--set S.K=V: ..." for an
 * override); the first error in processing order is the one reported.
 *
 * Processing order: read (syntax, long lines, keys outside a section,
 * duplicate keys), overrides, sweep.max_configs, sweep.tasks, then every
 * header and key in file order (overrides last): section, key, value; then
 * missing keys, the grid size, the configs and the canonical text.
 *
 * Grid order inside a group (row = position): width outermost, then
 * train_iters, then each task parameter in task->params order, then seed
 * innermost; each axis in the order its values were written. */
#include "isweep/spec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "isweep/error.h"
#include "isweep/rng.h"

extern const char isw_default_spec_text[];

#define DEFAULT_NAME "(default spec)"
#define TOKEN_SHOWN 60 /* characters of a bad token quoted in a message */
#define HARD_LIMIT 100000000 /* values one key may expand to, whatever the limit asked */

/* ---- small helpers ------------------------------------------------------ */

/* A growable string; `oom` latches an allocation failure. */
typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0) {
    b->oom = 1;
    va_end(ap2);
    return;
  }
  if (b->len + (size_t)k + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + (size_t)k + 1) cap *= 2;
    char *t = realloc(b->s, cap);
    if (!t) {
      b->oom = 1;
      va_end(ap2);
      return;
    }
    b->s = t;
    b->cap = cap;
  }
  vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap2);
  va_end(ap2);
  b->len += (size_t)k;
}

static char *dup_range(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Copy [s, s+n) without leading and trailing white space. */
static char *dup_trim(const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) ++s, --n;
  while (n && isspace((unsigned char)s[n - 1])) --n;
  return dup_range(s, n);
}

/* `s` made printable and cut to TOKEN_SHOWN characters, for quoting. */
static void shown(char *buf, size_t n, const char *s) {
  size_t i = 0, max = n - 4 < TOKEN_SHOWN ? n - 4 : TOKEN_SHOWN;
  for (; s[i] && i < max; ++i) buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
  if (s[i]) buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
  buf[i] = '\0';
}

/* Shortest "%.*g" text that reads back as exactly x. */
static void real_text(char *buf, size_t n, double x) {
  for (int p = 1; p <= 17; ++p) {
    snprintf(buf, n, "%.*g", p, x);
    if (strtod(buf, NULL) == x) return;
  }
}

/* A bound for a message: integers plainly, others as %g. */
static void bound_text(char *buf, size_t n, double x) {
  if (fabs(x) < 1e15 && x == floor(x))
    snprintf(buf, n, "%.0f", x);
  else
    real_text(buf, n, x);
}

/* ---- locations and messages -------------------------------------------- */

typedef struct {
  const char *file; /* spec name used in messages */
  int line;         /* 1-based line in the file */
  const char *set;  /* the override "S.K=V", or NULL for a file line */
} loc;

static void loc_text(char *buf, size_t n, loc l) {
  if (l.set) {
    char s[TOKEN_SHOWN + 4];
    shown(s, sizeof s, l.set);
    snprintf(buf, n, "--set %s", s);
  } else {
    snprintf(buf, n, "%s:%d", l.file, l.line);
  }
}

static int usage_at(const char *sfile, int sline, const char *func, loc l, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int usage_at(const char *sfile, int sline, const char *func, loc l, const char *fmt, ...) {
  char where[512], msg[900];
  loc_text(where, sizeof where, l);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return isw_error_raise(ISW_EUSAGE, sfile, sline, func, "%s: %s", where, msg);
}

/* Raise a located usage error and jump to cleanup. */
#define USAGE(l, ...)                                              \
  do {                                                             \
    err = usage_at(__FILE__, __LINE__, __func__, (l), __VA_ARGS__); \
    goto cleanup;                                                  \
  } while (0)

/* ---- value grammar -------------------------------------------------------- */

typedef enum { V_INT, V_REAL, V_ENUM, V_STRING, V_U64 } vtype;

/* What one key accepts. */
typedef struct {
  vtype type;
  double min, max;     /* INT, REAL: inclusive bounds */
  int single;          /* exactly one value, no list or range */
  int whole;           /* STRING: the whole text is one value (commas allowed) */
  int distinct;        /* a repeated value is an error (grid axes) */
  int nonzero;         /* INT: 0 is not allowed */
  int min_open;        /* REAL: min itself is not allowed */
  int maxlen;          /* STRING: longest text */
  const char *choices; /* ENUM: "a|b|c" */
  const char *allowed; /* overrides the generated "(what is allowed)" text */
} vdef;

/* The expanded values of one key. */
typedef struct {
  int n;
  int64_t *iv;     /* (n) INT values; ENUM: choice index */
  double *rv;      /* (n) REAL values */
  const char **sv; /* (n) ENUM and STRING texts, owned by the spec (or by `own`) */
  uint64_t u;      /* U64 value */
} vlist;

/* A value error before it gets a location: "what" and, optionally, a hint
 * replacing the key's generic "(what is allowed)". */
typedef struct {
  char what[400];
  char hint[300];
} verr;

static void vlist_free(vlist *v) {
  free(v->iv);
  free(v->rv);
  free((void *)v->sv);
  memset(v, 0, sizeof *v);
}

static void allowed_text(char *buf, size_t n, const vdef *d) {
  char lo[48], hi[48];
  bound_text(lo, sizeof lo, d->min);
  bound_text(hi, sizeof hi, d->max);
  int unbounded = isinf(d->min) && isinf(d->max);
  if (d->allowed) {
    snprintf(buf, n, "%s", d->allowed);
    return;
  }
  switch (d->type) {
    case V_INT:
      if (d->single)
        snprintf(buf, n, "one integer from %s to %s", lo, hi);
      else if (unbounded)
        snprintf(buf, n, "an integer, a list 1,2,5 or a range 1:40, 1:40:3, 16:4096:x2");
      else
        snprintf(buf, n, "a%s integer from %s to %s, a list 1,2,5 or a range 1:40, 1:40:3, 16:4096:x2",
                 d->nonzero ? " nonzero" : "n", lo, hi);
      return;
    case V_REAL:
      if (d->single)
        snprintf(buf, n, d->min_open ? "one number > %s and <= %s" : "one number from %s to %s", lo, hi);
      else if (unbounded)
        snprintf(buf, n, "a number, a list 0.1,0.5 or a range 0.1:0.5:0.1, 1e-3:1:x10");
      else
        snprintf(buf, n, "a number from %s to %s, a list 0.1,0.5 or a range 0.1:0.5:0.1, 1e-3:1:x10",
                 lo, hi);
      return;
    case V_ENUM: {
      size_t k = (size_t)snprintf(buf, n, "one of ");
      for (const char *c = d->choices; *c && k + 3 < n; ++c) {
        if (*c == '|') {
          buf[k++] = ',';
          buf[k++] = ' ';
        } else {
          buf[k++] = *c;
        }
      }
      buf[k] = '\0';
      if (k < n) snprintf(buf + k, n - k, ", or a comma list of them");
      return;
    }
    case V_STRING:
      if (d->whole || d->single)
        snprintf(buf, n, "one text of at most %d characters", d->maxlen);
      else
        snprintf(buf, n, "a text of at most %d characters, or a comma list of texts", d->maxlen);
      return;
    case V_U64:
      snprintf(buf, n, "one integer from 0 to %" PRIu64, UINT64_MAX);
      return;
  }
}

/* Grow *p (element size sz) to hold at least `need` elements. */
static int grow(void **p, int *cap, int need, size_t sz) {
  if (need <= *cap) return 0;
  int c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  void *t = realloc(*p, (size_t)c * sz);
  if (!t) return isw_error_raise(ISW_ENOMEM, __FILE__, __LINE__, __func__, "out of memory growing a list");
  *p = t;
  *cap = c;
  return 0;
}

static int parse_i64(const char *s, int64_t *v) {
  if (!*s || isspace((unsigned char)*s)) return 0;
  errno = 0;
  char *end = NULL;
  long long x = strtoll(s, &end, 10);
  if (errno || end == s || *end) return 0;
  *v = (int64_t)x;
  return 1;
}

static int parse_real(const char *s, double *v) {
  if (!*s || isspace((unsigned char)*s)) return 0;
  errno = 0;
  char *end = NULL;
  double x = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(x)) return 0;
  *v = x;
  return 1;
}

/* Split a range item "a:b[:c]" into trimmed parts; returns the part count
 * (1 = no ':'), or 0 when there are more than three. parts are heap copies. */
static int split_range(char *parts[3], const char *item) {
  int k = 0;
  const char *p = item;
  for (;;) {
    const char *c = strchr(p, ':');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (k == 3) return 0;
    parts[k] = dup_trim(p, len);
    if (!parts[k]) return -1;
    ++k;
    if (!c) return k;
    p = c + 1;
  }
}

/* Expand one INT item (number or range) onto v. */
static int expand_int_item(int64_t **v, int *n, int *cap, const char *item, int64_t limit, verr *e) {
  int err = 0;
  char *parts[3] = {NULL, NULL, NULL};
  char q[TOKEN_SHOWN + 4];
  shown(q, sizeof q, item);
  int k = split_range(parts, item);
  ISW_CHECK(k >= 0, ISW_ENOMEM, "out of memory splitting a range");
  if (k == 0) {
    snprintf(e->what, sizeof e->what, "bad range '%s'", q);
    err = ISW_EUSAGE;
    goto cleanup;
  }
  int64_t a = 0, b = 0, step = 1;
  int geometric = 0;
  for (int i = 0; i < k; ++i) {
    const char *t = parts[i];
    if (i == 2 && (t[0] == 'x' || t[0] == 'X')) {
      geometric = 1;
      ++t;
    }
    int64_t x = 0;
    if (!parse_i64(t, &x)) {
      char bad[TOKEN_SHOWN + 4];
      shown(bad, sizeof bad, parts[i]);
      if (k == 1)
        snprintf(e->what, sizeof e->what, "bad number '%s'", bad);
      else
        snprintf(e->what, sizeof e->what, "bad number '%s' in range '%s'", bad, q);
      err = ISW_EUSAGE;
      goto cleanup;
    }
    if (i == 0) a = x;
    if (i == 1) b = x;
    if (i == 2) step = x;
  }
  if (k == 1) b = a;
  if (a > b) {
    snprintf(e->what, sizeof e->what, "range '%s' expands to nothing", q);
    snprintf(e->hint, sizeof e->hint, "a range a:b, a:b:k or a:b:xk needs a <= b");
    err = ISW_EUSAGE;
    goto cleanup;
  }
  uint64_t count = 0;
  int whole_span = 0;
  if (geometric) {
    if (step < 2 || a < 1) {
      snprintf(e->what, sizeof e->what, "bad geometric range '%s'", q);
      snprintf(e->hint, sizeof e->hint, "a:b:xk needs a start a >= 1 and an integer factor k >= 2");
      err = ISW_EUSAGE;
      goto cleanup;
    }
    for (int64_t x = a;; x *= step) {
      ++count;
      if (x > b / step) break;
    }
  } else {
    if (step < 1) {
      snprintf(e->what, sizeof e->what, "bad step in range '%s'", q);
      snprintf(e->hint, sizeof e->hint, "a:b:k needs an integer step k >= 1, a:b:xk a factor k >= 2");
      err = ISW_EUSAGE;
      goto cleanup;
    }
    /* count - 1 = span / step; only the whole int64 span with step 1 has
     * 2^64 values, one more than a uint64 holds */
    uint64_t span = (uint64_t)b - (uint64_t)a;
    whole_span = span == UINT64_MAX && step == 1;
    count = whole_span ? UINT64_MAX : span / (uint64_t)step + 1;
  }
  if (whole_span || count > (uint64_t)(limit - *n)) {
    if (whole_span)
      snprintf(e->what, sizeof e->what, "range '%s' expands to 18446744073709551616 values", q);
    else if (k > 1)
      snprintf(e->what, sizeof e->what, "range '%s' expands to %" PRIu64 " values", q, count);
    else
      snprintf(e->what, sizeof e->what, "more than %" PRId64 " values", limit);
    snprintf(e->hint, sizeof e->hint,
             "at most %" PRId64 " values, sweep.max_configs; shorten it or raise sweep.max_configs", limit);
    err = ISW_EUSAGE;
    goto cleanup;
  }
  ISW_CALL(grow((void **)v, cap, *n + (int)count, sizeof **v));
  int64_t x = a;
  for (uint64_t i = 0; i < count; ++i) {
    (*v)[(*n)++] = x;
    if (i + 1 < count) x = geometric ? x * step : (int64_t)((uint64_t)x + (uint64_t)step);
  }
cleanup:
  for (int i = 0; i < 3; ++i) free(parts[i]);
  return err;
}

/* Expand one REAL item (number, a:b:k or a:b:xk) onto v. */
static int expand_real_item(double **v, int *n, int *cap, const char *item, int64_t limit, verr *e) {
  int err = 0;
  char *parts[3] = {NULL, NULL, NULL};
  char q[TOKEN_SHOWN + 4];
  shown(q, sizeof q, item);
  int k = split_range(parts, item);
  ISW_CHECK(k >= 0, ISW_ENOMEM, "out of memory splitting a range");
  if (k == 0) {
    snprintf(e->what, sizeof e->what, "bad range '%s'", q);
    err = ISW_EUSAGE;
    goto cleanup;
  }
  double x[3] = {0, 0, 0};
  int geometric = 0;
  for (int i = 0; i < k; ++i) {
    const char *t = parts[i];
    if (i == 2 && (t[0] == 'x' || t[0] == 'X')) {
      geometric = 1;
      ++t;
    }
    if (!parse_real(t, &x[i])) {
      char bad[TOKEN_SHOWN + 4];
      shown(bad, sizeof bad, parts[i]);
      if (k == 1)
        snprintf(e->what, sizeof e->what, "bad number '%s'", bad);
      else
        snprintf(e->what, sizeof e->what, "bad number '%s' in range '%s'", bad, q);
      err = ISW_EUSAGE;
      goto cleanup;
    }
  }
  if (k == 2) {
    snprintf(e->what, sizeof e->what, "range '%s' of real numbers has no step", q);
    snprintf(e->hint, sizeof e->hint, "a real range needs a step a:b:k or a factor a:b:xk, e.g. 0.1:0.5:0.1 or 1e-3:1:x10");
    err = ISW_EUSAGE;
    goto cleanup;
  }
  double a = x[0], b = k == 1 ? x[0] : x[1], s = x[2];
  if (a > b) {
    snprintf(e->what, sizeof e->what, "range '%s' expands to nothing", q);
    snprintf(e->hint, sizeof e->hint, "a range a:b:k or a:b:xk needs a <= b");
    err = ISW_EUSAGE;
    goto cleanup;
  }
  double count = 1;
  if (k == 3 && geometric) {
    if (!(a > 0) || !(s > 1)) {
      snprintf(e->what, sizeof e->what, "bad geometric range '%s'", q);
      snprintf(e->hint, sizeof e->hint, "a:b:xk needs a start a > 0 and a factor k > 1");
      err = ISW_EUSAGE;
      goto cleanup;
    }
    count = floor(log(b / a) / log(s) + 1e-9) + 1;
  } else if (k == 3) {
    if (!(s > 0)) {
      snprintf(e->what, sizeof e->what, "bad step in range '%s'", q);
      snprintf(e->hint, sizeof e->hint, "a:b:k needs a step k > 0, a:b:xk a factor k > 1");
      err = ISW_EUSAGE;
      goto cleanup;
    }
    count = floor((b - a) / s + 1e-9) + 1;
  }
  if (!(count <= (double)(limit - *n))) {
    if (!isfinite(count))
      snprintf(e->what, sizeof e->what, "range '%s' expands to too many values to count", q);
    else if (count >= 1e15)
      snprintf(e->what, sizeof e->what, "range '%s' expands to about %.3g values", q, count);
    else
      snprintf(e->what, sizeof e->what, "range '%s' expands to %.0f values", q, count);
    snprintf(e->hint, sizeof e->hint,
             "at most %" PRId64 " values, sweep.max_configs; shorten it or raise sweep.max_configs", limit);
    err = ISW_EUSAGE;
    goto cleanup;
  }
  ISW_CALL(grow((void **)v, cap, *n + (int)count, sizeof **v));
  for (int i = 0; i < (int)count; ++i) {
    /* each value computed from a, never accumulated; the end clamped to b */
    double y = k == 1 ? a : geometric ? a * pow(s, i) : a + i * s;
    (*v)[(*n)++] = y > b ? b : y;
  }
cleanup:
  for (int i = 0; i < 3; ++i) free(parts[i]);
  return err;
}

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}
static int cmp_real(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}
static int cmp_str(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Index of `item` among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *item) {
  size_t il = strlen(item);
  for (int idx = 0;; ++idx) {
    const char *bar = strchr(choices, '|');
    size_t cl = bar ? (size_t)(bar - choices) : strlen(choices);
    if (cl == il && strncmp(choices, item, il) == 0) return idx;
    if (!bar) return -1;
    choices = bar + 1;
  }
}

/* The first control character (below 0x20, or 0x7f) of s, or NULL. */
static const char *control_char(const char *s) {
  for (; *s; ++s)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return s;
  return NULL;
}

/* Append a copy of text to spec->strings; *out points at it. */
static int intern(isw_spec *spec, const char *text, size_t n, const char **out) {
  int err = 0;
  char *s = NULL;
  if (spec->n_strings == 0 || (spec->n_strings & (spec->n_strings - 1)) == 0) {
    size_t cap = spec->n_strings ? (size_t)spec->n_strings * 2 : 8;
    char **t = realloc(spec->strings, cap * sizeof *t);
    ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory storing spec strings");
    spec->strings = t;
  }
  s = dup_range(text, n);
  ISW_CHECK(s != NULL, ISW_ENOMEM, "out of memory storing spec strings");
  spec->strings[spec->n_strings++] = s;
  *out = s;
cleanup:
  return err;
}

/* Parse `text` as d describes into *out (which must be zeroed).  Returns 0,
 * ISW_EUSAGE with *e filled (nothing raised), or another raised code.
 * Strings are interned in spec. */
static int parse_value(vlist *out, const vdef *d, const char *text, int64_t limit, isw_spec *spec,
                       verr *e) {
  int err = 0, cap = 0, cap_iv = 0;
  char *item = NULL;
  const void **sorted = NULL;
  char q[TOKEN_SHOWN + 4];
  shown(q, sizeof q, text);
  e->what[0] = e->hint[0] = '\0';
  if (limit > HARD_LIMIT) limit = HARD_LIMIT;
  if (!*text) {
    snprintf(e->what, sizeof e->what, "empty value");
    err = ISW_EUSAGE;
    goto cleanup;
  }
  if (d->type == V_U64) {
    errno = 0;
    char *end = NULL;
    unsigned long long u = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)text[0]) || errno || *end) {
      snprintf(e->what, sizeof e->what, "bad number '%s'", q);
      err = ISW_EUSAGE;
      goto cleanup;
    }
    out->u = (uint64_t)u;
    out->n = 1;
    goto cleanup;
  }
  if (d->type == V_STRING && d->whole) {
    if ((int)strlen(text) > d->maxlen) {
      snprintf(e->what, sizeof e->what, "text '%s' is too long", q);
      err = ISW_EUSAGE;
      goto cleanup;
    }
    if (control_char(text)) {
      snprintf(e->what, sizeof e->what, "text '%s' contains a control character (byte 0x%02x)", q,
               (unsigned)(unsigned char)*control_char(text));
      snprintf(e->hint, sizeof e->hint,
               "a text without control characters such as newlines or tabs; for output, a file name");
      err = ISW_EUSAGE;
      goto cleanup;
    }
    ISW_CALL(grow((void **)&out->sv, &cap, 1, sizeof *out->sv));
    ISW_CALL(intern(spec, text, strlen(text), &out->sv[0]));
    out->n = 1;
    goto cleanup;
  }
  for (const char *p = text;;) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    free(item);
    item = dup_trim(p, len);
    ISW_CHECK(item != NULL, ISW_ENOMEM, "out of memory reading a list");
    if (!*item) {
      snprintf(e->what, sizeof e->what, "empty item in list '%s'", q);
      err = ISW_EUSAGE;
      goto cleanup;
    }
    char qi[TOKEN_SHOWN + 4];
    shown(qi, sizeof qi, item);
    switch (d->type) {
      case V_INT:
        err = expand_int_item(&out->iv, &out->n, &cap, item, limit, e);
        if (err) goto cleanup;
        break;
      case V_REAL:
        err = expand_real_item(&out->rv, &out->n, &cap, item, limit, e);
        if (err) goto cleanup;
        break;
      case V_ENUM:
      case V_STRING: {
        if (out->n >= limit) {
          snprintf(e->what, sizeof e->what, "more than %" PRId64 " values", limit);
          snprintf(e->hint, sizeof e->hint, "at most %" PRId64 " values, sweep.max_configs", limit);
          err = ISW_EUSAGE;
          goto cleanup;
        }
        ISW_CALL(grow((void **)&out->sv, &cap, out->n + 1, sizeof *out->sv));
        if (d->type == V_ENUM) {
          ISW_CALL(grow((void **)&out->iv, &cap_iv, out->n + 1, sizeof *out->iv));
          int found = choice_index(d->choices, item);
          if (found < 0) {
            snprintf(e->what, sizeof e->what, "unknown value '%s'", qi);
            err = ISW_EUSAGE;
            goto cleanup;
          }
          out->iv[out->n] = found;
        } else if ((int)strlen(item) > d->maxlen) {
          snprintf(e->what, sizeof e->what, "text '%s' is too long", qi);
          err = ISW_EUSAGE;
          goto cleanup;
        } else if (control_char(item)) {
          snprintf(e->what, sizeof e->what, "text '%s' contains a control character (byte 0x%02x)", qi,
                   (unsigned)(unsigned char)*control_char(item));
          snprintf(e->hint, sizeof e->hint, "a text without control characters such as newlines or tabs");
          err = ISW_EUSAGE;
          goto cleanup;
        }
        ISW_CALL(intern(spec, item, strlen(item), &out->sv[out->n]));
        out->n++;
        break;
      }
      case V_U64:
        break;
    }
    if (!c) break;
    p = c + 1;
  }
  if (d->single && out->n != 1) {
    snprintf(e->what, sizeof e->what, "'%s' is %d values where one is expected", q, out->n);
    err = ISW_EUSAGE;
    goto cleanup;
  }
  for (int i = 0; i < out->n; ++i) {
    double x = d->type == V_INT ? (double)out->iv[i] : d->type == V_REAL ? out->rv[i] : 0.0;
    if (d->type != V_INT && d->type != V_REAL) break;
    int bad = x < d->min || x > d->max || (d->min_open && x == d->min) || (d->nonzero && x == 0);
    if (bad) {
      char t[48];
      if (d->type == V_INT)
        snprintf(t, sizeof t, "%" PRId64, out->iv[i]);
      else
        real_text(t, sizeof t, x);
      snprintf(e->what, sizeof e->what, "value %s is out of bounds", t);
      err = ISW_EUSAGE;
      goto cleanup;
    }
  }
  if (d->distinct && out->n > 1) {
    size_t sz = d->type == V_INT || d->type == V_ENUM ? sizeof(int64_t)
                : d->type == V_REAL                   ? sizeof(double)
                                                      : sizeof(char *);
    const void *src = d->type == V_INT || d->type == V_ENUM ? (const void *)out->iv
                      : d->type == V_REAL                   ? (const void *)out->rv
                                                            : (const void *)out->sv;
    sorted = malloc((size_t)out->n * sz);
    ISW_CHECK(sorted != NULL, ISW_ENOMEM, "out of memory checking a list");
    memcpy(sorted, src, (size_t)out->n * sz);
    int (*cmp)(const void *, const void *) = d->type == V_REAL     ? cmp_real
                                             : d->type == V_STRING ? cmp_str
                                                                   : cmp_i64;
    qsort(sorted, (size_t)out->n, sz, cmp);
    for (int i = 1; i < out->n; ++i) {
      const char *a = (const char *)sorted + (size_t)(i - 1) * sz, *b = (const char *)sorted + (size_t)i * sz;
      if (cmp(a, b) != 0) continue;
      char t[TOKEN_SHOWN + 4] = "";
      if (d->type == V_INT) {
        snprintf(t, sizeof t, "%" PRId64, *(const int64_t *)a);
      } else if (d->type == V_REAL) {
        real_text(t, sizeof t, *(const double *)a);
      } else if (d->type == V_STRING) {
        shown(t, sizeof t, *(const char *const *)a);
      } else {
        for (int j = 0; j < out->n; ++j)
          if (out->iv[j] == *(const int64_t *)a) {
            shown(t, sizeof t, out->sv[j]);
            break;
          }
      }
      snprintf(e->what, sizeof e->what, "value %s is repeated in '%s'", t, q);
      snprintf(e->hint, sizeof e->hint, "each value of a grid axis once");
      err = ISW_EUSAGE;
      goto cleanup;
    }
  }
cleanup:
  free(item);
  free(sorted);
  if (err) vlist_free(out);
  return err;
}

/* ---- public expansion helpers ------------------------------------------- */

static int expand_public(vlist *v, vtype type, const char *text, int64_t limit) {
  int err = 0;
  isw_spec scratch;
  memset(&scratch, 0, sizeof scratch);
  vdef d = {.type = type, .min = -INFINITY, .max = INFINITY};
  verr e;
  ISW_CHECK(text != NULL && limit >= 1, ISW_EINTERNAL, "expand: NULL text or limit < 1");
  err = parse_value(v, &d, text, limit, &scratch, &e);
  if (err == ISW_EUSAGE) {
    char allowed[400];
    allowed_text(allowed, sizeof allowed, &d);
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s (%s)", e.what,
                          e.hint[0] ? e.hint : allowed);
  }
cleanup:
  return err;
}

int isw_spec_expand_ints(int64_t **out, int *n, const char *text, int64_t limit) {
  int err = 0;
  vlist v;
  memset(&v, 0, sizeof v);
  *out = NULL;
  *n = 0;
  ISW_CALL(expand_public(&v, V_INT, text, limit));
  *out = v.iv;
  *n = v.n;
  v.iv = NULL;
cleanup:
  vlist_free(&v);
  return err;
}

int isw_spec_expand_reals(double **out, int *n, const char *text, int64_t limit) {
  int err = 0;
  vlist v;
  memset(&v, 0, sizeof v);
  *out = NULL;
  *n = 0;
  ISW_CALL(expand_public(&v, V_REAL, text, limit));
  *out = v.rv;
  *n = v.n;
  v.rv = NULL;
cleanup:
  vlist_free(&v);
  return err;
}

/* ---- reading: the line-counting reader and the inih handler -------------- */

/* One "[section]" line (key == NULL) or one key = value, file or override. */
typedef struct {
  char *section;
  char *key;
  char *value;
  loc where;
} entry;

typedef struct {
  const char *file;
  const char *text;  /* the whole text */
  const char *cur;   /* next unread byte of the text */
  int lineno;        /* lines handed to inih so far */
  char *section;     /* current section, trimmed; NULL before the first header */
  entry *e;
  int n_e, cap_e;
  int *index;        /* (n_index) 1 + the first entry of each (section, key), 0 = free:
                        open addressing, so finding a key never scans the spec */
  size_t n_index;
  int err;           /* first error raised by the reader or the handler */
  int err_line;
} reader_ctx;

static uint64_t entry_hash(const char *section, const char *key) {
  uint64_t h = isw_hash64(section, strlen(section), 0);
  return key ? isw_hash64(key, strlen(key), h) : isw_mix64(h);
}

/* The first entry with this section and key (key NULL: the section's
 * header), or NULL.  The pointer is valid until the next add_entry. */
static entry *lookup_entry(const reader_ctx *r, const char *section, const char *key) {
  if (!r->n_index) return NULL;
  for (size_t h = (size_t)entry_hash(section, key) & (r->n_index - 1); r->index[h]; h = (h + 1) & (r->n_index - 1)) {
    entry *x = &r->e[r->index[h] - 1];
    if (strcmp(x->section, section) == 0 && (key ? x->key && strcmp(x->key, key) == 0 : !x->key)) return x;
  }
  return NULL;
}

/* Index entry i unless an earlier one has its (section, key). */
static void index_entry(reader_ctx *r, int i) {
  const entry *x = &r->e[i];
  if (lookup_entry(r, x->section, x->key)) return;
  size_t h = (size_t)entry_hash(x->section, x->key) & (r->n_index - 1);
  while (r->index[h]) h = (h + 1) & (r->n_index - 1);
  r->index[h] = i + 1;
}

static int add_entry(reader_ctx *r, const char *section, const char *key, const char *value, loc where) {
  int err = 0;
  ISW_CALL(grow((void **)&r->e, &r->cap_e, r->n_e + 1, sizeof *r->e));
  if (2 * (size_t)(r->n_e + 1) > r->n_index) { /* keep the index at most half full */
    size_t n = r->n_index ? 2 * r->n_index : 64;
    int *t = calloc(n, sizeof *t);
    ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory indexing the spec");
    free(r->index);
    r->index = t;
    r->n_index = n;
    for (int i = 0; i < r->n_e; ++i) index_entry(r, i);
  }
  entry *x = &r->e[r->n_e];
  memset(x, 0, sizeof *x);
  x->section = strdup(section);
  x->key = key ? strdup(key) : NULL;
  x->value = value ? strdup(value) : NULL;
  x->where = where;
  r->n_e++;
  ISW_CHECK(x->section && (!key || x->key) && (!value || x->value), ISW_ENOMEM,
            "out of memory storing a spec line");
  index_entry(r, r->n_e - 1);
cleanup:
  return err;
}

/* fgets-like: hand inih one whole line, left-trimmed (so inih never sees an
 * indented continuation line), always ending in '\n'.  A line longer than
 * inih's buffer allows is an error here, with its line number. */
static char *spec_reader(char *str, int num, void *stream) {
  reader_ctx *r = stream;
  if (r->err || !*r->cur) return NULL;
  const char *start = r->cur, *nl = strchr(start, '\n');
  size_t len = nl ? (size_t)(nl - start) : strlen(start);
  r->cur = nl ? nl + 1 : start + len;
  r->lineno++;
  if (len && start[len - 1] == '\r') --len;
  if (r->lineno == 1 && len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) start += 3, len -= 3;
  /* before the length: a file with CR-only line ends is one long line */
  const char *bad = NULL;
  for (size_t i = 0; i < len && !bad; ++i)
    if (((unsigned char)start[i] < 0x20 && start[i] != '\t') || start[i] == 0x7f) bad = start + i;
  const char *bom = NULL;
  for (size_t i = 0; i + 3 <= len && !bom; ++i)
    if (memcmp(start + i, "\xEF\xBB\xBF", 3) == 0) bom = start + i;
  if (bad || bom) {
    loc here = {r->file, r->lineno, NULL};
    if (bad && *bad == '\r')
      r->err = usage_at(__FILE__, __LINE__, __func__, here,
                        "a carriage return (CR) that does not end the line (the file has CR-only line ends "
                        "or a stray CR; save it with LF or CRLF line ends)");
    else if (bad)
      r->err = usage_at(__FILE__, __LINE__, __func__, here,
                        "the line contains a control character (byte 0x%02x) (a spec is plain text; remove it)",
                        (unsigned)(unsigned char)*bad);
    else
      r->err = usage_at(__FILE__, __LINE__, __func__, here,
                        "a byte order mark (bytes EF BB BF) after the start of the file (only the very start "
                        "may have one; remove it, e.g. where two files were joined)");
    r->err_line = r->lineno;
    return NULL;
  }
  if ((long)len > (long)num - 3) {
    loc here = {r->file, r->lineno, NULL};
    r->err = usage_at(__FILE__, __LINE__, __func__, here, "line is %zu characters long (at most %d per line)",
                      len, num - 3);
    r->err_line = r->lineno;
    return NULL;
  }
  while (len && isspace((unsigned char)*start)) ++start, --len;
  memcpy(str, start, len);
  str[len] = '\n';
  str[len + 1] = '\0';
  const char *close = len && start[0] == '[' ? memchr(start, ']', len) : NULL;
  if (close) {
    char *name = dup_trim(start + 1, (size_t)(close - start - 1));
    char *rest = dup_trim(close + 1, len - (size_t)(close + 1 - start));
    loc here = {r->file, r->lineno, NULL};
    const entry *first = name ? lookup_entry(r, name, NULL) : NULL;
    if (name && rest && ((*rest && *rest != ';' && *rest != '#') || first)) {
      /* inih would drop the text after ']' and merge a repeated section */
      char qs[TOKEN_SHOWN + 4], qr[TOKEN_SHOWN + 4];
      shown(qs, sizeof qs, name);
      shown(qr, sizeof qr, rest);
      if (first)
        r->err = usage_at(__FILE__, __LINE__, __func__, here,
                          "duplicate section [%s], first given at line %d (give each section once, with all "
                          "its keys under it)", qs, first->where.line);
      else
        r->err = usage_at(__FILE__, __LINE__, __func__, here,
                          "text '%s' after the section header [%s] (put each key = value on its own line below "
                          "the header)", qr, qs);
      r->err_line = r->lineno;
      free(name);
      free(rest);
      return NULL;
    }
    free(rest);
    if (!name || !rest || add_entry(r, name, NULL, NULL, here)) {
      free(name);
      r->err = isw_error_raise(ISW_ENOMEM, __FILE__, __LINE__, __func__, "out of memory reading the spec");
      r->err_line = r->lineno;
      return NULL;
    }
    free(r->section);
    r->section = name;
  }
  return str;
}

static int spec_handler(void *user, const char *section, const char *name, const char *value) {
  reader_ctx *r = user;
  (void)section; /* the reader's section is the full, trimmed name */
  loc here = {r->file, r->lineno, NULL};
  char qk[TOKEN_SHOWN + 4];
  shown(qk, sizeof qk, name);
  if (!r->section) {
    r->err = usage_at(__FILE__, __LINE__, __func__, here,
                      "key '%s' comes before any [section] (put it under [sweep] or a task's section)", qk);
    r->err_line = r->lineno;
    return 0;
  }
  const entry *x = lookup_entry(r, r->section, name);
  if (x) {
    char qs[TOKEN_SHOWN + 4];
    shown(qs, sizeof qs, r->section);
    r->err = usage_at(__FILE__, __LINE__, __func__, here,
                      "duplicate key '%s' in [%s], first given at line %d (give each key once; a list "
                      "goes on one line)",
                      qk, qs, x->where.line);
    r->err_line = r->lineno;
    return 0;
  }
  if (add_entry(r, r->section, name, value, here)) {
    r->err = ISW_ENOMEM;
    r->err_line = r->lineno;
    return 0;
  }
  return 1;
}

/* Text of line `line` (1-based) of text, trimmed, into buf. */
static void line_text(char *buf, size_t n, const char *text, int line) {
  const char *p = text;
  for (int i = 1; i < line && p; ++i) {
    p = strchr(p, '\n');
    if (p) ++p;
  }
  if (!p) p = "";
  const char *nl = strchr(p, '\n');
  char *t = dup_trim(p, nl ? (size_t)(nl - p) : strlen(p));
  shown(buf, n, t ? t : "");
  free(t);
}

/* ---- keys ----------------------------------------------------------------- */

/* The grid axes, valid in [sweep] (for every task) and in a task's section. */
enum { AX_WIDTHS, AX_TRAIN, AX_TEST, AX_SEEDS, N_AX };
enum {
  K_TASKS = N_AX,
  K_OUTPUT,
  K_SEED,
  K_TEAM_WIDTH,
  K_TEAM_RANKS,
  K_MAX_CONFIGS,
  K_DELTA_N,
  K_FLOP_RATE,
  K_BATCH_ROWS,
  K_BATCH_SECONDS,
  K_HEARTBEAT,
  K_RANK_TIMEOUT,
  N_SWEEP_KEYS
};

typedef struct {
  const char *name;
  vdef d;
  const char *def; /* default text; NULL: required (axes) or none */
} keydef;

static const keydef sweep_keys[N_SWEEP_KEYS] = {
    [AX_WIDTHS] = {"widths", {.type = V_INT, .min = 1, .max = 1e9, .distinct = 1}, NULL},
    [AX_TRAIN] = {"train_iters", {.type = V_INT, .min = 1, .max = 1e12, .distinct = 1}, NULL},
    [AX_TEST] = {"test_iters", {.type = V_INT, .min = 0, .max = 1e12}, NULL},
    [AX_SEEDS] = {"seeds", {.type = V_INT, .min = 0, .max = 9007199254740991.0, .distinct = 1}, "0"},
    [K_TASKS] = {"tasks", {.type = V_STRING, .maxlen = 255, .distinct = 1}, NULL},
    [K_OUTPUT] = {"output", {.type = V_STRING, .whole = 1, .maxlen = 4095}, "isweep-results.h5"},
    [K_SEED] = {"seed", {.type = V_U64, .single = 1}, "0"},
    [K_TEAM_WIDTH] = {"team_width", {.type = V_INT, .single = 1, .min = 0, .max = 1e12}, "4096"},
    [K_TEAM_RANKS] = {"team_ranks", {.type = V_INT, .single = 1, .min = 1, .max = ISW_SPEC_MAX_TEAM_RANKS,
                                     .allowed = "one integer from 1 to 64, the largest team isweep forms"}, "2"},
    [K_MAX_CONFIGS] = {"max_configs", {.type = V_INT, .single = 1, .min = 1, .max = 1e7}, "100000"},
    [K_DELTA_N] = {"delta_n", {.type = V_INT, .min = -1e12, .max = 1e12, .nonzero = 1, .distinct = 1}, "1,5,20"},
    [K_FLOP_RATE] = {"flop_rate", {.type = V_REAL, .single = 1, .min = 0, .max = 1e30, .min_open = 1}, "2.5e10"},
    [K_BATCH_ROWS] = {"batch_rows", {.type = V_INT, .single = 1, .min = 1, .max = 1e6}, "256"},
    [K_BATCH_SECONDS] = {"batch_seconds", {.type = V_REAL, .single = 1, .min = 0, .max = 1e6, .min_open = 1}, "10"},
    [K_HEARTBEAT] = {"heartbeat", {.type = V_REAL, .single = 1, .min = 0, .max = 3600, .min_open = 1}, "10"},
    [K_RANK_TIMEOUT] = {"rank_timeout", {.type = V_REAL, .single = 1, .min = 0, .max = 1e6, .min_open = 1}, "120"},
};

static vdef param_vdef(const isw_param_def *p) {
  vdef d = {.min = p->min, .max = p->max, .distinct = 1, .maxlen = 255, .choices = p->choices};
  switch (p->type) {
    case ISW_PARAM_INT: d.type = V_INT; break;
    case ISW_PARAM_REAL: d.type = V_REAL; break;
    case ISW_PARAM_ENUM: d.type = V_ENUM; break;
    case ISW_PARAM_STRING: d.type = V_STRING; break;
  }
  return d;
}

typedef struct {
  vlist v;
  loc where;
  int given; /* set from the file or an override (else default or unset) */
} slot;

/* One section of a task family while resolving: its main section [TASK]
 * (or none written) or a sub-grid [TASK.NAME]. */
typedef struct {
  const isw_task *task;
  char name[300];  /* the section's name: "deq" or "deq.wide" */
  int fam;         /* index of its family (task group) in sweep.tasks order */
  int main;        /* index of the family's main section state (itself for the main one) */
  loc where; /* its section's first header, else the sweep.tasks line */
  slot ax[N_AX];
  slot par[ISW_MAX_PARAMS];
  isw_task *built; /* a family built from its section (task->build), until the group owns it */
  const char **rpath[ISW_MAX_PARAMS]; /* (par[p].v.n) path parameters: each value resolved, else NULL */
} gstate;

typedef struct {
  isw_spec *spec;
  reader_ctx r;
  slot sw[N_SWEEP_KEYS];
  gstate *g;      /* (n_g) sections: each family's main one, then its sub-grids in file order */
  int n_g;
  int n_fam;      /* task families (groups) */
  char *dir;      /* the spec file's folder (relative values of paths resolve there), or NULL: cwd */
  int hash_files; /* put the content hash of every data file into the canonical text */
  int lean;       /* keep each section's grid, do not expand it (isw_spec_parse_lean) */
  sbuf notes;     /* notes for the user (spec->notes) */
  char known_tasks[512]; /* "linear-meta, deq" */
  char tasks_allowed[640];
} build_ctx;

static int group_of(const build_ctx *b, const char *name) {
  for (int i = 0; i < b->n_g; ++i)
    if (strcmp(b->g[i].name, name) == 0) return i;
  return -1;
}

/* The family of section `name`: "TASK" or a sub-grid "TASK.NAME"; NULL if none. */
static const isw_task *section_task(const char *name) {
  const char *dot = strchr(name, '.');
  if (!dot) return isw_task_find(name);
  char fam[256];
  size_t n = (size_t)(dot - name);
  if (n >= sizeof fam || !dot[1]) return NULL;
  memcpy(fam, name, n);
  fam[n] = '\0';
  return isw_task_find(fam);
}

/* Parse entry x's value with d into s, or raise the located message. */
static int parse_into(slot *s, const build_ctx *b, const vdef *d, const entry *x, int64_t limit) {
  int err = 0;
  verr e;
  vlist_free(&s->v);
  err = parse_value(&s->v, d, x->value, limit, b->spec, &e);
  if (err == ISW_EUSAGE) {
    char allowed[600], qs[TOKEN_SHOWN + 4], qk[TOKEN_SHOWN + 4];
    allowed_text(allowed, sizeof allowed, d);
    shown(qs, sizeof qs, x->section);
    shown(qk, sizeof qk, x->key);
    USAGE(x->where, "%s for %s.%s (%s)", e.what, qs, qk, e.hint[0] ? e.hint : allowed);
  }
  ISW_CALL(err);
  s->where = x->where;
  s->given = 1;
cleanup:
  return err;
}

/* A built-in default value (sweep key or task parameter); a failure is a bug. */
static int parse_default(slot *s, const build_ctx *b, const vdef *d, const char *text, const char *what,
                         loc where) {
  int err = 0;
  verr e;
  err = parse_value(&s->v, d, text, INT64_MAX, b->spec, &e);
  ISW_CHECK(err != ISW_EUSAGE, ISW_EINTERNAL, "built-in default '%s' of %s is invalid: %s", text, what, e.what);
  ISW_CALL(err);
  s->where = where;
cleanup:
  return err;
}

static const entry *find_entry(const build_ctx *b, const char *section, const char *key) {
  return lookup_entry(&b->r, section, key);
}

/* Replace or add the entries named by the "SECTION.KEY=VALUE" overrides. */
static int apply_sets(build_ctx *b, const char *const *sets, int n_sets) {
  int err = 0;
  char *section = NULL, *key = NULL, *value = NULL;
  for (int i = 0; i < n_sets; ++i) {
    const char *s = sets[i];
    loc where = {b->r.file, 0, s};
    const char *eq = strchr(s, '=');
    const char *dot = NULL;
    for (const char *p = s; eq && p < eq; ++p)
      if (*p == '.') dot = p;
    free(section), free(key), free(value);
    section = key = value = NULL;
    if (eq && dot) {
      section = dup_trim(s, (size_t)(dot - s));
      key = dup_trim(dot + 1, (size_t)(eq - dot - 1));
      value = dup_trim(eq + 1, strlen(eq + 1));
      ISW_CHECK(section && key && value, ISW_ENOMEM, "out of memory reading an override");
    }
    if (!section || !*section || !*key)
      USAGE(where, "not an override of the form SECTION.KEY=VALUE (e.g. --set linear-meta.tasks=32 or --set "
                   "sweep.output=run.h5)");
    entry *x = (entry *)find_entry(b, section, key);
    if (x) {
      free(x->value);
      x->value = value;
      value = NULL;
      x->where = where;
    } else {
      ISW_CALL(add_entry(&b->r, section, key, value, where));
    }
  }
cleanup:
  free(section), free(key), free(value);
  return err;
}

/* The location for a message about the sweep as a whole. */
static loc sweep_loc(const build_ctx *b) {
  for (int i = 0; i < b->r.n_e; ++i)
    if (!b->r.e[i].key && strcmp(b->r.e[i].section, "sweep") == 0) return b->r.e[i].where;
  loc l = {b->r.file, 1, NULL};
  return l;
}

/* A family built from its section (exec): hand it every key of the section
 * with its location, keep the task it returns in g. */
static int build_task(build_ctx *b, gstate *g) {
  int err = 0, n = 0;
  const char **keys = NULL, **values = NULL;
  char **wheres = NULL, gw[512];
  ISW_ALLOC(keys, b->r.n_e);
  ISW_ALLOC(values, b->r.n_e);
  ISW_ALLOC(wheres, b->r.n_e);
  for (int i = 0; i < b->r.n_e; ++i) {
    const entry *x = &b->r.e[i];
    if (!x->key || strcmp(x->section, g->task->name) != 0) continue;
    char w[512];
    loc_text(w, sizeof w, x->where);
    wheres[n] = strdup(w);
    ISW_CHECK(wheres[n] != NULL, ISW_ENOMEM, "out of memory building task %s", g->task->name);
    keys[n] = x->key;
    values[n] = x->value;
    ++n;
  }
  loc_text(gw, sizeof gw, g->where);
  isw_task_section sec = {g->task->name, gw, n, keys, values, (const char *const *)wheres,
                          (const char *const *)&b->spec->output};
  ISW_CALL(g->task->build(&g->built, &sec));
  g->task = g->built;
  ISW_CHECK(g->task->n_params <= ISW_MAX_PARAMS, ISW_EINTERNAL, "task %s has %d parameters, more than %d",
            g->task->name, g->task->n_params, ISW_MAX_PARAMS);
cleanup:
  for (int i = 0; i < n; ++i) free(wheres[i]);
  free(wheres);
  free(keys);
  free(values);
  return err;
}

/* sweep.max_configs and sweep.tasks, which the other checks need. */
static int resolve_tasks(build_ctx *b) {
  int err = 0;
  const keydef *mk = &sweep_keys[K_MAX_CONFIGS], *tk = &sweep_keys[K_TASKS];
  const entry *x = find_entry(b, "sweep", mk->name);
  if (x)
    ISW_CALL(parse_into(&b->sw[K_MAX_CONFIGS], b, &mk->d, x, 1));
  else
    ISW_CALL(parse_default(&b->sw[K_MAX_CONFIGS], b, &mk->d, mk->def, "sweep.max_configs", sweep_loc(b)));
  int64_t limit = b->sw[K_MAX_CONFIGS].v.iv[0];

  x = find_entry(b, "sweep", tk->name);
  if (!x) USAGE(sweep_loc(b), "[sweep] has no key 'tasks' (give e.g. tasks = linear-meta; known tasks: %s)", b->known_tasks);
  vdef d = tk->d;
  d.allowed = b->tasks_allowed;
  ISW_CALL(parse_into(&b->sw[K_TASKS], b, &d, x, limit));
  const vlist *t = &b->sw[K_TASKS].v;
  int n_sub = 0;
  for (int j = 0; j < b->r.n_e; ++j) n_sub += strchr(b->r.e[j].section, '.') != NULL;
  b->g = calloc((size_t)(t->n + n_sub), sizeof *b->g);
  ISW_CHECK(b->g != NULL, ISW_ENOMEM, "out of memory for task groups");
  for (int i = 0; i < t->n; ++i) {
    const isw_task *task = isw_task_find(t->sv[i]);
    char q[TOKEN_SHOWN + 4];
    shown(q, sizeof q, t->sv[i]);
    if (!task) USAGE(x->where, "unknown task '%s' in sweep.tasks (known tasks: %s)", q, b->known_tasks);
    ISW_CHECK(task->n_params <= ISW_MAX_PARAMS, ISW_EINTERNAL, "task %s has %d parameters, more than %d",
              task->name, task->n_params, ISW_MAX_PARAMS);
    int main = b->n_g;
    gstate *g = &b->g[b->n_g++];
    g->task = task;
    g->fam = i;
    g->main = main;
    snprintf(g->name, sizeof g->name, "%s", task->name);
    g->where = x->where;
    for (int j = 0; j < b->r.n_e; ++j)
      if (!b->r.e[j].key && strcmp(b->r.e[j].section, task->name) == 0) {
        g->where = b->r.e[j].where;
        break;
      }
    if (task->build) ISW_CALL(build_task(b, g));
    /* its sub-grids [TASK.NAME], in file order (then those only --set names) */
    size_t tl = strlen(task->name);
    for (int j = 0; j < b->r.n_e; ++j) {
      const entry *h = &b->r.e[j];
      if (strncmp(h->section, task->name, tl) != 0 || h->section[tl] != '.' || group_of(b, h->section) >= 0) continue;
      char q[TOKEN_SHOWN + 4];
      shown(q, sizeof q, h->section);
      if (task->build)
        USAGE(h->where, "sub-grid [%s]: family %s is built from its one section, which takes no sub-grids "
              "(put the other grid in a spec of its own)", q, task->name);
      if (!h->section[tl + 1] || strlen(h->section) >= sizeof g->name)
        USAGE(h->where, "bad sub-grid section name [%s] (write [%s.NAME], e.g. [%s.wide])", q, task->name,
              task->name);
      gstate *sg = &b->g[b->n_g++];
      sg->task = task;
      sg->fam = i;
      sg->main = main;
      snprintf(sg->name, sizeof sg->name, "%s", h->section);
      sg->where = h->where;
    }
  }
  b->n_fam = t->n;
cleanup:
  return err;
}

/* Nonzero when sweep.tasks comes from --set: a family left out of it has
 * its sections dropped (with a note) instead of being an error, so a spec
 * is cut down to some of its families from the command line. */
static int tasks_cut(const build_ctx *b) {
  const entry *x = find_entry(b, "sweep", sweep_keys[K_TASKS].name);
  return x && x->where.set != NULL;
}

/* Check every header and key in order and parse every value into its slot. */
static int resolve_entries(build_ctx *b) {
  int err = 0;
  int64_t limit = b->sw[K_MAX_CONFIGS].v.iv[0];
  for (int i = 0; i < b->r.n_e; ++i) {
    const entry *x = &b->r.e[i];
    char qs[TOKEN_SHOWN + 4], qk[TOKEN_SHOWN + 4];
    shown(qs, sizeof qs, x->section);
    shown(qk, sizeof qk, x->key ? x->key : "");
    int gi = -1;
    if (strcmp(x->section, "sweep") != 0) {
      gi = group_of(b, x->section);
      if (gi < 0 && section_task(x->section) && tasks_cut(b)) {
        if (!x->key) {
          char at[600];
          loc_text(at, sizeof at, x->where);
          sb_add(&b->notes, "left out section [%s] at %s: its family is not in sweep.tasks as set on the command line\n", qs, at);
        }
        continue;
      }
      if (gi < 0 && section_task(x->section))
        USAGE(x->where, "section [%s] is not in sweep.tasks (add it to tasks or remove the section)", qs);
      if (gi < 0)
        USAGE(x->where, "unknown section [%s] (allowed: [sweep] and one section per task in sweep.tasks; "
                        "known tasks: %s)", qs, b->known_tasks);
    }
    if (!x->key) continue;
    if (gi < 0) {
      int k = 0;
      while (k < N_SWEEP_KEYS && strcmp(sweep_keys[k].name, x->key) != 0) ++k;
      if (k == N_SWEEP_KEYS) {
        char allowed[400] = "";
        size_t used = 0;
        for (int j = 0; j < N_SWEEP_KEYS; ++j)
          used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", j ? ", " : "",
                                   sweep_keys[j].name);
        USAGE(x->where, "unknown key '%s' in [sweep] (allowed: %s)", qk, allowed);
      }
      if (k == K_TASKS || k == K_MAX_CONFIGS) continue;
      ISW_CALL(parse_into(&b->sw[k], b, &sweep_keys[k].d, x, limit));
      continue;
    }
    gstate *g = &b->g[gi];
    int k = 0;
    while (k < N_AX && strcmp(sweep_keys[k].name, x->key) != 0) ++k;
    if (k < N_AX) {
      ISW_CALL(parse_into(&g->ax[k], b, &sweep_keys[k].d, x, limit));
      continue;
    }
    int own = 0; /* a key a built family consumed itself */
    for (int j = 0; j < g->task->n_own && !own; ++j) own = strcmp(g->task->own_keys[j], x->key) == 0;
    if (own) continue;
    int p = isw_task_param_index(g->task, x->key);
    if (p < 0) {
      char allowed[600] = "";
      size_t used = 0;
      for (int j = 0; j < N_AX; ++j)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s, ", sweep_keys[j].name);
      for (int j = 0; j < g->task->n_params && used < sizeof allowed; ++j)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", j ? ", " : "",
                                 g->task->params[j].name);
      USAGE(x->where, "unknown key '%s' in [%s] (allowed: %s)", qk, qs, allowed);
    }
    vdef d = param_vdef(&g->task->params[p]);
    ISW_CALL(parse_into(&g->par[p], b, &d, x, limit));
  }
cleanup:
  return err;
}

/* dst <- a copy of src's values (strings are the spec's, shared). */
static int slot_copy(slot *dst, const slot *src) {
  int err = 0;
  vlist_free(&dst->v);
  dst->v.n = src->v.n;
  dst->v.u = src->v.u;
  if (src->v.iv) {
    ISW_ALLOC(dst->v.iv, src->v.n);
    memcpy(dst->v.iv, src->v.iv, (size_t)src->v.n * sizeof *src->v.iv);
  }
  if (src->v.rv) {
    ISW_ALLOC(dst->v.rv, src->v.n);
    memcpy(dst->v.rv, src->v.rv, (size_t)src->v.n * sizeof *src->v.rv);
  }
  if (src->v.sv) {
    const char **sv = NULL;
    ISW_ALLOC(sv, src->v.n);
    memcpy(sv, src->v.sv, (size_t)src->v.n * sizeof *sv);
    dst->v.sv = sv;
  }
  dst->where = src->where;
  dst->given = 0;
cleanup:
  return err;
}

/* Defaults for sweep keys, per-group axes (task section, else [sweep], else
 * default) and task parameters; missing required axes are errors.  A
 * sub-grid takes what it does not give from its family's main section. */
static int resolve_defaults(build_ctx *b) {
  int err = 0;
  for (int k = N_AX; k < N_SWEEP_KEYS; ++k) {
    if (b->sw[k].given || b->sw[k].v.n || !sweep_keys[k].def) continue;
    char what[64];
    snprintf(what, sizeof what, "sweep.%s", sweep_keys[k].name);
    ISW_CALL(parse_default(&b->sw[k], b, &sweep_keys[k].d, sweep_keys[k].def, what, sweep_loc(b)));
  }
  for (int gi = 0; gi < b->n_g; ++gi) {
    gstate *g = &b->g[gi];
    if (g->main != gi) continue; /* sub-grids: below, from their main section */
    for (int k = 0; k < N_AX; ++k) {
      if (g->ax[k].given) continue;
      const slot *s = &b->sw[k];
      if (s->given) {
        /* copy the sweep-level values; strings are not involved */
        g->ax[k].v.n = s->v.n;
        g->ax[k].v.iv = malloc((size_t)s->v.n * sizeof *s->v.iv);
        ISW_CHECK(g->ax[k].v.iv != NULL, ISW_ENOMEM, "out of memory copying %s", sweep_keys[k].name);
        memcpy(g->ax[k].v.iv, s->v.iv, (size_t)s->v.n * sizeof *s->v.iv);
        g->ax[k].where = s->where;
      } else if (sweep_keys[k].def) {
        char what[64];
        snprintf(what, sizeof what, "%s", sweep_keys[k].name);
        ISW_CALL(parse_default(&g->ax[k], b, &sweep_keys[k].d, sweep_keys[k].def, what, g->where));
      } else {
        const char *eg = k == AX_WIDTHS ? "16:1024:x2" : k == AX_TRAIN ? "5,10" : "0:40";
        USAGE(g->where, "task %s has no %s (give %s in [%s] or [sweep], e.g. %s = %s)", g->task->name,
              sweep_keys[k].name, sweep_keys[k].name, g->name, sweep_keys[k].name, eg);
      }
    }
    for (int p = 0; p < g->task->n_params; ++p) {
      if (g->par[p].given) continue;
      const isw_param_def *pd = &g->task->params[p];
      vdef d = param_vdef(pd);
      char what[128];
      snprintf(what, sizeof what, "%s.%s", g->task->name, pd->name);
      ISW_CALL(parse_default(&g->par[p], b, &d, pd->def, what, g->where));
    }
  }
  /* a sub-grid [TASK.NAME] is its main section [TASK] with the keys it gives replaced */
  for (int gi = 0; gi < b->n_g; ++gi) {
    gstate *g = &b->g[gi];
    const gstate *m = &b->g[g->main];
    if (g->main == gi) continue;
    for (int k = 0; k < N_AX; ++k)
      if (!g->ax[k].given) ISW_CALL(slot_copy(&g->ax[k], &m->ax[k]));
    for (int p = 0; p < g->task->n_params; ++p)
      if (!g->par[p].given) ISW_CALL(slot_copy(&g->par[p], &m->par[p]));
  }
cleanup:
  return err;
}

/* ---- paths ------------------------------------------------------------------ */

/* A parameter that names a file: a text parameter called *_file or *_path.
 * The value "none" names no file. */
static int is_path_param(const isw_param_def *pd) {
  if (pd->type != ISW_PARAM_STRING) return 0;
  size_t n = strlen(pd->name);
  return n > 5 && (strcmp(pd->name + n - 5, "_file") == 0 || strcmp(pd->name + n - 5, "_path") == 0);
}

/* *out <- `value` resolved: a relative path written in the spec file is
 * taken relative to the spec file's folder (b->dir); an absolute one, one
 * given with --set (typed in the current directory) and "none" stay as
 * they are.  The result is interned in the spec. */
static int resolve_path(const char **out, build_ctx *b, const char *value, loc where) {
  int err = 0;
  sbuf sb = {0};
  *out = value;
  if (!b->dir || where.set || value[0] == '/' || value[0] == '\0' || strcmp(value, "none") == 0) goto cleanup;
  sb_add(&sb, "%s/%s", b->dir, value);
  ISW_CHECK(!sb.oom, ISW_ENOMEM, "out of memory resolving a path");
  ISW_CALL(intern(b->spec, sb.s, sb.len, out));
cleanup:
  free(sb.s);
  return err;
}

/* Resolve every path parameter's values and the output path (see
 * resolve_path); the written values stay what config ids and the canonical
 * text are made of. */
static int resolve_paths(build_ctx *b) {
  int err = 0;
  for (int gi = 0; gi < b->n_g; ++gi) {
    gstate *g = &b->g[gi];
    for (int p = 0; p < g->task->n_params; ++p) {
      if (!is_path_param(&g->task->params[p])) continue;
      ISW_ALLOC(g->rpath[p], g->par[p].v.n);
      for (int i = 0; i < g->par[p].v.n; ++i)
        ISW_CALL(resolve_path(&g->rpath[p][i], b, g->par[p].v.sv[i], g->par[p].where));
    }
  }
  const char *out = NULL; /* the default output, written nowhere, stays in the current directory */
  if (b->sw[K_OUTPUT].given) {
    ISW_CALL(resolve_path(&out, b, b->sw[K_OUTPUT].v.sv[0], b->sw[K_OUTPUT].where));
    b->sw[K_OUTPUT].v.sv[0] = out;
  }
cleanup:
  return err;
}

/* The 64-bit content hash of file `path` (isw_hash64 chained over 1 MiB
 * blocks, the size last) as 16 hex digits, or "missing" / "unreadable".
 * Content rather than size + mtime: a copy or a touch of the same data is
 * the same sweep, and a rewrite of the same size within the file system's
 * time resolution is not. */
static void file_hash_text(char buf[24], const char *path) {
  snprintf(buf, 24, "missing");
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  unsigned char *blk = malloc(1 << 20);
  if (blk && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    uint64_t h = 0, total = 0;
    ssize_t k;
    while ((k = read(fd, blk, 1 << 20)) > 0 || (k < 0 && errno == EINTR))
      if (k > 0) h = isw_hash64(blk, (size_t)k, h), total += (uint64_t)k;
    h = isw_hash64(&total, sizeof total, h);
    if (k == 0) snprintf(buf, 24, "%016" PRIx64, h);
    else snprintf(buf, 24, "unreadable");
  } else {
    snprintf(buf, 24, "unreadable");
  }
  free(blk);
  close(fd);
}

/* ---- grid, identities, canonical text ------------------------------------ */

/* Canonical text of a value: ints plainly, reals shortest round-trip (or
 * %.17g when id != 0, the identity form), texts as they are. */
static void value_add(sbuf *sb, const isw_param_def *pd, const isw_value *v, int id) {
  char t[48];
  switch (pd->type) {
    case ISW_PARAM_INT: sb_add(sb, "%lld", (long long)v->num); break;
    case ISW_PARAM_REAL:
      if (id)
        sb_add(sb, "%.17g", v->num);
      else
        real_text(t, sizeof t, v->num), sb_add(sb, "%s", t);
      break;
    case ISW_PARAM_ENUM:
    case ISW_PARAM_STRING: sb_add(sb, "%s", v->str); break;
  }
}

static void ints_add(sbuf *sb, const int64_t *x, int n) {
  for (int i = 0; i < n; ++i) sb_add(sb, "%s%" PRId64, i ? "," : "", x[i]);
}

static isw_value value_at(const isw_param_def *pd, const vlist *v, int i) {
  isw_value x = {0.0, NULL};
  switch (pd->type) {
    case ISW_PARAM_INT: x.num = (double)v->iv[i]; break;
    case ISW_PARAM_REAL: x.num = v->rv[i]; break;
    case ISW_PARAM_ENUM: x.num = (double)v->iv[i], x.str = v->sv[i]; break;
    case ISW_PARAM_STRING: x.str = v->sv[i]; break;
  }
  return x;
}

static int64_t sat_mul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > INT64_MAX / b ? INT64_MAX : a * b;
}

/* Refuse a grid over max_configs, at the axis where the count first passes it. */
static int check_grid_size(const build_ctx *b) {
  int err = 0;
  int64_t max = b->sw[K_MAX_CONFIGS].v.iv[0], total = 0, before = 0;
  const char *blame_task = NULL, *blame_key = NULL;
  loc blame = sweep_loc(b);
  for (int gi = 0; gi < b->n_g; ++gi) {
    const gstate *g = &b->g[gi];
    int64_t prod = 1;
    /* nested order: width, train_iters, params..., seed */
    int n_axes = 3 + g->task->n_params;
    for (int a = 0; a < n_axes; ++a) {
      const slot *s = a == 0 ? &g->ax[AX_WIDTHS] : a == 1 ? &g->ax[AX_TRAIN]
                      : a == n_axes - 1 ? &g->ax[AX_SEEDS] : &g->par[a - 2];
      prod = sat_mul(prod, s->v.n);
      if (!blame_key && before <= max && prod > max - before && s->v.n > 1) {
        blame_task = g->task->name;
        blame_key = a == 0 ? "widths" : a == 1 ? "train_iters" : a == n_axes - 1 ? "seeds"
                  : g->task->params[a - 2].name;
        blame = s->where;
      }
    }
    before = total = prod > INT64_MAX - total ? INT64_MAX : total + prod;
  }
  if (total > max) {
    if (blame_key)
      USAGE(blame, "the grid has %" PRId64 " configs, more than sweep.max_configs = %" PRId64
                   " (shorten %s.%s or another axis, or raise sweep.max_configs)",
            total, max, blame_task, blame_key);
    USAGE(blame, "the grid has %" PRId64 " configs, more than sweep.max_configs = %" PRId64
                 " (shorten an axis or raise sweep.max_configs)", total, max);
  }
cleanup:
  return err;
}

static int sort_unique_i64(int64_t *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_i64);
  int m = 0;
  for (int i = 0; i < n; ++i)
    if (m == 0 || x[i] != x[m - 1]) x[m++] = x[i];
  return m;
}

/* One section's grid, kept by the spec so that any rank can build the
 * config of a row without the expanded grid (isw_spec_config).  Axes in
 * nested order: width, train_iters, params..., seed (fastest). */
typedef struct {
  const isw_task *task;
  int n_axes;
  int64_t len[3 + ISW_MAX_PARAMS];
  int64_t size;                       /* product of len */
  int64_t *widths, *train, *seeds;    /* (len[0]), (len[1]), (len[n_axes - 1]) */
  isw_value *par[ISW_MAX_PARAMS];     /* (len[2 + p]) values as identities read them */
  const char **rpath[ISW_MAX_PARAMS]; /* (len[2 + p]) resolved paths of a path parameter, else NULL */
} grid_section;

/* Rows row .. row + n - 1 of a group are configs index .. index + n - 1 of
 * section `section` of the spec's grid. */
typedef struct {
  int64_t row, index;
  int section, n;
} row_run;

struct isw_spec_grid {
  grid_section *sec; /* (n_sec) every section of every family, in b->g order */
  int n_sec;
  row_run *runs;     /* (n_runs) by group, then row; together they cover every row once */
  int n_runs, cap_runs;
  int *group_run;    /* (n_groups + 1) runs of group g: group_run[g] .. group_run[g + 1] - 1 */
};

static void grid_free(struct isw_spec_grid *gd) {
  if (!gd) return;
  for (int i = 0; i < gd->n_sec; ++i) {
    grid_section *x = &gd->sec[i];
    free(x->widths);
    free(x->train);
    free(x->seeds);
    for (int p = 0; p < ISW_MAX_PARAMS; ++p) {
      free(x->par[p]);
      free((void *)x->rpath[p]);
    }
  }
  free(gd->sec);
  free(gd->runs);
  free(gd->group_run);
  free(gd);
}

static int i64_copy(int64_t **out, const vlist *v) {
  int err = 0;
  ISW_ALLOC(*out, v->n);
  memcpy(*out, v->iv, (size_t)v->n * sizeof *v->iv);
cleanup:
  return err;
}

/* Keep section gi's grid in the spec. */
static int keep_section(build_ctx *b, int gi) {
  int err = 0;
  gstate *g = &b->g[gi];
  grid_section *x = &b->spec->grid->sec[gi];
  const isw_task *t = g->task;
  x->task = t;
  x->n_axes = 3 + t->n_params;
  x->len[0] = g->ax[AX_WIDTHS].v.n;
  x->len[1] = g->ax[AX_TRAIN].v.n;
  for (int p = 0; p < t->n_params; ++p) x->len[2 + p] = g->par[p].v.n;
  x->len[x->n_axes - 1] = g->ax[AX_SEEDS].v.n;
  x->size = 1;
  for (int a = 0; a < x->n_axes; ++a) x->size = sat_mul(x->size, x->len[a]);
  ISW_CHECK(x->size <= INT32_MAX, ISW_EINTERNAL, "group %s: %" PRId64 " configs", t->name, x->size);
  ISW_CALL(i64_copy(&x->widths, &g->ax[AX_WIDTHS].v));
  ISW_CALL(i64_copy(&x->train, &g->ax[AX_TRAIN].v));
  ISW_CALL(i64_copy(&x->seeds, &g->ax[AX_SEEDS].v));
  for (int p = 0; p < t->n_params; ++p) {
    ISW_ALLOC(x->par[p], g->par[p].v.n);
    for (int i = 0; i < g->par[p].v.n; ++i) x->par[p][i] = value_at(&t->params[p], &g->par[p].v, i);
    if (!g->rpath[p]) continue;
    ISW_ALLOC(x->rpath[p], g->par[p].v.n);
    memcpy((void *)x->rpath[p], g->rpath[p], (size_t)g->par[p].v.n * sizeof *g->rpath[p]);
  }
cleanup:
  return err;
}

/* *c <- config `i` (grid order) of section x of group f, with its
 * identities; row 0, cost 0 and team 1 (the caller's to set).  sb is
 * scratch space. */
static int section_config(isw_config *c, sbuf *sb, const isw_spec *spec, int f, const grid_section *x,
                          int64_t i) {
  int err = 0;
  const isw_task *t = x->task;
  const isw_spec_group *grp = &spec->groups[f];
  int64_t idx[3 + ISW_MAX_PARAMS];
  int64_t rem = i;
  for (int a = x->n_axes - 1; a >= 0; --a) {
    idx[a] = rem % x->len[a];
    rem /= x->len[a];
  }
  memset(c, 0, sizeof *c);
  c->task = t;
  c->width = x->widths[idx[0]];
  c->train_iters = x->train[idx[1]];
  c->seed = x->seeds[idx[x->n_axes - 1]];
  for (int p = 0; p < t->n_params; ++p) c->p[p] = x->par[p][idx[2 + p]];
  c->test_iters = grp->test_iters; /* the group's: every section is evaluated at every n */
  c->n_test = grp->n_test;
  c->sweep_seed = spec->sweep_seed;
  c->group = f;
  c->team = 1;
  /* identity: every parameter by name, never the row */
  sb->len = 0;
  sb_add(sb, "task=%s;width=%" PRId64 ";train_iters=%" PRId64 ";seed=%" PRId64 ";", t->name, c->width,
         c->train_iters, c->seed);
  for (int p = 0; p < t->n_params; ++p) {
    sb_add(sb, "%s=", t->params[p].name);
    value_add(sb, &t->params[p], &c->p[p], 1);
    sb_add(sb, ";");
  }
  ISW_CHECK(!sb->oom, ISW_ENOMEM, "out of memory building a config identity");
  c->id = isw_hash64(sb->s, sb->len, 0);
  /* data identity: what shapes the data */
  sb->len = 0;
  sb_add(sb, "task=%s;seed=%" PRId64 ";", t->name, c->seed);
  if (t->width_shapes_data) sb_add(sb, "width=%" PRId64 ";", c->width);
  for (int p = 0; p < t->n_params; ++p) {
    if (!t->params[p].data) continue;
    sb_add(sb, "%s=", t->params[p].name);
    value_add(sb, &t->params[p], &c->p[p], 1);
    sb_add(sb, ";");
  }
  ISW_CHECK(!sb->oom, ISW_ENOMEM, "out of memory building a data identity");
  c->data_id = isw_hash64(sb->s, sb->len, 0);
  /* identities hold paths as written; the task opens them resolved */
  for (int p = 0; p < t->n_params; ++p)
    if (x->rpath[p]) c->p[p].str = x->rpath[p][idx[2 + p]];
cleanup:
  return err;
}

/* Append rows row.. of group f as configs index.. of section sec to the
 * row map, extending the last run when they follow on. */
static int add_run(struct isw_spec_grid *gd, int64_t row, int sec, int64_t index) {
  int err = 0;
  row_run *last = gd->n_runs ? &gd->runs[gd->n_runs - 1] : NULL;
  if (last && last->section == sec && last->row + last->n == row && last->index + last->n == index &&
      last->n < INT32_MAX) {
    last->n++;
    goto cleanup;
  }
  ISW_CALL(grow((void **)&gd->runs, &gd->cap_runs, gd->n_runs + 1, sizeof *gd->runs));
  gd->runs[gd->n_runs++] = (row_run){row, index, sec, 1};
cleanup:
  return err;
}

/* The configs of section gi's grid, appended to its family's group in grid
 * order with their identities; a config whose id the group already has (an
 * earlier section made it) is not added again.  ids (cap, a power of two,
 * 0 = free) is the group's open-addressing set of ids. */
static int build_section(build_ctx *b, int gi, uint64_t *ids, unsigned char *used, size_t cap) {
  int err = 0;
  sbuf sb = {0};
  gstate *g = &b->g[gi];
  isw_spec_group *out = &b->spec->groups[g->fam];
  const grid_section *x = &b->spec->grid->sec[gi];
  for (int64_t i = 0; i < x->size; ++i) {
    isw_config *c = &out->configs[out->n_configs];
    ISW_CALL(section_config(c, &sb, b->spec, g->fam, x, i));
    c->row = out->n_configs;
    size_t h = (size_t)isw_mix64(c->id) & (cap - 1);
    while (used[h] && ids[h] != c->id) h = (h + 1) & (cap - 1);
    if (used[h]) continue; /* one config, whichever sections produce it */
    used[h] = 1;
    ids[h] = c->id;
    ISW_CALL(add_run(b->spec->grid, out->n_configs, gi, i));
    out->n_configs++;
  }
cleanup:
  free(sb.s);
  return err;
}

/* Build group f: the union of its sections' grids (main section first,
 * then sub-grids in file order), each config once; test_iters is the
 * sorted union of the sections' test_iters.  Lean: the sections' grids are
 * kept, not expanded (no configs, n_configs 0 until a row map is set). */
static int build_group(build_ctx *b, int f) {
  int err = 0;
  isw_spec_group *out = &b->spec->groups[f];
  int64_t total = 0, n_test = 0;
  uint64_t *ids = NULL;
  unsigned char *used = NULL;
  for (int gi = 0; gi < b->n_g; ++gi) {
    gstate *g = &b->g[gi];
    if (g->fam != f) continue;
    out->task = g->task;
    if (g->built) { /* the spec owns a family built from its section */
      b->spec->owned_tasks[b->spec->n_owned_tasks++] = g->built;
      g->built = NULL;
    }
    ISW_CALL(keep_section(b, gi));
    int64_t n = b->spec->grid->sec[gi].size;
    total = total + n > INT32_MAX ? INT32_MAX : total + n;
    n_test += g->ax[AX_TEST].v.n;
  }
  ISW_CHECK(total < INT32_MAX, ISW_EINTERNAL, "group %d: too many configs", f);
  /* test_iters: ascending and distinct, owned by the group */
  ISW_ALLOC(out->test_iters, n_test);
  for (int gi = 0; gi < b->n_g; ++gi)
    if (b->g[gi].fam == f) {
      const vlist *v = &b->g[gi].ax[AX_TEST].v;
      memcpy(out->test_iters + out->n_test, v->iv, (size_t)v->n * sizeof *v->iv);
      out->n_test += v->n;
    }
  out->n_test = sort_unique_i64(out->test_iters, out->n_test);
  b->spec->grid->group_run[f] = b->spec->grid->n_runs;
  if (b->lean) goto cleanup;
  size_t cap = 1;
  while (cap < 2 * (size_t)total) cap *= 2;
  ISW_ALLOC(ids, cap);
  ISW_ALLOC(used, cap);
  ISW_ALLOC(out->configs, total);
  for (int gi = 0; gi < b->n_g; ++gi)
    if (b->g[gi].fam == f) ISW_CALL(build_section(b, gi, ids, used, cap));
  b->spec->grid->group_run[f + 1] = b->spec->grid->n_runs;
cleanup:
  free(ids);
  free(used);
  return err;
}

typedef struct {
  const char *section, *key;
  char *text; /* "section.key = values" */
} cline;

static int cmp_cline(const void *x, const void *y) {
  const cline *a = x, *b = y;
  int c = strcmp(a->section, b->section);
  return c ? c : strcmp(a->key, b->key);
}

/* One canonical line "section.key = values" for lines[*n]. */
static int cline_add(cline *lines, int *n, const char *section, const char *key, sbuf *val) {
  int err = 0;
  sbuf sb = {0};
  ISW_CHECK(!val->oom, ISW_ENOMEM, "out of memory building the canonical text");
  sb_add(&sb, "%s.%s = %s\n", section, key, val->s ? val->s : "");
  ISW_CHECK(!sb.oom, ISW_ENOMEM, "out of memory building the canonical text");
  lines[*n].section = section;
  lines[*n].key = key;
  lines[*n].text = sb.s;
  (*n)++;
  val->len = 0;
  if (val->s) val->s[0] = '\0';
cleanup:
  return err;
}

/* Every used key with its resolved, expanded value, sorted by section then
 * key.  [sweep] holds the sweep-wide keys (not output, not the axes); each
 * task section holds its resolved axes and every parameter. */
static int build_canonical(build_ctx *b) {
  int err = 0, n = 0, cap = 0;
  cline *lines = NULL;
  sbuf v = {0}, all = {0};
  for (int gi = 0; gi < b->n_g; ++gi) cap += N_AX + 2 * b->g[gi].task->n_params + b->g[gi].task->n_own;
  cap += N_SWEEP_KEYS;
  ISW_ALLOC(lines, cap);
  const vlist *t = &b->sw[K_TASKS].v;
  for (int i = 0; i < t->n; ++i) sb_add(&v, "%s%s", i ? "," : "", t->sv[i]);
  ISW_CALL(cline_add(lines, &n, "sweep", "tasks", &v));
  sb_add(&v, "%" PRIu64, b->sw[K_SEED].v.u);
  ISW_CALL(cline_add(lines, &n, "sweep", "seed", &v));
  /* only what shapes the results: delta_n (summary), flop_rate (plan) and
   * max_configs (a guard) may change between a run and its resume */
  const int ints[] = {K_TEAM_WIDTH, K_TEAM_RANKS};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; ++i) {
    ints_add(&v, b->sw[ints[i]].v.iv, b->sw[ints[i]].v.n);
    ISW_CALL(cline_add(lines, &n, "sweep", sweep_keys[ints[i]].name, &v));
  }
  for (int gi = 0; gi < b->n_g; ++gi) {
    const gstate *g = &b->g[gi];
    for (int k = 0; k < N_AX; ++k) {
      ints_add(&v, g->ax[k].v.iv, g->ax[k].v.n);
      ISW_CALL(cline_add(lines, &n, g->name, sweep_keys[k].name, &v));
    }
    for (int p = 0; p < g->task->n_params; ++p) {
      const isw_param_def *pd = &g->task->params[p];
      for (int i = 0; i < g->par[p].v.n; ++i) {
        isw_value x = value_at(pd, &g->par[p].v, i);
        if (i) sb_add(&v, ",");
        value_add(&v, pd, &x, 0);
      }
      ISW_CALL(cline_add(lines, &n, g->name, pd->name, &v));
      if (b->hash_files && g->rpath[p]) { /* TASK.data_file.content = hash of each file */
        for (int i = 0; i < g->par[p].v.n; ++i) {
          char h[24] = "none";
          if (strcmp(g->rpath[p][i], "none") != 0) file_hash_text(h, g->rpath[p][i]);
          sb_add(&v, "%s%s", i ? "," : "", h);
        }
        char key[128];
        const char *k = NULL;
        int kn = snprintf(key, sizeof key, "%s.content", pd->name);
        ISW_CALL(intern(b->spec, key, (size_t)kn, &k));
        ISW_CALL(cline_add(lines, &n, g->name, k, &v));
      }
    }
    for (int j = 0; j < g->task->n_own; ++j) {
      if (!g->task->own_values[j]) continue; /* folded into another key's value */
      sb_add(&v, "%s", g->task->own_values[j]);
      ISW_CALL(cline_add(lines, &n, g->task->own_section, g->task->own_keys[j], &v));
    }
  }
  qsort(lines, (size_t)n, sizeof *lines, cmp_cline);
  for (int i = 0; i < n; ++i) sb_add(&all, "%s", lines[i].text);
  ISW_CHECK(!all.oom, ISW_ENOMEM, "out of memory building the canonical text");
  b->spec->canonical = all.s;
  all.s = NULL;
cleanup:
  for (int i = 0; i < n; ++i) free(lines[i].text);
  free(lines);
  free(v.s);
  free(all.s);
  return err;
}

/* ---- the public entry points --------------------------------------------- */

static void build_ctx_free(build_ctx *b) {
  for (int i = 0; i < b->r.n_e; ++i) {
    free(b->r.e[i].section);
    free(b->r.e[i].key);
    free(b->r.e[i].value);
  }
  free(b->r.e);
  free(b->r.index);
  free(b->r.section);
  for (int k = 0; k < N_SWEEP_KEYS; ++k) vlist_free(&b->sw[k].v);
  for (int gi = 0; gi < b->n_g; ++gi) {
    for (int k = 0; k < N_AX; ++k) vlist_free(&b->g[gi].ax[k].v);
    for (int p = 0; p < ISW_MAX_PARAMS; ++p) {
      vlist_free(&b->g[gi].par[p].v);
      free((void *)b->g[gi].rpath[p]);
    }
    if (b->g[gi].built) b->g[gi].built->destroy(b->g[gi].built);
  }
  free(b->g);
  free(b->dir);
  free(b->notes.s);
}

static int spec_parse(isw_spec **out, const char *name, const char *text, const char *const *sets, int n_sets,
                      int hash_files, int lean) {
  int err = 0;
  build_ctx b;
  memset(&b, 0, sizeof b);
  isw_spec *spec = NULL;
  ISW_CHECK(out != NULL && text != NULL && (n_sets == 0 || sets != NULL), ISW_EINTERNAL,
            "isw_spec_parse: NULL argument");
  *out = NULL;
  if (!name) name = "(spec)";
  ISW_ALLOC(spec, 1);
  b.spec = spec;
  b.hash_files = hash_files;
  b.lean = lean;
  if (strchr(name, '/') && strcmp(name, DEFAULT_NAME) != 0) {
    size_t n = (size_t)(strrchr(name, '/') - name);
    b.dir = dup_range(name, n ? n : 1); /* "/spec.ini": the folder is "/" */
    ISW_CHECK(b.dir != NULL, ISW_ENOMEM, "out of memory copying the spec's folder");
  }
  spec->path = strdup(name);
  spec->text = strdup(text);
  ISW_CHECK(spec->path && spec->text, ISW_ENOMEM, "out of memory copying the spec");
  {
    size_t used = 0;
    for (int i = 0; i < isw_n_tasks && used < sizeof b.known_tasks; ++i)
      used += (size_t)snprintf(b.known_tasks + used, sizeof b.known_tasks - used, "%s%s", i ? ", " : "",
                               isw_tasks[i]->name);
    snprintf(b.tasks_allowed, sizeof b.tasks_allowed, "task names separated by commas; known tasks: %s",
             b.known_tasks);
  }

  /* read */
  b.r.file = name;
  b.r.text = text;
  b.r.cur = text;
  int ret = ini_parse_stream(spec_reader, &b.r, spec_handler, &b.r);
  ISW_CHECK(ret != -2, ISW_ENOMEM, "out of memory in the INI reader");
  if (ret > 0 && (!b.r.err || ret < b.r.err_line)) {
    char t[TOKEN_SHOWN + 4];
    line_text(t, sizeof t, text, ret);
    loc where = {name, ret, NULL};
    USAGE(where, "cannot parse '%s' (expected [section], key = value, or a comment line starting with '#' "
                 "or ';'; a value does not continue onto the next line)", t);
  }
  ISW_CALL(b.r.err);

  /* overrides, then resolve */
  ISW_CALL(apply_sets(&b, sets, n_sets));
  ISW_CALL(resolve_tasks(&b));
  ISW_CALL(resolve_entries(&b));
  ISW_CALL(resolve_defaults(&b));
  ISW_CALL(resolve_paths(&b));

  spec->output = strdup(b.sw[K_OUTPUT].v.sv[0]);
  ISW_CHECK(spec->output != NULL, ISW_ENOMEM, "out of memory copying the output path");
  spec->sweep_seed = b.sw[K_SEED].v.u;
  spec->team_width = b.sw[K_TEAM_WIDTH].v.iv[0];
  spec->team_ranks = (int)b.sw[K_TEAM_RANKS].v.iv[0];
  spec->max_configs = b.sw[K_MAX_CONFIGS].v.iv[0];
  spec->flop_rate = b.sw[K_FLOP_RATE].v.rv[0];
  spec->batch_rows = (int)b.sw[K_BATCH_ROWS].v.iv[0];
  spec->batch_seconds = b.sw[K_BATCH_SECONDS].v.rv[0];
  spec->heartbeat = b.sw[K_HEARTBEAT].v.rv[0];
  spec->rank_timeout = b.sw[K_RANK_TIMEOUT].v.rv[0];
  if (spec->rank_timeout < 2 * spec->heartbeat) {
    const slot *x = b.sw[K_RANK_TIMEOUT].given ? &b.sw[K_RANK_TIMEOUT] : &b.sw[K_HEARTBEAT];
    USAGE(x->given ? x->where : sweep_loc(&b),
          "sweep.rank_timeout = %g must be at least twice sweep.heartbeat = %g (a rank that misses one "
          "heartbeat is not dead yet)", spec->rank_timeout, spec->heartbeat);
  }
  spec->n_delta = b.sw[K_DELTA_N].v.n;
  ISW_ALLOC(spec->delta_n, spec->n_delta);
  memcpy(spec->delta_n, b.sw[K_DELTA_N].v.iv, (size_t)spec->n_delta * sizeof *spec->delta_n);

  ISW_CALL(check_grid_size(&b));
  ISW_ALLOC(spec->groups, b.n_fam);
  ISW_ALLOC(spec->owned_tasks, b.n_fam);
  spec->n_groups = b.n_fam;
  ISW_ALLOC(spec->where, b.n_fam);
  ISW_ALLOC(spec->grid, 1);
  ISW_ALLOC(spec->grid->sec, b.n_g);
  spec->grid->n_sec = b.n_g;
  ISW_ALLOC(spec->grid->group_run, b.n_fam + 1);
  for (int gi = 0; gi < b.n_g; ++gi) { /* test_iters of each section: ascending, distinct */
    vlist *v = &b.g[gi].ax[AX_TEST].v;
    v->n = sort_unique_i64(v->iv, v->n);
  }
  for (int gi = 0, f = 0; gi < b.n_g; ++gi) {
    if (b.g[gi].main != gi) continue;
    char where[600];
    loc_text(where, sizeof where, b.g[gi].where);
    spec->where[f] = strdup(where);
    ISW_CHECK(spec->where[f] != NULL, ISW_ENOMEM, "out of memory copying a location");
    ISW_CALL(build_group(&b, f));
    ++f;
  }
  ISW_CALL(build_canonical(&b));
  if (b.notes.len) {
    ISW_CHECK(!b.notes.oom, ISW_ENOMEM, "out of memory for the spec's notes");
    spec->notes = b.notes.s;
    b.notes.s = NULL;
  }
  *out = spec;
  spec = NULL;
cleanup:
  build_ctx_free(&b);
  isw_spec_destroy(&spec);
  return err;
}

int isw_spec_parse(isw_spec **out, const char *name, const char *text, const char *const *sets, int n_sets) {
  return spec_parse(out, name, text, sets, n_sets, 0, 0);
}

int isw_spec_parse_lean(isw_spec **out, const char *name, const char *text, const char *const *sets,
                        int n_sets) {
  return spec_parse(out, name, text, sets, n_sets, 0, 1);
}

/* What a non-regular file is, for "it is %s". */
static const char *file_kind(mode_t m) {
  return S_ISFIFO(m)  ? "a FIFO"
         : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device"
         : S_ISDIR(m) ? "a directory"
         : S_ISSOCK(m) ? "a socket"
                       : "not a regular file";
}

int isw_spec_load(isw_spec **out, const char *path, const char *const *sets, int n_sets) {
  int err = 0, fd = -1;
  FILE *f = NULL;
  char *text = NULL;
  size_t len = 0, cap = 0;
  ISW_CHECK(out != NULL, ISW_EINTERNAL, "isw_spec_load: NULL out");
  *out = NULL;
  if (!path) {
    ISW_CALL(spec_parse(out, DEFAULT_NAME, isw_spec_default_text(), sets, n_sets, 1, 0));
    goto cleanup;
  }
  loc where = {path, 0, NULL};
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; what was opened
   * is checked on the descriptor itself, so no other file can slip in */
  errno = 0;
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s: cannot read spec file (%s)", path,
                          strerror(e));
    goto cleanup;
  }
  if (!S_ISREG(st.st_mode)) {
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                          "%s: cannot read spec file (it is %s; a spec must be a regular file)", path,
                          file_kind(st.st_mode));
    goto cleanup;
  }
  if (st.st_size > ISW_SPEC_MAX_BYTES) {
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                          "%s: cannot read spec file (it has %lld bytes; a spec has at most %d)", path,
                          (long long)st.st_size, ISW_SPEC_MAX_BYTES);
    goto cleanup;
  }
  f = fdopen(fd, "rb");
  ISW_CHECK(f != NULL, ISW_ENOMEM, "out of memory opening %s", path);
  fd = -1;
  /* read at most one byte past the limit: the file may grow while it is read */
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      char *t = realloc(text, cap);
      ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory reading %s", path);
      text = t;
    }
    size_t k = fread(text + len, 1, cap - len - 1, f);
    len += k;
    if (k == 0 || len > ISW_SPEC_MAX_BYTES) break;
  }
  if (ferror(f)) {
    int e = errno ? errno : EIO;
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s: cannot read spec file (%s)", path,
                          strerror(e));
    goto cleanup;
  }
  if (len > ISW_SPEC_MAX_BYTES) {
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                          "%s: cannot read spec file (it has more than %d bytes; a spec has at most %d)", path,
                          ISW_SPEC_MAX_BYTES, ISW_SPEC_MAX_BYTES);
    goto cleanup;
  }
  text[len] = '\0';
  if (memchr(text, '\0', len)) {
    int line = 1;
    for (const char *p = text; *p; ++p) line += *p == '\n';
    where.line = line;
    USAGE(where, "the file contains a NUL byte (a spec is a plain text file)");
  }
  ISW_CALL(spec_parse(out, path, text, sets, n_sets, 1, 0));
cleanup:
  if (f) fclose(f);
  if (fd >= 0) close(fd);
  free(text);
  return err;
}

void isw_spec_destroy(isw_spec **spec) {
  if (!spec || !*spec) return;
  isw_spec *s = *spec;
  free(s->path);
  free(s->text);
  free(s->canonical);
  free(s->notes);
  free(s->output);
  free(s->delta_n);
  for (int g = 0; g < s->n_groups; ++g) {
    free(s->groups[g].test_iters);
    free(s->groups[g].configs);
    if (s->where) free(s->where[g]);
  }
  free(s->where);
  free(s->groups);
  grid_free(s->grid);
  for (int i = 0; i < s->n_owned_tasks; ++i) s->owned_tasks[i]->destroy(s->owned_tasks[i]);
  free(s->owned_tasks);
  for (int i = 0; i < s->n_strings; ++i) free(s->strings[i]);
  free(s->strings);
  free(s);
  *spec = NULL;
}

const char *isw_spec_default_text(void) { return isw_default_spec_text; }

int isw_spec_each_data_set(const isw_spec *spec, int (*fn)(const isw_config *c, void *user), void *user) {
  int err = 0;
  uint64_t *ids = NULL;   /* (cap) open addressing on data_id */
  unsigned char *used = NULL; /* (cap) */
  size_t cap = 1;
  for (int g = 0; g < spec->n_groups; ++g)
    while (cap < 2 * (size_t)spec->groups[g].n_configs) cap *= 2;
  ISW_ALLOC(ids, cap);
  ISW_ALLOC(used, cap);
  for (int g = 0; g < spec->n_groups; ++g) {
    const isw_spec_group *grp = &spec->groups[g];
    memset(used, 0, cap);
    for (int i = 0; i < grp->n_configs; ++i) {
      uint64_t id = grp->configs[i].data_id;
      size_t h = (size_t)isw_mix64(id) & (cap - 1);
      while (used[h] && ids[h] != id) h = (h + 1) & (cap - 1);
      if (used[h]) continue;
      used[h] = 1;
      ids[h] = id;
      err = fn(&grp->configs[i], user);
      if (err) goto cleanup;
    }
  }
cleanup:
  free(ids);
  free(used);
  return err;
}

/* isw_spec_each_data_set's callback for isw_spec_validate. */
static int validate_one(const isw_config *c, void *user) {
  const isw_spec *spec = user;
  if (!c->task->validate) return 0;
  int err = c->task->validate(c);
  if (err == ISW_EUSAGE) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", isw_error_message());
    err = isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__, "%s: %s",
                          spec->where ? spec->where[c->group] : spec->path, msg);
  } else if (err) {
    isw_error_trace(__FILE__, __LINE__, __func__);
  }
  return err;
}

int isw_spec_validate(const isw_spec *spec) {
  int err = 0;
  ISW_CALL(isw_spec_each_data_set(spec, validate_one, (void *)spec));
cleanup:
  return err;
}

int isw_spec_config(isw_config *out, const isw_spec *spec, int group, int row) {
  int err = 0;
  sbuf sb = {0};
  ISW_CHECK(group >= 0 && group < spec->n_groups && row >= 0 && row < spec->groups[group].n_configs,
            ISW_EINTERNAL, "no config at group %d row %d", group, row);
  if (spec->groups[group].configs) {
    *out = spec->groups[group].configs[row];
    goto cleanup;
  }
  const struct isw_spec_grid *gd = spec->grid;
  int lo = gd->group_run[group], hi = gd->group_run[group + 1] - 1; /* the run holding row */
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (gd->runs[mid].row <= row) lo = mid;
    else hi = mid - 1;
  }
  const row_run *r = &gd->runs[lo];
  ISW_CHECK(r->row <= row && row < r->row + r->n, ISW_EINTERNAL, "the row map has no row %d in group %d", row,
            group);
  ISW_CALL(section_config(out, &sb, spec, group, &gd->sec[r->section], r->index + (row - r->row)));
  out->row = row;
cleanup:
  free(sb.s);
  return err;
}

int isw_spec_row_map(int64_t **out, int64_t *n, const isw_spec *spec) {
  int err = 0;
  const struct isw_spec_grid *gd = spec->grid;
  *out = NULL;
  *n = 4 * (int64_t)gd->n_runs;
  ISW_ALLOC(*out, *n > 0 ? *n : 1);
  for (int g = 0; g < spec->n_groups; ++g)
    for (int k = gd->group_run[g]; k < gd->group_run[g + 1]; ++k) {
      int64_t *v = *out + 4 * (int64_t)k;
      v[0] = g;
      v[1] = gd->runs[k].section;
      v[2] = gd->runs[k].index;
      v[3] = gd->runs[k].n;
    }
cleanup:
  return err;
}

int isw_spec_set_row_map(isw_spec *spec, const int64_t *map, int64_t n) {
  int err = 0;
  struct isw_spec_grid *gd = spec->grid;
  ISW_CHECK(n % 4 == 0 && n / 4 <= INT32_MAX, ISW_EINTERNAL, "a row map of %" PRId64 " values", n);
  for (int g = 0; g < spec->n_groups; ++g)
    ISW_CHECK(!spec->groups[g].configs && spec->groups[g].n_configs == 0, ISW_EINTERNAL,
              "isw_spec_set_row_map: the spec is not lean");
  gd->n_runs = 0;
  for (int64_t k = 0; k < n / 4; ++k) {
    const int64_t *v = map + 4 * k;
    ISW_CHECK(v[0] >= 0 && v[0] < spec->n_groups && (k == 0 || v[0] >= map[4 * k - 4]) && v[1] >= 0 &&
                  v[1] < gd->n_sec && gd->sec[v[1]].task == spec->groups[v[0]].task && v[2] >= 0 && v[3] >= 1 &&
                  v[3] <= gd->sec[v[1]].size - v[2],
              ISW_EINTERNAL, "run %" PRId64 " of the row map does not fit this spec", k);
    isw_spec_group *grp = &spec->groups[v[0]];
    ISW_CHECK(v[3] <= INT32_MAX - grp->n_configs, ISW_EINTERNAL, "group %s: too many configs", grp->task->name);
    ISW_CALL(grow((void **)&gd->runs, &gd->cap_runs, gd->n_runs + 1, sizeof *gd->runs));
    gd->runs[gd->n_runs++] = (row_run){grp->n_configs, v[2], (int)v[1], (int)v[3]};
    grp->n_configs += (int)v[3];
  }
  for (int g = 0, k = 0; g < spec->n_groups; ++g) {
    gd->group_run[g] = k;
    while (k < gd->n_runs && map[4 * (int64_t)k] == g) ++k;
    gd->group_run[g + 1] = k;
  }
cleanup:
  return err;
}

int64_t isw_spec_n_configs(const isw_spec *spec) {
  int64_t n = 0;
  for (int g = 0; g < spec->n_groups; ++g) n += spec->groups[g].n_configs;
  return n;
}

/* ---- extension: is one canonical text a subset of another? -------------- */

typedef struct {
  const char *key, *val; /* into a copy of the text; NUL-terminated */
  int line;
} canon_line;

/* Split a canonical text (a copy, modified) into its lines "KEY = VALUE". */
static int canon_split(canon_line **out, int *n, char *text) {
  int err = 0, cap = 0;
  *out = NULL;
  *n = 0;
  int line = 0;
  for (char *p = text; *p;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    ++line;
    char *eq = strstr(p, " = ");
    if (eq) {
      ISW_CALL(grow((void **)out, &cap, *n + 1, sizeof **out));
      *eq = '\0';
      (*out)[*n].key = p;
      (*out)[*n].val = eq + 3;
      (*out)[*n].line = line;
      (*n)++;
    }
    if (!nl) break;
    p = nl + 1;
  }
cleanup:
  return err;
}

static const canon_line *canon_find(const canon_line *l, int n, const char *key) {
  for (int i = 0; i < n; ++i)
    if (strcmp(l[i].key, key) == 0) return &l[i];
  return NULL;
}

/* Every comma-separated token of `a` is a token of `b`. */
static int tokens_within(const char *a, const char *b) {
  for (const char *p = a; *p;) {
    size_t n = strcspn(p, ",");
    int found = 0;
    for (const char *q = b; *q && !found;) {
      size_t m = strcspn(q, ",");
      found = m == n && strncmp(p, q, n) == 0;
      q += m + (q[m] == ',');
    }
    if (!found) return 0;
    p += n + (p[n] == ',');
  }
  return 1;
}

/* The section of a canonical key: "deq.widths" -> "deq", "deq.wide.seeds"
 * -> "deq.wide", "deq.data_file.content" -> "deq" (length into *len). */
static void canon_section(const char *key, size_t *len) {
  size_t n = strlen(key);
  if (n > 8 && strcmp(key + n - 8, ".content") == 0) n -= 8;
  while (n && key[n - 1] != '.') --n;
  *len = n ? n - 1 : 0;
}

static int section_in(const canon_line *l, int n, const char *key) {
  size_t a, b;
  canon_section(key, &a);
  for (int i = 0; i < n; ++i) {
    canon_section(l[i].key, &b);
    if (a == b && strncmp(key, l[i].key, a) == 0) return 1;
  }
  return 0;
}

int isw_spec_extends(const char *old, const char *new_text, char *why, size_t size) {
  int err = 0, n_old = 0, n_new = 0, bad = 0;
  char *a = strdup(old ? old : ""), *b = strdup(new_text ? new_text : "");
  canon_line *lo = NULL, *ln = NULL;
  ISW_CHECK(a && b, ISW_ENOMEM, "out of memory comparing canonical texts");
  ISW_CALL(canon_split(&lo, &n_old, a));
  ISW_CALL(canon_split(&ln, &n_new, b));
  for (int i = 0; i < n_old && !bad; ++i) {
    const canon_line *o = &lo[i], *x = canon_find(ln, n_new, o->key);
    size_t kl = strlen(o->key);
    int exact = strncmp(o->key, "sweep.", 6) == 0 || (kl > 11 && strcmp(o->key + kl - 11, ".test_iters") == 0) ||
                (kl > 8 && strcmp(o->key + kl - 8, ".content") == 0);
    if (strcmp(o->key, "sweep.tasks") == 0) exact = 0;
    int ok = x && (exact ? strcmp(o->val, x->val) == 0 : tokens_within(o->val, x->val));
    if (!ok) {
      bad = o->line;
      snprintf(why, size, "canonical line %d is '%.100s = %.100s' in the file, %s%.100s%s%.100s%s in this spec", o->line,
               o->key, o->val, x ? "'" : "", x ? x->key : "(missing)", x ? " = " : "", x ? x->val : "",
               x ? "'" : "");
    }
  }
  for (int i = 0; i < n_new && !bad; ++i) {
    const canon_line *x = &ln[i];
    if (canon_find(lo, n_old, x->key) || !section_in(lo, n_old, x->key)) continue;
    bad = x->line;
    snprintf(why, size, "canonical line %d of this spec, '%.100s = %.100s', is not in the file", x->line, x->key,
             x->val);
  }
  err = bad ? ISW_EUSAGE : 0;
  if (!bad && why && size) why[0] = '\0';
cleanup:
  free(lo);
  free(ln);
  free(a);
  free(b);
  return err;
}
