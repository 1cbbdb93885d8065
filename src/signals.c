/* signals.c — stop flag set by SIGTERM/SIGINT/SIGUSR1 (see signals.h).
 * Owns the process's handlers for those three signals and nothing else. */
#include "isweep/signals.h"

#include <signal.h>
#include <string.h>

#include "isweep/task.h"

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int sig) {
  if (!stop_signal) stop_signal = sig;
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
}

int isw_signals_received(void) { return (int)stop_signal; }

void isw_signals_request_stop(void) {
  if (!stop_signal) stop_signal = -1;
}

int isw_stop_requested(void) { return stop_signal != 0; }
