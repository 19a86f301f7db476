// A line-based chat room over TCP, for nc or telnet (`nc 127.0.0.1 PORT`).
//
// Protocol. Lines end in LF or CRLF from the client; the server ends its lines with CRLF.
// Lines starting with '*' are notices, with '!' errors, with '<nick>' what someone said.
//   on connect   S: * welcome to corio chat; your nickname?
//   nickname     C: alice        (1-32 characters of A-Z a-z 0-9 _ -, unique; "/nick alice" too)
//                S: * hello alice; commands: /who, /nick NEW, /quit
//                others: * alice joined
//     refused    S: ! nickname taken: alice     or  ! bad nickname: ...
//                S: * your nickname?            (ask again; other commands get
//                                                ! choose a nickname first)
//   text         C: hi all       others: <alice> hi all   (not sent back to alice; "//x" says
//                                "/x"; control characters become '?'; blank lines are ignored)
//   /who         S: * here: alice, bob          (in order)
//   /nick NEW    S: * you are now NEW           others: * alice is now NEW
//                (or ! nickname taken: NEW / ! bad nickname: ...)
//   /quit        S: * bye, then the server closes    others: * alice left
//   /other       S: ! unknown command: /other; try /who, /nick NEW, /quit
// Endings:
//   - End of stream, also a half-close: the lines before it are handled, then as /quit
//     without the bye.
//   - A line over 1024 bytes (without its terminator): ! line too long (limit 1024 bytes),
//     then close.
//   - A client that does not read: once 256 KiB for it wait unwritten (chat/room.hpp), the
//     next line for it drops it; others see `* alice dropped (not reading)`, and it gets
//     `! dropped: not reading` if its socket still takes it, then close. The same if nothing
//     could be written to it for 10 s. A client that reads is never dropped, however much
//     others send at once.
//   - SIGINT/SIGTERM: the server stops accepting, sends `* server shutting down` where the
//     socket takes it, closes every connection in order (FIN) and exits 0.
//
// Shape. Per connection, a reader task (the client's lines, framed by a corio::buffered_reader
// with the line limit → chat::session → chat::room) and a writer task (the member's replies and
// the room's lines, chat::delivery, all that is there in one write). The room sends each line
// once on a corio::broadcast, never waiting for anyone, and counts each member's unwritten
// bytes. A corio::tcp_server runs the connections on every worker (--threads N, --accept) and
// the one room is shared by all: its mutex guards the members, and a broadcast receiver and a
// channel sender work from any thread.
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <corio/io/buffered_reader.hpp>
#include <corio/io/stream_error.hpp>
#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>
#include <fmt/core.h>

#include "chat/delivery.hpp"
#include "chat/room.hpp"
#include "chat/session.hpp"
#include "common/run_service.hpp"

namespace {

using namespace std::chrono_literals;

// A member's own replies (the room's lines come through the room's broadcast): the byte budget
// (chat::unwritten_limit) drops a client that does not read them first unless they are tiny.
constexpr std::size_t outbox_lines = 16384;
constexpr std::size_t write_batch = 64 * 1024;  // queued lines joined into one write, at most
constexpr auto write_limit = 10s;  // a client that takes no byte for this long is dropped

// Whether a whole line is already buffered (the next read_line will not read the socket).
bool has_line(std::span<const std::byte> buffered) {
  return std::find(buffered.begin(), buffered.end(), std::byte{'\n'}) != buffered.end();
}

// The partial line left at the end of the stream, without a trailing CR.
std::string_view unterminated(const corio::buffered_reader<corio::tcp_stream>& in) {
  const auto rest = in.buffered();
  std::string_view line(reinterpret_cast<const char*>(rest.data()), rest.size());
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// The client's lines, until it quits, ends its stream, breaks the line limit or is cancelled.
corio::task<> read_lines(corio::tcp_stream& stream, chat::session& talk) {
  // A line may take chat::max_line bytes and its CRLF; anything longer is refused.
  constexpr std::size_t max_record = chat::max_line + 2;
  corio::buffered_reader in(stream, 4096);
  talk.greet();
  while (talk.open()) {
    // What the last read broadcast is in the others' outboxes: before reading again, let their
    // writers (on this thread) take it, so a burst never piles up read after read.
    if (!has_line(in.buffered())) co_await corio::yield();
    auto line = co_await in.read_line(max_record);
    if (line && line->size() <= chat::max_line) {
      talk.handle(*line);
    } else if (line || line.error() == corio::stream_error::line_too_long) {
      talk.line_too_long();
    } else {
      // At the end of the stream an unterminated last line still counts, if within the limit.
      if (line.error() == corio::stream_error::incomplete_line) {
        const auto last = unterminated(in);
        if (last.size() <= chat::max_line) talk.handle(last);
      }
      break;  // the end, a reset, or cancelled
    }
  }
  // Out of the room, and the outbox's last sender gone: the writer sends what is queued, then
  // sees the channel closed and ends.
  talk.leave();
}

// The only task that writes to the socket: each time, every reply and room line already there
// (up to write_batch bytes) in one write, so a burst costs its client a few system calls, not
// one a line. `mid_line` tells the closing code whether the stream stopped inside a line, after
// which nothing more may be written.
corio::task<> write_lines(corio::tcp_stream& stream, chat::delivery& out, chat::seat& place,
                          bool& mid_line) {
  std::string batch;  // reused: its capacity stays, so a steady conversation allocates less
  for (;;) {
    batch.clear();
    const auto status = out.take(batch, write_batch);
    if (status == chat::delivery::status::lagged) {
      place.drop(chat::not_reading);
      co_return;
    }
    if (batch.empty()) {
      if (status == chat::delivery::status::finished || !co_await out.wait()) co_return;
      continue;
    }
    mid_line = true;
    auto written = co_await corio::timeout(write_limit,
                                           stream.write_all(std::as_bytes(std::span(batch))));
    if (!written) {
      if (written.error() == std::errc::timed_out) place.drop(chat::not_reading);
      else if (written.error() != std::errc::operation_canceled) place.drop(chat::connection_lost);
      co_return;
    }
    out.written();
    mid_line = false;
    if (status == chat::delivery::status::finished) co_return;
  }
}

corio::task<> converse(corio::tcp_stream& stream, chat::session& talk, chat::delivery& out,
                       chat::seat& place, bool& mid_line) {
  co_await corio::when_all(read_lines(stream, talk), write_lines(stream, out, place, mid_line));
}

corio::task<> until_dropped(chat::seat& place) { (void)co_await place.dropped().wait(); }

// Bytes the socket takes right now, without waiting (the task may be cancelled already).
void say_goodbye(corio::tcp_stream& stream, std::string_view text) {
  const auto line = chat::make_line(text);
  (void)stream.raw().write(std::as_bytes(std::span(*line)));
}

// FIN, not RST: unread input would turn close() into a reset, so drain what already arrived.
void close_in_order(corio::tcp_stream& stream) {
  (void)stream.shutdown_write();
  std::array<std::byte, 4096> buffer;
  for (int k = 0; k < 16 && stream.raw().read(buffer).value_or(0) > 0; ++k) {
  }
  stream.close();
}

corio::task<> serve_client(corio::tcp_stream stream, chat::room& room) {
  auto [out, inbox] = corio::make_channel<chat::message>(outbox_lines);
  auto place = std::make_shared<chat::seat>();
  bool mid_line = false;
  {
    chat::delivery replies_and_room(*place, std::move(inbox));
    chat::session talk(room, place, std::move(out));
    // Either the conversation ends (the reader finished and the writer flushed) or the seat
    // is dropped (too slow, or the writer failed), which cancels both at once.
    (void)co_await corio::when_any(
        converse(stream, talk, replies_and_room, *place, mid_line), until_dropped(*place));
  }  // the session leaves the room here if the reader did not get to it
  // While the server stops, members whose writers already ended look dropped to the room:
  // the shutdown is the real reason.
  if (!mid_line) {
    if (room.closing()) {
      say_goodbye(stream, "* server shutting down");
    } else if (auto why = place->reason(); !why.empty()) {
      say_goodbye(stream, fmt::format("! dropped: {}", why));
    }
  }
  close_in_order(stream);
}

corio::task<int> serve(const examples::options& opts, corio::runtime& rt, chat::room& room) {
  auto client = [&room](corio::tcp_stream s) { return serve_client(std::move(s), room); };
  // Closing the room first: the members cancelled next are not announced as leaving, and each
  // connection says "* server shutting down" instead.
  co_return co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), client,
                                                  [&room] { room.close(); });
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(
      argc, argv, "Line-based chat room over TCP (nc 127.0.0.1 PORT)", 1024);
  chat::room room;  // outlives the runtime that run_service makes and ends
  return examples::run_service(opts,
                               [&](corio::runtime& rt) { return serve(opts, rt, room); });
}
