#include "sidecar/control_spec.h"

#include <gtest/gtest.h>

namespace rwd::sidecar {
namespace {

using Annotations = std::map<std::string, std::string>;

TEST(ControlSpec, RecordAcceptsOnOffAndVerbs) {
  for (auto [v, want] : {std::pair{"on", true}, {"ON", true}, {" start ", true}, {"off", false},
                         {"stop", false}, {"Off", false}}) {
    auto r = parse_record_value(v);
    ASSERT_TRUE(r) << v;
    EXPECT_EQ(*r, want) << v;
  }
  auto bad = parse_record_value("yes");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"on\" or \"off\""), std::string::npos);
}

TEST(ControlSpec, AbsentKeysAreDefaults) {
  ControlSpec prev;
  prev.record = true;
  auto p = parse_control_spec({}, "rewind.dev", prev);
  EXPECT_TRUE(p.errors.empty());
  EXPECT_FALSE(p.spec.record);
  EXPECT_EQ(p.spec.rotate.count(), 0);
}

TEST(ControlSpec, InvalidValuesKeepThePreviousOnes) {
  ControlSpec prev;
  prev.record = true;
  prev.rotate = std::chrono::seconds(60);
  prev.keep = 3;
  prev.log_pattern = "panic";
  prev.log_regex = std::make_shared<const std::regex>("panic");
  Annotations a{{"rewind.dev/record", "maybe"},
                {"rewind.dev/rotate", "10 minutes"},
                {"rewind.dev/keep", "-1"},
                {"rewind.dev/record-on-log", "([unclosed"}};
  auto p = parse_control_spec(a, "rewind.dev", prev);
  EXPECT_EQ(p.errors.size(), 4u);
  EXPECT_TRUE(p.spec.record);
  EXPECT_EQ(p.spec.rotate, std::chrono::seconds(60));
  EXPECT_EQ(p.spec.keep, 3);
  EXPECT_EQ(p.spec.log_pattern, "panic");
  ASSERT_TRUE(p.spec.log_regex);
  for (const auto& e : p.errors) {
    EXPECT_FALSE(e.message.empty());
    EXPECT_TRUE(e.key.starts_with("rewind.dev/"));
  }
}

TEST(ControlSpec, OtherPrefix) {
  Annotations a{{"undo.io/record", "start"}, {"rewind.dev/record", "off"}};
  auto p = parse_control_spec(a, "undo.io", {});
  EXPECT_TRUE(p.errors.empty());
  EXPECT_TRUE(p.spec.record);
}

TEST(ControlSpec, ValidTriggers) {
  Annotations a{{"rewind.dev/record-on-log", "FATAL|panic: .*"},
                {"rewind.dev/rotate", "1h30m"},
                {"rewind.dev/keep", "5"}};
  auto p = parse_control_spec(a, "rewind.dev", {});
  ASSERT_TRUE(p.errors.empty());
  EXPECT_EQ(p.spec.rotate, std::chrono::seconds(5400));
  EXPECT_EQ(p.spec.keep, 5);
  ASSERT_TRUE(p.spec.log_regex);
  EXPECT_TRUE(std::regex_search("main: panic: nil map", *p.spec.log_regex));
}

TEST(Duration, Parses) {
  EXPECT_EQ(*parse_duration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(*parse_duration("15m"), std::chrono::seconds(900));
  EXPECT_EQ(*parse_duration("1d"), std::chrono::seconds(86400));
  EXPECT_EQ(*parse_duration("2h30m10s"), std::chrono::seconds(9010));
  for (const char* bad : {"", "10", "h", "5x", "0s", "1.5h", "-1m"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(std::chrono::seconds(9010)), "2h30m10s");
  EXPECT_EQ(format_duration(std::chrono::seconds(86400)), "1d");
}

}  // namespace
}  // namespace rwd::sidecar
