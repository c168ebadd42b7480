/* test_cookies.c -- the cookie engine: its rules on their own (cookie.h:
 * parsing, matching, public suffixes through libpsl, limits, dates, the
 * Netscape format), then against nginx's /cookie/ locations
 * (nginx_cookie.sh) over HTTP/1.1 and h2c, redirects across hosts, the
 * options and COOKIELIST commands, and a jar that Debian's libcurl reads
 * back (and one it wrote, that xfer reads). */
#include "driver.h"
#include "xfer_int.h"
#include "cookie_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define NOW ((int64_t)1700000000)

static struct xfer_cookie_origin org(const char *host, const char *path,
                                     int secure) {
  struct xfer_cookie_origin o;
  o.host = host;
  o.host_len = strlen(host);
  o.path = path;
  o.path_len = strlen(path);
  o.secure = secure;
  return o;
}

static enum xfer_cookie_res set(struct xfer_cookies *c, const char *host,
                                const char *path, int secure,
                                const char *line) {
  struct xfer_cookie_origin o = org(host, path, secure);
  return xfer__cookie_parse(c, line, strlen(line), &o, NOW);
}

/* The Cookie value for a request, "" when none ("(oom)" never). */
static const char *field(struct xfer_cookies *c, const char *host,
                         const char *path, int secure) {
  static char buf[9000];
  struct xfer_cookie_origin o = org(host, path, secure);
  int oom;
  char *s = xfer__cookie_field(c, &o, NOW, &oom);
  CHECK(!oom);
  snprintf(buf, sizeof(buf), "%s", s ? s : "");
  free(s);
  return buf;
}

/* The store's cookies as Netscape lines, joined by '|'. */
static const char *lines(struct xfer_cookies *c) {
  static char buf[4096];
  struct xfer_slist *l, *p;
  int oom;
  buf[0] = 0;
  l = xfer__cookies_list(c, &oom);
  CHECK(!oom);
  for (p = l; p; p = p->next) {
    if (buf[0]) strcat(buf, "|");
    strncat(buf, p->data, sizeof(buf) - strlen(buf) - 2);
  }
  xfer_slist_free_all(l);
  return buf;
}

TEST(engine_host_only_and_default_path) {
  struct xfer_cookies *c = xfer__cookies_new();
  CHECK_EQ(set(c, "a.example.com", "/dir/page?q=1", 0, "id=42"),
           XFER_COOKIE_STORED);
  CHECK_STR(lines(c), "a.example.com\tFALSE\t/dir\tFALSE\t0\tid\t42");
  CHECK_STR(field(c, "a.example.com", "/dir", 0), "id=42");
  CHECK_STR(field(c, "a.example.com", "/dir/x", 0), "id=42");
  CHECK_STR(field(c, "a.example.com", "/dirx", 0), "");   /* path-match */
  CHECK_STR(field(c, "b.example.com", "/dir", 0), "");    /* host-only */
  CHECK_STR(field(c, "x.a.example.com", "/dir", 0), "");
  xfer__cookies_free(c);
}

TEST(engine_domain_cookie_and_order) {
  struct xfer_cookies *c = xfer__cookies_new();
  CHECK_EQ(set(c, "a.example.com", "/", 0, "d=1; Domain=.Example.COM; Path=/"),
           XFER_COOKIE_STORED);
  CHECK_EQ(set(c, "a.example.com", "/", 0, "long=2; Path=/a/b"), 0);
  CHECK_EQ(set(c, "a.example.com", "/", 0, "e=3; path=/"), 0);
  /* longer paths first, then the older first */
  CHECK_STR(field(c, "a.example.com", "/a/b/c", 0), "long=2; d=1; e=3");
  CHECK_STR(field(c, "b.example.com", "/", 0), "d=1");
  CHECK_STR(field(c, "example.com", "/", 0), "d=1");
  CHECK_STR(field(c, "notexample.com", "/", 0), "");
  /* a replacement keeps its place (creation time) */
  CHECK_EQ(set(c, "a.example.com", "/", 0, "d=9; Domain=example.com"), 0);
  CHECK_STR(field(c, "a.example.com", "/", 0), "d=9; e=3");
  xfer__cookies_free(c);
}

TEST(engine_refuses_bad_domains_and_public_suffixes) {
  struct xfer_cookies *c = xfer__cookies_new();
  static const struct { const char *host, *line; int res; } rows[] = {
    {"www.example.co.uk", "a=1; Domain=co.uk", XFER_COOKIE_PUBLIC_SUFFIX},
    {"www.example.co.uk", "a=1; Domain=.co.uk", XFER_COOKIE_PUBLIC_SUFFIX},
    {"www.example.com", "a=1; Domain=com", XFER_COOKIE_PUBLIC_SUFFIX},
    {"x.github.io", "a=1; Domain=github.io", XFER_COOKIE_PUBLIC_SUFFIX},
    {"www.example.co.uk", "a=1; Domain=example.co.uk", XFER_COOKIE_STORED},
    {"a.example.com", "a=1; Domain=other.com", XFER_COOKIE_BAD_DOMAIN},
    {"a.example.com", "a=1; Domain=b.example.com", XFER_COOKIE_BAD_DOMAIN},
    {"a.example.com", "a=1; Domain=ample.com", XFER_COOKIE_BAD_DOMAIN},
    {"127.0.0.1", "a=1; Domain=0.0.1", XFER_COOKIE_BAD_DOMAIN},
    {"a.example.com", "a=1; Domain=ex ample.com", XFER_COOKIE_BAD_DOMAIN},
    {"a.example.com", "a=1; Domain=example.com.", XFER_COOKIE_BAD_DOMAIN},
    {"a.example.com", "a=1; Domain=..example.com", XFER_COOKIE_BAD_DOMAIN},
    {"a..example.com", "a=1; Domain=..example.com", XFER_COOKIE_BAD_DOMAIN},
    {"a.example..com", "a=1; Domain=example..com", XFER_COOKIE_BAD_DOMAIN},
  };
  size_t i;
  for (i = 0; i < NROWS(rows); i++) {
    tl_row("%s %s", rows[i].host, rows[i].line);
    CHECK_EQ(set(c, rows[i].host, "/", 1, rows[i].line), rows[i].res);
  }
  tl_row_done();
  CHECK_EQ(c->n, 1);
  /* a public suffix's own host may set a host-only cookie there */
  CHECK_EQ(set(c, "co.uk", "/", 0, "h=1; Domain=co.uk"), XFER_COOKIE_STORED);
  CHECK_STR(field(c, "www.co.uk", "/", 0), "");
  CHECK_STR(field(c, "co.uk", "/", 0), "h=1");
  xfer__cookies_free(c);
}

TEST(engine_secure_httponly_samesite_prefixes) {
  struct xfer_cookies *c = xfer__cookies_new();
  CHECK_EQ(set(c, "a.test", "/", 0, "s=1; Secure"), XFER_COOKIE_NOT_SECURE);
  CHECK_EQ(set(c, "a.test", "/", 1, "s=1; Secure; HttpOnly; SameSite=Lax"),
           XFER_COOKIE_STORED);
  CHECK_STR(lines(c), "#HttpOnly_a.test\tFALSE\t/\tTRUE\t0\ts\t1");
  CHECK_STR(field(c, "a.test", "/", 0), "");
  CHECK_STR(field(c, "a.test", "/", 1), "s=1");
  /* plain http may not shadow a Secure cookie of that name */
  CHECK_EQ(set(c, "a.test", "/", 0, "s=2"), XFER_COOKIE_NOT_SECURE);
  CHECK_EQ(set(c, "a.test", "/", 1, "__Secure-x=1"), XFER_COOKIE_BAD_PREFIX);
  CHECK_EQ(set(c, "a.test", "/", 1, "__Secure-x=1; Secure"), 0);
  CHECK_EQ(set(c, "a.test", "/", 1, "__Host-x=1; Secure; Domain=a.test"),
           XFER_COOKIE_BAD_PREFIX);
  CHECK_EQ(set(c, "a.test", "/", 1, "__Host-x=1; Secure; Path=/a"),
           XFER_COOKIE_BAD_PREFIX);
  CHECK_EQ(set(c, "a.test", "/", 1, "__Host-x=1; Secure; Path=/"), 0);
  xfer__cookies_free(c);
}

TEST(engine_refuses_hostile_lines) {
  struct xfer_cookies *c = xfer__cookies_new();
  char big[6000];
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  big[0] = 'n', big[1] = '=';
  CHECK_EQ(set(c, "a.test", "/", 0, big), XFER_COOKIE_TOO_BIG);
  big[4200] = 0; /* under the line limit, over name+value's */
  CHECK_EQ(set(c, "a.test", "/", 0, big), XFER_COOKIE_TOO_BIG);
  CHECK_EQ(set(c, "a.test", "/", 0, "novalue"), XFER_COOKIE_BAD_SYNTAX);
  CHECK_EQ(set(c, "a.test", "/", 0, " = ; Path=/"), XFER_COOKIE_BAD_SYNTAX);
  CHECK_EQ(set(c, "a.test", "/", 0, "a=b\001c"), XFER_COOKIE_CONTROL);
  CHECK_EQ(set(c, "a.test", "/", 0, "a=b\177"), XFER_COOKIE_CONTROL);
  CHECK_EQ(set(c, "a.test", "/", 0, "a=b\tc"), XFER_COOKIE_CONTROL);
  CHECK_EQ(set(c, "a.test", "/", 0, "a\tb=c"), XFER_COOKIE_CONTROL);
  CHECK_EQ(xfer__cookie_parse(c, "a=b\0c", 5, &(struct xfer_cookie_origin){
                                  "a.test", 6, "/", 1, 0}, NOW),
           XFER_COOKIE_CONTROL);
  CHECK_EQ(c->n, 0);
  /* an attribute over 1024 bytes is ignored, not the cookie */
  memset(big, 'p', sizeof(big));
  memcpy(big, "a=1; Path=/", 11);
  big[11 + 1100] = 0;
  CHECK_EQ(set(c, "a.test", "/x/y", 0, big), XFER_COOKIE_STORED);
  CHECK_STR(lines(c), "a.test\tFALSE\t/x\tFALSE\t0\ta\t1");
  xfer__cookies_free(c);
}

TEST(engine_expiry) {
  struct xfer_cookies *c = xfer__cookies_new();
  CHECK_EQ(set(c, "a.test", "/", 0, "m=1; Max-Age=60"), 0);
  CHECK_STR(lines(c), "a.test\tFALSE\t/\tFALSE\t1700000060\tm\t1");
  /* Max-Age wins over Expires */
  CHECK_EQ(set(c, "a.test", "/", 0,
               "m=2; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Max-Age=10"), 0);
  CHECK_STR(lines(c), "a.test\tFALSE\t/\tFALSE\t1700000010\tm\t2");
  CHECK_EQ(set(c, "a.test", "/", 0, "m=3; Max-Age=0"), XFER_COOKIE_REMOVED);
  CHECK_EQ(c->n, 0);
  CHECK_EQ(set(c, "a.test", "/", 0, "e=1; Expires=Thu, 01 Jan 2099 00:00:00 GMT"),
           0);
  CHECK_STR(lines(c), "a.test\tFALSE\t/\tFALSE\t4070908800\te\t1");
  CHECK_EQ(set(c, "a.test", "/", 0, "e=1; Expires=Sunday, 06-Nov-94 08:49:37 GMT"),
           XFER_COOKIE_REMOVED);
  /* a date that is none is ignored: a session cookie */
  CHECK_EQ(set(c, "a.test", "/", 0, "e=2; Expires=tomorrow"), 0);
  CHECK_STR(lines(c), "a.test\tFALSE\t/\tFALSE\t0\te\t2");
  CHECK_EQ(xfer__cookie_date(LIT("Sun Nov  6 08:49:37 1994")), 784111777);
  CHECK_EQ(xfer__cookie_date(LIT("6 Nov 1994 8:49:37")), 784111777);
  CHECK_EQ(xfer__cookie_date(LIT("Nov 31 1994 25:00:00")), 0);
  xfer__cookies_free(c);
}

TEST(engine_limits) {
  struct xfer_cookies *c = xfer__cookies_new();
  char line[64], big[4000];
  int i;
  for (i = 0; i < XFER_COOKIE_PER_DOMAIN + 10; i++) {
    snprintf(line, sizeof(line), "c%d=%d", i, i);
    CHECK_EQ(set(c, "a.test", "/", 0, line), 0);
  }
  CHECK_EQ(c->n, XFER_COOKIE_PER_DOMAIN);
  /* the oldest went */
  CHECK(strstr(field(c, "a.test", "/", 0), "c9=9") == NULL);
  CHECK(strstr(field(c, "a.test", "/", 0), "c10=10") != NULL);
  xfer__cookies_clear(c, 0);
  /* the Cookie field stays under 8190 bytes: what does not fit stays */
  memset(big, 'x', sizeof(big));
  for (i = 0; i < 3; i++) {
    snprintf(big, 8, "b%d=", i);
    big[3] = 'x';
    big[3000] = 0;
    CHECK_EQ(set(c, "a.test", "/", 0, big), 0);
  }
  CHECK_INT(strlen(field(c, "a.test", "/", 0)), <=, XFER_COOKIE_FIELD_MAX);
  CHECK_INT(strlen(field(c, "a.test", "/", 0)), >, 5000);
  xfer__cookies_free(c);
}

TEST(engine_netscape_lines_and_session) {
  struct xfer_cookies *c = xfer__cookies_new();
  CHECK_EQ(xfer__cookie_line(c, LIT(".example.com\tTRUE\t/\tFALSE\t0\ta\t1\n"),
                             NOW, 0), 0);
  CHECK_EQ(xfer__cookie_line(c, LIT("#HttpOnly_h.test\tFALSE\t/p\tTRUE\t"
                                    "4070908800\tb\t2"), NOW, 0), 0);
  CHECK_EQ(xfer__cookie_line(c, LIT("# a comment"), NOW, 0), 0);
  CHECK_EQ(xfer__cookie_line(c, LIT("too\tfew\tfields"), NOW, 0),
           XFER_COOKIE_BAD_SYNTAX);
  CHECK_EQ(xfer__cookie_line(c, LIT("..x.test\tTRUE\t/\tFALSE\t0\ta\t1"),
                             NOW, 0), XFER_COOKIE_BAD_DOMAIN);
  CHECK_EQ(xfer__cookie_line(c, LIT("Set-Cookie: s=3; Domain=s.test"), NOW, 0),
           0);
  CHECK_EQ(xfer__cookie_line(c, LIT("Set-Cookie: s=3"), NOW, 0),
           XFER_COOKIE_BAD_DOMAIN); /* no host to bind it to */
  CHECK_EQ(c->n, 3);
  CHECK_STR(field(c, "x.example.com", "/", 0), "a=1");
  CHECK_STR(field(c, "h.test", "/p", 1), "b=2");
  /* COOKIESESSION: session lines are not loaded */
  CHECK_EQ(xfer__cookie_line(c, LIT("z.test\tFALSE\t/\tFALSE\t0\tz\t1"), NOW,
                             1), 0);
  CHECK_EQ(c->n, 3);
  xfer__cookies_clear(c, 1);
  CHECK_STR(lines(c), "#HttpOnly_h.test\tFALSE\t/p\tTRUE\t4070908800\tb\t2");
  xfer__cookies_free(c);
}

/* ---- against nginx ---- */

static char resolve_buf[4][80];
static struct xfer_slist *resolve_list(void) {
  static struct xfer_slist *l;
  static const char *const names[] = {"a.example.com", "b.example.com",
                                      "other.test", "www.shop.co.uk"};
  size_t i;
  if (l) return l;
  for (i = 0; i < 4; i++) {
    snprintf(resolve_buf[i], sizeof(resolve_buf[i]), "%s:%d:127.0.0.1",
             names[i], tl_env_int("NGINX_PORT"));
    l = xfer_slist_append(l, resolve_buf[i]);
  }
  return l;
}

static const char *at(const char *host, const char *path) {
  return tx_url("http://%s:%d%s", host, tl_env_int("NGINX_PORT"), path);
}

static struct tx *mk(void) {
  struct tx *t = tx_new(NULL);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, resolve_list()), 0);
  return t;
}

/* Runs t on url (its body and headers from this run only). */
static const char *fetch(struct tx *t, const char *url) {
  free(t->body.data);
  free(t->headers.data);
  memset(&t->body, 0, sizeof(t->body));
  memset(&t->headers, 0, sizeof(t->headers));
  t->done = 0;
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_URL, url), XFERE_OK);
  CHECKF(run_alone(t, DRIVE_POLL, 5000) == XFERE_OK, "%s: %s", url,
         t->errbuf);
  CHECK(tbuf_add(&t->body, "", 1) == 0);
  return t->body.data;
}

static int count_info(XFER *e) {
  struct xfer_slist *l = NULL, *p;
  int n = 0;
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_COOKIELIST, &l), XFERE_OK);
  for (p = l; p; p = p->next) n++;
  xfer_slist_free_all(l);
  return n;
}

TEST(server_cookies_stored_and_sent) {
  struct tx *t = mk();
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, ""), XFERE_OK);
  fetch(t, at("a.example.com", "/cookie/set?c1=a=1;Path=/"
                               "&c2=b=2;Path=/cookie/echo;HttpOnly&c3=c=3"));
  CHECK_EQ(count_info(t->easy), 3);
  /* longest path first: c=3 has the default path, /cookie */
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo/x")),
            "b=2; c=3; a=1\n");
  CHECK_STR(fetch(t, at("b.example.com", "/cookie/echo")), "\n");
  /* COOKIE goes after the engine's */
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIE, "extra=1"), 0);
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo/x")),
            "b=2; c=3; a=1; extra=1\n");
  CHECK_STR(fetch(t, at("b.example.com", "/cookie/echo")), "extra=1\n");
  tx_free(t);
}

TEST(server_engine_off_by_default) {
  struct tx *t = mk();
  fetch(t, at("a.example.com", "/cookie/set?c1=a=1;Path=/"));
  CHECK_EQ(count_info(t->easy), 0);
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo")), "\n");
  /* COOKIE alone is sent without the engine */
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIE, "k=v; k2=v2"), 0);
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo")), "k=v; k2=v2\n");
  /* a Cookie header of the caller's replaces it */
  {
    struct xfer_slist *h = xfer_slist_append(NULL, "Cookie: mine=1");
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, h), 0);
    CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo")), "mine=1\n");
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, NULL), 0);
    xfer_slist_free_all(h);
  }
  tx_free(t);
}

TEST(server_h2c_cookies) {
  struct tx *t = mk();
  char url[200];
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, ""), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_HTTP_VERSION,
                            (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/cookie/set?c1=h=2;Path=/",
           tl_env_int("NGINX_H2C_PORT"));
  fetch(t, url);
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_2_0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/cookie/echo",
           tl_env_int("NGINX_H2C_PORT"));
  CHECK_STR(fetch(t, url), "h=2\n");
  tx_free(t);
}

/* A redirect carries the cookies of its own host: a domain cookie set by
 * the 302 goes on to b.example.com, a.example.com's host-only one does not,
 * and nothing goes to other.test. */
TEST(server_redirect_across_hosts) {
  struct tx *t = mk();
  char path[300];
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, ""), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L), 0);
  fetch(t, at("a.example.com", "/cookie/set?c1=host=1;Path=/"));
  snprintf(path, sizeof(path), "/cookie/redir?c1=dom=2;Path=/;Domain=example.com"
           "&to=%s", at("b.example.com", "/cookie/echo"));
  CHECK_STR(fetch(t, at("a.example.com", path)), "dom=2\n");
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  snprintf(path, sizeof(path), "/cookie/redir?to=%s",
           at("other.test", "/cookie/echo"));
  CHECK_STR(fetch(t, at("a.example.com", path)), "\n");
  snprintf(path, sizeof(path), "/cookie/redir?to=%s",
           at("a.example.com", "/cookie/echo"));
  CHECK_STR(fetch(t, at("b.example.com", path)), "host=1; dom=2\n");
  tx_free(t);
}

TEST(server_public_suffix_refused) {
  struct tx *t = mk();
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, ""), XFERE_OK);
  fetch(t, at("www.shop.co.uk", "/cookie/set?c1=ps=1;Domain=co.uk"
                                "&c2=ok=1;Domain=shop.co.uk;Path=/"));
  CHECK_EQ(count_info(t->easy), 1);
  CHECK_STR(fetch(t, at("www.shop.co.uk", "/cookie/echo")), "ok=1\n");
  tx_free(t);
}

TEST(server_set_cookie_limit_per_response) {
  struct tx *t = mk();
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, ""), XFERE_OK);
  fetch(t, at("a.example.com", "/cookie/many"));
  CHECK_EQ(count_info(t->easy), XFER_COOKIE_PER_RESP);
  /* the header callback still saw all 60 */
  {
    int n = 0;
    const char *p = t->body.data ? t->headers.data : NULL;
    while (p && (p = strstr(p, "Set-Cookie:")) != NULL) n++, p++;
    CHECK_EQ(n, 60);
  }
  tx_free(t);
}

static char *tmpjar(void) {
  static char path[64];
  int fd;
  snprintf(path, sizeof(path), "/tmp/xfer-jar.XXXXXX");
  fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  return path;
}

static char *slurp(const char *path) {
  static char buf[8192];
  FILE *f = fopen(path, "r");
  size_t n;
  CHECKF(f != NULL, "no file %s", path);
  n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

TEST(jar_written_at_cleanup_and_read_back) {
  char jar[64];
  struct tx *t = mk();
  snprintf(jar, sizeof(jar), "%s", tmpjar());
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEJAR, jar), XFERE_OK);
  fetch(t, at("a.example.com", "/cookie/set?c1=a=1;Path=/;Max-Age=3600"
                               "&c2=s=2;Path=/&c3=d=3;Domain=example.com;Path=/"));
  CHECK_EQ(access(jar, F_OK), -1); /* not yet */
  tx_free(t);
  CHECK(strstr(slurp(jar), "# Netscape HTTP Cookie File\n") == slurp(jar));
  CHECK(strstr(slurp(jar), "\na.example.com\tFALSE\t/\tFALSE\t") != NULL);
  CHECK(strstr(slurp(jar), "\n.example.com\tTRUE\t/\tFALSE\t0\td\t3\n"));
  /* read back: everything */
  t = mk();
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, jar), XFERE_OK);
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo")), "a=1; s=2; d=3\n");
  tx_free(t);
  /* COOKIESESSION: the session ones stay behind */
  t = mk();
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, jar), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIESESSION, 1L), XFERE_OK);
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo")), "a=1\n");
  tx_free(t);
  unlink(jar);
}

TEST(cookielist_commands) {
  char jar[64];
  XFER *e = xfer_easy_init();
  snprintf(jar, sizeof(jar), "%s", tmpjar());
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST,
                            "Set-Cookie: a=1; Domain=x.test; Max-Age=99"), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST,
                            "y.test\tFALSE\t/\tFALSE\t0\tb\t2"), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "Set-Cookie: nodomain=1"),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(count_info(e), 2);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "SESS"), 0);
  CHECK_EQ(count_info(e), 1);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "FLUSH"), 0); /* no jar */
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEJAR, jar), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "FLUSH"), 0);
  CHECK(strstr(slurp(jar), "\ta\t1\n") != NULL);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "ALL"), 0);
  CHECK_EQ(count_info(e), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEFILE, jar), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "RELOAD"), 0);
  CHECK_EQ(count_info(e), 1);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, NULL), 0);
  /* COOKIEFILE NULL: the engine goes off, its store with it */
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEFILE, NULL), 0);
  CHECK_EQ(count_info(e), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEJAR, "/nonexistent/dir/jar"), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "FLUSH"),
           XFERE_WRITE_ERROR);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEJAR, NULL), 0);
  xfer_easy_cleanup(e);
  unlink(jar);
}

TEST(duphandle_gets_an_empty_store) {
  XFER *e = xfer_easy_init(), *d;
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST,
                            "Set-Cookie: a=1; Domain=x.test"), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEFILE, "/nonexistent"), 0);
  d = xfer_easy_duphandle(e);
  CHECK(d != NULL);
  CHECK_EQ(count_info(d), 0);
  CHECK_EQ(xfer_easy_setopt(d, XFEROPT_COOKIELIST, "RELOAD"), 0);
  xfer_easy_cleanup(e);
  xfer_easy_cleanup(d);
}

/* ---- Debian's libcurl reads xfer's jar, and xfer reads libcurl's ---- */

static int libcurl_count(const char *jar, char *first, size_t cap) {
  CURL *c = curl_easy_init();
  struct curl_slist *l = NULL, *p;
  int n = 0;
  CHECK(c != NULL);
  CHECK_EQ(curl_easy_setopt(c, CURLOPT_COOKIEFILE, jar), CURLE_OK);
  CHECK_EQ(curl_easy_setopt(c, CURLOPT_COOKIELIST, "RELOAD"), CURLE_OK);
  CHECK_EQ(curl_easy_getinfo(c, CURLINFO_COOKIELIST, &l), CURLE_OK);
  for (p = l; p; p = p->next) {
    if (!n && first) snprintf(first, cap, "%s", p->data);
    n++;
  }
  curl_slist_free_all(l);
  curl_easy_cleanup(c);
  return n;
}

TEST(libcurl_reads_the_jar) {
  char jar[64], line[512];
  XFER *e = xfer_easy_init();
  CURL *c;
  snprintf(jar, sizeof(jar), "%s", tmpjar());
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEJAR, jar), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST,
                            "Set-Cookie: h=1; Domain=x.test; HttpOnly; "
                            "Secure; Max-Age=3600"), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST,
                            "y.test\tFALSE\t/p\tFALSE\t0\tb\t2"), 0);
  xfer_easy_cleanup(e);
  CHECK_EQ(libcurl_count(jar, line, sizeof(line)), 2);
  /* libcurl's own lines, the other way: xfer reads them */
  c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_COOKIEJAR, jar);
  curl_easy_setopt(c, CURLOPT_COOKIELIST,
                   "Set-Cookie: lc=9; domain=z.test; path=/; "
                   "expires=Thu, 01 Jan 2099 00:00:00 GMT");
  curl_easy_setopt(c, CURLOPT_COOKIELIST,
                   "#HttpOnly_.w.test\tTRUE\t/\tFALSE\t0\tw\t1");
  curl_easy_cleanup(c);
  e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIEFILE, jar), 0);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_COOKIELIST, "RELOAD"), 0);
  CHECK_EQ(count_info(e), 2);
  {
    struct xfer_slist *l = NULL, *p;
    int found = 0;
    xfer_easy_getinfo(e, XFERINFO_COOKIELIST, &l);
    for (p = l; p; p = p->next)
      found += strcmp(p->data, ".z.test\tTRUE\t/\tFALSE\t4070908800\tlc\t9")
                   == 0 ||
               strcmp(p->data, "#HttpOnly_.w.test\tTRUE\t/\tFALSE\t0\tw\t1")
                   == 0;
    xfer_slist_free_all(l);
    CHECK_EQ(found, 2);
  }
  xfer_easy_cleanup(e);
  unlink(jar);
}

/* A Secure cookie goes to https and to loopback names only (libcurl's
 * rule: http://localhost is a secure context); not to a name that
 * merely resolves to 127.0.0.1 over plain http. */
TEST(server_secure_cookie_only_to_secure_origins) {
  struct tx *t = mk();
  char url[200];
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIELIST,
                            "Set-Cookie: s=1; Domain=a.example.com; Secure"), 0);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COOKIELIST,
                            "localhost\tFALSE\t/\tTRUE\t0\tl\t2"), 0);
  CHECK_STR(fetch(t, at("a.example.com", "/cookie/echo")), "\n");
  snprintf(url, sizeof(url), "http://localhost:%d/cookie/echo",
           tl_env_int("NGINX_PORT"));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_IPRESOLVE, 1L), 0);
  CHECK_STR(fetch(t, url), "l=2\n");
  /* and a Secure Set-Cookie from plain http is dropped */
  fetch(t, at("a.example.com", "/cookie/set?c1=t=3;Secure"));
  CHECK_EQ(count_info(t->easy), 2);
  tx_free(t);
}
