#include "commands.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "glob.hpp"
#include "number.hpp"

namespace kv {

namespace {

using args = std::span<std::string>;
constexpr auto int64_max = std::numeric_limits<std::int64_t>::max();
constexpr auto int64_min = std::numeric_limits<std::int64_t>::min();

constexpr std::string_view not_integer = "ERR value is not an integer or out of range";
constexpr std::string_view syntax_error = "ERR syntax error";

// Up to the first NUL: Redis formats these texts with %s.
std::string_view c_string(std::string_view s) { return s.substr(0, s.find('\0')); }

std::optional<std::int64_t> integer_or_reply(command_context& ctx, std::string_view text) {
  auto n = parse_int64(text);
  if (!n) ctx.out.error(not_integer);
  return n;
}

void reply_unknown_command(command_context& ctx, args argv) {
  // Redis's format: the name up to 128 bytes, then quoted arguments while under 128 bytes.
  std::string quoted;
  for (std::size_t i = 1; i < argv.size() && quoted.size() < 128; ++i) {
    const std::size_t room = 128 - quoted.size();
    quoted += '\'';
    quoted += c_string(argv[i]).substr(0, room);
    quoted += "' ";
  }
  std::string text = "ERR unknown command '";
  text += c_string(argv[0]).substr(0, 128);
  text += "', with args beginning with: ";
  text += quoted;
  ctx.out.error(text);
}

void reply_arity(command_context& ctx, std::string_view name) {
  std::string text = "ERR wrong number of arguments for '";
  text += name;
  text += "' command";
  ctx.out.error(text);
}

void reply_unknown_subcommand(command_context& ctx, std::string_view sub, std::string_view cmd) {
  std::string text = "ERR unknown subcommand '";
  text += c_string(sub).substr(0, 128);
  text += "'. Try ";
  text += cmd;
  text += " HELP.";
  ctx.out.error(text);
}

void reply_invalid_expire(command_context& ctx, std::string_view name) {
  std::string text = "ERR invalid expire time in '";
  text += name;
  text += "' command";
  ctx.out.error(text);
}

// ------------------------------------------------------------------ connection and server

void ping(command_context& ctx, args argv) {
  if (argv.size() > 2) return reply_arity(ctx, "ping");
  if (argv.size() == 2) return ctx.out.bulk(argv[1]);
  ctx.out.simple("PONG");
}

void echo(command_context& ctx, args argv) { ctx.out.bulk(argv[1]); }

void quit(command_context& ctx, args) {
  ctx.out.simple("OK");
  ctx.close_after = true;
}

void select(command_context& ctx, args argv) {
  const auto n = integer_or_reply(ctx, argv[1]);
  if (!n) return;
  if (*n != 0) return ctx.out.error("ERR DB index is out of range");  // one database
  ctx.out.simple("OK");
}

void dbsize(command_context& ctx, args) {
  ctx.out.integer(static_cast<std::int64_t>(ctx.db.size()));
}

void flushall(command_context& ctx, args argv) {
  if (argv.size() > 2 ||
      (argv.size() == 2 && !equals_ignore_case(argv[1], "sync") &&
       !equals_ignore_case(argv[1], "async"))) {
    return ctx.out.error(syntax_error);
  }
  ctx.db.clear();
  ctx.out.simple("OK");
}

void command(command_context& ctx, args argv);

void config(command_context& ctx, args argv) {
  if (!equals_ignore_case(argv[1], "get")) return reply_unknown_subcommand(ctx, argv[1], "CONFIG");
  if (argv.size() < 3) return reply_arity(ctx, "config|get");
  // What redis-benchmark asks about: no persistence here.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> known{{
      {"save", ""}, {"appendonly", "no"}, {"databases", "1"}}};
  std::vector<std::pair<std::string_view, std::string_view>> found;
  for (const auto& [name, value] : known) {
    for (std::size_t i = 2; i < argv.size(); ++i) {
      // Any length: the match is bounded by pattern x name (glob.hpp), as in Redis.
      if (glob_match(argv[i], name, glob_case::insensitive)) {
        found.emplace_back(name, value);
        break;
      }
    }
  }
  ctx.out.array(found.size() * 2);
  for (const auto& [name, value] : found) {
    ctx.out.bulk(name);
    ctx.out.bulk(value);
  }
}

// ------------------------------------------------------------------ strings

void get(command_context& ctx, args argv) { ctx.out.bulk(ctx.db.get(argv[1], ctx.now)); }

struct parsed_set {
  set_options options;
  bool get = false;
};

// SET's options after the value, as Redis 7 reads them; false once it replied an error.
bool parse_set_options(command_context& ctx, args argv, parsed_set& p) {
  bool ex = false;
  bool px = false;
  std::string_view expire;
  for (std::size_t j = 3; j < argv.size(); ++j) {
    const std::string_view opt = argv[j];
    const bool has_next = j + 1 < argv.size();
    set_options& o = p.options;
    if (equals_ignore_case(opt, "nx") && !o.only_if_present) {
      o.only_if_absent = true;
    } else if (equals_ignore_case(opt, "xx") && !o.only_if_absent) {
      o.only_if_present = true;
    } else if (equals_ignore_case(opt, "get")) {
      p.get = true;
    } else if (equals_ignore_case(opt, "keepttl") && !ex && !px) {
      o.keep_ttl = true;
    } else if (equals_ignore_case(opt, "ex") && !o.keep_ttl && !px && has_next) {
      ex = true;
      expire = argv[++j];
    } else if (equals_ignore_case(opt, "px") && !o.keep_ttl && !ex && has_next) {
      px = true;
      expire = argv[++j];
    } else {
      ctx.out.error(syntax_error);
      return false;
    }
  }
  if (!ex && !px) return true;
  const auto n = integer_or_reply(ctx, expire);
  if (!n) return false;
  std::int64_t ms = *n;
  if (ms <= 0 || (ex && ms > int64_max / 1000) || (ex && (ms *= 1000) > int64_max - ctx.now)) {
    reply_invalid_expire(ctx, "set");
    return false;
  }
  if (px && ms > int64_max - ctx.now) {
    reply_invalid_expire(ctx, "set");
    return false;
  }
  p.options.deadline = ctx.now + ms;
  return true;
}

void set(command_context& ctx, args argv) {
  parsed_set p;
  if (!parse_set_options(ctx, argv, p)) return;
  value_ptr previous;
  const bool done = ctx.db.set(argv[1], std::make_shared<const std::string>(std::move(argv[2])),
                               p.options, ctx.now, p.get ? &previous : nullptr);
  if (p.get) return ctx.out.bulk(previous);
  if (!done) return ctx.out.null_bulk();
  ctx.out.simple("OK");
}

void increment_by(command_context& ctx, const std::string& key, std::int64_t delta) {
  const auto r = ctx.db.increment(key, delta, ctx.now);
  switch (r.error) {
    case store::incr_error::none: return ctx.out.integer(r.value);
    case store::incr_error::not_integer: return ctx.out.error(not_integer);
    case store::incr_error::overflow:
      return ctx.out.error("ERR increment or decrement would overflow");
  }
}

void incr(command_context& ctx, args argv) { increment_by(ctx, argv[1], 1); }
void decr(command_context& ctx, args argv) { increment_by(ctx, argv[1], -1); }

void incrby(command_context& ctx, args argv) {
  if (const auto n = integer_or_reply(ctx, argv[2])) increment_by(ctx, argv[1], *n);
}

void decrby(command_context& ctx, args argv) {
  const auto n = integer_or_reply(ctx, argv[2]);
  if (!n) return;
  if (*n == int64_min) return ctx.out.error("ERR decrement would overflow");
  increment_by(ctx, argv[1], -*n);
}

void mget(command_context& ctx, args argv) {
  std::vector<value_ptr> values;
  ctx.db.get_many(argv.subspan(1), ctx.now, values);
  ctx.out.array(values.size());
  for (const auto& v : values) ctx.out.bulk(v);
}

void mset(command_context& ctx, args argv) {
  if (argv.size() % 2 == 0) return reply_arity(ctx, "mset");
  ctx.db.set_many(argv.subspan(1), ctx.now);
  ctx.out.simple("OK");
}

// ------------------------------------------------------------------ keys

void del(command_context& ctx, args argv) {
  std::int64_t n = 0;
  for (const auto& k : argv.subspan(1)) n += ctx.db.erase(k, ctx.now) ? 1 : 0;
  ctx.out.integer(n);
}

void exists(command_context& ctx, args argv) {
  std::int64_t n = 0;
  for (const auto& k : argv.subspan(1)) n += ctx.db.contains(k, ctx.now) ? 1 : 0;
  ctx.out.integer(n);
}

// EXPIRE key seconds [NX|XX|GT|LT ...], checks in Redis 7's order.
void expire(command_context& ctx, args argv) {
  expire_flags f;
  for (std::size_t j = 3; j < argv.size(); ++j) {
    const std::string_view opt = argv[j];
    if (equals_ignore_case(opt, "nx")) {
      f.nx = true;
    } else if (equals_ignore_case(opt, "xx")) {
      f.xx = true;
    } else if (equals_ignore_case(opt, "gt")) {
      f.gt = true;
    } else if (equals_ignore_case(opt, "lt")) {
      f.lt = true;
    } else {
      return ctx.out.error("ERR Unsupported option " + std::string(c_string(opt)));
    }
  }
  if (f.nx && (f.xx || f.gt || f.lt)) {
    return ctx.out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (f.gt && f.lt) return ctx.out.error("ERR GT and LT options at the same time are not compatible");
  const auto seconds = integer_or_reply(ctx, argv[2]);
  if (!seconds) return;
  if (*seconds > int64_max / 1000 || *seconds < int64_min / 1000) {
    return reply_invalid_expire(ctx, "expire");
  }
  const std::int64_t ms = *seconds * 1000;
  if (ms > int64_max - ctx.now) return reply_invalid_expire(ctx, "expire");
  ctx.out.integer(ctx.db.expire(argv[1], ctx.now + ms, f, ctx.now));
}

void ttl(command_context& ctx, args argv) {
  const millis left = ctx.db.ttl(argv[1], ctx.now);
  ctx.out.integer(left < 0 ? left : (left + 500) / 1000);  // rounded, as Redis does
}

void pttl(command_context& ctx, args argv) { ctx.out.integer(ctx.db.ttl(argv[1], ctx.now)); }

// ------------------------------------------------------------------ the table

struct command_spec {
  std::string_view name;  // lowercase
  int arity;              // as in Redis: exact when positive, a minimum when negative
  void (*run)(command_context&, args);
};

constexpr std::array<command_spec, 23> table{{
    {"get", 2, get},           {"set", -3, set},         {"ping", -1, ping},
    {"incr", 2, incr},         {"decr", 2, decr},        {"mget", -2, mget},
    {"mset", -3, mset},        {"del", -2, del},         {"exists", -2, exists},
    {"expire", -3, expire},    {"ttl", 2, ttl},          {"pttl", 2, pttl},
    {"incrby", 3, incrby},     {"decrby", 3, decrby},    {"echo", 2, echo},
    {"dbsize", 1, dbsize},     {"flushall", -1, flushall}, {"quit", -1, quit},
    {"select", 2, select},     {"command", -1, command}, {"config", -2, config},
    {"flushdb", -1, flushall}, {"unlink", -2, del},
}};

const command_spec* find_command(std::string_view name) {
  for (const auto& c : table) {
    if (equals_ignore_case(name, c.name)) return &c;
  }
  return nullptr;
}

void command(command_context& ctx, args argv) {
  // redis-cli asks for COMMAND DOCS at start-up: an empty answer means "no hints".
  if (argv.size() == 1) return ctx.out.array(0);
  if (equals_ignore_case(argv[1], "docs") || equals_ignore_case(argv[1], "info") ||
      equals_ignore_case(argv[1], "list")) {
    return ctx.out.array(0);
  }
  if (equals_ignore_case(argv[1], "count") && argv.size() == 2) {
    return ctx.out.integer(static_cast<std::int64_t>(table.size()));
  }
  reply_unknown_subcommand(ctx, argv[1], "COMMAND");
}

}  // namespace

void execute(command_context& ctx, std::span<std::string> argv) {
  const command_spec* c = find_command(argv[0]);
  if (c == nullptr) return reply_unknown_command(ctx, argv);
  const auto n = static_cast<int>(std::min<std::size_t>(argv.size(), 1 << 30));
  if ((c->arity > 0 && n != c->arity) || (c->arity < 0 && n < -c->arity)) {
    return reply_arity(ctx, c->name);
  }
  c->run(ctx, argv);
}

}  // namespace kv
