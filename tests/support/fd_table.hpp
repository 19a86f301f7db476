// A full fd table on demand, for the tests of accept's EMFILE path: the soft limit is lowered to
// just above what is open, so a handful of dups fill it whatever the machine's limit is.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <vector>

namespace corio::test {

// Lowers RLIMIT_NOFILE and fills the table with dups of stdin; undone on destruction.
class fd_table_filler {
 public:
  fd_table_filler() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    const int probe = ::dup(0);
    ::rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(probe + 8);
    ::close(probe);
    ok_ = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
    for (int fd; ok_ && (fd = ::dup(0)) >= 0;) spare_.push_back(fd);
  }
  ~fd_table_filler() { release(); }
  fd_table_filler(const fd_table_filler&) = delete;
  fd_table_filler& operator=(const fd_table_filler&) = delete;
  bool ok() const { return ok_ && !spare_.empty(); }
  void release() {
    for (int fd : spare_) ::close(fd);
    spare_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  ::rlimit saved_{};
  bool ok_ = false;
  std::vector<int> spare_;
};

}  // namespace corio::test
