// Explicit results for operations that can fail at run time: a value, or an Error whose
// message says what failed and why (with the path, address or key concerned).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace machnet {

struct Error {
  std::string message;
};

// Lets boost::system::result<T, Error>::value() throw when misused.
[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

template <typename T = void>
using Result = boost::system::result<T, Error>;

inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace machnet
