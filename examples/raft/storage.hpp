// Where a node keeps the promises Raft needs to survive a restart: its term and vote ("meta")
// and its log, as a file of records (term u64, length u32, command). The node syncs before it
// answers a vote or an append; a record torn by a crash is dropped on load.
//
// Three implementations: memory (no --data-dir: promises die with the process), files
// (--data-dir, fsync'd), and the simulated disk of a corio::sim host (raft_sim.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <corio/error.hpp>

namespace raft {

class storage {
 public:
  virtual ~storage() = default;
  virtual std::string load_meta() = 0;
  virtual std::string load_log() = 0;
  virtual void write_meta(std::string_view bytes) = 0;
  virtual void truncate_log(std::size_t size) = 0;
  virtual void append_log(std::string_view bytes) = 0;
  // Makes everything written so far durable.
  virtual void sync() = 0;
};

class memory_storage final : public storage {
 public:
  std::string load_meta() override { return meta_; }
  std::string load_log() override { return log_; }
  void write_meta(std::string_view b) override { meta_.assign(b); }
  void truncate_log(std::size_t n) override {
    if (n < log_.size()) log_.resize(n);
  }
  void append_log(std::string_view b) override { log_.append(b); }
  void sync() override {}

 private:
  std::string meta_;
  std::string log_;
};

// Files `meta` and `log` in a directory (created if missing). Failing I/O throws: a node that
// cannot keep its promises must stop rather than answer.
corio::result<std::unique_ptr<storage>> open_file_storage(const std::string& dir);

}  // namespace raft
