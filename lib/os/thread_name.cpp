#include "os/thread_name.hpp"

#include <pthread.h>
#if defined(__FreeBSD__)
#include <pthread_np.h>
#endif

#include <algorithm>
#include <array>
#include <cstddef>

namespace corio::sys {

void name_this_thread(std::string_view name) noexcept {
  constexpr std::size_t kept = 15;  // TASK_COMM_LEN - 1 on Linux; macOS and BSD keep more
  std::array<char, kept + 1> cut{};
  const std::size_t n = std::min(name.size(), kept);
  std::copy_n(name.data(), n, cut.data());
#if defined(__APPLE__)
  (void)pthread_setname_np(cut.data());  // names the calling thread only
#elif defined(__FreeBSD__)
  pthread_set_name_np(pthread_self(), cut.data());
#else
  (void)pthread_setname_np(pthread_self(), cut.data());
#endif
}

}  // namespace corio::sys
