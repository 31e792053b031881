// Covers: loading machnet.toml into Config — the shipped file, defaults, every class of
// error with the line/column/key it points at, all errors reported at once, and the
// writer (effective config, reload diff). Leaves out: reading from /etc (the daemon's path).
#include "config/config_loader.h"

#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_writer.h"

namespace machnet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

#ifndef MACHNET_SOURCE_ROOT
#error "MACHNET_SOURCE_ROOT must point at the source tree"
#endif
const std::string kShippedConfig = std::string(MACHNET_SOURCE_ROOT) + "/config/machnet.toml";

ConfigLoadResult load(std::string_view text) { return load_config_string(text, "test.toml"); }

// The one error of a load that must fail with exactly one.
ConfigError single_error(std::string_view text) {
  const auto result = load(text);
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.errors.size(), 1u);
  return result.errors.empty() ? ConfigError{} : result.errors.front();
}

TEST(ConfigLoader, ShippedFileLoadsAndEqualsTheDefaults) {
  const auto result = load_config_file(kShippedConfig);
  for (const auto& e : result.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(result.config.has_value());
  // The shipped file documents the defaults: loading it must change nothing.
  EXPECT_THAT(changed_keys(Config{}, *result.config), ::testing::IsEmpty());
}

TEST(ConfigLoader, ShippedFileSetsEveryKey) {
  std::ifstream in(kShippedConfig);
  std::stringstream text;
  text << in.rdbuf();
  // Drop each key in turn: the file must mention every key the daemon knows, uncommented.
  std::set<std::string> written;
  std::string section;
  std::string line;
  while (std::getline(text, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    written.insert(section + "." + line.substr(0, line.find_first_of(" =")));
  }
  for (const auto& key : all_config_keys()) EXPECT_TRUE(written.count(key)) << key << " is not in config/machnet.toml";
  EXPECT_EQ(written.size(), all_config_keys().size()) << "config/machnet.toml has keys the daemon does not know";
}

TEST(ConfigLoader, EmptyFileGivesDefaults) {
  const auto result = load("");
  ASSERT_TRUE(result.config);
  EXPECT_EQ(result.config->nic.mode, NicMode::kAuto);
  EXPECT_EQ(result.config->daemon.admin_socket, "/run/machnet/machnetctl.sock");
  EXPECT_EQ(result.config->daemon.app_socket, "/run/machnet/machnet.sock");
  EXPECT_EQ(result.config->engine.polling, Polling::kAdaptive);
  EXPECT_EQ(result.config->transport.mtu, std::nullopt) << "\"auto\": what the link carries";
  EXPECT_FALSE(result.config->nic.ip.has_value());
}

TEST(ConfigLoader, MtuIsAutoOrANumber) {
  const auto number = load_config_string("[transport]\nmtu = 1500\n", "test.toml");
  ASSERT_TRUE(number.config);
  EXPECT_EQ(number.config->transport.mtu, 1500u);
  const auto automatic = load_config_string("[transport]\nmtu = \"auto\"\n", "test.toml");
  ASSERT_TRUE(automatic.config);
  EXPECT_EQ(automatic.config->transport.mtu, std::nullopt);
  const auto e = single_error("[transport]\nmtu = \"jumbo\"\n");
  EXPECT_EQ(e.to_string(), "test.toml:2:7: transport.mtu: expected \"auto\" or an integer between 576 and 9000, got \"jumbo\"");
  const auto range = single_error("[transport]\nmtu = 9001\n");
  EXPECT_THAT(range.message, HasSubstr("9001 is out of range: must be between 576 and 9000"));
}

TEST(ConfigLoader, ReadsEveryKindOfValue) {
  const auto result = load(R"(
[daemon]
log_level = "debug"
app_socket = "/tmp/a.sock"
[nic]
mode = "vdev"
vdev = "net_af_packet0,iface=mn0"
ip = "10.0.0.4/24"
mac = "000d3a123456"
restore_on_stop = false
[engine]
cores = [2, 3]
polling = "busy"
adaptive_yield_us = 0
[dpdk]
eal_args = ["--log-level=8", "-a", "x"]
memory_mb = 2048
)");
  for (const auto& e : result.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(result.config);
  const Config& c = *result.config;
  EXPECT_EQ(c.daemon.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.daemon.app_socket, "/tmp/a.sock");
  EXPECT_EQ(c.nic.mode, NicMode::kVdev);
  EXPECT_EQ(c.nic.vdev, "net_af_packet0,iface=mn0");
  ASSERT_TRUE(c.nic.ip);
  EXPECT_EQ(c.nic.ip->to_string(), "10.0.0.4/24");
  ASSERT_TRUE(c.nic.mac);
  EXPECT_EQ(c.nic.mac->to_string(), "00:0d:3a:12:34:56");
  EXPECT_FALSE(c.nic.restore_on_stop);
  EXPECT_THAT(c.engine.cores, ElementsAre(2u, 3u));
  EXPECT_EQ(c.engine.polling, Polling::kBusy);
  EXPECT_EQ(c.engine.adaptive_yield_us, 0u);
  EXPECT_THAT(c.dpdk.eal_args, ElementsAre("--log-level=8", "-a", "x"));
  EXPECT_EQ(c.dpdk.memory_mb, 2048u);
}

TEST(ConfigLoader, SyntaxErrorPointsAtItsLine) {
  const auto e = single_error("[daemon]\nlog_level = \"info\"\nmode = = 3\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_THAT(e.message, HasSubstr("syntax error"));
  EXPECT_THAT(e.to_string(), ::testing::StartsWith("test.toml:3:"));
}

TEST(ConfigLoader, WrongTypeNamesKeyExpectedAndGot) {
  const auto e = single_error("[transport]\n\nrto_min_us = \"1000\"\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 14u);
  EXPECT_EQ(e.key, "transport.rto_min_us");
  EXPECT_THAT(e.message, HasSubstr("expected an integer between 10 and 10000000, got a string"));
  EXPECT_EQ(e.to_string(), "test.toml:3:14: transport.rto_min_us: expected an integer between 10 and 10000000, got a string");
}

TEST(ConfigLoader, OutOfRange) {
  const auto e = single_error("[dpdk]\nmemory_mb = 1\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.key, "dpdk.memory_mb");
  EXPECT_THAT(e.message, HasSubstr("1 is out of range: must be between 64 and 65536"));
}

TEST(ConfigLoader, NegativeIntegerIsOutOfRange) {
  const auto e = single_error("[engine]\ncores = [0, -1]\n");
  EXPECT_EQ(e.key, "engine.cores");
  EXPECT_THAT(e.message, HasSubstr("-1 is out of range"));
}

TEST(ConfigLoader, UnknownKeySuggestsTheClosest) {
  const auto e = single_error("[nic]\nmode = \"none\"\nrestore_on_stpo = true\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 1u);
  EXPECT_EQ(e.key, "nic.restore_on_stpo");
  EXPECT_THAT(e.message, HasSubstr("unknown key \"restore_on_stpo\" in [nic]; did you mean \"restore_on_stop\"?"));
}

TEST(ConfigLoader, AReplacedKeyNamesItsReplacement) {
  const auto e = single_error("[transport]\nmtu = 1500\nmax_retransmits = 12\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.key, "transport.max_retransmits");
  EXPECT_THAT(e.message, HasSubstr("unknown key \"max_retransmits\" in [transport]; it was replaced by give_up_ms"));
}

TEST(ConfigLoader, GiveUpIsADurationInMilliseconds) {
  const auto e = single_error("[transport]\ngive_up_ms = 50\n");
  EXPECT_EQ(e.key, "transport.give_up_ms");
  EXPECT_THAT(e.message, HasSubstr("50 is out of range: must be between 100 and 3600000"));
}

TEST(ConfigLoader, FlowScalingRangeIsValidatedLikeTheOtherTransportKeys) {
  const auto ok = load("[transport]\nflow_scaling_range_us = 0\n");
  ASSERT_TRUE(ok.config);
  EXPECT_EQ(ok.config->transport.flow_scaling_range_us, 0u);
  EXPECT_EQ(load("").config->transport.flow_scaling_range_us, 1000u);
  auto e = single_error("[transport]\nmtu = 1500\nflow_scaling_range_us = 2000000\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.key, "transport.flow_scaling_range_us");
  EXPECT_THAT(e.message, HasSubstr("2000000 is out of range: must be between 0 and 1000000"));
  e = single_error("[transport]\nflow_scaling_range_us = -5\n");
  EXPECT_EQ(e.key, "transport.flow_scaling_range_us");
  EXPECT_THAT(e.message, HasSubstr("-5 is out of range"));
}

TEST(ConfigLoader, UnknownKeyFarFromAnyGetsNoSuggestion) {
  const auto e = single_error("[nic]\nzzzzzzzz = 1\n");
  EXPECT_THAT(e.message, ::testing::Not(HasSubstr("did you mean")));
}

TEST(ConfigLoader, UnknownSectionSuggestsTheClosest) {
  const auto e = single_error("[engnie]\ncores = []\n");
  EXPECT_EQ(e.line, 1u);
  EXPECT_THAT(e.message, HasSubstr("unknown section [engnie]; did you mean \"engine\"?"));
}

TEST(ConfigLoader, BadChoiceListsTheChoices) {
  const auto e = single_error("[nic]\nmode = \"fast\"\n");
  EXPECT_EQ(e.key, "nic.mode");
  EXPECT_THAT(e.message, HasSubstr("expected one of \"auto\", \"pci\", \"vdev\", \"none\", got \"fast\""));
}

TEST(ConfigLoader, UnparsableAddresses) {
  EXPECT_THAT(single_error("[nic]\nip = \"10.0.0.256/24\"\n").message, HasSubstr("IPv4 address with prefix"));
  EXPECT_THAT(single_error("[nic]\nip = \"10.0.0.4/33\"\n").message, HasSubstr("got \"10.0.0.4/33\""));
  EXPECT_THAT(single_error("[nic]\nmac = \"00:0d:3a:12:34\"\n").message, HasSubstr("MAC address"));
  EXPECT_THAT(single_error("[nic]\npci = \"00:08\"\n").message, HasSubstr("PCI address"));
}

TEST(ConfigLoader, SectionThatIsNotATable) {
  const auto e = single_error("nic = 3\n");
  EXPECT_EQ(e.key, "nic");
  EXPECT_THAT(e.message, HasSubstr("expected a table [nic], got an integer"));
}

TEST(ConfigLoader, RelativeSocketPathRefused) {
  const auto e = single_error("[daemon]\nadmin_socket = \"run/x.sock\"\n");
  EXPECT_EQ(e.key, "daemon.admin_socket");
  EXPECT_THAT(e.message, HasSubstr("expected an absolute path"));
}

TEST(ConfigLoader, ConflictingKeys) {
  auto e = single_error("[nic]\nmode = \"pci\"\n");
  EXPECT_EQ(e.key, "nic.mode");
  EXPECT_EQ(e.line, 2u);
  EXPECT_THAT(e.message, HasSubstr("needs the NIC's address in [nic] pci"));

  e = single_error("[nic]\nmode = \"vdev\"\nvdev = \"net_null0\"\npci = \"0000:00:08.0\"\n");
  EXPECT_EQ(e.key, "nic.pci");
  EXPECT_EQ(e.line, 4u);
  EXPECT_THAT(e.message, HasSubstr("conflicts with mode = \"vdev\""));

  e = single_error("[transport]\nmin_window = 64\nmax_window = 32\ninitial_window = 32\n");
  EXPECT_EQ(e.key, "transport.min_window");
  EXPECT_EQ(e.line, 2u);

  e = single_error("[daemon]\napp_socket = \"/run/x.sock\"\nadmin_socket = \"/run/x.sock\"\n");
  EXPECT_EQ(e.key, "daemon.admin_socket");
  EXPECT_EQ(e.line, 3u);

  e = single_error("[channels]\nring_slots = 1000\n");
  EXPECT_THAT(e.message, HasSubstr("power of two"));

  e = single_error("[engine]\ncores = [1, 2, 1]\n");
  EXPECT_THAT(e.message, HasSubstr("listed twice"));
}

TEST(ConfigLoader, TestingKeysNeedTestingEnabled) {
  const auto e = single_error("[testing]\nsysfs_root = \"/tmp/sys\"\n");
  EXPECT_EQ(e.key, "testing.sysfs_root");
  EXPECT_THAT(e.message, HasSubstr("enabled = true"));
  EXPECT_TRUE(load("[testing]\nenabled = true\nsysfs_root = \"/tmp/sys\"\n").config);
}

TEST(ConfigLoader, FaultInjectionIsRefusedUnlessTestingIsEnabled) {
  const auto e = single_error("[testing]\nrx_drop = 0.05\n");
  EXPECT_EQ(e.key, "testing.rx_drop");
  EXPECT_THAT(e.message, HasSubstr("enabled = true"));
  const auto ok = load("[testing]\nenabled = true\nfault_seed = 7\nrx_drop = 0.05\ntx_duplicate = 1\ntx_delay_us = 200\n");
  ASSERT_TRUE(ok.config);
  EXPECT_DOUBLE_EQ(ok.config->testing.rx_drop, 0.05);
  EXPECT_DOUBLE_EQ(ok.config->testing.tx_duplicate, 1.0);
  EXPECT_EQ(ok.config->testing.tx_delay_us, 200u);
  EXPECT_TRUE(ok.config->testing.faults());
  EXPECT_THAT(single_error("[testing]\nenabled = true\ntx_drop = 1.5\n").message, HasSubstr("between 0.0 and 1.0"));
  EXPECT_THAT(single_error("[testing]\nenabled = true\ntx_reorder = \"often\"\n").message, HasSubstr("probability"));
}

TEST(ConfigLoader, ReportsAllErrorsInFileOrder) {
  const auto result = load(R"([daemon]
log_level = "loud"
[nic]
mode = 7
colour = "blue"
[transport]
mtu = 100000
)");
  EXPECT_FALSE(result.config);
  ASSERT_EQ(result.errors.size(), 4u);
  EXPECT_EQ(result.errors[0].key, "daemon.log_level");
  EXPECT_EQ(result.errors[0].line, 2u);
  EXPECT_EQ(result.errors[1].key, "nic.mode");
  EXPECT_EQ(result.errors[1].line, 4u);
  EXPECT_EQ(result.errors[2].key, "nic.colour");
  EXPECT_EQ(result.errors[2].line, 5u);
  EXPECT_EQ(result.errors[3].key, "transport.mtu");
  EXPECT_EQ(result.errors[3].line, 7u);
}

TEST(ConfigLoader, MissingFileSaysWhy) {
  const auto result = load_config_file("/nonexistent/machnet.toml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), "/nonexistent/machnet.toml: cannot read the file: No such file or directory");
}

TEST(ConfigWriter, TomlRoundTripsEveryKey) {
  Config c;
  c.daemon.log_level = LogLevel::kWarning;
  c.nic.mode = NicMode::kPci;
  c.nic.pci = PciAddress::parse("0000:00:08.0");
  c.nic.ip = Ipv4Prefix::parse("192.168.7.2/16");
  c.engine.cores = {1, 5};
  c.dpdk.eal_args = {"-l", "0"};
  c.transport.congestion_control = CongestionControl::kFixed;
  const auto again = load(config_to_toml(c));
  for (const auto& e : again.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(again.config);
  EXPECT_THAT(changed_keys(c, *again.config), ::testing::IsEmpty());
}

TEST(ConfigWriter, JsonHasEverySection) {
  const auto json = config_to_json(Config{});
  EXPECT_EQ(json["daemon"]["log_level"], "info");
  EXPECT_EQ(json["nic"]["ip"], "auto");
  EXPECT_EQ(json["nic"]["pci"], "");
  EXPECT_EQ(json["transport"]["mtu"], "auto");
  Config jumbo;
  jumbo.transport.mtu = 9000;
  EXPECT_EQ(config_to_json(jumbo)["transport"]["mtu"], 9000);
  EXPECT_TRUE(json["engine"]["cores"].is_array());
}

TEST(ConfigWriter, ChangedKeysNamesExactlyTheChanges) {
  Config a;
  Config b;
  b.daemon.log_level = LogLevel::kDebug;
  b.engine.cores = {3};
  EXPECT_THAT(changed_keys(a, b), ElementsAre("daemon.log_level", "engine.cores"));
}

}  // namespace
}  // namespace machnet
