/*
 * fuzz_cookie.c -- the cookie engine's parsers (cookie.h): Set-Cookie
 * values from a response, lines of a cookie file, cookie dates.
 *
 * Byte 0 picks the origin (one of eight hosts, among them a public suffix
 * and an address; https or not; a path); the rest is split at '\n' into
 * lines, each parsed from an exact-size copy (ASan sees any read past it)
 * as a Set-Cookie value, then as a cookie-file line into a second store.
 * Invariants:
 *  - every stored cookie: name and value without control bytes (nor TAB),
 *    name+value within XFER_COOKIE_NV_MAX, a lowercase domain of
 *    letters, digits, '-', '_', '.', ':' without a leading dot, a path
 *    that starts with '/'; no more than XFER_COOKIE_PER_DOMAIN a domain;
 *    nothing stored from a Set-Cookie over XFER_COOKIE_LINE_MAX;
 *  - the Netscape lines (getinfo COOKIELIST, the jar) read back into an
 *    empty store give the same lines;
 *  - the Cookie field for each host has no control byte and stays within
 *    XFER_COOKIE_FIELD_MAX;
 *  - a cookie date is 0 or after 1601.
 *
 * Statics are prefixed ck_ so that the regression test can #include every
 * target into one file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "cookie.h"
#include "cookie_int.h"

#define CK_NOW ((int64_t)1700000000)

static const char *const ck_hosts[8] = {
  "a.example.com", "example.com", "www.shop.co.uk", "co.uk",
  "127.0.0.1", "x.github.io", "localhost", "A.Example.COM"};
static const char *const ck_paths[4] = {"/", "/a/b/c?x=1", "", "/a"};

static void ck_check_store(struct xfer_cookies *c) {
  const struct xfer_cookie *k, *o;
  size_t n = 0;
  for (k = c->list; k; k = k->next, n++) {
    size_t nl = strlen(k->name), vl = strlen(k->value), i, same = 0;
    FZ_CHECK(nl + vl <= XFER_COOKIE_NV_MAX, "name+value %zu", nl + vl);
    for (i = 0; i < nl; i++)
      FZ_CHECK((unsigned char)k->name[i] >= 0x20 && k->name[i] != 0x7f,
               "control byte in a name");
    for (i = 0; i < vl; i++)
      FZ_CHECK((unsigned char)k->value[i] >= 0x20 && k->value[i] != 0x7f,
               "control byte in a value");
    FZ_CHECK(k->domain[0] && k->domain[0] != '.', "domain '%s'", k->domain);
    for (i = 0; k->domain[i]; i++) {
      char ch = k->domain[i];
      FZ_CHECK((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '_' || ch == '.' || ch == ':',
               "domain byte 0x%02x", (unsigned char)ch);
    }
    FZ_CHECK(k->path[0] == '/', "path '%s'", k->path);
    for (o = c->list; o; o = o->next)
      same += strcmp(o->domain, k->domain) == 0;
    FZ_CHECK(same <= XFER_COOKIE_PER_DOMAIN, "%zu in %s", same, k->domain);
  }
  FZ_CHECK(n == c->n, "count %zu vs %zu", n, c->n);
}

/* The store's lines, read back oldest first into a new store, give the
 * same lines. */
static void ck_round_trip(struct xfer_cookies *c) {
  struct xfer_slist *a, *b, *p, *q;
  struct xfer_cookies *d = xfer__cookies_new();
  const char *v[4096];
  size_t n = 0;
  int oom;
  if (!d) abort();
  a = xfer__cookies_list(c, &oom);
  FZ_CHECK(!oom, "list oom");
  for (p = a; p && n < 4096; p = p->next) v[n++] = p->data;
  while (n--)
    FZ_CHECK(xfer__cookie_line(d, v[n], strlen(v[n]), CK_NOW, 0) ==
                 XFER_COOKIE_STORED,
             "line not read back: %s", v[n]);
  b = xfer__cookies_list(d, &oom);
  for (p = a, q = b; p && q; p = p->next, q = q->next)
    FZ_CHECK(strcmp(p->data, q->data) == 0, "'%s' came back as '%s'",
             p->data, q->data);
  FZ_CHECK(!p && !q, "not as many lines back");
  xfer_slist_free_all(a);
  xfer_slist_free_all(b);
  xfer__cookies_free(d);
}

static void ck_check_field(struct xfer_cookies *c, const char *host,
                           const char *path, int secure) {
  struct xfer_cookie_origin o;
  char *f;
  size_t i, n;
  int oom;
  o.host = host;
  o.host_len = strlen(host);
  o.path = path;
  o.path_len = strlen(path);
  o.secure = secure;
  f = xfer__cookie_field(c, &o, CK_NOW, &oom);
  if (!f) return;
  n = strlen(f);
  FZ_CHECK(n && n <= XFER_COOKIE_FIELD_MAX, "field of %zu bytes", n);
  for (i = 0; i < n; i++)
    FZ_CHECK((unsigned char)f[i] >= 0x20 && f[i] != 0x7f,
             "control byte in the field");
  free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct xfer_cookies *c, *file;
  struct xfer_cookie_origin o;
  size_t off = 1, i;
  if (size < 1) return 0;
  c = xfer__cookies_new();
  file = xfer__cookies_new();
  if (!c || !file) abort();
  o.host = ck_hosts[data[0] & 7];
  o.host_len = strlen(o.host);
  o.path = ck_paths[(data[0] >> 3) & 3];
  o.path_len = strlen(o.path);
  o.secure = (data[0] >> 5) & 1;
  while (off <= size) {
    const uint8_t *nl = memchr(data + off, '\n', size - off);
    size_t len = (nl ? (size_t)(nl - data) : size) - off;
    char *copy = malloc(len ? len : 1);
    size_t before = c->n;
    enum xfer_cookie_res r;
    int64_t t;
    if (!copy) abort();
    memcpy(copy, data + off, len);
    r = xfer__cookie_parse(c, copy, len, &o, CK_NOW);
    FZ_CHECK(r != XFER_COOKIE_NOMEM, "no memory?");
    if (len > XFER_COOKIE_LINE_MAX)
      FZ_CHECK(r == XFER_COOKIE_TOO_BIG && c->n == before, "long line kept");
    xfer__cookie_line(file, copy, len, CK_NOW, data[0] >> 7);
    t = xfer__cookie_date(copy, len);
    FZ_CHECK(t == 0 || t >= -11644473600LL, "date %lld", (long long)t);
    free(copy);
    off += len + 1;
  }
  ck_check_store(c);
  ck_check_store(file);
  ck_round_trip(c);
  ck_round_trip(file);
  for (i = 0; i < 8; i++) {
    ck_check_field(c, ck_hosts[i], "/a/b/c", (int)(i & 1));
    ck_check_field(file, ck_hosts[i], "/", 1);
  }
  xfer__cookies_clear(c, 1);
  ck_check_store(c);
  xfer__cookies_free(c);
  xfer__cookies_free(file);
  return 0;
}
