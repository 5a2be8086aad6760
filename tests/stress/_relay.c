// A lossy link between two network namespaces, in userspace: one TUN device
// in each namespace, and every IP packet read from one is written to the
// other after a random delay, or dropped, duplicated or held back so that
// later packets overtake it. Decisions come from a seeded PRNG (the same seed
// and the same packet arrivals give the same decisions) and every one is
// counted. Built with gcc by tests/stress/faults_stress.ts at run time; needs
// root (setns, /dev/net/tun). No netem needed.
//
//   relay NS_A_PATH NS_B_PATH IFNAME key=value...
//
// keys (rates in parts per million, times in microseconds):
//   seed loss dup reorder delay_min delay_max hold_min hold_max lifetime_ms
//
// The TUN devices are not persistent: they vanish when the relay exits, on
// any path. The relay exits on "quit", at EOF on stdin (its parent died),
// on SIGTERM/SIGINT/SIGHUP, or after lifetime_ms. Commands on stdin, one a
// line: "stats" prints the counters as one JSON line on stdout; "quit"
// prints them and exits. The first line on stdout is {"ready":true} once
// both devices exist.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT 2048
#define SLOTS 16384
#define BURST 64

typedef struct {
  uint64_t rx, rx_bytes, dropped, duplicated, held, reordered, tx, tx_bytes,
      overflow, write_errors, tcp, udp, other;
} dir_stats;

typedef struct {
  uint64_t due;   // delivery time, ns on CLOCK_MONOTONIC
  uint64_t order; // insertion order: ties leave in arrival order
  uint64_t seq;   // arrival number in its direction (reorder accounting)
  int dir;        // 0: A to B, 1: B to A
  int slot;       // index into the buffer pool
  int len;
  int udp_port;   // destination port of a UDP packet, else -1
} entry;

static uint64_t rng_state;
static uint64_t rng(void) { // splitmix64
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static int chance(uint64_t ppm) { return ppm > 0 && rng() % 1000000 < ppm; }
static uint64_t between(uint64_t lo, uint64_t hi) { // inclusive, in us
  return hi <= lo ? lo : lo + rng() % (hi - lo + 1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned char *pool;
static int free_slots[SLOTS], nfree;
static entry heap[2 * SLOTS];
static int nheap;
static uint64_t orders;

static int before(const entry *a, const entry *b) {
  return a->due != b->due ? a->due < b->due : a->order < b->order;
}
static void heap_push(entry e) {
  int i = nheap++;
  heap[i] = e;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!before(&heap[i], &heap[p])) break;
    entry t = heap[i];
    heap[i] = heap[p];
    heap[p] = t;
    i = p;
  }
}
static entry heap_pop(void) {
  entry top = heap[0];
  heap[0] = heap[--nheap];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < nheap && before(&heap[l], &heap[m])) m = l;
    if (r < nheap && before(&heap[r], &heap[m])) m = r;
    if (m == i) break;
    entry t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
  return top;
}

// Copies of one packet share its slot; it is freed when the last one leaves.
static int slot_refs[SLOTS];

static dir_stats st[2];
static uint64_t udp_rx[65536], udp_dropped[65536], udp_dup[65536],
    udp_tx[65536];
static uint64_t arrivals[2], max_delivered[2], last_due[2];
static int any_delivered[2];
static uint64_t loss_ppm, dup_ppm, reorder_ppm, delay_min, delay_max, hold_min, hold_max;
static uint64_t started;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void print_stats(FILE *out) {
  fprintf(out, "{\"uptime_ms\":%llu,\"queued\":%d",
          (unsigned long long)((now_ns() - started) / 1000000), nheap);
  const char *names[2] = {"a2b", "b2a"};
  for (int d = 0; d < 2; d++) {
    dir_stats *s = &st[d];
    fprintf(out,
            ",\"%s\":{\"rx\":%llu,\"rx_bytes\":%llu,\"dropped\":%llu,"
            "\"duplicated\":%llu,\"held\":%llu,\"reordered\":%llu,"
            "\"tx\":%llu,\"tx_bytes\":%llu,\"overflow\":%llu,"
            "\"write_errors\":%llu,\"tcp\":%llu,\"udp\":%llu,\"other\":%llu}",
            names[d], (unsigned long long)s->rx,
            (unsigned long long)s->rx_bytes, (unsigned long long)s->dropped,
            (unsigned long long)s->duplicated, (unsigned long long)s->held,
            (unsigned long long)s->reordered, (unsigned long long)s->tx,
            (unsigned long long)s->tx_bytes, (unsigned long long)s->overflow,
            (unsigned long long)s->write_errors, (unsigned long long)s->tcp,
            (unsigned long long)s->udp, (unsigned long long)s->other);
  }
  fprintf(out, ",\"udp_ports\":{");
  int first = 1;
  for (int p = 0; p < 65536; p++) {
    if (udp_rx[p] == 0) continue;
    fprintf(out, "%s\"%d\":{\"rx\":%llu,\"dropped\":%llu,\"duplicated\":%llu,"
                 "\"tx\":%llu}",
            first ? "" : ",", p, (unsigned long long)udp_rx[p],
            (unsigned long long)udp_dropped[p], (unsigned long long)udp_dup[p],
            (unsigned long long)udp_tx[p]);
    first = 0;
  }
  fprintf(out, "}}\n");
  fflush(out);
}

static int open_tun(const char *ns_path, const char *name) {
  int nsfd = open(ns_path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    fprintf(stderr, "open %s: %s\n", ns_path, strerror(errno));
    exit(2);
  }
  if (setns(nsfd, CLONE_NEWNET) < 0) {
    fprintf(stderr, "setns %s: %s\n", ns_path, strerror(errno));
    exit(2);
  }
  close(nsfd);
  // The device is made in the namespace the opener is in at TUNSETIFF.
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "open /dev/net/tun: %s\n", strerror(errno));
    exit(2);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "TUNSETIFF %s in %s: %s\n", name, ns_path,
            strerror(errno));
    exit(2);
  }
  return fd;
}

// What the relay does with one packet read from direction `d`.
static void take(int d, int slot, int len, uint64_t now) {
  unsigned char *p = pool + (size_t)slot * MAX_PKT;
  dir_stats *s = &st[d];
  s->rx++;
  s->rx_bytes += (uint64_t)len;
  int port = -1;
  if (len >= 20 && (p[0] >> 4) == 4) {
    int ihl = (p[0] & 15) * 4;
    int frag = ((p[6] & 0x1f) << 8 | p[7]) != 0 || (p[6] & 0x20);
    if (p[9] == 6) s->tcp++;
    else if (p[9] == 17) {
      s->udp++;
      if (!frag && len >= ihl + 4) port = p[ihl + 2] << 8 | p[ihl + 3];
    } else s->other++;
  } else s->other++;
  if (port >= 0) udp_rx[port]++;
  uint64_t seq = arrivals[d]++;
  if (chance(loss_ppm)) {
    s->dropped++;
    if (port >= 0) udp_dropped[port]++;
    free_slots[nfree++] = slot;
    return;
  }
  // Each packet is delayed, in order: none leaves before one that came
  // earlier (a FIFO with jitter).
  uint64_t due = now + between(delay_min, delay_max) * 1000;
  if (due < last_due[d]) due = last_due[d];
  if (chance(reorder_ppm)) {
    // Held back on top of that, out of the FIFO: later packets overtake it.
    s->held++;
    due += between(hold_min, hold_max) * 1000;
  } else {
    last_due[d] = due;
  }
  int copies = 1;
  if (chance(dup_ppm)) {
    s->duplicated++;
    if (port >= 0) udp_dup[port]++;
    copies = 2;
  }
  slot_refs[slot] = copies;
  entry e = {due, orders++, seq, d, slot, len, port};
  heap_push(e);
  if (copies == 2) {
    e.due = due + between(0, delay_max) * 1000;
    e.order = orders++;
    heap_push(e);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: relay NS_A_PATH NS_B_PATH IFNAME key=value...\n");
    return 2;
  }
  uint64_t seed = 1, lifetime_ms = 600000;
  delay_min = 1000;
  delay_max = 20000;
  hold_min = 5000;
  hold_max = 30000;
  for (int i = 4; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) {
      fprintf(stderr, "bad argument %s\n", argv[i]);
      return 2;
    }
    *eq = 0;
    uint64_t v = strtoull(eq + 1, NULL, 10);
    const char *k = argv[i];
    if (!strcmp(k, "seed")) seed = v;
    else if (!strcmp(k, "loss")) loss_ppm = v;
    else if (!strcmp(k, "dup")) dup_ppm = v;
    else if (!strcmp(k, "reorder")) reorder_ppm = v;
    else if (!strcmp(k, "delay_min")) delay_min = v;
    else if (!strcmp(k, "delay_max")) delay_max = v;
    else if (!strcmp(k, "hold_min")) hold_min = v;
    else if (!strcmp(k, "hold_max")) hold_max = v;
    else if (!strcmp(k, "lifetime_ms")) lifetime_ms = v;
    else {
      fprintf(stderr, "unknown key %s\n", k);
      return 2;
    }
  }
  rng_state = seed;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  pool = malloc((size_t)SLOTS * MAX_PKT);
  if (!pool) return 2;
  for (int i = SLOTS - 1; i >= 0; i--) free_slots[nfree++] = i;

  int tun[2];
  tun[0] = open_tun(argv[1], argv[3]);
  tun[1] = open_tun(argv[2], argv[3]);
  started = now_ns();
  uint64_t end = started + lifetime_ms * 1000000ULL;
  printf("{\"ready\":true}\n");
  fflush(stdout);

  char cmd[256];
  size_t cmdlen = 0;
  int stdin_open = 1;
  while (!stop && stdin_open) {
    uint64_t now = now_ns();
    if (now >= end) {
      fprintf(stderr, "relay: lifetime over\n");
      break;
    }
    // Deliver what is due.
    while (nheap > 0 && heap[0].due <= now) {
      entry e = heap_pop();
      dir_stats *s = &st[e.dir];
      unsigned char *p = pool + (size_t)e.slot * MAX_PKT;
      if (write(tun[1 - e.dir], p, (size_t)e.len) == e.len) {
        s->tx++;
        s->tx_bytes += (uint64_t)e.len;
        if (e.udp_port >= 0) udp_tx[e.udp_port]++;
      } else {
        s->write_errors++;
      }
      if (any_delivered[e.dir] && e.seq < max_delivered[e.dir]) s->reordered++;
      if (!any_delivered[e.dir] || e.seq > max_delivered[e.dir]) {
        max_delivered[e.dir] = e.seq;
      }
      any_delivered[e.dir] = 1;
      if (--slot_refs[e.slot] == 0) free_slots[nfree++] = e.slot;
    }
    uint64_t wait = end - now;
    if (nheap > 0 && heap[0].due - now < wait) wait = heap[0].due - now;
    struct timespec ts = {(time_t)(wait / 1000000000ULL),
                          (long)(wait % 1000000000ULL)};
    struct pollfd pfd[3] = {{tun[0], POLLIN, 0}, {tun[1], POLLIN, 0},
                            {0, POLLIN, 0}};
    int n = ppoll(pfd, 3, &ts, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("ppoll");
      break;
    }
    now = now_ns();
    for (int d = 0; d < 2; d++) {
      if (!(pfd[d].revents & POLLIN)) continue;
      for (int k = 0; k < BURST; k++) {
        if (nfree == 0) {
          // Full: read and drop, so the link never stalls.
          unsigned char junk[MAX_PKT];
          if (read(tun[d], junk, sizeof junk) <= 0) break;
          st[d].rx++;
          st[d].overflow++;
          continue;
        }
        int slot = free_slots[nfree - 1];
        ssize_t len = read(tun[d], pool + (size_t)slot * MAX_PKT, MAX_PKT);
        if (len <= 0) break;
        nfree--;
        take(d, slot, (int)len, now);
      }
    }
    if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(0, cmd + cmdlen, sizeof cmd - 1 - cmdlen);
      if (r <= 0) {
        stdin_open = 0;
        break;
      }
      cmdlen += (size_t)r;
      char *nl;
      while ((nl = memchr(cmd, '\n', cmdlen)) != NULL) {
        *nl = 0;
        if (!strcmp(cmd, "stats")) print_stats(stdout);
        else if (!strcmp(cmd, "quit")) stop = 1;
        size_t used = (size_t)(nl - cmd) + 1;
        memmove(cmd, nl + 1, cmdlen - used);
        cmdlen -= used;
      }
      if (cmdlen == sizeof cmd - 1) cmdlen = 0;
    }
  }
  print_stats(stdout);
  return 0;
}
