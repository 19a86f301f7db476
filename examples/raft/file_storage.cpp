#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "storage.hpp"

namespace raft {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  off_t at = 0;
  while (true) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("raft storage: read");
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
}

void write_all(int fd, std::string_view b, off_t at) {
  while (!b.empty()) {
    const ssize_t n = ::pwrite(fd, b.data(), b.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("raft storage: write");
    b.remove_prefix(static_cast<std::size_t>(n));
    at += n;
  }
}

class file_storage final : public storage {
 public:
  file_storage(int meta, int log) : meta_(meta), log_(log) {
    struct stat st {};
    if (::fstat(log_, &st) != 0) fail("raft storage: fstat");
    log_size_ = st.st_size;
  }
  ~file_storage() override {
    ::close(meta_);
    ::close(log_);
  }
  std::string load_meta() override { return read_all(meta_); }
  std::string load_log() override { return read_all(log_); }
  void write_meta(std::string_view b) override {
    // Fixed size, written in place: one sector, so a crash leaves the old or the new value.
    write_all(meta_, b, 0);
  }
  void truncate_log(std::size_t n) override {
    if (static_cast<off_t>(n) >= log_size_) return;
    if (::ftruncate(log_, static_cast<off_t>(n)) != 0) fail("raft storage: truncate");
    log_size_ = static_cast<off_t>(n);
  }
  void append_log(std::string_view b) override {
    write_all(log_, b, log_size_);
    log_size_ += static_cast<off_t>(b.size());
  }
  void sync() override {
    if (::fdatasync(meta_) != 0 || ::fdatasync(log_) != 0) fail("raft storage: fsync");
  }

 private:
  int meta_;
  int log_;
  off_t log_size_ = 0;
};

}  // namespace

corio::result<std::unique_ptr<storage>> open_file_storage(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return corio::last_errno();
  const int meta = ::open((dir + "/meta").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (meta < 0) return corio::last_errno();
  const int log = ::open((dir + "/log").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (log < 0) {
    const auto ec = corio::last_errno();
    ::close(meta);
    return ec;
  }
  // The directory entry of a new file must be durable too.
  if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    (void)::fsync(d);  // best effort: some filesystems refuse fsync on a directory
    ::close(d);
  }
  return std::unique_ptr<storage>(new file_storage(meta, log));
}

}  // namespace raft
