// Serving TCP (and UDP) on every worker of a corio::runtime.
//
//   corio::runtime rt({.threads = 4});
//   auto server = corio::tcp_server::bind(rt, {corio::net::ip_address::loopback_v4(), 0}).value();
//   fmt::print("listening on {}\n", server.local_address().to_string());  // the real port
//   auto serving = rt.spawn(std::move(server).serve([](corio::tcp_stream s) -> corio::task<> {
//     ...                                   // one task per connection, on the worker that owns s
//   }));
//   ...
//   serving.request_stop();                 // graceful: see "Stopping" below
//   serving.join().value();
//
// Why two steps: bind() is synchronous and fails early (EADDRINUSE, EACCES) before anything is
// served, and it fixes the port (port 0 picks one, the other sockets join it), so the caller
// can announce the address before the first connection is taken. serve() consumes the server.
//
// Contracts and sharp edges:
// - Distribution (serve_options::distribution):
//   reuse_port:  every worker gets its own SO_REUSEPORT listener and accepts on it; the kernel
//                spreads connections by a hash of the peer's address, so nothing crosses threads
//                and there is no acceptor bottleneck, but the spread is statistical, and a busy
//                worker's queue is not drained by an idle one.
//   round_robin: one listener, accepted on the thread that runs serve(); each connection goes
//                to the next worker in turn (exactly even counts), where it is registered and
//                handled. One thread accepts everything; a cross-thread hand-off per connection.
//   Either way a connection is registered with, and handled on, exactly one worker, and stays
//   there (the rule of tcp.hpp: a socket belongs to the thread that registered it).
// - Handler: `task<T> handler(corio::tcp_stream)` or `(corio::tcp_stream, net::socket_address
//   peer)`; T is ignored. It is copied once per worker, and each copy is only ever invoked (and
//   its coroutines run) on that worker's thread: captured state is not shared by accident, but
//   what the copies share (pointers, shared_ptr) is shared across threads. The copies live until
//   the last connection task has finished, so a lambda coroutine may use its captures.
// - Stopping: request_stop() on serve()'s task (or a stop of its runtime) stops accepting,
//   takes the connections the kernel completed but nobody accepted yet and ends them with a FIN
//   (closing the listener with them queued would reset them), then cancels every connection
//   task and waits for each to finish. Cancellation reaches the handler's awaits as
//   operation_canceled; a handler that ignores it delays serve()'s return. A handler that wants
//   its peer to see a FIN rather than a reset must drain unread input before closing (see
//   examples/echo_server.cpp).
// - Accept failures: a connection that died in the queue (ECONNABORTED, EPROTO, EPERM...) is
//   skipped. Anything else, typically running out of descriptors or memory (EMFILE, ENFILE,
//   ENOBUFS, ENOMEM), leaves the connection queued: the acceptor reports it to
//   on_accept_error and sleeps accept_pause before it retries, so it never spins on a failure
//   that only a close elsewhere can cure.
// - Exceptions: one escaping a handler goes to on_handler_exception (on that worker's thread)
//   and only its connection ends. Without that callback it ends the whole server instead, in
//   the order above, and serve() rethrows it: never silently dropped, never std::terminate.
// - serve() returns an empty result once stopped, or the error that ended it (a listener that
//   cannot be registered). It must run on a corio thread (any executor; in round_robin that
//   thread accepts); the connections run on the runtime given to bind(), which must outlive it.
// - Callbacks in serve_options run on the worker where the event happened, possibly on several
//   workers at once: they must be thread-safe.
// - A server destroyed without serve() closes its listeners; connections queued on them are
//   reset by the kernel.
//
// UDP: udp_server is the reuse_port shape for datagrams: one SO_REUSEPORT socket per worker and
// one handler task per worker, `task<T> handler(corio::udp_socket&)`, running until stopped.
// There is no round_robin for UDP: a datagram carries no connection to hand over, and passing
// datagrams between threads costs more than handling them where they arrive.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/udp.hpp>
#include <corio/runtime.hpp>
#include <corio/sync/event.hpp>
#include <corio/task.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <corio/udp.hpp>

namespace corio {

enum class accept_distribution { reuse_port, round_robin };

struct serve_options {
  // reuse_port is forced on for accept_distribution::reuse_port.
  net::bind_options bind;
  accept_distribution distribution = accept_distribution::reuse_port;
  // Serve on workers 0 .. workers-1 of the runtime; 0 = all of them.
  std::size_t workers = 0;
  // How long an acceptor waits after an accept failure that is not the connection's own
  // (at least 1 ms: retrying at once would spin).
  std::chrono::milliseconds accept_pause{50};
  // Each such failure, before the pause. `first` is true for the first since the last accept
  // that succeeded, so a log can say it once per episode.
  std::function<void(std::error_code error, bool first)> on_accept_error;
  // An exception that escaped a handler; without this callback it stops the server (see top).
  std::function<void(std::exception_ptr)> on_handler_exception;
};

namespace detail {

template <class T>
inline constexpr bool is_serve_task_v = false;
template <class T>
inline constexpr bool is_serve_task_v<task<T>> = true;

template <class H>
concept tcp_peer_handler =
    std::is_invocable_v<H&, tcp_stream, const net::socket_address&> &&
    is_serve_task_v<std::invoke_result_t<H&, tcp_stream, const net::socket_address&>>;
template <class H>
concept tcp_handler =
    tcp_peer_handler<H> ||
    (std::is_invocable_v<H&, tcp_stream> && is_serve_task_v<std::invoke_result_t<H&, tcp_stream>>);
template <class H>
concept udp_handler = std::is_invocable_v<H&, udp_socket&> &&
                      is_serve_task_v<std::invoke_result_t<H&, udp_socket&>>;

// What every task of one serve() call shares: how the first failure ends the others. Held by
// shared_ptr from every such task, because at a runtime's shutdown (after its grace period)
// the tasks' frames are destroyed by their own workers in no particular order.
struct serve_core {
  manual_reset_event ended;  // a unit (shard, acceptor, UDP handler) finished: stop them all
  std::mutex mutex;
  std::error_code error;
  std::exception_ptr exception;

  void fail(std::error_code ec) noexcept {
    {
      std::lock_guard lock(mutex);
      if (!error && !exception) error = ec;
    }
    ended.set();
  }
  void fail(std::exception_ptr e) noexcept {
    {
      std::lock_guard lock(mutex);
      if (!exception) exception = std::move(e);
    }
    ended.set();
  }
  result<void> outcome() {
    std::lock_guard lock(mutex);
    if (exception) std::rethrow_exception(exception);
    return error;
  }
};

// A unit's last act, however it ends (returns, or its frame is destroyed at shutdown).
struct unit_exit {
  explicit unit_exit(serve_core& c) noexcept : core(c) {}
  unit_exit(const unit_exit&) = delete;
  unit_exit& operator=(const unit_exit&) = delete;
  ~unit_exit() { core.ended.set(); }
  serve_core& core;
};

// Waits until the serve() task is stopped or a unit ends, then stops every unit and waits.
inline task<result<void>> supervise(std::shared_ptr<serve_core> core,
                                    std::vector<join_handle<>> units) {
  (void)co_await core->ended.wait();  // operation_canceled: serve() itself was stopped
  for (auto& u : units) u.request_stop();
  for (auto& u : units) {
    try {
      co_await u.shielded();  // serve() itself may be stopped: still wait for them
    } catch (...) {  // destroyed unstarted (its runtime is stopping): nothing to report
    }
  }
  co_return core->outcome();
}

inline task<> stop_and_join(std::vector<join_handle<>>& tasks) {
  for (auto& t : tasks) t.request_stop();
  for (auto& t : tasks) {
    try {
      co_await t.shielded();  // a stopped caller still waits for them
    } catch (...) {  // refused by a stopping worker: never ran
    }
  }
}

// Handles of finished tasks are dropped only when the vector would grow, so it stays within
// twice the live connections without a sweep per accept.
inline void add_task(std::vector<join_handle<>>& tasks, join_handle<> h) {
  if (tasks.size() == tasks.capacity()) {
    std::erase_if(tasks, [](const join_handle<>& t) { return t.is_finished(); });
  }
  tasks.push_back(std::move(h));
}

// Connections completed by the kernel but not accepted would be reset when the listener
// closes: take them and end them with a FIN. Input they already sent is drained first, since
// closing a socket with unread input sends a reset. Bounded: new ones may keep arriving.
inline void close_backlog(tcp_listener& listener) noexcept {
  std::array<std::byte, 4096> sink;
  for (int k = 0; k < 4096; ++k) {
    auto got = listener.raw().accept();
    if (!got) {
      if (got.error() == std::errc::connection_aborted) continue;
      break;  // would block (empty), or out of descriptors: the rest are reset
    }
    (void)got->first.shutdown(net::shutdown_how::write);
    for (int j = 0; j < 16 && got->first.read(sink).value_or(0) > 0; ++j) {
    }
  }
  listener.close();
}

// accept(2) errors that are the pending connection's own: it is gone, take the next one.
inline bool connection_gone(std::error_code ec) noexcept {
  return ec == std::errc::connection_aborted || ec == std::errc::protocol_error ||
         ec == std::errc::operation_not_permitted || ec == std::errc::connection_reset ||
         ec == std::errc::network_down || ec == std::errc::network_unreachable ||
         ec == std::errc::host_unreachable || ec == std::errc::no_protocol_option ||
         ec == std::errc::operation_not_supported;
}

// Accepts until stopped, handing each connection to `take(stream, peer)`. With Raw, `stream`
// is an unregistered net::tcp_stream for another worker to register, and what queued meanwhile
// is taken with plain accept(2) calls: no registration on this thread for those.
template <bool Raw, class Take>
task<> accept_loop(tcp_listener& listener, const serve_options& options, Take& take) {
  const auto pause = std::max(options.accept_pause, std::chrono::milliseconds(1));
  bool failing = false;
  for (unsigned round = 1;; ++round) {
    // A flood of connections completes every accept at once: let the rest of the thread run.
    if (round % 16 == 0) co_await yield();
    auto got = co_await listener.accept();
    if (got) {
      failing = false;
      if constexpr (Raw) {
        take(got->first.release(), got->second);
        for (int k = 0; k < 32; ++k) {
          auto more = listener.raw().accept();
          if (!more) break;  // would block, or a failure the next awaited accept reports
          take(std::move(more->first), more->second);
        }
      } else {
        take(std::move(got->first), got->second);
      }
      continue;
    }
    const std::error_code ec = got.error();
    if (ec == std::errc::operation_canceled) co_return;
    if (connection_gone(ec)) continue;
    if (options.on_accept_error) options.on_accept_error(ec, !failing);
    failing = true;
    if (!co_await sleep_for(pause)) co_return;  // stopped while paused
  }
}

template <class Handler>
struct tcp_serve_state {
  tcp_serve_state(serve_options o, std::size_t workers, const Handler& h)
      : options(std::move(o)), handlers(workers, h) {}
  serve_core core;
  serve_options options;
  std::vector<Handler> handlers;  // handlers[w] is used on worker w only
};

// One connection on worker `w`. A raw stream (round_robin) is registered here first.
template <class Handler, class Stream>
task<> serve_connection(std::shared_ptr<tcp_serve_state<Handler>> state, std::size_t w,
                        Stream stream, net::socket_address peer) {
  tcp_stream s;
  if constexpr (std::is_same_v<Stream, net::tcp_stream>) {
    auto registered = tcp_stream::from_raw(std::move(stream));
    if (!registered) co_return;  // closes it: a connection this worker cannot serve
    s = std::move(*registered);
  } else {
    s = std::move(stream);
  }
  std::exception_ptr escaped;
  try {
    Handler& h = state->handlers[w];
    if constexpr (tcp_peer_handler<Handler>) {
      (void)co_await h(std::move(s), peer);
    } else {
      (void)co_await h(std::move(s));
    }
  } catch (...) {
    escaped = std::current_exception();
  }
  if (!escaped) co_return;
  if (state->options.on_handler_exception) {
    state->options.on_handler_exception(std::move(escaped));
  } else {
    state->core.fail(std::move(escaped));
  }
}

// Accepts, serves and at the end closes the connections of one listener. Round-robin when
// `rt` is given (connections go to its workers in turn), else on this worker `w`.
template <class Handler>
task<> tcp_unit(std::shared_ptr<tcp_serve_state<Handler>> state, std::size_t w,
                net::tcp_listener raw, runtime* rt) {
  unit_exit ended_guard{state->core};
  auto listener = tcp_listener::from_raw(std::move(raw));  // registers on this thread
  if (!listener) {
    state->core.fail(listener.error());
    co_return;
  }
  std::vector<join_handle<>> connections;
  std::exception_ptr failed;
  try {
    if (rt) {
      std::size_t next = 0;
      const std::size_t n = state->handlers.size();
      auto take = [&](net::tcp_stream s, const net::socket_address& peer) {
        const std::size_t to = next;
        next = next + 1 == n ? 0 : next + 1;
        add_task(connections, rt->spawn_on(to, serve_connection(state, to, std::move(s), peer)));
      };
      co_await accept_loop<true>(*listener, state->options, take);
    } else {
      auto take = [&](tcp_stream s, const net::socket_address& peer) {
        add_task(connections, spawn(serve_connection(state, w, std::move(s), peer)));
      };
      co_await accept_loop<false>(*listener, state->options, take);
    }
  } catch (...) {
    failed = std::current_exception();  // after the cleanup below, which must happen anyway
  }
  close_backlog(*listener);
  co_await stop_and_join(connections);
  if (failed) state->core.fail(std::move(failed));
}

template <class Handler>
struct udp_serve_state {
  udp_serve_state(std::size_t workers, const Handler& h) : handlers(workers, h) {}
  serve_core core;
  std::vector<Handler> handlers;
};

template <class Handler>
task<> udp_unit(std::shared_ptr<udp_serve_state<Handler>> state, std::size_t w,
                net::udp_socket raw) {
  unit_exit ended_guard{state->core};
  auto socket = udp_socket::from_raw(std::move(raw));
  if (!socket) {
    state->core.fail(socket.error());
    co_return;
  }
  try {
    (void)co_await state->handlers[w](*socket);
  } catch (...) {
    state->core.fail(std::current_exception());
  }
}

inline result<runtime*> current_runtime() {
  if (runtime* rt = runtime::current()) return rt;
  return std::make_error_code(std::errc::operation_not_permitted);
}

inline result<std::size_t> worker_count(const runtime& rt, std::size_t wanted) {
  if (wanted > rt.size()) return std::make_error_code(std::errc::invalid_argument);
  return wanted ? wanted : rt.size();
}

// Binds `count` sockets on one address: the first picks the port (when `at` says 0), the
// others join it.
template <class Raw>
result<std::vector<Raw>> bind_group(net::socket_address at, const net::bind_options& options,
                                    std::size_t count, net::socket_address& bound) {
  std::vector<Raw> sockets;
  sockets.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto s = Raw::bind(at, options);
    if (!s) return s.error();
    if (i == 0) {
      auto where = s->local_address();
      if (!where) return where.error();
      at = bound = *where;
    }
    sockets.push_back(std::move(*s));
  }
  return sockets;
}

}  // namespace detail

class tcp_server {
 public:
  tcp_server() noexcept = default;  // empty: serve() fails with bad_file_descriptor
  tcp_server(tcp_server&&) noexcept = default;
  tcp_server& operator=(tcp_server&&) noexcept = default;

  // Binds and listens now, on the calling thread (any thread: nothing is registered until
  // serve()). Connections arriving before serve() wait in the kernel's queue.
  static result<tcp_server> bind(runtime& rt, const net::socket_address& at,
                                 serve_options options = {}) {
    auto workers = detail::worker_count(rt, options.workers);
    if (!workers) return workers.error();
    tcp_server server;
    server.runtime_ = &rt;
    server.workers_ = *workers;
    net::bind_options bind = options.bind;
    std::size_t listeners = 1;
    if (options.distribution == accept_distribution::reuse_port) {
      bind.reuse_port = true;
      listeners = *workers;
    }
    auto bound = detail::bind_group<net::tcp_listener>(at, bind, listeners, server.local_);
    if (!bound) return bound.error();
    server.listeners_ = std::move(*bound);
    server.options_ = std::move(options);
    return server;
  }
  // The same on the runtime whose worker calls it (operation_not_permitted elsewhere).
  static result<tcp_server> bind(const net::socket_address& at, serve_options options = {}) {
    auto rt = detail::current_runtime();
    if (!rt) return rt.error();
    return bind(**rt, at, std::move(options));
  }

  // The address every listener is bound to, with the real port.
  const net::socket_address& local_address() const noexcept { return local_; }
  std::size_t workers() const noexcept { return workers_; }
  accept_distribution distribution() const noexcept { return options_.distribution; }

  // Serves until the returned task is stopped (see the top of this file). Consumes the
  // server: the task owns it, so nothing here has to outlive the call.
  template <class Handler>
    requires detail::tcp_handler<Handler> && std::is_copy_constructible_v<Handler>
  task<result<void>> serve(Handler handler) && {
    return run(std::move(*this), std::move(handler));
  }

 private:
  template <class Handler>
  static task<result<void>> run(tcp_server self, Handler handler) {
    if (self.listeners_.empty()) co_return std::make_error_code(std::errc::bad_file_descriptor);
    auto state = std::make_shared<detail::tcp_serve_state<Handler>>(std::move(self.options_),
                                                                   self.workers_, handler);
    std::vector<join_handle<>> units;
    if (state->options.distribution == accept_distribution::reuse_port) {
      for (std::size_t w = 0; w < self.listeners_.size(); ++w) {
        units.push_back(self.runtime_->spawn_on(
            w, detail::tcp_unit(state, w, std::move(self.listeners_[w]), nullptr)));
      }
    } else {
      units.push_back(corio::spawn(
          detail::tcp_unit(state, 0, std::move(self.listeners_.front()), self.runtime_)));
    }
    self.listeners_.clear();
    co_return co_await detail::supervise(std::shared_ptr<detail::serve_core>(state, &state->core),
                                         std::move(units));
  }

  runtime* runtime_ = nullptr;
  std::size_t workers_ = 0;
  std::vector<net::tcp_listener> listeners_;  // plain sockets until serve() registers them
  net::socket_address local_;
  serve_options options_;
};

class udp_server {
 public:
  udp_server() noexcept = default;
  udp_server(udp_server&&) noexcept = default;
  udp_server& operator=(udp_server&&) noexcept = default;

  // One SO_REUSEPORT socket per worker (0 = all), bound now on the calling thread.
  static result<udp_server> bind(runtime& rt, const net::socket_address& at,
                                 net::bind_options options = {}, std::size_t workers = 0) {
    auto n = detail::worker_count(rt, workers);
    if (!n) return n.error();
    options.reuse_port = true;
    udp_server server;
    server.runtime_ = &rt;
    auto bound = detail::bind_group<net::udp_socket>(at, options, *n, server.local_);
    if (!bound) return bound.error();
    server.sockets_ = std::move(*bound);
    return server;
  }
  static result<udp_server> bind(const net::socket_address& at, net::bind_options options = {},
                                 std::size_t workers = 0) {
    auto rt = detail::current_runtime();
    if (!rt) return rt.error();
    return bind(**rt, at, options, workers);
  }

  const net::socket_address& local_address() const noexcept { return local_; }
  std::size_t workers() const noexcept { return sockets_.size(); }

  // Runs a copy of `handler` on every worker with that worker's socket, until the returned
  // task is stopped; then cancels them all and waits for each. A handler that returns or
  // throws ends the others too; the first exception is rethrown.
  template <class Handler>
    requires detail::udp_handler<Handler> && std::is_copy_constructible_v<Handler>
  task<result<void>> serve(Handler handler) && {
    return run(std::move(*this), std::move(handler));
  }

 private:
  template <class Handler>
  static task<result<void>> run(udp_server self, Handler handler) {
    if (self.sockets_.empty()) co_return std::make_error_code(std::errc::bad_file_descriptor);
    auto state = std::make_shared<detail::udp_serve_state<Handler>>(self.sockets_.size(), handler);
    std::vector<join_handle<>> units;
    for (std::size_t w = 0; w < self.sockets_.size(); ++w) {
      units.push_back(
          self.runtime_->spawn_on(w, detail::udp_unit(state, w, std::move(self.sockets_[w]))));
    }
    self.sockets_.clear();
    co_return co_await detail::supervise(std::shared_ptr<detail::serve_core>(state, &state->core),
                                         std::move(units));
  }

  runtime* runtime_ = nullptr;
  std::vector<net::udp_socket> sockets_;
  net::socket_address local_;
};

}  // namespace corio
