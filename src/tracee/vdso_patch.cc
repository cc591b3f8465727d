#include "tracee/vdso_patch.h"

#include <elf.h>
#include <sys/syscall.h>

#include <cstring>
#include <utility>

#include "tracee/ptrace_ops.h"

namespace rwd {

namespace {

// The vDSO's exported functions and the syscall each one stands for.
constexpr std::pair<const char*, int> kTimeFunctions[] = {
    {"__vdso_clock_gettime", SYS_clock_gettime},
    {"__vdso_gettimeofday", SYS_gettimeofday},
    {"__vdso_time", SYS_time},
    {"__vdso_getcpu", SYS_getcpu},
    {"__vdso_clock_getres", SYS_clock_getres},
};

template <typename T>
bool read_at(std::string_view image, uint64_t off, T& out) {
  if (off > image.size() || image.size() - off < sizeof(T)) {
    return false;
  }
  std::memcpy(&out, image.data() + off, sizeof(T));
  return true;
}

// Where each stub has its `syscall` instruction.
constexpr uint64_t kSyscallOffset = 5;
constexpr uint64_t kTrappedSyscallOffset = 7;

std::string stub_for(int nr, bool trapped) {
  std::string code;
  if (trapped) {
    code += "\x0f\x31";  // rdtsc
  }
  code += '\xb8';  // mov $nr, %eax
  for (int i = 0; i < 4; ++i) {
    code += static_cast<char>((nr >> (8 * i)) & 0xff);
  }
  code += "\x0f\x05";  // syscall
  code += '\xc3';      // ret
  return code;
}

}  // namespace

Result<std::vector<CodePatch>> vdso_patches(std::string_view image, uint64_t base,
                                            ClockStub stub) {
  Elf64_Ehdr eh{};
  if (!read_at(image, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr)) {
    return fail("the vDSO image ({} bytes) is not a 64-bit ELF file", image.size());
  }
  Elf64_Shdr dynsym{}, dynstr{};
  bool found = false;
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh{};
    if (!read_at(image, eh.e_shoff + i * sizeof(Elf64_Shdr), sh)) {
      return fail("the vDSO's section table is cut short");
    }
    if (sh.sh_type == SHT_DYNSYM) {
      dynsym = sh;
      if (!read_at(image, eh.e_shoff + sh.sh_link * sizeof(Elf64_Shdr), dynstr)) {
        return fail("the vDSO's symbol names are missing");
      }
      found = true;
    }
  }
  if (!found) {
    return fail("the vDSO has no dynamic symbol table");
  }
  // Symbol values are addresses relative to the vDSO's link address (0 on x86-64) and
  // the image is mapped from its first byte, so value == offset into the image.
  Elf64_Addr link_base = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    if (read_at(image, eh.e_phoff + i * sizeof(Elf64_Phdr), ph) && ph.p_type == PT_LOAD) {
      link_base = ph.p_vaddr - ph.p_offset;
      break;
    }
  }
  std::vector<CodePatch> patches;
  size_t count = dynsym.sh_entsize ? dynsym.sh_size / dynsym.sh_entsize : 0;
  for (size_t i = 0; i < count; ++i) {
    Elf64_Sym sym{};
    if (!read_at(image, dynsym.sh_offset + i * sizeof(Elf64_Sym), sym)) {
      break;
    }
    if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name >= dynstr.sh_size) {
      continue;
    }
    std::string_view names = image.substr(dynstr.sh_offset, dynstr.sh_size);
    std::string_view name = names.substr(sym.st_name);
    name = name.substr(0, name.find('\0'));
    for (auto [fn, nr] : kTimeFunctions) {
      if (name != fn) {
        continue;
      }
      uint64_t off = sym.st_value - link_base;
      bool trapped = stub == ClockStub::kTrapped && nr != SYS_getcpu;
      std::string code = stub_for(nr, trapped);
      if (sym.st_size < code.size() || off + code.size() > image.size()) {
        return fail("the vDSO function {} is too small to patch ({} bytes)", fn, sym.st_size);
      }
      uint64_t syscall_at = base + off + (trapped ? kTrappedSyscallOffset : kSyscallOffset);
      patches.push_back({fn, base + off, std::string(image.substr(off, code.size())), code, nr,
                         syscall_at, trapped});
    }
  }
  if (patches.empty()) {
    return fail("the vDSO exports none of the time functions rewind patches");
  }
  return patches;
}

uint64_t find_syscall_instruction(std::string_view image, uint64_t base) {
  auto at = image.find("\x0f\x05");
  return at == std::string_view::npos ? 0 : base + at;
}

bool leave_patch(const CodePatch& p, user_regs_struct& regs, uint64_t return_to) {
  if (!p.within(regs.rip)) {
    return false;
  }
  if (regs.rip == p.syscall_at + 2) {  // the `ret`
    regs.rip = return_to;
    regs.rsp += 8;
    return true;
  }
  if (p.trapped || regs.rip > p.syscall_at) {
    return false;
  }
  regs.rip = p.addr;
  return true;
}

uint64_t patch_syscall_site(const std::vector<CodePatch>& patches) {
  return patches.empty() ? 0 : patches.front().syscall_at;
}

const CodePatch* trapped_stub_at(const std::vector<CodePatch>& patches, uint64_t rip) {
  for (const auto& p : patches) {
    if (p.trapped && p.addr == rip) {
      return &p;
    }
  }
  return nullptr;
}

Status apply_patches(pid_t pid, const std::vector<CodePatch>& patches) {
  for (const auto& p : patches) {
    if (auto s = write_memory(pid, p.addr, p.replacement); !s) {
      return fail("cannot patch the vDSO's {}: {}", p.symbol, s.error().message);
    }
  }
  return ok();
}

Status revert_patches(pid_t pid, const std::vector<CodePatch>& patches) {
  Status result = ok();
  for (const auto& p : patches) {
    if (auto s = write_memory(pid, p.addr, p.original); !s && result) {
      result = std::unexpected(s.error());
    }
  }
  return result;
}

void apply_patches_to_image(std::string& image, uint64_t base,
                            const std::vector<CodePatch>& patches) {
  for (const auto& p : patches) {
    uint64_t off = p.addr - base;
    if (off + p.replacement.size() <= image.size()) {
      image.replace(off, p.replacement.size(), p.replacement);
    }
  }
}

}  // namespace rwd
