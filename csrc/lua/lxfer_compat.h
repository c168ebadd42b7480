/*
 * lxfer_compat.h -- the few Lua API differences the binding meets, so that
 * lxfer*.c are written against the 5.4 API and build unchanged for 5.1,
 * LuaJIT 2.1, 5.2, 5.3 and 5.4.  Only what the binding uses is here; it is
 * not a general compatibility layer.  Everything is static: nothing here can
 * clash with a symbol that LuaJIT or another module exports.
 */
#ifndef LXFER_COMPAT_H
#define LXFER_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#include <math.h>

#ifndef LUA_OK
#  define LUA_OK 0
#endif

/* One user value per userdata: a table (5.1 requires the fenv to be one). */
#if LUA_VERSION_NUM >= 504
#  define lxfer_newudata(L, sz) lua_newuserdatauv((L), (sz), 1)
#  define lxfer_setuservalue(L, i) lua_setiuservalue((L), (i), 1)
#  define lxfer_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))
#elif LUA_VERSION_NUM >= 502
#  define lxfer_newudata(L, sz) lua_newuserdata((L), (sz))
#  define lxfer_setuservalue(L, i) lua_setuservalue((L), (i))
#  define lxfer_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#else
#  define lxfer_newudata(L, sz) lua_newuserdata((L), (sz))
#  define lxfer_setuservalue(L, i) ((void)lua_setfenv((L), (i)))
#  define lxfer_getuservalue(L, i) lua_getfenv((L), (i))
#endif

#if LUA_VERSION_NUM == 501
/* Shared by plain 5.1 and LuaJIT, which has neither of these. */
#  define lua_rawlen(L, i) lua_objlen((L), (i))

static inline int lua_absindex(lua_State *L, int i) {
  return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}

static inline void lua_rawgetp(lua_State *L, int t, const void *p) {
  t = lua_absindex(L, t);
  lua_pushlightuserdata(L, (void *)p);
  lua_rawget(L, t);
}

static inline void lua_rawsetp(lua_State *L, int t, const void *p) {
  t = lua_absindex(L, t);
  lua_pushlightuserdata(L, (void *)p);
  lua_insert(L, -2);
  lua_rawset(L, t);
}
#endif

/* Plain 5.1 also lacks what LuaJIT 2.1 took from 5.2; LuaJIT's lauxlib.h
 * is told apart by its luaL_newlibtable. */
#if LUA_VERSION_NUM == 501 && !defined(luaL_newlibtable)
#  define luaL_newlibtable(L, l) \
     lua_createtable((L), 0, sizeof(l) / sizeof((l)[0]) - 1)
#  define luaL_newlib(L, l) (luaL_newlibtable(L, l), luaL_setfuncs(L, l, 0))

static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l,
                                 int nup) {
  int i;
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

static inline void luaL_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}

static inline void *luaL_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  int same;
  if (!p || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

/* "stack traceback:" with one line per level, as 5.2's luaL_traceback
 * writes it (without its elision of long stacks).  Built in a luaL_Buffer:
 * concatenating everything at each level costs O(levels x length), which
 * is seconds for a long message on a deep stack. */
static inline void luaL_traceback(lua_State *L, lua_State *L1,
                                  const char *msg, int level) {
  lua_Debug ar;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (msg) {
    luaL_addstring(&b, msg);
    luaL_addchar(&b, '\n');
  }
  luaL_addstring(&b, "stack traceback:");
  while (lua_getstack(L1, level++, &ar)) {
    lua_getinfo(L1, "Snl", &ar);
    if (ar.currentline > 0)
      lua_pushfstring(L, "\n\t%s:%d:", ar.short_src, ar.currentline);
    else
      lua_pushfstring(L, "\n\t%s:", ar.short_src);
    luaL_addvalue(&b);
    if (*ar.namewhat) lua_pushfstring(L, " in function '%s'", ar.name);
    else if (*ar.what == 'm') lua_pushliteral(L, " in main chunk");
    else if (*ar.what == 'C') lua_pushliteral(L, " in ?");
    else lua_pushfstring(L, " in function <%s:%d>", ar.short_src,
                         ar.linedefined);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
}
#endif

/* Integers.  From 5.3 on a number may be an integer or a float; before,
 * every number is a double, and "integer" means integral and within 2^53,
 * where a double still counts exactly. */
#if LUA_VERSION_NUM >= 503
static inline int lxfer_tointeger(lua_State *L, int i, lua_Integer *out) {
  int ok = 0;
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
  *out = lua_tointegerx(L, i, &ok);
  return ok;
}
#else
static inline int lxfer_tointeger(lua_State *L, int i, lua_Integer *out) {
  lua_Number n;
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
  n = lua_tonumber(L, i);
  if (n != floor(n) || n > 9007199254740992.0 || n < -9007199254740992.0)
    return 0;
  *out = (lua_Integer)n;
  return 1;
}
#endif

#endif /* LXFER_COMPAT_H */
