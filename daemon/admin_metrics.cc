// AdminService::Metrics: the Prometheus text exposition (admin_service.h).
#include <sstream>

#include "control/views.h"
#include "daemon/admin_service.h"
#include "daemon/disk_usage.h"

namespace unitsync::daemon {
namespace {

using Json = nlohmann::json;

// Prometheus text format helpers.
class Exposition {
 public:
  void Family(const std::string& name, const char* type, const std::string& help) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void Sample(const std::string& name, double value, const std::string& labels = {}) {
    out_ << name;
    if (!labels.empty()) out_ << "{" << labels << "}";
    out_ << " " << Number(value) << "\n";
  }
  std::string Text() const { return out_.str(); }

 private:
  static std::string Number(double v) {
    std::ostringstream s;
    s.precision(15);
    s << v;
    return s.str();
  }
  std::ostringstream out_;
};

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

void AdminService::Metrics(std::function<void(std::string)> done) {
  std::vector<control::EnrolledUnitInfo> enrolled;
  std::map<std::string, int64_t> settled;
  if (central_) {
    enrolled = Enrolled(central_->registry());
    settled = central_->FanoutSettled();
  }
  const bool is_central = central_ != nullptr;
  OnStore(
      [enrolled, settled, is_central](store::Replica& r) -> Result<Json> {
        auto status = control::StatusView(r);
        if (!status) return status;
        Json doc = {{"status", std::move(*status)}};
        // The disk runway: measured here, off the I/O thread. A failure leaves the two
        // families out rather than reporting a made-up 0.
        if (auto disk = MeasureDiskUsage(r.path())) {
          doc["disk"] = {{"available_bytes", disk->available_bytes},
                         {"replica_bytes", disk->replica_bytes}};
        }
        if (is_central) {
          auto units = control::UnitsView(r, enrolled, settled);
          if (!units) return units;
          doc["units"] = std::move(*units);
        }
        return doc;
      },
      [this, done = std::move(done)](Result<Json> r) {
        Exposition m;
        const std::string node = "node=\"" + config_.node_id + "\"";
        m.Family("unitsync_info", "gauge", "Role and node id of this daemon.");
        m.Sample("unitsync_info", 1,
                 std::string("role=\"") + (central_ ? "central" : "unit") + "\"," + node);
        m.Family("unitsync_start_time_seconds", "gauge", "When the daemon started (Unix time).");
        m.Sample("unitsync_start_time_seconds", Seconds(started_ms_));
        m.Family("unitsync_store_queue_depth", "gauge", "Store-thread tasks waiting.");
        m.Sample("unitsync_store_queue_depth", static_cast<double>(store_.queued()));
        m.Family("unitsync_database_up", "gauge",
                 "1 when the replica answered the metrics queries, 0 when it failed.");
        m.Sample("unitsync_database_up", r ? 1 : 0);
        if (certificate_not_after_ != nullptr) {
          m.Family("unitsync_certificate_expiry_timestamp_seconds", "gauge",
                   "When this node's own certificate (tls.bundle) expires (Unix time).");
          m.Sample("unitsync_certificate_expiry_timestamp_seconds",
                   static_cast<double>(*certificate_not_after_));
        }
        if (r && r->contains("disk")) {
          const Json& disk = (*r)["disk"];
          m.Family("unitsync_database_filesystem_available_bytes", "gauge",
                   "Bytes unitsyncd may still write on the filesystem holding the replica.");
          m.Sample("unitsync_database_filesystem_available_bytes",
                   disk["available_bytes"].get<double>());
          m.Family("unitsync_database_size_bytes", "gauge",
                   "Size of the replica file with its -wal and -shm files.");
          m.Sample("unitsync_database_size_bytes", disk["replica_bytes"].get<double>());
        }
        if (storage_) {
          const StorageHealth::State s = storage_->state();
          m.Family("unitsync_storage_errors_total", "counter",
                   "Replica writes (or reads) that failed because the disk is full or an I/O "
                   "error occurred, by kind.");
          m.Sample("unitsync_storage_errors_total", static_cast<double>(s.disk_full_total),
                   "kind=\"disk_full\"");
          m.Sample("unitsync_storage_errors_total", static_cast<double>(s.io_total), "kind=\"io\"");
          m.Family("unitsync_storage_condition", "gauge",
                   "1 while the replica's storage is in this condition (cleared by the next "
                   "write that succeeds).");
          for (auto kind : {StorageCondition::kDiskFull, StorageCondition::kIo}) {
            m.Sample("unitsync_storage_condition", s.condition == kind ? 1 : 0,
                     "kind=\"" + std::string(StorageConditionName(kind)) + "\"");
          }
        }
        if (checkpointer_) {
          const store::WalCheckpointer::Stats c = checkpointer_->stats();
          m.Family("unitsync_wal_checkpoints_total", "counter",
                   "WAL checkpoints by result: copied (the background thread copied the whole "
                   "WAL), inline (the store thread did, at the WAL's size limit), partial "
                   "(stopped by a reader or another checkpoint), failed (disk full, I/O error).");
          m.Sample("unitsync_wal_checkpoints_total", static_cast<double>(c.passes),
                   "result=\"copied\"");
          m.Sample("unitsync_wal_checkpoints_total", static_cast<double>(c.inline_passes),
                   "result=\"inline\"");
          m.Sample("unitsync_wal_checkpoints_total", static_cast<double>(c.partial),
                   "result=\"partial\"");
          m.Sample("unitsync_wal_checkpoints_total", static_cast<double>(c.failures),
                   "result=\"failed\"");
        }
        if (backups_) {
          const BackupScheduler::State& b = backups_->state();
          m.Family("unitsync_backup_last_success_timestamp_seconds", "gauge",
                   "When the newest scheduled backup was taken (Unix time; 0 none yet).");
          m.Sample("unitsync_backup_last_success_timestamp_seconds", Seconds(b.last_success_ms));
          m.Family("unitsync_backup_failures_total", "counter", "Scheduled backups that failed.");
          m.Sample("unitsync_backup_failures_total", static_cast<double>(b.failures));
        }

        if (unit_) {
          const LinkStats& l = unit_->link();
          m.Family("unitsync_sessions", "gauge", "Established sync sessions.");
          m.Sample("unitsync_sessions", l.connected ? 1 : 0);
          m.Family("unitsync_received_bytes_total", "counter", "Bytes received from peers.");
          m.Sample("unitsync_received_bytes_total", static_cast<double>(l.bytes_in));
          m.Family("unitsync_sent_bytes_total", "counter", "Bytes sent to peers.");
          m.Sample("unitsync_sent_bytes_total", static_cast<double>(l.bytes_out));
          m.Family("unitsync_session_errors_total", "counter",
                   "Warnings and errors logged by sync sessions.");
          m.Sample("unitsync_session_errors_total", static_cast<double>(unit_->session_errors()));
          m.Family("unitsync_paused", "gauge", "1 while an admin has paused the link.");
          m.Sample("unitsync_paused", unit_->paused() ? 1 : 0);
          m.Family("unitsync_last_contact_timestamp_seconds", "gauge",
                   "Last bytes received from central (Unix time; 0 never).");
          m.Sample("unitsync_last_contact_timestamp_seconds", Seconds(l.last_contact_ms));
          m.Family("unitsync_last_sync_timestamp_seconds", "gauge",
                   "Last time a push was acknowledged or central's changes applied.");
          m.Sample("unitsync_last_sync_timestamp_seconds", Seconds(l.last_sync_ms));
          m.Family("unitsync_in_flight_changesets", "gauge",
                   "Pushes sent and not yet acknowledged.");
          m.Sample("unitsync_in_flight_changesets",
                   static_cast<double>(unit_->uplink().in_flight()));
        } else {
          const ProcessCounters& c = central_->counters();
          m.Family("unitsync_sessions", "gauge", "Established sync sessions.");
          m.Sample("unitsync_sessions", static_cast<double>(central_->sessions()));
          m.Family("unitsync_sessions_admitted_total", "counter", "Unit sessions admitted.");
          m.Sample("unitsync_sessions_admitted_total", static_cast<double>(c.sessions_admitted));
          m.Family("unitsync_received_bytes_total", "counter", "Bytes received from units.");
          m.Sample("unitsync_received_bytes_total", static_cast<double>(central_->BytesIn()));
          m.Family("unitsync_sent_bytes_total", "counter", "Bytes sent to units.");
          m.Sample("unitsync_sent_bytes_total", static_cast<double>(central_->BytesOut()));
          m.Family("unitsync_session_errors_total", "counter",
                   "Warnings and errors logged by sync sessions.");
          m.Sample("unitsync_session_errors_total", static_cast<double>(c.session_errors));
          m.Family("unitsync_connections_refused_total", "counter",
                   "Connections refused, by reason.");
          m.Sample("unitsync_connections_refused_total", static_cast<double>(c.refused_tls),
                   "reason=\"tls\"");
          m.Sample("unitsync_connections_refused_total", static_cast<double>(c.refused_unit),
                   "reason=\"unit\"");
          m.Sample("unitsync_connections_refused_total", static_cast<double>(c.refused_limit),
                   "reason=\"max_sessions\"");
          m.Sample("unitsync_connections_refused_total", static_cast<double>(c.refused_paused),
                   "reason=\"paused\"");
          m.Family("unitsync_paused", "gauge", "1 while an admin has paused every unit.");
          m.Sample("unitsync_paused", central_->paused() ? 1 : 0);
        }
        if (!r) return done(m.Text());

        const Json& st = (*r)["status"];
        m.Family("unitsync_conflicts_open", "gauge", "Unresolved conflicts on this replica.");
        m.Sample("unitsync_conflicts_open", st["conflicts_open"].get<double>());
        m.Family("unitsync_rejected_rows", "gauge",
                 "Rejected rows on record (bounded history), both directions.");
        m.Sample("unitsync_rejected_rows", st["rejections"]["total"].get<double>());
        if (unit_) {
          const Json& out = st["outgoing"];
          const int64_t oldest = out["oldest_pending_ms"].get<int64_t>();
          m.Family("unitsync_pending_changes", "gauge",
                   "Local changes central has not acknowledged yet.");
          m.Sample("unitsync_pending_changes", out["pending_changes"].get<double>());
          m.Family("unitsync_pending_age_seconds", "gauge",
                   "Age of the oldest change central has not acknowledged (0: none).");
          m.Sample("unitsync_pending_age_seconds",
                   oldest > 0 ? Seconds(std::max<int64_t>(0, WallNowMs() - oldest)) : 0);
          return done(m.Text());
        }

        const Json& units = (*r)["units"]["units"];
        struct Family {
          const char* name;
          const char* type;
          const char* help;
          std::function<double(const Json&, const std::string&)> value;
        };
        const auto& links = central_->links();
        auto link = [&links](const std::string& id) -> const LinkStats* {
          auto it = links.find(id);
          return it == links.end() ? nullptr : &it->second;
        };
        const std::vector<Family> families = {
            {"unitsync_unit_connected", "gauge", "1 while the unit has a sync session.",
             [this](const Json&, const std::string& id) {
               return central_->Connected(id) ? 1 : 0;
             }},
            {"unitsync_unit_last_contact_timestamp_seconds", "gauge",
             "Last bytes received from the unit (Unix time; 0: not since start).",
             [&](const Json&, const std::string& id) {
               const LinkStats* l = link(id);
               return l ? Seconds(l->last_contact_ms) : 0.0;
             }},
            {"unitsync_unit_lag_changes", "gauge",
             "Central log changes the unit has not received and acknowledged.",
             [](const Json& u, const std::string&) { return u["lag_changes"].get<double>(); }},
            {"unitsync_unit_lag_seconds", "gauge",
             "Age of the oldest change the unit has not acknowledged.",
             [](const Json& u, const std::string&) { return Seconds(u["lag_ms"].get<int64_t>()); }},
            {"unitsync_unit_queue_depth", "gauge", "Changesets in flight to the unit.",
             [this](const Json&, const std::string& id) {
               return static_cast<double>(central_->QueueDepth(id));
             }},
            {"unitsync_unit_conflicts_open", "gauge", "Unresolved conflicts on the unit's rows.",
             [](const Json& u, const std::string&) { return u["conflicts_open"].get<double>(); }},
            {"unitsync_unit_rejected_rows", "gauge",
             "Rows from the unit central refused (on record, bounded).",
             [](const Json& u, const std::string&) { return u["rejected_rows"].get<double>(); }},
            {"unitsync_unit_pushes_applied", "gauge", "The unit's changesets applied at central.",
             [](const Json& u, const std::string&) { return u["pushes_applied"].get<double>(); }},
            {"unitsync_unit_certificate_expiry_timestamp_seconds", "gauge",
             "When the unit's enrolled certificate expires (Unix time; 0 unknown).",
             [](const Json& u, const std::string&) {
               return Seconds(u["cert_not_after_ms"].get<int64_t>());
             }},
        };
        for (const auto& f : families) {
          m.Family(f.name, f.type, f.help);
          for (const Json& u : units) {
            const std::string id = u["unit"];
            m.Sample(f.name, f.value(u, id), "unit=\"" + id + "\"");
          }
        }
        done(m.Text());
      });
}

}  // namespace unitsync::daemon
