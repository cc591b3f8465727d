// The GDB remote serial protocol's byte level: hex, checksums, framing of
// `$payload#xx` packets, binary escaping, and an incremental parser that splits what
// gdb sends into packets, acknowledgements and the 0x03 interrupt byte.
//
// Everything here is pure (no I/O) so the framing rules are testable on their own;
// gdb_connection.h puts them on a socket.
//
//   PacketParser parser;
//   parser.feed("+$qSupported:swbreak+#ab\x03");
//   while (auto ev = parser.next()) {
//     if (ev->kind == InputEvent::Kind::kPacket) handle(ev->payload);
//   }
//   std::string wire = frame_packet("OK");   // "$OK#9a"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rwd {

// The interrupt gdb sends outside any packet when the user presses Ctrl-C.
inline constexpr char kInterruptByte = '\x03';

// Modulo-256 sum of the payload bytes, as the protocol defines it.
uint8_t packet_checksum(std::string_view payload);

// "$" payload "#" two lower-case hex digits. The payload must already be escaped
// where it carries binary data (escape_binary).
std::string frame_packet(std::string_view payload);

// Binary data inside packets: '#', '$', '}' and '*' (gdb reads '*' as run-length
// encoding in replies) become '}' followed by the byte XOR 0x20.
std::string escape_binary(std::string_view bytes);
// The inverse; nullopt when the data ends inside an escape.
std::optional<std::string> unescape_binary(std::string_view escaped);

// Two lower-case hex digits per byte.
std::string hex_encode(std::string_view bytes);
// nullopt on an odd length or a non-hex digit.
std::optional<std::string> hex_decode(std::string_view hex);
// A whole string of hex digits (at most 16) as a number; nullopt otherwise.
std::optional<uint64_t> parse_hex_u64(std::string_view hex);

struct InputEvent {
  enum class Kind {
    kPacket,     // a packet with a correct checksum; `payload` holds its contents
    kBadPacket,  // a packet whose checksum did not match (answer '-' in ack mode)
    kInterrupt,  // the 0x03 byte
    kAck,        // '+'
    kNack,       // '-': the last packet sent must be sent again
  };
  Kind kind = Kind::kPacket;
  std::string payload;
};

// Splits a byte stream from gdb into events. Bytes that belong to no event (line
// noise between packets) are dropped, as gdb's own stubs do.
class PacketParser {
 public:
  void feed(std::string_view bytes);
  // The next complete event, or nullopt until more bytes are fed.
  std::optional<InputEvent> next();

 private:
  std::string buffer_;
  size_t pos_ = 0;  // start of the unparsed bytes in buffer_
};

}  // namespace rwd
