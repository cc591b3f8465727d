#include "store/upload_queue.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/sha256.h"
#include "store/file_store.h"

namespace rwd {
namespace {

class UploadQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::create("upload-queue-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
    spool_ = dir_->path() / "spool";
    store_root_ = dir_->path() / "store";
    std::filesystem::create_directories(store_root_);
  }
  std::filesystem::path make(const std::string& name, const std::string& content) {
    auto p = dir_->path() / name;
    EXPECT_TRUE(write_file_atomic(p, content));
    return p;
  }
  std::optional<TempDir> dir_;
  std::filesystem::path spool_;
  std::filesystem::path store_root_;
};

TEST_F(UploadQueueTest, EnqueuedRecordingIsUploadedVerifiedAndRemoved) {
  auto q = UploadQueue::open(spool_);
  ASSERT_TRUE(q) << q.error().message;
  auto src = make("a.rwd", "recording bytes");
  auto id = (*q)->enqueue(src, "h/app/20261127T120000Z-1-crash.rwd", {{"reason", "crash"}},
                          UploadQueue::Mode::kCopy);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ((*q)->depth(), 1u);
  EXPECT_TRUE(std::filesystem::exists(src));  // copied, not moved
  auto e = (*q)->entry(*id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->metadata["sha256"], sha256_hex("recording bytes"));
  EXPECT_EQ(e->metadata["size"], "15");

  std::vector<std::string> states;
  std::vector<size_t> depths;
  (*q)->set_status_callback([&](const QueueStatus& s) {
    states.emplace_back(to_string(s.state));
    depths.push_back(s.depth);
  });
  FileStore store(store_root_);
  ASSERT_TRUE((*q)->upload_all(store));
  EXPECT_EQ((*q)->depth(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(spool_));
  EXPECT_EQ(*read_file(store_root_ / "h/app/20261127T120000Z-1-crash.rwd"), "recording bytes");
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.front(), "uploading");
  EXPECT_EQ(depths.front(), 1u);
  EXPECT_EQ(states.back(), "idle");
  EXPECT_EQ(depths.back(), 0u);
}

TEST_F(UploadQueueTest, MoveModeTakesTheFile) {
  auto q = UploadQueue::open(spool_);
  ASSERT_TRUE(q);
  auto src = make("b.rwd", "x");
  ASSERT_TRUE((*q)->enqueue(src, "k.rwd", {}, UploadQueue::Mode::kMove));
  EXPECT_FALSE(std::filesystem::exists(src));
  EXPECT_EQ((*q)->depth(), 1u);
}

TEST_F(UploadQueueTest, OpenClearsInterruptedEnqueuesButKeepsCompleteEntries) {
  std::filesystem::create_directories(spool_);
  // An enqueue killed while copying, and one killed after its state but before the rename.
  ASSERT_TRUE(write_file_atomic(spool_ / ".x.rwd.partial-abc123", "half"));
  ASSERT_TRUE(write_queue_entry(spool_ / "orphan.json", QueueEntry{"k1.rwd", {}, {}}));
  // A complete entry with a multipart upload in flight.
  QueueEntry inflight{"k2.rwd", {{"sha256", "s"}}, {"upload-1", 5 << 20, {{1, "\"e\"", "c"}}}};
  ASSERT_TRUE(write_queue_entry(spool_ / "20261127T120000Z-a.json", inflight));
  ASSERT_TRUE(write_file_atomic(spool_ / "20261127T120000Z-a.rwd", "data"));
  auto q = UploadQueue::open(spool_);
  ASSERT_TRUE(q);
  EXPECT_FALSE(std::filesystem::exists(spool_ / ".x.rwd.partial-abc123"));
  EXPECT_FALSE(std::filesystem::exists(spool_ / "orphan.json"));
  ASSERT_EQ((*q)->ids(), std::vector<std::string>{"20261127T120000Z-a"});
  auto e = (*q)->entry("20261127T120000Z-a");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->upload.upload_id, "upload-1");
}

TEST_F(UploadQueueTest, FailedUploadStaysQueuedWithTheError) {
  auto q = UploadQueue::open(spool_);
  ASSERT_TRUE(q);
  ASSERT_TRUE((*q)->enqueue(make("c.rwd", "c"), "k.rwd", {}, UploadQueue::Mode::kCopy));
  std::string last_state;
  std::string last_error;
  (*q)->set_status_callback([&](const QueueStatus& s) {
    last_state = to_string(s.state);
    last_error = s.last_error;
  });
  FileStore store(dir_->path() / "absent-store-file");
  ASSERT_TRUE(write_file_atomic(dir_->path() / "absent-store-file", "a file, not a directory"));
  auto s = (*q)->upload_all(store);
  ASSERT_FALSE(s);
  EXPECT_EQ((*q)->depth(), 1u);
  EXPECT_EQ(last_state, "error");
  EXPECT_EQ(last_error, s.error().message);
}

TEST_F(UploadQueueTest, MissingSourceQueuesNothing) {
  auto q = UploadQueue::open(spool_);
  ASSERT_TRUE(q);
  auto id = (*q)->enqueue(dir_->path() / "absent.rwd", "k.rwd", {}, UploadQueue::Mode::kCopy);
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("absent.rwd"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(spool_));
}

}  // namespace
}  // namespace rwd
