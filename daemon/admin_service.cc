#include "daemon/admin_service.h"

#include <unistd.h>

#include "control/views.h"
#include "store/change_log.h"

namespace unitsync::daemon {

std::vector<control::EnrolledUnitInfo> Enrolled(const pki::Registry& registry) {
  std::vector<control::EnrolledUnitInfo> out;
  for (const auto& r : registry.units) {
    out.push_back({r.unit.unit_id, r.unit.not_after, r.unit.revoked});
  }
  return out;
}

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
  Json doc = {{"pid", static_cast<int64_t>(::getpid())},
              {"started_ms", started_ms_},
              {"store_queue", store_.queued()},
              {"control_socket", config_.control_socket}};
  if (backups_) {
    const BackupScheduler::State& b = backups_->state();
    doc["backup"] = {{"dir", config_.backup_dir},  {"last_success_ms", b.last_success_ms},
                     {"last_file", b.last_file},   {"last_failure_ms", b.last_failure_ms},
                     {"last_error", b.last_error}, {"failures", b.failures},
                     {"running", b.running}};
  }
  if (storage_) doc["storage"] = storage_->ToJson();
  return doc;
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
  if (request.cmd == cmd::kPurge) {
    auto table = StringArg(args, "table");
    if (!table) return done(tl::unexpected(table.error()));
    auto id = StringArg(args, "id");
    if (!id) return done(tl::unexpected(id.error()));
    return OnStore(
        [t = *table, i = *id](store::Replica& r) { return control::PurgeRowView(r, t, i); },
        [this, done](Result<Json> r) {
          // The daemon's own writes do not wake the change watcher: send the purge.
          if (r) LocalWrite();
          done(std::move(r));
        });
  }
  if (request.cmd == cmd::kStamp) {
    return OnStore(
        [](store::Replica& r) -> Result<Json> {
          if (auto st = store::StampPendingChangesNow(r); !st) return tl::unexpected(st.error());
          return Json{{"stamped", true}};
        },
        done);
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

}  // namespace unitsync::daemon
