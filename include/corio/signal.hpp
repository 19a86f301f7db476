// Process signals as values. The driver turns each delivered signal into a signal_info record
// for every loop that watches it (see lib/driver/signals.hpp); the event loop and the
// awaitables hand these records to user code, never a raw signal handler.
//
// Sharp edge: signals coalesce. The kernel merges a standard signal sent twice before it is
// handled, and a record is dropped when a loop has not read its pending records for a long
// time (its pipe is full). Treat a record as "this signal arrived at least once".
#pragma once

#include <string_view>

namespace corio {

struct signal_info {
  int signo = 0;            // SIGINT, SIGTERM, ...
  int sender_pid = 0;       // si_pid: the sending process (0 when the kernel sent it)
  unsigned sender_uid = 0;  // si_uid: the sender's real user id
};

// "SIGINT", "SIGTERM", ...; an empty view for a number this function does not name.
std::string_view signal_name(int signo) noexcept;

}  // namespace corio
