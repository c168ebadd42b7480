/*
 * pstat.c -- run one benchmark client and report what it cost.
 *
 *     pstat [-n NOFILE] [-t SECONDS] [-q] -- COMMAND [ARG...]
 *
 * Raises RLIMIT_NOFILE's soft limit (to NOFILE, or to the hard limit when
 * NOFILE is 0 or above it), runs COMMAND with stdin from /dev/null and its
 * stdout/stderr inherited, and once it has exited prints one line on stdout:
 *
 *     pstat: status=S cpu_s=X user_s=X sys_s=X proc_cpu_s=X maxrss_kb=N
 *            wall_s=X nofile=N
 *
 *   status      the exit status (128+signal when killed by a signal)
 *   cpu_s       user+sys CPU of the process, from wait4's rusage
 *   user_s, sys_s  the two parts
 *   proc_cpu_s  user+sys (utime+stime) read from /proc/PID/stat of the
 *               exited, not yet reaped process: the same quantity, at clock
 *               tick resolution; both are given so that either can be used
 *   maxrss_kb   peak resident set size (ru_maxrss)
 *   wall_s      wall time from fork to exit
 *   nofile      the soft RLIMIT_NOFILE the command ran with
 *
 * Clients that do not print their own getrusage (wrk, later Lua drivers)
 * are measured through this; the others print theirs and pstat confirms.
 * -t kills the command (SIGKILL) after SECONDS: status is then 137.
 * -q sends the command's stdout to /dev/null.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;

static void on_alarm(int sig) {
  (void)sig;
  if (child > 0) kill(child, SIGKILL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime + stime (fields 14 and 15) of /proc/PID/stat, in seconds. */
static double proc_cpu(pid_t pid) {
  char path[64], buf[4096], *p;
  unsigned long ut = 0, st = 0;
  int i, fd;
  ssize_t n;
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  if ((fd = open(path, O_RDONLY)) < 0) return -1;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  /* The command name (field 2) may contain spaces: skip past its ')'. */
  if (!(p = strrchr(buf, ')'))) return -1;
  p++;
  /* p now points at " S ..." : field 3 onwards; utime is field 14. */
  for (i = 3; i <= 13; i++) {
    p = strchr(p + 1, ' ');
    if (!p) return -1;
  }
  if (sscanf(p, " %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv) {
  long want = 0, limit = 0;
  int quiet = 0, opt, status = 0;
  struct rlimit rl;
  struct rusage ru;
  siginfo_t si;
  pid_t pid;
  double t0, wall, pcpu;
  while ((opt = getopt(argc, argv, "+n:t:q")) != -1) {
    if (opt == 'n') want = atol(optarg);
    else if (opt == 't') limit = atol(optarg);
    else if (opt == 'q') quiet = 1;
    else {
      fprintf(stderr, "usage: pstat [-n NOFILE] [-t SECONDS] [-q] -- COMMAND [ARG...]\n");
      return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "usage: pstat [-n NOFILE] [-t SECONDS] [-q] -- COMMAND [ARG...]\n");
    return 2;
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t target = rl.rlim_max;
    if (want > 0 && (rlim_t)want < target) target = (rlim_t)want;
    rl.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  fflush(stdout);
  t0 = now_s();
  pid = fork();
  if (pid < 0) {
    perror("pstat: fork");
    return 1;
  }
  if (pid == 0) {
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
      dup2(fd, 0);
      if (quiet) dup2(fd, 1);
      if (fd > 2) close(fd);
    }
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "pstat: exec %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }
  child = pid;
  if (limit > 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)limit);
  }
  /* Wait for the exit without reaping, so /proc/PID/stat still holds the
   * final times; then reap with wait4 for the rusage. */
  while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
    ;
  wall = now_s() - t0;
  alarm(0);
  pcpu = proc_cpu(pid);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
    ;
  if (WIFSIGNALED(status)) status = 128 + WTERMSIG(status);
  else status = WEXITSTATUS(status);
  printf("pstat: status=%d cpu_s=%.6f user_s=%.6f sys_s=%.6f proc_cpu_s=%.2f "
         "maxrss_kb=%ld wall_s=%.6f nofile=%ld minflt=%ld\n",
         status,
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
             ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
         ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
         pcpu, ru.ru_maxrss, wall, (long)rl.rlim_cur, ru.ru_minflt);
  return status;
}
