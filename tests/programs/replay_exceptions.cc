// C++ exceptions: 10000 throws from five frames down (each frame holding a
// std::vector<std::string> that unwinding must destroy), caught, rethrown and caught
// again as the base class. The unwinder reads .eh_frame and calls dl_iterate_phdr.
// Prints a fixed line.
//
// Usage: replay_exceptions [loop SECONDS | repeat N]
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "replay_loop.h"

namespace {

constexpr int kThrows = 10000;

class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, int depth) : std::runtime_error(what), depth_(depth) {}
  int depth() const { return depth_; }

 private:
  int depth_;
};

long live_strings = 0;  // strings alive in the frames being unwound

struct Tracked {
  std::string text;
  explicit Tracked(std::string t) : text(std::move(t)) { ++live_strings; }
  Tracked(const Tracked& o) : text(o.text) { ++live_strings; }
  ~Tracked() { --live_strings; }
};

__attribute__((noinline)) void descend(int depth, int round) {
  std::vector<Tracked> frame;
  for (int i = 0; i <= depth; ++i) {
    frame.emplace_back("round " + std::to_string(round) + " depth " + std::to_string(depth));
  }
  if (depth == 5) {
    throw ParseError("unexpected token in " + frame.back().text, depth);
  }
  descend(depth + 1, round);
}

long throw_and_catch() {
  long characters = 0;
  for (int round = 0; round < kThrows; ++round) {
    try {
      try {
        descend(1, round);
      } catch (const ParseError& e) {
        characters += static_cast<long>(std::string(e.what()).size()) + e.depth();
        throw;
      }
    } catch (const std::exception& e) {
      characters += 1;
    }
  }
  return characters;
}

}  // namespace

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  long characters = 0;
  do {
    characters = throw_and_catch();
  } while (replay_loop_again(&loop));
  std::printf("exceptions: %d caught twice, %ld characters, %ld strings leaked\n", kThrows,
              characters, live_strings);
  return live_strings == 0 ? 0 : 1;
}
