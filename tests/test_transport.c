/* test_transport.c — MPI failures come back as ISW_EMPI errors with a message
 * instead of aborting the job: isweep's communicators return MPI errors, and
 * transport.c translates them at the edge.  And the protocol between the
 * real dispatcher (its own thread on rank 0) and the workers: every job is
 * handed out once, a rank holds the next job while it runs one, and a stop
 * with jobs queued sends those back to pending. */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/dispatch.h"
#include "isweep/error.h"
#include "isweep/sched.h"
#include "isweep/signals.h"
#include "isweep/spec.h"
#include "isweep/transport.h"
#include "testutil.h"

/* A send to a rank that does not exist is an MPI error the caller sees. */
static void test_send_to_missing_rank_is_an_error(void) {
  isw_transport t;
  CU_ASSERT_EQUAL_FATAL(isw_transport_init(&t, MPI_COMM_WORLD), 0);
  isw_assign a;
  memset(&a, 0, sizeof a);
  a.kind = ISW_ASSIGN_STOP;
  isw_error_clear();
  int rc = isw_transport_dispatch_send(&t, t.size + 3, &a);
  CU_ASSERT_EQUAL(rc, ISW_EMPI);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "MPI_Isend"));
  isw_transport_destroy(&t);
}

/* A team naming a rank outside the world fails with ISW_EMPI on the caller.
 * (Group calls report on MPI_COMM_WORLD's handler, which main sets as here.) */
static void test_team_with_missing_member_is_an_error(void) {
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  isw_transport t;
  CU_ASSERT_EQUAL_FATAL(isw_transport_init(&t, MPI_COMM_WORLD), 0);
  isw_assign a;
  memset(&a, 0, sizeof a);
  a.kind = ISW_ASSIGN_JOB;
  a.team = 2;
  a.members[0] = t.rank;
  a.members[1] = t.size + 5;
  a.tag = 7;
  MPI_Comm team = MPI_COMM_NULL;
  isw_error_clear();
  CU_ASSERT_EQUAL(isw_transport_team_comm(&t, &a, &team), ISW_EMPI);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "MPI"));
  isw_transport_team_free(&team);
  isw_transport_destroy(&t);
}

/* A translated MPI code names the call and MPI's own words for the error. */
static void test_mpi_codes_are_translated(void) {
  isw_error_clear();
  CU_ASSERT_EQUAL(isw_transport_mpi_error(MPI_SUCCESS, "MPI_Bcast"), 0);
  CU_ASSERT_EQUAL(isw_transport_mpi_error(MPI_ERR_RANK, "MPI_Bcast"), ISW_EMPI);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "MPI_Bcast"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "rank"));
}

/* A sweep of n equal linear-meta configs (only the dispatcher reads them),
 * its jobs in order, the transport, and on rank 0 the dispatcher thread. */
typedef struct {
  isw_spec *spec;
  isw_job *jobs;
  int n_jobs, rank, size;
  isw_transport t;
  isw_dispatch d;
  pthread_t thread;
} protocol_run;

static void protocol_start(protocol_run *run, int n, int depth) {
  memset(run, 0, sizeof *run);
  MPI_Comm_rank(MPI_COMM_WORLD, &run->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &run->size);
  char text[512];
  snprintf(text, sizeof text,
           "[sweep]\ntasks = linear-meta\nseeds = 0:%d\ntrain_iters = 1\ntest_iters = 0\n"
           "output = /nonexistent/test_transport.h5\n[linear-meta]\nwidths = 16\n", n - 1);
  CU_ASSERT_EQUAL_FATAL(isw_spec_parse(&run->spec, "test_transport", text, NULL, 0), 0);
  isw_sched_assign(run->spec, run->size);
  CU_ASSERT_EQUAL_FATAL(isw_sched_order(&run->jobs, &run->n_jobs, run->spec, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(isw_transport_init(&run->t, MPI_COMM_WORLD), 0);
  if (run->rank == 0) {
    run->d.t = &run->t;
    run->d.spec = run->spec;
    run->d.jobs = run->jobs;
    run->d.n_jobs = run->n_jobs;
    run->d.n_total = run->n_jobs;
    run->d.quiet = 1;
    run->d.depth = depth;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&run->thread, NULL, isw_dispatch_main, &run->d), 0);
  }
}

static void protocol_end(protocol_run *run) {
  if (run->rank == 0) pthread_join(run->thread, NULL);
  CU_ASSERT_EQUAL(isw_transport_quiet_barrier(&run->t), 0);
  isw_transport_destroy(&run->t);
  free(run->jobs);
  isw_spec_destroy(&run->spec);
}

/* Every job reaches exactly one rank, and with depth 2 each rank holds its
 * second job before it reports the first (prefetch). */
static void test_each_job_once_with_prefetch(void) {
  enum { N = 300 };
  protocol_run run;
  protocol_start(&run, N, 2);
  int *mine = calloc(N, sizeof *mine), cancelled = 0, n_mine = 0;
  isw_assign a, b;
  CU_ASSERT_EQUAL(isw_transport_worker_next(&run.t, &a, &cancelled), 0);
  CU_ASSERT_EQUAL(isw_transport_worker_next(&run.t, &b, &cancelled), 0);
  CU_ASSERT_EQUAL(a.kind, ISW_ASSIGN_JOB);
  CU_ASSERT_EQUAL(b.kind, ISW_ASSIGN_JOB);
  CU_ASSERT(a.row != b.row);
  CU_ASSERT_FALSE(cancelled);
  mine[a.row]++;
  mine[b.row]++;
  n_mine = 2;
  CU_ASSERT_EQUAL(isw_transport_worker_done(&run.t, &a, ISW_ST_OK, 0.0), 0);
  CU_ASSERT_EQUAL(isw_transport_worker_done(&run.t, &b, ISW_ST_OK, 0.0), 0);
  for (;;) {
    CU_ASSERT_EQUAL_FATAL(isw_transport_worker_next(&run.t, &a, &cancelled), 0);
    if (a.kind == ISW_ASSIGN_STOP) break;
    CU_ASSERT_EQUAL(a.kind, ISW_ASSIGN_JOB);
    CU_ASSERT_FALSE(cancelled);
    mine[a.row]++;
    n_mine++;
    CU_ASSERT_EQUAL(isw_transport_worker_done(&run.t, &a, ISW_ST_OK, 0.0), 0);
  }
  MPI_Allreduce(MPI_IN_PLACE, mine, N, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  int once = 0;
  for (int i = 0; i < N; ++i) once += mine[i] == 1;
  CU_ASSERT_EQUAL(once, N);
  if (run.rank == 0) {
    CU_ASSERT_EQUAL(run.d.n_ok, N);
    CU_ASSERT_EQUAL(run.d.n_dispatched, N);
    CU_ASSERT_FALSE(run.d.stopped);
  }
  protocol_end(&run);
  free(mine);
}

/* A stop while jobs are queued: the last rank raises its stop flag while it
 * runs its first job; every job not started by then comes back pending,
 * either cancelled by the dispatcher or under the rank's own flag (run_job's
 * rule), and no job starts on rank 0 once the cancel reached it.  Raises
 * the process's stop flag: the last case of the suite. */
static void test_stop_sends_queued_jobs_back(void) {
  enum { N = 200 };
  protocol_run run;
  protocol_start(&run, N, 4);
  int last = run.size - 1, cancelled = 0, ran = 0, pending = 0, n_cancelled = 0;
  isw_assign a;
  CU_ASSERT_EQUAL_FATAL(isw_transport_worker_next(&run.t, &a, &cancelled), 0);
  CU_ASSERT_EQUAL(a.kind, ISW_ASSIGN_JOB);
  if (run.rank == last) isw_signals_request_stop();
  if (run.rank == 0 && last != 0) /* wait until the last rank has seen the end */
    MPI_Recv(&ran, 1, MPI_INT, last, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  ran = 1;
  CU_ASSERT_EQUAL(isw_transport_worker_done(&run.t, &a, ISW_ST_OK, 0.0), 0);
  for (;;) {
    CU_ASSERT_EQUAL_FATAL(isw_transport_worker_next(&run.t, &a, &cancelled), 0);
    if (a.kind == ISW_ASSIGN_STOP) break;
    int stop = cancelled || isw_stop_requested();
    n_cancelled += cancelled;
    if (stop) pending++;
    else ran++;
    CU_ASSERT_EQUAL(isw_transport_worker_done(&run.t, &a, stop ? ISW_ST_PENDING : ISW_ST_OK, 0.0), 0);
    if (run.rank == 0 && last != 0) CU_ASSERT(stop); /* the cancel came before anything left here */
  }
  if (run.rank == last && last != 0) MPI_Send(&ran, 1, MPI_INT, 0, 99, MPI_COMM_WORLD);
  int counts[2] = {ran, pending};
  MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (run.rank == 0) {
    printf("\n  stop with jobs queued: %d dispatched, %d ran, %d back to pending (%d cancelled on rank 0)\n",
           run.d.n_dispatched, counts[0], counts[1], n_cancelled);
    CU_ASSERT(run.d.stopped);
    CU_ASSERT_EQUAL(counts[0] + counts[1], run.d.n_dispatched);
    CU_ASSERT_EQUAL(run.d.n_ok, counts[0]);
    CU_ASSERT_EQUAL(run.d.n_interrupted, counts[1]);
    CU_ASSERT(counts[1] >= 1);
    CU_ASSERT(run.d.n_dispatched < N);
    if (last != 0) CU_ASSERT(n_cancelled >= 1);
  }
  protocol_end(&run);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"a send to a missing rank is an ISW_EMPI error, not an abort", test_send_to_missing_rank_is_an_error},
      {"a team with a missing member is an ISW_EMPI error", test_team_with_missing_member_is_an_error},
      {"MPI codes are translated with the call's name and MPI's message", test_mpi_codes_are_translated},
      {"every job reaches one rank once; a rank holds its second job before reporting the first",
       test_each_job_once_with_prefetch},
      {"a stop with jobs queued sends the jobs not started back to pending (last: raises the stop flag)",
       test_stop_sends_queued_jobs_back},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "transport", cases);
}
