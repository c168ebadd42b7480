/*
 * fuzz_redirect.c -- the input as a Location header value, resolved against
 * a few bases the way the engine follows a redirect.
 *
 * A result must be an absolute http(s) URL that parses, with no CR, LF,
 * space, control byte, DEL or byte >= 0x80 (it becomes a request line and
 * a Host header).  A location without "//" anywhere cannot name another
 * host: the result keeps the base's scheme, host and port.  The location is
 * also given with surrounding whitespace and inside a larger buffer (only
 * loclen bytes may be read).  Statics are prefixed rd_.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "url.h"
#include "xfer.h"

static const char *const rd_bases[] = {
  "http://a/b/c/d;p?q",
  "https://h:8443/x/",
  "http://[::1]/",
  "http://u:p@127.0.0.1:8080/dir/file?x=1#frag",
  "HTTP://Example.COM",
  "localhost:99?only=query",
};

static void rd_check(const char *base, const char *loc, size_t loclen,
                     const char *r) {
  struct xfer_url ub, ur;
  size_t n = strlen(r), i;
  int rc;
  char hb[400], hr[400];
  FZ_CHECK(strncmp(r, "http://", 7) == 0 || strncmp(r, "https://", 8) == 0,
           "\"%s\" is not absolute", r);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)r[i];
    FZ_CHECK(c > 0x20 && c < 0x7f, "byte 0x%02x in \"%s\"", c, r);
  }
  rc = xfer__url_parse(r, n, &ur);
  FZ_CHECK(rc == 0, "\"%s\" does not parse: %d", r, rc);
  FZ_CHECK(ur.path_len > 0 && r[ur.path_off] == '/', "\"%s\": no path", r);
  FZ_CHECK(!ur.path_needs_slash, "\"%s\" needs a slash", r);
  /* Each location byte becomes at most 3, plus the base. */
  FZ_CHECK(n <= strlen(base) + 3 * loclen + 16, "\"%s\" too long", r);
  if (!memmem(loc, loclen, "//", 2)) {
    FZ_CHECK(xfer__url_parse(base, strlen(base), &ub) == 0, "base");
    FZ_CHECK(ub.scheme == ur.scheme, "scheme changed: \"%s\" -> \"%s\"",
             base, r);
    FZ_CHECK(xfer__url_hostport(base, &ub, hb, sizeof(hb)) > 0 &&
                 xfer__url_hostport(r, &ur, hr, sizeof(hr)) > 0,
             "hostport");
    FZ_CHECK(strcmp(hb, hr) == 0, "host changed without \"//\": %s -> %s",
             hb, hr);
    FZ_CHECK(ub.auth_len == ur.auth_len &&
                 memcmp(base + ub.auth_off, r + ur.auth_off, ub.auth_len) ==
                     0,
             "authority changed without \"//\"");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t k;
  char *loc, *padded, *big;
  if (size > 70000) return 0;
  loc = fz_dup(data, size);
  padded = malloc(size + 4);
  big = malloc(size + 8);
  FZ_CHECK(padded && big, "oom");
  padded[0] = ' ';
  padded[1] = '\t';
  memcpy(padded + 2, data, size);
  padded[size + 2] = '\t';
  padded[size + 3] = ' ';
  /* Bytes after loclen that would change the result if they were read. */
  memcpy(big, data, size);
  memcpy(big + size, "/../\r\n#x", 8);
  for (k = 0; k < sizeof(rd_bases) / sizeof(rd_bases[0]); k++) {
    int err = -1, err2 = -1, err3 = -1;
    char *r = xfer__url_resolve(rd_bases[k], loc, size, &err);
    char *r2 = xfer__url_resolve(rd_bases[k], padded, size + 4, &err2);
    char *r3 = xfer__url_resolve(rd_bases[k], big, size, &err3);
    if (r) {
      FZ_CHECK(err == 0, "err %d with a result", err);
      rd_check(rd_bases[k], loc, size, r);
    } else {
      FZ_CHECK(err == XFERE_URL_MALFORMAT ||
                   err == XFERE_UNSUPPORTED_PROTOCOL ||
                   err == XFERE_OUT_OF_MEMORY,
               "err %d", err);
    }
    /* Surrounding whitespace is trimmed, whatever the value holds (a
     * value that itself ends in whitespace trims the same). */
    FZ_CHECK((r == NULL) == (r2 == NULL) && err == err2 &&
                 (!r || strcmp(r, r2) == 0),
             "padding changes the result: \"%s\" vs \"%s\" (%d/%d)",
             r ? r : "(null)", r2 ? r2 : "(null)", err, err2);
    FZ_CHECK((r == NULL) == (r3 == NULL) && err == err3 &&
                 (!r || strcmp(r, r3) == 0),
             "bytes past loclen change the result");
    free(r);
    free(r2);
    free(r3);
  }
  free(loc);
  free(padded);
  free(big);
  return 0;
}
