#include "control/wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace unitsync::control {
namespace {

std::string Line(const nlohmann::json& doc) {
  // Invalid UTF-8 in stored text is replaced rather than failing the answer.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Error FromResponse(const nlohmann::json& err) {
  Error e{Errc::kInternal, "the daemon answered with an error", ""};
  if (!err.is_object()) return e;
  if (auto it = err.find("code"); it != err.end() && it->is_string()) {
    e.code = ErrcFromName(it->get<std::string>()).value_or(Errc::kInternal);
  }
  if (auto it = err.find("message"); it != err.end() && it->is_string()) {
    e.message = it->get<std::string>();
  }
  if (auto it = err.find("hint"); it != err.end() && it->is_string()) e.hint = *it;
  return e;
}

}  // namespace

std::string EncodeRequest(const Request& request) {
  return Line({{"v", kVersion}, {"cmd", request.cmd}, {"args", request.args}});
}

std::string EncodeResult(const nlohmann::json& result) {
  return Line({{"ok", true}, {"result", result}});
}

std::string EncodeError(const Error& error) {
  nlohmann::json err = {{"code", ErrcName(error.code)}, {"message", error.message}};
  if (!error.hint.empty()) err["hint"] = error.hint;
  return Line({{"ok", false}, {"error", err}});
}

std::string EncodeProgress(const nlohmann::json& progress) {
  return Line({{"progress", progress}});
}

Result<Request> DecodeRequest(std::string_view line) {
  auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(Errc::kMalformed, "control request is not a JSON object");
  }
  auto v = doc.find("v");
  if (v == doc.end() || !v->is_number_integer()) {
    return Fail(Errc::kMalformed, "control request has no integer \"v\"");
  }
  if (v->get<int64_t>() != kVersion) {
    return Fail(Errc::kInvalidArgument,
                "control protocol version " + std::to_string(v->get<int64_t>()) +
                    " is not spoken here (this daemon speaks " + std::to_string(kVersion) + ")",
                "use the unitsyncctl that came with this unitsyncd");
  }
  auto c = doc.find("cmd");
  if (c == doc.end() || !c->is_string()) {
    return Fail(Errc::kMalformed, "control request has no string \"cmd\"");
  }
  Request r;
  r.cmd = c->get<std::string>();
  if (auto a = doc.find("args"); a != doc.end()) {
    if (!a->is_object()) return Fail(Errc::kMalformed, "control request \"args\" is not an object");
    r.args = *a;
  }
  return r;
}

Result<nlohmann::json> Call(const std::string& socket_path, const Request& request,
                            std::chrono::milliseconds timeout, const ProgressFn& progress) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return Fail(Errc::kInvalidArgument, "control socket path is too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Fail(Errc::kIo, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) {
      return Fail(Errc::kUnavailable,
                  "unitsyncd is not running (nothing listens on " + socket_path + ")",
                  "start it with 'systemctl start unitsyncd', or name the socket with --socket");
    }
    if (err == EACCES || err == EPERM) {
      return Fail(Errc::kIo, "no permission to use " + socket_path,
                  "run as root or as a member of the group unitsync");
    }
    return Fail(Errc::kIo, "cannot connect to " + socket_path + ": " + std::strerror(err));
  }
  const std::string out = EncodeRequest(request);
  for (size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errc::kIo, std::string("writing to the daemon: ") + std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }

  std::string buf;
  char chunk[65536];
  for (;;) {
    // Hand out every complete line first.
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      const std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.is_object()) {
        return Fail(Errc::kMalformed, "the daemon's answer is not a JSON object",
                    "is --socket a unitsyncd control socket?");
      }
      if (auto p = doc.find("progress"); p != doc.end()) {
        if (progress) progress(*p);
        continue;
      }
      auto ok = doc.find("ok");
      if (ok == doc.end() || !ok->is_boolean()) {
        return Fail(Errc::kMalformed, "the daemon's answer has no \"ok\"");
      }
      if (!ok->get<bool>()) {
        auto e = doc.find("error");
        return tl::unexpected(FromResponse(e == doc.end() ? nlohmann::json() : *e));
      }
      auto result = doc.find("result");
      return result == doc.end() ? nlohmann::json() : *result;
    }
    if (buf.size() > kMaxResponseBytes) {
      return Fail(Errc::kMalformed, "the daemon's answer is larger than the limit");
    }
    pollfd pfd{fd.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Fail(Errc::kIo, std::string("waiting for the daemon: ") + std::strerror(errno));
    }
    if (ready == 0) {
      return Fail(Errc::kIo,
                  "the daemon did not answer within " + std::to_string(timeout.count()) + " ms",
                  "check its log ('journalctl -u unitsyncd'); it may be busy or wedged");
    }
    const ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errc::kIo, std::string("reading from the daemon: ") + std::strerror(errno));
    }
    if (n == 0) {
      return Fail(Errc::kIo, "the daemon closed the connection without answering",
                  "it may be shutting down; check its log");
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace unitsync::control
