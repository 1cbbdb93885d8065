/* test_transport.c — MPI failures come back as ISW_EMPI errors with a message
 * instead of aborting the job: isweep's communicators return MPI errors, and
 * transport.c translates them at the edge. */
#include <mpi.h>
#include <string.h>

#include "isweep/error.h"
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

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"a send to a missing rank is an ISW_EMPI error, not an abort", test_send_to_missing_rank_is_an_error},
      {"a team with a missing member is an ISW_EMPI error", test_team_with_missing_member_is_an_error},
      {"MPI codes are translated with the call's name and MPI's message", test_mpi_codes_are_translated},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "transport", cases);
}
