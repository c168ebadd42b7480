/* test_auth_parse.c -- auth.c's pure layer: the WWW-Authenticate parser
 * and the Basic and Digest values, against RFC 7617's and RFC 7616's
 * worked examples, and hostile challenges. */
#include "driver.h"
#include "auth.h"

static const char *resp_of(const char *v) {
  static char out[200];
  const char *p = strstr(v, "response=\"");
  size_t n;
  if (!p) return "";
  p += 10;
  n = strcspn(p, "\"");
  memcpy(out, p, n < sizeof(out) - 1 ? n : sizeof(out) - 1);
  out[n < sizeof(out) - 1 ? n : sizeof(out) - 1] = 0;
  return out;
}

static int parse(const char *v, struct xfer_auth_offer *o) {
  memset(o, 0, sizeof(*o));
  return xfer__auth_parse(v, strlen(v), o);
}

/* RFC 7617 section 2. */
TEST(basic_rfc7617_example) {
  char *v = xfer__auth_basic(LIT("Aladdin"), LIT("open sesame"));
  CHECK_STR(v, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  free(v);
  v = xfer__auth_basic(LIT("test"), LIT("123\xc2\xa3"));
  CHECK_STR(v, "Basic dGVzdDoxMjPCow==");
  free(v);
  v = xfer__auth_basic("", 0, "", 0);
  CHECK_STR(v, "Basic Og==");
  free(v);
}

/* RFC 7616 section 3.9.1: the same challenge answered with MD5 and with
 * SHA-256 (the published responses). */
TEST(digest_rfc7616_examples) {
  static const char *const chal[2] = {
    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
    "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\""
    ", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
    "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""};
  static const char *const want[2] = {
    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    "8ca523f5e9506fed4657c9700eebdbec"};
  int i;
  for (i = 0; i < 2; i++) {
    struct xfer_auth_offer o;
    struct xfer_digest_req q = {"GET", LIT("/dir/index.html"), 1,
                                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                                NULL, 0, 1};
    int err = 0;
    char *v;
    CHECK_EQ(parse(chal[i], &o), 0);
    CHECK(o.has_digest && o.avail == XFERAUTH_DIGEST);
    CHECK(o.digest.qop_auth && o.digest.qop_int && o.digest.has_opaque);
    v = xfer__auth_digest(&o.digest, LIT("Mufasa"), LIT("Circle of Life"),
                          &q, &err);
    CHECK(v != NULL);
    CHECK_STR(resp_of(v), want[i]);
    CHECK(strstr(v, "username=\"Mufasa\", realm=\"http-auth@example.org\"")
          != NULL);
    CHECK(strstr(v, "uri=\"/dir/index.html\"") != NULL);
    CHECK(strstr(v, "nc=00000001, qop=auth,") != NULL);
    CHECK(strstr(v, "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"")
          != NULL);
    CHECK(strstr(v, i ? "algorithm=MD5" : "algorithm=SHA-256") != NULL);
    free(v);
  }
}

/* SHA-512-256 with userhash (RFC 7616 section 3.9.2's challenge; its
 * published hashes have errata, so these come from Python's hashlib:
 * sha512_256 of the same strings). */
TEST(digest_sha512_256_userhash) {
  struct xfer_auth_offer o;
  struct xfer_digest_req q = {"GET", LIT("/doe.json"), 1,
                              "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
                              NULL, 0, 1};
  int err = 0;
  char *v;
  CHECK_EQ(parse("Digest realm=\"api@example.org\", qop=\"auth\", "
                 "algorithm=SHA-512-256, nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57Qd"
                 "FR34I9HAbC/RVvkK\", opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChX"
                 "YjwrI2QmXDnsOS\", charset=UTF-8, userhash=true", &o), 0);
  CHECK(o.has_digest && o.digest.userhash);
  v = xfer__auth_digest(&o.digest, LIT("J\xc3\xa4s\xc3\xb8n Doe"),
                        LIT("Secret, or not?"), &q, &err);
  CHECK(v != NULL);
  CHECK(strstr(v, "username=\"793263caabb707a56211940d90411ea4a575adeccb7e3"
               "60aeb624ed06ece9b0b\"") != NULL);
  CHECK_STR(resp_of(v), "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d"
                        "95eeb1cec68a5");
  CHECK(strstr(v, "userhash=true") && strstr(v, "algorithm=SHA-512-256"));
  free(v);
}

/* Without qop (RFC 2069's form) and with -sess, and quoted-string escapes
 * both ways. */
TEST(digest_no_qop_sess_and_escapes) {
  struct xfer_auth_offer o;
  struct xfer_digest_req q = {"GET", LIT("/a\"b"), 1, "abc", NULL, 0, 1};
  int err = 0;
  char *v;
  CHECK_EQ(parse("Digest realm=\"r\\\"q\\\\\", nonce=\"n\"", &o), 0);
  CHECK_STR(o.digest.realm, "r\"q\\");
  v = xfer__auth_digest(&o.digest, LIT("u\"s"), LIT("p"), &q, &err);
  CHECK(v != NULL);
  CHECK(strstr(v, "username=\"u\\\"s\", realm=\"r\\\"q\\\\\"") != NULL);
  CHECK(strstr(v, "uri=\"/a\\\"b\"") != NULL);
  CHECK(!strstr(v, "qop=") && !strstr(v, "cnonce") && !strstr(v, "algorithm"));
  free(v);
  CHECK_EQ(parse("Digest realm=r, nonce=n, algorithm=md5-SESS", &o), 0);
  CHECK(o.digest.sess && o.digest.algo == XFER_HASH_MD5);
  v = xfer__auth_digest(&o.digest, LIT("u"), LIT("p"), &q, &err);
  CHECK(v && strstr(v, "cnonce=\"abc\"") && strstr(v, "algorithm=MD5-sess"));
  free(v);
  /* a control byte in the user name cannot go in a quoted-string */
  CHECK(!xfer__auth_digest(&o.digest, LIT("u\r\nX: y"), LIT("p"), &q, &err));
  CHECK_EQ(err, XFERE_BAD_FUNCTION_ARGUMENT);
  /* auth-int alone, the body unknown: refused */
  CHECK_EQ(parse("Digest realm=r, nonce=n, qop=\"auth-int\"", &o), 0);
  q.body_known = 0;
  CHECK(!xfer__auth_digest(&o.digest, LIT("u"), LIT("p"), &q, &err));
  CHECK_EQ(err, XFERE_NOT_BUILT_IN);
  q.body_known = 1;
  q.body = "x=1";
  q.body_len = 3;
  v = xfer__auth_digest(&o.digest, LIT("u"), LIT("p"), &q, &err);
  CHECK(v && strstr(v, "qop=auth-int"));
  free(v);
}

TEST(several_challenges_in_one_field) {
  struct xfer_auth_offer o;
  CHECK_EQ(parse("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps"
                 "\\\"\", Basic realm=\"simple\", Digest realm=\"d\", "
                 "nonce=\"abc\", qop=auth, Bearer, Negotiate abc+/==, NTLM",
                 &o), 0);
  CHECK_EQ(o.avail, XFERAUTH_BASIC | XFERAUTH_DIGEST | XFERAUTH_BEARER |
                    XFERAUTH_NEGOTIATE | XFERAUTH_NTLM);
  CHECK(o.has_digest);
  CHECK_STR(o.digest.nonce, "abc");
  CHECK_STR(o.digest.realm, "d");
  /* empty list elements, odd spacing, case */
  CHECK_EQ(parse(" ,, basic  realm = \"x\" ,,DIGEST NONCE=\"n\"  ", &o), 0);
  CHECK_EQ(o.avail, XFERAUTH_BASIC | XFERAUTH_DIGEST);
  CHECK(o.has_digest);
}

/* The first usable Digest challenge wins (RFC 7616: the server lists them
 * in its order of preference); unusable ones are skipped. */
TEST(first_usable_digest_challenge) {
  struct xfer_auth_offer o;
  memset(&o, 0, sizeof(o));
  CHECK_EQ(xfer__auth_parse(LIT("Digest realm=r, nonce=a, algorithm=SHA3"),
                            &o), 0);
  CHECK(!o.has_digest && o.avail == XFERAUTH_DIGEST);
  CHECK_EQ(xfer__auth_parse(LIT("Digest realm=r, algorithm=SHA-256"), &o), 0);
  CHECK(!o.has_digest); /* no nonce */
  CHECK_EQ(xfer__auth_parse(LIT("Digest realm=r, nonce=b, qop=\"x\""), &o), 0);
  CHECK(!o.has_digest); /* no qop xfer knows */
  CHECK_EQ(xfer__auth_parse(LIT("Digest realm=r, nonce=c, nonce=d"), &o), 0);
  CHECK(!o.has_digest); /* a parameter twice */
  CHECK_EQ(xfer__auth_parse(LIT("Digest realm=r, nonce=e, algorithm=SHA-256,"
                                " Digest realm=r, nonce=f"), &o), 0);
  CHECK(o.has_digest);
  CHECK_STR(o.digest.nonce, "e");
  CHECK_EQ(o.digest.algo, XFER_HASH_SHA256);
  CHECK_EQ(xfer__auth_parse(LIT("Digest realm=r, nonce=g"), &o), 0);
  CHECK_STR(o.digest.nonce, "e");
}

TEST(hostile_challenges) {
  struct xfer_auth_offer o;
  size_t n = 200000, i;
  char *big = malloc(n + 64);
  /* unterminated quotes: the challenge before stays, the broken one goes */
  CHECK_EQ(parse("Basic realm=x, Digest realm=\"r, nonce=\"n", &o), -1);
  CHECK_EQ(o.avail, XFERAUTH_BASIC);
  CHECK(!o.has_digest);
  CHECK_EQ(parse("Digest nonce=\"abc\\", &o), -1);
  CHECK(!o.has_digest);
  /* garbage */
  CHECK_EQ(parse("=", &o), -1);
  CHECK_EQ(parse("Digest nonce=\"n\" realm=r", &o), -1);
  CHECK_EQ(parse("\"Digest\"", &o), -1);
  /* a nonce over the bound: unusable; at the bound: fine */
  strcpy(big, "Digest nonce=\"");
  memset(big + 14, 'n', 257);
  strcpy(big + 14 + 257, "\"");
  CHECK_EQ(parse(big, &o), 0);
  CHECK(!o.has_digest && o.avail == XFERAUTH_DIGEST);
  strcpy(big + 14 + 256, "\"");
  CHECK_EQ(parse(big, &o), 0);
  CHECK(o.has_digest);
  CHECK_EQ(strlen(o.digest.nonce), 256);
  /* a control byte inside a quoted value */
  CHECK_EQ(parse("Digest nonce=\"a\x01b\"", &o), 0);
  CHECK(!o.has_digest);
  /* thousands of parameters, and one huge quoted-string: linear, no
   * allocation, the challenge still read */
  strcpy(big, "Digest nonce=n");
  for (i = strlen(big); i + 8 < n; i += 6) memcpy(big + i, ", a=bb", 6);
  strcpy(big + i, ", realm=z");
  CHECK_EQ(parse(big, &o), 0);
  CHECK(o.has_digest);
  CHECK_STR(o.digest.realm, "z");
  strcpy(big, "Digest x=\"");
  memset(big + 10, 'q', n - 20);
  big[n - 10] = 0;
  CHECK_EQ(parse(big, &o), -1);
  free(big);
}
