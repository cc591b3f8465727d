#include "inspect/recording_summary.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "common/files.h"
#include "common/log.h"
#include "inspect/backtrace.h"
#include "inspect/sysroot.h"
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

LogCounts count_event_log(const RecordingReader& reader) {
  std::set<int64_t> tids;
  for (const auto& tid : int_array(reader.manifest(), "initial_threads")) {
    tids.insert(tid.get<int64_t>());
  }
  std::map<std::string, uint64_t> events;
  std::map<std::string, uint64_t> syscalls;
  auto read = reader.for_each_event([&](const Event& e) {
    ++events[std::string(event_type_name(e.type))];
    tids.insert(e.tid);
    if (e.type == EventType::kThreadStart) {
      tids.insert(e.value);
    } else if (e.type == EventType::kSyscall) {
      ++syscalls[syscall_name(e.sysno)];
    }
    return true;
  });
  if (!read) {
    // A damaged chunk ends the count, not the summary: what was read is still true.
    spdlog::warn("the events of {} are counted only up to a damaged chunk ({}): the counts "
                 "shown stop there",
                 reader.path().string(), read.error().message);
  }
  LogCounts c;
  c.threads = tids;
  c.event_counts = events;
  c.syscall_counts = syscalls;
  return c;
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
  if (s["crash"].is_object() && s["crash"]["tid"].is_number_integer()) {
    bo.first_tid = s["crash"]["tid"].get<pid_t>();
  }
  auto bt = core_backtrace(x->core, x->root, bo);
  if (!bt || bt->empty()) {
    std::string why = !bt ? bt.error().message : "the core holds no thread";
    s["backtrace"] = {{"tid", nullptr}, {"frames", json::array()}, {"error", why}};
    return;
  }
  s["backtrace"] = backtrace_json(bt->front());
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

void print_backtrace(std::string& out, const json& bt, std::string_view label) {
  out += fmt::format("\n{} {}:\n", label, str(bt["tid"]));
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
  if (reader.finished()) {
    s["threads"] = int_array(m, "threads");
    s["event_counts"] = counts(m, "event_counts");
    s["top_syscalls"] = top_counts(counts(m, "syscall_counts"), options.top_syscalls);
  } else {
    LogCounts c = count_event_log(reader);
    s["threads"] = c.threads;
    s["event_counts"] = c.event_counts;
    s["top_syscalls"] = top_counts(c.syscall_counts, options.top_syscalls);
  }
  s["warnings"] = string_array(m, "warnings");

  json files = {{"exe", 0}, {"library", 0}, {"vdso", 0}, {"debug", 0}, {"other", 0}};
  for (const auto& b : reader.blobs()) {
    if (b.kind == "file") {
      std::string role = str(pick_string(b.meta, "role"), "other");
      files[files.contains(role) ? role : "other"] =
          files[files.contains(role) ? role : "other"].get<int>() + 1;
    }
  }
  s["bundled_files"] = files;
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
  if (crash.is_object()) {
    s["crash"] = {{"signal", pick_int(crash, "signal")},
                  {"signal_name", pick_string(crash, "signal_name")},
                  {"code", pick_int(crash, "code")},
                  {"fault_addr", pick_string(crash, "fault_addr")},
                  {"tid", pick_int(crash, "tid")}};
  } else {
    s["crash"] = nullptr;
  }
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
  line("recording", fmt::format("{} ({})", str(s["file"]), human_size(s["size_bytes"].get<uint64_t>())));
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
  std::string threads = fmt::format("{}", s["threads"].size());
  for (const auto& tid : s["threads"]) {
    threads += " " + tid.dump();
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
  line("files", fmt::format("{} executable, {} libraries, {} vDSO, {} debug files",
                            f["exe"].get<int>(), f["library"].get<int>(), f["vdso"].get<int>(),
                            f["debug"].get<int>()));
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
    const json& c = s["crash"];
    line("crash", fmt::format("{} (code {}) at address {} in thread {}",
                              str(c["signal_name"], "signal " + str(c["signal"])), str(c["code"]),
                              str(c["fault_addr"]), str(c["tid"])));
  }
  if (s["backtrace"].is_object()) {
    if (s.contains("thread_backtraces")) {
      for (const auto& bt : s["thread_backtraces"]) {
        print_backtrace(out, bt, "backtrace of thread");
      }
    } else {
      print_backtrace(out, s["backtrace"],
                      s["crash"].is_object() ? "backtrace of crashing thread"
                                             : "backtrace at the end of thread");
    }
  }
  return out;
}

}  // namespace rwd
