/* exec.c — run one config of the exec family: expand the command, spawn the
 * program in its own process group inside RESULTS.runs/<config_id>/ with
 * stdout/stderr captured there, watch it (stop signal, timeout), and read
 * its JSON result file (through libjansson) into the row.
 *
 * Owns: the child process of the config, from fork to reaping; nothing it
 * leaves in its process group outlives the config.  Must not: write the
 * results file, print, or create, overwrite or unlink any path but the runs
 * folder, the workdir and the two logs (which it appends to); the workdir's
 * contents are the program's.  A failing program is a row status with a
 * one-line message, never an error; errors are for a broken environment. */
#define _GNU_SOURCE /* execvpe, pidfd via syscall */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "isweep/error.h"
#include "isweep/exec.h"

extern char **environ;

static const char exec_doc[] =
    "The exec family runs any program once per config of its grid and records what it reports.\n"
    "\n"
    "[exec] keys:\n"
    "  command   the program and its arguments, with placeholders {name} (required). It is split\n"
    "            into words ('...' and \"...\" quote, \\ escapes) and run without a shell, so a value\n"
    "            never splits or injects; shell = yes runs it through /bin/sh -c instead, each\n"
    "            placeholder then expanding to one single-quoted word. A spec line holds at most 197\n"
    "            characters: continue a long command with command_2 = ..., command_3 = ... (up\n"
    "            to command_9), joined with spaces.\n"
    "  curves    the curves the program writes, aligned with test_iters; must include train_loss\n"
    "            and test_loss (required). Roles by name: *loss* loss, *acc* accuracy, residual*\n"
    "            the convergence curve; a train_/test_ prefix gives the split.\n"
    "  scalars   per-config numbers it writes (rho and n_params fill the built-in columns)\n"
    "  roles     explicit roles, e.g. roles = test_err:accuracy (loss, accuracy, residual, metric)\n"
    "  timeout   seconds per config, 0 = none (default 0); on timeout: SIGTERM, grace, SIGKILL\n"
    "  grace     seconds between SIGTERM and SIGKILL on a timeout or a stop signal (default 10)\n"
    "  shell     yes or no (default no)\n"
    "  cost      expression for the scheduler's longest-first order, e.g. width^2 * train_iters:\n"
    "            numbers, + - * / ^, parentheses, width, train_iters, seed, test_iters (= the\n"
    "            largest), n_test and numeric parameters; without it configs run in grid order\n"
    "  widths, train_iters, test_iters, seeds   the axes, as for every family\n"
    "  any other key   a parameter: all values integers -> int, numbers -> real, else text; a list\n"
    "            is a grid axis; the command must use it as {key}\n"
    "\n"
    "Placeholders: every parameter, {width} {train_iters} {seed} {test_iters} (comma list),\n"
    "{config_id} (16 hex digits), {config_seed} (a 63-bit seed derived from the sweep seed and\n"
    "the config id), {workdir}, {output} (the result file to write), {launch_dir}; {{ }} are braces.\n"
    "\n"
    "Each config runs in its own working directory RESULTS.runs/<config_id>/ (RESULTS = the\n"
    "results file), its stdout and stderr appended to stdout.log and stderr.log there. A relative\n"
    "path in the command that names an existing file or folder is made absolute against the\n"
    "directory isweep was started in. Environment: ISWEEP_RANK, ISWEEP_LOCAL_RANK (rank on this\n"
    "node: pick a GPU with CUDA_VISIBLE_DEVICES=$ISWEEP_LOCAL_RANK), ISWEEP_LOCAL_SIZE,\n"
    "ISWEEP_CONFIG_ID, ISWEEP_OUTPUT, ISWEEP_WORKDIR, ISWEEP_LAUNCH_DIR.\n"
    "\n"
    "Result file (JSON, at {output} = $ISWEEP_OUTPUT): one object with each declared curve as a\n"
    "list of numbers aligned with test_iters, each declared scalar as a number, and optionally\n"
    "rho, n_params, train_seconds, eval_seconds, status (\"ok\", \"diverged\" or \"failed\") and\n"
    "message. null, NaN, Infinity and -Infinity are stored as NaN. For example\n"
    "  {\"train_loss\": [0.9, 0.4, 0.41], \"test_loss\": [1.0, 0.6, NaN], \"rho\": 2.5}\n"
    "\n"
    "Failure is data: a non-zero exit, a signal, a timeout, a missing or malformed result, a curve\n"
    "of the wrong length or an undeclared key make the row failed, with a message naming the cause,\n"
    "the log and the last stderr line; the sweep goes on. A stop signal (SIGTERM, SIGINT, SIGUSR1)\n"
    "sends SIGTERM to the running programs' process groups, SIGKILL after the grace; their rows go\n"
    "back to pending for --resume. The programs die with isweep (parent-death signal). When the\n"
    "program exits, whatever it left running in its process group is killed.\n";

const isw_task isw_task_exec = {
    .name = "exec",
    .summary = "any program per config: a command template, its curves and scalars (isweep help exec)",
    .build = isw_exec_build,
    .doc = exec_doc,
};

/* ---- the result file ------------------------------------------------------ */

/* Copy JSON text with the non-standard tokens NaN, Infinity and -Infinity
 * (outside strings) replaced by null.  Caller frees. */
static char *json_denan(const char *s, size_t n) {
  char *o = malloc(n + 1);
  if (!o) return NULL;
  size_t k = 0;
  int in_str = 0;
  for (size_t i = 0; i < n; ++i) {
    char ch = s[i];
    if (in_str) {
      o[k++] = ch;
      if (ch == '\\' && i + 1 < n) o[k++] = s[++i];
      else if (ch == '"') in_str = 0;
      continue;
    }
    if (ch == '"') in_str = 1;
    static const char *const tok[] = {"-Infinity", "Infinity", "NaN"};
    int hit = 0;
    for (int t = 0; t < 3 && !hit; ++t) {
      size_t len = strlen(tok[t]);
      if (i + len <= n && memcmp(s + i, tok[t], len) == 0) {
        memcpy(o + k, "null", 4);
        k += 4;
        i += len - 1;
        hit = 1;
      }
    }
    if (!hit) o[k++] = ch;
  }
  o[k] = '\0';
  return o;
}

/* A JSON number or null (NaN); 0 when v is something else. */
static int json_num(const json_t *v, double *x) {
  if (json_is_null(v)) return *x = NAN, 1;
  if (json_is_number(v)) return *x = json_number_value(v), 1;
  return 0;
}

int isw_exec_read_result(isw_result *res, const isw_task *task, const isw_config *c, const char *path, char *why,
                         size_t n) {
  int err = 0, bad = 1;
  FILE *f = NULL;
  char *text = NULL, *clean = NULL;
  json_t *root = NULL;
  const isw_exec *x = task->ctx;
  size_t len = 0, cap = 0;
  errno = 0;
  f = fopen(path, "rb");
  if (!f) {
    snprintf(why, n, "no result file (%s)", strerror(errno));
    goto cleanup;
  }
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 16384;
      ISW_CHECK(cap < ((size_t)1 << 31), ISW_ENOMEM, "result file %s is too large", path);
      char *t = realloc(text, cap);
      ISW_CHECK(t != NULL, ISW_ENOMEM, "out of memory reading %s", path);
      text = t;
    }
    size_t k = fread(text + len, 1, cap - len - 1, f);
    len += k;
    if (k == 0) break;
  }
  clean = json_denan(text ? text : "", len);
  ISW_CHECK(clean != NULL, ISW_ENOMEM, "out of memory reading %s", path);
  json_error_t je;
  root = json_loads(clean, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    snprintf(why, n, "malformed result file (line %d: %s)", je.line, je.text);
    goto cleanup;
  }
  if (!json_is_object(root)) {
    snprintf(why, n, "malformed result file (not a JSON object)");
    goto cleanup;
  }
  /* every key must be declared */
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (isw_task_curve_index(task, key) >= 0 || isw_task_scalar_index(task, key) >= 0) continue;
    if (!strcmp(key, "rho") || !strcmp(key, "n_params") || !strcmp(key, "status") || !strcmp(key, "message") ||
        !strcmp(key, "train_seconds") || !strcmp(key, "eval_seconds"))
      continue;
    snprintf(why, n, "undeclared key '%.40s' in the result file (declare it in curves or scalars)", key);
    goto cleanup;
  }
  res->status = ISW_ST_OK;
  val = json_object_get(root, "status");
  if (val) {
    const char *s = json_string_value(val);
    if (s && !strcmp(s, "ok")) res->status = ISW_ST_OK;
    else if (s && !strcmp(s, "diverged")) res->status = ISW_ST_DIVERGED;
    else if (s && !strcmp(s, "failed")) res->status = ISW_ST_FAILED;
    else {
      snprintf(why, n, "result status is not \"ok\", \"diverged\" or \"failed\"");
      goto cleanup;
    }
  }
  val = json_object_get(root, "message");
  if (val) {
    if (!json_is_string(val)) {
      snprintf(why, n, "result message is not a string");
      goto cleanup;
    }
    snprintf(res->message, sizeof res->message, "%s", json_string_value(val));
    for (char *p = res->message; *p; ++p)
      if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
  }
  int T = c->n_test;
  for (int k = 0; k < task->n_curves; ++k) {
    const char *name = task->curves[k].name;
    val = json_object_get(root, name);
    if (!val) {
      if (res->status != ISW_ST_OK) continue; /* a diverged program may stop early */
      snprintf(why, n, "the result file has no curve '%.40s'", name);
      goto cleanup;
    }
    if (!json_is_array(val)) {
      snprintf(why, n, "curve '%.40s' is not a list of numbers", name);
      goto cleanup;
    }
    if ((int)json_array_size(val) != T) {
      snprintf(why, n, "curve '%.40s' has %zu values where test_iters has %d", name, json_array_size(val), T);
      goto cleanup;
    }
    for (int j = 0; j < T; ++j)
      if (!json_num(json_array_get(val, (size_t)j), &res->curves[(size_t)k * (size_t)T + (size_t)j])) {
        snprintf(why, n, "curve '%.40s' holds a value that is not a number (item %d)", name, j);
        goto cleanup;
      }
  }
  for (int k = 0; k < task->n_scalars; ++k) {
    const char *name = task->scalars[k].name;
    val = json_object_get(root, name);
    if (!val) {
      if (res->status != ISW_ST_OK) continue;
      snprintf(why, n, "the result file has no scalar '%.40s'", name);
      goto cleanup;
    }
    if (!json_num(val, &res->scalars[k])) {
      snprintf(why, n, "scalar '%.40s' is not a number", name);
      goto cleanup;
    }
  }
  static const char *const opt[] = {"rho", "train_seconds", "eval_seconds"};
  double *dst[] = {&res->rho, &res->train_seconds, &res->eval_seconds};
  for (int k = 0; k < 3; ++k) {
    val = json_object_get(root, opt[k]);
    if (!val) {
      if (k == 0 && x->declares_rho && res->status == ISW_ST_OK) {
        snprintf(why, n, "the result file has no scalar 'rho'");
        goto cleanup;
      }
      continue;
    }
    if (!json_num(val, dst[k])) {
      snprintf(why, n, "'%s' is not a number", opt[k]);
      goto cleanup;
    }
  }
  if (!(res->train_seconds >= 0)) res->train_seconds = 0;
  if (!(res->eval_seconds >= 0)) res->eval_seconds = 0;
  val = json_object_get(root, "n_params");
  if (val) {
    double d = 0;
    if (!json_num(val, &d) || !(d >= 0 && d < 9.2e18) || d != floor(d)) {
      snprintf(why, n, "'n_params' is not a whole number >= 0");
      goto cleanup;
    }
    res->n_params = (int64_t)d;
  } else if (x->declares_n_params && res->status == ISW_ST_OK) {
    snprintf(why, n, "the result file has no scalar 'n_params'");
    goto cleanup;
  }
  bad = 0;
cleanup:
  if (f) fclose(f);
  free(text);
  free(clean);
  json_decref(root);
  return err ? err : bad;
}

/* ---- one config ----------------------------------------------------------- */

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* mkdir that accepts an existing directory (never touches its contents). */
static int ensure_dir(const char *path, char *why, size_t n) {
  if (mkdir(path, 0777) == 0) return 0;
  int e = errno;
  struct stat st;
  if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  snprintf(why, n, "cannot create the folder %.100s (%s)", path, e == EEXIST ? "exists and is not a folder"
                                                                            : strerror(e));
  return 1;
}

/* The last non-empty line written to fd's file after offset `from`. */
static void last_line(char *out, size_t n, const char *path, off_t from) {
  out[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > from) {
    char tail[2048];
    off_t start = st.st_size - (off_t)sizeof tail + 1;
    if (start < from) start = from;
    ssize_t k = pread(fd, tail, sizeof tail - 1, start);
    if (k > 0) {
      tail[k] = '\0';
      while (k > 0 && (tail[k - 1] == '\n' || tail[k - 1] == '\r' || tail[k - 1] == ' ')) tail[--k] = '\0';
      char *nl = strrchr(tail, '\n');
      const char *line = nl ? nl + 1 : tail;
      size_t m = strlen(line) < n - 1 ? strlen(line) : n - 1;
      memcpy(out, line, m);
      out[m] = '\0';
      for (char *p = out; *p; ++p)
        if ((unsigned char)*p < 0x20) *p = ' ';
    }
  }
  close(fd);
}

static char *join(const char *a, const char *b) {
  char *s = NULL;
  if (asprintf(&s, "%s%s", a, b) < 0) return NULL;
  return s;
}

/* Set "NAME=VALUE" in env (n entries), replacing an inherited NAME; the new
 * string is returned through *kv for the caller to free.  0 or 1 (no memory). */
static int env_set(char **env, int *n, char **kv, const char *name, const char *value) {
  size_t len = strlen(name);
  if (asprintf(kv, "%s=%s", name, value) < 0) return *kv = NULL, 1;
  for (int i = 0; i < *n; ++i)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
      env[i] = *kv;
      return 0;
    }
  env[(*n)++] = *kv;
  return 0;
}

enum { CAUSE_NONE, CAUSE_STOP, CAUSE_TIMEOUT };

int isw_exec_run(isw_result *res, const isw_config *c, MPI_Comm team) {
  (void)team;
  int err = 0, out_fd = -1, err_fd = -1, null_fd = -1, pfd = -1, n_env = 0, n_argv = 0;
  const isw_task *task = c->task;
  const isw_exec *x = task->ctx;
  char *abs_out = NULL, *runs = NULL, *workdir = NULL, *result = NULL, *out_log = NULL, *err_log = NULL;
  char *expanded = NULL, **argv = NULL, **env = NULL, *kept[16] = {0};
  int n_kept = 0;
  char why[400] = "", cwd[4096] = "", id[24], rel[300];
  pid_t pid = -1;
  res->status = ISW_ST_FAILED;
  if (isw_stop_requested()) {
    err = isw_error_raise(ISW_EINTERRUPT, __FILE__, __LINE__, __func__, "stopped before the program started");
    goto cleanup;
  }
  ISW_CHECK(getcwd(cwd, sizeof cwd) != NULL, ISW_EIO, "cannot read the current directory (%s)", strerror(errno));
  const char *output = *x->output_ref;
  if (output[0] == '/') abs_out = strdup(output);
  else if (asprintf(&abs_out, "%s/%s", cwd, output) < 0) abs_out = NULL;
  snprintf(id, sizeof id, "%016" PRIx64, c->id);
  {
    const char *base = strrchr(output, '/');
    snprintf(rel, sizeof rel, "%.200s.runs/%s", base ? base + 1 : output, id);
  }
  runs = abs_out ? join(abs_out, ".runs") : NULL;
  workdir = runs ? join(runs, "/") : NULL;
  if (workdir) {
    char *w = join(workdir, id);
    free(workdir);
    workdir = w;
  }
  result = workdir ? join(workdir, "/result.json") : NULL;
  out_log = workdir ? join(workdir, "/stdout.log") : NULL;
  err_log = workdir ? join(workdir, "/stderr.log") : NULL;
  ISW_CHECK(abs_out && runs && workdir && result && out_log && err_log, ISW_ENOMEM, "out of memory");
  if (ensure_dir(runs, why, sizeof why) || ensure_dir(workdir, why, sizeof why)) {
    snprintf(res->message, sizeof res->message, "%s", why);
    goto cleanup;
  }

  /* the result file as it was before: a stale one from an earlier attempt must be rewritten */
  struct stat before;
  int had_result = stat(result, &before) == 0;

  /* logs, appended to (an earlier attempt's stay) */
  out_fd = open(out_log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0666);
  err_fd = open(err_log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0666);
  null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    snprintf(res->message, sizeof res->message, "cannot open the logs in %.100s (%s)", rel, strerror(errno));
    goto cleanup;
  }
  off_t err_from = lseek(err_fd, 0, SEEK_END);

  /* argv */
  isw_exec_paths paths = {workdir, result, cwd};
  if (x->shell) {
    ISW_CALL(isw_exec_expand(&expanded, x->command, c, &paths, 1));
    ISW_ALLOC(argv, 4);
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = expanded;
  } else {
    ISW_ALLOC(argv, x->n_words + 1);
    for (int i = 0; i < x->n_words; ++i) {
      ISW_CALL(isw_exec_expand(&argv[i], x->words[i], c, &paths, 0));
      n_argv = i + 1;
      /* a relative path naming something that exists is meant from the launch directory */
      struct stat st;
      int rel_path = argv[i][0] && argv[i][0] != '/' && argv[i][0] != '-' && (i > 0 || strchr(argv[i], '/'));
      if (rel_path && stat(argv[i], &st) == 0) {
        char *a = NULL;
        ISW_CHECK(asprintf(&a, "%s/%s", cwd, argv[i]) >= 0, ISW_ENOMEM, "out of memory");
        free(argv[i]);
        argv[i] = a;
      }
    }
  }

  /* environment */
  {
    int n0 = 0;
    while (environ[n0]) ++n0;
    ISW_ALLOC(env, n0 + 16);
    for (int i = 0; i < n0; ++i) env[n_env++] = environ[i];
    int wrank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    char r[32];
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local) local = getenv("SLURM_LOCALID");
    if (!local) local = getenv("MPI_LOCALRANKID");
    const char *lsize = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!lsize) lsize = getenv("SLURM_NTASKS_PER_NODE");
    snprintf(r, sizeof r, "%d", wrank);
    const char *names[] = {"ISWEEP_RANK", "ISWEEP_LOCAL_RANK", "ISWEEP_LOCAL_SIZE", "ISWEEP_CONFIG_ID",
                           "ISWEEP_OUTPUT", "ISWEEP_WORKDIR", "ISWEEP_LAUNCH_DIR"};
    const char *vals[] = {r, local ? local : "0", lsize ? lsize : "1", id, result, workdir, cwd};
    for (int i = 0; i < 7; ++i)
      ISW_CHECK(env_set(env, &n_env, &kept[n_kept++], names[i], vals[i]) == 0, ISW_ENOMEM, "out of memory");
  }

  /* spawn: own process group, dies with us, runs in its workdir */
  pid_t parent = getpid();
  double t0 = mono_now();
  pid = fork();
  ISW_CHECK(pid >= 0, ISW_EIO, "cannot fork (%s)", strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (chdir(workdir) != 0) _exit(126);
    execvpe(argv[0], argv, env);
    static const char m[] = "isweep: cannot run the program: ";
    const char *e = strerrorname_np(errno); /* a static name: no locale lock after fork */
    if (!e) e = "exec failed";
    ssize_t w1 = write(2, m, sizeof m - 1), w2 = write(2, argv[0], strlen(argv[0])), w3 = write(2, ": ", 2),
            w4 = write(2, e, strlen(e)), w5 = write(2, "\n", 1);
    (void)w1, (void)w2, (void)w3, (void)w4, (void)w5;
    _exit(127);
  }
  setpgid(pid, pid); /* also here: no race with the first kill() */

  /* watch it */
  pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int cause = CAUSE_NONE, killed = 0;
  double term_at = 0;
  for (;;) {
    int exited = 0;
    if (pfd >= 0) {
      struct pollfd p = {pfd, POLLIN, 0};
      exited = poll(&p, 1, 50) > 0;
    } else {
      siginfo_t si;
      memset(&si, 0, sizeof si);
      exited = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
      if (!exited) nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (exited) break;
    double now = mono_now();
    if (cause == CAUSE_NONE && isw_stop_requested()) cause = CAUSE_STOP;
    if (cause == CAUSE_NONE && x->timeout > 0 && now - t0 > x->timeout) cause = CAUSE_TIMEOUT;
    if (cause != CAUSE_NONE && term_at == 0) {
      kill(-pid, SIGTERM);
      term_at = now;
    }
    if (cause != CAUSE_NONE && !killed && now - term_at >= x->grace) {
      kill(-pid, SIGKILL);
      killed = 1;
    }
  }
  /* the exited leader still holds its group id: what is left in the group is ours */
  kill(-pid, SIGKILL);
  int wst = 0;
  while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
  double wall = mono_now() - t0;

  if (cause == CAUSE_STOP) {
    err = isw_error_raise(ISW_EINTERRUPT, __FILE__, __LINE__, __func__, "stopped by a signal");
    goto cleanup;
  }
  char cause_text[200] = "";
  if (cause == CAUSE_TIMEOUT)
    snprintf(cause_text, sizeof cause_text, "timeout after %g s", x->timeout);
  else if (WIFSIGNALED(wst))
    snprintf(cause_text, sizeof cause_text, "killed by signal %d (%s)", WTERMSIG(wst), strsignal(WTERMSIG(wst)));
  else if (WIFEXITED(wst) && WEXITSTATUS(wst) != 0)
    snprintf(cause_text, sizeof cause_text, "exit status %d", WEXITSTATUS(wst));
  if (!cause_text[0]) {
    struct stat after;
    int has = stat(result, &after) == 0;
    int stale = has && had_result && after.st_ino == before.st_ino &&
                after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec;
    if (stale) {
      snprintf(cause_text, sizeof cause_text, "no new result file (result.json is from an earlier attempt)");
    } else {
      int rc = isw_exec_read_result(res, task, c, result, why, sizeof why);
      if (rc > 1) ISW_CALL(rc);
      if (rc == 1) {
        res->status = ISW_ST_FAILED;
        snprintf(cause_text, sizeof cause_text, "%s", why);
      }
    }
  }
  if (res->train_seconds == 0 && res->eval_seconds == 0) res->train_seconds = wall;
  if (cause_text[0]) { /* a failed row keeps nothing of a partial result */
    for (int k = 0; k < task->n_scalars; ++k) res->scalars[k] = NAN;
    for (long k = 0; k < (long)task->n_curves * c->n_test; ++k) res->curves[k] = NAN;
    res->rho = NAN;
    res->n_params = -1;
    char tail[200];
    last_line(tail, sizeof tail, err_log, err_from);
    res->status = ISW_ST_FAILED;
    int cl = (int)strlen(cause_text), rl = (int)strlen(rel);
    snprintf(res->message, sizeof res->message, "%.*s; log %.*s/stderr.log%s%.*s", cl, cause_text, rl, rel,
             tail[0] ? ": " : "", (int)strlen(tail), tail);
  } else if (res->status == ISW_ST_FAILED && !res->message[0]) {
    snprintf(res->message, sizeof res->message, "the program reported failure; log %.*s/stderr.log",
             (int)strlen(rel), rel);
  } else if (res->status == ISW_ST_DIVERGED && !res->message[0]) {
    snprintf(res->message, sizeof res->message, "the program reported divergence");
  }
cleanup:
  if (pid > 0) { /* an error between fork and reaping: take the program down with the row */
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  if (pfd >= 0) close(pfd);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  if (null_fd >= 0) close(null_fd);
  if (argv && !x->shell)
    for (int i = 0; i < n_argv; ++i) free(argv[i]);
  free(argv);
  free(expanded);
  for (int i = 0; i < n_kept; ++i) free(kept[i]);
  free(env);
  free(abs_out);
  free(runs);
  free(workdir);
  free(result);
  free(out_log);
  free(err_log);
  return err;
}
