#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/sha256.h"

namespace rwd {
namespace {

TEST(Files, AtomicWriteCreatesFileWithModeAndContent) {
  auto dir = TempDir::create("files-test");
  ASSERT_TRUE(dir) << dir.error().message;
  auto path = dir->path() / "a.txt";
  ASSERT_TRUE(write_file_atomic(path, "hello", 0600));
  auto back = read_file(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "hello");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Files, ReadMissingFileNamesThePathAndReason) {
  auto r = read_file("/nonexistent/rewind/x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/rewind/x"), std::string::npos);
  EXPECT_NE(r.error().message.find("no such file"), std::string::npos);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace rwd
