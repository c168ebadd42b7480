/* test_auth.c -- HTTP authentication against real servers: nginx's
 * auth_basic and a Bearer location (nginx_auth.sh), over HTTP/1.1, h2c
 * and h2; the Digest server (authserver.c), which checks every hash, nc
 * and cnonce; the fault server's /echo for what goes on the wire. */
#include "driver.h"

#define PW "s3cret:pw"

static const char *nginx(const char *path) {
  return tx_url("%s%s", http_base(), path);
}

static const char *authsrv(const char *path) {
  return tx_url("http://127.0.0.1:%d%s", tl_env_int("AUTH_PORT"), path);
}

static struct tx *mk(const char *url, const char *userpwd, long auth) {
  struct tx *t = tx_new(url);
  if (userpwd)
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_USERPWD, userpwd), XFERE_OK);
  if (auth != -1) /* -1: the default (ANY is negative as a long) */
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_HTTPAUTH, auth), XFERE_OK);
  return t;
}

/* Status lines the header callback saw: one per response. */
static int responses(const struct tx *t) {
  int n = 0;
  const char *p = t->headers.data;
  while (p && (p = strstr(p, "HTTP/")) != NULL) {
    if (p == t->headers.data || p[-1] == '\n') n++;
    p += 5;
  }
  return n;
}

static const char *body(const struct tx *t) {
  return t->body.data ? t->body.data : "";
}

/* Runs t alone: it must end with 0 and status, after nresp responses
 * (0: any number). */
static void ends_with(struct tx *t, int how, long status, int nresp) {
  CHECK_EQ(run_alone(t, how, 5000), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), status);
  if (nresp) CHECK_EQ(responses(t), nresp);
}

static long used(struct tx *t) { return info_long(t->easy, XFERINFO_HTTPAUTH_USED); }
static long avail(struct tx *t) { return info_long(t->easy, XFERINFO_HTTPAUTH_AVAIL); }

TEST(basic_sent_at_once) {
  struct tx *t = mk(nginx("/basic/1k.bin"), "alice:" PW, -1);
  ends_with(t, DRIVE_POLL, 200, 0);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(responses(t), 1);
  CHECK_EQ(used(t), XFERAUTH_BASIC);
  CHECK_EQ(avail(t), 0);
  tx_free(t);
}

/* A second 401 after credentials went: the 401 is the answer (libcurl
 * does not fail it), FAILONERROR makes it 22. */
TEST(refused_credentials_deliver_the_401) {
  struct tx *t = mk(nginx("/basic/1k.bin"), "alice:wrong", -1);
  ends_with(t, DRIVE_EPOLL, 401, 0);
  CHECK(strstr(body(t), "401") != NULL);
  CHECK_EQ(responses(t), 1);
  CHECK_EQ(avail(t), XFERAUTH_BASIC);
  tx_free(t);
  t = mk(authsrv("/digest/x"), "alice:wrong", XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_FAILONERROR, 1L);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_HTTP_RETURNED_ERROR);
  CHECK_EQ(responses(t), 2);
  CHECK_EQ(used(t), XFERAUTH_DIGEST);
  tx_free(t);
  t = mk(authsrv("/digest/x"), "alice:wrong", XFERAUTH_DIGEST);
  ends_with(t, DRIVE_POLL, 401, 0);
  CHECK(strstr(body(t), "wrong response") != NULL);
  tx_free(t);
}

/* Where the credentials come from: USERNAME/PASSWORD (and USERPWD, which
 * sets both) over the URL's, each on its own; the URL's percent-decoded. */
static const char *auth_sent(const char *url, const char *user,
                             const char *pass, const char *userpwd) {
  static char got[256];
  struct tx *t = mk(url, userpwd, -1);
  const char *p;
  if (user) xfer_easy_setopt(t->easy, XFEROPT_USERNAME, user);
  if (pass) xfer_easy_setopt(t->easy, XFEROPT_PASSWORD, pass);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  p = strstr(body(t), "Authorization: ");
  got[0] = 0;
  if (p) snprintf(got, sizeof(got), "%.*s", (int)strcspn(p + 15, "\r\n"),
                  p + 15);
  tx_free(t);
  return got;
}

TEST(credential_sources_and_precedence) {
  char url[300];
  int port = tl_env_int("FAULT_PORT");
  snprintf(url, sizeof(url), "http://al%%69ce:s3cret%%3Apw@127.0.0.1:%d/echo",
           port);
  /* "alice:s3cret:pw" */
  CHECK_STR(auth_sent(url, NULL, NULL, NULL), "Basic YWxpY2U6czNjcmV0OnB3");
  CHECK_STR(auth_sent(url, "bob", NULL, NULL), "Basic Ym9iOnMzY3JldDpwdw==");
  CHECK_STR(auth_sent(url, NULL, "x", NULL), "Basic YWxpY2U6eA==");
  CHECK_STR(auth_sent(url, NULL, NULL, "bob:y"), "Basic Ym9iOnk=");
  /* USERPWD without a colon: the password stays the URL's, or empty */
  CHECK_STR(auth_sent(url, NULL, NULL, "bob"), "Basic Ym9iOnMzY3JldDpwdw==");
  CHECK_STR(auth_sent(tx_url("%s/echo", fault_base()), NULL, NULL, "bob"),
            "Basic Ym9iOg==");
  CHECK_STR(auth_sent(tx_url("%s/echo", fault_base()), NULL, NULL, NULL), "");
  /* the nginx location agrees */
  {
    struct tx *t;
    snprintf(url, sizeof(url), "http://alice:s3cret%%3apw@127.0.0.1:%d"
             "/basic/index.html", tl_env_int("NGINX_PORT"));
    t = mk(url, NULL, -1);
    CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
    CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
    tx_free(t);
  }
}

TEST(bearer) {
  struct tx *t = mk(nginx("/bearer/index.html"), NULL, XFERAUTH_BEARER);
  xfer_easy_setopt(t->easy, XFEROPT_XOAUTH2_BEARER, "xfer-token");
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK_STR(body(t), "hello from nginx\n");
  CHECK_EQ(used(t), XFERAUTH_BEARER);
  tx_free(t);
  /* a token without HTTPAUTH BEARER is not sent (libcurl's rule) */
  t = mk(nginx("/bearer/index.html"), NULL, -1);
  xfer_easy_setopt(t->easy, XFEROPT_XOAUTH2_BEARER, "xfer-token");
  ends_with(t, DRIVE_POLL, 401, 0);
  CHECK_EQ(avail(t), XFERAUTH_BEARER);
  tx_free(t);
  /* ANY with a token: the 401 says Bearer */
  t = mk(nginx("/bearer/index.html"), NULL, (long)XFERAUTH_ANY);
  xfer_easy_setopt(t->easy, XFEROPT_XOAUTH2_BEARER, "xfer-token");
  ends_with(t, DRIVE_POLL, 200, 2);
  tx_free(t);
}

/* ANY asks first (one request without credentials), then picks Digest
 * over Basic, on the same connection; the 401's body is dropped. */
TEST(any_picks_digest_over_basic_on_the_same_connection) {
  struct tx *t = mk(authsrv("/digest/x?basic=1&algo=SHA-256"), "alice:" PW,
                    (long)XFERAUTH_ANY);
  ends_with(t, DRIVE_EPOLL, 200, 0);
  CHECK(strncmp(body(t), "ok scheme=digest algo=SHA-256", 29) == 0);
  CHECK(strstr(body(t), "creq=2 ") != NULL); /* the same connection */
  CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_EQ(responses(t), 2);
  CHECK_EQ(used(t), XFERAUTH_DIGEST);
  CHECK_EQ(avail(t), XFERAUTH_BASIC | XFERAUTH_DIGEST);
  tx_free(t);
  /* Basic alone offered: ANY takes it */
  t = mk(nginx("/basic/1k.bin"), "alice:" PW, (long)XFERAUTH_ANY);
  ends_with(t, DRIVE_POLL, 200, 2);
  CHECK_EQ(used(t), XFERAUTH_BASIC);
  tx_free(t);
  /* ONLY with one scheme asks first too */
  t = mk(nginx("/basic/1k.bin"), "alice:" PW,
         (long)(XFERAUTH_BASIC | XFERAUTH_ONLY));
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK_EQ(responses(t), 2);
  CHECK(is_pattern(&t->body, 1024));
  tx_free(t);
}

TEST(anysafe_refuses_basic) {
  struct tx *t = mk(nginx("/basic/1k.bin"), "alice:" PW,
                    (long)XFERAUTH_ANYSAFE);
  ends_with(t, DRIVE_POLL, 401, 1);
  CHECK_EQ(used(t), 0);
  CHECK_EQ(avail(t), XFERAUTH_BASIC);
  tx_free(t);
  /* ...and takes Digest where it is offered */
  t = mk(authsrv("/digest/x?basic=1"), "alice:" PW, (long)XFERAUTH_ANYSAFE);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest", 16) == 0);
  tx_free(t);
}

TEST(digest_algorithms_and_qops) {
  static const char *const algos[] = {"MD5", "MD5-sess", "SHA-256",
                                      "SHA-256-sess", "SHA-512-256",
                                      "SHA-512-256-sess"};
  static const char *const qops[] = {"auth", "none", "auth-int",
                                     "auth,auth-int"};
  size_t a, q;
  for (a = 0; a < NROWS(algos); a++)
    for (q = 0; q < NROWS(qops); q++) {
      struct tx *t;
      char want[80], path[100];
      tl_row("%s qop=%s", algos[a], qops[q]);
      snprintf(path, sizeof(path), "/digest/x?algo=%s&qop=%s", algos[a],
               qops[q]);
      t = mk(authsrv(path), "alice:" PW, XFERAUTH_DIGEST);
      CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
      snprintf(want, sizeof(want), "ok scheme=digest algo=%s qop=%s nc=1 ",
               algos[a], strchr(qops[q], ',') ? "auth" : qops[q]);
      CHECKF(strncmp(body(t), want, strlen(want)) == 0, "got %s", body(t));
      tx_free(t);
    }
  tl_row_done();
}

TEST(digest_userhash_and_one_field_challenges) {
  struct tx *t = mk(authsrv("/digest/x?algo=SHA-256&userhash=1"), "alice:" PW,
                    XFERAUTH_DIGEST);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest algo=SHA-256", 29) == 0);
  tx_free(t);
  /* two challenges in one field: the first one xfer has is used */
  t = mk(authsrv("/digest/x?algo=SHA-512-256,MD5&one=1"), "alice:" PW,
         XFERAUTH_DIGEST);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest algo=SHA-512-256", 33) == 0);
  tx_free(t);
  t = mk(authsrv("/digest/x?algo=SHA-256,MD5"), "alice:" PW,
         XFERAUTH_DIGEST);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest algo=SHA-256", 29) == 0);
  tx_free(t);
}

/* stale=true is not a refusal: the new nonce is used, nc starts over; a
 * server that keeps saying it gets its 401 back after 4 requests. */
TEST(digest_stale_nonce) {
  struct tx *t = mk(authsrv("/digest/x?stale=2"), "alice:" PW,
                    XFERAUTH_DIGEST);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest algo=MD5 qop=auth nc=1 ", 40) == 0);
  CHECK_EQ(responses(t), 4);
  tx_free(t);
  t = mk(authsrv("/digest/x?stale=10"), "alice:" PW, XFERAUTH_DIGEST);
  ends_with(t, DRIVE_POLL, 401, 4);
  tx_free(t);
}

/* nc counts per nonce: a redirect within the origin reuses the challenge
 * (no new round trip), with nc 2. */
TEST(digest_nc_counts_across_a_redirect) {
  char to[200];
  struct tx *t;
  snprintf(to, sizeof(to), "/digest/x?to=http%%3A%%2F%%2F127.0.0.1%%3A%d"
           "%%2Fdigest%%2Fy", tl_env_int("AUTH_PORT"));
  t = mk(authsrv(to), "alice:" PW, XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "nc=2 ") != NULL);
  CHECK_EQ(responses(t), 3);
  tx_free(t);
}

/* Headers sent, for the probe check. */
static int on_debug(XFER *e, xfer_infotype type, char *data, size_t size,
                    void *ud) {
  (void)e;
  if (type == XFERINFO_HEADER_OUT) tbuf_add(ud, data, size);
  return 0;
}

static size_t read_abc(char *buf, size_t sz, size_t n, void *ud) {
  int *left = ud;
  size_t k = sz * n < (size_t)*left ? sz * n : (size_t)*left;
  memset(buf, 'a', k);
  *left -= (int)k;
  return k;
}

/* Digest asks first without the body (Content-Length: 0), so that a body
 * from a read callback needs no rewind; ANY sends the body at once, as
 * libcurl does, and a read callback cannot give it again: 65. */
TEST(digest_probe_withholds_the_body) {
  struct tbuf out = {0};
  int left = 5000;
  struct tx *t = mk(authsrv("/digest/x"), "alice:" PW, XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "x=1&y=2");
  xfer_easy_setopt(t->easy, XFEROPT_VERBOSE, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_DEBUGFUNCTION, on_debug);
  xfer_easy_setopt(t->easy, XFEROPT_DEBUGDATA, &out);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "method=POST body=7\n") != NULL);
  CHECK(strstr(out.data, "Content-Length: 0\r\n") != NULL);
  CHECK(strstr(out.data, "Content-Length: 7\r\n") != NULL);
  tbuf_free(&out);
  tx_free(t);
  t = mk(authsrv("/digest/x"), "alice:" PW, XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_abc);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &left);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "method=PUT body=5000\n") != NULL);
  tx_free(t);
  /* ANY: the body goes with the first request and must be read again */
  t = mk(authsrv("/digest/x"), "alice:" PW, (long)XFERAUTH_ANY);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "x=1&y=2");
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "method=POST body=7\n") != NULL);
  tx_free(t);
  left = 5000;
  t = mk(authsrv("/digest/x"), "alice:" PW, (long)XFERAUTH_ANY);
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, 5000L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_abc);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &left);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_SEND_FAIL_REWIND);
  CHECK(strstr(t->errbuf, "rewound") != NULL);
  tx_free(t);
  /* a probe the server answers without asking: sent again with the body */
  t = mk(tx_url("%s/echo", fault_base()), "alice:" PW, XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "x=1&y=2");
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "Content-Length: 7\r\n") != NULL);
  CHECK_EQ(responses(t), 2);
  tx_free(t);
}

TEST(digest_auth_int_hashes_the_body) {
  int left = 100;
  struct tx *t = mk(authsrv("/digest/x?qop=auth-int&algo=SHA-256"),
                    "alice:" PW, XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "hello");
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest algo=SHA-256 qop=auth-int", 42)
        == 0);
  tx_free(t);
  /* a read callback's body cannot be hashed before it goes: refused, the
   * 401 is the answer */
  t = mk(authsrv("/digest/x?qop=auth-int"), "alice:" PW, XFERAUTH_DIGEST);
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_abc);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &left);
  ends_with(t, DRIVE_POLL, 401, 0);
  tx_free(t);
}

/* Credentials stay with the origin the caller set, whatever the scheme,
 * unless UNRESTRICTED_AUTH. */
TEST(credentials_never_follow_to_another_host) {
  int fp = tl_env_int("FAULT_PORT");
  struct {
    const char *name, *url;
    long auth, unrestricted;
    int sent;
  } rows[] = {
    {"basic, another host", "", XFERAUTH_BASIC, 0, 0},
    {"basic, unrestricted", "", XFERAUTH_BASIC, 1, 1},
    {"basic, the same host, absolute", "", XFERAUTH_BASIC, 0, 1},
    {"digest, another host", "", XFERAUTH_DIGEST, 0, 0},
  }, *r;
  char urls[4][300];
  snprintf(urls[0], 300, "%s/redirect/302?to=http://localhost:%d/echo",
           fault_base(), fp);
  snprintf(urls[1], 300, "%s", urls[0]);
  snprintf(urls[2], 300, "%s/redirect/302?to=http://127.0.0.1:%d/echo",
           fault_base(), fp);
  snprintf(urls[3], 300, "http://127.0.0.1:%d/digest/x?to=http%%3A%%2F%%2F"
           "localhost%%3A%d%%2Fecho", tl_env_int("AUTH_PORT"), fp);
  rows[0].url = urls[0];
  rows[1].url = urls[1];
  rows[2].url = urls[2];
  rows[3].url = urls[3];
  FOR_ROWS(r, rows) {
    struct tx *t = mk(r->url, "alice:" PW, r->auth);
    xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
    xfer_easy_setopt(t->easy, XFEROPT_UNRESTRICTED_AUTH, r->unrestricted);
    CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
    CHECK(strstr(body(t), "GET /echo HTTP/1.1") != NULL);
    CHECK_EQ(strstr(body(t), "Authorization") != NULL, r->sent);
    tx_free(t);
  }
}

/* The caller's Authorization wins: nothing generated, nothing negotiated. */
TEST(caller_authorization_header_wins) {
  struct xfer_slist *h = xfer_slist_append(NULL, "Authorization: Bearer mine");
  struct tx *t = mk(tx_url("%s/echo", fault_base()), "alice:" PW, -1);
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, h);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "Authorization: Bearer mine\r\n") != NULL);
  CHECK(strstr(body(t), "Basic") == NULL);
  tx_free(t);
  t = mk(authsrv("/digest/x"), "alice:" PW, (long)XFERAUTH_ANY);
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, h);
  ends_with(t, DRIVE_POLL, 401, 1);
  tx_free(t);
  xfer_slist_free_all(h);
}

TEST(httpauth_values) {
  XFER *e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTPAUTH, (long)XFERAUTH_NTLM),
           XFERE_NOT_BUILT_IN);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTPAUTH,
                            (long)(XFERAUTH_NEGOTIATE | XFERAUTH_ONLY)),
           XFERE_NOT_BUILT_IN);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTPAUTH,
                            (long)(XFERAUTH_NTLM | XFERAUTH_BASIC)), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTPAUTH, (long)XFERAUTH_NONE),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTPAUTH, (long)XFERAUTH_DIGEST_IE),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTPAUTH, (long)XFERAUTH_ANY),
           XFERE_OK);
  CHECK(xfer_easy_option_by_name("httpauth")->type == XFEROT_VALUES);
  CHECK(xfer_easy_option_by_id(XFEROPT_XOAUTH2_BEARER) != NULL);
  xfer_easy_cleanup(e);
}

/* NONE sends nothing; DIGEST_IE leaves the query out of the uri, which a
 * server that checks it (RFC 7616) refuses. */
TEST(httpauth_none_and_digest_ie) {
  struct tx *t = mk(nginx("/basic/1k.bin"), "alice:" PW,
                    (long)XFERAUTH_NONE);
  ends_with(t, DRIVE_POLL, 401, 0);
  tx_free(t);
  t = mk(authsrv("/digest/ie"), "alice:" PW, (long)XFERAUTH_DIGEST_IE);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strncmp(body(t), "ok scheme=digest", 16) == 0);
  tx_free(t);
  t = mk(authsrv("/digest/ie?q=1"), "alice:" PW, (long)XFERAUTH_DIGEST_IE);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(strstr(body(t), "uri is not the request target") != NULL);
  tx_free(t);
}

/* Bad credentials give their documented codes before anything is sent. */
TEST(control_bytes_in_credentials) {
  char url[200];
  struct tx *t;
  snprintf(url, sizeof(url), "http://al%%0Aice:pw@127.0.0.1:%d/echo",
           tl_env_int("FAULT_PORT"));
  t = mk(url, NULL, -1);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_URL_MALFORMAT);
  CHECK(t->errbuf[0]);
  tx_free(t);
  t = mk(tx_url("%s/echo", fault_base()), NULL, XFERAUTH_BEARER);
  xfer_easy_setopt(t->easy, XFEROPT_XOAUTH2_BEARER, "tok\r\nX-Evil: 1");
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_BAD_FUNCTION_ARGUMENT);
  tx_free(t);
  /* Basic encodes any byte; Digest cannot quote a control byte */
  t = mk(authsrv("/digest/x"), "al\tice:" PW, XFERAUTH_DIGEST);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK(strstr(t->errbuf, "control character") != NULL);
  tx_free(t);
}

/* Hostile challenges end their own transfer with its 401 (or make it
 * answer a good challenge once); the transfers beside them are untouched. */
TEST(hostile_challenges_fail_nothing_else) {
  static const char *const kinds[] = {"huge", "unterminated", "params",
                                      "many", "none", "binary"};
  size_t k;
  for (k = 0; k < NROWS(kinds); k++) {
    XFERM *m = xfer_multi_init();
    struct tx *good[2], *bad;
    char path[64];
    int i;
    tl_row("%s", kinds[k]);
    snprintf(path, sizeof(path), "/hostile?kind=%s", kinds[k]);
    bad = mk(authsrv(path), "alice:" PW, (long)XFERAUTH_ANY);
    good[0] = mk(nginx("/basic/1k.bin"), "alice:" PW, (long)XFERAUTH_ANY);
    good[1] = mk(authsrv("/digest/x?algo=SHA-256"), "alice:" PW,
                 XFERAUTH_DIGEST);
    xfer_multi_add_handle(m, good[0]->easy);
    xfer_multi_add_handle(m, bad->easy);
    xfer_multi_add_handle(m, good[1]->easy);
    drive_poll(m, 10000);
    CHECK_EQ(bad->result, XFERE_OK);
    CHECK_EQ(info_long(bad->easy, XFERINFO_RESPONSE_CODE), 401);
    CHECK_STR(body(bad), "hostile\n");
    CHECK(responses(bad) <= 2);
    for (i = 0; i < 2; i++) {
      CHECK_EQ(good[i]->result, XFERE_OK);
      CHECK_EQ(info_long(good[i]->easy, XFERINFO_RESPONSE_CODE), 200);
    }
    CHECK(is_pattern(&good[0]->body, 1024));
    CHECK(strncmp(body(good[1]), "ok scheme=digest", 16) == 0);
    for (i = 0; i < 2; i++) {
      xfer_multi_remove_handle(m, good[i]->easy);
      tx_free(good[i]);
    }
    xfer_multi_remove_handle(m, bad->easy);
    tx_free(bad);
    xfer_multi_cleanup(m);
  }
  tl_row_done();
}

/* Over HTTP/2 the same request building carries it: Basic at once, the
 * ANY round trip on the same h2 connection, Bearer; h2c and h2 (TLS). */
TEST(over_http2) {
  int tls;
  for (tls = 0; tls < 2; tls++) {
    struct tx *t;
    const char *base = tls ? tls_h2_base() : h2c_base();
    tl_row("%s", tls ? "h2" : "h2c");
    t = mk(tx_url("%s/basic/16k.bin", base), "alice:" PW, (long)XFERAUTH_ANY);
    if (tls) tx_tls_localhost(t, tx_url("%s/basic/16k.bin", base));
    else xfer_easy_setopt(t->easy, XFEROPT_HTTP_VERSION,
                          (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_2_0);
    CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
    CHECK(is_pattern(&t->body, 16384));
    CHECK_EQ(responses(t), 2);
    CHECK(strstr(t->headers.data, "www-authenticate: Basic") != NULL);
    CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 1);
    CHECK_EQ(used(t), XFERAUTH_BASIC);
    tx_free(t);
    t = mk(tx_url("%s/bearer/index.html", base), NULL, XFERAUTH_BEARER);
    xfer_easy_setopt(t->easy, XFEROPT_XOAUTH2_BEARER, "xfer-token");
    if (tls) tx_tls_localhost(t, tx_url("%s/bearer/index.html", base));
    else xfer_easy_setopt(t->easy, XFEROPT_HTTP_VERSION,
                          (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
    CHECK_STR(body(t), "hello from nginx\n");
    tx_free(t);
  }
  tl_row_done();
}
