// The public reactor facade: poll, registry and waker forward to the backend chosen once by
// make_backend(); plus the backend_kind names. No OS header here: backends own the syscalls.
#include <corio/reactor.hpp>

#include <cstdlib>
#include <system_error>
#include <utility>

#include "reactor/backend.hpp"

namespace corio {

std::string_view to_string(backend_kind kind) noexcept {
  switch (kind) {
    case backend_kind::automatic: return "auto";
    case backend_kind::epoll: return "epoll";
    case backend_kind::io_uring: return "io_uring";
    case backend_kind::kqueue: return "kqueue";
  }
  return "unknown";
}

result<backend_kind> parse_backend_kind(std::string_view name) noexcept {
  if (name == "auto" || name == "automatic") return backend_kind::automatic;
  if (name == "epoll") return backend_kind::epoll;
  if (name == "io_uring") return backend_kind::io_uring;
  if (name == "kqueue") return backend_kind::kqueue;
  return std::make_error_code(std::errc::invalid_argument);
}

result<backend_kind> backend_kind_from_env() noexcept {
  // getenv is not synchronised with setenv; reading the environment is the caller's business
  // (typically once, at start-up).
  const char* value = std::getenv("CORIO_BACKEND");  // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr || *value == '\0') return backend_kind::automatic;
  return parse_backend_kind(value);
}

result<void> registry::add(int fd, token t, interest i) { return backend_->add(fd, t, i); }
result<void> registry::modify(int fd, token t, interest i) { return backend_->modify(fd, t, i); }
result<void> registry::remove(int fd) { return backend_->remove(fd); }

result<poll> poll::create(backend_kind kind) {
  auto b = detail::make_backend(kind);
  if (!b) return b.error();
  return poll(std::move(*b));
}

// registry_ points at the backend, which lives on the heap: moving a poll moves the pointer,
// and the moved-from poll's registry must not keep it.
poll::poll(std::unique_ptr<detail::backend> b) noexcept
    : backend_(std::move(b)), registry_(backend_.get()) {}

poll::poll(poll&& other) noexcept
    : backend_(std::move(other.backend_)), registry_(backend_.get()) {
  other.registry_.backend_ = nullptr;
}

poll& poll::operator=(poll&& other) noexcept {
  backend_ = std::move(other.backend_);
  registry_.backend_ = backend_.get();
  other.registry_.backend_ = nullptr;
  return *this;
}

poll::~poll() = default;

backend_kind poll::kind() const noexcept { return backend_->kind(); }

result<void> poll::wait(events& out, std::optional<std::chrono::nanoseconds> timeout) {
  return backend_->wait(out, timeout);
}

result<waker> waker::create(poll& p, token t) {
  auto h = p.backend_->make_waker(t);
  if (!h) return h.error();
  return waker(std::move(*h));
}

result<void> waker::wake() const noexcept {
  if (!handle_) return std::make_error_code(std::errc::bad_file_descriptor);  // moved-from
  return handle_->wake();
}

}  // namespace corio
