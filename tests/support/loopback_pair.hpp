// Two connected TCP streams on 127.0.0.1 for tests that need a live socket and its peer: the
// listener is gone once the pair exists.
#pragma once

#include <utility>

#include <corio/error.hpp>
#include <corio/task.hpp>
#include <corio/tcp.hpp>

namespace corio::test {

struct stream_pair {
  corio::tcp_stream client;
  corio::tcp_stream server;  // the accepted end
};

inline corio::task<corio::result<stream_pair>> loopback_pair() {
  auto listener = corio::tcp_listener::bind(
      corio::net::socket_address(corio::net::ip_address::loopback_v4(), 0));
  if (!listener) co_return listener.error();
  auto client = co_await corio::tcp_stream::connect(listener->local_address().value());
  if (!client) co_return client.error();
  auto accepted = co_await listener->accept();
  if (!accepted) co_return accepted.error();
  co_return stream_pair{std::move(*client), std::move(accepted->first)};
}

}  // namespace corio::test
