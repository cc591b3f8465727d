#include "record/file_collector.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

TEST(GdbAutoLoadScripts, AreLookedUpWhereGdbLooks) {
  // $debugdir before $datadir/auto-load, gdb's default order.
  EXPECT_EQ(gdb_auto_load_scripts("/usr/bin/python3.11"),
            (std::vector<std::string>{"/usr/lib/debug/usr/bin/python3.11-gdb.py",
                                      "/usr/share/gdb/auto-load/usr/bin/python3.11-gdb.py"}));
}

}  // namespace
}  // namespace rwd
