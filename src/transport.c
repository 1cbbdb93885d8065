/* transport.c — point-to-point messages between workers and the dispatcher
 * (see transport.h).  Translates MPI return codes into isw errors. */
#include "isweep/transport.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "isweep/error.h"

enum { TAG_REPORT = 11, TAG_ASSIGN = 12 };

int isw_transport_mpi_error(int rc, const char *what) {
  if (rc == MPI_SUCCESS) return 0;
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", rc);
  return isw_error_raise(ISW_EMPI, __FILE__, __LINE__, what, "MPI error in %s: %s", what, text);
}

#define MPI_TRY(expr, what) ISW_CALL(isw_transport_mpi_error((expr), what))

void isw_transport_backoff(int k) {
  long ns = 50000L << (k < 7 ? k : 7); /* 50 us .. 6.4 ms */
  if (ns > 5000000L) ns = 5000000L;
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

/* Complete a request without spinning. */
static int wait_polling(MPI_Request *req, MPI_Status *st) {
  int err = 0, done = 0;
  for (int k = 0;; ++k) {
    MPI_TRY(MPI_Test(req, &done, st), "MPI_Test");
    if (done) break;
    isw_transport_backoff(k);
  }
cleanup:
  return err;
}

int isw_transport_init(isw_transport *t, MPI_Comm world) {
  int err = 0;
  memset(t, 0, sizeof *t);
  t->ctrl = t->work = MPI_COMM_NULL;
  t->pending = MPI_REQUEST_NULL;
  MPI_TRY(MPI_Comm_dup(world, &t->ctrl), "MPI_Comm_dup");
  MPI_TRY(MPI_Comm_set_errhandler(t->ctrl, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  MPI_TRY(MPI_Comm_dup(world, &t->work), "MPI_Comm_dup");
  MPI_TRY(MPI_Comm_set_errhandler(t->work, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  MPI_TRY(MPI_Comm_rank(world, &t->rank), "MPI_Comm_rank");
  MPI_TRY(MPI_Comm_size(world, &t->size), "MPI_Comm_size");
cleanup:
  return err;
}

void isw_transport_destroy(isw_transport *t) {
  if (t->pending != MPI_REQUEST_NULL) {
    MPI_Cancel(&t->pending);
    MPI_Request_free(&t->pending);
  }
  if (t->ctrl != MPI_COMM_NULL) MPI_Comm_free(&t->ctrl);
  if (t->work != MPI_COMM_NULL) MPI_Comm_free(&t->work);
}

int isw_transport_report(isw_transport *t, const isw_report *r) {
  int err = 0;
  MPI_Request req;
  MPI_TRY(MPI_Isend(r, (int)sizeof *r, MPI_BYTE, 0, TAG_REPORT, t->ctrl, &req), "MPI_Isend");
  ISW_CALL(wait_polling(&req, MPI_STATUS_IGNORE));
cleanup:
  return err;
}

int isw_transport_wait_assign(isw_transport *t, isw_assign *a) {
  int err = 0;
  MPI_Request req;
  MPI_TRY(MPI_Irecv(a, (int)sizeof *a, MPI_BYTE, 0, TAG_ASSIGN, t->ctrl, &req), "MPI_Irecv");
  ISW_CALL(wait_polling(&req, MPI_STATUS_IGNORE));
cleanup:
  return err;
}

int isw_transport_team_comm(isw_transport *t, const isw_assign *a, MPI_Comm *team) {
  int err = 0;
  MPI_Group world_group = MPI_GROUP_NULL, team_group = MPI_GROUP_NULL;
  *team = MPI_COMM_SELF;
  if (a->team <= 1) return 0;
  *team = MPI_COMM_NULL;
  MPI_TRY(MPI_Comm_group(t->work, &world_group), "MPI_Comm_group");
  MPI_TRY(MPI_Group_incl(world_group, a->team, a->members, &team_group), "MPI_Group_incl");
  MPI_TRY(MPI_Comm_create_group(t->work, team_group, a->tag, team), "MPI_Comm_create_group");
  MPI_TRY(MPI_Comm_set_errhandler(*team, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
cleanup:
  if (team_group != MPI_GROUP_NULL) MPI_Group_free(&team_group);
  if (world_group != MPI_GROUP_NULL) MPI_Group_free(&world_group);
  return err;
}

void isw_transport_team_free(MPI_Comm *team) {
  if (*team != MPI_COMM_SELF && *team != MPI_COMM_NULL) MPI_Comm_free(team);
  *team = MPI_COMM_NULL;
}

int isw_transport_team_any(MPI_Comm team, int *flag) {
  int err = 0;
  if (team == MPI_COMM_SELF) return 0;
  MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, flag, 1, MPI_INT, MPI_LOR, team), "MPI_Allreduce");
cleanup:
  return err;
}

int isw_transport_quiet_barrier(isw_transport *t) {
  int err = 0;
  MPI_Request req;
  MPI_TRY(MPI_Ibarrier(t->work, &req), "MPI_Ibarrier");
  ISW_CALL(wait_polling(&req, MPI_STATUS_IGNORE));
cleanup:
  return err;
}

int isw_transport_dispatch_poll(isw_transport *t, isw_report *r, int *from, int *got) {
  int err = 0, done = 0;
  MPI_Status st;
  *got = 0;
  if (t->pending == MPI_REQUEST_NULL)
    MPI_TRY(MPI_Irecv(&t->inbox, (int)sizeof t->inbox, MPI_BYTE, MPI_ANY_SOURCE, TAG_REPORT,
                      t->ctrl, &t->pending),
            "MPI_Irecv");
  MPI_TRY(MPI_Test(&t->pending, &done, &st), "MPI_Test");
  if (done) {
    *r = t->inbox;
    *from = st.MPI_SOURCE;
    *got = 1;
    t->pending = MPI_REQUEST_NULL;
  }
cleanup:
  return err;
}

int isw_transport_dispatch_send(isw_transport *t, int to, const isw_assign *a) {
  int err = 0;
  MPI_Request req;
  MPI_TRY(MPI_Isend(a, (int)sizeof *a, MPI_BYTE, to, TAG_ASSIGN, t->ctrl, &req), "MPI_Isend");
  ISW_CALL(wait_polling(&req, MPI_STATUS_IGNORE));
cleanup:
  return err;
}
