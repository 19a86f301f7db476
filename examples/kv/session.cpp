#include "session.hpp"

#include <chrono>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/time.hpp>

#include "commands.hpp"
#include "reply_writer.hpp"

namespace kv {

namespace {

using namespace std::chrono_literals;

corio::task<bool> flush(corio::tcp_stream& stream, reply_writer& out) {
  bool ok = true;
  for (auto chunk = out.next_chunk(); ok && !chunk.empty(); chunk = out.next_chunk()) {
    ok = static_cast<bool>(co_await stream.write_all(std::as_bytes(std::span(chunk))));
  }
  out.clear();
  co_return ok;
}

// FIN after the last reply. Input still unread at close() would make it a reset, which can
// destroy the reply (an error text, +OK of QUIT) before the client read it, so what the client
// still sends is read and dropped for a short, bounded while.
corio::task<> close_gracefully(corio::tcp_stream& stream, std::vector<char>& buffer) {
  (void)stream.shutdown_write();
  const auto span = std::as_writable_bytes(std::span(buffer));
  std::size_t drained = 0;
  for (int round = 0; round < 64 && drained < (4u << 20); ++round) {
    auto n = co_await corio::timeout(200ms, stream.read(span));
    if (!n || *n == 0) break;
    drained += *n;
  }
  stream.close();
}

}  // namespace

millis now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

corio::task<> serve_client(corio::tcp_stream stream, store& db, session_options options) {
  (void)stream.set_nodelay(true);  // replies are whole when written; do not hold them back
  request_parser parser(options.limits);
  reply_writer out;
  std::vector<char> buffer(options.read_size);
  std::size_t begin = 0;  // unconsumed input is buffer[begin, end)
  std::size_t end = 0;
  bool closing = false;
  for (unsigned round = 1; !closing; ++round) {
    // Keep room for a full read. What stays unconsumed is at most one line (the parser's
    // limit), so the buffer stays below max_line + read_size.
    if (begin == end) begin = end = 0;
    if (buffer.size() - end < options.read_size) {
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
      if (buffer.size() - end < options.read_size) buffer.resize(end + options.read_size);
    }
    auto n = co_await stream.read(std::as_writable_bytes(std::span(buffer)).subspan(end));
    if (!n || *n == 0) break;  // end of stream, reset, or cancelled
    end += *n;

    std::string_view input(buffer.data() + begin, end - begin);
    while (!closing) {
      const auto st = parser.parse(input);
      if (st == request_parser::status::need_more) break;
      if (st == request_parser::status::error) {
        if (!parser.error().empty()) out.error("ERR " + std::string(parser.error()));
        closing = true;
        break;
      }
      command_context ctx{db, out, now_ms()};
      execute(ctx, parser.args());
      closing = ctx.close_after;
      if (out.size() >= options.flush_at && !co_await flush(stream, out)) co_return;
    }
    begin = end - input.size();
    parser.trim();
    if (!out.empty() && !co_await flush(stream, out)) co_return;
    if (round % 16 == 0) co_await corio::yield();  // a busy pipeline must not starve others
  }
  if (closing) {
    co_await close_gracefully(stream, buffer);
    co_return;
  }
  // End of stream, a reset, or cancelled (the server stops): still a FIN rather than a reset
  // for input that already arrived, drained without waiting.
  (void)stream.shutdown_write();
  const auto span = std::as_writable_bytes(std::span(buffer));
  for (int k = 0; k < 16 && stream.raw().read(span).value_or(0) > 0; ++k) {
  }
  stream.close();
}

}  // namespace kv
