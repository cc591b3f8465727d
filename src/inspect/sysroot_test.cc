#include "inspect/sysroot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"
#include "format/recording_writer.h"

namespace rwd {
namespace {

class SysrootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::create("sysroot-test");
    ASSERT_TRUE(d);
    dir_.emplace(std::move(*d));
  }

  // A recording with an executable, a library, the vDSO, a debug file, a core and
  // hostile paths that must not be written outside the sysroot.
  std::filesystem::path write_recording(bool with_core) {
    auto path = dir_->path() / (with_core ? "full.rwd" : "short.rwd");
    auto w = RecordingWriter::create(path);
    EXPECT_TRUE(w);
    EXPECT_TRUE(w->write_manifest({{"target", {{"exe", "/opt/app/bin/app"}}}}));
    auto file = [&](const std::string& p, const std::string& role, const std::string& data) {
      EXPECT_TRUE(w->add_blob({{"kind", "file"}, {"path", p}, {"role", role}}, data));
    };
    file("/opt/app/bin/app", "exe", "EXE");
    file("/usr/lib/x86_64-linux-gnu/libc.so.6", "library", "LIBC");
    file("[vdso]", "vdso", "VDSO");
    file("/usr/lib/debug/.build-id/ab/cdef.debug", "debug", "DEBUG");
    file("../../escape", "library", "BAD1");
    file("/usr/lib/../../../escape2", "library", "BAD2");
    file("relative/lib.so", "library", "BAD3");
    file("/", "library", "BAD4");
    if (with_core) {
      EXPECT_TRUE(w->add_blob({{"kind", "core"}, {"name", "final"}}, "CORE"));
      EXPECT_TRUE(w->finish({{"stop_reason", "crash"}}));
    }
    return path;
  }

  std::optional<TempDir> dir_;
};

TEST_F(SysrootTest, LaysOutFilesCoreAndGdbInit) {
  auto reader = RecordingReader::open(write_recording(true));
  ASSERT_TRUE(reader) << reader.error().message;
  auto out = dir_->path() / "x";
  auto x = extract_sysroot(*reader, out);
  ASSERT_TRUE(x) << x.error().message;
  EXPECT_EQ(*read_file(out / "root/opt/app/bin/app"), "EXE");
  EXPECT_EQ(*read_file(out / "root/usr/lib/x86_64-linux-gnu/libc.so.6"), "LIBC");
  EXPECT_EQ(*read_file(out / "root/usr/lib/debug/.build-id/ab/cdef.debug"), "DEBUG");
  EXPECT_EQ(*read_file(out / "vdso.so"), "VDSO");
  EXPECT_EQ(*read_file(out / "core"), "CORE");
  EXPECT_EQ(x->exe, out / "root/opt/app/bin/app");
  EXPECT_EQ(x->core, out / "core");
  EXPECT_EQ(x->files.size(), 3u);
  EXPECT_EQ(x->warnings.size(), 4u);  // the four hostile paths

  auto manifest = nlohmann::json::parse(*read_file(out / "manifest.json"));
  EXPECT_EQ(manifest["stop_reason"], "crash");
  std::string init = *read_file(out / "gdbinit");
  EXPECT_NE(init.find("set sysroot " + (out / "root").string() + "\n"), std::string::npos);
  EXPECT_NE(init.find("set debug-file-directory " + (out / "root/usr/lib/debug").string()),
            std::string::npos);
  EXPECT_NE(init.find("set solib-search-path " + (out / "root/usr/lib/x86_64-linux-gnu").string()),
            std::string::npos);
  EXPECT_NE(init.find("file " + (out / "root/opt/app/bin/app").string()), std::string::npos);
  EXPECT_NE(init.find("core-file " + (out / "core").string()), std::string::npos);
  EXPECT_EQ(init.find("auto-load"), std::string::npos);  // no helpers bundled, none trusted
  // Nothing escaped the directory.
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "escape"));
  EXPECT_FALSE(std::filesystem::exists(dir_->path().parent_path() / "escape"));
  EXPECT_FALSE(std::filesystem::exists(out / "relative"));
}

TEST_F(SysrootTest, CutShortRecordingHasNoCoreLine) {
  auto reader = RecordingReader::open(write_recording(false));
  ASSERT_TRUE(reader) << reader.error().message;
  auto x = extract_sysroot(*reader, dir_->path() / "x");
  ASSERT_TRUE(x) << x.error().message;
  EXPECT_TRUE(x->core.empty());
  std::string init = *read_file(x->gdbinit);
  EXPECT_EQ(init.find("core-file"), std::string::npos);
  EXPECT_NE(init.find("cut short"), std::string::npos);
}

TEST_F(SysrootTest, RefusesNonEmptyDirectory) {
  auto reader = RecordingReader::open(write_recording(true));
  ASSERT_TRUE(reader);
  std::filesystem::create_directories(dir_->path() / "busy");
  ASSERT_TRUE(write_file_atomic(dir_->path() / "busy/file", "x"));
  auto x = extract_sysroot(*reader, dir_->path() / "busy");
  ASSERT_FALSE(x);
  EXPECT_NE(x.error().message.find("not empty"), std::string::npos);
}

TEST_F(SysrootTest, PutsGdbHelpersBesideTheirFileAndTrustsOnlyThoseThisMachineHas) {
  // Where the recording's machine had its helpers: here one is the same, one differs.
  auto same = dir_->path() / "same-gdb.py";
  auto changed = dir_->path() / "changed-gdb.py";
  ASSERT_TRUE(write_file_atomic(same, "PY-BT"));
  ASSERT_TRUE(write_file_atomic(changed, "OLD"));
  auto path = dir_->path() / "helpers.rwd";
  {
    auto w = RecordingWriter::create(path);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write_manifest({{"target", {{"exe", "/usr/bin/python3.11"}}}}));
    ASSERT_TRUE(w->add_blob({{"kind", "file"}, {"path", "/usr/bin/python3.11"}, {"role", "exe"}},
                            "EXE"));
    ASSERT_TRUE(w->add_blob({{"kind", "file"},
                             {"path", same.string()},
                             {"role", "gdb-script"},
                             {"objfile", "/usr/bin/python3.11"}},
                            "PY-BT"));
    ASSERT_TRUE(w->add_blob({{"kind", "file"},
                             {"path", changed.string()},
                             {"role", "gdb-script"},
                             {"objfile", "/usr/lib/libfoo.so"}},
                            "NEW"));
    ASSERT_TRUE(w->add_blob({{"kind", "file"},
                             {"path", "/usr/share/gdb/auto-load/x-gdb.py"},
                             {"role", "gdb-script"},
                             {"objfile", "/../../x"}},
                            "BAD"));
    ASSERT_TRUE(w->finish({{"stop_reason", "crash"}}));
  }
  auto reader = RecordingReader::open(path);
  ASSERT_TRUE(reader) << reader.error().message;
  auto out = dir_->path() / "x";
  auto x = extract_sysroot(*reader, out);
  ASSERT_TRUE(x) << x.error().message;
  auto helper = out / "root/usr/bin/python3.11-gdb.py";
  EXPECT_EQ(*read_file(helper), "PY-BT");
  ASSERT_EQ(x->gdb_scripts.size(), 1u);
  EXPECT_EQ(x->gdb_scripts[0], helper);
  // The changed helper and the one for a hostile path.
  ASSERT_EQ(x->warnings.size(), 2u);
  EXPECT_NE(x->warnings[0].find(changed.string()), std::string::npos) << x->warnings[0];
  EXPECT_NE(x->warnings[0].find("set auto-load safe-path /"), std::string::npos);
  std::string init = *read_file(x->gdbinit);
  auto trust = init.find("add-auto-load-safe-path " + helper.string() + "\n");
  ASSERT_NE(trust, std::string::npos);
  EXPECT_EQ(init.find("libfoo.so-gdb.py"), std::string::npos);  // not trusted
  EXPECT_LT(trust, init.find("\nfile "));  // `file` loads the helper: trusted before
  // Modules a helper imports from beside itself come from this machine, outside the root.
  EXPECT_LT(init.find("set sysroot"), init.find("sys.meta_path.append(RewindSysrootImports)"));
}

TEST(GdbScriptInRoot, GoesBesideItsFile) {
  nlohmann::json meta = {{"path", "/usr/share/gdb/auto-load/usr/lib/libpython3.11.so.1.0-gdb.py"},
                         {"objfile", "/usr/lib/libpython3.11.so.1.0"}};
  EXPECT_EQ(*gdb_script_in_root("/r", meta), "/r/usr/lib/libpython3.11.so.1.0-gdb.py");
  EXPECT_FALSE(gdb_script_in_root("/r", {{"path", "/usr/share/gdb/auto-load/a-gdb.py"}}));
  EXPECT_FALSE(gdb_script_in_root("/r", {{"objfile", "/usr/../../etc/profile"}}));
}

TEST(PathInRoot, KeepsPathsInsideTheRoot) {
  EXPECT_EQ(*path_in_root("/r", "/usr/lib/libc.so.6"), "/r/usr/lib/libc.so.6");
  EXPECT_EQ(*path_in_root("/r", "//usr/./lib//x"), "/r/usr/lib/x");
  EXPECT_FALSE(path_in_root("/r", "usr/lib"));
  EXPECT_FALSE(path_in_root("/r", "/usr/../../etc/passwd"));
  EXPECT_FALSE(path_in_root("/r", "/"));
  EXPECT_FALSE(path_in_root("/r", ""));
  EXPECT_FALSE(path_in_root("/r", std::string_view("/a\0b", 4)));
}

}  // namespace
}  // namespace rwd
