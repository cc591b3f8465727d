// GdbConnection: one gdb on a connected socket, at the packet level. It acknowledges
// what it receives and waits for gdb's acknowledgements until no-ack mode is on, and it
// notices the 0x03 interrupt byte while the target runs (poll_interrupt).
//
// Does not own the fd. Used from one thread.
//
//   GdbConnection conn(fd);
//   while (auto packet = conn.read_packet()) {
//     if (!*packet) break;                 // gdb closed the connection
//     auto st = conn.send_packet(answer(**packet));
//   }
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "gdb/gdb_packet.h"

namespace rwd {

class GdbConnection {
 public:
  explicit GdbConnection(int fd) : fd_(fd) {}

  // The next packet's payload; nullopt when gdb closed the connection.
  [[nodiscard]] Result<std::optional<std::string>> read_packet();
  // Sends one packet; in ack mode, waits for '+' and sends again on '-'.
  [[nodiscard]] Status send_packet(std::string_view payload);

  // After the OK to QStartNoAckMode: neither side acknowledges from now on.
  void set_no_ack() { no_ack_ = true; }

  // Forgets an interrupt that arrived while the target was stopped, before a resume.
  void clear_interrupt() { interrupted_ = false; }
  // Without blocking: has gdb sent 0x03 (or gone away) since clear_interrupt()?
  // Other bytes read meanwhile are kept for read_packet().
  bool poll_interrupt();

 private:
  // Reads what the socket has into the parser; false on EOF. Blocks when `wait`.
  [[nodiscard]] Result<bool> fill(bool wait);
  [[nodiscard]] Status write_all(std::string_view bytes);
  void note(InputEvent ev);
  std::optional<InputEvent> next_event();

  int fd_;
  bool no_ack_ = false;
  bool interrupted_ = false;
  bool closed_ = false;
  PacketParser parser_;
  // Events parsed while waiting for something else (an ack, an interrupt).
  std::deque<InputEvent> pending_;
};

}  // namespace rwd
