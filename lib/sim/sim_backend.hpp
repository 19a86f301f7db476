// The readiness backend of a simulated world: it has no file descriptors, and its wait() does
// not block. Instead it hands the timeout to the world (world::impl::step), which moves the
// virtual clock to the next timer or network event and delivers what is due. One small file on
// purpose: when the backend contract changes, this is the one adapter to redo.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "reactor/backend.hpp"

namespace corio::sim::detail {

// `step` is called with the executor's timeout (nullopt: no timer armed; zero: work is ready).
std::unique_ptr<corio::detail::backend> make_sim_backend(
    std::function<void(std::optional<std::chrono::nanoseconds>)> step);

}  // namespace corio::sim::detail
