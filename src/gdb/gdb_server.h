// GdbServer: the GDB remote serial protocol over a DebugTarget, enough for gdb 13 to
// run a whole x86-64 Linux debugging session against a replay: registers (with a
// target description), memory, threads, software and hardware breakpoints,
// watchpoints, stepping and continuing in both directions, Ctrl-C, `monitor`.
//
// All-stop mode only, one process, no multiprocess extensions: thread ids on the wire
// are plain hex tids. A replay cannot be changed, so writes go to the target, which is
// expected to refuse them; gdb then shows an error for that command and goes on.
//
// serve() handles one connection on the calling thread until gdb detaches, kills or
// disconnects; it does not own the fd.
//
//   uint16_t port = 0;
//   auto listener = listen_tcp("127.0.0.1:0", &port);       // port 0: any free port
//   if (!listener) return std::unexpected(listener.error());
//   fmt::print("target remote :{}\n", port);
//   auto conn = accept_connection(listener->get());
//   if (!conn) return std::unexpected(conn.error());
//   GdbServer server(target);
//   return server.serve(conn->get());
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"
#include "gdb/debug_target.h"

namespace rwd {

class GdbConnection;

class GdbServer {
 public:
  explicit GdbServer(DebugTarget& target);

  // Serves one gdb on `connected_fd` (a socket). Ends with ok() when gdb detaches,
  // kills or closes the connection; with an error when the connection breaks.
  [[nodiscard]] Status serve(int connected_fd);

 private:
  // The reply to one packet; nullopt when the packet takes none ('k').
  [[nodiscard]] Result<std::optional<std::string>> handle(std::string_view packet);
  [[nodiscard]] Result<std::string> handle_query(std::string_view packet);
  [[nodiscard]] Result<std::string> handle_v(std::string_view packet);
  [[nodiscard]] Result<std::string> handle_monitor(std::string_view hex_command);
  std::string handle_xfer(std::string_view packet);
  std::string handle_breakpoint(std::string_view packet);
  std::string handle_set_thread(std::string_view packet);
  std::string handle_read_registers();
  std::string handle_write_registers(std::string_view hex);
  std::string handle_read_register(std::string_view packet);
  std::string handle_write_register(std::string_view packet);
  std::string handle_read_memory(std::string_view packet);
  std::string handle_write_memory(std::string_view packet, bool binary);
  [[nodiscard]] Result<std::string> handle_vcont(std::string_view actions);

  // Runs the target and answers with the stop reply (or an error gdb can show).
  [[nodiscard]] Result<std::string> resume(ResumeRequest request);
  std::string stop_reply(const StopReason& stop);
  std::string threads_xml();

  // A thread id from gdb (-1 all, 0 any, else a tid) as a tid to act on.
  uint32_t thread_for(int64_t id);
  uint32_t general_thread() { return thread_for(general_thread_); }
  uint32_t continue_thread() { return thread_for(continue_thread_); }

  DebugTarget& target_;
  GdbConnection* conn_ = nullptr;  // during serve()
  int64_t general_thread_ = 0;     // Hg: registers and memory
  int64_t continue_thread_ = -1;   // Hc: the thread 's' and 'bs' step
  std::optional<StopReason> last_stop_;
  bool done_ = false;
};

// Listens on "HOST:PORT" (":PORT" and "PORT" mean 127.0.0.1; "[::1]:PORT" for IPv6;
// port 0 picks a free port). The port actually bound goes to *bound_port when not null.
[[nodiscard]] Result<UniqueFd> listen_tcp(std::string_view host_port, uint16_t* bound_port);

// Waits for one connection on a listening socket.
[[nodiscard]] Result<UniqueFd> accept_connection(int listen_fd);

}  // namespace rwd
