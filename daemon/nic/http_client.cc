#include "nic/http_client.h"

// Beast's parser trips GCC's -Wmaybe-uninitialized (a false positive on boost::optional) in
// the ASan/UBSan build; the warning is issued inside Beast's own headers, for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace machnet::nic {
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace asio = boost::asio;

namespace {

// Metadata answers are a few kilobytes; anything much larger is not a metadata service.
constexpr uint64_t kMaxBodyBytes = 1 << 20;

}  // namespace

Result<HttpUrl> parse_http_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme)
    return make_error(fmt::format("metadata URL \"{}\" must start with http://", url));
  std::string_view rest = url.substr(kScheme.size());
  HttpUrl out;
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path_prefix = std::string(rest.substr(slash));
  while (!out.path_prefix.empty() && out.path_prefix.back() == '/') out.path_prefix.pop_back();
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    out.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    if (out.port.empty() || !std::all_of(out.port.begin(), out.port.end(), ::isdigit))
      return make_error(fmt::format("metadata URL \"{}\": bad port", url));
  }
  out.host = std::string(authority);
  if (out.host.empty()) return make_error(fmt::format("metadata URL \"{}\" has no host", url));
  return out;
}

Result<HttpResponse> http_request(std::string_view base_url, const HttpRequest& request,
                                  std::chrono::milliseconds timeout) {
  auto url = parse_http_url(base_url);
  if (!url) return url.error();
  const std::string target = url->path_prefix + request.target;
  const std::string where = fmt::format("{} http://{}:{}{}", request.method, url->host, url->port, target);

  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, url->host);
  req.set(http::field::user_agent, "machnetd");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBodyBytes);
  beast::error_code failure;
  const char* stage = "resolve";

  // Asynchronous operations on a private io_context so that one deadline covers the whole
  // exchange; a stalled service costs at most `timeout`.
  asio::ip::tcp::resolver resolver(io);
  stream.expires_after(timeout);
  resolver.async_resolve(url->host, url->port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type results) {
    if (ec) { failure = ec; return; }
    stage = "connect";  // the stage under way, named in the error
    stream.async_connect(results, [&](beast::error_code ec, const asio::ip::tcp::endpoint&) {
      if (ec) { failure = ec; return; }
      stage = "send";
      http::async_write(stream, req, [&](beast::error_code ec, size_t) {
        if (ec) { failure = ec; return; }
        stage = "read";
        http::async_read(stream, buffer, parser, [&](beast::error_code ec, size_t) {
          // On failure the stage stays "read", so the error says what timed out.
          if (ec) failure = ec;
        });
      });
    });
  });
  io.run();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  if (failure) {
    const bool timed_out = failure == beast::error::timeout;
    return make_error(fmt::format("{}: {} failed: {}", where, stage,
                                  timed_out ? fmt::format("timed out after {} ms", timeout.count())
                                            : failure.message()));
  }
  HttpResponse response;
  const auto& res = parser.get();
  response.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    response.headers[name] = std::string(field.value());
  }
  response.body = res.body();
  return response;
}

}  // namespace machnet::nic
