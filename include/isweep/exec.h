/* exec.h — the `exec` family: a user's program per config, under the same
 * scheduler, store, resume and report as the built-in families.
 *
 * The [exec] section gives a command template, the curves and scalars the
 * program reports, and any further keys as parameters (type inferred: all
 * values integers -> int, numbers -> real, else text; a list is a grid axis).
 * src/tasks/exec_spec.c builds the per-spec isw_task from the section and
 * validates it; src/tasks/exec.c runs one config: expand the command, spawn
 * it in RESULTS.runs/<config_id>/ in its own process group, watch it (stop
 * signal, timeout), and read its JSON result file into the row.
 *
 * Result protocol (also `isweep help exec`): one JSON object with each
 * declared curve as a list aligned with test_iters, each declared scalar as
 * a number, optionally rho, n_params, train_seconds, eval_seconds, status
 * ("ok", "diverged" or "failed") and message.  null, NaN, Infinity and
 * -Infinity are accepted and stored as NaN.  Any other key is an error. */
#ifndef ISWEEP_EXEC_H
#define ISWEEP_EXEC_H

#include <stddef.h>

#include "isweep/task.h"

/* The parsed [exec] section, the ctx of a built exec task. */
typedef struct isw_exec {
  char *command;       /* template as written (trimmed) */
  int shell;           /* run through /bin/sh -c */
  char **words;        /* (n_words) the template split into words (not in shell mode) */
  int n_words;
  char *cost;          /* cost expression, or NULL: every config costs the same */
  double timeout;      /* seconds per config, 0 = none */
  double grace;        /* seconds between SIGTERM and SIGKILL */
  int declares_rho, declares_n_params; /* "rho" / "n_params" listed in scalars */
  const char *const *output_ref;       /* &spec->output: the results path, set by the spec
                                          after the task is built; the spec outlives the task */
} isw_exec;

/* isw_task.build of the exec family (see task.h): on success *out is a new
 * task owned by the caller, released with out->destroy.  Errors are
 * ISW_EUSAGE "LOCATION: what is wrong (what to do)". */
int isw_exec_build(isw_task **out, const isw_task_section *sec);

/* run() of a built exec task (src/tasks/exec.c): see task.h. */
int isw_exec_run(isw_result *res, const isw_config *c, MPI_Comm team);
/* The family's entry in the registry: name, summary, doc, build. */
extern const isw_task isw_task_exec;

/* Evaluate the cost expression `text` (numbers, names, + - * / ^ and
 * parentheses; ^ binds tightest and is right-associative).  `lookup` gives
 * a name's value: 0 found, 1 unknown name, 2 not a number (text parameter).
 * Returns 0, or 1 with a reason in why (n bytes) for a syntax or name error. */
typedef int (*isw_expr_lookup)(double *value, const char *name, size_t len, void *user);
int isw_expr_eval(double *out, const char *text, isw_expr_lookup lookup, void *user, char *why, size_t n);

/* Split a command template into words: white space separates, '...' and
 * "..." quote, a backslash escapes the next character.  Returns 0, or 1 with
 * a reason in why (unterminated quote).  Caller frees each word and *words. */
int isw_exec_split(char ***words, int *n_words, const char *text, char *why, size_t n);

/* Expand the placeholders of `text` for config c into a new string (*out,
 * caller frees): {name} of a parameter, width, train_iters, seed, test_iters
 * (comma list), config_id (16 hex digits), config_seed (derived 63-bit
 * seed, decimal), workdir, output, launch_dir; {{ and }} are literal braces.
 * quote != 0 wraps each value as one single-quoted shell word.  Returns 0,
 * ISW_ENOMEM, or ISW_EUSAGE for a bad placeholder (checked at build time). */
typedef struct {
  const char *workdir, *output, *launch_dir;
} isw_exec_paths;
int isw_exec_expand(char **out, const char *text, const isw_config *c, const isw_exec_paths *paths,
                    int quote);

/* The derived per-config seed {config_seed}: 63 bits of a hash of (sweep
 * seed, config id). */
unsigned long long isw_exec_config_seed(const isw_config *c);

/* Read a result file into res (declared curves and scalars, rho, n_params,
 * status, message).  Returns 0 when the file was read and valid; 1 with a
 * one-line reason in why (n bytes) when it is missing, malformed or does not
 * match the declaration (the row then fails); ISW_ENOMEM otherwise. */
int isw_exec_read_result(isw_result *res, const isw_task *task, const isw_config *c, const char *path,
                         char *why, size_t n);

/* The role and split of a declared curve by its name: "*loss*" loss,
 * "*acc*" accuracy, "residual*" residual, else metric; split "train" or
 * "test" from a train_/test_ prefix, else NULL. */
const char *isw_exec_curve_role(const char *name);
const char *isw_exec_curve_split(const char *name);

#endif
