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
#include <corio/runtime.hpp>
#include <corio/signal.hpp>
#include <corio/signal_set.hpp>
#include <corio/sync/channel.hpp>
#include <corio/sync/event.hpp>
#include <corio/sync/oneshot.hpp>
#include <corio/task.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <corio/udp.hpp>
#include <corio/unique_fd.hpp>
#include <corio/unix.hpp>
#include <corio/when.hpp>

namespace corio {
std::string_view version() noexcept;
}  // namespace corio
