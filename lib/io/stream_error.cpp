// The category of corio::stream_error (include/corio/io/stream_error.hpp).
#include <corio/io/stream_error.hpp>

#include <string>

namespace corio {
namespace {

class stream_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.stream"; }
  std::string message(int ev) const override {
    switch (static_cast<stream_error>(ev)) {
      case stream_error::line_too_long: return "line longer than the limit";
      case stream_error::incomplete_line: return "end of stream inside a line";
    }
    return "unknown stream error";
  }
};

}  // namespace

const std::error_category& stream_category() noexcept {
  static const stream_category_impl category;
  return category;
}

}  // namespace corio
