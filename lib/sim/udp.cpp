// The simulated datagram network: binding, link faults on send, delivery into socket queues.
#include <corio/sim/udp.hpp>

#include <algorithm>
#include <cstring>

#include "sim/world_impl.hpp"

namespace corio::sim {
namespace {

constexpr std::size_t max_datagram = 65507;
constexpr std::size_t max_queued = 256;

std::uint64_t key_of(const net::socket_address& a) noexcept { return detail::address_key(a); }

}  // namespace

std::optional<host_id> world::impl::host_of(const net::ip_address& ip) const noexcept {
  const auto& b = ip.bytes();
  if (!ip.is_v4() || b[0] != 10 || b[1] != 0 || b[2] != 0 || b[3] == 0) return std::nullopt;
  const host_id h = b[3] - 1u;
  if (h >= hosts.size()) return std::nullopt;
  return h;
}

bool world::impl::is_cut(host_id a, host_id b) const { return !cuts.empty() && cuts.count({a, b}); }

const link_faults& world::impl::faults(host_id from, host_id to) const {
  if (links.empty()) return default_link;
  auto it = links.find({from, to});
  return it == links.end() ? default_link : it->second;
}

result<detail::udp_state*> world::impl::bind(const net::socket_address& at) {
  auto h = host_of(at.ip());
  if (!h || !hosts[*h]->up) return std::make_error_code(std::errc::address_not_available);
  net::socket_address addr = at;
  if (at.port() == 0) {
    auto& next = hosts[*h]->next_port;
    for (int tries = 0; tries < 16384; ++tries) {
      const std::uint16_t port = next;
      next = next == 65535 ? 49152 : static_cast<std::uint16_t>(next + 1);
      if (!bound.count(key_of({at.ip(), port}))) {
        addr = net::socket_address(at.ip(), port);
        break;
      }
    }
    if (addr.port() == 0) return std::make_error_code(std::errc::address_in_use);
  }
  const std::uint64_t key = key_of(addr);
  if (bound.count(key)) return std::make_error_code(std::errc::address_in_use);
  auto s = std::make_unique<detail::udp_state>();
  s->w = this;
  s->host = *h;
  s->key = key;
  s->address = addr;
  bound.emplace(key, s.get());
  return s.release();
}

void world::impl::unbind(detail::udp_state* s) noexcept {
  bound.erase(s->key);
  while (detail::datagram* d = s->head) {
    s->head = d->next;
    recycle(d);
  }
  if (s->waiter) s->waiter->fail(std::make_error_code(std::errc::operation_canceled));
}

detail::datagram* world::impl::take_datagram() {
  if (!free_datagrams) {
    all_datagrams.push_back(std::make_unique<detail::datagram>());
    return all_datagrams.back().get();
  }
  detail::datagram* d = free_datagrams;
  free_datagrams = d->next;
  d->next = nullptr;
  return d;
}

void world::impl::recycle(detail::datagram* d) noexcept {
  d->next = free_datagrams;
  free_datagrams = d;
}

void world::impl::send(detail::udp_state& s, std::span<const std::byte> buf,
                       const net::socket_address& to) {
  const auto dst = host_of(to.ip());
  const std::uint32_t src = s.host;
  if (!dst) {
    trace("drop", "%u -> %s: no such host", src, to.to_string().c_str());
    return;
  }
  mix(src << 8 | *dst);
  mix(buf.size());
  if (is_cut(src, *dst)) {
    trace("drop", "%u -> %u: partitioned (%zu bytes)", src, *dst, buf.size());
    return;
  }
  const link_faults& f = faults(src, *dst);
  if (f.loss > 0 && random.unit() < f.loss) {
    trace("drop", "%u -> %u: lost (%zu bytes)", src, *dst, buf.size());
    return;
  }
  const int copies = f.duplicate > 0 && random.unit() < f.duplicate ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    detail::datagram* d = take_datagram();
    d->from_host = src;
    d->to_host = *dst;
    d->from = s.address;
    d->to = to;
    if (d->bytes.size() < buf.size()) d->bytes.resize(buf.size());
    if (!buf.empty()) std::memcpy(d->bytes.data(), buf.data(), buf.size());
    d->size = buf.size();
    const auto span = (f.latency_max - f.latency_min).count();
    std::int64_t latency = f.latency_min.count() +
                           (span > 0 ? static_cast<std::int64_t>(random.below(
                                           static_cast<std::uint64_t>(span) + 1))
                                     : 0);
    const bool late = f.reorder > 0 && random.unit() < f.reorder;
    if (late) latency += f.reorder_delay.count();
    event e;
    e.at = now_ns() + latency;
    e.tie = random.next();
    e.kind = event_kind::deliver;
    e.d = d;
    push(e);
    mix(static_cast<std::uint64_t>(e.at));
    trace(i == 0 ? "send" : "duplicate", "%u:%u -> %u:%u (%zu bytes)%s", src, s.address.port(),
          *dst, to.port(), buf.size(), late ? " held back" : "");
  }
}

void world::impl::deliver(detail::datagram* d) {
  const host_id from = d->from_host;
  const host_id to = d->to_host;
  if (is_cut(from, to)) {
    trace("drop", "%u -> %u: partitioned in flight (%zu bytes)", from, to, d->size);
    recycle(d);
    return;
  }
  auto it = bound.find(key_of(d->to));
  if (it == bound.end() || it->second->closed || !hosts[to]->up) {
    trace("drop", "%u -> %u:%u: nobody listening (%zu bytes)", from, to, d->to.port(), d->size);
    recycle(d);
    return;
  }
  detail::udp_state& s = *it->second;
  mix(from << 8 | to);
  trace("deliver", "%u:%u -> %u:%u (%zu bytes)", from, d->from.port(), to, d->to.port(), d->size);
  if (s.waiter) {
    s.waiter->deliver(d->bytes.data(), d->size, d->from);
    recycle(d);
    return;
  }
  if (s.queued >= max_queued) {
    trace("drop", "%u -> %u: receive queue full", from, to);
    recycle(d);
    return;
  }
  d->next = nullptr;
  (s.tail ? s.tail->next : s.head) = d;
  s.tail = d;
  ++s.queued;
}

namespace detail {

bool recv_from_op::try_take() noexcept {
  if (!state_) {
    error_ = std::make_error_code(std::errc::bad_file_descriptor);
    return true;
  }
  if (state_->closed) {
    error_ = std::make_error_code(std::errc::connection_reset);
    return true;
  }
  if (datagram* d = state_->head) {
    state_->head = d->next;
    if (!state_->head) state_->tail = nullptr;
    --state_->queued;
    const std::size_t n = std::min(d->size, buf_.size());
    if (n) std::memcpy(buf_.data(), d->bytes.data(), n);
    size_ = n;
    from_ = d->from;
    done_ = true;
    state_->w->recycle(d);
    return true;
  }
  if (state_->waiter) {  // one waiter per direction, as for corio's sockets
    error_ = std::make_error_code(std::errc::device_or_resource_busy);
    return true;
  }
  return false;
}

void recv_from_op::link() noexcept {
  state_->waiter = this;
  linked_ = true;
}

void recv_from_op::unlink() noexcept {
  if (!linked_) return;
  linked_ = false;
  if (state_ && state_->waiter == this) state_->waiter = nullptr;
}

void recv_from_op::deliver(const std::byte* data, std::size_t n, const net::socket_address& from) noexcept {
  n = std::min(n, buf_.size());
  if (n) std::memcpy(buf_.data(), data, n);
  size_ = n;
  from_ = from;
  done_ = true;
  unlink();
  complete_local();
}

void recv_from_op::fail(std::error_code ec) noexcept {
  error_ = ec;
  unlink();
  complete_local();
}

result<std::size_t> send_to_op::await_resume() noexcept {
  if (!state_) return std::make_error_code(std::errc::bad_file_descriptor);
  if (state_->closed) return std::make_error_code(std::errc::connection_reset);
  if (buf_.size() > max_datagram) return std::make_error_code(std::errc::message_size);
  state_->w->send(*state_, buf_, *to_);
  return buf_.size();
}

}  // namespace detail

result<udp_socket> udp_socket::bind(const net::socket_address& at) {
  world* w = world::current();
  if (!w) return std::make_error_code(std::errc::operation_not_permitted);
  auto s = w->internals().bind(at);
  if (!s) return s.error();
  return udp_socket(*s);
}

result<net::socket_address> udp_socket::local_address() const {
  if (!state_) return std::make_error_code(std::errc::bad_file_descriptor);
  return state_->address;
}

void udp_socket::close() noexcept {
  if (!state_) return;
  state_->w->unbind(state_);
  delete std::exchange(state_, nullptr);
}

}  // namespace corio::sim
