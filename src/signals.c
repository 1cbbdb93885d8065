/* signals.c — the stop flag set by SIGTERM/SIGINT/SIGUSR1 and the status
 * request counter bumped by SIGUSR2 (see signals.h).  Owns the process's
 * handlers for those four signals and nothing else. */
#include "isweep/signals.h"

#include <signal.h>
#include <string.h>

#include "isweep/task.h"

static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t status_requests = 0;
static sig_atomic_t status_seen = 0; /* read and written by the dispatcher only */

static void on_stop(int sig) {
  if (!stop_signal) stop_signal = sig;
}

static void on_status(int sig) {
  (void)sig;
  status_requests = status_requests + 1;
}

void isw_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_status;
  sigaction(SIGUSR2, &sa, NULL);
}

int isw_signals_received(void) { return (int)stop_signal; }

void isw_signals_request_stop(void) {
  if (!stop_signal) stop_signal = -1;
}

int isw_signals_take_status_request(void) {
  sig_atomic_t now = status_requests;
  if (now == status_seen) return 0;
  status_seen = now;
  return 1;
}

int isw_stop_requested(void) { return stop_signal != 0; }
