#include <corio/error.hpp>

#include <string>

namespace corio {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio"; }

  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::backend_unavailable: return "reactor backend unavailable";
      case error::already_registered: return "already registered";
      case error::not_registered: return "not registered";
      case error::invalid_token: return "token is in corio's reserved range";
      case error::loop_stopped: return "event loop stopped";
      case error::channel_closed: return "channel closed";
      case error::end_of_stream: return "end of stream before the buffer was full";
      case error::operation_aborted: return "operation aborted: its socket was closed";
    }
    return "unknown corio error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<error>(value)) {
      case error::backend_unavailable: return std::errc::function_not_supported;
      case error::already_registered: return std::errc::file_exists;
      case error::not_registered: return std::errc::no_such_file_or_directory;
      case error::invalid_token: return std::errc::invalid_argument;
      case error::loop_stopped: return std::errc::operation_canceled;
      case error::channel_closed: return std::errc::broken_pipe;
      case error::operation_aborted: return std::errc::operation_canceled;  // as asio's ECANCELED
      case error::end_of_stream: break;  // no std::errc means "end of file"
    }
    return {value, *this};
  }
};

}  // namespace

const std::error_category& corio_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace corio
