// The floor: a minimal hand-written TCP echo on level-triggered epoll. One read per readiness
// event, then a write of what was read: two syscalls per message plus a share of epoll_wait.
// A write the peer cannot take yet keeps its bytes in the connection and waits for EPOLLOUT
// (the connection stops reading meanwhile). --port P (0 = ephemeral); SIGINT/SIGTERM end it.
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "listen_loopback.hpp"

namespace {
volatile std::sig_atomic_t stop = 0;
struct conn {
  char buf[4096];
  int len = 0, pos = 0;  // bytes read but not yet echoed: buf[pos, len)
  bool writing = false;  // registered for EPOLLOUT instead of EPOLLIN
};
}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) port = std::atoi(argv[2]);
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop = 1; };  // no SA_RESTART: epoll_wait returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const int lfd = listen_loopback(port, SOCK_NONBLOCK);
  if (lfd < 0) return 1;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::vector<conn*> conns;  // by fd
  epoll_event events[256];
  while (!stop) {
    const int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          if (static_cast<size_t>(c) >= conns.size()) conns.resize(static_cast<size_t>(c) + 1);
          conns[static_cast<size_t>(c)] = new conn;
          ev = {EPOLLIN, {.fd = c}};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      conn& c = *conns[static_cast<size_t>(fd)];
      if (c.pos == c.len) {  // readable: read once, echo
        const ssize_t r = read(fd, c.buf, sizeof c.buf);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          delete conns[static_cast<size_t>(fd)];
          close(fd);  // also leaves the epoll set
          continue;
        }
        c.len = static_cast<int>(r);
        c.pos = 0;
      }
      const ssize_t w = send(fd, c.buf + c.pos, static_cast<size_t>(c.len - c.pos), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) {
        delete conns[static_cast<size_t>(fd)];
        close(fd);
        continue;
      }
      if (w > 0) c.pos += static_cast<int>(w);
      const bool waiting = c.pos < c.len;
      if (waiting != c.writing) {  // rare: switch between reading and waiting to write
        c.writing = waiting;
        ev = {waiting ? EPOLLOUT : EPOLLIN, {.fd = fd}};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
      }
      if (!waiting) c.pos = c.len = 0;
    }
  }
  return 0;
}
