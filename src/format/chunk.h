// The on-disk framing of a .rwd file: file header, then a stream of chunks.
//
//   file   := FileHeader chunk*
//   chunk  := ChunkHeader payload[stored_size]
//
// Every chunk is independently checksummed (CRC-32 of header and of payload) and,
// when flagged, zstd-compressed, so a file cut anywhere is readable up to its last
// complete chunk. See docs/recording-format.md for the full specification.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rwd {

inline constexpr std::array<char, 8> kFileMagic = {'R', 'W', 'N', 'D', '\x89', '\r', '\n', '\x1a'};
// Version 2 added the syscall-entry, point and rdtsc events; a version-1 file is a
// subset of version 2 and still reads.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kOldestFormatVersion = 1;
inline constexpr size_t kFileHeaderSize = 16;  // magic, u32 version, u32 flags (0)

inline constexpr uint32_t kChunkMagic = 0x4b434852;  // "RHCK" little-endian
// magic, type, flags (u32 each), raw size, stored size (u64 each), payload CRC, header CRC.
inline constexpr size_t kChunkHeaderSize = 36;
// No chunk holds more than this once decompressed: bounds the reader's memory.
inline constexpr uint64_t kMaxChunkSize = 256ull << 20;

enum class ChunkType : uint32_t {
  kManifest = 1,  // JSON object written when the recording starts
  kBlob = 2,      // u32 meta length, JSON meta, data: a piece of a bundled file, core, ...
  kEvents = 3,    // a run of encoded events (format/event.h)
  kTrailer = 4,   // JSON object written when the recording ends
};

inline constexpr uint32_t kChunkZstd = 1;

struct ChunkHeader {
  ChunkType type = ChunkType::kManifest;
  uint32_t flags = 0;
  uint64_t raw_size = 0;     // payload size after decompression
  uint64_t stored_size = 0;  // payload size on disk
  uint32_t payload_crc = 0;  // CRC-32 of the stored payload
};

std::string encode_file_header();
// Fails with a message a user can act on: not a recording, or a newer format.
Status check_file_header(std::string_view bytes);

std::string encode_chunk_header(const ChunkHeader& h);
Result<ChunkHeader> decode_chunk_header(std::string_view bytes);

uint32_t crc32_of(std::string_view data);

// Builds a complete chunk (header + payload), compressing `raw` when that helps.
std::string make_chunk(ChunkType type, std::string_view raw);

// Decompresses and checks a stored payload against its header.
Result<std::string> open_chunk_payload(const ChunkHeader& h, std::string_view stored);

}  // namespace rwd
