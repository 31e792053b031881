// Covers: the admin protocol's request handling without sockets — malformed and oversized
// requests, unknown commands, access control by peer credentials, handler failures.
// The socket side (partial reads, clients that vanish) is tested against a real daemon in
// tests/integration/test_admin_socket.py.
#include "control/admin_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace machnet::control {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr uid_t kDaemonUid = 1000;
constexpr gid_t kMachnetGid = 4242;

class AdminProtocolTest : public ::testing::Test {
 protected:
  AdminProtocolTest() : commands_(kDaemonUid, kMachnetGid) {
    commands_.add("status", Access::kRead, "state", [](const json&) { return json{{"state", "running"}}; });
    commands_.add("reload", Access::kAdmin, "reload", [this](const json&) {
      ++reloads_;
      return json::object();
    });
    commands_.add("fail", Access::kRead, "always fails", [](const json&) -> json { throw CommandError("it broke"); });
    commands_.add("crash", Access::kRead, "throws", [](const json&) -> json { throw std::out_of_range("vector"); });
    commands_.add("echo", Access::kRead, "echo", [](const json& request) { return request.value("arg", json()); });
  }

  json ask(std::string_view request, PeerCredentials peer = root()) {
    const std::string answer = commands_.handle(request, peer);
    EXPECT_EQ(answer.find('\n'), std::string::npos) << "an answer is one line";
    return json::parse(answer);
  }

  static PeerCredentials root() { return {1, 0, 0, {}}; }
  static PeerCredentials user(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
    return {2, uid, gid, std::move(groups)};
  }

  AdminCommands commands_;
  int reloads_ = 0;
};

TEST_F(AdminProtocolTest, AnswersAKnownCommand) {
  const auto answer = ask(R"({"cmd":"status"})");
  EXPECT_EQ(answer["ok"], true);
  EXPECT_EQ(answer["cmd"], "status");
  EXPECT_EQ(answer["data"]["state"], "running");
}

TEST_F(AdminProtocolTest, PassesTheRequestToTheHandler) {
  EXPECT_EQ(ask(R"({"cmd":"echo","arg":[1,2]})")["data"], json({1, 2}));
}

TEST_F(AdminProtocolTest, MalformedRequestsGetErrors) {
  EXPECT_THAT(ask("{\"cmd\":").dump(), HasSubstr("not valid JSON"));
  EXPECT_THAT(ask("").dump(), HasSubstr("not valid JSON"));
  EXPECT_THAT(ask("[1,2]").dump(), HasSubstr("expected a JSON object"));
  EXPECT_THAT(ask(R"({"command":"status"})").dump(), HasSubstr("missing string field"));
  EXPECT_THAT(ask(R"({"cmd":42})").dump(), HasSubstr("missing string field"));
  EXPECT_THAT(ask("\xff\xfe{}").dump(), HasSubstr("not valid JSON"));
  for (auto bad : {"{\"cmd\":", "", "[1,2]", "{\"cmd\":42}"}) EXPECT_EQ(ask(bad)["ok"], false) << bad;
}

TEST_F(AdminProtocolTest, OversizedRequestRefused) {
  const std::string big = R"({"cmd":"status","pad":")" + std::string(kMaxAdminRequestBytes, 'x') + "\"}";
  const auto answer = ask(big);
  EXPECT_EQ(answer["ok"], false);
  EXPECT_THAT(answer["error"].get<std::string>(), HasSubstr("too large"));
}

TEST_F(AdminProtocolTest, UnknownCommandListsTheKnownOnes) {
  const auto answer = ask(R"({"cmd":"flush"})");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_EQ(answer["error"], "unknown command \"flush\" (known: crash, echo, fail, reload, status)");
}

TEST_F(AdminProtocolTest, ReadCommandsForGroupMembersOnly) {
  EXPECT_EQ(ask(R"({"cmd":"status"})", user(2000, kMachnetGid))["ok"], true);          // primary group
  EXPECT_EQ(ask(R"({"cmd":"status"})", user(2000, 100, {7, kMachnetGid}))["ok"], true);  // supplementary
  EXPECT_EQ(ask(R"({"cmd":"status"})", user(kDaemonUid, 100))["ok"], true);              // daemon's own user
  const auto stranger = ask(R"({"cmd":"status"})", user(2000, 100, {7}));
  EXPECT_EQ(stranger["ok"], false);
  EXPECT_THAT(stranger["error"].get<std::string>(), HasSubstr("permission denied"));
}

TEST_F(AdminProtocolTest, ChangesForRootOnly) {
  EXPECT_EQ(ask(R"({"cmd":"reload"})", user(2000, kMachnetGid))["ok"], false);
  EXPECT_EQ(reloads_, 0) << "a refused command must not run";
  EXPECT_EQ(ask(R"({"cmd":"reload"})", root())["ok"], true);
  EXPECT_EQ(ask(R"({"cmd":"reload"})", user(kDaemonUid, 100))["ok"], true);
  EXPECT_EQ(reloads_, 2);
}

TEST_F(AdminProtocolTest, NoGroupMeansRootAndDaemonUserOnly) {
  AdminCommands no_group(kDaemonUid, std::nullopt);
  no_group.add("status", Access::kRead, "", [](const json&) { return json(1); });
  EXPECT_THAT(no_group.handle(R"({"cmd":"status"})", user(2000, kMachnetGid)), HasSubstr("permission denied"));
  EXPECT_THAT(no_group.handle(R"({"cmd":"status"})", root()), HasSubstr("\"ok\":true"));
}

TEST_F(AdminProtocolTest, HandlerErrorsBecomeAnswers) {
  EXPECT_EQ(ask(R"({"cmd":"fail"})")["error"], "it broke");
  const auto crash = ask(R"({"cmd":"crash"})");
  EXPECT_EQ(crash["ok"], false);
  EXPECT_THAT(crash["error"].get<std::string>(), HasSubstr("internal error while running \"crash\""));
}

TEST_F(AdminProtocolTest, InvalidUtf8InDataIsReplacedNotThrown) {
  commands_.add("bytes", Access::kRead, "", [](const json&) { return json("app\xff\xfe"); });
  const auto answer = ask(R"({"cmd":"bytes"})");
  EXPECT_EQ(answer["ok"], true);
}

// An asynchronous command (detect) answers when its handler replies, not when it returns;
// access checks and request errors still answer at once.
TEST_F(AdminProtocolTest, AsynchronousCommandsAnswerWhenTheyReply) {
  AdminCommands::Reply pending;
  commands_.add_async("later", Access::kRead, "answers later",
                      [&pending](const json&, AdminCommands::Reply reply) { pending = std::move(reply); });
  commands_.add_async("refuse", Access::kRead, "replies with an error",
                      [](const json&, AdminCommands::Reply reply) { reply(nullptr, "metadata service gone"); });
  std::vector<std::string> answers;
  commands_.handle_async(R"({"cmd":"later"})", root(), [&](std::string a) { answers.push_back(std::move(a)); });
  EXPECT_TRUE(answers.empty());
  ASSERT_TRUE(pending);
  pending(json{{"cloud", "aws"}}, {});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(json::parse(answers[0])["data"]["cloud"], "aws");
  EXPECT_THAT(ask(R"({"cmd":"refuse"})").dump(), HasSubstr("metadata service gone"));
  EXPECT_THAT(ask(R"({"cmd":"later"})", user(2000, 1)).dump(), HasSubstr("permission denied"));
  // Plain commands answer through the same path, at once.
  commands_.handle_async(R"({"cmd":"status"})", root(), [&](std::string a) { answers.push_back(std::move(a)); });
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(json::parse(answers[1])["data"]["state"], "running");
}

}  // namespace
}  // namespace machnet::control
