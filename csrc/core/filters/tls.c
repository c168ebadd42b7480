/*
 * tls.c -- HTTPS through OpenSSL 3, non-blocking; the only file that includes
 * OpenSSL headers.  WANT_READ/WANT_WRITE become socket interest in conn.c.
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

static int conn_index = -1; /* SSL ex_data slot: the xfer_conn */

/* OpenSSL's socket BIO writes with write(2): on a connection the peer
 * reset or closed (the close_notify after a reset, an alert, a request on
 * a dead keep-alive connection) that raises SIGPIPE, which kills a program
 * that does not ignore it.  This BIO is the socket BIO with send(...,
 * MSG_NOSIGNAL) for writes, as for plain HTTP (and libcurl's own BIO). */
static BIO_METHOD *nosig_meth;
static CRYPTO_ONCE nosig_once = CRYPTO_ONCE_STATIC_INIT;

static int nosig_write(BIO *b, const char *buf, int len) {
  ssize_t n;
  BIO_clear_retry_flags(b);
  do n = send((int)BIO_get_fd(b, NULL), buf, (size_t)len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n <= 0 && BIO_sock_should_retry((int)n)) BIO_set_retry_write(b);
  return (int)n;
}

/* Reads note whether the socket gave all that was asked for: OpenSSL
 * asks for exactly the rest of a record it has begun, so a full read says
 * nothing of what follows in the kernel (see xfer__tls_maybe_more). */
static int (*socket_read)(BIO *, char *, int);

static int noting_read(BIO *b, char *buf, int len) {
  int n = socket_read(b, buf, len);
  struct xfer_conn *c = BIO_get_data(b);
  if (c) c->tls_read_full = n == len;
  return n;
}

static void nosig_init(void) {
  const BIO_METHOD *s = BIO_s_socket();
  BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "xfer socket");
  if (!m) return;
  socket_read = BIO_meth_get_read(s);
  if (!BIO_meth_set_write(m, nosig_write) ||
      !BIO_meth_set_read(m, noting_read) ||
      !BIO_meth_set_puts(m, BIO_meth_get_puts(s)) ||
      !BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(s)) ||
      !BIO_meth_set_create(m, BIO_meth_get_create(s)) ||
      !BIO_meth_set_destroy(m, BIO_meth_get_destroy(s))) {
    BIO_meth_free(m);
    return;
  }
  nosig_meth = m;
}

/* Like SSL_set_fd, with the BIO above (its data: the connection). */
static int set_socket(SSL *ssl, struct xfer_conn *c) {
  BIO *b;
  if (!CRYPTO_THREAD_run_once(&nosig_once, nosig_init) || !nosig_meth ||
      !(b = BIO_new(nosig_meth)))
    return 0;
  BIO_set_fd(b, c->fd, BIO_NOCLOSE);
  BIO_set_data(b, c);
  SSL_set_bio(ssl, b, b);
  return 1;
}

static int streq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A new session (TLS 1.3 tickets arrive after the handshake): keep the
 * latest one in the host bucket. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  struct xfer_conn *c = SSL_get_ex_data(ssl, conn_index);
  if (!c || !c->host || c->tls_no_cache) return 0;
  if (c->host->tls_session) SSL_SESSION_free(c->host->tls_session);
  c->host->tls_session = sess;
  return 1; /* we keep the reference */
}

static SSL_CTX *get_ctx(XFER *e, XFERcode *err) {
  XFERM *m = e->multi;
  struct ctx_entry *ce;
  SSL_CTX *ctx;
  if (!m->tls && !(m->tls = calloc(1, sizeof(*m->tls)))) {
    *err = XFERE_OUT_OF_MEMORY;
    return NULL;
  }
  for (ce = m->tls->list; ce; ce = ce->next)
    if (streq(ce->cainfo, e->set.cainfo) && streq(ce->capath, e->set.capath))
      return ce->ctx;
  if (conn_index < 0)
    conn_index = SSL_get_ex_new_index(0, "xfer conn", NULL, NULL, NULL);
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
   * are announced by no socket event, hence xfer__tls_pending. */
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                          SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  if (e->set.cainfo || e->set.capath) {
    if (!SSL_CTX_load_verify_locations(ctx, e->set.cainfo, e->set.capath)) {
      xfer__fail(e,
                 "could not load the CA certificates (CAfile: %s, CApath: %s)",
                 e->set.cainfo ? e->set.cainfo : "none",
                 e->set.capath ? e->set.capath : "none");
      SSL_CTX_free(ctx);
      ERR_clear_error();
      *err = XFERE_SSL_CACERT_BADFILE;
      return NULL;
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  ce = calloc(1, sizeof(*ce));
  if (!ce || (e->set.cainfo && !(ce->cainfo = strdup(e->set.cainfo))) ||
      (e->set.capath && !(ce->capath = strdup(e->set.capath)))) {
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

static XFERcode client_cert(SSL *ssl, XFER *e) {
  const char *key = e->set.sslkey ? e->set.sslkey : e->set.sslcert;
  SSL_set_default_passwd_cb(ssl, passwd_cb);
  SSL_set_default_passwd_cb_userdata(ssl, e->set.keypasswd);
  if (SSL_use_certificate_chain_file(ssl, e->set.sslcert) != 1 ||
      SSL_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_check_private_key(ssl) != 1) {
    unsigned long err = ERR_peek_error();
    xfer__fail(e, "client certificate %s / key %s: %s",
               e->set.sslcert, key, ERR_reason_error_string(err)
                                        ? ERR_reason_error_string(err)
                                        : "unusable");
    ERR_clear_error();
    return XFERE_SSL_CERTPROBLEM;
  }
  return XFERE_OK;
}

/* Sets up TLS on c's connected socket, for transfer e. */
XFERcode xfer__tls_start(struct xfer_conn *c, XFER *e) {
  XFERcode err = XFERE_OK;
  SSL_CTX *ctx = get_ctx(e, &err);
  SSL *ssl;
  long v = e->set.sslversion;
  int min = version_of(v & 0xffff), max = version_of(v >> 16);
  static const unsigned char alpn[] = "\x08http/1.1";
  if (!ctx) return err;
  if (!(ssl = SSL_new(ctx))) return XFERE_OUT_OF_MEMORY;
  SSL_set_ex_data(ssl, conn_index, c);
  c->tls = ssl;
  c->tls_no_cache = !e->set.ssl_sessionid_cache;
  SSL_set_min_proto_version(ssl, min ? min : TLS1_2_VERSION);
  if (max) SSL_set_max_proto_version(ssl, max);
  if (e->set.cipher_list && SSL_set_cipher_list(ssl, e->set.cipher_list) != 1) {
    xfer__fail(e, "failed setting cipher list: %s",
               e->set.cipher_list);
    ERR_clear_error();
    return XFERE_SSL_CIPHER;
  }
  if (e->set.sslcert && (err = client_cert(ssl, e)) != XFERE_OK) return err;
  SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
  /* SNI names a host, never an address (RFC 6066). */
  if (!e->u.host_is_ipv4 && !e->u.host_is_ipv6)
    SSL_set_tlsext_host_name(ssl, c->hostname);
  SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1);
  if (e->set.ssl_sessionid_cache && c->host->tls_session)
    SSL_set_session(ssl, c->host->tls_session);
  if (!set_socket(ssl, c)) return XFERE_OUT_OF_MEMORY;
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
static int verify(struct xfer_conn *c, XFER *e) {
  SSL *ssl = c->tls;
  X509 *cert = SSL_get1_peer_certificate(ssl);
  long vr = SSL_get_verify_result(ssl);
  int rc = 0;
  e->ssl_verifyresult = vr;
  if (!cert) {
    if (e->set.ssl_verifypeer || e->set.ssl_verifyhost ||
        e->set.pinnedpublickey) {
      xfer__fail(e, "no server certificate");
      return -XFERE_PEER_FAILED_VERIFICATION;
    }
    return 0;
  }
  if (e->set.ssl_verifypeer && vr != X509_V_OK) {
    xfer__fail(e,
               "SSL certificate problem: %s", X509_verify_cert_error_string(vr));
    rc = -XFERE_PEER_FAILED_VERIFICATION;
  } else if (e->set.ssl_verifyhost) {
    /* subjectAltName only, never the CN; a wildcard stands for a whole
     * label, never part of one ("f*.example.test": RFC 9525, libcurl). */
    int ok = e->u.host_is_ipv4 || e->u.host_is_ipv6
                 ? X509_check_ip_asc(cert, c->hostname, 0)
                 : X509_check_host(cert, c->hostname, 0,
                                   X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                                   NULL);
    if (ok != 1) {
      xfer__fail(e, "SSL: no alternative certificate subject name matches "
                 "target host name '%s'", c->hostname);
      rc = -XFERE_PEER_FAILED_VERIFICATION;
    }
  }
  if (!rc && e->set.pinnedpublickey &&
      !pin_matches(cert, e->set.pinnedpublickey)) {
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

int xfer__tls_handshake(struct xfer_conn *c, XFER *e) {
  SSL *ssl = c->tls;
  int rc, se;
  ERR_clear_error();
  rc = SSL_connect(ssl);
  if (rc == 1) {
    c->tls_ok = 1;
    return verify(c, e);
  }
  se = SSL_get_error(ssl, rc);
  if (se == SSL_ERROR_WANT_READ) {
    c->io_want_write = 0;
    return XFER_IO_AGAIN;
  }
  if (se == SSL_ERROR_WANT_WRITE) {
    c->io_want_write = 1;
    return XFER_IO_AGAIN;
  }
  xfer__fail(e, "TLS handshake with %s failed: %s",
             c->hostname, ssl_reason());
  ERR_clear_error();
  return -XFERE_SSL_CONNECT_ERROR;
}

/* After a failed SSL_read/SSL_write: errno keeps the socket's error (a
 * reset, a broken pipe) for the message, or is 0 for a TLS-level error. */
static void io_failed(int se) {
  int err = se == SSL_ERROR_SYSCALL ? errno : 0;
  ERR_clear_error();
  errno = err;
}

ssize_t xfer__tls_send(struct xfer_conn *c, const char *buf, size_t len) {
  size_t n = 0;
  int se;
  ERR_clear_error();
  if (SSL_write_ex(c->tls, buf, len, &n) == 1) return (ssize_t)n;
  se = SSL_get_error(c->tls, 0);
  if (se == SSL_ERROR_WANT_WRITE || se == SSL_ERROR_WANT_READ)
    return XFER_IO_AGAIN;
  io_failed(se);
  return -XFERE_SEND_ERROR;
}

ssize_t xfer__tls_recv(struct xfer_conn *c, char *buf, size_t cap) {
  size_t n = 0;
  int se;
  ERR_clear_error();
  if (SSL_read_ex(c->tls, buf, cap, &n) == 1) {
    c->io_want_write = 0;
    return (ssize_t)n;
  }
  se = SSL_get_error(c->tls, 0);
  switch (se) {
  case SSL_ERROR_WANT_READ:
    c->io_want_write = 0;
    return XFER_IO_AGAIN;
  case SSL_ERROR_WANT_WRITE:
    c->io_want_write = 1;
    return XFER_IO_AGAIN;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  default:
    io_failed(se);
    return -XFERE_RECV_ERROR;
  }
}

int xfer__tls_pending(struct xfer_conn *c) {
  return SSL_has_pending(c->tls);
}

/* Could more bytes be waiting, in the SSL or in the kernel behind it? */
int xfer__tls_maybe_more(struct xfer_conn *c) {
  return SSL_has_pending(c->tls) ? 2 : c->tls_read_full;
}

/* Sends close_notify if the socket takes it now, never waits for it. */
void xfer__tls_close(struct xfer_conn *c) {
  SSL *ssl = c->tls;
  if (!ssl) return;
  if (c->tls_ok && c->fd >= 0) {
    ERR_clear_error();
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  c->tls = NULL;
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
 * snprintf), so the caller can grow its buffer and call again. */
size_t xfer__tls_key(XFER *e, char *buf, size_t cap) {
  const struct xfer_opts *o = &e->set;
  const char *parts[7];
  size_t len = 0, i;
  char flags[64];
  parts[0] = o->cainfo;
  parts[1] = o->capath;
  parts[2] = o->sslcert;
  parts[3] = o->sslkey;
  parts[4] = o->cipher_list;
  parts[5] = o->pinnedpublickey;
  parts[6] = o->keypasswd;
  snprintf(flags, sizeof(flags), "#%d%d%d.%lx", o->ssl_verifypeer,
           o->ssl_verifyhost, o->ssl_sessionid_cache,
           (unsigned long)o->sslversion);
#define PUT(s, n) do { if (len + (n) < cap) memcpy(buf + len, (s), (n)); \
                       len += (n); } while (0)
  PUT(flags, strlen(flags));
  for (i = 0; i < 7; i++) {
    /* \x01 separates, \x02 marks "not set": neither occurs in a path. */
    PUT("\x01", 1);
    if (parts[i]) PUT(parts[i], strlen(parts[i]));
    else PUT("\x02", 1);
  }
#undef PUT
  if (len < cap) buf[len] = 0;
  return len;
}
