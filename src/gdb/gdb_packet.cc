#include "gdb/gdb_packet.h"

#include <fmt/format.h>

namespace rwd {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

bool needs_escape(char c) { return c == '#' || c == '$' || c == '}' || c == '*'; }

}  // namespace

uint8_t packet_checksum(std::string_view payload) {
  uint8_t sum = 0;
  for (char c : payload) {
    sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  }
  return sum;
}

std::string frame_packet(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  out += '$';
  out += payload;
  out += '#';
  uint8_t sum = packet_checksum(payload);
  out += kHexDigits[sum >> 4];
  out += kHexDigits[sum & 0xf];
  return out;
}

std::string escape_binary(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (needs_escape(c)) {
      out += '}';
      out += static_cast<char>(c ^ 0x20);
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> unescape_binary(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '}') {
      if (i + 1 == escaped.size()) {
        return std::nullopt;
      }
      out += static_cast<char>(escaped[++i] ^ 0x20);
    } else {
      out += escaped[i];
    }
  }
  return out;
}

std::string hex_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<uint8_t>(c);
    out += kHexDigits[b >> 4];
    out += kHexDigits[b & 0xf];
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]);
    int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

std::optional<uint64_t> parse_hex_u64(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (char c : hex) {
    int v = hex_value(c);
    if (v < 0) {
      return std::nullopt;
    }
    value = value << 4 | static_cast<uint64_t>(v);
  }
  return value;
}

void PacketParser::feed(std::string_view bytes) {
  // Drop what was consumed before growing, so a long session keeps a small buffer.
  if (pos_ > 0) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_ += bytes;
}

std::optional<InputEvent> PacketParser::next() {
  while (pos_ < buffer_.size()) {
    char c = buffer_[pos_];
    if (c == '+' || c == '-' || c == kInterruptByte) {
      ++pos_;
      InputEvent ev;
      ev.kind = c == '+'   ? InputEvent::Kind::kAck
                : c == '-' ? InputEvent::Kind::kNack
                           : InputEvent::Kind::kInterrupt;
      return ev;
    }
    if (c != '$') {
      ++pos_;  // noise between packets
      continue;
    }
    size_t hash = buffer_.find('#', pos_ + 1);
    if (hash == std::string::npos || hash + 2 >= buffer_.size()) {
      return std::nullopt;  // packet not complete yet
    }
    std::string_view payload(buffer_.data() + pos_ + 1, hash - pos_ - 1);
    auto sent_sum = parse_hex_u64(std::string_view(buffer_.data() + hash + 1, 2));
    InputEvent ev;
    ev.kind = sent_sum && *sent_sum == packet_checksum(payload) ? InputEvent::Kind::kPacket
                                                                : InputEvent::Kind::kBadPacket;
    ev.payload = std::string(payload);
    pos_ = hash + 3;
    return ev;
  }
  return std::nullopt;
}

}  // namespace rwd
