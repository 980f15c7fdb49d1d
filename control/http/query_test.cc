#include "control/http/query.h"

#include <gtest/gtest.h>

namespace simcore::ctl::http {
namespace {

Query parse(std::string_view target) {
  auto q = Query::parse(target);
  EXPECT_TRUE(q.ok()) << target;
  return q.ok() ? *q : Query();
}

TEST(Query, DecodesParameters) {
  auto q = parse("/things?tag=a%20b&tag=c+d&q=%C3%A9t%C3%A9&flag&empty=");
  EXPECT_EQ(q.encoded_path(), "/things");
  EXPECT_EQ(q.get("q"), "été");
  auto tags = q.get_all("tag");
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0], "a b");
  EXPECT_EQ(tags[1], "c d");
  EXPECT_EQ(q.get("flag"), "");
  EXPECT_EQ(q.get("empty"), "");
  EXPECT_FALSE(q.get("missing").has_value());
}

TEST(Query, RejectsMalformedTarget) {
  EXPECT_FALSE(Query::parse("no-slash").ok());
  EXPECT_FALSE(Query::parse("/a b").ok());
  EXPECT_FALSE(Query::parse("/a?x=%zz").ok());
}

TEST(Page, DefaultsAndValues) {
  auto p = parse_page(parse("/things"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->limit, 50u);
  EXPECT_EQ(p->offset, 0u);
  p = parse_page(parse("/things?limit=1000&offset=12345"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->limit, 1000u);
  EXPECT_EQ(p->offset, 12345u);
}

TEST(Page, BadValuesAre400NamingTheParameter) {
  const struct {
    const char* target;
    std::vector<std::string> fields;
  } kCases[] = {
      {"/t?limit=0", {"limit"}},
      {"/t?limit=1001", {"limit"}},
      {"/t?limit=-1", {"limit"}},
      {"/t?limit=ten", {"limit"}},
      {"/t?limit=5x", {"limit"}},
      {"/t?limit=", {"limit"}},
      {"/t?limit=99999999999999999999999", {"limit"}},
      {"/t?offset=-3", {"offset"}},
      {"/t?offset=1.5", {"offset"}},
      {"/t?limit=abc&offset=x", {"limit", "offset"}},
  };
  for (const auto& c : kCases) {
    auto p = parse_page(parse(c.target));
    ASSERT_FALSE(p.ok()) << c.target;
    EXPECT_EQ(p.error().code(), core::Code::kInvalidArgument);
    std::vector<std::string> got;
    for (const auto& f : p.error().fields()) got.push_back(f.field);
    EXPECT_EQ(got, c.fields) << c.target;
  }
}

std::string headers_for(std::string_view target, Page page, std::size_t total,
                        std::string* count = nullptr) {
  Response res;
  set_page_headers(res, parse(target), page, total);
  if (count) *count = std::string(res["X-Total-Count"]);
  return std::string(res[bhttp::field::link]);
}

TEST(PageHeaders, MiddlePageHasAllFourLinksAndKeepsOtherParameters) {
  std::string count;
  auto link =
      headers_for("/p/things?state=ACTIVE&limit=10&offset=20&tag=a%20b", {10, 20}, 95, &count);
  EXPECT_EQ(count, "95");
  EXPECT_EQ(link,
            "</p/things?state=ACTIVE&tag=a%20b&limit=10&offset=0>; rel=\"first\", "
            "</p/things?state=ACTIVE&tag=a%20b&limit=10&offset=10>; rel=\"prev\", "
            "</p/things?state=ACTIVE&tag=a%20b&limit=10&offset=30>; rel=\"next\", "
            "</p/things?state=ACTIVE&tag=a%20b&limit=10&offset=90>; rel=\"last\"");
}

TEST(PageHeaders, FirstAndLastPagesOmitPrevAndNext) {
  auto first = headers_for("/t", {50, 0}, 120);
  EXPECT_EQ(first.find("rel=\"prev\""), std::string::npos);
  EXPECT_NE(first.find("limit=50&offset=50>; rel=\"next\""), std::string::npos);
  EXPECT_NE(first.find("limit=50&offset=100>; rel=\"last\""), std::string::npos);

  auto last = headers_for("/t?offset=100", {50, 100}, 120);
  EXPECT_NE(last.find("offset=50>; rel=\"prev\""), std::string::npos);
  EXPECT_EQ(last.find("rel=\"next\""), std::string::npos);

  auto exact = headers_for("/t", {50, 50}, 100);  // last item is on this page
  EXPECT_EQ(exact.find("rel=\"next\""), std::string::npos);
  EXPECT_NE(exact.find("offset=50>; rel=\"last\""), std::string::npos);
}

TEST(PageHeaders, EmptyListAndUnalignedOffset) {
  std::string count;
  auto empty = headers_for("/t", {50, 0}, 0, &count);
  EXPECT_EQ(count, "0");
  EXPECT_EQ(empty, "</t?limit=50&offset=0>; rel=\"first\", </t?limit=50&offset=0>; rel=\"last\"");
  auto odd = headers_for("/t", {10, 5}, 30);
  EXPECT_NE(odd.find("offset=0>; rel=\"prev\""), std::string::npos);
  EXPECT_NE(odd.find("offset=15>; rel=\"next\""), std::string::npos);
}

}  // namespace
}  // namespace simcore::ctl::http
