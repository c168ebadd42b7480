/*
 * cookie_file.c -- the Netscape cookie file format, as libcurl reads and
 * writes it: seven TAB-separated fields (domain, include-subdomains,
 * path, secure, expiry, name, value), "#HttpOnly_" before the domain of
 * an HttpOnly cookie, '#' comments.  Loading also takes "Set-Cookie:"
 * lines, as libcurl does.  Saving goes through a temporary file and a
 * rename, so a reader never sees half a jar.
 */
#include "cookie.h"
#include "cookie_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HTTPONLY_MARK "#HttpOnly_"

static int nstrdup(char **dst, const char *s, size_t n) {
  return (*dst = strndup(s, n)) ? 0 : -1;
}

/* The seven fields of a Netscape line; 0 or -1 when it is not one. */
static int split7(const char *s, size_t n, const char *f[7], size_t fl[7]) {
  const char *e = s + n;
  int i;
  for (i = 0; i < 7; i++) {
    const char *tab = i < 6 ? memchr(s, '\t', (size_t)(e - s)) : NULL;
    f[i] = s;
    fl[i] = (size_t)((tab ? tab : e) - s);
    if (i < 6 && !tab) return -1;
    s = tab ? tab + 1 : e;
  }
  return 0;
}

static int64_t expiry_of(const char *s, size_t n, int *ok) {
  int64_t x = 0;
  size_t i;
  *ok = n > 0;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') *ok = 0;
    else if (x < (int64_t)1 << 50) x = x * 10 + (s[i] - '0');
  }
  return x;
}

static enum xfer_cookie_res netscape(struct xfer_cookies *c, const char *s,
                                     size_t n, int httponly, int64_t now,
                                     int skip_session) {
  const char *f[7];
  size_t fl[7], i;
  struct xfer_cookie *k;
  int ok;
  int64_t exp;
  if (split7(s, n, f, fl)) return XFER_COOKIE_BAD_SYNTAX;
  exp = expiry_of(f[4], fl[4], &ok);
  if (!ok || !fl[0] || !fl[2] || f[2][0] != '/') return XFER_COOKIE_BAD_SYNTAX;
  if (fl[5] + fl[6] > XFER_COOKIE_NV_MAX) return XFER_COOKIE_TOO_BIG;
  if (memchr(f[6], '\t', fl[6])) return XFER_COOKIE_CONTROL; /* 8 fields */
  for (i = 0; i < n; i++)
    if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
      return XFER_COOKIE_CONTROL;
  if (!exp && skip_session) return XFER_COOKIE_STORED; /* COOKIESESSION */
  if (!(k = calloc(1, sizeof(*k)))) return XFER_COOKIE_NOMEM;
  if (f[0][0] == '.') f[0]++, fl[0]--;
  if (!fl[0]) {
    xfer__cookie_free1(k);
    return XFER_COOKIE_BAD_DOMAIN;
  }
  if (nstrdup(&k->domain, f[0], fl[0]) || nstrdup(&k->path, f[2], fl[2]) ||
      nstrdup(&k->name, f[5], fl[5]) || nstrdup(&k->value, f[6], fl[6])) {
    xfer__cookie_free1(k);
    return XFER_COOKIE_NOMEM;
  }
  for (i = 0; k->domain[i]; i++) {
    char ch = k->domain[i];
    if (ch >= 'A' && ch <= 'Z') k->domain[i] = ch = (char)(ch + 32);
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.' || ch == ':') ||
        (ch == '.' && (i == 0 || k->domain[i - 1] == '.'))) {
      xfer__cookie_free1(k);
      return XFER_COOKIE_BAD_DOMAIN; /* as a Domain attribute would be */
    }
  }
  k->host_only = !(fl[1] == 4 && strncasecmp(f[1], "TRUE", 4) == 0);
  k->secure = fl[3] == 4 && strncasecmp(f[3], "TRUE", 4) == 0;
  k->httponly = httponly != 0;
  k->expires = exp;
  return xfer__cookie_store(c, k, now);
}

enum xfer_cookie_res xfer__cookie_line(struct xfer_cookies *c,
                                       const char *s, size_t n, int64_t now,
                                       int skip_session) {
  static const struct xfer_cookie_origin none;
  int httponly = 0;
  while (n && (s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
  if (n > 11 && strncasecmp(s, "Set-Cookie:", 11) == 0) {
    enum xfer_cookie_res r;
    s += 11, n -= 11;
    r = xfer__cookie_parse(c, s, n, &none, now);
    (void)skip_session;
    return r;
  }
  if (n > sizeof(HTTPONLY_MARK) - 1 &&
      strncmp(s, HTTPONLY_MARK, sizeof(HTTPONLY_MARK) - 1) == 0) {
    httponly = 1;
    s += sizeof(HTTPONLY_MARK) - 1;
    n -= sizeof(HTTPONLY_MARK) - 1;
  } else if (!n || s[0] == '#') {
    return XFER_COOKIE_STORED; /* a comment or a blank line */
  }
  return netscape(c, s, n, httponly, now, skip_session);
}

int xfer__cookies_load(struct xfer_cookies *c, const char *path,
                       int64_t now, int skip_session) {
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  if (!path || !*path) return 0;
  f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : -1;
  while ((n = getline(&line, &cap, f)) >= 0)
    if (xfer__cookie_line(c, line, (size_t)n, now, skip_session) ==
        XFER_COOKIE_NOMEM) {
      errno = ENOMEM;
      rc = -1;
      break;
    }
  free(line);
  if (f != stdin) fclose(f);
  return rc;
}

/* One cookie as a Netscape line, NUL-terminated, malloc'd. */
static char *format(const struct xfer_cookie *k) {
  size_t n = strlen(k->domain) + strlen(k->path) + strlen(k->name) +
             strlen(k->value) + 64;
  char *s = malloc(n);
  if (!s) return NULL;
  snprintf(s, n, "%s%s%s\t%s\t%s\t%s\t%lld\t%s\t%s",
           k->httponly ? HTTPONLY_MARK : "", k->host_only ? "" : ".",
           k->domain, k->host_only ? "FALSE" : "TRUE", k->path,
           k->secure ? "TRUE" : "FALSE", (long long)k->expires, k->name,
           k->value);
  return s;
}

/* The cookies oldest first, so that a file read back keeps their order. */
static int write_all(struct xfer_cookies *c, FILE *f) {
  const struct xfer_cookie **v, *k;
  size_t i = 0, n = c->n;
  int rc = 0;
  if (fputs("# Netscape HTTP Cookie File\n"
            "# Written by xfer; libcurl reads it (CURLOPT_COOKIEFILE).\n\n",
            f) < 0)
    return -1;
  if (!n) return 0;
  if (!(v = malloc(n * sizeof(*v)))) return -1;
  for (k = c->list; k && i < n; k = k->next) v[n - 1 - i++] = k;
  for (i = 0; i < n && !rc; i++) {
    char *s = format(v[i]);
    if (!s || fprintf(f, "%s\n", s) < 0) rc = -1;
    free(s);
  }
  free(v);
  return rc;
}

int xfer__cookies_save(struct xfer_cookies *c, const char *path,
                       int64_t now) {
  char *tmp;
  FILE *f;
  int fd, rc, err;
  if (!path || !*path) return 0;
  if (c) {
    /* expired ones are not written */
    struct xfer_cookie **pp = &c->list;
    while (*pp)
      if ((*pp)->expires && (*pp)->expires <= now) {
        struct xfer_cookie *k = *pp;
        *pp = k->next;
        c->n--;
        xfer__cookie_free1(k);
      } else {
        pp = &(*pp)->next;
      }
  }
  if (strcmp(path, "-") == 0) {
    rc = c ? write_all(c, stdout) : 0;
    return fflush(stdout) || rc ? -1 : 0;
  }
  if (!(tmp = malloc(strlen(path) + 8))) return -1;
  strcpy(tmp, path);
  strcat(tmp, ".XXXXXX"); /* mkstemp's template: it fills in the six */
  if ((fd = mkstemp(tmp)) < 0) {
    free(tmp);
    return -1;
  }
  if (!(f = fdopen(fd, "w"))) {
    err = errno;
    close(fd);
    unlink(tmp);
    free(tmp);
    errno = err;
    return -1;
  }
  rc = c ? write_all(c, f) : 0;
  rc |= fclose(f);
  if (!rc) rc = rename(tmp, path);
  err = errno;
  if (rc) unlink(tmp);
  free(tmp);
  errno = err;
  return rc ? -1 : 0;
}

/* getinfo COOKIELIST: newest first, as the store keeps them. */
struct xfer_slist *xfer__cookies_list(struct xfer_cookies *c, int *oom) {
  struct xfer_slist *l = NULL, *n, **tail = &l;
  const struct xfer_cookie *k;
  *oom = 0;
  if (!c) return NULL;
  for (k = c->list; k; k = k->next) {
    if (!(n = malloc(sizeof(*n))) || !(n->data = format(k))) {
      free(n);
      xfer_slist_free_all(l);
      *oom = 1;
      return NULL;
    }
    n->next = NULL;
    *tail = n;
    tail = &n->next;
  }
  return l;
}
