// Compiled instead of io_uring_engine.cpp when liburing is not found: executors then run on a
// readiness backend.
#include "completion/engine.hpp"

namespace corio::detail {

result<std::unique_ptr<completion_engine>> make_io_uring_engine() {
  return error::backend_unavailable;
}

}  // namespace corio::detail
