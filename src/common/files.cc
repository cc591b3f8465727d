#include "common/files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace rwd {

Result<std::string> read_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(errno, "cannot open {}", path.string());
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(errno, "cannot read {}", path.string());
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status write_all(int fd, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(errno, "write failed");
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Status write_all(int fd, std::string_view data) {
  return write_all(fd, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Status pread_exact(int fd, std::span<uint8_t> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd, data.data() + done, data.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(errno, "read failed at offset {}", offset + done);
    }
    if (n == 0) {
      return fail("unexpected end of file at offset {} (wanted {} more bytes)", offset + done,
                  data.size() - done);
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Status fsync_parent_dir(const std::filesystem::path& path) {
  auto dir = path.parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(errno, "cannot open directory {}", dir.string());
  }
  if (::fsync(fd.get()) != 0) {
    return fail_errno(errno, "cannot fsync directory {}", dir.string());
  }
  return ok();
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  auto tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) {
    return fail_errno(errno, "cannot create {}", tmp.string());
  }
  if (auto s = write_all(fd.get(), data); !s) {
    ::unlink(tmp.c_str());
    return std::unexpected(s.error().context(fmt::format("cannot write {}", tmp.string())));
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, "cannot fsync {}", tmp.string());
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, "cannot rename {} to {}", tmp.string(), path.string());
  }
  return fsync_parent_dir(path);
}

Result<TempDir> TempDir::create(std::string_view prefix) {
  const char* base = ::getenv("TMPDIR");
  std::string tmpl = fmt::format("{}/{}.XXXXXX", base && *base ? base : "/tmp", prefix);
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return fail_errno(errno, "cannot create a temporary directory {}", tmpl);
  }
  return TempDir(tmpl);
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

}  // namespace rwd
