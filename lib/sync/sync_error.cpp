#include <corio/sync/sync_error.hpp>

#include <string>

namespace corio {
namespace {

class sync_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.sync"; }
  std::string message(int value) const override {
    switch (static_cast<sync_error>(value)) {
      case sync_error::lagged:
        return "receiver lagged: values were overwritten before it read them";
      case sync_error::closed:
        return "closed: no permit will be granted";
    }
    return "unknown corio.sync error";
  }
};

}  // namespace

const std::error_category& sync_category() noexcept {
  static const sync_category_impl category;
  return category;
}

}  // namespace corio
