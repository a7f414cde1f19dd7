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

  auto range = ParseConfig(base + "[sync]\nwindow = 0\n", "t.toml");
  ASSERT_FALSE(range);

  auto role = ParseConfig("role = \"hub\"\n", "t.toml");
  ASSERT_FALSE(role);

  auto syntax = ParseConfig("role = \n", "t.toml");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("t.toml:1"), std::string::npos);
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
