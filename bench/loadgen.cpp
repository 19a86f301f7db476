// TCP echo load generator on plain epoll, one thread, so that it measures the server and not
// itself. Every connection keeps --pipeline messages of --size bytes in flight; every echoed
// byte is checked against what was sent (a pattern unique to connection and message), and a
// message's latency runs from its send to the arrival of its last byte.
//
// Two modes:
//   time mode (default)   --warmup S, then --duration S measured; reports messages/s, latency.
//   count mode            --messages N in total per round over all connections, then each
//                         connection half-closes and waits for EOF; --rounds R repeats
//                         connect/exchange/close (reused connections); --hold S keeps the
//                         connections of the last round open and idle S seconds before closing.
//                         For counting instructions, syscalls and allocations per message.
// Prints plain text and one line `JSON {...}`. Exit status: 0 ok, 1 verification or I/O
// failure, 2 usage.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  unsigned connections = 64;
  unsigned size = 64;
  unsigned pipeline = 1;
  double duration = 5;
  double warmup = 1;
  std::uint64_t messages = 0;  // 0: time mode
  unsigned rounds = 1;
  double hold = 0;
  double limit = 120;  // hard stop, seconds, in any mode
};

[[noreturn]] void usage(const char* what) {
  std::fprintf(stderr,
               "loadgen: %s\nusage: loadgen --port P [--host 127.0.0.1] [--connections N] "
               "[--size BYTES] [--pipeline D] [--duration S] [--warmup S] [--messages N] "
               "[--rounds R] [--hold S] [--limit S]\n", what);
  std::exit(2);
}

template <class T>
void number(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc{} || end != text.data() + text.size()) usage("bad number");
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const std::string_view v = argv[++i];
    if (flag == "--host") o.host = v;
    else if (flag == "--port") number(v, o.port);
    else if (flag == "--connections") number(v, o.connections);
    else if (flag == "--size") number(v, o.size);
    else if (flag == "--pipeline") number(v, o.pipeline);
    else if (flag == "--duration") o.duration = std::atof(argv[i]);
    else if (flag == "--warmup") o.warmup = std::atof(argv[i]);
    else if (flag == "--messages") number(v, o.messages);
    else if (flag == "--rounds") number(v, o.rounds);
    else if (flag == "--hold") o.hold = std::atof(argv[i]);
    else if (flag == "--limit") o.limit = std::atof(argv[i]);
    else usage("unknown option");
  }
  if (o.port == 0 || o.port > 65535 || o.connections == 0 || o.size == 0 || o.pipeline == 0 ||
      o.rounds == 0) {
    usage("--port, --connections, --size, --pipeline and --rounds must be positive");
  }
  return o;
}

// The byte at `offset` of message `msg` on connection `conn`: differs across all three.
inline std::uint8_t pattern(std::uint32_t conn, std::uint64_t msg, std::uint32_t offset) {
  return static_cast<std::uint8_t>(conn * 131u + msg * 31u + offset * 7u + (msg >> 8));
}

struct connection {
  int fd = -1;
  std::uint32_t id = 0;
  std::uint64_t sent = 0;        // messages queued for sending
  std::uint64_t received = 0;    // messages fully echoed
  std::uint64_t quota = 0;       // count mode: messages this connection sends per round
  std::uint32_t recv_offset = 0; // bytes of message `received` seen so far
  std::vector<std::uint8_t> out;  // bytes not yet written: out[out_pos..]
  std::size_t out_pos = 0;
  std::vector<clock_type::time_point> sent_at;  // ring of pipeline entries
  bool want_out = false;
  bool closing = false;  // half-closed, waiting for EOF
};

struct stats {
  std::uint64_t messages = 0;
  std::vector<std::uint32_t> latency_ns;
};

class generator {
 public:
  explicit generator(const options& o) : o_(o) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) fail("epoll_create1");
    msg_.resize(o.size);
  }

  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "loadgen: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
  }

  void open_all() {
    conns_.assign(o_.connections, connection{});
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &addr.sin_addr) != 1) usage("bad --host");
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      connection& c = conns_[i];
      c.id = i + next_id_;
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c.fd < 0) fail("socket");
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
      // Connected blocking (simple, and the server's backlog absorbs it), then non-blocking.
      if (fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK) != 0) fail("fcntl");
      c.sent_at.resize(o_.pipeline);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail("epoll_ctl");
    }
    next_id_ += static_cast<std::uint32_t>(conns_.size());
    const std::uint64_t per = o_.messages / conns_.size();
    const std::uint64_t extra = o_.messages % conns_.size();
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      conns_[i].quota = o_.messages ? per + (i < extra ? 1 : 0) : UINT64_MAX;
      for (unsigned k = 0; k < o_.pipeline && k < conns_[i].quota; ++k) queue_message(conns_[i]);
      if (conns_[i].quota == 0) half_close(conns_[i]);
      flush(i);
    }
  }

  void close_all() {
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
    }
  }

  // Runs until `until`, or in count mode until every connection saw EOF. False on timeout.
  bool pump(clock_type::time_point until) {
    epoll_event events[256];
    while (clock_type::now() < until) {
      if (o_.messages && open_ == 0) return true;
      const int n = epoll_wait(ep_, events, 256, 50);
      if (n < 0 && errno != EINTR) fail("epoll_wait");
      for (int k = 0; k < n; ++k) {
        const std::uint32_t i = events[k].data.u32;
        if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(i);
        if (conns_[i].fd >= 0 && (events[k].events & EPOLLOUT)) flush(i);
      }
    }
    return o_.messages == 0;
  }

  void start_round() { open_ = static_cast<unsigned>(conns_.size()); }
  stats& measured() { return stats_; }
  void set_recording(bool on) { recording_ = on; }

 private:
  void queue_message(connection& c) {
    for (std::uint32_t j = 0; j < o_.size; ++j) msg_[j] = pattern(c.id, c.sent, j);
    c.out.insert(c.out.end(), msg_.begin(), msg_.end());
    c.sent_at[c.sent % o_.pipeline] = clock_type::now();
    ++c.sent;
  }

  void half_close(connection& c) {
    if (c.closing) return;
    c.closing = true;
    if (c.out_pos == c.out.size()) shutdown(c.fd, SHUT_WR);
  }

  void flush(std::uint32_t i) {
    connection& c = conns_[i];
    while (c.out_pos < c.out.size()) {
      const ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos,
                             MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) fail("send");
      c.out_pos += static_cast<std::size_t>(n);
    }
    const bool pending = c.out_pos < c.out.size();
    if (!pending) {
      c.out.clear();
      c.out_pos = 0;
      if (c.closing) shutdown(c.fd, SHUT_WR);
    }
    if (pending != c.want_out) {
      c.want_out = pending;
      epoll_event ev{};
      ev.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
      ev.data.u32 = i;
      if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) != 0) fail("epoll_ctl");
    }
  }

  void on_readable(std::uint32_t i) {
    connection& c = conns_[i];
    std::uint8_t buf[65536];
    while (c.fd >= 0) {
      const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) fail("recv");
      if (n == 0) {
        if (!c.closing || c.received != c.sent) {
          std::fprintf(stderr, "loadgen: connection %u closed early after %llu of %llu\n", c.id,
                       static_cast<unsigned long long>(c.received),
                       static_cast<unsigned long long>(c.sent));
          std::exit(1);
        }
        epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        --open_;
        return;
      }
      consume(c, buf, static_cast<std::size_t>(n));
      flush(i);
    }
  }

  void consume(connection& c, const std::uint8_t* p, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) {
      if (c.received >= c.sent || p[k] != pattern(c.id, c.received, c.recv_offset)) {
        std::fprintf(stderr, "loadgen: connection %u: wrong byte in message %llu at %u\n", c.id,
                     static_cast<unsigned long long>(c.received), c.recv_offset);
        std::exit(1);
      }
      if (++c.recv_offset < o_.size) continue;
      c.recv_offset = 0;
      const auto now = clock_type::now();
      if (recording_) {
        ++stats_.messages;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
            now - c.sent_at[c.received % o_.pipeline]).count();
        if (stats_.latency_ns.size() < 50'000'000) {
          stats_.latency_ns.push_back(static_cast<std::uint32_t>(std::min<long long>(ns, UINT32_MAX)));
        }
      }
      ++c.received;
      if (c.sent < c.quota) {
        queue_message(c);
      } else if (c.received == c.sent) {
        half_close(c);
      }
    }
  }

  const options& o_;
  int ep_ = -1;
  std::vector<connection> conns_;
  std::vector<std::uint8_t> msg_;
  std::uint32_t next_id_ = 0;
  unsigned open_ = 0;
  bool recording_ = false;
  stats stats_;
};

double percentile(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;  // microseconds
}

auto seconds(double s) {
  return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  generator g(o);
  const auto deadline = clock_type::now() + seconds(o.limit);
  double elapsed = 0;
  if (o.messages == 0) {
    g.open_all();
    g.pump(clock_type::now() + seconds(o.warmup));
    g.set_recording(true);
    const auto t0 = clock_type::now();
    g.pump(t0 + seconds(o.duration));
    elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  } else {
    g.set_recording(true);
    const auto t0 = clock_type::now();
    for (unsigned r = 0; r < o.rounds; ++r) {
      g.open_all();
      g.start_round();
      if (!g.pump(deadline)) {
        std::fprintf(stderr, "loadgen: round %u did not finish within --limit\n", r);
        return 1;
      }
      if (r + 1 == o.rounds && o.hold > 0) {
        std::printf("holding %u idle connections\n", o.connections);
        std::fflush(stdout);
        usleep(static_cast<useconds_t>(o.hold * 1e6));
      }
      g.close_all();
    }
    elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  }
  stats& s = g.measured();
  const double rate = elapsed > 0 ? static_cast<double>(s.messages) / elapsed : 0;
  const double p50 = percentile(s.latency_ns, 0.5);
  const double p99 = percentile(s.latency_ns, 0.99);
  const double p999 = percentile(s.latency_ns, 0.999);
  std::printf("%llu messages of %u bytes in %.3f s over %u connections (pipeline %u), all "
              "verified\n%.0f messages/s; latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
              static_cast<unsigned long long>(s.messages), o.size, elapsed, o.connections,
              o.pipeline, rate, p50, p99, p999);
  std::printf("JSON {\"messages\":%llu,\"seconds\":%.6f,\"messages_per_sec\":%.1f,"
              "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"connections\":%u,\"size\":%u,"
              "\"pipeline\":%u,\"verified\":true}\n",
              static_cast<unsigned long long>(s.messages), elapsed, rate, p50, p99, p999,
              o.connections, o.size, o.pipeline);
  g.close_all();
  return 0;
}
