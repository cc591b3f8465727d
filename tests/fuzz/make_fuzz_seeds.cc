// make-fuzz-seeds DIR: writes small valid recordings into DIR as the fuzzer's seed
// corpus, so mutations start from real chunk framing, blob metadata and events.
#include <cstdio>
#include <filesystem>
#include <string>

#include "format/recording_writer.h"

namespace {

rwd::Event event(rwd::EventType type, uint32_t tid, uint64_t t) {
  rwd::Event e;
  e.type = type;
  e.tid = tid;
  e.time_ns = t;
  return e;
}

// variant 0: everything; 1: no trailer (cut short); 2: manifest only.
bool write_seed(const std::filesystem::path& path, int variant) {
  std::filesystem::remove(path);
  auto w = rwd::RecordingWriter::create(path);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return false;
  }
  nlohmann::json manifest = {
      {"rewind_version", "0.1.0"},
      {"mode", "attach"},
      {"target", {{"pid", 42}, {"exe", "/usr/bin/app"}, {"cmdline", {"app", "-v"}}}},
      {"start_time", "2026-01-01T00:00:00Z"}};
  if (!w->write_manifest(manifest)) {
    return false;
  }
  if (variant == 2) {
    return true;
  }
  (void)w->add_blob({{"kind", "file"}, {"path", "/usr/bin/app"}, {"role", "exe"}},
                    std::string("\x7f" "ELF\x02\x01\x01", 7) + std::string(200, 'A'));
  (void)w->add_blob({{"kind", "file"}, {"path", "[vdso]"}, {"role", "vdso"}}, "vdso");
  (void)w->add_blob({{"kind", "core"}, {"name", "final"}}, std::string(300, '\0'));

  rwd::Event sys = event(rwd::EventType::kSyscall, 42, 10);
  sys.sysno = 0;
  sys.args = {3, 0x1000, 16, 0, 0, 0};
  sys.result = 5;
  sys.inputs.push_back({0x2000, "/etc/hosts"});
  sys.outputs.push_back({0x1000, "hello"});
  (void)w->append_event(sys);
  rwd::Event sig = event(rwd::EventType::kSignal, 43, 20);
  sig.signo = 11;
  sig.signal_code = 1;
  sig.fatal = true;
  (void)w->append_event(sig);
  rwd::Event start = event(rwd::EventType::kThreadStart, 42, 30);
  start.value = 43;
  (void)w->append_event(start);
  rwd::Event exec = event(rwd::EventType::kExec, 42, 40);
  exec.text = "/usr/bin/app";
  (void)w->append_event(exec);
  rwd::Event exit = event(rwd::EventType::kProcessExit, 42, 50);
  exit.value = 139;
  (void)w->append_event(exit);
  if (variant == 1) {
    return w->flush_events().has_value();
  }
  return w->finish({{"stop_reason", "crash"},
                    {"crash", {{"signal", 11}, {"signal_name", "SIGSEGV"}, {"tid", 43}}}})
      .has_value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make-fuzz-seeds DIR\n");
    return 2;
  }
  std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  for (int v = 0; v < 3; ++v) {
    if (!write_seed(dir / ("seed-" + std::to_string(v) + ".rwd"), v)) {
      return 1;
    }
  }
  return 0;
}
