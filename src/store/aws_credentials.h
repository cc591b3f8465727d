// AWS credentials for the S3 store: where they come from, and keeping them fresh.
//
// Sources, first match wins:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN
//   2. the shared credentials file, when AWS_PROFILE is set explicitly
//   3. web identity (EKS IRSA and similar): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN,
//      exchanged with STS AssumeRoleWithWebIdentity (AWS_STS_ENDPOINT overrides the STS
//      URL); the temporary keys are renewed five minutes before they expire, re-reading
//      the token file, which the kubelet rotates
//   4. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
//      ~/.aws/credentials), profile AWS_PROFILE or "default"
// Every credential carries a human description of its source ("environment
// (AWS_ACCESS_KEY_ID)") for error messages. Secrets are never logged or put in errors.
//
// get() is thread-safe; parallel upload workers share one provider.
//
//   auto creds = CredentialProvider::from_environment("eu-west-1");
//   if (!creds) return creds.error();
//   auto c = (*creds)->get();  // AwsCredentials, refreshed when needed
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rwd {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  std::string source;         // e.g. "shared credentials file ~/.aws/credentials [profile ci]"
  std::optional<std::chrono::system_clock::time_point> expiration;
};

// Reads `profile` from the INI text of a shared credentials file.
Result<AwsCredentials> parse_shared_credentials(std::string_view ini, std::string_view profile,
                                                std::string_view source);

// Reads the temporary credentials from an AssumeRoleWithWebIdentity response (or its
// ErrorResponse, as an error).
Result<AwsCredentials> parse_assume_role_response(std::string_view xml, std::string_view source);

// Looks up an environment variable; injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
std::optional<std::string> real_env(const char* name);

class CredentialProvider {
 public:
  static Result<std::shared_ptr<CredentialProvider>> from_environment(std::string_view region,
                                                                      const EnvLookup& env = real_env);
  // Fixed credentials (tests, or a caller that resolved them itself).
  static std::shared_ptr<CredentialProvider> fixed(AwsCredentials creds);

  Result<AwsCredentials> get();
  // Description of the source, available even when get() fails.
  const std::string& source() const { return source_; }

 private:
  struct WebIdentity {
    std::string token_file;
    std::string role_arn;
    std::string session_name;
    std::string sts_url;
  };
  CredentialProvider() = default;
  Result<AwsCredentials> assume_role();

  std::mutex mu_;
  std::string source_;
  std::optional<AwsCredentials> cached_;
  std::optional<WebIdentity> web_;
};

}  // namespace rwd
