// Subprocess: run another program with an argv (never through a shell).
//
//   auto r = run_capture({"gdb", "--version"});
//   if (r && r->exit_code == 0) use(r->out);
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace rwd {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128+signal when killed by a signal
  std::string out;     // stdout
};

// Runs argv[0] (searched in PATH) to completion, stdout captured, stderr inherited.
Result<ProcessResult> run_capture(const std::vector<std::string>& argv);

// Replaces the current process image with argv (PATH searched). Returns only on failure.
Error exec_program(const std::vector<std::string>& argv);

// Finds a program in PATH; empty when absent.
std::string find_in_path(std::string_view program);

}  // namespace rwd
