// unitsyncctl changes: the pending change log (the outgoing queue).
#include <memory>

#include "admin-cli/cli.h"
#include "store/change_log.h"
#include "store/cursors.h"
#include "store/sync_state.h"

namespace unitsync::cli {
namespace {

constexpr size_t kDefaultLimit = 100;

struct ChangesOptions {
  std::optional<int64_t> after;
  size_t limit = kDefaultLimit;
};

std::string OpName(char op) {
  switch (op) {
    case 'I':
      return "insert";
    case 'U':
      return "update";
    case 'D':
      return "delete";
    case 'M':
      return "merged";
    case 'X':
      return "moved out";  // the row left this unit: its old unit gets an eviction
    case 'R':
      return "resend";  // re-queued after central lost what it had acknowledged
  }
  return "?";
}

// Entries after this seq are not yet acknowledged by every peer. A unit:
// the change-log seq its newest acknowledged push covered. Central: the
// lowest cursor its units acknowledged (0 when none has acknowledged).
Result<int64_t> PendingCursor(store::Replica& replica) {
  if (replica.role() == store::Role::kUnit) {
    auto outbox = store::GetOutboxState(replica);
    if (!outbox) return tl::unexpected(outbox.error());
    return outbox->acked_log_seq;
  }
  auto cursors = store::ListCursors(replica);
  if (!cursors) return tl::unexpected(cursors.error());
  if (cursors->empty()) return 0;
  int64_t lowest = cursors->front().acked_seq;
  for (const auto& c : *cursors) lowest = std::min(lowest, c.acked_seq);
  return lowest;
}

Status RunChanges(Context& ctx, const ChangesOptions& opts) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  auto pending_after = PendingCursor(*replica);
  if (!pending_after) return tl::unexpected(pending_after.error());
  const int64_t after = opts.after.value_or(*pending_after);
  auto stats = store::GetChangeLogStats(*replica, *pending_after);
  if (!stats) return tl::unexpected(stats.error());
  auto changes = store::ListChanges(*replica, after, opts.limit);
  if (!changes) return tl::unexpected(changes.error());
  const int64_t now = replica->NowMs();
  const int64_t oldest_age = stats->oldest_wall_ms > 0 ? now - stats->oldest_wall_ms : 0;

  if (ctx.global.json) {
    auto entries = nlohmann::json::array();
    for (const auto& c : *changes) {
      entries.push_back({{"seq", c.seq},
                         {"table", c.table},
                         {"id", c.pk},
                         {"op", std::string(1, c.op)},
                         {"columns", c.cols},
                         {"unit", c.unit},
                         {"wall_ms", c.wall_ms},
                         {"age_ms", now - c.wall_ms}});
    }
    PrintJson(ctx.out(), {{"head_seq", stats->head_seq},
                          {"acked_seq", *pending_after},
                          {"pending", stats->pending},
                          {"oldest_pending_wall_ms", stats->oldest_wall_ms},
                          {"oldest_pending_age_ms", oldest_age},
                          {"after", after},
                          {"changes", entries}});
    return {};
  }
  TextTable table({"seq", "table", "id", "op", "columns", "age"});
  for (const auto& c : *changes) {
    table.AddRow({std::to_string(c.seq), c.table, c.pk, std::string(1, c.op) + " " + OpName(c.op),
                  c.cols.empty() ? "-" : c.cols, FormatAge(now - c.wall_ms)});
  }
  table.Print(ctx.out());
  ctx.out() << "pending: " << stats->pending << " change(s) after acknowledged seq "
            << *pending_after << ", head seq " << stats->head_seq;
  if (stats->pending > 0) ctx.out() << ", oldest " << FormatAge(oldest_age) << " old";
  ctx.out() << "\n";
  if (changes->size() == opts.limit) {
    ctx.out() << "(showing the first " << opts.limit << "; use --after " << changes->back().seq
              << " for more)\n";
  }
  return {};
}

}  // namespace

void RegisterChanges(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ChangesOptions>();
  CLI::App* cmd = app.add_subcommand("changes", "Show the change log: what is waiting to sync");
  cmd->add_option("--after", opts->after,
                  "List entries after this seq (default: the lowest seq acknowledged by every "
                  "peer)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--limit", opts->limit, "At most this many entries")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  cmd->footer(
      "Ops: I insert, U update (COLUMNS lists what changed), D delete, M merged from a peer.\n"
      "The summary counts entries not yet acknowledged by every peer.");
  cmd->callback([&ctx, opts] { ctx.Finish(RunChanges(ctx, *opts)); });
}

}  // namespace unitsync::cli
