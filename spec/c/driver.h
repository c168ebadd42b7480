/*
 * driver.h -- what the C tests share: a transfer that collects its body and
 * headers, and two ways to drive a multi handle to completion: an epoll
 * loop on socket_action (the event-driven API), and perform + poll.
 * Both loops are bounded by a deadline and fail the test when it passes.
 */
#ifndef XFER_TEST_DRIVER_H
#define XFER_TEST_DRIVER_H

#include "xfer.h"
#include "testlib.h"

#include <poll.h>

struct tbuf {
  char *data;
  size_t len, cap;
};
int tbuf_add(struct tbuf *b, const char *p, size_t n);  /* 0, -1 no memory */
void tbuf_free(struct tbuf *b);
/* Write callbacks: take and drop; append to the struct tbuf of ud. */
size_t tl_discard(char *p, size_t sz, size_t n, void *ud);
size_t tl_collect(char *p, size_t sz, size_t n, void *ud);

/* One transfer with its collected response; easy's PRIVATE points here. */
struct tx {
  XFER *easy;
  struct tbuf body, headers;
  int done;              /* its XFERMSG_DONE was read */
  XFERcode result;
  char errbuf[XFER_ERROR_SIZE];
  int order;             /* completion order, from 1 */
};

/* Counters of the epoll driver, for tests of the callbacks. */
struct drive_stats {
  int socket_calls, timer_calls;
  int socket_calls_by_what[5];
  int last_what;          /* the socket callback's last `what` */
  int max_socks_watched;
  long last_timer_ms;
  int socket_actions;     /* socket_action calls for a socket's event */
  int timeout_actions;    /* socket_action calls for the timer */
};

struct tx *tx_new(const char *url);          /* body+headers collected */
void tx_free(struct tx *t);                  /* removes from nothing; cleanup */
char *tx_url(const char *fmt, ...);          /* static buffer, formatted */
const char *http_base(void);                 /* "http://127.0.0.1:PORT" nginx */
const char *fault_base(void);                /* fault server FAULT_PORT */
int fault_port(const char *which);           /* "CLOSE", "RESET", "SILENT", "" */
int free_loopback_port(void);                /* unused 127.0.0.1 port now */
/* nginx's http2 listeners: h2c (prior knowledge), and TLS with http2. */
const char *h2c_base(void);                  /* "http://127.0.0.1:PORT" */
const char *tls_h2_base(void);               /* "https://localhost:PORT" */
/* For an https://localhost:PORT URL: the test CA (TLS_CA), and localhost
 * pinned to 127.0.0.1 for that port (RESOLVE; a list per port, kept for
 * the process, so transfers to several ports may run at once). */
void tx_tls_localhost(struct tx *t, const char *url);

/* getinfo, checked (the test fails on an error). */
long info_long(XFER *e, XFERINFO what);
xfer_off_t info_off(XFER *e, XFERINFO what);
const char *info_str(XFER *e, XFERINFO what);

/* The bytes [off, off+n) of the "abc..z" pattern that nginx's test files and
 * the fault server's bodies are made of (malloc'd, NUL-terminated); and
 * whether a buffer holds exactly its first n bytes. */
char *pattern(size_t n, size_t off);
int is_pattern(const struct tbuf *b, size_t n);

/* The two ways the C tests drive a multi handle. */
enum { DRIVE_EPOLL, DRIVE_POLL };
/* One transfer on a multi handle of its own, driven `how` until done
 * (limit_ms fails the test); returns its result. */
XFERcode run_alone(struct tx *t, int how, int limit_ms);
/* One transfer on m, which keeps its connections for the next one. */
XFERcode run_on(XFERM *m, struct tx *t, int how, int limit_ms);

/* Reads every message, marks transfers done (in order).  Returns count. */
int drain_msgs(XFERM *m);
/* Drives m with epoll + socket_action until no transfer runs, or until
 * `limit_ms` passes (fails the test).  Sets socket/timer callbacks. */
void drive_epoll(XFERM *m, int limit_ms, struct drive_stats *st);
/* The same loop for exactly `ms` (a stats-taking look at a wait state);
 * the callbacks are unset after.  Returns the running count. */
int drive_epoll_for(XFERM *m, int ms, struct drive_stats *st);
/* The same with perform + poll. */
void drive_poll(XFERM *m, int limit_ms);
/* A libcurl-style poll() program: the socket callback fills a pollfd set,
 * the timer callback's value is kept and passed to poll(). */
#define PL_MAX 64
struct ploop {
  struct pollfd fds[PL_MAX];
  int nfds;
  long timeout;          /* the value the timer callback gave: kept */
  int timer_calls, socket_calls, removes;
  int spins;             /* poll() calls with a 0 timeout */
};
void pl_init(struct ploop *p, XFERM *m);  /* sets m's callbacks */
/* One round: poll() with the kept timeout, then socket_action for what it
 * found, or for the timer.  0 when the program has nothing left to wait
 * for (no socket, no timer): where a libcurl program's loop ends. */
int pl_round(struct ploop *p, XFERM *m, int *running);
/* Rounds until no transfer runs; *rounds counts on and must stay below
 * limit (the test fails there). */
void pl_run(struct ploop *p, XFERM *m, int *running, int *rounds, int limit);

/* Fetches /stats from the fault server: connections, requests, peak, open. */
void fault_stats(int *connections, int *requests, int *peak, int *open);
void fault_stats_reset(void);

/* Moves this (forked) test process into network and mount namespaces of
 * its own, with loopback up and a resolv.conf naming 127.0.0.1 bound over
 * /etc/resolv.conf: c-ares then asks a name server the test runs on
 * 127.0.0.1:53.  Returns 0, or -1 after printing why the test is skipped
 * (it needs root). */
int netns_isolate(void);

#endif
