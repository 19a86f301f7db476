// The one seam between resolve.cpp (numeric hosts, connect) and the name lookup, which is
// c-ares (cares_lookup.cpp) or absent (no_lookup.cpp), chosen by -Dresolver.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/resolve.hpp>
#include <corio/task.hpp>

namespace corio::resolve_detail {

// A name that is not numeric: v6 addresses first, then v4, at most options.max_addresses.
task<result<std::vector<net::socket_address>>> lookup(std::string host, std::uint16_t port,
                                                      resolve_options options);

}  // namespace corio::resolve_detail
