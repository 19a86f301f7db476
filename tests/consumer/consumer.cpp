// A program outside corio: a co_await echo client against a co_await echo server on
// 127.0.0.1 (ephemeral port), then one message through a callback event_loop. Exits 0 only if
// every byte came back. Between them they reach the seams public templates call into the
// library (detail/executor.hpp, frame_pool.hpp, loop_core.hpp), so a shared libcorio that
// hid one of them would fail to link here.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <vector>

#include <corio/corio.hpp>

namespace {

using namespace std::chrono_literals;

constexpr std::size_t message_size = 64 * 1024;  // more than one socket buffer's worth per read

corio::task<> echo_once(corio::tcp_listener& listener) {
  auto accepted = co_await listener.accept();
  if (!accepted) co_return;
  auto& stream = accepted->first;
  std::array<std::byte, 4096> buf;
  while (true) {
    auto n = co_await stream.read(buf);
    if (!n || *n == 0) break;
    if (!co_await stream.write_all(std::span(buf).first(*n))) break;
  }
}

corio::task<bool> client(corio::net::socket_address server) {
  auto stream = co_await corio::tcp_stream::connect(server);
  if (!stream) co_return false;
  std::vector<std::byte> sent(message_size);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 7 + 3);
  std::vector<std::byte> received(message_size);
  // The writer runs beside the reader, so neither side's socket buffer can fill and stall.
  auto write_then_shut = [](corio::tcp_stream& s,
                            std::span<const std::byte> b) -> corio::task<bool> {
    co_return co_await s.write_all(b) && s.shutdown_write();
  };
  auto writer = corio::spawn(write_then_shut(*stream, sent));
  const bool read_all = static_cast<bool>(co_await stream->read_exact(received));
  const bool wrote_all = co_await writer;
  co_return read_all && wrote_all && received == sent;
}

corio::task<bool> echo_round_trip() {
  const auto any_port = corio::net::socket_address::parse("127.0.0.1:0").value();
  auto listener = corio::tcp_listener::bind(any_port);
  if (!listener) co_return false;
  auto at = listener->local_address();
  if (!at) co_return false;
  auto server = corio::spawn(echo_once(*listener));
  // Bounded: a hung echo is a failure, not a stuck CI job.
  auto ok = co_await corio::timeout(10s, client(*at));
  const bool passed = ok && *ok;
  if (!passed) server.request_stop();
  co_await server;
  co_return passed;
}

struct one_message {
  int received = 0;
  void notify(corio::event_loop<int>& loop, int n) {
    received = n;
    loop.shutdown();
  }
};

bool callback_round_trip() {
  auto loop = corio::event_loop<int>::create();
  if (!loop || !loop->sender().send(42)) return false;
  one_message handler;
  return loop->run(handler) && handler.received == 42;
}

}  // namespace

int main() {
  try {
    if (!corio::block_on(echo_round_trip())) {
      std::fputs("echo: the bytes that came back differ from those sent\n", stderr);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo: %s\n", e.what());
    return 1;
  }
  if (!callback_round_trip()) {
    std::fputs("event_loop: the message did not arrive\n", stderr);
    return 1;
  }
  std::printf("corio %.*s: echo and event_loop ok\n", static_cast<int>(corio::version().size()),
              corio::version().data());
  return 0;
}
