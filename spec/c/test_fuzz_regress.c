/*
 * test_fuzz_regress.c -- replays the fuzz corpora without libFuzzer.
 *
 * One test per fuzz target: every file of fuzz/corpus/<target>/ (the seeds)
 * and fuzz/regress/<target>/ (inputs that once crashed, kept so the bug
 * stays fixed) goes through the target's own LLVMFuzzerTestOneInput (the
 * pure targets are #included here, each under its own name) or, for the
 * engine, through engine_harness.c with its in-process server.  A broken
 * invariant abort()s: the test fails, and the input's path is printed.
 *
 * Files whose names start with "crash-" are reproducers of bugs of the
 * core not fixed yet (fuzz/README.md lists them): they are counted and
 * left out, until the fix renames them.
 *
 * The fuzz directory is $XFER_FUZZ_DIR, else ./fuzz (spec/run.sh runs
 * from the top directory), else found from this file's path.
 */
#include "testlib.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define LLVMFuzzerTestOneInput fuzz_url_one
#include "../../fuzz/fuzz_url.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_redirect_one
#include "../../fuzz/fuzz_redirect.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_h1parse_one
#include "../../fuzz/fuzz_h1parse.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_chunked_one
#include "../../fuzz/fuzz_chunked.c"
#undef LLVMFuzzerTestOneInput
#include "../../fuzz/engine_harness.c"
#include "../../fuzz/engine_input.c"
#include "../../fuzz/h2_wire.c"
#define LLVMFuzzerTestOneInput fuzz_h2frames_one
#include "../../fuzz/fuzz_h2frames.c"
#undef LLVMFuzzerTestOneInput
#include "../../fuzz/drive.c"
#include "../../fuzz/tls_certs.c"
#define LLVMFuzzerTestOneInput fuzz_request_one
#include "../../fuzz/fuzz_request.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_engine_tls_one
#include "../../fuzz/fuzz_engine_tls.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_decode_one
#include "../../fuzz/fuzz_decode.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_auth_one
#include "../../fuzz/fuzz_auth.c"
#undef LLVMFuzzerTestOneInput
#include "../../fuzz/proxy_harness.c"
#define LLVMFuzzerTestOneInput fuzz_cookie_one
#include "../../fuzz/fuzz_cookie.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fr_target)(const uint8_t *data, size_t size);

static char fr_current[1024];
static int fr_known_crashes; /* crash-* files left out */

/* On abort() (a broken invariant) or a crash, name the input. */
static void fr_on_signal(int sig) {
  static const char pre[] = "\nwhile replaying ";
  ssize_t r;
  r = write(2, pre, sizeof(pre) - 1);
  r = write(2, fr_current, strlen(fr_current));
  r = write(2, "\n", 1);
  (void)r;
  if (sig == 0) return; /* from the sanitizer's death callback */
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Sanitizers exit without abort(): their death callback names the input
 * (weak, so that a build without them links too). */
extern void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));

static void fr_on_death(void) { fr_on_signal(0); }

static const char *fr_fuzz_dir(void) {
  static char dir[1024];
  struct stat st;
  const char *env = getenv("XFER_FUZZ_DIR"), *slash;
  if (env && *env) return env;
  if (stat("fuzz/corpus", &st) == 0 && S_ISDIR(st.st_mode)) return "fuzz";
  /* __FILE__ is .../spec/c/test_fuzz_regress.c */
  snprintf(dir, sizeof(dir), "%s", __FILE__);
  slash = strstr(dir, "spec/c/test_fuzz_regress.c");
  if (slash) {
    snprintf(dir + (slash - dir), sizeof(dir) - (size_t)(slash - dir),
             "fuzz");
    return dir;
  }
  return "fuzz";
}

static int fr_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir through fn (in name order); returns how
 * many.  A missing directory counts 0. */
static int fr_replay_dir(const char *dir, fr_target fn) {
  DIR *d = opendir(dir);
  struct dirent *de;
  char **names = NULL;
  size_t n = 0, cap = 0, i;
  if (!d) return 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    if (strncmp(de->d_name, "crash-", 6) == 0) {
      fr_known_crashes++;
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof(*names));
      CHECK(names != NULL);
    }
    names[n] = strdup(de->d_name);
    CHECK(names[n] != NULL);
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof(*names), fr_cmp);
  for (i = 0; i < n; i++) {
    FILE *f;
    uint8_t *buf;
    long len;
    struct stat st;
    snprintf(fr_current, sizeof(fr_current), "%s/%s", dir, names[i]);
    if (stat(fr_current, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(names[i]);
      continue;
    }
    f = fopen(fr_current, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    len = ftell(f);
    CHECK(len >= 0);
    rewind(f);
    /* An exact-size copy: reads past the input are caught under ASan. */
    buf = malloc(len ? (size_t)len : 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    fn(buf, (size_t)len);
    free(buf);
    free(names[i]);
  }
  free(names);
  fr_current[0] = 0;
  return (int)n;
}

static void fr_replay(const char *target, fr_target fn) {
  char dir[1200];
  int seeds, regress;
  fr_known_crashes = 0;
  signal(SIGABRT, fr_on_signal);
  signal(SIGSEGV, fr_on_signal);
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(fr_on_death);
  snprintf(dir, sizeof(dir), "%s/corpus/%s", fr_fuzz_dir(), target);
  seeds = fr_replay_dir(dir, fn);
  snprintf(dir, sizeof(dir), "%s/regress/%s", fr_fuzz_dir(), target);
  regress = fr_replay_dir(dir, fn);
  /* The seeds are committed: none found means a wrong directory. */
  if (seeds == 0)
    tl_fail(__FILE__, __LINE__, "no seed in %s/corpus/%s", fr_fuzz_dir(),
            target);
  fprintf(stderr, "  %s: %d seeds, %d regression inputs", target, seeds,
          regress);
  if (fr_known_crashes)
    fprintf(stderr, " (%d crash-* reproducers of known bugs left out)",
            fr_known_crashes);
  fputc('\n', stderr);
}

TEST(fuzz_url) { fr_replay("fuzz_url", fuzz_url_one); }

TEST(fuzz_redirect) { fr_replay("fuzz_redirect", fuzz_redirect_one); }

TEST(fuzz_h1parse) { fr_replay("fuzz_h1parse", fuzz_h1parse_one); }

TEST(fuzz_chunked) { fr_replay("fuzz_chunked", fuzz_chunked_one); }

TEST(fuzz_request) { fr_replay("fuzz_request", fuzz_request_one); }

TEST(fuzz_decode) { fr_replay("fuzz_decode", fuzz_decode_one); }
TEST(fuzz_auth) { fr_replay("fuzz_auth", fuzz_auth_one); }
TEST(fuzz_cookie) { fr_replay("fuzz_cookie", fuzz_cookie_one); }
TEST(fuzz_h2frames) { fr_replay("fuzz_h2frames", fuzz_h2frames_one); }

static int fr_socks(const uint8_t *d, size_t n) {
  return proxy_run(PROXY_KIND_SOCKS, d, n);
}
static int fr_connect(const uint8_t *d, size_t n) {
  return proxy_run(PROXY_KIND_HTTP, d, n);
}
TEST(fuzz_socks) { fr_replay("fuzz_socks", fr_socks); }
TEST(fuzz_connect) { fr_replay("fuzz_connect", fr_connect); }

TEST(fuzz_engine_tls) {
  setenv("XFER_FUZZ_BUDGET_MS", "300", 0);
  fr_replay("fuzz_engine_tls", fuzz_engine_tls_one);
}

/* Two decodings mean the same (the responses compared by content). */
static int fr_same_input(const struct engine_input *a,
                         const struct engine_input *b) {
  int i;
  if (a->g0 != b->g0 || a->g1 != b->g1 || a->g2 != b->g2 ||
      a->ntx != b->ntx || a->nresp != b->nresp ||
      memcmp(a->xg, b->xg, sizeof(a->xg)) != 0 ||
      memcmp(a->tx, b->tx, sizeof(a->tx)) != 0)
    return 0;
  for (i = 0; i < a->nresp; i++)
    if (a->resp[i].ctl != b->resp[i].ctl || a->resp[i].len != b->resp[i].len ||
        memcmp(a->resp[i].p, b->resp[i].p, a->resp[i].len) != 0)
      return 0;
  return 1;
}

/* A committed engine input: no reserved bit set (engine_input.h: it would
 * change meaning the day the bit gets one), and an empty extension block
 * appended means the same as none; then the run. */
static int fr_engine(const uint8_t *data, size_t size) {
  static const char ext[] = ENGINE_SEP ENGINE_EXT_MARK;
  struct engine_input in, in2;
  char why[200];
  uint8_t *more;
  if (engine_input_decode(&in, data, size) == 0) {
    if (engine_input_reserved(&in, why, sizeof(why)))
      tl_fail(__FILE__, __LINE__, "%s: %s (reserved: leave them at 0)",
              fr_current, why);
    if (!in.ext && size > ENGINE_HDR_LEN) {
      more = malloc(size + sizeof(ext) - 1);
      CHECK(more != NULL);
      memcpy(more, data, size);
      memcpy(more + size, ext, sizeof(ext) - 1);
      CHECK(engine_input_decode(&in2, more, size + sizeof(ext) - 1) == 0);
      CHECK(in2.ext && fr_same_input(&in, &in2));
      free(more);
    }
  }
  return engine_run(data, size);
}

/* fuzz_engine_oom's inputs without the allocation failures (this test
 * links the normal library): byte 0 chooses the failure, then an engine
 * input. */
static int fr_engine_oom(const uint8_t *data, size_t size) {
  return size ? fr_engine(data + 1, size - 1) : 0;
}

TEST(fuzz_engine_oom) {
  setenv("XFER_FUZZ_BUDGET_MS", "300", 0);
  fr_replay("fuzz_engine_oom", fr_engine_oom);
}

TEST(fuzz_engine) {
  unsigned long r;
  setenv("XFER_FUZZ_BUDGET_MS", "300", 0);
  fr_replay("fuzz_engine", fr_engine);
  /* The harness did run transfers, and the guard kept them at home. */
  CHECK(engine_stats.runs > 0 && engine_stats.transfers > 0);
  CHECK(engine_stats.requests > 0 && engine_stats.ok > 0);
  /* Inputs with an extension block ran, and their options took effect:
   * only REDIR_PROTOCOLS_STR refuses a redirect (1). */
  CHECK(engine_stats.ext_runs > 0);
  CHECK(engine_stats.results[XFERE_UNSUPPORTED_PROTOCOL] > 0);
  /* The ext-pause-* inputs paused and unpaused, and refused bytes came
   * again; successful bodies were compared with the ones served. */
  CHECK(engine_stats.pauses > 0 && engine_stats.api_pauses > 0 &&
        engine_stats.loop_pauses > 0 && engine_stats.unpauses > 0 &&
        engine_stats.refused_again > 0 && engine_stats.left_paused > 0);
  CHECK(engine_stats.bodies_checked > 0);
  /* The h2-* seeds ran in h2 mode: requests decoded, bodies compared with
   * the DATA sent, streams and connections failed. */
  CHECK(engine_stats.h2_runs > 0 && engine_stats.h2_requests > 0);
  CHECK(engine_stats.h2_bodies_checked > 0);
  CHECK(engine_stats.results[XFERE_HTTP2] > 0 &&
        engine_stats.results[XFERE_HTTP2_STREAM] > 0);
  for (r = 0; r < 128; r++)
    if (engine_stats.results[r])
      fprintf(stderr, "    result %lu: %lu\n", r, engine_stats.results[r]);
}

/* The options of the extension block take effect: a committed ext-*
 * input is run as it is and with its block cut out (what the harness made
 * of it before the block existed), and the counters differ the way the
 * options say.  Without the block's decoding, both runs would be alike. */
static uint8_t *fr_load_engine(const char *name, size_t *len) {
  char path[1200];
  FILE *f;
  long n;
  uint8_t *b;
  snprintf(path, sizeof(path), "%s/corpus/fuzz_engine/%s", fr_fuzz_dir(),
           name);
  f = fopen(path, "rb");
  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  n = ftell(f);
  CHECK(n >= ENGINE_HDR_LEN);
  rewind(f);
  b = malloc((size_t)n);
  CHECK(b != NULL);
  CHECK(fread(b, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Cuts the extension block (and one separator next to it) out of an
 * engine input, in place; returns the new length. */
static size_t fr_cut_ext(uint8_t *b, size_t n) {
  const size_t sl = sizeof(ENGINE_SEP) - 1, ml = sizeof(ENGINE_EXT_MARK) - 1;
  size_t pos = ENGINE_HDR_LEN, end, from, to;
  for (;;) {
    const uint8_t *sep = NULL;
    size_t k;
    for (k = pos; k + sl <= n; k++)
      if (memcmp(b + k, ENGINE_SEP, sl) == 0) {
        sep = b + k;
        break;
      }
    end = sep ? (size_t)(sep - b) : n;
    if (end - pos >= ml && memcmp(b + pos, ENGINE_EXT_MARK, ml) == 0) break;
    CHECK(sep != NULL); /* the input has a block */
    pos = end + sl;
  }
  /* The separator after it, or else the one before it. */
  if (end < n) {
    from = pos;
    to = end + sl;
  } else {
    from = pos > ENGINE_HDR_LEN ? pos - sl : pos;
    to = end;
  }
  memmove(b + from, b + to, n - to);
  return n - (to - from);
}

/* Runs name with its block (*with) and without it (*without): the
 * changes of engine_stats. */
static void fr_run_both(const char *name, struct engine_stats *with,
                        struct engine_stats *without) {
  struct engine_stats before;
  struct engine_input in;
  size_t n, cut;
  uint8_t *b = fr_load_engine(name, &n);
  unsigned long *w, *o, *p;
  size_t i, words = sizeof(before) / sizeof(unsigned long);
  snprintf(fr_current, sizeof(fr_current), "fuzz_engine/%s", name);
  CHECK(engine_input_decode(&in, b, n) == 0 && in.ext);
  before = engine_stats;
  engine_run(b, n);
  *with = engine_stats;
  cut = fr_cut_ext(b, n);
  CHECK(cut < n);
  CHECK(engine_input_decode(&in, b, cut) == 0 && !in.ext);
  snprintf(fr_current, sizeof(fr_current), "fuzz_engine/%s without EXT1",
           name);
  engine_run(b, cut);
  *without = engine_stats;
  /* Deltas, field by field (all unsigned long). */
  w = (unsigned long *)with;
  o = (unsigned long *)without;
  p = (unsigned long *)&before;
  for (i = 0; i < words; i++) {
    o[i] -= w[i];
    w[i] -= p[i];
  }
  free(b);
  fr_current[0] = 0;
}

TEST(engine_ext_options_take_effect) {
  struct engine_stats with, without;
  setenv("XFER_FUZZ_BUDGET_MS", "300", 0);
  signal(SIGABRT, fr_on_signal);
  /* REDIR_PROTOCOLS_STR "HTTPS", "http", "": each transfer refuses its
   * redirect to a scheme it does not allow (1, whichever response it
   * gets); without the option none is refused. */
  fr_run_both("ext-redir-protocols", &with, &without);
  CHECK(with.ext_runs == 1 && without.ext_runs == 0);
  CHECK(with.ext_setopts == 3 && without.ext_setopts == 0);
  CHECK(with.results[XFERE_UNSUPPORTED_PROTOCOL] > 0);
  CHECK(without.results[XFERE_UNSUPPORTED_PROTOCOL] == 0);
  /* HTTPGET after POSTFIELDS, PUT and a chunked POST: no request has a
   * body; without it they do. */
  fr_run_both("ext-httpget-after-bodies", &with, &without);
  CHECK(with.ext_setopts == 3 && with.requests > 0);
  CHECK(with.body_requests == 0 && without.body_requests > 0);
  /* The same with the block first, before every response. */
  fr_run_both("ext-block-first", &with, &without);
  CHECK(with.ext_setopts == 1 && with.ok == 1);
  CHECK(with.body_requests == 0 && without.body_requests == 1);
  /* UNRESTRICTED_AUTH: h1.test's Cookie follows the redirect to
   * localhost; without it, it stays home. */
  fr_run_both("ext-unrestricted-auth", &with, &without);
  CHECK(with.creds_elsewhere > 0 && without.creds_elsewhere == 0);
  /* COPYPOSTFIELDS: the bodies (from buffers freed at once) arrive
   * whole, as with POSTFIELDS. */
  fr_run_both("ext-copypostfields", &with, &without);
  CHECK(with.ext_setopts == 2 && with.ok == 2 && without.ok == 2);
  CHECK(with.body_requests >= 2 && without.body_requests >= 2);
}

/* Pause (x1..x3 of the block) takes effect: each ext-pause-* seed run
 * with and without its block.  Without it nothing is ever paused (and
 * without the harness's pause support the counters stay 0 too). */
TEST(engine_pause_takes_effect) {
  struct engine_stats with, without;
  setenv("XFER_FUZZ_BUDGET_MS", "300", 0);
  signal(SIGABRT, fr_on_signal);
  /* The write callback refuses a piece four times, each unpaused from the
   * other transfer's progress callback: the refused bytes come again each
   * time, and both bodies are whole and the ones served. */
  fr_run_both("ext-pause-write-again-other", &with, &without);
  CHECK(with.pauses == 4 && with.unpauses_cb == 4);
  CHECK(with.refused_again == 4 && with.ok == 2 && with.bodies_checked == 2);
  CHECK(without.pauses == 0 && without.unpauses == 0 &&
        without.refused_again == 0 && without.ok == 2);
  /* Refused by the loop's unpause; by the socket/timer callback's, a
   * header line this time. */
  fr_run_both("ext-pause-write-loop", &with, &without);
  CHECK(with.pauses == 1 && with.refused_again == 1 && with.ok == 1);
  CHECK(without.pauses == 0 && without.ok == 1);
  fr_run_both("ext-pause-header-sock", &with, &without);
  CHECK(with.pauses == 1 && with.unpauses_sock + with.unpauses_idle == 1 &&
        with.refused_again == 1 && with.ok == 1);
  CHECK(without.pauses == 0 && without.unpauses_sock == 0);
  /* READFUNC_PAUSE, then xfer_easy_pause(SEND) from the read callback:
   * the bodies still arrive whole (the server checks every byte). */
  fr_run_both("ext-pause-read-loop-perform", &with, &without);
  CHECK(with.pauses == 1 && with.ok == 1 && with.body_requests == 1);
  fr_run_both("ext-pause-read-api-sock", &with, &without);
  CHECK(with.api_pauses == 4 && with.unpauses == 4 && with.ok == 1);
  CHECK(without.api_pauses == 0 && without.ok == 1);
  /* Never unpaused: left paused at the end, removed; the other one ends. */
  fr_run_both("ext-pause-never", &with, &without);
  CHECK(with.left_paused == 1 && with.ok == 1);
  CHECK(without.left_paused == 0 && without.ok == 2);
  /* The loop's own pause (RECV then SEND) and CONT. */
  fr_run_both("ext-pause-loop-switch-upload", &with, &without);
  CHECK(with.loop_pauses == 1 && with.unpauses == 1 && with.ok == 1);
  CHECK(without.loop_pauses == 0);
  /* The receive limit: the transfer is checked against it. */
  fr_run_both("ext-pause-rate-recv", &with, &without);
  CHECK(with.ext_setopts == 2 && with.rate_checked == 1 && with.ok == 1);
  CHECK(without.rate_checked == 0 && without.ok == 1);
}

/* One engine seed: the changes of engine_stats. */
static struct engine_stats fr_run_one(const char *name) {
  struct engine_stats before = engine_stats, d;
  size_t n, i, words = sizeof(d) / sizeof(unsigned long);
  uint8_t *b = fr_load_engine(name, &n);
  unsigned long *w, *p;
  snprintf(fr_current, sizeof(fr_current), "fuzz_engine/%s", name);
  engine_run(b, n);
  d = engine_stats;
  w = (unsigned long *)&d;
  p = (unsigned long *)&before;
  for (i = 0; i < words; i++) w[i] -= p[i];
  free(b);
  fr_current[0] = 0;
  return d;
}

/* The promise for HTTP/2: malformed frames, HPACK bombs and
 * header lists over 100 KiB end with 16 or 92, and nothing else on the
 * connection is affected beyond what the protocol requires. */
TEST(engine_h2_outcomes) {
  struct engine_stats d;
  setenv("XFER_FUZZ_BUDGET_MS", "300", 0);
  signal(SIGABRT, fr_on_signal);
  d = fr_run_one("h2-four-interleaved");
  CHECK(d.h2_runs == 1 && d.h2_conns == 1 && d.h2_requests == 4);
  CHECK(d.ok == 4 && d.h2_bodies_checked == 4);
  /* A stream's header list over the limit, by the dynamic table or by
   * plain fields: that stream fails (92), the other one succeeds. */
  d = fr_run_one("h2-hpack-bomb");
  CHECK(d.results[XFERE_HTTP2_STREAM] == 1 && d.ok == 1);
  d = fr_run_one("h2-header-list-over-100k");
  CHECK(d.results[XFERE_HTTP2_STREAM] == 1 && d.ok == 1);
  /* A reset stream, a malformed status, a short body: the same. */
  d = fr_run_one("h2-rst-one");
  CHECK(d.results[XFERE_HTTP2_STREAM] == 1 && d.ok == 1);
  d = fr_run_one("h2-bad-status");
  CHECK(d.results[XFERE_HTTP2_STREAM] == 1 && d.ok == 1);
  d = fr_run_one("h2-cl-mismatch");
  CHECK(d.results[XFERE_HTTP2_STREAM] == 1 && d.ok == 1);
  /* Header blocks in too many CONTINUATIONs: the connection fails. */
  d = fr_run_one("h2-continuation-flood");
  CHECK(d.results[XFERE_HTTP2] == 2);
  /* GOAWAY: the stream it keeps ends, the other one is sent again on a
   * new connection; GOAWAY for all, twice: refused (92). */
  d = fr_run_one("h2-goaway-last1");
  CHECK(d.ok == 2 && d.h2_conns == 2);
  d = fr_run_one("h2-goaway-error-close");
  CHECK(d.results[XFERE_HTTP2_STREAM] == 3);
  /* A write callback that fails its stream leaves the other alone. */
  d = fr_run_one("h2-wcb-fail-other-ok");
  CHECK(d.results[XFERE_WRITE_ERROR] == 1 && d.ok == 1);
}

/* The input format (fuzz/engine_input.h): the extension block is found
 * wherever it is, is not a response, reads as zero where it is short or
 * absent, and reserved bits are reported. */
static struct engine_input fr_in;

static void fr_decode(const char *bytes, size_t n) {
  CHECK(engine_input_decode(&fr_in, (const uint8_t *)bytes, n) == 0);
}

#define FR_HDR "\x01\x00\x00" "\x02\x00\x00\x00" "\x00\x00\x00\x00" \
               "\x00\x00\x00\x00" "\x00\x00\x00\x00"
#define FR_DECODE(lit) fr_decode(lit, sizeof(lit) - 1)

TEST(engine_input_format) {
  char why[200];
  int i;
  CHECK(engine_input_decode(&fr_in, (const uint8_t *)FR_HDR, 18) == -1);
  FR_DECODE(FR_HDR);
  CHECK(fr_in.ntx == 2 && fr_in.tx[0].a == 2 && fr_in.nresp == 0 &&
        !fr_in.ext);
  FR_DECODE(FR_HDR "\x01R0" ENGINE_SEP "\x02R1");
  CHECK(fr_in.nresp == 2 && !fr_in.ext && fr_in.resp[1].ctl == 2 &&
        fr_in.resp[1].len == 2 && memcmp(fr_in.resp[1].p, "R1", 2) == 0);
  CHECK(!engine_input_reserved(&fr_in, why, sizeof(why)));
  /* Last, first, in between: the same block, never a response. */
  FR_DECODE(FR_HDR "\x01R0" ENGINE_SEP "\x02R1" ENGINE_SEP "EXT1"
            "\x00\x00\x00\x00" "\x01\x00\x00\x00\x00\x00\x00\x00"
            "\x10");
  CHECK(fr_in.nresp == 2 && fr_in.ext && fr_in.tx[0].x[0] == EX0_HTTPGET &&
        fr_in.tx[1].x[0] == EX0_UNRESTRICTED_AUTH && fr_in.tx[1].x[1] == 0 &&
        fr_in.tx[3].x[7] == 0);
  CHECK(!engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1\x00\x00\x00\x00\x05" ENGINE_SEP "\x01R0");
  CHECK(fr_in.nresp == 1 && fr_in.resp[0].ctl == 1 && fr_in.ext &&
        fr_in.tx[0].x[0] == 5);
  FR_DECODE(FR_HDR "\x01R0" ENGINE_SEP "EXT1" ENGINE_SEP "\x02R1");
  CHECK(fr_in.nresp == 2 && fr_in.resp[1].ctl == 2 && fr_in.ext);
  for (i = 0; i < ENGINE_MAX_TX; i++)
    CHECK(fr_in.tx[i].x[0] == 0);
  /* A marker inside a response is only bytes. */
  FR_DECODE(FR_HDR "\x01R0EXT1\x7f");
  CHECK(fr_in.nresp == 1 && fr_in.resp[0].len == 7 && !fr_in.ext);
  /* Reserved: bit 7 of x0, bits 4-7 of x3, x4, xg, bytes past the
   * block, a second block.  x1, x2 and x3 bits 0-3 are pause's. */
  FR_DECODE(FR_HDR "EXT1\x00\x00\x00\x00\x80");
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1\x00\x00\x00\x00\x00\xff\xff\x0f");
  CHECK(!engine_input_reserved(&fr_in, why, sizeof(why)));
  CHECK(fr_in.tx[0].x[1] == 0xff && fr_in.tx[0].x[3] == 0x0f);
  FR_DECODE(FR_HDR "EXT1\x00\x00\x00\x00\x00\x00\x00\x10");
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1\x00\x00\x00\x00\x00\x00\x00\x00\x01");
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1\x00\x00\x01");
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
  /* xg0: bits 0-4 are HTTP/2's, 5-7 reserved. */
  FR_DECODE(FR_HDR "EXT1\x1f");
  CHECK(!engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1\x20");
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1" "0123456789abcdef0123456789abcdef0123" "\x00\x00");
  CHECK(fr_in.ext_more_len == 2);
  FR_DECODE(FR_HDR "EXT1" "\x00\x00\x00\x00\x00\x00\x00\x00"
            "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
            "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
            "\x00\x00\x00\x00" "\x00\x09");
  CHECK(fr_in.ext_more_len == 2);
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
  FR_DECODE(FR_HDR "EXT1" ENGINE_SEP "EXT1");
  CHECK(fr_in.ext && fr_in.ext_again == 1 && fr_in.nresp == 0);
  CHECK(engine_input_reserved(&fr_in, why, sizeof(why)));
}
