#include "inspect/recording_summary.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "format/recording_writer.h"

namespace rwd {
namespace {

class SummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::create("summary-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
  }

  Result<RecordingReader> write(const nlohmann::json& manifest, const nlohmann::json* trailer) {
    auto path = dir_->path() / fmt::format("r{}.rwd", n_++);
    auto w = RecordingWriter::create(path);
    EXPECT_TRUE(w);
    EXPECT_TRUE(w->write_manifest(manifest));
    EXPECT_TRUE(w->add_blob({{"kind", "file"}, {"path", "/bin/app"}, {"role", "exe"}}, "x"));
    if (trailer != nullptr) {
      EXPECT_TRUE(w->finish(*trailer));
    }
    return RecordingReader::open(path);
  }

  std::optional<TempDir> dir_;
  int n_ = 0;
};

TEST_F(SummaryTest, ReportsManifestFactsAndTopSyscalls) {
  nlohmann::json m = {{"mode", "attach"},
                      {"target", {{"pid", 42}, {"exe", "/bin/app"}, {"cmdline", {"app", "-v"}}}},
                      {"start_time", "2026-01-01T00:00:00Z"}};
  nlohmann::json t = {{"stop_reason", "exit"},
                      {"exit_status", 3},
                      {"duration_ns", 1500000000},
                      {"threads", {42, 43}},
                      {"event_counts", {{"syscall", 10}, {"signal", 1}}},
                      {"syscall_counts", {{"read", 2}, {"write", 7}, {"openat", 1}}},
                      {"warnings", {"io_uring is not supported"}}};
  auto r = write(m, &t);
  ASSERT_TRUE(r) << r.error().message;
  auto s = summarize_recording(*r, {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)["target"]["pid"], 42);
  EXPECT_EQ((*s)["complete"], true);
  EXPECT_EQ((*s)["top_syscalls"][0]["name"], "write");
  EXPECT_EQ((*s)["top_syscalls"][1]["name"], "read");
  EXPECT_EQ((*s)["has_core"], false);
  std::string text = format_summary(*s);
  EXPECT_NE(text.find("pid 42: app -v"), std::string::npos) << text;
  EXPECT_NE(text.find("exit, exit status 3"), std::string::npos) << text;
  EXPECT_NE(text.find("(1.500 s)"), std::string::npos) << text;
  EXPECT_NE(text.find("write 7, read 2, openat 1"), std::string::npos) << text;
  EXPECT_NE(text.find("io_uring is not supported"), std::string::npos) << text;
  EXPECT_NE(text.find("no final state: the recorder stored no core"), std::string::npos) << text;
}

TEST_F(SummaryTest, ManyThreadsShowTheFirstOnesAndHowManyMore) {
  nlohmann::json tids = nlohmann::json::array();
  for (int tid = 1000; tid < 1040; ++tid) {
    tids.push_back(tid);
  }
  nlohmann::json t = {{"stop_reason", "interrupted"}, {"threads", tids}};
  auto r = write({{"mode", "attach"}}, &t);
  ASSERT_TRUE(r) << r.error().message;
  auto s = summarize_recording(*r, {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)["threads"].size(), 40u);  // the JSON keeps every one
  std::string text = format_summary(*s);
  EXPECT_NE(text.find("threads       40 1000 1001 "), std::string::npos) << text;
  EXPECT_NE(text.find(" 1015 and 24 more (rewind info --json lists them all)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(" 1016"), std::string::npos) << text;
}

TEST_F(SummaryTest, WrongTypesInTheManifestBecomeNullNotCrashes) {
  nlohmann::json m = {{"mode", 7},
                      {"target", "not an object"},
                      {"host", {{"hostname", {1, 2}}}},
                      {"threads", "many"}};
  nlohmann::json t = {{"crash", {{"tid", "abc"}, {"signal_name", 11}, {"fault_addr", nullptr}}},
                      {"syscall_counts", {{"read", "lots"}, {"write", 5}}},
                      {"event_counts", {1, 2, 3}},
                      {"warnings", {1, "real warning", nullptr}},
                      {"duration_ns", "long"}};
  auto r = write(m, &t);
  ASSERT_TRUE(r) << r.error().message;
  auto s = summarize_recording(*r, {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE((*s)["mode"].is_null());
  EXPECT_TRUE((*s)["target"]["pid"].is_null());
  EXPECT_TRUE((*s)["crash"]["tid"].is_null());
  EXPECT_EQ((*s)["threads"].size(), 0u);
  EXPECT_EQ((*s)["top_syscalls"].size(), 1u);
  EXPECT_EQ((*s)["warnings"], nlohmann::json({"real warning"}));
  std::string text = format_summary(*s);
  EXPECT_NE(text.find("crash"), std::string::npos) << text;
}

TEST_F(SummaryTest, CutShortRecordingSaysSo) {
  auto r = write({{"mode", "launch"}}, nullptr);
  ASSERT_TRUE(r) << r.error().message;
  auto s = summarize_recording(*r, {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)["complete"], false);
  std::string text = format_summary(*s);
  EXPECT_NE(text.find("no final state: the recording was cut short"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown (the recording has no trailer)"), std::string::npos) << text;
}

TEST_F(SummaryTest, CutShortRecordingCountsThreadsAndEventsFromTheLog) {
  auto path = dir_->path() / "cut.rwd";
  {
    auto w = RecordingWriter::create(path);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write_manifest({{"mode", "launch"}, {"initial_threads", {100}}}));
    Event start{.type = EventType::kThreadStart, .tid = 100, .value = 101};
    Event read{.type = EventType::kSyscall, .tid = 101, .sysno = 0};
    ASSERT_TRUE(w->append_event(start));
    ASSERT_TRUE(w->append_event(read));
    ASSERT_TRUE(w->append_event(read));
    ASSERT_TRUE(w->flush_events());
  }  // no finish(): the recorder was killed
  auto r = RecordingReader::open(path);
  ASSERT_TRUE(r) << r.error().message;
  auto s = summarize_recording(*r, {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)["counted_from_log"], true);
  EXPECT_EQ((*s)["threads"], nlohmann::json({100, 101}));
  EXPECT_EQ((*s)["event_counts"], nlohmann::json({{"syscall", 2}, {"thread-start", 1}}));
  EXPECT_EQ((*s)["top_syscalls"], nlohmann::json::parse(R"([{"name": "read", "count": 2}])"));
  std::string text = format_summary(*s);
  EXPECT_NE(text.find("threads       2 100 101 (counted from the event log: the recording was "
                      "cut short)"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace rwd
