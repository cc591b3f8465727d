#include "inspect/recording_summary.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "common/files.h"
#include "common/log.h"
#include "common/subprocess.h"
#include "inspect/backtrace.h"
#include "inspect/crash_evidence.h"
#include "inspect/sysroot.h"
#include "inspect/value_names.h"
#include "tracee/signals.h"
#include "tracee/syscall_table.h"

namespace rwd {

namespace {

using nlohmann::json;

// manifest[key] when it has the wanted JSON type, else null.
json pick(const json& obj, const char* key, json::value_t type) {
  if (!obj.is_object()) {
    return nullptr;
  }
  auto it = obj.find(key);
  if (it == obj.end()) {
    return nullptr;
  }
  bool ok = it->type() == type ||
            (type == json::value_t::number_integer && it->is_number_integer()) ||
            (type == json::value_t::number_unsigned && it->is_number_unsigned());
  return ok ? *it : json(nullptr);
}

json pick_string(const json& o, const char* k) { return pick(o, k, json::value_t::string); }
json pick_int(const json& o, const char* k) { return pick(o, k, json::value_t::number_integer); }

json string_array(const json& o, const char* k) {
  json out = json::array();
  json a = pick(o, k, json::value_t::array);
  if (a.is_array()) {
    for (const auto& v : a) {
      if (v.is_string()) {
        out.push_back(v);
      }
    }
  }
  return out;
}

json int_array(const json& o, const char* k) {
  json out = json::array();
  json a = pick(o, k, json::value_t::array);
  if (a.is_array()) {
    for (const auto& v : a) {
      if (v.is_number_integer()) {
        out.push_back(v);
      }
    }
  }
  return out;
}

// {name: count} with integer counts, in file order.
json counts(const json& o, const char* k) {
  json out = json::object();
  json m = pick(o, k, json::value_t::object);
  if (m.is_object()) {
    for (const auto& [name, v] : m.items()) {
      if (v.is_number_integer()) {
        out[name] = v;
      }
    }
  }
  return out;
}

json top_counts(const json& all, size_t n) {
  std::vector<std::pair<std::string, int64_t>> v;
  for (const auto& [name, c] : all.items()) {
    v.emplace_back(name, c.get<int64_t>());
  }
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json out = json::array();
  for (size_t i = 0; i < v.size() && i < n; ++i) {
    out.push_back({{"name", v[i].first}, {"count", v[i].second}});
  }
  return out;
}

// What the trailer holds about threads and events, counted from the event log instead:
// a recorder killed mid-way writes no trailer, but its events reach the file every
// 250 ms.
struct LogCounts {
  json threads = json::array();
  json event_counts = json::object();
  json syscall_counts = json::object();
};

void count_event(const Event& e, std::set<int64_t>& tids,
                 std::map<std::string, uint64_t>& events,
                 std::map<std::string, uint64_t>& syscalls) {
  ++events[std::string(event_type_name(e.type))];
  tids.insert(e.tid);
  if (e.type == EventType::kThreadStart) {
    tids.insert(e.value);
  } else if (e.type == EventType::kSyscall) {
    ++syscalls[syscall_name(e.sysno)];
  }
}

// One pass over the event log: the crash evidence, and the counts when `counts` is set
// (the recording has no trailer).
void read_event_log(const RecordingReader& reader, CrashEvidence& evidence, LogCounts* counts) {
  std::set<int64_t> tids;
  for (const auto& tid : int_array(reader.manifest(), "initial_threads")) {
    tids.insert(tid.get<int64_t>());
  }
  std::map<std::string, uint64_t> events;
  std::map<std::string, uint64_t> syscalls;
  auto read = reader.for_each_event([&](const Event& e) {
    evidence.add(e);
    if (counts != nullptr) {
      count_event(e, tids, events, syscalls);
    }
    return true;
  });
  if (!read) {
    // A damaged chunk ends the reading, not the summary: what was read is still true.
    spdlog::warn("the events of {} are read only up to a damaged chunk ({}): the counts, "
                 "faults and stderr shown stop there",
                 reader.path().string(), read.error().message);
  }
  if (counts != nullptr) {
    counts->threads = tids;
    counts->event_counts = events;
    counts->syscall_counts = syscalls;
  }
}

json backtrace_json(const ThreadBacktrace& t) {
  json frames = json::array();
  for (const auto& f : t.frames) {
    frames.push_back(frame_json(f));
  }
  json j = {{"tid", t.tid}, {"frames", frames}};
  j["error"] = t.error.empty() ? json(nullptr) : json(t.error);
  return j;
}

// The thread whose backtrace matters most: the one that took the first fault, else the
// one the fatal signal was delivered to; 0 for none.
pid_t wanted_tid(const json& s) {
  for (const char* key : {"first_fault", "crash"}) {
    if (s[key].is_object() && s[key]["tid"].is_number_integer()) {
      return s[key]["tid"].get<pid_t>();
    }
  }
  return 0;
}

json signal_json(const SignalRecord& r) {
  return {{"signal", r.signo},
          {"signal_name", signal_name(r.signo)},
          {"code", r.code},
          {"code_name", signal_code_text(r.signo, r.code)},
          {"fault_addr", r.code > 0 ? json(fmt::format("{:#x}", r.fault_addr)) : json(nullptr)},
          {"sender_pid", r.sender_pid ? json(*r.sender_pid) : json(nullptr)},
          {"tid", r.tid},
          {"time_ns", r.time_ns},
          {"fatal", r.fatal}};
}

// The manifest's crash, with the si_code's name and, for a sent signal, who sent it
// (from the fatal signal's event).
json crash_json(const json& manifest_crash, const CrashEvidence& evidence) {
  json c = {{"signal", pick_int(manifest_crash, "signal")},
            {"signal_name", pick_string(manifest_crash, "signal_name")},
            {"code", pick_int(manifest_crash, "code")},
            {"code_name", nullptr},
            {"fault_addr", pick_string(manifest_crash, "fault_addr")},
            {"sender_pid", nullptr},
            {"tid", pick_int(manifest_crash, "tid")}};
  if (c["signal"].is_number_integer() && c["code"].is_number_integer()) {
    c["code_name"] = signal_code_text(c["signal"].get<int>(), c["code"].get<int>());
  }
  const auto& fatal = evidence.fatal_signal();
  if (fatal && fatal->sender_pid && c["signal"] == fatal->signo && c["code"] == fatal->code) {
    c["sender_pid"] = *fatal->sender_pid;
  }
  return c;
}

json stderr_json(const StderrTail& t) {
  if (t.total_bytes == 0) {
    return nullptr;
  }
  return {{"text", t.text},
          {"total_bytes", t.total_bytes},
          {"cut", t.cut},
          {"max_bytes", kStderrTailBytes},
          {"max_lines", kStderrTailLines}};
}

bool is_fixed_address_executable(const std::filesystem::path& exe) {
  std::ifstream in(exe, std::ios::binary);
  char head[18] = {};
  // ELF magic, then e_type (offset 16, little-endian) == ET_EXEC: no load bias.
  return in.read(head, sizeof head) && std::string_view(head, 4) == "\x7f" "ELF" &&
         head[16] == 2 && head[17] == 0;
}

// libdw (elfutils 0.188) finds no source lines in the DWARF 5 that Go 1.25 and later
// write, and binutils neither; gdb does. Frames in a fixed-address executable (a Go
// program, say) that have a function but no line get theirs from gdb, when it is here.
void add_lines_from_gdb(std::vector<ThreadBacktrace>& bts, const std::filesystem::path& exe,
                        const std::string& exe_module) {
  std::vector<Frame*> missing;
  for (auto& t : bts) {
    for (auto& f : t.frames) {
      if (f.file.empty() && !f.function.empty() && f.module == exe_module) {
        missing.push_back(&f);
      }
    }
  }
  std::string gdb = find_in_path("gdb");
  if (missing.empty() || gdb.empty() || !is_fixed_address_executable(exe)) {
    return;
  }
  std::vector<std::string> argv = {gdb, "-nx", "-q", "-batch", "-iex", "set auto-load off"};
  for (const Frame* f : missing) {
    // A return address is after its call: the call's line is the one before it.
    uint64_t at = f->index == 0 ? f->pc : f->pc - 1;
    argv.insert(argv.end(), {"-ex", fmt::format("info line *{:#x}", at)});
  }
  argv.push_back(exe.string());
  auto r = run_capture(argv);
  if (!r || r->exit_code != 0) {
    return;
  }
  // One answer per address, in order: `Line 80 of "/src/main.go" starts at address ...`
  // or `No line number information available for address ...`.
  size_t next = 0;
  std::istringstream out(r->out);
  for (std::string l; std::getline(out, l);) {
    if (next >= missing.size()) {
      break;
    }
    int line = 0;
    char file[4096];
    if (std::sscanf(l.c_str(), "Line %d of \"%4095[^\"]\"", &line, file) == 2) {
      missing[next]->file = file;
      missing[next]->line = line;
      ++next;
    } else if (l.starts_with("No line number information")) {
      ++next;
    }
  }
}

void add_backtraces(const RecordingReader& reader, const SummaryOptions& options, json& s) {
  auto tmp = TempDir::create("rewind-info");
  if (!tmp) {
    s["backtrace"] = {{"tid", nullptr}, {"frames", json::array()}, {"error", tmp.error().message}};
    return;
  }
  auto x = extract_sysroot(reader, tmp->path() / "x");
  if (!x || x->core.empty()) {
    std::string why = !x ? x.error().message : "the final core could not be extracted";
    s["backtrace"] = {{"tid", nullptr}, {"frames", json::array()}, {"error", why}};
    return;
  }
  BacktraceOptions bo;
  bo.all_threads = options.all_threads;
  bo.max_frames = options.max_frames;
  bo.executable = x->exe;
  bo.first_tid = wanted_tid(s);
  auto bt = core_backtrace(x->core, x->root, bo);
  if (!bt || bt->empty()) {
    std::string why = !bt ? bt.error().message : "the core holds no thread";
    s["backtrace"] = {{"tid", nullptr}, {"frames", json::array()}, {"error", why}};
    return;
  }
  add_lines_from_gdb(*bt, x->exe, s["target"]["exe"].is_string()
                                      ? s["target"]["exe"].get<std::string>()
                                      : std::string());
  s["backtrace"] = backtrace_json(bt->front());
  s["backtrace"]["wanted_tid"] = bo.first_tid != 0 ? json(bo.first_tid) : json(nullptr);
  if (options.all_threads) {
    json all = json::array();
    for (const auto& t : *bt) {
      all.push_back(backtrace_json(t));
    }
    s["thread_backtraces"] = all;
  }
}

std::string human_size(uint64_t bytes) {
  if (bytes < 1024) {
    return fmt::format("{} bytes", bytes);
  }
  if (bytes < (1u << 20)) {
    return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  }
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

std::string str(const json& v, std::string_view fallback = "?") {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_number() || v.is_boolean()) {
    return v.dump();
  }
  return std::string(fallback);
}

std::string join_counts(const json& obj) {
  std::string out;
  for (const auto& [k, v] : obj.items()) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", k, v.dump());
  }
  return out.empty() ? "none recorded" : out;
}

// "SIGSEGV (SEGV_MAPERR) at address 0x0", or for a sent signal "SIGSEGV (SI_USER) sent
// by pid 42": a sent signal's siginfo holds the sender, not an address.
std::string signal_text(const json& sig) {
  std::string name = str(sig["signal_name"], "signal " + str(sig["signal"]));
  std::string code = sig["code_name"].is_string() ? str(sig["code_name"]) : "code " + str(sig["code"]);
  bool sent = sig["code"].is_number_integer() && sig["code"].get<int64_t>() <= 0;
  if (!sent) {
    return fmt::format("{} ({}) at address {}", name, code, str(sig["fault_addr"]));
  }
  return fmt::format("{} ({}) sent by {}", name, code,
                     sig["sender_pid"].is_number_integer() ? "pid " + sig["sender_pid"].dump()
                                                           : "an unknown sender");
}

std::string thread_text(const json& s, const json& tid) {
  bool main = tid.is_number_integer() && tid == s["target"]["pid"];
  return fmt::format("thread {}{}", str(tid), main ? " (the main thread)" : "");
}

// The first fault an instruction caused, which the program may have handled.
std::string first_fault_text(const json& s) {
  const json& f = s["first_fault"];
  std::string when;
  if (f["time_ns"].is_number_unsigned()) {
    when = fmt::format(" at {:.3f} s", static_cast<double>(f["time_ns"].get<uint64_t>()) / 1e9);
  }
  uint64_t count = f["count"].is_number_unsigned() ? f["count"].get<uint64_t>() : 1;
  std::string first = count > 1 ? fmt::format(" (the first of {} faults)", count) : "";
  std::string outcome = f["fatal"] == true ? "fatal: the recording stopped on it"
                                           : "the program's own signal handler took it";
  return fmt::format("{} in {}{}{}; {}", signal_text(f), thread_text(s, f["tid"]), when, first,
                     outcome);
}

void print_stderr_tail(std::string& out, const json& t) {
  uint64_t total = t["total_bytes"].get<uint64_t>();
  std::string what = t["cut"] == true
                         ? fmt::format("the tail (at most {} lines, {} bytes) of {} written to fd 2",
                                       str(t["max_lines"]), str(t["max_bytes"]), human_size(total))
                         : fmt::format("all {} written to fd 2", human_size(total));
  out += fmt::format("\nlast stderr output, {}:\n", what);
  std::string_view text = t["text"].get_ref<const std::string&>();
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out += fmt::format("  {}\n", text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

// Which thread the backtrace is of, and why that one.
std::string backtrace_label(const json& s) {
  const json& bt = s["backtrace"];
  json wanted = bt.value("wanted_tid", json(nullptr));
  const json& fault = s["first_fault"].is_object() ? s["first_fault"] : s["crash"];
  std::string why = fault.is_object()
                        ? fmt::format("took the {}", str(fault["signal_name"], "signal"))
                        : std::string();
  if (!wanted.is_number_integer()) {
    return fmt::format("backtrace at the end of {}", thread_text(s, bt["tid"]));
  }
  if (wanted != bt["tid"]) {
    return fmt::format("{}, which {}, no longer exists in the final state; backtrace at the end "
                       "of {} instead",
                       thread_text(s, wanted), why, thread_text(s, bt["tid"]));
  }
  return fmt::format("backtrace of {}, which {} (as of the final state)", thread_text(s, wanted),
                     why);
}

void print_backtrace(std::string& out, const json& bt, std::string_view label) {
  out += fmt::format("\n{}:\n", label);
  for (const auto& f : bt["frames"]) {
    Frame fr;
    fr.index = f["index"].get<int>();
    fr.pc = std::stoull(f["pc"].get<std::string>(), nullptr, 16);
    fr.function = str(f["function"], "");
    fr.module = str(f["module"], "");
    fr.file = str(f["file"], "");
    fr.line = f["line"].is_number_integer() ? f["line"].get<int>() : 0;
    out += "  " + format_frame(fr) + "\n";
  }
  if (bt["frames"].empty()) {
    out += fmt::format("  (no frames: {})\n", str(bt["error"], "unknown reason"));
  }
}

}  // namespace

Result<json> summarize_recording(const RecordingReader& reader, const SummaryOptions& options) {
  const json& m = reader.manifest();
  json s;
  s["file"] = reader.path().string();
  s["size_bytes"] = reader.file_size();
  s["complete"] = reader.finished() && !reader.truncation();
  s["truncation"] = reader.truncation() ? json(*reader.truncation()) : json(nullptr);
  s["rewind_version"] = pick_string(m, "rewind_version");
  s["mode"] = pick_string(m, "mode");
  json target = pick(m, "target", json::value_t::object);
  s["target"] = {{"pid", pick_int(target, "pid")},
                 {"exe", pick_string(target, "exe")},
                 {"cmdline", string_array(target, "cmdline")},
                 {"cwd", pick_string(target, "cwd")},
                 {"comm", pick_string(target, "comm")}};
  json host = pick(m, "host", json::value_t::object);
  s["host"] = {{"hostname", pick_string(host, "hostname")},
               {"kernel", pick_string(host, "kernel")},
               {"machine", pick_string(host, "machine")}};
  s["start_time"] = pick_string(m, "start_time");
  s["stop_time"] = pick_string(m, "stop_time");
  s["duration_ns"] = pick_int(m, "duration_ns");
  s["stop_reason"] = pick_string(m, "stop_reason");
  s["exit_status"] = pick_int(m, "exit_status");
  s["counted_from_log"] = !reader.finished();
  CrashEvidence evidence;
  if (reader.finished()) {
    read_event_log(reader, evidence, nullptr);
    s["threads"] = int_array(m, "threads");
    s["event_counts"] = counts(m, "event_counts");
    s["top_syscalls"] = top_counts(counts(m, "syscall_counts"), options.top_syscalls);
  } else {
    LogCounts c;
    read_event_log(reader, evidence, &c);
    s["threads"] = c.threads;
    s["event_counts"] = c.event_counts;
    s["top_syscalls"] = top_counts(c.syscall_counts, options.top_syscalls);
  }
  s["warnings"] = string_array(m, "warnings");
  // Programs started by exec during the recording, in order: {exe, snapshot, time_ns}.
  json execs = json::array();
  for (const auto& x : pick(m, "execs", json::value_t::array)) {
    if (x.is_object()) {
      execs.push_back({{"exe", pick_string(x, "exe")},
                       {"snapshot", pick_string(x, "snapshot")},
                       {"time_ns", pick_int(x, "time_ns")}});
    }
  }
  s["execs"] = execs;

  // What the bytes on disk hold: the bundled files and the memory images are a fixed cost
  // (a large executable dominates a short or idle recording); the events grow with time.
  json files = {{"exe", 0},   {"library", 0},    {"vdso", 0},
                {"debug", 0}, {"gdb-script", 0}, {"other", 0}};
  uint64_t file_bytes = 0, memory_bytes = 0;
  for (const auto& b : reader.blobs()) {
    uint64_t stored = 0;
    for (const auto& p : b.pieces) {
      stored += kChunkHeaderSize + p.header.stored_size;
    }
    if (b.kind == "file") {
      std::string role = str(pick_string(b.meta, "role"), "other");
      json& count = files[files.contains(role) ? role : "other"];
      count = count.get<int>() + 1;
      file_bytes += stored;
    } else {
      memory_bytes += stored;
    }
  }
  s["bundled_files"] = files;
  uint64_t total = reader.file_size();
  s["size_breakdown"] = {{"files", file_bytes},
                         {"memory", memory_bytes},
                         {"events", total - std::min(total, file_bytes + memory_bytes)}};
  const BlobInfo* core = reader.find_blob("core", "name", "final");
  s["has_core"] = core != nullptr && core->complete;
  if (core == nullptr) {
    s["final_state"] = reader.finished() ? "no final state: the recorder stored no core"
                                         : "no final state: the recording was cut short";
  } else if (!core->complete) {
    s["final_state"] = "no final state: the recording was cut short while writing the core";
  } else {
    s["final_state"] = fmt::format("ELF core, {}", human_size(core->size));
  }

  json crash = pick(m, "crash", json::value_t::object);
  s["crash"] = crash.is_object() ? crash_json(crash, evidence) : json(nullptr);
  if (const auto& f = evidence.first_fault()) {
    s["first_fault"] = signal_json(*f);
    s["first_fault"]["count"] = evidence.fault_count();
  } else {
    s["first_fault"] = nullptr;
  }
  s["stderr_tail"] = stderr_json(evidence.stderr_tail());
  s["backtrace"] = nullptr;
  if (options.backtrace && s["has_core"].get<bool>()) {
    add_backtraces(reader, options, s);
  }
  return s;
}

std::string format_summary(const json& s) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out += fmt::format("{:<13} {}\n", key, value);
  };
  if (s["first_fault"].is_object()) {
    line("fault", first_fault_text(s));
  }
  std::string size = human_size(s["size_bytes"].get<uint64_t>());
  if (const json& b = s["size_breakdown"]; b.is_object()) {
    size += fmt::format(": bundled files {}, memory images {}, events {}",
                        human_size(b["files"].get<uint64_t>()),
                        human_size(b["memory"].get<uint64_t>()),
                        human_size(b["events"].get<uint64_t>()));
  }
  line("recording", fmt::format("{} ({})", str(s["file"]), size));
  if (s["complete"].get<bool>()) {
    line("status", "complete");
  } else {
    line("status", fmt::format("cut short: {}", str(s["truncation"], "the recorder did not finish "
                                                                      "it (no trailer)")));
  }
  const json& t = s["target"];
  std::string cmd;
  for (const auto& a : t["cmdline"]) {
    cmd += (cmd.empty() ? "" : " ") + a.get<std::string>();
  }
  line("target", fmt::format("pid {}{}", str(t["pid"]), cmd.empty() ? "" : ": " + cmd));
  line("executable", str(t["exe"]));
  for (const auto& x : s["execs"]) {
    line("exec", fmt::format("{} at {:.3f} s{}", str(x["exe"]),
                             static_cast<double>(x["time_ns"].is_number_integer()
                                                     ? x["time_ns"].get<int64_t>()
                                                     : 0) / 1e9,
                             x["snapshot"].is_string() ? " (snapshot " + str(x["snapshot"]) + ")"
                                                       : " (not saved: replay stops there)"));
  }
  line("mode", str(s["mode"]));
  if (s["host"]["hostname"].is_string()) {
    line("host", fmt::format("{} (Linux {}, {})", str(s["host"]["hostname"]),
                             str(s["host"]["kernel"]), str(s["host"]["machine"])));
  }
  std::string when = str(s["start_time"]);
  if (s["stop_time"].is_string()) {
    when += " to " + str(s["stop_time"]);
  }
  if (s["duration_ns"].is_number_integer()) {
    when += fmt::format(" ({:.3f} s)", static_cast<double>(s["duration_ns"].get<int64_t>()) / 1e9);
  }
  line("time", when);
  std::string stop = str(s["stop_reason"], "unknown (the recording has no trailer)");
  if (s["exit_status"].is_number_integer()) {
    stop += fmt::format(", exit status {}", s["exit_status"].get<int64_t>());
  }
  line("stopped", stop);
  // A service that makes a thread per request has thousands: the first ones say enough.
  constexpr size_t kThreadsShown = 16;
  const json& tids = s["threads"];
  std::string threads = fmt::format("{}", tids.size());
  for (size_t i = 0; i < tids.size() && i < kThreadsShown; ++i) {
    threads += " " + tids[i].dump();
  }
  if (tids.size() > kThreadsShown) {
    threads += fmt::format(" and {} more (rewind info --json lists them all)",
                           tids.size() - kThreadsShown);
  }
  // Without a trailer the counts come from the events that reached the file.
  std::string counted = s["counted_from_log"].get<bool>()
                            ? " (counted from the event log: the recording was cut short)"
                            : "";
  line("threads", threads + counted);
  line("events", join_counts(s["event_counts"]) + counted);
  std::string sys;
  for (const auto& e : s["top_syscalls"]) {
    sys += fmt::format("{}{} {}", sys.empty() ? "" : ", ", str(e["name"]), e["count"].dump());
  }
  line("top syscalls", sys.empty() ? "none recorded" : sys);
  const json& f = s["bundled_files"];
  int helpers = f.value("gdb-script", 0);
  line("files", fmt::format("{} executable, {} libraries, {} vDSO, {} debug files{}",
                            f["exe"].get<int>(), f["library"].get<int>(), f["vdso"].get<int>(),
                            f["debug"].get<int>(),
                            helpers == 0 ? ""
                                         : fmt::format(", {} gdb helper{}", helpers,
                                                       helpers == 1 ? "" : "s")));
  line("final state", str(s["final_state"]));
  if (auto v = s.find("verification"); v != s.end() && v->is_object()) {
    // Added by `rewind info` when `rewind replay --verify` has checked this file.
    bool ok = v->value("verified", false);
    line("replay", ok ? fmt::format("verified identical final state ({})", v->value("time", ""))
                      : fmt::format("NOT verified ({}): {}", v->value("time", ""),
                                    v->value("difference", v->contains("divergence")
                                                               ? "diverged"
                                                               : "")));
  } else {
    line("replay", "not verified yet (run: rewind replay --verify FILE)");
  }
  if (s["warnings"].empty()) {
    line("warnings", "none");
  } else {
    for (const auto& w : s["warnings"]) {
      line("warning", str(w));
    }
  }
  if (s["crash"].is_object()) {
    line("crash", fmt::format("{} in {}", signal_text(s["crash"]), thread_text(s, s["crash"]["tid"])));
  }
  if (s["stderr_tail"].is_object()) {
    print_stderr_tail(out, s["stderr_tail"]);
  }
  if (s["backtrace"].is_object()) {
    if (s.contains("thread_backtraces")) {
      for (const auto& bt : s["thread_backtraces"]) {
        print_backtrace(out, bt, "backtrace of " + thread_text(s, bt["tid"]));
      }
    } else {
      print_backtrace(out, s["backtrace"], backtrace_label(s));
    }
  }
  return out;
}

}  // namespace rwd
