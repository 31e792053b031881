// A minimal HTTP/1.1 client for the cloud metadata services (Boost.Beast). Only plain
// http:// URLs: metadata services are link-local and unencrypted. Proxy variables
// (http_proxy, ...) are deliberately ignored: a proxy must never see metadata requests, and
// the services answer only on the link.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "nic/env.h"
#include "util/result.h"

namespace machnet::nic {

struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string path_prefix;  // without trailing '/', may be empty
};

// Accepts "http://host[:port][/prefix]".
Result<HttpUrl> parse_http_url(std::string_view url);

// One request, one connection. `timeout` bounds connect, write and read together.
Result<HttpResponse> http_request(std::string_view base_url, const HttpRequest& request,
                                  std::chrono::milliseconds timeout);

}  // namespace machnet::nic
