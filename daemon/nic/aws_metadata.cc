// AWS Instance Metadata Service v2:
//   PUT /latest/api/token with "X-aws-ec2-metadata-token-ttl-seconds" -> a session token;
//   then GETs with "X-aws-ec2-metadata-token". A 401 means the token expired or was revoked:
//   get a new one and retry (once per request).
// /latest/meta-data/instance-id, /latest/meta-data/mac (the primary ENI),
// /latest/meta-data/network/interfaces/macs/ (one "MAC/" a line), and per MAC:
// device-number (0 = primary), local-ipv4s (one a line), subnet-ipv4-cidr-block.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "nic/metadata.h"

namespace machnet::nic {
namespace {

constexpr const char* kTokenTarget = "/latest/api/token";
constexpr const char* kTokenTtlSeconds = "300";  // detection takes seconds; keep it short

class AwsClient {
 public:
  explicit AwsClient(Env& env) : env_(env) {}

  Result<std::string> get(const std::string& target) {
    for (int round = 0; round < 2; ++round) {
      if (token_.empty()) {
        auto token = fetch_token();
        if (!token) return token.error();
        token_ = *token;
      }
      HttpRequest request{"GET", target, {{"X-aws-ec2-metadata-token", token_}}};
      auto response = metadata_request(env_, request);
      if (!response) return response.error();
      if (response->status == 401) {
        token_.clear();  // expired or revoked: one new token, then give up
        continue;
      }
      if (response->status != 200)
        return make_error(fmt::format("AWS metadata: GET {}{} answered HTTP {}", env_.metadata_url(), target, response->status));
      return text_value(response->body);
    }
    return make_error(fmt::format("AWS metadata: GET {}{} answered HTTP 401 twice, also with a fresh token", env_.metadata_url(), target));
  }

 private:
  Result<std::string> fetch_token() {
    HttpRequest request{"PUT", kTokenTarget, {{"X-aws-ec2-metadata-token-ttl-seconds", kTokenTtlSeconds}}};
    auto response = metadata_request(env_, request);
    if (!response) return response.error();
    if (response->status != 200 || response->body.empty())
      return make_error(fmt::format("AWS metadata: PUT {}{} (IMDSv2 token) answered HTTP {}", env_.metadata_url(), kTokenTarget, response->status));
    return text_value(response->body);
  }

  Env& env_;
  std::string token_;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace

Result<InstanceMetadata> fetch_aws(Env& env) {
  AwsClient client(env);
  InstanceMetadata out;
  out.provider = CloudProvider::kAws;
  auto id = client.get("/latest/meta-data/instance-id");
  if (!id) return id.error();
  out.instance_id = *id;
  if (auto type = client.get("/latest/meta-data/instance-type")) out.instance_type = *type;
  auto primary_text = client.get("/latest/meta-data/mac");
  if (!primary_text) return primary_text.error();
  auto primary = MacAddress::parse(*primary_text);
  if (!primary) return make_error(fmt::format("AWS metadata: /latest/meta-data/mac \"{}\" is not a MAC address", *primary_text));
  auto macs = client.get("/latest/meta-data/network/interfaces/macs/");
  if (!macs) return macs.error();
  for (std::string entry : lines(*macs)) {
    if (!entry.empty() && entry.back() == '/') entry.pop_back();
    auto mac = MacAddress::parse(entry);
    if (!mac) return make_error(fmt::format("AWS metadata: interfaces/macs/ lists \"{}\", not a MAC address", entry));
    const std::string base = "/latest/meta-data/network/interfaces/macs/" + entry + "/";
    MetadataNic nic;
    nic.mac = *mac;
    auto number = client.get(base + "device-number");
    if (!number) return number.error();
    try {
      size_t used = 0;
      nic.index = std::stoi(*number, &used);
      if (used != number->size() || nic.index < 0) throw std::invalid_argument("device-number");
    } catch (const std::exception&) {
      return make_error(fmt::format("AWS metadata: {}device-number \"{}\" is not a number", base, *number));
    }
    nic.primary = nic.index == 0 || *mac == *primary;
    auto ips = client.get(base + "local-ipv4s");
    if (!ips) return ips.error();
    for (const auto& text : lines(*ips)) {
      auto ip = Ipv4Address::parse(text);
      if (!ip) return make_error(fmt::format("AWS metadata: {}local-ipv4s has \"{}\", not an IPv4 address", base, text));
      nic.ipv4.push_back(*ip);
    }
    auto cidr = client.get(base + "subnet-ipv4-cidr-block");
    if (!cidr) return cidr.error();
    auto subnet = Ipv4Prefix::parse(*cidr);
    if (!subnet) return make_error(fmt::format("AWS metadata: {}subnet-ipv4-cidr-block \"{}\" is not a CIDR block", base, *cidr));
    nic.prefix = subnet->length;
    out.nics.push_back(std::move(nic));
  }
  std::sort(out.nics.begin(), out.nics.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
  return out;
}

}  // namespace machnet::nic
