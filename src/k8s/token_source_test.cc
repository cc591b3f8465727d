#include "k8s/token_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/files.h"

namespace rwd::k8s {
namespace {

TEST(TokenSourceTest, FixedToken) {
  TokenSource t("abc", {});
  EXPECT_EQ(t.current().value(), "abc");
}

TEST(TokenSourceTest, RereadsTheFileWhenTheKubeletRotatesIt) {
  auto dir = TempDir::create("token-test");
  ASSERT_TRUE(dir.has_value());
  // The kubelet's projected volume: token -> ..data/token, ..data -> a dated directory,
  // rotated by swapping the ..data symlink.
  namespace fs = std::filesystem;
  const fs::path root = dir->path();
  fs::create_directory(root / "v1");
  ASSERT_TRUE(write_file_atomic(root / "v1" / "token", "first\n").has_value());
  fs::create_directory_symlink("v1", root / "..data");
  fs::create_symlink("..data/token", root / "token");

  TokenSource t({}, root / "token");
  EXPECT_EQ(t.current().value(), "first");
  EXPECT_EQ(t.current().value(), "first");

  fs::create_directory(root / "v2");
  ASSERT_TRUE(write_file_atomic(root / "v2" / "token", "second\n").has_value());
  fs::create_directory_symlink("v2", root / "..data_tmp");
  fs::rename(root / "..data_tmp", root / "..data");
  EXPECT_EQ(t.current().value(), "second");
}

TEST(TokenSourceTest, MissingOrEmptyFileIsAnError) {
  auto dir = TempDir::create("token-test");
  ASSERT_TRUE(dir.has_value());
  TokenSource missing({}, dir->path() / "token");
  auto r = missing.current();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("token"), std::string::npos);

  ASSERT_TRUE(write_file_atomic(dir->path() / "empty", "").has_value());
  TokenSource empty({}, dir->path() / "empty");
  EXPECT_FALSE(empty.current().has_value());
}

}  // namespace
}  // namespace rwd::k8s
