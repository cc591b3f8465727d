#include "format/event.h"

namespace rwd {

std::string_view event_type_name(EventType t) {
  switch (t) {
    case EventType::kSyscall:
      return "syscall";
    case EventType::kSignal:
      return "signal";
    case EventType::kThreadStart:
      return "thread-start";
    case EventType::kThreadExit:
      return "thread-exit";
    case EventType::kExec:
      return "exec";
    case EventType::kProcessExit:
      return "exit";
    case EventType::kSyscallEntry:
      return "syscall-entry";
    case EventType::kPoint:
      return "point";
    case EventType::kRdtsc:
      return "rdtsc";
    case EventType::kRdtscPatch:
      return "rdtsc-patch";
    case EventType::kRdtscValues:
      return "rdtsc-values";
    case EventType::kCpuid:
      return "cpuid";
    case EventType::kClockPatch:
      return "clock-patch";
    case EventType::kClockValues:
      return "clock-values";
  }
  return "unknown";
}

Result<uint8_t> ByteReader::u8() {
  if (remaining() < 1) {
    return fail("truncated event data at byte {}", pos_);
  }
  return static_cast<uint8_t>(data_[pos_++]);
}

Result<uint32_t> ByteReader::u32() {
  if (remaining() < 4) {
    return fail("truncated event data at byte {}", pos_);
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += 4;
  return v;
}

Result<uint64_t> ByteReader::u64() {
  if (remaining() < 8) {
    return fail("truncated event data at byte {}", pos_);
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += 8;
  return v;
}

Result<std::string_view> ByteReader::bytes(size_t n) {
  if (remaining() < n) {
    return fail("truncated event data: {} bytes wanted at byte {}, {} left", n, pos_,
                remaining());
  }
  auto v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

namespace {

// A syscall's number and six arguments (syscall and syscall-entry events).
void put_call(std::string& out, const Event& e) {
  put_u64(out, static_cast<uint64_t>(e.sysno));
  for (uint64_t a : e.args) {
    put_u64(out, a);
  }
}

Status get_call(ByteReader& in, Event& e) {
  auto nr = in.u64();
  if (!nr) {
    return std::unexpected(nr.error());
  }
  e.sysno = static_cast<int64_t>(*nr);
  for (auto& a : e.args) {
    auto v = in.u64();
    if (!v) {
      return std::unexpected(v.error());
    }
    a = *v;
  }
  return ok();
}

void put_memory_list(std::string& out, const std::vector<MemoryBytes>& list) {
  put_u32(out, static_cast<uint32_t>(list.size()));
  for (const auto& m : list) {
    put_u64(out, m.addr);
    put_u64(out, m.bytes.size());
    out.append(m.bytes);
  }
}

Result<std::vector<MemoryBytes>> get_memory_list(ByteReader& in) {
  auto n = in.u32();
  if (!n) {
    return std::unexpected(n.error());
  }
  // Each entry takes at least 16 bytes, which bounds a hostile count.
  if (*n > in.remaining() / 16) {
    return fail("event claims {} memory captures but only {} bytes remain", *n, in.remaining());
  }
  std::vector<MemoryBytes> list;
  list.reserve(*n);
  for (uint32_t i = 0; i < *n; ++i) {
    auto addr = in.u64();
    auto len = in.u64();
    if (!addr || !len) {
      return fail("truncated memory capture in event");
    }
    if (*len > kMaxEventBytes) {
      return fail("memory capture of {} bytes exceeds the {} byte limit", *len, kMaxEventBytes);
    }
    auto b = in.bytes(static_cast<size_t>(*len));
    if (!b) {
      return std::unexpected(b.error());
    }
    list.push_back({*addr, std::string(*b)});
  }
  return list;
}

}  // namespace

void encode_event(const Event& e, std::string& out) {
  put_u8(out, static_cast<uint8_t>(e.type));
  put_u32(out, e.tid);
  put_u64(out, e.time_ns);
  switch (e.type) {
    case EventType::kSyscall:
      put_call(out, e);
      put_u64(out, static_cast<uint64_t>(e.result));
      put_u8(out, e.completed ? 1 : 0);
      put_memory_list(out, e.inputs);
      put_memory_list(out, e.outputs);
      break;
    case EventType::kSignal:
      put_u32(out, static_cast<uint32_t>(e.signo));
      put_u32(out, static_cast<uint32_t>(e.signal_code));
      put_u64(out, e.fault_addr);
      put_u8(out, e.fatal ? 1 : 0);
      break;
    case EventType::kThreadStart:
    case EventType::kThreadExit:
    case EventType::kProcessExit:
      put_u64(out, static_cast<uint64_t>(e.value));
      break;
    case EventType::kExec:
      put_u32(out, static_cast<uint32_t>(e.text.size()));
      out.append(e.text);
      break;
    case EventType::kSyscallEntry:
      put_call(out, e);
      break;
    case EventType::kPoint:
      put_u8(out, static_cast<uint8_t>(e.reason));
      put_u64(out, e.stack_hash);
      put_u32(out, static_cast<uint32_t>(e.regs.size()));
      out.append(e.regs);
      put_u32(out, static_cast<uint32_t>(e.siginfo.size()));
      out.append(e.siginfo);
      break;
    case EventType::kRdtsc:
      put_u64(out, static_cast<uint64_t>(e.value));
      put_u64(out, e.tsc);
      put_u32(out, e.tsc_aux);
      put_u8(out, e.rdtscp ? 1 : 0);
      break;
    case EventType::kRdtscPatch:
    case EventType::kRdtscValues:
    case EventType::kClockPatch:
    case EventType::kClockValues:
      put_u64(out, static_cast<uint64_t>(e.value));
      put_memory_list(out, e.outputs);
      break;
    case EventType::kCpuid:
      put_u64(out, static_cast<uint64_t>(e.value));
      for (uint64_t a : e.args) {
        put_u32(out, static_cast<uint32_t>(a));
      }
      break;
  }
}

namespace {

Result<std::string> get_blob(ByteReader& in, const char* what) {
  auto len = in.u32();
  if (!len) {
    return std::unexpected(len.error());
  }
  if (*len > kMaxPointBlob) {
    return fail("{} of {} bytes in a point event exceeds the {} byte limit", what, *len,
                kMaxPointBlob);
  }
  auto b = in.bytes(*len);
  if (!b) {
    return std::unexpected(b.error());
  }
  return std::string(*b);
}

}  // namespace

Result<Event> decode_event(ByteReader& in) {
  Event e;
  auto type = in.u8();
  auto tid = in.u32();
  auto time = in.u64();
  if (!type || !tid || !time) {
    return fail("truncated event header at byte {}", in.position());
  }
  if (*type < 1 || *type > static_cast<uint8_t>(EventType::kClockValues)) {
    return fail("unknown event type {} at byte {}", *type, in.position());
  }
  e.type = static_cast<EventType>(*type);
  e.tid = *tid;
  e.time_ns = *time;
  switch (e.type) {
    case EventType::kSyscall: {
      if (auto s = get_call(in, e); !s) {
        return std::unexpected(s.error());
      }
      auto result = in.u64();
      auto completed = in.u8();
      if (!result || !completed) {
        return fail("truncated syscall event");
      }
      e.result = static_cast<int64_t>(*result);
      e.completed = *completed != 0;
      auto inputs = get_memory_list(in);
      if (!inputs) {
        return std::unexpected(inputs.error());
      }
      e.inputs = std::move(*inputs);
      auto outputs = get_memory_list(in);
      if (!outputs) {
        return std::unexpected(outputs.error());
      }
      e.outputs = std::move(*outputs);
      break;
    }
    case EventType::kSignal: {
      auto signo = in.u32();
      auto code = in.u32();
      auto addr = in.u64();
      auto fatal = in.u8();
      if (!signo || !code || !addr || !fatal) {
        return fail("truncated signal event");
      }
      e.signo = static_cast<int32_t>(*signo);
      e.signal_code = static_cast<int32_t>(*code);
      e.fault_addr = *addr;
      e.fatal = *fatal != 0;
      break;
    }
    case EventType::kThreadStart:
    case EventType::kThreadExit:
    case EventType::kProcessExit: {
      auto v = in.u64();
      if (!v) {
        return std::unexpected(v.error());
      }
      e.value = static_cast<int64_t>(*v);
      break;
    }
    case EventType::kExec: {
      auto len = in.u32();
      if (!len) {
        return std::unexpected(len.error());
      }
      auto b = in.bytes(*len);
      if (!b) {
        return std::unexpected(b.error());
      }
      e.text = std::string(*b);
      break;
    }
    case EventType::kSyscallEntry: {
      if (auto s = get_call(in, e); !s) {
        return std::unexpected(s.error());
      }
      break;
    }
    case EventType::kPoint: {
      auto reason = in.u8();
      auto hash = in.u64();
      if (!reason || !hash) {
        return fail("truncated point event");
      }
      if (*reason < 1 || *reason > static_cast<uint8_t>(PointReason::kPreemptAtSyscall)) {
        return fail("unknown point reason {} at byte {}", *reason, in.position());
      }
      e.reason = static_cast<PointReason>(*reason);
      e.stack_hash = *hash;
      auto regs = get_blob(in, "registers");
      if (!regs) {
        return std::unexpected(regs.error());
      }
      e.regs = std::move(*regs);
      auto info = get_blob(in, "siginfo");
      if (!info) {
        return std::unexpected(info.error());
      }
      e.siginfo = std::move(*info);
      break;
    }
    case EventType::kRdtsc: {
      auto rip = in.u64();
      auto tsc = in.u64();
      auto aux = in.u32();
      auto p = in.u8();
      if (!rip || !tsc || !aux || !p) {
        return fail("truncated rdtsc event");
      }
      e.value = static_cast<int64_t>(*rip);
      e.tsc = *tsc;
      e.tsc_aux = *aux;
      e.rdtscp = *p != 0;
      break;
    }
    case EventType::kRdtscPatch:
    case EventType::kRdtscValues:
    case EventType::kClockPatch:
    case EventType::kClockValues: {
      auto v = in.u64();
      if (!v) {
        return std::unexpected(v.error());
      }
      e.value = static_cast<int64_t>(*v);
      auto outputs = get_memory_list(in);
      if (!outputs) {
        return std::unexpected(outputs.error());
      }
      e.outputs = std::move(*outputs);
      break;
    }
    case EventType::kCpuid: {
      auto rip = in.u64();
      if (!rip) {
        return std::unexpected(rip.error());
      }
      e.value = static_cast<int64_t>(*rip);
      for (uint64_t& a : e.args) {
        auto v = in.u32();
        if (!v) {
          return fail("truncated cpuid event");
        }
        a = *v;
      }
      break;
    }
  }
  return e;
}

}  // namespace rwd
