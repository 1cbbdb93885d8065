/* lock.c — the results file's lock file RESULTS.lock (contract in lock.h).
 *
 * Taking the lock: write "isweep results lock / host / pid / since" to a
 * file of this process's own (RESULTS.lock.HOST.PID), flock() it, then
 * link() it to RESULTS.lock, which fails if a lock file exists, so the lock
 * file never appears empty or half written.  An existing lock file is
 * examined: an flock held on it means a live holder; otherwise it is stale
 * only when it names this host and a process that is gone, and then our
 * prepared file is renamed over it.  After taking an flock on an existing
 * file, the path is checked to still name that file (a holder that releases
 * unlinks it first), so two runs never both win.
 *
 * This file must not touch the results file, talk MPI, or print anything
 * but the take-over note it is given a stream for. */
#include "isweep/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isweep/error.h"

#define HOST_MAX 256
#define LOCK_MAGIC "isweep results lock\n"

struct isw_lock {
  char *path; /* RESULTS.lock */
  int fd;     /* open on it; flocked where the file system supports flock */
};

/* What an existing lock file says. */
typedef struct {
  int ok; /* magic line, host and pid found */
  char host[HOST_MAX];
  long pid;
  char since[64];
} holder;

static void this_host(char buf[HOST_MAX]) {
  if (gethostname(buf, HOST_MAX - 1) != 0 || buf[0] == '\0') snprintf(buf, HOST_MAX, "localhost");
  buf[HOST_MAX - 1] = '\0';
  for (char *c = buf; *c; ++c)
    if (*c == '/' || *c == '\n') *c = '_';
}

int isw_lock_process_alive(long pid) {
  if (pid <= 0 || (long)(pid_t)pid != pid) return 0;
  if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return 0;
  /* a killed process whose parent died stays a zombie until reaped: gone,
   * its files (and flocks) closed, though kill() still finds it */
  char p[64], buf[512];
  snprintf(p, sizeof p, "/proc/%ld/stat", pid);
  FILE *f = fopen(p, "r");
  if (!f) return 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *paren = strrchr(buf, ')');
  return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

/* An exclusive flock without waiting: 1 taken, 0 held by another open file,
 * -1 not supported by this file system (ENOLCK, EOPNOTSUPP, EINVAL, ...). */
static int try_flock(int fd) {
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 1;
  return errno == EWOULDBLOCK ? 0 : -1;
}

/* Does `path` (not followed) name the file open on fd? */
static int names_fd(const char *path, int fd) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void read_holder(holder *h, int fd) {
  char buf[1024], *save = NULL;
  memset(h, 0, sizeof *h);
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  buf[n] = '\0';
  if (strncmp(buf, LOCK_MAGIC, strlen(LOCK_MAGIC)) != 0) return;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "host ", 5) == 0) {
      snprintf(h->host, sizeof h->host, "%s", line + 5);
    } else if (strncmp(line, "pid ", 4) == 0) {
      char *end = NULL;
      long v = strtol(line + 4, &end, 10);
      if (end && *end == '\0' && v > 0) h->pid = v;
    } else if (strncmp(line, "since ", 6) == 0) {
      snprintf(h->since, sizeof h->since, "%s", line + 6);
    }
  }
  h->ok = h->host[0] != '\0' && h->pid > 0;
}

/* fd's content <- this process's lock record, on disk. */
static int write_record(int fd, const char *host, const char *path) {
  int err = 0;
  char since[64] = "", buf[HOST_MAX + 160];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
  int n = snprintf(buf, sizeof buf, LOCK_MAGIC "host %s\npid %ld\nsince %s\n", host, (long)getpid(), since);
  ISW_CHECK(n > 0 && (size_t)n < sizeof buf, ISW_EINTERNAL, "lock record too long");
  ISW_CHECK(pwrite(fd, buf, (size_t)n, 0) == n && fsync(fd) == 0, ISW_EIO,
            "%s: cannot write the lock file: %s (%sfree space on that file system or choose another "
            "output path)", path, strerror(errno), errno == ENOSPC ? "ENOSPC: " : "");
cleanup:
  return err;
}

/* The error for a lock file that cannot be made. */
static int make_fail(const char *results, const char *path, int e) {
  int code = e == ENOENT || e == ENOTDIR || e == EACCES || e == EPERM || e == EROFS || e == ELOOP ||
                     e == ENAMETOOLONG
                 ? ISW_EUSAGE
                 : ISW_EIO;
  return isw_error_raise(code, __FILE__, __LINE__, __func__,
                         "%s: cannot make its lock file %s: %s (the folder must exist and be writable; "
                         "choose another output path)",
                         results, path, strerror(e));
}

/* The error for a lock held by someone else (or unreadable). */
static int refuse(const char *results, const char *path, const holder *h, const char *host) {
  if (!h->ok)
    return isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                           "%s: its lock file %s exists but does not name a holder (another isweep run "
                           "may be starting); if no isweep run uses %s, delete %s",
                           results, path, results, path);
  int here = strcmp(h->host, host) == 0;
  return isw_error_raise(ISW_EUSAGE, __FILE__, __LINE__, __func__,
                         "%s is in use by another isweep run: host %s, pid %ld%s, since %s (lock file "
                         "%s); wait for that run to end, or, if it no longer runs, delete %s",
                         results, h->host, h->pid,
                         here ? (isw_lock_process_alive(h->pid) ? " (running)" : " (gone, but its lock is still held)")
                              : " (on another host)",
                         h->since[0] ? h->since : "an unknown time", path, path);
}

int isw_lock_acquire(isw_lock **out, const char *results, FILE *notes) {
  int err = 0, fd = -1, efd = -1, have_mine = 0;
  char *path = NULL, *mine = NULL, host[HOST_MAX];
  isw_lock *lk = NULL;
  struct stat st;
  ISW_CHECK(out && results && results[0], ISW_EINTERNAL, "isw_lock_acquire: no results path");
  *out = NULL;
  if (stat(results, &st) == 0) {
    ISW_CHECK(!S_ISDIR(st.st_mode), ISW_EUSAGE, "%s: is a directory (give a file name for the results)",
              results);
    ISW_CHECK(S_ISREG(st.st_mode), ISW_EUSAGE,
              "%s: is not a regular file (a device, FIFO or socket): isweep never writes to one, even "
              "with --force; choose another output path",
              results);
  }
  this_host(host);
  size_t n = strlen(results) + 6;
  ISW_ALLOC(path, n);
  snprintf(path, n, "%s.lock", results);
  size_t m = n + strlen(host) + 32;
  ISW_ALLOC(mine, m);
  snprintf(mine, m, "%s.%s.%ld", path, host, (long)getpid());

  unlink(mine); /* this host's, this pid's name: never another live run's */
  fd = open(mine, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = make_fail(results, mine, errno);
    goto cleanup;
  }
  have_mine = 1;
  ISW_CALL(write_record(fd, host, path));
  try_flock(fd); /* our own new file: taken, or no flock on this file system */

  for (int attempt = 0;; ++attempt) {
    ISW_CHECK(attempt < 20, ISW_EUSAGE,
              "%s: its lock file %s keeps changing (other isweep runs are starting on it); try again",
              results, path);
    if (link(mine, path) == 0) break; /* the lock is ours */
    int e = errno;
    if (e != EEXIST) {
      ISW_CHECK(e == EPERM || e == EOPNOTSUPP || e == EMLINK || e == ENOSYS, ISW_EIO,
                "%s: cannot make its lock file %s: %s", results, path, strerror(e));
      /* no hard links here: create the lock file itself, exclusively */
      int f2 = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (f2 >= 0) {
        close(fd);
        fd = f2;
        try_flock(fd);
        ISW_CALL(write_record(fd, host, path));
        break;
      }
      if (errno != EEXIST) {
        err = make_fail(results, path, errno);
        goto cleanup;
      }
    }
    /* a lock file exists: is its holder alive? */
    efd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); /* flock needs no write access */
    if (efd < 0 && errno == ENOENT) continue; /* released meanwhile */
    if (efd < 0 && errno == ELOOP)
      ISW_CHECK(0, ISW_EUSAGE, "%s: its lock file %s is a symbolic link (delete it)", results, path);
    ISW_CHECK(efd >= 0, ISW_EUSAGE, "%s: cannot open its lock file %s: %s", results, path, strerror(errno));
    ISW_CHECK(fstat(efd, &st) == 0 && S_ISREG(st.st_mode), ISW_EUSAGE,
              "%s: its lock file %s is not a regular file (remove it or choose another output path)",
              results, path);
    holder h;
    read_holder(&h, efd);
    int fl = try_flock(efd);
    if (fl == 0) { /* held: a live run (or a process it started) has it open */
      err = refuse(results, path, &h, host);
      goto cleanup;
    }
    if (!names_fd(path, efd)) { /* replaced or released meanwhile: look again */
      close(efd);
      efd = -1;
      continue;
    }
    int stale = h.ok && strcmp(h.host, host) == 0 && h.pid != (long)getpid() && !isw_lock_process_alive(h.pid);
    if (!stale) {
      err = refuse(results, path, &h, host);
      goto cleanup;
    }
    if (rename(mine, path) != 0) { /* our complete record replaces the stale one at once */
      err = make_fail(results, path, errno);
      goto cleanup;
    }
    have_mine = 0;
    if (notes)
      fprintf(notes, "isweep: note: took over the lock file %s of an isweep run that is gone (host %s, "
                     "pid %ld no longer running, since %s)\n",
              path, h.host, h.pid, h.since[0] ? h.since : "an unknown time");
    break;
  }
  ISW_ALLOC(lk, 1);
  lk->path = path;
  lk->fd = fd;
  path = NULL;
  fd = -1;
  *out = lk;
cleanup:
  if (have_mine) unlink(mine); /* after link() a second name; on failure our own file */
  if (efd >= 0) close(efd);
  if (fd >= 0) close(fd);
  free(mine);
  free(path);
  return err;
}

void isw_lock_release(isw_lock **lp) {
  if (!lp || !*lp) return;
  isw_lock *lk = *lp;
  *lp = NULL;
  if (names_fd(lk->path, lk->fd)) unlink(lk->path); /* only the file this lock made or took over */
  close(lk->fd);                                    /* drops the flock */
  free(lk->path);
  free(lk);
}

const char *isw_lock_path(const isw_lock *lock) { return lock ? lock->path : ""; }
