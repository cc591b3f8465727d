#include "inspect/backtrace.h"

#include <cxxabi.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <system_error>

#include "common/sha256.h"
#include "common/unique_fd.h"
#include "inspect/sysroot.h"

namespace rwd {

namespace {

// The files of one extracted sysroot, indexed the ways libdwfl asks for them.
struct ModuleIndex {
  std::filesystem::path root;
  std::filesystem::path vdso;
  std::map<std::string, std::filesystem::path> by_build_id;
  std::map<std::string, std::filesystem::path> by_name;
};

// The core's NT_FILE note: start address -> (end, path the target had mapped).
using FileMap = std::map<uint64_t, std::pair<uint64_t, std::string>>;

// libdwfl's find_elf callback has no session pointer; core_backtrace sets this for the
// duration of one call on its thread.
thread_local const ModuleIndex* current_index = nullptr;

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
struct DwflCloser {
  void operator()(Dwfl* d) const { dwfl_end(d); }
};

std::string build_id_of(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return {};
  }
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    return {};
  }
  const void* bits = nullptr;
  ssize_t n = dwelf_elf_gnu_build_id(elf.get(), &bits);
  if (n <= 0) {
    return {};
  }
  return to_hex(std::span(static_cast<const uint8_t*>(bits), static_cast<size_t>(n)));
}

ModuleIndex index_root(const std::filesystem::path& root) {
  ModuleIndex index;
  index.root = root;
  auto vdso = root.parent_path() / "vdso.so";
  std::error_code ec;
  if (std::filesystem::is_regular_file(vdso, ec)) {
    index.vdso = vdso;
  }
  auto debug_dir = root / "usr/lib/debug";
  std::filesystem::recursive_directory_iterator it(
      root, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    if (p == debug_dir) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) {
      continue;
    }
    if (auto id = build_id_of(p); !id.empty()) {
      index.by_build_id.emplace(id, p);
    }
    index.by_name.emplace(p.filename().string(), p);
  }
  return index;
}

int open_module(const std::filesystem::path& path, char** file_name) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    *file_name = ::strdup(path.c_str());
  }
  return fd;
}

int find_elf(Dwfl_Module* mod, void**, const char* modname, Dwarf_Addr, char** file_name,
             Elf** elfp) {
  *elfp = nullptr;
  const ModuleIndex* index = current_index;
  if (index == nullptr) {
    return -1;
  }
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int n = dwfl_module_build_id(mod, &bits, &vaddr);
  if (n > 0) {
    auto it = index->by_build_id.find(to_hex(std::span(bits, static_cast<size_t>(n))));
    if (it != index->by_build_id.end()) {
      return open_module(it->second, file_name);
    }
  }
  std::string_view name = modname != nullptr ? modname : "";
  if (name.find("vdso") != std::string_view::npos && !index->vdso.empty()) {
    return open_module(index->vdso, file_name);
  }
  if (auto in_root = path_in_root(index->root, name)) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(*in_root, ec)) {
      return open_module(*in_root, file_name);
    }
  }
  auto it = index->by_name.find(std::filesystem::path(name).filename().string());
  if (it != index->by_name.end()) {
    return open_module(it->second, file_name);
  }
  return -1;
}

FileMap read_file_note(Elf* elf) {
  FileMap out;
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) {
    return out;
  }
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_NOTE) {
      continue;
    }
    Elf_Data* data = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
    if (data == nullptr) {
      continue;
    }
    GElf_Nhdr nh;
    size_t name_off = 0, desc_off = 0;
    for (size_t off = 0;
         (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0 && off <= data->d_size;) {
      if (nh.n_type != NT_FILE || nh.n_descsz < 16) {
        continue;
      }
      // count, page size, count x {start, end, page offset}, then NUL-terminated names.
      std::string_view d(static_cast<const char*>(data->d_buf) + desc_off, nh.n_descsz);
      auto u64 = [&d](size_t at) {
        uint64_t v = 0;
        std::memcpy(&v, d.data() + at, sizeof v);
        return v;
      };
      uint64_t count = u64(0);
      if (count > (d.size() - 16) / 24) {
        continue;  // hostile count
      }
      size_t names = 16 + count * 24;
      for (uint64_t k = 0; k < count && names < d.size(); ++k) {
        size_t end = d.find('\0', names);
        std::string name(d.substr(names, end == std::string_view::npos ? d.npos : end - names));
        out[u64(16 + k * 24)] = {u64(16 + k * 24 + 8), std::move(name)};
        names = end == std::string_view::npos ? d.size() : end + 1;
      }
    }
  }
  return out;
}

std::string mapped_path(const FileMap& files, uint64_t addr) {
  auto it = files.upper_bound(addr);
  if (it == files.begin()) {
    return {};
  }
  --it;
  return addr < it->second.first ? it->second.second : std::string();
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

struct Unwind {
  Dwfl* dwfl = nullptr;
  const FileMap* files = nullptr;
  size_t max_frames = 0;
  std::vector<Frame> frames;
};

int on_frame(Dwfl_Frame* state, void* arg) {
  auto* u = static_cast<Unwind*>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation)) {
    return DWARF_CB_ABORT;
  }
  // A return address points after the call; look up the call itself.
  Dwarf_Addr lookup = activation ? pc : pc - 1;
  Frame f;
  f.index = static_cast<int>(u->frames.size());
  f.pc = pc;
  if (Dwfl_Module* mod = dwfl_addrmodule(u->dwfl, lookup)) {
    const char* name =
        dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    // Prefer the path the target mapped (NT_FILE) over libdwfl's short module name.
    f.module = mapped_path(*u->files, lookup);
    if (f.module.empty() && name != nullptr) {
      f.module = name;
    }
    GElf_Off offset = 0;
    GElf_Sym sym;
    if (const char* sym_name =
            dwfl_module_addrinfo(mod, lookup, &offset, &sym, nullptr, nullptr, nullptr)) {
      f.function = demangle(sym_name);
      f.function_offset = offset + (pc - lookup);
    }
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, lookup)) {
      int lineno = 0;
      if (const char* src = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        f.file = src;
        f.line = lineno;
      }
    }
  }
  u->frames.push_back(std::move(f));
  return u->frames.size() >= u->max_frames ? DWARF_CB_ABORT : DWARF_CB_OK;
}

int on_thread(Dwfl_Thread* thread, void* arg) {
  static_cast<std::vector<pid_t>*>(arg)->push_back(dwfl_thread_tid(thread));
  return DWARF_CB_OK;
}

std::string dwfl_error() {
  const char* m = dwfl_errmsg(-1);
  return m != nullptr ? m : "unknown libdwfl error";
}

}  // namespace

Result<std::vector<ThreadBacktrace>> core_backtrace(const std::filesystem::path& core,
                                                    const std::filesystem::path& root,
                                                    const BacktraceOptions& options) {
  elf_version(EV_CURRENT);
  UniqueFd fd(::open(core.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(errno, "cannot open core file {}", core.string());
  }
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  GElf_Ehdr eh;
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF || gelf_getehdr(elf.get(), &eh) == nullptr ||
      eh.e_type != ET_CORE) {
    return fail("{} is not an ELF core file", core.string());
  }

  ModuleIndex index = index_root(root);
  std::string debug_path = "-:.debug:" + (root / "usr/lib/debug").string();
  char* debug_path_ptr = debug_path.data();
  Dwfl_Callbacks callbacks{};
  callbacks.find_elf = find_elf;
  callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
  callbacks.debuginfo_path = &debug_path_ptr;
  std::unique_ptr<Dwfl, DwflCloser> dwfl(dwfl_begin(&callbacks));
  if (!dwfl) {
    return fail("cannot start libdwfl: {}", dwfl_error());
  }
  current_index = &index;
  struct Reset {
    ~Reset() { current_index = nullptr; }
  } reset;

  dwfl_report_begin(dwfl.get());
  std::string exe = options.executable.empty() ? std::string() : options.executable.string();
  if (dwfl_core_file_report(dwfl.get(), elf.get(), exe.empty() ? nullptr : exe.c_str()) < 0) {
    return fail("cannot read the modules of core {}: {}", core.string(), dwfl_error());
  }
  if (dwfl_report_end(dwfl.get(), nullptr, nullptr) != 0) {
    return fail("cannot read the modules of core {}: {}", core.string(), dwfl_error());
  }
  if (dwfl_core_file_attach(dwfl.get(), elf.get()) < 0) {
    return fail("cannot read the threads of core {}: {}", core.string(), dwfl_error());
  }

  std::vector<pid_t> tids;
  if (dwfl_getthreads(dwfl.get(), on_thread, &tids) != 0) {
    return fail("cannot list the threads of core {}: {}", core.string(), dwfl_error());
  }
  if (options.first_tid != 0) {
    auto it = std::find(tids.begin(), tids.end(), options.first_tid);
    if (it != tids.end()) {
      std::rotate(tids.begin(), it, it + 1);
    }
  }
  if (!options.all_threads && tids.size() > 1) {
    tids.resize(1);
  }

  // Unwind inside a full dwfl_getthreads walk: dwfl_getthread_frames stops libdwfl's
  // walk over the core's threads early, which leaks its per-walk state (elfutils 0.188).
  FileMap files = read_file_note(elf.get());
  struct Walk {
    Dwfl* dwfl;
    const FileMap* files;
    size_t max_frames;
    std::map<pid_t, ThreadBacktrace> done;
    std::vector<pid_t> wanted;
  } walk{dwfl.get(), &files, std::max<size_t>(options.max_frames, 1), {}, tids};
  auto unwind_thread = [](Dwfl_Thread* thread, void* arg) -> int {
    auto* w = static_cast<Walk*>(arg);
    pid_t tid = dwfl_thread_tid(thread);
    if (std::find(w->wanted.begin(), w->wanted.end(), tid) == w->wanted.end()) {
      return DWARF_CB_OK;
    }
    Unwind u;
    u.dwfl = w->dwfl;
    u.files = w->files;
    u.max_frames = w->max_frames;
    int rc = dwfl_thread_getframes(thread, on_frame, &u);
    ThreadBacktrace t;
    t.tid = tid;
    if (rc < 0 && u.frames.empty()) {
      t.error = dwfl_error();
    }
    t.frames = std::move(u.frames);
    w->done[tid] = std::move(t);
    return DWARF_CB_OK;
  };
  if (dwfl_getthreads(dwfl.get(), unwind_thread, &walk) != 0) {
    return fail("cannot unwind the threads of core {}: {}", core.string(), dwfl_error());
  }
  std::vector<ThreadBacktrace> out;
  for (pid_t tid : tids) {
    if (auto it = walk.done.find(tid); it != walk.done.end()) {
      out.push_back(std::move(it->second));
    }
  }
  return out;
}

std::string format_frame(const Frame& f) {
  std::string out = fmt::format("#{:<2} 0x{:016x} in {}", f.index, f.pc,
                                f.function.empty() ? "??" : f.function);
  if (f.function.find('(') == std::string::npos) {
    out += " ()";
  }
  if (!f.file.empty()) {
    out += fmt::format(" at {}:{}", f.file, f.line);
  } else if (!f.module.empty()) {
    out += fmt::format(" from {}", f.module);
  }
  return out;
}

nlohmann::json frame_json(const Frame& f) {
  nlohmann::json j = {{"index", f.index}, {"pc", fmt::format("0x{:x}", f.pc)}};
  j["function"] = f.function.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.function);
  j["module"] = f.module.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.module);
  j["file"] = f.file.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.file);
  j["line"] = f.line > 0 ? nlohmann::json(f.line) : nlohmann::json(nullptr);
  return j;
}

}  // namespace rwd
