// The timer wheel's intrusive node (lib/driver/timer_wheel.hpp). It is public only because a
// sleeping coroutine keeps its timer in its own frame, so the awaitable must know its size.
#pragma once

#include <cstdint>

namespace corio::detail {

using tick = std::uint64_t;  // whole milliseconds since a time_source's origin

struct timer_node {
  timer_node* next = nullptr;
  timer_node* prev = nullptr;
  tick deadline = 0;
  std::uint64_t sequence = 0;  // wheel-wide insertion order; breaks ties between equal deadlines
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
  bool linked = false;
};

}  // namespace corio::detail
