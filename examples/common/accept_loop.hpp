// The accept loop every single-listener service shares (echo_server, http_server, kv_server,
// chat_server): one task per connection, kept in a list the service cancels on shutdown.
#pragma once

#include <chrono>
#include <system_error>
#include <utility>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <fmt/core.h>

namespace examples {

// The handles of finished tasks are dropped only when the vector would grow, so it stays
// within twice the live connections without a sweep per accept.
inline void add_client(std::vector<corio::join_handle<>>& clients, corio::join_handle<> h) {
  if (clients.size() == clients.capacity()) {
    std::erase_if(clients, [](const corio::join_handle<>& c) { return c.is_finished(); });
  }
  clients.push_back(std::move(h));
}

// Connections the kernel completed but nobody accepted yet would be reset when the listener
// closes; take them and end them in order (FIN) instead.
inline void close_backlog(corio::tcp_listener& listener) {
  while (auto got = listener.raw().accept()) {
    (void)got->first.shutdown(corio::net::shutdown_how::write);
  }
}

// Accepts until cancelled, spawning `start(stream)` (a corio::task<>) per connection.
// `listener` and `clients` belong to the caller, which awaits this task before they end.
template <class Start>
corio::task<> accept_clients(corio::tcp_listener& listener,
                             std::vector<corio::join_handle<>>& clients, Start start) {
  bool warned = false;
  while (true) {
    auto got = co_await listener.accept();
    if (got) {
      warned = false;
      add_client(clients, corio::spawn(start(std::move(got->first))));
      continue;
    }
    const std::error_code ec = got.error();
    if (ec == std::errc::operation_canceled) co_return;
    if (ec == std::errc::connection_aborted) continue;  // that one is gone; take the next
    // Out of fds (or worse): the connection stays queued. Warn once per episode and retry
    // after a pause; retrying at once would spin.
    if (!warned) fmt::print(stderr, "warning: accept: {}; retrying\n", ec.message());
    warned = true;
    if (!co_await corio::sleep_for(std::chrono::milliseconds(50))) co_return;  // stopped
  }
}

}  // namespace examples
