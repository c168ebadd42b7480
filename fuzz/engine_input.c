/*
 * engine_input.c -- decoding of the engine harness's input; the format and
 * the rule for new options are in engine_input.h.
 */
#include "engine_input.h"

#include <stdio.h>
#include <string.h>

/* The bits of the extension block that have a meaning; all others are
 * reserved.  A new option adds its bits here (engine_input.h). */
static const uint8_t ENGINE_XG_DEFINED[ENGINE_EXT_GLOBAL] = {0x1f, 0, 0, 0};
static const uint8_t ENGINE_XT_DEFINED[ENGINE_EXT_PER_TX] = {0x7f, 0xff, 0xff,
                                                             0x0f, 0,    0,
                                                             0,    0};

static int ei_is_ext(const uint8_t *seg, size_t len) {
  const size_t ml = sizeof(ENGINE_EXT_MARK) - 1;
  return len >= ml && memcmp(seg, ENGINE_EXT_MARK, ml) == 0;
}

static void ei_take_ext(struct engine_input *in, const uint8_t *p,
                        size_t len) {
  uint8_t b[ENGINE_EXT_LEN];
  int i;
  if (in->ext) {
    in->ext_again++;
    return;
  }
  in->ext = 1;
  memset(b, 0, sizeof(b));
  memcpy(b, p, len < sizeof(b) ? len : sizeof(b));
  if (len > sizeof(b)) {
    in->ext_more = p + sizeof(b);
    in->ext_more_len = len - sizeof(b);
  }
  memcpy(in->xg, b, ENGINE_EXT_GLOBAL);
  for (i = 0; i < ENGINE_MAX_TX; i++)
    memcpy(in->tx[i].x, b + ENGINE_EXT_GLOBAL + i * ENGINE_EXT_PER_TX,
           ENGINE_EXT_PER_TX);
}

int engine_input_decode(struct engine_input *in, const uint8_t *data,
                        size_t size) {
  const size_t sl = sizeof(ENGINE_SEP) - 1, ml = sizeof(ENGINE_EXT_MARK) - 1;
  const uint8_t *d;
  size_t n, pos = 0;
  int i;
  memset(in, 0, sizeof(*in));
  if (size < ENGINE_HDR_LEN) return -1;
  in->g0 = data[0];
  in->g1 = data[1];
  in->g2 = data[2];
  in->ntx = (in->g0 & 3) + 1;
  for (i = 0; i < ENGINE_MAX_TX; i++) {
    in->tx[i].a = data[3 + 4 * i];
    in->tx[i].b = data[4 + 4 * i];
    in->tx[i].c = data[5 + 4 * i];
    in->tx[i].d = data[6 + 4 * i];
  }
  d = data + ENGINE_HDR_LEN;
  n = size - ENGINE_HDR_LEN;
  if (n == 0) return 0; /* no segment at all: no response */
  for (;;) {
    const uint8_t *sep = NULL, *seg = d + pos;
    size_t k, seglen;
    for (k = pos; k + sl <= n; k++)
      if (memcmp(d + k, ENGINE_SEP, sl) == 0) {
        sep = d + k;
        break;
      }
    seglen = sep ? (size_t)(sep - seg) : n - pos;
    if (ei_is_ext(seg, seglen)) {
      ei_take_ext(in, seg + ml, seglen - ml);
    } else if (in->nresp < ENGINE_MAX_RESP) {
      struct engine_resp *r = &in->resp[in->nresp++];
      r->ctl = seglen ? seg[0] : 0;
      r->p = seglen ? seg + 1 : seg;
      r->len = seglen ? seglen - 1 : 0;
    }
    if (!sep) break;
    pos = (size_t)(sep - d) + sl;
  }
  return 0;
}

int engine_input_reserved(const struct engine_input *in, char *why,
                          size_t cap) {
  size_t k;
  int i;
  if (cap) why[0] = 0;
  if (!in->ext) return 0;
  if (in->ext_again) {
    snprintf(why, cap, "%d more extension blocks", in->ext_again);
    return 1;
  }
  for (k = 0; k < in->ext_more_len; k++)
    if (in->ext_more[k]) {
      snprintf(why, cap, "extension byte %zu (past the %d defined) is 0x%02x",
               ENGINE_EXT_LEN + k, ENGINE_EXT_LEN, in->ext_more[k]);
      return 1;
    }
  for (k = 0; k < ENGINE_EXT_GLOBAL; k++)
    if (in->xg[k] & ~ENGINE_XG_DEFINED[k]) {
      snprintf(why, cap, "reserved bits 0x%02x of xg%zu",
               in->xg[k] & ~ENGINE_XG_DEFINED[k], k);
      return 1;
    }
  for (i = 0; i < ENGINE_MAX_TX; i++)
    for (k = 0; k < ENGINE_EXT_PER_TX; k++)
      if (in->tx[i].x[k] & ~ENGINE_XT_DEFINED[k]) {
        snprintf(why, cap, "reserved bits 0x%02x of transfer %d's x%zu",
                 in->tx[i].x[k] & ~ENGINE_XT_DEFINED[k], i, k);
        return 1;
      }
  return 0;
}
