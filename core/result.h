// core/result.h — the error type of core and control.
// A failed operation returns an Error with a canonical code, a message, and the fields it blames
// (JSON-pointer-like names such as "rules[2].remotePorts"). Control maps codes to HTTP in one
// function. No exceptions: every fallible call returns Status or Result<T>, both [[nodiscard]].
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace simcore::core {

enum class Code {
  kInvalidArgument,     // a field has a bad value (HTTP 400)
  kNotFound,            // an id names nothing (404)
  kAlreadyExists,       // a unique key is taken (409)
  kConflict,            // the change collides with another object (409)
  kFailedPrecondition,  // wrong state, or the object is in use (412)
  kResourceExhausted,   // a pool or a quota has run out (412 at the API)
  kPermissionDenied,    // role does not allow it (403)
  kUnauthenticated,     // no or bad credentials (401)
  kUnavailable,         // try later (503)
  kInternal,            // a bug (500)
};

// Returns the stable upper-case name of a code, e.g. "INVALID_ARGUMENT".
const char* code_name(Code code) noexcept;

struct FieldError {
  std::string field;    // e.g. "pools[0].cidr"
  std::string message;  // e.g. "host bits set"
};

class Error {
 public:
  Error(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  // Returns a kInvalidArgument error blaming one field; the message names it.
  static Error invalid(std::string field, std::string message);
  // Returns a kInvalidArgument error blaming every field in `fields` (at least one).
  static Error invalid(std::vector<FieldError> fields);
  // Returns an error of any code that blames one field, e.g. kFailedPrecondition on "state".
  static Error on_field(Code code, std::string field, std::string message);

  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const std::vector<FieldError>& fields() const noexcept { return fields_; }

  // Returns a copy whose field names are prefixed, e.g. "rules[2]" + ".priority".
  Error prefixed(const std::string& prefix) const;

 private:
  Code code_;
  std::string message_;
  std::vector<FieldError> fields_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status Ok() { return {}; }

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

// Collects field errors while validating an object, so that one reply names every bad field.
class FieldErrors {
 public:
  void add(std::string field, std::string message) {
    errors_.push_back({std::move(field), std::move(message)});
  }
  // Adds the fields of a nested validation, prefixed ("rules[2]" + ".priority").
  void merge(const std::string& prefix, const Status& nested);
  bool empty() const noexcept { return errors_.empty(); }
  // Returns Ok when nothing was added, else one kInvalidArgument error naming every field.
  Status status() const;

 private:
  std::vector<FieldError> errors_;
};

}  // namespace simcore::core
