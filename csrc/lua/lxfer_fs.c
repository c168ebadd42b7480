/*
 * lxfer_fs.c -- core.fs_create: the files of `xfer -o DIR`, made safe in a
 * directory that other people can write to.
 *
 *   f, err = core.fs_create(root, comps, final)
 *   f:write(s)  -> true | nil, err     f:commit() -> true | nil, err
 *   f:discard()                        (__gc and __close discard too)
 *
 * A path is looked up once, then only handles are used: root is opened,
 * each directory of comps is made and opened below the previous one with
 * O_NOFOLLOW (a symbolic link or a non-directory there is refused), and
 * everything after that is relative to the last directory's fd, so a
 * component swapped for a link after the check changes nothing.  The body
 * goes to a temporary file with a random name, created with O_EXCL (a name
 * planted in advance, symlink or not, is never opened) and mode 0600 until
 * commit gives it the mode a plain creation would have and renames it over
 * final: rename replaces a link at final, it never writes through it.
 *
 * Failures are values: nil, message (fs_create adds strerror alone as a
 * third value when a system call failed); only argument types raise.
 * Every method may be called in any order, any number of times: a handle
 * that is done only answers "already closed".  Linux: getrandom(2), O_PATH,
 * /proc/self/status.
 */
#include "lxfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LXFER_FS_MT "xfer.fs_file"

/* Attempts at a free random name.  Nobody can plant a name they cannot
 * guess, so a clash is a 1 in 2^64 accident: a few tries are plenty. */
#define TMP_TRIES 8

/* Directories are only used as the base of *at() calls: O_PATH needs
 * search permission only, as a lookup by path did. */
#ifdef O_PATH
#  define DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)
#else
#  define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif

struct fs_file {
  int dfd;          /* the final name's directory; -1 once done */
  int fd;           /* the temporary file; -1 once closed */
  int has_tmp;      /* the temporary name exists and is ours to remove */
  char tmp[32];     /* ".xfer-<16 hex>.part" */
  char final[];     /* the final name, in dfd */
};

/* "", ".", "..", a "/" or a NUL would leave the directory it names. */
static int bad_name(const char *s, size_t len) {
  return len == 0 || (len == 1 && s[0] == '.') ||
         (len == 2 && s[0] == '.' && s[1] == '.') ||
         memchr(s, '/', len) != NULL || strlen(s) != len;
}

/* Pushes root/comps[1]/.../comps[n], for messages. */
static void push_path(lua_State *L, const char *root, int comps, int n) {
  size_t rl = strlen(root);
  int i;
  lua_pushstring(L, root);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, comps, i);
    lua_pushfstring(L, "%s%s", rl && root[rl - 1] == '/' && i == 1 ? "" : "/",
                    lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_concat(L, 2);
  }
}

/* nil, "<fmt with the path on top of the stack>: <strerror>", strerror. */
static int fail_at(lua_State *L, const char *fmt, int err) {
  const char *path = lua_tostring(L, -1);
  lua_pushnil(L);
  lua_pushfstring(L, fmt, path, strerror(err));
  lua_pushstring(L, strerror(err));
  return 3;
}

static int fail(lua_State *L, const char *msg) {
  lua_pushnil(L);
  lua_pushstring(L, msg);
  return 2;
}

/* Closes both fds and removes the temporary name, whatever was done. */
static void discard(struct fs_file *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  if (f->has_tmp && f->dfd >= 0) unlinkat(f->dfd, f->tmp, 0);
  f->has_tmp = 0;
  if (f->dfd >= 0) close(f->dfd);
  f->dfd = -1;
}

static int random_name(char *buf, size_t size) {
  unsigned char r[8];
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = getrandom(r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    got += (size_t)n;
  }
  snprintf(buf, size, ".xfer-%02x%02x%02x%02x%02x%02x%02x%02x.part",
           r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
  return 0;
}

/* The mode open(O_CREAT, 0666) would have given.  umask(2) can only be read
 * by setting it, which would race with other threads creating files:
 * /proc/self/status (Linux >= 4.7) tells it without touching it. */
static mode_t plain_mode(void) {
  char buf[1024], *p;
  ssize_t n = -1;
  mode_t m;
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
  }
  if (n > 0) {
    buf[n] = 0;
    if ((p = strstr(buf, "\nUmask:")))
      return 0666 & ~(mode_t)strtol(p + 7, NULL, 8);
  }
  m = umask(022);
  umask(m);
  return 0666 & ~m;
}

static struct fs_file *checkfile(lua_State *L) {
  return (struct fs_file *)luaL_checkudata(L, 1, LXFER_FS_MT);
}

static int closed(lua_State *L) {
  return fail(L, "already closed (committed or discarded)");
}

/* ---- core.fs_create ---- */

int lxfer_fs_create(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  size_t len, flen;
  const char *final = luaL_checklstring(L, 3, &flen), *c;
  struct fs_file *f;
  int n, i, fd, tries;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = (int)lua_rawlen(L, 2);
  /* Every name is checked before anything is created. */
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_argerror(L, 2, lua_pushfstring(L, "component %d is a %s, "
                           "not a string", i, luaL_typename(L, -1)));
    c = lua_tolstring(L, -1, &len);
    if (bad_name(c, len)) return fail(L, "invalid name component");
    lua_pop(L, 1);
  }
  if (bad_name(final, flen)) return fail(L, "invalid file name");

  /* The userdata first: a memory error below then leaks no fd, since its
   * __gc closes whatever is open. */
  f = (struct fs_file *)lua_newuserdata(L, sizeof *f + flen + 1);
  f->dfd = f->fd = -1;
  f->has_tmp = 0;
  f->tmp[0] = 0;
  memcpy(f->final, final, flen + 1);
  luaL_setmetatable(L, LXFER_FS_MT);

  if ((f->dfd = open(root, DIR_FLAGS)) < 0) {
    int err = errno;
    lua_pushstring(L, root);
    return fail_at(L, "cannot open '%s': %s", err);
  }
  for (i = 1; i <= n; i++) {
    int err;
    lua_rawgeti(L, 2, i);
    c = lua_tostring(L, -1);
    err = mkdirat(f->dfd, c, 0755) < 0 && errno != EEXIST ? errno : 0;
    fd = err ? -1 : openat(f->dfd, c, DIR_FLAGS | O_NOFOLLOW);
    if (fd < 0) {
      if (!err) err = errno;
      discard(f);
      push_path(L, root, 2, i);
      if (err == ELOOP || err == ENOTDIR) {
        lua_pushnil(L);
        lua_pushfstring(L, "'%s' exists and is not a directory",
                        lua_tostring(L, -2));
        return 2;
      }
      return fail_at(L, "cannot create directory '%s': %s", err);
    }
    close(f->dfd);
    f->dfd = fd;
    lua_pop(L, 1);
  }
  for (tries = 0; tries < TMP_TRIES; tries++) {
    if (random_name(f->tmp, sizeof f->tmp) < 0) break;
    f->fd = openat(f->dfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                   O_CLOEXEC, 0600);
    if (f->fd >= 0 || errno != EEXIST) break;
  }
  if (f->fd < 0) {
    int err = errno;
    discard(f);
    push_path(L, root, 2, n);
    return fail_at(L, "cannot create a file in '%s': %s", err);
  }
  f->has_tmp = 1;
  return 1;
}

/* ---- methods ---- */

static int f_write(lua_State *L) {
  struct fs_file *f = checkfile(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (f->fd < 0) return closed(L);
  while (len > 0) {
    ssize_t w = write(f->fd, s, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fail(L, strerror(w < 0 ? errno : EIO));
    s += w;
    len -= (size_t)w;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int f_commit(lua_State *L) {
  struct fs_file *f = checkfile(L);
  int err = 0;
  if (f->fd < 0) return closed(L);
  if (fchmod(f->fd, plain_mode()) < 0) err = errno;
  /* close() is where NFS reports a failed write; EINTR still closed it. */
  if (close(f->fd) < 0 && !err && errno != EINTR) err = errno;
  f->fd = -1;
  if (!err && renameat(f->dfd, f->tmp, f->dfd, f->final) < 0) err = errno;
  if (!err) f->has_tmp = 0;
  discard(f);
  if (err) return fail(L, strerror(err));
  lua_pushboolean(L, 1);
  return 1;
}

static int f_discard(lua_State *L) {
  discard(checkfile(L));
  return 0;
}

static int f_tostring(lua_State *L) {
  struct fs_file *f = checkfile(L);
  lua_pushfstring(L, LXFER_FS_MT " (%s, %s)", f->final,
                  f->fd >= 0 ? "open" : "closed");
  return 1;
}

static const luaL_Reg methods[] = {
  {"write", f_write},
  {"commit", f_commit},
  {"discard", f_discard},
  {NULL, NULL}
};

void lxfer_fs_open(lua_State *L) {
  lxfer_newmeta(L, LXFER_FS_MT, NULL, methods, f_discard, f_tostring);
  lua_pop(L, 1);
}
