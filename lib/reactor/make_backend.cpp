// The one place that chooses a backend at run time. Meson decides which backends are compiled
// (corio_build_config.hpp); this file orders them and falls back when the kernel refuses one.
#include <array>

#include <corio_build_config.hpp>

#include "reactor/backend.hpp"

namespace corio {

namespace {
// Order of preference for backend_kind::automatic. io_uring comes first when built: it runs the
// whole suite like epoll does, and it batches a loop turn's registrations into the one system
// call that waits. Where seccomp, the io_uring_disabled sysctl or an old kernel refuses it,
// automatic falls back to epoll (the loop below). CORIO_BACKEND=epoll opts out.
#if CORIO_HAVE_IO_URING
constexpr std::array built{backend_kind::io_uring, backend_kind::epoll};
#else
constexpr std::array built{backend_kind::epoll};
#endif
}  // namespace

std::span<const backend_kind> built_backends() noexcept { return built; }

namespace detail {

namespace {
result<std::unique_ptr<backend>> make_one(backend_kind kind) {
  switch (kind) {
    case backend_kind::epoll: return make_epoll_backend();
    case backend_kind::io_uring: return make_io_uring_backend();  // io_uring_missing.cpp if not built
    case backend_kind::kqueue:
    case backend_kind::automatic: break;
  }
  return error::backend_unavailable;
}
}  // namespace

result<std::unique_ptr<backend>> make_backend(backend_kind kind) {
  if (kind != backend_kind::automatic) return make_one(kind);
  // automatic: the first built backend the kernel accepts; if none does, the first one's error
  // (the most preferred backend's reason is the most useful to report).
  std::error_code first_error;
  for (backend_kind k : built) {
    auto b = make_one(k);
    if (b) return b;
    if (!first_error) first_error = b.error();
  }
  return first_error ? first_error : make_error_code(error::backend_unavailable);
}

}  // namespace detail
}  // namespace corio
