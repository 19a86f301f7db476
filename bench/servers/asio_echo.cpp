// The asio peer: standalone asio with C++20 coroutines (co_spawn, awaitable, use_awaitable), the
// echo from asio's own examples/cpp20/coroutines/echo_server.cpp, single-threaded.
// --port P (0 = ephemeral); prints `listening on 127.0.0.1:PORT`; SIGINT/SIGTERM end it.
#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

asio::awaitable<void> echo(asio::ip::tcp::socket socket) {
  try {
    char data[4096];
    for (;;) {
      const std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, n), asio::use_awaitable);
    }
  } catch (const std::exception&) {
    // end of stream or reset: the socket closes with the frame
  }
}

asio::awaitable<void> listen(asio::ip::tcp::acceptor& acceptor) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) {
    port = static_cast<unsigned short>(std::atoi(argv[2]));
  }
  asio::io_context io(1);
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), port});
  std::printf("listening on 127.0.0.1:%u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, auto) { io.stop(); });
  asio::co_spawn(io, listen(acceptor), asio::detached);
  io.run();
  return 0;
}
