/*
 * heap.h -- the timer min-heap: an array of pointers to nodes embedded in
 * their owners, each node knowing its index, so insert, remove and update are
 * O(log n).  Ties break on a sequence number, so equal deadlines run FIFO.
 * Growing the array is the only allocation; it happens when a handle is added
 * (xfer__heap_reserve), never on the event path.
 */
#ifndef XFER_HEAP_H
#define XFER_HEAP_H

#include <stdint.h>
#include <stddef.h>

struct xfer_timer {
  uint64_t when;   /* monotonic microseconds */
  uint64_t seq;    /* FIFO tie-break */
  uint32_t idx;    /* position + 1 in the heap; 0 = not armed */
  uint8_t kind;    /* owner type, see xfer_int.h */
};

struct xfer_heap {
  struct xfer_timer **a;
  uint32_t n, cap;
  uint64_t seq;
};

int xfer__heap_reserve(struct xfer_heap *h, uint32_t n);
void xfer__heap_free(struct xfer_heap *h);
/* Arms t at `when`, or moves it if armed already.  Never fails when the heap
 * has room (reserve first). */
void xfer__heap_set(struct xfer_heap *h, struct xfer_timer *t, uint64_t when);
void xfer__heap_remove(struct xfer_heap *h, struct xfer_timer *t);
static inline struct xfer_timer *xfer__heap_min(const struct xfer_heap *h) {
  return h->n ? h->a[0] : NULL;
}
static inline int xfer__timer_armed(const struct xfer_timer *t) {
  return t->idx != 0;
}

#endif
