// The core writer is judged by a real debugger: a child stops (or crashes) inside a known
// stack, the writer dumps it, and gdb must show the frames, threads, globals and signal.
#include "record/elf_core_writer.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <regex>

#include "common/files.h"
#include "common/subprocess.h"
#include "record/core_collector.h"
#include "tracee/test_stopped_child.h"

namespace rwd {
namespace {

using testing::CrashKind;
using testing::StoppedChild;

std::string run_gdb(const std::filesystem::path& core, const std::vector<std::string>& cmds) {
  std::vector<std::string> argv = {"gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off"};
  for (const auto& c : cmds) {
    argv.push_back("-ex");
    argv.push_back(c);
  }
  argv.push_back(StoppedChild::exe().string());
  argv.push_back(core.string());
  auto r = run_capture(argv);
  EXPECT_TRUE(r) << r.error().message;
  return r ? r->out : std::string();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

class ElfCoreWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    if (find_in_path("gdb").empty()) {
      GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
    }
    auto d = TempDir::create("core-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
  }
  std::optional<TempDir> dir_;
};

TEST_F(ElfCoreWriter, GdbShowsStackAndGlobalOfStoppedProcess) {
  auto child = StoppedChild::start(CrashKind::kStop, 0);
  ASSERT_TRUE(child) << child.error().message;
  EXPECT_EQ(child->stop_signal(), SIGSTOP);
  auto core = dir_->path() / "core";
  ASSERT_TRUE(write_process_core_file(core, child->pid(), child->tids(), &child->siginfo()));

  std::string out = run_gdb(core, {"bt", "print/x global_marker"});
  EXPECT_NE(out.find("crash_c"), std::string::npos) << out;
  EXPECT_NE(out.find("crash_b"), std::string::npos) << out;
  EXPECT_NE(out.find("crash_a"), std::string::npos) << out;
  EXPECT_NE(out.find(" main "), std::string::npos) << out;
  // The frames are in call order: c is inner to b, b to a.
  EXPECT_LT(out.find("crash_c"), out.find("crash_b")) << out;
  EXPECT_LT(out.find("crash_b"), out.find("crash_a")) << out;
  EXPECT_NE(out.find("= 0x5eedf00dcafe1234"), std::string::npos) << out;
}

TEST_F(ElfCoreWriter, GdbShowsCrashSignalAndFaultAddressAndAllThreads) {
  constexpr int kExtraThreads = 3;
  auto child = StoppedChild::start(CrashKind::kSegv, kExtraThreads);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_EQ(child->stop_signal(), SIGSEGV);
  ASSERT_EQ(child->tids().size(), 1u + kExtraThreads);
  auto core = dir_->path() / "core";
  ASSERT_TRUE(write_process_core_file(core, child->pid(), child->tids(), &child->siginfo()));

  std::string out = run_gdb(core, {"bt", "print $_siginfo.si_signo",
                                   "print $_siginfo._sifields._sigfault.si_addr",
                                   "info threads", "thread apply all bt"});
  EXPECT_NE(out.find(fmt::format("= {}\n", SIGSEGV)), std::string::npos) << out;
  // The crashing thread is current: its innermost frame is crash_c itself.
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(#0 +(0x[0-9a-f]+ in )?crash_c)"))) << out;
  EXPECT_NE(out.find("(void *) 0x10"), std::string::npos) << out;
  // `info threads` lists every thread once: "* 1    Thread 0x... (LWP 123) ...".
  std::regex row(R"((^|\n)[* ] +\d+ +Thread 0x[0-9a-f]+ \(LWP \d+\))");
  auto rows = std::distance(std::sregex_iterator(out.begin(), out.end(), row), std::sregex_iterator());
  EXPECT_EQ(rows, 1 + kExtraThreads) << out;
  EXPECT_EQ(count(out, "crash_c_wait"), static_cast<size_t>(kExtraThreads)) << out;
  for (pid_t tid : child->tids()) {
    EXPECT_NE(out.find(fmt::format("LWP {})", tid)), std::string::npos) << tid << "\n" << out;
  }
}

TEST_F(ElfCoreWriter, CoreHasNotesAndSkipsUnreadableMappings) {
  auto child = StoppedChild::start(CrashKind::kStop, 1);
  ASSERT_TRUE(child) << child.error().message;
  auto core = dir_->path() / "core";
  ASSERT_TRUE(write_process_core_file(core, child->pid(), child->tids(), &child->siginfo()));
  auto bytes = read_file(core);
  ASSERT_TRUE(bytes);
  ASSERT_GE(bytes->size(), sizeof(Elf64_Ehdr));
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes->data(), sizeof(eh));
  EXPECT_EQ(eh.e_type, ET_CORE);
  EXPECT_EQ(eh.e_machine, EM_X86_64);

  auto maps = read_core_mappings(child->pid());
  ASSERT_TRUE(maps);
  ASSERT_EQ(eh.e_phnum, maps->size() + 1);
  uint64_t vdso_filesz = 0, vvar_filesz = 1, stack_filesz = 0;
  std::string notes;
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes->data() + eh.e_phoff + i * sizeof(ph), sizeof(ph));
    ASSERT_LE(ph.p_offset + ph.p_filesz, bytes->size());
    if (ph.p_type == PT_NOTE) {
      notes = bytes->substr(ph.p_offset, ph.p_filesz);
      continue;
    }
    const auto& m = (*maps)[i - 1];
    EXPECT_EQ(ph.p_vaddr, m.start);
    EXPECT_EQ(ph.p_memsz, m.size());
    if (m.path == "[vdso]") {
      vdso_filesz = ph.p_filesz;
      EXPECT_EQ(bytes->substr(ph.p_offset, 4), std::string("\x7f" "ELF"));
    } else if (m.path == "[vvar]") {
      vvar_filesz = ph.p_filesz;
    } else if (m.path == "[stack]") {
      stack_filesz = ph.p_filesz;
    }
  }
  EXPECT_GT(vdso_filesz, 0u);
  EXPECT_EQ(vvar_filesz, 0u);
  EXPECT_GT(stack_filesz, 0u);

  std::map<uint32_t, int> types;
  for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= notes.size();) {
    Elf64_Nhdr nh;
    std::memcpy(&nh, notes.data() + at, sizeof(nh));
    types[nh.n_type]++;
    at += sizeof(nh) + (nh.n_namesz + 3) / 4 * 4 + (nh.n_descsz + 3) / 4 * 4;
  }
  EXPECT_EQ(types[NT_PRSTATUS], 2);
  EXPECT_EQ(types[NT_PRFPREG], 2);
  EXPECT_EQ(types[NT_X86_XSTATE], 2);
  EXPECT_EQ(types[NT_PRPSINFO], 1);
  EXPECT_EQ(types[NT_SIGINFO], 1);
  EXPECT_EQ(types[NT_AUXV], 1);
  EXPECT_EQ(types[NT_FILE], 1);
}

}  // namespace
}  // namespace rwd
