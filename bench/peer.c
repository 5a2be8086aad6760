// The neutral peer the clients are measured against: one thread, epoll,
// non-blocking sockets, three services on 127.0.0.1, each on a port of its own:
//
//   sink (TCP)  reads and discards until EOF, then sends the number of bytes
//               it read (8 bytes, little endian) and closes;
//   echo (TCP)  sends back whatever arrives, until EOF;
//   udp (UDP)   sends every datagram back to its sender.
//
// usage: peer [MAX_SECONDS]
// Prints "ports SINK ECHO UDP" once all three are bound. Exits when its stdin
// closes, or after MAX_SECONDS (default 3600) whatever happens.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { SINK_LISTENER, ECHO_LISTENER, UDP_SOCKET, SINK_CONN, ECHO_CONN, STDIN };

struct endpoint {
  enum kind kind;
  int fd;
  uint64_t bytes;  // read so far, for a sink connection
};

// A large buffer lets the sink empty the socket in few calls, so the peer is
// never what limits a client's bulk rate.
static char buf[1 << 18];
static int ep;

static void fail(const char *what) {
  perror(what);
  exit(1);
}

static int watch(enum kind kind, int fd) {
  struct endpoint *e = calloc(1, sizeof *e);
  if (e == NULL) fail("calloc");
  e->kind = kind;
  e->fd = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = e};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
  free(e);
  return -1;
}

static void drop(struct endpoint *e) {
  close(e->fd);  // closing also removes it from the epoll set
  free(e);
}

static int bound(int type, struct sockaddr_in *a) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
  if (fd < 0) fail("socket");
  a->sin_port = 0;
  socklen_t len = sizeof *a;
  if (bind(fd, (struct sockaddr *)a, len) < 0) fail("bind");
  if (type == SOCK_STREAM && listen(fd, 128) < 0) fail("listen");
  if (getsockname(fd, (struct sockaddr *)a, &len) < 0) fail("getsockname");
  return fd;
}

// Sends all of `n` bytes on a non-blocking socket, waiting up to a second
// whenever its buffer is full. A client that stops reading is dropped, so the
// peer never hangs on it.
static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) return -1;
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    if (poll(&pf, 1, 1000) <= 0) return -1;
  }
  return 0;
}

static void accept_all(struct endpoint *listener) {
  for (;;) {
    int c = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK);
    if (c < 0) return;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (watch(listener->kind == SINK_LISTENER ? SINK_CONN : ECHO_CONN, c) < 0) close(c);
  }
}

static void serve_sink(struct endpoint *e) {
  for (;;) {
    ssize_t n = recv(e->fd, buf, sizeof buf, 0);
    if (n > 0) {
      e->bytes += (uint64_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n == 0) {
      unsigned char count[8];
      for (int i = 0; i < 8; i++) count[i] = (unsigned char)(e->bytes >> (8 * i));
      send_all(e->fd, (const char *)count, sizeof count);
    }
    drop(e);
    return;
  }
}

static void serve_echo(struct endpoint *e) {
  ssize_t n = recv(e->fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0 || send_all(e->fd, buf, (size_t)n) < 0) drop(e);
}

static void serve_udp(struct endpoint *e) {
  for (int i = 0; i < 64; i++) {  // a bounded batch, then back to epoll
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(e->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    if (n < 0) return;
    sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
  }
}

int main(int argc, char **argv) {
  double max_seconds = argc > 1 ? atof(argv[1]) : 3600;
  time_t deadline = time(NULL) + (time_t)max_seconds;
  ep = epoll_create1(0);
  if (ep < 0) fail("epoll_create1");
  struct sockaddr_in sink = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in echo = sink, udp = sink;
  if (watch(SINK_LISTENER, bound(SOCK_STREAM, &sink)) < 0 ||
      watch(ECHO_LISTENER, bound(SOCK_STREAM, &echo)) < 0 ||
      watch(UDP_SOCKET, bound(SOCK_DGRAM, &udp)) < 0)
    fail("epoll_ctl");
  watch(STDIN, 0);  // fails harmlessly when stdin is a file or /dev/null
  printf("ports %d %d %d\n", ntohs(sink.sin_port), ntohs(echo.sin_port), ntohs(udp.sin_port));
  fflush(stdout);
  struct epoll_event evs[64];
  while (time(NULL) < deadline) {
    int n = epoll_wait(ep, evs, 64, 1000);
    for (int i = 0; i < n; i++) {
      struct endpoint *e = evs[i].data.ptr;
      switch (e->kind) {
        case SINK_LISTENER:
        case ECHO_LISTENER: accept_all(e); break;
        case UDP_SOCKET: serve_udp(e); break;
        case SINK_CONN: serve_sink(e); break;
        case ECHO_CONN: serve_echo(e); break;
        case STDIN:
          if (read(0, buf, sizeof buf) <= 0) return 0;  // the harness is done with us
          break;
      }
    }
  }
  return 0;
}
