// The room with real channels and its real broadcast, used without an executor: try_send and
// try_recv never wait. Each member reads through chat::delivery, as its writer would.
#include "chat/room.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <corio/sync/channel.hpp>
#include <gtest/gtest.h>

#include "chat/delivery.hpp"

namespace {

// Splits what a writer would write into its CRLF-ended lines.
std::vector<std::string> split_lines(const std::string& batch) {
  std::vector<std::string> got;
  for (std::size_t at = 0; at < batch.size();) {
    const std::size_t end = batch.find("\r\n", at);
    got.push_back(batch.substr(at, end - at + 2));
    at = end + 2;
  }
  return got;
}

// A member as its connection would see it: a seat, its outbox, and its writer's side.
struct client {
  explicit client(std::size_t capacity = 64, std::size_t byte_limit = chat::unwritten_limit)
      : place(std::make_shared<chat::seat>(byte_limit)) {
    auto [tx, rx] = corio::make_channel<chat::message>(capacity);
    out = std::move(tx);
    reader.emplace(*place, std::move(rx));
  }
  std::shared_ptr<chat::seat> place;
  std::optional<chat::outbox> out;
  std::optional<chat::delivery> reader;

  bool join(chat::room& r, std::string_view nick) {
    return r.join(nick, place, *out, "welcome");
  }
  // Takes what is there, as its writer would: the bytes count as written.
  std::vector<std::string> lines() {
    std::string batch;
    (void)reader->take(batch, std::size_t(1) << 30);  // the status: asserted where it matters
    reader->written();
    return split_lines(batch);
  }
};

using lines = std::vector<std::string>;

TEST(room, join_welcomes_the_newcomer_and_tells_the_others) {
  chat::room r;
  client alice, bob;
  ASSERT_TRUE(alice.join(r, "alice"));
  EXPECT_EQ(alice.lines(), lines{"welcome\r\n"});
  ASSERT_TRUE(bob.join(r, "bob"));
  EXPECT_EQ(bob.lines(), lines{"welcome\r\n"});
  EXPECT_EQ(alice.lines(), lines{"* bob joined\r\n"});
  EXPECT_EQ(r.who(), "alice, bob");
}

TEST(room, a_taken_nickname_changes_nothing) {
  chat::room r;
  client alice, other;
  ASSERT_TRUE(alice.join(r, "alice"));
  (void)alice.lines();
  EXPECT_FALSE(other.join(r, "alice"));
  EXPECT_EQ(other.lines(), lines{});
  EXPECT_EQ(alice.lines(), lines{});
  EXPECT_EQ(r.size(), 1u);
}

TEST(room, say_reaches_everyone_but_the_speaker) {
  chat::room r;
  client a, b, c;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b") && c.join(r, "c"));
  (void)a.lines(), (void)b.lines(), (void)c.lines();
  r.say(*b.place, "b", "hi");
  EXPECT_EQ(a.lines(), lines{"<b> hi\r\n"});
  EXPECT_EQ(b.lines(), lines{});
  EXPECT_EQ(c.lines(), lines{"<b> hi\r\n"});
}

TEST(room, a_seat_cannot_speak_under_a_nickname_it_does_not_hold) {
  chat::room r;
  client a, b;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b"));
  (void)a.lines();
  r.say(*b.place, "a", "impostor");
  r.leave(*b.place, "a");
  EXPECT_EQ(a.lines(), lines{});
  EXPECT_EQ(r.who(), "a, b");
}

TEST(room, rename_announces_and_frees_the_old_name) {
  chat::room r;
  client a, b, c;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b"));
  (void)a.lines(), (void)b.lines();
  EXPECT_EQ(r.rename(*a.place, "a", "b"), chat::room::rename_result::taken);
  EXPECT_EQ(r.rename(*a.place, "a", "z"), chat::room::rename_result::renamed);
  EXPECT_EQ(b.lines(), lines{"* a is now z\r\n"});
  EXPECT_EQ(a.lines(), lines{});
  EXPECT_EQ(r.rename(*a.place, "a", "y"), chat::room::rename_result::not_here);
  EXPECT_TRUE(c.join(r, "a"));
  EXPECT_EQ(r.who(), "a, b, z");
}

TEST(room, leave_tells_the_others_unless_the_server_is_closing) {
  chat::room r;
  client a, b, c;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b") && c.join(r, "c"));
  (void)a.lines(), (void)b.lines();
  r.leave(*c.place, "c");
  EXPECT_EQ(a.lines(), lines{"* c left\r\n"});
  r.close();
  r.leave(*b.place, "b");
  EXPECT_EQ(a.lines(), lines{});
  EXPECT_EQ(r.who(), "a");
}

TEST(room, a_member_the_ring_would_overtake_is_dropped_and_the_others_keep_going) {
  chat::room r(4);  // the room keeps 4 lines for those who have not read them
  client fast, slow, talker;
  ASSERT_TRUE(fast.join(r, "fast") && slow.join(r, "slow") && talker.join(r, "talker"));
  (void)fast.lines(), (void)talker.lines();
  // slow has not read "* talker joined": three more lines fill the ring for it, and it goes
  // before the next would overwrite one it has not read.
  lines got, talker_got;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(slow.place->dropped().is_set()) << i;
    r.say(*talker.place, "talker", std::to_string(i));
    for (auto& l : fast.lines()) got.push_back(l);
    for (auto& l : talker.lines()) talker_got.push_back(l);  // its own lines are skipped
  }
  EXPECT_TRUE(slow.place->dropped().is_set());
  EXPECT_EQ(slow.place->reason(), "not reading");
  EXPECT_EQ(got, (lines{"<talker> 0\r\n", "<talker> 1\r\n", "<talker> 2\r\n",
                        "* slow dropped (not reading)\r\n"}));
  EXPECT_EQ(talker_got, lines{"* slow dropped (not reading)\r\n"});
  EXPECT_EQ(r.who(), "fast, talker");
  r.say(*talker.place, "talker", "still here");
  EXPECT_EQ(fast.lines(), lines{"<talker> still here\r\n"});
}

TEST(room, news_of_a_drop_that_overflows_others_drops_them_too) {
  chat::room r;
  // Unwritten before the line: a 55 bytes (welcome, three joins), b 43 (welcome, two joins).
  client talker, a(64, 70), b(64, 80), keeper;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b") && keeper.join(r, "keeper") &&
              talker.join(r, "talker"));
  // 19 bytes take a past 70 and b to 62; the 27 bytes of news that a left take b past 80.
  r.say(*talker.place, "talker", "overflow");
  EXPECT_EQ(a.place->reason(), "not reading");
  EXPECT_EQ(b.place->reason(), "not reading");
  EXPECT_EQ(r.who(), "keeper, talker");
  EXPECT_EQ(keeper.lines(), (lines{"welcome\r\n", "* talker joined\r\n", "<talker> overflow\r\n",
                                   "* a dropped (not reading)\r\n",
                                   "* b dropped (not reading)\r\n"}));
}

// Issue 17: one read of a burst (300 two-byte lines) is broadcast before any writer runs; a
// 256-line outbox dropped every member who was reading. Bytes, not lines, decide now.
TEST(room, a_burst_of_short_lines_drops_no_member_who_reads) {
  chat::room r;
  client talker(16384), a(16384), b(16384);
  ASSERT_TRUE(talker.join(r, "talker") && a.join(r, "a") && b.join(r, "b"));
  (void)a.lines(), (void)b.lines();
  for (int i = 0; i < 300; ++i) r.say(*talker.place, "talker", "x");
  EXPECT_FALSE(a.place->dropped().is_set());
  EXPECT_FALSE(b.place->dropped().is_set());
  EXPECT_EQ(a.lines().size(), 300u);
  EXPECT_EQ(b.lines().size(), 300u);
  EXPECT_EQ(a.place->unwritten(), 0u);
  EXPECT_EQ(r.who(), "a, b, talker");
}

TEST(room, a_member_is_dropped_by_unwritten_bytes_and_reading_frees_them) {
  chat::room r;
  client talker, reader(64, 100), idle(64, 100);
  ASSERT_TRUE(talker.join(r, "talker") && reader.join(r, "reader") && idle.join(r, "idle"));
  (void)talker.lines(), (void)reader.lines();
  ASSERT_EQ(idle.place->unwritten(), std::string_view("welcome\r\n").size());
  // "<talker> ..." lines of 31 bytes after a 9-byte welcome: the reader keeps up, idle passes
  // 100 bytes at the third.
  const std::string text(20, 'z');
  const std::string said = "<talker> " + text + "\r\n";
  for (int i = 0; i < 2; ++i) {
    r.say(*talker.place, "talker", text);
    EXPECT_EQ(reader.lines(), lines{said}) << i;
  }
  EXPECT_FALSE(idle.place->dropped().is_set());
  r.say(*talker.place, "talker", text);
  EXPECT_FALSE(reader.place->dropped().is_set());
  EXPECT_EQ(idle.place->reason(), "not reading");
  EXPECT_EQ(reader.lines(), (lines{said, "* idle dropped (not reading)\r\n"}));
  EXPECT_EQ(talker.lines(), lines{"* idle dropped (not reading)\r\n"});
  EXPECT_EQ(r.who(), "reader, talker");
}

TEST(room, a_member_dropped_by_its_writer_is_announced_as_not_reading) {
  chat::room r;
  client a, b;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b"));
  (void)a.lines();
  b.place->drop(chat::not_reading);  // its writer could write nothing for too long
  r.leave(*b.place, "b");
  EXPECT_EQ(a.lines(), lines{"* b dropped (not reading)\r\n"});
}

TEST(room, a_member_whose_connection_is_gone_leaves_without_blame) {
  chat::room r;
  client a, b;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b"));
  (void)a.lines();
  b.place->drop(chat::connection_lost);  // its writer failed
  r.leave(*b.place, "b");
  EXPECT_EQ(a.lines(), lines{"* b left\r\n"});
}

TEST(room, a_member_gets_the_lines_sent_before_it_left_and_then_finishes) {
  chat::room r;
  client a, b;
  ASSERT_TRUE(a.join(r, "a") && b.join(r, "b"));
  (void)a.lines(), (void)b.lines();
  r.say(*a.place, "a", "before");
  r.leave(*b.place, "b");
  r.say(*a.place, "a", "after");
  b.out.reset();  // the session lets go of the outbox after leaving
  std::string batch;
  EXPECT_EQ(b.reader->take(batch, 1 << 20), chat::delivery::status::finished);
  EXPECT_EQ(batch, "<a> before\r\n");
}

TEST(room, a_seat_keeps_its_first_reason) {
  chat::seat s;
  EXPECT_EQ(s.reason(), "");
  s.drop("not reading");
  s.drop("connection lost");
  EXPECT_TRUE(s.dropped().is_set());
  EXPECT_EQ(s.reason(), "not reading");
}

}  // namespace
