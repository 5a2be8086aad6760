// The load generator for the echo servers: CONNS connections to
// 127.0.0.1:PORT, each with one 64-byte request in flight at a time. Every
// echo is checked byte for byte (each request carries its connection and
// sequence number).
//
// usage: loadgen PORT CONNS SECONDS WARMUP [SERVER_PID]
//
// Connects everything, runs WARMUP seconds uncounted (so JIT compilers have
// done their work), then counts SECONDS. With SERVER_PID it reads the
// server's CPU time (user+sys, all threads, /proc/PID/stat) at both ends of
// the counted window. Prints one line:
//   req_s R requests N seconds S server_cpu_s C
// (C is -1 without SERVER_PID). Exits non-zero if a connection fails or an
// echo is wrong.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

struct conn {
  int fd;
  uint32_t index, seq;
  size_t got;
  unsigned char sent[MSG], back[MSG];
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// utime + stime of every thread of `pid`, in seconds; -1 if unreadable.
static double cpu_seconds(long pid) {
  if (pid <= 0) return -1;
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  // The command name (field 2) may hold spaces and parentheses: count fields
  // from the last ')'. utime and stime are fields 14 and 15.
  char *p = strrchr(text, ')');
  unsigned long long utime, stime;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int send_request(struct conn *c) {
  memset(c->sent, 'a' + (c->index + c->seq) % 26, MSG);
  memcpy(c->sent, &c->index, 4);
  memcpy(c->sent + 4, &c->seq, 4);
  c->got = 0;
  return send(c->fd, c->sent, MSG, MSG_NOSIGNAL) == MSG ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: loadgen PORT CONNS SECONDS WARMUP [SERVER_PID]\n");
    return 2;
  }
  int nconns = atoi(argv[2]);
  double seconds = atof(argv[3]), warmup = atof(argv[4]);
  long server = argc > 5 ? atol(argv[5]) : 0;
  if (nconns <= 0 || seconds <= 0 || warmup < 0) return 2;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct conn *conns = calloc((size_t)nconns, sizeof *conns);
  int ep = epoll_create1(0);
  if (conns == NULL || ep < 0) return 1;
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    c->index = (uint32_t)i;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    // A connect that the server never answers fails after 5 s, not never.
    struct timeval limit = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
      perror("connect");
      return 1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) return 1;
  }
  for (int i = 0; i < nconns; i++) {
    if (send_request(&conns[i]) < 0) {
      perror("send");
      return 1;
    }
  }

  long counted = 0;
  int counting = warmup == 0;
  double start = now(), window = start + warmup, end = window + seconds;
  double cpu0 = counting ? cpu_seconds(server) : 0;
  struct epoll_event evs[256];
  for (double t = start; t < end; t = now()) {
    if (!counting && t >= window) {
      counting = 1;
      counted = 0;
      window = t;
      cpu0 = cpu_seconds(server);
    }
    int n = epoll_wait(ep, evs, 256, 50);
    if (n < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      ssize_t r = recv(c->fd, c->back + c->got, MSG - c->got, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        fprintf(stderr, "connection %u: %s\n", c->index, r == 0 ? "closed by the server" : strerror(errno));
        return 1;
      }
      c->got += (size_t)r;
      if (c->got < MSG) continue;
      if (memcmp(c->sent, c->back, MSG) != 0) {
        fprintf(stderr, "connection %u: wrong echo of request %u\n", c->index, c->seq);
        return 1;
      }
      counted++;
      c->seq++;
      if (send_request(c) < 0) {
        perror("send");
        return 1;
      }
    }
  }
  double cpu1 = cpu_seconds(server), dt = now() - window;
  double cpu = cpu0 < 0 || cpu1 < 0 ? -1 : cpu1 - cpu0;
  for (int i = 0; i < nconns; i++) close(conns[i].fd);
  printf("req_s %.0f requests %ld seconds %.3f server_cpu_s %.3f\n", (double)counted / dt, counted, dt, cpu);
  return 0;
}
