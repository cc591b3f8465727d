#include "store/store.h"

#include <curl/curl.h>

#include "common/sha256.h"
#include "store/file_store.h"
#include "store/s3_store.h"

namespace rwd {

Result<FileDigest> digest_file(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    return fail("cannot read {}: {}", file.string(), ec.message());
  }
  auto sha = sha256_file(file);
  if (!sha) {
    return std::unexpected(sha.error());
  }
  return FileDigest{*sha, size};
}

Result<std::unique_ptr<Store>> open_store(const StoreUri& uri, const StoreOptions& options) {
  if (uri.kind == StoreUri::Kind::kFile) {
    return std::make_unique<FileStore>(uri.path);
  }
  std::string region = options.region;
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (region.empty()) {
      region = real_env(var).value_or("");
    }
  }
  if (region.empty()) {
    region = "us-east-1";
  }
  if (options.sse != "" && options.sse != "AES256" && options.sse != "aws:kms") {
    return fail("bad server-side encryption \"{}\" (use AES256 or aws:kms)", options.sse);
  }
  if (!options.sse_kms_key_id.empty() && options.sse != "aws:kms") {
    return fail("a KMS key id needs server-side encryption aws:kms (pass --sse aws:kms)");
  }
  // libcurl before 8.10 sorts SigV4 canonical headers as whole "name:value" lines, so a
  // header whose name extends another's (x-amz-server-side-encryption-aws-kms-key-id)
  // lands in the wrong place and every request fails with SignatureDoesNotMatch
  // (curl/curl#14370). rewind's other headers have no such pairs.
  const curl_version_info_data* cv = curl_version_info(CURLVERSION_NOW);
  if (!options.sse_kms_key_id.empty() && cv->version_num < 0x080a00) {
    return fail(
        "--sse-kms-key-id needs libcurl 8.10 or newer (this is {}, whose request signing "
        "orders that header wrongly); leave the key id out to use the bucket's default KMS "
        "key, or set it as the bucket's default encryption",
        cv->version);
  }
  S3Config config;
  config.bucket = uri.bucket;
  config.region = region;
  config.endpoint = options.s3_endpoint;
  for (const char* var : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    if (config.endpoint.empty()) {
      config.endpoint = real_env(var).value_or("");
    }
  }
  if (config.endpoint.empty()) {
    // AWS itself: virtual-hosted addressing, except for bucket names with dots, which
    // would not match the wildcard certificate.
    config.endpoint = fmt::format("https://s3.{}.amazonaws.com", region);
    config.path_style = uri.bucket.find('.') != std::string::npos;
  } else {
    if (!config.endpoint.starts_with("http://") && !config.endpoint.starts_with("https://")) {
      return fail("bad S3 endpoint \"{}\" (use http://HOST:PORT or https://HOST)",
                  config.endpoint);
    }
    while (config.endpoint.ends_with('/')) {
      config.endpoint.pop_back();
    }
    config.path_style = true;  // S3-compatible servers rarely have wildcard DNS
  }
  auto creds = CredentialProvider::from_environment(region);
  if (!creds) {
    return fail("cannot use {}: {}", uri.to_string(), creds.error().message);
  }
  config.credentials = std::move(*creds);
  config.max_attempts = std::max(1, options.max_attempts);
  int conns = std::max(1, options.concurrency);
  config.max_bytes_per_second = options.max_bytes_per_second / static_cast<uint64_t>(conns);
  return std::make_unique<S3Store>(std::move(config), uri.prefix, options);
}

Result<ObjectInfo> Store::head(const std::string& key) {
  auto f = find(key);
  if (!f) {
    return std::unexpected(f.error());
  }
  if (!*f) {
    return fail("cannot read {}: no such object (list the store with 'rewind ls')", uri(key));
  }
  return std::move(**f);
}

}  // namespace rwd
