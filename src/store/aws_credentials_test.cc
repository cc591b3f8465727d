#include "store/aws_credentials.h"

#include <gtest/gtest.h>

#include <map>

#include "common/files.h"

namespace rwd {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

TEST(Credentials, ParsesSharedCredentialsProfiles) {
  const char* ini =
      "# comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key=SDEF\n\n"
      "[ci]\r\naws_access_key_id=AKCI\r\naws_secret_access_key = SCI\r\naws_session_token = T\r\n";
  auto d = parse_shared_credentials(ini, "default", "file");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->access_key_id, "AKDEF");
  EXPECT_EQ(d->secret_access_key, "SDEF");
  auto ci = parse_shared_credentials(ini, "ci", "file");
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->session_token, "T");
  auto missing = parse_shared_credentials(ini, "prod", "the file");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("[prod]"), std::string::npos);
  EXPECT_NE(missing.error().message.find("the file"), std::string::npos);
}

TEST(Credentials, ErrorsNeverContainTheSecret) {
  auto c = parse_shared_credentials("[p]\naws_secret_access_key=TOPSECRET\n", "p", "file");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message.find("TOPSECRET"), std::string::npos);
}

TEST(Credentials, EnvironmentWinsAndNamesItsSource) {
  auto p = CredentialProvider::from_environment(
      "us-east-1", env_of({{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"},
                           {"AWS_SESSION_TOKEN", "ST"}, {"AWS_PROFILE", "x"}}));
  ASSERT_TRUE(p) << p.error().message;
  auto c = (*p)->get();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->session_token, "ST");
  EXPECT_NE((*p)->source().find("environment"), std::string::npos);
  auto half = CredentialProvider::from_environment("", env_of({{"AWS_ACCESS_KEY_ID", "AK"}}));
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

TEST(Credentials, ReadsTheSharedFileWithAProfile) {
  auto dir = TempDir::create("creds-test");
  ASSERT_TRUE(dir);
  auto file = dir->path() / "credentials";
  ASSERT_TRUE(write_file_atomic(file, "[ci]\naws_access_key_id=AK\naws_secret_access_key=SK\n"));
  auto p = CredentialProvider::from_environment(
      "", env_of({{"AWS_SHARED_CREDENTIALS_FILE", file.string()}, {"AWS_PROFILE", "ci"}}));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->get()->access_key_id, "AK");
  EXPECT_NE((*p)->source().find("[profile ci]"), std::string::npos);
  auto none = CredentialProvider::from_environment(
      "", env_of({{"AWS_SHARED_CREDENTIALS_FILE", (dir->path() / "absent").string()}}));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no AWS credentials found"), std::string::npos);
}

TEST(Credentials, WebIdentityIsChosenAndNamed) {
  auto p = CredentialProvider::from_environment(
      "eu-west-1", env_of({{"AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"},
                           {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"}}));
  ASSERT_TRUE(p);
  EXPECT_NE((*p)->source().find("web identity (role arn:aws:iam::1:role/r"), std::string::npos);
  auto c = (*p)->get();  // the token file is missing: a clear error, no network call
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("/nonexistent/token"), std::string::npos);
}

TEST(Credentials, ParsesAssumeRoleResponses) {
  auto c = parse_assume_role_response(
      "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA</AccessKeyId>"
      "<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
      "<Expiration>2026-11-27T19:00:00Z</Expiration></Credentials>"
      "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
      "web identity");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "ASIA");
  EXPECT_EQ(c->session_token, "T");
  ASSERT_TRUE(c->expiration);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*c->expiration), 1795806000);
  auto err = parse_assume_role_response(
      "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized</Message></Error>"
      "</ErrorResponse>",
      "web identity (role r)");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("AccessDenied"), std::string::npos);
  EXPECT_NE(err.error().message.find("web identity (role r)"), std::string::npos);
}

}  // namespace
}  // namespace rwd
