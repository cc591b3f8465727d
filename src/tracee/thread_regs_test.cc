#include "tracee/thread_regs.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace rwd {
namespace {

TEST(ThreadRegs, FieldTableNamesEveryRegisterOnce) {
  std::set<std::string> names;
  user_regs_struct r{};
  unsigned long long n = 0;
  for (const auto& f : register_fields()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_EQ(r.*f.member, 0u) << f.name << " named twice";
    r.*f.member = ++n;
  }
  EXPECT_EQ(names.size() * sizeof(unsigned long long), sizeof(user_regs_struct));
  EXPECT_TRUE(names.count("rip") && names.count("fs_base") && names.count("orig_rax"));
}

TEST(ThreadRegs, JsonRoundTrip) {
  ThreadRegs t;
  t.tid = 42;
  unsigned long long n = 0x1000;
  for (const auto& f : register_fields()) {
    t.gp.*f.member = n++;
  }
  t.gp.rax = ~0ull;  // above INT64_MAX
  auto back = regs_from_json(t.json()["regs"]);
  ASSERT_TRUE(back) << back.error().message;
  for (const auto& f : register_fields()) {
    EXPECT_EQ((*back).*f.member, t.gp.*f.member) << f.name;
  }
  nlohmann::json missing = t.json()["regs"];
  missing.erase("rip");
  EXPECT_FALSE(regs_from_json(missing));
}

}  // namespace
}  // namespace rwd
