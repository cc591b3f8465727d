// Test support (header-only, used by unit tests only): this process's own vDSO image,
// as the kernel mapped it (forked children share it).
//
//   uint64_t base = 0;
//   std::string_view image = own_vdso(base);   // empty without a vDSO
#pragma once

#include <sys/auxv.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace rwd {

inline std::string_view own_vdso(uint64_t& base) {
  base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) {
    return {};
  }
  // The image ends with its section table.
  const auto* eh = reinterpret_cast<const unsigned char*>(base);
  uint64_t shoff = 0;
  uint16_t shnum = 0, shentsize = 0;
  std::memcpy(&shoff, eh + 0x28, 8);
  std::memcpy(&shentsize, eh + 0x3a, 2);
  std::memcpy(&shnum, eh + 0x3c, 2);
  return {reinterpret_cast<const char*>(base), shoff + uint64_t{shnum} * shentsize};
}

}  // namespace rwd
