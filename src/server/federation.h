#pragma once
// Federation: hearth servers that share a peer key (--peer-key) and know each other's URLs
// (--peer, --peers-file) serve each other's models. Every server polls its peers'
// GET /federation/state every few seconds (the models they offer, whether they answer, their
// load); a request for a model this server does not offer, or whose queue here is full, is
// relayed whole to the least-loaded healthy peer that serves it, and the answer streams back
// as it comes. docs/SERVER.md ("Federation") is the user's side of this.
//
// Trust: peers prove themselves with the peer key (X-Hearth-Peer-Key, compared in constant
// time); the caller's own key is checked by the server it called and never leaves it. A
// relayed request carries the hop marker (X-Hearth-Hop), so it is answered where it lands and
// never relayed again.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "hub/http.h"
#include "server/exchange.h"

namespace hearth::server {

inline constexpr const char* kPeerKeyHeader = "x-hearth-peer-key";
inline constexpr const char* kHopHeader = "x-hearth-hop";
// On relayed answers: the peer that produced it.
inline constexpr const char* kServedByHeader = "x-hearth-peer";
inline constexpr const char* kPeerStatePath = "/federation/state";
// A peer key shorter than this is refused (it guards every model of every peer).
inline constexpr size_t kMinPeerKeyLength = 16;

struct FederationOptions {
    std::vector<std::string> peers;  // base URLs: http(s)://host:port
    std::string peer_key;            // empty: no federation (and peer requests get 401)
    std::chrono::milliseconds poll_interval{2000};
};

// One model as a server reports it to its peers.
struct PeerModel {
    std::string name;
    std::vector<std::string> aliases;
    int64_t waiting = 0;     // requests in its queue
    int64_t running = 0;     // sequences being generated
    bool saturated = false;  // its queue is full: a request now would get 429
};

// What this server knows of one peer.
struct PeerStatus {
    std::string url;
    bool healthy = false;  // answered its last poll, and no relay to it failed since
    bool self = false;     // the URL leads back to this server (a shared peers file)
    std::string last_error;
    std::vector<PeerModel> models;
    int64_t in_flight = 0;  // requests this server is relaying to it now

    // The model called `name` (or with it as an alias), ASCII case ignored; null if none.
    const PeerModel* find(const std::string& name) const;
    // Waiting and running requests of all its models.
    int64_t load() const;
};

// The peers to try for `model`, best first, as indexes into `peers`: those that are healthy,
// serve it and are not saturated; the fewest waiting + running requests for the model (plus
// this server's relays in flight to the peer) first, then the least loaded peer overall, then
// the order of the list.
std::vector<size_t> rank_peers(const std::vector<PeerStatus>& peers, const std::string& model);

// The JSON of GET /federation/state, and its reading (throws hearth::Error saying what is
// malformed). `instance` tells a server that a peer URL leads back to itself.
nlohmann::json peer_state_json(const std::string& instance, const std::vector<PeerModel>& models);
struct PeerState {
    std::string instance;
    std::vector<PeerModel> models;
};
PeerState parse_peer_state(const std::string& body);

// "http://host:port" from a --peer value (trailing '/' dropped); throws hearth::Error when it
// is not an http(s) URL with a host.
std::string normalize_peer_url(const std::string& url);

class Federation {
  public:
    // Checks the options (throws hearth::Error) and starts polling the peers.
    explicit Federation(FederationOptions options);
    ~Federation();  // stops polling
    Federation(const Federation&) = delete;
    Federation& operator=(const Federation&) = delete;

    // Whether `offered` is the peer key; constant time in its content.
    bool accepts_key(const std::string& offered) const;
    // This process's id in /federation/state.
    const std::string& instance() const { return instance_; }
    // A copy of what is known of the peers now.
    std::vector<PeerStatus> peers() const;
    // Whether some peer (answering or not) said it serves `model`.
    bool known(const std::string& model) const;
    // The models healthy peers serve: name -> the URLs of the peers serving it.
    std::map<std::string, std::vector<std::string>> remote_models() const;

    // Relays ex's request to the best peer for `model` (rank_peers), and to the next when a
    // peer cannot be reached or drops the connection before its answer begins (that peer is
    // then skipped until it answers a poll again). True once answered, whatever the peer said;
    // false when no peer could take it (none serves it, all are down or saturated).
    bool forward(Exchange& ex, const std::string& model);

    // One round of polls (the poll thread runs it every poll_interval).
    void poll_all();

  private:
    void poll_loop();
    void record_poll(size_t index, const PeerState* state, const std::string& error);
    void mark_down(size_t index, const std::string& why);
    // Relays to one peer: "" once the caller is answered; else why the peer could not be
    // reached (nothing was sent to the caller).
    std::string relay_to(Exchange& ex, const std::string& base);

    FederationOptions options_;
    std::string instance_;
    hub::Http poll_http_;   // short timeouts: a poll must not hang the loop
    hub::Http relay_http_;  // long stalls allowed: a non-streamed answer comes at the end
    mutable std::mutex mutex_;
    std::vector<PeerStatus> peers_;  // one per options_.peers, in order
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread poller_;
};

}  // namespace hearth::server
