// Name lookup through c-ares, driven by the calling thread's executor.
//
// c-ares opens its own sockets (UDP, and TCP after a truncated answer) and says which to watch
// through its socket-state callback. They go into a private level-triggered epoll set, and that
// one epoll fd is what registers with the reactor: one registration however many sockets
// c-ares opens or closes, and the level-triggered inner set means no readiness is lost between
// our check and the wait (the awaiter always checks before it waits). c-ares' retransmission
// schedule (ares_timeout) becomes a corio timeout on that wait. Nothing here blocks.
#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <system_error>

#include <corio/detail/io_awaiter.hpp>
#include <corio/time.hpp>
#include <corio/unique_fd.hpp>

#include "resolve/lookup.hpp"

namespace corio::resolve_detail {
namespace {

std::error_code library_status() {
  // ares_library_init is not thread-safe and must run once: a function-local static is.
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  if (status == ARES_SUCCESS) return {};
  return make_error_code(resolve_error::failed);
}

std::error_code from_ares(int status) {
  switch (status) {
    case ARES_SUCCESS: return {};
    case ARES_ENOTFOUND: return make_error_code(resolve_error::not_found);
    case ARES_ENODATA: return make_error_code(resolve_error::no_address);
    case ARES_ESERVFAIL:
    case ARES_ECONNREFUSED: return make_error_code(resolve_error::server_failure);
    case ARES_EREFUSED: return make_error_code(resolve_error::refused);
    case ARES_EFORMERR:
    case ARES_EBADRESP: return make_error_code(resolve_error::bad_response);
    case ARES_EBADNAME: return make_error_code(resolve_error::bad_name);
    case ARES_ETIMEOUT: return make_error_code(resolve_error::timed_out);
    case ARES_ENOMEM: return std::make_error_code(std::errc::not_enough_memory);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return std::make_error_code(std::errc::operation_canceled);
    default: return make_error_code(resolve_error::failed);
  }
}

struct lookup_state {
  int epoll_fd = -1;
  std::uint16_t port = 0;
  std::size_t max_addresses = 0;
  bool done = false;
  int status = ARES_SUCCESS;
  std::error_code watch_error;  // an epoll_ctl that failed: the lookup could never finish
  std::vector<net::socket_address> v6;
  std::vector<net::socket_address> v4;
};

void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
  auto* st = static_cast<lookup_state*>(data);
  if (!readable && !writable) {
    // c-ares closes it next; an fd it never asked to watch is not in the set (ENOENT).
    (void)::epoll_ctl(st->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    return;
  }
  epoll_event ev{};
  ev.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  if (::epoll_ctl(st->epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0) return;
  if (errno == ENOENT && ::epoll_ctl(st->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0) return;
  st->watch_error = {errno, std::system_category()};
}

void on_addrinfo(void* data, int status, int /*timeouts*/, ares_addrinfo* info) {
  auto* st = static_cast<lookup_state*>(data);
  st->done = true;
  st->status = status;
  if (!info) return;
  for (const ares_addrinfo_node* n = info->nodes; n; n = n->ai_next) {
    if (st->v6.size() + st->v4.size() >= st->max_addresses) break;
    if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(sockaddr_in6)) {
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(n->ai_addr)->sin6_addr, 16);
      st->v6.emplace_back(net::ip_address::v6(bytes), st->port);
    } else if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(sockaddr_in)) {
      std::array<std::uint8_t, 4> bytes{};
      std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(n->ai_addr)->sin_addr, 4);
      st->v4.emplace_back(net::ip_address::v4(bytes), st->port);
    }
  }
  ares_freeaddrinfo(info);
}

struct channel_deleter {
  void operator()(ares_channeldata* c) const noexcept { ares_destroy(c); }
};
using channel_ptr = std::unique_ptr<ares_channeldata, channel_deleter>;

// One check of the private epoll set; would-block when nothing is ready, so the awaiter waits
// for the set's own readiness.
struct epoll_ready_call {
  int epoll_fd;
  epoll_event* events;
  int capacity;
  result<int> operator()() noexcept {
    const int n = ::epoll_wait(epoll_fd, events, capacity, 0);
    if (n > 0) return n;
    if (n == 0) return std::make_error_code(std::errc::resource_unavailable_try_again);
    if (errno == EINTR) return 0;
    return std::error_code(errno, std::system_category());
  }
};

std::chrono::milliseconds until_retransmit(const timeval& tv) {
  return std::chrono::milliseconds(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

}  // namespace

task<result<std::vector<net::socket_address>>> lookup(std::string host, std::uint16_t port,
                                                      resolve_options options) {
  if (auto ec = library_status()) co_return ec;
  lookup_state st;
  st.port = port;
  st.max_addresses = options.max_addresses;
  unique_fd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd) co_return std::error_code(errno, std::system_category());
  st.epoll_fd = epoll_fd.get();
  auto reg = detail::io_registration::open(epoll_fd.get());  // after epoll_fd: goes first
  if (!reg) co_return reg.error();

  ares_options o{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  o.sock_state_cb = on_socket_state;
  o.sock_state_cb_data = &st;
  o.timeout = static_cast<int>(std::max<std::int64_t>(1, options.attempt_timeout.count()));
  o.tries = std::max(1, options.tries);
  char lookups_dns[] = "b";
  char lookups_files_dns[] = "fb";
  o.lookups = options.hosts_file ? lookups_files_dns : lookups_dns;
  if (!options.search_domains) {
    o.flags = ARES_FLAG_NOSEARCH;
    mask |= ARES_OPT_FLAGS;
  }
  ares_channel raw_channel = nullptr;
  if (int s = ares_init_options(&raw_channel, &o, mask); s != ARES_SUCCESS) co_return from_ares(s);
  channel_ptr channel(raw_channel);  // destroyed before st: its callbacks still see st
  if (!options.servers.empty() &&
      ares_set_servers_ports_csv(channel.get(), options.servers.c_str()) != ARES_SUCCESS) {
    co_return make_error_code(resolve_error::bad_server);
  }

  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;  // keep the server's order; connect_order interleaves
  ares_getaddrinfo(channel.get(), host.c_str(), nullptr, &hints, on_addrinfo, &st);

  std::array<epoll_event, 8> events{};
  while (!st.done) {
    if (st.watch_error) co_return st.watch_error;
    timeval tv{};
    const timeval* next = ares_timeout(channel.get(), nullptr, &tv);
    const epoll_ready_call check{st.epoll_fd, events.data(), static_cast<int>(events.size())};
    result<int> ready = 0;
    if (next) {
      ready = co_await timeout(until_retransmit(*next),
                               detail::io_awaiter(*reg, detail::reading, check));
    } else {
      ready = co_await detail::io_awaiter(*reg, detail::reading, check);
    }
    if (!ready) {
      if (ready.error() != std::errc::timed_out) co_return ready.error();  // cancelled
      ares_process_fd(channel.get(), ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // retransmit, give up
      continue;
    }
    for (int i = 0; i < *ready && !st.done; ++i) {
      const auto what = events[static_cast<std::size_t>(i)].events;
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      const bool broken = (what & (EPOLLERR | EPOLLHUP)) != 0;
      ares_process_fd(channel.get(), (what & EPOLLIN) || broken ? fd : ARES_SOCKET_BAD,
                      (what & EPOLLOUT) || broken ? fd : ARES_SOCKET_BAD);
    }
  }
  if (st.status != ARES_SUCCESS) co_return from_ares(st.status);
  if (st.v6.empty() && st.v4.empty()) co_return make_error_code(resolve_error::no_address);
  std::vector<net::socket_address> all = std::move(st.v6);
  all.insert(all.end(), st.v4.begin(), st.v4.end());
  co_return all;
}

}  // namespace corio::resolve_detail
