#include <fmt/format.h>

#include "cli/commands.h"
#include "format/recording_reader.h"
#include "inspect/sysroot.h"

namespace rwd::cli {

void add_extract_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "extract", "Unpack a recording into plain files: core, binaries, debug files, gdb script");
  auto file = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  cmd->add_option("file", *file, "the recording (.rwd)")->required();
  cmd->add_option("dir", *dir, "a new (or empty) directory to fill")->required();
  cmd->callback([&exit_code, file, dir] {
    auto reader = RecordingReader::open(*file);
    if (!reader) {
      fmt::print(stderr, "rewind extract: {}\n", reader.error().message);
      exit_code = 1;
      return;
    }
    auto x = extract_sysroot(*reader, *dir);
    if (!x) {
      fmt::print(stderr, "rewind extract: {}\n", x.error().message);
      exit_code = 1;
      return;
    }
    for (const auto& w : x->warnings) {
      fmt::print(stderr, "rewind extract: warning: {}\n", w);
    }
    fmt::print("extracted {} into {}\n", *file, x->dir.string());
    fmt::print("  {:<28} {} files at the paths the target saw\n", (x->root.string() + "/"),
               x->files.size());
    if (!x->vdso.empty()) {
      fmt::print("  {:<28} the vDSO image\n", x->vdso.string());
    }
    if (!x->core.empty()) {
      fmt::print("  {:<28} the final state (ELF core)\n", x->core.string());
    } else {
      fmt::print("  (no core: the recording was cut short before its final state)\n");
    }
    fmt::print("  {:<28} the manifest\n", x->manifest.string());
    fmt::print("  {:<28} gdb settings for the files above\n", x->gdbinit.string());
    fmt::print("debug it with:  gdb -x {}\n", x->gdbinit.string());
    exit_code = 0;
  });
}

}  // namespace rwd::cli
