#include <corio/corio.hpp>

namespace corio {
std::string_view version() noexcept { return "0.1.0"; }
}  // namespace corio
