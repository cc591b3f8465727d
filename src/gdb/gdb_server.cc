#include "gdb/gdb_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "common/xml_escape.h"
#include "common/log.h"
#include "gdb/amd64_registers.h"
#include "gdb/gdb_connection.h"
#include "gdb/gdb_packet.h"
#include "gdb/gdb_signals.h"

namespace rwd {

namespace {

// Largest packet gdb may send us and the size our replies stay under (hex digits of a
// memory read count twice). 128 KiB makes big `x` and `dump` reads cheap.
constexpr size_t kPacketSize = 0x20000;
constexpr size_t kMaxMemoryRead = kPacketSize / 2 - 16;
// Text per O packet of `monitor` output; gdb prints them as they come.
constexpr size_t kConsoleChunk = 1024;

constexpr std::string_view kError = "E01";

// "-1", "0", a hex tid, or "pPID.TID" (the multiprocess form, in case gdb uses it).
std::optional<int64_t> parse_thread_id(std::string_view s) {
  if (s.starts_with("p")) {
    size_t dot = s.find('.');
    if (dot == std::string_view::npos) {
      return -1;  // "pPID": all threads of the process
    }
    s = s.substr(dot + 1);
  }
  if (s == "-1") {
    return -1;
  }
  auto v = parse_hex_u64(s);
  if (!v || *v > UINT32_MAX) {
    return std::nullopt;
  }
  return static_cast<int64_t>(*v);
}

// "ADDR,LEN" with both in hex.
std::optional<std::pair<uint64_t, uint64_t>> parse_addr_len(std::string_view s) {
  size_t comma = s.find(',');
  if (comma == std::string_view::npos) {
    return std::nullopt;
  }
  auto addr = parse_hex_u64(s.substr(0, comma));
  auto len = parse_hex_u64(s.substr(comma + 1));
  if (!addr || !len) {
    return std::nullopt;
  }
  return std::pair{*addr, *len};
}

// One window of a qXfer object: 'm' when more follows, 'l' for the last part.
std::string xfer_window(std::string_view doc, std::string_view offset_len) {
  auto range = parse_addr_len(offset_len);
  if (!range) {
    return std::string(kError);
  }
  auto [offset, len] = *range;
  if (offset >= doc.size()) {
    return "l";
  }
  std::string_view part = doc.substr(offset, std::min<uint64_t>(len, doc.size() - offset));
  bool last = offset + part.size() >= doc.size();
  return (last ? "l" : "m") + escape_binary(part);
}

std::optional<BreakpointType> breakpoint_type(char c) {
  switch (c) {
    case '0':
      return BreakpointType::kSoftware;
    case '1':
      return BreakpointType::kHardware;
    case '2':
      return BreakpointType::kWriteWatch;
    case '3':
      return BreakpointType::kReadWatch;
    case '4':
      return BreakpointType::kAccessWatch;
    default:
      return std::nullopt;
  }
}

std::string_view watch_key(WatchKind kind) {
  switch (kind) {
    case WatchKind::kWrite:
      return "watch";
    case WatchKind::kRead:
      return "rwatch";
    case WatchKind::kAccess:
      return "awatch";
  }
  return "watch";
}

}  // namespace

GdbServer::GdbServer(DebugTarget& target) : target_(target) {}

uint32_t GdbServer::thread_for(int64_t id) {
  if (id <= 0) {
    return target_.current_thread();
  }
  return static_cast<uint32_t>(id);
}

Status GdbServer::serve(int connected_fd) {
  GdbConnection conn(connected_fd);
  conn_ = &conn;
  done_ = false;
  general_thread_ = 0;
  continue_thread_ = -1;
  Status result = ok();
  while (!done_) {
    auto packet = conn.read_packet();
    if (!packet) {
      result = std::unexpected(packet.error());
      break;
    }
    if (!*packet) {
      spdlog::info("gdb closed the connection");
      break;
    }
    if (**packet == "QStartNoAckMode") {
      // gdb still acknowledges this OK; from then on neither side does.
      result = conn.send_packet("OK");
      conn.set_no_ack();
      if (!result) {
        break;
      }
      continue;
    }
    auto reply = handle(**packet);
    if (!reply) {
      result = std::unexpected(reply.error());
      break;
    }
    if (*reply) {
      if (auto st = conn.send_packet(**reply); !st) {
        result = st;
        break;
      }
    }
  }
  conn_ = nullptr;
  return result;
}

Result<std::optional<std::string>> GdbServer::handle(std::string_view packet) {
  if (packet.empty()) {
    return std::string();
  }
  std::string_view args = packet.substr(1);
  switch (packet[0]) {
    case '?':
      if (!last_stop_) {
        last_stop_ = target_.initial_stop();
      }
      return stop_reply(*last_stop_);
    case 'g':
      return handle_read_registers();
    case 'G':
      return handle_write_registers(args);
    case 'p':
      return handle_read_register(args);
    case 'P':
      return handle_write_register(args);
    case 'm':
      return handle_read_memory(args);
    case 'M':
      return handle_write_memory(args, false);
    case 'X':
      return handle_write_memory(args, true);
    case 'Z':
    case 'z':
      return handle_breakpoint(packet);
    case 'H':
      return handle_set_thread(args);
    case 'T': {
      auto id = parse_thread_id(args);
      if (!id || *id <= 0) {
        return std::string(kError);
      }
      for (const ThreadInfo& t : target_.threads()) {
        if (t.tid == static_cast<uint32_t>(*id)) {
          return std::string("OK");
        }
      }
      return std::string(kError);
    }
    case 'c':
    case 'C':
    case 's':
    case 'S': {
      // C/S carry a signal for the thread; a replay delivers exactly the recorded
      // signals, so the one gdb names is ignored. A resume address is not replayable.
      bool has_signal = packet[0] == 'C' || packet[0] == 'S';
      std::string_view rest = args;
      if (has_signal) {
        size_t semi = rest.find(';');
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      }
      if (!rest.empty()) {
        spdlog::warn("gdb asked to resume at address {}; a replay can only go on from where "
                     "it is",
                     rest);
        return std::string(kError);
      }
      ResumeRequest req;
      req.step = packet[0] == 's' || packet[0] == 'S';
      req.tid = continue_thread();
      return resume(req);
    }
    case 'b':
      if (args == "c" || args == "s") {
        ResumeRequest req;
        req.backward = true;
        req.step = args == "s";
        req.tid = continue_thread();
        return resume(req);
      }
      return std::string();
    case 'k':
      // No reply: gdb closes the connection after 'k'.
      done_ = true;
      return std::optional<std::string>();
    case 'D':
      done_ = true;
      return std::string("OK");
    case 'q':
      return handle_query(packet);
    case 'v':
      return handle_v(packet);
    default:
      return std::string();
  }
}

Result<std::string> GdbServer::handle_query(std::string_view packet) {
  if (packet.starts_with("qSupported")) {
    return fmt::format(
        "PacketSize={:x};QStartNoAckMode+;qXfer:features:read+;qXfer:auxv:read+;"
        "qXfer:exec-file:read+;qXfer:threads:read+;ReverseContinue+;ReverseStep+;"
        "swbreak+;hwbreak+;vContSupported+;multiprocess-",
        kPacketSize);
  }
  if (packet.starts_with("qXfer:")) {
    return handle_xfer(packet);
  }
  if (packet == "qAttached" || packet.starts_with("qAttached:")) {
    // "Attached": gdb detaches rather than kills when the user quits, which leaves a
    // replay that could serve another gdb.
    return std::string("1");
  }
  if (packet == "qC") {
    return fmt::format("QC{:x}", target_.current_thread());
  }
  if (packet == "qfThreadInfo") {
    std::string reply = "m";
    for (const ThreadInfo& t : target_.threads()) {
      if (reply.size() > 1) {
        reply += ',';
      }
      reply += fmt::format("{:x}", t.tid);
    }
    return reply.size() > 1 ? reply : std::string("l");
  }
  if (packet == "qsThreadInfo") {
    return std::string("l");
  }
  if (packet.starts_with("qThreadExtraInfo,")) {
    auto id = parse_thread_id(packet.substr(17));
    for (const ThreadInfo& t : target_.threads()) {
      if (id && t.tid == static_cast<uint32_t>(*id)) {
        return hex_encode(t.state);
      }
    }
    return std::string(kError);
  }
  if (packet.starts_with("qRcmd,")) {
    return handle_monitor(packet.substr(6));
  }
  if (packet.starts_with("qSymbol")) {
    return std::string("OK");  // rewind needs no symbol from gdb
  }
  // qTStatus (no tracepoints), qOffsets (gdb uses the ELF addresses) and anything else:
  // empty means "not supported".
  return std::string();
}

std::string GdbServer::handle_xfer(std::string_view packet) {
  // qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH
  std::string_view rest = packet.substr(6);
  auto take = [&rest]() {
    size_t colon = rest.find(':');
    std::string_view part = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    return part;
  };
  std::string_view object = take();
  std::string_view op = take();
  std::string_view annex = take();
  if (op != "read") {
    return std::string();
  }
  if (object == "features") {
    if (annex != "target.xml") {
      return "E00";
    }
    return xfer_window(amd64_target_xml(), rest);
  }
  if (object == "auxv") {
    return xfer_window(target_.auxv(), rest);
  }
  if (object == "exec-file") {
    // An error, not an empty path: gdb would try to open "" and warn about it.
    std::string path = target_.exec_file();
    return path.empty() ? std::string("E00") : xfer_window(path, rest);
  }
  if (object == "threads") {
    return xfer_window(threads_xml(), rest);
  }
  return std::string();
}

std::string GdbServer::threads_xml() {
  std::string xml = "<?xml version=\"1.0\"?>\n<threads>\n";
  for (const ThreadInfo& t : target_.threads()) {
    xml += fmt::format("  <thread id=\"{:x}\"", t.tid);
    if (!t.name.empty()) {
      xml += fmt::format(" name=\"{}\"", xml_escape(t.name));
    }
    // The element's text is what `info threads` shows after the thread's name.
    xml += fmt::format(">{}</thread>\n", xml_escape(t.state));
  }
  xml += "</threads>\n";
  return xml;
}

Result<std::string> GdbServer::handle_monitor(std::string_view hex_command) {
  auto command = hex_decode(hex_command);
  if (!command) {
    return std::string(kError);
  }
  auto output = target_.monitor(*command);
  std::string_view text;
  std::string error_text;
  if (output) {
    text = *output;
  } else {
    error_text = output.error().message + "\n";
    text = error_text;
  }
  while (!text.empty()) {
    std::string_view chunk = text.substr(0, kConsoleChunk);
    text.remove_prefix(chunk.size());
    if (auto st = conn_->send_packet("O" + hex_encode(chunk)); !st) {
      return std::unexpected(st.error());
    }
  }
  return output ? std::string("OK") : std::string(kError);
}

Result<std::string> GdbServer::handle_v(std::string_view packet) {
  if (packet == "vCont?") {
    return std::string("vCont;c;C;s;S");
  }
  if (packet.starts_with("vCont;")) {
    return handle_vcont(packet.substr(6));
  }
  if (packet == "vKill" || packet.starts_with("vKill;")) {
    done_ = true;
    return std::string("OK");
  }
  // vMustReplyEmpty, vFile (gdb then reads files from its own file system), vRun...
  return std::string();
}

Result<std::string> GdbServer::handle_vcont(std::string_view actions) {
  // All-stop: at most one thread steps and the rest continue ("vCont;s:TID;c"), or
  // everything continues. A step action without a thread steps the current thread.
  std::optional<uint32_t> step_thread;
  bool any_continue = false;
  while (!actions.empty()) {
    size_t semi = actions.find(';');
    std::string_view action = actions.substr(0, semi);
    actions = semi == std::string_view::npos ? std::string_view() : actions.substr(semi + 1);
    std::string_view thread;
    if (size_t colon = action.find(':'); colon != std::string_view::npos) {
      thread = action.substr(colon + 1);
      action = action.substr(0, colon);
    }
    if (action.empty()) {
      return std::string(kError);
    }
    // C and S name a signal to deliver; a replay delivers the recorded ones only.
    char kind = action[0];
    if (kind == 's' || kind == 'S') {
      int64_t id = 0;
      if (!thread.empty()) {
        auto parsed = parse_thread_id(thread);
        if (!parsed) {
          return std::string(kError);
        }
        id = *parsed;
      }
      if (!step_thread) {
        step_thread = thread_for(id);
      }
    } else if (kind == 'c' || kind == 'C') {
      any_continue = true;
    } else {
      spdlog::warn("gdb sent vCont action '{}', which rewind does not support", action);
      return std::string(kError);
    }
  }
  ResumeRequest req;
  if (step_thread) {
    req.step = true;
    req.tid = *step_thread;
  } else if (any_continue) {
    req.tid = continue_thread();
  } else {
    return std::string(kError);
  }
  return resume(req);
}

Result<std::string> GdbServer::resume(ResumeRequest request) {
  conn_->clear_interrupt();
  auto stop = target_.resume(request, [this] { return conn_->poll_interrupt(); });
  if (!stop) {
    // gdb prints O packets while waiting for a stop, then takes E01 as a stop without
    // a signal: the user sees why and can still look around.
    spdlog::warn("resume failed: {}", stop.error().message);
    if (auto st = conn_->send_packet("O" + hex_encode("rewind: " + stop.error().message + "\n"));
        !st) {
      return std::unexpected(st.error());
    }
    return std::string(kError);
  }
  if (stop->tid == 0) {
    stop->tid = target_.current_thread();
  }
  last_stop_ = *stop;
  // gdb switches to the thread that stopped; later 'g's and 's's default to it.
  general_thread_ = 0;
  return stop_reply(*stop);
}

std::string GdbServer::stop_reply(const StopReason& stop) {
  switch (stop.kind) {
    case StopKind::kExited:
      return fmt::format("W{:02x}", stop.exit_code & 0xff);
    case StopKind::kKilled:
      return fmt::format("X{:02x}", gdb_signal_from_linux(stop.signo));
    case StopKind::kSignal:
    case StopKind::kHistoryBegin:
    case StopKind::kHistoryEnd:
      break;
  }
  uint32_t tid = stop.tid != 0 ? stop.tid : target_.current_thread();
  int signo = stop.kind == StopKind::kSignal ? gdb_signal_from_linux(stop.signo)
                                             : gdb_signal_from_linux(SIGTRAP);
  std::string reply = fmt::format("T{:02x}thread:{:x};", signo, tid);
  // The registers gdb reads first at every stop, sent along to save round trips.
  if (auto regs = target_.registers(tid)) {
    for (size_t regnum : {kAmd64Rbp, kAmd64Rsp, kAmd64Rip}) {
      reply += fmt::format("{:02x}:{};", regnum, hex_encode(*encode_register(*regs, regnum)));
    }
  }
  if (stop.kind == StopKind::kHistoryBegin) {
    reply += "replaylog:begin;";
  } else if (stop.kind == StopKind::kHistoryEnd) {
    reply += "replaylog:end;";
  } else if (stop.watch_addr) {
    reply += fmt::format("{}:{:x};", watch_key(stop.watch_kind), *stop.watch_addr);
  } else if (stop.software_breakpoint) {
    reply += "swbreak:;";
  } else if (stop.hardware_breakpoint) {
    reply += "hwbreak:;";
  }
  return reply;
}

std::string GdbServer::handle_set_thread(std::string_view args) {
  if (args.empty()) {
    return std::string(kError);
  }
  auto id = parse_thread_id(args.substr(1));
  if (!id) {
    return std::string(kError);
  }
  if (args[0] == 'g') {
    general_thread_ = *id;
  } else if (args[0] == 'c') {
    continue_thread_ = *id;
  } else {
    return std::string(kError);
  }
  return std::string("OK");
}

std::string GdbServer::handle_read_registers() {
  uint32_t tid = general_thread();
  auto regs = target_.registers(tid);
  if (!regs) {
    spdlog::warn("cannot read the registers of thread {}: {}", tid, regs.error().message);
    return std::string(kError);
  }
  return encode_g_packet(*regs);
}

std::string GdbServer::handle_write_registers(std::string_view hex) {
  uint32_t tid = general_thread();
  auto regs = target_.registers(tid);
  if (!regs) {
    spdlog::warn("cannot read the registers of thread {}: {}", tid, regs.error().message);
    return std::string(kError);
  }
  auto updated = decode_g_packet(hex, *regs);
  if (!updated) {
    return std::string(kError);
  }
  if (auto st = target_.write_registers(tid, *updated); !st) {
    // gdb 13 shows only its own message for a failed G; the reason goes to the log.
    spdlog::warn("cannot write the registers of thread {}: {}", tid, st.error().message);
    return std::string(kError);
  }
  return std::string("OK");
}

std::string GdbServer::handle_read_register(std::string_view args) {
  auto regnum = parse_hex_u64(args);
  uint32_t tid = general_thread();
  if (!regnum) {
    return std::string(kError);
  }
  auto regs = target_.registers(tid);
  if (!regs) {
    spdlog::warn("cannot read the registers of thread {}: {}", tid, regs.error().message);
    return std::string(kError);
  }
  auto raw = encode_register(*regs, *regnum);
  if (!raw) {
    return std::string(kError);
  }
  return hex_encode(*raw);
}

std::string GdbServer::handle_write_register(std::string_view args) {
  // P<regnum>=<value>
  size_t eq = args.find('=');
  if (eq == std::string_view::npos) {
    return std::string(kError);
  }
  auto regnum = parse_hex_u64(args.substr(0, eq));
  auto raw = hex_decode(args.substr(eq + 1));
  uint32_t tid = general_thread();
  if (!regnum || !raw) {
    return std::string(kError);
  }
  auto regs = target_.registers(tid);
  if (!regs) {
    spdlog::warn("cannot read the registers of thread {}: {}", tid, regs.error().message);
    return std::string(kError);
  }
  if (!decode_register(*regs, *regnum, *raw)) {
    return std::string(kError);
  }
  if (auto st = target_.write_registers(tid, *regs); !st) {
    spdlog::warn("cannot write register {} of thread {}: {}", *regnum, tid, st.error().message);
    return std::string(kError);
  }
  return std::string("OK");
}

std::string GdbServer::handle_read_memory(std::string_view args) {
  auto range = parse_addr_len(args);
  if (!range) {
    return std::string(kError);
  }
  auto [addr, len] = *range;
  auto bytes = target_.read_memory(addr, std::min<uint64_t>(len, kMaxMemoryRead));
  if (!bytes) {
    spdlog::debug("cannot read memory at {:#x}: {}", addr, bytes.error().message);
    return std::string(kError);
  }
  if (bytes->empty() && len > 0) {
    return std::string(kError);
  }
  return hex_encode(*bytes);
}

std::string GdbServer::handle_write_memory(std::string_view args, bool binary) {
  // M<addr>,<len>:<hex>   X<addr>,<len>:<escaped binary>
  size_t colon = args.find(':');
  if (colon == std::string_view::npos) {
    return std::string(kError);
  }
  auto range = parse_addr_len(args.substr(0, colon));
  if (!range) {
    return std::string(kError);
  }
  auto [addr, len] = *range;
  std::string_view data = args.substr(colon + 1);
  auto bytes = binary ? unescape_binary(data) : hex_decode(data);
  if (!bytes || bytes->size() != len) {
    return std::string(kError);
  }
  if (len == 0) {
    return std::string("OK");  // gdb probes whether X works with an empty write
  }
  if (auto st = target_.write_memory(addr, *bytes); !st) {
    spdlog::warn("cannot write {} bytes at {:#x}: {}", len, addr, st.error().message);
    return std::string(kError);
  }
  return std::string("OK");
}

std::string GdbServer::handle_breakpoint(std::string_view packet) {
  // Z<type>,<addr>,<kind>[;cond...]: kind is the breakpoint's size or the watched length.
  bool insert = packet[0] == 'Z';
  if (packet.size() < 3 || packet[2] != ',') {
    return std::string(kError);
  }
  auto type = breakpoint_type(packet[1]);
  if (!type) {
    return std::string();
  }
  std::string_view rest = packet.substr(3);
  rest = rest.substr(0, rest.find(';'));
  auto range = parse_addr_len(rest);
  if (!range) {
    return std::string(kError);
  }
  auto [addr, len] = *range;
  Status st = insert ? target_.insert_breakpoint(*type, addr, len)
                     : target_.remove_breakpoint(*type, addr, len);
  if (!st) {
    spdlog::warn("cannot {} breakpoint at {:#x}: {}", insert ? "insert" : "remove", addr,
                 st.error().message);
    return std::string(kError);
  }
  return std::string("OK");
}

Result<UniqueFd> listen_tcp(std::string_view host_port, uint16_t* bound_port) {
  std::string_view host = "127.0.0.1";
  std::string_view port_text = host_port;
  if (size_t colon = host_port.rfind(':'); colon != std::string_view::npos) {
    port_text = host_port.substr(colon + 1);
    if (colon > 0) {
      host = host_port.substr(0, colon);
    }
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return fail("cannot listen on '{}': the port is not a number from 0 to 65535 (pass "
                "HOST:PORT, e.g. 127.0.0.1:2345)",
                host_port);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string host_str(host);
  std::string port_str = std::to_string(port);
  if (int rc = ::getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &found); rc != 0) {
    return fail("cannot listen on '{}': cannot resolve '{}': {}", host_port, host,
                gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  int last_errno = 0;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) {
      last_errno = errno;
      continue;
    }
    // A restarted rewind must be able to take the port back while old connections of
    // the previous one linger in TIME_WAIT.
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 1) != 0) {
      last_errno = errno;
      continue;
    }
    if (bound_port != nullptr) {
      sockaddr_storage addr{};
      socklen_t addr_len = sizeof addr;
      if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
        return fail_errno(errno, "cannot read the port bound for '{}'", host_port);
      }
      *bound_port = addr.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    }
    return fd;
  }
  return fail_errno(last_errno, "cannot listen on '{}' (is the port in use? pass another, or "
                    "port 0 for any free one)",
                    host_port);
}

Result<UniqueFd> accept_connection(int listen_fd) {
  for (;;) {
    UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(errno, "cannot accept a gdb connection");
    }
    // Every packet is a small request waiting for its answer: Nagle would add delay
    // to each round trip.
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
}

}  // namespace rwd
