// One client's session against a real room, through channels and the room's broadcast used
// without an executor; each client reads through chat::delivery, as its writer would.
#include "chat/session.hpp"

#include "chat/delivery.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <corio/sync/channel.hpp>
#include <gtest/gtest.h>

namespace {

using lines = std::vector<std::string>;

struct client {
  explicit client(chat::room& r, std::size_t capacity = 64) {
    auto [tx, rx] = corio::make_channel<chat::message>(capacity);
    reader.emplace(*place, std::move(rx));
    talk.emplace(r, place, std::move(tx));
    talk->greet();
  }
  std::shared_ptr<chat::seat> place = std::make_shared<chat::seat>();
  std::optional<chat::delivery> reader;
  std::optional<chat::session> talk;

  // What the client received (its replies and the room's lines), without CRLFs; "(closed)"
  // once the session ended and nothing is left for it.
  lines received() {
    std::string batch;
    const auto status = reader->take(batch, std::size_t(1) << 30);
    reader->written();
    lines got;
    for (std::size_t at = 0; at < batch.size();) {
      const std::size_t end = batch.find("\r\n", at);
      got.push_back(batch.substr(at, end - at));
      at = end + 2;
    }
    if (status == chat::delivery::status::finished) got.emplace_back("(closed)");
    return got;
  }
  lines joined_as(const char* nick) {
    talk->handle(nick);
    return received();
  }
};

constexpr const char* greeting = "* welcome to corio chat; your nickname?";

TEST(session, handshake_then_welcome) {
  chat::room r;
  client a(r);
  EXPECT_EQ(a.received(), lines{greeting});
  a.talk->handle("");
  EXPECT_EQ(a.received(), lines{});
  EXPECT_EQ(a.joined_as("alice"), lines{"* hello alice; commands: /who, /nick NEW, /quit"});
  EXPECT_EQ(r.who(), "alice");
}

TEST(session, bad_and_taken_nicknames_are_asked_again) {
  chat::room r;
  client a(r), b(r);
  (void)a.joined_as("alice");
  (void)b.received();
  EXPECT_EQ(b.joined_as("no spaces"),
            (lines{"! bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -", "* your nickname?"}));
  EXPECT_EQ(b.joined_as("alice"), (lines{"! nickname taken: alice", "* your nickname?"}));
  EXPECT_EQ(b.joined_as("/who"), (lines{"! choose a nickname first", "* your nickname?"}));
  EXPECT_EQ(b.joined_as("/nick bob"), lines{"* hello bob; commands: /who, /nick NEW, /quit"});
  EXPECT_EQ(a.received(), lines{"* bob joined"});
}

TEST(session, text_who_nick_and_unknown_commands) {
  chat::room r;
  client a(r), b(r);
  (void)a.joined_as("alice");
  (void)b.joined_as("bob");
  (void)a.received();
  a.talk->handle("hello //there");
  a.talk->handle("//who");
  EXPECT_EQ(b.received(), (lines{"<alice> hello //there", "<alice> /who"}));
  b.talk->handle("/who");
  EXPECT_EQ(b.received(), lines{"* here: alice, bob"});
  b.talk->handle("/nick alice");
  EXPECT_EQ(b.received(), lines{"! nickname taken: alice"});
  b.talk->handle("/nick");
  EXPECT_EQ(b.received(), lines{"! bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -"});
  b.talk->handle("/nick robert");
  EXPECT_EQ(b.received(), lines{"* you are now robert"});
  EXPECT_EQ(a.received(), lines{"* bob is now robert"});
  b.talk->handle("/dance wildly");
  EXPECT_EQ(b.received(), lines{"! unknown command: /dance; try /who, /nick NEW, /quit"});
  b.talk->handle("bye\x1b[2J");
  EXPECT_EQ(a.received(), lines{"<robert> bye?[2J"});
}

TEST(session, quit_says_bye_leaves_and_closes_the_outbox) {
  chat::room r;
  client a(r), b(r);
  (void)a.joined_as("alice");
  (void)b.joined_as("bob");
  (void)a.received();
  b.talk->handle("/quit");
  EXPECT_FALSE(b.talk->open());
  EXPECT_EQ(b.received(), (lines{"* bye", "(closed)"}));
  EXPECT_EQ(a.received(), lines{"* bob left"});
  b.talk->handle("too late");
  EXPECT_EQ(a.received(), lines{});
}

TEST(session, a_long_line_is_refused_and_ends_the_conversation) {
  chat::room r;
  client a(r), b(r);
  (void)a.joined_as("alice");
  (void)b.joined_as("bob");
  (void)a.received();
  b.talk->line_too_long();
  EXPECT_EQ(b.received(), (lines{"! line too long (limit 1024 bytes)", "(closed)"}));
  EXPECT_EQ(a.received(), lines{"* bob left"});
}

TEST(session, a_client_that_does_not_read_its_replies_is_dropped) {
  chat::room r;
  client a(r, 4);
  (void)a.joined_as("alice");  // read: four /who replies fill the outbox, the fifth drops it
  for (int i = 0; i < 5; ++i) a.talk->handle("/who");
  EXPECT_EQ(a.place->reason(), "not reading");
  EXPECT_FALSE(a.talk->open());
  EXPECT_EQ(r.who(), "");
}

TEST(session, leaving_twice_is_harmless) {
  chat::room r;
  client a(r);
  (void)a.joined_as("alice");
  a.talk->leave();
  a.talk->leave();
  a.talk.reset();
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
