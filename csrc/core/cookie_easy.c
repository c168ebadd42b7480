/*
 * cookie_easy.c -- the cookie engine on an easy handle: the COOKIE*
 * options and their commands (COOKIELIST), loading COOKIEFILE when a
 * transfer starts, Set-Cookie from responses, the Cookie field of each
 * request (redirects included: per their own host and path), getinfo
 * COOKIELIST and the jar written at cleanup.  The store and its rules
 * are cookie.c's; the handle points at it (a share object may own it
 * later).  Expiry uses the wall clock (time()), not xfer__now().
 */
#include "xfer_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int64_t wall(void) { return (int64_t)time(NULL); }

/* The engine is on from here (COOKIEFILE, COOKIEJAR, a COOKIELIST line). */
static XFERcode engine_on(XFER *e) {
  if (!e->cookies && !(e->cookies = xfer__cookies_new()))
    return XFERE_OUT_OF_MEMORY;
  return XFERE_OK;
}

/* Reads every COOKIEFILE (a missing file is an empty one, as libcurl). */
static XFERcode load_files(XFER *e) {
  const struct xfer_slist *l;
  for (l = e->set.cookiefiles; l; l = l->next)
    if (xfer__cookies_load(e->cookies, l->data, wall(),
                           e->set.cookiesession) < 0) {
      if (errno == ENOMEM) return XFERE_OUT_OF_MEMORY;
      xfer__verbose(e, "cookie file %s not read: %s", l->data,
                    strerror(errno));
    }
  e->cookiefiles_loaded = 1;
  return XFERE_OK;
}

static XFERcode flush_jar(XFER *e) {
  if (!e->cookies || !e->set.cookiejar) return XFERE_OK;
  if (xfer__cookies_save(e->cookies, e->set.cookiejar, wall()) < 0) {
    xfer__verbose(e, "cookie jar %s not written: %s", e->set.cookiejar,
                  strerror(errno));
    return XFERE_WRITE_ERROR;
  }
  return XFERE_OK;
}

/* COOKIELIST: a command, or one cookie line (Netscape or Set-Cookie). */
static XFERcode cookielist(XFER *e, const char *v) {
  enum xfer_cookie_res r;
  XFERcode rc;
  if (!v) return XFERE_OK;
  if (strcasecmp(v, "ALL") == 0 || strcasecmp(v, "SESS") == 0) {
    if (e->cookies) xfer__cookies_clear(e->cookies, v[0] == 'S' ||
                                                    v[0] == 's');
    return XFERE_OK;
  }
  if (strcasecmp(v, "FLUSH") == 0) return flush_jar(e);
  if (strcasecmp(v, "RELOAD") == 0) {
    if (!e->set.cookiefiles) return XFERE_OK;
    if ((rc = engine_on(e))) return rc;
    return load_files(e);
  }
  if ((rc = engine_on(e))) return rc;
  r = xfer__cookie_line(e->cookies, v, strlen(v), wall(), 0);
  if (r == XFER_COOKIE_NOMEM) return XFERE_OUT_OF_MEMORY;
  if (r != XFER_COOKIE_STORED && r != XFER_COOKIE_REMOVED) {
    xfer__verbose(e, "COOKIELIST line refused: %s", xfer__cookie_res_text(r));
    return XFERE_BAD_FUNCTION_ARGUMENT;
  }
  return XFERE_OK;
}

XFERcode xfer__cookie_setopt(XFER *e, XFERoption opt, const char *v) {
  struct xfer_slist *l;
  char *c;
  switch (opt) {
  case XFEROPT_COOKIEFILE:
    if (!v) { /* libcurl: the file list goes, and the engine with it */
      xfer_slist_free_all(e->set.cookiefiles);
      e->set.cookiefiles = NULL;
      xfer__cookies_free(e->cookies);
      e->cookies = NULL;
      return XFERE_OK;
    }
    if (engine_on(e)) return XFERE_OUT_OF_MEMORY;
    if (!*v) return XFERE_OK; /* "": the engine only */
    if (!(l = xfer_slist_append(e->set.cookiefiles, v)))
      return XFERE_OUT_OF_MEMORY;
    e->set.cookiefiles = l;
    e->cookiefiles_loaded = 0;
    return XFERE_OK;
  case XFEROPT_COOKIEJAR:
    if (v && engine_on(e)) return XFERE_OUT_OF_MEMORY;
    if (v && !(c = strdup(v))) return XFERE_OUT_OF_MEMORY;
    free(e->set.cookiejar);
    e->set.cookiejar = v ? c : NULL;
    return XFERE_OK;
  case XFEROPT_COOKIELIST:
    return cookielist(e, v);
  default:
    return XFERE_UNKNOWN_OPTION;
  }
}

XFERcode xfer__cookies_run_start(XFER *e) {
  e->cookies_resp = 0;
  if (e->cookies && e->set.cookiefiles && !e->cookiefiles_loaded)
    return load_files(e);
  return XFERE_OK;
}

/* Where e's current request goes, for the cookie rules.  http://localhost
 * and loopback addresses count as secure, as in libcurl (a browser's
 * "potentially trustworthy" origins). */
static void origin_of(XFER *e, struct xfer_cookie_origin *o) {
  const char *h = e->url + e->u.host_off;
  size_t n = e->u.host_len;
  o->host = h;
  o->host_len = n;
  o->path = e->url + e->u.path_off;
  o->path_len = e->u.path_len;
  o->secure = e->u.scheme == XFER_SCHEME_HTTPS ||
              (n == 9 && xfer__strcasecmp_n(h, "localhost", 9) == 0) ||
              (n > 10 && xfer__strcasecmp_n(h + n - 10, ".localhost",
                                            10) == 0) ||
              (n >= 7 && strncmp(h, "127.", 4) == 0 &&
               strspn(h, "0123456789.") == n) ||
              (n == 3 && memcmp(h, "::1", 3) == 0);
}

int xfer__cookie_resp(XFER *e, const char *value, size_t vlen) {
  struct xfer_cookie_origin o;
  enum xfer_cookie_res r;
  if (++e->cookies_resp > XFER_COOKIE_PER_RESP) {
    if (e->cookies_resp == XFER_COOKIE_PER_RESP + 1)
      xfer__verbose(e, "more than %d Set-Cookie in one response: the rest "
                    "are ignored", XFER_COOKIE_PER_RESP);
    return 0;
  }
  origin_of(e, &o);
  r = xfer__cookie_parse(e->cookies, value, vlen, &o, wall());
  if (r == XFER_COOKIE_NOMEM) return XFERE_OUT_OF_MEMORY;
  if (r != XFER_COOKIE_STORED && e->set.verbose)
    xfer__verbose(e, "Set-Cookie %s: %.40s", xfer__cookie_res_text(r),
                  value);
  return 0;
}

/* The Cookie field of e's request: the engine's cookies for its host and
 * path, then the COOKIE option's string; malloc'd into *out (NULL: no
 * field). */
XFERcode xfer__cookie_req(XFER *e, char **out) {
  const char *extra = e->set.cookie;
  size_t el = extra ? strlen(extra) : 0, jl;
  char *jar = NULL, *s;
  int oom = 0;
  *out = NULL;
  if (e->cookies) {
    struct xfer_cookie_origin o;
    origin_of(e, &o);
    jar = xfer__cookie_field(e->cookies, &o, wall(), &oom);
    if (oom) return XFERE_OUT_OF_MEMORY;
  }
  if (!el) {
    *out = jar;
    return XFERE_OK;
  }
  jl = jar ? strlen(jar) : 0;
  if (!(s = malloc(jl + el + 3))) {
    free(jar);
    return XFERE_OUT_OF_MEMORY;
  }
  if (jl) memcpy(s, jar, jl);
  if (jl) memcpy(s + jl, "; ", 2), jl += 2;
  memcpy(s + jl, extra, el + 1);
  free(jar);
  *out = s;
  return XFERE_OK;
}

struct xfer_slist *xfer__cookies_getinfo(XFER *e, int *oom) {
  *oom = 0;
  return e->cookies ? xfer__cookies_list(e->cookies, oom) : NULL;
}

/* Cleanup and reset: the jar is written (libcurl writes it at cleanup;
 * at reset, which drops COOKIEJAR, xfer writes it too rather than lose
 * it).  cleanup frees the store; reset keeps it, as libcurl. */
void xfer__cookies_close(XFER *e, int free_store) {
  flush_jar(e);
  if (!free_store) return;
  xfer__cookies_free(e->cookies);
  e->cookies = NULL;
}

/* duphandle: a handle with the engine on gets an empty store of its own
 * (libcurl's rule), and its own copy of the file list (COOKIE and
 * COOKIEJAR are copied with the other strings). */
XFERcode xfer__cookies_dup(XFER *d, const XFER *e) {
  const struct xfer_slist *l;
  for (l = e->set.cookiefiles; l; l = l->next) {
    struct xfer_slist *n = xfer_slist_append(d->set.cookiefiles, l->data);
    if (!n) return XFERE_OUT_OF_MEMORY;
    d->set.cookiefiles = n;
  }
  if (e->cookies && !(d->cookies = xfer__cookies_new()))
    return XFERE_OUT_OF_MEMORY;
  return XFERE_OK;
}
