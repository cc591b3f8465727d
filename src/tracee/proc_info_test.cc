#include "tracee/proc_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace rwd {
namespace {

TEST(ProcInfo, OwnProcessSharesItsTimeNamespace) {
  EXPECT_TRUE(shares_time_namespace(::getpid()));
}

}  // namespace
}  // namespace rwd
