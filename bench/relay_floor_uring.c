#define _GNU_SOURCE
// relay_floor.c's relay on io_uring instead of epoll: multishot accept, multishot recv into
// a provided-buffer ring, send from that buffer, buffer returned when the send completes.
// It answers one question: how much of the kernel's share of a proxied keep-alive request
// is readiness notification and system-call entry (what io_uring removes), and how much is
// TCP itself (what no event API removes). Not a product: one upstream, no limits.
//
//   cc -O2 -o relay_floor_uring bench/relay_floor_uring.c -luring
//   ./relay_floor_uring LISTEN_PORT UPSTREAM_PORT
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBufSize = 16384, kBufCount = 512, kGroup = 1, kQueue = 8 };
enum { kAccept = 1, kRecv = 2, kSend = 3 };

struct side {
  int fd;
  struct side* peer;
  // Buffers received on this side and not yet fully sent to the peer, in order: a send is
  // in flight only for the first, so bytes keep their order on the wire.
  uint16_t queue[kQueue];
  uint32_t queued_len[kQueue];
  int head, count;
  uint32_t sent;  // bytes of queue[head] already sent
};

static struct io_uring ring;
static struct io_uring_buf_ring* buf_ring;
static char* buffers;
static struct sockaddr_in upstream;

static uint64_t tag(void* p, int op) { return (uint64_t)(uintptr_t)p | (uint64_t)op; }

static struct io_uring_sqe* sqe(void) {
  struct io_uring_sqe* e = io_uring_get_sqe(&ring);
  if (!e) {
    io_uring_submit(&ring);
    e = io_uring_get_sqe(&ring);
  }
  return e;
}

static void arm_recv(struct side* s) {
  struct io_uring_sqe* e = sqe();
  io_uring_prep_recv_multishot(e, s->fd, NULL, 0, 0);
  e->flags |= IOSQE_BUFFER_SELECT;
  e->buf_group = kGroup;
  io_uring_sqe_set_data64(e, tag(s, kRecv));
}

static void give_back(uint16_t bid) {
  io_uring_buf_ring_add(buf_ring, buffers + (size_t)bid * kBufSize, kBufSize, bid,
                        io_uring_buf_ring_mask(kBufCount), 0);
  io_uring_buf_ring_advance(buf_ring, 1);
}

// Sends the rest of the first queued buffer of `s` to its peer.
static void send_head(struct side* s) {
  uint16_t bid = s->queue[s->head];
  struct io_uring_sqe* e = sqe();
  io_uring_prep_send(e, s->peer->fd, buffers + (size_t)bid * kBufSize + s->sent,
                     s->queued_len[s->head] - s->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(e, tag(s, kSend));
}

static void drop(struct side* s) {
  // Both fds close; in-flight requests on them complete with errors and are ignored
  // (the pair is leaked on purpose: a floor benchmark never drops connections mid-run).
  if (s->fd < 0) return;
  shutdown(s->fd, SHUT_RDWR);
  shutdown(s->peer->fd, SHUT_RDWR);
  close(s->fd);
  close(s->peer->fd);
  s->fd = s->peer->fd = -1;
}

static void on_accept(int fd) {
  int one = 1;
  int u = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(u, (struct sockaddr*)&upstream, sizeof upstream) != 0) {  // loopback: immediate
    close(fd);
    close(u);
    return;
  }
  struct side* a = calloc(1, sizeof *a);
  struct side* b = calloc(1, sizeof *b);
  a->fd = fd, b->fd = u, a->peer = b, b->peer = a;
  arm_recv(a);
  arm_recv(b);
}

static void on_recv(struct side* s, struct io_uring_cqe* c) {
  if (c->res > 0 && (c->flags & IORING_CQE_F_BUFFER)) {
    uint16_t bid = (uint16_t)(c->flags >> IORING_CQE_BUFFER_SHIFT);
    if (s->fd < 0 || s->count == kQueue) {
      give_back(bid);
      if (s->fd >= 0) drop(s);
      return;
    }
    int slot = (s->head + s->count) % kQueue;
    s->queue[slot] = bid;
    s->queued_len[slot] = (uint32_t)c->res;
    if (s->count++ == 0) {
      s->sent = 0;
      send_head(s);
    }
  } else if (c->res == -ENOBUFS && s->fd >= 0) {
    // Out of buffers: the multishot ended; the sends in flight return some.
  } else if (c->res <= 0 && c->res != -ENOBUFS) {
    drop(s);
    return;
  }
  if (!(c->flags & IORING_CQE_F_MORE) && s->fd >= 0) arm_recv(s);
}

static void on_send(struct side* s, struct io_uring_cqe* c) {
  if (s->count == 0) return;
  if (c->res <= 0 || s->fd < 0) {
    while (s->count) {
      give_back(s->queue[s->head]);
      s->head = (s->head + 1) % kQueue;
      --s->count;
    }
    drop(s);
    return;
  }
  s->sent += (uint32_t)c->res;
  if (s->sent < s->queued_len[s->head]) {
    send_head(s);
    return;
  }
  give_back(s->queue[s->head]);
  s->head = (s->head + 1) % kQueue;
  s->sent = 0;
  if (--s->count) send_head(s);
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  upstream = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &upstream.sin_addr);
  int one = 1;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr*)&la, sizeof la) || listen(lfd, 4096)) return 1;

  struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
  if (io_uring_queue_init_params(1024, &ring, &p) < 0) {
    fprintf(stderr, "io_uring_queue_init_params failed\n");
    return 1;
  }
  size_t ring_bytes = kBufCount * sizeof(struct io_uring_buf);
  buf_ring = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)buf_ring, .ring_entries = kBufCount,
                                 .bgid = kGroup};
  if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) {
    fprintf(stderr, "io_uring_register_buf_ring failed\n");
    return 1;
  }
  io_uring_buf_ring_init(buf_ring);
  buffers = malloc((size_t)kBufCount * kBufSize);
  for (int i = 0; i < kBufCount; ++i) give_back((uint16_t)i);

  struct io_uring_sqe* e = sqe();
  io_uring_prep_multishot_accept(e, lfd, NULL, NULL, 0);
  io_uring_sqe_set_data64(e, tag(NULL, kAccept));
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    struct io_uring_cqe* c;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, c) {
      ++seen;
      int op = (int)(c->user_data & 7);
      struct side* s = (struct side*)(uintptr_t)(c->user_data & ~(uint64_t)7);
      if (op == kAccept) {
        if (c->res >= 0) on_accept(c->res);
        if (!(c->flags & IORING_CQE_F_MORE)) {
          e = sqe();
          io_uring_prep_multishot_accept(e, lfd, NULL, NULL, 0);
          io_uring_sqe_set_data64(e, tag(NULL, kAccept));
        }
      } else if (op == kRecv) {
        on_recv(s, c);
      } else if (op == kSend) {
        on_send(s, c);
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
