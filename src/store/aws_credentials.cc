#include "store/aws_credentials.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>

#include "common/files.h"
#include "common/log.h"
#include "store/http_client.h"
#include "store/sigv4.h"
#include "store/xml.h"

namespace rwd {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "2026-11-27T19:00:00Z" (STS also sends fractional seconds sometimes).
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view s) {
  std::tm tm{};
  std::string str(s);
  if (!strptime(str.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

constexpr auto kRefreshMargin = std::chrono::minutes(5);

}  // namespace

std::optional<std::string> real_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    return std::nullopt;
  }
  return std::string(v);
}

Result<AwsCredentials> parse_shared_credentials(std::string_view ini, std::string_view profile,
                                                std::string_view source) {
  AwsCredentials c;
  c.source = std::string(source);
  bool in_profile = false;
  bool found = false;
  while (!ini.empty()) {
    auto nl = ini.find('\n');
    std::string_view line = trim(ini.substr(0, nl));
    ini = nl == std::string_view::npos ? std::string_view() : ini.substr(nl + 1);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      continue;
    }
    if (line.front() == '[' && line.back() == ']') {
      std::string_view name = trim(line.substr(1, line.size() - 2));
      if (name.starts_with("profile ")) {  // config-file style, accepted for convenience
        name = trim(name.substr(8));
      }
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) {
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    std::string_view key = trim(line.substr(0, eq));
    std::string_view value = trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") {
      c.access_key_id = std::string(value);
    } else if (key == "aws_secret_access_key") {
      c.secret_access_key = std::string(value);
    } else if (key == "aws_session_token") {
      c.session_token = std::string(value);
    }
  }
  if (!found) {
    return fail("{}: no profile [{}] (set AWS_PROFILE to one of its profiles)", source, profile);
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return fail("{}: profile [{}] lacks aws_access_key_id or aws_secret_access_key", source,
                profile);
  }
  return c;
}

Result<AwsCredentials> parse_assume_role_response(std::string_view xml, std::string_view source) {
  auto doc = parse_xml(xml);
  if (!doc) {
    return fail("{}: STS sent an unreadable response ({})", source, doc.error().message);
  }
  if (doc->name == "ErrorResponse" || doc->name == "Error") {
    const XmlNode* err = doc->name == "Error" ? &*doc : doc->child("Error");
    std::string code = err ? err->child_text("Code") : "";
    std::string msg = err ? err->child_text("Message") : "";
    return fail("{}: STS refused AssumeRoleWithWebIdentity: {}: {} (check the role's trust "
                "policy and AWS_ROLE_ARN)",
                source, code, msg);
  }
  const XmlNode* creds = doc->find("Credentials");
  if (!creds) {
    return fail("{}: STS response has no Credentials element", source);
  }
  AwsCredentials c;
  c.source = std::string(source);
  c.access_key_id = creds->child_text("AccessKeyId");
  c.secret_access_key = creds->child_text("SecretAccessKey");
  c.session_token = creds->child_text("SessionToken");
  c.expiration = parse_iso8601(creds->child_text("Expiration"));
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return fail("{}: STS response lacks AccessKeyId or SecretAccessKey", source);
  }
  return c;
}

std::shared_ptr<CredentialProvider> CredentialProvider::fixed(AwsCredentials creds) {
  std::shared_ptr<CredentialProvider> p(new CredentialProvider());
  p->source_ = creds.source;
  p->cached_ = std::move(creds);
  return p;
}

Result<std::shared_ptr<CredentialProvider>> CredentialProvider::from_environment(
    std::string_view region, const EnvLookup& env) {
  std::shared_ptr<CredentialProvider> p(new CredentialProvider());
  auto key = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (key || secret) {
    p->source_ = "environment (AWS_ACCESS_KEY_ID)";
    if (!key || !secret) {
      return fail("{}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set",
                  p->source_);
    }
    p->cached_ = AwsCredentials{*key, *secret, env("AWS_SESSION_TOKEN").value_or(""), p->source_,
                                std::nullopt};
    return p;
  }
  auto profile_env = env("AWS_PROFILE");
  std::string profile = profile_env.value_or("default");
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE").value_or("");
  if (file.empty()) {
    file = env("HOME").value_or("") + "/.aws/credentials";
  }
  auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  auto role = env("AWS_ROLE_ARN");
  if (token_file && role && !profile_env) {
    WebIdentity w;
    w.token_file = *token_file;
    w.role_arn = *role;
    w.session_name = env("AWS_ROLE_SESSION_NAME").value_or(fmt::format("rewind-{}", getpid()));
    w.sts_url = env("AWS_STS_ENDPOINT").value_or(
        region.empty() ? std::string("https://sts.amazonaws.com")
                       : fmt::format("https://sts.{}.amazonaws.com", region));
    p->source_ = fmt::format("web identity (role {}, token file {})", w.role_arn, w.token_file);
    p->web_ = std::move(w);
    return p;
  }
  p->source_ = fmt::format("shared credentials file {} [profile {}]", file, profile);
  auto text = read_file(file);
  if (!text) {
    if (!std::filesystem::exists(file) && !profile_env) {
      return fail(
          "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
          "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or create {})",
          file);
    }
    return fail("{}: {}", p->source_, text.error().message);
  }
  auto c = parse_shared_credentials(*text, profile, p->source_);
  if (!c) {
    return std::unexpected(c.error());
  }
  p->cached_ = std::move(*c);
  return p;
}

Result<AwsCredentials> CredentialProvider::get() {
  std::lock_guard lock(mu_);
  if (cached_ && (!web_ || !cached_->expiration ||
                  std::chrono::system_clock::now() + kRefreshMargin < *cached_->expiration)) {
    return *cached_;
  }
  auto fresh = assume_role();
  if (!fresh) {
    // Keys that have not expired yet still work while STS is unavailable.
    if (cached_ && cached_->expiration && std::chrono::system_clock::now() < *cached_->expiration) {
      spdlog::warn("cannot refresh credentials: {}; using the current ones until they expire",
                   fresh.error().message);
      return *cached_;
    }
    return fresh;
  }
  cached_ = *fresh;
  return fresh;
}

Result<AwsCredentials> CredentialProvider::assume_role() {
  const WebIdentity& w = *web_;
  auto token = read_file(w.token_file);
  if (!token) {
    return fail("{}: cannot read the token: {} (is the service account token projected?)",
                source_, token.error().message);
  }
  std::string tok(trim(*token));
  while (!tok.empty() && tok.back() == '\n') {
    tok.pop_back();
  }
  std::string body = canonical_query({{"Action", "AssumeRoleWithWebIdentity"},
                                      {"Version", "2011-06-15"},
                                      {"RoleArn", w.role_arn},
                                      {"RoleSessionName", w.session_name},
                                      {"DurationSeconds", "3600"},
                                      {"WebIdentityToken", tok}});
  HttpClient http;
  HttpRequest req;
  req.method = "POST";
  req.url = w.sts_url;
  req.headers = {"Content-Type: application/x-www-form-urlencoded"};
  req.body = std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  std::string last_error;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
    }
    auto resp = http.perform(req);
    if (!resp) {
      last_error = resp.error().message;
      if (!resp.error().retryable) {
        break;
      }
      continue;
    }
    if (resp->status >= 500) {
      last_error = fmt::format("HTTP {}", resp->status);
      continue;
    }
    auto c = parse_assume_role_response(resp->body, source_);
    if (c) {
      spdlog::debug("assumed role {} until {}", w.role_arn,
                    c->expiration ? std::chrono::system_clock::to_time_t(*c->expiration) : 0);
    }
    return c;
  }
  return fail("{}: cannot reach STS at {}: {} (check AWS_STS_ENDPOINT and the network)", source_,
              w.sts_url, last_error);
}

}  // namespace rwd
