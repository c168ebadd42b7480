/*
 * test_decode.c -- content decoding: ACCEPT_ENCODING, HTTP_CONTENT_
 * DECODING, HTTP_TRANSFER_DECODING, MAXFILESIZE(_LARGE) and the getinfo
 * sizes, as libcurl has them.  gzip, deflate (zlib and raw), br, zstd,
 * stacked codings and gzip members decode over HTTP/1.1 (the fault
 * server's /enc/, chunked or not) and HTTP/2 (nginx's /enc/ and its gzip
 * filter, h2c and TLS); each fault (corrupt, cut short, trailing bytes, an
 * unknown coding, too many, a window too large) fails with its code and
 * nothing else in flight; bombs decode in bounded memory, stop at
 * MAXFILESIZE, and keep the fair-scheduling bound; pause on decoded
 * output loses and repeats nothing; a handle removed or cleaned up from
 * its write callback in the middle of a decode leaks nothing (make asan).
 *
 * Servers: spec/support/servers.sh (FAULT_PORT, NGINX_PORT, NGINX_H2C_PORT,
 * TLS_H2_PORT, TLS_CA, DECODE_FIXTURES).
 */
#include "driver.h"

#include <unistd.h>

#define PLAIN_LEN 262144

/* A file of DECODE_FIXTURES (malloc'd); *len its size. */
static char *fixture(const char *name, size_t *len) {
  char path[512];
  FILE *f;
  char *p;
  long n;
  snprintf(path, sizeof(path), "%s/%s", tl_env("DECODE_FIXTURES"), name);
  CHECKF((f = fopen(path, "rb")) != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  CHECK(p = malloc((size_t)n + 1));
  CHECK_EQ(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return p;
}

static off_t fixture_size(const char *name) {
  size_t n;
  free(fixture(name, &n));
  return (off_t)n;
}

/* Whether b holds exactly plain.txt. */
static int is_plain(const struct tbuf *b) {
  static char *plain;
  static size_t plen;
  if (!plain) plain = fixture("plain.txt", &plen);
  return b->len == plen && memcmp(b->data, plain, plen) == 0;
}

/* A transfer that decodes every coding (ACCEPT_ENCODING ""); over h2c
 * with prior knowledge, or TLS verified by the test CA, as the URL says. */
static struct tx *dtx(const char *url) {
  char h2c[32];
  struct tx *t;
  snprintf(h2c, sizeof(h2c), ":%d/", tl_env_int("NGINX_H2C_PORT"));
  t = tx_new(url);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_ACCEPT_ENCODING, ""), XFERE_OK);
  if (strncmp(url, "https:", 6) == 0) {
    tx_tls_localhost(t, url);
  } else if (strstr(url, h2c)) {
    xfer_easy_setopt(t->easy, XFEROPT_HTTP_VERSION,
                     (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  }
  return t;
}

static const char *const good_files[] = {
  "plain.gz", "plain.zz", "plain.deflate", "plain.br", "plain.zst",
  "plain.gz.br", "plain.zz.zst.br", "members.gz"};

/* Every coding, alone and stacked, and two gzip members, decode to
 * plain.txt over HTTP/1.1, with a Content-Length and chunked (in pieces
 * that split every structure of the formats).  SIZE_DOWNLOAD_T and
 * CONTENT_LENGTH_DOWNLOAD_T are the body as sent (libcurl's), SIZE_
 * DELIVERED what the write callback got. */
TEST(every_coding_decodes_over_http11) {
  size_t i;
  int chunked;
  for (i = 0; i < NROWS(good_files); i++)
    for (chunked = 0; chunked <= 2; chunked++) {
      const char *q = chunked == 0   ? ""
                      : chunked == 1 ? "?chunked=1&piece=3000"
                                     : "?chunked=1&piece=7";
      struct tx *t;
      off_t size = fixture_size(good_files[i]);
      if (chunked == 2 && i > 1) continue; /* slow: two rows are enough */
      tl_row("%s%s", good_files[i], q);
      t = dtx(tx_url("%s/enc/%s%s", fault_base(), good_files[i], q));
      CHECKF(run_alone(t, DRIVE_EPOLL, 20000) == XFERE_OK, "%d (%s)",
             t->result, t->errbuf);
      CHECK(is_plain(&t->body));
      CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), size);
      CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DELIVERED), PLAIN_LEN);
      CHECK_EQ(info_off(t->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T),
               chunked ? -1 : size);
      tx_free(t);
    }
  tl_row_done();
}

/* The same files from nginx over h2c and h2 (TLS), and nginx's gzip
 * filter on the fly over HTTP/1.1, h2c and h2. */
TEST(every_coding_decodes_over_http2_and_nginx_gzip) {
  const char *bases[3];
  size_t i, b;
  bases[0] = http_base();
  bases[1] = h2c_base();
  bases[2] = tls_h2_base();
  for (b = 0; b < 3; b++) {
    struct tx *t;
    for (i = 0; i < NROWS(good_files); i++) {
      tl_row("%s/enc/%s", bases[b], good_files[i]);
      t = dtx(tx_url("%s/enc/%s", bases[b], good_files[i]));
      CHECKF(run_alone(t, DRIVE_EPOLL, 20000) == XFERE_OK, "%d (%s)",
             t->result, t->errbuf);
      CHECK(is_plain(&t->body));
      CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION),
               b ? XFER_HTTP_VERSION_2_0 : XFER_HTTP_VERSION_1_1);
      tx_free(t);
    }
    tl_row("%s/gz/1m.bin", bases[b]);
    t = dtx(tx_url("%s/gz/1m.bin", bases[b]));
    CHECKF(run_alone(t, DRIVE_POLL, 20000) == XFERE_OK, "%d (%s)", t->result,
           t->errbuf);
    CHECK(strstr(t->headers.data, "ontent-encoding: gzip") ||
          strstr(t->headers.data, "ontent-Encoding: gzip"));
    CHECK(is_pattern(&t->body, 1 << 20));
    CHECK_INT(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), <, 100000);
    CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DELIVERED), 1 << 20);
    tx_free(t);
  }
  tl_row_done();
}

/* The request's Accept-Encoding and whether the body is decoded, as
 * libcurl 7.88 does them (checked side by side with the curl tool):
 * ACCEPT_ENCODING NULL sends nothing and decodes nothing, "" offers every
 * coding built in, a list is sent as given; a caller's Accept-Encoding
 * header replaces the option's (and alone decodes nothing);
 * HTTP_CONTENT_DECODING 0 sends the option's header, decodes nothing. */
TEST(accept_encoding_rules) {
  static const struct {
    const char *name, *opt, *hdr;
    long decoding;
    const char *sent; /* the request's field, NULL: none */
    int decoded;
  } rows[] = {
    {"unset", NULL, NULL, 1, NULL, 0},
    {"empty offers all", "", NULL, 1, "Accept-Encoding: deflate, gzip, br, zstd\r\n", 1},
    {"a list", "gzip", NULL, 1, "Accept-Encoding: gzip\r\n", 1},
    {"header alone", NULL, "Accept-Encoding: br", 1, "Accept-Encoding: br\r\n", 0},
    {"header and option", "", "Accept-Encoding: gzip", 1, "Accept-Encoding: gzip\r\n", 1},
    {"header removed", "", "Accept-Encoding:", 1, NULL, 1},
    {"content decoding off", "", NULL, 0, "Accept-Encoding: deflate, gzip, br, zstd\r\n", 0},
  }, *r;
  FOR_ROWS(r, rows) {
    struct xfer_slist h = {(char *)r->hdr, NULL};
    struct tx *e = tx_new(tx_url("%s/echo", fault_base()));
    struct tx *t = tx_new(tx_url("%s/enc/plain.gz", fault_base()));
    size_t gzlen;
    char *gz = fixture("plain.gz", &gzlen);
    struct tx *both[2];
    int k;
    both[0] = e;
    both[1] = t;
    for (k = 0; k < 2; k++) {
      XFER *x = both[k]->easy;
      CHECK_EQ(xfer_easy_setopt(x, XFEROPT_ACCEPT_ENCODING, r->opt), XFERE_OK);
      if (r->hdr) CHECK_EQ(xfer_easy_setopt(x, XFEROPT_HTTPHEADER, &h), XFERE_OK);
      CHECK_EQ(xfer_easy_setopt(x, XFEROPT_HTTP_CONTENT_DECODING, r->decoding),
               XFERE_OK);
      CHECK_EQ(run_alone(both[k], DRIVE_POLL, 10000), XFERE_OK);
    }
    CHECK(tbuf_add(&e->body, "", 1) == 0);
    if (r->sent) {
      const char *at = strstr(e->body.data, r->sent);
      CHECKF(at != NULL, "no %s in %s", r->sent, e->body.data);
      CHECK(!strstr(at + 1, "Accept-Encoding")); /* only once */
    } else {
      CHECKF(!strstr(e->body.data, "Accept-Encoding"), "%s", e->body.data);
    }
    if (r->decoded) CHECK(is_plain(&t->body));
    else CHECK_MEM(t->body.data, t->body.len, gz, gzlen);
    free(gz);
    tx_free(e);
    tx_free(t);
  }
}

/* "identity" decodes nothing; a HEAD or a 304 with a coding, or a coding
 * xfer does not know, has no body to fail on. */
TEST(identity_and_bodiless_responses) {
  struct tx *t = dtx(tx_url("%s/enc/plain.txt?ce=identity", fault_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  CHECK(is_plain(&t->body));
  tx_free(t);
  t = dtx(tx_url("%s/enc/plain.txt?ce=Identity,%%20,identity", fault_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  CHECK(is_plain(&t->body));
  tx_free(t);
  t = dtx(tx_url("%s/enc/plain.gz", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_NOBODY, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  CHECK_EQ(t->body.len, 0);
  tx_free(t);
  t = dtx(tx_url("%s/enc/plain.gz?ce=compress", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_NOBODY, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  tx_free(t);
  /* x-gzip is gzip (RFC 9110) */
  t = dtx(tx_url("%s/enc/plain.gz?ce=X-Gzip", fault_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  CHECK(is_plain(&t->body));
  tx_free(t);
}

/* Each fault fails its transfer with its code and a reason, while good
 * transfers on the same multi handle (and the same HTTP/2 connection)
 * complete. */
TEST(faults_fail_their_transfer_only) {
  static const struct {
    const char *name, *path;
    int h2;
    XFERcode code;
  } rows[] = {
    {"unknown coding", "/enc/plain.gz?ce=compress", 0, XFERE_BAD_CONTENT_ENCODING},
    {"unknown stacked", "/enc/plain.gz?ce=gzip,%20snappy", 0, XFERE_BAD_CONTENT_ENCODING},
    {"gzip corrupt", "/enc/plain.gz?flip=30000", 0, XFERE_BAD_CONTENT_ENCODING},
    {"gzip header", "/enc/plain.gz?flip=0", 0, XFERE_BAD_CONTENT_ENCODING},
    {"gzip cut", "/enc/plain.gz?cut=40000", 0, XFERE_BAD_CONTENT_ENCODING},
    {"gzip trailing bytes", "/enc/plain.gz?tail=garbage", 0, XFERE_BAD_CONTENT_ENCODING},
    {"deflate corrupt", "/enc/plain.zz?flip=20000", 0, XFERE_BAD_CONTENT_ENCODING},
    {"deflate cut", "/enc/plain.zz?cut=1", 0, XFERE_BAD_CONTENT_ENCODING},
    {"deflate trailing", "/enc/plain.zz?tail=x", 0, XFERE_BAD_CONTENT_ENCODING},
    {"raw deflate cut", "/enc/plain.deflate?cut=50000&chunked=1", 0, XFERE_BAD_CONTENT_ENCODING},
    {"br corrupt", "/enc/plain.br?flip=100", 0, XFERE_BAD_CONTENT_ENCODING},
    {"br cut", "/enc/plain.br?cut=30000", 0, XFERE_BAD_CONTENT_ENCODING},
    {"br trailing", "/enc/plain.br?tail=zz", 0, XFERE_BAD_CONTENT_ENCODING},
    {"zstd corrupt", "/enc/plain.zst?flip=2", 0, XFERE_BAD_CONTENT_ENCODING},
    {"zstd cut", "/enc/plain.zst?cut=30000", 0, XFERE_BAD_CONTENT_ENCODING},
    {"zstd trailing", "/enc/plain.zst?tail=garbage", 0, XFERE_BAD_CONTENT_ENCODING},
    {"zstd window over 8 MiB", "/enc/wide.zst", 0, XFERE_BAD_CONTENT_ENCODING},
    {"stacked, inner corrupt", "/enc/plain.gz.br?flip=40000", 0, XFERE_BAD_CONTENT_ENCODING},
    {"six codings", "/enc/plain.gz?ce=gzip,gzip,gzip,gzip,gzip,gzip", 0,
     XFERE_BAD_CONTENT_ENCODING},
    {"h2 corrupt gzip", "/enc/corrupt.gz", 1, XFERE_BAD_CONTENT_ENCODING},
    {"h2 cut br", "/enc/cut.br", 1, XFERE_BAD_CONTENT_ENCODING},
  }, *r;
  FOR_ROWS(r, rows) {
    XFERM *m = xfer_multi_init();
    const char *base = r->h2 ? tls_h2_base() : fault_base();
    struct tx *bad = dtx(tx_url("%s%s", base, r->path));
    struct tx *good[3];
    int i;
    CHECK(m);
    xfer_easy_setopt(bad->easy, XFEROPT_PIPEWAIT, 1L);
    CHECK_EQ(xfer_multi_add_handle(m, bad->easy), XFERM_OK);
    for (i = 0; i < 3; i++) {
      good[i] = dtx(tx_url("%s/enc/%s", base, good_files[i * 3 % 8]));
      xfer_easy_setopt(good[i]->easy, XFEROPT_PIPEWAIT, 1L);
      CHECK_EQ(xfer_multi_add_handle(m, good[i]->easy), XFERM_OK);
    }
    drive_epoll(m, 20000, NULL);
    CHECKF(bad->result == r->code, "%d (%s)", bad->result, bad->errbuf);
    CHECKF(bad->errbuf[0], "no reason given");
    for (i = 0; i < 3; i++) {
      CHECKF(good[i]->result == XFERE_OK, "good %d: %d (%s)", i,
             good[i]->result, good[i]->errbuf);
      CHECK(is_plain(&good[i]->body));
      xfer_multi_remove_handle(m, good[i]->easy);
      tx_free(good[i]);
    }
    if (r->h2)
      CHECK_EQ(info_long(bad->easy, XFERINFO_HTTP_VERSION),
               XFER_HTTP_VERSION_2_0);
    xfer_multi_remove_handle(m, bad->easy);
    tx_free(bad);
    CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  }
}

/* The peak of this process's resident memory, in KiB. */
static long peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  CHECK(f);
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* Counts a body of zeros; notes the most bytes delivered in one round of
 * the driving loop (`round` is bumped by the loop). */
struct zeros {
  xfer_off_t got;
  int bad;
  int round, last_round;
  size_t in_round, max_round;
  size_t max_piece;
};

static size_t zeros_write(char *p, size_t sz, size_t n, void *ud) {
  struct zeros *z = ud;
  static const char zero[64 * 1024];
  size_t len = sz * n, i;
  for (i = 0; i < len; i += sizeof(zero)) {
    size_t k = len - i < sizeof(zero) ? len - i : sizeof(zero);
    if (memcmp(p + i, zero, k)) z->bad = 1;
  }
  z->got += (xfer_off_t)len;
  if (z->round != z->last_round) {
    z->last_round = z->round;
    z->in_round = 0;
  }
  z->in_round += len;
  if (z->in_round > z->max_round) z->max_round = z->in_round;
  if (len > z->max_piece) z->max_piece = len;
  return len;
}

/* Bombs (800 bytes of br, 33 KB of zstd, 260 KB of gzip that decode to
 * 1 GiB, 1 GiB and 256 MiB of zeros) decode whole, streaming: the peak
 * memory grows by a few MiB, not by the body. */
TEST(bombs_decode_in_bounded_memory) {
  static const struct {
    const char *name, *file;
    xfer_off_t size;
  } rows[] = {
    {"br", "zeros-1g.br", (xfer_off_t)1 << 30},
    {"zstd", "zeros-1g.zst", (xfer_off_t)1 << 30},
    {"gzip", "zeros-256m.gz", (xfer_off_t)256 << 20},
  }, *r;
  FOR_ROWS(r, rows) {
    struct zeros z;
    struct tx *t = dtx(tx_url("%s/enc/%s", fault_base(), r->file));
    long before = peak_rss_kb();
    memset(&z, 0, sizeof(z));
    xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, zeros_write);
    xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, &z);
    CHECKF(run_alone(t, DRIVE_EPOLL, 60000) == XFERE_OK, "%d (%s)",
           t->result, t->errbuf);
    CHECK_EQ(z.got, r->size);
    CHECK(!z.bad);
    CHECK_INT(z.max_piece, <=, 64 * 1024);
    CHECK_INT(peak_rss_kb() - before, <, 32 * 1024);
    CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DELIVERED), r->size);
    tx_free(t);
  }
}

/* MAXFILESIZE(_LARGE): a Content-Length over it fails before the body;
 * a body without one (chunked) fails when it grows past it; a bomb fails
 * on its decoded size, with nothing past the limit delivered; the limit
 * itself is allowed; negative values are refused. */
TEST(maxfilesize_limits_the_decoded_size) {
  struct zeros z;
  struct tx *t = tx_new(tx_url("%s/bytes/100000", fault_base()));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE, -1L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE_LARGE,
                            (xfer_off_t)-1), XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE, 50000L), XFERE_OK);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_FILESIZE_EXCEEDED);
  CHECK_EQ(t->body.len, 0);
  tx_free(t);

  t = tx_new(tx_url("%s/chunked/100000?size=1000", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE_LARGE, (xfer_off_t)50000);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_FILESIZE_EXCEEDED);
  CHECK_INT(t->body.len, <=, 50000);
  CHECK_INT(t->body.len, >, 0);
  tx_free(t);

  t = tx_new(tx_url("%s/bytes/1000", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE, 1000L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  CHECK_EQ(t->body.len, 1000);
  tx_free(t);

  /* 0 is no limit */
  t = tx_new(tx_url("%s/bytes/1000", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE, 0L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_OK);
  tx_free(t);

  /* 33 KB on the wire, under the limit; 1 GiB decoded, over it */
  memset(&z, 0, sizeof(z));
  t = dtx(tx_url("%s/enc/zeros-1g.zst", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE_LARGE, (xfer_off_t)10 << 20);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, zeros_write);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, &z);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_FILESIZE_EXCEEDED);
  CHECK_INT(z.got, <=, (xfer_off_t)10 << 20);
  CHECK_INT(z.got, >, (xfer_off_t)9 << 20);
  CHECK(strstr(t->errbuf, "maximum file size"));
  tx_free(t);

  /* the same over HTTP/2 */
  memset(&z, 0, sizeof(z));
  t = dtx(tx_url("%s/enc/zeros-1g.br", tls_h2_base()));
  xfer_easy_setopt(t->easy, XFEROPT_MAXFILESIZE_LARGE, (xfer_off_t)1 << 20);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, zeros_write);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, &z);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_FILESIZE_EXCEEDED);
  CHECK_INT(z.got, <=, (xfer_off_t)1 << 20);
  tx_free(t);
}

/* HTTP_TRANSFER_DECODING: chunked is always undone; asking for it raw is
 * refused at once rather than ignored. */
TEST(transfer_decoding_off_is_refused) {
  XFER *e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_TRANSFER_DECODING, 1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_TRANSFER_DECODING, 0L),
           XFERE_NOT_BUILT_IN);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_CONTENT_DECODING, 0L), XFERE_OK);
  CHECK_STR(xfer_easy_option_by_id(XFEROPT_ACCEPT_ENCODING)->name,
            "ACCEPT_ENCODING");
  CHECK_EQ(xfer_easy_option_by_name("maxfilesize_large")->type, XFEROT_OFF_T);
  xfer_easy_cleanup(e);
}

/* The fair-scheduling bound holds for decoded bytes: a bomb beside a
 * normal transfer delivers at most the turn's bound (1 MiB, plus one
 * piece) in any round of the loop, and the other transfer finishes long
 * before it. */
TEST(a_bomb_keeps_the_fair_bound) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct zeros z;
  struct tx *bomb = dtx(tx_url("%s/enc/zeros-1g.br", fault_base()));
  struct tx *other = dtx(tx_url("%s/enc/plain.zst", fault_base()));
  int running = 1, rounds = 0;
  xfer_off_t bomb_at_other_done = -1;
  memset(&z, 0, sizeof(z));
  xfer_easy_setopt(bomb->easy, XFEROPT_WRITEFUNCTION, zeros_write);
  xfer_easy_setopt(bomb->easy, XFEROPT_WRITEDATA, &z);
  pl_init(&p, m);
  CHECK_EQ(xfer_multi_add_handle(m, bomb->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, other->easy), XFERM_OK);
  while (running) {
    z.round = ++rounds;
    CHECK_INT(rounds, <, 100000);
    pl_round(&p, m, &running);
    drain_msgs(m);
    if (other->done && bomb_at_other_done < 0) bomb_at_other_done = z.got;
  }
  CHECKF(bomb->result == XFERE_OK, "%d (%s)", bomb->result, bomb->errbuf);
  CHECK_EQ(other->result, XFERE_OK);
  CHECK(is_plain(&other->body));
  CHECK_EQ(z.got, (xfer_off_t)1 << 30);
  CHECK_INT(z.max_round, <=, (1 << 20) + 64 * 1024);
  CHECK_INT(bomb_at_other_done, <, (xfer_off_t)256 << 20);
  xfer_multi_remove_handle(m, bomb->easy);
  xfer_multi_remove_handle(m, other->easy);
  tx_free(bomb);
  tx_free(other);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* A write callback that pauses every `every`th call, and is unpaused by
 * the loop: the refused piece comes again first, and nothing is lost or
 * repeated. */
struct pauser {
  XFER *e;
  struct tbuf body;
  int calls, every, paused, pauses;
  size_t refused_len;
  char refused[64];
  int mismatch;
  int paused_calls;
};

static size_t pause_write(char *p, size_t sz, size_t n, void *ud) {
  struct pauser *s = ud;
  size_t len = sz * n;
  if (s->paused) s->paused_calls++;
  if (s->refused_len) {
    if (len != s->refused_len || memcmp(p, s->refused, len < 64 ? len : 64))
      s->mismatch = 1;
    s->refused_len = 0;
  } else if (++s->calls % s->every == 0) {
    s->refused_len = len;
    memcpy(s->refused, p, len < 64 ? len : 64);
    s->paused = 1;
    s->pauses++;
    return XFER_WRITEFUNC_PAUSE;
  }
  tbuf_add(&s->body, p, len);
  return len;
}

TEST(pause_on_decoded_output_loses_and_repeats_nothing) {
  static const struct {
    const char *name, *fmt;
    int every;
  } rows[] = {
    {"h1 gzip", "%s/enc/plain.gz", 1},
    {"h1 stacked, chunked", "%s/enc/plain.zz.zst.br?chunked=1&piece=5000", 2},
    {"h1 br", "%s/enc/plain.br", 2},
    {"h2 zstd", "TLS/enc/plain.zst", 1},
    {"h2 gzip, br", "TLS/enc/plain.gz.br", 2},
  }, *r;
  FOR_ROWS(r, rows) {
    XFERM *m = xfer_multi_init();
    struct ploop p;
    struct pauser s;
    struct tx *t;
    int running = 1, rounds = 0;
    if (strncmp(r->fmt, "TLS", 3) == 0)
      t = dtx(tx_url("%s%s", tls_h2_base(), r->fmt + 3));
    else
      t = dtx(tx_url(r->fmt, fault_base()));
    memset(&s, 0, sizeof(s));
    s.e = t->easy;
    s.every = r->every;
    xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, pause_write);
    xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, &s);
    pl_init(&p, m);
    CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
    while (running) {
      CHECK_INT(++rounds, <, 100000);
      pl_round(&p, m, &running);
      if (s.paused) { /* unpaused from outside any call */
        s.paused = 0;
        CHECK_EQ(xfer_easy_pause(t->easy, XFERPAUSE_CONT), XFERE_OK);
      }
    }
    drain_msgs(m);
    CHECKF(t->result == XFERE_OK, "%d (%s)", t->result, t->errbuf);
    CHECK(!s.mismatch);
    CHECK_EQ(s.paused_calls, 0);
    CHECK_INT(s.pauses, >, 1);
    CHECK(is_plain(&s.body));
    xfer_multi_remove_handle(m, t->easy);
    tbuf_free(&s.body);
    tx_free(t);
    CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  }
}

/* Paused on a bomb's decoded output, a transfer reads no more: what is
 * held stays within one read (HTTP/1.1), and over HTTP/2 within the
 * stream's window while another stream on the connection goes on. */
TEST(a_paused_decode_holds_within_bounds) {
  XFERM *m = xfer_multi_init();
  struct pauser s;
  struct tx *t = dtx(tx_url("%s/gz/64m.bin", tls_h2_base()));
  struct tx *o = dtx(tx_url("%s/enc/plain.br", tls_h2_base()));
  memset(&s, 0, sizeof(s));
  s.every = 3;
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_PIPEWAIT, 1L);
  xfer_easy_setopt(o->easy, XFEROPT_PIPEWAIT, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, pause_write);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, &s);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, o->easy), XFERM_OK);
  CHECK_EQ(drive_epoll_for(m, 1500, NULL), 1);
  CHECK(o->done && o->result == XFERE_OK && is_plain(&o->body));
  CHECK(s.paused && !t->done);
  CHECK_INT(s.body.len, >, 0);
  CHECK_INT(s.body.len, <=, (size_t)2 * 64 * 1024);
  CHECK_INT(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), <=, 4 << 20);
  s.paused = 0;
  s.every = 1 << 30;
  CHECK_EQ(xfer_easy_pause(t->easy, XFERPAUSE_CONT), XFERE_OK);
  drive_epoll(m, 30000, NULL);
  CHECKF(t->result == XFERE_OK, "%d (%s)", t->result, t->errbuf);
  CHECK_EQ(s.body.len, (size_t)64 << 20);
  CHECK(!s.mismatch);
  xfer_multi_remove_handle(m, t->easy);
  xfer_multi_remove_handle(m, o->easy);
  tbuf_free(&s.body);
  tx_free(t);
  tx_free(o);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* Removed, cleaned up, or removed and re-added from its write callback in
 * the middle of a (stacked) decode: no callback after, nothing leaks, and
 * the re-added run decodes afresh. */
struct quitter {
  XFERM *m;
  XFER *e;
  int how, calls, after;
};

static size_t quit_write(char *p, size_t sz, size_t n, void *ud) {
  struct quitter *q = ud;
  (void)p;
  if (q->after) return sz * n;
  if (++q->calls == 2) {
    q->after = q->how == 2;
    if (q->how == 0) {
      xfer_multi_remove_handle(q->m, q->e);
    } else if (q->how == 1) {
      xfer_easy_cleanup(q->e);
    } else {
      xfer_multi_remove_handle(q->m, q->e);
      xfer_multi_add_handle(q->m, q->e);
    }
  }
  return sz * n;
}

TEST(removed_or_cleaned_up_from_the_write_callback_mid_decode) {
  int how;
  for (how = 0; how < 3; how++) {
    XFERM *m = xfer_multi_init();
    struct quitter q;
    XFER *e = xfer_easy_init();
    tl_row("%s", how == 0 ? "remove" : how == 1 ? "cleanup" : "re-add");
    memset(&q, 0, sizeof(q));
    q.m = m;
    q.e = e;
    q.how = how;
    xfer_easy_setopt(e, XFEROPT_URL,
                     tx_url("%s/enc/plain.zz.zst.br", fault_base()));
    xfer_easy_setopt(e, XFEROPT_ACCEPT_ENCODING, "");
    xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, quit_write);
    xfer_easy_setopt(e, XFEROPT_WRITEDATA, &q);
    CHECK_EQ(xfer_multi_add_handle(m, e), XFERM_OK);
    drive_epoll(m, 10000, NULL);
    CHECK_EQ(q.calls, 2);
    if (how == 2) { /* the new run, decoded afresh (drive_epoll read its
                       message) */
      long code = -1;
      CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_RESPONSE_CODE, &code), XFERE_OK);
      CHECK_EQ(code, 200);
      CHECK_EQ(info_off(e, XFERINFO_SIZE_DELIVERED), PLAIN_LEN);
    }
    if (how != 1) {
      xfer_multi_remove_handle(m, e);
      xfer_easy_cleanup(e);
    }
    CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  }
  tl_row_done();
}

/* The codings are the final header section's: a Content-Encoding in a
 * 103 before it, or in the trailers after the body, is not the body's. */
TEST(only_the_final_header_section_names_the_codings) {
  struct tx *t = dtx(tx_url("%s/enc/plain.zst?info_ce=br", fault_base()));
  CHECKF(run_alone(t, DRIVE_EPOLL, 10000) == XFERE_OK, "%d (%s)", t->result,
         t->errbuf);
  CHECK(strstr(t->headers.data, "HTTP/1.1 103"));
  CHECK(is_plain(&t->body));
  tx_free(t);
  t = dtx(tx_url("%s/enc/plain.zst?chunked=1&trailer_ce=br", fault_base()));
  CHECKF(run_alone(t, DRIVE_EPOLL, 10000) == XFERE_OK, "%d (%s)", t->result,
         t->errbuf);
  CHECK(is_plain(&t->body));
  tx_free(t);
  t = dtx(tx_url("%s/enc/plain.txt?ce=&info_ce=gzip", fault_base()));
  CHECKF(run_alone(t, DRIVE_EPOLL, 10000) == XFERE_OK, "%d (%s)", t->result,
         t->errbuf);
  CHECK(is_plain(&t->body));
  tx_free(t);
}

/* A redirect's body is not decoded; the target's is. */
TEST(redirect_then_decode) {
  struct tx *t = dtx(tx_url("%s/redirect/302?to=/enc/plain.br", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECKF(run_alone(t, DRIVE_EPOLL, 10000) == XFERE_OK, "%d (%s)", t->result,
         t->errbuf);
  CHECK(is_plain(&t->body));
  tx_free(t);
}

/* A bomb takes seconds of turns to decode while the wire is quiet: the
 * transfer is not judged slow meanwhile (LOW_SPEED_* counts the wire, as
 * libcurl; a transfer busy decoding what came is not waiting on it, as a
 * paused one is not). */
TEST(decoding_a_bomb_is_not_low_speed) {
  struct zeros z;
  struct tx *t = dtx(tx_url("%s/enc/zeros-1g.br", fault_base()));
  memset(&z, 0, sizeof(z));
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, zeros_write);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, &z);
  xfer_easy_setopt(t->easy, XFEROPT_LOW_SPEED_LIMIT, 1000L);
  xfer_easy_setopt(t->easy, XFEROPT_LOW_SPEED_TIME, 1L);
  CHECKF(run_alone(t, DRIVE_EPOLL, 60000) == XFERE_OK, "%d (%s)", t->result,
         t->errbuf);
  CHECK_EQ(z.got, (xfer_off_t)1 << 30);
  tx_free(t);
}
