#include "inspect/crash_evidence.h"

#include <csignal>
#include <cstring>

#include "inspect/syscall_formatter.h"

namespace rwd {

namespace {

// siginfo_t on x86-64: si_signo at 0, si_code at 8, si_pid (sent signals) at 16.
constexpr size_t kSiSignoOffset = 0;
constexpr size_t kSiPidOffset = 16;

std::optional<int32_t> siginfo_field(const std::string& siginfo, size_t offset) {
  int32_t v = 0;
  if (siginfo.size() < offset + sizeof v) {
    return std::nullopt;
  }
  std::memcpy(&v, siginfo.data() + offset, sizeof v);
  return v;
}

bool writes_to_stderr(const Event& e) {
  return e.type == EventType::kSyscall && e.args[0] == 2;
}

// The last `max_lines` lines of `text`; a final newline does not start a line.
std::string_view last_lines(std::string_view text, size_t max_lines) {
  size_t lines = 0;
  for (size_t i = text.size(); i > 0; --i) {
    if (text[i - 1] == '\n' && i != text.size() && ++lines == max_lines) {
      return text.substr(i);
    }
  }
  return text;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) {
      c = '?';
    }
  }
  return out;
}

}  // namespace

bool is_fault_signal(int signo) {
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
         signo == SIGABRT;
}

void CrashEvidence::add(const Event& e) {
  if (e.type == EventType::kPoint && e.reason == PointReason::kSignal) {
    pending_siginfo_[e.tid] = e.siginfo;
  } else if (e.type == EventType::kSignal) {
    add_signal(e);
  } else if (writes_to_stderr(e)) {
    if (auto bytes = written_data(e)) {
      add_stderr(*bytes);
    }
  }
}

void CrashEvidence::add_signal(const Event& e) {
  SignalRecord s{.signo = e.signo,
                 .code = e.signal_code,
                 .fault_addr = e.fault_addr,
                 .tid = e.tid,
                 .time_ns = e.time_ns,
                 .fatal = e.fatal};
  if (auto it = pending_siginfo_.find(e.tid); it != pending_siginfo_.end()) {
    if (e.signal_code <= 0 && siginfo_field(it->second, kSiSignoOffset) == e.signo) {
      s.sender_pid = siginfo_field(it->second, kSiPidOffset);
    }
    pending_siginfo_.erase(it);
  }
  if (is_fault_signal(e.signo) && e.signal_code > 0) {
    ++fault_count_;
    if (!first_fault_) {
      first_fault_ = s;
    }
  }
  if (e.fatal) {
    fatal_signal_ = s;
  }
}

void CrashEvidence::add_stderr(const std::string& bytes) {
  stderr_total_ += bytes.size();
  stderr_ += bytes;
  if (stderr_.size() > 2 * kStderrTailBytes) {
    stderr_.erase(0, stderr_.size() - kStderrTailBytes);
  }
}

StderrTail CrashEvidence::stderr_tail() const {
  std::string_view all(stderr_);
  if (all.size() > kStderrTailBytes) {
    all = all.substr(all.size() - kStderrTailBytes);
  }
  std::string_view tail = last_lines(all, kStderrTailLines);
  return {.text = printable(tail),
          .total_bytes = stderr_total_,
          .cut = tail.size() < stderr_total_};
}

}  // namespace rwd
