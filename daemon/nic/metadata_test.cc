// Metadata clients against a real HTTP server on 127.0.0.1 serving recorded answers: the
// parsed NICs, the request shapes (headers, IMDSv2 token), and every failure path (timeout,
// HTTP errors, malformed JSON, 401 then success, nothing listening). Time per test is bounded
// by the 100-300 ms timeouts used here.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "nic/http_client.h"
#include "nic/metadata.h"
#include "nic/testing/nic_test_support.h"

namespace machnet::nic {
namespace {

using namespace std::chrono_literals;
using testing::MetadataServer;

RealEnv env_for(const std::string& url, std::chrono::milliseconds timeout = 300ms) {
  RealEnvOptions o;
  o.metadata_url = url;
  o.metadata_timeout = timeout;
  o.commands = CommandMode::kRecordOnly;
  return RealEnv(o);
}

TEST(AzureMetadata, ParsesNetvscFixture) {
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  auto env = env_for(server.url());
  auto md = fetch_azure(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->instance_id, "5c08b38e-4d57-4c23-ac45-aca61037f084");
  EXPECT_EQ(md->instance_type, "Standard_D4s_v5");
  ASSERT_EQ(md->nics.size(), 2u);
  EXPECT_TRUE(md->nics[0].primary);
  EXPECT_FALSE(md->nics[1].primary);
  EXPECT_EQ(md->nics[1].mac.to_string(), "00:0d:3a:1b:2c:02");
  ASSERT_EQ(md->nics[1].ipv4.size(), 1u);
  EXPECT_EQ(md->nics[1].ipv4[0].to_string(), "10.0.1.5");
  EXPECT_EQ(md->nics[1].prefix, 24);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/metadata/instance?api-version=2021-02-01");
  EXPECT_EQ(requests[0].headers.at("metadata"), "true");
}

TEST(GcpMetadata, ParsesTwoNicsWithMtuAndNetmask) {
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  auto env = env_for(server.url());
  auto md = fetch_gcp(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->instance_id, "4567890123456789012");
  ASSERT_EQ(md->nics.size(), 2u);
  EXPECT_TRUE(md->nics[0].primary);
  EXPECT_EQ(md->nics[0].prefix, 20);
  EXPECT_EQ(md->nics[1].mac.to_string(), "42:01:0a:0a:00:05");
  EXPECT_EQ(md->nics[1].ipv4.at(0).to_string(), "10.10.0.5");
  EXPECT_EQ(md->nics[1].prefix, 24);
  EXPECT_EQ(md->nics[1].mtu, 8896u);
  EXPECT_EQ(md->nics[1].gateway->to_string(), "10.10.0.1");
}

TEST(GcpMetadata, DefaultMtuIs1460) {
  auto md = parse_gcp_interfaces(R"([{"mac":"42:01:0a:80:00:07","ip":"10.128.0.7","subnetmask":"255.255.240.0"}])");
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->nics.at(0).mtu, 1460u);
}

TEST(GcpMetadata, RefusesAnswerWithoutFlavorHeader) {
  MetadataServer server([](const testing::ServedRequest&) { return HttpResponse{200, {}, "[]"}; });
  auto env = env_for(server.url());
  auto md = fetch_gcp(env);
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("Metadata-Flavor"), std::string::npos) << md.error().message;
}

TEST(AwsMetadata, TwoEnisWithImdsV2Token) {
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  auto env = env_for(server.url());
  auto md = fetch_aws(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->instance_id, "i-0abc1234def567890");
  ASSERT_EQ(md->nics.size(), 2u);
  EXPECT_TRUE(md->nics[0].primary);
  EXPECT_EQ(md->nics[1].mac.to_string(), "02:1a:2b:3c:4d:02");
  ASSERT_EQ(md->nics[1].ipv4.size(), 2u);
  EXPECT_EQ(md->nics[1].ipv4[0].to_string(), "172.31.20.30");
  EXPECT_EQ(md->nics[1].prefix, 20);
  const auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].target, "/latest/api/token");
  int puts = 0;
  for (const auto& r : requests) {
    if (r.method == "PUT") ++puts;
    else EXPECT_EQ(r.headers.at("x-aws-ec2-metadata-token"), "token-1") << r.target;
  }
  EXPECT_EQ(puts, 1);
}

TEST(AwsMetadata, Expired401GetsNewTokenAndRetries) {
  MetadataServer server(testing::aws_handler("aws_two_enis.json", /*expire_first_token=*/true));
  auto env = env_for(server.url());
  auto md = fetch_aws(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->nics.size(), 2u);
  const auto requests = server.requests();
  // PUT, GET (401), PUT, GET (200), ...
  ASSERT_GE(requests.size(), 4u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[2].method, "PUT");
  EXPECT_EQ(requests[3].method, "GET");
  EXPECT_EQ(requests[3].target, requests[1].target);
  EXPECT_EQ(requests[3].headers.at("x-aws-ec2-metadata-token"), "token-2");
}

TEST(AwsMetadata, Persistent401IsAnError) {
  MetadataServer server([](const testing::ServedRequest& r) {
    return r.method == "PUT" ? HttpResponse{200, {}, "t"} : HttpResponse{401, {}, ""};
  });
  auto env = env_for(server.url());
  auto md = fetch_aws(env);
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("401"), std::string::npos) << md.error().message;
}

TEST(Metadata, TimeoutIsBoundedAndNamed) {
  MetadataServer server([](const testing::ServedRequest&) {
    std::this_thread::sleep_for(400ms);
    return HttpResponse{200, {}, "{}"};
  });
  auto env = env_for(server.url(), 100ms);
  const auto start = std::chrono::steady_clock::now();
  auto md = fetch_azure(env);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("read failed: timed out after 100 ms"), std::string::npos) << md.error().message;
  EXPECT_EQ(md.error().message.find("done failed"), std::string::npos) << md.error().message;
  EXPECT_NE(md.error().message.find(server.url()), std::string::npos) << md.error().message;
  // 3 attempts x 100 ms + pauses, plus slack; the server's 400 ms sleeps serialize, so allow them.
  EXPECT_LT(took, 2500ms);
}

TEST(Metadata, ServerErrorIsRetriedThenReported) {
  MetadataServer server([](const testing::ServedRequest&) { return HttpResponse{503, {}, "busy"}; });
  auto env = env_for(server.url());
  auto md = fetch_azure(env);
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("HTTP 503"), std::string::npos) << md.error().message;
  // Pauses of 100, 200, 400 ms fit the 3 x 300 ms budget; the next (800 ms) does not.
  EXPECT_EQ(server.requests().size(), 4u);
  EXPECT_NE(md.error().message.find("after 4 attempts"), std::string::npos) << md.error().message;
}

// Azure IMDS answers 410 for a while after boot and 429 when rate-limited: both are asked again.
HttpResponse azure_after(unsigned first_status, const testing::ServedRequest& r, int& calls,
                         const MetadataServer::Handler& real) {
  if (++calls == 1) return HttpResponse{first_status, {{"Retry-After", "0"}}, "not yet"};
  return real(r);
}

TEST(Metadata, Azure410ThenOkIsRetried) {
  int calls = 0;
  auto real = testing::azure_handler("azure_netvsc.json");
  MetadataServer server([&](const testing::ServedRequest& r) { return azure_after(410, r, calls, real); });
  auto env = env_for(server.url());
  auto md = fetch_azure(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->nics.size(), 2u);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(Metadata, Azure429ThenOkIsRetried) {
  int calls = 0;
  auto real = testing::azure_handler("azure_netvsc.json");
  MetadataServer server([&](const testing::ServedRequest& r) { return azure_after(429, r, calls, real); });
  auto env = env_for(server.url());
  auto md = fetch_azure(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(Metadata, RetryableStatuses) {
  for (unsigned status : {410u, 429u, 500u, 503u}) EXPECT_TRUE(retryable_status(status)) << status;
  for (unsigned status : {200u, 400u, 401u, 403u, 404u}) EXPECT_FALSE(retryable_status(status)) << status;
}

TEST(Metadata, ClientErrorIsNotRetried) {
  MetadataServer server([](const testing::ServedRequest&) { return HttpResponse{404, {}, "no"}; });
  auto env = env_for(server.url());
  auto md = fetch_azure(env);
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("HTTP 404"), std::string::npos) << md.error().message;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(Metadata, MalformedJsonIsAnError) {
  MetadataServer server([](const testing::ServedRequest&) { return HttpResponse{200, {}, "{\"network\": [1, 2"}; });
  auto env = env_for(server.url());
  auto md = fetch_azure(env);
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("not a JSON object"), std::string::npos) << md.error().message;
}

TEST(Metadata, BadFieldsAreRejectedWithTheirPlace) {
  auto md = parse_azure_instance(R"({"network":{"interface":[{"macAddress":"XYZ"}]}})");
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("interface[0].macAddress \"XYZ\""), std::string::npos) << md.error().message;
  auto gcp = parse_gcp_interfaces(R"([{"mac":"42:01:0a:80:00:07","subnetmask":"255.0.255.0"}])");
  ASSERT_FALSE(gcp);
}

TEST(Metadata, NothingListeningIsAnError) {
  std::string url;
  {
    MetadataServer server([](const testing::ServedRequest&) { return HttpResponse{200, {}, ""}; });
    url = server.url();
  }  // closed: the port now refuses connections
  auto env = env_for(url);
  auto md = fetch_gcp(env);
  ASSERT_FALSE(md);
  EXPECT_NE(md.error().message.find("connect failed"), std::string::npos) << md.error().message;
}

TEST(Metadata, NetmaskPrefix) {
  EXPECT_EQ(netmask_prefix("255.255.255.0"), 24);
  EXPECT_EQ(netmask_prefix("255.255.240.0"), 20);
  EXPECT_EQ(netmask_prefix("0.0.0.0"), 0);
  EXPECT_EQ(netmask_prefix("255.255.255.255"), 32);
  EXPECT_EQ(netmask_prefix("255.0.255.0"), std::nullopt);
}

TEST(HttpUrl, ParsesHostPortAndPrefix) {
  auto u = parse_http_url("http://127.0.0.1:8080/imds/");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->path_prefix, "/imds");
  auto d = parse_http_url("http://169.254.169.254");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, "80");
  EXPECT_EQ(d->path_prefix, "");
  EXPECT_FALSE(parse_http_url("https://127.0.0.1"));
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:x/"));
  EXPECT_FALSE(parse_http_url("http://"));
}

TEST(HttpUrl, PrefixIsPrependedToEveryRequest) {
  MetadataServer server([](const testing::ServedRequest& r) {
    return r.target == "/prefix/metadata/instance?api-version=2021-02-01"
               ? HttpResponse{200, {}, testing::read_fixture("azure_netvsc.json")}
               : HttpResponse{404, {}, ""};
  });
  auto env = env_for(server.url() + "/prefix");
  auto md = fetch_azure(env);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md->nics.size(), 2u);
}

}  // namespace
}  // namespace machnet::nic
