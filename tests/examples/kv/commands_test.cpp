#include "commands.hpp"

#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reply_writer.hpp"
#include "store.hpp"

namespace {

// Runs commands at a time the test sets, and returns the bytes of the replies.
class fixture : public ::testing::Test {
 protected:
  std::string run(std::initializer_list<std::string> argv) {
    std::vector<std::string> a(argv);
    kv::reply_writer out;
    kv::command_context ctx{db, out, now};
    kv::execute(ctx, a);
    closed = ctx.close_after;
    std::string bytes;
    for (auto c = out.next_chunk(); !c.empty(); c = out.next_chunk()) bytes += c;
    return bytes;
  }

  kv::store db;
  kv::millis now = 1000;
  bool closed = false;
};

using commands = fixture;

TEST_F(commands, ping_echo_quit) {
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(run({"ping", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(run({"ping", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n");
  EXPECT_EQ(run({"ECHO", std::string("a\0b", 3)}), std::string("$3\r\na\0b\r\n", 9));
  EXPECT_EQ(run({"echo"}), "-ERR wrong number of arguments for 'echo' command\r\n");
  EXPECT_FALSE(closed);
  EXPECT_EQ(run({"QUIT"}), "+OK\r\n");
  EXPECT_TRUE(closed);
}

TEST_F(commands, unknown_command_text) {
  EXPECT_EQ(run({"foo", "a", "b"}),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(run({"foo"}), "-ERR unknown command 'foo', with args beginning with: \r\n");
  // Arguments are quoted while under 128 bytes, each cut to what is left; line breaks become
  // spaces.
  const std::string long_arg(200, 'x');
  EXPECT_EQ(run({"f\r\no", long_arg, "y"}),
            "-ERR unknown command 'f  o', with args beginning with: '" + std::string(128, 'x') +
                "' \r\n");
}

TEST_F(commands, get_set_and_options) {
  EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(run({"SET", "k", "w", "NX"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "new", "w", "XX"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "w", "xx", "GET"}), "$1\r\nv\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "10", "PX", "10"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "FOO"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "abc"}),
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "PX", "-1"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "9223372036854776"}),
            "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SET", "k"}), "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(run({"get"}), "-ERR wrong number of arguments for 'get' command\r\n");
}

TEST_F(commands, expiry_on_a_controlled_clock) {
  EXPECT_EQ(run({"SET", "k", "v", "PX", "1500"}), "+OK\r\n");
  EXPECT_EQ(run({"PTTL", "k"}), ":1500\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":2\r\n");  // rounded like Redis
  now += 1500;
  EXPECT_EQ(run({"GET", "k"}), "$1\r\nv\r\n");
  now += 1;
  EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":-2\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "10"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":10\r\n");
  EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "9", "NX"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "9", "GT"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":9\r\n");
  EXPECT_EQ(run({"EXPIRE", "nokey", "5"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "abc"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "9223372036854775807"}),
            "-ERR invalid expire time in 'expire' command\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "FOO"}), "-ERR Unsupported option FOO\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "GT", "LT"}),
            "-ERR GT and LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "-1"}), ":1\r\n");
  EXPECT_EQ(run({"EXISTS", "k"}), ":0\r\n");
}

TEST_F(commands, counters) {
  EXPECT_EQ(run({"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(run({"DECR", "n"}), ":0\r\n");
  EXPECT_EQ(run({"DECR", "n"}), ":-1\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "10"}), ":9\r\n");
  EXPECT_EQ(run({"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
  EXPECT_EQ(run({"SET", "n", " 1"}), "+OK\r\n");
  EXPECT_EQ(run({"INCR", "n"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"SET", "n", "01"}), "+OK\r\n");
  EXPECT_EQ(run({"INCR", "n"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"SET", "n", "9223372036854775807"}), "+OK\r\n");
  EXPECT_EQ(run({"INCR", "n"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(run({"INCR"}), "-ERR wrong number of arguments for 'incr' command\r\n");
}

TEST_F(commands, multi_key) {
  EXPECT_EQ(run({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(run({"MGET", "a", "b", "c"}), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
  EXPECT_EQ(run({"EXISTS", "a", "a", "b", "c"}), ":3\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":2\r\n");
  EXPECT_EQ(run({"DEL", "a", "c", "a"}), ":1\r\n");
  EXPECT_EQ(run({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(run({"MGET"}), "-ERR wrong number of arguments for 'mget' command\r\n");
  EXPECT_EQ(run({"DEL"}), "-ERR wrong number of arguments for 'del' command\r\n");
  EXPECT_EQ(run({"DBSIZE", "x"}), "-ERR wrong number of arguments for 'dbsize' command\r\n");
  EXPECT_EQ(run({"FLUSHALL", "x"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"FLUSHALL", "SYNC"}), "+OK\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":0\r\n");
}

TEST_F(commands, what_clients_ask_at_start) {
  EXPECT_EQ(run({"COMMAND", "DOCS"}), "*0\r\n");
  EXPECT_EQ(run({"COMMAND"}), "*0\r\n");
  EXPECT_EQ(run({"COMMAND", "FOO"}), "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "save"}), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "save", "appendonly"}),
            "*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  EXPECT_EQ(run({"config", "get", "APPEND*"}), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "nosuch"}), "*0\r\n");
  // Issue 17: 63 stars and an 'x' never answered (exponential backtracking); now at once,
  // and long patterns are matched like any other (redis has no length cap either).
  EXPECT_EQ(run({"CONFIG", "GET", std::string(63, '*') + "x"}), "*0\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", std::string(200, '*') + "s[a-c]ve"}),
            "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(run({"CONFIG", "GET"}), "-ERR wrong number of arguments for 'config|get' command\r\n");
  EXPECT_EQ(run({"CONFIG", "foo"}), "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n");
  EXPECT_EQ(run({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(run({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
}

TEST_F(commands, big_values_are_shared_not_copied_and_still_written_whole) {
  const std::string big(100000, 'z');
  EXPECT_EQ(run({"SET", "big", big}), "+OK\r\n");
  const std::string one = "$100000\r\n" + big + "\r\n";
  EXPECT_EQ(run({"MGET", "big", "x", "big"}), "*3\r\n" + one + "$-1\r\n" + one);
}

TEST(reply_writer, chunks_concatenate_to_the_replies) {
  kv::reply_writer out;
  std::string expected;
  for (int i = 0; i < 600; ++i) {
    const auto size = static_cast<std::size_t>((i * 7919) % 40000);
    auto v = std::make_shared<const std::string>(size, static_cast<char>('a' + i % 26));
    out.bulk(v);
    out.integer(i);
    expected += "$" + std::to_string(size) + "\r\n" + *v + "\r\n:" + std::to_string(i) + "\r\n";
  }
  std::string got;
  std::size_t chunks = 0;
  for (auto c = out.next_chunk(); !c.empty(); c = out.next_chunk()) {
    got += c;
    ++chunks;
  }
  EXPECT_EQ(got, expected);
  EXPECT_LT(chunks, 600u);  // coalesced
  out.clear();
  EXPECT_TRUE(out.empty());
}

}  // namespace
