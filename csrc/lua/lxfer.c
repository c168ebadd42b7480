/*
 * lxfer.c -- the module xfer.core: luaopen, constants, module functions, and
 * the machinery the other binding files share: protected callbacks, the
 * per-call Lua thread (lxfer_enter/leave), error objects, box lookup.
 *
 * Constants are integers on the module table, named after the C name
 * without its "XFER" and the "_" after it (one rule, no exceptions):
 *   XFERE_COULDNT_CONNECT    -> E_COULDNT_CONNECT   (every XFERcode)
 *   XFERM_ADDED_ALREADY      -> M_ADDED_ALREADY     (every XFERMcode)
 *   XFER_POLL_IN, XFER_CSELECT_IN, XFER_SOCKET_TIMEOUT, XFER_IPRESOLVE_V4,
 *   XFER_WAIT_POLLIN, ...    -> POLL_IN, CSELECT_IN, SOCKET_TIMEOUT, ...
 *   XFERMSG_DONE             -> MSG_DONE
 *   XFEROPT_URL, XFERMOPT_MAXCONNECTS, XFERINFO_RESPONSE_CODE
 *                            -> OPT_URL, MOPT_MAXCONNECTS, INFO_RESPONSE_CODE
 *
 * Errors: wrong arguments raise (luaL_argerror names the argument, or the
 * option).  A failed transfer, and a multi-level refusal such as
 * ADDED_ALREADY, BAD_EASY_HANDLE, BAD_SOCKET or RECURSIVE_API_CALL, is a
 * value: nil, err.  err is a table with the metatable "xfer.error":
 *   code (integer), name ("COULDNT_CONNECT"), message (the ERRORBUFFER text,
 *   else the code's text), kind ("easy", "multi" or "uv" for a libuv error
 *   of run()); tostring(err) gives "NAME (code): message".
 * An error raised by a Lua callback is re-raised, with its traceback, by the
 * API call that ran the callback, once the core has returned; the transfer
 * fails: WRITE_ERROR (23) for write/header, ABORTED_BY_CALLBACK (42) for
 * read/xferinfo, and 42 for every transfer in progress for socket/timer
 * (the core's rule for those two).  Non-string error values are kept as
 * they are.
 *
 * Callback returns.  write(chunk), header(line): nothing or true takes it
 * all, a number is the count taken, false fails the transfer.
 * read(room): a string (longer than room: served over the next calls), nil
 * or "" at the end, false aborts.  xferinfo(dltotal, dlnow, ultotal,
 * ulnow): nothing or true goes on, false or a non-zero number aborts;
 * setting it turns NOPROGRESS off.  socket(easy|nil, fd, what, assigned)
 * and timer(ms): return values are ignored.
 *
 * Files: lxfer_easy.c (xfer.easy: options, getinfo, perform, close),
 * lxfer_multi.c (xfer.multi: add/remove, drivers, run(), close),
 * lxfer_fs.c (fs_create: the output files of `xfer -o`),
 * xfer_uv.c (the libuv loop behind run(); no Lua in it).
 */
#include "lxfer.h"

#include <limits.h>
#include <string.h>

/* Registry keys: the addresses of these statics. */
static const char msgh_key = 'h';   /* the pcall message handler */
static const char body_key = 'b';   /* the protected callback body */
static const char boxes_key = 'x';  /* the weak map's registry ref */
static const char fns_key = 'f';    /* callbacks: fn -> ref, ref -> count */

/* ---- protected callbacks ---- */

/* Message handler: strings get the traceback appended; other error values
 * (tables, userdata) travel unchanged, so callers can still inspect them. */
static int msgh(lua_State *L) {
  /* lua_tostring would turn a number into a string in place */
  if (lua_type(L, 1) != LUA_TSTRING) return 1;
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/* Callbacks that run transfers whose callbacks run transfers...: each
 * level keeps core frames on the C stack.  Lua 5.1-5.4 stop that at
 * LUAI_MAXCCALLS; LuaJIT does not count C frames and overflows the C stack
 * first.  Past this depth a callback fails as if it raised. */
#define LXFER_MAX_DEPTH 64
static __thread int depth;

/* Everything a callback does with Lua (pushing its arguments, calling it,
 * reading its results) happens in here, under lua_pcall: a memory error or
 * a bad return value raises into the pcall, never through core frames. */
static int body(lua_State *L) {
  struct lxfer_call *c = lua_touserdata(L, 1);
  lua_remove(L, 1); /* the easy concerned (or nil) is at 1 for the bodies */
  if (depth > LXFER_MAX_DEPTH)
    return luaL_error(L, "C stack overflow (callbacks nested more than %d "
                      "deep)", LXFER_MAX_DEPTH);
  if (c->kind <= LXFER_CALL_XFERINFO) return lxfer_easy_body(L, c);
  return lxfer_multi_body(L, c);
}

/* Runs c on the thread of the API call in progress.  Returns 0, or -1 when
 * the callback raised (the error is kept for that call to re-raise) or
 * cannot run at all; c->abort is then set.  Both the handler and the body
 * sit in the registry, so nothing is allocated outside the pcall. */
int lxfer_call(struct lxfer_ctx *ctx, struct lxfer_call *c) {
  lua_State *L = ctx->L;
  int top, rc, easy = c->kind <= LXFER_CALL_XFERINFO;
  /* No thread means a callback outside every binding call: a binding bug.
   * Failing the transfer is the safe answer. */
  if (!L || ctx->nolua || !lua_checkstack(L, 5)) {
    c->abort = 1;
    return -1;
  }
  top = lua_gettop(L);
  /* The easy stays on the stack: a callback may close it and drop it, and
   * its abort message is written below.  Found once here, and given to
   * the body. */
  if (c->e) lxfer_push_easy(L, c->e);
  else lua_pushnil(L);
#if LUA_VERSION_NUM >= 502
  /* Light C functions: pushing them allocates nothing. */
  lua_pushcfunction(L, msgh);
  lua_pushcfunction(L, body);
#else
  lua_rawgetp(L, LUA_REGISTRYINDEX, &msgh_key);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &body_key);
#endif
  lua_pushlightuserdata(L, c);
  lua_pushvalue(L, top + 1);
  if (easy) ctx->incb++;
  depth++;
  rc = lua_pcall(L, 2, 0, top + 2);
  depth--;
  if (easy) ctx->incb--;
  if (rc != LUA_OK) c->abort = 1;
  if (easy && c->abort) lxfer_easy_aborted(L, c, rc != LUA_OK);
  if (rc != LUA_OK) {
    if (ctx->err == LUA_NOREF) ctx->err = luaL_ref(L, LUA_REGISTRYINDEX);
    if (ctx->uv) xfer_uv_stop(ctx->uv);
  }
  lua_settop(L, top);
  return rc == LUA_OK ? 0 : -1;
}

void lxfer_enter(struct lxfer_ctx *ctx, lua_State *L, struct lxfer_frame *f) {
  f->L = ctx->L;
  f->err = ctx->err;
  ctx->L = L;
  ctx->err = LUA_NOREF;
}

/* Restores the outer call's thread and error slot, then raises the error a
 * callback of this call stored, if any.  Call it once the core has
 * returned and the binding's own state is consistent. */
void lxfer_leave(struct lxfer_ctx *ctx, lua_State *L, struct lxfer_frame *f) {
  int err = ctx->err;
  ctx->L = f->L;
  ctx->err = f->err;
  if (err != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, err);
    luaL_unref(L, LUA_REGISTRYINDEX, err);
    lua_error(L);
  }
}

/* ---- error objects ---- */

void lxfer_pusherror(lua_State *L, int kind, int code, const char *msg) {
  const char *name, *k;
  switch (kind) {
  case LXFER_KIND_MULTI:
    name = xfer_multi_codename((XFERMcode)code);
    if (!msg) msg = xfer_multi_strerror((XFERMcode)code);
    k = "multi";
    break;
  case LXFER_KIND_UV:
    name = uv_err_name(code);
    if (!msg) msg = uv_strerror(code);
    k = "uv";
    break;
  default:
    name = xfer_easy_codename((XFERcode)code);
    if (!msg || !*msg) msg = xfer_easy_strerror((XFERcode)code);
    k = "easy";
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, name ? name : "UNKNOWN");
  lua_setfield(L, -2, "name");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  lua_pushstring(L, k);
  lua_setfield(L, -2, "kind");
  luaL_setmetatable(L, LXFER_ERROR_MT);
}

int lxfer_mfail(lua_State *L, XFERMcode rc) {
  lua_pushnil(L);
  lxfer_pusherror(L, LXFER_KIND_MULTI, rc, NULL);
  return 2;
}

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "name");
  lua_getfield(L, 1, "code");
  lua_getfield(L, 1, "message");
  lua_pushfstring(L, "%s (%s): %s", lua_tostring(L, 2), lua_tostring(L, 3),
                  lua_tostring(L, 4));
  return 1;
}

/* ---- boxes: from a core callback's pointer back to the userdata ---- */

int lxfer_boxes(lua_State *L) {
  int ref;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key);
  ref = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return ref;
}

/* The map is weak-valued: it finds a live multi's T, and keeps none
 * alive.  Ids are never reused (a multi collected leaves its entry to the
 * collector, not to a free list). */
int lxfer_register_box(lua_State *L, int boxes, int idx) {
  static int last;
  int id = __sync_add_and_fetch(&last, 1);
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, boxes);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, id);
  lua_pop(L, 1);
  return id;
}

void lxfer_pushbox(lua_State *L, int boxes, int id) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, boxes);
  lua_rawgeti(L, -1, id);
  lua_replace(L, -2);
}

/* ---- callback functions, one reference per function ---- */

/* 100,000 handles with the same writefunction hold one registry slot, not
 * 100,000: the map gives the function's reference and how many hold it. */
int lxfer_ref_fn(lua_State *L, int idx) {
  int ref;
  if (lua_isnil(L, idx)) return LUA_NOREF;
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &fns_key);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    ref = (int)lua_tointeger(L, -1);
    lua_rawgeti(L, -2, ref);
    lua_pushinteger(L, lua_tointeger(L, -1) + 1);
    lua_rawseti(L, -4, ref);
    lua_pop(L, 3);
    return ref;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* The count first: a memory error below leaves the slot counted, never
   * a count for a slot freed. */
  lua_pushinteger(L, 1);
  lua_rawseti(L, -2, ref);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, ref);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return ref;
}

void lxfer_unref_fn(lua_State *L, int *ref) {
  lua_Integer n;
  int r = *ref;
  *ref = LUA_NOREF;
  if (r < 0) return; /* LUA_NOREF, LUA_REFNIL */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &fns_key);
  lua_rawgeti(L, -1, r);
  n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (n > 1) { /* an existing key: no allocation */
    lua_pushinteger(L, n - 1);
    lua_rawseti(L, -2, r);
    lua_pop(L, 1);
    return;
  }
  lua_pushnil(L);
  lua_rawseti(L, -2, r);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, r);
}

/* ---- argument checks ---- */

static int typeerror(lua_State *L, int idx, const char *what) {
  return luaL_argerror(L, idx, lua_pushfstring(L, "%s expected, got %s",
                                               what, luaL_typename(L, idx)));
}

lua_Integer lxfer_checkint(lua_State *L, int idx) {
  lua_Integer v = 0;
  if (lxfer_tointeger(L, idx, &v)) return v;
  if (lua_type(L, idx) == LUA_TNUMBER)
    luaL_argerror(L, idx, "number has no integer representation");
  typeerror(L, idx, "integer");
  return 0;
}

lua_Integer lxfer_optint(lua_State *L, int idx, lua_Integer def) {
  return lua_isnoneornil(L, idx) ? def : lxfer_checkint(L, idx);
}

int lxfer_iscallable(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
  if (luaL_getmetafield(L, idx, "__call")) {
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* ---- metatables and name tables ---- */

const char lxfer_easy_mtkey = 'E', lxfer_multi_mtkey = 'M';

void lxfer_push_metas(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lxfer_easy_mtkey);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lxfer_multi_mtkey);
}

void *lxfer_checkudata(lua_State *L, int idx, const void *key,
                       const char *tname) {
  void *p = lua_touserdata(L, idx);
  if (p && lua_getmetatable(L, idx)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(
        key == &lxfer_easy_mtkey ? LXFER_UP_EASY : LXFER_UP_MULTI));
    if (!same) { /* a function without those upvalues */
      lua_rawgetp(L, LUA_REGISTRYINDEX, key);
      same = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (same) return p;
  }
  return luaL_checkudata(L, idx, tname); /* raises: its message */
}

void lxfer_setmeta(lua_State *L, const void *key) {
  /* the module functions have the metatables as upvalues too */
  lua_pushvalue(L, lua_upvalueindex(key == &lxfer_easy_mtkey
                                    ? LXFER_UP_EASY : LXFER_UP_MULTI));
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  }
  lua_setmetatable(L, -2);
}

/* Leaves the __index table on the stack, for the caller to add to. */
void lxfer_newmeta(lua_State *L, const char *name, const void *key,
                   const luaL_Reg *methods, lua_CFunction gc,
                   lua_CFunction tostr) {
  luaL_newmetatable(L, name); /* made already (easy, multi): the same */
  if (key) {
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  }
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lxfer_push_metas(L);
  lua_pushcclosure(L, gc, 2);
  lua_setfield(L, -2, "__gc");
  lxfer_push_metas(L); /* __close(obj, err): the same idempotent close */
  lua_pushcclosure(L, gc, 2);
  lua_setfield(L, -2, "__close");
  lxfer_push_metas(L);
  lua_pushcclosure(L, tostr, 2);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  lxfer_push_metas(L);
  luaL_setfuncs(L, methods, 2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_remove(L, -2);
}

void lxfer_nametable(lua_State *L, const void *key, const char *const *names,
                     int n) {
  int i;
  lua_createtable(L, 0, n);
  for (i = 0; i < n; i++) {
    lua_pushinteger(L, i);
    lua_setfield(L, -2, names[i]);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* The index of the name at keyidx in the table at key, or -1. */
int lxfer_nameindex(lua_State *L, const void *key, int keyidx) {
  int i = -1;
  keyidx = lua_absindex(L, keyidx);
  if (lua_type(L, keyidx) != LUA_TSTRING) return -1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  lua_pushvalue(L, keyidx);
  lua_rawget(L, -2);
  if (lua_type(L, -1) == LUA_TNUMBER) i = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return i;
}

int lxfer_optindex(lua_State *L, const void *key, int keyidx, int arg) {
  int k = lxfer_nameindex(L, key, keyidx);
  if (k >= 0) return k;
  if (lua_type(L, keyidx) != LUA_TSTRING)
    return luaL_argerror(L, arg, lua_pushfstring(L, "option names are "
                         "strings, got %s", luaL_typename(L, keyidx)));
  return luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'",
                                               lua_tostring(L, keyidx)));
}

int lxfer_table_optindexes(lua_State *L, const void *key, int t, int *idx) {
  int n = 0, i, j, k;
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    idx[n++] = lxfer_optindex(L, key, -1, t);
  }
  for (i = 1; i < n; i++) {
    for (k = idx[i], j = i; j > 0 && idx[j - 1] > k; j--) idx[j] = idx[j - 1];
    idx[j] = k;
  }
  return n;
}

/* module[prefix .. NAME] = v, NAME being name in capitals. */
void lxfer_setupper(lua_State *L, const char *prefix, const char *name,
                    lua_Integer v) {
  char buf[64];
  size_t i;
  for (i = 0; name[i] && i < sizeof(buf) - 1; i++)
    buf[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
  buf[i] = 0;
  lua_pushfstring(L, "%s%s", prefix, buf);
  lua_pushinteger(L, v);
  lua_rawset(L, -3);
}

/* ---- module functions and constants ---- */

/* now_ms() -> milliseconds of a monotonic clock (libuv's hrtime), for
 * deadlines in Lua (the coroutine layer's sleep). */
static int l_now_ms(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)(uv_hrtime() / 1000000u));
  return 1;
}

static int l_version(lua_State *L) {
  lua_pushstring(L, xfer_version());
  return 1;
}

/* A code beyond int is no code: INT_MIN is in neither table. */
static int checkcode(lua_State *L) {
  lua_Integer c = lxfer_checkint(L, 1);
  return c < INT_MIN || c > INT_MAX ? INT_MIN : (int)c;
}

static int l_easy_strerror(lua_State *L) {
  lua_pushstring(L, xfer_easy_strerror((XFERcode)checkcode(L)));
  return 1;
}

static int l_multi_strerror(lua_State *L) {
  lua_pushstring(L, xfer_multi_strerror((XFERMcode)checkcode(L)));
  return 1;
}

static int l_easy_codename(lua_State *L) {
  const char *n = xfer_easy_codename((XFERcode)checkcode(L));
  if (!n) return 0;
  lua_pushstring(L, n);
  return 1;
}

static int l_multi_codename(lua_State *L) {
  const char *n = xfer_multi_codename((XFERMcode)checkcode(L));
  if (!n) return 0;
  lua_pushstring(L, n);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"multi_init", lxfer_multi_new},
  {"easy_init", lxfer_easy_new},
  {"version", l_version},
  {"options", lxfer_options},
  {"easy_strerror", l_easy_strerror},
  {"multi_strerror", l_multi_strerror},
  {"easy_codename", l_easy_codename},
  {"multi_codename", l_multi_codename},
  {"fs_create", lxfer_fs_create},
  {"now_ms", l_now_ms},
  {NULL, NULL}
};

struct constant {
  const char *name;
  lua_Integer value;
};

static const struct constant constants[] = {
  {"POLL_NONE", XFER_POLL_NONE},
  {"POLL_IN", XFER_POLL_IN},
  {"POLL_OUT", XFER_POLL_OUT},
  {"POLL_INOUT", XFER_POLL_INOUT},
  {"POLL_REMOVE", XFER_POLL_REMOVE},
  {"CSELECT_IN", XFER_CSELECT_IN},
  {"CSELECT_OUT", XFER_CSELECT_OUT},
  {"CSELECT_ERR", XFER_CSELECT_ERR},
  {"SOCKET_TIMEOUT", XFER_SOCKET_TIMEOUT},
  {"SOCKET_BAD", XFER_SOCKET_BAD},
  {"WAIT_POLLIN", XFER_WAIT_POLLIN},
  {"WAIT_POLLPRI", XFER_WAIT_POLLPRI},
  {"WAIT_POLLOUT", XFER_WAIT_POLLOUT},
  {"IPRESOLVE_WHATEVER", XFER_IPRESOLVE_WHATEVER},
  {"IPRESOLVE_V4", XFER_IPRESOLVE_V4},
  {"IPRESOLVE_V6", XFER_IPRESOLVE_V6},
  {"HTTP_VERSION_NONE", XFER_HTTP_VERSION_NONE},
  {"HTTP_VERSION_1_0", XFER_HTTP_VERSION_1_0},
  {"HTTP_VERSION_1_1", XFER_HTTP_VERSION_1_1},
  {"HTTP_VERSION_2_0", XFER_HTTP_VERSION_2_0},
  {"HTTP_VERSION_2TLS", XFER_HTTP_VERSION_2TLS},
  {"HTTP_VERSION_2_PRIOR_KNOWLEDGE", XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE},
  /* HTTPAUTH bits; ANY and ANYSAFE are negative (libcurl's unsigned long
   * masks, as a long) */
  {"AUTH_NONE", (lua_Integer)XFERAUTH_NONE},
  {"AUTH_BASIC", (lua_Integer)XFERAUTH_BASIC},
  {"AUTH_DIGEST", (lua_Integer)XFERAUTH_DIGEST},
  {"AUTH_DIGEST_IE", (lua_Integer)XFERAUTH_DIGEST_IE},
  {"AUTH_BEARER", (lua_Integer)XFERAUTH_BEARER},
  {"AUTH_NEGOTIATE", (lua_Integer)XFERAUTH_NEGOTIATE},
  {"AUTH_NTLM", (lua_Integer)XFERAUTH_NTLM},
  {"AUTH_ONLY", (lua_Integer)XFERAUTH_ONLY},
  {"AUTH_ANY", (lua_Integer)(long)XFERAUTH_ANY},
  {"AUTH_ANYSAFE", (lua_Integer)(long)XFERAUTH_ANYSAFE},
  {"PROXY_HTTP", XFERPROXY_HTTP},
  {"PROXY_HTTP_1_0", XFERPROXY_HTTP_1_0},
  {"PROXY_HTTPS", XFERPROXY_HTTPS},
  {"PROXY_SOCKS4", XFERPROXY_SOCKS4},
  {"PROXY_SOCKS5", XFERPROXY_SOCKS5},
  {"PROXY_SOCKS4A", XFERPROXY_SOCKS4A},
  {"PROXY_SOCKS5_HOSTNAME", XFERPROXY_SOCKS5_HOSTNAME},
  {"HEADER_UNIFIED", XFERHEADER_UNIFIED},
  {"HEADER_SEPARATE", XFERHEADER_SEPARATE},
  {"PIPE_NOTHING", XFERPIPE_NOTHING},
  {"PIPE_HTTP1", XFERPIPE_HTTP1},
  {"PIPE_MULTIPLEX", XFERPIPE_MULTIPLEX},
#ifdef XFER_SSLVERSION_DEFAULT
  {"SSLVERSION_DEFAULT", XFER_SSLVERSION_DEFAULT},
  {"SSLVERSION_TLSv1", XFER_SSLVERSION_TLSv1},
  {"SSLVERSION_TLSv1_0", XFER_SSLVERSION_TLSv1_0},
  {"SSLVERSION_TLSv1_1", XFER_SSLVERSION_TLSv1_1},
  {"SSLVERSION_TLSv1_2", XFER_SSLVERSION_TLSv1_2},
  {"SSLVERSION_TLSv1_3", XFER_SSLVERSION_TLSv1_3},
  {"SSLVERSION_MAX_NONE", XFER_SSLVERSION_MAX_NONE},
  {"SSLVERSION_MAX_DEFAULT", XFER_SSLVERSION_MAX_DEFAULT},
  {"SSLVERSION_MAX_TLSv1_0", XFER_SSLVERSION_MAX_TLSv1_0},
  {"SSLVERSION_MAX_TLSv1_1", XFER_SSLVERSION_MAX_TLSv1_1},
  {"SSLVERSION_MAX_TLSv1_2", XFER_SSLVERSION_MAX_TLSv1_2},
  {"SSLVERSION_MAX_TLSv1_3", XFER_SSLVERSION_MAX_TLSv1_3},
#endif
  {"PAUSE_RECV", XFERPAUSE_RECV},
  {"PAUSE_RECV_CONT", XFERPAUSE_RECV_CONT},
  {"PAUSE_SEND", XFERPAUSE_SEND},
  {"PAUSE_SEND_CONT", XFERPAUSE_SEND_CONT},
  {"PAUSE_ALL", XFERPAUSE_ALL},
  {"PAUSE_CONT", XFERPAUSE_CONT},
  {"WRITEFUNC_PAUSE", XFER_WRITEFUNC_PAUSE},
  {"READFUNC_PAUSE", XFER_READFUNC_PAUSE},
  {"MSG_NONE", XFERMSG_NONE},
  {"MSG_DONE", XFERMSG_DONE},
  {"ERROR_SIZE", XFER_ERROR_SIZE},
  {"VERSION_NUM", XFER_VERSION_NUM},
  {NULL, 0}
};

/* E_* and M_* come from the core's own name tables, so a code the core
 * learns is exported without a change here. */
static void set_codes(lua_State *L) {
  int c;
  const char *n;
  for (c = 0; c <= XFERE_LAST + 16; c++) {
    if (!(n = xfer_easy_codename((XFERcode)c))) continue;
    lua_pushfstring(L, "E_%s", n);
    lua_pushinteger(L, c);
    lua_rawset(L, -3);
  }
  for (c = -1; c <= XFERM_LAST + 16; c++) {
    if (!(n = xfer_multi_codename((XFERMcode)c))) continue;
    lua_pushfstring(L, "M_%s", n);
    lua_pushinteger(L, c);
    lua_rawset(L, -3);
  }
}

static void set_registry(lua_State *L) {
  lua_pushcfunction(L, msgh);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &msgh_key);
  lua_pushcfunction(L, body);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &body_key);
  /* Loading the module twice must not forget the handles that exist. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key);
  if (lua_type(L, -1) != LUA_TNUMBER) {
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushinteger(L, luaL_ref(L, LUA_REGISTRYINDEX));
    lua_rawsetp(L, LUA_REGISTRYINDEX, &boxes_key);
  }
  lua_pop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &fns_key);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &fns_key);
  }
  lua_pop(L, 1);
  luaL_newmetatable(L, LXFER_ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, LXFER_ERROR_MT);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

LXFER_EXPORT int luaopen_xfer_core(lua_State *L) {
  const struct constant *k;
  set_registry(L);
  /* Both metatables first: every method has both as upvalues. */
  luaL_newmetatable(L, LXFER_EASY_MT);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lxfer_easy_mtkey);
  luaL_newmetatable(L, LXFER_MULTI_MT);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lxfer_multi_mtkey);
  luaL_newlibtable(L, funcs);
  lxfer_push_metas(L);
  luaL_setfuncs(L, funcs, 2);
  for (k = constants; k->name; k++) {
    lua_pushinteger(L, k->value);
    lua_setfield(L, -2, k->name);
  }
  set_codes(L);
  lua_pushliteral(L, XFER_VERSION);
  lua_setfield(L, -2, "VERSION");
  lxfer_easy_open(L);  /* metatable; OPT_* and INFO_* into the module */
  lxfer_multi_open(L); /* metatable; MOPT_* */
  lxfer_fs_open(L);    /* metatable of fs_create's files */
  return 1;
}
