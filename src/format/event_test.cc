#include "format/event.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

Event round_trip(const Event& e) {
  std::string bytes;
  encode_event(e, bytes);
  ByteReader r(bytes);
  auto back = decode_event(r);
  EXPECT_TRUE(back) << (back ? "" : back.error().message);
  EXPECT_TRUE(r.empty());
  return back ? *back : Event{};
}

TEST(Event, ReplayEventsRoundTrip) {
  Event entry;
  entry.type = EventType::kSyscallEntry;
  entry.tid = 7;
  entry.sysno = 202;
  entry.args = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(round_trip(entry), entry);

  Event point;
  point.type = EventType::kPoint;
  point.tid = 8;
  point.reason = PointReason::kSignal;
  point.regs = std::string(216, '\x5a');
  point.stack_hash = 0x1234567890abcdefull;
  point.siginfo = std::string(128, '\x01');
  EXPECT_EQ(round_trip(point), point);

  Event tsc;
  tsc.type = EventType::kRdtsc;
  tsc.tid = 9;
  tsc.value = 0x401000;
  tsc.tsc = 0x19e90d55713full;
  tsc.tsc_aux = 3;
  tsc.rdtscp = true;
  EXPECT_EQ(round_trip(tsc), tsc);

  Event patch;
  patch.type = EventType::kRdtscPatch;
  patch.tid = 9;
  patch.value = 0x401000;
  patch.outputs = {{0x500000, std::string(3072, '\xcc')}, {0x401000, "\xe9\x01\x02\x03\x04\xcc"}};
  EXPECT_EQ(round_trip(patch), patch);

  Event values;
  values.type = EventType::kRdtscValues;
  values.tid = 9;
  values.value = 0x500000;
  values.outputs = {{0x501000, std::string(64, '\x07')}};
  EXPECT_EQ(round_trip(values), values);

  Event cpuid;
  cpuid.type = EventType::kCpuid;
  cpuid.tid = 9;
  cpuid.value = 0x401234;
  cpuid.args = {0xd, 1, 0xf, 0x340, 0, 0};
  EXPECT_EQ(round_trip(cpuid), cpuid);

  Event clocks;
  clocks.type = EventType::kClockPatch;
  clocks.tid = 9;
  clocks.value = 0x7ff000;
  clocks.outputs = {{0x7ff000, std::string(3072, '\xcc')}, {0x7fff0a00, "\xe9\x01\x02\x03\x04"}};
  EXPECT_EQ(round_trip(clocks), clocks);
  clocks.type = EventType::kClockValues;
  clocks.outputs = {{0x800000, std::string(24, '\x01')}};
  EXPECT_EQ(round_trip(clocks), clocks);
}

TEST(Event, HostilePointsFailCleanly) {
  Event point;
  point.type = EventType::kPoint;
  point.regs = std::string(216, 'x');
  std::string bytes;
  encode_event(point, bytes);
  // An unknown reason.
  std::string bad_reason = bytes;
  bad_reason[13] = 9;
  ByteReader r1(bad_reason);
  EXPECT_FALSE(decode_event(r1));
  // A register blob claiming more than the limit.
  std::string huge = bytes;
  huge[22] = '\xff';
  huge[23] = '\xff';
  ByteReader r2(huge);
  auto e = decode_event(r2);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("limit"), std::string::npos);
  // Cut anywhere: an error, never a crash.
  for (size_t n = 0; n < bytes.size(); ++n) {
    ByteReader r(std::string_view(bytes).substr(0, n));
    EXPECT_FALSE(decode_event(r)) << n;
  }
}

}  // namespace
}  // namespace rwd
