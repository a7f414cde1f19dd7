#include "daemon/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "protocol/frame.h"
#include "store/replica.h"

namespace unitsync::daemon {
namespace {

std::string Where(const toml::node& node, const std::string& source) {
  const auto& src = node.source();
  return source + ":" + std::to_string(src.begin.line);
}

// "FILE:LINE: " for a key the file set, "FILE: " for one it did not, "" for a Config
// built in code: the prefix of a validation message about `key`.
std::string At(const Config& c, const std::string& key) {
  if (c.source.empty()) return "";
  auto it = c.lines.find(key);
  if (it == c.lines.end()) return c.source + ": ";
  return c.source + ":" + std::to_string(it->second) + ": ";
}

// Reads the keys of one table into `out`, refusing unknown keys, wrong types and values
// out of range; records the line of every key it reads in `lines`.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, const std::string& source,
              std::map<std::string, int64_t>& lines)
      : table_(table), prefix_(std::move(prefix)), source_(source), lines_(lines) {}

  Status String(const char* key, std::string& out) {
    return Read<std::string>(key, "a string", [&](const std::string& v) {
      out = v;
      return Status{};
    });
  }
  template <typename Int>
  Status Integer(const char* key, Int& out, int64_t min, int64_t max) {
    return Read<int64_t>(key, "an integer", [&](int64_t v) -> Status {
      if (v < min || v > max) {
        return Fail(Errc::kInvalidArgument, Where(*table_.get(key), source_) + ": " + Name(key) +
                                                " must be in " + std::to_string(min) + ".." +
                                                std::to_string(max));
      }
      out = static_cast<Int>(v);
      return {};
    });
  }
  // A key handled elsewhere (a sub-table).
  void MarkKnown(const char* key) { seen_.insert(key); }
  // Every key of the table must have been read.
  Status NoUnknownKeys() const {
    for (const auto& [k, v] : table_) {
      if (!seen_.contains(std::string(k.str()))) {
        return Fail(Errc::kInvalidArgument,
                    Where(v, source_) + ": unknown key " + Name(std::string(k.str()).c_str()),
                    "see packaging/unitsyncd.toml.example for every key");
      }
    }
    return {};
  }

 private:
  std::string Name(const char* key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

  template <typename T, typename F>
  Status Read(const char* key, const char* what, F&& use) {
    seen_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return {};
    lines_[Name(key)] = node->source().begin.line;
    const auto value = node->value<T>();
    if (!value || (std::is_same_v<T, int64_t> && !node->is_integer())) {
      return Fail(Errc::kInvalidArgument,
                  Where(*node, source_) + ": " + Name(key) + " must be " + what);
    }
    return use(*value);
  }

  const toml::table& table_;
  std::string prefix_;
  const std::string& source_;
  std::map<std::string, int64_t>& lines_;
  std::set<std::string> seen_;
};

#define CONFIG_TRY(expr)                                             \
  do {                                                               \
    if (auto _st = (expr); !_st) return tl::unexpected(_st.error()); \
  } while (0)

}  // namespace

Result<Config> ParseConfig(std::string_view text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    return Fail(Errc::kInvalidArgument, source + ":" + std::to_string(err.source().begin.line) +
                                            ": " + std::string(err.description()));
  }
  Config c;
  c.source = source;
  TableReader top(root, "", source, c.lines);
  std::string role;
  CONFIG_TRY(top.String("role", role));
  if (role == "unit") {
    c.role = NodeRole::kUnit;
  } else if (role == "central") {
    c.role = NodeRole::kCentral;
  } else {
    return Fail(Errc::kInvalidArgument, At(c, "role") + (role.empty() ? "role is missing: " : "") +
                                            "role must be \"unit\" or \"central\"");
  }
  CONFIG_TRY(top.String("node_id", c.node_id));
  CONFIG_TRY(top.String("database", c.database));

  auto section = [&](const char* name, auto&& read) -> Status {
    top.MarkKnown(name);
    const toml::node* node = root.get(name);
    if (node == nullptr) return {};
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      return Fail(Errc::kInvalidArgument,
                  Where(*node, source) + ": [" + name + "] must be a table");
    }
    TableReader r(*t, name, source, c.lines);
    if (auto st = read(r); !st) return st;
    return r.NoUnknownKeys();
  };
  CONFIG_TRY(section("tls", [&](TableReader& r) -> Status {
    if (auto st = r.String("bundle", c.bundle); !st) return st;
    return r.String("pki_dir", c.pki_dir);
  }));
  CONFIG_TRY(section("central", [&](TableReader& r) -> Status {
    if (auto st = r.String("host", c.central_host); !st) return st;
    if (auto st = r.Integer("port", c.central_port, 1, 65535); !st) return st;
    return r.String("node_id", c.central_node);
  }));
  CONFIG_TRY(section("listen", [&](TableReader& r) -> Status {
    if (auto st = r.String("address", c.listen_address); !st) return st;
    if (auto st = r.Integer("port", c.listen_port, 1, 65535); !st) return st;
    if (auto st = r.Integer("max_sessions", c.max_sessions, 1, 100'000); !st) return st;
    if (auto st = r.Integer("max_handshakes", c.max_handshakes, 1, 100'000); !st) return st;
    return r.Integer("max_handshakes_per_address", c.max_handshakes_per_address, 1, 100'000);
  }));
  CONFIG_TRY(
      section("control", [&](TableReader& r) { return r.String("socket", c.control_socket); }));
  CONFIG_TRY(section("metrics", [&](TableReader& r) -> Status {
    if (auto st = r.String("address", c.metrics_address); !st) return st;
    return r.Integer("port", c.metrics_port, 1, 65535);
  }));
  CONFIG_TRY(section("sync", [&](TableReader& r) -> Status {
    protocol::SyncOptions& s = c.sync;
    if (auto st = r.Integer("window", s.window, 1, 1024); !st) return st;
    if (auto st = r.Integer("ping_interval_ms", s.ping_interval_ms, 100, 3'600'000); !st) return st;
    if (auto st = r.Integer("read_deadline_ms", s.read_deadline_ms, 200, 7'200'000); !st) return st;
    if (auto st = r.Integer("handshake_timeout_ms", s.handshake_timeout_ms, 100, 600'000); !st) {
      return st;
    }
    if (auto st = r.Integer("backoff_base_ms", s.backoff_base_ms, 10, 600'000); !st) return st;
    if (auto st = r.Integer("backoff_max_ms", s.backoff_max_ms, 10, 86'400'000); !st) return st;
    if (auto st = r.Integer("max_frame", s.max_frame, 1024, 64 * 1024 * 1024); !st) return st;
    if (auto st = r.Integer("verify_timeout_ms", s.verify_timeout_ms, 1'000, 3'600'000); !st) {
      return st;
    }
    if (auto st = r.Integer("max_rows_per_changeset", c.max_rows_per_changeset, 1, 100'000); !st) {
      return st;
    }
    if (auto st =
            r.Integer("max_rows_per_snapshot_chunk", c.max_rows_per_snapshot_chunk, 1, 100'000);
        !st) {
      return st;
    }
    if (auto st = r.Integer("change_poll_ms", c.change_poll_ms, 100, 3'600'000); !st) return st;
    return r.Integer("log_retention_s", c.log_retention_s, 0, 3'650LL * 86'400);
  }));
  CONFIG_TRY(section("backup", [&](TableReader& r) -> Status {
    if (auto st = r.String("dir", c.backup_dir); !st) return st;
    if (auto st = r.Integer("interval_s", c.backup_interval_s, 60, 366 * 86'400); !st) return st;
    return r.Integer("keep", c.backup_keep, 1, 10'000);
  }));
  CONFIG_TRY(top.NoUnknownKeys());
  return c;
}

Result<Config> ParseConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(Errc::kNotFound, "cannot read config " + path,
                "pass --config PATH, or copy packaging/unitsyncd.toml.example there");
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

Status ValidateConfig(const Config& c) {
  auto invalid = [&c](const std::string& key, const std::string& rule, std::string hint = {}) {
    return Fail(Errc::kInvalidArgument, At(c, key) + rule, std::move(hint));
  };
  if (c.node_id.empty()) return invalid("node_id", "node_id is missing: this node's id");
  if (!store::IsValidNodeId(c.node_id)) {
    // The replica's rule: a node id `unitsyncctl init` would refuse can never match one.
    return invalid("node_id",
                   "node_id must be 1..64 characters of [a-z0-9._-], starting with a letter or "
                   "digit");
  }
  if (c.database.empty()) return invalid("database", "database is missing: the replica file");
  if (c.bundle.empty()) {
    return invalid("tls.bundle", "tls.bundle is missing",
                   "make one with 'unitsyncctl pki enroll' (unit) or 'unitsyncctl pki server' "
                   "(central)");
  }
  if (c.role == NodeRole::kCentral && c.pki_dir.empty()) {
    return invalid("tls.pki_dir", "tls.pki_dir is missing: central needs it",
                   "the directory made by 'unitsyncctl pki init-ca': it lists the enrolled units");
  }
  if (c.role == NodeRole::kUnit && !store::IsValidNodeId(c.central_node)) {
    return invalid("central.node_id", "central.node_id must be a valid node id");
  }
  if (c.control_socket.empty()) return invalid("control.socket", "control.socket is missing");
  if (c.max_handshakes_per_address > c.max_handshakes) {
    return invalid("listen.max_handshakes_per_address",
                   "listen.max_handshakes_per_address must be ≤ listen.max_handshakes");
  }
  if (c.sync.read_deadline_ms < 2 * c.sync.ping_interval_ms) {
    return invalid("sync.read_deadline_ms",
                   "sync.read_deadline_ms must be at least twice sync.ping_interval_ms",
                   "otherwise an idle but healthy session is dropped");
  }
  if (c.sync.backoff_max_ms < c.sync.backoff_base_ms) {
    return invalid("sync.backoff_max_ms", "sync.backoff_max_ms must be ≥ sync.backoff_base_ms");
  }
  if (auto st = protocol::ValidateMaxFrame(c.sync.max_frame); !st) {
    return invalid("sync.max_frame", "sync.max_frame: " + st.error().message, st.error().hint);
  }
  return {};
}

std::string DescribeConfig(const Config& c) {
  std::ostringstream out;
  out << "role:            " << (c.role == NodeRole::kUnit ? "unit" : "central") << "\n"
      << "node id:         " << c.node_id << "\n"
      << "database:        " << c.database << "\n"
      << "tls bundle:      " << c.bundle << "\n";
  if (c.role == NodeRole::kCentral) {
    out << "pki dir:         " << c.pki_dir << "\n"
        << "listen:          " << c.listen_address << ":" << c.listen_port << " (at most "
        << c.max_sessions << " sessions; " << c.max_handshakes << " handshakes at once, "
        << c.max_handshakes_per_address << " per address)\n";
  } else {
    out << "central:         " << c.central_node << " at " << c.central_host << ":"
        << c.central_port << "\n";
  }
  out << "control socket:  " << c.control_socket << "\n"
      << "metrics:         "
      << (c.metrics_address.empty() ? std::string("off")
                                    : c.metrics_address + ":" + std::to_string(c.metrics_port))
      << "\n"
      << "sync window:     " << c.sync.window << ", ping every " << c.sync.ping_interval_ms
      << " ms, read deadline " << c.sync.read_deadline_ms << " ms, frames up to "
      << c.sync.max_frame << " bytes\n"
      << "backups:         "
      << (c.backup_dir.empty()
              ? std::string("off")
              : "to " + c.backup_dir + " every " + std::to_string(c.backup_interval_s) +
                    " s, newest " + std::to_string(c.backup_keep) + " kept")
      << "\n";
  return out.str();
}

}  // namespace unitsync::daemon
