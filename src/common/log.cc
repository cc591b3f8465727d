#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace rwd {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("rewind");
  logger->set_pattern("%^rewind %l%$: %v");
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

}  // namespace rwd
