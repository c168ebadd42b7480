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

/* Checks that [off, off+len) of url spells want. */
static void part_is(const char *url, size_t off, size_t len,
                    const char *want, int line) {
  if (len != strlen(want) || memcmp(url + off, want, len) != 0)
    tl_fail(__FILE__, line, "part \"%.*s\" != \"%s\"", (int)len, url + off,
            want);
}
#define PART(url, u, field, want) \
  part_is(url, (u).field##_off, (u).field##_len, want, __LINE__)

static void res_ok(const char *base, const char *loc, const char *want,
                   int line) {
  int err = -1;
  char *r = xfer__url_resolve(base, loc, strlen(loc), &err);
  if (r == NULL || strcmp(r, want) != 0 || err != 0)
    tl_fail(__FILE__, line, "resolve(%s, \"%s\") = %s (err %d), want %s",
            base, loc, r ? r : "(null)", err, want);
  free(r);
}

static void res_err(const char *base, const char *loc, size_t len, int want,
                    int line) {
  int err = -1;
  char *r = xfer__url_resolve(base, loc, len, &err);
  if (r != NULL || err != want)
    tl_fail(__FILE__, line, "resolve(%s, \"%s\") = %s (err %d), want err %d",
            base, loc, r ? r : "(null)", err, want);
}
#define RES(base, loc, want) res_ok(base, loc, want, __LINE__)
#define RES_ERR(base, loc, want) res_err(base, loc, strlen(loc), want, __LINE__)

/* ---- parse: valid ---- */

TEST(parse_plain) {
  const char *s = "http://example.com/a/b?c=d";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK_EQ(u.scheme, XFER_SCHEME_HTTP);
  CHECK_EQ(u.port, 80);
  CHECK(!u.port_explicit && !u.has_userinfo && !u.host_is_ipv4);
  CHECK(!u.host_is_ipv6 && !u.path_needs_slash);
  PART(s, u, host, "example.com");
  PART(s, u, path, "/a/b?c=d");
  PART(s, u, auth, "example.com");
}

TEST(parse_no_path) {
  const char *s = "http://example.com";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK_EQ(u.path_len, 0);
  PART(s, u, host, "example.com");
}

TEST(parse_port) {
  const char *s = "http://example.com:8080/x";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK_EQ(u.port, 8080);
  CHECK(u.port_explicit);
  PART(s, u, host, "example.com");
  PART(s, u, path, "/x");
  PART(s, u, auth, "example.com:8080");
}

TEST(parse_port_max) {
  struct xfer_url u;
  CHECK_EQ(parse("http://h:65535/", &u), 0);
  CHECK_EQ(u.port, 65535);
  CHECK_EQ(parse("http://h:00080/", &u), 0);
  CHECK_EQ(u.port, 80);
}

TEST(parse_empty_port_is_default) {
  struct xfer_url u;
  CHECK_EQ(parse("https://h:/x", &u), 0);
  CHECK_EQ(u.port, 443);
  CHECK(!u.port_explicit);
}

TEST(parse_https_default_port) {
  const char *s = "https://secure.example/";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK_EQ(u.scheme, XFER_SCHEME_HTTPS);
  CHECK_EQ(u.port, 443);
  PART(s, u, host, "secure.example");
}

TEST(parse_uppercase_scheme) {
  struct xfer_url u;
  CHECK_EQ(parse("HTTP://Example.COM/", &u), 0);
  CHECK_EQ(u.scheme, XFER_SCHEME_HTTP);
  CHECK_EQ(parse("HtTpS://x/", &u), 0);
  CHECK_EQ(u.scheme, XFER_SCHEME_HTTPS);
}

TEST(parse_no_scheme_guesses_http) {
  const char *s = "example.com/x";
  const char *t = "127.0.0.1:8080/a";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK_EQ(u.scheme, XFER_SCHEME_HTTP);
  CHECK_EQ(u.port, 80);
  PART(s, u, host, "example.com");
  PART(s, u, path, "/x");
  CHECK_EQ(parse(t, &u), 0);
  CHECK_EQ(u.port, 8080);
  CHECK(u.host_is_ipv4);
  PART(t, u, host, "127.0.0.1");
  PART(t, u, path, "/a");
}

TEST(parse_no_scheme_host_port) {
  const char *s = "localhost:3000";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK_EQ(u.port, 3000);
  PART(s, u, host, "localhost");
}

TEST(parse_userinfo) {
  const char *s = "http://user:pa%40ss@host.example:81/p";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(u.has_userinfo);
  PART(s, u, user, "user");
  PART(s, u, pass, "pa%40ss");
  PART(s, u, host, "host.example");
  CHECK_EQ(u.port, 81);
}

TEST(parse_userinfo_no_password) {
  const char *s = "http://user@host/";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(u.has_userinfo);
  PART(s, u, user, "user");
  CHECK_EQ(u.pass_len, 0);
  PART(s, u, host, "host");
}

TEST(parse_userinfo_no_scheme) {
  const char *s = "u:p@host/x";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(u.has_userinfo);
  PART(s, u, user, "u");
  PART(s, u, pass, "p");
  PART(s, u, host, "host");
}

TEST(parse_at_in_path_is_not_userinfo) {
  const char *s = "http://host/a@b?c=d@e";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(!u.has_userinfo);
  PART(s, u, host, "host");
  PART(s, u, path, "/a@b?c=d@e");
  CHECK_EQ(parse("http://host?x=a@b", &u), 0);
  CHECK(!u.has_userinfo);
}

TEST(parse_ipv4) {
  const char *s = "http://192.168.0.255:99/";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(u.host_is_ipv4);
  CHECK(!u.host_is_ipv6);
  PART(s, u, host, "192.168.0.255");
  CHECK_EQ(u.port, 99);
}

TEST(parse_ipv6) {
  const char *s = "http://[2001:db8::1]/x";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(u.host_is_ipv6);
  CHECK(!u.host_is_ipv4);
  PART(s, u, host, "2001:db8::1");
  CHECK_EQ(u.port, 80);
  CHECK(!u.port_explicit);
}

TEST(parse_ipv6_port) {
  const char *s = "https://[::1]:8443";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  CHECK(u.host_is_ipv6);
  PART(s, u, host, "::1");
  CHECK_EQ(u.port, 8443);
  CHECK_EQ(u.path_len, 0);
  CHECK_EQ(parse("http://[::ffff:1.2.3.4]/", &u), 0);
}

TEST(parse_query_without_path) {
  const char *s = "http://h?x=1";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  PART(s, u, host, "h");
  PART(s, u, path, "?x=1");
  CHECK(u.path_needs_slash);
}

TEST(parse_fragment_dropped) {
  const char *s = "http://h/p?q#frag?x/y";
  const char *t = "http://h#f";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  PART(s, u, path, "/p?q");
  CHECK_EQ(parse(t, &u), 0);
  CHECK_EQ(u.path_len, 0);
  PART(t, u, host, "h");
}

TEST(parse_high_bytes_in_path) {
  const char *s = "http://h/caf\xc3\xa9?q=\xff";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  PART(s, u, path, "/caf\xc3\xa9?q=\xff");
}

TEST(parse_backslash_kept_raw) {
  const char *s = "http://h/a\\b";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  PART(s, u, host, "h");
  PART(s, u, path, "/a\\b");
}

TEST(parse_host_charset) {
  const char *s = "http://a-b_c~d.e%41f/";
  struct xfer_url u;
  CHECK_EQ(parse(s, &u), 0);
  PART(s, u, host, "a-b_c~d.e%41f");
  CHECK(!u.host_is_ipv4);
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

TEST(parse_empty) {
  struct xfer_url u;
  CHECK_EQ(xfer__url_parse("", 0, &u), XFERE_URL_MALFORMAT);
}

TEST(parse_no_host) {
  CHECK_EQ(perr("http://"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http:///x"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://:80/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://user@/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://?x"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("/just/a/path"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http:x"), XFERE_URL_MALFORMAT);
}

TEST(parse_bad_port) {
  CHECK_EQ(perr("http://h:0/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h:65536/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h:99999999999999999999/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h:8a/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h:-1/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h:+80/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h:80:80/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://[::1]x/"), XFERE_URL_MALFORMAT);
}

TEST(parse_space) {
  CHECK_EQ(perr("http://h/a b"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h /"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr(" http://h/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h/#a b"), XFERE_URL_MALFORMAT);
}

TEST(parse_control_bytes) {
  struct xfer_url u;
  CHECK_EQ(perr("http://h/a\r\nHost: evil"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h/a\rb"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h/a\nb"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h/a\tb"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h/a\x7f"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h/a\x01"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://h\r\n/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(xfer__url_parse("http://h/a\0b", 12, &u), XFERE_URL_MALFORMAT);
  CHECK_EQ(xfer__url_parse("http://h\0.evil/", 15, &u), XFERE_URL_MALFORMAT);
}

TEST(parse_unsupported_schemes) {
  CHECK_EQ(perr("ftp://h/x"), XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(perr("file:///etc/passwd"), XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(perr("javascript:alert(1)"), XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(perr("gopher://h/"), XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(perr("httpx://h/"), XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(perr("data:text/plain,hi"), XFERE_UNSUPPORTED_PROTOCOL);
}

TEST(parse_bad_ipv6) {
  CHECK_EQ(perr("http://[::1/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://[::1"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://[zz::1]/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://[]/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://[1:2:3:4:5:6:7:8:9]/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://[fe80::1%25eth0]/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://::1/"), XFERE_URL_MALFORMAT);
}

TEST(parse_bad_ipv4) {
  CHECK_EQ(perr("http://1.2.3.999/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://1.2.3/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://1.2.3.4.5/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://1.2.3.4./"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://1..3.4/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://010.0.0.1/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://1234/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://0.0.0.0/"), 0);
}

TEST(parse_bad_host_chars) {
  CHECK_EQ(perr("http://a<b/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://a>b/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://a\"b/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://a\\b/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://caf\xc3\xa9.example/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://a@b@c/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://a%zz/"), XFERE_URL_MALFORMAT);
  CHECK_EQ(perr("http://a%4/"), XFERE_URL_MALFORMAT);
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
  char buf[64];
  struct xfer_url u;
  const char *a = "http://Example.COM/x", *b = "https://[2001:DB8::1]:8443/";
  const char *c = "HTTPS://u:p@H:443";
  CHECK_EQ(parse(a, &u), 0);
  CHECK_EQ(xfer__url_hostport(a, &u, buf, sizeof(buf)), 14);
  CHECK_STR(buf, "example.com:80");
  CHECK_EQ(parse(b, &u), 0);
  CHECK_EQ(xfer__url_hostport(b, &u, buf, sizeof(buf)), 18);
  CHECK_STR(buf, "[2001:db8::1]:8443");
  CHECK_EQ(parse(c, &u), 0);
  CHECK_EQ(xfer__url_hostport(c, &u, buf, sizeof(buf)), 5);
  CHECK_STR(buf, "h:443");
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

/* ---- resolve: RFC 3986 5.4.1 normal examples ---- */

#define B "http://a/b/c/d;p?q"

TEST(rfc_normal_scheme_g_h) { RES_ERR(B, "g:h", XFERE_UNSUPPORTED_PROTOCOL); }
TEST(rfc_normal_g) { RES(B, "g", "http://a/b/c/g"); }
TEST(rfc_normal_dot_g) { RES(B, "./g", "http://a/b/c/g"); }
TEST(rfc_normal_g_slash) { RES(B, "g/", "http://a/b/c/g/"); }
TEST(rfc_normal_abs_g) { RES(B, "/g", "http://a/g"); }
TEST(rfc_normal_netpath) { RES(B, "//g", "http://g/"); }
TEST(rfc_normal_query) { RES(B, "?y", "http://a/b/c/d;p?y"); }
TEST(rfc_normal_g_query) { RES(B, "g?y", "http://a/b/c/g?y"); }
TEST(rfc_normal_frag) { RES(B, "#s", "http://a/b/c/d;p?q"); }
TEST(rfc_normal_g_frag) { RES(B, "g#s", "http://a/b/c/g"); }
TEST(rfc_normal_g_query_frag) { RES(B, "g?y#s", "http://a/b/c/g?y"); }
TEST(rfc_normal_semi) { RES(B, ";x", "http://a/b/c/;x"); }
TEST(rfc_normal_g_semi) { RES(B, "g;x", "http://a/b/c/g;x"); }
TEST(rfc_normal_g_semi_query_frag) { RES(B, "g;x?y#s", "http://a/b/c/g;x?y"); }
TEST(rfc_normal_empty) { RES(B, "", "http://a/b/c/d;p?q"); }
TEST(rfc_normal_dot) { RES(B, ".", "http://a/b/c/"); }
TEST(rfc_normal_dot_slash) { RES(B, "./", "http://a/b/c/"); }
TEST(rfc_normal_dotdot) { RES(B, "..", "http://a/b/"); }
TEST(rfc_normal_dotdot_slash) { RES(B, "../", "http://a/b/"); }
TEST(rfc_normal_dotdot_g) { RES(B, "../g", "http://a/b/g"); }
TEST(rfc_normal_dotdot2) { RES(B, "../..", "http://a/"); }
TEST(rfc_normal_dotdot2_slash) { RES(B, "../../", "http://a/"); }
TEST(rfc_normal_dotdot2_g) { RES(B, "../../g", "http://a/g"); }

/* ---- resolve: RFC 3986 5.4.2 abnormal examples ---- */

TEST(rfc_abnormal_above_root) {
  RES(B, "../../../g", "http://a/g");
  RES(B, "../../../../g", "http://a/g");
}

TEST(rfc_abnormal_abs_dots) {
  RES(B, "/./g", "http://a/g");
  RES(B, "/../g", "http://a/g");
}

TEST(rfc_abnormal_dot_names) {
  RES(B, "g.", "http://a/b/c/g.");
  RES(B, ".g", "http://a/b/c/.g");
  RES(B, "g..", "http://a/b/c/g..");
  RES(B, "..g", "http://a/b/c/..g");
}

TEST(rfc_abnormal_nonsensical_dots) {
  RES(B, "./../g", "http://a/b/g");
  RES(B, "./g/.", "http://a/b/c/g/");
  RES(B, "g/./h", "http://a/b/c/g/h");
  RES(B, "g/../h", "http://a/b/c/h");
  RES(B, "g;x=1/./y", "http://a/b/c/g;x=1/y");
  RES(B, "g;x=1/../y", "http://a/b/c/y");
}

TEST(rfc_abnormal_dots_in_query_and_fragment) {
  RES(B, "g?y/./x", "http://a/b/c/g?y/./x");
  RES(B, "g?y/../x", "http://a/b/c/g?y/../x");
  RES(B, "g#s/./x", "http://a/b/c/g");
  RES(B, "g#s/../x", "http://a/b/c/g");
}

TEST(rfc_abnormal_same_scheme_relative) {
  /* The backward-compatible reading of 5.4.2's "http:g". */
  RES(B, "http:g", "http://a/b/c/g");
  RES_ERR("https://a/b", "http:g", XFERE_URL_MALFORMAT);
}

/* ---- resolve: the rest ---- */

TEST(resolve_scheme_relative) {
  RES("https://a/b/c", "//other:8443/p?q#f", "https://other:8443/p?q");
  RES("http://a/b/c", "//other", "http://other/");
}

TEST(resolve_absolute_other_host) {
  RES(B, "https://other.example/x", "https://other.example/x");
  RES(B, "HTTP://Other/a/../b", "http://Other/b");
  RES(B, "http://o/?x", "http://o/?x");
}

TEST(resolve_https_to_http) {
  RES("https://secure/a", "http://plain/b", "http://plain/b");
}

TEST(resolve_unsupported_scheme) {
  RES_ERR(B, "javascript:alert(1)", XFERE_UNSUPPORTED_PROTOCOL);
  RES_ERR(B, "ftp://h/x", XFERE_UNSUPPORTED_PROTOCOL);
  RES_ERR(B, "file:///etc/passwd", XFERE_UNSUPPORTED_PROTOCOL);
}

TEST(resolve_control_bytes) {
  RES_ERR(B, "/a\r\nSet-Cookie: x=1", XFERE_URL_MALFORMAT);
  RES_ERR(B, "/a\rb", XFERE_URL_MALFORMAT);
  RES_ERR(B, "/a\nb", XFERE_URL_MALFORMAT);
  RES_ERR(B, "/a\tb", XFERE_URL_MALFORMAT);
  RES_ERR(B, "/a\x7f", XFERE_URL_MALFORMAT);
  res_err(B, "/a\0b", 4, XFERE_URL_MALFORMAT, __LINE__);
}

TEST(resolve_space_encoded) {
  RES(B, "/a b?c d", "http://a/a%20b?c%20d");
}

TEST(resolve_utf8_encoded) {
  RES(B, "/caf\xc3\xa9", "http://a/caf%C3%A9");
}

TEST(resolve_whitespace_trimmed) {
  RES(B, "  \t/x \t ", "http://a/x");
  RES(B, " \t ", "http://a/b/c/d;p?q");
}

TEST(resolve_clamps_at_root) {
  RES("http://h/one/two", "../../../../x", "http://h/x");
  RES("http://h/", "/../../x", "http://h/x");
  RES("http://h/a", "..", "http://h/");
}

TEST(resolve_base_fragment_not_kept) {
  RES("http://h/p?q#frag", "", "http://h/p?q");
  RES("http://h/p?q#frag", "#other", "http://h/p?q");
  RES("http://h/p#frag", "x", "http://h/x");
}

TEST(resolve_base_forms) {
  /* A base without a path or a scheme still gives a full URL. */
  RES("http://h", "x", "http://h/x");
  RES("http://h?a=1", "?b=2", "http://h/?b=2");
  RES("http://h?a=1", "", "http://h/?a=1");
  RES("example.com/d/f", "g", "http://example.com/d/g");
  RES("http://u:p@h:81/d/f", "g", "http://u:p@h:81/d/g");
  RES("http://[::1]:8080/a/b", "c", "http://[::1]:8080/a/c");
}

TEST(resolve_empty_query_replaces) {
  RES(B, "?", "http://a/b/c/d;p?");
}

TEST(resolve_bad_result) {
  RES_ERR(B, "//", XFERE_URL_MALFORMAT);
  RES_ERR(B, "http://", XFERE_URL_MALFORMAT);
  RES_ERR(B, "http://h:0/", XFERE_URL_MALFORMAT);
  RES_ERR(B, "//bad<host/", XFERE_URL_MALFORMAT);
  RES_ERR("ftp://a/", "x", XFERE_UNSUPPORTED_PROTOCOL);
  RES_ERR("http://", "x", XFERE_URL_MALFORMAT);
}

TEST(resolve_too_long) {
  size_t n = 70000;
  char *s = malloc(n);
  memset(s, 'a', n);
  s[0] = '/';
  res_err(B, s, n, XFERE_URL_MALFORMAT, __LINE__);
  /* Encoding can make it too long too. */
  memset(s + 1, ' ', 30000);
  res_err(B, s, 30001 + 1, XFERE_URL_MALFORMAT, __LINE__);
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
