/*
 * options.h -- how an easy handle keeps its string options: the ones it
 * owns a copy of, with the field that holds it.  setopt copies them,
 * cleanup frees them, duphandle copies them again, and the TLS ones make
 * up the TLS part of the connection-cache key and the TLS filter's own
 * copy (filters/tls.c), so a new TLS option is one line here.
 * XFER_OS_OWN: set by its own code in easy.c (URL keeps a running
 * transfer's string; PINNEDPUBLICKEY is checked first).
 * The list of all options, with numbers and types, is xfer.h's
 * XFER_EASY_OPTIONS.
 */
#ifndef XFER_OPTIONS_H
#define XFER_OPTIONS_H

#define XFER_OS_OWN 1

/* The TLS ones: the TLS filter's copy has the same field names. */
#define XFER_TLS_STRINGS(X)                        \
  X(CAINFO, cainfo, 0)                             \
  X(CAPATH, capath, 0)                             \
  X(SSLCERT, sslcert, 0)                           \
  X(SSLKEY, sslkey, 0)                             \
  X(KEYPASSWD, keypasswd, 0)                       \
  X(SSL_CIPHER_LIST, cipher_list, 0)               \
  X(PINNEDPUBLICKEY, pinnedpublickey, XFER_OS_OWN)

/* The proxy's TLS options (an https:// proxy): the TLS filter made for the
 * proxy copies these into the same fields as XFER_TLS_STRINGS'. */
#define XFER_PROXY_TLS_STRINGS(X)                  \
  X(PROXY_CAINFO, proxy_cainfo, 0)                 \
  X(PROXY_CAPATH, proxy_capath, 0)                 \
  X(PROXY_SSLCERT, proxy_sslcert, 0)               \
  X(PROXY_SSLKEY, proxy_sslkey, 0)                 \
  X(PROXY_KEYPASSWD, proxy_keypasswd, 0)

#define XFER_OWNED_STRINGS(X)                      \
  X(URL, url, XFER_OS_OWN)                         \
  X(CUSTOMREQUEST, customrequest, 0)               \
  X(USERAGENT, useragent, 0)                       \
  X(ACCEPT_ENCODING, accept_encoding, 0)           \
  X(INTERFACE, interface, 0)                       \
  X(DNS_SERVERS, dns_servers, XFER_OS_OWN)         \
  X(UNIX_SOCKET_PATH, unix_socket_path, XFER_OS_OWN) \
  X(USERNAME, username, 0)                         \
  X(PASSWORD, password, 0)                         \
  X(XOAUTH2_BEARER, bearer, 0)                     \
  X(PROXY, proxy, 0)                               \
  X(PRE_PROXY, pre_proxy, 0)                       \
  X(NOPROXY, noproxy, 0)                           \
  X(PROXYUSERNAME, proxyusername, 0)               \
  X(PROXYPASSWORD, proxypassword, 0)               \
  X(COOKIE, cookie, 0)                             \
  X(COOKIEJAR, cookiejar, XFER_OS_OWN)             \
  XFER_TLS_STRINGS(X)                              \
  XFER_PROXY_TLS_STRINGS(X)

#endif
