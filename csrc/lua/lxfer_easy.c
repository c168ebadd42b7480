/*
 * lxfer_easy.c -- the easy handle in Lua ("xfer.easy"): options by their
 * lowercase libcurl names, getinfo, perform, close, and the C callbacks
 * that carry the write, header, read and progress calls into Lua.
 *
 * The userdata is a box around the core handle (NULL: closed).  The core's
 * PRIVATE pointer is the box and its ERRORBUFFER lives in the box; the Lua
 * "private" option is a Lua value of its own.  Strings the core uses in
 * place (POSTFIELDS, the lists) are kept referenced here for as long as a
 * transfer may read them.
 */
#include "lxfer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the option and info tables ---- */

enum {
  K_LONG,        /* integer or boolean */
  K_VALUES,      /* integer: one of the option's constants */
  K_OFFT,        /* integer */
  K_STRING,      /* string (copied by the core), nil resets */
  K_POSTFIELDS,  /* string kept referenced here; its size is set too */
  K_COPYFIELDS,  /* string copied by the core; its size is set too */
  K_SLIST,       /* string or array of strings; slot in lists[] */
  K_FUNC,        /* callable or nil; slot in cb[] */
  K_PRIVATE,     /* any Lua value */
  K_HLINES,      /* header_lines: boolean, the header lines kept in C */
  K_BODY,        /* collect_body: boolean, the body kept in C */
  K_NOTLUA       /* a C data pointer: closures replace it */
};

struct opt {
  char name[32];               /* the libcurl name, lowercase */
  int id;
  int kind;
  int slot;
};

/* Every option of the core's list (xfer.h's XFER_EASY_OPTIONS, walked
 * with xfer_easy_option_next) is an option here by its lowercase name,
 * its kind given by its type, so that an option added to the core is
 * there in Lua too.  Bodies, lists, callbacks and PRIVATE have kinds of
 * their own; a pointer the core would keep is no Lua option (K_NOTLUA:
 * closures replace it).  The array is in the order a table of options is
 * applied, whatever the table's own order: request kind first, then
 * bodies, then their sizes (so an explicit postfieldsize overrides the
 * length set with postfields), then the rest, NOPROGRESS last (after
 * xferinfofunction, which turns progress on). */
#define MAXOPTS 256
static struct opt opts[MAXOPTS];
static int nopts;
static pthread_once_t opts_once = PTHREAD_ONCE_INIT;

static int rank_of(int id) {
  switch (id) {
  case XFEROPT_URL: return 0;
  case XFEROPT_HTTPGET: case XFEROPT_POST: case XFEROPT_UPLOAD:
  case XFEROPT_NOBODY: case XFEROPT_CUSTOMREQUEST: return 1;
  case XFEROPT_POSTFIELDS: case XFEROPT_COPYPOSTFIELDS: return 2;
  case XFEROPT_POSTFIELDSIZE: case XFEROPT_POSTFIELDSIZE_LARGE:
  case XFEROPT_INFILESIZE: case XFEROPT_INFILESIZE_LARGE: return 3;
  case XFEROPT_NOPROGRESS: return 5;
  default: return 4;
  }
}

static void kind_of(const struct xfer_easyoption *co, int *kind, int *slot) {
  *slot = 0;
  switch (co->id) {
  case XFEROPT_POSTFIELDS: *kind = K_POSTFIELDS; return;
  case XFEROPT_COPYPOSTFIELDS: *kind = K_COPYFIELDS; return;
  case XFEROPT_PRIVATE: *kind = K_PRIVATE; return;
  case XFEROPT_HTTPHEADER: *kind = K_SLIST; return;
  case XFEROPT_RESOLVE: *kind = K_SLIST; *slot = 1; return;
  case XFEROPT_CONNECT_TO: *kind = K_SLIST; *slot = 2; return;
  case XFEROPT_PROXYHEADER: *kind = K_SLIST; *slot = 3; return;
  case XFEROPT_WRITEFUNCTION: *kind = K_FUNC; *slot = LXFER_CB_WRITE; return;
  case XFEROPT_HEADERFUNCTION: *kind = K_FUNC; *slot = LXFER_CB_HEADER; return;
  case XFEROPT_READFUNCTION: *kind = K_FUNC; *slot = LXFER_CB_READ; return;
  case XFEROPT_XFERINFOFUNCTION:
    *kind = K_FUNC;
    *slot = LXFER_CB_XFERINFO;
    return;
  default: break;
  }
  switch (co->type) {
  case XFEROT_LONG: *kind = K_LONG; break;
  case XFEROT_VALUES: *kind = K_VALUES; break;
  case XFEROT_OFF_T: *kind = K_OFFT; break;
  case XFEROT_STRING: *kind = K_STRING; break;
  default: *kind = K_NOTLUA; break; /* a list or callback without a slot */
  }
}

static void add_opt(const char *name, int id, int kind, int slot) {
  struct opt *o = &opts[nopts++];
  size_t i;
  for (i = 0; name[i] && i < sizeof(o->name) - 1; i++)
    o->name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32
                                                         : name[i]);
  o->name[i] = 0;
  o->id = id;
  o->kind = kind;
  o->slot = slot;
}

static void build_opts(void) {
  const struct xfer_easyoption *co;
  int r, kind, slot;
  for (r = 0; r <= 5; r++)
    for (co = xfer_easy_option_next(NULL); co && nopts < MAXOPTS - 1;
         co = xfer_easy_option_next(co)) {
      if (rank_of(co->id) != r) continue;
      kind_of(co, &kind, &slot);
      add_opt(co->name, co->id, kind, slot);
      /* Lua only (no XFEROPT_ constant): replaces headerfunction, and is
       * replaced by it. */
      if (co->id == XFEROPT_HEADERFUNCTION) add_opt("header_lines", -1,
                                                    K_HLINES, 0);
      /* Lua only: replaces writefunction, and is replaced by it. */
      if (co->id == XFEROPT_WRITEFUNCTION) add_opt("collect_body", -1,
                                                   K_BODY, 0);
    }
}
#define NOPTS nopts

struct info {
  const char *name;
  int id;
};

static const struct info infos[] = {
  {"effective_url", XFERINFO_EFFECTIVE_URL},
  {"response_code", XFERINFO_RESPONSE_CODE},
  {"size_upload_t", XFERINFO_SIZE_UPLOAD_T},
  {"size_download_t", XFERINFO_SIZE_DOWNLOAD_T},
  {"ssl_verifyresult", XFERINFO_SSL_VERIFYRESULT},
  {"content_length_download_t", XFERINFO_CONTENT_LENGTH_DOWNLOAD_T},
  {"redirect_count", XFERINFO_REDIRECT_COUNT},
  {"httpauth_avail", XFERINFO_HTTPAUTH_AVAIL},
  {"httpauth_used", XFERINFO_HTTPAUTH_USED},
  {"proxyauth_avail", XFERINFO_PROXYAUTH_AVAIL},
  {"proxyauth_used", XFERINFO_PROXYAUTH_USED},
  {"http_connectcode", XFERINFO_HTTP_CONNECTCODE},
  {"proxy_error", XFERINFO_PROXY_ERROR},
  {"proxy_ssl_verifyresult", XFERINFO_PROXY_SSL_VERIFYRESULT},
  {"private", XFERINFO_PRIVATE},
  {"num_connects", XFERINFO_NUM_CONNECTS},
  {"primary_ip", XFERINFO_PRIMARY_IP},
  {"primary_port", XFERINFO_PRIMARY_PORT},
  {"local_port", XFERINFO_LOCAL_PORT},
  {"http_version", XFERINFO_HTTP_VERSION},
  {"total_time_t", XFERINFO_TOTAL_TIME_T},
  {"namelookup_time_t", XFERINFO_NAMELOOKUP_TIME_T},
  {"connect_time_t", XFERINFO_CONNECT_TIME_T},
  {"appconnect_time_t", XFERINFO_APPCONNECT_TIME_T},
  {"pretransfer_time_t", XFERINFO_PRETRANSFER_TIME_T},
  {"starttransfer_time_t", XFERINFO_STARTTRANSFER_TIME_T},
  {"queue_time_t", XFERINFO_QUEUE_TIME_T},
  {"size_delivered", XFERINFO_SIZE_DELIVERED},
  {"cookielist", XFERINFO_COOKIELIST},
  {"content_type", XFERINFO_CONTENT_TYPE},
  {"redirect_url", XFERINFO_REDIRECT_URL},
  {"local_ip", XFERINFO_LOCAL_IP},
  {"scheme", XFERINFO_SCHEME},
  {"effective_method", XFERINFO_EFFECTIVE_METHOD},
  {"header_size", XFERINFO_HEADER_SIZE},
  {"request_size", XFERINFO_REQUEST_SIZE},
  {"os_errno", XFERINFO_OS_ERRNO},
  {"speed_download_t", XFERINFO_SPEED_DOWNLOAD_T},
  {"speed_upload_t", XFERINFO_SPEED_UPLOAD_T},
  {"content_length_upload_t", XFERINFO_CONTENT_LENGTH_UPLOAD_T},
  {"retry_after", XFERINFO_RETRY_AFTER},
  {"xfer_id", XFERINFO_XFER_ID},
  {"conn_id", XFERINFO_CONN_ID},
};
#define NINFOS ((int)(sizeof(infos) / sizeof(infos[0])))

static const char opt_key = 'o';   /* registry: option name -> index */
static const char info_key = 'i';  /* registry: info name -> index */
static const char none_key = 'n';  /* registry: the empty user value */

static struct lxfer_easy_x *x_new(void);

/* ---- the C callbacks the core calls ---- */

static size_t data_cb(int kind, int slot, char *p, size_t len, void *ud) {
  struct lxfer_easy *e = ud;
  struct lxfer_ctx *ctx = lxfer_ectx(e);
  struct lxfer_call c;
  if (!ctx || e->cb[slot] == LUA_NOREF) return XFER_WRITEFUNC_ERROR;
  memset(&c, 0, sizeof(c));
  c.kind = kind;
  c.fn = e->cb[slot];
  c.e = e;
  c.data = p;
  c.len = len;
  /* Any value but len fails the transfer with WRITE_ERROR (23). */
  if (lxfer_call(ctx, &c) || c.abort) return XFER_WRITEFUNC_ERROR;
  return c.n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud) {
  return data_cb(LXFER_CALL_WRITE, LXFER_CB_WRITE, p, size * nmemb, ud);
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud) {
  return data_cb(LXFER_CALL_HEADER, LXFER_CB_HEADER, p, size * nmemb, ud);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud) {
  struct lxfer_easy *e = ud;
  struct lxfer_ctx *ctx = lxfer_ectx(e);
  struct lxfer_call c;
  if (!ctx || e->cb[LXFER_CB_READ] == LUA_NOREF) return XFER_READFUNC_ABORT;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_READ;
  c.fn = e->cb[LXFER_CB_READ];
  c.e = e;
  c.buf = buf;
  c.len = size * nitems;
  if (lxfer_call(ctx, &c) || c.abort) return XFER_READFUNC_ABORT; /* 42 */
  return c.n;
}

static int xferinfo_cb(void *ud, xfer_off_t dltotal, xfer_off_t dlnow,
                       xfer_off_t ultotal, xfer_off_t ulnow) {
  struct lxfer_easy *e = ud;
  struct lxfer_ctx *ctx = lxfer_ectx(e);
  struct lxfer_call c;
  if (!ctx || e->cb[LXFER_CB_XFERINFO] == LUA_NOREF) return 1;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_XFERINFO;
  c.fn = e->cb[LXFER_CB_XFERINFO];
  c.e = e;
  c.v[0] = dltotal;
  c.v[1] = dlnow;
  c.v[2] = ultotal;
  c.v[3] = ulnow;
  return lxfer_call(ctx, &c) || c.abort; /* non-zero: 42 */
}

/* header_lines: every header line goes into x->hdr, in C; a status line
 * starts over, so what is kept is the last response's fields (and the
 * trailers). No Lua runs: easy:take_header_lines() hands them over. */
static size_t collect_cb(char *p, size_t size, size_t nmemb, void *ud) {
  struct lxfer_easy_x *x = ((struct lxfer_easy *)ud)->x; /* set with it */
  size_t len = size * nmemb;
  if (!x) return 0; /* released: a closed handle's last call */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) x->hdr_len = 0;
  if (x->hdr_len + len > x->hdr_cap) {
    size_t cap = x->hdr_cap ? x->hdr_cap : 512;
    char *n;
    while (cap < x->hdr_len + len) cap *= 2;
    if (!(n = realloc(x->hdr, cap))) return 0; /* WRITE_ERROR */
    x->hdr = n;
    x->hdr_cap = cap;
  }
  memcpy(x->hdr + x->hdr_len, p, len);
  x->hdr_len += len;
  return len;
}

/* collect_body: the body goes into x->body, in C: no Lua call and no Lua
 * string per chunk; easy:take_body() hands it over as one string. */
static size_t body_cb(char *p, size_t size, size_t nmemb, void *ud) {
  struct lxfer_easy_x *x = ((struct lxfer_easy *)ud)->x; /* set with it */
  size_t len = size * nmemb;
  if (!x) return 0; /* released: a closed handle's last call */
  if (len > x->body_cap - x->body_len) {
    size_t cap = x->body_cap ? x->body_cap : 1024;
    char *n;
    while (cap - x->body_len < len) {
      if (cap > ((size_t)-1) / 2) return 0; /* WRITE_ERROR */
      cap *= 2;
    }
    if (!(n = realloc(x->body, cap))) return 0; /* WRITE_ERROR */
    x->body = n;
    x->body_cap = cap;
  }
  memcpy(x->body + x->body_len, p, len);
  x->body_len += len;
  return len;
}

/* ---- their protected bodies (run by lxfer_call) ---- */

static const char *cbname(int kind) {
  switch (kind) {
  case LXFER_CALL_WRITE: return "write";
  case LXFER_CALL_HEADER: return "header";
  case LXFER_CALL_READ: return "read";
  default: return "xferinfo";
  }
}

static int badreturn(lua_State *L, int kind, const char *expected) {
  return luaL_error(L, "%s callback returned a %s value (expected %s)",
                    cbname(kind), luaL_typename(L, -1), expected);
}

/* write(chunk), header(line): nothing or true takes everything, a number
 * is the count taken (any other count than #chunk fails the transfer,
 * xfer.WRITEFUNC_PAUSE pauses it and offers the chunk again on unpause),
 * false fails it. */
static void call_data(lua_State *L, struct lxfer_call *c) {
  lua_Integer n = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
  lua_pushlstring(L, c->data, c->len);
  lua_call(L, 1, 1);
  switch (lua_type(L, -1)) {
  case LUA_TNIL:
    c->n = c->len;
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, -1)) c->n = c->len;
    else c->abort = 1;
    break;
  case LUA_TNUMBER:
    if (!lxfer_tointeger(L, -1, &n) || n < 0)
      luaL_error(L, "%s callback returned %s, not a byte count",
                 cbname(c->kind), lua_tostring(L, -1));
    c->n = (size_t)n;
    break;
  default:
    badreturn(L, c->kind, "nothing, a boolean or a byte count");
  }
}

/* read(room): a string of at most room bytes (a longer one is served over
 * the next calls), nil or "" at the end, false to abort,
 * xfer.READFUNC_PAUSE to pause sending (easy:pause(xfer.PAUSE_CONT)
 * resumes). */
static void call_read(lua_State *L, struct lxfer_call *c) {
  struct lxfer_easy_x *x;
  const char *s;
  size_t len, n;
  x = lxfer_easy_x(L, c->e); /* e is at 1: alive till the leftover is kept */
  if (x->rbuf != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, x->rbuf);
    s = lua_tolstring(L, -1, &len);
    n = len - x->rbuf_off < c->len ? len - x->rbuf_off : c->len;
    memcpy(c->buf, s + x->rbuf_off, n);
    x->rbuf_off += n;
    if (x->rbuf_off >= len) {
      luaL_unref(L, LUA_REGISTRYINDEX, x->rbuf);
      x->rbuf = LUA_NOREF;
    }
    c->n = n;
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
  lua_pushinteger(L, (lua_Integer)c->len);
  lua_call(L, 1, 1);
  switch (lua_type(L, -1)) {
  case LUA_TNIL:
    c->n = 0;
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, -1)) badreturn(L, c->kind, "a string, nil or false");
    c->abort = 1;
    break;
  case LUA_TNUMBER: {
    lua_Integer v = 0;
    if (!lxfer_tointeger(L, -1, &v) || v != XFER_READFUNC_PAUSE)
      badreturn(L, c->kind, "a string, nil, false or xfer.READFUNC_PAUSE");
    c->n = XFER_READFUNC_PAUSE;
    break;
  }
  case LUA_TSTRING:
    s = lua_tolstring(L, -1, &len);
    n = len < c->len ? len : c->len;
    memcpy(c->buf, s, n);
    c->n = n;
    if (n < len && c->e->h) {
      x->rbuf_off = n;
      x->rbuf = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    break;
  default:
    badreturn(L, c->kind, "a string, nil or false");
  }
}

/* xferinfo(dltotal, dlnow, ultotal, ulnow): nothing or true goes on; false
 * or a non-zero number aborts (libcurl's rule for the number). */
static void call_xferinfo(lua_State *L, struct lxfer_call *c) {
  int i;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
  for (i = 0; i < 4; i++) lua_pushinteger(L, (lua_Integer)c->v[i]);
  lua_call(L, 4, 1);
  switch (lua_type(L, -1)) {
  case LUA_TNIL: break;
  case LUA_TBOOLEAN: c->abort = !lua_toboolean(L, -1); break;
  case LUA_TNUMBER: c->abort = lua_tonumber(L, -1) != 0; break;
  default: badreturn(L, c->kind, "nothing, a boolean or a number");
  }
}

/* The transfer's message, unless the core has one already: the core only
 * sees a short count or an abort code.  raised: the error (its first line
 * goes in) is on top of the stack. */
void lxfer_easy_aborted(lua_State *L, struct lxfer_call *c, int raised) {
  struct lxfer_easy *e = c->e;
  const char *msg = NULL;
  char what[48];
  int n = 0;
  /* Closed by the callback: nobody reads the message.  A message the core
   * has already says more.  No Lua allocation here (outside the pcall). */
  if (!e->h || xfer_easy_errortext(e->h)[0]) return;
  if (!e->x && !(e->x = x_new())) return;
  if (e->x->abortmsg && e->x->abortmsg[0]) return;
  if (!e->x->abortmsg && !(e->x->abortmsg = malloc(XFER_ERROR_SIZE))) return;
  /* Read without converting it: the error value is raised as it is. */
  if (raised && lua_type(L, -1) == LUA_TSTRING) {
    msg = lua_tostring(L, -1);
  } else if (raised && lua_type(L, -1) == LUA_TNUMBER) {
    snprintf(what, sizeof(what), "%.14g", (double)lua_tonumber(L, -1));
    msg = what;
  } else if (raised) {
    snprintf(what, sizeof(what), "(a %s value)", luaL_typename(L, -1));
    msg = what;
  }
  if (msg) while (msg[n] && msg[n] != '\n') n++;
  if (raised)
    snprintf(e->x->abortmsg, XFER_ERROR_SIZE, "the %s callback raised an "
             "error: %.*s", cbname(c->kind), n, msg ? msg : "(not a string)");
  else
    snprintf(e->x->abortmsg, XFER_ERROR_SIZE, "the %s callback aborted the "
             "transfer", cbname(c->kind));
}

int lxfer_easy_body(lua_State *L, struct lxfer_call *c) {
  switch (c->kind) {
  case LXFER_CALL_READ: call_read(L, c); break;
  case LXFER_CALL_XFERINFO: call_xferinfo(L, c); break;
  default: call_data(L, c);
  }
  return 0;
}

/* ---- the box ---- */

struct lxfer_easy *lxfer_checkeasy(lua_State *L, int idx) {
  struct lxfer_easy *e = lxfer_checkudata(L, idx, &lxfer_easy_mtkey, LXFER_EASY_MT);
  if (!e->h) luaL_argerror(L, idx, "easy handle is closed");
  return e;
}

struct lxfer_easy *lxfer_easy_of(XFER *h) {
  void *p = NULL;
  if (xfer_easy_getinfo(h, XFERINFO_PRIVATE, &p) != XFERE_OK) return NULL;
  return p;
}

/* The easy (added or performing) may still be running a transfer that
 * uses the values being replaced. */
static int busy(struct lxfer_easy *e) { return e->m || e->performing; }

/* Lists replaced while busy: kept until the transfer cannot use them. */
void lxfer_easy_retire_lists(struct lxfer_easy *e) {
  if (!e->x) return;
  xfer_slist_free_all(e->x->retired);
  e->x->retired = NULL;
}

static void retire_list(struct lxfer_easy *e, struct xfer_slist *l) {
  struct xfer_slist *last;
  if (!l) return;
  if (!busy(e)) {
    xfer_slist_free_all(l);
    return;
  }
  for (last = l; last->next; last = last->next) {}
  last->next = e->x->retired;
  e->x->retired = l;
}

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* The easy left its multi, or its perform() returned: what a transfer
 * might have been using can go. */
void lxfer_easy_unbusy(lua_State *L, struct lxfer_easy *e) {
  if (!e->x) return;
  unref(L, &e->x->postfields_old);
  lxfer_easy_retire_lists(e);
}

/* A new run: the last one's abort message goes (the core clears its own),
 * and so does a read callback's leftover. */
void lxfer_easy_new_run(lua_State *L, struct lxfer_easy *e) {
  if (!e->x) return;
  if (e->x->abortmsg) e->x->abortmsg[0] = 0;
  e->x->body_len = 0;
  unref(L, &e->x->rbuf);
}

/* The text of the last failure: a callback's reason, else the core's. */
const char *lxfer_easy_errtext(struct lxfer_easy *e) {
  if (e->x && e->x->abortmsg && e->x->abortmsg[0]) return e->x->abortmsg;
  return e->h ? xfer_easy_errortext(e->h) : "";
}

static struct lxfer_easy_x *x_new(void) {
  struct lxfer_easy_x *x = calloc(1, sizeof(*x));
  if (!x) return NULL;
  x->postfields = x->postfields_old = x->priv = x->rbuf = LUA_NOREF;
  x->fields_len = -1;
  return x;
}

struct lxfer_easy_x *lxfer_easy_x(lua_State *L, struct lxfer_easy *e) {
  if (!e->x && !(e->x = x_new())) luaL_error(L, "not enough memory");
  return e->x;
}

/* Sets what the core must always have: the box as PRIVATE, and its own
 * failure text (no ERRORBUFFER of 256 bytes in every box). */
static void set_fixed(struct lxfer_easy *e) {
  xfer_easy_setopt(e->h, XFEROPT_PRIVATE, (void *)e);
  xfer_easy_keep_errortext(e->h, 1);
}

/* Drops every Lua value the box holds; the callbacks first, so that nothing
 * after this point can call into Lua for this handle. */
static void release(lua_State *L, struct lxfer_easy *e) {
  struct lxfer_easy_x *x = e->x;
  int i;
  for (i = 0; i < LXFER_CB_MAX; i++) lxfer_unref_fn(L, &e->cb[i]);
  if (!x) return;
  e->x = NULL;
  unref(L, &x->postfields);
  unref(L, &x->postfields_old);
  unref(L, &x->priv);
  unref(L, &x->rbuf);
  free(x->hdr);
  free(x->body);
  for (i = 0; i < (int)(sizeof(x->lists) / sizeof(x->lists[0])); i++)
    xfer_slist_free_all(x->lists[i]);
  xfer_slist_free_all(x->retired);
  free(x->abortmsg);
  free(x);
}

/* Idempotent, and safe in any order with the multi's close.  gc: from
 * __gc, where no Lua code may run (the multi's callbacks are muted). */
static void easy_close(lua_State *L, struct lxfer_easy *e, int idx, int gc) {
  XFER *h = e->h;
  struct lxfer_multi *m = e->m;
  struct lxfer_frame f;
  int i;
  if (!h) {
    if (!e->performing || !e->u.perform->closing) release(L, e);
    return;
  }
  if (m) {
    if (gc) m->ctx.nolua++;
    else lxfer_enter(&m->ctx, L, &f);
    lxfer_multi_detach_easy(L, m, e, idx);
  }
  e->h = NULL;
  if (e->performing) {
    /* Inside its own perform(): the core handle and what it reads stay
     * until perform returns; only the callbacks go now. */
    e->u.perform->closing = h;
    for (i = 0; i < LXFER_CB_MAX; i++) lxfer_unref_fn(L, &e->cb[i]);
  } else {
    /* From its own write callback, the core frees h once the callback has
     * returned (the failure text is its own: nothing points into the box). */
    xfer_easy_cleanup(h);
    release(L, e);
  }
  if (m) {
    if (gc) m->ctx.nolua--;
    else lxfer_leave(&m->ctx, L, &f); /* a socket callback's error */
  }
}

static int easy_gc(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkudata(L, 1, &lxfer_easy_mtkey, LXFER_EASY_MT);
  easy_close(L, e, 1, 1);
  return 0;
}

static int easy_close_m(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkudata(L, 1, &lxfer_easy_mtkey, LXFER_EASY_MT);
  if (e->h && e->m && e->m->in_sockcb)
    return luaL_error(L, "cannot close an easy handle inside its multi "
                         "handle's socket or timer callback");
  easy_close(L, e, 1, 0);
  return 0;
}

static int easy_tostring(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkudata(L, 1, &lxfer_easy_mtkey, LXFER_EASY_MT);
  if (e->h) lua_pushfstring(L, "xfer.easy (%p)", (void *)e);
  else lua_pushliteral(L, "xfer.easy (closed)");
  return 1;
}

/* ---- setopt ---- */

static int optfail(lua_State *L, int arg, const struct opt *o,
                   const char *what) {
  return luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be %s, "
                       "got %s", o->name, what, luaL_typename(L, -1)));
}

static long check_long(lua_State *L, const struct opt *o, int v, int arg) {
  lua_Integer n = 0;
  if (lua_type(L, v) == LUA_TBOOLEAN) return lua_toboolean(L, v);
  lua_pushvalue(L, v);
  if (!lxfer_tointeger(L, -1, &n))
    optfail(L, arg, o, "an integer or a boolean");
  lua_pop(L, 1);
  return (long)n;
}

/* What a VALUES option takes, for its error messages. */
static const char *values_of(int id) {
  switch (id) {
  case XFEROPT_HTTP_VERSION:
    return "xfer.HTTP_VERSION_NONE, HTTP_VERSION_1_1, HTTP_VERSION_2_0, "
           "HTTP_VERSION_2TLS or HTTP_VERSION_2_PRIOR_KNOWLEDGE";
  case XFEROPT_IPRESOLVE:
    return "xfer.IPRESOLVE_WHATEVER, IPRESOLVE_V4 or IPRESOLVE_V6";
  case XFEROPT_SSLVERSION:
    return "an xfer.SSLVERSION_* value, plus an xfer.SSLVERSION_MAX_* one";
  case XFEROPT_HTTPAUTH:
    return "xfer.AUTH_* bits (AUTH_BASIC, AUTH_DIGEST, AUTH_BEARER, "
           "AUTH_ANY, ...)";
  default:
    return "one of the option's constants";
  }
}

/* A VALUES option takes one of its constants.  No booleans: true would be
 * 1, which is HTTP/1.0 for http_version and IPv4 only for ipresolve, never
 * what `true` says. */
static long check_values(lua_State *L, const struct opt *o, int v, int arg) {
  lua_Integer n = 0;
  if (!lxfer_tointeger(L, v, &n)) {
    lua_pushvalue(L, v); /* a number says which: 2.5, not "number" */
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be %s, got "
                  "%s", o->name, values_of(o->id),
                  lua_type(L, v) == LUA_TNUMBER ? lua_tostring(L, -1)
                                                : luaL_typename(L, v)));
  }
  return (long)n;
}

/* The core takes C strings: a zero byte would silently cut the value. */
static void check_nul(lua_State *L, const struct opt *o, int v, int arg) {
  size_t len;
  const char *s = lua_tolstring(L, v, &len);
  if (strlen(s) != len)
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must not contain "
                  "a zero byte", o->name));
}

/* A list from a string or an array of strings; NULL for nil. */
static struct xfer_slist *check_slist(lua_State *L, const struct opt *o,
                                      int v, int arg) {
  struct xfer_slist *l = NULL, *tail = NULL, *n;
  int i, len;
  if (lua_isnil(L, v)) return NULL;
  lua_pushvalue(L, v);
  if (lua_type(L, v) == LUA_TSTRING) {
    check_nul(L, o, v, arg);
    if (!(l = xfer_slist_append(NULL, lua_tostring(L, v))))
      luaL_error(L, "out of memory");
    lua_pop(L, 1);
    return l;
  }
  if (lua_type(L, v) != LUA_TTABLE)
    optfail(L, arg, o, "a string or an array of strings");
  len = (int)lua_rawlen(L, v);
  for (i = 1; i <= len; i++) { /* check first: nothing to free on error */
    lua_rawgeti(L, v, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      optfail(L, arg, o, "an array of strings");
    check_nul(L, o, -1, arg);
    lua_pop(L, 1);
  }
  /* Appended at the tail kept here: xfer_slist_append walks the list, and
   * 100,000 headers would take seconds. */
  for (i = 1; i <= len; i++) {
    lua_rawgeti(L, v, i);
    n = xfer_slist_append(NULL, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (!n) {
      xfer_slist_free_all(l);
      luaL_error(L, "out of memory");
    }
    if (tail) tail->next = n;
    else l = n;
    tail = n;
  }
  lua_pop(L, 1);
  return l;
}

static XFERcode set_func(lua_State *L, struct lxfer_easy *e,
                         const struct opt *o, int v, int arg) {
  static const int datas[LXFER_CB_MAX] = {
    XFEROPT_WRITEDATA, XFEROPT_HEADERDATA, XFEROPT_READDATA,
    XFEROPT_XFERINFODATA};
  int on = !lua_isnil(L, v);
  XFERcode rc;
  if (on && !lxfer_iscallable(L, v)) {
    lua_pushvalue(L, v);
    optfail(L, arg, o, "a function");
  }
  /* The data pointer goes with the function: with a NULL function the core
   * would fwrite/fread through it. */
  switch (o->slot) {
  case LXFER_CB_WRITE:
    rc = xfer_easy_setopt(e->h, o->id, on ? write_cb : NULL);
    break;
  case LXFER_CB_HEADER:
    rc = xfer_easy_setopt(e->h, o->id, on ? header_cb : NULL);
    break;
  case LXFER_CB_READ:
    rc = xfer_easy_setopt(e->h, o->id, on ? read_cb : NULL);
    break;
  default:
    rc = xfer_easy_setopt(e->h, o->id, on ? xferinfo_cb : NULL);
    /* A Lua progress function is meant to be called. */
    if (!rc) rc = xfer_easy_setopt(e->h, XFEROPT_NOPROGRESS, on ? 0L : 1L);
  }
  if (rc) return rc;
  rc = xfer_easy_setopt(e->h, datas[o->slot], on ? (void *)e : NULL);
  if (rc) return rc;
  lxfer_unref_fn(L, &e->cb[o->slot]);
  e->cb[o->slot] = lxfer_ref_fn(L, v);
  return XFERE_OK;
}

static XFERcode set_fields(lua_State *L, struct lxfer_easy *e,
                           const struct opt *o, int v, int arg) {
  struct lxfer_easy_x *x;
  const char *s = NULL;
  size_t len = 0;
  XFERcode rc;
  if (!lua_isnil(L, v)) {
    if (lua_type(L, v) != LUA_TSTRING) {
      lua_pushvalue(L, v);
      optfail(L, arg, o, "a string");
    }
    s = lua_tolstring(L, v, &len);
    lxfer_easy_x(L, e)->fields_len = (xfer_off_t)len;
    /* Lua strings may hold zeros: the size, not strlen, says where the
     * body ends. */
    rc = xfer_easy_setopt(e->h, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)len);
    if (rc) return rc;
  }
  x = lxfer_easy_x(L, e);
  if (!s) x->fields_len = -1;
  rc = xfer_easy_setopt(e->h, o->id, s);
  if (rc || o->kind != K_POSTFIELDS) return rc;
  /* The core reads the string in place: keep it, and keep the one a
   * running transfer may still be sending. */
  if (busy(e) && x->postfields_old == LUA_NOREF) {
    x->postfields_old = x->postfields;
    x->postfields = LUA_NOREF;
  }
  unref(L, &x->postfields);
  if (s) {
    lua_pushvalue(L, v);
    x->postfields = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return XFERE_OK;
}

/* The core reads postfieldsize bytes of the body set: never more than the
 * string has (a larger size would send the memory after it). */
static void check_fieldsize(lua_State *L, struct lxfer_easy *e,
                            const struct opt *o, xfer_off_t n, int arg) {
  if (e->x && e->x->fields_len >= 0 && n > e->x->fields_len)
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' (%f) is larger "
                  "than the postfields set (%f bytes)", o->name,
                  (lua_Number)n, (lua_Number)e->x->fields_len));
}

/* header_lines, collect_body: a boolean; true puts the C collector fn in
 * the place of the Lua function of slot (which goes), false empties it. */
static XFERcode set_collector(lua_State *L, struct lxfer_easy *e,
                              const struct opt *o, int v, int arg, int slot,
                              xfer_write_callback fn) {
  static const int fns[2][2] = {
    {XFEROPT_WRITEFUNCTION, XFEROPT_WRITEDATA},
    {XFEROPT_HEADERFUNCTION, XFEROPT_HEADERDATA}};
  const int *id = fns[slot == LXFER_CB_HEADER];
  int on = lua_toboolean(L, v);
  XFERcode rc;
  if (!lua_isnil(L, v) && lua_type(L, v) != LUA_TBOOLEAN) {
    lua_pushvalue(L, v);
    optfail(L, arg, o, "a boolean");
  }
  lxfer_easy_x(L, e); /* the collector's buffer */
  lxfer_unref_fn(L, &e->cb[slot]);
  rc = xfer_easy_setopt(e->h, id[0], on ? fn : NULL);
  if (!rc) rc = xfer_easy_setopt(e->h, id[1], on ? (void *)e : NULL);
  return rc;
}

static void apply(lua_State *L, struct lxfer_easy *e, const struct opt *o,
                  int v, int arg) {
  XFERcode rc = XFERE_OK;
  struct xfer_slist *l;
  v = lua_absindex(L, v);
  switch (o->kind) {
  case K_LONG: {
    long n = check_long(L, o, v, arg);
    if (o->id == XFEROPT_POSTFIELDSIZE) check_fieldsize(L, e, o, n, arg);
    if (o->id == XFEROPT_HTTPGET && n && e->x)
      e->x->fields_len = -1; /* drops them */
    rc = xfer_easy_setopt(e->h, o->id, n);
    break;
  }
  case K_VALUES: {
    long n = check_values(L, o, v, arg);
    rc = xfer_easy_setopt(e->h, o->id, n);
    if (rc == XFERE_BAD_FUNCTION_ARGUMENT || rc == XFERE_NOT_BUILT_IN) {
      char num[32];
      snprintf(num, sizeof(num), "%ld", n);
      luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be %s, got "
                    "%s%s", o->name, values_of(o->id), num,
                    rc == XFERE_NOT_BUILT_IN ? " (not built in)" : ""));
    }
    break;
  }
  case K_OFFT: {
    lua_Integer n = 0;
    lua_pushvalue(L, v);
    if (!lxfer_tointeger(L, -1, &n)) optfail(L, arg, o, "an integer");
    lua_pop(L, 1);
    if (o->id == XFEROPT_POSTFIELDSIZE_LARGE)
      check_fieldsize(L, e, o, (xfer_off_t)n, arg);
    rc = xfer_easy_setopt(e->h, o->id, (xfer_off_t)n);
    break;
  }
  case K_STRING:
    if (!lua_isnil(L, v) && lua_type(L, v) != LUA_TSTRING) {
      lua_pushvalue(L, v);
      optfail(L, arg, o, "a string");
    }
    if (!lua_isnil(L, v)) check_nul(L, o, v, arg);
    rc = xfer_easy_setopt(e->h, o->id, lua_tostring(L, v));
    break;
  case K_POSTFIELDS:
  case K_COPYFIELDS:
    rc = set_fields(L, e, o, v, arg);
    break;
  case K_SLIST:
    lxfer_easy_x(L, e); /* before the list: nothing to free on error */
    l = check_slist(L, o, v, arg);
    rc = xfer_easy_setopt(e->h, o->id, l);
    if (rc) {
      xfer_slist_free_all(l);
      break;
    }
    retire_list(e, e->x->lists[o->slot]);
    e->x->lists[o->slot] = l;
    break;
  case K_FUNC:
    rc = set_func(L, e, o, v, arg);
    break;
  case K_HLINES:
    rc = set_collector(L, e, o, v, arg, LXFER_CB_HEADER, collect_cb);
    e->x->hdr_len = 0;
    break;
  case K_BODY:
    rc = set_collector(L, e, o, v, arg, LXFER_CB_WRITE, body_cb);
    e->x->body_len = 0;
    break;
  case K_PRIVATE:
    lxfer_easy_x(L, e);
    unref(L, &e->x->priv);
    lua_pushvalue(L, v);
    e->x->priv = luaL_ref(L, LUA_REGISTRYINDEX); /* nil gives LUA_REFNIL */
    break;
  default:
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' is not available "
                  "from Lua (closures carry their data; err.message carries "
                  "the error text)", o->name));
  }
  if (rc)
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s': %s (%s)", o->name,
                  xfer_easy_strerror(rc), xfer_easy_codename(rc)));
}

/* Checks every name first, so an unknown one changes nothing; then applies
 * in the order of opts[]. */
static void apply_table(lua_State *L, struct lxfer_easy *e, int t) {
  int idx[MAXOPTS], pos[MAXOPTS], n = 0, i, j, k, p, base;
  t = lua_absindex(L, t);
  base = lua_gettop(L);
  /* One walk: each value stays on the stack (no look-up by name after),
   * under the key lua_next needs on top. */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_insert(L, -2);
    idx[n] = lxfer_optindex(L, &opt_key, -1, t);
    pos[n] = base + n + 1;
    n++;
    luaL_checkstack(L, 2, "too many options");
  }
  for (i = 1; i < n; i++) {
    for (k = idx[i], p = pos[i], j = i; j > 0 && idx[j - 1] > k; j--) {
      idx[j] = idx[j - 1];
      pos[j] = pos[j - 1];
    }
    idx[j] = k;
    pos[j] = p;
  }
  for (i = 0; i < n; i++) apply(L, e, &opts[idx[i]], pos[i], t);
  lua_settop(L, base);
}

/* easy:setopt{name = value, ...} or easy:setopt(name, value) */
static int easy_setopt(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  if (lua_type(L, 2) == LUA_TTABLE) {
    apply_table(L, e, 2);
  } else {
    luaL_checkany(L, 3);
    apply(L, e, &opts[lxfer_optindex(L, &opt_key, 2, 2)], 3, 3);
  }
  lua_settop(L, 1);
  return 1;
}

/* easy:setopt_<name>(value); the option's index is the upvalue. */
static int easy_setopt_one(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  luaL_checkany(L, 2);
  apply(L, e, &opts[lua_tointeger(L, lua_upvalueindex(LXFER_UP_INDEX))], 2,
        2);
  lua_settop(L, 1);
  return 1;
}

/* ---- getinfo ---- */

/* Pushes one info; returns the core's code (nothing pushed on error). */
static XFERcode push_info(lua_State *L, struct lxfer_easy *e,
                          const struct info *in) {
  XFERcode rc;
  if (in->id == XFERINFO_PRIVATE) {
    if (e->x) lua_rawgeti(L, LUA_REGISTRYINDEX, e->x->priv);
    else lua_pushnil(L);
    return XFERE_OK;
  }
  switch (in->id & XFERINFO_TYPEMASK) {
  case XFERINFO_STRING: {
    const char *s = NULL;
    if ((rc = xfer_easy_getinfo(e->h, (XFERINFO)in->id, &s))) return rc;
    if (s) lua_pushstring(L, s);
    else lua_pushnil(L);
    return XFERE_OK;
  }
  case XFERINFO_PTR: { /* COOKIELIST: an array of strings */
    struct xfer_slist *l = NULL, *p;
    int i = 0;
    if ((rc = xfer_easy_getinfo(e->h, (XFERINFO)in->id, &l))) return rc;
    lua_newtable(L);
    for (p = l; p; p = p->next) {
      lua_pushstring(L, p->data);
      lua_rawseti(L, -2, ++i);
    }
    xfer_slist_free_all(l);
    return XFERE_OK;
  }
  case XFERINFO_LONG: {
    long v = 0;
    if ((rc = xfer_easy_getinfo(e->h, (XFERINFO)in->id, &v))) return rc;
    lua_pushinteger(L, (lua_Integer)v);
    return XFERE_OK;
  }
  default: {
    xfer_off_t v = 0;
    if ((rc = xfer_easy_getinfo(e->h, (XFERINFO)in->id, &v))) return rc;
    lua_pushinteger(L, (lua_Integer)v);
    return XFERE_OK;
  }
  }
}

static int info_one(lua_State *L, struct lxfer_easy *e, int k, int arg) {
  XFERcode rc = push_info(L, e, &infos[k]);
  if (rc)
    return luaL_argerror(L, arg, lua_pushfstring(L, "info '%s': %s (%s)",
                         infos[k].name, xfer_easy_strerror(rc),
                         xfer_easy_codename(rc)));
  return 1;
}

/* easy:getinfo() -> table of every info; easy:getinfo(name) -> value */
static int easy_getinfo(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  int k;
  if (!lua_isnoneornil(L, 2)) {
    k = lxfer_nameindex(L, &info_key, 2);
    if (k < 0)
      return luaL_argerror(L, 2, lua_pushfstring(L, "unknown info '%s'",
                                                 luaL_checkstring(L, 2)));
    return info_one(L, e, k, 2);
  }
  lua_createtable(L, 0, NINFOS);
  for (k = 0; k < NINFOS; k++)
    if (push_info(L, e, &infos[k]) == XFERE_OK)
      lua_setfield(L, -2, infos[k].name);
  return 1;
}

static int easy_getinfo_one(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  return info_one(L, e,
                  (int)lua_tointeger(L, lua_upvalueindex(LXFER_UP_INDEX)), 1);
}

/* ---- results, perform, reset ---- */

/* Pushes easy, true -- or easy, false, err.  Returns the count.  eidx:
 * where the easy is on the stack, or 0 to look it up. */
int lxfer_push_result(lua_State *L, int eidx, struct lxfer_easy *e,
                      XFERcode rc) {
  if (eidx) lua_pushvalue(L, eidx);
  else lxfer_push_easy(L, e);
  lua_pushboolean(L, rc == XFERE_OK);
  if (rc == XFERE_OK) return 2;
  lxfer_pusherror(L, LXFER_KIND_EASY, rc, lxfer_easy_errtext(e));
  return 3;
}

/* easy:perform() -> true, or nil, err: blocking, on the core's private
 * multi handle; callbacks run on this call's thread. */
static int easy_perform(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  struct lxfer_ctx ctx;
  char msg[XFER_ERROR_SIZE];
  XFERcode rc;
  if (e->m) {
    lua_pushnil(L);
    lxfer_pusherror(L, LXFER_KIND_EASY, XFERE_FAILED_INIT,
                    "the easy handle is added to a multi handle");
    return 2;
  }
  if (e->performing) {
    lua_pushnil(L);
    lxfer_pusherror(L, LXFER_KIND_EASY, XFERE_RECURSIVE_API_CALL, NULL);
    return 2;
  }
  memset(&ctx, 0, sizeof(ctx));
  ctx.L = L;
  ctx.err = LUA_NOREF;
  lxfer_easy_new_run(L, e);
  lua_pushvalue(L, 1);
  ctx.self = luaL_ref(L, LUA_REGISTRYINDEX); /* lxfer_push_easy */
  e->u.perform = &ctx;
  e->performing = 1;
  rc = xfer_easy_perform(e->h);
  e->performing = 0;
  e->u.perform = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, ctx.self);
  lxfer_easy_unbusy(L, e);
  msg[0] = 0;
  if (rc != XFERE_OK) { /* before a close below frees where it is */
    const char *t = e->x && e->x->abortmsg && e->x->abortmsg[0]
                        ? e->x->abortmsg
                        : xfer_easy_errortext(e->h ? e->h : ctx.closing);
    snprintf(msg, sizeof(msg), "%s", t);
  }
  if (ctx.closing) { /* closed by one of its callbacks */
    xfer_easy_cleanup(ctx.closing);
    release(L, e);
  }
  if (ctx.err != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx.err);
    luaL_unref(L, LUA_REGISTRYINDEX, ctx.err);
    return lua_error(L);
  }
  if (rc == XFERE_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lxfer_pusherror(L, LXFER_KIND_EASY, rc, msg);
  return 2;
}

/* easy:take_header_lines() -> { "Name: value", ... }: the header lines
 * header_lines kept (the last response's, line ends and blank lines left
 * out), which are then forgotten. */
static int easy_take_header_lines(lua_State *L) {
  struct lxfer_easy_x *x = lxfer_checkeasy(L, 1)->x;
  const char *p = x ? x->hdr : NULL, *end = x ? x->hdr + x->hdr_len : NULL;
  int n = 0;
  lua_createtable(L, 16, 0);
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    const char *next = nl ? nl + 1 : end;
    if (stop > p && stop[-1] == '\r') stop--;
    if (stop > p && !(stop - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
      lua_pushlstring(L, p, (size_t)(stop - p));
      lua_rawseti(L, -2, ++n);
    }
    p = next;
  }
  if (x) x->hdr_len = 0;
  return 1;
}

/* easy:take_header_block(): the same lines as one string, as received
 * (status line and line ends included): one string instead of a string per
 * line, for callers that split only when the headers are read. */
static int easy_take_header_block(lua_State *L) {
  struct lxfer_easy_x *x = lxfer_checkeasy(L, 1)->x;
  if (x && x->hdr) {
    lua_pushlstring(L, x->hdr, x->hdr_len);
    x->hdr_len = 0;
  } else {
    lua_pushliteral(L, "");
  }
  return 1;
}

/* easy:take_body() -> the body collect_body kept since the transfer
 * started (or the last take), which is then forgotten.  The buffer stays
 * for the next transfer unless it grew large. */
static int easy_take_body(lua_State *L) {
  struct lxfer_easy_x *x = lxfer_checkeasy(L, 1)->x;
  if (!x || !x->body) {
    lua_pushliteral(L, "");
    return 1;
  }
  lua_pushlstring(L, x->body, x->body_len);
  x->body_len = 0;
  if (x->body_cap > 65536) {
    free(x->body);
    x->body = NULL;
    x->body_cap = 0;
  }
  return 1;
}

/* easy:pause(bits): xfer.PAUSE_RECV, PAUSE_SEND, PAUSE_ALL or PAUSE_CONT;
 * from any callback or from outside.  Returns the easy, or raises on bits
 * that are none of those (BAD_FUNCTION_ARGUMENT, a misuse).
 * A change of pause arms the transfer's timer, so the core may call the
 * multi's timer callback from inside: that is a call into the multi
 * handle like any other (callbacks run on this thread, and an error of
 * theirs is raised here).  From a luv timer, say, no call is in progress,
 * and a Lua timer function would otherwise find no thread to run on. */
static int easy_pause(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  lua_Integer bits = lxfer_checkint(L, 2);
  struct lxfer_ctx *ctx = lxfer_ectx(e);
  struct lxfer_frame f;
  XFERcode rc;
  if (bits < 0 || bits > XFERPAUSE_ALL)
    return luaL_argerror(L, 2, "not a combination of xfer.PAUSE_*");
  if (ctx) lxfer_enter(ctx, L, &f);
  rc = xfer_easy_pause(e->h, (int)bits);
  if (ctx) lxfer_leave(ctx, L, &f);
  if (rc != XFERE_OK)
    return luaL_argerror(L, 2, "not a combination of xfer.PAUSE_*");
  lua_settop(L, 1);
  return 1;
}

/* easy:reset(): every option back to its default, Lua values dropped. */
static int easy_reset(lua_State *L) {
  struct lxfer_easy *e = lxfer_checkeasy(L, 1);
  if (busy(e))
    return luaL_error(L, "cannot reset an easy handle that is added to a "
                         "multi handle or performing");
  xfer_easy_reset(e->h);
  release(L, e);
  set_fixed(e);
  lua_settop(L, 1);
  return 1;
}

/* xfer.easy_init([options]) */
int lxfer_easy_new(lua_State *L) {
  struct lxfer_easy *e;
  int i;
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1); /* the options (or nil) stay at 1 */
  /* Made closed, with its metatable, before the core handle exists: a
   * failure below leaves a closed box for __gc, never a leak. */
  e = lxfer_newudata(L, sizeof(*e));
  memset(e, 0, sizeof(*e));
  for (i = 0; i < LXFER_CB_MAX; i++) e->cb[i] = LUA_NOREF;
  lxfer_setmeta(L, &lxfer_easy_mtkey);
#if LUA_VERSION_NUM == 501
  lxfer_push_none(L); /* 5.1's environment must be a table */
  lxfer_setuservalue(L, -2);
#endif
  if (!(e->h = xfer_easy_init())) return luaL_error(L, "out of memory");
  set_fixed(e);
  if (!lua_isnoneornil(L, 1)) apply_table(L, e, 1);
  return 1;
}

/* Pushes the empty user value: nil, or on 5.1 and LuaJIT (whose
 * environments are tables) a shared empty table. */
void lxfer_push_none(lua_State *L) {
#if LUA_VERSION_NUM == 501
  lua_rawgetp(L, LUA_REGISTRYINDEX, &none_key);
#else
  lua_pushnil(L);
#endif
}

static const luaL_Reg methods[] = {
  {"setopt", easy_setopt},
  {"getinfo", easy_getinfo},
  {"perform", easy_perform},
  {"reset", easy_reset},
  {"pause", easy_pause},
  {"take_header_lines", easy_take_header_lines},
  {"take_header_block", easy_take_header_block},
  {"take_body", easy_take_body},
  {"close", easy_close_m},
  {NULL, NULL}
};

/* xfer.options(): { {name = "url", id = 10002, type = "string"}, ... },
 * the core's options by their Lua names, in the core's order, with their
 * libcurl types ("long", "values", "off_t", "object", "string", "slist",
 * "cbptr", "blob", "function"): what xfer_easy_option_next lists in C. */
int lxfer_options(lua_State *L) {
  static const char *const types[] = {"long", "values", "off_t", "object",
                                      "string", "slist", "cbptr", "blob",
                                      "function"};
  const struct xfer_easyoption *co;
  int i = 0;
  lua_newtable(L);
  for (co = xfer_easy_option_next(NULL); co; co = xfer_easy_option_next(co)) {
    char name[32];
    size_t k;
    for (k = 0; co->name[k] && k < sizeof(name) - 1; k++)
      name[k] = (char)(co->name[k] >= 'A' && co->name[k] <= 'Z'
                           ? co->name[k] + 32 : co->name[k]);
    name[k] = 0;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, co->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, (unsigned)co->type < sizeof(types) / sizeof(types[0])
                          ? types[co->type] : "unknown");
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

void lxfer_easy_open(lua_State *L) {
  const char *names[MAXOPTS > NINFOS ? MAXOPTS : NINFOS];
  int i;
  pthread_once(&opts_once, build_opts);
  for (i = 0; i < NOPTS; i++) names[i] = opts[i].name;
  lxfer_nametable(L, &opt_key, names, NOPTS);
  for (i = 0; i < NINFOS; i++) names[i] = infos[i].name;
  lxfer_nametable(L, &info_key, names, NINFOS);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &none_key);
  lxfer_newmeta(L, LXFER_EASY_MT, &lxfer_easy_mtkey, methods, easy_gc,
                easy_tostring);
  for (i = 0; i < NOPTS; i++) {
    lua_pushfstring(L, "setopt_%s", opts[i].name);
    lxfer_push_metas(L);
    lua_pushinteger(L, i);
    lua_pushcclosure(L, easy_setopt_one, 3);
    lua_rawset(L, -3);
  }
  for (i = 0; i < NINFOS; i++) {
    lua_pushfstring(L, "getinfo_%s", infos[i].name);
    lxfer_push_metas(L);
    lua_pushinteger(L, i);
    lua_pushcclosure(L, easy_getinfo_one, 3);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1); /* __index */
  /* OPT_* and INFO_* into the module table, now on top. */
  for (i = 0; i < NOPTS; i++)
    if (opts[i].id >= 0) lxfer_setupper(L, "OPT_", opts[i].name, opts[i].id);
  for (i = 0; i < NINFOS; i++)
    lxfer_setupper(L, "INFO_", infos[i].name, infos[i].id);
}
