#include "cli/store_flags.h"

namespace rwd::cli {

void add_store_flags(CLI::App* cmd, StoreOptions& o) {
  cmd->add_option("--s3-endpoint", o.s3_endpoint,
                  "S3-compatible server URL, e.g. http://127.0.0.1:7070 (default: "
                  "AWS_ENDPOINT_URL, else AWS S3); uses path-style addressing");
  cmd->add_option("--region", o.region, "S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)");
  cmd->add_option("--sse", o.sse, "server-side encryption: AES256 or aws:kms")
      ->check(CLI::IsMember({"AES256", "aws:kms"}));
  cmd->add_option("--sse-kms-key-id", o.sse_kms_key_id, "KMS key id for --sse aws:kms");
  cmd->add_option("--concurrency", o.concurrency, "multipart parts in flight")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  cmd->add_option("--retries", o.max_attempts, "attempts per request before giving up")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("--limit-rate", o.max_bytes_per_second, "upload bandwidth limit in bytes/s (0: none)");
  auto* part = cmd->add_option_function<uint64_t>(
      "--part-size-mib", [&o](uint64_t mib) { o.part_size = mib << 20; },
      "multipart part size in MiB (at least 5)");
  part->check(CLI::Range(5, 5120));
  cmd->add_option_function<uint64_t>(
      "--multipart-threshold-mib", [&o](uint64_t mib) { o.multipart_threshold = mib << 20; },
      "files at least this large go up as multipart uploads");
}

}  // namespace rwd::cli
