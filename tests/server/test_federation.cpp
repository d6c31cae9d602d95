// Federation: which peer a request goes to (rank_peers), the peer state's JSON both ways,
// peer URLs and the peer key; then two live servers on loopback, one relaying to the other.
// The multi-host behaviour (four hosts, a peer killed under load, a peer with the wrong key)
// is test_federation_netns.py's.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "live_server.h"
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

constexpr const char* kKey = "loopback-peer-key-0123456789";

ServerOptions peer_options(std::vector<std::string> peers = {}) {
    ServerOptions o = default_options();
    o.federation.peer_key = kKey;
    o.federation.peers = std::move(peers);
    return o;
}

ModelEntry stories_named(const std::string& name) {
    ModelEntry e = stories_entry();
    e.name = name;
    e.aliases.clear();
    return e;
}

// Whether `server` lists `model` in /v1/models within 30 s (peers are polled every 2 s).
bool lists_model(const LiveServer& server, const std::string& model) {
    for (int i = 0; i < 300; ++i) {
        auto r = server.client().Get("/v1/models");
        if (r && r->status == 200) {
            const nlohmann::json listing = nlohmann::json::parse(r->body);
            for (const nlohmann::json& m : listing["data"]) {
                if (m["id"] == model) return true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

std::string text_of(const httplib::Result& r) {
    return ok_json(r)["choices"][0]["text"].get<std::string>();
}

TEST(FederationLoopback, RelaysWhatOnlyThePeerServesAndSpillsOverWhenTheQueueIsFull) {
    LiveServer b(peer_options(), std::vector<ModelEntry>{stories_named("beta"), stories_named("shared")});
    const std::string b_url = "http://127.0.0.1:" + std::to_string(b.port());
    ServerOptions a_options = peer_options({b_url});
    // a's queue holds nothing: once "shared" is loaded here, a request for it would get 429.
    a_options.pool.max_queue = 0;
    LiveServer a(a_options, std::vector<ModelEntry>{stories_named("alpha"), stories_named("shared")});
    ASSERT_TRUE(lists_model(a, "beta"));

    nlohmann::json body = {{"model", "beta"}, {"prompt", "Once upon a time"}, {"max_tokens", 16},
                           {"temperature", 0}};
    const std::string direct = text_of(b.post("/v1/completions", body));
    auto relayed = a.post("/v1/completions", body);
    EXPECT_EQ(text_of(relayed), direct);
    EXPECT_EQ(ok_json(relayed)["model"], "beta");
    EXPECT_EQ(relayed->get_header_value("X-Hearth-Peer"), b_url);

    // A stream through the peer: its events, the same text, then [DONE].
    body["stream"] = true;
    auto streamed = a.post("/v1/completions", body);
    ASSERT_TRUE(streamed);
    EXPECT_EQ(streamed->status, 200);
    const std::vector<std::string> events = sse_payloads(streamed->body);
    ASSERT_GT(events.size(), 2u);
    EXPECT_EQ(events.back(), "[DONE]");
    std::string joined;
    for (size_t i = 0; i + 1 < events.size(); ++i)
        joined += nlohmann::json::parse(events[i])["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(joined, direct);

    // /v1/models: a's own first, then b's, marked as the peer's.
    auto models = ok_json(a.client().Get("/v1/models"))["data"];
    std::map<std::string, nlohmann::json> by_id;
    for (const auto& m : models) by_id[m["id"].get<std::string>()] = m;
    EXPECT_EQ(by_id["alpha"]["owned_by"], "hearth");
    EXPECT_EQ(by_id["shared"]["owned_by"], "hearth");
    EXPECT_EQ(by_id["beta"]["owned_by"], "peer");
    EXPECT_EQ(by_id["beta"]["served_by"], nlohmann::json::array({b_url}));

    // "shared": the first request loads it here and meets the empty queue (429, not relayed:
    // the model was not loaded, so not saturated); from then on a relays it to b.
    body["model"] = "shared";
    body["stream"] = false;
    auto first = a.post("/v1/completions", body);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 429);
    EXPECT_FALSE(first->has_header("X-Hearth-Peer"));
    auto spilled = a.post("/v1/completions", body);
    EXPECT_EQ(text_of(spilled), direct);
    EXPECT_EQ(spilled->get_header_value("X-Hearth-Peer"), b_url);

    // Only peers with the key get the state; a relayed request with a wrong key is refused.
    EXPECT_EQ(b.client().Get("/federation/state")->status, 401);
    EXPECT_EQ(b.client().Get("/federation/state", {{"X-Hearth-Peer-Key", "wrong-key-0123456789"}})->status, 401);
    EXPECT_EQ(b.client().Get("/federation/state", {{"X-Hearth-Peer-Key", kKey}})->status, 200);
    body["model"] = "beta";
    EXPECT_EQ(b.client().Post("/v1/completions", {{"X-Hearth-Peer-Key", "wrong-key-0123456789"}},
                              body.dump(), "application/json")->status,
              401);
}

TEST(FederationLoopback, PeerWithoutAKeyIsAStartupError) {
    ServerOptions o = default_options();
    auto start = [&] { Server server(o, {stories_entry()}); };
    o.federation.peers = {"http://127.0.0.1:1"};
    EXPECT_THROW(start(), Error);  // no key
    o.federation.peer_key = kKey;
    o.federation.peers = {"127.0.0.1:1"};
    EXPECT_THROW(start(), Error);  // not a URL
}

}  // namespace
}  // namespace hearth::server
