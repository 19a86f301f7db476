// Vectored writes: several buffers in one sendmsg, e.g. a header and a body without copying
// them together.
//
//   std::array<std::span<const std::byte>, 2> parts{header, body};
//   co_await corio::write_all_vectored(stream, parts);   // result<void>
//
// A stream with a readiness registration and a raw writev (tcp_stream, unix_stream) gathers up
// to 64 buffers per system call; a partial write continues where it stopped, inside a buffer
// if need be. Any other stream falls back to one write_all per buffer. `parts` (and what it
// points to) must stay alive and unchanged until the co_await finishes; the cancellation rules
// of write_all hold (a cancelled write may have sent part of the data).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <system_error>

#include <corio/detail/io_awaiter.hpp>
#include <corio/error.hpp>
#include <corio/task.hpp>

namespace corio {
namespace detail {

template <class Raw>
struct writev_all_call {
  Raw* raw;
  std::span<const std::span<const std::byte>> parts;
  std::size_t index = 0;   // the first part not fully written
  std::size_t offset = 0;  // bytes of parts[index] already written

  result<void> operator()() {
    for (;;) {
      std::array<std::span<const std::byte>, 64> batch;
      std::size_t k = 0;
      for (std::size_t i = index; i < parts.size() && k < batch.size(); ++i) {
        const auto part = i == index ? parts[i].subspan(offset) : parts[i];
        if (!part.empty()) batch[k++] = part;
      }
      if (k == 0) return {};
      auto n = raw->writev(std::span(batch).first(k));
      if (!n) return n.error();
      advance(*n);
    }
  }

  void advance(std::size_t n) noexcept {
    while (index < parts.size()) {
      const std::size_t left = parts[index].size() - offset;
      if (n < left) {
        offset += n;
        return;
      }
      n -= left;
      ++index;
      offset = 0;
    }
  }
};

template <class Stream>
concept vectored_stream = requires(Stream& s, std::span<const std::span<const std::byte>> parts) {
  s.registration();
  s.raw().writev(parts);
};

template <class Stream>
task<result<void>> write_parts_one_by_one(Stream& s,
                                          std::span<const std::span<const std::byte>> parts) {
  for (auto part : parts) {
    if (auto r = co_await s.write_all(part); !r) co_return r;
  }
  co_return result<void>();
}

}  // namespace detail

// co_await → result<void> once every byte of every part went to the kernel.
template <class Stream>
auto write_all_vectored(Stream& s, std::span<const std::span<const std::byte>> parts) {
  if constexpr (detail::vectored_stream<Stream>) {
    using raw_type = std::remove_reference_t<decltype(s.raw())>;
    return detail::io_awaiter(s.registration(), detail::writing,
                              detail::writev_all_call<raw_type>{&s.raw(), parts});
  } else {
    return detail::write_parts_one_by_one(s, parts);
  }
}

}  // namespace corio
