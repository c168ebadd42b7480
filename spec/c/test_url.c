/* test_url.c -- xfer__url_parse, xfer__url_resolve, xfer__url_hostport. */
#include "testlib.h"
#include "url.h"
#include "xfer.h"

static int parse(const char *s, struct xfer_url *u) {
  return xfer__url_parse(s, strlen(s), u);
}

static int perr(const char *s) {
  struct xfer_url u;
  return parse(s, &u);
}

/* ---- parse: valid ---- */

/* A URL that parses, and what of the result to check: the scheme and port
 * (0: not checked), the flags named in `flags` ("+ipv4" set, "-ipv4"
 * clear), and the parts that are not NULL ("" for an empty one). */
struct parse_case {
  const char *name, *url;
  int scheme, port;
  const char *flags;
  const char *host, *path, *auth, *user, *pass;
};

#define HTTP XFER_SCHEME_HTTP
#define HTTPS XFER_SCHEME_HTTPS

static const struct parse_case parse_cases[] = {
  {"plain", "http://example.com/a/b?c=d", HTTP, 80,
   "-explicit -userinfo -ipv4 -ipv6 -slash", .host = "example.com",
   .path = "/a/b?c=d", .auth = "example.com"},
  {"no path", "http://example.com", .host = "example.com", .path = ""},
  {"port", "http://example.com:8080/x", .port = 8080, .flags = "+explicit",
   .host = "example.com", .path = "/x", .auth = "example.com:8080"},
  {"port max", "http://h:65535/", .port = 65535},
  {"port leading zeros", "http://h:00080/", .port = 80},
  {"empty port is default", "https://h:/x", .port = 443,
   .flags = "-explicit"},
  {"https default port", "https://secure.example/", HTTPS, 443,
   .host = "secure.example"},
  {"uppercase scheme", "HTTP://Example.COM/", .scheme = HTTP},
  {"mixed case scheme", "HtTpS://x/", .scheme = HTTPS},
  {"no scheme guesses http", "example.com/x", HTTP, 80,
   .host = "example.com", .path = "/x"},
  {"no scheme, address and port", "127.0.0.1:8080/a", .port = 8080,
   .flags = "+ipv4", .host = "127.0.0.1", .path = "/a"},
  {"no scheme, host and port", "localhost:3000", .port = 3000,
   .host = "localhost"},
  {"userinfo", "http://user:pa%40ss@host.example:81/p", .port = 81,
   .flags = "+userinfo", .host = "host.example", .user = "user",
   .pass = "pa%40ss"},
  {"userinfo without password", "http://user@host/", .flags = "+userinfo",
   .host = "host", .user = "user", .pass = ""},
  {"userinfo without scheme", "u:p@host/x", .flags = "+userinfo",
   .host = "host", .user = "u", .pass = "p"},
  {"@ in path is not userinfo", "http://host/a@b?c=d@e",
   .flags = "-userinfo", .host = "host", .path = "/a@b?c=d@e"},
  {"@ in query is not userinfo", "http://host?x=a@b", .flags = "-userinfo"},
  {"ipv4", "http://192.168.0.255:99/", .port = 99, .flags = "+ipv4 -ipv6",
   .host = "192.168.0.255"},
  {"ipv6", "http://[2001:db8::1]/x", .port = 80,
   .flags = "+ipv6 -ipv4 -explicit", .host = "2001:db8::1"},
  {"ipv6 and port", "https://[::1]:8443", .port = 8443, .flags = "+ipv6",
   .host = "::1", .path = ""},
  {"ipv6 with ipv4 end", "http://[::ffff:1.2.3.4]/", .flags = "+ipv6"},
  {"query without path", "http://h?x=1", .flags = "+slash", .host = "h",
   .path = "?x=1"},
  {"fragment dropped", "http://h/p?q#frag?x/y", .path = "/p?q"},
  {"fragment without path", "http://h#f", .host = "h", .path = ""},
  {"high bytes in path", "http://h/caf\xc3\xa9?q=\xff",
   .path = "/caf\xc3\xa9?q=\xff"},
  {"backslash kept raw", "http://h/a\\b", .host = "h", .path = "/a\\b"},
  {"host charset", "http://a-b_c~d.e%41f/", .flags = "-ipv4",
   .host = "a-b_c~d.e%41f"},
};

/* Checks that [off, off+len) of url spells want (unless want is NULL). */
#define PART(url, u, field, want)                                    \
  do {                                                               \
    if (want)                                                        \
      CHECK_MEM((url) + (u).field##_off, (u).field##_len, want,      \
                strlen(want));                                       \
  } while (0)

static int flag_of(const struct xfer_url *u, const char *name, size_t n) {
  static const char *const names[] = {"explicit", "userinfo", "ipv4", "ipv6",
                                      "slash"};
  int bits[5];
  size_t i;
  bits[0] = u->port_explicit, bits[1] = u->has_userinfo;
  bits[2] = u->host_is_ipv4, bits[3] = u->host_is_ipv6;
  bits[4] = u->path_needs_slash;
  for (i = 0; i < NROWS(names); i++)
    if (strlen(names[i]) == n && !memcmp(names[i], name, n)) return bits[i];
  tl_fail(__FILE__, __LINE__, "no flag \"%.*s\"", (int)n, name);
}

TEST(parse_valid) {
  const struct parse_case *c;
  FOR_ROWS(c, parse_cases) {
    struct xfer_url u;
    const char *f = c->flags ? c->flags : "";
    tl_row("%s %s", c->name, tl_quote(c->url, strlen(c->url)));
    CHECK_EQ(parse(c->url, &u), 0);
    if (c->scheme) CHECK_EQ(u.scheme, c->scheme);
    if (c->port) CHECK_EQ(u.port, c->port);
    while (*f) {
      size_t n = strcspn(f + 1, " ");
      int want = *f == '+';
      CHECKF(flag_of(&u, f + 1, n) == want, "%.*s is %d, want %d", (int)n,
             f + 1, !want, want);
      f += 1 + n;
      f += strspn(f, " ");
    }
    PART(c->url, u, host, c->host);
    PART(c->url, u, path, c->path);
    PART(c->url, u, auth, c->auth);
    PART(c->url, u, user, c->user);
    PART(c->url, u, pass, c->pass);
  }
}

TEST(parse_max_length) {
  size_t n = 65536;
  char *s = malloc(n + 1);
  struct xfer_url u;
  memcpy(s, "http://h/", 9);
  memset(s + 9, 'a', n - 9);
  s[n] = '\0';
  CHECK_EQ(xfer__url_parse(s, n, &u), 0);
  free(s);
}

/* ---- parse: invalid ---- */

static const struct {
  const char *name, *url;
  size_t len;
  int want;
} refused[] = {
  {"empty", LIT(""), XFERE_URL_MALFORMAT},
  {"no host", LIT("http://"), XFERE_URL_MALFORMAT},
  {"no host", LIT("http:///x"), XFERE_URL_MALFORMAT},
  {"no host", LIT("http://:80/"), XFERE_URL_MALFORMAT},
  {"no host", LIT("http://user@/"), XFERE_URL_MALFORMAT},
  {"no host", LIT("http://?x"), XFERE_URL_MALFORMAT},
  {"no host", LIT("/just/a/path"), XFERE_URL_MALFORMAT},
  {"no host", LIT("http:x"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:0/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:65536/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:99999999999999999999/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:8a/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:-1/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:+80/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://h:80:80/"), XFERE_URL_MALFORMAT},
  {"bad port", LIT("http://[::1]x/"), XFERE_URL_MALFORMAT},
  {"space", LIT("http://h/a b"), XFERE_URL_MALFORMAT},
  {"space", LIT("http://h /"), XFERE_URL_MALFORMAT},
  {"space", LIT(" http://h/"), XFERE_URL_MALFORMAT},
  {"space", LIT("http://h/#a b"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\r\nHost: evil"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\rb"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\nb"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\tb"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\x7f"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\x01"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h\r\n/"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h/a\0b"), XFERE_URL_MALFORMAT},
  {"control bytes", LIT("http://h\0.evil/"), XFERE_URL_MALFORMAT},
  {"unsupported scheme", LIT("ftp://h/x"), XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", LIT("file:///etc/passwd"), XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", LIT("javascript:alert(1)"), XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", LIT("gopher://h/"), XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", LIT("httpx://h/"), XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", LIT("data:text/plain,hi"), XFERE_UNSUPPORTED_PROTOCOL},
  {"bad ipv6", LIT("http://[::1/"), XFERE_URL_MALFORMAT},
  {"bad ipv6", LIT("http://[::1"), XFERE_URL_MALFORMAT},
  {"bad ipv6", LIT("http://[zz::1]/"), XFERE_URL_MALFORMAT},
  {"bad ipv6", LIT("http://[]/"), XFERE_URL_MALFORMAT},
  {"bad ipv6", LIT("http://[1:2:3:4:5:6:7:8:9]/"), XFERE_URL_MALFORMAT},
  {"bad ipv6", LIT("http://[fe80::1%25eth0]/"), XFERE_URL_MALFORMAT},
  {"bad ipv6", LIT("http://::1/"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://1.2.3.999/"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://1.2.3/"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://1.2.3.4.5/"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://1.2.3.4./"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://1..3.4/"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://010.0.0.1/"), XFERE_URL_MALFORMAT},
  {"bad ipv4", LIT("http://1234/"), XFERE_URL_MALFORMAT},
  {"ipv4 0.0.0.0 is fine", LIT("http://0.0.0.0/"), 0},
  {"bad host chars", LIT("http://a<b/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://a>b/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://a\"b/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://a\\b/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://caf\xc3\xa9.example/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://a@b@c/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://a%zz/"), XFERE_URL_MALFORMAT},
  {"bad host chars", LIT("http://a%4/"), XFERE_URL_MALFORMAT},
};

TEST(parse_refused) {
  size_t i;
  for (i = 0; i < NROWS(refused); i++) {
    struct xfer_url u;
    tl_row("%s %s", refused[i].name, tl_quote(refused[i].url, refused[i].len));
    CHECK_EQ(xfer__url_parse(refused[i].url, refused[i].len, &u),
             refused[i].want);
  }
  tl_row_done();
}

TEST(parse_too_long) {
  size_t n = 65537;
  char *s = malloc(n + 1);
  memcpy(s, "http://h/", 9);
  memset(s + 9, 'a', n - 9);
  s[n] = '\0';
  CHECK_EQ(perr(s), XFERE_URL_MALFORMAT);
  free(s);
}

/* ---- hostport ---- */

TEST(hostport) {
  static const struct {
    const char *name, *url, *want;
  } cases[] = {
    {"lowercased, default port", "http://Example.COM/x", "example.com:80"},
    {"ipv6 in brackets", "https://[2001:DB8::1]:8443/", "[2001:db8::1]:8443"},
    {"userinfo left out", "HTTPS://u:p@H:443", "h:443"},
  };
  size_t i;
  for (i = 0; i < NROWS(cases); i++) {
    char buf[64];
    struct xfer_url u;
    tl_row("%s \"%s\"", cases[i].name, cases[i].url);
    CHECK_EQ(parse(cases[i].url, &u), 0);
    CHECK_EQ(xfer__url_hostport(cases[i].url, &u, buf, sizeof(buf)),
             strlen(cases[i].want));
    CHECK_STR(buf, cases[i].want);
  }
  tl_row_done();
}

TEST(hostport_too_small) {
  char buf[16];
  struct xfer_url u;
  const char *a = "http://example.com/";
  CHECK_EQ(parse(a, &u), 0);
  CHECK_EQ(xfer__url_hostport(a, &u, buf, 14), -1);  /* no room for NUL */
  CHECK_EQ(xfer__url_hostport(a, &u, buf, 15), 14);
  CHECK_STR(buf, "example.com:80");
  CHECK_EQ(xfer__url_hostport(a, &u, buf, 0), -1);
}

/* ---- resolve ---- */

/* A reference resolved against a base: the URL it gives (want), or, when
 * want is NULL, the error (err). */
struct res_case {
  const char *name, *base, *loc;
  size_t len;
  const char *want;
  int err;
};

static void resolve_rows(const struct res_case *c, size_t n) {
  size_t i;
  for (i = 0; i < n; i++, c++) {
    int err = -1;
    char *r;
    tl_row("%s: resolve(\"%s\", %s)", c->name, c->base,
           tl_quote(c->loc, c->len));
    r = xfer__url_resolve(c->base, c->loc, c->len, &err);
    if (c->want) {
      CHECK_STR(r, c->want);
      CHECK_EQ(err, 0);
    } else {
      CHECKF(r == NULL, "resolved to %s, want error %d", r, c->err);
      CHECK_EQ(err, c->err);
    }
    free(r);
  }
  tl_row_done();
}

#define B "http://a/b/c/d;p?q"

/* RFC 3986 5.4: the examples. */
static const struct res_case rfc_cases[] = {
  /* 5.4.1 normal examples */
  {"rfc_normal_scheme_g_h", B, LIT("g:h"), NULL, XFERE_UNSUPPORTED_PROTOCOL},
  {"rfc_normal_g", B, LIT("g"), "http://a/b/c/g", 0},
  {"rfc_normal_dot_g", B, LIT("./g"), "http://a/b/c/g", 0},
  {"rfc_normal_g_slash", B, LIT("g/"), "http://a/b/c/g/", 0},
  {"rfc_normal_abs_g", B, LIT("/g"), "http://a/g", 0},
  {"rfc_normal_netpath", B, LIT("//g"), "http://g/", 0},
  {"rfc_normal_query", B, LIT("?y"), "http://a/b/c/d;p?y", 0},
  {"rfc_normal_g_query", B, LIT("g?y"), "http://a/b/c/g?y", 0},
  {"rfc_normal_frag", B, LIT("#s"), "http://a/b/c/d;p?q", 0},
  {"rfc_normal_g_frag", B, LIT("g#s"), "http://a/b/c/g", 0},
  {"rfc_normal_g_query_frag", B, LIT("g?y#s"), "http://a/b/c/g?y", 0},
  {"rfc_normal_semi", B, LIT(";x"), "http://a/b/c/;x", 0},
  {"rfc_normal_g_semi", B, LIT("g;x"), "http://a/b/c/g;x", 0},
  {"rfc_normal_g_semi_query_frag", B, LIT("g;x?y#s"), "http://a/b/c/g;x?y", 0},
  {"rfc_normal_empty", B, LIT(""), "http://a/b/c/d;p?q", 0},
  {"rfc_normal_dot", B, LIT("."), "http://a/b/c/", 0},
  {"rfc_normal_dot_slash", B, LIT("./"), "http://a/b/c/", 0},
  {"rfc_normal_dotdot", B, LIT(".."), "http://a/b/", 0},
  {"rfc_normal_dotdot_slash", B, LIT("../"), "http://a/b/", 0},
  {"rfc_normal_dotdot_g", B, LIT("../g"), "http://a/b/g", 0},
  {"rfc_normal_dotdot2", B, LIT("../.."), "http://a/", 0},
  {"rfc_normal_dotdot2_slash", B, LIT("../../"), "http://a/", 0},
  {"rfc_normal_dotdot2_g", B, LIT("../../g"), "http://a/g", 0},
  /* 5.4.2 abnormal examples */
  {"rfc_abnormal_above_root", B, LIT("../../../g"), "http://a/g", 0},
  {"rfc_abnormal_above_root", B, LIT("../../../../g"), "http://a/g", 0},
  {"rfc_abnormal_abs_dots", B, LIT("/./g"), "http://a/g", 0},
  {"rfc_abnormal_abs_dots", B, LIT("/../g"), "http://a/g", 0},
  {"rfc_abnormal_dot_names", B, LIT("g."), "http://a/b/c/g.", 0},
  {"rfc_abnormal_dot_names", B, LIT(".g"), "http://a/b/c/.g", 0},
  {"rfc_abnormal_dot_names", B, LIT("g.."), "http://a/b/c/g..", 0},
  {"rfc_abnormal_dot_names", B, LIT("..g"), "http://a/b/c/..g", 0},
  {"rfc_abnormal_nonsensical_dots", B, LIT("./../g"), "http://a/b/g", 0},
  {"rfc_abnormal_nonsensical_dots", B, LIT("./g/."), "http://a/b/c/g/", 0},
  {"rfc_abnormal_nonsensical_dots", B, LIT("g/./h"), "http://a/b/c/g/h", 0},
  {"rfc_abnormal_nonsensical_dots", B, LIT("g/../h"), "http://a/b/c/h", 0},
  {"rfc_abnormal_nonsensical_dots", B, LIT("g;x=1/./y"),
   "http://a/b/c/g;x=1/y", 0},
  {"rfc_abnormal_nonsensical_dots", B, LIT("g;x=1/../y"), "http://a/b/c/y", 0},
  {"rfc_abnormal_dots_in_query", B, LIT("g?y/./x"), "http://a/b/c/g?y/./x", 0},
  {"rfc_abnormal_dots_in_query", B, LIT("g?y/../x"), "http://a/b/c/g?y/../x",
   0},
  {"rfc_abnormal_dots_in_fragment", B, LIT("g#s/./x"), "http://a/b/c/g", 0},
  {"rfc_abnormal_dots_in_fragment", B, LIT("g#s/../x"), "http://a/b/c/g", 0},
  /* The backward-compatible reading of 5.4.2's "http:g". */
  {"rfc_abnormal_same_scheme_relative", B, LIT("http:g"), "http://a/b/c/g", 0},
  {"rfc_abnormal_same_scheme_relative", "https://a/b", LIT("http:g"), NULL,
   XFERE_URL_MALFORMAT},
};

TEST(rfc3986_examples) { resolve_rows(rfc_cases, NROWS(rfc_cases)); }

/* The rest: other schemes and hosts, bytes to refuse or encode, odd bases. */
static const struct res_case resolve_cases[] = {
  {"scheme relative", "https://a/b/c", LIT("//other:8443/p?q#f"),
   "https://other:8443/p?q", 0},
  {"scheme relative", "http://a/b/c", LIT("//other"), "http://other/", 0},
  {"absolute, other host", B, LIT("https://other.example/x"),
   "https://other.example/x", 0},
  {"absolute, other host", B, LIT("HTTP://Other/a/../b"), "http://Other/b", 0},
  {"absolute, other host", B, LIT("http://o/?x"), "http://o/?x", 0},
  {"https to http", "https://secure/a", LIT("http://plain/b"), "http://plain/b",
   0},
  {"unsupported scheme", B, LIT("javascript:alert(1)"), NULL,
   XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", B, LIT("ftp://h/x"), NULL, XFERE_UNSUPPORTED_PROTOCOL},
  {"unsupported scheme", B, LIT("file:///etc/passwd"), NULL,
   XFERE_UNSUPPORTED_PROTOCOL},
  {"control bytes", B, LIT("/a\r\nSet-Cookie: x=1"), NULL, XFERE_URL_MALFORMAT},
  {"control bytes", B, LIT("/a\rb"), NULL, XFERE_URL_MALFORMAT},
  {"control bytes", B, LIT("/a\nb"), NULL, XFERE_URL_MALFORMAT},
  {"control bytes", B, LIT("/a\tb"), NULL, XFERE_URL_MALFORMAT},
  {"control bytes", B, LIT("/a\x7f"), NULL, XFERE_URL_MALFORMAT},
  {"control bytes", B, LIT("/a\0b"), NULL, XFERE_URL_MALFORMAT},
  {"space encoded", B, LIT("/a b?c d"), "http://a/a%20b?c%20d", 0},
  {"utf-8 encoded", B, LIT("/caf\xc3\xa9"), "http://a/caf%C3%A9", 0},
  {"whitespace trimmed", B, LIT("  \t/x \t "), "http://a/x", 0},
  {"whitespace trimmed", B, LIT(" \t "), "http://a/b/c/d;p?q", 0},
  {"clamps at root", "http://h/one/two", LIT("../../../../x"), "http://h/x", 0},
  {"clamps at root", "http://h/", LIT("/../../x"), "http://h/x", 0},
  {"clamps at root", "http://h/a", LIT(".."), "http://h/", 0},
  {"base fragment not kept", "http://h/p?q#frag", LIT(""), "http://h/p?q", 0},
  {"base fragment not kept", "http://h/p?q#frag", LIT("#other"), "http://h/p?q",
   0},
  {"base fragment not kept", "http://h/p#frag", LIT("x"), "http://h/x", 0},
  /* a base without a path or a scheme still gives a full URL */
  {"base forms", "http://h", LIT("x"), "http://h/x", 0},
  {"base forms", "http://h?a=1", LIT("?b=2"), "http://h/?b=2", 0},
  {"base forms", "http://h?a=1", LIT(""), "http://h/?a=1", 0},
  {"base forms", "example.com/d/f", LIT("g"), "http://example.com/d/g", 0},
  {"base forms", "http://u:p@h:81/d/f", LIT("g"), "http://u:p@h:81/d/g", 0},
  {"base forms", "http://[::1]:8080/a/b", LIT("c"), "http://[::1]:8080/a/c", 0},
  {"empty query replaces", B, LIT("?"), "http://a/b/c/d;p?", 0},
  {"bad result", B, LIT("//"), NULL, XFERE_URL_MALFORMAT},
  {"bad result", B, LIT("http://"), NULL, XFERE_URL_MALFORMAT},
  {"bad result", B, LIT("http://h:0/"), NULL, XFERE_URL_MALFORMAT},
  {"bad result", B, LIT("//bad<host/"), NULL, XFERE_URL_MALFORMAT},
  {"bad result", "ftp://a/", LIT("x"), NULL, XFERE_UNSUPPORTED_PROTOCOL},
  {"bad result", "http://", LIT("x"), NULL, XFERE_URL_MALFORMAT},
};

TEST(resolve) { resolve_rows(resolve_cases, NROWS(resolve_cases)); }

TEST(resolve_too_long) {
  size_t n = 70000;
  char *s = malloc(n);
  struct res_case c = {"too long", B, NULL, 0, NULL, XFERE_URL_MALFORMAT};
  memset(s, 'a', n);
  s[0] = '/';
  c.loc = s;
  c.len = n;
  resolve_rows(&c, 1);
  /* Encoding can make it too long too. */
  memset(s + 1, ' ', 30000);
  c.name = "too long once encoded";
  c.len = 30001 + 1;
  resolve_rows(&c, 1);
  free(s);
}

TEST(resolve_null_err_ok) {
  char *r = xfer__url_resolve(B, "g", 1, NULL);
  CHECK_STR(r, "http://a/b/c/g");
  free(r);
  CHECK(xfer__url_resolve(B, "\r", 1, NULL) == NULL);
}

/* Host names: up to XFER_URL_MAX_HOST characters. */
TEST(host_length_limit) {
  char url[400];
  struct xfer_url u;
  memcpy(url, "http://", 7);
  memset(url + 7, 'h', XFER_URL_MAX_HOST);
  strcpy(url + 7 + XFER_URL_MAX_HOST, "/x");
  CHECK_EQ(parse(url, &u), 0);
  CHECK_EQ(u.host_len, XFER_URL_MAX_HOST);
  memset(url + 7, 'h', XFER_URL_MAX_HOST + 1);
  strcpy(url + 8 + XFER_URL_MAX_HOST, "/x");
  CHECK_EQ(perr(url), XFERE_URL_MALFORMAT);
}

/* ---- xfer_easy_escape / xfer_easy_unescape (curl_easy_escape's) ---- */

TEST(escape_and_unescape) {
  static const char bin[] = {'a', 0, '/', ' ', (char)0xff, '~'};
  char *s;
  int n = -1;
  s = xfer_easy_escape(NULL, "a b/c?d=é&-._~", 0);
  CHECK_STR(s, "a%20b%2Fc%3Fd%3D%C3%A9%26-._~");
  xfer_free(s);
  /* a length: NUL bytes and all */
  s = xfer_easy_escape(NULL, bin, (int)sizeof(bin));
  CHECK_STR(s, "a%00%2F%20%FF~");
  xfer_free(s);
  s = xfer_easy_unescape(NULL, "a%00%2f%20%FF~", 0, &n);
  CHECK_EQ(n, (int)sizeof(bin));
  CHECK(memcmp(s, bin, sizeof(bin)) == 0);
  CHECK_EQ(s[n], 0);
  xfer_free(s);
  /* what is not %XX stays as it is; '+' is not a space */
  s = xfer_easy_unescape(NULL, "%zz%4%%41+%", 0, &n);
  CHECK_STR(s, "%zz%4%A+%");
  CHECK_EQ(n, 9);
  xfer_free(s);
  CHECK(xfer_easy_escape(NULL, NULL, 0) == NULL);
  CHECK(xfer_easy_escape(NULL, "x", -1) == NULL);
  CHECK(xfer_easy_unescape(NULL, "x", -1, &n) == NULL);
  s = xfer_easy_escape(NULL, "", 0);
  CHECK_STR(s, "");
  xfer_free(s);
}
