#include "control/http/errors.h"

#include <set>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace simcore::ctl::http {
namespace {

using core::Code;

TEST(HttpStatus, EveryCoreCodeHasItsStatus) {
  const struct {
    Code code;
    int status;
  } kTable[] = {
      {Code::kInvalidArgument, 400},    {Code::kNotFound, 404},
      {Code::kAlreadyExists, 409},      {Code::kConflict, 409},
      {Code::kFailedPrecondition, 412}, {Code::kResourceExhausted, 412},
      {Code::kPermissionDenied, 403},   {Code::kUnauthenticated, 401},
      {Code::kUnavailable, 503},        {Code::kInternal, 500},
  };
  for (const auto& row : kTable) {
    EXPECT_EQ(http_status(row.code), row.status) << core::code_name(row.code);
  }
  EXPECT_EQ(std::size(kTable), static_cast<std::size_t>(Code::kInternal) + 1)
      << "a core code was added: map it in http_status and here";
}

Request make_request(Verb v = Verb::get) {
  Request r;
  r.msg.method(v);
  r.msg.target("/x");
  r.request_id = "abc-1";
  return r;
}

TEST(ErrorResponse, BodyCarriesStatusCodeMessageRequestIdAndFields) {
  auto res = error_response(make_request(),
                            core::Error::invalid({{"name", "empty"}, {"tags[1]", "too long"}}));
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res["X-Request-Id"], "abc-1");
  auto v = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(v.at("status").as_int64(), 400);
  EXPECT_EQ(v.at("code").as_string(), "INVALID_ARGUMENT");
  EXPECT_EQ(v.at("requestId").as_string(), "abc-1");
  EXPECT_EQ(v.at("message").as_string(), "name: empty; tags[1]: too long");
  const auto& fields = v.at("fields").as_array();
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[1].as_object().at("field").as_string(), "tags[1]");
  EXPECT_EQ(fields[1].as_object().at("message").as_string(), "too long");
  EXPECT_EQ(res[bhttp::field::content_length], std::to_string(res.body().size()));
}

TEST(ErrorResponse, ApiCodeOverridesCoreNameAndFieldsOmittedWhenNone) {
  auto res =
      error_response(make_request(), core::Error(Code::kFailedPrecondition, "RETIRED is terminal"),
                     "INVALID_STATE_TRANSITION");
  EXPECT_EQ(res.result_int(), 412u);
  auto v = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(v.at("code").as_string(), "INVALID_STATE_TRANSITION");
  EXPECT_FALSE(v.contains("fields"));
}

TEST(ErrorResponse, MessageIsJsonEscaped) {
  auto res = error_response(make_request(), core::Error(Code::kNotFound, "no \"thing\"\n"));
  auto v = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(v.at("message").as_string(), "no \"thing\"\n");
}

TEST(ErrorHelpers, MethodNotAllowedListsAllow) {
  const Verb allowed[] = {Verb::get, Verb::patch};
  auto res = method_not_allowed(make_request(Verb::delete_), allowed);
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[bhttp::field::allow], "GET, PATCH");
  EXPECT_EQ(boost::json::parse(res.body()).at("code").as_string(), "METHOD_NOT_ALLOWED");
}

TEST(ErrorHelpers, UnauthenticatedSendsBearerChallenge) {
  auto res = unauthenticated(make_request(), "missing bearer token");
  EXPECT_EQ(res.result_int(), 401u);
  EXPECT_EQ(res[bhttp::field::www_authenticate], R"(Bearer realm="simcore")");
  auto bad = unauthenticated(make_request(), "token expired", /*invalid_token=*/true);
  EXPECT_EQ(bad[bhttp::field::www_authenticate],
            R"(Bearer realm="simcore", error="invalid_token")");
  EXPECT_EQ(boost::json::parse(bad.body()).at("code").as_string(), "UNAUTHENTICATED");
}

TEST(ErrorHelpers, TooManyRequestsSendsRetryAfterAtLeastOne) {
  auto res = too_many_requests(make_request(), 7);
  EXPECT_EQ(res.result_int(), 429u);
  EXPECT_EQ(res[bhttp::field::retry_after], "7");
  EXPECT_EQ(too_many_requests(make_request(), 0)[bhttp::field::retry_after], "1");
}

TEST(RequestId, UniqueWithSharedPrefix) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(next_request_id());
  EXPECT_EQ(ids.size(), 1000u);
  const auto a = next_request_id(), b = next_request_id();
  ASSERT_EQ(a.find('-'), 8u);
  EXPECT_EQ(a.substr(0, 9), b.substr(0, 9));
}

}  // namespace
}  // namespace simcore::ctl::http
