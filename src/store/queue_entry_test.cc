#include "store/queue_entry.h"

#include <gtest/gtest.h>

#include "common/files.h"

namespace rwd {
namespace {

TEST(QueueEntry, RoundTripsThroughJson) {
  QueueEntry e;
  e.key = "p/h/app/20261127T180005Z-1-crash.rwd";
  e.metadata = {{"sha256", "abc"}, {"size", "10"}};
  e.upload.upload_id = "u-1";
  e.upload.part_size = 8 << 20;
  e.upload.parts = {{1, "\"e1\"", "c1"}, {2, "\"e2\"", "c2"}};
  auto back = queue_entry_from_json(queue_entry_to_json(e), "x");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->key, e.key);
  EXPECT_EQ(back->metadata, e.metadata);
  EXPECT_EQ(back->upload.upload_id, "u-1");
  EXPECT_EQ(back->upload.part_size, e.upload.part_size);
  EXPECT_EQ(back->upload.parts, e.upload.parts);
}

TEST(QueueEntry, WithoutUploadHasNoUploadState) {
  QueueEntry e;
  e.key = "k.rwd";
  auto text = queue_entry_to_json(e);
  EXPECT_EQ(text.find("upload"), std::string::npos);
  auto back = queue_entry_from_json(text, "x");
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->upload.upload_id.empty());
}

TEST(QueueEntry, RejectsMalformedState) {
  for (const char* bad : {"", "{", "[]", "{\"key\": 1, \"metadata\": {}}", "{\"metadata\": {}}",
                          "{\"key\": \"\", \"metadata\": {}}",
                          "{\"key\": \"k\", \"metadata\": {}, \"upload\": {\"upload_id\": \"u\"}}"}) {
    auto e = queue_entry_from_json(bad, "spool/x.json");
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("spool/x.json"), std::string::npos);
  }
}

TEST(QueueEntry, FileWriteIsAtomicAndReadable) {
  auto dir = TempDir::create("queue-entry-test");
  ASSERT_TRUE(dir);
  QueueEntry e;
  e.key = "k.rwd";
  e.metadata = {{"sha256", "s"}};
  auto path = dir->path() / "id.json";
  ASSERT_TRUE(write_queue_entry(path, e));
  e.upload.upload_id = "u";
  e.upload.part_size = 5 << 20;
  ASSERT_TRUE(write_queue_entry(path, e));
  auto back = read_queue_entry(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->upload.upload_id, "u");
  // No temporary files are left beside it.
  int files = 0;
  for ([[maybe_unused]] const auto& de : std::filesystem::directory_iterator(dir->path())) {
    ++files;
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace rwd
