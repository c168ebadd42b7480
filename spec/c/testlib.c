/* testlib.c -- see testlib.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testlib.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TL_MAX 512
static struct { const char *name; tl_fn fn; } tl_tests[TL_MAX];
static int tl_ntests;

void tl_register(const char *name, tl_fn fn) {
  if (tl_ntests < TL_MAX) {
    tl_tests[tl_ntests].name = name;
    tl_tests[tl_ntests].fn = fn;
    tl_ntests++;
  }
}

static char tl_row_name[512];

void tl_row(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tl_row_name, sizeof(tl_row_name), fmt, ap);
  va_end(ap);
}

void tl_row_done(void) { tl_row_name[0] = 0; }

int tl_at_row(const char *name) {
  if (name) tl_row("%s", name);
  else tl_row_done();
  return name != NULL;
}

const char *tl_quote(const void *s, size_t n) {
  static char bufs[4][720];
  static int next;
  char *b = bufs[next++ % 4], *o = b;
  const unsigned char *p = s;
  size_t i;
  if (!s) return "(null)";
  *o++ = '"';
  for (i = 0; i < n && i < 160; i++) {
    unsigned c = p[i];
    if (c == '\r') o += sprintf(o, "\\r");
    else if (c == '\n') o += sprintf(o, "\\n");
    else if (c == '\t') o += sprintf(o, "\\t");
    else if (c == '"' || c == '\\') o += sprintf(o, "\\%c", c);
    else if (c < 32 || c >= 127) o += sprintf(o, "\\x%02x", c);
    else *o++ = (char)c;
  }
  *o++ = '"';
  if (i < n) o += sprintf(o, "... (%zu bytes)", n);
  *o = 0;
  return b;
}

void tl_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "    %s:%d: ", file, line);
  if (tl_row_name[0]) fprintf(stderr, "row %s: ", tl_row_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}

const char *tl_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) tl_fail(__FILE__, __LINE__, "environment %s is not set", name);
  return v;
}

int tl_env_int(const char *name) { return atoi(tl_env(name)); }

uint64_t tl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int tl_count_fds(void) {
  int n = 0;
  struct dirent *de;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the DIR's own fd */
}

static int tl_selected(int argc, char **argv, const char *name) {
  int i;
  if (argc < 2) return 1;
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  int i, passed = 0, failed = 0;
  int timeout = getenv("XFER_TEST_TIMEOUT") ? atoi(getenv("XFER_TEST_TIMEOUT")) : 30;
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (i = 0; i < tl_ntests; i++) {
    pid_t pid;
    int st = 0;
    uint64_t t0;
    if (!tl_selected(argc, argv, tl_tests[i].name)) continue;
    t0 = tl_now_ms();
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
      alarm((unsigned)timeout);
      tl_tests[i].fn();
      /* exit, not _exit: LeakSanitizer reports from an atexit hook. */
      exit(0);
    }
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      passed++;
      printf("ok   %s (%llu ms)\n", tl_tests[i].name,
             (unsigned long long)(tl_now_ms() - t0));
    } else {
      failed++;
      if (WIFSIGNALED(st))
        printf("FAIL %s (signal %d%s)\n", tl_tests[i].name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? ": timeout" : "");
      else
        printf("FAIL %s (exit %d)\n", tl_tests[i].name, WEXITSTATUS(st));
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
