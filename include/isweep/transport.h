/* transport.h — the only module that talks MPI point-to-point: rank 0's
 * dispatcher hands jobs to workers, each worker keeps a small queue of them
 * and reports what it finished, several results a message.
 *
 * Protocol (every message is sent with MPI_Isend and never waited for on
 * its own: a pool of outstanding requests is reaped later):
 *   dispatcher -> worker  JOB     one config (or a team membership); a worker
 *                                 holds up to `depth` of them (prefetch: it
 *                                 gets the next while it runs one)
 *                         STOP    no more jobs: run those you hold, then report
 *                                 your final report
 *                         CANCEL  a stop was requested: do not start the jobs
 *                                 you hold (they go back to pending), then final
 *                         BYE     answer to the final report; the last message a
 *                                 rank is sent, so every send is received
 *                         END     (only after a rank was lost) exit now with this
 *                                 status: rank 0 closed the file alone
 *   worker -> dispatcher  report  outcomes of the jobs it led, how many jobs it
 *                                 finished (the queue slots to refill), its stop
 *                                 flag, and `final` (nothing held, told to stop)
 *                         heartbeat  an empty report (nothing done, no stop, not
 *                                 final) that a thread of every rank but 0 sends
 *                                 every `heartbeat` seconds until its final report,
 *                                 whatever its main thread does (a config may sit
 *                                 in one BLAS call for hours); sent under hb_mu,
 *                                 so none follows the final report
 * Without ULFM (Open MPI 4.1 as Debian builds it) MPI says nothing of a dead
 * rank under mpirun --enable-recovery: the heartbeat is how the dispatcher
 * tells a dead rank from a busy one, and END is how a rank blocked for good
 * in a collective with a dead one (MPI_Abort on rank 0 does not end it under
 * --enable-recovery: measured) is ended: its heartbeat thread exits the
 * process.
 * The dispatcher assumes every rank is free at the start (no first request).
 * Waits poll MPI_Test with a short growing sleep (2 us doubling to 100 us;
 * a worker that has waited for 20 ms naps up to 1 ms), so neither side spins
 * a core nor waits milliseconds for a message.
 * Thread use: the dispatcher runs in its own thread on rank 0 (MPI is
 * initialised with MPI_THREAD_MULTIPLE); it uses only the *_dispatch_* calls,
 * rank 0's worker only the *_worker_* calls.
 * Errors: every communicator made here returns MPI errors (MPI_ERRORS_RETURN,
 * which main sets on MPI_COMM_WORLD too) and each failed MPI call becomes
 * ISW_EMPI with a message naming the call and MPI's description. */
#ifndef ISWEEP_TRANSPORT_H
#define ISWEEP_TRANSPORT_H

#include <mpi.h>
#include <pthread.h>

#define ISW_MAX_TEAM 64
#define ISW_TRANSPORT_HOST_LEN 64 /* host names rank 0 knows of every rank, '\0' included */
#define ISW_PREFETCH_MAX 16 /* most jobs a worker holds (running + queued) */

typedef enum {
  ISW_ASSIGN_JOB = 1,
  ISW_ASSIGN_STOP = 2,
  ISW_ASSIGN_CANCEL = 3,
  ISW_ASSIGN_BYE = 4
} isw_assign_kind;

/* Dispatcher -> worker.  Only the first `team` members travel. */
typedef struct {
  int kind;                   /* isw_assign_kind */
  int group, row;             /* the config (JOB) */
  int batch;                  /* JOB: report once this many jobs are done (1 .. ISW_PREFETCH_MAX) */
  int tag;                    /* unique per job: tag of MPI_Comm_create_group */
  int team;                   /* ranks in the team, members[0] leads and writes the row */
  int members[ISW_MAX_TEAM];  /* world ranks of the team, ascending */
} isw_assign;

/* The end of one job this rank led. */
typedef struct {
  int group, row;
  int status;     /* isw_status of that row */
  double seconds; /* its wall time */
} isw_outcome;

/* Worker -> dispatcher.  Only the first n outcomes travel. */
typedef struct {
  int n;     /* outcomes below */
  int done;  /* jobs finished since the last report, led or not */
  int stop;  /* nonzero: a stop signal reached this rank (stop the sweep) */
  int final; /* 1: told STOP or CANCEL, holds nothing: its last report */
  isw_outcome out[ISW_PREFETCH_MAX];
} isw_report;

typedef struct {
  MPI_Comm ctrl;   /* reports and assignments */
  MPI_Comm work;   /* parent of team communicators */
  int rank, size;
  /* dispatcher side */
  MPI_Request pending;  /* posted receive of the next report */
  isw_report inbox;
  MPI_Request *pool;    /* (pool_cap) outstanding sends, MPI_REQUEST_NULL when free */
  isw_assign **pool_buf;/* (pool_cap) their buffers */
  int *pool_to;         /* (pool_cap) the rank each one goes to */
  int *pool_free;       /* (pool_cap) stack of free slots */
  int pool_cap, pool_n_free;
  char *hosts;          /* rank 0: (size, ISW_TRANSPORT_HOST_LEN) every rank's host name */
  /* worker side */
  MPI_Request w_recv;   /* posted receive of the next assignment */
  isw_assign w_inbox;
  isw_assign w_queue[ISW_PREFETCH_MAX]; /* received, not started, in order */
  int w_head, w_len;
  int w_told;           /* 0, ISW_ASSIGN_STOP or ISW_ASSIGN_CANCEL */
  int w_bye, w_final_sent, w_stop_sent, w_batch;
  isw_report w_unsent;  /* outcomes not reported yet */
  isw_report w_sending; /* the report in flight */
  MPI_Request w_send;
  /* heartbeat thread (ranks other than 0, isw_transport_heartbeat_start) */
  pthread_t hb_thread;
  int hb_started;
  double hb_seconds;
  pthread_mutex_t hb_mu; /* orders its last heartbeat before the final report */
  pthread_cond_t hb_cv;
  int hb_quit, hb_final;
  int hb_code;           /* the status an END carries (receive buffer) */
  int end_code;          /* rank 0: the status END sends (send buffer) */
} isw_transport;

/* 0 when rc is MPI_SUCCESS; otherwise ISW_EMPI with the message "MPI error
 * in WHAT: MPI's error string" (raised through isw_error_raise). */
int isw_transport_mpi_error(int rc, const char *what);

/* Collective over world: duplicate the communicators; rank 0 gathers every
 * rank's host name (t->hosts). */
int isw_transport_init(isw_transport *t, MPI_Comm world);
/* Collective: stop the heartbeat thread, free the communicators (and
 * whatever the pool still holds). */
void isw_transport_destroy(isw_transport *t);

/* On every rank but 0 (nothing to do on rank 0 or with seconds <= 0): start
 * the thread that sends a heartbeat every `seconds` until this rank's final report
 * and, until isw_transport_destroy, ends the process (_exit) with the status
 * an END from the dispatcher carries.  Call once, after init. */
int isw_transport_heartbeat_start(isw_transport *t, double seconds);

/* Worker side. */
/* The next job to run into *a (kind JOB), or kind STOP when the dispatcher
 * has nothing more for this rank (after its BYE: nothing of this rank is in
 * flight any more).  Sends the reports due first: once `batch` jobs are done,
 * at once when the queue is empty, and at once when this rank's stop flag
 * (isw_stop_requested) rose.  *cancelled: the dispatcher cancelled the jobs
 * not started: run_job must not start this one (its row goes back to
 * pending) but must still call isw_transport_worker_done.  Waits asleep. */
int isw_transport_worker_next(isw_transport *t, isw_assign *a, int *cancelled);
/* Job a ended with `status` after `seconds` (the outcome travels when a
 * leads it); frees its queue slot at the next report.  ISW_EINTERNAL when
 * more jobs end than were handed out. */
int isw_transport_worker_done(isw_transport *t, const isw_assign *a, int status, double seconds);
/* Team communicator over a->members (collective over the members only);
 * MPI_COMM_SELF for a team of one.  Free with isw_transport_team_free. */
int isw_transport_team_comm(isw_transport *t, const isw_assign *a, MPI_Comm *team);
void isw_transport_team_free(MPI_Comm *team);
/* Collective over `team` (nothing to do for MPI_COMM_SELF): *flag becomes
 * nonzero on every member when it was nonzero on any. */
int isw_transport_team_any(MPI_Comm team, int *flag);

/* Dispatcher side (rank 0, its own thread). */
/* Non-blocking: *got = 1 and the report and its sender when one arrived (a
 * heartbeat is an empty report: n, done, stop and final 0). */
int isw_transport_dispatch_poll(isw_transport *t, isw_report *r, int *from, int *got);
/* Non-blocking send of a (copied into the pool): returns at once; the
 * request is reaped by a later call. */
int isw_transport_dispatch_send(isw_transport *t, int to, const isw_assign *a);
/* Complete every send of the pool (each was received: call after every
 * rank's final report was answered with BYE), sleeping while it waits;
 * sends to a rank r with skip[r] nonzero (a lost rank) are left as they are
 * (skip may be NULL). */
int isw_transport_dispatch_flush(isw_transport *t, const unsigned char *skip);
/* END with exit status `code` to every rank r > 0 with dead[r] zero, then
 * wait at most `seconds` for the sends to complete (a rank blocked in MPI
 * still receives: its heartbeat thread does).  Returns how many completed,
 * -1 when out of memory. */
int isw_transport_dispatch_end(isw_transport *t, const unsigned char *dead, int code, double seconds);
/* Sleep for the k-th idle round of the dispatcher (2 us doubling to 100 us,
 * 500 us from the 200th round on). */
void isw_transport_dispatch_nap(int k);

/* A barrier over every rank that sleeps while it waits (collective), so
 * ranks that finish early do not spin until the last config ends. */
int isw_transport_quiet_barrier(isw_transport *t);

/* Sleep for the k-th round of a long polling loop (50 us doubling to 5 ms). */
void isw_transport_backoff(int k);

#endif
