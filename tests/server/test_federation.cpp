// Federation's pieces without a network: which peer a request goes to (rank_peers), the peer
// state's JSON both ways, peer URLs and the peer key. The multi-host behaviour (relays,
// streams, a peer killed under load) is test_federation_netns.py's.
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/federation.h"

namespace hearth::server {
namespace {

PeerModel model(const std::string& name, int64_t waiting, int64_t running,
                bool saturated = false) {
    PeerModel m;
    m.name = name;
    m.waiting = waiting;
    m.running = running;
    m.saturated = saturated;
    return m;
}

PeerStatus peer(const std::string& url, std::vector<PeerModel> models, bool healthy = true) {
    PeerStatus p;
    p.url = url;
    p.healthy = healthy;
    p.models = std::move(models);
    return p;
}

TEST(RankPeers, LeastLoadedForTheModelFirst) {
    // Hand-computed: for "m", p0 has 3 + 2 = 5 requests, p1 0 + 1 = 1, p2 2 + 0 = 2.
    const std::vector<PeerStatus> peers = {peer("p0", {model("m", 3, 2)}),
                                           peer("p1", {model("m", 0, 1)}),
                                           peer("p2", {model("m", 2, 0)})};
    EXPECT_EQ(rank_peers(peers, "m"), (std::vector<size_t>{1, 2, 0}));
}

TEST(RankPeers, SkipsUnhealthySelfSaturatedAndPeersWithoutTheModel) {
    std::vector<PeerStatus> peers = {peer("down", {model("m", 0, 0)}, /*healthy=*/false),
                                     peer("full", {model("m", 0, 0, /*saturated=*/true)}),
                                     peer("other", {model("x", 0, 0)}),
                                     peer("busy", {model("m", 5, 4)}),
                                     peer("me", {model("m", 0, 0)})};
    peers[4].self = true;
    EXPECT_EQ(rank_peers(peers, "m"), (std::vector<size_t>{3}));
    EXPECT_TRUE(rank_peers(peers, "nothing").empty());
    // Readmitted: healthy again, it is the least loaded.
    peers[0].healthy = true;
    EXPECT_EQ(rank_peers(peers, "m"), (std::vector<size_t>{0, 3}));
}

TEST(RankPeers, RelaysInFlightCountAsLoad) {
    std::vector<PeerStatus> peers = {peer("p0", {model("m", 0, 1)}), peer("p1", {model("m", 0, 2)})};
    EXPECT_EQ(rank_peers(peers, "m"), (std::vector<size_t>{0, 1}));
    peers[0].in_flight = 2;  // 1 + 2 = 3 > 2
    EXPECT_EQ(rank_peers(peers, "m"), (std::vector<size_t>{1, 0}));
}

TEST(RankPeers, TiesGoToTheLessLoadedPeerThenToListOrder) {
    // Same load for "m"; p0 also runs 4 requests of another model.
    const std::vector<PeerStatus> peers = {peer("p0", {model("m", 0, 1), model("x", 0, 4)}),
                                           peer("p1", {model("m", 1, 0)}),
                                           peer("p2", {model("m", 0, 1)})};
    EXPECT_EQ(rank_peers(peers, "m"), (std::vector<size_t>{1, 2, 0}));
}

TEST(RankPeers, MatchesAliasesIgnoringCase) {
    PeerModel m = model("Llama-3.2-1B", 0, 0);
    m.aliases = {"small"};
    const std::vector<PeerStatus> peers = {peer("p0", {m})};
    EXPECT_EQ(rank_peers(peers, "llama-3.2-1b"), (std::vector<size_t>{0}));
    EXPECT_EQ(rank_peers(peers, "SMALL"), (std::vector<size_t>{0}));
    EXPECT_TRUE(rank_peers(peers, "llama").empty());
}

TEST(PeerState, JsonRoundTrip) {
    PeerModel a = model("a", 2, 3, true);
    a.aliases = {"x", "y"};
    const std::string text = peer_state_json("id1", {a, model("b", 0, 0)}).dump();
    const PeerState s = parse_peer_state(text);
    EXPECT_EQ(s.instance, "id1");
    ASSERT_EQ(s.models.size(), 2u);
    EXPECT_EQ(s.models[0].name, "a");
    EXPECT_EQ(s.models[0].aliases, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(s.models[0].waiting, 2);
    EXPECT_EQ(s.models[0].running, 3);
    EXPECT_TRUE(s.models[0].saturated);
    EXPECT_EQ(s.models[1].name, "b");
    EXPECT_FALSE(s.models[1].saturated);
}

TEST(PeerState, MalformedAnswersAreErrorsThatSayWhat) {
    auto error_of = [](const std::string& body) {
        try {
            parse_peer_state(body);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error_of("<html>"), "peer state: not a JSON object");
    EXPECT_EQ(error_of("{}"), "peer state: no 'models' list");
    EXPECT_EQ(error_of(R"({"models":[{"waiting":1}]})"), "peer state: a model without a 'name'");
    EXPECT_EQ(error_of(R"({"models":[{"name":"a","waiting":-1}]})"),
              "peer state: 'waiting' must be a count");
    EXPECT_EQ(error_of(R"({"models":[{"name":"a","aliases":"b"}]})"),
              "peer state: 'aliases' must be a list");
    EXPECT_EQ(error_of(R"({"models":[{"name":"a","saturated":1}]})"),
              "peer state: 'saturated' must be true or false");
}

TEST(PeerUrl, BaseUrlsOnly) {
    EXPECT_EQ(normalize_peer_url("http://10.0.0.2:8080/"), "http://10.0.0.2:8080");
    EXPECT_EQ(normalize_peer_url("https://peer.example"), "https://peer.example");
    for (const char* bad : {"10.0.0.2:8080", "ftp://x", "http://", "http://x/v1", "http://a b"}) {
        EXPECT_THROW(normalize_peer_url(bad), Error) << bad;
    }
}

TEST(PeerKey, ComparedWhole) {
    FederationOptions o;
    o.peer_key = "0123456789abcdef";
    Federation f(o);  // no peers: nothing polled
    EXPECT_TRUE(f.accepts_key("0123456789abcdef"));
    EXPECT_FALSE(f.accepts_key("0123456789abcdeF"));
    EXPECT_FALSE(f.accepts_key("0123456789abcde"));
    EXPECT_FALSE(f.accepts_key("0123456789abcdef0"));
    EXPECT_FALSE(f.accepts_key(""));
    o.peer_key = "short";
    EXPECT_THROW(Federation{o}, Error);
}

}  // namespace
}  // namespace hearth::server
