/*
 * curl/curl.h -- libcurl source compatibility for xfer.
 *
 * A libcurl multi-interface program compiles unchanged against xfer with
 *
 *     cc -Ipath/to/csrc/compat prog.c -lxfer
 *
 * Every libcurl name below is a macro (or a typedef) for the xfer name with
 * the same meaning and the same numeric value; nothing here adds behaviour.
 * Only what xfer.h provides is mapped: a program that uses an option, info
 * or function xfer lacks fails to compile, rather than building and then
 * failing at run time with CURLE_UNKNOWN_OPTION.  Because the names are
 * macros, `#ifdef CURLOPT_FOO` is a reliable feature test here.
 *
 * xfer.h is included by a path relative to this file, so the one
 * -Icsrc/compat is enough in the source tree.  An installation keeps the
 * same shape: DIR/xfer.h and DIR/compat/curl/curl.h, used with
 * -IDIR/compat.
 */
#ifndef XFER_COMPAT_CURL_H
#define XFER_COMPAT_CURL_H

#include "../../xfer.h"

/* libcurl's curl.h pulls these in; programs written against it often rely
 * on that (printf without <stdio.h>, struct timeval, fd_set, ...). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

/* The libcurl API level this header imitates (Debian 12's libcurl), for
 * programs that test LIBCURL_VERSION_NUM or CURL_AT_LEAST_VERSION. */
#define LIBCURL_VERSION "7.88.0"
#define LIBCURL_VERSION_MAJOR 7
#define LIBCURL_VERSION_MINOR 88
#define LIBCURL_VERSION_PATCH 0
#define LIBCURL_VERSION_NUM 0x075800
#define CURL_VERSION_BITS(x, y, z) ((x) << 16 | (y) << 8 | (z))
#define CURL_AT_LEAST_VERSION(x, y, z) \
  (LIBCURL_VERSION_NUM >= CURL_VERSION_BITS(x, y, z))

/* Types.  CURLMsg is a macro, not a typedef, so that both `CURLMsg` and
 * `struct CURLMsg` name the same complete type, as they do in libcurl.
 * The struct tags are macros for the same reason. */
typedef XFER CURL;
typedef XFERM CURLM;
typedef XFERcode CURLcode;
typedef XFERMcode CURLMcode;
typedef XFERMSG CURLMSG;
typedef XFERoption CURLoption;
typedef XFERMoption CURLMoption;
typedef XFERINFO CURLINFO;
typedef xfer_socket_t curl_socket_t;
typedef xfer_off_t curl_off_t;
#define CURLMsg XFERMsg
#define curl_slist xfer_slist
#define curl_waitfd xfer_waitfd

/* curl_off_t is 64 bits everywhere; these are libcurl's printf helpers. */
#define CURL_FORMAT_CURL_OFF_T PRId64
#define CURL_FORMAT_CURL_OFF_TU PRIu64
#define CURL_OFF_T_C(v) INT64_C(v)
#define CURL_OFF_TU_C(v) UINT64_C(v)

typedef xfer_socket_callback curl_socket_callback;
typedef xfer_multi_timer_callback curl_multi_timer_callback;
typedef xfer_write_callback curl_write_callback;
typedef xfer_read_callback curl_read_callback;
typedef xfer_xferinfo_callback curl_xferinfo_callback;
typedef xfer_infotype curl_infotype;
typedef xfer_debug_callback curl_debug_callback;

/* Constants. */
#define CURL_SOCKET_BAD XFER_SOCKET_BAD
#define CURL_SOCKET_TIMEOUT XFER_SOCKET_TIMEOUT

#define CURLMSG_NONE XFERMSG_NONE
#define CURLMSG_DONE XFERMSG_DONE
#define CURLMSG_LAST XFERMSG_LAST

#define CURL_POLL_NONE XFER_POLL_NONE
#define CURL_POLL_IN XFER_POLL_IN
#define CURL_POLL_OUT XFER_POLL_OUT
#define CURL_POLL_INOUT XFER_POLL_INOUT
#define CURL_POLL_REMOVE XFER_POLL_REMOVE

#define CURL_CSELECT_IN XFER_CSELECT_IN
#define CURL_CSELECT_OUT XFER_CSELECT_OUT
#define CURL_CSELECT_ERR XFER_CSELECT_ERR

#define CURL_WAIT_POLLIN XFER_WAIT_POLLIN
#define CURL_WAIT_POLLPRI XFER_WAIT_POLLPRI
#define CURL_WAIT_POLLOUT XFER_WAIT_POLLOUT

#define CURL_WRITEFUNC_ERROR XFER_WRITEFUNC_ERROR
#define CURL_READFUNC_ABORT XFER_READFUNC_ABORT
#define CURL_WRITEFUNC_PAUSE XFER_WRITEFUNC_PAUSE
#define CURL_READFUNC_PAUSE XFER_READFUNC_PAUSE
#define CURLPAUSE_RECV XFERPAUSE_RECV
#define CURLPAUSE_RECV_CONT XFERPAUSE_RECV_CONT
#define CURLPAUSE_SEND XFERPAUSE_SEND
#define CURLPAUSE_SEND_CONT XFERPAUSE_SEND_CONT
#define CURLPAUSE_ALL XFERPAUSE_ALL
#define CURLPAUSE_CONT XFERPAUSE_CONT

#define CURL_ERROR_SIZE XFER_ERROR_SIZE

#define CURL_IPRESOLVE_WHATEVER XFER_IPRESOLVE_WHATEVER
#define CURL_IPRESOLVE_V4 XFER_IPRESOLVE_V4
#define CURL_IPRESOLVE_V6 XFER_IPRESOLVE_V6

#define CURLOPTTYPE_LONG XFEROPTTYPE_LONG
#define CURLOPTTYPE_OBJECTPOINT XFEROPTTYPE_OBJECTPOINT
#define CURLOPTTYPE_FUNCTIONPOINT XFEROPTTYPE_FUNCTIONPOINT
#define CURLOPTTYPE_OFF_T XFEROPTTYPE_OFF_T
#define CURLOPTTYPE_STRINGPOINT XFEROPTTYPE_STRINGPOINT
#define CURLOPTTYPE_SLISTPOINT XFEROPTTYPE_SLISTPOINT
#define CURLOPTTYPE_CBPOINT XFEROPTTYPE_CBPOINT
#define CURLOPTTYPE_VALUES XFEROPTTYPE_LONG

/* Multi error codes (CURLMcode). */
#define CURLM_CALL_MULTI_PERFORM XFERM_CALL_MULTI_PERFORM
#define CURLM_OK XFERM_OK
#define CURLM_BAD_HANDLE XFERM_BAD_HANDLE
#define CURLM_BAD_EASY_HANDLE XFERM_BAD_EASY_HANDLE
#define CURLM_OUT_OF_MEMORY XFERM_OUT_OF_MEMORY
#define CURLM_INTERNAL_ERROR XFERM_INTERNAL_ERROR
#define CURLM_BAD_SOCKET XFERM_BAD_SOCKET
#define CURLM_UNKNOWN_OPTION XFERM_UNKNOWN_OPTION
#define CURLM_ADDED_ALREADY XFERM_ADDED_ALREADY
#define CURLM_RECURSIVE_API_CALL XFERM_RECURSIVE_API_CALL
#define CURLM_WAKEUP_FAILURE XFERM_WAKEUP_FAILURE
#define CURLM_BAD_FUNCTION_ARGUMENT XFERM_BAD_FUNCTION_ARGUMENT
#define CURLM_ABORTED_BY_CALLBACK XFERM_ABORTED_BY_CALLBACK
#define CURLM_UNRECOVERABLE_POLL XFERM_UNRECOVERABLE_POLL
#define CURLM_LAST XFERM_LAST

/* Transfer error codes (CURLcode). */
#define CURLE_OK XFERE_OK
#define CURLE_UNSUPPORTED_PROTOCOL XFERE_UNSUPPORTED_PROTOCOL
#define CURLE_FAILED_INIT XFERE_FAILED_INIT
#define CURLE_URL_MALFORMAT XFERE_URL_MALFORMAT
#define CURLE_NOT_BUILT_IN XFERE_NOT_BUILT_IN
#define CURLE_COULDNT_RESOLVE_PROXY XFERE_COULDNT_RESOLVE_PROXY
#define CURLE_COULDNT_RESOLVE_HOST XFERE_COULDNT_RESOLVE_HOST
#define CURLE_COULDNT_CONNECT XFERE_COULDNT_CONNECT
#define CURLE_WEIRD_SERVER_REPLY XFERE_WEIRD_SERVER_REPLY
#define CURLE_REMOTE_ACCESS_DENIED XFERE_REMOTE_ACCESS_DENIED
#define CURLE_HTTP2 XFERE_HTTP2
#define CURLE_PARTIAL_FILE XFERE_PARTIAL_FILE
#define CURLE_HTTP_RETURNED_ERROR XFERE_HTTP_RETURNED_ERROR
#define CURLE_WRITE_ERROR XFERE_WRITE_ERROR
#define CURLE_UPLOAD_FAILED XFERE_UPLOAD_FAILED
#define CURLE_READ_ERROR XFERE_READ_ERROR
#define CURLE_OUT_OF_MEMORY XFERE_OUT_OF_MEMORY
#define CURLE_OPERATION_TIMEDOUT XFERE_OPERATION_TIMEDOUT
#define CURLE_RANGE_ERROR XFERE_RANGE_ERROR
#define CURLE_SSL_CONNECT_ERROR XFERE_SSL_CONNECT_ERROR
#define CURLE_ABORTED_BY_CALLBACK XFERE_ABORTED_BY_CALLBACK
#define CURLE_BAD_FUNCTION_ARGUMENT XFERE_BAD_FUNCTION_ARGUMENT
#define CURLE_INTERFACE_FAILED XFERE_INTERFACE_FAILED
#define CURLE_TOO_MANY_REDIRECTS XFERE_TOO_MANY_REDIRECTS
#define CURLE_UNKNOWN_OPTION XFERE_UNKNOWN_OPTION
#define CURLE_SETOPT_OPTION_SYNTAX XFERE_SETOPT_OPTION_SYNTAX
#define CURLE_GOT_NOTHING XFERE_GOT_NOTHING
#define CURLE_SEND_ERROR XFERE_SEND_ERROR
#define CURLE_RECV_ERROR XFERE_RECV_ERROR
#define CURLE_SSL_CERTPROBLEM XFERE_SSL_CERTPROBLEM
#define CURLE_SSL_CIPHER XFERE_SSL_CIPHER
#define CURLE_PEER_FAILED_VERIFICATION XFERE_PEER_FAILED_VERIFICATION
#define CURLE_BAD_CONTENT_ENCODING XFERE_BAD_CONTENT_ENCODING
#define CURLE_FILESIZE_EXCEEDED XFERE_FILESIZE_EXCEEDED
#define CURLE_SEND_FAIL_REWIND XFERE_SEND_FAIL_REWIND
#define CURLE_SSL_CACERT_BADFILE XFERE_SSL_CACERT_BADFILE
#define CURLE_SSL_SHUTDOWN_FAILED XFERE_SSL_SHUTDOWN_FAILED
#define CURLE_AGAIN XFERE_AGAIN
#define CURLE_SSL_CRL_BADFILE XFERE_SSL_CRL_BADFILE
#define CURLE_SSL_ISSUER_ERROR XFERE_SSL_ISSUER_ERROR
#define CURLE_NO_CONNECTION_AVAILABLE XFERE_NO_CONNECTION_AVAILABLE
#define CURLE_SSL_PINNEDPUBKEYNOTMATCH XFERE_SSL_PINNEDPUBKEYNOTMATCH
#define CURLE_HTTP2_STREAM XFERE_HTTP2_STREAM
#define CURLE_RECURSIVE_API_CALL XFERE_RECURSIVE_API_CALL
#define CURLE_UNRECOVERABLE_POLL XFERE_UNRECOVERABLE_POLL
#define CURLE_TOO_LARGE XFERE_TOO_LARGE
#define CURLE_LAST XFERE_LAST

/* Easy options (CURLoption). */
#define CURLOPT_WRITEDATA XFEROPT_WRITEDATA
#define CURLOPT_URL XFEROPT_URL
#define CURLOPT_READDATA XFEROPT_READDATA
#define CURLOPT_ERRORBUFFER XFEROPT_ERRORBUFFER
#define CURLOPT_WRITEFUNCTION XFEROPT_WRITEFUNCTION
#define CURLOPT_READFUNCTION XFEROPT_READFUNCTION
#define CURLOPT_TIMEOUT XFEROPT_TIMEOUT
#define CURLOPT_INFILESIZE XFEROPT_INFILESIZE
#define CURLOPT_POSTFIELDS XFEROPT_POSTFIELDS
#define CURLOPT_USERAGENT XFEROPT_USERAGENT
#define CURLOPT_LOW_SPEED_LIMIT XFEROPT_LOW_SPEED_LIMIT
#define CURLOPT_LOW_SPEED_TIME XFEROPT_LOW_SPEED_TIME
#define CURLOPT_HTTPHEADER XFEROPT_HTTPHEADER
#define CURLOPT_HEADERDATA XFEROPT_HEADERDATA
#define CURLOPT_CUSTOMREQUEST XFEROPT_CUSTOMREQUEST
#define CURLOPT_VERBOSE XFEROPT_VERBOSE
#define CURLOPT_NOPROGRESS XFEROPT_NOPROGRESS
#define CURLOPT_NOBODY XFEROPT_NOBODY
#define CURLOPT_FAILONERROR XFEROPT_FAILONERROR
#define CURLOPT_UPLOAD XFEROPT_UPLOAD
#define CURLOPT_POST XFEROPT_POST
#define CURLOPT_FOLLOWLOCATION XFEROPT_FOLLOWLOCATION
#define CURLOPT_XFERINFODATA XFEROPT_XFERINFODATA
#define CURLOPT_POSTFIELDSIZE XFEROPT_POSTFIELDSIZE
#define CURLOPT_MAXREDIRS XFEROPT_MAXREDIRS
#define CURLOPT_FRESH_CONNECT XFEROPT_FRESH_CONNECT
#define CURLOPT_FORBID_REUSE XFEROPT_FORBID_REUSE
#define CURLOPT_CONNECTTIMEOUT XFEROPT_CONNECTTIMEOUT
#define CURLOPT_HEADERFUNCTION XFEROPT_HEADERFUNCTION
#define CURLOPT_DEBUGFUNCTION XFEROPT_DEBUGFUNCTION
#define CURLOPT_DEBUGDATA XFEROPT_DEBUGDATA
#define CURLOPT_HTTPGET XFEROPT_HTTPGET
#define CURLOPT_DNS_CACHE_TIMEOUT XFEROPT_DNS_CACHE_TIMEOUT
#define CURLOPT_NOSIGNAL XFEROPT_NOSIGNAL
#define CURLOPT_PRIVATE XFEROPT_PRIVATE
#define CURLOPT_IPRESOLVE XFEROPT_IPRESOLVE
#define CURLOPT_INFILESIZE_LARGE XFEROPT_INFILESIZE_LARGE
#define CURLOPT_MAX_SEND_SPEED_LARGE XFEROPT_MAX_SEND_SPEED_LARGE
#define CURLOPT_MAX_RECV_SPEED_LARGE XFEROPT_MAX_RECV_SPEED_LARGE
#define CURLOPT_POSTFIELDSIZE_LARGE XFEROPT_POSTFIELDSIZE_LARGE
#define CURLOPT_TCP_NODELAY XFEROPT_TCP_NODELAY
#define CURLOPT_TIMEOUT_MS XFEROPT_TIMEOUT_MS
#define CURLOPT_CONNECTTIMEOUT_MS XFEROPT_CONNECTTIMEOUT_MS
#define CURLOPT_COPYPOSTFIELDS XFEROPT_COPYPOSTFIELDS
#define CURLOPT_RESOLVE XFEROPT_RESOLVE
#define CURLOPT_TCP_KEEPALIVE XFEROPT_TCP_KEEPALIVE
#define CURLOPT_XFERINFOFUNCTION XFEROPT_XFERINFOFUNCTION
#define CURLOPT_UNRESTRICTED_AUTH XFEROPT_UNRESTRICTED_AUTH
#define CURLOPT_REDIR_PROTOCOLS_STR XFEROPT_REDIR_PROTOCOLS_STR
/* TLS */
#define CURLOPT_SSLCERT XFEROPT_SSLCERT
#define CURLOPT_KEYPASSWD XFEROPT_KEYPASSWD
#define CURLOPT_SSLVERSION XFEROPT_SSLVERSION
#define CURLOPT_SSL_VERIFYPEER XFEROPT_SSL_VERIFYPEER
#define CURLOPT_CAINFO XFEROPT_CAINFO
#define CURLOPT_SSL_VERIFYHOST XFEROPT_SSL_VERIFYHOST
#define CURLOPT_SSL_CIPHER_LIST XFEROPT_SSL_CIPHER_LIST
#define CURLOPT_SSLKEY XFEROPT_SSLKEY
#define CURLOPT_CAPATH XFEROPT_CAPATH
#define CURLOPT_SSL_SESSIONID_CACHE XFEROPT_SSL_SESSIONID_CACHE
#define CURLOPT_PINNEDPUBLICKEY XFEROPT_PINNEDPUBLICKEY
#define CURL_SSLVERSION_DEFAULT XFER_SSLVERSION_DEFAULT
#define CURL_SSLVERSION_TLSv1 XFER_SSLVERSION_TLSv1
#define CURL_SSLVERSION_TLSv1_0 XFER_SSLVERSION_TLSv1_0
#define CURL_SSLVERSION_TLSv1_1 XFER_SSLVERSION_TLSv1_1
#define CURL_SSLVERSION_TLSv1_2 XFER_SSLVERSION_TLSv1_2
#define CURL_SSLVERSION_TLSv1_3 XFER_SSLVERSION_TLSv1_3
#define CURL_SSLVERSION_MAX_NONE XFER_SSLVERSION_MAX_NONE
#define CURL_SSLVERSION_MAX_DEFAULT XFER_SSLVERSION_MAX_DEFAULT
#define CURL_SSLVERSION_MAX_TLSv1_0 XFER_SSLVERSION_MAX_TLSv1_0
#define CURL_SSLVERSION_MAX_TLSv1_1 XFER_SSLVERSION_MAX_TLSv1_1
#define CURL_SSLVERSION_MAX_TLSv1_2 XFER_SSLVERSION_MAX_TLSv1_2
#define CURL_SSLVERSION_MAX_TLSv1_3 XFER_SSLVERSION_MAX_TLSv1_3
#define CURLOPT_LASTENTRY XFEROPT_LASTENTRY

/* Old libcurl spellings of options above: same numbers, so honest. */
#define CURLOPT_FILE CURLOPT_WRITEDATA
#define CURLOPT_INFILE CURLOPT_READDATA
#define CURLOPT_WRITEHEADER CURLOPT_HEADERDATA
#define CURLOPT_PROGRESSDATA CURLOPT_XFERINFODATA

/* Multi options (CURLMoption). */
#define CURLMOPT_SOCKETFUNCTION XFERMOPT_SOCKETFUNCTION
#define CURLMOPT_SOCKETDATA XFERMOPT_SOCKETDATA
#define CURLMOPT_TIMERFUNCTION XFERMOPT_TIMERFUNCTION
#define CURLMOPT_TIMERDATA XFERMOPT_TIMERDATA
#define CURLMOPT_MAXCONNECTS XFERMOPT_MAXCONNECTS
#define CURLMOPT_MAX_HOST_CONNECTIONS XFERMOPT_MAX_HOST_CONNECTIONS
#define CURLMOPT_MAX_TOTAL_CONNECTIONS XFERMOPT_MAX_TOTAL_CONNECTIONS
#define CURLMOPT_LASTENTRY XFERMOPT_LASTENTRY

/* getinfo items (CURLINFO) and their type bases. */
#define CURLINFO_STRING XFERINFO_STRING
#define CURLINFO_LONG XFERINFO_LONG
#define CURLINFO_DOUBLE XFERINFO_DOUBLE
#define CURLINFO_PTR XFERINFO_PTR
#define CURLINFO_SOCKET XFERINFO_SOCKET
#define CURLINFO_OFF_T XFERINFO_OFF_T
#define CURLINFO_TYPEMASK XFERINFO_TYPEMASK
#define CURLINFO_NONE XFERINFO_NONE
#define CURLINFO_EFFECTIVE_URL XFERINFO_EFFECTIVE_URL
#define CURLINFO_RESPONSE_CODE XFERINFO_RESPONSE_CODE
#define CURLINFO_SIZE_UPLOAD_T XFERINFO_SIZE_UPLOAD_T
#define CURLINFO_SIZE_DOWNLOAD_T XFERINFO_SIZE_DOWNLOAD_T
#define CURLINFO_CONTENT_LENGTH_DOWNLOAD_T XFERINFO_CONTENT_LENGTH_DOWNLOAD_T
#define CURLINFO_REDIRECT_COUNT XFERINFO_REDIRECT_COUNT
#define CURLINFO_PRIVATE XFERINFO_PRIVATE
/* curl_infotype, for the debug callback */
#define CURLINFO_TEXT XFERINFO_TEXT
#define CURLINFO_HEADER_IN XFERINFO_HEADER_IN
#define CURLINFO_HEADER_OUT XFERINFO_HEADER_OUT
#define CURLINFO_DATA_IN XFERINFO_DATA_IN
#define CURLINFO_DATA_OUT XFERINFO_DATA_OUT
#define CURLINFO_SSL_DATA_IN XFERINFO_SSL_DATA_IN
#define CURLINFO_SSL_DATA_OUT XFERINFO_SSL_DATA_OUT
#define CURLINFO_END XFERINFO_END
#define CURLINFO_NUM_CONNECTS XFERINFO_NUM_CONNECTS
#define CURLINFO_PRIMARY_IP XFERINFO_PRIMARY_IP
#define CURLINFO_PRIMARY_PORT XFERINFO_PRIMARY_PORT
#define CURLINFO_LOCAL_PORT XFERINFO_LOCAL_PORT
#define CURLINFO_TOTAL_TIME_T XFERINFO_TOTAL_TIME_T
#define CURLINFO_SSL_VERIFYRESULT XFERINFO_SSL_VERIFYRESULT
#define CURLINFO_APPCONNECT_TIME_T XFERINFO_APPCONNECT_TIME_T
#define CURLINFO_NAMELOOKUP_TIME_T XFERINFO_NAMELOOKUP_TIME_T
#define CURLINFO_CONNECT_TIME_T XFERINFO_CONNECT_TIME_T
#define CURLINFO_PRETRANSFER_TIME_T XFERINFO_PRETRANSFER_TIME_T
#define CURLINFO_STARTTRANSFER_TIME_T XFERINFO_STARTTRANSFER_TIME_T
#define CURLINFO_QUEUE_TIME_T XFERINFO_QUEUE_TIME_T
#define CURLINFO_LASTONE XFERINFO_LASTONE
#define CURLINFO_SLIST CURLINFO_PTR
#define CURLINFO_HTTP_CODE CURLINFO_RESPONSE_CODE

/* Global init.  libcurl needs curl_global_init() to set up process-wide
 * state (TLS library, Winsock, the resolver) before any handle exists.
 * xfer keeps no process-wide state: everything lives in the multi and easy
 * handles, and the TLS library it builds on initialises itself on first use
 * (OpenSSL does so since 1.1.0).  So init only evaluates its argument and
 * succeeds, and cleanup does nothing; both keep libcurl's types (CURLcode
 * and void). */
#define CURL_GLOBAL_SSL (1 << 0)
#define CURL_GLOBAL_WIN32 (1 << 1)
#define CURL_GLOBAL_ALL (CURL_GLOBAL_SSL | CURL_GLOBAL_WIN32)
#define CURL_GLOBAL_NOTHING 0
#define CURL_GLOBAL_DEFAULT CURL_GLOBAL_ALL
#define CURL_GLOBAL_ACK_EINTR (1 << 2)
/* Functions, not macros: a macro's value, called as a statement, warns
 * "statement with no effect" under -Wall. */
static inline CURLcode curl_global_init(long flags) {
  (void)flags;
  return CURLE_OK;
}
static inline void curl_global_cleanup(void) {}

/* libcurl's curl_version() returns char *, not const char *; the cast keeps
 * `char *v = curl_version();` free of qualifier warnings.  The string is
 * xfer's and must not be modified, as with libcurl. */
#define curl_version() ((char *)xfer_version())

/* Multi interface. */
#define curl_multi_init xfer_multi_init
#define curl_multi_cleanup xfer_multi_cleanup
#define curl_multi_add_handle xfer_multi_add_handle
#define curl_multi_remove_handle xfer_multi_remove_handle
#define curl_multi_setopt xfer_multi_setopt
#define curl_multi_perform xfer_multi_perform
#define curl_multi_socket_action xfer_multi_socket_action
#define curl_multi_socket xfer_multi_socket
#define curl_multi_socket_all xfer_multi_socket_all
#define curl_multi_assign xfer_multi_assign
#define curl_multi_info_read xfer_multi_info_read
#define curl_multi_timeout xfer_multi_timeout
#define curl_multi_wait xfer_multi_wait
#define curl_multi_poll xfer_multi_poll
#define curl_multi_wakeup xfer_multi_wakeup
#define curl_multi_fdset xfer_multi_fdset
#define curl_multi_waitfds xfer_multi_waitfds
#define curl_multi_get_handles xfer_multi_get_handles
#define curl_multi_strerror xfer_multi_strerror

/* Easy interface. */
#define curl_easy_init xfer_easy_init
#define curl_easy_cleanup xfer_easy_cleanup
#define curl_easy_setopt xfer_easy_setopt
#define curl_easyoption xfer_easyoption
#define curl_easytype xfer_easytype
#define CURLOT_LONG XFEROT_LONG
#define CURLOT_VALUES XFEROT_VALUES
#define CURLOT_OFF_T XFEROT_OFF_T
#define CURLOT_OBJECT XFEROT_OBJECT
#define CURLOT_STRING XFEROT_STRING
#define CURLOT_SLIST XFEROT_SLIST
#define CURLOT_CBPTR XFEROT_CBPTR
#define CURLOT_BLOB XFEROT_BLOB
#define CURLOT_FUNCTION XFEROT_FUNCTION
#define CURLOT_FLAG_ALIAS XFEROT_FLAG_ALIAS
#define curl_easy_option_by_name xfer_easy_option_by_name
#define curl_easy_option_by_id xfer_easy_option_by_id
#define curl_easy_option_next xfer_easy_option_next
#define curl_easy_getinfo xfer_easy_getinfo
#define curl_easy_perform xfer_easy_perform
#define curl_easy_pause xfer_easy_pause
#define curl_easy_reset xfer_easy_reset
#define curl_easy_duphandle xfer_easy_duphandle
#define curl_easy_strerror xfer_easy_strerror

/* String lists. */
#define curl_slist_append xfer_slist_append
#define curl_slist_free_all xfer_slist_free_all

/* The memory libcurl asks callers to release with curl_free() is, in xfer,
 * plain malloc'd memory (the curl_multi_get_handles array). */
#define curl_free free

#endif /* XFER_COMPAT_CURL_H */
