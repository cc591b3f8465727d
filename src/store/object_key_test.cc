#include "store/object_key.h"

#include <gtest/gtest.h>

#include "common/version.h"

namespace rwd {
namespace {

std::chrono::system_clock::time_point at(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

TEST(ObjectKey, KubernetesLayout) {
  RecordingOrigin o;
  o.namespace_name = "shop";
  o.pod = "cart-7d9";
  o.container = "app";
  o.pid = 1;
  o.reason = "crash";
  o.time = at(2026, 11, 27, 18, 0, 5);
  EXPECT_EQ(recording_key("prod", o), "prod/shop/cart-7d9/app/20261127T180005Z-1-crash.rwd");
  EXPECT_EQ(recording_key("", o), "shop/cart-7d9/app/20261127T180005Z-1-crash.rwd");
}

TEST(ObjectKey, HostLayoutAndSanitizing) {
  RecordingOrigin o;
  o.hostname = "build box";
  o.exe = "../evil/app";
  o.pid = 4242;
  o.reason = "log pattern";
  o.time = at(2026, 1, 2, 3, 4, 5);
  EXPECT_EQ(recording_key("/p/", o), "p/build_box/.._evil_app/20260102T030405Z-4242-log_pattern.rwd");
  EXPECT_EQ(sanitize_key_component(".."), "unknown");
  EXPECT_EQ(sanitize_key_component(""), "unknown");
}

TEST(ObjectKey, NameRoundTrips) {
  auto n = parse_recording_name("p/h/app/20261127T180005Z-4242-log-pattern.rwd");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->pid, 4242);
  EXPECT_EQ(n->reason, "log-pattern");
  EXPECT_EQ(n->time, at(2026, 11, 27, 18, 0, 5));
  EXPECT_FALSE(parse_recording_name("p/notes.txt"));
  EXPECT_FALSE(parse_recording_name("p/20261327T180005Z-1-x.rwd"));
  EXPECT_FALSE(parse_recording_name("p/20261127T180005Z-x-y.rwd"));
  EXPECT_FALSE(parse_recording_name("p/20261127T180005Z-1-.rwd"));
}

TEST(ObjectKey, Metadata) {
  RecordingOrigin o;
  o.hostname = "h1";
  o.reason = "crash";
  auto m = recording_metadata(o, "abc", 42);
  EXPECT_EQ(m["sha256"], "abc");
  EXPECT_EQ(m["size"], "42");
  EXPECT_EQ(m["reason"], "crash");
  EXPECT_EQ(m["node"], "h1");
  EXPECT_EQ(m["rewind-version"], std::string(kVersion));
}

}  // namespace
}  // namespace rwd
