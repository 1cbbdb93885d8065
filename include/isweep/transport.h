/* transport.h — the only module that talks MPI point-to-point: workers ask
 * rank 0's dispatcher for work and report what they finished; the dispatcher
 * hands out jobs, team memberships and the stop order.  Every wait polls with
 * a growing sleep (50 us .. 5 ms), so no rank spins a core while it waits.
 * Thread use: the dispatcher runs in its own thread on rank 0 (MPI is
 * initialised with MPI_THREAD_MULTIPLE); it uses only the *_dispatch calls.
 * Errors: every communicator made here returns MPI errors (MPI_ERRORS_RETURN,
 * which main sets on MPI_COMM_WORLD too) and each failed MPI call becomes
 * ISW_EMPI with a message naming the call and MPI's description. */
#ifndef ISWEEP_TRANSPORT_H
#define ISWEEP_TRANSPORT_H

#include <mpi.h>

#define ISW_MAX_TEAM 64

typedef enum { ISW_ASSIGN_JOB = 1, ISW_ASSIGN_STOP = 2 } isw_assign_kind;

/* Dispatcher -> worker. */
typedef struct {
  int kind;                   /* isw_assign_kind */
  int group, row;             /* the config (JOB) */
  int team;                   /* ranks in the team, members[0] leads and writes the row */
  int tag;                    /* unique per job: tag of MPI_Comm_create_group */
  int members[ISW_MAX_TEAM];  /* world ranks of the team, ascending */
} isw_assign;

/* Worker -> dispatcher: "I am free", with the result of the job just done. */
typedef struct {
  int has_result; /* 1 when this rank led a job that just ended */
  int group, row;
  int status;     /* isw_status of that row */
  double seconds; /* its wall time */
  int stop;       /* nonzero: a stop signal reached this rank (stop the sweep) */
} isw_report;

typedef struct {
  MPI_Comm ctrl;   /* reports and assignments */
  MPI_Comm work;   /* parent of team communicators */
  int rank, size;
  MPI_Request pending; /* dispatcher's posted receive */
  isw_report inbox;
} isw_transport;

/* 0 when rc is MPI_SUCCESS; otherwise ISW_EMPI with the message "MPI error
 * in WHAT: MPI's error string" (raised through isw_error_raise). */
int isw_transport_mpi_error(int rc, const char *what);

/* Collective over world: duplicate the communicators. */
int isw_transport_init(isw_transport *t, MPI_Comm world);
/* Collective: free them. */
void isw_transport_destroy(isw_transport *t);

/* Worker side. */
int isw_transport_report(isw_transport *t, const isw_report *r);
int isw_transport_wait_assign(isw_transport *t, isw_assign *a);
/* Team communicator over a->members (collective over the members only);
 * MPI_COMM_SELF for a team of one.  Free with isw_transport_team_free. */
int isw_transport_team_comm(isw_transport *t, const isw_assign *a, MPI_Comm *team);
void isw_transport_team_free(MPI_Comm *team);
/* Collective over `team` (nothing to do for MPI_COMM_SELF): *flag becomes
 * nonzero on every member when it was nonzero on any. */
int isw_transport_team_any(MPI_Comm team, int *flag);

/* Dispatcher side (rank 0, its own thread). */
/* Non-blocking: *got = 1 and the report and its sender when one arrived. */
int isw_transport_dispatch_poll(isw_transport *t, isw_report *r, int *from, int *got);
int isw_transport_dispatch_send(isw_transport *t, int to, const isw_assign *a);

/* A barrier over every rank that sleeps while it waits (collective), so
 * ranks that finish early do not spin until the last config ends. */
int isw_transport_quiet_barrier(isw_transport *t);

/* Sleep for the k-th round of a polling loop (50 us doubling to 5 ms). */
void isw_transport_backoff(int k);

#endif
