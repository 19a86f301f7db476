#include "sim/sim_backend.hpp"

#include <utility>

namespace corio::sim::detail {
namespace {

// Nothing can wake a simulated world from another thread: everything happens on its own.
class no_waker final : public corio::detail::wake_handle {
 public:
  result<void> wake() noexcept override { return {}; }
};

class sim_backend final : public corio::detail::backend {
 public:
  explicit sim_backend(std::function<void(std::optional<std::chrono::nanoseconds>)> step)
      : step_(std::move(step)) {}

  // Reported as epoll, the readiness kind it stands in for: completion kernels are another
  // seam (lib/completion/engine.hpp), which a simulated world does not use.
  backend_kind kind() const noexcept override { return backend_kind::epoll; }

  // A simulated world has no file descriptors: a real socket opened inside one is refused.
  result<void> add(int, token, interest) override { return error::backend_unavailable; }
  result<void> modify(int, token, interest) override { return error::backend_unavailable; }
  result<void> remove(int) override { return {}; }

  result<void> wait(events& out, std::optional<std::chrono::nanoseconds> timeout) override {
    out.clear();
    step_(timeout);
    return {};
  }

  result<std::shared_ptr<corio::detail::wake_handle>> make_waker(token) override {
    if (made_waker_) return error::already_registered;
    made_waker_ = true;
    return std::shared_ptr<corio::detail::wake_handle>(std::make_shared<no_waker>());
  }

 private:
  std::function<void(std::optional<std::chrono::nanoseconds>)> step_;
  bool made_waker_ = false;
};

}  // namespace

std::unique_ptr<corio::detail::backend> make_sim_backend(
    std::function<void(std::optional<std::chrono::nanoseconds>)> step) {
  return std::make_unique<sim_backend>(std::move(step));
}

}  // namespace corio::sim::detail
