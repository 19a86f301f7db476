// A lifetime-counting value (after cppcoro's test/counted.hpp): tests use it to prove that a
// value, or a frame holding one, is constructed and destroyed exactly as often as they expect.
// Single-threaded on purpose: tests reset and read the counts around code they run themselves.
#pragma once

namespace corio::test {

struct counted {
  static inline int default_constructions = 0;
  static inline int copy_constructions = 0;
  static inline int move_constructions = 0;
  static inline int destructions = 0;

  static void reset_counts() noexcept {
    default_constructions = copy_constructions = move_constructions = destructions = 0;
  }
  static int constructions() noexcept {
    return default_constructions + copy_constructions + move_constructions;
  }
  static int alive() noexcept { return constructions() - destructions; }

  int id;  // -1 once destroyed, so a use after destruction shows up in assertions

  counted() noexcept : id(default_constructions++) {}
  counted(const counted& other) noexcept : id(other.id) { ++copy_constructions; }
  counted(counted&& other) noexcept : id(other.id) { ++move_constructions; }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) = default;
  ~counted() {
    ++destructions;
    id = -1;
  }
};

}  // namespace corio::test
