#include "k8s/watch_event.h"

#include <gtest/gtest.h>

#include "k8s/pod.h"

namespace rwd::k8s {
namespace {

TEST(WatchEventTest, ModifiedPodCarriesObjectAndResourceVersion) {
  auto ev = parse_watch_event(
      R"({"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0",)"
      R"("namespace":"shop","uid":"u1","resourceVersion":"1234","annotations":)"
      R"({"rewind.dev/status":"uploading"}},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}}})");
  ASSERT_TRUE(ev.has_value()) << ev.error().message;
  EXPECT_EQ(ev->type, WatchEvent::Type::kModified);
  EXPECT_EQ(ev->resource_version, "1234");
  auto pod = parse_pod(ev->object);
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ(pod->name, "web-0");
  EXPECT_EQ(pod->namespace_, "shop");
  EXPECT_EQ(pod->uid, "u1");
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_EQ(pod->node_name, "n1");
  EXPECT_EQ(pod->annotation("rewind.dev/status"), "uploading");
  EXPECT_EQ(pod->annotation("rewind.dev/record"), std::nullopt);
}

TEST(WatchEventTest, BookmarkCarriesOnlyAResourceVersion) {
  auto ev = parse_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":)"
      R"({"resourceVersion":"99","annotations":{"k8s.io/initial-events-end":"true"}}}})");
  ASSERT_TRUE(ev.has_value()) << ev.error().message;
  EXPECT_EQ(ev->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(ev->resource_version, "99");
}

TEST(WatchEventTest, ExpiredErrorMeansRelist) {
  auto ev = parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)"
      R"j("status":"Failure","message":"too old resource version: 5 (120)","reason":"Expired",)j"
      R"("code":410}})");
  ASSERT_TRUE(ev.has_value()) << ev.error().message;
  EXPECT_EQ(ev->type, WatchEvent::Type::kError);
  EXPECT_TRUE(ev->expired());
  EXPECT_EQ(ev->error_code, 410);
  EXPECT_NE(ev->error_message.find("too old"), std::string::npos);

  auto other = parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","code":500,"message":"boom"}})");
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->expired());
}

TEST(WatchEventTest, DeletedAndAdded) {
  auto del = parse_watch_event(
      R"({"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"p","resourceVersion":"7"}}})");
  ASSERT_TRUE(del.has_value());
  EXPECT_EQ(del->type, WatchEvent::Type::kDeleted);
  auto add = parse_watch_event(
      R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p","resourceVersion":"8"}}})");
  ASSERT_TRUE(add.has_value());
  EXPECT_EQ(add->type, WatchEvent::Type::kAdded);
  EXPECT_EQ(to_string(add->type), "ADDED");
}

TEST(WatchEventTest, MalformedLinesAreRejectedWithContext) {
  for (const char* bad : {"", "not json", "[]", R"({"type":"ADDED"})",
                          R"({"type":"WHAT","object":{}})",
                          R"({"type":"MODIFIED","object":{"metadata":{"name":"p"}}})"}) {
    auto ev = parse_watch_event(bad);
    EXPECT_FALSE(ev.has_value()) << bad;
  }
}

TEST(PodTest, RejectsOtherKinds) {
  EXPECT_FALSE(parse_pod(nlohmann::json::parse(R"({"kind":"Status"})")).has_value());
  EXPECT_FALSE(parse_pod(nlohmann::json::parse(R"({"kind":"Pod"})")).has_value());
  EXPECT_FALSE(parse_pod(nlohmann::json::parse("[1]")).has_value());
}

}  // namespace
}  // namespace rwd::k8s
