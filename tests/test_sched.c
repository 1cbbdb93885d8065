/* test_sched.c — the hand-out policy (isw_sched_pick) and its simulation:
 * without backfilling it is today's order (isw_sched_makespan); EASY
 * backfilling never delays the waiting team and makes a mixed sweep on 4
 * ranks finish no later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isweep/sched.h"
#include "isweep/spec.h"
#include "testutil.h"

/* The mixed sweep of tests/specs/team-mixed.ini, ordered for `ranks` ranks. */
static void mixed_jobs(isw_job **jobs, int *n, int ranks) {
  isw_spec *spec = NULL;
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/specs/team-mixed.ini", ISW_SOURCE_DIR);
  CU_ASSERT_EQUAL_FATAL(isw_spec_load(&spec, path, NULL, 0), 0);
  isw_sched_assign(spec, ranks);
  CU_ASSERT_EQUAL_FATAL(isw_sched_order(jobs, n, spec, NULL), 0);
  isw_spec_destroy(&spec);
}

/* Without backfilling the simulation is isw_sched_makespan, start by start. */
static void test_simulation_without_backfill_is_todays_order(void) {
  isw_job *jobs = NULL;
  int n = 0;
  mixed_jobs(&jobs, &n, 4);
  int teams = 0;
  for (int j = 0; j < n; ++j) teams += jobs[j].team > 1;
  CU_ASSERT(teams > 0 && teams < n); /* mixed: teams and single configs */
  double *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b);
  double m0 = isw_sched_makespan(jobs, n, 4, 1e9, a);
  double m1 = isw_sched_simulate(jobs, n, 4, 1e9, 0, b);
  CU_ASSERT_DOUBLE_EQUAL(m1, m0, 1e-9 * m0);
  int same = 0;
  for (int j = 0; j < n; ++j) same += a[j] == b[j] || (a[j] - b[j] < 1e-9 * m0 && b[j] - a[j] < 1e-9 * m0);
  CU_ASSERT_EQUAL(same, n);
  free(a);
  free(b);
  free(jobs);
}

/* EASY on the mixed sweep at 4 ranks: no later than today's order, and the
 * waiting teams never start later than they would without it. */
static void test_backfill_makespan_no_worse_on_mixed_sweep(void) {
  isw_job *jobs = NULL;
  int n = 0;
  mixed_jobs(&jobs, &n, 4);
  double without = isw_sched_simulate(jobs, n, 4, 1e9, 0, NULL);
  double with = isw_sched_simulate(jobs, n, 4, 1e9, 1, NULL);
  double ideal = 0;
  for (int j = 0; j < n; ++j) ideal += jobs[j].cost / 1e9 / 4;
  printf("\n  team-mixed.ini on 4 ranks: %d jobs, makespan %.4g s without backfilling, %.4g s with"
         " (ideal %.4g s)\n", n, without, with, ideal);
  CU_ASSERT(with > 0 && without > 0);
  CU_ASSERT(with <= without * (1 + 1e-12));
  free(jobs);
}

/* A team of 4 waits for rank 0 (busy until t = 10); ranks 1..3 are free.
 * Singles of 12, 6 and 4 s follow: the 12 s one would delay the team, so
 * the first that fits (6 s) is backfilled; nothing is without backfilling. */
static void test_pick_backfills_only_what_ends_before_the_team(void) {
  isw_job jobs[] = {{0, 0, 40e9, 4}, {0, 1, 12e9, 1}, {0, 2, 6e9, 1}, {0, 3, 4e9, 1}};
  unsigned char taken[4] = {0, 0, 0, 0};
  double free_at[4] = {10, 0, 0, 0};
  int held[4] = {1, 0, 0, 0}, open[3] = {1, 2, 3}, members[64], n_members = 0;
  isw_sched_view v = {4, 0.0, free_at, held, open, 3, 0, 1e9};
  CU_ASSERT_EQUAL(isw_sched_pick(members, &n_members, jobs, 4, taken, 0, &v), -1);
  v.backfill = 1;
  CU_ASSERT_EQUAL(isw_sched_pick(members, &n_members, jobs, 4, taken, 0, &v), 2);
  CU_ASSERT_EQUAL(n_members, 1);
  CU_ASSERT_EQUAL(members[0], 1);
  /* once the team can start it goes first, to the four free ranks */
  double idle[4] = {0, 0, 0, 0};
  int none[4] = {0, 0, 0, 0}, all[4] = {0, 1, 2, 3};
  isw_sched_view w = {4, 0.0, idle, none, all, 4, 1, 1e9};
  CU_ASSERT_EQUAL(isw_sched_pick(members, &n_members, jobs, 4, taken, 0, &w), 0);
  CU_ASSERT_EQUAL(n_members, 4);
  CU_ASSERT(members[0] == 0 && members[3] == 3);
}

/* A team of 2 on 3 ranks: the two ranks predicted to free first are
 * reserved; the third is not needed by the team, so any single may go there. */
static void test_pick_uses_ranks_the_team_does_not_need(void) {
  isw_job jobs[] = {{0, 0, 40e9, 2}, {0, 1, 100e9, 1}};
  unsigned char taken[2] = {0, 0};
  int members[64], n_members = 0;
  /* ranks 0 and 1 hold nothing: the team goes at once, to the lowest two */
  double free_b[3] = {0, 0, 1};
  int held_b[3] = {0, 0, 1}, open_b[2] = {0, 1};
  isw_sched_view w = {3, 0.0, free_b, held_b, open_b, 2, 1, 1e9};
  CU_ASSERT_EQUAL(isw_sched_pick(members, &n_members, jobs, 2, taken, 0, &w), 0);
  CU_ASSERT(n_members == 2 && members[0] == 0 && members[1] == 1);
  /* rank 0 busy until 5, rank 1 busy until 1, rank 2 free: reserved 2 and 1 */
  double free_c[3] = {5, 1, 0};
  int held_c[3] = {1, 1, 0}, open_c[3] = {0, 1, 2};
  isw_sched_view x = {3, 0.0, free_c, held_c, open_c, 3, 1, 1e9};
  CU_ASSERT_EQUAL(isw_sched_pick(members, &n_members, jobs, 2, taken, 0, &x), 1);
  CU_ASSERT(n_members == 1 && members[0] == 0); /* rank 0 is not reserved: it may run 100 s */
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"without backfilling the simulation is today's order, start by start",
       test_simulation_without_backfill_is_todays_order},
      {"EASY backfilling: a mixed sweep on 4 ranks ends no later", test_backfill_makespan_no_worse_on_mixed_sweep},
      {"a single is backfilled only when it ends before the waiting team starts",
       test_pick_backfills_only_what_ends_before_the_team},
      {"a rank the waiting team does not need may take any single", test_pick_uses_ranks_the_team_does_not_need},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "sched", cases);
}
