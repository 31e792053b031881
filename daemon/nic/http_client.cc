#include "nic/http_client.h"

// Beast's parser trips GCC's -Wmaybe-uninitialized (a false positive on boost::optional) in
// the ASan/UBSan build; the warning is issued inside Beast's own headers, for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

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

using Endpoints = asio::ip::tcp::resolver::results_type;

// Name resolution within the request's deadline (issue 15, row 11). An address (the
// metadata services' 169.254.169.254) resolves at once, without a lookup. A name goes to
// getaddrinfo, which no deadline can interrupt: it runs on a thread of its own that we stop
// waiting for at the deadline (it finishes, or not, on its own and frees its state).
Result<Endpoints> resolve_within(const std::string& host, const std::string& port,
                                 std::chrono::steady_clock::time_point deadline) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (!ec) {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    auto r = resolver.resolve(host, port, asio::ip::resolver_base::numeric_host | asio::ip::resolver_base::numeric_service, ec);
    if (ec) return make_error(ec.message());
    return r;
  }
  struct Lookup {
    std::mutex m;
    std::condition_variable done;
    bool finished = false;
    boost::system::error_code ec;
    Endpoints endpoints;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host, port] {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto r = resolver.resolve(host, port, ec);
    std::lock_guard lock(lookup->m);
    lookup->ec = ec;
    lookup->endpoints = std::move(r);
    lookup->finished = true;
    lookup->done.notify_all();
  }).detach();
  std::unique_lock lock(lookup->m);
  if (!lookup->done.wait_until(lock, deadline, [&] { return lookup->finished; }))
    return make_error("timed out");
  if (lookup->ec) return make_error(lookup->ec.message());
  return lookup->endpoints;
}

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

  // Resolution first, within the deadline; then asynchronous operations on a private
  // io_context so that what is left of the deadline covers the whole exchange; a stalled
  // service or resolver costs at most `timeout`.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto endpoints = resolve_within(url->host, url->port, deadline);
  if (!endpoints)
    return make_error(fmt::format("{}: resolve failed: {}", where,
                                  endpoints.error().message == "timed out"
                                      ? fmt::format("timed out after {} ms", timeout.count())
                                      : endpoints.error().message));
  stage = "connect";  // the stage under way, named in the error
  stream.expires_at(deadline);
  stream.async_connect(*endpoints, [&](beast::error_code ec, const asio::ip::tcp::endpoint&) {
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
