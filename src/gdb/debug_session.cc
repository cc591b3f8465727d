#include "gdb/debug_session.h"

#include <poll.h>

#include <fmt/format.h>

#include <sstream>

#include "common/files.h"
#include "common/subprocess.h"
#include "gdb/gdb_helpers.h"
#include "gdb/gdb_server.h"
#include "gdb/replay_target.h"
#include "inspect/gdb_launcher.h"
#include "inspect/sysroot.h"
#include "replay/block_child_signal.h"
#include "replay/replay_image.h"

namespace rwd {

namespace {

// The sysroot's file commands (no core: the replay is the target), the rewind
// commands and the connection to the replay.
Result<std::filesystem::path> write_replay_gdbinit(const Sysroot& x, uint16_t port) {
  std::ostringstream out;
  out << "# Written by rewind: debugs the recording's replay, with time travel.\n";
  out << x.gdb_file_commands;
  auto helpers = x.dir / "rewind.py";
  if (auto s = write_file_atomic(helpers, kGdbHelpersPython, 0644); !s) {
    return std::unexpected(s.error());
  }
  out << "source " << helpers.string() << "\n";
  out << "target remote 127.0.0.1:" << port << "\n";
  auto path = x.dir / "replay.gdbinit";
  if (auto s = write_file_atomic(path, out.str(), 0644); !s) {
    return std::unexpected(s.error());
  }
  return path;
}

// The replay target standing at `start`. With *unreachable set, the replay failed on
// its way there (the target then stands at the beginning) and *unreachable says why.
Result<std::unique_ptr<ReplayTarget>> open_target(const RecordingReader& reader,
                                                  ReplayImage& image,
                                                  std::optional<uint64_t> start,
                                                  std::optional<std::string>* unreachable) {
  if (reader.truncation()) {
    fmt::print(stderr, "rewind debug: warning: {}; the replay ends where the file does\n",
               *reader.truncation());
  }
  auto loaded = ReplayImage::load(reader);
  if (!loaded) {
    return std::unexpected(loaded.error());
  }
  image = std::move(*loaded);
  if (auto execs = reader.manifest().find("execs");
      execs != reader.manifest().end() && execs->is_array() && !execs->empty()) {
    // The replay crosses the exec, but the gdb server reports no exec event: gdb keeps
    // the symbols, load addresses and auxv of one program for the whole session.
    fmt::print(stderr,
               "rewind debug: warning: the program called exec during the recording ({} "
               "program{} started by it, see rewind info); gdb is not told of the exec, so "
               "its symbols and breakpoints fit only one of the programs, and reverse "
               "execution across the exec does not stop at breakpoints (see "
               "docs/replay.md, exec and the debugger)\n",
               execs->size(), execs->size() == 1 ? "" : "s");
  }
  auto target = ReplayTarget::open(reader, image);
  if (!target) {
    return target;
  }
  if (auto s = (*target)->start_at(start); !s) {
    *unreachable = s.error().message;
  }
  return target;
}

}  // namespace

Result<int> debug_replay_with_gdb(const RecordingReader& reader,
                                  const std::vector<std::string>& gdb_args,
                                  std::optional<uint64_t> start) {
  if (find_in_path("gdb").empty()) {
    return fail("cannot debug {}: gdb is not installed (apt-get install gdb)",
                reader.path().string());
  }
  auto tmp = TempDir::create("rewind-debug");
  if (!tmp) {
    return std::unexpected(tmp.error());
  }
  auto x = extract_sysroot(reader, tmp->path());
  if (!x) {
    return std::unexpected(x.error());
  }
  for (const auto& w : x->warnings) {
    fmt::print(stderr, "rewind debug: warning: {}\n", w);
  }
  BlockChildSignal blocked;
  ReplayImage image;
  std::optional<std::string> unreachable;
  auto target = open_target(reader, image, start, &unreachable);
  if (!target) {
    // Still worth a debugger: the final state, without time travel.
    fmt::print(stderr,
               "rewind debug: warning: cannot replay {}: {}; opening its final state (a core "
               "file) instead, without time travel\n",
               reader.path().string(), target.error().message);
    return debug_with_gdb(reader, gdb_args);
  }
  if (unreachable && !start) {
    // The end is what the user came for: show it, as the recorded final state.
    fmt::print(stderr,
               "rewind debug: warning: the replay of {} does not reach its end ({}); opening "
               "its final state (a core file) instead. Time travel up to that point: rewind "
               "debug --at start {}\n",
               reader.path().string(), *unreachable, reader.path().string());
    target->reset();
    return debug_with_gdb(reader, gdb_args);
  }
  if (unreachable) {
    fmt::print(stderr,
               "rewind debug: warning: {}; the session starts at the beginning of the "
               "recording instead\n",
               *unreachable);
  }
  uint16_t port = 0;
  auto listener = listen_tcp("127.0.0.1:0", &port);
  if (!listener) {
    return std::unexpected(listener.error());
  }
  auto init = write_replay_gdbinit(*x, port);
  if (!init) {
    return std::unexpected(init.error());
  }
  auto gdb = GdbProcess::start(*init, gdb_args);
  if (!gdb) {
    return std::unexpected(gdb.error());
  }
  // Wait for gdb to connect, unless it exits first (a bad argument, say).
  for (;;) {
    struct pollfd p{listener->get(), POLLIN, 0};
    if (::poll(&p, 1, 200) > 0 || gdb->exited()) {
      break;
    }
  }
  if (!gdb->exited()) {
    auto conn = accept_connection(listener->get());
    Status served = conn ? GdbServer(**target).serve(conn->get())
                         : Status(std::unexpected(conn.error()));
    if (!served) {
      fmt::print(stderr, "rewind debug: the connection to gdb ended: {}\n",
                 served.error().message);
    }
  }
  return gdb->wait();
}

Status serve_replay(const RecordingReader& reader, const std::string& host_port,
                    std::optional<uint64_t> start) {
  BlockChildSignal blocked;
  ReplayImage image;
  std::optional<std::string> unreachable;
  auto target = open_target(reader, image, start, &unreachable);
  if (!target) {
    return std::unexpected(target.error().context("cannot start the replay"));
  }
  if (unreachable) {
    fmt::print(stderr,
               "rewind debug: warning: {}; the session starts at the beginning of the "
               "recording instead\n",
               *unreachable);
  }
  uint16_t port = 0;
  auto listener = listen_tcp(host_port, &port);
  if (!listener) {
    return std::unexpected(listener.error());
  }
  auto colon = host_port.rfind(':');
  std::string host = colon == std::string::npos || colon == 0 ? "127.0.0.1"
                                                              : host_port.substr(0, colon);
  fmt::print("rewind debug: serving the replay of {} ({} events)\n", reader.path().string(),
             (*target)->timeline().total_events());
  fmt::print("connect with: gdb -ex 'target remote {}:{}'  (or an IDE's "
             "miDebuggerServerAddress {}:{})\n",
             host, port, host, port);
  std::fflush(stdout);
  auto conn = accept_connection(listener->get());
  if (!conn) {
    return std::unexpected(conn.error());
  }
  GdbServer server(**target);
  return server.serve(conn->get());
}

}  // namespace rwd
