#include "record/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <set>

#include "common/files.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "tracee/target_memory.h"
#include "tracee/thread_regs.h"

namespace rwd {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPagePresent = 1ull << 63;
constexpr uint64_t kPageSwapped = 1ull << 62;
constexpr uint64_t kPageFileOrShared = 1ull << 61;

// Runs of pages in [start, end) that are present or swapped out, from
// /proc/PID/pagemap. On any read problem the whole range is returned.
// With anon_only, only pages that are the process's own copies (written pages of a
// private file mapping, e.g. relocated data made read-only by RELRO).
std::vector<std::pair<uint64_t, uint64_t>> used_page_runs(int pagemap, uint64_t start,
                                                          uint64_t end, bool anon_only = false) {
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  std::vector<uint64_t> entries(4096);
  for (uint64_t page = start; page < end;) {
    uint64_t n = std::min<uint64_t>(entries.size(), (end - page) / kPage);
    ssize_t got = ::pread(pagemap, entries.data(), n * 8, static_cast<off_t>(page / kPage * 8));
    if (got != static_cast<ssize_t>(n * 8)) {
      return {{start, end}};
    }
    for (uint64_t i = 0; i < n; ++i, page += kPage) {
      if (!(entries[i] & (kPagePresent | kPageSwapped))) {
        continue;
      }
      if (anon_only && (entries[i] & kPageFileOrShared) && !(entries[i] & kPageSwapped)) {
        continue;
      }
      if (!runs.empty() && runs.back().second == page) {
        runs.back().second = page + kPage;
      } else {
        runs.emplace_back(page, page + kPage);
      }
    }
  }
  return runs;
}

}  // namespace

bool snapshot_saves_contents(const MapEntry& m) {
  if (m.path.starts_with("[vvar") || m.path == "[vsyscall]" || m.path == "[vdso]" || m.shared()) {
    return false;  // kernel-provided or shared: not process-private state
  }
  if (!m.readable() && !m.writable()) {
    return false;  // guard pages
  }
  return m.writable() || !m.is_file();
}

Result<SnapshotInfo> write_snapshot(pid_t pid, const std::vector<SnapshotThread>& threads,
                                    const std::vector<MapEntry>& maps, const std::string& name,
                                    RecordingWriter& writer, const nlohmann::json& extra,
                                    const std::vector<std::pair<uint64_t, uint64_t>>& also_save) {
  SnapshotInfo info;
  nlohmann::json thread_states = nlohmann::json::array();
  for (const auto& t : threads) {
    auto regs = read_thread_regs(t.tid);
    if (!regs) {
      info.warnings.push_back(fmt::format("snapshot {}: {}", name, regs.error().message));
      continue;
    }
    auto j = regs->json();
    if (auto st = read_thread_status(pid, t.tid)) {
      j["sigmask"] = fmt::format("{:016x}", st->sig_blocked);
      j["name"] = st->name;
    }
    if (t.altstack) {
      j["altstack"] = {{"sp", reinterpret_cast<uint64_t>(t.altstack->ss_sp)},
                       {"flags", t.altstack->ss_flags},
                       {"size", t.altstack->ss_size}};
    }
    thread_states.push_back(std::move(j));
  }
  // Files mapped for their data (not an executable's segments) are not bundled: their
  // mapped contents are saved like memory, so that replay never needs the file.
  std::set<std::string> code_files;
  for (const auto& m : maps) {
    if (m.is_file() && m.executable()) {
      code_files.insert(m.path);
    }
  }
  nlohmann::json regions = nlohmann::json::array();
  TargetMemory mem(pid);
  UniqueFd pagemap(::open(fmt::format("/proc/{}/pagemap", pid).c_str(), O_RDONLY | O_CLOEXEC));
  std::string buf;
  for (const auto& m : maps) {
    nlohmann::json r = {{"start", m.start}, {"end", m.end},     {"perms", m.perms},
                        {"offset", m.offset}, {"dev", m.dev},   {"inode", m.inode},
                        {"path", m.path},   {"saved", false}};
    bool data_file = m.is_file() && !code_files.count(m.path) && !snapshot_saves_contents(m);
    bool file_copies = !data_file && !snapshot_saves_contents(m) && m.is_file() && !m.shared() &&
                       (m.readable() || m.executable());
    if (file_copies) {
      // The file holds these pages except the ones the process wrote (relocations,
      // patched code): save those. Without pagemap (mode 0400: a tracer without
      // CAP_DAC_OVERRIDE, next to a target of another uid), the read-only data of a
      // mapping (relocated, then made read-only) is saved whole, the code not at all.
      std::vector<std::pair<uint64_t, uint64_t>> runs;
      if (pagemap) {
        runs = used_page_runs(pagemap.get(), m.start, m.end, /*anon_only=*/true);
      } else if (!m.executable()) {
        runs.emplace_back(m.start, m.end);
      }
      for (auto [run_start, run_end] : runs) {
        mem.read(run_start, run_end - run_start, buf);
        buf.resize(run_end - run_start, '\0');
        nlohmann::json meta = {{"kind", "memory"}, {"snapshot", name}, {"start", run_start},
                               {"region_start", m.start}};
        if (auto s = writer.add_blob(meta, buf); !s) {
          return std::unexpected(s.error());
        }
        info.memory_bytes += run_end - run_start;
      }
      if (!runs.empty()) {
        r["pages_saved"] = "written";  // other pages are the file's
      }
    }
    if (snapshot_saves_contents(m) || data_file) {
      // Anonymous pages never touched are not present and read as zeros: only pages
      // the process has used are copied, which keeps the attach pause short.
      std::vector<std::pair<uint64_t, uint64_t>> runs;
      if (m.is_file() || !pagemap) {
        runs.emplace_back(m.start, m.end);
      } else {
        runs = used_page_runs(pagemap.get(), m.start, m.end);
      }
      constexpr uint64_t kPiece = 8u << 20;
      bool complete = true;
      for (auto [run_start, run_end] : runs) {
        for (uint64_t at = run_start; at < run_end; at += kPiece) {
          uint64_t len = std::min(kPiece, run_end - at);
          mem.read(at, len, buf);
          if (buf.size() < len) {
            complete = false;
            buf.resize(len, '\0');
          }
          nlohmann::json meta = {{"kind", "memory"}, {"snapshot", name}, {"start", at},
                                 {"region_start", m.start}};
          if (auto s = writer.add_blob(meta, buf); !s) {
            return std::unexpected(s.error());
          }
          info.memory_bytes += len;
        }
      }
      if (!complete) {
        info.warnings.push_back(fmt::format(
            "snapshot {}: part of region {:#x}-{:#x} {} could not be read and is stored as "
            "zeros",
            name, m.start, m.end, m.path));
      }
      r["saved"] = true;
      r["pages_saved"] = "used";  // pages absent from the memory blobs are zero
      ++info.regions;
    }
    regions.push_back(std::move(r));
  }
  for (auto [start, end] : also_save) {
    auto region = std::ranges::find_if(maps, [&](const MapEntry& m) {
      return m.start <= start && end <= m.end;
    });
    if (region == maps.end() || !mem.read(start, end - start, buf) || buf.size() != end - start) {
      return fail("snapshot {}: rewind's own bytes at {:#x}-{:#x} could not be read", name,
                  start, end);
    }
    nlohmann::json meta = {{"kind", "memory"}, {"snapshot", name}, {"start", start},
                           {"region_start", region->start}};
    if (auto s = writer.add_blob(meta, buf); !s) {
      return std::unexpected(s.error());
    }
    info.memory_bytes += buf.size();
  }
  nlohmann::json snap = {
      {"name", name}, {"pid", pid}, {"threads", thread_states}, {"maps", regions}};
  if (auto auxv = read_auxv(pid)) {
    snap["auxv"] = to_hex(std::span(reinterpret_cast<const uint8_t*>(auxv->data()), auxv->size()));
  }
  if (auto cwd = read_link(pid, "cwd")) {
    snap["cwd"] = *cwd;
  }
  if (auto limits = read_file(fmt::format("/proc/{}/limits", pid))) {
    snap["limits"] = *limits;
  }
  nlohmann::json fds = nlohmann::json::array();
  std::error_code ec;
  for (const auto& ent : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::error_code link_ec;
    auto target = std::filesystem::read_symlink(ent.path(), link_ec);
    fds.push_back({{"fd", ent.path().filename().string()},
                   {"target", link_ec ? std::string() : target.string()}});
  }
  snap["fds"] = fds;
  for (const auto& [key, value] : extra.items()) {
    snap[key] = value;
  }
  std::string text = snap.dump();
  if (auto s = writer.add_blob({{"kind", "snapshot"}, {"name", name}}, text); !s) {
    return std::unexpected(s.error());
  }
  return info;
}

}  // namespace rwd
