/* test_exec.c — the exec family's spec side: every bad [exec] section is a
 * located usage error; the task built from a good one (parameters, curves,
 * canonical text); placeholders, command words, the cost expression and the
 * result-file reader.  The runs themselves are tested end to end by
 * tests/exec_test.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/exec.h"
#include "isweep/spec.h"
#include "testutil.h"

#define HEAD "[sweep]\ntasks = exec\nwidths = 4,8\ntrain_iters = 5\ntest_iters = 0,1,5\n[exec]\n"
/* line 7 is the first line of the [exec] section's keys */

/* Parse `text`; expect ISW_EUSAGE whose message starts with `where` and
 * contains `what`. */
static void expect_usage(const char *text, const char *where, const char *what) {
  isw_spec *s = NULL;
  int rc = isw_spec_parse(&s, "t.ini", text, NULL, 0);
  CU_ASSERT_EQUAL(rc, ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(s);
  const char *m = isw_error_message();
  CU_ASSERT_EQUAL(strncmp(m, where, strlen(where)), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, what));
  if (rc != ISW_EUSAGE || strncmp(m, where, strlen(where)) != 0 || !strstr(m, what))
    fprintf(stderr, "expected '%s ... %s', got rc %d: %s\n", where, what, rc, m);
  isw_spec_destroy(&s);
}

/* Parse `text` and validate it as rank 0 does before anything runs. */
static int validate_text(const char *text) {
  isw_spec *s = NULL;
  int rc = isw_spec_parse(&s, "t.ini", text, NULL, 0);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  rc = isw_spec_validate(s);
  isw_spec_destroy(&s);
  return rc;
}

static void test_unknown_placeholder(void) {
  expect_usage(HEAD "command = /bin/true {width} {lr}\ncurves = train_loss, test_loss\n", "t.ini:7:",
               "unknown placeholder {lr}");
}

static void test_bad_braces(void) {
  expect_usage(HEAD "command = /bin/true {width\ncurves = train_loss, test_loss\n", "t.ini:7:",
               "unterminated placeholder");
  expect_usage(HEAD "command = /bin/true {}\ncurves = train_loss, test_loss\n", "t.ini:7:", "empty placeholder");
  expect_usage(HEAD "command = /bin/true width}\ncurves = train_loss, test_loss\n", "t.ini:7:", "unmatched '}'");
}

static void test_parameter_without_placeholder(void) {
  expect_usage(HEAD "command = /bin/true {width}\nlr = 1e-3,3e-3\ncurves = train_loss, test_loss\n", "t.ini:7:",
               "parameter 'lr' of [exec] is not used by the command");
}

static void test_no_command(void) {
  expect_usage(HEAD "curves = train_loss, test_loss\n", "t.ini:6:", "[exec] has no command");
}

static void test_empty_command(void) {
  expect_usage(HEAD "command =\ncurves = train_loss, test_loss\n", "t.ini:7:", "exec.command is empty");
  expect_usage(HEAD "command = \"\" \ncurves = train_loss, test_loss\n", "t.ini:7:", "exec.command is empty");
}

static void test_program_not_found(void) {
  const char *t = HEAD "command = no-such-program-isweep {width}\ncurves = train_loss, test_loss\n";
  CU_ASSERT_EQUAL(validate_text(t), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "t.ini:6: program 'no-such-program-isweep' in exec.command is not found on PATH"));
  t = HEAD "command = ./no/such/file {width}\ncurves = train_loss, test_loss\n";
  CU_ASSERT_EQUAL(validate_text(t), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "t.ini:6: program './no/such/file' in exec.command does not exist"));
  CU_ASSERT_EQUAL(validate_text(HEAD "command = true {width}\ncurves = train_loss, test_loss\n"), 0);
}

static void test_program_not_executable(void) {
  char dir[] = "/tmp/isw_exec_XXXXXX", path[64], text[512];
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/prog.py", dir);
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("print('hi')\n", f);
  fclose(f);
  chmod(path, 0644);
  snprintf(text, sizeof text, HEAD "command = %s {width}\ncurves = train_loss, test_loss\n", path);
  CU_ASSERT_EQUAL(validate_text(text), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "is not an executable file"));
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "t.ini:6:"));
  unlink(path);
  rmdir(dir);
}

static void test_placeholder_in_program(void) {
  expect_usage(HEAD "command = {prog} {width}\nprog = a,b\ncurves = train_loss, test_loss\n", "t.ini:7:",
               "the program name '{prog}' contains a placeholder");
}

static void test_no_curves(void) {
  expect_usage(HEAD "command = /bin/true {width}\n", "t.ini:6:", "[exec] declares no curves");
  expect_usage(HEAD "command = /bin/true {width}\ncurves =\n", "t.ini:8:", "exec.curves is empty");
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_acc\n", "t.ini:8:",
               "must include train_loss and test_loss");
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_loss, 3x\n", "t.ini:8:",
               "'3x' in exec.curves is not a name");
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_loss, train_loss\n", "t.ini:8:",
               "'train_loss' is listed twice");
}

static void test_bad_cost(void) {
  const char *c = HEAD "command = /bin/true {width} {act}\nact = tanh\ncurves = train_loss, test_loss\ncost = ";
  char t[1024];
  const char *bad[][2] = {{"width^2 *", "ends where a number"},
                          {"(width + 1", "missing ')'"},
                          {"depth * 2", "unknown name 'depth'"},
                          {"act * 2", "parameter 'act' is text"},
                          {"width $ 2", "unexpected '$'"},
                          {"", "the expression is empty"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    snprintf(t, sizeof t, "%s%s\n", c, bad[i][0]);
    expect_usage(t, "t.ini:10: bad cost expression", bad[i][1]);
  }
}

static void test_other_keys(void) {
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_loss\ntimeout = soon\n", "t.ini:9:",
               "exec.timeout is 'soon'");
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_loss\nshell = maybe\n", "t.ini:9:",
               "exec.shell is 'maybe'");
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_loss\nwidth = 3\n", "t.ini:9:",
               "the model-size axis is widths");
  expect_usage(HEAD "command = /bin/true 'open {width}\ncurves = train_loss, test_loss\n", "t.ini:7:",
               "unterminated single quote");
  expect_usage(HEAD "command = /bin/true {width}\ncurves = train_loss, test_loss\nroles = test_loss:speed\n",
               "t.ini:9:", "role 'speed' in exec.roles is unknown");
  expect_usage(HEAD "command = /bin/true {width}\ncommand_3 = {seed}\ncurves = train_loss, test_loss\n", "t.ini:8:",
               "exec.command_3 without exec.command_2");
  expect_usage(HEAD "curves = train_loss, test_loss\ncommand_2 = {seed}\n", "t.ini:6:", "[exec] has no command");
}

/* A good section: inferred parameter types, curves reordered, canonical keys. */
static void test_build(void) {
  const char *t = HEAD "command = /bin/echo {width} {lr}\ncommand_2 = {act} {depth} --out={output} '{{x}}'\n"
                       "lr = 1e-3, 3e-3\nact = tanh\ndepth = 1:3\n"
                       "curves = test_acc, test_loss, residual, train_loss\nscalars = rho, limit, n_params\n"
                       "cost = width^2 * depth + 2^3^2\n";
  isw_spec *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_spec_parse(&s, "t.ini", t, NULL, 0), 0);
  const isw_task *task = s->groups[0].task;
  CU_ASSERT_STRING_EQUAL(task->name, "exec");
  CU_ASSERT_EQUAL(task->n_params, 3);
  CU_ASSERT_EQUAL(task->params[0].type, ISW_PARAM_REAL);
  CU_ASSERT_EQUAL(task->params[1].type, ISW_PARAM_STRING);
  CU_ASSERT_EQUAL(task->params[2].type, ISW_PARAM_INT);
  CU_ASSERT_EQUAL(s->groups[0].n_configs, 2 * 2 * 1 * 3);
  CU_ASSERT_EQUAL(task->n_curves, 4);
  CU_ASSERT_STRING_EQUAL(task->curves[0].name, "train_loss");
  CU_ASSERT_STRING_EQUAL(task->curves[1].name, "test_loss");
  CU_ASSERT_STRING_EQUAL(task->curves[2].name, "test_acc");
  CU_ASSERT_STRING_EQUAL(task->curves[3].name, "residual");
  CU_ASSERT_EQUAL(task->n_scalars, 1);
  CU_ASSERT_STRING_EQUAL(task->scalars[0].name, "limit");
  CU_ASSERT_PTR_NOT_NULL(strstr(s->canonical, "exec:program.command = /bin/echo {width} {lr} {act} {depth}"));
  CU_ASSERT_PTR_NULL(strstr(s->canonical, "command_2"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s->canonical, "exec:program.curves = train_loss,test_loss,test_acc,residual\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s->canonical, "exec.lr = 0.001,0.003\n"));
  /* the last config: width 8, lr 3e-3, depth 3; cost 8^2 * 3 + 2^9 */
  const isw_config *c = &s->groups[0].configs[s->groups[0].n_configs - 1];
  CU_ASSERT_DOUBLE_EQUAL(task->cost(c), 64.0 * 3 + 512.0, 0.0);
  isw_exec_paths paths = {"/w d", "/w d/result.json", "/l"};
  char *out = NULL;
  const isw_exec *x = task->ctx;
  CU_ASSERT_EQUAL(x->n_words, 7);
  CU_ASSERT_EQUAL(isw_exec_expand(&out, x->words[1], c, &paths, 0), 0);
  CU_ASSERT_STRING_EQUAL(out, "8");
  free(out);
  CU_ASSERT_EQUAL(isw_exec_expand(&out, x->words[2], c, &paths, 0), 0);
  CU_ASSERT_STRING_EQUAL(out, "0.003");
  free(out);
  CU_ASSERT_EQUAL(isw_exec_expand(&out, x->words[5], c, &paths, 0), 0);
  CU_ASSERT_STRING_EQUAL(out, "--out=/w d/result.json");
  free(out);
  CU_ASSERT_EQUAL(isw_exec_expand(&out, x->words[6], c, &paths, 0), 0);
  CU_ASSERT_STRING_EQUAL(out, "{x}");
  free(out);
  CU_ASSERT_EQUAL(isw_exec_expand(&out, "{test_iters};{act}", c, &paths, 1), 0);
  CU_ASSERT_STRING_EQUAL(out, "'0,1,5';'tanh'");
  free(out);
  CU_ASSERT_STRING_EQUAL(isw_exec_curve_role("test_acc"), "accuracy");
  CU_ASSERT_STRING_EQUAL(isw_exec_curve_role("residual"), "residual");
  CU_ASSERT_STRING_EQUAL(isw_exec_curve_split("test_acc"), "test");
  /* the columns carry their roles for the report */
  CU_ASSERT_EQUAL(task->curves[0].role, ISW_ROLE_LOSS);
  CU_ASSERT_STRING_EQUAL(task->curves[0].split, "train");
  CU_ASSERT_EQUAL(task->curves[1].role, ISW_ROLE_LOSS);
  CU_ASSERT_STRING_EQUAL(task->curves[1].split, "test");
  CU_ASSERT_EQUAL(task->curves[2].role, ISW_ROLE_ACCURACY);
  CU_ASSERT_EQUAL(task->curves[3].role, ISW_ROLE_RESIDUAL);
  CU_ASSERT_PTR_NULL(task->curves[3].split);
  isw_spec_destroy(&s);
}

/* Words: quotes group, backslash escapes, a value never splits. */
static void test_split(void) {
  char **w = NULL, why[100];
  int n = 0;
  CU_ASSERT_EQUAL(isw_exec_split(&w, &n, "  a 'b c' \"d \\\" e\" f\\ g ''  ", why, sizeof why), 0);
  CU_ASSERT_EQUAL_FATAL(n, 5);
  CU_ASSERT_STRING_EQUAL(w[0], "a");
  CU_ASSERT_STRING_EQUAL(w[1], "b c");
  CU_ASSERT_STRING_EQUAL(w[2], "d \" e");
  CU_ASSERT_STRING_EQUAL(w[3], "f g");
  CU_ASSERT_STRING_EQUAL(w[4], "");
  for (int i = 0; i < n; ++i) free(w[i]);
  free(w);
}

static int no_names(double *v, const char *name, size_t len, void *user) {
  (void)v, (void)name, (void)len, (void)user;
  return 1;
}

static void test_expr(void) {
  double v = 0;
  char why[200];
  CU_ASSERT_EQUAL(isw_expr_eval(&v, "1 + 2 * 3 - 4 / 2", no_names, NULL, why, sizeof why), 0);
  CU_ASSERT_DOUBLE_EQUAL(v, 5.0, 0.0);
  CU_ASSERT_EQUAL(isw_expr_eval(&v, "-2^2", no_names, NULL, why, sizeof why), 0);
  CU_ASSERT_DOUBLE_EQUAL(v, -4.0, 0.0);
  CU_ASSERT_EQUAL(isw_expr_eval(&v, "2^-1 * (3 + 1e1)", no_names, NULL, why, sizeof why), 0);
  CU_ASSERT_DOUBLE_EQUAL(v, 6.5, 0.0);
  CU_ASSERT_EQUAL(isw_expr_eval(&v, "2 3", no_names, NULL, why, sizeof why), 1);
}

/* The reader: NaN tokens, wrong lengths, undeclared keys, status. */
static void test_read_result(void) {
  isw_spec *s = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_spec_parse(&s, "t.ini", HEAD "command = /bin/true {width}\ncurves = train_loss, "
                                       "test_loss\nscalars = score, rho\n", NULL, 0), 0);
  const isw_config *c = &s->groups[0].configs[0];
  char dir[] = "/tmp/isw_exec_XXXXXX", path[64], why[200];
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/r.json", dir);
  struct {
    const char *json;
    int rc;
    const char *why;
  } cases[] = {
      {"{\"train_loss\": [1, NaN, -Infinity], \"test_loss\": [null, 2.5, 3], \"score\": 7, \"rho\": 0.5,"
       " \"message\": \"NaN inside a string stays\"}", 0, ""},
      {"{\"train_loss\": [1, 2], \"test_loss\": [1, 2, 3], \"score\": 7, \"rho\": 1}", 1,
       "curve 'train_loss' has 2 values where test_iters has 3"},
      {"{\"train_loss\": [1, 2, 3], \"test_loss\": [1, 2, 3], \"score\": 7, \"rho\": 1, \"x\": 1}", 1,
       "undeclared key 'x'"},
      {"{\"train_loss\": [1, 2, 3], \"test_loss\": [1, 2, 3], \"rho\": 1}", 1, "no scalar 'score'"},
      {"{\"train_loss\": [1, 2, 3], \"test_loss\": [1, 2, 3], \"score\": 1}", 1, "no scalar 'rho'"},
      {"{\"train_loss\": [1, \"a\", 3], \"test_loss\": [1, 2, 3], \"score\": 7, \"rho\": 1}", 1, "not a number"},
      {"[1, 2]", 1, "not a JSON object"},
      {"{\"train_loss\": [1,", 1, "malformed result file"},
      {"{\"status\": \"diverged\", \"message\": \"blew up\"}", 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(cases[i].json, f);
    fclose(f);
    isw_result r;
    double curves[6], sc[1];
    memset(&r, 0, sizeof r);
    r.curves = curves;
    r.scalars = sc;
    r.rho = NAN;
    why[0] = '\0';
    int rc = isw_exec_read_result(&r, c->task, c, path, why, sizeof why);
    CU_ASSERT_EQUAL(rc, cases[i].rc);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, cases[i].why));
    if (rc != cases[i].rc || !strstr(why, cases[i].why)) fprintf(stderr, "case %zu: rc %d why '%s'\n", i, rc, why);
    if (i == 0) {
      CU_ASSERT_EQUAL(r.status, ISW_ST_OK);
      CU_ASSERT(curves[0] == 1.0 && isnan(curves[1]) && isnan(curves[2]) && isnan(curves[3]));
      CU_ASSERT(curves[4] == 2.5 && sc[0] == 7.0 && r.rho == 0.5);
      CU_ASSERT_STRING_EQUAL(r.message, "NaN inside a string stays");
    }
    if (i == 8) {
      CU_ASSERT_EQUAL(r.status, ISW_ST_DIVERGED);
      CU_ASSERT_STRING_EQUAL(r.message, "blew up");
    }
  }
  unlink(path);
  isw_result r;
  memset(&r, 0, sizeof r);
  CU_ASSERT_EQUAL(isw_exec_read_result(&r, c->task, c, path, why, sizeof why), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(why, "no result file"));
  rmdir(dir);
  isw_spec_destroy(&s);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"an unknown placeholder is refused at its line", test_unknown_placeholder},
      {"unbalanced braces are refused at the command's line", test_bad_braces},
      {"a parameter the command never uses is refused", test_parameter_without_placeholder},
      {"a section without a command is refused at its header", test_no_command},
      {"an empty command is refused", test_empty_command},
      {"a program not on PATH or missing is refused by validate", test_program_not_found},
      {"a program that is not executable is refused by validate", test_program_not_executable},
      {"a placeholder in the program name is refused", test_placeholder_in_program},
      {"no curves, or no train_loss/test_loss, is refused", test_no_curves},
      {"a bad cost expression is refused with the reason", test_bad_cost},
      {"bad timeout, shell, roles, quotes and a 'width' key are refused", test_other_keys},
      {"a good section builds the task: types, curve order, canonical, cost, expansion", test_build},
      {"command words: quotes and escapes", test_split},
      {"the cost expression evaluator", test_expr},
      {"the result reader: NaN tokens, lengths, keys, status", test_read_result},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "exec", cases);
}
