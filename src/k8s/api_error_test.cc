#include "k8s/api_error.h"

#include <gtest/gtest.h>

namespace rwd::k8s {
namespace {

constexpr const char* kForbidden =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)"
    R"("pods \"web-0\" is forbidden: User \"system:serviceaccount:shop:rewind\" cannot patch)"
    R"( resource \"pods\" in API group \"\" in the namespace \"shop\"","reason":"Forbidden",)"
    R"("code":403})";

TEST(ApiErrorTest, ForbiddenNamesTheRoleRuleToAdd) {
  auto e = http_error({"patch", "pods", "pod shop/web-0", ""}, 403, kForbidden);
  EXPECT_EQ(e.kind, ApiError::Kind::kHttp);
  EXPECT_EQ(e.http_status, 403);
  EXPECT_FALSE(e.retryable());
  EXPECT_TRUE(e.message.starts_with(
      "cannot patch pod shop/web-0: forbidden by RBAC (the sidecar's Role needs \"patch\" on "
      "pods; see deploy/base/rbac.yaml)"))
      << e.message;
  EXPECT_NE(e.message.find("cannot patch resource"), std::string::npos);
}

TEST(ApiErrorTest, ForbiddenInAnApiGroupSaysWhichGroup) {
  auto e = http_error({"create", "events", "event X", "events.k8s.io"}, 403, "");
  EXPECT_NE(e.message.find("\"create\" on events in events.k8s.io"), std::string::npos)
      << e.message;
}

TEST(ApiErrorTest, RetryableAndExpired) {
  ApiAction a{"get", "pods", "pod a/b", ""};
  EXPECT_TRUE(http_error(a, 500, "").retryable());
  EXPECT_TRUE(http_error(a, 503, "").retryable());
  EXPECT_TRUE(http_error(a, 429, "").retryable());
  EXPECT_FALSE(http_error(a, 404, "").retryable());
  EXPECT_FALSE(http_error(a, 401, "").retryable());
  EXPECT_TRUE(http_error(a, 410, "").expired());
  EXPECT_FALSE(http_error(a, 404, "").expired());
  EXPECT_TRUE((ApiError{ApiError::Kind::kTransport, 0, "x"}).retryable());
  EXPECT_FALSE((ApiError{ApiError::Kind::kTls, 0, "x"}).retryable());
}

TEST(ApiErrorTest, NotFoundPointsAtTheDownwardApi) {
  auto e = http_error({"get", "pods", "pod a/b", ""}, 404, "");
  EXPECT_NE(e.message.find("POD_NAME"), std::string::npos);
}

TEST(ApiErrorTest, StatusMessageOnlyFromStatusObjects) {
  EXPECT_EQ(status_message(R"({"kind":"Status","message":"m"})"), "m");
  EXPECT_EQ(status_message(R"({"kind":"Pod","message":"m"})"), "");
  EXPECT_EQ(status_message("<html>"), "");
}

}  // namespace
}  // namespace rwd::k8s
