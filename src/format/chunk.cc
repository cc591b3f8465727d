#include "format/chunk.h"

#include <zlib.h>
#include <zstd.h>

#include <cstring>

#include "format/event.h"

namespace rwd {

namespace {

uint32_t get_u32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  }
  return v;
}

uint64_t get_u64(std::string_view b, size_t at) {
  return static_cast<uint64_t>(get_u32(b, at)) | (static_cast<uint64_t>(get_u32(b, at + 4)) << 32);
}

}  // namespace

uint32_t crc32_of(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed large buffers in pieces.
  while (!data.empty()) {
    size_t n = std::min<size_t>(data.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n));
    data.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

std::string encode_file_header() {
  std::string out(kFileMagic.begin(), kFileMagic.end());
  put_u32(out, kFormatVersion);
  put_u32(out, 0);
  return out;
}

Status check_file_header(std::string_view bytes) {
  if (bytes.size() < kFileHeaderSize ||
      std::memcmp(bytes.data(), kFileMagic.data(), kFileMagic.size()) != 0) {
    return fail("not a rewind recording (bad magic; was it written by 'rewind record'?)");
  }
  uint32_t version = get_u32(bytes, 8);
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    return fail("recording format version {} is not supported by this rewind (reads versions "
                "{} to {}; use a rewind release that matches the recorder)",
                version, kOldestFormatVersion, kFormatVersion);
  }
  return ok();
}

std::string encode_chunk_header(const ChunkHeader& h) {
  std::string out;
  put_u32(out, kChunkMagic);
  put_u32(out, static_cast<uint32_t>(h.type));
  put_u32(out, h.flags);
  put_u64(out, h.raw_size);
  put_u64(out, h.stored_size);
  put_u32(out, h.payload_crc);
  put_u32(out, crc32_of(out));  // header CRC covers the 32 bytes before it
  return out;
}

Result<ChunkHeader> decode_chunk_header(std::string_view b) {
  if (b.size() < kChunkHeaderSize) {
    return fail("chunk header is truncated ({} of {} bytes)", b.size(), kChunkHeaderSize);
  }
  if (get_u32(b, 0) != kChunkMagic) {
    return fail("bad chunk magic");
  }
  if (get_u32(b, 32) != crc32_of(b.substr(0, 32))) {
    return fail("chunk header checksum mismatch");
  }
  ChunkHeader h;
  uint32_t type = get_u32(b, 4);
  if (type < 1 || type > static_cast<uint32_t>(ChunkType::kTrailer)) {
    return fail("unknown chunk type {}", type);
  }
  h.type = static_cast<ChunkType>(type);
  h.flags = get_u32(b, 8);
  h.raw_size = get_u64(b, 12);
  h.stored_size = get_u64(b, 20);
  h.payload_crc = get_u32(b, 28);
  return h;
}

std::string make_chunk(ChunkType type, std::string_view raw) {
  ChunkHeader h;
  h.type = type;
  h.raw_size = raw.size();
  std::string stored;
  size_t bound = ZSTD_compressBound(raw.size());
  stored.resize(bound);
  size_t n = ZSTD_compress(stored.data(), bound, raw.data(), raw.size(), 3);
  if (!ZSTD_isError(n) && n < raw.size()) {
    stored.resize(n);
    h.flags = kChunkZstd;
  } else {
    stored.assign(raw);
  }
  h.stored_size = stored.size();
  h.payload_crc = crc32_of(stored);
  return encode_chunk_header(h) + stored;
}

Result<std::string> open_chunk_payload(const ChunkHeader& h, std::string_view stored) {
  if (crc32_of(stored) != h.payload_crc) {
    return fail("chunk payload checksum mismatch");
  }
  if (h.raw_size > kMaxChunkSize) {
    return fail("chunk claims {} bytes, above the {} byte limit", h.raw_size, kMaxChunkSize);
  }
  if (!(h.flags & kChunkZstd)) {
    if (stored.size() != h.raw_size) {
      return fail("uncompressed chunk size mismatch");
    }
    return std::string(stored);
  }
  // The header's raw_size is untrusted: a few hostile bytes must not make the reader
  // allocate up to kMaxChunkSize. Writers always record the frame's content size, so
  // it must be present and agree with the header before anything is allocated.
  unsigned long long content = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN) {
    return fail("chunk does not decompress: not a zstd frame with a content size");
  }
  if (content != h.raw_size) {
    return fail("chunk decompresses to {} bytes, header says {}", content, h.raw_size);
  }
  std::string raw(h.raw_size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(n)) {
    return fail("chunk does not decompress: {}", ZSTD_getErrorName(n));
  }
  if (n != h.raw_size) {
    return fail("chunk decompresses to {} bytes, header says {}", n, h.raw_size);
  }
  return raw;
}

}  // namespace rwd
