// GdbServer driven over a socketpair by a scripted "gdb" client, against
// TestDebugTarget (which stands in for the replay): these tests pin the protocol
// layer, packet by packet.
#include "gdb/gdb_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "gdb/amd64_registers.h"
#include "gdb/gdb_packet.h"
#include "gdb/test_debug_target.h"

namespace rwd {
namespace {

using testing::TestDebugTarget;

// The gdb end of the connection.
class ScriptedGdb {
 public:
  explicit ScriptedGdb(int fd) : fd_(fd) {}

  void send_raw(std::string_view bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // Sends a packet and returns the server's reply; console output (O packets) the
  // server sends first is collected in `console`.
  std::string ask(std::string_view payload) {
    send_raw(frame_packet(payload));
    if (ack_mode) {
      auto ev = next();
      EXPECT_EQ(ev.kind, InputEvent::Kind::kAck) << "for " << payload;
    }
    return reply();
  }

  std::string reply() {
    for (;;) {
      InputEvent ev = next();
      if (ev.kind != InputEvent::Kind::kPacket) {
        ADD_FAILURE() << "expected a packet";
        return {};
      }
      if (ack_mode) {
        send_raw("+");
      }
      if (ev.payload.starts_with("O") && ev.payload != "OK") {
        console += *hex_decode(ev.payload.substr(1));
        continue;
      }
      return ev.payload;
    }
  }

  // Reads an object with qXfer in small windows, so the 'm'/'l' continuation and the
  // binary escaping are both exercised.
  std::string xfer(std::string_view object, std::string_view annex) {
    std::string doc;
    for (;;) {
      std::string r = ask(fmt::format("qXfer:{}:read:{}:{:x},40", object, annex, doc.size()));
      if (r.empty() || (r[0] != 'm' && r[0] != 'l')) {
        ADD_FAILURE() << "qXfer reply " << r;
        return doc;
      }
      doc += *unescape_binary(std::string_view(r).substr(1));
      if (r[0] == 'l') {
        return doc;
      }
    }
  }

  bool ack_mode = true;
  std::string console;

  InputEvent next() {
    for (;;) {
      if (auto ev = parser_.next()) {
        return *ev;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) {
        ADD_FAILURE() << "no answer from the server";
        return InputEvent{InputEvent::Kind::kBadPacket, {}};
      }
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        ADD_FAILURE() << "server closed the connection";
        return InputEvent{InputEvent::Kind::kBadPacket, {}};
      }
      parser_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }


 private:
  int fd_;
  PacketParser parser_;
};

class GdbServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    server_end_.reset(fds[0]);
    gdb_end_.reset(fds[1]);
    gdb_ = std::make_unique<ScriptedGdb>(gdb_end_.get());
    thread_ = std::thread([this] { result_ = server_.serve(server_end_.get()); });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      gdb_end_.reset();  // EOF ends serve() if the test did not
      thread_.join();
    }
  }

  // Stops acking, as gdb does right after qSupported.
  void no_ack() {
    ASSERT_EQ(gdb_->ask("QStartNoAckMode"), "OK");
    gdb_->ack_mode = false;
  }

  // Waits for serve() to return, as it must after D, k or vKill.
  void expect_session_end() {
    thread_.join();
    EXPECT_TRUE(result_.has_value()) << result_.error().message;
  }

  std::string stop_regs(uint64_t rip) {
    TargetRegisters r = *target_.registers(TestDebugTarget::kMainTid);
    r.gp.rip = rip;
    return fmt::format("06:{};07:{};10:{};", hex_encode(*encode_register(r, kAmd64Rbp)),
                       hex_encode(*encode_register(r, kAmd64Rsp)),
                       hex_encode(*encode_register(r, kAmd64Rip)));
  }

  TestDebugTarget target_;
  GdbServer server_{target_};
  UniqueFd server_end_;
  UniqueFd gdb_end_;
  std::unique_ptr<ScriptedGdb> gdb_;
  std::thread thread_;
  Status result_;
};

TEST_F(GdbServerTest, HandshakeAdvertisesWhatGdbNeeds) {
  gdb_->send_raw("+");  // gdb opens with an ack
  std::string features = gdb_->ask("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
  for (const char* f :
       {"PacketSize=", "QStartNoAckMode+", "qXfer:features:read+", "qXfer:auxv:read+",
        "qXfer:exec-file:read+", "qXfer:threads:read+", "ReverseContinue+", "ReverseStep+",
        "swbreak+", "hwbreak+", "vContSupported+", "multiprocess-"}) {
    EXPECT_NE(features.find(f), std::string::npos) << f;
  }
  EXPECT_EQ(gdb_->ask("vMustReplyEmpty"), "");
  no_ack();
  EXPECT_EQ(gdb_->ask("qAttached"), "1");
  EXPECT_EQ(gdb_->ask("qTStatus"), "");
  EXPECT_EQ(gdb_->ask("qSymbol::"), "OK");
  EXPECT_EQ(gdb_->ask("qC"), "QC1092");
  EXPECT_EQ(gdb_->ask("?"), "T05thread:1092;" + stop_regs(TestDebugTarget::kCodeStart));
  EXPECT_EQ(gdb_->ask("qNoSuchThing"), "");
  EXPECT_EQ(gdb_->ask("D"), "OK");
  expect_session_end();
}

TEST_F(GdbServerTest, BadChecksumIsNackedAndResent) {
  gdb_->send_raw("$qC#00");
  EXPECT_EQ(gdb_->next().kind, InputEvent::Kind::kNack);
  EXPECT_EQ(gdb_->ask("qC"), "QC1092");
}

TEST_F(GdbServerTest, ReplyIsResentWhenGdbNacksIt) {
  gdb_->send_raw(frame_packet("qC"));
  EXPECT_EQ(gdb_->next().kind, InputEvent::Kind::kAck);
  InputEvent first = gdb_->next();
  EXPECT_EQ(first.payload, "QC1092");
  gdb_->send_raw("-");
  InputEvent again = gdb_->next();
  EXPECT_EQ(again.payload, "QC1092");
  gdb_->send_raw("+");
  EXPECT_EQ(gdb_->ask("qAttached"), "1");
}

TEST_F(GdbServerTest, ServesTargetDescriptionAuxvAndExecFile) {
  no_ack();
  target_.exec_path = "/opt/app/bin/server";
  EXPECT_EQ(gdb_->xfer("features", "target.xml"), amd64_target_xml());
  EXPECT_EQ(gdb_->xfer("auxv", ""), target_.auxv());
  EXPECT_EQ(gdb_->xfer("exec-file", "1092"), "/opt/app/bin/server");
  EXPECT_EQ(gdb_->ask("qXfer:features:read:other.xml:0,100"), "E00");
  target_.exec_path.clear();
  EXPECT_EQ(gdb_->ask("qXfer:exec-file:read:1092:0,100"), "E00");
  std::string threads = gdb_->xfer("threads", "");
  EXPECT_NE(threads.find("<thread id=\"1092\" name=\"main\">in main loop</thread>"),
            std::string::npos)
      << threads;
  EXPECT_NE(threads.find("name=\"worker &lt;1&gt;\""), std::string::npos) << threads;
}

TEST_F(GdbServerTest, ThreadsAndThreadSelection) {
  no_ack();
  EXPECT_EQ(gdb_->ask("qfThreadInfo"), "m1092,1093");
  EXPECT_EQ(gdb_->ask("qsThreadInfo"), "l");
  EXPECT_EQ(gdb_->ask("T1093"), "OK");
  EXPECT_EQ(gdb_->ask("T1"), "E01");
  EXPECT_EQ(gdb_->ask("qThreadExtraInfo,1093"), hex_encode("blocked in futex"));
  EXPECT_EQ(gdb_->ask("Hg1093"), "OK");
  // rcx holds the tid in the test target: the g packet must come from thread 0x1093.
  std::string g = gdb_->ask("g");
  EXPECT_EQ(g.substr(32, 16), "9310000000000000");
  EXPECT_EQ(gdb_->ask("Hg0"), "OK");
  EXPECT_EQ(gdb_->ask("g").substr(32, 16), "9210000000000000");
  EXPECT_EQ(gdb_->ask("Hc-1"), "OK");
  EXPECT_EQ(gdb_->ask("Hx1"), "E01");
}

TEST_F(GdbServerTest, RegistersReadAndWritesRefused) {
  no_ack();
  TargetRegisters r = *target_.registers(TestDebugTarget::kMainTid);
  EXPECT_EQ(gdb_->ask("g"), encode_g_packet(r));
  EXPECT_EQ(gdb_->ask("p10"), "0010400000000000");
  EXPECT_EQ(gdb_->ask("p22"), "ff3f0000");  // ftag
  EXPECT_EQ(gdb_->ask("p3c"), "E01");       // past gs_base
  EXPECT_EQ(gdb_->ask("P10=0000000000000000"), "E01");
  EXPECT_EQ(gdb_->ask("G" + encode_g_packet(r)), "E01");
}

TEST_F(GdbServerTest, MemoryReadsWhatIsThereAndRefusesWrites) {
  no_ack();
  EXPECT_EQ(gdb_->ask("m401000,4"), "554889e5");
  EXPECT_EQ(gdb_->ask("m40100e,8"), "5dc3");  // memory ends after two bytes
  EXPECT_EQ(gdb_->ask("m0,8"), "E01");
  EXPECT_EQ(gdb_->ask("M401000,1:cc"), "E01");
  EXPECT_EQ(gdb_->ask("X401000,0:"), "OK");  // gdb's probe for X support
  EXPECT_EQ(gdb_->ask("X401000,1:" + escape_binary("#")), "E01");
  EXPECT_EQ(gdb_->ask("X401000,2:" + escape_binary("#")), "E01");  // length mismatch
}

TEST_F(GdbServerTest, ContinueStopsAtBreakpointAndReverseAtHistoryStart) {
  no_ack();
  EXPECT_EQ(gdb_->ask("Z0,401004,1"), "OK");
  EXPECT_EQ(gdb_->ask("Z1,401004,1"), "E01");  // the test target has none
  EXPECT_EQ(gdb_->ask("vCont?"), "vCont;c;C;s;S");
  EXPECT_EQ(gdb_->ask("vCont;c"), "T05thread:1092;" + stop_regs(0x401004) + "swbreak:;");
  EXPECT_EQ(gdb_->ask("z0,401004,1"), "OK");
  EXPECT_EQ(gdb_->ask("bs"), "T05thread:1092;" + stop_regs(0x401003));
  EXPECT_EQ(gdb_->ask("bc"), "T05thread:1092;" + stop_regs(0x401000) + "replaylog:begin;");
  EXPECT_EQ(gdb_->ask("c"),
            "T05thread:1092;" + stop_regs(0x40100f) + "replaylog:end;");
  ASSERT_EQ(target_.requests.size(), 4u);
  EXPECT_FALSE(target_.requests[0].backward);
  EXPECT_TRUE(target_.requests[1].backward);
  EXPECT_TRUE(target_.requests[1].step);
  EXPECT_TRUE(target_.requests[2].backward);
  EXPECT_FALSE(target_.requests[2].step);
}

TEST_F(GdbServerTest, VContStepOfOneThreadWithOthersContinuing) {
  no_ack();
  EXPECT_EQ(gdb_->ask("vCont;s:1093;c"), "T05thread:1093;" + stop_regs(0x401001));
  ASSERT_EQ(target_.requests.size(), 1u);
  EXPECT_TRUE(target_.requests[0].step);
  EXPECT_FALSE(target_.requests[0].backward);
  EXPECT_EQ(target_.requests[0].tid, TestDebugTarget::kWorkerTid);
  // A signal gdb wants delivered is not replayable; the step still happens.
  EXPECT_EQ(gdb_->ask("vCont;S0b:1093"), "T05thread:1093;" + stop_regs(0x401002));
  // Plain 's' steps the Hc thread, or the current one for Hc-1 / Hc0.
  EXPECT_EQ(gdb_->ask("Hc-1"), "OK");
  EXPECT_EQ(gdb_->ask("s"), "T05thread:1093;" + stop_regs(0x401003));
  EXPECT_EQ(target_.requests.back().tid, TestDebugTarget::kWorkerTid);
  EXPECT_EQ(gdb_->ask("vCont;t"), "E01");
}

TEST_F(GdbServerTest, StopRepliesUseGdbSignalNumbersAndWatchpoints) {
  no_ack();
  StopReason usr1;
  usr1.signo = SIGUSR1;
  usr1.tid = TestDebugTarget::kMainTid;
  target_.next_stop = usr1;
  EXPECT_EQ(gdb_->ask("c"), "T1ethread:1092;" + stop_regs(0x401000));
  StopReason watch;
  watch.signo = SIGTRAP;
  watch.tid = TestDebugTarget::kMainTid;
  watch.watch_addr = 0x601040;
  watch.watch_kind = WatchKind::kAccess;
  target_.next_stop = watch;
  EXPECT_EQ(gdb_->ask("c"), "T05thread:1092;" + stop_regs(0x401000) + "awatch:601040;");
  EXPECT_EQ(gdb_->ask("?"), "T05thread:1092;" + stop_regs(0x401000) + "awatch:601040;");
  StopReason bus;
  bus.kind = StopKind::kKilled;
  bus.signo = SIGBUS;
  target_.next_stop = bus;
  EXPECT_EQ(gdb_->ask("c"), "X0a");
  StopReason exited;
  exited.kind = StopKind::kExited;
  exited.exit_code = 3;
  target_.next_stop = exited;
  EXPECT_EQ(gdb_->ask("c"), "W03");
}

TEST_F(GdbServerTest, InterruptByteStopsARunningTarget) {
  no_ack();
  target_.run_until_interrupted = true;
  gdb_->send_raw(frame_packet("vCont;c"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  gdb_->send_raw("\x03");
  EXPECT_EQ(gdb_->reply(), "T02thread:1092;" + stop_regs(0x401000));
  // The connection still works afterwards.
  EXPECT_EQ(gdb_->ask("qC"), "QC1092");
}

TEST_F(GdbServerTest, MonitorOutputAndErrors) {
  no_ack();
  EXPECT_EQ(gdb_->ask("qRcmd," + hex_encode("hello")), "OK");
  EXPECT_EQ(gdb_->console, "hello from the test target\n");
  gdb_->console.clear();
  EXPECT_EQ(gdb_->ask("qRcmd," + hex_encode("frobnicate")), "E01");
  EXPECT_EQ(gdb_->console, "unknown monitor command 'frobnicate' (try 'monitor hello')\n");
}

TEST_F(GdbServerTest, AckModeMonitorOutput) {
  // Every O packet needs its own ack before the next one goes out.
  EXPECT_EQ(gdb_->ask("qRcmd," + hex_encode("hello")), "OK");
  EXPECT_EQ(gdb_->console, "hello from the test target\n");
}

TEST_F(GdbServerTest, VKillEndsTheSession) {
  no_ack();
  EXPECT_EQ(gdb_->ask("vKill;1092"), "OK");
  expect_session_end();
}

TEST_F(GdbServerTest, KillEndsTheSessionWithoutReply) {
  no_ack();
  gdb_->send_raw(frame_packet("k"));
  expect_session_end();
}

TEST(GdbListenTest, ListensOnAFreePortAndAccepts) {
  uint16_t port = 0;
  auto listener = listen_tcp("127.0.0.1:0", &port);
  ASSERT_TRUE(listener) << listener.error().message;
  EXPECT_NE(port, 0);
  uint16_t port2 = 0;
  auto second = listen_tcp(fmt::format(":{}", port), &port2);
  EXPECT_FALSE(second);  // taken
  EXPECT_FALSE(listen_tcp("127.0.0.1:99999", nullptr));
  EXPECT_FALSE(listen_tcp("127.0.0.1:http", nullptr));

  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto accepted = accept_connection(listener->get());
  ASSERT_TRUE(accepted) << accepted.error().message;
  EXPECT_TRUE(*accepted);
}

}  // namespace
}  // namespace rwd
