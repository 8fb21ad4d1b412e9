// The objects the runtime API and the config file share: services, pods, endpoint slices.
#pragma once

#include <vector>

#include "config/config.h"

namespace vipgate::config {

struct ObjectSet {
    std::vector<ServiceConfig> services;
    std::vector<PodConfig> pods;
    std::vector<EndpointSliceConfig> endpoint_slices;
};

}  // namespace vipgate::config
