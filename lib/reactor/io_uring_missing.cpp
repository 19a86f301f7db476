// Compiled instead of io_uring.cpp when the io_uring backend is not built (liburing missing, or
// before the backend lands): naming io_uring explicitly then fails cleanly at run time.
#include "reactor/backend.hpp"

namespace corio::detail {

result<std::unique_ptr<backend>> make_io_uring_backend() { return error::backend_unavailable; }

}  // namespace corio::detail
