// xml_escape: text made safe for XML character data and attribute values, for the S3
// request bodies and gdb's target documents alike.
//
//   body += fmt::format("<ETag>{}</ETag>", xml_escape(etag));
#pragma once

#include <string>
#include <string_view>

namespace rwd {

std::string xml_escape(std::string_view text);

}  // namespace rwd
