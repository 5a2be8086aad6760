// The C client: plain blocking libc calls, the floor the other clients are
// compared with.
//
// usage: client bulk PORT MIB | client tcp PORT TRIPS | client udp PORT TRIPS
//
// bulk: sends MIB MiB in 64 KiB send()s to the peer's sink, shuts down
//       writing and waits for the sink's 8-byte count; prints bulk_mib_s.
// tcp:  TRIPS 64-byte round trips with the peer's echo; prints tcp_rtt_us.
// udp:  TRIPS 64-byte round trips over a connected UDP socket; prints
//       udp_rtt_us.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int die(const char *what) {
  perror(what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: client bulk|tcp|udp PORT AMOUNT\n");
    return 2;
  }
  const char *mode = argv[1];
  long amount = atol(argv[3]);
  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  static char buf[65536];
  memset(buf, 'x', sizeof buf);
  int udp = strcmp(mode, "udp") == 0;
  int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) return die("socket");
  if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) return die("connect");
  if (!udp) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  if (strcmp(mode, "bulk") == 0) {
    long total = amount * 1048576;
    double t0 = seconds();
    for (long sent = 0; sent < total;) {
      ssize_t w = send(fd, buf, sizeof buf, 0);
      if (w <= 0) return die("send");
      sent += w;
    }
    shutdown(fd, SHUT_WR);
    unsigned char count[8];
    if (recv(fd, count, sizeof count, MSG_WAITALL) != 8) return die("recv count");
    double dt = seconds() - t0;
    uint64_t seen = 0;
    for (int i = 7; i >= 0; i--) seen = seen << 8 | count[i];
    if (seen != (uint64_t)total) {
      fprintf(stderr, "the sink saw %llu of %ld bytes\n", (unsigned long long)seen, total);
      return 1;
    }
    printf("bulk_mib_s %.1f\n", (double)amount / dt);
  } else if (strcmp(mode, "tcp") == 0 || udp) {
    double t0 = seconds();
    for (long i = 0; i < amount; i++) {
      if (send(fd, buf, 64, 0) != 64) return die("send");
      if (udp) {
        if (recv(fd, buf, sizeof buf, 0) != 64) return die("recv");
        continue;
      }
      for (ssize_t got = 0; got < 64;) {
        ssize_t n = recv(fd, buf + got, (size_t)(64 - got), 0);
        if (n <= 0) return die("recv");
        got += n;
      }
    }
    printf("%s %.2f\n", udp ? "udp_rtt_us" : "tcp_rtt_us", (seconds() - t0) / (double)amount * 1e6);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  close(fd);
  return 0;
}
