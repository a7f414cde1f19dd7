#include "daemon/control_server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>

namespace unitsync::daemon {

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {

constexpr const char* kGroup = "unitsync";

// True when something accepts connections on `path` right now.
bool Answers(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Mutating commands are logged with the caller.
bool Mutates(const std::string& cmd) {
  return cmd == control::cmd::kConflictsRestore || cmd == control::cmd::kConflictsDismiss ||
         cmd == control::cmd::kPause || cmd == control::cmd::kResume ||
         cmd == control::cmd::kSyncNow;
}

// One request's answer: lines queued by the handler, written by Serve.
class Exchange final : public ControlServer::Responder {
 public:
  explicit Exchange(asio::io_context& io) : wake(io) {}
  void Progress(const nlohmann::json& progress) override {
    if (done) return;
    lines.push_back(control::EncodeProgress(progress));
    wake.cancel();
  }
  void Done(Result<nlohmann::json> result) override {
    if (done) return;
    lines.push_back(result ? control::EncodeResult(*result) : control::EncodeError(result.error()));
    done = true;
    wake.cancel();
  }

  std::deque<std::string> lines;
  bool done = false;
  asio::steady_timer wake;
};

}  // namespace

ControlServer::ControlServer(asio::io_context& io, std::string path, Logger& log, Handler handler)
    : io_(io), path_(std::move(path)), log_(log), handler_(std::move(handler)), acceptor_(io) {}

ControlServer::~ControlServer() {
  *alive_ = false;
  Stop();
}

Status ControlServer::Start() {
  namespace fs = std::filesystem;
  std::error_code fec;
  const fs::path dir = fs::path(path_).parent_path();
  if (!dir.empty() && !fs::exists(dir, fec)) {
    fs::create_directories(dir, fec);
    if (fec) {
      return Fail(Errc::kIo, "cannot create " + dir.string() + ": " + fec.message(),
                  "create it (systemd: RuntimeDirectory=unitsync) or set [control] socket");
    }
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Fail(Errc::kAlreadyExists, path_ + " exists and is not a socket",
                  "remove it, or set [control] socket to another path");
    }
    if (Answers(path_)) {
      return Fail(Errc::kAlreadyExists, "another unitsyncd answers on " + path_,
                  "stop it first, or give this one its own [control] socket");
    }
    ::unlink(path_.c_str());  // stale: left by a daemon that died
  }
  boost::system::error_code ec;
  const stream_protocol::endpoint ep(path_);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(Errc::kIo, "cannot listen on " + path_ + ": " + ec.message(),
                "check the directory's permissions and [control] socket");
  }
  started_ = true;
  if (::chmod(path_.c_str(), 0660) != 0) {
    const std::string why = std::strerror(errno);
    Stop();
    return Fail(Errc::kIo, "cannot set the mode of " + path_ + ": " + why);
  }
  std::string group_note = "group=" + std::string(kGroup);
  struct stat bound {};
  if (struct group* g = ::getgrnam(kGroup); g == nullptr) {
    group_note = "group=(own: no group " + std::string(kGroup) + ")";
  } else if (::stat(path_.c_str(), &bound) == 0 && bound.st_gid == g->gr_gid) {
    // Already the group (the daemon runs as it under systemd): no chown, which the
    // service's system call filter refuses (~@privileged).
  } else if (::chown(path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
    log_.Warn("control_group_not_set",
              "socket=" + path_ + " group=" + kGroup + " error=\"" + std::strerror(errno) + "\"");
    group_note = "group=(own)";
  }
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  log_.Info("control_listening", "socket=" + path_ + " mode=0660 " + group_note);
  return {};
}

void ControlServer::Stop() {
  if (!started_) return;
  started_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  ::unlink(path_.c_str());
}

asio::awaitable<void> ControlServer::AcceptLoop() {
  std::weak_ptr<bool> alive = alive_;
  for (;;) {
    boost::system::error_code ec;
    stream_protocol::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (alive.expired() || !*alive.lock() || !started_) co_return;
    if (ec) {
      log_.Warn("control_accept_failed", "error=\"" + ec.message() + "\"");
      continue;
    }
    if (*clients_ >= kMaxClients) {
      log_.Warn("control_refused", "reason=\"too many control connections\"");
      continue;  // closes it
    }
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ControlServer::Serve(stream_protocol::socket socket) {
  // Shared: the frame may be destroyed with the io_context after this server is gone.
  struct Count {
    std::shared_ptr<size_t> n;
    ~Count() { --*n; }
  } count{clients_};
  ++*clients_;

  ucred cred{};
  socklen_t len = sizeof cred;
  const bool have_cred =
      ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  const uint32_t uid = have_cred ? cred.uid : static_cast<uint32_t>(-1);

  asio::steady_timer deadline(io_);
  deadline.expires_after(kRequestTimeout);
  deadline.async_wait([&socket](const boost::system::error_code& e) {
    if (!e) {
      boost::system::error_code ignored;
      socket.close(ignored);
    }
  });
  std::string in;
  boost::system::error_code ec;
  const size_t n =
      co_await asio::async_read_until(socket, asio::dynamic_buffer(in, control::kMaxRequestBytes),
                                      '\n', asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();

  auto exchange = std::make_shared<Exchange>(io_);
  if (ec == asio::error::not_found) {
    exchange->Done(Fail(
        Errc::kMalformed,
        "control request larger than " + std::to_string(control::kMaxRequestBytes) + " bytes"));
  } else if (ec) {
    co_return;  // gone, or too slow to ask
  } else {
    auto request = control::DecodeRequest(std::string_view(in).substr(0, n - 1));
    if (!request) {
      exchange->Done(tl::unexpected(request.error()));
    } else {
      if (Mutates(request->cmd)) {
        log_.Info("control_command", "cmd=" + request->cmd + " uid=" + std::to_string(uid));
      }
      handler_(*request, uid, exchange);
    }
  }

  for (;;) {
    while (!exchange->lines.empty()) {
      const std::string line = std::move(exchange->lines.front());
      exchange->lines.pop_front();
      co_await asio::async_write(socket, asio::buffer(line),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
    if (exchange->done) break;
    exchange->wake.expires_after(kAnswerTimeout);
    co_await exchange->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && exchange->lines.empty()) {
      const std::string line = control::EncodeError(
          Error{Errc::kInternal, "the daemon did not finish the command in time",
                "see the daemon's log"});
      co_await asio::async_write(socket, asio::buffer(line),
                                 asio::redirect_error(asio::use_awaitable, ec));
      break;
    }
  }
  socket.shutdown(stream_protocol::socket::shutdown_send, ec);
}

}  // namespace unitsync::daemon
