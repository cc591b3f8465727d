#include "record/snapshot.h"

#include "common/files.h"
#include "common/sha256.h"
#include "record/target_memory.h"
#include "record/thread_regs.h"

namespace rwd {

bool snapshot_saves_contents(const MapEntry& m) {
  if (m.path.starts_with("[vvar") || m.path == "[vsyscall]" || m.path == "[vdso]" || m.shared()) {
    return false;  // kernel-provided or shared: not process-private state
  }
  if (!m.readable() && !m.writable()) {
    return false;  // guard pages
  }
  return m.writable() || !m.is_file();
}

Result<SnapshotInfo> write_snapshot(pid_t pid, const std::vector<pid_t>& tids,
                                    const std::vector<MapEntry>& maps, const std::string& name,
                                    RecordingWriter& writer) {
  SnapshotInfo info;
  nlohmann::json threads = nlohmann::json::array();
  for (pid_t tid : tids) {
    auto regs = read_thread_regs(tid);
    if (!regs) {
      info.warnings.push_back(fmt::format("snapshot {}: {}", name, regs.error().message));
      continue;
    }
    auto j = regs->json();
    if (auto st = read_thread_status(pid, tid)) {
      j["sigmask"] = fmt::format("{:016x}", st->sig_blocked);
      j["name"] = st->name;
    }
    threads.push_back(std::move(j));
  }
  nlohmann::json regions = nlohmann::json::array();
  TargetMemory mem(pid);
  std::string buf;
  for (const auto& m : maps) {
    nlohmann::json r = {{"start", m.start}, {"end", m.end},     {"perms", m.perms},
                        {"offset", m.offset}, {"dev", m.dev},   {"inode", m.inode},
                        {"path", m.path},   {"saved", false}};
    if (snapshot_saves_contents(m)) {
      // Region contents are stored in pieces so memory use stays bounded.
      constexpr uint64_t kPiece = 8u << 20;
      bool complete = true;
      for (uint64_t off = 0; off < m.size(); off += kPiece) {
        uint64_t len = std::min(kPiece, m.size() - off);
        mem.read(m.start + off, len, buf);
        if (buf.size() < len) {
          complete = false;
          buf.resize(len, '\0');
        }
        nlohmann::json meta = {{"kind", "memory"}, {"snapshot", name}, {"start", m.start + off},
                               {"region_start", m.start}};
        if (auto s = writer.add_blob(meta, buf); !s) {
          return std::unexpected(s.error());
        }
        info.memory_bytes += len;
      }
      if (!complete) {
        info.warnings.push_back(fmt::format(
            "snapshot {}: part of region {:#x}-{:#x} {} could not be read and is stored as "
            "zeros",
            name, m.start, m.end, m.path));
      }
      r["saved"] = true;
      ++info.regions;
    }
    regions.push_back(std::move(r));
  }
  nlohmann::json snap = {{"name", name}, {"pid", pid}, {"threads", threads}, {"maps", regions}};
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
  std::string text = snap.dump();
  if (auto s = writer.add_blob({{"kind", "snapshot"}, {"name", name}}, text); !s) {
    return std::unexpected(s.error());
  }
  return info;
}

}  // namespace rwd
