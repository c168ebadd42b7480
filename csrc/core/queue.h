/*
 * queue.h -- an intrusive circular doubly-linked list (the node lives in its
 * owner), as libuv's src/queue.h.  Insert and remove are O(1) and never fail.
 * An unlinked node points to itself, so "is it queued?" is one compare.
 */
#ifndef XFER_QUEUE_H
#define XFER_QUEUE_H

#include <stddef.h>

struct xfer_queue {
  struct xfer_queue *next, *prev;
};

#define xfer_queue_data(ptr, type, field) \
  ((type *)((char *)(ptr) - offsetof(type, field)))

static inline void xfer_queue_init(struct xfer_queue *q) {
  q->next = q->prev = q;
}
static inline int xfer_queue_empty(const struct xfer_queue *q) {
  return q->next == q;
}
/* A node is linked when it does not point at itself. */
static inline int xfer_queue_linked(const struct xfer_queue *n) {
  return n->next != n;
}
static inline struct xfer_queue *xfer_queue_head(const struct xfer_queue *q) {
  return q->next;
}
static inline struct xfer_queue *xfer_queue_tail(const struct xfer_queue *q) {
  return q->prev;
}
static inline void xfer_queue_insert_tail(struct xfer_queue *h,
                                          struct xfer_queue *n) {
  n->next = h;
  n->prev = h->prev;
  n->prev->next = n;
  h->prev = n;
}
static inline void xfer_queue_insert_head(struct xfer_queue *h,
                                          struct xfer_queue *n) {
  n->next = h->next;
  n->prev = h;
  n->next->prev = n;
  h->next = n;
}
/* Unlinks n and leaves it pointing at itself; safe on an unlinked node. */
static inline void xfer_queue_remove(struct xfer_queue *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}

/* Moves every node of from to the tail of h, in order; from ends empty. */
static inline void xfer_queue_append(struct xfer_queue *h,
                                     struct xfer_queue *from) {
  if (from->next == from) return;
  from->next->prev = h->prev;
  h->prev->next = from->next;
  from->prev->next = h;
  h->prev = from->prev;
  from->next = from->prev = from;
}

#endif
