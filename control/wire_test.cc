// The control protocol's encoding and the client against a real Unix socket served by a
// scripted peer thread.
#include "control/wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "store/test_util.h"

namespace unitsync::control {
namespace {

using store::testing::TempDir;

TEST(ControlWire, RequestRoundTripsAndStrangeRequestsAreRefused) {
  Request r{cmd::kHistory, {{"table", "student"}, {"id", "s1"}}};
  std::string line = EncodeRequest(r);
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  auto back = DecodeRequest(line);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->cmd, "history");
  EXPECT_EQ(back->args["id"], "s1");

  EXPECT_EQ(DecodeRequest("not json").error().code, Errc::kMalformed);
  EXPECT_EQ(DecodeRequest("[1,2]").error().code, Errc::kMalformed);
  EXPECT_EQ(DecodeRequest(R"({"cmd":"status"})").error().code, Errc::kMalformed);
  EXPECT_EQ(DecodeRequest(R"({"v":2,"cmd":"status"})").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(DecodeRequest(R"({"v":1,"cmd":7})").error().code, Errc::kMalformed);
  EXPECT_EQ(DecodeRequest(R"({"v":1,"cmd":"status","args":[]})").error().code, Errc::kMalformed);
  EXPECT_TRUE(DecodeRequest(R"({"v":1,"cmd":"status"})"));
}

TEST(ControlWire, NothingListeningIsUnavailable) {
  TempDir dir;
  auto r = Call(dir.File("none.sock"), {cmd::kStatus}, std::chrono::seconds(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_FALSE(r.error().hint.empty());
}

// Accepts one connection, reads the request line, writes `answer`, closes.
class ScriptedPeer {
 public:
  ScriptedPeer(const std::string& path, std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char ch;
      while (::read(c, &ch, 1) == 1 && ch != '\n') request_ += ch;
      if (!answer_.empty()) (void)!::write(c, answer_.data(), answer_.size());
      if (hold_) std::this_thread::sleep_for(std::chrono::milliseconds(600));
      ::close(c);
    });
  }
  ~ScriptedPeer() {
    Join();
    ::close(fd_);
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Hold() { hold_ = true; }
  // After Join().
  const std::string& request() const { return request_; }

 private:
  int fd_ = -1;
  std::string answer_;
  std::string request_;
  bool hold_ = false;
  std::thread thread_;
};

TEST(ControlWire, ProgressLinesThenTheResult) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  std::vector<int> seen;
  {
    ScriptedPeer peer(path, EncodeProgress({{"done", 1}, {"total", 2}}) +
                                EncodeProgress({{"done", 2}, {"total", 2}}) +
                                EncodeResult({{"answer", 42}}));
    auto r = Call(path, {cmd::kVerify, {{"unit", "unit-0001"}}}, std::chrono::seconds(5),
                  [&](const nlohmann::json& p) { seen.push_back(p["done"].get<int>()); });
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ((*r)["answer"], 42);
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
}

TEST(ControlWire, TheDaemonsErrorComesBackAsSent) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  ScriptedPeer peer(path, EncodeError(Error{Errc::kNotFound, "no conflict 9", "list them"}));
  auto r = Call(path, {cmd::kConflictsShow, {{"id", 9}}}, std::chrono::seconds(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  EXPECT_EQ(r.error().message, "no conflict 9");
  EXPECT_EQ(r.error().hint, "list them");
}

TEST(ControlWire, NotTheProtocolIsMalformed) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  ScriptedPeer peer(path, "HTTP/1.1 200 OK\n");
  auto r = Call(path, {cmd::kStatus}, std::chrono::seconds(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(ControlWire, ASilentDaemonTimesOutAndAClosedOneSaysSo) {
  TempDir dir;
  {
    const std::string path = dir.File("silent.sock");
    ScriptedPeer peer(path, "");
    peer.Hold();
    auto r = Call(path, {cmd::kStatus}, std::chrono::milliseconds(100));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kIo);
    EXPECT_NE(r.error().message.find("did not answer"), std::string::npos);
  }
  {
    const std::string path = dir.File("closing.sock");
    ScriptedPeer peer(path, "");
    auto r = Call(path, {cmd::kStatus}, std::chrono::seconds(5));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kIo);
    peer.Join();
    EXPECT_NE(peer.request().find("\"cmd\":\"status\""), std::string::npos);
  }
}

}  // namespace
}  // namespace unitsync::control
