#define _GNU_SOURCE  // accept4
// The floor for benchmark 1: a relay that copies bytes between each client connection and
// its own upstream connection, with no parsing, no pooling, no timers. Same loop shape as
// a proxy (one thread, epoll edge-triggered, recv/send with a 16 KiB buffer per direction),
// so its CPU per request is what the kernel's share of a proxied keep-alive request costs.
// Not a product: one upstream, no error reporting, no limits.
//
// With a third argument, `batch`, sends wait until every event of an epoll_wait batch has
// been read, then go out back to back: it tests whether a receiver woken by the first send
// of a batch makes the following ones cheaper (on this machine it does not: 1.03x).
//
//   cc -O2 -o relay_floor bench/relay_floor.c && ./relay_floor LISTEN_PORT UPSTREAM_PORT [batch]
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBuf = 16384 };

struct side {
  int fd;
  struct side* peer;
  char buf[kBuf];  // bytes read from this side, not yet written to the peer
  size_t len, off;
};

static int ep;
static struct side* dead[512];  // pairs dropped in this batch: freed after it (events may name them)
static int ndead;
static int batch;                  // argv[3] == "batch": send after the whole event batch
static struct side* pending[512];  // sides holding a drained read, to send after the batch
static int npending;

static void drop(struct side* s) {
  struct side* p = s->peer;
  close(s->fd);
  close(p->fd);
  s->fd = p->fd = -1;
  dead[ndead++] = s;
  dead[ndead++] = p;
}

// Sends what `s` holds and has not sent (a side can be queued twice in one batch).
static void send_buffered(struct side* s) {
  if (s->off >= s->len) return;
  ssize_t w = send(s->peer->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) drop(s);
  else if (w > 0) s->off += (size_t)w;
}

// Moves what `s` has buffered to its peer, then reads more from `s` until EAGAIN or the
// peer's socket is full.
static void pump(struct side* s) {
  while (s->fd >= 0) {
    if (s->off < s->len) {
      ssize_t n = send(s->peer->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) drop(s);
        return;  // the peer's EPOLLOUT resumes us
      }
      s->off += (size_t)n;
      if (s->off < s->len) return;
    }
    ssize_t n = recv(s->fd, s->buf, kBuf, 0);
    if (n <= 0) {
      if (n == 0 || errno != EAGAIN) drop(s);
      return;
    }
    s->len = (size_t)n;
    s->off = 0;
    if ((size_t)n < kBuf) {  // short read: drained; write it and wait for the next edge
      if (batch) pending[npending++] = s;
      else send_buffered(s);
      return;
    }
  }
}

static void watch(struct side* s) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s};
  epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) return 2;
  batch = argc == 4 && strcmp(argv[3], "batch") == 0;
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &ua.sin_addr);
  int one = 1;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr*)&la, sizeof la) || listen(lfd, 4096)) return 1;
  ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      struct side* s = evs[i].data.ptr;
      if (!s) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int u = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          connect(u, (struct sockaddr*)&ua, sizeof ua);  // EINPROGRESS: writable when connected
          struct side* a = calloc(1, sizeof *a);
          struct side* b = calloc(1, sizeof *b);
          a->fd = c, b->fd = u, a->peer = b, b->peer = a;
          watch(a);
          watch(b);
        }
        continue;
      }
      if (s->fd < 0) continue;
      if (evs[i].events & EPOLLOUT) pump(s->peer);  // room again: flush what the peer holds
      if (s->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) pump(s);
    }
    for (int k = 0; k < npending; ++k)  // at most 2 per event: 256 events, 512 slots
      if (pending[k]->fd >= 0) send_buffered(pending[k]);
    npending = 0;
    while (ndead) free(dead[--ndead]);
  }
}
