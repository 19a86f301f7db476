// The io_uring floor: a minimal hand-written TCP echo on liburing, one thread. A multishot
// accept; per connection a multishot receive into a provided-buffer ring; each filled buffer is
// sent back as it is and returns to the ring when its send completed (a short send sends the
// rest first). One io_uring_enter per loop turn submits the turn's sends and waits.
//
// --port P (0 = ephemeral). --taskrun defer|coop (default defer: DEFER_TASKRUN + SINGLE_ISSUER,
// what corio's executors ask for; coop: COOP_TASKRUN, what corio's instruction count under
// valgrind runs with, bench/count_instructions.py). SIGINT/SIGTERM end it (valgrind 3.19 does
// not deliver them while the thread waits in io_uring_enter: stop it with SIGKILL there).
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "listen_loopback.hpp"

namespace {

volatile std::sig_atomic_t stop = 0;

constexpr unsigned buffer_count = 1024;  // a power of two
constexpr unsigned buffer_size = 4096;
constexpr int group = 0;

enum kind : std::uint64_t { accepting = 1, receiving = 2, sending = 3 };

std::uint64_t pack(kind k, unsigned bid, int fd) {
  return std::uint64_t{k} << 56 | std::uint64_t{bid} << 32 | static_cast<std::uint32_t>(fd);
}

struct in_flight_send {  // by buffer id: the buffer's bytes on their way back
  int fd = -1;
  unsigned len = 0, off = 0;
};

io_uring ring;
io_uring_buf_ring* buffers = nullptr;
char* memory = nullptr;
std::vector<in_flight_send> sends(buffer_count);

io_uring_sqe* sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring);
  if (s == nullptr) {
    io_uring_submit(&ring);
    s = io_uring_get_sqe(&ring);
  }
  return s;
}

void give_back(unsigned bid) {
  io_uring_buf_ring_add(buffers, memory + std::size_t{bid} * buffer_size, buffer_size,
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(buffer_count), 0);
  io_uring_buf_ring_advance(buffers, 1);
}

void receive(int fd) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = group;
  io_uring_sqe_set_data64(s, pack(receiving, 0, fd));
}

void send(unsigned bid) {
  const in_flight_send& x = sends[bid];
  io_uring_sqe* s = sqe();
  io_uring_prep_send(s, x.fd, memory + std::size_t{bid} * buffer_size + x.off, x.len - x.off,
                     MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, pack(sending, bid, x.fd));
}

void accept(int lfd) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, pack(accepting, 0, lfd));
}

void on_cqe(const io_uring_cqe& c) {
  const std::uint64_t data = io_uring_cqe_get_data64(&c);
  const auto k = static_cast<kind>(data >> 56);
  const auto bid = static_cast<unsigned>(data >> 32 & 0xFFFF);
  const auto fd = static_cast<int>(data & 0xFFFF'FFFF);
  const bool more = (c.flags & IORING_CQE_F_MORE) != 0;
  if (k == accepting) {
    if (c.res >= 0) receive(c.res);
    if (!more) accept(fd);
  } else if (k == receiving) {
    if (c.res > 0) {
      const auto got = static_cast<unsigned>(c.flags >> IORING_CQE_BUFFER_SHIFT);
      sends[got] = {fd, static_cast<unsigned>(c.res), 0};
      send(got);
    } else if ((c.flags & IORING_CQE_F_BUFFER) != 0) {
      give_back(static_cast<unsigned>(c.flags >> IORING_CQE_BUFFER_SHIFT));
    }
    if (!more) {
      if (c.res > 0 || c.res == -ENOBUFS) {
        receive(fd);  // ended (buffers ran out, ...): the connection goes on
      } else {
        close(fd);  // end of stream or an error (sends still in flight fail and free their buffers)
      }
    }
  } else {
    in_flight_send& x = sends[bid];
    if (c.res > 0 && x.off + static_cast<unsigned>(c.res) < x.len) {
      x.off += static_cast<unsigned>(c.res);
      send(bid);  // a short send: the rest first
    } else {
      give_back(bid);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  bool defer = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) {
      port = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--taskrun") == 0) {
      defer = std::strcmp(argv[i + 1], "coop") != 0;
    } else {
      std::fprintf(stderr, "usage: uring_echo [--port P] [--taskrun defer|coop]\n");
      return 2;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop = 1; };  // no SA_RESTART: io_uring_enter returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_TASKRUN_FLAG |
                 (defer ? IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER
                        : IORING_SETUP_COOP_TASKRUN);
  params.cq_entries = 8192;
  if (const int r = io_uring_queue_init_params(2048, &ring, &params); r < 0) {
    std::fprintf(stderr, "io_uring_queue_init: %s\n", std::strerror(-r));
    return 1;
  }
  const std::size_t ring_bytes = buffer_count * sizeof(io_uring_buf);
  void* br = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  memory = static_cast<char*>(std::aligned_alloc(4096, std::size_t{buffer_count} * buffer_size));
  if (br == MAP_FAILED || memory == nullptr) return 1;
  buffers = static_cast<io_uring_buf_ring*>(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(br);
  reg.ring_entries = buffer_count;
  reg.bgid = group;
  if (const int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) {
    std::fprintf(stderr, "io_uring_register_buf_ring: %s\n", std::strerror(-r));
    return 1;
  }
  io_uring_buf_ring_init(buffers);
  for (unsigned b = 0; b < buffer_count; ++b) give_back(b);

  const int lfd = listen_loopback(port, 0);
  if (lfd < 0) return 1;
  accept(lfd);
  while (!stop) {
    const int r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
      std::fprintf(stderr, "io_uring_enter: %s\n", std::strerror(-r));
      return 1;
    }
    unsigned head = 0, seen = 0;
    io_uring_cqe* c = nullptr;
    io_uring_for_each_cqe(&ring, head, c) {
      on_cqe(*c);
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
  }
  io_uring_queue_exit(&ring);
  return 0;
}
