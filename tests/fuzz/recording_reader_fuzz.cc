// libFuzzer target: RecordingReader must survive any file. The input becomes a file
// (a memfd, reopened through /proc/self/fd), which is opened and read the way `rewind
// info` and `rewind extract` read it: manifest, every blob, every event.
//
// Random mutations almost never keep a CRC-32 right, which would keep the fuzzer at the
// checksum checks; so each input is also read a second time with every chunk's header
// and payload CRCs recomputed, which lets mutations reach zstd, JSON, blob metadata and
// event decoding.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/files.h"
#include "common/unique_fd.h"
#include "format/chunk.h"
#include "format/recording_reader.h"

namespace {

void put32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

uint64_t get64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  }
  return v;
}

// The input with every complete chunk's payload CRC and header CRC made valid.
std::string with_valid_crcs(std::string b) {
  size_t off = rwd::kFileHeaderSize;
  while (off <= b.size() && b.size() - off >= rwd::kChunkHeaderSize) {
    uint64_t stored = get64(b, off + 20);
    size_t left = b.size() - off - rwd::kChunkHeaderSize;
    if (stored <= left) {
      put32(b, off + 28,
            rwd::crc32_of(std::string_view(b).substr(off + rwd::kChunkHeaderSize, stored)));
    }
    put32(b, off + 32, rwd::crc32_of(std::string_view(b).substr(off, 32)));
    if (stored > left) {
      break;
    }
    off += rwd::kChunkHeaderSize + stored;
  }
  return b;
}

void read_everything(std::string_view bytes) {
  static rwd::UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  rwd::UniqueFd fd(::memfd_create("fuzz.rwd", MFD_CLOEXEC));
  if (!fd || !rwd::write_all(fd.get(), bytes)) {
    std::abort();  // the harness itself is broken
  }
  auto reader = rwd::RecordingReader::open(fmt::format("/proc/self/fd/{}", fd.get()));
  if (!reader) {
    return;
  }
  (void)reader->manifest().dump();
  (void)reader->finished();
  (void)reader->truncation();
  for (const auto& blob : reader->blobs()) {
    (void)blob.meta.dump();
    auto bytes = reader->read_blob(blob);
    if (bytes && bytes->size() != blob.size) {
      std::abort();  // a complete blob must read back at its declared size
    }
    (void)reader->copy_blob_to_fd(blob, devnull.get());
  }
  (void)reader->find_blob("core", "name", "final");
  uint64_t events = 0;
  (void)reader->for_each_event([&events](const rwd::Event& e) {
    ++events;
    (void)rwd::event_type_name(e.type);
    return events < 100000;
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  read_everything(bytes);
  read_everything(with_valid_crcs(std::move(bytes)));
  return 0;
}
