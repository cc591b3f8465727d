#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "common/files.h"
#include "format/recording_reader.h"
#include "format/recording_writer.h"

namespace rwd {
namespace {

Event sample_syscall(uint32_t tid, int i) {
  Event e;
  e.type = EventType::kSyscall;
  e.tid = tid;
  e.time_ns = static_cast<uint64_t>(i) * 1000;
  e.sysno = 0;
  e.args = {3, 0x7ffd0000, 16, 0, 0, 0};
  e.result = 5;
  e.inputs.push_back({0x1000, "/etc/hostname"});
  e.outputs.push_back({0x7ffd0000, "hello"});
  return e;
}

class RecordingFile : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::create("format-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
    path_ = dir_->path() / "t.rwd";
  }

  // Writes a recording with a manifest, a 20 MiB blob (3 pieces), 5000 events and a trailer.
  void write_sample(bool finish = true) {
    auto w = RecordingWriter::create(path_);
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE(w->write_manifest({{"pid", 42}, {"stop_reason", nullptr}}));
    std::string big(20u << 20, 'x');
    big[12345] = 'y';
    ASSERT_TRUE(w->add_blob({{"kind", "file"}, {"path", "/bin/app"}}, big));
    for (int i = 0; i < 5000; ++i) {
      ASSERT_TRUE(w->append_event(sample_syscall(7, i)));
    }
    if (finish) {
      ASSERT_TRUE(w->finish({{"stop_reason", "exit"}}));
    } else {
      ASSERT_TRUE(w->flush_events());
    }
  }

  std::optional<TempDir> dir_;
  std::filesystem::path path_;
};

TEST_F(RecordingFile, RoundTripsManifestBlobsAndEvents) {
  write_sample();
  struct stat st{};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "recordings hold process memory";

  auto r = RecordingReader::open(path_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->finished());
  EXPECT_FALSE(r->truncation());
  EXPECT_EQ(r->manifest()["pid"], 42);
  EXPECT_EQ(r->manifest()["stop_reason"], "exit");
  auto* blob = r->find_blob("file", "path", "/bin/app");
  ASSERT_NE(blob, nullptr);
  EXPECT_TRUE(blob->complete);
  EXPECT_EQ(blob->pieces.size(), 3u);
  auto data = r->read_blob(*blob);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->size(), 20u << 20);
  EXPECT_EQ((*data)[12345], 'y');
  int n = 0;
  ASSERT_TRUE(r->for_each_event([&](const Event& e) {
    EXPECT_EQ(e, sample_syscall(7, n));
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 5000);
}

TEST_F(RecordingFile, RefusesToOverwrite) {
  write_sample();
  auto w = RecordingWriter::create(path_);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("file exists"), std::string::npos);
}

TEST_F(RecordingFile, EveryTruncationOpensOrFailsCleanly) {
  write_sample(/*finish=*/false);
  auto full = read_file(path_);
  ASSERT_TRUE(full);
  // A cut exactly between two chunks leaves a valid, shorter file: nothing to report.
  std::set<size_t> boundaries;
  for (size_t off = kFileHeaderSize; off + kChunkHeaderSize <= full->size();) {
    boundaries.insert(off);
    uint64_t stored = 0;
    std::memcpy(&stored, full->data() + off + 20, sizeof stored);
    off += kChunkHeaderSize + stored;
  }
  boundaries.insert(full->size());
  // Cut at ~300 points spread over the file, inside headers and payloads alike.
  for (size_t cut = 0; cut < full->size(); cut += 1 + full->size() / 293) {
    auto p = dir_->path() / "cut.rwd";
    std::filesystem::remove(p);
    ASSERT_TRUE(write_file_atomic(p, std::string_view(*full).substr(0, cut), 0600));
    auto r = RecordingReader::open(p);
    if (!r) {
      continue;  // fine: a clear error
    }
    EXPECT_FALSE(r->finished());
    if (!boundaries.count(cut)) {
      EXPECT_TRUE(r->truncation().has_value()) << "cut at " << cut;
    }
    uint64_t events = 0;
    auto s = r->for_each_event([&](const Event&) {
      ++events;
      return true;
    });
    EXPECT_TRUE(s) << s.error().message;
  }
}

TEST_F(RecordingFile, CorruptedByteIsDetected) {
  write_sample();
  auto full = read_file(path_);
  ASSERT_TRUE(full);
  std::string bad = *full;
  bad[bad.size() / 2] ^= 0x5a;
  auto p = dir_->path() / "bad.rwd";
  ASSERT_TRUE(write_file_atomic(p, bad, 0600));
  auto r = RecordingReader::open(p);
  if (!r) {
    SUCCEED() << r.error().message;
    return;
  }
  // Either the scan noticed (truncation) or reading the damaged part fails.
  bool noticed = r->truncation().has_value();
  for (const auto& b : r->blobs()) {
    noticed = noticed || !r->read_blob(b);
  }
  noticed = noticed || !r->for_each_event([](const Event&) { return true; });
  EXPECT_TRUE(noticed);
}

TEST_F(RecordingFile, WrongVersionAndNonRecordingsAreNamed) {
  write_sample();
  auto full = read_file(path_);
  ASSERT_TRUE(full);
  std::string v2 = *full;
  v2[8] = 9;
  auto p = dir_->path() / "v9.rwd";
  ASSERT_TRUE(write_file_atomic(p, v2, 0600));
  auto r = RecordingReader::open(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("version 9 is not supported"), std::string::npos);

  auto q = dir_->path() / "text.rwd";
  ASSERT_TRUE(write_file_atomic(q, "hello, this is not a recording", 0600));
  auto r2 = RecordingReader::open(q);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("not a rewind recording"), std::string::npos);
}

}  // namespace
}  // namespace rwd
