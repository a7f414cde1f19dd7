#include "daemon/handshake_slots.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <vector>

namespace unitsync::daemon {
namespace {

namespace asio = boost::asio;

class Slots : public ::testing::Test {
 protected:
  std::shared_ptr<TlsConnection> Connection() {
    asio::ip::tcp::socket s(io_);
    s.open(asio::ip::tcp::v4());
    return std::make_shared<TlsConnection>(std::move(s), tls_);
  }
  static bool IsOpen(const std::shared_ptr<TlsConnection>& c) {
    return c->stream().lowest_layer().is_open();
  }

  asio::io_context io_;
  asio::ssl::context tls_{asio::ssl::context::tls_server};
};

TEST_F(Slots, WhenFullTheOldestHandshakeIsAbortedForTheNewest) {
  HandshakeSlots slots(3, 3);
  std::vector<std::shared_ptr<TlsConnection>> conns;
  std::vector<HandshakeSlots::Slot> held;
  for (int i = 0; i < 3; ++i) {
    conns.push_back(Connection());
    held.push_back(*slots.Take(conns.back(), "10.0.0." + std::to_string(i)));
  }
  EXPECT_EQ(slots.pending(), 3u);
  for (const auto& c : conns) EXPECT_TRUE(IsOpen(c));

  conns.push_back(Connection());
  held.push_back(*slots.Take(conns.back(), "10.0.0.9"));
  EXPECT_EQ(slots.pending(), 3u);
  EXPECT_EQ(slots.evictions(), 1u);
  EXPECT_TRUE(held[0].evicted());
  EXPECT_FALSE(IsOpen(conns[0])) << "the oldest was aborted";
  for (size_t i = 1; i < conns.size(); ++i) {
    EXPECT_FALSE(held[i].evicted());
    EXPECT_TRUE(IsOpen(conns[i]));
  }
}

TEST_F(Slots, OneSourceOverItsShareIsRefusedWithoutDisturbingOthers) {
  HandshakeSlots slots(4, 2);
  auto a1 = Connection(), a2 = Connection(), a3 = Connection(), b1 = Connection();
  auto s1 = slots.Take(a1, "192.0.2.1");
  auto s2 = slots.Take(a2, "192.0.2.1");
  ASSERT_TRUE(s1 && s2);
  EXPECT_FALSE(slots.Take(a3, "192.0.2.1")) << "a third from the same source";
  EXPECT_TRUE(IsOpen(a1) && IsOpen(a2)) << "the ones under way are kept";
  EXPECT_EQ(slots.pending(), 2u);
  EXPECT_TRUE(slots.Take(b1, "192.0.2.2")) << "another source still gets in";
  s1->Release();
  EXPECT_TRUE(slots.Take(a3, "192.0.2.1")) << "a finished handshake frees its source's share";
}

TEST_F(Slots, AFinishedHandshakeGivesItsSlotBackAndIsNeverEvicted) {
  HandshakeSlots slots(2, 2);
  auto a = Connection();
  auto b = Connection();
  auto sa = slots.Take(a, "x");
  {
    auto sb = slots.Take(b, "x");
    sb->Release();
    EXPECT_EQ(slots.pending(), 1u);
    sb->Release();  // idempotent
  }
  EXPECT_EQ(slots.pending(), 1u);
  auto c = Connection();
  auto sc = slots.Take(c, "y");
  EXPECT_EQ(slots.evictions(), 0u) << "a free slot was there";
  EXPECT_TRUE(IsOpen(b)) << "a connection past its handshake is not the slots' business";
  auto d = Connection();
  auto sd = slots.Take(d, "z");
  EXPECT_TRUE(sa->evicted());
  EXPECT_FALSE(IsOpen(a));
  EXPECT_FALSE(sc->evicted());
}

TEST_F(Slots, SlotsMayOutliveTheirOwner) {
  auto a = Connection();
  auto slots = std::make_unique<HandshakeSlots>(1, 1);
  auto s = slots->Take(a, "x");
  slots.reset();
  s->Release();  // no access to the gone owner
  SUCCEED();
}

TEST(SlotSources, Ipv4AddressOrIpv6Slash64) {
  auto of = [](const char* a) { return HandshakeSlots::SourceOf(asio::ip::make_address(a)); };
  EXPECT_EQ(of("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(of("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(of("2001:db8:1:2:aaaa::1"), of("2001:db8:1:2:bbbb::9"));
  EXPECT_NE(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
}

}  // namespace
}  // namespace unitsync::daemon
