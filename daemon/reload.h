// SIGHUP: central re-reads the CA directory and its own bundle without a restart; a
// unit has nothing to re-read (it logs reload_unsupported: a new bundle or config needs a
// restart, which costs a unit nothing but a reconnect).
//
//   SIGHUP ─► RELOADING=1 ─► store thread: LoadCentralPki (reads files), then merges the
//   new keys into the live ring (the store thread is the ring's only user)
//   ─► I/O thread: swap the registry and the TLS context (new handshakes use the new CA
//   file and CRL; handshakes under way finish with the old), end the sessions the new
//   registry no longer admits ─► log `reloaded` with counts ─► READY=1
//
// A failed load changes nothing — the old registry, context and keys stay — and logs
// reload_failed with the reason. Keys are only ever added: a unit that disappeared from
// the registry keeps its keys until restart (harmless: no session of it is admitted).
// Keys are merged before the registry admits a new unit, so its first store work finds
// them. SIGHUPs arriving during a reload coalesce into one more reload after it.
//
// I/O thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <ctime>
#include <functional>
#include <memory>

#include "daemon/config.h"
#include "daemon/key_ring.h"
#include "daemon/log.h"
#include "daemon/nodes.h"
#include "daemon/store_worker.h"
#include "daemon/systemd_notify.h"
#include "pki/registry.h"

namespace unitsync::daemon {

// Calls `on_hangup` on the I/O thread for every SIGHUP until Stop() (after which SIGHUP
// is still caught, and ignored: its default action would kill the daemon).
class HangupSignal {
 public:
  HangupSignal(boost::asio::io_context& io, std::function<void()> on_hangup);
  void Stop() { stopped_ = true; }

 private:
  void Wait();
  boost::asio::signal_set signals_;
  std::function<void()> on_hangup_;
  bool stopped_ = false;
};

class CentralReloader {
 public:
  // `registry`, `keys` and `tls` are the live objects `node` (and its executors) use;
  // the reloader replaces their contents, and sets `certificate_not_after` (what the
  // metrics show) to the reloaded certificate's. All must outlive it.
  CentralReloader(const Config& config, StoreWorker& store, Logger& log, SystemdNotifier& notifier,
                  CentralNode& node, pki::Registry& registry, KeyRing& keys,
                  boost::asio::ssl::context& tls, std::time_t& certificate_not_after);
  ~CentralReloader();

  void Reload();
  // Results still coming are dropped.
  void Stop() { stopped_ = true; }

 private:
  const Config& config_;
  StoreWorker& store_;
  Logger& log_;
  SystemdNotifier& notifier_;
  CentralNode& node_;
  pki::Registry& registry_;
  KeyRing& keys_;
  boost::asio::ssl::context& tls_;
  std::time_t& certificate_not_after_;
  bool running_ = false;
  bool again_ = false;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
