// A connected pair of tcp_streams on 127.0.0.1, for the stream helper tests.
#pragma once

#include <utility>

#include <corio/tcp.hpp>
#include <corio/task.hpp>

namespace corio::test {

struct stream_pair {
  tcp_stream left;   // the connecting side
  tcp_stream right;  // the accepted side
};

inline task<result<stream_pair>> make_stream_pair() {
  auto listener = tcp_listener::bind({net::ip_address::loopback_v4(), 0});
  if (!listener) co_return listener.error();
  auto at = listener->local_address();
  if (!at) co_return at.error();
  auto left = co_await tcp_stream::connect(*at);
  if (!left) co_return left.error();
  auto right = co_await listener->accept();
  if (!right) co_return right.error();
  co_return stream_pair{std::move(*left), std::move(right->first)};
}

}  // namespace corio::test
