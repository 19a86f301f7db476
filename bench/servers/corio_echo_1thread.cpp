// corio's coroutine echo on ONE thread, for counting instructions under valgrind: corio::block_on
// on the main thread, no runtime workers and no diagnostics watchdog (stall and shutdown
// deadline off). valgrind 3.19 runs io_uring_enter without letting go of its big lock, which
// starves every other thread of a process (bench/count_instructions.py); with one thread there
// is nobody to starve, so the io_uring engine runs as it does in production, DEFER_TASKRUN and
// all. The per-connection task is the echo of examples/echo_server.cpp (read, write_all, a
// yield every 16 rounds); the accept loop is a plain one instead of corio::tcp_server.
//
// --port P (0 = ephemeral), --backend epoll|io_uring|auto. No signal handling: the counting
// script dumps the counts with callgrind_control and ends it with SIGKILL.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <utility>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>

namespace {

corio::task<> echo(corio::tcp_stream stream) {
  std::array<std::byte, 4096> buffer;
  for (unsigned round = 1;; ++round) {
    auto n = co_await stream.read(buffer);
    if (!n || *n == 0) break;
    if (!co_await stream.write_all(std::span(buffer).first(*n))) break;
    if (round % 16 == 0) co_await corio::yield();
  }
}

corio::task<int> serve(std::uint16_t port) {
  auto listener = corio::tcp_listener::bind({corio::net::ip_address::loopback_v4(), port});
  if (!listener) {
    std::fprintf(stderr, "bind: %s\n", listener.error().message().c_str());
    co_return 1;
  }
  auto at = listener->local_address();
  if (!at) co_return 1;
  std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(at->port()));
  std::fflush(stdout);
  for (;;) {
    auto accepted = co_await listener->accept();
    if (!accepted) continue;  // EMFILE and the like: the connection waits in the backlog
    corio::spawn(echo(std::move(accepted->first))).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  corio::runtime_options options;
  options.stall_threshold = std::chrono::milliseconds(0);
  options.shutdown_deadline = std::chrono::milliseconds(0);
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--port") {
      port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    } else if (flag == "--backend") {
      auto kind = corio::parse_backend_kind(argv[i + 1]);
      if (!kind) {
        std::fprintf(stderr, "unknown backend %s\n", argv[i + 1]);
        return 2;
      }
      options.backend = *kind;
    } else {
      std::fprintf(stderr, "usage: corio_echo_1thread [--port P] [--backend epoll|io_uring|auto]\n");
      return 2;
    }
  }
  return corio::block_on(serve(port), options);
}
