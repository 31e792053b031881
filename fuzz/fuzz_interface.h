// The fixed interface the packet parser fuzz target receives for, shared with the seed
// generator so that the seeds are addressed to it.
#pragma once

#include "net/packet_parser.h"

namespace machnet::fuzz {

inline const net::Interface kInterface{
    MacAddress{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}},
    Ipv4Address{0x0a000001},  // 10.0.0.1
};
inline const MacAddress kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
inline const Ipv4Address kPeerIp{0x0a000002};  // 10.0.0.2

}  // namespace machnet::fuzz
