/*
 * drive.c -- see drive.h.
 */
#include "drive.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { DRV_TAG_ENGINE = 1, DRV_TAG_SRV = 2 };

uint64_t drv_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int drv_count_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *de;
  int n = -1; /* the directory's own fd */
  if (!dir) return -1;
  while ((de = readdir(dir)) != NULL) n += de->d_name[0] != '.';
  closedir(dir);
  return n;
}

int drv_listen(int small_rcvbuf, uint16_t *port) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int sz = 4096, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
                                          SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (small_rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

static int drv_sockcb(XFER *e, xfer_socket_t s, int what, void *userp,
                      void *socketp) {
  struct drv *d = userp;
  struct epoll_event ev;
  (void)e;
  FZ_CHECK(s >= 0 && s < DRV_MAX_FD, "socket %d", s);
  FZ_CHECK(socketp == NULL || socketp == &d->reg[s], "socketp %p", socketp);
  if (what == XFER_POLL_REMOVE) {
    FZ_CHECK(d->reg[s], "POLL_REMOVE for socket %d, never announced", s);
    FZ_CHECK(epoll_ctl(d->epfd, EPOLL_CTL_DEL, s, NULL) == 0,
             "POLL_REMOVE for socket %d: %s (closed already?)", s,
             strerror(errno));
    d->reg[s] = 0;
    d->gen[s]++;
    d->nreg--;
    return 0;
  }
  memset(&ev, 0, sizeof(ev));
  ev.events = (what & XFER_POLL_IN ? EPOLLIN : 0u) |
              (what & XFER_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.u64 = ((uint64_t)DRV_TAG_ENGINE << 56) |
                ((uint64_t)d->gen[s] << 24) | (uint64_t)s;
  if (d->reg[s]) {
    FZ_CHECK(epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev) == 0,
             "socket %d closed without POLL_REMOVE (%s)", s,
             strerror(errno));
    return 0;
  }
  FZ_CHECK(epoll_ctl(d->epfd, EPOLL_CTL_ADD, s, &ev) == 0, "epoll add %d: %s",
           s, strerror(errno));
  d->reg[s] = 1;
  d->nreg++;
  FZ_CHECK(xfer_multi_assign(d->m, s, &d->reg[s]) == XFERM_OK, "assign");
  return 0;
}

static int drv_timercb(XFERM *m, long ms, void *userp) {
  struct drv *d = userp;
  FZ_CHECK(m == d->m && ms >= -1, "timer callback (%ld)", ms);
  d->timer_set = ms >= 0;
  d->timer_at = drv_now() + (uint64_t)(ms < 0 ? 0 : ms) * 1000u;
  return 0;
}

void drv_init(struct drv *d, int perform, void *ud) {
  int i;
  memset(d, 0, sizeof(*d));
  d->perform = perform;
  d->ud = ud;
  d->epfd = -1;
  for (i = 0; i < DRV_MAX_SRV; i++) d->srv_fd[i] = -1;
  d->m = xfer_multi_init();
  FZ_CHECK(d->m != NULL, "multi_init");
  d->epfd = epoll_create1(EPOLL_CLOEXEC);
  FZ_CHECK(d->epfd >= 0, "epoll_create1: %s", strerror(errno));
  if (!perform)
    FZ_CHECK(
        xfer_multi_setopt(d->m, XFERMOPT_SOCKETFUNCTION, drv_sockcb) == 0 &&
            xfer_multi_setopt(d->m, XFERMOPT_SOCKETDATA, (void *)d) == 0 &&
            xfer_multi_setopt(d->m, XFERMOPT_TIMERFUNCTION, drv_timercb) ==
               0 &&
            xfer_multi_setopt(d->m, XFERMOPT_TIMERDATA, (void *)d) == 0,
        "multi callbacks");
}

int drv_add(struct drv *d, XFER *e) {
  FZ_CHECK(d->ntx < DRV_MAX_TX, "too many transfers");
  FZ_CHECK(xfer_multi_add_handle(d->m, e) == XFERM_OK, "add_handle");
  d->tx[d->ntx] = e;
  return d->ntx++;
}

void drv_watch(struct drv *d, int fd, unsigned want) {
  struct epoll_event ev;
  int i, free_slot = -1, op;
  for (i = 0; i < DRV_MAX_SRV; i++) {
    if (d->srv_fd[i] == fd) break;
    if (d->srv_fd[i] < 0 && free_slot < 0) free_slot = i;
  }
  if (i == DRV_MAX_SRV) {
    if (!want) return;
    FZ_CHECK(free_slot >= 0, "too many server fds");
    i = free_slot;
    op = EPOLL_CTL_ADD;
  } else if (!want) {
    if (!d->perform) epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
    d->srv_fd[i] = -1;
    return;
  } else if (d->srv_want[i] == want) {
    return;
  } else {
    op = EPOLL_CTL_MOD;
  }
  d->srv_fd[i] = fd;
  d->srv_want[i] = want;
  if (d->perform) return; /* polled as extra fds */
  memset(&ev, 0, sizeof(ev));
  ev.events = (want & DRV_IN ? EPOLLIN : 0u) | (want & DRV_OUT ? EPOLLOUT : 0u);
  ev.data.u64 = ((uint64_t)DRV_TAG_SRV << 56) | (uint64_t)fd;
  FZ_CHECK(epoll_ctl(d->epfd, op, fd, &ev) == 0, "server epoll: %s",
           strerror(errno));
}

static int drv_left(const struct drv *d) {
  int i, n = 0;
  for (i = 0; i < d->ntx; i++) n += !d->done[i];
  return n;
}

/* Reads the messages; checks them and the running count (a pointer: the
 * call that sets it is an argument evaluated in any order). */
static void drv_drain(struct drv *d, XFERMcode rc, const int *running) {
  XFERMsg *msg;
  int left;
  FZ_CHECK(rc == XFERM_OK, "multi call: %d", (int)rc);
  while ((msg = xfer_multi_info_read(d->m, &left)) != NULL) {
    int i;
    for (i = 0; i < d->ntx && d->tx[i] != msg->easy_handle; i++)
      ;
    FZ_CHECK(i < d->ntx, "message for a handle never added");
    FZ_CHECK(!d->done[i], "second message for transfer %d", i);
    FZ_CHECK(msg->msg == XFERMSG_DONE, "msg %d", (int)msg->msg);
    d->done[i] = 1;
    d->last_event = drv_now();
    if (d->on_done) d->on_done(d->ud, i, msg->data.result);
  }
  FZ_CHECK(*running == drv_left(d), "running %d, %d transfers without a "
           "message", *running, drv_left(d));
}

/* How long to wait (ms), or -1 to stop. */
static int drv_wait_ms(struct drv *d, uint64_t deadline, unsigned quiet_ms,
                       int engine_due, uint64_t engine_at) {
  uint64_t now = drv_now(), until = deadline;
  if (now >= deadline) return -1;
  if (d->wake_at && d->wake_at < until) until = d->wake_at;
  if (engine_due && engine_at < until) until = engine_at;
  if (!d->wake_at && !(engine_due && engine_at < deadline)) {
    uint64_t q = d->last_event + (uint64_t)quiet_ms * 1000u;
    if (now >= q) return -1;
    if (q < until) until = q;
  }
  return until <= now ? 0 : (int)((until - now + 999) / 1000);
}

static void drv_server_timer(struct drv *d) {
  uint64_t now = drv_now();
  if (d->wake_at && now >= d->wake_at) {
    d->wake_at = 0;
    d->on_wake(d->ud, now);
  }
}

static void drv_loop_socket(struct drv *d, uint64_t deadline,
                            unsigned quiet_ms) {
  struct epoll_event evs[64];
  int running = 0;
  while (drv_left(d)) {
    int n, i, wait = drv_wait_ms(d, deadline, quiet_ms, d->timer_set,
                                 d->timer_at);
    if (wait < 0) break;
    n = epoll_wait(d->epfd, evs, 64, wait);
    if (n < 0 && errno == EINTR) continue;
    FZ_CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
    if (n > 0) d->last_event = drv_now();
    for (i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      int fd = (int)(tag & 0xffffff);
      uint32_t ev = evs[i].events;
      if ((tag >> 56) == DRV_TAG_SRV) {
        d->on_fd(d->ud, fd,
                 (ev & (EPOLLIN | EPOLLHUP | EPOLLERR) ? DRV_IN : 0u) |
                     (ev & EPOLLOUT ? DRV_OUT : 0u));
      } else if (d->reg[fd] && d->gen[fd] == (uint32_t)(tag >> 24)) {
        int mask = (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP) ? XFER_CSELECT_IN
                                                           : 0) |
                   (ev & EPOLLOUT ? XFER_CSELECT_OUT : 0) |
                   (ev & EPOLLERR ? XFER_CSELECT_ERR : 0);
        drv_drain(d, xfer_multi_socket_action(d->m, fd, mask, &running),
                  &running);
      }
    }
    drv_server_timer(d);
    if (d->timer_set && drv_now() >= d->timer_at) {
      d->timer_set = 0;
      drv_drain(d, xfer_multi_socket_action(d->m, XFER_SOCKET_TIMEOUT, 0,
                                            &running),
                &running);
    }
  }
}

static void drv_loop_perform(struct drv *d, uint64_t deadline,
                             unsigned quiet_ms) {
  struct xfer_waitfd extra[DRV_MAX_SRV];
  int running = 0;
  for (;;) {
    int n = 0, i, wait, numfds = 0;
    long t = -1;
    drv_drain(d, xfer_multi_perform(d->m, &running), &running);
    if (!drv_left(d)) break;
    FZ_CHECK(xfer_multi_timeout(d->m, &t) == XFERM_OK, "multi_timeout");
    wait = drv_wait_ms(d, deadline, quiet_ms, t >= 0,
                       drv_now() + (uint64_t)(t < 0 ? 0 : t) * 1000u);
    if (wait < 0) break;
    for (i = 0; i < DRV_MAX_SRV; i++) {
      if (d->srv_fd[i] < 0) continue;
      extra[n].fd = d->srv_fd[i];
      extra[n].events =
          (short)((d->srv_want[i] & DRV_IN ? XFER_WAIT_POLLIN : 0) |
                  (d->srv_want[i] & DRV_OUT ? XFER_WAIT_POLLOUT : 0));
      extra[n++].revents = 0;
    }
    FZ_CHECK(xfer_multi_poll(d->m, extra, (unsigned)n, wait, &numfds) ==
                 XFERM_OK, "multi_poll");
    if (numfds > 0) d->last_event = drv_now();
    for (i = 0; i < n; i++) {
      short re = extra[i].revents;
      if (!re) continue;
      d->on_fd(d->ud, extra[i].fd,
               (re & XFER_WAIT_POLLIN ? DRV_IN : 0u) |
                   (re & XFER_WAIT_POLLOUT ? DRV_OUT : 0u));
    }
    drv_server_timer(d);
  }
}

void drv_run(struct drv *d, unsigned budget_ms, unsigned quiet_ms) {
  uint64_t deadline = drv_now() + (uint64_t)budget_ms * 1000u;
  d->last_event = drv_now();
  if (d->perform)
    drv_loop_perform(d, deadline, quiet_ms);
  else
    drv_loop_socket(d, deadline, quiet_ms);
}

void drv_cleanup(struct drv *d, int multi_first) {
  int i;
  if (multi_first)
    FZ_CHECK(xfer_multi_cleanup(d->m) == XFERM_OK, "multi_cleanup");
  for (i = 0; i < d->ntx; i++) {
    if (!multi_first)
      FZ_CHECK(xfer_multi_remove_handle(d->m, d->tx[i]) == XFERM_OK,
               "remove_handle");
    xfer_easy_cleanup(d->tx[i]);
  }
  if (!multi_first)
    FZ_CHECK(xfer_multi_cleanup(d->m) == XFERM_OK, "multi_cleanup");
  FZ_CHECK(d->nreg == 0, "%d sockets still announced after multi_cleanup",
           d->nreg);
  close(d->epfd);
  d->epfd = -1;
  d->m = NULL;
}
