// The one translation unit of examples/ that includes CLI11 (see command_line.hpp for why).
#include "command_line.hpp"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

namespace examples {

std::string_view program_name(int argc, char** argv) {
  const std::string_view path = argc > 0 ? argv[0] : "example";
  return path.substr(path.find_last_of('/') + 1);
}

void usage_error(std::string_view program, std::string_view what) {
  fmt::print(stderr, "{}: {}\nusage: {} [OPTIONS]; {} --help lists them\n", program, what,
             program, program);
  std::exit(2);
}

namespace {

// CLI::Range checks (and --help describes) the value as T, so T is the option's own type.
template <class T>
CLI::Range range_of(std::int64_t lo, std::int64_t hi) {
  return CLI::Range(static_cast<T>(lo), static_cast<T>(hi));
}

}  // namespace

command_line::option_ref& command_line::option_ref::required() {
  option_->required();
  return *this;
}

command_line::option_ref& command_line::option_ref::range(std::int64_t lo, std::int64_t hi) {
  switch (kind_) {
    case value_kind::u16: option_->check(range_of<std::uint16_t>(lo, hi)); break;
    case value_kind::u32: option_->check(range_of<unsigned>(lo, hi)); break;
    case value_kind::i32: option_->check(range_of<int>(lo, hi)); break;
    case value_kind::i64: option_->check(range_of<long>(lo, hi)); break;
    case value_kind::u64: option_->check(range_of<std::uint64_t>(lo, hi)); break;
    default: throw CLI::IncorrectConstruction(option_->get_name() + ": range() of a non-number");
  }
  return *this;
}

command_line::option_ref& command_line::option_ref::one_of(std::vector<std::string> allowed) {
  option_->check(CLI::IsMember(std::move(allowed)));
  return *this;
}

command_line::option_ref& command_line::option_ref::existing_file() {
  option_->check(CLI::ExistingFile);
  return *this;
}

command_line::option_ref& command_line::option_ref::needs(const option_ref& other) {
  option_->needs(other.option_);
  return *this;
}

command_line::option_ref& command_line::option_ref::delimiter(char separator) {
  option_->delimiter(separator);
  return *this;
}

command_line::option_ref& command_line::option_ref::show_default() {
  option_->capture_default_str();
  return *this;
}

command_line::option_ref& command_line::option_ref::check(
    std::function<std::string(const std::string&)> why_not) {
  option_->check([why_not = std::move(why_not)](const std::string& v) { return why_not(v); });
  return *this;
}

command_line::command_line(std::string description, int argc, char** argv)
    : argc_(argc),
      argv_(argv),
      program_(program_name(argc, argv)),
      app_(std::make_unique<CLI::App>(std::move(description), std::string(program_))) {}

command_line::~command_line() = default;

command_line::option_ref command_line::option(std::string name, std::string& value,
                                              std::string help) {
  return {app_->add_option(std::move(name), value, std::move(help)), value_kind::text};
}

command_line::option_ref command_line::option(std::string name, std::uint16_t& value,
                                              std::string help) {
  return {app_->add_option(std::move(name), value, std::move(help)), value_kind::u16};
}

command_line::option_ref command_line::option(std::string name, unsigned& value,
                                              std::string help) {
  return {app_->add_option(std::move(name), value, std::move(help)), value_kind::u32};
}

command_line::option_ref command_line::option(std::string name, int& value, std::string help) {
  return {app_->add_option(std::move(name), value, std::move(help)), value_kind::i32};
}

command_line::option_ref command_line::option(std::string name, long& value, std::string help) {
  return {app_->add_option(std::move(name), value, std::move(help)), value_kind::i64};
}

command_line::option_ref command_line::option(std::string name, std::uint64_t& value,
                                              std::string help) {
  return {app_->add_option(std::move(name), value, std::move(help)), value_kind::u64};
}

command_line::option_ref command_line::option(std::string name, std::vector<std::string>& values,
                                              std::string help) {
  return {app_->add_option(std::move(name), values, std::move(help)), value_kind::texts};
}

command_line::option_ref command_line::option(std::string name,
                                              std::function<void(const std::string&)> on_value,
                                              std::string help) {
  return {app_->add_option_function<std::string>(std::move(name), std::move(on_value),
                                                 std::move(help)),
          value_kind::callback};
}

command_line::option_ref command_line::flag(std::string name, bool& value, std::string help) {
  return {app_->add_flag(std::move(name), value, std::move(help)), value_kind::flag};
}

void command_line::parse() {
  app_->allow_extras();  // reported below, in the contract's words
  try {
    app_->parse(argc_, argv_);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app_->help());
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    usage_error(program_, e.what());
  }
  const auto extra = app_->remaining();
  if (!extra.empty()) {
    const auto unknown = std::find_if(extra.begin(), extra.end(),
                                      [](const std::string& a) { return a.starts_with('-'); });
    usage_error(program_, unknown != extra.end() ? "unknown option " + *unknown
                                                 : "unexpected argument " + extra.front());
  }
}

}  // namespace examples
