// Bare epoll TCP relay in C: the floor for ANY user-space relay on the websocket path (diagnostic
// row of run.mjs, compiled there only if a C compiler is present). No HTTP, no buffering beyond one
// read: every readable event is one read() and one write() to the peer, TCP_NODELAY on both sides.
//   cc -O2 -o c-relay c-relay.c && ./c-relay <listenPort> <upstreamPort>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536
static int peer[MAXFD];
static char buf[65536];

static void prepare(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int one = 1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(atoi(argv[1]));
  struct sockaddr_in up = a;
  up.sin_port = htons(atoi(argv[2]));
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) {
    perror("listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c = accept(ls, 0, 0);
        if (c < 0 || c >= MAXFD) { if (c >= 0) close(c); continue; }
        int u = socket(AF_INET, SOCK_STREAM, 0);
        if (u < 0 || u >= MAXFD || connect(u, (struct sockaddr *)&up, sizeof up)) { close(c); if (u >= 0) close(u); continue; }
        prepare(c);
        prepare(u);
        peer[c] = u; // fds are reused: accept() may return a number closed earlier in this batch
        peer[u] = c;
        struct epoll_event ec = {.events = EPOLLIN, .data.fd = c}, eu = {.events = EPOLLIN, .data.fd = u};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ec);
        epoll_ctl(ep, EPOLL_CTL_ADD, u, &eu);
        continue;
      }
      if (peer[fd] < 0) continue; // closed earlier in this batch
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) { // EOF or error: close both (closing removes them from epoll)
        int p = peer[fd];
        peer[fd] = peer[p] = -1;
        close(fd);
        close(p);
        continue;
      }
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(peer[fd], buf + off, r - off);
        if (w > 0) off += w;
        else if (w < 0 && errno == EAGAIN) { struct pollfd pf = {peer[fd], POLLOUT, 0}; poll(&pf, 1, 1000); }
        else break;
      }
    }
  }
}
