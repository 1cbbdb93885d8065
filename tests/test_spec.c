/* test_spec.c — the sweep spec: every malformed input is refused with one
 * located line "FILE:LINE: what is wrong (what is allowed)" and ISW_EUSAGE;
 * good specs expand to the right grid with identities that do not depend on
 * row position, and to a canonical text that ignores spelling. */
#define _XOPEN_SOURCE 700 /* mknod */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/select.h"
#include "isweep/spec.h"
#include "testutil.h"

/* An assertion whose failure message is the specification it checks. */
#define EXPECT(cond, spec) CU_assertImplementation(!!(cond), __LINE__, (spec), __FILE__, "", CU_FALSE)
#define EXPECT_FATAL(cond, spec) CU_assertImplementation(!!(cond), __LINE__, (spec), __FILE__, "", CU_TRUE)

/* A valid sweep; tests append lines 7, 8, ... */
#define HEAD                                                                      \
  "[sweep]\n"             /* 1 */                                                 \
  "tasks = linear-meta\n" /* 2 */                                                 \
  "widths = 16,32\n"      /* 3 */                                                 \
  "train_iters = 5\n"     /* 4 */                                                 \
  "test_iters = 0:10\n"   /* 5 */                                                 \
  "seeds = 0:1\n"         /* 6 */

/* linear-meta parameter indices, looked up by name so table order may change */
static int lm(const char *name) {
  return isw_task_param_index(isw_task_find("linear-meta"), name);
}

static isw_spec *parse_ok_sets(const char *text, const char *const *sets, int n_sets) {
  isw_spec *s = NULL;
  int rc = isw_spec_parse(&s, "t.ini", text, sets, n_sets);
  if (rc) fprintf(stderr, "\n  unexpected error: %s\n", isw_error_message());
  EXPECT(rc == 0 && s != NULL, "a valid spec parses");
  return s;
}

static isw_spec *parse_ok(const char *text) { return parse_ok_sets(text, NULL, 0); }

/* The spec must be refused with ISW_EUSAGE, *out NULL, and a one-line
 * message starting with "WHERE: " that quotes `token`. */
static void expect_bad_sets(const char *text, const char *const *sets, int n_sets, const char *where,
                            const char *token) {
  isw_spec *s = NULL;
  isw_error_clear();
  int rc = isw_spec_parse(&s, "t.ini", text, sets, n_sets);
  const char *m = isw_error_message();
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s: ", where);
  int ok_rc = rc == ISW_EUSAGE, ok_where = strncmp(m, prefix, strlen(prefix)) == 0;
  int ok_token = strstr(m + (ok_where ? strlen(prefix) : 0), token) != NULL;
  int ok_shape = strchr(m, '\n') == NULL && strlen(m) > 2 && m[strlen(m) - 1] == ')';
  EXPECT(ok_rc, "a malformed spec is refused with ISW_EUSAGE (exit status 2)");
  EXPECT(s == NULL, "a refused spec leaves *out NULL");
  EXPECT(ok_where, "the message starts with the location FILE:LINE: (or --set ...:)");
  EXPECT(ok_token, "the message quotes the offending token");
  EXPECT(ok_shape, "the message is one line ending in '(what is allowed)'");
  if (!(ok_rc && ok_where && ok_token && ok_shape))
    fprintf(stderr, "\n  rc %d, expected '%s...%s', message: %s\n", rc, prefix, token, m);
  isw_spec_destroy(&s);
}

static void expect_bad(const char *text, const char *where, const char *token) {
  expect_bad_sets(text, NULL, 0, where, token);
}

/* ---- bad input: one test per class -------------------------------------- */

static void test_unknown_section_is_refused(void) {
  expect_bad(HEAD "[lineer-meta]\n"
                  "tasks = 8\n",
             "t.ini:7", "[lineer-meta]");
  expect_bad(HEAD "\n[output]\n", "t.ini:8", "[output]");
}

static void test_section_of_task_not_in_tasks_is_refused(void) {
  if (isw_n_tasks < 2) {
    /* Needs two registered families; with linear-meta alone every known
     * section is in sweep.tasks.  The check is exercised once deq/maml land. */
    fprintf(stderr, "\n  (only %d task family registered: section-not-in-tasks check skipped) ", isw_n_tasks);
    return;
  }
  char text[512];
  snprintf(text, sizeof text,
           "[sweep]\ntasks = %s\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n\n[%s]\n",
           isw_tasks[0]->name, isw_tasks[1]->name);
  expect_bad(text, "t.ini:7", "is not in sweep.tasks (add it to tasks or remove the section)");
}

static void test_unknown_key_is_refused(void) {
  expect_bad(HEAD "widht = 64\n", "t.ini:7", "'widht'");
  expect_bad(HEAD "[linear-meta]\n"
                  "taks = 8\n",
             "t.ini:8", "'taks'");
  /* a [sweep]-only key is not a task parameter */
  expect_bad(HEAD "[linear-meta]\n"
                  "output = x.h5\n",
             "t.ini:8", "'output'");
}

static void test_bad_number_is_refused(void) {
  isw_spec *s = NULL;
  int rc = isw_spec_parse(&s, "t.ini", HEAD "[linear-meta]\ntasks = abc\n", NULL, 0);
  EXPECT(rc == ISW_EUSAGE, "a non-number for an integer parameter is refused");
  EXPECT(strcmp(isw_error_message(),
                "t.ini:8: bad number 'abc' for linear-meta.tasks (an integer from 1 to 1000000, a list 1,2,5 "
                "or a range 1:40, 1:40:3, 16:4096:x2)") == 0,
         "the message names file, line, token, key and what is allowed");
  if (strncmp(isw_error_message(), "t.ini:8: bad number 'abc' for", 29) != 0)
    fprintf(stderr, "\n  message: %s\n", isw_error_message());
  expect_bad(HEAD "[linear-meta]\nsigma_w = 0.5x\n", "t.ini:8", "'0.5x'");
  expect_bad(HEAD "[linear-meta]\ntasks = 1.5\n", "t.ini:8", "'1.5'");
  expect_bad(HEAD "[linear-meta]\ntasks = 4:abc\n", "t.ini:8", "'abc'");
  expect_bad(HEAD "seed = -1\n", "t.ini:7", "'-1'");
  expect_bad(HEAD "flop_rate = fast\n", "t.ini:7", "'fast'");
}

static void test_empty_list_is_refused(void) {
  expect_bad("[sweep]\ntasks = linear-meta\nwidths =\ntrain_iters = 5\ntest_iters = 0\n", "t.ini:3",
             "empty value for sweep.widths");
  expect_bad(HEAD "[linear-meta]\ntasks = 8,,16\n", "t.ini:8", "'8,,16'");
  expect_bad(HEAD "[linear-meta]\ntasks = 8,\n", "t.ini:8", "'8,'");
}

static void test_zero_or_negative_iterations_are_refused(void) {
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 0\ntest_iters = 0:4\n", "t.ini:4",
             "value 0 is out of bounds for sweep.train_iters");
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 5,-3\ntest_iters = 0:4\n", "t.ini:4",
             "value -3");
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 5\ntest_iters = -1:4\n", "t.ini:5",
             "value -1 is out of bounds for sweep.test_iters");
  expect_bad(HEAD "[linear-meta]\ntrain_iters = 0\n", "t.ini:8", "linear-meta.train_iters");
}

static void test_zero_or_negative_widths_are_refused(void) {
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 0,16\ntrain_iters = 5\ntest_iters = 0:4\n", "t.ini:3",
             "value 0 is out of bounds for sweep.widths");
  expect_bad(HEAD "[linear-meta]\nwidths = -16\n", "t.ini:8", "value -16");
}

static void test_unknown_task_is_refused(void) {
  expect_bad("[sweep]\ntasks = linear-meta, lineer\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:2", "'lineer'");
  expect_bad("[sweep]\ntasks = linear-meta,linear-meta\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:2", "repeated");
}

static void test_range_expanding_to_nothing_is_refused(void) {
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 32:16\ntrain_iters = 5\ntest_iters = 0:4\n", "t.ini:3",
             "range '32:16' expands to nothing");
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 64:16:x2\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:3", "'64:16:x2'");
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16:64:0\ntrain_iters = 5\ntest_iters = 0:4\n", "t.ini:3",
             "bad step in range '16:64:0'");
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16:64:x1\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:3", "'16:64:x1'");
  expect_bad(HEAD "[linear-meta]\nsigma_w = 0.5:0.1:0.1\n", "t.ini:8", "'0.5:0.1:0.1'");
}

static void test_range_beyond_the_limit_is_refused(void) {
  /* default limit: sweep.max_configs = 100000 */
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 1:1000000\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:3", "'1:1000000' expands to 1000000 values");
  /* the limit is configurable */
  expect_bad("[sweep]\nmax_configs = 10\ntasks = linear-meta\nwidths = 1:20\ntrain_iters = 5\n"
             "test_iters = 0:4\n",
             "t.ini:4", "'1:20'");
  isw_spec *s = parse_ok("[sweep]\nmax_configs = 20\ntasks = linear-meta\nwidths = 1:20\ntrain_iters = 5\n"
                         "test_iters = 0:4\n");
  EXPECT(s && isw_spec_n_configs(s) == 20, "a range of exactly max_configs values is accepted");
  isw_spec_destroy(&s);
  /* an override of max_configs applies before the file's ranges expand */
  const char *sets[] = {"sweep.max_configs=10"};
  expect_bad_sets("[sweep]\ntasks = linear-meta\nwidths = 1:20\ntrain_iters = 5\ntest_iters = 0:4\n", sets, 1,
                  "t.ini:3", "'1:20'");
}

static void test_grid_beyond_max_configs_is_refused(void) {
  /* 4 widths x 1 train_iters x 3 seeds = 12 > 10: the seeds axis pushes it over */
  expect_bad("[sweep]\nmax_configs = 10\ntasks = linear-meta\nwidths = 1:4\ntrain_iters = 5\n"
             "test_iters = 0:4\nseeds = 0:2\n",
             "t.ini:7", "12 configs, more than sweep.max_configs = 10");
  isw_spec *s = parse_ok("[sweep]\nmax_configs = 12\ntasks = linear-meta\nwidths = 1:4\ntrain_iters = 5\n"
                         "test_iters = 0:4\nseeds = 0:2\n");
  EXPECT(s && isw_spec_n_configs(s) == 12, "a grid of exactly max_configs configs is accepted");
  isw_spec_destroy(&s);
}

static void test_duplicate_key_is_refused(void) {
  expect_bad(HEAD "widths = 64\n", "t.ini:7", "duplicate key 'widths' in [sweep], first given at line 3");
  expect_bad(HEAD "[linear-meta]\ntasks = 8\n; a comment\ntasks = 16\n", "t.ini:10", "'tasks'");
}

static void test_duplicate_key_among_many_is_found(void) {
  /* 5000 distinct keys (the index of keys grows many times), then a repeat of the first */
  size_t cap = 5002 * 16 + 64, used = 0;
  char *text = malloc(cap);
  EXPECT_FATAL(text != NULL, "memory for the spec");
  used += (size_t)snprintf(text + used, cap - used, "[sweep]\n");
  for (int i = 0; i < 5000; ++i) used += (size_t)snprintf(text + used, cap - used, "k%d = 1\n", i);
  snprintf(text + used, cap - used, "k0 = 2\n");
  expect_bad(text, "t.ini:5002", "duplicate key 'k0' in [sweep], first given at line 2");
  free(text);
}

static void test_duplicate_section_is_refused(void) {
  /* a second [sweep] used to be merged into the first, silently */
  expect_bad(HEAD "[sweep]\nseeds = 4\n", "t.ini:7", "duplicate section [sweep], first given at line 1");
  expect_bad(HEAD "[linear-meta]\ntasks = 8\n[linear-meta]\nquery = 4\n", "t.ini:9",
             "duplicate section [linear-meta], first given at line 7");
}

static void test_text_after_section_header_is_refused(void) {
  /* inih drops what follows ']': query would silently stay at its default */
  expect_bad(HEAD "[linear-meta] query = 7\n", "t.ini:7", "text 'query = 7' after the section header [linear-meta]");
  expect_bad(HEAD "[linear-meta]]\n", "t.ini:7", "text ']' after the section header");
  isw_spec *s = parse_ok(HEAD "[linear-meta]   ; a comment\nquery = 7\n");
  EXPECT(s && s->groups[0].configs[0].p[lm("query")].num == 7, "a comment after a section header is fine");
  isw_spec_destroy(&s);
}

static void test_stray_line_ends_and_marks_are_refused(void) {
  /* CR-only line ends: one long line, misread as "[sweep] has no key 'tasks'" */
  expect_bad("[sweep]\rtasks = linear-meta\rwidths = 16\rtrain_iters = 5\rtest_iters = 0:4\r", "t.ini:1",
             "carriage return");
  expect_bad(HEAD "output = a\rb.h5\n", "t.ini:7", "carriage return");
  /* a byte order mark is fine at the very start, an error anywhere else */
  isw_spec *s = parse_ok("\xEF\xBB\xBF" HEAD);
  EXPECT(s != NULL, "a UTF-8 byte order mark at the start of the file is skipped");
  isw_spec_destroy(&s);
  expect_bad("[sweep]\n\xEF\xBB\xBFtasks = linear-meta\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:2", "byte order mark");
  expect_bad(HEAD "output = a\x01.h5\n", "t.ini:7", "control character (byte 0x01)");
  s = parse_ok("[sweep]\r\ntasks = linear-meta\r\nwidths = 16\r\ntrain_iters = 5\r\ntest_iters = 0:4\r\n");
  EXPECT(s != NULL, "CRLF line ends are fine");
  isw_spec_destroy(&s);
}

static void test_control_characters_in_texts_are_refused(void) {
  const char *nl[] = {"sweep.output=a\nb.h5"};
  expect_bad_sets(HEAD, nl, 1, "--set sweep.output=a?b.h5", "contains a control character (byte 0x0a)");
  const char *tab[] = {"sweep.output=a\tb.h5"};
  expect_bad_sets(HEAD, tab, 1, "--set sweep.output=a?b.h5", "contains a control character (byte 0x09)");
  const char *task[] = {"sweep.tasks=linear-\nmeta"};
  expect_bad_sets(HEAD, task, 1, "--set sweep.tasks=linear-?meta", "text 'linear-?meta' contains a control character");
}

static void test_full_int64_range_is_refused(void) {
  /* the span 2^64 used to wrap the value count to 0: an empty axis that skipped every bound */
  expect_bad(HEAD "[linear-meta]\ntasks = -9223372036854775808:9223372036854775807\n", "t.ini:8",
             "expands to 18446744073709551616 values");
  expect_bad(HEAD "[linear-meta]\ntasks = -9223372036854775808:9223372036854775807:2\n", "t.ini:8",
             "expands to 9223372036854775808 values");
  int64_t *v = NULL;
  int n = -1;
  EXPECT(isw_spec_expand_ints(&v, &n, "-9223372036854775808:9223372036854775807", 1000) == ISW_EUSAGE && v == NULL &&
             n == 0,
         "a range over the whole int64 span is more than the limit, never empty");
  EXPECT(isw_spec_expand_ints(&v, &n, "9223372036854775806:9223372036854775807", 1000) == 0 && n == 2 &&
             v[1] == INT64_MAX,
         "a range may end at INT64_MAX");
  free(v);
}

static void test_huge_counts_are_not_echoed_in_full(void) {
  /* about 1e300 values: the count is shown short, not as 301 digits */
  expect_bad(HEAD "[linear-meta]\nsigma_w = 1e-12:1e290:1e-10\n", "t.ini:8", "expands to about 1e+300 values");
  expect_bad(HEAD "[linear-meta]\nsigma_w = 0:1e300:1e-300\n", "t.ini:8", "expands to too many values to count");
  isw_spec *s = NULL;
  isw_spec_parse(&s, "t.ini", HEAD "[linear-meta]\nsigma_w = 1e-12:1e290:1e-10\n", NULL, 0);
  EXPECT(strlen(isw_error_message()) < 300, "the message stays short");
  isw_spec_destroy(&s);
}

static void test_continuation_line_is_refused(void) {
  /* inih would append an indented line to the previous value; isweep does not */
  expect_bad(HEAD "delta_n = 1,\n"
                  "    5,20\n",
             "t.ini:8", "'5,20'");
}

static void test_long_line_is_refused(void) {
  char text[1024];
  char xs[300];
  memset(xs, '7', 250);
  xs[250] = '\0';
  snprintf(text, sizeof text, HEAD "delta_n = %s\n", xs);
  expect_bad(text, "t.ini:7", "line is 260 characters long (at most 197");
}

static void test_syntax_error_is_refused(void) {
  expect_bad("[sweep\ntasks = linear-meta\n", "t.ini:1", "'[sweep'");
  expect_bad(HEAD "just some words\n", "t.ini:7", "'just some words'");
  expect_bad("tasks = linear-meta\n[sweep]\n", "t.ini:1", "'tasks' comes before any [section]");
}

static void test_missing_required_key_is_refused(void) {
  /* no test_iters anywhere: reported at the line naming the task */
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 5\n", "t.ini:2",
             "task linear-meta has no test_iters");
  /* ... or at its section when it has one */
  expect_bad("[sweep]\ntasks = linear-meta\ntrain_iters = 5\ntest_iters = 0\n[linear-meta]\ntasks = 8\n",
             "t.ini:5", "has no widths");
  expect_bad("[sweep]\nwidths = 16\n", "t.ini:1", "no key 'tasks'");
  expect_bad("", "t.ini:1", "no key 'tasks'");
}

static void test_repeated_axis_value_is_refused(void) {
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16:64:x2,32\ntrain_iters = 5\ntest_iters = 0:4\n",
             "t.ini:3", "value 32 is repeated");
  expect_bad(HEAD "[linear-meta]\nsigma_w = 0.5,0.50\n", "t.ini:8", "value 0.5 is repeated");
}

static void test_single_valued_key_with_a_list_is_refused(void) {
  expect_bad(HEAD "team_ranks = 2,4\n", "t.ini:7", "'2,4' is 2 values where one is expected");
  expect_bad(HEAD "team_ranks = 0\n", "t.ini:7", "value 0");
  /* above the largest team the dispatcher forms, every team config would fail at run time */
  expect_bad(HEAD "team_ranks = 65\n", "t.ini:7",
             "value 65 is out of bounds for sweep.team_ranks (one integer from 1 to 64, the largest team isweep forms)");
  expect_bad(HEAD "team_ranks = 1000000\n", "t.ini:7", "value 1000000 is out of bounds for sweep.team_ranks");
  isw_spec *s = parse_ok(HEAD "team_ranks = 64\n");
  EXPECT(s && s->team_ranks == 64, "team_ranks = 64, the largest team, is accepted");
  isw_spec_destroy(&s);
  expect_bad(HEAD "flop_rate = 0\n", "t.ini:7", "value 0 is out of bounds for sweep.flop_rate");
  expect_bad(HEAD "delta_n = 1,0,5\n", "t.ini:7", "value 0 is out of bounds for sweep.delta_n");
  expect_bad(HEAD "output =\n", "t.ini:7", "empty value for sweep.output");
}

/* The first ENUM parameter of any registered family, or -1 (sets *task). */
static int find_enum_param(const isw_task **task) {
  for (int t = 0; t < isw_n_tasks; ++t)
    for (int p = 0; p < isw_tasks[t]->n_params; ++p)
      if (isw_tasks[t]->params[p].type == ISW_PARAM_ENUM) {
        *task = isw_tasks[t];
        return p;
      }
  return -1;
}

static void test_unknown_choice_is_refused(void) {
  const isw_task *t = NULL;
  int p = find_enum_param(&t);
  if (p < 0) {
    fprintf(stderr, "\n  (no registered family has an ENUM parameter: check skipped) ");
    return;
  }
  char text[512], where[64], token[128];
  snprintf(text, sizeof text,
           "[sweep]\ntasks = %s\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n[%s]\n%s = no-such-choice\n",
           t->name, t->name, t->params[p].name);
  snprintf(where, sizeof where, "t.ini:7");
  snprintf(token, sizeof token, "unknown value 'no-such-choice' for %s.%s (one of ", t->name, t->params[p].name);
  expect_bad(text, where, token);
}

static void test_bad_override_is_refused(void) {
  const char *a[] = {"linear-meta.tasks=abc"};
  expect_bad_sets(HEAD, a, 1, "--set linear-meta.tasks=abc", "bad number 'abc' for linear-meta.tasks");
  const char *b[] = {"sweep.widht=3"};
  expect_bad_sets(HEAD, b, 1, "--set sweep.widht=3", "unknown key 'widht' in [sweep]");
  const char *c[] = {"deq-typo.width=3"};
  expect_bad_sets(HEAD, c, 1, "--set deq-typo.width=3", "unknown section [deq-typo]");
  const char *d[] = {"widths"};
  expect_bad_sets(HEAD, d, 1, "--set widths", "SECTION.KEY=VALUE");
  const char *e[] = {"sweep.train_iters=0"};
  expect_bad_sets(HEAD, e, 1, "--set sweep.train_iters=0", "value 0 is out of bounds");
}

static void test_unreadable_file_is_refused(void) {
  isw_spec *s = NULL;
  int rc = isw_spec_load(&s, "/nonexistent-isweep-dir/spec.ini", NULL, 0);
  EXPECT(rc == ISW_EUSAGE, "a missing spec file is ISW_EUSAGE");
  EXPECT(s == NULL, "a missing spec file yields no spec");
  EXPECT(strcmp(isw_error_message(),
                "/nonexistent-isweep-dir/spec.ini: cannot read spec file (No such file or directory)") == 0,
         "the message is 'PATH: cannot read spec file (reason)'");
  char dir[600];
  snprintf(dir, sizeof dir, "%s", isw_test_tmpdir());
  rc = isw_spec_load(&s, dir, NULL, 0);
  EXPECT(rc == ISW_EUSAGE && s == NULL, "a directory is not a readable spec file");
  EXPECT(strstr(isw_error_message(), ": cannot read spec file (") != NULL,
         "reading a directory says why it cannot be read");
  remove(dir);
}


/* ---- special files: run the load in a child that cannot hang or eat memory ---- */

/* Call fn(arg) in a forked child whose address space may grow by at most
 * 512 MiB; *rc is its return value and msg its error message.  Returns 0,
 * or -1 when the child did not end within 60 s (it is then killed; a hang
 * is the failure these tests look for) or died of a signal. */
static int call_bounded(int *rc, char *msg, size_t n, int (*fn)(const char *), const char *arg) {
  int fds[2];
  msg[0] = '\0';
  *rc = -1;
  if (pipe(fds) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld", &pages) == 1) {
      struct rlimit lim;
      lim.rlim_cur = lim.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
      setrlimit(RLIMIT_AS, &lim);
    }
    if (f) fclose(f);
    int r = fn(arg);
    const char *m = isw_error_message();
    ssize_t w = write(fds[1], m, strlen(m));
    (void)w;
    _exit(r & 0x7f);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return -1;
  }
  int status = 0, done = 0;
  for (int i = 0; i < 600 && !done; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      done = 1;
    } else {
      struct timespec ts = {0, 100000000};
      nanosleep(&ts, NULL);
    }
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  size_t used = 0;
  ssize_t k;
  while (used + 1 < n && (k = read(fds[0], msg + used, n - 1 - used)) > 0) used += (size_t)k;
  msg[used] = '\0';
  close(fds[0]);
  if (!done || !WIFEXITED(status)) return -1;
  *rc = WEXITSTATUS(status);
  return 0;
}

static int load_spec_file(const char *path) {
  isw_spec *s = NULL;
  int rc = isw_spec_load(&s, path, NULL, 0);
  isw_spec_destroy(&s);
  return rc;
}

/* The spec at `path` must be refused at once with ISW_EUSAGE and one line
 * "PATH: cannot read spec file (it is KIND; a spec must be a regular file)". */
static void expect_special_spec_refused(const char *path, const char *kind) {
  int rc = -1;
  char msg[1200], want[900];
  int ended = call_bounded(&rc, msg, sizeof msg, load_spec_file, path) == 0;
  snprintf(want, sizeof want, "%s: cannot read spec file (it is %s; a spec must be a regular file)", path, kind);
  EXPECT(ended, "loading a special file as the spec ends (no hang, no unbounded read)");
  EXPECT(rc == ISW_EUSAGE, "a special file as the spec is ISW_EUSAGE (exit status 2)");
  EXPECT(strcmp(msg, want) == 0, "the one-line message names the file and says it must be a regular file");
  if (!ended || rc != ISW_EUSAGE || strcmp(msg, want) != 0)
    fprintf(stderr, "\n  %s: %s, rc %d, message: %s\n", path, ended ? "ended" : "did not end", rc, msg);
}

static void test_special_spec_files_are_refused(void) {
  char dir[600], fifo[700], dev[700];
  snprintf(dir, sizeof dir, "%s", isw_test_tmpdir());
  snprintf(fifo, sizeof fifo, "%s/spec.fifo", dir);
  snprintf(dev, sizeof dev, "%s/spec.zero", dir);
  EXPECT_FATAL(mkfifo(fifo, 0600) == 0, "a FIFO can be made in the test's folder");
  expect_special_spec_refused(fifo, "a FIFO");
  /* a private node of the zero device (1, 5): endless input, never /dev/zero itself */
  if (mknod(dev, S_IFCHR | 0600, makedev(1, 5)) == 0) {
    expect_special_spec_refused(dev, "a character device");
    remove(dev);
  } else {
    fprintf(stderr, "\n  (mknod not permitted here: the character-device case is skipped) ");
  }
  /* a regular file past the size limit is refused before it is read */
  char big[700];
  snprintf(big, sizeof big, "%s/big.ini", dir);
  FILE *f = fopen(big, "w");
  EXPECT_FATAL(f != NULL, "the temp file can be written");
  fputs(HEAD, f);
  for (long i = (long)strlen(HEAD); i <= ISW_SPEC_MAX_BYTES; i += 64) fprintf(f, "%63s\n", "#");
  fclose(f);
  isw_spec *s = NULL;
  char want[900];
  snprintf(want, sizeof want, "%s: cannot read spec file (it has ", big);
  EXPECT(isw_spec_load(&s, big, NULL, 0) == ISW_EUSAGE && s == NULL &&
             strncmp(isw_error_message(), want, strlen(want)) == 0 &&
             strstr(isw_error_message(), "a spec has at most 1048576)") != NULL,
         "a spec file larger than ISW_SPEC_MAX_BYTES is refused, naming its size and the limit");
  remove(big);
  remove(fifo);
  remove(dir);
}

static void test_impossible_data_size_is_a_usage_error(void) {
  /* every bound holds (n_train <= 1e8, x_dim <= 1e6), the product cannot be allocated */
  isw_spec *s = parse_ok("[sweep]\ntasks = deq\nwidths = 4\ntrain_iters = 2\ntest_iters = 0:4\n"
                         "[deq]\nn_train = 100000000\nx_dim = 1000000\n");
  EXPECT_FATAL(s != NULL && s->groups[0].task->validate != NULL, "the spec parses and deq validates its data");
  isw_error_clear();
  int rc = s->groups[0].task->validate(&s->groups[0].configs[0]);
  const char *m = isw_error_message();
  if (rc == ISW_EUSAGE) {
    rc = isw_spec_validate(s);
    EXPECT(strncmp(isw_error_message(), "t.ini:6: [deq] teacher data: ", 29) == 0,
           "isw_spec_validate locates the family's message at the task's section, FILE:LINE: what");
  }
  EXPECT(rc == ISW_EUSAGE, "a data set too large to hold is a usage error at validation (exit 2), not out of memory");
  EXPECT(strstr(m, "n_train * x_dim") && strstr(m, "(the limit for one data set; use fewer rows or a smaller x_dim)") &&
             !strchr(m, '\n'),
         "the one-line message names the product and says what to do");
  if (rc != ISW_EUSAGE) fprintf(stderr, "\n  rc %d, message: %s\n", rc, m);
  isw_spec_destroy(&s);
}

/* ---- good input ---------------------------------------------------------- */

static void test_default_spec_parses(void) {
  isw_spec *s = NULL;
  int rc = isw_spec_load(&s, NULL, NULL, 0);
  if (rc) fprintf(stderr, "\n  default spec: %s\n", isw_error_message());
  EXPECT_FATAL(rc == 0 && s, "the embedded default spec parses");
  EXPECT(strcmp(s->path, "(default spec)") == 0, "the default spec is named (default spec)");
  EXPECT(strcmp(s->text, isw_spec_default_text()) == 0, "the default spec's text is kept verbatim");
  EXPECT(s->n_groups == 4 && s->groups[0].task == isw_task_find("linear-meta") &&
             s->groups[1].task == isw_task_find("deq") && s->groups[2].task == isw_task_find("maml") &&
             s->groups[3].task == isw_task_find("imaml"),
         "the default spec sweeps linear-meta, deq, maml and imaml");
  /* imaml: widths 16,32 (2) x lambda 0.5,2 (2) x seeds (3) */
  EXPECT(s->n_groups == 4 && s->groups[3].n_configs == 12,
         "the default imaml grid is 2 widths x 2 lambdas x 3 seeds");
  /* linear-meta: widths 32:2048:x2 (7) x train_iters 2,5,10 (3) x seeds 0:2 (3) */
  EXPECT(s->groups[0].n_configs == 63, "the default linear-meta grid is 7 widths x 3 train_iters x 3 seeds");
  /* deq: widths 2:64:x2 (6) x grad (3) x seeds (3); maml: widths 16:64:x2 (3) x train_iters 1,3 (2) x seeds (3) */
  EXPECT(s->groups[1].n_configs == 54 && s->groups[2].n_configs == 18,
         "the default deq grid is 6 widths x 3 gradient modes x 3 seeds, maml 3 widths x 2 N x 3 seeds");
  EXPECT(s->groups[0].n_test == 41, "default test_iters 0:40 has 41 values");
  EXPECT(s->sweep_seed == 20231 && strcmp(s->output, "isweep-results.h5") == 0,
         "sweep seed and output come from the default spec");
  EXPECT(s->n_delta == 3 && s->delta_n[0] == 1 && s->delta_n[1] == 5 && s->delta_n[2] == 20,
         "delta_n is 1,5,20");
  EXPECT(s->team_width == 4096 && s->team_ranks == 2 && s->max_configs == 100000 && s->flop_rate == 2.5e10,
         "team_width, team_ranks, max_configs and flop_rate take their values or defaults");
  /* the file in jobs/ is the same spec */
  isw_spec *f = NULL;
  rc = isw_spec_load(&f, ISW_SOURCE_DIR "/jobs/default.ini", NULL, 0);
  EXPECT(rc == 0 && f && strcmp(f->canonical, s->canonical) == 0,
         "jobs/default.ini and the embedded default spec are the same sweep");
  isw_spec_destroy(&f);
  isw_spec_destroy(&s);
  EXPECT(s == NULL, "destroy NULLs the pointer");
  isw_spec_destroy(&s);
}

static int ints_are(const int64_t *x, int n, const int64_t *want, int m) {
  if (n != m) return 0;
  for (int i = 0; i < n; ++i)
    if (x[i] != want[i]) return 0;
  return 1;
}

static void test_ranges_expand(void) {
  static const struct {
    const char *text;
    int n;
    int64_t v[12];
  } cases[] = {
      {"7", 1, {7}},
      {"1,2,5", 3, {1, 2, 5}},
      {"1:5", 5, {1, 2, 3, 4, 5}},
      {"1:10:3", 4, {1, 4, 7, 10}},
      {"1:11:3", 4, {1, 4, 7, 10}},
      {"16:100:x2", 3, {16, 32, 64}},
      {"16:4096:x4", 5, {16, 64, 256, 1024, 4096}},
      {"0, 1:3 ,8", 5, {0, 1, 2, 3, 8}},
      {"-3:-1", 3, {-3, -2, -1}},
      {"5:5", 1, {5}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    int64_t *v = NULL;
    int n = 0;
    int rc = isw_spec_expand_ints(&v, &n, cases[i].text, 1000);
    EXPECT(rc == 0 && ints_are(v, n, cases[i].v, cases[i].n), "integer lists and ranges expand as written");
    if (rc || !ints_are(v, n, cases[i].v, cases[i].n)) fprintf(stderr, "\n  case '%s'\n", cases[i].text);
    free(v);
  }
  int64_t *v = NULL;
  int n = 0;
  EXPECT(isw_spec_expand_ints(&v, &n, "1:10", 10) == 0 && n == 10, "a range of exactly `limit` values is fine");
  free(v);
  EXPECT(isw_spec_expand_ints(&v, &n, "1:11", 10) == ISW_EUSAGE && v == NULL,
         "a range of more than `limit` values is refused");
  EXPECT(isw_spec_expand_ints(&v, &n, "1:5,6:11", 10) == ISW_EUSAGE, "the limit holds for a whole list");
  EXPECT(isw_spec_expand_ints(&v, &n, "1:0", 10) == ISW_EUSAGE &&
             strncmp(isw_error_message(), "range '1:0' expands to nothing (", 32) == 0,
         "an empty range is refused with an unlocated message");
  EXPECT(isw_spec_expand_ints(&v, &n, "0:8:x2", 10) == ISW_EUSAGE, "a geometric range must start at 1 or more");
  EXPECT(isw_spec_expand_ints(&v, &n, "1:2:3:4", 10) == ISW_EUSAGE, "a range has at most three parts");
  EXPECT(isw_spec_expand_ints(&v, &n, "99999999999999999999", 10) == ISW_EUSAGE,
         "an integer beyond int64 is a bad number");

  double *r = NULL;
  EXPECT(isw_spec_expand_reals(&r, &n, "0.5, 1e-3,2", 10) == 0 && n == 3 && r[0] == 0.5 && r[1] == 1e-3 &&
             r[2] == 2.0,
         "real lists read each number");
  free(r);
  EXPECT(isw_spec_expand_reals(&r, &n, "0.1:0.3:0.1", 10) == 0 && n == 3 && r[0] == 0.1 && r[2] == 0.3,
         "a real range a:b:k includes its end b exactly");
  free(r);
  EXPECT(isw_spec_expand_reals(&r, &n, "1e-3:1:x10", 10) == 0 && n == 4 && r[0] == 1e-3 && r[3] == 1.0,
         "a geometric real range a:b:xk runs a, ak, ... up to b");
  free(r);
  EXPECT(isw_spec_expand_reals(&r, &n, "0.1:0.3", 10) == ISW_EUSAGE, "a real range needs a step");
  EXPECT(isw_spec_expand_reals(&r, &n, "nan", 10) == ISW_EUSAGE, "nan is not a number here");
  EXPECT(isw_spec_expand_reals(&r, &n, "inf", 10) == ISW_EUSAGE, "inf is not a number here");
}

static void test_grid_is_the_product_of_its_axes(void) {
  isw_spec *s = parse_ok(HEAD "[linear-meta]\n"
                              "tasks = 8,16\n"
                              "sigma_w = 0.1,0.2,0.4\n");
  EXPECT_FATAL(s != NULL, "the spec parses");
  const isw_spec_group *g = &s->groups[0];
  /* widths 2 x train_iters 1 x tasks 2 x sigma_w 3 x seeds 2 */
  EXPECT(g->n_configs == 24 && isw_spec_n_configs(s) == 24, "the grid size is the product of axis lengths");
  int T = lm("tasks"), SW = lm("sigma_w"), SU = lm("support");
  int rows_ok = 1, shared_ok = 1, defaults_ok = 1;
  for (int i = 0; i < g->n_configs; ++i) {
    const isw_config *c = &g->configs[i];
    rows_ok &= c->row == i && c->group == 0 && c->task == g->task && c->team == 1;
    shared_ok &= c->test_iters == g->test_iters && c->n_test == 11;
    defaults_ok &= c->p[SU].num == 64 && c->train_iters == 5;
  }
  EXPECT(rows_ok, "configs[i].row == i and .group is the group index");
  EXPECT(shared_ok, "every config points at its group's test_iters");
  EXPECT(defaults_ok, "parameters not in the spec take the task's defaults");
  /* nested order: width, train_iters, tasks, sigma_w, ..., seed innermost */
  const isw_config *c = g->configs;
  EXPECT(c[0].width == 16 && c[0].p[T].num == 8 && c[0].p[SW].num == 0.1 && c[0].seed == 0,
         "row 0 takes the first value of every axis");
  EXPECT(c[1].seed == 1 && c[1].p[SW].num == 0.1, "the seed varies fastest");
  EXPECT(c[2].seed == 0 && c[2].p[SW].num == 0.2, "then the last list-valued parameter");
  EXPECT(c[6].p[T].num == 16 && c[6].width == 16, "then earlier parameters in table order");
  EXPECT(c[12].width == 32 && c[12].p[T].num == 8, "and the width is outermost");
  isw_spec_destroy(&s);
}

static void test_list_valued_parameters_become_axes(void) {
  isw_spec *s = parse_ok(HEAD "[linear-meta]\n"
                              "support = 4,8,16\n"
                              "step_scale = 0.05,0.1\n"
                              "widths = 64\n"
                              "seeds = 3\n");
  EXPECT_FATAL(s != NULL, "the spec parses");
  const isw_spec_group *g = &s->groups[0];
  EXPECT(g->n_configs == 6, "two list-valued parameters make a 3 x 2 grid");
  int seen[3][2] = {{0}};
  int SU = lm("support"), ST = lm("step_scale");
  for (int i = 0; i < g->n_configs; ++i) {
    const isw_config *c = &g->configs[i];
    int a = c->p[SU].num == 4 ? 0 : c->p[SU].num == 8 ? 1 : 2;
    int b = c->p[ST].num == 0.05 ? 0 : 1;
    seen[a][b]++;
    EXPECT(c->width == 64 && c->seed == 3, "a task section's widths and seeds override [sweep]'s");
  }
  int all_once = 1;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b) all_once &= seen[a][b] == 1;
  EXPECT(all_once, "every combination of parameter values appears exactly once");
  isw_spec_destroy(&s);
}

static void test_overrides_replace_values(void) {
  const char *text = HEAD "[linear-meta]\ntasks = 8,16\n";
  const char *sets[] = {"linear-meta.tasks=32", "sweep.output=x.h5", "linear-meta.support = 4",
                        "sweep.seed=7", "sweep.seed=9"};
  isw_spec *s = parse_ok_sets(text, sets, 5);
  EXPECT_FATAL(s != NULL, "the spec parses with overrides");
  const isw_spec_group *g = &s->groups[0];
  EXPECT(g->n_configs == 4, "an override replaces the file's list instead of adding to it");
  int all = 1;
  for (int i = 0; i < g->n_configs; ++i) all &= g->configs[i].p[lm("tasks")].num == 32;
  EXPECT(all, "every config takes the overridden value");
  EXPECT(g->configs[0].p[lm("support")].num == 4, "an override may set a key the file does not have");
  EXPECT(strcmp(s->output, "x.h5") == 0, "--set sweep.output=x.h5 sets the output path");
  EXPECT(s->sweep_seed == 9 && g->configs[0].sweep_seed == 9, "the last override of a key wins");
  isw_spec_destroy(&s);
  /* an override that adds an axis */
  const char *axis[] = {"sweep.seeds=0:4"};
  s = parse_ok_sets(text, axis, 1);
  EXPECT(s && isw_spec_n_configs(s) == 2 * 2 * 5, "an override can widen an axis");
  isw_spec_destroy(&s);
}

static void test_canonical_text_ignores_spelling(void) {
  const char *a = HEAD "[linear-meta]\ntasks = 8\n";
  const char *b = "# the same sweep, spelled differently\r\n"
                  "[linear-meta]\n"
                  "  tasks=8   ; inline comment\n"
                  "widths = 16:32:x2\n"
                  "sigma_w = 0.50\n"
                  "\n"
                  "[sweep]\n"
                  "seeds = 0,1\n"
                  "test_iters = 10,0:9,3\n"
                  "train_iters = 5:5\n"
                  "tasks = linear-meta\n"
                  "delta_n = 1:5:4,20\n"
                  "output = elsewhere.h5\n";
  isw_spec *sa = parse_ok(a), *sb = parse_ok(b);
  EXPECT_FATAL(sa && sb, "both spellings parse");
  EXPECT(strcmp(sa->canonical, sb->canonical) == 0,
         "comments, spacing, key order, range spelling, explicit defaults and output do not change the "
         "canonical text");
  if (strcmp(sa->canonical, sb->canonical)) fprintf(stderr, "\n--- a\n%s--- b\n%s", sa->canonical, sb->canonical);
  EXPECT(strstr(sa->canonical, "linear-meta.sigma_w = 0.5\n") != NULL, "defaults appear in the canonical text");
  EXPECT(strstr(sa->canonical, "linear-meta.test_iters = 0,1,2,3,4,5,6,7,8,9,10\n") != NULL,
         "value lists appear expanded");
  EXPECT(strstr(sa->canonical, "output") == NULL, "the output path is not part of the canonical text");
  EXPECT(strncmp(sa->canonical, "linear-meta.", 12) == 0, "lines are sorted by section then key");

  isw_spec *sc = parse_ok(HEAD "[linear-meta]\ntasks = 8\nsigma_w = 0.6\n");
  EXPECT(sc && strcmp(sa->canonical, sc->canonical) != 0, "changing a value changes the canonical text");
  isw_spec_destroy(&sc);
  const char *reorder[] = {"sweep.widths=32,16"};
  sc = parse_ok_sets(a, reorder, 1);
  EXPECT(sc && strcmp(sa->canonical, sc->canonical) != 0,
         "reordering an axis (which reorders rows) changes the canonical text");
  isw_spec_destroy(&sc);
  const char *seed[] = {"sweep.seed=1"};
  sc = parse_ok_sets(a, seed, 1);
  EXPECT(sc && strcmp(sa->canonical, sc->canonical) != 0, "changing the sweep seed changes the canonical text");
  isw_spec_destroy(&sc);
  isw_spec_destroy(&sa);
  isw_spec_destroy(&sb);
}

static const isw_config *find_config(const isw_spec *s, int64_t width, int64_t train, int64_t seed, int tasks) {
  const isw_spec_group *g = &s->groups[0];
  for (int i = 0; i < g->n_configs; ++i) {
    const isw_config *c = &g->configs[i];
    if (c->width == width && c->train_iters == train && c->seed == seed && c->p[lm("tasks")].num == tasks)
      return c;
  }
  return NULL;
}

static void test_ids_do_not_depend_on_position(void) {
  isw_spec *a = parse_ok(HEAD "[linear-meta]\ntasks = 8\n");
  isw_spec *b = parse_ok("[sweep]\ntasks = linear-meta\nwidths = 32\ntrain_iters = 5\ntest_iters = 0:3\n"
                         "seeds = 1\nseed = 99\n[linear-meta]\ntasks = 4,8\n");
  EXPECT_FATAL(a && b, "both specs parse");
  const isw_config *ca = find_config(a, 32, 5, 1, 8), *cb = find_config(b, 32, 5, 1, 8);
  EXPECT_FATAL(ca && cb, "both grids contain width 32, seed 1, tasks 8");
  EXPECT(ca->row != cb->row, "the config sits at different rows in the two grids");
  EXPECT(ca->id == cb->id,
         "the same parameters give the same id whatever surrounds them (and whatever test_iters and the sweep "
         "seed are)");
  EXPECT(ca->data_id == cb->data_id, "the same parameters give the same data_id");
  const isw_spec_group *g = &a->groups[0];
  int distinct = 1;
  for (int i = 0; i < g->n_configs; ++i)
    for (int j = i + 1; j < g->n_configs; ++j) distinct &= g->configs[i].id != g->configs[j].id;
  EXPECT(distinct, "configs of one grid have distinct ids");
  /* a parameter at its default or written out explicitly is the same config */
  isw_spec *c = parse_ok(HEAD "[linear-meta]\ntasks = 8\nsupport = 64\nstep_scale = 0.1\n");
  EXPECT(c && find_config(c, 32, 5, 1, 8)->id == ca->id, "writing a default explicitly keeps the id");
  isw_spec_destroy(&c);
  c = parse_ok(HEAD "[linear-meta]\ntasks = 8\nstep_scale = 0.2\n");
  EXPECT(c && find_config(c, 32, 5, 1, 8)->id != ca->id, "changing any parameter changes the id");
  isw_spec_destroy(&c);
  isw_spec_destroy(&a);
  isw_spec_destroy(&b);
}

static void test_data_id_follows_what_shapes_the_data(void) {
  isw_spec *s = parse_ok("[sweep]\ntasks = linear-meta\nwidths = 16,32\ntrain_iters = 5,10\ntest_iters = 0:3\n"
                         "seeds = 0,1\n[linear-meta]\ntasks = 8\n");
  EXPECT_FATAL(s != NULL, "the spec parses");
  const isw_config *a = find_config(s, 16, 5, 0, 8), *b = find_config(s, 16, 10, 0, 8);
  const isw_config *c = find_config(s, 16, 5, 1, 8), *d = find_config(s, 32, 5, 0, 8);
  EXPECT_FATAL(a && b && c && d, "the grid has the four configs compared");
  EXPECT(a->id != b->id && a->data_id == b->data_id, "configs differing only in train_iters share their data");
  EXPECT(a->data_id != c->data_id, "different seeds give different data");
  EXPECT(a->data_id != d->data_id, "linear-meta's data depend on the width");
  isw_spec *t = parse_ok("[sweep]\ntasks = linear-meta\nwidths = 16,32\ntrain_iters = 5,10\ntest_iters = 0:3\n"
                         "seeds = 0,1\n[linear-meta]\ntasks = 8\nstep_scale = 0.3\n");
  isw_spec *u = parse_ok("[sweep]\ntasks = linear-meta\nwidths = 16,32\ntrain_iters = 5,10\ntest_iters = 0:3\n"
                         "seeds = 0,1\n[linear-meta]\ntasks = 8\nsigma_w = 0.3\n");
  EXPECT_FATAL(t && u, "the variants parse");
  EXPECT(find_config(t, 16, 5, 0, 8)->data_id == a->data_id, "step_scale (not a data parameter) keeps the data");
  EXPECT(find_config(u, 16, 5, 0, 8)->data_id != a->data_id, "sigma_w (a data parameter) changes the data");
  isw_spec_destroy(&t);
  isw_spec_destroy(&u);
  isw_spec_destroy(&s);
}

static void test_test_iters_are_sorted_and_distinct(void) {
  isw_spec *s = parse_ok("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 5\ntest_iters = 8,0:4,2\n");
  EXPECT_FATAL(s != NULL, "a repeated test_iters value is accepted");
  static const int64_t want[] = {0, 1, 2, 3, 4, 8};
  EXPECT(ints_are(s->groups[0].test_iters, s->groups[0].n_test, want, 6), "test_iters are sorted and distinct");
  EXPECT(s->groups[0].configs[0].seed == 0, "seeds default to 0");
  isw_spec_destroy(&s);
}

static void test_choices_become_axes(void) {
  const isw_task *t = NULL;
  int p = find_enum_param(&t);
  if (p < 0) {
    fprintf(stderr, "\n  (no registered family has an ENUM parameter: check skipped) ");
    return;
  }
  /* every choice of the parameter, as a list */
  char list[256] = "";
  int n = 0;
  size_t used = 0;
  for (const char *c = t->params[p].choices; *c; ++c) {
    if (*c == '|') ++n;
    if (used + 1 < sizeof list) list[used++] = *c == '|' ? ',' : *c;
  }
  ++n;
  list[used] = '\0';
  char text[512];
  snprintf(text, sizeof text, "[sweep]\ntasks = %s\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n[%s]\n%s = %s\n",
           t->name, t->name, t->params[p].name, list);
  isw_spec *s = parse_ok(text);
  EXPECT_FATAL(s != NULL, "a list of every choice parses");
  const isw_spec_group *g = &s->groups[0];
  EXPECT(g->n_configs == n, "an ENUM list is a grid axis");
  int ok = 1;
  for (int i = 0; i < g->n_configs; ++i) {
    const isw_value *v = &g->configs[i].p[p];
    ok &= v->num == i && v->str != NULL;
    /* the name matches choice number v->num */
    const char *c = t->params[p].choices;
    for (int k = 0; k < (int)v->num; ++k) c = strchr(c, '|') + 1;
    ok &= strncmp(c, v->str, strlen(v->str)) == 0 && (c[strlen(v->str)] == '|' || c[strlen(v->str)] == '\0');
  }
  EXPECT(ok, "an ENUM value holds its choice index and its name");
  isw_spec_destroy(&s);
}

static void test_several_tasks_make_several_groups(void) {
  if (isw_n_tasks < 2) {
    fprintf(stderr, "\n  (only one task family registered: check skipped) ");
    return;
  }
  char text[512];
  snprintf(text, sizeof text,
           "[sweep]\ntasks = %s,%s\nwidths = 16,32\ntrain_iters = 5\ntest_iters = 0:4\nseeds = 0:2\n"
           "[%s]\nwidths = 8\ntest_iters = 1,2\n",
           isw_tasks[1]->name, isw_tasks[0]->name, isw_tasks[0]->name);
  isw_spec *s = parse_ok(text);
  EXPECT_FATAL(s != NULL, "a two-task spec parses");
  EXPECT(s->n_groups == 2 && s->groups[0].task == isw_tasks[1] && s->groups[1].task == isw_tasks[0],
         "groups follow the order of sweep.tasks");
  EXPECT(s->groups[0].n_configs == 6 && s->groups[1].n_configs == 3, "each group has its own axes");
  EXPECT(isw_spec_n_configs(s) == 9, "isw_spec_n_configs sums the groups");
  EXPECT(s->groups[0].n_test == 5 && s->groups[1].n_test == 2, "test_iters are per group");
  EXPECT(s->groups[1].configs[2].group == 1 && s->groups[1].configs[2].row == 2, "rows restart in every group");
  isw_spec_destroy(&s);
}

/* Records every config isw_spec_each_data_set hands over; fails on call stop_at. */
typedef struct {
  const isw_config *seen[4096];
  int n, stop_at;
} visit_log;

static int visit(const isw_config *c, void *user) {
  visit_log *log = user;
  if (log->n < 4096) log->seen[log->n] = c;
  log->n++;
  return log->n == log->stop_at ? 7 : 0;
}

static void test_data_errors_are_located(void) {
  char text[800];
  snprintf(text, sizeof text, "[sweep]\ntasks = linear-meta, deq\nwidths = 4\ntrain_iters = 2\ntest_iters = 0:4\n"
                              "[deq]\ndataset = file\ndata_file = %s/no-such-file.h5\n", isw_test_tmpdir());
  isw_spec *s = parse_ok(text);
  EXPECT_FATAL(s != NULL, "the spec parses");
  EXPECT(strcmp(s->where[0], "t.ini:2") == 0 && strcmp(s->where[1], "t.ini:6") == 0,
         "a group's location is its section, else the sweep.tasks line");
  EXPECT(isw_spec_validate(s) == ISW_EUSAGE, "a missing data file is a usage error at validation");
  EXPECT(strncmp(isw_error_message(), "t.ini:6: [deq] data file '", 26) == 0 &&
             strstr(isw_error_message(), "no-such-file.h5' cannot be read (No such file or directory)") != NULL,
         "the message is located at the task's section: FILE:LINE: what (why)");
  if (strncmp(isw_error_message(), "t.ini:6: ", 9) != 0) fprintf(stderr, "\n  message: %s\n", isw_error_message());
  isw_spec_destroy(&s);
}

static void test_each_data_set_is_visited_once(void) {
  /* deq: 2 widths x 2 grad modes x 3 datasets x 100 seeds; data_id follows dataset and seed only */
  isw_spec *s = parse_ok("[sweep]\ntasks = linear-meta, deq\nwidths = 4,8\ntrain_iters = 2\ntest_iters = 0:4\n"
                         "seeds = 0:99\n[deq]\ngrad = unrolled,implicit\nn_train = 16,32,64\n");
  EXPECT_FATAL(s != NULL, "the spec parses");
  visit_log log;
  memset(&log, 0, sizeof log);
  EXPECT(isw_spec_each_data_set(s, visit, &log) == 0, "a walk whose callback succeeds returns 0");
  /* expected: brute force, the first config of each data_id in row order, group by group */
  int want = 0, in_order = 1;
  for (int g = 0; g < s->n_groups; ++g) {
    const isw_spec_group *grp = &s->groups[g];
    for (int i = 0; i < grp->n_configs; ++i) {
      int first = 1;
      for (int j = 0; j < i && first; ++j) first = grp->configs[j].data_id != grp->configs[i].data_id;
      if (!first) continue;
      in_order &= want < log.n && want < 4096 && log.seen[want] == &grp->configs[i];
      want++;
    }
  }
  EXPECT(log.n == want, "the callback runs once per distinct data set of each group");
  EXPECT(in_order, "with the first config of each data set, in row order, groups in order");
  EXPECT(want < isw_spec_n_configs(s), "(the spec has fewer data sets than configs)");
  fprintf(stderr, "\n  (%d data sets in %lld configs) ", want, (long long)isw_spec_n_configs(s));
  memset(&log, 0, sizeof log);
  log.stop_at = 3;
  EXPECT(isw_spec_each_data_set(s, visit, &log) == 7 && log.n == 3,
         "the walk stops at the first failure and returns its code");
  isw_spec_destroy(&s);
}

static void test_sweep_keys_take_their_values(void) {
  isw_spec *s = parse_ok(HEAD "seed = 18446744073709551615\nteam_width = 0\nteam_ranks = 4\n"
                              "delta_n = -1,1:5:2\nflop_rate = 1.5e10\noutput = a,b.h5\n");
  EXPECT_FATAL(s != NULL, "the spec parses");
  EXPECT(s->sweep_seed == UINT64_MAX, "the sweep seed is a full uint64");
  EXPECT(s->team_width == 0 && s->team_ranks == 4, "team_width 0 (never use teams) and team_ranks are read");
  static const int64_t dn[] = {-1, 1, 3, 5};
  EXPECT(ints_are(s->delta_n, s->n_delta, dn, 4), "delta_n takes lists and ranges, negatives included");
  EXPECT(s->flop_rate == 1.5e10, "flop_rate is read");
  EXPECT(strcmp(s->output, "a,b.h5") == 0, "output is one path, commas included");
  isw_spec_destroy(&s);
}

/* heartbeat and rank_timeout (a dead rank, transport.h): defaults, bounds,
 * the one rule between them, and outside the canonical text like batch_rows. */
static void test_heartbeat_and_rank_timeout(void) {
  isw_spec *s = parse_ok(HEAD);
  EXPECT_FATAL(s != NULL, "the spec parses");
  EXPECT(s->heartbeat == 10 && s->rank_timeout == 120, "heartbeat and rank_timeout default to 10 s and 120 s");
  char *canon = strdup(s->canonical);
  isw_spec_destroy(&s);
  s = parse_ok(HEAD "heartbeat = 0.5\nrank_timeout = 10\n");
  EXPECT_FATAL(s != NULL && canon != NULL, "the spec parses");
  EXPECT(s->heartbeat == 0.5 && s->rank_timeout == 10, "heartbeat and rank_timeout are read");
  EXPECT(strcmp(s->canonical, canon) == 0, "neither is part of the canonical text (both may change on resume)");
  isw_spec_destroy(&s);
  free(canon);
  expect_bad(HEAD "heartbeat = 0\n", "t.ini:7", "value 0 is out of bounds for sweep.heartbeat");
  expect_bad(HEAD "heartbeat = 4000\n", "t.ini:7", "out of bounds for sweep.heartbeat (one number > 0 and <= 3600)");
  expect_bad(HEAD "rank_timeout = -1\n", "t.ini:7", "value -1 is out of bounds for sweep.rank_timeout");
  expect_bad(HEAD "rank_timeout = soon\n", "t.ini:7", "'soon'");
  expect_bad(HEAD "heartbeat = 1\nrank_timeout = 1.5\n", "t.ini:8",
             "sweep.rank_timeout = 1.5 must be at least twice sweep.heartbeat = 1");
  expect_bad(HEAD "heartbeat = 100\n", "t.ini:7", "sweep.rank_timeout = 120 must be at least twice sweep.heartbeat = 100");
  const char *sets[] = {"sweep.rank_timeout=3"};
  expect_bad_sets(HEAD "heartbeat = 2\n", sets, 1, "--set sweep.rank_timeout=3", "must be at least twice");
}

static void test_real_files_load(void) {
  char dir[600], path[700];
  snprintf(dir, sizeof dir, "%s", isw_test_tmpdir());
  snprintf(path, sizeof path, "%s/spec.ini", dir);
  FILE *f = fopen(path, "w");
  EXPECT_FATAL(f != NULL, "the temp file can be written");
  fputs(HEAD "[linear-meta]\ntasks = 8\n", f);
  fclose(f);
  isw_spec *s = NULL;
  int rc = isw_spec_load(&s, path, NULL, 0);
  EXPECT(rc == 0 && s, "a readable spec file loads");
  EXPECT(s && strcmp(s->path, path) == 0, "the spec records its path");
  EXPECT(s && strcmp(s->text, HEAD "[linear-meta]\ntasks = 8\n") == 0, "the spec keeps the file's text");
  isw_spec_destroy(&s);

  f = fopen(path, "w");
  EXPECT_FATAL(f != NULL, "the temp file can be rewritten");
  fputs(HEAD "[linear-meta]\ntasks = 0\n", f);
  fclose(f);
  rc = isw_spec_load(&s, path, NULL, 0);
  char prefix[800];
  snprintf(prefix, sizeof prefix, "%s:8: value 0 is out of bounds for linear-meta.tasks", path);
  EXPECT(rc == ISW_EUSAGE && s == NULL && strncmp(isw_error_message(), prefix, strlen(prefix)) == 0,
         "errors in a file are located by its path and line");
  remove(path);
  remove(dir);
}

/* --set sweep.tasks=FAMILY cuts a spec down to that family: the other
 * families' sections are dropped with a note, not refused. */
static void test_tasks_override_cuts_families(void) {
  const char *sets[] = {"sweep.tasks=linear-meta"};
  isw_spec *s = parse_ok_sets(isw_spec_default_text(), sets, 1);
  EXPECT_FATAL(s != NULL, "the default spec cut to linear-meta parses");
  EXPECT(s->n_groups == 1 && strcmp(s->groups[0].task->name, "linear-meta") == 0,
         "only the family named in the override is left");
  EXPECT(s->notes && strstr(s->notes, "left out section [deq]") && strstr(s->notes, "left out section [maml]"),
         "each dropped section is named in a note");
  EXPECT(strstr(s->canonical, "deq.") == NULL, "a dropped family is not in the canonical text");
  isw_spec *full = parse_ok(isw_spec_default_text());
  EXPECT(full && full->notes == NULL, "a spec used as written has no notes");
  int same = full && full->groups[0].n_configs == s->groups[0].n_configs;
  for (int i = 0; same && i < s->groups[0].n_configs; ++i) same = full->groups[0].configs[i].id == s->groups[0].configs[i].id;
  EXPECT(same, "the cut keeps the family's configs and their ids");
  isw_spec_destroy(&full);
  isw_spec_destroy(&s);
  /* in the file itself a section outside tasks stays an error */
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n[deq]\n", "t.ini:6",
             "is not in sweep.tasks");
}

/* Relative paths written in a spec resolve against its folder; ids and the
 * canonical text keep them as written. */
static void test_relative_paths_resolve_against_the_spec(void) {
  const char *t2 = "[sweep]\ntasks = deq\nwidths = 4\ntrain_iters = 2\ntest_iters = 0:2\noutput = r.h5\n"
                   "[deq]\ndataset = file\ndata_file = d.h5\n";
  isw_spec *a = NULL, *b = NULL;
  int rc = isw_spec_parse(&a, "/some/where/spec.ini", t2, NULL, 0);
  EXPECT_FATAL(rc == 0 && a, "the spec parses");
  int p = isw_task_param_index(isw_task_find("deq"), "data_file");
  EXPECT(strcmp(a->groups[0].configs[0].p[p].str, "/some/where/d.h5") == 0,
         "a relative data file resolves against the spec file's folder");
  EXPECT(strcmp(a->output, "/some/where/r.h5") == 0, "a relative output resolves against the spec file's folder");
  rc = isw_spec_parse(&b, "spec.ini", t2, NULL, 0);
  EXPECT_FATAL(rc == 0 && b, "the spec parses");
  EXPECT(strcmp(b->groups[0].configs[0].p[p].str, "d.h5") == 0 && strcmp(b->output, "r.h5") == 0,
         "a spec in the current folder keeps its paths");
  EXPECT(a->groups[0].configs[0].id == b->groups[0].configs[0].id && strcmp(a->canonical, b->canonical) == 0,
         "config ids and the canonical text hold the paths as written, wherever the spec is");
  isw_spec_destroy(&b);
  const char *sets[] = {"sweep.output=cwd.h5", "deq.data_file=here.h5"};
  rc = isw_spec_parse(&b, "/some/where/spec.ini", t2, sets, 2);
  EXPECT_FATAL(rc == 0 && b, "the spec parses with overrides");
  EXPECT(strcmp(b->output, "cwd.h5") == 0 && strcmp(b->groups[0].configs[0].p[p].str, "here.h5") == 0,
         "paths given with --set are typed in the current folder and stay relative to it");
  isw_spec_destroy(&b);
  isw_spec_destroy(&a);
}

/* The canonical text of a loaded spec carries each data file's content
 * hash, so a resume after the data changed is refused. */
static void test_data_file_content_is_canonical(void) {
  char dir[600], spec[700], data[700];
  snprintf(dir, sizeof dir, "%s", isw_test_tmpdir());
  snprintf(spec, sizeof spec, "%s/spec.ini", dir);
  snprintf(data, sizeof data, "%s/d.h5", dir);
  FILE *f = fopen(spec, "w");
  EXPECT_FATAL(f != NULL, "the temp spec can be written");
  fputs("[sweep]\ntasks = deq\nwidths = 4\ntrain_iters = 2\ntest_iters = 0:2\n[deq]\ndataset = file\n"
        "data_file = d.h5\n", f);
  fclose(f);
  isw_spec *a = NULL, *b = NULL, *c = NULL;
  EXPECT(isw_spec_load(&a, spec, NULL, 0) == 0 && a, "the spec loads with its data file missing");
  EXPECT(a && strstr(a->canonical, "deq.data_file.content = missing\n"), "a missing data file is named so");
  f = fopen(data, "w");
  fputs("version 1", f);
  fclose(f);
  EXPECT(isw_spec_load(&b, spec, NULL, 0) == 0 && b, "the spec loads");
  f = fopen(data, "w");
  fputs("version 2", f);
  fclose(f);
  EXPECT(isw_spec_load(&c, spec, NULL, 0) == 0 && c, "the spec loads");
  EXPECT(b && c && strstr(b->canonical, "deq.data_file.content = ") && strcmp(b->canonical, c->canonical) != 0,
         "changing the data file's content changes the canonical text");
  EXPECT(a && b && a->groups[0].configs[0].id == b->groups[0].configs[0].id,
         "the content does not change config ids");
  isw_spec_destroy(&a);
  isw_spec_destroy(&b);
  isw_spec_destroy(&c);
  remove(data);
  remove(spec);
  remove(dir);
}

/* --only: comma = and, numeric parameters compare as numbers, the others as
 * text; an unknown parameter is refused. */
static void test_only_selects_configs(void) {
  isw_spec *s = parse_ok(isw_spec_default_text());
  EXPECT_FATAL(s != NULL, "the default spec parses");
  isw_select *sel = NULL;
  int rc = isw_select_parse(&sel, "task=deq, width<=8 ,grad=implicit", s);
  EXPECT_FATAL(rc == 0 && sel, "a valid expression parses");
  int n = 0, wrong = 0, g = 1;
  int grad = isw_task_param_index(s->groups[g].task, "grad");
  for (int i = 0; i < s->groups[g].n_configs; ++i) {
    const isw_config *c = &s->groups[g].configs[i];
    int want = c->width <= 8 && strcmp(c->p[grad].str, "implicit") == 0;
    wrong += want != isw_select_match(sel, c);
    n += want;
  }
  for (int i = 0; i < s->groups[0].n_configs; ++i) wrong += isw_select_match(sel, &s->groups[0].configs[i]);
  EXPECT(wrong == 0 && n == 9, "task=deq,width<=8,grad=implicit selects exactly those deq configs");
  isw_select_destroy(&sel);
  EXPECT(sel == NULL, "destroy NULLs the pointer");
  rc = isw_select_parse(&sel, "width>64,width!=2048,train_iters<10", s);
  EXPECT_FATAL(rc == 0, "numeric conditions parse");
  n = 0;
  for (int i = 0; i < s->groups[0].n_configs; ++i) n += isw_select_match(sel, &s->groups[0].configs[i]);
  EXPECT(n == 4 * 2 * 3, "width 128..1024 (not 2048), N 2 and 5: 4 widths x 2 N x 3 seeds of linear-meta");
  isw_select_destroy(&sel);
  rc = isw_select_parse(&sel, "grad!=unrolled", s);
  EXPECT(rc == 0 && !isw_select_match(sel, &s->groups[0].configs[0]),
         "a condition on a parameter a family lacks excludes that family");
  isw_select_destroy(&sel);
  static const char *const bad[][2] = {{"colour=red", "unknown parameter 'colour'"},
                                       {"width<=abc", "'abc' is not a number"},
                                       {"width", "is not a condition"},
                                       {"task=deq,,width=2", "'' is not a condition"},
                                       {"width=<3", "needs a name and a value"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    isw_error_clear();
    rc = isw_select_parse(&sel, bad[i][0], s);
    const char *m = isw_error_message();
    EXPECT(rc == ISW_EUSAGE && sel == NULL && strncmp(m, "--only ", 7) == 0 && strstr(m, bad[i][1]) &&
               !strchr(m, '\n'),
           "a bad --only expression is one usage line naming what is wrong");
    if (!strstr(m, bad[i][1])) fprintf(stderr, "\n  '%s': %s\n", bad[i][0], m);
  }
  isw_spec_destroy(&s);
}

/* Sub-grids: [TASK.NAME] sections add their grids to the family's group;
 * a config two sections produce is one config. */
static void test_sub_grids_union(void) {
  const char *text = "[sweep]\ntasks = deq\ntrain_iters = 2\ntest_iters = 0:2\nseeds = 0:1\n"
                     "[deq]\nwidths = 2,4\nsteps = 20\n"
                     "[deq.wide]\nwidths = 4,8\nseeds = 0\ntest_iters = 5\n";
  isw_spec *s = parse_ok(text);
  EXPECT_FATAL(s != NULL, "a spec with a sub-grid parses");
  EXPECT(s->n_groups == 1, "a sub-grid is part of its family's group");
  const isw_spec_group *g = &s->groups[0];
  EXPECT(g->n_configs == 5, "widths 2,4 x seeds 0,1 plus widths 4,8 x seed 0, (4, 0) once: 5 configs");
  int steps = isw_task_param_index(g->task, "steps"), rows_ok = 1, distinct = 1;
  for (int i = 0; i < g->n_configs; ++i) {
    rows_ok &= g->configs[i].row == i && g->configs[i].group == 0;
    for (int j = 0; j < i; ++j) distinct &= g->configs[i].id != g->configs[j].id;
  }
  EXPECT(rows_ok && distinct, "rows are positions in the group and config ids are distinct");
  EXPECT(g->configs[4].width == 8 && g->configs[4].seed == 0 && g->configs[4].p[steps].num == 20,
         "the sub-grid's new config comes last and inherits the main section's parameters");
  static const int64_t ti[] = {0, 1, 2, 5};
  EXPECT(ints_are(g->test_iters, g->n_test, ti, 4), "test_iters is the union over the family's sections");
  EXPECT(strstr(s->canonical, "deq.wide.widths = 4,8\n") && strstr(s->canonical, "deq.widths = 2,4\n"),
         "each section's axes are in the canonical text under its own name");
  isw_spec *one = parse_ok("[sweep]\ntasks = deq\ntrain_iters = 2\ntest_iters = 0:2\nseeds = 0:1\n"
                           "[deq]\nwidths = 2,4,8\nsteps = 20\n");
  int found = 0;
  for (int i = 0; one && i < g->n_configs; ++i)
    for (int j = 0; j < one->groups[0].n_configs; ++j) found += g->configs[i].id == one->groups[0].configs[j].id;
  EXPECT(found == 5, "a config keeps its id whichever section makes it");
  isw_spec_destroy(&one);
  isw_spec_destroy(&s);
  expect_bad("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 5\ntest_iters = 0:4\n[deq.wide]\n", "t.ini:6",
             "is not in sweep.tasks");
  expect_bad("[sweep]\ntasks = deq\nwidths = 4\ntrain_iters = 5\ntest_iters = 0:4\n[deq.wide]\ncolour = 1\n",
             "t.ini:7", "unknown key 'colour' in [deq.wide]");
}

/* isw_spec_extends: axes may gain values and sections be added; anything
 * else is refused naming the first offending line. */
/* Configs a and b are the same point of the grid: every field but cost and
 * team, strings by value. */
static int same_config(const isw_config *a, const isw_config *b) {
  int same = a->task == b->task && a->width == b->width && a->train_iters == b->train_iters &&
             a->seed == b->seed && a->n_test == b->n_test && a->sweep_seed == b->sweep_seed && a->id == b->id &&
             a->data_id == b->data_id && a->group == b->group && a->row == b->row;
  for (int j = 0; same && j < a->n_test; ++j) same = a->test_iters[j] == b->test_iters[j];
  for (int k = 0; same && k < a->task->n_params; ++k) {
    same = a->p[k].num == b->p[k].num && !a->p[k].str == !b->p[k].str;
    if (same && a->p[k].str) same = strcmp(a->p[k].str, b->p[k].str) == 0;
  }
  return same;
}

/* A rank that did not expand the grid builds every config from its row:
 * sub-grids sharing configs, several families, choices, resolved paths. */
static void test_lean_spec_builds_every_config(void) {
  const char *text = "[sweep]\ntasks = deq, linear-meta\ntrain_iters = 2\ntest_iters = 0:2\nseeds = 0:2\n"
                     "[deq]\nwidths = 2,4\nsteps = 20\ngrad = implicit,jfb\ndataset = file\n"
                     "data_file = a.h5,b.h5\n"
                     "[linear-meta]\nwidths = 8,16\ntasks = 2,3\n"
                     "[deq.wide]\nwidths = 4,8\nseeds = 1\ntest_iters = 5\n"
                     "[linear-meta.more]\nwidths = 16,32\ntasks = 3\n";
  const char *sets[] = {"deq.lr=0.01,0.02"};
  isw_spec *full = NULL, *lean = NULL;
  int64_t *map = NULL, n = 0;
  int rc = isw_spec_parse(&full, "/d/t.ini", text, sets, 1);
  EXPECT_FATAL(rc == 0 && full, "the spec parses");
  rc = isw_spec_parse_lean(&lean, "/d/t.ini", text, sets, 1);
  EXPECT_FATAL(rc == 0 && lean, "the spec parses without its grid");
  EXPECT(lean->n_groups == full->n_groups && lean->groups[0].configs == NULL && lean->groups[0].n_configs == 0 &&
         strcmp(lean->canonical, full->canonical) == 0,
         "a lean spec has the groups and canonical text of the full one, and no configs");
  EXPECT_FATAL(isw_spec_row_map(&map, &n, full) == 0, "the row map is made");
  int runs = (int)(n / 4);
  /* deq: 2 runs (main section, then wide's configs after its shared (4, seed 1) ones),
   * linear-meta: the main section and one of "more" (its width 16 is shared) */
  EXPECT(runs <= 8, "the row map has a few runs, not one per config");
  EXPECT_FATAL(isw_spec_set_row_map(lean, map, n) == 0, "the lean spec takes the row map");
  int all = 1, counted = 1;
  for (int g = 0; g < full->n_groups; ++g) {
    counted &= lean->groups[g].n_configs == full->groups[g].n_configs;
    for (int i = 0; i < full->groups[g].n_configs; ++i) {
      isw_config c, d;
      all &= isw_spec_config(&c, lean, g, i) == 0 && isw_spec_config(&d, full, g, i) == 0;
      all &= same_config(&c, &full->groups[g].configs[i]) && same_config(&d, &full->groups[g].configs[i]);
    }
  }
  EXPECT(counted, "the row map gives every group its number of configs");
  EXPECT(all, "the config built from (group, row) equals the expanded one, field by field");
  int p = isw_task_param_index(isw_task_find("deq"), "data_file");
  isw_config c;
  EXPECT(isw_spec_config(&c, lean, 0, 0) == 0 && strcmp(c.p[p].str, "/d/a.h5") == 0,
         "a built config opens its data file resolved against the spec's folder");
  isw_error_clear();
  EXPECT(isw_spec_config(&c, lean, 0, lean->groups[0].n_configs) == ISW_EINTERNAL &&
             isw_spec_config(&c, lean, 2, 0) == ISW_EINTERNAL,
         "a row or group that is not there is an internal error");
  map[2] = 1 << 20;
  isw_spec_destroy(&lean);
  EXPECT_FATAL(isw_spec_parse_lean(&lean, "/d/t.ini", text, sets, 1) == 0, "the spec parses again");
  EXPECT(isw_spec_set_row_map(lean, map, n) == ISW_EINTERNAL, "a row map that does not fit the spec is refused");
  free(map);
  isw_spec_destroy(&lean);
  isw_spec_destroy(&full);
}

static void test_extends_allows_only_growth(void) {
  const char *base = "[sweep]\ntasks = deq\ntrain_iters = 2\ntest_iters = 0:2\nseeds = 0:1\n[deq]\nwidths = 2,4\n";
  isw_spec *a = parse_ok(base);
  EXPECT_FATAL(a != NULL, "the base spec parses");
  char why[600];
  struct {
    const char *sets[3];
    int ok;
    const char *line;
  } cases[] = {
      {{"sweep.seeds=0:3"}, 1, NULL},
      {{"deq.widths=8,4,2"}, 1, NULL},
      {{"deq.grad=unrolled,implicit"}, 1, NULL},
      {{"sweep.tasks=deq,linear-meta", "linear-meta.widths=16"}, 1, NULL},
      {{"deq.wide.widths=64"}, 1, NULL}, /* a sub-grid made on the command line */
      {{"sweep.seeds=1"}, 0, "deq.seeds = 0,1"},
      {{"deq.lr=0.01"}, 0, "deq.lr = 0.001"},
      {{"deq.test_iters=0:3"}, 0, "deq.test_iters = 0,1,2"},
      {{"sweep.seed=3"}, 0, "sweep.seed = 0"},
      {{"sweep.tasks=linear-meta", "linear-meta.widths=16"}, 0, "deq."},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    int n = 0;
    while (n < 3 && cases[i].sets[n]) ++n;
    isw_spec *b = NULL;
    isw_error_clear();
    if (isw_spec_parse(&b, "t.ini", base, cases[i].sets, n) != 0) {
      EXPECT(!cases[i].ok, "a spec that does not parse is never an extension");
      continue;
    }
    int rc = isw_spec_extends(a->canonical, b->canonical, why, sizeof why);
    EXPECT(cases[i].ok ? rc == 0 && why[0] == '\0' : rc == ISW_EUSAGE && strstr(why, cases[i].line) != NULL,
           cases[i].ok ? "added values or families extend a sweep"
                       : "any other change is refused, naming the first differing canonical line");
    if (cases[i].ok != (rc == 0)) fprintf(stderr, "\n  --set %s: rc %d, %s\n", cases[i].sets[0], rc, why);
    isw_spec_destroy(&b);
  }
  isw_spec *w = parse_ok("[sweep]\ntasks = deq\ntrain_iters = 2\ntest_iters = 0:2\nseeds = 0:1\n[deq]\nwidths = 2,4\n"
                         "[deq.wide]\nwidths = 64\nseeds = 0\n");
  EXPECT(w && isw_spec_extends(a->canonical, w->canonical, why, sizeof why) == 0,
         "a sub-grid added to a family extends its sweep");
  EXPECT(w && isw_spec_extends(w->canonical, a->canonical, why, sizeof why) == ISW_EUSAGE && strstr(why, "deq.wide"),
         "a sub-grid removed is refused");
  EXPECT(isw_spec_extends(a->canonical, a->canonical, why, sizeof why) == 0, "a sweep extends itself");
  isw_spec_destroy(&w);
  isw_spec_destroy(&a);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"unknown section is refused", test_unknown_section_is_refused},
      {"section of a task not in sweep.tasks is refused", test_section_of_task_not_in_tasks_is_refused},
      {"unknown key is refused", test_unknown_key_is_refused},
      {"bad number is refused", test_bad_number_is_refused},
      {"empty list is refused", test_empty_list_is_refused},
      {"zero or negative iteration counts are refused", test_zero_or_negative_iterations_are_refused},
      {"zero or negative widths are refused", test_zero_or_negative_widths_are_refused},
      {"unknown task is refused", test_unknown_task_is_refused},
      {"range expanding to nothing is refused", test_range_expanding_to_nothing_is_refused},
      {"range beyond the limit is refused", test_range_beyond_the_limit_is_refused},
      {"grid beyond max_configs is refused", test_grid_beyond_max_configs_is_refused},
      {"duplicate key is refused", test_duplicate_key_is_refused},
      {"duplicate key among many is found", test_duplicate_key_among_many_is_found},
      {"duplicate section is refused", test_duplicate_section_is_refused},
      {"text after a section header is refused", test_text_after_section_header_is_refused},
      {"stray line ends and marks are refused", test_stray_line_ends_and_marks_are_refused},
      {"control characters in texts are refused", test_control_characters_in_texts_are_refused},
      {"full int64 range is refused", test_full_int64_range_is_refused},
      {"huge counts are not echoed in full", test_huge_counts_are_not_echoed_in_full},
      {"continuation line is refused", test_continuation_line_is_refused},
      {"long line is refused", test_long_line_is_refused},
      {"syntax error is refused", test_syntax_error_is_refused},
      {"missing required key is refused", test_missing_required_key_is_refused},
      {"repeated axis value is refused", test_repeated_axis_value_is_refused},
      {"single-valued key with a list is refused", test_single_valued_key_with_a_list_is_refused},
      {"unknown choice is refused", test_unknown_choice_is_refused},
      {"bad override is refused", test_bad_override_is_refused},
      {"unreadable file is refused", test_unreadable_file_is_refused},
      {"special files as the spec are refused", test_special_spec_files_are_refused},
      {"impossible data size is a usage error", test_impossible_data_size_is_a_usage_error},
      {"default spec parses", test_default_spec_parses},
      {"ranges expand", test_ranges_expand},
      {"grid is the product of its axes", test_grid_is_the_product_of_its_axes},
      {"list-valued parameters become axes", test_list_valued_parameters_become_axes},
      {"overrides replace values", test_overrides_replace_values},
      {"canonical text ignores spelling", test_canonical_text_ignores_spelling},
      {"ids do not depend on position", test_ids_do_not_depend_on_position},
      {"data_id follows what shapes the data", test_data_id_follows_what_shapes_the_data},
      {"test_iters are sorted and distinct", test_test_iters_are_sorted_and_distinct},
      {"choices become axes", test_choices_become_axes},
      {"several tasks make several groups", test_several_tasks_make_several_groups},
      {"sweep keys take their values", test_sweep_keys_take_their_values},
      {"heartbeat and rank_timeout", test_heartbeat_and_rank_timeout},
      {"each data set is visited once", test_each_data_set_is_visited_once},
      {"data errors are located", test_data_errors_are_located},
      {"real files load", test_real_files_load},
      {"tasks override cuts families", test_tasks_override_cuts_families},
      {"relative paths resolve against the spec", test_relative_paths_resolve_against_the_spec},
      {"data file content is canonical", test_data_file_content_is_canonical},
      {"only selects configs", test_only_selects_configs},
      {"sub-grids union", test_sub_grids_union},
      {"lean spec builds every config", test_lean_spec_builds_every_config},
      {"extends allows only growth", test_extends_allows_only_growth},
      {NULL, NULL},
  };
  return isw_test_main(argc, argv, "spec", cases);
}
