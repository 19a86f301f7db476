// The simulated disk: what a host wrote, and the part of it that survives a crash.
#include <corio/sim/world.hpp>

#include <algorithm>

namespace corio::sim {

disk::file& disk::at(std::string_view name) {
  for (auto& f : files_) {
    if (f.name == name) return f;
  }
  files_.push_back(file{std::string(name), {}, {}, static_cast<std::size_t>(-1)});
  return files_.back();
}

void disk::write(std::string_view name, std::string_view bytes) {
  file& f = at(name);
  f.current.assign(bytes);
  f.dirty_from = 0;
}

void disk::append(std::string_view name, std::string_view bytes) {
  file& f = at(name);
  f.dirty_from = std::min(f.dirty_from, f.current.size());
  f.current.append(bytes);
}

void disk::truncate(std::string_view name, std::size_t size) {
  file& f = at(name);
  if (size >= f.current.size()) return;
  f.current.resize(size);
  f.dirty_from = std::min(f.dirty_from, size);
}

void disk::sync() {
  // Only the changed tail is copied: a log that grows by appends costs its new bytes per sync.
  for (auto& f : files_) {
    if (f.dirty_from == static_cast<std::size_t>(-1)) continue;
    f.durable.resize(std::min(f.dirty_from, f.durable.size()));
    f.durable.append(f.current, std::min(f.dirty_from, f.current.size()));
    f.durable.resize(f.current.size());
    f.dirty_from = static_cast<std::size_t>(-1);
  }
}

std::string disk::read(std::string_view name) const {
  for (const auto& f : files_) {
    if (f.name == name) return f.current;
  }
  return {};
}

void disk::lose_unsynced() {
  for (auto& f : files_) {
    f.current = f.durable;
    f.dirty_from = static_cast<std::size_t>(-1);
  }
}

}  // namespace corio::sim
