#include "sidecar/recordings_dir.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/files.h"
#include "store/object_key.h"

namespace rwd::sidecar {
namespace {

void write(const std::filesystem::path& p, std::string_view data) {
  std::ofstream(p) << data;
}

TEST(RecordingsDir, FinishRenamesWithReasonAndDropsEmptyFiles) {
  auto tmp = TempDir::create("rwd-dir-test");
  ASSERT_TRUE(tmp);
  auto dir = RecordingsDir::open(tmp->path() / "rec");
  ASSERT_TRUE(dir);
  auto t = std::chrono::system_clock::now();
  auto in = dir->incoming_path(42, t);
  write(in, "data");
  auto ready = dir->finish(in, "crash");
  ASSERT_TRUE(ready);
  EXPECT_FALSE(std::filesystem::exists(in));
  auto name = parse_recording_name(ready->filename().string());
  ASSERT_TRUE(name);
  EXPECT_EQ(name->pid, 42);
  EXPECT_EQ(name->reason, "crash");
  EXPECT_EQ(dir->ready_files().size(), 1u);

  auto empty = dir->incoming_path(43, t);
  write(empty, "");
  auto r = dir->finish(empty, "exit");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  EXPECT_FALSE(std::filesystem::exists(empty));
}

TEST(RecordingsDir, KeepsTheNewestRotatedAndReleasesThem) {
  auto tmp = TempDir::create("rwd-dir-test");
  ASSERT_TRUE(tmp);
  auto dir = RecordingsDir::open(tmp->path());
  ASSERT_TRUE(dir);
  auto t = std::chrono::system_clock::now();
  for (int i = 0; i < 4; ++i) {
    auto in = dir->incoming_path(10 + i, t + std::chrono::seconds(i));
    write(in, "x");
    auto deleted = dir->keep_rotated(in, 2);
    ASSERT_TRUE(deleted);
    EXPECT_EQ(*deleted, i >= 2 ? 1 : 0);
  }
  EXPECT_EQ(dir->kept_count(), 2u);
  EXPECT_EQ(dir->release_kept(), 2);
  auto ready = dir->ready_files();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(parse_recording_name(ready[0].filename().string())->pid, 12);
  EXPECT_EQ(parse_recording_name(ready[1].filename().string())->pid, 13);
}

TEST(RecordingsDir, RecoversIncompleteFilesNotInUse) {
  auto tmp = TempDir::create("rwd-dir-test");
  ASSERT_TRUE(tmp);
  auto dir = RecordingsDir::open(tmp->path());
  ASSERT_TRUE(dir);
  auto t = std::chrono::system_clock::now();
  auto busy = dir->incoming_path(1, t);
  auto dead = dir->incoming_path(2, t);
  write(busy, "a");
  write(dead, "b");
  write(dead.string() + ".log", "log");
  auto got = dir->recover_incomplete([&](const std::filesystem::path& p) { return p == busy; });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse_recording_name(got[0].filename().string())->reason, "incomplete");
  EXPECT_TRUE(std::filesystem::exists(busy));
  EXPECT_FALSE(std::filesystem::exists(dead.string() + ".log"));
}

TEST(RecordingsDir, FileInUseSeesOpenFiles) {
  auto tmp = TempDir::create("rwd-dir-test");
  ASSERT_TRUE(tmp);
  auto p = tmp->path() / "f";
  write(p, "x");
  EXPECT_FALSE(file_in_use(p));
  std::ifstream held(p);
  EXPECT_TRUE(file_in_use(p));
}

}  // namespace
}  // namespace rwd::sidecar
