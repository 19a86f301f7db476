// Connecting to the first of several addresses that answers, RFC 8305 style ("Happy
// Eyeballs", section 5): attempts start one at a time, in the given order, each either once
// the previous one failed or once the connection-attempt delay after it passed, whichever
// comes first; the first connection wins, and every other attempt is cancelled, awaited and
// its socket closed before connect returns. One task_scope holds the attempts and the delays,
// so a stop of the connecting task (or a corio::timeout around it) reaches all of them.
#include <corio/resolve.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

#include <corio/scope.hpp>
#include <corio/time.hpp>

namespace corio {
namespace {

// What a child of the race reports: an attempt that ended, or the delay after an attempt that
// passed (error set when it was cancelled instead).
struct race_event {
  std::size_t attempt = 0;
  bool delay_passed = false;
  std::error_code error;
  std::optional<tcp_stream> stream;
};

task<race_event> attempt(std::size_t index, net::socket_address to,
                         std::chrono::milliseconds limit) {
  auto s = co_await connect(to, limit);
  race_event e{index, false, {}, std::nullopt};
  if (s) {
    e.stream.emplace(std::move(*s));
  } else {
    e.error = s.error();
  }
  co_return e;
}

task<race_event> delay_after(std::size_t index, std::chrono::milliseconds delay) {
  auto slept = co_await sleep_for(delay);
  co_return race_event{index, true, slept ? std::error_code{} : slept.error(), std::nullopt};
}

}  // namespace

task<result<tcp_stream>> connect(std::vector<net::socket_address> addresses,
                                 connect_options options) {
  if (addresses.empty()) co_return make_error_code(resolve_error::no_address);
  const auto delay = std::max(options.attempt_delay, std::chrono::milliseconds::zero());
  task_scope<race_event> race;
  std::size_t started = 0;
  std::size_t pending = 0;  // attempts started and not yet ended
  const auto start_next = [&] {
    race.spawn(attempt(started, addresses[started], options.attempt_timeout));
    ++started;
    ++pending;
    if (started < addresses.size()) race.spawn(delay_after(started - 1, delay));
  };
  start_next();
  std::optional<tcp_stream> winner;
  std::error_code last;
  while (auto e = co_await race.next()) {
    if (e->delay_passed) {
      if (e->error) {  // cancelled: this task was stopped
        last = e->error;
        break;
      }
      // Only the delay after the newest attempt counts: an older one is stale, a failure
      // having started the next attempt before it passed.
      if (e->attempt + 1 == started && started < addresses.size()) start_next();
      continue;
    }
    --pending;
    if (e->stream) {
      winner = std::move(e->stream);
      break;
    }
    last = e->error;
    // A stopped task's attempts all end so: say why instead of trying the rest.
    if (last == std::errc::operation_canceled) break;
    if (started < addresses.size()) {
      start_next();  // a failure does not wait for the delay
    } else if (pending == 0) {
      break;  // all failed; only stale delays are left
    }
  }
  // The losers: cancelled and awaited; a connection one of them made meanwhile is closed.
  co_await race.close();
  if (winner) co_return std::move(*winner);
  co_return last;
}

}  // namespace corio
