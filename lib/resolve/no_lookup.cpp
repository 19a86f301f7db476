// Built with -Dresolver=disabled (or without libc-ares-dev): only numeric hosts and localhost.
#include "resolve/lookup.hpp"

namespace corio::resolve_detail {

task<result<std::vector<net::socket_address>>> lookup(std::string, std::uint16_t,
                                                      resolve_options) {
  co_return make_error_code(resolve_error::no_resolver);
}

}  // namespace corio::resolve_detail
