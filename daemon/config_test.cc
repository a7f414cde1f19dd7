#include "daemon/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace unitsync::daemon {
namespace {

TEST(Config, TheShippedExampleParsesValidatesAndMatchesTheDefaults) {
  std::ifstream in(std::string(UNITSYNC_SOURCE_DIR) + "/packaging/unitsyncd.toml.example");
  ASSERT_TRUE(in) << "example config missing";
  std::stringstream text;
  text << in.rdbuf();
  auto c = ParseConfig(text.str(), "unitsyncd.toml.example");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_TRUE(ValidateConfig(*c)) << ValidateConfig(*c).error().ToString();
  // The example documents the defaults: every value equals the struct's.
  const Config d;
  EXPECT_EQ(c->central_port, d.central_port);
  EXPECT_EQ(c->listen_port, d.listen_port);
  EXPECT_EQ(c->max_sessions, d.max_sessions);
  EXPECT_EQ(c->max_handshakes, d.max_handshakes);
  EXPECT_EQ(c->max_handshakes_per_address, d.max_handshakes_per_address);
  EXPECT_EQ(c->control_socket, d.control_socket);
  EXPECT_EQ(c->sync.window, d.sync.window);
  EXPECT_EQ(c->sync.ping_interval_ms, d.sync.ping_interval_ms);
  EXPECT_EQ(c->sync.read_deadline_ms, d.sync.read_deadline_ms);
  EXPECT_EQ(c->sync.handshake_timeout_ms, d.sync.handshake_timeout_ms);
  EXPECT_EQ(c->sync.backoff_base_ms, d.sync.backoff_base_ms);
  EXPECT_EQ(c->sync.backoff_max_ms, d.sync.backoff_max_ms);
  EXPECT_EQ(c->sync.max_frame, d.sync.max_frame);
  EXPECT_EQ(c->sync.verify_timeout_ms, d.sync.verify_timeout_ms);
  EXPECT_EQ(c->max_rows_per_changeset, d.max_rows_per_changeset);
  EXPECT_EQ(c->max_rows_per_snapshot_chunk, d.max_rows_per_snapshot_chunk);
  EXPECT_EQ(c->change_poll_ms, d.change_poll_ms);
  EXPECT_EQ(c->metrics_port, d.metrics_port);
  EXPECT_EQ(c->backup_dir, d.backup_dir);
  EXPECT_EQ(c->backup_interval_s, d.backup_interval_s);
  EXPECT_EQ(c->backup_keep, d.backup_keep);
}

TEST(Config, UnknownKeysWrongTypesAndBadValuesAreExplained) {
  const std::string base = "role = \"unit\"\nnode_id = \"unit-1\"\ndatabase = \"x.db\"\n";
  auto unknown = ParseConfig(base + "[sync]\nwindoww = 3\n", "t.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("sync.windoww"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("t.toml:5"), std::string::npos);

  auto typed = ParseConfig(base + "[central]\nport = \"7443\"\n", "t.toml");
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message.find("central.port"), std::string::npos);
  EXPECT_NE(typed.error().message.find("t.toml:5"), std::string::npos) << typed.error().message;

  auto range = ParseConfig(base + "[sync]\nwindow = 0\n", "t.toml");
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message.find("t.toml:5: sync.window must be in 1..1024"),
            std::string::npos)
      << range.error().message;

  auto role = ParseConfig("node_id = \"unit-1\"\nrole = \"hub\"\n", "t.toml");
  ASSERT_FALSE(role);
  EXPECT_NE(role.error().message.find("t.toml:2: role must be"), std::string::npos)
      << role.error().message;
  auto no_role = ParseConfig("node_id = \"unit-1\"\n", "t.toml");
  ASSERT_FALSE(no_role);
  EXPECT_NE(no_role.error().message.find("t.toml: role is missing"), std::string::npos)
      << no_role.error().message;

  auto syntax = ParseConfig("role = \n", "t.toml");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("t.toml:1"), std::string::npos);
}

// What `unitsyncd --check-config` prints for a file that parses but breaks a rule: the key
// and the line it is on, so an admin can go straight there.
TEST(Config, ValidationNamesTheKeyAndItsLine) {
  auto check = [](const std::string& text) -> std::string {
    auto c = ParseConfig(text, "/etc/unitsync/unitsyncd.toml");
    if (!c) return "parse: " + c.error().message;
    auto st = ValidateConfig(*c);
    return st ? "valid" : st.error().message;
  };
  const std::string head = "role = \"unit\"\n";
  const std::string tls = "[tls]\nbundle = \"/etc/unitsync/bundle\"\n";
  EXPECT_EQ(check(head + "node_id = \"Unit 1\"\ndatabase = \"x.db\"\n" + tls),
            "/etc/unitsync/unitsyncd.toml:2: node_id must be 1..64 characters of [a-z0-9._-], "
            "starting with a letter or digit");
  EXPECT_EQ(check(head + "node_id = \"unit-1\"\n" + tls),
            "/etc/unitsync/unitsyncd.toml: database is missing: the replica file");
  EXPECT_EQ(check(head + "node_id = \"unit-1\"\ndatabase = \"x.db\"\n" + tls +
                  "[sync]\nping_interval_ms = 60000\nread_deadline_ms = 90000\n"),
            "/etc/unitsync/unitsyncd.toml:8: sync.read_deadline_ms must be at least twice "
            "sync.ping_interval_ms");
  EXPECT_EQ(check(head + "node_id = \"unit-1\"\ndatabase = \"x.db\"\n" + tls +
                  "[central]\nnode_id = \"Central!\"\n"),
            "/etc/unitsync/unitsyncd.toml:7: central.node_id must be a valid node id");
  EXPECT_EQ(check("role = \"central\"\nnode_id = \"central\"\ndatabase = \"c.db\"\n" + tls),
            "/etc/unitsync/unitsyncd.toml: tls.pki_dir is missing: central needs it");
  EXPECT_EQ(check(head + "node_id = \"unit-1\"\ndatabase = \"x.db\"\n" + tls), "valid");
}

TEST(Config, ValidationNamesWhatIsMissing) {
  Config c;
  c.node_id = "unit-1";
  c.database = "x.db";
  auto no_bundle = ValidateConfig(c);
  ASSERT_FALSE(no_bundle);
  EXPECT_NE(no_bundle.error().message.find("tls.bundle"), std::string::npos);
  c.bundle = "b";
  EXPECT_TRUE(ValidateConfig(c));
  c.role = NodeRole::kCentral;
  EXPECT_FALSE(ValidateConfig(c)) << "central needs pki_dir";
  c.pki_dir = "p";
  EXPECT_TRUE(ValidateConfig(c));
  c.node_id = "bad id";
  EXPECT_FALSE(ValidateConfig(c));
  c.node_id = "central";
  c.max_handshakes_per_address = c.max_handshakes + 1;
  EXPECT_FALSE(ValidateConfig(c));
  c.max_handshakes_per_address = c.max_handshakes;
  EXPECT_TRUE(ValidateConfig(c));
  c.sync.read_deadline_ms = c.sync.ping_interval_ms;
  EXPECT_FALSE(ValidateConfig(c));
}

}  // namespace
}  // namespace unitsync::daemon
