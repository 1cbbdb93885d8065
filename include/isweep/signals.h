/* signals.h — SIGTERM, SIGINT and SIGUSR1 request a stop; SIGUSR2 asks for a
 * status report.  The handlers only set flags (async-signal-safe);
 * isw_stop_requested() (declared in task.h) reads the stop flag.
 *
 * A stop on any rank stops the sweep: rank 0's dispatcher reads its own flag,
 * and every worker's report to it carries the worker's flag, so it stops
 * handing out work whichever rank was signalled.  Tasks that poll the flag
 * abandon their config (the row goes back to pending); the others finish it.
 * Then the file is closed collectively and isweep exits with status 75. */
#ifndef ISWEEP_SIGNALS_H
#define ISWEEP_SIGNALS_H

/* Install the handlers (idempotent). */
void isw_signals_install(void);
/* The number of the first stop signal received, or 0. */
int isw_signals_received(void);
/* Raise the stop flag by hand (tests, and a failure that must stop dispatching). */
void isw_signals_request_stop(void);
/* Nonzero when a SIGUSR2 arrived since the previous call (each one is seen
 * once).  Only one thread (rank 0's dispatcher) may call it. */
int isw_signals_take_status_request(void);

#endif
