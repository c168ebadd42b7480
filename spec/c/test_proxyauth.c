/*
 * test_proxyauth.c -- PROXYAUTH against real proxies: tinyproxy (Basic)
 * and the Digest test server as a proxy (authserver.c's route_proxy,
 * which recomputes every Digest hash, checks nc and the uri, tunnels a
 * CONNECT and says in X-Proxy-Saw what it got).  A 407 to a CONNECT and
 * to an absolute-form request, on the same connection and on a new one,
 * PROXYAUTH_AVAIL/USED, the failures, and which credentials go where.
 */
#include "driver.h"

#include <string.h>

#define PW "s3cret:pw"

static void setl(struct tx *t, XFERoption o, long v) {
  CHECK_EQ(xfer_easy_setopt(t->easy, o, v), XFERE_OK);
}

static void sets(struct tx *t, XFERoption o, const char *v) {
  CHECK_EQ(xfer_easy_setopt(t->easy, o, v), XFERE_OK);
}

static int has(const struct tbuf *b, const char *s) {
  size_t n = strlen(s), i;
  for (i = 0; b->data && i + n <= b->len; i++)
    if (memcmp(b->data + i, s, n) == 0) return 1;
  return 0;
}

static int count(const struct tbuf *b, const char *s) {
  size_t n = strlen(s), i;
  int k = 0;
  for (i = 0; b->data && i + n <= b->len; i++)
    if (memcmp(b->data + i, s, n) == 0) k++;
  return k;
}

static const char *q(const struct tbuf *b) { return tl_quote(b->data, b->len); }

static long pused(struct tx *t) {
  return info_long(t->easy, XFERINFO_PROXYAUTH_USED);
}

static long pavail(struct tx *t) {
  return info_long(t->easy, XFERINFO_PROXYAUTH_AVAIL);
}

/* A transfer of url through the Digest server as a proxy: credentials
 * (NULL: none), PROXYAUTH (0: the default), the proxy's knobs (NULL:
 * none), tunnelled or in absolute form.  The knobs travel in PROXYHEADER,
 * which only the proxy sees. */
static struct xfer_slist *knob_list;

static struct tx *via(const char *url, const char *creds, long mask,
                      const char *knobs, int tunnel) {
  struct tx *t = tx_new(url);
  char proxy[64], k[256];
  struct xfer_slist *l = NULL;
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d",
           tl_env_int("AUTH_PORT"));
  sets(t, XFEROPT_PROXY, proxy);
  if (creds) sets(t, XFEROPT_PROXYUSERPWD, creds);
  if (mask) setl(t, XFEROPT_PROXYAUTH, mask);
  if (tunnel) setl(t, XFEROPT_HTTPPROXYTUNNEL, 1);
  if (knobs) {
    snprintf(k, sizeof(k), "X-Proxy-Knobs: %s", knobs);
    l = xfer_slist_append(NULL, k);
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYHEADER, l), XFERE_OK);
  }
  knob_list = l; /* the caller's, as libcurl's lists: kept until done */
  return t;
}

static void done(struct tx *t) {
  tx_free(t);
  xfer_slist_free_all(knob_list);
  knob_list = NULL;
}

static const char *echo_url(const char *host) {
  return tx_url("http://%s:%d/echo", host, tl_env_int("FAULT_PORT"));
}

/* ---- CONNECT ---- */

/* A 407 to the CONNECT: the CONNECT again with Digest on the same
 * connection (creq=2: its second request); or on a new one (creq=1,
 * NUM_CONNECTS 2) when the 407 closes it or has a body with no length
 * the client can skip (chunked). */
TEST(digest_connect_again) {
  static const struct {
    const char *name, *knobs, *saw, *creq;
    long conns;
  } rows[] = {
    {"MD5", NULL, "scheme=digest algo=MD5 nc=1 user=alice", "creq=2 ", 1},
    {"SHA-256", "algo=SHA-256", "scheme=digest algo=SHA-256 nc=1",
     "creq=2 ", 1},
    {"-sess", "algo=SHA-256-sess", "scheme=digest algo=SHA-256-sess nc=1",
     "creq=2 ", 1},
    {"no qop", "qop=none", "scheme=digest algo=MD5", "creq=2 ", 1},
    {"close", "close=1", "scheme=digest", "creq=1 ", 2},
    {"chunked", "chunked=1", "scheme=digest", "creq=1 ", 2},
    {"close, SHA-256", "close=1&algo=SHA-256", "scheme=digest algo=SHA-256",
     "creq=1 ", 2},
  }, *r;
  FOR_ROWS(r, rows) {
    struct tx *t = via(echo_url("127.0.0.1"), "alice:" PW, XFERAUTH_DIGEST,
                       r->knobs, 1);
    CHECKF(run_alone(t, r->conns == 1 ? DRIVE_EPOLL : DRIVE_POLL, 5000) ==
               XFERE_OK, "%s", t->errbuf);
    CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 200);
    CHECK_EQ(pused(t), XFERAUTH_DIGEST);
    CHECK_EQ(pavail(t), XFERAUTH_DIGEST);
    /* the 407 and the 200 to CONNECT, then the origin's answer */
    CHECKF(has(&t->headers, r->saw) && has(&t->headers, r->creq) &&
               count(&t->headers, "HTTP/1.1 407") == 1,
           "%s", q(&t->headers));
    CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), r->conns);
    CHECK(!t->errbuf[0]); /* a first connection's end is no failure */
    /* the origin got neither the proxy's credentials nor its knobs */
    CHECKF(has(&t->body, "GET /echo HTTP/1.1"), "%s", q(&t->body));
    CHECK(!has(&t->body, "Proxy-Authorization"));
    CHECK(!has(&t->body, "X-Proxy-Knobs"));
    done(t);
  }
}

/* A stale nonce is answered again with the new one, not a failure. */
TEST(digest_stale_nonce_goes_again) {
  struct tx *t = via(echo_url("127.0.0.1"), "alice:" PW, XFERAUTH_DIGEST,
                     "stale=1", 1);
  CHECKF(run_alone(t, DRIVE_EPOLL, 5000) == XFERE_OK, "%s", t->errbuf);
  CHECKF(count(&t->headers, "HTTP/1.1 407") == 2 &&
             has(&t->headers, "creq=3 "), "%s", q(&t->headers));
  done(t);
}

/* ANY asks first and picks Digest over Basic; ANYSAFE refuses a proxy
 * that offers only Basic (56, 407); ANY takes Basic then. */
TEST(any_and_anysafe_pick_from_the_407) {
  static const struct {
    const char *name, *knobs;
    long mask;
    XFERcode rc;
    long used, avail;
    const char *saw;
  } rows[] = {
    {"ANY, both", "basic=1", (long)XFERAUTH_ANY, XFERE_OK, XFERAUTH_DIGEST,
     XFERAUTH_BASIC | XFERAUTH_DIGEST, "scheme=digest"},
    {"ANYSAFE, both", "basic=1", (long)XFERAUTH_ANYSAFE, XFERE_OK,
     XFERAUTH_DIGEST, XFERAUTH_BASIC | XFERAUTH_DIGEST, "scheme=digest"},
    {"ANY, Basic", "basiconly=1", (long)XFERAUTH_ANY, XFERE_OK,
     XFERAUTH_BASIC, XFERAUTH_BASIC, "scheme=basic"},
    {"ANYSAFE, Basic", "basiconly=1", (long)XFERAUTH_ANYSAFE,
     XFERE_RECV_ERROR, 0, XFERAUTH_BASIC, NULL},
    {"DIGEST_IE", NULL, (long)XFERAUTH_DIGEST_IE, XFERE_OK, XFERAUTH_DIGEST,
     XFERAUTH_DIGEST, "scheme=digest"},
  }, *r;
  FOR_ROWS(r, rows) {
    struct tx *t = via(echo_url("127.0.0.1"), "alice:" PW, r->mask,
                       r->knobs, 1);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), r->rc);
    CHECK_EQ(pused(t), r->used);
    CHECK_EQ(pavail(t), r->avail);
    if (r->saw) CHECKF(has(&t->headers, r->saw), "%s", q(&t->headers));
    else CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 407);
    done(t);
  }
}

/* Credentials sent and refused: the CONNECT fails as libcurl's does, 56
 * with HTTP_CONNECTCODE 407; so does a 407 with no credentials at all. */
TEST(a_second_407_fails_the_connect) {
  static const struct {
    const char *name, *creds;
    long mask, used;
  } rows[] = {
    {"Digest, wrong password", "alice:wrong", XFERAUTH_DIGEST,
     XFERAUTH_DIGEST},
    {"Basic, wrong password", "alice:wrong", 0, XFERAUTH_BASIC},
    {"no credentials", NULL, (long)XFERAUTH_ANY, 0},
  }, *r;
  FOR_ROWS(r, rows) {
    struct tx *t = via(echo_url("127.0.0.1"), r->creds, r->mask,
                       "basic=1", 1);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_RECV_ERROR);
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 407);
    CHECK_EQ(pused(t), r->used);
    CHECKF(strstr(t->errbuf, "407") != NULL, "%s", t->errbuf);
    done(t);
  }
}

/* tinyproxy (Basic only): ANY asks first, then sends Basic; a tunnel
 * through it too. */
TEST(tinyproxy_any_finds_basic) {
  int tunnel;
  for (tunnel = 0; tunnel < 2; tunnel++) {
    struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
    char proxy[64];
    tl_row("tunnel %d", tunnel);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d",
             tl_env_int("TINYPROXY_AUTH_PORT"));
    sets(t, XFEROPT_PROXY, proxy);
    sets(t, XFEROPT_PROXYUSERPWD, "puser:ppass");
    setl(t, XFEROPT_PROXYAUTH, (long)XFERAUTH_ANY);
    if (tunnel) setl(t, XFEROPT_HTTPPROXYTUNNEL, 1);
    CHECKF(run_alone(t, DRIVE_EPOLL, 5000) == XFERE_OK, "%s", t->errbuf);
    CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
    CHECK(is_pattern(&t->body, 1024));
    CHECK_EQ(pused(t), XFERAUTH_BASIC);
    CHECK_EQ(pavail(t), XFERAUTH_BASIC);
    tx_free(t);
  }
  tl_row_done();
}

/* ---- absolute form ---- */

TEST(digest_plain_http_through_the_proxy) {
  static const struct {
    const char *name, *creds, *knobs;
    int post;
    long status;
    const char *body;
  } rows[] = {
    {"GET", "alice:" PW, "algo=SHA-256",
     0, 200, "proxied GET scheme=digest algo=SHA-256 nc=1"},
    {"POST", "alice:" PW, NULL, 1, 200, "proxied POST scheme=digest"},
    {"stale", "alice:" PW, "stale=1", 0, 200, "proxied GET scheme=digest"},
    /* refused: the second 407 is the response, as for a 401 */
    {"wrong", "alice:wrong", NULL, 0, 407, "wrong response"},
  }, *r;
  FOR_ROWS(r, rows) {
    struct tx *t = via("http://127.0.0.1:1/some/path?x=1", r->creds,
                       XFERAUTH_DIGEST, r->knobs, 0);
    if (r->post) sets(t, XFEROPT_POSTFIELDS, "a=1&b=2");
    CHECKF(run_alone(t, DRIVE_POLL, 5000) == XFERE_OK, "%s", t->errbuf);
    CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), r->status);
    CHECKF(has(&t->body, r->body), "%s", q(&t->body));
    CHECK_EQ(pused(t), XFERAUTH_DIGEST);
    CHECK_EQ(pavail(t), XFERAUTH_DIGEST);
    done(t);
  }
}

TEST(failonerror_makes_a_plain_407_22) {
  struct tx *t = via("http://127.0.0.1:1/x", "alice:wrong", 0, NULL, 0);
  setl(t, XFEROPT_FAILONERROR, 1);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_HTTP_RETURNED_ERROR);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 407);
  done(t);
}

/* ---- which credentials go where ---- */

/* The origin's credentials never answer a 407 nor go in a CONNECT; the
 * proxy's never reach the origin, also after a redirect to another
 * origin through the same proxy (whose challenge is kept: nc 2 on the
 * second tunnel). */
TEST(credentials_stay_with_their_server) {
  struct tx *t;
  char url[256];
  /* origin credentials only: the 407 stays unanswered */
  t = via(echo_url("127.0.0.1"), NULL, (long)XFERAUTH_ANY, "basic=1", 1);
  sets(t, XFEROPT_USERPWD, "alice:" PW);
  setl(t, XFEROPT_HTTPAUTH, (long)XFERAUTH_ANY);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_RECV_ERROR);
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 407);
  CHECK_EQ(pused(t), 0);
  done(t);
  t = via("http://127.0.0.1:1/x", NULL, (long)XFERAUTH_ANY, "basic=1", 0);
  sets(t, XFEROPT_USERPWD, "alice:" PW);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 407);
  CHECK_EQ(pused(t), 0);
  done(t);
  /* both: each to its own, the CONNECT without the origin's */
  t = via(echo_url("127.0.0.1"), "alice:" PW, XFERAUTH_DIGEST, NULL, 1);
  sets(t, XFEROPT_USERPWD, "bob:origin");
  CHECKF(run_alone(t, DRIVE_EPOLL, 5000) == XFERE_OK, "%s", t->errbuf);
  CHECKF(has(&t->headers, "origin-auth=no"), "%s", q(&t->headers));
  CHECKF(has(&t->body, "Authorization: Basic Ym9iOm9yaWdpbg=="), "%s",
         q(&t->body));
  CHECK(!has(&t->body, "Proxy-Authorization"));
  done(t);
  /* a redirect to another origin: a new tunnel, Digest at once */
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect/302?to="
           "http://localhost:%d/echo", tl_env_int("FAULT_PORT"),
           tl_env_int("FAULT_PORT"));
  t = via(url, "alice:" PW, XFERAUTH_DIGEST, NULL, 1);
  sets(t, XFEROPT_USERPWD, "bob:origin");
  setl(t, XFEROPT_FOLLOWLOCATION, 1);
  CHECKF(run_alone(t, DRIVE_EPOLL, 5000) == XFERE_OK, "%s", t->errbuf);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  CHECKF(count(&t->headers, "HTTP/1.1 407") == 1 &&
             has(&t->headers, "nc=2 ") && count(&t->headers,
                                                "origin-auth=no") == 2,
         "%s", q(&t->headers));
  CHECKF(has(&t->body, "GET /echo HTTP/1.1"), "%s", q(&t->body));
  CHECK(!has(&t->body, "Proxy-Authorization"));
  CHECK(!has(&t->body, "Authorization")); /* bob's: another host */
  done(t);
}

/* ---- options ---- */

TEST(proxyauth_values) {
  struct tx *t = tx_new("http://x.test/");
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_DIGEST),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH,
                            XFERAUTH_NTLM | XFERAUTH_NEGOTIATE),
           XFERE_NOT_BUILT_IN);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_BEARER),
           XFERE_NOT_BUILT_IN);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH,
                            XFERAUTH_NTLM | XFERAUTH_DIGEST),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_NONE),
           XFERE_OK);
  tx_free(t);
}

/* A control byte in the user name cannot go in a Digest answer: 43, the
 * transfer's own failure (Basic takes it: base64). */
TEST(digest_user_with_a_control_byte_is_43) {
  int tunnel;
  for (tunnel = 0; tunnel < 2; tunnel++) {
    struct tx *t = via(tunnel ? echo_url("127.0.0.1") : "http://127.0.0.1:1/x",
                       "al%01ice:" PW, XFERAUTH_DIGEST, NULL, tunnel);
    tl_row("tunnel %d", tunnel);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_BAD_FUNCTION_ARGUMENT);
    CHECKF(strstr(t->errbuf, "control character") != NULL, "%s", t->errbuf);
    done(t);
  }
  tl_row_done();
}
