#include "store/store_uri.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

TEST(StoreUri, ParsesS3BucketAndPrefix) {
  auto u = parse_store_uri("s3://recordings/prod//eu");
  ASSERT_FALSE(u);  // empty segment
  u = parse_store_uri("s3://recordings/prod/eu/");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->kind, StoreUri::Kind::kS3);
  EXPECT_EQ(u->bucket, "recordings");
  EXPECT_EQ(u->prefix, "prod/eu");
  EXPECT_EQ(u->to_string(), "s3://recordings/prod/eu");
  EXPECT_EQ(u->object_uri("prod/eu/a.rwd"), "s3://recordings/prod/eu/prod/eu/a.rwd");
  u = parse_store_uri("s3://my-bucket.1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->prefix, "");
}

TEST(StoreUri, RejectsBadS3Uris) {
  for (const char* bad : {"s3://", "s3:///x", "s3://UPPER/x", "s3://ab", "s3://-bad/x",
                          "s3://under_score"}) {
    auto u = parse_store_uri(bad);
    EXPECT_FALSE(u) << bad;
    if (!u) {
      EXPECT_NE(u.error().message.find("s3://"), std::string::npos) << u.error().message;
    }
  }
}

TEST(StoreUri, ParsesFileUrisAndPaths) {
  auto u = parse_store_uri("file:///var/rec/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, StoreUri::Kind::kFile);
  EXPECT_EQ(u->path, "/var/rec");
  EXPECT_EQ(u->to_string(), "file:///var/rec");
  u = parse_store_uri("/a/b/../c");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/a/c");
  u = parse_store_uri("relative/dir");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->path.starts_with("/"));
  EXPECT_FALSE(parse_store_uri("file://relative"));
  EXPECT_FALSE(parse_store_uri(""));
  auto gs = parse_store_uri("gs://bucket/x");
  ASSERT_FALSE(gs);
  EXPECT_NE(gs.error().message.find("unknown scheme \"gs\""), std::string::npos);
}

TEST(StoreUri, SplitsObjectUris) {
  auto loc = split_object_uri(*parse_store_uri("s3://b12/p/q/x.rwd"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->key, "p/q/x.rwd");
  EXPECT_EQ(loc->store.prefix, "p/q");
  loc = split_object_uri(*parse_store_uri("s3://b12/x.rwd"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->key, "x.rwd");
  EXPECT_EQ(loc->store.prefix, "");
  loc = split_object_uri(*parse_store_uri("file:///d/x.rwd"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->key, "x.rwd");
  EXPECT_EQ(loc->store.path, "/d");
  EXPECT_FALSE(split_object_uri(*parse_store_uri("s3://b12/prefix")));
}

TEST(StoreUri, JoinsKeys) {
  EXPECT_EQ(join_key("", "a/b"), "a/b");
  EXPECT_EQ(join_key("/p/", "/a"), "p/a");
  EXPECT_EQ(join_key("p", ""), "p");
}

}  // namespace
}  // namespace rwd
