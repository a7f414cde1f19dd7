#include "tests/faults/fault_proxy.h"

// Boost 1.74 with GCC 12: <utility> before Asio (its awaitable header uses std::exchange).
#include <utility>
// clang-format off
#include <array>
#include <boost/asio.hpp>
#include <deque>
#include <optional>
#include <random>
#include <vector>
// clang-format on

namespace unitsync::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr auto kCutGrace = std::chrono::milliseconds(200);
constexpr size_t kChunk = 16 * 1024;

// RST instead of FIN: linger 0, then close.
void Abort(tcp::socket& s) {
  error_code ec;
  if (!s.is_open()) return;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

struct Counters {
  std::atomic<uint64_t> connections{0}, refused{0}, black_holed{0}, resets{0}, cuts{0},
      half_opened{0}, stalls{0}, delayed_chunks{0}, bytes_to_central{0}, bytes_to_unit{0};
};

}  // namespace

class FaultProxy::Impl {
 public:
  Impl(uint16_t upstream, uint64_t seed)
      : acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        upstream_(asio::ip::address_v4::loopback(), upstream),
        rng_(seed) {}

  class Conn;

  void Accept();
  void KillAll(bool count);
  void FreezeAll();

  // Declared first: destroyed last, after everything that uses its services.
  asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::endpoint upstream_;
  std::mt19937_64 rng_;  // io thread only, as is everything below but the counters
  std::vector<std::weak_ptr<Conn>> conns_;
  std::chrono::milliseconds max_delay_{0};
  Clock::time_point stall_until_{};
  Partition partition_ = Partition::kNone;
  std::optional<Direction> cut_next_;
  Counters c_;
};

// One relayed connection: way 0 carries unit -> central, way 1 central -> unit. Each way
// reads into a queue of chunks with due times and writes them in order when due.
class FaultProxy::Impl::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(Impl& p, tcp::socket unit)
      : p_(p),
        unit_(std::move(unit)),
        central_(p.io_),
        timers_{asio::steady_timer(p.io_), asio::steady_timer(p.io_)},
        cut_timer_(p.io_) {}

  void Start() {
    central_.async_connect(p_.upstream_, [self = shared_from_this()](error_code ec) {
      if (ec || self->dead_) return self->Kill();
      self->Read(0);
      self->Read(1);
    });
  }
  // Accepted during a black-hole partition: read and discard until the unit gives up.
  void BlackHole() {
    frozen_ = true;
    Read(0);
  }
  void Kill() {
    dead_ = true;
    Abort(unit_);
    Abort(central_);
    for (auto& t : timers_) t.cancel();
    cut_timer_.cancel();
  }
  // What is queued stays queued (a write in flight still points into it) and is never sent.
  void Freeze() { frozen_ = true; }
  // Waiting writers look at their due time again (a stall was lifted).
  void Rearm() {
    for (auto& t : timers_) t.cancel();
  }
  bool dead() const { return dead_; }
  bool frozen() const { return frozen_; }

 private:
  struct Chunk {
    Clock::time_point due;
    std::vector<uint8_t> bytes;
    bool cut_after = false;
  };

  tcp::socket& From(int w) { return w == 0 ? unit_ : central_; }
  tcp::socket& To(int w) { return w == 0 ? central_ : unit_; }

  void Read(int w) {
    From(w).async_read_some(asio::buffer(bufs_[w]),
                            [self = shared_from_this(), w](error_code ec, size_t n) {
                              if (self->dead_) return;
                              if (ec == asio::error::eof) return self->Eof(w);
                              if (ec) return self->Kill();
                              if (!self->frozen_) self->Enqueue(w, n);
                              self->Read(w);
                            });
  }

  void Eof(int w) {
    eof_[w] = true;
    if (frozen_) {  // a frozen connection ends only when its ends give up
      if (eof_[0] || eof_[1]) Kill();
      return;
    }
    Pump(w);
  }

  void Enqueue(int w, size_t n) {
    Chunk c;
    c.bytes.assign(bufs_[w].begin(), bufs_[w].begin() + static_cast<std::ptrdiff_t>(n));
    auto delay = std::chrono::milliseconds(0);
    if (p_.max_delay_.count() > 0) {
      delay = std::chrono::milliseconds(
          std::uniform_int_distribution<int64_t>(0, p_.max_delay_.count())(p_.rng_));
      if (delay.count() > 0) ++p_.c_.delayed_chunks;
    }
    c.due = std::max(Clock::now() + delay, last_due_[w]);
    last_due_[w] = c.due;
    const Direction d = w == 0 ? Direction::kToCentral : Direction::kToUnit;
    if (p_.cut_next_ == d) {
      p_.cut_next_.reset();
      c.cut_after = true;
    }
    (w == 0 ? p_.c_.bytes_to_central : p_.c_.bytes_to_unit) += n;
    queue_[w].push_back(std::move(c));
    Pump(w);
  }

  void Pump(int w) {
    if (dead_ || frozen_ || writing_[w]) return;
    if (queue_[w].empty()) {
      if (eof_[w]) {  // the sender finished: pass its FIN on, once everything is out
        error_code ec;
        To(w).shutdown(tcp::socket::shutdown_send, ec);
        if (eof_[0] && eof_[1]) Kill();
      }
      return;
    }
    const auto due = std::max(queue_[w].front().due, p_.stall_until_);
    writing_[w] = true;
    if (due > Clock::now()) {
      timers_[w].expires_at(due);
      // Cancelled by Heal (a stall ended early: look again) or by Kill (dead: stop).
      timers_[w].async_wait([self = shared_from_this(), w](error_code) {
        self->writing_[w] = false;
        self->Pump(w);
      });
      return;
    }
    asio::async_write(To(w), asio::buffer(queue_[w].front().bytes),
                      [self = shared_from_this(), w](error_code ec, size_t) {
                        self->writing_[w] = false;
                        if (self->dead_) return;
                        if (ec) return self->Kill();
                        if (self->frozen_) return;
                        const bool cut = self->queue_[w].front().cut_after;
                        self->queue_[w].pop_front();
                        if (cut) return self->Cut();
                        self->Pump(w);
                      });
  }

  // Data went one way; the reply never comes back, and both ends learn it by a reset.
  void Cut() {
    ++p_.c_.cuts;
    Freeze();
    cut_timer_.expires_after(kCutGrace);
    cut_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->Kill();
    });
  }

  Impl& p_;
  tcp::socket unit_;
  tcp::socket central_;
  std::array<asio::steady_timer, 2> timers_;
  asio::steady_timer cut_timer_;
  std::array<std::array<uint8_t, kChunk>, 2> bufs_{};
  std::array<std::deque<Chunk>, 2> queue_;
  std::array<Clock::time_point, 2> last_due_{};
  std::array<bool, 2> writing_{false, false};
  std::array<bool, 2> eof_{false, false};
  bool frozen_ = false;
  bool dead_ = false;
};

void FaultProxy::Impl::Accept() {
  acceptor_.async_accept([this](error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      ++c_.connections;
      std::erase_if(conns_, [](const std::weak_ptr<Conn>& w) { return w.expired(); });
      if (partition_ == Partition::kRefuse) {
        ++c_.refused;
        Abort(s);
      } else {
        auto c = std::make_shared<Conn>(*this, std::move(s));
        conns_.push_back(c);
        if (partition_ == Partition::kBlackHole) {
          ++c_.black_holed;
          c->BlackHole();
        } else {
          c->Start();
        }
      }
    }
    Accept();
  });
}

void FaultProxy::Impl::KillAll(bool count) {
  for (auto& w : conns_) {
    if (auto c = w.lock(); c && !c->dead()) {
      c->Kill();
      if (count) ++c_.resets;
    }
  }
}

void FaultProxy::Impl::FreezeAll() {
  for (auto& w : conns_) {
    if (auto c = w.lock(); c && !c->dead() && !c->frozen()) {
      c->Freeze();
      ++c_.half_opened;
    }
  }
}

FaultProxy::FaultProxy(uint16_t upstream_port, uint64_t seed)
    : impl_(std::make_shared<Impl>(upstream_port, seed)),
      port_(impl_->acceptor_.local_endpoint().port()) {
  impl_->Accept();
  thread_ = std::thread([impl = impl_] { impl->io_.run(); });
}

FaultProxy::~FaultProxy() {
  asio::post(impl_->io_, [impl = impl_.get()] {
    error_code ec;
    impl->acceptor_.close(ec);
    impl->KillAll(false);
    impl->io_.stop();
  });
  thread_.join();
}

void FaultProxy::SetDelay(std::chrono::milliseconds max) {
  asio::post(impl_->io_, [impl = impl_.get(), max] { impl->max_delay_ = max; });
}

void FaultProxy::Stall(std::chrono::milliseconds length) {
  asio::post(impl_->io_, [impl = impl_.get(), length] {
    ++impl->c_.stalls;
    impl->stall_until_ = Clock::now() + length;
  });
}

void FaultProxy::ResetAll() {
  asio::post(impl_->io_, [impl = impl_.get()] { impl->KillAll(true); });
}

void FaultProxy::HalfOpenAll() {
  asio::post(impl_->io_, [impl = impl_.get()] { impl->FreezeAll(); });
}

void FaultProxy::CutAfterNext(Direction d) {
  asio::post(impl_->io_, [impl = impl_.get(), d] { impl->cut_next_ = d; });
}

void FaultProxy::SetPartition(Partition p) {
  asio::post(impl_->io_, [impl = impl_.get(), p] {
    impl->partition_ = p;
    if (p == Partition::kRefuse) impl->KillAll(true);
    if (p == Partition::kBlackHole) impl->FreezeAll();
  });
}

void FaultProxy::Heal() {
  asio::post(impl_->io_, [impl = impl_.get()] {
    impl->max_delay_ = std::chrono::milliseconds(0);
    impl->stall_until_ = {};
    impl->partition_ = Partition::kNone;
    impl->cut_next_.reset();
    for (auto& w : impl->conns_) {
      if (auto c = w.lock()) c->Rearm();
    }
  });
}

FaultProxy::Stats FaultProxy::stats() const {
  const Counters& c = impl_->c_;
  Stats s;
  s.connections = c.connections;
  s.refused = c.refused;
  s.black_holed = c.black_holed;
  s.resets = c.resets;
  s.cuts = c.cuts;
  s.half_opened = c.half_opened;
  s.stalls = c.stalls;
  s.delayed_chunks = c.delayed_chunks;
  s.bytes_to_central = c.bytes_to_central;
  s.bytes_to_unit = c.bytes_to_unit;
  return s;
}

}  // namespace unitsync::testing
