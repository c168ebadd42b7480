/* heap.c -- the timer min-heap of heap.h. */
#include "heap.h"

#include <stdlib.h>

static int less(const struct xfer_timer *a, const struct xfer_timer *b) {
  if (a->when != b->when) return a->when < b->when;
  return a->seq < b->seq;
}

static void place(struct xfer_heap *h, uint32_t i, struct xfer_timer *t) {
  h->a[i] = t;
  t->idx = i + 1;
}

static void sift_up(struct xfer_heap *h, uint32_t i) {
  struct xfer_timer *t = h->a[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!less(t, h->a[p])) break;
    place(h, i, h->a[p]);
    i = p;
  }
  place(h, i, t);
}

static void sift_down(struct xfer_heap *h, uint32_t i) {
  struct xfer_timer *t = h->a[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && less(h->a[c + 1], h->a[c])) c++;
    if (!less(h->a[c], t)) break;
    place(h, i, h->a[c]);
    i = c;
  }
  place(h, i, t);
}

int xfer__heap_reserve(struct xfer_heap *h, uint32_t n) {
  uint32_t cap;
  struct xfer_timer **a;
  if (n <= h->cap) return 0;
  cap = h->cap ? h->cap : 64;
  while (cap < n) cap *= 2;
  a = realloc(h->a, cap * sizeof(*a));
  if (!a) return -1;
  h->a = a;
  h->cap = cap;
  return 0;
}

void xfer__heap_free(struct xfer_heap *h) {
  free(h->a);
  h->a = NULL;
  h->n = h->cap = 0;
}

void xfer__heap_set(struct xfer_heap *h, struct xfer_timer *t, uint64_t when) {
  if (t->idx) {
    uint32_t i = t->idx - 1;
    int earlier = when < t->when;
    if (when == t->when) return;
    t->when = when;
    if (earlier) sift_up(h, i);
    else sift_down(h, i);
    return;
  }
  t->when = when;
  t->seq = h->seq++;
  place(h, h->n++, t);
  sift_up(h, h->n - 1);
}

void xfer__heap_remove(struct xfer_heap *h, struct xfer_timer *t) {
  uint32_t i;
  struct xfer_timer *last;
  if (!t->idx) return;
  i = t->idx - 1;
  t->idx = 0;
  last = h->a[--h->n];
  if (i == h->n) return;
  place(h, i, last);
  if (i > 0 && less(last, h->a[(i - 1) / 2])) sift_up(h, i);
  else sift_down(h, i);
}
