/* error.c — the thread-local error message and traceback behind error.h.
 * Owns no resources; never prints (main and the drivers decide that). */
#include "isweep/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char msg_buf[1024];
static _Thread_local char trace_buf[2048];

static void trace_append(const char *file, int line, const char *func) {
  size_t used = strlen(trace_buf);
  if (used + 1 >= sizeof trace_buf) return;
  snprintf(trace_buf + used, sizeof trace_buf - used, "  at %s:%d (%s)\n", file, line, func);
}

int isw_error_raise(int code, const char *file, int line, const char *func,
                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg_buf, sizeof msg_buf, fmt, ap);
  va_end(ap);
  trace_buf[0] = '\0';
  trace_append(file, line, func);
  return code;
}

void isw_error_trace(const char *file, int line, const char *func) {
  trace_append(file, line, func);
}

const char *isw_error_message(void) { return msg_buf; }
const char *isw_error_traceback(void) { return trace_buf; }

void isw_error_clear(void) {
  msg_buf[0] = '\0';
  trace_buf[0] = '\0';
}
