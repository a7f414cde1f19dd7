// unitsyncd: parse, build, run, map the result to an exit code.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "control/format.h"
#include "daemon/admin_service.h"
#include "daemon/backup_scheduler.h"
#include "daemon/central_pki.h"
#include "daemon/change_watcher.h"
#include "daemon/config.h"
#include "daemon/control_server.h"
#include "daemon/metrics_server.h"
#include "daemon/nodes.h"
#include "daemon/reload.h"
#include "daemon/service_status.h"
#include "daemon/storage_health.h"
#include "daemon/systemd_notify.h"
#include "daemon/tls_context.h"
#include "pki/bundle.h"
#include "pki/files.h"
#include "pki/registry.h"
#include "store/backup.h"
#include "store/replica.h"
#include "store/sync_state.h"
#include "store/wal_checkpointer.h"

namespace unitsync::daemon {
namespace {

// glibc malloc: serve blocks up to 32 MiB from the heap and keep up to 64 MiB of freed
// heap for reuse. By default the first large block freed sets the mmap threshold to its
// own size (~2 MiB here) and the trim threshold to twice that, so each snapshot chunk,
// its envelope and its frame (up to limits.h kDefaultMaxFrame, 4 MiB) were mapped
// fresh, faulted in page by page and handed back: a fifth of central's chunk building
// (bench/RESULTS.md "Re-seed: checkpoints off the store thread"). 32 MiB is glibc's
// own ceiling for that threshold; the cost is up to 64 MiB of freed memory kept per
// malloc arena (one per thread that allocates much: the I/O and store threads). Only
// speed depends on it: a refusal is reported and changes nothing else.
bool KeepFreedMemory() {
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
}

// The WAL checkpointer's trouble, in the log: SQLite's message and the path, no row
// value. A failed checkpoint loses nothing (the WAL keeps every committed change); the
// checkpointer retries it with backoff.
class CheckpointLog final : public store::WalCheckpointer::Observer {
 public:
  CheckpointLog(Logger& log, std::string database) : log_(log), database_(std::move(database)) {}
  void CheckpointFailed(const Error& e) noexcept override {
    log_.Warn("wal_checkpoint_failed",
              "database=\"" + database_ + "\" error=\"" + e.message +
                  "\" hint=\"committed changes stay in the -wal file, which grows until a "
                  "checkpoint succeeds; retried every 1-60 s (is the disk full?)\"");
  }
  void CheckpointRecovered() noexcept override {
    log_.Info("wal_checkpoint_recovered", "database=\"" + database_ + "\"");
  }

 private:
  Logger& log_;
  const std::string database_;
};

int Fatal(Logger& log, const char* event, const Error& e) {
  log.Error(event,
            "error=\"" + e.message + "\"" + (e.hint.empty() ? "" : " hint=\"" + e.hint + "\""));
  return 1;
}

// Opens the replica after a quick check. A unit's that fails it (or is no database at
// all) is quarantined — moved aside, kept for analysis — and replaced by an empty one
// that re-seeds from central; central's is refused (restore a backup).
Result<store::Replica> OpenReplica(const Config& config, const store::ReplicaOptions& options,
                                   Logger& log) {
  const std::string& db = config.database;
  Status check = pki::PathExists(db) ? store::QuickCheck(db) : Status{};
  auto replica = check ? store::Replica::Open(db, options)
                       : Result<store::Replica>(tl::unexpected(check.error()));
  if (replica || config.role != NodeRole::kUnit) return replica;
  const Errc code = replica.error().code;
  if (code != Errc::kCorrupt && code != Errc::kNotAReplica) return replica;
  const std::string aside = db + ".corrupt-" + std::to_string(control::WallNowMs() / 1000);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = db + suffix;
    if (pki::PathExists(from) && ::rename(from.c_str(), (aside + suffix).c_str()) != 0) {
      return Fail(Errc::kIo, "quarantine " + from + ": " + std::strerror(errno),
                  "move the damaged replica aside by hand; it is kept, not repaired");
    }
  }
  log.Error("replica_quarantined",
            "database=\"" + db + "\" kept_as=\"" + aside + "\" error=\"" + replica.error().message +
                "\" hint=\"a new replica re-seeds from central; changes central never "
                "acknowledged are only in the kept file (unitsyncctl --db KEPT changes)\"");
  {
    auto fresh = store::Replica::Create(db, store::Role::kUnit, config.node_id);
    if (!fresh) return tl::unexpected(fresh.error());
    if (auto st = store::RequestSeed(*fresh); !st) return tl::unexpected(st.error());
    if (auto st = fresh->SetMeta("quarantined_as", aside); !st) return tl::unexpected(st.error());
  }
  return store::Replica::Open(db, options);
}

int Run(const Config& config) {
  Logger log;
  if (!KeepFreedMemory()) {
    log.Warn("malloc_tuning_refused",
             "hint=\"glibc refused mallopt: large buffers are mapped and unmapped each time "
             "(slower re-seeds), nothing else changes\"");
  }
  auto bundle = pki::LoadBundle(config.bundle);
  if (!bundle) return Fatal(log, "bundle_unusable", bundle.error());
  if (bundle->node_id != config.node_id) {
    return Fatal(log, "bundle_unusable",
                 Error{Errc::kInvalidArgument,
                       "the bundle is for " + bundle->node_id + ", node_id is " + config.node_id,
                       "use this node's own bundle"});
  }
  store::ReplicaOptions ropts;
  ropts.expect_node_id = config.node_id;
  ropts.expect_role = config.role == NodeRole::kUnit ? store::Role::kUnit : store::Role::kCentral;
  auto replica = OpenReplica(config, ropts, log);
  if (!replica) return Fatal(log, "replica_unusable", replica.error());

  boost::asio::io_context io;
  // Disk full / I/O errors of the replica (status, log, metrics); outlives the store thread.
  StorageHealth storage(config.database, log);
  // WAL checkpoints on a thread of their own (store/wal_checkpointer.h), so the store
  // thread's commits never wait for one. Declared before the store thread: it stops
  // after it. Without it (it could not start) the store thread checkpoints inside its
  // commits, as SQLite does by default.
  CheckpointLog checkpoint_log(log, config.database);
  std::unique_ptr<store::WalCheckpointer> checkpointer;
  if (auto started = store::WalCheckpointer::Start(replica->db(), {}, &checkpoint_log)) {
    checkpointer = std::move(*started);
  } else {
    log.Warn("wal_checkpointer_unavailable",
             "database=\"" + config.database + "\" error=\"" + started.error().message +
                 "\" hint=\"the store thread checkpoints inside its commits instead (slower)\"");
  }
  StoreWorker store(io.get_executor());
  KeyRing keys;
  pki::Registry registry;
  std::unique_ptr<UnitNode> unit;
  std::unique_ptr<CentralNode> central;
  std::optional<boost::asio::ssl::context> tls;
  std::time_t certificate_not_after = bundle->not_after;  // metrics; central's reload updates it

  if (config.role == NodeRole::kUnit) {
    if (!bundle->sealing) {
      return Fatal(log, "bundle_unusable",
                   Error{Errc::kInvalidArgument, "a unit bundle needs its sealing secret", ""});
    }
    if (auto st =
            keys.Add(config.node_id, bundle->sealing->secret.bytes(), bundle->sealing->key_id);
        !st) {
      return Fatal(log, "bundle_unusable", st.error());
    }
    auto ctx = MakeClientContext(*bundle);
    if (!ctx) return Fatal(log, "tls_unusable", ctx.error());
    tls.emplace(std::move(*ctx));
    UnitExecutor loader(*replica, config.central_node, keys);
    auto state = loader.LoadState();
    if (!state) return Fatal(log, "replica_unusable", state.error());
    unit = std::make_unique<UnitNode>(io, config, *replica, keys, *tls, store, log, *state);
    unit->SetStoreObserver(&storage);
  } else {
    auto pki = LoadCentralPki(config);  // the same load as a SIGHUP reload
    if (!pki) return Fatal(log, "pki_unusable", pki.error());
    registry = std::move(pki->registry);
    keys = std::move(pki->keys);
    tls.emplace(std::move(pki->tls));
    certificate_not_after = pki->certificate_not_after;
    central = std::make_unique<CentralNode>(io, config, *replica, registry, keys, *tls, store, log);
    central->SetStoreObserver(&storage);
  }

  // Local writes by other programs (the app, sqlite3, unitsyncctl) are pushed as they
  // are committed; at central they fan out to the units.
  ChangeWatcher watcher(io, store, *replica, log, config.change_poll_ms, [&] {
    if (unit) unit->LocalChange();
    if (central) central->LogAdvanced();
  });

  // unitsyncctl's way in, and the scrape endpoint. First: a second daemon started by
  // mistake on the same configuration stops here, before it touches any session.
  AdminService admin(config, store, *replica, log, unit.get(), central.get());
  admin.SetCertificateExpiry(&certificate_not_after);
  admin.SetStorageHealth(&storage);
  admin.SetWalCheckpointer(checkpointer.get());
  ControlServer control(io, config.control_socket, log,
                        [&admin](const control::Request& request, uint32_t uid,
                                 std::shared_ptr<ControlServer::Responder> responder) {
                          admin.Handle(request, uid, std::move(responder));
                        });
  if (auto st = control.Start(); !st) return Fatal(log, "control_socket_failed", st.error());
  std::optional<MetricsServer> metrics;
  if (!config.metrics_address.empty()) {
    metrics.emplace(io, config.metrics_address, config.metrics_port, log,
                    [&admin](std::function<void(std::string)> done) { admin.Metrics(done); });
    if (auto st = metrics->Start(); !st) return Fatal(log, "metrics_failed", st.error());
  }
  std::optional<BackupScheduler> backups;
  if (!config.backup_dir.empty()) {
    if (!bundle->sealing) {
      return Fatal(log, "backup_unusable",
                   Error{Errc::kInvalidArgument, "[backup] needs the node's secret in its bundle",
                         "issue central a new bundle with 'unitsyncctl pki server'"});
    }
    auto key =
        protocol::DeriveChangesetKey(bundle->sealing->secret.bytes(), bundle->sealing->key_id);
    if (!key) return Fatal(log, "backup_unusable", key.error());
    backups.emplace(io, config, std::move(*key), store, *replica, log);
    admin.SetBackups(&*backups);
  }
  if (central) {
    if (auto st = central->Start(); !st) return Fatal(log, "listen_failed", st.error());
  }
  if (unit) unit->Start();
  watcher.Start();
  if (backups) backups->Start();

  // systemd: status line, reload on SIGHUP, READY=1, watchdog (all no-ops without
  // NOTIFY_SOCKET but the SIGHUP handling).
  SystemdNotifier notifier(io, store, log);
  std::unique_ptr<StatusReporter> status;
  std::unique_ptr<CentralReloader> reloader;
  if (unit) {
    status = std::make_unique<StatusReporter>(io, notifier, *unit, store, *replica);
  } else {
    status = std::make_unique<StatusReporter>(
        io, notifier, *central, registry,
        config.listen_address + ":" + std::to_string(central->port()));
    reloader = std::make_unique<CentralReloader>(config, store, log, notifier, *central, registry,
                                                 keys, *tls, certificate_not_after);
  }
  HangupSignal hangup(io, [&] {
    if (reloader) return reloader->Reload();
    log.Info("reload_unsupported",
             "role=unit hint=\"a unit re-reads its bundle and config on restart\"");
  });

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.Info("stopping", "signal=" + std::to_string(sig));
    control.Stop();
    if (metrics) metrics->Stop();
    notifier.Stopping();
    status->Stop();
    hangup.Stop();
    if (reloader) reloader->Stop();
    watcher.Stop();
    if (backups) backups->Stop();
    if (unit) unit->Stop();
    if (central) central->Stop();
    // Give the sessions a moment to flush ERROR shutting_down, then stop.
    auto t = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(200));
    t->async_wait([&io, t](const boost::system::error_code&) { io.stop(); });
  });
  // Every signal is handled from here on: tell systemd.
  status->Start();
  notifier.Ready();
  notifier.StartWatchdog();
  log.Info("started",
           std::string("role=") + (unit ? "unit" : "central") + " node=" + config.node_id);
  io.run();
  store.Stop();  // the running transaction finishes; nothing else starts
  log.Info("stopped");
  return 0;
}

}  // namespace
}  // namespace unitsync::daemon

int main(int argc, char** argv) {
  using namespace unitsync::daemon;
  CLI::App app{
      "unitsyncd keeps a unitsync replica in sync with central (or, as central, with "
      "every unit).",
      "unitsyncd"};
  app.set_version_flag("--version", std::string("unitsyncd ") + UNITSYNC_VERSION,
                       "Print the version and exit");
  app.footer(
      "Every configuration key, with its default, is in the example configuration\n"
      "(/usr/share/doc/unitsync/examples/unitsyncd.toml.example when installed from the\n"
      "package). Exit codes: 0 stopped cleanly (or --check-config passed), 1 could not\n"
      "start or run, 2 the configuration is invalid; the message names the key and line.");
  std::string config_path = kDefaultConfigPath;
  bool check = false;
  app.add_option("--config", config_path, "Configuration file (TOML)")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_flag("--check-config", check,
               "Validate the configuration, explain it, and exit (no file other than the "
               "configuration is opened)");
  CLI11_PARSE(app, argc, argv);

  auto config = ParseConfigFile(config_path);
  if (config) {
    if (auto st = ValidateConfig(*config); !st) config = tl::unexpected(st.error());
  }
  if (!config) {
    std::cerr << "unitsyncd: " << config.error().ToString() << "\n";
    return 2;
  }
  if (check) {
    std::cout << config_path << " is valid:\n" << DescribeConfig(*config);
    return 0;
  }
  return Run(*config);
}
