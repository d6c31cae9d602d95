// The HTTP front's request reader against hand-written requests: framing (sized, chunked,
// pipelined, split at every byte), the limits (head, body in every transfer encoding) and the
// target checks; and the log escaping every client-sent string passes through.
#include <gtest/gtest.h>

#include <string>

#include "core/utf8.h"
#include "http/message.h"
#include "http/request_reader.h"

namespace hearth::http {
namespace {

using Status = RequestReader::Status;

RequestReader reader(size_t max_body = 1024, size_t max_head = 16 * 1024) {
    return RequestReader(ReadLimits{max_head, max_body});
}

TEST(RequestReader, SizedBodyAndHeaders) {
    auto r = reader();
    r.feed("POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
           "X-Mixed-Case: Yes\r\n\r\nhello");
    ASSERT_EQ(r.status(), Status::Complete);
    Request q = r.take();
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.path, "/v1/completions");
    EXPECT_EQ(q.query, "x=1");
    EXPECT_EQ(q.body, "hello");
    EXPECT_EQ(q.header("x-mixed-case"), "Yes");
    EXPECT_EQ(q.header("X-MIXED-CASE"), "Yes");
    EXPECT_TRUE(q.keep_alive);
    EXPECT_EQ(r.status(), Status::Empty);
}

TEST(RequestReader, EveryByteSplitGivesTheSameRequest) {
    const std::string wire =
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n";
    for (size_t piece = 1; piece <= wire.size(); ++piece) {
        auto r = reader();
        for (size_t at = 0; at < wire.size(); at += piece) r.feed(wire.substr(at, piece));
        ASSERT_EQ(r.status(), Status::Complete) << piece;
        EXPECT_EQ(r.take().body, "abcdefg") << piece;
    }
}

TEST(RequestReader, PipelinedRequestsComeOutInOrder) {
    auto r = reader();
    r.feed("GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /thr");
    ASSERT_EQ(r.status(), Status::Complete);
    EXPECT_EQ(r.take().path, "/one");
    ASSERT_EQ(r.status(), Status::Complete);
    EXPECT_EQ(r.take().path, "/two");
    EXPECT_EQ(r.status(), Status::Partial);
    r.feed("ee HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(r.status(), Status::Complete);
    EXPECT_EQ(r.take().path, "/three");
}

TEST(RequestReader, BodyLimitHoldsForEveryTransferEncoding) {
    auto sized = reader(100);
    sized.feed("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    EXPECT_EQ(sized.status(), Status::Failed);  // refused from the head alone
    EXPECT_EQ(sized.error_status(), 413);

    auto chunked = reader(100);
    chunked.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string piece(60, 'x');
    chunked.feed("3c\r\n" + piece + "\r\n");
    EXPECT_EQ(chunked.status(), Status::Partial);
    chunked.feed("3c\r\n" + piece + "\r\n");  // 120 bytes in all
    EXPECT_EQ(chunked.status(), Status::Failed);
    EXPECT_EQ(chunked.error_status(), 413);

    auto announced = reader(100);  // one chunk announced larger than the limit
    announced.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n");
    EXPECT_EQ(announced.status(), Status::Failed);
    EXPECT_EQ(announced.error_status(), 413);
}

TEST(RequestReader, HeadLimitIs431) {
    auto r = reader(1024, 256);
    r.feed("GET / HTTP/1.1\r\nX: " + std::string(300, 'a'));
    EXPECT_EQ(r.status(), Status::Failed);
    EXPECT_EQ(r.error_status(), 431);
}

TEST(RequestReader, MalformedRequestsAre400) {
    for (const std::string wire :
         {std::string("GET /%ff HTTP/1.1\r\nHost: a\r\n\r\n"),      // not UTF-8 once decoded
          std::string("GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n"),      // bad escape
          std::string("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n"),    // NUL
          std::string("GET nopath HTTP/1.1\r\nHost: a\r\n\r\n"),    // not origin-form
          std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),       // no colon
          std::string("GET / HTTP/9.9\r\n\r\n"),                     // version
          std::string("POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"),
          std::string("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
          std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
        auto r = reader();
        r.feed(wire);
        EXPECT_EQ(r.status(), Status::Failed) << wire;
        EXPECT_EQ(r.error_status(), 400) << wire;
        EXPECT_FALSE(r.error_message().empty());
    }
}

TEST(RequestReader, TargetsAreDecodedAndAbsoluteFormKeepsThePath) {
    std::string path, query, error;
    ASSERT_TRUE(split_target("/models/a%20b/v1/models?x=%41", path, query, error));
    EXPECT_EQ(path, "/models/a b/v1/models");
    EXPECT_EQ(query, "x=%41");
    ASSERT_TRUE(split_target("http://example.com:8080/v1/models", path, query, error));
    EXPECT_EQ(path, "/v1/models");
    ASSERT_TRUE(split_target("/caf%C3%A9", path, query, error));
    EXPECT_EQ(path, "/caf\xC3\xA9");
    EXPECT_FALSE(split_target("/%C3", path, query, error));
    EXPECT_FALSE(split_target("/%ed%a0%80", path, query, error));  // a UTF-16 surrogate
}

TEST(RequestReader, ExpectContinueIsSeenBeforeTheBody) {
    auto r = reader();
    r.feed("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    EXPECT_TRUE(r.expects_continue());
    r.feed("abc");
    EXPECT_EQ(r.status(), Status::Complete);
    EXPECT_FALSE(r.expects_continue());
}

TEST(RequestReader, Http10ClosesUnlessKeepAliveIsAsked) {
    auto r = reader();
    r.feed("GET / HTTP/1.0\r\n\r\n");
    ASSERT_EQ(r.status(), Status::Complete);
    EXPECT_FALSE(r.take().keep_alive);
    r.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_EQ(r.status(), Status::Complete);
    EXPECT_TRUE(r.take().keep_alive);
}

TEST(Serialize, ChunksAndHeads) {
    EXPECT_EQ(chunk("hello"), "5\r\nhello\r\n");
    EXPECT_EQ(chunk(std::string(26, 'a')), "1a\r\n" + std::string(26, 'a') + "\r\n");
    EXPECT_EQ(chunk(""), "0\r\n\r\n");
    Response r(404, "{}", "application/json");
    EXPECT_EQ(serialize(r, true),
              "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
              "Connection: keep-alive\r\n\r\n{}");
    EXPECT_EQ(serialize(r, false, /*head_only=*/true),
              "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
              "Connection: close\r\n\r\n");
}

TEST(LogEscaping, ClientTextCannotForgeLines) {
    EXPECT_EQ(utf8::escape_for_log("/a\nINFO forged"), "/a\\nINFO forged");
    EXPECT_EQ(utf8::escape_for_log("\r\t\x1b[31m\x7f"), "\\r\\t\\x1b[31m\\x7f");
    EXPECT_EQ(utf8::escape_for_log("\xff\xc3"), "\\xff\\xc3");
    EXPECT_EQ(utf8::escape_for_log("caf\xc3\xa9 \"q\" \\"), "caf\xc3\xa9 \\\"q\\\" \\\\");
}

}  // namespace
}  // namespace hearth::http
