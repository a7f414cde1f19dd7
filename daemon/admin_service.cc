#include "daemon/admin_service.h"

#include <unistd.h>

#include <sstream>

#include "control/views.h"

namespace unitsync::daemon {
namespace {

using Json = nlohmann::json;

Result<std::string> StringArg(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Fail(Errc::kInvalidArgument, std::string("argument \"") + key + "\" is required");
  }
  return it->get<std::string>();
}

std::optional<std::string> OptionalString(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_string() || it->get<std::string>().empty()) return std::nullopt;
  return it->get<std::string>();
}

Result<int64_t> IdArg(const Json& args) {
  auto it = args.find("id");
  if (it == args.end() || !it->is_number_integer() || it->get<int64_t>() <= 0) {
    return Fail(Errc::kInvalidArgument, "argument \"id\" must be a positive integer");
  }
  return it->get<int64_t>();
}

std::vector<control::EnrolledUnitInfo> Enrolled(const pki::Registry& registry) {
  std::vector<control::EnrolledUnitInfo> out;
  for (const auto& r : registry.units) {
    out.push_back({r.unit.unit_id, r.unit.not_after, r.unit.revoked});
  }
  return out;
}

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

Json SideJson(const std::optional<protocol::DigestSide>& side) {
  if (!side) return nullptr;
  return {{"rows", side->rows}, {"tombstones", side->tombstones}, {"sha256", side->sha256}};
}

Json PositionJson(const protocol::VerifyPosition& p) {
  return {{"push", p.push}, {"pull", p.pull}, {"head", p.head}, {"waiting", p.waiting}};
}

// One unit's verify outcome, as the `verify` command reports it.
Json VerifyJson(const std::string& unit, const Result<protocol::VerifyReport>& r) {
  if (!r) {
    return {{"unit", unit},
            {"error", {{"code", ErrcName(r.error().code)}, {"message", r.error().message}}}};
  }
  Json tables = Json::array();
  Json differing = Json::array();
  for (const auto& t : r->tables) {
    tables.push_back({{"table", t.table},
                      {"equal", t.equal},
                      {"unit", SideJson(t.unit)},
                      {"central", SideJson(t.central)}});
    if (!t.equal) differing.push_back(t.table);
  }
  return {{"unit", unit},
          {"all_equal", r->all_equal()},
          {"settled", r->settled},
          {"differing", differing},
          {"in_flight", r->in_flight},
          {"pushes_in_flight", r->pushes_in_flight},
          {"summary", r->Summary()},
          {"unit_position", PositionJson(r->unit_position)},
          {"central_position", PositionJson(r->central_position)},
          {"tables", tables}};
}

void Tally(Json& doc, const Json& outcome) {
  doc["units"].push_back(outcome);
  if (outcome.contains("error")) {
    doc["failed"] = doc["failed"].get<int64_t>() + 1;
  } else if (outcome["all_equal"].get<bool>()) {
    doc["equal"] = doc["equal"].get<int64_t>() + 1;
  } else {
    doc["differ"] = doc["differ"].get<int64_t>() + 1;
  }
}

Json EmptyVerifyDoc() {
  return {{"units", Json::array()},
          {"equal", 0},
          {"differ", 0},
          {"failed", 0},
          {"not_connected", Json::array()}};
}

}  // namespace

AdminService::AdminService(const Config& config, StoreWorker& store, store::Replica& replica,
                           Logger& log, UnitNode* unit, CentralNode* central)
    : config_(config),
      store_(store),
      replica_(replica),
      log_(log),
      unit_(unit),
      central_(central),
      started_ms_(WallNowMs()) {}

void AdminService::OnStore(std::function<Result<Json>(store::Replica&)> query,
                           std::function<void(Result<Json>)> then) {
  store_.Submit([&replica = replica_, query = std::move(query)] { return query(replica); },
                std::move(then));
}

Json AdminService::DaemonJson() const {
  return {{"pid", static_cast<int64_t>(::getpid())},
          {"started_ms", started_ms_},
          {"store_queue", store_.queued()},
          {"control_socket", config_.control_socket}};
}

void AdminService::Handle(const control::Request& request, uint32_t /*uid*/, Reply reply) {
  namespace cmd = control::cmd;
  const Json& args = request.args;
  auto done = [reply](Result<Json> r) { reply->Done(std::move(r)); };

  if (request.cmd == cmd::kStatus) return Status(reply);
  if (request.cmd == cmd::kUnits) return Units(reply);
  if (request.cmd == cmd::kConflictsList) {
    control::ConflictQuery q;
    q.all = args.value("all", false);
    q.table = OptionalString(args, "table");
    q.limit = static_cast<size_t>(std::clamp<int64_t>(args.value("limit", 1000), 1, 1'000'000));
    return OnStore([q](store::Replica& r) { return control::ConflictListView(r, q); }, done);
  }
  if (request.cmd == cmd::kConflictsShow) {
    auto id = IdArg(args);
    if (!id) return done(tl::unexpected(id.error()));
    return OnStore([id = *id](store::Replica& r) { return control::ConflictDetailView(r, id); },
                   done);
  }
  if (request.cmd == cmd::kConflictsRestore || request.cmd == cmd::kConflictsDismiss) {
    auto id = IdArg(args);
    if (!id) return done(tl::unexpected(id.error()));
    const bool restore = request.cmd == cmd::kConflictsRestore;
    return OnStore(
        [id = *id, restore](store::Replica& r) { return control::ResolveConflict(r, id, restore); },
        [this, done, restore](Result<Json> r) {
          // The daemon's own writes do not wake the change watcher: push the restore.
          if (r && restore) LocalWrite();
          done(std::move(r));
        });
  }
  if (request.cmd == cmd::kHistory) {
    auto table = StringArg(args, "table");
    if (!table) return done(tl::unexpected(table.error()));
    auto id = StringArg(args, "id");
    if (!id) return done(tl::unexpected(id.error()));
    return OnStore(
        [t = *table, i = *id](store::Replica& r) { return control::HistoryView(r, t, i); }, done);
  }
  if (request.cmd == cmd::kDigest) {
    return OnStore(
        [u = OptionalString(args, "unit")](store::Replica& r) { return control::DigestView(r, u); },
        done);
  }
  if (request.cmd == cmd::kVerify) return Verify(args, reply);
  if (request.cmd == cmd::kSyncNow) {
    if (unit_) {
      unit_->SyncNow();
      return done(Json{{"link", unit_->LinkState()}});
    }
    central_->LogAdvanced();
    return done(Json{{"sessions", central_->sessions()}});
  }
  if (request.cmd == cmd::kPause || request.cmd == cmd::kResume) {
    const bool pause = request.cmd == cmd::kPause;
    auto only = OptionalString(args, "unit");
    if (unit_) {
      if (only && *only != config_.node_id) {
        return done(Fail(Errc::kInvalidArgument, "a unit pauses only its own link",
                         "omit --unit, or run it at central"));
      }
      pause ? unit_->Pause() : unit_->Resume();
      return done(Json{{"paused", unit_->paused()}, {"link", unit_->LinkState()}});
    }
    pause ? central_->Pause(only) : central_->Resume(only);
    Json units = Json::array();
    for (const auto& u : central_->paused_units()) units.push_back(u);
    return done(Json{{"paused", central_->paused()}, {"paused_units", units}});
  }
  done(Fail(Errc::kInvalidArgument, "unknown control command \"" + request.cmd + "\"",
            "use the unitsyncctl that came with this unitsyncd"));
}

void AdminService::LocalWrite() {
  if (unit_) unit_->LocalChange();
  if (central_) central_->LogAdvanced();
}

void AdminService::Verify(const Json& args, Reply reply) {
  auto only = OptionalString(args, "unit");
  auto doc = std::make_shared<Json>(EmptyVerifyDoc());
  if (unit_) {
    if (only && *only != config_.node_id) {
      return reply->Done(Fail(Errc::kInvalidArgument, "a unit verifies only its own rows",
                              "omit --unit, or run it at central"));
    }
    unit_->Verify([this, doc, reply](Result<protocol::VerifyReport> r) {
      Tally(*doc, VerifyJson(config_.node_id, r));
      reply->Done(std::move(*doc));
    });
    return;
  }
  auto todo = std::make_shared<std::vector<std::string>>();
  if (only) {
    todo->push_back(*only);
  } else {
    *todo = central_->ConnectedUnits();
    for (const auto& r : central_->registry().units) {
      if (!r.unit.revoked && !central_->Connected(r.unit.unit_id)) {
        (*doc)["not_connected"].push_back(r.unit.unit_id);
      }
    }
  }
  (*doc)["total"] = todo->size();
  std::reverse(todo->begin(), todo->end());  // taken from the back, in order
  VerifyNext(todo, doc, reply);
}

void AdminService::VerifyNext(std::shared_ptr<std::vector<std::string>> todo,
                              std::shared_ptr<Json> doc, Reply reply) {
  if (todo->empty()) return reply->Done(std::move(*doc));
  const std::string unit = todo->back();
  todo->pop_back();
  central_->Verify(unit, [this, todo, doc, reply, unit](Result<protocol::VerifyReport> r) {
    Tally(*doc, VerifyJson(unit, r));
    reply->Progress({{"done", (*doc)["units"].size()}, {"total", (*doc)["total"]}, {"what", unit}});
    VerifyNext(todo, doc, reply);
  });
}

void AdminService::Status(Reply reply) {
  OnStore([](store::Replica& r) { return control::StatusView(r); },
          [this, reply](Result<Json> r) {
            if (!r) return reply->Done(std::move(r));
            Json doc = std::move(*r);
            doc["daemon"] = DaemonJson();
            if (unit_) {
              Json link = unit_->link().ToJson();
              link["state"] = unit_->LinkState();
              link["central"] = config_.central_host + ":" + std::to_string(config_.central_port);
              link["in_flight"] = unit_->uplink().in_flight();
              link["failed_attempts"] = unit_->uplink().attempts();
              link["paused"] = unit_->paused();
              doc["link"] = std::move(link);
            } else {
              doc["sessions"] = central_->sessions();
              doc["listening"] = config_.listen_address + ":" + std::to_string(central_->port());
              doc["paused"] = central_->paused();
            }
            reply->Done(std::move(doc));
          });
}

void AdminService::Units(Reply reply) {
  if (!central_) {
    return reply->Done(Fail(Errc::kInvalidArgument, "'units' is central's view of its units",
                            "at a unit use 'unitsyncctl status'"));
  }
  OnStore([enrolled = Enrolled(central_->registry()), settled = central_->FanoutSettled()](
              store::Replica& r) { return control::UnitsView(r, enrolled, settled); },
          [this, reply](Result<Json> r) {
            if (!r) return reply->Done(std::move(r));
            Json doc = std::move(*r);
            for (Json& u : doc["units"]) {
              const std::string id = u["unit"];
              const auto& links = central_->links();
              auto it = links.find(id);
              u["connected"] = central_->Connected(id);
              u["queue"] = central_->QueueDepth(id);
              u["paused"] = central_->paused(id);
              if (it != links.end()) {
                const LinkStats& l = it->second;
                u["since_ms"] = l.connected_since_ms;
                u["last_contact_ms"] = l.last_contact_ms;
                if (l.last_sync_ms > 0) u["last_sync_ms"] = l.last_sync_ms;
                u["peer"] = l.peer;
                u["bytes_in"] = l.bytes_in;
                u["bytes_out"] = l.bytes_out;
                u["last_error"] = l.ToJson()["last_error"];
              } else {
                u["last_contact_ms"] = nullptr;  // not since this daemon started
                u["last_error"] = nullptr;
              }
            }
            doc["sessions"] = central_->sessions();
            reply->Done(std::move(doc));
          });
}

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
