/*
 * lxfer_multi.c -- the multi handle in Lua ("xfer.multi"): options, adding
 * and removing easy handles, the socket_action/perform/wait drivers, the
 * Lua socket and timer callbacks, and run(), the built-in libuv loop.
 *
 * The binding keeps its own C socket and timer callbacks installed on the
 * core for the handle's whole life, forwarding to the current driver:
 * xfer_uv in C while run() may be used, else the Lua functions, else
 * nothing (perform/wait need no callbacks).  Whichever driver takes over
 * is told about the sockets that already exist by the core
 * (xfer_multi_reannounce) -- an idle keep-alive socket that nobody watches
 * would otherwise hang the next transfer reusing it.
 *
 * References: the multi's user value T is a table { [1] = multi,
 * [e->slot] = easy for each added easy (how the C callbacks find an easy's
 * userdata, lxfer_push_easy; the slots are handed out here, freed ones
 * first), sockets = { [fd] = assigned value } }, and an added easy's user
 * value is T too.
 * So an added easy cannot be collected while its multi lives, the multi
 * lives while an added easy is reachable, and a forgotten pair is
 * collected together.
 */
#include "lxfer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MK_VALUES: an integer, no boolean (pipelining = true would be 1,
 * PIPE_HTTP1, which turns multiplexing off). */
enum { MK_LONG, MK_VALUES, MK_SOCKETFN, MK_TIMERFN, MK_NOTLUA };

struct mopt {
  const char *name;
  int id;
  int kind;
};

static const struct mopt mopts[] = {
  {"max_total_connections", XFERMOPT_MAX_TOTAL_CONNECTIONS, MK_LONG},
  {"max_host_connections", XFERMOPT_MAX_HOST_CONNECTIONS, MK_LONG},
  {"maxconnects", XFERMOPT_MAXCONNECTS, MK_LONG},
  {"pipelining", XFERMOPT_PIPELINING, MK_VALUES},
  {"max_concurrent_streams", XFERMOPT_MAX_CONCURRENT_STREAMS, MK_LONG},
  {"socketfunction", XFERMOPT_SOCKETFUNCTION, MK_SOCKETFN},
  {"timerfunction", XFERMOPT_TIMERFUNCTION, MK_TIMERFN},
  {"socketdata", XFERMOPT_SOCKETDATA, MK_NOTLUA},
  {"timerdata", XFERMOPT_TIMERDATA, MK_NOTLUA},
};
#define NMOPTS ((int)(sizeof(mopts) / sizeof(mopts[0])))

static const char mopt_key = 'm'; /* registry: option name -> index */

/* ---- the C callbacks installed on the core ---- */

static int sock_tramp(XFER *h, xfer_socket_t fd, int what, void *ud,
                      void *socketp) {
  struct lxfer_multi *m = ud;
  struct lxfer_call c;
  int rc;
  if (m->uv) return xfer_uv_socket_cb(h, fd, what, m->uv, socketp);
  if (m->sockfn == LUA_NOREF || m->ctx.nolua) return 0;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_SOCKET;
  c.fn = m->sockfn;
  c.m = m;
  c.e = h ? lxfer_easy_of(h) : NULL;
  c.v[0] = fd;
  c.v[1] = what;
  c.v[2] = socketp != NULL; /* multi:assign gave it a Lua value */
  m->in_sockcb++;
  rc = lxfer_call(&m->ctx, &c);
  m->in_sockcb--;
  /* A socket nobody watches would hang its transfer: the core fails every
   * transfer in progress (42) and the call returns ABORTED_BY_CALLBACK. */
  return rc ? -1 : 0;
}

static int timer_tramp(XFERM *h, long ms, void *ud) {
  struct lxfer_multi *m = ud;
  struct lxfer_call c;
  int rc;
  if (m->uv) return xfer_uv_timer_cb(h, ms, m->uv);
  if (m->timerfn == LUA_NOREF || m->ctx.nolua) return 0;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_TIMER;
  c.fn = m->timerfn;
  c.m = m;
  c.v[0] = ms;
  m->in_sockcb++;
  rc = lxfer_call(&m->ctx, &c);
  m->in_sockcb--;
  return rc ? -1 : 0; /* as for the socket callback */
}

static void uv_done(XFER *h, XFERcode result, void *ud) {
  struct lxfer_multi *m = ud;
  struct lxfer_call c;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_DONE;
  c.fn = m->on_done;
  c.m = m;
  c.e = lxfer_easy_of(h);
  c.result = result;
  if (c.e) lxfer_call(&m->ctx, &c); /* an error stops run() */
}

/* run()'s wake timer fired: on_wake(), from the loop, outside every
 * transfer callback.  A true result stops run() (its caller knows that
 * nothing it waits for is in progress). */
static void wake_cb(uv_timer_t *t) {
  struct lxfer_multi *m = t->data;
  struct lxfer_call c;
  if (!m->in_run || m->on_wake == LUA_NOREF || !m->uv) return;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_WAKE;
  c.fn = m->on_wake;
  c.m = m;
  lxfer_call(&m->ctx, &c); /* an error stops run() */
  if (c.abort && m->uv) xfer_uv_stop(m->uv);
}

/* ---- their protected bodies ---- */

/* Pushes the multi's user value table T; nil while the multi is being
 * collected (gone from the weak map). */
static void push_t(lua_State *L, struct lxfer_multi *m) {
  lxfer_pushbox(L, m->boxes, m->id);
}

/* Pushes the userdata of e, or nil: an added easy's is in its multi's T,
 * a performing one's is referenced by its perform() call.  Callbacks run
 * only for those two kinds. */
void lxfer_push_easy(lua_State *L, struct lxfer_easy *e) {
  if (e->m) {
    push_t(L, e->m);
    if (lua_istable(L, -1)) {
      lua_rawgeti(L, -1, e->slot);
      lua_replace(L, -2);
    }
    return;
  }
  if (e->performing && e->u.perform->self != LUA_NOREF)
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->u.perform->self);
  else
    lua_pushnil(L);
}

/* T[field], made on first use, on the stack. */
static void push_field(lua_State *L, int t, const char *field) {
  t = lua_absindex(L, t);
  lua_getfield(L, t, field);
  if (lua_type(L, -1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, t, field);
}

/* socket(easy or nil, fd, what, assigned value) */
static void call_socket(lua_State *L, struct lxfer_call *c) {
  int fd = (int)c->v[0];
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
  lua_pushvalue(L, 1); /* the easy, or nil */
  lua_pushinteger(L, fd);
  lua_pushinteger(L, (lua_Integer)c->v[1]);
  if (c->v[2]) {
    push_t(L, c->m);
    push_field(L, -1, "sockets");
    lua_rawgeti(L, -1, fd);
    lua_replace(L, -3);
    lua_pop(L, 1);
  } else {
    lua_pushnil(L);
  }
  lua_call(L, 4, 0);
  if (c->v[1] == XFER_POLL_REMOVE && c->v[2]) {
    push_t(L, c->m);
    push_field(L, -1, "sockets");
    lua_pushnil(L);
    lua_rawseti(L, -2, fd);
  }
}

int lxfer_multi_body(lua_State *L, struct lxfer_call *c) {
  switch (c->kind) {
  case LXFER_CALL_SOCKET:
    call_socket(L, c);
    break;
  case LXFER_CALL_TIMER:
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
    lua_pushinteger(L, (lua_Integer)c->v[0]);
    lua_call(L, 1, 0);
    break;
  case LXFER_CALL_WAKE: /* on_wake() -> true: stop run() */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
    lua_call(L, 0, 1);
    c->abort = lua_toboolean(L, -1);
    break;
  default: { /* LXFER_CALL_DONE: on_done(easy, ok, err) */
    int n;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
    n = lxfer_push_result(L, 1, c->e, c->result);
    lua_call(L, n, 0);
  }
  }
  return 0;
}

/* ---- the box ---- */

static struct lxfer_multi *checkmulti(lua_State *L, int idx) {
  struct lxfer_multi *m = lxfer_checkudata(L, idx, &lxfer_multi_mtkey, LXFER_MULTI_MT);
  if (!m->h) luaL_argerror(L, idx, "multi handle is closed");
  return m;
}

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* T's slots: array indexes from 2 up (1 is the multi), freed ones
 * reused first, so that T stays as large as the most easies ever added
 * at once.  (luaL_ref would do, at 5 times the cost.) */
static int take_slot(struct lxfer_multi *m) {
  if (m->nfree) return m->free_slots[--m->nfree];
  if (m->next_slot < 2) m->next_slot = 2;
  return m->next_slot++;
}

/* Without memory for the list, a slot is not reused: T grows instead. */
static void free_slot(struct lxfer_multi *m, int slot) {
  if (m->nfree == m->cap_free) {
    int cap = m->cap_free ? m->cap_free * 2 : 64;
    int *n = realloc(m->free_slots, (size_t)cap * sizeof(*n));
    if (!n) return;
    m->free_slots = n;
    m->cap_free = cap;
  }
  m->free_slots[m->nfree++] = slot;
}

/* Takes e out of m (the core, the list, the references).  The caller has
 * entered m's context (or muted it) and checked that the core allows a
 * removal now.  eidx: e's stack index, or 0 to look it up. */
void lxfer_multi_detach_easy(lua_State *L, struct lxfer_multi *m,
                             struct lxfer_easy *e, int eidx) {
  int pushed = 0;
  if (!eidx) { /* found through T: before e leaves it */
    lxfer_push_easy(L, e);
    eidx = lua_gettop(L);
    pushed = 1;
  }
  if (m->h && e->h) xfer_multi_remove_handle(m->h, e->h);
  if (e->u.prev) e->u.prev->next = e->next;
  else m->easies = e->next;
  if (e->next) e->next->u.prev = e->u.prev;
  e->u.prev = e->next = NULL;
  e->m = NULL;
  lxfer_easy_unbusy(L, e);
  eidx = lua_absindex(L, eidx);
  /* Not found when the multi is being collected: then the easy is too,
   * and nothing needs to be unlinked. */
  if (!lua_isuserdata(L, eidx)) {
    if (pushed) lua_pop(L, 1);
    return;
  }
  lxfer_getuservalue(L, eidx);
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_rawseti(L, -2, e->slot);
    free_slot(m, e->slot);
  }
  lua_pop(L, 1);
  lxfer_push_none(L);
  lxfer_setuservalue(L, eidx);
  if (pushed) lua_pop(L, 1);
}

static void free_handle(uv_handle_t *h) { free(h); }

/* Stops run()'s driver and frees its handles (the loop stays for later). */
static void drop_uv(struct lxfer_multi *m) {
  if (m->wake) uv_timer_stop(m->wake); /* uv_run below must not wait */
  if (!m->uv) return;
  xfer_uv_close(m->uv);
  m->uv = NULL;
  uv_run(m->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
}

/* Idempotent; no Lua code runs from here (it serves __gc too). */
static void multi_close(lua_State *L, struct lxfer_multi *m) {
  if (!m->h) return;
  /* Inside one of its own calls the core refuses to go: keep it (a leak)
   * rather than free what frames below still use. */
  if (m->in_sockcb || m->ctx.incb || m->in_run) return;
  m->ctx.nolua++;
  unref(L, &m->sockfn);
  unref(L, &m->timerfn);
  unref(L, &m->on_done);
  while (m->easies) lxfer_multi_detach_easy(L, m, m->easies, 0);
  unref(L, &m->on_wake);
  drop_uv(m);
  xfer_multi_cleanup(m->h);
  m->h = NULL;
  free(m->free_slots);
  m->free_slots = NULL;
  m->nfree = m->cap_free = 0;
  if (m->wake) {
    uv_close((uv_handle_t *)m->wake, free_handle);
    m->wake = NULL;
  }
  if (m->loop) {
    uv_run(m->loop, UV_RUN_DEFAULT);
    uv_loop_close(m->loop);
    free(m->loop);
    m->loop = NULL;
  }
  m->ctx.nolua--;
}

static int multi_gc(lua_State *L) {
  multi_close(L, lxfer_checkudata(L, 1, &lxfer_multi_mtkey, LXFER_MULTI_MT));
  return 0;
}

static int multi_close_m(lua_State *L) {
  struct lxfer_multi *m = lxfer_checkudata(L, 1, &lxfer_multi_mtkey, LXFER_MULTI_MT);
  if (m->h && (m->in_sockcb || m->ctx.incb || m->in_run))
    return luaL_error(L, "cannot close a multi handle from inside its own "
                         "callbacks or run()");
  multi_close(L, m);
  return 0;
}

static int multi_tostring(lua_State *L) {
  struct lxfer_multi *m = lxfer_checkudata(L, 1, &lxfer_multi_mtkey, LXFER_MULTI_MT);
  if (m->h) lua_pushfstring(L, "xfer.multi (%p)", (void *)m);
  else lua_pushliteral(L, "xfer.multi (closed)");
  return 1;
}

/* ---- options ---- */

/* Tells a new Lua socket function about the sockets that exist already:
 * the previous driver watched them, this one must (the core replays
 * them: xfer_multi_reannounce). */
static void replay_sockets(struct lxfer_multi *m) {
  m->in_sockcb++;
  xfer_multi_reannounce(m->h);
  m->in_sockcb--;
}

/* A new Lua timer function hears the current deadline at once, and the
 * core reports the next one to it even if unchanged (setting the option
 * again tells the core its timer is a new one). */
static void replay_timer(struct lxfer_multi *m) {
  struct lxfer_call c;
  long ms = -1;
  xfer_multi_setopt(m->h, XFERMOPT_TIMERFUNCTION, timer_tramp);
  xfer_multi_timeout(m->h, &ms);
  if (ms < 0) return;
  memset(&c, 0, sizeof(c));
  c.kind = LXFER_CALL_TIMER;
  c.fn = m->timerfn;
  c.m = m;
  c.v[0] = ms;
  m->in_sockcb++;
  lxfer_call(&m->ctx, &c);
  m->in_sockcb--;
}

static void set_fn(lua_State *L, struct lxfer_multi *m, const struct mopt *o,
                   int v, int arg) {
  int *ref = o->kind == MK_SOCKETFN ? &m->sockfn : &m->timerfn;
  struct lxfer_frame f;
  if (!lua_isnil(L, v) && !lxfer_iscallable(L, v))
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a "
                  "function, got %s", o->name, luaL_typename(L, v)));
  if (m->in_run)
    luaL_error(L, "cannot set '%s' while run() drives the handle", o->name);
  unref(L, ref);
  if (lua_isnil(L, v)) return;
  drop_uv(m); /* the Lua functions drive the handle from now on */
  lua_pushvalue(L, v);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lxfer_enter(&m->ctx, L, &f);
  if (o->kind == MK_SOCKETFN) replay_sockets(m);
  else replay_timer(m);
  lxfer_leave(&m->ctx, L, &f);
}

static void mapply(lua_State *L, struct lxfer_multi *m, const struct mopt *o,
                   int v, int arg) {
  lua_Integer n = 0;
  char num[32];
  XFERMcode rc;
  struct lxfer_frame f;
  v = lua_absindex(L, v);
  if (m->in_sockcb)
    luaL_error(L, "cannot set options inside the socket or timer callback "
                  "(RECURSIVE_API_CALL)");
  switch (o->kind) {
  case MK_LONG:
  case MK_VALUES:
    if (lua_type(L, v) == LUA_TBOOLEAN && o->kind == MK_LONG)
      n = lua_toboolean(L, v);
    else if (!lxfer_tointeger(L, v, &n))
      luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be %s, "
                    "got %s", o->name, o->kind == MK_VALUES
                    ? "xfer.PIPE_NOTHING or xfer.PIPE_MULTIPLEX"
                    : "an integer", luaL_typename(L, v)));
    snprintf(num, sizeof(num), "%lld", (long long)n);
    /* A raised limit starts waiting transfers: callbacks may run. */
    lxfer_enter(&m->ctx, L, &f);
    rc = xfer_multi_setopt(m->h, (XFERMoption)o->id, (long)n);
    lxfer_leave(&m->ctx, L, &f);
    /* ABORTED_BY_CALLBACK: the value is set; a callback failed after. */
    if (rc == XFERM_BAD_FUNCTION_ARGUMENT && o->id == XFERMOPT_PIPELINING)
      luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be "
                    "xfer.PIPE_NOTHING or xfer.PIPE_MULTIPLEX (PIPE_HTTP1 is "
                    "taken and ignored), got %s", o->name, num));
    if (rc == XFERM_BAD_FUNCTION_ARGUMENT &&
        o->id == XFERMOPT_MAX_CONCURRENT_STREAMS)
      luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be from 1 "
                    "to 2147483647 (0: the default, 100), got %s", o->name,
                    num));
    if (rc && rc != XFERM_ABORTED_BY_CALLBACK)
      luaL_argerror(L, arg, lua_pushfstring(L, "option '%s': %s (%s)",
                    o->name, xfer_multi_strerror(rc),
                    xfer_multi_codename(rc)));
    break;
  case MK_SOCKETFN:
  case MK_TIMERFN:
    set_fn(L, m, o, v, arg);
    break;
  default:
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' is not available "
                  "from Lua (closures carry their data)", o->name));
  }
}

static void mapply_table(lua_State *L, struct lxfer_multi *m, int t) {
  int idx[NMOPTS], n, i;
  t = lua_absindex(L, t);
  n = lxfer_table_optindexes(L, &mopt_key, t, idx);
  for (i = 0; i < n; i++) {
    lua_getfield(L, t, mopts[idx[i]].name);
    mapply(L, m, &mopts[idx[i]], -1, t);
    lua_pop(L, 1);
  }
}

static int multi_setopt(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  if (lua_type(L, 2) == LUA_TTABLE) {
    mapply_table(L, m, 2);
  } else {
    luaL_checkany(L, 3);
    mapply(L, m, &mopts[lxfer_optindex(L, &mopt_key, 2, 2)], 3, 3);
  }
  lua_settop(L, 1);
  return 1;
}

static int multi_setopt_one(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  luaL_checkany(L, 2);
  mapply(L, m, &mopts[lua_tointeger(L, lua_upvalueindex(LXFER_UP_INDEX))], 2,
         2);
  lua_settop(L, 1);
  return 1;
}

/* ---- adding and removing ---- */

static int multi_add(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  struct lxfer_easy *e = lxfer_checkeasy(L, 2);
  struct lxfer_frame f;
  XFERMcode rc;
  if (e->m == m) return lxfer_mfail(L, XFERM_ADDED_ALREADY);
  if (e->m || e->performing) return lxfer_mfail(L, XFERM_BAD_EASY_HANDLE);
  if (m->in_sockcb) return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
  /* References first (they may raise), and the link before the core call:
   * the timer callback it makes may already look at e. */
  lxfer_getuservalue(L, 1);
  lua_pushvalue(L, 2);
  e->slot = take_slot(m);
  lua_rawseti(L, -2, e->slot);
  lxfer_setuservalue(L, 2);
  e->m = m;
  e->u.prev = NULL;
  e->next = m->easies;
  if (m->easies) m->easies->u.prev = e;
  m->easies = e;
  lxfer_easy_new_run(L, e);
  lxfer_enter(&m->ctx, L, &f);
  rc = xfer_multi_add_handle(m->h, e->h);
  /* ABORTED_BY_CALLBACK: added, then failed with the others by a failing
   * timer callback (whose error lxfer_leave raises). */
  if (rc && rc != XFERM_ABORTED_BY_CALLBACK) {
    XFER *h = e->h;
    e->h = NULL; /* the core does not have it: nothing to remove */
    lxfer_multi_detach_easy(L, m, e, 2);
    e->h = h;
  }
  lxfer_leave(&m->ctx, L, &f);
  if (rc) return lxfer_mfail(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int multi_remove(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  struct lxfer_easy *e = lxfer_checkeasy(L, 2);
  struct lxfer_frame f;
  if (e->m && e->m != m) return lxfer_mfail(L, XFERM_BAD_EASY_HANDLE);
  if (e->m == m) {
    if (m->in_sockcb) return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
    lxfer_enter(&m->ctx, L, &f);
    lxfer_multi_detach_easy(L, m, e, 2);
    lxfer_leave(&m->ctx, L, &f);
  }
  lua_pushboolean(L, 1); /* not added anywhere: nothing to do, as libcurl */
  return 1;
}

/* ---- drivers ---- */

/* perform, socket_action, wait and poll step transfers: not from inside a
 * transfer's own callback (the core guards only its socket and timer
 * callbacks; in_sockcb also covers the calls replayed by setopt), and not
 * while run() has the handle. */
static int busy(struct lxfer_multi *m) {
  return m->ctx.incb || m->in_sockcb || m->in_run;
}

static int running_result(lua_State *L, XFERMcode rc, int running) {
  if (rc) return lxfer_mfail(L, rc);
  lua_pushinteger(L, running);
  return 1;
}

static int multi_perform(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  struct lxfer_frame f;
  int running = 0;
  XFERMcode rc;
  if (busy(m)) return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
  lxfer_enter(&m->ctx, L, &f);
  rc = xfer_multi_perform(m->h, &running);
  lxfer_leave(&m->ctx, L, &f);
  return running_result(L, rc, running);
}

/* A socket number: a larger integer would be cut down to another one. */
static xfer_socket_t checkfd(lua_State *L, int idx) {
  lua_Integer fd = lxfer_checkint(L, idx);
  luaL_argcheck(L, fd >= -1 && fd <= INT_MAX, idx, "not a socket number");
  return (xfer_socket_t)fd;
}

static int multi_socket_action(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  xfer_socket_t fd = checkfd(L, 2);
  int mask = (int)lxfer_optint(L, 3, 0), running = 0;
  struct lxfer_frame f;
  XFERMcode rc;
  if (busy(m)) return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
  lxfer_enter(&m->ctx, L, &f);
  rc = xfer_multi_socket_action(m->h, fd, mask, &running);
  lxfer_leave(&m->ctx, L, &f);
  return running_result(L, rc, running);
}

static int multi_socket_all(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  struct lxfer_frame f;
  int running = 0;
  XFERMcode rc;
  if (busy(m)) return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
  lxfer_enter(&m->ctx, L, &f);
  rc = xfer_multi_socket_all(m->h, &running);
  lxfer_leave(&m->ctx, L, &f);
  return running_result(L, rc, running);
}

static int wait_common(lua_State *L, int use_poll) {
  struct lxfer_multi *m = checkmulti(L, 1);
  lua_Integer ms = lxfer_optint(L, 2, 1000);
  int numfds = 0;
  XFERMcode rc;
  luaL_argcheck(L, ms >= 0, 2, "timeout must not be negative");
  if (ms > INT_MAX) ms = INT_MAX; /* 24 days: as good as forever */
  if (busy(m)) return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
  /* No callback runs in wait/poll: no context needed. */
  rc = use_poll ? xfer_multi_poll(m->h, NULL, 0, (int)ms, &numfds)
                : xfer_multi_wait(m->h, NULL, 0, (int)ms, &numfds);
  return running_result(L, rc, numfds);
}

static int multi_wait(lua_State *L) { return wait_common(L, 0); }
static int multi_poll(lua_State *L) { return wait_common(L, 1); }

static int multi_wakeup(lua_State *L) {
  XFERMcode rc = xfer_multi_wakeup(checkmulti(L, 1)->h);
  if (rc) return lxfer_mfail(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int multi_timeout(lua_State *L) {
  long ms = -1;
  XFERMcode rc = xfer_multi_timeout(checkmulti(L, 1)->h, &ms);
  if (rc) return lxfer_mfail(L, rc);
  lua_pushinteger(L, (lua_Integer)ms); /* a long: past 2^31 ms too */
  return 1;
}

/* info_read() -> easy, true | easy, false, err | nothing */
static int multi_info_read(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  XFERMsg *msg;
  struct lxfer_easy *e;
  while ((msg = xfer_multi_info_read(m->h, NULL)) != NULL) {
    if (msg->msg != XFERMSG_DONE) continue;
    if (!(e = lxfer_easy_of(msg->easy_handle))) continue;
    return lxfer_push_result(L, 0, e, msg->data.result);
  }
  return 0;
}

/* assign(fd, value): value comes back as the socket callback's 4th
 * argument; kept here in Lua (the core's socketp only marks it). */
static int multi_assign(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  xfer_socket_t fd = checkfd(L, 2);
  XFERMcode rc;
  luaL_checkany(L, 3);
  /* The core's socketp says whether a Lua value is assigned: non-NULL. */
  rc = xfer_multi_assign(m->h, fd, lua_isnil(L, 3) ? NULL : m);
  if (rc) return lxfer_mfail(L, rc);
  lxfer_getuservalue(L, 1);
  push_field(L, -1, "sockets");
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, fd);
  lua_pushboolean(L, 1);
  return 1;
}

static int multi_get_handles(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  struct lxfer_easy *e;
  int i = 0;
  lua_newtable(L);
  for (e = m->easies; e; e = e->next) {
    lxfer_push_easy(L, e);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

/* ---- run(): the built-in libuv loop ---- */

static int make_loop(struct lxfer_multi *m) {
  if (!m->loop) {
    if (!(m->loop = malloc(sizeof(*m->loop)))) return UV_ENOMEM;
    if (uv_loop_init(m->loop)) {
      free(m->loop);
      m->loop = NULL;
      return UV_ENOMEM;
    }
  }
  return 0;
}

static int make_uv(lua_State *L, struct lxfer_multi *m) {
  int rc;
  if ((rc = make_loop(m)) != 0) return rc;
  (void)L;
  if (m->uv) return 0;
  if (!(m->uv = xfer_uv_new(m->loop, m->h))) return UV_ENOMEM;
  /* The sockets that exist already, with their current interest. */
  m->in_sockcb++;
  xfer_multi_reannounce(m->h);
  m->in_sockcb--;
  return 0;
}

/* wake(ms): arms run()'s wake timer: ms from now (0: the next turn of the
 * loop; -1 stops it), run{on_wake = fn} calls fn() from the loop, never
 * inside a transfer's callback, and stops when fn returns true.  One
 * timer: a new wake replaces the last.  It fires only while run() runs
 * (a wake due earlier fires at the start of the next run()); it keeps
 * run()'s loop alive while armed.  Allowed from anywhere, callbacks
 * included: it only arms a timer.  For schedulers built on run() (the
 * coroutine layer's sleep and streaming). */
static int multi_wake(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  lua_Integer ms = lxfer_checkint(L, 2);
  if (make_loop(m) != 0) return luaL_error(L, "not enough memory");
  if (!m->wake) {
    if (!(m->wake = malloc(sizeof(*m->wake))))
      return luaL_error(L, "not enough memory");
    uv_timer_init(m->loop, m->wake);
    m->wake->data = m;
  }
  if (ms < 0) {
    uv_timer_stop(m->wake);
  } else {
    uv_update_time(m->loop); /* cached per iteration, stale between runs */
    uv_timer_start(m->wake, wake_cb, (uint64_t)ms, 0);
  }
  return 0;
}

/* run([{on_done = function(easy, ok, err) end}]) -> true | nil, err
 * Drives every transfer to its end on a libuv loop, in C; Lua runs only for
 * the transfers' own callbacks and on_done.  Without on_done, completion
 * messages stay for info_read.  A callback error stops the loop and is
 * raised; the remaining transfers stay added, for the next run(). */
static int multi_run(lua_State *L) {
  struct lxfer_multi *m = checkmulti(L, 1);
  struct lxfer_frame f;
  int rc;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "on_done");
    if (!lua_isnil(L, -1) && !lxfer_iscallable(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'on_done' must be a "
                    "function, got %s", luaL_typename(L, -1)));
    lua_getfield(L, 2, "on_wake");
    if (!lua_isnil(L, -1) && !lxfer_iscallable(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "field 'on_wake' must be a "
                    "function, got %s", luaL_typename(L, -1)));
    lua_insert(L, -2); /* on_done on top */
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  if (m->in_run || m->in_sockcb || m->ctx.incb)
    return lxfer_mfail(L, XFERM_RECURSIVE_API_CALL);
  if (m->sockfn != LUA_NOREF || m->timerfn != LUA_NOREF)
    return luaL_error(L, "run() drives the multi handle itself: set "
                         "socketfunction and timerfunction to nil first");
  if ((rc = make_uv(L, m)) != 0) {
    lua_pushnil(L);
    lxfer_pusherror(L, LXFER_KIND_UV, rc, NULL);
    return 2;
  }
  if (!lua_isnil(L, -1)) {
    m->on_done = luaL_ref(L, LUA_REGISTRYINDEX);
    xfer_uv_on_done(m->uv, uv_done, m);
  } else {
    lua_pop(L, 1);
  }
  if (!lua_isnil(L, -1)) m->on_wake = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_pop(L, 1);
  lxfer_enter(&m->ctx, L, &f);
  m->in_run = 1;
  m->ctx.uv = m->uv;
  rc = xfer_uv_run(m->uv);
  m->in_run = 0;
  m->ctx.uv = NULL;
  xfer_uv_on_done(m->uv, NULL, NULL);
  unref(L, &m->on_done);
  unref(L, &m->on_wake);
  lxfer_leave(&m->ctx, L, &f);
  if (rc > 0) return lxfer_mfail(L, (XFERMcode)rc);
  if (rc < 0) {
    lua_pushnil(L);
    lxfer_pusherror(L, LXFER_KIND_UV, rc, NULL);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- construction ---- */

int lxfer_multi_new(lua_State *L) {
  struct lxfer_multi *m;
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1); /* the options (or nil) stay at 1 */
  m = lxfer_newudata(L, sizeof(*m));
  memset(m, 0, sizeof(*m));
  m->sockfn = m->timerfn = m->on_done = m->on_wake = LUA_NOREF;
  m->ctx.err = m->ctx.self = LUA_NOREF;
  lxfer_setmeta(L, &lxfer_multi_mtkey);
  lua_createtable(L, 1, 2);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 1);
  m->boxes = lxfer_boxes(L);
  m->id = lxfer_register_box(L, m->boxes, -1);
  lxfer_setuservalue(L, -2);
  if (!(m->h = xfer_multi_init())) return luaL_error(L, "out of memory");
  xfer_multi_setopt(m->h, XFERMOPT_SOCKETFUNCTION, sock_tramp);
  xfer_multi_setopt(m->h, XFERMOPT_SOCKETDATA, m);
  xfer_multi_setopt(m->h, XFERMOPT_TIMERFUNCTION, timer_tramp);
  xfer_multi_setopt(m->h, XFERMOPT_TIMERDATA, m);
  if (!lua_isnoneornil(L, 1)) mapply_table(L, m, 1);
  return 1;
}

static const luaL_Reg methods[] = {
  {"setopt", multi_setopt},
  {"add_handle", multi_add},
  {"remove_handle", multi_remove},
  {"perform", multi_perform},
  {"socket_action", multi_socket_action},
  {"socket_all", multi_socket_all},
  {"wait", multi_wait},
  {"poll", multi_poll},
  {"wakeup", multi_wakeup},
  {"timeout", multi_timeout},
  {"info_read", multi_info_read},
  {"assign", multi_assign},
  {"get_handles", multi_get_handles},
  {"run", multi_run},
  {"wake", multi_wake},
  {"close", multi_close_m},
  {NULL, NULL}
};

void lxfer_multi_open(lua_State *L) {
  const char *names[NMOPTS];
  int i;
  for (i = 0; i < NMOPTS; i++) names[i] = mopts[i].name;
  lxfer_nametable(L, &mopt_key, names, NMOPTS);
  lxfer_newmeta(L, LXFER_MULTI_MT, &lxfer_multi_mtkey, methods, multi_gc,
                multi_tostring);
  for (i = 0; i < NMOPTS; i++) {
    lua_pushfstring(L, "setopt_%s", mopts[i].name);
    lxfer_push_metas(L);
    lua_pushinteger(L, i);
    lua_pushcclosure(L, multi_setopt_one, 3);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  for (i = 0; i < NMOPTS; i++)
    lxfer_setupper(L, "MOPT_", mopts[i].name, mopts[i].id);
}
