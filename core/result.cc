#include "core/result.h"

namespace simcore::core {

const char* code_name(Code code) noexcept {
  switch (code) {
    case Code::kInvalidArgument: return "INVALID_ARGUMENT";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kAlreadyExists: return "ALREADY_EXISTS";
    case Code::kConflict: return "CONFLICT";
    case Code::kFailedPrecondition: return "FAILED_PRECONDITION";
    case Code::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case Code::kPermissionDenied: return "PERMISSION_DENIED";
    case Code::kUnauthenticated: return "UNAUTHENTICATED";
    case Code::kUnavailable: return "UNAVAILABLE";
    case Code::kInternal: return "INTERNAL";
  }
  return "UNKNOWN";
}

Error Error::invalid(std::string field, std::string message) {
  std::vector<FieldError> fields;
  fields.push_back({std::move(field), std::move(message)});
  return invalid(std::move(fields));
}

Error Error::invalid(std::vector<FieldError> fields) {
  std::string msg;
  for (const auto& f : fields) {
    if (!msg.empty()) msg += "; ";
    msg += f.field + ": " + f.message;
  }
  Error e(Code::kInvalidArgument, std::move(msg));
  e.fields_ = std::move(fields);
  return e;
}

Error Error::on_field(Code code, std::string field, std::string message) {
  Error e = invalid(std::move(field), std::move(message));
  e.code_ = code;
  return e;
}

Error Error::prefixed(const std::string& prefix) const {
  if (fields_.empty() || prefix.empty()) return *this;
  std::vector<FieldError> fields = fields_;
  for (auto& f : fields) f.field = prefix + (f.field.empty() || f.field[0] == '[' ? "" : ".") + f.field;
  Error e = invalid(std::move(fields));
  e.code_ = code_;
  return e;
}

void FieldErrors::merge(const std::string& prefix, const Status& nested) {
  if (nested.ok()) return;
  const Error e = nested.error().prefixed(prefix);
  if (e.fields().empty()) {
    add(prefix, e.message());
    return;
  }
  for (const auto& f : e.fields()) errors_.push_back(f);
}

Status FieldErrors::status() const {
  if (errors_.empty()) return Status::Ok();
  return Error::invalid(errors_);
}

}  // namespace simcore::core
