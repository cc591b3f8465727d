#include "store/sigv4.h"

#include <gtest/gtest.h>

#include "store/s3_client.h"

namespace rwd {
namespace {

std::span<const uint8_t> bytes(std::string_view s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(SigV4, EncodesLikeAws) {
  EXPECT_EQ(sigv4_uri_encode("a b+c/d~e_f.g-h", true), "a%20b%2Bc/d~e_f.g-h");
  EXPECT_EQ(sigv4_uri_encode("a/b=c", false), "a%2Fb%3Dc");
  EXPECT_EQ(sigv4_uri_encode("\xC3\xA9", false), "%C3%A9");
}

TEST(SigV4, CanonicalQueryIsSortedWithEmptyValues) {
  EXPECT_EQ(canonical_query({{"uploadId", "x/y"}, {"partNumber", "3"}}),
            "partNumber=3&uploadId=x%2Fy");
  EXPECT_EQ(canonical_query({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(canonical_query({{"prefix", "a b/"}, {"list-type", "2"}, {"continuation-token", "t=="}}),
            "continuation-token=t%3D%3D&list-type=2&prefix=a%20b%2F");
}

TEST(SigV4, ProviderString) { EXPECT_EQ(sigv4_provider("eu-west-1"), "aws:amz:eu-west-1:s3"); }

TEST(SigV4, ContentMd5AndBase64) {
  // RFC 1321 test vector: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72.
  EXPECT_EQ(content_md5(bytes("abc")), "kAFQmDzST7DWlj99KOF/cg==");
  EXPECT_EQ(base64_encode(bytes("")), "");
  EXPECT_EQ(base64_encode(bytes("f")), "Zg==");
  EXPECT_EQ(base64_encode(bytes("foob")), "Zm9vYg==");
}

TEST(Backoff, GrowsExponentiallyWithBoundedJitter) {
  EXPECT_EQ(backoff_ms(1, 200, 10000, 0.0), 100);
  EXPECT_EQ(backoff_ms(1, 200, 10000, 1.0), 200);
  EXPECT_EQ(backoff_ms(3, 200, 10000, 0.0), 400);
  EXPECT_EQ(backoff_ms(3, 200, 10000, 1.0), 800);
  EXPECT_EQ(backoff_ms(30, 200, 10000, 1.0), 10000);
  EXPECT_EQ(backoff_ms(30, 200, 10000, 0.0), 5000);
}

TEST(S3Error, ReadsErrorDocumentOrStatus) {
  HttpResponse r{403, {}, "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>"};
  auto e = parse_s3_error(r);
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message, "m");
  EXPECT_EQ(parse_s3_error(HttpResponse{404, {}, ""}).code, "NotFound");
  EXPECT_EQ(parse_s3_error(HttpResponse{418, {}, "not xml"}).code, "HTTP 418");
}

}  // namespace
}  // namespace rwd
