#include "record/file_collector.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/sha256.h"
#include "common/unique_fd.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

bool is_elf(int fd) {
  char magic[4] = {};
  return ::pread(fd, magic, 4, 0) == 4 && magic[0] == 0x7f && magic[1] == 'E' &&
         magic[2] == 'L' && magic[3] == 'F';
}

}  // namespace

std::string elf_build_id(int fd) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) {
    return {};
  }
  const void* id = nullptr;
  ssize_t len = dwelf_elf_gnu_build_id(elf, &id);
  std::string hex;
  if (len > 0) {
    hex = to_hex(std::span(static_cast<const uint8_t*>(id), static_cast<size_t>(len)));
  }
  elf_end(elf);
  return hex;
}

FileCollector::FileCollector(pid_t pid, RecordingWriter& writer)
    : pid_(pid),
      writer_(writer),
      memory_(pid),
      root_(::open(fmt::format("/proc/{}/root", pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {}

UniqueFd FileCollector::open_in_root(const std::string& path) const {
  UniqueFd fd(::open(fmt::format("/proc/{}/root{}", pid_, path).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd && root_ && path.starts_with('/')) {
    fd = UniqueFd(::openat(root_.get(), path.c_str() + 1, O_RDONLY | O_CLOEXEC));
  }
  return fd;
}

Status FileCollector::collect(const std::vector<MapEntry>& maps, const std::string& exe_path) {
  for (const auto& m : maps) {
    if (m.path == "[vdso]") {
      if (seen_.insert("[vdso]").second) {
        if (auto s = bundle_vdso(m); !s) {
          warnings_.push_back(s.error().message);
        }
      }
      continue;
    }
    if (!m.is_file() || m.offset != 0 || m.shared()) {
      continue;  // a file's first mapping identifies it; shared mappings are data
    }
    auto key = fmt::format("{}:{}:{}", m.dev, m.inode, m.path);
    if (!seen_.insert(key).second) {
      continue;
    }
    std::string role = m.path == exe_path ? "exe" : "library";
    if (auto s = bundle_mapped_file(m, role); !s) {
      if (!s.error().message.empty()) {
        warnings_.push_back(s.error().message);
      }
    }
  }
  return ok();
}

Status FileCollector::bundle_mapped_file(const MapEntry& m, const std::string& role) {
  std::string path = m.path;
  bool deleted = m.deleted();
  if (deleted) {
    path.resize(path.size() - std::string_view(" (deleted)").size());
  }
  UniqueFd fd(::open(fmt::format("/proc/{}/map_files/{:x}-{:x}", pid_, m.start, m.end).c_str(),
                     O_RDONLY | O_CLOEXEC));
  if (!fd) {
    fd = open_in_root(path);
  }
  if (!fd) {
    return fail_errno(errno, "file {} mapped by the target could not be read, so it is not "
                      "bundled", path);
  }
  struct stat st{};
  ::fstat(fd.get(), &st);
  if (!S_ISREG(st.st_mode) || !is_elf(fd.get())) {
    inventory_.push_back({{"path", path}, {"role", "data"}, {"size", st.st_size},
                          {"mtime", st.st_mtim.tv_sec}, {"bundled", false}});
    return fail("");  // mapped data files are listed, not bundled (no warning)
  }
  auto hash = sha256_file(fmt::format("/proc/self/fd/{}", fd.get()));
  std::string build_id = elf_build_id(fd.get());
  nlohmann::json meta = {{"kind", "file"},   {"path", path},
                         {"role", role},     {"sha256", hash ? *hash : ""},
                         {"mtime", st.st_mtim.tv_sec}, {"deleted", deleted}};
  if (!build_id.empty()) {
    meta["build_id"] = build_id;
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  if (auto s = writer_.add_blob_from_fd(meta, fd.get()); !s) {
    return s;
  }
  bytes_ += static_cast<uint64_t>(st.st_size);
  auto entry = meta;
  entry.erase("kind");
  entry["size"] = st.st_size;
  entry["bundled"] = true;
  inventory_.push_back(entry);
  if (!build_id.empty()) {
    bundle_debug_file(build_id);
  }
  bundle_gdb_scripts(path);
  return ok();
}

std::vector<std::string> gdb_auto_load_scripts(const std::string& objfile) {
  return {fmt::format("/usr/lib/debug{}-gdb.py", objfile),
          fmt::format("/usr/share/gdb/auto-load{}-gdb.py", objfile)};
}

void FileCollector::bundle_gdb_scripts(const std::string& objfile) {
  if (!objfile.starts_with('/')) {
    return;
  }
  for (const auto& path : gdb_auto_load_scripts(objfile)) {
    // The target's filesystem first (another container), then ours, as for debug files.
    UniqueFd fd = open_in_root(path);
    if (!fd) {
      fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    }
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;  // most files have no helper
    }
    nlohmann::json meta = {{"kind", "file"}, {"path", path}, {"role", "gdb-script"},
                           {"objfile", objfile}, {"mtime", st.st_mtim.tv_sec}};
    if (auto s = writer_.add_blob_from_fd(meta, fd.get()); !s) {
      warnings_.push_back(fmt::format("gdb helper {} could not be bundled: {}", path,
                                      s.error().message));
      return;
    }
    bytes_ += static_cast<uint64_t>(st.st_size);
    inventory_.push_back({{"path", path}, {"role", "gdb-script"}, {"objfile", objfile},
                          {"size", st.st_size}, {"bundled", true}});
    return;  // gdb loads the first it finds
  }
}

void FileCollector::bundle_debug_file(const std::string& build_id) {
  if (build_id.size() < 3 || !debug_seen_.insert(build_id).second) {
    return;
  }
  std::string rel = fmt::format("/usr/lib/debug/.build-id/{}/{}.debug", build_id.substr(0, 2),
                                build_id.substr(2));
  // The target's filesystem first (another container), then ours.
  UniqueFd fd = open_in_root(rel);
  if (!fd) {
    fd = UniqueFd(::open(rel.c_str(), O_RDONLY | O_CLOEXEC));
  }
  if (!fd) {
    return;  // no separate debug info installed: normal
  }
  struct stat st{};
  ::fstat(fd.get(), &st);
  nlohmann::json meta = {{"kind", "file"}, {"path", rel}, {"role", "debug"},
                         {"build_id", build_id}, {"mtime", st.st_mtim.tv_sec}};
  if (auto s = writer_.add_blob_from_fd(meta, fd.get()); !s) {
    warnings_.push_back(fmt::format("debug file {} could not be bundled: {}", rel,
                                    s.error().message));
    return;
  }
  bytes_ += static_cast<uint64_t>(st.st_size);
  inventory_.push_back({{"path", rel}, {"role", "debug"}, {"build_id", build_id},
                        {"size", st.st_size}, {"bundled", true}});
}

Status FileCollector::bundle_vdso(const MapEntry& m) {
  std::string image;
  if (!memory_.read(m.start, m.size(), image) || image.size() != m.size()) {
    return fail("the vDSO image at {:#x} could not be read; backtraces through it may be "
                "incomplete", m.start);
  }
  nlohmann::json meta = {{"kind", "file"}, {"path", "[vdso]"}, {"role", "vdso"},
                         {"address", m.start}, {"sha256", sha256_hex(image)}};
  if (auto s = writer_.add_blob(meta, image); !s) {
    return s;
  }
  bytes_ += image.size();
  inventory_.push_back({{"path", "[vdso]"}, {"role", "vdso"}, {"size", image.size()},
                        {"bundled", true}});
  return ok();
}

}  // namespace rwd
