#include "k8s/api_objects.h"

#include <gtest/gtest.h>

namespace rwd::k8s {
namespace {

TEST(AnnotationPatchTest, SetsAndRemovesKeysWithNull) {
  auto patch = annotation_merge_patch(
      {{"rewind.dev/status", "idle"}, {"rewind.dev/error", std::nullopt}});
  EXPECT_EQ(patch.dump(),
            R"({"metadata":{"annotations":{"rewind.dev/error":null,"rewind.dev/status":"idle"}}})");
}

TEST(AnnotationPatchTest, EmptyChangesPatchNothing) {
  EXPECT_EQ(annotation_merge_patch({}).dump(), R"({"metadata":{"annotations":{}}})");
}

TEST(AnnotationPatchTest, ValuesAreJsonEscaped) {
  auto patch = annotation_merge_patch({{"rewind.dev/last-recording", "{\"uri\":\"s3://b/k\"}"}});
  EXPECT_EQ(patch["metadata"]["annotations"]["rewind.dev/last-recording"],
            "{\"uri\":\"s3://b/k\"}");
  EXPECT_NE(patch.dump().find(R"(\"uri\")"), std::string::npos);
}

TEST(EventObjectTest, FillsWhatEventsV1Requires) {
  EventSpec spec;
  spec.type = "Warning";
  spec.reason = "UploadFailed";
  spec.note = "cannot upload: bucket missing";
  spec.pod_namespace = "shop";
  spec.pod_name = "web-0";
  spec.pod_uid = "uid-1";
  auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'795'000'000'123'456));
  auto ev = event_object(spec, t);
  EXPECT_EQ(ev["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(ev["kind"], "Event");
  EXPECT_EQ(ev["metadata"]["name"], "web-0.18e91efd632f4a00");
  EXPECT_EQ(ev["metadata"]["namespace"], "shop");
  EXPECT_EQ(ev["eventTime"], micro_time(t));
  EXPECT_EQ(ev["type"], "Warning");
  EXPECT_EQ(ev["reason"], "UploadFailed");
  EXPECT_EQ(ev["action"], "UploadFailed");
  EXPECT_EQ(ev["note"], "cannot upload: bucket missing");
  EXPECT_EQ(ev["reportingController"], "rewind.dev/sidecar");
  EXPECT_EQ(ev["reportingInstance"], "web-0");
  EXPECT_EQ(ev["regarding"]["kind"], "Pod");
  EXPECT_EQ(ev["regarding"]["name"], "web-0");
  EXPECT_EQ(ev["regarding"]["uid"], "uid-1");
}

TEST(EventObjectTest, LongNotesAreCut) {
  EventSpec spec;
  spec.reason = "R";
  spec.note = std::string(5000, 'x');
  EXPECT_EQ(event_object(spec, {})["note"].get<std::string>().size(), 1024u);
}

TEST(MicroTimeTest, Rfc3339WithMicroseconds) {
  auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'000'000'007));
  EXPECT_EQ(micro_time(t), "1970-01-01T00:16:40.000007Z");
}

}  // namespace
}  // namespace rwd::k8s
