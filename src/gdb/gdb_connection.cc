#include "gdb/gdb_connection.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "common/log.h"

namespace rwd {

Result<bool> GdbConnection::fill(bool wait) {
  if (closed_) {
    return false;
  }
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, wait ? 0 : MSG_DONTWAIT);
    if (n > 0) {
      parser_.feed(std::string_view(buf, static_cast<size_t>(n)));
      return true;
    }
    if (n == 0) {
      closed_ = true;
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    if (!wait && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    }
    return fail_errno(errno, "cannot read from the gdb connection");
  }
}

Status GdbConnection::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: a gdb that went away must end the session, not kill rewind.
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(errno, "cannot write to the gdb connection");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

void GdbConnection::note(InputEvent ev) {
  if (ev.kind == InputEvent::Kind::kInterrupt) {
    interrupted_ = true;
  } else if (ev.kind == InputEvent::Kind::kPacket || ev.kind == InputEvent::Kind::kBadPacket) {
    pending_.push_back(std::move(ev));
  }
  // Acks outside a wait for one are stale (gdb acks our QStartNoAckMode reply late).
}

std::optional<InputEvent> GdbConnection::next_event() {
  if (!pending_.empty()) {
    InputEvent ev = std::move(pending_.front());
    pending_.pop_front();
    return ev;
  }
  return parser_.next();
}

Result<std::optional<std::string>> GdbConnection::read_packet() {
  for (;;) {
    while (auto ev = next_event()) {
      if (ev->kind == InputEvent::Kind::kPacket) {
        if (!no_ack_) {
          if (auto st = write_all("+"); !st) {
            return std::unexpected(st.error());
          }
        }
        spdlog::debug("gdb -> {}", ev->payload.substr(0, 200));
        return std::optional<std::string>(std::move(ev->payload));
      }
      if (ev->kind == InputEvent::Kind::kBadPacket) {
        spdlog::debug("gdb sent a packet with a wrong checksum");
        if (!no_ack_) {
          if (auto st = write_all("-"); !st) {
            return std::unexpected(st.error());
          }
        }
      }
      // A 0x03 while the target is stopped has nothing to interrupt; acks are stale.
    }
    auto more = fill(true);
    if (!more) {
      return std::unexpected(more.error());
    }
    if (!*more) {
      return std::optional<std::string>();
    }
  }
}

Status GdbConnection::send_packet(std::string_view payload) {
  spdlog::debug("gdb <- {}", payload.substr(0, 200));
  std::string wire = frame_packet(payload);
  if (auto st = write_all(wire); !st) {
    return st;
  }
  if (no_ack_) {
    return ok();
  }
  for (;;) {
    while (auto ev = parser_.next()) {
      if (ev->kind == InputEvent::Kind::kAck) {
        return ok();
      }
      if (ev->kind == InputEvent::Kind::kNack) {
        if (auto st = write_all(wire); !st) {
          return st;
        }
        continue;
      }
      note(std::move(*ev));
    }
    auto more = fill(true);
    if (!more) {
      return std::unexpected(more.error());
    }
    if (!*more) {
      return fail("gdb closed the connection while rewind was sending a reply");
    }
  }
}

bool GdbConnection::poll_interrupt() {
  if (interrupted_ || closed_) {
    return true;
  }
  auto more = fill(false);
  if (!more || !*more) {
    // A connection that broke or closed has no one left to watch the run: stop it.
    return true;
  }
  while (auto ev = parser_.next()) {
    note(std::move(*ev));
  }
  return interrupted_;
}

}  // namespace rwd
