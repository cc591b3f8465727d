#include "record/core_collector.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "common/files.h"
#include "common/unique_fd.h"
#include "tracee/proc_info.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

// Largest XSAVE area the kernel hands out today (AMX tiles included) is about 11 KiB.
constexpr size_t kMaxXstateBytes = 64u << 10;

// The value of "Key:\t..." in a /proc status file; empty when absent.
std::string status_field(const std::string& status, std::string_view key) {
  std::string needle = "\n" + std::string(key) + ":";
  size_t at = status.find(needle);
  if (at == std::string::npos) {
    return {};
  }
  at += needle.size();
  size_t end = status.find('\n', at);
  std::string v = status.substr(at, end == std::string::npos ? std::string::npos : end - at);
  size_t first = v.find_first_not_of(" \t");
  return first == std::string::npos ? std::string() : v.substr(first);
}

uint64_t hex_field(const std::string& status, std::string_view key) {
  return std::strtoull(status_field(status, key).c_str(), nullptr, 16);
}

bool has_flag(const std::string& vm_flags, std::string_view flag) {
  std::istringstream in(vm_flags);
  std::string f;
  while (in >> f) {
    if (f == flag) {
      return true;
    }
  }
  return false;
}

// Shared memory without a file behind it (shmem, memfd, SysV): the kernel dumps it.
bool anonymous_shared(const CoreMapping& m) {
  return m.inode == 0 || m.path.starts_with("/dev/zero") || m.path.starts_with("/memfd:") ||
         m.path.starts_with("/SYSV") || m.path.ends_with(" (deleted)");
}

CoreDump dump_policy(const CoreMapping& m, const std::string& vm_flags, uint64_t anon_kb) {
  if (has_flag(vm_flags, "dd") || has_flag(vm_flags, "io")) {
    return CoreDump::kNone;
  }
  if (m.path == "[vdso]") {
    return CoreDump::kAll;
  }
  if (m.shared) {
    return anonymous_shared(m) ? CoreDump::kAll : CoreDump::kNone;
  }
  if (m.inode == 0 || m.writable || anon_kb > 0) {
    return CoreDump::kAll;
  }
  return CoreDump::kElfHeader;
}

// Parses a maps/smaps header line: "start-end perms offset dev inode   path".
bool parse_map_line(const std::string& line, CoreMapping& m) {
  unsigned long long start = 0, end = 0, offset = 0, inode = 0;
  char perms[8] = {};
  unsigned dev_major = 0, dev_minor = 0;
  int consumed = 0;
  if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu%n", &start, &end, perms, &offset,
                  &dev_major, &dev_minor, &inode, &consumed) != 7) {
    return false;
  }
  m = CoreMapping{};
  m.start = start;
  m.end = end;
  m.file_offset = offset;
  m.inode = inode;
  std::string_view p(perms);
  m.readable = p.size() > 0 && p[0] == 'r';
  m.writable = p.size() > 1 && p[1] == 'w';
  m.executable = p.size() > 2 && p[2] == 'x';
  m.shared = p.size() > 3 && p[3] == 's';
  std::string rest = line.substr(static_cast<size_t>(consumed));
  size_t first = rest.find_first_not_of(' ');
  m.path = first == std::string::npos ? std::string() : rest.substr(first);
  return true;
}

}  // namespace

Result<CoreProcess> collect_core_process(pid_t pid) {
  std::string dir = fmt::format("/proc/{}", pid);
  auto stat = read_file(dir + "/stat");
  if (!stat) {
    return std::unexpected(stat.error());
  }
  CoreProcess p;
  p.pid = pid;
  size_t open = stat->find('(');
  size_t close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return fail("cannot parse {}/stat", dir);
  }
  p.comm = stat->substr(open + 1, close - open - 1);
  // Fields after the comm, numbered as in proc(5): 3 state, 4 ppid, 5 pgrp, 6 session,
  // 9 flags, 19 nice.
  std::istringstream rest(stat->substr(close + 1));
  std::vector<std::string> f;
  std::string w;
  while (rest >> w && f.size() < 20) {
    f.push_back(w);
  }
  if (f.size() < 17) {
    return fail("cannot parse {}/stat", dir);
  }
  p.state = f[0].empty() ? 'R' : f[0][0];
  p.ppid = std::atoi(f[1].c_str());
  p.pgrp = std::atoi(f[2].c_str());
  p.sid = std::atoi(f[3].c_str());
  p.flags = std::strtoul(f[6].c_str(), nullptr, 10);
  p.nice = std::atoi(f[16].c_str());

  if (auto status = read_file(dir + "/status")) {
    p.uid = static_cast<uid_t>(std::strtoul(status_field(*status, "Uid").c_str(), nullptr, 10));
    p.gid = static_cast<gid_t>(std::strtoul(status_field(*status, "Gid").c_str(), nullptr, 10));
  }
  if (auto cmdline = read_file(dir + "/cmdline")) {
    while (!cmdline->empty() && cmdline->back() == '\0') {
      cmdline->pop_back();
    }
    std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
    p.args = std::move(*cmdline);
  }
  auto auxv = read_auxv(pid);
  if (!auxv) {
    return std::unexpected(auxv.error());
  }
  p.auxv = std::move(*auxv);
  return p;
}

Result<CoreThread> collect_core_thread(pid_t tid, const siginfo_t* siginfo) {
  CoreThread t;
  t.tid = tid;
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &t.regs) != 0) {
    return fail_errno(errno, "cannot read the registers of thread {} (is it ptrace-stopped?)",
                      tid);
  }
  user_fpregs_struct fp{};
  if (::ptrace(PTRACE_GETFPREGS, tid, nullptr, &fp) == 0) {
    t.fpregs = fp;
  }
  std::string xstate(kMaxXstateBytes, '\0');
  iovec iov{xstate.data(), xstate.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) == 0) {
    xstate.resize(iov.iov_len);
    t.xstate = std::move(xstate);
  }
  if (siginfo) {
    t.siginfo = *siginfo;
    t.cursig = siginfo->si_signo;
  }
  if (auto status = read_file(fmt::format("/proc/{}/status", tid))) {
    t.sigpend = hex_field(*status, "SigPnd") | hex_field(*status, "ShdPnd");
    t.sighold = hex_field(*status, "SigBlk");
  }
  return t;
}

Result<std::vector<CoreMapping>> read_core_mappings(pid_t pid) {
  // smaps adds what the dump policy needs (VmFlags, Anonymous); maps is the fallback.
  bool detailed = true;
  auto text = read_file(fmt::format("/proc/{}/smaps", pid));
  if (!text) {
    detailed = false;
    text = read_file(fmt::format("/proc/{}/maps", pid));
    if (!text) {
      return std::unexpected(text.error());
    }
  }
  std::vector<CoreMapping> maps;
  std::string vm_flags;
  uint64_t anon_kb = 0;
  auto settle = [&] {
    if (!maps.empty()) {
      maps.back().dump = dump_policy(maps.back(), vm_flags, anon_kb);
    }
    vm_flags.clear();
    anon_kb = 0;
  };
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    CoreMapping m;
    if (parse_map_line(line, m)) {
      settle();
      maps.push_back(std::move(m));
    } else if (detailed && line.starts_with("VmFlags:")) {
      vm_flags = line.substr(8);
    } else if (detailed && line.starts_with("Anonymous:")) {
      anon_kb = std::strtoull(line.c_str() + 10, nullptr, 10);
    }
  }
  settle();
  if (maps.empty()) {
    return fail("process {} has no memory mappings (has it exited?)", pid);
  }
  return maps;
}

Result<CoreMemoryReader> proc_mem_reader(pid_t pid) {
  // process_vm_readv needs only the right to trace, so this also works for a tracer
  // without CAP_DAC_OVERRIDE next to a target of another uid, whose /proc/PID/mem it may
  // not open; TargetMemory reads the pages the target cannot read itself from that file
  // when it can.
  auto mem = std::make_shared<TargetMemory>(pid);
  return CoreMemoryReader([mem](uint64_t addr, std::span<uint8_t> out) -> size_t {
    return mem->read_into(addr, out.data(), out.size());
  });
}

Status write_process_core(int fd, pid_t pid, std::span<const pid_t> tids,
                          const siginfo_t* first_siginfo) {
  if (tids.empty()) {
    return fail("no thread of pid {} is left to save", pid);
  }
  // The process is read through a thread it includes: once the leader has exited
  // before the others, /proc/PID shows no memory.
  pid_t view = tids[0];
  auto proc = collect_core_process(view);
  if (!proc) {
    return std::unexpected(proc.error());
  }
  proc->pid = pid;
  std::vector<CoreThread> threads;
  for (size_t i = 0; i < tids.size(); ++i) {
    auto t = collect_core_thread(tids[i], i == 0 ? first_siginfo : nullptr);
    if (!t) {
      return std::unexpected(t.error());
    }
    threads.push_back(std::move(*t));
  }
  auto maps = read_core_mappings(view);
  if (!maps) {
    return std::unexpected(maps.error());
  }
  auto mem = proc_mem_reader(view);
  if (!mem) {
    return std::unexpected(mem.error());
  }
  return write_elf_core(fd, *proc, threads, *maps, *mem);
}

Status write_process_core_file(const std::filesystem::path& path, pid_t pid,
                               std::span<const pid_t> tids, const siginfo_t* first_siginfo) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno(errno, "cannot create {}", path.string());
  }
  return write_process_core(fd.get(), pid, tids, first_siginfo);
}

}  // namespace rwd
