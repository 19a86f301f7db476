#include "connection.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <corio/runtime.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

#include "request_parser.hpp"
#include "response.hpp"
#include "routes.hpp"

namespace http {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr auto head_timeout = 10s;
constexpr auto body_timeout = 10s;
constexpr auto write_timeout = 30s;
constexpr auto linger_timeout = 1s;
constexpr std::size_t input_capacity = 16 * 1024;
constexpr std::size_t flush_threshold = 64 * 1024;
constexpr std::size_t keep_body_capacity = 64 * 1024;
constexpr std::size_t linger_bytes = 1024 * 1024;

static_assert(input_capacity > limits{}.max_head, "a whole head must fit in the input buffer");

// The one deadline of a connection; the exchange moves it, the watchdog enforces it. A timer
// per connection rather than corio::timeout around each read: timeout allocates a stop state
// per call, this allocates nothing per request.
struct watch {
  clock::time_point deadline = clock::now() + head_timeout;
};

corio::task<> watchdog(const watch& w) {
  while (true) {
    const auto slept = co_await corio::sleep_until(w.deadline);
    if (!slept) co_return;  // cancelled: the exchange ended
    if (w.deadline <= clock::now()) co_return;  // expired: when_any cancels the exchange
  }
}

// Over a corio::tcp_stream or a corio::tls::stream: only read and write_all are used.
template <class Stream>
class connection {
 public:
  connection(Stream& stream, watch& w)
      : stream_(stream), watch_(w), in_(std::make_unique<char[]>(input_capacity)) {}

  corio::task<> run();

 private:
  std::string_view buffered() const noexcept { return {in_.get() + begin_, end_ - begin_}; }
  corio::task<bool> flush();
  corio::task<bool> fill();
  bool start_response(const request& r);
  void take_body(std::string_view bytes);
  bool finish_response();

  Stream& stream_;
  watch& watch_;
  request_parser parser_;
  std::unique_ptr<char[]> in_;
  std::size_t begin_ = 0, end_ = 0;  // the unconsumed input
  std::string out_;                  // responses not yet written
  std::string body_;                 // a chunked body being collected for its echo
  route route_;
  bool keep_alive_ = true;
  unsigned minor_ = 1;
  bool head_armed_ = false;  // the wait for the current head has its deadline
  unsigned reads_ = 0;
};

template <class Stream>
corio::task<> connection<Stream>::run() {
  while (true) {
    const step s = parser_.next(buffered());
    begin_ += s.consumed;
    bool more = true;
    switch (s.kind) {
      case event::need_more: {
        // Not `if (!co_await flush())`: g++ 12.2 loses the resumption of a task awaited in a
        // condition (the coroutine never continues); a named result avoids it.
        const bool flushed = co_await flush();
        if (!flushed) co_return;
        const bool filled = co_await fill();
        if (!filled) co_return;
        continue;
      }
      case event::head:
        head_armed_ = false;
        more = start_response(parser_.current());
        break;
      case event::body:
        take_body(s.body);
        break;
      case event::complete:
        more = finish_response();
        break;
      case event::error:
        append_error(out_, s.error, minor_);
        more = false;
        break;
    }
    if (!more) {
      (void)co_await flush();
      co_return;
    }
    if (out_.size() >= flush_threshold) {
      const bool flushed = co_await flush();
      if (!flushed) co_return;
    }
  }
}

template <class Stream>
corio::task<bool> connection<Stream>::flush() {
  if (out_.empty()) co_return true;
  const auto phase = watch_.deadline;
  watch_.deadline = clock::now() + write_timeout;
  const auto written = co_await stream_.write_all(std::as_bytes(std::span(out_)));
  watch_.deadline = phase;
  out_.clear();  // keeps the capacity for the next responses
  co_return written.has_value();
}

template <class Stream>
corio::task<bool> connection<Stream>::fill() {
  if (begin_ > 0) {
    std::memmove(in_.get(), in_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // The parser consumes body bytes as they come and fails a head past max_head, so a full
  // buffer here would be a parser bug; end the connection rather than spin.
  if (end_ == input_capacity) co_return false;
  if (!parser_.in_head()) {
    watch_.deadline = clock::now() + body_timeout;
  } else if (!head_armed_) {
    watch_.deadline = clock::now() + head_timeout;  // fixed until the head is complete
    head_armed_ = true;
  }
  // A peer that always has the next request ready never makes a read wait: let others run.
  if (++reads_ % 16 == 0) co_await corio::yield();
  const auto n = co_await stream_.read(
      std::as_writable_bytes(std::span(in_.get() + end_, input_capacity - end_)));
  if (!n || *n == 0) co_return false;  // end of stream, reset, or cancelled
  end_ += *n;
  co_return true;
}

template <class Stream>
bool connection<Stream>::start_response(const request& r) {
  route_ = route_for(r);
  keep_alive_ = r.keep_alive;
  minor_ = r.minor;
  if (route_.what == action::echo) {
    if (r.expect_continue) append_continue(out_);
    if (r.body == framing::chunked) {
      body_.clear();  // answered at the end, when its length is known
    } else {
      append_head(out_, {status::ok, route_.content_type, r.content_length, keep_alive_, minor_,
                         {}});
    }
    return true;
  }
  // The client waits for a 100 before it sends the body, and this answer does not want it:
  // answer now and close instead of waiting for a body that may never come.
  const bool unwanted_body = r.expect_continue && r.body != framing::none;
  if (unwanted_body) keep_alive_ = false;
  append_response(out_, {route_.code, route_.content_type, 0, keep_alive_, minor_, route_.allow},
                  route_.body, r.verb == method::head);
  return !unwanted_body;
}

template <class Stream>
void connection<Stream>::take_body(std::string_view bytes) {
  if (route_.what != action::echo) return;  // the body of a request answered without it
  if (parser_.current().body == framing::chunked) {
    body_ += bytes;  // the parser stops a chunked body at max_body with 413
  } else {
    out_ += bytes;
  }
}

template <class Stream>
bool connection<Stream>::finish_response() {
  if (route_.what == action::echo && parser_.current().body == framing::chunked) {
    append_head(out_, {status::ok, route_.content_type, body_.size(), keep_alive_, minor_, {}});
    out_ += body_;
    body_.clear();
    if (body_.capacity() > keep_body_capacity) std::string().swap(body_);
  }
  return keep_alive_;
}

corio::task<> drain(corio::tcp_stream& stream) {
  std::array<std::byte, 4096> sink;
  for (std::size_t dropped = 0; dropped < linger_bytes;) {
    const auto n = co_await stream.read(sink);
    if (!n || *n == 0) break;
    dropped += *n;
  }
}

}  // namespace

corio::task<> serve_connection(corio::tcp_stream stream) {
  (void)stream.set_nodelay(true);  // a response goes out in one write; do not hold it back
  {
    watch w;
    connection<corio::tcp_stream> c(stream, w);
    (void)co_await corio::when_any(c.run(), watchdog(w));
  }
  // An orderly close. Input that arrived after the last answered request (a refused body,
  // requests pipelined after "Connection: close") would turn close() into a reset, and a reset
  // can destroy the answer before the client reads it: send FIN, then read and drop for a
  // bounded time. When the server is stopping, this task is cancelled and the drain ends at once.
  (void)stream.shutdown_write();
  std::array<std::byte, 4096> sink;
  for (int k = 0; k < 16 && stream.raw().read(sink).value_or(0) > 0; ++k) {
  }
  (void)co_await corio::timeout(linger_timeout, drain(stream));
  stream.close();
}

corio::task<> serve_connection(corio::tls::stream stream) {
  {
    watch w;
    connection<corio::tls::stream> c(stream, w);
    (void)co_await corio::when_any(c.run(), watchdog(w));
  }
  // close_notify (bounded: when the server is stopping, this task is cancelled and the await
  // ends at once), then the TCP close above, on the ciphertext: FIN, drop what arrived, close.
  if (!stream.is_open()) co_return;
  (void)co_await corio::timeout(linger_timeout, stream.shutdown());
  if (!stream.is_open()) co_return;
  corio::tcp_stream& tcp = stream.tcp();
  (void)tcp.shutdown_write();
  std::array<std::byte, 4096> sink;
  for (int k = 0; k < 16 && tcp.raw().read(sink).value_or(0) > 0; ++k) {
  }
  (void)co_await corio::timeout(linger_timeout, drain(tcp));
  stream.close();
}

}  // namespace http
