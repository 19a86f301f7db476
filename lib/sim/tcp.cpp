// The simulated streams: connect's handshake, pipes with latency, partitions and flow control,
// FIN, resets (by a crash, a close with unread input, the reset fault, a stall past give_up),
// and the awaitables that read and write them. See tcp_impl.hpp for the pipe's invariants.
#include <corio/sim/tcp.hpp>

#include <algorithm>
#include <cstring>

#include "sim/tcp_impl.hpp"
#include "sim/world_impl.hpp"

namespace corio::sim {
namespace detail {

// ---- endpoints and pipes ---------------------------------------------------------------------

void tcp_pipe::reset_offsets() noexcept {
  written = delivered = read = 0;
  first = count = 0;
  last_arrival = 0;
  stalled_since = -1;
  fin_sent = fin_delivered = event_queued = false;
}

tcp_endpoint& tcp_endpoint::peer() noexcept { return conn->ends[1 - side]; }
tcp_pipe& tcp_endpoint::out() noexcept { return conn->pipes[side]; }
tcp_pipe& tcp_endpoint::in() noexcept { return conn->pipes[1 - side]; }
host_id tcp_endpoint::host() const noexcept { return conn->hosts[side]; }
const net::socket_address& tcp_endpoint::address() const noexcept {
  return conn->addresses[side];
}
const net::socket_address& tcp_endpoint::peer_address() const noexcept {
  return conn->addresses[1 - side];
}
void tcp_endpoint::wake_all() noexcept {
  if (reader) reader->wake();
  if (writer) writer->wake();
}

namespace {

// Copies between a span and the ring at a stream offset, in at most two pieces.
void ring_copy_in(tcp_pipe& p, std::uint64_t at, const std::byte* src, std::size_t n) noexcept {
  const std::size_t start = static_cast<std::size_t>(at % p.capacity);
  const std::size_t first = std::min(n, p.capacity - start);
  std::memcpy(p.ring.get() + start, src, first);
  if (n > first) std::memcpy(p.ring.get(), src + first, n - first);
}

void ring_copy_out(const tcp_pipe& p, std::uint64_t at, std::byte* dst, std::size_t n) noexcept {
  const std::size_t start = static_cast<std::size_t>(at % p.capacity);
  const std::size_t first = std::min(n, p.capacity - start);
  std::memcpy(dst, p.ring.get() + start, first);
  if (n > first) std::memcpy(dst + first, p.ring.get(), n - first);
}

bool at_end(tcp_endpoint& e) noexcept { return e.in().fin_delivered && e.in().readable() == 0; }

}  // namespace

// ---- read / read_exact / write / write_all -----------------------------------------------------

bool stream_op_base::suspend(std::coroutine_handle<> h, const std::stop_token& stop) noexcept {
  if (stop.stop_requested()) {
    stopped_ = true;
    return false;
  }
  if (!ep_) {
    error_ = std::make_error_code(std::errc::bad_file_descriptor);
    return false;
  }
  stream_op_base*& slot = is_read() ? ep_->reader : ep_->writer;
  if (slot && slot != this) {  // one waiter per direction, as for corio's sockets
    error_ = std::make_error_code(std::errc::device_or_resource_busy);
    return false;
  }
  if (attempt()) return false;
  slot = this;
  linked_ = true;
  if (!arm(h, stop)) {
    unlink();
    stopped_ = true;
    return false;
  }
  return true;
}

bool stream_op_base::attempt() noexcept {
  tcp_endpoint& e = *ep_;
  world::impl& w = *e.conn->w;
  if (is_read()) {
    if (e.reset) {  // reported once; then the stream reads as ended, as Linux does
      if (!e.reset_reported) {
        e.reset_reported = true;
        error_ = e.reset;
      } else if (kind_ == kind::read_exact && done_ < size_) {
        error_ = make_error_code(error::end_of_stream);
      }
      return true;
    }
    tcp_pipe& p = e.in();
    const std::size_t n = std::min(size_ - done_, p.readable());
    if (n > 0) {
      ring_copy_out(p, p.read, data_ + done_, n);
      p.read += n;
      done_ += n;
      w.tcp_consumed(e);
    }
    if (kind_ == kind::read) return done_ > 0 || size_ == 0 || at_end(e);
    if (done_ == size_) return true;
    if (at_end(e)) {
      error_ = make_error_code(error::end_of_stream);
      return true;
    }
    return false;
  }
  if (e.reset) {
    error_ = e.reset_reported ? std::make_error_code(std::errc::broken_pipe) : e.reset;
    e.reset_reported = true;
    return true;
  }
  if (e.shut_write) {
    error_ = std::make_error_code(std::errc::broken_pipe);
    return true;
  }
  tcp_pipe& p = e.out();
  const std::size_t n = std::min(size_ - done_, p.space());
  if (n > 0) {
    ring_copy_in(p, p.written, data_ + done_, n);
    p.written += n;
    done_ += n;
    w.tcp_sent(e, false);
  }
  if (kind_ == kind::write) return done_ > 0 || size_ == 0;
  return done_ == size_;
}

void stream_op_base::wake() noexcept {
  if (!attempt()) return;
  unlink();
  complete_local();
}

void stream_op_base::abort() noexcept {
  error_ = make_error_code(error::operation_aborted);
  unlink();
  complete_local();
}

void stream_op_base::unlink() noexcept {
  if (!linked_) return;
  linked_ = false;
  stream_op_base*& slot = is_read() ? ep_->reader : ep_->writer;
  if (slot == this) slot = nullptr;
}

std::error_code stream_op_base::outcome() noexcept {
  disarm();
  if (stopped_ || canceled()) return std::make_error_code(std::errc::operation_canceled);
  return error_;
}

// ---- accept ----------------------------------------------------------------------------------

bool accept_op::suspend(std::coroutine_handle<> h, const std::stop_token& stop) noexcept {
  if (stop.stop_requested()) {
    stopped_ = true;
    return false;
  }
  if (!state_) {
    error_ = std::make_error_code(std::errc::bad_file_descriptor);
    return false;
  }
  if (state_->waiter && state_->waiter != this) {
    error_ = std::make_error_code(std::errc::device_or_resource_busy);
    return false;
  }
  if (attempt()) return false;
  state_->waiter = this;
  linked_ = true;
  if (!arm(h, stop)) {
    unlink();
    stopped_ = true;
    return false;
  }
  return true;
}

bool accept_op::attempt() noexcept {
  if (state_->closed) {  // its host crashed under it
    error_ = std::make_error_code(std::errc::connection_reset);
    return true;
  }
  tcp_endpoint* e = state_->head;
  if (!e) return false;
  state_->head = e->next_queued;
  if (!state_->head) state_->tail = nullptr;
  --state_->queued;
  e->next_queued = nullptr;
  e->queued = false;
  taken_ = e;
  tcp_conn& c = *e->conn;
  c.w->trace("accept", "%u:%u <- %u:%u", c.hosts[1], c.addresses[1].port(), c.hosts[0],
             c.addresses[0].port());
  return true;
}

void accept_op::wake() noexcept {
  if (!attempt()) return;
  unlink();
  complete_local();
}

void accept_op::abort() noexcept {
  error_ = make_error_code(error::operation_aborted);
  unlink();
  complete_local();
}

void accept_op::unlink() noexcept {
  if (!linked_) return;
  linked_ = false;
  if (state_->waiter == this) state_->waiter = nullptr;
}

accept_op::~accept_op() {
  disarm();
  unlink();
  // Taken but never handed over (the awaiting frame was destroyed first): it closes.
  if (taken_) tcp_stream(std::exchange(taken_, nullptr)).close();
}

result<std::pair<tcp_stream, net::socket_address>> accept_op::await_resume() noexcept {
  disarm();
  if (stopped_ || canceled()) return std::make_error_code(std::errc::operation_canceled);
  if (error_) return error_;
  tcp_endpoint* e = std::exchange(taken_, nullptr);
  net::socket_address peer = e->peer_address();
  return std::pair{tcp_stream(e), peer};
}

// ---- connect ---------------------------------------------------------------------------------

bool connect_op::suspend(std::coroutine_handle<> h, const std::stop_token& stop) noexcept {
  if (stop.stop_requested()) {
    stopped_ = true;
    return false;
  }
  world* w = world::current();
  if (!w) {
    error_ = std::make_error_code(std::errc::operation_not_permitted);
    return false;
  }
  error_ = w->internals().tcp_connect(*this, to_, from_, ep_);
  if (error_) return false;
  if (!arm(h, stop)) {
    unlink();
    stopped_ = true;
    return false;
  }
  return true;
}

void connect_op::settle(std::error_code ec) noexcept {
  settled_ = true;
  error_ = ec;
  if (ec) ep_ = nullptr;  // the network freed it
  complete_local();
}

void connect_op::unlink() noexcept {
  if (settled_ || !ep_) return;
  ep_->conn->w->tcp_abandon(*std::exchange(ep_, nullptr));
}

connect_op::~connect_op() {
  disarm();
  if (!ep_) return;
  if (settled_) {
    tcp_stream(std::exchange(ep_, nullptr)).close();
  } else {
    unlink();
  }
}

result<tcp_stream> connect_op::await_resume() noexcept {
  disarm();
  if (stopped_ || canceled()) return std::make_error_code(std::errc::operation_canceled);
  if (error_) return error_;
  return tcp_stream(std::exchange(ep_, nullptr));
}

}  // namespace detail

// ---- the network's side ----------------------------------------------------------------------

using detail::tcp_conn;
using detail::tcp_endpoint;
using detail::tcp_listen_state;
using detail::tcp_pipe;

std::int64_t world::impl::draw_latency(host_id from, host_id to) {
  const link_faults& f = faults(from, to);
  const auto span = (f.latency_max - f.latency_min).count();
  std::int64_t latency = f.latency_min.count();
  if (span > 0) latency += static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(span) + 1));
  // A lost segment is sent again after the retransmission timeout: TCP turns loss into delay.
  if (f.loss > 0 && random.unit() < f.loss) latency += streams.retransmit.count();
  return latency;
}

void world::impl::tcp_schedule(tcp_conn& c, event_kind k, std::uint8_t side, std::int64_t at,
                               std::uint8_t flag) {
  event e;
  e.at = at;
  e.tie = random.next();
  e.kind = k;
  e.conn = c.index;
  e.generation = c.generation;
  e.side = side;
  e.flag = flag;
  push(e);
}

result<tcp_listen_state*> world::impl::tcp_bind(const net::socket_address& at,
                                                std::size_t backlog) {
  auto h = host_of(at.ip());
  if (!h || !hosts[*h]->up) return std::make_error_code(std::errc::address_not_available);
  net::socket_address addr = at;
  if (at.port() == 0) {
    auto& next = hosts[*h]->next_port;
    for (int tries = 0; tries < 16384 && addr.port() == 0; ++tries) {
      const net::socket_address candidate(at.ip(), next);
      next = next == 65535 ? 49152 : static_cast<std::uint16_t>(next + 1);
      const auto k = detail::address_key(candidate);
      if (!listeners.count(k) && !tcp_ports.count(k)) addr = candidate;
    }
    if (addr.port() == 0) return std::make_error_code(std::errc::address_in_use);
  }
  const std::uint64_t key = detail::address_key(addr);
  if (listeners.count(key)) return std::make_error_code(std::errc::address_in_use);
  auto s = std::make_unique<tcp_listen_state>();
  s->w = this;
  s->host = *h;
  s->key = key;
  s->address = addr;
  s->backlog = std::max<std::size_t>(backlog, 1);
  listeners.emplace(key, s.get());
  trace("listen", "%u:%u", *h, addr.port());
  return s.release();
}

void world::impl::tcp_drop_queue(tcp_listen_state& l) noexcept {
  // Connections nobody accepted: their clients are reset, as a real close does.
  while (tcp_endpoint* e = l.head) {
    l.head = e->next_queued;
    e->next_queued = nullptr;
    e->queued = false;
    e->open = false;
    tcp_conn& c = *e->conn;
    tcp_reset_now(c, e->side, std::make_error_code(std::errc::connection_reset), false);
    tcp_send_rst(c, 0);
    tcp_free_if_unused(c);
  }
  l.tail = nullptr;
  l.queued = 0;
}

bool world::impl::tcp_unbind(tcp_listen_state* s) noexcept {
  auto it = listeners.find(s->key);
  if (it != listeners.end() && it->second == s) listeners.erase(it);
  s->closed = true;
  tcp_drop_queue(*s);
  if (!s->waiter) return false;
  if (crashing == s->host) {
    // Its waiter's frame may be among those still to be destroyed: resuming it now would
    // queue a frame about to die. tcp_crash_wake ends it if it survives, then frees the state.
    doomed_listeners.push_back(s);
    return true;
  }
  s->waiter->abort();
  return false;
}

std::error_code world::impl::tcp_connect(detail::connect_op& op, const net::socket_address& to,
                                         const net::ip_address& from, tcp_endpoint*& out) {
  const auto src = host_of(from);
  if (!src || !hosts[*src]->up) return std::make_error_code(std::errc::address_not_available);
  const auto dst = host_of(to.ip());
  if (!dst) return std::make_error_code(std::errc::network_unreachable);
  // An ephemeral port of the connecting host.
  net::socket_address local;
  auto& next = hosts[*src]->next_port;
  for (int tries = 0; tries < 16384; ++tries) {
    const net::socket_address candidate(from, next);
    next = next == 65535 ? 49152 : static_cast<std::uint16_t>(next + 1);
    const auto k = detail::address_key(candidate);
    if (!listeners.count(k) && !tcp_ports.count(k)) {
      local = candidate;
      break;
    }
  }
  if (local.port() == 0) return std::make_error_code(std::errc::address_not_available);

  tcp_conn* c = nullptr;
  if (!free_conns.empty()) {
    c = conns[free_conns.back()].get();
    free_conns.pop_back();
  } else {
    conns.push_back(std::make_unique<tcp_conn>());
    c = conns.back().get();
    c->index = static_cast<std::uint32_t>(conns.size() - 1);
    c->w = this;
  }
  c->live = true;
  c->established = false;
  c->hosts[0] = *src;
  c->hosts[1] = *dst;
  c->addresses[0] = local;
  c->addresses[1] = to;
  for (std::uint8_t s = 0; s < 2; ++s) {
    tcp_endpoint& e = c->ends[s];
    e = tcp_endpoint{};
    e.conn = c;
    e.side = s;
    tcp_pipe& p = c->pipes[s];
    if (p.capacity != streams.buffer || !p.ring) {
      p.capacity = std::max<std::size_t>(streams.buffer, 1);
      p.ring = std::make_unique<std::byte[]>(p.capacity);
    }
    p.reset_offsets();
  }
  c->ends[0].open = true;  // the connect operation's, until it hands it to a tcp_stream
  c->connecting = &op;
  tcp_ports.insert(detail::address_key(local));
  trace("connect", "%u:%u -> %u:%u", *src, local.port(), *dst, to.port());
  tcp_schedule(*c, event_kind::tcp_syn, 1, now_ns() + draw_latency(*src, *dst));
  out = &c->ends[0];
  return {};
}

void world::impl::tcp_abandon(tcp_endpoint& e) noexcept {
  tcp_conn& c = *e.conn;
  c.connecting = nullptr;
  e.open = false;
  trace("abandon", "%u:%u -> %u:%u", c.hosts[0], c.addresses[0].port(), c.hosts[1],
        c.addresses[1].port());
  if (!c.established) {  // the SYN has not arrived: it never will count
    tcp_free(c);
    return;
  }
  if (!e.reset) {  // it did: the accepting side is reset
    e.reset = std::make_error_code(std::errc::connection_reset);
    tcp_send_rst(c, 1);
  }
  tcp_free_if_unused(c);
}

void world::impl::tcp_free(tcp_conn& c) noexcept {
  if (!c.live) return;
  c.live = false;
  ++c.generation;  // events still queued for it are ignored
  c.connecting = nullptr;
  tcp_ports.erase(detail::address_key(c.addresses[0]));
  free_conns.push_back(c.index);
}

void world::impl::tcp_free_if_unused(tcp_conn& c) noexcept {
  if (!c.ends[0].open && !c.ends[1].open) tcp_free(c);
}

void world::impl::tcp_close(tcp_endpoint& e) noexcept {
  // While its host's frames are destroyed, waiters stay linked (see tcp_unbind); the
  // connection's memory outlives them (connections are recycled, never freed).
  if (crashing != e.host()) {
    if (e.reader) e.reader->abort();
    if (e.writer) e.writer->abort();
  }
  e.open = false;
  tcp_conn& c = *e.conn;
  tcp_endpoint& peer = e.peer();
  if (!e.reset && peer.open && !peer.reset) {
    if (e.in().readable() > 0) {
      // Linux resets rather than ends a connection closed with input unread.
      e.reset = std::make_error_code(std::errc::connection_reset);
      tcp_send_rst(c, peer.side);
    } else if (!e.shut_write) {
      e.shut_write = true;
      tcp_sent(e, true);
    }
  }
  tcp_free_if_unused(c);
}

result<void> world::impl::tcp_shutdown(tcp_endpoint& e) {
  if (e.reset) return std::make_error_code(std::errc::not_connected);
  if (e.shut_write) return {};
  e.shut_write = true;
  tcp_sent(e, true);
  return {};
}

void world::impl::tcp_sent(tcp_endpoint& e, bool fin) {
  tcp_conn& c = *e.conn;
  tcp_pipe& p = e.out();
  const host_id from = e.host();
  const host_id to = e.peer().host();
  if (fin) p.fin_sent = true;
  std::int64_t at = std::max(now_ns() + draw_latency(from, to), p.last_arrival);
  if (p.count == tcp_pipe::max_segments) {
    // Too many writes in flight: the newest segment grows (and keeps its instant).
    auto& last = p.segments[(p.first + p.count - 1) % tcp_pipe::max_segments];
    last.end = p.written;
    last.fin = last.fin || fin;
  } else {
    p.segments[(p.first + p.count) % tcp_pipe::max_segments] = {p.written, at, fin};
    ++p.count;
    p.last_arrival = at;
  }
  if (!p.event_queued) {
    p.event_queued = true;
    tcp_schedule(c, event_kind::tcp_arrive, e.side, p.segments[p.first].at);
  }
}

void world::impl::tcp_consumed(tcp_endpoint& e) {
  // The window opened at once: the simulation does not delay the writer's ACKs.
  tcp_endpoint& writer = e.peer();
  if (writer.writer) writer.writer->wake();
}

void world::impl::tcp_send_rst(tcp_conn& c, std::uint8_t to_side) noexcept {
  const host_id from = c.hosts[1 - to_side];
  const host_id to = c.hosts[to_side];
  // The RST overtakes data in flight, as a real one makes the receiver drop its queue.
  tcp_schedule(c, event_kind::tcp_rst, to_side, now_ns() + draw_latency(from, to));
}

void world::impl::tcp_reset_now(tcp_conn& c, std::uint8_t side, std::error_code why,
                                bool wake) noexcept {
  tcp_endpoint& e = c.ends[side];
  if (e.reset) return;
  e.reset = why;
  // Input not yet read is dropped, and nothing more arrives or leaves.
  tcp_pipe& in = e.in();
  in.read = in.delivered = in.written;
  in.count = 0;
  tcp_pipe& out = e.out();
  out.delivered = out.read = out.written;
  out.count = 0;
  trace("reset", "%u:%u (%s)", c.hosts[side], c.addresses[side].port(),
        why == std::errc::timed_out ? "timed out" : "connection reset");
  if (wake) e.wake_all();
}

void world::impl::tcp_event(const event& ev) {
  if (ev.conn >= conns.size()) return;
  tcp_conn& c = *conns[ev.conn];
  if (!c.live || c.generation != ev.generation) return;  // a connection gone since
  switch (ev.kind) {
    case event_kind::tcp_syn: {
      const host_id from = c.hosts[0];
      const host_id to = c.hosts[1];
      // Unanswered (partitioned, or the host is down): the client retries until give_up.
      if (is_cut(from, to) || !hosts[to]->up) {
        if (c.pipes[0].stalled_since < 0) c.pipes[0].stalled_since = now_ns();
        if (streams.give_up.count() > 0 && now_ns() - c.pipes[0].stalled_since >= streams.give_up.count()) {
          trace("timedout", "connect %u:%u -> %u:%u", from, c.addresses[0].port(), to,
                c.addresses[1].port());
          c.pipes[0].stalled_since = -1;
          tcp_schedule(c, event_kind::tcp_synack, 0, now_ns(), 2);
          return;
        }
        tcp_schedule(c, event_kind::tcp_syn, 1, now_ns() + streams.retransmit.count());
        return;
      }
      c.pipes[0].stalled_since = -1;
      auto it = listeners.find(detail::address_key(c.addresses[1]));
      tcp_listen_state* l = it == listeners.end() ? nullptr : it->second;
      if (!l || l->queued >= l->backlog) {
        trace("refused", "%u:%u -> %u:%u%s", from, c.addresses[0].port(), to,
              c.addresses[1].port(), l ? " (backlog full)" : "");
        tcp_schedule(c, event_kind::tcp_synack, 0, now_ns() + draw_latency(to, from), 1);
        return;
      }
      tcp_endpoint& e = c.ends[1];
      e.open = true;
      e.queued = true;
      e.next_queued = nullptr;
      (l->tail ? l->tail->next_queued : l->head) = &e;
      l->tail = &e;
      ++l->queued;
      c.established = true;
      trace("syn", "%u:%u -> %u:%u (queued for accept)", from, c.addresses[0].port(), to,
            c.addresses[1].port());
      tcp_schedule(c, event_kind::tcp_synack, 0, now_ns() + draw_latency(to, from));
      if (l->waiter) l->waiter->wake();
      return;
    }
    case event_kind::tcp_synack: {
      detail::connect_op* op = std::exchange(c.connecting, nullptr);
      if (ev.flag != 0) {
        const auto why = std::make_error_code(ev.flag == 1 ? std::errc::connection_refused
                                                           : std::errc::timed_out);
        c.ends[0].open = false;
        tcp_free(c);
        if (op) op->settle(why);
        return;
      }
      trace("connected", "%u:%u -> %u:%u", c.hosts[0], c.addresses[0].port(), c.hosts[1],
            c.addresses[1].port());
      if (op) op->settle({});
      return;
    }
    case event_kind::tcp_arrive: {
      tcp_pipe& p = c.pipes[ev.side];
      p.event_queued = false;
      if (p.count == 0) return;  // dropped by a reset
      const host_id from = c.hosts[ev.side];
      const host_id to = c.hosts[1 - ev.side];
      if (is_cut(from, to)) {
        if (p.stalled_since < 0) {
          p.stalled_since = now_ns();
          trace("stall", "%u:%u -> %u:%u: partitioned", from, c.addresses[ev.side].port(), to,
                c.addresses[1 - ev.side].port());
        }
        if (streams.give_up.count() > 0 && now_ns() - p.stalled_since >= streams.give_up.count()) {
          tcp_reset_now(c, ev.side, std::make_error_code(std::errc::timed_out), true);
          tcp_reset_now(c, static_cast<std::uint8_t>(1 - ev.side),
                        std::make_error_code(std::errc::connection_reset), true);
          return;
        }
        // Everything in flight is sent again after the retransmission timeout.
        const std::int64_t retry = now_ns() + streams.retransmit.count();
        for (std::size_t i = 0; i < p.count; ++i) {
          auto& s = p.segments[(p.first + i) % tcp_pipe::max_segments];
          s.at = std::max(s.at, retry);
        }
        p.last_arrival = std::max(p.last_arrival, retry);
        p.event_queued = true;
        tcp_schedule(c, event_kind::tcp_arrive, ev.side, p.segments[p.first].at);
        return;
      }
      p.stalled_since = -1;
      const std::uint64_t before = p.delivered;
      bool fin = false;
      while (p.count > 0 && p.segments[p.first].at <= now_ns()) {
        const auto& s = p.segments[p.first];
        p.delivered = s.end;
        fin = fin || s.fin;
        p.first = (p.first + 1) % tcp_pipe::max_segments;
        --p.count;
      }
      tcp_endpoint& receiver = c.ends[1 - ev.side];
      const std::size_t n = static_cast<std::size_t>(p.delivered - before);
      mix(n);
      if (n > 0) {
        trace("data", "%u:%u -> %u:%u (%zu bytes)", from, c.addresses[ev.side].port(), to,
              c.addresses[1 - ev.side].port(), n);
      }
      if (fin) {
        p.fin_delivered = true;
        trace("fin", "%u:%u -> %u:%u", from, c.addresses[ev.side].port(), to,
              c.addresses[1 - ev.side].port());
      }
      if (p.count > 0) {
        p.event_queued = true;
        tcp_schedule(c, event_kind::tcp_arrive, ev.side, p.segments[p.first].at);
      }
      if (receiver.reset) {
        p.read = p.delivered;  // dropped: the writer was (or is being) reset already
      } else if (!receiver.open && n > 0) {
        // Bytes for a closed socket: it answers with a reset.
        receiver.reset = std::make_error_code(std::errc::connection_reset);
        p.read = p.delivered;
        tcp_send_rst(c, ev.side);
      } else if (receiver.reader) {
        receiver.reader->wake();
      }
      return;
    }
    case event_kind::tcp_rst:
      tcp_reset_now(c, ev.side, std::make_error_code(std::errc::connection_reset), true);
      tcp_free_if_unused(c);
      return;
    default: return;
  }
}

bool world::impl::tcp_reset_one(tcp_conn& c) noexcept {
  if (!c.live || !c.established) return false;
  tcp_reset_now(c, 0, std::make_error_code(std::errc::connection_reset), true);
  tcp_reset_now(c, 1, std::make_error_code(std::errc::connection_reset), true);
  tcp_free_if_unused(c);
  return true;
}

void world::impl::tcp_crash_mark(host_id h) noexcept {
  // Its listeners die (accept fails; what they queued is reset); tcp_crash_wake unbinds them.
  for (auto& [key, l] : listeners) {
    if (l->host != h) continue;
    l->closed = true;
    tcp_drop_queue(*l);
  }
  // Its streams: dead here without a FIN (closing them later sends nothing), reset at the peer.
  for (auto& cp : conns) {
    tcp_conn& c = *cp;
    if (!c.live) continue;
    for (std::uint8_t s = 0; s < 2; ++s) {
      tcp_endpoint& e = c.ends[s];
      if (c.hosts[s] != h || e.reset || (!e.open && !e.queued)) continue;
      if (s == 0 && !c.established) continue;  // a connect in flight: its frame abandons it
      tcp_reset_now(c, s, std::make_error_code(std::errc::connection_reset), false);
      tcp_endpoint& peer = c.ends[1 - s];
      if (!peer.reset && (peer.open || peer.queued)) tcp_send_rst(c, peer.side);
    }
  }
}

void world::impl::tcp_crash_wake(host_id h) noexcept {
  // Listeners that outlived the crash (held outside its tasks) free their port and fail.
  for (auto it = listeners.begin(); it != listeners.end();) {
    tcp_listen_state* l = it->second;
    if (l->host != h) {
      ++it;
      continue;
    }
    it = listeners.erase(it);
    if (l->waiter) l->waiter->wake();
  }
  for (tcp_listen_state* l : std::exchange(doomed_listeners, {})) {
    if (l->waiter) l->waiter->abort();
    delete l;
  }
  // Operations of tasks that survived it (not the host's own): a stream still open reports
  // the reset, one closed under them ends with operation_aborted.
  for (auto& cp : conns) {
    tcp_conn& c = *cp;
    for (std::uint8_t s = 0; s < 2; ++s) {
      tcp_endpoint& e = c.ends[s];
      if (c.hosts[s] != h || (!e.reader && !e.writer)) continue;
      if (e.open) {
        e.wake_all();
      } else {
        if (e.reader) e.reader->abort();
        if (e.writer) e.writer->abort();
      }
    }
  }
}

// ---- sockets ---------------------------------------------------------------------------------

result<void> tcp_stream::shutdown_write() {
  if (!ep_) return bad_descriptor();
  return ep_->conn->w->tcp_shutdown(*ep_);
}

result<net::socket_address> tcp_stream::local_address() const {
  if (!ep_) return std::make_error_code(std::errc::bad_file_descriptor);
  return ep_->address();
}

result<net::socket_address> tcp_stream::peer_address() const {
  if (!ep_) return std::make_error_code(std::errc::bad_file_descriptor);
  return ep_->peer_address();
}

void tcp_stream::close() noexcept {
  if (!ep_) return;
  detail::tcp_endpoint* e = std::exchange(ep_, nullptr);
  e->conn->w->tcp_close(*e);
}

result<tcp_listener> tcp_listener::bind(const net::socket_address& at, int backlog) {
  world* w = world::current();
  if (!w) return std::make_error_code(std::errc::operation_not_permitted);
  auto s = w->internals().tcp_bind(at, static_cast<std::size_t>(std::max(backlog, 1)));
  if (!s) return s.error();
  return tcp_listener(*s);
}

result<net::socket_address> tcp_listener::local_address() const {
  if (!state_) return std::make_error_code(std::errc::bad_file_descriptor);
  return state_->address;
}

void tcp_listener::close() noexcept {
  if (!state_) return;
  detail::tcp_listen_state* s = std::exchange(state_, nullptr);
  if (!s->w->tcp_unbind(s)) delete s;
}

// ---- world's stream faults ---------------------------------------------------------------------

void world::set_stream_options(const stream_options& o) { impl_->streams = o; }

bool world::reset_stream(const net::socket_address& a, const net::socket_address& b) {
  for (auto& c : impl_->conns) {
    if (!c->live) continue;
    if ((c->addresses[0] == a && c->addresses[1] == b) ||
        (c->addresses[0] == b && c->addresses[1] == a)) {
      impl_->trace("fault", "reset stream %s <-> %s", a.to_string().c_str(), b.to_string().c_str());
      return impl_->tcp_reset_one(*c);
    }
  }
  return false;
}

bool world::reset_random_stream() {
  std::size_t established = 0;
  for (auto& c : impl_->conns) established += c->live && c->established;
  if (established == 0) return false;
  std::uint64_t pick = impl_->random.below(established);
  for (auto& c : impl_->conns) {
    if (!c->live || !c->established) continue;
    if (pick-- == 0) {
      impl_->trace("fault", "reset stream %u:%u <-> %u:%u", c->hosts[0], c->addresses[0].port(),
                   c->hosts[1], c->addresses[1].port());
      return impl_->tcp_reset_one(*c);
    }
  }
  return false;
}

std::size_t world::stream_count() const noexcept {
  std::size_t n = 0;
  for (auto& c : impl_->conns) n += c->live;
  return n;
}

}  // namespace corio::sim
