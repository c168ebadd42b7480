/*
 * tls.c -- the TLS connection filter, through OpenSSL 3, non-blocking; the
 * only file that includes OpenSSL headers.  It sits on the filter below it
 * (the socket, a SOCKS handshake, a CONNECT tunnel, or TLS to a proxy)
 * through a BIO whose reads and writes are that filter's recv and send.
 * WANT_READ/WANT_WRITE become the filter's want().
 *
 * The filter keeps its own copy of the TLS options it was made with, and
 * the names: the one sent in SNI and verified may differ from the one the
 * socket connected to (a proxy).  Made for an https:// proxy, it takes the
 * PROXY_* TLS options instead; TLS to the origin then runs over it (TLS
 * inside TLS) through the same BIO.
 *
 * One SSL_CTX per CA configuration (CAINFO, CAPATH) per multi handle, made
 * on first use, so the CA store is loaded once.  Everything else (verify
 * mode, versions, ciphers, client certificate) is set per SSL.  Sessions to
 * resume live in the connection cache's host bucket, whose key includes the
 * TLS options, so a session is only offered where it was made.
 *
 * Verification runs with SSL_VERIFY_NONE and is checked right after the
 * handshake, before a byte of the request is sent: that keeps the error
 * codes exact (60 for the chain or the name, 90 for a pin) instead of a
 * generic handshake alert.
 */
#include "xfer_int.h"
#include "options.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct ctx_entry {
  struct ctx_entry *next;
  SSL_CTX *ctx;
  char *cainfo, *capath;
};

struct xfer_tls_ctxs {
  struct ctx_entry *list;
};

/* The options the filter was made with: its own copies. */
struct tls_cfg {
  char *cainfo, *capath, *sslcert, *sslkey, *keypasswd, *cipher_list;
  char *pinnedpublickey;
  long sslversion;
  unsigned verifypeer : 1, verifyhost : 1, sessionid_cache : 1;
  char *name;                  /* sent in SNI (not an address) and verified */
  unsigned name_is_ip : 1;
  unsigned char alpn[32];      /* wire form */
  size_t alpn_len;
};

struct tls {
  struct xfer_cf cf;
  SSL *ssl;
  struct tls_cfg cfg;
  long verify_result;
  char alpn_got[16];
  unsigned want_write : 1;     /* OpenSSL must write before it can go on */
  unsigned handshake_done : 1;
  unsigned read_full : 1;      /* the last read from below filled its ask */
};

static int tls_index = -1; /* SSL ex_data slot: the filter */

/* ---- the BIO: the filter below ---- */

static BIO_METHOD *below_meth;
static CRYPTO_ONCE below_once = CRYPTO_ONCE_STATIC_INIT;

static int below_write(BIO *b, const char *buf, int len) {
  struct tls *t = BIO_get_data(b);
  ssize_t n = xfer__cf_send(t->cf.next, buf, (size_t)len);
  BIO_clear_retry_flags(b);
  if (n == XFER_IO_AGAIN) {
    BIO_set_retry_write(b);
    return -1;
  }
  return n < 0 ? -1 : (int)n;
}

/* OpenSSL asks for exactly the rest of a record it has begun, so a read
 * that gave all it asked for says nothing of what follows below (more()). */
static int below_read(BIO *b, char *buf, int len) {
  struct tls *t = BIO_get_data(b);
  ssize_t n = xfer__cf_recv(t->cf.next, buf, (size_t)len);
  BIO_clear_retry_flags(b);
  if (n == XFER_IO_AGAIN) {
    BIO_set_retry_read(b);
    return -1;
  }
  if (n < 0) return -1; /* errno says why, for the message */
  /* The end, told as the socket BIO tells it: OpenSSL then takes a close
   * without close_notify as the end (SSL_OP_IGNORE_UNEXPECTED_EOF). */
  if (n == 0) BIO_set_flags(b, BIO_FLAGS_IN_EOF);
  t->read_full = n == len;
  return (int)n;
}

static long below_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH: return 1; /* writes are never buffered here */
  case BIO_CTRL_EOF: return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
  default: return 0;
  }
}

static void below_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                               "xfer filter below");
  if (!m) return;
  if (!BIO_meth_set_write(m, below_write) ||
      !BIO_meth_set_read(m, below_read) ||
      !BIO_meth_set_ctrl(m, below_ctrl)) {
    BIO_meth_free(m);
    return;
  }
  below_meth = m;
}

static int set_bio(struct tls *t) {
  BIO *b;
  if (!CRYPTO_THREAD_run_once(&below_once, below_init) || !below_meth ||
      !(b = BIO_new(below_meth)))
    return 0;
  BIO_set_data(b, t);
  BIO_set_init(b, 1);
  SSL_set_bio(t->ssl, b, b);
  return 1;
}

/* ---- contexts and sessions ---- */

static int streq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A new session (TLS 1.3 tickets arrive after the handshake): keep the
 * latest one in the host bucket. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  struct tls *t = SSL_get_ex_data(ssl, tls_index);
  struct xfer_host *h = t ? t->cf.conn->host : NULL;
  if (!h || !t->cfg.sessionid_cache) return 0;
  if (h->tls_session) SSL_SESSION_free(h->tls_session);
  h->tls_session = sess;
  return 1; /* we keep the reference */
}

static SSL_CTX *get_ctx(XFERM *m, const struct tls_cfg *cfg, XFER *e,
                        XFERcode *err) {
  struct ctx_entry *ce;
  SSL_CTX *ctx;
  if (!m->tls && !(m->tls = calloc(1, sizeof(*m->tls)))) {
    *err = XFERE_OUT_OF_MEMORY;
    return NULL;
  }
  for (ce = m->tls->list; ce; ce = ce->next)
    if (streq(ce->cainfo, cfg->cainfo) && streq(ce->capath, cfg->capath))
      return ce->ctx;
  if (tls_index < 0)
    tls_index = SSL_get_ex_new_index(0, "xfer tls filter", NULL, NULL, NULL);
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *err = XFERE_OUT_OF_MEMORY;
    return NULL;
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* A peer that closes without close_notify ends a close-delimited body,
   * as with plain TCP (and libcurl). */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  /* Without read-ahead OpenSSL reads each record twice (its 5-byte header,
   * then the rest): one more syscall per response.  Bytes it reads ahead
   * are announced by no socket event, hence pending(). */
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                          SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  if (cfg->cainfo || cfg->capath) {
    if (!SSL_CTX_load_verify_locations(ctx, cfg->cainfo, cfg->capath)) {
      if (e)
        xfer__fail(e, "could not load the CA certificates (CAfile: %s, "
                   "CApath: %s)", cfg->cainfo ? cfg->cainfo : "none",
                   cfg->capath ? cfg->capath : "none");
      SSL_CTX_free(ctx);
      ERR_clear_error();
      *err = XFERE_SSL_CACERT_BADFILE;
      return NULL;
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  ce = calloc(1, sizeof(*ce));
  if (!ce || (cfg->cainfo && !(ce->cainfo = strdup(cfg->cainfo))) ||
      (cfg->capath && !(ce->capath = strdup(cfg->capath)))) {
    if (ce) {
      free(ce->cainfo);
      free(ce);
    }
    SSL_CTX_free(ctx);
    *err = XFERE_OUT_OF_MEMORY;
    return NULL;
  }
  ce->ctx = ctx;
  ce->next = m->tls->list;
  m->tls->list = ce;
  return ctx;
}

static int version_of(long v) {
  switch (v) {
  case XFER_SSLVERSION_TLSv1_0: return TLS1_VERSION;
  case XFER_SSLVERSION_TLSv1_1: return TLS1_1_VERSION;
  case XFER_SSLVERSION_TLSv1_2: return TLS1_2_VERSION;
  case XFER_SSLVERSION_TLSv1_3: return TLS1_3_VERSION;
  default: return 0;
  }
}

static int passwd_cb(char *buf, int size, int rw, void *u) {
  const char *p = u;
  int n;
  (void)rw;
  if (!p) return 0;
  n = (int)strlen(p);
  if (n > size) n = size;
  memcpy(buf, p, (size_t)n);
  return n;
}

static XFERcode client_cert(SSL *ssl, const struct tls_cfg *cfg, XFER *e) {
  const char *key = cfg->sslkey ? cfg->sslkey : cfg->sslcert;
  SSL_set_default_passwd_cb(ssl, passwd_cb);
  SSL_set_default_passwd_cb_userdata(ssl, cfg->keypasswd);
  if (SSL_use_certificate_chain_file(ssl, cfg->sslcert) != 1 ||
      SSL_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_check_private_key(ssl) != 1) {
    unsigned long err = ERR_peek_error();
    if (e)
      xfer__fail(e, "client certificate %s / key %s: %s", cfg->sslcert, key,
                 ERR_reason_error_string(err) ? ERR_reason_error_string(err)
                                              : "unusable");
    ERR_clear_error();
    return XFERE_SSL_CERTPROBLEM;
  }
  return XFERE_OK;
}

/* VERBOSE with a debug callback: every TLS protocol message (handshake,
 * alerts; not the application data), to the transfer the connection
 * carries, as libcurl's SSL_DATA_IN/OUT. */
static void on_tls_message(int write_p, int version, int content_type,
                           const void *buf, size_t len, SSL *ssl, void *arg) {
  struct xfer_conn *c = arg;
  (void)version;
  (void)ssl;
  if (content_type == SSL3_RT_HEADER || content_type == SSL3_RT_INNER_CONTENT_TYPE)
    return; /* record framing, not a message */
  if (c->easy)
    xfer__debug(c->easy, write_p ? XFERINFO_SSL_DATA_OUT : XFERINFO_SSL_DATA_IN,
                buf, len);
}

/* The SSL for the first handshake step. */
static XFERcode start(struct tls *t, XFER *e) {
  const struct tls_cfg *cfg = &t->cfg;
  struct xfer_conn *c = t->cf.conn;
  XFERcode err = XFERE_OK;
  SSL_CTX *ctx = get_ctx(c->multi, cfg, e, &err);
  SSL *ssl;
  int min = version_of(cfg->sslversion & 0xffff),
      max = version_of(cfg->sslversion >> 16);
  if (!ctx) return err;
  if (!(ssl = t->ssl = SSL_new(ctx))) return XFERE_OUT_OF_MEMORY;
  SSL_set_ex_data(ssl, tls_index, t);
  if (e && e->set.verbose && e->set.debugfn) {
    SSL_set_msg_callback(ssl, on_tls_message);
    SSL_set_msg_callback_arg(ssl, c);
  }
  SSL_set_min_proto_version(ssl, min ? min : TLS1_2_VERSION);
  if (max) SSL_set_max_proto_version(ssl, max);
  if (cfg->cipher_list && SSL_set_cipher_list(ssl, cfg->cipher_list) != 1) {
    if (e) xfer__fail(e, "failed setting cipher list: %s", cfg->cipher_list);
    ERR_clear_error();
    return XFERE_SSL_CIPHER;
  }
  if (cfg->sslcert && (err = client_cert(ssl, cfg, e)) != XFERE_OK) return err;
  SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
  /* SNI names a host, never an address (RFC 6066). */
  if (!cfg->name_is_ip) SSL_set_tlsext_host_name(ssl, cfg->name);
  if (cfg->alpn_len) SSL_set_alpn_protos(ssl, cfg->alpn, (unsigned)cfg->alpn_len);
  if (cfg->sessionid_cache && c->host->tls_session)
    SSL_set_session(ssl, c->host->tls_session);
  if (!set_bio(t)) return XFERE_OUT_OF_MEMORY;
  return XFERE_OK;
}

static int pin_matches(X509 *cert, const char *pins) {
  unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char b64[EVP_MAX_MD_SIZE * 2];
  int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der), ok = 0;
  const char *p = pins;
  size_t blen;
  if (len <= 0) return 0;
  if (!EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL)) {
    OPENSSL_free(der);
    return 0;
  }
  OPENSSL_free(der);
  EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
  blen = strlen(b64);
  while (p && *p && !ok) {
    size_t n = strcspn(p, ";");
    if (n == 8 + blen && strncmp(p, "sha256//", 8) == 0 &&
        memcmp(p + 8, b64, blen) == 0)
      ok = 1;
    p += n;
    if (*p == ';') p++;
  }
  return ok;
}

/* The checks that SSL_VERIFY_NONE left to us. */
static int verify(struct tls *t, XFER *e) {
  const struct tls_cfg *cfg = &t->cfg;
  X509 *cert = SSL_get1_peer_certificate(t->ssl);
  long vr = SSL_get_verify_result(t->ssl);
  int rc = 0;
  t->verify_result = vr;
  if (!cert) {
    if (cfg->verifypeer || cfg->verifyhost || cfg->pinnedpublickey) {
      if (e) xfer__fail(e, "no server certificate");
      return -XFERE_PEER_FAILED_VERIFICATION;
    }
    return 0;
  }
  if (cfg->verifypeer && vr != X509_V_OK) {
    if (e)
      xfer__fail(e, "SSL certificate problem: %s",
                 X509_verify_cert_error_string(vr));
    rc = -XFERE_PEER_FAILED_VERIFICATION;
  } else if (cfg->verifyhost) {
    /* subjectAltName only, never the CN; a wildcard stands for a whole
     * label, never part of one ("f*.example.test": RFC 9525, libcurl). */
    int ok = cfg->name_is_ip
                 ? X509_check_ip_asc(cert, cfg->name, 0)
                 : X509_check_host(cert, cfg->name, 0,
                                   X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                                   NULL);
    if (ok != 1) {
      if (e)
        xfer__fail(e, "SSL: no alternative certificate subject name "
                   "matches target host name '%s'", cfg->name);
      rc = -XFERE_PEER_FAILED_VERIFICATION;
    }
  }
  if (!rc && cfg->pinnedpublickey && !pin_matches(cert, cfg->pinnedpublickey)) {
    if (e)
      xfer__fail(e, "the server's public key does not match the pinned key");
    rc = -XFERE_SSL_PINNEDPUBKEYNOTMATCH;
  }
  X509_free(cert);
  return rc;
}

static const char *ssl_reason(void) {
  unsigned long err = ERR_peek_last_error();
  const char *r = err ? ERR_reason_error_string(err) : NULL;
  return r ? r : "connection closed or reset";
}

/* After a failed SSL_read/SSL_write: errno keeps the socket's error (a
 * reset, a broken pipe) for the message, or is 0 for a TLS-level error. */
static void io_failed(int se) {
  int err = se == SSL_ERROR_SYSCALL ? errno : 0;
  ERR_clear_error();
  errno = err;
}

/* ---- the filter ---- */

static int tls_connect(struct xfer_cf *cf, XFER *e, int ev) {
  struct tls *t = (struct tls *)cf;
  int rc, se;
  (void)ev;
  if (!t->ssl) {
    XFERcode err = start(t, e);
    if (err) return -(int)err;
  }
  ERR_clear_error();
  rc = SSL_connect(t->ssl);
  if (rc == 1) {
    const unsigned char *p = NULL;
    unsigned int n = 0;
    t->handshake_done = 1;
    t->want_write = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (p && n < sizeof(t->alpn_got)) {
      memcpy(t->alpn_got, p, n);
      t->alpn_got[n] = 0;
    }
    return verify(t, e);
  }
  se = SSL_get_error(t->ssl, rc);
  if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
    t->want_write = se == SSL_ERROR_WANT_WRITE;
    return XFER_IO_AGAIN;
  }
  if (e)
    xfer__fail(e, "TLS handshake with %s failed: %s", t->cfg.name,
               ssl_reason());
  ERR_clear_error();
  return -XFERE_SSL_CONNECT_ERROR;
}

static ssize_t tls_send(struct xfer_cf *cf, const char *buf, size_t len) {
  struct tls *t = (struct tls *)cf;
  size_t n = 0;
  int se;
  ERR_clear_error();
  if (SSL_write_ex(t->ssl, buf, len, &n) == 1) return (ssize_t)n;
  se = SSL_get_error(t->ssl, 0);
  if (se == SSL_ERROR_WANT_WRITE || se == SSL_ERROR_WANT_READ)
    return XFER_IO_AGAIN;
  io_failed(se);
  return -XFERE_SEND_ERROR;
}

static ssize_t tls_recv(struct xfer_cf *cf, char *buf, size_t cap) {
  struct tls *t = (struct tls *)cf;
  size_t n = 0;
  int se;
  ERR_clear_error();
  if (SSL_read_ex(t->ssl, buf, cap, &n) == 1) {
    t->want_write = 0;
    return (ssize_t)n;
  }
  se = SSL_get_error(t->ssl, 0);
  switch (se) {
  case SSL_ERROR_WANT_READ:
    t->want_write = 0;
    return XFER_IO_AGAIN;
  case SSL_ERROR_WANT_WRITE:
    t->want_write = 1;
    return XFER_IO_AGAIN;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  default:
    io_failed(se);
    return -XFERE_RECV_ERROR;
  }
}

static int tls_pending(struct xfer_cf *cf) {
  struct tls *t = (struct tls *)cf;
  return t->ssl && SSL_has_pending(t->ssl);
}

static int tls_more(struct xfer_cf *cf) {
  struct tls *t = (struct tls *)cf;
  if (tls_pending(cf)) return 1;
  return t->read_full ? 2 : 0;
}

static int tls_want(struct xfer_cf *cf) {
  struct tls *t = (struct tls *)cf;
  if (!t->ssl) return 0;
  if (!t->handshake_done) return t->want_write ? XFER_POLL_OUT : XFER_POLL_IN;
  return t->want_write ? XFER_POLL_OUT : 0;
}

static void cfg_free(struct tls_cfg *g) {
#define FREE_(opt, field, flags) free(g->field);
  XFER_TLS_STRINGS(FREE_)
#undef FREE_
  free(g->name);
}

/* Sends close_notify if the filter below takes it now, never waits. */
static void tls_close(struct xfer_cf *cf) {
  struct tls *t = (struct tls *)cf;
  if (t->ssl) {
    if (t->handshake_done && cf->conn->fd >= 0) {
      ERR_clear_error();
      SSL_shutdown(t->ssl);
    }
    ERR_clear_error();
    SSL_free(t->ssl);
  }
  cfg_free(&t->cfg);
  free(t);
}

static int tls_query(struct xfer_cf *cf, int what, void *out) {
  struct tls *t = (struct tls *)cf;
  switch (what) {
  case XFER_CF_Q_VERIFY_RESULT:
    *(long *)out = t->verify_result;
    return 0;
  case XFER_CF_Q_ALPN:
    *(const char **)out = t->alpn_got;
    return 0;
  default:
    return -1;
  }
}

static const struct xfer_cf_type tls_type = {
  "tls", tls_connect, tls_send, tls_recv, tls_pending, tls_more, tls_want,
  tls_close, tls_query};

static int dup_opt(char **dst, const char *src) {
  return src && !(*dst = strdup(src));
}

struct xfer_cf *xfer__cf_tls_new(struct xfer_conn *c, struct xfer_cf *below,
                                 XFER *e, const char *name, int name_is_ip,
                                 const unsigned char *alpn, size_t alpn_len,
                                 int flags) {
  struct tls *t = calloc(1, sizeof(*t));
  struct tls_cfg *g;
  const struct xfer_opts *o = &e->set;
  if (!t) return NULL;
  g = &t->cfg;
  t->cf.type = &tls_type;
  t->cf.conn = c;
  t->cf.next = below;
  if (flags & XFER_TLS_FOR_PROXY) {
    /* An https:// proxy: its own CA, client certificate and checks; the
     * origin's version and cipher settings. */
#define PCOPY_(opt, field, fl) \
    if (dup_opt(&g->field, o->proxy_##field)) goto oom;
    PCOPY_(PROXY_CAINFO, cainfo, 0)
    PCOPY_(PROXY_CAPATH, capath, 0)
    PCOPY_(PROXY_SSLCERT, sslcert, 0)
    PCOPY_(PROXY_SSLKEY, sslkey, 0)
    PCOPY_(PROXY_KEYPASSWD, keypasswd, 0)
#undef PCOPY_
    if (dup_opt(&g->cipher_list, o->cipher_list)) goto oom;
    g->verifypeer = o->proxy_ssl_verifypeer;
    g->verifyhost = o->proxy_ssl_verifyhost;
  } else {
#define COPY_(opt, field, flags) if (dup_opt(&g->field, o->field)) goto oom;
    XFER_TLS_STRINGS(COPY_)
#undef COPY_
    g->verifypeer = o->ssl_verifypeer;
    g->verifyhost = o->ssl_verifyhost;
  }
  if (dup_opt(&g->name, name) || alpn_len > sizeof(g->alpn)) goto oom;
  g->sslversion = o->sslversion;
  /* Sessions live in the host bucket, which through a proxy is the
   * proxy's, shared by every origin behind it: none is kept there. */
  g->sessionid_cache = o->ssl_sessionid_cache && !(flags & XFER_TLS_NO_SESSION);
  g->name_is_ip = name_is_ip ? 1 : 0;
  memcpy(g->alpn, alpn, alpn_len);
  g->alpn_len = alpn_len;
  return &t->cf;
oom:
  cfg_free(g);
  free(t);
  return NULL;
}

void xfer__tls_session_free(void *session) {
  if (session) SSL_SESSION_free(session);
}

void xfer__tls_free(XFERM *m) {
  struct ctx_entry *ce, *next;
  if (!m->tls) return;
  for (ce = m->tls->list; ce; ce = next) {
    next = ce->next;
    SSL_CTX_free(ce->ctx);
    free(ce->cainfo);
    free(ce->capath);
    free(ce);
  }
  free(m->tls);
  m->tls = NULL;
}

/* The bytes of the TLS options that make a connection (or a session) unfit
 * for another transfer, appended to a connection-cache key.  The strings
 * themselves, not a hash of them: a collision would hand one client
 * identity's connection to another.  Returns the length needed (like
 * snprintf), so the caller can grow its buffer and call again.  proxy:
 * the https proxy's options follow. */
size_t xfer__tls_key(XFER *e, int proxy, char *buf, size_t cap) {
  const struct xfer_opts *o = &e->set;
  size_t len = 0;
  char flags[64];
  snprintf(flags, sizeof(flags), "#%d%d%d.%lx", o->ssl_verifypeer,
           o->ssl_verifyhost, o->ssl_sessionid_cache,
           (unsigned long)o->sslversion);
#define PUT(s, n) do { if (len + (n) < cap) memcpy(buf + len, (s), (n)); \
                       len += (n); } while (0)
  PUT(flags, strlen(flags));
  /* \x01 separates, \x02 marks "not set": neither occurs in a path. */
#define PART_(opt, field, fl)                      \
  PUT("\x01", 1);                                  \
  if (o->field) PUT(o->field, strlen(o->field));   \
  else PUT("\x02", 1);
  XFER_TLS_STRINGS(PART_)
  if (proxy) {
    PUT(o->proxy_ssl_verifypeer ? "\x01P1" : "\x01P0", 3);
    PUT(o->proxy_ssl_verifyhost ? "1" : "0", 1);
    XFER_PROXY_TLS_STRINGS(PART_)
  }
#undef PART_
#undef PUT
  if (len < cap) buf[len] = 0;
  return len;
}
