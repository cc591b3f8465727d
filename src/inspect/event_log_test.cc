#include "inspect/event_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <cstdio>

#include "common/files.h"
#include "format/recording_writer.h"

namespace rwd {
namespace {

Event openat_event(uint32_t tid, uint64_t t_ns, int64_t result) {
  Event e;
  e.tid = tid;
  e.time_ns = t_ns;
  e.sysno = SYS_openat;
  e.args = {static_cast<uint64_t>(AT_FDCWD), 0x1000, O_RDONLY | O_CLOEXEC, 0, 0, 0};
  e.result = result;
  e.inputs.push_back({0x1000, std::string("/etc/hosts\0", 11)});
  return e;
}

Event read_event(uint32_t tid, uint64_t t_ns) {
  Event e;
  e.tid = tid;
  e.time_ns = t_ns;
  e.sysno = SYS_read;
  e.args = {3, 0x2000, 4096, 0, 0, 0};
  e.result = 5;
  e.outputs.push_back({0x2000, "hello"});
  return e;
}

// Captures what print_event_log writes.
class Output {
 public:
  Output() : f_(open_memstream(&buf_, &len_)) {}
  ~Output() {
    if (f_) {
      std::fclose(f_);
    }
    std::free(buf_);
  }
  std::FILE* file() { return f_; }
  std::string text() {
    std::fflush(f_);
    return std::string(buf_, len_);
  }

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  std::FILE* f_;
};

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::create("inspect-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
    path_ = dir_->path() / "t.rwd";
  }

  // Two event chunks: 3 events, then `extra` more; finished when `finish`.
  void write(bool finish, int extra = 0) {
    auto w = RecordingWriter::create(path_);
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE(w->write_manifest({{"pid", 42}}));
    ASSERT_TRUE(w->append_event(openat_event(42, 1'500'000, 3)));
    ASSERT_TRUE(w->append_event(read_event(42, 2'000'123)));
    ASSERT_TRUE(w->append_event(openat_event(43, 1'000'000'000, -2)));
    ASSERT_TRUE(w->flush_events());
    for (int i = 0; i < extra; ++i) {
      ASSERT_TRUE(w->append_event(read_event(44, 2'000'000'000 + i)));
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

TEST_F(EventLogTest, PrintsEveryEventWithTimeAndThread) {
  write(true);
  auto r = RecordingReader::open(path_);
  ASSERT_TRUE(r) << r.error().message;
  Output out;
  auto n = print_event_log(*r, {}, false, out.file());
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(out.text(),
            "   0.001500      42 openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = 3\n"
            "   0.002000      42 read(3, \"hello\", 4096) = 5\n"
            "   1.000000      43 openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = -1 ENOENT "
            "(No such file or directory)\n");
}

TEST_F(EventLogTest, FiltersByThreadAndSyscall) {
  write(true);
  auto r = RecordingReader::open(path_);
  ASSERT_TRUE(r);
  auto f = EventFilter::parse(42, "read");
  ASSERT_TRUE(f);
  Output out;
  auto n = print_event_log(*r, *f, false, out.file());
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_NE(out.text().find("read(3, \"hello\""), std::string::npos);

  auto bad = EventFilter::parse(std::nullopt, "read,nosuchcall");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("nosuchcall"), std::string::npos);
}

TEST_F(EventLogTest, JsonLinesParse) {
  write(true);
  auto r = RecordingReader::open(path_);
  ASSERT_TRUE(r);
  Output out;
  ASSERT_TRUE(print_event_log(*r, {}, true, out.file()));
  std::string text = out.text();
  size_t lines = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    auto j = nlohmann::json::parse(text.substr(pos, nl - pos));
    EXPECT_EQ(j["type"], "syscall");
    ++lines;
    pos = nl + 1;
  }
  EXPECT_EQ(lines, 3u);
}

TEST_F(EventLogTest, CutShortRecordingPrintsWhatItHas) {
  write(false, 2000);
  auto full = read_file(path_);
  ASSERT_TRUE(full);
  auto cut = dir_->path() / "cut.rwd";
  ASSERT_TRUE(write_file_atomic(cut, std::string_view(*full).substr(0, full->size() - 10), 0600));
  auto r = RecordingReader::open(cut);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->truncation());
  Output out;
  auto n = print_event_log(*r, {}, false, out.file());
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);  // the complete first chunk
}

TEST_F(EventLogTest, DamagedEventChunkIsAnError) {
  write(true, 5000);
  auto full = read_file(path_);
  ASSERT_TRUE(full);
  std::string bad = *full;
  bad[bad.size() / 2] ^= 0x5a;  // inside the big second event chunk
  auto p = dir_->path() / "bad.rwd";
  ASSERT_TRUE(write_file_atomic(p, bad, 0600));
  auto r = RecordingReader::open(p);
  ASSERT_TRUE(r) << r.error().message;
  Output out;
  auto n = print_event_log(*r, {}, false, out.file());
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("damaged"), std::string::npos) << n.error().message;
  EXPECT_NE(out.text().find("read(3, \"hello\", 4096) = 5"), std::string::npos);
}

}  // namespace
}  // namespace rwd
