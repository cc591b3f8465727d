// SHA-256 over byte streams and files (OpenSSL EVP), hex-encoded results.
//
//   Sha256 h; h.update(part1); h.update(part2); std::string hex = h.hex_digest();
//   auto file_hex = sha256_file("/recordings/a.rwd");
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rwd {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const uint8_t> data);
  void update(std::string_view data);
  std::array<uint8_t, 32> digest();
  std::string hex_digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file(const std::filesystem::path& path);
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace rwd
