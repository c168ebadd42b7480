/*
 * xfer.h -- the public C API of xfer, the only header that is installed.
 *
 * xfer re-implements libcurl's multi interface for HTTP(S).  Names, shapes
 * and numeric values follow libcurl's (CURLM_* = XFERM_*, CURLE_* = XFERE_*,
 * CURLOPT_* = XFEROPT_*, ...), so a libcurl program ports by renaming, or
 * compiles unchanged through csrc/compat/curl/curl.h.  docs/api.md documents
 * every function; where it is silent, libcurl's man page of the same name is
 * the reference.
 */
#ifndef XFER_H
#define XFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/select.h> /* fd_set, for xfer_multi_fdset */
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define XFER_EXTERN __attribute__((visibility("default")))
#else
#  define XFER_EXTERN
#endif

#define XFER_VERSION "0.1.0"
#define XFER_VERSION_NUM 0x000100

typedef struct xfer_multi XFERM;
typedef struct xfer_easy XFER;
typedef int xfer_socket_t;
typedef int64_t xfer_off_t;

#define XFER_SOCKET_BAD (-1)
#define XFER_SOCKET_TIMEOUT XFER_SOCKET_BAD

/* Multi error codes: the values of CURLMcode. */
typedef enum {
  XFERM_CALL_MULTI_PERFORM = -1, /* never returned; kept for old programs */
  XFERM_OK = 0,
  XFERM_BAD_HANDLE = 1,          /* not a valid multi handle */
  XFERM_BAD_EASY_HANDLE = 2,     /* not a valid easy handle, or in another multi */
  XFERM_OUT_OF_MEMORY = 3,
  XFERM_INTERNAL_ERROR = 4,
  XFERM_BAD_SOCKET = 5,          /* socket_action on a socket xfer does not know */
  XFERM_UNKNOWN_OPTION = 6,
  XFERM_ADDED_ALREADY = 7,       /* the easy handle is already in this multi */
  XFERM_RECURSIVE_API_CALL = 8,  /* called from inside a socket/timer callback */
  XFERM_WAKEUP_FAILURE = 9,
  XFERM_BAD_FUNCTION_ARGUMENT = 10,
  XFERM_ABORTED_BY_CALLBACK = 11,
  XFERM_UNRECOVERABLE_POLL = 12,
  XFERM_LAST
} XFERMcode;

/* Transfer error codes: the values of CURLcode, for the ones that concern
 * HTTP(S).  The gaps are libcurl's codes for other protocols. */
typedef enum {
  XFERE_OK = 0,
  XFERE_UNSUPPORTED_PROTOCOL = 1,
  XFERE_FAILED_INIT = 2,
  XFERE_URL_MALFORMAT = 3,
  XFERE_NOT_BUILT_IN = 4,
  XFERE_COULDNT_RESOLVE_PROXY = 5,
  XFERE_COULDNT_RESOLVE_HOST = 6,
  XFERE_COULDNT_CONNECT = 7,
  XFERE_WEIRD_SERVER_REPLY = 8,
  XFERE_REMOTE_ACCESS_DENIED = 9,
  XFERE_HTTP2 = 16,
  XFERE_PARTIAL_FILE = 18,
  XFERE_HTTP_RETURNED_ERROR = 22,
  XFERE_WRITE_ERROR = 23,
  XFERE_UPLOAD_FAILED = 25,
  XFERE_READ_ERROR = 26,
  XFERE_OUT_OF_MEMORY = 27,
  XFERE_OPERATION_TIMEDOUT = 28,
  XFERE_RANGE_ERROR = 33,
  XFERE_SSL_CONNECT_ERROR = 35,
  XFERE_ABORTED_BY_CALLBACK = 42,
  XFERE_BAD_FUNCTION_ARGUMENT = 43,
  XFERE_INTERFACE_FAILED = 45,
  XFERE_TOO_MANY_REDIRECTS = 47,
  XFERE_UNKNOWN_OPTION = 48,
  XFERE_SETOPT_OPTION_SYNTAX = 49,
  XFERE_GOT_NOTHING = 52,
  XFERE_SEND_ERROR = 55,
  XFERE_RECV_ERROR = 56,
  XFERE_SSL_CERTPROBLEM = 58,
  XFERE_SSL_CIPHER = 59,
  XFERE_PEER_FAILED_VERIFICATION = 60,
  XFERE_BAD_CONTENT_ENCODING = 61,
  XFERE_FILESIZE_EXCEEDED = 63,
  XFERE_SEND_FAIL_REWIND = 65,
  XFERE_SSL_CACERT_BADFILE = 77,
  XFERE_SSL_SHUTDOWN_FAILED = 80,
  XFERE_AGAIN = 81,
  XFERE_SSL_CRL_BADFILE = 82,
  XFERE_SSL_ISSUER_ERROR = 83,
  XFERE_NO_CONNECTION_AVAILABLE = 89,
  XFERE_SSL_PINNEDPUBKEYNOTMATCH = 90,
  XFERE_HTTP2_STREAM = 92,
  XFERE_RECURSIVE_API_CALL = 93,
  XFERE_PROXY = 97,              /* a proxy handshake failed: PROXY_ERROR */
  XFERE_UNRECOVERABLE_POLL = 99,
  XFERE_TOO_LARGE = 100,
  XFERE_LAST = 102
} XFERcode;

/* Option numbering is libcurl's: a type base plus a number. */
#define XFEROPTTYPE_LONG          0
#define XFEROPTTYPE_OBJECTPOINT   10000
#define XFEROPTTYPE_FUNCTIONPOINT 20000
#define XFEROPTTYPE_OFF_T         30000
#define XFEROPTTYPE_STRINGPOINT   XFEROPTTYPE_OBJECTPOINT
#define XFEROPTTYPE_SLISTPOINT    XFEROPTTYPE_OBJECTPOINT
#define XFEROPTTYPE_CBPOINT       XFEROPTTYPE_OBJECTPOINT

/* Every easy option: its name (XFEROPT_name, and the name
 * xfer_easy_option_by_name finds), libcurl's number, and its type
 * (XFEROT_*).  The one list the rest is made from: the enum below, the
 * option look-ups, setopt's dispatch, and the Lua and nginx bindings. */
#define XFER_EASY_OPTIONS(X) \
  X(WRITEDATA, 10001, CBPTR) \
  X(URL, 10002, STRING) \
  X(USERPWD, 10005, STRING) \
  X(PROXY, 10004, STRING) \
  X(PROXYUSERPWD, 10006, STRING) \
  X(READDATA, 10009, CBPTR) \
  X(ERRORBUFFER, 10010, OBJECT) \
  X(WRITEFUNCTION, 20011, FUNCTION) \
  X(READFUNCTION, 20012, FUNCTION) \
  X(TIMEOUT, 13, LONG) \
  X(INFILESIZE, 14, LONG) \
  X(POSTFIELDS, 10015, OBJECT) \
  X(USERAGENT, 10018, STRING) \
  X(LOW_SPEED_LIMIT, 19, LONG) \
  X(LOW_SPEED_TIME, 20, LONG) \
  X(HTTPHEADER, 10023, SLIST) \
  X(COOKIE, 10022, STRING) \
  X(COOKIEFILE, 10031, STRING) \
  X(COOKIEJAR, 10082, STRING) \
  X(COOKIESESSION, 96, LONG) \
  X(COOKIELIST, 10135, STRING) \
  X(SSLCERT, 10025, STRING) \
  X(KEYPASSWD, 10026, STRING) \
  X(HEADERDATA, 10029, CBPTR) \
  X(SSLVERSION, 32, VALUES) \
  X(CUSTOMREQUEST, 10036, STRING) \
  X(VERBOSE, 41, LONG) \
  X(NOPROGRESS, 43, LONG) \
  X(NOBODY, 44, LONG) \
  X(FAILONERROR, 45, LONG) \
  X(UPLOAD, 46, LONG) \
  X(POST, 47, LONG) \
  X(FOLLOWLOCATION, 52, LONG) \
  X(XFERINFODATA, 10057, CBPTR) \
  X(PROXYPORT, 59, LONG) \
  X(POSTFIELDSIZE, 60, LONG) \
  X(HTTPPROXYTUNNEL, 61, LONG) \
  X(SSL_VERIFYPEER, 64, LONG) \
  X(CAINFO, 10065, STRING) \
  X(MAXREDIRS, 68, LONG) \
  X(FRESH_CONNECT, 74, LONG) \
  X(FORBID_REUSE, 75, LONG) \
  X(CONNECTTIMEOUT, 78, LONG) \
  X(HEADERFUNCTION, 20079, FUNCTION) \
  X(DEBUGFUNCTION, 20094, FUNCTION) \
  X(DEBUGDATA, 10095, CBPTR) \
  X(HTTPGET, 80, LONG) \
  X(SSL_VERIFYHOST, 81, LONG) \
  X(HTTP_VERSION, 84, VALUES) \
  X(SSL_CIPHER_LIST, 10083, STRING) \
  X(SSLKEY, 10087, STRING) \
  X(DNS_CACHE_TIMEOUT, 92, LONG) \
  X(CAPATH, 10097, STRING) \
  X(NOSIGNAL, 99, LONG) \
  X(INTERFACE, 10062, STRING) \
  X(LOCALPORT, 139, LONG) \
  X(LOCALPORTRANGE, 164, LONG) \
  X(UNRESTRICTED_AUTH, 105, LONG) \
  X(HTTPAUTH, 107, VALUES) \
  X(PROXYTYPE, 101, VALUES) \
  X(ACCEPT_ENCODING, 10102, STRING) \
  X(PRIVATE, 10103, OBJECT) \
  X(PROXYAUTH, 111, VALUES) \
  X(IPRESOLVE, 113, VALUES) \
  X(MAXFILESIZE, 114, LONG) \
  X(MAXFILESIZE_LARGE, 30117, OFF_T) \
  X(INFILESIZE_LARGE, 30115, OFF_T) \
  X(POSTFIELDSIZE_LARGE, 30120, OFF_T) \
  X(MAX_SEND_SPEED_LARGE, 30145, OFF_T) \
  X(MAX_RECV_SPEED_LARGE, 30146, OFF_T) \
  X(TCP_NODELAY, 121, LONG) \
  X(SSL_SESSIONID_CACHE, 150, LONG) \
  X(TIMEOUT_MS, 155, LONG) \
  X(CONNECTTIMEOUT_MS, 156, LONG) \
  X(HTTP_TRANSFER_DECODING, 157, LONG) \
  X(HTTP_CONTENT_DECODING, 158, LONG) \
  X(COPYPOSTFIELDS, 10165, OBJECT) \
  X(DNS_SERVERS, 10211, STRING) \
  X(USERNAME, 10173, STRING) \
  X(PASSWORD, 10174, STRING) \
  X(PROXYUSERNAME, 10175, STRING) \
  X(PROXYPASSWORD, 10176, STRING) \
  X(NOPROXY, 10177, STRING) \
  X(RESOLVE, 10203, SLIST) \
  X(TCP_KEEPALIVE, 213, LONG) \
  X(TCP_KEEPIDLE, 214, LONG) \
  X(TCP_KEEPINTVL, 215, LONG) \
  X(UNIX_SOCKET_PATH, 10231, STRING) \
  X(CONNECT_TO, 10243, SLIST) \
  X(ABSTRACT_UNIX_SOCKET, 10264, STRING) \
  X(HAPPY_EYEBALLS_TIMEOUT_MS, 271, LONG) \
  X(TCP_KEEPCNT, 326, LONG) \
  X(XFERINFOFUNCTION, 20219, FUNCTION) \
  X(XOAUTH2_BEARER, 10220, STRING) \
  X(PINNEDPUBLICKEY, 10230, STRING) \
  X(PROXYHEADER, 10228, SLIST) \
  X(HEADEROPT, 229, VALUES) \
  X(PIPEWAIT, 237, LONG) \
  X(PROXY_CAINFO, 10246, STRING) \
  X(PROXY_CAPATH, 10247, STRING) \
  X(PROXY_SSL_VERIFYPEER, 248, LONG) \
  X(PROXY_SSL_VERIFYHOST, 249, LONG) \
  X(PROXY_SSLCERT, 10254, STRING) \
  X(PROXY_SSLKEY, 10256, STRING) \
  X(PROXY_KEYPASSWD, 10258, STRING) \
  X(PRE_PROXY, 10262, STRING) \
  X(SUPPRESS_CONNECT_HEADERS, 265, LONG) \
  X(REDIR_PROTOCOLS_STR, 10319, STRING)

typedef enum {
#define XFER_OPTION_ENUM_(name, number, type) XFEROPT_##name = number,
  XFER_EASY_OPTIONS(XFER_OPTION_ENUM_)
#undef XFER_OPTION_ENUM_
  XFEROPT_LASTENTRY = 10321   /* above every option's number */
} XFERoption;

/* The option types of xfer_easy_option_*, with libcurl's values
 * (curl_easytype): what setopt takes for each. */
typedef enum {
  XFEROT_LONG,     /* long */
  XFEROT_VALUES,   /* long, one of the values documented for it */
  XFEROT_OFF_T,    /* xfer_off_t */
  XFEROT_OBJECT,   /* pointer (void *) */
  XFEROT_STRING,   /* const char *, copied */
  XFEROT_SLIST,    /* struct xfer_slist *, used in place */
  XFEROT_CBPTR,    /* void *, passed to a callback */
  XFEROT_BLOB,     /* (none yet) */
  XFEROT_FUNCTION  /* a function pointer */
} xfer_easytype;

#define XFEROT_FLAG_ALIAS (1 << 0) /* another name for an option */

struct xfer_easyoption {
  const char *name;    /* "URL": the option's name without XFEROPT_ */
  XFERoption id;
  xfer_easytype type;
  unsigned int flags;
};

/* SSLVERSION values: a minimum, or'ed with a maximum (<< 16). */
#define XFER_SSLVERSION_DEFAULT 0
#define XFER_SSLVERSION_TLSv1   1
#define XFER_SSLVERSION_TLSv1_0 4
#define XFER_SSLVERSION_TLSv1_1 5
#define XFER_SSLVERSION_TLSv1_2 6
#define XFER_SSLVERSION_TLSv1_3 7
#define XFER_SSLVERSION_MAX_NONE    0
#define XFER_SSLVERSION_MAX_DEFAULT (XFER_SSLVERSION_TLSv1 << 16)
#define XFER_SSLVERSION_MAX_TLSv1_0 (XFER_SSLVERSION_TLSv1_0 << 16)
#define XFER_SSLVERSION_MAX_TLSv1_1 (XFER_SSLVERSION_TLSv1_1 << 16)
#define XFER_SSLVERSION_MAX_TLSv1_2 (XFER_SSLVERSION_TLSv1_2 << 16)
#define XFER_SSLVERSION_MAX_TLSv1_3 (XFER_SSLVERSION_TLSv1_3 << 16)

/* HTTPAUTH bits (libcurl's CURLAUTH_*).  One bit is used at once; more
 * than one (ANY, ANYSAFE, or a bit with ONLY) asks the server first and
 * picks from its 401.  NEGOTIATE, NTLM, NTLM_WB and AWS_SIGV4 are not
 * built in: setopt drops them (XFERE_NOT_BUILT_IN when nothing is left);
 * DIGEST_IE is Digest with the query left out of its uri. */
#define XFERAUTH_NONE      ((unsigned long)0)
#define XFERAUTH_BASIC     (((unsigned long)1) << 0)
#define XFERAUTH_DIGEST    (((unsigned long)1) << 1)
#define XFERAUTH_NEGOTIATE (((unsigned long)1) << 2)
#define XFERAUTH_GSSNEGOTIATE XFERAUTH_NEGOTIATE
#define XFERAUTH_GSSAPI    XFERAUTH_NEGOTIATE
#define XFERAUTH_NTLM      (((unsigned long)1) << 3)
#define XFERAUTH_DIGEST_IE (((unsigned long)1) << 4)
#define XFERAUTH_NTLM_WB   (((unsigned long)1) << 5)
#define XFERAUTH_BEARER    (((unsigned long)1) << 6)
#define XFERAUTH_AWS_SIGV4 (((unsigned long)1) << 7)
#define XFERAUTH_ONLY      (((unsigned long)1) << 31)
#define XFERAUTH_ANY       (~XFERAUTH_DIGEST_IE)
#define XFERAUTH_ANYSAFE   (~(XFERAUTH_BASIC | XFERAUTH_DIGEST_IE))

/* IPRESOLVE values */
#define XFER_IPRESOLVE_WHATEVER 0
#define XFER_IPRESOLVE_V4       1
#define XFER_IPRESOLVE_V6       2

/* HTTP_VERSION values (libcurl's).  NONE is the default: h2 offered
 * through ALPN over https, HTTP/1.1 over http.  2_0 is the same (xfer
 * does no Upgrade: dance over http); 2_PRIOR_KNOWLEDGE speaks h2 at
 * once, also over http (h2c).  The getinfo HTTP_VERSION reports what
 * the server answered with: 1_0, 1_1 or 2_0. */
#define XFER_HTTP_VERSION_NONE              0
#define XFER_HTTP_VERSION_1_0               1
#define XFER_HTTP_VERSION_1_1               2
#define XFER_HTTP_VERSION_2_0               3
#define XFER_HTTP_VERSION_2TLS              4
#define XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE 5

/* PROXYTYPE values (libcurl's CURLPROXY_*), also what a proxy URL's
 * scheme picks: http://, https://, socks4://, socks4a://, socks5://,
 * socks5h://.  HTTP_1_0 is taken as HTTP (xfer speaks HTTP/1.1 to
 * proxies). */
#define XFERPROXY_HTTP            0
#define XFERPROXY_HTTP_1_0        1
#define XFERPROXY_HTTPS           2
#define XFERPROXY_SOCKS4          4
#define XFERPROXY_SOCKS5          5
#define XFERPROXY_SOCKS4A         6
#define XFERPROXY_SOCKS5_HOSTNAME 7

/* PROXYAUTH takes the XFERAUTH_* bits above, as HTTPAUTH does: Basic and
 * Digest (DIGEST_IE too) are built in; Bearer never goes to a proxy (as
 * in libcurl), so it is dropped with the schemes not built in, and a
 * value with nothing left is XFERE_NOT_BUILT_IN. */

/* HEADEROPT values: SEPARATE (the default) sends HTTPHEADER to the
 * server and PROXYHEADER to the proxy; UNIFIED sends HTTPHEADER to both. */
#define XFERHEADER_UNIFIED  0
#define XFERHEADER_SEPARATE (1 << 0)

/* What XFERINFO_PROXY_ERROR says after XFERE_PROXY (libcurl's CURLPX_*
 * numbering; the ones xfer can give are documented in docs/errors.md). */
typedef enum {
  XFERPX_OK = 0,
  XFERPX_BAD_ADDRESS_TYPE,
  XFERPX_BAD_VERSION,
  XFERPX_CLOSED,
  XFERPX_GSSAPI,
  XFERPX_GSSAPI_PERMSG,
  XFERPX_GSSAPI_PROTECTION,
  XFERPX_IDENTD,
  XFERPX_IDENTD_DIFFER,
  XFERPX_LONG_HOSTNAME,
  XFERPX_LONG_PASSWD,
  XFERPX_LONG_USER,
  XFERPX_NO_AUTH,
  XFERPX_RECV_ADDRESS,
  XFERPX_RECV_AUTH,
  XFERPX_RECV_CONNECT,
  XFERPX_RECV_REQACK,
  XFERPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED,
  XFERPX_REPLY_COMMAND_NOT_SUPPORTED,
  XFERPX_REPLY_CONNECTION_REFUSED,
  XFERPX_REPLY_GENERAL_SERVER_FAILURE,
  XFERPX_REPLY_HOST_UNREACHABLE,
  XFERPX_REPLY_NETWORK_UNREACHABLE,
  XFERPX_REPLY_NOT_ALLOWED,
  XFERPX_REPLY_TTL_EXPIRED,
  XFERPX_REPLY_UNASSIGNED,
  XFERPX_REQUEST_FAILED,
  XFERPX_RESOLVE_HOST,
  XFERPX_SEND_AUTH,
  XFERPX_SEND_CONNECT,
  XFERPX_SEND_REQUEST,
  XFERPX_UNKNOWN_FAIL,
  XFERPX_UNKNOWN_MODE,
  XFERPX_USER_REJECTED,
  XFERPX_LAST
} XFERproxycode;

/* XFERMOPT_PIPELINING bits (libcurl's): MULTIPLEX (the default) lets
 * transfers share an HTTP/2 connection; NOTHING gives each its own. */
#define XFERPIPE_NOTHING   0
#define XFERPIPE_HTTP1     1   /* accepted and ignored, as libcurl 7.62+ */
#define XFERPIPE_MULTIPLEX 2

typedef enum {
  XFERMOPT_SOCKETFUNCTION = 20001,
  XFERMOPT_SOCKETDATA = 10002,
  XFERMOPT_TIMERFUNCTION = 20004,
  XFERMOPT_TIMERDATA = 10005,
  XFERMOPT_MAXCONNECTS = 6,
  XFERMOPT_MAX_HOST_CONNECTIONS = 7,
  XFERMOPT_MAX_TOTAL_CONNECTIONS = 13,
  XFERMOPT_PIPELINING = 3,
  XFERMOPT_MAX_CONCURRENT_STREAMS = 16,
  XFERMOPT_LASTENTRY
} XFERMoption;

#define XFERINFO_STRING 0x100000
#define XFERINFO_LONG   0x200000
#define XFERINFO_DOUBLE 0x300000
#define XFERINFO_PTR    0x400000
#define XFERINFO_SOCKET 0x500000
#define XFERINFO_OFF_T  0x600000
#define XFERINFO_TYPEMASK 0xf00000

typedef enum {
  XFERINFO_NONE = 0,
  XFERINFO_EFFECTIVE_URL = XFERINFO_STRING + 1,
  XFERINFO_RESPONSE_CODE = XFERINFO_LONG + 2,
  XFERINFO_SIZE_UPLOAD_T = XFERINFO_OFF_T + 7,
  XFERINFO_SSL_VERIFYRESULT = XFERINFO_LONG + 13,
  XFERINFO_SIZE_DOWNLOAD_T = XFERINFO_OFF_T + 8,
  XFERINFO_CONTENT_LENGTH_DOWNLOAD_T = XFERINFO_OFF_T + 15,
  XFERINFO_REDIRECT_COUNT = XFERINFO_LONG + 20,
  XFERINFO_HTTPAUTH_AVAIL = XFERINFO_LONG + 23,
  XFERINFO_HTTP_CONNECTCODE = XFERINFO_LONG + 22,
  XFERINFO_PRIVATE = XFERINFO_STRING + 21,
  XFERINFO_NUM_CONNECTS = XFERINFO_LONG + 26,
  XFERINFO_PRIMARY_IP = XFERINFO_STRING + 32,
  XFERINFO_PRIMARY_PORT = XFERINFO_LONG + 40,
  XFERINFO_LOCAL_PORT = XFERINFO_LONG + 42,
  XFERINFO_HTTP_VERSION = XFERINFO_LONG + 46,
  XFERINFO_TOTAL_TIME_T = XFERINFO_OFF_T + 50,
  XFERINFO_NAMELOOKUP_TIME_T = XFERINFO_OFF_T + 51,
  XFERINFO_CONNECT_TIME_T = XFERINFO_OFF_T + 52,
  XFERINFO_APPCONNECT_TIME_T = XFERINFO_OFF_T + 56,
  XFERINFO_PRETRANSFER_TIME_T = XFERINFO_OFF_T + 53,
  XFERINFO_STARTTRANSFER_TIME_T = XFERINFO_OFF_T + 54,
  XFERINFO_QUEUE_TIME_T = XFERINFO_OFF_T + 65,
  XFERINFO_HTTPAUTH_USED = XFERINFO_LONG + 69,
  XFERINFO_PROXYAUTH_AVAIL = XFERINFO_LONG + 24,
  XFERINFO_PROXYAUTH_USED = XFERINFO_LONG + 70,
  XFERINFO_PROXY_SSL_VERIFYRESULT = XFERINFO_LONG + 47,
  XFERINFO_PROXY_ERROR = XFERINFO_LONG + 59,
  XFERINFO_SIZE_DELIVERED = XFERINFO_OFF_T + 71,
  XFERINFO_CONTENT_TYPE = XFERINFO_STRING + 18,
  XFERINFO_REDIRECT_URL = XFERINFO_STRING + 31,
  XFERINFO_LOCAL_IP = XFERINFO_STRING + 41,
  XFERINFO_SCHEME = XFERINFO_STRING + 49,
  XFERINFO_EFFECTIVE_METHOD = XFERINFO_STRING + 58,
  XFERINFO_HEADER_SIZE = XFERINFO_LONG + 11,
  XFERINFO_REQUEST_SIZE = XFERINFO_LONG + 12,
  XFERINFO_OS_ERRNO = XFERINFO_LONG + 25,
  XFERINFO_SPEED_DOWNLOAD_T = XFERINFO_OFF_T + 9,
  XFERINFO_SPEED_UPLOAD_T = XFERINFO_OFF_T + 10,
  XFERINFO_CONTENT_LENGTH_UPLOAD_T = XFERINFO_OFF_T + 16,
  XFERINFO_RETRY_AFTER = XFERINFO_OFF_T + 57,
  XFERINFO_XFER_ID = XFERINFO_OFF_T + 63,
  XFERINFO_CONN_ID = XFERINFO_OFF_T + 64,
  /* struct xfer_slist *: every cookie known, a Netscape line each; the
   * caller frees it with xfer_slist_free_all (NULL: none). */
  XFERINFO_COOKIELIST = XFERINFO_PTR + 28,
  XFERINFO_LASTONE = 71
} XFERINFO;

/* Socket callback actions and socket_action event bits. */
#define XFER_POLL_NONE   0
#define XFER_POLL_IN     1
#define XFER_POLL_OUT    2
#define XFER_POLL_INOUT  3
#define XFER_POLL_REMOVE 4

#define XFER_CSELECT_IN  0x01
#define XFER_CSELECT_OUT 0x02
#define XFER_CSELECT_ERR 0x04

/* Special returns of the write and read callbacks (libcurl's values).
 * A write or header callback that returns XFER_WRITEFUNC_PAUSE has taken
 * nothing: the transfer pauses receiving, and the same bytes come again,
 * first, when it is unpaused.  XFER_READFUNC_PAUSE pauses sending. */
#define XFER_WRITEFUNC_ERROR 0xFFFFFFFF
#define XFER_WRITEFUNC_PAUSE 0x10000001
#define XFER_READFUNC_ABORT  0x10000000
#define XFER_READFUNC_PAUSE  0x10000001

/* xfer_easy_pause bits (libcurl's numbering). */
#define XFERPAUSE_RECV      (1 << 0)
#define XFERPAUSE_RECV_CONT 0
#define XFERPAUSE_SEND      (1 << 2)
#define XFERPAUSE_SEND_CONT 0
#define XFERPAUSE_ALL       (XFERPAUSE_RECV | XFERPAUSE_SEND)
#define XFERPAUSE_CONT      (XFERPAUSE_RECV_CONT | XFERPAUSE_SEND_CONT)

#define XFER_ERROR_SIZE 256

/* For xfer_multi_wait / xfer_multi_poll */
#define XFER_WAIT_POLLIN  0x0001
#define XFER_WAIT_POLLPRI 0x0002
#define XFER_WAIT_POLLOUT 0x0004

struct xfer_waitfd {
  xfer_socket_t fd;
  short events;
  short revents;
};

typedef enum { XFERMSG_NONE, XFERMSG_DONE, XFERMSG_LAST } XFERMSG;

typedef struct XFERMsg {
  XFERMSG msg;
  XFER *easy_handle;
  union {
    void *whatever;
    XFERcode result;
  } data;
} XFERMsg;

struct xfer_slist {
  char *data;
  struct xfer_slist *next;
};

/* What a debug callback is given (libcurl's curl_infotype values).  Only
 * with VERBOSE set, as libcurl. */
typedef enum {
  XFERINFO_TEXT = 0,       /* a line of xfer's own commentary */
  XFERINFO_HEADER_IN,      /* a response header line, as received */
  XFERINFO_HEADER_OUT,     /* the request head, as sent */
  XFERINFO_DATA_IN,        /* response body bytes (after the framing) */
  XFERINFO_DATA_OUT,       /* request body bytes */
  XFERINFO_SSL_DATA_IN,    /* a TLS protocol message received */
  XFERINFO_SSL_DATA_OUT,   /* a TLS protocol message sent */
  XFERINFO_END
} xfer_infotype;

/* Callback types (libcurl's shapes). */
typedef int (*xfer_socket_callback)(XFER *easy, xfer_socket_t s, int what,
                                    void *userp, void *socketp);
typedef int (*xfer_multi_timer_callback)(XFERM *multi, long timeout_ms,
                                         void *userp);
typedef size_t (*xfer_write_callback)(char *ptr, size_t size, size_t nmemb,
                                      void *userdata);
typedef size_t (*xfer_read_callback)(char *buffer, size_t size, size_t nitems,
                                     void *userdata);
typedef int (*xfer_debug_callback)(XFER *handle, xfer_infotype type,
                                   char *data, size_t size, void *userptr);
typedef int (*xfer_xferinfo_callback)(void *clientp, xfer_off_t dltotal,
                                      xfer_off_t dlnow, xfer_off_t ultotal,
                                      xfer_off_t ulnow);

/* Multi interface */
XFER_EXTERN XFERM *xfer_multi_init(void);
XFER_EXTERN XFERMcode xfer_multi_cleanup(XFERM *multi);
XFER_EXTERN XFERMcode xfer_multi_add_handle(XFERM *multi, XFER *easy);
XFER_EXTERN XFERMcode xfer_multi_remove_handle(XFERM *multi, XFER *easy);
XFER_EXTERN XFERMcode xfer_multi_setopt(XFERM *multi, XFERMoption opt, ...);
XFER_EXTERN XFERMcode xfer_multi_perform(XFERM *multi, int *running_handles);
XFER_EXTERN XFERMcode xfer_multi_socket_action(XFERM *multi, xfer_socket_t s,
                                               int ev_bitmask,
                                               int *running_handles);
XFER_EXTERN XFERMcode xfer_multi_socket(XFERM *multi, xfer_socket_t s,
                                        int *running_handles);
XFER_EXTERN XFERMcode xfer_multi_socket_all(XFERM *multi,
                                            int *running_handles);
XFER_EXTERN XFERMcode xfer_multi_assign(XFERM *multi, xfer_socket_t s,
                                        void *sockp);
/* xfer's own (not libcurl's): calls the socket callback now for every
 * socket that has interest, for a driver that takes over from another.
 * (Setting XFERMOPT_SOCKETFUNCTION makes the next driving call do it.) */
XFER_EXTERN XFERMcode xfer_multi_reannounce(XFERM *multi);
XFER_EXTERN XFERMsg *xfer_multi_info_read(XFERM *multi, int *msgs_in_queue);
XFER_EXTERN XFERMcode xfer_multi_timeout(XFERM *multi, long *timeout_ms);
XFER_EXTERN XFERMcode xfer_multi_wait(XFERM *multi, struct xfer_waitfd *extra,
                                      unsigned int extra_nfds, int timeout_ms,
                                      int *numfds);
XFER_EXTERN XFERMcode xfer_multi_poll(XFERM *multi, struct xfer_waitfd *extra,
                                      unsigned int extra_nfds, int timeout_ms,
                                      int *numfds);
XFER_EXTERN XFERMcode xfer_multi_wakeup(XFERM *multi);
/* The sockets to wait on before the next xfer_multi_perform, for a
 * program's own select() or poll() (docs/api.md).  fdset leaves out
 * descriptors >= FD_SETSIZE (wait/poll/waitfds have no such limit); max_fd
 * is -1 when there is none.  waitfds fills up to size entries and sets
 * *fd_count to the number there are: more than size (size > 0) is
 * XFERM_OUT_OF_MEMORY, size 0 only counts. */
XFER_EXTERN XFERMcode xfer_multi_fdset(XFERM *multi, fd_set *read_fd_set,
                                       fd_set *write_fd_set,
                                       fd_set *exc_fd_set, int *max_fd);
XFER_EXTERN XFERMcode xfer_multi_waitfds(XFERM *multi,
                                         struct xfer_waitfd *ufds,
                                         unsigned int size,
                                         unsigned int *fd_count);
/* Returns a malloc'd NULL-terminated array; free it with free(). */
XFER_EXTERN XFER **xfer_multi_get_handles(XFERM *multi);
XFER_EXTERN const char *xfer_multi_strerror(XFERMcode code);

/* Easy interface */
XFER_EXTERN XFER *xfer_easy_init(void);
XFER_EXTERN void xfer_easy_cleanup(XFER *easy);
XFER_EXTERN XFERcode xfer_easy_setopt(XFER *easy, XFERoption opt, ...);
/* The options xfer knows (libcurl's curl_easy_option_*): by name (without
 * XFEROPT_, any case), by number, and each in turn (NULL starts; NULL at
 * the end).  NULL for an option xfer does not have. */
XFER_EXTERN const struct xfer_easyoption *xfer_easy_option_by_name(
    const char *name);
XFER_EXTERN const struct xfer_easyoption *xfer_easy_option_by_id(
    XFERoption id);
XFER_EXTERN const struct xfer_easyoption *xfer_easy_option_next(
    const struct xfer_easyoption *prev);
XFER_EXTERN XFERcode xfer_easy_getinfo(XFER *easy, XFERINFO info, ...);
XFER_EXTERN XFERcode xfer_easy_perform(XFER *easy);
XFER_EXTERN XFERcode xfer_easy_pause(XFER *easy, int bitmask);
XFER_EXTERN void xfer_easy_reset(XFER *easy);
XFER_EXTERN XFER *xfer_easy_duphandle(XFER *easy);
XFER_EXTERN const char *xfer_easy_strerror(XFERcode code);
/* xfer's own (not libcurl's), for bindings that keep many transfers
 * queued: with on, the handle keeps the text of a failure itself (what
 * ERRORBUFFER would get), in XFER_ERROR_SIZE bytes it allocates only when
 * a transfer fails, instead of a caller's buffer per handle from the
 * start.  xfer_easy_errortext gives that text ("" when none; the
 * caller's ERRORBUFFER when one is set, which takes over).  Cleared as
 * ERRORBUFFER is (each run starts with ""); xfer_easy_reset turns it
 * off. */
XFER_EXTERN void xfer_easy_keep_errortext(XFER *easy, int on);
XFER_EXTERN const char *xfer_easy_errortext(XFER *easy);

/* Name of a code ("COULDNT_CONNECT"), for bindings; NULL when unknown. */
XFER_EXTERN const char *xfer_easy_codename(XFERcode code);
XFER_EXTERN const char *xfer_multi_codename(XFERMcode code);

/* String lists */
XFER_EXTERN struct xfer_slist *xfer_slist_append(struct xfer_slist *list,
                                                 const char *string);
XFER_EXTERN void xfer_slist_free_all(struct xfer_slist *list);

/* URL encoding, as libcurl's curl_easy_escape/unescape: every byte but
 * the unreserved ones (A-Z a-z 0-9 - . _ ~) becomes %XX; decoding turns
 * every valid %XX back (an invalid one is kept as it is).  length 0
 * means strlen.  The result is malloc'd (NULL when out of memory or the
 * length overflows): release it with xfer_free.  easy may be NULL. */
XFER_EXTERN char *xfer_easy_escape(XFER *easy, const char *string,
                                   int length);
XFER_EXTERN char *xfer_easy_unescape(XFER *easy, const char *string,
                                     int length, int *outlength);
XFER_EXTERN void xfer_free(void *p);

XFER_EXTERN const char *xfer_version(void);

#ifdef __cplusplus
}
#endif
#endif /* XFER_H */
