// The parts of an AWS Signature Version 4 request that rewind computes itself.
//
// libcurl (CURLOPT_AWS_SIGV4) computes the signature, but as of 7.88 it signs the URL
// path and query exactly as given and hashes only POSTFIELDS bodies. So rewind:
//   - encodes each path segment and query value the SigV4 way (RFC 3986 unreserved
//     characters kept, everything else %XX, '/' kept in paths),
//   - builds query strings already in canonical order (sorted by name, "name=" for
//     empty values such as "?uploads="),
//   - sends x-amz-content-sha256, which S3 requires: the real SHA-256 of the body (S3
//     verifies it) or UNSIGNED-PAYLOAD for multipart parts, whose integrity is checked
//     through x-amz-checksum-sha256 instead (one hash per byte, not two),
//   - adds Content-MD5 to single PUTs.
//
//   std::string q = canonical_query({{"uploadId", id}, {"partNumber", "3"}});
//   // "partNumber=3&uploadId=..."
//   curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_provider("eu-west-1").c_str());
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rwd {

// SigV4 URI encoding; `keep_slash` for object keys in paths.
std::string sigv4_uri_encode(std::string_view s, bool keep_slash);

// Sorted, encoded query string (without '?'), empty values as "name=".
std::string canonical_query(std::vector<std::pair<std::string, std::string>> params);

// The CURLOPT_AWS_SIGV4 parameter for S3 in `region`: "aws:amz:<region>:s3".
std::string sigv4_provider(std::string_view region, std::string_view service = "s3");

// SHA-256 of the empty body, the x-amz-content-sha256 of GET/HEAD/DELETE requests.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string base64_encode(std::span<const uint8_t> bytes);
// Content-MD5 value (base64 of the binary MD5) of `data`.
std::string content_md5(std::span<const uint8_t> data);

}  // namespace rwd
