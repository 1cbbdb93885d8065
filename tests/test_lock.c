/* test_lock.c — the results file's lock: one holder, a second writer (this
 * process or another) refused with the holder named, stale locks of dead
 * processes taken over with a note, locks of other hosts and unreadable
 * locks left alone, release removing only the lock file it made.  Runs on
 * one rank; the other process is a fork()ed child that never touches MPI. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isweep/error.h"
#include "isweep/lock.h"
#include "testutil.h"

static void host(char *buf, size_t n) {
  if (gethostname(buf, n - 1) != 0 || buf[0] == '\0') snprintf(buf, n, "localhost");
  buf[n - 1] = '\0';
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void read_text(const char *path, char *buf, size_t n) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t k = fread(buf, 1, n - 1, f);
  buf[k] = '\0';
  fclose(f);
}

/* A pid that ran on this host and is gone now. */
static long dead_pid(void) {
  pid_t c = fork();
  if (c == 0) _exit(0);
  waitpid(c, NULL, 0);
  return (long)c;
}

static char dir[512]; /* this test's private folder */

static void paths(char *results, char *lock, size_t n) {
  snprintf(dir, sizeof dir, "%s", isw_test_tmpdir());
  snprintf(results, n, "%s/results.h5", dir);
  snprintf(lock, n, "%s/results.h5.lock", dir);
}

/* How many entries the test's folder holds. */
static int count_entries(void) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
  FILE *p = popen(cmd, "r");
  int k = -1;
  if (p) {
    if (fscanf(p, "%d", &k) != 1) k = -1;
    pclose(p);
  }
  return k;
}

static void test_take_refuse_release(void) {
  char results[600], lock[600], text[512], h[256], want[400];
  paths(results, lock, sizeof results);
  host(h, sizeof h);
  isw_lock *a = NULL, *b = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_lock_acquire(&a, results, NULL), 0);
  CU_ASSERT_STRING_EQUAL(isw_lock_path(a), lock);
  read_text(lock, text, sizeof text);
  snprintf(want, sizeof want, "isweep results lock\nhost %s\npid %ld\nsince ", h, (long)getpid());
  CU_ASSERT_EQUAL(strncmp(text, want, strlen(want)), 0); /* the record is complete once visible */
  CU_ASSERT_EQUAL(count_entries(), 1);            /* only the lock file: no helper names left */

  /* a second writer in this very process is refused, naming the holder and what to do */
  CU_ASSERT_EQUAL(isw_lock_acquire(&b, results, NULL), ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(b);
  const char *msg = isw_error_message();
  char pid[64];
  snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "is in use by another isweep run"));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, h));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, pid));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "since 20"));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "delete"));
  CU_ASSERT_PTR_NULL(strchr(msg, '\n'));
  char again[512];
  read_text(lock, again, sizeof again);
  CU_ASSERT_STRING_EQUAL(again, text); /* the holder's lock file is untouched */

  isw_lock_release(&a);
  CU_ASSERT_PTR_NULL(a);
  CU_ASSERT_NOT_EQUAL(access(lock, F_OK), 0);
  isw_lock_release(&a); /* NULL-safe */
  CU_ASSERT_EQUAL(isw_lock_acquire(&b, results, NULL), 0);
  isw_lock_release(&b);
  CU_ASSERT_EQUAL(count_entries(), 0);
  rmdir(dir);
}

/* Another process holds the lock (and its flock): refused until it lets go. */
static void test_other_process(void) {
  char results[600], lock[600];
  paths(results, lock, sizeof results);
  int up[2], down[2];
  CU_ASSERT_FATAL(pipe(up) == 0 && pipe(down) == 0);
  pid_t child = fork();
  if (child == 0) {
    isw_lock *l = NULL;
    char c = isw_lock_acquire(&l, results, NULL) == 0 ? 'y' : 'n';
    if (write(up[1], &c, 1) != 1) _exit(2);
    if (read(down[0], &c, 1) != 1) _exit(3);
    isw_lock_release(&l);
    if (write(up[1], &c, 1) != 1) _exit(4);
    _exit(0);
  }
  char c = 0;
  CU_ASSERT_EQUAL_FATAL(read(up[0], &c, 1), 1);
  CU_ASSERT_EQUAL_FATAL(c, 'y');
  isw_lock *l = NULL;
  CU_ASSERT_EQUAL(isw_lock_acquire(&l, results, NULL), ISW_EUSAGE);
  char pid[64];
  snprintf(pid, sizeof pid, "pid %ld (running)", (long)child);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), pid));
  CU_ASSERT_EQUAL(write(down[1], &c, 1), 1);
  CU_ASSERT_EQUAL(read(up[0], &c, 1), 1);
  int status = -1;
  waitpid(child, &status, 0);
  CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CU_ASSERT_EQUAL(isw_lock_acquire(&l, results, NULL), 0);
  isw_lock_release(&l);
  close(up[0]);
  close(up[1]);
  close(down[0]);
  close(down[1]);
  rmdir(dir);
}

/* A lock file left by a dead process of this host: taken over, with a note. */
static void test_stale_taken_over(void) {
  char results[600], lock[600], text[512], h[256], note[1024] = "";
  paths(results, lock, sizeof results);
  host(h, sizeof h);
  long dead = dead_pid();
  snprintf(text, sizeof text, "isweep results lock\nhost %s\npid %ld\nsince 2001-02-03T04:05:06Z\n", h, dead);
  write_text(lock, text);
  FILE *notes = tmpfile();
  CU_ASSERT_PTR_NOT_NULL_FATAL(notes);
  isw_lock *l = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_lock_acquire(&l, results, notes), 0);
  rewind(notes);
  size_t k = fread(note, 1, sizeof note - 1, notes);
  note[k] = '\0';
  fclose(notes);
  char pid[64];
  snprintf(pid, sizeof pid, "pid %ld no longer running", dead);
  CU_ASSERT_PTR_NOT_NULL(strstr(note, "took over"));
  CU_ASSERT_PTR_NOT_NULL(strstr(note, pid));
  CU_ASSERT_PTR_NOT_NULL(strstr(note, "2001-02-03T04:05:06Z"));
  read_text(lock, text, sizeof text);
  snprintf(pid, sizeof pid, "\npid %ld\n", (long)getpid());
  CU_ASSERT_PTR_NOT_NULL(strstr(text, pid)); /* the lock file now names this process */
  isw_lock_release(&l);
  CU_ASSERT_EQUAL(count_entries(), 0);
  rmdir(dir);
}

/* Locks that cannot be proven stale are left alone, byte for byte. */
static void test_not_provably_stale(void) {
  char results[600], lock[600], h[256], back[512];
  paths(results, lock, sizeof results);
  host(h, sizeof h);
  char texts[3][512];
  snprintf(texts[0], 512, "isweep results lock\nhost some-other-node.invalid\npid %ld\nsince 2001-01-01T00:00:00Z\n",
           dead_pid());
  snprintf(texts[1], 512, "isweep results lock\nhost %s\npid %ld\nsince 2001-01-01T00:00:00Z\n", h,
           (long)getppid()); /* alive, holds no flock: a pid we cannot tell from a holder */
  snprintf(texts[2], 512, "half a line");
  const char *expect[3] = {"host some-other-node.invalid", "(running)", "does not name a holder"};
  for (int i = 0; i < 3; ++i) {
    write_text(lock, texts[i]);
    isw_lock *l = NULL;
    int err = isw_lock_acquire(&l, results, NULL);
    CU_ASSERT_EQUAL(err, ISW_EUSAGE);
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), expect[i]));
    CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), lock));
    read_text(lock, back, sizeof back);
    CU_ASSERT_STRING_EQUAL(back, texts[i]);
    CU_ASSERT_EQUAL(count_entries(), 1);
    isw_lock_release(&l);
  }
  unlink(lock);
  rmdir(dir);
}

/* Release removes only the lock file this run made: not one put in its place. */
static void test_release_checks_inode(void) {
  char results[600], lock[600], other[700], back[64];
  paths(results, lock, sizeof results);
  isw_lock *l = NULL;
  CU_ASSERT_EQUAL_FATAL(isw_lock_acquire(&l, results, NULL), 0);
  snprintf(other, sizeof other, "%s.someone-else", lock);
  write_text(other, "not yours\n");
  CU_ASSERT_EQUAL(rename(other, lock), 0);
  isw_lock_release(&l);
  read_text(lock, back, sizeof back);
  CU_ASSERT_STRING_EQUAL(back, "not yours\n");
  unlink(lock);
  rmdir(dir);
}

/* Paths the lock refuses with a one-line reason and exit status 2. */
static void test_bad_paths(void) {
  char results[600], lock[800], p[700];
  paths(results, lock, sizeof results);
  isw_lock *l = NULL;
  snprintf(p, sizeof p, "%s/no/such/dir/r.h5", dir);
  CU_ASSERT_EQUAL(isw_lock_acquire(&l, p, NULL), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "cannot make its lock file"));
  CU_ASSERT_PTR_NULL(strchr(isw_error_message(), '\n'));
  snprintf(p, sizeof p, "%s/fifo", dir);
  CU_ASSERT_EQUAL_FATAL(mkfifo(p, 0600), 0);
  CU_ASSERT_EQUAL(isw_lock_acquire(&l, p, NULL), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "is not a regular file"));
  snprintf(lock, sizeof lock, "%s.lock", p);
  CU_ASSERT_NOT_EQUAL(access(lock, F_OK), 0); /* nothing made beside it */
  unlink(p);
  CU_ASSERT_EQUAL(mkdir(results, 0700), 0); /* the results path is a directory */
  CU_ASSERT_EQUAL(isw_lock_acquire(&l, results, NULL), ISW_EUSAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(isw_error_message(), "is a directory"));
  rmdir(results);
  snprintf(lock, sizeof lock, "%s.lock", results);
  CU_ASSERT_EQUAL(mkdir(lock, 0700), 0); /* the lock path is a directory */
  CU_ASSERT_EQUAL(isw_lock_acquire(&l, results, NULL), ISW_EUSAGE);
  CU_ASSERT_PTR_NULL(l);
  rmdir(lock);
  CU_ASSERT_EQUAL(count_entries(), 0);
  rmdir(dir);
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"the lock is taken, a second writer is refused naming the holder, release removes it",
       test_take_refuse_release},
      {"a lock held by another process is refused until it is released", test_other_process},
      {"a stale lock of a dead process on this host is taken over with a note", test_stale_taken_over},
      {"locks of other hosts, live pids and unreadable locks are left alone byte for byte",
       test_not_provably_stale},
      {"release removes only the lock file it made (same inode)", test_release_checks_inode},
      {"missing folders, FIFOs and directories are refused with one line", test_bad_paths},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "lock", cases);
}
