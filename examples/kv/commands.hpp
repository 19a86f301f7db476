// The command table: Redis's names, arities, replies and error texts (Redis 7), for the
// commands this server has. Execution is synchronous; the connection decides when to flush.
#pragma once

#include <span>
#include <string>

#include "reply_writer.hpp"
#include "store.hpp"

namespace kv {

struct command_context {
  store& db;
  reply_writer& out;
  millis now;               // the clock the store's deadlines are on
  bool close_after = false; // set by QUIT: reply, then close
};

// Runs one request (argv non-empty). Arguments may be moved from (values go to the store).
void execute(command_context& ctx, std::span<std::string> argv);

}  // namespace kv
