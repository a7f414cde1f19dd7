// UnitNode::Verify and CentralNode::Verify, the API the control socket calls, with the
// real nodes in one process: one io_context, real TLS 1.3 on loopback with certificates
// from a real deployment CA, a store thread per replica. (The real-process path through
// `unitsyncctl verify` needs the control socket.)
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>

#include "daemon/config.h"
#include "daemon/nodes.h"
#include "daemon/tls_context.h"
#include "pki/bundle.h"
#include "pki/ca.h"
#include "pki/registry.h"
#include "store/test_util.h"

namespace unitsync::testing {
namespace {

using protocol::VerifyReport;
using store::testing::Exec;
using store::testing::TempDir;
using store::testing::ValueOrDie;
using VerifyResult = Result<VerifyReport>;

void OkOrDie(const Status& st, const char* what) {
  if (!st) throw std::runtime_error(std::string(what) + ": " + st.error().ToString());
}

std::vector<std::string> DifferingTables(const VerifyReport& r) {
  std::vector<std::string> out;
  for (const auto& t : r.tables) {
    if (!t.equal) out.push_back(t.table);
  }
  return out;
}

class NodeVerify : public ::testing::Test {
 protected:
  NodeVerify() {
    const std::string ca = dir_.File("ca");
    ValueOrDie(pki::InitCa(ca, "test"));
    ValueOrDie(pki::IssueServer(ca, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ValueOrDie(pki::EnrollUnit(ca, "unit-0001", dir_.File("unit-bundle")));
    central_path_ = dir_.File("central.db");
    central_replica_.emplace(
        ValueOrDie(store::Replica::Create(central_path_, store::Role::kCentral, "central")));
    unit_replica_.emplace(
        ValueOrDie(store::Replica::Create(dir_.File("unit.db"), store::Role::kUnit, "unit-0001")));
    for (int n = 0; n < 5; ++n) {
      Exec(*unit_replica_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-" +
                               std::to_string(n) + "', 'unit-0001', 'p')");
    }

    log_file_ = std::fopen(dir_.File("nodes.log").c_str(), "w");
    log_.emplace(log_file_);
    central_store_.emplace(io_.get_executor());
    unit_store_.emplace(io_.get_executor());

    central_config_.role = daemon::NodeRole::kCentral;
    central_config_.node_id = "central";
    central_config_.pki_dir = ca;
    central_config_.listen_address = "127.0.0.1";
    central_config_.listen_port = 0;  // any free port
    registry_ = ValueOrDie(pki::LoadRegistrations(ca));
    for (const auto& u : registry_.units) {
      for (const auto& k : u.keys) {
        OkOrDie(central_keys_.Add(u.unit.unit_id, k.secret.bytes(), k.key_id), "central key");
      }
    }
    const pki::Bundle central_bundle = ValueOrDie(pki::LoadBundle(dir_.File("central-bundle")));
    central_tls_.emplace(ValueOrDie(
        daemon::MakeServerContext(central_bundle, registry_.ca_cert_path, registry_.crl_path)));
    central_.emplace(io_, central_config_, *central_replica_, registry_, central_keys_,
                     *central_tls_, *central_store_, *log_);
    OkOrDie(central_->Start(), "listen");

    unit_config_.role = daemon::NodeRole::kUnit;
    unit_config_.node_id = "unit-0001";
    unit_config_.central_port = central_->port();
    const pki::Bundle unit_bundle = ValueOrDie(pki::LoadBundle(dir_.File("unit-bundle")));
    OkOrDie(unit_keys_.Add("unit-0001", unit_bundle.sealing->secret.bytes(),
                           unit_bundle.sealing->key_id),
            "unit key");
    unit_tls_.emplace(ValueOrDie(daemon::MakeClientContext(unit_bundle)));
    daemon::UnitExecutor loader(*unit_replica_, "central", unit_keys_);
    unit_.emplace(io_, unit_config_, *unit_replica_, unit_keys_, *unit_tls_, *unit_store_, *log_,
                  ValueOrDie(loader.LoadState()));
  }

  ~NodeVerify() override {
    unit_->Stop();
    central_->Stop();
    Run(std::chrono::milliseconds(50));
    unit_store_->Stop();
    central_store_->Stop();
    unit_.reset();
    central_.reset();
    std::fclose(log_file_);
  }

  void Run(std::chrono::milliseconds d) {
    if (io_.stopped()) io_.restart();
    io_.run_for(d);
  }

  // Starts a verify through `start` and runs the nodes until its callback (once).
  std::optional<VerifyResult> Await(
      const std::function<void(std::function<void(VerifyResult)>)>& start,
      std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::optional<VerifyResult> out;
    int calls = 0;
    start([&](VerifyResult r) {
      ++calls;
      out = std::move(r);
    });
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!out && std::chrono::steady_clock::now() < until) Run(std::chrono::milliseconds(10));
    Run(std::chrono::milliseconds(10));
    EXPECT_LE(calls, 1) << "a verify's callback runs exactly once";
    return out;
  }
  std::optional<VerifyResult> FromUnit() {
    return Await([&](auto cb) { unit_->Verify(std::move(cb)); });
  }
  std::optional<VerifyResult> FromCentral(const std::string& unit = "unit-0001") {
    return Await([&](auto cb) { central_->Verify(unit, std::move(cb)); });
  }

  // Verifies from the unit until sync has settled with every table equal.
  bool Converged() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      auto r = FromUnit();
      if (r && *r && (*r)->settled && (*r)->all_equal()) return true;
      Run(std::chrono::milliseconds(50));
    }
    return false;
  }

  TempDir dir_;
  std::string central_path_;
  std::optional<store::Replica> central_replica_;
  std::optional<store::Replica> unit_replica_;
  boost::asio::io_context io_;
  std::FILE* log_file_ = nullptr;
  std::optional<daemon::Logger> log_;
  std::optional<daemon::StoreWorker> central_store_;
  std::optional<daemon::StoreWorker> unit_store_;
  daemon::Config central_config_;
  daemon::Config unit_config_;
  pki::Registry registry_;
  daemon::KeyRing central_keys_;
  daemon::KeyRing unit_keys_;
  std::optional<boost::asio::ssl::context> central_tls_;
  std::optional<boost::asio::ssl::context> unit_tls_;
  std::optional<daemon::CentralNode> central_;
  std::optional<daemon::UnitNode> unit_;
};

TEST_F(NodeVerify, NotConnectedIsRefusedAtOnceNotLeftHanging) {
  // Before anything ran: the unit has no session yet, central knows no unit.
  auto r = Await([&](auto cb) { unit_->Verify(std::move(cb)); }, std::chrono::seconds(1));
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, Errc::kUnavailable);
  EXPECT_EQ(r->error().message.rfind("not connected to central", 0), 0u) << r->error().message;
  auto c = FromCentral("unit-0009");
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(*c);
  EXPECT_EQ(c->error().code, Errc::kUnavailable);
  EXPECT_EQ(c->error().message, "unit not connected");
}

TEST_F(NodeVerify, BothSidesReportEveryTableEqualOnceSynced) {
  unit_->Start();
  ASSERT_TRUE(Converged());
  EXPECT_EQ(central_->ConnectedUnits(), std::vector<std::string>{"unit-0001"});
  auto r = FromCentral();
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(*r) << r->error().message;
  EXPECT_EQ((*r)->unit, "unit-0001");
  EXPECT_TRUE((*r)->all_equal()) << (*r)->Summary();
  EXPECT_TRUE((*r)->settled) << (*r)->in_flight;
  EXPECT_EQ((*r)->unit_position.push, (*r)->central_position.push);
  EXPECT_GE((*r)->central_position.push, 1u);
}

TEST_F(NodeVerify, AChangeBehindTheEnginesBackIsNamed) {
  unit_->Start();
  ASSERT_TRUE(Converged());
  {
    // Another connection writes past the capture triggers.
    auto other = ValueOrDie(store::Replica::Open(central_path_));
    Exec(other,
         "BEGIN IMMEDIATE; INSERT INTO _us_applying(flag) VALUES (1); UPDATE student SET grade = "
         "7 WHERE id = 's-3'; DELETE FROM _us_applying; COMMIT");
  }
  for (auto r : {FromCentral(), FromUnit()}) {
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(*r) << r->error().message;
    EXPECT_EQ(DifferingTables(**r), std::vector<std::string>{"student"});
    EXPECT_TRUE((*r)->settled) << (*r)->in_flight;
  }
}

TEST_F(NodeVerify, ConcurrentVerifiesEachGetTheirOwnAnswer) {
  unit_->Start();
  ASSERT_TRUE(Converged());
  std::vector<int> calls(5, 0);
  std::vector<std::optional<VerifyResult>> results(5);
  for (int i = 0; i < 5; ++i) {
    auto cb = [&, i](VerifyResult r) {
      ++calls[i];
      results[i] = std::move(r);
    };
    if (i % 2 == 0) {
      central_->Verify("unit-0001", cb);
    } else {
      unit_->Verify(cb);
    }
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto all = [&] {
    for (const auto& r : results) {
      if (!r) return false;
    }
    return true;
  };
  while (!all() && std::chrono::steady_clock::now() < until) Run(std::chrono::milliseconds(10));
  Run(std::chrono::milliseconds(20));
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(calls[i], 1);
    ASSERT_TRUE(results[i].has_value());
    ASSERT_TRUE(*results[i]) << results[i]->error().message;
    EXPECT_TRUE((*results[i])->all_equal());
  }
}

TEST_F(NodeVerify, TheSessionEndingFailsPendingVerifiesOnBothSides) {
  unit_->Start();
  ASSERT_TRUE(Converged());
  std::optional<VerifyResult> at_unit, at_central;
  unit_->Verify([&](VerifyResult r) { at_unit = std::move(r); });
  central_->Verify("unit-0001", [&](VerifyResult r) { at_central = std::move(r); });
  unit_->Stop();  // before either VERIFY was read
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(at_unit && at_central) && std::chrono::steady_clock::now() < until) {
    Run(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(at_unit.has_value());
  ASSERT_FALSE(*at_unit);
  EXPECT_EQ(at_unit->error().code, Errc::kUnavailable);
  ASSERT_TRUE(at_central.has_value());
  ASSERT_FALSE(*at_central);
  EXPECT_EQ(at_central->error().code, Errc::kUnavailable);
  auto after = FromCentral();
  ASSERT_TRUE(after.has_value());
  ASSERT_FALSE(*after);
  EXPECT_EQ(after->error().message, "unit not connected");
}

}  // namespace
}  // namespace unitsync::testing
