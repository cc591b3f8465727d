#include "inspect/sysroot.h"

#include <fcntl.h>
#include <gelf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <system_error>

#include "common/files.h"
#include "common/unique_fd.h"

namespace rwd {

namespace {

std::string meta_string(const nlohmann::json& meta, const char* key) {
  auto it = meta.find(key);
  return it != meta.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status write_blob(const RecordingReader& reader, const BlobInfo& blob,
                  const std::filesystem::path& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return fail("cannot create directory {}: {}", path.parent_path().string(), ec.message());
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) {
    return fail_errno(errno, "cannot create {}", path.string());
  }
  if (auto s = reader.copy_blob_to_fd(blob, fd.get()); !s) {
    ::unlink(path.c_str());
    return s;
  }
  return ok();
}

// DT_SONAME of an ELF shared library; empty when it has none or is not ELF.
std::string soname_of(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return {};
  }
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  std::string soname;
  for (Elf_Scn* scn = nullptr; elf != nullptr && soname.empty() &&
                               (scn = elf_nextscn(elf, scn)) != nullptr;) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC ||
        shdr.sh_entsize == 0) {
      continue;
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    for (size_t i = 0; data != nullptr && i < shdr.sh_size / shdr.sh_entsize; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) != nullptr && dyn.d_tag == DT_SONAME) {
        const char* name = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
        soname = name != nullptr ? name : "";
        break;
      }
    }
  }
  if (elf != nullptr) {
    elf_end(elf);
  }
  return soname;
}

// The loader's link map names libraries by soname (libz.so.1), /proc/PID/maps by the
// file it resolved to (libz.so.1.2.13); a sibling symlink lets gdb find either.
void link_soname(const std::filesystem::path& lib) {
  std::string soname = soname_of(lib);
  if (soname.empty() || soname == lib.filename() || soname.find('/') != std::string::npos ||
      soname == "." || soname == "..") {
    return;
  }
  std::error_code ec;
  std::filesystem::create_symlink(lib.filename(), lib.parent_path() / soname, ec);
}

// Helpers find their Python modules relative to their own file (libstdc++'s adds
// <its dir>/../../share/gcc/python to sys.path), which here is inside the sysroot, while
// the modules were not bundled. Such an import falls back to the same path outside the
// sysroot, on this machine, as it would have resolved on the recording's machine.
constexpr const char* kSysrootImportFallback = R"(python
import gdb, importlib.machinery, os, sys
class RewindSysrootImports:
    root = os.path.normpath(gdb.parameter("sysroot"))
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        outside = [os.path.normpath(p)[len(cls.root):] for p in (path or sys.path)
                   if isinstance(p, str) and os.path.normpath(p).startswith(cls.root + "/")]
        return importlib.machinery.PathFinder.find_spec(name, outside, target) if outside else None
sys.meta_path.append(RewindSysrootImports)
end
)";

// The commands that point gdb at the extracted files (everything but the core).
std::string file_commands(const Sysroot& x, const std::set<std::string>& lib_dirs) {
  std::string out = fmt::format("set sysroot {}\n"
                                "set debug-file-directory {}\n",
                                x.root.string(), (x.root / "usr/lib/debug").string());
  // gdb runs a helper only from a trusted path: trust exactly the bundled helpers, which
  // sit where gdb looks first, beside their file. Before `file`, which loads them.
  for (const auto& script : x.gdb_scripts) {
    out += fmt::format("add-auto-load-safe-path {}\n", script.string());
  }
  if (!x.gdb_scripts.empty()) {
    out += kSysrootImportFallback;  // after `set sysroot`, which it reads
  }
  if (!lib_dirs.empty()) {
    std::string joined;
    for (const auto& d : lib_dirs) {
      joined += (joined.empty() ? "" : ":") + d;
    }
    // The loader's link map may name a library by another path than /proc/PID/maps
    // did (/lib vs /usr/lib); gdb then finds it by name in these directories.
    out += fmt::format("set solib-search-path {}\n", joined);
  }
  if (!x.exe.empty()) {
    out += fmt::format("file {}\n", x.exe.string());
  } else {
    out += "# the recording does not hold the executable\n";
  }
  return out;
}

std::string gdbinit_text(const Sysroot& x) {
  std::string out = fmt::format(
      "# Written by rewind: opens the recording's final state with its bundled files.\n"
      "#   gdb -x {}\n",
      x.gdbinit.string());
  out += x.gdb_file_commands;
  if (!x.core.empty()) {
    out += fmt::format("core-file {}\n", x.core.string());
  } else {
    out += "# no final state: the recording was cut short before its core was written\n";
  }
  return out;
}

}  // namespace

Result<std::filesystem::path> gdb_script_in_root(const std::filesystem::path& root,
                                                 const nlohmann::json& meta) {
  std::string objfile = meta_string(meta, "objfile");
  if (objfile.empty()) {
    return fail("gdb helper '{}' names no file it belongs to", meta_string(meta, "path"));
  }
  return path_in_root(root, objfile + "-gdb.py");
}

Result<std::filesystem::path> path_in_root(const std::filesystem::path& root,
                                           std::string_view target_path) {
  std::filesystem::path p(target_path);
  if (!p.is_absolute() || target_path.find('\0') != std::string_view::npos) {
    return fail("'{}' is not an absolute path", target_path);
  }
  std::filesystem::path rel;
  for (const auto& part : p.relative_path()) {
    if (part == ".." ) {
      return fail("'{}' contains '..'", target_path);
    }
    if (part.empty() || part == ".") {
      continue;
    }
    rel /= part;
  }
  if (rel.empty()) {
    return fail("'{}' names no file", target_path);
  }
  return root / rel;
}

Result<Sysroot> extract_sysroot(const RecordingReader& reader, const std::filesystem::path& dir) {
  std::error_code ec;
  Sysroot x;
  x.dir = std::filesystem::absolute(dir, ec);
  if (ec) {
    return fail("cannot use directory {}: {}", dir.string(), ec.message());
  }
  if (std::filesystem::exists(x.dir, ec) && !std::filesystem::is_empty(x.dir, ec)) {
    return fail("cannot extract into {}: the directory is not empty (choose a new one)",
                dir.string());
  }
  x.root = x.dir / "root";
  x.gdbinit = x.dir / "gdbinit";
  x.manifest = x.dir / "manifest.json";
  std::filesystem::create_directories(x.root, ec);
  if (ec) {
    return fail("cannot create directory {}: {}", x.root.string(), ec.message());
  }

  std::set<std::string> lib_dirs;
  std::set<std::filesystem::path> written;
  for (const auto& blob : reader.blobs()) {
    if (blob.kind != "file") {
      continue;
    }
    std::string path = meta_string(blob.meta, "path");
    std::string role = meta_string(blob.meta, "role");
    if (!blob.complete) {
      x.warnings.push_back(fmt::format("{} is incomplete in the recording; not extracted",
                                       path.empty() ? "a file" : path));
      continue;
    }
    std::filesystem::path dest;
    if (path == "[vdso]" || role == "vdso") {
      dest = x.dir / "vdso.so";
    } else {
      auto in_root = role == "gdb-script" ? gdb_script_in_root(x.root, blob.meta)
                                          : path_in_root(x.root, path);
      if (!in_root) {
        x.warnings.push_back(fmt::format("skipped a bundled file: {}", in_root.error().message));
        continue;
      }
      dest = *in_root;
    }
    if (!written.insert(dest).second) {
      continue;  // the same file bundled twice (re-mapped): the first copy wins
    }
    mode_t mode = role == "exe" || role == "library" || role == "vdso" ? 0755 : 0644;
    if (auto s = write_blob(reader, blob, dest, mode); !s) {
      x.warnings.push_back(fmt::format("cannot extract {}: {}", path, s.error().message));
      continue;
    }
    if (dest == x.dir / "vdso.so") {
      x.vdso = dest;
    } else {
      x.files.push_back(path);
      if (role == "gdb-script") {
        // A helper is Python that gdb runs: trust only one this machine has too, byte
        // for byte, where the recording's machine had it.
        auto here = read_file(path);
        auto bundled = read_file(dest);
        if (here && bundled && *here == *bundled) {
          x.gdb_scripts.push_back(dest);
        } else {
          x.warnings.push_back(fmt::format(
              "the recording bundles the gdb helper {}, which this machine does not have "
              "(or has another version of), so gdb does not run it; to run it anyway, give "
              "gdb -iex 'set auto-load safe-path /'",
              path));
        }
      } else if (role == "exe") {
        x.exe = dest;
      } else if (role == "library") {
        lib_dirs.insert(dest.parent_path().string());
        link_soname(dest);
      }
    }
  }

  const BlobInfo* core = reader.find_blob("core", "name", "final");
  if (core == nullptr) {
    core = reader.find_blob("core");
  }
  if (core != nullptr) {
    if (!core->complete) {
      x.warnings.push_back("the final core is incomplete (the recording was cut short)");
    } else if (auto s = write_blob(reader, *core, x.dir / "core", 0600); !s) {
      x.warnings.push_back(fmt::format("cannot extract the core: {}", s.error().message));
    } else {
      x.core = x.dir / "core";
    }
  }

  if (auto s = write_file_atomic(x.manifest, reader.manifest().dump(2) + "\n", 0600); !s) {
    return std::unexpected(s.error());
  }
  x.gdb_file_commands = file_commands(x, lib_dirs);
  if (auto s = write_file_atomic(x.gdbinit, gdbinit_text(x), 0644); !s) {
    return std::unexpected(s.error());
  }
  return x;
}

}  // namespace rwd
