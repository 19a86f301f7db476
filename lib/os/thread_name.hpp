// Thread names for ps/top -H, gdb, perf and /proc/PID/task/TID/comm: a runtime's workers are
// "corio-worker-N", the diagnostics watchdog "corio-watchdog" (tokio names its threads the same
// way). The bench uses them too: the watchdog's wake-ups are time-driven, not per message, so
// compare.py leaves that thread out of the system calls it counts per message.
#pragma once

#include <string_view>

namespace corio::sys {

// Names the calling thread. The kernel keeps 15 characters; a longer name is cut there. Best
// effort: a name that cannot be set changes nothing else.
void name_this_thread(std::string_view name) noexcept;

}  // namespace corio::sys
