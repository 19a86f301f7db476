// The examples' option parser: a small facade over CLI11 whose only implementation file,
// command_line.cpp, is the one translation unit that includes CLI11's header. CLI11 is
// header-only and costs about 28 s per translation unit under ASan -O1 (7 s at -O0); compiled
// once into a static library, it no longer costs that in every example, five times per CI run.
//
//   examples::command_line cl("What the program does.", argc, argv);
//   cl.option("--upstream", upstream, "HOST:PORT to relay to").required();
//   cl.option("--nodes", nodes, "cluster size").range(1, 9);
//   cl.flag("--trace", trace, "print the trace of every failing seed");
//   cl.parse();  // or exits: 0 after --help, 2 after a bad command line
//
// parse() keeps the examples' contract (common/options.hpp): `--help` prints the program's own
// options on stdout and exits 0; an unknown option, an unexpected argument, a bad or missing
// value prints "PROG: <reason>" and a usage line on stderr and exits 2.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace examples {

// argv[0]'s last component, for messages.
std::string_view program_name(int argc, char** argv);

// "PROG: what" and a usage line on stderr, then exit 2.
[[noreturn]] void usage_error(std::string_view program, std::string_view what);

class command_line {
 public:
  // The kind of value an option writes, so that range() checks it as that type.
  enum class value_kind { text, u16, u32, i32, i64, u64, texts, flag, callback };

  // Rules for one option, chained after command_line::option() or flag().
  class option_ref {
   public:
    option_ref& required();
    // Inclusive bounds on a numeric option's value.
    option_ref& range(std::int64_t lo, std::int64_t hi);
    option_ref& one_of(std::vector<std::string> allowed);
    option_ref& existing_file();
    // Given without `other`, this option is an error.
    option_ref& needs(const option_ref& other);
    // A list option (std::vector<std::string>) also splits each value at `separator`.
    option_ref& delimiter(char separator);
    // --help shows the value the option holds before parsing.
    option_ref& show_default();
    // why_not(value) returns an empty string for a good value, else the reason.
    option_ref& check(std::function<std::string(const std::string&)> why_not);

   private:
    friend class command_line;
    option_ref(CLI::Option* o, value_kind kind) : option_(o), kind_(kind) {}
    CLI::Option* option_;
    value_kind kind_;
  };

  command_line(std::string description, int argc, char** argv);
  ~command_line();
  command_line(const command_line&) = delete;
  command_line& operator=(const command_line&) = delete;

  std::string_view program() const { return program_; }

  // `--name VALUE` writes `value`; its current value is the default.
  option_ref option(std::string name, std::string& value, std::string help);
  option_ref option(std::string name, std::uint16_t& value, std::string help);
  option_ref option(std::string name, unsigned& value, std::string help);
  option_ref option(std::string name, int& value, std::string help);
  option_ref option(std::string name, long& value, std::string help);
  option_ref option(std::string name, std::uint64_t& value, std::string help);
  // Every occurrence appends (and with delimiter(), each piece of it).
  option_ref option(std::string name, std::vector<std::string>& values, std::string help);
  // `--name VALUE` calls on_value(VALUE) once the value has passed its checks.
  option_ref option(std::string name, std::function<void(const std::string&)> on_value,
                    std::string help);
  // `--name` sets `value` to true.
  option_ref flag(std::string name, bool& value, std::string help);

  // Parses argv, or exits: 0 after printing --help on stdout, 2 after an error and a usage
  // line on stderr.
  void parse();

 private:
  int argc_;
  char** argv_;
  std::string_view program_;
  std::unique_ptr<CLI::App> app_;
};

}  // namespace examples
