#pragma once
// The route table: method + path pattern -> handler. Patterns are '/'-separated segments where
// "{name}" matches any one segment. A path that exists under other methods gives 405 + Allow.
#include <functional>
#include <string>
#include <vector>

#include "server/exchange.h"

namespace hearth::server {

class Router {
  public:
    using Handler = std::function<void(Exchange&)>;

    void add(std::string method, const std::string& pattern, Handler handler);

    struct Match {
        const Handler* handler = nullptr;  // null: no route for this method
        std::vector<std::string> params;
        std::string allow;  // with no handler: the methods the path has ("" : unknown path)
    };
    // HEAD is served by the GET route.
    Match find(const std::string& method, const std::string& path) const;

  private:
    struct Route {
        std::string method;
        std::vector<std::string> segments;
        Handler handler;
    };
    std::vector<Route> routes_;
};

}  // namespace hearth::server
