// In-kernel TCP relay experiment: accept a client, connect to the upstream, put both sockets into a
// BPF SOCKHASH with an sk_skb VERDICT program (relay.bpf.o) that redirects every received skb to the
// peer socket's egress. User space only does accept/connect/teardown.
//   ./sockmap-relay <listenPort> <upstreamPort>
// env: INSERT_DELAY_MS=n  sleep n ms between connect() and map insertion (test for data arriving early)
//      FLUSH=1            after insertion, read() whatever is already queued on each socket and
//                          write() it to the peer from user space
//      GRACE_MS=n         after EOF/HUP on one side, close both once everything received on each side was
//                          sent and acked by the other (TCP_INFO), at the latest after n ms (default 10000)
//      MODE=strparser     attach STREAM_PARSER + STREAM_VERDICT instead of the parser-less VERDICT
//      VERBOSE=1          log per-connection events to stderr
// SIGTERM/SIGINT/SIGUSR1: print BPF stats to stderr (SIGUSR1 keeps running).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked/received */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#define MAXFD 65536

static int peer[MAXFD];
static uint64_t cookie[MAXFD];
static char is_up[MAXFD]; // 1 = socket we connect()ed to the upstream
static uint64_t closing_at[MAXFD]; // ms deadline for closing the pair, 0 = open
static int map_fd, stats_fd, verbose, flush_mode, grace_ms = 10000;
static volatile sig_atomic_t want_stats, want_exit;
static int n_forced;
static long n_pairs, n_preq_bytes, n_flushed_bytes, n_insert_fail;

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000ull + t.tv_nsec / 1000000;
}

static void print_stats(void) {
  int ncpu = libbpf_num_possible_cpus();
  uint64_t tot[4] = {0}, vals[256];
  for (uint32_t k = 0; k < 4; k++) {
    if (bpf_map_lookup_elem(stats_fd, &k, vals)) continue;
    for (int c = 0; c < ncpu && c < 256; c++) tot[k] += vals[c];
  }
  fprintf(stderr, "sockmap-relay stats: pairs=%ld redirected_skbs=%llu redirected_bytes=%llu no_peer=%llu cookie0=%llu "
          "queued_before_insert_bytes=%ld flushed_by_user_bytes=%ld insert_fail=%ld forced_close=%d\n",
          n_pairs, (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
          (unsigned long long)tot[3], n_preq_bytes, n_flushed_bytes, n_insert_fail, n_forced);
}

static void on_sig(int s) {
  if (s == SIGUSR1) want_stats = 1;
  else want_exit = 1;
}

static uint64_t get_cookie(int fd) {
  uint64_t c = 0;
  socklen_t l = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l)) perror("SO_COOKIE");
  return c;
}

/* bytes in the TCP receive queue; only valid BEFORE map insertion (tcp_bpf overrides SIOCINQ to
   report the psock ingress_msg queue only) */
static int inq(int fd) {
  int n = 0;
  ioctl(fd, SIOCINQ, &n);
  return n;
}
/* readable bytes by user space right now (works after insertion too) */
static int peekable(int fd) {
  static char b[65536];
  ssize_t r = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 ? 0 : (int)r;
}

/* true when everything `from` received has been sent AND acked by `to` (nothing left in the
   sockmap backlog or in to's send queue); TCP_INFO counters, loopback has no retransmits */
static int drained(int from, int to) {
  struct tcp_info a, b;
  socklen_t la = sizeof a, lb = sizeof b;
  if (getsockopt(from, IPPROTO_TCP, TCP_INFO, &a, &la) || getsockopt(to, IPPROTO_TCP, TCP_INFO, &b, &lb)) return 1;
  if (b.tcpi_state != 1 /* ESTABLISHED */ && b.tcpi_state != 8 /* CLOSE_WAIT */) return 1; // cannot send anyway
  if (verbose) fprintf(stderr, "drain %d->%d: received %llu acked %llu (state %d/%d)\n", from, to, (unsigned long long)a.tcpi_bytes_received,
                       (unsigned long long)b.tcpi_bytes_acked, a.tcpi_state, b.tcpi_state);
  // calibrated on 6.18 loopback: bytes_received counts a received FIN as 1 byte; bytes_acked of the
  // connect()ing (upstream) socket counts its SYN as 1 byte, that of the accept()ed socket does not
  int from_fin = a.tcpi_state == 8 || a.tcpi_state == 9 || a.tcpi_state == 11 || a.tcpi_state == 6 || a.tcpi_state == 7;
  uint64_t data_in = a.tcpi_bytes_received - from_fin, data_out = b.tcpi_bytes_acked - (is_up[to] ? 1 : 0);
  return data_out >= data_in;
}

static void close_pair(int fd) {
  int p = peer[fd];
  if (p < 0) return;
  bpf_map_delete_elem(map_fd, &cookie[fd]); // closing alone would also unlink them
  bpf_map_delete_elem(map_fd, &cookie[p]);
  peer[fd] = peer[p] = -1;
  closing_at[fd] = closing_at[p] = 0;
  close(fd);
  close(p);
  if (verbose) fprintf(stderr, "closed pair %d/%d\n", fd, p);
}

/* move whatever is queued on `from` to `to` in user space (FLUSH=1) */
static void flush_queued(int from, int to) {
  char buf[65536];
  for (;;) {
    ssize_t r = recv(from, buf, sizeof buf, MSG_DONTWAIT);
    if (r <= 0) return;
    n_flushed_bytes += r;
    for (ssize_t off = 0; off < r;) {
      ssize_t w = send(to, buf + off, r - off, 0);
      if (w <= 0) return;
      off += w;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <listenPort> <upstreamPort>\n", argv[0]);
    return 2;
  }
  verbose = getenv("VERBOSE") != NULL;
  flush_mode = getenv("FLUSH") && atoi(getenv("FLUSH"));
  int insert_delay = getenv("INSERT_DELAY_MS") ? atoi(getenv("INSERT_DELAY_MS")) : 0;
  if (getenv("GRACE_MS")) grace_ms = atoi(getenv("GRACE_MS"));
  for (int i = 0; i < MAXFD; i++) peer[i] = -1;

  char objpath[4096];
  snprintf(objpath, sizeof objpath, "%s", argv[0]);
  char *slash = strrchr(objpath, '/');
  snprintf(slash ? slash + 1 : objpath, sizeof objpath - (slash ? slash + 1 - objpath : 0), "relay.bpf.o");
  struct bpf_object *obj = bpf_object__open_file(objpath, NULL);
  if (!obj) { fprintf(stderr, "open %s failed\n", objpath); return 1; }
  int strparser = getenv("MODE") && !strcmp(getenv("MODE"), "strparser");
  struct bpf_program *prog = bpf_object__find_program_by_name(obj, "relay_verdict");
  struct bpf_program *parser = bpf_object__find_program_by_name(obj, "relay_parser");
  bpf_program__set_type(prog, BPF_PROG_TYPE_SK_SKB);
  bpf_program__set_expected_attach_type(prog, strparser ? BPF_SK_SKB_STREAM_VERDICT : BPF_SK_SKB_VERDICT);
  bpf_program__set_type(parser, BPF_PROG_TYPE_SK_SKB);
  bpf_program__set_expected_attach_type(parser, BPF_SK_SKB_STREAM_PARSER);
  bpf_program__set_autoload(parser, strparser);
  if (bpf_object__load(obj)) { fprintf(stderr, "bpf load failed: %s\n", strerror(errno)); return 1; }
  map_fd = bpf_object__find_map_fd_by_name(obj, "peers");
  stats_fd = bpf_object__find_map_fd_by_name(obj, "stats");
  if (strparser && bpf_prog_attach(bpf_program__fd(parser), map_fd, BPF_SK_SKB_STREAM_PARSER, 0)) {
    fprintf(stderr, "attach BPF_SK_SKB_STREAM_PARSER failed: %s\n", strerror(errno));
    return 1;
  }
  if (bpf_prog_attach(bpf_program__fd(prog), map_fd, strparser ? BPF_SK_SKB_STREAM_VERDICT : BPF_SK_SKB_VERDICT, 0)) {
    fprintf(stderr, "attach verdict failed: %s\n", strerror(errno));
    return 1;
  }

  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  signal(SIGUSR1, on_sig);
  signal(SIGPIPE, SIG_IGN);

  int one = 1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(atoi(argv[1]));
  struct sockaddr_in up = a;
  up.sin_port = htons(atoi(argv[2]));
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); return 1; }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  fprintf(stderr, "sockmap-relay (%s) listening on %s (flush=%d insert_delay=%dms grace=%dms)\n", strparser ? "stream parser + stream verdict" : "verdict", argv[1], flush_mode, insert_delay, grace_ms);
  struct epoll_event evs[64];
  while (!want_exit) {
    if (want_stats) { want_stats = 0; print_stats(); }
    int timeout = -1;
    uint64_t now = now_ms();
    for (int fd = 0; fd < MAXFD; fd++) // only pairs being torn down (few)
      if (closing_at[fd]) {
        int p = peer[fd];
        if (closing_at[fd] <= now) { n_forced++; close_pair(fd); }
        else if (drained(fd, p) && drained(p, fd)) close_pair(fd);
        else timeout = 1; // poll the drain state every ms (only while a pair is being torn down)
      }
    int n = epoll_wait(ep, evs, 64, timeout);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c = accept(ls, 0, 0);
        if (c < 0 || c >= MAXFD) { if (c >= 0) close(c); continue; }
        int u = socket(AF_INET, SOCK_STREAM, 0);
        if (u < 0 || u >= MAXFD || connect(u, (struct sockaddr *)&up, sizeof up)) { close(c); if (u >= 0) close(u); continue; }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (insert_delay) usleep(insert_delay * 1000);
        int qc0 = inq(c), qu0 = inq(u);
        cookie[c] = get_cookie(c);
        cookie[u] = get_cookie(u);
        uint64_t vu = u, vc = c;
        // key = cookie of the receiving socket, value = socket to send to
        if (bpf_map_update_elem(map_fd, &cookie[c], &vu, BPF_NOEXIST) ||
            bpf_map_update_elem(map_fd, &cookie[u], &vc, BPF_NOEXIST)) {
          fprintf(stderr, "sockhash insert failed: %s\n", strerror(errno));
          n_insert_fail++;
          bpf_map_delete_elem(map_fd, &cookie[c]);
          close(c);
          close(u);
          continue;
        }
        peer[c] = u;
        peer[u] = c;
        is_up[c] = 0;
        is_up[u] = 1;
        n_pairs++;
        int qc = -1, qu = -1;
        if (!getenv("NOPEEK")) { qc = peekable(c); qu = peekable(u); }
        n_preq_bytes += qc0 + qu0;
        if (verbose) fprintf(stderr, "pair %d/%d cookies %llu/%llu; queued before insert: client %d upstream %d; user-readable after insert: client %d upstream %d\n", c, u,
                             (unsigned long long)cookie[c], (unsigned long long)cookie[u], qc0, qu0, qc, qu);
        // data that arrived before insertion sits in the receive queue until the next skb arrives;
        // a recv() after insertion makes the kernel run the verdict program over it (measured on
        // 6.18: the bytes get redirected, recv() itself returns nothing)
        if (flush_mode) {
          flush_queued(c, u);
          flush_queued(u, c);
        }
        // only hang-up events: EPOLLIN would wake us for every relayed skb (sockmap calls the
        // socket's original data_ready after the verdict program ran)
        struct epoll_event ec = {.events = EPOLLRDHUP, .data.fd = c}, eu = {.events = EPOLLRDHUP, .data.fd = u};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ec);
        epoll_ctl(ep, EPOLL_CTL_ADD, u, &eu);
        continue;
      }
      if (peer[fd] < 0 || closing_at[fd]) continue;
      if (verbose) fprintf(stderr, "fd %d events 0x%x (peekable %d)\n", fd, evs[i].events, peekable(fd));
      // EOF/HUP/error on one side: stop watching, close both after a grace period so data the
      // kernel still holds in the peer's sockmap backlog can be sent first
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      epoll_ctl(ep, EPOLL_CTL_DEL, peer[fd], NULL);
      closing_at[fd] = now_ms() + grace_ms; // hard deadline; normally closed as soon as drained
    }
  }
  print_stats();
  return 0;
}
