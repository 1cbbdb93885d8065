/* signals.h — SIGTERM, SIGINT and SIGUSR1 request a clean stop.
 * The handler only sets a flag (async-signal-safe); isw_stop_requested()
 * (declared in task.h) reads it.  Rank 0's dispatcher stops handing out work
 * when it is set; running configs finish and the file is closed cleanly. */
#ifndef ISWEEP_SIGNALS_H
#define ISWEEP_SIGNALS_H

/* Install the handlers (idempotent). */
void isw_signals_install(void);
/* The number of the first stop signal received, or 0. */
int isw_signals_received(void);
/* Raise the flag by hand (tests, and a failure that must stop dispatching). */
void isw_signals_request_stop(void);

#endif
