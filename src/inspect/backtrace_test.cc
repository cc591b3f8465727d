// core_backtrace on a real core of a real process, with the modules copied into a
// private sysroot: the frames, lines and threads must come out symbolized.
#include "inspect/backtrace.h"

#include <gtest/gtest.h>

#include <set>

#include "common/files.h"
#include "record/core_collector.h"
#include "tracee/test_stopped_child.h"

namespace rwd {
namespace {

using testing::CrashKind;
using testing::StoppedChild;

class BacktraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::create("backtrace-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
  }

  // Copies every file the child maps into ROOT/<path>, as `rewind extract` lays it out.
  void make_root(pid_t pid) {
    auto maps = read_core_mappings(pid);
    ASSERT_TRUE(maps);
    std::set<std::string> done;
    for (const auto& m : *maps) {
      if (!m.file_backed() || !done.insert(m.path).second) {
        continue;
      }
      auto dest = dir_->path() / "root" / m.path.substr(1);
      std::filesystem::create_directories(dest.parent_path());
      std::filesystem::copy_file(m.path, dest);
    }
  }

  std::optional<TempDir> dir_;
};

std::vector<std::string> names(const ThreadBacktrace& t) {
  std::vector<std::string> out;
  for (const auto& f : t.frames) {
    out.push_back(f.function);
  }
  return out;
}

TEST_F(BacktraceTest, CrashingThreadFirstWithFunctionsFilesAndLines) {
  auto child = StoppedChild::start(CrashKind::kSegv, 2);
  ASSERT_TRUE(child) << child.error().message;
  auto core = dir_->path() / "core";
  ASSERT_TRUE(write_process_core_file(core, child->pid(), child->tids(), &child->siginfo()));
  make_root(child->pid());

  BacktraceOptions opts;
  opts.first_tid = child->pid();
  auto bt = core_backtrace(core, dir_->path() / "root", opts);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_EQ(bt->size(), 1u);
  const auto& t = (*bt)[0];
  EXPECT_EQ(t.tid, child->pid());
  auto n = names(t);
  ASSERT_GE(n.size(), 4u);
  EXPECT_EQ(n[0], "crash_c");
  EXPECT_EQ(n[1], "crash_b");
  EXPECT_EQ(n[2], "crash_a");
  EXPECT_NE(std::find(n.begin(), n.end(), "main"), n.end());
  EXPECT_TRUE(t.frames[0].file.ends_with("test_stopped_child.h")) << t.frames[0].file;
  EXPECT_GT(t.frames[0].line, 0);
  EXPECT_EQ(t.frames[0].module, StoppedChild::exe().string());
  // A demangled C++ frame from the test itself.
  bool demangled = false;
  for (const auto& f : t.frames) {
    demangled = demangled || f.function.starts_with("rwd::testing::StoppedChild::start(");
  }
  EXPECT_TRUE(demangled) << ::testing::PrintToString(n);
  EXPECT_NE(format_frame(t.frames[0]).find("in crash_c () at "), std::string::npos)
      << format_frame(t.frames[0]);
}

TEST_F(BacktraceTest, AllThreadsStartWithTheChosenOne) {
  auto child = StoppedChild::start(CrashKind::kStop, 2);
  ASSERT_TRUE(child) << child.error().message;
  auto core = dir_->path() / "core";
  ASSERT_TRUE(write_process_core_file(core, child->pid(), child->tids(), &child->siginfo()));
  make_root(child->pid());

  BacktraceOptions opts;
  opts.first_tid = child->tids().back();
  opts.all_threads = true;
  auto bt = core_backtrace(core, dir_->path() / "root", opts);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_EQ(bt->size(), 3u);
  EXPECT_EQ((*bt)[0].tid, child->tids().back());
  int waiting = 0;
  for (const auto& t : *bt) {
    auto n = names(t);
    waiting += std::find(n.begin(), n.end(), "crash_c_wait") != n.end();
  }
  EXPECT_EQ(waiting, 2);
}

TEST_F(BacktraceTest, RejectsAFileThatIsNotACore) {
  ASSERT_TRUE(write_file_atomic(dir_->path() / "core", "not an elf file"));
  auto bt = core_backtrace(dir_->path() / "core", dir_->path(), {});
  ASSERT_FALSE(bt);
  EXPECT_NE(bt.error().message.find("not an ELF core"), std::string::npos);
}

}  // namespace
}  // namespace rwd
