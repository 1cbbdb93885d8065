/* lock.h — one writer per results file: the lock file RESULTS.lock.
 *
 * The lock file sits beside the results file and holds, one per line,
 *   isweep results lock
 *   host HOST
 *   pid PID
 *   since 2024-05-01T12:00:00Z
 * It appears complete (written under a name of its own, then linked into
 * place) and its holder keeps an flock() on it for the whole run where the
 * file system supports that.  A lock file is stale when no flock is held on
 * it and it names this host and a process that no longer runs: it is then
 * taken over with a note.  Anything else (a live holder, another host, an
 * unreadable lock file) refuses the second writer.  Rank-local: rank 0 takes
 * the lock before it creates or opens the results file and releases it at
 * the very end. */
#ifndef ISWEEP_LOCK_H
#define ISWEEP_LOCK_H

#include <stdio.h>

typedef struct isw_lock isw_lock;

/* Take the lock of results file `results` (RESULTS.lock).  ISW_EUSAGE when
 * another run holds it (the message names host, pid, since when, the lock
 * file and what to do) or when the lock file cannot be made (its folder is
 * missing or not writable, or RESULTS.lock is not a regular file); nothing
 * is changed then.  A stale lock is taken over and a note, naming the dead
 * holder, goes to `notes` (NULL: none).  ISW_EIO on other file-system
 * errors.  *out is NULL on failure. */
int isw_lock_acquire(isw_lock **out, const char *results, FILE *notes);

/* Release: remove RESULTS.lock if it is still the file this lock made or
 * took over (same device and inode), close it.  NULL-safe; NULLs the
 * pointer.  Never fails. */
void isw_lock_release(isw_lock **lock);

/* Is process `pid` of this host still running?  0 for a pid that is gone or
 * a zombie (killed, not yet reaped: its files are closed). */
int isw_lock_process_alive(long pid);

/* The path of the lock file ("RESULTS.lock"). */
const char *isw_lock_path(const isw_lock *lock);

#endif
