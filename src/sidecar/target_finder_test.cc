#include "sidecar/target_finder.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

namespace rwd::sidecar {
namespace {

// A child process with a distinctive name; the finder must see it (and never the test
// process itself, whose descendants are excluded — so the child is double-forked).
struct NamedProcess {
  pid_t pid = 0;
  explicit NamedProcess(const char* name) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t mid = ::fork();
    if (mid == 0) {
      pid_t child = ::fork();
      if (child == 0) {
        ::prctl(PR_SET_NAME, name);
        ::pause();
        ::_exit(0);
      }
      (void)::write(fds[1], &child, sizeof child);
      ::_exit(0);
    }
    ::waitpid(mid, nullptr, 0);
    EXPECT_EQ(::read(fds[0], &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
    ::close(fds[0]);
    ::close(fds[1]);
    // Wait until the name is visible.
    for (int i = 0; i < 200; ++i) {
      std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
      std::string comm;
      std::getline(f, comm);
      if (comm == name) {
        break;
      }
      ::usleep(5000);
    }
  }
  ~NamedProcess() { ::kill(pid, SIGKILL); }
};

TEST(TargetFinder, FindsByName) {
  NamedProcess p("rwd-tf-target");
  auto f = TargetFinder::create({TargetSelector::Kind::kName, "rwd-tf-target"});
  ASSERT_TRUE(f);
  auto t = f->find();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->pid, p.pid);
  EXPECT_EQ(t->comm, "rwd-tf-target");
  EXPECT_TRUE(f->alive(*t));
  ::kill(p.pid, SIGKILL);
  for (int i = 0; i < 200 && f->alive(*t); ++i) {
    ::usleep(5000);
  }
  EXPECT_FALSE(f->alive(*t));
}

// The task flags are field 9 of /proc/PID/stat: kthreadd (pid 2 outside a pid namespace)
// carries PF_KTHREAD there, and this test process carries neither it nor PF_EXITING.
TEST(TargetFinder, ReadsTheTaskFlags) {
  std::ifstream comm("/proc/2/comm");
  std::string name;
  std::getline(comm, name);
  if (name != "kthreadd") {
    GTEST_SKIP() << "pid 2 is not kthreadd here (a pid namespace)";
  }
  constexpr uint64_t kKthread = 0x00200000;
  auto kthreadd = read_proc_stat("/proc", 2);
  ASSERT_TRUE(kthreadd);
  EXPECT_TRUE(kthreadd->flags & kKthread) << std::hex << kthreadd->flags;
  EXPECT_EQ(kthreadd->ppid, 0);
  auto self = read_proc_stat("/proc", ::getpid());
  ASSERT_TRUE(self);
  EXPECT_FALSE(self->flags & kKthread) << std::hex << self->flags;
  EXPECT_FALSE(self->gone());
  EXPECT_GT(self->start_time, kthreadd->start_time);
}

TEST(TargetFinder, NeverMatchesItsOwnDescendants) {
  pid_t child = ::fork();
  if (child == 0) {
    ::prctl(PR_SET_NAME, "rwd-tf-own");
    ::pause();
    ::_exit(0);
  }
  ::usleep(50000);
  auto f = TargetFinder::create({TargetSelector::Kind::kName, "rwd-tf-own"});
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->find());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST(TargetFinder, ExeRegexAndErrors) {
  EXPECT_FALSE(TargetFinder::create({TargetSelector::Kind::kExe, "([bad"}));
  EXPECT_FALSE(TargetFinder::create({TargetSelector::Kind::kName, ""}));
  auto f = TargetFinder::create({TargetSelector::Kind::kExe, "/no/such/binary$"});
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->find());
  EXPECT_NE(f->describe().find("/no/such/binary$"), std::string::npos);
}

TEST(TargetFinder, ContainerWithoutIdMatchesNothing) {
  auto f = TargetFinder::create({TargetSelector::Kind::kContainer, "app"});
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->find());
  EXPECT_NE(f->describe().find("no containerID"), std::string::npos);
  EXPECT_EQ(strip_container_runtime("containerd://abc123"), "abc123");
  EXPECT_EQ(strip_container_runtime(""), "");
}

}  // namespace
}  // namespace rwd::sidecar
