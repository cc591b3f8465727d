// make-test-recording: builds a real .rwd from a real crash, for the inspection tests,
// without the full recorder. It launches PROGRAM under ptrace (every thread seized), lets
// it run until a fatal signal stops a thread, then writes a recording the way the
// recorder lays it out: manifest, the executable, every mapped library and the vDSO as
// "file" blobs, the final ELF core (record/elf_core_writer.h) and a trailer. No events.
//
//   make-test-recording [--cut-short] OUT.rwd -- PROGRAM [ARGS...]
//
// --cut-short writes the manifest and files but no core and no trailer, like a recorder
// killed before the end. Exit status: 0 when a crash was recorded, 1 otherwise.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/sha256.h"
#include "format/recording_writer.h"
#include "record/core_collector.h"
#include "record/elf_core_writer.h"

namespace {

using rwd::Result;
using rwd::Status;

constexpr long kOptions = PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL;

std::string iso_now() {
  char buf[64];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

bool fatal_by_default(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT;
}

struct Crash {
  pid_t tid = 0;
  siginfo_t info{};
};

// Runs the tracee until a thread stops with a fatal signal; returns it, or nothing when
// the process ended without one. All threads are left ptrace-stopped.
std::optional<Crash> run_until_crash(pid_t pid, std::set<pid_t>& threads) {
  for (;;) {
    int status = 0;
    pid_t tid = ::waitpid(-1, &status, __WALL);
    if (tid < 0) {
      if (errno == EINTR) {
        continue;
      }
      return std::nullopt;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      threads.erase(tid);
      if (tid == pid) {
        return std::nullopt;
      }
      continue;
    }
    threads.insert(tid);
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long child = 0;
      ::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child);
      threads.insert(static_cast<pid_t>(child));
      ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);
    } else if (event != 0) {
      ::ptrace(PTRACE_CONT, tid, nullptr, nullptr);  // event stops, incl. new threads
    } else if (fatal_by_default(sig)) {
      Crash c;
      c.tid = tid;
      ::ptrace(PTRACE_GETSIGINFO, tid, nullptr, &c.info);
      for (pid_t other : threads) {
        if (other != tid && ::ptrace(PTRACE_INTERRUPT, other, nullptr, nullptr) == 0) {
          int st = 0;
          ::waitpid(other, &st, __WALL);
        }
      }
      return c;
    } else {
      ::ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
    }
  }
}

Status add_file(rwd::RecordingWriter& w, const std::string& path, const std::string& role) {
  auto data = rwd::read_file(path);
  if (!data) {
    return std::unexpected(data.error());
  }
  struct stat st{};
  ::stat(path.c_str(), &st);
  return w.add_blob({{"kind", "file"},
                     {"path", path},
                     {"role", role},
                     {"sha256", rwd::sha256_hex(*data)},
                     {"mtime", static_cast<int64_t>(st.st_mtime)}},
                    *data);
}

int record(const std::filesystem::path& out, bool cut_short, std::vector<std::string> argv) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) {
    return 1;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    char c;
    (void)!::read(go[0], &c, 1);  // wait until seized
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(go[0]);
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(kOptions)) != 0) {
    std::perror("PTRACE_SEIZE");
    return 1;
  }
  (void)!::write(go[1], "g", 1);
  ::close(go[1]);

  std::string start = iso_now();
  std::set<pid_t> threads = {pid};
  auto crash = run_until_crash(pid, threads);
  if (!crash) {
    std::fprintf(stderr, "make-test-recording: %s ended without a crash\n", argv[0].c_str());
    return 1;
  }

  auto maps = rwd::read_core_mappings(pid);
  auto proc = rwd::collect_core_process(pid);
  auto mem = rwd::proc_mem_reader(pid);
  if (!maps || !proc || !mem) {
    std::fprintf(stderr, "make-test-recording: cannot read process %d\n", pid);
    return 1;
  }
  std::string exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid)).string();
  utsname uts{};
  ::uname(&uts);
  nlohmann::json cmdline = argv;
  nlohmann::json manifest = {
      {"rewind_version", "test"},
      {"mode", "launch"},
      {"target",
       {{"pid", pid},
        {"exe", exe},
        {"cmdline", cmdline},
        {"cwd", std::filesystem::current_path().string()},
        {"environ", nlohmann::json::array()},
        {"comm", proc->comm}}},
      {"host",
       {{"hostname", uts.nodename}, {"kernel", uts.release}, {"machine", uts.machine},
        {"cpu", ""}}},
      {"start_time", start},
  };
  auto w = rwd::RecordingWriter::create(out);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 1;
  }
  if (auto s = w->write_manifest(manifest); !s) {
    return 1;
  }
  std::set<std::string> seen;
  for (const auto& m : *maps) {
    if (m.file_backed() && seen.insert(m.path).second) {
      if (auto s = add_file(*w, m.path, m.path == exe ? "exe" : "library"); !s) {
        std::fprintf(stderr, "warning: %s\n", s.error().message.c_str());
      }
    } else if (m.path == "[vdso]") {
      std::string image(m.size(), '\0');
      (*mem)(m.start, std::span(reinterpret_cast<uint8_t*>(image.data()), image.size()));
      (void)w->add_blob({{"kind", "file"}, {"path", "[vdso]"}, {"role", "vdso"}}, image);
    }
  }
  if (cut_short) {
    ::kill(pid, SIGKILL);
    return 0;
  }

  std::vector<rwd::CoreThread> core_threads;
  auto first = rwd::collect_core_thread(crash->tid, &crash->info);
  if (!first) {
    std::fprintf(stderr, "%s\n", first.error().message.c_str());
    return 1;
  }
  core_threads.push_back(std::move(*first));
  for (pid_t t : threads) {
    if (t != crash->tid) {
      if (auto ct = rwd::collect_core_thread(t, nullptr)) {
        core_threads.push_back(std::move(*ct));
      }
    }
  }
  auto core_path = out.string() + ".core.tmp";
  rwd::UniqueFd core_fd(::open(core_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!core_fd || !rwd::write_elf_core(core_fd.get(), *proc, core_threads, *maps, *mem) ||
      ::lseek(core_fd.get(), 0, SEEK_SET) != 0 ||
      !w->add_blob_from_fd({{"kind", "core"}, {"name", "final"}}, core_fd.get())) {
    std::fprintf(stderr, "make-test-recording: cannot write the core\n");
    return 1;
  }
  ::unlink(core_path.c_str());
  ::kill(pid, SIGKILL);

  nlohmann::json tids = nlohmann::json::array();
  for (pid_t t : threads) {
    tids.push_back(t);
  }
  nlohmann::json trailer = {
      {"stop_time", iso_now()},
      {"duration_ns", 0},
      {"stop_reason", "crash"},
      {"crash",
       {{"signal", crash->info.si_signo},
        {"signal_name", std::string("SIG") + sigabbrev_np(crash->info.si_signo)},
        {"code", crash->info.si_code},
        {"fault_addr", fmt::format("0x{:x}", reinterpret_cast<uintptr_t>(crash->info.si_addr))},
        {"tid", crash->tid}}},
      {"threads", tids},
      {"event_counts", nlohmann::json::object()},
      {"syscall_counts", nlohmann::json::object()},
      {"warnings", nlohmann::json::array()},
  };
  if (auto s = w->finish(trailer); !s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool cut_short = false;
  int i = 1;
  if (i < argc && std::strcmp(argv[i], "--cut-short") == 0) {
    cut_short = true;
    ++i;
  }
  if (argc - i < 3 || std::strcmp(argv[i + 1], "--") != 0) {
    std::fprintf(stderr, "usage: make-test-recording [--cut-short] OUT.rwd -- PROGRAM [ARGS...]\n");
    return 2;
  }
  std::filesystem::path out = argv[i];
  std::vector<std::string> args(argv + i + 2, argv + argc);
  return record(out, cut_short, args);
}
