#include "gdb/gdb_packet.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

TEST(GdbPacketTest, ChecksumIsTheByteSumModulo256) {
  EXPECT_EQ(packet_checksum(""), 0);
  EXPECT_EQ(packet_checksum("OK"), 0x9a);
  EXPECT_EQ(packet_checksum(std::string(2, '\xff')), 0xfe);
}

TEST(GdbPacketTest, FramesWithLowerCaseChecksum) {
  EXPECT_EQ(frame_packet("OK"), "$OK#9a");
  EXPECT_EQ(frame_packet(""), "$#00");
  EXPECT_EQ(frame_packet("qSupported"), "$qSupported#37");
}

TEST(GdbPacketTest, EscapesTheFourSpecialBytes) {
  std::string raw = std::string("a#b$c}d*e") + '\0';
  std::string escaped = escape_binary(raw);
  EXPECT_EQ(escaped, std::string("a}\x03" "b}\x04" "c}]d}\x0a" "e") + '\0');
  EXPECT_EQ(unescape_binary(escaped), raw);
}

TEST(GdbPacketTest, UnescapeRejectsATrailingEscape) {
  EXPECT_FALSE(unescape_binary("ab}").has_value());
  EXPECT_EQ(unescape_binary("}]"), "}");
}

TEST(GdbPacketTest, HexRoundTrip) {
  std::string bytes("\x00\x7f\x80\xff", 4);
  EXPECT_EQ(hex_encode(bytes), "007f80ff");
  EXPECT_EQ(hex_decode("007F80ff"), bytes);
  EXPECT_FALSE(hex_decode("abc").has_value());
  EXPECT_FALSE(hex_decode("zz").has_value());
}

TEST(GdbPacketTest, ParsesHexNumbers) {
  EXPECT_EQ(parse_hex_u64("0"), 0u);
  EXPECT_EQ(parse_hex_u64("7fffffffe000"), 0x7fffffffe000u);
  EXPECT_EQ(parse_hex_u64("ffffffffffffffff"), UINT64_MAX);
  EXPECT_FALSE(parse_hex_u64("").has_value());
  EXPECT_FALSE(parse_hex_u64("10000000000000000").has_value());
  EXPECT_FALSE(parse_hex_u64("12g").has_value());
}

TEST(GdbPacketTest, ParserSplitsAcksPacketsAndInterrupts) {
  PacketParser p;
  p.feed("+$OK#9a\x03-");
  auto a = p.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, InputEvent::Kind::kAck);
  auto b = p.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->kind, InputEvent::Kind::kPacket);
  EXPECT_EQ(b->payload, "OK");
  auto c = p.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, InputEvent::Kind::kInterrupt);
  auto d = p.next();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, InputEvent::Kind::kNack);
  EXPECT_FALSE(p.next());
}

TEST(GdbPacketTest, ParserWaitsForTheWholePacket) {
  PacketParser p;
  std::string wire = frame_packet("m401000,4");
  for (size_t i = 0; i + 1 < wire.size(); ++i) {
    p.feed(wire.substr(i, 1));
    EXPECT_FALSE(p.next()) << "after " << i + 1 << " bytes";
  }
  p.feed(wire.substr(wire.size() - 1));
  auto ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, InputEvent::Kind::kPacket);
  EXPECT_EQ(ev->payload, "m401000,4");
}

TEST(GdbPacketTest, ParserFlagsABadChecksum) {
  PacketParser p;
  p.feed("$OK#00$OK#9A");
  auto bad = p.next();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->kind, InputEvent::Kind::kBadPacket);
  auto good = p.next();  // upper-case checksum digits are accepted
  ASSERT_TRUE(good);
  EXPECT_EQ(good->kind, InputEvent::Kind::kPacket);
}

TEST(GdbPacketTest, ParserKeepsEscapedBinaryIntact) {
  // An X packet carrying '#': the framing must not end at the escaped byte.
  std::string payload = "X1000,1:" + escape_binary("#");
  PacketParser p;
  p.feed(frame_packet(payload));
  auto ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, InputEvent::Kind::kPacket);
  EXPECT_EQ(ev->payload, payload);
}

TEST(GdbPacketTest, ParserDropsNoiseBetweenPackets) {
  PacketParser p;
  p.feed("garbage$g#67");
  auto ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->payload, "g");
}

}  // namespace
}  // namespace rwd
