#include "transport/rack.h"

#include <gtest/gtest.h>

namespace machnet::transport {
namespace {

TEST(Rack, NothingIsJudgedBeforeADelivery) {
  Rack r;
  EXPECT_FALSE(r.valid());
  EXPECT_FALSE(r.sent_before_latest(0));
}

// Order, not send time, says what went out later: a burst shares one clock reading.
TEST(Rack, TheLatestDeliveryIsByTransmissionOrder) {
  Rack r;
  EXPECT_FALSE(r.on_delivered(1000, 7, false, 1100, 90));
  EXPECT_TRUE(r.sent_before_latest(6));
  EXPECT_FALSE(r.sent_before_latest(7));
  EXPECT_FALSE(r.sent_before_latest(8));
  EXPECT_EQ(r.rtt_us(), 100u);
  // An older transmission delivered later changes nothing.
  r.on_delivered(900, 3, false, 1200, 90);
  EXPECT_FALSE(r.sent_before_latest(7));
  EXPECT_EQ(r.rtt_us(), 100u);
  // Segment 6, sent with 7 at 1000, is lost once 7's round trip plus the window passed.
  EXPECT_EQ(r.lost_at_us(1000, 25), 1125u);
}

TEST(Rack, TheReorderWindowIsAQuarterOfTheMinimumRttCappedAtSrtt) {
  Rack r;
  EXPECT_EQ(r.reo_wnd_us(400, 500), 100u);
  EXPECT_EQ(r.reo_wnd_us(400, 50), 50u);
}

// A retransmission acknowledged sooner than any round trip could be was needless (the
// original arrived): the window widens, and narrows again after 16 clean recoveries.
TEST(Rack, NeedlessRetransmissionsWidenTheWindowForAWhile) {
  Rack r;
  EXPECT_TRUE(r.on_delivered(1000, 5, true, 1010, 100));
  EXPECT_FALSE(r.valid()) << "an ambiguous delivery is not the latest";
  EXPECT_EQ(r.multiplier(), 2u);
  EXPECT_EQ(r.reo_wnd_us(400, 1000), 200u);
  EXPECT_FALSE(r.on_delivered(1000, 6, true, 1150, 100)) << "a full round trip: the retransmission's ACK";
  for (int i = 0; i < 15; ++i) r.on_recovery_end();
  EXPECT_EQ(r.multiplier(), 2u);
  r.on_recovery_end();
  EXPECT_EQ(r.multiplier(), 1u);
}

}  // namespace
}  // namespace machnet::transport
