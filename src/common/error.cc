#include "common/error.h"

#include <string.h>

#include <cctype>

namespace rwd {

std::string errno_text(int err) {
  std::string s = strerrordesc_np(err) ? strerrordesc_np(err) : fmt::format("errno {}", err);
  if (!s.empty()) {
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  }
  return s;
}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name ? std::string(name) : fmt::format("E{}", err);
}

std::unexpected<Error> fail_errno_impl(int err, std::string message) {
  return std::unexpected(Error{fmt::format("{}: {}", message, errno_text(err)), err});
}

}  // namespace rwd
