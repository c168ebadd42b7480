/*
 * fuzz_url.c -- xfer__url_parse, xfer__url_hostport and xfer__url_resolve.
 *
 * 1. The whole input is parsed with its explicit length (from an exact-size
 *    copy: ASan sees any read past it) and again from a NUL-terminated copy:
 *    both must agree.  On success every component lies inside the string,
 *    the port is not 0, the host is not empty, and the URL rebuilt from the
 *    components ("scheme://authority/path") parses to the same components.
 * 2. The input split at its first '\n' is (base, location) for
 *    xfer__url_resolve: a result is an absolute http(s) URL with no control
 *    byte, space or byte >= 0x80, that parses; resolving "" against it gives
 *    it back, and so does resolving it against itself.
 *
 * Statics are prefixed url_ so that the regression test can #include every
 * target into one file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "url.h"
#include "xfer.h"

static void url_check_parsed(const char *s, size_t len,
                             const struct xfer_url *u) {
  FZ_CHECK(u->scheme == XFER_SCHEME_HTTP || u->scheme == XFER_SCHEME_HTTPS,
           "scheme %d", u->scheme);
  FZ_CHECK(u->port != 0, "port 0");
  FZ_CHECK(u->port_explicit ||
               u->port == (u->scheme == XFER_SCHEME_HTTPS ? 443 : 80),
           "default port %u", (unsigned)u->port);
  FZ_CHECK(u->host_len > 0, "empty host");
  FZ_CHECK(u->host_off <= len && u->host_len <= len - u->host_off,
           "host %zu+%zu of %zu", u->host_off, u->host_len, len);
  FZ_CHECK(u->path_off <= len && u->path_len <= len - u->path_off,
           "path %zu+%zu of %zu", u->path_off, u->path_len, len);
  FZ_CHECK(u->auth_off <= len && u->auth_len <= len - u->auth_off,
           "auth %zu+%zu of %zu", u->auth_off, u->auth_len, len);
  /* The host lies inside the authority, the path right after it. */
  FZ_CHECK(u->host_off >= u->auth_off &&
               u->host_off + u->host_len <= u->auth_off + u->auth_len,
           "host outside the authority");
  FZ_CHECK(u->path_off == u->auth_off + u->auth_len, "path not after auth");
  if (u->has_userinfo) {
    FZ_CHECK(u->user_off == u->auth_off, "user_off");
    FZ_CHECK(u->user_off + u->user_len <= u->host_off, "user overlaps host");
    FZ_CHECK(u->pass_off + u->pass_len <= u->host_off, "pass overlaps host");
    FZ_CHECK(memchr(s + u->user_off, ':', u->user_len) == NULL,
             "':' in the user name");
  } else {
    FZ_CHECK(u->user_len == 0 && u->pass_len == 0, "userinfo without '@'");
  }
  if (u->path_len > 0)
    FZ_CHECK(s[u->path_off] == '/' || s[u->path_off] == '?',
             "path starts with 0x%02x", (unsigned char)s[u->path_off]);
  FZ_CHECK(u->path_needs_slash == (u->path_len > 0 && s[u->path_off] == '?'),
           "path_needs_slash");
  FZ_CHECK(memchr(s + u->path_off, '#', u->path_len) == NULL,
           "fragment in the path");
  {
    size_t i;
    for (i = 0; i < u->host_len; i++) {
      unsigned char c = (unsigned char)s[u->host_off + i];
      FZ_CHECK(c > 0x20 && c < 0x7f && c != '/' && c != '@' && c != '?' &&
                   c != '#' && c != '[' && c != ']' &&
                   (u->host_is_ipv6 || c != ':'),
               "host byte 0x%02x", c);
    }
    for (i = 0; i < len; i++) {
      unsigned char c = (unsigned char)s[i];
      FZ_CHECK(c > 0x20 && c != 0x7f, "accepted byte 0x%02x", c);
    }
  }
  {
    char hp[400];
    int n = xfer__url_hostport(s, u, hp, sizeof(hp));
    if (u->host_len + 10 < sizeof(hp)) {
      FZ_CHECK(n > 0 && (size_t)n == strlen(hp), "hostport %d", n);
      FZ_CHECK(strrchr(hp, ':') != NULL, "hostport without port");
      FZ_CHECK((unsigned)atoi(strrchr(hp, ':') + 1) == u->port,
               "hostport port");
    } else {
      FZ_CHECK(n == -1 || (size_t)n < sizeof(hp), "hostport overflow");
    }
    /* Too small a buffer is refused, never overrun. */
    if (n > 0) {
      char *small = malloc((size_t)n);
      FZ_CHECK(small != NULL, "oom");
      FZ_CHECK(xfer__url_hostport(s, u, small, (size_t)n) == -1,
               "hostport fits without its NUL");
      free(small);
    }
  }
}

static int url_same(const char *a, const struct xfer_url *ua, const char *b,
                    const struct xfer_url *ub) {
  return ua->scheme == ub->scheme && ua->port == ub->port &&
         ua->host_is_ipv6 == ub->host_is_ipv6 &&
         ua->host_is_ipv4 == ub->host_is_ipv4 &&
         ua->host_len == ub->host_len &&
         memcmp(a + ua->host_off, b + ub->host_off, ua->host_len) == 0 &&
         ua->has_userinfo == ub->has_userinfo &&
         ua->user_len == ub->user_len &&
         memcmp(a + ua->user_off, b + ub->user_off, ua->user_len) == 0 &&
         ua->pass_len == ub->pass_len &&
         memcmp(a + ua->pass_off, b + ub->pass_off, ua->pass_len) == 0 &&
         ua->path_len == ub->path_len &&
         memcmp(a + ua->path_off, b + ub->path_off, ua->path_len) == 0 &&
         ua->auth_len == ub->auth_len &&
         memcmp(a + ua->auth_off, b + ub->auth_off, ua->auth_len) == 0;
}

/* The URL rebuilt from its components parses to the same components. */
static void url_check_rebuild(const char *s, const struct xfer_url *u) {
  struct fz_sb b = {0};
  struct xfer_url v;
  int rc;
  fz_sb_put(&b, u->scheme == XFER_SCHEME_HTTPS ? "https://" : "http://",
            u->scheme == XFER_SCHEME_HTTPS ? 8 : 7);
  fz_sb_put(&b, s + u->auth_off, u->auth_len);
  fz_sb_put(&b, s + u->path_off, u->path_len);
  rc = xfer__url_parse(b.p, b.len, &v);
  FZ_CHECK(rc == 0, "rebuilt \"%s\" does not parse: %d", b.p, rc);
  FZ_CHECK(url_same(s, u, b.p, &v), "rebuilt \"%s\" parses differently",
           b.p);
  fz_sb_free(&b);
}

static void url_check_result(const char *base, const char *r) {
  struct xfer_url u;
  size_t n = strlen(r), i;
  int rc, err = -1;
  char *again;
  FZ_CHECK(strncmp(r, "http://", 7) == 0 || strncmp(r, "https://", 8) == 0,
           "resolved \"%s\" is not absolute", r);
  /* Bytes >= 0x80 can only come from the base (the parser accepts them
   * raw in a path or query; a location's are percent-encoded):
   * fuzz_redirect checks that with ASCII bases. */
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)r[i];
    FZ_CHECK(c > 0x20 && c != 0x7f, "byte 0x%02x in resolved \"%s\"", c, r);
    if (c >= 0x80)
      FZ_CHECK(strchr(base, (char)c) != NULL,
               "byte 0x%02x in resolved \"%s\" not from the base", c, r);
  }
  FZ_CHECK(strchr(r, '#') == NULL, "fragment kept in \"%s\"", r);
  rc = xfer__url_parse(r, n, &u);
  FZ_CHECK(rc == 0, "resolved \"%s\" does not parse: %d (base \"%s\")", r, rc,
           base);
  FZ_CHECK(u.path_len > 0 && r[u.path_off] == '/',
           "resolved \"%s\" has no path", r);
  /* Same document: itself. */
  again = xfer__url_resolve(r, "", 0, &err);
  FZ_CHECK(again != NULL && err == 0, "\"\" against \"%s\" fails: %d", r,
           err);
  FZ_CHECK(strcmp(again, r) == 0, "\"\" against \"%s\" gives \"%s\"", r,
           again);
  free(again);
  /* As an absolute reference it resolves to itself once its dot segments
   * are gone (an empty reference keeps the base's path as it is, dots
   * included, RFC 3986 5.2.2; the next resolution removes them). */
  again = xfer__url_resolve(r, r, n, &err);
  FZ_CHECK(again != NULL && err == 0, "\"%s\" against itself fails: %d", r,
           err);
  {
    char *third = xfer__url_resolve(again, again, strlen(again), &err);
    FZ_CHECK(third != NULL && strcmp(third, again) == 0,
             "not idempotent: \"%s\" -> \"%s\" -> \"%s\"", r, again,
             third ? third : "(null)");
    free(third);
  }
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct xfer_url u, v;
  char *exact, *nul;
  const uint8_t *nl;
  int rc, rc2;

  if (size > 70000) return 0;
  exact = fz_dup(data, size);
  nul = fz_strdup(data, size);

  rc = xfer__url_parse(exact, size, &u);
  FZ_CHECK(rc == 0 || rc == XFERE_URL_MALFORMAT ||
               rc == XFERE_UNSUPPORTED_PROTOCOL,
           "parse returned %d", rc);
  rc2 = xfer__url_parse(nul, size, &v);
  FZ_CHECK(rc == rc2, "explicit length %d vs NUL-terminated copy %d", rc, rc2);
  if (rc == 0) {
    FZ_CHECK(url_same(exact, &u, nul, &v), "two parses differ");
    FZ_CHECK(memchr(exact, '\0', size) == NULL, "embedded NUL accepted");
    url_check_parsed(exact, size, &u);
    url_check_rebuild(exact, &u);
  }
  /* Up to the first NUL, as a C string caller would pass it. */
  rc2 = xfer__url_parse(nul, strlen(nul), &v);
  if (rc2 == 0) url_check_parsed(nul, strlen(nul), &v);

  nl = memchr(data, '\n', size);
  if (nl) {
    size_t blen = (size_t)(nl - data), llen = size - blen - 1;
    char *base = fz_strdup(data, blen);
    char *loc = fz_dup(nl + 1, llen);
    int err = -1;
    char *r = xfer__url_resolve(base, loc, llen, &err);
    if (r) {
      FZ_CHECK(err == 0, "result with err %d", err);
      url_check_result(base, r);
      free(r);
    } else {
      FZ_CHECK(err == XFERE_URL_MALFORMAT ||
                   err == XFERE_UNSUPPORTED_PROTOCOL ||
                   err == XFERE_OUT_OF_MEMORY,
               "resolve failed with %d", err);
      /* A base that parses and a location made only of path characters
       * always resolve. */
      if (xfer__url_parse(base, strlen(base), &v) == 0) {
        size_t i;
        int plain = llen > 0;
        for (i = 0; i < llen; i++) {
          unsigned char c = (unsigned char)loc[i];
          if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '/' || c == '.' || c == '-' || c == '_'))
            plain = 0;
        }
        if (plain && blen + llen < 60000 &&
            !(llen >= 2 && loc[0] == '/' && loc[1] == '/')) /* a host */
          FZ_CHECK(0, "plain path \"%.*s\" against \"%s\" failed: %d",
                   (int)llen, loc, base, err);
      }
    }
    /* A NULL location is an empty one. */
    r = xfer__url_resolve(base, NULL, 0, &err);
    if (r) {
      url_check_result(base, r);
      free(r);
    }
    free(base);
    free(loc);
  }
  free(exact);
  free(nul);
  return 0;
}
