/* spec.h — the sweep spec: read it (INI, through libinih), validate every
 * key and value, apply --set overrides, expand the grid into configs with
 * stable identities, and render a canonical text that identifies the sweep.
 *
 * Spec format (see README "Spec files"):
 *   [sweep]  tasks, widths, train_iters, test_iters, seeds, output, seed,
 *            team_width, team_ranks, max_configs, delta_n, flop_rate,
 *            batch_rows, batch_seconds, heartbeat, rank_timeout
 *   [TASK]   one section per family named in `tasks`: its own parameters, and
 *            optionally widths/train_iters/test_iters/seeds overriding [sweep].
 * Lists and ranges wherever a value goes: "1,2,5", "1:40" (inclusive),
 * "1:40:3" (step), "16:4096:x2" (geometric), mixed "0,1:4,8".  Any
 * list-valued parameter becomes a grid axis.
 *
 * Every error is ISW_EUSAGE, raised with the one-line message
 * "FILE:LINE: what is wrong (what is allowed)"; for an override the location
 * is "--set KEY=VALUE".  Nothing here touches MPI or the results file. */
#ifndef ISWEEP_SPEC_H
#define ISWEEP_SPEC_H

#include <stdint.h>

#include "isweep/task.h"

/* All configs of one task family, in row order. */
typedef struct {
  const isw_task *task;
  int64_t *test_iters; /* (n_test) ascending, distinct */
  int n_test;
  isw_config *configs; /* (n_configs) configs[i].row == i, configs[i].group == index;
                          NULL in a lean spec (isw_spec_parse_lean): isw_spec_config builds them */
  int n_configs;
} isw_spec_group;

typedef struct isw_spec {
  char *path;      /* the spec file, or "(default spec)" */
  char *text;      /* raw text as read (stored in the results file) */
  char *canonical; /* canonical resolved spec: every key of every used section with
                      its expanded value, sorted; equal texts mean the same sweep */
  char *notes;     /* NULL, or lines for the user ("left out section [deq] ..."), each ending in '\n' */
  char *output;    /* results file path (relative paths written in the spec file: resolved
                      against its folder) */
  uint64_t sweep_seed;
  int64_t team_width; /* team-capable configs with width >= this run on a team; 0 = never */
  int team_ranks;     /* ranks per team, 1 .. ISW_SPEC_MAX_TEAM_RANKS */
  int64_t max_configs;/* refuse to expand to more configs than this */
  int64_t *delta_n;   /* (n_delta) the ΔN values the summary reports */
  int n_delta;
  double flop_rate;   /* flop/s one rank is assumed to sustain (plan, ETA before data) */
  int batch_rows;       /* rows rank 0's writer gathers before it writes a batch (writer.h) */
  double batch_seconds; /* ... or seconds the oldest waits; neither changes results */
  double heartbeat;     /* seconds between a worker's heartbeats (transport.h) ... */
  double rank_timeout;  /* ... and of silence after which rank 0 counts it dead; neither changes results */
  isw_spec_group *groups; /* (n_groups) one per task, in `tasks` order */
  int n_groups;
  char **where;   /* (n_groups) "FILE:LINE" of each task's section (else of
                     sweep.tasks): where messages about its configs point */
  /* tasks built from their sections (exec), freed with the spec */
  isw_task **owned_tasks;
  int n_owned_tasks;
  /* every section's axes and the row map: what isw_spec_config builds a config from */
  struct isw_spec_grid *grid;
  /* storage for string values referenced by configs */
  char **strings;
  int n_strings;
} isw_spec;

/* Largest sweep.team_ranks: the largest team the dispatcher forms
 * (ISW_MAX_TEAM in transport.h; dispatch.c asserts they agree). */
#define ISW_SPEC_MAX_TEAM_RANKS 64

/* Largest spec file, in bytes. */
#define ISW_SPEC_MAX_BYTES (1 << 20)

/* Read and expand the spec file at `path`, or the embedded default spec when
 * path is NULL, then apply the `n_sets` overrides "SECTION.KEY=VALUE".
 * Paths: a relative output or *_file parameter written in the file resolves
 * against the file's folder (given with --set: against the current
 * directory); config ids and the canonical text hold them as written.  The
 * canonical text carries the content hash of each named file
 * ("deq.data_file.content = 16 hex digits", or missing / unreadable), so a
 * resume after the data changed is refused.  When sweep.tasks is set by an
 * override, sections of the families it leaves out are dropped (a note in
 * spec->notes) rather than refused.
 * The file must be a regular file of at most ISW_SPEC_MAX_BYTES bytes: a
 * FIFO, device, directory or socket is refused without reading from it
 * (ISW_EUSAGE, "PATH: cannot read spec file (it is a FIFO; ...)").
 * On success *out owns everything; on failure *out is NULL. */
int isw_spec_load(isw_spec **out, const char *path, const char *const *sets, int n_sets);
/* The same from text in memory; `name` is used in messages, and a relative
 * path written in the text (output, a *_file parameter) resolves against
 * the folder of `name` when it has one.  Unlike isw_spec_load, it does not
 * read data files, so its canonical text has no "TASK.data_file.content"
 * lines: only the rank that loads the spec compares canonical texts. */
int isw_spec_parse(isw_spec **out, const char *name, const char *text,
                   const char *const *sets, int n_sets);
/* The same as isw_spec_parse without expanding the grid: memory O(spec),
 * not O(configs).  Every group has configs NULL and n_configs 0 until
 * isw_spec_set_row_map gives it the row map of the expanded spec (made by
 * isw_spec_row_map on the rank that expanded it); then isw_spec_config
 * builds the config of any row.  For the ranks that only run what rank 0
 * assigns them. */
int isw_spec_parse_lean(isw_spec **out, const char *name, const char *text, const char *const *sets,
                        int n_sets);
/* The row map of an expanded spec: 4 int64 per run of rows (group, section,
 * first index in that section's grid, count), runs by group then row, so
 * that the rows of every group are the runs' configs in order.  Its length
 * grows with the sections and with the configs that sub-grids share (each
 * such config ends a run), not with the grid.  *out (*n values) is the
 * caller's to free.  Returns 0 or ISW_ENOMEM. */
int isw_spec_row_map(int64_t **out, int64_t *n, const isw_spec *spec);
/* Give a lean spec (parsed from the same text and overrides) the row map of
 * the expanded one; sets every group's n_configs.  Returns 0, ISW_ENOMEM, or
 * ISW_EINTERNAL for a map that does not fit the spec or a spec not lean. */
int isw_spec_set_row_map(isw_spec *spec, const int64_t *map, int64_t n);
/* *out <- the config at (group, row): a copy of groups[group].configs[row]
 * when the spec is expanded, else built from the section's axes and the row
 * map, equal in every field but cost and team (0 and 1: the scheduler's to
 * set).  O(sections's axes + log runs).  Returns 0, ISW_ENOMEM, or
 * ISW_EINTERNAL for a row that is not there. */
int isw_spec_config(isw_config *out, const isw_spec *spec, int group, int row);
/* NULL-safe; NULLs the pointer. */
void isw_spec_destroy(isw_spec **spec);
/* The embedded default spec (the text of jobs/default.ini). */
const char *isw_spec_default_text(void);

/* Expand one list/range value into int64s (exposed for tests).  Returns 0,
 * or ISW_EUSAGE with a message without location ("bad range '1:0' (...)"),
 * and never more than `limit` values. Caller frees *out. */
int isw_spec_expand_ints(int64_t **out, int *n, const char *text, int64_t limit);
int isw_spec_expand_reals(double **out, int *n, const char *text, int64_t limit);

/* Call fn(c, user) once per distinct data set of each group (configs with
 * the same data_id), with the first such config in row order, groups in
 * order.  Returns 0, the first non-zero value fn returns (then it stops), or
 * ISW_ENOMEM.  Linear in the number of configs (a hash set of data_id). */
int isw_spec_each_data_set(const isw_spec *spec, int (*fn)(const isw_config *c, void *user), void *user);

/* Run each family's validate once per distinct data set (see above); a
 * usage error is re-raised located at the group's section,
 * "FILE:LINE: [deq] data file ...".  Returns 0 or the first error. */
int isw_spec_validate(const isw_spec *spec);

/* Does the sweep of canonical text `new_text` extend that of `old` (an
 * existing results file's)?  Yes when every line of old is in new with the
 * same value, except that a grid axis or parameter may gain values (old's
 * values a subset of new's), sweep.tasks may gain families, and new may add
 * sections old does not have (families, sub-grids); sweep-wide keys,
 * test_iters and data-file contents must be equal.  Returns 0 (why = ""),
 * or ISW_EUSAGE (nothing raised) with the first offending line described in
 * why, e.g. "canonical line 5 is 'deq.lr = 0.001' in the file, 'deq.lr =
 * 0.01' in this spec"; ISW_ENOMEM. */
int isw_spec_extends(const char *old, const char *new_text, char *why, size_t size);

/* Total number of configs over all groups. */
int64_t isw_spec_n_configs(const isw_spec *spec);

#endif
