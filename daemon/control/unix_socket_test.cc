// listen_unix: the socket is 0660 from birth, and a directory that others could write to is
// refused (the path could be swapped between bind, chmod and chown; issue 15, row 11).
#include "control/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace machnet::control {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/unix-socket-test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(ListenUnix, MakesA0660SocketInAPrivateDirectory) {
  TempDir d;
  const std::string sock = d.path + "/s.sock";
  auto fd = listen_unix(sock, SOCK_SEQPACKET, std::nullopt);
  ASSERT_TRUE(fd) << fd.error().message;
  struct stat st {};
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ::close(*fd);
}

TEST(ListenUnix, RefusesADirectoryOthersMayWriteTo) {
  TempDir d;
  ASSERT_EQ(::chmod(d.path.c_str(), 0777), 0);
  auto fd = listen_unix(d.path + "/s.sock", SOCK_SEQPACKET, std::nullopt);
  ASSERT_FALSE(fd);
  EXPECT_NE(fd.error().message.find("writable by others"), std::string::npos) << fd.error().message;
  EXPECT_FALSE(std::filesystem::exists(d.path + "/s.sock"));
  // Sticky (like /tmp): others cannot remove or rename our entries, so it is accepted.
  ASSERT_EQ(::chmod(d.path.c_str(), 01777), 0);
  auto sticky = listen_unix(d.path + "/s.sock", SOCK_SEQPACKET, std::nullopt);
  ASSERT_TRUE(sticky) << sticky.error().message;
  ::close(*sticky);
}

}  // namespace
}  // namespace machnet::control
