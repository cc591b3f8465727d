#include "tracee/signals.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

namespace rwd {
namespace {

TEST(Signals, Names) {
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGRTMIN + 2), fmt::format("SIGRT_{}", SIGRTMIN + 2 - 32));
  EXPECT_EQ(signal_name(99), "99");
}

}  // namespace
}  // namespace rwd
