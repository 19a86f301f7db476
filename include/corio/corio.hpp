// Umbrella header: everything a corio user needs.
#pragma once

#include <string_view>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/udp.hpp>
#include <corio/net/unix.hpp>
#include <corio/reactor.hpp>
#include <corio/signal.hpp>
#include <corio/unique_fd.hpp>

namespace corio {
std::string_view version() noexcept;
}  // namespace corio
