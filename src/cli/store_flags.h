// Flags shared by the commands that talk to a store (push, ls, pull, upload-queue):
// S3 endpoint, region, server-side encryption and transfer tuning.
//
//   StoreOptions opts;
//   add_store_flags(cmd, opts);
//   ... after parsing: auto store = open_store(uri, opts);
#pragma once

#include <CLI/CLI.hpp>

#include "store/store.h"

namespace rwd::cli {

void add_store_flags(CLI::App* cmd, StoreOptions& options);

}  // namespace rwd::cli
