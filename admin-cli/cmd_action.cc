// unitsyncctl action: add, list, show, update and delete support actions
// (for scripts and demos). The data access lives in support_actions.h.
#include <memory>

#include "admin-cli/cli.h"
#include "admin-cli/support_actions.h"

namespace unitsync::cli {
namespace {

constexpr size_t kDefaultListLimit = 100;

nlohmann::json OptJson(const std::optional<std::string>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string OrDash(const std::optional<std::string>& v) { return v ? *v : "-"; }
std::string OrDash(const std::string& v) { return v.empty() ? "-" : v; }

// ---- add ----------------------------------------------------------------

struct AddOptions {
  NewAction action;
  std::optional<std::string> unit;
};

Status RunAdd(Context& ctx, AddOptions opts) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  if (replica->role() == store::Role::kUnit) {
    if (opts.unit && *opts.unit != replica->node_id()) {
      return Fail(Errc::kInvalidArgument, "--unit must be this unit's own node id",
                  "a unit writes only its own rows; omit --unit");
    }
    opts.action.unit_id = replica->node_id();
  } else {
    if (!opts.unit) {
      return Fail(Errc::kInvalidArgument, "--unit is required at central",
                  "name the unit that owns the record, e.g. --unit unit-0042");
    }
    opts.action.unit_id = *opts.unit;
  }
  auto added = AddAction(*replica, opts.action);
  if (!added) return tl::unexpected(added.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"id", added->id},
                          {"unit_id", opts.action.unit_id},
                          {"student_id", added->student_id},
                          {"case_id", added->case_id},
                          {"created_student", added->created_student},
                          {"created_case", added->created_case}});
  } else {
    ctx.out() << added->id << "\n";
  }
  return {};
}

void RegisterAdd(CLI::App& parent, Context& ctx) {
  auto opts = std::make_shared<AddOptions>();
  CLI::App* cmd = parent.add_subcommand("add", "Record a new support action; prints its id");
  NewAction& a = opts->action;
  cmd->add_option("--student", a.student_pseudo,
                  "Student pseudonym (pseudo_id) - never a name or identity number")
      ->required();
  cmd->add_option("--type", a.action_type, "Action type code from the catalogue")->required();
  cmd->add_option("--start", a.start_on, "Start date")->required()->check(IsoDate());
  cmd->add_option("--description", a.description, "Free text (shown only by 'action show')");
  cmd->add_option("--responsible", a.responsible, "Who is responsible");
  cmd->add_option("--provider", a.provider, "Who provides it")
      ->check(OneOf(kActionProviders))
      ->capture_default_str();
  cmd->add_option("--status", a.status, "Initial status")
      ->check(OneOf(kActionStatuses))
      ->capture_default_str();
  cmd->add_option("--case", a.case_id,
                  "Support case id (default: the student's latest open case, or a new one)");
  cmd->add_option("--unit", opts->unit, "Owning unit (required at central)")->check(NodeId());
  cmd->footer(
      "The student and case are created when missing, all in one transaction.\n"
      "Example:\n"
      "  id=$(unitsyncctl --db unit.db action add --student ps-7f3a --type EA-LASHJALP \\\n"
      "       --start 2026-01-12 --description 'Inläsningstjänst')");
  cmd->callback([&ctx, opts] { ctx.Finish(RunAdd(ctx, *opts)); });
}

// ---- list ---------------------------------------------------------------

Status RunList(Context& ctx, const ActionFilter& filter) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  auto rows = ListActions(*replica, filter);
  if (!rows) return tl::unexpected(rows.error());
  // Free text (description, responsible) is left out on purpose: a list is
  // what gets pasted into tickets and chats. 'action show' has every field.
  if (ctx.global.json) {
    auto doc = nlohmann::json::array();
    for (const ActionRow& r : *rows) {
      doc.push_back({{"id", r.id},
                     {"unit_id", r.unit_id},
                     {"student", r.student_pseudo},
                     {"case_id", r.case_id},
                     {"type", r.action_type},
                     {"status", r.status},
                     {"start_on", r.start_on},
                     {"end_on", OptJson(r.end_on)},
                     {"provider", r.provider}});
    }
    PrintJson(ctx.out(), doc);
    return {};
  }
  const bool central = replica->role() == store::Role::kCentral;
  std::vector<std::string> headers = {"id",     "student", "case",    "type",
                                      "status", "start",   "provider"};
  if (central) headers.insert(headers.begin() + 1, "unit");
  TextTable table(headers);
  for (const ActionRow& r : *rows) {
    std::vector<std::string> cells = {
        r.id, OrDash(r.student_pseudo), r.case_id, r.action_type, r.status, r.start_on, r.provider};
    if (central) cells.insert(cells.begin() + 1, r.unit_id);
    table.AddRow(std::move(cells));
  }
  table.Print(ctx.out());
  ctx.out() << rows->size() << " action(s)";
  if (rows->size() == filter.limit) ctx.out() << " (limit reached; raise --limit)";
  ctx.out() << "\n";
  return {};
}

void RegisterList(CLI::App& parent, Context& ctx) {
  auto filter = std::make_shared<ActionFilter>();
  filter->limit = kDefaultListLimit;
  CLI::App* cmd = parent.add_subcommand("list", "List support actions (no free text)");
  cmd->add_option("--student", filter->student_pseudo, "Only this student pseudonym");
  cmd->add_option("--status", filter->status, "Only this status")->check(OneOf(kActionStatuses));
  cmd->add_option("--limit", filter->limit, "At most this many rows")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  cmd->callback([&ctx, filter] { ctx.Finish(RunList(ctx, *filter)); });
}

// ---- show ---------------------------------------------------------------

Status RunShow(Context& ctx, const std::string& id) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  auto r = GetAction(*replica, id);
  if (!r) return tl::unexpected(r.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"id", r->id},
                          {"unit_id", r->unit_id},
                          {"student", r->student_pseudo},
                          {"student_id", r->student_id},
                          {"case_id", r->case_id},
                          {"type", r->action_type},
                          {"status", r->status},
                          {"provider", r->provider},
                          {"start_on", r->start_on},
                          {"end_on", OptJson(r->end_on)},
                          {"responsible", OptJson(r->responsible)},
                          {"description", OptJson(r->description)}});
    return {};
  }
  const std::pair<const char*, std::string> fields[] = {
      {"id", r->id},
      {"unit", r->unit_id},
      {"student", OrDash(r->student_pseudo)},
      {"case", r->case_id},
      {"type", r->action_type},
      {"status", r->status},
      {"provider", r->provider},
      {"start", r->start_on},
      {"end", OrDash(r->end_on)},
      {"responsible", OrDash(r->responsible)},
      {"description", OrDash(r->description)},
  };
  for (const auto& [name, value] : fields) {
    ctx.out() << name << ":" << std::string(13 - std::string_view(name).size(), ' ')
              << ForTerminal(value, /*keep_newlines=*/true) << "\n";
  }
  return {};
}

void RegisterShow(CLI::App& parent, Context& ctx) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = parent.add_subcommand("show", "Show every field of one action, free text too");
  cmd->add_option("id", *id, "Action id")->required();
  cmd->callback([&ctx, id] { ctx.Finish(RunShow(ctx, *id)); });
}

// ---- update / delete ----------------------------------------------------

struct UpdateOptions {
  std::string id;
  ActionChanges changes;
};

Status RunUpdate(Context& ctx, const UpdateOptions& opts) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  if (auto st = UpdateAction(*replica, opts.id, opts.changes); !st) return st;
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"id", opts.id}, {"updated", true}});
  } else {
    ctx.out() << "updated " << opts.id << "\n";
  }
  return {};
}

void RegisterUpdate(CLI::App& parent, Context& ctx) {
  auto opts = std::make_shared<UpdateOptions>();
  ActionChanges& c = opts->changes;
  CLI::App* cmd = parent.add_subcommand("update", "Change fields of an action");
  cmd->add_option("id", opts->id, "Action id")->required();
  cmd->add_option("--description", c.description, "New free text");
  cmd->add_option("--responsible", c.responsible, "New responsible");
  cmd->add_option("--provider", c.provider, "New provider")->check(OneOf(kActionProviders));
  cmd->add_option("--status", c.status, "New status")->check(OneOf(kActionStatuses));
  cmd->add_option("--end", c.end_on, "End date")->check(IsoDate());
  cmd->footer("Only the given fields are written (and synced).");
  cmd->callback([&ctx, opts] { ctx.Finish(RunUpdate(ctx, *opts)); });
}

Status RunDelete(Context& ctx, const std::string& id) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  if (auto st = DeleteAction(*replica, id); !st) return st;
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"id", id}, {"deleted", true}});
  } else {
    ctx.out() << "deleted " << id << "\n";
  }
  return {};
}

void RegisterDelete(CLI::App& parent, Context& ctx) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = parent.add_subcommand("delete", "Delete an action (syncs as a final delete)");
  cmd->add_option("id", *id, "Action id")->required();
  cmd->callback([&ctx, id] { ctx.Finish(RunDelete(ctx, *id)); });
}

}  // namespace

void RegisterAction(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("action", "Add, list, show, update, delete support actions");
  cmd->require_subcommand(1);
  cmd->fallthrough();
  RegisterAdd(*cmd, ctx);
  RegisterList(*cmd, ctx);
  RegisterShow(*cmd, ctx);
  RegisterUpdate(*cmd, ctx);
  RegisterDelete(*cmd, ctx);
}

}  // namespace unitsync::cli
