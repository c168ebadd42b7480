/*
 * lxfer.h -- declarations shared by the Lua binding's files (lxfer.c,
 * lxfer_easy.c, lxfer_multi.c, lxfer_fs.c).  Not installed; the binding
 * reaches the core through xfer.h only, and libuv through xfer_uv.h.
 */
#ifndef LXFER_H
#define LXFER_H

#include "lxfer_compat.h"
#include "xfer.h"
#include "uv/xfer_uv.h"

#include <stdint.h>

#if defined(__GNUC__)
#  define LXFER_EXPORT __attribute__((visibility("default")))
#else
#  define LXFER_EXPORT
#endif

#define LXFER_MULTI_MT "xfer.multi"
#define LXFER_EASY_MT "xfer.easy"
#define LXFER_ERROR_MT "xfer.error"

/* Where the callbacks of a handle run: the thread of the API call in
 * progress (L), never the thread that created the handle.  Every binding
 * function that enters the core saves this, points it at its own thread and
 * error slot, and restores it afterwards (lxfer_enter/lxfer_leave), so
 * nesting and coroutines are safe.  One per multi handle; easy:perform()
 * has one on its C stack. */
struct lxfer_ctx {
  lua_State *L;       /* thread of the API call in progress, or NULL */
  int err;            /* registry ref: first callback error of that call */
  int nolua;          /* > 0 while tearing down: callbacks run no Lua */
  int incb;           /* > 0 inside a transfer's Lua callback */
  xfer_uv *uv;        /* run() in progress: a callback error stops it */
  /* easy:perform()'s own context only (LUA_NOREF, NULL in a multi's): */
  int self;           /* registry ref of the easy performing */
  XFER *closing;      /* closed by one of its callbacks: freed after */
};

struct lxfer_frame {
  lua_State *L;
  int err;
};

enum {
  LXFER_CB_WRITE,
  LXFER_CB_HEADER,
  LXFER_CB_READ,
  LXFER_CB_XFERINFO,
  LXFER_CB_MAX
};

struct lxfer_multi;

/* What few handles use (bodies, lists, private, header_lines, a read
 * callback's leftover, a callback's abort message): allocated on first
 * use, so that a plain queued transfer costs only the box below. */
struct lxfer_easy_x {
  int postfields;            /* registry ref: the string POSTFIELDS points in */
  int postfields_old;        /* the one a running transfer may still send */
  int priv;                  /* registry ref: the PRIVATE value */
  int rbuf;                  /* registry ref: read callback's leftover */
  size_t rbuf_off;
  xfer_off_t fields_len;     /* length of the POSTFIELDS/COPYPOSTFIELDS
                                body set, or -1: none */
  struct xfer_slist *lists[4];  /* HTTPHEADER, RESOLVE, CONNECT_TO,
                                   PROXYHEADER: owned copies */
  struct xfer_slist *retired;   /* replaced lists a transfer may still use */
  char *hdr;                 /* header_lines: the lines kept since the */
  size_t hdr_len, hdr_cap;   /* last status line (raw, CRLFs included) */
  char *body;                /* collect_body: the body received so far */
  size_t body_len, body_cap;
  char *abortmsg;            /* why a callback failed the transfer (the
                                core keeps its own messages: it allocates
                                them on failure, xfer_easy_errortext) */
};

/* The userdata of an easy handle: a box around the core handle.  Kept
 * small (a queued transfer is one of these; 64 bytes on 64-bit systems,
 * which with Lua 5.4's header fills a 128-byte malloc chunk): the rest is
 * in x. */
struct lxfer_easy {
  XFER *h;                   /* NULL once closed */
  struct lxfer_multi *m;     /* the multi it is added to, or NULL */
  union {
    struct lxfer_easy *prev; /* added: m's list of added easies */
    struct lxfer_ctx *perform; /* in perform(): that call's context */
  } u;
  struct lxfer_easy *next;
  struct lxfer_easy_x *x;    /* NULL until needed */
  int cb[LXFER_CB_MAX];      /* shared refs of the Lua callbacks
                                (lxfer_ref_fn) */
  int slot;                  /* added: its index in m's user value T */
  int performing;            /* inside its perform(): u.perform is set */
};

/* Where e's callbacks run: its multi's context, its perform()'s, or
 * none (a callback then fails its transfer). */
#define lxfer_ectx(e) ((e)->m ? &(e)->m->ctx \
                       : (e)->performing ? (e)->u.perform : NULL)

/* The userdata of a multi handle. */
struct lxfer_multi {
  XFERM *h;                  /* NULL once closed */
  struct lxfer_ctx ctx;
  struct lxfer_easy *easies; /* added easy handles (a list, for teardown) */
  int sockfn, timerfn;       /* registry refs of the Lua socket/timer fns */
  int on_done;               /* registry ref: run{on_done=} while it runs */
  int in_sockcb;             /* inside the Lua socket or timer callback */
  int in_run;                /* inside run() */
  uv_loop_t *loop;           /* run()'s loop, made on first use */
  xfer_uv *uv;               /* the driver on it, while no Lua fn is set */
  uv_timer_t *wake;          /* m:wake(ms) on run()'s loop, made on use */
  int boxes;                 /* lxfer_boxes(): where T is found */
  int id;                    /* T's key there */
  int *free_slots;           /* T's slots freed by removals, for reuse */
  int nfree, cap_free, next_slot;
  int on_wake;               /* registry ref: run{on_wake=} while it runs */
};


/* What a protected callback body gets: one struct for every kind, so one
 * C function (kept in the registry) runs them all under lua_pcall. */
enum {
  LXFER_CALL_WRITE, LXFER_CALL_HEADER, LXFER_CALL_READ, LXFER_CALL_XFERINFO,
  LXFER_CALL_SOCKET, LXFER_CALL_TIMER, LXFER_CALL_DONE, LXFER_CALL_WAKE
};

struct lxfer_call {
  int kind;
  int fn;                    /* registry ref of the function to call */
  struct lxfer_easy *e;      /* the easy concerned, or NULL */
  struct lxfer_multi *m;     /* socket/timer/done: the multi */
  const char *data;          /* write, header: the bytes */
  char *buf;                 /* read: where to put them */
  size_t len;                /* write, header: size; read: room */
  int64_t v[4];              /* xferinfo counters; socket fd, what; timer */
  XFERcode result;           /* done */
  size_t n;                  /* out: bytes taken (write) or given (read) */
  int abort;                 /* out: the callback asked to stop */
};

/* lxfer.c */
int lxfer_call(struct lxfer_ctx *ctx, struct lxfer_call *c);
void lxfer_enter(struct lxfer_ctx *ctx, lua_State *L, struct lxfer_frame *f);
void lxfer_leave(struct lxfer_ctx *ctx, lua_State *L, struct lxfer_frame *f);
/* Kinds of error objects: whose code it is. */
enum { LXFER_KIND_EASY, LXFER_KIND_MULTI, LXFER_KIND_UV };
void lxfer_pusherror(lua_State *L, int kind, int code, const char *msg);
int lxfer_mfail(lua_State *L, XFERMcode rc);
/* A weak-valued map, multi id -> the multi's user value T, at the
 * registry reference lxfer_boxes() gives, which a multi keeps: integer
 * keys are the cheap look-ups on every Lua (light userdata keys cost a
 * pointer hash, and more on LuaJIT).  Multi handles only: an easy is
 * found in its multi's T by its slot (lxfer_push_easy), no map entry per
 * queued transfer.  lxfer_register_box gives the new id. */
int lxfer_boxes(lua_State *L);
int lxfer_register_box(lua_State *L, int boxes, int idx);
void lxfer_pushbox(lua_State *L, int boxes, int id);
lua_Integer lxfer_checkint(lua_State *L, int idx);
lua_Integer lxfer_optint(lua_State *L, int idx, lua_Integer def);
int lxfer_iscallable(lua_State *L, int idx);
void lxfer_newmeta(lua_State *L, const char *name, const void *key,
                   const luaL_Reg *methods, lua_CFunction gc,
                   lua_CFunction tostr);
/* Registry keys (their addresses) of the easy and multi metatables, kept
 * there by key as well as by name: a light key is the cheaper look-up, and
 * every handle method checks its argument's type. */
extern const char lxfer_easy_mtkey, lxfer_multi_mtkey;
/* Every method and metamethod of the easy and multi types has both
 * metatables as upvalues (and setopt_x, getinfo_x their index after):
 * a type check compares with an upvalue, no registry look-up. */
enum { LXFER_UP_EASY = 1, LXFER_UP_MULTI, LXFER_UP_INDEX };
void lxfer_push_metas(lua_State *L);
/* luaL_checkudata by key (the same error message). */
void *lxfer_checkudata(lua_State *L, int idx, const void *key,
                       const char *tname);
void lxfer_setmeta(lua_State *L, const void *key);
/* A table name -> index, at the registry key `key` (options, infos). */
void lxfer_nametable(lua_State *L, const void *key, const char *const *names,
                     int n);
int lxfer_nameindex(lua_State *L, const void *key, int keyidx);
/* The option index of the name at keyidx, or an error on argument arg:
 * "unknown option 'x'", or "option names are strings". */
int lxfer_optindex(lua_State *L, const void *key, int keyidx, int arg);
/* The option indexes of every key of the table at t, in ascending order
 * (the order options are applied in), into idx (room for every option of
 * the list: a table has each name once); returns how many.  Every name is
 * checked before the caller applies any, so an unknown one changes
 * nothing. */
int lxfer_table_optindexes(lua_State *L, const void *key, int t, int *idx);
void lxfer_setupper(lua_State *L, const char *prefix, const char *name,
                    lua_Integer v);
/* A registry reference to the function at idx, shared by every handle
 * that holds the same function (counted); LUA_NOREF for nil. */
int lxfer_ref_fn(lua_State *L, int idx);
/* Drops one holder of ref (any value; LUA_NOREF and LUA_REFNIL do
 * nothing) and sets *ref to LUA_NOREF.  Allocates nothing: safe in
 * __gc. */
void lxfer_unref_fn(lua_State *L, int *ref);

/* lxfer_easy.c */
void lxfer_easy_open(lua_State *L);
int lxfer_options(lua_State *L);
int lxfer_easy_new(lua_State *L);
struct lxfer_easy *lxfer_checkeasy(lua_State *L, int idx);
struct lxfer_easy *lxfer_easy_of(XFER *h);
int lxfer_push_result(lua_State *L, int eidx, struct lxfer_easy *e,
                      XFERcode rc);
void lxfer_easy_retire_lists(struct lxfer_easy *e);
void lxfer_easy_unbusy(lua_State *L, struct lxfer_easy *e);
void lxfer_easy_new_run(lua_State *L, struct lxfer_easy *e);
const char *lxfer_easy_errtext(struct lxfer_easy *e);
/* e's rarely used part, made now if need be (raises when out of memory). */
struct lxfer_easy_x *lxfer_easy_x(lua_State *L, struct lxfer_easy *e);
void lxfer_push_none(lua_State *L);
int lxfer_easy_body(lua_State *L, struct lxfer_call *c);
void lxfer_easy_aborted(lua_State *L, struct lxfer_call *c, int raised);

/* lxfer_multi.c */
void lxfer_multi_open(lua_State *L);
int lxfer_multi_new(lua_State *L);
void lxfer_multi_detach_easy(lua_State *L, struct lxfer_multi *m,
                             struct lxfer_easy *e, int eidx);
int lxfer_multi_body(lua_State *L, struct lxfer_call *c);
void lxfer_push_easy(lua_State *L, struct lxfer_easy *e);

/* lxfer_fs.c */
void lxfer_fs_open(lua_State *L);
int lxfer_fs_create(lua_State *L);

#endif /* LXFER_H */
